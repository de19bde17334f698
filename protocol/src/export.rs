//! Long-format rows of published figures: one row per distinct cell of an indicator, for
//! spreadsheets (the coordinator's export and the donor package's `totals.csv`).
//!
//! A row's `upper` is `None` when nothing bounds the cell from above (its indicator's grand total
//! is suppressed at some site): the CSV field is then empty and JSON gives `null`, never a number
//! standing in for infinity.
//!
//! A cell is labelled by its disaggregation: `total`, or `dim=value` pairs joined by `;` in
//! dimension-name order. Tables of one indicator share their total and common margins, so a
//! label met again in a later table is not repeated.

use std::collections::BTreeSet;

use crate::aggregate::{ProvincialTotals, TotalCell};
use crate::disclosure::IndicatorAudit;
use crate::form::{Form, Indicator};
use crate::ids::Period;
use crate::report::{Cell, SiteReport};
use crate::table::Shape;

/// The header of the long-format CSV.
pub const HEADER: [&str; 8] = [
    "period",
    "scope",
    "indicator",
    "disaggregation",
    "value",
    "lower",
    "upper",
    "status",
];

/// The scope of provincial rows.
pub const PROVINCE_SCOPE: &str = "province";

/// How a row's value is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowStatus {
    /// Published: value = lower = upper.
    Exact,
    /// A suppressed site cell: no value; lower and upper are its audited interval.
    Suppressed,
    /// A provincial cell resting on suppressed site cells: no value; lower and upper bound it.
    Bounded,
}

impl RowStatus {
    /// `exact`, `suppressed` or `bounded`.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Exact => "exact",
            RowStatus::Suppressed => "suppressed",
            RowStatus::Bounded => "bounded",
        }
    }
}

/// One row of the long format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// The period.
    pub period: Period,
    /// A site id, or [`PROVINCE_SCOPE`].
    pub scope: String,
    /// Indicator id.
    pub indicator: String,
    /// `total` or `dim=value;...`.
    pub disaggregation: String,
    /// The exact value, if known.
    pub value: Option<u64>,
    /// Least value.
    pub lower: u64,
    /// Greatest value; `None` if nothing bounds it from above.
    pub upper: Option<u64>,
    /// How it is known.
    pub status: RowStatus,
}

impl ExportRow {
    /// The row as the eight CSV fields, in [`HEADER`] order: `value` empty unless exact,
    /// `upper` empty if unbounded.
    pub fn fields(&self) -> [String; 8] {
        [
            self.period.to_string(),
            self.scope.clone(),
            self.indicator.clone(),
            self.disaggregation.clone(),
            self.value.map(|v| v.to_string()).unwrap_or_default(),
            self.lower.to_string(),
            self.upper.map(|v| v.to_string()).unwrap_or_default(),
            self.status.as_str().to_owned(),
        ]
    }
}

/// Rows of one site report, with suppressed cells bounded by `audits` (one per indicator).
pub fn site_rows(form: &Form, report: &SiteReport, audits: &[IndicatorAudit]) -> Vec<ExportRow> {
    let mut rows = Vec::new();
    let scope = report.site.to_string();
    for ((indicator, published), audit) in
        form.indicators.iter().zip(&report.indicators).zip(audits)
    {
        push_rows(
            &mut rows,
            form,
            report.period,
            &scope,
            indicator,
            |table, index| {
                let cell = published.tables.get(table)?.cells.get(index)?;
                let interval = audit
                    .tables
                    .get(table)
                    .and_then(|t| t.get(index).copied().flatten());
                Some(match (cell, interval) {
                    (Cell::Exact(n), _) => (Some(*n), *n, Some(*n), RowStatus::Exact),
                    (Cell::Suppressed, Some(i)) => (None, i.lower, i.upper, RowStatus::Suppressed),
                    (Cell::Suppressed, None) => (None, 0, Some(0), RowStatus::Suppressed),
                })
            },
        );
    }
    rows
}

/// Rows of provincial totals.
pub fn province_rows(form: &Form, period: Period, totals: &ProvincialTotals) -> Vec<ExportRow> {
    let mut rows = Vec::new();
    for (indicator, published) in form.indicators.iter().zip(&totals.indicators) {
        push_rows(
            &mut rows,
            form,
            period,
            PROVINCE_SCOPE,
            indicator,
            |table, index| {
                let cell = published.tables.get(table)?.cells.get(index)?;
                let (lower, upper) = cell.bounds();
                Some(match cell {
                    TotalCell::Exact(n) => (Some(*n), lower, upper, RowStatus::Exact),
                    TotalCell::Bounded { .. } => (None, lower, upper, RowStatus::Bounded),
                })
            },
        );
    }
    rows
}

/// A row's figures: value (if published), lower and upper bound (upper `None`: unbounded),
/// status.
type Figures = (Option<u64>, u64, Option<u64>, RowStatus);

/// Pushes one row per distinct cell of `indicator`, with the figures `figures_of(table, cell)`
/// gives (a cell it has no figures for is skipped).
fn push_rows(
    rows: &mut Vec<ExportRow>,
    form: &Form,
    period: Period,
    scope: &str,
    indicator: &Indicator,
    mut figures_of: impl FnMut(usize, usize) -> Option<Figures>,
) {
    for (table, index, label) in distinct_cells(form, indicator) {
        let Some((value, lower, upper, status)) = figures_of(table, index) else {
            continue;
        };
        rows.push(ExportRow {
            period,
            scope: scope.to_owned(),
            indicator: indicator.id.clone(),
            disaggregation: label,
            value,
            lower,
            upper,
            status,
        });
    }
}

/// Every distinct cell of an indicator's tables, in table then cell order, as (table, cell
/// index, label): a margin several tables share (the grand total, always) is listed once, at
/// its first place.
fn distinct_cells(form: &Form, indicator: &Indicator) -> Vec<(usize, usize, String)> {
    let mut seen = BTreeSet::new();
    let mut cells = Vec::new();
    for (table, dims) in indicator.tables.iter().enumerate() {
        let Some(shape) = form.shape_of(dims) else {
            continue;
        };
        for index in 0..shape.full_len() {
            let label = disaggregation(form, dims, &shape, index);
            if seen.insert(label.clone()) {
                cells.push((table, index, label));
            }
        }
    }
    cells
}

/// The label of cell `index` of a table over `dims`: `total`, or `dim=code` pairs (margins
/// left out) in dimension-name order, joined by `;`.
pub fn disaggregation(form: &Form, dims: &[String], shape: &Shape, index: usize) -> String {
    let coords = shape.coords(index);
    let mut pairs: Vec<(String, String)> = dims
        .iter()
        .zip(&coords)
        .enumerate()
        .filter(|(d, (_, c))| !shape.is_margin(*d, **c))
        .filter_map(|(_, (name, &c))| {
            let dim = form.dimension(name)?;
            Some((name.clone(), dim.categories.get(c)?.code.clone()))
        })
        .collect();
    if pairs.is_empty() {
        return "total".to_owned();
    }
    pairs.sort();
    pairs
        .into_iter()
        .map(|(d, v)| format!("{d}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{IndicatorTotals, TotalsTable};

    /// Provincial totals of the default form: every cell exact, except the first indicator's
    /// grand total, bounded below only (as when a site suppressed it).
    fn totals_with_an_unbounded_grand_total(form: &Form) -> ProvincialTotals {
        let indicators = form
            .indicators
            .iter()
            .enumerate()
            .map(|(position, indicator)| IndicatorTotals {
                indicator: indicator.id.clone(),
                tables: form
                    .shapes(indicator)
                    .iter()
                    .zip(&indicator.tables)
                    .map(|(shape, dims)| {
                        let mut cells = vec![TotalCell::Exact(20); shape.full_len()];
                        if position == 0 {
                            cells[shape.total_index()] = TotalCell::Bounded {
                                lower: 168,
                                upper: None,
                            };
                        }
                        TotalsTable {
                            dimensions: dims.clone(),
                            cells,
                        }
                    })
                    .collect(),
            })
            .collect();
        ProvincialTotals {
            sites: 2,
            indicators,
        }
    }

    #[test]
    fn an_unbounded_upper_side_is_an_empty_field() {
        let form = Form::default_monthly();
        let period = Period::parse("2026-10").unwrap();
        let rows = province_rows(&form, period, &totals_with_an_unbounded_grand_total(&form));
        let total = rows
            .iter()
            .find(|r| r.indicator == form.indicators[0].id && r.disaggregation == "total")
            .unwrap();
        assert_eq!(total.upper, None);
        assert_eq!(total.status, RowStatus::Bounded);
        let fields = total.fields();
        assert_eq!(fields[5], "168");
        assert_eq!(fields[6], "", "no upper bound is an empty field");
        assert_eq!(fields[7], "bounded");
        let exact = rows.iter().find(|r| r.status == RowStatus::Exact).unwrap();
        assert_eq!(exact.fields()[6], "20");
        for row in &rows {
            for field in row.fields() {
                assert!(!field.contains("18446744073709551615"), "{row:?}");
            }
        }
    }
}
