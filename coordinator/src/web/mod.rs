//! The province's dashboard that `quietcount-coordinator run` serves beside the QUIC server
//! (same runtime; by default on 127.0.0.1:8480 only, and never plain HTTP off this machine):
//! completeness, sites, conflicts, periods, totals and exports in a browser, Vietnamese first,
//! English one click away.
//!
//! A thin shell over [`Coordinator`]: each handler parses the request into typed values, calls
//! the library method the command line calls, and renders the result with a compiled template
//! (`coordinator/templates/`, escaping on). Nothing is fetched from the internet: the style
//! sheet is embedded, charts are SVG drawn on the server, and no page needs JavaScript.
//!
//! - [`session`]: in-memory sessions in HttpOnly SameSite=Strict cookies, idle lock, slowed
//!   failed logins; [`login`]: accounts (`user add`) log in with Argon2id-checked passwords.
//! - [`i18n`]: the message catalogues (Fluent), numbers, rates, dates and times.
//! - [`revisions`]: what each revision of a site's report changed, for the site page.
//! - one module per page: [`grid`], [`sites`], [`conflicts`], [`period`], [`totals`],
//!   [`exports`], [`audit`].
//!
//! Viewers read; managers act (enrol, revoke, resolve, publish), and every manager action is
//! written to the audit table with who and when. Every POST carries the session's CSRF token
//! (the login form a per-visitor one); every answer is `Cache-Control: no-store`.

pub mod audit;
pub mod conflicts;
pub mod exports;
pub mod grid;
pub mod i18n;
pub mod login;
pub mod period;
pub mod revisions;
pub mod session;
pub mod sites;
pub mod totals;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use quietcount_protocol::{Period, PeriodType, UnixTime};

use crate::accounts::Role;
use crate::admin::Coordinator;
use crate::error::CoordinatorError;
use i18n::{Lang, Tr};
use session::{Lookup, Session, Sessions, Throttle};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "qc_dash_session";
/// Name of the login form's per-visitor CSRF cookie.
pub const LOGIN_COOKIE: &str = "qc_dash_login";
/// Name of the language cookie.
pub const LANG_COOKIE: &str = "qc_lang";
/// File in the coordinator's `run/` folder where `run` writes the dashboard's address.
pub const ADDRESS_FILE: &str = "run/dashboard-address";
/// Largest request body accepted (a public key pasted into the enrol form is far smaller).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How the dashboard behaves.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Idle time after which a session locks itself.
    pub idle: Duration,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    coordinator: Arc<Coordinator>,
    sessions: Sessions,
    throttle: Throttle,
}

impl AppState {
    /// State for `coordinator`.
    pub fn new(coordinator: Arc<Coordinator>, options: &WebOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                coordinator,
                sessions: Sessions::new(options.idle),
                throttle: Throttle::default(),
            }),
        }
    }

    /// The coordinator.
    pub fn coordinator(&self) -> &Coordinator {
        &self.inner.coordinator
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
}

/// The dashboard's routes (tests call it without a socket).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(grid::page))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/sites", get(sites::list))
        .route("/site", get(sites::page))
        .route("/sites/enrol", post(sites::enrol))
        .route("/sites/revoke", post(sites::revoke))
        .route("/conflicts", get(conflicts::page))
        .route("/conflicts/resolve", post(conflicts::resolve))
        .route("/period", get(period::page))
        .route("/period/publish", post(period::publish))
        .route("/period/lock", post(period::lock))
        .route("/period/unlock", post(period::unlock))
        .route("/period/package.zip", get(period::package_zip))
        .route("/totals", get(totals::page))
        .route("/export", get(exports::download))
        .route("/audit", get(audit::page))
        .route("/assets/app.css", get(stylesheet))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(translate_rejections))
        .layer(axum::middleware::from_fn(headers_and_language))
        .with_state(state)
}

/// The dashboard's bound socket, and its TLS acceptor when `tls_cert` and `tls_key` are set.
pub struct DashboardListener {
    tcp: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for DashboardListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardListener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl DashboardListener {
    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The address people type (`https://` when served over TLS).
    pub fn url(&self) -> std::io::Result<String> {
        let address = self.local_addr()?;
        Ok(match self.tls {
            Some(_) => format!("https://{address}/"),
            None => web_url(address),
        })
    }
}

/// The TLS server configuration from the PEM files of `[dashboard]` (relative paths are
/// relative to the coordinator's folder).
fn tls_acceptor(
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, CoordinatorError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let problem = |path: &std::path::Path, what: String| {
        CoordinatorError::Dashboard(format!("tls: {}: {what}", path.display()))
    };
    let cert_path = dir.join(cert);
    let key_path = dir.join(key);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| problem(&cert_path, format!("cannot read a PEM certificate ({e})")))?
        .collect::<Result<_, _>>()
        .map_err(|e| problem(&cert_path, format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(problem(&cert_path, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| problem(&key_path, format!("not a PEM private key ({e})")))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CoordinatorError::Dashboard(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| problem(&cert_path, format!("does not match its key ({e})")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Binds the dashboard's address, refusing plain HTTP off this machine (one sentence), and
/// writes its URL to `run/dashboard-address`. With `tls_cert` and `tls_key`, the dashboard is
/// served over TLS (and its cookies are `Secure`).
pub async fn bind(
    coordinator: &Coordinator,
    listen: Option<SocketAddr>,
) -> Result<DashboardListener, CoordinatorError> {
    let mut settings = coordinator.config.dashboard.clone();
    if let Some(listen) = listen {
        settings.listen = listen;
    }
    settings.check().map_err(CoordinatorError::Dashboard)?;
    let tls = settings
        .tls()
        .map(|(cert, key)| tls_acceptor(&coordinator.dir, cert, key))
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| {
            CoordinatorError::Dashboard(format!("cannot listen on {}: {e}", settings.listen))
        })?;
    let bound = listener.local_addr().map_err(|e| {
        CoordinatorError::Dashboard(format!("cannot listen on {}: {e}", settings.listen))
    })?;
    let file = coordinator.dir.join(ADDRESS_FILE);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(crate::error::io(parent))?;
    }
    let listener = DashboardListener { tcp: listener, tls };
    let url = listener.url().unwrap_or_else(|_| web_url(bound));
    quietcount_service::files::write_atomic(&file, url.as_bytes(), 0o600)
        .map_err(|e| CoordinatorError::Dashboard(format!("{}: {e}", file.display())))?;
    Ok(listener)
}

/// The address people type: `http://127.0.0.1:8480/`.
pub fn web_url(address: SocketAddr) -> String {
    format!("http://{address}/")
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    coordinator: Arc<Coordinator>,
    listener: DashboardListener,
    options: WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CoordinatorError> {
    let url = listener.url().ok();
    let state = AppState::new(coordinator, &options);
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let locked = state.sessions().lock_idle();
                if locked > 0 {
                    tracing::info!(sessions = locked, "idle dashboard sessions locked");
                }
            }
        })
    };
    if let Some(url) = &url {
        tracing::info!(%url, "dashboard listening");
    }
    let result = match listener.tls {
        None => axum::serve(listener.tcp, router(state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| CoordinatorError::Dashboard(format!("serving stopped: {e}"))),
        Some(acceptor) => {
            let app = router(state).layer(axum::middleware::from_fn(secure_cookies));
            serve_tls(listener.tcp, acceptor, app, shutdown).await;
            Ok(())
        }
    };
    sweeper.abort();
    result
}

/// Serves `app` over TLS: one task per connection, HTTP/1.1; a handshake that fails (a plain
/// HTTP request, a scanner) ends that connection only.
async fn serve_tls(
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "dashboard accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "dashboard TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %error, "dashboard connection ended with an error");
            }
        });
    }
}

/// Marks every cookie `Secure` (the dashboard is served over TLS): a browser then never sends
/// the session over plain HTTP.
async fn secure_cookies(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let secured = cookie
            .to_str()
            .ok()
            .and_then(|text| HeaderValue::from_str(&format!("{text}; Secure")).ok())
            .unwrap_or(cookie);
        headers.append(header::SET_COOKIE, secured);
    }
    response
}

/// Security headers on every answer and the language cookie ([`quietcount_service::web`]).
async fn headers_and_language(request: Request, next: Next) -> Response {
    quietcount_service::web::security_headers_and_language(LANG_COOKIE, request, next).await
}

/// A message page for a visitor who is not (or not yet known to be) logged in.
fn anonymous_chrome(t: Tr) -> Chrome {
    Chrome {
        t,
        csrf: String::new(),
        user: None,
        manager: false,
        nav: "",
        title: t.msg("error-heading"),
        here: "/".into(),
    }
}

/// Axum's own refusals of a malformed request become the bad-request page in the visitor's
/// language ([`quietcount_service::web::replace_plain_refusals`]).
async fn translate_rejections(request: Request, next: Next) -> Response {
    quietcount_service::web::replace_plain_refusals(LANG_COOKIE, request, next, |code, _| {
        let lang = code.and_then(parse_lang).unwrap_or(Lang::Vi);
        bad_request(anonymous_chrome(Tr::new(lang)), "/")
    })
    .await
}

/// Any address the dashboard does not serve: 404 with a sentence in the visitor's language.
async fn not_found(visitor: Visitor) -> Response {
    let page = anonymous_chrome(visitor.t);
    let heading = page.t.msg("error-heading");
    let line = page.t.msg("error-not-found");
    let mut response = render(&MessagePage {
        page,
        heading,
        lines: vec![line],
        problem: true,
        back: "/",
    });
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn stylesheet() -> Response {
    // The shared style sheet, then the dashboard's grid, legend and chart rules.
    quietcount_service::web::stylesheet(include_str!("../../assets/app.css"))
}

fn parse_lang(text: &str) -> Option<Lang> {
    match quietcount_service::web::language_code(text)? {
        "vi" => Some(Lang::Vi),
        _ => Some(Lang::En),
    }
}

fn query_lang(query: Option<&str>) -> Option<Lang> {
    quietcount_service::web::query_language(query).and_then(parse_lang)
}

pub use quietcount_service::web::{constant_time_eq, cookies};

/// The language of a request: the URL's `?lang=`, else the cookie, else Vietnamese.
fn request_lang(parts: &Parts) -> Lang {
    query_lang(parts.uri.query())
        .or_else(|| {
            cookies(&parts.headers)
                .get(LANG_COOKIE)
                .and_then(|l| parse_lang(l))
        })
        .unwrap_or(Lang::Vi)
}

/// Anyone: the language and the cookies.
#[derive(Debug)]
pub struct Visitor {
    /// Words in the visitor's language.
    pub t: Tr,
    /// The request's cookies.
    pub cookies: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            t: Tr::new(request_lang(parts)),
            cookies: cookies(&parts.headers),
        })
    }
}

/// A logged-in account; anyone else is sent to the login page (which says when the session
/// locked itself).
#[derive(Debug)]
pub struct User {
    /// Words in the user's language.
    pub t: Tr,
    /// The session.
    pub session: Session,
    /// The session id (its cookie).
    pub session_id: String,
    /// The path and query asked for, so that the language switch returns to it.
    pub here: String,
}

impl<S> FromRequestParts<S> for User
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let t = Tr::new(request_lang(parts));
        let id = cookies(&parts.headers).remove(SESSION_COOKIE);
        let lookup = match &id {
            Some(id) => state.sessions().get(id),
            None => Lookup::None,
        };
        let here = here(parts);
        match (lookup, id) {
            (Lookup::Active(session), Some(session_id)) => {
                // An account removed, or given another role, since login: its session ends.
                let current = state.coordinator().store.user(&session.user).await;
                let still = matches!(
                    &current,
                    Ok(Some(user)) if Role::parse(&user.role) == Some(session.role)
                );
                if !still {
                    if let Err(error) = &current {
                        tracing::error!(%error, "dashboard account could not be checked");
                    }
                    session::end_user(state.sessions(), &session.user);
                    return Err(Redirect::to("/login").into_response());
                }
                Ok(Self {
                    t,
                    session,
                    session_id,
                    here,
                })
            }
            (Lookup::Locked, _) => Err(Redirect::to("/login?locked=1").into_response()),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// The request's path and query without any `lang=` pair.
fn here(parts: &Parts) -> String {
    let path = parts.uri.path().to_owned();
    let query: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .collect();
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

impl User {
    /// The refusal of a form whose CSRF token is not this session's (`None`: it is).
    pub fn csrf_refusal(&self, token: &str) -> Option<Response> {
        if constant_time_eq(token.as_bytes(), self.session.csrf.as_bytes()) {
            None
        } else {
            tracing::warn!("dashboard form refused: missing or wrong CSRF token");
            Some(csrf_refused(self.t))
        }
    }

    /// The refusal of an action for a viewer (`None`: a manager, who may), after the CSRF
    /// check.
    pub fn manager_refusal(&self, token: &str, back: &'static str) -> Option<Response> {
        if let Some(refused) = self.csrf_refusal(token) {
            return Some(refused);
        }
        if self.session.role == Role::Manager {
            return None;
        }
        tracing::warn!(user = %self.session.user, "dashboard action refused to a viewer");
        let page = self.chrome("", "error-heading");
        let heading = page.t.msg("error-heading");
        let line = page.t.msg("error-managers-only");
        let mut response = render(&MessagePage {
            page,
            heading,
            lines: vec![line],
            problem: true,
            back,
        });
        *response.status_mut() = StatusCode::FORBIDDEN;
        Some(response)
    }

    /// Whether this account may act.
    pub fn is_manager(&self) -> bool {
        self.session.role == Role::Manager
    }

    /// The page frame for this account.
    pub fn chrome(&self, nav: &'static str, title_key: &str) -> Chrome {
        Chrome {
            t: self.t,
            csrf: self.session.csrf.clone(),
            user: Some(format!(
                "{} ({})",
                self.session.user,
                self.t.msg(&format!("role-{}", self.session.role.name()))
            )),
            manager: self.is_manager(),
            nav,
            title: self.t.msg(title_key),
            here: self.here.clone(),
        }
    }
}

/// The answer to a POST without the right CSRF token.
pub fn csrf_refused(t: Tr) -> Response {
    (StatusCode::FORBIDDEN, Html(t.msg("error-csrf"))).into_response()
}

/// What the base layout needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Words.
    pub t: Tr,
    /// The session's CSRF token ("" when logged out).
    pub csrf: String,
    /// The account and its role, when logged in.
    pub user: Option<String>,
    /// Whether the account is a manager.
    pub manager: bool,
    /// Which menu entry is active.
    pub nav: &'static str,
    /// The page title.
    pub title: String,
    /// This page's path and query.
    pub here: String,
}

impl Chrome {
    /// The link that shows this page in the other language.
    pub fn switch_href(&self) -> String {
        let sep = if self.here.contains('?') { '&' } else { '?' };
        format!("{}{sep}lang={}", self.here, self.t.other().0)
    }
}

/// Renders a template into an answer (500 with a plain sentence if it cannot).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page saying one thing (a result or an error) with a link onward.
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The frame.
    pub page: Chrome,
    /// Heading.
    pub heading: String,
    /// Sentences.
    pub lines: Vec<String>,
    /// Whether it reports a problem.
    pub problem: bool,
    /// Where to go next.
    pub back: &'static str,
}

/// A message page for a library error.
pub fn error_page(page: Chrome, error: &CoordinatorError, back: &'static str) -> Response {
    tracing::warn!(%error, "dashboard action failed");
    let heading = page.t.msg("error-heading");
    let mut response = render(&MessagePage {
        page,
        heading,
        lines: vec![quietcount_keys::message::describe(error)],
        problem: true,
        back,
    });
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// A message page for a request the dashboard's own forms never send.
pub fn bad_request(page: Chrome, back: &'static str) -> Response {
    let heading = page.t.msg("error-heading");
    let line = page.t.msg("error-bad-request");
    let mut response = render(&MessagePage {
        page,
        heading,
        lines: vec![line],
        problem: true,
        back,
    });
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// A message page for a manager action that succeeded.
pub fn done_page(page: Chrome, lines: Vec<String>, back: &'static str) -> Response {
    let heading = page.t.msg("done-heading");
    render(&MessagePage {
        page,
        heading,
        lines,
        problem: false,
        back,
    })
}

/// Now, from the system clock.
pub fn now() -> UnixTime {
    use quietcount_service::clock::Clock as _;
    quietcount_service::clock::SystemClock.now()
}

/// The period type of the coordinator's first accepted form (the dashboard shows that form).
pub fn period_type(coordinator: &Coordinator) -> PeriodType {
    coordinator
        .forms
        .first()
        .map_or(PeriodType::Month, |f| f.form.period)
}

/// The `count` periods up to the latest closed one, oldest first.
pub fn recent_periods(period_type: PeriodType, now: UnixTime, count: usize) -> Vec<Period> {
    let mut periods = Vec::new();
    let mut next = Period::latest_closed(period_type, now);
    while let Some(period) = next {
        if periods.len() == count {
            break;
        }
        periods.push(period);
        next = period.previous();
    }
    periods.reverse();
    periods
}

/// A form's bilingual text in the page's language.
pub fn text(t: Tr, text: &quietcount_protocol::form::Text) -> String {
    match t.lang {
        Lang::Vi => text.vi.clone(),
        Lang::En => text.en.clone(),
    }
}
