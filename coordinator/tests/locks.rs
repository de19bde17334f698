//! `lock`, `unlock`, `status` and `enroll --contact` through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll, run_cli};
use quietcount_protocol::Period;

fn cli(args: &[&str]) -> (bool, String) {
    run_cli(
        Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator")),
        args,
    )
    .unwrap()
}

#[tokio::test]
async fn a_period_is_locked_shown_and_unlocked_and_a_contact_is_kept() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let coordinator = coordinator_in(&dir).await.unwrap();
    let site = TestSite::new("site-a").unwrap();
    enroll(
        &coordinator,
        &site,
        Period::parse("2026-01").unwrap().start(),
    )
    .await
    .unwrap();
    coordinator.store.close().await;
    let dir = dir.to_str().unwrap();
    let key = root.path().join("coord/site-a.pub");
    let key = key.to_str().unwrap();

    let (ok, shown) = cli(&["lock", "--dir", dir, "--period", "2026-10", "--by", " "]);
    assert!(!ok, "{shown}");
    assert!(shown.contains("--by"), "{shown}");
    let (ok, shown) = cli(&["lock", "--dir", dir, "--period", "2026-10", "--by", "Lan"]);
    assert!(ok, "{shown}");
    assert!(shown.contains("Locked 2026-10"), "{shown}");
    let (ok, shown) = cli(&["lock", "--dir", dir, "--period", "2026-10", "--by", "Minh"]);
    assert!(ok && shown.contains("already locked"), "{shown}");
    let (ok, shown) = cli(&["status", "--dir", dir, "--period", "2026-10"]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("LOCKED since") && shown.contains("by Lan"),
        "{shown}"
    );
    let (ok, shown) = cli(&["unlock", "--dir", dir, "--period", "2026-10", "--by", "Lan"]);
    assert!(ok && shown.contains("Unlocked 2026-10"), "{shown}");
    let (ok, shown) = cli(&["status", "--dir", dir, "--period", "2026-10"]);
    assert!(ok && !shown.contains("LOCKED"), "{shown}");

    // Enrolling again with the same key records the contact the grid's reminders name.
    let (ok, shown) = cli(&[
        "enroll",
        "--dir",
        dir,
        "--site",
        "site-a",
        "--name",
        "Trạm Y tế A",
        "--key",
        key,
        "--contact",
        "Chị Hoa 0912 345 678",
    ]);
    assert!(ok, "{shown}");
    let (ok, shown) = cli(&["sites", "--dir", dir]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("contact of site-a: Chị Hoa 0912 345 678"),
        "{shown}"
    );
}
