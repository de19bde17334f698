//! The ingest rule: whether a coordinator accepts a site report whose signature it verified.
//!
//! The coordinator's ingest, its fuzz target and anyone auditing a province call these same
//! functions. They take what the coordinator knows (the accepted forms, the province's
//! threshold, the period window, `now`, and what its store holds for the report's chain) and
//! return a decision; they do no I/O. Who may sign for which site is decided before this, from
//! the TLS identity and the enrolled keys.
//!
//! A report's identity is (site, form id, form version, period, revision): each form has its
//! own revision chain, so two forms for one month never collide.

use crate::disclosure::{
    ReportViolation, check_report as check_report_disclosure, check_revisions,
};
use crate::error::MismatchError;
use crate::form::{Form, FormRef};
use crate::ids::{EnvelopeHash, Period, Sha256Hash, UnixTime};
use crate::report::{SiteReport, ZeroPolicy};
use crate::revision::{ChainHead, content_hash, next_revision};
use crate::wire::RefusalCode;

/// What the province accepts, from its configuration.
#[derive(Debug, Clone, Copy)]
pub struct IngestRules<'a> {
    /// The forms accepted.
    pub forms: &'a [Form],
    /// The least disclosure threshold accepted.
    pub min_k: u32,
    /// The weakest zero policy accepted (`Published` accepts both).
    pub min_zeros: ZeroPolicy,
    /// How long after a period's end its reports are still accepted, in days.
    pub max_period_age_days: u32,
}

/// What the store holds for the chain of the report being decided: (site, form, period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainState {
    /// The latest stored revision of the chain, if any.
    pub head: Option<ChainHead>,
    /// The envelope stored at the report's own revision, if that slot is filled.
    pub in_slot: Option<EnvelopeHash>,
    /// The content hash ([`content_hash`]) of the report stored in that slot, if known.
    pub in_slot_content: Option<Sha256Hash>,
}

/// Where an acceptable report goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainVerdict {
    /// The report is the next link: store it.
    Append,
    /// This very envelope already fills its slot: answer with the stored receipt.
    AlreadyStored,
    /// Another envelope with the same content (same cells, another timestamp) fills the slot:
    /// a resubmission, not an equivocation. Answer with the stored envelope's receipt.
    SameContent {
        /// The envelope stored in the slot.
        stored: EnvelopeHash,
    },
}

/// Why a report is refused. Each variant maps to one wire [`RefusalCode`]; the messages name
/// the report's slot and never its contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestRefusal {
    /// The form is not one the province accepts.
    #[error("form {form} is not accepted by this coordinator")]
    FormNotAccepted {
        /// The form the report names.
        form: FormRef,
    },
    /// The report does not have its form's shape.
    #[error("report does not match its form: {0}")]
    Mismatch(MismatchError),
    /// The report's threshold is below the province's.
    #[error("disclosure threshold k = {k} is below the province's k = {min_k}")]
    PolicyTooWeak {
        /// The report's threshold.
        k: u32,
        /// The province's.
        min_k: u32,
    },
    /// The report publishes zeros where the province requires them protected.
    #[error(
        "the report publishes its zeros (zeros = \"published\"); the province requires zeros = \"protected\""
    )]
    ZerosPublished,
    /// The report breaks the disclosure rule it states: what the donor's verifier would reject.
    #[error("{}", disclosure_message(violations))]
    Disclosure {
        /// Every violation found, each naming its indicator, table and cell.
        violations: Vec<ReportViolation>,
    },
    /// A correction that, read together with the chain's earlier revisions (already
    /// published) and the number of records it says changed, lets an outsider narrow a hidden
    /// cell below `k`: what a node holds back, refused here in case an old or faulty node sent
    /// it anyway. Sent as [`RefusalCode::DisclosureRule`], which every node already knows.
    #[error(
        "revision {revision} of {period}, read together with revisions {from} to {} already \
         published and the {changed} record(s) it says changed, would let an outsider narrow a \
         hidden cell below k: {}. It was not stored. A node that audits corrections jointly \
         holds such a correction back until later corrections can protect it; build it again \
         with an up-to-date node",
        revision - 1,
        first_violation(violations)
    )]
    RevisionsDisclose {
        /// The report's period.
        period: Period,
        /// The report's revision.
        revision: u32,
        /// The first revision audited with it.
        from: u32,
        /// The records changed since revision `from`, in all.
        changed: u64,
        /// Every violation found, in any revision.
        violations: Vec<ReportViolation>,
    },
    /// The period has not ended.
    #[error("period {period} has not ended yet")]
    PeriodNotOver {
        /// The report's period.
        period: Period,
    },
    /// The period ended too long ago.
    #[error("period {period} ended more than {max_age_days} days ago")]
    PeriodTooOld {
        /// The report's period.
        period: Period,
        /// The window.
        max_age_days: u32,
    },
    /// A different envelope already fills the slot: the site signed two reports for one slot.
    #[error(
        "revision {revision} of {period} is already stored as envelope {stored}; this different \
         envelope is kept as evidence"
    )]
    Equivocation {
        /// The report's period.
        period: Period,
        /// The slot's revision.
        revision: u32,
        /// The envelope stored in the slot.
        stored: EnvelopeHash,
    },
    /// The revision is not the next one of its chain.
    #[error("revision {revision} for {period}: the next revision expected is {expected}")]
    NotNextRevision {
        /// The report's period.
        period: Period,
        /// The report's revision.
        revision: u32,
        /// The next revision of the stored chain.
        expected: u32,
    },
    /// The report does not supersede the chain's latest envelope.
    #[error("revision {revision} for {period} must supersede the latest stored envelope")]
    WrongSupersedes {
        /// The report's period.
        period: Period,
        /// The report's revision.
        revision: u32,
    },
}

impl IngestRefusal {
    /// The wire code sent to the site.
    pub fn code(&self) -> RefusalCode {
        match self {
            IngestRefusal::FormNotAccepted { .. } => RefusalCode::WrongForm,
            IngestRefusal::Mismatch(MismatchError::Revision { .. }) => RefusalCode::StaleRevision,
            IngestRefusal::Mismatch(MismatchError::PolicyTooWeak { .. }) => {
                RefusalCode::PolicyTooWeak
            }
            IngestRefusal::Mismatch(_) => RefusalCode::WrongForm,
            IngestRefusal::PolicyTooWeak { .. } | IngestRefusal::ZerosPublished => {
                RefusalCode::PolicyTooWeak
            }
            IngestRefusal::Disclosure { .. } | IngestRefusal::RevisionsDisclose { .. } => {
                RefusalCode::DisclosureRule
            }
            IngestRefusal::PeriodNotOver { .. } => RefusalCode::PeriodNotOver,
            IngestRefusal::PeriodTooOld { .. } => RefusalCode::PeriodTooOld,
            IngestRefusal::Equivocation { .. } => RefusalCode::Equivocation,
            IngestRefusal::NotNextRevision { .. } | IngestRefusal::WrongSupersedes { .. } => {
                RefusalCode::StaleRevision
            }
        }
    }
}

/// Checks everything about `report` that does not depend on the store: an accepted form, the
/// form's shape, the province's threshold, the disclosure rule the report states (the check the
/// donor's verifier runs, so that no report a donor would reject is ever accepted), and the
/// period window at `now`. Returns the form.
pub fn check_report<'a>(
    rules: &IngestRules<'a>,
    report: &SiteReport,
    now: UnixTime,
) -> Result<&'a Form, IngestRefusal> {
    let Some(form) = rules.forms.iter().find(|f| f.reference() == report.form) else {
        return Err(IngestRefusal::FormNotAccepted {
            form: report.form.clone(),
        });
    };
    report
        .check_against(form)
        .map_err(IngestRefusal::Mismatch)?;
    if report.policy.k < rules.min_k {
        return Err(IngestRefusal::PolicyTooWeak {
            k: report.policy.k,
            min_k: rules.min_k,
        });
    }
    if !report.policy.zeros.at_least(rules.min_zeros) {
        return Err(IngestRefusal::ZerosPublished);
    }
    if let Err(violations) = check_report_disclosure(form, &report.indicators, &report.policy) {
        return Err(IngestRefusal::Disclosure { violations });
    }
    if !report.period.is_over(now) {
        return Err(IngestRefusal::PeriodNotOver {
            period: report.period,
        });
    }
    let max_age = u64::from(rules.max_period_age_days) * 86_400;
    if now.saturating_sub(report.period.end()) > max_age {
        return Err(IngestRefusal::PeriodTooOld {
            period: report.period,
            max_age_days: rules.max_period_age_days,
        });
    }
    Ok(form)
}

/// Checks a correction jointly with the earlier revisions of its chain (attacker model, item
/// (d)): `earlier` are the stored revisions 1 to `report.revision - 1`, oldest first, each
/// already checked alone when it was accepted; `form` is the report's form.
///
/// Only a report that states `changed_records` is audited (an old node's report does not, and
/// its revisions are left to the one-by-one check, as the donor's verifier does with a
/// warning). The audit covers the longest run of revisions ending with `report` that each state
/// their changes: a revision that does not breaks the link to the ones before it. The policy is
/// the new report's.
pub fn check_revision_chain(
    form: &Form,
    earlier: &[SiteReport],
    report: &SiteReport,
) -> Result<(), IngestRefusal> {
    if report.revision <= 1 || report.changed_records.is_none() || earlier.is_empty() {
        return Ok(());
    }
    let chain: Vec<&SiteReport> = earlier.iter().chain(std::iter::once(report)).collect();
    let start = (1..chain.len())
        .rev()
        .find(|&i| chain[i].changed_records.is_none())
        .unwrap_or(0);
    let run = &chain[start..];
    if run.len() < 2 {
        return Ok(());
    }
    let changed: Vec<u64> = run[1..]
        .iter()
        .map(|r| r.changed_records.unwrap_or(0))
        .collect();
    let tables: Vec<&[crate::report::IndicatorTables]> =
        run.iter().map(|r| r.indicators.as_slice()).collect();
    check_revisions(form, &tables, &changed, &report.policy).map_err(|violations| {
        IngestRefusal::RevisionsDisclose {
            period: report.period,
            revision: report.revision,
            from: run[0].revision,
            changed: changed.iter().sum(),
            violations,
        }
    })?;
    Ok(())
}

/// The first violation, located, and how many more there are.
fn disclosure_message(violations: &[ReportViolation]) -> String {
    if violations.is_empty() {
        return "the report breaks the disclosure rule".to_owned();
    }
    format!(
        "the report breaks the disclosure rule: {}",
        first_violation(violations)
    )
}

/// The first violation, located, and how many more there are (empty if none).
fn first_violation(violations: &[ReportViolation]) -> String {
    let Some(first) = violations.first() else {
        return String::new();
    };
    let place = if first.indicator.is_empty() {
        String::new()
    } else {
        format!("indicator {}, ", first.indicator)
    };
    let more = match violations.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    format!("{place}{}{more}", first.violation)
}

/// Decides where `report` (whose envelope hashes to `hash`) goes in its chain, given what the
/// store holds for it: already stored (this envelope, or another with the same content), the
/// next link, an equivocation (another content in the slot), or stale.
pub fn check_chain(
    report: &SiteReport,
    hash: &EnvelopeHash,
    chain: &ChainState,
) -> Result<ChainVerdict, IngestRefusal> {
    if let Some(stored) = chain.in_slot {
        if stored == *hash {
            return Ok(ChainVerdict::AlreadyStored);
        }
        // Re-signed content already stored (a restored node builds the same report again with
        // a new timestamp): the same statement, so the original receipt stands.
        if chain.in_slot_content.is_some() && content_hash(report).ok() == chain.in_slot_content {
            return Ok(ChainVerdict::SameContent { stored });
        }
        return Err(IngestRefusal::Equivocation {
            period: report.period,
            revision: report.revision,
            stored,
        });
    }
    let next = next_revision(chain.head.as_ref());
    if report.revision != next.revision || chain.head.is_some_and(|h| h.revision == u32::MAX) {
        return Err(IngestRefusal::NotNextRevision {
            period: report.period,
            revision: report.revision,
            expected: next.revision,
        });
    }
    if report.supersedes != next.supersedes {
        return Err(IngestRefusal::WrongSupersedes {
            period: report.period,
            revision: report.revision,
        });
    }
    Ok(ChainVerdict::Append)
}

/// Whether the store must look up the slot of `revision` given the chain's head: only a chain
/// that already reaches that revision can hold an envelope there.
pub fn slot_may_be_filled(head: Option<&ChainHead>, revision: u32) -> bool {
    head.is_some_and(|h| h.revision >= revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SiteId;
    use crate::report::{Cell, DisclosurePolicy, FORMAT_VERSION, IndicatorTables, Table};

    /// A report of zeros: valid against any form.
    fn zero_report(
        form: &Form,
        period: &str,
        revision: u32,
        supersedes: Option<EnvelopeHash>,
    ) -> SiteReport {
        SiteReport {
            format: FORMAT_VERSION,
            form: form.reference(),
            site: SiteId::new("hn-ba-dinh").expect("valid site"),
            period: Period::parse(period).expect("valid period"),
            revision,
            supersedes,
            generated_at: 0,
            policy: DisclosurePolicy::DEFAULT,
            changed_records: None,
            indicators: form
                .indicators
                .iter()
                .map(|indicator| IndicatorTables {
                    indicator: indicator.id.clone(),
                    tables: indicator
                        .tables
                        .iter()
                        .zip(form.shapes(indicator))
                        .map(|(dims, shape)| Table {
                            dimensions: dims.clone(),
                            cells: vec![Cell::Exact(0); shape.full_len()],
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn rules(forms: &[Form]) -> IngestRules<'_> {
        IngestRules {
            forms,
            min_k: 5,
            min_zeros: ZeroPolicy::Published,
            max_period_age_days: 365,
        }
    }

    fn day_after(period: &str) -> UnixTime {
        Period::parse(period).expect("valid period").end() + 86_400
    }

    const H1: Sha256Hash = Sha256Hash([1; 32]);
    const H2: Sha256Hash = Sha256Hash([2; 32]);

    #[test]
    fn a_well_formed_report_of_an_accepted_form_passes() {
        let forms = [Form::default_monthly()];
        let report = zero_report(&forms[0], "2026-10", 1, None);
        let form = check_report(&rules(&forms), &report, day_after("2026-10"));
        assert_eq!(form.map(Form::reference), Ok(forms[0].reference()));
    }

    #[test]
    fn refuses_an_unaccepted_form_a_weak_policy_and_periods_outside_the_window() {
        let forms = [Form::default_monthly()];
        let mut other = Form::default_monthly();
        other.id = "another-form".into();
        let report = zero_report(&other, "2026-10", 1, None);
        let refusal = check_report(&rules(&forms), &report, day_after("2026-10"));
        assert_eq!(refusal.map_err(|e| e.code()), Err(RefusalCode::WrongForm));

        let mut weak = zero_report(&forms[0], "2026-10", 1, None);
        weak.policy = DisclosurePolicy::new(3).expect("k = 3 is allowed");
        let refusal = check_report(&rules(&forms), &weak, day_after("2026-10"));
        assert_eq!(
            refusal.map_err(|e| e.code()),
            Err(RefusalCode::PolicyTooWeak)
        );

        let report = zero_report(&forms[0], "2026-10", 1, None);
        let before_end = Period::parse("2026-10").expect("valid").end() - 1;
        let refusal = check_report(&rules(&forms), &report, before_end);
        assert_eq!(
            refusal.map_err(|e| e.code()),
            Err(RefusalCode::PeriodNotOver)
        );

        let much_later = day_after("2026-10") + 400 * 86_400;
        let refusal = check_report(&rules(&forms), &report, much_later);
        assert_eq!(
            refusal.map_err(|e| e.code()),
            Err(RefusalCode::PeriodTooOld)
        );
    }

    #[test]
    fn refuses_a_report_whose_tables_do_not_fit_its_form() {
        let forms = [Form::default_monthly()];
        let mut report = zero_report(&forms[0], "2026-10", 1, None);
        report.indicators.pop();
        let refusal = check_report(&rules(&forms), &report, day_after("2026-10"));
        assert_eq!(refusal.map_err(|e| e.code()), Err(RefusalCode::WrongForm));
    }

    /// A report of zeros whose `relapses` table (by sex: male, female, other, total) is `cells`.
    fn with_relapses(form: &Form, cells: [u64; 4]) -> SiteReport {
        let mut report = zero_report(form, "2026-10", 1, None);
        let relapses = report
            .indicators
            .iter_mut()
            .find(|i| i.indicator == "relapses")
            .expect("the default form counts relapses");
        relapses.tables[0].cells = cells.iter().map(|&n| Cell::Exact(n)).collect();
        report
    }

    #[test]
    fn refuses_reports_a_donor_would_reject_naming_indicator_and_cell() {
        let forms = [Form::default_monthly()];
        let now = day_after("2026-10");
        let poisoned = [
            // A count of 1 published under k = 5.
            (with_relapses(&forms[0], [1, 0, 0, 1]), "below k"),
            // Margins that do not add up.
            (with_relapses(&forms[0], [5, 5, 0, 7]), "relapses"),
            // A count no site has.
            (
                with_relapses(&forms[0], [1 << 63, 0, 0, 1 << 63]),
                "relapses",
            ),
        ];
        for (report, named) in poisoned {
            let refusal = check_report(&rules(&forms), &report, now).expect_err("poisoned");
            assert_eq!(refusal.code(), RefusalCode::DisclosureRule, "{refusal}");
            let message = refusal.to_string();
            assert!(message.contains(named), "{message}");
            assert!(message.contains("relapses"), "{message}");
        }
        // The same table with honest counts passes.
        let honest = with_relapses(&forms[0], [5, 6, 0, 11]);
        assert!(check_report(&rules(&forms), &honest, now).is_ok());
    }

    #[test]
    fn the_chain_accepts_only_the_next_link() {
        let form = Form::default_monthly();
        let first = zero_report(&form, "2026-10", 1, None);
        assert_eq!(
            check_chain(&first, &H1, &ChainState::default()),
            Ok(ChainVerdict::Append)
        );
        let head = ChainHead {
            revision: 1,
            envelope_hash: H1,
        };
        let second = zero_report(&form, "2026-10", 2, Some(H1));
        let chain = ChainState {
            head: Some(head),
            in_slot: None,
            in_slot_content: None,
        };
        assert_eq!(check_chain(&second, &H2, &chain), Ok(ChainVerdict::Append));

        let skipping = zero_report(&form, "2026-10", 3, Some(H1));
        assert!(matches!(
            check_chain(&skipping, &H2, &chain),
            Err(IngestRefusal::NotNextRevision { expected: 2, .. })
        ));
        let wrong_parent = zero_report(&form, "2026-10", 2, Some(H2));
        assert!(matches!(
            check_chain(&wrong_parent, &H2, &chain),
            Err(IngestRefusal::WrongSupersedes { .. })
        ));
    }

    #[test]
    fn a_filled_slot_is_a_duplicate_or_an_equivocation() {
        let form = Form::default_monthly();
        let report = zero_report(&form, "2026-10", 1, None);
        let chain = ChainState {
            head: Some(ChainHead {
                revision: 1,
                envelope_hash: H1,
            }),
            in_slot: Some(H1),
            in_slot_content: Some(Sha256Hash([9; 32])),
        };
        assert_eq!(
            check_chain(&report, &H1, &chain),
            Ok(ChainVerdict::AlreadyStored)
        );
        let refusal = check_chain(&report, &H2, &chain);
        assert_eq!(
            refusal.clone().map_err(|e| e.code()),
            Err(RefusalCode::Equivocation)
        );
        assert!(matches!(
            refusal,
            Err(IngestRefusal::Equivocation { stored, revision: 1, .. }) if stored == H1
        ));
    }

    #[test]
    fn only_a_chain_reaching_the_revision_can_fill_its_slot() {
        let head = ChainHead {
            revision: 2,
            envelope_hash: H1,
        };
        assert!(!slot_may_be_filled(None, 1));
        assert!(slot_may_be_filled(Some(&head), 1));
        assert!(slot_may_be_filled(Some(&head), 2));
        assert!(!slot_may_be_filled(Some(&head), 3));
    }

    #[test]
    fn the_same_content_re_signed_is_a_duplicate_not_an_equivocation() {
        let form = Form::default_monthly();
        let stored = zero_report(&form, "2026-10", 1, None);
        let mut resigned = stored.clone();
        resigned.generated_at = 1_000;
        let chain = ChainState {
            head: Some(ChainHead {
                revision: 1,
                envelope_hash: H1,
            }),
            in_slot: Some(H1),
            in_slot_content: content_hash(&stored).ok(),
        };
        assert_eq!(
            check_chain(&resigned, &H2, &chain),
            Ok(ChainVerdict::SameContent { stored: H1 })
        );
        // Different cells in the same slot remain an equivocation.
        let mut changed = resigned.clone();
        changed.indicators[0].tables[0].cells[0] = Cell::Suppressed;
        assert_eq!(
            check_chain(&changed, &H2, &chain).map_err(|e| e.code()),
            Err(RefusalCode::Equivocation)
        );
    }

    /// The leaking pair of revisions on the three-indicator test form, as reports.
    fn leaking_chain() -> (Form, SiteReport, SiteReport) {
        use Cell::{Exact as E, Suppressed as S};
        let form = Form::from_toml(include_str!("../tests/data/relations-revisions.toml"))
            .expect("the test form is valid");
        let with = |revision: u32, cells: [[Cell; 4]; 3]| {
            let mut report = zero_report(&form, "2026-10", revision, None);
            for (indicator, cells) in report.indicators.iter_mut().zip(cells) {
                indicator.tables = vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: cells.to_vec(),
                }];
            }
            report
        };
        let one = with(
            1,
            [
                [E(20), E(14), E(0), E(34)],
                [S, E(0), E(0), S],
                [S, E(0), E(0), S],
            ],
        );
        let two = with(
            2,
            [
                [E(19), E(15), E(0), E(34)],
                [E(0), S, E(0), S],
                [E(0), S, E(0), S],
            ],
        );
        (form, one, two)
    }

    #[test]
    fn a_correction_is_audited_with_the_run_of_revisions_that_state_their_changes() {
        let (form, one, mut two) = leaking_chain();
        // Unstated: not audited jointly.
        assert_eq!(
            check_revision_chain(&form, std::slice::from_ref(&one), &two),
            Ok(())
        );
        two.changed_records = Some(1);
        let refusal = check_revision_chain(&form, std::slice::from_ref(&one), &two).unwrap_err();
        assert_eq!(refusal.code(), RefusalCode::DisclosureRule);
        assert!(
            matches!(
                refusal,
                IngestRefusal::RevisionsDisclose {
                    revision: 2,
                    from: 1,
                    changed: 1,
                    ..
                }
            ),
            "{refusal:?}"
        );
        // Revision 3 states its changes but revision 2 did not: the run is 2 and 3 only, and
        // those two publish the same, so nothing leaks between them.
        two.changed_records = None;
        let mut three = two.clone();
        three.revision = 3;
        three.changed_records = Some(1);
        assert_eq!(check_revision_chain(&form, &[one, two], &three), Ok(()));
        // A first revision is never audited jointly.
        let (form, one, _) = leaking_chain();
        assert_eq!(check_revision_chain(&form, &[], &one), Ok(()));
    }
}
