//! Sites: the list of enrolled sites with the enrol form (a manager pastes the site's public
//! key and types the fingerprint the site reads out: a mismatch is refused) and revocation;
//! and one site's page: its enrolment, key history with validity windows (as
//! `keys::verify::key_window` words them), and its reports of the last 12 periods with their
//! receipts and revisions.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use quietcount_keys::short_fingerprint;
use quietcount_keys::verify::key_window;
use quietcount_protocol::{KeyEndReason, Period, SiteId};
use serde::Deserialize;

use super::{
    AppState, Chrome, User, bad_request, done_page, error_page, now, period_type, recent_periods,
    render, session::random_token,
};
use crate::error::CoordinatorError;

/// The sites list.
#[derive(Debug, Template)]
#[template(path = "sites.html")]
pub struct SitesPage {
    page: Chrome,
    sites: Vec<KeyLine>,
}

/// One key of a site.
#[derive(Debug)]
pub struct KeyLine {
    site: String,
    name: String,
    fingerprint: String,
    window: String,
    open: bool,
}

/// One site's page.
#[derive(Debug, Template)]
#[template(path = "site.html")]
pub struct SitePage {
    page: Chrome,
    site: String,
    name: String,
    enrolled: String,
    keys: Vec<KeyLine>,
    reports: Vec<ReportLine>,
    active: bool,
}

/// One report received from the site.
#[derive(Debug)]
pub struct ReportLine {
    period: String,
    form: String,
    revision: u32,
    received: String,
    hash: String,
    receipt_bytes: usize,
}

/// `?id=SITE`.
#[derive(Debug, Deserialize)]
pub struct SiteQuery {
    id: String,
}

/// GET /sites.
pub async fn list(State(state): State<AppState>, user: User) -> Response {
    match state.coordinator().sites().await {
        Ok(keys) => {
            let mut sites: Vec<KeyLine> = keys
                .iter()
                .map(|k| KeyLine {
                    site: k.site.to_string(),
                    name: k.name.clone(),
                    fingerprint: short_fingerprint(&k.fingerprint()),
                    window: key_window(&k.registry_entry()),
                    open: k.is_open(),
                })
                .collect();
            sites.sort_by(|a, b| a.site.cmp(&b.site));
            render(&SitesPage {
                page: user.chrome("sites", "sites-title"),
                sites,
            })
        }
        Err(error) => error_page(user.chrome("sites", "sites-title"), &error, "/"),
    }
}

/// GET /site?id=SITE.
pub async fn page(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<SiteQuery>,
) -> Response {
    let Ok(site) = query.id.parse::<SiteId>() else {
        return bad_request(user.chrome("sites", "site-title"), "/sites");
    };
    match site_page(&state, &user, &site).await {
        Ok(Some(page)) => render(&page),
        Ok(None) => bad_request(user.chrome("sites", "site-title"), "/sites"),
        Err(error) => error_page(user.chrome("sites", "site-title"), &error, "/sites"),
    }
}

async fn site_page(
    state: &AppState,
    user: &User,
    site: &SiteId,
) -> Result<Option<SitePage>, CoordinatorError> {
    let t = user.t;
    let coordinator = state.coordinator();
    let keys: Vec<_> = coordinator
        .sites()
        .await?
        .into_iter()
        .filter(|k| &k.site == site)
        .collect();
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return Ok(None);
    };
    let mut reports = Vec::new();
    let mut periods = recent_periods(period_type(coordinator), now(), 12);
    periods.reverse();
    for period in periods {
        for r in coordinator.store.reports_of_period(period).await? {
            if &r.site == site {
                reports.push(ReportLine {
                    period: r.period.to_string(),
                    form: format!("{} v{}", r.form.id, r.form.version),
                    revision: r.revision,
                    received: t.date_time(r.received_at),
                    hash: hex::encode(&r.hash.0[..8]),
                    receipt_bytes: r.receipt.len(),
                });
            }
        }
    }
    Ok(Some(SitePage {
        page: user.chrome("sites", "site-title"),
        site: site.to_string(),
        name: last.name.clone(),
        enrolled: t.date_time(first.enrolled_at),
        active: last.is_open(),
        keys: keys
            .iter()
            .rev()
            .map(|k| KeyLine {
                site: k.site.to_string(),
                name: k.name.clone(),
                fingerprint: short_fingerprint(&k.fingerprint()),
                window: key_window(&k.registry_entry()),
                open: k.is_open(),
            })
            .collect(),
        reports,
    }))
}

/// The enrol form.
#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    csrf: String,
    site: String,
    name: String,
    /// The site's public key (PEM), pasted.
    key: String,
    /// The short fingerprint the site read out.
    fingerprint: String,
    /// The first period the site must report for, when not the current one.
    #[serde(default)]
    reports_from: String,
}

/// POST /sites/enrol (managers): refused unless the key's fingerprint is the one typed.
pub async fn enrol(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<EnrolForm>,
) -> Response {
    if let Some(refused) = user.manager_refusal(&form.csrf, "/sites") {
        return refused;
    }
    let chrome = user.chrome("sites", "sites-title");
    let Ok(site) = form.site.trim().parse::<SiteId>() else {
        return bad_request(chrome, "/sites");
    };
    let reports_from = match form.reports_from.trim() {
        "" => None,
        text => match text.parse::<Period>() {
            Ok(period) => Some(period),
            Err(_) => return bad_request(chrome, "/sites"),
        },
    };
    if form.fingerprint.trim().is_empty() || form.name.trim().is_empty() {
        return bad_request(chrome, "/sites");
    }
    let coordinator = state.coordinator();
    // `enroll` reads the key from a file, as the command line does.
    let dir = coordinator.dir.join("run");
    let path = dir.join(format!("enrol-{}.pub", &random_token()[..16]));
    if let Err(error) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, form.key.trim().as_bytes()))
    {
        return error_page(chrome, &crate::error::io(&path)(error), "/sites");
    }
    let now = now();
    let result = coordinator
        .enroll(
            &site,
            form.name.trim(),
            &path,
            Some(form.fingerprint.trim()),
            reports_from,
            now,
        )
        .await;
    if let Err(error) = std::fs::remove_file(&path) {
        tracing::warn!(%error, "temporary key file could not be removed");
    }
    match result {
        Ok(summary) => {
            let detail = format!("{site} {}", summary.short_fingerprint);
            if let Err(error) = coordinator
                .audit(&user.session.user, "enrol", &detail, now)
                .await
            {
                return error_page(chrome, &error, "/sites");
            }
            let t = user.t;
            let mut lines = vec![t.args2(
                "sites-enrolled",
                ("site", site.as_str()),
                ("fingerprint", &summary.short_fingerprint),
            )];
            if summary.replaced_keys > 0 {
                lines.push(t.msg("sites-replaced"));
            }
            done_page(chrome, lines, "/sites")
        }
        Err(error) => error_page(chrome, &error, "/sites"),
    }
}

/// The revoke form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    site: String,
    reason: String,
}

/// POST /sites/revoke (managers): the site's key stops counting from now.
pub async fn revoke(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(refused) = user.manager_refusal(&form.csrf, "/sites") {
        return refused;
    }
    let chrome = user.chrome("sites", "sites-title");
    let (Ok(site), Some(reason)) = (
        form.site.parse::<SiteId>(),
        KeyEndReason::parse(&form.reason).filter(|r| !r.is_retirement()),
    ) else {
        return bad_request(chrome, "/sites");
    };
    let coordinator = state.coordinator();
    let now = now();
    match coordinator.revoke(&site, reason, None, now).await {
        Ok(key) => {
            let detail = format!("{site} {reason}");
            if let Err(error) = coordinator
                .audit(&user.session.user, "revoke", &detail, now)
                .await
            {
                return error_page(chrome, &error, "/sites");
            }
            let line = user.t.args2(
                "sites-revoked",
                ("site", site.as_str()),
                ("window", &key_window(&key.registry_entry())),
            );
            done_page(chrome, vec![line], "/sites")
        }
        Err(error) => error_page(chrome, &error, "/sites"),
    }
}
