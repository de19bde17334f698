//! Conflicts: every contested slot (a site signed two different reports for one revision)
//! with the stored envelope and the kept evidence side by side, the province's latest
//! decision, and for managers the form that records which envelope the province accepts
//! (as `resolve` does; the decision is audited, nothing is deleted).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use quietcount_protocol::{Period, SiteId};
use serde::Deserialize;

use super::{AppState, Chrome, User, bad_request, done_page, error_page, now, render};
use crate::conflicts::ResolveRequest;

/// The conflicts page.
#[derive(Debug, Template)]
#[template(path = "conflicts.html")]
pub struct ConflictsPage {
    page: Chrome,
    conflicts: Vec<ConflictView>,
}

/// One contested slot as shown.
#[derive(Debug)]
pub struct ConflictView {
    site: String,
    period: String,
    revision: u32,
    form: String,
    stored_hash: String,
    stored_at: String,
    evidence_hash: String,
    evidence_at: String,
    later: u64,
    decision: Option<String>,
}

/// GET /conflicts.
pub async fn page(State(state): State<AppState>, user: User) -> Response {
    let t = user.t;
    match state.coordinator().conflicts(None).await {
        Ok(list) => {
            let conflicts = list
                .iter()
                .rev()
                .map(|c| ConflictView {
                    site: c.site.to_string(),
                    period: c.period.to_string(),
                    revision: c.revision,
                    form: c
                        .form
                        .as_ref()
                        .map_or_else(String::new, |f| format!("{} v{}", f.id, f.version)),
                    stored_hash: c
                        .stored
                        .as_ref()
                        .map_or_else(String::new, |(h, _)| hex::encode(h.0)),
                    stored_at: c
                        .stored
                        .as_ref()
                        .map_or_else(String::new, |(_, at)| t.date_time(*at)),
                    evidence_hash: hex::encode(c.evidence.0),
                    evidence_at: t.date_time(c.evidence_received_at),
                    later: c.later_conflicts,
                    decision: c.resolution.as_ref().map(|r| {
                        let hash = hex::encode(r.accepted.0);
                        t.args2(
                            "conflicts-decided",
                            ("hash", hash.get(..16).unwrap_or(&hash)),
                            (
                                "who",
                                &format!("{} {}", r.decided_by, t.date_time(r.decided_at)),
                            ),
                        )
                    }),
                })
                .collect();
            render(&ConflictsPage {
                page: user.chrome("conflicts", "conflicts-title"),
                conflicts,
            })
        }
        Err(error) => error_page(user.chrome("conflicts", "conflicts-title"), &error, "/"),
    }
}

/// The resolve form.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    site: String,
    period: String,
    revision: u32,
    accept: String,
    #[serde(default)]
    note: String,
}

/// POST /conflicts/resolve (managers).
pub async fn resolve(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<ResolveForm>,
) -> Response {
    if let Some(refused) = user.manager_refusal(&form.csrf, "/conflicts") {
        return refused;
    }
    let chrome = user.chrome("conflicts", "conflicts-title");
    let (Ok(site), Ok(period)) = (form.site.parse::<SiteId>(), form.period.parse::<Period>())
    else {
        return bad_request(chrome, "/conflicts");
    };
    let coordinator = state.coordinator();
    let now = now();
    let request = ResolveRequest {
        site: &site,
        period,
        revision: Some(form.revision),
        accept: form.accept.trim(),
        decided_by: &user.session.user,
        note: form.note.trim(),
    };
    match coordinator.resolve(&request, now).await {
        Ok(_) => {
            let detail = format!(
                "{site} {period} r{} accept {}",
                form.revision,
                form.accept.trim().get(..16).unwrap_or(form.accept.trim())
            );
            if let Err(error) = coordinator
                .audit(&user.session.user, "resolve", &detail, now)
                .await
            {
                return error_page(chrome, &error, "/conflicts");
            }
            let line = user.t.args2(
                "conflicts-resolved",
                ("site", site.as_str()),
                ("period", &period.to_string()),
            );
            done_page(chrome, vec![line], "/conflicts")
        }
        Err(error) => error_page(chrome, &error, "/conflicts"),
    }
}
