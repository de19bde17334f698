//! The outbox: signed reports committed to the database before any attempt to send them,
//! their delivery state, the coordinator's receipts, and the retry schedule.
//!
//! An entry is `pending` until a verified receipt naming its envelope is stored (then
//! `delivered`, in the same transaction) or the coordinator refuses it for good (`refused`,
//! with the code, shown by `status`). A crash between sending and marking leaves it pending;
//! the resubmission gets the same receipt back, so nothing is lost or counted twice.

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::wire::{Blob, MAX_FRAME_BYTES, RefusalCode, Request, Response};
use quietcount_protocol::{
    EnvelopeHash, Period, Receipt, Sha256Hash, SiteId, SiteReport, UnixTime, fingerprint_of,
};
use sqlx::Row;

use crate::db::Db;
use crate::error::NodeError;

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

/// Delivery state of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Not yet delivered.
    Pending,
    /// A verified receipt is stored.
    Delivered,
    /// Refused for good by the coordinator.
    Refused,
}

impl EntryState {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// One outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Period.
    pub period: Period,
    /// Revision.
    pub revision: u32,
    /// The signed envelope, exactly as sent.
    pub envelope: Vec<u8>,
    /// SHA-256 of the envelope.
    pub envelope_hash: EnvelopeHash,
    /// SHA-256 of the published content, without timestamps and revision.
    pub content_hash: Sha256Hash,
    /// When it was built.
    pub built_at: UnixTime,
    /// Delivery state.
    pub state: EntryState,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Not before this time will `run` try again.
    pub next_attempt_at: UnixTime,
    /// The last failure, if any (never contains record values).
    pub last_error: Option<String>,
    /// The refusal code, for refused entries.
    pub refusal_code: Option<String>,
}

const ENTRY_COLUMNS: &str = "id, period, revision, envelope, envelope_hash, content_hash, built_at, state, attempts, next_attempt_at, last_error, refusal_code";

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<OutboxEntry, NodeError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |problem: &str| NodeError::CorruptOutbox {
        id,
        problem: problem.to_owned(),
    };
    let period: String = row.try_get("period")?;
    let hash = |column: &str| -> Result<Sha256Hash, NodeError> {
        let bytes: Vec<u8> = row.try_get(column)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| corrupt("bad hash"))?;
        Ok(Sha256Hash(array))
    };
    let state: String = row.try_get("state")?;
    Ok(OutboxEntry {
        id,
        period: Period::parse(&period).map_err(|_| corrupt("bad period"))?,
        revision: u32::try_from(row.try_get::<i64, _>("revision")?)
            .map_err(|_| corrupt("bad revision"))?,
        envelope: row.try_get("envelope")?,
        envelope_hash: hash("envelope_hash")?,
        content_hash: hash("content_hash")?,
        built_at: u64::try_from(row.try_get::<i64, _>("built_at")?).unwrap_or(0),
        state: EntryState::parse(&state).ok_or_else(|| corrupt("bad state"))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: u64::try_from(row.try_get::<i64, _>("next_attempt_at")?).unwrap_or(0),
        last_error: row.try_get("last_error")?,
        refusal_code: row.try_get("refusal_code")?,
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The latest entry (highest revision) for a period.
pub async fn latest_for_period(db: &Db, period: Period) -> Result<Option<OutboxEntry>, NodeError> {
    let row = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE period = ?1 ORDER BY revision DESC LIMIT 1"
    ))
    .bind(period.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The latest entry for a period that the coordinator has stored or may still store (pending or
/// delivered): the one the next revision supersedes. Refused entries are left out: the
/// coordinator never stored them.
pub async fn latest_live_for_period(
    db: &Db,
    period: Period,
) -> Result<Option<OutboxEntry>, NodeError> {
    let row = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE period = ?1 AND state <> 'refused' \
         ORDER BY revision DESC LIMIT 1"
    ))
    .bind(period.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// Commits a signed report to the outbox, pending, due at once. Fails if that revision of
/// the period is already there (two builds raced), so a revision is never filled twice.
pub async fn commit(
    db: &Db,
    report: &SiteReport,
    envelope: &[u8],
    content_hash: Sha256Hash,
    now: UnixTime,
) -> Result<OutboxEntry, NodeError> {
    let mut tx = db.begin("outbox_commit").await?;
    let row = sqlx::query(&format!(
        "INSERT INTO outbox (period, revision, envelope, envelope_hash, content_hash, built_at, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {ENTRY_COLUMNS}"
    ))
    .bind(report.period.to_string())
    .bind(i64::from(report.revision))
    .bind(envelope)
    .bind(Sha256Hash::of(envelope).0.to_vec())
    .bind(content_hash.0.to_vec())
    .bind(to_i64(now))
    .fetch_one(&mut *tx)
    .await?;
    let entry = entry_from_row(&row)?;
    tx.commit().await?;
    Ok(entry)
}

/// Pending entries, oldest period and revision first; with `due_at`, only those due by then.
pub async fn pending(db: &Db, due_at: Option<UnixTime>) -> Result<Vec<OutboxEntry>, NodeError> {
    let rows = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
         ORDER BY period, revision"
    ))
    .bind(due_at.map_or(i64::MAX, to_i64))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// Every entry, newest first, at most `limit`.
pub async fn entries(db: &Db, limit: u32) -> Result<Vec<OutboxEntry>, NodeError> {
    let rows = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY built_at DESC, id DESC LIMIT ?1"
    ))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_from_row).collect()
}

/// The earliest time a pending entry is due, if any is pending.
pub async fn next_due(db: &Db) -> Result<Option<UnixTime>, NodeError> {
    let next: Option<i64> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
            .fetch_one(db.pool())
            .await?;
    Ok(next.map(|n| u64::try_from(n).unwrap_or(0)))
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The envelope it acknowledges.
    pub envelope_hash: EnvelopeHash,
    /// Period of the report.
    pub period: Period,
    /// Revision of the report.
    pub revision: u32,
    /// The coordinator's ingest sequence number.
    pub sequence: u64,
    /// When the coordinator stored the report.
    pub received_at: UnixTime,
    /// The signed receipt bytes.
    pub receipt: Vec<u8>,
}

/// The last receipts, newest first.
pub async fn receipts(db: &Db, limit: u32) -> Result<Vec<StoredReceipt>, NodeError> {
    let rows = sqlx::query(
        "SELECT r.envelope_hash, o.period, o.revision, r.sequence, r.received_at, r.receipt \
         FROM receipts r JOIN outbox o ON o.envelope_hash = r.envelope_hash \
         ORDER BY r.sequence DESC LIMIT ?1",
    )
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let bytes: Vec<u8> = row.try_get(0)?;
            let corrupt = |problem: &str| NodeError::CorruptOutbox {
                id: 0,
                problem: problem.to_owned(),
            };
            let period: String = row.try_get(1)?;
            Ok(StoredReceipt {
                envelope_hash: Sha256Hash(
                    bytes.try_into().map_err(|_| corrupt("bad receipt hash"))?,
                ),
                period: Period::parse(&period).map_err(|_| corrupt("bad period"))?,
                revision: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
                sequence: u64::try_from(row.try_get::<i64, _>(3)?).unwrap_or(0),
                received_at: u64::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0),
                receipt: row.try_get(5)?,
            })
        })
        .collect()
}

/// Stores a verified receipt and marks its entry delivered, in one transaction. A receipt for
/// an entry already delivered changes nothing.
pub async fn mark_delivered(
    db: &Db,
    entry: &OutboxEntry,
    receipt_bytes: &[u8],
    receipt: &Receipt,
    duplicate: bool,
    now: UnixTime,
) -> Result<(), NodeError> {
    let mut tx = db.begin("outbox_mark_delivered").await?;
    sqlx::query(
        "INSERT OR IGNORE INTO receipts (envelope_hash, receipt, sequence, received_at, stored_at, duplicate) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(entry.envelope_hash.0.to_vec())
    .bind(receipt_bytes)
    .bind(to_i64(receipt.sequence))
    .bind(to_i64(receipt.received_at))
    .bind(to_i64(now))
    .bind(duplicate)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?2, last_error = NULL \
         WHERE id = ?1 AND state = 'pending'",
    )
    .bind(entry.id)
    .bind(to_i64(now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks an entry refused for good, keeping the code for `status`.
pub async fn mark_refused(
    db: &Db,
    entry: &OutboxEntry,
    code: RefusalCode,
    now: UnixTime,
) -> Result<(), NodeError> {
    sqlx::query(
        "UPDATE outbox SET state = 'refused', refusal_code = ?2, last_error = ?3, attempts = attempts + 1, \
         next_attempt_at = ?4 WHERE id = ?1 AND state = 'pending'",
    )
    .bind(entry.id)
    .bind(refusal_code_name(code))
    .bind(format!("refused by the coordinator: {code}"))
    .bind(to_i64(now))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records a failed attempt; the entry stays pending until `next_attempt_at`.
pub async fn mark_retry(
    db: &Db,
    entry: &OutboxEntry,
    error: &str,
    next_attempt_at: UnixTime,
) -> Result<(), NodeError> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 \
         WHERE id = ?1 AND state = 'pending'",
    )
    .bind(entry.id)
    .bind(error)
    .bind(to_i64(next_attempt_at))
    .execute(db.pool())
    .await?;
    Ok(())
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
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// Why.
        code: RefusalCode,
    },
    /// Will be retried.
    Retry {
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
    /// The database.
    pub db: &'a Db,
    /// This site.
    pub site: &'a SiteId,
    /// Pinned coordinator keys: receipts must be signed by one of them.
    pub coordinator_keys: &'a [VerifyingKey],
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
    match result {
        Ok(Verdict::Accepted {
            receipt_bytes,
            receipt,
            duplicate,
        }) => {
            mark_delivered(context.db, entry, &receipt_bytes, &receipt, duplicate, now).await?;
            tracing::info!(period = %entry.period, revision = entry.revision, sequence = receipt.sequence, duplicate, "report delivered");
            Ok(Outcome::Delivered {
                period: entry.period,
                revision: entry.revision,
                sequence: receipt.sequence,
                duplicate,
            })
        }
        Ok(Verdict::Refused(code)) if !code.is_transient() => {
            mark_refused(context.db, entry, code, now).await?;
            tracing::warn!(period = %entry.period, revision = entry.revision, %code, "report refused by the coordinator");
            Ok(Outcome::Refused {
                period: entry.period,
                revision: entry.revision,
                code,
            })
        }
        Ok(Verdict::Refused(code)) => {
            retry(
                context,
                entry,
                format!("coordinator busy: {code}"),
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
    mark_retry(context.db, entry, &error, next_attempt_at).await?;
    tracing::warn!(period = %entry.period, revision = entry.revision, error = %error, next_attempt_at, "delivery failed; will retry");
    Ok(Outcome::Retry {
        period: entry.period,
        revision: entry.revision,
        error,
        next_attempt_at,
    })
}

enum Verdict {
    Accepted {
        receipt_bytes: Vec<u8>,
        receipt: Receipt,
        duplicate: bool,
    },
    Refused(RefusalCode),
}

fn interpret_response(
    context: &DeliveryContext<'_>,
    entry: &OutboxEntry,
    bytes: &[u8],
) -> Result<Verdict, String> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err("response too large".into());
    }
    let response = Response::decode(bytes).map_err(|e| format!("undecodable response: {e}"))?;
    match response {
        Response::Accepted { receipt, duplicate } => {
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
            if r.report != entry.envelope_hash
                || &r.site != context.site
                || r.period != entry.period
                || r.revision != entry.revision
            {
                return Err("receipt names another report".into());
            }
            Ok(Verdict::Accepted {
                receipt_bytes: receipt.0,
                receipt: opened.payload,
                duplicate,
            })
        }
        Response::Refused { code, .. } => Ok(Verdict::Refused(code)),
    }
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
