//! `backup`: a consistent snapshot of the coordinator's database, taken while it runs.
//!
//! The database is the only file of a coordinator that changes while it serves; the snapshot
//! (`VACUUM INTO`) is one whole SQLite file. Put in a folder with the coordinator's
//! `config.toml`, key files and form files as `coordinator.db`, it is a working coordinator.

use std::path::Path;

use crate::admin::Coordinator;
use crate::error::{CoordinatorError, io};

impl Coordinator {
    /// Writes a consistent snapshot of the database to `out`, a file that must not exist,
    /// readable by its owner only. Safe while `run` serves: reports keep arriving meanwhile and
    /// the snapshot holds every one committed before it started.
    pub async fn backup(&self, out: &Path) -> Result<(), CoordinatorError> {
        if out.exists() {
            return Err(io(out)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; choose a new file name",
            )));
        }
        self.store.snapshot_into(out).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))
                .map_err(io(out))?;
        }
        tracing::info!(out = %out.display(), "database snapshot written");
        Ok(())
    }
}
