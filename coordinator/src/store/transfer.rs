//! `migrate-store`: a whole province's history copied from one store into a new, empty one
//! (SQLite to PostgreSQL, or back), row for row: the same keys with their windows, the same
//! envelopes and receipts byte for byte under the same sequence numbers, the same evidence,
//! decisions, accounts and audit trail. The sequence high-water mark is carried over too, so a
//! receipt number is never issued twice. Afterwards every table is counted and digested on both
//! sides, and any difference is an error.

use super::*;

/// Every table a transfer copies and checks, digested in this order.
const TRANSFERRED: [&str; 11] = [
    "SELECT id, site, name, public_key, fingerprint, enrolled_at, revoked_at, end_reason, \
     end_recorded_at, reports_from FROM site_keys ORDER BY id",
    "SELECT sequence, envelope_hash, site, period, revision, key_id, form_id, form_version, \
     envelope, received_at FROM reports ORDER BY sequence",
    "SELECT sequence, indicator, table_index, cell_index, value FROM cells \
     ORDER BY sequence, indicator, table_index, cell_index",
    "SELECT sequence, receipt FROM receipts ORDER BY sequence",
    "SELECT id, envelope_hash, site, period, revision, envelope, received_at, form_id, \
     form_version, later_conflicts FROM equivocations ORDER BY id",
    "SELECT id, fingerprint FROM coordinator_identity ORDER BY id",
    "SELECT id, site, form_id, form_version, period, revision, accepted_hash, decided_by, \
     decided_at, note FROM conflict_resolutions ORDER BY id",
    "SELECT name, role, password_hash, created_at FROM users ORDER BY name",
    "SELECT id, at, who, action, detail FROM audit ORDER BY id",
    "SELECT period, form_id, form_version, locked_by, locked_at FROM period_locks \
     ORDER BY period, form_id, form_version",
    "SELECT site, contact, updated_at FROM site_contacts ORDER BY site",
];

/// The tables of [`TRANSFERRED`], for counting.
const TABLES: [&str; 11] = [
    "site_keys",
    "reports",
    "cells",
    "receipts",
    "equivocations",
    "coordinator_identity",
    "conflict_resolutions",
    "users",
    "audit",
    "period_locks",
    "site_contacts",
];

/// Rows inserted per statement when copying cells.
const CELLS_PER_STATEMENT: usize = 2_000;

/// What a transfer copied, as checked on the target afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSummary {
    /// Rows per table, in the order of the schema (site_keys, reports, cells, receipts,
    /// equivocations, coordinator_identity, conflict_resolutions, users, audit, period_locks,
    /// site_contacts).
    pub rows: Vec<(&'static str, u64)>,
    /// The highest receipt sequence number ever issued (or reserved) by the source.
    pub sequence_mark: u64,
    /// Digest of every copied row, equal on both sides.
    pub digest: Sha256Hash,
}

type KeyRow = (
    i64,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);
type ReportRowAll = (
    i64,
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    String,
    i64,
    Vec<u8>,
    i64,
);
type CellRowAll = (i64, String, i64, i64, Option<i64>);
type EvidenceRow = (
    i64,
    Vec<u8>,
    String,
    String,
    i64,
    Vec<u8>,
    i64,
    String,
    i64,
    i64,
);
type ResolutionRow = (
    i64,
    String,
    String,
    i64,
    String,
    i64,
    Vec<u8>,
    String,
    i64,
    String,
);

impl Store {
    /// Copies everything in this store into `target`, which must be empty (just made by
    /// [`Store::create`]), in one transaction on the target, then checks that both hold the
    /// same rows (counts and digest) and the same sequence mark.
    pub async fn copy_into(&self, target: &Store) -> Result<TransferSummary> {
        const TX: &str = "migrate_store_copy";
        if target.report_count().await? != 0 || !target.keys().await?.is_empty() {
            return Err(StoreError::WriteFailed(
                "the target store is not empty: migrate-store only fills a new one".into(),
            ));
        }
        let keys: Vec<KeyRow> = self.rows(TRANSFERRED[0]).await?;
        let reports: Vec<ReportRowAll> = self.rows(TRANSFERRED[1]).await?;
        let cells: Vec<CellRowAll> = self.rows(TRANSFERRED[2]).await?;
        let receipts: Vec<(i64, Vec<u8>)> = self.rows(TRANSFERRED[3]).await?;
        let evidence: Vec<EvidenceRow> = self.rows(TRANSFERRED[4]).await?;
        let identity: Vec<(i64, Vec<u8>)> = self.rows(TRANSFERRED[5]).await?;
        let resolutions: Vec<ResolutionRow> = self.rows(TRANSFERRED[6]).await?;
        let users: Vec<(String, String, String, i64)> = self.rows(TRANSFERRED[7]).await?;
        let audit: Vec<(i64, i64, String, String, String)> = self.rows(TRANSFERRED[8]).await?;
        let locks: Vec<(String, String, i64, String, i64)> = self.rows(TRANSFERRED[9]).await?;
        let contacts: Vec<(String, String, i64)> = self.rows(TRANSFERRED[10]).await?;
        let mark = self.sequence_mark().await?;

        in_transaction!(target, TX, |tx| {
            // The target was just created: its identity row (if any) is replaced by the source's.
            sqlx::query("DELETE FROM coordinator_identity")
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            for k in &keys {
                sqlx::query(
                    "INSERT INTO site_keys (id, site, name, public_key, fingerprint, \
                     enrolled_at, revoked_at, end_reason, end_recorded_at, reports_from) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(k.0)
                .bind(&k.1)
                .bind(&k.2)
                .bind(k.3.as_slice())
                .bind(k.4.as_slice())
                .bind(k.5)
                .bind(k.6)
                .bind(k.7.as_deref())
                .bind(k.8)
                .bind(k.9)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for r in &reports {
                sqlx::query(
                    "INSERT INTO reports (sequence, envelope_hash, site, period, revision, \
                     key_id, form_id, form_version, envelope, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(r.0)
                .bind(r.1.as_slice())
                .bind(&r.2)
                .bind(&r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(&r.6)
                .bind(r.7)
                .bind(r.8.as_slice())
                .bind(r.9)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for chunk in cells.chunks(CELLS_PER_STATEMENT) {
                let mut builder = QueryBuilder::new(
                    "INSERT INTO cells (sequence, indicator, table_index, cell_index, value) ",
                );
                builder.push_values(chunk, |mut b, c| {
                    b.push_bind(c.0)
                        .push_bind(c.1.as_str())
                        .push_bind(c.2)
                        .push_bind(c.3)
                        .push_bind(c.4);
                });
                builder.build().execute(&mut *tx).await.map_err(db(TX))?;
            }
            for (sequence, receipt) in &receipts {
                sqlx::query("INSERT INTO receipts (sequence, receipt) VALUES ($1, $2)")
                    .bind(sequence)
                    .bind(receipt.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
            }
            for e in &evidence {
                sqlx::query(
                    "INSERT INTO equivocations (id, envelope_hash, site, period, revision, \
                     envelope, received_at, form_id, form_version, later_conflicts) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(e.0)
                .bind(e.1.as_slice())
                .bind(&e.2)
                .bind(&e.3)
                .bind(e.4)
                .bind(e.5.as_slice())
                .bind(e.6)
                .bind(&e.7)
                .bind(e.8)
                .bind(e.9)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for (id, fingerprint) in &identity {
                sqlx::query("INSERT INTO coordinator_identity (id, fingerprint) VALUES ($1, $2)")
                    .bind(id)
                    .bind(fingerprint.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
            }
            for d in &resolutions {
                sqlx::query(
                    "INSERT INTO conflict_resolutions (id, site, form_id, form_version, period, \
                     revision, accepted_hash, decided_by, decided_at, note) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(d.0)
                .bind(&d.1)
                .bind(&d.2)
                .bind(d.3)
                .bind(&d.4)
                .bind(d.5)
                .bind(d.6.as_slice())
                .bind(&d.7)
                .bind(d.8)
                .bind(&d.9)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for u in &users {
                sqlx::query(
                    "INSERT INTO users (name, role, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&u.0)
                .bind(&u.1)
                .bind(&u.2)
                .bind(u.3)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for a in &audit {
                sqlx::query(
                    "INSERT INTO audit (id, at, who, action, detail) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(a.0)
                .bind(a.1)
                .bind(&a.2)
                .bind(&a.3)
                .bind(&a.4)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for l in &locks {
                sqlx::query(
                    "INSERT INTO period_locks (period, form_id, form_version, locked_by, \
                     locked_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.0)
                .bind(&l.1)
                .bind(l.2)
                .bind(&l.3)
                .bind(l.4)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            for c in &contacts {
                sqlx::query(
                    "INSERT INTO site_contacts (site, contact, updated_at) VALUES ($1, $2, $3)",
                )
                .bind(&c.0)
                .bind(&c.1)
                .bind(c.2)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            }
            tx.commit().await.map_err(db(TX))?;
        });
        target.set_identity_marks(to_i64(mark)?).await?;

        let mut rows = Vec::new();
        for table in TABLES {
            let here = self.count(table).await?;
            let there = target.count(table).await?;
            if here != there {
                return Err(StoreError::WriteFailed(format!(
                    "copy check failed: {table} has {here} rows in the source, {there} in the \
                     target"
                )));
            }
            rows.push((table, here));
        }
        let digest = self.digest_of(&TRANSFERRED).await?;
        let copied = target.digest_of(&TRANSFERRED).await?;
        if digest != copied {
            return Err(StoreError::WriteFailed(
                "copy check failed: the target's rows differ from the source's (digest)".into(),
            ));
        }
        let copied_mark = target.sequence_mark().await?;
        if copied_mark != mark {
            return Err(StoreError::WriteFailed(format!(
                "copy check failed: sequence mark {mark} in the source, {copied_mark} in the \
                 target"
            )));
        }
        Ok(TransferSummary {
            rows,
            sequence_mark: mark,
            digest,
        })
    }

    async fn rows<T>(&self, query: &'static str) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        with_pool!(&self.pool, |pool| {
            sqlx::query_as(query).fetch_all(pool).await
        })
        .map_err(db("migrate_store_read"))
    }

    async fn count(&self, table: &str) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = with_pool!(&self.pool, |pool| {
            sqlx::query_scalar(&sql).fetch_one(pool).await
        })
        .map_err(db("migrate_store_count"))?;
        to_u64(n)
    }

    /// The highest receipt sequence number this store ever issued or reserved: at least the
    /// highest stored, and on SQLite AUTOINCREMENT's mark, on PostgreSQL the identity
    /// sequence's last value (numbers used by reports whose transaction failed count too).
    pub async fn sequence_mark(&self) -> Result<u64> {
        const QUERY: &str = "sequence_mark";
        let mark: i64 = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'reports'), 0), \
                 COALESCE((SELECT MAX(sequence) FROM reports), 0))",
            )
            .fetch_one(pool)
            .await
            .map_err(db(QUERY))?,
            Pool::Postgres(pool) => sqlx::query_scalar(
                "SELECT GREATEST(COALESCE((SELECT s.last_value FROM pg_sequences s \
                 WHERE format('%I.%I', s.schemaname, s.sequencename) \
                 = pg_get_serial_sequence('reports', 'sequence')), 0), \
                 COALESCE((SELECT MAX(sequence) FROM reports), 0))",
            )
            .fetch_one(pool)
            .await
            .map_err(db(QUERY))?,
        };
        to_u64(mark)
    }

    /// After rows were copied with their ids: the next id of every table continues after the
    /// copied ones, and the next receipt sequence number after `mark`.
    async fn set_identity_marks(&self, mark: i64) -> Result<()> {
        const TX: &str = "migrate_store_set_marks";
        match &self.pool {
            Pool::Sqlite(pool) => {
                // Only `reports` uses AUTOINCREMENT; the other ids continue after the largest.
                let mut tx = sqlite::begin(pool, TX).await?;
                sqlx::query("DELETE FROM sqlite_sequence WHERE name = 'reports'")
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
                sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('reports', $1)")
                    .bind(mark)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
                tx.commit().await.map_err(db(TX))?;
            }
            Pool::Postgres(pool) => {
                let mut tx = postgres::begin(pool, TX).await?;
                for (table, column) in [
                    ("site_keys", "id"),
                    ("equivocations", "id"),
                    ("conflict_resolutions", "id"),
                    ("audit", "id"),
                ] {
                    sqlx::query(&format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                         GREATEST(COALESCE(MAX({column}), 0), 1), MAX({column}) IS NOT NULL) \
                         FROM {table}"
                    ))
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
                }
                sqlx::query(
                    "SELECT setval(pg_get_serial_sequence('reports', 'sequence'), \
                     GREATEST($1, 1), $1 > 0)",
                )
                .bind(mark)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
                tx.commit().await.map_err(db(TX))?;
            }
        }
        Ok(())
    }
}
