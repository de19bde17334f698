//! Store and forward, and crashes: reports queued while the coordinator is down are delivered
//! when it comes back; a coordinator or node killed mid-delivery loses nothing it acknowledged
//! and duplicates nothing.

use std::time::Duration;

use anyhow::Result;
use quietcount_tests::{
    Coordinator, Service, Site, enroll_site, last_closed_month, start_coordinator, text, wait_until,
};

/// Rewrites the node's retry settings so the service retries within a test's patience, and
/// gives up a connection attempt to a coordinator that is down after 2 s instead of 15.
fn fast_retries(site: &Site) -> Result<()> {
    let path = site.dir.join("config.toml");
    let config = std::fs::read_to_string(&path)?;
    let mut out = String::new();
    for line in config.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match key {
            "retry_base_secs" => out.push_str("retry_base_secs = 1\n"),
            "retry_max_secs" => out.push_str("retry_max_secs = 2\n"),
            "check_interval_secs" => out.push_str("check_interval_secs = 1\n"),
            "connect_timeout_secs" => out.push_str("connect_timeout_secs = 2\n"),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    std::fs::write(&path, out)?;
    Ok(())
}

fn reported_sites(coordinator: &Coordinator, period: &str) -> Result<Vec<(String, u64)>> {
    let status = coordinator.status_json(period)?;
    let mut out = Vec::new();
    for site in status["sites"].as_array().into_iter().flatten() {
        if site["reported"] == serde_json::Value::Bool(true) {
            out.push((
                site["site"].as_str().unwrap_or_default().to_owned(),
                site["revision"].as_u64().unwrap_or(0),
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn reports_queued_while_the_coordinator_is_down_are_delivered_once_it_is_up() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    // Started once so that the sites are configured with its address, then stopped.
    let mut coordinator = start_coordinator(root.path(), "Store and forward", "info")?;
    let mut sites = Vec::new();
    for i in 0..3 {
        sites.push(enroll_site(root.path(), &format!("sf-{i}"), &coordinator)?);
    }
    assert!(coordinator.stop()?.success());
    for (i, site) in (0..).zip(&sites) {
        fast_retries(site)?;
        site.simulate(120, 4, 7 + i, &period)?;
        site.report(&period)?;
        let output = site.submit()?;
        assert!(
            !output.status.success(),
            "submit must fail while the coordinator is down"
        );
    }
    // Every node's service is up (`start` waits for it), its report queued, before the
    // coordinator comes back on the same address.
    for site in &mut sites {
        site.start("info")?;
    }
    coordinator.start("info")?;
    let expected: Vec<(String, u64)> = sites.iter().map(|s| (s.id.clone(), 1)).collect();
    wait_until(Duration::from_secs(60), || {
        reported_sites(&coordinator, &period)
            .map(|r| r == expected)
            .unwrap_or(false)
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}: {:?}\n{}",
            reported_sites(&coordinator, &period),
            sites[0].log_text()
        )
    })?;
    for site in &mut sites {
        if let Some(mut service) = site.service.take() {
            let status = service.terminate(Duration::from_secs(15))?;
            assert!(status.success(), "node service exits cleanly on SIGTERM");
        }
        // The outbox is drained: a further submit has nothing to do and succeeds.
        let output = site.submit()?;
        assert!(output.status.success(), "{}", text(&output));
    }
    assert_eq!(
        reported_sites(&coordinator, &period)?,
        expected,
        "one revision per site, no duplicates"
    );
    let stopped = coordinator.stop()?;
    assert!(stopped.success(), "coordinator exits cleanly on SIGTERM");
    Ok(())
}

#[test]
fn killing_the_coordinator_or_a_node_mid_delivery_loses_and_duplicates_nothing() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = start_coordinator(root.path(), "Crash province", "info")?;
    let mut sites = Vec::new();
    for i in 0..6 {
        let site = enroll_site(root.path(), &format!("cr-{i}"), &coordinator)?;
        site.simulate(100, 3, 50 + i, &period)?;
        site.report(&period)?;
        sites.push(site);
    }
    let accepted_before = coordinator.log_text().matches("report accepted").count();
    // Every site submits at once; the coordinator is killed while they do.
    let submits: Vec<Service> = sites
        .iter()
        .enumerate()
        .map(|(i, site)| {
            let log = root.path().join("logs").join(format!("submit-{i}.log"));
            Service::spawn_for_test(site.command("submit"), log)
        })
        .collect::<Result<_>>()?;
    // Killed as soon as the first report is in: the others are then in flight or waiting.
    wait_until(Duration::from_secs(60), || {
        coordinator.log_text().matches("report accepted").count() > accepted_before
    })?;
    coordinator.kill();
    // A node killed in the middle of its submission.
    let mut killed_node = Service::spawn_for_test(
        sites[0].command("submit"),
        root.path().join("logs").join("killed.log"),
    )?;
    // A deliberate pause, not a wait for a condition: with the coordinator down the node shows
    // nothing observable while it opens its outbox and tries to connect, and the point is to
    // kill it at an arbitrary moment of that.
    std::thread::sleep(Duration::from_millis(50));
    killed_node.kill();
    drop(submits);

    coordinator.start("info")?;
    for site in &sites {
        let output = site.submit()?;
        assert!(output.status.success(), "{}: {}", site.id, text(&output));
    }
    let expected: Vec<(String, u64)> = sites.iter().map(|s| (s.id.clone(), 1)).collect();
    assert_eq!(
        reported_sites(&coordinator, &period)?,
        expected,
        "every report exactly once"
    );
    // Resubmitting after everything is delivered changes nothing.
    for site in &sites {
        assert!(site.submit()?.status.success());
    }
    assert_eq!(reported_sites(&coordinator, &period)?, expected);
    coordinator.stop()?;
    Ok(())
}

/// A period the province locked: the node's report is refused with `period_locked`, stays in
/// its outbox with the coordinator's words (`submit` and `status` say so), and is delivered by
/// the running service once the province unlocks the period.
#[test]
fn a_report_for_a_locked_period_waits_in_the_outbox_and_goes_after_the_unlock() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Locked period", "info")?;
    let mut site = enroll_site(root.path(), "locked-0", &coordinator)?;
    fast_retries(&site)?;
    let lock = |subcommand: &str| -> Result<()> {
        let output = coordinator
            .command(subcommand)
            .args(["--period", &period, "--by", "Nguyễn Thị Lan"])
            .output()?;
        anyhow::ensure!(output.status.success(), "{}", text(&output));
        Ok(())
    };
    lock("lock")?;
    site.simulate(60, 2, 3, &period)?;
    site.report(&period)?;
    let output = site.submit()?;
    let said = text(&output);
    assert!(
        said.contains("period_locked") || said.contains("locked"),
        "{said}"
    );
    assert!(reported_sites(&coordinator, &period)?.is_empty());
    let status = site.command("status").output()?;
    assert!(text(&status).contains("locked"), "{}", text(&status));

    site.start("info")?;
    lock("unlock")?;
    let expected = vec![(site.id.clone(), 1)];
    wait_until(Duration::from_secs(60), || {
        reported_sites(&coordinator, &period)
            .map(|r| r == expected)
            .unwrap_or(false)
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", site.log_text()))?;
    Ok(())
}
