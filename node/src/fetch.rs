//! Fetching this site's own reports back from the coordinator (`quietcount-node fetch`): a
//! node restored from an old backup, or set up again, learns every revision the coordinator
//! already holds for a form and period, with the receipts it signed. Each one is checked (the
//! receipt against the pinned coordinator keys and naming this exact envelope; the envelope
//! signed by this site's key, for this site, form, period and revision) and recorded as
//! delivered. The next revision is then built on the coordinator's head, and audited jointly
//! with everything already published (its published tables are in the fetched envelopes).
//!
//! Only reports are fetched, never records: they are this site's own signed, suppressed tables.

use std::time::Duration;

use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{
    ChainHead, FormKey, Period, Receipt, Sha256Hash, SiteReport, UnixTime, fingerprint_of, open,
    open_with,
};

use crate::error::NodeError;
use crate::outbox::Transport;
use crate::{Node, deliver, report};

/// One revision the coordinator holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRevision {
    /// The revision.
    pub revision: u32,
    /// The coordinator's sequence number (from its receipt).
    pub sequence: u64,
    /// When the coordinator received it (from its receipt).
    pub received_at: UnixTime,
    /// What happened to it here.
    pub outcome: FetchOutcome,
}

/// What `fetch` did with one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// This node already had it.
    AlreadyKnown,
    /// Recorded as delivered (this node had lost it).
    Recorded,
    /// Not recorded, and why (signed by another key of this site, e.g. before the laptop was
    /// replaced; or it failed a check).
    Skipped(String),
}

/// What `fetch` found for one form and period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSummary {
    /// The form.
    pub form: FormKey,
    /// The period.
    pub period: Period,
    /// Every revision the coordinator holds, oldest first (empty when it holds none).
    pub revisions: Vec<FetchedRevision>,
}

/// One exchange of a fetch, decoded: the stored envelope and receipt, or that none is stored.
enum Answer {
    Stored {
        envelope: Vec<u8>,
        receipt: Vec<u8>,
        latest: u32,
    },
    NotStored,
}

async fn ask<T: Transport>(
    transport: &mut T,
    form: &FormKey,
    period: Period,
    revision: Option<u32>,
) -> Result<Answer, NodeError> {
    let request = Request::Fetch {
        form_id: form.id.clone(),
        form_version: form.version,
        period,
        revision,
    }
    .encode()?;
    let bytes = transport
        .exchange(request)
        .await
        .map_err(NodeError::Fetch)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(NodeError::Fetch("response too large".into()));
    }
    match Response::decode(&bytes)
        .map_err(|e| NodeError::Fetch(format!("undecodable response: {e}")))?
    {
        Response::Stored {
            envelope: Blob(envelope),
            receipt: Blob(receipt),
            latest,
            ..
        } => Ok(Answer::Stored {
            envelope,
            receipt,
            latest,
        }),
        Response::Refused {
            code: RefusalCode::NotStored,
            ..
        } => Ok(Answer::NotStored),
        Response::Refused { code, message, .. } => Err(NodeError::Fetch(format!(
            "the coordinator refused: {code}: {message}"
        ))),
        Response::Accepted { .. } => Err(NodeError::Fetch(
            "the coordinator answered a fetch with a receipt".into(),
        )),
    }
}

impl Node {
    /// Fetches every revision the coordinator holds of this site's report for `form_id` (the
    /// one form when `None`) and `period`, checks each, and records those this node lacks as
    /// delivered; the coordinator's latest becomes the head the next revision builds on.
    pub async fn fetch_own(
        &self,
        period: Period,
        form_id: Option<&str>,
        now: UnixTime,
    ) -> Result<FetchSummary, NodeError> {
        let form = match form_id {
            Some(id) => self.form(id)?,
            None => match self.forms() {
                [only] => only,
                _ => {
                    return Err(NodeError::Fetch(
                        "this site reports several forms: pass --form".into(),
                    ));
                }
            },
        };
        let form = FormKey::of(form);
        let pinned: Vec<_> = self.coordinator_keys().iter().map(fingerprint_of).collect();
        let mut transport = deliver::QuicTransport::connect(
            &self.config().coordinator,
            self.identity(),
            &pinned,
            Duration::from_secs(self.config().connect_timeout_secs),
        )
        .await?;
        let result = self.fetch_over(&mut transport, &form, period, now).await;
        transport.close().await;
        result
    }

    /// [`Node::fetch_own`] over an open transport.
    pub async fn fetch_over<T: Transport>(
        &self,
        transport: &mut T,
        form: &FormKey,
        period: Period,
        now: UnixTime,
    ) -> Result<FetchSummary, NodeError> {
        let mut summary = FetchSummary {
            form: form.clone(),
            period,
            revisions: Vec::new(),
        };
        let latest = match ask(transport, form, period, None).await? {
            Answer::NotStored => return Ok(summary),
            Answer::Stored { latest, .. } => latest,
        };
        let mut head = None;
        for revision in 1..=latest {
            let (envelope, receipt) = match ask(transport, form, period, Some(revision)).await? {
                Answer::Stored {
                    envelope, receipt, ..
                } => (envelope, receipt),
                Answer::NotStored => continue,
            };
            let fetched = self
                .check_and_record(form, period, revision, &envelope, &receipt, now)
                .await?;
            // The receipt named this exact envelope: it is the coordinator's head so far.
            head = Some(ChainHead {
                revision,
                envelope_hash: Sha256Hash::of(&envelope),
            });
            summary.revisions.push(fetched);
        }
        if let Some(head) = head {
            self.store()
                .record_coordinator_head(form, period, &head, now)
                .await?;
        }
        Ok(summary)
    }

    async fn check_and_record(
        &self,
        form: &FormKey,
        period: Period,
        revision: u32,
        envelope: &[u8],
        receipt_bytes: &[u8],
        now: UnixTime,
    ) -> Result<FetchedRevision, NodeError> {
        let receipt = open_with::<Receipt>(receipt_bytes, |kid| {
            self.coordinator_keys()
                .iter()
                .find(|k| fingerprint_of(k) == *kid)
                .copied()
        })
        .map_err(|e| {
            NodeError::Fetch(format!(
                "revision {revision}: the receipt does not verify against the pinned coordinator keys: {e}"
            ))
        })?
        .payload;
        let hash = Sha256Hash::of(envelope);
        if receipt.report != hash
            || receipt.site != self.config().site
            || receipt.period != period
            || receipt.revision != revision
        {
            return Err(NodeError::Fetch(format!(
                "revision {revision}: the receipt names another report"
            )));
        }
        let fetched = |outcome| FetchedRevision {
            revision,
            sequence: receipt.sequence,
            received_at: receipt.received_at,
            outcome,
        };
        let report = match open::<SiteReport>(envelope, &self.identity().verifying_key()) {
            Ok(opened) => opened.payload,
            Err(_) => {
                return Ok(fetched(FetchOutcome::Skipped(
                    "signed by another key of this site (before a key change?)".into(),
                )));
            }
        };
        if report.site != self.config().site
            || report.period != period
            || report.revision != revision
            || report.form.key() != *form
        {
            return Ok(fetched(FetchOutcome::Skipped(
                "its content is not this site's report for that form, period and revision".into(),
            )));
        }
        let content_hash = report::content_hash(&report)?;
        let recorded = self
            .store()
            .record_fetched(
                form,
                period,
                revision,
                envelope,
                content_hash,
                receipt_bytes,
                &receipt,
                now,
            )
            .await?;
        tracing::info!(%form, %period, revision, recorded, "stored report fetched back from the coordinator");
        Ok(fetched(if recorded {
            FetchOutcome::Recorded
        } else {
            FetchOutcome::AlreadyKnown
        }))
    }
}
