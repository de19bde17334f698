//! Files the services create: atomic writes with a mode, for configuration and key files (a
//! crash leaves either the old file or the new one, never half of one), and owner-only
//! directories and database files, created so before anything is written into them.
//!
//! The one implementation is `quietcount_keys::identity::write_atomic` (the keys crate writes
//! key files atomically and must not depend on this service-side crate); it is re-exported
//! here so that the services name it by what it does.

use std::path::Path;

pub use quietcount_keys::identity::write_atomic;

/// Creates the directory `path` (with its parents) if missing and restricts it to its owner
/// (0700 on Unix), whatever the umask.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates `path` as a new empty file readable and writable by its owner only (0600 on Unix),
/// failing if it exists. A database created this way keeps its records private from the first
/// byte; SQLite gives its `-wal` and `-shm` files the same mode.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_whole_with_the_mode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"first", 0o600)?;
        write_atomic(&path, b"second", 0o644)?;
        assert_eq!(std::fs::read(&path)?, b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o644
            );
        }
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn private_files_and_directories_are_owner_only_whatever_the_umask()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
        let root = tempfile::tempdir()?;
        let dir = root.path().join("a/b");
        create_private_dir(&dir)?;
        assert_eq!(mode(&dir)?, 0o700);
        let file = dir.join("store.db");
        create_private_file(&file)?;
        assert_eq!(mode(&file)?, 0o600);
        assert!(
            create_private_file(&file).is_err(),
            "an existing file is not reused"
        );
        Ok(())
    }
}
