//! Synthetic records: deterministic for a seed, plausible, and idempotent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use quietcount_node::Node;
use quietcount_node::simulate::{SimulateOptions, simulate};

async fn simulated(root: &std::path::Path, seed: u64) -> Node {
    let dir = common::init_node(
        root,
        "127.0.0.1:9".parse().unwrap(),
        &common::TestCoordinator::identity(),
    )
    .await;
    let node = Node::open(&dir).await.unwrap();
    let options = SimulateOptions {
        clients: 800,
        months: 6,
        seed,
        until: common::october(),
    };
    let summary = simulate(&node.db, options, false).await.unwrap();
    assert_eq!(summary.clients, 800);
    assert_eq!(summary.events, summary.events_inserted);
    // Again with the same seed: nothing new.
    let again = simulate(&node.db, options, false).await.unwrap();
    assert_eq!(again.events_inserted, 0);
    assert_eq!(again.events, summary.events);
    node
}

async fn fingerprint(node: &Node) -> Vec<(String, String, String, String)> {
    sqlx::query_as("SELECT client_code, date, service, outcome FROM events ORDER BY client_code, date, service, outcome, ordinal")
        .fetch_all(node.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_records_and_plausible_mixes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let first = simulated(a.path(), 11).await;
    let second = simulated(b.path(), 11).await;
    let other = simulated(c.path(), 12).await;
    assert_eq!(fingerprint(&first).await, fingerprint(&second).await);
    assert_ne!(fingerprint(&first).await, fingerprint(&other).await);

    let share = |sql: &'static str| {
        let pool = first.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, f64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let male = share("SELECT AVG(sex = 'male') FROM clients").await;
    assert!((0.8..0.95).contains(&male), "male share {male}");
    let opioids_or_meth =
        share("SELECT AVG(primary_substance IN ('opioids', 'methamphetamine')) FROM clients").await;
    assert!(opioids_or_meth > 0.75, "{opioids_or_meth}");
    let adults = share(
        "SELECT AVG(date_of_birth <= '2008-10-31' AND date_of_birth >= '1975-11-01') FROM clients WHERE date_of_birth IS NOT NULL",
    )
    .await;
    assert!(adults > 0.75, "aged 18-50: {adults}");
    let police_family_self =
        share("SELECT AVG(referral_source IN ('police', 'family', 'self')) FROM clients").await;
    assert!(police_family_self > 0.7, "{police_family_self}");
    // Every event is within the six months and on or after its client's enrolment.
    let outside: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events e JOIN clients c USING (client_code) \
         WHERE e.date < '2026-05-01' OR e.date > '2026-10-31' OR e.date < c.enrolled_on",
    )
    .fetch_one(first.db.pool())
    .await
    .unwrap();
    assert_eq!(outside, 0);
    let services: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT service) FROM events")
        .fetch_one(first.db.pool())
        .await
        .unwrap();
    assert!(services >= 15, "{services} services used");
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT outcome FROM events WHERE outcome <> '' ORDER BY outcome",
    )
    .fetch_all(first.db.pool())
    .await
    .unwrap();
    assert_eq!(outcomes, ["employed", "negative", "positive", "unemployed"]);
}
