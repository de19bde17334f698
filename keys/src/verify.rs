//! The donor's verifier: checks a donor package offline, trusting only the coordinator's public
//! key(s) given by the auditor.
//!
//! [`verify_package`] never stops at the first problem and never panics on the package: every
//! check is reported, passed or failed, with the file (and where it applies the site and the
//! cell) at fault. A check that depends on one that failed is reported as failed with a
//! `skipped: ...` reason, so that the verdict can never pass by omission.
//!
//! # Checks (stable names)
//! - [`LAYOUT`]: the package reads with [`DonorPackage::read_from`], and holds no unexpected file.
//! - [`README`]: `README.txt` is exactly [`README_TEXT`].
//! - [`PROVINCIAL_SIGNATURE`]: `provincial.cose` is a provincial report signed by a trusted key.
//! - [`REGISTRY_SIGNATURE`]: `registry.cose` is a site registry signed by the same key.
//! - [`REGISTRY_ISSUED`]: the registry was issued at or after publication, so it speaks for it.
//! - [`PROVINCE`]: the registry and the provincial report name the same province.
//! - [`FORM`]: `form.toml` is the form the provincial report names (id, version and hash).
//! - [`SITE_FILES`]: the provincial report's inputs and `sites/*.cose` match one to one.
//! - per site, [`SITE_HASH`]: the file's SHA-256 is the envelope hash the provincial report names.
//! - per site, [`SITE_SIGNATURE`]: signed by a key the registry lists for that site, active
//!   (enrolled, not revoked) when the report was received and at publication.
//! - per site, [`SITE_REPORT`]: the payload is that site's, of the input's revision, for the
//!   provincial report's form and period, and matches the form.
//! - per site, [`DISCLOSURE`]: the site's tables obey its disclosure policy, as far as an
//!   outsider can check (`protocol::disclosure::check`).
//! - [`TOTALS`]: `protocol::aggregate` over the site reports gives exactly the signed totals.
//! - [`TOTALS_CSV`]: `totals.csv` is exactly the rendering of the signed totals.
//! - [`COMPLETENESS`]: the completeness figures match the registry and the inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::aggregate::TotalCell;
use quietcount_protocol::disclosure::{self, Violation};
use quietcount_protocol::envelope::Payload;
use quietcount_protocol::export::{disaggregation, province_rows};
use quietcount_protocol::form::DEFAULT_MONTHLY_TOML;
use quietcount_protocol::{
    Cell, DisclosurePolicy, EnvelopeError, Fingerprint, Form, Opened, ProvincialReport,
    ProvincialTotals, ReportInput, Sha256Hash, SiteId, SiteRegistry, SiteReport, UnixTime,
    aggregate, fingerprint_of, open_with,
};
use serde::Serialize;

use crate::identity::short_fingerprint;
use crate::package::{
    DonorPackage, FORM_FILE, MAX_FILE_BYTES, PROVINCIAL_FILE, PackageError, README_FILE,
    README_TEXT, REGISTRY_FILE, SITE_EXTENSION, SITES_DIR, TOTALS_FILE, on_time, rows_to_csv,
};

/// Check name: the package's files read.
pub const LAYOUT: &str = "layout";
/// Check name: README.txt is the standard text.
pub const README: &str = "readme";
/// Check name: the provincial report's signature.
pub const PROVINCIAL_SIGNATURE: &str = "provincial-signature";
/// Check name: the registry's signature.
pub const REGISTRY_SIGNATURE: &str = "registry-signature";
/// Check name: the registry speaks for the publication time.
pub const REGISTRY_ISSUED: &str = "registry-issued";
/// Check name: registry and provincial report name the same province.
pub const PROVINCE: &str = "province";
/// Check name: form.toml is the form answered.
pub const FORM: &str = "form";
/// Check name: inputs and site files match one to one.
pub const SITE_FILES: &str = "site-files";
/// Check name (per site): the site file is the envelope the provincial report names.
pub const SITE_HASH: &str = "site-hash";
/// Check name (per site): the site report's signature by an active key of that site.
pub const SITE_SIGNATURE: &str = "site-signature";
/// Check name (per site): the site report's content matches its input, form and period.
pub const SITE_REPORT: &str = "site-report";
/// Check name (per site): the site report obeys its disclosure policy.
pub const DISCLOSURE: &str = "disclosure";
/// Check name: the provincial totals are the aggregate of the site reports.
pub const TOTALS: &str = "totals";
/// Check name: totals.csv renders the signed totals.
pub const TOTALS_CSV: &str = "totals-csv";
/// Check name: completeness figures.
pub const COMPLETENESS: &str = "completeness";

/// Most entries read from one package folder; a package is small, a hostile one may not be.
const MAX_DIR_ENTRIES: usize = 10_000;

/// Most bytes of site reports read from one package (each file is limited on its own too).
const MAX_SITES_BYTES: u64 = 256 << 20;

/// Most problems spelled out in one check's detail.
const MAX_LISTED: usize = 3;

/// The outcome of verifying a package: every check, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every check made, passed or failed.
    pub checks: Vec<Check>,
}

/// One check of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `provincial-signature` (see the module documentation).
    pub name: String,
    /// Whether the check passed.
    pub passed: bool,
    /// What was checked and found, in a sentence.
    pub detail: String,
    /// The file at fault or checked, relative to the package folder.
    pub file: Option<String>,
    /// The site concerned, for per-site checks.
    pub site: Option<SiteId>,
    /// The cell at fault: `indicator/disaggregation`.
    pub cell: Option<String>,
}

impl VerifyReport {
    /// Whether there was at least one check and every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The verdict line: `VERIFIED: all N checks passed` or `NOT VERIFIED: M of N checks failed`.
    pub fn verdict(&self) -> String {
        let total = self.checks.len();
        let failed = self.failures().count();
        if self.passed() {
            format!("VERIFIED: all {total} checks passed")
        } else {
            format!("NOT VERIFIED: {failed} of {total} checks failed")
        }
    }

    /// Human-readable output: one line per check, then the verdict.
    pub fn render_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let status = if check.passed { "PASS" } else { "FAIL" };
            out.push_str(&format!(
                "{status}  {:<width$}  {}\n",
                check.name, check.detail
            ));
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }

    /// Machine-readable output: the checks and the verdict.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verified": self.passed(),
            "verdict": self.verdict(),
            "total": self.checks.len(),
            "failed": self.failures().count(),
            "checks": self.checks,
        })
    }
}

impl Check {
    fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, true, detail.into())
    }

    fn fail(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, false, detail.into())
    }

    /// A check that could not be made because one it depends on failed: it fails, so that
    /// the verdict never passes by omission, and names no file (the failed check does).
    fn skipped(name: &str, reason: &str) -> Self {
        Self::new(name, false, format!("skipped: {reason}"))
    }

    fn new(name: &str, passed: bool, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            passed,
            detail,
            file: None,
            site: None,
            cell: None,
        }
    }

    fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    fn site(mut self, site: &SiteId) -> Self {
        self.site = Some(site.clone());
        self
    }

    fn cell(mut self, cell: Option<String>) -> Self {
        self.cell = cell;
        self
    }
}

/// Verifies the donor package in `dir`, trusting the coordinator keys in `trust`, and knowing
/// `forms` besides the package's own `form.toml`. Never panics on the package's content.
pub fn verify_package(dir: &Path, trust: &[VerifyingKey], forms: &[Form]) -> VerifyReport {
    let mut checks = Vec::new();
    let files = Files::load(dir);
    check_layout(dir, &files, &mut checks);
    check_readme(&files, &mut checks);
    let provincial = check_provincial(&files, trust, &mut checks);
    let registry = check_registry(&files, trust, provincial.as_ref(), &mut checks);
    let provincial = provincial.map(|p| p.payload);
    let registry = registry.map(|r| r.payload);
    let form = check_form(&files, forms, provincial.as_ref(), &mut checks);
    let reports = check_sites(
        &files,
        provincial.as_ref(),
        registry.as_ref(),
        form.as_ref(),
        &mut checks,
    );
    check_totals(
        provincial.as_ref(),
        form.as_ref(),
        reports.as_ref(),
        &mut checks,
    );
    check_totals_csv(&files, provincial.as_ref(), form.as_ref(), &mut checks);
    check_completeness(provincial.as_ref(), registry.as_ref(), &mut checks);
    VerifyReport { checks }
}

/// The package's files, each read on its own so that one bad file does not hide the others.
#[derive(Debug)]
struct Files {
    provincial: Result<Vec<u8>, String>,
    registry: Result<Vec<u8>, String>,
    form_toml: Result<Vec<u8>, String>,
    totals_csv: Result<Vec<u8>, String>,
    readme: Result<Vec<u8>, String>,
    /// Site reports by the site their file name gives.
    sites: BTreeMap<SiteId, Result<Vec<u8>, String>>,
    /// Files that should not be there, with the problem: (relative path, problem).
    unexpected: Vec<(String, String)>,
    /// Whether the sites folder went over this verifier's limits (entries or bytes).
    over_limits: bool,
}

impl Files {
    fn load(dir: &Path) -> Self {
        let mut unexpected = Vec::new();
        let known = [
            PROVINCIAL_FILE,
            REGISTRY_FILE,
            SITES_DIR,
            FORM_FILE,
            TOTALS_FILE,
            README_FILE,
        ];
        match list_dir(dir) {
            Ok(names) => {
                for name in names {
                    if !known.contains(&name.as_str()) {
                        unexpected.push((name, "unexpected file in the package".to_owned()));
                    }
                }
            }
            Err(e) => unexpected.push((".".to_owned(), e)),
        }
        let mut sites = BTreeMap::new();
        let mut over_limits = false;
        let sites_dir = dir.join(SITES_DIR);
        match list_dir(&sites_dir) {
            Ok(names) => {
                let suffix = format!(".{SITE_EXTENSION}");
                let mut budget = MAX_SITES_BYTES;
                for name in names {
                    let relative = format!("{SITES_DIR}/{name}");
                    let site = name
                        .strip_suffix(&suffix)
                        .and_then(|stem| SiteId::new(stem).ok());
                    match site {
                        Some(site) => {
                            let bytes = if budget == 0 {
                                Err(format!(
                                    "not read: the site reports exceed {MAX_SITES_BYTES} bytes in all"
                                ))
                            } else {
                                read_limited(&sites_dir.join(&name))
                            };
                            match &bytes {
                                Ok(read) => budget = budget.saturating_sub(read.len() as u64),
                                Err(_) => over_limits = true,
                            }
                            sites.insert(site, bytes);
                        }
                        None => unexpected.push((relative, "not named <site-id>.cose".to_owned())),
                    }
                }
            }
            Err(e) => {
                over_limits |= e.starts_with("more than");
                unexpected.push((format!("{SITES_DIR}/"), e));
            }
        }
        Self {
            provincial: read_limited(&dir.join(PROVINCIAL_FILE)),
            registry: read_limited(&dir.join(REGISTRY_FILE)),
            form_toml: read_limited(&dir.join(FORM_FILE)),
            totals_csv: read_limited(&dir.join(TOTALS_FILE)),
            readme: read_limited(&dir.join(README_FILE)),
            sites,
            unexpected,
            over_limits,
        }
    }
}

/// Names in a folder (sorted), refusing folders with too many entries.
fn list_dir(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list: {e}"))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list: {e}"))?;
        if names.len() >= MAX_DIR_ENTRIES {
            return Err(format!("more than {MAX_DIR_ENTRIES} entries"));
        }
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

fn site_file(site: &SiteId) -> String {
    format!("{SITES_DIR}/{site}.{SITE_EXTENSION}")
}

fn short(fingerprint: &Fingerprint) -> String {
    short_fingerprint(fingerprint)
}

fn check_layout(dir: &Path, files: &Files, checks: &mut Vec<Check>) {
    let before = checks.len();
    // `read_from` reads every site file without a total limit: only call it on a package
    // whose sites folder was listed and read within this verifier's own limits.
    let read = if files.over_limits {
        Ok(())
    } else {
        DonorPackage::read_from(dir).map(|_| ())
    };
    for (site, result) in &files.sites {
        if let Err(e) = result {
            let file = site_file(site);
            checks.push(Check::fail(LAYOUT, format!("{file}: {e}")).file(file));
        }
    }
    if let Err(e) = read {
        let file = match &e {
            PackageError::Io { path, .. }
            | PackageError::BadSiteFile { path }
            | PackageError::TooLarge { path }
            | PackageError::NotEmpty { path } => relative(dir, path),
        };
        if !checks[before..]
            .iter()
            .any(|c| c.file.as_deref() == Some(file.as_str()))
        {
            let detail = format!("{file}: {}", package_error_reason(&e));
            checks.push(Check::fail(LAYOUT, detail).file(file));
        }
    }
    for (file, problem) in &files.unexpected {
        if checks[before..]
            .iter()
            .any(|c| c.file.as_deref() == Some(file))
        {
            continue;
        }
        checks.push(Check::fail(LAYOUT, format!("{file}: {problem}")).file(file.clone()));
    }
    if checks.len() == before {
        checks.push(Check::pass(
            LAYOUT,
            format!(
                "package reads: {PROVINCIAL_FILE}, {REGISTRY_FILE}, {} site report(s), {FORM_FILE}, {TOTALS_FILE}, {README_FILE}",
                files.sites.len()
            ),
        ));
    }
}

fn package_error_reason(error: &PackageError) -> String {
    match error {
        PackageError::Io { source, .. } => source.to_string(),
        PackageError::BadSiteFile { .. } => "not named <site-id>.cose".to_owned(),
        PackageError::TooLarge { .. } => format!("larger than {MAX_FILE_BYTES} bytes"),
        other => other.to_string(),
    }
}

fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let text = rel.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}

fn check_readme(files: &Files, checks: &mut Vec<Check>) {
    let check = match &files.readme {
        Err(e) => Check::fail(README, format!("{README_FILE}: {e}")),
        Ok(bytes) if bytes.as_slice() == README_TEXT.as_bytes() => Check::pass(
            README,
            format!("{README_FILE} is the standard instructions text"),
        ),
        Ok(bytes) => {
            let at = first_difference(bytes, README_TEXT.as_bytes());
            Check::fail(
                README,
                format!("{README_FILE} differs from the standard text at byte {at}"),
            )
        }
    };
    checks.push(check.file(README_FILE));
}

/// Index of the first byte where `a` and `b` differ (or the shorter length).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Opens an envelope signed by one of the trusted coordinator keys.
fn open_trusted<T: Payload>(
    bytes: &[u8],
    trust: &[VerifyingKey],
) -> Result<Opened<T>, EnvelopeError> {
    open_with(bytes, |kid| {
        trust
            .iter()
            .find(|key| fingerprint_of(key) == *kid)
            .copied()
    })
}

fn coordinator_error(error: &EnvelopeError) -> String {
    match error {
        EnvelopeError::UnknownKey { kid } => format!(
            "signed by key {}, which is not a trusted coordinator key",
            short(kid)
        ),
        other => other.to_string(),
    }
}

fn check_provincial(
    files: &Files,
    trust: &[VerifyingKey],
    checks: &mut Vec<Check>,
) -> Option<Opened<ProvincialReport>> {
    let (check, opened) = match &files.provincial {
        Err(e) => (
            Check::fail(PROVINCIAL_SIGNATURE, format!("{PROVINCIAL_FILE}: {e}")),
            None,
        ),
        Ok(bytes) => match open_trusted::<ProvincialReport>(bytes, trust) {
            Ok(opened) => (
                Check::pass(
                    PROVINCIAL_SIGNATURE,
                    format!(
                        "{PROVINCIAL_FILE} signed by coordinator {}: {} {} of {}",
                        short(&opened.signer),
                        opened.payload.province,
                        opened.payload.period,
                        opened.payload.form
                    ),
                ),
                Some(opened),
            ),
            Err(e) => (
                Check::fail(
                    PROVINCIAL_SIGNATURE,
                    format!("{PROVINCIAL_FILE}: {}", coordinator_error(&e)),
                ),
                None,
            ),
        },
    };
    checks.push(check.file(PROVINCIAL_FILE));
    opened
}

fn check_registry(
    files: &Files,
    trust: &[VerifyingKey],
    provincial: Option<&Opened<ProvincialReport>>,
    checks: &mut Vec<Check>,
) -> Option<Opened<SiteRegistry>> {
    let opened = match &files.registry {
        Err(e) => {
            checks.push(
                Check::fail(REGISTRY_SIGNATURE, format!("{REGISTRY_FILE}: {e}"))
                    .file(REGISTRY_FILE),
            );
            None
        }
        Ok(bytes) => match open_trusted::<SiteRegistry>(bytes, trust) {
            Err(e) => {
                checks.push(
                    Check::fail(
                        REGISTRY_SIGNATURE,
                        format!("{REGISTRY_FILE}: {}", coordinator_error(&e)),
                    )
                    .file(REGISTRY_FILE),
                );
                None
            }
            Ok(opened) => {
                let check = match provincial {
                    Some(p) if p.signer != opened.signer => Check::fail(
                        REGISTRY_SIGNATURE,
                        format!(
                            "{REGISTRY_FILE} is signed by coordinator {}, but {PROVINCIAL_FILE} by {}",
                            short(&opened.signer),
                            short(&p.signer)
                        ),
                    ),
                    Some(_) => Check::pass(
                        REGISTRY_SIGNATURE,
                        format!(
                            "{REGISTRY_FILE} signed by coordinator {}, as {PROVINCIAL_FILE}: {} key(s)",
                            short(&opened.signer),
                            opened.payload.entries.len()
                        ),
                    ),
                    None => Check::fail(
                        REGISTRY_SIGNATURE,
                        format!(
                            "{REGISTRY_FILE} signed by coordinator {}, but {PROVINCIAL_FILE} could not be verified to compare",
                            short(&opened.signer)
                        ),
                    ),
                };
                checks.push(check.file(REGISTRY_FILE));
                Some(opened)
            }
        },
    };
    match (provincial, &opened) {
        (Some(p), Some(r)) => {
            let (published, issued) = (p.payload.published_at, r.payload.issued_at);
            let check = if issued >= published {
                Check::pass(
                    REGISTRY_ISSUED,
                    format!(
                        "registry issued {} speaks for the publication at {}",
                        format_time(issued),
                        format_time(published)
                    ),
                )
            } else {
                Check::fail(
                    REGISTRY_ISSUED,
                    format!(
                        "registry issued {}, before the publication at {}: it cannot show which keys were revoked by then",
                        format_time(issued),
                        format_time(published)
                    ),
                )
            };
            checks.push(check.file(REGISTRY_FILE));
            let check = if p.payload.province == r.payload.province {
                Check::pass(
                    PROVINCE,
                    format!(
                        "registry and provincial report both for {:?}",
                        p.payload.province
                    ),
                )
            } else {
                Check::fail(
                    PROVINCE,
                    format!(
                        "registry is for {:?}, provincial report for {:?}",
                        r.payload.province, p.payload.province
                    ),
                )
            };
            checks.push(check.file(REGISTRY_FILE));
        }
        _ => {
            let reason = "needs both provincial.cose and registry.cose verified";
            checks.push(Check::skipped(REGISTRY_ISSUED, reason));
            checks.push(Check::skipped(PROVINCE, reason));
        }
    }
    opened
}

fn check_form(
    files: &Files,
    forms: &[Form],
    provincial: Option<&ProvincialReport>,
    checks: &mut Vec<Check>,
) -> Option<Form> {
    let parsed = match &files.form_toml {
        Err(e) => Err(e.clone()),
        Ok(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| "not UTF-8 text".to_owned())
            .and_then(|text| Form::from_toml(text).map_err(|e| e.to_string())),
    };
    let Some(provincial) = provincial else {
        checks.push(Check::skipped(
            FORM,
            "provincial.cose could not be verified to name the form",
        ));
        return None;
    };
    let expected = &provincial.form;
    let problem = match parsed {
        Ok(form) if form.reference() == *expected => {
            // The form's hash covers its content, not its comments or layout: where the text
            // is known (the shipped form), the file must be that text byte for byte.
            let shipped = Form::default_monthly();
            if let Ok(bytes) = &files.form_toml {
                if form.reference() == shipped.reference()
                    && bytes.as_slice() != DEFAULT_MONTHLY_TOML.as_bytes()
                {
                    let at = first_difference(bytes, DEFAULT_MONTHLY_TOML.as_bytes());
                    checks.push(
                        Check::fail(
                            FORM,
                            format!(
                                "{FORM_FILE} is form {expected}, but its text differs from the shipped form file at byte {at}"
                            ),
                        )
                        .file(FORM_FILE),
                    );
                    return Some(form);
                }
            }
            checks.push(
                Check::pass(
                    FORM,
                    format!("{FORM_FILE} is form {expected}, as the provincial report names"),
                )
                .file(FORM_FILE),
            );
            return Some(form);
        }
        Ok(form) => format!(
            "{FORM_FILE} is form {}, but the provincial report answers {expected}",
            form.reference()
        ),
        Err(e) => format!("{FORM_FILE}: {e}"),
    };
    let fallback = forms.iter().find(|f| f.reference() == *expected).cloned();
    let detail = if fallback.is_some() {
        format!("{problem}; checking on with the known form {expected}")
    } else {
        problem
    };
    checks.push(Check::fail(FORM, detail).file(FORM_FILE));
    fallback
}

/// Runs the per-site checks; returns the site reports of every input, in input order, if all
/// could be opened (signature verified by a key the registry lists).
fn check_sites(
    files: &Files,
    provincial: Option<&ProvincialReport>,
    registry: Option<&SiteRegistry>,
    form: Option<&Form>,
    checks: &mut Vec<Check>,
) -> Option<Vec<SiteReport>> {
    let Some(provincial) = provincial else {
        checks.push(Check::skipped(
            SITE_FILES,
            "provincial.cose could not be verified to list the site reports",
        ));
        return None;
    };
    let before = checks.len();
    let mut inputs: BTreeMap<&SiteId, &ReportInput> = BTreeMap::new();
    for pair in provincial.inputs.windows(2) {
        if pair[0].site >= pair[1].site {
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!(
                        "the provincial report lists site {} out of order or twice",
                        pair[1].site
                    ),
                )
                .file(PROVINCIAL_FILE)
                .site(&pair[1].site),
            );
        }
    }
    for input in &provincial.inputs {
        inputs.entry(&input.site).or_insert(input);
        if !files.sites.contains_key(&input.site) {
            let file = site_file(&input.site);
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!("{file} is missing: the provincial report rests on it"),
                )
                .file(file)
                .site(&input.site),
            );
        }
    }
    for site in files.sites.keys() {
        if !inputs.contains_key(site) {
            let file = site_file(site);
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!("{file} is not an input of the provincial report"),
                )
                .file(file)
                .site(site),
            );
        }
    }
    if checks.len() == before {
        checks.push(Check::pass(
            SITE_FILES,
            format!(
                "{} input(s), one file each in {SITES_DIR}/, no other",
                provincial.inputs.len()
            ),
        ));
    }

    let mut reports = Vec::new();
    let mut all_opened = true;
    for (site, input) in inputs {
        let file = site_file(site);
        let Some(bytes) = files.sites.get(site) else {
            all_opened = false;
            continue;
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                checks.push(
                    Check::fail(SITE_HASH, format!("{file}: {e}"))
                        .file(file)
                        .site(site),
                );
                all_opened = false;
                continue;
            }
        };
        let hash = Sha256Hash::of(bytes);
        let check = if hash == input.envelope {
            Check::pass(
                SITE_HASH,
                format!("{file} is the envelope the provincial report names"),
            )
        } else {
            Check::fail(
                SITE_HASH,
                format!(
                    "{file} has SHA-256 {}, but the provincial report names {}",
                    hash.to_hex(),
                    input.envelope.to_hex()
                ),
            )
        };
        checks.push(check.file(file.clone()).site(site));
        match check_site_signature(bytes, site, input, provincial, registry, &file, checks) {
            Some(report) => {
                check_site_report(&report, site, input, provincial, form, &file, checks);
                check_disclosure(&report, site, form, &file, checks);
                reports.push(report);
            }
            None => {
                all_opened = false;
                let reason = "the site report could not be opened";
                checks.push(
                    Check::skipped(SITE_REPORT, reason)
                        .file(file.clone())
                        .site(site),
                );
                checks.push(Check::skipped(DISCLOSURE, reason).file(file).site(site));
            }
        }
    }
    all_opened.then_some(reports)
}

/// Checks a site report's signature; returns its payload if the signature verifies under any
/// key the registry lists (so that content checks can go on even if the key is the wrong one).
fn check_site_signature(
    bytes: &[u8],
    site: &SiteId,
    input: &ReportInput,
    provincial: &ProvincialReport,
    registry: Option<&SiteRegistry>,
    file: &str,
    checks: &mut Vec<Check>,
) -> Option<SiteReport> {
    let Some(registry) = registry else {
        checks.push(
            Check::skipped(SITE_SIGNATURE, "registry.cose could not be verified")
                .file(file)
                .site(site),
        );
        return None;
    };
    let lookup = |kid: &Fingerprint| {
        registry
            .entries
            .iter()
            .filter(|e| e.fingerprint().as_ref() == Some(kid))
            .find_map(|e| e.public_key.verifying_key())
    };
    let opened = match open_with::<SiteReport>(bytes, lookup) {
        Ok(opened) => opened,
        Err(EnvelopeError::UnknownKey { kid }) => {
            checks.push(
                Check::fail(
                    SITE_SIGNATURE,
                    format!(
                        "{file}: signed by key {}, which the registry does not list",
                        short(&kid)
                    ),
                )
                .file(file)
                .site(site),
            );
            return None;
        }
        Err(e) => {
            checks.push(
                Check::fail(SITE_SIGNATURE, format!("{file}: {e}"))
                    .file(file)
                    .site(site),
            );
            return None;
        }
    };
    let signer = opened.signer;
    let published = provincial.published_at;
    let check = match registry.entry_for(site, &signer) {
        None => {
            let owner = registry
                .entries
                .iter()
                .find(|e| e.fingerprint() == Some(signer))
                .map(|e| e.site.to_string())
                .unwrap_or_default();
            Check::fail(
                SITE_SIGNATURE,
                format!(
                    "{file}: signed by key {} of site {owner}, not a key of site {site}",
                    short(&signer)
                ),
            )
        }
        Some(_) if input.received_at > published => Check::fail(
            SITE_SIGNATURE,
            format!(
                "{file}: received at {}, after the publication at {}",
                format_time(input.received_at),
                format_time(published)
            ),
        ),
        Some(entry) if !entry.active_at(input.received_at) => Check::fail(
            SITE_SIGNATURE,
            format!(
                "{file}: key {} of site {site} was not active when the report was received at {} ({})",
                short(&signer),
                format_time(input.received_at),
                key_life(entry.enrolled_at, entry.revoked_at)
            ),
        ),
        Some(entry) if !entry.active_at(published) => Check::fail(
            SITE_SIGNATURE,
            format!(
                "{file}: key {} of site {site} was not active at publication, {} ({})",
                short(&signer),
                format_time(published),
                key_life(entry.enrolled_at, entry.revoked_at)
            ),
        ),
        Some(_) => Check::pass(
            SITE_SIGNATURE,
            format!(
                "{file} signed by site key {}, active at receipt and at publication",
                short(&signer)
            ),
        ),
    };
    checks.push(check.file(file).site(site));
    Some(opened.payload)
}

fn key_life(enrolled_at: UnixTime, revoked_at: Option<UnixTime>) -> String {
    match revoked_at {
        Some(r) => format!(
            "enrolled {}, revoked {}",
            format_time(enrolled_at),
            format_time(r)
        ),
        None => format!("enrolled {}", format_time(enrolled_at)),
    }
}

fn check_site_report(
    report: &SiteReport,
    site: &SiteId,
    input: &ReportInput,
    provincial: &ProvincialReport,
    form: Option<&Form>,
    file: &str,
    checks: &mut Vec<Check>,
) {
    let mut problems = Vec::new();
    if report.site != *site {
        problems.push(format!("the report is site {}'s", report.site));
    }
    if report.revision != input.revision {
        problems.push(format!(
            "revision {}, but the provincial report used revision {}",
            report.revision, input.revision
        ));
    }
    if report.form != provincial.form {
        problems.push(format!(
            "answers form {}, but the provincial report {}",
            report.form, provincial.form
        ));
    }
    if report.period != provincial.period {
        problems.push(format!(
            "reports period {}, but the provincial report {}",
            report.period, provincial.period
        ));
    }
    match form {
        // A report naming another form was refused above; do not say it twice.
        Some(form) if report.form == form.reference() => {
            if let Err(e) = report.check_against(form) {
                problems.push(e.to_string());
            }
        }
        Some(_) => {}
        None => problems.push("the form is not known, so the tables cannot be checked".into()),
    }
    let check = if problems.is_empty() {
        Check::pass(
            SITE_REPORT,
            format!(
                "{file}: site {site}, revision {}, period {}, matches form {}",
                report.revision, report.period, report.form
            ),
        )
    } else {
        Check::fail(SITE_REPORT, format!("{file}: {}", problems.join("; ")))
    };
    checks.push(check.file(file).site(site));
}

/// One disclosure problem: where, and what.
struct Problem {
    indicator: String,
    table: usize,
    cell: usize,
    label: String,
    message: String,
}

fn check_disclosure(
    report: &SiteReport,
    site: &SiteId,
    form: Option<&Form>,
    file: &str,
    checks: &mut Vec<Check>,
) {
    let k = report.policy.k;
    let check = if k < DisclosurePolicy::MIN_K {
        Check::fail(
            DISCLOSURE,
            format!(
                "{file}: disclosure threshold k = {k} is below the minimum of {}",
                DisclosurePolicy::MIN_K
            ),
        )
    } else {
        match form {
            None => Check::skipped(DISCLOSURE, "the form is not known"),
            Some(form) if report.check_against(form).is_err() => {
                Check::skipped(DISCLOSURE, "the report does not match its form")
            }
            Some(form) => disclosure_check(report, form, file),
        }
    };
    checks.push(check.file(file).site(site));
}

fn disclosure_check(report: &SiteReport, form: &Form, file: &str) -> Check {
    let policy = &report.policy;
    let k = policy.k;
    let mut problems: Vec<Problem> = Vec::new();
    let mut suppressed = 0usize;
    for (indicator, published) in form.indicators.iter().zip(&report.indicators) {
        let shapes = form.shapes(indicator);
        let tables = &published.tables;
        let label = |table: usize, cell: usize| -> String {
            match (indicator.tables.get(table), shapes.get(table)) {
                (Some(dims), Some(shape)) if cell < shape.full_len() => {
                    format!(
                        "{}/{}",
                        indicator.id,
                        disaggregation(form, dims, shape, cell)
                    )
                }
                _ => format!("{}/table {table} cell {cell}", indicator.id),
            }
        };
        let mut found: Vec<(usize, usize, String)> = Vec::new();
        match disclosure::check(&shapes, tables, policy) {
            // `check` passes only when every suppressed cell's interval reaches k.
            Ok(_) => {
                suppressed += tables
                    .iter()
                    .flat_map(|t| &t.cells)
                    .filter(|c| **c == Cell::Suppressed)
                    .count();
            }
            Err(violations) if violations.is_empty() => {
                found.push((0, 0, "the tables could not be audited".to_owned()));
            }
            Err(violations) => found.extend(violations.iter().map(violation_entry)),
        }
        for (table, cell, message) in found {
            if problems
                .iter()
                .any(|p| p.indicator == indicator.id && p.table == table && p.cell == cell)
            {
                continue;
            }
            problems.push(Problem {
                indicator: indicator.id.clone(),
                table,
                cell,
                label: label(table, cell),
                message,
            });
        }
    }
    match problems.first() {
        None => Check::pass(
            DISCLOSURE,
            format!(
                "{file}: no published cell below k = {k}, published margins add up, {suppressed} suppressed cell(s) each reach at least k"
            ),
        ),
        Some(first) => {
            let listed: Vec<String> = problems
                .iter()
                .take(MAX_LISTED)
                .map(|p| format!("{} {}", p.label, p.message))
                .collect();
            let more = problems.len().saturating_sub(MAX_LISTED);
            let mut detail = format!("{file}: {}", listed.join("; "));
            if more > 0 {
                detail.push_str(&format!(" (and {more} more)"));
            }
            Check::fail(DISCLOSURE, detail).cell(Some(first.label.clone()))
        }
    }
}

fn violation_entry(violation: &Violation) -> (usize, usize, String) {
    match violation {
        Violation::SmallCellPublished {
            table,
            cell,
            value,
            k,
        } => (*table, *cell, format!("published {value}, below k = {k}")),
        Violation::Underprotected {
            table,
            cell,
            lower,
            upper,
            k,
        } => (
            *table,
            *cell,
            format!("suppressed, but can be narrowed to [{lower}, {upper}], below k = {k}"),
        ),
        Violation::Inconsistent { table, cell } => (
            *table,
            *cell,
            "published margin does not equal the sum of its published cells".to_owned(),
        ),
        Violation::Infeasible { table, cell } => (
            *table,
            *cell,
            "no non-negative counts are consistent with the published cells".to_owned(),
        ),
        Violation::SharedMismatch { table, cell } => (
            *table,
            *cell,
            "published differently (or suppressed in one place only) across the indicator's tables"
                .to_owned(),
        ),
        other => (0, 0, other.to_string()),
    }
}

fn check_totals(
    provincial: Option<&ProvincialReport>,
    form: Option<&Form>,
    reports: Option<&Vec<SiteReport>>,
    checks: &mut Vec<Check>,
) {
    let (Some(provincial), Some(form), Some(reports)) = (provincial, form, reports) else {
        checks.push(Check::skipped(
            TOTALS,
            "needs the provincial report, the form and every site report opened",
        ));
        return;
    };
    let check = match aggregate(form, provincial.period, reports) {
        Err(e) => Check::fail(
            TOTALS,
            format!("the site reports cannot be aggregated: {e}"),
        ),
        Ok(computed) => match totals_difference(form, &computed, &provincial.totals) {
            Some((cell, message)) => Check::fail(TOTALS, message).cell(cell),
            None if provincial.totals.sites as usize != provincial.inputs.len() => Check::fail(
                TOTALS,
                format!(
                    "totals count {} site(s), but the provincial report has {} input(s)",
                    provincial.totals.sites,
                    provincial.inputs.len()
                ),
            ),
            None => Check::pass(
                TOTALS,
                format!(
                    "the signed totals are exactly the aggregate of the {} site report(s)",
                    reports.len()
                ),
            ),
        },
    };
    checks.push(check.file(PROVINCIAL_FILE));
}

/// The first difference between recomputed and signed totals: the cell, and a message.
fn totals_difference(
    form: &Form,
    computed: &ProvincialTotals,
    claimed: &ProvincialTotals,
) -> Option<(Option<String>, String)> {
    if computed.sites != claimed.sites {
        return Some((
            None,
            format!(
                "totals count {} site(s), recomputed {}",
                claimed.sites, computed.sites
            ),
        ));
    }
    if computed.indicators.len() != claimed.indicators.len() {
        return Some((
            None,
            format!(
                "totals have {} indicator(s), the form {}",
                claimed.indicators.len(),
                computed.indicators.len()
            ),
        ));
    }
    for (mine, theirs) in computed.indicators.iter().zip(&claimed.indicators) {
        if mine.indicator != theirs.indicator || mine.tables.len() != theirs.tables.len() {
            return Some((
                Some(mine.indicator.clone()),
                format!(
                    "totals of indicator {:?} do not have the form's tables (expected {:?})",
                    theirs.indicator, mine.indicator
                ),
            ));
        }
        for (a, b) in mine.tables.iter().zip(&theirs.tables) {
            if a.dimensions != b.dimensions || a.cells.len() != b.cells.len() {
                return Some((
                    Some(mine.indicator.clone()),
                    format!(
                        "totals of {} have a table over {:?} with {} cells, expected {:?} with {}",
                        mine.indicator,
                        b.dimensions,
                        b.cells.len(),
                        a.dimensions,
                        a.cells.len()
                    ),
                ));
            }
            if let Some(index) = a.cells.iter().zip(&b.cells).position(|(x, y)| x != y) {
                let label = match form.shape_of(&a.dimensions) {
                    Some(shape) => format!(
                        "{}/{}",
                        mine.indicator,
                        disaggregation(form, &a.dimensions, &shape, index)
                    ),
                    None => format!("{}/cell {index}", mine.indicator),
                };
                let message = format!(
                    "{label}: signed total {}, but the site reports add up to {}",
                    total_text(b.cells[index]),
                    total_text(a.cells[index])
                );
                return Some((Some(label), message));
            }
        }
    }
    None
}

fn total_text(cell: TotalCell) -> String {
    match cell {
        TotalCell::Exact(n) => n.to_string(),
        TotalCell::Bounded { lower, upper } => format!("[{lower}, {upper}]"),
    }
}

fn check_totals_csv(
    files: &Files,
    provincial: Option<&ProvincialReport>,
    form: Option<&Form>,
    checks: &mut Vec<Check>,
) {
    let check = match (&files.totals_csv, provincial, form) {
        (Err(e), _, _) => Check::fail(TOTALS_CSV, format!("{TOTALS_FILE}: {e}")),
        (Ok(found), Some(provincial), Some(form)) => {
            let expected = rows_to_csv(&province_rows(form, provincial.period, &provincial.totals));
            if found.as_slice() == expected.as_bytes() {
                Check::pass(
                    TOTALS_CSV,
                    format!("{TOTALS_FILE} shows exactly the signed totals"),
                )
            } else {
                let at = first_difference(found, expected.as_bytes());
                let line = found[..at.min(found.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1;
                Check::fail(
                    TOTALS_CSV,
                    format!("{TOTALS_FILE} differs from the signed totals at line {line}"),
                )
            }
        }
        (Ok(_), _, _) => {
            checks.push(Check::skipped(
                TOTALS_CSV,
                "needs the verified provincial report and its form",
            ));
            return;
        }
    };
    checks.push(check.file(TOTALS_FILE));
}

fn check_completeness(
    provincial: Option<&ProvincialReport>,
    registry: Option<&SiteRegistry>,
    checks: &mut Vec<Check>,
) {
    let (Some(provincial), Some(registry)) = (provincial, registry) else {
        checks.push(Check::skipped(
            COMPLETENESS,
            "needs the verified provincial report and registry",
        ));
        return;
    };
    let claimed = provincial.completeness;
    let active = registry.sites_active_at(provincial.published_at);
    let expected = active.len();
    let reported = provincial.inputs.len();
    let on_time_count = provincial
        .inputs
        .iter()
        .filter(|i| on_time(provincial.period, i.received_at, claimed.on_time_days))
        .count();
    let mut problems = Vec::new();
    if claimed.expected as usize != expected {
        problems.push(format!(
            "{} site(s) expected, but the registry has {expected} active at publication",
            claimed.expected
        ));
    }
    if claimed.reported as usize != reported {
        problems.push(format!(
            "{} site(s) reported, but there are {reported} input(s)",
            claimed.reported
        ));
    }
    if claimed.on_time as usize != on_time_count {
        problems.push(format!(
            "{} on time, but {on_time_count} input(s) arrived within {} day(s) of the period's end",
            claimed.on_time, claimed.on_time_days
        ));
    }
    let inactive: BTreeSet<&SiteId> = provincial
        .inputs
        .iter()
        .map(|i| &i.site)
        .filter(|s| !active.contains(*s))
        .collect();
    if !inactive.is_empty() {
        let names: Vec<String> = inactive.iter().map(|s| s.to_string()).collect();
        problems.push(format!(
            "input site(s) {} have no key active at publication",
            names.join(", ")
        ));
    }
    let check = if problems.is_empty() {
        Check::pass(
            COMPLETENESS,
            format!(
                "{expected} site(s) expected, {reported} reported, {on_time_count} on time (within {} day(s))",
                claimed.on_time_days
            ),
        )
    } else {
        let mut check = Check::fail(COMPLETENESS, problems.join("; "));
        if let Some(site) = inactive.first() {
            check = check.site(site);
        }
        check
    };
    checks.push(check.file(PROVINCIAL_FILE));
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (the one formatter lives in `protocol`).
pub use quietcount_protocol::ids::format_utc as format_time;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DAY, Fixture};
    use crate::{Identity, package::DonorPackage};
    use proptest::prelude::*;
    use quietcount_protocol::sign;

    fn verify(fixture: &Fixture, package: &DonorPackage) -> VerifyReport {
        verify_with(fixture, package, &[fixture.coordinator_key()])
    }

    fn verify_with(
        _fixture: &Fixture,
        package: &DonorPackage,
        trust: &[VerifyingKey],
    ) -> VerifyReport {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package");
        package.write_to(&path).unwrap();
        verify_package(&path, trust, &[])
    }

    /// The failed checks, as (name, file, site).
    fn failed(report: &VerifyReport) -> Vec<(String, Option<String>, Option<String>)> {
        report
            .failures()
            .map(|c| {
                (
                    c.name.clone(),
                    c.file.clone(),
                    c.site.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    }

    fn failure<'a>(report: &'a VerifyReport, name: &str) -> &'a Check {
        report
            .failures()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no failed {name} check in:\n{}", report.render_text()))
    }

    fn only_failure<'a>(report: &'a VerifyReport, name: &str) -> &'a Check {
        let names: Vec<_> = report.failures().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [name], "\n{}", report.render_text());
        failure(report, name)
    }

    fn site(n: usize) -> SiteId {
        Fixture::two_sites().sites[n].id.clone()
    }

    #[test]
    fn honest_package_passes_every_check_and_reports_each() {
        let fixture = Fixture::two_sites();
        let report = verify(&fixture, &fixture.package());
        assert!(report.passed(), "{}", report.render_text());
        let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
        for name in [
            LAYOUT,
            README,
            PROVINCIAL_SIGNATURE,
            REGISTRY_SIGNATURE,
            REGISTRY_ISSUED,
            PROVINCE,
            FORM,
            SITE_FILES,
            TOTALS,
            TOTALS_CSV,
            COMPLETENESS,
        ] {
            assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name}");
        }
        for name in [SITE_HASH, SITE_SIGNATURE, SITE_REPORT, DISCLOSURE] {
            let sites: Vec<_> = report
                .checks
                .iter()
                .filter(|c| c.name == name)
                .map(|c| c.site.clone().unwrap())
                .collect();
            assert_eq!(sites, [site(0), site(1)], "{name}");
        }
        assert!(report.verdict().starts_with("VERIFIED: all "));
        let json = report.to_json();
        assert_eq!(json["verified"], true);
        assert_eq!(
            json["checks"].as_array().unwrap().len(),
            report.checks.len()
        );
    }

    #[test]
    fn provincial_report_signed_by_an_untrusted_key_fails() {
        let fixture = Fixture::two_sites();
        let stranger = Identity::from_seed([0x55; 32]);
        let report = verify_with(&fixture, &fixture.package(), &[stranger.verifying_key()]);
        let check = failure(&report, PROVINCIAL_SIGNATURE);
        assert_eq!(check.file.as_deref(), Some(PROVINCIAL_FILE));
        assert!(check.detail.contains("not a trusted coordinator key"));
        assert!(!report.passed());
        // Dependent checks are reported as skipped, never silently dropped.
        assert!(failure(&report, TOTALS).detail.starts_with("skipped"));
        assert!(report.verdict().starts_with("NOT VERIFIED"));
    }

    #[test]
    fn registry_signed_by_another_key_fails() {
        let fixture = Fixture::two_sites();
        let other = Identity::from_seed([0x66; 32]);
        let mut package = fixture.package();
        fixture.resign_registry(&mut package, &other, |_| {});
        let report = verify(&fixture, &package);
        let check = failure(&report, REGISTRY_SIGNATURE);
        assert_eq!(check.file.as_deref(), Some(REGISTRY_FILE));
        // Even if the donor trusts both keys, the registry must be the provincial signer's.
        let report = verify_with(
            &fixture,
            &package,
            &[fixture.coordinator_key(), other.verifying_key()],
        );
        let check = only_failure(&report, REGISTRY_SIGNATURE);
        assert!(
            check.detail.contains("but provincial.cose by"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn registry_issued_before_publication_or_for_another_province_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.issued_at = fixture.published_at - 1;
        });
        only_failure(&verify(&fixture, &package), REGISTRY_ISSUED);

        let mut package = fixture.package();
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.province = "Hải Phòng".into();
        });
        only_failure(&verify(&fixture, &package), PROVINCE);
    }

    #[test]
    fn mismatched_form_hash_fails_naming_form_toml() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| p.form.hash.0[0] ^= 1);
        let report = verify(&fixture, &package);
        let check = failure(&report, FORM);
        assert_eq!(check.file.as_deref(), Some(FORM_FILE));
        // Every site report now answers another form than the provincial report.
        assert_eq!(
            report.failures().filter(|c| c.name == SITE_REPORT).count(),
            2
        );
    }

    #[test]
    fn a_known_form_is_used_when_form_toml_does_not_match_but_the_check_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        package.form_toml = package.form_toml.replace("Unknown", "Not known");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        package.write_to(&path).unwrap();
        let report = verify_package(
            &path,
            &[fixture.coordinator_key()],
            std::slice::from_ref(&fixture.form),
        );
        let check = only_failure(&report, FORM);
        assert!(check.detail.contains("checking on with the known form"));
        // Without the known form, everything that needs the form is skipped.
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        assert!(failure(&report, TOTALS).detail.starts_with("skipped"));
    }

    #[test]
    fn site_report_site_key_refusals() {
        let fixture = Fixture::two_sites();
        let (hn01, hn02) = (site(0), site(1));
        let report0 = fixture.site_report(0);

        // Signed by a key the registry does not know.
        let stranger = Identity::from_seed([0x77; 32]);
        let mut package = fixture.package();
        let envelope = sign(&report0, stranger.signing_key()).unwrap();
        fixture.replace_site(&mut package, &hn01, envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn01));
        assert_eq!(check.file.as_deref(), Some("sites/hn-01.cose"));
        assert!(check.detail.contains("registry does not list"));

        // Signed by another site's key.
        let mut package = fixture.package();
        let envelope = sign(&report0, fixture.sites[1].identity.signing_key()).unwrap();
        fixture.replace_site(&mut package, &hn01, envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn01));
        assert!(check.detail.contains("of site hn-02"), "{}", check.detail);

        // Signed by a key revoked before the report was received.
        let mut package = fixture.package();
        let revoked_at = fixture.sites[1].received_at - DAY;
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.entries[1].revoked_at = Some(revoked_at);
        });
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn02));
        assert!(
            check
                .detail
                .contains("not active when the report was received")
        );
        // The site no longer counts as expected either.
        assert!(failure(&report, COMPLETENESS).detail.contains("hn-02"));

        // Revoked after receipt but before publication.
        let mut package = fixture.package();
        let revoked_at = fixture.published_at - 1;
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.entries[0].revoked_at = Some(revoked_at);
        });
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_SIGNATURE)
                .detail
                .contains("not active at publication")
        );

        // Received before the key was enrolled.
        let mut package = fixture.package();
        let early = fixture.sites[0].enrolled_at - 1;
        fixture.resign_provincial(&mut package, |p| p.inputs[0].received_at = early);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_SIGNATURE)
                .detail
                .contains("not active when the report was received")
        );
    }

    #[test]
    fn missing_or_extra_site_file_fails_naming_it() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        package.sites.remove(&site(1));
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_FILES);
        assert_eq!(check.file.as_deref(), Some("sites/hn-02.cose"));
        assert!(check.detail.contains("missing"));
        assert!(failure(&report, TOTALS).detail.starts_with("skipped"));

        let mut package = fixture.package();
        let extra = SiteId::new("hn-03").unwrap();
        let envelope = package.sites[&site(0)].clone();
        package.sites.insert(extra, envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_FILES);
        assert_eq!(check.file.as_deref(), Some("sites/hn-03.cose"));
    }

    #[test]
    fn site_file_that_is_not_the_input_envelope_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        // A validly signed, different report from the same site, not re-signed by the province.
        let mut other = fixture.site_report(0);
        other.generated_at += 1;
        package
            .sites
            .insert(site(0), fixture.stored(0, &other).envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_HASH);
        assert_eq!(check.file.as_deref(), Some("sites/hn-01.cose"));
    }

    #[test]
    fn wrong_revision_wrong_site_or_wrong_period_fails_site_report() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| p.inputs[1].revision = 2);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_REPORT);
        assert_eq!(check.site, Some(site(1)));
        assert!(
            check
                .detail
                .contains("revision 1, but the provincial report used revision 2")
        );

        // Site hn-01 signs a report claiming to be hn-02's, filed as hn-01.
        let mut package = fixture.package();
        let mut forged = fixture.site_report(0);
        forged.site = site(1);
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &forged).envelope);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_REPORT)
                .detail
                .contains("site hn-02's")
        );
        assert!(!report.passed());

        let mut package = fixture.package();
        let mut late = fixture.site_report(0);
        late.period = fixture.period.previous().unwrap();
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &late).envelope);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_REPORT)
                .detail
                .contains("reports period 2026-09")
        );
        failure(&report, TOTALS);
    }

    #[test]
    fn published_small_cell_fails_disclosure_naming_site_and_cell() {
        let fixture = Fixture::two_sites();
        // hn-02 publishes its counts raw: one non-zero cell is below k, signed and aggregated.
        let reports = vec![
            fixture.stored(0, &fixture.site_report(0)),
            fixture.stored(1, &fixture.raw_site_report(1)),
        ];
        let package = fixture.assemble_with(&reports).package;
        let report = verify(&fixture, &package);
        let check = only_failure(&report, DISCLOSURE);
        assert_eq!(check.site, Some(site(1)));
        assert_eq!(check.file.as_deref(), Some("sites/hn-02.cose"));
        assert_eq!(check.cell.as_deref(), Some("clients_methadone/sex=other"));
        assert!(
            check.detail.contains("published 2, below k = 5"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn policy_below_two_fails_disclosure() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        let mut weak = fixture.site_report(0);
        weak.policy.k = 1;
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &weak).envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, DISCLOSURE);
        assert!(check.detail.contains("k = 1 is below the minimum of 2"));
    }

    #[test]
    fn margins_that_do_not_add_up_fail_disclosure() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        let mut report0 = fixture.site_report(0);
        // Raise one published interior cell of clients_new/sex without touching its margin.
        let position = fixture
            .form
            .indicators
            .iter()
            .position(|i| i.id == "clients_new")
            .unwrap();
        let table = &mut report0.indicators[position].tables[1];
        let cell = table
            .cells
            .iter()
            .position(|c| matches!(c, Cell::Exact(n) if *n >= 5))
            .unwrap();
        table.cells[cell] = Cell::Exact(table.cells[cell].exact().unwrap() + 1);
        let stored = fixture.stored(0, &report0);
        fixture.replace_site(&mut package, &site(0), stored.envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, DISCLOSURE);
        assert_eq!(check.site, Some(site(0)));
        // The cell at fault is in clients_new (which one depends on what `check` flags first).
        assert!(
            check.cell.as_deref().unwrap().starts_with("clients_new/"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn totals_altered_and_resigned_fail_only_the_totals_check() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| {
            let cell = &mut p.totals.indicators[0].tables[1].cells[0];
            *cell = match *cell {
                TotalCell::Exact(n) => TotalCell::Exact(n + 1),
                TotalCell::Bounded { lower, upper } => TotalCell::Bounded {
                    lower,
                    upper: upper + 1,
                },
            };
        });
        let report = verify(&fixture, &package);
        let check = only_failure(&report, TOTALS);
        assert_eq!(
            check.cell.as_deref(),
            Some("clients_active/substance=opioids")
        );
        assert!(check.detail.contains("signed total"));

        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| p.totals.sites = 3);
        only_failure(&verify(&fixture, &package), TOTALS);
    }

    #[test]
    fn totals_csv_that_differs_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        package
            .totals_csv
            .push_str("2026-10,province,extra,total,1,1,1,exact\n");
        let check = only_failure(&verify(&fixture, &package), TOTALS_CSV).clone();
        assert_eq!(check.file.as_deref(), Some(TOTALS_FILE));
    }

    #[test]
    fn completeness_altered_fails() {
        let fixture = Fixture::two_sites();
        for edit in [
            (|c: &mut quietcount_protocol::Completeness| c.expected = 3) as fn(&mut _),
            |c| c.reported = 1,
            |c| c.on_time = 0,
        ] {
            let mut package = fixture.package();
            fixture.resign_provincial(&mut package, |p| edit(&mut p.completeness));
            only_failure(&verify(&fixture, &package), COMPLETENESS);
        }
        // A late report must not count as on time.
        let mut package = fixture.package();
        let late = fixture.period.end() + 8 * DAY;
        fixture.resign_provincial(&mut package, |p| p.inputs[0].received_at = late);
        assert!(
            failure(&verify(&fixture, &package), COMPLETENESS)
                .detail
                .contains("on time")
        );
    }

    #[test]
    fn tampered_readme_and_unexpected_files_fail_layout() {
        let fixture = Fixture::two_sites();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fixture.package().write_to(&path).unwrap();
        std::fs::write(path.join("notes.txt"), "hello").unwrap();
        std::fs::write(path.join("sites").join("Bad Name.cose"), "x").unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        let files: Vec<_> = failed(&report)
            .into_iter()
            .filter(|(n, _, _)| n == LAYOUT)
            .map(|(_, f, _)| f.unwrap())
            .collect();
        assert!(files.contains(&"notes.txt".to_owned()), "{files:?}");
        assert!(
            files.contains(&"sites/Bad Name.cose".to_owned()),
            "{files:?}"
        );

        let path = dir.path().join("q");
        fixture.package().write_to(&path).unwrap();
        std::fs::remove_file(path.join(README_FILE)).unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        assert_eq!(failure(&report, README).file.as_deref(), Some(README_FILE));
    }

    #[test]
    fn oversized_site_file_fails_layout_once_naming_it() {
        let fixture = Fixture::two_sites();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fixture.package().write_to(&path).unwrap();
        let big = vec![0u8; MAX_FILE_BYTES as usize + 1];
        std::fs::write(path.join("sites/hn-02.cose"), big).unwrap();
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        let layout: Vec<_> = report.failures().filter(|c| c.name == LAYOUT).collect();
        assert_eq!(layout.len(), 1, "{}", report.render_text());
        assert_eq!(layout[0].file.as_deref(), Some("sites/hn-02.cose"));
        assert!(layout[0].detail.contains("larger than"));
        // The other site is still checked in full.
        let hn01 = site(0);
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.name == DISCLOSURE && c.passed && c.site.as_ref() == Some(&hn01))
        );
    }

    #[test]
    fn missing_folder_fails_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let report = verify_package(&dir.path().join("nothing"), &[], &[]);
        assert!(!report.passed());
        assert!(failure(&report, LAYOUT).detail.contains(PROVINCIAL_FILE));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any byte of any file changed: verification fails, naming that file.
        #[test]
        fn any_flipped_byte_fails_naming_the_file(
            which in 0usize..7,
            at in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let fixture = Fixture::two_sites();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            fixture.package().write_to(&path).unwrap();
            let files = [
                PROVINCIAL_FILE, REGISTRY_FILE, "sites/hn-01.cose", "sites/hn-02.cose",
                FORM_FILE, TOTALS_FILE, README_FILE,
            ];
            let file = files[which];
            let mut bytes = std::fs::read(path.join(file)).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
            std::fs::write(path.join(file), &bytes).unwrap();
            let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
            prop_assert!(!report.passed());
            prop_assert!(
                report.failures().any(|c| c.file.as_deref() == Some(file)),
                "{} not named:\n{}", file, report.render_text()
            );
        }

        /// Random bytes in place of the signed files never panic the verifier.
        #[test]
        fn garbage_envelopes_fail_without_panicking(
            garbage in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let fixture = Fixture::two_sites();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p");
            fixture.package().write_to(&path).unwrap();
            for file in [PROVINCIAL_FILE, REGISTRY_FILE, "sites/hn-01.cose"] {
                std::fs::write(path.join(file), &garbage).unwrap();
            }
            let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
            prop_assert!(!report.passed());
        }
    }
}
