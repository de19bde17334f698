//! Measures today's disclosure control against the brute-force attacker of
//! `quietcount_protocol::testing::attacker`: over small random tables and small synthetic sites,
//! the share of primary cells (true value `0 < n < k`) that the attacker proves non-zero,
//! bounds below k, or discloses exactly, for every combination of its knowledge.
//!
//! ```text
//! cargo run --release -p quietcount-protocol --features test-util --example attack [SEEDS]
//! ```
//!
//! `SEEDS` (default 8) is how many seeds are drawn; every case runs at k = 5 and k = 11.

use std::error::Error;

use quietcount_protocol::testing::attacker::{MeasurementPlan, measure};

fn main() -> Result<(), Box<dyn Error>> {
    let mut plan = MeasurementPlan::default();
    if let Some(seeds) = std::env::args().nth(1) {
        let seeds: u64 = seeds
            .parse()
            .map_err(|_| format!("SEEDS must be a whole number, not {seeds:?}"))?;
        plan.seeds = (1..=seeds).collect();
    }
    let started = std::time::Instant::now();
    let measurement = measure(&plan)?;
    print!("{measurement}");
    println!(
        "{} seeds, {:.1} s; attacker faults (truth missed): {}",
        plan.seeds.len(),
        started.elapsed().as_secs_f64(),
        measurement.truth_missed()
    );
    if measurement.truth_missed() > 0 {
        return Err("the attacker missed the truth: a fault of the attacker".into());
    }
    Ok(())
}
