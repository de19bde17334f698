//! DHIS2 `dataValueSets` JSON (the body of `POST /api/dataValueSets`).
//!
//! One data value set for the data set and period, with `orgUnit` on every value (a file may
//! hold the province and several sites) and at the top when there is only one org unit;
//! `attributeOptionCombo` at the top and on every value when the mapping gives one; `idScheme`
//! `CODE` when the mapping names objects by code. Values are strings, as DHIS2 writes them.
//! Only exact cells become values ([`super::mapped_values`]).

use quietcount_protocol::Period;
use serde_json::{Map, Value, json};

use super::mapping::{CheckedMapping, IdScheme, Mapping, Target};
use super::{ExportError, ExportTable, SendSummary, mapped_values};

/// A period as DHIS2 writes it: `202610`, `2026Q4`, `2026`.
pub fn dhis2_period(period: Period) -> String {
    match period {
        Period::Month { year, month } => format!("{year}{month:02}"),
        Period::Quarter { year, quarter } => format!("{year}Q{quarter}"),
        Period::Year { year } => format!("{year}"),
    }
}

/// The `dataValueSets` JSON of `table` under `mapping`, checked first against the form and
/// the sites that reported; with what was sent and what left out.
pub fn data_value_sets_bytes(
    table: &ExportTable,
    mapping: &Mapping,
) -> Result<(Vec<u8>, SendSummary), ExportError> {
    let checked = mapping.checked(&table.form, &table.reporting_sites(), Target::DataValueSets)?;
    let (value, summary) = data_value_sets(table, &checked);
    // A JSON value always serialises.
    #[allow(clippy::expect_used)]
    let bytes = serde_json::to_vec_pretty(&value).expect("JSON values serialise");
    Ok((bytes, summary))
}

/// The `dataValueSets` document of `table` under a checked mapping.
pub fn data_value_sets(table: &ExportTable, mapping: &CheckedMapping) -> (Value, SendSummary) {
    let period = dhis2_period(table.period);
    let aoc = mapping.mapping.attribute_option_combo.as_deref();
    let (values, summary) = mapped_values(table, mapping);
    let data_values: Vec<Value> = values
        .iter()
        .map(|v| {
            let mut value = json!({
                "dataElement": v.target.data_element,
                "period": period,
                "orgUnit": v.org_unit,
                "categoryOptionCombo": v.target.category_option_combo,
                "value": v.value.to_string(),
            });
            if let (Some(aoc), Some(object)) = (aoc, value.as_object_mut()) {
                object.insert("attributeOptionCombo".into(), aoc.into());
            }
            value
        })
        .collect();
    let mut set = Map::new();
    if mapping.mapping.id_scheme == IdScheme::Code {
        set.insert("idScheme".into(), IdScheme::Code.as_dhis2().into());
    }
    set.insert("dataSet".into(), mapping.mapping.data_set.clone().into());
    set.insert("period".into(), period.into());
    let units: std::collections::BTreeSet<&str> = values.iter().map(|v| v.org_unit).collect();
    if let [only] = units.into_iter().collect::<Vec<_>>().as_slice() {
        set.insert("orgUnit".into(), (*only).into());
    }
    if let Some(aoc) = aoc {
        set.insert("attributeOptionCombo".into(), aoc.into());
    }
    set.insert("dataValues".into(), Value::Array(data_values));
    (Value::Object(set), summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_written_dhis2_s_way() {
        let p = |s: &str| dhis2_period(Period::parse(s).unwrap());
        assert_eq!(p("2026-10"), "202610");
        assert_eq!(p("2026-03"), "202603");
        assert_eq!(p("2026-Q4"), "2026Q4");
        assert_eq!(p("2026"), "2026");
    }
}
