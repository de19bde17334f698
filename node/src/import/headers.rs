//! Which column is which: headers in English or Vietnamese (`Mã khách hàng`, `Client Code`,
//! `client_code`), matched ignoring case, diacritics and spacing, in any order. Identity
//! columns are optional; extra columns (`STT`, `Ghi chú`) are ignored and listed once.

use crate::import::RecordKind;
use crate::vocab;

/// Columns of a clients file, in template order.
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

/// Columns of a service events file, in template order.
pub const EVENT_COLUMNS: [&str; 4] = ["client_code", "date", "service", "outcome"];

/// Columns a clients file must have (the others may be left out).
pub const REQUIRED_CLIENT_COLUMNS: [&str; 6] = [
    "client_code",
    "sex",
    "primary_substance",
    "referral_source",
    "enrolled_on",
    "modality",
];

/// Columns a services file must have.
pub const REQUIRED_EVENT_COLUMNS: [&str; 3] = ["client_code", "date", "service"];

/// Where each expected column is in a file.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) kind: RecordKind,
    /// For each column of [`CLIENT_COLUMNS`] or [`EVENT_COLUMNS`], its index in the file.
    pub(crate) positions: Vec<Option<usize>>,
    /// Headers of the columns ignored, in file order.
    pub(crate) ignored: Vec<String>,
}

/// Why a header was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Neither a clients nor a services header.
    Unrecognised,
    /// Recognised, but without some required columns.
    Missing {
        kind: RecordKind,
        missing: Vec<&'static str>,
    },
    /// A column appears twice.
    Repeated { column: &'static str },
}

impl Layout {
    /// The columns of this kind of file that the file does not have.
    pub(crate) fn absent_columns(&self) -> Vec<&'static str> {
        let columns: &[&'static str] = match self.kind {
            RecordKind::Clients => &CLIENT_COLUMNS,
            RecordKind::Events => &EVENT_COLUMNS,
        };
        columns
            .iter()
            .zip(&self.positions)
            .filter(|(_, at)| at.is_none())
            .map(|(c, _)| *c)
            .collect()
    }
}

/// Recognises a header row.
pub(crate) fn layout(header: &[String]) -> Result<Layout, HeaderProblem> {
    let found: Vec<Option<&'static str>> = header
        .iter()
        .map(|h| {
            vocab::columns()
                .iter()
                .find(|c| c.matches(h))
                .map(|c| c.id.as_str())
        })
        .collect();
    let has = |id: &str| found.contains(&Some(id));
    let clients_only = [
        "sex",
        "primary_substance",
        "referral_source",
        "enrolled_on",
        "modality",
    ];
    let events_only = ["date", "service", "outcome"];
    let kind = match (
        clients_only.iter().any(|c| has(c)),
        events_only.iter().any(|c| has(c)),
    ) {
        (true, false) => RecordKind::Clients,
        (false, true) => RecordKind::Events,
        _ => return Err(HeaderProblem::Unrecognised),
    };
    let (columns, required): (&[&'static str], &[&'static str]) = match kind {
        RecordKind::Clients => (&CLIENT_COLUMNS, &REQUIRED_CLIENT_COLUMNS),
        RecordKind::Events => (&EVENT_COLUMNS, &REQUIRED_EVENT_COLUMNS),
    };
    let mut positions = Vec::with_capacity(columns.len());
    for column in columns {
        let mut at = found
            .iter()
            .enumerate()
            .filter(|(_, f)| **f == Some(*column))
            .map(|(i, _)| i);
        let first = at.next();
        if at.next().is_some() {
            return Err(HeaderProblem::Repeated { column });
        }
        positions.push(first);
    }
    let missing: Vec<&'static str> = required.iter().filter(|r| !has(r)).copied().collect();
    if !missing.is_empty() {
        return Err(HeaderProblem::Missing { kind, missing });
    }
    let ignored = header
        .iter()
        .zip(&found)
        .filter(|(h, f)| !h.is_empty() && f.is_none_or(|id| !columns.contains(&id)))
        .map(|(h, _)| h.clone())
        .collect();
    Ok(Layout {
        kind,
        positions,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(headers: &[&str]) -> Vec<String> {
        headers.iter().map(|h| (*h).to_owned()).collect()
    }

    #[test]
    fn vietnamese_and_english_headers_in_any_order_with_extra_columns() {
        let layout = layout(&strings(&[
            "STT",
            "Mã khách hàng",
            "HỌ VÀ TÊN",
            "Ngày sinh",
            "Giới tính",
            "Chất sử dụng chính",
            "Nguồn giới thiệu",
            "Ngày tiếp nhận",
            "Hình thức",
            "Ghi chú",
        ]))
        .unwrap();
        assert_eq!(layout.kind, RecordKind::Clients);
        assert_eq!(layout.ignored, ["STT", "Ghi chú"]);
        assert_eq!(
            layout.positions,
            [
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                None,
                None,
                None,
                Some(5),
                Some(6),
                Some(7),
                Some(8)
            ]
        );
        let events = layout_of(&["Client Code", "Date", "Service", "Outcome"]);
        assert_eq!(events.kind, RecordKind::Events);
        assert_eq!(events.positions, [Some(0), Some(1), Some(2), Some(3)]);
    }

    fn layout_of(headers: &[&str]) -> Layout {
        layout(&strings(headers)).unwrap()
    }

    #[test]
    fn missing_repeated_and_unknown_headers() {
        assert_eq!(
            layout(&strings(&["name", "phone"])).unwrap_err(),
            HeaderProblem::Unrecognised
        );
        assert_eq!(
            layout(&strings(&["client_code", "sex", "enrolled_on"])).unwrap_err(),
            HeaderProblem::Missing {
                kind: RecordKind::Clients,
                missing: vec!["primary_substance", "referral_source", "modality"]
            }
        );
        assert_eq!(
            layout(&strings(&["client_code", "date", "Ngày", "service"])).unwrap_err(),
            HeaderProblem::Repeated { column: "date" }
        );
    }
}
