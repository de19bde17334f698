//! CSV import of client records and service events.
//!
//! A file is read from any reader, recognised by its header, parsed and checked in full, and written in one
//! transaction: it imports whole or not at all. Problems are reported by line and column,
//! never with the value found, since that value may be a name, a phone number or an id.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dates::Date;
use crate::error::NodeError;
use crate::store::Store;
use crate::vocab::{self, Vocabulary};

/// Columns of a clients file.
pub const CLIENT_COLUMNS: [&str; 11] = [
    "client_code",
    "full_name",
    "date_of_birth",
    "sex",
    "phone",
    "national_id",
    "address",
    "primary_substance",
    "referral_source",
    "enrolled_on",
    "modality",
];

/// Columns of a service events file.
pub const EVENT_COLUMNS: [&str; 4] = ["client_code", "date", "service", "outcome"];

/// A refused import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The header is neither the clients nor the services header.
    #[error(
        "{file}: header not recognised; expected a clients file ({}) or a services file ({})",
        CLIENT_COLUMNS.join(","),
        EVENT_COLUMNS.join(",")
    )]
    UnknownHeader {
        /// The file.
        file: PathBuf,
    },
    /// Some rows are bad; nothing was written.
    #[error("{file}: {} bad row(s); nothing was imported:\n{}", problems.len(), ProblemList(problems))]
    BadRows {
        /// The file.
        file: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<RowProblem>,
    },
}

/// One problem in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Line number in the file (1 is the header).
    pub line: u64,
    /// Column number (1-based) and name, when the problem is in one field.
    pub column: Option<(usize, &'static str)>,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a field or row. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is empty.
    Missing,
    /// Not one of the vocabulary's codes or labels.
    UnknownValue {
        /// The accepted codes.
        expected: Vec<&'static str>,
    },
    /// Not a date in `YYYY-MM-DD` or `DD/MM/YYYY`.
    BadDate,
    /// The service takes no outcome, but one is given.
    UnexpectedOutcome,
    /// The client code is not in the database.
    UnknownClient,
    /// The client code already appeared in this file.
    RepeatedClientCode {
        /// Line of the first occurrence.
        first_line: u64,
    },
    /// The row has the wrong number of fields.
    FieldCount {
        /// Fields found.
        found: usize,
        /// Fields expected.
        expected: usize,
    },
    /// The row is not valid UTF-8.
    NotUtf8,
    /// The row could not be read as CSV.
    Unreadable,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some((number, name)) = self.column {
            write!(f, ", column {number} ({name})")?;
        }
        f.write_str(": ")?;
        match &self.problem {
            Problem::Missing => f.write_str("empty, but required"),
            Problem::UnknownValue { expected } => write!(
                f,
                "not a known value (expected one of {}, or its Vietnamese label)",
                expected.join(", ")
            ),
            Problem::BadDate => f.write_str("not a date (expected YYYY-MM-DD or DD/MM/YYYY)"),
            Problem::UnexpectedOutcome => f.write_str("this service takes no outcome"),
            Problem::UnknownClient => f.write_str("no client with this code has been imported"),
            Problem::RepeatedClientCode { first_line } => {
                write!(f, "client code repeated (first on line {first_line})")
            }
            Problem::FieldCount { found, expected } => {
                write!(f, "{found} fields, expected {expected}")
            }
            Problem::NotUtf8 => f.write_str("not valid UTF-8 text"),
            Problem::Unreadable => f.write_str("not readable as CSV"),
        }
    }
}

struct ProblemList<'a>(&'a [RowProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSummary {
    /// A clients file.
    Clients {
        /// Rows in the file.
        rows: usize,
        /// Clients new to the database.
        inserted: u64,
        /// Existing clients whose record changed.
        updated: u64,
        /// Rows identical to what was stored.
        unchanged: u64,
    },
    /// A services file.
    Events {
        /// Rows in the file.
        rows: usize,
        /// Events new to the database.
        inserted: u64,
        /// Events already stored.
        already_present: u64,
    },
}

/// A checked client record.
///
/// Its `Debug` leaves out the identifiable fields, so that no log line or error message can
/// carry them by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// Site-local code.
    pub client_code: String,
    /// Identifiable.
    pub full_name: String,
    /// Identifiable; `None` when unknown.
    pub date_of_birth: Option<Date>,
    /// Vocabulary code.
    pub sex: &'static str,
    /// Identifiable.
    pub phone: String,
    /// Identifiable.
    pub national_id: String,
    /// Identifiable.
    pub address: String,
    /// Vocabulary code; `None` when unknown.
    pub primary_substance: Option<&'static str>,
    /// Vocabulary code.
    pub referral_source: &'static str,
    /// Enrolment date.
    pub enrolled_on: Date,
    /// Vocabulary code.
    pub modality: &'static str,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REDACTED: &str = "<identifiable>";
        f.debug_struct("ClientRecord")
            .field("client_code", &self.client_code)
            .field("full_name", &REDACTED)
            .field("date_of_birth", &REDACTED)
            .field("sex", &self.sex)
            .field("phone", &REDACTED)
            .field("national_id", &REDACTED)
            .field("address", &REDACTED)
            .field("primary_substance", &self.primary_substance)
            .field("referral_source", &self.referral_source)
            .field("enrolled_on", &self.enrolled_on)
            .field("modality", &self.modality)
            .finish()
    }
}

/// A checked service event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The client.
    pub client_code: String,
    /// When.
    pub date: Date,
    /// Vocabulary code.
    pub service: &'static str,
    /// Vocabulary code, or empty.
    pub outcome: &'static str,
    /// Which identical event of that client on that day this is (0 for the first).
    pub ordinal: u32,
}

/// Which records an import is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Client records.
    Clients,
    /// Service events.
    Events,
}

/// How far an import's write has got, reported after each batch of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being written.
    pub records: RecordKind,
    /// Rows written so far.
    pub done: u64,
    /// Rows to write.
    pub total: u64,
}

/// Imports one CSV file, read from `reader`, whole or not at all. `name` names the file in
/// errors; `progress` is called as rows are written.
pub async fn import(
    store: &Store,
    mut reader: impl std::io::Read,
    name: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportSummary, NodeError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Io {
            file: name.to_owned(),
            source,
        })?;
    let file = name;
    let bad_rows = |problems| ImportError::BadRows {
        file: file.to_owned(),
        problems,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(strip_bom(&bytes));
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        _ => {
            return Err(ImportError::UnknownHeader {
                file: file.to_owned(),
            }
            .into());
        }
    };
    let names: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
        .collect();
    let rows = read_rows(records);
    if let Some(order) = column_order(&names, &CLIENT_COLUMNS) {
        let (clients, problems) = parse_clients(&rows, &order);
        if !problems.is_empty() {
            return Err(bad_rows(problems).into());
        }
        tracing::info!(rows = clients.len(), "importing clients");
        let total = clients.len() as u64;
        let mut tx = store.begin_records("import_clients").await?;
        let writes = tx
            .upsert_clients(&clients, &mut |done| {
                progress(Progress {
                    records: RecordKind::Clients,
                    done,
                    total,
                })
            })
            .await?;
        tx.commit().await?;
        let summary = ImportSummary::Clients {
            rows: clients.len(),
            inserted: writes.inserted,
            updated: writes.updated,
            unchanged: writes.unchanged,
        };
        tracing::info!(
            rows = clients.len(),
            inserted = writes.inserted,
            updated = writes.updated,
            unchanged = writes.unchanged,
            "clients imported"
        );
        Ok(summary)
    } else if let Some(order) = column_order(&names, &EVENT_COLUMNS) {
        let (events, mut problems) = parse_events(&rows, &order);
        // Events of unknown clients are found inside the write transaction, so that the check
        // and the insert see the same clients.
        let mut tx = store.begin_records("import_events").await?;
        let known = tx.client_codes().await?;
        // Every row naming a client is checked, including rows with other problems.
        for (line, fields) in &rows {
            let Ok(fields) = fields else { continue };
            let Some(code) = fields.get(order[0]) else {
                continue;
            };
            if fields.len() == EVENT_COLUMNS.len() && !code.is_empty() && !known.contains(code) {
                problems.push(RowProblem {
                    line: *line,
                    column: Some((order[0] + 1, "client_code")),
                    problem: Problem::UnknownClient,
                });
            }
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line, p.column.map(|c| c.0)));
            tx.rollback().await?;
            return Err(bad_rows(problems).into());
        }
        tracing::info!(rows = events.len(), "importing service events");
        let records: Vec<EventRecord> = events.into_iter().map(|(_, e)| e).collect();
        let total = records.len() as u64;
        let inserted = tx
            .insert_events(&records, &mut |done| {
                progress(Progress {
                    records: RecordKind::Events,
                    done,
                    total,
                })
            })
            .await?;
        tx.commit().await?;
        let already_present = records.len() as u64 - inserted;
        tracing::info!(
            rows = records.len(),
            inserted,
            already_present,
            "service events imported"
        );
        Ok(ImportSummary::Events {
            rows: records.len(),
            inserted,
            already_present,
        })
    } else {
        Err(ImportError::UnknownHeader {
            file: file.to_owned(),
        }
        .into())
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// A data row: its line, and its fields or what stopped it being read.
type Row = (u64, Result<Vec<String>, Problem>);

fn read_rows(records: csv::ByteRecordsIter<'_, &[u8]>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut last_line = 1;
    for record in records {
        match record {
            Ok(record) => {
                let line = record.position().map_or(last_line + 1, |p| p.line());
                last_line = line;
                // Skip wholly blank lines (a trailing empty line in a spreadsheet export).
                if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let fields: Result<Vec<String>, Problem> = record
                    .iter()
                    .map(|f| {
                        std::str::from_utf8(f)
                            .map(|s| s.trim().to_owned())
                            .map_err(|_| Problem::NotUtf8)
                    })
                    .collect();
                rows.push((line, fields));
            }
            Err(error) => {
                let line = error.position().map_or(last_line + 1, |p| p.line());
                last_line = line;
                rows.push((line, Err(Problem::Unreadable)));
            }
        }
    }
    rows
}

/// For each expected column, its index in the file, if the header has exactly those columns.
fn column_order(names: &[String], expected: &[&str]) -> Option<Vec<usize>> {
    if names.len() != expected.len() {
        return None;
    }
    expected
        .iter()
        .map(|want| names.iter().position(|n| n == want))
        .collect()
}

struct Fields<'a> {
    line: u64,
    fields: &'a [String],
    order: &'a [usize],
    names: &'static [&'static str],
    problems: &'a mut Vec<RowProblem>,
}

impl Fields<'_> {
    fn raw(&self, column: usize) -> &str {
        &self.fields[self.order[column]]
    }

    fn report(&mut self, column: usize, problem: Problem) {
        self.problems.push(RowProblem {
            line: self.line,
            column: Some((self.order[column] + 1, self.names[column])),
            problem,
        });
    }

    fn required(&mut self, column: usize) -> Option<String> {
        let value = self.raw(column);
        if value.is_empty() {
            self.report(column, Problem::Missing);
            None
        } else {
            Some(value.to_owned())
        }
    }

    fn date(&mut self, column: usize, optional: bool) -> Option<Option<Date>> {
        let value = self.raw(column);
        if value.is_empty() {
            if optional {
                return Some(None);
            }
            self.report(column, Problem::Missing);
            return None;
        }
        match vocab::parse_date(value) {
            Some(d) => Some(Some(d)),
            None => {
                self.report(column, Problem::BadDate);
                None
            }
        }
    }

    fn vocabulary(&mut self, column: usize, vocabulary: &Vocabulary) -> Option<&'static str> {
        let value = self.raw(column);
        if value.is_empty() {
            self.report(column, Problem::Missing);
            return None;
        }
        let code = vocabulary.code(value);
        if code.is_none() {
            self.report(
                column,
                Problem::UnknownValue {
                    expected: vocabulary.codes(),
                },
            );
        }
        code
    }
}

fn check_field_count(
    line: u64,
    fields: &Result<Vec<String>, Problem>,
    expected: usize,
    problems: &mut Vec<RowProblem>,
) -> bool {
    match fields {
        Ok(f) if f.len() == expected => true,
        Ok(f) => {
            problems.push(RowProblem {
                line,
                column: None,
                problem: Problem::FieldCount {
                    found: f.len(),
                    expected,
                },
            });
            false
        }
        Err(problem) => {
            problems.push(RowProblem {
                line,
                column: None,
                problem: problem.clone(),
            });
            false
        }
    }
}

fn parse_clients(rows: &[Row], order: &[usize]) -> (Vec<ClientRecord>, Vec<RowProblem>) {
    let mut problems = Vec::new();
    let mut clients = Vec::with_capacity(rows.len());
    let mut seen: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    for (line, fields) in rows {
        if !check_field_count(*line, fields, CLIENT_COLUMNS.len(), &mut problems) {
            continue;
        }
        let Ok(fields) = fields else { continue };
        let before = problems.len();
        let mut f = Fields {
            line: *line,
            fields,
            order,
            names: &CLIENT_COLUMNS,
            problems: &mut problems,
        };
        let client_code = f.required(0);
        let full_name = f.required(1);
        let date_of_birth = f.date(2, true);
        let sex = f.vocabulary(3, &vocab::SEX);
        let phone = f.raw(4).to_owned();
        let national_id = f.raw(5).to_owned();
        let address = f.raw(6).to_owned();
        let substance_raw = f.raw(7);
        let primary_substance = if vocab::UNKNOWN_LABELS
            .iter()
            .any(|u| vocab::fold(u) == vocab::fold(substance_raw))
        {
            Some(None)
        } else {
            match vocab::SUBSTANCE.code(substance_raw) {
                Some(code) => Some(Some(code)),
                None => {
                    let mut expected = vocab::SUBSTANCE.codes();
                    expected.push("(empty for unknown)");
                    f.report(7, Problem::UnknownValue { expected });
                    None
                }
            }
        };
        let referral_source = f.vocabulary(8, &vocab::REFERRAL_SOURCE);
        let enrolled_on = f.date(9, false);
        let modality = f.vocabulary(10, &vocab::MODALITY);
        if let Some(code) = &client_code {
            if let Some(first_line) = seen.get(code) {
                f.report(
                    0,
                    Problem::RepeatedClientCode {
                        first_line: *first_line,
                    },
                );
            } else {
                seen.insert(code.clone(), *line);
            }
        }
        if problems.len() != before {
            continue;
        }
        if let (
            Some(client_code),
            Some(full_name),
            Some(date_of_birth),
            Some(sex),
            Some(primary_substance),
            Some(referral_source),
            Some(Some(enrolled_on)),
            Some(modality),
        ) = (
            client_code,
            full_name,
            date_of_birth,
            sex,
            primary_substance,
            referral_source,
            enrolled_on,
            modality,
        ) {
            clients.push(ClientRecord {
                client_code,
                full_name,
                date_of_birth,
                sex,
                phone,
                national_id,
                address,
                primary_substance,
                referral_source,
                enrolled_on,
                modality,
            });
        }
    }
    (clients, problems)
}

fn parse_events(rows: &[Row], order: &[usize]) -> (Vec<(u64, EventRecord)>, Vec<RowProblem>) {
    let mut problems = Vec::new();
    let mut events = Vec::with_capacity(rows.len());
    let mut ordinals: HashMap<(String, Date, &'static str, &'static str), u32> = HashMap::new();
    for (line, fields) in rows {
        if !check_field_count(*line, fields, EVENT_COLUMNS.len(), &mut problems) {
            continue;
        }
        let Ok(fields) = fields else { continue };
        let before = problems.len();
        let mut f = Fields {
            line: *line,
            fields,
            order,
            names: &EVENT_COLUMNS,
            problems: &mut problems,
        };
        let client_code = f.required(0);
        let date = f.date(1, false);
        let service = f.vocabulary(2, &vocab::SERVICE);
        let outcome_raw = f.raw(3).to_owned();
        let outcome = match service.map(vocab::outcome_vocabulary) {
            None => None,
            Some(None) if outcome_raw.is_empty() => Some(""),
            Some(None) => {
                f.report(3, Problem::UnexpectedOutcome);
                None
            }
            Some(Some(vocabulary)) => f.vocabulary(3, vocabulary),
        };
        if problems.len() != before {
            continue;
        }
        if let (Some(client_code), Some(Some(date)), Some(service), Some(outcome)) =
            (client_code, date, service, outcome)
        {
            let counter = ordinals
                .entry((client_code.clone(), date, service, outcome))
                .or_insert(0);
            let ordinal = *counter;
            *counter += 1;
            events.push((
                *line,
                EventRecord {
                    client_code,
                    date,
                    service,
                    outcome,
                    ordinal,
                },
            ));
        }
    }
    (events, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_client_record_shows_no_identifiable_value() {
        let record = ClientRecord {
            client_code: "BD-0001".into(),
            full_name: "Nguyễn Văn Marker".into(),
            date_of_birth: Date::new(1931, 2, 3),
            sex: "male",
            phone: "0999123456".into(),
            national_id: "079309156112".into(),
            address: "Phố Marker, Hà Nội".into(),
            primary_substance: Some("opioids"),
            referral_source: "police",
            enrolled_on: Date::new(2026, 10, 1).unwrap(),
            modality: "voluntary",
        };
        let shown = format!("{record:?} {record:#?}");
        for secret in ["Marker", "0999123456", "079309156112", "1931"] {
            assert!(!shown.contains(secret), "{secret} appears in {shown}");
        }
        assert!(
            shown.contains("BD-0001") && shown.contains("opioids"),
            "{shown}"
        );
    }
}
