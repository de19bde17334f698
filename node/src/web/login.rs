//! Login = unlock: staff choose their name and type the passphrase that unlocks the sealed
//! records; logout ends the session and drops the key.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, Chrome, LOGIN_COOKIE, SESSION_COOKIE, Staff, Visitor, constant_time_eq, csrf_refused,
    render, session, session::random_token,
};
use crate::Unlock;

/// The login page.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    page: Chrome,
    staff_names: Vec<String>,
    login_token: String,
    locked: bool,
    problem: Option<String>,
}

/// `?locked=1` after an idle lock.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    locked: Option<u8>,
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    name: String,
    passphrase: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn login_page(
    state: &AppState,
    visitor: &Visitor,
    locked: bool,
    problem: Option<String>,
) -> Response {
    let staff_names = match state.node().records_keys().keyring() {
        Ok(keyring) => keyring.staff().iter().map(|s| s.name.clone()).collect(),
        Err(error) => {
            tracing::error!(%error, "the records keyring cannot be read");
            Vec::new()
        }
    };
    let token = visitor
        .cookies
        .get(LOGIN_COOKIE)
        .filter(|t| t.len() == 64)
        .cloned()
        .unwrap_or_else(random_token);
    let page = Chrome {
        t: visitor.t,
        csrf: String::new(),
        staff: None,
        nav: "login",
        title: visitor.t.msg("login-title"),
    };
    let mut response = render(&LoginPage {
        page,
        staff_names,
        login_token: token.clone(),
        locked,
        problem,
    });
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// GET /login.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<LoginQuery>,
) -> Response {
    login_page(&state, &visitor, query.locked.is_some(), None)
}

/// POST /login: slowed after failures, then an unlock of the records key.
pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = visitor
        .cookies
        .get(LOGIN_COOKIE)
        .cloned()
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        tracing::warn!("web login refused: missing or wrong CSRF token");
        return csrf_refused(visitor.t);
    }
    let name = form.name.trim().to_owned();
    let delay = state.inner.throttle.delay(&name);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let keys = state.node().records_keys();
    let how = Unlock::Staff {
        name: name.clone(),
        passphrase: Zeroizing::new(form.passphrase),
    };
    // Argon2id takes a good part of a second: off the async threads.
    let unlocked = tokio::task::spawn_blocking(move || keys.unlock(&how)).await;
    match unlocked {
        Ok(Ok(key)) => {
            state.inner.throttle.succeeded(&name);
            let id = state.sessions().start(session::staff_session(&name, key));
            tracing::info!(staff = %name, "web session started");
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        _ => {
            state.inner.throttle.failed(&name);
            let problem = visitor.t.msg("login-refused");
            login_page(&state, &visitor, false, Some(problem))
        }
    }
}

/// A form with only the CSRF token (logout, retry).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm {
    /// The token sent.
    pub fn token(&self) -> &str {
        &self.csrf
    }
}

/// POST /logout.
pub async fn logout(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    state.sessions().end(&staff.session_id);
    tracing::info!(staff = %staff.session.staff, "web session ended");
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
