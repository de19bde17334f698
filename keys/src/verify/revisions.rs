//! The [`REVISIONS`] check: a corrected site report comes with every earlier revision the
//! coordinator holds (`earlier/<site>.r<N>.cose`), each signed by a key of that site, for the
//! same site, form and period, chained by `supersedes`; and all of them together keep every
//! hidden cell of every revision wide enough (`protocol::disclosure::check_revisions`, with the
//! number of records changed between revisions that each report states), which is what an
//! outsider holding every revision could try to narrow.

use std::collections::BTreeMap;

use quietcount_protocol::disclosure::check_revisions;
use quietcount_protocol::{
    Form, IndicatorTables, ProvincialReport, Sha256Hash, SiteId, SiteRegistry, SiteReport,
    open_with,
};

use super::files::Files;
use super::warnings::Warning;
use super::{Check, site_file};
use crate::package::DonorPackage;

/// Check name (per corrected site): every earlier revision present, signed, chained, and the
/// revisions audited jointly.
pub const REVISIONS: &str = "revisions";
/// Warning name: a site's revisions could not be audited jointly.
pub const NOT_AUDITED_JOINTLY: &str = "revisions-not-audited-jointly";

fn open_site_report(
    bytes: &[u8],
    site: &SiteId,
    registry: &SiteRegistry,
) -> Result<SiteReport, String> {
    open_with::<SiteReport>(bytes, |kid| {
        registry
            .entry_for(site, kid)
            .and_then(|e| e.public_key.verifying_key())
    })
    .map(|opened| opened.payload)
    .map_err(|e| format!("not signed by a key of site {site}: {e}"))
}

pub(super) fn check_revision_chains(
    files: &Files,
    provincial: Option<&ProvincialReport>,
    registry: Option<&SiteRegistry>,
    form: Option<&Form>,
    checks: &mut Vec<Check>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let (Some(provincial), Some(registry), Some(form)) = (provincial, registry, form) else {
        return warnings;
    };
    let inputs: BTreeMap<&SiteId, u32> = provincial
        .inputs
        .iter()
        .map(|i| (&i.site, i.revision))
        .collect();
    for (site, revisions) in &files.earlier {
        let beyond = revisions
            .keys()
            .filter(|r| inputs.get(site).is_none_or(|latest| *r >= latest))
            .count();
        if beyond > 0 {
            checks.push(
                Check::fail(
                    REVISIONS,
                    format!(
                        "{} earlier revision file(s) of site {site} that no input of the provincial report supersedes",
                        beyond
                    ),
                )
                .site(site),
            );
        }
    }
    for input in provincial.inputs.iter().filter(|i| i.revision > 1) {
        let site = &input.site;
        let fail = |detail: String| Check::fail(REVISIONS, detail).site(site);
        let Some(Ok(latest_bytes)) = files.sites.get(site) else {
            continue; // site-files or site-hash already failed
        };
        let Ok(latest) = open_site_report(latest_bytes, site, registry) else {
            continue; // site-signature already failed
        };
        if latest.revision != input.revision {
            continue; // site-report already failed
        }
        let mut chain: Vec<(Vec<u8>, SiteReport)> = Vec::new();
        let mut problem = None;
        for revision in 1..input.revision {
            let path = DonorPackage::earlier_path(std::path::Path::new(""), site, revision);
            let file = path.display().to_string();
            let bytes = match files.earlier.get(site).and_then(|r| r.get(&revision)) {
                None => {
                    problem = Some(format!(
                        "{file} is missing: every earlier revision of a corrected report must be \
                         in the package for the joint audit"
                    ));
                    break;
                }
                Some(Err(e)) => {
                    problem = Some(format!("{file}: {e}"));
                    break;
                }
                Some(Ok(bytes)) => bytes,
            };
            match open_site_report(bytes, site, registry) {
                Ok(report)
                    if report.site == *site
                        && report.period == provincial.period
                        && report.form == provincial.form
                        && report.revision == revision =>
                {
                    chain.push((bytes.clone(), report));
                }
                Ok(_) => {
                    problem = Some(format!(
                        "{file} is not site {site}'s revision {revision} of this form and period"
                    ));
                    break;
                }
                Err(e) => {
                    problem = Some(format!("{file}: {e}"));
                    break;
                }
            }
        }
        if problem.is_none() {
            chain.push((latest_bytes.clone(), latest));
            problem = chain.windows(2).find_map(|pair| {
                let expected = Sha256Hash::of(&pair[0].0);
                (pair[1].1.supersedes != Some(expected)).then(|| {
                    format!(
                        "revision {} of site {site} does not supersede revision {} as stored",
                        pair[1].1.revision, pair[0].1.revision
                    )
                })
            });
        }
        if let Some(problem) = problem {
            checks.push(fail(problem).file(site_file(site)));
            continue;
        }
        let changed: Option<Vec<u64>> = chain
            .iter()
            .skip(1)
            .map(|(_, report)| report.changed_records)
            .collect();
        let Some(changed) = changed else {
            checks.push(
                Check::pass(
                    REVISIONS,
                    format!(
                        "revisions 1 to {} of site {site} present, signed and chained",
                        input.revision
                    ),
                )
                .site(site),
            );
            warnings.push(Warning {
                name: NOT_AUDITED_JOINTLY.to_owned(),
                detail: format!(
                    "site {site}: a revision does not say how many records changed since the \
                     previous one, so its {} revisions were checked one by one, not jointly",
                    input.revision
                ),
                site: Some(site.clone()),
            });
            continue;
        };
        let tables: Vec<&[IndicatorTables]> = chain
            .iter()
            .map(|(_, report)| report.indicators.as_slice())
            .collect();
        let policy = chain.last().map(|(_, r)| r.policy).unwrap_or_default();
        let check = match check_revisions(form, &tables, &changed, &policy) {
            Ok(_) => Check::pass(
                REVISIONS,
                format!(
                    "revisions 1 to {} of site {site} signed, chained and audited jointly \
                     ({} record(s) changed in all): no hidden cell of any revision can be \
                     narrowed below k = {}",
                    input.revision,
                    changed.iter().sum::<u64>(),
                    policy.k
                ),
            ),
            Err(violations) => {
                let first = violations
                    .first()
                    .map(|v| format!("{}: {}", v.indicator, v.violation))
                    .unwrap_or_default();
                fail(format!(
                    "revisions 1 to {} of site {site}, taken together, break the disclosure \
                     rule ({} violation(s); first: {first})",
                    input.revision,
                    violations.len()
                ))
            }
        };
        checks.push(check.file(site_file(site)).site(site));
    }
    warnings
}
