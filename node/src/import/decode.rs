//! From a file's bytes to rows of cells, whatever Excel saved: CSV in UTF-8 (with or without
//! BOM), UTF-16 LE/BE ("Unicode Text", by its BOM) or Windows-1258 (the fallback), separated
//! by `,`, `;` or tab (found from the header line); or an `.xlsx`/`.xls` workbook, whose date
//! cells arrive as dates. Every row keeps the number Excel shows for it, blank rows and line
//! breaks inside cells included; rows with no value at all are dropped.

use std::io::Cursor;

use calamine::{Data, Reader as _};
use unicode_normalization::UnicodeNormalization as _;

use crate::dates::Date;

/// How a file was read, for the line the import prints about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFormat {
    /// Delimited text.
    Text {
        /// The text encoding.
        encoding: TextEncoding,
        /// The separator found in the header line.
        separator: char,
    },
    /// A workbook; its first sheet was read.
    Workbook {
        /// The sheet's name.
        sheet: String,
    },
}

/// The encoding of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte order mark.
    Utf8,
    /// UTF-16 little-endian, by its byte order mark (Excel's "Unicode Text").
    Utf16Le,
    /// UTF-16 big-endian, by its byte order mark.
    Utf16Be,
    /// Not UTF-8 and no byte order mark: assumed to be Windows-1258, what Excel's plain
    /// "CSV (Comma delimited)" writes on Vietnamese Windows.
    Windows1258Assumed,
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Text, trimmed.
    Text(String),
    /// A workbook date cell.
    Date(Date),
    /// A workbook cell holding an error (`#N/A`, `#REF!`, ...).
    Invalid,
}

impl Value {
    pub(crate) fn text(&self) -> &str {
        match self {
            Value::Text(t) => t,
            Value::Date(_) | Value::Invalid => "",
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Value::Text(t) if t.is_empty())
    }
}

/// A data row with the number Excel shows for it.
#[derive(Debug, Clone)]
pub(crate) struct SourceRow {
    pub(crate) row: u64,
    /// The cells, or `None` when the row could not be read as CSV.
    pub(crate) cells: Option<Vec<Value>>,
}

/// A decoded file: header cells and data rows.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) format: SourceFormat,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<SourceRow>,
}

/// Why a file could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file holds no row at all.
    #[error("the file is empty")]
    Empty,
    /// A workbook that could not be opened.
    #[error("not a readable workbook ({0})")]
    Workbook(String),
}

/// Decodes `bytes`: a workbook by its signature, else delimited text.
pub(crate) fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
    if bytes.starts_with(ZIP) || bytes.starts_with(OLE) {
        decode_workbook(bytes)
    } else {
        decode_text(bytes)
    }
}

fn decode_text(bytes: &[u8]) -> Result<Table, DecodeError> {
    let (decoded, encoding) = to_text(bytes);
    // A first line `sep=;` names the separator; Excel obeys it and does not show it as a row.
    let first_line = decoded.lines().next().unwrap_or_default();
    let (text, separator) = match separator_line(first_line) {
        Some(separator) => {
            let rest = &decoded[first_line.len()..];
            let rest = rest
                .strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix('\n'))
                .or_else(|| rest.strip_prefix('\r'))
                .unwrap_or(rest);
            (rest, separator)
        }
        None => (decoded.as_str(), detect_separator(first_line)),
    };
    let row_starts = row_starts(text);
    // The csv crate gives a record's position just after the previous record's first
    // terminator byte (inside a `\r\n`, or before blank lines): the record starts after them.
    let row_of = |byte: u64| -> u64 {
        let skipped = text.as_bytes()[byte as usize..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count() as u64;
        let index = row_starts.partition_point(|&start| start <= byte + skipped);
        index.max(1) as u64
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator as u8)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut last_row = 0;
    for record in reader.records() {
        match record {
            Ok(record) => {
                let row = record.position().map_or(last_row + 1, |p| row_of(p.byte()));
                last_row = row;
                let cells: Vec<String> = record.iter().map(|f| f.trim().to_owned()).collect();
                if cells.iter().all(String::is_empty) {
                    continue;
                }
                if header.is_none() {
                    header = Some(cells);
                } else {
                    rows.push(SourceRow {
                        row,
                        cells: Some(cells.into_iter().map(Value::Text).collect()),
                    });
                }
            }
            Err(error) => {
                let row = error.position().map_or(last_row + 1, |p| row_of(p.byte()));
                last_row = row;
                rows.push(SourceRow { row, cells: None });
            }
        }
    }
    Ok(Table {
        format: SourceFormat::Text {
            encoding,
            separator,
        },
        header: header.ok_or(DecodeError::Empty)?,
        rows,
    })
}

/// The text of `bytes` (in NFC, as Windows-1258 decodes to combining tone marks) and the
/// encoding it was read in.
fn to_text(bytes: &[u8]) -> (String, TextEncoding) {
    if let Some((encoding, bom_length)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_length..]);
        let which = if encoding == encoding_rs::UTF_16LE {
            TextEncoding::Utf16Le
        } else if encoding == encoding_rs::UTF_16BE {
            TextEncoding::Utf16Be
        } else {
            TextEncoding::Utf8
        };
        return (text.nfc().collect(), which);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.nfc().collect(), TextEncoding::Utf8),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1258.decode_without_bom_handling(bytes);
            (text.nfc().collect(), TextEncoding::Windows1258Assumed)
        }
    }
}

/// The separator a `sep=X` line names.
fn separator_line(line: &str) -> Option<char> {
    let rest = line.strip_prefix("sep=")?;
    let mut chars = rest.chars();
    let separator = chars.next()?;
    (chars.next().is_none() && matches!(separator, ',' | ';' | '\t' | '|')).then_some(separator)
}

/// The separator of a header line: whichever of `,`, `;` and tab occurs most outside quotes
/// (`,` when none does).
fn detect_separator(header_line: &str) -> char {
    let mut counts = [(',', 0usize), (';', 0), ('\t', 0)];
    let mut quoted = false;
    for c in header_line.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            for (separator, count) in &mut counts {
                if c == *separator {
                    *count += 1;
                }
            }
        }
    }
    counts
        .iter()
        .fold(
            (',', 0),
            |best, &(c, n)| if n > best.1 { (c, n) } else { best },
        )
        .0
}

/// The byte offset where each row starts, as Excel numbers rows: a line break inside quotes
/// belongs to its cell, and `\r\n`, `\n` and a lone `\r` each end one row.
fn row_starts(text: &str) -> Vec<u64> {
    let bytes = text.as_bytes();
    let mut starts = vec![0u64];
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'\r' if !quoted => {
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                starts.push(i as u64 + 1);
            }
            b'\n' if !quoted => starts.push(i as u64 + 1),
            _ => {}
        }
        i += 1;
    }
    starts
}

fn decode_workbook(bytes: &[u8]) -> Result<Table, DecodeError> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| DecodeError::Workbook(workbook_error(&e)))?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or(DecodeError::Empty)?;
    let range = workbook
        .worksheet_range(&sheet)
        .map_err(|e| DecodeError::Workbook(workbook_error(&e)))?;
    let first_row = range.start().map_or(0, |(row, _)| u64::from(row));
    let first_column = range.start().map_or(0, |(_, column)| column as usize);
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (offset, cells) in range.rows().enumerate() {
        // Excel numbers rows from 1; the range may start below row 1.
        let row = first_row + offset as u64 + 1;
        // Columns left of the range are empty: keep positions as Excel shows them.
        let mut values: Vec<Value> = vec![Value::Text(String::new()); first_column];
        values.extend(cells.iter().map(cell_value));
        if values.iter().all(Value::is_empty) {
            continue;
        }
        if header.is_none() {
            header = Some(values.iter().map(|v| v.text().to_owned()).collect());
        } else {
            rows.push(SourceRow {
                row,
                cells: Some(values),
            });
        }
    }
    Ok(Table {
        format: SourceFormat::Workbook { sheet },
        header: header.ok_or(DecodeError::Empty)?,
        rows,
    })
}

/// A workbook error's kind, without its text: calamine's messages can quote cell contents.
fn workbook_error(error: &calamine::Error) -> String {
    match error {
        calamine::Error::Io(_) => "input/output error",
        calamine::Error::Xlsx(_) => "damaged .xlsx",
        calamine::Error::Xls(_) => "damaged .xls",
        calamine::Error::Xlsb(_) => "damaged .xlsb",
        calamine::Error::Ods(_) => "damaged .ods",
        _ => "unsupported or damaged workbook",
    }
    .to_owned()
}

fn cell_value(cell: &Data) -> Value {
    match cell {
        Data::Empty => Value::Text(String::new()),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            Value::Text(s.nfc().collect::<String>().trim().to_owned())
        }
        Data::Int(i) => Value::Text(i.to_string()),
        // Whole numbers (codes, phone numbers typed as numbers) without a decimal point.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
            Value::Text(format!("{}", *f as i64))
        }
        Data::Float(f) => Value::Text(f.to_string()),
        Data::Bool(b) => Value::Text(if *b { "TRUE" } else { "FALSE" }.to_owned()),
        // Only days 1..=109574 (1900-01-01 to 2199-12-31) are converted: calamine's
        // conversion overflows on absurd serials, and no record date lies outside.
        Data::DateTime(date_time)
            if date_time.is_datetime() && (1.0..109_575.0).contains(&date_time.as_f64()) =>
        {
            let (year, month, day, ..) = date_time.to_ymd_hms_milli();
            Date::new(i64::from(year), u32::from(month), u32::from(day))
                .map_or(Value::Invalid, Value::Date)
        }
        Data::DateTime(_) | Data::Error(_) => Value::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_found_in_the_header_line() {
        assert_eq!(detect_separator("a,b,c"), ',');
        assert_eq!(detect_separator("a;b;c"), ';');
        assert_eq!(detect_separator("a\tb\tc"), '\t');
        assert_eq!(detect_separator("\"a;b\",c"), ',');
        assert_eq!(detect_separator("single"), ',');
        let table = decode(b"sep=;\r\na;b\r\n1;2\r\n").unwrap();
        assert_eq!(table.header, ["a", "b"]);
        assert_eq!(table.rows[0].row, 2, "Excel hides the sep= line");
    }

    #[test]
    fn workbook_cells_become_text_dates_or_invalid_never_a_panic() {
        use calamine::{ExcelDateTime, ExcelDateTimeType};
        let date = |serial: f64| {
            cell_value(&Data::DateTime(ExcelDateTime::new(
                serial,
                ExcelDateTimeType::DateTime,
                false,
            )))
        };
        assert_eq!(date(37110.0), Value::Date(Date::new(2001, 8, 7).unwrap()));
        for absurd in [1e300, -5.0, f64::NAN, 0.0] {
            assert_eq!(date(absurd), Value::Invalid, "{absurd}");
        }
        assert_eq!(
            cell_value(&Data::Float(905032582.0)),
            Value::Text("905032582".into())
        );
        assert_eq!(cell_value(&Data::Float(1.5)), Value::Text("1.5".into()));
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_without_panicking() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let alphabet = b",;\t\r\n\"ab1/.-\xff\xfe\x00";
        for i in 0..2_000 {
            let length = rng.gen_range(0..200);
            let mut bytes: Vec<u8> = (0..length)
                .map(|_| {
                    if rng.gen_bool(0.7) {
                        alphabet[rng.gen_range(0..alphabet.len())]
                    } else {
                        rng.r#gen()
                    }
                })
                .collect();
            let signature: &[u8] = match i % 4 {
                0 => b"PK\x03\x04",
                1 => b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
                _ => b"",
            };
            bytes.splice(0..0, signature.iter().copied());
            if let Ok(table) = decode(&bytes) {
                for row in &table.rows {
                    assert!(row.row >= 1);
                }
            }
        }
    }

    #[test]
    fn rows_are_numbered_as_excel_shows_them() {
        let text = "h1,h2\r\na,\"two\r\nlines\"\r\n\r\nb,c\r\n";
        let table = decode(text.as_bytes()).unwrap();
        let rows: Vec<u64> = table.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 4]);
    }
}
