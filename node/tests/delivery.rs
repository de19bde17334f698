//! Delivery over QUIC to an in-test coordinator: receipts, duplicates, refusals,
//! unreachable coordinators, restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Mode, NOV_10_2026, TestCoordinator, default_form_key, october, queue};
use quietcount_node::deliver::DeliveryError;
use quietcount_node::{EntryState, Node, NodeError, Outcome, QueueOutcome};
use quietcount_protocol::wire::{RefusalCode, Request};
use quietcount_protocol::{Receipt, Sha256Hash};

async fn queued(node: &Node) -> Sha256Hash {
    common::import_fixture_records(node).await;
    match queue(node, october(), NOV_10_2026).await {
        QueueOutcome::Queued { envelope_hash, .. } => envelope_hash,
        other => panic!("{other:?}"),
    }
}

/// State, failed attempts and refusal code of every outbox entry, oldest first.
async fn states(node: &Node) -> Vec<(EntryState, u32, Option<String>)> {
    node.store()
        .outbox_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.state, e.attempts, e.refusal_code))
        .collect()
}

#[tokio::test]
async fn delivers_verifies_and_stores_the_receipt() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let hash = queued(&node).await;
    let summary = node.submit_all(NOV_10_2026).await.unwrap();
    assert_eq!(summary.outcomes, vec![delivered_first_revision(false)]);
    assert!(summary.all_delivered());
    assert_eq!(states(&node).await, vec![(EntryState::Delivered, 0, None)]);
    // What the coordinator received is exactly the committed envelope, in a Submit request.
    let received = coordinator.received_bytes();
    assert_eq!(received.len(), 1);
    let Request::Submit { envelope } = Request::decode(&received[0]).unwrap() else {
        panic!("not a submission")
    };
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
    let shown = common::run_cli(&node.dir().root, &["status"]);
    assert!(shown.contains("#1  2026-10 rev 1"), "{shown}");
    assert_eq!(
        (
            status.receipts[0].sequence,
            status.receipts[0].period,
            status.receipts[0].revision,
            &status.receipts[0].form
        ),
        (1, october(), 1, &default_form_key())
    );
    // Nothing left to send.
    assert!(
        node.submit_all(NOV_10_2026)
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
    node.submit_all(NOV_10_2026).await.unwrap();
    // Simulate a crash between the send and the marking: the entry is pending again and its
    // receipt was never stored.
    node.store().forget_deliveries().await.unwrap();
    let summary = node.submit_all(NOV_10_2026 + 60).await.unwrap();
    assert_eq!(summary.outcomes, vec![delivered_first_revision(true)]);
    assert_eq!(coordinator.stored(), 1, "stored once at the coordinator");
    assert_eq!(node.store().count_receipts().await.unwrap(), 1);
    assert_eq!(states(&node).await, vec![(EntryState::Delivered, 0, None)]);
}

#[tokio::test]
async fn permanent_refusals_are_kept_visible_and_transient_ones_retried() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;

    coordinator.set_mode(Mode::Refuse(RefusalCode::Unavailable));
    let summary = node.submit_all(NOV_10_2026).await.unwrap();
    let [
        Outcome::Retry {
            next_attempt_at, ..
        },
    ] = summary.outcomes.as_slice()
    else {
        panic!("{summary:?}")
    };
    // First retry: between half and all of retry_base_secs (60).
    assert!(
        (NOV_10_2026 + 30..=NOV_10_2026 + 60).contains(next_attempt_at),
        "{next_attempt_at}"
    );
    assert_eq!(states(&node).await, vec![(EntryState::Pending, 1, None)]);
    // Not due yet: `run`'s due-only round does nothing.
    assert!(
        node.submit_due(NOV_10_2026 + 29)
            .await
            .unwrap()
            .outcomes
            .is_empty()
    );

    coordinator.set_mode(Mode::Refuse(RefusalCode::StaleRevision));
    let summary = node.submit_all(NOV_10_2026 + 120).await.unwrap();
    assert_eq!(
        summary.outcomes,
        vec![Outcome::Refused {
            form: default_form_key(),
            period: october(),
            revision: 1,
            code: RefusalCode::StaleRevision,
            message: "test refusal".into(),
        }]
    );
    assert!(!summary.all_delivered());
    assert_eq!(
        states(&node).await,
        vec![(EntryState::Refused, 2, Some("stale_revision".into()))]
    );
    let shown = common::run_cli(&node.dir().root, &["status"]);
    assert!(shown.contains("REFUSED (stale_revision)"), "{shown}");
    // Staff see the coordinator's explanation, not only its code.
    assert!(shown.contains("test refusal"), "{shown}");
    assert!(shown.contains("Refused: 1"), "{shown}");
    let status = node.status().await.unwrap();
    assert_eq!(status.entries[0].state, EntryState::Refused);
    assert_eq!(
        status.entries[0].refusal_code.as_deref(),
        Some("stale_revision")
    );
    assert_eq!(status.refused, 1);
    // A refused entry is not retried.
    assert!(
        node.submit_all(NOV_10_2026 + 10_000)
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
        let summary = node.submit_all(NOV_10_2026).await.unwrap();
        assert!(
            matches!(summary.outcomes.as_slice(), [Outcome::Retry { .. }]),
            "{mode:?}: {summary:?}"
        );
    }
    assert_eq!(states(&node).await, vec![(EntryState::Pending, 2, None)]);
    assert_eq!(node.store().count_receipts().await.unwrap(), 0);
    coordinator.set_mode(Mode::Accept);
    assert!(node.submit_all(NOV_10_2026).await.unwrap().all_delivered());
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
    let dir = node.dir().root.clone();
    drop(node);
    common::set_config(&dir, "coordinator", &format!("\"{}\"", impostor.addr));
    let node = Node::open(&dir).await.unwrap();
    let err = node.submit_all(NOV_10_2026).await.unwrap_err();
    assert!(matches!(err, NodeError::Delivery(_)), "{err}");
    assert!(
        impostor.received_bytes().is_empty(),
        "no report reached the impostor"
    );
    assert_eq!(states(&node).await, vec![(EntryState::Pending, 1, None)]);
}

#[tokio::test]
async fn an_unreachable_coordinator_leaves_reports_pending_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let hash = queued(&node).await;
    let dir = node.dir().root.clone();
    node.close().await;
    drop(node);
    // Nobody listens on this port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    drop(silent);
    common::set_config(&dir, "coordinator", &format!("\"{silent_addr}\""));
    common::set_config(&dir, "connect_timeout_secs", "1");
    let node = Node::open(&dir).await.unwrap();
    let err = node.submit_all(NOV_10_2026).await.unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(err.to_string().contains("stay in the outbox"), "{err}");
    let pending = node.store().pending_entries().await.unwrap();
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
    node.close().await;
    drop(node);

    // Restart, coordinator back: the same envelope is delivered, once.
    common::set_config(&dir, "coordinator", &format!("\"{}\"", coordinator.addr));
    let node = Node::open(&dir).await.unwrap();
    assert_eq!(
        node.status().await.unwrap().entries[0].state,
        EntryState::Pending
    );
    let summary = node.submit_all(NOV_10_2026 + 3600).await.unwrap();
    assert!(summary.all_delivered(), "{summary:?}");
    assert_eq!(coordinator.stored(), 1);
    let Request::Submit { envelope } = Request::decode(&coordinator.received_bytes()[0]).unwrap()
    else {
        panic!("not a submission")
    };
    assert_eq!(Sha256Hash::of(&envelope.0), hash);
}

/// A coordinator that does not accept this site's key: the round ends with the refusal in
/// words and delivery is held. The service's rounds (`submit_due`) no longer try, however much
/// later, and `status` says why and what to do. Once the province has enrolled the key, the
/// service still holds (same key) until staff run `submit`, which delivers and lifts the hold.
#[tokio::test]
async fn a_refused_key_holds_delivery_until_submit_finds_it_accepted() {
    let root = tempfile::tempdir().unwrap();
    let identity = TestCoordinator::identity();
    let dir = common::init_node(root.path(), "127.0.0.1:9".parse().unwrap(), &identity).await;
    let node = Node::open(&dir).await.unwrap();
    let site_key = node.identity().verifying_key();
    node.close().await;
    drop(node);
    let stranger = quietcount_keys::Identity::generate().verifying_key();
    let refusing = TestCoordinator::start(identity.clone(), stranger);
    common::set_config(&dir, "coordinator", &format!("\"{}\"", refusing.addr));
    let node = Node::open(&dir).await.unwrap();
    queued(&node).await;

    let error = node.submit_due(NOV_10_2026).await.unwrap_err();
    assert!(
        matches!(error, NodeError::Delivery(DeliveryError::KeyNotAccepted(_))),
        "{error}"
    );
    let held = node.delivery_held().await.unwrap().expect("delivery held");
    assert!(
        held.message.contains("not (or no longer) enrolled"),
        "{held:?}"
    );
    assert_eq!(held.refused_at, NOV_10_2026);
    // The hold is for this key only: another key is not held.
    let other = quietcount_keys::Identity::generate().fingerprint();
    assert_eq!(node.store().key_refusal(&other).await.unwrap(), None);
    let after_refusal = states(&node).await;
    assert_eq!(after_refusal, vec![(EntryState::Pending, 1, None)]);

    // The service's next rounds, a day and a month later, do not try again.
    for later in [86_400, 30 * 86_400] {
        let error = node.submit_due(NOV_10_2026 + later).await.unwrap_err();
        assert!(
            matches!(error, NodeError::Delivery(DeliveryError::KeyHeld(_))),
            "{error}"
        );
        assert!(
            error.to_string().contains("quietcount-node submit"),
            "{error}"
        );
        assert_eq!(states(&node).await, after_refusal, "no attempt was made");
    }
    let shown = common::run_cli(&dir, &["status"]);
    for needle in [
        "DELIVERY HELD since",
        "not (or no longer) enrolled",
        "run `quietcount-node submit`",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
    node.close().await;
    drop(node);

    // The province enrols the key.
    let accepting = TestCoordinator::start(identity, site_key);
    common::set_config(&dir, "coordinator", &format!("\"{}\"", accepting.addr));
    let node = Node::open(&dir).await.unwrap();
    assert!(matches!(
        node.submit_due(NOV_10_2026 + 31 * 86_400).await,
        Err(NodeError::Delivery(DeliveryError::KeyHeld(_)))
    ));
    assert_eq!(accepting.stored(), 0);
    let summary = node.submit_all(NOV_10_2026 + 31 * 86_400).await.unwrap();
    assert!(summary.all_delivered(), "{summary:?}");
    assert_eq!(accepting.stored(), 1);
    assert_eq!(node.delivery_held().await.unwrap(), None);
    assert!(!common::run_cli(&dir, &["status"]).contains("HELD"));
}

#[tokio::test]
async fn revisions_are_delivered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    queued(&node).await;
    common::import_late_october_event(&node).await;
    queue(&node, october(), NOV_10_2026 + 1).await;
    let summary = node.submit_all(NOV_10_2026 + 2).await.unwrap();
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
    assert!(node.submit_all(NOV_10_2026).await.unwrap().all_delivered());

    // A correction (six more group counselling sessions, enough to change what is
    // published) is refused, e.g. while the province had the site's key revoked by mistake.
    let sessions: String = (20..26)
        .map(|day| format!("C1,2026-10-{day},counselling_group,\n"))
        .collect();
    common::import_text(
        &node,
        "correction.csv",
        &format!("client_code,date,service,outcome\n{sessions}"),
    )
    .await
    .unwrap();
    let QueueOutcome::Queued { revision: 2, .. } = queue(&node, october(), NOV_10_2026 + 1).await
    else {
        panic!("the correction is revision 2")
    };
    coordinator.set_mode(Mode::Refuse(RefusalCode::Revoked));
    assert!(
        !node
            .submit_all(NOV_10_2026 + 2)
            .await
            .unwrap()
            .all_delivered()
    );

    // Building again (same data) is not "unchanged": the refused envelope never reached the
    // coordinator. It is revision 2 again, superseding the delivered revision 1.
    let QueueOutcome::Queued {
        revision,
        envelope_hash,
        ..
    } = queue(&node, october(), NOV_10_2026 + 3).await
    else {
        panic!("a refused report can be built and sent again")
    };
    assert_eq!(revision, 2);
    let envelope = node
        .store()
        .outbox_entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.envelope_hash == envelope_hash)
        .unwrap()
        .envelope;
    let report = quietcount_protocol::open::<quietcount_protocol::SiteReport>(
        &envelope,
        &node.identity().verifying_key(),
    )
    .unwrap()
    .payload;
    assert_eq!(report.supersedes, Some(first));
    coordinator.set_mode(Mode::Accept);
    assert!(
        node.submit_all(NOV_10_2026 + 4)
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(
        states(&node).await,
        vec![
            (EntryState::Delivered, 0, None),
            (EntryState::Refused, 1, Some("revoked".into())),
            (EntryState::Delivered, 0, None),
        ]
    );
}

/// The outcome of delivering revision 1 of October as the coordinator's first report.
fn delivered_first_revision(duplicate: bool) -> Outcome {
    Outcome::Delivered {
        form: default_form_key(),
        period: october(),
        revision: 1,
        sequence: 1,
        duplicate,
    }
}

/// A refused report built again within the same second is byte-for-byte the same envelope: it
/// goes back to pending (sent afresh) rather than failing on the outbox's unique envelope hash.
#[tokio::test]
async fn building_again_in_the_same_second_after_a_refusal_sends_the_same_envelope_afresh() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    let first = queued(&node).await;
    coordinator.set_mode(Mode::Refuse(RefusalCode::PolicyTooWeak));
    assert!(!node.submit_all(NOV_10_2026).await.unwrap().all_delivered());
    assert_eq!(
        states(&node).await,
        vec![(EntryState::Refused, 1, Some("policy_too_weak".into()))]
    );
    let QueueOutcome::Queued {
        revision,
        envelope_hash,
        ..
    } = queue(&node, october(), NOV_10_2026).await
    else {
        panic!("built again")
    };
    assert_eq!((revision, envelope_hash), (1, first));
    assert_eq!(states(&node).await, vec![(EntryState::Pending, 0, None)]);
    coordinator.set_mode(Mode::Accept);
    assert!(node.submit_all(NOV_10_2026).await.unwrap().all_delivered());
    assert_eq!(states(&node).await, vec![(EntryState::Delivered, 0, None)]);
}
