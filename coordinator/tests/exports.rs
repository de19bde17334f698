//! Exports for spreadsheets (CSV with BOM, `.xlsx`) and for DHIS2 (`dataValueSets` JSON, ADX),
//! through the library and the real binary: what Excel and DHIS2 are given, read back and
//! compared with the cells the coordinator holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use calamine::Reader as _;
use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quietcount_coordinator::Coordinator;
use quietcount_coordinator::exports::mapping::{Mapping, Target, cell_labels};
use quietcount_coordinator::exports::{
    ExportTable, Language, adx, dhis2, spreadsheet::UTF8_BOM, spreadsheet::csv_bytes,
};
use quietcount_coordinator::testing::TestSite;
use quietcount_protocol::export::{ExportRow, PROVINCE_SCOPE, RowStatus};
use quietcount_protocol::wire::Response;
use quietcount_protocol::{Form, Period};

const SAMPLE_MAPPING: &str = include_str!("../mappings/dhis2-sample.toml");
const SITES: [(&str, &str); 2] = [
    ("hn-ba-dinh", "Trạm Y tế phường Điện Biên"),
    ("hn-dong-da", "Cơ sở điều trị Methadone Đống Đa"),
];

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quietcount-coordinator"))
}

fn october() -> Period {
    Period::parse("2026-10").unwrap()
}

/// A province "Hà Nội" with two sites, named in Vietnamese at enrolment, that reported October
/// (realistic counts: some cells suppressed at the sites, some provincial cells bounded).
async fn province(root: &Path) -> Coordinator {
    let dir = root.join("coord");
    Coordinator::init(&dir, "Hà Nội", Some(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let coordinator = Coordinator::open(&dir).await.unwrap();
    let period = october();
    let ingest = coordinator.ingest();
    for (seed, (id, name)) in SITES.iter().enumerate() {
        let site = TestSite::new(id).unwrap();
        let key = dir.join(format!("{id}.pub"));
        quietcount_keys::save_public_key(&key, &site.identity.verifying_key()).unwrap();
        coordinator
            .enroll(&site.id, name, &key, None, None, period.start())
            .await
            .unwrap();
        let envelope = site
            .signed_report(period, 1, None, 11 + seed as u64)
            .unwrap();
        let response = ingest
            .submit(&site.id, &envelope, period.end() + 86_400)
            .await;
        assert!(
            matches!(response, Response::Accepted { .. }),
            "{response:?}"
        );
    }
    coordinator
}

/// The sample mapping with org units for the test province's sites.
fn mapping_for_test_sites() -> Mapping {
    let mut mapping = Mapping::from_toml(SAMPLE_MAPPING).unwrap();
    mapping.org_units.sites = Some(
        SITES
            .iter()
            .map(|(id, _)| (id.to_string(), format!("OU_{}", id.to_uppercase())))
            .collect(),
    );
    mapping
}

fn mapping_text_for_test_sites() -> String {
    let mut text = SAMPLE_MAPPING.replace(
        "hn-ba-dinh = \"VN_HANOI_BA_DINH\"\nhn-dong-da = \"VN_HANOI_DONG_DA\"",
        "hn-ba-dinh = \"OU_HN-BA-DINH\"\nhn-dong-da = \"OU_HN-DONG-DA\"",
    );
    text = text.replace(
        "# attribute_option_combo = \"QC_FUNDING_GLOBAL_FUND\"",
        "attribute_option_combo = \"QC_FUNDING_GLOBAL_FUND\"",
    );
    assert!(text.contains("OU_HN-BA-DINH") && text.contains("attribute_option_combo = "));
    text
}

fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    output
}

fn export_command(coordinator: &Coordinator, format: &str) -> Command {
    let mut command = binary();
    command
        .args(["export", "--period", "2026-10", "--format", format, "--dir"])
        .arg(&coordinator.dir);
    command
}

/// The CSV's header and rows (after the BOM).
fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    assert!(bytes.starts_with(UTF8_BOM), "the CSV starts with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[UTF8_BOM.len()..]);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn the_spreadsheet_csv_has_a_bom_labels_next_to_codes_site_names_and_empty_unbounded_cells() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = province(root.path()).await;
    let rows = coordinator.export_rows(october(), None).await.unwrap();
    let out = root.path().join("export.csv");
    run(export_command(&coordinator, "csv").arg("--out").arg(&out));
    let bytes = std::fs::read(&out).unwrap();
    // Vietnamese is the default; the file is valid UTF-8 with its diacritics intact.
    let text = std::str::from_utf8(&bytes).unwrap();
    for needle in [
        "Hà Nội",
        "Trạm Y tế phường Điện Biên",
        "Cơ sở điều trị Methadone Đống Đa",
        "Số người đang được hỗ trợ trong kỳ",
        "Chất dạng thuốc phiện / heroin",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
    let (header, lines) = read_csv(&bytes);
    assert_eq!(lines.len(), rows.len(), "one line per cell");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    // One code column and one label column per dimension of the form.
    let form = Form::default_monthly();
    assert_eq!(header.len(), 5 + 2 * form.dimensions.len() + 4);
    for (line, row) in lines.iter().zip(&rows) {
        assert_eq!(line[column("Mã đơn vị")], row.scope);
        assert_eq!(line[column("Mã chỉ tiêu")], row.indicator);
        let value = row.value.map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(line[column("Giá trị")], value);
        let upper = row.upper.map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(line[column("Cận trên")], upper);
        for dimension in &form.dimensions {
            let code = &line[column(&format!("{} (mã)", dimension.title.vi))];
            let expected = row
                .disaggregation
                .split(';')
                .find_map(|p| p.strip_prefix(&format!("{}=", dimension.name)))
                .unwrap_or("");
            assert_eq!(code, expected, "{row:?}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l[column("Tình trạng")] == "Ẩn (số nhỏ)")
    );
    let site_line = lines
        .iter()
        .find(|l| l[column("Mã đơn vị")] == "hn-ba-dinh")
        .unwrap();
    assert_eq!(
        site_line[column("Tên đơn vị")],
        "Trạm Y tế phường Điện Biên"
    );
    let sex = lines
        .iter()
        .find(|l| l[column("Giới tính (mã)")] == "female")
        .unwrap();
    assert_eq!(sex[column("Giới tính")], "Nữ");

    // English labels when asked; the same cells.
    let output = run(export_command(&coordinator, "csv").args(["--lang", "en"]));
    let (header, english) = read_csv(&output.stdout);
    assert_eq!(english.len(), rows.len());
    assert!(header.contains(&"Sex (code)".to_owned()));
    let sex = header.iter().position(|h| h == "Sex").unwrap();
    assert!(english.iter().any(|l| l[sex] == "Female"));
}

#[tokio::test]
async fn the_xlsx_read_back_with_calamine_equals_the_csv_one_sheet_per_indicator() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = province(root.path()).await;
    let out = root.path().join("export.xlsx");
    run(export_command(&coordinator, "xlsx").arg("--out").arg(&out));
    let csv = run(&mut export_command(&coordinator, "csv")).stdout;
    let (header, lines) = read_csv(&csv);
    let indicator_column = header.iter().position(|h| h == "Mã chỉ tiêu").unwrap();

    let bytes = std::fs::read(&out).unwrap();
    let mut workbook = calamine::Xlsx::new(Cursor::new(bytes)).unwrap();
    let form = Form::default_monthly();
    let names = workbook.sheet_names();
    assert_eq!(
        names,
        form.indicators
            .iter()
            .map(|i| i.id.clone())
            .collect::<Vec<_>>(),
        "one sheet per indicator, named by its id"
    );
    let mut compared = 0;
    for indicator in &form.indicators {
        let range = workbook.worksheet_range(&indicator.id).unwrap();
        let mut sheet_rows = range.rows();
        let sheet_header: Vec<String> = sheet_rows
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let expected: Vec<&Vec<String>> = lines
            .iter()
            .filter(|l| l[indicator_column] == indicator.id)
            .collect();
        let sheet_rows: Vec<Vec<String>> = sheet_rows
            .map(|row| row.iter().map(cell_text).collect())
            .collect();
        assert_eq!(sheet_rows.len(), expected.len(), "{}", indicator.id);
        for (sheet_row, csv_row) in sheet_rows.iter().zip(expected) {
            for (position, title) in header.iter().enumerate() {
                match sheet_header.iter().position(|h| h == title) {
                    Some(at) => assert_eq!(sheet_row[at], csv_row[position], "{title}"),
                    // A dimension the indicator does not use: empty in the CSV too.
                    None => assert_eq!(csv_row[position], "", "{title}"),
                }
            }
            compared += 1;
        }
    }
    assert_eq!(compared, lines.len(), "every CSV row is in the workbook");

    // A workbook is never written to the terminal.
    let output = export_command(&coordinator, "xlsx").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--out"));
}

/// A workbook cell as the CSV writes it: whole numbers without a decimal point.
fn cell_text(cell: &calamine::Data) -> String {
    match cell {
        calamine::Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as u64),
        calamine::Data::Int(i) => i.to_string(),
        calamine::Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// An indicator and one of its cells.
type Cell = (String, String);
/// A data element and its ADX disaggregation attributes.
type AdxTarget = (String, BTreeSet<(String, String)>);

/// Reverse of a mapping: (data element, category option combo) and (data element, ADX
/// attributes) to (indicator, cell); org unit to scope.
struct Reverse {
    by_combo: BTreeMap<(String, String), Cell>,
    by_attributes: BTreeMap<AdxTarget, Cell>,
    scope_of: BTreeMap<String, String>,
}

fn reverse(mapping: &Mapping, form: &Form) -> Reverse {
    let checked = mapping
        .checked(form, &[], Target::Adx)
        .expect("the mapping fits");
    let mut by_combo = BTreeMap::new();
    let mut by_attributes = BTreeMap::new();
    for (cell, target) in &checked.cells {
        by_combo.insert(
            (
                target.data_element.clone(),
                target.category_option_combo.clone(),
            ),
            cell.clone(),
        );
        by_attributes.insert(
            (
                target.data_element.clone(),
                target.attributes.iter().cloned().collect(),
            ),
            cell.clone(),
        );
    }
    let scope_of = checked
        .org_units
        .iter()
        .map(|(scope, unit)| (unit.clone(), scope.clone()))
        .collect();
    Reverse {
        by_combo,
        by_attributes,
        scope_of,
    }
}

/// (scope, indicator, cell) to value of every exact row.
fn exact_cells(rows: &[ExportRow]) -> BTreeMap<(String, String, String), u64> {
    rows.iter()
        .filter(|r| r.status == RowStatus::Exact)
        .map(|r| {
            (
                (
                    r.scope.clone(),
                    r.indicator.clone(),
                    r.disaggregation.clone(),
                ),
                r.value.unwrap(),
            )
        })
        .collect()
}

/// The values of a `dataValueSets` document, by (scope, indicator, cell); panics on a value
/// sent twice or a required field missing.
fn read_data_value_sets(
    json: &serde_json::Value,
    reverse: &Reverse,
    period: &str,
    aoc: Option<&str>,
) -> BTreeMap<(String, String, String), u64> {
    assert!(json["dataSet"].is_string(), "dataSet");
    assert_eq!(json["period"], period);
    if let Some(aoc) = aoc {
        assert_eq!(json["attributeOptionCombo"], aoc);
    }
    let mut values = BTreeMap::new();
    for value in json["dataValues"].as_array().unwrap() {
        for field in ["dataElement", "categoryOptionCombo", "orgUnit", "value"] {
            assert!(value[field].is_string(), "{field} in {value}");
        }
        assert_eq!(value["period"], period);
        if let Some(aoc) = aoc {
            assert_eq!(value["attributeOptionCombo"], aoc);
        }
        let (indicator, cell) = reverse.by_combo[&(
            value["dataElement"].as_str().unwrap().to_owned(),
            value["categoryOptionCombo"].as_str().unwrap().to_owned(),
        )]
            .clone();
        let scope = reverse.scope_of[value["orgUnit"].as_str().unwrap()].clone();
        let number: u64 = value["value"].as_str().unwrap().parse().unwrap();
        let previous = values.insert((scope, indicator, cell), number);
        assert!(previous.is_none(), "a value sent twice: {value}");
    }
    values
}

/// The values of an ADX document, by (scope, indicator, cell), after checking it is
/// well-formed, in the ADX namespace, and that every group and value has its attributes.
fn read_adx(
    xml: &[u8],
    reverse: &Reverse,
    period: &str,
    data_set: &str,
) -> BTreeMap<(String, String, String), u64> {
    let text = std::str::from_utf8(xml).unwrap();
    let mut reader = quick_xml::NsReader::from_str(text);
    let mut values = BTreeMap::new();
    let mut scope = None;
    let mut depth = 0;
    let mut saw_root = false;
    loop {
        let (namespace, event) = reader.read_resolved_event().unwrap();
        let in_adx = matches!(namespace, ResolveResult::Bound(ns) if ns.as_ref() == adx::ADX_NAMESPACE.as_bytes());
        let opens = matches!(event, Event::Start(_));
        match event {
            Event::Start(element) | Event::Empty(element) => {
                let name = String::from_utf8(element.local_name().as_ref().to_vec()).unwrap();
                let attributes: BTreeMap<String, String> = element
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.decode_and_unescape_value(reader.decoder())
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                assert!(in_adx, "<{name}> is in the ADX namespace");
                match name.as_str() {
                    "adx" => {
                        saw_root = true;
                        assert!(attributes["exported"].ends_with('Z'));
                    }
                    "group" => {
                        assert_eq!(attributes["period"], period);
                        assert_eq!(attributes["dataSet"], data_set);
                        scope = Some(reverse.scope_of[&attributes["orgUnit"]].clone());
                    }
                    "dataValue" => {
                        let element = attributes["dataElement"].clone();
                        let number: u64 = attributes["value"].parse().unwrap();
                        let disaggregation: BTreeSet<(String, String)> = attributes
                            .into_iter()
                            .filter(|(k, _)| k != "dataElement" && k != "value")
                            .collect();
                        let (indicator, cell) =
                            reverse.by_attributes[&(element, disaggregation)].clone();
                        let previous =
                            values.insert((scope.clone().unwrap(), indicator, cell), number);
                        assert!(previous.is_none(), "a value sent twice");
                    }
                    other => panic!("unexpected element {other}"),
                }
                if opens {
                    depth += 1;
                }
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(saw_root && depth == 0, "one closed <adx> root");
    values
}

#[tokio::test]
async fn dhis2_json_has_the_required_fields_and_exactly_the_exact_cells() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = province(root.path()).await;
    let mapping_file = root.path().join("mapping.toml");
    std::fs::write(&mapping_file, mapping_text_for_test_sites()).unwrap();
    let out = root.path().join("values.json");
    let output = run(export_command(&coordinator, "dhis2-json")
        .arg("--mapping")
        .arg(&mapping_file)
        .arg("--out")
        .arg(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let form = Form::default_monthly();
    let mapping = Mapping::from_toml(&mapping_text_for_test_sites()).unwrap();
    let reverse = reverse(&mapping, &form);
    let sent = read_data_value_sets(&json, &reverse, "202610", Some("QC_FUNDING_GLOBAL_FUND"));
    assert_eq!(json["idScheme"], "CODE");

    // Round trip: exactly the exact cells of the sites and the province, with their values.
    let rows = coordinator.export_rows(october(), None).await.unwrap();
    assert_eq!(sent, exact_cells(&rows));
    let not_exact = rows.iter().filter(|r| r.status != RowStatus::Exact).count();
    assert!(
        not_exact > 0,
        "the test province has suppressed and bounded cells"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{} value(s) written; {not_exact} mapped cell(s) left out",
            sent.len()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("left out: province "), "{stderr}");
    assert!(stderr.contains("(bounded)") && stderr.contains("(suppressed)"));
}

#[tokio::test]
async fn adx_is_well_formed_in_its_namespace_and_round_trips_to_the_exact_cells() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = province(root.path()).await;
    let mapping_file = root.path().join("mapping.toml");
    std::fs::write(&mapping_file, mapping_text_for_test_sites()).unwrap();
    let output = run(export_command(&coordinator, "adx")
        .arg("--mapping")
        .arg(&mapping_file));
    let form = Form::default_monthly();
    let mapping = Mapping::from_toml(&mapping_text_for_test_sites()).unwrap();
    let reverse = reverse(&mapping, &form);
    let sent = read_adx(&output.stdout, &reverse, "2026-10-01/P1M", "QC_MONTHLY");
    let rows = coordinator.export_rows(october(), None).await.unwrap();
    assert_eq!(sent, exact_cells(&rows));
    // Disaggregation attributes are the categories' codes.
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("QC_SEX=\"SEX_FEMALE\""), "{text}");
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
}

#[test]
fn the_sample_mapping_parses_and_fits_the_default_form_for_both_formats() {
    let mapping = Mapping::from_toml(SAMPLE_MAPPING).unwrap();
    let form = Form::default_monthly();
    let sites: Vec<String> = mapping
        .org_units
        .sites
        .clone()
        .unwrap()
        .into_keys()
        .collect();
    for target in [Target::DataValueSets, Target::Adx] {
        let check = mapping.check(&form, &sites, target);
        assert_eq!(check.problems, vec![], "{target:?}");
        let cells: usize = form
            .indicators
            .iter()
            .map(|i| cell_labels(&form, i).len())
            .sum();
        assert_eq!(
            check.cells_mapped, cells,
            "every cell of the form is mapped"
        );
    }
}

#[tokio::test]
async fn dry_run_names_each_problem_and_passes_a_fitting_mapping() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = province(root.path()).await;
    let good = root.path().join("good.toml");
    std::fs::write(&good, mapping_text_for_test_sites()).unwrap();
    for format in ["dhis2-json", "adx"] {
        let output = run(binary()
            .args(["export", "--dry-run", "--format", format, "--mapping"])
            .arg(&good)
            .arg("--dir")
            .arg(&coordinator.dir));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("The mapping fits form vn-community-treatment-monthly v2"));
    }

    // A broken copy of the sample: a site without org unit, an unknown indicator (so the
    // real one's cells are unmapped), an unknown category, a category that is no XML name.
    let broken = SAMPLE_MAPPING
        .replace("hn-dong-da = ", "hn-hoan-kiem = ")
        .replace("indicator = \"relapses\"", "indicator = \"relapse\"")
        .replace(
            "\"sex=other\" = \"SEX_OTHER\"",
            "\"sex=others\" = \"SEX_OTHER\"",
        )
        .replace("category = \"QC_MOD\"", "category = \"QC MOD\"");
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, broken).unwrap();
    let output = binary()
        .args(["export", "--dry-run", "--format", "adx", "--mapping"])
        .arg(&bad)
        .arg("--dir")
        .arg(&coordinator.dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "problem: site `hn-dong-da` has no org unit",
        "names indicator `relapse`, which the form does not have",
        "indicator `relapses`: 4 cell(s) not mapped",
        "dimension `sex` has no category `others`",
        "category `QC MOD` cannot be an ADX attribute name",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    }
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("problem(s)") && stderr.lines().count() == 1,
        "{stderr}"
    );

    // A real export with that mapping writes nothing: an existing file is left as it was.
    let out = root.path().join("values.xml");
    std::fs::write(&out, "earlier").unwrap();
    let output = export_command(&coordinator, "adx")
        .arg("--mapping")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier");
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 4);
}

/// Every distinct cell of the default form, for the province and two sites.
fn all_cells() -> Vec<(String, String, String)> {
    let form = Form::default_monthly();
    let mut cells = Vec::new();
    for scope in ["hn-ba-dinh", "hn-dong-da", PROVINCE_SCOPE] {
        for indicator in &form.indicators {
            for label in cell_labels(&form, indicator) {
                cells.push((scope.to_owned(), indicator.id.clone(), label));
            }
        }
    }
    cells
}

fn period_strategy() -> impl Strategy<Value = (Period, &'static str, &'static str)> {
    prop_oneof![
        Just((
            Period::parse("2026-10").unwrap(),
            "202610",
            "2026-10-01/P1M"
        )),
        Just((
            Period::parse("2026-Q4").unwrap(),
            "2026Q4",
            "2026-10-01/P3M"
        )),
        Just((Period::parse("2026").unwrap(), "2026", "2026-01-01/P1Y")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever cells are exact, suppressed or bounded: every exact cell appears once, with its
    /// value, in both the JSON and the ADX; no other cell appears; each one left out is listed.
    #[test]
    fn every_exact_cell_appears_once_and_no_other(
        statuses in proptest::collection::vec((0u8..3, 0u64..500), all_cells().len()),
        (period, dhis2_period, adx_period) in period_strategy(),
    ) {
        let form = Form::default_monthly();
        let rows: Vec<ExportRow> = all_cells()
            .into_iter()
            .zip(&statuses)
            .map(|((scope, indicator, disaggregation), &(status, value))| {
                let province = scope == PROVINCE_SCOPE;
                let status = match status {
                    0 => RowStatus::Exact,
                    _ if province => RowStatus::Bounded,
                    _ => RowStatus::Suppressed,
                };
                let exact = status == RowStatus::Exact;
                ExportRow {
                    period,
                    scope,
                    indicator,
                    disaggregation,
                    value: exact.then_some(value),
                    lower: if exact { value } else { 0 },
                    upper: if exact || value % 2 == 0 { Some(value + 4) } else { None },
                    status,
                }
            })
            .collect();
        let table = ExportTable {
            form: form.clone(),
            period,
            province: "Hà Nội".into(),
            site_names: BTreeMap::new(),
            rows: rows.clone(),
        };
        let mapping = mapping_for_test_sites();
        let reverse = reverse(&mapping, &form);
        let expected = exact_cells(&rows);
        let left_out = rows.iter().filter(|r| r.status != RowStatus::Exact).count();

        let (json, summary) = dhis2::data_value_sets_bytes(&table, &mapping).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&read_data_value_sets(&json, &reverse, dhis2_period, None), &expected);
        prop_assert_eq!(summary.values, expected.len());
        prop_assert_eq!(summary.left_out.len(), left_out);

        let (xml, summary) = adx::adx_bytes(&table, &mapping, 1_793_606_400).unwrap();
        prop_assert_eq!(&read_adx(&xml, &reverse, adx_period, "QC_MONTHLY"), &expected);
        prop_assert_eq!(summary.left_out.len(), left_out);

        // The spreadsheet carries every cell, exact or not.
        let (_, lines) = read_csv(&csv_bytes(&table, Language::English));
        prop_assert_eq!(lines.len(), rows.len());
    }
}
