//! `keyward migrate-store`: a SQLite install moved to PostgreSQL while it
//! serves, then once more after it stops, and started again on PostgreSQL
//! with the same data directory.

use crate::admins::{post_form, PASSWORD};
use crate::costs::{event, ingest};
use crate::helpers::{engine_is_postgres, pg_database, s, spawn_app, spawn_app_in, Store};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs `keyward migrate-store` as a process, off the runtime so the app
/// under test keeps serving meanwhile.
async fn migrate_store(from: &str, to: &str, replace: bool) -> std::process::Output {
    let mut args = vec![
        "migrate-store".to_string(),
        "--from".into(),
        from.into(),
        "--to".into(),
        to.into(),
    ];
    if replace {
        args.push("--replace".into());
    }
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(&args)
            .output()
            .expect("keyward runs")
    })
    .await
    .expect("the copy's thread")
}

/// The report's per-table row counts (lines `TABLE ROWS CHECKSUM`).
fn reported_rows(stdout: &str) -> BTreeMap<String, i64> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (table, rows, sum) = (cols.next()?, cols.next()?, cols.next()?);
            let rows = rows.parse().ok()?;
            (sum.len() == 16 && cols.next().is_none()).then(|| (table.to_string(), rows))
        })
        .collect()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "migrate-store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_serving_sqlite_install_moves_to_postgres_with_nothing_lost() {
    if engine_is_postgres() {
        return; // the source of this move is SQLite by definition
    }
    // Arrange: tenants (one a sub-organisation), keys, a rotation in its
    // grace period, a disabled key, costs, a cache entry, a sealed provider
    // secret and an admin.
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let globex = app.provision_tenant("globex").await;
    app.provision(
        json!({"user_id": "acme-eu", "integration": "files", "project_id": "jt",
                         "parent_id": "acme", "name": "Acme Europe"}),
    )
    .await;
    let rotated = app
        .rotate(s(&acme["key_id"]), json!({"grace_seconds": 3600}))
        .await;
    app.root(
        Method::POST,
        &format!("/api/keys/{}/disable", s(&globex["key_id"])),
        None,
    )
    .await;
    let batch = json!([
        // 1000 in x 2.5 $/M + 500 out x 10 $/M = 7,500 µ$
        event(
            "e1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1000, "tokens_out": 500}),
            "2026-10-05T10:00:00Z"
        ),
        // 12.5 s x 2,000 µ$/s = 25,000 µ$
        event(
            "e2",
            "acme",
            "u1",
            "hume",
            json!({"seconds": 12.5}),
            "2026-10-06T10:00:00Z"
        ),
        // 10 min x 4,300 µ$ = 43,000 µ$
        event(
            "e3",
            "acme",
            "u2",
            "deepgram",
            json!({"minutes": 10}),
            "2026-10-20T10:00:00Z"
        ),
    ]);
    let (status, done) = ingest(&app, &batch).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["cost_micros"], 75_500);
    let key = s(&rotated["api_key"]);
    let set = app
        .cache_set(key, "jt_acme", "hello", json!({"answer": "kept"}))
        .await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!(
        app.cache_get(key, "jt_acme", "hello").await.body["hit"],
        true
    );
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/secrets",
            Some(
                json!({"service": "openai", "kind": "managed", "tenant_id": "acme",
                        "value": "valid-cli-secret"}),
            ),
        )
        .await;
    assert!(status.is_success(), "{status}");
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
    app.flush_usage().await;
    let tpc_path = "/api/analytics/tpc/acme?period=monthly&from=2026-10-01";
    let (_, tpc_before) = app.root_json(Method::GET, tpc_path, None).await;
    assert_eq!(tpc_before["total_cost_micros"], 75_500);
    assert_eq!(tpc_before["events"], 3);

    let pg = pg_database().await;
    let (from, to) = (
        format!("sqlite://{}", app.sqlite_path().display()),
        pg.url(),
    );

    // Act 1: the bulk copy, while the app serves and keeps ingesting.
    let serving = Arc::new(AtomicBool::new(true));
    let writer = {
        let (client, base, serving) = (app.client.clone(), app.base.clone(), serving.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while serving.load(Ordering::SeqCst) {
                let e = event(
                    &format!("live-{sent}"),
                    "globex",
                    "u3",
                    "openai",
                    json!({"tokens_in": 1000}),
                    "2026-11-02T10:00:00Z",
                );
                let res = client
                    .post(format!("{base}/api/usage/events"))
                    .bearer_auth(crate::helpers::ROOT_TOKEN)
                    .json(&json!([e]))
                    .send()
                    .await
                    .expect("ingest while copying");
                assert_eq!(res.status(), StatusCode::OK);
                sent += 1;
            }
            sent
        })
    };
    let first = ok(&migrate_store(&from, &to, false).await);
    serving.store(false, Ordering::SeqCst);
    let live_events: i64 = writer.await.expect("writer");
    assert!(live_events > 0, "events were ingested during the copy");

    let rows = reported_rows(&first);
    for (table, expected) in [
        ("tenants", 3),
        ("api_keys", 3),
        ("api_key_secrets", 4), // acme has two versions, one in grace
        ("admin_users", 1),
        ("provider_secrets", 1),
        ("cache_entries", 1),
        ("plans", 3),
    ] {
        assert_eq!(rows.get(table), Some(&expected), "{table} in:\n{first}");
    }
    // The snapshot holds the three October events plus however many live
    // ones had committed when it was taken.
    let copied_events = rows["usage_events"];
    assert!(
        (3..=3 + live_events).contains(&copied_events),
        "{copied_events} events in:\n{first}"
    );
    assert!(rows["audit_log"] >= 6, "{first}");
    assert!(first.contains("total: "), "{first}");

    // A second copy into a target that holds data is refused.
    let refused = migrate_store(&from, &to, false).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("already holds data") && err.contains("--replace"),
        "{err}"
    );
    assert!(refused.stdout.is_empty(), "no report for a refused copy");

    // Act 2: stop the node, then the final copy.
    let (_, audit_before) = app.root_json(Method::GET, "/api/audit", None).await;
    let store = app.stop().await;
    let last = ok(&migrate_store(&from, &to, true).await);
    let rows = reported_rows(&last);
    assert_eq!(rows["usage_events"], 3 + live_events, "{last}");
    assert!(last.contains("replaced"), "{last}");

    // Assert: the same data directory (pepper, keyring) over PostgreSQL.
    let moved = spawn_app_in(Store {
        data_dir: store.data_dir.clone(),
        postgres: Some(pg),
    })
    .await;
    let (_, audit_after) = moved.root_json(Method::GET, "/api/audit", None).await;
    assert_eq!(audit_after, audit_before);
    let actions: Vec<&str> = audit_after["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert!(actions.contains(&"key.rotate"), "{actions:?}");

    assert_eq!(
        moved
            .verify_code(s(&acme["api_key"]), Some("jt_acme"))
            .await,
        "VALID",
        "the pre-rotation secret, still in its grace period"
    );
    assert_eq!(moved.verify_code(key, Some("jt_acme")).await, "VALID");
    assert_eq!(
        moved.verify_code(s(&globex["api_key"]), None).await,
        "DISABLED"
    );
    let (_, tpc_after) = moved.root_json(Method::GET, tpc_path, None).await;
    assert_eq!(tpc_after, tpc_before);
    let (_, november) = moved
        .root_json(
            Method::GET,
            "/api/analytics/tpc/globex?period=monthly&from=2026-11-01",
            None,
        )
        .await;
    // Only the live events are globex's (its key made no data-plane
    // requests): 1000 in x 2.5 $/M = 2,500 µ$ each.
    assert_eq!(november["events"], live_events);
    assert_eq!(november["total_cost_micros"], live_events * 2_500);

    let hit = moved.cache_get(key, "jt_acme", "hello").await;
    assert_eq!(hit.body["hit"], true);
    assert_eq!(hit.body["response"], json!({"answer": "kept"}));

    let out = moved
        .cli(&["secrets", "get", "openai", "acme", "--json"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        got["key"], "valid-cli-secret",
        "opened with the carried keyring"
    );

    let res = post_form(
        &moved,
        "/admin/sign-in",
        &[("email", "ops@example.com"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/admin/cache-keys");
    let cookie = res.headers()[SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    assert!(cookie.starts_with("keyward_session="), "{cookie}");
    let me: Value = crate::admins::client()
        .get(moved.url("/admin/session"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("session body");
    assert_eq!(me["email"], "ops@example.com");

    // New rows get ids past the copied ones (sequences were moved on).
    let (_, audit_now) = moved.root_json(Method::GET, "/api/audit", None).await;
    let newest = &audit_now["entries"][0];
    assert_eq!(newest["action"], "admin.sign_in");
    assert!(
        newest["id"].as_i64() > audit_before["entries"][0]["id"].as_i64(),
        "{newest}"
    );
    let (status, done) = ingest(
        &moved,
        &json!([event(
            "after",
            "acme-eu",
            "u9",
            "hume",
            json!({"seconds": 1}),
            "2026-11-03T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(
        (status, &done["accepted"]),
        (StatusCode::OK, &json!(1)),
        "{done}"
    );
    moved.stop().await; // drops the PostgreSQL database
}
