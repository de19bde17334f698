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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TotalCell {
    /// Exact sum.
    Exact(u64),
    /// The sum lies in `[lower, upper]`.
    Bounded {
        /// Least possible sum.
        lower: u64,
        /// Greatest possible sum; `u64::MAX` if unbounded (a site suppressed its grand total).
        upper: u64,
    },
}

impl TotalCell {
    /// Lower and upper bounds (equal when exact).
    pub fn bounds(self) -> (u64, u64) {
        match self {
            TotalCell::Exact(n) => (n, n),
            TotalCell::Bounded { lower, upper } => (lower, upper),
        }
    }
}

/// Encoded as `n` when exact, `[lower, upper]` when bounded.
impl Serialize for TotalCell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            TotalCell::Exact(n) => serializer.serialize_u64(n),
            TotalCell::Bounded { lower, upper } => [lower, upper].serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for TotalCell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Exact(u64),
            Bounded([u64; 2]),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Exact(n) => TotalCell::Exact(n),
            Raw::Bounded([lower, upper]) if lower < upper => TotalCell::Bounded { lower, upper },
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
            audit_report(form, &report.indicators).map_err(|source| AggregateError::Audit {
                site: report.site.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut indicators = Vec::with_capacity(form.indicators.len());
    for (position, indicator) in form.indicators.iter().enumerate() {
        let shapes = form.shapes(indicator);
        // Sums of lower and upper bounds, per table, per cell.
        let mut sums: Vec<Vec<(u64, u64, bool)>> = shapes
            .iter()
            .map(|s| vec![(0u64, 0u64, true); s.full_len()])
            .collect();
        for (report, audit) in reports.iter().zip(&audits) {
            let tables = &report.indicators[position].tables;
            let intervals = &audit.indicators[position];
            for (t, table) in tables.iter().enumerate() {
                for (c, cell) in table.cells.iter().enumerate() {
                    let (lower, upper, exact) = match (cell, intervals.tables[t][c]) {
                        (Cell::Exact(n), _) => (*n, *n, true),
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
                    // An unbounded site cell (`u64::MAX`, its grand total suppressed) leaves
                    // the provincial cell unbounded too, rather than overflowing.
                    slot.1 = if upper == u64::MAX || slot.1 == u64::MAX {
                        u64::MAX
                    } else {
                        slot.1.checked_add(upper).ok_or(AggregateError::Overflow)?
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
                        if exact || lower == upper {
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
