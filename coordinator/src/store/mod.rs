//! The coordinator's durable store: every SQL statement of the coordinator lives here.
//!
//! - this file: [`Store`] (opening, named transactions), its records and errors;
//! - `location`: where a store lives, a SQLite file or a PostgreSQL database (URL and password);
//! - `sqlite` and `postgres`: what differs between the two backends: opening, checks,
//!   migrations, the write lock, backup and closing;
//! - `keys`: enrolment, revocation and the keys of sites;
//! - `reports`: reading reports, revision chains and equivocation evidence;
//! - `conflicts`: contested slots side by side and the province's decisions on them;
//! - `users`: dashboard accounts and the audit table of manager actions;
//! - `locks`: period locks (checked by the writer inside its transaction) and site contacts;
//! - `writer`: the single writer that stores reports in group commits;
//! - `transfer`: `migrate-store`, a whole province's history copied from one store to another;
//! - `tests`: the migrations against real databases, and the store's contract on both backends.
//!
//! The rest of the crate sees only [`Store`] and plain Rust records. Every query is written
//! once with `$N` placeholders, which both drivers accept, and runs on whichever backend the
//! store has. The schema exists in two dialects with the same version numbers
//! (`migrations/` for SQLite, `migrations-postgres/` for PostgreSQL).
//!
//! SQLite is the embedded default: WAL journal, `synchronous = FULL` (a committed transaction
//! survives power loss), foreign keys on, and every write in a named `BEGIN IMMEDIATE`
//! transaction so writers queue instead of failing. On PostgreSQL named write transactions take
//! one transaction-scoped advisory lock instead, so that several coordinator processes sharing
//! one database serialise their administrative writes exactly as SQLite does; reports are
//! written without it, and two processes racing for one slot are settled by the unique
//! constraints. Receipt sequence numbers come from the database's identity column in both.
//!
//! Uniqueness (one envelope per report identity: site, form id, form version, period and
//! revision; one row per envelope hash; one active key per site) is enforced by the schema. The
//! report writer also looks before it inserts, inside its locked transaction, only so that a
//! refused duplicate does not use up a PostgreSQL sequence number; the constraints stay the
//! guarantee.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::{
    Cell, ChainHead, EnvelopeHash, Fingerprint, KeyEnd, KeyEndReason, Period, RegistryEntry,
    Sha256Hash, SiteId, SiteReport, UnixTime, fingerprint_of, signed::PublicKeyBytes,
};
use sqlx::{PgPool, QueryBuilder, Row, SqlitePool};
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
    /// The report's period (of its form) is locked by the province: nothing was stored.
    #[error("the province has locked {period} ({form}) since {locked_at}, by {locked_by}")]
    PeriodLocked {
        /// The period.
        period: Period,
        /// The form id.
        form: String,
        /// Who locked it.
        locked_by: String,
        /// When (Unix seconds).
        locked_at: UnixTime,
    },
    /// A slot (site, period, revision) or envelope hash was already taken by a concurrent writer.
    #[error("report slot already filled")]
    SlotTaken,
    /// The receipt could not be signed.
    #[error("could not sign the receipt: {0}")]
    Receipt(String),
    /// A write transaction failed as a whole.
    #[error("database write failed: {0}")]
    WriteFailed(String),
    /// The disk holding the database is full (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`): nothing was stored and
    /// no receipt given. The store recovers by itself once space is freed.
    #[error(
        "the disk holding the coordinator's database is full: nothing was stored; free space on \
         it, and the next write will succeed without a restart"
    )]
    DiskFull,
    /// The database cannot be served: a SQLite file missing, empty, damaged, or not a
    /// coordinator's; a PostgreSQL database without a coordinator's schema. Nothing was created
    /// or changed in its place.
    #[error(
        "{location}: {reason}; stop the coordinator and restore the database from its latest \
         backup (a new store is only ever made by `init`)"
    )]
    Unusable {
        /// The database file, or the PostgreSQL URL without its password.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `init` was pointed at a PostgreSQL database that already holds tables.
    #[error(
        "{location} already holds tables (a coordinator's store?); `init` only fills an empty \
         database. A stand-by coordinator for the same province is a copy of the coordinator's \
         folder (its key and config.toml), not a new `init`"
    )]
    NotEmpty {
        /// The PostgreSQL URL without its password.
        location: String,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[error(
        "cannot connect to the PostgreSQL database {location}: {reason}; check that the \
         server runs, the URL in config.toml, and the password (database_password_file, or \
         the PGPASSWORD environment variable)"
    )]
    Unreachable {
        /// The PostgreSQL URL without its password.
        location: String,
        /// The driver's reason.
        reason: String,
    },
    /// The database location given is not usable as written.
    #[error("{0}")]
    BadLocation(String),
    /// `backup` was asked of a PostgreSQL store.
    #[error(
        "this coordinator's store is in PostgreSQL: back it up with the server's tools \
         (`pg_dump --format=custom DATABASE > FILE`, or the server's continuous archiving), \
         not with `backup`, which copies a SQLite file"
    )]
    BackupByServer,
    /// The database was made for another coordinator (another signing key).
    #[error(
        "{location} belongs to another coordinator (key {recorded}), not to this one (key \
         {ours}); it was probably copied from another folder: restore this coordinator's own \
         database"
    )]
    ForeignDatabase {
        /// The database file, or the PostgreSQL URL without its password.
        location: String,
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

/// Whether the database said the disk is full: SQLite's result code `SQLITE_FULL` (13), alone
/// or as the primary code of an extended one, or PostgreSQL's SQLSTATE `53100` (disk_full).
fn is_disk_full(error: &sqlx::Error) -> bool {
    const SQLITE_FULL: i64 = 13;
    let sqlx::Error::Database(database) = error else {
        return false;
    };
    if database
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return database.code().as_deref() == Some("53100");
    }
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
    pool: Pool,
    writer: mpsc::Sender<WriteJob>,
}

/// The connection pool of one backend. Every query is written once, with `$N` placeholders
/// that both drivers read, and run on whichever pool the store has ([`with_pool!`]).
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the store's pool, whichever backend it is: the body is
/// compiled once per driver, so one SQL text and one row mapping serve both.
macro_rules! with_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` inside a named write transaction `$tx` (see [`Store::begin`]); the body
/// commits or rolls back itself, and returns from the enclosing function.
macro_rules! in_transaction {
    ($store:expr, $name:expr, |$tx:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite(pool) => {
                let mut $tx = sqlite::begin(pool, $name).await?;
                $body
            }
            Pool::Postgres(pool) => {
                let mut $tx = postgres::begin(pool, $name).await?;
                $body
            }
        }
    };
}

impl Store {
    /// Creates a new store at `location` and applies the migrations: a new SQLite file, or the
    /// schema in an empty PostgreSQL database (refused if it already holds tables).
    pub async fn create(location: &Location) -> Result<Self> {
        match location {
            Location::Sqlite(path) => sqlite::connect(path, true).await,
            Location::Postgres(target) => postgres::connect(target, true).await,
        }
    }

    /// Opens an existing store, applying any pending migrations. Refuses, changing nothing, a
    /// SQLite file that is missing, empty, fails the quick integrity check, or has no Quietcount
    /// migration history, and a PostgreSQL database without that history
    /// ([`StoreError::Unusable`]).
    pub async fn open(location: &Location) -> Result<Self> {
        match location {
            Location::Sqlite(path) => {
                let unusable = |reason: String| StoreError::Unusable {
                    location: path.display().to_string(),
                    reason,
                };
                match std::fs::metadata(path) {
                    Err(e) => return Err(unusable(format!("cannot be read ({e})"))),
                    Ok(m) if m.len() == 0 => return Err(unusable("is empty".into())),
                    Ok(_) => {}
                }
                sqlite::connect(path, false).await
            }
            Location::Postgres(target) => postgres::connect(target, false).await,
        }
    }

    fn with_writer(pool: Pool) -> Self {
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(report_writer(pool.clone(), jobs));
        Self { pool, writer }
    }

    /// Which backend this store runs on: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Records `fingerprint` as the key of the coordinator this database belongs to if none is
    /// recorded yet, and refuses a database recorded for another key.
    pub async fn bind_to_coordinator(
        &self,
        location: &Location,
        fingerprint: &Fingerprint,
    ) -> Result<()> {
        const TX: &str = "bind_database_to_coordinator";
        in_transaction!(self, TX, |tx| {
            let recorded: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT fingerprint FROM coordinator_identity WHERE id = 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db(TX))?;
            match recorded {
                None => {
                    sqlx::query(
                        "INSERT INTO coordinator_identity (id, fingerprint) VALUES (1, $1)",
                    )
                    .bind(fingerprint.0.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(TX))?;
                    tx.commit().await.map_err(db(TX))?;
                    Ok(())
                }
                Some(bytes) if bytes.as_slice() == fingerprint.0.as_slice() => Ok(()),
                Some(bytes) => Err(StoreError::ForeignDatabase {
                    location: location.to_string(),
                    recorded: hash_of(bytes)
                        .map(|h| quietcount_keys::short_fingerprint(&h))
                        .unwrap_or_else(|_| "unreadable".into()),
                    ours: quietcount_keys::short_fingerprint(fingerprint),
                }),
            }
        })
    }

    /// Writes a consistent copy of the whole SQLite database to `path`, which must not exist
    /// (`VACUUM INTO`: one read transaction, safe while the service writes; the copy is one
    /// whole file, without a write-ahead log). A PostgreSQL store is backed up with the
    /// server's own tools: refused with [`StoreError::BackupByServer`].
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::snapshot_into(pool, path).await,
            Pool::Postgres(_) => Err(StoreError::BackupByServer),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::close(pool).await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
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
mod location;
mod locks;
mod postgres;
mod reports;
mod sqlite;
mod transfer;
mod users;
mod writer;

pub use location::{Location, PostgresTarget};
pub use locks::PeriodLock;
pub use transfer::TransferSummary;

pub use keys::EnrollOutcome;
pub use users::{AuditEntry, UserRecord};
pub use writer::SignReceipt;
use writer::{MAX_BATCH, WriteJob, report_writer};

#[cfg(test)]
mod tests;
