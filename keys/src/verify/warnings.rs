//! What the verifier warns about without failing (a `WARN` line; exit 1 only with `--strict`),
//! the checks an auditor asks for (`--expect-period`, `--expect-province`), and the fixed list
//! of what no package can prove because it rests on the coordinator's word.

use std::collections::BTreeSet;

use quietcount_protocol::{Period, ProvincialReport, SiteId, SiteRegistry};
use serde::Serialize;

use super::{Check, format_time, key_window};

/// Warning name: a key was retired or revoked after the period ended and before publication.
pub const KEY_ENDED_AFTER_PERIOD: &str = "key-ended-after-period";
/// Warning name: fewer sites reported than were expected.
pub const INCOMPLETE: &str = "incomplete";
/// Check name: the package is for the period the auditor expects.
pub const EXPECTED_PERIOD: &str = "expected-period";
/// Check name: the package is from the province the auditor expects.
pub const EXPECTED_PROVINCE: &str = "expected-province";

/// What no package can show: it rests on the coordinator's word. Printed after every
/// verification, whatever its outcome.
pub const RESTS_ON_COORDINATOR: [&str; 5] = [
    "reception times: whether a report was on time rests on the coordinator's clock",
    "that no delivered report was withheld: a report received but left out leaves no trace \
     here (sites hold receipts for what they delivered)",
    "that no newer publication or newer site revision exists for this period",
    "that the registry lists every site the province expects: a site never enrolled is not \
     counted as missing",
    "the counting at each site: the package proves what sites signed, not their records",
];

/// Something an auditor should know that does not make the package wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable identifier ([`KEY_ENDED_AFTER_PERIOD`], [`INCOMPLETE`]).
    pub name: String,
    /// What was found, in a sentence.
    pub detail: String,
    /// The site concerned, if one is.
    pub site: Option<SiteId>,
}

/// What the auditor expects the package to be; each given field becomes a check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The period the package must be for.
    pub period: Option<Period>,
    /// The province the package must be from (compared as written, ignoring case).
    pub province: Option<String>,
}

pub(super) fn check_expectations(
    provincial: Option<&ProvincialReport>,
    expect: &Expectations,
    checks: &mut Vec<Check>,
) {
    if let Some(period) = expect.period {
        checks.push(match provincial {
            None => Check::skipped(EXPECTED_PERIOD, "needs the verified provincial report"),
            Some(p) if p.period == period => {
                Check::pass(EXPECTED_PERIOD, format!("the package is for {period}"))
            }
            Some(p) => Check::fail(
                EXPECTED_PERIOD,
                format!("the package is for {}, not the expected {period}", p.period),
            ),
        });
    }
    if let Some(province) = &expect.province {
        checks.push(match provincial {
            None => Check::skipped(EXPECTED_PROVINCE, "needs the verified provincial report"),
            Some(p) if p.province.to_lowercase() == province.to_lowercase() => Check::pass(
                EXPECTED_PROVINCE,
                format!("the package is from {}", p.province),
            ),
            Some(p) => Check::fail(
                EXPECTED_PROVINCE,
                format!(
                    "the package is from {}, not the expected {province}",
                    p.province
                ),
            ),
        });
    }
}

/// The warnings of a package whose provincial report and registry verified.
pub(super) fn warnings(
    provincial: Option<&ProvincialReport>,
    registry: Option<&SiteRegistry>,
) -> Vec<Warning> {
    let (Some(provincial), Some(registry)) = (provincial, registry) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    let period_end = provincial.period.end();
    for entry in &registry.entries {
        let Some(recorded) = entry.ended_recorded_at() else {
            continue;
        };
        if recorded < period_end || recorded > provincial.published_at {
            continue;
        }
        let what = match entry.ended {
            Some(end) if end.reason.is_retirement() => "retired",
            _ => "revoked",
        };
        warnings.push(Warning {
            name: KEY_ENDED_AFTER_PERIOD.to_owned(),
            detail: format!(
                "a key of site {} was {what} on {}, after {} ended and before publication: the \
                 registry changed after the period ({})",
                entry.site,
                format_time(recorded),
                provincial.period,
                key_window(entry)
            ),
            site: Some(entry.site.clone()),
        });
    }
    let expected = registry.sites_expected_for(provincial.period);
    let reported: BTreeSet<&SiteId> = provincial.inputs.iter().map(|i| &i.site).collect();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|s| !reported.contains(s))
        .map(SiteId::as_str)
        .collect();
    if !missing.is_empty() {
        let knowingly = if provincial.incomplete {
            "; the province published below its required share on purpose (--allow-incomplete)"
        } else {
            ""
        };
        warnings.push(Warning {
            name: INCOMPLETE.to_owned(),
            detail: format!(
                "{} of {} expected sites reported; the totals leave out {}{knowingly}",
                provincial.completeness.reported,
                provincial.completeness.expected,
                missing.join(", ")
            ),
            site: None,
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{COMPLETENESS, verify_package_expecting};
    use super::*;
    use crate::testing::Fixture;

    #[test]
    fn an_empty_package_fails_completeness() {
        let fixture = Fixture::two_sites();
        let package = fixture.assemble_with(&[]).package;
        let report = verify(&fixture, &package);
        let check = failure(&report, COMPLETENESS);
        assert!(
            check.detail.contains("no site reported"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn missing_sites_are_a_warning_naming_them() {
        let fixture = Fixture::two_sites();
        let package = fixture
            .assemble_with(&fixture.stored_reports()[..1])
            .package;
        let report = verify(&fixture, &package);
        assert!(report.passed(), "{}", report.render_text());
        assert!(!report.passed_strictly());
        let warning = report
            .warnings
            .iter()
            .find(|w| w.name == INCOMPLETE)
            .expect("an incomplete warning");
        assert!(
            warning.detail.starts_with("1 of 2 expected sites reported"),
            "{}",
            warning.detail
        );
        assert!(warning.detail.contains("hn-02"), "{}", warning.detail);
        // The complete package warns about nothing.
        let complete = verify(&fixture, &fixture.package());
        assert!(complete.passed_strictly(), "{}", complete.render_text());
    }

    #[test]
    fn the_wrong_period_or_province_fails_when_expected() {
        let fixture = Fixture::two_sites();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fixture.package().write_to(&path).unwrap();
        let trust = [fixture.coordinator_key()];
        let verify_expecting = |period: &str, province: &str| {
            verify_package_expecting(
                &path,
                &trust,
                &[],
                &Expectations {
                    period: Some(Period::parse(period).unwrap()),
                    province: Some(province.to_owned()),
                },
            )
        };
        let right = verify_expecting("2026-10", "hà nội");
        assert!(right.passed(), "{}", right.render_text());
        let wrong = verify_expecting("2026-09", "Huế");
        let period = failure(&wrong, EXPECTED_PERIOD);
        assert!(
            period.detail.contains("not the expected 2026-09"),
            "{}",
            period.detail
        );
        let province = failure(&wrong, EXPECTED_PROVINCE);
        assert!(
            province.detail.contains("not the expected Huế"),
            "{}",
            province.detail
        );
    }
}
