//! The binary: init, the written configuration, the service loop and clean shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{NOV_10_2026, TestCoordinator, october};
use quietcount_node::{Config, FixedClock, Node};

const BINARY: &str = env!("CARGO_BIN_EXE_quietcount-node");

#[test]
fn init_writes_a_documented_config_and_a_private_key_and_refuses_to_run_twice() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("coordinator.pem");
    quietcount_keys::save_public_key(&key, &TestCoordinator::identity().verifying_key()).unwrap();
    let dir = root.path().join("site");
    let args = |dir: &std::path::Path| {
        vec![
            "init".to_owned(),
            "--dir".into(),
            dir.display().to_string(),
            "--site".into(),
            "hn-test-01".into(),
            "--coordinator".into(),
            "coord.example:4433".into(),
            "--coordinator-key".into(),
            key.display().to_string(),
            "--k".into(),
            "7".into(),
        ]
    };
    let output = Command::new(BINARY).args(args(&dir)).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let identity = quietcount_keys::Identity::load(&dir.join("site.key")).unwrap();
    assert!(
        stdout.contains(&quietcount_keys::short_fingerprint(&identity.fingerprint())),
        "{stdout}"
    );
    assert!(stdout.contains("site.pub"), "{stdout}");

    // The written sample parses (deny_unknown_fields) with what was asked.
    let config = Config::load(&dir).unwrap();
    assert_eq!(config.k, 7);
    assert_eq!(config.coordinator, "coord.example:4433");
    assert_eq!(config.report_day, 5);
    assert_eq!(config.forms, ["vn-community-treatment-monthly"]);
    assert_eq!(
        quietcount_keys::load_public_key(&dir.join(&config.coordinator_keys[0])).unwrap(),
        TestCoordinator::identity().verifying_key()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("site.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let journal: String = {
        common::runtime().block_on(async {
            let node = Node::open(&dir).await.unwrap();
            let durability = node.store().durability().await.unwrap();
            let mode = durability.journal_mode;
            assert!(durability.synchronous_full, "synchronous = FULL");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let wal = std::fs::metadata(dir.join("node.db-wal")).unwrap();
                assert_eq!(
                    wal.permissions().mode() & 0o777,
                    0o600,
                    "the WAL is owner-only too"
                );
            }
            mode
        })
    };
    assert_eq!(journal, "wal");

    // Again on the same directory: refused, nothing replaced.
    let before = std::fs::read(dir.join("site.key")).unwrap();
    let output = Command::new(BINARY).args(args(&dir)).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not empty"));
    assert_eq!(std::fs::read(dir.join("site.key")).unwrap(), before);
}

#[test]
fn a_failed_import_exits_non_zero_naming_lines_and_columns() {
    let root = tempfile::tempdir().unwrap();
    let dir = init_with_no_coordinator(root.path());
    let bad = root.path().join("bad.csv");
    std::fs::write(
        &bad,
        "client_code,date,service,outcome\nX-1,2026-10-40,methadone,\n",
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args([
            "import",
            "--lang",
            "en",
            "--dir",
            dir.to_str().unwrap(),
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Grouped by column and problem, each group naming its rows.
    assert!(
        stderr.contains("`date` (column 2): not a date") && stderr.contains("on row 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`client_code` (column 1): no client with this code"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("X-1") && !stderr.contains("2026-10-40"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_service_builds_the_closed_period_on_its_day_delivers_and_stops() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    common::import_fixture_records(&node).await;
    // 3 November: before report_day (5): nothing is built.
    let nov_3 = NOV_10_2026 - 7 * 86_400;
    quietcount_node::service::tick(&node, nov_3).await.unwrap();
    assert!(node.status().await.unwrap().entries.is_empty());
    // The service loop at 10 November: builds October, delivers, and stops when told.
    let clock = FixedClock::new(NOV_10_2026);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = quietcount_node::service::run(&node, &clock, async {
        let _ = stopped.await;
    });
    let stopper = async {
        for _ in 0..100 {
            if node.status().await.unwrap().receipts.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send(()).unwrap();
    };
    let (result, ()) = tokio::join!(service, stopper);
    result.unwrap();
    assert_eq!(coordinator.stored(), 1);
    let node = Node::open(&node.dir().root).await.unwrap();
    let status = node.status().await.unwrap();
    assert_eq!(status.entries.len(), 1);
    assert_eq!(status.entries[0].period, october());
    assert_eq!(status.receipts.len(), 1);
    // Another pass the same month builds nothing new.
    quietcount_node::service::tick(&node, NOV_10_2026 + 86_400)
        .await
        .unwrap();
    assert_eq!(node.status().await.unwrap().entries.len(), 1);
}

#[cfg(unix)]
#[test]
fn run_stops_cleanly_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let dir = init_with_no_coordinator(root.path());
    let mut child = Command::new(BINARY)
        .args(["run", "--dir", dir.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ready once it logs that the service started (its signal handlers are installed before).
    let log = std::io::BufReader::new(child.stderr.take().unwrap());
    let (lines, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(log).map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut stderr = String::new();
    while !stderr.contains("service started") {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the service did not start ({e}): {stderr}"));
        stderr += &line;
        stderr.push('\n');
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    reader.join().unwrap();
    stderr.extend(received.try_iter().map(|line| line + "\n"));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("SIGTERM received") && stderr.contains("service stopping"),
        "{stderr}"
    );
}

#[tokio::test]
async fn report_builds_every_configured_form_or_the_one_named_and_status_shows_forms() {
    let root = tempfile::tempdir().unwrap();
    let dir = common::fixture_dir_with_two_forms(root.path()).await;

    let second = common::run_cli(
        &dir,
        &[
            "report",
            "--period",
            "2026-10",
            "--form",
            common::SECOND_FORM,
        ],
    );
    assert!(
        second.contains(
            "report for 2026-10 (test-harm-reduction-monthly v1) revision 1 signed and queued"
        ),
        "{second}"
    );
    assert!(
        !second.contains("vn-community-treatment-monthly"),
        "{second}"
    );
    let both = common::run_cli(&dir, &["report", "--period", "2026-10"]);
    assert!(
        both.contains(
            "report for 2026-10 (vn-community-treatment-monthly v2) revision 1 signed and queued"
        ),
        "{both}"
    );
    assert!(
        both.contains(
            "report for 2026-10 (test-harm-reduction-monthly v1) unchanged since revision 1"
        ),
        "{both}"
    );
    assert!(
        both.contains("Deliver it with: quietcount-node submit"),
        "{both}"
    );
    let status = common::run_cli(&dir, &["status"]);
    assert!(
        status.contains("2026-10  rev 1  vn-community-treatment-monthly v2  built"),
        "{status}"
    );
    assert!(
        status.contains("2026-10  rev 1  test-harm-reduction-monthly v1  built"),
        "{status}"
    );
    assert!(status.contains("Pending: 2  Refused: 0"), "{status}");
    // A backup carries the form file along: the copy opens with both forms.
    let out = root.path().join("backup");
    common::run_cli(&dir, &["backup", "--out", out.to_str().unwrap()]);
    let copy = Node::open(&out).await.unwrap();
    assert_eq!(copy.forms().len(), 2);
    assert_eq!(copy.store().outbox_entries().await.unwrap().len(), 2);
    drop(copy);

    // An open period: the library's error names no flag; the CLI adds the hint.
    let output = Command::new(BINARY)
        .args(["report", "--period", "2099-01", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("period 2099-01 is not over yet; pass --allow-open-period"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_service_builds_the_scheduled_report_of_every_configured_form_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = common::fixture_dir_with_two_forms(root.path()).await;
    // Nobody listens at the configured coordinator: delivery fails fast and is retried later.
    common::set_config(&dir, "connect_timeout_secs", "1");
    let node = Node::open(&dir).await.unwrap();
    quietcount_node::service::tick(&node, NOV_10_2026)
        .await
        .unwrap();
    let built = |entries: Vec<quietcount_node::OutboxEntry>| {
        entries
            .into_iter()
            .map(|e| (e.form.id, e.period, e.revision))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (common::DEFAULT_FORM.to_owned(), october(), 1),
        (common::SECOND_FORM.to_owned(), october(), 1),
    ];
    assert_eq!(
        built(node.store().outbox_entries().await.unwrap()),
        expected
    );
    quietcount_node::service::tick(&node, NOV_10_2026 + 86_400)
        .await
        .unwrap();
    assert_eq!(
        built(node.store().outbox_entries().await.unwrap()),
        expected
    );
}

/// A data directory whose coordinator address answers nothing (the discard port).
fn init_with_no_coordinator(root: &std::path::Path) -> std::path::PathBuf {
    common::runtime().block_on(common::init_node(
        root,
        "127.0.0.1:9".parse().unwrap(),
        &TestCoordinator::identity(),
    ))
}

#[test]
fn staff_unlock_the_records_from_files_and_the_recovery_key_is_shown_once_and_kept_nowhere() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("coordinator.pem");
    quietcount_keys::save_public_key(&key, &TestCoordinator::identity().verifying_key()).unwrap();
    let dir = root.path().join("site");
    let dir_arg = dir.display().to_string();
    let run = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .env("QUIETCOUNT_TEST_CHEAP_KDF", "1")
            .output()
            .unwrap()
    };
    let output = run(&[
        "init",
        "--dir",
        &dir_arg,
        "--site",
        "hn-test-01",
        "--coordinator",
        "coord.example:4433",
        "--coordinator-key",
        key.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let recovery = stdout
        .lines()
        .skip_while(|l| !l.starts_with("RECOVERY KEY"))
        .map(str::trim)
        .find(|l| l.len() == 64 && l.matches('-').count() == 12)
        .unwrap_or_else(|| panic!("a recovery key in {stdout}"))
        .to_owned();
    assert!(quietcount_node::RecoveryKey::parse(&recovery).is_ok());
    let recovery_file = root.path().join("recovery.txt");
    std::fs::write(&recovery_file, &recovery).unwrap();
    let secret = |name: &str, text: &str| {
        let path = root.path().join(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path.display().to_string()
    };
    let first = secret("first.txt", "first passphrase of Lan");
    let second = secret("second.txt", "second passphrase of Lan");
    let recovery_arg = recovery_file.display().to_string();

    let ok = |args: &[&str]| {
        let output = run(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = ok(&["staff", "list", "--dir", &dir_arg]);
    assert!(listed.contains("only the recovery key"), "{listed}");
    ok(&[
        "staff",
        "add",
        "--dir",
        &dir_arg,
        "--name",
        "Lan",
        "--recovery-key-file",
        &recovery_arg,
        "--new-passphrase-file",
        &first,
    ]);
    let listed = ok(&["staff", "list", "--dir", &dir_arg]);
    assert!(listed.contains("Lan"), "{listed}");
    ok(&[
        "import",
        "--dir",
        &dir_arg,
        common::data("fixture_clients.csv").to_str().unwrap(),
    ]);
    let show = |passphrase: &str| {
        run(&[
            "show",
            "--dir",
            &dir_arg,
            "--client",
            "C5",
            "--staff",
            "Lan",
            "--passphrase-file",
            passphrase,
        ])
    };
    let shown = show(&first);
    assert!(shown.status.success(), "{shown:?}");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("Epsilon Five"));

    ok(&[
        "staff",
        "passwd",
        "--dir",
        &dir_arg,
        "--name",
        "Lan",
        "--staff",
        "Lan",
        "--passphrase-file",
        &first,
        "--new-passphrase-file",
        &second,
    ]);
    let refused = show(&first);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not accepted"));
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("Epsilon"));
    assert!(show(&second).status.success());
    ok(&[
        "staff",
        "remove",
        "--dir",
        &dir_arg,
        "--name",
        "Lan",
        "--recovery-key-file",
        &recovery_arg,
    ]);
    assert!(!show(&second).status.success());

    // The recovery key is in no file of the data directory.
    let mut stack = vec![dir.clone()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(&recovery), "{}", path.display());
                assert!(
                    !text.contains(&recovery.replace('-', "")),
                    "{}",
                    path.display()
                );
            }
        }
    }
}
