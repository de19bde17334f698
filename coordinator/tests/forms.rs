//! More than one form: a report's identity is (site, form id, form version, period,
//! revision), so a site reporting two forms for one month has two independent revision
//! chains, and status, publish and export each speak of one form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll};
use quietcount_coordinator::{Coordinator, CoordinatorError};
use quietcount_protocol::testing::SyntheticReport;
use quietcount_protocol::wire::{RefusalCode, Response};
use quietcount_protocol::{EnvelopeHash, Form, Period, sign};

const DONOR_FORM_TOML: &str = include_str!("../../forms/donor-methadone-monthly.toml");

/// A coordinator accepting the default form and the donor form, with two enrolled sites.
async fn two_form_coordinator(dir: &std::path::Path) -> (Coordinator, TestSite, TestSite) {
    let root = dir.join("coord");
    let coordinator = coordinator_in(&root).await.unwrap();
    coordinator.store.close().await;
    std::fs::create_dir_all(root.join("forms")).unwrap();
    std::fs::write(root.join("forms/donor.toml"), DONOR_FORM_TOML).unwrap();
    let config = std::fs::read_to_string(root.join("config.toml")).unwrap();
    let config = config.replace("extra_forms = []", "extra_forms = [\"forms/donor.toml\"]");
    assert!(
        config.contains("forms/donor.toml"),
        "config template changed"
    );
    std::fs::write(root.join("config.toml"), config).unwrap();
    let coordinator = Coordinator::open(&root).await.unwrap();
    let period = october();
    let a = TestSite::new("site-a").unwrap();
    let b = TestSite::new("site-b").unwrap();
    enroll(&coordinator, &a, period.start()).await.unwrap();
    enroll(&coordinator, &b, period.start()).await.unwrap();
    (coordinator, a, b)
}

fn october() -> Period {
    Period::parse("2026-10").unwrap()
}

fn day_after_october() -> u64 {
    october().end() + 86_400
}

fn donor_form() -> Form {
    Form::from_toml(DONOR_FORM_TOML).unwrap()
}

fn signed(
    site: &TestSite,
    form: &Form,
    revision: u32,
    supersedes: Option<EnvelopeHash>,
    seed: u64,
) -> Vec<u8> {
    let report = SyntheticReport::new(form, site.id.clone(), october())
        .seed(seed)
        .revision(revision)
        .supersedes(supersedes)
        .build()
        .unwrap();
    sign(&report, site.identity.signing_key()).unwrap()
}

fn accepted(response: Response) -> bool {
    match response {
        Response::Accepted { duplicate, .. } => !duplicate,
        Response::Refused { code, message, .. } => panic!("refused {code:?}: {message}"),
        Response::Stored { .. } => panic!("a submission answered with a stored report"),
    }
}

#[tokio::test]
async fn two_forms_for_one_month_are_two_chains_not_an_equivocation() {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, a, _b) = two_form_coordinator(dir.path()).await;
    let (ingest, now) = (coordinator.ingest(), day_after_october());
    let default_form = Form::default_monthly();

    let default_1 = signed(&a, &default_form, 1, None, 1);
    assert!(accepted(ingest.submit(&a.id, &default_1, now).await));
    // The bug: this second form for the same month was refused as an equivocation.
    let donor_1 = signed(&a, &donor_form(), 1, None, 2);
    assert!(accepted(ingest.submit(&a.id, &donor_1, now).await));
    for form in [default_form.reference(), donor_form().reference()] {
        let flagged = coordinator
            .store
            .equivocating_sites(&form.key(), october())
            .await
            .unwrap();
        assert!(flagged.is_empty(), "{} flagged: {flagged:?}", form.id);
    }

    // Each chain goes on from its own head.
    let donor_2 = signed(&a, &donor_form(), 2, Some(EnvelopeHash::of(&donor_1)), 3);
    assert!(accepted(ingest.submit(&a.id, &donor_2, now).await));
    let crossed = signed(&a, &default_form, 2, Some(EnvelopeHash::of(&donor_2)), 4);
    match ingest.submit(&a.id, &crossed, now).await {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::StaleRevision),
        other => panic!("a default-form revision superseding a donor-form report: {other:?}"),
    }
    let default_2 = signed(&a, &default_form, 2, Some(EnvelopeHash::of(&default_1)), 5);
    assert!(accepted(ingest.submit(&a.id, &default_2, now).await));

    // An equivocation is still one within a chain.
    let other_donor_2 = signed(&a, &donor_form(), 2, Some(EnvelopeHash::of(&donor_1)), 6);
    match ingest.submit(&a.id, &other_donor_2, now).await {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::Equivocation),
        other => panic!("two envelopes for one donor-form slot: {other:?}"),
    }
}

#[tokio::test]
async fn status_publish_and_export_speak_of_one_form() {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, a, b) = two_form_coordinator(dir.path()).await;
    let (ingest, now) = (coordinator.ingest(), day_after_october());
    // Site a sends both forms, site b only the donor form.
    assert!(accepted(
        ingest
            .submit(
                &a.id,
                &signed(&a, &Form::default_monthly(), 1, None, 1),
                now
            )
            .await
    ));
    assert!(accepted(
        ingest
            .submit(&a.id, &signed(&a, &donor_form(), 1, None, 2), now)
            .await
    ));
    assert!(accepted(
        ingest
            .submit(&b.id, &signed(&b, &donor_form(), 1, None, 3), now)
            .await
    ));

    // With more than one form accepted, the form must be named.
    match coordinator.status(october(), None).await {
        Err(CoordinatorError::FormRequired { accepted }) => {
            assert_eq!(accepted.len(), 2);
        }
        other => panic!("status without a form: {other:?}"),
    }
    let default_status = coordinator
        .status(october(), Some("vn-community-treatment-monthly"))
        .await
        .unwrap();
    assert_eq!((default_status.expected, default_status.reported), (2, 1));
    let donor_status = coordinator
        .status(october(), Some("donor-methadone-monthly"))
        .await
        .unwrap();
    assert_eq!((donor_status.expected, donor_status.reported), (2, 2));

    let out = dir.path().join("donor-package");
    let published = coordinator
        .publish(
            october(),
            Some("donor-methadone-monthly"),
            Some(&out),
            false,
            now,
        )
        .await
        .unwrap();
    assert_eq!(published.provincial.form, donor_form().reference());
    assert_eq!(published.provincial.inputs.len(), 2);
    assert!(
        published.excluded.is_empty(),
        "reports of another form are not 'excluded', they are not asked for: {:?}",
        published.excluded
    );
    let verdict = quietcount_keys::verify_package(
        &out,
        &[coordinator.identity.verifying_key()],
        &[donor_form()],
    );
    let failed: Vec<_> = verdict.checks.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "donor package fails: {failed:?}");

    let rows = coordinator
        .export_rows(october(), Some("donor-methadone-monthly"))
        .await
        .unwrap();
    let indicators: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.indicator.as_str()).collect();
    assert_eq!(
        indicators.into_iter().collect::<Vec<_>>(),
        ["methadone_clients", "urine_tests"]
    );
}

#[tokio::test]
async fn the_cli_asks_which_form_when_several_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, _a, _b) = two_form_coordinator(dir.path()).await;
    coordinator.store.close().await;
    let status = |form: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quietcount-coordinator"));
        command.args(["status", "--dir"]).arg(&coordinator.dir);
        command.args(["--period", "2026-10"]);
        if let Some(form) = form {
            command.args(["--form", form]);
        }
        command.output().unwrap()
    };
    let unnamed = status(None);
    assert!(!unnamed.status.success());
    let stderr = String::from_utf8_lossy(&unnamed.stderr);
    assert!(
        stderr.contains("--form")
            && stderr.contains("vn-community-treatment-monthly")
            && stderr.contains("donor-methadone-monthly"),
        "{stderr}"
    );
    let named = status(Some("donor-methadone-monthly"));
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let stdout = String::from_utf8_lossy(&named.stdout);
    assert!(
        stdout.contains("form donor-methadone-monthly v1"),
        "{stdout}"
    );
    assert!(stdout.contains("Reporting rate: 0/2"), "{stdout}");
}
