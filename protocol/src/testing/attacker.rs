//! An outsider who attacks one indicator's publication by brute force (feature `test-util`),
//! written independently of the audit so that disclosure control can be tested against it.
//!
//! # The attacker model (issue 10)
//! An outsider — a curious coordinator, a donor, anyone holding every package and every
//! revision — knows:
//! - (a) every published cell of every table of every indicator;
//! - (b) the publication rule and the suppression algorithm's code;
//! - (c) the relations between indicators that the form declares;
//! - (d) every earlier revision of the same site, form and period;
//! - (e) that counts are non-negative integers.
//!
//! # What this attacker implements
//! One revision of one indicator: (a) restricted to that indicator's tables, (e) exactly (whole
//! numbers, no linear relaxation), and (b) through two switches of [`AttackerKnowledge`]:
//! - `zeros_published`: the rule publishes every zero, so every hidden cell is at least 1;
//! - `replay`: a candidate is kept only if running the first-found algorithm on it under the
//!   report's policy hides exactly the cells that were hidden ("the pattern itself speaks").
//!
//! [`Attacker::attack_over_secrets`] replays today's randomised algorithm ([`suppress`]) over a
//! given space of secrets instead, keeping a candidate if some secret reproduces the pattern.
//!
//! Relations between indicators (c) and earlier revisions (d) are not implemented yet: the
//! attacker is weaker than the model by exactly those, so what it proves an outsider can prove,
//! while a publication it cannot break may still fall to a stronger one.
//!
//! # How it works
//! [`Attacker::attack`] enumerates, table after table, every non-negative integer interior of
//! every table of the indicator that agrees with every published cell and with the quantities
//! the tables share (a margin over common dimensions, always the grand total): a depth-first
//! search over the hidden interior cells, pruned by the published margins. Each complete
//! candidate is then filtered by the knowledge switches, and each hidden quantity's set of
//! values over the surviving candidates is recorded. It uses only [`Shape`] and [`CountTable`]
//! for the layout and [`suppress`] for the replay: never the audit, `check` or the bounds
//! code, so that a fault there cannot hide itself here.
//!
//! Tables are enumerated separately and linked only through their shared cells, which is exact
//! when the tables' dimension sets form a tree (every indicator of the forms today: tables share
//! at most the total, or one table's dimensions contain the other's). With three or more tables
//! overlapping in a cycle a candidate might not come from any joint table: the attacker may then
//! keep too many candidates, never too few.
//!
//! # Limits, never silent
//! When the grand total is hidden, nothing published bounds the tables; the search stops at a
//! total of [`SearchLimits::total_cap`], and if a surviving candidate reaches it the result
//! says so ([`LimitHit::TotalCap`]). The search also stops after
//! [`SearchLimits::max_candidates`] complete candidates or [`SearchLimits::max_steps`] search
//! steps. Whenever a limit is hit, [`HiddenCell::proven_lower`] falls back to what holds for
//! every candidate by construction (0, or 1 with `zeros_published`) and
//! [`HiddenCell::proven_upper`] to `None`: nothing is claimed that the search did not prove.
//!
//! # Measuring today's algorithm
//! [`measure`] draws small random tables and small synthetic sites (20 to 100 clients),
//! publishes them with [`suppress`], attacks every indicator with every combination of
//! knowledge, and counts the primary cells (true value `0 < n < k`) the attacker proves
//! non-zero, bounds below `k`, or discloses exactly:
//!
//! ```text
//! cargo run --release -p quietcount-protocol --features test-util --example attack [SEEDS]
//! ```
//!
//! The figures document today's weakness; the tests here check the attacker (hand-made
//! publications, a naive enumeration, the truth always among the survivors), never the
//! algorithm's safety.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::disclosure::{Strategy, SuppressionSecret, suppress, suppress_with};
use crate::error::DisclosureError;
use crate::form::Form;
use crate::report::{Cell, DisclosurePolicy, Table, ZeroPolicy};
use crate::table::{CountTable, Shape};

use super::{marginal, true_tables};

/// What the attacker knows besides the published cells and that counts are whole and
/// non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttackerKnowledge {
    /// The rule publishes every zero, so a hidden cell is at least 1.
    pub zeros_published: bool,
    /// Keep only candidates on which the first-found algorithm ([`Strategy::FirstFound`], which
    /// has no secret) reproduces the observed pattern. Meaningful for its publications only.
    pub replay: bool,
    /// The facts today's rule gives whatever its secret (written here from the rule's text,
    /// not from its code): a hidden grand total of an indicator that publishes a non-zero cell
    /// is at most `2k − 2`, and at least `k` only if the indicator has a small cell; every
    /// small cell's values include `k` or more, and also 0 unless zeros are published, so a
    /// hidden quantity without such values is not small.
    pub rule_facts: bool,
}

impl AttackerKnowledge {
    /// Every combination of the first two switches, weakest first: the attacks on the
    /// first-found algorithm.
    pub const ALL_COMBINATIONS: [Self; 4] = [
        Self {
            zeros_published: false,
            replay: false,
            rule_facts: false,
        },
        Self {
            zeros_published: true,
            replay: false,
            rule_facts: false,
        },
        Self {
            zeros_published: false,
            replay: true,
            rule_facts: false,
        },
        Self {
            zeros_published: true,
            replay: true,
            rule_facts: false,
        },
    ];

    /// Everything an outsider knows of a publication of today's rule under `policy`.
    pub fn of_rule(policy: &DisclosurePolicy) -> Self {
        Self {
            zeros_published: policy.zeros == ZeroPolicy::Published,
            replay: false,
            rule_facts: true,
        }
    }
}

impl fmt::Display for AttackerKnowledge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on_off = |b: bool| if b { "on " } else { "off" };
        write!(
            f,
            "zeros published {}, replay {}, rule {}",
            on_off(self.zeros_published),
            on_off(self.replay),
            on_off(self.rule_facts)
        )
    }
}

/// How far the search goes before it stops and says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// The largest grand total tried when the grand total is hidden.
    pub total_cap: u64,
    /// The most complete candidates examined (before replay).
    pub max_candidates: u64,
    /// The most search steps (cells tried), so that a search with many dead ends also stops.
    pub max_steps: u64,
}

impl Default for SearchLimits {
    /// A total of 60, 100 000 candidates, 20 million steps.
    fn default() -> Self {
        Self {
            total_cap: 60,
            max_candidates: 100_000,
            max_steps: 20_000_000,
        }
    }
}

/// Which limit stopped the search; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// A surviving candidate's hidden grand total equals the cap: larger totals were not tried.
    TotalCap {
        /// The cap.
        cap: u64,
    },
    /// The search stopped after this many complete candidates.
    Candidates {
        /// Candidates examined.
        examined: u64,
    },
    /// The search stopped after this many steps.
    Steps {
        /// Steps taken.
        steps: u64,
    },
}

/// The attacker: its knowledge and its search limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attacker {
    /// What it knows.
    pub knowledge: AttackerKnowledge,
    /// How far it searches.
    pub limits: SearchLimits,
}

/// What the attacker learnt about one hidden quantity (a cell, or a margin shared by several
/// tables of the indicator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenCell {
    /// Every (table, cell) where the quantity appears, in table order.
    pub occurrences: Vec<(usize, usize)>,
    /// Every value it takes in a surviving candidate (within the limits).
    pub values: BTreeSet<u64>,
    /// The least value it can take: proven by the complete search, or, when a limit was hit or
    /// no candidate survived, only what holds by construction (0, or 1 with `zeros_published`).
    pub proven_lower: u64,
    /// The greatest value it can take, `None` when the search did not bound it (a limit hit, or
    /// no candidate survived).
    pub proven_upper: Option<u64>,
    /// The true value, when the caller gave the truth.
    pub truth: Option<u64>,
}

impl HiddenCell {
    /// Whether the truth is a primary (`0 < n < k`), when the caller gave the truth.
    pub fn is_primary(&self, k: u32) -> Option<bool> {
        self.truth.map(|n| n > 0 && n < u64::from(k))
    }

    /// Whether the attacker proved the quantity is not zero.
    pub fn proven_non_zero(&self) -> bool {
        self.proven_lower >= 1
    }

    /// Whether the attacker proved the quantity is below `k`.
    pub fn bounded_below(&self, k: u32) -> bool {
        self.proven_upper.is_some_and(|upper| upper < u64::from(k))
    }

    /// Whether the attacker proved the exact value.
    pub fn disclosed(&self) -> bool {
        self.proven_upper == Some(self.proven_lower)
    }
}

/// The result of one attack on one indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attack {
    /// Every distinct hidden quantity, in order of first appearance.
    pub cells: Vec<HiddenCell>,
    /// Complete candidates consistent with the published cells (and `zeros_published`).
    pub candidates: u64,
    /// Candidates left after replay (equal to `candidates` without replay).
    pub survivors: u64,
    /// The limit that stopped the search, if any.
    pub limit: Option<LimitHit>,
    /// Whether the truth was among the surviving candidates: `None` when no truth was given, or
    /// when its grand total is hidden and above the cap, so that the search could not meet it.
    pub truth_survived: Option<bool>,
}

impl Attack {
    /// The hidden quantity at (table, cell), if that cell is hidden.
    pub fn cell(&self, table: usize, cell: usize) -> Option<&HiddenCell> {
        self.cells
            .iter()
            .find(|c| c.occurrences.contains(&(table, cell)))
    }

    /// Whether the search was complete, so that every bound is proven.
    pub fn is_conclusive(&self) -> bool {
        self.limit.is_none()
    }
}

/// Why an attack could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttackError {
    /// Not one shape per table.
    #[error("{shapes} shapes for {tables} tables")]
    TableCount {
        /// Shapes given.
        shapes: usize,
        /// Tables given.
        tables: usize,
    },
    /// A table's cells do not fit its shape.
    #[error("table {table} has {cells} cells, its shape needs {expected}")]
    CellCount {
        /// Table position.
        table: usize,
        /// Cells given.
        cells: usize,
        /// Cells the shape has.
        expected: usize,
    },
    /// A table names more or fewer dimensions than its shape has.
    #[error("table {table} names {names} dimensions, its shape has {rank}")]
    DimensionCount {
        /// Table position.
        table: usize,
        /// Names given.
        names: usize,
        /// The shape's rank.
        rank: usize,
    },
    /// A dimension has different sizes in two tables.
    #[error("dimension {name:?} has different sizes in two tables")]
    DimensionSize {
        /// The dimension.
        name: String,
    },
    /// The truth given does not have the published tables' layout.
    #[error("the truth does not have the published tables' layout")]
    TruthLayout,
    /// Running suppression (to replay it, or in [`measure`] to publish) failed.
    #[error("suppress failed: {0}")]
    Suppress(#[from] DisclosureError),
    /// A threshold [`measure`] was given is below the minimum.
    #[error("policy: {0}")]
    Policy(#[from] crate::error::MismatchError),
}

impl Attacker {
    /// An attacker with this knowledge and the default limits.
    pub fn new(knowledge: AttackerKnowledge) -> Self {
        Self {
            knowledge,
            limits: SearchLimits::default(),
        }
    }

    /// Attacks one indicator's `published` tables, of `shapes`, published under `policy` (the
    /// policy travels in the report, so the attacker knows it). `truth`, if given, is only
    /// compared with, never used to search.
    pub fn attack(
        &self,
        shapes: &[Shape],
        published: &[Table],
        policy: &DisclosurePolicy,
        truth: Option<&[CountTable]>,
    ) -> Result<Attack, AttackError> {
        self.attack_over_secrets(shapes, published, policy, truth, &[])
    }

    /// [`Attacker::attack`], replaying today's algorithm ([`suppress`] with
    /// [`Strategy::InformationLoss`]) over every secret of `secrets`: a candidate table is kept
    /// only if some secret of the space, run through [`suppress`] on it under `policy`, hides
    /// exactly the cells that were hidden. The attacker is told that the site's secret is one of
    /// `secrets`; with an empty slice nothing is replayed this way.
    ///
    /// The real secret space (32 bytes) cannot be enumerated; tests pass a reduced space that
    /// contains the secret actually used. That is sound for the promise: every (table, secret)
    /// pair kept over the reduced space is also kept over the full one, so each hidden
    /// quantity's possible values over the reduced space are a subset of those over the full
    /// space, and a promise the reduced replay cannot break holds against the full replay too
    /// (the converse is not true: a reduced space may break a promise the full one keeps).
    pub fn attack_over_secrets(
        &self,
        shapes: &[Shape],
        published: &[Table],
        policy: &DisclosurePolicy,
        truth: Option<&[CountTable]>,
        secrets: &[SuppressionSecret],
    ) -> Result<Attack, AttackError> {
        let layout = Layout::build(shapes, published)?;
        if layout.tables.is_empty() {
            return Ok(Attack {
                cells: Vec::new(),
                candidates: 0,
                survivors: 0,
                limit: None,
                truth_survived: None,
            });
        }
        if let Some(truth) = truth {
            let fits = truth.len() == published.len()
                && truth
                    .iter()
                    .zip(&layout.tables)
                    .all(|(t, l)| t.cells.len() == l.shape.full_len());
            if !fits {
                return Err(AttackError::TruthLayout);
            }
        }
        let mut search = Search {
            layout: &layout,
            published,
            policy,
            attacker: self,
            truth,
            secrets,
            full: layout
                .tables
                .iter()
                .map(|t| vec![0; t.shape.full_len()])
                .collect(),
            survivors_hidden: Vec::new(),
            truth_index: None,
            candidates: 0,
            survivors: 0,
            steps: 0,
            limit: None,
            reached_cap: false,
            truth_survived: false,
        };
        search.table(0)?;
        if self.knowledge.rule_facts && search.limit.is_none() {
            search.keep_small_cells_possible();
        }
        let hidden: Vec<usize> = (0..layout.quantities.len())
            .filter(|&q| layout.quantities[q].hidden)
            .collect();
        let mut values = vec![BTreeSet::new(); hidden.len()];
        for candidate in &search.survivors_hidden {
            for (set, &value) in values.iter_mut().zip(candidate) {
                set.insert(value);
            }
        }
        search.survivors = search.survivors_hidden.len() as u64;
        search.truth_survived = search.truth_index.is_some();
        let limit = search
            .limit
            .or(search.reached_cap.then_some(LimitHit::TotalCap {
                cap: self.limits.total_cap,
            }));
        let floor = u64::from(self.knowledge.zeros_published);
        let proven = limit.is_none() && search.survivors > 0;
        let cells = hidden
            .iter()
            .map(|&q| &layout.quantities[q])
            .zip(values)
            .map(|(q, values)| HiddenCell {
                occurrences: q.occurrences.clone(),
                proven_lower: if proven {
                    values.first().copied().unwrap_or(floor)
                } else {
                    floor
                },
                proven_upper: if proven { values.last().copied() } else { None },
                truth: truth.map(|truth| {
                    let (t, c) = q.occurrences[0];
                    truth[t].cells[c]
                }),
                values,
            })
            .collect();
        Ok(Attack {
            cells,
            candidates: search.candidates,
            survivors: search.survivors,
            limit,
            truth_survived: truth
                .filter(|truth| {
                    let total = layout.tables[0].shape.total_index();
                    published[0].cells[total] != Cell::Suppressed
                        || truth[0].cells[total] <= self.limits.total_cap
                })
                .map(|_| search.truth_survived),
        })
    }
}

/// The layout of an indicator's tables: which cells are the same quantity, which are hidden.
struct Layout {
    tables: Vec<TableLayout>,
    quantities: Vec<Quantity>,
}

struct TableLayout {
    dimensions: Vec<String>,
    shape: Shape,
    /// Per interior position (row-major over categories): its index among all cells.
    interior_full: Vec<usize>,
    /// Per interior position: every cell that adds it up, itself included.
    covers: Vec<Vec<usize>>,
    /// Per cell: where the same quantity first appears, if in an earlier table.
    earlier: Vec<Option<(usize, usize)>>,
}

struct Quantity {
    occurrences: Vec<(usize, usize)>,
    /// Hidden in some table where it appears (a consistent publication hides it everywhere).
    hidden: bool,
}

impl Layout {
    fn build(shapes: &[Shape], published: &[Table]) -> Result<Self, AttackError> {
        if shapes.len() != published.len() {
            return Err(AttackError::TableCount {
                shapes: shapes.len(),
                tables: published.len(),
            });
        }
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        let mut keys: HashMap<Vec<(String, usize)>, usize> = HashMap::new();
        let mut quantities: Vec<Quantity> = Vec::new();
        let mut tables = Vec::with_capacity(shapes.len());
        for (t, (shape, table)) in shapes.iter().zip(published).enumerate() {
            if table.cells.len() != shape.full_len() {
                return Err(AttackError::CellCount {
                    table: t,
                    cells: table.cells.len(),
                    expected: shape.full_len(),
                });
            }
            if table.dimensions.len() != shape.rank() {
                return Err(AttackError::DimensionCount {
                    table: t,
                    names: table.dimensions.len(),
                    rank: shape.rank(),
                });
            }
            for (name, &n) in table.dimensions.iter().zip(shape.categories()) {
                if *sizes.entry(name.as_str()).or_insert(n) != n {
                    return Err(AttackError::DimensionSize { name: name.clone() });
                }
            }
            let mut earlier = Vec::with_capacity(shape.full_len());
            for (index, cell) in table.cells.iter().enumerate() {
                // A quantity is named by the categories it fixes, whatever the table.
                let mut key: Vec<(String, usize)> = shape
                    .coords(index)
                    .iter()
                    .enumerate()
                    .filter(|&(d, &c)| !shape.is_margin(d, c))
                    .map(|(d, &c)| (table.dimensions[d].clone(), c))
                    .collect();
                key.sort_unstable();
                let next = quantities.len();
                let q = *keys.entry(key).or_insert(next);
                if q == next {
                    quantities.push(Quantity {
                        occurrences: Vec::new(),
                        hidden: false,
                    });
                }
                earlier.push(
                    quantities[q]
                        .occurrences
                        .first()
                        .copied()
                        .filter(|&(first, _)| first < t),
                );
                quantities[q].occurrences.push((t, index));
                quantities[q].hidden |= *cell == Cell::Suppressed;
            }
            let categories = shape.categories();
            let rank = categories.len();
            let mut interior_full = Vec::with_capacity(shape.interior_len());
            let mut covers = Vec::with_capacity(shape.interior_len());
            for position in 0..shape.interior_len() {
                let mut coords = vec![0; rank];
                let mut rest = position;
                for (slot, n) in coords.iter_mut().zip(categories).rev() {
                    *slot = rest % n;
                    rest /= n;
                }
                interior_full.push(shape.index(&coords));
                covers.push(
                    (0..(1usize << rank))
                        .map(|mask| {
                            let target: Vec<usize> = (0..rank)
                                .map(|d| {
                                    if mask & (1 << d) != 0 {
                                        categories[d]
                                    } else {
                                        coords[d]
                                    }
                                })
                                .collect();
                            shape.index(&target)
                        })
                        .collect(),
                );
            }
            tables.push(TableLayout {
                dimensions: table.dimensions.clone(),
                shape: shape.clone(),
                interior_full,
                covers,
                earlier,
            });
        }
        Ok(Self { tables, quantities })
    }
}

/// The depth-first search's state.
struct Search<'a> {
    layout: &'a Layout,
    published: &'a [Table],
    policy: &'a DisclosurePolicy,
    attacker: &'a Attacker,
    truth: Option<&'a [CountTable]>,
    /// The secret space replayed over (empty: no such replay).
    secrets: &'a [SuppressionSecret],
    /// Per table, every cell of the current candidate (tables before the current one).
    full: Vec<Vec<u64>>,
    /// Per surviving candidate, the value of every hidden quantity (in quantity order).
    survivors_hidden: Vec<Vec<u64>>,
    /// Which surviving candidate is the truth.
    truth_index: Option<usize>,
    candidates: u64,
    survivors: u64,
    steps: u64,
    limit: Option<LimitHit>,
    reached_cap: bool,
    truth_survived: bool,
}

/// One table's search: the bound on each constrained cell and what is assigned so far.
struct TableSearch {
    /// Per cell: `(bound, exact)`: the cell must equal `bound` (published, or fixed by an
    /// earlier table) or, for a hidden grand total, be at most the cap.
    bound: Vec<Option<(u64, bool)>>,
    /// Per cell: the sum of the interior values assigned so far under it.
    partial: Vec<u64>,
    /// The interior values.
    interior: Vec<u64>,
    /// The free interior positions, in search order.
    free: Vec<usize>,
    /// Per free position: each bounded cell over it, with how many free positions after it
    /// that cell also covers.
    after: Vec<Vec<(usize, u64)>>,
}

impl Search<'_> {
    /// Searches table `t` and everything after it; `Ok(false)` once a limit stops the search.
    fn table(&mut self, t: usize) -> Result<bool, AttackError> {
        if t == self.layout.tables.len() {
            return self.complete();
        }
        let table = &self.layout.tables[t];
        let floor = u64::from(self.attacker.knowledge.zeros_published);
        let shape = &table.shape;
        let mut bound: Vec<Option<(u64, bool)>> = (0..shape.full_len())
            .map(|c| match self.published[t].cells[c] {
                Cell::Exact(n) => Some((n, true)),
                Cell::Suppressed => table.earlier[c].map(|(et, ec)| (self.full[et][ec], true)),
            })
            .collect();
        let total = shape.total_index();
        if bound[total].is_none() {
            bound[total] = Some((self.attacker.limits.total_cap, false));
        }
        let mut partial = vec![0u64; shape.full_len()];
        let mut interior = vec![0u64; shape.interior_len()];
        let mut free = Vec::new();
        for (position, &cell) in table.interior_full.iter().enumerate() {
            match bound[cell] {
                Some((n, true)) => {
                    interior[position] = n;
                    for &c in &table.covers[position] {
                        partial[c] += n;
                    }
                }
                _ => free.push(position),
            }
        }
        let mut after = vec![Vec::new(); free.len()];
        let mut later = vec![0u64; shape.full_len()];
        for (i, &position) in free.iter().enumerate().rev() {
            for &c in &table.covers[position] {
                if bound[c].is_some() {
                    after[i].push((c, later[c]));
                }
            }
            for &c in &table.covers[position] {
                later[c] += 1;
            }
        }
        // Fixed cells alone may already exceed a bound.
        let feasible = (0..shape.full_len()).all(|c| match bound[c] {
            Some((b, _)) => partial[c] + floor * later[c] <= b,
            None => true,
        });
        if !feasible {
            return Ok(true);
        }
        let mut state = TableSearch {
            bound,
            partial,
            interior,
            free,
            after,
        };
        self.assign(t, &mut state, 0)
    }

    /// Tries every value of free position `i` of table `t`, then the next.
    fn assign(&mut self, t: usize, state: &mut TableSearch, i: usize) -> Result<bool, AttackError> {
        self.steps += 1;
        if self.steps > self.attacker.limits.max_steps {
            self.limit = Some(LimitHit::Steps { steps: self.steps });
            return Ok(false);
        }
        if i == state.free.len() {
            return self.finish_table(t, state);
        }
        let floor = u64::from(self.attacker.knowledge.zeros_published);
        let (mut low, mut high) = (floor, u64::MAX);
        for &(c, later) in &state.after[i] {
            let Some((b, exact)) = state.bound[c] else {
                continue;
            };
            let room = b.checked_sub(state.partial[c] + floor * later);
            let Some(room) = room else {
                return Ok(true);
            };
            high = high.min(room);
            if exact && later == 0 {
                // The last free cell under an exact cell: forced.
                low = low.max(room);
            }
        }
        if low > high {
            return Ok(true);
        }
        let position = state.free[i];
        let covers = &self.layout.tables[t].covers[position];
        for value in low..=high {
            state.interior[position] = value;
            for &c in covers {
                state.partial[c] += value;
            }
            let go_on = self.assign(t, state, i + 1);
            for &c in covers {
                state.partial[c] -= value;
            }
            if !go_on? {
                return Ok(false);
            }
        }
        state.interior[position] = 0;
        Ok(true)
    }

    /// Checks a complete interior of table `t` against everything known, then goes on.
    fn finish_table(&mut self, t: usize, state: &TableSearch) -> Result<bool, AttackError> {
        let table = &self.layout.tables[t];
        let zeros_published = self.attacker.knowledge.zeros_published;
        let built = CountTable::from_interior(
            table.dimensions.clone(),
            table.shape.clone(),
            &state.interior,
        );
        for (c, &n) in built.cells.iter().enumerate() {
            let fits = match self.published[t].cells[c] {
                Cell::Exact(m) => n == m,
                Cell::Suppressed => !(zeros_published && n == 0),
            } && table.earlier[c].is_none_or(|(et, ec)| self.full[et][ec] == n)
                && state.bound[c].is_none_or(|(b, exact)| if exact { n == b } else { n <= b });
            if !fits {
                return Ok(true);
            }
        }
        self.full[t] = built.cells;
        self.table(t + 1)
    }

    /// A complete candidate: count it, replay it if asked, record its hidden values.
    fn complete(&mut self) -> Result<bool, AttackError> {
        self.candidates += 1;
        if self.candidates > self.attacker.limits.max_candidates {
            self.candidates -= 1;
            self.limit = Some(LimitHit::Candidates {
                examined: self.candidates,
            });
            return Ok(false);
        }
        if self.attacker.knowledge.replay || !self.secrets.is_empty() {
            let candidate: Vec<CountTable> = self
                .layout
                .tables
                .iter()
                .zip(&self.full)
                .map(|(table, cells)| CountTable {
                    dimensions: table.dimensions.clone(),
                    shape: table.shape.clone(),
                    cells: cells.clone(),
                })
                .collect();
            let same_pattern = |replayed: &[Table]| {
                replayed.iter().zip(self.published).all(|(r, p)| {
                    r.cells
                        .iter()
                        .zip(&p.cells)
                        .all(|(a, b)| (*a == Cell::Suppressed) == (*b == Cell::Suppressed))
                })
            };
            if self.attacker.knowledge.replay {
                let replayed = suppress_with(&candidate, self.policy, Strategy::FirstFound)?;
                if !same_pattern(&replayed) {
                    return Ok(true);
                }
            }
            if !self.secrets.is_empty() {
                let mut kept = false;
                for secret in self.secrets {
                    let replayed = suppress(&candidate, self.policy, secret)?;
                    if same_pattern(&replayed) {
                        kept = true;
                        break;
                    }
                }
                if !kept {
                    return Ok(true);
                }
            }
        }
        let total = self.layout.tables[0].shape.total_index();
        let total_hidden = self.published[0].cells[total] == Cell::Suppressed;
        if self.attacker.knowledge.rule_facts && total_hidden && !self.total_hiding_fits_rule() {
            return Ok(true);
        }
        if total_hidden && self.full[0][total] >= self.attacker.limits.total_cap {
            self.reached_cap = true;
        }
        let hidden: Vec<u64> = self
            .layout
            .quantities
            .iter()
            .filter(|q| q.hidden)
            .map(|q| {
                let (t, c) = q.occurrences[0];
                self.full[t][c]
            })
            .collect();
        if let Some(truth) = self.truth {
            if truth.iter().zip(&self.full).all(|(a, b)| &a.cells == b) {
                self.truth_index = Some(self.survivors_hidden.len());
            }
        }
        self.survivors_hidden.push(hidden);
        Ok(true)
    }

    /// The rule's fact about a hidden grand total, for the current candidate: when the
    /// indicator publishes a non-zero cell, the total is at most `2k − 2`, and if at least `k`
    /// the indicator has a small cell.
    fn total_hiding_fits_rule(&self) -> bool {
        let publishes_non_zero = self
            .published
            .iter()
            .flat_map(|t| &t.cells)
            .any(|c| matches!(c, Cell::Exact(n) if *n > 0));
        if !publishes_non_zero {
            return true;
        }
        let k = u64::from(self.policy.k);
        let total = self.full[0][self.layout.tables[0].shape.total_index()];
        let has_small = self.full.iter().flatten().any(|&n| n > 0 && n < k);
        total <= 2 * k - 2 && (total < k || has_small)
    }

    /// The rule's promise, turned against it: a hidden quantity is small only if its values
    /// over the survivors include `k` or more (and 0, unless zeros are published). A quantity
    /// that cannot be small is 0 or at least `k` in every candidate: drop the others, and repeat
    /// until nothing changes.
    fn keep_small_cells_possible(&mut self) {
        let k = u64::from(self.policy.k);
        let needs_zero = !self.attacker.knowledge.zeros_published;
        loop {
            let count = self.survivors_hidden.first().map_or(0, Vec::len);
            let not_small: Vec<usize> = (0..count)
                .filter(|&q| {
                    let reaches = self.survivors_hidden.iter().any(|c| c[q] >= k);
                    let zero = self.survivors_hidden.iter().any(|c| c[q] == 0);
                    !(reaches && (zero || !needs_zero))
                })
                .collect();
            let truth = self.truth_index.map(|i| self.survivors_hidden[i].clone());
            let before = self.survivors_hidden.len();
            self.survivors_hidden
                .retain(|c| not_small.iter().all(|&q| c[q] == 0 || c[q] >= k));
            self.truth_index =
                truth.and_then(|t| self.survivors_hidden.iter().position(|c| *c == t));
            if self.survivors_hidden.len() == before {
                return;
            }
        }
    }
}

/// What [`measure`] runs over: every case is drawn for every seed and every `k`, and attacked
/// with every combination of [`AttackerKnowledge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementPlan {
    /// The seeds, one draw of every case each.
    pub seeds: Vec<u64>,
    /// The thresholds.
    pub ks: Vec<u32>,
    /// The least and greatest number of clients of a drawn table or site.
    pub clients: (u64, u64),
    /// The shapes of the random one-indicator tables (one table each).
    pub random_shapes: Vec<Shape>,
    /// Whether to attack small synthetic sites of the default form too, indicator by indicator.
    pub sites: bool,
    /// The attacker's search limits.
    pub limits: SearchLimits,
}

impl Default for MeasurementPlan {
    /// 8 seeds, k = 5 and 11, 20 to 100 clients, tables of 3, 4 and 6 categories and of 2 x 3,
    /// 3 x 3 and 3 x 4, and sites; the search stops at 10 000 candidates or 2 million steps per
    /// indicator (each candidate replayed costs one run of [`suppress`]).
    fn default() -> Self {
        Self {
            seeds: (1..=8).collect(),
            ks: vec![5, 11],
            clients: (20, 100),
            random_shapes: [
                vec![3],
                vec![4],
                vec![6],
                vec![2, 3],
                vec![3, 3],
                vec![3, 4],
            ]
            .into_iter()
            .map(Shape::new)
            .collect(),
            sites: true,
            limits: SearchLimits {
                max_candidates: 10_000,
                max_steps: 2_000_000,
                ..SearchLimits::default()
            },
        }
    }
}

/// Counts over the primary cells (true value `0 < n < k`) of one group of attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Indicators attacked.
    pub indicators: u64,
    /// Indicators whose search hit a limit.
    pub inconclusive: u64,
    /// Primary cells.
    pub primaries: u64,
    /// Primary cells of indicators whose search hit no limit (the others are counted as not
    /// broken, so every share below is a lower bound on what an unlimited search proves).
    pub conclusive_primaries: u64,
    /// Primaries the attacker proved non-zero.
    pub proven_non_zero: u64,
    /// Primaries the attacker bounded below k.
    pub bounded_below_k: u64,
    /// Primaries whose exact value the attacker proved.
    pub disclosed: u64,
    /// Attacks that completed without the truth among the survivors, or with a true value
    /// outside its proven bounds: a fault of the attacker, always 0.
    pub truth_missed: u64,
}

impl Tally {
    fn add(&mut self, attack: &Attack, k: u32) {
        self.indicators += 1;
        self.inconclusive += u64::from(!attack.is_conclusive());
        let complete = matches!(attack.limit, None | Some(LimitHit::TotalCap { .. }));
        if complete && attack.truth_survived == Some(false) {
            self.truth_missed += 1;
        }
        for cell in &attack.cells {
            if let Some(n) = cell.truth {
                if n < cell.proven_lower || cell.proven_upper.is_some_and(|u| n > u) {
                    self.truth_missed += 1;
                }
            }
            if cell.is_primary(k) != Some(true) {
                continue;
            }
            self.primaries += 1;
            self.conclusive_primaries += u64::from(attack.is_conclusive());
            self.proven_non_zero += u64::from(cell.proven_non_zero());
            self.bounded_below_k += u64::from(cell.bounded_below(k));
            self.disclosed += u64::from(cell.disclosed());
        }
    }
}

/// One line of a [`Measurement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementRow {
    /// Which algorithm published: see [`ALGORITHMS`].
    pub algorithm: &'static str,
    /// Which cases: `random 1-D`, `random 2-D` or `sites`.
    pub source: &'static str,
    /// The threshold.
    pub k: u32,
    /// The attacker's knowledge.
    pub knowledge: AttackerKnowledge,
    /// What it achieved.
    pub tally: Tally,
}

/// The result of [`measure`]: one row per source, k and knowledge; printed as a table whose
/// last three columns are shares of all primaries: proven non-zero, bounded below k, disclosed
/// exactly. A primary of an inconclusive search counts as not broken, so each share is a lower
/// bound.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Measurement {
    /// The rows, by source, then k, then knowledge.
    pub rows: Vec<MeasurementRow>,
}

impl Measurement {
    /// The sum of every row's faults: 0 unless the attacker is wrong.
    pub fn truth_missed(&self) -> u64 {
        self.rows.iter().map(|r| r.tally.truth_missed).sum()
    }

    fn row(
        &mut self,
        algorithm: &'static str,
        source: &'static str,
        k: u32,
        knowledge: AttackerKnowledge,
    ) -> &mut Tally {
        let position = self
            .rows
            .iter()
            .position(|r| {
                r.algorithm == algorithm
                    && r.source == source
                    && r.k == k
                    && r.knowledge == knowledge
            })
            .unwrap_or_else(|| {
                self.rows.push(MeasurementRow {
                    algorithm,
                    source,
                    k,
                    knowledge,
                    tally: Tally::default(),
                });
                self.rows.len() - 1
            });
        &mut self.rows[position].tally
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = |part: u64, whole: u64| {
            if whole == 0 {
                "        -".to_owned()
            } else {
                format!("{part:>4} {:>3.0}%", 100.0 * part as f64 / whole as f64)
            }
        };
        writeln!(
            f,
            "{:<15} {:<11} {:>3}  {:<42} {:>10} {:>12} {:>9} {:>10} {:>9} {:>9} {:>9}",
            "algorithm",
            "source",
            "k",
            "knowledge",
            "indicators",
            "inconclusive",
            "primaries",
            "conclusive",
            "non-zero",
            "below k",
            "exact"
        )?;
        for row in &self.rows {
            let t = &row.tally;
            writeln!(
                f,
                "{:<15} {:<11} {:>3}  {:<42} {:>10} {:>12} {:>9} {:>10} {:>9} {:>9} {:>9}",
                row.algorithm,
                row.source,
                row.k,
                row.knowledge.to_string(),
                t.indicators,
                t.inconclusive,
                t.primaries,
                t.conclusive_primaries,
                share(t.proven_non_zero, t.primaries),
                share(t.bounded_below_k, t.primaries),
                share(t.disclosed, t.primaries),
            )?;
        }
        Ok(())
    }
}

/// The algorithms [`measure`] compares: `first-found` (the algorithm before the rule's facts
/// were audited; zeros published, no secret), attacked with every combination of
/// [`AttackerKnowledge::ALL_COMBINATIONS`]; and today's, under each zero policy (`protected`,
/// `zeros-published`), attacked with everything an outsider knows of it
/// ([`AttackerKnowledge::of_rule`]).
pub const ALGORITHMS: [&str; 3] = ["first-found", "protected", "zeros-published"];

/// Draws the cases of `plan`, suppresses each with every algorithm of [`ALGORITHMS`], and
/// attacks every indicator as that list says.
///
/// Random tables: one table of each shape of `plan.random_shapes`, with a number of clients
/// drawn between `plan.clients`, spread over the cells with uneven weights (about a quarter of
/// the cells empty). Sites: every indicator of [`Form::default_monthly`], its tables the margins
/// of one joint table as [`true_tables`] builds them, the first indicator (active clients)
/// with a drawn number of clients, every other with at most as many.
pub fn measure(plan: &MeasurementPlan) -> Result<Measurement, AttackError> {
    let mut measurement = Measurement::default();
    let form = Form::default_monthly();
    for &k in &plan.ks {
        for &seed in &plan.seeds {
            let mut draw = Draw::new(seed);
            let mut cases: Vec<(&'static str, Vec<CountTable>)> = Vec::new();
            for shape in &plan.random_shapes {
                let source = if shape.rank() == 1 {
                    "random 1-D"
                } else {
                    "random 2-D"
                };
                let clients = draw.between(plan.clients.0, plan.clients.1);
                let joint = draw.spread(clients, shape.interior_len());
                let names: Vec<String> = (0..shape.rank()).map(|d| format!("d{d}")).collect();
                let table = marginal(&names, shape.categories(), &joint, &names);
                cases.push((source, vec![table]));
            }
            if plan.sites {
                let clients = draw.between(plan.clients.0, plan.clients.1);
                let truth = true_tables(&form, |position, len| {
                    let n = if position == 0 {
                        clients
                    } else {
                        draw.between(0, clients)
                    };
                    draw.spread(n, len)
                });
                cases.extend(truth.into_iter().map(|tables| ("sites", tables)));
            }
            for (case, (source, truth)) in cases.into_iter().enumerate() {
                let shapes: Vec<Shape> = truth.iter().map(|t| t.shape.clone()).collect();
                let mut site_secret = [0u8; 32];
                site_secret[..8].copy_from_slice(&seed.to_be_bytes());
                site_secret[8..16].copy_from_slice(&(case as u64).to_be_bytes());
                let secret = SuppressionSecret::from_bytes(site_secret);
                for algorithm in ALGORITHMS {
                    let (zeros, strategy, knowledges) = match algorithm {
                        "first-found" => (
                            ZeroPolicy::Published,
                            Strategy::FirstFound,
                            AttackerKnowledge::ALL_COMBINATIONS.to_vec(),
                        ),
                        "protected" => (
                            ZeroPolicy::Protected,
                            Strategy::InformationLoss(&secret),
                            Vec::new(),
                        ),
                        _ => (
                            ZeroPolicy::Published,
                            Strategy::InformationLoss(&secret),
                            Vec::new(),
                        ),
                    };
                    let policy = DisclosurePolicy::new(k)?.with_zeros(zeros);
                    let knowledges = if knowledges.is_empty() {
                        vec![AttackerKnowledge::of_rule(&policy)]
                    } else {
                        knowledges
                    };
                    let published = suppress_with(&truth, &policy, strategy)?;
                    for knowledge in knowledges {
                        let attacker = Attacker {
                            knowledge,
                            limits: plan.limits,
                        };
                        let attack = attacker.attack(&shapes, &published, &policy, Some(&truth))?;
                        measurement
                            .row(algorithm, source, k, knowledge)
                            .add(&attack, k);
                    }
                }
            }
        }
    }
    Ok(measurement)
}

/// A small deterministic generator (xorshift64) for [`measure`]'s draws.
struct Draw(u64);

impl Draw {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A whole number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// `n` clients spread over `cells` cells with uneven weights, about a quarter of them 0.
    fn spread(&mut self, n: u64, cells: usize) -> Vec<u64> {
        let mut weights: Vec<u64> = (0..cells)
            .map(|_| {
                if self.next() % 4 == 0 {
                    0
                } else {
                    let w = self.between(1, 8);
                    w * w
                }
            })
            .collect();
        if weights.iter().all(|&w| w == 0) {
            weights[0] = 1;
        }
        let sum: u64 = weights.iter().sum();
        let mut counts = vec![0; cells];
        for _ in 0..n {
            let mut pick = self.next() % sum;
            for (count, &w) in counts.iter_mut().zip(&weights) {
                if pick < w {
                    *count += 1;
                    break;
                }
                pick -= w;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Cell::{Exact as E, Suppressed as S};

    /// The attack with `knowledge` on `published`, which must finish within the default limits
    /// and keep the truth among its candidates.
    fn conclusive_attack(
        knowledge: AttackerKnowledge,
        truth: &[CountTable],
        published: &[Table],
        policy: &DisclosurePolicy,
    ) -> Attack {
        let attack = Attacker::new(knowledge)
            .attack(&shapes(truth), published, policy, Some(truth))
            .expect("attacks");
        assert!(attack.is_conclusive(), "{knowledge}: {:?}", attack.limit);
        assert_eq!(attack.truth_survived, Some(true), "{knowledge}");
        attack
    }

    const NOTHING: AttackerKnowledge = AttackerKnowledge::ALL_COMBINATIONS[0];
    const ZEROS: AttackerKnowledge = AttackerKnowledge::ALL_COMBINATIONS[1];
    const REPLAY: AttackerKnowledge = AttackerKnowledge::ALL_COMBINATIONS[2];
    const BOTH: AttackerKnowledge = AttackerKnowledge::ALL_COMBINATIONS[3];

    fn one_table(name: &str, interior: &[u64]) -> Vec<CountTable> {
        vec![CountTable::from_interior(
            vec![name.to_owned()],
            Shape::new(vec![interior.len()]),
            interior,
        )]
    }

    /// The publication of the first-found algorithm (zeros published, no secret), whose
    /// weaknesses these tests show the attacker finding.
    fn first_found(truth: &[CountTable], policy: &DisclosurePolicy) -> Vec<Table> {
        let policy = policy.with_zeros(ZeroPolicy::Published);
        suppress_with(truth, &policy, Strategy::FirstFound).expect("suppresses")
    }

    fn shapes(tables: &[CountTable]) -> Vec<Shape> {
        tables.iter().map(|t| t.shape.clone()).collect()
    }

    fn values(cell: &HiddenCell) -> Vec<u64> {
        cell.values.iter().copied().collect()
    }

    /// The issue's example: active clients by age, 27 = 0 + * + 8 + 14 + * + *.
    #[test]
    fn age_example_each_hidden_cell_is_one_to_three_once_zeros_are_known_published() {
        let policy = DisclosurePolicy::DEFAULT;
        let truth = one_table("age_band", &[0, 1, 8, 14, 2, 2]);
        let published = first_found(&truth, &policy);
        assert_eq!(published[0].cells, vec![E(0), S, E(8), E(14), S, S, E(27)]);
        for knowledge in AttackerKnowledge::ALL_COMBINATIONS {
            let attack = conclusive_attack(knowledge, &truth, &published, &policy);
            assert_eq!(attack.cells.len(), 3);
            for (cell, truth) in [(1, 1), (4, 2), (5, 2)] {
                let hidden = attack.cell(0, cell).expect("hidden");
                assert_eq!(hidden.truth, Some(truth));
                assert_eq!(hidden.is_primary(policy.k), Some(true));
                let expected = if knowledge == NOTHING {
                    (0, 5, vec![0, 1, 2, 3, 4, 5])
                } else {
                    // Zeros are published; and replay knows suppress never hides a zero.
                    (1, 3, vec![1, 2, 3])
                };
                assert_eq!(
                    (hidden.proven_lower, hidden.proven_upper, values(hidden)),
                    (expected.0, Some(expected.1), expected.2),
                    "{knowledge}"
                );
                assert_eq!(hidden.bounded_below(policy.k), knowledge != NOTHING);
                assert_eq!(hidden.proven_non_zero(), knowledge != NOTHING);
            }
        }
        // a + b + c = 5: 21 tables, 6 of them with no zero.
        let count = |knowledge| {
            let attack = Attacker::new(knowledge)
                .attack(&shapes(&truth), &published, &policy, None)
                .expect("attacks");
            (attack.candidates, attack.survivors, attack.truth_survived)
        };
        assert_eq!(count(NOTHING), (21, 21, None));
        assert_eq!(count(ZEROS), (6, 6, None));
        assert_eq!(count(REPLAY).0, 21);
    }

    /// A one-table indicator whose total is hidden: only replay bounds it, below k.
    #[test]
    fn hidden_total_of_one_table_is_below_k_under_replay() {
        let policy = DisclosurePolicy::DEFAULT;
        let truth = one_table("sex", &[2, 1, 0]);
        let published = first_found(&truth, &policy);
        assert_eq!(published[0].cells, vec![S, S, E(0), S]);
        for knowledge in [NOTHING, ZEROS] {
            let attack = Attacker::new(knowledge)
                .attack(&shapes(&truth), &published, &policy, Some(&truth))
                .expect("attacks");
            assert_eq!(attack.limit, Some(LimitHit::TotalCap { cap: 60 }));
            assert!(!attack.is_conclusive());
            let total = attack.cell(0, 3).expect("hidden");
            assert_eq!(total.proven_upper, None, "{knowledge}: nothing bounds it");
            assert_eq!(total.proven_lower, u64::from(knowledge.zeros_published));
            assert_eq!(total.values.last(), Some(&60));
        }
        for knowledge in [REPLAY, BOTH] {
            let attack = Attacker::new(knowledge)
                .attack(&shapes(&truth), &published, &policy, Some(&truth))
                .expect("attacks");
            assert!(attack.is_conclusive(), "{knowledge}: {:?}", attack.limit);
            assert_eq!(attack.truth_survived, Some(true));
            let total = attack.cell(0, 3).expect("hidden");
            assert!(total.bounded_below(policy.k), "{knowledge}: {total:?}");
            assert!(total.proven_non_zero());
            for cell in [0, 1] {
                let hidden = attack.cell(0, cell).expect("hidden");
                assert!(hidden.bounded_below(policy.k) && hidden.proven_non_zero());
            }
        }
    }

    /// Linked tables share their common margins: one hidden quantity, two occurrences.
    #[test]
    fn linked_tables_share_a_quantity_and_keep_the_truth() {
        let policy = DisclosurePolicy::DEFAULT;
        let names = vec!["sex".to_owned(), "age".to_owned()];
        let joint = [3, 9, 12, 0, 20, 7];
        let truth = vec![
            marginal(&names, &[2, 3], &joint, &names),
            marginal(&names, &[2, 3], &joint, &names[..1]),
        ];
        let published = first_found(&truth, &policy);
        for knowledge in AttackerKnowledge::ALL_COMBINATIONS {
            let attack = conclusive_attack(knowledge, &truth, &published, &policy);
            for cell in &attack.cells {
                let n = cell.truth.expect("given");
                assert!(cell.values.contains(&n), "{knowledge}: {cell:?}");
                let &(t, c) = cell.occurrences.first().expect("appears");
                assert_eq!(truth[t].cells[c], n);
                // The sex margins of the first table are the cells of the second.
                if t == 0 && c < 3 * 4 && truth[0].shape.coords(c)[1] == 3 {
                    assert_eq!(cell.occurrences.len(), 2, "{cell:?}");
                }
            }
        }
    }

    /// The flat index among all cells of interior position `i` (row-major over categories).
    fn full_index(shape: &Shape, i: usize) -> usize {
        let categories = shape.categories();
        let coords: Vec<usize> = (0..categories.len())
            .map(|d| i / categories[d + 1..].iter().product::<usize>() % categories[d])
            .collect();
        shape.index(&coords)
    }

    /// The search finds exactly the tables a naive enumeration of the hidden interior finds.
    #[test]
    fn search_agrees_with_naive_enumeration() {
        let policy = DisclosurePolicy::DEFAULT;
        let cases: [(&[usize], &[u64]); 4] = [
            (&[3], &[2, 0, 6]),
            (&[2, 2], &[2, 5, 1, 6]),
            (&[2, 3], &[1, 0, 6, 2, 5, 1]),
            (&[3, 2], &[0, 4, 2, 0, 7, 1]),
        ];
        let cap = 12;
        for (shape, joint) in cases {
            let names: Vec<String> = (0..shape.len()).map(|d| format!("d{d}")).collect();
            let truth = vec![marginal(&names, shape, joint, &names)];
            let published = first_found(&truth, &policy);
            let shape = &truth[0].shape;
            for knowledge in AttackerKnowledge::ALL_COMBINATIONS {
                let mut attacker = Attacker::new(knowledge);
                attacker.limits.total_cap = cap;
                let attack = attacker
                    .attack(&shapes(&truth), &published, &policy, Some(&truth))
                    .expect("attacks");
                assert_eq!(attack.truth_survived, Some(true));
                // Naive: every value up to the cap of every hidden interior cell.
                let mut seen: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); shape.full_len()];
                let (mut candidates, mut survivors) = (0, 0);
                let mut interior: Vec<u64> = (0..shape.interior_len())
                    .map(|i| {
                        published[0].cells[full_index(shape, i)]
                            .exact()
                            .unwrap_or(0)
                    })
                    .collect();
                let hidden: Vec<usize> = (0..interior.len())
                    .filter(|&i| published[0].cells[full_index(shape, i)] == S)
                    .collect();
                // A published total bounds every cell; a hidden one is capped.
                let most = published[0].cells[shape.total_index()]
                    .exact()
                    .unwrap_or(cap);
                'all: loop {
                    let table = CountTable::from_interior(names.clone(), shape.clone(), &interior);
                    let fits = table.total() <= most
                        && table
                            .cells
                            .iter()
                            .zip(&published[0].cells)
                            .all(|(&n, p)| match p {
                                E(m) => n == *m,
                                S => !(knowledge.zeros_published && n == 0),
                            });
                    if fits {
                        candidates += 1;
                        let kept = !knowledge.replay || {
                            let replayed = first_found(std::slice::from_ref(&table), &policy);
                            replayed[0]
                                .cells
                                .iter()
                                .zip(&published[0].cells)
                                .all(|(a, b)| (*a == S) == (*b == S))
                        };
                        if kept {
                            survivors += 1;
                            for (c, &n) in table.cells.iter().enumerate() {
                                seen[c].insert(n);
                            }
                        }
                    }
                    for &i in &hidden {
                        interior[i] += 1;
                        if interior[i] <= most {
                            continue 'all;
                        }
                        interior[i] = 0;
                    }
                    break;
                }
                assert_eq!(
                    (attack.candidates, attack.survivors),
                    (candidates, survivors),
                    "{shape:?} {knowledge}"
                );
                for cell in &attack.cells {
                    let (_, c) = cell.occurrences[0];
                    assert_eq!(cell.values, seen[c], "{shape:?} {knowledge} cell {c}");
                }
            }
        }
    }

    #[test]
    fn limits_are_reported_and_claim_nothing() {
        let policy = DisclosurePolicy::DEFAULT;
        let truth = one_table("age_band", &[0, 1, 8, 14, 2, 2]);
        let published = first_found(&truth, &policy);
        let mut attacker = Attacker::new(NOTHING);
        attacker.limits.max_candidates = 5;
        let attack = attacker
            .attack(&shapes(&truth), &published, &policy, None)
            .expect("attacks");
        assert_eq!(attack.limit, Some(LimitHit::Candidates { examined: 5 }));
        assert_eq!(attack.candidates, 5);
        for cell in &attack.cells {
            assert_eq!((cell.proven_lower, cell.proven_upper), (0, None));
        }
        attacker.limits = SearchLimits {
            max_steps: 3,
            ..SearchLimits::default()
        };
        let attack = attacker
            .attack(&shapes(&truth), &published, &policy, None)
            .expect("attacks");
        assert!(matches!(attack.limit, Some(LimitHit::Steps { .. })));
        assert!(attack.cells.iter().all(|c| c.proven_upper.is_none()));
    }

    #[test]
    fn an_impossible_publication_has_no_candidate_and_proves_nothing() {
        let policy = DisclosurePolicy::DEFAULT;
        let shapes = [Shape::new(vec![3])];
        // 50 + 40 > 63: no non-negative hidden cell fits.
        let published = [Table {
            dimensions: vec!["a".into()],
            cells: vec![S, E(50), E(40), E(63)],
        }];
        let attack = Attacker::new(BOTH)
            .attack(&shapes, &published, &policy, None)
            .expect("attacks");
        assert_eq!((attack.candidates, attack.survivors), (0, 0));
        assert_eq!(attack.cells[0].proven_upper, None);
        assert!(attack.cells[0].values.is_empty());
    }

    #[test]
    fn refuses_layouts_that_do_not_fit() {
        let policy = DisclosurePolicy::DEFAULT;
        let table = Table {
            dimensions: vec!["a".into()],
            cells: vec![E(5), E(5)],
        };
        let attacker = Attacker::default();
        assert_eq!(
            attacker.attack(&[], std::slice::from_ref(&table), &policy, None),
            Err(AttackError::TableCount {
                shapes: 0,
                tables: 1
            })
        );
        assert!(matches!(
            attacker.attack(
                &[Shape::new(vec![2])],
                std::slice::from_ref(&table),
                &policy,
                None
            ),
            Err(AttackError::CellCount { .. })
        ));
        let other = Table {
            dimensions: vec!["a".into()],
            cells: vec![E(5), E(0), E(0), E(5)],
        };
        assert!(matches!(
            attacker.attack(
                &[Shape::new(vec![1]), Shape::new(vec![3])],
                &[table.clone(), other],
                &policy,
                None
            ),
            Err(AttackError::DimensionSize { .. })
        ));
        let nothing = attacker.attack(&[], &[], &policy, None).expect("attacks");
        assert!(nothing.cells.is_empty() && nothing.is_conclusive());
        let truth = one_table("a", &[5, 5]);
        assert_eq!(
            attacker.attack(&[Shape::new(vec![1])], &[table], &policy, Some(&truth)),
            Err(AttackError::TruthLayout)
        );
    }

    /// Over small random tables and sites, the truth is always among the survivors and within
    /// every proven bound.
    #[test]
    fn measurement_never_misses_the_truth() {
        let plan = MeasurementPlan {
            seeds: vec![1, 2],
            ks: vec![5, 11],
            clients: (20, 40),
            random_shapes: vec![Shape::new(vec![4]), Shape::new(vec![2, 3])],
            sites: false,
            limits: SearchLimits {
                max_candidates: 20_000,
                ..SearchLimits::default()
            },
        };
        let measurement = measure(&plan).expect("measures");
        assert_eq!(measurement.truth_missed(), 0, "{measurement}");
        // Per source and k: four attacks on first-found, one on each policy of today's rule.
        assert_eq!(measurement.rows.len(), 2 * 2 * (4 + 2));
        let text = measurement.to_string();
        assert!(text.contains("random 2-D") && text.contains("replay on"));
        assert!(text.contains("protected") && text.contains("rule on"));
    }
}
