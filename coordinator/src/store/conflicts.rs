//! Equivocation as the province handles it: each contested slot (site, form, period, revision)
//! with the stored report and the kept evidence side by side, and the province's decisions on
//! which envelope it accepts. Decisions are only ever added; evidence is never deleted.

use super::*;

/// One contested slot: the report stored in it and the conflicting envelope kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The site.
    pub site: SiteId,
    /// The form of the contested chain (`None` for evidence kept before forms were part of a
    /// report's identity).
    pub form: Option<FormKey>,
    /// The period.
    pub period: Period,
    /// The contested revision.
    pub revision: u32,
    /// The envelope stored in the slot and when it arrived, if the slot's report is stored
    /// under the evidence's form.
    pub stored: Option<(EnvelopeHash, UnixTime)>,
    /// The conflicting envelope kept as evidence.
    pub evidence: EnvelopeHash,
    /// When the evidence arrived.
    pub evidence_received_at: UnixTime,
    /// Conflicting deliveries for the slot after the evidence, counted only.
    pub later_conflicts: u64,
    /// The province's latest decision on the slot, if any.
    pub resolution: Option<Resolution>,
}

/// The province's decision on a contested slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The envelope the province accepts.
    pub accepted: EnvelopeHash,
    /// Who decided (as given to `resolve`).
    pub decided_by: String,
    /// When, Unix seconds.
    pub decided_at: UnixTime,
    /// Why, as given (may be empty).
    pub note: String,
}

impl Store {
    /// Every contested slot, of one period or all, by period, site, form and revision, each
    /// with its latest resolution.
    pub async fn conflicts(&self, period: Option<Period>) -> Result<Vec<Conflict>> {
        const QUERY: &str = "list_conflicts";
        let rows = sqlx::query(
            "SELECT e.site, e.form_id, e.form_version, e.period, e.revision, \
             r.envelope_hash, r.received_at, e.envelope_hash, e.received_at, e.later_conflicts, \
             d.accepted_hash, d.decided_by, d.decided_at, d.note \
             FROM equivocations e \
             LEFT JOIN reports r ON r.site = e.site AND r.form_id = e.form_id \
               AND r.form_version = e.form_version AND r.period = e.period \
               AND r.revision = e.revision \
             LEFT JOIN conflict_resolutions d ON d.id = ( \
               SELECT MAX(x.id) FROM conflict_resolutions x WHERE x.site = e.site \
               AND x.form_id = e.form_id AND x.form_version = e.form_version \
               AND x.period = e.period AND x.revision = e.revision) \
             WHERE ?1 IS NULL OR e.period = ?1 \
             ORDER BY e.period, e.site, e.form_id, e.form_version, e.revision",
        )
        .bind(period.map(|p| p.to_string()))
        .fetch_all(&self.pool)
        .await
        .map_err(db(QUERY))?;
        rows.iter()
            .map(|row| {
                let form_id: String = row.get(1);
                let stored: Option<Vec<u8>> = row.get(5);
                let stored_at: Option<i64> = row.get(6);
                let accepted: Option<Vec<u8>> = row.get(10);
                Ok(Conflict {
                    site: site_of(row.get(0))?,
                    form: evidence_form_of(form_id, row.get(2))?,
                    period: period_of(row.get(3))?,
                    revision: to_u32(row.get(4))?,
                    stored: match (stored, stored_at) {
                        (Some(hash), Some(at)) => Some((hash_of(hash)?, to_u64(at)?)),
                        _ => None,
                    },
                    evidence: hash_of(row.get(7))?,
                    evidence_received_at: to_u64(row.get(8))?,
                    later_conflicts: to_u64(row.get(9))?,
                    resolution: match accepted {
                        Some(hash) => Some(Resolution {
                            accepted: hash_of(hash)?,
                            decided_by: row.get(11),
                            decided_at: to_u64(row.get(12))?,
                            note: row.get(13),
                        }),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// Records the province's decision on the contested slot of `conflict`: it accepts the
    /// envelope `resolution.accepted`. Adds a row; nothing is deleted or changed.
    pub async fn record_resolution(
        &self,
        conflict: &Conflict,
        resolution: &Resolution,
    ) -> Result<()> {
        const TX: &str = "record_conflict_resolution";
        let mut tx = self.begin(TX).await?;
        sqlx::query(
            "INSERT INTO conflict_resolutions (site, form_id, form_version, period, revision, \
             accepted_hash, decided_by, decided_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(conflict.site.as_str())
        .bind(conflict.form.as_ref().map_or("", |f| f.id.as_str()))
        .bind(conflict.form.as_ref().map_or(0, |f| i64::from(f.version)))
        .bind(conflict.period.to_string())
        .bind(i64::from(conflict.revision))
        .bind(resolution.accepted.0.as_slice())
        .bind(&resolution.decided_by)
        .bind(to_i64(resolution.decided_at)?)
        .bind(&resolution.note)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(())
    }
}
