//! The privacy proof: unique markers planted in every identifiable field of many clients
//! never appear in anything the node writes, logs (at trace level), prints, or sends, nor in
//! any byte of any file of its data directory (database, WAL, shared memory, config, keys) or
//! of a backup, after imports, edits and an erasure: identifying fields are stored only
//! sealed. Client codes are not identifying and stay clear in the database, nowhere else. The service reports and delivers a month
//! without a passphrase; with the recovery key the names come back. A data directory from
//! before sealed records is sealed by `seal`, and no clear page survives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{DEFAULT_FORM, NOV_10_2026, october};
use quietcount_node::{ImportOptions, OpenPeriod, SealError};

const CLIENTS: usize = 60;

/// Byte strings that only the identifiable fields (and client codes) contain.
const MARKERS: &[&str] = &[
    "ZQMARK",  // names, addresses, national ids
    "ZQCODE",  // client codes
    "0999000", // phones
    "1901-0",  // birth dates, ISO
    "/1901",   // birth dates, DD/MM/YYYY (in the input files only)
    "ZQBAD",   // values in a refused file
    "ZQEDIT",  // names and addresses after an edit
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_marked_records(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut clients = String::from(
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n",
    );
    let mut services = String::from("client_code,date,service,outcome\n");
    let services_cycle = [
        "methadone",
        "counselling_group",
        "detox",
        "psychosocial",
        "relapse",
        "legal_aid",
    ];
    for i in 1..=CLIENTS {
        let day = 1 + (i % 28);
        let dob = if i % 2 == 0 {
            format!("1901-02-{day:02}")
        } else {
            format!("{day:02}/03/1901")
        };
        let sex = ["male", "Nữ", "Nam"][i % 3];
        let substance = ["opioids", "Ma túy tổng hợp", "", "Cần sa"][i % 4];
        let referral = ["Công an", "family", "self", "peer"][i % 4];
        clients.push_str(&format!(
            "ZQCODE-{i:04},ZQMARK-name-{i:04},{dob},{sex},0999000{i:03},ZQMARK-nid-{i:04},\"ZQMARK-addr-{i:04}, Hà Nội\",{substance},{referral},2026-0{}-{day:02},voluntary\n",
            1 + i % 9
        ));
        for (j, service) in services_cycle
            .iter()
            .enumerate()
            .take(1 + i % services_cycle.len())
        {
            services.push_str(&format!(
                "ZQCODE-{i:04},2026-10-{:02},{service},\n",
                1 + (i + j) % 30
            ));
        }
        services.push_str(&format!(
            "ZQCODE-{i:04},2026-10-{day:02},urine_test,{}\n",
            ["negative", "Dương tính"][i % 2]
        ));
        services.push_str(&format!(
            "ZQCODE-{i:04},2026-09-{day:02},follow_up,employed\n"
        ));
    }
    let c = root.join("marked_clients.csv");
    let s = root.join("marked_services.csv");
    std::fs::write(&c, clients).unwrap();
    std::fs::write(&s, services).unwrap();
    (c, s)
}

/// A workbook holding the cells of a simple CSV text (no quoted separators) as strings.
fn as_workbook(csv_text: &str) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes());
    for (row, record) in reader.records().enumerate() {
        for (column, value) in record.unwrap().iter().enumerate() {
            sheet
                .write_string(row as u32, column as u16, value)
                .unwrap();
        }
    }
    workbook.save_to_buffer().unwrap()
}

/// Every file under `dir`, with whether it is the database (or its WAL or shared memory).
fn files_under(dir: &Path, out: &mut Vec<(String, bool, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            let database = ["node.db", "node.db-wal", "node.db-shm"].contains(&name.as_str());
            // A WAL or shared-memory file SQLite removes as the last connection closes may be
            // gone by the time it is read: nothing left to search.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => panic!("{}: {error}", path.display()),
            };
            out.push((path.display().to_string(), database, bytes));
        }
    }
}

/// Asserts that no identifying marker is in any byte of any file under `dir`, and no client
/// code outside the database; returns the files read.
fn assert_no_marker_in_files(dir: &Path) -> Vec<(String, bool, Vec<u8>)> {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    for (name, database, bytes) in &files {
        for marker in MARKERS {
            if *marker == "ZQCODE" && *database {
                continue;
            }
            assert!(!contains(bytes, marker), "{marker} found in {name}");
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_identifiable_value_leaves_the_database() {
    let logs = Capture::default();
    let writer = logs.clone();
    // `try_init` also routes the `log` crate (rustls) into the capture.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let dir = node.dir().root.clone();
    let (clients, services) = write_marked_records(root.path());
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();

    // Progress reports are shown by the CLI: what they carry is checked too.
    let mut progress = Vec::new();
    node.import_file(&clients, |p| progress.push(format!("{p:?}")))
        .await
        .unwrap();
    node.import_file(&services, |p| progress.push(format!("{p:?}")))
        .await
        .unwrap();
    outputs.push(("import progress".into(), progress.concat().into_bytes()));

    // An edit: the same clients again with new names and addresses (sealed afresh, no
    // passphrase needed); opened, the edited values are there.
    let edited = root.path().join("edited_clients.csv");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&clients)
            .unwrap()
            .replace("ZQMARK-name-00", "ZQEDIT-name-00")
            .replace("ZQMARK-addr-00", "ZQEDIT-addr-00"),
    )
    .unwrap();
    node.import_file(&edited, |_| {}).await.unwrap();
    let opened = common::client(&node, "ZQCODE-0002").await.unwrap();
    assert_eq!(
        (opened.full_name.as_str(), opened.address.as_str()),
        ("ZQEDIT-name-0002", "ZQEDIT-addr-0002, Hà Nội")
    );
    node.import_file(&clients, |_| {}).await.unwrap();

    // A refused import whose bad values are themselves markers.
    let bad = root.path().join("bad.csv");
    std::fs::write(
        &bad,
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
         ZQCODE-0001,ZQMARK-name-0001,ZQBAD-date,ZQBAD-sex,0999000001,ZQMARK-nid,ZQMARK-addr,ZQBAD-drug,ZQBAD-ref,ZQBAD-enrol,ZQBAD-mod\n\
         ZQCODE-0001,ZQMARK-name-0001,01/01/1901,male,0999000001,ZQMARK-nid,ZQMARK-addr,,police,2026-01-01,voluntary,ZQBAD-extra\n",
    )
    .unwrap();
    let err = node.import_file(&bad, |_| {}).await.unwrap_err();
    outputs.push(("import error".into(), format!("{err} {err:?}").into_bytes()));
    let bad_events = root.path().join("bad_events.csv");
    std::fs::write(
        &bad_events,
        "client_code,date,service,outcome\nZQBAD-who,1901-01-01,ZQBAD-svc,ZQBAD-out\n",
    )
    .unwrap();
    let err = node.import_file(&bad_events, |_| {}).await.unwrap_err();
    outputs.push((
        "event import error".into(),
        format!("{err} {err:?}").into_bytes(),
    ));

    // The same records as Excel saves them: a workbook, and semicolon-separated
    // Windows-1258 text; then refused files in the new paths (a workbook with bad values, a
    // file whose slash dates leave the order open). Successful imports list warnings (every
    // marked client is born in 1901): what they carry is checked too.
    let workbook = root.path().join("marked_clients.xlsx");
    std::fs::write(
        &workbook,
        as_workbook(&std::fs::read_to_string(&clients).unwrap()),
    )
    .unwrap();
    let imported = node
        .import_file_with(&workbook, &ImportOptions::at(NOV_10_2026), |_| {})
        .await
        .unwrap();
    assert!(!imported.warnings.is_empty(), "1901 births are implausible");
    outputs.push((
        "workbook import".into(),
        format!("{imported:?}").into_bytes(),
    ));
    let legacy = root.path().join("marked_clients_1258.csv");
    let text = std::fs::read_to_string(&clients).unwrap().replace(',', ";");
    std::fs::write(&legacy, common::windows_1258(&text)).unwrap();
    let imported = node
        .import_file_with(&legacy, &ImportOptions::at(NOV_10_2026), |_| {})
        .await
        .unwrap();
    outputs.push(("legacy import".into(), format!("{imported:?}").into_bytes()));
    let bad_workbook = root.path().join("bad.xlsx");
    std::fs::write(
        &bad_workbook,
        as_workbook(
            "Mã khách hàng,Họ và tên,Ngày sinh,Giới tính,Điện thoại,CCCD,Địa chỉ,Chất sử dụng chính,Nguồn giới thiệu,Ngày tiếp nhận,Hình thức,Ghi chú\n\
             ZQCODE-0001,ZQMARK-name,ZQBAD-date,ZQBAD-sex,0999000001,ZQMARK-nid,ZQMARK-addr,ZQBAD-drug,ZQBAD-ref,01/01/1901,ZQBAD-mod,ZQMARK-note\n\
             ZQCODE-0001,ZQMARK-name,01/01/1901,male,0999000001,ZQMARK-nid,ZQMARK-addr,,police,01/01/1901,voluntary,\n",
        ),
    )
    .unwrap();
    let err = node.import_file(&bad_workbook, |_| {}).await.unwrap_err();
    outputs.push((
        "workbook import error".into(),
        format!("{err} {err:?}").into_bytes(),
    ));
    let open_order = root.path().join("open_order.csv");
    std::fs::write(
        &open_order,
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
         ZQCODE-0001,ZQMARK-name,05/03/1901,male,0999000001,ZQMARK-nid,ZQMARK-addr,,police,2026-01-01,voluntary\n",
    )
    .unwrap();
    let err = node.import_file(&open_order, |_| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            quietcount_node::NodeError::Import(
                quietcount_node::ImportError::AmbiguousDateOrder { .. }
            )
        ),
        "{err}"
    );
    outputs.push((
        "date order error".into(),
        format!("{err} {err:?}").into_bytes(),
    ));

    // Preview, the scheduled build by the service, a manual revision, delivery, status.
    // (The rendered preview, status and summaries are the CLI's: the binary runs below.)
    let preview = node
        .preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap();
    outputs.push(("preview".into(), format!("{preview:?}").into_bytes()));
    quietcount_node::service::tick(&node, NOV_10_2026)
        .await
        .unwrap();
    let september = quietcount_protocol::Period::parse("2026-09").unwrap();
    let outcome = common::queue(&node, september, NOV_10_2026).await;
    outputs.push(("report outcome".into(), format!("{outcome:?}").into_bytes()));
    let summary = node.submit_all(NOV_10_2026).await.unwrap();
    assert!(summary.all_delivered(), "{summary:?}");
    outputs.push(("submit".into(), format!("{summary:?}").into_bytes()));
    let status = node.status().await.unwrap();
    outputs.push(("status".into(), format!("{status:?}").into_bytes()));
    assert_eq!(
        coordinator.stored(),
        2,
        "October (by the service) and September"
    );

    // Outbox payloads and receipts, read back from the database.
    let mut stored: Vec<Vec<u8>> = node
        .store()
        .outbox_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.envelope)
        .collect();
    stored.extend(status.receipts.iter().map(|r| r.receipt.clone()));
    assert_eq!(stored.len(), 4);
    for (i, bytes) in stored.into_iter().enumerate() {
        outputs.push((format!("outbox/receipt {i}"), bytes));
    }
    node.close().await;
    drop(node);

    // The binary at trace level: imports (refused in both languages, from text and from a
    // workbook, with an open date order; accepted with warnings), a preview and the status.
    let binary = env!("CARGO_BIN_EXE_quietcount-node");
    for args in [
        vec![
            "import",
            "--lang",
            "en",
            "--dir",
            dir.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        vec![
            "import",
            "--lang",
            "vi",
            "--dir",
            dir.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        vec![
            "import",
            "--lang",
            "vi",
            "--dir",
            dir.to_str().unwrap(),
            bad_workbook.to_str().unwrap(),
        ],
        vec![
            "import",
            "--dir",
            dir.to_str().unwrap(),
            open_order.to_str().unwrap(),
        ],
        vec![
            "import",
            "--lang",
            "vi",
            "--dir",
            dir.to_str().unwrap(),
            workbook.to_str().unwrap(),
        ],
        vec![
            "import",
            "--lang",
            "en",
            "--dir",
            dir.to_str().unwrap(),
            legacy.to_str().unwrap(),
        ],
        vec![
            "report",
            "--dir",
            dir.to_str().unwrap(),
            "--period",
            "2026-10",
            "--preview",
        ],
        vec!["status", "--dir", dir.to_str().unwrap()],
        vec![
            "--log-format",
            "json",
            "submit",
            "--dir",
            dir.to_str().unwrap(),
        ],
    ] {
        let output = std::process::Command::new(binary)
            .args(&args)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        outputs.push((format!("binary {args:?} stdout"), output.stdout));
        outputs.push((format!("binary {args:?} stderr"), output.stderr));
    }

    let text_of = |needle: &str| {
        outputs
            .iter()
            .filter(|(n, _)| n.contains(needle))
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect::<String>()
    };
    assert!(
        text_of("binary [\"import\"").contains("bad row(s)"),
        "the binary refused the import"
    );
    let imports = text_of("binary [\"import\"");
    for shown in [
        "dòng có lỗi",
        "--date-order dmy",
        "over 90 years old at enrolment",
        "trên 90 tuổi khi tiếp nhận",
        "Windows-1258",
        "đã đọc trang đầu tiên của bảng tính",
    ] {
        assert!(
            imports.contains(shown),
            "the binary showed {shown:?}: {imports}"
        );
    }
    assert!(
        text_of("binary [\"report\"").contains("Clients active"),
        "the binary previewed"
    );
    assert!(
        text_of("binary [\"status\"").contains("Last receipts"),
        "the binary showed status"
    );
    assert!(text_of("binary [\"--log-format\"").contains("nothing to deliver"));
    assert!(
        text_of("binary [\"report\"").contains("TRACE"),
        "binary logged at trace level"
    );

    // An erasure request (by the binary, at trace level): the client and their sealed
    // identity go, in one transaction.
    let output = std::process::Command::new(binary)
        .args([
            "erase",
            "--dir",
            dir.to_str().unwrap(),
            "--client",
            "ZQCODE-0003",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    outputs.push(("binary erase stdout".into(), output.stdout));
    outputs.push(("binary erase stderr".into(), output.stderr));

    // A backup (made by the binary, as staff do); the service's work is done, so the WAL
    // may be checkpointed by closing.
    let backup = root.path().join("backup");
    let output = std::process::Command::new(binary)
        .args(["backup", "--dir", dir.to_str().unwrap(), "--out"])
        .arg(&backup)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    outputs.push(("binary backup stdout".into(), output.stdout));
    outputs.push(("binary backup stderr".into(), output.stderr));

    // No identifying marker in any byte of any file of the data directory or the backup:
    // the database, its WAL and shared memory, config, keys, keyring.
    let data_files = assert_no_marker_in_files(&dir);
    let names: Vec<&str> = data_files.iter().map(|(n, _, _)| n.as_str()).collect();
    for expected in ["node.db", "config.toml", "records-keys.toml", "site.key"] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} was searched: {names:?}"
        );
    }
    let backup_files = assert_no_marker_in_files(&backup);
    assert!(backup_files.iter().any(|(n, _, _)| n.ends_with("node.db")));
    assert!(
        backup_files
            .iter()
            .any(|(n, _, _)| n.ends_with("records-keys.toml"))
    );
    // The search can find a marker where one is: client codes are clear in the database.
    assert!(
        data_files
            .iter()
            .any(|(_, database, bytes)| *database && contains(bytes, "ZQCODE")),
        "client codes are in the database"
    );
    outputs.extend(
        data_files
            .into_iter()
            .filter(|(_, database, _)| !database)
            .map(|(n, _, b)| (n, b)),
    );
    outputs.push(("logs".into(), logs.0.lock().unwrap().clone()));
    for (i, bytes) in coordinator.received_bytes().into_iter().enumerate() {
        outputs.push((format!("received by coordinator {i}"), bytes));
    }

    // The backup reports without any passphrase, and with the recovery key (kept apart from
    // both directories) its names come back: the edited ones, then the re-imported ones.
    let restored = quietcount_node::Node::open(&backup).await.unwrap();
    restored
        .preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap();
    let recovery = quietcount_node::RecoveryKey::parse(
        &std::fs::read_to_string(root.path().join(common::RECOVERY_KEY_FILE)).unwrap(),
    )
    .unwrap();
    let key = restored
        .unlock(&quietcount_node::Unlock::Recovery(recovery))
        .unwrap();
    let back = restored.clients(&key).await.unwrap();
    assert_eq!(back.len(), CLIENTS - 1, "one client was erased");
    assert!(back.iter().all(|c| c.client_code != "ZQCODE-0003"));
    let one = back
        .iter()
        .find(|c| c.client_code == "ZQCODE-0002")
        .unwrap();
    assert_eq!(
        (
            one.full_name.as_str(),
            one.phone.as_str(),
            one.national_id.as_str(),
            one.address.as_str(),
            one.date_of_birth.map(|d| d.to_string())
        ),
        (
            "ZQMARK-name-0002",
            "0999000002",
            "ZQMARK-nid-0002",
            // The last import was the semicolon-separated copy (every comma became `;`).
            "ZQMARK-addr-0002; Hà Nội",
            Some("1901-02-03".to_owned())
        )
    );
    restored.close().await;

    // `show` opens one record after an unlock from a passphrase file (never the command
    // line); a wrong passphrase is "not accepted" and shows nothing.
    let passphrase = root.path().join("passphrase.txt");
    std::fs::write(&passphrase, format!("{}\n", common::TEST_PASSPHRASE)).unwrap();
    let wrong = root.path().join("wrong.txt");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let show = |file: &Path| {
        std::process::Command::new(binary)
            .args([
                "show",
                "--dir",
                dir.to_str().unwrap(),
                "--client",
                "ZQCODE-0002",
            ])
            .args(["--staff", common::TEST_STAFF, "--passphrase-file"])
            .arg(file)
            .output()
            .unwrap()
    };
    let shown = show(&passphrase);
    assert!(shown.status.success(), "{shown:?}");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("ZQMARK-name-0002"));
    let refused = show(&wrong);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not accepted"));
    assert!(!contains(&refused.stdout, "ZQMARK") && !contains(&refused.stderr, "ZQMARK"));

    let logs_len = outputs
        .iter()
        .find(|(n, _)| n == "logs")
        .map_or(0, |(_, b)| b.len());
    assert!(
        logs_len > 1000,
        "trace logs were captured ({logs_len} bytes)"
    );
    assert!(outputs.iter().any(|(n, _)| n.ends_with("config.toml")));

    for (name, bytes) in &outputs {
        for marker in MARKERS {
            assert!(!contains(bytes, marker), "{marker} found in {name}");
        }
    }
}

/// A database as sites had it before sealed records (schema version 4): identity in clear.
async fn database_before_sealing(path: &Path, clients: usize) {
    let old = path.with_file_name("old-migrations");
    std::fs::create_dir(&old).unwrap();
    for name in [
        "0001_records_and_outbox.sql",
        "0002_events_by_service.sql",
        "0003_forms_in_outbox_identity.sql",
        "0004_key_refusals.sql",
    ] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(name),
            old.join(name),
        )
        .unwrap();
    }
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for i in 1..=clients {
        sqlx::query(
            "INSERT INTO clients (client_code, full_name, date_of_birth, sex, phone, national_id, address, primary_substance, referral_source, enrolled_on, modality) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'opioids', 'police', '2026-01-15', 'voluntary')",
        )
        .bind(format!("ZQCODE-{i:04}"))
        .bind(format!("ZQMARK-name-{i:04}"))
        .bind(format!("1901-0{}-{:02}", 1 + i % 9, 1 + i % 28))
        .bind(["male", "female"][i % 2])
        .bind(format!("0999000{i:03}"))
        .bind(format!("ZQMARK-nid-{i:04}"))
        .bind(format!("ZQMARK-addr-{i:04}"))
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO events (client_code, date, service) VALUES (?1, '2026-10-05', 'methadone')")
            .bind(format!("ZQCODE-{i:04}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    std::fs::remove_dir_all(&old).unwrap();
}

#[tokio::test]
async fn a_site_from_before_sealed_records_is_sealed_and_no_clear_page_survives() {
    const OLD_CLIENTS: usize = 300;
    let root = tempfile::tempdir().unwrap();
    let dir = common::init_node(
        root.path(),
        "127.0.0.1:9".parse().unwrap(),
        &common::TestCoordinator::identity(),
    )
    .await;
    // The data directory as it was before: no keyring, names in clear.
    std::fs::remove_file(dir.join(quietcount_node::sealed::KEYRING_FILE)).unwrap();
    for name in ["node.db", "node.db-wal", "node.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    database_before_sealing(&dir.join("node.db"), OLD_CLIENTS).await;
    let mut before = Vec::new();
    files_under(&dir, &mut before);
    assert!(
        before
            .iter()
            .any(|(_, database, bytes)| *database && contains(bytes, "ZQMARK-name")),
        "the old database holds names in clear"
    );

    let mut node = quietcount_node::Node::open(&dir).await.unwrap();
    assert!(!node.is_sealed());
    // Reports work before sealing (birth year and month were filled by the migration)...
    async fn preview(node: &quietcount_node::Node) -> String {
        format!(
            "{:?}",
            node.preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
                .await
                .unwrap()
                .report
        )
    }
    let report_before = preview(&node).await;
    // ...but new client records and backups wait for sealing.
    let (clients, _) = write_marked_records(root.path());
    assert!(matches!(
        node.import_file(&clients, |_| {}).await,
        Err(quietcount_node::NodeError::NotSealed)
    ));
    assert!(matches!(
        node.backup(&root.path().join("early-backup")).await,
        Err(quietcount_node::NodeError::NotSealed)
    ));

    let summary = node
        .seal(
            Some(("Lan", "first staff passphrase")),
            quietcount_node::KdfParams::for_tests(),
        )
        .await
        .unwrap();
    assert_eq!(summary.clients_sealed, OLD_CLIENTS as u64);
    let recovery = summary.recovery_key.unwrap();
    assert!(node.is_sealed());
    assert_eq!(
        preview(&node).await,
        report_before,
        "sealing changes no count"
    );
    node.close().await;
    drop(node);

    // No clear page survives: not in the database, its WAL, or anywhere in the directory.
    assert_no_marker_in_files(&dir);

    // The names come back with the first staff passphrase and with the recovery key.
    let node = quietcount_node::Node::open(&dir).await.unwrap();
    for how in [
        quietcount_node::Unlock::Staff {
            name: "Lan".into(),
            passphrase: "first staff passphrase".to_owned().into(),
        },
        quietcount_node::Unlock::Recovery(recovery),
    ] {
        let key = node.unlock(&how).unwrap();
        let one = node.client(&key, "ZQCODE-0007").await.unwrap().unwrap();
        assert_eq!(
            (
                one.full_name.as_str(),
                one.phone.as_str(),
                one.date_of_birth.map(|d| d.to_string())
            ),
            (
                "ZQMARK-name-0007",
                "0999000007",
                Some("1901-08-08".to_owned())
            )
        );
    }
    // A sealed directory whose keyring is lost is not given a new key pair by `seal` (it
    // would open none of the names); with the keyring back, all is well.
    let keyring = dir.join(quietcount_node::sealed::KEYRING_FILE);
    let saved = std::fs::read(&keyring).unwrap();
    std::fs::remove_file(&keyring).unwrap();
    let mut lost = quietcount_node::Node::open(&dir).await.unwrap();
    assert!(!lost.is_sealed());
    let refused = lost
        .seal(
            Some(("Someone", "another passphrase")),
            quietcount_node::KdfParams::for_tests(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            quietcount_node::NodeError::Seal(SealError::KeyringLost { .. })
        ),
        "{refused}"
    );
    assert!(!keyring.exists());
    lost.close().await;
    std::fs::write(&keyring, saved).unwrap();

    // Sealing again does nothing; imports work again.
    let mut node = node;
    let again = node
        .seal(None, quietcount_node::KdfParams::for_tests())
        .await
        .unwrap();
    assert_eq!(again.clients_sealed, 0);
    assert!(again.recovery_key.is_none());
    node.import_file(&clients, |_| {}).await.unwrap();
    node.close().await;
}
