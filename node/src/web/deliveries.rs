//! Deliveries: the outbox, the coordinator's receipts, "retry now", and what the coordinator
//! answered, in words.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;

use super::i18n::Tr;
use super::login::CsrfForm;
use super::{AppState, Chrome, MessagePage, Staff, error_page, now, render};
use crate::{EntryState, Outcome};

/// The deliveries page.
#[derive(Debug, Template)]
#[template(path = "deliveries.html")]
pub struct DeliveriesPage {
    page: Chrome,
    entries: Vec<EntryRow>,
    receipts: Vec<ReceiptRow>,
    held: Option<String>,
    pending: String,
}

/// One outbox entry.
#[derive(Debug)]
pub struct EntryRow {
    period: String,
    revision: u32,
    state: String,
    delivered: bool,
    built: String,
    detail: String,
}

/// One receipt.
#[derive(Debug)]
pub struct ReceiptRow {
    period: String,
    revision: u32,
    received: String,
    sequence: String,
}

fn state_text(t: Tr, state: EntryState) -> String {
    match state {
        EntryState::Pending => t.msg("delivery-pending"),
        EntryState::Delivered => t.msg("delivery-delivered"),
        EntryState::Refused => t.msg("delivery-refused"),
    }
}

/// GET /deliveries.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Response {
    let t = staff.t;
    let status = match state.node().status().await {
        Ok(status) => status,
        Err(error) => {
            return error_page(staff.chrome("deliveries", "deliveries-title"), &error, "/");
        }
    };
    let entries = status
        .entries
        .iter()
        .map(|e| {
            let detail = match (e.state, &e.refusal_code, &e.last_error) {
                (EntryState::Refused, Some(code), _) => {
                    t.arg("delivery-refused-code", "code", code)
                }
                (EntryState::Pending, _, Some(error)) => format!(
                    "{} {}",
                    t.args2(
                        "delivery-retrying",
                        ("attempts", &e.attempts.to_string()),
                        ("when", &t.date_time(e.next_attempt_at))
                    ),
                    error
                ),
                _ => String::new(),
            };
            EntryRow {
                period: super::home::month_label(&e.period),
                revision: e.revision,
                state: state_text(t, e.state),
                delivered: e.state == EntryState::Delivered,
                built: t.date_time(e.built_at),
                detail,
            }
        })
        .collect();
    let receipts = status
        .receipts
        .iter()
        .map(|r| ReceiptRow {
            period: super::home::month_label(&r.period),
            revision: r.revision,
            received: t.date_time(r.received_at),
            sequence: t.num(r.sequence),
        })
        .collect();
    let held = status
        .held
        .as_ref()
        .map(|_| t.arg("problem-key-refused", "fingerprint", &status.fingerprint));
    render(&DeliveriesPage {
        page: staff.chrome("deliveries", "deliveries-title"),
        entries,
        receipts,
        held,
        pending: t.num(status.pending),
    })
}

/// POST /deliveries/retry: try every waiting report now.
pub async fn retry(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(form.token()) {
        return refused;
    }
    let t = staff.t;
    let summary = match state.node().submit_all(now()).await {
        Ok(summary) => summary,
        Err(error) => {
            return error_page(
                staff.chrome("deliveries", "deliveries-title"),
                &error,
                "/deliveries",
            );
        }
    };
    let mut lines: Vec<String> = summary
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Delivered {
                period,
                revision,
                duplicate,
                ..
            } => t.args2(
                if *duplicate {
                    "retry-duplicate"
                } else {
                    "retry-delivered"
                },
                ("month", &super::home::month_label(period)),
                ("revision", &revision.to_string()),
            ),
            Outcome::Refused {
                period, message, ..
            } => format!(
                "{} {message}",
                t.arg("retry-refused", "month", &super::home::month_label(period))
            ),
            _ => t.msg("retry-later"),
        })
        .collect();
    if lines.is_empty() {
        lines.push(t.msg("retry-nothing"));
    }
    render(&MessagePage {
        page: staff.chrome("deliveries", "deliveries-title"),
        heading: t.msg("retry-heading"),
        lines,
        problem: !summary.all_delivered(),
        back: "/deliveries",
    })
}
