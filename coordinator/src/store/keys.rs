//! Sites and their keys with their validity windows: enrolment (one open window per site,
//! enforced by the schema; a new key retires the old one), revocation from a given time, and
//! the key records the TLS directory, ingest and publication read.

use super::*;

/// Retires the site's key whose window is open, at `now`, inside `tx` (named `name`): a newer
/// key takes over. The window closes at the end of that second (`now + 1`): a report the old
/// key delivered in the same second, accepted while it was open, stays inside it. How many
/// were retired (0 or 1).
async fn retire_open_key(
    tx: &mut Transaction<'static, Sqlite>,
    site: &SiteId,
    now: UnixTime,
    name: &'static str,
) -> Result<u64> {
    let until = to_i64(now.saturating_add(1))?;
    let now = to_i64(now)?;
    Ok(sqlx::query(
        "UPDATE site_keys SET revoked_at = ?, end_reason = 'replaced', end_recorded_at = ? \
         WHERE site = ? AND revoked_at IS NULL",
    )
    .bind(until)
    .bind(now)
    .bind(site.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db(name))?
    .rows_affected())
}

/// The columns `key_record` reads, in its order.
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
        let mut tx = self.begin(TX).await?;
        let existing = sqlx::query("SELECT site, revoked_at FROM site_keys WHERE public_key = ?")
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(TX))?;
        if let Some(row) = existing {
            let owner: String = row.get(0);
            let revoked: Option<i64> = row.get(1);
            if owner == site.as_str() && revoked.is_none() {
                if let Some(from) = reports_from {
                    // Enrolling the same key again with --reports-from moves the first
                    // expected period (a site enrolled before the province knew it had to
                    // send an earlier month).
                    sqlx::query("UPDATE site_keys SET reports_from = ? WHERE public_key = ?")
                        .bind(to_i64(from)?)
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
        let retired = retire_open_key(&mut tx, site, now, TX).await?;
        sqlx::query(
            "INSERT INTO site_keys (site, name, public_key, fingerprint, enrolled_at, reports_from) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(site.as_str())
        .bind(name)
        .bind(key.as_bytes().as_slice())
        .bind(fingerprint_of(key).0.as_slice())
        .bind(to_i64(now)?)
        .bind(reports_from.map(to_i64).transpose()?)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(EnrollOutcome::Enrolled {
            replaced_keys: retired,
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
        let mut tx = self.begin(TX).await?;
        let since_i = to_i64(since.min(now))?;
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM site_keys WHERE site = ? AND enrolled_at <= ? \
             AND (revoked_at IS NULL OR revoked_at > ?) ORDER BY id DESC LIMIT 1"
        ))
        .bind(site.as_str())
        .bind(since_i)
        .bind(since_i)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(TX))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db(TX))?;
            return Ok(None);
        };
        let mut record = key_record(&row)?;
        sqlx::query(
            "UPDATE site_keys SET revoked_at = ?, end_reason = ?, end_recorded_at = ? WHERE id = ?",
        )
        .bind(since_i)
        .bind(reason.as_str())
        .bind(to_i64(now)?)
        .bind(record.id)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
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
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM site_keys WHERE fingerprint = ?"
        ))
        .bind(fingerprint.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("key_by_fingerprint"))?;
        row.as_ref().map(key_record).transpose()
    }

    /// The keys of one site, oldest first.
    pub async fn keys_of(&self, site: &SiteId) -> Result<Vec<KeyRecord>> {
        self.keys_of_site(Some(site)).await
    }

    /// The keys of `site` (of every site for `None`), oldest first.
    async fn keys_of_site(&self, site: Option<&SiteId>) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM site_keys WHERE ?1 IS NULL OR site = ?1 ORDER BY id"
        ))
        .bind(site.map(SiteId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list_keys"))?;
        rows.iter().map(key_record).collect()
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

fn key_record(row: &sqlx::sqlite::SqliteRow) -> Result<KeyRecord> {
    let bytes: Vec<u8> = row.get(3);
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("public key is not 32 bytes".into()))?;
    let public_key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| StoreError::Corrupt("public key is not an Ed25519 point".into()))?;
    let valid_until: Option<i64> = row.get(5);
    let reason: Option<String> = row.get(6);
    let recorded_at: Option<i64> = row.get(7);
    let reports_from: Option<i64> = row.get(8);
    let ended = match (reason, recorded_at) {
        (Some(reason), Some(recorded_at)) => Some(KeyEnd {
            reason: KeyEndReason::parse(&reason)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown key end reason {reason:?}")))?,
            recorded_at: to_u64(recorded_at)?,
        }),
        _ => None,
    };
    Ok(KeyRecord {
        id: row.get(0),
        site: site_of(row.get(1))?,
        name: row.get(2),
        public_key,
        enrolled_at: to_u64(row.get(4))?,
        valid_until: valid_until.map(to_u64).transpose()?,
        ended,
        reports_from: reports_from.map(to_u64).transpose()?,
    })
}
