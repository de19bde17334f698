//! Completeness and timeliness: which sites were expected, which reported, which on time.
//!
//! One definition, called by the coordinator's `status`, by the donor package's assembly and
//! by the donor's verifier, so the figures a province sees, signs and a donor checks are
//! computed the same way. The figures are DHIS2's: reporting rate = reported / expected,
//! on-time rate = on time / expected.

use std::collections::BTreeSet;

use crate::ids::{Period, SiteId, UnixTime};
use crate::signed::Completeness;

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

    #[test]
    fn no_expected_site_gives_zero_rates() {
        let c = completeness(october(), &BTreeSet::new(), &[], 10);
        assert_eq!(c.expected, 0);
        assert_eq!(c.reporting_rate(), 0.0);
        assert_eq!(c.on_time_rate(), 0.0);
    }
}
