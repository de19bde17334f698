//! Import: upload a CSV file or Excel workbook, see the grouped errors (nothing written) or
//! what was imported with its warnings; download the Excel template. Also renders the
//! import's findings for the Clients and Services forms, which are checked by the same rules.

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, Chrome, Staff, now, render};
use crate::error::NodeError;
use crate::import::{
    DateOrder, ImportError, ImportOptions, ImportSummary, Imported, Problem, RecordKind, Warning,
};
use crate::vocab::{self, Lang};

use super::i18n::Tr;

/// The import page, before or after an upload.
#[derive(Debug, Template)]
#[template(path = "import.html")]
pub struct ImportPage {
    page: Chrome,
    result: Option<Findings>,
}

/// What an import (or a form checked like one) found, in words.
#[derive(Debug, Default)]
pub struct Findings {
    /// Whether it was written.
    pub imported: bool,
    /// One line saying what happened.
    pub summary: String,
    /// Grouped errors (nothing written).
    pub errors: Vec<String>,
    /// Grouped warnings (written anyway).
    pub warnings: Vec<String>,
}

/// GET /import.
pub async fn page(staff: Staff) -> Response {
    render(&ImportPage {
        page: staff.chrome("import", "import-title"),
        result: None,
    })
}

/// POST /import (multipart: `csrf`, `file`).
pub async fn upload(
    State(state): State<AppState>,
    staff: Staff,
    mut multipart: Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut bytes = Vec::new();
    let mut order = String::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(data) if name == "csrf" => {
                        csrf = String::from_utf8_lossy(&data).into_owned()
                    }
                    Ok(data) if name == "file" => bytes = data.to_vec(),
                    Ok(data) if name == "date_order" => {
                        order = String::from_utf8_lossy(&data).into_owned()
                    }
                    Ok(_) => {}
                    Err(_) => return bad_upload(&staff),
                }
            }
            Ok(None) => break,
            Err(_) => return bad_upload(&staff),
        }
    }
    if let Some(refused) = staff.csrf_refusal(&csrf) {
        return refused;
    }
    let t = staff.t;
    let result = if bytes.is_empty() {
        Findings {
            summary: t.msg("import-no-file"),
            ..Findings::default()
        }
    } else {
        // The uploaded file's own name is not used: it may name a person.
        let options = ImportOptions {
            date_order: match order.as_str() {
                "dmy" => Some(DateOrder::DayMonthYear),
                "mdy" => Some(DateOrder::MonthDayYear),
                _ => None,
            },
            ..ImportOptions::at(now())
        };
        let outcome = state
            .node()
            .import_bytes(&bytes, std::path::Path::new("upload"), &options, |_| {})
            .await;
        findings(t, outcome)
    };
    render(&ImportPage {
        page: staff.chrome("import", "import-title"),
        result: Some(result),
    })
}

fn bad_upload(staff: &Staff) -> Response {
    let t = staff.t;
    render(&ImportPage {
        page: staff.chrome("import", "import-title"),
        result: Some(Findings {
            summary: t.msg("import-unreadable-upload"),
            ..Findings::default()
        }),
    })
}

/// `?kind=clients|services`.
#[derive(Debug, Deserialize)]
pub struct TemplateQuery {
    kind: String,
}

/// GET /import/template: the Excel template in the page's language.
pub async fn template(staff: Staff, Query(query): Query<TemplateQuery>) -> Response {
    let kind = if query.kind == "services" {
        RecordKind::Events
    } else {
        RecordKind::Clients
    };
    match crate::import::template::template(kind, staff.t.lang) {
        Ok(bytes) => {
            let name = match (kind, staff.t.lang) {
                (RecordKind::Clients, Lang::Vi) => "mau-khach-hang.xlsx",
                (RecordKind::Clients, Lang::En) => "clients-template.xlsx",
                (RecordKind::Events, Lang::Vi) => "mau-dich-vu.xlsx",
                (RecordKind::Events, Lang::En) => "services-template.xlsx",
            };
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "template could not be made");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "template could not be made",
            )
                .into_response()
        }
    }
}

/// What an import's outcome says, in words.
pub fn findings(t: Tr, outcome: Result<Imported, NodeError>) -> Findings {
    match outcome {
        Ok(imported) => Findings {
            imported: true,
            summary: summary(t, &imported.summary),
            errors: Vec::new(),
            warnings: imported
                .warnings
                .iter()
                .map(|w| {
                    format!(
                        "{}: {} ({})",
                        column_label(t, w.column.1),
                        warning_text(t, w.warning),
                        rows(t, &w.rows)
                    )
                })
                .collect(),
        },
        Err(NodeError::Import(ImportError::BadRows {
            groups, problems, ..
        })) => Findings {
            imported: false,
            summary: t.arg("import-bad-rows", "count", &t.num(problems.len() as u64)),
            errors: groups
                .iter()
                .map(|g| {
                    let column = g
                        .column
                        .map_or_else(|| t.msg("import-whole-row"), |(_, c)| column_label(t, c));
                    let mut line = format!(
                        "{column}: {} ({})",
                        problem_text(t, &g.problem),
                        rows(t, &g.rows)
                    );
                    if !g.suggestions.is_empty() {
                        let column_id = g.column.map(|(_, c)| c).unwrap_or_default();
                        let labels: Vec<String> = g
                            .suggestions
                            .iter()
                            .map(|code| value_label(t, column_id, code))
                            .collect();
                        line.push_str(" — ");
                        line.push_str(&t.arg("import-did-you-mean", "labels", &labels.join(", ")));
                    }
                    line
                })
                .collect(),
            warnings: Vec::new(),
        },
        Err(other) => {
            tracing::warn!(error = %other, "import refused");
            Findings {
                imported: false,
                summary: t.msg("import-refused"),
                errors: vec![super::refusals::describe(t, &other)],
                warnings: Vec::new(),
            }
        }
    }
}

fn summary(t: Tr, summary: &ImportSummary) -> String {
    match summary {
        ImportSummary::Clients {
            inserted,
            updated,
            unchanged,
            ..
        } => format!(
            "{} {}",
            t.args2(
                "import-clients-done",
                ("inserted", &t.num(*inserted)),
                ("updated", &t.num(*updated))
            ),
            t.arg("import-unchanged", "count", &t.num(*unchanged))
        ),
        ImportSummary::Events {
            inserted,
            already_present,
            ..
        } => t.args2(
            "import-services-done",
            ("inserted", &t.num(*inserted)),
            ("present", &t.num(*already_present)),
        ),
    }
}

fn rows(t: Tr, rows: &[u64]) -> String {
    const SHOWN: usize = 12;
    let mut text: Vec<String> = rows.iter().take(SHOWN).map(|r| t.num(*r)).collect();
    if rows.len() > SHOWN {
        text.push(t.arg(
            "import-more-rows",
            "count",
            &t.num((rows.len() - SHOWN) as u64),
        ));
    }
    t.arg("import-rows", "rows", &text.join(", "))
}

/// A column's header in the page's language.
pub fn column_label(t: Tr, column: &str) -> String {
    vocab::column(column).map_or_else(|| column.to_owned(), |c| c.label(t.lang).to_owned())
}

fn value_label(t: Tr, column: &str, code: &str) -> String {
    let vocabulary = match column {
        "sex" => Some(&*vocab::SEX),
        "primary_substance" => Some(&*vocab::SUBSTANCE),
        "referral_source" => Some(&*vocab::REFERRAL_SOURCE),
        "modality" => Some(&*vocab::MODALITY),
        "service" => Some(&*vocab::SERVICE),
        _ => None,
    };
    vocabulary
        .and_then(|v| v.entry(code))
        .map_or_else(|| code.to_owned(), |e| e.label(t.lang).to_owned())
}

fn problem_text(t: Tr, problem: &Problem) -> String {
    match problem {
        Problem::Missing => t.msg("finding-missing"),
        Problem::UnknownValue { .. } => t.msg("finding-unknown-value"),
        Problem::BadDate => t.msg("finding-bad-date"),
        Problem::UnexpectedOutcome => t.msg("finding-unexpected-outcome"),
        Problem::UnknownClient => t.msg("finding-unknown-client"),
        Problem::RepeatedClientCode { first_line } => {
            t.arg("finding-repeated-code", "row", &t.num(*first_line))
        }
        Problem::FieldCount { found, expected } => t.args2(
            "finding-field-count",
            ("found", &found.to_string()),
            ("expected", &expected.to_string()),
        ),
        Problem::InFuture => t.msg("finding-in-future"),
        Problem::EnrolledBeforeBirth => t.msg("finding-enrolled-before-birth"),
        Problem::ServiceLongBeforeEnrolment => t.msg("finding-service-long-before"),
        _ => t.msg("finding-unreadable"),
    }
}

fn warning_text(t: Tr, warning: Warning) -> String {
    match warning {
        Warning::AgeUnder10 => t.msg("warning-age-under-10"),
        Warning::AgeOver90 => t.msg("warning-age-over-90"),
        Warning::ServiceBeforeEnrolment => t.msg("warning-service-before-enrolment"),
    }
}
