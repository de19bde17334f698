//! Report: pick a month; the tables exactly as they will leave the site, suppressed cells
//! marked and explained; a print layout for the paper copy (A4); approval with four eyes; for
//! a correction, what changed since the revision last sent.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use quietcount_protocol::form::Dimension;
use quietcount_protocol::{Cell, Form as ReportForm, Period, PeriodType};
use serde::Deserialize;

use super::i18n::Tr;
use super::{AppState, Chrome, MessagePage, Staff, error_page, now, render, text};
use crate::approval::ApprovalOutcome;
use crate::{OpenPeriod, Preview, QueueOutcome};

/// The report page.
#[derive(Debug, Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    page: Chrome,
    period: String,
    month: String,
    problem: Option<String>,
    forms: Vec<FormView>,
    k: String,
}

/// One form's report.
#[derive(Debug)]
pub struct FormView {
    id: String,
    title: String,
    revision: String,
    indicators: Vec<(String, Vec<TableView>)>,
    status: String,
    changes: Vec<String>,
    waiting: Option<String>,
}

/// One table as printed.
#[derive(Debug)]
pub struct TableView {
    corner: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<CellView>)>,
}

/// One cell.
#[derive(Debug)]
pub struct CellView {
    text: String,
    suppressed: bool,
}

fn cell_view(t: Tr, cell: &Cell) -> CellView {
    match cell.exact() {
        Some(n) => CellView {
            text: t.num(n),
            suppressed: false,
        },
        None => CellView {
            text: "▪".into(),
            suppressed: true,
        },
    }
}

fn labels(t: Tr, dimension: &Dimension) -> Vec<String> {
    let mut labels: Vec<String> = dimension
        .categories
        .iter()
        .map(|c| text(t, &c.title))
        .collect();
    labels.push(t.msg("report-total"));
    labels
}

fn table_view(t: Tr, dims: &[&Dimension], cells: &[Cell]) -> TableView {
    match dims {
        [] => TableView {
            corner: String::new(),
            columns: vec![t.msg("report-total")],
            rows: vec![(
                String::new(),
                cells.iter().take(1).map(|c| cell_view(t, c)).collect(),
            )],
        },
        [row] => TableView {
            corner: text(t, &row.title),
            columns: vec![t.msg("report-count")],
            rows: labels(t, row)
                .into_iter()
                .zip(cells)
                .map(|(label, cell)| (label, vec![cell_view(t, cell)]))
                .collect(),
        },
        [row, col] => {
            let columns = labels(t, col);
            let width = columns.len();
            TableView {
                corner: format!("{} \\ {}", text(t, &row.title), text(t, &col.title)),
                rows: labels(t, row)
                    .into_iter()
                    .enumerate()
                    .map(|(r, label)| {
                        let cells = (0..width)
                            .filter_map(|c| cells.get(r * width + c))
                            .map(|cell| cell_view(t, cell))
                            .collect();
                        (label, cells)
                    })
                    .collect(),
                columns,
            }
        }
        _ => {
            let shape = quietcount_protocol::table::Shape::new(
                dims.iter().map(|d| d.categories.len()).collect(),
            );
            let all: Vec<Vec<String>> = dims.iter().map(|d| labels(t, d)).collect();
            TableView {
                corner: dims
                    .iter()
                    .map(|d| text(t, &d.title))
                    .collect::<Vec<_>>()
                    .join(" | "),
                columns: vec![t.msg("report-count")],
                rows: cells
                    .iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        let names: Vec<&str> = shape
                            .coords(i)
                            .iter()
                            .zip(&all)
                            .filter_map(|(c, l)| l.get(*c).map(String::as_str))
                            .collect();
                        (names.join(" | "), vec![cell_view(t, cell)])
                    })
                    .collect(),
            }
        }
    }
}

/// The place of cell `index` of a table, in words (`Sex: Female × Age: 18-24`).
fn cell_place(t: Tr, dims: &[&Dimension], index: usize) -> String {
    let shape =
        quietcount_protocol::table::Shape::new(dims.iter().map(|d| d.categories.len()).collect());
    shape
        .coords(index)
        .iter()
        .zip(dims)
        .map(|(c, d)| {
            let labels = labels(t, d);
            format!(
                "{}: {}",
                text(t, &d.title),
                labels.get(*c).cloned().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

fn dims_of<'a>(form: &'a ReportForm, names: &[String]) -> Vec<&'a Dimension> {
    names.iter().filter_map(|d| form.dimension(d)).collect()
}

/// `?period=YYYY-MM`.
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    period: Option<String>,
}

/// GET /report.
pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let t = staff.t;
    let now = now();
    let node = state.node();
    let period = query
        .period
        .as_deref()
        .and_then(|p| Period::parse(p).ok())
        .filter(|p| p.period_type() == PeriodType::Month)
        .or_else(|| Period::latest_closed(PeriodType::Month, now));
    let Some(period) = period else {
        return super::bad_request(staff.chrome("report", "report-title"), "/");
    };
    let mut forms = Vec::new();
    let mut problem = None;
    match node.preview_reports(period, now, OpenPeriod::Refuse).await {
        Ok(previews) => {
            for preview in previews {
                match form_view(&state, t, &preview).await {
                    Ok(view) => forms.push(view),
                    Err(error) => {
                        tracing::warn!(%error, "report preview failed");
                        problem = Some(super::refusals::describe(t, &error));
                    }
                }
            }
        }
        Err(crate::NodeError::PeriodNotOver { .. }) => problem = Some(t.msg("report-not-over")),
        Err(error) => {
            tracing::warn!(%error, "report preview failed");
            problem = Some(super::refusals::describe(t, &error));
        }
    }
    render(&ReportPage {
        page: staff.chrome("report", "report-title"),
        period: period.to_string(),
        month: super::home::month_label(&period),
        problem,
        forms,
        k: node.config().k.to_string(),
    })
}

async fn form_view(
    state: &AppState,
    t: Tr,
    preview: &Preview,
) -> Result<FormView, crate::NodeError> {
    let node = state.node();
    let form = node.form(&preview.form.id)?;
    let indicators = form
        .indicators
        .iter()
        .zip(&preview.report.indicators)
        .map(|(indicator, published)| {
            let tables = published
                .tables
                .iter()
                .map(|table| table_view(t, &dims_of(form, &table.dimensions), &table.cells))
                .collect();
            (text(t, &indicator.title), tables)
        })
        .collect();
    let period = preview.report.period;
    let latest = node
        .store()
        .latest_outbox_entry(&preview.form, period)
        .await?;
    let changes = node.changes_since_sent(preview).await?;
    let change_count = changes.as_ref().map(|c| c.cells.len());
    let status = match (&latest, &changes) {
        (Some(entry), Some(changes)) if changes.cells.is_empty() => t.arg(
            "report-same-as-sent",
            "revision",
            &entry.revision.to_string(),
        ),
        (Some(_), Some(changes)) => t.args2(
            "report-correction",
            ("revision", &changes.revision.to_string()),
            ("count", &t.num(changes.cells.len() as u64)),
        ),
        _ => t.msg("report-not-sent"),
    };
    let change_lines = changes
        .map(|changes| {
            changes
                .cells
                .iter()
                .take(30)
                .filter_map(|(i, j, k, before, after)| {
                    let indicator = form.indicators.get(*i)?;
                    let table = preview.report.indicators.get(*i)?.tables.get(*j)?;
                    let place = cell_place(t, &dims_of(form, &table.dimensions), *k);
                    Some(format!(
                        "{} — {}: {} → {}",
                        text(t, &indicator.title),
                        place,
                        cell_view(t, before).text,
                        cell_view(t, after).text
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let waiting = node
        .store()
        .pending_approval(&preview.form, period)
        .await?
        .map(|w| {
            t.args2(
                "report-waiting",
                ("name", &w.approved_by),
                ("when", &t.date_time(w.approved_at)),
            )
        });
    // Unchanged since the latest revision: that revision is what stands, not the next one.
    let revision = match &latest {
        Some(entry) if change_count == Some(0) => entry.revision,
        _ => preview.report.revision,
    };
    Ok(FormView {
        id: preview.form.id.clone(),
        title: text(t, &form.title),
        revision: revision.to_string(),
        indicators,
        status,
        changes: change_lines,
        waiting,
    })
}

/// The approval form.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    period: String,
    form: String,
}

/// POST /report/approve: the first approval waits; the second (another staff member) queues
/// the report and tries to deliver it at once.
pub async fn approve(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<ApproveForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    let node = state.node();
    let back: &'static str = "/report";
    let Ok(period) = Period::parse(&form.period) else {
        return super::bad_request(staff.chrome("report", "report-title"), back);
    };
    let outcome = node
        .approve_report(
            &form.form,
            period,
            &staff.session.staff,
            now(),
            OpenPeriod::Refuse,
        )
        .await;
    let mut lines = Vec::new();
    let heading;
    match outcome {
        Ok(ApprovalOutcome::Waiting { .. }) => {
            heading = t.msg("approve-waiting-heading");
            lines.push(t.msg("approve-waiting"));
        }
        Ok(ApprovalOutcome::SecondPersonNeeded) => {
            heading = t.msg("approve-second-heading");
            lines.push(t.msg("approve-second"));
        }
        Ok(ApprovalOutcome::Queued(QueueOutcome::Queued { revision, .. })) => {
            heading = t.msg("approve-queued-heading");
            lines.push(t.arg("approve-queued", "revision", &revision.to_string()));
            match node.submit_due(now()).await {
                Ok(summary) if !summary.outcomes.is_empty() && summary.all_delivered() => {
                    lines.push(t.msg("approve-delivered"));
                }
                _ => lines.push(t.msg("approve-will-retry")),
            }
        }
        Ok(ApprovalOutcome::Queued(QueueOutcome::Unchanged { revision, .. })) => {
            heading = t.msg("approve-unchanged-heading");
            lines.push(t.arg("approve-unchanged", "revision", &revision.to_string()));
        }
        Ok(ApprovalOutcome::Queued(QueueOutcome::Held { .. })) => {
            heading = t.msg("approve-held-heading");
            lines.push(t.msg("approve-held"));
        }
        Err(error) => return error_page(staff.chrome("report", "report-title"), &error, back),
    }
    render(&MessagePage {
        page: staff.chrome("report", "report-title"),
        heading,
        lines,
        problem: false,
        back: "/deliveries",
    })
}
