//! Consistent snapshots of the database (`VACUUM INTO`), safe while the service runs.

use std::path::Path;

use super::{Result, Store, db};

impl Store {
    /// Writes a consistent copy of the whole database to `path`, which must not exist.
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        sqlx::query("VACUUM INTO ?1")
            .bind(path.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .map_err(db("backup_vacuum_into"))?;
        Ok(())
    }
}
