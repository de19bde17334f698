//! Helpers shared by the integration tests: linked tables as margins of one joint table, and
//! site reports for a form.
#![allow(dead_code, clippy::unwrap_used)]

use quietcount_protocol::{
    CountTable, DisclosurePolicy, Form, IndicatorTables, Period, Shape, SiteId, SiteReport,
    suppress,
};

/// Projects a joint table (interior counts over `joint_dims`) onto `dims`, with margins.
pub fn marginal(
    joint_dims: &[String],
    joint_shape: &[usize],
    joint: &[u64],
    dims: &[String],
) -> CountTable {
    let positions: Vec<usize> = dims
        .iter()
        .map(|d| joint_dims.iter().position(|j| j == d).unwrap())
        .collect();
    let shape: Vec<usize> = positions.iter().map(|&p| joint_shape[p]).collect();
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
            .fold(0, |acc, (&p, &n)| acc * n + coords[p]);
        interior[index] += count;
    }
    CountTable::from_interior(dims.to_vec(), Shape::new(shape), &interior)
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

/// The true tables of every indicator of `form`, each indicator's tables the margins of one
/// joint table whose interior counts come from `counts(indicator position, joint length)`.
pub fn true_tables(
    form: &Form,
    mut counts: impl FnMut(usize, usize) -> Vec<u64>,
) -> Vec<Vec<CountTable>> {
    form.indicators
        .iter()
        .enumerate()
        .map(|(position, indicator)| {
            let dims = joint_dims(&indicator.tables);
            let shape: Vec<usize> = dims
                .iter()
                .map(|d| form.dimension(d).unwrap().categories.len())
                .collect();
            let joint = counts(position, shape.iter().product());
            indicator
                .tables
                .iter()
                .map(|t| marginal(&dims, &shape, &joint, t))
                .collect()
        })
        .collect()
}

/// A first-revision report of `site` for October 2026 publishing `truth` under `policy`.
pub fn report(
    form: &Form,
    site: &str,
    truth: &[Vec<CountTable>],
    policy: DisclosurePolicy,
) -> SiteReport {
    SiteReport {
        format: quietcount_protocol::FORMAT_VERSION,
        form: form.reference(),
        site: SiteId::new(site).unwrap(),
        period: Period::parse("2026-10").unwrap(),
        revision: 1,
        supersedes: None,
        generated_at: 1_793_491_200,
        policy,
        indicators: form
            .indicators
            .iter()
            .zip(truth)
            .map(|(indicator, tables)| IndicatorTables {
                indicator: indicator.id.clone(),
                tables: suppress(tables, &policy).unwrap(),
            })
            .collect(),
    }
}

/// Deterministic pseudo-random counts typical of a site with about 300 active clients: many
/// zeros and small cells in the detailed tables.
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
