//! Synthetic records: deterministic for a seed, plausible, and idempotent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use quietcount_node::Node;
use quietcount_node::dates::Date;
use quietcount_node::import::{ClientRecord, EventRecord};
use quietcount_node::simulate::SimulateOptions;

async fn simulated(root: &std::path::Path, seed: u64) -> Node {
    let node = common::fresh_node(root).await;
    let options = SimulateOptions {
        clients: 800,
        months: 6,
        seed,
        until: common::october(),
    };
    let summary = node.simulate(options, |_| {}).await.unwrap();
    assert_eq!(summary.clients, 800);
    assert_eq!(summary.events, summary.events_inserted);
    // Again with the same seed: nothing new.
    let again = node.simulate(options, |_| {}).await.unwrap();
    assert_eq!(again.events_inserted, 0);
    assert_eq!(again.events, summary.events);
    node
}

/// Every event, in a canonical order.
async fn events(node: &Node) -> Vec<EventRecord> {
    let mut events: Vec<EventRecord> = node
        .store()
        .events()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    events.sort_by(|a, b| {
        (&a.client_code, a.date, a.service, a.outcome, a.ordinal).cmp(&(
            &b.client_code,
            b.date,
            b.service,
            b.outcome,
            b.ordinal,
        ))
    });
    events
}

fn share(clients: &[ClientRecord], test: impl Fn(&ClientRecord) -> bool) -> f64 {
    clients.iter().filter(|c| test(c)).count() as f64 / clients.len() as f64
}

#[tokio::test]
async fn the_same_seed_gives_the_same_records_and_plausible_mixes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let first = simulated(a.path(), 11).await;
    let second = simulated(b.path(), 11).await;
    let other = simulated(c.path(), 12).await;
    assert_eq!(events(&first).await, events(&second).await);
    assert_ne!(events(&first).await, events(&other).await);

    let clients = common::clients(&first).await;
    let male = share(&clients, |c| c.sex == "male");
    assert!((0.8..0.95).contains(&male), "male share {male}");
    let opioids_or_meth = share(&clients, |c| {
        matches!(c.primary_substance, Some("opioids" | "methamphetamine"))
    });
    assert!(opioids_or_meth > 0.75, "{opioids_or_meth}");
    let born: Vec<ClientRecord> = clients
        .iter()
        .filter(|c| c.date_of_birth.is_some())
        .cloned()
        .collect();
    let (youngest, oldest) = (
        Date::new(2008, 10, 31).unwrap(),
        Date::new(1975, 11, 1).unwrap(),
    );
    let adults = share(&born, |c| {
        c.date_of_birth
            .is_some_and(|d| d <= youngest && d >= oldest)
    });
    assert!(adults > 0.75, "aged 18-50: {adults}");
    let police_family_self = share(&clients, |c| {
        matches!(c.referral_source, "police" | "family" | "self")
    });
    assert!(police_family_self > 0.7, "{police_family_self}");
    // Every event is within the six months and on or after its client's enrolment.
    let enrolled: std::collections::HashMap<&str, Date> = clients
        .iter()
        .map(|c| (c.client_code.as_str(), c.enrolled_on))
        .collect();
    let all = events(&first).await;
    let (window_start, window_end) = (
        Date::new(2026, 5, 1).unwrap(),
        Date::new(2026, 10, 31).unwrap(),
    );
    let outside = all
        .iter()
        .filter(|e| {
            e.date < window_start
                || e.date > window_end
                || enrolled
                    .get(e.client_code.as_str())
                    .is_none_or(|enrolled_on| e.date < *enrolled_on)
        })
        .count();
    assert_eq!(outside, 0);
    let services: std::collections::BTreeSet<&str> = all.iter().map(|e| e.service).collect();
    assert!(services.len() >= 15, "{} services used", services.len());
    let outcomes: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| e.outcome)
        .filter(|o| !o.is_empty())
        .collect();
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        ["employed", "negative", "positive", "unemployed"]
    );
}
