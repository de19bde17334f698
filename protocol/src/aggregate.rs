//! Aggregation: provincial totals from site reports.
//!
//! A provincial cell is the sum of the sites' cells. Where every site's cell is published it is
//! exact; otherwise it is an interval whose bounds are the sums of each site's exact value or
//! audited feasible interval.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::disclosure::{Interval, audit_report};
use crate::error::AggregateError;
use crate::form::Form;
use crate::ids::Period;
use crate::report::{Cell, SiteReport};

/// A provincial total: exact, or bounded because it rests on suppressed site cells.
///
/// Displayed as `n`, `[lower, upper]`, or `[lower, no upper bound]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TotalCell {
    /// Exact sum.
    Exact(u64),
    /// The sum lies in `[lower, upper]`.
    Bounded {
        /// Least possible sum.
        lower: u64,
        /// Greatest possible sum; `None` if nothing bounds it from above (a site suppressed its
        /// indicator's grand total).
        upper: Option<u64>,
    },
}

impl TotalCell {
    /// Lower and upper bounds (equal when exact; the upper `None` if unbounded).
    pub fn bounds(self) -> (u64, Option<u64>) {
        match self {
            TotalCell::Exact(n) => (n, Some(n)),
            TotalCell::Bounded { lower, upper } => (lower, upper),
        }
    }

    /// Whether `value` lies within the bounds.
    pub fn contains(self, value: u64) -> bool {
        let (lower, upper) = self.bounds();
        lower <= value && upper.is_none_or(|upper| value <= upper)
    }
}

impl std::fmt::Display for TotalCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            TotalCell::Exact(n) => write!(f, "{n}"),
            TotalCell::Bounded { lower, upper } => Interval { lower, upper }.fmt(f),
        }
    }
}

/// Encoded as `n` when exact, `[lower, upper]` when bounded, and `[lower, null]` when nothing
/// bounds it from above: no number stands in for "no bound" in the signed report.
impl Serialize for TotalCell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            TotalCell::Exact(n) => serializer.serialize_u64(n),
            TotalCell::Bounded { lower, upper } => (lower, upper).serialize(serializer),
        }
    }
}

/// Refuses a bounded total whose upper end is not above its lower end, and `u64::MAX` as an
/// upper end (the stand-in for "no bound" that `null` replaces), so each total has one encoding.
impl<'de> Deserialize<'de> for TotalCell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Exact(u64),
            Bounded((u64, Option<u64>)),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Exact(n) => TotalCell::Exact(n),
            Raw::Bounded((_, Some(u64::MAX))) => {
                return Err(serde::de::Error::custom(
                    "a total without an upper bound has null as its upper end",
                ));
            }
            Raw::Bounded((lower, upper)) if upper.is_none_or(|upper| lower < upper) => {
                TotalCell::Bounded { lower, upper }
            }
            Raw::Bounded(_) => {
                return Err(serde::de::Error::custom(
                    "bounded total needs lower < upper",
                ));
            }
        })
    }
}

/// A table of provincial totals, in the same layout as the site tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalsTable {
    /// Dimension names.
    pub dimensions: Vec<String>,
    /// Cells, margins included.
    pub cells: Vec<TotalCell>,
}

/// All total tables of one indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorTotals {
    /// Indicator id.
    pub indicator: String,
    /// Its tables.
    pub tables: Vec<TotalsTable>,
}

/// Provincial totals of one form and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvincialTotals {
    /// How many site reports contributed.
    pub sites: u32,
    /// Every indicator, in form order.
    pub indicators: Vec<IndicatorTotals>,
}

/// Adds up site reports of one form and period into provincial totals.
pub fn aggregate(
    form: &Form,
    period: Period,
    reports: &[SiteReport],
) -> Result<ProvincialTotals, AggregateError> {
    let mut seen = BTreeSet::new();
    for report in reports {
        if !seen.insert(report.site.clone()) {
            return Err(AggregateError::DuplicateSite {
                site: report.site.clone(),
            });
        }
        if report.period != period {
            return Err(AggregateError::WrongPeriod {
                site: report.site.clone(),
                found: report.period,
                expected: period,
            });
        }
        if report.form != form.reference() {
            return Err(AggregateError::WrongForm {
                site: report.site.clone(),
            });
        }
        report
            .check_against(form)
            .map_err(|source| AggregateError::Mismatch {
                site: report.site.clone(),
                source,
            })?;
    }

    // Each site's intervals come from one audit of its whole report, relations between
    // indicators included.
    let audits = reports
        .iter()
        .map(|report| {
            audit_report(form, &report.indicators, &report.policy).map_err(|source| {
                AggregateError::Audit {
                    site: report.site.clone(),
                    source,
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut indicators = Vec::with_capacity(form.indicators.len());
    for (position, indicator) in form.indicators.iter().enumerate() {
        let shapes = form.shapes(indicator);
        // Sums of lower and upper bounds (`None`: unbounded), per table, per cell.
        let mut sums: Vec<Vec<(u64, Option<u64>, bool)>> = shapes
            .iter()
            .map(|s| vec![(0u64, Some(0u64), true); s.full_len()])
            .collect();
        for (report, audit) in reports.iter().zip(&audits) {
            let tables = &report.indicators[position].tables;
            let intervals = &audit.indicators[position];
            for (t, table) in tables.iter().enumerate() {
                for (c, cell) in table.cells.iter().enumerate() {
                    let (lower, upper, exact) = match (cell, intervals.tables[t][c]) {
                        (Cell::Exact(n), _) => (*n, Some(*n), true),
                        (Cell::Suppressed, Some(Interval { lower, upper })) => {
                            (lower, upper, false)
                        }
                        (Cell::Suppressed, None) => {
                            return Err(AggregateError::Audit {
                                site: report.site.clone(),
                                source: crate::error::DisclosureError::Inconsistent(
                                    "audit gave no interval for a suppressed cell".into(),
                                ),
                            });
                        }
                    };
                    let slot = &mut sums[t][c];
                    slot.0 = slot.0.checked_add(lower).ok_or(AggregateError::Overflow)?;
                    // An unbounded site cell (its grand total suppressed) leaves the provincial
                    // cell unbounded too.
                    slot.1 = match (slot.1, upper) {
                        (Some(sum), Some(upper)) => {
                            Some(sum.checked_add(upper).ok_or(AggregateError::Overflow)?)
                        }
                        _ => None,
                    };
                    slot.2 &= exact;
                }
            }
        }
        let tables = indicator
            .tables
            .iter()
            .zip(sums)
            .map(|(dims, cells)| TotalsTable {
                dimensions: dims.clone(),
                cells: cells
                    .into_iter()
                    .map(|(lower, upper, exact)| {
                        if exact || upper == Some(lower) {
                            TotalCell::Exact(lower)
                        } else {
                            TotalCell::Bounded { lower, upper }
                        }
                    })
                    .collect(),
            })
            .collect();
        indicators.push(IndicatorTotals {
            indicator: indicator.id.clone(),
            tables,
        });
    }
    Ok(ProvincialTotals {
        sites: u32::try_from(reports.len()).map_err(|_| AggregateError::Overflow)?,
        indicators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{from_canonical, to_canonical};

    #[test]
    fn totals_encode_as_a_number_a_pair_or_a_pair_with_null() {
        let cases = [
            (TotalCell::Exact(7), "07"),
            (
                TotalCell::Bounded {
                    lower: 3,
                    upper: Some(9),
                },
                "820309",
            ),
            (
                TotalCell::Bounded {
                    lower: 168,
                    upper: None,
                },
                "8218a8f6",
            ),
        ];
        for (cell, hex) in cases {
            let bytes = to_canonical(&cell).unwrap();
            assert_eq!(hex::encode(&bytes), hex, "{cell:?}");
            assert_eq!(from_canonical::<TotalCell>(&bytes).unwrap(), cell);
        }
    }

    #[test]
    fn totals_refuse_a_stand_in_for_no_bound_and_empty_intervals() {
        // [168, u64::MAX]: "no bound" is written null, never as the largest number.
        let stand_in = hex::decode("8218a81bffffffffffffffff").unwrap();
        assert!(from_canonical::<TotalCell>(&stand_in).is_err());
        // [9, 3] and [3, 3].
        for hex in ["820903", "820303"] {
            assert!(from_canonical::<TotalCell>(&hex::decode(hex).unwrap()).is_err());
        }
    }

    #[test]
    fn totals_display_as_people_read_them() {
        assert_eq!(TotalCell::Exact(12).to_string(), "12");
        let bounded = TotalCell::Bounded {
            lower: 3,
            upper: Some(9),
        };
        assert_eq!(bounded.to_string(), "[3, 9]");
        assert!(bounded.contains(9) && !bounded.contains(10));
        let unbounded = TotalCell::Bounded {
            lower: 168,
            upper: None,
        };
        assert_eq!(unbounded.to_string(), "[168, no upper bound]");
        assert!(unbounded.contains(u64::MAX) && !unbounded.contains(167));
        assert_eq!(unbounded.bounds(), (168, None));
    }
}
