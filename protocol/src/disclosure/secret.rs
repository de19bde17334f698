//! The secret of suppression: it orders complements of equal cost and sets each indicator's
//! hidden-total margin, so that an outsider who knows the algorithm but not the secret must
//! replay it over every possible secret. (That replay still narrows some small cells: see
//! `tests/replay_secrets.rs`, which enumerates a reduced space of secrets through
//! [`SuppressionSecret::from_bytes`].)
//!
//! A site derives one secret from its signing key (it never leaves the node) and from it one
//! secret per (form, period): every revision of a period draws the same choices, so a correction
//! does not reveal anything by re-drawing them.

use sha2::{Digest, Sha256};

use crate::form::FormRef;
use crate::ids::Period;

/// The secret of one report's suppression: it orders complements of equal cost and sets each
/// indicator's hidden-total margin. Derived per (form, period) from the site's secret, which
/// comes from its signing key, so every revision of a period draws the same choices.
#[derive(Clone, PartialEq, Eq)]
pub struct SuppressionSecret([u8; 32]);

impl std::fmt::Debug for SuppressionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuppressionSecret(..)")
    }
}

impl SuppressionSecret {
    /// A secret from raw bytes (tests, benchmarks, and callers that derive their own).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret of one form and period, from the site's secret.
    pub fn for_report(site_secret: &[u8; 32], form: &FormRef, period: Period) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"quietcount/suppression-secret/v1\0");
        hash.update(site_secret);
        hash.update(form.id.as_bytes());
        hash.update([0]);
        hash.update(form.version.to_be_bytes());
        hash.update(period.to_string().as_bytes());
        Self(hash.finalize().into())
    }

    /// A pseudo-random number for (`label`, `index`).
    fn draw(&self, label: &[u8], index: u64) -> u64 {
        let mut hash = Sha256::new();
        hash.update(self.0);
        hash.update(label);
        hash.update(index.to_be_bytes());
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    /// The secret rank of variable `var`: the order among complements of equal cost.
    pub(super) fn rank(&self, var: usize) -> u64 {
        self.draw(b"rank", var as u64)
    }

    /// The hidden-total margin of indicator `indicator`, in `0..k`: its grand total is hidden
    /// when below `k` plus this margin (and it has a small cell).
    pub(super) fn total_margin(&self, indicator: usize, k: u64) -> u64 {
        if k == 0 {
            return 0;
        }
        self.draw(b"total-margin", indicator as u64) % k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Sha256Hash;

    fn form(version: u32) -> FormRef {
        FormRef {
            id: "f".into(),
            version,
            hash: Sha256Hash::of(b"f"),
        }
    }

    #[test]
    fn one_secret_per_form_and_period_and_site() {
        let period: Period = "2026-10".parse().expect("period");
        let later: Period = "2026-11".parse().expect("period");
        let a = SuppressionSecret::for_report(&[1; 32], &form(1), period);
        assert_eq!(a, SuppressionSecret::for_report(&[1; 32], &form(1), period));
        assert_ne!(a, SuppressionSecret::for_report(&[2; 32], &form(1), period));
        assert_ne!(a, SuppressionSecret::for_report(&[1; 32], &form(2), period));
        assert_ne!(a, SuppressionSecret::for_report(&[1; 32], &form(1), later));
    }

    #[test]
    fn margins_stay_below_k_and_vary() {
        let margins: Vec<u64> = (0..200u8)
            .map(|b| SuppressionSecret::from_bytes([b; 32]).total_margin(0, 5))
            .collect();
        assert!(margins.iter().all(|&m| m < 5));
        for m in 0..5 {
            assert!(margins.contains(&m), "margin {m} never drawn");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let text = format!("{:?}", SuppressionSecret::from_bytes([0xab; 32]));
        assert!(!text.contains("171") && !text.contains("ab"), "{text}");
    }
}
