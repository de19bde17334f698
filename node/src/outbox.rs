//! The outbox: signed reports committed to the database before any attempt to send them,
//! their delivery state, the coordinator's receipts, and the retry schedule.
//!
//! The entries themselves live in the store ([`crate::store::outbox`]); this module holds
//! the delivery logic.
//!
//! An entry is `pending` until a verified receipt naming its envelope is stored (then
//! `delivered`, in the same transaction) or the coordinator refuses it for good (`refused`,
//! with the code, shown by `status`). A crash between sending and marking leaves it pending;
//! the resubmission gets the same receipt back, so nothing is lost or counted twice.

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{
    ChainHead, Period, Receipt, SiteId, SiteReport, UnixTime, content_hash, fingerprint_of,
};

use crate::clock_check::ClockCheck;
use crate::error::NodeError;
use crate::store::{FormKey, OutboxEntry, Store};

/// Exponential backoff with jitter, as a pure function of the attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, seconds.
    pub base_secs: u64,
    /// Longest delay, seconds.
    pub max_secs: u64,
}

impl Backoff {
    /// The delay before the next attempt after `failures` consecutive failures (at least 1),
    /// given `jitter` in `[0, 1)`: the capped exponential delay `d`, drawn from `[d/2, d)` so
    /// that sites that failed together do not retry together.
    pub fn delay_secs(&self, failures: u32, jitter: f64) -> u64 {
        let exponent = failures.saturating_sub(1).min(40);
        let capped = self
            .base_secs
            .saturating_mul(1u64 << exponent)
            .min(self.max_secs);
        let jitter = jitter.clamp(0.0, 1.0);
        let half = capped / 2;
        half + ((capped - half) as f64 * jitter) as u64
    }
}

/// The wire name of a refusal code (as the coordinator spells it).
pub fn refusal_code_name(code: RefusalCode) -> String {
    quietcount_protocol::cbor::to_canonical(&code)
        .ok()
        .and_then(|bytes| quietcount_protocol::cbor::from_canonical::<String>(&bytes).ok())
        .unwrap_or_else(|| code.to_string())
}

/// Something that carries one request to the coordinator and brings back its response.
pub trait Transport {
    /// Sends `request` (an encoded [`Request`]) and returns the raw response bytes.
    fn exchange(
        &mut self,
        request: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, String>>;
}

/// What happened to one entry in a delivery round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Receipt verified and stored.
    Delivered {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// The coordinator's sequence number.
        sequence: u64,
        /// The coordinator already held it.
        duplicate: bool,
    },
    /// Refused for good.
    Refused {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// Why.
        code: RefusalCode,
        /// The coordinator's explanation (what in the report, never who).
        message: String,
    },
    /// Will be retried.
    Retry {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// What failed.
        error: String,
        /// When the next attempt is due.
        next_attempt_at: UnixTime,
    },
}

/// Everything a delivery round needs besides the transport.
#[derive(Debug)]
pub struct DeliveryContext<'a> {
    /// The store.
    pub store: &'a Store,
    /// This site.
    pub site: &'a SiteId,
    /// Pinned coordinator keys: receipts must be signed by one of them.
    pub coordinator_keys: &'a [VerifyingKey],
    /// This site's own public key: a stored envelope the coordinator hands back in place of a
    /// re-signed one must be signed by it.
    pub site_key: VerifyingKey,
    /// Retry schedule.
    pub backoff: Backoff,
}

/// Delivers one entry over `transport` and records the outcome.
pub async fn deliver_entry<T: Transport>(
    context: &DeliveryContext<'_>,
    transport: &mut T,
    entry: &OutboxEntry,
    now: UnixTime,
    jitter: f64,
) -> Result<Outcome, NodeError> {
    let request = Request::Submit {
        envelope: Blob(entry.envelope.clone()),
    }
    .encode()?;
    let result = match transport.exchange(request).await {
        Ok(bytes) => interpret_response(context, entry, &bytes),
        Err(error) => Err(error),
    };
    let result = match result {
        Ok((verdict, coordinator_time)) => {
            if let Some(coordinator_time) = coordinator_time {
                note_clock(context, now, coordinator_time).await?;
            }
            Ok(verdict)
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(Verdict::Accepted {
            receipt_bytes,
            receipt,
            duplicate,
            adopted,
        }) => {
            context
                .store
                .mark_delivered(
                    entry,
                    &receipt_bytes,
                    &receipt,
                    duplicate,
                    adopted.as_deref(),
                    now,
                )
                .await?;
            if adopted.is_some() {
                tracing::info!(form = %entry.form, period = %entry.period, revision = entry.revision, "the coordinator already held this report's content, signed earlier by this site (restored from a backup?): its copy is kept in the outbox in place of the new one");
            }
            tracing::info!(form = %entry.form, period = %entry.period, revision = entry.revision, sequence = receipt.sequence, duplicate, "report delivered");
            Ok(Outcome::Delivered {
                form: entry.form.clone(),
                period: entry.period,
                revision: entry.revision,
                sequence: receipt.sequence,
                duplicate,
            })
        }
        Ok(Verdict::Refused(code, message, head)) if !code.is_transient() => {
            // The coordinator's message names forms, periods, tables and cells of this very
            // report, never a person: staff are shown it to know what to fix.
            context
                .store
                .mark_refused(
                    entry,
                    &refusal_code_name(code),
                    &format!("refused by the coordinator: {code}: {message}"),
                    now,
                )
                .await?;
            tracing::warn!(form = %entry.form, period = %entry.period, revision = entry.revision, %code, "report refused by the coordinator");
            if let Some(head) = head.filter(|_| continues_from_head(code)) {
                context
                    .store
                    .record_coordinator_head(&entry.form, entry.period, &head, now)
                    .await?;
                tracing::info!(form = %entry.form, period = %entry.period, coordinator_revision = head.revision, "the coordinator holds a later or different revision of this report: the next one is built on it");
            }
            Ok(Outcome::Refused {
                form: entry.form.clone(),
                period: entry.period,
                revision: entry.revision,
                code,
                message,
            })
        }
        Ok(Verdict::Refused(code, message, _)) => {
            // Busy, shutting down, a period not over or locked by the province: the report
            // stays queued, and staff see the coordinator's words (forms and periods only).
            retry(
                context,
                entry,
                format!("not accepted yet ({code}): {message}"),
                now,
                jitter,
            )
            .await
        }
        Err(error) => retry(context, entry, error, now, jitter).await,
    }
}

/// Records a failed attempt of `entry` and schedules the next one.
pub async fn retry(
    context: &DeliveryContext<'_>,
    entry: &OutboxEntry,
    error: String,
    now: UnixTime,
    jitter: f64,
) -> Result<Outcome, NodeError> {
    let next_attempt_at = now + context.backoff.delay_secs(entry.attempts + 1, jitter);
    context
        .store
        .mark_retry(entry, &error, next_attempt_at)
        .await?;
    tracing::warn!(form = %entry.form, period = %entry.period, revision = entry.revision, error = %error, next_attempt_at, "delivery failed; will retry");
    Ok(Outcome::Retry {
        form: entry.form.clone(),
        period: entry.period,
        revision: entry.revision,
        error,
        next_attempt_at,
    })
}

/// Whether a refusal with this code is one the next revision, built on the coordinator's head,
/// gets past: the chain moved on without this node (stale), or the slot holds other content.
fn continues_from_head(code: RefusalCode) -> bool {
    matches!(code, RefusalCode::StaleRevision | RefusalCode::Equivocation)
}

enum Verdict {
    Accepted {
        receipt_bytes: Vec<u8>,
        receipt: Receipt,
        duplicate: bool,
        /// The coordinator's stored envelope, to keep in place of the entry's.
        adopted: Option<Vec<u8>>,
    },
    Refused(RefusalCode, String, Option<ChainHead>),
}

/// Records the coordinator's clock against this computer's, and says so in the log when they
/// differ by more than the tolerance.
async fn note_clock(
    context: &DeliveryContext<'_>,
    now: UnixTime,
    coordinator_time: UnixTime,
) -> Result<(), NodeError> {
    let check = ClockCheck {
        checked_at: now,
        coordinator_time,
    };
    if let Some(warning) = check.warning() {
        tracing::warn!(behind_secs = check.behind_secs(), "{warning}");
    }
    context.store.record_clock_check(&check).await?;
    Ok(())
}

/// The verdict on a response, and the coordinator's clock if it gave it.
fn interpret_response(
    context: &DeliveryContext<'_>,
    entry: &OutboxEntry,
    bytes: &[u8],
) -> Result<(Verdict, Option<UnixTime>), String> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err("response too large".into());
    }
    let response = Response::decode(bytes).map_err(|e| format!("undecodable response: {e}"))?;
    match response {
        Response::Accepted {
            receipt,
            duplicate,
            stored_envelope,
            time,
        } => {
            let opened = quietcount_protocol::open_with::<Receipt>(&receipt.0, |kid| {
                context
                    .coordinator_keys
                    .iter()
                    .find(|k| fingerprint_of(k) == *kid)
                    .copied()
            })
            .map_err(|e| {
                format!("receipt does not verify against the pinned coordinator keys: {e}")
            })?;
            let r = &opened.payload;
            if &r.site != context.site || r.period != entry.period || r.revision != entry.revision {
                return Err("receipt names another report".into());
            }
            let adopted = if r.report == entry.envelope_hash {
                None
            } else {
                let stored = stored_envelope.ok_or("receipt names another report")?.0;
                check_same_report(context, entry, &stored, &r.report)?;
                Some(stored)
            };
            Ok((
                Verdict::Accepted {
                    receipt_bytes: receipt.0,
                    receipt: opened.payload,
                    duplicate,
                    adopted,
                },
                time,
            ))
        }
        Response::Refused {
            code,
            message,
            head,
            time,
        } => Ok((Verdict::Refused(code, message, head.map(Into::into)), time)),
        Response::Stored { .. } => {
            Err("the coordinator answered a delivery with a stored report".into())
        }
    }
}

/// Checks that `stored`, which the coordinator holds in place of `entry`'s envelope, is this
/// site's signature over the same report (form, period, revision and content), and is the
/// envelope the receipt names.
fn check_same_report(
    context: &DeliveryContext<'_>,
    entry: &OutboxEntry,
    stored: &[u8],
    named: &quietcount_protocol::EnvelopeHash,
) -> Result<(), String> {
    let mismatch = || "receipt names another report".to_owned();
    if quietcount_protocol::Sha256Hash::of(stored) != *named {
        return Err(mismatch());
    }
    let opened = quietcount_protocol::open::<SiteReport>(stored, &context.site_key)
        .map_err(|_| mismatch())?;
    let report = &opened.payload;
    let same_content = content_hash(report).is_ok_and(|h| h == entry.content_hash);
    if !same_content
        || report.form.key() != entry.form
        || report.period != entry.period
        || report.revision != entry.revision
    {
        return Err(mismatch());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_half() {
        let b = Backoff {
            base_secs: 60,
            max_secs: 3600,
        };
        assert_eq!(b.delay_secs(1, 0.0), 30);
        assert_eq!(b.delay_secs(1, 0.999_999), 59);
        assert_eq!(b.delay_secs(2, 0.0), 60);
        assert_eq!(b.delay_secs(3, 0.5), 180);
        assert_eq!(b.delay_secs(7, 0.0), 1800);
        assert_eq!(b.delay_secs(8, 0.0), 1800, "capped at max");
        assert_eq!(b.delay_secs(1000, 1.0), 3600);
        for failures in 1..50 {
            for jitter in [0.0, 0.3, 0.99] {
                let d = b.delay_secs(failures, jitter);
                assert!((30..=3600).contains(&d));
                assert!(
                    d >= b.delay_secs(failures.saturating_sub(1).max(1), jitter) || failures == 1
                );
            }
        }
    }

    #[test]
    fn refusal_codes_have_wire_names() {
        assert_eq!(
            refusal_code_name(RefusalCode::StaleRevision),
            "stale_revision"
        );
        assert_eq!(refusal_code_name(RefusalCode::UnknownSite), "unknown_site");
    }
}
