//! Disclosure control: primary and complementary suppression, and the audit that computes
//! every suppressed cell's feasible interval.
//!
//! # The model
//! The tables of one indicator are linked: tables over dimension sets `D1` and `D2` share the
//! margin over `D1 ∩ D2` (always the grand total). Every distinct quantity is one variable
//! (see `model.rs`), related to others by additivity: a margin is the sum of the cells it covers,
//! along each dimension on which it is a margin. A shared quantity is suppressed in every table
//! where it appears or in none.
//!
//! # Relations between indicators
//! A form may declare that one indicator counts a subset of another's units (`subset_of`, see
//! [`crate::form`]): clients receiving a service, retained, or employed at follow-up are all
//! among the clients active in the period. An attacker knows this, so the report-level entry
//! points [`suppress_report`], [`audit_report`] and [`check_report`] add one inequality
//! `sub ≤ sup` for every pair of cells, one in each related indicator, that fix the same
//! categories (same dimension names, same category; margins and totals included), where
//! either side may be published (a constant) or hidden. Nothing else is assumed about how the
//! two indicators' units overlap: a subset cell whose categories the other indicator does not
//! tabulate together (by substance when the other has only sex) is bounded only through the
//! cells both publish, which is what the declared relation alone implies about those tables.
//! The per-indicator [`suppress`], [`audit`] and [`check`] see one indicator and no relations;
//! they are for callers with one indicator, and give the same result as the report-level ones
//! for a form that declares no relations.
//!
//! # The attacker model
//! An outsider — a curious coordinator, a donor, anyone holding every package and every
//! revision — knows (a) every published cell of every table of every indicator, (b) the
//! publication rule and this code, (c) the relations the form declares between indicators,
//! (d) every earlier revision of the same site, form and period, and (e) that counts are
//! non-negative integers. [`audit_report`] uses (a), (b), (c) and (e); (d) is the joint audit
//! of a period's revisions in `revisions.rs` ([`suppress_revision`], [`check_revisions`]). From (b), whatever the site's secret, the outsider knows the facts listed
//! in `knowledge.rs`: hidden cells are at least 1 when zeros are published; a hidden grand total
//! of an indicator that publishes a non-zero cell is at most `2k − 2`; a hidden quantity that
//! cannot be 0 is a complement, hence at least `k`, when zeros are protected.
//!
//! # The promise, per policy ([`crate::ZeroPolicy`])
//! - `Protected` (the default): every small cell (`0 < n < k`) can be 0 and can reach `k`.
//! - `Published`: every small cell can reach `k`; that it is not empty is disclosed.
//!
//! # Audit
//! [`audit`] (and [`audit_report`], over a whole report) gives each suppressed cell the least
//! and greatest whole value it can take under the model: first by propagating relations with a
//! single unknown (exact), then per connected component of the remaining unknowns by linear
//! programming (`good_lp` with `microlp`). An LP optimum reached at a whole-number point is the
//! integer optimum; otherwise the integer programme is solved (`bounds.rs`). The complement
//! inference is repeated until no bound changes.
//!
//! An interval's `upper` is `None` when nothing published bounds the cell from above, which
//! happens only when the indicator's grand total is suppressed and no fact of the rule caps it.
//! (The solver in `bounds.rs` reports that case as `u64::MAX`; it is turned into `None` where
//! each [`Interval`] is built, so no stand-in for "no bound" leaves this module.)
//!
//! # Suppression
//! [`suppress`] (per indicator; [`suppress_report`] for a report) hides every small cell, then
//! adds complements until every relation with a hidden cell hides at least three (where it has
//! them) and the audit shows the promise for every small cell, choosing by information-loss
//! cost with the site's [`SuppressionSecret`] ordering equal costs (see `suppress.rs`).
//!
//! # Replaying the algorithm
//! The secret does not make the algorithm unreplayable: an outsider who runs [`suppress`] on
//! every candidate table with every secret, keeping the pairs that give the observed pattern,
//! still narrows some small cells (`tests/replay_secrets.rs`, over a reduced secret space,
//! which is sound for the promise). What remains: a two-category table with a small cell and
//! its total published, and an indicator whose total is itself small (an empty indicator is
//! always published, so a hidden total is not 0). The audit does not model the replay. [`suppress_report_with`] with [`Strategy::FirstFound`] gives the algorithm
//! from before this model, to compare the two.

mod bounds;
mod knowledge;
mod model;
mod revisions;
mod secret;
mod suppress;

use serde::{Deserialize, Serialize};

use crate::error::DisclosureError;
use crate::form::Form;
use crate::report::{Cell, DisclosurePolicy, IndicatorTables, Table};
use crate::table::{CountTable, Shape};

use bounds::System;
use knowledge::Knowledge;
use model::{Fault, Model};
pub use revisions::{
    Revision, audit_revisions, changed_records, changed_records_at_least, check_revisions,
    suppress_revision,
};
pub use secret::SuppressionSecret;
use suppress::Rule;
pub use suppress::Strategy;

/// The largest count [`suppress`] and [`audit`] accept in a cell (2^40). Linear programming in
/// 64-bit floats is exact well beyond any real count up to this size.
pub const MAX_CELL_COUNT: u64 = 1 << 40;

/// A suppressed cell's feasible interval: the least and greatest whole value it can take given
/// everything published for its indicator.
///
/// `upper == None` means unbounded above (only possible when the indicator's grand total is
/// suppressed; see [`Interval::is_unbounded`]). Displayed as `[lower, upper]`, or
/// `[lower, no upper bound]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Least feasible value.
    pub lower: u64,
    /// Greatest feasible value; `None` if nothing published bounds the cell from above.
    pub upper: Option<u64>,
}

impl Interval {
    /// Whether nothing published bounds the cell from above.
    pub fn is_unbounded(&self) -> bool {
        self.upper.is_none()
    }

    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: u64) -> bool {
        self.lower <= value && self.upper.is_none_or(|upper| value <= upper)
    }

    /// Whether the interval reaches up to `value`: it is unbounded above, or its upper end is at
    /// least `value`.
    pub fn reaches(&self, value: u64) -> bool {
        self.upper.is_none_or(|upper| upper >= value)
    }

    /// The interval from the solver's bounds, where `u64::MAX` stands for "unbounded above".
    fn from_solver(lower: u64, upper: u64) -> Self {
        Self {
            lower,
            upper: (upper != u64::MAX).then_some(upper),
        }
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.upper {
            Some(upper) => write!(f, "[{}, {upper}]", self.lower),
            None => write!(f, "[{}, {NO_UPPER_BOUND}]", self.lower),
        }
    }
}

/// How an unbounded upper side is written for people: never a number standing in for infinity.
pub const NO_UPPER_BOUND: &str = "no upper bound";

/// The audit of one indicator: for each table, for each cell, `None` if published, or the
/// feasible interval of a suppressed cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorAudit {
    /// Per table, per cell.
    pub tables: Vec<Vec<Option<Interval>>>,
}

/// A breach of the disclosure rule, or a publication that cannot be audited, found by [`check`].
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
    /// A suppressed cell whose feasible interval stays below k (and is not just 0).
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
    /// No non-negative values of the suppressed cells agree with the published cells.
    #[error("table {table}, cell {cell}: no non-negative values fit the published cells")]
    Infeasible {
        /// Table position.
        table: usize,
        /// A cell involved.
        cell: usize,
    },
    /// A quantity shared by linked tables (a common margin or the total) is published with
    /// different values, or suppressed in some of its tables and published in others.
    #[error("table {table}, cell {cell}: shared margin differs from the same margin elsewhere")]
    SharedMismatch {
        /// Table position.
        table: usize,
        /// Cell index.
        cell: usize,
    },
    /// A published cell exceeds the matching published cell of the indicator the form declares
    /// it a subset of.
    #[error(
        "table {table}, cell {cell}: published count exceeds the matching cell of the indicator it is a subset of"
    )]
    AboveSuperset {
        /// Table position.
        table: usize,
        /// Cell index.
        cell: usize,
    },
    /// The threshold itself is below the minimum of 2.
    #[error("disclosure threshold k = {k} is below the minimum of 2")]
    PolicyTooWeak {
        /// The k given.
        k: u32,
    },
    /// The tables cannot be audited at all (wrong shapes, counts over [`MAX_CELL_COUNT`], solver
    /// failure).
    #[error("cannot audit: {reason}")]
    Unauditable {
        /// What is wrong.
        reason: String,
    },
}

/// Suppresses the tables of one indicator under `policy`.
///
/// `tables` are all tables of the indicator, with true counts and exact margins (see
/// [`CountTable::from_interior`]). The result has the same layout, each cell
/// [`Cell::Exact`] or [`Cell::Suppressed`], and passes [`check`]:
///
/// 1. Primary suppression of every cell, margins included, with `0 < n < k`.
/// 2. While some additivity relation holds exactly one suppressed quantity, suppress its
///    cheapest published non-zero quantity.
/// 3. Audit every primary: it must not be computable, must be able to be 0 and to reach `k`.
///    For each that fails, suppress the cheapest published non-zero quantity sharing a
///    relation with it (or nearest to it through suppressed ones), and go back to 2. The
///    audit uses the true values and a few LPs over sums as certificates; while many
///    primaries of a component are still in doubt they are all repaired without one LP each,
///    and the loop ends only when every primary is proven protected.
///
/// If nothing is left to add near a failing primary, every non-zero cell is suppressed, which
/// always passes (the grand total is then suppressed and every cell unbounded above).
///
/// Cheapest is smallest count, then least aggregated, then first in table order: the result
/// depends only on the input. Complements are chosen by cost, never by which cell needed them
/// in a way visible in the output, and every suppressed cell reaches `k`, so primaries cannot
/// be told from complements by their intervals' upper ends.
pub fn suppress(
    tables: &[CountTable],
    policy: &DisclosurePolicy,
    secret: &SuppressionSecret,
) -> Result<Vec<Table>, DisclosureError> {
    suppress_with(tables, policy, Strategy::InformationLoss(secret))
}

/// [`suppress`] with the complements chosen by `strategy` (see [`suppress_report_with`]).
pub fn suppress_with(
    tables: &[CountTable],
    policy: &DisclosurePolicy,
    strategy: Strategy<'_>,
) -> Result<Vec<Table>, DisclosureError> {
    if policy.k < DisclosurePolicy::MIN_K {
        return Err(DisclosureError::PolicyTooWeak { k: policy.k });
    }
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    for (t, table) in tables.iter().enumerate() {
        if table.cells.len() != table.shape.full_len() {
            return Err(DisclosureError::Inconsistent(format!(
                "table {t} has {} cells, its shape needs {}",
                table.cells.len(),
                table.shape.full_len()
            )));
        }
    }
    let layouts: Vec<(&[String], &Shape)> = tables
        .iter()
        .map(|t| (t.dimensions.as_slice(), &t.shape))
        .collect();
    let model = Model::build(&layouts).map_err(into_error)?;
    let flat: Vec<&CountTable> = tables.iter().collect();
    let rule = Rule::new(u64::from(policy.k), policy.zeros, strategy);
    suppress_model(&model, &flat, &rule).map_err(into_error)
}

/// Suppresses every indicator of a report under `policy`, accounting for the relations the
/// form declares between indicators (see the [module documentation](self)).
///
/// `truth` holds, per indicator of `form` in order, its tables with true counts and exact
/// margins. The result has the same layout and passes [`check_report`]. Each indicator is
/// suppressed as [`suppress`] does, and the audit of every round is the report's: a primary
/// that a relation narrows (a published superset cell below what it needs to reach `k`, or a
/// published subset cell that lifts a hidden cell's siblings' lower bound) is repaired with
/// complements from its own indicator, in [`suppress`]'s order, and only if none is left there
/// from the related indicators. Fails if the true counts break a declared relation.
pub fn suppress_report(
    form: &Form,
    truth: &[Vec<CountTable>],
    policy: &DisclosurePolicy,
    secret: &SuppressionSecret,
) -> Result<Vec<Vec<Table>>, DisclosureError> {
    suppress_report_with(form, truth, policy, Strategy::InformationLoss(secret))
}

/// [`suppress_report`] with the complements chosen by `strategy`: [`Strategy::FirstFound`]
/// gives the publications of the algorithm before the rule's facts were audited, to compare
/// the two (benchmarks, the attacker's examples).
pub fn suppress_report_with(
    form: &Form,
    truth: &[Vec<CountTable>],
    policy: &DisclosurePolicy,
    strategy: Strategy<'_>,
) -> Result<Vec<Vec<Table>>, DisclosureError> {
    if policy.k < DisclosurePolicy::MIN_K {
        return Err(DisclosureError::PolicyTooWeak { k: policy.k });
    }
    if truth.len() != form.indicators.len() {
        return Err(DisclosureError::Inconsistent(format!(
            "{} indicators given, the form has {}",
            truth.len(),
            form.indicators.len()
        )));
    }
    for (indicator, tables) in form.indicators.iter().zip(truth) {
        for (t, table) in tables.iter().enumerate() {
            if table.cells.len() != table.shape.full_len() {
                return Err(DisclosureError::Inconsistent(format!(
                    "indicator {}: table {t} has {} cells, its shape needs {}",
                    indicator.id,
                    table.cells.len(),
                    table.shape.full_len()
                )));
            }
        }
    }
    let layouts: Vec<Vec<(&[String], &Shape)>> = truth
        .iter()
        .map(|tables| {
            tables
                .iter()
                .map(|t| (t.dimensions.as_slice(), &t.shape))
                .collect()
        })
        .collect();
    let fail = |first_table: &[usize], fault: Fault| report_error(form, first_table, fault);
    let (model, first_table) =
        Model::linked(&layouts, &form.subset_relations()).map_err(|fault| fail(&[], fault))?;
    let flat: Vec<&CountTable> = truth.iter().flatten().collect();
    let rule = Rule::new(u64::from(policy.k), policy.zeros, strategy);
    let mut published = suppress_model(&model, &flat, &rule)
        .map_err(|fault| fail(&first_table, fault))?
        .into_iter();
    Ok(truth
        .iter()
        .map(|tables| published.by_ref().take(tables.len()).collect())
        .collect())
}

/// Suppression over a (possibly linked) model whose tables are `tables`, in order.
fn suppress_model(
    model: &Model,
    tables: &[&CountTable],
    rule: &Rule<'_>,
) -> Result<Vec<Table>, Fault> {
    let mut values = Vec::with_capacity(model.var_count());
    for occurrences in &model.occurrences {
        let mut value = None;
        for &(t, c) in occurrences {
            let n = tables[t].cells[c];
            if n > MAX_CELL_COUNT {
                return Err(Fault::TooLarge { table: t, cell: c });
            }
            if value.is_some_and(|v| v != n) {
                return Err(Fault::SharedMismatch { table: t, cell: c });
            }
            value = Some(n);
        }
        values.push(value.unwrap_or(0));
    }
    // The true tables must add up, and keep the declared relations, before anything is chosen.
    let known = values.iter().map(|&v| Some(i128::from(v))).collect();
    System::propagate(model, known)?;

    let suppressed = suppress::choose(model, &values, rule)?;
    Ok(tables
        .iter()
        .enumerate()
        .map(|(t, table)| Table {
            dimensions: table.dimensions.clone(),
            cells: table
                .cells
                .iter()
                .zip(&model.cell_var[t])
                .map(|(&n, &v)| {
                    if suppressed[v] {
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
///
/// `shapes` are the tables' shapes from the form ([`crate::Form::shapes`]), in table order.
/// Fails if the tables do not fit their shapes, if a shared quantity is published differently
/// in two tables, if published cells do not add up, or if no non-negative values fit.
pub fn audit(
    shapes: &[Shape],
    tables: &[Table],
    policy: &DisclosurePolicy,
) -> Result<IndicatorAudit, DisclosureError> {
    analyse(shapes, tables, &Knowledge::of(policy)).map_err(into_error)
}

/// Checks published tables of one indicator against `policy` as an outsider can, returning
/// the audit. It ignores relations between indicators: a whole report is checked with
/// [`check_report`].
///
/// Fails with every published non-zero count below `k`, and either every suppressed cell whose
/// upper bound is below `k` or the reason the tables cannot be audited (inconsistent margins,
/// infeasibility, mismatched shared margins, wrong shapes).
pub fn check(
    shapes: &[Shape],
    tables: &[Table],
    policy: &DisclosurePolicy,
) -> Result<IndicatorAudit, Vec<Violation>> {
    let mut violations = Vec::new();
    if policy.k < DisclosurePolicy::MIN_K {
        violations.push(Violation::PolicyTooWeak { k: policy.k });
    }
    small_cells(tables, policy.k, &mut violations);
    match analyse(shapes, tables, &Knowledge::of(policy)) {
        Ok(audit) => {
            underprotected(&audit, policy.k, &mut violations);
            if violations.is_empty() {
                return Ok(audit);
            }
        }
        Err(fault) => violations.push(into_violation(fault)),
    }
    Err(violations)
}

/// The audit of a whole report: one [`IndicatorAudit`] per indicator of the form, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAudit {
    /// Per indicator, in form order.
    pub indicators: Vec<IndicatorAudit>,
}

/// A [`Violation`] found by [`check_report`], with the indicator it is in (its table and cell
/// numbers count within that indicator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("indicator {indicator}: {violation}")]
pub struct ReportViolation {
    /// The indicator's id (empty when the violation concerns the report as a whole).
    pub indicator: String,
    /// What is wrong.
    pub violation: Violation,
}

/// Computes the feasible interval of every suppressed cell of a report's indicators, jointly:
/// besides each indicator's own tables, every relation the form declares between indicators
/// (`subset_of`) bounds the cells it links (see the [module documentation](self)).
///
/// `published` holds the report's indicators in form order, each with the form's tables. Fails
/// as [`audit`] does, and if a published cell exceeds the matching cell of the indicator it is
/// a subset of.
pub fn audit_report(
    form: &Form,
    published: &[IndicatorTables],
    policy: &DisclosurePolicy,
) -> Result<ReportAudit, DisclosureError> {
    analyse_report(form, published, &Knowledge::of(policy))
        .map_err(|(first_table, fault)| report_error(form, &first_table, fault))
}

/// [`audit_report`] with the published equations and relations alone, without the facts an
/// outsider knows from the rule: the audit before those facts were added, to compare the two
/// algorithms (benchmarks). It can show wider intervals than an attacker can compute.
pub fn audit_report_equations_only(
    form: &Form,
    published: &[IndicatorTables],
    k: u32,
) -> Result<ReportAudit, DisclosureError> {
    analyse_report(form, published, &Knowledge::equations_only(u64::from(k)))
        .map_err(|(first_table, fault)| report_error(form, &first_table, fault))
}

/// Checks a whole report against `policy` as an outsider can, relations between indicators
/// included, returning the audit: [`check`] for every indicator, with the intervals of
/// [`audit_report`].
pub fn check_report(
    form: &Form,
    published: &[IndicatorTables],
    policy: &DisclosurePolicy,
) -> Result<ReportAudit, Vec<ReportViolation>> {
    let mut violations = Vec::new();
    if policy.k < DisclosurePolicy::MIN_K {
        violations.push(ReportViolation {
            indicator: String::new(),
            violation: Violation::PolicyTooWeak { k: policy.k },
        });
    }
    let named = |indicator: usize, found: Vec<Violation>| {
        let id = form
            .indicators
            .get(indicator)
            .map_or_else(String::new, |i| i.id.clone());
        found.into_iter().map(move |violation| ReportViolation {
            indicator: id.clone(),
            violation,
        })
    };
    for (position, indicator) in published.iter().enumerate() {
        let mut found = Vec::new();
        small_cells(&indicator.tables, policy.k, &mut found);
        violations.extend(named(position, found));
    }
    match analyse_report(form, published, &Knowledge::of(policy)) {
        Ok(audit) => {
            for (position, indicator) in audit.indicators.iter().enumerate() {
                let mut found = Vec::new();
                underprotected(indicator, policy.k, &mut found);
                violations.extend(named(position, found));
            }
            if violations.is_empty() {
                return Ok(audit);
            }
        }
        Err((first_table, fault)) => {
            // A fault with no table (shapes, solver) concerns the report as a whole.
            let located = !matches!(fault, Fault::Structure(_) | Fault::Solver(_));
            let (indicator, fault) = localise(&first_table, fault);
            let indicator = if located && !first_table.is_empty() {
                indicator
            } else {
                usize::MAX
            };
            violations.extend(named(indicator, vec![into_violation(fault)]));
        }
    }
    Err(violations)
}

/// Every published non-zero count below `k`.
fn small_cells(tables: &[Table], k: u32, violations: &mut Vec<Violation>) {
    for (table, t) in tables.iter().enumerate() {
        for (cell, c) in t.cells.iter().enumerate() {
            if let Cell::Exact(value) = *c {
                if value > 0 && value < u64::from(k) {
                    violations.push(Violation::SmallCellPublished {
                        table,
                        cell,
                        value,
                        k,
                    });
                }
            }
        }
    }
}

/// Every suppressed cell whose interval stays below `k`, other than those known to be 0.
fn underprotected(audit: &IndicatorAudit, k: u32, violations: &mut Vec<Violation>) {
    for (table, cells) in audit.tables.iter().enumerate() {
        for (cell, interval) in cells.iter().enumerate() {
            // An interval unbounded above always reaches k; a hidden cell known to be 0 is
            // no small cell (a zero hidden as a complement that turned out not to help).
            if let Some(Interval {
                lower,
                upper: Some(upper),
            }) = *interval
            {
                if upper > 0 && upper < u64::from(k) {
                    violations.push(Violation::Underprotected {
                        table,
                        cell,
                        lower,
                        upper,
                        k,
                    });
                }
            }
        }
    }
}

/// The report's audit, with faults kept typed and located in the joint model (whose first
/// table per indicator comes with the fault; empty if the model could not be built).
fn analyse_report(
    form: &Form,
    published: &[IndicatorTables],
    knowledge: &Knowledge,
) -> Result<ReportAudit, (Vec<usize>, Fault)> {
    if published.len() != form.indicators.len() {
        return Err((
            Vec::new(),
            Fault::Structure(format!(
                "{} indicators published, the form has {}",
                published.len(),
                form.indicators.len()
            )),
        ));
    }
    let shapes: Vec<Vec<Shape>> = form.indicators.iter().map(|i| form.shapes(i)).collect();
    let mut first = 0;
    for (indicator_shapes, indicator) in shapes.iter().zip(published) {
        check_layout(indicator_shapes, &indicator.tables, first).map_err(|f| (Vec::new(), f))?;
        first += indicator.tables.len();
    }
    let layouts: Vec<Vec<(&[String], &Shape)>> = published
        .iter()
        .zip(&shapes)
        .map(|(indicator, shapes)| {
            indicator
                .tables
                .iter()
                .zip(shapes)
                .map(|(t, s)| (t.dimensions.as_slice(), s))
                .collect()
        })
        .collect();
    let (model, first_table) =
        Model::linked(&layouts, &form.subset_relations()).map_err(|f| (Vec::new(), f))?;
    let flat: Vec<&Table> = published.iter().flat_map(|i| &i.tables).collect();
    let mut tables = analyse_model(&model, &flat, knowledge)
        .map_err(|fault| (first_table, fault))?
        .into_iter();
    Ok(ReportAudit {
        indicators: published
            .iter()
            .map(|indicator| IndicatorAudit {
                tables: tables.by_ref().take(indicator.tables.len()).collect(),
            })
            .collect(),
    })
}

/// The indicator position of a fault in a joint model, and the fault with its table counted
/// within that indicator.
fn localise(first_table: &[usize], fault: Fault) -> (usize, Fault) {
    let locate = |table: usize| {
        let indicator = first_table
            .iter()
            .rposition(|&first| first <= table)
            .unwrap_or(0);
        (
            indicator,
            table - first_table.get(indicator).copied().unwrap_or(0),
        )
    };
    match fault {
        Fault::SharedMismatch { table, cell } => {
            let (i, table) = locate(table);
            (i, Fault::SharedMismatch { table, cell })
        }
        Fault::Sum { table, cell } => {
            let (i, table) = locate(table);
            (i, Fault::Sum { table, cell })
        }
        Fault::Infeasible { table, cell } => {
            let (i, table) = locate(table);
            (i, Fault::Infeasible { table, cell })
        }
        Fault::AboveSuperset { table, cell } => {
            let (i, table) = locate(table);
            (i, Fault::AboveSuperset { table, cell })
        }
        Fault::TooLarge { table, cell } => {
            let (i, table) = locate(table);
            (i, Fault::TooLarge { table, cell })
        }
        other => (0, other),
    }
}

/// A fault in a report's joint model as an error naming the indicator.
fn report_error(form: &Form, first_table: &[usize], fault: Fault) -> DisclosureError {
    if let Fault::Solver(reason) = fault {
        return DisclosureError::Solver(reason);
    }
    if first_table.is_empty() {
        return into_error(fault);
    }
    let (indicator, fault) = localise(first_table, fault);
    let id = form
        .indicators
        .get(indicator)
        .map_or("?", |i| i.id.as_str());
    DisclosureError::Inconsistent(format!("indicator {id}: {}", into_violation(fault)))
}

/// The audit, with faults kept typed for [`check`].
fn analyse(
    shapes: &[Shape],
    tables: &[Table],
    knowledge: &Knowledge,
) -> Result<IndicatorAudit, Fault> {
    check_layout(shapes, tables, 0)?;
    if tables.is_empty() {
        return Ok(IndicatorAudit { tables: Vec::new() });
    }
    let layouts: Vec<(&[String], &Shape)> = tables
        .iter()
        .zip(shapes)
        .map(|(t, s)| (t.dimensions.as_slice(), s))
        .collect();
    let model = Model::build(&layouts)?;
    let flat: Vec<&Table> = tables.iter().collect();
    Ok(IndicatorAudit {
        tables: analyse_model(&model, &flat, knowledge)?,
    })
}

/// Checks that each table has as many cells as its shape; `first` numbers the tables in faults.
fn check_layout(shapes: &[Shape], tables: &[Table], first: usize) -> Result<(), Fault> {
    if shapes.len() != tables.len() {
        return Err(Fault::Structure(format!(
            "{} shapes for {} tables",
            shapes.len(),
            tables.len()
        )));
    }
    for (t, (shape, table)) in shapes.iter().zip(tables).enumerate() {
        if table.cells.len() != shape.full_len() {
            return Err(Fault::Structure(format!(
                "table {} has {} cells, its shape needs {}",
                t + first,
                table.cells.len(),
                shape.full_len()
            )));
        }
    }
    Ok(())
}

/// The intervals of every suppressed cell of `tables` (the model's tables, in its order), with
/// the facts an outsider knows from the rule (`knowledge`).
fn analyse_model(
    model: &Model,
    tables: &[&Table],
    knowledge: &Knowledge,
) -> Result<Vec<Vec<Option<Interval>>>, Fault> {
    let mut known = Vec::with_capacity(model.var_count());
    for occurrences in &model.occurrences {
        let mut state: Option<Cell> = None;
        for &(t, c) in occurrences {
            let cell = tables[t].cells[c];
            if let Cell::Exact(n) = cell {
                if n > MAX_CELL_COUNT {
                    return Err(Fault::TooLarge { table: t, cell: c });
                }
            }
            if state.is_some_and(|s| s != cell) {
                return Err(Fault::SharedMismatch { table: t, cell: c });
            }
            state = Some(cell);
        }
        known.push(match state {
            Some(Cell::Exact(n)) => Some(i128::from(n)),
            _ => None,
        });
    }
    let rule_bounds = knowledge.bounds(model, &known);
    let system = System::propagate(model, known)?;
    // A hidden quantity the equations determine must keep what the rule says of it.
    for (v, &(floor, cap)) in rule_bounds.iter().enumerate() {
        if let (true, Some(value)) = (system.determined[v], system.known[v]) {
            if value < i128::from(floor) || cap.is_some_and(|cap| value > i128::from(cap)) {
                let (table, cell) = model.first_cell(v);
                return Err(Fault::Infeasible { table, cell });
            }
        }
    }
    let mut intervals: Vec<Option<Interval>> = (0..model.var_count())
        .map(|v| {
            system.determined[v].then(|| {
                let value = system.known[v].map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX));
                Interval {
                    lower: value,
                    upper: Some(value),
                }
            })
        })
        .collect();
    for mut component in system.components() {
        for local in 0..component.len() {
            let (floor, cap) = rule_bounds[component.vars[local]];
            component.restrict(local, floor, cap);
        }
        let bounds = component_bounds(&mut component, knowledge)?;
        for (local, (lower, upper)) in bounds.into_iter().enumerate() {
            let v = component.vars[local];
            if lower > upper {
                let (table, cell) = model.first_cell(v);
                return Err(Fault::Infeasible { table, cell });
            }
            intervals[v] = Some(Interval::from_solver(lower, upper));
        }
    }
    Ok(model
        .cell_var
        .iter()
        .enumerate()
        .map(|(t, vars)| {
            vars.iter()
                .zip(&tables[t].cells)
                .map(|(&v, cell)| match cell {
                    Cell::Exact(_) => None,
                    Cell::Suppressed => intervals[v],
                })
                .collect()
        })
        .collect())
}

/// The least and greatest whole value of every variable of a component, with the complement
/// inference of `knowledge` repeated until nothing changes: a hidden quantity that cannot be 0
/// is a complement, hence at least `k`.
fn component_bounds(
    component: &mut bounds::Component,
    knowledge: &Knowledge,
) -> Result<Vec<(u64, u64)>, Fault> {
    let all: Vec<usize> = (0..component.len()).collect();
    loop {
        // A few LPs over sums settle most bounds; the rest take one LP each.
        component.settle_reach(&all, |c, local| c.simple_upper(local))?;
        component.settle_zeros(&all)?;
        let mut bounds = Vec::with_capacity(all.len());
        for &local in &all {
            let upper = component.upper(local)?;
            bounds.push((component.lower(local)?, upper));
        }
        let raised: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&local| {
                knowledge.infers_complements()
                    && bounds[local].0 > 0
                    && bounds[local].0 < knowledge.k
                    && bounds[local].1 >= knowledge.k
            })
            .collect();
        if raised.is_empty() {
            return Ok(bounds);
        }
        for local in raised {
            component.restrict(local, knowledge.k, None);
        }
    }
}

fn into_error(fault: Fault) -> DisclosureError {
    match fault {
        Fault::Solver(reason) => DisclosureError::Solver(reason),
        Fault::Unprotectable => DisclosureError::Unprotectable { changed: 0 },
        other => DisclosureError::Inconsistent(into_violation(other).to_string()),
    }
}

fn into_violation(fault: Fault) -> Violation {
    match fault {
        Fault::Structure(reason) => Violation::Unauditable { reason },
        Fault::SharedMismatch { table, cell } => Violation::SharedMismatch { table, cell },
        Fault::Sum { table, cell } => Violation::Inconsistent { table, cell },
        Fault::Infeasible { table, cell } => Violation::Infeasible { table, cell },
        Fault::AboveSuperset { table, cell } => Violation::AboveSuperset { table, cell },
        Fault::TooLarge { table, cell } => Violation::Unauditable {
            reason: format!("table {table}, cell {cell}: count over {MAX_CELL_COUNT}"),
        },
        Fault::Solver(reason) => Violation::Unauditable { reason },
        Fault::Unprotectable => Violation::Unauditable {
            reason: "no protecting publication".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ZeroPolicy;

    fn table(dims: &[&str], shape: &[usize], interior: &[u64]) -> CountTable {
        CountTable::from_interior(
            dims.iter().map(|d| (*d).to_owned()).collect(),
            Shape::new(shape.to_vec()),
            interior,
        )
    }

    fn shapes(tables: &[CountTable]) -> Vec<Shape> {
        tables.iter().map(|t| t.shape.clone()).collect()
    }

    fn secret() -> SuppressionSecret {
        SuppressionSecret::from_bytes([7; 32])
    }

    /// Suppresses, checks, and asserts the protection rule against the truth.
    fn protect(tables: &[CountTable], k: u32) -> (Vec<Table>, IndicatorAudit) {
        protect_under(tables, &DisclosurePolicy::new(k).unwrap(), &secret())
    }

    /// [`protect`] under any policy and secret: zeros may be hidden only when protected, and
    /// every primary's interval includes 0 unless zeros are published.
    fn protect_under(
        tables: &[CountTable],
        policy: &DisclosurePolicy,
        secret: &SuppressionSecret,
    ) -> (Vec<Table>, IndicatorAudit) {
        let (policy, k) = (*policy, policy.k);
        let published = suppress(tables, &policy, secret).unwrap();
        let audit = check(&shapes(tables), &published, &policy).unwrap();
        for (t, truth) in tables.iter().enumerate() {
            for (c, &n) in truth.cells.iter().enumerate() {
                match (published[t].cells[c], audit.tables[t][c]) {
                    (Cell::Exact(m), None) => {
                        assert_eq!(m, n);
                        assert!(n == 0 || n >= u64::from(k));
                    }
                    (Cell::Suppressed, Some(interval)) => {
                        assert!(interval.contains(n), "{interval:?} misses {n}");
                        assert!(interval.reaches(u64::from(k)));
                        match policy.zeros {
                            ZeroPolicy::Published => assert!(n > 0, "a zero is hidden"),
                            ZeroPolicy::Protected => {
                                if n > 0 && n < u64::from(k) {
                                    assert_eq!(interval.lower, 0, "{interval:?}");
                                }
                            }
                        }
                    }
                    other => panic!("cell {t}/{c}: {other:?}"),
                }
            }
        }
        (published, audit)
    }

    #[test]
    fn nothing_small_publishes_everything() {
        let tables = [table(&["a"], &[3], &[5, 0, 7])];
        let (published, _) = protect(&tables, 5);
        assert!(published[0].cells.iter().all(|c| c.exact().is_some()));
    }

    #[test]
    fn one_small_cell_gets_complements_until_three_cells_of_its_relation_are_hidden() {
        // Two hidden cells under a published margin never keep the promise against an
        // outsider who replays the algorithm (`tests/replay_secrets.rs`): if one were 0 the
        // other would be the whole hidden mass, 20 + 3 here, no small cell, and nothing would
        // have been hidden. So every relation with a hidden cell hides at least three.
        let tables = [table(&["a"], &[3], &[3, 20, 40])];
        let (published, audit) = protect(&tables, 5);
        assert_eq!(
            published[0].cells,
            vec![
                Cell::Suppressed,
                Cell::Suppressed,
                Cell::Suppressed,
                Cell::Exact(63)
            ]
        );
        assert_eq!(
            audit.tables[0][0],
            Some(Interval {
                lower: 0,
                upper: Some(63)
            })
        );
    }

    #[test]
    fn two_small_cells_summing_below_k_need_more_cover() {
        // a + b = 2 would give both away below k.
        let tables = [table(&["a"], &[3], &[1, 1, 50])];
        let (published, _) = protect(&tables, 5);
        assert_eq!(published[0].cells[2], Cell::Suppressed);
    }

    #[test]
    fn small_total_suppresses_everything_non_zero_and_is_unbounded() {
        let tables = [table(&["a"], &[3], &[3, 0, 1])];
        let (published, audit) = protect(&tables, 5);
        assert_eq!(published[0].cells[1], Cell::Exact(0));
        assert!(audit.tables[0][3].is_some_and(|i| i.is_unbounded()));
        let grand_total = audit.tables[0][3].unwrap();
        assert_eq!(grand_total.upper, None);
        assert!(grand_total.reaches(u64::MAX) && grand_total.contains(u64::MAX));
        let text = grand_total.to_string();
        assert_eq!(text, "[0, no upper bound]");
        assert!(!text.contains("18446744073709551615"));
    }

    #[test]
    fn intervals_display_both_ends_or_say_there_is_no_upper_bound() {
        let bounded = Interval {
            lower: 3,
            upper: Some(8),
        };
        assert_eq!(bounded.to_string(), "[3, 8]");
        assert!(bounded.contains(8) && !bounded.contains(9) && !bounded.contains(2));
        assert!(bounded.reaches(8) && !bounded.reaches(9));
        assert!(!bounded.is_unbounded());
        let unbounded = Interval::from_solver(168, u64::MAX);
        assert_eq!(
            unbounded,
            Interval {
                lower: 168,
                upper: None
            }
        );
        assert_eq!(unbounded.to_string(), "[168, no upper bound]");
        assert_eq!(Interval::from_solver(2, 7).upper, Some(7));
    }

    #[test]
    fn linked_tables_share_their_total_and_margins() {
        let tables = [
            table(&["sex", "age"], &[2, 3], &[10, 12, 2, 9, 15, 11]),
            table(&["sex"], &[2], &[24, 35]),
            table(&["substance"], &[2], &[50, 9]),
        ];
        let (published, _) = protect(&tables, 5);
        // The sex margin appears in two tables and is suppressed in both or neither.
        let first = published[0].cells[3];
        assert_eq!(published[1].cells[0], first);
        assert_eq!(published[0].cells[11], published[2].cells[2]);
    }

    #[test]
    fn two_dimensional_tables_are_protected_for_every_k() {
        let tables = [table(
            &["x", "y"],
            &[3, 4],
            &[1, 7, 12, 0, 30, 2, 8, 9, 4, 15, 22, 3],
        )];
        for k in 2..=11 {
            protect(&tables, k);
        }
    }

    #[test]
    fn no_tables_is_nothing_to_do() {
        assert_eq!(
            suppress(&[], &DisclosurePolicy::DEFAULT, &secret()).unwrap(),
            vec![]
        );
        assert_eq!(
            audit(&[], &[], &DisclosurePolicy::DEFAULT)
                .unwrap()
                .tables
                .len(),
            0
        );
        assert!(
            suppress(
                &[],
                &DisclosurePolicy {
                    k: 1,
                    ..DisclosurePolicy::DEFAULT
                },
                &secret()
            )
            .is_err()
        );
    }

    #[test]
    fn same_input_gives_same_output() {
        let tables = [table(&["x", "y"], &[3, 3], &[1, 7, 12, 9, 30, 2, 8, 9, 4])];
        let policy = DisclosurePolicy::DEFAULT;
        assert_eq!(
            suppress(&tables, &policy, &secret()).unwrap(),
            suppress(&tables, &policy, &secret()).unwrap()
        );
    }

    #[test]
    fn check_finds_each_kind_of_violation() {
        let shape = [Shape::new(vec![3])];
        let dims = vec!["a".to_owned()];
        let policy = DisclosurePolicy::DEFAULT;
        let publish = |cells: Vec<Cell>| {
            vec![Table {
                dimensions: dims.clone(),
                cells,
            }]
        };
        use Cell::{Exact as E, Suppressed as S};
        let small = publish(vec![E(3), E(20), E(40), E(63)]);
        assert!(matches!(
            check(&shape, &small, &policy).unwrap_err()[..],
            [Violation::SmallCellPublished {
                cell: 0,
                value: 3,
                ..
            }]
        ));
        let wrong_sum = publish(vec![E(5), E(20), E(40), E(66)]);
        assert!(matches!(
            check(&shape, &wrong_sum, &policy).unwrap_err()[..],
            [Violation::Inconsistent { cell: 3, .. }]
        ));
        let exposed = publish(vec![S, S, E(50), E(52)]);
        assert!(matches!(
            check(&shape, &exposed, &policy).unwrap_err()[..],
            [
                Violation::Underprotected { upper: 2, .. },
                Violation::Underprotected { .. }
            ]
        ));
        let determined = publish(vec![S, E(20), E(40), E(63)]);
        assert!(matches!(
            check(&shape, &determined, &policy).unwrap_err()[..],
            [Violation::Underprotected {
                lower: 3,
                upper: 3,
                ..
            }]
        ));
        let impossible = publish(vec![S, E(50), E(40), E(63)]);
        assert!(matches!(
            check(&shape, &impossible, &policy).unwrap_err()[..],
            [Violation::Infeasible { .. }]
        ));
        let fine = publish(vec![S, S, E(40), E(63)]);
        assert!(check(&shape, &fine, &policy).is_ok());
    }

    #[test]
    fn check_refuses_shared_margins_published_differently() {
        let shapes = [Shape::new(vec![2]), Shape::new(vec![2])];
        let tables = vec![
            Table {
                dimensions: vec!["a".into()],
                cells: vec![Cell::Exact(10), Cell::Exact(20), Cell::Exact(30)],
            },
            Table {
                dimensions: vec!["b".into()],
                cells: vec![Cell::Exact(10), Cell::Exact(21), Cell::Exact(31)],
            },
        ];
        assert!(
            check(&shapes, &tables, &DisclosurePolicy::DEFAULT)
                .unwrap_err()
                .contains(&Violation::SharedMismatch { table: 1, cell: 2 })
        );
    }
    /// A form with `active` clients by sex and `methadone` clients by sex, declared a subset.
    fn related_form() -> Form {
        Form::from_toml(include_str!("../../tests/data/relations-pair.toml"))
            .expect("the test form is valid")
    }

    fn by_sex(cells: [Cell; 4]) -> Vec<Table> {
        vec![Table {
            dimensions: vec!["sex".into()],
            cells: cells.to_vec(),
        }]
    }

    fn report(active: [Cell; 4], methadone: [Cell; 4]) -> Vec<IndicatorTables> {
        vec![
            IndicatorTables {
                indicator: "active".into(),
                tables: by_sex(active),
            },
            IndicatorTables {
                indicator: "methadone".into(),
                tables: by_sex(methadone),
            },
        ]
    }

    fn interval(lower: u64, upper: u64) -> Option<Interval> {
        Some(Interval {
            lower,
            upper: Some(upper),
        })
    }

    #[test]
    fn a_published_superset_cell_bounds_the_hidden_subset_cells() {
        use Cell::{Exact as E, Suppressed as S};
        // Active: male 30, female 7. Methadone: male 3 and female 6 hidden, total 9. Alone,
        // each hidden cell is in [0, 9]; with female ≤ 7, male = 9 − female ≥ 2.
        let published = report([E(30), E(7), E(0), E(37)], [S, S, E(0), E(9)]);
        let form = related_form();
        let alone = audit(
            &form.shapes(&form.indicators[1]),
            &published[1].tables,
            &DisclosurePolicy::DEFAULT,
        )
        .unwrap();
        assert_eq!(alone.tables[0][..2], [interval(0, 9), interval(0, 9)]);
        let joint = audit_report_equations_only(&form, &published, 5).unwrap();
        assert_eq!(joint.indicators[0].tables[0], vec![None; 4]);
        assert_eq!(
            joint.indicators[1].tables[0],
            vec![interval(2, 9), interval(0, 7), None, None]
        );
        // With the rule's facts: male cannot be 0, so it is no small cell but a complement,
        // hence at least 5, and female = 9 − male is at most 4.
        let joint = audit_report(&form, &published, &DisclosurePolicy::DEFAULT).unwrap();
        assert_eq!(
            joint.indicators[1].tables[0],
            vec![interval(5, 9), interval(0, 4), None, None]
        );
    }

    #[test]
    fn a_published_subset_cell_lifts_the_hidden_superset_cell() {
        use Cell::{Exact as E, Suppressed as S};
        // Active: male 10 and female 4 hidden, total 14; methadone male 10 published. Alone,
        // female is in [0, 14]; with male ≥ 10 it is at most 4, below k.
        let published = report([S, S, E(0), E(14)], [E(10), E(0), E(0), E(10)]);
        let form = related_form();
        let policy = DisclosurePolicy::DEFAULT;
        for indicator in &published {
            check(&[Shape::new(vec![3])], &indicator.tables, &policy).unwrap();
        }
        let joint = audit_report(&form, &published, &DisclosurePolicy::DEFAULT).unwrap();
        assert_eq!(
            joint.indicators[0].tables[0],
            vec![interval(10, 14), interval(0, 4), None, None]
        );
        let violations = check_report(&form, &published, &policy).unwrap_err();
        assert_eq!(
            violations,
            vec![ReportViolation {
                indicator: "active".into(),
                violation: Violation::Underprotected {
                    table: 0,
                    cell: 1,
                    lower: 0,
                    upper: 4,
                    k: 5
                }
            }]
        );
    }

    /// Suppresses a report of the related form and asserts the protection rule on the truth.
    fn protect_report(truth: &[Vec<CountTable>], k: u32) -> (Vec<Vec<Table>>, ReportAudit) {
        let form = related_form();
        let policy = DisclosurePolicy::new(k).unwrap();
        let tables = suppress_report(&form, truth, &policy, &secret()).unwrap();
        let published: Vec<IndicatorTables> = form
            .indicators
            .iter()
            .zip(&tables)
            .map(|(i, t)| IndicatorTables {
                indicator: i.id.clone(),
                tables: t.clone(),
            })
            .collect();
        let audit = check_report(&form, &published, &policy).unwrap();
        for (i, indicator) in truth.iter().enumerate() {
            for (t, table) in indicator.iter().enumerate() {
                for (c, &n) in table.cells.iter().enumerate() {
                    match (tables[i][t].cells[c], audit.indicators[i].tables[t][c]) {
                        (Cell::Exact(m), None) => assert!(m == n && (n == 0 || n >= u64::from(k))),
                        (Cell::Suppressed, Some(interval)) => {
                            assert!(interval.contains(n), "{interval:?} misses {n}");
                            // A hidden zero may turn out to be known to be 0.
                            assert!(interval.reaches(u64::from(k)) || interval.upper == Some(0));
                            if n > 0 && n < u64::from(k) {
                                assert_eq!(interval.lower, 0, "{i}/{t}/{c}");
                            }
                        }
                        other => panic!("cell {i}/{t}/{c}: {other:?}"),
                    }
                }
            }
        }
        (tables, audit)
    }

    #[test]
    fn suppress_report_repairs_in_the_indicator_a_relation_narrows() {
        use Cell::{Exact as E, Suppressed as S};
        let sex = |interior: &[u64]| vec![table(&["sex"], &[3], interior)];
        // Per indicator, methadone would publish [S, S, S, 9], whose male cell the relation
        // bounds at 2 or more (female at most active's 7, other at most active's 0), and then,
        // being no small cell, at 5 or more. Grand totals are never complements, so the report
        // hides active's cells instead, keeping both totals.
        let truth = [sex(&[30, 7, 0]), sex(&[3, 6, 0])];
        let alone = suppress(&truth[1], &DisclosurePolicy::DEFAULT, &secret()).unwrap();
        assert_eq!(alone[0].cells, vec![S, S, S, E(9)]);
        let (tables, _) = protect_report(&truth, 5);
        assert_eq!(tables[0][0].cells[..2], [S, S]);
        assert_eq!(tables[0][0].cells[3], E(37));
        assert_eq!(tables[1][0].cells[..2], [S, S]);
        assert_eq!(tables[1][0].cells[3], E(9));
        // Active's female 4 would be held at or below 4 by methadone's published male 10:
        // active's male is hidden with it, and active's total (14, below 5 + its margin or
        // not) stays published unless the secret margin hides it.
        let truth = [sex(&[10, 4, 0]), sex(&[10, 0, 0])];
        let (tables, _) = protect_report(&truth, 5);
        assert_eq!(tables[0][0].cells[..2], [S, S]);
        assert_eq!(tables[1][0].cells[3], E(10));
    }

    #[test]
    fn relations_are_refused_when_broken() {
        use Cell::{Exact as E, Suppressed as S};
        let form = related_form();
        let published = report([E(10), E(30), E(0), E(40)], [E(12), S, E(0), E(15)]);
        let violations = check_report(&form, &published, &DisclosurePolicy::DEFAULT).unwrap_err();
        assert!(
            violations.contains(&ReportViolation {
                indicator: "methadone".into(),
                violation: Violation::AboveSuperset { table: 0, cell: 0 },
            }),
            "{violations:?}"
        );
        assert!(audit_report(&form, &published, &DisclosurePolicy::DEFAULT).is_err());
        let sex = |interior: &[u64]| vec![table(&["sex"], &[3], interior)];
        let truth = [sex(&[10, 30, 0]), sex(&[12, 3, 0])];
        assert!(suppress_report(&form, &truth, &DisclosurePolicy::DEFAULT, &secret()).is_err());
        // A report missing an indicator cannot be audited; the fault is the report's.
        let short = &report([E(10), E(30), E(0), E(40)], [E(10), E(30), E(0), E(40)])[..1];
        let violations = check_report(&form, short, &DisclosurePolicy::DEFAULT).unwrap_err();
        assert!(
            matches!(&violations[..], [ReportViolation { indicator, violation: Violation::Unauditable { .. } }] if indicator.is_empty()),
            "{violations:?}"
        );
        // A hidden subset cell that must exceed its published superset cell: infeasible.
        let published = report([E(10), E(30), E(0), E(40)], [S, S, E(0), E(45)]);
        assert!(check_report(&form, &published, &DisclosurePolicy::DEFAULT).is_err());
    }

    #[test]
    fn without_relations_the_report_functions_agree_with_the_per_indicator_ones() {
        let form = Form::from_toml(
            &crate::form::DEFAULT_MONTHLY_TOML.replace("subset_of = \"clients_active\"\n", ""),
        )
        .unwrap();
        assert!(form.subset_relations().is_empty());
        let truth = crate::testing::SyntheticReport::new(
            &form,
            crate::SiteId::new("site-01").unwrap(),
            crate::Period::parse("2026-10").unwrap(),
        )
        .seed(2)
        .truth();
        let policy = DisclosurePolicy::DEFAULT;
        // The secret orders complements by their place in the report, so the choices differ;
        // what each publishes passes the other's audit alike.
        let joint = suppress_report(&form, &truth, &policy, &secret()).unwrap();
        let published: Vec<IndicatorTables> = form
            .indicators
            .iter()
            .zip(&joint)
            .map(|(i, tables)| IndicatorTables {
                indicator: i.id.clone(),
                tables: tables.clone(),
            })
            .collect();
        let report_audit = check_report(&form, &published, &policy).unwrap();
        for ((indicator, tables), audited) in form
            .indicators
            .iter()
            .zip(&joint)
            .zip(&report_audit.indicators)
        {
            assert_eq!(
                &check(&form.shapes(indicator), tables, &policy).unwrap(),
                audited
            );
        }
        for (indicator, tables) in form.indicators.iter().zip(&truth) {
            let alone = suppress(tables, &policy, &secret()).unwrap();
            check(&form.shapes(indicator), &alone, &policy).unwrap();
        }
    }
}
