//! `conflicts` and `resolve` through the real binary: equivocation evidence is listed side by
//! side with the stored report, and the province's decision is recorded with who and when,
//! without deleting evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll, run_cli};
use quietcount_protocol::wire::{RefusalCode, Response};
use quietcount_protocol::{Form, FormKey, Period, Sha256Hash};

fn cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    args.extend([std::ffi::OsStr::new("--dir"), dir.as_os_str()]);
    run_cli(
        Path::new(env!("CARGO_BIN_EXE_quietcount-coordinator")),
        &args,
    )
    .unwrap()
}

#[tokio::test]
async fn conflicts_are_listed_and_resolved_with_who_and_when_keeping_the_evidence() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let coordinator = coordinator_in(&dir).await.unwrap();
    let period = Period::parse("2026-10").unwrap();
    let now = period.end() + 2 * 86_400;
    let site = TestSite::new("site-a").unwrap();
    enroll(&coordinator, &site, period.start()).await.unwrap();
    let ingest = coordinator.ingest();
    let first = site.signed_report(period, 1, None, 1).unwrap();
    assert!(matches!(
        ingest.submit(&site.id, &first, now).await,
        Response::Accepted { .. }
    ));
    let conflicting = site.signed_report(period, 1, None, 2).unwrap();
    match ingest.submit(&site.id, &conflicting, now).await {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::Equivocation),
        other => panic!("{other:?}"),
    }
    let stored_hex = Sha256Hash::of(&first).to_hex();
    let evidence_hex = Sha256Hash::of(&conflicting).to_hex();

    let (ok, shown) = cli(&dir, &["conflicts"]);
    assert!(ok, "{shown}");
    assert!(shown.contains("2026-10 site-a revision 1"), "{shown}");
    assert!(shown.contains(&stored_hex), "{shown}");
    assert!(shown.contains(&evidence_hex), "{shown}");
    assert!(shown.contains("UNRESOLVED"), "{shown}");
    let status = coordinator.status(period, None).await.unwrap();
    assert!(status.sites[0].equivocation);
    assert!(!status.sites[0].equivocation_resolved);

    // Refused: an envelope that is not one of the slot's, and no one named.
    let (ok, shown) = cli(
        &dir,
        &[
            "resolve", "--site", "site-a", "--period", "2026-10", "--accept", "00000000", "--by",
            "M. Tran",
        ],
    );
    assert!(!ok && shown.contains("neither envelope"), "{shown}");
    let (ok, shown) = cli(
        &dir,
        &[
            "resolve",
            "--site",
            "site-a",
            "--period",
            "2026-10",
            "--accept",
            &stored_hex[..12],
            "--by",
            " ",
        ],
    );
    assert!(!ok && shown.contains("who decides"), "{shown}");

    let evidence_before = coordinator
        .store
        .equivocations(&FormKey::of(&Form::default_monthly()), period)
        .await
        .unwrap();
    let (ok, shown) = cli(
        &dir,
        &[
            "resolve",
            "--site",
            "site-a",
            "--period",
            "2026-10",
            "--revision",
            "1",
            "--accept",
            &stored_hex[..12],
            "--by",
            "M. Tran, data manager",
            "--note",
            "site confirmed",
        ],
    );
    assert!(ok, "{shown}");
    assert!(
        shown.contains("the province accepts the stored report"),
        "{shown}"
    );
    assert!(
        shown.contains("decided by M. Tran, data manager"),
        "{shown}"
    );
    let (_, listed) = cli(&dir, &["conflicts", "--period", "2026-10"]);
    assert!(
        listed.contains("resolved: the province accepts the stored report"),
        "{listed}"
    );
    assert!(listed.contains("site confirmed"), "{listed}");
    assert!(!listed.contains("UNRESOLVED"), "{listed}");

    // The evidence is still there, whole; status still says the site equivocated, resolved.
    let evidence_after = coordinator
        .store
        .equivocations(&FormKey::of(&Form::default_monthly()), period)
        .await
        .unwrap();
    assert_eq!(evidence_after, evidence_before);
    let status = coordinator.status(period, None).await.unwrap();
    assert!(status.sites[0].equivocation);
    assert!(status.sites[0].equivocation_resolved);
    let (_, text) = cli(&dir, &["status", "--period", "2026-10"]);
    assert!(text.contains("EQUIVOCATION (resolved)"), "{text}");

    // A later decision for the other envelope stands; both are kept.
    let (ok, shown) = cli(
        &dir,
        &[
            "resolve",
            "--site",
            "site-a",
            "--period",
            "2026-10",
            "--accept",
            &evidence_hex,
            "--by",
            "N. Le",
        ],
    );
    assert!(ok, "{shown}");
    let conflicts = coordinator.conflicts(Some(period)).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    let resolution = conflicts[0].resolution.clone().unwrap();
    assert_eq!(resolution.accepted, Sha256Hash::of(&conflicting));
    assert_eq!(resolution.decided_by, "N. Le");
    let (_, listed) = cli(&dir, &["conflicts"]);
    assert!(
        listed.contains("accepts the conflicting envelope"),
        "{listed}"
    );
}
