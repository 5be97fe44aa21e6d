//! What an exposed keyward must survive: hostile clients, and what the holder
//! of one key could learn about others.

use crate::helpers::{s, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn verify_names_a_namespace_owner_only_to_a_key_that_may_use_it() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    let key = s(&acme["api_key"]);

    let own = app.verify(key, Some("jt_acme")).await;
    assert_eq!(own["code"], "VALID");
    assert_eq!(own["namespace_tenant_id"], "acme");

    // Someone else's namespace, and one nobody owns, read alike: no owner.
    for namespace in ["jt_globex", "jt_nobody"] {
        let other = app.verify(key, Some(namespace)).await;
        assert_eq!(other["code"], "FORBIDDEN_NAMESPACE", "{namespace}: {other}");
        assert_eq!(
            other["namespace_tenant_id"],
            Value::Null,
            "{namespace}: {other}"
        );
        assert!(
            !other.to_string().contains("\"globex\""),
            "{namespace}: the answer names the owner: {other}"
        );
    }
}

/// acme and ACME (one named like a spreadsheet formula) both use openai in October 2026.
async fn look_alike_tenants(app: &crate::helpers::TestApp) {
    use crate::costs::{event, ingest};
    app.provision_tenant("acme").await;
    app.provision(serde_json::json!({
        "user_id": "ACME", "integration": "files", "project_id": "jt", "tier": "pro",
        "name": "=HYPERLINK(\"http://x\",\"y\")",
    }))
    .await;
    let units = serde_json::json!({"tokens_in": 1_000_000});
    let (status, body) = ingest(
        app,
        &serde_json::json!([
            event(
                "h1",
                "acme",
                "u1",
                "openai",
                units.clone(),
                "2026-10-05T10:00:00Z"
            ),
            event("h2", "ACME", "u1", "openai", units, "2026-10-06T10:00:00Z"),
        ]),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
}

#[tokio::test]
async fn tenants_whose_ids_differ_only_in_case_are_each_invoiced() {
    let app = spawn_app().await;
    look_alike_tenants(&app).await;
    let (status, out) = app
        .root_json(
            reqwest::Method::POST,
            "/api/xero/generate-invoices",
            Some(serde_json::json!({"period": "2026-10"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{out}");
    let (_, listed) = app
        .root_json(reqwest::Method::GET, "/api/invoices?period=2026-10", None)
        .await;
    let invoices = listed.as_array().cloned().unwrap_or_default();
    let mut numbers: Vec<String> = invoices
        .iter()
        .map(|i| s(&i["number"]).to_ascii_uppercase())
        .collect();
    assert_eq!(numbers.len(), 2, "{listed}");
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        2,
        "numbers must differ even ignoring case: {listed}"
    );
}

#[tokio::test]
async fn the_csv_export_never_starts_a_cell_with_a_formula() {
    let app = spawn_app().await;
    look_alike_tenants(&app).await;
    let (status, out) = app
        .root_json(
            reqwest::Method::POST,
            "/api/xero/generate-invoices",
            Some(serde_json::json!({"period": "2026-10"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{out}");
    let csv = app
        .root(
            reqwest::Method::GET,
            "/api/xero/export?period=2026-10&format=csv",
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    for line in csv.lines() {
        // Split on commas outside quotes: each cell, unquoted, must not start a formula.
        let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => cells.push(std::mem::take(&mut cell)),
                _ => cell.push(c),
            }
        }
        cells.push(cell);
        for cell in cells {
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "a cell starts a formula: {cell:?} in {line:?}"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_payments_add_up() {
    let app = spawn_app().await;
    look_alike_tenants(&app).await;
    let period = serde_json::json!({"period": "2026-10"});
    let (status, out) = app
        .root_json(
            reqwest::Method::POST,
            "/api/xero/generate-invoices",
            Some(period.clone()),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{out}");
    let (status, out) = app
        .root_json(reqwest::Method::POST, "/api/xero/push", Some(period))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{out}");

    // 20 payments of 0.05 at once on acme's invoice.
    let payments = (0..20).map(|i| {
        let app = &app;
        async move {
            app.root_json(
                reqwest::Method::POST,
                "/api/xero/payments",
                Some(serde_json::json!({"payment_id": format!("c{i}"), "invoice_number": "KW-202610-ACME",
                                        "amount": "0.05", "date": "2026-12-01"})),
            )
            .await
        }
    });
    for (status, body) in futures::future::join_all(payments).await {
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    let (_, invoice) = app
        .root_json(reqwest::Method::GET, "/api/invoices/KW-202610-ACME", None)
        .await;
    assert_eq!(invoice["paid_cents"], 100, "{invoice}");
    assert_eq!(invoice["status"], "sent", "{invoice}");
}

async fn add_admin(app: &crate::helpers::TestApp, email: &str) {
    let out = app
        .cli_with_stdin(
            &["admin", "add-user", email],
            &format!("{}\n", crate::admins::PASSWORD),
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sign-in from `client` (the address a trusted proxy saw).
async fn sign_in_from(
    app: &crate::helpers::TestApp,
    client: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    crate::admins::client()
        .post(app.url("/admin/sign-in"))
        .header("x-forwarded-for", client)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn someone_guessing_an_admins_password_does_not_lock_the_admin_out() {
    let app = crate::helpers::spawn_app_with(&[("KEYWARD_TRUSTED_PROXY", "1")]).await;
    add_admin(&app, "ops@example.com").await;
    let mut limited = 0;
    for _ in 0..12 {
        let res = sign_in_from(&app, "203.0.113.9", "ops@example.com", "a wrong guess!!").await;
        let to = crate::admins::location(&res);
        if to == "/admin/sign-in?error=limited" {
            limited += 1;
            assert!(res.headers().get("retry-after").is_some());
        } else {
            assert_eq!(to, "/admin/sign-in?error=invalid");
        }
    }
    assert!(
        limited >= 6,
        "the guesser must be made to wait: {limited} refusals"
    );
    // The guesser waits even with the right password...
    let res = sign_in_from(
        &app,
        "203.0.113.9",
        "ops@example.com",
        crate::admins::PASSWORD,
    )
    .await;
    assert_eq!(
        crate::admins::location(&res),
        "/admin/sign-in?error=limited"
    );
    // ...while the admin, from their own address, signs in at once.
    let res = sign_in_from(
        &app,
        "198.51.100.7",
        "ops@example.com",
        crate::admins::PASSWORD,
    )
    .await;
    assert_eq!(crate::admins::location(&res), "/admin/cache-keys");
}

#[tokio::test]
async fn a_sign_in_flood_is_refused_without_hashing_beyond_the_bound() {
    let app = crate::helpers::spawn_app_with(&[
        ("KEYWARD_TRUSTED_PROXY", "1"),
        ("KEYWARD_SIGN_IN_CONCURRENCY", "1"),
    ])
    .await;
    add_admin(&app, "ops@example.com").await;
    // 16 sign-ins at once, each from its own address (no per-client limit applies).
    let attempts = (0..16).map(|i| {
        let app = &app;
        async move {
            sign_in_from(
                app,
                &format!("203.0.113.{i}"),
                "ops@example.com",
                "a wrong guess!!",
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for res in &answers {
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        match crate::admins::location(res).as_str() {
            "/admin/sign-in?error=busy" => {
                busy += 1;
                assert_eq!(res.headers()["retry-after"], "1");
            }
            other => assert_eq!(other, "/admin/sign-in?error=invalid"),
        }
    }
    assert!(
        busy > 0,
        "with one password check at a time, some of 16 must be turned away"
    );
    // Once the flood is over, the admin signs in.
    let res = sign_in_from(
        &app,
        "198.51.100.7",
        "ops@example.com",
        crate::admins::PASSWORD,
    )
    .await;
    assert_eq!(crate::admins::location(&res), "/admin/cache-keys");
}

#[tokio::test]
async fn forged_well_formed_keys_are_refused_from_memory() {
    // A key of another installation: well-formed (its checksum holds), unknown here.
    let other = spawn_app().await;
    let forged = s(&other.provision_tenant("acme").await["api_key"]).to_string();
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let reads = || async {
        let (_, stats) = app
            .root_json(reqwest::Method::GET, "/api/stats", None)
            .await;
        stats["key_store_reads"].as_u64().unwrap()
    };
    let before = reads().await;
    for _ in 0..25 {
        assert_eq!(app.verify_code(&forged, Some("jt_acme")).await, "NOT_FOUND");
        let call = app.cache_get(&forged, "jt_acme", "hello").await;
        assert_eq!(call.status, reqwest::StatusCode::UNAUTHORIZED);
        assert_eq!(call.code(), "INVALID_API_KEY");
    }
    let after = reads().await;
    assert!(
        after - before <= 1,
        "50 refusals of one forged key made {} store reads",
        after - before
    );
}

#[tokio::test]
async fn a_refusal_repeated_by_one_caller_is_audited_once_a_minute() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    let key = s(&acme["api_key"]);
    for _ in 0..30 {
        let res = app
            .client
            .post(app.url("/api/keys/openai/globex"))
            .bearer_auth(key)
            .json(&serde_json::json!({"userId": "u1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::FORBIDDEN);
    }
    let (_, audit) = app
        .root_json(
            reqwest::Method::GET,
            "/api/audit?tenant_id=globex&action=secret.read",
            None,
        )
        .await;
    let denied = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .count();
    assert_eq!(
        denied, 1,
        "30 identical refusals, one audit record: {audit}"
    );
}

async fn call(
    app: &crate::helpers::TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_tenant_key_never_reads_a_pooled_key_above_its_plan() {
    use crate::helpers::ROOT_TOKEN;
    use serde_json::json;
    let app = spawn_app().await;
    let free = app
        .provision(
            json!({"user_id": "cheap", "integration": "files", "project_id": "jt", "tier": "free",
                          "permissions": ["secrets:read"]}),
        )
        .await;
    for (tier, value) in [
        ("free", "valid-pool-free-1"),
        ("enterprise", "valid-pool-enterprise-1"),
    ] {
        let (status, body) = app
            .root_json(
                reqwest::Method::PUT,
                "/api/secrets",
                Some(json!({"service": "openai", "kind": "pooled", "tier": tier, "value": value, "validate": false})),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    let key = s(&free["api_key"]);
    for tier in ["enterprise", "managed-enterprise", "pro", "managed-pro"] {
        let (status, body) = call(&app, key, "/api/keys/openai/cheap", json!({"tier": tier})).await;
        assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{tier}: {body}");
        assert!(!body.to_string().contains("valid-pool"), "{tier}: {body}");
    }
    // Its own plan's pooled key, asked for or by default.
    for body in [
        json!({}),
        json!({"tier": "free"}),
        json!({"tier": "managed-free"}),
    ] {
        let (status, got) = call(&app, key, "/api/keys/openai/cheap", body.clone()).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}: {got}");
        assert_eq!(got["key"], "valid-pool-free-1");
    }
    // The seed design's calls, verbatim, with the root token.
    let (status, got) = call(
        &app,
        ROOT_TOKEN,
        "/api/keys/openai/cheap",
        json!({"userId": "user123", "tier": "managed-enterprise"}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{got}");
    assert_eq!(got["key"], "valid-pool-enterprise-1");
    let (status, got) = call(
        &app,
        ROOT_TOKEN,
        "/api/keys/hume/cheap/provision",
        json!({"requestedBy": "admin@example.com", "tier": "managed-enterprise"}),
    )
    .await;
    // Understood (no 422): here it lacks the platform's Hume admin key.
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{got}");
    assert_eq!(got["error"]["code"], "NO_ADMIN_KEY");
    let (status, got) = call(
        &app,
        ROOT_TOKEN,
        "/api/keys/openai/cheap",
        json!({"tier": "managed-gold"}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{got}");
}

#[tokio::test]
async fn every_answer_carries_browser_protections() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    let h = page.headers().clone();
    let html = page.text().await.unwrap();
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page carries the nonce its policy admits.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a page policy with a nonce");
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every <script> has this response's nonce"
    );
    assert!(!html.contains("onclick="), "no inline event handlers");
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(h[name], value, "{name}");
    }
    assert!(
        h.get("strict-transport-security").is_none(),
        "plain HTTP: no HSTS"
    );
    let over_tls = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(over_tls.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    // A new key is never cached by anything between.
    let res = app
        .root(
            reqwest::Method::POST,
            "/api/provision",
            Some(serde_json::json!({
            "user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro"})),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get("content-security-policy").is_some());
}

#[tokio::test]
async fn page_notices_never_echo_text_from_the_url() {
    let app = spawn_app().await;
    add_admin(&app, "ops@example.com").await;
    let (cookie, _) = crate::admins::signed_in(&app, "ops@example.com").await;
    for path in [
        "/admin/invoices?notice=generated&count=Your%20account%20is%20suspended%2C%20call%20555",
        "/admin/invoices?notice=generated&count=%3Cb%3Ebold%3C%2Fb%3E",
    ] {
        let html = crate::admins::page_html(&app, path, &cookie).await;
        assert!(!html.contains("suspended, call"), "{path}");
        assert!(
            !html.contains("<b>bold") && !html.contains("&lt;b&gt;bold"),
            "{path}"
        );
    }
    let html =
        crate::admins::page_html(&app, "/admin/invoices?notice=generated&count=12", &cookie).await;
    assert!(html.contains("12 draft invoices generated"));
}

/// The app's address for raw sockets.
fn addr(app: &crate::helpers::TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads what the server sends until it closes the connection or `within`
/// passes; returns the text and whether it closed.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_bad_key_is_refused_before_the_body_is_sent() {
    use tokio::io::AsyncWriteExt;
    let other = spawn_app().await;
    let forged = s(&other.provision_tenant("acme").await["api_key"]).to_string();
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    for key in ["ac_bad", forged.as_str()] {
        let mut stream = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
        let head = format!(
            "POST /api/cache/get HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Not one byte of the 10 MB is sent: the answer must come anyway.
        let (answer, _) = read_until_closed(&mut stream, std::time::Duration::from_secs(3)).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{key}: {answer:?}");
        assert!(answer.contains("INVALID_API_KEY"), "{key}: {answer:?}");
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_lock_out_others() {
    use tokio::io::AsyncWriteExt;
    let app = crate::helpers::spawn_app_with(&[
        ("KEYWARD_HEADER_TIMEOUT_SECS", "2"),
        ("KEYWARD_BODY_TIMEOUT_SECS", "2"),
        ("KEYWARD_IDLE_TIMEOUT_SECS", "2"),
    ])
    .await;
    let key = s(&app.provision_tenant("acme").await["api_key"]).to_string();
    let started = std::time::Instant::now();

    // 300 sockets dripping their headers a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let drip = tokio::spawn(async move {
        let mut closed = 0;
        for _ in 0..10 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            closed = 0;
            for s in slow.iter_mut() {
                if s.write_all(b"a").await.is_err() {
                    closed += 1;
                }
            }
        }
        closed
    });
    // Meanwhile a normal client is served at once.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // A body that stops arriving: 408.
    let mut stalled = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/cache/get HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"provider\":"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stalled, std::time::Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer:?}");
    assert!(closed, "the stalled connection is closed");
    // An idle keep-alive connection is closed after its request.
    let mut idle = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, std::time::Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(closed, "the idle connection is closed");
    // Every dripping socket was cut off (writes to a closed socket fail).
    let closed = drip.await.unwrap();
    assert_eq!(closed, 300, "slow header senders are disconnected");
}

#[tokio::test]
async fn request_bodies_held_at_once_are_bounded() {
    use tokio::io::AsyncWriteExt;
    let app = crate::helpers::spawn_app_with(&[("KEYWARD_BODY_MEMORY_MB", "1")]).await;
    let key = s(&app.provision_tenant("acme").await["api_key"]).to_string();
    // A declared body larger than the whole budget is refused before it is read.
    let mut stream = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/cache/set HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, std::time::Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("SERVER_BUSY"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer:?}"
    );
    // Two bodies of 600 KB streaming at once: the second outgrows what is left.
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(600_000));
    let mut first = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let head = |len: usize| {
        format!(
            "POST /api/cache/set HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    first.write_all(head(big.len()).as_bytes()).await.unwrap();
    first.write_all(&big.as_bytes()[..590_000]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = app
        .client
        .post(app.url("/api/cache/set"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.headers()["retry-after"], "1");
    drop(first);
    // Once the first is gone, the budget is back: a small request goes through.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let call = app.cache_get(&key, "jt_acme", "hello").await;
    assert_eq!(call.status, reqwest::StatusCode::OK);
}

#[tokio::test]
async fn a_replica_with_other_secrets_refuses_to_start_naming_the_variable() {
    use crate::helpers::start_error_in;
    const PEPPER: &str = "pepper-one-0123456789abcdef";
    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
    let same = [
        ("KEYWARD_KEY_HASH_SECRET", PEPPER),
        ("KEYWARD_MASTER_KEY", KEY_A),
    ];
    let app = crate::helpers::spawn_app_with(&same).await;
    app.provision_tenant("acme").await;
    let store = app.stop().await;

    for (vars, variable) in [
        (
            [
                ("KEYWARD_KEY_HASH_SECRET", "pepper-two-0123456789abcdef"),
                ("KEYWARD_MASTER_KEY", KEY_A),
            ],
            "KEYWARD_KEY_HASH_SECRET",
        ),
        (
            [
                ("KEYWARD_KEY_HASH_SECRET", PEPPER),
                ("KEYWARD_MASTER_KEY", KEY_B),
            ],
            "KEYWARD_MASTER_KEY",
        ),
    ] {
        let err = start_error_in(&store, &vars)
            .await
            .expect("refused to start");
        assert!(err.contains(variable), "{err}");
        for secret in [PEPPER, "pepper-two", KEY_A, KEY_B] {
            assert!(!err.contains(secret), "the message shows a secret: {err}");
        }
    }
    let other_root = [
        ("KEYWARD_KEY_HASH_SECRET", PEPPER),
        ("KEYWARD_MASTER_KEY", KEY_A),
        ("KEYWARD_ROOT_TOKEN", "another-root-token-0123456789"),
    ];
    let err = start_error_in(&store, &other_root)
        .await
        .expect("refused to start");
    assert!(err.contains("KEYWARD_ROOT_TOKEN"), "{err}");
    assert!(!err.contains("another-root-token"), "{err}");

    // The same secrets start; a deliberate root token change is accepted once
    // asked for, and then the old token is the one refused.
    assert_eq!(start_error_in(&store, &same).await, None);
    let mut changing = other_root.to_vec();
    changing.push(("KEYWARD_ROOT_TOKEN_CHANGED", "1"));
    assert_eq!(start_error_in(&store, &changing).await, None);
    assert_eq!(start_error_in(&store, &other_root).await, None);
    let err = start_error_in(&store, &same)
        .await
        .expect("the old token is refused");
    assert!(err.contains("KEYWARD_ROOT_TOKEN"), "{err}");
}

#[tokio::test]
async fn a_replica_missing_a_master_key_version_refuses_to_start() {
    use crate::helpers::start_error_in;
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    // A rotation on this host writes version 2 into its data directory.
    let out = app.cli(&["vault", "rotate-master", "--only-replica"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = app.stop().await;
    assert_eq!(start_error_in(&store, &[]).await, None);
    // A replica whose keyring lacks version 2 (only version 1, from the environment).
    let keys = std::fs::read_to_string(store.data_dir.path().join("master.keys")).unwrap();
    let v1 = keys
        .lines()
        .find_map(|l| l.strip_prefix("1:"))
        .expect("version 1")
        .to_string();
    std::fs::remove_file(store.data_dir.path().join("master.keys")).unwrap();
    let err = start_error_in(&store, &[("KEYWARD_MASTER_KEY", &v1)])
        .await
        .expect("refused to start");
    assert!(
        err.contains("KEYWARD_MASTER_KEY") && err.contains("version 2"),
        "{err}"
    );
}

async fn xero_created(app: &crate::helpers::TestApp, number: &str) -> u64 {
    app.client
        .get(format!(
            "{}/xero/created/{number}",
            crate::providers_stub::base_url()
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
        .as_u64()
        .unwrap()
}

/// `tenants` each use openai once in October 2026; their invoices are generated.
async fn october_invoices(app: &crate::helpers::TestApp, tenants: &[&str]) {
    use crate::costs::{event, ingest};
    let mut events = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        app.provision_tenant(t).await;
        events.push(event(
            &format!("x{i}-{t}"),
            t,
            "u1",
            "openai",
            serde_json::json!({"tokens_in": 1_000_000}),
            "2026-10-05T10:00:00Z",
        ));
    }
    let (status, body) = ingest(app, &Value::Array(events)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (status, out) = app
        .root_json(
            reqwest::Method::POST,
            "/api/xero/generate-invoices",
            Some(serde_json::json!({"period": "2026-10"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{out}");
}

#[tokio::test]
async fn a_push_whose_answer_was_lost_is_not_created_again_at_xero() {
    let app = spawn_app().await;
    october_invoices(&app, &["slowpoke", "quickly"]).await;
    let push = || {
        app.root_json(
            reqwest::Method::POST,
            "/api/xero/push",
            Some(serde_json::json!({"period": "2026-10"})),
        )
    };
    // Xero accepts both, but its answer comes after keyward stopped waiting.
    let (status, body) = push().await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (_, drafts) = app
        .root_json(reqwest::Method::GET, "/api/invoices?status=draft", None)
        .await;
    assert_eq!(
        drafts.as_array().unwrap().len(),
        2,
        "still drafts here: {drafts}"
    );
    // The retry finds them at Xero and records them sent, creating nothing.
    let (status, sent) = push().await;
    assert_eq!(status, reqwest::StatusCode::OK, "{sent}");
    assert_eq!(sent.as_array().unwrap().len(), 2, "{sent}");
    for number in ["KW-202610-SLOWPOKE", "KW-202610-QUICKLY"] {
        assert_eq!(xero_created(&app, number).await, 1, "{number} created once");
    }
}

#[tokio::test]
async fn concurrent_pushes_send_each_invoice_once() {
    let app = spawn_app().await;
    october_invoices(&app, &["twinone", "twintwo"]).await;
    let push = || {
        app.root_json(
            reqwest::Method::POST,
            "/api/xero/push",
            Some(serde_json::json!({"period": "2026-10"})),
        )
    };
    let (a, b) = tokio::join!(push(), push());
    assert_eq!(a.0, reqwest::StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, reqwest::StatusCode::OK, "{}", b.1);
    let sent = a.1.as_array().unwrap().len() + b.1.as_array().unwrap().len();
    assert_eq!(
        sent, 2,
        "each invoice reported sent by one push: {} / {}",
        a.1, b.1
    );
    for number in ["KW-202610-TWINONE", "KW-202610-TWINTWO"] {
        assert_eq!(xero_created(&app, number).await, 1, "{number} created once");
    }
}

#[tokio::test]
async fn a_keyring_from_configuration_is_shared_and_never_rotated_on_one_host() {
    use crate::helpers::{spawn_app_in_with, start_error_in};
    const V1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const V2: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
    let one = [("KEYWARD_MASTER_KEYS", format!("1:{V1}"))];
    let one: Vec<(&str, &str)> = one.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = crate::helpers::spawn_app_with(&one).await;
    app.provision_tenant("acme").await;
    let (status, body) = app
        .root_json(
            reqwest::Method::PUT,
            "/api/secrets",
            Some(
                serde_json::json!({"service": "openai", "kind": "managed", "tenant_id": "acme",
                                    "value": "valid-managed-under-v1", "validate": false}),
            ),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    // A rotation on one host is refused: the others would not have the version.
    for args in [
        &["vault", "rotate-master"][..],
        &["vault", "rotate-master", "--only-replica"][..],
    ] {
        let out = app.cli_with_env(args, &one).await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("KEYWARD_MASTER_KEYS"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = app.stop().await;
    assert!(
        !store.data_dir.path().join("master.keys").exists(),
        "a configured keyring is never written to disk"
    );

    // Version 2 added to every replica's configuration and made active...
    let both = format!("1:{V1},2:{V2}");
    let two = [
        ("KEYWARD_MASTER_KEYS", both.as_str()),
        ("KEYWARD_MASTER_KEY_ACTIVE", "2"),
    ];
    let app = spawn_app_in_with(store, &two).await;
    // ...then a second process re-seals everything under it.
    let out = app.cli_with_env(&["vault", "reseal", "--json"], &two).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resealed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resealed, serde_json::json!({"version": 2, "resealed": 1}));
    let (status, got) = app
        .root_json(
            reqwest::Method::POST,
            "/api/keys/openai/acme",
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{got}");
    assert_eq!(got["key"], "valid-managed-under-v1");
    let store = app.stop().await;
    // A replica still configured with version 1 alone refuses to start.
    let err = start_error_in(&store, &one)
        .await
        .expect("refused to start");
    assert!(
        err.contains("KEYWARD_MASTER_KEY") && err.contains("version 2"),
        "{err}"
    );
}

#[tokio::test]
async fn on_postgresql_a_rotation_into_one_hosts_file_needs_only_replica() {
    if !crate::helpers::engine_is_postgres() {
        return;
    }
    let app = spawn_app().await;
    let out = app.cli(&["vault", "rotate-master"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--only-replica"));
    let out = app.cli(&["vault", "rotate-master", "--only-replica"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn uploads_are_admitted_against_the_key_before_their_bodies_are_read() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    // Concurrency 1: the upload gate holds a key to 2 requests whose bodies are pending.
    app.set_plan("pro", 1_000_000, 1_000, 1, 10_000_000).await;
    let key = s(&app.provision_tenant("acme").await["api_key"]).to_string();
    let head = format!(
        "POST /api/cache/set HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    );
    let mut pending = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{\"provider\":").await.unwrap();
        pending.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // A third upload is refused from its headers alone.
    let mut third = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    third.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut third, std::time::Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
    assert!(
        answer.contains("TOO_MANY_CONCURRENT_REQUESTS"),
        "{answer:?}"
    );
    // When the pending uploads go away, the key is served again.
    drop(pending);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let call = app.cache_get(&key, "jt_acme", "hello").await;
    assert_eq!(call.status, reqwest::StatusCode::OK, "{}", call.body);
}
