//! Exports for spreadsheets: a CSV that Excel opens in columns (UTF-8 with a byte-order mark)
//! and an `.xlsx` workbook with one sheet per indicator.
//!
//! Both carry the same cells: one row per cell of each site and of the province, with the
//! period, the unit's code and name, the indicator's code and label, then for each dimension
//! of the form its category code and label (empty where the cell is not broken down by that
//! dimension), then value, lower and upper bound and status. Labels are in the chosen
//! [`Language`]. A value is given only for exact cells; an upper bound is empty when nothing
//! bounds the cell from above. The workbook's sheets keep only the dimension columns their
//! indicator uses.

use quietcount_protocol::export::{ExportRow, RowStatus};
use quietcount_protocol::form::Dimension;

use super::{ExportError, ExportTable, Language, label_pairs};

/// The byte-order mark that makes Excel read a CSV as UTF-8.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One cell of a spreadsheet row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetCell {
    /// Text.
    Text(String),
    /// A whole number.
    Number(u64),
    /// Nothing (no bound, no breakdown, no value).
    Empty,
}

impl SheetCell {
    /// The cell as CSV text.
    pub fn as_text(&self) -> String {
        match self {
            SheetCell::Text(text) => text.clone(),
            SheetCell::Number(n) => n.to_string(),
            SheetCell::Empty => String::new(),
        }
    }
}

/// The rows of a spreadsheet export: a header and one row per cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// Column titles.
    pub header: Vec<String>,
    /// The indicator of each row (to split rows into one sheet per indicator).
    pub indicators: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<SheetCell>>,
}

/// Number of columns before the dimension columns: period, unit code, unit name, indicator
/// code, indicator label.
const LEADING_COLUMNS: usize = 5;

/// The spreadsheet rows of `table` with labels in `language`.
pub fn sheet(table: &ExportTable, language: Language) -> Sheet {
    let words = Words::of(language);
    let dimensions = &table.form.dimensions;
    let mut header: Vec<String> = [
        words.period,
        words.unit_code,
        words.unit_name,
        words.indicator_code,
        words.indicator,
    ]
    .map(str::to_owned)
    .to_vec();
    for dimension in dimensions {
        let title = language.pick(&dimension.title);
        header.push(format!("{title} ({})", words.code));
        header.push(title.to_owned());
    }
    header.extend([words.value, words.lower, words.upper, words.status].map(str::to_owned));
    let mut rows = Vec::with_capacity(table.rows.len());
    let mut indicators = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        rows.push(sheet_row(table, language, &words, dimensions, row));
        indicators.push(row.indicator.clone());
    }
    Sheet {
        header,
        indicators,
        rows,
    }
}

/// The spreadsheet CSV: UTF-8 with a byte-order mark, comma-separated, labels in `language`.
pub fn csv_bytes(table: &ExportTable, language: Language) -> Vec<u8> {
    let sheet = sheet(table, language);
    let mut writer = csv::Writer::from_writer(UTF8_BOM.to_vec());
    // Writing to a Vec cannot fail.
    #[allow(clippy::expect_used)]
    {
        writer.write_record(&sheet.header).expect("write to memory");
        for row in &sheet.rows {
            writer
                .write_record(row.iter().map(csv_field))
                .expect("write to memory");
        }
        writer.into_inner().expect("flush to memory")
    }
}

/// A cell as a CSV field. Text that Excel would take for a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return: a site name typed so at enrolment) is prefixed with
/// `'`, which Excel shows as text; numbers are written as they are. The workbook needs no such
/// guard: its text cells are never formulas.
fn csv_field(cell: &SheetCell) -> String {
    match cell {
        SheetCell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{text}")
        }
        other => other.as_text(),
    }
}

/// The `.xlsx` workbook: one sheet per indicator (named by its id), with the CSV's columns
/// less the dimensions the indicator does not use; numbers are numbers.
pub fn xlsx_bytes(table: &ExportTable, language: Language) -> Result<Vec<u8>, ExportError> {
    let sheet = sheet(table, language);
    let workbook_error = |e: rust_xlsxwriter::XlsxError| ExportError::Workbook(e.to_string());
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    // Excel compares sheet names ignoring case; two long ids may share their first 31
    // characters.
    let mut used = std::collections::BTreeSet::new();
    for indicator in &table.form.indicators {
        let columns = indicator_columns(table, indicator);
        let mut name = sheet_name(&indicator.id);
        let mut suffix = 2;
        while !used.insert(name.to_lowercase()) {
            let tail = format!("~{suffix}");
            name = sheet_name(&indicator.id)
                .chars()
                .take(31 - tail.len())
                .chain(tail.chars())
                .collect();
            suffix += 1;
        }
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(name).map_err(workbook_error)?;
        for (column, &source) in columns.iter().enumerate() {
            let column = u16::try_from(column).map_err(|_| too_large())?;
            worksheet
                .write_string_with_format(0, column, &sheet.header[source], &bold)
                .map_err(workbook_error)?;
        }
        let rows = sheet
            .rows
            .iter()
            .zip(&sheet.indicators)
            .filter(|(_, id)| **id == indicator.id)
            .map(|(row, _)| row);
        for (number, row) in rows.enumerate() {
            let at = u32::try_from(number + 1).map_err(|_| too_large())?;
            for (column, &source) in columns.iter().enumerate() {
                let column = u16::try_from(column).map_err(|_| too_large())?;
                match &row[source] {
                    SheetCell::Text(text) => {
                        worksheet
                            .write_string(at, column, text)
                            .map_err(workbook_error)?;
                    }
                    // Counts stay far below 2^53, where f64 is exact.
                    SheetCell::Number(n) => {
                        worksheet
                            .write_number(at, column, *n as f64)
                            .map_err(workbook_error)?;
                    }
                    SheetCell::Empty => {}
                }
            }
        }
        worksheet.set_freeze_panes(1, 0).map_err(workbook_error)?;
        worksheet.autofit();
    }
    workbook.save_to_buffer().map_err(workbook_error)
}

/// The name of an indicator's sheet: its id, within Excel's 31 characters and without the
/// characters Excel refuses in sheet names.
pub fn sheet_name(indicator: &str) -> String {
    indicator
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '_',
            c => c,
        })
        .take(31)
        .collect()
}

fn too_large() -> ExportError {
    ExportError::Workbook("more rows or columns than a worksheet holds".to_owned())
}

/// The columns (positions in [`Sheet::header`]) of an indicator's sheet: the leading ones,
/// the code and label of each dimension its tables use, and the trailing figures.
pub fn indicator_columns(
    table: &ExportTable,
    indicator: &quietcount_protocol::form::Indicator,
) -> Vec<usize> {
    let dimensions = &table.form.dimensions;
    let mut columns: Vec<usize> = (0..LEADING_COLUMNS).collect();
    for (position, dimension) in dimensions.iter().enumerate() {
        if indicator
            .tables
            .iter()
            .flatten()
            .any(|d| *d == dimension.name)
        {
            columns.push(LEADING_COLUMNS + 2 * position);
            columns.push(LEADING_COLUMNS + 2 * position + 1);
        }
    }
    let trailing = LEADING_COLUMNS + 2 * dimensions.len();
    columns.extend(trailing..trailing + 4);
    columns
}

fn sheet_row(
    table: &ExportTable,
    language: Language,
    words: &Words,
    dimensions: &[Dimension],
    row: &ExportRow,
) -> Vec<SheetCell> {
    let indicator_label = table
        .form
        .indicator(&row.indicator)
        .map(|i| language.pick(&i.title).to_owned())
        .unwrap_or_else(|| row.indicator.clone());
    let mut cells = vec![
        SheetCell::Text(row.period.to_string()),
        SheetCell::Text(row.scope.clone()),
        SheetCell::Text(table.scope_name(&row.scope)),
        SheetCell::Text(row.indicator.clone()),
        SheetCell::Text(indicator_label),
    ];
    let pairs = label_pairs(&row.disaggregation);
    for dimension in dimensions {
        match pairs.iter().find(|(name, _)| *name == dimension.name) {
            Some((_, code)) => {
                let label = dimension
                    .categories
                    .iter()
                    .find(|c| c.code == *code)
                    .map(|c| language.pick(&c.title).to_owned())
                    .unwrap_or_else(|| code.clone());
                cells.push(SheetCell::Text(code.clone()));
                cells.push(SheetCell::Text(label));
            }
            None => cells.extend([SheetCell::Empty, SheetCell::Empty]),
        }
    }
    cells.push(row.value.map_or(SheetCell::Empty, SheetCell::Number));
    cells.push(SheetCell::Number(row.lower));
    cells.push(row.upper.map_or(SheetCell::Empty, SheetCell::Number));
    cells.push(SheetCell::Text(words.status(row.status).to_owned()));
    cells
}

/// The fixed words of a spreadsheet export in one language.
struct Words {
    period: &'static str,
    unit_code: &'static str,
    unit_name: &'static str,
    indicator_code: &'static str,
    indicator: &'static str,
    code: &'static str,
    value: &'static str,
    lower: &'static str,
    upper: &'static str,
    status: &'static str,
    exact: &'static str,
    suppressed: &'static str,
    bounded: &'static str,
}

impl Words {
    fn of(language: Language) -> Self {
        match language {
            Language::Vietnamese => Words {
                period: "Kỳ báo cáo",
                unit_code: "Mã đơn vị",
                unit_name: "Tên đơn vị",
                indicator_code: "Mã chỉ tiêu",
                indicator: "Chỉ tiêu",
                code: "mã",
                value: "Giá trị",
                lower: "Cận dưới",
                upper: "Cận trên",
                status: "Tình trạng",
                exact: "Chính xác",
                suppressed: "Ẩn (số nhỏ)",
                bounded: "Trong khoảng",
            },
            Language::English => Words {
                period: "Period",
                unit_code: "Unit code",
                unit_name: "Unit name",
                indicator_code: "Indicator code",
                indicator: "Indicator",
                code: "code",
                value: "Value",
                lower: "Lower bound",
                upper: "Upper bound",
                status: "Status",
                exact: "Exact",
                suppressed: "Suppressed (small number)",
                bounded: "Within bounds",
            },
        }
    }

    fn status(&self, status: RowStatus) -> &'static str {
        match status {
            RowStatus::Exact => self.exact,
            RowStatus::Suppressed => self.suppressed,
            RowStatus::Bounded => self.bounded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quietcount_protocol::Period;
    use quietcount_protocol::export::ExportRow;

    fn table() -> ExportTable {
        let form = quietcount_protocol::Form::default_monthly();
        let period = Period::parse("2026-10").unwrap();
        let row = |scope: &str, disaggregation: &str, value: Option<u64>, status| ExportRow {
            period,
            scope: scope.to_owned(),
            indicator: "clients_active".to_owned(),
            disaggregation: disaggregation.to_owned(),
            value,
            lower: value.unwrap_or(0),
            upper: value,
            status,
        };
        ExportTable {
            form,
            period,
            province: "Hà Nội".to_owned(),
            site_names: [("hn-ba-dinh".to_owned(), "Trạm Y tế Điện Biên".to_owned())].into(),
            rows: vec![
                row(
                    "hn-ba-dinh",
                    "age_band=18-24;sex=female",
                    Some(7),
                    RowStatus::Exact,
                ),
                row("hn-x", "sex=male", None, RowStatus::Suppressed),
                row("province", "total", None, RowStatus::Bounded),
            ],
        }
    }

    #[test]
    fn the_csv_starts_with_a_bom_and_keeps_diacritics_and_one_column_per_dimension() {
        let bytes = csv_bytes(&table(), Language::Vietnamese);
        assert!(bytes.starts_with(UTF8_BOM));
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][column("Tên đơn vị")], "Trạm Y tế Điện Biên");
        assert_eq!(&rows[0][column("Giới tính (mã)")], "female");
        assert_eq!(&rows[0][column("Giới tính")], "Nữ");
        assert_eq!(&rows[0][column("Nhóm tuổi (mã)")], "18-24");
        assert_eq!(&rows[0][column("Giá trị")], "7");
        assert_eq!(&rows[0][column("Tình trạng")], "Chính xác");
        // A site the coordinator knows no name of is shown by its id; the province by name.
        assert_eq!(&rows[1][column("Tên đơn vị")], "hn-x");
        assert_eq!(&rows[1][column("Nhóm tuổi (mã)")], "");
        assert_eq!(&rows[2][column("Tên đơn vị")], "Hà Nội");
        // No bound is an empty cell, never a stand-in number.
        assert_eq!(&rows[2][column("Cận trên")], "");
        assert_eq!(&rows[2][column("Giá trị")], "");
    }

    #[test]
    fn english_labels_when_asked() {
        let bytes = csv_bytes(&table(), Language::English);
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(
            text.starts_with("Period,Unit code,Unit name,Indicator code,Indicator,Sex (code),Sex,")
        );
        assert!(text.contains("Clients active in the period"));
        assert!(text.contains(",female,Female,"));
    }

    #[test]
    fn text_excel_would_run_as_a_formula_is_kept_as_text() {
        let mut table = table();
        table
            .site_names
            .insert("hn-ba-dinh".into(), "=HYPERLINK(\"x\")".into());
        let bytes = csv_bytes(&table, Language::English);
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
        assert!(!text.contains(",=HYPERLINK"), "{text}");
    }

    #[test]
    fn sheet_names_fit_excel() {
        assert_eq!(sheet_name("a/b"), "a_b");
        assert_eq!(sheet_name(&"x".repeat(40)).chars().count(), 31);
    }
}
