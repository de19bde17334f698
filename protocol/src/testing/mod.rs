//! Synthetic site reports for tests and benchmarks (feature `test-util`): the one generator every
//! crate's tests use.
//!
//! A report is built the way a site builds one: for every indicator, interior counts are drawn
//! per cell of one joint table over all the dimensions the indicator's tables use (from a
//! deterministic seed), each table is that joint table's margin (so the tables of an indicator
//! agree with each other, and margins are sums), and [`suppress_report`] hides what the policy
//! says. The counts keep the relations the form declares between indicators (`subset_of`):
//! where a subset indicator's draws exceed its superset's, the superset's are raised. The
//! result passes [`SiteReport::check_against`] for its form and
//! [`check_report`](crate::disclosure::check_report) for its policy.
//!
//! ```
//! use quietcount_protocol::testing::SyntheticReport;
//! use quietcount_protocol::{Form, Period, SiteId};
//!
//! let form = Form::default_monthly();
//! let site = SiteId::new("site-01").expect("a valid id");
//! let period = Period::parse("2026-10").expect("a valid period");
//! let report = SyntheticReport::new(&form, site, period).seed(3).build().expect("suppresses");
//! assert!(report.check_against(&form).is_ok());
//! ```
//!
//! Like the rest of this crate it does no I/O and draws no randomness from the system: the same
//! builder always gives the same report.
//!
//! [`attacker`] is an outsider who enumerates every table consistent with a publication, written
//! independently of the audit, to test disclosure control against.

pub mod attacker;

use crate::error::DisclosureError;
use crate::form::Form;
use crate::ids::{EnvelopeHash, Period, SiteId, UnixTime};
use crate::report::{Cell, DisclosurePolicy, FORMAT_VERSION, IndicatorTables, SiteReport, Table};
use crate::table::{CountTable, Shape};
use crate::{SuppressionSecret, suppress_report};

/// How the interior counts of a synthetic report are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counts {
    /// A site with about 300 active clients: many zeros and small cells in the detailed tables,
    /// so suppression has work to do ([`realistic_counts`]).
    #[default]
    Realistic,
    /// The same draws with every non-zero count raised by `k`: every cell, margins included, is
    /// 0 or at least `k`, so [`suppress`] publishes everything.
    NoSmallCells,
}

/// A builder of one synthetic [`SiteReport`]; see the [module documentation](self).
///
/// Defaults: seed 1, revision 1 superseding nothing, [`DisclosurePolicy::DEFAULT`],
/// [`Counts::Realistic`], generated an hour after the period ends.
#[derive(Debug, Clone)]
pub struct SyntheticReport<'f> {
    form: &'f Form,
    site: SiteId,
    period: Period,
    seed: u64,
    revision: u32,
    supersedes: Option<EnvelopeHash>,
    policy: DisclosurePolicy,
    generated_at: Option<UnixTime>,
    counts: Counts,
    small: Option<Small>,
}

/// What [`SyntheticReport::small_cell`] or [`SyntheticReport::small_total`] put in the
/// small-cell indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Small {
    /// `k + 7`, `k + 2`, `2`: one cell below `k`.
    Cell,
    /// `1`, `2`: the grand total itself below `k`.
    Total,
}

impl<'f> SyntheticReport<'f> {
    /// A first-revision report of `site` for `period` answering `form`.
    pub fn new(form: &'f Form, site: SiteId, period: Period) -> Self {
        Self {
            form,
            site,
            period,
            seed: 1,
            revision: 1,
            supersedes: None,
            policy: DisclosurePolicy::DEFAULT,
            generated_at: None,
            counts: Counts::Realistic,
            small: None,
        }
    }

    /// The seed the counts are drawn from: the same seed gives the same counts.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The revision number (1 for a first report).
    pub fn revision(mut self, revision: u32) -> Self {
        self.revision = revision;
        self
    }

    /// The envelope this revision replaces (`None` for a first revision).
    pub fn supersedes(mut self, previous: Option<EnvelopeHash>) -> Self {
        self.supersedes = previous;
        self
    }

    /// The disclosure policy the report is suppressed under and states.
    pub fn policy(mut self, policy: DisclosurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// When the report says it was generated.
    pub fn generated_at(mut self, at: UnixTime) -> Self {
        self.generated_at = Some(at);
        self
    }

    /// How the counts are drawn.
    pub fn counts(mut self, counts: Counts) -> Self {
        self.counts = counts;
        self
    }

    /// Replaces the counts of one indicator (the first whose only table has one dimension of at
    /// least three categories; `clients_methadone` by sex in the default form) with `k + 7`,
    /// `k + 2` and `2` in its first three categories and zeros elsewhere: one cell below `k`
    /// that suppression must hide (or that, published raw, breaks the policy). Forms without
    /// such an indicator are left as they are.
    pub fn small_cell(mut self) -> Self {
        self.small = Some(Small::Cell);
        self
    }

    /// Replaces the counts of the first indicator with one one-dimensional table of three or
    /// more categories that the form declares within no other (`counselling_sessions` in the
    /// default form) with `1` and `2` in its first two categories and zeros elsewhere: its grand total (3) is below
    /// every `k`, so suppression hides the total and every non-zero cell, and nothing published
    /// bounds them from above (their intervals, and the provincial totals resting on them, have
    /// no upper bound). Replaces `small_cell` if both are asked for.
    pub fn small_total(mut self) -> Self {
        self.small = Some(Small::Total);
        self
    }

    /// The true (unsuppressed) tables of every indicator, in form order.
    pub fn truth(&self) -> Vec<Vec<CountTable>> {
        let k = u64::from(self.policy.k);
        let small_at = match self.small {
            Some(Small::Cell) => small_cell_indicator(self.form).map(|p| (p, Small::Cell)),
            Some(Small::Total) => small_total_indicator(self.form).map(|p| (p, Small::Total)),
            None => None,
        };
        let mut realistic = realistic_counts(self.seed);
        let counts = self.counts;
        true_tables(self.form, |position, len| {
            let drawn = realistic(position, len);
            if let Some((at, small)) = small_at {
                if at == position {
                    let counts: &[u64] = match small {
                        Small::Cell => &[k + 7, k + 2, 2],
                        Small::Total => &[1, 2],
                    };
                    let mut cells = vec![0; len];
                    for (cell, &n) in cells.iter_mut().zip(counts) {
                        *cell = n;
                    }
                    return cells;
                }
            }
            match counts {
                Counts::Realistic => drawn,
                Counts::NoSmallCells => drawn
                    .into_iter()
                    .map(|n| if n == 0 { 0 } else { n + k })
                    .collect(),
            }
        })
    }

    /// The secret the report is suppressed with: the seed stands for the site's key.
    pub fn secret(&self) -> SuppressionSecret {
        let mut site_secret = [0u8; 32];
        site_secret[..8].copy_from_slice(&self.seed.to_be_bytes());
        site_secret[8..8 + self.site.as_str().len().min(24)]
            .copy_from_slice(&self.site.as_str().as_bytes()[..self.site.as_str().len().min(24)]);
        SuppressionSecret::for_report(&site_secret, &self.form.reference(), self.period)
    }

    /// The report, every indicator suppressed under the policy.
    pub fn build(&self) -> Result<SiteReport, DisclosureError> {
        self.publishing(&self.truth())
    }

    /// The report with every count published as it is, small cells included: a policy
    /// violation unless nothing is below `k`.
    pub fn build_unsuppressed(&self) -> SiteReport {
        let indicators = self
            .form
            .indicators
            .iter()
            .zip(self.truth())
            .map(|(indicator, tables)| IndicatorTables {
                indicator: indicator.id.clone(),
                tables: tables
                    .into_iter()
                    .map(|t| Table {
                        dimensions: t.dimensions,
                        cells: t.cells.into_iter().map(Cell::Exact).collect(),
                    })
                    .collect(),
            })
            .collect();
        self.report_with(indicators)
    }

    /// The report publishing `truth` (one entry per indicator of the form, in order, as from
    /// [`true_tables`]) suppressed under the policy, instead of drawn counts.
    pub fn publishing(&self, truth: &[Vec<CountTable>]) -> Result<SiteReport, DisclosureError> {
        let tables = suppress_report(self.form, truth, &self.policy, &self.secret())?;
        let indicators = self
            .form
            .indicators
            .iter()
            .zip(tables)
            .map(|(indicator, tables)| IndicatorTables {
                indicator: indicator.id.clone(),
                tables,
            })
            .collect();
        Ok(self.report_with(indicators))
    }

    fn report_with(&self, indicators: Vec<IndicatorTables>) -> SiteReport {
        SiteReport {
            format: FORMAT_VERSION,
            form: self.form.reference(),
            site: self.site.clone(),
            period: self.period,
            revision: self.revision,
            supersedes: self.supersedes,
            generated_at: self
                .generated_at
                .unwrap_or_else(|| self.period.end() + 3600),
            policy: self.policy,
            changed_records: None,
            indicators,
        }
    }
}

/// The true tables of every indicator of `form`, each indicator's tables the margins of one
/// joint table (over [`joint_dims`]) whose interior counts come from
/// `counts(indicator position, joint interior length)`. Counts of the wrong length are cut or
/// padded with zeros; a dimension the form does not define counts as one category. Then, for
/// every relation the form declares, wherever the subset's joint counts add up to more than the
/// superset's over the dimensions both use, the superset's largest cell there is raised by the
/// difference (deepest subsets first), so the tables keep every relation and a count drawn for
/// a subset is never changed.
pub fn true_tables(
    form: &Form,
    mut counts: impl FnMut(usize, usize) -> Vec<u64>,
) -> Vec<Vec<CountTable>> {
    let mut joints: Vec<Joint> = form
        .indicators
        .iter()
        .enumerate()
        .map(|(position, indicator)| {
            let dims = joint_dims(&indicator.tables);
            let shape: Vec<usize> = dims
                .iter()
                .map(|d| form.dimension(d).map_or(1, |d| d.categories.len().max(1)))
                .collect();
            let len = shape.iter().product();
            let mut counts = counts(position, len);
            counts.resize(len, 0);
            Joint {
                dims,
                shape,
                counts,
            }
        })
        .collect();
    keep_relations(form, &mut joints);
    form.indicators
        .iter()
        .zip(&joints)
        .map(|(indicator, joint)| {
            indicator
                .tables
                .iter()
                .map(|t| marginal(&joint.dims, &joint.shape, &joint.counts, t))
                .collect()
        })
        .collect()
}

/// One indicator's joint table: interior counts over its dimensions.
#[derive(Debug, Clone)]
struct Joint {
    dims: Vec<String>,
    shape: Vec<usize>,
    counts: Vec<u64>,
}

impl Joint {
    /// The cell of the table over `common` (dimensions of this joint table, with `shape`) that
    /// interior cell `flat` falls in.
    fn slice(&self, flat: usize, common: &[String], shape: &[usize]) -> usize {
        let mut coords = vec![0; self.shape.len()];
        let mut rest = flat;
        for (slot, n) in coords.iter_mut().zip(&self.shape).rev() {
            *slot = rest % n;
            rest /= n;
        }
        common.iter().zip(shape).fold(0, |acc, (d, &n)| {
            let position = self.dims.iter().position(|j| j == d).unwrap_or(0);
            acc * n + coords[position]
        })
    }
}

/// Raises superset counts wherever a declared subset exceeds them (see [`true_tables`]).
fn keep_relations(form: &Form, joints: &mut [Joint]) {
    let relations = form.subset_relations();
    let depth = |mut indicator: usize| {
        let mut depth = 0;
        while let Some(&(_, superset)) = relations.iter().find(|(sub, _)| *sub == indicator) {
            indicator = superset;
            depth += 1;
            if depth > relations.len() {
                break;
            }
        }
        depth
    };
    let mut ordered = relations.clone();
    ordered.sort_by_key(|&(sub, _)| std::cmp::Reverse(depth(sub)));
    for (sub, sup) in ordered {
        let subset = joints[sub].clone();
        let superset = &mut joints[sup];
        let common: Vec<String> = subset
            .dims
            .iter()
            .filter(|d| superset.dims.contains(d))
            .cloned()
            .collect();
        let shape: Vec<usize> = common
            .iter()
            .map(|d| {
                let position = superset.dims.iter().position(|j| j == d).unwrap_or(0);
                superset.shape[position]
            })
            .collect();
        let len: usize = shape.iter().product();
        let mut needed = vec![0u64; len];
        for (flat, &n) in subset.counts.iter().enumerate() {
            needed[subset.slice(flat, &common, &shape)] += n;
        }
        let mut have = vec![0u64; len];
        let mut largest: Vec<Option<usize>> = vec![None; len];
        for (flat, &n) in superset.counts.iter().enumerate() {
            let slice = superset.slice(flat, &common, &shape);
            have[slice] += n;
            if largest[slice].is_none_or(|l| superset.counts[l] < n) {
                largest[slice] = Some(flat);
            }
        }
        for slice in 0..len {
            if let (true, Some(cell)) = (needed[slice] > have[slice], largest[slice]) {
                superset.counts[cell] += needed[slice] - have[slice];
            }
        }
    }
}

/// The dimensions an indicator's tables use, in order of first appearance.
pub fn joint_dims(tables: &[Vec<String>]) -> Vec<String> {
    let mut dims: Vec<String> = Vec::new();
    for table in tables {
        for d in table {
            if !dims.contains(d) {
                dims.push(d.clone());
            }
        }
    }
    dims
}

/// Projects a joint table (interior counts over `joint_dims`, of `joint_shape`) onto `dims`,
/// with margins. A name of `dims` missing from `joint_dims` gets one category.
pub fn marginal(
    joint_dims: &[String],
    joint_shape: &[usize],
    joint: &[u64],
    dims: &[String],
) -> CountTable {
    let positions: Vec<Option<usize>> = dims
        .iter()
        .map(|d| joint_dims.iter().position(|j| j == d))
        .collect();
    let shape: Vec<usize> = positions
        .iter()
        .map(|p| p.map_or(1, |p| joint_shape[p]))
        .collect();
    let mut interior = vec![0u64; shape.iter().product()];
    for (flat, &count) in joint.iter().enumerate() {
        let mut coords = vec![0; joint_shape.len()];
        let mut rest = flat;
        for (slot, n) in coords.iter_mut().zip(joint_shape).rev() {
            *slot = rest % n;
            rest /= n;
        }
        let index = positions
            .iter()
            .zip(&shape)
            .fold(0, |acc, (p, &n)| acc * n + p.map_or(0, |p| coords[p]));
        interior[index] += count;
    }
    CountTable::from_interior(dims.to_vec(), Shape::new(shape), &interior)
}

/// Deterministic pseudo-random interior counts typical of a site with about 300 active clients
/// (the first indicator) and fewer for the others: a fifth zeros, many small cells.
/// `counts(position, len)` draws `len` counts for the indicator at `position`, continuing one
/// xorshift sequence seeded by `seed`.
pub fn realistic_counts(seed: u64) -> impl FnMut(usize, usize) -> Vec<u64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move |position, len| {
        let per_cell = if position == 0 { 300 } else { 60 } / len.max(1) as u64 + 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 10 {
                    0 | 1 => 0,
                    2..=4 => state / 10 % 5,
                    _ => state / 10 % (2 * per_cell + 1),
                }
            })
            .collect()
    }
}

/// The indicator that [`SyntheticReport::small_cell`] gives a small cell.
/// The first indicator with one one-dimensional table of at least three categories that is not
/// declared within another: nothing published elsewhere bounds its total from above.
fn small_total_indicator(form: &Form) -> Option<usize> {
    form.indicators.iter().position(|indicator| {
        indicator.subset_of.is_none()
            && matches!(indicator.tables.as_slice(), [dims] if dims.len() == 1
                && form.shape_of(dims).is_some_and(|s| s.categories()[0] >= 3))
    })
}

fn small_cell_indicator(form: &Form) -> Option<usize> {
    form.indicators.iter().position(|indicator| {
        matches!(indicator.tables.as_slice(), [dims] if dims.len() == 1
            && form.shape_of(dims).is_some_and(|s| s.categories()[0] >= 3))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::{check, check_report};

    fn builder(form: &Form) -> SyntheticReport<'_> {
        SyntheticReport::new(
            form,
            SiteId::new("site-01").expect("valid"),
            Period::parse("2026-10").expect("valid"),
        )
    }

    #[test]
    fn reports_fit_their_form_and_pass_the_disclosure_check() {
        let form = Form::default_monthly();
        for counts in [Counts::Realistic, Counts::NoSmallCells] {
            for seed in [1, 2] {
                let report = builder(&form)
                    .seed(seed)
                    .counts(counts)
                    .build()
                    .expect("suppresses");
                assert_eq!(report.check_against(&form), Ok(()));
                check_report(&form, &report.indicators, &report.policy)
                    .expect("passes the disclosure check");
            }
        }
    }

    #[test]
    fn true_counts_keep_the_relations_between_indicators() {
        let form = Form::default_monthly();
        assert!(!form.subset_relations().is_empty());
        for counts in [Counts::Realistic, Counts::NoSmallCells] {
            for seed in 1..=5 {
                let raw = builder(&form)
                    .seed(seed)
                    .counts(counts)
                    .build_unsuppressed();
                // Every cell published: the audit refuses any subset cell above its superset.
                crate::disclosure::audit_report(&form, &raw.indicators, &raw.policy)
                    .expect("every declared relation holds");
            }
        }
        let raw = builder(&form)
            .counts(Counts::NoSmallCells)
            .small_cell()
            .build_unsuppressed();
        crate::disclosure::audit_report(&form, &raw.indicators, &raw.policy)
            .expect("relations hold");
    }

    #[test]
    fn same_seed_same_report_other_seed_other_counts() {
        let form = Form::default_monthly();
        assert_eq!(
            builder(&form).seed(4).build().expect("suppresses"),
            builder(&form).seed(4).build().expect("suppresses")
        );
        assert_ne!(
            builder(&form).seed(4).truth(),
            builder(&form).seed(5).truth()
        );
    }

    #[test]
    fn no_small_cells_publishes_everything_and_small_cell_adds_one() {
        let form = Form::default_monthly();
        let whole = builder(&form)
            .counts(Counts::NoSmallCells)
            .build()
            .expect("suppresses");
        assert_eq!(
            whole,
            builder(&form)
                .counts(Counts::NoSmallCells)
                .build_unsuppressed()
        );
        let small = builder(&form).counts(Counts::NoSmallCells).small_cell();
        let position = small_cell_indicator(&form).expect("the default form has one");
        assert_eq!(form.indicators[position].id, "clients_methadone");
        let raw = small.build_unsuppressed();
        assert!(
            raw.indicators[position].tables[0]
                .cells
                .contains(&Cell::Exact(2))
        );
        let published = small.build().expect("suppresses");
        assert!(
            published.indicators[position].tables[0]
                .cells
                .contains(&Cell::Suppressed)
        );
    }

    #[test]
    fn small_total_hides_the_total_and_leaves_it_unbounded() {
        let form = Form::default_monthly();
        let position = small_total_indicator(&form).expect("the default form has one");
        let report = builder(&form)
            .counts(Counts::NoSmallCells)
            .small_total()
            .build()
            .expect("suppresses");
        let table = &report.indicators[position].tables[0];
        assert_eq!(table.cells.last(), Some(&Cell::Suppressed));
        let audit = check(
            &form.shapes(&form.indicators[position]),
            &report.indicators[position].tables,
            &report.policy,
        )
        .expect("passes the disclosure check");
        let total = audit.tables[0].last().copied().flatten().expect("hidden");
        assert!(total.is_unbounded(), "{total:?}");
    }

    #[test]
    fn revision_chain_fields_are_as_given() {
        let form = Form::default_monthly();
        let previous = crate::Sha256Hash([7; 32]);
        let report = builder(&form)
            .revision(2)
            .supersedes(Some(previous))
            .policy(DisclosurePolicy::CMS)
            .generated_at(42)
            .build()
            .expect("suppresses");
        assert_eq!(report.check_against(&form), Ok(()));
        assert_eq!(
            (
                report.revision,
                report.supersedes,
                report.policy,
                report.generated_at
            ),
            (2, Some(previous), DisclosurePolicy::CMS, 42)
        );
    }
}
