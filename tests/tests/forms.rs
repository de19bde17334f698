//! Two forms end to end: a site reporting the province's default form and a donor's form for
//! the same month delivers both (two revision chains, no equivocation), and the province
//! publishes a verified package for each form.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use quietcount_tests::{Coordinator, binary, enroll_site, last_closed_month, run, run_ok, text};

const DONOR_FORM: &str = include_str!("../../forms/donor-methadone-monthly.toml");
const DEFAULT_FORM_ID: &str = "vn-community-treatment-monthly";
const DONOR_FORM_ID: &str = "donor-methadone-monthly";

/// Writes `forms/donor.toml` into `dir` and replaces `key = [...]` in its `config.toml`.
fn add_donor_form(dir: &std::path::Path, key: &str, entries: &str) -> Result<()> {
    std::fs::create_dir_all(dir.join("forms"))?;
    std::fs::write(dir.join("forms/donor.toml"), DONOR_FORM)?;
    let path = dir.join("config.toml");
    let config = std::fs::read_to_string(&path)?;
    let prefix = format!("\n{key} = [");
    let start = config
        .find(&prefix)
        .with_context(|| format!("{} has no {key} line", path.display()))?;
    let end = start + config[start..].find(']').context("unclosed list")? + 1;
    let config = format!(
        "{}\n{key} = [{entries}]{}",
        &config[..start],
        &config[end..]
    );
    std::fs::write(&path, config)?;
    Ok(())
}

fn status(coordinator: &Coordinator, period: &str, form: &str) -> Result<serde_json::Value> {
    let output = run_ok(
        coordinator
            .command("status")
            .args(["--period", period, "--json", "--form", form]),
    )?;
    serde_json::from_slice(&output.stdout).context("status --json is not JSON")
}

#[test]
fn a_site_reports_two_forms_for_one_month_and_each_publishes_and_verifies() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = Coordinator::init(root.path(), "Test province")?;
    add_donor_form(&coordinator.dir, "extra_forms", "\"forms/donor.toml\"")?;
    coordinator.start("info")?;
    let site = enroll_site(root.path(), "hn-two-forms", &coordinator)?;
    add_donor_form(
        &site.dir,
        "forms",
        &format!("\"{DEFAULT_FORM_ID}\", \"forms/donor.toml\""),
    )?;
    site.simulate(80, 3, 7, &period)?;

    let built = site.report(&period)?;
    let built = text(&built);
    ensure!(
        built.contains(DEFAULT_FORM_ID) && built.contains(DONOR_FORM_ID),
        "report did not build both forms:\n{built}"
    );
    let delivered = site.submit()?;
    ensure!(
        delivered.status.success(),
        "both forms must be delivered:\n{}",
        text(&delivered)
    );

    for form in [DEFAULT_FORM_ID, DONOR_FORM_ID] {
        let status = status(&coordinator, &period, form)?;
        ensure!(
            status["reported"] == 1 && status["expected"] == 1,
            "{form}: {status}"
        );
        ensure!(
            status["sites"][0]["equivocation"] == false,
            "{form} flagged an equivocation: {status}"
        );
        let package = root.path().join(format!("package-{form}"));
        run_ok(
            coordinator
                .command("publish")
                .args(["--period", &period, "--form", form])
                .arg("--out")
                .arg(&package),
        )?;
        let verified = run(Command::new(binary("quietcount-keys"))
            .arg("verify")
            .arg(&package)
            .arg("--trust")
            .arg(coordinator.public_key()))?;
        ensure!(
            verified.status.success(),
            "the {form} package does not verify:\n{}",
            text(&verified)
        );
    }
    Ok(())
}
