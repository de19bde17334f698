//! The node's SQLite database: client records, service events, the outbox and receipts.
//!
//! WAL mode lets a report read a consistent snapshot while an import writes;
//! `synchronous=FULL` makes a committed outbox entry or receipt survive a power cut. The
//! schema is versioned in `node/migrations/`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::NodeError;

/// A handle on the node database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (or with `create`, creates) the database at `path` and applies migrations.
    pub async fn open(path: &Path, create: bool) -> Result<Self, NodeError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Statements are built per form; a small cache is plenty.
            .statement_cache_capacity(64);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a transaction named for the logs.
    pub async fn begin(
        &self,
        name: &'static str,
    ) -> Result<Transaction<'static, Sqlite>, NodeError> {
        tracing::trace!(transaction = name, "begin");
        Ok(self.pool.begin().await?)
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
