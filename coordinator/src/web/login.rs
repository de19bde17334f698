//! Login and logout: an account (`quietcount-coordinator user add`) types its name and
//! password, checked against the Argon2id hash off the async threads, slowed after failures.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, Chrome, LOGIN_COOKIE, SESSION_COOKIE, User, Visitor, constant_time_eq, csrf_refused,
    render, session, session::random_token,
};

/// The login page.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    page: Chrome,
    province: String,
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
    password: String,
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
    let token = visitor
        .cookies
        .get(LOGIN_COOKIE)
        .filter(|t| t.len() == 64)
        .cloned()
        .unwrap_or_else(random_token);
    let page = Chrome {
        t: visitor.t,
        csrf: String::new(),
        user: None,
        manager: false,
        nav: "login",
        title: visitor.t.msg("login-title"),
        here: "/login".into(),
    };
    let mut response = render(&LoginPage {
        page,
        province: state.coordinator().config.province.clone(),
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

/// POST /login: slowed after failures, then the password check.
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
        tracing::warn!("dashboard login refused: missing or wrong CSRF token");
        return csrf_refused(visitor.t);
    }
    let name = form.name.trim().to_owned();
    let delay = state.inner.throttle.delay(&name);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let checked = {
        let state = state.clone();
        let name = name.clone();
        let password = Zeroizing::new(form.password);
        // Argon2id takes a good part of a second: off the async threads.
        tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current()
                .block_on(state.coordinator().authenticate(&name, &password))
        })
        .await
    };
    match checked {
        Ok(Ok(Some(role))) => {
            state.inner.throttle.succeeded(&name);
            let id = state
                .sessions()
                .start(session::account_session(&name, role));
            tracing::info!(user = %name, role = role.name(), "dashboard session started");
            let mut response = Redirect::to("/").into_response();
            let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "dashboard login could not be checked");
            let problem = visitor.t.msg("error-heading");
            login_page(&state, &visitor, false, Some(problem))
        }
        _ => {
            state.inner.throttle.failed(&name);
            tracing::warn!("dashboard login refused: wrong name or password");
            let problem = visitor.t.msg("login-refused");
            login_page(&state, &visitor, false, Some(problem))
        }
    }
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// POST /logout.
pub async fn logout(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.csrf_refusal(&form.csrf) {
        return refused;
    }
    state.sessions().end(&user.session_id);
    tracing::info!(user = %user.session.user, "dashboard session ended");
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
