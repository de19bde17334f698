//! Property tests of aggregation: exact sums where nothing is suppressed, and intervals that
//! always bracket the true sums otherwise.

mod common;

use proptest::prelude::*;
use quietcount_protocol::{
    AggregateError, CountTable, DisclosurePolicy, Form, Period, SiteReport, TotalCell, aggregate,
};

/// True tables of the default form for one site, from a seed and a count distribution.
fn site_truth(form: &Form, seed: u64, no_small_cells: Option<u64>) -> Vec<Vec<CountTable>> {
    let mut counts = common::realistic_counts(seed);
    common::true_tables(form, |position, len| {
        let counts = counts(position, len);
        match no_small_cells {
            // Every count 0 or at least k, so every margin is too: nothing to suppress.
            Some(k) => counts
                .into_iter()
                .map(|n| if n == 0 { 0 } else { n + k })
                .collect(),
            None => counts,
        }
    })
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
                let (lower, upper) = total.bounds();
                prop_assert!(lower <= sum && sum <= upper, "{:?} misses {}", total, sum);
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
        let truths: Vec<_> = seeds.iter().map(|&s| site_truth(&form, s, None)).collect();
        let reports: Vec<_> = truths
            .iter()
            .enumerate()
            .map(|(i, truth)| common::report(&form, &format!("site-{i}"), truth, policy))
            .collect();
        assert_brackets(&form, &truths, &reports, false)?;
    }

    #[test]
    fn aggregation_is_the_plain_sum_when_nothing_is_suppressed(seeds in prop::collection::vec(any::<u64>(), 1..=3), k in 2u32..=11) {
        let form = Form::default_monthly();
        let policy = DisclosurePolicy::new(k).unwrap();
        let truths: Vec<_> = seeds
            .iter()
            .map(|&s| site_truth(&form, s, Some(u64::from(k))))
            .collect();
        let reports: Vec<_> = truths
            .iter()
            .enumerate()
            .map(|(i, truth)| common::report(&form, &format!("site-{i}"), truth, policy))
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
    let truth = site_truth(&form, 5, None);
    let a = common::report(&form, "site-a", &truth, DisclosurePolicy::DEFAULT);
    let period = a.period;
    assert!(matches!(
        aggregate(&form, period, &[a.clone(), a.clone()]),
        Err(AggregateError::DuplicateSite { .. })
    ));
    let mut b = common::report(&form, "site-b", &truth, DisclosurePolicy::DEFAULT);
    b.period = Period::parse("2026-09").unwrap();
    assert!(matches!(
        aggregate(&form, period, &[a.clone(), b]),
        Err(AggregateError::WrongPeriod { .. })
    ));
    let mut c = common::report(&form, "site-c", &truth, DisclosurePolicy::DEFAULT);
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
    let small = common::true_tables(&form, |_, len| {
        let mut v = vec![0; len];
        v[0] = 2;
        v
    });
    let large = site_truth(&form, 9, None);
    let reports = [
        common::report(&form, "site-a", &small, DisclosurePolicy::DEFAULT),
        common::report(&form, "site-b", &large, DisclosurePolicy::DEFAULT),
    ];
    let totals = aggregate(&form, reports[0].period, &reports).unwrap();
    let total_cell = *totals.indicators[0].tables[0].cells.last().unwrap();
    assert!(matches!(
        total_cell,
        TotalCell::Bounded {
            upper: u64::MAX,
            ..
        }
    ));
}
