//! Sites: the list of enrolled sites with the enrol form (a manager pastes the site's public
//! key and types the fingerprint the site reads out: a mismatch is refused) and revocation;
//! and one site's page: its enrolment, key history with validity windows (worded in the page's
//! language from the registry entry's fields, as `keys::verify::key_window` words them in
//! English), and its reports of the last 12 periods with their receipts and revisions.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use quietcount_keys::short_fingerprint;
use quietcount_protocol::{KeyEndReason, Period, RegistryEntry, SiteId};
use serde::Deserialize;

use super::i18n::Tr;
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
    /// What this revision changed since the previous one (`None`: the first revision, or the
    /// previous one is not among those shown).
    changes: Option<ChangeView>,
}

/// What a revision changed, as the site page shows it.
#[derive(Debug)]
pub struct ChangeView {
    records: String,
    cells_line: String,
    cells: Vec<String>,
    more: Option<String>,
}

impl ChangeView {
    fn new(t: Tr, changes: super::revisions::RevisionChanges) -> Self {
        let named = changes.cells.len();
        Self {
            records: changes.records,
            cells_line: t.arg(
                "site-changed-cells",
                "count",
                &t.num(changes.cell_count as u64),
            ),
            more: (changes.cell_count > named).then(|| {
                t.arg(
                    "site-changed-more",
                    "count",
                    &t.num((changes.cell_count - named) as u64),
                )
            }),
            cells: changes.cells,
        }
    }
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
                    window: key_window(user.t, &k.registry_entry()),
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
    // Stored envelopes were verified at ingest; they open with the key that signed them, one
    // of the site's keys (perhaps since replaced).
    let open = |envelope: &[u8]| {
        quietcount_protocol::open_with::<quietcount_protocol::SiteReport>(envelope, |kid| {
            keys.iter()
                .find(|k| k.fingerprint() == *kid)
                .map(|k| k.public_key)
        })
        .map(|opened| opened.payload)
        .map_err(|error| tracing::warn!(%error, "a stored report does not open"))
        .ok()
    };
    for period in periods {
        let mut previous: Option<quietcount_protocol::SiteReport> = None;
        for r in coordinator.store.reports_of_period(period).await? {
            if &r.site == site {
                let content = open(&r.envelope);
                let changes = match (&previous, &content) {
                    (Some(before), Some(after))
                        if before.form == after.form && before.revision + 1 == after.revision =>
                    {
                        let form = coordinator
                            .forms
                            .iter()
                            .map(|f| &f.form)
                            .find(|f| f.id == r.form.id && f.version == r.form.version);
                        Some(ChangeView::new(
                            t,
                            super::revisions::changes(t, form, before, after),
                        ))
                    }
                    _ => None,
                };
                previous = content;
                reports.push(ReportLine {
                    period: r.period.to_string(),
                    form: format!("{} v{}", r.form.id, r.form.version),
                    revision: r.revision,
                    received: t.date_time(r.received_at),
                    hash: hex::encode(&r.hash.0[..8]),
                    receipt_bytes: r.receipt.len(),
                    changes,
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
                window: key_window(t, &k.registry_entry()),
                open: k.is_open(),
            })
            .collect(),
        reports,
    }))
}

/// A key's validity window in `t`'s words and time zone: when it was enrolled, then when it
/// was retired (replaced by a newer key) or revoked (since when, why, recorded when), or until
/// when it is valid. The same cases as `keys::verify::key_window`, from the same fields.
pub fn key_window(t: Tr, entry: &RegistryEntry) -> String {
    let enrolled = t.arg(
        "key-window-enrolled",
        "time",
        &t.date_time(entry.enrolled_at),
    );
    let Some(until) = entry.valid_until else {
        return enrolled;
    };
    match entry.ended {
        Some(end) if end.reason.is_retirement() => t.args(
            "key-window-retired",
            &[
                ("enrolled", &enrolled),
                ("time", &t.date_time(end.recorded_at)),
            ],
        ),
        Some(end) if end.recorded_at != until => t.args(
            "key-window-revoked-since",
            &[
                ("enrolled", &enrolled),
                ("since", &t.date_time(until)),
                ("reason", &reason_words(t, end.reason)),
                ("recorded", &t.date_time(end.recorded_at)),
            ],
        ),
        Some(end) => t.args(
            "key-window-revoked",
            &[
                ("enrolled", &enrolled),
                ("time", &t.date_time(until)),
                ("reason", &reason_words(t, end.reason)),
            ],
        ),
        None => t.args(
            "key-window-valid-until",
            &[("enrolled", &enrolled), ("time", &t.date_time(until))],
        ),
    }
}

/// Why a key's window ended, in `t`'s words.
fn reason_words(t: Tr, reason: KeyEndReason) -> String {
    t.msg(match reason {
        KeyEndReason::Replaced => "reason-replaced",
        KeyEndReason::Compromised => "reason-compromised",
        KeyEndReason::Lost => "reason-lost",
        KeyEndReason::SiteClosed => "reason-site-closed",
    })
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
    /// Whom to call about the site (a staff member's name and phone), if given.
    #[serde(default)]
    contact: String,
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
            if !form.contact.trim().is_empty() {
                if let Err(error) = coordinator
                    .set_site_contact(&site, &form.contact, now)
                    .await
                {
                    return error_page(chrome, &error, "/sites");
                }
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
                ("window", &key_window(user.t, &key.registry_entry())),
            );
            done_page(chrome, vec![line], "/sites")
        }
        Err(error) => error_page(chrome, &error, "/sites"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;
    use quietcount_protocol::KeyEnd;

    fn entry(valid_until: Option<u64>, ended: Option<KeyEnd>) -> RegistryEntry {
        RegistryEntry {
            site: SiteId::new("hn-01").unwrap(),
            name: "Site".into(),
            public_key: quietcount_protocol::signed::PublicKeyBytes([7; 32]),
            // 2026-10-01 03:00 UTC: 10:00 in Hanoi.
            enrolled_at: 1_790_823_600,
            valid_until,
            ended,
            reports_from: None,
        }
    }

    #[test]
    fn key_windows_are_worded_in_the_pages_language_from_the_fields() {
        let vi = Tr::new(Lang::Vi);
        let en = Tr::new(Lang::En);
        let open = entry(None, None);
        assert_eq!(key_window(vi, &open), "đăng ký 01/10/2026 10:00");
        assert_eq!(key_window(en, &open), "enrolled 01/10/2026 10:00");
        let day = 86_400;
        let retired = entry(
            Some(1_790_823_600 + day),
            Some(KeyEnd {
                reason: KeyEndReason::Replaced,
                recorded_at: 1_790_823_600 + day,
            }),
        );
        let text = key_window(vi, &retired);
        assert!(text.contains("ngừng dùng 02/10/2026 10:00"), "{text}");
        assert!(key_window(en, &retired).contains("retired 02/10/2026 10:00"));
        let revoked_since = entry(
            Some(1_790_823_600 + day),
            Some(KeyEnd {
                reason: KeyEndReason::Compromised,
                recorded_at: 1_790_823_600 + 2 * day,
            }),
        );
        let text = key_window(vi, &revoked_since);
        assert!(
            text.contains("thu hồi từ 02/10/2026 10:00")
                && text.contains("Bị lộ")
                && text.contains("03/10/2026 10:00"),
            "{text}"
        );
        let text = key_window(en, &revoked_since);
        assert!(
            text.contains("revoked since") && text.contains("Compromised"),
            "{text}"
        );
        // The English words say what keys::verify::key_window says, case by case.
        for entry in [&open, &retired, &revoked_since] {
            let english = quietcount_keys::verify::key_window(entry);
            let ours = key_window(en, entry);
            for word in ["enrolled", "retired", "revoked since", "valid until"] {
                assert_eq!(
                    english.contains(word),
                    ours.contains(word),
                    "{english} / {ours}"
                );
            }
        }
    }
}
