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
