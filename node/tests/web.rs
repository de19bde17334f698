//! What the web app calls, without a browser: clients and services typed in forms (checked by
//! the import's rules), approval with four eyes, and the router itself driven without a
//! socket (login, CSRF, cookies, `no-store`, redirects). The browser flow is in
//! `tests/tests/web_site.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{DEFAULT_FORM, NOV_10_2026, TEST_PASSPHRASE, TEST_STAFF, fixture_node, october};
use quietcount_node::approval::ApprovalOutcome;
use quietcount_node::entry::{ClientEntry, ServiceEntry};
use quietcount_node::web::{WebOptions, router};
use quietcount_node::{
    ImportError, ImportSummary, KdfParams, Node, NodeError, OpenPeriod, QueueOutcome,
};
use tower::ServiceExt as _;

fn client_entry(code: &str, name: &str, sex: &str) -> ClientEntry {
    ClientEntry {
        client_code: code.into(),
        full_name: name.into(),
        date_of_birth: "06/05/1990".into(),
        sex: sex.into(),
        phone: "0912000111".into(),
        primary_substance: "Ma túy tổng hợp".into(),
        referral_source: "family".into(),
        enrolled_on: "2026-10-02".into(),
        modality: "voluntary".into(),
        ..ClientEntry::default()
    }
}

#[tokio::test]
async fn a_client_typed_in_a_form_is_saved_sealed_and_checked_like_an_import_row() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let saved = node
        .save_client(&client_entry("W1", "Đặng Thị Dấuvết", "Nữ"), NOV_10_2026)
        .await
        .unwrap();
    assert!(matches!(
        saved.summary,
        ImportSummary::Clients { inserted: 1, .. }
    ));
    let record = common::client(&node, "W1").await.unwrap();
    assert_eq!(record.full_name, "Đặng Thị Dấuvết");
    assert_eq!(record.sex, "female");
    // Edited: the same code replaces the record.
    node.save_client(&client_entry("W1", "Đặng Thị Sửa", "female"), NOV_10_2026)
        .await
        .unwrap();
    assert_eq!(
        common::client(&node, "W1").await.unwrap().full_name,
        "Đặng Thị Sửa"
    );
    // A bad label is refused with the import's grouped findings, nothing written.
    let err = node
        .save_client(&client_entry("W2", "Lưu Văn Dấuvết", "Namm"), NOV_10_2026)
        .await
        .unwrap_err();
    match err {
        NodeError::Import(ImportError::BadRows { groups, .. }) => {
            assert_eq!(groups.len(), 1);
            assert_eq!(groups[0].column.map(|c| c.1), Some("sex"));
        }
        other => panic!("{other}"),
    }
    assert!(common::client(&node, "W2").await.is_none());
    // Services for a known client are recorded; for an unknown one, refused.
    let services = [ServiceEntry {
        client_code: "W1".into(),
        date: "10/10/2026".into(),
        service: "methadone".into(),
        outcome: String::new(),
    }];
    let recorded = node.record_services(&services, NOV_10_2026).await.unwrap();
    assert!(matches!(
        recorded.summary,
        ImportSummary::Events { inserted: 1, .. }
    ));
    let unknown = [ServiceEntry {
        client_code: "NOBODY".into(),
        ..services[0].clone()
    }];
    assert!(node.record_services(&unknown, NOV_10_2026).await.is_err());
}

#[tokio::test]
async fn a_report_is_queued_only_when_a_second_staff_member_approves_the_same_figures() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let approve = |who: &'static str| {
        let node = &node;
        async move {
            node.approve_report(
                DEFAULT_FORM,
                october(),
                who,
                NOV_10_2026,
                OpenPeriod::Refuse,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        approve("Lan").await,
        ApprovalOutcome::Waiting {
            approved_by: "Lan".into()
        }
    );
    let waiting = node
        .pending_approval(DEFAULT_FORM, october())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.approved_by, "Lan");
    assert_eq!(approve("Lan").await, ApprovalOutcome::SecondPersonNeeded);
    assert!(node.status().await.unwrap().entries.is_empty());
    // The figures change before the second approval: the approval starts again.
    for i in 0..6 {
        let code = format!("W{i}");
        node.save_client(
            &client_entry(&code, "Đặng Thị Dấuvết", "female"),
            NOV_10_2026,
        )
        .await
        .unwrap();
        let service = ServiceEntry {
            client_code: code,
            date: "12/10/2026".into(),
            service: "methadone".into(),
            outcome: String::new(),
        };
        node.record_services(&[service], NOV_10_2026).await.unwrap();
    }
    assert_eq!(
        approve("Minh").await,
        ApprovalOutcome::Waiting {
            approved_by: "Minh".into()
        }
    );
    assert!(node.status().await.unwrap().entries.is_empty());
    match approve("Lan").await {
        ApprovalOutcome::Queued(QueueOutcome::Queued { revision: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(node.status().await.unwrap().entries.len(), 1);
    assert!(
        node.pending_approval(DEFAULT_FORM, october())
            .await
            .unwrap()
            .is_none()
    );
    // Nothing changed since: the preview says so, cell by cell.
    let preview = node
        .preview_report(DEFAULT_FORM, october(), NOV_10_2026, OpenPeriod::Refuse)
        .await
        .unwrap();
    let changes = node.changes_since_sent(&preview).await.unwrap().unwrap();
    assert_eq!(changes.revision, 1);
    assert!(changes.cells.is_empty());
}

#[tokio::test]
async fn a_single_staff_site_may_approve_alone() {
    let root = tempfile::tempdir().unwrap();
    let node = fixture_node(root.path()).await;
    let dir = node.dir().root.clone();
    node.close().await;
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("approve_alone = false"));
    std::fs::write(
        dir.join("config.toml"),
        config.replace("approve_alone = false", "approve_alone = true"),
    )
    .unwrap();
    let node = Node::open(&dir).await.unwrap();
    match node
        .approve_report(
            DEFAULT_FORM,
            october(),
            "Lan",
            NOV_10_2026,
            OpenPeriod::Refuse,
        )
        .await
        .unwrap()
    {
        ApprovalOutcome::Queued(QueueOutcome::Queued { revision: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// The router over a fixture node, as `run` serves it.
async fn app(root: &std::path::Path) -> axum::Router {
    let node = fixture_node(root).await;
    router(quietcount_node::web::AppState::new(
        Arc::new(node),
        WebOptions {
            idle: Duration::from_secs(60),
            staff_kdf: KdfParams::for_tests(),
        },
    ))
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn set_cookie(response: &axum::response::Response, name: &str) -> String {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap()
}

fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[start..start + 64].to_owned()
}

fn form_post(path: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn login_unlocks_and_every_form_needs_its_token() {
    let root = tempfile::tempdir().unwrap();
    let app = app(root.path()).await;
    // Logged out: every page leads to the login page.
    let response = app
        .clone()
        .oneshot(Request::get("/clients").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    // The login page: Vietnamese, no-store, a per-visitor token in an HttpOnly cookie.
    let response = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let login_cookie = set_cookie(&response, "qc_login");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    let html = body_text(response).await;
    assert!(html.contains("Đăng nhập") && html.contains(TEST_STAFF));
    let token = hidden_csrf(&html);
    assert_eq!(token, cookie_value(&login_cookie));
    let cookie = format!("qc_login={token}");
    let passphrase: String = url_encode(TEST_PASSPHRASE);
    // Without the token, or with a wrong passphrase, no session.
    let response = app
        .clone()
        .oneshot(form_post(
            "/login",
            &cookie,
            &format!("name={TEST_STAFF}&passphrase={passphrase}"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .clone()
        .oneshot(form_post(
            "/login",
            &cookie,
            &format!("csrf={token}&name={TEST_STAFF}&passphrase=wrong"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("không đúng"));
    // The right passphrase: a session cookie, HttpOnly and SameSite=Strict.
    let response = app
        .clone()
        .oneshot(form_post(
            "/login",
            &cookie,
            &format!("csrf={token}&name={TEST_STAFF}&passphrase={passphrase}"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&response, "qc_session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let session = format!("qc_session={}", cookie_value(&session));
    // Names show on the clients page, which is no-store; never in its title.
    let response = app
        .clone()
        .oneshot(
            Request::get("/clients")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let html = body_text(response).await;
    assert!(html.contains("Alpha One"));
    let title = &html[html.find("<title>").unwrap()..html.find("</title>").unwrap()];
    assert!(!title.contains("Alpha"), "{title}");
    let csrf = hidden_csrf(&html);
    // A form without the session's token is refused; with it, it is carried out.
    let client = "client_code=W9&sex=male&primary_substance=&referral_source=family&enrolled_on=2026-10-02&modality=voluntary";
    for body in [
        client.to_owned(),
        format!("csrf={}&{client}", "0".repeat(64)),
    ] {
        let response = app
            .clone()
            .oneshot(form_post("/clients/save", &session, &body))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let response = app
        .clone()
        .oneshot(form_post(
            "/clients/save",
            &session,
            &format!("csrf={csrf}&{client}"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("W9"));
    // English on request, remembered in a cookie.
    let response = app
        .clone()
        .oneshot(
            Request::get("/?lang=en")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(set_cookie(&response, "qc_lang").starts_with("qc_lang=en"));
    assert!(body_text(response).await.contains("This month"));
    // Logout ends the session.
    let response = app
        .clone()
        .oneshot(form_post("/logout", &session, &format!("csrf={csrf}")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = app
        .clone()
        .oneshot(
            Request::get("/clients")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/login");
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Logs in as the fixture's staff member: the session cookie and its CSRF token.
async fn logged_in(app: &axum::Router) -> (String, String) {
    let response = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let token = cookie_value(&set_cookie(&response, "qc_login"));
    let passphrase = url_encode(TEST_PASSPHRASE);
    let response = app
        .clone()
        .oneshot(form_post(
            "/login",
            &format!("qc_login={token}"),
            &format!("csrf={token}&name={TEST_STAFF}&passphrase={passphrase}"),
        ))
        .await
        .unwrap();
    let session = format!(
        "qc_session={}",
        cookie_value(&set_cookie(&response, "qc_session"))
    );
    let response = app
        .clone()
        .oneshot(
            Request::get("/settings")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let csrf = hidden_csrf(&body_text(response).await);
    (session, csrf)
}

#[tokio::test]
async fn refusals_and_missing_pages_speak_the_pages_language() {
    let root = tempfile::tempdir().unwrap();
    let app = app(root.path()).await;
    let (session, csrf) = logged_in(&app).await;
    let passphrase = url_encode(TEST_PASSPHRASE);
    let taken = root.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let folder = url_encode(&taken.display().to_string());
    for (lang, staff_exists, wrong_passphrase, folder_exists, not_found, bad_request) in [
        (
            "vi",
            "đã có trong danh sách",
            "mật khẩu không đúng",
            "đã có. Hãy chọn một thư mục mới",
            "Không có trang này",
            "Yêu cầu này không do ứng dụng gửi",
        ),
        (
            "en",
            "is already on the list",
            "passphrase was not accepted",
            "already exists. Choose a new folder",
            "There is no such page",
            "This request is not one the app sends",
        ),
    ] {
        let cookie = format!("{session}; qc_lang={lang}");
        let post = |path: &str, body: String| {
            let app = app.clone();
            let request = form_post(path, &cookie, &body);
            async move { body_text(app.oneshot(request).await.unwrap()).await }
        };
        // The staff member exists already: the library's StaffExists, in words.
        let html = post(
            "/settings/staff/add",
            format!(
                "csrf={csrf}&name={TEST_STAFF}&new_passphrase=another-passphrase&repeat=another-passphrase&current={passphrase}"
            ),
        )
        .await;
        assert!(html.contains(staff_exists), "{lang}: {html}");
        assert!(html.contains(TEST_STAFF));
        // A wrong confirmation passphrase: NotAccepted, in words.
        let html = post(
            "/settings/staff/add",
            format!(
                "csrf={csrf}&name=Hoa&new_passphrase=another-passphrase&repeat=another-passphrase&current=wrong-passphrase"
            ),
        )
        .await;
        assert!(html.contains(wrong_passphrase), "{lang}: {html}");
        assert!(!html.contains("not accepted</p>"), "{html}");
        // A backup into a folder that exists: the I/O error in words, with the folder.
        let html = post("/settings/backup", format!("csrf={csrf}&folder={folder}")).await;
        assert!(html.contains(folder_exists), "{lang}: {html}");
        assert!(html.contains(&taken.display().to_string()));
        assert!(!html.contains("choose a new directory"), "{html}");
        // A form the app never sends (no folder at all): axum's refusal, in words.
        let response = app
            .clone()
            .oneshot(form_post(
                "/settings/backup",
                &cookie,
                &format!("csrf={csrf}"),
            ))
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
        let html = body_text(response).await;
        assert!(html.contains(bad_request), "{lang}: {html}");
        assert!(!html.contains("deserialize"), "{html}");
        // An address the app does not serve.
        let response = app
            .clone()
            .oneshot(
                Request::get("/no-such-page")
                    .header(header::COOKIE, format!("qc_lang={lang}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert!(body_text(response).await.contains(not_found));
    }
}
