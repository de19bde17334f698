//! Disclosure control: primary and complementary suppression, and the audit that computes
//! every suppressed cell's feasible interval.
//!
//! PLACEHOLDER: a deliberately over-cautious rule (if any primary exists, suppress every
//! non-zero cell of the indicator) with a trivial audit. Replaced by the LP-based version.

use serde::{Deserialize, Serialize};

use crate::error::DisclosureError;
use crate::report::{Cell, DisclosurePolicy, Table};
use crate::table::{CountTable, Shape};

/// A suppressed cell's feasible interval: the least and greatest whole value it can take given
/// everything published for its indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Least feasible value.
    pub lower: u64,
    /// Greatest feasible value.
    pub upper: u64,
}

/// The audit of one indicator: for each table, for each cell, `None` if published, or the
/// feasible interval of a suppressed cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorAudit {
    /// Per table, per cell.
    pub tables: Vec<Vec<Option<Interval>>>,
}

/// A breach of the disclosure rule found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A published non-zero count below k.
    #[error("table {table}, cell {cell}: published count {value} is below k = {k}")]
    SmallCellPublished {
        /// Table position.
        table: usize,
        /// Cell index.
        cell: usize,
        /// The count.
        value: u64,
        /// The threshold.
        k: u32,
    },
    /// A suppressed cell whose feasible interval stays below k.
    #[error(
        "table {table}, cell {cell}: suppressed cell can be bounded to [{lower}, {upper}], below k = {k}"
    )]
    Underprotected {
        /// Table position.
        table: usize,
        /// Cell index.
        cell: usize,
        /// Least feasible value.
        lower: u64,
        /// Greatest feasible value.
        upper: u64,
        /// The threshold.
        k: u32,
    },
    /// Published cells that do not add up to their published margin.
    #[error(
        "table {table}, cell {cell}: published margin does not equal the sum of its published cells"
    )]
    Inconsistent {
        /// Table position.
        table: usize,
        /// The margin cell's index.
        cell: usize,
    },
}

/// Suppresses the tables of one indicator under `policy`.
pub fn suppress(
    tables: &[CountTable],
    policy: &DisclosurePolicy,
) -> Result<Vec<Table>, DisclosureError> {
    if policy.k < DisclosurePolicy::MIN_K {
        return Err(DisclosureError::PolicyTooWeak { k: policy.k });
    }
    let k = u64::from(policy.k);
    let any_primary = tables
        .iter()
        .any(|t| t.cells.iter().any(|&n| n > 0 && n < k));
    Ok(tables
        .iter()
        .map(|t| Table {
            dimensions: t.dimensions.clone(),
            cells: t
                .cells
                .iter()
                .map(|&n| {
                    if any_primary && n > 0 {
                        Cell::Suppressed
                    } else {
                        Cell::Exact(n)
                    }
                })
                .collect(),
        })
        .collect())
}

/// Computes the feasible interval of every suppressed cell of one indicator.
pub fn audit(shapes: &[Shape], tables: &[Table]) -> Result<IndicatorAudit, DisclosureError> {
    if shapes.len() != tables.len() {
        return Err(DisclosureError::Inconsistent(
            "shape count differs from table count".into(),
        ));
    }
    Ok(IndicatorAudit {
        tables: tables
            .iter()
            .map(|t| {
                t.cells
                    .iter()
                    .map(|c| match c {
                        Cell::Exact(_) => None,
                        Cell::Suppressed => Some(Interval {
                            lower: 0,
                            upper: u64::from(u32::MAX),
                        }),
                    })
                    .collect()
            })
            .collect(),
    })
}

/// Checks published tables against `policy` as an outsider can, returning the audit.
pub fn check(
    shapes: &[Shape],
    tables: &[Table],
    policy: &DisclosurePolicy,
) -> Result<IndicatorAudit, Vec<Violation>> {
    let k = u64::from(policy.k);
    let mut violations = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        for (ci, c) in t.cells.iter().enumerate() {
            if let Cell::Exact(n) = c {
                if *n > 0 && *n < k {
                    violations.push(Violation::SmallCellPublished {
                        table: ti,
                        cell: ci,
                        value: *n,
                        k: policy.k,
                    });
                }
            }
        }
    }
    let audit = audit(shapes, tables).map_err(|_| Vec::new())?;
    if violations.is_empty() {
        Ok(audit)
    } else {
        Err(violations)
    }
}
