//! Audit: the newest manager actions taken in the dashboard (enrol, revoke, resolve, publish),
//! each with who and when, as the audit table holds them.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{AppState, Chrome, User, error_page, render};

/// Rows shown.
pub const SHOWN: u32 = 200;

/// The audit page.
#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    page: Chrome,
    entries: Vec<AuditLine>,
}

/// One action.
#[derive(Debug)]
pub struct AuditLine {
    at: String,
    who: String,
    action: String,
    detail: String,
}

/// GET /audit.
pub async fn page(State(state): State<AppState>, user: User) -> Response {
    let t = user.t;
    match state.coordinator().audit_log(SHOWN).await {
        Ok(entries) => render(&AuditPage {
            page: user.chrome("audit", "audit-title"),
            entries: entries
                .into_iter()
                .map(|e| AuditLine {
                    at: t.date_time(e.at),
                    who: e.who,
                    action: t.msg(&format!("audit-{}", e.action)),
                    detail: e.detail,
                })
                .collect(),
        }),
        Err(error) => error_page(user.chrome("audit", "audit-title"), &error, "/"),
    }
}
