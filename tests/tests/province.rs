//! A whole province on loopback, driven through the real command lines: the demo flow, a
//! revoked site, and a tampered donor package.

use std::process::Command;

use anyhow::Result;
use quietcount_keys::Identity;
use quietcount_protocol::{Cell, Payload, ProvincialReport, SiteReport, TotalCell, open, sign};
use quietcount_tests::{
    Coordinator, Site, all_files, binary, contains_bytes, enroll_site, last_closed_month, run,
    run_ok, start_coordinator, text, unix_now,
};

const LOG: &str = "info";

/// `u64::MAX` in decimal: what an unbounded side must never be written as.
const NO_BOUND_STAND_IN: &str = "18446744073709551615";

/// `u64::MAX` in CBOR.
const CBOR_U64_MAX: [u8; 9] = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/// Starts a coordinator and enrols `n` sites with simulated records for the last closed month.
fn province(root: &std::path::Path, n: usize) -> Result<(Coordinator, Vec<Site>, String)> {
    let period = last_closed_month();
    let coordinator = start_coordinator(root, "Test province", LOG)?;
    let mut sites = Vec::new();
    for i in 0..n {
        let site = enroll_site(root, &format!("site-{i:02}"), &coordinator)?;
        site.simulate(150 + 40 * i as u32, 6, 1000 + i as u64, &period)?;
        sites.push(site);
    }
    Ok((coordinator, sites, period))
}

fn verify_json(
    package: &std::path::Path,
    trust: &std::path::Path,
) -> Result<(bool, serde_json::Value, String)> {
    let output = run(Command::new(binary("quietcount-keys"))
        .arg("verify")
        .arg(package)
        .arg("--trust")
        .arg(trust)
        .arg("--json"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    Ok((output.status.success(), json, text(&output)))
}

/// The failed checks of a `verify --json` answer, as text.
fn failures(json: &serde_json::Value) -> String {
    json["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["passed"] == serde_json::Value::Bool(false))
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn demo_flow_delivers_publishes_and_verifies() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (mut coordinator, sites, period) = province(root.path(), 5)?;
    for site in &sites {
        site.report(&period)?;
        let output = site.submit()?;
        assert!(output.status.success(), "submit failed: {}", text(&output));
    }
    let status = coordinator.status_json(&period)?;
    let status_text = status.to_string();
    for site in &sites {
        assert!(
            status_text.contains(&site.id),
            "status lacks {}: {status_text}",
            site.id
        );
    }
    let package = root.path().join("package");
    coordinator.publish(&period, &package)?;
    let (ok, json, out) = verify_json(&package, &coordinator.public_key())?;
    assert!(ok, "verification failed:\n{out}");

    // The package holds one report per site, and the provincial totals rest on all five.
    let provincial_bytes = std::fs::read(package.join("provincial.cose"))?;
    let trust = quietcount_keys::load_public_key(&coordinator.public_key())?;
    let provincial = open::<ProvincialReport>(&provincial_bytes, &trust)?.payload;
    assert_eq!(provincial.inputs.len(), 5);
    assert_eq!(provincial.completeness.expected, 5);
    assert_eq!(provincial.completeness.reported, 5);
    assert_eq!(provincial.totals.sites, 5);
    assert_eq!(provincial.period.to_string(), period);
    // Active clients: every simulated site has far more than k of them, so each site's total is
    // published exactly, and the provincial total is exactly their sum.
    let mut sum = 0;
    for site in &sites {
        let bytes = std::fs::read(package.join("sites").join(format!("{}.cose", site.id)))?;
        let key = quietcount_keys::load_public_key(&site.public_key())?;
        let report = open::<SiteReport>(&bytes, &key)?.payload;
        match report.indicators[0].tables[0].cells.last() {
            Some(Cell::Exact(n)) => sum += n,
            other => panic!("{}: active-clients total is {other:?}", site.id),
        }
    }
    assert!(sum > 0, "a simulated province has active clients");
    let grand = provincial.totals.indicators[0].tables[0]
        .cells
        .last()
        .copied();
    assert_eq!(grand, Some(TotalCell::Exact(sum)));
    assert!(json.is_object(), "verify --json gives an object");

    // No file of the package, no export and no verifier output writes a number standing in
    // for "no upper bound" (as text, or as CBOR's encoding of u64::MAX).
    let mut outputs = vec![out];
    for format in ["csv", "csv-long", "json"] {
        let export = run_ok(
            coordinator
                .command("export")
                .args(["--period", &period, "--format", format]),
        )?;
        outputs.push(text(&export));
    }
    for output in &outputs {
        assert!(!output.contains(NO_BOUND_STAND_IN), "{output}");
    }
    for (path, bytes) in all_files(&package) {
        assert!(
            !contains_bytes(&bytes, NO_BOUND_STAND_IN.as_bytes())
                && !contains_bytes(&bytes, &CBOR_U64_MAX),
            "{} carries a stand-in for no bound",
            path.display()
        );
    }
    coordinator.stop()?;
    Ok(())
}

#[test]
fn revoked_site_is_refused_and_left_out_of_publication() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (mut coordinator, sites, period) = province(root.path(), 3)?;
    // Sites 0 and 1 deliver; then site 1 is found compromised since before its delivery, and
    // site 2 reports its key lost; site 2 then tries to deliver.
    sites[0].report(&period)?;
    assert!(sites[0].submit()?.status.success());
    sites[1].report(&period)?;
    let before_delivery = unix_now();
    assert!(sites[1].submit()?.status.success());
    // Each returns once the coordinator's key directory no longer accepts the site's key.
    coordinator.revoke(&sites[1], "compromised", Some(before_delivery))?;
    coordinator.revoke(&sites[2], "lost", None)?;
    sites[2].report(&period)?;
    let refused = sites[2].submit()?;
    assert!(
        !refused.status.success(),
        "a revoked site's delivery must fail: {}",
        text(&refused)
    );
    // ...and say why, in words staff can act on, in the command's output and in `status`.
    assert!(
        text(&refused).contains("not (or no longer) enrolled"),
        "{}",
        text(&refused)
    );
    let status = text(&run(&mut sites[2].command("status"))?);
    assert!(
        status.contains("ask the province to enrol this site's key"),
        "{status}"
    );
    // The service will not retry with this key: delivery is held, and status says what to do.
    assert!(
        status.contains("DELIVERY HELD") && status.contains("run `quietcount-node submit`"),
        "{status}"
    );

    // One of three expected sites counts: below the required share, so the province must say
    // it publishes an incomplete package, and says which report it left out and why.
    let package = root.path().join("package");
    let refused = run(coordinator
        .command("publish")
        .arg("--period")
        .arg(&period)
        .arg("--out")
        .arg(&package))?;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("--allow-incomplete"),
        "{}",
        text(&refused)
    );
    let published = text(&coordinator.publish_incomplete(&period, &package)?);
    assert!(published.contains("INCOMPLETE"), "{published}");
    assert!(
        published.contains(&format!("Excluded {}", sites[1].id))
            && published.contains("outside its key's validity window"),
        "{published}"
    );
    let (ok, json, out) = verify_json(&package, &coordinator.public_key())?;
    assert!(ok, "the package must still verify:\n{out}");
    assert!(
        json["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["name"] == "incomplete")),
        "the verifier warns that reporting is incomplete:\n{out}"
    );
    let names: Vec<String> = std::fs::read_dir(package.join("sites"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        names,
        vec![format!("{}.cose", sites[0].id)],
        "only the unrevoked site's report is published"
    );
    coordinator.stop()?;
    Ok(())
}

#[test]
fn verifier_catches_a_changed_total_a_changed_site_cell_and_a_flipped_signature_byte() -> Result<()>
{
    let root = tempfile::tempdir()?;
    let (mut coordinator, sites, period) = province(root.path(), 2)?;
    for site in &sites {
        site.report(&period)?;
        assert!(site.submit()?.status.success());
    }
    coordinator.stop()?;
    let package = root.path().join("package");
    coordinator.publish(&period, &package)?;
    let trust = coordinator.public_key();
    assert!(verify_json(&package, &trust)?.0);

    let copy = |name: &str| -> Result<std::path::PathBuf> {
        let dir = root.path().join(name);
        copy_dir(&package, &dir)?;
        Ok(dir)
    };

    // 1. A provincial total changed and re-signed with the real coordinator key: only the
    //    recomputation of the totals can catch it.
    let changed_total = copy("changed-total")?;
    let coordinator_key = Identity::load(&coordinator.dir.join("coordinator.key"))?;
    let bytes = std::fs::read(changed_total.join("provincial.cose"))?;
    let mut provincial =
        open::<ProvincialReport>(&bytes, &coordinator_key.verifying_key())?.payload;
    let cell = provincial.totals.indicators[0].tables[0]
        .cells
        .last_mut()
        .expect("cells");
    *cell = match *cell {
        TotalCell::Exact(n) => TotalCell::Exact(n + 1),
        TotalCell::Bounded { lower, upper } => TotalCell::Bounded {
            lower,
            upper: Some(upper.map_or(lower + 1, |upper| upper + 1)),
        },
    };
    std::fs::write(
        changed_total.join("provincial.cose"),
        sign(&provincial, coordinator_key.signing_key())?,
    )?;
    let (ok, json, out) = verify_json(&changed_total, &trust)?;
    assert!(!ok, "a changed total must fail:\n{out}");
    assert!(
        failures(&json).contains("total"),
        "the failure names the totals: {}",
        failures(&json)
    );

    // 2. A site cell changed and re-signed with the real site key.
    let changed_cell = copy("changed-cell")?;
    let site = &sites[0];
    let site_key = Identity::load(&site.dir.join("site.key"))?;
    let path = changed_cell.join("sites").join(format!("{}.cose", site.id));
    let mut report = open::<SiteReport>(&std::fs::read(&path)?, &site_key.verifying_key())?.payload;
    let cells = &mut report.indicators[0].tables[0].cells;
    let last = cells.len() - 1;
    cells[last] = match cells[last] {
        Cell::Exact(n) => Cell::Exact(n + 7),
        Cell::Suppressed => Cell::Exact(1000),
    };
    std::fs::write(
        &path,
        quietcount_protocol::envelope::sign_bytes(
            SiteReport::CONTENT_TYPE,
            report.encode_payload()?,
            site_key.signing_key(),
        )?,
    )?;
    let (ok, json, out) = verify_json(&changed_cell, &trust)?;
    assert!(!ok, "a changed site cell must fail:\n{out}");
    assert!(
        failures(&json).contains(&site.id),
        "the failure names the site: {}",
        failures(&json)
    );

    // 3. One byte of a site report's signature flipped (the signature ends the envelope).
    let flipped = copy("flipped-signature")?;
    let path = flipped.join("sites").join(format!("{}.cose", sites[1].id));
    let mut bytes = std::fs::read(&path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes)?;
    let (ok, json, out) = verify_json(&flipped, &trust)?;
    assert!(!ok, "a flipped signature byte must fail:\n{out}");
    assert!(
        failures(&json).contains(&sites[1].id),
        "the failure names the file: {}",
        failures(&json)
    );
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
