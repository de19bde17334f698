//! The completeness grid (home page): sites × the last 12 periods, each cell on time, late,
//! missing, in conflict or not expected, with the revision and receipt time; reporting and
//! on-time rates per period and per site (DHIS2's "reporting rate" and "reporting rate on
//! time": reports received ÷ reports expected); and the sites to remind for the latest closed
//! period, with a ready-to-send reminder in Vietnamese.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use quietcount_protocol::Period;

use super::i18n::{Lang, Tr};
use super::{AppState, Chrome, User, error_page, now, period_type, recent_periods, render};
use crate::admin::{SiteStatus, StatusReport};
use crate::error::CoordinatorError;

/// Periods shown.
pub const PERIODS: usize = 12;

/// The grid page.
#[derive(Debug, Template)]
#[template(path = "grid.html")]
pub struct GridPage {
    page: Chrome,
    periods: Vec<PeriodColumn>,
    rows: Vec<SiteRow>,
    remind_period: String,
    remind: Vec<Reminder>,
}

/// One period's column head and rates.
#[derive(Debug)]
pub struct PeriodColumn {
    id: String,
    reporting: String,
    on_time: String,
}

/// One site's row.
#[derive(Debug)]
pub struct SiteRow {
    site: String,
    name: String,
    cells: Vec<Cell>,
    reporting: String,
    on_time: String,
}

/// One cell: its class (colour), its word and its detail.
#[derive(Debug)]
pub struct Cell {
    class: &'static str,
    word: String,
    detail: String,
}

/// A site to remind and the text to send it.
#[derive(Debug)]
pub struct Reminder {
    site: String,
    name: String,
    /// Whom to call, as recorded at enrolment.
    contact: Option<String>,
    text: String,
}

/// The state of one site in one period.
pub fn cell_state(status: &SiteStatus, expected: bool) -> &'static str {
    if status.equivocation && !status.equivocation_resolved {
        "conflict"
    } else if status.reported {
        if status.on_time == Some(false) {
            "late"
        } else {
            "on-time"
        }
    } else if expected {
        "missing"
    } else {
        "not-expected"
    }
}

/// GET /.
pub async fn page(State(state): State<AppState>, user: User) -> Response {
    match grid(&state, &user).await {
        Ok(page) => render(&page),
        Err(error) => error_page(user.chrome("grid", "grid-title"), &error, "/"),
    }
}

/// The status of every one of `periods` (the dashboard's form).
pub async fn statuses(
    state: &AppState,
    periods: &[Period],
) -> Result<Vec<StatusReport>, CoordinatorError> {
    let coordinator = state.coordinator();
    let form = coordinator.forms.first().map(|f| f.form.id.clone());
    let mut out = Vec::new();
    for period in periods {
        out.push(coordinator.status(*period, form.as_deref()).await?);
    }
    Ok(out)
}

async fn grid(state: &AppState, user: &User) -> Result<GridPage, CoordinatorError> {
    let t = user.t;
    let coordinator = state.coordinator();
    let periods = recent_periods(period_type(coordinator), now(), PERIODS);
    let reports = statuses(state, &periods).await?;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for report in &reports {
        for s in report.sites.iter().chain(&report.not_expected) {
            names.insert(s.site.to_string(), s.name.clone());
        }
    }
    let mut rows = Vec::new();
    for (site, name) in &names {
        let mut cells = Vec::new();
        let (mut expected, mut reported, mut on_time) = (0u64, 0u64, 0u64);
        for report in &reports {
            let found = report
                .sites
                .iter()
                .map(|s| (s, true))
                .chain(report.not_expected.iter().map(|s| (s, false)))
                .find(|(s, _)| s.site.as_str() == site);
            let cell = match found {
                Some((status, is_expected)) => {
                    if is_expected {
                        expected += 1;
                        if status.reported {
                            reported += 1;
                        }
                        if status.on_time == Some(true) {
                            on_time += 1;
                        }
                    }
                    let class = cell_state(status, is_expected);
                    let detail = match (status.revision, status.received_at) {
                        (Some(revision), Some(at)) => t.args2(
                            "grid-cell-detail",
                            ("revision", &revision.to_string()),
                            ("when", &t.date_time(at)),
                        ),
                        _ => String::new(),
                    };
                    Cell {
                        class,
                        word: t.msg(&format!("state-{class}")),
                        detail,
                    }
                }
                None => Cell {
                    class: "not-expected",
                    word: t.msg("state-not-expected"),
                    detail: String::new(),
                },
            };
            cells.push(cell);
        }
        rows.push(SiteRow {
            site: site.clone(),
            name: name.clone(),
            cells,
            reporting: rate(t, reported, expected),
            on_time: rate(t, on_time, expected),
        });
    }
    let columns = reports
        .iter()
        .map(|r| PeriodColumn {
            id: r.period.to_string(),
            reporting: if r.expected == 0 {
                "–".into()
            } else {
                t.percent(r.reporting_rate)
            },
            on_time: if r.expected == 0 {
                "–".into()
            } else {
                t.percent(r.on_time_rate)
            },
        })
        .collect();
    let contacts = coordinator.site_contacts().await?;
    let (remind_period, remind) = match reports.last() {
        Some(last) => (
            last.period.to_string(),
            last.sites
                .iter()
                .filter(|s| !s.reported)
                .map(|s| Reminder {
                    site: s.site.to_string(),
                    name: s.name.clone(),
                    contact: contacts.get(&s.site).cloned(),
                    text: reminder_text(&s.name, &last.period),
                })
                .collect(),
        ),
        None => (String::new(), Vec::new()),
    };
    Ok(GridPage {
        page: user.chrome("grid", "grid-title"),
        periods: columns,
        rows,
        remind_period,
        remind,
    })
}

/// `part` of `whole` as a rate, or a dash when nothing was expected.
fn rate(t: Tr, part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        t.percent(100.0 * part as f64 / whole as f64)
    }
}

/// The reminder to send a site, always in Vietnamese (the sites' language).
pub fn reminder_text(site_name: &str, period: &Period) -> String {
    let vi = Tr::new(Lang::Vi);
    let (y, m, _) = period.first_day();
    let label = match period {
        Period::Month { .. } => format!("{m:02}/{y:04}"),
        _ => period.to_string(),
    };
    vi.args2("grid-remind-text", ("site", site_name), ("period", &label))
}
