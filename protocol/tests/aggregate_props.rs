//! Property tests of aggregation: exact sums where nothing is suppressed, and intervals that
//! always bracket the true sums otherwise.

use proptest::prelude::*;
use quietcount_protocol::testing::{Counts, SyntheticReport, true_tables};
use quietcount_protocol::{
    AggregateError, CountTable, DisclosurePolicy, Form, Period, SiteId, SiteReport, TotalCell,
    aggregate,
};

/// The synthetic October 2026 report of `site`, from `seed`, under `policy`.
fn site<'f>(
    form: &'f Form,
    site: &str,
    seed: u64,
    policy: DisclosurePolicy,
) -> SyntheticReport<'f> {
    SyntheticReport::new(
        form,
        SiteId::new(site).expect("valid site id"),
        Period::parse("2026-10").expect("valid period"),
    )
    .seed(seed)
    .policy(policy)
}

/// True tables of the default form for one site, from a seed and a count distribution.
fn site_truth(form: &Form, seed: u64, counts: Counts, k: u32) -> Vec<Vec<CountTable>> {
    site(
        form,
        "site-0",
        seed,
        DisclosurePolicy::new(k).expect("valid k"),
    )
    .counts(counts)
    .truth()
}

/// The report of `site` publishing `truth` under `policy`.
fn report(
    form: &Form,
    name: &str,
    truth: &[Vec<CountTable>],
    policy: DisclosurePolicy,
) -> SiteReport {
    site(form, name, 0, policy)
        .publishing(truth)
        .expect("suppresses")
}

fn assert_brackets(
    form: &Form,
    truths: &[Vec<Vec<CountTable>>],
    reports: &[SiteReport],
    expect_exact: bool,
) -> Result<(), TestCaseError> {
    let totals = aggregate(form, reports[0].period, reports).expect("aggregates");
    prop_assert_eq!(totals.sites as usize, reports.len());
    for (i, indicator) in totals.indicators.iter().enumerate() {
        for (t, table) in indicator.tables.iter().enumerate() {
            for (c, &total) in table.cells.iter().enumerate() {
                let sum: u64 = truths.iter().map(|site| site[i][t].cells[c]).sum();
                let all_exact = reports
                    .iter()
                    .all(|r| r.indicators[i].tables[t].cells[c].exact().is_some());
                prop_assert!(total.contains(sum), "{:?} misses {}", total, sum);
                if all_exact || expect_exact {
                    prop_assert_eq!(total, TotalCell::Exact(sum));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn aggregation_brackets_the_true_sum(seeds in prop::collection::vec(any::<u64>(), 1..=3), k in 2u32..=11) {
        let form = Form::default_monthly();
        let policy = DisclosurePolicy::new(k).unwrap();
        let truths: Vec<_> = seeds.iter().map(|&s| site_truth(&form, s, Counts::Realistic, k)).collect();
        let reports: Vec<_> = truths
            .iter()
            .enumerate()
            .map(|(i, truth)| report(&form, &format!("site-{i}"), truth, policy))
            .collect();
        assert_brackets(&form, &truths, &reports, false)?;
    }

    #[test]
    fn aggregation_is_the_plain_sum_when_nothing_is_suppressed(seeds in prop::collection::vec(any::<u64>(), 1..=3), k in 2u32..=11) {
        let form = Form::default_monthly();
        let policy = DisclosurePolicy::new(k).unwrap();
        let truths: Vec<_> = seeds
            .iter()
            .map(|&s| site_truth(&form, s, Counts::NoSmallCells, k))
            .collect();
        let reports: Vec<_> = truths
            .iter()
            .enumerate()
            .map(|(i, truth)| report(&form, &format!("site-{i}"), truth, policy))
            .collect();
        for r in &reports {
            for indicator in &r.indicators {
                for table in &indicator.tables {
                    prop_assert!(table.cells.iter().all(|c| c.exact().is_some()));
                }
            }
        }
        assert_brackets(&form, &truths, &reports, true)?;
    }
}

#[test]
fn aggregation_refuses_duplicates_and_other_periods_and_forms() {
    let form = Form::default_monthly();
    let truth = site_truth(&form, 5, Counts::Realistic, 5);
    let a = report(&form, "site-a", &truth, DisclosurePolicy::DEFAULT);
    let period = a.period;
    assert!(matches!(
        aggregate(&form, period, &[a.clone(), a.clone()]),
        Err(AggregateError::DuplicateSite { .. })
    ));
    let mut b = report(&form, "site-b", &truth, DisclosurePolicy::DEFAULT);
    b.period = Period::parse("2026-09").unwrap();
    assert!(matches!(
        aggregate(&form, period, &[a.clone(), b]),
        Err(AggregateError::WrongPeriod { .. })
    ));
    let mut c = report(&form, "site-c", &truth, DisclosurePolicy::DEFAULT);
    c.form.version += 1;
    assert!(matches!(
        aggregate(&form, period, &[a.clone(), c]),
        Err(AggregateError::WrongForm { .. })
    ));
    assert_eq!(aggregate(&form, period, &[]).unwrap().sites, 0);
}

#[test]
fn an_unbounded_site_cell_leaves_the_total_unbounded_not_overflowing() {
    let form = Form::default_monthly();
    // One site with a tiny indicator total (suppressed, so unbounded), one with a large one.
    let small = true_tables(&form, |_, len| {
        let mut v = vec![0; len];
        v[0] = 2;
        v
    });
    let large = site_truth(&form, 9, Counts::Realistic, 5);
    let reports = [
        report(&form, "site-a", &small, DisclosurePolicy::DEFAULT),
        report(&form, "site-b", &large, DisclosurePolicy::DEFAULT),
    ];
    let totals = aggregate(&form, reports[0].period, &reports).unwrap();
    let total_cell = *totals.indicators[0].tables[0].cells.last().unwrap();
    assert!(matches!(total_cell, TotalCell::Bounded { upper: None, .. }));
    let (lower, _) = total_cell.bounds();
    assert_eq!(total_cell.to_string(), format!("[{lower}, no upper bound]"));
}
