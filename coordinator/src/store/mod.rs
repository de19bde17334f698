//! The coordinator's durable store: every SQL statement of the coordinator lives here.
//!
//! - this file: [`Store`] (opening, migrations, named transactions), its records and errors;
//! - `keys`: enrolment, revocation and the keys of sites;
//! - `reports`: reading reports, revision chains and equivocation evidence;
//! - `conflicts`: contested slots side by side and the province's decisions on them;
//! - `users`: dashboard accounts and the audit table of manager actions;
//! - `writer`: the single writer that stores reports in group commits;
//! - `tests`: the migrations against real databases.
//!
//! The rest of the crate sees only [`Store`] and plain Rust records, so that a PostgreSQL
//! backend could be added behind the same methods. SQLite is the embedded default: WAL journal,
//! `synchronous = FULL` (a committed transaction survives power loss), foreign keys on, and
//! every write in a named `BEGIN IMMEDIATE` transaction so writers queue instead of failing.
//!
//! Uniqueness (one envelope per report identity: site, form id, form version, period and
//! revision; one row per envelope hash; one active key per site) is enforced by the schema, not by checking before inserting.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::{
    Cell, ChainHead, EnvelopeHash, Fingerprint, KeyEnd, KeyEndReason, Period, RegistryEntry,
    Sha256Hash, SiteId, SiteReport, UnixTime, fingerprint_of, signed::PublicKeyBytes,
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
    /// The schema could not be brought up to date (a newer database, or a failed migration).
    #[error(transparent)]
    Schema(#[from] quietcount_service::sqlite::SchemaError),
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
    /// The disk holding the database is full (SQLite's `SQLITE_FULL`): nothing was stored and
    /// no receipt given. The store recovers by itself once space is freed.
    #[error(
        "the disk holding the coordinator's database is full: nothing was stored; free space on \
         it, and the next write will succeed without a restart"
    )]
    DiskFull,
    /// The database file cannot be served: missing, empty, damaged, or not a coordinator's.
    /// Nothing was created or changed in its place.
    #[error(
        "{path}: {reason}; stop the coordinator and restore this file from the latest backup of \
         the coordinator's folder (a new store is only ever made by `init`)"
    )]
    Unusable {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database was made for another coordinator (another signing key).
    #[error(
        "{path} belongs to another coordinator (key {recorded}), not to this one (key {ours}); \
         it was probably copied from another folder: restore this coordinator's own database"
    )]
    ForeignDatabase {
        /// The database file.
        path: PathBuf,
        /// Short fingerprint of the key recorded in the database.
        recorded: String,
        /// Short fingerprint of this coordinator's key.
        ours: String,
    },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| {
        if is_disk_full(&source) {
            StoreError::DiskFull
        } else {
            StoreError::Database { operation, source }
        }
    }
}

/// Whether SQLite said the disk (or the database's size limit) is full: result code
/// `SQLITE_FULL` (13), alone or as the primary code of an extended one.
fn is_disk_full(error: &sqlx::Error) -> bool {
    const SQLITE_FULL: i64 = 13;
    let sqlx::Error::Database(database) = error else {
        return false;
    };
    database
        .code()
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_FULL)
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
    /// When enrolled: its validity window opens.
    pub enrolled_at: UnixTime,
    /// When its window closed (retired or revoked), if it did.
    pub valid_until: Option<UnixTime>,
    /// Why and when the window was closed.
    pub ended: Option<KeyEnd>,
    /// Start of the first period the site is expected to report for, if set at enrolment.
    pub reports_from: Option<UnixTime>,
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
            valid_until: self.valid_until,
            ended: self.ended,
            reports_from: self.reports_from,
        }
    }

    /// Whether the key's window is still open (it may sign and connect now).
    pub fn is_open(&self) -> bool {
        self.valid_until.is_none()
    }

    /// Whether the key spoke for the site at `t` (inside its window).
    pub fn valid_at(&self, t: UnixTime) -> bool {
        self.registry_entry().active_at(t)
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
    /// The refused envelope's exact bytes: the first conflicting envelope of this slot.
    pub envelope: Vec<u8>,
    /// When it arrived.
    pub received_at: UnixTime,
    /// Conflicting deliveries for the same slot after this one, counted but not kept (evidence
    /// is bounded: one envelope per slot).
    pub later_conflicts: u64,
}

pub use conflicts::{Conflict, Resolution};
pub use quietcount_protocol::FormKey;

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

    /// Opens an existing database at `path`, applying any pending migrations. Refuses, changing
    /// nothing, a file that is missing, empty, fails SQLite's quick integrity check, or has no
    /// Quietcount migration history ([`StoreError::Unusable`]).
    pub async fn open(path: &Path) -> Result<Self> {
        let unusable = |reason: String| StoreError::Unusable {
            path: path.to_owned(),
            reason,
        };
        match std::fs::metadata(path) {
            Err(e) => return Err(unusable(format!("cannot be read ({e})"))),
            Ok(m) if m.len() == 0 => return Err(unusable("is empty".into())),
            Ok(_) => {}
        }
        Self::connect(path, false).await
    }

    async fn connect(path: &Path, create: bool) -> Result<Self> {
        let options = quietcount_service::sqlite::durable_options(path, create);
        Self::connect_with(path, options, create).await
    }

    async fn connect_with(
        path: &Path,
        options: sqlx::sqlite::SqliteConnectOptions,
        create: bool,
    ) -> Result<Self> {
        let unusable = |reason: String| StoreError::Unusable {
            path: path.to_owned(),
            reason,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|connection, _| Box::pin(connection_is_reusable(connection)))
            .connect_with(options)
            .await
            .map_err(|e| unusable(format!("is damaged or not a database ({e})")))?;
        if !create {
            let checked: std::result::Result<String, sqlx::Error> =
                sqlx::query_scalar("PRAGMA quick_check")
                    .fetch_one(&pool)
                    .await;
            match checked {
                Ok(verdict) if verdict == "ok" => {}
                Ok(verdict) => {
                    pool.close().await;
                    return Err(unusable(format!("is damaged (integrity check: {verdict})")));
                }
                Err(e) => {
                    pool.close().await;
                    return Err(unusable(format!("is damaged or not a database ({e})")));
                }
            }
            let history: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name = '_sqlx_migrations'",
            )
            .fetch_one(&pool)
            .await
            .map_err(db("migration_history"))?;
            if history == 0 {
                pool.close().await;
                return Err(unusable(
                    "is not a Quietcount coordinator database (it has no migration history)".into(),
                ));
            }
        }
        quietcount_service::sqlite::migrate(&sqlx::migrate!("./migrations"), &pool, path).await?;
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(report_writer(pool.clone(), jobs));
        Ok(Self { pool, writer })
    }

    /// Records `fingerprint` as the key of the coordinator this database belongs to if none is
    /// recorded yet, and refuses a database recorded for another key.
    pub async fn bind_to_coordinator(&self, path: &Path, fingerprint: &Fingerprint) -> Result<()> {
        const TX: &str = "bind_database_to_coordinator";
        let mut tx = self.begin(TX).await?;
        let recorded: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT fingerprint FROM coordinator_identity WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(TX))?;
        match recorded {
            None => {
                sqlx::query("INSERT INTO coordinator_identity (id, fingerprint) VALUES (1, ?)")
                    .bind(fingerprint.0.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
                tx.commit().await.map_err(db(TX))?;
                Ok(())
            }
            Some(bytes) if bytes.as_slice() == fingerprint.0.as_slice() => Ok(()),
            Some(bytes) => Err(StoreError::ForeignDatabase {
                path: path.to_owned(),
                recorded: hash_of(bytes)
                    .map(|h| quietcount_keys::short_fingerprint(&h))
                    .unwrap_or_else(|_| "unreadable".into()),
                ours: quietcount_keys::short_fingerprint(fingerprint),
            }),
        }
    }

    /// Writes a consistent copy of the whole database to `path`, which must not exist
    /// (`VACUUM INTO`: one read transaction, safe while the service writes; the copy is one
    /// whole file, without a write-ahead log).
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        sqlx::query("VACUUM INTO ?1")
            .bind(path.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .map_err(db("backup_vacuum_into"))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        // Fold the write-ahead log into the database first, so that a closed store is one whole
        // file (a copy of it alone is complete). Best effort: closing goes on regardless.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(%error, "checkpoint before closing the store failed");
        }
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
}

/// Whether a connection handed back to the pool may serve the next caller: only if no
/// transaction is left open on it. A failed `COMMIT` (disk full, I/O error) can leave one, or
/// leave SQLite and the driver disagreeing about whether one is open (SQLite rolled back on
/// its own, the driver's rollback then fails): every later `BEGIN` on that connection would
/// fail until a restart. Such a connection is closed instead, and the pool opens a fresh one.
async fn connection_is_reusable(
    connection: &mut sqlx::SqliteConnection,
) -> std::result::Result<bool, sqlx::Error> {
    // Runs the rollback queued by a dropped transaction before looking.
    connection.ping().await?;
    let reusable = !connection.is_in_transaction();
    if !reusable {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    Ok(reusable)
}

fn site_of(text: String) -> Result<SiteId> {
    SiteId::new(&text).map_err(|_| StoreError::Corrupt(format!("site id {text:?}")))
}

/// The form of an evidence row: `None` for rows kept before forms joined a report's identity
/// (migration 0002), whose form id is empty.
fn evidence_form_of(id: String, version: i64) -> Result<Option<FormKey>> {
    if id.is_empty() {
        return Ok(None);
    }
    Ok(Some(FormKey {
        id,
        version: to_u32(version)?,
    }))
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

mod conflicts;
mod keys;
mod reports;
mod users;
mod writer;

pub use keys::EnrollOutcome;
pub use users::{AuditEntry, UserRecord};
pub use writer::SignReceipt;
use writer::{MAX_BATCH, WriteJob, report_writer};

#[cfg(test)]
mod tests;
