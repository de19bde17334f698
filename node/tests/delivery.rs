//! Delivery over QUIC to an in-test coordinator: receipts, duplicates, refusals,
//! unreachable coordinators, restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, NOV_10_2026, TestCoordinator, october};
use quietcount_node::{EntryState, Node, NodeError, Outcome, ReportOutcome};
use quietcount_protocol::wire::{RefusalCode, Request};
use quietcount_protocol::{Receipt, Sha256Hash};

async fn queued(node: &Node) -> Sha256Hash {
    node.import(&common::data("fixture_clients.csv"), false)
        .await
        .unwrap();
    node.import(&common::data("fixture_services.csv"), false)
        .await
        .unwrap();
    match node
        .report(october(), false, false, NOV_10_2026)
        .await
        .unwrap()
    {
        ReportOutcome::Queued { envelope_hash, .. } => envelope_hash,
        other => panic!("{other}"),
    }
}

async fn states(node: &Node) -> Vec<(String, i64, Option<String>)> {
    sqlx::query_as("SELECT state, attempts, refusal_code FROM outbox ORDER BY id")
        .fetch_all(node.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn delivers_verifies_and_stores_the_receipt() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let hash = queued(&node).await;
    let summary = node.submit(NOV_10_2026, false).await.unwrap();
    assert_eq!(
        summary.outcomes,
        vec![Outcome::Delivered {
            period: october(),
            revision: 1,
            sequence: 1,
            duplicate: false
        }]
    );
    assert!(summary.all_delivered());
    assert_eq!(states(&node).await, vec![("delivered".into(), 0, None)]);
    // What the coordinator received is exactly the committed envelope, in a Submit request.
    let received = coordinator.received_bytes();
    assert_eq!(received.len(), 1);
    let Request::Submit { envelope } = Request::decode(&received[0]).unwrap();
    assert_eq!(Sha256Hash::of(&envelope.0), hash);
    // The stored receipt verifies against the coordinator key and names the envelope.
    let status = node.status().await.unwrap();
    assert_eq!(status.receipts.len(), 1);
    let receipt = quietcount_protocol::open::<Receipt>(
        &status.receipts[0].receipt,
        &coordinator.identity.verifying_key(),
    )
    .unwrap();
    assert_eq!(receipt.payload.report, hash);
    assert!(status.to_string().contains("#1  2026-10 rev 1"), "{status}");
    // Nothing left to send.
    assert!(
        node.submit(NOV_10_2026, false)
            .await
            .unwrap()
            .outcomes
            .is_empty()
    );
    assert_eq!(coordinator.received_bytes().len(), 1);
}

#[tokio::test]
async fn a_crash_after_sending_leads_to_a_harmless_resubmission() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;
    node.submit(NOV_10_2026, false).await.unwrap();
    // Simulate a crash between the send and the marking: the entry is pending again and its
    // receipt was never stored.
    sqlx::query("DELETE FROM receipts")
        .execute(node.db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET state = 'pending'")
        .execute(node.db.pool())
        .await
        .unwrap();
    let summary = node.submit(NOV_10_2026 + 60, false).await.unwrap();
    assert_eq!(
        summary.outcomes,
        vec![Outcome::Delivered {
            period: october(),
            revision: 1,
            sequence: 1,
            duplicate: true
        }]
    );
    assert_eq!(coordinator.stored(), 1, "stored once at the coordinator");
    let receipts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts")
        .fetch_one(node.db.pool())
        .await
        .unwrap();
    assert_eq!(receipts, 1);
    assert_eq!(states(&node).await, vec![("delivered".into(), 0, None)]);
}

#[tokio::test]
async fn permanent_refusals_are_kept_visible_and_transient_ones_retried() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;

    coordinator.set_mode(Mode::Refuse(RefusalCode::Unavailable));
    let summary = node.submit(NOV_10_2026, false).await.unwrap();
    let [
        Outcome::Retry {
            next_attempt_at, ..
        },
    ] = summary.outcomes.as_slice()
    else {
        panic!("{summary}")
    };
    // First retry: between half and all of retry_base_secs (60).
    assert!(
        (NOV_10_2026 + 30..=NOV_10_2026 + 60).contains(next_attempt_at),
        "{next_attempt_at}"
    );
    assert_eq!(states(&node).await, vec![("pending".into(), 1, None)]);
    // Not due yet: `run`'s due-only round does nothing.
    assert!(
        node.submit(NOV_10_2026 + 29, true)
            .await
            .unwrap()
            .outcomes
            .is_empty()
    );

    coordinator.set_mode(Mode::Refuse(RefusalCode::StaleRevision));
    let summary = node.submit(NOV_10_2026 + 120, false).await.unwrap();
    assert_eq!(
        summary.outcomes,
        vec![Outcome::Refused {
            period: october(),
            revision: 1,
            code: RefusalCode::StaleRevision
        }]
    );
    assert!(!summary.all_delivered());
    assert_eq!(
        states(&node).await,
        vec![("refused".into(), 2, Some("stale_revision".into()))]
    );
    let status = node.status().await.unwrap().to_string();
    assert!(status.contains("REFUSED (stale_revision)"), "{status}");
    assert!(status.contains("Refused: 1"), "{status}");
    // A refused entry is not retried.
    assert!(
        node.submit(NOV_10_2026 + 10_000, false)
            .await
            .unwrap()
            .outcomes
            .is_empty()
    );
}

#[tokio::test]
async fn receipts_that_do_not_verify_or_name_another_report_leave_the_entry_pending() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;
    for mode in [Mode::ForgedReceipt, Mode::WrongReceipt] {
        coordinator.set_mode(mode);
        let summary = node.submit(NOV_10_2026, false).await.unwrap();
        assert!(
            matches!(summary.outcomes.as_slice(), [Outcome::Retry { .. }]),
            "{mode:?}: {summary}"
        );
    }
    assert_eq!(states(&node).await, vec![("pending".into(), 2, None)]);
    let receipts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts")
        .fetch_one(node.db.pool())
        .await
        .unwrap();
    assert_eq!(receipts, 0);
    coordinator.set_mode(Mode::Accept);
    assert!(
        node.submit(NOV_10_2026, false)
            .await
            .unwrap()
            .all_delivered()
    );
}

#[tokio::test]
async fn an_unpinned_coordinator_is_never_spoken_to() {
    let root = tempfile::tempdir().unwrap();
    let (node, _coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;
    // An impostor with another key, at another address.
    let impostor = TestCoordinator::start(
        quietcount_keys::Identity::from_seed([5; 32]),
        node.identity().verifying_key(),
    );
    let dir = node.dir.root.clone();
    drop(node);
    common::set_config(&dir, "coordinator", &format!("\"{}\"", impostor.addr));
    let node = Node::open(&dir).await.unwrap();
    let err = node.submit(NOV_10_2026, false).await.unwrap_err();
    assert!(matches!(err, NodeError::Delivery(_)), "{err}");
    assert!(
        impostor.received_bytes().is_empty(),
        "no report reached the impostor"
    );
    assert_eq!(states(&node).await, vec![("pending".into(), 1, None)]);
}

#[tokio::test]
async fn an_unreachable_coordinator_leaves_reports_pending_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let hash = queued(&node).await;
    let dir = node.dir.root.clone();
    node.db.close().await;
    drop(node);
    // Nobody listens on this port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    drop(silent);
    common::set_config(&dir, "coordinator", &format!("\"{silent_addr}\""));
    common::set_config(&dir, "connect_timeout_secs", "1");
    let node = Node::open(&dir).await.unwrap();
    let err = node.submit(NOV_10_2026, false).await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(err.to_string().contains("stay in the outbox"), "{err}");
    let pending = quietcount_node::outbox::pending(&node.db, None)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].envelope_hash, hash);
    assert_eq!(pending[0].attempts, 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable")
    );
    node.db.close().await;
    drop(node);

    // Restart, coordinator back: the same envelope is delivered, once.
    common::set_config(&dir, "coordinator", &format!("\"{}\"", coordinator.addr));
    let node = Node::open(&dir).await.unwrap();
    assert_eq!(
        node.status().await.unwrap().entries[0].state,
        EntryState::Pending
    );
    let summary = node.submit(NOV_10_2026 + 3600, false).await.unwrap();
    assert!(summary.all_delivered(), "{summary}");
    assert_eq!(coordinator.stored(), 1);
    let Request::Submit { envelope } = Request::decode(&coordinator.received_bytes()[0]).unwrap();
    assert_eq!(Sha256Hash::of(&envelope.0), hash);
}

#[tokio::test]
async fn revisions_are_delivered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;
    let late = root.path().join("late.csv");
    std::fs::write(
        &late,
        "client_code,date,service,outcome\nC5,2026-10-30,psychosocial,\n",
    )
    .unwrap();
    node.import(&late, false).await.unwrap();
    node.report(october(), false, false, NOV_10_2026 + 1)
        .await
        .unwrap();
    let summary = node.submit(NOV_10_2026 + 2, false).await.unwrap();
    let revisions: Vec<u32> = summary
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Delivered { revision, .. } => *revision,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(revisions, vec![1, 2]);
    assert_eq!(coordinator.stored(), 2);
}

#[tokio::test]
async fn after_a_permanent_refusal_the_next_report_continues_the_chain_the_coordinator_holds() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let first = queued(&node).await;
    assert!(
        node.submit(NOV_10_2026, false)
            .await
            .unwrap()
            .all_delivered()
    );

    // A correction (one more counselling session) is refused, e.g. while the province had the
    // site's key revoked by mistake.
    sqlx::query("INSERT INTO events (client_code, date, service) SELECT client_code, '2026-10-20', 'counselling_group' FROM clients LIMIT 1")
        .execute(node.db.pool())
        .await
        .unwrap();
    let ReportOutcome::Queued { revision: 2, .. } = node
        .report(october(), false, false, NOV_10_2026 + 1)
        .await
        .unwrap()
    else {
        panic!("the correction is revision 2")
    };
    coordinator.set_mode(Mode::Refuse(RefusalCode::Revoked));
    assert!(
        !node
            .submit(NOV_10_2026 + 2, false)
            .await
            .unwrap()
            .all_delivered()
    );

    // Building again (same data) is not "unchanged": the refused envelope never reached the
    // coordinator. It is revision 2 again, superseding the delivered revision 1.
    let ReportOutcome::Queued {
        revision,
        envelope_hash,
        ..
    } = node
        .report(october(), false, false, NOV_10_2026 + 3)
        .await
        .unwrap()
    else {
        panic!("a refused report can be built and sent again")
    };
    assert_eq!(revision, 2);
    let envelope: Vec<u8> =
        sqlx::query_scalar("SELECT envelope FROM outbox WHERE envelope_hash = ?1")
            .bind(envelope_hash.0.to_vec())
            .fetch_one(node.db.pool())
            .await
            .unwrap();
    let report = quietcount_protocol::open::<quietcount_protocol::SiteReport>(
        &envelope,
        &node.identity().verifying_key(),
    )
    .unwrap()
    .payload;
    assert_eq!(report.supersedes, Some(first));
    coordinator.set_mode(Mode::Accept);
    assert!(
        node.submit(NOV_10_2026 + 4, false)
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(
        states(&node).await,
        vec![
            ("delivered".into(), 0, None),
            ("refused".into(), 1, Some("revoked".into())),
            ("delivered".into(), 0, None),
        ]
    );
}
