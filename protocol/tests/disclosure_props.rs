//! Property tests of disclosure control: after `suppress`, nothing small is published, and the
//! independent `audit` shows the protection rule for every suppressed cell.

use proptest::prelude::*;
use quietcount_protocol::disclosure::{ReportAudit, check, check_report};
use quietcount_protocol::testing::{SyntheticReport, marginal, true_tables};
use quietcount_protocol::{
    Cell, CountTable, DisclosurePolicy, Form, IndicatorTables, Shape, SuppressionSecret,
    ZeroPolicy, audit, suppress, suppress_report,
};

/// Either zero policy.
fn zero_policy() -> impl Strategy<Value = ZeroPolicy> {
    prop_oneof![Just(ZeroPolicy::Protected), Just(ZeroPolicy::Published)]
}

/// 1 to 3 linked tables over 1 to 3 of up to 4 dimensions, as margins of one joint table.
fn linked_tables() -> impl Strategy<Value = Vec<CountTable>> {
    (1usize..=4)
        .prop_flat_map(|rank| {
            (
                prop::collection::vec(1usize..=4, rank),
                prop::collection::vec(1u32..(1 << rank), 1..=3),
            )
        })
        .prop_filter("joint table of at most 96 cells", |(shape, _)| {
            shape.iter().product::<usize>() <= 96
        })
        .prop_flat_map(|(shape, masks)| {
            let len = shape.iter().product::<usize>();
            let counts = prop::collection::vec(
                prop_oneof![3 => Just(0u64), 4 => 1u64..12, 3 => 12u64..80],
                len,
            );
            (Just(shape), Just(masks), counts)
        })
        .prop_map(|(shape, masks, joint)| {
            let names: Vec<String> = (0..shape.len()).map(|d| format!("d{d}")).collect();
            masks
                .iter()
                .map(|&mask| {
                    // At most three dimensions per table; reversed order for odd masks, so
                    // linked tables do not always list shared dimensions alike.
                    let mut dims: Vec<String> = names
                        .iter()
                        .enumerate()
                        .filter(|(d, _)| mask & (1 << d) != 0)
                        .map(|(_, n)| n.clone())
                        .take(3)
                        .collect();
                    if mask % 2 == 1 {
                        dims.reverse();
                    }
                    marginal(&names, &shape, &joint, &dims)
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn suppression_meets_the_protection_rule(
        tables in linked_tables(),
        k in 2u32..=11,
        zeros in zero_policy(),
        secret in any::<[u8; 32]>(),
    ) {
        let policy = DisclosurePolicy::new(k).unwrap().with_zeros(zeros);
        let secret = SuppressionSecret::from_bytes(secret);
        let k64 = u64::from(k);
        let published = suppress(&tables, &policy, &secret).unwrap();
        let shapes: Vec<Shape> = tables.iter().map(|t| t.shape.clone()).collect();
        let audited = audit(&shapes, &published, &policy).unwrap();
        for (t, truth) in tables.iter().enumerate() {
            prop_assert_eq!(&published[t].dimensions, &truth.dimensions);
            prop_assert_eq!(published[t].cells.len(), truth.cells.len());
            for (c, &n) in truth.cells.iter().enumerate() {
                match (published[t].cells[c], audited.tables[t][c]) {
                    (Cell::Exact(m), None) => {
                        prop_assert_eq!(m, n);
                        prop_assert!(n == 0 || n >= k64, "published {} below k = {}", n, k);
                    }
                    (Cell::Suppressed, Some(interval)) => {
                        prop_assert!(
                            n > 0 || zeros == ZeroPolicy::Protected,
                            "a zero was suppressed although zeros are published"
                        );
                        prop_assert!(interval.contains(n), "{:?} misses the true {}", interval, n);
                        // A hidden zero may turn out to be known to be 0: no small cell.
                        prop_assert!(
                            interval.reaches(k64) || (n == 0 && interval.upper == Some(0)),
                            "{:?} stays below k = {}", interval, k
                        );
                        if n > 0 && n < k64 && zeros == ZeroPolicy::Protected {
                            prop_assert_eq!(interval.lower, 0, "primary {} has {:?}", n, interval);
                        }
                    }
                    other => prop_assert!(false, "cell {}/{}: {:?}", t, c, other),
                }
            }
        }
        // The verifier agrees, and suppression is deterministic for one secret.
        prop_assert_eq!(check(&shapes, &published, &policy), Ok(audited));
        prop_assert_eq!(suppress(&tables, &policy, &secret).unwrap(), published);
    }
}

#[test]
fn a_realistic_site_is_protected_on_the_whole_default_form() {
    let form = quietcount_protocol::Form::default_monthly();
    for seed in 1..=3 {
        let site = SyntheticReport::new(
            &form,
            quietcount_protocol::SiteId::new("site-01").unwrap(),
            quietcount_protocol::Period::parse("2026-10").unwrap(),
        )
        .seed(seed);
        for (k, zeros) in [
            (5u32, ZeroPolicy::Protected),
            (10, ZeroPolicy::Protected),
            (11, ZeroPolicy::Protected),
            (5, ZeroPolicy::Published),
            (11, ZeroPolicy::Published),
        ] {
            let policy = DisclosurePolicy::new(k).unwrap().with_zeros(zeros);
            let report = site.clone().policy(policy).build().unwrap();
            let audited = check_report(&form, &report.indicators, &policy).unwrap();
            assert_truth_is_protected(&site.truth(), &report.indicators, &audited, &policy);
            let suppressed = audited
                .indicators
                .iter()
                .flat_map(|i| i.tables.iter().flatten().flatten())
                .count();
            eprintln!("seed {seed}, k = {k}, zeros {zeros:?}: {suppressed} cells suppressed");
            assert!(
                suppressed > 0,
                "a realistic site has small cells to protect"
            );
        }
    }
}

/// Small 1-D and 2-D tables with any suppression pattern that keeps the total published.
fn small_table_and_mask() -> impl Strategy<Value = (CountTable, Vec<bool>)> {
    prop_oneof![
        Just(vec![4usize]),
        Just(vec![2usize, 2]),
        Just(vec![3usize, 2])
    ]
    .prop_flat_map(|shape| {
        let interior: usize = shape.iter().product();
        let full: usize = shape.iter().map(|n| n + 1).product();
        let max = if interior > 4 { 2u64 } else { 4 };
        (
            Just(shape),
            prop::collection::vec(0..=max, interior),
            prop::collection::vec(any::<bool>(), full),
        )
    })
    .prop_map(|(shape, interior, mut mask)| {
        let names = (0..shape.len()).map(|d| format!("d{d}")).collect();
        let table = CountTable::from_interior(names, Shape::new(shape), &interior);
        let total = table.shape.total_index();
        mask[total] = false;
        (table, mask)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `audit` must agree with enumerating every consistent table of whole numbers, under
    /// zeros published (every hidden cell at least 1; the total stays published, so no other
    /// fact of the rule applies).
    #[test]
    fn audit_matches_brute_force_on_small_tables((truth, mask) in small_table_and_mask()) {
        let policy = DisclosurePolicy::DEFAULT.with_zeros(ZeroPolicy::Published);
        let published = vec![quietcount_protocol::Table {
            dimensions: truth.dimensions.clone(),
            cells: truth
                .cells
                .iter()
                .zip(&mask)
                .map(|(&n, &hide)| if hide { Cell::Suppressed } else { Cell::Exact(n) })
                .collect(),
        }];
        let audited = audit(std::slice::from_ref(&truth.shape), &published, &policy);

        let shape = &truth.shape;
        let interior_cells: Vec<usize> = (0..shape.full_len())
            .filter(|&i| {
                shape.coords(i).iter().enumerate().all(|(d, &c)| !shape.is_margin(d, c))
            })
            .collect();
        let unknown: Vec<usize> = (0..interior_cells.len())
            .filter(|&j| mask[interior_cells[j]])
            .collect();
        let known_interior: Vec<u64> = interior_cells.iter().map(|&i| truth.cells[i]).collect();
        let total = truth.total();
        let mut lower = vec![u64::MAX; shape.full_len()];
        let mut upper = vec![0u64; shape.full_len()];
        let mut assignment = vec![0u64; unknown.len()];
        loop {
            let mut interior = known_interior.clone();
            for (slot, &j) in assignment.iter().zip(&unknown) {
                interior[j] = *slot;
            }
            let candidate =
                CountTable::from_interior(truth.dimensions.clone(), shape.clone(), &interior);
            let consistent = (0..shape.full_len()).all(|i| {
                if mask[i] {
                    candidate.cells[i] >= 1
                } else {
                    candidate.cells[i] == truth.cells[i]
                }
            });
            if consistent {
                for i in 0..shape.full_len() {
                    lower[i] = lower[i].min(candidate.cells[i]);
                    upper[i] = upper[i].max(candidate.cells[i]);
                }
            }
            // Next assignment, each unknown interior cell in 0..=total.
            let mut position = 0;
            while position < assignment.len() && assignment[position] == total {
                assignment[position] = 0;
                position += 1;
            }
            if position == assignment.len() {
                break;
            }
            assignment[position] += 1;
        }
        if lower.iter().zip(&mask).any(|(&l, &hidden)| hidden && l == u64::MAX) {
            // No table of whole numbers fits: the audit must refuse the publication.
            prop_assert!(audited.is_err(), "{:?}", audited);
            return Ok(());
        }
        let audited = audited.unwrap();
        for i in 0..shape.full_len() {
            let expected = mask[i].then_some(quietcount_protocol::Interval {
                lower: lower[i],
                upper: Some(upper[i]),
            });
            prop_assert_eq!(audited.tables[0][i], expected, "cell {}", i);
        }
    }
}

/// Every published cell is true and 0 or at least k; every suppressed cell's interval holds the
/// truth and reaches k, and, unless zeros are published, a primary's reaches down to 0 (and
/// with zeros published no zero is hidden).
fn assert_truth_is_protected(
    truth: &[Vec<CountTable>],
    published: &[IndicatorTables],
    audited: &ReportAudit,
    policy: &DisclosurePolicy,
) {
    let k = u64::from(policy.k);
    let zeros = policy.zeros;
    for (i, indicator) in truth.iter().enumerate() {
        for (t, table) in indicator.iter().enumerate() {
            for (c, &n) in table.cells.iter().enumerate() {
                let at = format!("{}, table {t}, cell {c}", published[i].indicator);
                match (
                    published[i].tables[t].cells[c],
                    audited.indicators[i].tables[t][c],
                ) {
                    (Cell::Exact(m), None) => {
                        assert_eq!(m, n, "{at}");
                        assert!(n == 0 || n >= k, "{at}: published {n} below k = {k}");
                    }
                    (Cell::Suppressed, Some(interval)) => {
                        assert!(
                            n > 0 || zeros == ZeroPolicy::Protected,
                            "{at}: a zero was suppressed although zeros are published"
                        );
                        assert!(interval.contains(n), "{at}: {interval:?} misses {n}");
                        // A hidden zero may turn out to be known to be 0: no small cell.
                        assert!(
                            interval.reaches(k) || (n == 0 && interval.upper == Some(0)),
                            "{at}: {interval:?} below k = {k}"
                        );
                        if n > 0 && n < k && zeros == ZeroPolicy::Protected {
                            assert_eq!(interval.lower, 0, "{at}: primary {n} has {interval:?}");
                        }
                    }
                    other => panic!("{at}: {other:?}"),
                }
            }
        }
    }
}

/// A form of two dimensions and three client indicators: `served` within `active`, and
/// `retained` within `served`, with tables over different dimensions so that the matching cells
/// are totals and margins as well as interior cells.
fn chained_form() -> Form {
    Form::from_toml(include_str!("data/relations-chained.toml")).expect("the test form is valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Related indicators with small counts: what `suppress_report` publishes passes the
    /// relation-aware check, and the truth is inside every interval.
    #[test]
    fn suppress_report_meets_the_protection_rule_with_relations(
        draws in prop::collection::vec(
            prop_oneof![3 => Just(0u64), 4 => 1u64..8, 3 => 8u64..30], 18),
        k in 2u32..=11,
        zeros in zero_policy(),
        secret in any::<[u8; 32]>(),
    ) {
        let form = chained_form();
        let truth = true_tables(&form, |position, len| {
            draws[position * 6..position * 6 + len.min(6)].to_vec()
        });
        let policy = DisclosurePolicy::new(k).unwrap().with_zeros(zeros);
        let secret = SuppressionSecret::from_bytes(secret);
        let tables = suppress_report(&form, &truth, &policy, &secret).unwrap();
        let published: Vec<IndicatorTables> = form
            .indicators
            .iter()
            .zip(tables)
            .map(|(i, tables)| IndicatorTables { indicator: i.id.clone(), tables })
            .collect();
        let audited = check_report(&form, &published, &policy).unwrap();
        assert_truth_is_protected(&truth, &published, &audited, &policy);
    }
}

#[test]
fn random_sites_pass_the_relation_aware_check_for_every_seed() {
    let form = Form::default_monthly();
    for seed in 1..=12 {
        for k in [3u32, 5, 11] {
            let site = SyntheticReport::new(
                &form,
                quietcount_protocol::SiteId::new("site-01").unwrap(),
                quietcount_protocol::Period::parse("2026-10").unwrap(),
            )
            .seed(seed)
            .policy(DisclosurePolicy::new(k).unwrap());
            let report = site.build().unwrap();
            let audited = check_report(&form, &report.indicators, &report.policy).unwrap();
            assert_truth_is_protected(&site.truth(), &report.indicators, &audited, &report.policy);
        }
    }
}

#[test]
fn per_indicator_suppression_is_not_enough_on_small_related_indicators() {
    // Suppressing each indicator alone ignores what the relations give away: on small related
    // indicators the relation-aware audit often proves a small hidden cell non-empty or below
    // k; `suppress_report` never leaves one so.
    let form = chained_form();
    let mut exposed_alone = 0;
    let mut cases = 0;
    for seed in 1..=60u64 {
        for k in [3u32, 5] {
            let mut draw = quietcount_protocol::testing::realistic_counts(seed);
            let truth = true_tables(&form, |position, len| {
                draw(position, len).into_iter().map(|n| n % 9).collect()
            });
            let policy = DisclosurePolicy::new(k).unwrap();
            let secret = SuppressionSecret::from_bytes([seed as u8; 32]);
            let publish = |tables: Vec<Vec<quietcount_protocol::Table>>| -> Vec<IndicatorTables> {
                form.indicators
                    .iter()
                    .zip(tables)
                    .map(|(i, tables)| IndicatorTables {
                        indicator: i.id.clone(),
                        tables,
                    })
                    .collect()
            };
            let exposes = |published: &[IndicatorTables]| {
                // The equations and relations alone: the per-indicator publication is no
                // publication of the report-level rule, so its facts would not apply to it.
                let audited = quietcount_protocol::disclosure::audit_report_equations_only(
                    &form, published, policy.k,
                )
                .unwrap();
                truth
                    .iter()
                    .zip(&audited.indicators)
                    .any(|(tables, audit)| {
                        tables.iter().zip(&audit.tables).any(|(table, intervals)| {
                            table.cells.iter().zip(intervals).any(|(&n, interval)| {
                                interval.is_some_and(|i| {
                                    n > 0
                                        && n < u64::from(k)
                                        && (i.lower > 0 || !i.reaches(u64::from(k)))
                                })
                            })
                        })
                    })
            };
            let alone = publish(
                truth
                    .iter()
                    .map(|tables| suppress(tables, &policy, &secret).unwrap())
                    .collect(),
            );
            let joint = publish(suppress_report(&form, &truth, &policy, &secret).unwrap());
            cases += 1;
            exposed_alone += usize::from(exposes(&alone));
            assert!(!exposes(&joint), "seed {seed}, k = {k}");
        }
    }
    eprintln!("{exposed_alone} of {cases} reports suppressed per indicator expose a small cell");
    assert!(exposed_alone > 0);
}

/// Two indicators by sex (three categories), `methadone` declared within `active`.
fn pair_form() -> Form {
    Form::from_toml(include_str!("data/relations-pair.toml")).expect("the test form is valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// One-dimensional tables linked cell by cell by `sub ≤ sup` keep the LP exact: the
    /// relation between the totals follows from those between the cells, and without it every
    /// column has two non-zeros, in rows that split into two sides (active's total and the
    /// cell relations; methadone's total) as total unimodularity needs. So the bounds of
    /// `audit_report` must be the exact ones found by enumerating every pair of tables
    /// consistent with the publication and the relation.
    #[test]
    fn audit_report_matches_brute_force_on_related_tables(
        active in prop::collection::vec(0u64..=4, 3),
        shares in prop::collection::vec(0u64..=4, 3),
        mask in prop::collection::vec(any::<bool>(), 7),
    ) {
        let form = pair_form();
        let methadone: Vec<u64> = active.iter().zip(&shares).map(|(a, s)| (*s).min(*a)).collect();
        let table = |interior: &[u64]| {
            CountTable::from_interior(vec!["sex".into()], Shape::new(vec![3]), interior)
        };
        let truth = [table(&active), table(&methadone)];
        // Active's total stays published, so every cell is bounded by it.
        let hidden = |indicator: usize, cell: usize| match (indicator, cell) {
            (0, 3) => false,
            (0, c) => mask[c],
            (_, c) => mask[3 + c],
        };
        let published: Vec<IndicatorTables> = ["active", "methadone"]
            .iter()
            .enumerate()
            .map(|(i, id)| IndicatorTables {
                indicator: (*id).to_owned(),
                tables: vec![quietcount_protocol::Table {
                    dimensions: vec!["sex".into()],
                    cells: truth[i]
                        .cells
                        .iter()
                        .enumerate()
                        .map(|(c, &n)| if hidden(i, c) { Cell::Suppressed } else { Cell::Exact(n) })
                        .collect(),
                }],
            })
            .collect();
        // The published equations and the relation only: masks here are arbitrary, not a
        // publication of the rule, so the rule's facts do not apply.
        let audited =
            quietcount_protocol::disclosure::audit_report_equations_only(&form, &published, 5)
                .unwrap();

        let bound = truth[0].total();
        let mut lower = [[u64::MAX; 4]; 2];
        let mut upper = [[0u64; 4]; 2];
        let range = |i: usize, c: usize| {
            if hidden(i, c) { 0..=bound } else { truth[i].cells[c]..=truth[i].cells[c] }
        };
        for a0 in range(0, 0) { for a1 in range(0, 1) { for a2 in range(0, 2) {
            for m0 in range(1, 0) { for m1 in range(1, 1) { for m2 in range(1, 2) {
                let a = [a0, a1, a2, a0 + a1 + a2];
                let m = [m0, m1, m2, m0 + m1 + m2];
                let fits = (0..4).all(|c| {
                    (hidden(0, c) || a[c] == truth[0].cells[c])
                        && (hidden(1, c) || m[c] == truth[1].cells[c])
                        && m[c] <= a[c]
                });
                if fits {
                    for c in 0..4 {
                        lower[0][c] = lower[0][c].min(a[c]);
                        upper[0][c] = upper[0][c].max(a[c]);
                        lower[1][c] = lower[1][c].min(m[c]);
                        upper[1][c] = upper[1][c].max(m[c]);
                    }
                }
            }}}
        }}}
        for i in 0..2 {
            for c in 0..4 {
                let expected = hidden(i, c).then_some(quietcount_protocol::Interval {
                    lower: lower[i][c],
                    upper: Some(upper[i][c]),
                });
                prop_assert_eq!(audited.indicators[i].tables[0][c], expected, "indicator {}, cell {}", i, c);
            }
        }
    }
}
