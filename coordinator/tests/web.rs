//! The dashboard's router driven without a socket: login (Argon2id accounts, CSRF, throttle),
//! every page for viewer and manager, a viewer refused a manager action, enrolment with the
//! fingerprint check, publication with the audit row, the donor package as a zip, and the
//! export downloads. The browser flow belongs in `tests/tests/web_province.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use quietcount_coordinator::accounts::Role;
use quietcount_coordinator::testing::{TestSite, coordinator_in, enroll};
use quietcount_coordinator::web::{AppState, WebOptions, router};
use quietcount_keys::short_fingerprint;
use quietcount_protocol::{Period, PeriodType};
use tower::ServiceExt as _;

const PASSWORD: &str = "mật khẩu dài đủ";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn body(response: axum::response::Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap()
        .to_vec()
}

async fn text(response: axum::response::Response) -> String {
    String::from_utf8(body(response).await).unwrap()
}

fn cookie_of(response: &axum::response::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

fn form(uri: &str, cookie: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(encoded.join("&")))
        .unwrap()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Logs `name` in; returns the cookie header and the session's CSRF token.
/// The dashboard's router over `coordinator`, sessions locking after ten minutes.
fn app_of(coordinator: quietcount_coordinator::Coordinator) -> Router {
    router(AppState::new(
        Arc::new(coordinator),
        &WebOptions {
            idle: Duration::from_secs(600),
        },
    ))
}

/// The page at `uri` for the session `cookie`, as text.
async fn page(app: &Router, uri: &str, cookie: &str) -> String {
    text(app.clone().oneshot(get(uri, cookie)).await.unwrap()).await
}

async fn login(app: &Router, name: &str, password: &str) -> Option<(String, String)> {
    let page = app.clone().oneshot(get("/login", "")).await.unwrap();
    let login_cookie = cookie_of(&page, "qc_dash_login").unwrap();
    let token = hidden(&text(page).await, "csrf");
    let cookie = format!("qc_dash_login={login_cookie}");
    let answer = app
        .clone()
        .oneshot(form(
            "/login",
            &cookie,
            &[("csrf", &token), ("name", name), ("password", password)],
        ))
        .await
        .unwrap();
    if answer.status() != StatusCode::SEE_OTHER {
        return None;
    }
    let session = cookie_of(&answer, "qc_dash_session").unwrap();
    let cookie = format!("qc_dash_session={session}");
    let home = app.clone().oneshot(get("/", &cookie)).await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let csrf = hidden(&text(home).await, "csrf");
    Some((cookie, csrf))
}

#[tokio::test]
async fn viewers_read_managers_act_and_every_action_is_audited() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::latest_closed(PeriodType::Month, now()).unwrap();
    let sites = [
        TestSite::new("ha-noi-01").unwrap(),
        TestSite::new("ha-noi-02").unwrap(),
        TestSite::new("ha-noi-03").unwrap(),
    ];
    for site in &sites {
        enroll(&coordinator, site, period.start() - 86_400)
            .await
            .unwrap();
    }
    let ingest = coordinator.ingest();
    for (i, site) in sites.iter().take(2).enumerate() {
        let envelope = site.signed_report(period, 1, None, i as u64).unwrap();
        ingest
            .submit(&site.id, &envelope, period.end() + 86_400)
            .await;
    }
    coordinator
        .add_user("lan", Role::Viewer, PASSWORD, now())
        .await
        .unwrap();
    coordinator
        .add_user("minh", Role::Manager, PASSWORD, now())
        .await
        .unwrap();
    assert!(
        coordinator
            .add_user("lan", Role::Manager, PASSWORD, now())
            .await
            .is_err(),
        "a taken name is refused"
    );
    let dir = coordinator.dir.clone();
    let app = app_of(coordinator);

    // Anonymous: sent to the login page; a wrong password is refused.
    let anonymous = app.clone().oneshot(get("/", "")).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/login");
    assert_eq!(anonymous.headers()[header::CACHE_CONTROL], "no-store");
    assert!(login(&app, "lan", "not the password").await.is_none());

    // The viewer reads every page, in Vietnamese by default and in English.
    let (viewer, viewer_csrf) = login(&app, "lan", PASSWORD).await.unwrap();
    let grid = text(app.clone().oneshot(get("/", &viewer)).await.unwrap()).await;
    assert!(grid.contains("Tình hình báo cáo"), "{grid}");
    assert!(grid.contains("ha-noi-03"));
    assert!(grid.contains("Đúng hạn"));
    assert!(grid.contains("Thiếu"), "the third site is missing");
    assert!(grid.contains("Kính gửi"), "a Vietnamese reminder is ready");
    let english = text(
        app.clone()
            .oneshot(get("/?lang=en", &viewer))
            .await
            .unwrap(),
    )
    .await;
    assert!(english.contains("Completeness") && english.contains("Missing"));
    for page in [
        "/sites".to_owned(),
        "/site?id=ha-noi-01".to_owned(),
        "/conflicts".to_owned(),
        format!("/period?p={period}"),
        format!("/totals?p={period}"),
        "/audit".to_owned(),
    ] {
        let response = app.clone().oneshot(get(&page, &viewer)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let html = text(response).await;
        assert!(
            !html.contains("publish-form"),
            "{page} offers a viewer an action"
        );
    }
    let totals = text(
        app.clone()
            .oneshot(get(&format!("/totals?p={period}"), &viewer))
            .await
            .unwrap(),
    )
    .await;
    assert!(totals.contains("<svg") && totals.contains("trend-chart"));

    // A viewer cannot publish; without the CSRF token nobody can.
    let refused = app
        .clone()
        .oneshot(form(
            "/period/publish",
            &viewer,
            &[
                ("csrf", &viewer_csrf),
                ("period", &period.to_string()),
                ("allow_incomplete", "1"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!dir.join("published").exists());
    let (manager, manager_csrf) = login(&app, "minh", PASSWORD).await.unwrap();
    let forged = app
        .clone()
        .oneshot(form(
            "/period/publish",
            &manager,
            &[("csrf", "forged"), ("period", &period.to_string())],
        ))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Enrolment: a wrong fingerprint is refused, the right one enrols.
    let new_site = TestSite::new("ha-noi-04").unwrap();
    let pem_path = root.path().join("new.pub");
    quietcount_keys::save_public_key(&pem_path, &new_site.identity.verifying_key()).unwrap();
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let wrong = app
        .clone()
        .oneshot(form(
            "/sites/enrol",
            &manager,
            &[
                ("csrf", &manager_csrf),
                ("site", "ha-noi-04"),
                ("name", "Trạm Y tế Phường Bốn"),
                ("key", &pem),
                ("fingerprint", "0000-0000-0000-0000"),
                ("reports_from", ""),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fingerprint = short_fingerprint(&new_site.identity.fingerprint());
    let enrolled = app
        .clone()
        .oneshot(form(
            "/sites/enrol",
            &manager,
            &[
                ("csrf", &manager_csrf),
                ("site", "ha-noi-04"),
                ("name", "Trạm Y tế Phường Bốn"),
                ("key", &pem),
                ("fingerprint", &fingerprint),
                ("reports_from", ""),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(enrolled.status(), StatusCode::OK);
    assert!(text(enrolled).await.contains("ha-noi-04"));

    // Publication (two of three expected sites: below 80 %, so only with the checkbox).
    let below = app
        .clone()
        .oneshot(form(
            "/period/publish",
            &manager,
            &[("csrf", &manager_csrf), ("period", &period.to_string())],
        ))
        .await
        .unwrap();
    assert_eq!(below.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let published = app
        .clone()
        .oneshot(form(
            "/period/publish",
            &manager,
            &[
                ("csrf", &manager_csrf),
                ("period", &period.to_string()),
                ("allow_incomplete", "1"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    let zip = app
        .clone()
        .oneshot(get(&format!("/period/package.zip?p={period}"), &viewer))
        .await
        .unwrap();
    assert_eq!(zip.status(), StatusCode::OK);
    assert_eq!(zip.headers()[header::CONTENT_TYPE], "application/zip");
    let bytes = body(zip).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut provincial = Vec::new();
    archive
        .by_name(quietcount_keys::package::PROVINCIAL_FILE)
        .unwrap()
        .read_to_end(&mut provincial)
        .unwrap();
    assert!(!provincial.is_empty());

    // A site signs a second, different report for revision 1: a conflict, shown side by
    // side in the grid and on the conflicts page; the viewer cannot resolve it, the manager
    // does.
    let conflicting = sites[0].signed_report(period, 1, None, 99).unwrap();
    ingest
        .submit(&sites[0].id, &conflicting, period.end() + 2 * 86_400)
        .await;
    let grid = text(app.clone().oneshot(get("/", &viewer)).await.unwrap()).await;
    assert!(grid.contains("cell conflict"), "{grid}");
    let conflicts = text(
        app.clone()
            .oneshot(get("/conflicts", &manager))
            .await
            .unwrap(),
    )
    .await;
    assert!(conflicts.contains("ha-noi-01"), "{conflicts}");
    let evidence = {
        let marker = "<option value=\"";
        let options: Vec<&str> = conflicts
            .split(marker)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(options.len(), 2, "stored and evidence side by side");
        options[1].to_owned()
    };
    let resolve = |cookie: &str, csrf: &str| {
        form(
            "/conflicts/resolve",
            cookie,
            &[
                ("csrf", csrf),
                ("site", "ha-noi-01"),
                ("period", &period.to_string()),
                ("revision", "1"),
                ("accept", &evidence),
                ("note", "hỏi lại cơ sở"),
            ],
        )
    };
    let refused = app
        .clone()
        .oneshot(resolve(&viewer, &viewer_csrf))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let resolved = app
        .clone()
        .oneshot(resolve(&manager, &manager_csrf))
        .await
        .unwrap();
    assert_eq!(resolved.status(), StatusCode::OK);
    let conflicts = text(
        app.clone()
            .oneshot(get("/conflicts", &viewer))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        conflicts.contains("Đã chấp nhận") && conflicts.contains("minh"),
        "{conflicts}"
    );

    // Every manager action is in the audit table, shown with who.
    let audit = text(app.clone().oneshot(get("/audit", &viewer)).await.unwrap()).await;
    assert!(audit.contains("<td>minh</td>"), "{audit}");
    assert!(
        audit.contains("Đăng ký cơ sở") && audit.contains("Công bố"),
        "{audit}"
    );
    assert!(
        !audit.contains("<td>lan</td>"),
        "the viewer's refused attempt did nothing"
    );

    // Exports.
    let csv = app
        .clone()
        .oneshot(get(&format!("/export?p={period}&format=csv"), &viewer))
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(body(csv).await.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM");
    let xlsx = app
        .clone()
        .oneshot(get(&format!("/export?p={period}&format=xlsx"), &viewer))
        .await
        .unwrap();
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(body(xlsx).await.starts_with(b"PK"));
    let unmapped = app
        .clone()
        .oneshot(get(&format!("/export?p={period}&format=dhis2"), &viewer))
        .await
        .unwrap();
    assert_eq!(
        unmapped.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no mapping configured"
    );

    // An account removed while logged in loses its session at its next request.
    let (other, _) = login(&app, "minh", PASSWORD).await.unwrap();
    let removed = quietcount_coordinator::Coordinator::open(&dir)
        .await
        .unwrap();
    removed.remove_user("minh").await.unwrap();
    let after = app.clone().oneshot(get("/", &other)).await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    let after = app.clone().oneshot(get("/", &manager)).await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);

    // Logout ends the session.
    let out = app
        .clone()
        .oneshot(form("/logout", &viewer, &[("csrf", &viewer_csrf)]))
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app.clone().oneshot(get("/", &viewer)).await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_quietcount-coordinator"))
}

/// Runs `user ARGS --dir DIR`, feeding `stdin`; returns (success, stdout + stderr).
fn user_command(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = binary()
        .arg("user")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test]
async fn accounts_are_managed_from_the_command_line_and_checked_with_their_password() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    coordinator_in(&dir).await.unwrap();
    let (ok, out) = user_command(
        &dir,
        &["add", "thu", "--role", "manager", "--password-stdin"],
        "first-password-1\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = user_command(
        &dir,
        &["add", "ha", "--role", "viewer", "--password-stdin"],
        "short\n",
    );
    assert!(!ok && out.contains("at least 10"), "{out}");
    let (ok, out) = user_command(&dir, &["list"], "");
    assert!(
        ok && out.contains("thu") && out.contains("manager"),
        "{out}"
    );
    assert!(!out.contains("argon2"), "no hash is shown: {out}");
    let (ok, out) = user_command(
        &dir,
        &["passwd", "thu", "--password-stdin"],
        "second-password-2\n",
    );
    assert!(ok, "{out}");
    let coordinator = quietcount_coordinator::Coordinator::open(&dir)
        .await
        .unwrap();
    assert_eq!(
        coordinator
            .authenticate("thu", "second-password-2")
            .await
            .unwrap(),
        Some(Role::Manager)
    );
    assert_eq!(
        coordinator
            .authenticate("thu", "first-password-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(coordinator.authenticate("nobody", "x").await.unwrap(), None);
    let (ok, out) = user_command(&dir, &["remove", "thu"], "");
    assert!(ok, "{out}");
    let (ok, out) = user_command(&dir, &["remove", "thu"], "");
    assert!(!ok && out.contains("no account named thu"), "{out}");
    assert!(coordinator.users().await.unwrap().is_empty());
}

#[tokio::test]
async fn run_refuses_to_serve_the_dashboard_in_plain_http_off_this_machine() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    coordinator_in(&dir).await.unwrap();
    let output = binary()
        .arg("run")
        .arg("--dir")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--dashboard-listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("will not serve plain HTTP") && stderr.contains("tls_cert"),
        "{stderr}"
    );
    assert!(
        !dir.join(quietcount_coordinator::config::files::LISTEN_ADDRESS)
            .exists(),
        "the QUIC server did not start either"
    );
}

#[tokio::test]
async fn dhis2_and_adx_downloads_follow_the_configured_mapping() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let coordinator = coordinator_in(&dir).await.unwrap();
    let period = Period::latest_closed(PeriodType::Month, now()).unwrap();
    let site = TestSite::new("hn-ba-dinh").unwrap();
    enroll(&coordinator, &site, period.start() - 86_400)
        .await
        .unwrap();
    let envelope = site.signed_report(period, 1, None, 7).unwrap();
    coordinator
        .ingest()
        .submit(&site.id, &envelope, period.end() + 86_400)
        .await;
    coordinator
        .add_user("thu", Role::Viewer, PASSWORD, now())
        .await
        .unwrap();
    drop(coordinator);
    // The sample mapping, sending the province's totals only.
    let sample = include_str!("../mappings/dhis2-sample.toml");
    let start = sample.find("[org_units.sites]").unwrap();
    let end = start + sample[start..].find("\n\n").unwrap();
    std::fs::write(
        dir.join("dhis2.toml"),
        format!("{}{}", &sample[..start], &sample[end..]),
    )
    .unwrap();
    let config_path = dir.join("config.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("# mapping = "), "{config}");
    let config = config.replacen(
        "# mapping = \"dhis2-mapping.toml\"",
        "mapping = \"dhis2.toml\"",
        1,
    );
    std::fs::write(&config_path, config).unwrap();
    let coordinator = quietcount_coordinator::Coordinator::open(&dir)
        .await
        .unwrap();
    let app = app_of(coordinator);
    let (viewer, _) = login(&app, "thu", PASSWORD).await.unwrap();
    let totals = text(
        app.clone()
            .oneshot(get(&format!("/totals?p={period}"), &viewer))
            .await
            .unwrap(),
    )
    .await;
    assert!(totals.contains("export-dhis2") && totals.contains("export-adx"));
    let json = app
        .clone()
        .oneshot(get(&format!("/export?p={period}&format=dhis2"), &viewer))
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&body(json).await).unwrap();
    assert_eq!(json["dataSet"], "QC_MONTHLY");
    assert!(!json["dataValues"].as_array().unwrap().is_empty());
    let adx = app
        .clone()
        .oneshot(get(&format!("/export?p={period}&format=adx"), &viewer))
        .await
        .unwrap();
    assert_eq!(adx.status(), StatusCode::OK);
    let adx = String::from_utf8(body(adx).await).unwrap();
    assert!(adx.contains("urn:ihe:qrph:adx:2015"), "{adx}");
}

#[tokio::test]
async fn with_a_certificate_the_dashboard_is_served_over_tls_with_secure_cookies() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("coord");
    let mut coordinator = coordinator_in(&dir).await.unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("dashboard.crt"), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.join("dashboard.key"),
        certified.key_pair.serialize_pem(),
    )
    .unwrap();
    coordinator.config.dashboard.tls_cert = Some("dashboard.crt".into());
    coordinator.config.dashboard.tls_key = Some("dashboard.key".into());
    coordinator.config.dashboard.listen = "127.0.0.1:0".parse().unwrap();
    let listener = quietcount_coordinator::web::bind(&coordinator, None)
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    assert_eq!(listener.url().unwrap(), format!("https://{address}/"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(quietcount_coordinator::web::serve(
        Arc::new(coordinator),
        listener,
        WebOptions {
            idle: Duration::from_secs(60),
        },
        async move {
            let _ = stopped.await;
        },
    ));

    // A browser that trusts the certificate gets the login page, and every cookie is Secure.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookies: Vec<&str> = answer
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .collect();
    assert!(!cookies.is_empty(), "{answer}");
    for cookie in cookies {
        assert!(
            cookie.contains("; Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
    }

    // Plain HTTP to the same port gets no page.
    let mut plain = tokio::net::TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plain HTTP was answered"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_site_page_shows_what_each_revision_changed_and_key_windows_in_the_pages_language() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::latest_closed(PeriodType::Month, now()).unwrap();
    let site = TestSite::new("ha-noi-01").unwrap();
    enroll(&coordinator, &site, period.start() - 86_400)
        .await
        .unwrap();
    let ingest = coordinator.ingest();
    let first = site.signed_report(period, 1, None, 1).unwrap();
    ingest.submit(&site.id, &first, period.end() + 86_400).await;
    let second = site
        .signed_report(
            period,
            2,
            Some(quietcount_protocol::Sha256Hash::of(&first)),
            2,
        )
        .unwrap();
    ingest
        .submit(&site.id, &second, period.end() + 2 * 86_400)
        .await;
    coordinator
        .add_user("lan", Role::Viewer, PASSWORD, now())
        .await
        .unwrap();
    let app = app_of(coordinator);
    let (viewer, _) = login(&app, "lan", PASSWORD).await.unwrap();
    let vi = page(&app, "/site?id=ha-noi-01", &viewer).await;
    assert!(vi.contains("Thay đổi so với lần trước"), "{vi}");
    assert!(vi.contains("Lần gửi đầu tiên"), "{vi}");
    assert!(vi.contains("ô thay đổi giá trị"), "{vi}");
    assert!(vi.contains("không nêu số hồ sơ"), "{vi}");
    assert!(vi.contains(" → "), "no cell named:\n{vi}");
    // The key window in Vietnamese, not keys::verify::key_window's English.
    assert!(vi.contains("đăng ký "), "{vi}");
    assert!(!vi.contains("enrolled "), "{vi}");
    let en = page(&app, "/site?id=ha-noi-01&lang=en", &viewer).await;
    assert!(en.contains("Changes since the previous revision"), "{en}");
    assert!(en.contains("cell(s) changed value"), "{en}");
    assert!(en.contains("enrolled "), "{en}");
    let sites = page(&app, "/sites", &viewer).await;
    assert!(
        sites.contains("đăng ký ") && !sites.contains("enrolled "),
        "{sites}"
    );
}

/// A manager locks the period on its page (viewers cannot), a site's report is then refused
/// with `period_locked` and stored after the unlock; the site contact given at enrolment is
/// shown with the reminder of a site that has not reported.
#[tokio::test]
async fn a_manager_locks_and_unlocks_a_period_and_reminders_name_the_site_contact() {
    use quietcount_protocol::wire::{RefusalCode, Response};
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    let period = Period::latest_closed(PeriodType::Month, now()).unwrap();
    let site = TestSite::new("ha-noi-01").unwrap();
    enroll(&coordinator, &site, period.start() - 86_400)
        .await
        .unwrap();
    for (name, role) in [("lan", Role::Viewer), ("minh", Role::Manager)] {
        coordinator
            .add_user(name, role, PASSWORD, now())
            .await
            .unwrap();
    }
    let ingest = coordinator.ingest();
    let key_pem = std::fs::read_to_string(coordinator.dir.join("ha-noi-01.pub")).unwrap();
    let fingerprint = short_fingerprint(&site.identity.fingerprint());
    let app = app_of(coordinator);
    let (viewer, viewer_csrf) = login(&app, "lan", PASSWORD).await.unwrap();
    let (manager, csrf) = login(&app, "minh", PASSWORD).await.unwrap();
    let period_text = period.to_string();

    // The contact typed when the site's key is enrolled (again) is shown with its reminder.
    let enrolled = app
        .clone()
        .oneshot(form(
            "/sites/enrol",
            &manager,
            &[
                ("csrf", &csrf),
                ("site", "ha-noi-01"),
                ("name", "Trạm Y tế Phúc Xá"),
                ("key", &key_pem),
                ("fingerprint", &fingerprint),
                ("contact", "Chị Hoa 0912 345 678"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(
        enrolled.status(),
        StatusCode::OK,
        "{}",
        text(enrolled).await
    );
    let grid = page(&app, "/", &viewer).await;
    assert!(grid.contains("Liên hệ: Chị Hoa 0912 345 678"), "{grid}");

    // Viewers cannot lock.
    let refused = app
        .clone()
        .oneshot(form(
            "/period/lock",
            &viewer,
            &[("csrf", &viewer_csrf), ("period", &period_text)],
        ))
        .await
        .unwrap();
    assert_ne!(refused.status(), StatusCode::OK);
    let open = page(&app, &format!("/period?p={period}"), &viewer).await;
    assert!(open.contains("Đang mở"), "{open}");

    let locked = app
        .clone()
        .oneshot(form(
            "/period/lock",
            &manager,
            &[("csrf", &csrf), ("period", &period_text)],
        ))
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::OK);
    assert!(text(locked).await.contains(&format!("Đã khoá kỳ {period}")));
    let shown = page(&app, &format!("/period?p={period}&lang=en"), &manager).await;
    assert!(
        shown.contains("Locked on") && shown.contains("by minh"),
        "{shown}"
    );
    assert!(shown.contains("id=\"unlock-form\""), "{shown}");

    let envelope = site.signed_report(period, 1, None, 1).unwrap();
    match ingest.submit(&site.id, &envelope, now()).await {
        Response::Refused { code, .. } => assert_eq!(code, RefusalCode::PeriodLocked),
        other => panic!("stored while locked: {other:?}"),
    }
    let unlocked = app
        .clone()
        .oneshot(form(
            "/period/unlock",
            &manager,
            &[("csrf", &csrf), ("period", &period_text)],
        ))
        .await
        .unwrap();
    assert_eq!(unlocked.status(), StatusCode::OK);
    assert!(matches!(
        ingest.submit(&site.id, &envelope, now()).await,
        Response::Accepted { .. }
    ));
    let audit = page(&app, "/audit", &manager).await;
    assert!(
        audit.contains("unlock") && audit.contains("lock"),
        "{audit}"
    );
}

/// Requests the dashboard's pages never send get its own page in the visitor's language, not
/// axum's English text: a form missing its fields, and an address it does not serve.
#[tokio::test]
async fn malformed_requests_and_unknown_addresses_are_answered_in_the_pages_language() {
    let root = tempfile::tempdir().unwrap();
    let coordinator = coordinator_in(&root.path().join("coord")).await.unwrap();
    coordinator
        .add_user("minh", Role::Manager, PASSWORD, now())
        .await
        .unwrap();
    let app = app_of(coordinator);
    let (manager, _) = login(&app, "minh", PASSWORD).await.unwrap();
    let broken = app
        .clone()
        .oneshot(form("/period/lock", &manager, &[("nothing", "here")]))
        .await
        .unwrap();
    assert!(broken.status().is_client_error());
    assert_eq!(
        broken.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let page = text(broken).await;
    assert!(
        page.contains("Yêu cầu này không do bảng điều khiển gửi"),
        "{page}"
    );
    let missing = app
        .clone()
        .oneshot(get("/no-such-page?lang=en", &manager))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let page = text(missing).await;
    assert!(page.contains("There is no such page"), "{page}");
}
