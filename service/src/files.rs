//! Atomic file writes with a mode, for configuration and key files: a crash leaves either the
//! old file or the new one, never half of one.
//!
//! The one implementation is `quietcount_keys::identity::write_atomic` (the keys crate writes
//! key files atomically and must not depend on this service-side crate); it is re-exported
//! here so that the services name it by what it does.

pub use quietcount_keys::identity::write_atomic;

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
}
