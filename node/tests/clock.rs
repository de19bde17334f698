//! Clock sanity, with the node's time injected (the machine's clock is not touched) and a
//! coordinator that tells its own: a site computer years behind or ahead says so in plain
//! words in `status`, and does not build reports the coordinator's clock says are not due.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOV_10_2026, october, queue};
use quietcount_node::{NodeError, OpenPeriod, QueueOutcome};
use quietcount_protocol::Period;

const YEAR: u64 = 365 * 86_400;

#[tokio::test]
async fn a_computer_years_ahead_is_told_and_signs_no_future_month() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    common::import_fixture_records(&node).await;
    coordinator.set_time(NOV_10_2026);
    let ahead = NOV_10_2026 + 3 * YEAR;
    let QueueOutcome::Queued { .. } = queue(&node, october(), ahead).await else {
        panic!("October is over by both clocks")
    };
    assert!(node.submit_all(ahead).await.unwrap().all_delivered());
    let check = node.status().await.unwrap().clock.unwrap();
    assert!(check.is_off());
    let shown = common::run_cli(&node.dir().root, &["status"]);
    assert!(shown.contains("CLOCK WRONG"), "{shown}");
    assert!(shown.contains("days ahead of the coordinator's"), "{shown}");
    assert!(
        shown.contains("Set this computer's date and time"),
        "{shown}"
    );
    assert!(!shown.contains("NotValidYet"), "{shown}");

    // A month over by this computer's clock, not by the coordinator's: refused, plainly.
    let future = Period::parse("2028-06").unwrap();
    let refused = node
        .queue_report(common::DEFAULT_FORM, future, ahead, OpenPeriod::Refuse)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            NodeError::ClockWrong {
                over_here: true,
                ..
            }
        ),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("not over yet by the coordinator's clock"),
        "{message}"
    );
    assert!(message.contains("ahead of"), "{message}");
    assert_eq!(node.store().outbox_entries().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_computer_years_behind_is_told_why_a_closed_month_cannot_be_built() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    common::import_fixture_records(&node).await;
    coordinator.set_time(NOV_10_2026);
    // Queued while the clock was right; delivered after it went years back.
    let QueueOutcome::Queued { .. } = queue(&node, october(), NOV_10_2026).await else {
        panic!("queued")
    };
    let behind = NOV_10_2026 - 2 * YEAR;
    assert!(node.submit_all(behind).await.unwrap().all_delivered());
    let refused = node
        .queue_report(
            common::DEFAULT_FORM,
            Period::parse("2026-09").unwrap(),
            behind,
            OpenPeriod::Refuse,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            NodeError::ClockWrong {
                over_here: false,
                ..
            }
        ),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("is over, but not by this computer's clock"),
        "{message}"
    );
    assert!(
        message.contains("days behind the coordinator's"),
        "{message}"
    );
    assert!(!message.contains("--allow-open-period"), "{message}");
    let shown = common::run_cli(&node.dir().root, &["status"]);
    assert!(shown.contains("CLOCK WRONG"), "{shown}");
    assert!(shown.contains("behind the coordinator's"), "{shown}");
}

#[tokio::test]
async fn a_few_minutes_apart_is_not_a_wrong_clock() {
    let root = tempfile::tempdir().unwrap();
    let (node, coordinator) = common::node_with_coordinator(root.path()).await;
    common::import_fixture_records(&node).await;
    coordinator.set_time(NOV_10_2026 + 120);
    queue(&node, october(), NOV_10_2026).await;
    assert!(node.submit_all(NOV_10_2026).await.unwrap().all_delivered());
    let check = node.status().await.unwrap().clock.unwrap();
    assert_eq!(check.behind_secs(), 120);
    assert!(!check.is_off());
    let shown = common::run_cli(&node.dir().root, &["status"]);
    assert!(!shown.contains("CLOCK"), "{shown}");
    // An open month is refused as before, with the usual words.
    let refused = node
        .queue_report(
            common::DEFAULT_FORM,
            Period::parse("2026-11").unwrap(),
            NOV_10_2026,
            OpenPeriod::Refuse,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, NodeError::PeriodNotOver { .. }),
        "{refused}"
    );
}
