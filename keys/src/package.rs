//! The donor package: a directory, laid out once here for both its writer (the coordinator)
//! and its reader (the verifier).
//!
//! ```text
//! PACKAGE_DIR/
//!   provincial.cose        the signed provincial report
//!   registry.cose          the signed site registry
//!   sites/<site-id>.cose   each signed site report the totals rest on
//!   totals.csv             the provincial totals, long format, for spreadsheets
//!   README.txt             how to verify the package
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quietcount_protocol::SiteId;
use quietcount_protocol::export::{ExportRow, HEADER};

/// File name of the signed provincial report.
pub const PROVINCIAL_FILE: &str = "provincial.cose";
/// File name of the signed site registry.
pub const REGISTRY_FILE: &str = "registry.cose";
/// Folder of signed site reports.
pub const SITES_DIR: &str = "sites";
/// Extension of signed site reports in [`SITES_DIR`].
pub const SITE_EXTENSION: &str = "cose";
/// File name of the totals table.
pub const TOTALS_FILE: &str = "totals.csv";
/// File name of the instructions.
pub const README_FILE: &str = "README.txt";

/// Largest file the reader accepts in a package.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Errors reading or writing a package. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file in `sites/` whose name is not `<site-id>.cose`.
    #[error("{path}: not named <site-id>.cose")]
    BadSiteFile {
        /// The file.
        path: PathBuf,
    },
    /// A file over the size limit.
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Refusing to write into a directory that is not empty.
    #[error("{path}: exists and is not empty; choose a new directory")]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
}

/// The contents of a donor package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorPackage {
    /// Signed provincial report (COSE_Sign1 bytes).
    pub provincial: Vec<u8>,
    /// Signed site registry (COSE_Sign1 bytes).
    pub registry: Vec<u8>,
    /// Signed site reports, by site.
    pub sites: BTreeMap<SiteId, Vec<u8>>,
    /// The totals as long-format CSV.
    pub totals_csv: String,
}

impl DonorPackage {
    /// Path of a site's report inside a package directory.
    pub fn site_path(dir: &Path, site: &SiteId) -> PathBuf {
        dir.join(SITES_DIR).join(format!("{site}.{SITE_EXTENSION}"))
    }

    /// Writes the package into `dir`, which must not exist or be empty. Files are synced.
    pub fn write_to(&self, dir: &Path) -> Result<(), PackageError> {
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(|source| io(dir, source))?;
            if entries.next().is_some() {
                return Err(PackageError::NotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        std::fs::create_dir_all(dir.join(SITES_DIR)).map_err(|source| io(dir, source))?;
        write_file(&dir.join(PROVINCIAL_FILE), &self.provincial)?;
        write_file(&dir.join(REGISTRY_FILE), &self.registry)?;
        for (site, bytes) in &self.sites {
            write_file(&Self::site_path(dir, site), bytes)?;
        }
        write_file(&dir.join(TOTALS_FILE), self.totals_csv.as_bytes())?;
        write_file(&dir.join(README_FILE), README_TEXT.as_bytes())?;
        Ok(())
    }

    /// Reads a package from `dir`. Only the layout is checked here; the verifier checks the rest.
    pub fn read_from(dir: &Path) -> Result<Self, PackageError> {
        let provincial = read_file(&dir.join(PROVINCIAL_FILE))?;
        let registry = read_file(&dir.join(REGISTRY_FILE))?;
        let totals_path = dir.join(TOTALS_FILE);
        let totals_csv =
            String::from_utf8(read_file(&totals_path)?).map_err(|_| PackageError::Io {
                path: totals_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
            })?;
        let sites_dir = dir.join(SITES_DIR);
        let mut sites = BTreeMap::new();
        for entry in std::fs::read_dir(&sites_dir).map_err(|source| io(&sites_dir, source))? {
            let path = entry.map_err(|source| io(&sites_dir, source))?.path();
            let site = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(&format!(".{SITE_EXTENSION}")))
                .and_then(|stem| SiteId::new(stem).ok())
                .ok_or_else(|| PackageError::BadSiteFile { path: path.clone() })?;
            sites.insert(site, read_file(&path)?);
        }
        Ok(Self {
            provincial,
            registry,
            sites,
            totals_csv,
        })
    }
}

/// Renders long-format rows as CSV with the standard header.
pub fn rows_to_csv(rows: &[ExportRow]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    #[allow(clippy::expect_used)]
    {
        writer.write_record(HEADER).expect("write to memory");
        for row in rows {
            writer.write_record(row.fields()).expect("write to memory");
        }
        let bytes = writer.into_inner().expect("flush to memory");
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
    }
}

/// The package's README.txt.
pub const README_TEXT: &str = "\
Quietcount donor package
========================

This folder holds a provincial report and everything it rests on:

  provincial.cose       the provincial report, signed by the provincial coordinator
  registry.cose         the coordinator's signed list of enrolled sites and their keys
  sites/<site>.cose     each site's signed report (suppressed cells carry no value)
  totals.csv            the provincial totals, one row per cell, for spreadsheets
                        (status exact, or bounded: the true total lies in [lower, upper])

To verify it, obtain the coordinator's public key (coordinator.pub) through a channel you
trust, not from this folder, and run:

  quietcount-keys verify THIS_FOLDER --trust coordinator.pub

Every check is printed as passed or failed. Exit status 0 means every check passed.
The verifier checks every signature, that every site key was enrolled and not revoked
when its report was received, that no published cell is below the disclosure threshold
and no suppressed cell can be narrowed below it, and that the provincial totals are
exactly what the site reports add up to.
";

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(|source| io(path, source))?;
    file.write_all(bytes).map_err(|source| io(path, source))?;
    file.sync_all().map_err(|source| io(path, source))
}

fn read_file(path: &Path) -> Result<Vec<u8>, PackageError> {
    let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(PackageError::TooLarge {
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> PackageError {
    PackageError::Io {
        path: path.to_owned(),
        source,
    }
}
