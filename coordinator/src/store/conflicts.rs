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
        let rows: Vec<ConflictColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT e.site, e.form_id, e.form_version, e.period, e.revision, \
                 r.envelope_hash AS stored_hash, r.received_at AS stored_at, \
                 e.envelope_hash AS evidence_hash, e.received_at AS evidence_at, \
                 e.later_conflicts, d.accepted_hash, d.decided_by, d.decided_at, d.note \
                 FROM equivocations e \
                 LEFT JOIN reports r ON r.site = e.site AND r.form_id = e.form_id \
                   AND r.form_version = e.form_version AND r.period = e.period \
                   AND r.revision = e.revision \
                 LEFT JOIN conflict_resolutions d ON d.id = ( \
                   SELECT MAX(x.id) FROM conflict_resolutions x WHERE x.site = e.site \
                   AND x.form_id = e.form_id AND x.form_version = e.form_version \
                   AND x.period = e.period AND x.revision = e.revision) \
                 WHERE $1 IS NULL OR e.period = $1 \
                 ORDER BY e.period, e.site, e.form_id, e.form_version, e.revision",
            )
            .bind(period.map(|p| p.to_string()))
            .fetch_all(pool)
            .await
        })
        .map_err(db(QUERY))?;
        rows.into_iter().map(ConflictColumns::conflict).collect()
    }

    /// Records the province's decision on the contested slot of `conflict`: it accepts the
    /// envelope `resolution.accepted`. Adds a row; nothing is deleted or changed.
    pub async fn record_resolution(
        &self,
        conflict: &Conflict,
        resolution: &Resolution,
    ) -> Result<()> {
        const TX: &str = "record_conflict_resolution";
        let decided_at = to_i64(resolution.decided_at)?;
        in_transaction!(self, TX, |tx| {
            sqlx::query(
                "INSERT INTO conflict_resolutions (site, form_id, form_version, period, \
                 revision, accepted_hash, decided_by, decided_at, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(conflict.site.as_str())
            .bind(conflict.form.as_ref().map_or("", |f| f.id.as_str()))
            .bind(conflict.form.as_ref().map_or(0, |f| i64::from(f.version)))
            .bind(conflict.period.to_string())
            .bind(i64::from(conflict.revision))
            .bind(resolution.accepted.0.as_slice())
            .bind(&resolution.decided_by)
            .bind(decided_at)
            .bind(&resolution.note)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(())
        })
    }
}

/// A contested slot's row as [`Store::conflicts`] reads it, on either backend.
#[derive(sqlx::FromRow)]
struct ConflictColumns {
    site: String,
    form_id: String,
    form_version: i64,
    period: String,
    revision: i64,
    stored_hash: Option<Vec<u8>>,
    stored_at: Option<i64>,
    evidence_hash: Vec<u8>,
    evidence_at: i64,
    later_conflicts: i64,
    accepted_hash: Option<Vec<u8>>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    note: Option<String>,
}

impl ConflictColumns {
    fn conflict(self) -> Result<Conflict> {
        Ok(Conflict {
            site: site_of(self.site)?,
            form: evidence_form_of(self.form_id, self.form_version)?,
            period: period_of(self.period)?,
            revision: to_u32(self.revision)?,
            stored: match (self.stored_hash, self.stored_at) {
                (Some(hash), Some(at)) => Some((hash_of(hash)?, to_u64(at)?)),
                _ => None,
            },
            evidence: hash_of(self.evidence_hash)?,
            evidence_received_at: to_u64(self.evidence_at)?,
            later_conflicts: to_u64(self.later_conflicts)?,
            resolution: match (self.accepted_hash, self.decided_by, self.decided_at) {
                (Some(hash), Some(decided_by), Some(decided_at)) => Some(Resolution {
                    accepted: hash_of(hash)?,
                    decided_by,
                    decided_at: to_u64(decided_at)?,
                    note: self.note.unwrap_or_default(),
                }),
                _ => None,
            },
        })
    }
}
