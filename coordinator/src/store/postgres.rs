//! The PostgreSQL backend: connecting (the password never in the URL), refusing to `init` a
//! database that holds tables or to open one without a coordinator's schema, migrations from
//! `migrations-postgres/` (sqlx holds an advisory lock while it migrates, so two processes
//! starting together do not both migrate), and the write lock of named transactions.
//!
//! Several coordinator processes may share one database (a stand-by taking over, or two
//! serving at once). What keeps them consistent lives in the database, not in process memory:
//! sequence numbers from an identity column, one report per slot and per envelope hash by
//! unique constraints (a process losing a race gets a unique violation and answers as for a
//! duplicate or an equivocation), and a transaction-scoped advisory lock taken by every named
//! administrative transaction, which serialises them across processes as `BEGIN IMMEDIATE`
//! does in SQLite.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Postgres, Transaction};

use super::*;

/// The key of the advisory lock every named write transaction takes ("QCSTORE" in ASCII).
const WRITE_LOCK: i64 = 0x0051_4353_544f_5245;

/// Connects to the database of `target`; with `create`, only an empty one is accepted.
pub(super) async fn connect(target: &PostgresTarget, create: bool) -> Result<Store> {
    let location = Location::Postgres(Box::new(target.clone())).to_string();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect_with(target.options.clone())
        .await
        .map_err(|e| StoreError::Unreachable {
            location: location.clone(),
            reason: e.to_string(),
        })?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::TEXT FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .map_err(db("list_tables"))?;
    let has_history = tables.iter().any(|t| t == "_sqlx_migrations");
    if create && !tables.is_empty() {
        pool.close().await;
        return Err(StoreError::NotEmpty { location });
    }
    if !create && !has_history {
        pool.close().await;
        return Err(StoreError::Unusable {
            location,
            reason: "is not a Quietcount coordinator database (it has no migration history; \
                     a new one is made by `init --database`)"
                .into(),
        });
    }
    sqlx::migrate!("./migrations-postgres")
        .run(&pool)
        .await
        .map_err(|error| match error {
            sqlx::migrate::MigrateError::VersionMissing(version) => {
                quietcount_service::sqlite::SchemaError::Newer { version }
            }
            other => quietcount_service::sqlite::SchemaError::Failed(other),
        })?;
    warn_if_commits_are_not_durable(&pool, &location).await;
    Ok(Store::with_writer(Pool::Postgres(pool)))
}

/// A receipt means the report is on disk only if the server flushes its commits: logs a
/// warning when `fsync` or `synchronous_commit` is off (a server setting, the DBA's to change).
async fn warn_if_commits_are_not_durable(pool: &PgPool, location: &str) {
    for setting in ["fsync", "synchronous_commit"] {
        let value: std::result::Result<String, _> = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(pool)
            .await;
        if let Ok(value) = value {
            if value == "off" {
                tracing::warn!(
                    database = %location,
                    setting,
                    "the PostgreSQL server has {setting} = off: a receipt may be given for a \
                     report that a crash of the server then loses; ask its administrator to \
                     turn it on"
                );
            }
        }
    }
}

/// Starts a named write transaction holding the store's advisory lock until it ends.
pub(super) async fn begin(
    pool: &PgPool,
    name: &'static str,
) -> Result<Transaction<'static, Postgres>> {
    tracing::trace!(transaction = name, "begin");
    let mut tx = pool.begin().await.map_err(db(name))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db(name))?;
    Ok(tx)
}
