//! Sites and their keys: enrolment (one active key per site, enforced by the schema),
//! revocation, and the key records the TLS directory and ingest read.

use super::*;

/// Revokes the active key of `site` at `now` inside `tx` (named `name`); how many were revoked.
async fn revoke_active_key(
    tx: &mut Transaction<'static, Sqlite>,
    site: &SiteId,
    now: UnixTime,
    name: &'static str,
) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE site_keys SET revoked_at = ? WHERE site = ? AND revoked_at IS NULL")
            .bind(to_i64(now)?)
            .bind(site.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db(name))?
            .rows_affected(),
    )
}

/// The columns `key_record` reads, in its order.
const KEY_COLUMNS: &str = "id, site, name, public_key, enrolled_at, revoked_at";

impl Store {
    /// Enrolls `key` for `site`, revoking any other active key of the site at `now`.
    /// Enrolling the key that is already active for the site changes nothing.
    pub async fn enroll(
        &self,
        site: &SiteId,
        name: &str,
        key: &VerifyingKey,
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
            tx.rollback().await.map_err(db(TX))?;
            return Ok(if owner != site.as_str() {
                EnrollOutcome::KeyUsedByOtherSite(owner)
            } else if revoked.is_some() {
                EnrollOutcome::KeyWasRevoked
            } else {
                EnrollOutcome::AlreadyEnrolled
            });
        }
        let revoked = revoke_active_key(&mut tx, site, now, TX).await?;
        sqlx::query(
            "INSERT INTO site_keys (site, name, public_key, fingerprint, enrolled_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(site.as_str())
        .bind(name)
        .bind(key.as_bytes().as_slice())
        .bind(fingerprint_of(key).0.as_slice())
        .bind(to_i64(now)?)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(EnrollOutcome::Enrolled {
            replaced_keys: revoked,
        })
    }

    /// Revokes the active key of `site` at `now`. Returns false if it had none.
    pub async fn revoke(&self, site: &SiteId, now: UnixTime) -> Result<bool> {
        const TX: &str = "revoke_site_key";
        let mut tx = self.begin(TX).await?;
        let changed = revoke_active_key(&mut tx, site, now, TX).await?;
        tx.commit().await.map_err(db(TX))?;
        Ok(changed > 0)
    }

    /// Every key ever enrolled, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.keys_of_site(None).await
    }

    /// The key with this fingerprint, revoked or not.
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
    /// The key was enrolled; `replaced_keys` older keys of the site were revoked.
    Enrolled {
        /// Keys revoked by this enrolment.
        replaced_keys: u64,
    },
    /// This key is already the site's active key.
    AlreadyEnrolled,
    /// This key was enrolled for the site before and revoked; it cannot come back.
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
    let revoked: Option<i64> = row.get(5);
    Ok(KeyRecord {
        id: row.get(0),
        site: site_of(row.get(1))?,
        name: row.get(2),
        public_key,
        enrolled_at: to_u64(row.get(4))?,
        revoked_at: revoked.map(to_u64).transpose()?,
    })
}
