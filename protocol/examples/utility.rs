//! What disclosure control leaves published, old algorithm and new side by side in one run:
//! over a fixed province of simulated sites (20 to 100 clients each, several seeds) of the
//! default form, at k = 5 and k = 11, for the first-found algorithm (zeros published, no
//! secret; its intervals from the published equations alone, as it audited them) and today's
//! under each zero policy (intervals from the audit with the rule's facts):
//!
//! - share of non-zero site cells published;
//! - share of indicator totals of at least k published (the headline numbers);
//! - share of provincial cells exact (the sum over sites of each cell);
//! - median width of the provincial cells that are not exact (`inf` when unbounded);
//! - suppress + audit time per site, and its ratio to the first-found algorithm's.
//!
//! ```text
//! cargo run --release -p quietcount-protocol --features test-util --example utility [SITES]
//! ```
//!
//! `SITES` (default 40) sites are drawn per k, each from its own seed.

use std::error::Error;
use std::time::{Duration, Instant};

use quietcount_protocol::disclosure::{
    Strategy, audit_report_equations_only, suppress_report_with,
};
use quietcount_protocol::testing::true_tables;
use quietcount_protocol::{
    Cell, CountTable, DisclosurePolicy, Form, IndicatorTables, Interval, SuppressionSecret,
    ZeroPolicy, audit_report,
};

/// One algorithm's publication of every site, with its audit and the time it took.
struct Run {
    name: &'static str,
    /// Per site: per indicator, per table, per cell: `None` if published, else the interval.
    intervals: Vec<Vec<Vec<Vec<Option<Interval>>>>>,
    /// Per site: the published tables.
    published: Vec<Vec<IndicatorTables>>,
    elapsed: Duration,
}

fn main() -> Result<(), Box<dyn Error>> {
    let sites: u64 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("SITES must be a whole number, not {text:?}"))?,
        None => 40,
    };
    let form = Form::default_monthly();
    println!(
        "{:<16} {:>3} {:>10} {:>10} {:>11} {:>11} {:>12} {:>8}",
        "algorithm",
        "k",
        "cells pub",
        "totals>=k",
        "prov exact",
        "med width",
        "ms per site",
        "x old"
    );
    for k in [5u32, 11] {
        let truths: Vec<Vec<Vec<CountTable>>> = (1..=sites).map(|s| draw_site(&form, s)).collect();
        let mut old_ms = None;
        for (name, zeros) in [
            ("first-found", ZeroPolicy::Published),
            ("protected", ZeroPolicy::Protected),
            ("zeros-published", ZeroPolicy::Published),
        ] {
            let policy = DisclosurePolicy::new(k)?.with_zeros(zeros);
            let run = publish(&form, &truths, &policy, name)?;
            let ms = run.elapsed.as_secs_f64() * 1000.0 / truths.len() as f64;
            let old = *old_ms.get_or_insert(ms);
            let figures = Figures::of(&truths, &run, u64::from(k));
            println!(
                "{:<16} {:>3} {:>9.1}% {:>9.1}% {:>10.1}% {:>11} {:>12.2} {:>8.2}",
                run.name,
                k,
                figures.cells_published,
                figures.totals_published,
                figures.provincial_exact,
                figures.median_width,
                ms,
                ms / old
            );
        }
    }
    Ok(())
}

/// One site: active clients drawn between 20 and 100, every other indicator at most as many,
/// spread over the joint table with uneven weights (about a quarter of cells empty).
fn draw_site(form: &Form, seed: u64) -> Vec<Vec<CountTable>> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let clients = 20 + next() % 81;
    true_tables(form, |position, len| {
        let n = if position == 0 {
            clients
        } else {
            next() % (clients + 1)
        };
        let weights: Vec<u64> = (0..len)
            .map(|_| {
                if next() % 4 == 0 {
                    0
                } else {
                    let w = 1 + next() % 8;
                    w * w
                }
            })
            .collect();
        let sum: u64 = weights.iter().sum::<u64>().max(1);
        let mut counts = vec![0; len];
        for _ in 0..n {
            let mut pick = next() % sum;
            for (count, &w) in counts.iter_mut().zip(&weights) {
                if pick < w {
                    *count += 1;
                    break;
                }
                pick -= w;
            }
        }
        counts
    })
}

/// Suppresses and audits every site with the algorithm `name`.
fn publish(
    form: &Form,
    truths: &[Vec<Vec<CountTable>>],
    policy: &DisclosurePolicy,
    name: &'static str,
) -> Result<Run, Box<dyn Error>> {
    let started = Instant::now();
    let mut run = Run {
        name,
        intervals: Vec::new(),
        published: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for (site, truth) in truths.iter().enumerate() {
        let secret = SuppressionSecret::from_bytes([site as u8; 32]);
        let strategy = if name == "first-found" {
            Strategy::FirstFound
        } else {
            Strategy::InformationLoss(&secret)
        };
        let tables = suppress_report_with(form, truth, policy, strategy)?;
        let published: Vec<IndicatorTables> = form
            .indicators
            .iter()
            .zip(tables)
            .map(|(i, tables)| IndicatorTables {
                indicator: i.id.clone(),
                tables,
            })
            .collect();
        let audit = if name == "first-found" {
            audit_report_equations_only(form, &published, policy.k)?
        } else {
            audit_report(form, &published, policy)?
        };
        run.intervals
            .push(audit.indicators.into_iter().map(|i| i.tables).collect());
        run.published.push(published);
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

struct Figures {
    cells_published: f64,
    totals_published: f64,
    provincial_exact: f64,
    median_width: String,
}

impl Figures {
    fn of(truths: &[Vec<Vec<CountTable>>], run: &Run, k: u64) -> Self {
        let share = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
        let (mut non_zero, mut non_zero_published) = (0, 0);
        let (mut totals, mut totals_published) = (0, 0);
        for (truth, published) in truths.iter().zip(&run.published) {
            for (tables, indicator) in truth.iter().zip(published) {
                for (table, shown) in tables.iter().zip(&indicator.tables) {
                    for (&n, cell) in table.cells.iter().zip(&shown.cells) {
                        if n > 0 {
                            non_zero += 1;
                            non_zero_published += usize::from(*cell != Cell::Suppressed);
                        }
                    }
                }
                let first = &tables[0];
                if first.cells[first.shape.total_index()] >= k {
                    totals += 1;
                    totals_published += usize::from(
                        indicator.tables[0].cells[first.shape.total_index()] != Cell::Suppressed,
                    );
                }
            }
        }
        // Provincial cells: each cell summed over sites, exact when every site's is.
        let (mut cells, mut exact) = (0, 0);
        let mut widths: Vec<Option<u64>> = Vec::new();
        for (i, tables) in truths[0].iter().enumerate() {
            for (t, table) in tables.iter().enumerate() {
                for c in 0..table.cells.len() {
                    cells += 1;
                    let mut width = Some(0u64);
                    for site in &run.intervals {
                        if let Some(interval) = site[i][t][c] {
                            width = match (width, interval.upper) {
                                (Some(w), Some(upper)) => Some(w + (upper - interval.lower)),
                                _ => None,
                            };
                        }
                    }
                    if width == Some(0) {
                        exact += 1;
                    } else {
                        widths.push(width);
                    }
                }
            }
        }
        widths.sort_by_key(|w| w.unwrap_or(u64::MAX));
        let median_width = match widths.get(widths.len() / 2) {
            None => "-".to_owned(),
            Some(Some(w)) => w.to_string(),
            Some(None) => "inf".to_owned(),
        };
        Self {
            cells_published: share(non_zero_published, non_zero),
            totals_published: share(totals_published, totals),
            provincial_exact: share(exact, cells),
            median_width,
        }
    }
}
