//! The promise of each zero policy against an outsider who replays the randomised algorithm
//! itself (attacker model, item (b)): for small random tables and linked tables, every table
//! consistent with the publication is enumerated together with every secret of a secret space,
//! and only the (table, secret) pairs whose run of [`suppress`] hides exactly the hidden cells
//! are kept (`Attacker::attack_over_secrets`, which calls `suppress` as a black box and never
//! the audit). Each small cell's values over the kept pairs must include 0 (zeros protected)
//! and reach `k` (both policies).
//!
//! # The reduced secret space
//! The real secret is 32 bytes, far too many to enumerate. [`SuppressionSecret::from_bytes`] is
//! the seam: these tests publish with a secret of a reduced space of [`SECRETS`] secrets and
//! tell the attacker that the secret is one of them. That is sound for the promise: every pair
//! kept over the reduced space is kept over the full one, so a small cell's values here are a
//! subset of what the full replay allows (`reduced_space_values_grow_with_the_space` checks
//! this on the examples). A promise kept here holds against the full replay; a failure here
//! may be an artefact of the reduced space, or real.
//!
//! # Status
//! The suite finds failures in today's algorithm (see `replay_keeps_every_promise`, ignored
//! until the algorithm is fixed, and the README's known limits); the non-ignored tests check
//! the attacker itself, and that the failure it found first (two hidden cells under a
//! published margin) is fixed.

use std::collections::BTreeSet;

use quietcount_protocol::testing::attacker::{Attack, Attacker, AttackerKnowledge, SearchLimits};
use quietcount_protocol::testing::marginal;
use quietcount_protocol::{
    CountTable, DisclosurePolicy, Shape, SuppressionSecret, ZeroPolicy, suppress,
};

/// The size of the reduced secret space.
const SECRETS: u8 = 8;

fn secrets(n: u8) -> Vec<SuppressionSecret> {
    (0..n)
        .map(|b| SuppressionSecret::from_bytes([b; 32]))
        .collect()
}

/// A small deterministic generator (xorshift64).
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

    /// Interior counts: a quarter zeros, the rest `0..=max`.
    fn counts(&mut self, cells: usize, max: u64) -> Vec<u64> {
        (0..cells)
            .map(|_| {
                if self.next() % 4 == 0 {
                    0
                } else {
                    self.next() % (max + 1)
                }
            })
            .collect()
    }
}

/// The cases of one seed: one-table indicators of 3, 4, 2 x 2 and 2 x 3 cells, and two linked
/// indicators: tables [d0] and [d0, d1] of one 2 x 3 joint table, and [d0] and [d1] of a 2 x 2
/// one (linked through their grand total).
fn cases(seed: u64, max: u64) -> Vec<Vec<CountTable>> {
    let mut draw = Draw::new(seed);
    let names = |rank: usize| -> Vec<String> { (0..rank).map(|d| format!("d{d}")).collect() };
    let mut out = Vec::new();
    for shape in [vec![3usize], vec![4], vec![2, 2], vec![2, 3]] {
        let joint = draw.counts(shape.iter().product(), max);
        let dims = names(shape.len());
        out.push(vec![marginal(&dims, &shape, &joint, &dims)]);
    }
    let linked: [(Vec<usize>, Vec<Vec<&str>>); 2] = [
        (vec![2, 3], vec![vec!["d0"], vec!["d0", "d1"]]),
        (vec![2, 2], vec![vec!["d0"], vec!["d1"]]),
    ];
    for (shape, tables) in linked {
        let joint = draw.counts(shape.iter().product(), max);
        let dims = names(shape.len());
        out.push(
            tables
                .iter()
                .map(|t| {
                    let wanted: Vec<String> = t.iter().map(|s| (*s).to_owned()).collect();
                    marginal(&dims, &shape, &joint, &wanted)
                })
                .collect(),
        );
    }
    out
}

fn attacker(policy: &DisclosurePolicy, max_candidates: u64) -> Attacker {
    Attacker {
        knowledge: AttackerKnowledge {
            zeros_published: policy.zeros == ZeroPolicy::Published,
            replay: false,
            rule_facts: false,
        },
        limits: SearchLimits {
            max_candidates,
            ..SearchLimits::default()
        },
    }
}

/// Publishes `truth` with `secret` and attacks it replaying over `space`.
fn replay_attack(
    truth: &[CountTable],
    policy: &DisclosurePolicy,
    secret: &SuppressionSecret,
    space: &[SuppressionSecret],
) -> Attack {
    replay_attack_within(truth, policy, secret, space, 20_000)
}

/// [`replay_attack`], the search stopping after `max_candidates` candidate tables.
fn replay_attack_within(
    truth: &[CountTable],
    policy: &DisclosurePolicy,
    secret: &SuppressionSecret,
    space: &[SuppressionSecret],
    max_candidates: u64,
) -> Attack {
    let shapes: Vec<Shape> = truth.iter().map(|t| t.shape.clone()).collect();
    let published = suppress(truth, policy, secret).expect("suppresses");
    attacker(policy, max_candidates)
        .attack_over_secrets(&shapes, &published, policy, Some(truth), space)
        .expect("attacks")
}

/// Whether a small cell's values keep the promise of `policy`.
fn keeps_promise(values: &BTreeSet<u64>, policy: &DisclosurePolicy) -> bool {
    let k = u64::from(policy.k);
    values.iter().any(|&v| v >= k) && (policy.zeros == ZeroPolicy::Published || values.contains(&0))
}

/// Over `seeds`, per policy and k: (small cells searched completely, small cells whose promise
/// fails), printing the first failures.
fn run(seeds: std::ops::RangeInclusive<u64>, ks: &[u32]) -> Vec<(String, u64, u64)> {
    let space = secrets(SECRETS);
    let mut rows = Vec::new();
    for zeros in [ZeroPolicy::Protected, ZeroPolicy::Published] {
        for &k in ks {
            let policy = DisclosurePolicy::new(k).expect("k").with_zeros(zeros);
            let (mut small, mut failing) = (0, 0);
            for seed in seeds.clone() {
                let secret = &space[(seed % u64::from(SECRETS)) as usize];
                for truth in cases(seed, 2 * u64::from(k)) {
                    let attack = replay_attack(&truth, &policy, secret, &space);
                    if !attack.is_conclusive() {
                        continue;
                    }
                    assert_eq!(attack.truth_survived, Some(true), "the attacker is wrong");
                    for cell in attack
                        .cells
                        .iter()
                        .filter(|c| c.is_primary(k) == Some(true))
                    {
                        small += 1;
                        if !keeps_promise(&cell.values, &policy) {
                            failing += 1;
                            if failing <= 2 {
                                let cells: Vec<&Vec<u64>> =
                                    truth.iter().map(|t| &t.cells).collect();
                                eprintln!(
                                    "{zeros:?} k={k}: truth {cells:?}, cell {:?}: values {:?}",
                                    cell.occurrences, cell.values
                                );
                            }
                        }
                    }
                }
            }
            eprintln!("{zeros:?} k={k}: {failing} of {small} small cells fail the promise");
            rows.push((format!("{zeros:?}"), u64::from(k), failing));
        }
    }
    rows
}

/// The suite: every small cell of every completely searched case keeps its policy's promise
/// against the replay over the reduced secret space. Ignored: today's algorithm fails it (14 of
/// 69 small cells at k = 3 and 14 of 80 at k = 5 with zeros protected, 6 of 73 and 6 of 94 with
/// zeros published, over seeds 1–10; 45 of 73 and 54 of 99 protected before every relation
/// with a hidden cell hid at least three); run it with `cargo test --release -p quietcount-protocol --test replay_secrets
/// -- --ignored --nocapture`.
#[test]
#[ignore = "today's algorithm fails the replay over secrets (issue 10): fix the algorithm, then un-ignore"]
fn replay_keeps_every_promise() {
    let rows = run(1..=10, &[3, 5]);
    assert!(rows.iter().all(|r| r.2 == 0), "{rows:?}");
}

/// The attacker itself: the truth (published with a secret of the space) always survives the
/// replay and the replay keeps a subset of the candidates, over every search that finished
/// (most of them).
#[test]
fn replay_over_secrets_keeps_the_truth_and_only_narrows() {
    let space = secrets(4);
    let policy = DisclosurePolicy::new(3).expect("k");
    let (mut narrowed, mut searched) = (0, 0);
    for seed in 1..=4 {
        for truth in cases(seed, 6) {
            for secret in &space {
                let attack = replay_attack_within(&truth, &policy, secret, &space, 500);
                if !attack.is_conclusive() {
                    continue;
                }
                searched += 1;
                assert_eq!(attack.truth_survived, Some(true));
                let plain = replay_attack_within(&truth, &policy, secret, &[], 500);
                assert_eq!(attack.candidates, plain.candidates);
                assert!(attack.survivors <= plain.survivors);
                narrowed += u64::from(attack.survivors < plain.survivors);
                for (cell, all) in attack.cells.iter().zip(&plain.cells) {
                    assert!(cell.values.is_subset(&all.values), "{cell:?} {all:?}");
                    assert!(cell.truth.is_some_and(|t| cell.values.contains(&t)));
                }
            }
        }
    }
    assert!(searched >= 40, "only {searched} searches finished");
    assert!(narrowed > 0, "the replay never ruled a candidate out");
}

/// The soundness argument of the reduced space, on the age example: a larger space
/// keeps at least the values a smaller one keeps; and the replay over secrets is stronger than
/// the equations alone (it finds what the issue says: each small cell is in [1, 3]).
#[test]
fn reduced_space_values_grow_with_the_space() {
    let policy = DisclosurePolicy::DEFAULT;
    let truth = vec![CountTable::from_interior(
        vec!["age_band".into()],
        Shape::new(vec![6]),
        &[0, 1, 8, 14, 2, 2],
    )];
    let (small, large) = (secrets(2), secrets(16));
    for secret in &small {
        let narrow = replay_attack(&truth, &policy, secret, &small);
        let wide = replay_attack(&truth, &policy, secret, &large);
        assert!(narrow.survivors <= wide.survivors);
        for (a, b) in narrow.cells.iter().zip(&wide.cells) {
            assert!(a.values.is_subset(&b.values), "{a:?} {b:?}");
        }
        let equations = replay_attack(&truth, &policy, secret, &[]);
        assert!(wide.survivors < equations.survivors);
    }
}

/// The first failure the suite found: a table [6, 1, 4, 0] at k = 3 published as
/// [6, *, *, 0, 11], where the small cell could not be 0 (the other hidden cell would then be
/// 5, no small cell, and nothing would have been hidden). With three hidden cells per relation,
/// the replay over every secret of the space leaves it open down to 0 and up to k.
#[test]
fn a_small_cell_is_no_longer_given_away_by_a_lone_pair() {
    let policy = DisclosurePolicy::new(3).expect("k");
    let truth = vec![CountTable::from_interior(
        vec!["d0".into()],
        Shape::new(vec![4]),
        &[6, 1, 4, 0],
    )];
    let space = secrets(SECRETS);
    for secret in &space {
        let attack = replay_attack(&truth, &policy, secret, &space);
        assert!(attack.is_conclusive(), "{:?}", attack.limit);
        let small = attack.cell(0, 1).expect("the small cell is hidden");
        assert!(keeps_promise(&small.values, &policy), "{:?}", small.values);
    }
}
