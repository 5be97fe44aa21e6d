//! Dashboard admins: the first-run path, sign-in and sign-out over plain
//! forms, the session cookie's attributes, CSRF on sign-out, rate-limited
//! attempts, and `keyward admin add-user` as a process.

use crate::helpers::{spawn_app, TestApp, ROOT_TOKEN};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = client().post(app.url(path)).form(form);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_string()
}

/// The `keyward_session=...` pair of a response's Set-Cookie, and the whole header.
fn session_cookie(res: &reqwest::Response) -> (String, String) {
    let header = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = header.split(';').next().unwrap().trim().to_string();
    (pair, header)
}

async fn session(app: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let res = client()
        .get(app.url("/admin/session"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post_form(
        app,
        "/admin/sign-in",
        &[("email", email), ("password", password)],
        None,
    )
    .await
}

/// Signs in with the test password; the session cookie and its CSRF token.
pub async fn signed_in(app: &TestApp, email: &str) -> (String, String) {
    let (cookie, _) = session_cookie(&sign_in(app, email, PASSWORD).await);
    let csrf = session(app, &cookie).await.1["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

/// A dashboard page's HTML as the session sees it.
pub async fn page_html(app: &TestApp, path: &str, cookie: &str) -> String {
    client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The secret a page shows once.
pub fn shown_secret(html: &str) -> Option<String> {
    let marker = "class=\"secret-value\">";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('<')?].to_string())
}

#[tokio::test]
async fn first_run_sign_in_and_sign_out() {
    let app = spawn_app().await;
    let first = [
        ("root_token", "not-the-root-token"),
        ("email", "ops@example.com"),
        ("password", PASSWORD),
    ];
    let res = post_form(&app, "/admin/first-run", &first, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let short = [
        ("root_token", ROOT_TOKEN),
        ("email", "ops@example.com"),
        ("password", "too short"),
    ];
    let res = post_form(&app, "/admin/first-run", &short, None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let first = [
        ("root_token", ROOT_TOKEN),
        ("email", "Ops@Example.com"),
        ("password", PASSWORD),
    ];
    let res = post_form(&app, "/admin/first-run", &first, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin/cache-keys");
    let (cookie, header) = session_cookie(&res);
    assert!(
        cookie.starts_with("keyward_session=") && cookie.len() > 40,
        "{header}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP: {header}");
    let (status, me) = session(&app, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ops@example.com");
    assert_eq!(me["role"], "admin");
    let csrf = me["csrf_token"].as_str().unwrap().to_string();

    // The first-run path closes once an admin exists.
    let res = post_form(&app, "/admin/first-run", &first, None).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Sign-out needs the session's CSRF token.
    let res = post_form(
        &app,
        "/admin/sign-out",
        &[("csrf_token", "forged")],
        Some(&cookie),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(session(&app, &cookie).await.0, StatusCode::OK);
    let res = post_form(
        &app,
        "/admin/sign-out",
        &[("csrf_token", &csrf)],
        Some(&cookie),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&res).1.contains("Max-Age=0"));
    assert_eq!(session(&app, &cookie).await.0, StatusCode::UNAUTHORIZED);

    // Signing in again; wrong passwords and unknown emails get the same answer.
    let res = sign_in(&app, "ops@example.com", "wrong password here").await;
    assert_eq!(location(&res), "/admin/sign-in?error=invalid");
    assert!(res.headers().get(SET_COOKIE).is_none());
    let res = sign_in(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(location(&res), "/admin/sign-in?error=invalid");
    let res = client()
        .post(app.url("/admin/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/admin/cache-keys");
    let (cookie, header) = session_cookie(&res);
    assert!(header.contains("; Secure"), "over TLS: {header}");
    assert_eq!(session(&app, &cookie).await.0, StatusCode::OK);

    // Every step is in the audit trail under the admin's name.
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?limit=50", None)
        .await;
    let actions: Vec<(String, String)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (action, actor) in [
        ("admin.add", "root"),
        ("admin.sign_in", "admin:ops@example.com"),
        ("admin.sign_out", "admin:ops@example.com"),
        ("admin.sign_in_failed", "admin:nobody@example.com"),
    ] {
        assert!(
            actions.contains(&(action.to_string(), actor.to_string())),
            "{action} by {actor}: {actions:?}"
        );
    }
    // The password is stored as argon2id, never as given.
    let listed = trail.to_string();
    assert!(!listed.contains(PASSWORD));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account() {
    let app = spawn_app().await;
    let out = app
        .cli_with_stdin(
            &["admin", "add-user", "ops@example.com"],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..5 {
        let res = sign_in(&app, "ops@example.com", "wrong password here").await;
        assert_eq!(location(&res), "/admin/sign-in?error=invalid");
    }
    // The sixth attempt within the minute is refused, even with the right password.
    let res = sign_in(&app, "ops@example.com", PASSWORD).await;
    assert_eq!(location(&res), "/admin/sign-in?error=limited");
    assert!(res.headers().get(SET_COOKIE).is_none());
    // Another account is not locked out by it.
    let out = app
        .cli_with_stdin(
            &["admin", "add-user", "other@example.com"],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(out.status.success());
    let res = sign_in(&app, "other@example.com", PASSWORD).await;
    assert_eq!(location(&res), "/admin/cache-keys");
}

#[tokio::test]
async fn the_cli_adds_admins_and_viewers() {
    let app = spawn_app().await;
    let out = app
        .cli_with_stdin(
            &[
                "admin",
                "add-user",
                "viewer@example.com",
                "--role",
                "viewer",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("viewer@example.com added (viewer)"));
    let res = sign_in(&app, "viewer@example.com", PASSWORD).await;
    let (cookie, _) = session_cookie(&res);
    let (_, me) = session(&app, &cookie).await;
    assert_eq!(me["role"], "viewer");

    for (args, input, message) in [
        (
            vec!["admin", "add-user", "viewer@example.com"],
            format!("{PASSWORD}\n"),
            "exists already",
        ),
        (
            vec!["admin", "add-user", "x@example.com"],
            "short\n".to_string(),
            "at least 12 characters",
        ),
        (
            vec!["admin", "add-user", "not-an-email"],
            format!("{PASSWORD}\n"),
            "email",
        ),
        (
            vec!["admin", "add-user", "y@example.com", "--role", "owner"],
            format!("{PASSWORD}\n"),
            "admin or viewer",
        ),
    ] {
        let out = app.cli_with_stdin(&args, &input).await;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // Without a session there is no session.
    assert_eq!(
        session(&app, "keyward_session=forged").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn admins_disable_and_enable_keys_from_the_page_and_viewers_cannot() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let (key, key_id) = (
        crate::helpers::s(&acme["api_key"]).to_string(),
        crate::helpers::s(&acme["key_id"]).to_string(),
    );
    for (email, role) in [
        ("ops@example.com", "admin"),
        ("viewer@example.com", "viewer"),
    ] {
        let out = app
            .cli_with_stdin(
                &["admin", "add-user", email, "--role", role],
                &format!("{PASSWORD}\n"),
            )
            .await;
        assert!(out.status.success());
    }
    let disable = format!("/admin/keys/{key_id}/disable");
    let enable = format!("/admin/keys/{key_id}/enable");

    // A viewer is refused by the server: nothing changes.
    let (viewer, viewer_csrf) = signed_in(&app, "viewer@example.com").await;
    let res = post_form(
        &app,
        &disable,
        &[("csrf_token", &viewer_csrf), ("confirm", "yes")],
        Some(&viewer),
    )
    .await;
    assert_eq!(location(&res), "/admin/cache-keys?notice=read-only");
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "VALID");

    let (admin, csrf) = signed_in(&app, "ops@example.com").await;
    // Without the session's CSRF token, or without confirming, nothing changes.
    let res = post_form(
        &app,
        &disable,
        &[("csrf_token", "forged"), ("confirm", "yes")],
        Some(&admin),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post_form(&app, &disable, &[("csrf_token", &csrf)], Some(&admin)).await;
    assert_eq!(location(&res), "/admin/cache-keys?notice=confirm");
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "VALID");
    // Without a session at all: 401.
    let res = post_form(
        &app,
        &disable,
        &[("csrf_token", &csrf), ("confirm", "yes")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = post_form(
        &app,
        &disable,
        &[("csrf_token", &csrf), ("confirm", "yes")],
        Some(&admin),
    )
    .await;
    assert_eq!(
        location(&res),
        format!("/admin/cache-keys?notice=disabled&key={key_id}")
    );
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "DISABLED");
    let res = post_form(&app, &enable, &[("csrf_token", &csrf)], Some(&admin)).await;
    assert_eq!(
        location(&res),
        format!("/admin/cache-keys?notice=active&key={key_id}")
    );
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "VALID");

    // The audit trail names the admin.
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?action=key.disable", None)
        .await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["actor"], "admin:ops@example.com");
}

#[tokio::test]
async fn rotating_from_the_page_shows_the_new_secret_once_and_keeps_the_old_one_for_the_grace() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let old_key = crate::helpers::s(&acme["api_key"]).to_string();
    let key_id = crate::helpers::s(&acme["key_id"]).to_string();
    let out = app
        .cli_with_stdin(
            &["admin", "add-user", "ops@example.com"],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cookie, csrf) = signed_in(&app, "ops@example.com").await;
    let page = || async {
        let res = client()
            .get(app.url("/admin/cache-keys?notice=rotated"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let no_store = res
            .headers()
            .get("cache-control")
            .is_some_and(|v| v == "no-store");
        (no_store, res.text().await.unwrap())
    };
    let rotate = format!("/admin/keys/{key_id}/rotate");
    let res = post_form(
        &app,
        &rotate,
        &[
            ("csrf_token", &csrf),
            ("grace_seconds", "3600"),
            ("confirm", "yes"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(
        location(&res),
        format!("/admin/cache-keys?notice=rotated&key={key_id}")
    );

    let (no_store, html) = page().await;
    assert!(html.contains("you will not see this again"), "{html}");
    assert!(no_store, "a page with a secret must not be cached");
    let new_key = shown_secret(&html).expect("secret shown");
    assert_ne!(new_key, old_key);
    assert_eq!(app.verify_code(&new_key, Some("jt_acme")).await, "VALID");
    // The old secret still works during the grace period.
    assert_eq!(app.verify_code(&old_key, Some("jt_acme")).await, "VALID");
    // Shown once: the next view has no secret.
    let (no_store, again) = page().await;
    assert!(!again.contains(&new_key) && !again.contains("secret-value"));
    // Admin pages (a CSRF token, tenants' data) are never stored by caches either.
    assert!(no_store);

    // Rotating at once retires the previous secret immediately.
    let res = post_form(
        &app,
        &rotate,
        &[
            ("csrf_token", &csrf),
            ("grace_seconds", "0"),
            ("confirm", "yes"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(app.verify_code(&new_key, Some("jt_acme")).await, "VALID");
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?action=key.rotate", None)
        .await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{trail}");
    assert!(entries
        .iter()
        .all(|e| e["actor"] == "admin:ops@example.com"));
    assert!(
        !trail.to_string().contains(&new_key),
        "the audit trail never holds a secret"
    );
}

#[tokio::test]
async fn provisioning_from_the_page_shows_the_key_once() {
    let app = spawn_app().await;
    for (email, role) in [
        ("ops@example.com", "admin"),
        ("viewer@example.com", "viewer"),
    ] {
        let out = app
            .cli_with_stdin(
                &["admin", "add-user", email, "--role", role],
                &format!("{PASSWORD}\n"),
            )
            .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let form = |csrf: &str, user: &str| {
        vec![
            ("csrf_token".to_string(), csrf.to_string()),
            ("user_id".to_string(), user.to_string()),
            ("name".to_string(), "Globex Corp".to_string()),
            ("tier".to_string(), "pro".to_string()),
            ("integration".to_string(), "files".to_string()),
            ("project_id".to_string(), "jt".to_string()),
        ]
    };
    let post = |cookie: String, fields: Vec<(String, String)>| {
        let app = &app;
        async move {
            client()
                .post(app.url("/admin/provision"))
                .header(COOKIE, cookie)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let (viewer, viewer_csrf) = signed_in(&app, "viewer@example.com").await;
    let res = post(viewer, form(&viewer_csrf, "globex")).await;
    assert_eq!(location(&res), "/admin/cache-keys?notice=read-only");

    let (cookie, csrf) = signed_in(&app, "ops@example.com").await;
    let res = post(cookie.clone(), form(&csrf, "bad id")).await;
    let refused = location(&res);
    assert_eq!(refused, "/admin/cache-keys?notice=invalid&reason=user_id");
    let html = page_html(&app, &refused, &cookie).await;
    assert!(
        html.contains("Provisioning refused: the tenant id must be"),
        "{html}"
    );
    // A crafted link cannot put its own words on the page.
    let html = page_html(
        &app,
        "/admin/cache-keys?notice=invalid&reason=Call%20us%20now&message=Call",
        &cookie,
    )
    .await;
    assert!(!html.contains("Call us now") && html.contains("the request was refused (?)"));

    let res = post(cookie.clone(), form(&csrf, "globex")).await;
    let landed = location(&res);
    assert!(
        landed.starts_with("/admin/cache-keys?notice=provisioned&key="),
        "{landed}"
    );
    let html = page_html(&app, &landed, &cookie).await;
    let key = shown_secret(&html).expect("key shown once");
    assert_eq!(app.verify_code(&key, Some("jt_globex")).await, "VALID");
    assert!(html.contains("data-tenant=\"globex\""));
    let (status, tenant) = app
        .root_json(Method::GET, "/api/tenants/globex", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["plan"], "pro");
    assert_eq!(tenant["name"], "Globex Corp");
}

/// The tenant ids of the customers table's rows, in order.
pub fn table_rows(html: &str) -> Vec<String> {
    html.split("data-tenant=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn the_customers_table_searches_filters_sorts_and_shows_this_months_use() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    for (id, tier) in [("beta", "free"), ("gamma", "enterprise")] {
        app.provision(serde_json::json!({"user_id": id, "integration": "files", "project_id": "jt", "tier": tier}))
            .await;
    }
    // acme: one miss and one hit this month.
    let key = crate::helpers::s(&acme["api_key"]);
    app.cache_set(key, "jt_acme", "hello", serde_json::json!({"a": 1}))
        .await;
    app.cache_get(key, "jt_acme", "hello").await;
    app.cache_get(key, "jt_acme", "other").await;
    app.flush_usage().await;

    let out = app
        .cli_with_stdin(
            &["admin", "add-user", "ops@example.com"],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(out.status.success());
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let view = |query: &'static str| {
        let (app, cookie) = (&app, cookie.clone());
        async move { page_html(app, &format!("/admin/cache-keys{query}"), &cookie).await }
    };
    let all = view("").await;
    assert_eq!(table_rows(&all), ["acme", "beta", "gamma"]);
    assert!(all.contains("3 customers"), "{all}");
    // acme's row: its namespace, 3 requests of the pro quota (100,000), hits 1 of 2 gets.
    let acme_row =
        &all[all.find("data-tenant=\"acme\"").unwrap()..all.find("data-tenant=\"beta\"").unwrap()];
    assert!(acme_row.contains("jt_acme"), "{acme_row}");
    assert!(acme_row.contains("3 / 100000"), "{acme_row}");
    assert!(acme_row.contains("50.0%"), "{acme_row}");
    assert!(acme_row.contains(" UTC"), "last used: {acme_row}");
    let beta_row =
        &all[all.find("data-tenant=\"beta\"").unwrap()..all.find("data-tenant=\"gamma\"").unwrap()];
    assert!(beta_row.contains("never"), "{beta_row}");

    assert_eq!(table_rows(&view("?q=BET").await), ["beta"]);
    assert_eq!(
        table_rows(&view("?q=%25").await),
        Vec::<String>::new(),
        "a % is matched literally"
    );
    assert_eq!(table_rows(&view("?plan=enterprise").await), ["gamma"]);
    assert_eq!(
        table_rows(&view("?sort=plan").await),
        ["gamma", "beta", "acme"]
    );
    let (status, _) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/beta",
            Some(serde_json::json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(table_rows(&view("?status=suspended").await), ["beta"]);
}

#[tokio::test]
async fn the_invoices_page_generates_and_downloads_what_the_api_exports() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let (status, body) = crate::costs::ingest(
        &app,
        &serde_json::json!([crate::costs::event(
            "i1",
            "acme",
            "u1",
            "openai",
            serde_json::json!({"tokens_in": 1_000_000}),
            "2026-10-05T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (email, role) in [
        ("ops@example.com", "admin"),
        ("viewer@example.com", "viewer"),
    ] {
        let out = app
            .cli_with_stdin(
                &["admin", "add-user", email, "--role", role],
                &format!("{PASSWORD}\n"),
            )
            .await;
        assert!(out.status.success());
    }
    let (cookie, csrf) = signed_in(&app, "ops@example.com").await;
    let empty = page_html(&app, "/admin/invoices?period=2026-10", &cookie).await;
    assert!(empty.contains("No invoices for this month yet"), "{empty}");

    let (viewer, viewer_csrf) = signed_in(&app, "viewer@example.com").await;
    let form = |csrf: &str| {
        vec![
            ("csrf_token".to_string(), csrf.to_string()),
            ("period".to_string(), "2026-10".to_string()),
        ]
    };
    let post = |cookie: &str, fields: Vec<(String, String)>| {
        client()
            .post(app.url("/admin/invoices/generate"))
            .header(COOKIE, cookie.to_string())
            .form(&fields)
            .send()
    };
    let res = post(&viewer, form(&viewer_csrf)).await.unwrap();
    assert_eq!(location(&res), "/admin/invoices?notice=read-only");
    let res = post(&cookie, form(&csrf)).await.unwrap();
    assert_eq!(
        location(&res),
        "/admin/invoices?period=2026-10&notice=generated&count=1"
    );

    let page = page_html(&app, "/admin/invoices?period=2026-10", &cookie).await;
    assert!(page.contains("data-invoice=\"KW-202610-ACME\""), "{page}");
    // 1,000,000 in x 2.5 $/M = 2.50; SG&A 0.25; compliance 0.13 (12.5 c, half up): 2.88.
    assert!(page.contains("2.88 USD"), "{page}");

    let download = client()
        .get(app.url("/admin/invoices/export?period=2026-10&format=csv"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("keyward-invoices-2026-10.csv"));
    let api = app
        .root(
            Method::GET,
            "/api/xero/export?period=2026-10&format=csv",
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(download.text().await.unwrap(), api);
    let res = client()
        .get(app.url("/admin/invoices/export?period=2026-10&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
