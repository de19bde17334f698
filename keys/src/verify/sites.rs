//! The form and the per-site checks: [`FORM`] (the form the provincial report answers),
//! [`SITE_FILES`], and for each site [`SITE_HASH`], [`SITE_SIGNATURE`] (a key the registry
//! lists, active at receipt and at publication), [`SITE_REPORT`] and [`DISCLOSURE`] (through
//! `protocol::disclosure::check_report`, relations between indicators included).

use std::collections::BTreeMap;

use quietcount_protocol::disclosure::{self, Violation};
use quietcount_protocol::export::disaggregation;
use quietcount_protocol::form::DEFAULT_MONTHLY_TOML;
use quietcount_protocol::{
    Cell, DisclosurePolicy, EnvelopeError, Fingerprint, Form, ProvincialReport, RegistryEntry,
    ReportInput, Sha256Hash, SiteId, SiteRegistry, SiteReport, open_with,
};

use super::files::Files;
use super::*;
use crate::package::{FORM_FILE, PROVINCIAL_FILE, SITES_DIR};

/// Most problems spelled out in one check's detail.
const MAX_LISTED: usize = 3;

pub(super) fn check_form(
    files: &Files,
    forms: &[Form],
    provincial: Option<&ProvincialReport>,
    checks: &mut Vec<Check>,
) -> Option<Form> {
    let parsed = match &files.form_toml {
        Err(e) => Err(e.clone()),
        Ok(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| "not UTF-8 text".to_owned())
            .and_then(|text| Form::from_toml(text).map_err(|e| e.to_string())),
    };
    let Some(provincial) = provincial else {
        checks.push(Check::skipped(
            FORM,
            "provincial.cose could not be verified to name the form",
        ));
        return None;
    };
    let expected = &provincial.form;
    let problem = match parsed {
        Ok(form) if form.reference() == *expected => {
            // The form's hash covers its content, not its comments or layout: where the text
            // is known (the shipped form), the file must be that text byte for byte.
            let shipped = Form::default_monthly();
            if let Ok(bytes) = &files.form_toml {
                if form.reference() == shipped.reference()
                    && bytes.as_slice() != DEFAULT_MONTHLY_TOML.as_bytes()
                {
                    let at = first_difference(bytes, DEFAULT_MONTHLY_TOML.as_bytes());
                    checks.push(
                        Check::fail(
                            FORM,
                            format!(
                                "{FORM_FILE} is form {expected}, but its text differs from the shipped form file at byte {at}"
                            ),
                        )
                        .file(FORM_FILE),
                    );
                    return Some(form);
                }
            }
            checks.push(
                Check::pass(
                    FORM,
                    format!("{FORM_FILE} is form {expected}, as the provincial report names"),
                )
                .file(FORM_FILE),
            );
            return Some(form);
        }
        Ok(form) => format!(
            "{FORM_FILE} is form {}, but the provincial report answers {expected}",
            form.reference()
        ),
        Err(e) => format!("{FORM_FILE}: {e}"),
    };
    let fallback = forms.iter().find(|f| f.reference() == *expected).cloned();
    let detail = if fallback.is_some() {
        format!("{problem}; checking on with the known form {expected}")
    } else {
        problem
    };
    checks.push(Check::fail(FORM, detail).file(FORM_FILE));
    fallback
}

/// Runs the per-site checks; returns the site reports of every input, in input order, if all
/// could be opened (signature verified by a key the registry lists).
pub(super) fn check_sites(
    files: &Files,
    provincial: Option<&ProvincialReport>,
    registry: Option<&SiteRegistry>,
    form: Option<&Form>,
    checks: &mut Vec<Check>,
) -> Option<Vec<SiteReport>> {
    let Some(provincial) = provincial else {
        checks.push(Check::skipped(
            SITE_FILES,
            "provincial.cose could not be verified to list the site reports",
        ));
        return None;
    };
    let before = checks.len();
    let mut inputs: BTreeMap<&SiteId, &ReportInput> = BTreeMap::new();
    for pair in provincial.inputs.windows(2) {
        if pair[0].site >= pair[1].site {
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!(
                        "the provincial report lists site {} out of order or twice",
                        pair[1].site
                    ),
                )
                .file(PROVINCIAL_FILE)
                .site(&pair[1].site),
            );
        }
    }
    for input in &provincial.inputs {
        inputs.entry(&input.site).or_insert(input);
        if !files.sites.contains_key(&input.site) {
            let file = site_file(&input.site);
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!("{file} is missing: the provincial report rests on it"),
                )
                .file(file)
                .site(&input.site),
            );
        }
    }
    for site in files.sites.keys() {
        if !inputs.contains_key(site) {
            let file = site_file(site);
            checks.push(
                Check::fail(
                    SITE_FILES,
                    format!("{file} is not an input of the provincial report"),
                )
                .file(file)
                .site(site),
            );
        }
    }
    if checks.len() == before {
        checks.push(Check::pass(
            SITE_FILES,
            format!(
                "{} input(s), one file each in {SITES_DIR}/, no other",
                provincial.inputs.len()
            ),
        ));
    }

    let mut reports = Vec::new();
    let mut all_opened = true;
    for (site, input) in inputs {
        let file = site_file(site);
        let Some(bytes) = files.sites.get(site) else {
            all_opened = false;
            continue;
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                checks.push(
                    Check::fail(SITE_HASH, format!("{file}: {e}"))
                        .file(file)
                        .site(site),
                );
                all_opened = false;
                continue;
            }
        };
        let hash = Sha256Hash::of(bytes);
        let check = if hash == input.envelope {
            Check::pass(
                SITE_HASH,
                format!("{file} is the envelope the provincial report names"),
            )
        } else {
            Check::fail(
                SITE_HASH,
                format!(
                    "{file} has SHA-256 {}, but the provincial report names {}",
                    hash.to_hex(),
                    input.envelope.to_hex()
                ),
            )
        };
        checks.push(check.file(file.clone()).site(site));
        match check_site_signature(bytes, site, input, provincial, registry, &file, checks) {
            Some(report) => {
                check_site_report(&report, site, input, provincial, form, &file, checks);
                check_disclosure(&report, site, form, &file, checks);
                reports.push(report);
            }
            None => {
                all_opened = false;
                let reason = "the site report could not be opened";
                checks.push(
                    Check::skipped(SITE_REPORT, reason)
                        .file(file.clone())
                        .site(site),
                );
                checks.push(Check::skipped(DISCLOSURE, reason).file(file).site(site));
            }
        }
    }
    all_opened.then_some(reports)
}

/// Checks a site report's signature; returns its payload if the signature verifies under any
/// key the registry lists (so that content checks can go on even if the key is the wrong one).
pub(super) fn check_site_signature(
    bytes: &[u8],
    site: &SiteId,
    input: &ReportInput,
    provincial: &ProvincialReport,
    registry: Option<&SiteRegistry>,
    file: &str,
    checks: &mut Vec<Check>,
) -> Option<SiteReport> {
    let Some(registry) = registry else {
        checks.push(
            Check::skipped(SITE_SIGNATURE, "registry.cose could not be verified")
                .file(file)
                .site(site),
        );
        return None;
    };
    let lookup = |kid: &Fingerprint| {
        registry
            .entries
            .iter()
            .filter(|e| e.fingerprint().as_ref() == Some(kid))
            .find_map(|e| e.public_key.verifying_key())
    };
    let opened = match open_with::<SiteReport>(bytes, lookup) {
        Ok(opened) => opened,
        Err(EnvelopeError::UnknownKey { kid }) => {
            checks.push(
                Check::fail(
                    SITE_SIGNATURE,
                    format!(
                        "{file}: signed by key {}, which the registry does not list",
                        short(&kid)
                    ),
                )
                .file(file)
                .site(site),
            );
            return None;
        }
        Err(e) => {
            checks.push(
                Check::fail(SITE_SIGNATURE, format!("{file}: {e}"))
                    .file(file)
                    .site(site),
            );
            return None;
        }
    };
    let signer = opened.signer;
    let published = provincial.published_at;
    let check = match registry.entry_for(site, &signer) {
        None => {
            let owner = registry
                .entries
                .iter()
                .find(|e| e.fingerprint() == Some(signer))
                .map(|e| e.site.to_string())
                .unwrap_or_default();
            Check::fail(
                SITE_SIGNATURE,
                format!(
                    "{file}: signed by key {} of site {owner}, not a key of site {site}",
                    short(&signer)
                ),
            )
        }
        Some(_) if input.received_at > published => Check::fail(
            SITE_SIGNATURE,
            format!(
                "{file}: received at {}, after the publication at {}",
                format_time(input.received_at),
                format_time(published)
            ),
        ),
        Some(entry) if !entry.active_at(input.received_at) => Check::fail(
            SITE_SIGNATURE,
            format!(
                "{file}: key {} of site {site} was not active when the report was received at {} ({})",
                short(&signer),
                format_time(input.received_at),
                key_window(entry)
            ),
        ),
        Some(_) => Check::pass(
            SITE_SIGNATURE,
            format!(
                "{file} signed by site key {}, valid when the report was received",
                short(&signer)
            ),
        ),
    };
    checks.push(check.file(file).site(site));
    Some(opened.payload)
}

/// A key's validity window in words: `enrolled …`, then `retired …` (replaced by a newer key)
/// or `revoked since … (reason, recorded …)`.
pub fn key_window(entry: &RegistryEntry) -> String {
    let enrolled = format!("enrolled {}", format_time(entry.enrolled_at));
    let Some(until) = entry.valid_until else {
        return enrolled;
    };
    match entry.ended {
        Some(end) if end.reason.is_retirement() => format!(
            "{enrolled}, retired {} (replaced by a newer key)",
            format_time(end.recorded_at)
        ),
        Some(end) if end.recorded_at != until => format!(
            "{enrolled}, revoked since {} ({}, recorded {})",
            format_time(until),
            end.reason,
            format_time(end.recorded_at)
        ),
        Some(end) => format!(
            "{enrolled}, revoked {} ({})",
            format_time(until),
            end.reason
        ),
        None => format!("{enrolled}, valid until {}", format_time(until)),
    }
}

pub(super) fn check_site_report(
    report: &SiteReport,
    site: &SiteId,
    input: &ReportInput,
    provincial: &ProvincialReport,
    form: Option<&Form>,
    file: &str,
    checks: &mut Vec<Check>,
) {
    let mut problems = Vec::new();
    if report.site != *site {
        problems.push(format!("the report is site {}'s", report.site));
    }
    if report.revision != input.revision {
        problems.push(format!(
            "revision {}, but the provincial report used revision {}",
            report.revision, input.revision
        ));
    }
    if report.form != provincial.form {
        problems.push(format!(
            "answers form {}, but the provincial report {}",
            report.form, provincial.form
        ));
    }
    if report.period != provincial.period {
        problems.push(format!(
            "reports period {}, but the provincial report {}",
            report.period, provincial.period
        ));
    }
    match form {
        // A report naming another form was refused above; do not say it twice.
        Some(form) if report.form == form.reference() => {
            if let Err(e) = report.check_against(form) {
                problems.push(e.to_string());
            }
        }
        Some(_) => {}
        None => problems.push("the form is not known, so the tables cannot be checked".into()),
    }
    let check = if problems.is_empty() {
        Check::pass(
            SITE_REPORT,
            format!(
                "{file}: site {site}, revision {}, period {}, matches form {}",
                report.revision, report.period, report.form
            ),
        )
    } else {
        Check::fail(SITE_REPORT, format!("{file}: {}", problems.join("; ")))
    };
    checks.push(check.file(file).site(site));
}

/// One disclosure problem: where, and what.
pub(super) struct Problem {
    indicator: String,
    table: usize,
    cell: usize,
    label: String,
    message: String,
}

pub(super) fn check_disclosure(
    report: &SiteReport,
    site: &SiteId,
    form: Option<&Form>,
    file: &str,
    checks: &mut Vec<Check>,
) {
    let k = report.policy.k;
    let check = if k < DisclosurePolicy::MIN_K {
        Check::fail(
            DISCLOSURE,
            format!(
                "{file}: disclosure threshold k = {k} is below the minimum of {}",
                DisclosurePolicy::MIN_K
            ),
        )
    } else {
        match form {
            None => Check::skipped(DISCLOSURE, "the form is not known"),
            Some(form) if report.check_against(form).is_err() => {
                Check::skipped(DISCLOSURE, "the report does not match its form")
            }
            Some(form) => disclosure_check(report, form, file),
        }
    };
    checks.push(check.file(file).site(site));
}

pub(super) fn disclosure_check(report: &SiteReport, form: &Form, file: &str) -> Check {
    let policy = &report.policy;
    let k = policy.k;
    let mut problems: Vec<Problem> = Vec::new();
    let mut suppressed = 0usize;
    let label = |indicator: &str, table: usize, cell: usize| -> String {
        let Some(found) = form.indicator(indicator) else {
            return format!("table {table} cell {cell}");
        };
        let shapes = form.shapes(found);
        match (found.tables.get(table), shapes.get(table)) {
            (Some(dims), Some(shape)) if cell < shape.full_len() => {
                format!("{indicator}/{}", disaggregation(form, dims, shape, cell))
            }
            _ => format!("{indicator}/table {table} cell {cell}"),
        }
    };
    // One audit of the whole report: the relations the form declares between indicators
    // bound hidden cells too, as they do for anyone reading the report.
    let mut found: Vec<(String, usize, usize, String)> = Vec::new();
    match disclosure::check_report(form, &report.indicators, policy) {
        // `check_report` passes only when every suppressed cell's interval reaches k.
        Ok(_) => {
            suppressed += report
                .indicators
                .iter()
                .flat_map(|i| &i.tables)
                .flat_map(|t| &t.cells)
                .filter(|c| **c == Cell::Suppressed)
                .count();
        }
        Err(violations) if violations.is_empty() => {
            let first = form.indicators.first().map_or("", |i| i.id.as_str());
            found.push((
                first.to_owned(),
                0,
                0,
                "the tables could not be audited".to_owned(),
            ));
        }
        Err(violations) => {
            for violation in &violations {
                let (table, cell, message) = violation_entry(&violation.violation);
                found.push((violation.indicator.clone(), table, cell, message));
            }
        }
    }
    for (indicator, table, cell, message) in found {
        if problems
            .iter()
            .any(|p| p.indicator == indicator && p.table == table && p.cell == cell)
        {
            continue;
        }
        problems.push(Problem {
            label: label(&indicator, table, cell),
            indicator,
            table,
            cell,
            message,
        });
    }
    match problems.first() {
        None => Check::pass(
            DISCLOSURE,
            format!(
                "{file}: no published cell below k = {k}, published margins add up, {suppressed} suppressed cell(s) each reach at least k"
            ),
        ),
        Some(first) => {
            let listed: Vec<String> = problems
                .iter()
                .take(MAX_LISTED)
                .map(|p| format!("{} {}", p.label, p.message))
                .collect();
            let more = problems.len().saturating_sub(MAX_LISTED);
            let mut detail = format!("{file}: {}", listed.join("; "));
            if more > 0 {
                detail.push_str(&format!(" (and {more} more)"));
            }
            Check::fail(DISCLOSURE, detail).cell(Some(first.label.clone()))
        }
    }
}

pub(super) fn violation_entry(violation: &Violation) -> (usize, usize, String) {
    match violation {
        Violation::SmallCellPublished {
            table,
            cell,
            value,
            k,
        } => (*table, *cell, format!("published {value}, below k = {k}")),
        Violation::Underprotected {
            table,
            cell,
            lower,
            upper,
            k,
        } => (
            *table,
            *cell,
            format!("suppressed, but can be narrowed to [{lower}, {upper}], below k = {k}"),
        ),
        Violation::Inconsistent { table, cell } => (
            *table,
            *cell,
            "published margin does not equal the sum of its published cells".to_owned(),
        ),
        Violation::Infeasible { table, cell } => (
            *table,
            *cell,
            "no non-negative counts are consistent with the published cells".to_owned(),
        ),
        Violation::AboveSuperset { table, cell } => (
            *table,
            *cell,
            "published above the matching cell of the indicator the form declares it within"
                .to_owned(),
        ),
        Violation::SharedMismatch { table, cell } => (
            *table,
            *cell,
            "published differently (or suppressed in one place only) across the indicator's tables"
                .to_owned(),
        ),
        other => (0, 0, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::testing::{DAY, Fixture};
    use crate::verify::test_support::*;
    use quietcount_protocol::{KeyEnd, KeyEndReason, sign};

    #[test]
    fn mismatched_form_hash_fails_naming_form_toml() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| p.form.hash.0[0] ^= 1);
        let report = verify(&fixture, &package);
        let check = failure(&report, FORM);
        assert_eq!(check.file.as_deref(), Some(FORM_FILE));
        // Every site report now answers another form than the provincial report.
        assert_eq!(
            report.failures().filter(|c| c.name == SITE_REPORT).count(),
            2
        );
    }

    #[test]
    fn a_known_form_is_used_when_form_toml_does_not_match_but_the_check_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        package.form_toml = package.form_toml.replace("Unknown", "Not known");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        package.write_to(&path).unwrap();
        let report = verify_package(
            &path,
            &[fixture.coordinator_key()],
            std::slice::from_ref(&fixture.form),
        );
        let check = only_failure(&report, FORM);
        assert!(check.detail.contains("checking on with the known form"));
        // Without the known form, everything that needs the form is skipped.
        let report = verify_package(&path, &[fixture.coordinator_key()], &[]);
        assert!(failure(&report, TOTALS).detail.starts_with("skipped"));
    }

    #[test]
    fn site_report_site_key_refusals() {
        let fixture = Fixture::two_sites();
        let (hn01, hn02) = (site(0), site(1));
        let report0 = fixture.site_report(0);

        // Signed by a key the registry does not know.
        let stranger = Identity::from_seed([0x77; 32]);
        let mut package = fixture.package();
        let envelope = sign(&report0, stranger.signing_key()).unwrap();
        fixture.replace_site(&mut package, &hn01, envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn01));
        assert_eq!(check.file.as_deref(), Some("sites/hn-01.cose"));
        assert!(check.detail.contains("registry does not list"));

        // Signed by another site's key.
        let mut package = fixture.package();
        let envelope = sign(&report0, fixture.sites[1].identity.signing_key()).unwrap();
        fixture.replace_site(&mut package, &hn01, envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn01));
        assert!(check.detail.contains("of site hn-02"), "{}", check.detail);

        // Signed by a key revoked before the report was received.
        let mut package = fixture.package();
        let revoked_at = fixture.sites[1].received_at - DAY;
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.entries[1].valid_until = Some(revoked_at);
            r.entries[1].ended = Some(KeyEnd {
                reason: KeyEndReason::Compromised,
                recorded_at: revoked_at + DAY,
            });
        });
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_SIGNATURE);
        assert_eq!(check.site.as_ref(), Some(&hn02));
        assert!(
            check
                .detail
                .contains("not active when the report was received"),
            "{}",
            check.detail
        );
        assert!(check.detail.contains("revoked since"), "{}", check.detail);
        assert!(check.detail.contains("compromised"), "{}", check.detail);

        // Retired (replaced by a newer key) after receipt but before publication: what the key
        // signed while valid stays valid; the donor is warned that the registry changed after
        // the period.
        let mut package = fixture.package();
        let retired_at = fixture.published_at - 1;
        fixture.resign_registry(&mut package, &fixture.coordinator, |r| {
            r.entries[0].valid_until = Some(retired_at);
            r.entries[0].ended = Some(KeyEnd {
                reason: KeyEndReason::Replaced,
                recorded_at: retired_at,
            });
        });
        let report = verify(&fixture, &package);
        assert!(report.passed(), "{}", report.render_text());
        let warning = report
            .warnings
            .iter()
            .find(|w| w.name == KEY_ENDED_AFTER_PERIOD)
            .expect("a warning about the key retired after the period");
        assert_eq!(warning.site.as_ref(), Some(&site(0)));
        assert!(warning.detail.contains("retired"), "{}", warning.detail);

        // Received before the key was enrolled.
        let mut package = fixture.package();
        let early = fixture.sites[0].enrolled_at - 1;
        fixture.resign_provincial(&mut package, |p| p.inputs[0].received_at = early);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_SIGNATURE)
                .detail
                .contains("not active when the report was received")
        );
    }

    #[test]
    fn missing_or_extra_site_file_fails_naming_it() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        package.sites.remove(&site(1));
        let report = verify(&fixture, &package);
        let check = failure(&report, SITE_FILES);
        assert_eq!(check.file.as_deref(), Some("sites/hn-02.cose"));
        assert!(check.detail.contains("missing"));
        assert!(failure(&report, TOTALS).detail.starts_with("skipped"));

        let mut package = fixture.package();
        let extra = SiteId::new("hn-03").unwrap();
        let envelope = package.sites[&site(0)].clone();
        package.sites.insert(extra, envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_FILES);
        assert_eq!(check.file.as_deref(), Some("sites/hn-03.cose"));
    }

    #[test]
    fn site_file_that_is_not_the_input_envelope_fails() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        // A validly signed, different report from the same site, not re-signed by the province.
        let mut other = fixture.site_report(0);
        other.generated_at += 1;
        package
            .sites
            .insert(site(0), fixture.stored(0, &other).envelope);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_HASH);
        assert_eq!(check.file.as_deref(), Some("sites/hn-01.cose"));
    }

    #[test]
    fn wrong_revision_wrong_site_or_wrong_period_fails_site_report() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        fixture.resign_provincial(&mut package, |p| p.inputs[1].revision = 2);
        let report = verify(&fixture, &package);
        let check = only_failure(&report, SITE_REPORT);
        assert_eq!(check.site, Some(site(1)));
        assert!(
            check
                .detail
                .contains("revision 1, but the provincial report used revision 2")
        );

        // Site hn-01 signs a report claiming to be hn-02's, filed as hn-01.
        let mut package = fixture.package();
        let mut forged = fixture.site_report(0);
        forged.site = site(1);
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &forged).envelope);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_REPORT)
                .detail
                .contains("site hn-02's")
        );
        assert!(!report.passed());

        let mut package = fixture.package();
        let mut late = fixture.site_report(0);
        late.period = fixture.period.previous().unwrap();
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &late).envelope);
        let report = verify(&fixture, &package);
        assert!(
            failure(&report, SITE_REPORT)
                .detail
                .contains("reports period 2026-09")
        );
        failure(&report, TOTALS);
    }

    #[test]
    fn published_small_cell_fails_disclosure_naming_site_and_cell() {
        let fixture = Fixture::two_sites();
        // hn-02 publishes its counts raw: one non-zero cell is below k, signed and aggregated.
        let reports = vec![
            fixture.stored(0, &fixture.site_report(0)),
            fixture.stored(1, &fixture.raw_site_report(1)),
        ];
        let package = fixture.assemble_with(&reports).package;
        let report = verify(&fixture, &package);
        let check = only_failure(&report, DISCLOSURE);
        assert_eq!(check.site, Some(site(1)));
        assert_eq!(check.file.as_deref(), Some("sites/hn-02.cose"));
        assert_eq!(check.cell.as_deref(), Some("clients_methadone/sex=other"));
        assert!(
            check.detail.contains("published 2, below k = 5"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn policy_below_two_fails_disclosure() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        let mut weak = fixture.site_report(0);
        weak.policy.k = 1;
        fixture.replace_site(&mut package, &site(0), fixture.stored(0, &weak).envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, DISCLOSURE);
        assert!(check.detail.contains("k = 1 is below the minimum of 2"));
    }

    #[test]
    fn margins_that_do_not_add_up_fail_disclosure() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        let mut report0 = fixture.site_report(0);
        // Raise one published interior cell of clients_new/sex without touching its margin.
        let position = fixture
            .form
            .indicators
            .iter()
            .position(|i| i.id == "clients_new")
            .unwrap();
        let table = &mut report0.indicators[position].tables[1];
        let cell = table
            .cells
            .iter()
            .position(|c| matches!(c, Cell::Exact(n) if *n >= 5))
            .unwrap();
        table.cells[cell] = Cell::Exact(table.cells[cell].exact().unwrap() + 1);
        let stored = fixture.stored(0, &report0);
        fixture.replace_site(&mut package, &site(0), stored.envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, DISCLOSURE);
        assert_eq!(check.site, Some(site(0)));
        // The cell at fault is in clients_new (which one depends on what `check` flags first).
        assert!(
            check.cell.as_deref().unwrap().starts_with("clients_new/"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn a_subset_indicator_above_its_superset_fails_disclosure() {
        let fixture = Fixture::two_sites();
        let mut package = fixture.package();
        let mut report0 = fixture.site_report(0);
        let position = |id: &str| {
            fixture
                .form
                .indicators
                .iter()
                .position(|i| i.id == id)
                .unwrap()
        };
        // More clients on methadone than clients active: each table alone is fine (nothing
        // below k, margins add up), but the form declares methadone within active.
        let active_total = report0.indicators[position("clients_active")].tables[0]
            .cells
            .last()
            .and_then(|c| c.exact())
            .unwrap();
        let more = active_total + 5;
        report0.indicators[position("clients_methadone")].tables[0].cells = vec![
            Cell::Exact(more),
            Cell::Exact(0),
            Cell::Exact(0),
            Cell::Exact(more),
        ];
        let stored = fixture.stored(0, &report0);
        fixture.replace_site(&mut package, &site(0), stored.envelope);
        let report = verify(&fixture, &package);
        let check = failure(&report, DISCLOSURE);
        assert_eq!(check.site, Some(site(0)));
        assert!(
            check
                .cell
                .as_deref()
                .unwrap()
                .starts_with("clients_methadone/"),
            "{}",
            check.detail
        );
        assert!(
            check
                .detail
                .contains("indicator the form declares it within"),
            "{}",
            check.detail
        );
    }
}
