//! Choosing which cells to suppress: primaries, then complements until every primary passes
//! the protection rule, audited with every relation of the model (additivity within an
//! indicator, order relations between indicators).

use std::cmp::Reverse;

use super::bounds::System;
use super::model::{Fault, Model};

/// How many doubtful primaries per component are confirmed one by one with their own LPs in a
/// round; above this, all of them are repaired at once.
const CONFIRM_LIMIT: usize = 8;

/// Chooses the suppressed variables for true `values` under threshold `k`.
///
/// 1. Primaries: every variable with `0 < value < k`.
/// 2. Singleton cover: while some relation holds exactly one suppressed variable (which it
///    would give away), suppress its cheapest published non-zero variable.
/// 3. Audit and repair: every primary must be able to be 0 and to reach `k`; for each one that
///    cannot, suppress the cheapest published non-zero variable sharing a relation with it (or,
///    if none, with the suppressed variables around it), then go back to 2. Only additivity
///    relations are followed, so complements come from the primary's own indicator; if none is
///    left there, order relations are followed too (a published cell of a related indicator).
///
/// Cheapest means smallest value, then the least aggregated cell, then the first; so small
/// cells go as complements and large ones stay published, and the result is deterministic.
/// Zeros are never suppressed. The loop ends because every round suppresses at least one more
/// variable, and suppressing every non-zero variable always passes: every relation, order
/// relations included, then has a zero right-hand side, so the true values scaled by any
/// `t ≥ 0` stay feasible, and every suppressed variable can be 0 and can exceed `k`. (The true
/// values must keep the order relations; the caller checks.)
pub(super) fn choose(model: &Model, values: &[u64], k: u64) -> Result<Vec<bool>, Fault> {
    let n = values.len();
    let primary: Vec<bool> = values.iter().map(|&v| v > 0 && v < k).collect();
    let mut suppressed = primary.clone();
    if !primary.iter().any(|&p| p) {
        return Ok(suppressed);
    }
    let cost = |v: usize| (values[v], Reverse(model.fixed_dims[v]), v);
    for _round in 0..=n {
        cover_singletons(model, values, &mut suppressed, &cost);
        let failing = failing_primaries(model, values, &primary, &suppressed, k)?;
        if failing.is_empty() {
            return Ok(suppressed);
        }
        let mut added = false;
        for f in failing {
            let candidate = nearest_candidate(model, values, &suppressed, f, &cost, false)
                .or_else(|| nearest_candidate(model, values, &suppressed, f, &cost, true));
            if let Some(c) = candidate {
                added |= !suppressed[c];
                suppressed[c] = true;
            }
        }
        if !added {
            // Nothing non-zero is published near a failing primary: suppress every non-zero
            // cell, which always passes.
            for v in 0..n {
                if values[v] > 0 && !suppressed[v] {
                    suppressed[v] = true;
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
    }
    Err(Fault::Solver(
        "suppression did not converge (every non-zero cell is suppressed)".into(),
    ))
}

/// Suppresses a complement in every relation that holds exactly one suppressed variable.
fn cover_singletons<C: Ord>(
    model: &Model,
    values: &[u64],
    suppressed: &mut [bool],
    cost: &impl Fn(usize) -> C,
) {
    loop {
        let mut changed = false;
        for relation in &model.relations {
            if relation.vars().filter(|&v| suppressed[v]).count() != 1 {
                continue;
            }
            if let Some(c) = relation
                .vars()
                .filter(|&v| !suppressed[v] && values[v] > 0)
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

/// The primaries that can be computed exactly, cannot be 0, or cannot reach `k`.
fn failing_primaries(
    model: &Model,
    values: &[u64],
    primary: &[bool],
    suppressed: &[bool],
    k: u64,
) -> Result<Vec<usize>, Fault> {
    let known = values
        .iter()
        .zip(suppressed)
        .map(|(&v, &s)| (!s).then_some(i128::from(v)))
        .collect();
    let system = System::propagate(model, known)?;
    let mut failing: Vec<usize> = (0..values.len())
        .filter(|&v| primary[v] && system.determined[v])
        .collect();
    for mut component in system.components() {
        // The true values are a feasible point: a free certificate.
        let truth: Vec<f64> = component.vars.iter().map(|&v| values[v] as f64).collect();
        component.observe(&truth);
        let primaries: Vec<usize> = (0..component.len())
            .filter(|&l| primary[component.vars[l]])
            .collect();
        let k_f = k as f64;
        component.settle_reach(&primaries, |c, l| {
            c.simple_upper(l).is_none_or(|b| b >= k_f).then_some(k_f)
        })?;
        component.settle_zeros(&primaries)?;
        let unsettled: Vec<usize> = primaries
            .iter()
            .copied()
            .filter(|&l| !component.settled(l, k))
            .collect();
        if unsettled.len() > CONFIRM_LIMIT {
            // Many primaries are still in doubt after the batch LPs: repair them all rather
            // than confirm each with its own LPs. Only the final round must be exact.
            failing.extend(unsettled.iter().map(|&l| component.vars[l]));
            continue;
        }
        for local in unsettled {
            if !(component.can_reach(local, k)? && component.can_be_zero(local)?) {
                failing.push(component.vars[local]);
            }
        }
    }
    failing.sort_unstable();
    Ok(failing)
}

/// The cheapest published non-zero variable sharing a relation with `start`, or failing that
/// with the suppressed variables reachable from it, nearest first. Relations are the
/// additivity relations, and with `across` also the order relations between indicators.
fn nearest_candidate<C: Ord>(
    model: &Model,
    values: &[u64],
    suppressed: &[bool],
    start: usize,
    cost: &impl Fn(usize) -> C,
    across: bool,
) -> Option<usize> {
    let mut visited = vec![false; values.len()];
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
                    let (sub, sup) = model.orders[o];
                    [sub, sup]
                }));
            for w in neighbours {
                if !suppressed[w] {
                    if values[w] > 0 && best.is_none_or(|b| cost(w) < cost(b)) {
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
