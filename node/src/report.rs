//! Period reports: every indicator of a form counted by the store, classified into the
//! form's categories, put through disclosure control, and assembled into a site report.
//! (Rendering a report for people is the CLI's job.)

use quietcount_protocol::disclosure::{
    Revision, changed_records, changed_records_at_least, check_revisions, suppress_revision,
};
use quietcount_protocol::form::{Dimension, Field, UNKNOWN};
use quietcount_protocol::{
    Cell, CountTable, DisclosureError, DisclosurePolicy, EnvelopeHash, FORMAT_VERSION, Form,
    IndicatorTables, Period, Sha256Hash, SiteId, SiteReport, SuppressionSecret, Table, UnixTime,
};

use crate::dates::Date;
use crate::error::NodeError;
use crate::store::{IndicatorQuery, Store};

/// The true counts of one indicator, before disclosure control. Never leaves the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorCounts {
    /// Indicator id.
    pub indicator: String,
    /// Its tables, in form order.
    pub tables: Vec<CountTable>,
}

/// Computes every indicator of `form` for `period`, in one read transaction so that all
/// tables come from the same snapshot of the records.
pub async fn compute_counts(
    store: &Store,
    form: &Form,
    period: Period,
) -> Result<Vec<IndicatorCounts>, NodeError> {
    if period.period_type() != form.period {
        return Err(NodeError::WrongPeriodType {
            period,
            expected: form.period,
        });
    }
    let first = Date::from_civil(period.first_day());
    let last = Date::from_civil(period.last_day());
    // One GROUP BY per indicator over every dimension its tables use; each table is then
    // the exact sum over the dimensions it leaves out (every unit falls in exactly one
    // group, so this equals a GROUP BY per table, with one pass over the rows instead of
    // one per table).
    let mut unions: Vec<Vec<&Dimension>> = Vec::with_capacity(form.indicators.len());
    for indicator in &form.indicators {
        let mut union: Vec<&Dimension> = Vec::new();
        for name in indicator.tables.iter().flatten() {
            let Some(dim) = form.dimension(name) else {
                return Err(NodeError::Uncategorised {
                    indicator: indicator.id.clone(),
                    dimension: name.clone(),
                });
            };
            if !union.iter().any(|d| d.name == dim.name) {
                union.push(dim);
            }
        }
        unions.push(union);
    }
    let queries: Vec<IndicatorQuery<'_>> = form
        .indicators
        .iter()
        .zip(&unions)
        .map(|(indicator, union)| IndicatorQuery {
            indicator,
            fields: union.iter().map(|d| d.field).collect(),
        })
        .collect();
    let grouped = store.grouped_counts(&queries, first, last).await?;
    let mut out = Vec::with_capacity(form.indicators.len());
    for ((indicator, union), groups) in form.indicators.iter().zip(&unions).zip(grouped) {
        let mut classified: Vec<(Vec<usize>, u64)> = Vec::with_capacity(groups.len());
        for group in groups {
            let mut coords = Vec::with_capacity(union.len());
            for (dim, value) in union.iter().zip(&group.values) {
                let index = category_index(dim, value.as_deref()).ok_or_else(|| {
                    NodeError::Uncategorised {
                        indicator: indicator.id.clone(),
                        dimension: dim.name.clone(),
                    }
                })?;
                coords.push(index);
            }
            classified.push((coords, group.count));
        }
        let mut tables = Vec::with_capacity(indicator.tables.len());
        for dims in &indicator.tables {
            let Some(shape) = form.shape_of(dims) else {
                return Err(NodeError::Uncategorised {
                    indicator: indicator.id.clone(),
                    dimension: dims.join(","),
                });
            };
            let positions: Vec<usize> = dims
                .iter()
                .filter_map(|name| union.iter().position(|d| &d.name == name))
                .collect();
            let mut interior = vec![0u64; shape.interior_len()];
            for (coords, count) in &classified {
                let flat = positions
                    .iter()
                    .zip(shape.categories())
                    .fold(0usize, |acc, (p, n)| acc * n + coords[*p]);
                interior[flat] += count;
            }
            tables.push(CountTable::from_interior(dims.clone(), shape, &interior));
        }
        out.push(IndicatorCounts {
            indicator: indicator.id.clone(),
            tables,
        });
    }
    Ok(out)
}

/// The category of a value in a dimension: missing or out-of-range values go to `unknown`.
fn category_index(dimension: &Dimension, value: Option<&str>) -> Option<usize> {
    let unknown = || dimension.categories.iter().position(|c| c.code == UNKNOWN);
    let Some(value) = value else { return unknown() };
    if dimension.field == Field::AgeBand {
        let Ok(age) = value.parse::<i64>() else {
            return unknown();
        };
        if age < 0 {
            return unknown();
        }
        return dimension
            .categories
            .iter()
            .position(|c| {
                c.code != UNKNOWN
                    && c.min_age.is_some_and(|min| age >= i64::from(min))
                    && c.max_age.is_none_or(|max| age <= i64::from(max))
            })
            .or_else(unknown);
    }
    dimension
        .categories
        .iter()
        .position(|c| c.code == value)
        .or_else(unknown)
}

/// One earlier live revision of the period being reported, oldest first: the tables it
/// published, and the true tables it was built from when this node kept them. A revision
/// fetched back from the coordinator after a restore (`quietcount-node fetch`) has none.
#[derive(Debug, Clone, Copy)]
pub struct Earlier<'a> {
    /// The true tables, per indicator; `None` when not kept on this node.
    pub truth: Option<&'a [Vec<CountTable>]>,
    /// The tables as published, per indicator.
    pub published: &'a [Vec<Table>],
}

/// Applies disclosure control to every indicator, jointly with the relations the form declares
/// between indicators, and assembles the report.
///
/// A new revision is suppressed jointly with the earlier revisions whose true tables are kept
/// (`suppress_revision`). When some earlier revision has none (fetched back after a restore),
/// the result is then audited jointly with every earlier revision, their published cells as
/// constants (`check_revisions`): between two revisions whose true tables are known, with the
/// number of client records that changed; across one whose are not, with the least number of
/// changes the publications show (`changed_records_at_least`), which can only make the audit
/// stricter. If that audit fails, the correction is held ([`NodeError::CorrectionHeld`]).
#[allow(clippy::too_many_arguments)]
pub fn build_report(
    form: &Form,
    site: &SiteId,
    period: Period,
    counts: &[IndicatorCounts],
    policy: DisclosurePolicy,
    secret: &SuppressionSecret,
    earlier: &[Earlier<'_>],
    revision: u32,
    supersedes: Option<EnvelopeHash>,
    now: UnixTime,
) -> Result<SiteReport, NodeError> {
    let truth: Vec<Vec<CountTable>> = counts.iter().map(|c| c.tables.clone()).collect();
    // The error names the indicator when it is about one; the report as a whole otherwise.
    // Jointly with every earlier revision of the period (none for revision 1).
    let kept: Vec<Revision<'_>> = earlier
        .iter()
        .filter_map(|e| {
            e.truth.map(|truth| Revision {
                truth,
                published: e.published,
            })
        })
        .collect();
    let suppressed =
        suppress_revision(form, &kept, &truth, &policy, secret).map_err(|source| match source {
            DisclosureError::Unprotectable { changed } => NodeError::CorrectionHeld {
                form: quietcount_protocol::FormKey::of(form),
                period,
                changed,
            },
            source => NodeError::Disclosure {
                indicator: "(report)".to_owned(),
                source,
            },
        })?;
    if kept.len() < earlier.len() {
        check_with_fetched(form, period, earlier, &truth, &suppressed, &policy)?;
    }
    let indicators = counts
        .iter()
        .zip(suppressed)
        .map(|(c, tables)| IndicatorTables {
            indicator: c.indicator.clone(),
            tables,
        })
        .collect();
    // The number of client records changed since the previous revision, when that revision's
    // true tables are known (every earlier revision kept its truth).
    let changed_records = match kept.last() {
        Some(previous) if kept.len() == earlier.len() && earlier.len() + 1 == revision as usize => {
            Some(changed_records(form, previous.truth, &truth))
        }
        _ => None,
    };
    Ok(SiteReport {
        format: FORMAT_VERSION,
        form: form.reference(),
        site: site.clone(),
        period,
        revision,
        supersedes,
        generated_at: now,
        policy,
        indicators,
        changed_records,
    })
}

/// The joint audit of a new revision (`truth`, published as `published`) with every earlier
/// revision, some of which have no true tables kept (see [`build_report`]).
fn check_with_fetched(
    form: &Form,
    period: Period,
    earlier: &[Earlier<'_>],
    truth: &[Vec<CountTable>],
    published: &[Vec<Table>],
    policy: &DisclosurePolicy,
) -> Result<(), NodeError> {
    // The new revision's true tables, every cell exact: the tightest bound on its changes.
    let exact: Vec<Vec<Table>> = truth
        .iter()
        .map(|tables| {
            tables
                .iter()
                .map(|t| Table {
                    dimensions: t.dimensions.clone(),
                    cells: t.cells.iter().map(|&n| Cell::Exact(n)).collect(),
                })
                .collect()
        })
        .collect();
    let revisions: Vec<Earlier<'_>> = earlier
        .iter()
        .copied()
        .chain(std::iter::once(Earlier {
            truth: Some(truth),
            published: &exact,
        }))
        .collect();
    let changed: Vec<u64> = revisions
        .windows(2)
        .map(|pair| match (pair[0].truth, pair[1].truth) {
            (Some(before), Some(after)) => changed_records(form, before, after),
            _ => changed_records_at_least(form, pair[0].published, pair[1].published),
        })
        .collect();
    let indicators = |tables: &[Vec<Table>]| -> Vec<IndicatorTables> {
        form.indicators
            .iter()
            .zip(tables)
            .map(|(i, tables)| IndicatorTables {
                indicator: i.id.clone(),
                tables: tables.clone(),
            })
            .collect()
    };
    let all: Vec<Vec<IndicatorTables>> = earlier
        .iter()
        .map(|e| indicators(e.published))
        .chain(std::iter::once(indicators(published)))
        .collect();
    let all: Vec<&[IndicatorTables]> = all.iter().map(Vec::as_slice).collect();
    match check_revisions(form, &all, &changed, policy) {
        Ok(_) => Ok(()),
        Err(violations) => {
            tracing::warn!(form = %form.reference(), %period, violations = violations.len(), "the correction, audited with revisions fetched back from the coordinator, is held");
            Err(NodeError::CorrectionHeld {
                form: quietcount_protocol::FormKey::of(form),
                period,
                changed: changed.last().copied().unwrap_or(0),
            })
        }
    }
}

/// The hash of what a report publishes, leaving out when it was built and its place in the
/// revision chain: two reports with the same content hash say the same thing.
/// (The one definition is [`quietcount_protocol::content_hash`], which the coordinator also
/// uses to recognise a re-signed report.)
pub fn content_hash(report: &SiteReport) -> Result<Sha256Hash, NodeError> {
    Ok(quietcount_protocol::content_hash(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_band_categories_follow_the_form() {
        let form = Form::default_monthly();
        let dim = form.dimension("age_band").unwrap();
        let code =
            |v: Option<&str>| category_index(dim, v).map(|i| dim.categories[i].code.as_str());
        assert_eq!(code(Some("17")), Some("lt18"));
        assert_eq!(code(Some("18")), Some("18-24"));
        assert_eq!(code(Some("49")), Some("35-49"));
        assert_eq!(code(Some("50")), Some("50plus"));
        assert_eq!(code(Some("125")), Some("50plus"));
        assert_eq!(code(Some("-1")), Some("unknown"));
        assert_eq!(code(None), Some("unknown"));
        let sex = form.dimension("sex").unwrap();
        assert_eq!(
            category_index(sex, None),
            None,
            "sex has no unknown category"
        );
    }

    /// Corrections built on a revision fetched back from the coordinator (no true tables kept
    /// here), on the test form of three client indicators by sex: active clients, and
    /// vocational training and relapses within them.
    mod fetched {
        use super::*;
        use quietcount_protocol::{Shape, suppress_report};

        fn form() -> Form {
            Form::from_toml(include_str!(
                "../../protocol/tests/data/relations-revisions.toml"
            ))
            .unwrap()
        }

        fn counts(form: &Form, interiors: [[u64; 3]; 3]) -> Vec<IndicatorCounts> {
            form.indicators
                .iter()
                .zip(interiors)
                .map(|(i, interior)| IndicatorCounts {
                    indicator: i.id.clone(),
                    tables: vec![CountTable::from_interior(
                        vec!["sex".into()],
                        Shape::new(vec![3]),
                        &interior,
                    )],
                })
                .collect()
        }

        fn build(
            form: &Form,
            counts: &[IndicatorCounts],
            earlier: &[Earlier<'_>],
            policy: DisclosurePolicy,
        ) -> Result<SiteReport, NodeError> {
            build_report(
                form,
                &SiteId::new("site-01").unwrap(),
                Period::parse("2026-10").unwrap(),
                counts,
                policy,
                &SuppressionSecret::from_bytes([3; 32]),
                earlier,
                u32::try_from(earlier.len()).unwrap() + 1,
                None,
                0,
            )
        }

        fn one(cells: [Cell; 4]) -> Vec<Table> {
            vec![Table {
                dimensions: vec!["sex".into()],
                cells: cells.to_vec(),
            }]
        }

        fn tables(report: &SiteReport) -> Vec<Vec<Table>> {
            report.indicators.iter().map(|i| i.tables.clone()).collect()
        }

        /// The single-sex correction: revision 1, fetched back, hides vocational
        /// training male and publishes the female cells 0. Without revision 1 the correction
        /// would go out, and jointly with revision 1 single the client out; audited with
        /// revision 1's published cells as constants, it is held.
        #[test]
        fn a_leaking_correction_on_a_fetched_revision_is_held() {
            use Cell::{Exact as E, Suppressed as S};
            let form = form();
            let fetched = [
                one([E(20), E(14), E(0), E(34)]),
                one([S, E(0), E(0), S]),
                one([S, E(0), E(0), S]),
            ];
            let after = counts(&form, [[19, 15, 0], [0, 1, 0], [0, 1, 0]]);
            for k in [5, 11] {
                let policy = DisclosurePolicy::new(k).unwrap();
                let alone = build(&form, &after, &[], policy).expect("alone it is built");
                let joint = [fetched.as_slice(), &tables(&alone)].map(|t| {
                    form.indicators
                        .iter()
                        .zip(t)
                        .map(|(i, tables)| IndicatorTables {
                            indicator: i.id.clone(),
                            tables: tables.clone(),
                        })
                        .collect::<Vec<_>>()
                });
                assert!(
                    check_revisions(&form, &[&joint[0], &joint[1]], &[1], &policy).is_err(),
                    "k = {k}: without revision 1 the correction leaks"
                );
                let earlier = [Earlier {
                    truth: None,
                    published: &fetched,
                }];
                let held = build(&form, &after, &earlier, policy).unwrap_err();
                assert!(
                    matches!(held, NodeError::CorrectionHeld { changed: 1, .. }),
                    "k = {k}: {held}"
                );
            }
        }

        /// One client added after a fetched revision: the correction goes out, its changes
        /// are not stated (this node cannot count them), and it passes the joint audit.
        #[test]
        fn an_honest_correction_on_a_fetched_revision_goes_out() {
            let form = form();
            let before = counts(&form, [[20, 14, 0], [3, 2, 0], [1, 2, 0]]);
            let after = counts(&form, [[21, 14, 0], [4, 2, 0], [1, 2, 0]]);
            for k in [5, 11] {
                let policy = DisclosurePolicy::new(k).unwrap();
                let truth: Vec<Vec<CountTable>> = before.iter().map(|c| c.tables.clone()).collect();
                let first = suppress_report(
                    &form,
                    &truth,
                    &policy,
                    &SuppressionSecret::from_bytes([3; 32]),
                )
                .unwrap();
                let earlier = [Earlier {
                    truth: None,
                    published: &first,
                }];
                let report = build(&form, &after, &earlier, policy).expect("goes out");
                assert_eq!(report.revision, 2);
                assert_eq!(report.changed_records, None);
            }
        }
    }
}
