//! What an outsider knows about hidden cells from the rule itself, beyond the published cells'
//! equations: the facts the audit adds so that it computes the ranges an attacker who knows the
//! algorithm computes (attacker model, item (b), in the [module documentation](super)).
//!
//! - Zeros published: every hidden quantity is at least 1.
//! - A hidden grand total is at most `2k − 2` when its indicator publishes a non-zero cell: it
//!   is hidden only when below `k` plus a secret margin under `k`, never as a complement. (An
//!   indicator that publishes no non-zero cell may be the last resort of suppression, which
//!   hides any total; no cap is assumed there.)
//! - Zeros protected: every small cell can be 0 (the rule guarantees it), so a hidden quantity
//!   that cannot be 0 is a complement, and complements are 0 or at least `k`: its least value
//!   is raised to `k`, and the audit is repeated until nothing changes.

use crate::report::{DisclosurePolicy, ZeroPolicy};

use super::model::Model;

/// The facts of one rule (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Knowledge {
    /// The threshold.
    pub k: u64,
    /// Whether zeros may be hidden.
    pub zeros: ZeroPolicy,
    /// Whether the facts of the rule apply at all: `false` audits the published equations
    /// alone, as before the rule had them (kept to compare the two algorithms).
    pub rule_facts: bool,
}

impl Knowledge {
    /// The facts of `policy`.
    pub fn of(policy: &DisclosurePolicy) -> Self {
        Self {
            k: u64::from(policy.k),
            zeros: policy.zeros,
            rule_facts: true,
        }
    }

    /// Only the published equations: what the audit knew before the rule's facts were added.
    pub fn equations_only(k: u64) -> Self {
        Self {
            k,
            zeros: ZeroPolicy::Protected,
            rule_facts: false,
        }
    }

    /// The least value of any hidden quantity.
    pub fn floor(&self) -> u64 {
        u64::from(self.rule_facts && self.zeros == ZeroPolicy::Published)
    }

    /// Whether a hidden quantity that cannot be 0 is known to be at least `k`.
    pub fn infers_complements(&self) -> bool {
        self.rule_facts && self.zeros == ZeroPolicy::Protected
    }

    /// The largest value a hidden grand total can take, by the rule.
    pub fn hidden_total_cap(&self) -> u64 {
        (2 * self.k).saturating_sub(2)
    }

    /// Per variable: the least value and the cap the rule gives it if it is hidden, given what
    /// is published (`known`, by variable).
    pub fn bounds(&self, model: &Model, known: &[Option<i128>]) -> Vec<(u64, Option<u64>)> {
        let floor = self.floor();
        if !self.rule_facts {
            return vec![(0, None); model.var_count()];
        }
        let mut publishes_non_zero =
            vec![false; model.indicator_of.iter().max().map_or(0, |m| m + 1)];
        for (v, value) in known.iter().enumerate() {
            if value.is_some_and(|n| n > 0) {
                publishes_non_zero[model.indicator_of[v]] = true;
            }
        }
        (0..model.var_count())
            .map(|v| {
                let cap = (model.is_grand_total(v) && publishes_non_zero[model.indicator_of[v]])
                    .then(|| self.hidden_total_cap());
                (floor, cap)
            })
            .collect()
    }
}
