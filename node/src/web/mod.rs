//! The staff web app that `quietcount-node run` serves (by default on 127.0.0.1 only, port
//! `web_port`): the month's work in a browser, Vietnamese first, English one click away.
//!
//! A thin shell over [`Node`]: each handler parses the request into typed values, calls one
//! library method (the same the command line calls) and renders the result with a compiled
//! template (`node/templates/`, escaping on). Nothing is fetched from the internet: the style
//! sheet is embedded, and the pages work without JavaScript.
//!
//! - [`session`]: login = unlock (the staff passphrase opens the records key), in-memory
//!   sessions in HttpOnly SameSite=Strict cookies, idle lock, slowed failed logins.
//! - [`i18n`]: the message catalogues (Fluent), numbers, dates and times.
//! - [`refusals`]: the library's errors as catalogue sentences.
//! - one module per page: [`login`], [`home`], [`clients`], [`services`], [`import`],
//!   [`report`], [`deliveries`], [`settings`].
//!
//! Privacy: identifying fields only ever travel in POST bodies and in page bodies sent with
//! `Cache-Control: no-store`; never in a URL, a page title, a log line or an error page. Every
//! POST carries the session's CSRF token (the login form a per-visitor one).

pub mod clients;
pub mod deliveries;
pub mod home;
pub mod i18n;
pub mod import;
pub mod login;
pub mod refusals;
pub mod report;
pub mod services;
pub mod session;
pub mod settings;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::NodeError;
use crate::vocab::Lang;
use crate::{KdfParams, Node};
use i18n::Tr;
use session::{Lookup, Session, Sessions, Throttle};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "qc_session";
/// Name of the login form's per-visitor CSRF cookie.
pub const LOGIN_COOKIE: &str = "qc_login";
/// Name of the language cookie.
pub const LANG_COOKIE: &str = "qc_lang";
/// File in the data directory's `run/` folder where `run` writes the app's address.
pub const ADDRESS_FILE: &str = "web-address";
/// Largest upload accepted by the Import page.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// How the app behaves.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Idle time after which a session locks itself.
    pub idle: Duration,
    /// Argon2id parameters for passphrases set in the app.
    pub staff_kdf: KdfParams,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: Arc<Node>,
    sessions: Sessions,
    throttle: Throttle,
    options: WebOptions,
    time_zone: &'static jiff::tz::TimeZone,
}

impl AppState {
    /// State for `node`.
    pub fn new(node: Arc<Node>, options: WebOptions) -> Self {
        // The configuration was checked when it was loaded, so the name is known.
        let time_zone =
            i18n::time_zone(&node.config().time_zone).unwrap_or_else(i18n::default_time_zone);
        Self {
            inner: Arc::new(Inner {
                time_zone,
                node,
                sessions: Sessions::new(options.idle),
                throttle: Throttle::default(),
                options,
            }),
        }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Words in `lang`, times in the site's time zone.
    fn words(&self, lang: Lang) -> Tr {
        Tr::new(lang).in_zone(self.inner.time_zone)
    }
}

/// The app's routes (tests call it without a socket).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::page))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/clients", get(clients::page).post(clients::search))
        .route("/clients/new", get(clients::new_form))
        .route("/clients/edit", get(clients::edit_form))
        .route("/clients/save", post(clients::save))
        .route(
            "/clients/erase",
            get(clients::erase_confirm).post(clients::erase),
        )
        .route("/services", get(services::page).post(services::record))
        .route("/import", get(import::page).post(import::upload))
        .route("/import/template", get(import::template))
        .route("/report", get(report::page))
        .route("/report/approve", post(report::approve))
        .route("/deliveries", get(deliveries::page))
        .route("/deliveries/retry", post(deliveries::retry))
        .route("/settings", get(settings::page))
        .route("/settings/staff/add", post(settings::add_staff))
        .route("/settings/staff/remove", post(settings::remove_staff))
        .route("/settings/passphrase", post(settings::change_passphrase))
        .route("/settings/backup", post(settings::backup))
        .route("/assets/app.css", get(stylesheet))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(axum::middleware::from_fn(translate_rejections))
        .layer(axum::middleware::from_fn(headers_and_language))
        .with_state(state)
}

/// Binds the app's address from the configuration (an error says which address could not be
/// bound), writes it to `run/web-address`, and returns the listener.
pub async fn bind(node: &Node) -> Result<tokio::net::TcpListener, NodeError> {
    let wanted = node.config().web_address();
    let listener = tokio::net::TcpListener::bind(wanted)
        .await
        .map_err(|e| NodeError::WebBind {
            address: wanted,
            source: e,
        })?;
    let bound = listener.local_addr().map_err(|e| NodeError::WebBind {
        address: wanted,
        source: e,
    })?;
    let run_dir = node.dir().root.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| NodeError::Io {
        path: run_dir.clone(),
        source: e,
    })?;
    let file = run_dir.join(ADDRESS_FILE);
    quietcount_service::files::write_atomic(&file, web_url(bound).as_bytes(), 0o600)?;
    Ok(listener)
}

/// The address people type: `http://127.0.0.1:8470/`.
pub fn web_url(address: SocketAddr) -> String {
    format!("http://{address}/")
}

/// The address the running service wrote, if it runs (or ran and left the file).
pub fn running_url(dir: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(dir.join("run").join(ADDRESS_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Serves the app on `listener` until `shutdown` completes.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    options: WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let address = listener.local_addr().ok();
    let state = AppState::new(node, options);
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let locked = state.sessions().lock_idle();
                if locked > 0 {
                    tracing::info!(sessions = locked, "idle web sessions locked");
                }
            }
        })
    };
    if let Some(address) = address {
        tracing::info!(url = %web_url(address), "web app listening");
    }
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    result.map_err(|e| NodeError::Io {
        path: "web app".into(),
        source: e,
    })
}

/// Security headers on every answer and the language cookie ([`quietcount_service::web`]).
async fn headers_and_language(request: Request, next: Next) -> Response {
    quietcount_service::web::security_headers_and_language(LANG_COOKIE, request, next).await
}

/// Axum's own refusals of a malformed request become the bad-request page in the visitor's
/// language ([`quietcount_service::web::replace_plain_refusals`]).
async fn translate_rejections(request: Request, next: Next) -> Response {
    quietcount_service::web::replace_plain_refusals(LANG_COOKIE, request, next, |code, _| {
        let t = Tr::new(code.and_then(parse_lang).unwrap_or(Lang::Vi));
        let page = Chrome {
            t,
            csrf: String::new(),
            staff: None,
            nav: "",
            title: t.msg("error-heading"),
        };
        bad_request(page, "/")
    })
    .await
}

async fn stylesheet() -> Response {
    // The site app adds nothing to the shared style sheet.
    quietcount_service::web::stylesheet("")
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

impl<S> FromRequestParts<S> for Visitor
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            t: AppState::from_ref(state).words(request_lang(parts)),
            cookies: cookies(&parts.headers),
        })
    }
}

/// A logged-in staff member; anyone else is sent to the login page (which says when the
/// session locked itself).
#[derive(Debug)]
pub struct Staff {
    /// Words in the staff member's language.
    pub t: Tr,
    /// The session.
    pub session: Session,
    /// The session id (its cookie).
    pub session_id: String,
}

impl<S> FromRequestParts<S> for Staff
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let t = state.words(request_lang(parts));
        let id = cookies(&parts.headers).remove(SESSION_COOKIE);
        let lookup = match &id {
            Some(id) => state.sessions().get(id),
            None => Lookup::None,
        };
        match (lookup, id) {
            (Lookup::Active(session), Some(session_id)) => Ok(Self {
                t,
                session,
                session_id,
            }),
            (Lookup::Locked, _) => Err(Redirect::to("/login?locked=1").into_response()),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

impl Staff {
    /// The refusal of a form whose CSRF token is not this session's (`None`: it is).
    pub fn csrf_refusal(&self, token: &str) -> Option<Response> {
        if constant_time_eq(token.as_bytes(), self.session.csrf.as_bytes()) {
            None
        } else {
            tracing::warn!("web form refused: missing or wrong CSRF token");
            Some(csrf_refused(self.t))
        }
    }

    /// The page frame for this staff member.
    pub fn chrome(&self, nav: &'static str, title_key: &str) -> Chrome {
        Chrome {
            t: self.t,
            csrf: self.session.csrf.clone(),
            staff: Some(self.session.staff.clone()),
            nav,
            title: self.t.msg(title_key),
        }
    }
}

/// The answer to a POST without the right CSRF token.
pub fn csrf_refused(t: Tr) -> Response {
    (StatusCode::FORBIDDEN, Html(t.msg("error-csrf"))).into_response()
}

/// What the base layout needs: language, CSRF token (for the logout form), who is logged in,
/// the active menu entry and the page title (never an identifying field).
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Words.
    pub t: Tr,
    /// The session's CSRF token ("" when logged out).
    pub csrf: String,
    /// The staff member, when logged in.
    pub staff: Option<String>,
    /// Which menu entry is active (`home`, `clients`, ...).
    pub nav: &'static str,
    /// The page title.
    pub title: String,
}

impl Chrome {
    /// The link that shows this page's section in the other language.
    pub fn switch_href(&self) -> String {
        let path = match self.nav {
            "home" => "/",
            "clients" => "/clients",
            "services" => "/services",
            "import" => "/import",
            "report" => "/report",
            "deliveries" => "/deliveries",
            "settings" => "/settings",
            _ => "/login",
        };
        format!("{path}?lang={}", self.t.other().0)
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

/// A message page for a library error, in the page's language ([`refusals::describe`]); the
/// error's own text (which never holds a record value) goes to the log.
pub fn error_page(page: Chrome, error: &NodeError, back: &'static str) -> Response {
    tracing::warn!(%error, "web action failed");
    let heading = page.t.msg("error-heading");
    let line = refusals::describe(page.t, error);
    render(&MessagePage {
        page,
        heading,
        lines: vec![line],
        problem: true,
        back,
    })
}

/// Any address the app does not serve: 404 with a sentence in the visitor's language.
async fn not_found(visitor: Visitor) -> Response {
    let page = Chrome {
        t: visitor.t,
        csrf: String::new(),
        staff: None,
        nav: "",
        title: visitor.t.msg("error-heading"),
    };
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

/// A message page for a request the app's own forms never send (a hand-made URL).
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

/// Now, from the system clock.
pub fn now() -> quietcount_protocol::UnixTime {
    use quietcount_service::clock::Clock as _;
    quietcount_service::clock::SystemClock.now()
}

/// A form's bilingual text in the page's language.
pub fn text(t: Tr, text: &quietcount_protocol::form::Text) -> String {
    match t.lang {
        Lang::Vi => text.vi.clone(),
        Lang::En => text.en.clone(),
    }
}
