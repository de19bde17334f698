//! `run`: the background service. It wakes up on a timer, builds the report of every
//! configured form for the period that closed once its `report_day` has come (only with
//! `scheduled_reports = true`; by default reports wait for an approval in the web app), delivers what
//! is due (unless delivery is held because the coordinator refused this site's key: see
//! [`Node::delivery_held`]), and stops cleanly on SIGTERM or SIGINT (the outbox keeps whatever was not
//! delivered; the signal future is `quietcount_service::shutdown::shutdown_signal`).

use std::future::Future;
use std::time::Duration;

use quietcount_protocol::{Period, PeriodType, UnixTime};

use crate::error::NodeError;
use crate::{FormKey, Node, OpenPeriod, QueueOutcome};
use quietcount_service::clock::Clock;

/// The period whose report is due at `now`: the latest closed period, once `report_day - 1`
/// days have passed since it ended.
pub fn scheduled_period(period_type: PeriodType, report_day: u32, now: UnixTime) -> Option<Period> {
    let period = Period::latest_closed(period_type, now)?;
    let due = period.end() + u64::from(report_day.saturating_sub(1)) * 86_400;
    (now >= due).then_some(period)
}

/// One pass of the service: build the scheduled report of every configured form whose report
/// for that period is not built yet, then deliver whatever is due. Failures are logged; the
/// next pass tries again.
pub async fn tick(node: &Node, now: UnixTime) -> Result<(), NodeError> {
    // With `scheduled_reports = false`, reports leave only once approved in the web app.
    let scheduled = node.config().scheduled_reports;
    for form in node.forms().iter().filter(|_| scheduled) {
        let Some(period) = scheduled_period(form.period, node.config().report_day, now) else {
            continue;
        };
        let key = FormKey::of(form);
        if node
            .store()
            .latest_outbox_entry(&key, period)
            .await?
            .is_none()
        {
            tracing::info!(form = %key, %period, "building the scheduled report");
            match node
                .queue_report(&form.id, period, now, OpenPeriod::Refuse)
                .await?
            {
                QueueOutcome::Queued { revision, .. } => {
                    tracing::info!(form = %key, %period, revision, "scheduled report queued");
                }
                QueueOutcome::Unchanged { revision, .. } => {
                    tracing::info!(form = %key, %period, revision, "scheduled report unchanged");
                }
                QueueOutcome::Held { changed, .. } => {
                    tracing::warn!(form = %key, %period, changed, "scheduled correction held: it would single people out together with the report already sent");
                }
            }
        }
    }
    match node.submit_due(now).await {
        Ok(summary) if summary.outcomes.is_empty() => {}
        Ok(summary) => tracing::info!(
            tried = summary.outcomes.len(),
            all_delivered = summary.all_delivered(),
            "delivery round"
        ),
        Err(error) => tracing::warn!(%error, "delivery round failed"),
    }
    Ok(())
}

/// Runs until `shutdown` completes.
pub async fn run(
    node: &Node,
    clock: &dyn Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    tokio::pin!(shutdown);
    tracing::info!(site = %node.config().site, report_day = node.config().report_day, "service started");
    loop {
        let now = clock.now();
        // A signal also interrupts a step in flight (say, a slow connection attempt). That is
        // safe: transactions roll back, and a report sent but not yet marked delivered is
        // resubmitted later and answered with the same receipt.
        tokio::select! {
            result = tick(node, now) => {
                if let Err(error) = result {
                    tracing::error!(%error, "service step failed");
                }
            }
            () = &mut shutdown => break,
        }
        let mut wait = node.config().check_interval_secs;
        // While delivery is held (the coordinator refused this site's key), due reports are
        // not a reason to wake up early: nothing will be sent until the key changes.
        if node.delivery_held().await?.is_none() {
            if let Some(due) = node.store().next_due().await? {
                wait = wait.min(due.saturating_sub(clock.now()).max(1));
            }
        }
        tracing::debug!(seconds = wait, "sleeping");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(wait)) => {}
            () = &mut shutdown => break,
        }
    }
    tracing::info!("service stopping");
    node.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_scheduled_from_report_day_after_the_period_closes() {
        let oct = Period::parse("2026-10").unwrap();
        let nov_1 = oct.end();
        assert_eq!(scheduled_period(PeriodType::Month, 5, nov_1), None);
        assert_eq!(
            scheduled_period(PeriodType::Month, 5, nov_1 + 4 * 86_400 - 1),
            None
        );
        assert_eq!(
            scheduled_period(PeriodType::Month, 5, nov_1 + 4 * 86_400),
            Some(oct)
        );
        assert_eq!(scheduled_period(PeriodType::Month, 1, nov_1), Some(oct));
        assert_eq!(
            scheduled_period(PeriodType::Month, 5, nov_1 + 29 * 86_400),
            Some(oct)
        );
    }
}
