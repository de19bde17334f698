//! The durability settings both services' SQLite stores open their databases with.
//!
//! One place, because "a receipt means the report is on disk" (coordinator) and "a queued
//! report survives a crash" (node) both rest on them: write-ahead log, `synchronous = FULL`
//! (a committed transaction survives power loss), foreign keys enforced, and writers that
//! wait up to 30 seconds for the lock instead of failing. Each store adds its own pool sizes
//! and statement settings.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

/// How long a writer waits for another's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection options for the database file at `path` (created only if `create`).
pub fn durable_options(path: &Path, create: bool) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::{ConnectOptions, Connection};

    use super::*;

    #[tokio::test]
    async fn a_database_opened_with_them_is_durable_and_never_created_by_accident() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        assert!(durable_options(&path, false).connect().await.is_err());
        assert!(!path.exists(), "opening without create made a file");

        let mut connection = durable_options(&path, true).connect().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!((journal.as_str(), synchronous, foreign_keys), ("wal", 2, 1));
        connection.close().await.unwrap();
    }
}

/// Why a store's schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The database was written by a newer version of Quietcount: its schema has a change this
    /// program does not know. Nothing was changed.
    #[error(
        "this database was written by a newer version of Quietcount (schema change {version}, \
         which this program does not know): install that version or a later one; nothing was \
         changed"
    )]
    Newer {
        /// The unknown schema change (migration version).
        version: i64,
    },
    /// Applying a migration failed.
    #[error("database migration failed: {0}")]
    Failed(#[source] sqlx::migrate::MigrateError),
}

/// Brings the schema of the database behind `pool` up to date with `migrator`, refusing in
/// one plain sentence a database that a newer version has migrated further.
pub async fn migrate(
    migrator: &sqlx::migrate::Migrator,
    pool: &sqlx::SqlitePool,
) -> Result<(), SchemaError> {
    migrator.run(pool).await.map_err(|error| match error {
        sqlx::migrate::MigrateError::VersionMissing(version) => SchemaError::Newer { version },
        other => SchemaError::Failed(other),
    })
}
