//! Exports of one period's figures for people and for other systems: a CSV and an `.xlsx`
//! workbook for spreadsheets ([`spreadsheet`]), DHIS2 `dataValueSets` JSON ([`dhis2`]) and IHE
//! ADX XML ([`adx`]), the last two driven by a mapping file ([`mapping`]).
//!
//! Everything here is a pure function of an [`ExportTable`] (what
//! [`Coordinator::export_table`] reads from the store: the long-format rows of every site's
//! latest report and the provincial totals, with the names the coordinator knows) and returns
//! bytes or typed values, so the command line and a web layer call the same functions and
//! render their results their own way. Nothing here prints or writes a file.
//!
//! Only exact cells ever become DHIS2 or ADX values: DHIS2 has no intervals, so a suppressed
//! or bounded cell is left out and listed in the [`SendSummary`].

pub mod adx;
pub mod dhis2;
pub mod mapping;
pub mod spreadsheet;

use std::collections::BTreeMap;

use quietcount_protocol::export::{ExportRow, PROVINCE_SCOPE, RowStatus};
use quietcount_protocol::form::Text;
use quietcount_protocol::{Form, Period};

use crate::admin::Coordinator;
use crate::error::CoordinatorError;
use mapping::MappingProblem;

/// The figures of one form and period, ready to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportTable {
    /// The form the figures answer.
    pub form: Form,
    /// The period.
    pub period: Period,
    /// The province's name (the scope of the provincial rows).
    pub province: String,
    /// Each site's name as given at enrolment (its latest enrolment), by site id.
    pub site_names: BTreeMap<String, String>,
    /// Every site's cells, then the provincial cells (`protocol::export` long format).
    pub rows: Vec<ExportRow>,
}

impl ExportTable {
    /// The name to show for a row's scope: the province's name, the site's name at enrolment,
    /// or the id itself when the coordinator knows no name.
    pub fn scope_name(&self, scope: &str) -> String {
        if scope == PROVINCE_SCOPE {
            return self.province.clone();
        }
        match self.site_names.get(scope) {
            Some(name) if !name.trim().is_empty() => name.clone(),
            _ => scope.to_owned(),
        }
    }

    /// The site ids that have rows, in row order.
    pub fn reporting_sites(&self) -> Vec<String> {
        let mut sites: Vec<String> = Vec::new();
        for row in &self.rows {
            if row.scope != PROVINCE_SCOPE && !sites.contains(&row.scope) {
                sites.push(row.scope.clone());
            }
        }
        sites
    }
}

/// The language of labels in spreadsheet exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Vietnamese (the default).
    #[default]
    Vietnamese,
    /// English.
    English,
}

impl Language {
    /// A form label in this language.
    pub fn pick(self, text: &Text) -> &str {
        match self {
            Language::Vietnamese => &text.vi,
            Language::English => &text.en,
        }
    }
}

/// What a DHIS2 or ADX export sent and what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendSummary {
    /// Number of data values written.
    pub values: usize,
    /// Mapped cells that are not exact (suppressed at a site, or bounded in the province's
    /// totals) and so were left out: DHIS2 has no intervals.
    pub left_out: Vec<LeftOutCell>,
}

/// A mapped cell left out of a DHIS2 or ADX export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOutCell {
    /// A site id, or `province`.
    pub scope: String,
    /// Indicator id.
    pub indicator: String,
    /// `total` or `dim=code;...`.
    pub disaggregation: String,
    /// Why: suppressed or bounded.
    pub status: RowStatus,
}

impl std::fmt::Display for LeftOutCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} ({})",
            self.scope,
            self.indicator,
            self.disaggregation,
            self.status.as_str()
        )
    }
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The mapping file is not valid TOML or has fields it should not.
    #[error("the mapping file is not valid: {0}")]
    MappingSyntax(String),
    /// The mapping does not fit the form or the sites; each problem is one sentence.
    #[error("the mapping has {} problem(s): {}", problems.len(), join_problems(problems))]
    MappingProblems {
        /// Every problem found.
        problems: Vec<MappingProblem>,
    },
    /// The workbook could not be built.
    #[error("the .xlsx workbook could not be built: {0}")]
    Workbook(String),
    /// The XML could not be written.
    #[error("the ADX document could not be written: {0}")]
    Xml(String),
}

fn join_problems(problems: &[MappingProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The category codes of a long-format label, by dimension name: `total` has none,
/// `age_band=lt18;sex=male` has two. Pairs without `=` are skipped (labels come from
/// `protocol::export`, which always writes them).
pub fn label_pairs(label: &str) -> Vec<(String, String)> {
    if label == "total" {
        return Vec::new();
    }
    label
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(d, c)| (d.trim().to_owned(), c.trim().to_owned()))
        .collect()
}

/// One value to send: a mapped exact cell of a unit that has an org unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedValue<'a> {
    /// The org unit.
    pub org_unit: &'a str,
    /// Where the cell goes.
    pub target: &'a mapping::CellTarget,
    /// The exact value.
    pub value: u64,
}

/// The values a checked mapping sends from `table`, in row order, and the summary: every
/// mapped exact cell of a unit with an org unit once; mapped cells that are not exact are
/// listed as left out; ignored cells and units without an org unit are skipped.
pub fn mapped_values<'a>(
    table: &ExportTable,
    mapping: &'a mapping::CheckedMapping,
) -> (Vec<MappedValue<'a>>, SendSummary) {
    let mut values = Vec::new();
    let mut summary = SendSummary::default();
    for row in &table.rows {
        let Some(org_unit) = mapping.org_units.get(&row.scope) else {
            continue;
        };
        let key = (row.indicator.clone(), row.disaggregation.clone());
        let Some(target) = mapping.cells.get(&key) else {
            continue;
        };
        match (row.status, row.value) {
            (RowStatus::Exact, Some(value)) => values.push(MappedValue {
                org_unit,
                target,
                value,
            }),
            _ => summary.left_out.push(LeftOutCell {
                scope: row.scope.clone(),
                indicator: row.indicator.clone(),
                disaggregation: row.disaggregation.clone(),
                status: row.status,
            }),
        }
    }
    summary.values = values.len();
    (values, summary)
}

impl Coordinator {
    /// The figures of `period` for `form` (by id; may be omitted when one form is accepted):
    /// [`Coordinator::export_rows`], with the province's name and each site's name at
    /// enrolment.
    pub async fn export_table(
        &self,
        period: Period,
        form_id: Option<&str>,
    ) -> Result<ExportTable, CoordinatorError> {
        let form = self.form(form_id)?.form.clone();
        let rows = self.export_rows(period, form_id).await?;
        let site_names = self.site_names().await?;
        Ok(ExportTable {
            form,
            period,
            province: self.config.province.clone(),
            site_names,
            rows,
        })
    }

    /// Each site's name as given at its latest enrolment, by site id.
    pub async fn site_names(&self) -> Result<BTreeMap<String, String>, CoordinatorError> {
        // Keys come oldest first: a later enrolment's name replaces an earlier one.
        Ok(self
            .store
            .keys()
            .await?
            .into_iter()
            .map(|key| (key.site.to_string(), key.name))
            .collect())
    }

    /// The sites whose key window is open (enrolled, not retired or revoked): those a mapping must give an
    /// org unit when it sends site values.
    pub async fn active_sites(&self) -> Result<Vec<String>, CoordinatorError> {
        let mut sites: Vec<String> = self
            .store
            .keys()
            .await?
            .into_iter()
            .filter(|key| key.is_open())
            .map(|key| key.site.to_string())
            .collect();
        sites.sort();
        sites.dedup();
        Ok(sites)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_dimension_and_category() {
        assert!(label_pairs("total").is_empty());
        assert_eq!(
            label_pairs("age_band=18-24;sex=male"),
            vec![
                ("age_band".to_owned(), "18-24".to_owned()),
                ("sex".to_owned(), "male".to_owned())
            ]
        );
    }
}
