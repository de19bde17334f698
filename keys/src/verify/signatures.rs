//! The coordinator's signatures: [`PROVINCIAL_SIGNATURE`] and [`REGISTRY_SIGNATURE`] by a
//! trusted coordinator key (the same one for both), and what the registry must say of the
//! publication ([`REGISTRY_ISSUED`], [`PROVINCE`]).

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::{EnvelopeError, Opened, ProvincialReport, SiteRegistry};

use super::files::Files;
use super::*;
use crate::identity::open_trusted;
use crate::package::{PROVINCIAL_FILE, REGISTRY_FILE};

pub(super) fn coordinator_error(error: &EnvelopeError) -> String {
    match error {
        EnvelopeError::UnknownKey { kid } => format!(
            "signed by key {}, which is not a trusted coordinator key",
            short(kid)
        ),
        other => other.to_string(),
    }
}

pub(super) fn check_provincial(
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

pub(super) fn check_registry(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::testing::Fixture;
    use crate::verify::test_support::*;

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
}
