//! Corrections at the library level: a deleted event makes the next report of its month a new
//! revision even when the published tables end up the same; ambiguous deletions change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOV_10_2026, fixture_node, october, queue};
use quietcount_node::corrections::EventToDelete;
use quietcount_node::{NodeError, QueueOutcome};

#[tokio::test]
async fn a_correction_makes_a_new_revision_even_when_the_tables_come_out_the_same() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let QueueOutcome::Queued { revision: 1, .. } = queue(&node, october(), NOV_10_2026).await
    else {
        panic!("revision 1")
    };
    assert!(matches!(
        queue(&node, october(), NOV_10_2026 + 1).await,
        QueueOutcome::Unchanged { revision: 1, .. }
    ));
    let events_before = node.store().count_events().await.unwrap();
    let event = EventToDelete {
        client: "C1",
        date: "2026-10-01",
        service: "methadone",
        outcome: None,
        all: false,
    };
    let (deleted, period) = node.delete_event(&event, NOV_10_2026 + 2).await.unwrap();
    assert_eq!((deleted, period), (1, october()));
    assert_eq!(
        node.store().count_events().await.unwrap(),
        events_before - 1
    );
    // The same event typed in again: the records are as before, the tables the same.
    common::import(&node, "fixture_services.csv").await.unwrap();
    assert_eq!(node.store().count_events().await.unwrap(), events_before);
    let QueueOutcome::Queued { revision: 2, .. } = queue(&node, october(), NOV_10_2026 + 3).await
    else {
        panic!("a corrected period is a new revision")
    };
    // And once built, unchanged again.
    assert!(matches!(
        queue(&node, october(), NOV_10_2026 + 4).await,
        QueueOutcome::Unchanged { revision: 2, .. }
    ));
}

#[tokio::test]
async fn unknown_or_missing_records_change_nothing_and_name_no_one() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let events = node.store().count_events().await.unwrap();
    let clients = node.store().count_clients().await.unwrap();
    let missing = node.erase_client("NOPE-42", NOV_10_2026).await.unwrap_err();
    assert!(matches!(missing, NodeError::Correction(_)));
    assert!(!missing.to_string().contains("NOPE-42"), "{missing}");
    let wrong_service = EventToDelete {
        client: "C1",
        date: "2026-10-01",
        service: "no such service",
        outcome: None,
        all: false,
    };
    assert!(
        node.delete_event(&wrong_service, NOV_10_2026)
            .await
            .is_err()
    );
    let wrong_date = EventToDelete {
        date: "yesterday",
        service: "methadone",
        ..wrong_service
    };
    assert!(node.delete_event(&wrong_date, NOV_10_2026).await.is_err());
    assert_eq!(node.store().count_events().await.unwrap(), events);
    assert_eq!(node.store().count_clients().await.unwrap(), clients);

    // Erasing a client takes every event of theirs with it, in one go.
    let erased = node.erase_client("C1", NOV_10_2026).await.unwrap();
    assert!(erased.events > 0);
    assert!(erased.periods.contains(&october()));
    assert_eq!(node.store().count_clients().await.unwrap(), clients - 1);
    assert_eq!(
        node.store().count_events().await.unwrap(),
        events - erased.events
    );
    assert!(node.store().client("C1").await.unwrap().is_none());
}
