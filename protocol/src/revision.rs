//! Revision chains: which revision a new report takes, and what it must supersede.
//!
//! A site's reports for one form and one period form a chain: revision 1 supersedes nothing,
//! revision n + 1 names the envelope hash of revision n. The node uses [`next_revision`] to
//! build the next link; the coordinator's ingest rule ([`crate::ingest`]) checks it against
//! the same definition, so the two cannot disagree.

use crate::error::EncodeError;
use crate::ids::{EnvelopeHash, Sha256Hash};
use crate::report::SiteReport;

/// The latest link of a chain: its revision and the hash of its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    /// Revision number (1 for the first report of a period).
    pub revision: u32,
    /// SHA-256 of the envelope bytes.
    pub envelope_hash: EnvelopeHash,
}

/// Where a new report goes in its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextRevision {
    /// The revision the new report takes.
    pub revision: u32,
    /// The envelope it supersedes (`None` for revision 1).
    pub supersedes: Option<EnvelopeHash>,
}

/// The link that follows `head` (`None`: the chain is empty, so revision 1 superseding nothing).
///
/// Saturates at `u32::MAX`; a chain that long is refused by the ingest rule as stale rather
/// than wrapping around to revision 1.
pub fn next_revision(head: Option<&ChainHead>) -> NextRevision {
    match head {
        None => NextRevision {
            revision: 1,
            supersedes: None,
        },
        Some(head) => NextRevision {
            revision: head.revision.saturating_add(1),
            supersedes: Some(head.envelope_hash),
        },
    }
}

/// The hash of what a report publishes, leaving out when it was built and its place in the
/// revision chain (revision, supersedes, records changed since the previous one): two reports with the same content hash say the same
/// thing. The node uses it to skip rebuilding an unchanged report; the ingest rule uses it to
/// answer a resubmission of stored content (re-signed later, e.g. by a node restored from a
/// backup) with the original receipt rather than calling it equivocation.
pub fn content_hash(report: &SiteReport) -> Result<Sha256Hash, EncodeError> {
    let neutral = SiteReport {
        revision: 0,
        supersedes: None,
        generated_at: 0,
        changed_records: None,
        ..report.clone()
    };
    Ok(Sha256Hash::of(&neutral.encode()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Sha256Hash;

    #[test]
    fn an_empty_chain_starts_at_revision_one_superseding_nothing() {
        assert_eq!(
            next_revision(None),
            NextRevision {
                revision: 1,
                supersedes: None
            }
        );
    }

    #[test]
    fn the_next_link_names_the_head() {
        let hash = Sha256Hash([7; 32]);
        let head = ChainHead {
            revision: 3,
            envelope_hash: hash,
        };
        assert_eq!(
            next_revision(Some(&head)),
            NextRevision {
                revision: 4,
                supersedes: Some(hash)
            }
        );
    }
}
