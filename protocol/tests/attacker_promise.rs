//! The promise of each zero policy, tried by the independent brute-force attacker
//! (`testing::attacker`, which never calls the audit): over random small tables and small
//! synthetic sites, every small cell's possible values, over every table consistent with the
//! publication and the rule's facts, include 0 (zeros protected) and reach k (both policies);
//! while the first-found algorithm, attacked the same way, gives small cells away.

use quietcount_protocol::testing::attacker::{
    Attacker, AttackerKnowledge, MeasurementPlan, SearchLimits, measure,
};
use quietcount_protocol::{
    CountTable, DisclosurePolicy, Shape, SuppressionSecret, ZeroPolicy, suppress,
};

fn plan(seeds: std::ops::RangeInclusive<u64>) -> MeasurementPlan {
    MeasurementPlan {
        seeds: seeds.collect(),
        ks: vec![5, 11],
        clients: (20, 100),
        random_shapes: vec![
            Shape::new(vec![3]),
            Shape::new(vec![4]),
            Shape::new(vec![6]),
            Shape::new(vec![2, 3]),
        ],
        sites: true,
        limits: SearchLimits {
            max_candidates: 10_000,
            max_steps: 1_000_000,
            ..SearchLimits::default()
        },
    }
}

#[test]
fn no_small_cell_is_narrowed_under_either_policy_and_first_found_is() {
    let measurement = measure(&plan(1..=2)).expect("measures");
    eprintln!("{measurement}");
    assert_eq!(measurement.truth_missed(), 0, "the attacker is wrong");
    let mut conclusive = 0;
    let mut first_found_broken = 0;
    for row in &measurement.rows {
        let t = &row.tally;
        match row.algorithm {
            "protected" => {
                assert_eq!(t.proven_non_zero, 0, "{row:?}");
                assert_eq!(t.bounded_below_k, 0, "{row:?}");
                assert_eq!(t.disclosed, 0, "{row:?}");
                conclusive += t.conclusive_primaries;
            }
            "zeros-published" => {
                // Existence is disclosed by that policy, and nothing more.
                assert_eq!(t.bounded_below_k, 0, "{row:?}");
                assert_eq!(t.disclosed, 0, "{row:?}");
                conclusive += t.conclusive_primaries;
            }
            _ => {
                if row.knowledge.replay && row.knowledge.zeros_published {
                    first_found_broken += t.bounded_below_k;
                }
            }
        }
    }
    // The claims rest on searches that finished; and the same attacker does break the old
    // algorithm, so it is able to.
    assert!(
        conclusive >= 40,
        "only {conclusive} primaries fully searched"
    );
    assert!(first_found_broken > 0);
}

/// The example, 27 = 0 + * + 8 + 14 + * + *, published under `policy` with each of 16
/// secrets and attacked with everything an outsider knows of the rule: every small cell's
/// values, per secret.
fn age_example_small_cells(policy: &DisclosurePolicy) -> Vec<(u8, Vec<u64>)> {
    let truth = vec![CountTable::from_interior(
        vec!["age_band".into()],
        Shape::new(vec![6]),
        &[0, 1, 8, 14, 2, 2],
    )];
    let shapes = vec![truth[0].shape.clone()];
    let mut out = Vec::new();
    for byte in 0..16u8 {
        let secret = SuppressionSecret::from_bytes([byte; 32]);
        let published = suppress(&truth, policy, &secret).expect("suppresses");
        let attack = Attacker::new(AttackerKnowledge::of_rule(policy))
            .attack(&shapes, &published, policy, Some(&truth))
            .expect("attacks");
        assert!(attack.is_conclusive(), "{:?}", attack.limit);
        assert_eq!(attack.truth_survived, Some(true));
        out.extend(
            attack
                .cells
                .iter()
                .filter(|cell| cell.is_primary(policy.k) == Some(true))
                .map(|cell| (byte, cell.values.iter().copied().collect())),
        );
    }
    out
}

/// With zeros protected, each small hidden cell of the example can be 0 and can reach k, for
/// every secret tried.
#[test]
fn the_age_example_keeps_every_small_cell_open_for_every_secret() {
    let small = age_example_small_cells(&DisclosurePolicy::DEFAULT);
    assert_eq!(small.len(), 16 * 3, "three small cells, each hidden");
    for (secret, values) in small {
        assert!(values.contains(&0), "secret {secret}: {values:?}");
        assert!(
            values.iter().any(|&v| v >= 5),
            "secret {secret}: {values:?}"
        );
    }
}

/// With zeros published the same example's small cells are known to be non-empty (the policy
/// says so), and still reach k.
#[test]
fn with_zeros_published_small_cells_reach_k() {
    let policy = DisclosurePolicy::DEFAULT.with_zeros(ZeroPolicy::Published);
    let small = age_example_small_cells(&policy);
    assert_eq!(small.len(), 16 * 3, "three small cells, each hidden");
    for (secret, values) in small {
        assert!(!values.contains(&0), "zeros are published: {values:?}");
        assert!(
            values.iter().any(|&v| v >= 5),
            "secret {secret}: {values:?}"
        );
    }
}
