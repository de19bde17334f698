//! The mapping file (TOML) that says where each of a form's cells goes in a DHIS2 instance:
//! each indicator's cells to a data element and category option combination, each form
//! dimension to a DHIS2 category and its categories to category options (for ADX's
//! disaggregation attributes), each site and the province to an org unit, the form to a data
//! set, and an optional attribute option combination.
//!
//! [`Mapping::check`] validates a mapping against a form and the sites it must cover and names
//! every problem in one sentence (unmapped cells, unknown indicators, dimensions or
//! categories, duplicate targets, sites without an org unit); the DHIS2 and ADX writers only
//! ever run on a mapping that passed it ([`CheckedMapping`]).
//!
//! A cell is named as in the long-format export: `total`, or `dim=code` pairs joined by `;`
//! (in any order here; `age_band=lt18;sex=male`).

use std::collections::{BTreeMap, BTreeSet};

use quietcount_protocol::Form;
use quietcount_protocol::export::{PROVINCE_SCOPE, disaggregation};
use serde::Deserialize;

use super::{ExportError, label_pairs};

/// A mapping file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The id of the form it maps.
    pub form: String,
    /// The DHIS2 data set.
    pub data_set: String,
    /// How every DHIS2 object is named: by UID (the default) or by code.
    #[serde(default)]
    pub id_scheme: IdScheme,
    /// The attribute option combination of every value (`dataValueSets`); none: DHIS2's
    /// default.
    #[serde(default)]
    pub attribute_option_combo: Option<String>,
    /// Indicators (`clients_new`) or single cells (`clients_active/sex=other`) deliberately
    /// not sent.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Where the province's and the sites' values go.
    pub org_units: OrgUnits,
    /// Each form dimension's DHIS2 category, for ADX disaggregation attributes.
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryMapping>,
    /// The data elements, each with the cells of one indicator it takes.
    #[serde(default)]
    pub data_elements: Vec<DataElementMapping>,
    /// ADX only.
    #[serde(default)]
    pub adx: AdxOptions,
}

/// How DHIS2 objects are named in the mapping and in the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdScheme {
    /// DHIS2 UIDs (11 characters, a letter then letters or digits).
    #[default]
    Uid,
    /// DHIS2 codes.
    Code,
}

impl IdScheme {
    /// As DHIS2's `idScheme` parameter spells it.
    pub fn as_dhis2(self) -> &'static str {
        match self {
            IdScheme::Uid => "UID",
            IdScheme::Code => "CODE",
        }
    }
}

/// Org units of the province and the sites.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgUnits {
    /// The province's org unit: the provincial totals are sent there. None: not sent.
    #[serde(default)]
    pub province: Option<String>,
    /// Each site's org unit, by site id. None: site values are not sent; present: every
    /// enrolled site must have one.
    #[serde(default)]
    pub sites: Option<BTreeMap<String, String>>,
}

/// A form dimension as a DHIS2 category.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryMapping {
    /// The category (its code: ADX writes it as an attribute name).
    pub category: String,
    /// Each of the dimension's category codes to a category option.
    pub options: BTreeMap<String, String>,
}

/// One data element and the cells of one indicator it takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataElementMapping {
    /// The form's indicator id.
    pub indicator: String,
    /// The data element.
    pub data_element: String,
    /// Each cell (`total`, `sex=male`, ...) to its category option combination.
    pub category_option_combos: BTreeMap<String, String>,
}

/// ADX-only settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdxOptions {
    /// Attribute categories written on every group (category code to option code): ADX's
    /// attribute option combination.
    #[serde(default)]
    pub attribute_categories: BTreeMap<String, String>,
}

/// Which writer the mapping is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// DHIS2 `dataValueSets` JSON: category option combinations.
    DataValueSets,
    /// ADX: categories and options as disaggregation attributes.
    Adx,
}

/// One thing wrong with a mapping, said in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingProblem {
    /// The mapping is for another form.
    #[error("the mapping is for form `{mapping}`, not `{form}`")]
    OtherForm {
        /// The mapping's form id.
        mapping: String,
        /// The form exported.
        form: String,
    },
    /// Neither the province nor any site has an org unit.
    #[error("[org_units] gives neither `province` nor `sites`: nothing would be sent")]
    NoOrgUnits,
    /// A data element entry names an indicator the form does not have.
    #[error(
        "data element `{data_element}` names indicator `{indicator}`, which the form does not have"
    )]
    UnknownIndicator {
        /// The data element.
        data_element: String,
        /// The unknown indicator.
        indicator: String,
    },
    /// A cell names a dimension the form does not have.
    #[error(
        "data element `{data_element}`, cell `{cell}`: the form has no dimension `{dimension}`"
    )]
    UnknownDimension {
        /// The data element.
        data_element: String,
        /// The cell as written.
        cell: String,
        /// The unknown dimension.
        dimension: String,
    },
    /// A cell names a category its dimension does not have.
    #[error(
        "data element `{data_element}`, cell `{cell}`: dimension `{dimension}` has no category `{category}`"
    )]
    UnknownCategory {
        /// The data element.
        data_element: String,
        /// The cell as written.
        cell: String,
        /// The dimension.
        dimension: String,
        /// The unknown category.
        category: String,
    },
    /// A cell the indicator does not publish (its tables do not break it down so).
    #[error("data element `{data_element}`: indicator `{indicator}` has no cell `{cell}`")]
    NoSuchCell {
        /// The data element.
        data_element: String,
        /// The indicator.
        indicator: String,
        /// The cell as written.
        cell: String,
    },
    /// Cells of an indicator that no data element takes and `ignore` does not list.
    #[error("indicator `{indicator}`: {} cell(s) not mapped: {}", cells.len(), cells.join(", "))]
    UnmappedCells {
        /// The indicator.
        indicator: String,
        /// The cells.
        cells: Vec<String>,
    },
    /// One cell mapped twice.
    #[error(
        "indicator `{indicator}`, cell `{cell}` is mapped twice (data elements `{first}` and `{second}`)"
    )]
    CellMappedTwice {
        /// The indicator.
        indicator: String,
        /// The cell.
        cell: String,
        /// The first data element.
        first: String,
        /// The second.
        second: String,
    },
    /// Two cells sent to the same place: the second value would overwrite the first.
    #[error("`{first}` and `{second}` both go to {target}")]
    DuplicateTarget {
        /// The target, as DHIS2 names it.
        target: String,
        /// The first cell (`indicator/cell`).
        first: String,
        /// The second cell.
        second: String,
    },
    /// A site with no org unit while the mapping sends site values.
    #[error("site `{site}` has no org unit in [org_units.sites]")]
    SiteWithoutOrgUnit {
        /// The site id.
        site: String,
    },
    /// Two units sent to the same org unit.
    #[error("`{first}` and `{second}` have the same org unit `{org_unit}`")]
    SharedOrgUnit {
        /// The org unit.
        org_unit: String,
        /// The first site (or `province`).
        first: String,
        /// The second.
        second: String,
    },
    /// An `ignore` entry that names no indicator or cell of the form.
    #[error("ignore entry `{entry}` names no indicator or cell of the form")]
    UnknownIgnore {
        /// The entry.
        entry: String,
    },
    /// ADX: a dimension used by a mapped cell has no category in `[categories]`.
    #[error(
        "dimension `{dimension}` has no DHIS2 category in [categories.{dimension}] (ADX needs one)"
    )]
    DimensionWithoutCategory {
        /// The dimension.
        dimension: String,
    },
    /// ADX: a category of a dimension has no option.
    #[error("[categories.{dimension}] has no option for category `{category}`")]
    CategoryWithoutOption {
        /// The dimension.
        dimension: String,
        /// The category code.
        category: String,
    },
    /// `[categories]` names a dimension the form does not have, or an option for a category
    /// the dimension does not have.
    #[error("[categories.{dimension}] names {what}, which the form does not have")]
    UnknownInCategories {
        /// The dimension.
        dimension: String,
        /// What is unknown.
        what: String,
    },
    /// An identifier that is not a DHIS2 UID under `id_scheme = "uid"`.
    #[error(
        "{what} `{value}` is not a DHIS2 UID (11 letters or digits, the first a letter); use id_scheme = \"code\" for codes"
    )]
    NotAUid {
        /// Which field.
        what: String,
        /// The value.
        value: String,
    },
    /// An identifier that is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which field.
        what: String,
    },
    /// ADX: a category code that cannot be an XML attribute name.
    #[error(
        "category `{category}` cannot be an ADX attribute name (letters, digits, `_`, `-`, `.`; not starting with a digit)"
    )]
    NotAnAttributeName {
        /// The category code.
        category: String,
    },
}

/// Where one cell goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTarget {
    /// The data element.
    pub data_element: String,
    /// Its category option combination (`dataValueSets`).
    pub category_option_combo: String,
    /// Category and option of each dimension of the cell, in the form's dimension order
    /// (ADX attributes; empty when checked for `dataValueSets`).
    pub attributes: Vec<(String, String)>,
}

/// A mapping that passed [`Mapping::check`]: each cell's target and each unit's org unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedMapping {
    /// The mapping as written.
    pub mapping: Mapping,
    /// (indicator, canonical cell label) to its target.
    pub cells: BTreeMap<(String, String), CellTarget>,
    /// Org unit by scope (site id, or `province`).
    pub org_units: BTreeMap<String, String>,
}

/// The result of [`Mapping::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingCheck {
    /// Every problem found (none: the mapping fits).
    pub problems: Vec<MappingProblem>,
    /// Number of cells mapped.
    pub cells_mapped: usize,
    /// Number of distinct data elements.
    pub data_elements: usize,
    /// Number of org units.
    pub org_units: usize,
}

impl Mapping {
    /// Parses a mapping file's text (strictly: unknown fields are refused).
    pub fn from_toml(text: &str) -> Result<Self, ExportError> {
        toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            ExportError::MappingSyntax(format!("{place}{}", one_line(e.message())))
        })
    }

    /// Checks the mapping against `form` for `target`, with `sites` the sites that must have
    /// an org unit when site values are sent. Every problem is named.
    pub fn check(&self, form: &Form, sites: &[String], target: Target) -> MappingCheck {
        let (problems, checked) = self.resolve(form, sites, target);
        MappingCheck {
            problems,
            cells_mapped: checked.cells.len(),
            data_elements: checked
                .cells
                .values()
                .map(|t| &t.data_element)
                .collect::<BTreeSet<_>>()
                .len(),
            org_units: checked.org_units.len(),
        }
    }

    /// The checked mapping, or every problem.
    pub fn checked(
        &self,
        form: &Form,
        sites: &[String],
        target: Target,
    ) -> Result<CheckedMapping, ExportError> {
        let (problems, checked) = self.resolve(form, sites, target);
        if problems.is_empty() {
            Ok(checked)
        } else {
            Err(ExportError::MappingProblems { problems })
        }
    }

    fn resolve(
        &self,
        form: &Form,
        sites: &[String],
        target: Target,
    ) -> (Vec<MappingProblem>, CheckedMapping) {
        let mut problems = Vec::new();
        if self.form != form.id {
            problems.push(MappingProblem::OtherForm {
                mapping: self.form.clone(),
                form: form.id.clone(),
            });
        }
        self.check_identifier("data_set", &self.data_set, &mut problems);
        if let Some(aoc) = &self.attribute_option_combo {
            self.check_identifier("attribute_option_combo", aoc, &mut problems);
        }
        let org_units = self.resolve_org_units(sites, &mut problems);
        let ignored = self.resolve_ignore(form, &mut problems);
        let cells = self.resolve_cells(form, &ignored, target, &mut problems);
        if target == Target::Adx {
            self.check_categories(form, &mut problems);
        }
        let checked = CheckedMapping {
            mapping: self.clone(),
            cells,
            org_units,
        };
        (problems, checked)
    }

    fn check_identifier(&self, what: &str, value: &str, problems: &mut Vec<MappingProblem>) {
        if value.trim().is_empty() {
            problems.push(MappingProblem::Empty {
                what: what.to_owned(),
            });
        } else if self.id_scheme == IdScheme::Uid && !is_uid(value) {
            problems.push(MappingProblem::NotAUid {
                what: what.to_owned(),
                value: value.to_owned(),
            });
        }
    }

    fn resolve_org_units(
        &self,
        sites: &[String],
        problems: &mut Vec<MappingProblem>,
    ) -> BTreeMap<String, String> {
        let mut org_units = BTreeMap::new();
        if self.org_units.province.is_none() && self.org_units.sites.is_none() {
            problems.push(MappingProblem::NoOrgUnits);
        }
        if let Some(province) = &self.org_units.province {
            self.check_identifier("org unit of the province", province, problems);
            org_units.insert(PROVINCE_SCOPE.to_owned(), province.clone());
        }
        if let Some(mapped) = &self.org_units.sites {
            for (site, unit) in mapped {
                self.check_identifier(&format!("org unit of site `{site}`"), unit, problems);
                org_units.insert(site.clone(), unit.clone());
            }
            for site in sites {
                if !mapped.contains_key(site) {
                    problems.push(MappingProblem::SiteWithoutOrgUnit { site: site.clone() });
                }
            }
        }
        let mut by_unit: BTreeMap<&String, &String> = BTreeMap::new();
        for (scope, unit) in &org_units {
            if let Some(first) = by_unit.insert(unit, scope) {
                problems.push(MappingProblem::SharedOrgUnit {
                    org_unit: unit.clone(),
                    first: first.clone(),
                    second: scope.clone(),
                });
            }
        }
        org_units
    }

    /// The ignored cells, as (indicator, canonical label); an indicator alone ignores all
    /// its cells.
    fn resolve_ignore(
        &self,
        form: &Form,
        problems: &mut Vec<MappingProblem>,
    ) -> BTreeSet<(String, String)> {
        let mut ignored = BTreeSet::new();
        for entry in &self.ignore {
            let (indicator, cell) = match entry.split_once('/') {
                Some((indicator, cell)) => (indicator.trim(), Some(cell)),
                None => (entry.trim(), None),
            };
            let Some(known) = form.indicator(indicator) else {
                problems.push(MappingProblem::UnknownIgnore {
                    entry: entry.clone(),
                });
                continue;
            };
            let cells = cell_labels(form, known);
            match cell {
                None => ignored.extend(cells.into_iter().map(|c| (indicator.to_owned(), c))),
                Some(cell) => {
                    let label = canonical_label(cell);
                    if cells.contains(&label) {
                        ignored.insert((indicator.to_owned(), label));
                    } else {
                        problems.push(MappingProblem::UnknownIgnore {
                            entry: entry.clone(),
                        });
                    }
                }
            }
        }
        ignored
    }

    fn resolve_cells(
        &self,
        form: &Form,
        ignored: &BTreeSet<(String, String)>,
        target: Target,
        problems: &mut Vec<MappingProblem>,
    ) -> BTreeMap<(String, String), CellTarget> {
        let mut cells: BTreeMap<(String, String), CellTarget> = BTreeMap::new();
        // Target (as DHIS2 names it) to the first cell sent there.
        let mut targets: BTreeMap<String, String> = BTreeMap::new();
        for entry in &self.data_elements {
            self.check_identifier(
                &format!("data element of `{}`", entry.indicator),
                &entry.data_element,
                problems,
            );
            let Some(indicator) = form.indicator(&entry.indicator) else {
                problems.push(MappingProblem::UnknownIndicator {
                    data_element: entry.data_element.clone(),
                    indicator: entry.indicator.clone(),
                });
                continue;
            };
            let published = cell_labels(form, indicator);
            for (written, coc) in &entry.category_option_combos {
                let Some(label) =
                    self.known_cell(form, entry, indicator, &published, written, problems)
                else {
                    continue;
                };
                if target == Target::DataValueSets {
                    self.check_identifier(
                        &format!("category option combo of `{}/{written}`", entry.indicator),
                        coc,
                        problems,
                    );
                }
                let attributes = match target {
                    Target::DataValueSets => Vec::new(),
                    Target::Adx => self.attributes_of(form, &label),
                };
                let key = (entry.indicator.clone(), label.clone());
                let name = format!("{}/{label}", entry.indicator);
                let described = match target {
                    Target::DataValueSets => format!(
                        "data element `{}` with category option combo `{coc}`",
                        entry.data_element
                    ),
                    Target::Adx => format!(
                        "data element `{}` with {}",
                        entry.data_element,
                        if attributes.is_empty() {
                            "no disaggregation".to_owned()
                        } else {
                            attributes
                                .iter()
                                .map(|(c, o)| format!("{c}={o}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        }
                    ),
                };
                if let Some(first) = cells.get(&key) {
                    problems.push(MappingProblem::CellMappedTwice {
                        indicator: entry.indicator.clone(),
                        cell: label.clone(),
                        first: first.data_element.clone(),
                        second: entry.data_element.clone(),
                    });
                    continue;
                }
                if let Some(first) = targets.get(&described) {
                    problems.push(MappingProblem::DuplicateTarget {
                        target: described.clone(),
                        first: first.clone(),
                        second: name.clone(),
                    });
                }
                targets.entry(described).or_insert(name);
                cells.insert(
                    key,
                    CellTarget {
                        data_element: entry.data_element.clone(),
                        category_option_combo: coc.clone(),
                        attributes,
                    },
                );
            }
        }
        for indicator in &form.indicators {
            let unmapped: Vec<String> = cell_labels(form, indicator)
                .into_iter()
                .filter(|label| {
                    let key = (indicator.id.clone(), label.clone());
                    !cells.contains_key(&key) && !ignored.contains(&key)
                })
                .collect();
            if !unmapped.is_empty() {
                problems.push(MappingProblem::UnmappedCells {
                    indicator: indicator.id.clone(),
                    cells: unmapped,
                });
            }
        }
        cells
    }

    /// The canonical label of a cell written in an entry, or the problem with it.
    fn known_cell(
        &self,
        form: &Form,
        entry: &DataElementMapping,
        indicator: &quietcount_protocol::form::Indicator,
        published: &[String],
        written: &str,
        problems: &mut Vec<MappingProblem>,
    ) -> Option<String> {
        for (dimension, category) in label_pairs(written) {
            let Some(known) = form.dimension(&dimension) else {
                problems.push(MappingProblem::UnknownDimension {
                    data_element: entry.data_element.clone(),
                    cell: written.to_owned(),
                    dimension,
                });
                return None;
            };
            if !known.categories.iter().any(|c| c.code == category) {
                problems.push(MappingProblem::UnknownCategory {
                    data_element: entry.data_element.clone(),
                    cell: written.to_owned(),
                    dimension,
                    category,
                });
                return None;
            }
        }
        let label = canonical_label(written);
        if published.contains(&label) {
            Some(label)
        } else {
            problems.push(MappingProblem::NoSuchCell {
                data_element: entry.data_element.clone(),
                indicator: indicator.id.clone(),
                cell: written.to_owned(),
            });
            None
        }
    }

    /// ADX attributes of a cell: each dimension's category and the option of its category
    /// code, in the form's dimension order (those without a mapping are left out here and
    /// named by [`Mapping::check_categories`]).
    fn attributes_of(&self, form: &Form, label: &str) -> Vec<(String, String)> {
        let pairs = label_pairs(label);
        form.dimensions
            .iter()
            .filter_map(|dimension| {
                let (_, code) = pairs.iter().find(|(d, _)| *d == dimension.name)?;
                let mapped = self.categories.get(&dimension.name)?;
                let option = mapped.options.get(code)?;
                Some((mapped.category.clone(), option.clone()))
            })
            .collect()
    }

    /// ADX: every dimension a mapped cell breaks down by has a category, every category of it
    /// an option, and every category code is an XML attribute name.
    fn check_categories(&self, form: &Form, problems: &mut Vec<MappingProblem>) {
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for entry in &self.data_elements {
            for written in entry.category_option_combos.keys() {
                for (dimension, _) in label_pairs(written) {
                    if let Some(d) = form.dimension(&dimension) {
                        used.insert(d.name.as_str());
                    }
                }
            }
        }
        for dimension in &form.dimensions {
            let Some(mapped) = self.categories.get(&dimension.name) else {
                if used.contains(dimension.name.as_str()) {
                    problems.push(MappingProblem::DimensionWithoutCategory {
                        dimension: dimension.name.clone(),
                    });
                }
                continue;
            };
            if !is_attribute_name(&mapped.category) {
                problems.push(MappingProblem::NotAnAttributeName {
                    category: mapped.category.clone(),
                });
            }
            for category in &dimension.categories {
                match mapped.options.get(&category.code) {
                    Some(option) if !option.trim().is_empty() => {}
                    _ => problems.push(MappingProblem::CategoryWithoutOption {
                        dimension: dimension.name.clone(),
                        category: category.code.clone(),
                    }),
                }
            }
            for code in mapped.options.keys() {
                if !dimension.categories.iter().any(|c| c.code == *code) {
                    problems.push(MappingProblem::UnknownInCategories {
                        dimension: dimension.name.clone(),
                        what: format!("category `{code}`"),
                    });
                }
            }
        }
        for category in self.adx.attribute_categories.keys() {
            if !is_attribute_name(category) {
                problems.push(MappingProblem::NotAnAttributeName {
                    category: category.clone(),
                });
            }
        }
        for dimension in self.categories.keys() {
            if form.dimension(dimension).is_none() {
                problems.push(MappingProblem::UnknownInCategories {
                    dimension: dimension.clone(),
                    what: "a dimension".to_owned(),
                });
            }
        }
    }
}

/// Every distinct cell of an indicator, as its long-format label (`total`, `sex=male`, ...),
/// in table then cell order.
pub fn cell_labels(form: &Form, indicator: &quietcount_protocol::form::Indicator) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut labels = Vec::new();
    for dims in &indicator.tables {
        let Some(shape) = form.shape_of(dims) else {
            continue;
        };
        for index in 0..shape.full_len() {
            let label = disaggregation(form, dims, &shape, index);
            if seen.insert(label.clone()) {
                labels.push(label);
            }
        }
    }
    labels
}

/// A cell label with its pairs sorted by dimension name, as `protocol::export` writes it.
fn canonical_label(written: &str) -> String {
    let mut pairs = label_pairs(written.trim());
    if pairs.is_empty() {
        return written.trim().to_owned();
    }
    pairs.sort();
    pairs
        .into_iter()
        .map(|(d, c)| format!("{d}={c}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A DHIS2 UID: 11 ASCII letters or digits, the first a letter.
pub fn is_uid(text: &str) -> bool {
    text.len() == 11
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
        && text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
}

/// Whether `name` can be an XML attribute name without a prefix (ASCII subset of NCName).
fn is_attribute_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.eq_ignore_ascii_case("value")
        && !name.eq_ignore_ascii_case("dataElement")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Form {
        Form::default_monthly()
    }

    fn small_mapping() -> Mapping {
        Mapping::from_toml(
            r#"
form = "vn-community-treatment-monthly"
data_set = "QC_MONTHLY"
id_scheme = "code"
ignore = ["clients_active", "clients_new", "counselling_sessions", "clients_detox",
  "clients_psychosocial", "clients_vocational_training", "clients_job_referral",
  "clients_loan_support", "clients_legal_aid", "referrals_out", "urine_tests",
  "clients_retained_3m", "relapses", "clients_employed_follow_up"]

[org_units]
province = "VN_HN"
sites = { a = "VN_HN_A", b = "VN_HN_B" }

[categories.sex]
category = "SEX"
options = { male = "M", female = "F", other = "O" }

[[data_elements]]
indicator = "clients_methadone"
data_element = "QC_MMT"
category_option_combos = { total = "default", "sex=male" = "M", "sex=female" = "F", "sex=other" = "O" }
"#,
        )
        .unwrap()
    }

    #[test]
    fn a_fitting_mapping_has_no_problem() {
        let mapping = small_mapping();
        let sites = ["a".to_owned(), "b".to_owned()];
        for target in [Target::DataValueSets, Target::Adx] {
            let check = mapping.check(&form(), &sites, target);
            assert_eq!(check.problems, vec![], "{target:?}");
            assert_eq!(check.cells_mapped, 4);
            assert_eq!(check.org_units, 3);
        }
    }

    #[test]
    fn each_problem_is_named() {
        let mut mapping = small_mapping();
        mapping.ignore.retain(|i| i != "relapses");
        mapping.ignore.push("nonexistent".into());
        let entry = &mut mapping.data_elements[0];
        entry
            .category_option_combos
            .insert("sex=unknownish".into(), "X".into());
        entry
            .category_option_combos
            .insert("colour=red".into(), "Y".into());
        entry
            .category_option_combos
            .insert("age_band=lt18".into(), "Z".into());
        // Same target as sex=male.
        entry
            .category_option_combos
            .insert("sex=female".into(), "M".into());
        mapping.data_elements.push(DataElementMapping {
            indicator: "no_such_indicator".into(),
            data_element: "QC_X".into(),
            category_option_combos: BTreeMap::new(),
        });
        let sites = ["a".to_owned(), "c".to_owned()];
        let problems = mapping
            .check(&form(), &sites, Target::DataValueSets)
            .problems;
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let has = |needle: &str| {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "no problem mentions {needle:?}: {text:#?}"
            )
        };
        has("dimension `sex` has no category `unknownish`");
        has("the form has no dimension `colour`");
        has("indicator `clients_methadone` has no cell `age_band=lt18`");
        has("both go to data element `QC_MMT` with category option combo `M`");
        has("names indicator `no_such_indicator`");
        has("indicator `relapses`: 4 cell(s) not mapped: sex=male, sex=female, sex=other, total");
        has("ignore entry `nonexistent`");
        has("site `c` has no org unit");
        assert!(text.iter().all(|t| !t.contains('\n')), "one line each");
    }

    #[test]
    fn adx_needs_categories_and_options() {
        let mut mapping = small_mapping();
        mapping.categories.clear();
        let problems = mapping
            .check(&form(), &[], Target::Adx)
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("dimension `sex` has no DHIS2 category")),
            "{problems:?}"
        );
        let mut mapping = small_mapping();
        if let Some(sex) = mapping.categories.get_mut("sex") {
            sex.options.remove("other");
            sex.category = "1SEX".into();
        }
        let problems = mapping.check(&form(), &[], Target::Adx).problems;
        assert!(problems.contains(&MappingProblem::CategoryWithoutOption {
            dimension: "sex".into(),
            category: "other".into()
        }));
        assert!(problems.contains(&MappingProblem::NotAnAttributeName {
            category: "1SEX".into()
        }));
    }

    #[test]
    fn uids_are_checked_under_the_uid_scheme() {
        let mut mapping = small_mapping();
        mapping.id_scheme = IdScheme::Uid;
        let problems = mapping.check(&form(), &[], Target::DataValueSets).problems;
        assert!(problems.contains(&MappingProblem::NotAUid {
            what: "data_set".into(),
            value: "QC_MONTHLY".into()
        }));
        assert!(is_uid("HllvX50cXC0"));
        assert!(!is_uid("1llvX50cXC0"));
    }

    #[test]
    fn unknown_fields_and_bad_toml_are_refused_in_one_sentence() {
        let error =
            Mapping::from_toml("form = \"x\"\ndata_set = \"y\"\n[org_units]\nprovinc = \"z\"")
                .unwrap_err()
                .to_string();
        assert!(error.contains("provinc"), "{error}");
        assert!(error.contains("line 4, column 1"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}
