//! Correcting and erasing records with the real binaries: `delete-event` and `erase` each make
//! the next report of the period a new revision the coordinator accepts; nothing identifying
//! is echoed; `simulate` refuses a database holding imported records.

use std::fmt::Write as _;

use anyhow::Result;
use quietcount_tests::{
    Coordinator, Site, enroll_site, last_closed_month, run, start_coordinator, text,
};

fn revision_at_coordinator(coordinator: &Coordinator, period: &str, site: &Site) -> Result<u64> {
    let status = coordinator.status_json(period)?;
    Ok(status["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["site"] == serde_json::Value::String(site.id.clone()))
        .and_then(|s| s["revision"].as_u64())
        .unwrap_or(0))
}

fn report_and_submit(site: &Site, period: &str, revision: u32) -> Result<()> {
    let output = site.report(period)?;
    assert!(
        text(&output).contains(&format!("revision {revision}")),
        "{}",
        text(&output)
    );
    let output = site.submit()?;
    assert!(output.status.success(), "{}", text(&output));
    Ok(())
}

#[test]
fn erase_and_delete_event_make_a_new_revision_and_echo_nothing_identifying() -> Result<()> {
    let root = tempfile::tempdir()?;
    let period = last_closed_month();
    let coordinator = start_coordinator(root.path(), "Corrections", "info")?;
    let site = enroll_site(root.path(), "fix-1", &coordinator)?;

    // Twelve imported clients, each counselled twice in the period.
    let mut clients = String::from(
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,\
         referral_source,enrolled_on,modality\n",
    );
    let mut services = String::from("client_code,date,service,outcome\n");
    for i in 1..=12 {
        writeln!(
            clients,
            "K{i:02},Secretname Person{i:02},1990-01-{i:02},male,09111111{i:02},0011111111{i:02},\
             Secretstreet {i},opioids,police,{period}-01,voluntary"
        )?;
        for day in ["05", "06"] {
            writeln!(services, "K{i:02},{period}-{day},counselling_individual,")?;
        }
    }
    let clients_file = root.path().join("clients.csv");
    let services_file = root.path().join("services.csv");
    std::fs::write(&clients_file, clients)?;
    std::fs::write(&services_file, services)?;
    site.import(&clients_file)?;
    site.import(&services_file)?;
    report_and_submit(&site, &period, 1)?;

    // Invented clients never join real records.
    let output = run(site
        .command("simulate")
        .args(["--clients", "10", "--until", &period]))?;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("imported client record"),
        "{}",
        text(&output)
    );

    // A service typed by mistake.
    let date = format!("{period}-05");
    let delete = |extra: &[&str]| {
        let mut command = site.command("delete-event");
        command.args([
            "--client",
            "K01",
            "--date",
            &date,
            "--service",
            "counselling_individual",
        ]);
        command.args(extra);
        run(&mut command)
    };
    let output = delete(&[])?;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Deleted 1 service event"),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains(&period), "{}", text(&output));
    report_and_submit(&site, &period, 2)?;
    assert_eq!(revision_at_coordinator(&coordinator, &period, &site)?, 2);
    // The same again: nothing left to delete, said without naming the client.
    let output = delete(&[])?;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("nothing was changed"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("K01"), "{}", text(&output));

    // An erasure request: the client and all their events, in one go.
    let output = run(site.command("erase").args(["--client", "K02"]))?;
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("2 service event"), "{shown}");
    assert!(
        !shown.contains("Secretname") && !shown.contains("Secretstreet"),
        "{shown}"
    );
    report_and_submit(&site, &period, 3)?;
    assert_eq!(revision_at_coordinator(&coordinator, &period, &site)?, 3);
    let output = run(site.command("erase").args(["--client", "K02"]))?;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no client has the code given"),
        "{}",
        text(&output)
    );

    // Nothing identifying in the node's or the coordinator's logs.
    for log in [site.log_text(), coordinator.log_text()] {
        assert!(!log.contains("Secretname") && !log.contains("Secretstreet"));
    }
    Ok(())
}
