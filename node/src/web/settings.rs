//! Settings: staff (add, remove, change one's passphrase; each confirmed with the passphrase
//! of the staff member logged in), a backup to a chosen folder (a USB stick), and the site's
//! fingerprint and coordinator address.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{AppState, Chrome, MessagePage, Staff, error_page, render};
use crate::Unlock;

/// The settings page.
#[derive(Debug, Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    page: Chrome,
    staff: Vec<(String, String)>,
    site: String,
    fingerprint: String,
    coordinator: String,
    address: String,
    idle: String,
    min_passphrase: String,
}

/// GET /settings.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Response {
    let t = staff.t;
    let node = state.node();
    let members = match node.keyring() {
        Ok(keyring) => keyring
            .staff()
            .iter()
            .map(|s| (s.name.clone(), t.date(s.changed_at)))
            .collect(),
        Err(error) => return error_page(staff.chrome("settings", "settings-title"), &error, "/"),
    };
    let fingerprint = quietcount_keys::short_fingerprint(&node.identity().fingerprint());
    render(&SettingsPage {
        page: staff.chrome("settings", "settings-title"),
        staff: members,
        site: node.config().site.to_string(),
        fingerprint,
        coordinator: node.config().coordinator.clone(),
        address: super::running_url(&node.dir().root).unwrap_or_default(),
        idle: (state.inner.options.idle.as_secs() / 60).max(1).to_string(),
        min_passphrase: crate::sealed::MIN_PASSPHRASE_CHARS.to_string(),
    })
}

/// A staff form: the logged-in member's passphrase, and what to change.
#[derive(Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    new_passphrase: String,
    #[serde(default)]
    repeat: String,
}

impl std::fmt::Debug for StaffForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffForm")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn done(staff: &Staff, heading_key: &str, line: String) -> Response {
    render(&MessagePage {
        heading: staff.t.msg(heading_key),
        page: staff.chrome("settings", "settings-title"),
        lines: vec![line],
        problem: false,
        back: "/settings",
    })
}

fn refused(staff: &Staff, line: String) -> Response {
    render(&MessagePage {
        heading: staff.t.msg("error-heading"),
        page: staff.chrome("settings", "settings-title"),
        lines: vec![line],
        problem: true,
        back: "/settings",
    })
}

/// A library refusal, in the page's language (its English text goes to the log).
fn refused_by(staff: &Staff, error: &crate::NodeError) -> Response {
    tracing::warn!(%error, "settings action refused");
    refused(staff, super::refusals::describe(staff.t, error))
}

fn passphrase_rules(t: super::i18n::Tr) -> String {
    t.arg(
        "staff-passphrase-rules",
        "min",
        &crate::sealed::MIN_PASSPHRASE_CHARS.to_string(),
    )
}

fn me(staff: &Staff, form: &StaffForm) -> Unlock {
    Unlock::Staff {
        name: staff.session.staff.clone(),
        passphrase: Zeroizing::new(form.current.clone()),
    }
}

/// Runs a keyring change off the async threads (Argon2id). `None`: the task did not finish
/// (the service is stopping).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::NodeError> + Send + 'static,
) -> Option<Result<T, crate::NodeError>> {
    tokio::task::spawn_blocking(work).await.ok()
}

/// POST /settings/staff/add.
pub async fn add_staff(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<StaffForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    let name = form.name.trim().to_owned();
    if name.is_empty()
        || form.new_passphrase.chars().count() < crate::sealed::MIN_PASSPHRASE_CHARS
        || form.new_passphrase != form.repeat
    {
        return refused(&staff, passphrase_rules(t));
    }
    let keys = state.node().records_keys();
    let how = me(&staff, &form);
    let passphrase = Zeroizing::new(form.new_passphrase.clone());
    let kdf = state.inner.options.staff_kdf;
    let who = name.clone();
    match blocking(move || keys.add_staff(&how, &who, &passphrase, kdf)).await {
        Some(Ok(())) => done(
            &staff,
            "staff-added-heading",
            t.arg("staff-added", "name", &name),
        ),
        Some(Err(error)) => refused_by(&staff, &error),
        None => refused(&staff, t.msg("error-interrupted")),
    }
}

/// POST /settings/staff/remove.
pub async fn remove_staff(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<StaffForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    let name = form.name.trim().to_owned();
    let keys = state.node().records_keys();
    let how = me(&staff, &form);
    let who = name.clone();
    match blocking(move || keys.remove_staff(&how, &who)).await {
        Some(Ok(())) => done(
            &staff,
            "staff-removed-heading",
            t.arg("staff-removed", "name", &name),
        ),
        Some(Err(error)) => refused_by(&staff, &error),
        None => refused(&staff, t.msg("error-interrupted")),
    }
}

/// POST /settings/passphrase: the logged-in member's own passphrase.
pub async fn change_passphrase(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<StaffForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    if form.new_passphrase.chars().count() < crate::sealed::MIN_PASSPHRASE_CHARS
        || form.new_passphrase != form.repeat
    {
        return refused(&staff, passphrase_rules(t));
    }
    let keys = state.node().records_keys();
    let how = me(&staff, &form);
    let name = staff.session.staff.clone();
    let passphrase = Zeroizing::new(form.new_passphrase.clone());
    let kdf = state.inner.options.staff_kdf;
    match blocking(move || keys.change_passphrase(&how, &name, &passphrase, kdf)).await {
        Some(Ok(())) => done(
            &staff,
            "passphrase-changed-heading",
            t.msg("passphrase-changed"),
        ),
        Some(Err(error)) => refused_by(&staff, &error),
        None => refused(&staff, t.msg("error-interrupted")),
    }
}

/// The backup form.
#[derive(Debug, Deserialize)]
pub struct BackupForm {
    #[serde(default)]
    csrf: String,
    folder: String,
}

/// POST /settings/backup: a new folder with a consistent copy of the data directory.
pub async fn backup(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<BackupForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    let folder = std::path::PathBuf::from(form.folder.trim());
    if !folder.is_absolute() {
        return refused(&staff, t.msg("backup-absolute"));
    }
    match state.node().backup(&folder).await {
        Ok(()) => done(
            &staff,
            "backup-done-heading",
            t.arg("backup-done", "folder", &folder.display().to_string()),
        ),
        Err(error) => refused_by(&staff, &error),
    }
}
