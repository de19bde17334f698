//! Home: this month at a glance — clients, services recorded, last month's report (built,
//! approved, delivered with the receipt time), the next scheduled send, and any delivery or
//! clock problem in plain words with what to do.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use quietcount_protocol::{Period, PeriodType};

use super::{AppState, Chrome, Staff, error_page, now, render};
use crate::dates::Date;
use crate::error::NodeError;
use crate::{EntryState, FormKey};

/// The home page.
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    page: Chrome,
    site: String,
    today: String,
    clients: String,
    services_this_month: String,
    month: String,
    last_month: String,
    reports: Vec<ReportLine>,
    next_send: String,
    problems: Vec<String>,
}

/// Last month's report of one form, in words.
#[derive(Debug)]
pub struct ReportLine {
    form: String,
    state: String,
    ok: bool,
}

/// GET /.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Response {
    match home(&state, &staff).await {
        Ok(page) => render(&page),
        Err(error) => error_page(staff.chrome("home", "home-title"), &error, "/"),
    }
}

async fn home(state: &AppState, staff: &Staff) -> Result<HomePage, NodeError> {
    let node = state.node();
    let t = staff.t;
    let now = now();
    let store = node.store();
    let this_month = Period::latest_closed(PeriodType::Month, now)
        .and_then(|p| Period::parse(&next_month(&p)).ok());
    let services_this_month = match this_month {
        Some(month) => {
            store
                .count_events_between(
                    Date::from_civil(month.first_day()),
                    Date::from_civil(month.last_day()),
                )
                .await?
        }
        None => 0,
    };
    let last = Period::latest_closed(PeriodType::Month, now);
    let status = node.status().await?;
    let mut reports = Vec::new();
    if let Some(period) = last {
        for form in node
            .forms()
            .iter()
            .filter(|f| f.period == PeriodType::Month)
        {
            let key = FormKey::of(form);
            let entry = store.latest_outbox_entry(&key, period).await?;
            let waiting = store.pending_approval(&key, period).await?;
            let (text, ok) = match (entry, waiting) {
                (Some(entry), _) if entry.state == EntryState::Delivered => {
                    let receipt = status.receipts.iter().find(|r| {
                        r.form == key && r.period == period && r.revision == entry.revision
                    });
                    let when = receipt.map_or_else(String::new, |r| t.date_time(r.received_at));
                    (
                        t.args2(
                            "home-report-delivered",
                            ("revision", &entry.revision.to_string()),
                            ("when", &when),
                        ),
                        true,
                    )
                }
                (Some(entry), _) if entry.state == EntryState::Refused => (
                    t.arg(
                        "home-report-refused",
                        "revision",
                        &entry.revision.to_string(),
                    ),
                    false,
                ),
                (Some(entry), _) => (
                    t.arg(
                        "home-report-queued",
                        "revision",
                        &entry.revision.to_string(),
                    ),
                    false,
                ),
                (None, Some(waiting)) => (
                    t.arg("home-report-waiting", "name", &waiting.approved_by),
                    false,
                ),
                (None, None) => (t.msg("home-report-not-built"), false),
            };
            reports.push(ReportLine {
                form: super::text(t, &form.title),
                state: text,
                ok,
            });
        }
    }
    let next_send = match this_month {
        Some(month) => {
            let due = month.end() + u64::from(node.config().report_day.saturating_sub(1)) * 86_400;
            t.date(due)
        }
        None => String::new(),
    };
    let mut problems = Vec::new();
    if let Some(held) = &status.held {
        problems.push(t.arg("problem-key-refused", "fingerprint", &status.fingerprint));
        problems.push(t.arg(
            "problem-key-refused-since",
            "when",
            &t.date_time(held.refused_at),
        ));
    }
    if let Some(clock) = status.clock.filter(crate::ClockCheck::is_off) {
        let minutes = (clock.behind_secs().unsigned_abs() / 60).to_string();
        problems.push(t.arg("problem-clock", "minutes", &minutes));
    }
    if status.refused > 0 {
        problems.push(t.arg("problem-refused", "count", &t.num(status.refused)));
    }
    let failing = status
        .entries
        .iter()
        .filter(|e| e.state == EntryState::Pending && e.attempts > 0)
        .count() as u64;
    if failing > 0 {
        problems.push(t.arg("problem-delivery-failing", "count", &t.num(failing)));
    }
    Ok(HomePage {
        page: staff.chrome("home", "home-title"),
        site: node.config().site.to_string(),
        today: t.date(now),
        clients: t.num(store.count_clients().await?),
        services_this_month: t.num(services_this_month),
        month: this_month.map_or_else(String::new, |m| month_label(&m)),
        last_month: last.map_or_else(String::new, |m| month_label(&m)),
        reports,
        next_send,
        problems,
    })
}

/// `MM/YYYY` for a month period.
pub fn month_label(period: &Period) -> String {
    let (y, m, _) = period.first_day();
    format!("{m:02}/{y:04}")
}

fn next_month(period: &Period) -> String {
    let (y, m, _) = period.first_day();
    if m == 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", m + 1)
    }
}
