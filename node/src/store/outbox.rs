//! Outbox entries, the coordinator's receipts, and the coordinator's refusals of this site's
//! key (which hold delivery until the key changes or is accepted).
//!
//! An entry's identity is (form id, form version, period, revision): each form a site
//! reports has its own revision chain per period. The schema allows one live (not refused)
//! entry per identity; a refused entry frees its revision, since the coordinator never stored it.

use quietcount_protocol::{
    ChainHead, EnvelopeHash, Fingerprint, Period, Receipt, Sha256Hash, UnixTime,
};
use sqlx::Row;

use super::{Result, Store, StoreError, db, to_i64, to_u64};

pub use quietcount_protocol::FormKey;

/// The coordinator's refusal of a site key: it is not (or no longer) enrolled there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRefusal {
    /// The refused key.
    pub fingerprint: Fingerprint,
    /// When it was last refused.
    pub refused_at: UnixTime,
    /// What the transport said (the coordinator's address and the TLS alert, nothing else).
    pub message: String,
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
    /// The form the report answers.
    pub form: FormKey,
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

/// A signed report about to be committed to the outbox.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The form it answers.
    pub form: &'a FormKey,
    /// Period.
    pub period: Period,
    /// Revision.
    pub revision: u32,
    /// The signed envelope.
    pub envelope: &'a [u8],
    /// SHA-256 of the published content.
    pub content_hash: Sha256Hash,
    /// When it was built (it is due at once).
    pub built_at: UnixTime,
    /// The true tables it was suppressed from (canonical CBOR), kept on the node for the joint
    /// audit of later revisions.
    pub truth: &'a [u8],
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The envelope it acknowledges.
    pub envelope_hash: EnvelopeHash,
    /// The form of the report.
    pub form: FormKey,
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

/// How many entries wait and how many were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Entries waiting to be delivered.
    pub pending: u64,
    /// Entries refused for good.
    pub refused: u64,
}

const ENTRY_COLUMNS: &str = "id, form_id, form_version, period, revision, envelope, envelope_hash, content_hash, built_at, state, attempts, next_attempt_at, last_error, refusal_code";

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<OutboxEntry> {
    let get = |e| db("read_outbox_entry")(e);
    let id: i64 = row.try_get("id").map_err(get)?;
    let corrupt = |problem: &str| StoreError::CorruptOutbox {
        id,
        problem: problem.to_owned(),
    };
    let period: String = row.try_get("period").map_err(get)?;
    let hash = |column: &str| -> Result<Sha256Hash> {
        let bytes: Vec<u8> = row.try_get(column).map_err(get)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| corrupt("bad hash"))?;
        Ok(Sha256Hash(array))
    };
    let state: String = row.try_get("state").map_err(get)?;
    Ok(OutboxEntry {
        id,
        form: FormKey {
            id: row.try_get("form_id").map_err(get)?,
            version: u32::try_from(row.try_get::<i64, _>("form_version").map_err(get)?)
                .map_err(|_| corrupt("bad form version"))?,
        },
        period: Period::parse(&period).map_err(|_| corrupt("bad period"))?,
        revision: u32::try_from(row.try_get::<i64, _>("revision").map_err(get)?)
            .map_err(|_| corrupt("bad revision"))?,
        envelope: row.try_get("envelope").map_err(get)?,
        envelope_hash: hash("envelope_hash")?,
        content_hash: hash("content_hash")?,
        built_at: to_u64(row.try_get::<i64, _>("built_at").map_err(get)?),
        state: EntryState::parse(&state).ok_or_else(|| corrupt("bad state"))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(get)?)
            .unwrap_or(u32::MAX),
        next_attempt_at: to_u64(row.try_get::<i64, _>("next_attempt_at").map_err(get)?),
        last_error: row.try_get("last_error").map_err(get)?,
        refusal_code: row.try_get("refusal_code").map_err(get)?,
    })
}

impl Store {
    /// Commits a signed report to the outbox, pending, due at once. Fails if that revision of
    /// the form and period is already live (two builds raced), so a revision is never filled twice.
    ///
    /// The very same envelope as a refused entry (built again within the same second, so
    /// byte-identical) puts that entry back to pending instead: building again after a refusal
    /// sends afresh.
    pub async fn insert_outbox_entry(&self, entry: NewEntry<'_>) -> Result<OutboxEntry> {
        const TX: &str = "outbox_commit";
        let mut tx = self.begin_write(TX).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO outbox (form_id, form_version, period, revision, envelope, envelope_hash, content_hash, built_at, next_attempt_at, truth) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9) \
             ON CONFLICT (envelope_hash) DO UPDATE SET state = 'pending', attempts = 0, \
             next_attempt_at = excluded.next_attempt_at, last_error = NULL, refusal_code = NULL \
             WHERE state = 'refused' RETURNING {ENTRY_COLUMNS}"
        ))
        .bind(&entry.form.id)
        .bind(i64::from(entry.form.version))
        .bind(entry.period.to_string())
        .bind(i64::from(entry.revision))
        .bind(entry.envelope)
        .bind(Sha256Hash::of(entry.envelope).0.to_vec())
        .bind(entry.content_hash.0.to_vec())
        .bind(to_i64(entry.built_at))
        .bind(entry.truth)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(TX))?;
        // No row: the same envelope is already live, which the caller's check for unchanged
        // content rules out; say so as the unique constraint would.
        let row = row.ok_or_else(|| {
            db(TX)(sqlx::Error::Protocol(
                "this envelope is already in the outbox and not refused".into(),
            ))
        })?;
        let stored = entry_from_row(&row)?;
        tx.commit().await.map_err(db(TX))?;
        Ok(stored)
    }

    /// The latest entry (highest revision) of a form for a period, refused or not.
    pub async fn latest_outbox_entry(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Option<OutboxEntry>> {
        self.latest_entry_where(form, period, "", "latest_outbox_entry")
            .await
    }

    /// The latest entry of a form for a period that the coordinator has stored or may still
    /// store (pending or delivered): the one the next revision supersedes. Refused entries are
    /// left out: the coordinator never stored them.
    pub async fn latest_live_outbox_entry(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Option<OutboxEntry>> {
        self.latest_entry_where(
            form,
            period,
            "AND state <> 'refused'",
            "latest_live_outbox_entry",
        )
        .await
    }

    /// Every revision of a form's chain for a period that the coordinator has stored or may
    /// still store, oldest first, each with the true tables it was built from (`None` if built
    /// before they were kept).
    pub async fn live_revisions(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Vec<(OutboxEntry, Option<Vec<u8>>)>> {
        const NAME: &str = "live_revisions";
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, truth FROM outbox WHERE form_id = ?1 AND form_version = ?2 \
             AND period = ?3 AND state <> 'refused' ORDER BY revision, id"
        ))
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db(NAME))?;
        rows.iter()
            .map(|row| {
                let truth: Option<Vec<u8>> = row.try_get("truth").map_err(db(NAME))?;
                Ok((entry_from_row(row)?, truth))
            })
            .collect()
    }

    /// The entry of a form and period with the highest revision (then the newest) among those
    /// meeting `condition`, a fixed SQL fragment.
    async fn latest_entry_where(
        &self,
        form: &FormKey,
        period: Period,
        condition: &'static str,
        name: &'static str,
    ) -> Result<Option<OutboxEntry>> {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE form_id = ?1 AND form_version = ?2 \
             AND period = ?3 {condition} ORDER BY revision DESC, id DESC LIMIT 1"
        ))
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db(name))?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// Every pending entry, oldest period first, each chain in revision order.
    pub async fn pending_entries(&self) -> Result<Vec<OutboxEntry>> {
        self.pending_due_by(i64::MAX).await
    }

    /// The pending entries whose next attempt is due at `now`, in the same order.
    pub async fn due_entries(&self, now: UnixTime) -> Result<Vec<OutboxEntry>> {
        self.pending_due_by(to_i64(now)).await
    }

    async fn pending_due_by(&self, due_by: i64) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
             ORDER BY period, form_id, form_version, revision"
        ))
        .bind(due_by)
        .fetch_all(&self.pool)
        .await
        .map_err(db("pending_outbox_entries"))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The latest entries, newest first, at most `limit`.
    pub async fn recent_outbox_entries(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY built_at DESC, id DESC LIMIT ?1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db("recent_outbox_entries"))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Every entry, in the order they were committed.
    pub async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(&format!("SELECT {ENTRY_COLUMNS} FROM outbox ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list_outbox_entries"))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// How many entries are pending and how many were refused.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let (pending, refused): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'refused'), 0) FROM outbox",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("count_outbox_states"))?;
        Ok(OutboxCounts {
            pending: to_u64(pending),
            refused: to_u64(refused),
        })
    }

    /// The earliest time a pending entry is due, if any is pending.
    pub async fn next_due(&self) -> Result<Option<UnixTime>> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(db("next_due_outbox_entry"))?;
        Ok(next.map(to_u64))
    }

    /// The last receipts, newest first, at most `limit`.
    pub async fn recent_receipts(&self, limit: u32) -> Result<Vec<StoredReceipt>> {
        const QUERY: &str = "recent_receipts";
        let rows = sqlx::query(
            "SELECT r.envelope_hash, o.form_id, o.form_version, o.period, o.revision, r.sequence, r.received_at, r.receipt \
             FROM receipts r JOIN outbox o ON o.envelope_hash = r.envelope_hash \
             ORDER BY r.sequence DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db(QUERY))?;
        rows.iter()
            .map(|row| {
                let get = |e| db(QUERY)(e);
                let corrupt = |problem: &str| StoreError::CorruptOutbox {
                    id: 0,
                    problem: problem.to_owned(),
                };
                let bytes: Vec<u8> = row.try_get(0).map_err(get)?;
                let period: String = row.try_get(3).map_err(get)?;
                Ok(StoredReceipt {
                    envelope_hash: Sha256Hash(
                        bytes.try_into().map_err(|_| corrupt("bad receipt hash"))?,
                    ),
                    form: FormKey {
                        id: row.try_get(1).map_err(get)?,
                        version: u32::try_from(row.try_get::<i64, _>(2).map_err(get)?)
                            .map_err(|_| corrupt("bad form version"))?,
                    },
                    period: Period::parse(&period).map_err(|_| corrupt("bad period"))?,
                    revision: u32::try_from(row.try_get::<i64, _>(4).map_err(get)?).unwrap_or(0),
                    sequence: to_u64(row.try_get::<i64, _>(5).map_err(get)?),
                    received_at: to_u64(row.try_get::<i64, _>(6).map_err(get)?),
                    receipt: row.try_get(7).map_err(get)?,
                })
            })
            .collect()
    }

    /// How many receipts are stored.
    pub async fn count_receipts(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts")
            .fetch_one(&self.pool)
            .await
            .map_err(db("count_receipts"))?;
        Ok(to_u64(n))
    }

    /// Stores a verified receipt and marks its entry delivered, in one transaction. A receipt
    /// for an entry already delivered changes nothing.
    ///
    /// `adopted` is the coordinator's stored envelope when it holds the same content signed
    /// earlier (this node re-signed it, e.g. after a restore): the entry takes that envelope
    /// in place of its own, so the chain continues from what the coordinator holds. The caller
    /// has verified that it is this site's signature over the same content.
    pub async fn mark_delivered(
        &self,
        entry: &OutboxEntry,
        receipt_bytes: &[u8],
        receipt: &Receipt,
        duplicate: bool,
        adopted: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<()> {
        const TX: &str = "outbox_mark_delivered";
        let mut tx = self.begin_write(TX).await?;
        let mut envelope_hash = entry.envelope_hash;
        if let Some(envelope) = adopted {
            envelope_hash = Sha256Hash::of(envelope);
            sqlx::query(
                "UPDATE outbox SET envelope = ?2, envelope_hash = ?3 WHERE id = ?1 AND state = 'pending'",
            )
            .bind(entry.id)
            .bind(envelope)
            .bind(envelope_hash.0.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        }
        sqlx::query(
            "INSERT OR IGNORE INTO receipts (envelope_hash, receipt, sequence, received_at, stored_at, duplicate) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(envelope_hash.0.to_vec())
        .bind(receipt_bytes)
        .bind(to_i64(receipt.sequence))
        .bind(to_i64(receipt.received_at))
        .bind(to_i64(now))
        .bind(duplicate)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?2, last_error = NULL \
             WHERE id = ?1 AND state = 'pending'",
        )
        .bind(entry.id)
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(())
    }

    /// Marks an entry refused for good, keeping the code (its wire name) for `status`.
    pub async fn mark_refused(
        &self,
        entry: &OutboxEntry,
        code_name: &str,
        message: &str,
        now: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'refused', refusal_code = ?2, last_error = ?3, attempts = attempts + 1, \
             next_attempt_at = ?4 WHERE id = ?1 AND state = 'pending'",
        )
        .bind(entry.id)
        .bind(code_name)
        .bind(message)
        .bind(to_i64(now))
        .execute(&self.pool)
        .await
        .map_err(db("outbox_mark_refused"))?;
        Ok(())
    }

    /// Records a failed attempt; the entry stays pending until `next_attempt_at`.
    pub async fn mark_retry(
        &self,
        entry: &OutboxEntry,
        error: &str,
        next_attempt_at: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 \
             WHERE id = ?1 AND state = 'pending'",
        )
        .bind(entry.id)
        .bind(error)
        .bind(to_i64(next_attempt_at))
        .execute(&self.pool)
        .await
        .map_err(db("outbox_mark_retry"))?;
        Ok(())
    }

    /// The latest revision the coordinator said it holds for a form and period, if a refusal
    /// told it.
    pub async fn coordinator_head(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Option<ChainHead>> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT revision, envelope_hash FROM coordinator_heads \
             WHERE form_id = ?1 AND form_version = ?2 AND period = ?3",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("coordinator_head"))?;
        let Some((revision, hash)) = row else {
            return Ok(None);
        };
        let corrupt = |problem: &str| StoreError::CorruptOutbox {
            id: 0,
            problem: problem.to_owned(),
        };
        Ok(Some(ChainHead {
            revision: u32::try_from(revision).map_err(|_| corrupt("bad head revision"))?,
            envelope_hash: Sha256Hash(hash.try_into().map_err(|_| corrupt("bad head hash"))?),
        }))
    }

    /// Records a report fetched back from the coordinator (this site's own envelope and the
    /// receipt the coordinator signed for it) as delivered, in one transaction. A live entry
    /// of this node for the same revision with other bytes (built again after a restore) is
    /// marked refused: the coordinator holds the fetched one, and the next build continues
    /// from it. Returns false, changing nothing, when the envelope is already in the outbox.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_fetched(
        &self,
        form: &FormKey,
        period: Period,
        revision: u32,
        envelope: &[u8],
        content_hash: Sha256Hash,
        receipt_bytes: &[u8],
        receipt: &Receipt,
        now: UnixTime,
    ) -> Result<bool> {
        const TX: &str = "outbox_record_fetched";
        let hash = Sha256Hash::of(envelope);
        let mut tx = self.begin_write(TX).await?;
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE envelope_hash = ?1")
            .bind(hash.0.to_vec())
            .fetch_one(&mut *tx)
            .await
            .map_err(db(TX))?;
        if known > 0 {
            tx.rollback().await.map_err(db(TX))?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE outbox SET state = 'refused', refusal_code = 'superseded', \
             last_error = 'the coordinator already holds another report for this revision \
             (fetched back); build the report again to continue from it' \
             WHERE form_id = ?1 AND form_version = ?2 AND period = ?3 AND revision = ?4 \
             AND state <> 'refused'",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .bind(i64::from(revision))
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        sqlx::query(
            "INSERT INTO outbox (form_id, form_version, period, revision, envelope, envelope_hash, \
             content_hash, built_at, next_attempt_at, state, delivered_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 'delivered', ?8)",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .bind(i64::from(revision))
        .bind(envelope)
        .bind(hash.0.to_vec())
        .bind(content_hash.0.to_vec())
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        sqlx::query(
            "INSERT OR IGNORE INTO receipts (envelope_hash, receipt, sequence, received_at, stored_at, duplicate) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0)",
        )
        .bind(hash.0.to_vec())
        .bind(receipt_bytes)
        .bind(to_i64(receipt.sequence))
        .bind(to_i64(receipt.received_at))
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(true)
    }

    /// Records the coordinator's head of a form and period's chain, learnt at `now`.
    pub async fn record_coordinator_head(
        &self,
        form: &FormKey,
        period: Period,
        head: &ChainHead,
        now: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO coordinator_heads (form_id, form_version, period, revision, envelope_hash, learnt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (form_id, form_version, period) \
             DO UPDATE SET revision = ?4, envelope_hash = ?5, learnt_at = ?6",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .bind(i64::from(head.revision))
        .bind(head.envelope_hash.0.to_vec())
        .bind(to_i64(now))
        .execute(&self.pool)
        .await
        .map_err(db("record_coordinator_head"))?;
        Ok(())
    }

    /// The coordinator's refusal of the key `fingerprint`, if one is recorded.
    pub async fn key_refusal(&self, fingerprint: &Fingerprint) -> Result<Option<KeyRefusal>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT refused_at, message FROM key_refusals WHERE fingerprint = ?")
                .bind(fingerprint.0.as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(db("key_refusal"))?;
        Ok(row.map(|(refused_at, message)| KeyRefusal {
            fingerprint: *fingerprint,
            refused_at: to_u64(refused_at),
            message,
        }))
    }

    /// Records that the coordinator refused the key `fingerprint` at `now`.
    pub async fn record_key_refusal(
        &self,
        fingerprint: &Fingerprint,
        message: &str,
        now: UnixTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO key_refusals (fingerprint, refused_at, message) VALUES (?1, ?2, ?3) \
             ON CONFLICT (fingerprint) DO UPDATE SET refused_at = ?2, message = ?3",
        )
        .bind(fingerprint.0.as_slice())
        .bind(to_i64(now))
        .bind(message)
        .execute(&self.pool)
        .await
        .map_err(db("record_key_refusal"))?;
        Ok(())
    }

    /// Forgets every recorded key refusal: the coordinator has just accepted this site's key.
    pub async fn clear_key_refusals(&self) -> Result<()> {
        sqlx::query("DELETE FROM key_refusals")
            .execute(&self.pool)
            .await
            .map_err(db("clear_key_refusals"))?;
        Ok(())
    }

    /// Puts the outbox back where a crash between sending and marking delivered leaves it:
    /// every receipt forgotten, every entry pending. Only for tests of that recovery.
    #[cfg(feature = "test-util")]
    pub async fn forget_deliveries(&self) -> Result<()> {
        const TX: &str = "test_forget_deliveries";
        let mut tx = self.begin_write(TX).await?;
        sqlx::query("DELETE FROM receipts")
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        sqlx::query("UPDATE outbox SET state = 'pending'")
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))
    }
}
