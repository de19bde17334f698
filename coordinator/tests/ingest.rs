//! Ingest decisions without a network: every refusal gets its code and leaves the store
//! unchanged (digest before = digest after), and a good report is still accepted afterwards.
//!
//! Every test runs twice, on the SQLite store and on PostgreSQL (`on_both_backends!` at the
//! end of the file: `sqlite::NAME` and `postgres::NAME`; `NAME in MODULE` for a test in a module).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use quietcount_coordinator::ingest::receipt_signer;
use quietcount_coordinator::store::{FormKey, NewReport};
use quietcount_coordinator::testing::postgres::PostgresServer;
use quietcount_coordinator::testing::{Backend, TestSite, coordinator_on, enroll};
use quietcount_coordinator::{Coordinator, Ingest};
use quietcount_protocol::testing::SyntheticReport;
use quietcount_protocol::wire::{MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{
    Cell, DisclosurePolicy, Form, KeyEndReason, Period, Receipt, Sha256Hash, SiteId, SiteReport,
    open, sign,
};

struct Fixture {
    _dir: tempfile::TempDir,
    coordinator: Coordinator,
    ingest: Ingest,
    a: TestSite,
    b: TestSite,
    period: Period,
    now: u64,
}

tokio::task_local! {
    /// The backend the running test's fixture uses.
    static BACKEND: Backend;
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let backend = BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite);
    let coordinator = coordinator_on(&dir.path().join("coord"), backend)
        .await
        .unwrap()
        .expect("the test checks that PostgreSQL is there before it starts");
    assert_eq!(
        coordinator.store.backend(),
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    let period = Period::parse("2026-10").unwrap();
    let now = period.end() + 2 * 86_400;
    let a = TestSite::new("site-a").unwrap();
    let b = TestSite::new("site-b").unwrap();
    enroll(&coordinator, &a, period.start()).await.unwrap();
    enroll(&coordinator, &b, period.start()).await.unwrap();
    let ingest = coordinator.ingest();
    Fixture {
        _dir: dir,
        coordinator,
        ingest,
        a,
        b,
        period,
        now,
    }
}

impl Fixture {
    /// Site a's report, honest but for its `relapses` table by sex (male, female, other,
    /// total), which is `cells`; and its envelope signed by site a.
    fn a_report_with_relapses(&self, cells: [u64; 4]) -> (SiteReport, Vec<u8>) {
        let mut report =
            SyntheticReport::new(&Form::default_monthly(), self.a.id.clone(), self.period)
                .seed(3)
                .build()
                .unwrap();
        let relapses = report
            .indicators
            .iter_mut()
            .find(|i| i.indicator == "relapses")
            .unwrap();
        relapses.tables[0].cells = cells.iter().map(|&n| Cell::Exact(n)).collect();
        let envelope = sign(&report, self.a.identity.signing_key()).unwrap();
        (report, envelope)
    }

    async fn digest(&self) -> Sha256Hash {
        self.coordinator.store.digest().await.unwrap()
    }

    /// Submits and asserts the refusal code and that nothing changed in the store.
    async fn refused(&self, site: &SiteId, envelope: &[u8], code: RefusalCode) -> String {
        let before = self.digest().await;
        let response = self.ingest.submit(site, envelope, self.now).await;
        let after = self.digest().await;
        assert_eq!(before, after, "a refusal ({code:?}) changed the store");
        match response {
            Response::Refused {
                code: got, message, ..
            } => {
                assert_eq!(got, code, "wrong code; message: {message}");
                assert!(!message.is_empty());
                message
            }
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }

    async fn accepted(&self, site: &SiteId, envelope: &[u8]) -> (Receipt, Vec<u8>, bool) {
        match self.ingest.submit(site, envelope, self.now).await {
            Response::Accepted {
                receipt, duplicate, ..
            } => {
                let opened =
                    open::<Receipt>(&receipt.0, &self.coordinator.identity.verifying_key())
                        .expect("receipt signed by the coordinator");
                (opened.payload, receipt.0, duplicate)
            }
            other => panic!("expected acceptance, got {other:?}"),
        }
    }

    async fn good_report_still_accepted(&self) {
        let envelope = self.b.signed_report(self.period, 1, None, 99).unwrap();
        let (receipt, _, duplicate) = self.accepted(&self.b.id, &envelope).await;
        assert!(!duplicate);
        assert_eq!(receipt.site, self.b.id);
    }
}

async fn accepts_stores_and_signs_receipts_then_resubmission_is_idempotent() {
    let f = fixture().await;
    let envelope = f.a.signed_report(f.period, 1, None, 1).unwrap();
    let (receipt, receipt_bytes, duplicate) = f.accepted(&f.a.id, &envelope).await;
    assert!(!duplicate);
    assert_eq!(receipt.report, Sha256Hash::of(&envelope));
    assert_eq!(receipt.site, f.a.id);
    assert_eq!(receipt.period, f.period);
    assert_eq!(receipt.revision, 1);
    assert_eq!(receipt.received_at, f.now);

    let stored = f
        .coordinator
        .store
        .report_by_hash(&Sha256Hash::of(&envelope))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.envelope, envelope, "exact bytes stored");
    assert_eq!(stored.receipt, receipt_bytes);

    let before = f.digest().await;
    let (again, again_bytes, duplicate) = f.accepted(&f.a.id, &envelope).await;
    assert!(duplicate);
    assert_eq!(
        again_bytes, receipt_bytes,
        "the original receipt is returned"
    );
    assert_eq!(again, receipt);
    assert_eq!(f.digest().await, before, "a duplicate adds nothing");

    // Revision 2 superseding revision 1: accepted with a larger sequence number.
    let second =
        f.a.signed_report(f.period, 2, Some(Sha256Hash::of(&envelope)), 2)
            .unwrap();
    let (receipt2, _, _) = f.accepted(&f.a.id, &second).await;
    assert_eq!(receipt2.revision, 2);
    assert!(receipt2.sequence > receipt.sequence);
    let latest = f
        .coordinator
        .store
        .latest_reports(&FormKey::of(&Form::default_monthly()), f.period)
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].revision, 2);
}

async fn unknown_site_is_refused() {
    let f = fixture().await;
    let ghost = TestSite::new("ghost").unwrap();
    let envelope = ghost.signed_report(f.period, 1, None, 1).unwrap();
    f.refused(&ghost.id, &envelope, RefusalCode::UnknownSite)
        .await;
    f.good_report_still_accepted().await;
}

async fn revoked_site_is_refused_and_reenrolment_revokes_the_old_key() {
    let f = fixture().await;
    let envelope = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.coordinator
        .revoke(&f.a.id, KeyEndReason::Compromised, None, f.now - 10)
        .await
        .unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::Revoked).await;

    // Re-enrolled with a new key: the old key stays refused, the new one is accepted.
    let renewed = TestSite {
        id: f.a.id.clone(),
        identity: quietcount_keys::Identity::generate(),
    };
    enroll(&f.coordinator, &renewed, f.now - 5).await.unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::Revoked).await;
    let fresh = renewed.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &fresh).await;
    f.good_report_still_accepted().await;
}

async fn signer_must_be_the_tls_site() {
    let f = fixture().await;
    // Site B's own report, delivered over site A's connection: not A's key.
    let by_b = f.b.signed_report(f.period, 1, None, 1).unwrap();
    f.refused(&f.a.id, &by_b, RefusalCode::BadSignature).await;
    // Signed by A but naming B as the site.
    let naming_b = SyntheticReport::new(&Form::default_monthly(), f.b.id.clone(), f.period)
        .policy(DisclosurePolicy::DEFAULT)
        .seed(1)
        .build()
        .unwrap();
    let envelope = sign(&naming_b, f.a.identity.signing_key()).unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::SignerMismatch)
        .await;
    f.good_report_still_accepted().await;
}

async fn bad_signature_is_refused() {
    let f = fixture().await;
    let mut envelope = f.a.signed_report(f.period, 1, None, 1).unwrap();
    let last = envelope.len() - 1;
    envelope[last] ^= 0x01; // the signature is the envelope's last byte string
    f.refused(&f.a.id, &envelope, RefusalCode::BadSignature)
        .await;
    f.good_report_still_accepted().await;
}

async fn wrong_form_is_refused() {
    let f = fixture().await;
    let mut other = Form::default_monthly();
    other.version += 1;
    let r = SyntheticReport::new(&other, f.a.id.clone(), f.period)
        .policy(DisclosurePolicy::DEFAULT)
        .seed(1)
        .build()
        .unwrap();
    let envelope = sign(&r, f.a.identity.signing_key()).unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::WrongForm).await;

    // The right form reference but a table with a cell missing.
    let mut r = SyntheticReport::new(&Form::default_monthly(), f.a.id.clone(), f.period)
        .policy(DisclosurePolicy::DEFAULT)
        .seed(1)
        .build()
        .unwrap();
    r.indicators[0].tables[0].cells.pop();
    let envelope = sign(&r, f.a.identity.signing_key()).unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::WrongForm).await;
    f.good_report_still_accepted().await;
}

async fn future_and_too_old_periods_are_refused() {
    let f = fixture().await;
    let current = Period::parse("2026-11").unwrap();
    let envelope = f.a.signed_report(current, 1, None, 1).unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::PeriodNotOver)
        .await;
    let old = Period::parse("2025-01").unwrap();
    let envelope = f.a.signed_report(old, 1, None, 1).unwrap();
    f.refused(&f.a.id, &envelope, RefusalCode::PeriodTooOld)
        .await;
    f.good_report_still_accepted().await;
}

async fn weak_policy_is_refused() {
    let f = fixture().await;
    let r = SyntheticReport::new(&Form::default_monthly(), f.a.id.clone(), f.period)
        .policy(DisclosurePolicy::new(3).unwrap())
        .seed(1)
        .build()
        .unwrap();
    let envelope = sign(&r, f.a.identity.signing_key()).unwrap();
    let message = f
        .refused(&f.a.id, &envelope, RefusalCode::PolicyTooWeak)
        .await;
    assert!(message.contains("k = 3"), "{message}");
    f.good_report_still_accepted().await;
}

async fn stale_gapped_and_wrongly_superseding_revisions_are_refused() {
    let f = fixture().await;
    // Revision 2 with nothing stored.
    let orphan =
        f.a.signed_report(f.period, 2, Some(Sha256Hash([7; 32])), 1)
            .unwrap();
    f.refused(&f.a.id, &orphan, RefusalCode::StaleRevision)
        .await;

    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &first).await;
    let first_hash = Sha256Hash::of(&first);
    // A gap: revision 3 after 1.
    let gap = f.a.signed_report(f.period, 3, Some(first_hash), 2).unwrap();
    f.refused(&f.a.id, &gap, RefusalCode::StaleRevision).await;
    // Revision 2 naming the wrong predecessor.
    let wrong =
        f.a.signed_report(f.period, 2, Some(Sha256Hash([9; 32])), 2)
            .unwrap();
    f.refused(&f.a.id, &wrong, RefusalCode::StaleRevision).await;

    // Revision 2 done right is accepted.
    let second = f.a.signed_report(f.period, 2, Some(first_hash), 3).unwrap();
    f.accepted(&f.a.id, &second).await;
    f.good_report_still_accepted().await;
}

async fn conflicting_revision_is_equivocation_kept_as_evidence_and_flagged() {
    let f = fixture().await;
    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &first).await;
    let reports_before = f.coordinator.store.report_count().await.unwrap();
    let conflicting = f.a.signed_report(f.period, 1, None, 2).unwrap();
    assert_ne!(first, conflicting);
    match f.ingest.submit(&f.a.id, &conflicting, f.now).await {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::Equivocation),
        other => panic!("expected equivocation, got {other:?}"),
    }
    assert_eq!(
        f.coordinator.store.report_count().await.unwrap(),
        reports_before
    );
    let evidence = f
        .coordinator
        .store
        .equivocations(&FormKey::of(&Form::default_monthly()), f.period)
        .await
        .unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].envelope, conflicting, "exact bytes kept");
    assert_eq!(evidence[0].site, f.a.id);
    assert_eq!(evidence[0].revision, 1);

    // Sending the same evidence again adds nothing.
    let digest = f.digest().await;
    f.refused(&f.a.id, &conflicting, RefusalCode::Equivocation)
        .await;
    assert_eq!(f.digest().await, digest);

    let status = f.coordinator.status(f.period, None).await.unwrap();
    let a = status.sites.iter().find(|s| s.site == f.a.id).unwrap();
    assert!(a.equivocation);
    assert!(a.reported);
    let b = status.sites.iter().find(|s| s.site == f.b.id).unwrap();
    assert!(!b.equivocation);
    f.good_report_still_accepted().await;
}

async fn garbage_and_oversize_are_refused() {
    let f = fixture().await;
    f.refused(&f.a.id, b"\x00\x01garbage", RefusalCode::Malformed)
        .await;
    f.refused(&f.a.id, &[], RefusalCode::Malformed).await;
    let huge = vec![0u8; MAX_FRAME_BYTES + 1];
    f.refused(&f.a.id, &huge, RefusalCode::TooLarge).await;

    // The same through the request frame decoder.
    let before = f.digest().await;
    let response = f.ingest.handle_frame(&f.a.id, b"\xff\xfe", f.now).await;
    assert!(matches!(
        response,
        Response::Refused {
            code: RefusalCode::Malformed,
            ..
        }
    ));
    let response = f.ingest.handle_frame(&f.a.id, &huge, f.now).await;
    assert!(matches!(
        response,
        Response::Refused {
            code: RefusalCode::TooLarge,
            ..
        }
    ));
    // A well-formed request carrying a non-envelope.
    let frame = Request::Submit {
        envelope: quietcount_protocol::wire::Blob(b"not cose".to_vec()),
    }
    .encode()
    .unwrap();
    let response = f.ingest.handle_frame(&f.a.id, &frame, f.now).await;
    assert!(matches!(
        response,
        Response::Refused {
            code: RefusalCode::Malformed,
            ..
        }
    ));
    assert_eq!(f.digest().await, before);
    f.good_report_still_accepted().await;
}

async fn concurrent_identical_and_conflicting_deliveries_store_one_report() {
    let f = fixture().await;
    let envelope = f.a.signed_report(f.period, 1, None, 1).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let ingest = f.ingest.clone();
        let site = f.a.id.clone();
        let envelope = envelope.clone();
        let now = f.now;
        tasks.push(tokio::spawn(async move {
            ingest.submit(&site, &envelope, now).await
        }));
    }
    let mut receipts = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap() {
            Response::Accepted {
                receipt, duplicate, ..
            } => {
                receipts.insert(receipt.0);
                if !duplicate {
                    fresh += 1;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one delivery stored the report");
    assert_eq!(receipts.len(), 1, "every delivery got the same receipt");
    assert_eq!(f.coordinator.store.report_count().await.unwrap(), 1);
}

/// Reports a buggy or compromised site could sign: ingest refuses each with the code for the
/// disclosure rule, naming the indicator, and stores nothing; the province's other reports and
/// its publication are unaffected.
async fn reports_breaking_the_disclosure_rule_are_refused_and_publication_goes_on() {
    let f = fixture().await;
    let poisoned: [(&str, [u64; 4]); 3] = [
        ("a count of 1 published under k = 5", [1, 0, 0, 1]),
        ("margins that do not add up", [5, 5, 0, 7]),
        ("a count of 2^63", [1 << 63, 0, 0, 1 << 63]),
    ];
    for (what, cells) in poisoned {
        let (_, envelope) = f.a_report_with_relapses(cells);
        let message = f
            .refused(&f.a.id, &envelope, RefusalCode::DisclosureRule)
            .await;
        assert!(message.contains("relapses"), "{what}: {message}");
    }
    f.good_report_still_accepted().await;
    let published = f
        .coordinator
        .publish(f.period, None, None, true, f.now)
        .await
        .unwrap();
    assert_eq!(published.provincial.completeness.reported, 1);
}

/// A site sending conflict after conflict for one slot cannot grow the store without bound: the
/// first conflicting envelope is kept whole, the others counted.
async fn evidence_is_bounded_one_envelope_per_slot_and_a_count() {
    let f = fixture().await;
    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &first).await;
    let conflicts: Vec<Vec<u8>> = (0..200)
        .map(|seed| {
            // Each a distinct signed envelope for the same slot, with other counts than the
            // stored report (the same counts re-signed are a duplicate, not a conflict).
            let mut report =
                SyntheticReport::new(&Form::default_monthly(), f.a.id.clone(), f.period)
                    .seed(2 + seed)
                    .build()
                    .unwrap();
            report.generated_at = 1_000 + seed;
            sign(&report, f.a.identity.signing_key()).unwrap()
        })
        .collect();
    for envelope in &conflicts {
        match f.ingest.submit(&f.a.id, envelope, f.now).await {
            Response::Refused { code, .. } => assert_eq!(code, RefusalCode::Equivocation),
            other => panic!("expected equivocation, got {other:?}"),
        }
    }
    let evidence = f
        .coordinator
        .store
        .equivocations(&FormKey::of(&Form::default_monthly()), f.period)
        .await
        .unwrap();
    assert_eq!(evidence.len(), 1, "one envelope kept for the slot");
    assert_eq!(evidence[0].envelope, conflicts[0], "the first, whole");
    assert_eq!(evidence[0].later_conflicts, 199);
    // The first conflicting envelope sent again is not counted twice.
    let digest = f.digest().await;
    f.refused(&f.a.id, &conflicts[0], RefusalCode::Equivocation)
        .await;
    assert_eq!(f.digest().await, digest);
    f.good_report_still_accepted().await;
}

/// A report breaking the disclosure rule that is already in the store (kept by an older
/// version, before ingest checked the rule) does not stop the province: publication and export
/// leave it out, name it, and count the site as not reported; the package still verifies.
async fn a_stored_report_breaking_the_rule_is_left_out_of_publication_and_export() {
    let f = fixture().await;
    f.good_report_still_accepted().await;
    // Site a's report, with a published 1, written straight into the store.
    let (report, envelope) = f.a_report_with_relapses([1, 0, 0, 1]);
    let key_id = f.coordinator.store.keys_of(&f.a.id).await.unwrap()[0].id;
    let new = NewReport {
        report: &report,
        envelope: &envelope,
        hash: Sha256Hash::of(&envelope),
        key_id,
        received_at: f.now,
    };
    let sign_receipt = receipt_signer(&f.coordinator.identity, &new);
    f.coordinator
        .store
        .insert_report(new, sign_receipt)
        .await
        .unwrap();

    let out = tempfile::tempdir().unwrap();
    let package = out.path().join("package");
    let published = f
        .coordinator
        .publish(f.period, None, Some(&package), true, f.now)
        .await
        .unwrap();
    assert_eq!(published.provincial.completeness.reported, 1);
    assert_eq!(published.provincial.completeness.expected, 2);
    assert!(
        published
            .excluded
            .iter()
            .any(|(site, why)| site == f.a.id.as_str() && why.contains("disclosure rule")),
        "{:?}",
        published.excluded
    );
    let verdict = quietcount_keys::verify_package(
        &package,
        &[f.coordinator.identity.verifying_key()],
        &[Form::default_monthly()],
    );
    assert!(verdict.passed(), "{}", verdict.render_text());

    let rows = f.coordinator.export_rows(f.period, None).await.unwrap();
    assert!(
        rows.iter().all(|r| r.scope != f.a.id.as_str()),
        "site a left out"
    );
    assert!(rows.iter().any(|r| r.scope == f.b.id.as_str()));
}

async fn the_same_content_re_signed_gets_the_original_receipt_and_envelope() {
    let f = fixture().await;
    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    let (receipt, receipt_bytes, _) = f.accepted(&f.a.id, &first).await;
    // A node restored from a backup builds the same report again, a second later.
    let mut report = open::<SiteReport>(&first, &f.a.identity.verifying_key())
        .unwrap()
        .payload;
    report.generated_at += 1;
    let resigned = sign(&report, f.a.identity.signing_key()).unwrap();
    assert_ne!(resigned, first);
    let before = f.digest().await;
    match f.ingest.submit(&f.a.id, &resigned, f.now).await {
        Response::Accepted {
            receipt: again,
            duplicate,
            stored_envelope,
            time,
        } => {
            assert!(duplicate);
            assert_eq!(
                time,
                Some(f.now),
                "the coordinator's clock goes with every answer"
            );
            assert_eq!(again.0, receipt_bytes, "the original receipt");
            assert_eq!(stored_envelope.map(|b| b.0), Some(first.clone()));
        }
        other => panic!("expected the original receipt, got {other:?}"),
    }
    assert_eq!(f.digest().await, before, "no evidence, nothing stored");
    let evidence = f
        .coordinator
        .store
        .equivocations(&FormKey::of(&Form::default_monthly()), f.period)
        .await
        .unwrap();
    assert!(evidence.is_empty(), "not an equivocation");
    assert_eq!(receipt.report, Sha256Hash::of(&first));
}

async fn stale_and_conflicting_refusals_carry_the_coordinators_head() {
    let f = fixture().await;
    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &first).await;
    let head = quietcount_protocol::wire::WireHead {
        revision: 1,
        envelope_hash: Sha256Hash::of(&first),
    };
    let conflicting = f.a.signed_report(f.period, 1, None, 2).unwrap();
    let stale =
        f.a.signed_report(f.period, 3, Some(Sha256Hash([9; 32])), 2)
            .unwrap();
    for (envelope, expected) in [
        (conflicting, RefusalCode::Equivocation),
        (stale, RefusalCode::StaleRevision),
    ] {
        match f.ingest.submit(&f.a.id, &envelope, f.now).await {
            Response::Refused {
                code,
                head: got_head,
                time,
                ..
            } => {
                assert_eq!(time, Some(f.now));
                assert_eq!(code, expected);
                assert_eq!(got_head, Some(head));
            }
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    // Building on the head given is accepted.
    let next =
        f.a.signed_report(f.period, 2, Some(head.envelope_hash), 3)
            .unwrap();
    let (receipt, _, duplicate) = f.accepted(&f.a.id, &next).await;
    assert!(!duplicate);
    assert_eq!(receipt.revision, 2);
}

async fn a_clock_before_the_newest_receipt_is_called_wrong() {
    let f = fixture().await;
    assert_eq!(
        f.coordinator.clock_warning(0).await.unwrap(),
        None,
        "nothing stored yet"
    );
    let envelope = f.a.signed_report(f.period, 1, None, 1).unwrap();
    f.accepted(&f.a.id, &envelope).await;
    assert_eq!(f.coordinator.clock_warning(f.now).await.unwrap(), None);
    assert_eq!(f.coordinator.clock_warning(f.now + 60).await.unwrap(), None);
    let warning = f
        .coordinator
        .clock_warning(f.now - 400 * 86_400)
        .await
        .unwrap()
        .expect("a clock a year before the newest receipt");
    assert!(warning.contains("CLOCK IS WRONG"), "{warning}");
    assert!(
        warning.contains("set this computer's date and time"),
        "{warning}"
    );
}

/// A locked period takes no new report or revision (refused with `period_locked`, a code the
/// site retries, nothing stored); an envelope stored before the lock still gets its receipt
/// back; after the unlock the waiting report is stored.
async fn a_locked_period_takes_nothing_new_until_unlocked() {
    let f = fixture().await;
    let first = f.a.signed_report(f.period, 1, None, 1).unwrap();
    let (_, receipt, _) = f.accepted(&f.a.id, &first).await;
    assert!(
        f.coordinator
            .lock_period(f.period, None, "Nguyễn Thị Lan", f.now)
            .await
            .unwrap()
    );
    let from_b = f.b.signed_report(f.period, 1, None, 2).unwrap();
    let message = f.refused(&f.b.id, &from_b, RefusalCode::PeriodLocked).await;
    assert!(message.contains("unlock"), "{message}");
    assert!(RefusalCode::PeriodLocked.is_transient());
    let second =
        f.a.signed_report(f.period, 2, Some(Sha256Hash::of(&first)), 3)
            .unwrap();
    f.refused(&f.a.id, &second, RefusalCode::PeriodLocked).await;
    // Resubmitting what was stored before the lock is answered as before.
    let (_, again, duplicate) = f.accepted(&f.a.id, &first).await;
    assert!(duplicate);
    assert_eq!(again, receipt);
    assert!(
        f.coordinator
            .unlock_period(f.period, None, "Nguyễn Thị Lan", f.now)
            .await
            .unwrap()
    );
    let (_, _, duplicate) = f.accepted(&f.b.id, &from_b).await;
    assert!(!duplicate);
    let audit = f.coordinator.store.audit_log(10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["unlock", "lock"]);
}

/// Runs each named test on both backends: `sqlite::NAME` and `postgres::NAME` (skipped, with
/// the reason printed, when PostgreSQL is not installed outside CI).
macro_rules! on_both_backends {
    ($($name:ident $(in $module:ident)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::BACKEND
                        .scope(super::Backend::Sqlite, super::$($module::)?$name())
                        .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if super::PostgresServer::shared().unwrap().is_none() {
                        return;
                    }
                    super::BACKEND
                        .scope(super::Backend::Postgres, super::$($module::)?$name())
                        .await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_leaking_correction_is_refused_and_nothing_is_stored in revisions,
    an_honest_correction_is_accepted in revisions,
    a_locked_period_takes_nothing_new_until_unlocked,
    accepts_stores_and_signs_receipts_then_resubmission_is_idempotent,
    unknown_site_is_refused,
    revoked_site_is_refused_and_reenrolment_revokes_the_old_key,
    signer_must_be_the_tls_site,
    bad_signature_is_refused,
    wrong_form_is_refused,
    future_and_too_old_periods_are_refused,
    weak_policy_is_refused,
    stale_gapped_and_wrongly_superseding_revisions_are_refused,
    conflicting_revision_is_equivocation_kept_as_evidence_and_flagged,
    garbage_and_oversize_are_refused,
    concurrent_identical_and_conflicting_deliveries_store_one_report,
    reports_breaking_the_disclosure_rule_are_refused_and_publication_goes_on,
    evidence_is_bounded_one_envelope_per_slot_and_a_count,
    a_stored_report_breaking_the_rule_is_left_out_of_publication_and_export,
    the_same_content_re_signed_gets_the_original_receipt_and_envelope,
    stale_and_conflicting_refusals_carry_the_coordinators_head,
    a_clock_before_the_newest_receipt_is_called_wrong,
);
/// The joint revision audit at ingest, on the test form of three client indicators by sex
/// (active clients; vocational training and relapses within them).
mod revisions {
    use super::*;
    use quietcount_coordinator::IngestPolicy;
    use quietcount_protocol::disclosure::{Revision, changed_records, suppress_revision};
    use quietcount_protocol::{
        CountTable, IndicatorTables, Shape, SuppressionSecret, Table, ZeroPolicy, suppress_report,
    };

    fn form() -> Form {
        Form::from_toml(include_str!(
            "../../protocol/tests/data/relations-revisions.toml"
        ))
        .unwrap()
    }

    fn ingest(f: &Fixture) -> Ingest {
        Ingest::new(
            f.coordinator.store.clone(),
            f.coordinator.identity.clone(),
            IngestPolicy {
                forms: vec![form()],
                min_k: 5,
                min_zeros: ZeroPolicy::Protected,
                max_period_age_days: 365,
            },
        )
    }

    fn sex(interior: &[u64]) -> Vec<CountTable> {
        vec![CountTable::from_interior(
            vec!["sex".into()],
            Shape::new(vec![3]),
            interior,
        )]
    }

    /// Site a's report of the test form: revision `revision` over `supersedes`, publishing
    /// `tables`, stating `changed` records changed; and its envelope.
    fn report(
        f: &Fixture,
        site: &TestSite,
        revision: u32,
        supersedes: Option<Sha256Hash>,
        tables: &[Vec<Table>],
        changed: Option<u64>,
    ) -> (SiteReport, Vec<u8>) {
        let form = form();
        let mut report = SyntheticReport::new(&form, site.id.clone(), f.period)
            .revision(revision)
            .supersedes(supersedes)
            .build_unsuppressed();
        report.indicators = form
            .indicators
            .iter()
            .zip(tables)
            .map(|(i, tables)| IndicatorTables {
                indicator: i.id.clone(),
                tables: tables.clone(),
            })
            .collect();
        report.changed_records = changed;
        let envelope = sign(&report, site.identity.signing_key()).unwrap();
        (report, envelope)
    }

    fn one(cells: [Cell; 4]) -> Vec<Table> {
        vec![Table {
            dimensions: vec!["sex".into()],
            cells: cells.to_vec(),
        }]
    }

    /// The leak, sent by a node that does not audit corrections jointly: revision 1
    /// hides vocational training male and publishes relapses female 0; revision 2 (one record
    /// changed, a client's sex) publishes male 0 and hides female. Each passes alone; together
    /// they single the client out. Revision 2 is refused with the disclosure code and a
    /// message staff can act on, and nothing is stored; revision 2 stating no count of changes
    /// (an old node) is not audited jointly and is accepted.
    pub(super) async fn a_leaking_correction_is_refused_and_nothing_is_stored() {
        use Cell::{Exact as E, Suppressed as S};
        let f = fixture().await;
        let ingest = ingest(&f);
        let first = [
            one([E(20), E(14), E(0), E(34)]),
            one([S, E(0), E(0), S]),
            one([S, E(0), E(0), S]),
        ];
        let (_, envelope) = report(&f, &f.a, 1, None, &first, None);
        assert!(matches!(
            ingest.submit(&f.a.id, &envelope, f.now).await,
            Response::Accepted { .. }
        ));
        let second = [
            one([E(19), E(15), E(0), E(34)]),
            one([E(0), S, E(0), S]),
            one([E(0), S, E(0), S]),
        ];
        let supersedes = Some(Sha256Hash::of(&envelope));
        let (_, leaking) = report(&f, &f.a, 2, supersedes, &second, Some(1));
        let before = f.digest().await;
        let response = ingest.submit(&f.a.id, &leaking, f.now).await;
        assert_eq!(
            f.digest().await,
            before,
            "a refused correction changed the store"
        );
        let Response::Refused { code, message, .. } = response else {
            panic!("expected a refusal, got {response:?}")
        };
        assert_eq!(code, RefusalCode::DisclosureRule, "{message}");
        for part in [
            "revision 2 of 2026-10",
            "revisions 1 to 1 already published",
            "1 record(s)",
            "below k",
            "not stored",
        ] {
            assert!(message.contains(part), "{part:?} missing from: {message}");
        }
        // The same tables without a count of changed records: an old node's report, checked
        // one by one only (the verifier warns that it was not audited jointly).
        let (_, old_node) = report(&f, &f.a, 2, supersedes, &second, None);
        assert!(matches!(
            ingest.submit(&f.a.id, &old_node, f.now).await,
            Response::Accepted { .. }
        ));
    }

    /// An honest correction, one client added and built by the joint suppression, is accepted
    /// at k = 5 (site a) and at k = 11 (site b).
    pub(super) async fn an_honest_correction_is_accepted() {
        let f = fixture().await;
        let ingest = ingest(&f);
        let form = form();
        let before = vec![sex(&[20, 14, 0]), sex(&[3, 2, 0]), sex(&[1, 2, 0])];
        let after = vec![sex(&[21, 14, 0]), sex(&[4, 2, 0]), sex(&[1, 2, 0])];
        let secret = SuppressionSecret::from_bytes([3; 32]);
        for (site, k) in [(&f.a, 5), (&f.b, 11)] {
            let policy = DisclosurePolicy::new(k).unwrap();
            let first = suppress_report(&form, &before, &policy, &secret).unwrap();
            let second = suppress_revision(
                &form,
                &[Revision {
                    truth: &before,
                    published: &first,
                }],
                &after,
                &policy,
                &secret,
            )
            .unwrap();
            let (mut one, _) = report(&f, site, 1, None, &first, None);
            one.policy = policy;
            let envelope = sign(&one, site.identity.signing_key()).unwrap();
            assert!(matches!(
                ingest.submit(&site.id, &envelope, f.now).await,
                Response::Accepted { .. }
            ));
            let changed = changed_records(&form, &before, &after);
            assert_eq!(changed, 1);
            let supersedes = Some(Sha256Hash::of(&envelope));
            let (mut two, _) = report(&f, site, 2, supersedes, &second, Some(changed));
            two.policy = policy;
            let correction = sign(&two, site.identity.signing_key()).unwrap();
            let response = ingest.submit(&site.id, &correction, f.now).await;
            assert!(
                matches!(response, Response::Accepted { .. }),
                "k = {k}: {response:?}"
            );
        }
    }
}
