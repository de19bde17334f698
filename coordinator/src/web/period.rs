//! A period: its completeness, publication (managers; `--allow-incomplete` is a checkbox; each
//! publication is written to `published/PERIOD/PUBLISHED_AT/` in the coordinator's directory
//! and audited), the latest donor package as one `.zip`, and a warning when a site delivered a
//! report after the latest publication (a newer revision the package does not hold).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quietcount_protocol::{Period, UnixTime};
use serde::Deserialize;

use super::{
    AppState, Chrome, User, bad_request, done_page, error_page, now, period_type, recent_periods,
    render,
};
use crate::error::{CoordinatorError, io};

/// Folder of the coordinator's directory that holds the dashboard's publications.
pub const PUBLISHED_DIR: &str = "published";

/// The period page.
#[derive(Debug, Template)]
#[template(path = "period.html")]
pub struct PeriodPage {
    page: Chrome,
    period: String,
    periods: Vec<String>,
    expected: u32,
    reported: u32,
    on_time: u32,
    reporting: String,
    on_time_rate: String,
    min_percent: u32,
    published: Option<String>,
    newer: Vec<String>,
    /// "locked on DATE by NAME", when the period is locked.
    locked: Option<String>,
}

/// `?p=PERIOD` (default: the latest closed period).
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    /// The period.
    pub p: Option<String>,
}

/// The period asked for, or the latest closed one; `None` for a malformed one.
pub fn chosen_period(state: &AppState, p: Option<&str>) -> Option<Period> {
    match p {
        Some(text) if !text.is_empty() => text.parse().ok(),
        _ => recent_periods(period_type(state.coordinator()), now(), 1)
            .first()
            .copied(),
    }
}

/// The latest publication of `period`: its folder and time.
pub fn latest_publication(dir: &Path, period: &Period) -> Option<(PathBuf, UnixTime)> {
    let folder = dir.join(PUBLISHED_DIR).join(period.to_string());
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let at: UnixTime = e.file_name().to_str()?.parse().ok()?;
            Some((e.path(), at))
        })
        .max_by_key(|(_, at)| *at)
}

/// GET /period.
pub async fn page(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let chrome = user.chrome("period", "period-title");
    let Some(period) = chosen_period(&state, query.p.as_deref()) else {
        return bad_request(chrome, "/period");
    };
    let t = user.t;
    let coordinator = state.coordinator();
    let form = coordinator.forms.first().map(|f| f.form.id.clone());
    let status = match coordinator.status(period, form.as_deref()).await {
        Ok(status) => status,
        Err(error) => return error_page(chrome, &error, "/"),
    };
    let locked = match coordinator.period_lock(period, form.as_deref()).await {
        Ok(lock) => lock.map(|l| {
            t.args2(
                "period-locked",
                ("at", &t.date_time(l.locked_at)),
                ("by", &l.locked_by),
            )
        }),
        Err(error) => return error_page(chrome, &error, "/"),
    };
    let publication = latest_publication(&coordinator.dir, &period);
    let newer = match &publication {
        Some((_, at)) => status
            .sites
            .iter()
            .filter(|s| s.received_at.is_some_and(|r| r > *at))
            .map(|s| {
                t.args2(
                    "period-newer",
                    ("site", s.site.as_str()),
                    ("revision", &s.revision.unwrap_or(0).to_string()),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let mut periods: Vec<String> = recent_periods(period_type(coordinator), now(), 12)
        .iter()
        .rev()
        .map(ToString::to_string)
        .collect();
    if !periods.contains(&period.to_string()) {
        periods.insert(0, period.to_string());
    }
    render(&PeriodPage {
        page: chrome,
        period: period.to_string(),
        periods,
        expected: status.expected,
        reported: status.reported,
        on_time: status.on_time,
        reporting: t.percent(status.reporting_rate),
        on_time_rate: t.percent(status.on_time_rate),
        min_percent: coordinator.config.min_reporting_percent,
        published: publication.map(|(_, at)| t.date_time(at)),
        newer,
        locked,
    })
}

/// The lock and unlock forms.
#[derive(Debug, Deserialize)]
pub struct LockForm {
    #[serde(default)]
    csrf: String,
    period: String,
}

/// POST /period/lock (managers): no new report or revision for the period is stored until it
/// is unlocked.
pub async fn lock(state: State<AppState>, user: User, form: Form<LockForm>) -> Response {
    set_lock(state, user, form, true).await
}

/// POST /period/unlock (managers).
pub async fn unlock(state: State<AppState>, user: User, form: Form<LockForm>) -> Response {
    set_lock(state, user, form, false).await
}

async fn set_lock(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<LockForm>,
    lock: bool,
) -> Response {
    if let Some(refused) = user.manager_refusal(&form.csrf, "/period") {
        return refused;
    }
    let chrome = user.chrome("period", "period-title");
    let Ok(period) = form.period.parse::<Period>() else {
        return bad_request(chrome, "/period");
    };
    let coordinator = state.coordinator();
    let form_id = coordinator.forms.first().map(|f| f.form.id.clone());
    let who = &user.session.user;
    let changed = if lock {
        coordinator
            .lock_period(period, form_id.as_deref(), who, now())
            .await
    } else {
        coordinator
            .unlock_period(period, form_id.as_deref(), who, now())
            .await
    };
    let key = match (lock, changed) {
        (_, Err(error)) => return error_page(chrome, &error, "/period"),
        (true, Ok(true)) => "period-lock-done",
        (true, Ok(false)) => "period-lock-already",
        (false, Ok(true)) => "period-unlock-done",
        (false, Ok(false)) => "period-unlock-already",
    };
    let line = user.t.arg(key, "period", &period.to_string());
    done_page(chrome, vec![line], "/period")
}

/// The publish form.
#[derive(Debug, Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    csrf: String,
    period: String,
    #[serde(default)]
    allow_incomplete: Option<String>,
}

/// POST /period/publish (managers).
pub async fn publish(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<PublishForm>,
) -> Response {
    if let Some(refused) = user.manager_refusal(&form.csrf, "/period") {
        return refused;
    }
    let chrome = user.chrome("period", "period-title");
    let Ok(period) = form.period.parse::<Period>() else {
        return bad_request(chrome, "/period");
    };
    let coordinator = state.coordinator();
    let now = now();
    let out = coordinator
        .dir
        .join(PUBLISHED_DIR)
        .join(period.to_string())
        .join(now.to_string());
    let allow = form.allow_incomplete.is_some();
    let form_id = coordinator.forms.first().map(|f| f.form.id.clone());
    match coordinator
        .publish(period, form_id.as_deref(), Some(&out), allow, now)
        .await
    {
        Ok(assembled) => {
            let incomplete = assembled.provincial.incomplete;
            let detail = format!("{period}{}", if incomplete { " (incomplete)" } else { "" });
            if let Err(error) = coordinator
                .audit(&user.session.user, "publish", &detail, now)
                .await
            {
                return error_page(chrome, &error, "/period");
            }
            let c = assembled.provincial.completeness;
            let t = user.t;
            let mut lines = vec![t.args2(
                "period-published",
                ("period", &period.to_string()),
                ("sites", &format!("{}/{}", c.reported, c.expected)),
            )];
            if incomplete {
                lines.push(t.msg("period-incomplete"));
            }
            let back: &'static str = "/period";
            done_page(chrome, lines, back)
        }
        Err(error) => error_page(chrome, &error, "/period"),
    }
}

/// GET /period/package.zip?p=PERIOD: the latest donor package of the period as one zip.
pub async fn package_zip(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<PeriodQuery>,
) -> Response {
    let chrome = user.chrome("period", "period-title");
    let Some(period) = chosen_period(&state, query.p.as_deref()) else {
        return bad_request(chrome, "/period");
    };
    let Some((folder, _)) = latest_publication(&state.coordinator().dir, &period) else {
        let mut response = bad_request(chrome, "/period");
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    match zip_folder(&folder) {
        Ok(bytes) => {
            let name = format!("quietcount-{period}.zip");
            let mut response = ([(header::CONTENT_TYPE, "application/zip")], bytes).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(error) => error_page(chrome, &error, "/period"),
    }
}

/// Every file under `folder` in one zip, with paths relative to it.
pub fn zip_folder(folder: &Path) -> Result<Vec<u8>, CoordinatorError> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![folder.to_owned()];
    let zip_error = |e: zip::result::ZipError| CoordinatorError::Export(format!("zip: {e}"));
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let name = path
            .strip_prefix(folder)
            .map_err(|_| CoordinatorError::Export("zip: path outside the package".into()))?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        writer.start_file(name, options).map_err(zip_error)?;
        writer.write_all(&bytes).map_err(io(&path))?;
    }
    Ok(writer.finish().map_err(zip_error)?.into_inner())
}
