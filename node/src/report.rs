//! Period reports: every indicator of a form counted by the store, classified into the
//! form's categories, put through disclosure control, and assembled into a site report.
//! (Rendering a report for people is the CLI's job.)

use quietcount_protocol::disclosure::{Revision, suppress_revision};
use quietcount_protocol::form::{Dimension, Field, UNKNOWN};
use quietcount_protocol::{
    CountTable, DisclosureError, DisclosurePolicy, EnvelopeHash, FORMAT_VERSION, Form,
    IndicatorTables, Period, Sha256Hash, SiteId, SiteReport, SuppressionSecret, UnixTime,
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

/// Applies disclosure control to every indicator, jointly with the relations the form declares
/// between indicators, and assembles the report.
#[allow(clippy::too_many_arguments)]
pub fn build_report(
    form: &Form,
    site: &SiteId,
    period: Period,
    counts: &[IndicatorCounts],
    policy: DisclosurePolicy,
    secret: &SuppressionSecret,
    earlier: &[Revision<'_>],
    revision: u32,
    supersedes: Option<EnvelopeHash>,
    now: UnixTime,
) -> Result<SiteReport, NodeError> {
    let truth: Vec<Vec<CountTable>> = counts.iter().map(|c| c.tables.clone()).collect();
    // The error names the indicator when it is about one; the report as a whole otherwise.
    // Jointly with every earlier revision of the period (none for revision 1).
    let suppressed = suppress_revision(form, earlier, &truth, &policy, secret).map_err(
        |source| match source {
            DisclosureError::Unprotectable { changed } => NodeError::CorrectionHeld {
                form: quietcount_protocol::FormKey::of(form),
                period,
                changed,
            },
            source => NodeError::Disclosure {
                indicator: "(report)".to_owned(),
                source,
            },
        },
    )?;
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
    let changed_records = match earlier.last() {
        Some(previous) if earlier.len() + 1 == revision as usize => Some(
            quietcount_protocol::disclosure::changed_records(form, previous.truth, &truth),
        ),
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
}
