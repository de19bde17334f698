//! The coordinator's durable store: every SQL statement of the coordinator lives here.
//!
//! The rest of the crate sees only [`Store`] and plain Rust records, so that a PostgreSQL
//! backend could be added behind the same methods. SQLite is the embedded default: WAL journal,
//! `synchronous = FULL` (a committed transaction survives power loss), foreign keys on, and
//! every write in a named `BEGIN IMMEDIATE` transaction so writers queue instead of failing.
//!
//! Uniqueness (one envelope per report identity: site, form id, form version, period and
//! revision; one row per envelope hash; one active key per site) is enforced by the schema, not by checking before inserting.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::{
    Cell, ChainHead, EnvelopeHash, Fingerprint, Period, RegistryEntry, Sha256Hash, SiteId,
    SiteReport, UnixTime, fingerprint_of, signed::PublicKeyBytes,
};
use sqlx::sqlite::{SqliteArguments, SqlitePoolOptions};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

/// Errors of the store. Each names the transaction or query that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A database operation failed.
    #[error("database error in {operation}: {source}")]
    Database {
        /// The named transaction or query.
        operation: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (the database was edited by hand?).
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
    /// A slot (site, period, revision) or envelope hash was already taken by a concurrent writer.
    #[error("report slot already filled")]
    SlotTaken,
    /// The receipt could not be signed.
    #[error("could not sign the receipt: {0}")]
    Receipt(String),
    /// A write transaction failed as a whole.
    #[error("database write failed: {0}")]
    WriteFailed(String),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

/// One enrolled key of a site, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Row id.
    pub id: i64,
    /// The site.
    pub site: SiteId,
    /// Display name.
    pub name: String,
    /// The public key.
    pub public_key: VerifyingKey,
    /// When enrolled.
    pub enrolled_at: UnixTime,
    /// When revoked, if it was.
    pub revoked_at: Option<UnixTime>,
}

impl KeyRecord {
    /// The key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint_of(&self.public_key)
    }

    /// The registry entry for this key.
    pub fn registry_entry(&self) -> RegistryEntry {
        RegistryEntry {
            site: self.site.clone(),
            name: self.name.clone(),
            public_key: PublicKeyBytes::from(&self.public_key),
            enrolled_at: self.enrolled_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// A stored report with its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    /// Ingest sequence number.
    pub sequence: u64,
    /// The site.
    pub site: SiteId,
    /// The form answered: id and version.
    pub form: FormKey,
    /// The period.
    pub period: Period,
    /// The revision.
    pub revision: u32,
    /// Hash of the envelope.
    pub hash: EnvelopeHash,
    /// The exact envelope bytes.
    pub envelope: Vec<u8>,
    /// When received (as signed in the receipt).
    pub received_at: UnixTime,
    /// The exact signed receipt bytes.
    pub receipt: Vec<u8>,
    /// Row id of the key that signed it.
    pub key_id: i64,
}

/// A verified report ready to be stored.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    /// The decoded report.
    pub report: &'a SiteReport,
    /// Its exact envelope bytes.
    pub envelope: &'a [u8],
    /// Hash of the envelope.
    pub hash: EnvelopeHash,
    /// Row id of the signing key.
    pub key_id: i64,
    /// Reception time.
    pub received_at: UnixTime,
}

/// Evidence of equivocation: a validly signed envelope conflicting with a stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The site.
    pub site: SiteId,
    /// The form of the contested chain; `None` for evidence kept before forms were part of a
    /// report's identity (its envelope names the form).
    pub form: Option<FormKey>,
    /// The period.
    pub period: Period,
    /// The contested revision.
    pub revision: u32,
    /// The refused envelope's exact bytes.
    pub envelope: Vec<u8>,
    /// When it arrived.
    pub received_at: UnixTime,
}

pub use quietcount_protocol::FormKey;

/// Cells inserted per statement (4 bound values each, far below SQLite's variable limit).
/// The columns `key_record` reads, in its order.
const KEY_COLUMNS: &str = "id, site, name, public_key, enrolled_at, revoked_at";

const CELLS_PER_STATEMENT: usize = 2_000;

/// The coordinator's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: mpsc::Sender<WriteJob>,
}

impl Store {
    /// Creates a new database file at `path` and applies the migrations.
    pub async fn create(path: &Path) -> Result<Self> {
        Self::connect(path, true).await
    }

    /// Opens an existing database at `path`, applying any pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::connect(path, false).await
    }

    async fn connect(path: &Path, create: bool) -> Result<Self> {
        let options = quietcount_service::sqlite::durable_options(path, create);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(db("connect"))?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(report_writer(pool.clone(), jobs));
        Ok(Self { pool, writer })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a named write transaction (`BEGIN IMMEDIATE`: takes the write lock at once).
    async fn begin(&self, name: &'static str) -> Result<Transaction<'static, Sqlite>> {
        tracing::trace!(transaction = name, "begin");
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(name))
    }

    // ---- sites and keys ----

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
        let revoked = sqlx::query(
            "UPDATE site_keys SET revoked_at = ? WHERE site = ? AND revoked_at IS NULL",
        )
        .bind(to_i64(now)?)
        .bind(site.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?
        .rows_affected();
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
        let changed = sqlx::query(
            "UPDATE site_keys SET revoked_at = ? WHERE site = ? AND revoked_at IS NULL",
        )
        .bind(to_i64(now)?)
        .bind(site.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?
        .rows_affected();
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

    // ---- reports ----

    /// The stored report with this envelope hash.
    pub async fn report_by_hash(&self, hash: &EnvelopeHash) -> Result<Option<ReportRecord>> {
        let row = sqlx::query(&format!("{REPORT_SELECT} WHERE r.envelope_hash = ?"))
            .bind(hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("report_by_hash"))?;
        row.as_ref().map(report_record).transpose()
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

    /// The report of a chain at `revision`, or its latest one.
    async fn report_of_chain(
        &self,
        site: &SiteId,
        form: &FormKey,
        period: Period,
        revision: Option<u32>,
    ) -> Result<Option<ReportRecord>> {
        let (condition, name) = match revision {
            Some(_) => ("AND r.revision = ?", "report_in_slot"),
            None => ("", "chain_head"),
        };
        let sql = format!(
            "{REPORT_SELECT} WHERE {CHAIN_OF_R} {condition} ORDER BY r.revision DESC LIMIT 1"
        );
        let mut query = bind_chain(sqlx::query(&sql), site, form, period);
        if let Some(revision) = revision {
            query = query.bind(i64::from(revision));
        }
        let row = query.fetch_optional(&self.pool).await.map_err(db(name))?;
        row.as_ref().map(report_record).transpose()
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
        let mut tx = self.begin(TX).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO equivocations (envelope_hash, site, form_id, form_version, \
             period, revision, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(Sha256Hash::of(&evidence.envelope).0.as_slice())
        .bind(evidence.site.as_str())
        .bind(evidence.form.as_ref().map_or("", |f| f.id.as_str()))
        .bind(evidence.form.as_ref().map_or(0, |f| i64::from(f.version)))
        .bind(evidence.period.to_string())
        .bind(i64::from(evidence.revision))
        .bind(evidence.envelope.as_slice())
        .bind(to_i64(evidence.received_at)?)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(())
    }

    /// Equivocation evidence for a form and period (with evidence kept before forms were part
    /// of a report's identity, which may concern any form).
    pub async fn equivocations(&self, form: &FormKey, period: Period) -> Result<Vec<Equivocation>> {
        let rows = sqlx::query(
            "SELECT site, form_id, form_version, period, revision, envelope, received_at \
             FROM equivocations WHERE period = ? \
             AND ((form_id = ? AND form_version = ?) OR form_id = '') ORDER BY id",
        )
        .bind(period.to_string())
        .bind(&form.id)
        .bind(i64::from(form.version))
        .fetch_all(&self.pool)
        .await
        .map_err(db("equivocations_of_form_and_period"))?;
        rows.iter()
            .map(|row| {
                let form_id: String = row.get(1);
                Ok(Equivocation {
                    site: site_of(row.get(0))?,
                    form: if form_id.is_empty() {
                        None
                    } else {
                        Some(FormKey {
                            id: form_id,
                            version: to_u32(row.get(2))?,
                        })
                    },
                    period: period_of(row.get(3))?,
                    revision: to_u32(row.get(4))?,
                    envelope: row.get(5),
                    received_at: to_u64(row.get(6))?,
                })
            })
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
        let rows = sqlx::query(&format!(
            "{REPORT_SELECT} WHERE r.period = ? \
             ORDER BY r.site, r.form_id, r.form_version, r.revision"
        ))
        .bind(period.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db("reports_of_period"))?;
        rows.iter().map(report_record).collect()
    }

    /// The latest revision of each site's chain for a form and period, by site.
    pub async fn latest_reports(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Vec<ReportRecord>> {
        let rows = sqlx::query(&format!(
            "{REPORT_SELECT} WHERE r.form_id = ? AND r.form_version = ? AND r.period = ? \
             AND r.revision = (SELECT MAX(revision) FROM reports x WHERE x.site = r.site \
             AND x.form_id = r.form_id AND x.form_version = r.form_version \
             AND x.period = r.period) \
             ORDER BY r.site"
        ))
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db("latest_reports_of_form_and_period"))?;
        rows.iter().map(report_record).collect()
    }

    /// Number of stored reports.
    pub async fn report_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(&self.pool)
            .await
            .map_err(db("report_count"))?;
        to_u64(n)
    }

    /// A digest of everything stored (keys, reports, cells, receipts, equivocations), so a
    /// test can show an operation changed nothing.
    pub async fn digest(&self) -> Result<Sha256Hash> {
        const QUERIES: [&str; 5] = [
            "SELECT id, site, name, public_key, enrolled_at, revoked_at FROM site_keys ORDER BY id",
            "SELECT sequence, envelope_hash, site, form_id, form_version, period, revision, \
             key_id, envelope, received_at FROM reports ORDER BY sequence",
            "SELECT sequence, indicator, table_index, cell_index, value FROM cells \
             ORDER BY sequence, indicator, table_index, cell_index",
            "SELECT sequence, receipt FROM receipts ORDER BY sequence",
            "SELECT envelope_hash, site, form_id, form_version, period, revision, envelope, \
             received_at FROM equivocations ORDER BY id",
        ];
        let mut text = Vec::new();
        for query in QUERIES {
            let rows = sqlx::query(query)
                .fetch_all(&self.pool)
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
            text.push(0xff);
        }
        Ok(Sha256Hash::of(&text))
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

/// Signs the receipt of a report once its sequence number is known.
pub type SignReceipt = Box<dyn FnOnce(u64) -> std::result::Result<Vec<u8>, String> + Send>;

/// Reports written in one transaction at most.
const MAX_BATCH: usize = 64;

/// A report as rows, owned so it can travel to the writer task.
struct ReportRow {
    hash: EnvelopeHash,
    site: String,
    period: String,
    revision: i64,
    key_id: i64,
    form_id: String,
    form_version: i64,
    envelope: Vec<u8>,
    received_at: i64,
    cells: Vec<CellRow>,
}

struct CellRow {
    indicator: String,
    table: i64,
    cell: i64,
    value: Option<i64>,
}

struct WriteJob {
    row: ReportRow,
    sign_receipt: SignReceipt,
    reply: oneshot::Sender<Result<(u64, Vec<u8>)>>,
}

/// The single writer of reports: takes whatever reports are waiting (up to [`MAX_BATCH`]),
/// writes each in its own savepoint of one `BEGIN IMMEDIATE` transaction, commits once, and
/// only then answers each caller.
async fn report_writer(pool: SqlitePool, mut jobs: mpsc::Receiver<WriteJob>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&pool, batch).await;
    }
}

async fn write_batch(pool: &SqlitePool, batch: Vec<WriteJob>) {
    const TX: &str = "store_reports_cells_receipts";
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            let message = e.to_string();
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(StoreError::WriteFailed(message.clone())));
            }
            return;
        }
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let outcome = insert_one(&mut tx, job.row, job.sign_receipt).await;
        outcomes.push((job.reply, outcome));
    }
    match tx.commit().await.map_err(db(TX)) {
        Ok(()) => {
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome.and(Err(StoreError::WriteFailed(message.clone()))));
            }
        }
    }
}

/// Writes one report, its cells and its receipt inside a savepoint of `tx`.
async fn insert_one(
    tx: &mut Transaction<'static, Sqlite>,
    row: ReportRow,
    sign_receipt: SignReceipt,
) -> Result<(u64, Vec<u8>)> {
    const TX: &str = "store_report_cells_receipt";
    let mut savepoint = tx.begin().await.map_err(db(TX))?;
    let inserted = sqlx::query(
        "INSERT INTO reports (envelope_hash, site, period, revision, key_id, form_id, \
         form_version, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         RETURNING sequence",
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
    let sequence: i64 = match inserted {
        Ok(r) => r.get(0),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            savepoint.rollback().await.map_err(db(TX))?;
            return Err(StoreError::SlotTaken);
        }
        Err(e) => {
            savepoint.rollback().await.map_err(db(TX))?;
            return Err(db(TX)(e));
        }
    };
    let written: Result<(u64, Vec<u8>)> = async {
        for chunk in row.cells.chunks(CELLS_PER_STATEMENT) {
            let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO cells (sequence, indicator, table_index, cell_index, value) ",
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
        sqlx::query("INSERT INTO receipts (sequence, receipt) VALUES (?, ?)")
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
            savepoint.rollback().await.map_err(db(TX))?;
            Err(e)
        }
    }
}

/// The condition naming one revision chain (site, form id, form version, period) of `reports r`;
/// [`bind_chain`] binds its four values.
const CHAIN_OF_R: &str = "r.site = ? AND r.form_id = ? AND r.form_version = ? AND r.period = ?";

fn bind_chain<'q>(
    query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    site: &'q SiteId,
    form: &'q FormKey,
    period: Period,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    query
        .bind(site.as_str())
        .bind(form.id.as_str())
        .bind(i64::from(form.version))
        .bind(period.to_string())
}

const REPORT_SELECT: &str = "SELECT r.sequence, r.site, r.period, r.revision, r.envelope_hash, \
     r.envelope, r.received_at, c.receipt, r.key_id, r.form_id, r.form_version FROM reports r \
     JOIN receipts c ON c.sequence = r.sequence";

fn report_record(row: &sqlx::sqlite::SqliteRow) -> Result<ReportRecord> {
    Ok(ReportRecord {
        sequence: to_u64(row.get(0))?,
        site: site_of(row.get(1))?,
        period: period_of(row.get(2))?,
        revision: to_u32(row.get(3))?,
        hash: hash_of(row.get(4))?,
        envelope: row.get(5),
        received_at: to_u64(row.get(6))?,
        receipt: row.get(7),
        key_id: row.get(8),
        form: FormKey {
            id: row.get(9),
            version: to_u32(row.get(10))?,
        },
    })
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

fn site_of(text: String) -> Result<SiteId> {
    SiteId::new(&text).map_err(|_| StoreError::Corrupt(format!("site id {text:?}")))
}

fn period_of(text: String) -> Result<Period> {
    Period::from_str(&text).map_err(|_| StoreError::Corrupt(format!("period {text:?}")))
}

fn hash_of(bytes: Vec<u8>) -> Result<Sha256Hash> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("hash is not 32 bytes".into()))?;
    Ok(Sha256Hash(bytes))
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} out of range")))
}

fn to_u64(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} out of range")))
}

fn to_u32(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} out of range")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A version-1 database (only the first migration) holding one report with its cells and
    /// receipt, at sequence 7 with AUTOINCREMENT's mark at 9, and one equivocation.
    async fn version_one_database(path: &Path) {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .foreign_keys(true),
            )
            .await
            .unwrap();
        let mut first = sqlx::migrate!("./migrations");
        first.migrations = first
            .migrations
            .iter()
            .filter(|m| m.version == 1)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        first.run(&pool).await.unwrap();
        let statements = [
            "INSERT INTO site_keys (id, site, name, public_key, fingerprint, enrolled_at) \
             VALUES (1, 'site-a', 'A', zeroblob(32), zeroblob(32), 0)",
            "INSERT INTO reports (sequence, envelope_hash, site, period, revision, key_id, \
             form_id, form_version, envelope, received_at) \
             VALUES (9, randomblob(32), 'site-a', '2026-09', 1, 1, 'f', 1, x'00', 5)",
            "DELETE FROM reports WHERE sequence = 9",
            "INSERT INTO reports (sequence, envelope_hash, site, period, revision, key_id, \
             form_id, form_version, envelope, received_at) \
             VALUES (7, zeroblob(32), 'site-a', '2026-10', 1, 1, \
             'vn-community-treatment-monthly', 1, x'a1', 10)",
            "INSERT INTO cells (sequence, indicator, table_index, cell_index, value) \
             VALUES (7, 'clients_active', 0, 0, 12), (7, 'clients_active', 0, 1, NULL)",
            "INSERT INTO receipts (sequence, receipt) VALUES (7, x'b2')",
            "INSERT INTO equivocations (envelope_hash, site, period, revision, envelope, \
             received_at) VALUES (randomblob(32), 'site-a', '2026-10', 1, x'c3', 11)",
        ];
        for statement in statements {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    #[tokio::test]
    async fn migrating_to_form_identity_keeps_reports_receipts_and_the_sequence_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coordinator.db");
        version_one_database(&path).await;

        let store = Store::open(&path).await.unwrap();
        let form = FormKey {
            id: "vn-community-treatment-monthly".into(),
            version: 1,
        };
        let period = Period::from_str("2026-10").unwrap();
        let reports = store.latest_reports(&form, period).await.unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(
            (reports[0].sequence, reports[0].revision, &reports[0].form),
            (7, 1, &form)
        );
        assert_eq!(
            (
                reports[0].envelope.as_slice(),
                reports[0].receipt.as_slice()
            ),
            (&[0xa1][..], &[0xb2][..])
        );
        let cells: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT cell_index, value FROM cells WHERE sequence = 7 ORDER BY 1")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(cells, [(0, Some(12)), (1, None)]);
        // Evidence from version 1 does not know its form: it is shown with every form.
        let evidence = store.equivocations(&form, period).await.unwrap();
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].form, None);
        // The next sequence number continues after the highest ever given (9), not after 7.
        let next: i64 =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'reports'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(next, 9);
        // The foreign keys point at the rebuilt table.
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert!(broken.is_empty(), "{broken:?}");
        store.close().await;
    }
}
