//! A correction end to end, suppressed jointly with the revision already sent (issue 10): a
//! site sends a month, a client's sex is corrected, and the next revision either goes out and
//! is stored as revision 2, or is held with a message that says why and names nobody; either
//! way the province's package verifies.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use quietcount_tests::{Coordinator, binary, enroll_site, last_closed_month, run, text};

/// One client and one service in `period`, as a site officer would type them.
fn client_rows(period: &str, sex: &str) -> (String, String) {
    (
        format!(
            "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
             E2E-0001,Marker Person Zeta,1990-01-01,{sex},0912345678,001090012345,Marker Street,opioids,family,{period}-02,voluntary\n"
        ),
        format!("client_code,date,service,outcome\nE2E-0001,{period}-12,vocational_training,\n"),
    )
}

#[test]
fn a_corrected_sex_goes_out_or_is_held_and_the_package_verifies() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = Coordinator::init(root.path(), "Test province")?;
    coordinator.start("info")?;
    let site = enroll_site(root.path(), "hn-corrections", &coordinator)?;
    site.simulate(60, 2, 11, &period)?;
    let (clients, services) = client_rows(&period, "male");
    let clients_file = root.path().join("clients.csv");
    let services_file = root.path().join("services.csv");
    std::fs::write(&clients_file, &clients)?;
    std::fs::write(&services_file, &services)?;
    site.import(&clients_file)?;
    site.import(&services_file)?;
    ensure!(site.report(&period)?.status.success(), "revision 1 builds");
    ensure!(site.submit()?.status.success(), "revision 1 is delivered");

    // The officer corrects the client's sex.
    let (corrected, _) = client_rows(&period, "female");
    std::fs::write(&clients_file, corrected)?;
    site.import(&clients_file)?;
    let built = site.report(&period)?;
    let said = text(&built);
    ensure!(
        built.status.success(),
        "report after the correction:\n{said}"
    );
    for marker in ["Marker", "E2E-0001", "0912345678"] {
        ensure!(!said.contains(marker), "{marker} shown:\n{said}");
    }
    let status = coordinator.status_json(&period)?;
    let went_out = !said.contains("held");
    if !went_out {
        ensure!(
            said.contains(&period) && said.contains("stays in force"),
            "the hold says why and what stays:\n{said}"
        );
        ensure!(status["sites"][0]["revision"] == 1, "{status}");
        eprintln!("held:\n{said}");
    } else {
        ensure!(said.contains("revision 2"), "revision 2 is queued:\n{said}");
        ensure!(site.submit()?.status.success(), "revision 2 is delivered");
        let status = coordinator.status_json(&period)?;
        ensure!(
            status["sites"][0]["revision"] == 2 && status["sites"][0]["equivocation"] == false,
            "{status}"
        );
        eprintln!("revision 2 went out");
    }

    let package = root.path().join("package");
    coordinator.publish(&period, &package)?;
    let verified = run(Command::new(binary("quietcount-keys"))
        .arg("verify")
        .arg(&package)
        .arg("--trust")
        .arg(coordinator.public_key()))?;
    ensure!(
        verified.status.success(),
        "the package does not verify:\n{}",
        text(&verified)
    );
    if went_out {
        // The package carries revision 1 beside revision 2, and the verifier audits them
        // together, with the number of changed records revision 2 states.
        ensure!(
            package.join("earlier/hn-corrections.r1.cose").is_file(),
            "revision 1 is in the package"
        );
        let said = text(&verified);
        ensure!(
            said.lines()
                .any(|l| l.starts_with("PASS  revisions") && l.contains("audited jointly")),
            "the verifier ran the joint audit:\n{said}"
        );
    }
    let published = std::fs::read_dir(&package)
        .context("package folder")?
        .map(|entry| entry.map(|e| std::fs::read(e.path()).unwrap_or_default()))
        .collect::<std::io::Result<Vec<_>>>()?;
    for bytes in published {
        let bytes = String::from_utf8_lossy(&bytes);
        ensure!(!bytes.contains("Marker"), "a marker reached the package");
    }
    Ok(())
}

#[test]
fn a_published_correction_carries_its_earlier_revision_and_is_audited_jointly() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = Coordinator::init(root.path(), "Test province")?;
    coordinator.start("info")?;
    let site = enroll_site(root.path(), "hn-many-changes", &coordinator)?;
    site.simulate(80, 2, 21, &period)?;
    ensure!(site.report(&period)?.status.success(), "revision 1 builds");
    ensure!(site.submit()?.status.success(), "revision 1 is delivered");
    // Many records added late for the same month: the correction changes enough records to go
    // out as revision 2.
    site.simulate(140, 2, 22, &period)?;
    let built = site.report(&period)?;
    ensure!(
        text(&built).contains("revision 2"),
        "revision 2 is queued:\n{}",
        text(&built)
    );
    ensure!(site.submit()?.status.success(), "revision 2 is delivered");

    let package = root.path().join("package");
    coordinator.publish(&period, &package)?;
    ensure!(
        package.join("earlier/hn-many-changes.r1.cose").is_file(),
        "revision 1 is in the package"
    );
    let verify = |package: &std::path::Path| -> Result<std::process::Output> {
        run(Command::new(binary("quietcount-keys"))
            .arg("verify")
            .arg(package)
            .arg("--trust")
            .arg(coordinator.public_key()))
    };
    let verified = verify(&package)?;
    let said = text(&verified);
    ensure!(
        verified.status.success(),
        "the package does not verify:\n{said}"
    );
    ensure!(
        said.lines()
            .any(|l| l.starts_with("PASS  revisions") && l.contains("audited jointly")),
        "the verifier ran the joint audit:\n{said}"
    );

    // Without the earlier revision the package no longer verifies, and the verifier says
    // which file is missing.
    std::fs::remove_file(package.join("earlier/hn-many-changes.r1.cose"))?;
    let verified = verify(&package)?;
    let said = text(&verified);
    ensure!(!verified.status.success(), "{said}");
    ensure!(
        said.lines().any(|l| l.starts_with("FAIL  revisions")
            && l.contains("earlier/hn-many-changes.r1.cose is missing")),
        "{said}"
    );
    Ok(())
}
