//! Corrections that leak nothing (attacker model, item (d)): a new revision is suppressed and
//! audited jointly with every earlier revision of the same site, form and period.
//!
//! The revisions are one model: each revision's indicators side by side, each revision keeping
//! the form's relations, and consecutive revisions linked cell by cell on every indicator that
//! counts clients: `|after − before| ≤ d`, where `d` is the number of client records changed
//! between them. A changed record moves each cell by at most one, so that holds of the truth,
//! and an outsider is assumed to know `d` (the strongest realistic assumption: the site knows
//! it, and a correction usually changes one record). Indicators that count events are not
//! linked: one record can carry any number of events. Cells already published are constants;
//! the earlier revisions' hidden cells stay hidden, and every small cell of every revision must
//! keep the promise. Where hiding every cell of the new revision cannot keep it, the revision
//! must not be sent ([`DisclosureError::Unprotectable`]).

use crate::error::DisclosureError;
use crate::form::{Form, Unit};
use crate::report::{Cell, DisclosurePolicy, IndicatorTables, Table};
use crate::table::{CountTable, Shape};

use super::knowledge::Knowledge;
use super::model::{Fault, Model};
use super::suppress::{Rule, Strategy};
use super::{
    ReportAudit, ReportViolation, SuppressionSecret, analyse_model, into_violation, small_cells,
    suppress_model, underprotected,
};

/// One earlier revision as the site knows it: its true tables and what it published, per
/// indicator of the form in order.
#[derive(Debug, Clone, Copy)]
pub struct Revision<'a> {
    /// The true tables, with exact margins.
    pub truth: &'a [Vec<CountTable>],
    /// The tables as published.
    pub published: &'a [Vec<Table>],
}

/// The least number of client records that changed between two revisions' true tables: the
/// largest change of any cell of an indicator that counts clients (each changed record moves a
/// cell by at most one). An outsider is assumed to know it.
pub fn changed_records(form: &Form, before: &[Vec<CountTable>], after: &[Vec<CountTable>]) -> u64 {
    form.indicators
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(indicator, _)| indicator.count == Unit::Clients)
        .flat_map(|(_, (before, after))| before.iter().zip(after))
        .flat_map(|(b, a)| b.cells.iter().zip(&a.cells))
        .map(|(&b, &a)| b.abs_diff(a))
        .max()
        .unwrap_or(0)
}

/// The least number of client records that can have changed between two publications of the
/// same form and period (per indicator, per table, per cell): the largest difference between a
/// cell published exactly in both, over the indicators that count clients. A lower bound on
/// [`changed_records`], for a revision whose true tables are not known (fetched back from the
/// coordinator after a restore): auditing with it instead of the true number assumes an
/// outsider knows at most as much slack as there was, which narrows the feasible tables and so
/// can only make the audit stricter.
pub fn changed_records_at_least(form: &Form, before: &[Vec<Table>], after: &[Vec<Table>]) -> u64 {
    form.indicators
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(indicator, _)| indicator.count == Unit::Clients)
        .flat_map(|(_, (before, after))| before.iter().zip(after))
        .flat_map(|(b, a)| b.cells.iter().zip(&a.cells))
        .filter_map(|pair| match pair {
            (Cell::Exact(b), Cell::Exact(a)) => Some(b.abs_diff(*a)),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The joint model of `revisions` revisions of `form`, linked with `changed[i]` between
/// revision `i` and `i + 1`.
fn joint_model(
    form: &Form,
    revisions: usize,
    changed: &[u64],
) -> Result<(Model, Vec<usize>), Fault> {
    let shapes: Vec<Vec<Shape>> = form.indicators.iter().map(|i| form.shapes(i)).collect();
    let names: Vec<Vec<String>> = form
        .indicators
        .iter()
        .flat_map(|i| i.tables.iter().cloned())
        .collect();
    let mut layouts: Vec<Vec<(&[String], &Shape)>> = Vec::new();
    let mut table = 0;
    let mut one_revision = Vec::new();
    for (indicator, shapes) in form.indicators.iter().zip(&shapes) {
        one_revision.push(
            indicator
                .tables
                .iter()
                .zip(shapes)
                .map(|(_, shape)| {
                    let layout = (names[table].as_slice(), shape);
                    table += 1;
                    layout
                })
                .collect::<Vec<_>>(),
        );
    }
    for _ in 0..revisions {
        layouts.extend(one_revision.iter().cloned());
    }
    let per = form.indicators.len();
    let mut relations: Vec<(usize, usize, i128)> = Vec::new();
    for r in 0..revisions {
        relations.extend(
            form.subset_relations()
                .iter()
                .map(|&(sub, sup)| (r * per + sub, r * per + sup, 0)),
        );
    }
    for (r, &d) in changed.iter().enumerate().take(revisions.saturating_sub(1)) {
        for (i, indicator) in form.indicators.iter().enumerate() {
            if indicator.count == Unit::Clients {
                let (before, after) = (r * per + i, (r + 1) * per + i);
                relations.push((before, after, i128::from(d)));
                relations.push((after, before, i128::from(d)));
            }
        }
    }
    Model::linked_with_slack(&layouts, &relations)
}

/// Suppresses a new revision of a report (`truth`, per indicator of `form`) jointly with every
/// earlier revision of the same period (oldest first), under `policy` with the site's
/// `secret`: only the new revision's cells are chosen; the earlier ones are as published.
///
/// Fails with [`DisclosureError::Unprotectable`] when even hiding every cell of the new
/// revision leaves a small cell of some revision narrowed: the revision must not be sent.
pub fn suppress_revision(
    form: &Form,
    earlier: &[Revision<'_>],
    truth: &[Vec<CountTable>],
    policy: &DisclosurePolicy,
    secret: &SuppressionSecret,
) -> Result<Vec<Vec<Table>>, DisclosureError> {
    if earlier.is_empty() {
        return super::suppress_report(form, truth, policy, secret);
    }
    let mut truths: Vec<&[Vec<CountTable>]> = earlier.iter().map(|r| r.truth).collect();
    truths.push(truth);
    let changed: Vec<u64> = truths
        .windows(2)
        .map(|pair| changed_records(form, pair[0], pair[1]))
        .collect();
    let latest_change = changed.last().copied().unwrap_or(0);
    let fail = |fault: Fault| match fault {
        Fault::Unprotectable => DisclosureError::Unprotectable {
            changed: latest_change,
        },
        other => super::into_error(other),
    };
    let (model, _) = joint_model(form, truths.len(), &changed).map_err(fail)?;
    let flat: Vec<&CountTable> = truths.iter().flat_map(|t| t.iter().flatten()).collect();
    // Earlier cells are fixed as published; the new revision's are chosen.
    let mut fixed = vec![None; model.var_count()];
    let earlier_tables: Vec<&Table> = earlier
        .iter()
        .flat_map(|r| r.published.iter().flatten())
        .collect();
    for (t, table) in earlier_tables.iter().enumerate() {
        for (c, cell) in table.cells.iter().enumerate() {
            if let Some(&v) = model.cell_var.get(t).and_then(|vars| vars.get(c)) {
                fixed[v] = Some(*cell == Cell::Suppressed);
            }
        }
    }
    let first_free = fixed.iter().position(Option::is_none).unwrap_or(0);
    let rule = Rule {
        fixed: &fixed,
        block: (first_free, form.indicators.len()),
        ..Rule::new(
            u64::from(policy.k),
            policy.zeros,
            Strategy::InformationLoss(secret),
        )
    };
    let published = suppress_model(&model, &flat, &rule).map_err(fail)?;
    let mut latest = published.into_iter().skip(earlier_tables.len());
    Ok(truth
        .iter()
        .map(|tables| latest.by_ref().take(tables.len()).collect())
        .collect())
}

/// The audit of every revision of one site, form and period (oldest first), jointly:
/// `changed[i]` is the number of client records changed between revision `i` and `i + 1`.
/// Gives one [`ReportAudit`] per revision.
pub fn audit_revisions(
    form: &Form,
    revisions: &[&[IndicatorTables]],
    changed: &[u64],
    policy: &DisclosurePolicy,
) -> Result<Vec<ReportAudit>, DisclosureError> {
    analyse(form, revisions, changed, policy).map_err(super::into_error)
}

/// Checks every revision of one site, form and period jointly against `policy`, as
/// [`super::check_report`] checks one: no published small cell, and no hidden cell of any
/// revision narrowed below `k`.
pub fn check_revisions(
    form: &Form,
    revisions: &[&[IndicatorTables]],
    changed: &[u64],
    policy: &DisclosurePolicy,
) -> Result<Vec<ReportAudit>, Vec<ReportViolation>> {
    let mut violations = Vec::new();
    let name = |i: usize| {
        form.indicators
            .get(i)
            .map_or_else(String::new, |i| i.id.clone())
    };
    for revision in revisions {
        for (i, indicator) in revision.iter().enumerate() {
            let mut found = Vec::new();
            small_cells(&indicator.tables, policy.k, &mut found);
            violations.extend(found.into_iter().map(|violation| ReportViolation {
                indicator: name(i),
                violation,
            }));
        }
    }
    match analyse(form, revisions, changed, policy) {
        Ok(audits) => {
            for audit in &audits {
                for (i, indicator) in audit.indicators.iter().enumerate() {
                    let mut found = Vec::new();
                    underprotected(indicator, policy.k, &mut found);
                    violations.extend(found.into_iter().map(|violation| ReportViolation {
                        indicator: name(i),
                        violation,
                    }));
                }
            }
            if violations.is_empty() {
                return Ok(audits);
            }
        }
        Err(fault) => violations.push(ReportViolation {
            indicator: String::new(),
            violation: into_violation(fault),
        }),
    }
    Err(violations)
}

fn analyse(
    form: &Form,
    revisions: &[&[IndicatorTables]],
    changed: &[u64],
    policy: &DisclosurePolicy,
) -> Result<Vec<ReportAudit>, Fault> {
    for revision in revisions {
        if revision.len() != form.indicators.len() {
            return Err(Fault::Structure(format!(
                "{} indicators published, the form has {}",
                revision.len(),
                form.indicators.len()
            )));
        }
    }
    let (model, _) = joint_model(form, revisions.len(), changed)?;
    let flat: Vec<&Table> = revisions
        .iter()
        .flat_map(|r| r.iter().flat_map(|i| &i.tables))
        .collect();
    for (t, table) in flat.iter().enumerate() {
        let expected = model.shapes.get(t).map(Shape::full_len);
        if expected != Some(table.cells.len()) {
            return Err(Fault::Structure(format!(
                "table {t} has {} cells, its shape needs {expected:?}",
                table.cells.len()
            )));
        }
    }
    let mut intervals = analyse_model(&model, &flat, &Knowledge::of(policy))?.into_iter();
    Ok(revisions
        .iter()
        .map(|revision| ReportAudit {
            indicators: revision
                .iter()
                .map(|indicator| super::IndicatorAudit {
                    tables: intervals.by_ref().take(indicator.tables.len()).collect(),
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::Violation;

    /// A form of three client indicators by sex (male, female, other): active clients,
    /// vocational training and relapses, both within active.
    fn form() -> Form {
        Form::from_toml(include_str!("../../tests/data/relations-revisions.toml"))
            .expect("the test form is valid")
    }

    fn sex(interior: &[u64]) -> Vec<CountTable> {
        vec![CountTable::from_interior(
            vec!["sex".into()],
            Shape::new(vec![3]),
            interior,
        )]
    }

    fn published(form: &Form, tables: &[Vec<Table>]) -> Vec<IndicatorTables> {
        form.indicators
            .iter()
            .zip(tables)
            .map(|(i, tables)| IndicatorTables {
                indicator: i.id.clone(),
                tables: tables.clone(),
            })
            .collect()
    }

    /// Suppresses revision 1 and a corrected revision 2 (or finds it unprotectable), then
    /// checks both jointly and asserts every small cell of both keeps the promise.
    fn correct(
        before: &[Vec<CountTable>],
        after: &[Vec<CountTable>],
        k: u32,
    ) -> Result<(), DisclosureError> {
        correct_under(before, after, DisclosurePolicy::new(k).expect("valid k"))
    }

    /// [`correct`] under `policy`.
    fn correct_under(
        before: &[Vec<CountTable>],
        after: &[Vec<CountTable>],
        policy: DisclosurePolicy,
    ) -> Result<(), DisclosureError> {
        let k = policy.k;
        let form = form();
        let secret = SuppressionSecret::from_bytes([3; 32]);
        let first = super::super::suppress_report(&form, before, &policy, &secret)?;
        let second = suppress_revision(
            &form,
            &[Revision {
                truth: before,
                published: &first,
            }],
            after,
            &policy,
            &secret,
        )?;
        let (one, two) = (published(&form, &first), published(&form, &second));
        let changed = changed_records(&form, before, after);
        let audits = check_revisions(&form, &[&one, &two], &[changed], &policy)
            .expect("the joint check passes");
        for ((truth, audit), shown) in [before, after].iter().zip(&audits).zip([&one, &two]) {
            for (i, tables) in truth.iter().enumerate() {
                for (t, table) in tables.iter().enumerate() {
                    for (c, &n) in table.cells.iter().enumerate() {
                        let interval = audit.indicators[i].tables[t][c];
                        match shown[i].tables[t].cells[c] {
                            Cell::Exact(m) => assert_eq!(m, n),
                            Cell::Suppressed => {
                                let interval = interval.expect("hidden cells have intervals");
                                assert!(interval.contains(n), "{interval:?} misses {n}");
                                if n > 0 && n < u64::from(k) {
                                    assert_eq!(interval.lower, 0, "{i}/{t}/{c}: {interval:?}");
                                    assert!(interval.reaches(u64::from(k)), "{interval:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The example: one client in vocational training, who relapsed, has their sex
    /// corrected from male to female.
    fn sex_corrected() -> (Vec<Vec<CountTable>>, Vec<Vec<CountTable>>) {
        (
            vec![sex(&[20, 14, 0]), sex(&[1, 0, 0]), sex(&[1, 0, 0])],
            vec![sex(&[19, 15, 0]), sex(&[0, 1, 0]), sex(&[0, 1, 0])],
        )
    }

    #[test]
    fn changed_records_is_the_largest_change_of_a_client_cell() {
        let form = form();
        let (before, after) = sex_corrected();
        assert_eq!(changed_records(&form, &before, &after), 1);
        assert_eq!(changed_records(&form, &before, &before), 0);
    }

    #[test]
    fn the_corrected_sex_is_held_when_revision_one_published_the_zeros_that_give_it_away() {
        // With zeros published, revision 1 publishes vocational training and relapses female
        // as 0; with one record changed, revision 2's female cells are at most 1 whatever it
        // hides, so no publication protects them: the revision is held.
        for k in [5, 11] {
            let (before, after) = sex_corrected();
            let form = form();
            let policy = DisclosurePolicy::new(k)
                .expect("valid k")
                .with_zeros(crate::report::ZeroPolicy::Published);
            let secret = SuppressionSecret::from_bytes([3; 32]);
            let first = super::super::suppress_report(&form, &before, &policy, &secret)
                .expect("revision 1");
            assert_eq!(first[1][0].cells[1], Cell::Exact(0), "k = {k}");
            assert_eq!(
                correct_under(&before, &after, policy),
                Err(DisclosureError::Unprotectable { changed: 1 }),
                "k = {k}"
            );
        }
    }

    #[test]
    fn the_corrected_sex_goes_out_protected_when_revision_one_hid_its_zeros() {
        // With zeros protected (the default), revision 1 hides the female zeros with the small
        // male cell (three hidden cells per relation), so revision 2 can be published with
        // every small cell of both revisions keeping the promise jointly.
        for k in [5, 11] {
            let (before, after) = sex_corrected();
            let form = form();
            let policy = DisclosurePolicy::new(k).expect("valid k");
            let secret = SuppressionSecret::from_bytes([3; 32]);
            let first = super::super::suppress_report(&form, &before, &policy, &secret)
                .expect("revision 1");
            assert_eq!(first[1][0].cells[1], Cell::Suppressed, "k = {k}");
            assert_eq!(correct(&before, &after, k), Ok(()), "k = {k}");
        }
    }

    #[test]
    fn a_client_added_keeps_every_revision_protected_at_k_5_and_11() {
        for k in [5, 11] {
            let before = vec![sex(&[20, 14, 0]), sex(&[3, 2, 0]), sex(&[1, 2, 0])];
            let after = vec![sex(&[21, 14, 0]), sex(&[4, 2, 0]), sex(&[1, 2, 0])];
            correct(&before, &after, k).expect("a protecting revision 2 exists");
        }
    }

    #[test]
    fn an_event_added_keeps_every_revision_protected_at_k_5_and_11() {
        // A positive urine test recorded late: one more client relapsed.
        for k in [5, 11] {
            let before = vec![sex(&[30, 22, 1]), sex(&[6, 3, 0]), sex(&[2, 1, 0])];
            let after = vec![sex(&[30, 22, 1]), sex(&[6, 3, 0]), sex(&[3, 1, 0])];
            correct(&before, &after, k).expect("a protecting revision 2 exists");
        }
    }

    #[test]
    fn auditing_revisions_alone_misses_what_the_joint_audit_sees() {
        // The publication: revision 1 hides vocational training male and publishes
        // relapses female 0; revision 2 publishes male 0 and hides female. Alone, each hidden
        // cell looks protected; jointly, with one record changed, the hidden male of revision 1
        // is at most 0 + 1.
        let form = form();
        let policy = DisclosurePolicy::DEFAULT;
        use Cell::{Exact as E, Suppressed as S};
        let one = published(
            &form,
            &[
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![E(20), E(14), E(0), E(34)],
                }],
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![S, E(0), E(0), S],
                }],
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![S, E(0), E(0), S],
                }],
            ],
        );
        let two = published(
            &form,
            &[
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![E(19), E(15), E(0), E(34)],
                }],
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![E(0), S, E(0), S],
                }],
                vec![Table {
                    dimensions: vec!["sex".into()],
                    cells: vec![E(0), S, E(0), S],
                }],
            ],
        );
        for revision in [&one, &two] {
            super::super::check_report(&form, revision, &policy).expect("alone it passes");
        }
        let violations = check_revisions(&form, &[&one, &two], &[1], &policy)
            .expect_err("jointly the client is singled out");
        assert!(
            violations
                .iter()
                .any(|v| matches!(v.violation, Violation::Underprotected { upper: 1, .. })),
            "{violations:?}"
        );
    }
}
