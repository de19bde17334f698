//! Completeness and timeliness: which sites were expected, which reported, which on time.
//!
//! One definition, called by the coordinator's `status`, by the donor package's assembly and
//! by the donor's verifier, so the figures a province sees, signs and a donor checks are
//! computed the same way. The figures are DHIS2's: reporting rate = reported / expected,
//! on-time rate = on time / expected.

use std::collections::BTreeSet;

use crate::ids::{Period, SiteId, UnixTime};
use crate::signed::{Completeness, RegistryEntry};

/// The sites expected to report for `period`: those with an enrolment that covers it
/// ([`RegistryEntry::expected_for`]). A site enrolled after the period ended is not expected
/// for it (unless the province enrolled it to report from an earlier period); a site whose
/// only key was retired or revoked before the period began is not either; a site enrolled or
/// closed during the period is (it worked that month, so its report is due).
pub fn expected_sites(entries: &[RegistryEntry], period: Period) -> BTreeSet<SiteId> {
    entries
        .iter()
        .filter(|e| e.expected_for(period))
        .map(|e| e.site.clone())
        .collect()
}

/// Why a period may not be published as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unpublishable {
    /// No expected site has a report: a package would sign zeros nobody reported.
    #[error(
        "no site has reported for this period ({expected} expected): there is nothing to publish"
    )]
    NothingReported {
        /// Sites expected.
        expected: u32,
    },
    /// Fewer sites reported than the province's configured share.
    #[error(
        "only {reported} of {expected} expected sites reported, below the configured {min_percent}%"
    )]
    BelowShare {
        /// Sites that reported.
        reported: u32,
        /// Sites expected.
        expected: u32,
        /// The configured least share, in percent.
        min_percent: u32,
    },
}

/// Whether a period with completeness `figures` may be published when the province requires
/// `min_percent` percent of expected sites: never with no report at all; below the share only
/// when `allow_incomplete` (and the package then says so). Returns whether the publication is
/// incomplete (below the share).
pub fn check_publishable(
    figures: &Completeness,
    min_percent: u32,
    allow_incomplete: bool,
) -> Result<bool, Unpublishable> {
    if figures.reported == 0 {
        return Err(Unpublishable::NothingReported {
            expected: figures.expected,
        });
    }
    // reported / expected < min_percent / 100, in integers.
    let below = u64::from(figures.reported) * 100
        < u64::from(figures.expected) * u64::from(min_percent.min(100));
    if below && !allow_incomplete {
        return Err(Unpublishable::BelowShare {
            reported: figures.reported,
            expected: figures.expected,
            min_percent,
        });
    }
    Ok(below)
}

/// Whether a report received at `received_at` is on time for `period` with a window of `days`
/// days after the period's end.
pub fn on_time(period: Period, received_at: UnixTime, days: u32) -> bool {
    received_at < period.end().saturating_add(u64::from(days) * 86_400)
}

/// One site's report as completeness sees it: who, and when it was received (the time signed
/// into its receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The reporting site.
    pub site: SiteId,
    /// When the coordinator received the report counted for this site.
    pub received_at: UnixTime,
}

/// The completeness of `period`: `expected` sites, of which those with an arrival reported.
///
/// An arrival from a site not in `expected` is not counted (a revoked or never enrolled site
/// is not part of the denominator, so it cannot be part of the numerator either). Callers list
/// the report counted for each site; a site listed twice still counts once, on time if any of
/// its listed arrivals was.
pub fn completeness(
    period: Period,
    expected: &BTreeSet<SiteId>,
    arrivals: &[Arrival],
    on_time_days: u32,
) -> Completeness {
    let mut reported = BTreeSet::new();
    let mut punctual = BTreeSet::new();
    for arrival in arrivals.iter().filter(|a| expected.contains(&a.site)) {
        reported.insert(&arrival.site);
        if on_time(period, arrival.received_at, on_time_days) {
            punctual.insert(&arrival.site);
        }
    }
    Completeness {
        expected: count(expected.len()),
        reported: count(reported.len()),
        on_time: count(punctual.len()),
        on_time_days,
    }
}

impl Completeness {
    /// Reported / expected, in percent (0 when no site is expected).
    pub fn reporting_rate(&self) -> f64 {
        percent(self.reported, self.expected)
    }

    /// On time / expected, in percent (0 when no site is expected).
    pub fn on_time_rate(&self) -> f64 {
        percent(self.on_time, self.expected)
    }
}

fn percent(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) * 100.0 / f64::from(whole)
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str) -> SiteId {
        SiteId::new(id).expect("valid site id")
    }

    fn october() -> Period {
        Period::parse("2026-10").expect("valid period")
    }

    #[test]
    fn on_time_is_strictly_before_the_window_closes() {
        let period = october();
        let close = period.end() + 10 * 86_400;
        assert!(on_time(period, close - 1, 10));
        assert!(!on_time(period, close, 10));
        assert!(on_time(period, period.end() - 5, 0));
        assert!(!on_time(period, period.end(), 0));
    }

    #[test]
    fn counts_expected_sites_once_and_ignores_the_unexpected() {
        let period = october();
        let expected: BTreeSet<SiteId> = ["a", "b", "c", "d"].into_iter().map(site).collect();
        let arrivals = [
            Arrival {
                site: site("a"),
                received_at: period.end() + 3600,
            },
            Arrival {
                site: site("a"),
                received_at: period.end() + 40 * 86_400,
            },
            Arrival {
                site: site("b"),
                received_at: period.end() + 20 * 86_400,
            },
            Arrival {
                site: site("z"),
                received_at: period.end(),
            },
        ];
        let c = completeness(period, &expected, &arrivals, 10);
        assert_eq!(
            c,
            Completeness {
                expected: 4,
                reported: 2,
                on_time: 1,
                on_time_days: 10
            }
        );
        assert!((c.reporting_rate() - 50.0).abs() < 1e-9);
        assert!((c.on_time_rate() - 25.0).abs() < 1e-9);
    }

    fn entry(site_id: &str, enrolled_at: UnixTime, valid_until: Option<UnixTime>) -> RegistryEntry {
        RegistryEntry {
            site: site(site_id),
            name: site_id.to_owned(),
            public_key: crate::signed::PublicKeyBytes([7; 32]),
            enrolled_at,
            valid_until,
            ended: None,
            reports_from: None,
        }
    }

    #[test]
    fn expected_sites_are_those_whose_window_overlaps_the_period() {
        let september = Period::parse("2026-09").expect("valid period");
        let october = october();
        let entries = [
            // Enrolled on 2 October: expected for October, not for September.
            entry("late", october.start() + 86_400, None),
            // Enrolled in the middle of September.
            entry("mid", september.start() + 15 * 86_400, None),
            // Key replaced on 10 October: the old window covers both months.
            entry("moved", 0, Some(october.start() + 10 * 86_400)),
            entry("moved", october.start() + 10 * 86_400, None),
            // Closed on the last second of September: not expected for October.
            entry("closed", 0, Some(october.start())),
            // Enrolled in November to report from September on.
            RegistryEntry {
                reports_from: Some(september.start()),
                ..entry("backfilled", october.end() + 86_400, None)
            },
        ];
        let names = |set: BTreeSet<SiteId>| -> Vec<String> {
            set.into_iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(
            names(expected_sites(&entries, september)),
            ["backfilled", "closed", "mid", "moved"]
        );
        assert_eq!(
            names(expected_sites(&entries, october)),
            ["backfilled", "late", "mid", "moved"]
        );
        let august = Period::parse("2026-08").expect("valid period");
        assert_eq!(names(expected_sites(&entries, august)), ["closed", "moved"]);
    }

    #[test]
    fn publishing_needs_a_report_and_the_share_or_an_explicit_allowance() {
        let figures = |reported, expected| Completeness {
            expected,
            reported,
            on_time: reported,
            on_time_days: 10,
        };
        assert_eq!(
            check_publishable(&figures(0, 6), 80, true),
            Err(Unpublishable::NothingReported { expected: 6 })
        );
        assert_eq!(
            check_publishable(&figures(4, 6), 80, false),
            Err(Unpublishable::BelowShare {
                reported: 4,
                expected: 6,
                min_percent: 80
            })
        );
        assert_eq!(check_publishable(&figures(4, 6), 80, true), Ok(true));
        assert_eq!(check_publishable(&figures(4, 5), 80, false), Ok(false));
        assert_eq!(check_publishable(&figures(6, 6), 100, false), Ok(false));
        assert_eq!(check_publishable(&figures(1, 6), 0, false), Ok(false));
    }

    #[test]
    fn no_expected_site_gives_zero_rates() {
        let c = completeness(october(), &BTreeSet::new(), &[], 10);
        assert_eq!(c.expected, 0);
        assert_eq!(c.reporting_rate(), 0.0);
        assert_eq!(c.on_time_rate(), 0.0);
    }
}
