//! The donor package: a directory, laid out once here for both its writer (the coordinator)
//! and its reader (the verifier).
//!
//! ```text
//! PACKAGE_DIR/
//!   provincial.cose        the signed provincial report
//!   registry.cose          the signed site registry
//!   sites/<site-id>.cose   each signed site report the totals rest on
//!   form.toml              the reporting form the reports answer (its hash is in each report)
//!   totals.csv             the provincial totals, long format, for spreadsheets
//!   README.txt             how to verify the package
//! ```
//!
//! [`assemble`] is the one place a package is put together from stored site reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quietcount_protocol::completeness::{Arrival, Unpublishable, check_publishable, completeness};
use quietcount_protocol::disclosure::check_report;
use quietcount_protocol::export::{ExportRow, HEADER, province_rows};
use quietcount_protocol::{
    EnvelopeHash, FORMAT_VERSION, Fingerprint, Form, Period, ProvincialReport, RegistryEntry,
    ReportInput, Sha256Hash, SiteId, SiteRegistry, SiteReport, UnixTime, aggregate, open_with,
    sign,
};

use crate::identity::Identity;

/// File name of the signed provincial report.
pub const PROVINCIAL_FILE: &str = "provincial.cose";
/// File name of the signed site registry.
pub const REGISTRY_FILE: &str = "registry.cose";
/// Folder of signed site reports.
pub const SITES_DIR: &str = "sites";
/// Extension of signed site reports in [`SITES_DIR`].
pub const SITE_EXTENSION: &str = "cose";
/// Folder of the earlier revisions of the site reports, so that the verifier can audit every
/// revision jointly: `earlier/<site-id>.r<revision>.cose`.
pub const EARLIER_DIR: &str = "earlier";
/// File name of the reporting form.
pub const FORM_FILE: &str = "form.toml";
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
    /// The earlier revisions of those reports the coordinator holds, by site and revision.
    pub earlier: BTreeMap<SiteId, BTreeMap<u32, Vec<u8>>>,
    /// The reporting form, as TOML.
    pub form_toml: String,
    /// The totals as long-format CSV.
    pub totals_csv: String,
}

impl DonorPackage {
    /// Path of a site's report inside a package directory.
    pub fn site_path(dir: &Path, site: &SiteId) -> PathBuf {
        dir.join(SITES_DIR).join(format!("{site}.{SITE_EXTENSION}"))
    }

    /// Path of an earlier revision of a site's report inside a package directory.
    pub fn earlier_path(dir: &Path, site: &SiteId, revision: u32) -> PathBuf {
        dir.join(EARLIER_DIR)
            .join(format!("{site}.r{revision}.{SITE_EXTENSION}"))
    }

    /// The site and revision an `earlier/` file name gives (`<site-id>.r<revision>.cose`).
    pub fn parse_earlier_name(name: &str) -> Option<(SiteId, u32)> {
        let stem = name.strip_suffix(&format!(".{SITE_EXTENSION}"))?;
        let (site, digits) = stem.rsplit_once(".r")?;
        let revision: u32 = digits.parse().ok().filter(|r| *r >= 1)?;
        // One spelling only: `.r02` is not revision 2.
        if revision.to_string() != digits {
            return None;
        }
        Some((SiteId::new(site).ok()?, revision))
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
        if self.earlier.values().any(|r| !r.is_empty()) {
            std::fs::create_dir_all(dir.join(EARLIER_DIR)).map_err(|source| io(dir, source))?;
        }
        for (site, revisions) in &self.earlier {
            for (revision, bytes) in revisions {
                write_file(&Self::earlier_path(dir, site, *revision), bytes)?;
            }
        }
        write_file(&dir.join(FORM_FILE), self.form_toml.as_bytes())?;
        write_file(&dir.join(TOTALS_FILE), self.totals_csv.as_bytes())?;
        write_file(&dir.join(README_FILE), README_TEXT.as_bytes())?;
        Ok(())
    }

    /// Reads a package from `dir`. Only the layout is checked here; the verifier checks the rest.
    pub fn read_from(dir: &Path) -> Result<Self, PackageError> {
        let provincial = read_file(&dir.join(PROVINCIAL_FILE))?;
        let registry = read_file(&dir.join(REGISTRY_FILE))?;
        let totals_csv = read_text(&dir.join(TOTALS_FILE))?;
        let form_toml = read_text(&dir.join(FORM_FILE))?;
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
        let mut earlier: BTreeMap<SiteId, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
        let earlier_dir = dir.join(EARLIER_DIR);
        if earlier_dir.is_dir() {
            for entry in
                std::fs::read_dir(&earlier_dir).map_err(|source| io(&earlier_dir, source))?
            {
                let path = entry.map_err(|source| io(&earlier_dir, source))?.path();
                let (site, revision) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(Self::parse_earlier_name)
                    .ok_or_else(|| PackageError::BadSiteFile { path: path.clone() })?;
                earlier
                    .entry(site)
                    .or_default()
                    .insert(revision, read_file(&path)?);
            }
        }
        Ok(Self {
            provincial,
            registry,
            sites,
            earlier,
            form_toml,
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
  earlier/              the earlier revisions of corrected site reports, if any
                        (<site>.r<revision>.cose), audited jointly with the latest
  form.toml             the reporting form the reports answer
  totals.csv            the provincial totals, one row per cell, for spreadsheets
                        (status exact, or bounded: the true total lies in [lower, upper];
                        an empty upper means nothing bounds it from above)

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

fn read_text(path: &Path) -> Result<String, PackageError> {
    String::from_utf8(read_file(path)?).map_err(|_| PackageError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

fn io(path: &Path, source: std::io::Error) -> PackageError {
    PackageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A stored site report offered to [`assemble`]: its exact envelope and when it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// The site report's COSE_Sign1 bytes, exactly as received.
    pub envelope: Vec<u8>,
    /// When the coordinator received it (its receipt time).
    pub received_at: UnixTime,
}

/// What a provincial publication covers.
#[derive(Debug, Clone)]
pub struct Publication<'a> {
    /// The reporting form.
    pub form: &'a Form,
    /// The form's TOML text, shipped in the package (its parsed hash must match `form`).
    pub form_toml: &'a str,
    /// The province's name.
    pub province: &'a str,
    /// The period.
    pub period: Period,
    /// Publication time.
    pub published_at: UnixTime,
    /// Reports received within this many days after the period's end are on time.
    pub on_time_days: u32,
    /// Every key ever enrolled, retired and revoked ones included.
    pub registry: &'a [RegistryEntry],
    /// The least share of expected sites, in percent, that must have reported
    /// ([`check_publishable`]).
    pub min_reporting_percent: u32,
    /// Publish below that share anyway; the provincial report then says it is incomplete.
    pub allow_incomplete: bool,
}

/// A package and the site reports left out of it, with the reason.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The package.
    pub package: DonorPackage,
    /// The decoded provincial report inside it.
    pub provincial: ProvincialReport,
    /// Reports not included, and why (a revoked site, another period, a bad signature...).
    pub excluded: Vec<(String, String)>,
}

/// Why a package could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// The form text does not parse to the form given.
    #[error("form.toml does not match the form being published")]
    FormMismatch,
    /// Aggregation failed.
    #[error(transparent)]
    Aggregate(#[from] quietcount_protocol::AggregateError),
    /// Signing failed.
    #[error(transparent)]
    Encode(#[from] quietcount_protocol::EncodeError),
    /// The period may not be published as it stands (no report, or too few without
    /// `--allow-incomplete`).
    #[error("{0}")]
    Unpublishable(#[from] Unpublishable),
}

/// Builds a donor package: verifies and selects the site reports (the latest revision of each
/// site whose key's validity window covers the report's receipt: a key retired or revoked
/// later does not undo what it signed while valid),
/// leaves out any that breaks the disclosure rule (named in [`Assembled::excluded`], counted as
/// not reported), aggregates the rest with `protocol`'s [`aggregate`](fn@aggregate), computes
/// completeness against the registry, signs the registry and the provincial report with the
/// coordinator's identity and renders `totals.csv`.
pub fn assemble(
    publication: &Publication<'_>,
    reports: &[StoredReport],
    coordinator: &Identity,
) -> Result<Assembled, AssembleError> {
    assemble_screened(publication, reports, coordinator, true)
}

/// What a faulty or dishonest coordinator would publish: [`assemble`] without leaving out
/// reports that break the disclosure rule. Only for tests of the verifier, which must catch it.
#[cfg(feature = "test-util")]
pub fn assemble_unscreened(
    publication: &Publication<'_>,
    reports: &[StoredReport],
    coordinator: &Identity,
) -> Result<Assembled, AssembleError> {
    assemble_screened(publication, reports, coordinator, false)
}

fn assemble_screened(
    publication: &Publication<'_>,
    reports: &[StoredReport],
    coordinator: &Identity,
    screen: bool,
) -> Result<Assembled, AssembleError> {
    let form = publication.form;
    let parsed = Form::from_toml(publication.form_toml).map_err(|_| AssembleError::FormMismatch)?;
    if parsed.reference() != form.reference() {
        return Err(AssembleError::FormMismatch);
    }
    let mut excluded = Vec::new();
    // Latest revision per site among the acceptable reports.
    let mut chosen: BTreeMap<SiteId, (SiteReport, &StoredReport, EnvelopeHash)> = BTreeMap::new();
    let mut signed_revisions: BTreeMap<SiteId, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
    for stored in reports {
        let lookup = |kid: &Fingerprint| {
            publication
                .registry
                .iter()
                .find(|e| e.fingerprint().as_ref() == Some(kid))
                .and_then(|e| e.public_key.verifying_key())
        };
        let opened = match open_with::<SiteReport>(&stored.envelope, lookup) {
            Ok(opened) => opened,
            Err(e) => {
                excluded.push((
                    format!("envelope {}", Sha256Hash::of(&stored.envelope)),
                    e.to_string(),
                ));
                continue;
            }
        };
        let report = opened.payload;
        let site = report.site.clone();
        let Some(entry) = publication
            .registry
            .iter()
            .find(|e| e.site == site && e.fingerprint() == Some(opened.signer))
        else {
            excluded.push((
                site.to_string(),
                "signed by a key not enrolled for this site".into(),
            ));
            continue;
        };
        // Every revision signed by a key of the site is kept aside: the earlier ones of the
        // chosen revision go into the package for the verifier's joint audit.
        if report.period == publication.period && report.form == form.reference() {
            signed_revisions
                .entry(site.clone())
                .or_default()
                .insert(report.revision, stored.envelope.clone());
        }
        if !entry.active_at(stored.received_at) {
            excluded.push((
                site.to_string(),
                format!(
                    "received {}, outside its key's validity window ({})",
                    crate::verify::format_time(stored.received_at),
                    crate::verify::key_window(entry)
                ),
            ));
            continue;
        }
        if !publication
            .registry
            .iter()
            .any(|e| e.site == site && e.expected_for(publication.period))
        {
            excluded.push((
                site.to_string(),
                format!(
                    "the site is not expected to report for {}: it was enrolled after it \
                     (enroll its key again with --reports-from {} to count it)",
                    publication.period, publication.period
                ),
            ));
            continue;
        }
        if report.period != publication.period || report.form != form.reference() {
            excluded.push((site.to_string(), "another form or period".into()));
            continue;
        }
        let newer = chosen
            .get(&site)
            .is_none_or(|(r, _, _)| report.revision > r.revision);
        if newer {
            chosen.insert(site, (report, stored, opened.hash));
        }
    }
    // A report the donor's verifier would reject (one stored before ingest checked the
    // disclosure rule, or by a faulty coordinator) is left out, named, and counted as not
    // reported: one site's report never stops the province's publication.
    chosen.retain(|site, (report, _, _)| {
        if !screen {
            return true;
        }
        let problem = match report.check_against(form) {
            Err(mismatch) => Some(format!("does not match its form: {mismatch}")),
            Ok(()) => check_report(form, &report.indicators, &report.policy)
                .err()
                .map(|violations| match violations.first() {
                    Some(first) => format!(
                        "breaks the disclosure rule ({}: {}); counted as not reported",
                        first.indicator, first.violation
                    ),
                    None => "breaks the disclosure rule; counted as not reported".to_owned(),
                }),
        };
        match problem {
            Some(problem) => {
                excluded.push((site.to_string(), format!("its report {problem}")));
                false
            }
            None => true,
        }
    });
    let site_reports: Vec<SiteReport> = chosen.values().map(|(r, _, _)| r.clone()).collect();
    let totals = aggregate(form, publication.period, &site_reports)?;
    let inputs: Vec<ReportInput> = chosen
        .values()
        .map(|(r, stored, hash)| ReportInput {
            site: r.site.clone(),
            revision: r.revision,
            envelope: *hash,
            received_at: stored.received_at,
        })
        .collect();
    let registry = SiteRegistry {
        format: FORMAT_VERSION,
        province: publication.province.to_owned(),
        issued_at: publication.published_at,
        entries: publication.registry.to_vec(),
    };
    // Expected: every site with a key valid during the period; reported: the inputs, each
    // on time or not by the time signed into its receipt (protocol's one definition).
    let arrivals: Vec<Arrival> = inputs
        .iter()
        .map(|i| Arrival {
            site: i.site.clone(),
            received_at: i.received_at,
        })
        .collect();
    let completeness = completeness(
        publication.period,
        &registry.sites_expected_for(publication.period),
        &arrivals,
        publication.on_time_days,
    );
    // A faulty coordinator (the unscreened path, for the verifier's tests) publishes anyway.
    let incomplete = match check_publishable(
        &completeness,
        publication.min_reporting_percent,
        publication.allow_incomplete,
    ) {
        Ok(incomplete) => incomplete,
        Err(refusal) if screen => return Err(refusal.into()),
        Err(_) => true,
    };
    let provincial = ProvincialReport {
        format: FORMAT_VERSION,
        province: publication.province.to_owned(),
        form: form.reference(),
        period: publication.period,
        published_at: publication.published_at,
        inputs,
        completeness,
        totals,
        incomplete,
    };
    let totals_csv = rows_to_csv(&province_rows(form, publication.period, &provincial.totals));
    let earlier = chosen
        .iter()
        .map(|(site, (report, _, _))| {
            let revisions = signed_revisions
                .remove(site)
                .unwrap_or_default()
                .into_iter()
                .filter(|(revision, _)| *revision < report.revision)
                .collect();
            (site.clone(), revisions)
        })
        .filter(|(_, revisions): &(SiteId, BTreeMap<u32, Vec<u8>>)| !revisions.is_empty())
        .collect();
    let package = DonorPackage {
        provincial: sign(&provincial, coordinator.signing_key())?,
        registry: sign(&registry, coordinator.signing_key())?,
        sites: chosen
            .into_iter()
            .map(|(site, (_, stored, _))| (site, stored.envelope.clone()))
            .collect(),
        earlier,
        form_toml: publication.form_toml.to_owned(),
        totals_csv,
    };
    Ok(Assembled {
        package,
        provincial,
        excluded,
    })
}
