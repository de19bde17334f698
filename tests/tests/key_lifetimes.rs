//! Key lifetimes and honest completeness with the real binaries: a site's laptop replaced
//! mid-year keeps its earlier months counted and verified; a key compromised since a date
//! loses what arrived after it; a site enrolled during a month is not expected for the month
//! before; an empty period is never published; and the donor's verifier says what changed
//! after the period, what is incomplete, and what it cannot check.

use std::path::Path;

use anyhow::Result;
use quietcount_protocol::Period;
use quietcount_tests::{
    Coordinator, Site, binary, enroll_site, last_closed_month, run, run_ok, start_coordinator, text,
};

/// `quietcount-keys verify --json` of `package`, with extra arguments: (exit code, JSON).
fn verify(package: &Path, trust: &Path, extra: &[&str]) -> Result<(i32, serde_json::Value)> {
    let output = run(std::process::Command::new(binary("quietcount-keys"))
        .arg("verify")
        .arg(package)
        .arg("--trust")
        .arg(trust)
        .arg("--json")
        .args(extra))?;
    let json = serde_json::from_slice(&output.stdout).unwrap_or_default();
    Ok((output.status.code().unwrap_or(-1), json))
}

fn warning_names(json: &serde_json::Value) -> Vec<String> {
    json["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["name"].as_str().map(str::to_owned))
        .collect()
}

fn deliver(site: &Site, period: &str) -> Result<()> {
    site.report(period)?;
    let output = site.submit()?;
    assert!(output.status.success(), "submit failed:\n{}", text(&output));
    Ok(())
}

fn site_row(coordinator: &Coordinator, period: &str, site: &str) -> Result<serde_json::Value> {
    let status = coordinator.status_json(period)?;
    Ok(status["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["site"] == site)
        .cloned()
        .unwrap_or_default())
}

#[test]
fn a_replaced_laptop_keeps_earlier_months_and_a_compromised_key_loses_what_came_after() -> Result<()>
{
    let root = tempfile::tempdir()?;
    let latest = last_closed_month();
    let earlier = Period::parse(&latest)?
        .previous()
        .expect("a month before")
        .to_string();
    let coordinator = start_coordinator(root.path(), "Key lifetimes", "info")?;
    let a = enroll_site(root.path(), "site-a", &coordinator)?;
    let b = enroll_site(root.path(), "site-b", &coordinator)?;
    for (i, site) in [&a, &b].into_iter().enumerate() {
        site.simulate(140 + 30 * i as u32, 6, 70 + i as u64, &latest)?;
        deliver(site, &earlier)?;
    }

    // Site A's laptop is replaced: a new node with a new key, enrolled for the same site. The
    // old key is retired, not revoked.
    let replacement_root = root.path().join("new-laptop");
    let a2 = enroll_site(&replacement_root, "site-a", &coordinator)?;
    a2.simulate(150, 3, 99, &latest)?;
    deliver(&a2, &latest)?;
    // Receipt times are in whole seconds: B's two deliveries a second apart, so that a
    // compromise dated at the second one leaves the first inside the key's window.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    deliver(&b, &latest)?;
    let sites = text(&run_ok(&mut coordinator.command("sites"))?);
    assert!(
        sites.contains("retired") && sites.contains("replaced by a newer key"),
        "{sites}"
    );

    // The earlier month, delivered with the old key while it was valid, still counts: 2/2.
    let row = site_row(&coordinator, &earlier, "site-a")?;
    assert_eq!(row["revision"], 1, "{row}");
    let package = root.path().join("earlier-package");
    let published = text(&coordinator.publish(&earlier, &package)?);
    assert!(published.contains("2/2 sites reported"), "{published}");
    let (code, json) = verify(&package, &coordinator.public_key(), &[])?;
    assert_eq!(code, 0, "{json:#}");
    // ...and the donor is told that the registry changed after that month.
    assert!(
        warning_names(&json).contains(&"key-ended-after-period".to_owned()),
        "{json:#}"
    );
    assert!(
        json["not_checked"]
            .as_array()
            .is_some_and(|lines| !lines.is_empty()),
        "{json:#}"
    );
    // Under --strict a warning fails; the wrong expected period or province fails too.
    let (strict, _) = verify(&package, &coordinator.public_key(), &["--strict"])?;
    assert_eq!(strict, 1);
    let (wrong, json) = verify(
        &package,
        &coordinator.public_key(),
        &[
            "--expect-period",
            &latest,
            "--expect-province",
            "Key lifetimes",
        ],
    )?;
    assert_eq!(wrong, 1, "{json:#}");
    // A private key handed over as the key to trust is refused, saying what to pass.
    let refused = run(std::process::Command::new(binary("quietcount-keys"))
        .arg("verify")
        .arg(&package)
        .arg("--trust")
        .arg(coordinator.dir.join("coordinator.key")))?;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused).contains("this is a private key"),
        "{}",
        text(&refused)
    );

    // Site B's key turns out compromised since the second its latest delivery arrived: that
    // delivery no longer counts; its earlier month still does.
    let since = site_row(&coordinator, &latest, "site-b")?["received_at"]
        .as_u64()
        .expect("a receipt time");
    coordinator.revoke(&b, "compromised", Some(since))?;
    let status = text(&run_ok(
        coordinator.command("status").arg("--period").arg(&latest),
    )?);
    assert!(
        status.contains("NOT COUNTED") && status.contains("compromised"),
        "{status}"
    );
    assert_eq!(
        site_row(&coordinator, &latest, "site-b")?["revision"],
        serde_json::Value::Null
    );
    assert_eq!(site_row(&coordinator, &earlier, "site-b")?["revision"], 1);

    // 1 of 2 is below the default 80%: refused, then published knowingly incomplete.
    let package = root.path().join("latest-package");
    let refused = run(coordinator
        .command("publish")
        .arg("--period")
        .arg(&latest)
        .arg("--out")
        .arg(&package))?;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only 1 of 2 expected sites reported"),
        "{}",
        text(&refused)
    );
    assert!(!package.exists(), "a refused publication writes nothing");
    let published = text(&coordinator.publish_incomplete(&latest, &package)?);
    assert!(published.contains("INCOMPLETE"), "{published}");
    let (code, json) = verify(&package, &coordinator.public_key(), &[])?;
    assert_eq!(code, 0, "{json:#}");
    let warnings = warning_names(&json);
    assert!(warnings.contains(&"incomplete".to_owned()), "{json:#}");
    let incomplete = json["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["name"] == "incomplete")
        .cloned()
        .unwrap_or_default();
    assert!(
        incomplete["detail"]
            .as_str()
            .is_some_and(|d| d.contains("site-b") && d.contains("--allow-incomplete")),
        "{incomplete}"
    );
    Ok(())
}

#[test]
fn an_empty_period_is_never_published_and_a_late_enrolment_is_not_expected_before() -> Result<()> {
    let root = tempfile::tempdir()?;
    let latest = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Completeness", "info")?;
    let a = enroll_site(root.path(), "site-a", &coordinator)?;
    a.simulate(120, 3, 5, &latest)?;

    // Nothing delivered yet: publish refuses, export has no rows (no exact zeros).
    let package = root.path().join("package");
    let refused = run(coordinator
        .command("publish")
        .arg("--period")
        .arg(&latest)
        .arg("--out")
        .arg(&package)
        .arg("--allow-incomplete"))?;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("no site has reported"),
        "{}",
        text(&refused)
    );
    let export = run_ok(
        coordinator
            .command("export")
            .arg("--period")
            .arg(&latest)
            .arg("--format")
            .arg("csv-long"),
    )?;
    let rows = String::from_utf8(export.stdout)?;
    assert_eq!(rows.lines().count(), 1, "only the header:\n{rows}");

    // A site enrolled today, without --reports-from, is expected from this month on: not for
    // the month that already ended.
    let late = Site::init(root.path(), "site-late", &coordinator)?;
    let key = late.public_key();
    run_ok(
        coordinator
            .command("enroll")
            .arg("--site")
            .arg("site-late")
            .arg("--name")
            .arg("Late site")
            .arg("--key")
            .arg(&key),
    )?;
    let status = coordinator.status_json(&latest)?;
    let not_expected: Vec<&str> = status["not_expected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["site"].as_str())
        .collect();
    assert_eq!(not_expected, ["site-late"], "{status:#}");
    assert_eq!(status["expected"], 1);
    // Enrolling the same key again with --reports-from makes it expected for that month.
    run_ok(
        coordinator
            .command("enroll")
            .arg("--site")
            .arg("site-late")
            .arg("--name")
            .arg("Late site")
            .arg("--key")
            .arg(&key)
            .arg("--reports-from")
            .arg(&latest),
    )?;
    assert_eq!(coordinator.status_json(&latest)?["expected"], 2);
    Ok(())
}
