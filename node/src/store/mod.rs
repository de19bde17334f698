//! The node's SQLite store: the only place in the node that holds SQL.
//!
//! Client records, service events, the outbox and receipts live in one database file. WAL
//! mode lets a report read a consistent snapshot while an import writes; `synchronous=FULL`
//! makes a committed outbox entry or receipt survive a power cut. The schema is versioned in
//! `node/migrations/`. Every transaction has a name that says what it does (it appears in
//! trace logs and in errors); writes take the write lock at once (`BEGIN IMMEDIATE`). The rest
//! of the node sees only [`Store`] and plain records.
//!
//! - [`records`]: clients and service events (upserts, inserts, lookups).
//! - [`counts`]: the report's GROUP BY queries.
//! - [`outbox`]: outbox entries and the coordinator's receipts.
//! - [`backup`]: consistent snapshots (`VACUUM INTO`).
//! - [`clock`]: the last comparison of this computer's clock with the coordinator's.
//! - [`corrections`]: erasing a client, deleting an event, and the days they changed.
//! - [`approvals`]: reports approved by one staff member, waiting for a second.
//! - [`sealing`]: sealing a database from before sealed records, and scrubbing the file.
//!
//! Identifying client fields are stored only sealed ([`crate::sealed`]), in the table
//! `sealed_identity`, apart from the clear `clients` table the reports join; `secure_delete` is
//! on for every connection, so content SQLite frees is overwritten.

pub mod approvals;
pub mod backup;
pub mod clock;
pub mod corrections;
pub mod counts;
pub mod outbox;
pub mod records;
pub mod sealing;

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{ConnectOptions as _, Sqlite, SqlitePool, Transaction};

pub use approvals::PendingApproval;
pub use corrections::{Erasure, EventDeletion};
pub use counts::{GroupCount, IndicatorQuery};
pub use outbox::{EntryState, FormKey, NewEntry, OutboxEntry, StoredReceipt};
pub use records::{RecordsTransaction, StoredClient, StoredEvent};

/// Errors of the store. Each database error names the transaction or query that failed.
/// Messages never carry a value read from a client record.
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
    /// A stored outbox entry or receipt does not decode.
    #[error("outbox entry {id}: {problem}")]
    CorruptOutbox {
        /// Row id (0 when the row is a receipt).
        id: i64,
        /// What is wrong.
        problem: String,
    },
    /// Another connection (a running service) kept the WAL from being emptied.
    #[error("{operation}: the database is in use (stop the service and try again)")]
    Busy {
        /// The operation.
        operation: &'static str,
    },
    /// A stored client record or event does not decode (names the column, never the value).
    #[error("stored records: column {column} holds a value outside the vocabulary")]
    CorruptRecord {
        /// The column.
        column: &'static str,
    },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a driver error to [`StoreError::Database`] naming `operation`.
fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// How the database is set up for durability, as SQLite reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// The journal mode (`wal`).
    pub journal_mode: String,
    /// Whether `synchronous` is `FULL`.
    pub synchronous_full: bool,
}

/// A handle on the node database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Creates the database at `path` (the file may exist empty) and applies the migrations.
    pub async fn create(path: &Path) -> Result<Self> {
        Self::connect(path, true).await
    }

    /// Opens the existing database at `path`, applying any pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::connect(path, false).await
    }

    async fn connect(path: &Path, create: bool) -> Result<Self> {
        let options = quietcount_service::sqlite::durable_options(path, create)
            // Statements are built per form; a small cache is plenty.
            .statement_cache_capacity(64)
            // Freed content (a row rewritten or deleted) is overwritten, not left in free pages.
            .pragma("secure_delete", "ON")
            // A report over a large site runs statements of a second or so by design: only
            // a statement ten times slower is worth a warning. (Statements are logged as SQL
            // text with placeholders; bound values never are.)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(db("connect"))?;
        quietcount_service::sqlite::migrate(&sqlx::migrate!("./migrations"), &pool, path).await?;
        Ok(Self { pool })
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a read transaction named for the logs and errors (deferred: in WAL mode it
    /// reads one snapshot and never blocks writers).
    async fn begin_read(&self, name: &'static str) -> Result<Transaction<'static, Sqlite>> {
        tracing::trace!(transaction = name, "begin");
        self.pool.begin().await.map_err(db(name))
    }

    /// Starts a write transaction named for the logs and errors. `BEGIN IMMEDIATE` takes the
    /// write lock at once, so concurrent writers (an import while the service commits a
    /// report) queue on the busy timeout instead of failing when a read turns into a write.
    async fn begin_write(&self, name: &'static str) -> Result<Transaction<'static, Sqlite>> {
        tracing::trace!(transaction = name, "begin");
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(name))
    }

    /// The journal mode and synchronous setting in force.
    pub async fn durability(&self) -> Result<Durability> {
        const QUERY: &str = "read_durability_settings";
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(db(QUERY))?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.pool)
            .await
            .map_err(db(QUERY))?;
        Ok(Durability {
            journal_mode,
            synchronous_full: synchronous == 2,
        })
    }
}

#[cfg(test)]
mod tests {
    use quietcount_protocol::{Form, Period, Sha256Hash};
    use sqlx::migrate::Migrator;

    use super::*;

    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused_in_one_plain_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        let store = Store::create(&path).await.unwrap();
        // A schema change this build does not know, as a newer Quietcount would record it.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        store.close().await;
        let Err(error) = Store::open(&path).await else {
            panic!("a newer database is refused");
        };
        assert!(
            matches!(
                error,
                StoreError::Schema(quietcount_service::sqlite::SchemaError::Newer {
                    version: 9999
                })
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("newer version of Quietcount") && !text.contains("sqlx"),
            "{text}"
        );
    }

    /// A database at schema version 2 (before forms joined the outbox identity), holding one
    /// outbox entry.
    async fn database_before_forms(dir: &Path) -> std::path::PathBuf {
        let old = dir.join("old-migrations");
        std::fs::create_dir(&old).unwrap();
        for name in ["0001_records_and_outbox.sql", "0002_events_by_service.sql"] {
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(name),
                old.join(name),
            )
            .unwrap();
        }
        let path = dir.join("node.db");
        let pool = SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (period, revision, envelope, envelope_hash, content_hash, built_at, next_attempt_at) \
             VALUES ('2026-10', 1, x'01', ?1, ?2, 0, 0)",
        )
        .bind(vec![1u8; 32])
        .bind(vec![2u8; 32])
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        path
    }

    #[tokio::test]
    async fn entries_made_before_forms_joined_the_identity_answer_the_default_form() {
        let temp = tempfile::tempdir().unwrap();
        let path = database_before_forms(temp.path()).await;
        let store = Store::open(&path).await.unwrap();
        let october = Period::parse("2026-10").unwrap();
        // The default form as it was when those entries were built: version 1.
        let default = FormKey {
            version: 1,
            ..FormKey::of(&Form::default_monthly())
        };
        let entry = store
            .latest_live_outbox_entry(&default, october)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((entry.form.clone(), entry.revision), (default.clone(), 1));

        let entry = |form, envelope| NewEntry {
            form,
            period: october,
            revision: 1,
            envelope,
            content_hash: Sha256Hash([3; 32]),
            built_at: 1,
            truth: &[],
        };
        // Another form's revision 1 of the same month has its own slot...
        let other = FormKey {
            id: "another-monthly".into(),
            version: 1,
        };
        store
            .insert_outbox_entry(entry(&other, b"other form"))
            .await
            .unwrap();
        // ...and so does another version of the default form; the default form's own
        // revision 1 is taken.
        let next_version = FormKey {
            version: 2,
            ..default.clone()
        };
        store
            .insert_outbox_entry(entry(&next_version, b"next version"))
            .await
            .unwrap();
        let taken = store
            .insert_outbox_entry(entry(&default, b"same slot"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                taken,
                StoreError::Database {
                    operation: "outbox_commit",
                    ..
                }
            ),
            "{taken}"
        );
        assert_eq!(store.outbox_entries().await.unwrap().len(), 3);
    }
}
