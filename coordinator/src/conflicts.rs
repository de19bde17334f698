//! `conflicts` and `resolve`: the province's view of equivocation (a site that signed two
//! different reports for one revision) and its recorded decision on which envelope it accepts.
//! A decision names who made it and when; the evidence stays.

use quietcount_protocol::{Period, SiteId, UnixTime};

use crate::admin::Coordinator;
use crate::error::CoordinatorError;
use crate::store::{Conflict, Resolution};

/// What `resolve` is asked to record.
#[derive(Debug, Clone)]
pub struct ResolveRequest<'a> {
    /// The site.
    pub site: &'a SiteId,
    /// The period.
    pub period: Period,
    /// The contested revision; may be omitted when the site has one contested slot that period.
    pub revision: Option<u32>,
    /// The accepted envelope: its hash in hex, or a prefix of it (at least 8 digits) that
    /// names exactly one of the slot's two envelopes.
    pub accept: &'a str,
    /// Who decides.
    pub decided_by: &'a str,
    /// Why (may be empty).
    pub note: &'a str,
}

impl Coordinator {
    /// Every contested slot, of one period or all, with the province's latest decision.
    pub async fn conflicts(
        &self,
        period: Option<Period>,
    ) -> Result<Vec<Conflict>, CoordinatorError> {
        Ok(self.store.conflicts(period).await?)
    }

    /// Records that the province accepts one of the two envelopes of a contested slot, and
    /// returns the slot as it now stands. Nothing is deleted.
    pub async fn resolve(
        &self,
        request: &ResolveRequest<'_>,
        now: UnixTime,
    ) -> Result<Conflict, CoordinatorError> {
        let refuse = |why: String| CoordinatorError::Resolve(why);
        if request.decided_by.trim().is_empty() {
            return Err(refuse("say who decides (--by)".into()));
        }
        let slots: Vec<Conflict> = self
            .store
            .conflicts(Some(request.period))
            .await?
            .into_iter()
            .filter(|c| &c.site == request.site)
            .filter(|c| request.revision.is_none_or(|r| r == c.revision))
            .collect();
        let conflict = match slots.as_slice() {
            [] => {
                return Err(refuse(format!(
                    "no conflicting reports of site {} for {} (see `conflicts`)",
                    request.site, request.period
                )));
            }
            [one] => one.clone(),
            _ => {
                return Err(refuse(format!(
                    "site {} has {} contested revisions for {}: name one with --revision",
                    request.site,
                    slots.len(),
                    request.period
                )));
            }
        };
        let wanted = request.accept.trim().to_ascii_lowercase();
        if wanted.len() < 8 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(refuse(
                "--accept takes the envelope's hash as `conflicts` shows it (at least 8 hex digits)"
                    .into(),
            ));
        }
        let candidates: Vec<_> = conflict
            .stored
            .iter()
            .map(|(hash, _)| *hash)
            .chain([conflict.evidence])
            .filter(|hash| hash.to_hex().starts_with(&wanted))
            .collect();
        let accepted = match candidates.as_slice() {
            [one] => *one,
            [] => {
                return Err(refuse(format!(
                    "{wanted} is neither envelope of this slot (see `conflicts`)"
                )));
            }
            _ => {
                return Err(refuse(format!(
                    "{wanted} names both envelopes: give more digits"
                )));
            }
        };
        let resolution = Resolution {
            accepted,
            decided_by: request.decided_by.trim().to_owned(),
            decided_at: now,
            note: request.note.trim().to_owned(),
        };
        self.store.record_resolution(&conflict, &resolution).await?;
        tracing::info!(site = %conflict.site, period = %conflict.period, revision = conflict.revision, accepted = %&accepted.to_hex()[..16], "conflict resolution recorded");
        Ok(Conflict {
            resolution: Some(resolution),
            ..conflict
        })
    }
}
