//! Choosing which cells to suppress: primaries, then complements until every primary passes
//! the protection rule, audited with every relation of the model (additivity within an
//! indicator, order relations between indicators) and with the facts an outsider knows from
//! the rule itself (`knowledge.rs`).

use super::bounds::{Component, System};
use super::knowledge::Knowledge;
use super::model::{Fault, Model};
use super::secret::SuppressionSecret;
use crate::report::ZeroPolicy;

/// How many doubtful primaries per component are confirmed one by one with their own LPs in a
/// round; above this, all of them are repaired at once.
const CONFIRM_LIMIT: usize = 8;

/// Which algorithm chooses complements.
#[derive(Debug, Clone, Copy)]
pub enum Strategy<'s> {
    /// Quietcount's: complements by information-loss cost, in an order among equal costs that
    /// only the secret gives; zeros usable as complements when the policy protects them; at
    /// least three suppressed cells in every relation with one (where it has them); grand
    /// totals never complements, hidden when below `k` plus a secret margin; audited with the
    /// facts of the rule.
    InformationLoss(&'s SuppressionSecret),
    /// The algorithm before the rule's facts were audited (kept to compare the two): zeros never
    /// hidden, smallest count first, grand totals usable as complements, audited with the
    /// published equations alone. Its publications do not keep the promise of either policy.
    FirstFound,
}

/// The rule one suppression works under.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rule<'s> {
    pub k: u64,
    pub zeros: ZeroPolicy,
    pub strategy: Strategy<'s>,
    /// Per variable: `Some(hidden)` if its state is fixed (a cell of an earlier revision, as
    /// published), `None` if suppression chooses it. Empty: nothing fixed.
    pub fixed: &'s [Option<bool>],
    /// The first variable of the revision being chosen, and its number of indicators: the
    /// secret's draws count from there, so every revision of a period draws alike.
    pub block: (usize, usize),
}

impl<'s> Rule<'s> {
    /// A rule that fixes nothing.
    pub fn new(k: u64, zeros: ZeroPolicy, strategy: Strategy<'s>) -> Self {
        Self {
            k,
            zeros,
            strategy,
            fixed: &[],
            block: (0, 0),
        }
    }

    /// Whether suppression may change variable `v`.
    fn free(&self, v: usize) -> bool {
        self.fixed.get(v).is_none_or(Option::is_none)
    }
}

impl Rule<'_> {
    /// What the audit in the loop assumes an outsider knows.
    fn knowledge(&self) -> Knowledge {
        match self.strategy {
            Strategy::InformationLoss(_) => Knowledge {
                k: self.k,
                zeros: self.zeros,
                rule_facts: true,
            },
            Strategy::FirstFound => Knowledge::equations_only(self.k),
        }
    }

    /// The fewest suppressed variables a relation with any may have.
    fn min_hidden(&self) -> usize {
        match self.strategy {
            Strategy::InformationLoss(_) => 3,
            Strategy::FirstFound => 2,
        }
    }

    /// Whether a published variable may become a complement.
    fn may_complement(&self, model: &Model, values: &[u64], v: usize) -> bool {
        match self.strategy {
            Strategy::InformationLoss(_) => {
                !model.is_grand_total(v) && (values[v] > 0 || self.zeros == ZeroPolicy::Protected)
            }
            Strategy::FirstFound => values[v] > 0,
        }
    }

    /// A complement's cost, least first.
    ///
    /// Information loss: margins (which summarise many cells) cost more than inner cells; then
    /// the hidden mass, in doubling bands from `2k` (zeros and counts below `2k` in the first
    /// band, so a zero is as likely a complement as a small count); then the secret rank.
    fn cost(&self, model: &Model, values: &[u64], v: usize) -> (u64, u64, u64, usize) {
        match self.strategy {
            Strategy::InformationLoss(secret) => {
                let margin = model.occurrences[v]
                    .iter()
                    .any(|&(t, c)| !model.is_interior(t, c));
                let band = u64::from(64 - (values[v] / (2 * self.k).max(1)).leading_zeros());
                (u64::from(margin), band, secret.rank(v - self.block.0), v)
            }
            // Smallest count, then the least aggregated, then the first.
            Strategy::FirstFound => (0, values[v], u64::MAX - model.fixed_dims[v] as u64, v),
        }
    }
}

/// Chooses the suppressed variables for true `values` under `rule`.
///
/// 1. Primaries: every variable with `0 < value < k`. With [`Strategy::InformationLoss`], an
///    indicator's grand total is also hidden when it has a primary and the total is below `k`
///    plus the secret margin (`0..k`) of that indicator, so that a hidden total does not tell
///    that the indicator is small.
/// 2. Cover: while some relation holds one suppressed variable (which it would give away), or
///    with [`Strategy::InformationLoss`] two (neither could be 0 against an outsider who
///    replays the algorithm: the other would be the whole hidden mass, and nothing would have
///    been hidden), suppress its cheapest candidate.
/// 3. Audit and repair: every primary must reach `k` and, unless zeros are published, be able
///    to be 0, under the facts an outsider knows (`knowledge.rs`, including the complement
///    inference); for each that fails, suppress the cheapest candidate sharing a relation with
///    it (or, if none, with the suppressed variables around it), then go back to 2. Only
///    additivity relations are followed first, so complements come from the primary's own
///    indicator; if none is left there, order relations are followed too.
///
/// If nothing is left near a failing primary, every non-zero candidate is suppressed, and as
/// the last resort every non-zero variable, grand totals included: then every relation has a
/// zero right-hand side, the true values scaled by any `t ≥ 0` stay feasible, and every
/// suppressed variable can be 0 and exceed `k`. (The true values must keep the order
/// relations; the caller checks.) Every round suppresses at least one more variable, so the
/// loop ends.
pub(super) fn choose(model: &Model, values: &[u64], rule: &Rule<'_>) -> Result<Vec<bool>, Fault> {
    let n = values.len();
    let k = rule.k;
    let primary: Vec<bool> = values.iter().map(|&v| v > 0 && v < k).collect();
    let mut suppressed: Vec<bool> = (0..n)
        .map(|v| rule.fixed.get(v).copied().flatten().unwrap_or(primary[v]))
        .collect();
    if !primary.iter().any(|&p| p) {
        return Ok(suppressed);
    }
    if let Strategy::InformationLoss(secret) = rule.strategy {
        let mut has_primary = vec![false; model.indicator_of.iter().max().map_or(0, |m| m + 1)];
        for v in (0..n).filter(|&v| primary[v]) {
            has_primary[model.indicator_of[v]] = true;
        }
        for v in (0..n).filter(|&v| model.is_grand_total(v) && rule.free(v)) {
            let indicator = model.indicator_of[v];
            let own = indicator.checked_rem(rule.block.1).unwrap_or(indicator);
            if has_primary[indicator] && values[v] < k + secret.total_margin(own, k) {
                suppressed[v] = true;
            }
        }
    }
    let knowledge = rule.knowledge();
    // Hidden zeros found unable to reach k are published again, and never chosen again.
    let mut pinned = vec![false; n];
    let cost = |v: usize| rule.cost(model, values, v);
    for _round in 0..=2 * n {
        let candidate =
            |v: usize| rule.free(v) && !pinned[v] && rule.may_complement(model, values, v);
        cover_singletons(model, &mut suppressed, &candidate, &cost, rule.min_hidden());
        let (mut failing, stuck_zeros) =
            failing_primaries(model, values, &primary, &suppressed, &knowledge)?;
        // A hidden zero of an earlier revision cannot be published now: it must reach k
        // through the new revision's cells, like a primary.
        let (stuck_zeros, stuck_fixed): (Vec<usize>, Vec<usize>) =
            stuck_zeros.into_iter().partition(|&v| rule.free(v));
        if failing.is_empty() && !stuck_fixed.is_empty() {
            failing = stuck_fixed;
        }
        if failing.is_empty() {
            if stuck_zeros.is_empty() {
                return Ok(suppressed);
            }
            // A hidden zero that cannot reach k would be known to be 0 (it cannot be small):
            // publish it instead, and check again.
            for v in stuck_zeros {
                suppressed[v] = false;
                pinned[v] = true;
            }
            continue;
        }
        let mut added = false;
        for f in failing {
            let found = nearest_candidate(model, &suppressed, f, &candidate, &cost, false)
                .or_else(|| nearest_candidate(model, &suppressed, f, &candidate, &cost, true));
            if let Some(c) = found {
                added |= !suppressed[c];
                suppressed[c] = true;
            }
        }
        if !added {
            // Nothing is left near a failing primary: every non-zero candidate, then every
            // non-zero variable.
            let protected = rule.zeros == ZeroPolicy::Protected;
            added = suppress_all(&mut suppressed, |v| values[v] > 0 && candidate(v))
                || suppress_all(&mut suppressed, |v| values[v] > 0 && rule.free(v))
                || (protected && suppress_all(&mut suppressed, |v| rule.free(v) && !pinned[v]));
            if !added {
                return Err(if rule.fixed.is_empty() {
                    Fault::Solver("suppression did not converge".into())
                } else {
                    Fault::Unprotectable
                });
            }
        }
    }
    Err(Fault::Solver(
        "suppression did not converge (every non-zero cell is suppressed)".into(),
    ))
}

/// Suppresses every variable that `which` selects; whether any was published.
fn suppress_all(suppressed: &mut [bool], which: impl Fn(usize) -> bool) -> bool {
    let mut added = false;
    for (v, hidden) in suppressed.iter_mut().enumerate() {
        if !*hidden && which(v) {
            *hidden = true;
            added = true;
        }
    }
    added
}

/// Suppresses a complement in every relation that holds some, but fewer than `min_hidden`,
/// suppressed variables, while it has candidates.
fn cover_singletons<C: Ord>(
    model: &Model,
    suppressed: &mut [bool],
    candidate: &impl Fn(usize) -> bool,
    cost: &impl Fn(usize) -> C,
    min_hidden: usize,
) {
    loop {
        let mut changed = false;
        for relation in &model.relations {
            let hidden = relation.vars().filter(|&v| suppressed[v]).count();
            if hidden == 0 || hidden >= min_hidden {
                continue;
            }
            if let Some(c) = relation
                .vars()
                .filter(|&v| !suppressed[v] && candidate(v))
                .min_by_key(|&v| cost(v))
            {
                suppressed[c] = true;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The primaries that can be computed exactly, cannot reach `k`, or (unless zeros are
/// published) cannot be 0, under `knowledge`; and, when every primary passes, the hidden zeros
/// that cannot reach `k`.
fn failing_primaries(
    model: &Model,
    values: &[u64],
    primary: &[bool],
    suppressed: &[bool],
    knowledge: &Knowledge,
) -> Result<(Vec<usize>, Vec<usize>), Fault> {
    let known: Vec<Option<i128>> = values
        .iter()
        .zip(suppressed)
        .map(|(&v, &s)| (!s).then_some(i128::from(v)))
        .collect();
    let rule_bounds = knowledge.bounds(model, &known);
    let system = System::propagate(model, known)?;
    let mut failing: Vec<usize> = (0..values.len())
        .filter(|&v| primary[v] && system.determined[v])
        .collect();
    let mut stuck_zeros: Vec<usize> = (0..values.len())
        .filter(|&v| suppressed[v] && values[v] == 0 && system.determined[v])
        .collect();
    let needs_zero = knowledge.floor() == 0;
    let k = knowledge.k;
    for mut component in system.components() {
        // The true values are a feasible point: a free certificate.
        let truth: Vec<f64> = component.vars.iter().map(|&v| values[v] as f64).collect();
        for local in 0..component.len() {
            let (floor, cap) = rule_bounds[component.vars[local]];
            component.restrict(local, floor, cap);
        }
        component.observe(&truth);
        let primaries: Vec<usize> = (0..component.len())
            .filter(|&l| primary[component.vars[l]])
            .collect();
        let zeros: Vec<usize> = (0..component.len())
            .filter(|&l| values[component.vars[l]] == 0)
            .collect();
        loop {
            let found = component_failing(&mut component, &primaries, k, needs_zero)?;
            if !found.is_empty() {
                failing.extend(found.iter().map(|&l| component.vars[l]));
                break;
            }
            if knowledge.infers_complements() && raise_complements(&mut component, values, k)? {
                component.observe(&truth);
                continue;
            }
            for local in zeros.iter().copied() {
                if !component.can_reach(local, k)? {
                    stuck_zeros.push(component.vars[local]);
                }
            }
            break;
        }
    }
    failing.sort_unstable();
    failing.dedup();
    Ok((failing, stuck_zeros))
}

/// The primaries of a component (local numbers) that fail, or all that are still in doubt
/// when there are many.
fn component_failing(
    component: &mut Component,
    primaries: &[usize],
    k: u64,
    needs_zero: bool,
) -> Result<Vec<usize>, Fault> {
    let k_f = k as f64;
    component.settle_reach(primaries, |c, l| {
        c.simple_upper(l).is_none_or(|b| b >= k_f).then_some(k_f)
    })?;
    if needs_zero {
        component.settle_zeros(primaries)?;
    }
    let unsettled: Vec<usize> = primaries
        .iter()
        .copied()
        .filter(|&l| !component.settled(l, k, needs_zero))
        .collect();
    if unsettled.len() > CONFIRM_LIMIT {
        // Many primaries are still in doubt after the batch LPs: repair them all rather than
        // confirm each with its own LPs. Only the final round must be exact.
        return Ok(unsettled);
    }
    let mut failing = Vec::new();
    for local in unsettled {
        if !(component.can_reach(local, k)? && (!needs_zero || component.can_be_zero(local)?)) {
            failing.push(local);
        }
    }
    Ok(failing)
}

/// The complement inference on a component whose primaries all pass: a hidden quantity that is
/// not a primary (its true value is 0 or at least `k`) and cannot be 0 is known to be at least
/// `k`. Whether any bound was raised.
fn raise_complements(component: &mut Component, values: &[u64], k: u64) -> Result<bool, Fault> {
    let mut raised = Vec::new();
    for local in 0..component.len() {
        let v = component.vars[local];
        if values[v] >= k && component.floor(local) < k && component.lower(local)? > 0 {
            raised.push(local);
        }
    }
    for &local in &raised {
        component.restrict(local, k, None);
    }
    Ok(!raised.is_empty())
}

/// The cheapest candidate sharing a relation with `start`, or failing that with the suppressed
/// variables reachable from it, nearest first. Relations are the additivity relations, and
/// with `across` also the order relations between indicators.
fn nearest_candidate<C: Ord>(
    model: &Model,
    suppressed: &[bool],
    start: usize,
    candidate: &impl Fn(usize) -> bool,
    cost: &impl Fn(usize) -> C,
    across: bool,
) -> Option<usize> {
    let mut visited = vec![false; suppressed.len()];
    visited[start] = true;
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut best: Option<usize> = None;
        let mut next = Vec::new();
        for &v in &frontier {
            let ordered: &[usize] = if across { &model.var_orders[v] } else { &[] };
            let neighbours = model.var_relations[v]
                .iter()
                .flat_map(|&r| model.relations[r].vars())
                .chain(ordered.iter().flat_map(|&o| {
                    let (sub, sup, _) = model.orders[o];
                    [sub, sup]
                }));
            for w in neighbours {
                if !suppressed[w] {
                    if candidate(w) && best.is_none_or(|b| cost(w) < cost(b)) {
                        best = Some(w);
                    }
                } else if !visited[w] {
                    visited[w] = true;
                    next.push(w);
                }
            }
        }
        if best.is_some() {
            return best;
        }
        frontier = next;
    }
    None
}
