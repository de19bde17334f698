//! Chains that can be continued: a node restored from its documented backup carries on where
//! the coordinator is, instead of being locked out. Real binaries on loopback.

use std::path::Path;

use anyhow::Result;
use quietcount_tests::{
    Coordinator, Site, enroll_site, last_closed_month, start_coordinator, text,
};

/// Copies a directory tree (a backup is a flat folder, maybe with form subfolders).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Puts the backup in `backup` back in place of the site's folder, as an operator would.
fn restore(site: &Site, backup: &Path) -> Result<()> {
    std::fs::remove_dir_all(&site.dir)?;
    copy_dir(backup, &site.dir)
}

fn backup(site: &Site, out: &Path) -> Result<()> {
    let output = quietcount_tests::run_ok(site.command("backup").arg("--out").arg(out))?;
    assert!(output.status.success(), "{}", text(&output));
    Ok(())
}

/// The site's row in the coordinator's status: (revision, equivocation flag).
fn site_row(coordinator: &Coordinator, period: &str, site: &Site) -> Result<(Option<u64>, bool)> {
    let status = coordinator.status_json(period)?;
    let row = status["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["site"] == serde_json::Value::String(site.id.clone()))
        .cloned()
        .unwrap_or_default();
    Ok((row["revision"].as_u64(), row["equivocation"] == true))
}

fn submit_ok(site: &Site) -> Result<String> {
    let output = site.submit()?;
    let out = text(&output);
    assert!(output.status.success(), "submit failed:\n{out}");
    Ok(out)
}

#[test]
fn a_node_restored_from_backup_re_sends_the_same_report_and_continues_the_chain() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Continuity", "info")?;
    let site = enroll_site(root.path(), "restored-1", &coordinator)?;
    site.simulate(120, 4, 7, &period)?;
    let saved = root.path().join("backup-before-report");
    backup(&site, &saved)?;
    site.report(&period)?;
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?, (Some(1), false));

    // The laptop is restored from the backup taken before the report was sent: the node builds
    // revision 1 again (same records, a new timestamp). The coordinator recognises the same
    // content and answers with the original receipt: no conflict, no lock-out.
    restore(&site, &saved)?;
    // Past the second of the first build, so the new envelope differs from the stored one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    site.report(&period)?;
    submit_ok(&site)?;
    assert_eq!(
        site_row(&coordinator, &period, &site)?,
        (Some(1), false),
        "the re-signed report is a duplicate, not an equivocation"
    );
    assert!(
        coordinator
            .log_text()
            .contains("same_content_resigned=true"),
        "{}",
        coordinator.log_text()
    );

    // New records after the restore make a new revision, accepted on top of the stored chain;
    // and building twice in a row is fine.
    site.simulate(150, 4, 8, &period)?;
    site.report(&period)?;
    site.report(&period)?;
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?, (Some(2), false));
    Ok(())
}

#[test]
fn a_node_behind_the_coordinator_builds_on_the_head_the_refusal_names() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Continuity", "info")?;
    let site = enroll_site(root.path(), "restored-2", &coordinator)?;
    site.simulate(120, 4, 7, &period)?;
    site.report(&period)?;
    submit_ok(&site)?;
    // A backup after revision 1 was delivered; revision 2 goes out after it.
    let saved = root.path().join("backup-after-revision-1");
    backup(&site, &saved)?;
    site.simulate(150, 4, 8, &period)?;
    site.report(&period)?;
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?, (Some(2), false));

    // Restored, the node believes revision 1 is the latest. Other new records: its revision 2
    // conflicts with the stored one (a real conflict, kept as evidence), and the refusal names
    // the coordinator's head.
    restore(&site, &saved)?;
    site.simulate(90, 4, 9, &period)?;
    site.report(&period)?;
    let output = site.submit()?;
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("conflicting report"), "{out}");
    // Built again at once (within the same second): the next revision, on the coordinator's
    // head, accepted.
    let output = site.report(&period)?;
    assert!(text(&output).contains("revision 3"), "{}", text(&output));
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?.0, Some(3));
    Ok(())
}

#[test]
fn a_restored_node_fetches_what_the_coordinator_holds_and_continues_without_a_conflict()
-> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Continuity", "info")?;
    let site = enroll_site(root.path(), "restored-3", &coordinator)?;
    site.simulate(120, 4, 7, &period)?;
    // A backup before anything was sent; then revisions 1 and 2 go out.
    let saved = root.path().join("backup-before-reports");
    backup(&site, &saved)?;
    site.report(&period)?;
    submit_ok(&site)?;
    site.simulate(150, 4, 8, &period)?;
    site.report(&period)?;
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?, (Some(2), false));
    let evidence_before = coordinator.log_text().matches("equivocation").count();

    // Restored, the node knows nothing of either. It fetches what the coordinator holds:
    // both revisions, checked and recorded as delivered with their receipts.
    restore(&site, &saved)?;
    let output = quietcount_tests::run_ok(site.command("fetch").arg("--period").arg(&period))?;
    let out = text(&output);
    assert!(
        out.contains("revision 1") && out.contains("revision 2"),
        "{out}"
    );
    assert_eq!(
        out.matches("recorded here as delivered").count(),
        2,
        "{out}"
    );
    let status = text(&quietcount_tests::run_ok(&mut site.command("status"))?);
    assert!(
        !status.contains("pending"),
        "nothing is left to send:\n{status}"
    );
    // Fetching again changes nothing.
    let again = text(&quietcount_tests::run_ok(
        site.command("fetch").arg("--period").arg(&period),
    )?);
    assert_eq!(again.matches("already known here").count(), 2, "{again}");

    // New records: the next report is revision 3, built on the coordinator's head, accepted
    // at the first try with no conflict.
    site.simulate(90, 4, 9, &period)?;
    let output = site.report(&period)?;
    assert!(text(&output).contains("revision 3"), "{}", text(&output));
    submit_ok(&site)?;
    assert_eq!(site_row(&coordinator, &period, &site)?, (Some(3), false));
    assert_eq!(
        coordinator.log_text().matches("equivocation").count(),
        evidence_before,
        "no conflict was produced"
    );
    Ok(())
}
