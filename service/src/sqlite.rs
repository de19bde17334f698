//! The durability settings both services' SQLite stores open their databases with.
//!
//! One place, because "a receipt means the report is on disk" (coordinator) and "a queued
//! report survives a crash" (node) both rest on them: write-ahead log, `synchronous = FULL`
//! (a committed transaction survives power loss), foreign keys enforced, and writers that
//! wait up to 30 seconds for the lock instead of failing. Each store adds its own pool sizes
//! and statement settings.

use std::path::{Path, PathBuf};
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

    #[tokio::test]
    async fn a_schema_change_keeps_a_copy_of_the_database_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(
            migrations.join("0001_first.sql"),
            "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);",
        )
        .unwrap();
        let path = dir.path().join("store.db");
        let pool = sqlx::SqlitePool::connect_with(durable_options(&path, true))
            .await
            .unwrap();
        let first = sqlx::migrate::Migrator::new(migrations.as_path())
            .await
            .unwrap();
        // A new database is not copied.
        assert_eq!(super::migrate(&first, &pool, &path).await.unwrap(), None);
        // Up to date: not copied.
        assert_eq!(super::migrate(&first, &pool, &path).await.unwrap(), None);

        std::fs::write(
            migrations.join("0002_second.sql"),
            "ALTER TABLE t ADD COLUMN y TEXT;",
        )
        .unwrap();
        let second = sqlx::migrate::Migrator::new(migrations.as_path())
            .await
            .unwrap();
        let copy = super::migrate(&second, &pool, &path)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(copy, dir.path().join("store.db.before-schema-1"));
        // The copy has the old schema and the data; the database the new one.
        let mut old = durable_options(&copy, false).connect().await.unwrap();
        let columns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info('t')")
            .fetch_one(&mut old)
            .await
            .unwrap();
        let x: i64 = sqlx::query_scalar("SELECT x FROM t")
            .fetch_one(&mut old)
            .await
            .unwrap();
        assert_eq!((columns, x), (1, 7));
        let columns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info('t')")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(columns, 2);
        old.close().await.unwrap();
        pool.close().await;
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
    /// The copy taken before changing the schema could not be made; nothing was changed.
    #[error("could not copy the database before changing its schema (nothing was changed): {0}")]
    Snapshot(#[source] sqlx::Error),
}

/// Brings the schema of the database at `path` (behind `pool`) up to date with `migrator`,
/// refusing in one plain sentence a database that a newer version has migrated further.
///
/// Before changing the schema of a database that already has one, takes a consistent copy of
/// it beside the file (`NAME.before-schema-N`, N the newest change applied so far, written
/// with `VACUUM INTO`) and logs where; the copy's path is returned. A new database, or one
/// already up to date, is not copied.
pub async fn migrate(
    migrator: &sqlx::migrate::Migrator,
    pool: &sqlx::SqlitePool,
    path: &Path,
) -> Result<Option<PathBuf>, SchemaError> {
    let snapshot = snapshot_before_migrating(migrator, pool, path).await?;
    migrator.run(pool).await.map_err(|error| match error {
        sqlx::migrate::MigrateError::VersionMissing(version) => SchemaError::Newer { version },
        other => SchemaError::Failed(other),
    })?;
    Ok(snapshot)
}

async fn snapshot_before_migrating(
    migrator: &sqlx::migrate::Migrator,
    pool: &sqlx::SqlitePool,
    path: &Path,
) -> Result<Option<PathBuf>, SchemaError> {
    let has_history: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(SchemaError::Snapshot)?;
    if has_history == 0 {
        return Ok(None);
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(SchemaError::Snapshot)?;
    let Some(&newest) = applied.last() else {
        return Ok(None);
    };
    let pending = migrator
        .iter()
        .any(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version));
    // A database ahead of this program is refused by `run` without being touched.
    let ahead = applied
        .iter()
        .any(|v| !migrator.iter().any(|m| m.version == *v));
    if !pending || ahead {
        return Ok(None);
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".before-schema-{newest}"));
    let copy = path.with_file_name(name);
    if copy.exists() {
        // A copy from an earlier attempt at the same change: the database has not changed
        // schema since, so that copy still shows it as it was.
        return Ok(Some(copy));
    }
    sqlx::query("VACUUM INTO ?1")
        .bind(copy.to_string_lossy().into_owned())
        .execute(pool)
        .await
        .map_err(SchemaError::Snapshot)?;
    tracing::warn!(
        snapshot = %copy.display(),
        "the database's schema is about to change; a copy of it as it was is kept"
    );
    Ok(Some(copy))
}
