//! Import of client records and service events from what site officers keep: CSV in any of
//! the encodings and separators Excel writes, or an `.xlsx`/`.xls` workbook.
//!
//! A file is decoded ([`decode`]), its columns recognised by their English or Vietnamese
//! headers ([`headers`]), its dates read in the file's own order ([`dates`]), every row
//! checked against the vocabularies and for impossible dates, and written in one
//! transaction: it imports whole or not at all. Problems come back typed and grouped by
//! column and problem with their rows ([`findings`]); implausible but possible values are
//! imported and come back as warnings. Rendering them for people is the caller's job.
//! Findings never carry a value read from the file, since it may be a name, a phone number
//! or an id.

pub mod dates;
pub mod decode;
pub mod findings;
pub mod headers;
pub mod template;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use dates::DateOrder;
pub use decode::{DecodeError, SourceFormat, TextEncoding};
pub use findings::{Problem, ProblemGroup, RowProblem, Warning, WarningGroup};
pub use headers::{CLIENT_COLUMNS, EVENT_COLUMNS};

use crate::dates::Date;
use crate::error::NodeError;
use crate::sealed::Sealer;
use crate::store::Store;
use crate::vocab::{self, Vocabulary};
use decode::{SourceRow, Table, Value};
use findings::{Findings, ProblemList};
use headers::{HeaderProblem, Layout};

/// Services this many days or more before a client's enrolment are refused (a mistyped
/// year, most likely); fewer are imported with a warning.
pub const SERVICE_BEFORE_ENROLMENT_LIMIT_DAYS: i64 = 365;
/// Below this age at enrolment a client is listed as implausible.
pub const YOUNGEST_PLAUSIBLE_AGE: i64 = 10;
/// Above this age at enrolment a client is listed as implausible.
pub const OLDEST_PLAUSIBLE_AGE: i64 = 90;

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
    /// The file could not be decoded at all.
    #[error("{file}: {reason}")]
    Undecodable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: DecodeError,
    },
    /// The header is neither the clients nor the services header.
    #[error(
        "{file}: header not recognised; expected a clients file ({}) or a services file ({}), with English or Vietnamese headers",
        CLIENT_COLUMNS.join(","),
        EVENT_COLUMNS.join(",")
    )]
    UnknownHeader {
        /// The file.
        file: PathBuf,
    },
    /// A clients or services header without some required columns.
    #[error("{file}: a {} file needs the column(s) {}", kind_name(*kind), missing.join(", "))]
    MissingColumns {
        /// The file.
        file: PathBuf,
        /// What the file holds.
        kind: RecordKind,
        /// The required columns not found.
        missing: Vec<&'static str>,
    },
    /// Two columns of the header name the same thing.
    #[error("{file}: two columns are {column}")]
    RepeatedColumn {
        /// The file.
        file: PathBuf,
        /// The column.
        column: &'static str,
    },
    /// The slash dates of the file read differently day-first and month-first, and the
    /// file does not show which it uses (or shows both): the caller must say.
    #[error(
        "{file}: dates with slashes on {} row(s) ({}) read differently day-first (DD/MM/YYYY) and month-first (MM/DD/YYYY); {}",
        rows.len(),
        RowList(rows),
        if *conflicting { "the file has both kinds" } else { "say which order the file uses" }
    )]
    AmbiguousDateOrder {
        /// The file.
        file: PathBuf,
        /// The rows that leave the order open (or contradict each other).
        rows: Vec<u64>,
        /// Whether some dates can only be day-first and others only month-first.
        conflicting: bool,
    },
    /// Some rows are bad; nothing was written.
    #[error("{file}: {} bad row(s); nothing was imported:\n{}", problems.len(), ProblemList(problems))]
    BadRows {
        /// The file.
        file: PathBuf,
        /// Every problem found, in row and column order.
        problems: Vec<RowProblem>,
        /// The same problems grouped by column and problem.
        groups: Vec<ProblemGroup>,
    },
}

fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Clients => "clients",
        RecordKind::Events => "services",
    }
}

/// Row numbers, the first ten then how many more.
struct RowList<'a>(&'a [u64]);

impl fmt::Display for RowList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        for (i, row) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{row}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, ", … ({} more)", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// How to read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// The order of day and month in slash dates, when the file leaves it open.
    pub date_order: Option<DateOrder>,
    /// Today (from the node's clock): later dates are refused.
    pub today: Date,
}

impl ImportOptions {
    /// Options for an import at `now` that lets the file decide its date order.
    pub fn at(now: quietcount_protocol::UnixTime) -> Self {
        Self {
            date_order: None,
            today: Date::from_days((now / 86_400) as i64),
        }
    }
}

/// What a successful import did and what it noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The rows written.
    pub summary: ImportSummary,
    /// How the file was read (encoding and separator, or sheet).
    pub format: SourceFormat,
    /// Headers of the columns ignored.
    pub ignored_columns: Vec<String>,
    /// Implausible values imported anyway, grouped.
    pub warnings: Vec<WarningGroup>,
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
        /// Existing clients with a clear field changed (identity fields are sealed afresh
        /// from every row: they cannot be compared without the records key).
        updated: u64,
        /// Rows whose clear fields are identical to what was stored.
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

/// Imports one file, given as its bytes, whole or not at all. `name` names the file in
/// errors; `progress` is called as rows are written.
pub async fn import(
    store: &Store,
    sealer: Option<&Sealer>,
    bytes: &[u8],
    name: &Path,
    options: &ImportOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Imported, NodeError> {
    let file = name.to_owned();
    let table = decode::decode(bytes).map_err(|reason| ImportError::Undecodable {
        file: file.clone(),
        reason,
    })?;
    let layout = headers::layout(&table.header).map_err(|problem| match problem {
        HeaderProblem::Unrecognised => ImportError::UnknownHeader { file: file.clone() },
        HeaderProblem::Missing { kind, missing } => ImportError::MissingColumns {
            file: file.clone(),
            kind,
            missing,
        },
        HeaderProblem::Repeated { column } => ImportError::RepeatedColumn {
            file: file.clone(),
            column,
        },
    })?;
    // What was read, without the sheet's name or the ignored headers (text from the file).
    match &table.format {
        SourceFormat::Text {
            encoding,
            separator,
        } => tracing::info!(
            ?encoding,
            ?separator,
            rows = table.rows.len(),
            ignored_columns = layout.ignored.len(),
            "text file read"
        ),
        SourceFormat::Workbook { .. } => tracing::info!(
            rows = table.rows.len(),
            ignored_columns = layout.ignored.len(),
            "workbook read"
        ),
    }
    let order = date_order(&table, &layout, options).map_err(|(rows, conflicting)| {
        ImportError::AmbiguousDateOrder {
            file: file.clone(),
            rows,
            conflicting,
        }
    })?;
    let bad_rows = |findings: Findings| {
        let (problems, groups) = findings.into_problems();
        ImportError::BadRows {
            file: file.clone(),
            problems,
            groups,
        }
    };
    let checker = RowChecker {
        table: &table,
        layout: &layout,
        order,
        today: options.today,
    };
    let mut findings = Findings::default();
    let summary = match layout.kind {
        RecordKind::Clients => {
            let clients = checker.clients(&mut findings);
            if findings.has_problems() {
                return Err(bad_rows(findings).into());
            }
            tracing::info!(rows = clients.len(), "importing clients");
            let total = clients.len() as u64;
            let sealer = sealer.ok_or(NodeError::NotSealed)?;
            let mut tx = store.begin_records("import_clients").await?;
            let writes = tx
                .upsert_clients(&clients, &layout.absent_columns(), sealer, &mut |done| {
                    progress(Progress {
                        records: RecordKind::Clients,
                        done,
                        total,
                    })
                })
                .await?;
            tx.commit().await?;
            tracing::info!(
                rows = clients.len(),
                inserted = writes.inserted,
                updated = writes.updated,
                unchanged = writes.unchanged,
                "clients imported"
            );
            ImportSummary::Clients {
                rows: clients.len(),
                inserted: writes.inserted,
                updated: writes.updated,
                unchanged: writes.unchanged,
            }
        }
        RecordKind::Events => {
            // Events are checked against the stored clients inside the write transaction, so
            // that the check and the insert see the same clients.
            let mut tx = store.begin_records("import_events").await?;
            let enrolments = tx.client_enrolments().await?;
            let events = checker.events(&enrolments, &mut findings);
            if findings.has_problems() {
                tx.rollback().await?;
                return Err(bad_rows(findings).into());
            }
            tracing::info!(rows = events.len(), "importing service events");
            let total = events.len() as u64;
            let inserted = tx
                .insert_events(&events, &mut |done| {
                    progress(Progress {
                        records: RecordKind::Events,
                        done,
                        total,
                    })
                })
                .await?;
            tx.commit().await?;
            let already_present = events.len() as u64 - inserted;
            tracing::info!(
                rows = events.len(),
                inserted,
                already_present,
                "service events imported"
            );
            ImportSummary::Events {
                rows: events.len(),
                inserted,
                already_present,
            }
        }
    };
    Ok(Imported {
        summary,
        format: table.format.clone(),
        ignored_columns: layout.ignored.clone(),
        warnings: findings.warning_groups(),
    })
}

/// The order of the file's slash dates: the caller's, else the one the file shows; or the
/// rows that leave it open and whether they contradict each other.
fn date_order(
    table: &Table,
    layout: &Layout,
    options: &ImportOptions,
) -> Result<DateOrder, (Vec<u64>, bool)> {
    if let Some(order) = options.date_order {
        return Ok(order);
    }
    let columns: &[&str] = match layout.kind {
        RecordKind::Clients => &["date_of_birth", "enrolled_on"],
        RecordKind::Events => &["date"],
    };
    let names = layout_columns(layout.kind);
    let positions: Vec<usize> = columns
        .iter()
        .filter_map(|c| names.iter().position(|n| n == c))
        .filter_map(|i| layout.positions[i])
        .collect();
    let mut evidence = dates::OrderEvidence::default();
    for row in &table.rows {
        let Some(cells) = &row.cells else { continue };
        for &at in &positions {
            if let Some(Value::Text(text)) = cells.get(at) {
                evidence.observe(row.row, text);
            }
        }
    }
    evidence.order().map_err(|rows| {
        let conflicting = !evidence.day_first.is_empty() && !evidence.month_first.is_empty();
        (rows, conflicting)
    })
}

fn layout_columns(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Clients => &CLIENT_COLUMNS,
        RecordKind::Events => &EVENT_COLUMNS,
    }
}

/// Checks the rows of a decoded file.
struct RowChecker<'a> {
    table: &'a Table,
    layout: &'a Layout,
    order: DateOrder,
    today: Date,
}

impl RowChecker<'_> {
    /// The rows whose field count matches the header, after noting the others.
    fn readable_rows<'r>(&'r self, findings: &mut Findings) -> Vec<(&'r SourceRow, &'r [Value])> {
        let expected = self.table.header.len();
        let mut rows = Vec::with_capacity(self.table.rows.len());
        for row in &self.table.rows {
            match &row.cells {
                None => findings.problem(row.row, None, Problem::Unreadable),
                // Empty cells past the header's last column (a cleared column) are no field.
                Some(cells)
                    if cells.len() > expected && cells[expected..].iter().all(Value::is_empty) =>
                {
                    rows.push((row, &cells[..expected]));
                }
                Some(cells) if cells.len() != expected => findings.problem(
                    row.row,
                    None,
                    Problem::FieldCount {
                        found: cells.len(),
                        expected,
                    },
                ),
                Some(cells) => rows.push((row, cells.as_slice())),
            }
        }
        rows
    }

    fn fields<'r>(
        &'r self,
        row: u64,
        cells: &'r [Value],
        findings: &'r mut Findings,
    ) -> Fields<'r> {
        Fields {
            row,
            cells,
            positions: &self.layout.positions,
            names: layout_columns(self.layout.kind),
            order: self.order,
            today: self.today,
            findings,
        }
    }

    fn clients(&self, findings: &mut Findings) -> Vec<ClientRecord> {
        let rows = self.readable_rows(findings);
        let mut clients = Vec::with_capacity(rows.len());
        let mut seen: HashMap<String, u64> = HashMap::with_capacity(rows.len());
        for (row, cells) in rows {
            let line = row.row;
            let before = findings.problems.len();
            let mut f = self.fields(line, cells, findings);
            let client_code = f.required(0);
            let full_name = f.required_if_present(1);
            let date_of_birth = f.date(2, true);
            let sex = f.vocabulary(3, &vocab::SEX);
            let phone = f.text(4).to_owned();
            let national_id = f.text(5).to_owned();
            let address = f.text(6).to_owned();
            let primary_substance = f.substance(7);
            let referral_source = f.vocabulary(8, &vocab::REFERRAL_SOURCE);
            let enrolled_on = f.date(9, false);
            let modality = f.vocabulary(10, &vocab::MODALITY);
            if let (Some(Some(born)), Some(Some(enrolled))) = (date_of_birth, enrolled_on) {
                if enrolled < born {
                    f.report(9, Problem::EnrolledBeforeBirth);
                } else {
                    let age = born.age_on(enrolled);
                    if age < YOUNGEST_PLAUSIBLE_AGE {
                        f.warn(2, Warning::AgeUnder10);
                    } else if age > OLDEST_PLAUSIBLE_AGE {
                        f.warn(2, Warning::AgeOver90);
                    }
                }
            }
            if let Some(code) = &client_code {
                if let Some(first_line) = seen.get(code) {
                    f.report(
                        0,
                        Problem::RepeatedClientCode {
                            first_line: *first_line,
                        },
                    );
                } else {
                    seen.insert(code.clone(), line);
                }
            }
            if findings.problems.len() != before {
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
        clients
    }

    fn events(
        &self,
        enrolments: &HashMap<String, Date>,
        findings: &mut Findings,
    ) -> Vec<EventRecord> {
        let rows = self.readable_rows(findings);
        let mut events = Vec::with_capacity(rows.len());
        let mut ordinals: HashMap<(String, Date, &'static str, &'static str), u32> = HashMap::new();
        for (row, cells) in rows {
            let before = findings.problems.len();
            let mut f = self.fields(row.row, cells, findings);
            let client_code = f.required(0);
            let date = f.date(1, false);
            let service = f.vocabulary(2, &vocab::SERVICE);
            let outcome_given = !f.text(3).is_empty();
            let outcome = match service.map(vocab::outcome_vocabulary) {
                None => None,
                Some(None) if !outcome_given => Some(""),
                Some(None) => {
                    f.report(3, Problem::UnexpectedOutcome);
                    None
                }
                Some(Some(vocabulary)) => f.vocabulary(3, vocabulary),
            };
            // Every row naming a client is checked, including rows with other problems.
            let enrolled = client_code.as_ref().map(|code| enrolments.get(code));
            match (enrolled, date) {
                (Some(None), _) => f.report(0, Problem::UnknownClient),
                (Some(Some(enrolled)), Some(Some(date))) if date < *enrolled => {
                    if enrolled.days() - date.days() >= SERVICE_BEFORE_ENROLMENT_LIMIT_DAYS {
                        f.report(1, Problem::ServiceLongBeforeEnrolment);
                    } else {
                        f.warn(1, Warning::ServiceBeforeEnrolment);
                    }
                }
                _ => {}
            }
            if findings.problems.len() != before {
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
                events.push(EventRecord {
                    client_code,
                    date,
                    service,
                    outcome,
                    ordinal,
                });
            }
        }
        events
    }
}

/// The fields of one row, by column of [`CLIENT_COLUMNS`] or [`EVENT_COLUMNS`].
struct Fields<'a> {
    row: u64,
    cells: &'a [Value],
    positions: &'a [Option<usize>],
    names: &'static [&'static str],
    order: DateOrder,
    today: Date,
    findings: &'a mut Findings,
}

impl Fields<'_> {
    fn value(&self, column: usize) -> Option<&Value> {
        self.positions[column].and_then(|at| self.cells.get(at))
    }

    fn text(&self, column: usize) -> &str {
        self.value(column).map_or("", Value::text)
    }

    fn location(&self, column: usize) -> Option<(usize, &'static str)> {
        Some((self.positions[column]? + 1, self.names[column]))
    }

    fn report(&mut self, column: usize, problem: Problem) {
        let location = self.location(column);
        self.findings.problem(self.row, location, problem);
    }

    fn warn(&mut self, column: usize, warning: Warning) {
        if let Some(location) = self.location(column) {
            self.findings.warning(self.row, location, warning);
        }
    }

    fn required(&mut self, column: usize) -> Option<String> {
        let value = self.text(column).to_owned();
        if value.is_empty() {
            self.report(column, Problem::Missing);
            None
        } else {
            Some(value)
        }
    }

    /// A field whose column may be left out (empty then), but not left empty when present.
    fn required_if_present(&mut self, column: usize) -> Option<String> {
        if self.positions[column].is_some() {
            self.required(column)
        } else {
            Some(String::new())
        }
    }

    /// A date; `optional` ones may be empty or their column absent.
    fn date(&mut self, column: usize, optional: bool) -> Option<Option<Date>> {
        let date = match self.value(column) {
            None => None,
            Some(Value::Date(date)) => Some(*date),
            Some(Value::Invalid) => {
                self.report(column, Problem::BadDate);
                return None;
            }
            Some(Value::Text(text)) if text.is_empty() => None,
            Some(Value::Text(text)) => match dates::parse(text, self.order) {
                Some(date) => Some(date),
                None => {
                    self.report(column, Problem::BadDate);
                    return None;
                }
            },
        };
        match date {
            None if optional => Some(None),
            None => {
                self.report(column, Problem::Missing);
                None
            }
            Some(date) if date > self.today => {
                self.report(column, Problem::InFuture);
                None
            }
            Some(date) => Some(Some(date)),
        }
    }

    fn vocabulary(
        &mut self,
        column: usize,
        vocabulary: &'static Vocabulary,
    ) -> Option<&'static str> {
        let value = self.text(column).to_owned();
        if value.is_empty() {
            self.report(column, Problem::Missing);
            return None;
        }
        let code = vocabulary.code(&value);
        if code.is_none() {
            self.unknown(column, vocabulary, &value);
        }
        code
    }

    fn unknown(&mut self, column: usize, vocabulary: &'static Vocabulary, value: &str) {
        let suggestion = vocabulary.suggest(value).map(|e| e.code.as_str());
        if let Some(at) = self.positions[column] {
            self.findings.unknown_label(at + 1, vocab::fold(value));
        }
        self.report(
            column,
            Problem::UnknownValue {
                expected: vocabulary.codes(),
                suggestion,
            },
        );
    }

    /// `primary_substance`: a code, or `None` for the labels meaning unknown.
    fn substance(&mut self, column: usize) -> Option<Option<&'static str>> {
        let value = self.text(column).to_owned();
        if vocab::means_unknown(&value) {
            return Some(None);
        }
        match vocab::SUBSTANCE.code(&value) {
            Some(code) => Some(Some(code)),
            None => {
                self.unknown(column, &vocab::SUBSTANCE, &value);
                None
            }
        }
    }
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
