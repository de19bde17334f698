//! The donor's verifier: checks a donor package offline, trusting only the coordinator's public
//! key(s) given by the auditor.
//!
//! [`verify_package`] never stops at the first problem and never panics on the package: every
//! check is reported, passed or failed, with the file (and where it applies the site and the
//! cell) at fault. A check that depends on one that failed is reported as failed with a
//! `skipped: ...` reason, so that the verdict can never pass by omission.
//!
//! The checks live in one module each: `files` (layout, README), `signatures` (the
//! coordinator's), `sites` (the form and each site's report), `totals` (recomputed totals,
//! totals.csv, completeness); `render` turns the report into text or JSON.
//!
//! # Checks (stable names)
//! - [`LAYOUT`]: the package reads with [`DonorPackage::read_from`](crate::package::DonorPackage::read_from), and holds no unexpected file.
//! - [`README`]: `README.txt` is exactly [`README_TEXT`](crate::package::README_TEXT).
//! - [`PROVINCIAL_SIGNATURE`]: `provincial.cose` is a provincial report signed by a trusted key.
//! - [`REGISTRY_SIGNATURE`]: `registry.cose` is a site registry signed by the same key.
//! - [`REGISTRY_ISSUED`]: the registry was issued at or after publication, so it speaks for it.
//! - [`PROVINCE`]: the registry and the provincial report name the same province.
//! - [`FORM`]: `form.toml` is the form the provincial report names (id, version and hash).
//! - [`SITE_FILES`]: the provincial report's inputs and `sites/*.cose` match one to one.
//! - per site, [`SITE_HASH`]: the file's SHA-256 is the envelope hash the provincial report names.
//! - per site, [`SITE_SIGNATURE`]: signed by a key the registry lists for that site, inside
//!   the key's validity window when the report was received (a key retired or revoked later
//!   does not undo what it signed while valid).
//! - per site, [`SITE_REPORT`]: the payload is that site's, of the input's revision, for the
//!   provincial report's form and period, and matches the form.
//! - per site, [`DISCLOSURE`]: the site's tables obey its disclosure policy, as far as an
//!   outsider can check (`protocol::disclosure::check_report`, relations between indicators
//!   included).
//! - [`TOTALS`]: `protocol::aggregate` over the site reports gives exactly the signed totals.
//! - [`TOTALS_CSV`]: `totals.csv` is exactly the rendering of the signed totals.
//! - [`COMPLETENESS`]: the completeness figures match the registry and the inputs, and at
//!   least one site reported.
//! - per corrected site, [`REVISIONS`]: every earlier revision in `earlier/`, signed by a key
//!   of the site, chained by `supersedes`, and all revisions audited jointly
//!   (`protocol::disclosure::check_revisions`).
//! - [`EXPECTED_PERIOD`], [`EXPECTED_PROVINCE`]: only when the auditor names them.
//!
//! Besides the checks, [`Warning`]s (`warnings`): a key retired or revoked between the
//! period's end and publication, and reporting that is incomplete. And always the fixed list
//! [`RESTS_ON_COORDINATOR`] of what no package can prove.

mod files;
mod render;
mod revisions;
mod signatures;
mod sites;
#[cfg(test)]
mod test_support;
mod totals;
mod warnings;

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::{Fingerprint, Form, SiteId};
use serde::Serialize;

use crate::identity::short_fingerprint;
use crate::package::{SITE_EXTENSION, SITES_DIR};

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (the one formatter lives in `protocol`).
pub use quietcount_protocol::ids::format_utc as format_time;
pub use revisions::{NOT_AUDITED_JOINTLY, REVISIONS};
pub use sites::key_window;
pub use warnings::{
    EXPECTED_PERIOD, EXPECTED_PROVINCE, Expectations, INCOMPLETE, KEY_ENDED_AFTER_PERIOD,
    RESTS_ON_COORDINATOR, Warning,
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

/// The outcome of verifying a package: every check, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every check made, passed or failed.
    pub checks: Vec<Check>,
    /// What an auditor should know that does not fail the package.
    pub warnings: Vec<Warning>,
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
    verify_package_expecting(dir, trust, forms, &Expectations::default())
}

/// [`verify_package`], and checks that the package is the one the auditor `expect`s.
pub fn verify_package_expecting(
    dir: &Path,
    trust: &[VerifyingKey],
    forms: &[Form],
    expect: &Expectations,
) -> VerifyReport {
    let mut checks = Vec::new();
    let files = files::Files::load(dir);
    files::check_layout(dir, &files, &mut checks);
    files::check_readme(&files, &mut checks);
    let provincial = signatures::check_provincial(&files, trust, &mut checks);
    let registry = signatures::check_registry(&files, trust, provincial.as_ref(), &mut checks);
    let provincial = provincial.map(|p| p.payload);
    let registry = registry.map(|r| r.payload);
    let form = sites::check_form(&files, forms, provincial.as_ref(), &mut checks);
    let reports = sites::check_sites(
        &files,
        provincial.as_ref(),
        registry.as_ref(),
        form.as_ref(),
        &mut checks,
    );
    totals::check_totals(
        provincial.as_ref(),
        form.as_ref(),
        reports.as_ref(),
        &mut checks,
    );
    totals::check_totals_csv(&files, provincial.as_ref(), form.as_ref(), &mut checks);
    totals::check_completeness(provincial.as_ref(), registry.as_ref(), &mut checks);
    let mut joint = revisions::check_revision_chains(
        &files,
        provincial.as_ref(),
        registry.as_ref(),
        form.as_ref(),
        &mut checks,
    );
    warnings::check_expectations(provincial.as_ref(), expect, &mut checks);
    let mut warnings = warnings::warnings(provincial.as_ref(), registry.as_ref());
    warnings.append(&mut joint);
    VerifyReport { checks, warnings }
}

fn site_file(site: &SiteId) -> String {
    format!("{SITES_DIR}/{site}.{SITE_EXTENSION}")
}

fn short(fingerprint: &Fingerprint) -> String {
    short_fingerprint(fingerprint)
}

/// Index of the first byte where `a` and `b` differ (or the shorter length).
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::package::{FORM_FILE, PROVINCIAL_FILE, README_FILE, REGISTRY_FILE, TOTALS_FILE};
    use crate::testing::Fixture;
    use proptest::prelude::*;

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
