//! The dashboard's cost, optimisation and customer pages over HTTP, as a
//! signed-in admin (and a viewer) sees them: charts drawn on the server with
//! the series and figures the tables and the REST API give.

use crate::admins::{client, location, post_form, shown_secret, signed_in, PASSWORD};
use crate::costs::{event, ingest};
use crate::helpers::{s, spawn_app, TestApp};
use chrono::{Duration, Utc};
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) async fn add_admins(app: &TestApp) {
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
        assert!(out.status.success(), "{out:?}");
    }
}

/// A page's HTML without Leptos' hydration markers (`<!>`).
pub(crate) async fn page_html(app: &TestApp, path: &str, cookie: &str) -> String {
    crate::admins::page_html(app, path, cookie)
        .await
        .replace("<!>", "")
}

/// The markup of the chart figure `id` (up to its end).
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id} in the page"));
    let end = html[start..].find("</figure>").unwrap() + start;
    &html[start..end]
}

/// Each drawn chart's SVG is in the page once: in its figure, not again in
/// the data the page hydrates from.
fn svgs_sent_once(page: &str) {
    let drawn = page.matches("<div class=\"svg\">").count();
    assert!(drawn > 0, "no chart drawn: {page}");
    assert_eq!(
        page.matches("www.w3.org/2000/svg").count(),
        drawn,
        "an SVG is sent more than once"
    );
}

fn series(figure: &str) -> Vec<&str> {
    let marker = "data-series=\"";
    let start = figure.find(marker).unwrap() + marker.len();
    figure[start..start + figure[start..].find('"').unwrap()]
        .split('|')
        .collect()
}

/// The trimmed contents of a figure's SVG `<text>` elements (labels, legend).
fn texts(figure: &str) -> Vec<String> {
    figure
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn has_text(figure: &str, text: &str) -> bool {
    texts(figure).iter().any(|t| t == text)
}

async fn status_of(app: &TestApp, path: &str, cookie: &str) -> StatusCode {
    client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_cost_dashboard_draws_what_its_tables_and_the_api_show() {
    let app = spawn_app().await;
    for t in ["acme", "beta", "idle"] {
        app.provision_tenant(t).await;
    }
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;

    // Nothing yet: every chart says so instead of drawing an empty frame.
    let empty = page_html(&app, "/admin/costs?period=last-30-days", &cookie).await;
    assert!(empty.contains("No cost in this period yet."), "{empty}");
    assert!(!figure(&empty, "daily-cost").contains("<svg"));

    let at = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let yesterday = (Utc::now() - Duration::hours(25)).to_rfc3339();
    // acme: u1 1M OpenAI tokens in = $2.50, u2 2M Anthropic tokens in = $6.00;
    // beta: u3 400k OpenAI tokens in = $1.00 (yesterday). Total $9.50.
    let (status, body) = ingest(
        &app,
        &json!([
            event(
                "d1",
                "acme",
                "u1",
                "openai",
                json!({"tokens_in": 1_000_000}),
                &at
            ),
            event(
                "d2",
                "acme",
                "u2",
                "anthropic",
                json!({"tokens_in": 2_000_000}),
                &at
            ),
            event(
                "d3",
                "beta",
                "u3",
                "openai",
                json!({"tokens_in": 400_000}),
                &yesterday
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let page = page_html(&app, "/admin/costs?period=last-30-days", &cookie).await;
    assert!(page.contains("Costs across tenants"));
    svgs_sent_once(&page);
    assert!(page.contains("$9.50"), "total cost KPI: {page}");
    let daily = figure(&page, "daily-cost");
    assert_eq!(series(daily), ["anthropic", "openai"]);
    assert!(daily.contains("<svg") && daily.contains("role=\"img\""));
    // The legend names each series inside the SVG, and the axes are labelled.
    for text in ["anthropic", "openai", "Cost (USD)", "Day (UTC)"] {
        assert!(
            has_text(daily, text),
            "{text} missing in {:?}",
            texts(daily)
        );
    }
    // Ranking: costliest first, with revenue beside the cost; the table agrees.
    let ranking = figure(&page, "tenant-ranking");
    assert_eq!(series(ranking), ["cost", "revenue"]);
    assert!(has_text(ranking, "acme") && has_text(ranking, "beta"));
    let (acme_row, beta_row) = (
        page.find("<tr data-tenant=\"acme\"").unwrap(),
        page.find("<tr data-tenant=\"beta\"").unwrap(),
    );
    assert!(acme_row < beta_row, "acme ($8.50) ranks above beta ($1.00)");
    // Per-user distribution with p95 / p99 marked: users cost 1.00, 2.50, 6.00.
    let users = figure(&page, "user-distribution");
    assert_eq!(series(users), ["users", "p95", "p99"]);
    assert!(
        has_text(users, "p95 $6.00") && has_text(users, "p99 $6.00"),
        "{:?}",
        texts(users)
    );
    assert!(page.contains("<dt>Median</dt><dd>$2.50</dd>"), "{page}");
    // Services table with shares: anthropic 6.00 / 9.50 = 63.2 %.
    assert!(page.contains("<tr data-service=\"anthropic\">"));
    assert!(page.contains("63.2%"));
    // The forecast (platform-wide) has both series and its band.
    let forecast = figure(&page, "forecast");
    assert_eq!(series(forecast), ["cost", "revenue"]);
    assert!(has_text(forecast, "cost 95% band") && has_text(forecast, "today"));

    // One tenant: the figures are its TPC from the API over the same days.
    let today = Utc::now().date_naive();
    let (from, to) = (today - Duration::days(29), today + Duration::days(1));
    let (status, tpc) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/acme?period=daily&from={from}&to={to}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tpc}");
    assert_eq!(tpc["total_cost_micros"], 8_500_000);
    let acme = page_html(
        &app,
        "/admin/costs?period=last-30-days&tenant=acme",
        &cookie,
    )
    .await;
    assert!(acme.contains("Costs of acme"));
    assert!(
        acme.contains("<strong class=\"kpi-value\">$8.50</strong>"),
        "{acme}"
    );
    let revenue = tpc["profitability"]["revenue_micros"].as_i64().unwrap();
    let revenue = format!(
        "${}.{:02}",
        revenue / 1_000_000,
        (revenue % 1_000_000 + 5_000) / 10_000
    );
    assert!(
        acme.contains(&revenue),
        "revenue {revenue} as the API says: {acme}"
    );
    assert!(!acme.contains("data-chart=\"tenant-ranking\""));
    // The tenant's own forecast, the same the API gives for it.
    assert_eq!(series(figure(&acme, "forecast")), ["cost", "revenue"]);
    let (status, forecast) = app
        .root_json(Method::GET, "/api/analytics/forecast?tenant_id=acme", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{forecast}");
    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/analytics/forecast?tenant_id=nobody",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(series(figure(&acme, "daily-cost")), ["anthropic", "openai"]);

    // A tenant without cost: a clear empty state, no error.
    let idle = page_html(&app, "/admin/costs?period=this-month&tenant=idle", &cookie).await;
    assert!(idle.contains("No cost in this period yet."), "{idle}");

    // Bad input is a clear 4xx page (422 as in the API), not a 500.
    assert_eq!(
        status_of(&app, "/admin/costs?period=fortnight", &cookie).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let bad = page_html(&app, "/admin/costs?period=fortnight", &cookie).await;
    assert!(bad.contains("period: must be one of"), "{bad}");
    assert_eq!(
        status_of(&app, "/admin/costs?tenant=nobody", &cookie).await,
        StatusCode::NOT_FOUND
    );
    // Without a session: to the sign-in page.
    let res = client().get(app.url("/admin/costs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin/sign-in");
}

#[tokio::test]
async fn the_cost_dashboard_shows_cache_hit_rate_and_savings() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let page = page_html(&app, "/admin/costs?period=last-30-days", &cookie).await;
    assert!(page.contains("No cache lookups in this period yet."));

    // One miss, one set, three hits: 3 / 4 lookups.
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hello").await.body["hit"],
        false
    );
    let set = app
        .cache_set(&key, "jt_acme", "hello", json!({"text": "hi"}))
        .await;
    assert!(set.status.is_success(), "{:?}", set.body);
    for _ in 0..3 {
        assert_eq!(
            app.cache_get(&key, "jt_acme", "hello").await.status,
            StatusCode::OK
        );
    }
    app.flush_usage().await;
    let page = page_html(&app, "/admin/costs?period=last-30-days", &cookie).await;
    let hit_rate = figure(&page, "hit-rate");
    assert_eq!(series(hit_rate), ["hit rate"]);
    assert!(hit_rate.contains("<svg") && has_text(hit_rate, "Hits / lookups (%)"));
    assert!(figure(&page, "savings").contains("<svg"));
    // The table beside it: 5 requests, 3 hits, 1 miss, 75.0 %.
    assert!(page.contains("75.0%"), "{page}");
    // The data plane's own cost lands as service keyward.
    assert!(series(figure(&page, "daily-cost")).contains(&"keyward"));
}

#[tokio::test]
async fn the_optimisation_page_flags_under_used_services() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let empty = page_html(&app, "/admin/optimize", &cookie).await;
    assert!(empty.contains("No usage in this week yet."), "{empty}");

    // Twelve users on OpenAI this week, one of them also on Deepgram:
    // Deepgram reaches 1 / 12 = 8.3 % of active users, under the 10 % bar.
    let at = Utc::now().to_rfc3339();
    let mut events: Vec<Value> = (0..12)
        .map(|i| {
            event(
                &format!("o{i}"),
                "acme",
                &format!("u{i}"),
                "openai",
                json!({"tokens_in": 1_000_000}),
                &at,
            )
        })
        .collect();
    events.push(event(
        "g1",
        "acme",
        "u0",
        "deepgram",
        json!({"minutes": 1}),
        &at,
    ));
    let (status, body) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let page = page_html(&app, "/admin/optimize", &cookie).await;
    svgs_sent_once(&page);
    assert!(
        page.contains("data-service=\"deepgram\" data-under-used=\"true\""),
        "{page}"
    );
    assert!(page.contains("data-service=\"openai\" data-under-used=\"false\""));
    assert!(page.contains("8.3%"));
    let chart = figure(&page, "service-use");
    assert_eq!(series(chart), ["user share", "threshold"]);
    assert!(has_text(chart, "deepgram") && has_text(chart, "openai"));
    // The cohort is the most active 30 %: 4 of 12 users.
    assert!(page.contains("Trial cohort (4 users"), "{page}");
    // What the week billed by the money model (acme is pro, cost-plus):
    // openai $30.00, deepgram 0.43 c -> 0; SG&A $3.00; compliance $1.50.
    // Net: 34,500,000 - 30,004,300 - 4,500,000 = -4,300 µ$.
    assert!(page.contains("$34.50 billed, -$0.0043 net"), "{page}");
    assert_eq!(
        status_of(&app, "/admin/optimize?week=someday", &cookie).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_customer_page_shows_use_limits_keys_secrets_and_audit() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let (key, key_id) = (
        s(&acme["api_key"]).to_string(),
        s(&acme["key_id"]).to_string(),
    );
    add_admins(&app).await;
    let (cookie, csrf) = signed_in(&app, "ops@example.com").await;
    let path = "/admin/customers/acme";

    assert_eq!(app.cache_get(&key, "jt_acme", "q").await.body["hit"], false);
    app.cache_set(&key, "jt_acme", "q", json!({"text": "a"}))
        .await;
    assert_eq!(
        app.cache_get(&key, "jt_acme", "q").await.status,
        StatusCode::OK
    );
    app.flush_usage().await;

    // This month's bill: an event of $2.50 today, billed cost-plus (pro):
    // 250 c + 25 c SG&A + 12.5 -> 13 c compliance = $2.88, the TPC's revenue.
    let (status, body) = ingest(
        &app,
        &json!([event(
            "c1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1_000_000}),
            &Utc::now().to_rfc3339()
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let page = page_html(&app, path, &cookie).await;
    assert!(page.contains("<h1>acme"), "{page}");
    svgs_sent_once(&page);
    let money = &page[page.find("data-card=\"money\"").expect("a money card")..];
    assert!(
        money.contains("<dt>Billed (revenue)</dt><dd>$2.88</dd>"),
        "{money}"
    );
    assert!(
        money.contains("<dt>Direct cost</dt><dd>$2.50</dd>"),
        "{money}"
    );
    assert_eq!(
        series(figure(&page, "requests")),
        ["hits", "misses", "other"]
    );
    assert!(figure(&page, "requests").contains("<svg"));
    assert_eq!(series(figure(&page, "latency")), ["mean", "p95"]);
    assert!(page.contains("<dt>Hit rate</dt><dd>50.0%</dd>"), "{page}");
    // Gauges: three requests this month against the plan's quota.
    assert!(page.contains("Requests this month"));
    assert!(page.contains("<meter"));
    assert!(page.contains(&format!("data-key=\"{key_id}\"")));

    // Rotate from this page: back here, the new secret shown once, the old
    // version in its grace period beside the current one.
    let res = post_form(
        &app,
        &format!("/admin/keys/{key_id}/rotate"),
        &[
            ("csrf_token", &csrf),
            ("grace_seconds", "3600"),
            ("confirm", "yes"),
            ("back", path),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(
        location(&res),
        format!("{path}?notice=rotated&key={key_id}")
    );
    let page = page_html(
        &app,
        &format!("{path}?notice=rotated&key={key_id}"),
        &cookie,
    )
    .await;
    let secret = shown_secret(&page).expect("the new secret, once");
    assert_eq!(app.verify_code(&secret, Some("jt_acme")).await, "VALID");
    assert!(
        page.contains(">grace<") && page.contains(">current<"),
        "{page}"
    );
    let again = page_html(&app, path, &cookie).await;
    assert!(shown_secret(&again).is_none() && !again.contains(&secret));
    // A foreign place to go back to is ignored.
    let res = post_form(
        &app,
        &format!("/admin/keys/{key_id}/enable"),
        &[("csrf_token", &csrf), ("back", "//evil.example/x")],
        Some(&cookie),
    )
    .await;
    assert!(
        location(&res).starts_with("/admin/cache-keys?"),
        "{}",
        location(&res)
    );

    // A provider secret: stored (sealed), listed by name and kind, never shown.
    let value = "sk-test-abcdefghijklmnop";
    let form = |csrf: &str| {
        vec![
            ("csrf_token", csrf.to_string()),
            ("tenant_id", "acme".to_string()),
            ("service", "openai".to_string()),
            ("kind", "managed".to_string()),
            ("value", value.to_string()),
        ]
    };
    let post = |cookie: &str, fields: Vec<(&'static str, String)>| {
        client()
            .post(app.url("/admin/secrets/rotate"))
            .header(COOKIE, cookie.to_string())
            .form(&fields)
            .send()
    };
    let (viewer, viewer_csrf) = signed_in(&app, "viewer@example.com").await;
    let res = post(&viewer, form(&viewer_csrf)).await.unwrap();
    assert_eq!(location(&res), format!("{path}?notice=read-only"));
    let res = post(&cookie, form("not-the-token")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(&cookie, form(&csrf)).await.unwrap();
    assert_eq!(
        location(&res),
        format!("{path}?notice=secret-rotated&service=openai&version=1")
    );
    let mut short = form(&csrf);
    short[4].1 = "short".into();
    let res = post(&cookie, short).await.unwrap();
    assert_eq!(
        location(&res),
        format!("{path}?notice=secret-refused&reason=value")
    );
    let refused = page_html(&app, &location(&res), &cookie).await;
    assert!(refused.contains("The secret was not stored: the value must be 8 to 4096"));

    let page = page_html(&app, path, &cookie).await;
    assert!(page.contains("data-secret=\"openai/managed\""), "{page}");
    assert!(!page.contains(value), "a secret value never reaches a page");
    // The audit trail names the admin for the rotation and the secret.
    assert!(page.contains("admin:ops@example.com"));
    assert!(page.contains("key.rotate"), "{page}");
    assert_eq!(
        status_of(&app, "/admin/customers/nobody", &cookie).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dashboard_forms_refuse_other_sites_and_answer_browsers_with_pages() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key_id = s(&acme["key_id"]).to_string();
    add_admins(&app).await;
    let (cookie, csrf) = signed_in(&app, "ops@example.com").await;
    // Login CSRF and friends: a form posted from another site is refused
    // before anything runs.
    for headers in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let res = client()
            .post(app.url("/admin/sign-in"))
            .header(headers.0, headers.1)
            .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "CROSS_SITE_FORM");
    }
    // The same site (as a browser sends it) is fine.
    let host = app.base.trim_start_matches("http://").to_string();
    let res = client()
        .post(app.url("/admin/sign-in"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{host}");

    // A browser whose form went stale gets a page, not JSON: a bad token
    // shows the message; an ended session goes back to sign-in.
    let res = client()
        .post(app.url(&format!("/admin/keys/{key_id}/disable")))
        .header(COOKIE, cookie.clone())
        .header("accept", "text/html")
        .form(&[("csrf_token", "stale"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("role=\"alert\""));
    let res = client()
        .post(app.url(&format!("/admin/keys/{key_id}/disable")))
        .header(COOKIE, "keyward_session=ended")
        .header("accept", "text/html")
        .form(&[("csrf_token", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/admin/sign-in?error=expired");
    // Rotating asks for the confirmation box, like disabling.
    let res = post_form(
        &app,
        &format!("/admin/keys/{key_id}/rotate"),
        &[("csrf_token", &csrf), ("grace_seconds", "0")],
        Some(&cookie),
    )
    .await;
    assert_eq!(location(&res), "/admin/cache-keys?notice=confirm");
    assert_eq!(
        app.verify_code(s(&acme["api_key"]), Some("jt_acme")).await,
        "VALID"
    );
    // Nothing changed: the key still has one secret version.
    let page = page_html(&app, "/admin/customers/acme", &cookie).await;
    assert!(!page.contains(">grace<"));
    // Out-of-range input is a clear 422, never a panic.
    for path in [
        "/admin/optimize?week=%2B262143-12-31",
        "/admin/cache-keys?page=4611686018427387904",
    ] {
        let status = status_of(&app, path, &cookie).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::OK,
            "{path}: {status}"
        );
    }
}

#[tokio::test]
async fn the_customers_table_pages_by_fifty_and_keeps_its_filters() {
    let app = spawn_app().await;
    for i in 0..55 {
        app.provision(
            json!({"user_id": format!("t{i:02}"), "integration": "files",
                             "project_id": "jt", "tier": "pro"}),
        )
        .await;
    }
    app.provision(
        json!({"user_id": "free1", "integration": "files", "project_id": "jt", "tier": "free"}),
    )
    .await;
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let rows = crate::admins::table_rows;

    let first = page_html(&app, "/admin/cache-keys?plan=pro", &cookie).await;
    assert!(first.contains("55 customers, page 1 of 2"), "{first}");
    let on_first = rows(&first);
    assert_eq!(on_first.len(), 50);
    assert_eq!(on_first[0], "t00");
    // The next link keeps the filter.
    assert!(
        first.contains("href=\"/admin/cache-keys?plan=pro&amp;page=2\" rel=\"next\""),
        "{first}"
    );
    let second = page_html(&app, "/admin/cache-keys?plan=pro&page=2", &cookie).await;
    assert_eq!(rows(&second), ["t50", "t51", "t52", "t53", "t54"]);
    assert!(second.contains("rel=\"prev\""));
    // Newest first when sorted by creation, marked as such for screen readers.
    let newest = page_html(&app, "/admin/cache-keys?sort=created", &cookie).await;
    assert_eq!(rows(&newest)[0], "free1");
    assert!(newest.contains("aria-sort=\"descending\""));
    // Past the last page: an empty page, not an error.
    let past = page_html(&app, "/admin/cache-keys?page=99", &cookie).await;
    assert!(rows(&past).is_empty());
}
