//! Reporting forms: what a site reports, as data.
//!
//! A form is a TOML file (see `forms/` at the repository root) with its indicators and the
//! dimensions they are broken down by. It is identified by id, version and the SHA-256 of its
//! canonical CBOR encoding ([`FormRef`]); a report names the form it answers.
//!
//! # What an indicator counts
//! Over the local record model of a site (clients, and their dated service events):
//! - `basis = "events"`: the service events dated within the period whose `service` is one of
//!   `services` (any service if empty) and whose `outcome` is one of `outcomes` (any if
//!   empty). With `count = "events"` each such event counts once; with `count = "clients"`
//!   each client with at least one such event counts once.
//! - `basis = "enrolment"`: clients whose `enrolled_on` falls within the period
//!   (`count = "clients"`, no `services`).
//! - `min_months_enrolled = N` further keeps only clients enrolled on or before the last day
//!   of the period minus N months.
//!
//! # Relations between indicators
//! `subset_of = "other"` declares that every unit this indicator counts is also counted by
//! `other`, so each of its cells is at most the cell of `other` that fixes the same categories
//! (same dimension names; margins and the total included), wherever `other` publishes such a
//! cell. An attacker knows these relations, so the disclosure audit uses them
//! ([`crate::disclosure::audit_report`]). A form may declare only what its definitions imply,
//! which [`Form::validate`] checks: both indicators count the same unit (clients within clients,
//! events within events: a client count is not a subset of an event count) on the same basis;
//! the subset's services and outcomes are among the other's (or the other takes any); and the
//! subset requires at least the other's months of enrolment. Then every unit the subset counts
//! passes the other's filter too, and is classified into the same categories (a category is a
//! function of the client or the event, whichever indicator counts it). Relations that hold
//! only by a site's habits (every new client has an intake event in the month) are not
//! implied, and are refused rather than trusted.
//!
//! # Dimensions
//! Every dimension is a partition: each counted unit falls in exactly one category. Category
//! codes are the record vocabulary itself (`male`, `opioids`, `counselling_group`, ...), and
//! the code `unknown` takes units whose value is missing. Age bands are categories with
//! `min_age`/`max_age`, by age in whole years on the last day of the period. Client fields
//! (`sex`, `age_band`, `primary_substance`, `referral_source`, `modality`) classify the
//! counted client (or the client of a counted event); event fields (`service`, `outcome`)
//! classify events and may only be used with `count = "events"`.

use serde::{Deserialize, Serialize};

use crate::cbor;
use crate::error::FormError;
use crate::ids::{PeriodType, Sha256Hash};
use crate::table::Shape;

/// The code of the category that takes missing values.
pub const UNKNOWN: &str = "unknown";

/// Largest number of cells (margins included) one table may have.
pub const MAX_TABLE_CELLS: usize = 100_000;

/// A reporting form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Form {
    /// Stable identifier, e.g. `vn-community-treatment-monthly`.
    pub id: String,
    /// Version; a changed form gets a new version.
    pub version: u32,
    /// Title in English and Vietnamese.
    pub title: Text,
    /// The kind of period reported.
    pub period: PeriodType,
    /// The dimensions indicators are broken down by.
    pub dimensions: Vec<Dimension>,
    /// The indicators, in report order.
    pub indicators: Vec<Indicator>,
}

/// A label in English and Vietnamese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// English.
    pub en: String,
    /// Vietnamese.
    pub vi: String,
}

/// A dimension: a partition of counted units into categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Name used by tables, e.g. `age_band`.
    pub name: String,
    /// The record field it classifies by.
    pub field: Field,
    /// Title.
    pub title: Text,
    /// Categories, in table order.
    pub categories: Vec<Category>,
}

/// A record field a dimension can classify by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Client's sex.
    Sex,
    /// Client's age band on the last day of the period.
    AgeBand,
    /// Client's primary substance.
    PrimarySubstance,
    /// Client's referral source.
    ReferralSource,
    /// Client's treatment modality.
    Modality,
    /// The event's service.
    Service,
    /// The event's outcome.
    Outcome,
}

impl Field {
    /// Whether this field belongs to the event rather than the client.
    pub fn is_event_field(self) -> bool {
        matches!(self, Field::Service | Field::Outcome)
    }
}

/// One category of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Code: a record vocabulary value, an age band name, or `unknown`.
    pub code: String,
    /// Title.
    pub title: Text,
    /// For age bands: the least age in the band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    /// For age bands: the greatest age in the band (none: no upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// What an indicator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Distinct clients.
    Clients,
    /// Service events (contacts).
    Events,
}

/// Which records an indicator starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Service events dated within the period.
    Events,
    /// Clients enrolled within the period.
    Enrolment,
}

/// An indicator of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// Stable identifier, e.g. `clients_active`.
    pub id: String,
    /// Title.
    pub title: Text,
    /// Clients or events.
    pub count: Unit,
    /// Events in the period, or enrolment in the period.
    pub basis: Basis,
    /// Services that count (empty: any).
    #[serde(default)]
    pub services: Vec<String>,
    /// Outcomes that count (empty: any).
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Only clients enrolled at least this many months before the period's last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_months_enrolled: Option<u32>,
    /// Another indicator that counts every unit this one counts (see the module documentation):
    /// each cell of this indicator is at most the other's cell with the same categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset_of: Option<String>,
    /// The tables published, each a list of dimension names. All share the indicator's total.
    pub tables: Vec<Vec<String>>,
}

/// How a report names the form it answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormRef {
    /// Form id.
    pub id: String,
    /// Form version.
    pub version: u32,
    /// SHA-256 of the form's canonical CBOR encoding.
    pub hash: Sha256Hash,
}

impl FormRef {
    /// The form's part of a report's identity.
    pub fn key(&self) -> FormKey {
        FormKey {
            id: self.id.clone(),
            version: self.version,
        }
    }
}

/// A form as part of a report's identity, which is (site, form id, form version, period,
/// revision): each form a site reports has its own revision chain. The node's outbox and the
/// coordinator's store both key reports by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FormKey {
    /// Form id.
    pub id: String,
    /// Form version.
    pub version: u32,
}

impl FormKey {
    /// The key of a form.
    pub fn of(form: &Form) -> Self {
        Self {
            id: form.id.clone(),
            version: form.version,
        }
    }

    /// The key of the form a report names.
    pub fn of_reference(form: &FormRef) -> Self {
        form.key()
    }
}

impl std::fmt::Display for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.id, self.version)
    }
}

impl std::fmt::Display for FormRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} v{} ({})",
            self.id,
            self.version,
            &self.hash.to_hex()[..12]
        )
    }
}

impl Form {
    /// Parses and validates a form from TOML.
    pub fn from_toml(text: &str) -> Result<Self, FormError> {
        let form: Form = toml::from_str(text).map_err(|e| FormError::Toml(e.to_string()))?;
        form.validate()?;
        Ok(form)
    }

    /// The default monthly form for community-based drug counselling and treatment sites.
    pub fn default_monthly() -> Self {
        // The shipped form is validated by a unit test, so parsing cannot fail here.
        #[allow(clippy::expect_used)]
        Self::from_toml(DEFAULT_MONTHLY_TOML).expect("the shipped default form is valid")
    }

    /// The form's canonical encoding.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // A form holds only strings, integers and lists, which always encode.
        #[allow(clippy::expect_used)]
        cbor::to_canonical(self).expect("forms always encode")
    }

    /// The reference a report uses to name this form.
    pub fn reference(&self) -> FormRef {
        FormRef {
            id: self.id.clone(),
            version: self.version,
            hash: Sha256Hash::of(&self.canonical_bytes()),
        }
    }

    /// A dimension by name.
    pub fn dimension(&self, name: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.name == name)
    }

    /// An indicator by id.
    pub fn indicator(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id == id)
    }

    /// The shape (category counts, margins excluded) of a table of this form.
    pub fn shape_of(&self, dimensions: &[String]) -> Option<Shape> {
        dimensions
            .iter()
            .map(|name| self.dimension(name).map(|d| d.categories.len()))
            .collect::<Option<Vec<_>>>()
            .map(Shape::new)
    }

    /// The shapes of an indicator's tables, in order.
    pub fn shapes(&self, indicator: &Indicator) -> Vec<Shape> {
        indicator
            .tables
            .iter()
            .filter_map(|dims| self.shape_of(dims))
            .collect()
    }

    /// Every declared relation between indicators, as `(subset, superset)` positions in
    /// [`Form::indicators`]: each cell of the subset is at most the superset's cell that fixes
    /// the same categories. Relations naming an unknown indicator are left out (a validated
    /// form has none).
    pub fn subset_relations(&self) -> Vec<(usize, usize)> {
        self.indicators
            .iter()
            .enumerate()
            .filter_map(|(position, indicator)| {
                let target = indicator.subset_of.as_deref()?;
                let superset = self.indicators.iter().position(|i| i.id == target)?;
                Some((position, superset))
            })
            .collect()
    }

    /// Checks the form's internal consistency.
    pub fn validate(&self) -> Result<(), FormError> {
        let invalid = |problem: String| FormError::Invalid {
            form: self.id.clone(),
            problem,
        };
        if !is_identifier(&self.id) {
            return Err(invalid(
                "id must be lower-case letters, digits, '-' or '_'".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for dim in &self.dimensions {
            if !is_identifier(&dim.name) || !names.insert(dim.name.as_str()) {
                return Err(invalid(format!(
                    "dimension name {:?} is invalid or repeated",
                    dim.name
                )));
            }
            validate_dimension(dim).map_err(&invalid)?;
        }
        let mut ids = std::collections::HashSet::new();
        if self.indicators.is_empty() {
            return Err(invalid("a form needs at least one indicator".into()));
        }
        for ind in &self.indicators {
            if !is_identifier(&ind.id) || !ids.insert(ind.id.as_str()) {
                return Err(invalid(format!(
                    "indicator id {:?} is invalid or repeated",
                    ind.id
                )));
            }
            if ind.basis == Basis::Enrolment
                && (ind.count != Unit::Clients
                    || !ind.services.is_empty()
                    || !ind.outcomes.is_empty())
            {
                return Err(invalid(format!(
                    "indicator {}: enrolment basis counts clients and takes no services or outcomes",
                    ind.id
                )));
            }
            if ind.tables.is_empty() {
                return Err(invalid(format!("indicator {} has no tables", ind.id)));
            }
            for table in &ind.tables {
                let mut seen = std::collections::HashSet::new();
                for name in table {
                    let Some(dim) = self.dimension(name) else {
                        return Err(invalid(format!(
                            "indicator {}: unknown dimension {name:?}",
                            ind.id
                        )));
                    };
                    if !seen.insert(name) {
                        return Err(invalid(format!(
                            "indicator {}: dimension {name} repeated in a table",
                            ind.id
                        )));
                    }
                    if dim.field.is_event_field() && ind.count != Unit::Events {
                        return Err(invalid(format!(
                            "indicator {}: dimension {name} classifies events, but the indicator counts clients",
                            ind.id
                        )));
                    }
                }
                let Some(shape) = self.shape_of(table) else {
                    return Err(invalid(format!("indicator {}: unknown dimension", ind.id)));
                };
                if shape.full_len() > MAX_TABLE_CELLS {
                    return Err(invalid(format!(
                        "indicator {}: a table has over {MAX_TABLE_CELLS} cells",
                        ind.id
                    )));
                }
            }
        }
        self.validate_relations().map_err(invalid)
    }

    /// Checks every `subset_of`: the target exists, is not the indicator itself, the chain of
    /// relations has no cycle, and the definitions imply the relation.
    fn validate_relations(&self) -> Result<(), String> {
        for ind in &self.indicators {
            let Some(target) = ind.subset_of.as_deref() else {
                continue;
            };
            if target == ind.id {
                return Err(format!("indicator {}: subset_of names itself", ind.id));
            }
            let Some(superset) = self.indicator(target) else {
                return Err(format!(
                    "indicator {}: subset_of names unknown indicator {target:?}",
                    ind.id
                ));
            };
            if let Err(why) = subset_is_implied(ind, superset) {
                return Err(format!(
                    "indicator {}: subset_of {target} is not implied by the definitions: {why}",
                    ind.id
                ));
            }
            // Follow the chain: more steps than indicators means a cycle.
            let mut current = superset;
            for _ in 0..self.indicators.len() {
                let Some(next) = current.subset_of.as_deref().and_then(|t| self.indicator(t))
                else {
                    break;
                };
                if next.id == ind.id {
                    return Err(format!(
                        "indicator {}: subset_of relations form a cycle",
                        ind.id
                    ));
                }
                current = next;
            }
        }
        Ok(())
    }
}

/// Whether every unit `subset` counts is, by the definitions alone, also counted by `superset`
/// (the reason if not).
pub fn subset_is_implied(subset: &Indicator, superset: &Indicator) -> Result<(), &'static str> {
    if subset.count != superset.count {
        return Err("the two indicators count different units");
    }
    if subset.basis != superset.basis {
        return Err("the two indicators start from different records");
    }
    let within = |sub: &[String], sup: &[String]| {
        sup.is_empty() || (!sub.is_empty() && sub.iter().all(|s| sup.contains(s)))
    };
    if !within(&subset.services, &superset.services) {
        return Err("the subset counts services the other does not");
    }
    if !within(&subset.outcomes, &superset.outcomes) {
        return Err("the subset counts outcomes the other does not");
    }
    match (subset.min_months_enrolled, superset.min_months_enrolled) {
        (_, None) => Ok(()),
        (Some(sub), Some(sup)) if sub >= sup => Ok(()),
        _ => Err("the other requires more months of enrolment"),
    }
}

fn validate_dimension(dim: &Dimension) -> Result<(), String> {
    if dim.categories.is_empty() {
        return Err(format!("dimension {} has no categories", dim.name));
    }
    let mut codes = std::collections::HashSet::new();
    for cat in &dim.categories {
        if !is_identifier(&cat.code) || !codes.insert(cat.code.as_str()) {
            return Err(format!(
                "dimension {}: category {:?} is invalid or repeated",
                dim.name, cat.code
            ));
        }
    }
    if matches!(dim.field, Field::AgeBand | Field::PrimarySubstance) && !codes.contains(UNKNOWN) {
        return Err(format!(
            "dimension {} needs an `unknown` category: the value can be missing",
            dim.name
        ));
    }
    if dim.field == Field::AgeBand {
        // Bands (other than `unknown`) must tile 0.. without gaps or overlaps.
        let mut next = 0u32;
        let mut open_ended = false;
        for cat in dim.categories.iter().filter(|c| c.code != UNKNOWN) {
            if open_ended || cat.min_age != Some(next) {
                return Err(format!(
                    "dimension {}: age bands must start at 0 and follow on without gaps",
                    dim.name
                ));
            }
            match cat.max_age {
                Some(max) if max >= next => next = max + 1,
                Some(_) => {
                    return Err(format!(
                        "dimension {}: band {} ends before it starts",
                        dim.name, cat.code
                    ));
                }
                None => open_ended = true,
            }
        }
        if !open_ended {
            return Err(format!(
                "dimension {}: the last age band must have no max_age",
                dim.name
            ));
        }
    } else if dim
        .categories
        .iter()
        .any(|c| c.min_age.is_some() || c.max_age.is_some())
    {
        return Err(format!(
            "dimension {}: only age bands take min_age/max_age",
            dim.name
        ));
    }
    Ok(())
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The TOML text of the default monthly form, shipped in `forms/`.
pub const DEFAULT_MONTHLY_TOML: &str =
    include_str!("../../forms/vn-community-treatment-monthly.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_donor_form_is_valid_and_distinct_from_the_default() {
        let donor = Form::from_toml(include_str!("../../forms/donor-methadone-monthly.toml"))
            .expect("the shipped donor form is valid");
        assert_eq!(donor.period, Form::default_monthly().period);
        assert_ne!(donor.reference(), Form::default_monthly().reference());
    }

    #[test]
    fn default_form_is_valid_and_has_a_stable_reference() {
        let form = Form::default_monthly();
        assert_eq!(form.id, "vn-community-treatment-monthly");
        assert_eq!(form.reference(), form.reference());
        for id in [
            "clients_active",
            "clients_new",
            "clients_methadone",
            "counselling_sessions",
            "referrals_out",
            "urine_tests",
            "clients_retained_3m",
            "relapses",
            "clients_employed_follow_up",
        ] {
            assert!(form.indicator(id).is_some(), "default form lacks {id}");
        }
    }

    #[test]
    fn refuses_inconsistent_forms() {
        let base = DEFAULT_MONTHLY_TOML;
        let gap = base.replace("min_age = 18", "min_age = 19");
        assert!(matches!(
            Form::from_toml(&gap),
            Err(FormError::Invalid { .. })
        ));
        let unknown_dim = base.replace(
            "tables = [[\"sex\", \"age_band\"]",
            "tables = [[\"sex\", \"nope\"]",
        );
        assert!(matches!(
            Form::from_toml(&unknown_dim),
            Err(FormError::Invalid { .. })
        ));
        let extra_field = format!("{base}\nsurprise = 1\n");
        assert!(matches!(
            Form::from_toml(&extra_field),
            Err(FormError::Toml(_))
        ));
    }
    #[test]
    fn the_default_form_declares_every_relation_its_definitions_imply() {
        let form = Form::default_monthly();
        let declared: Vec<(&str, &str)> = form
            .subset_relations()
            .into_iter()
            .map(|(sub, sup)| {
                (
                    form.indicators[sub].id.as_str(),
                    form.indicators[sup].id.as_str(),
                )
            })
            .collect();
        let within_active = [
            "clients_methadone",
            "clients_detox",
            "clients_psychosocial",
            "clients_vocational_training",
            "clients_job_referral",
            "clients_loan_support",
            "clients_legal_aid",
            "clients_retained_3m",
            "clients_employed_follow_up",
        ];
        let expected: Vec<(&str, &str)> = within_active
            .iter()
            .map(|id| (*id, "clients_active"))
            .collect();
        assert_eq!(declared, expected);
        // Every implied pair is declared, directly or through a chain of declarations.
        let reaches = |from: &Indicator, to: &str| {
            let mut current = from;
            for _ in 0..form.indicators.len() {
                match current.subset_of.as_deref() {
                    Some(next) if next == to => return true,
                    Some(next) => match form.indicator(next) {
                        Some(indicator) => current = indicator,
                        None => return false,
                    },
                    None => return false,
                }
            }
            false
        };
        for sub in &form.indicators {
            for sup in &form.indicators {
                if sub.id != sup.id && subset_is_implied(sub, sup).is_ok() {
                    assert!(
                        reaches(sub, &sup.id),
                        "{} within {} is not declared",
                        sub.id,
                        sup.id
                    );
                }
            }
        }
        // New clients need not have an event in the month, and relapses are events.
        let active = form.indicator("clients_active").unwrap();
        assert!(subset_is_implied(form.indicator("clients_new").unwrap(), active).is_err());
        assert!(subset_is_implied(form.indicator("relapses").unwrap(), active).is_err());
        assert!(subset_is_implied(active, form.indicator("clients_retained_3m").unwrap()).is_err());
    }

    #[test]
    fn refuses_relations_that_are_unknown_circular_or_not_implied() {
        let base = DEFAULT_MONTHLY_TOML;
        let methadone = "services = [\"methadone\"]\nsubset_of = \"clients_active\"";
        let detox = "services = [\"detox\"]\nsubset_of = \"clients_active\"";
        assert!(base.contains(methadone) && base.contains(detox));
        let refused = |text: &str, why: &str| match Form::from_toml(text) {
            Err(FormError::Invalid { problem, .. }) => {
                assert!(problem.contains(why), "{problem:?} does not say {why:?}")
            }
            other => panic!("expected a refusal saying {why:?}, got {other:?}"),
        };
        refused(
            &base.replace(
                methadone,
                "services = [\"methadone\"]\nsubset_of = \"nope\"",
            ),
            "unknown indicator",
        );
        refused(
            &base.replace(
                methadone,
                "services = [\"methadone\"]\nsubset_of = \"clients_methadone\"",
            ),
            "names itself",
        );
        // Two indicators with the same definition, each declared within the other.
        let cycle = base
            .replace(
                methadone,
                "services = [\"methadone\"]\nsubset_of = \"clients_detox\"",
            )
            .replace(
                detox,
                "services = [\"methadone\"]\nsubset_of = \"clients_methadone\"",
            );
        refused(&cycle, "cycle");
        // Enrolment is not an event in the period; relapses are events, not clients; active
        // clients are not all retained.
        refused(
            &base.replace(
                "basis = \"enrolment\"\n",
                "basis = \"enrolment\"\nsubset_of = \"clients_active\"\n",
            ),
            "not implied",
        );
        refused(
            &base.replace(
                "services = [\"relapse\"]\n",
                "services = [\"relapse\"]\nsubset_of = \"clients_active\"\n",
            ),
            "different units",
        );
        refused(
            &base.replace(
                methadone,
                "services = [\"methadone\"]\nsubset_of = \"clients_retained_3m\"",
            ),
            "months of enrolment",
        );
        refused(
            &base.replace(
                "outcomes = [\"employed\"]\nsubset_of = \"clients_active\"",
                "outcomes = [\"employed\"]\nsubset_of = \"clients_methadone\"",
            ),
            "services the other does not",
        );
    }

    #[test]
    fn a_form_without_relations_encodes_as_before() {
        // `subset_of` is left out of the canonical encoding when absent, so forms that declare
        // no relation (the donor form) keep their hash.
        let donor = Form::from_toml(include_str!("../../forms/donor-methadone-monthly.toml"))
            .expect("the shipped donor form is valid");
        assert!(donor.subset_relations().is_empty());
        let bytes = donor.canonical_bytes();
        assert!(!bytes.windows(9).any(|w| w == b"subset_of"));
        let default = Form::default_monthly().canonical_bytes();
        assert!(default.windows(9).any(|w| w == b"subset_of"));
        assert_eq!(Form::default_monthly().version, 2);
    }
}
