//! Period locks and site contacts: which (period, form) a manager locked before publishing (no
//! report is stored for it while locked: the report writer checks inside its transaction), and
//! whom the province calls about each site.

use super::*;

/// A locked (period, form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodLock {
    /// The period.
    pub period: Period,
    /// The form.
    pub form: FormKey,
    /// Who locked it.
    pub locked_by: String,
    /// When.
    pub locked_at: UnixTime,
}

impl Store {
    /// Locks `period` of `form`; `false` if it was locked already (the first lock stands).
    pub async fn lock_period(
        &self,
        period: Period,
        form: &FormKey,
        by: &str,
        at: UnixTime,
    ) -> Result<bool> {
        const TX: &str = "lock_period";
        let at = to_i64(at)?;
        in_transaction!(self, TX, |tx| {
            let done = sqlx::query(
                "INSERT INTO period_locks (period, form_id, form_version, locked_by, locked_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(period.to_string())
            .bind(&form.id)
            .bind(i64::from(form.version))
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Unlocks `period` of `form`; `false` if it was not locked.
    pub async fn unlock_period(&self, period: Period, form: &FormKey) -> Result<bool> {
        const TX: &str = "unlock_period";
        in_transaction!(self, TX, |tx| {
            let done = sqlx::query(
                "DELETE FROM period_locks WHERE period = $1 AND form_id = $2 \
                 AND form_version = $3",
            )
            .bind(period.to_string())
            .bind(&form.id)
            .bind(i64::from(form.version))
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Every lock in force, oldest period first.
    pub async fn period_locks(&self) -> Result<Vec<PeriodLock>> {
        let rows: Vec<(String, String, i64, String, i64)> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT period, form_id, form_version, locked_by, locked_at FROM period_locks \
                 ORDER BY period, form_id, form_version",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(db("list_period_locks"))?;
        rows.into_iter()
            .map(|(period, id, version, locked_by, locked_at)| {
                Ok(PeriodLock {
                    period: period_of(period)?,
                    form: FormKey {
                        id,
                        version: to_u32(version)?,
                    },
                    locked_by,
                    locked_at: to_u64(locked_at)?,
                })
            })
            .collect()
    }

    /// The lock on `period` of `form`, if any.
    pub async fn period_lock(&self, period: Period, form: &FormKey) -> Result<Option<PeriodLock>> {
        Ok(self
            .period_locks()
            .await?
            .into_iter()
            .find(|l| l.period == period && &l.form == form))
    }

    /// Records whom to call about `site` (replacing what was recorded).
    pub async fn set_site_contact(&self, site: &SiteId, contact: &str, at: UnixTime) -> Result<()> {
        const TX: &str = "set_site_contact";
        let at = to_i64(at)?;
        in_transaction!(self, TX, |tx| {
            sqlx::query(
                "INSERT INTO site_contacts (site, contact, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (site) DO UPDATE SET contact = excluded.contact, \
                 updated_at = excluded.updated_at",
            )
            .bind(site.as_str())
            .bind(contact)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(())
        })
    }

    /// Whom to call about each site that has a contact recorded.
    pub async fn site_contacts(&self) -> Result<BTreeMap<SiteId, String>> {
        let rows: Vec<(String, String)> = with_pool!(&self.pool, |pool| {
            sqlx::query_as("SELECT site, contact FROM site_contacts ORDER BY site")
                .fetch_all(pool)
                .await
        })
        .map_err(db("list_site_contacts"))?;
        rows.into_iter()
            .map(|(site, contact)| Ok((site_of(site)?, contact)))
            .collect()
    }
}
