//! The recomputed figures: [`TOTALS`] (`protocol::aggregate` over the site reports gives
//! exactly the signed totals), [`TOTALS_CSV`] (the file renders them) and [`COMPLETENESS`]
//! (expected, reported and on-time counts against the registry and the inputs).

use std::collections::BTreeSet;

use quietcount_protocol::aggregate::TotalCell;
use quietcount_protocol::export::{disaggregation, province_rows};
use quietcount_protocol::{
    Form, ProvincialReport, ProvincialTotals, SiteId, SiteRegistry, SiteReport, aggregate,
};

use super::files::Files;
use super::*;
use crate::package::{PROVINCIAL_FILE, TOTALS_FILE, rows_to_csv};
use quietcount_protocol::completeness::{Arrival, completeness};

pub(super) fn check_totals(
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
pub(super) fn totals_difference(
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

/// `n`, `[lower, upper]`, or `[lower, no upper bound]`.
pub(super) fn total_text(cell: TotalCell) -> String {
    cell.to_string()
}

pub(super) fn check_totals_csv(
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

pub(super) fn check_completeness(
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
    let active = registry.sites_expected_for(provincial.period);
    // The figures are recomputed with protocol's one definition, as the coordinator's
    // `status` and the package's assembly compute them.
    let arrivals: Vec<Arrival> = provincial
        .inputs
        .iter()
        .map(|i| Arrival {
            site: i.site.clone(),
            received_at: i.received_at,
        })
        .collect();
    let recomputed = completeness(provincial.period, &active, &arrivals, claimed.on_time_days);
    let (expected, reported, on_time_count) =
        (recomputed.expected, recomputed.reported, recomputed.on_time);
    let mut problems = Vec::new();
    if claimed.expected != expected {
        problems.push(format!(
            "{} site(s) expected, but the registry has {expected} with a key valid during {}",
            claimed.expected, provincial.period
        ));
    }
    if claimed.reported != reported {
        problems.push(format!(
            "{} site(s) reported, but {reported} input(s) are from sites expected to report",
            claimed.reported
        ));
    }
    if claimed.on_time != on_time_count {
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
            "input site(s) {} had no key valid during {}",
            names.join(", "),
            provincial.period
        ));
    }
    if provincial.inputs.is_empty() {
        problems.push(format!(
            "no site reported: the package holds no data for {}, and its totals are not counts",
            provincial.period
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{DAY, Fixture};
    use crate::verify::test_support::*;

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
                    upper: Some(upper.map_or(lower + 1, |upper| upper + 1)),
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
    fn an_unbounded_total_verifies_and_is_named_without_a_stand_in_number() {
        let fixture = Fixture::two_sites();
        let package = fixture.package_with_small_total();
        let report = verify(&fixture, &package);
        assert!(report.passed(), "{}", report.render_text());
        let provincial = fixture.provincial(&package);
        let methadone = provincial
            .totals
            .indicators
            .iter()
            .position(|i| i.indicator == "counselling_sessions")
            .unwrap();
        let grand = *provincial.totals.indicators[methadone].tables[0]
            .cells
            .last()
            .unwrap();
        assert!(
            matches!(grand, TotalCell::Bounded { upper: None, .. }),
            "{grand:?}"
        );
        let csv_line = package
            .totals_csv
            .lines()
            .find(|l| l.contains(",counselling_sessions,total,"))
            .unwrap();
        assert!(csv_line.ends_with(",,bounded"), "{csv_line}");

        // A forger who raises the lower bound is named with the unbounded side in words.
        let mut forged = package.clone();
        fixture.resign_provincial(&mut forged, |p| {
            let cell = p.totals.indicators[methadone].tables[0]
                .cells
                .last_mut()
                .unwrap();
            if let TotalCell::Bounded { lower, .. } = cell {
                *lower += 1;
            }
        });
        let report = verify(&fixture, &forged);
        let check = only_failure(&report, TOTALS);
        assert!(
            check.detail.contains(", no upper bound]"),
            "{}",
            check.detail
        );
        for text in [
            report.render_text(),
            report.to_json().to_string(),
            verify(&fixture, &package).render_text(),
            verify(&fixture, &package).to_json().to_string(),
        ] {
            assert!(!text.contains("18446744073709551615"), "{text}");
        }
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
}
