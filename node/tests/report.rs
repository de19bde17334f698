//! Reports: numbers against hand-computed expectations, revision chains, open periods.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOV_10_2026, OCT_15_2026, october};
use quietcount_node::report::{IndicatorCounts, compute_counts};
use quietcount_node::{Node, NodeError, ReportOutcome};
use quietcount_protocol::{Cell, CountTable, SiteReport, suppress};

async fn fixture_node(root: &std::path::Path) -> Node {
    let dir = common::init_node(
        root,
        "127.0.0.1:9".parse().unwrap(),
        &common::TestCoordinator::identity(),
    )
    .await;
    let node = Node::open(&dir).await.unwrap();
    node.import(&common::data("fixture_clients.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("fixture_services.csv"), false)
        .await
        .unwrap();
    node
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
            let dim = node.form.dimension(d).unwrap();
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
    let counts = compute_counts(&node.db, &node.form, october())
        .await
        .unwrap();
    assert_eq!(counts.len(), node.form.indicators.len());
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
        compute_counts(&node.db, &node.form, october())
            .await
            .unwrap(),
        counts
    );
}

#[tokio::test]
async fn preview_shows_exactly_the_suppressed_tables_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let outcome = node
        .report(october(), true, false, NOV_10_2026)
        .await
        .unwrap();
    let ReportOutcome::Preview { report, text } = outcome else {
        panic!("not a preview")
    };
    let counts = compute_counts(&node.db, &node.form, october())
        .await
        .unwrap();
    for (published, true_counts) in report.indicators.iter().zip(&counts) {
        let expected = suppress(&true_counts.tables, &node.config.policy()).unwrap();
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
    assert!(text.contains("Clients active in the period / Số người đang được hỗ trợ trong kỳ"));
    assert!(text.contains("Total / Tổng"));
    assert!(text.contains('*'));
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(node.db.pool())
        .await
        .unwrap();
    assert_eq!(entries, 0);
}

#[tokio::test]
async fn an_open_period_is_refused_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let err = node
        .report(october(), false, false, OCT_15_2026)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::PeriodNotOver { .. }), "{err}");
    let err = node
        .report(october(), true, false, OCT_15_2026)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::PeriodNotOver { .. }),
        "preview too: {err}"
    );
    assert!(matches!(
        node.report(october(), false, true, OCT_15_2026)
            .await
            .unwrap(),
        ReportOutcome::Queued { revision: 1, .. }
    ));
}

#[tokio::test]
async fn unchanged_content_is_not_resent_and_changed_content_is_the_next_revision() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let site_key = node.identity().verifying_key();
    let ReportOutcome::Queued {
        revision: 1,
        envelope_hash: first,
        ..
    } = node
        .report(october(), false, false, NOV_10_2026)
        .await
        .unwrap()
    else {
        panic!("first report not queued")
    };
    // Later, same data: nothing to do.
    let again = node
        .report(october(), false, false, NOV_10_2026 + 3600)
        .await
        .unwrap();
    assert!(
        matches!(again, ReportOutcome::Unchanged { revision: 1, .. }),
        "{again}"
    );

    // A late entry changes October: revision 2 supersedes revision 1.
    let late = root.path().join("late.csv");
    std::fs::write(
        &late,
        "client_code,date,service,outcome\nC5,2026-10-30,psychosocial,\n",
    )
    .unwrap();
    node.import(&late, false).await.unwrap();
    let ReportOutcome::Queued {
        revision: 2,
        envelope_hash: second,
        ..
    } = node
        .report(october(), false, false, NOV_10_2026 + 7200)
        .await
        .unwrap()
    else {
        panic!("second report not queued")
    };
    let envelopes: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT revision, envelope FROM outbox ORDER BY revision")
            .fetch_all(node.db.pool())
            .await
            .unwrap();
    assert_eq!(envelopes.len(), 2);
    let r1 = quietcount_protocol::open::<SiteReport>(&envelopes[0].1, &site_key).unwrap();
    let r2 = quietcount_protocol::open::<SiteReport>(&envelopes[1].1, &site_key).unwrap();
    assert_eq!(r1.hash, first);
    assert_eq!(r2.hash, second);
    assert_eq!(r1.payload.revision, 1);
    assert_eq!(r1.payload.supersedes, None);
    assert_eq!(r2.payload.revision, 2);
    assert_eq!(r2.payload.supersedes, Some(first));
    assert_eq!(r2.payload.generated_at, NOV_10_2026 + 7200);
    r2.payload.check_against(&node.form).unwrap();
    assert_eq!(r2.payload.site, common::site());
    assert_eq!(r2.payload.policy.k, 5);
}

#[tokio::test]
async fn a_stricter_k_from_the_config_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let dir = node.dir.root.clone();
    drop(node);
    common::set_config(&dir, "k", "11");
    let node = Node::open(&dir).await.unwrap();
    let ReportOutcome::Preview { report, .. } = node
        .report(october(), true, false, NOV_10_2026)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(report.policy.k, 11);
    common::set_config(&dir, "k", "1");
    let err = Node::open(&dir).await.unwrap_err();
    assert!(
        err.to_string().contains("k = 1 is below the minimum"),
        "{err}"
    );
}
