//! Administration: init, enrolment, status (completeness), publish and export, through the
//! library and through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use quietcount_coordinator::admin::{rows_as_csv, rows_as_json};
use quietcount_coordinator::config::{Config, files};
use quietcount_coordinator::error::CoordinatorError;
use quietcount_coordinator::store::FormKey;
use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll};
use quietcount_coordinator::{Coordinator, Store};
use quietcount_keys::package::DonorPackage;
use quietcount_keys::{save_public_key, short_fingerprint};
use quietcount_protocol::testing::{Counts, SyntheticReport};
use quietcount_protocol::wire::Response;
use quietcount_protocol::{Form, KeyEndReason, Period, ProvincialReport, Sha256Hash, open, sign};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quietcount-coordinator"))
}

#[tokio::test]
async fn init_writes_a_documented_config_a_private_key_and_a_database_and_refuses_to_overwrite() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let output = binary()
        .args([
            "init",
            "--province",
            "Hải Phòng",
            "--listen",
            "127.0.0.1:5544",
        ])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let coordinator = Coordinator::open(&dir).await.unwrap();
    assert!(stdout.contains(&short_fingerprint(&coordinator.identity.fingerprint())));
    assert!(stdout.contains("coordinator.pub"));

    let config = Config::load(&dir).unwrap();
    assert_eq!(config.province, "Hải Phòng");
    assert_eq!(config.listen.to_string(), "127.0.0.1:5544");
    assert_eq!(config.min_k, 5);
    assert_eq!(config.on_time_days, 10);
    let text = std::fs::read_to_string(dir.join(files::CONFIG)).unwrap();
    // Every setting is preceded by a comment saying what it does.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" = ") && !line.starts_with('#') {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "setting {line:?} is undocumented"
            );
        }
    }
    #[cfg(unix)]
    {
        // Owner-only whatever the umask: the key, the configuration, the database and its
        // write-ahead log (which the open above created), and the folder itself.
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let wal = dir.join(format!("{}-wal", files::DATABASE));
        assert!(
            wal.exists(),
            "the write-ahead log exists once the store is open"
        );
        for file in [
            dir.join(files::KEY),
            dir.join(files::CONFIG),
            dir.join(files::DATABASE),
            wal,
        ] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(&dir), 0o700);
    }
    assert!(dir.join(files::DATABASE).exists());
    assert!(dir.join(files::PUBLIC_KEY).exists());

    // Refuses a directory that is not empty, and changes nothing in it.
    let key_before = std::fs::read(dir.join(files::KEY)).unwrap();
    let again = binary()
        .args(["init", "--province", "Other"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read(dir.join(files::KEY)).unwrap(), key_before);
    assert!(matches!(
        Coordinator::init(&dir, "Other", None).await,
        Err(CoordinatorError::NotEmpty { .. })
    ));
}

#[tokio::test]
async fn enrolment_checks_fingerprints_and_a_new_key_revokes_the_old() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let site = TestSite::new("site-x").unwrap();
    let key_path = root.path().join("x.pub");
    save_public_key(&key_path, &site.identity.verifying_key()).unwrap();
    let good = short_fingerprint(&site.identity.fingerprint());

    let wrong = coordinator
        .enroll(
            &site.id,
            "X",
            &key_path,
            Some("AAAA-AAAA-AAAA-AAAA"),
            None,
            10,
        )
        .await;
    assert!(matches!(
        wrong,
        Err(CoordinatorError::FingerprintMismatch { .. })
    ));
    assert!(coordinator.sites().await.unwrap().is_empty());

    // Case, spaces and look-alikes do not matter.
    let typed = good.to_lowercase().replace('-', " ");
    let summary = coordinator
        .enroll(&site.id, "X", &key_path, Some(&typed), None, 10)
        .await
        .unwrap();
    assert_eq!(summary.short_fingerprint, good);

    let renewed = TestSite {
        id: site.id.clone(),
        identity: quietcount_keys::Identity::generate(),
    };
    enroll(&coordinator, &renewed, 20).await.unwrap();
    let keys = coordinator.sites().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[0].valid_until,
        Some(21),
        "the old key is retired at the end of that second"
    );
    assert_eq!(
        keys[0].ended.map(|e| e.reason),
        Some(KeyEndReason::Replaced),
        "a replaced key is retired, not revoked"
    );
    assert_eq!(keys[1].valid_until, None);

    // The old key cannot come back, and no key may serve two sites.
    assert!(matches!(
        coordinator
            .enroll(&site.id, "X", &key_path, None, None, 30)
            .await,
        Err(CoordinatorError::KeyRevoked(_))
    ));
    let other = quietcount_protocol::SiteId::new("site-y").unwrap();
    let renewed_path = coordinator.dir.join("site-x.pub");
    assert!(matches!(
        coordinator
            .enroll(&other, "Y", &renewed_path, None, None, 30)
            .await,
        Err(CoordinatorError::KeyOfAnotherSite(_))
    ));

    // Replacing is not revoking, and a revocation cannot start in the future.
    assert!(matches!(
        coordinator
            .revoke(&site.id, KeyEndReason::Replaced, None, 40)
            .await,
        Err(CoordinatorError::RevokeReplaced)
    ));
    assert!(matches!(
        coordinator
            .revoke(&site.id, KeyEndReason::Lost, Some(41), 40)
            .await,
        Err(CoordinatorError::RevokeInFuture { .. })
    ));
    let revoked = coordinator
        .revoke(&site.id, KeyEndReason::Lost, None, 40)
        .await
        .unwrap();
    assert_eq!(revoked.valid_until, Some(40));
    assert!(matches!(
        coordinator
            .revoke(&site.id, KeyEndReason::Lost, None, 41)
            .await,
        Err(CoordinatorError::NotEnrolled(_))
    ));
}

/// Four enrolled sites: one on time, one late, one not reporting, and one closed (revoked
/// since the period began, recorded after it reported: its report does not count).
async fn province() -> (tempfile::TempDir, Coordinator, Period) {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    let ingest = coordinator.ingest();
    let sites: Vec<TestSite> = ["early", "late", "silent", "gone"]
        .iter()
        .map(|id| TestSite::new(id).unwrap())
        .collect();
    for site in &sites {
        enroll(&coordinator, site, period.start()).await.unwrap();
    }
    let on_time = period.end() + 86_400;
    let late = period.end() + 20 * 86_400;
    for (site, when) in [
        (&sites[0], on_time),
        (&sites[1], late),
        (&sites[3], on_time),
    ] {
        let envelope = site.signed_report(period, 1, None, 7).unwrap();
        let response = ingest.submit(&site.id, &envelope, when).await;
        assert!(
            matches!(response, Response::Accepted { .. }),
            "{response:?}"
        );
    }
    // A correction from the early site: revision 2 replaces revision 1 everywhere.
    let first = coordinator
        .store
        .chain_head(&sites[0].id, &FormKey::of(&Form::default_monthly()), period)
        .await
        .unwrap()
        .unwrap();
    let second = sites[0]
        .signed_report(period, 2, Some(first.envelope_hash), 8)
        .unwrap();
    let response = ingest.submit(&sites[0].id, &second, on_time + 60).await;
    assert!(
        matches!(response, Response::Accepted { .. }),
        "{response:?}"
    );
    coordinator
        .revoke(
            &sites[3].id,
            KeyEndReason::SiteClosed,
            Some(period.start()),
            late + 1,
        )
        .await
        .unwrap();
    (root, coordinator, period)
}

#[tokio::test]
async fn status_gives_reporting_and_on_time_rates() {
    let (_root, coordinator, period) = province().await;
    let status = coordinator.status(period, None).await.unwrap();
    assert_eq!(
        status.expected, 3,
        "a site closed since before the period is not expected"
    );
    assert_eq!(status.reported, 2);
    assert_eq!(status.on_time, 1);
    assert!((status.reporting_rate - 200.0 / 3.0).abs() < 1e-9);
    assert!((status.on_time_rate - 100.0 / 3.0).abs() < 1e-9);
    let by_id = |id: &str| status.sites.iter().find(|s| s.site.as_str() == id).unwrap();
    assert_eq!(by_id("early").revision, Some(2));
    assert_eq!(by_id("early").on_time, Some(true));
    assert_eq!(by_id("late").on_time, Some(false));
    assert!(!by_id("silent").reported);
    assert_eq!(status.not_expected.len(), 1);
    assert_eq!(status.not_expected[0].site.as_str(), "gone");
    assert_eq!(
        status.not_expected[0].revision, None,
        "its report does not count"
    );
    assert_eq!(status.not_expected[0].not_counted.len(), 1);
    assert!(
        status.not_expected[0].not_counted[0].contains("outside its key's validity window"),
        "{:?}",
        status.not_expected[0].not_counted
    );

    // The binary's --json output carries the same figures.
    let output = binary()
        .args(["status", "--period", "2026-10", "--json", "--dir"])
        .arg(&coordinator.dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["expected"], 3);
    assert_eq!(json["reported"], 2);
    assert_eq!(json["sites"].as_array().unwrap().len(), 3);
    let text = binary()
        .args(["status", "--period", "2026-10", "--dir"])
        .arg(&coordinator.dir)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("LATE") && text.contains("NOT REPORTED"),
        "{text}"
    );
    assert!(text.contains("Reporting rate: 2/3"), "{text}");
}

#[tokio::test]
async fn publish_writes_a_signed_package_of_the_latest_revisions() {
    let (root, coordinator, period) = province().await;
    let out = root.path().join("package");
    let now = period.end() + 30 * 86_400;
    // Two of three expected sites is below the default 80%: refused, nothing written.
    let refused = coordinator
        .publish(period, None, Some(&out), false, now)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("only 2 of 3 expected sites reported, below the configured 80%"),
        "{refused}"
    );
    assert!(!out.exists(), "a refused publication writes nothing");
    let assembled = coordinator
        .publish(period, None, Some(&out), true, now)
        .await
        .unwrap();
    assert!(assembled.provincial.incomplete, "the package says so");
    let package = DonorPackage::read_from(&out).unwrap();
    let provincial =
        open::<ProvincialReport>(&package.provincial, &coordinator.identity.verifying_key())
            .unwrap()
            .payload;
    assert_eq!(provincial, assembled.provincial);
    assert_eq!(provincial.completeness.expected, 3);
    assert_eq!(provincial.completeness.reported, 2);
    assert_eq!(provincial.completeness.on_time, 1);
    assert_eq!(provincial.totals.sites, 2);
    let early = provincial
        .inputs
        .iter()
        .find(|i| i.site.as_str() == "early")
        .unwrap();
    assert_eq!(early.revision, 2, "the latest revision is published");
    // The revoked site's report is left out, with a reason.
    assert!(
        assembled.excluded.iter().any(|(what, _)| what == "gone"),
        "{:?}",
        assembled.excluded
    );
    let stored = coordinator
        .store
        .chain_head(&early.site, &FormKey::of(&Form::default_monthly()), period)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Sha256Hash::of(&package.sites[&early.site]),
        stored.envelope_hash,
        "the exact stored envelope is shipped"
    );
    // The donor's verifier passes it.
    let verdict = quietcount_keys::verify::verify_package(
        &out,
        &[coordinator.identity.verifying_key()],
        &[quietcount_protocol::Form::default_monthly()],
    );
    assert!(verdict.passed(), "{}", verdict.render_text());
    // Publishing into a non-empty directory is refused.
    assert!(
        coordinator
            .publish(period, None, Some(&out), true, now)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn export_has_the_exact_header_every_cell_and_matching_json() {
    let (root, coordinator, period) = province().await;
    let rows = coordinator.export_rows(period, None).await.unwrap();
    let csv = rows_as_csv(&rows);
    assert_eq!(
        csv.lines().next().unwrap(),
        "period,scope,indicator,disaggregation,value,lower,upper,status"
    );
    let scopes: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.scope.as_str()).collect();
    assert_eq!(
        scopes.into_iter().collect::<Vec<_>>(),
        vec!["early", "late", "province"]
    );
    let per_scope = |scope: &str| rows.iter().filter(|r| r.scope == scope).count();
    assert_eq!(
        per_scope("early"),
        per_scope("province"),
        "every cell appears"
    );
    assert!(rows.iter().any(|r| r.disaggregation == "total"));
    for row in &rows {
        match row.status.as_str() {
            "exact" => assert_eq!((row.value, Some(row.lower)), (row.upper, row.upper)),
            "suppressed" => assert!(row.value.is_none() && row.scope != "province"),
            "bounded" => assert!(row.value.is_none() && row.scope == "province"),
            other => panic!("status {other}"),
        }
    }
    let json: serde_json::Value = serde_json::from_str(&rows_as_json(&rows)).unwrap();
    let array = json.as_array().unwrap();
    assert_eq!(array.len(), rows.len());
    let fields: Vec<&str> = array[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in quietcount_protocol::export::HEADER {
        assert!(fields.contains(&field), "{field} missing");
    }

    // The binary writes the same CSV to a file.
    let file = root.path().join("export.csv");
    let output = binary()
        .args([
            "export", "--period", "2026-10", "--format", "csv-long", "--dir",
        ])
        .arg(&coordinator.dir)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv);
}

/// One site reports `counselling_sessions` with a grand total below k (suppressed, so nothing
/// bounds it from above), another reports normally: the export, in CSV and JSON, from the
/// library and the binary, and the published package show the unbounded side as an empty
/// field or `null`, never as 18446744073709551615.
#[tokio::test]
async fn an_unbounded_side_is_empty_in_csv_null_in_json_and_absent_from_the_package() {
    const STAND_IN: &str = "18446744073709551615";
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    let form = Form::default_monthly();
    let ingest = coordinator.ingest();
    for (id, small_total) in [("tiny", true), ("big", false)] {
        let site = TestSite::new(id).unwrap();
        enroll(&coordinator, &site, period.start()).await.unwrap();
        // Every other count is 0 or at least k, so only the small total is unbounded.
        let builder = SyntheticReport::new(&form, site.id.clone(), period)
            .seed(3)
            .counts(Counts::NoSmallCells);
        let builder = if small_total {
            builder.small_total()
        } else {
            builder
        };
        let envelope = sign(&builder.build().unwrap(), site.identity.signing_key()).unwrap();
        let response = ingest
            .submit(&site.id, &envelope, period.end() + 86_400)
            .await;
        assert!(
            matches!(response, Response::Accepted { .. }),
            "{response:?}"
        );
    }

    let rows = coordinator.export_rows(period, None).await.unwrap();
    let unbounded: Vec<_> = rows.iter().filter(|r| r.upper.is_none()).collect();
    assert!(
        unbounded
            .iter()
            .any(|r| r.scope == "tiny" && r.disaggregation == "total"),
        "the tiny site's suppressed total is unbounded: {unbounded:?}"
    );
    assert!(
        unbounded
            .iter()
            .any(|r| r.scope == "province" && r.disaggregation == "total"),
        "so is the provincial total resting on it: {unbounded:?}"
    );
    assert!(
        unbounded
            .iter()
            .all(|r| r.indicator == "counselling_sessions" && r.value.is_none())
    );

    let csv = rows_as_csv(&rows);
    assert!(!csv.contains(STAND_IN), "{csv}");
    let province_total = csv
        .lines()
        .find(|l| l.contains(",province,counselling_sessions,total,"))
        .unwrap();
    let fields: Vec<&str> = province_total.split(',').collect();
    assert_eq!(
        (fields[4], fields[6], fields[7]),
        ("", "", "bounded"),
        "{province_total}"
    );
    assert!(fields[5].parse::<u64>().is_ok(), "{province_total}");

    let json_text = rows_as_json(&rows);
    assert!(!json_text.contains(STAND_IN), "{json_text}");
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let total = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["scope"] == "province"
                && r["indicator"] == "counselling_sessions"
                && r["disaggregation"] == "total"
        })
        .unwrap();
    assert!(total["upper"].is_null(), "{total}");
    assert!(total["value"].is_null(), "{total}");
    assert!(total["lower"].is_u64(), "{total}");

    // The binary writes the same bytes.
    for (format, expected) in [("csv-long", &csv), ("json", &json_text)] {
        let output = binary()
            .args(["export", "--period", "2026-10", "--format", format, "--dir"])
            .arg(&coordinator.dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.trim_end(), expected.trim_end(), "{format}");
    }
    // Nor does the spreadsheet CSV (the default format): its unbounded cells are empty.
    let output = binary()
        .args(["export", "--period", "2026-10", "--dir"])
        .arg(&coordinator.dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(STAND_IN));

    // The published package verifies and holds no stand-in either, as text or as CBOR.
    let out = root.path().join("package");
    coordinator
        .publish(period, None, Some(&out), false, period.end() + 30 * 86_400)
        .await
        .unwrap();
    let verdict = quietcount_keys::verify::verify_package(
        &out,
        &[coordinator.identity.verifying_key()],
        &[Form::default_monthly()],
    );
    assert!(verdict.passed(), "{}", verdict.render_text());
    assert!(!verdict.render_text().contains(STAND_IN));
    let package = DonorPackage::read_from(&out).unwrap();
    assert!(!package.totals_csv.contains(STAND_IN));
    assert!(package.totals_csv.contains(",counselling_sessions,total,,"));
    let cbor_max = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    for envelope in std::iter::once(&package.provincial).chain(package.sites.values()) {
        assert!(!envelope.windows(9).any(|w| w == cbor_max));
    }
}

#[tokio::test]
async fn store_sequence_numbers_and_slots_are_enforced_by_the_database() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let store: &Store = &coordinator.store;
    let period = Period::parse("2026-10").unwrap();
    let site = TestSite::new("seq").unwrap();
    enroll(&coordinator, &site, 1).await.unwrap();
    let ingest = coordinator.ingest();
    let mut previous = None;
    let mut last_sequence = 0;
    for revision in 1..=3 {
        let envelope = site
            .signed_report(period, revision, previous, u64::from(revision))
            .unwrap();
        assert!(matches!(
            ingest.submit(&site.id, &envelope, period.end() + 10).await,
            Response::Accepted { .. }
        ));
        previous = Some(Sha256Hash::of(&envelope));
        let record = store
            .report_by_hash(&Sha256Hash::of(&envelope))
            .await
            .unwrap()
            .unwrap();
        assert!(record.sequence > last_sequence);
        last_sequence = record.sequence;
    }
    assert_eq!(store.reports_of_period(period).await.unwrap().len(), 3);
    assert_eq!(
        store
            .latest_reports(&FormKey::of(&Form::default_monthly()), period)
            .await
            .unwrap()
            .len(),
        1
    );
}
