//! Approving a report before it is queued. With four eyes (the default), the first staff
//! member's approval waits in the store, bound to the report's content; a second, different
//! member's approval of the same content queues it. A change to the records in between makes
//! the waiting approval stale, and the next approval starts again. `approve_alone` in
//! `config.toml` lets one person approve (single-staff sites).

use quietcount_protocol::{Period, UnixTime};

use crate::error::NodeError;
use crate::store::PendingApproval;
use crate::{FormKey, Node, OpenPeriod, QueueOutcome, report};

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// Recorded; a second staff member must confirm before the report is queued.
    Waiting {
        /// Who approved first.
        approved_by: String,
    },
    /// The same staff member approved again: a different one must confirm.
    SecondPersonNeeded,
    /// Approved (by two people, or by one where allowed) and handed to the outbox.
    Queued(QueueOutcome),
}

impl Node {
    /// The approval waiting for a second staff member for `form` and `period`, if any.
    pub async fn pending_approval(
        &self,
        form: &str,
        period: Period,
    ) -> Result<Option<PendingApproval>, NodeError> {
        let key = FormKey::of(self.form(form)?);
        Ok(self.store.pending_approval(&key, period).await?)
    }

    /// `staff` approves the report of `form` for `period` as it would leave now.
    pub async fn approve_report(
        &self,
        form: &str,
        period: Period,
        staff: &str,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<ApprovalOutcome, NodeError> {
        if self.config.approve_alone {
            tracing::info!(staff = %staff, %period, "report approved (one person allowed)");
            let outcome = self.queue_report(form, period, now, open).await?;
            return Ok(ApprovalOutcome::Queued(outcome));
        }
        let preview = self.preview_report(form, period, now, open).await?;
        let content_hash = report::content_hash(&preview.report)?;
        let waiting = self.store.pending_approval(&preview.form, period).await?;
        match waiting {
            Some(first) if first.content_hash == content_hash && first.approved_by == staff => {
                Ok(ApprovalOutcome::SecondPersonNeeded)
            }
            Some(first) if first.content_hash == content_hash => {
                tracing::info!(first = %first.approved_by, second = %staff, %period, "report approved by two staff members");
                let outcome = self.queue_report(form, period, now, open).await?;
                self.store
                    .clear_pending_approval(&preview.form, period)
                    .await?;
                Ok(ApprovalOutcome::Queued(outcome))
            }
            _ => {
                self.store
                    .set_pending_approval(&PendingApproval {
                        form: preview.form.clone(),
                        period,
                        content_hash,
                        approved_by: staff.to_owned(),
                        approved_at: now,
                    })
                    .await?;
                tracing::info!(staff = %staff, %period, "report approved; waiting for a second staff member");
                Ok(ApprovalOutcome::Waiting {
                    approved_by: staff.to_owned(),
                })
            }
        }
    }
}

/// What a report about to be approved changes in the latest revision sent for its form and
/// period (a correction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesSinceSent {
    /// The revision last sent.
    pub revision: u32,
    /// The cells whose published value differs: (indicator index, table index, cell index,
    /// before, after).
    pub cells: Vec<(
        usize,
        usize,
        usize,
        quietcount_protocol::Cell,
        quietcount_protocol::Cell,
    )>,
}

impl Node {
    /// The cells of `preview` that differ from the latest revision of its form and period in
    /// the outbox, if there is one (`None`: nothing sent yet).
    pub async fn changes_since_sent(
        &self,
        preview: &crate::Preview,
    ) -> Result<Option<ChangesSinceSent>, NodeError> {
        let period = preview.report.period;
        let Some(latest) = self
            .store
            .latest_outbox_entry(&preview.form, period)
            .await?
        else {
            return Ok(None);
        };
        let sent: quietcount_protocol::SiteReport =
            quietcount_protocol::envelope::open(&latest.envelope, &self.identity.verifying_key())
                .map_err(|e| {
                    NodeError::Store(crate::StoreError::CorruptOutbox {
                        id: latest.id,
                        problem: e.to_string(),
                    })
                })?
                .payload;
        let mut cells = Vec::new();
        for (i, (now, before)) in preview
            .report
            .indicators
            .iter()
            .zip(&sent.indicators)
            .enumerate()
        {
            for (j, (now, before)) in now.tables.iter().zip(&before.tables).enumerate() {
                for (k, (now, before)) in now.cells.iter().zip(&before.cells).enumerate() {
                    if now != before {
                        cells.push((i, j, k, *before, *now));
                    }
                }
            }
        }
        Ok(Some(ChangesSinceSent {
            revision: latest.revision,
            cells,
        }))
    }
}
