//! What an import found wrong (errors: nothing is written) or odd (warnings: written, then
//! listed), one by one and grouped by column and problem with their rows, so that two
//! unknown labels on 28 rows make one line, not 28. Findings name rows, columns and
//! vocabulary labels suggested from the data file; never a value read from the file, which
//! may be a name, a phone number or an id.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::mem::Discriminant;

/// One problem in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The row number Excel shows (1 is the header, unless rows above it are blank).
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
        /// The code whose label is closest to what was written, if one is close.
        suggestion: Option<&'static str>,
    },
    /// Not a date in any of the accepted forms.
    BadDate,
    /// The service takes no outcome, but one is given.
    UnexpectedOutcome,
    /// The client code is not in the database.
    UnknownClient,
    /// The client code already appeared in this file.
    RepeatedClientCode {
        /// Row of the first occurrence.
        first_line: u64,
    },
    /// The row has the wrong number of fields.
    FieldCount {
        /// Fields found.
        found: usize,
        /// Fields expected.
        expected: usize,
    },
    /// The row is not valid UTF-8 (no longer produced: undecodable text is read as
    /// Windows-1258; kept for callers that match on it).
    NotUtf8,
    /// The row could not be read as CSV.
    Unreadable,
    /// A date after today.
    InFuture,
    /// Enrolment before the date of birth.
    EnrolledBeforeBirth,
    /// A service more than a year before the client's enrolment (a mistyped year, most
    /// likely; services in the weeks before enrolment are only a warning).
    ServiceLongBeforeEnrolment,
}

/// Something implausible but possible: imported, then listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Warning {
    /// Under 10 years old at enrolment.
    AgeUnder10,
    /// Over 90 years old at enrolment.
    AgeOver90,
    /// A service in the year before the client's enrolment.
    ServiceBeforeEnrolment,
}

/// Rows with the same problem in the same column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemGroup {
    /// Column number (1-based) and name, when the problem is in one field.
    pub column: Option<(usize, &'static str)>,
    /// The problem (as found on the first of the rows).
    pub problem: Problem,
    /// The rows, in order.
    pub rows: Vec<u64>,
    /// For unknown labels: how many different ones (the labels themselves are not kept).
    pub distinct_labels: usize,
    /// For unknown labels: the codes suggested, in order of first appearance.
    pub suggestions: Vec<&'static str>,
}

/// Rows with the same warning in the same column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningGroup {
    /// Column number (1-based) and name.
    pub column: (usize, &'static str),
    /// The warning.
    pub warning: Warning,
    /// The rows, in order.
    pub rows: Vec<u64>,
}

/// Collects findings while rows are checked.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) problems: Vec<RowProblem>,
    warnings: BTreeMap<((usize, &'static str), Warning), Vec<u64>>,
    /// Folded unknown labels per column number, to count them; dropped after grouping.
    unknown_labels: BTreeMap<usize, HashSet<String>>,
}

impl Findings {
    pub(crate) fn problem(
        &mut self,
        line: u64,
        column: Option<(usize, &'static str)>,
        problem: Problem,
    ) {
        self.problems.push(RowProblem {
            line,
            column,
            problem,
        });
    }

    pub(crate) fn unknown_label(&mut self, column: usize, folded: String) {
        self.unknown_labels
            .entry(column)
            .or_default()
            .insert(folded);
    }

    pub(crate) fn warning(&mut self, line: u64, column: (usize, &'static str), warning: Warning) {
        self.warnings
            .entry((column, warning))
            .or_default()
            .push(line);
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The problems in row then column order, and grouped by column and problem.
    pub(crate) fn into_problems(mut self) -> (Vec<RowProblem>, Vec<ProblemGroup>) {
        self.problems
            .sort_by_key(|p| (p.line, p.column.map(|c| c.0)));
        let mut groups: BTreeMap<(Option<usize>, u8), (Discriminant<Problem>, ProblemGroup)> =
            BTreeMap::new();
        let mut order: Vec<Discriminant<Problem>> = Vec::new();
        for p in &self.problems {
            let kind = std::mem::discriminant(&p.problem);
            let index = order.iter().position(|k| *k == kind).unwrap_or_else(|| {
                order.push(kind);
                order.len() - 1
            });
            let key = (p.column.map(|c| c.0), index as u8);
            let (_, group) = groups.entry(key).or_insert_with(|| {
                (
                    kind,
                    ProblemGroup {
                        column: p.column,
                        problem: p.problem.clone(),
                        rows: Vec::new(),
                        distinct_labels: 0,
                        suggestions: Vec::new(),
                    },
                )
            });
            if group.rows.last() != Some(&p.line) {
                group.rows.push(p.line);
            }
            if let Problem::UnknownValue {
                suggestion: Some(code),
                ..
            } = p.problem
            {
                if !group.suggestions.contains(&code) {
                    group.suggestions.push(code);
                }
            }
        }
        let mut groups: Vec<ProblemGroup> = groups
            .into_values()
            .map(|(_, mut group)| {
                if matches!(group.problem, Problem::UnknownValue { .. }) {
                    group.distinct_labels = group
                        .column
                        .and_then(|(n, _)| self.unknown_labels.get(&n))
                        .map_or(1, HashSet::len);
                }
                group
            })
            .collect();
        groups.sort_by_key(|g| (g.rows.first().copied(), g.column.map(|c| c.0)));
        (self.problems, groups)
    }

    /// The warnings, grouped, in column order.
    pub(crate) fn warning_groups(&self) -> Vec<WarningGroup> {
        let mut groups: Vec<WarningGroup> = self
            .warnings
            .iter()
            .map(|((column, warning), rows)| {
                let rows: BTreeSet<u64> = rows.iter().copied().collect();
                WarningGroup {
                    column: *column,
                    warning: *warning,
                    rows: rows.into_iter().collect(),
                }
            })
            .collect();
        groups.sort_by_key(|g| (g.column.0, g.warning));
        groups
    }
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
            Problem::UnknownValue { suggestion, .. } => {
                f.write_str("not a known value")?;
                match suggestion {
                    Some(code) => write!(f, " (did you mean {code}?)"),
                    None => Ok(()),
                }
            }
            Problem::BadDate => f.write_str(
                "not a date (expected YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY or DD.MM.YYYY)",
            ),
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
            Problem::InFuture => f.write_str("a date after today"),
            Problem::EnrolledBeforeBirth => f.write_str("enrolment before the date of birth"),
            Problem::ServiceLongBeforeEnrolment => {
                f.write_str("more than a year before the client's enrolment")
            }
        }
    }
}

/// The problems of a refused file, one per line (what the error's `Display` shows; the
/// command line shows the groups instead).
pub(crate) struct ProblemList<'a>(pub(crate) &'a [RowProblem]);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_group_by_column_and_kind_counting_distinct_labels() {
        let mut findings = Findings::default();
        let unknown = |suggestion| Problem::UnknownValue {
            expected: vec!["a"],
            suggestion,
        };
        for (row, label, suggestion) in [
            (9, "x", Some("urine_test")),
            (24, "y", None),
            (30, "x", Some("urine_test")),
        ] {
            findings.problem(row, Some((3, "service")), unknown(suggestion));
            findings.unknown_label(3, label.to_owned());
        }
        findings.problem(5, Some((2, "date")), Problem::BadDate);
        findings.problem(7, Some((2, "date")), Problem::InFuture);
        findings.problem(8, Some((2, "date")), Problem::BadDate);
        let (problems, groups) = findings.into_problems();
        assert_eq!(problems.len(), 6);
        assert_eq!(problems[0].line, 5);
        type Shown<'a> = (Option<usize>, Vec<u64>, usize, Vec<&'a str>);
        let summary: Vec<Shown> = groups
            .iter()
            .map(|g| {
                (
                    g.column.map(|c| c.0),
                    g.rows.clone(),
                    g.distinct_labels,
                    g.suggestions.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some(2), vec![5, 8], 0, vec![]),
                (Some(2), vec![7], 0, vec![]),
                (Some(3), vec![9, 24, 30], 2, vec!["urine_test"]),
            ]
        );
    }
}
