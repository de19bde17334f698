//! `backup`: a consistent snapshot of the coordinator's SQLite database, taken while it runs;
//! and `migrate-store`: the whole store copied into a new one on another backend.
//!
//! The database is the only file of a coordinator that changes while it serves; the snapshot
//! (`VACUUM INTO`) is one whole SQLite file. Put in a folder with the coordinator's
//! `config.toml`, key files and form files as `coordinator.db`, it is a working coordinator.

use std::path::Path;

use crate::admin::Coordinator;
use crate::config::files;
use crate::error::{CoordinatorError, io};
use crate::store::{Location, Store, TransferSummary};

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

    /// `migrate-store`: copies the store at `from` into a new, empty store at `to` (each a
    /// `sqlite:PATH` relative to this coordinator's directory, or a PostgreSQL URL) and checks
    /// the copy (rows per table, digest, sequence mark). Both must belong to this coordinator:
    /// the source is checked against this coordinator's key. A SQLite target must not exist.
    pub async fn migrate_store(
        dir: &Path,
        from: &str,
        to: &str,
        password_file: Option<&Path>,
    ) -> Result<TransferSummary, CoordinatorError> {
        let identity = quietcount_keys::Identity::load(&dir.join(files::KEY))?;
        let password = match password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(io(path))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            None => None,
        };
        let source_location = Location::parse(from, password.clone(), dir)?;
        let target_location = Location::parse(to, password, dir)?;
        if let Location::Sqlite(path) = &target_location {
            if path.exists() {
                return Err(io(path)(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists; migrate-store only fills a new store",
                )));
            }
            quietcount_service::files::create_private_file(path).map_err(io(path))?;
        }
        let source = Store::open(&source_location).await?;
        source
            .bind_to_coordinator(&source_location, &identity.fingerprint())
            .await?;
        let target = Store::create(&target_location).await?;
        let copied = source.copy_into(&target).await;
        source.close().await;
        target.close().await;
        let summary = copied?;
        tracing::info!(
            from = %source_location,
            to = %target_location,
            reports = summary.rows.iter().find(|(t, _)| *t == "reports").map_or(0, |r| r.1),
            "store copied and checked"
        );
        Ok(summary)
    }
}
