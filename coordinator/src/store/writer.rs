//! The single writer of reports: reports arriving together share one transaction (`BEGIN
//! IMMEDIATE` in SQLite) and one disk sync, each in its own savepoint, and every caller is
//! answered only after the commit (a receipt means the report is on disk). The same code runs on
//! both backends: [`write_batch`] is instantiated once per driver by `batch_writer!`.

use super::*;

/// Cells inserted per statement (4 bound values each, far below SQLite's variable limit).
const CELLS_PER_STATEMENT: usize = 2_000;

/// Signs the receipt of a report once its sequence number is known.
pub type SignReceipt = Box<dyn FnOnce(u64) -> std::result::Result<Vec<u8>, String> + Send>;

/// Reports written in one transaction at most.
pub(super) const MAX_BATCH: usize = 64;

/// A report as rows, owned so it can travel to the writer task.
pub(super) struct ReportRow {
    pub(super) hash: EnvelopeHash,
    pub(super) site: String,
    pub(super) period: String,
    pub(super) revision: i64,
    pub(super) key_id: i64,
    pub(super) form_id: String,
    pub(super) form_version: i64,
    pub(super) envelope: Vec<u8>,
    pub(super) received_at: i64,
    pub(super) cells: Vec<CellRow>,
}

pub(super) struct CellRow {
    pub(super) indicator: String,
    pub(super) table: i64,
    pub(super) cell: i64,
    pub(super) value: Option<i64>,
}

pub(super) struct WriteJob {
    pub(super) row: ReportRow,
    pub(super) sign_receipt: SignReceipt,
    pub(super) reply: oneshot::Sender<Result<(u64, Vec<u8>)>>,
}

/// The single writer of reports: takes whatever reports are waiting (up to [`MAX_BATCH`]),
/// writes each in its own savepoint of one transaction, commits once, and only then answers
/// each caller.
pub(super) async fn report_writer(pool: Pool, mut jobs: mpsc::Receiver<WriteJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // One writer at a time per database, across processes too: in SQLite `BEGIN
        // IMMEDIATE` takes the write lock; in PostgreSQL the batch takes the store's advisory
        // lock. Without it, two processes inserting the same two slots in opposite orders wait
        // on each other's unique-index entries until one is aborted as a deadlock.
        match &pool {
            Pool::Sqlite(pool) => {
                let begun = sqlite::begin(pool, BATCH).await;
                sqlite_batch::write_batch(begun, batch).await;
            }
            Pool::Postgres(pool) => {
                let begun = postgres::begin(pool, BATCH).await;
                postgres_batch::write_batch(begun, batch).await;
            }
        }
    }
}

/// The name of the batch transaction.
const BATCH: &str = "store_reports_cells_receipts";

/// The error every caller of a failed batch is given: disk-full stays disk-full.
fn batch_failure(error: &StoreError) -> StoreError {
    match error {
        StoreError::DiskFull => StoreError::DiskFull,
        other => StoreError::WriteFailed(other.to_string()),
    }
}

/// Defines `write_batch` and `insert_one` for one driver `$db`, in module `$module`.
macro_rules! batch_writer {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::*;

            const TX: &str = BATCH;

            /// Writes `batch` in the transaction `begun`, one savepoint per report, and answers
            /// every caller once the transaction has committed (or failed as a whole).
            pub(super) async fn write_batch(
                begun: Result<sqlx::Transaction<'static, $db>>,
                batch: Vec<WriteJob>,
            ) {
                let mut tx = match begun {
                    Ok(tx) => tx,
                    Err(e) => {
                        for job in batch {
                            let _ = job.reply.send(Err(batch_failure(&e)));
                        }
                        return;
                    }
                };
                let mut outcomes = Vec::with_capacity(batch.len());
                let mut disk_full = false;
                for job in batch {
                    // Once the disk is full the database may have rolled the whole transaction
                    // back: the rest of the batch is not attempted, and nothing is committed.
                    let outcome = if disk_full {
                        Err(StoreError::DiskFull)
                    } else {
                        insert_one(&mut tx, job.row, job.sign_receipt).await
                    };
                    disk_full |= matches!(outcome, Err(StoreError::DiskFull));
                    outcomes.push((job.reply, outcome));
                }
                let committed = if disk_full {
                    // Dropping the transaction rolls back whatever is left of it; a SQLite
                    // pool then closes the connection if the rollback could not make it clean.
                    drop(tx);
                    Err(StoreError::DiskFull)
                } else {
                    tx.commit().await.map_err(db(TX))
                };
                match committed {
                    Ok(()) => {
                        for (reply, outcome) in outcomes {
                            let _ = reply.send(outcome);
                        }
                    }
                    Err(e) => {
                        tracing::error!(
                            error = %e,
                            reports = outcomes.len(),
                            "a batch of reports was not stored"
                        );
                        // No receipt without a commit.
                        for (reply, outcome) in outcomes {
                            let _ = reply.send(outcome.and(Err(batch_failure(&e))));
                        }
                    }
                }
            }

            /// Writes one report, its cells and its receipt inside a savepoint of `tx`.
            async fn insert_one(
                tx: &mut sqlx::Transaction<'static, $db>,
                row: ReportRow,
                sign_receipt: SignReceipt,
            ) -> Result<(u64, Vec<u8>)> {
                const TX: &str = "store_report_cells_receipt";
                let mut savepoint = sqlx::Connection::begin(&mut **tx).await.map_err(db(TX))?;
                // A period locked by the province takes no new report: checked inside the
                // transaction, which holds the write lock that locking also takes.
                let lock: Option<(String, i64)> = sqlx::query_as(
                    "SELECT locked_by, locked_at FROM period_locks \
                     WHERE period = $1 AND form_id = $2 AND form_version = $3",
                )
                .bind(&row.period)
                .bind(&row.form_id)
                .bind(row.form_version)
                .fetch_optional(&mut *savepoint)
                .await
                .map_err(db(TX))?;
                // The slot or the envelope already stored: refused before the insert, so that
                // PostgreSQL does not use up a sequence number on the failing insert (numbers
                // stay dense on both backends). The unique constraints remain the guarantee;
                // this check is exact because the transaction holds the write lock.
                let taken: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM reports WHERE envelope_hash = $1 OR (site = $2 \
                     AND form_id = $3 AND form_version = $4 AND period = $5 AND revision = $6)",
                )
                .bind(row.hash.0.as_slice())
                .bind(&row.site)
                .bind(&row.form_id)
                .bind(row.form_version)
                .bind(&row.period)
                .bind(row.revision)
                .fetch_one(&mut *savepoint)
                .await
                .map_err(db(TX))?;
                if taken > 0 {
                    savepoint.rollback().await.map_err(db(TX))?;
                    return Err(StoreError::SlotTaken);
                }
                if let Some((locked_by, locked_at)) = lock {
                    savepoint.rollback().await.map_err(db(TX))?;
                    return Err(StoreError::PeriodLocked {
                        period: period_of(row.period)?,
                        form: row.form_id,
                        locked_by,
                        locked_at: to_u64(locked_at)?,
                    });
                }
                let inserted: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
                    "INSERT INTO reports (envelope_hash, site, period, revision, key_id, \
                     form_id, form_version, envelope, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING sequence",
                )
                .bind(row.hash.0.as_slice())
                .bind(&row.site)
                .bind(&row.period)
                .bind(row.revision)
                .bind(row.key_id)
                .bind(&row.form_id)
                .bind(row.form_version)
                .bind(row.envelope.as_slice())
                .bind(row.received_at)
                .fetch_one(&mut *savepoint)
                .await;
                let sequence = match inserted {
                    Ok(sequence) => sequence,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        savepoint.rollback().await.map_err(db(TX))?;
                        return Err(StoreError::SlotTaken);
                    }
                    Err(e) => {
                        // The insert's own error says what went wrong (say, disk full), even
                        // when the rollback fails too because the database already rolled back.
                        let _ = savepoint.rollback().await;
                        return Err(db(TX)(e));
                    }
                };
                let written: Result<(u64, Vec<u8>)> = async {
                    for chunk in row.cells.chunks(CELLS_PER_STATEMENT) {
                        let mut builder: QueryBuilder<$db> = QueryBuilder::new(
                            "INSERT INTO cells (sequence, indicator, table_index, cell_index, \
                             value) ",
                        );
                        builder.push_values(chunk, |mut b, cell| {
                            b.push_bind(sequence)
                                .push_bind(cell.indicator.as_str())
                                .push_bind(cell.table)
                                .push_bind(cell.cell)
                                .push_bind(cell.value);
                        });
                        builder
                            .build()
                            .execute(&mut *savepoint)
                            .await
                            .map_err(db(TX))?;
                    }
                    let sequence = to_u64(sequence)?;
                    let receipt = sign_receipt(sequence).map_err(StoreError::Receipt)?;
                    sqlx::query("INSERT INTO receipts (sequence, receipt) VALUES ($1, $2)")
                        .bind(to_i64(sequence)?)
                        .bind(receipt.as_slice())
                        .execute(&mut *savepoint)
                        .await
                        .map_err(db(TX))?;
                    Ok((sequence, receipt))
                }
                .await;
                match written {
                    Ok(done) => {
                        savepoint.commit().await.map_err(db(TX))?;
                        Ok(done)
                    }
                    Err(e) => {
                        let _ = savepoint.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    };
}

batch_writer!(sqlite_batch, sqlx::Sqlite);
batch_writer!(postgres_batch, sqlx::Postgres);
