//! The SQLite backend: opening a database file (checking it is whole and a coordinator's),
//! its migrations (with a copy taken before any schema change), the `BEGIN IMMEDIATE` write
//! lock, `VACUUM INTO` snapshots, and closing into one whole file.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Connection, Sqlite, Transaction};

use super::*;

/// Opens (or with `create`, creates) the database file at `path`.
pub(super) async fn connect(path: &Path, create: bool) -> Result<Store> {
    let options = quietcount_service::sqlite::durable_options(path, create);
    connect_with(path, options, create).await
}

pub(super) async fn connect_with(
    path: &Path,
    options: SqliteConnectOptions,
    create: bool,
) -> Result<Store> {
    let unusable = |reason: String| StoreError::Unusable {
        location: path.display().to_string(),
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
    Ok(Store::with_writer(Pool::Sqlite(pool)))
}

/// Starts a named write transaction (`BEGIN IMMEDIATE`: takes the write lock at once).
pub(super) async fn begin(
    pool: &SqlitePool,
    name: &'static str,
) -> Result<Transaction<'static, Sqlite>> {
    tracing::trace!(transaction = name, "begin");
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(db(name))
}

pub(super) async fn snapshot_into(pool: &SqlitePool, path: &Path) -> Result<()> {
    sqlx::query("VACUUM INTO $1")
        .bind(path.to_string_lossy().into_owned())
        .execute(pool)
        .await
        .map_err(db("backup_vacuum_into"))?;
    Ok(())
}

pub(super) async fn close(pool: &SqlitePool) {
    // Fold the write-ahead log into the database first, so that a closed store is one whole
    // file (a copy of it alone is complete). Best effort: closing goes on regardless.
    if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
    {
        tracing::warn!(%error, "checkpoint before closing the store failed");
    }
    pool.close().await;
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
