//! Sites and their keys with their validity windows: enrolment (one open window per site,
//! enforced by the schema; a new key retires the old one), revocation from a given time, and
//! the key records the TLS directory, ingest and publication read.

use super::*;

/// Retires the site's key whose window is open, at `now`, inside `tx` (named `name`): a newer
/// key takes over. The window closes at the end of that second (`now + 1`): a report the old
/// key delivered in the same second, accepted while it was open, stays inside it. How many
/// were retired (0 or 1).
/// Closes the open window of `site`'s key, if any, at the end of the second `now`: retired
/// because a new key takes over. Returns how many keys were retired (0 or 1).
const RETIRE_OPEN_KEY: &str = "UPDATE site_keys SET revoked_at = $1, end_reason = 'replaced', \
     end_recorded_at = $2 WHERE site = $3 AND revoked_at IS NULL";

const KEY_COLUMNS: &str = "id, site, name, public_key, enrolled_at, revoked_at, end_reason, \
                           end_recorded_at, reports_from";

impl Store {
    /// Enrolls `key` for `site`, retiring the site's current key at `now` (reports it signed
    /// before stay valid); the site is expected to report from `reports_from` (default: from
    /// now). Enrolling the key that is already active for the site changes nothing but, when
    /// given, `reports_from`.
    pub async fn enroll(
        &self,
        site: &SiteId,
        name: &str,
        key: &VerifyingKey,
        reports_from: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<EnrollOutcome> {
        const TX: &str = "enroll_site_key";
        let reports_from = reports_from.map(to_i64).transpose()?;
        let until = to_i64(now.saturating_add(1))?;
        let now = to_i64(now)?;
        in_transaction!(self, TX, |tx| {
            let existing: Option<(String, Option<i64>)> =
                sqlx::query_as("SELECT site, revoked_at FROM site_keys WHERE public_key = $1")
                    .bind(key.as_bytes().as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db(TX))?;
            if let Some((owner, revoked)) = existing {
                if owner == site.as_str() && revoked.is_none() {
                    if let Some(from) = reports_from {
                        // Enrolling the same key again with --reports-from moves the first
                        // expected period (a site enrolled before the province knew it had to
                        // send an earlier month).
                        sqlx::query("UPDATE site_keys SET reports_from = $1 WHERE public_key = $2")
                            .bind(from)
                            .bind(key.as_bytes().as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(db(TX))?;
                        tx.commit().await.map_err(db(TX))?;
                        return Ok(EnrollOutcome::AlreadyEnrolled);
                    }
                }
                tx.rollback().await.map_err(db(TX))?;
                return Ok(if owner != site.as_str() {
                    EnrollOutcome::KeyUsedByOtherSite(owner)
                } else if revoked.is_some() {
                    EnrollOutcome::KeyWasRevoked
                } else {
                    EnrollOutcome::AlreadyEnrolled
                });
            }
            let retired = sqlx::query(RETIRE_OPEN_KEY)
                .bind(until)
                .bind(now)
                .bind(site.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?
                .rows_affected();
            sqlx::query(
                "INSERT INTO site_keys (site, name, public_key, fingerprint, enrolled_at, \
                 reports_from) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(site.as_str())
            .bind(name)
            .bind(key.as_bytes().as_slice())
            .bind(fingerprint_of(key).0.as_slice())
            .bind(now)
            .bind(reports_from)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(EnrollOutcome::Enrolled {
                replaced_keys: retired,
            })
        })
    }

    /// Revokes, for `reason`, the key of `site` that was valid at `since`: its window now ends
    /// at `since` (reports received from then on no longer count), recorded at `now`. A key
    /// already retired or revoked later than `since` has its window shortened; one whose
    /// window already ended at or before `since` is left alone. `since` must not be after
    /// `now`. The revoked key, or `None` if no key of the site was valid at `since`.
    pub async fn revoke(
        &self,
        site: &SiteId,
        since: UnixTime,
        reason: KeyEndReason,
        now: UnixTime,
    ) -> Result<Option<KeyRecord>> {
        const TX: &str = "revoke_site_key";
        let since_i = to_i64(since.min(now))?;
        let now_i = to_i64(now)?;
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM site_keys WHERE site = $1 AND enrolled_at <= $2 \
             AND (revoked_at IS NULL OR revoked_at > $2) ORDER BY id DESC LIMIT 1"
        );
        let mut record = in_transaction!(self, TX, |tx| {
            let row: Option<KeyColumns> = sqlx::query_as(&sql)
                .bind(site.as_str())
                .bind(since_i)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(TX))?;
            let Some(row) = row else {
                tx.rollback().await.map_err(db(TX))?;
                return Ok(None);
            };
            let record = row.record()?;
            sqlx::query(
                "UPDATE site_keys SET revoked_at = $1, end_reason = $2, end_recorded_at = $3 \
                 WHERE id = $4",
            )
            .bind(since_i)
            .bind(reason.as_str())
            .bind(now_i)
            .bind(record.id)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            record
        });
        record.valid_until = Some(since.min(now));
        record.ended = Some(KeyEnd {
            reason,
            recorded_at: now,
        });
        Ok(Some(record))
    }

    /// Every key ever enrolled, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.keys_of_site(None).await
    }

    /// The key with this fingerprint, whether its window is open or closed.
    pub async fn key_by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM site_keys WHERE fingerprint = $1");
        let row: Option<KeyColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(fingerprint.0.as_slice())
                .fetch_optional(pool)
                .await
        })
        .map_err(db("key_by_fingerprint"))?;
        row.map(KeyColumns::record).transpose()
    }

    /// The keys of one site, oldest first.
    pub async fn keys_of(&self, site: &SiteId) -> Result<Vec<KeyRecord>> {
        self.keys_of_site(Some(site)).await
    }

    /// The keys of `site` (of every site for `None`), oldest first.
    async fn keys_of_site(&self, site: Option<&SiteId>) -> Result<Vec<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM site_keys WHERE $1 IS NULL OR site = $1 ORDER BY id"
        );
        let rows: Vec<KeyColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(site.map(SiteId::as_str))
                .fetch_all(pool)
                .await
        })
        .map_err(db("list_keys"))?;
        rows.into_iter().map(KeyColumns::record).collect()
    }
}

/// What [`Store::enroll`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// The key was enrolled; `replaced_keys` older keys of the site were retired.
    Enrolled {
        /// Keys retired by this enrolment (0 or 1).
        replaced_keys: u64,
    },
    /// This key is already the site's active key.
    AlreadyEnrolled,
    /// This key was enrolled for the site before and its window closed; it cannot come back.
    KeyWasRevoked,
    /// This key belongs to another site.
    KeyUsedByOtherSite(String),
}

/// A key's row as [`KEY_COLUMNS`] reads it, on either backend.
#[derive(sqlx::FromRow)]
struct KeyColumns {
    id: i64,
    site: String,
    name: String,
    public_key: Vec<u8>,
    enrolled_at: i64,
    revoked_at: Option<i64>,
    end_reason: Option<String>,
    end_recorded_at: Option<i64>,
    reports_from: Option<i64>,
}

impl KeyColumns {
    fn record(self) -> Result<KeyRecord> {
        let bytes: [u8; 32] = self
            .public_key
            .try_into()
            .map_err(|_| StoreError::Corrupt("public key is not 32 bytes".into()))?;
        let public_key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| StoreError::Corrupt("public key is not an Ed25519 point".into()))?;
        let ended = match (self.end_reason, self.end_recorded_at) {
            (Some(reason), Some(recorded_at)) => Some(KeyEnd {
                reason: KeyEndReason::parse(&reason).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown key end reason {reason:?}"))
                })?,
                recorded_at: to_u64(recorded_at)?,
            }),
            _ => None,
        };
        Ok(KeyRecord {
            id: self.id,
            site: site_of(self.site)?,
            name: self.name,
            public_key,
            enrolled_at: to_u64(self.enrolled_at)?,
            valid_until: self.revoked_at.map(to_u64).transpose()?,
            ended,
            reports_from: self.reports_from.map(to_u64).transpose()?,
        })
    }
}
