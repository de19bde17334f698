//! Privacy: identifiable values planted at every site never leave it.
//!
//! Unique markers go into every identifiable field (name, phone, national ID, address, date of
//! birth) of many clients at three sites. After import, reports, delivery, publication and
//! export, with every service logging at trace level, no marker appears anywhere in the
//! coordinator's directory (database included), the donor package, the export, any log, any
//! command output, or any byte of any file of a site's data directory: the site database
//! holds identifying fields only sealed.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use quietcount_tests::{
    all_files, contains_bytes, enroll_site, last_closed_month, run, run_ok, start_coordinator, text,
};

const CLIENTS_PER_SITE: usize = 60;

struct Markers {
    needles: Vec<String>,
}

/// Writes a clients file and an events file for one site, and returns the markers planted.
fn write_records(
    dir: &Path,
    site: usize,
    period: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf, Markers)> {
    let (year, month) = period.split_once('-').expect("YYYY-MM");
    let mut clients = String::from(
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n",
    );
    let mut events = String::from("client_code,date,service,outcome\n");
    let mut needles = Vec::new();
    for i in 0..CLIENTS_PER_SITE {
        let name = format!("Zqmark Nguyễn Thị {site}x{i:03}");
        let phone = format!("0966{site}{i:05}");
        let national_id = format!("ZQNID{site}{i:07}");
        let address = format!("ZQADDR-{site}-{i} ngõ Huế, Hà Nội");
        // A distinct date of birth per client, written the Vietnamese way for half of them.
        let day = 1 + (i % 28);
        let month_of_birth = 1 + (site * 3 + i / 28) % 12;
        let dob_iso = format!("1931-{month_of_birth:02}-{day:02}");
        let dob_vn = format!("{day:02}/{month_of_birth:02}/1931");
        let dob = if i % 2 == 0 { &dob_iso } else { &dob_vn };
        let sex = ["male", "Nữ", "male", "Nam"][i % 4];
        let substance = ["opioids", "Ma túy tổng hợp", "", "cannabis"][i % 4];
        let referral = ["police", "family", "self", "peer"][i % 4];
        let code = format!("S{site}C{i:04}");
        writeln!(
            clients,
            "{code},\"{name}\",{dob},{sex},{phone},{national_id},\"{address}\",{substance},{referral},{year}-{month}-01,voluntary"
        )?;
        for (d, service, outcome) in [
            (3, "counselling_individual", ""),
            (10, "urine_test", "negative"),
            (17, "methadone", ""),
        ] {
            writeln!(events, "{code},{year}-{month}-{d:02},{service},{outcome}")?;
        }
        needles.extend([
            format!("Zqmark Nguyễn Thị {site}x{i:03}"),
            format!("{site}x{i:03}"),
            phone,
            national_id,
            format!("ZQADDR-{site}-{i} "),
            dob_iso,
            dob_vn,
        ]);
    }
    needles.push("Zqmark".into());
    needles.push("ZQNID".into());
    needles.push("ZQADDR".into());
    let clients_path = dir.join(format!("clients-{site}.csv"));
    let events_path = dir.join(format!("events-{site}.csv"));
    std::fs::write(&clients_path, clients)?;
    std::fs::write(&events_path, events)?;
    Ok((clients_path, events_path, Markers { needles }))
}

#[test]
fn no_identifiable_value_leaves_a_site() -> Result<()> {
    let root = tempfile::tempdir()?;
    let inputs = tempfile::tempdir()?;
    let period = last_closed_month();
    let mut coordinator = start_coordinator(root.path(), "Privacy province", "trace")?;
    let mut sites = Vec::new();
    for s in 0..3 {
        let site = enroll_site(root.path(), &format!("site-{s}"), &coordinator)?;
        sites.push(site);
    }
    let mut needles = Vec::new();
    let mut outputs = String::new();
    for (s, site) in sites.iter_mut().enumerate() {
        let (clients, events, markers) = write_records(inputs.path(), s, &period)?;
        needles.extend(markers.needles);
        // Imports at trace level too: sqlx logs every statement it runs.
        for file in [&clients, &events] {
            outputs += &text(&run_ok(
                site.command("import").arg(file).env("RUST_LOG", "trace"),
            )?);
        }
        // A bad file whose bad rows carry identifiable values: the error names rows and
        // columns, never the values.
        let bad = inputs.path().join(format!("bad-{s}.csv"));
        let original = std::fs::read_to_string(&clients)?;
        std::fs::write(
            &bad,
            original
                .replacen(",voluntary\n", ",sometimes\n", 3)
                .replace(",male,", ",mail,"),
        )?;
        let refused = run(site.command("import").arg(&bad).env("RUST_LOG", "trace"))?;
        assert!(!refused.status.success(), "a bad file must be refused");
        outputs += &text(&refused);
        outputs += &text(&run_ok(
            site.command("report")
                .arg("--period")
                .arg(&period)
                .arg("--preview")
                .env("RUST_LOG", "trace"),
        )?);
        outputs += &text(&run_ok(
            site.command("report")
                .arg("--period")
                .arg(&period)
                .env("RUST_LOG", "trace"),
        )?);
        let submitted = run(site.command("submit").env("RUST_LOG", "trace"))?;
        outputs += &text(&submitted);
        assert!(
            submitted.status.success(),
            "submit failed: {}",
            text(&submitted)
        );
        outputs += &text(&run_ok(&mut site.command("status"))?);
        // The service too, briefly, at trace level.
        site.start("trace")?;
    }
    for site in &mut sites {
        // One whole pass of the service (it logs `sleeping` at debug level when it is done).
        site.wait_for_log("sleeping")?;
        if let Some(mut service) = site.service.take() {
            let _ = service.terminate(std::time::Duration::from_secs(10));
        }
    }
    let package = root.path().join("package");
    outputs += &text(&coordinator.publish(&period, &package)?);
    let export = root.path().join("export.csv");
    outputs += &text(&run_ok(
        coordinator
            .command("export")
            .arg("--period")
            .arg(&period)
            .arg("--out")
            .arg(&export),
    )?);
    outputs += &text(&run_ok(
        coordinator
            .command("export")
            .arg("--period")
            .arg(&period)
            .arg("--format")
            .arg("json"),
    )?);
    outputs += &text(&run_ok(
        coordinator
            .command("export")
            .arg("--period")
            .arg(&period)
            .arg("--format")
            .arg("csv-long"),
    )?);
    outputs += &text(&run_ok(
        coordinator.command("status").arg("--period").arg(&period),
    )?);
    coordinator.stop()?;

    // Everything that left the sites, and everything the sites hold.
    let mut haystacks: Vec<(String, Vec<u8>)> =
        vec![("command output".into(), outputs.into_bytes())];
    for (path, bytes) in all_files(&coordinator.dir)
        .into_iter()
        .chain(all_files(&package))
        .chain(all_files(&root.path().join("logs")))
        .chain([(export.clone(), std::fs::read(&export)?)])
    {
        haystacks.push((path.display().to_string(), bytes));
    }
    for site in &sites {
        // The site's database, WAL and shared memory included: identifying fields are sealed.
        let files = all_files(&site.dir);
        assert!(
            files.iter().any(|(path, _)| path.ends_with("node.db")),
            "the site database is searched"
        );
        for (path, bytes) in files {
            haystacks.push((path.display().to_string(), bytes));
        }
    }
    assert!(
        haystacks.len() > 10,
        "the search covers the coordinator, package, logs and nodes"
    );
    let logs: usize = haystacks
        .iter()
        .filter(|(p, _)| p.ends_with(".log"))
        .map(|(_, b)| b.len())
        .sum();
    assert!(logs > 0, "trace-level logs were written and searched");
    for needle in &needles {
        for (place, bytes) in &haystacks {
            assert!(
                !contains_bytes(bytes, needle.as_bytes()),
                "marker {needle:?} found in {place}"
            );
        }
    }
    Ok(())
}
