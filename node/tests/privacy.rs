//! The privacy proof: unique markers planted in every identifiable field of many clients
//! never appear in anything the node writes outside its database, logs (at trace level),
//! prints, or sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{DEFAULT_FORM, NOV_10_2026, october};
use quietcount_node::{ImportOptions, OpenPeriod};

const CLIENTS: usize = 60;

/// Byte strings that only the identifiable fields contain.
const MARKERS: &[&str] = &[
    "ZQMARK",  // names, addresses, national ids
    "ZQCODE",  // client codes
    "0999000", // phones
    "1901-0",  // birth dates, ISO
    "/1901",   // birth dates, DD/MM/YYYY (in the input files only)
    "ZQBAD",   // values in a refused file
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

fn files_outside_the_database(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            files_outside_the_database(&path, out);
        } else if !["node.db", "node.db-wal", "node.db-shm"].contains(&name.as_str()) {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
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

    files_outside_the_database(&dir, &mut outputs);
    outputs.push(("logs".into(), logs.0.lock().unwrap().clone()));
    for (i, bytes) in coordinator.received_bytes().into_iter().enumerate() {
        outputs.push((format!("received by coordinator {i}"), bytes));
    }

    // The search must be able to find markers: they are in the database.
    let mut database = std::fs::read(dir.join("node.db")).unwrap();
    database.extend(std::fs::read(dir.join("node.db-wal")).unwrap_or_default());
    for marker in &MARKERS[..4] {
        assert!(
            contains(&database, marker),
            "the database should hold {marker}"
        );
    }
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
