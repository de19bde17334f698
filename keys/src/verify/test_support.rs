//! Helpers shared by the verifier's unit tests: verify a fixture's package, and pick out
//! the failed checks.

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::SiteId;

use super::{Check, VerifyReport, verify_package};
use crate::package::DonorPackage;
use crate::testing::Fixture;

pub(crate) fn verify(fixture: &Fixture, package: &DonorPackage) -> VerifyReport {
    verify_with(fixture, package, &[fixture.coordinator_key()])
}

pub(crate) fn verify_with(
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
pub(crate) fn failed(report: &VerifyReport) -> Vec<(String, Option<String>, Option<String>)> {
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

pub(crate) fn failure<'a>(report: &'a VerifyReport, name: &str) -> &'a Check {
    report
        .failures()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no failed {name} check in:\n{}", report.render_text()))
}

pub(crate) fn only_failure<'a>(report: &'a VerifyReport, name: &str) -> &'a Check {
    let names: Vec<_> = report.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [name], "\n{}", report.render_text());
    failure(report, name)
}

pub(crate) fn site(n: usize) -> SiteId {
    Fixture::two_sites().sites[n].id.clone()
}
