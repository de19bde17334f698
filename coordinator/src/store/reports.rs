//! Reports as stored: by hash, by revision chain (site, form, period), the latest of each
//! site for publication, equivocation evidence, and a digest of everything for tests.

use super::writer::{CellRow, ReportRow, WriteJob};
use super::*;

impl Store {
    /// The stored report with this envelope hash.
    pub async fn report_by_hash(&self, hash: &EnvelopeHash) -> Result<Option<ReportRecord>> {
        let sql = format!("{REPORT_SELECT} WHERE r.envelope_hash = $1");
        let row: Option<ReportColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(hash.0.as_slice())
                .fetch_optional(pool)
                .await
        })
        .map_err(db("report_by_hash"))?;
        row.map(ReportColumns::record).transpose()
    }

    /// The stored report filling (site, form, period, revision).
    pub async fn report_in_slot(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
        revision: u32,
    ) -> Result<Option<ReportRecord>> {
        self.report_of_chain(site, form, period, Some(revision))
            .await
    }

    /// The head of the chain (site, form, period): its latest stored revision.
    pub async fn chain_head(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
    ) -> Result<Option<ChainHead>> {
        Ok(self
            .report_of_chain(site, form, period, None)
            .await?
            .map(|r| ChainHead {
                revision: r.revision,
                envelope_hash: r.hash,
            }))
    }

    /// A site's own stored report of a chain (at `revision`, or its latest) with the chain's
    /// latest revision: what [`Request::Fetch`](quietcount_protocol::wire::Request::Fetch)
    /// sends back.
    pub async fn own_report(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
        revision: Option<u32>,
    ) -> Result<Option<(ReportRecord, u32)>> {
        let Some(latest) = self.report_of_chain(site, form, period, None).await? else {
            return Ok(None);
        };
        let record = match revision {
            None => Some(latest.clone()),
            Some(_) => self.report_of_chain(site, form, period, revision).await?,
        };
        Ok(record.map(|r| (r, latest.revision)))
    }

    /// The report of a chain at `revision`, or its latest one.
    async fn report_of_chain(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
        revision: Option<u32>,
    ) -> Result<Option<ReportRecord>> {
        let name = match revision {
            Some(_) => "report_in_slot",
            None => "chain_head",
        };
        // `$5 IS NULL`: the chain's latest revision.
        let sql = format!(
            "{REPORT_SELECT} WHERE r.site = $1 AND r.form_id = $2 AND r.form_version = $3 \
             AND r.period = $4 AND ($5 IS NULL OR r.revision = $5) \
             ORDER BY r.revision DESC LIMIT 1"
        );
        let row: Option<ReportColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(site.as_str())
                .bind(form.id.as_str())
                .bind(i64::from(form.version))
                .bind(period.to_string())
                .bind(revision.map(i64::from))
                .fetch_optional(pool)
                .await
        })
        .map_err(db(name))?;
        row.map(ReportColumns::record).transpose()
    }

    /// Stores a verified report, its decoded cells and its receipt, atomically.
    ///
    /// `sign_receipt` is given the sequence number the database assigned and returns the
    /// signed receipt bytes, which are stored with the report. The result comes back only
    /// after the transaction holding the report has committed (group commit: reports arriving
    /// together share one transaction and one disk sync, each in its own savepoint). A report
    /// whose slot or hash is already taken gives [`StoreError::SlotTaken`] and stores nothing.
    pub async fn insert_report(
        &self,
        new: NewReport<'_>,
        sign_receipt: SignReceipt,
    ) -> Result<(u64, Vec<u8>)> {
        let report = new.report;
        let cells = report
            .indicators
            .iter()
            .flat_map(|indicator| {
                indicator
                    .tables
                    .iter()
                    .enumerate()
                    .flat_map(move |(t, table)| {
                        table
                            .cells
                            .iter()
                            .enumerate()
                            .map(move |(c, cell)| CellRow {
                                indicator: indicator.indicator.clone(),
                                table: t as i64,
                                cell: c as i64,
                                value: match cell {
                                    Cell::Exact(n) => i64::try_from(*n).ok(),
                                    Cell::Suppressed => None,
                                },
                            })
                    })
            })
            .collect();
        let row = ReportRow {
            hash: new.hash,
            site: report.site.to_string(),
            period: report.period.to_string(),
            revision: i64::from(report.revision),
            key_id: new.key_id,
            form_id: report.form.id.clone(),
            form_version: i64::from(report.form.version),
            envelope: new.envelope.to_vec(),
            received_at: to_i64(new.received_at)?,
            cells,
        };
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob {
                row,
                sign_receipt,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriteFailed("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::WriteFailed("the store's writer has stopped".into()))?
    }

    /// Keeps a conflicting envelope as evidence (once per envelope hash).
    pub async fn record_equivocation(&self, evidence: &Equivocation) -> Result<()> {
        const TX: &str = "record_equivocation_evidence";
        let received_at = to_i64(evidence.received_at)?;
        // The first conflicting envelope of a slot is kept whole; the same envelope again adds
        // nothing; any other conflicting envelope for the slot is only counted. (An envelope
        // already kept under another slot, possible only for evidence kept before forms joined
        // a report's identity, is a unique violation on its hash: nothing new to keep.)
        in_transaction!(self, TX, |tx| {
            let inserted = sqlx::query(
                "INSERT INTO equivocations (envelope_hash, site, form_id, form_version, \
                 period, revision, envelope, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (site, form_id, form_version, period, revision) \
                 DO UPDATE SET later_conflicts = equivocations.later_conflicts + 1 \
                 WHERE equivocations.envelope_hash <> excluded.envelope_hash",
            )
            .bind(Sha256Hash::of(&evidence.envelope).0.as_slice())
            .bind(evidence.site.as_str())
            .bind(evidence.form.as_ref().map_or("", |f| f.id.as_str()))
            .bind(evidence.form.as_ref().map_or(0, |f| i64::from(f.version)))
            .bind(evidence.period.to_string())
            .bind(i64::from(evidence.revision))
            .bind(evidence.envelope.as_slice())
            .bind(received_at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tx.rollback().await.map_err(db(TX))?;
                }
                other => {
                    other.map_err(db(TX))?;
                    tx.commit().await.map_err(db(TX))?;
                }
            }
            Ok(())
        })
    }

    /// Equivocation evidence for a form and period (with evidence kept before forms were part
    /// of a report's identity, which may concern any form).
    pub async fn equivocations(&self, form: &FormKey, period: Period) -> Result<Vec<Equivocation>> {
        type Columns = (String, String, i64, String, i64, Vec<u8>, i64, i64);
        let rows: Vec<Columns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT site, form_id, form_version, period, revision, envelope, received_at, \
                 later_conflicts \
                 FROM equivocations WHERE period = $1 \
                 AND ((form_id = $2 AND form_version = $3) OR form_id = '') ORDER BY id",
            )
            .bind(period.to_string())
            .bind(&form.id)
            .bind(i64::from(form.version))
            .fetch_all(pool)
            .await
        })
        .map_err(db("equivocations_of_form_and_period"))?;
        rows.into_iter()
            .map(
                |(site, form_id, form_version, period, revision, envelope, at, later)| {
                    Ok(Equivocation {
                        site: site_of(site)?,
                        form: evidence_form_of(form_id, form_version)?,
                        period: period_of(period)?,
                        revision: to_u32(revision)?,
                        envelope,
                        received_at: to_u64(at)?,
                        later_conflicts: to_u64(later)?,
                    })
                },
            )
            .collect()
    }

    /// Sites with equivocation evidence for a form and period.
    pub async fn equivocating_sites(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<BTreeSet<SiteId>> {
        Ok(self
            .equivocations(form, period)
            .await?
            .into_iter()
            .map(|e| e.site)
            .collect())
    }

    /// Every stored report of a period, all forms and revisions, by site, form and revision.
    pub async fn reports_of_period(&self, period: Period) -> Result<Vec<ReportRecord>> {
        let sql = format!(
            "{REPORT_SELECT} WHERE r.period = $1 \
             ORDER BY r.site, r.form_id, r.form_version, r.revision"
        );
        let rows: Vec<ReportColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(period.to_string())
                .fetch_all(pool)
                .await
        })
        .map_err(db("reports_of_period"))?;
        rows.into_iter().map(ReportColumns::record).collect()
    }

    /// The latest revision of each site's chain for a form and period, by site.
    pub async fn latest_reports(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Vec<ReportRecord>> {
        let sql = format!(
            "{REPORT_SELECT} WHERE r.form_id = $1 AND r.form_version = $2 AND r.period = $3 \
             AND r.revision = (SELECT MAX(revision) FROM reports x WHERE x.site = r.site \
             AND x.form_id = r.form_id AND x.form_version = r.form_version \
             AND x.period = r.period) \
             ORDER BY r.site"
        );
        let rows: Vec<ReportColumns> = with_pool!(&self.pool, |pool| {
            sqlx::query_as(&sql)
                .bind(&form.id)
                .bind(i64::from(form.version))
                .bind(period.to_string())
                .fetch_all(pool)
                .await
        })
        .map_err(db("latest_reports_of_form_and_period"))?;
        rows.into_iter().map(ReportColumns::record).collect()
    }

    /// When the newest stored report was received (by the coordinator's clock then), if any.
    pub async fn newest_received_at(&self) -> Result<Option<UnixTime>> {
        let newest: Option<i64> = with_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT MAX(received_at) FROM reports")
                .fetch_one(pool)
                .await
        })
        .map_err(db("newest_received_at"))?;
        newest.map(to_u64).transpose()
    }

    /// Number of stored reports.
    pub async fn report_count(&self) -> Result<u64> {
        let n: i64 = with_pool!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM reports")
                .fetch_one(pool)
                .await
        })
        .map_err(db("report_count"))?;
        to_u64(n)
    }

    /// A digest of everything stored (keys, reports, cells, receipts, equivocations, conflict
    /// decisions), so a test can show an operation changed nothing. The same content gives the
    /// same digest on either backend.
    pub async fn digest(&self) -> Result<Sha256Hash> {
        self.digest_of(&DIGESTED).await
    }

    /// The digest of the rows `queries` select, each value written as its bytes (text as
    /// UTF-8, integers in decimal) with its length, NULL as a marker, so that a store and its
    /// copy on another backend digest alike.
    pub(super) async fn digest_of(&self, queries: &[&str]) -> Result<Sha256Hash> {
        let mut text = Vec::new();
        for query in queries {
            with_pool!(&self.pool, |pool| {
                let rows = sqlx::query(query)
                    .fetch_all(pool)
                    .await
                    .map_err(db("digest"))?;
                for row in rows {
                    for i in 0..row.len() {
                        let value: Option<Vec<u8>> = row
                            .try_get::<Option<Vec<u8>>, _>(i)
                            .or_else(|_| {
                                row.try_get::<Option<i64>, _>(i)
                                    .map(|v| v.map(|v| v.to_string().into_bytes()))
                            })
                            .or_else(|_| {
                                row.try_get::<Option<String>, _>(i)
                                    .map(|v| v.map(String::into_bytes))
                            })
                            .map_err(db("digest"))?;
                        match value {
                            Some(v) => {
                                text.extend_from_slice(&(v.len() as u64).to_be_bytes());
                                text.extend_from_slice(&v);
                            }
                            None => text.extend_from_slice(&u64::MAX.to_be_bytes()),
                        }
                    }
                }
            });
            text.push(0xff);
        }
        Ok(Sha256Hash::of(&text))
    }
}

/// What [`Store::digest`] covers.
const DIGESTED: [&str; 6] = [
    "SELECT id, site, name, public_key, enrolled_at, revoked_at, end_reason, end_recorded_at, \
     reports_from FROM site_keys ORDER BY id",
    "SELECT sequence, envelope_hash, site, form_id, form_version, period, revision, \
     key_id, envelope, received_at FROM reports ORDER BY sequence",
    "SELECT sequence, indicator, table_index, cell_index, value FROM cells \
     ORDER BY sequence, indicator, table_index, cell_index",
    "SELECT sequence, receipt FROM receipts ORDER BY sequence",
    "SELECT envelope_hash, site, form_id, form_version, period, revision, envelope, \
     received_at, later_conflicts FROM equivocations ORDER BY id",
    "SELECT id, site, form_id, form_version, period, revision, accepted_hash, \
     decided_by, decided_at, note FROM conflict_resolutions ORDER BY id",
];

const REPORT_SELECT: &str = "SELECT r.sequence, r.site, r.period, r.revision, r.envelope_hash, \
     r.envelope, r.received_at, c.receipt, r.key_id, r.form_id, r.form_version FROM reports r \
     JOIN receipts c ON c.sequence = r.sequence";

/// A report's row as [`REPORT_SELECT`] reads it, on either backend.
#[derive(sqlx::FromRow)]
struct ReportColumns {
    sequence: i64,
    site: String,
    period: String,
    revision: i64,
    envelope_hash: Vec<u8>,
    envelope: Vec<u8>,
    received_at: i64,
    receipt: Vec<u8>,
    key_id: i64,
    form_id: String,
    form_version: i64,
}

impl ReportColumns {
    fn record(self) -> Result<ReportRecord> {
        Ok(ReportRecord {
            sequence: to_u64(self.sequence)?,
            site: site_of(self.site)?,
            period: period_of(self.period)?,
            revision: to_u32(self.revision)?,
            hash: hash_of(self.envelope_hash)?,
            envelope: self.envelope,
            received_at: to_u64(self.received_at)?,
            receipt: self.receipt,
            key_id: self.key_id,
            form: FormKey {
                id: self.form_id,
                version: to_u32(self.form_version)?,
            },
        })
    }
}
