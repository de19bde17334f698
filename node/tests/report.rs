//! Reports: numbers against hand-computed expectations, revision chains, open periods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{DEFAULT_FORM, NOV_10_2026, OCT_15_2026, SECOND_FORM, fixture_node, october, queue};
use quietcount_node::report::{IndicatorCounts, compute_counts};
use quietcount_node::{FormKey, Node, NodeError, OpenPeriod, QueueOutcome};
use quietcount_protocol::{Cell, CountTable, Form, SiteReport, SuppressionSecret, suppress_report};

fn default_form(node: &Node) -> &Form {
    node.form(DEFAULT_FORM).unwrap()
}

fn table<'a>(counts: &'a [IndicatorCounts], indicator: &str, position: usize) -> &'a CountTable {
    &counts
        .iter()
        .find(|c| c.indicator == indicator)
        .unwrap()
        .tables[position]
}

/// The cell at category codes (`"*"` for the margin).
fn cell(node: &Node, t: &CountTable, codes: &[&str]) -> u64 {
    let coords: Vec<usize> = t
        .dimensions
        .iter()
        .zip(codes)
        .map(|(d, code)| {
            let dim = default_form(node).dimension(d).unwrap();
            if *code == "*" {
                dim.categories.len()
            } else {
                dim.categories
                    .iter()
                    .position(|c| c.code == *code)
                    .unwrap_or_else(|| panic!("{code}"))
            }
        })
        .collect();
    t.cells[t.shape.index(&coords)]
}

#[tokio::test]
async fn counts_match_hand_computed_expectations() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let counts = compute_counts(node.store(), default_form(&node), october())
        .await
        .unwrap();
    assert_eq!(counts.len(), default_form(&node).indicators.len());
    let c = |indicator: &str, position: usize, codes: &[&str]| {
        cell(&node, table(&counts, indicator, position), codes)
    };

    // Active in October: C1 (male, 25 on 31 Oct), C2 (female, 18 exactly), C3 (male, 17: one
    // day short), C4 (other, no birth date). C5's only event is in September.
    assert_eq!(c("clients_active", 0, &["*", "*"]), 4);
    assert_eq!(c("clients_active", 0, &["male", "25-34"]), 1);
    assert_eq!(c("clients_active", 0, &["male", "lt18"]), 1);
    assert_eq!(c("clients_active", 0, &["female", "18-24"]), 1);
    assert_eq!(c("clients_active", 0, &["other", "unknown"]), 1);
    assert_eq!(c("clients_active", 0, &["male", "*"]), 2);
    assert_eq!(c("clients_active", 0, &["*", "50plus"]), 0);
    assert_eq!(c("clients_active", 1, &["opioids"]), 1);
    assert_eq!(c("clients_active", 1, &["methamphetamine"]), 1);
    assert_eq!(c("clients_active", 1, &["cannabis"]), 1);
    assert_eq!(
        c("clients_active", 1, &["unknown"]),
        1,
        "empty substance is unknown"
    );
    assert_eq!(c("clients_active", 2, &["voluntary"]), 3);
    assert_eq!(c("clients_active", 2, &["compulsory"]), 1);
    // Enrolled in October: C2 only.
    assert_eq!(c("clients_new", 0, &["family"]), 1);
    assert_eq!(c("clients_new", 0, &["*"]), 1);
    assert_eq!(c("clients_new", 1, &["female"]), 1);
    // Methadone: C1 (two October events, one client; the 30 Sept event is outside).
    assert_eq!(c("clients_methadone", 0, &["male"]), 1);
    assert_eq!(c("clients_methadone", 0, &["*"]), 1);
    // Counselling events: individual C1 (31 Oct), two identical group sessions of C2 on one
    // day, family C4 (13 Oct; 1 Nov is outside).
    assert_eq!(c("counselling_sessions", 0, &["counselling_individual"]), 1);
    assert_eq!(c("counselling_sessions", 0, &["counselling_group"]), 2);
    assert_eq!(c("counselling_sessions", 0, &["counselling_family"]), 1);
    assert_eq!(c("counselling_sessions", 0, &["*"]), 4);
    assert_eq!(c("clients_detox", 0, &["male"]), 1);
    assert_eq!(c("clients_psychosocial", 0, &["*"]), 0);
    assert_eq!(c("referrals_out", 0, &["referral_out_methadone"]), 1);
    assert_eq!(c("referrals_out", 0, &["*"]), 1);
    assert_eq!(c("urine_tests", 0, &["negative"]), 1);
    assert_eq!(c("urine_tests", 0, &["positive"]), 1);
    // Retained 3 months: active and enrolled on or before 31 July: C1 (15 June) and C3 (31
    // July, the boundary). C4 (1 August) is one day late.
    assert_eq!(c("clients_retained_3m", 0, &["male"]), 2);
    assert_eq!(c("clients_retained_3m", 0, &["*"]), 2);
    // Relapses: two events of C2.
    assert_eq!(c("relapses", 0, &["female"]), 2);
    // Employed at follow-up: C1 (C3's follow-up says unemployed).
    assert_eq!(c("clients_employed_follow_up", 0, &["male"]), 1);
    assert_eq!(c("clients_employed_follow_up", 0, &["*"]), 1);

    // The same data gives the same answer twice.
    assert_eq!(
        compute_counts(node.store(), default_form(&node), october())
            .await
            .unwrap(),
        counts
    );
}

#[tokio::test]
async fn preview_shows_exactly_the_suppressed_tables_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let preview = node
        .preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap();
    let report = preview.report;
    assert_eq!(preview.form, FormKey::of(default_form(&node)));
    let counts = compute_counts(node.store(), default_form(&node), october())
        .await
        .unwrap();
    // Suppressed as a whole report, with the relations the form declares between indicators.
    let truth: Vec<_> = counts.iter().map(|c| c.tables.clone()).collect();
    // With the site's secret, derived from its key, for this form and period.
    let secret = SuppressionSecret::for_report(
        &node.identity().disclosure_secret(),
        &default_form(&node).reference(),
        october(),
    );
    let expected = suppress_report(
        default_form(&node),
        &truth,
        &node.config().policy(),
        &secret,
    )
    .unwrap();
    assert_eq!(report.indicators.len(), expected.len());
    for (published, expected) in report.indicators.iter().zip(expected) {
        assert_eq!(published.tables, expected, "{}", published.indicator);
    }
    assert!(
        report
            .indicators
            .iter()
            .flat_map(|i| &i.tables)
            .flat_map(|t| &t.cells)
            .any(|c| *c == Cell::Suppressed)
    );
    assert_eq!(report.revision, 1);
    // The CLI renders those tables, English and Vietnamese, suppressed cells as `*`.
    let text = common::run_cli(
        &node.dir().root,
        &["report", "--period", "2026-10", "--preview"],
    );
    assert!(text.contains("Clients active in the period / Số người đang được hỗ trợ trong kỳ"));
    assert!(text.contains("Total / Tổng"));
    assert!(text.contains('*'));
    assert!(node.store().outbox_entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_open_period_is_refused_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let err = node
        .queue_report(DEFAULT_FORM, october(), OCT_15_2026, OpenPeriod::Refuse)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::PeriodNotOver { .. }), "{err}");
    assert!(
        !err.to_string().contains("--"),
        "the library names no CLI flag: {err}"
    );
    let err = node
        .preview_report(DEFAULT_FORM, october(), OCT_15_2026, OpenPeriod::Refuse)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::PeriodNotOver { .. }),
        "preview too: {err}"
    );
    assert!(matches!(
        node.queue_report(DEFAULT_FORM, october(), OCT_15_2026, OpenPeriod::Allow)
            .await
            .unwrap(),
        QueueOutcome::Queued { revision: 1, .. }
    ));
}

#[tokio::test]
async fn unchanged_content_is_not_resent_and_changed_content_is_the_next_revision() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let site_key = node.identity().verifying_key();
    let QueueOutcome::Queued {
        revision: 1,
        envelope_hash: first,
        ..
    } = queue(&node, october(), NOV_10_2026).await
    else {
        panic!("first report not queued")
    };
    // Later, same data: nothing to do.
    let again = queue(&node, october(), NOV_10_2026 + 3600).await;
    assert!(
        matches!(again, QueueOutcome::Unchanged { revision: 1, .. }),
        "{again:?}"
    );

    // A late entry changes October: revision 2 supersedes revision 1.
    common::import_late_october_event(&node).await;
    let QueueOutcome::Queued {
        revision: 2,
        envelope_hash: second,
        ..
    } = queue(&node, october(), NOV_10_2026 + 7200).await
    else {
        panic!("second report not queued")
    };
    let mut envelopes = node.store().outbox_entries().await.unwrap();
    envelopes.sort_by_key(|e| e.revision);
    assert_eq!(envelopes.len(), 2);
    let r1 = quietcount_protocol::open::<SiteReport>(&envelopes[0].envelope, &site_key).unwrap();
    let r2 = quietcount_protocol::open::<SiteReport>(&envelopes[1].envelope, &site_key).unwrap();
    assert_eq!(r1.hash, first);
    assert_eq!(r2.hash, second);
    assert_eq!(r1.payload.revision, 1);
    assert_eq!(r1.payload.supersedes, None);
    assert_eq!(r2.payload.revision, 2);
    assert_eq!(r2.payload.supersedes, Some(first));
    assert_eq!(r2.payload.generated_at, NOV_10_2026 + 7200);
    r2.payload.check_against(default_form(&node)).unwrap();
    assert_eq!(r2.payload.site, common::site());
    assert_eq!(r2.payload.policy.k, 5);
}

#[tokio::test]
async fn a_stricter_k_from_the_config_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let dir = node.dir().root.clone();
    drop(node);
    common::set_config(&dir, "k", "11");
    let node = Node::open(&dir).await.unwrap();
    let preview = node
        .preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap();
    assert_eq!(preview.report.policy.k, 11);
    common::set_config(&dir, "k", "1");
    let err = Node::open(&dir).await.unwrap_err();
    assert!(
        err.to_string().contains("k = 1 is below the minimum"),
        "{err}"
    );
}

#[tokio::test]
async fn a_second_form_for_the_same_month_gets_its_own_revision_one() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    // The default form's October report comes first: revision 1.
    let QueueOutcome::Queued {
        revision: 1,
        envelope_hash: default_first,
        ..
    } = queue(&node, october(), NOV_10_2026).await
    else {
        panic!("the default form's report is queued")
    };
    let dir = node.dir().root.clone();
    node.close().await;
    drop(node);
    common::add_second_form(&dir);
    let node = Node::open(&dir).await.unwrap();
    assert_eq!(node.forms().len(), 2);
    let second_key = FormKey::of(node.form(SECOND_FORM).unwrap());

    // Building October for every form: the default form is unchanged, the second form starts
    // its own chain at revision 1 superseding nothing (not revision 2 after the default form).
    let outcomes = node
        .queue_reports(october(), NOV_10_2026 + 60, OpenPeriod::Refuse)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        matches!(&outcomes[0], QueueOutcome::Unchanged { form, revision: 1, .. } if form.id == DEFAULT_FORM),
        "{outcomes:?}"
    );
    let QueueOutcome::Queued {
        form,
        revision: 1,
        envelope_hash: second_first,
        ..
    } = &outcomes[1]
    else {
        panic!("the second form gets its own revision 1: {outcomes:?}")
    };
    assert_eq!(form, &second_key);
    let site_key = node.identity().verifying_key();
    let entries = node.store().outbox_entries().await.unwrap();
    assert_eq!(entries.len(), 2);
    let second_report =
        quietcount_protocol::open::<SiteReport>(&entries[1].envelope, &site_key).unwrap();
    assert_eq!(second_report.hash, *second_first);
    assert_eq!(
        second_report.payload.form,
        node.form(SECOND_FORM).unwrap().reference()
    );
    assert_eq!(second_report.payload.revision, 1);
    assert_eq!(second_report.payload.supersedes, None);
    second_report
        .payload
        .check_against(node.form(SECOND_FORM).unwrap())
        .unwrap();

    // Late urine tests change both forms (each has `urine_tests`), enough to change what each
    // publishes: each takes revision 2 in its own chain.
    let tests: String = (10..22)
        .map(|day| format!("C1,2026-10-{day},urine_test,negative\n"))
        .collect();
    common::import_text(
        &node,
        "late.csv",
        &format!("client_code,date,service,outcome\n{tests}"),
    )
    .await
    .unwrap();
    let outcomes = node
        .queue_reports(october(), NOV_10_2026 + 120, OpenPeriod::Refuse)
        .await
        .unwrap();
    let entries = node.store().outbox_entries().await.unwrap();
    assert_eq!(entries.len(), 4, "{outcomes:?}");
    for (entry, supersedes) in entries[2..].iter().zip([default_first, *second_first]) {
        let opened = quietcount_protocol::open::<SiteReport>(&entry.envelope, &site_key).unwrap();
        assert_eq!(opened.payload.revision, 2);
        assert_eq!(
            opened.payload.supersedes,
            Some(supersedes),
            "{}",
            entry.form
        );
    }
    // Only the second form, by id.
    assert!(matches!(
        node.queue_report(
            SECOND_FORM,
            october(),
            NOV_10_2026 + 180,
            OpenPeriod::Refuse
        )
        .await
        .unwrap(),
        QueueOutcome::Unchanged { revision: 2, .. }
    ));
    let err = node
        .queue_report("no-such-form", october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::UnknownForm { .. }), "{err}");
}

/// A client's sex corrected after October went out (the example): the correction goes
/// out only if the joint audit of both revisions, with the one changed record an outsider is
/// assumed to know of, keeps every small cell of both protected; otherwise it is held, saying
/// why, and nothing is queued.
#[tokio::test]
async fn a_corrected_sex_goes_out_only_if_both_revisions_stay_protected_together() {
    use quietcount_protocol::IndicatorTables;
    use quietcount_protocol::disclosure::{changed_records, check_revisions};
    let root = tempfile::tempdir().unwrap();
    let node = common::fresh_node(root.path()).await;
    common::import(&node, "clients.csv").await.unwrap();
    common::import(&node, "services.csv").await.unwrap();
    let form = default_form(&node).clone();
    let truth = |counts: Vec<IndicatorCounts>| -> Vec<Vec<CountTable>> {
        counts.into_iter().map(|c| c.tables).collect()
    };
    let before = truth(
        compute_counts(node.store(), &form, october())
            .await
            .unwrap(),
    );
    let QueueOutcome::Queued { revision: 1, .. } = queue(&node, october(), NOV_10_2026).await
    else {
        panic!("revision 1 is queued")
    };
    // BD-0002 was entered as male ("Nam"); the officer corrects it.
    common::import_text(
        &node,
        "correction.csv",
        "client_code,full_name,date_of_birth,sex,phone,national_id,address,primary_substance,referral_source,enrolled_on,modality\n\
         BD-0002,Võ Hữu Cường,07/08/2001,Nữ,0942164119,079309156112,\"Phường Cầu Diễn, Hà Nội\",Ma túy tổng hợp,family,2026-07-25,voluntary\n",
    )
    .await
    .unwrap();
    let after = truth(
        compute_counts(node.store(), &form, october())
            .await
            .unwrap(),
    );
    let changed = changed_records(&form, &before, &after);
    assert_eq!(changed, 1, "one record changed");
    let site_key = node.identity().verifying_key();
    match queue(&node, october(), NOV_10_2026 + 60).await {
        QueueOutcome::Queued { revision: 2, .. } => {
            let entries = node.store().outbox_entries().await.unwrap();
            let published: Vec<Vec<IndicatorTables>> = entries
                .iter()
                .map(|e| {
                    quietcount_protocol::open::<SiteReport>(&e.envelope, &site_key)
                        .unwrap()
                        .payload
                        .indicators
                })
                .collect();
            let policy = node.config().policy();
            check_revisions(&form, &[&published[0], &published[1]], &[changed], &policy)
                .expect("both revisions stay protected together");
            eprintln!("the correction went out as revision 2");
        }
        QueueOutcome::Held {
            period, changed, ..
        } => {
            assert_eq!((period, changed), (october(), 1));
            assert_eq!(node.store().outbox_entries().await.unwrap().len(), 1);
            let preview = node
                .preview_report(
                    DEFAULT_FORM,
                    october(),
                    NOV_10_2026 + 60,
                    OpenPeriod::Refuse,
                )
                .await
                .expect_err("the preview says why");
            let text = preview.to_string();
            assert!(text.contains("held") && text.contains("2026-10"), "{text}");
            assert!(
                !text.contains("Cường") && !text.contains("BD-0002"),
                "{text}"
            );
            eprintln!("the correction is held: {text}");
        }
        other => panic!("the correction changes what is published: {other:?}"),
    }
}
