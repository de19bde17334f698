//! Sealing a database from before sealed records: seal every clear identity value, drop the
//! clear columns, then rewrite the file so that no clear page survives (`secure_delete` is on
//! for every connection; `VACUUM` rebuilds the file; a `TRUNCATE` checkpoint empties the WAL).

use sqlx::Row;

use super::{Result, Store, StoreError, db};
use crate::sealed::{IdentityFields, Sealer};

/// The clear identity columns of databases from before sealed records.
const CLEAR_COLUMNS: [&str; 5] = [
    "full_name",
    "date_of_birth",
    "phone",
    "national_id",
    "address",
];

impl Store {
    /// Whether the clients table still has clear identity columns (a database from before
    /// sealed records, or a new one not yet sealed at `init`).
    pub async fn needs_sealing(&self) -> Result<bool> {
        const QUERY: &str = "read_clients_columns";
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('clients')")
                .fetch_all(&self.pool)
                .await
                .map_err(db(QUERY))?;
        Ok(names.iter().any(|n| n == "full_name"))
    }

    /// Seals every client's clear identity values with `sealer` and drops the clear columns,
    /// in one transaction; then rewrites the file ([`Store::scrub`]). Returns how many clients
    /// were sealed. Does nothing (and returns 0) on a sealed database.
    pub async fn seal_clear_identity(&self, sealer: &Sealer) -> Result<u64> {
        const TX: &str = "seal_clear_identity";
        if !self.needs_sealing().await? {
            return Ok(0);
        }
        let mut tx = self.begin_write(TX).await?;
        let rows = sqlx::query(
            "SELECT client_code, full_name, date_of_birth, phone, national_id, address FROM clients",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db(TX))?;
        let mut sealed_rows = 0u64;
        for row in rows {
            let get = |i: usize| -> Result<String> {
                row.try_get::<Option<String>, _>(i)
                    .map(Option::unwrap_or_default)
                    .map_err(db(TX))
            };
            let code = get(0)?;
            let fields = IdentityFields {
                full_name: get(1)?,
                date_of_birth: get(2)?,
                phone: get(3)?,
                national_id: get(4)?,
                address: get(5)?,
            };
            let sealed = sealer.seal(&code, &fields);
            let [name, born, phone, national_id, address] = sealed.0;
            sqlx::query(
                "INSERT OR REPLACE INTO sealed_identity \
                 (client_code, full_name, date_of_birth, phone, national_id, address) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(&code)
            .bind(name)
            .bind(born)
            .bind(phone)
            .bind(national_id)
            .bind(address)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            sealed_rows += 1;
        }
        for column in CLEAR_COLUMNS {
            sqlx::query(&format!("ALTER TABLE clients DROP COLUMN {column}"))
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
        }
        tx.commit().await.map_err(db(TX))?;
        self.scrub().await?;
        tracing::info!(
            clients = sealed_rows,
            "clear identity values sealed and scrubbed"
        );
        Ok(sealed_rows)
    }

    /// Rewrites the database so that no deleted content survives in the file or its WAL:
    /// `VACUUM` (with `secure_delete` on), then a `TRUNCATE` checkpoint. Fails if another
    /// process (a running service) keeps the WAL from being emptied.
    pub async fn scrub(&self) -> Result<()> {
        const QUERY: &str = "scrub_database";
        sqlx::query("VACUUM")
            .execute(&self.pool)
            .await
            .map_err(db(QUERY))?;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .map_err(db(QUERY))?;
        if busy != 0 {
            return Err(StoreError::Busy { operation: QUERY });
        }
        Ok(())
    }
}
