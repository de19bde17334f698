//! `quietcount-coordinator backup`: a snapshot taken while the coordinator serves, restored
//! into a new folder, makes a coordinator that starts, serves and reports the same status.

use anyhow::Result;
use quietcount_tests::{enroll_site, last_closed_month, run, run_ok, start_coordinator, text};

#[test]
fn a_backup_taken_while_running_restores_into_a_working_coordinator() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = start_coordinator(root.path(), "Backup", "info")?;
    let mut sites = Vec::new();
    for (i, id) in ["bk-1", "bk-2"].into_iter().enumerate() {
        let site = enroll_site(root.path(), id, &coordinator)?;
        site.simulate(100, 3, 20 + i as u64, &period)?;
        site.report(&period)?;
        assert!(site.submit()?.status.success());
        sites.push(site);
    }
    let before = coordinator.status_json(&period)?;

    // While it runs.
    let snapshot = root.path().join("coordinator-snapshot.db");
    let output = run_ok(coordinator.command("backup").arg("--out").arg(&snapshot))?;
    assert!(
        text(&output).contains("Wrote a snapshot"),
        "{}",
        text(&output)
    );
    assert!(
        coordinator.service.is_some(),
        "taken while the service runs"
    );
    // Never over an existing file.
    let again = run(coordinator.command("backup").arg("--out").arg(&snapshot))?;
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snapshot)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(coordinator.stop()?.success());

    // Restored as the README says into a new folder, on the same address.
    let restored = root.path().join("restored");
    std::fs::create_dir(&restored)?;
    for name in ["config.toml", "coordinator.key", "coordinator.pub"] {
        std::fs::copy(coordinator.dir.join(name), restored.join(name))?;
    }
    std::fs::copy(&snapshot, restored.join("coordinator.db"))?;
    coordinator.dir = restored;
    coordinator.start("info")?;
    assert_eq!(coordinator.status_json(&period)?, before, "the same status");

    // It serves: a site's next revision is accepted on top of the restored chain.
    sites[0].simulate(140, 3, 40, &period)?;
    sites[0].report(&period)?;
    let output = sites[0].submit()?;
    assert!(output.status.success(), "{}", text(&output));
    let after = coordinator.status_json(&period)?;
    let revision = after["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["site"] == "bk-1")
        .map(|s| s["revision"].clone());
    assert_eq!(revision, Some(serde_json::json!(2)));
    Ok(())
}
