//! IHE ADX XML (namespace `urn:ihe:qrph:adx:2015`), as DHIS2 imports it at `/api/dataValueSets`
//! with `Content-Type: application/adx+xml`.
//!
//! One `group` per org unit with `orgUnit`, `period` (`2026-10-01/P1M`, `2026-10-01/P3M`,
//! `2026-01-01/P1Y`) and `dataSet`, plus the mapping's attribute categories; in it one
//! `dataValue` per exact cell with `dataElement`, one attribute per dimension of the cell (the
//! DHIS2 category's code, the option's code) and `value`. Written with `quick-xml`, which
//! escapes every attribute. Only exact cells become values ([`super::mapped_values`]).

use std::collections::BTreeMap;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};
use quietcount_protocol::ids::format_utc;
use quietcount_protocol::{Period, UnixTime};

use super::mapping::{CheckedMapping, Mapping, Target};
use super::{ExportError, ExportTable, MappedValue, SendSummary, mapped_values};

/// The ADX namespace.
pub const ADX_NAMESPACE: &str = "urn:ihe:qrph:adx:2015";

/// A period as ADX writes it: first day and ISO 8601 duration.
pub fn adx_period(period: Period) -> String {
    match period {
        Period::Month { year, month } => format!("{year}-{month:02}-01/P1M"),
        Period::Quarter { year, quarter } => {
            format!("{year}-{:02}-01/P3M", 3 * (u32::from(quarter) - 1) + 1)
        }
        Period::Year { year } => format!("{year}-01-01/P1Y"),
    }
}

/// The ADX document of `table` under `mapping`, checked first against the form and the sites
/// that reported; with what was sent and what left out. `now` is written as the export time.
pub fn adx_bytes(
    table: &ExportTable,
    mapping: &Mapping,
    now: UnixTime,
) -> Result<(Vec<u8>, SendSummary), ExportError> {
    let checked = mapping.checked(&table.form, &table.reporting_sites(), Target::Adx)?;
    adx_document(table, &checked, &xml_time(now))
}

/// A time as XML Schema's `dateTime` in UTC: `2026-11-02T08:00:00Z`.
pub fn xml_time(now: UnixTime) -> String {
    // `format_utc` writes `YYYY-MM-DD HH:MM:SS UTC` for every year Quietcount handles.
    let text = format_utc(now);
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(time)) => format!("{date}T{time}Z"),
        _ => text,
    }
}

/// The ADX document of `table` under a checked mapping.
pub fn adx_document(
    table: &ExportTable,
    mapping: &CheckedMapping,
    exported: &str,
) -> Result<(Vec<u8>, SendSummary), ExportError> {
    let period = adx_period(table.period);
    let (values, summary) = mapped_values(table, mapping);
    // Groups by org unit, in the order units first appear.
    let mut groups: Vec<(&str, Vec<&MappedValue<'_>>)> = Vec::new();
    let mut position: BTreeMap<&str, usize> = BTreeMap::new();
    for value in &values {
        let at = *position.entry(value.org_unit).or_insert_with(|| {
            groups.push((value.org_unit, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(value);
    }
    let xml = |e: std::io::Error| ExportError::Xml(e.to_string());
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(xml)?;
    let attribute_categories = &mapping.mapping.adx.attribute_categories;
    writer
        .create_element("adx")
        .with_attribute(("xmlns", ADX_NAMESPACE))
        .with_attribute(("exported", exported))
        .write_inner_content(|writer| {
            for (org_unit, values) in &groups {
                writer
                    .create_element("group")
                    .with_attribute(("orgUnit", *org_unit))
                    .with_attribute(("period", period.as_str()))
                    .with_attribute(("dataSet", mapping.mapping.data_set.as_str()))
                    .with_attributes(
                        attribute_categories
                            .iter()
                            .map(|(c, o)| (c.as_str(), o.as_str())),
                    )
                    .write_inner_content(|writer| {
                        for value in values {
                            let number = value.value.to_string();
                            writer
                                .create_element("dataValue")
                                .with_attribute(("dataElement", value.target.data_element.as_str()))
                                .with_attributes(
                                    value
                                        .target
                                        .attributes
                                        .iter()
                                        .map(|(c, o)| (c.as_str(), o.as_str())),
                                )
                                .with_attribute(("value", number.as_str()))
                                .write_empty()?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })
        .map_err(xml)?;
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    Ok((bytes, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_written_adx_s_way() {
        let p = |s: &str| adx_period(Period::parse(s).unwrap());
        assert_eq!(p("2026-10"), "2026-10-01/P1M");
        assert_eq!(p("2026-Q4"), "2026-10-01/P3M");
        assert_eq!(p("2026-Q1"), "2026-01-01/P3M");
        assert_eq!(p("2026"), "2026-01-01/P1Y");
    }

    #[test]
    fn export_times_are_xml_date_times() {
        assert_eq!(xml_time(1_793_606_400), "2026-11-02T08:00:00Z");
    }
}
