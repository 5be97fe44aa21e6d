//! The cost engine: usage events priced at ingest, True Production Cost.
//! Every expected figure below is computed by hand in the comments.

use crate::helpers::{spawn_app, TestApp, ROOT_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub fn event(id: &str, tenant: &str, user: &str, service: &str, units: Value, at: &str) -> Value {
    json!({"event_id": id, "trace_id": format!("tr-{id}"), "tenant_id": tenant, "user_id": user,
           "service": service, "operation": "call", "units": units, "duration_ms": 120, "timestamp": at})
}

pub async fn ingest(app: &TestApp, events: &Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/api/usage/events"))
        .bearer_auth(ROOT_TOKEN)
        .header("content-type", "application/json")
        .body(events.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn tpc(app: &TestApp, tenant: &str, query: &str) -> Value {
    let (status, body) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/{tenant}?{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn tpc_matches_a_hand_computation() {
    let app = spawn_app().await;
    // pro bills cost-plus (the default): each service at cost, plus SG&A
    // 10% and compliance 5% of direct cost.
    app.provision_tenant("acme").await;
    // OpenAI input tokens cost twice as much from 15 October on.
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/prices",
            Some(
                json!({"service": "openai", "unit": "token_in", "price_micros": 5_000_000,
                        "per_units": 1_000_000, "effective_from": "2026-10-15T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let batch = json!([
        // u1: 1000 in x 2.5 $/M + 500 out x 10 $/M = 2,500 + 5,000 = 7,500 µ$
        event(
            "e1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1000, "tokens_out": 500}),
            "2026-10-05T10:00:00Z"
        ),
        // u1: 12.5 s x 2,000 µ$/s = 25,000 µ$
        event(
            "e2",
            "acme",
            "u1",
            "hume",
            json!({"seconds": 12.5}),
            "2026-10-06T10:00:00Z"
        ),
        // u2: 2,000,000 in x 2.5 $/M (before the change) = 5,000,000 µ$
        event(
            "e3",
            "acme",
            "u2",
            "openai",
            json!({"tokens_in": 2_000_000}),
            "2026-10-10T10:00:00Z"
        ),
        // u3: 10 min x 4,300 µ$ = 43,000 µ$; 2,500 chars x 0.18 $/1000 = 450,000 µ$
        event(
            "e4",
            "acme",
            "u3",
            "deepgram",
            json!({"minutes": 10}),
            "2026-10-20T10:00:00Z"
        ),
        event(
            "e5",
            "acme",
            "u3",
            "elevenlabs",
            json!({"characters": 2500}),
            "2026-10-21T10:00:00Z"
        ),
        // u4: 1000 in x 5 $/M (after the change) = 5,000 µ$
        event(
            "e6",
            "acme",
            "u4",
            "openai",
            json!({"tokens_in": 1000}),
            "2026-10-16T10:00:00Z"
        ),
        // September (the previous period): 1,000,000 in x 2.5 $/M = 2,500,000 µ$
        event(
            "e7",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1_000_000}),
            "2026-09-15T10:00:00Z"
        ),
    ]);
    let (status, done) = ingest(&app, &batch).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done,
        json!({"accepted": 7, "duplicates": 0, "cost_micros": 8_030_500})
    );
    // A retried batch counts nothing twice.
    let (_, again) = ingest(&app, &batch).await;
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 7, "cost_micros": 8_030_500})
    );

    let t = tpc(&app, "acme", "period=monthly&from=2026-10-01").await;
    assert_eq!(
        (
            t["from"].as_str(),
            t["to"].as_str(),
            t["previous_from"].as_str()
        ),
        // The previous period of a calendar month is the calendar month before.
        (Some("2026-10-01"), Some("2026-11-01"), Some("2026-09-01"))
    );
    // 7,500 + 25,000 + 5,000,000 + 43,000 + 450,000 + 5,000
    assert_eq!(t["total_cost_micros"], 5_530_500);
    assert_eq!(t["events"], 6);
    assert_eq!(
        t["users"],
        json!([
            {"user_id": "u1", "events": 2, "cost_micros": 32_500},
            {"user_id": "u2", "events": 1, "cost_micros": 5_000_000},
            {"user_id": "u3", "events": 2, "cost_micros": 493_000},
            {"user_id": "u4", "events": 1, "cost_micros": 5_000},
        ])
    );
    // sorted 5,000 / 32,500 / 493,000 / 5,000,000: mean 5,530,500 / 4 = 1,382,625;
    // median (32,500 + 493,000) / 2 = 262,750; p95 and p99 by nearest rank = the 4th;
    // population sd = sqrt(sum (x - mean)^2 / 4) = 2,097,470 (rounded).
    assert_eq!(
        t["user_stats"],
        json!({"count": 4, "mean_micros": 1_382_625, "median_micros": 262_750,
               "p95_micros": 5_000_000, "p99_micros": 5_000_000, "std_dev_micros": 2_097_470})
    );
    // shares of 5,530,500 in basis points, rounded; openai's trend against
    // September: (5,012,500 - 2,500,000) / 2,500,000 = +100.50% = 10,050 bps.
    assert_eq!(
        t["services"],
        json!([
            {"service": "deepgram", "events": 1, "cost_micros": 43_000, "share_bps": 78, "previous_cost_micros": 0, "trend_bps": null},
            {"service": "elevenlabs", "events": 1, "cost_micros": 450_000, "share_bps": 814, "previous_cost_micros": 0, "trend_bps": null},
            {"service": "hume", "events": 1, "cost_micros": 25_000, "share_bps": 45, "previous_cost_micros": 0, "trend_bps": null},
            {"service": "openai", "events": 3, "cost_micros": 5_012_500, "share_bps": 9063, "previous_cost_micros": 2_500_000, "trend_bps": 10_050},
        ])
    );
    // Revenue is the invoice: service lines 4 + 45 + 3 + 501 = 553 c; SG&A
    // 553,050 µ$ = 55.3 c -> 55; compliance 276,525 µ$ = 27.65 c -> 28;
    // 636 c. Gross 6,360,000 - 5,530,500 = 829,500 (13.04%); allocated
    // 55 c + 28 c; net 829,500 - 830,000 = -500 (-0.79 bps -> -1).
    assert_eq!(
        t["profitability"],
        json!({"plan": "pro", "revenue_micros": 6_360_000, "plan_revenue_micros": 0,
               "usage_revenue_micros": 5_530_000, "allocations_billed_micros": 830_000,
               "cost_micros": 5_530_500, "sga_micros": 550_000, "compliance_micros": 280_000,
               "profit_micros": 829_500, "margin_bps": 1_304,
               "net_profit_micros": -500, "net_margin_bps": -1})
    );
    assert_eq!(t["members"], json!([]), "no sub-organisations");

    // Weekly: 2026-10-05 .. 10-12 holds e1, e2, e3; the ISO week before holds nothing.
    let w = tpc(&app, "acme", "period=weekly&from=2026-10-05").await;
    assert_eq!(w["to"], "2026-10-12");
    assert_eq!(w["previous_from"], "2026-09-28");
    assert_eq!(w["total_cost_micros"], 7_500 + 25_000 + 5_000_000);
    // openai 5,007,500 -> 501 c, hume 3 c; SG&A 503,250 -> 50 c; compliance
    // 251,625 -> 25 c: 579 c.
    assert_eq!(w["profitability"]["revenue_micros"], 5_790_000);
    // Daily, one user.
    let d = tpc(&app, "acme", "period=daily&from=2026-10-16").await;
    assert_eq!(
        d["user_stats"],
        json!({"count": 1, "mean_micros": 5_000, "median_micros": 5_000,
        "p95_micros": 5_000, "p99_micros": 5_000, "std_dev_micros": 0})
    );
}

/// A full batch (1,000 events, stored 500 a statement) of which every third
/// event was stored before, in both halves: only the others count, once.
#[tokio::test]
async fn a_full_batch_partly_stored_before_counts_only_its_new_events() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    // openai: 1,000 in x 2.5 $/M = 2,500 µ$ each.
    let all: Vec<Value> = (0..1000)
        .map(|i| {
            event(
                &format!("f{i}"),
                "acme",
                &format!("u{}", i % 7),
                "openai",
                json!({"tokens_in": 1000}),
                &format!("2026-10-{:02}T10:{:02}:{:02}Z", 1 + i % 28, i % 60, i / 60),
            )
        })
        .collect();
    let thirds: Vec<Value> = all.iter().step_by(3).cloned().collect();
    let (status, first) = ingest(&app, &Value::Array(thirds)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["accepted"], 334);
    let (status, done) = ingest(&app, &Value::Array(all)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["accepted"].as_i64(), done["duplicates"].as_i64()),
        (Some(666), Some(334))
    );
    let t = tpc(&app, "acme", "period=monthly&from=2026-10-01").await;
    assert_eq!(t["events"], 1000, "{t}");
    assert_eq!(t["total_cost_micros"], 2_500_000, "{t}");
}

#[tokio::test]
async fn empty_periods_and_free_tenants_have_no_margin_to_divide_by() {
    let app = spawn_app().await;
    app.provision(
        json!({"user_id": "solo", "integration": "files", "project_id": "jt", "tier": "free"}),
    )
    .await;
    let t = tpc(&app, "solo", "period=monthly&from=2026-12-01").await;
    assert_eq!(t["total_cost_micros"], 0);
    assert_eq!(t["users"], json!([]));
    assert_eq!(t["user_stats"]["median_micros"], 0);
    assert_eq!(t["services"], json!([]));
    assert_eq!(t["profitability"]["revenue_micros"], 0);
    assert_eq!(t["profitability"]["margin_bps"], Value::Null);

    // A one-user free tenant: all the spread figures are that user's cost.
    let (status, _) = ingest(
        &app,
        &json!([
            event(
                "s1",
                "solo",
                "only",
                "keyward",
                json!({}),
                "2026-12-03T00:00:00Z"
            ),
            event(
                "s2",
                "solo",
                "only",
                "anthropic",
                json!({"tokens_out": 100}),
                "2026-12-03T00:00:00Z"
            )
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let t = tpc(&app, "solo", "period=monthly&from=2026-12-01").await;
    // keyward request: 0.4 µ$ -> 0; 100 out x 15 $/M = 1,500 µ$
    assert_eq!(t["total_cost_micros"], 1_500);
    assert_eq!(t["profitability"]["profit_micros"], -1_500);
    assert_eq!(t["profitability"]["margin_bps"], Value::Null);
    assert_eq!(t["user_stats"]["p99_micros"], 1_500);
}

#[tokio::test]
async fn bad_batches_store_nothing_and_say_why() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let good = event(
        "g1",
        "acme",
        "u",
        "openai",
        json!({"tokens_in": 10}),
        "2026-10-01T00:00:00Z",
    );
    let cases = [
        (
            json!([
                good,
                event(
                    "b1",
                    "acme",
                    "u",
                    "myspace",
                    json!({}),
                    "2026-10-01T00:00:00Z"
                )
            ]),
            422,
            "service",
        ),
        (
            json!([
                good,
                event(
                    "b2",
                    "acme",
                    "u",
                    "hume",
                    json!({"tokens_in": 5}),
                    "2026-10-01T00:00:00Z"
                )
            ]),
            422,
            "units",
        ),
        (
            json!([
                good,
                event(
                    "b3",
                    "acme",
                    "u",
                    "openai",
                    json!({}),
                    "2026-10-01T00:00:00Z"
                )
            ]),
            422,
            "units",
        ),
        (
            json!([
                good,
                event(
                    "b4",
                    "acme",
                    "u",
                    "hume",
                    json!({"seconds": 1.0005}),
                    "2026-10-01T00:00:00Z"
                )
            ]),
            422,
            "units.seconds",
        ),
        (
            json!([
                good,
                event(
                    "b5",
                    "nobody",
                    "u",
                    "openai",
                    json!({"tokens_in": 1}),
                    "2026-10-01T00:00:00Z"
                )
            ]),
            404,
            "",
        ),
        (
            json!([
                good,
                event(
                    "b6",
                    "acme",
                    "u",
                    "openai",
                    json!({"tokens_in": 1}),
                    "2025-01-01T00:00:00Z"
                )
            ]),
            422,
            "timestamp",
        ),
        (json!([]), 422, "events"),
        (Value::Array(vec![good.clone(); 1001]), 422, "events"),
    ];
    for (batch, status, field) in cases {
        let (got, body) = ingest(&app, &batch).await;
        assert_eq!(got.as_u16(), status, "{body}");
        if !field.is_empty() {
            assert_eq!(body["error"]["field"], field, "{body}");
        }
    }
    let res = app
        .client
        .post(app.url("/api/usage/events"))
        .bearer_auth(ROOT_TOKEN)
        .body("[{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (_, t) = app
        .root_json(
            Method::GET,
            "/api/analytics/tpc/acme?period=monthly&from=2026-10-01",
            None,
        )
        .await;
    assert_eq!(t["events"], 0, "nothing of a refused batch was stored");
    let (status, _) = app
        .root_json(Method::GET, "/api/analytics/tpc/acme?period=hourly", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/analytics/tpc/acme?from=2026-10-05&to=2026-10-01",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .root_json(Method::GET, "/api/analytics/tpc/nobody", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Duplicate ids within one batch count once.
    let (_, done) = ingest(&app, &json!([good.clone(), good])).await;
    assert_eq!(
        (done["accepted"].as_i64(), done["duplicates"].as_i64()),
        (Some(1), Some(1))
    );

    let (status, p) = app
        .root_json(
            Method::PUT,
            "/api/plans/pro/pricing",
            Some(json!({"monthly_price_micros": 0, "usage_markup_bps": 10000})),
        )
        .await;
    assert_eq!(
        (status, p["usage_markup_bps"].as_i64()),
        (StatusCode::OK, Some(10000))
    );
    assert_eq!(
        p["billing_mode"], "cost_plus",
        "the plan's mode is kept: {p}"
    );
    let t = tpc(&app, "acme", "period=monthly&from=2026-10-01").await;
    // 10 in x 2.5 $/M = 25 µ$ of cost; the invoice's line rounds it to 0 c,
    // so nothing is billed (revenue is what is invoiced).
    assert_eq!(
        (
            t["profitability"]["revenue_micros"].as_i64(),
            t["profitability"]["profit_micros"].as_i64()
        ),
        (Some(0), Some(-25))
    );
    let (status, p) = app
        .root_json(
            Method::PUT,
            "/api/plans/pro/pricing",
            Some(json!({"billing_mode": "monthly", "monthly_price_micros": 0, "usage_markup_bps": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/plans/pro/pricing",
            Some(json!({"monthly_price_micros": -1, "usage_markup_bps": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The next calendar quarter after `today`, worked out by hand.
fn next_quarter(today: chrono::NaiveDate) -> (chrono::NaiveDate, chrono::NaiveDate) {
    use chrono::Datelike;
    let start = |y, m| chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    let (y, m) = match today.month() {
        1..=3 => (today.year(), 4),
        4..=6 => (today.year(), 7),
        7..=9 => (today.year(), 10),
        _ => (today.year() + 1, 1),
    };
    let q0 = start(y, m);
    let q1 = if m == 10 {
        start(y + 1, 1)
    } else {
        start(y, m + 3)
    };
    (q0, q1)
}

#[tokio::test]
async fn the_forecast_extends_the_least_squares_line() {
    let app = spawn_app().await;
    let (_, empty) = app
        .root_json(Method::GET, "/api/analytics/forecast", None)
        .await;
    assert_eq!(
        (
            empty["days"].as_i64(),
            empty["projected_tpc_micros"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(empty["projected_margin_bps"], Value::Null);

    app.provision_tenant("acme").await;
    let today = chrono::Utc::now().date_naive();
    // Revenue is exactly 1.5 x cost: plan pricing with no subscription and
    // usage at 150%, in force over the whole history.
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/plans/pro/pricing",
            Some(
                json!({"billing_mode": "plan_pricing", "monthly_price_micros": 0,
                        "usage_markup_bps": 15000, "effective_from": "2026-01-01"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/prices",
            Some(json!({"service": "deepgram", "unit": "minute", "price_micros": 100,
                        "effective_from": format!("{}T00:00:00Z", today - chrono::Duration::days(30))})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Day i of the last ten (i = 0..9) costs 1,000 + 100 i µ$ (10 + i minutes at 100 µ$).
    let events: Vec<Value> = (0..10)
        .map(|i| {
            let day = today - chrono::Duration::days(10 - i);
            event(
                &format!("f{i}"),
                "acme",
                "u",
                "deepgram",
                json!({"minutes": 10 + i}),
                &format!("{day}T12:00:00Z"),
            )
        })
        .collect();
    let (status, _) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, f) = app
        .root_json(Method::GET, "/api/analytics/forecast?quarters=1", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["days"], 10);
    assert_eq!(
        f["data_from"],
        json!((today - chrono::Duration::days(10)).to_string())
    );
    let fit = &f["cost_fit"];
    assert!(
        (fit["slope_micros_per_day"].as_f64().unwrap() - 100.0).abs() < 1e-6,
        "{f}"
    );
    assert!((fit["intercept_micros"].as_f64().unwrap() - 1000.0).abs() < 1e-6);
    assert!((fit["r_squared"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    // The next calendar quarter, [q0, q1): x runs from (q0 - first day) for
    // its n days; cost = sum of 1,000 + 100 x, revenue 1.5 x that, the
    // allocations (10% + 5%) 0.15 x that.
    let (q0, q1) = next_quarter(today);
    assert_eq!(f["forecast_from"], json!(q0.to_string()));
    assert_eq!(f["forecast_to"], json!(q1.to_string()));
    let first = today - chrono::Duration::days(10);
    let (x0, n) = ((q0 - first).num_days(), (q1 - q0).num_days());
    let xs = n * x0 + n * (n - 1) / 2;
    let cost = 1_000 * n + 100 * xs;
    assert_eq!(f["projected_tpc_micros"], cost);
    assert_eq!(f["projected_revenue_micros"], 1_500 * n + 150 * xs);
    assert_eq!(f["projected_gross_profit_micros"], 500 * n + 50 * xs);
    assert_eq!(f["projected_allocated_micros"], 150 * n + 15 * xs);
    assert_eq!(f["projected_net_profit_micros"], 350 * n + 35 * xs);
    assert_eq!(f["projected_margin_bps"], 3_333);
    assert_eq!(f["projected_net_margin_bps"], 2_333);

    let (status, _) = app
        .root_json(Method::GET, "/api/analytics/forecast?quarters=0", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .root_json(Method::GET, "/api/analytics/forecast?quarters=x", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_weekly_optimisation_flags_rarely_used_services() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    // Week of Monday 2026-10-05. Ten users on openai (1,000 in = 2,500 µ$ each),
    // u0..u9 with 1..10 events; one user also on hume once (2 s = 4,000 µ$).
    let mut events = Vec::new();
    for i in 0..10 {
        let tenant = if i < 5 { "acme" } else { "globex" };
        for n in 0..=i {
            events.push(event(
                &format!("o{i}-{n}"),
                tenant,
                &format!("u{i}"),
                "openai",
                json!({"tokens_in": if n == 0 { 1000 } else { 0 }}),
                "2026-10-06T10:00:00Z",
            ));
        }
    }
    events.push(event(
        "h1",
        "acme",
        "u0",
        "hume",
        json!({"seconds": 2}),
        "2026-10-07T10:00:00Z",
    ));
    // Outside the week: ignored.
    events.push(event(
        "late",
        "acme",
        "u0",
        "hume",
        json!({"seconds": 100}),
        "2026-10-12T10:00:00Z",
    ));
    let (status, _) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, o) = app
        .root_json(Method::GET, "/api/analytics/optimize?week=2026-10-08", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    assert_eq!(
        (o["week_from"].as_str(), o["week_to"].as_str()),
        (Some("2026-10-05"), Some("2026-10-12"))
    );
    assert_eq!(o["active_users"], 10);
    // hume: 1 of 10 users (1,000 bps, not under 10%), but 4,000 / 10 = 400 µ$ per
    // active user < 1,000: flagged; openai: 25,000 / 10 = 2,500: kept.
    assert_eq!(
        o["services"],
        json!([
            {"service": "hume", "users": 1, "user_share_bps": 1000, "events": 1, "cost_micros": 4000,
             "cost_per_active_user_micros": 400, "under_used": true, "weekly_saving_micros": 4000},
            {"service": "openai", "users": 10, "user_share_bps": 10000, "events": 55, "cost_micros": 25000,
             "cost_per_active_user_micros": 2500, "under_used": false, "weekly_saving_micros": 0},
        ])
    );
    assert_eq!(
        (
            o["weekly_saving_micros"].as_i64(),
            o["quarterly_saving_micros"].as_i64()
        ),
        (Some(4000), Some(52_000))
    );
    // The 3 most active: u9 (10 events), u8 (9), u7 (8); 3 x 2,500 = 7,500 µ$.
    let cohort: Vec<&str> = o["trial_cohort"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(cohort, ["u9", "u8", "u7"]);
    assert_eq!(
        (o["trial_cohort_size"].as_i64(), o["cohort_limit"].as_i64()),
        (Some(3), Some(100))
    );
    assert_eq!(o["trial_cohort_weekly_cost_micros"], 7_500);
    // A page of the cohort; the figures stay those of the whole cohort.
    let (status, page) = app
        .root_json(
            Method::GET,
            "/api/analytics/optimize?week=2026-10-08&cohort_limit=1&cohort_offset=1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        (
            page["trial_cohort"][0]["user_id"].as_str(),
            page["trial_cohort"].as_array().map(Vec::len),
            page["trial_cohort_size"].as_i64(),
            page["cohort_offset"].as_i64(),
            page["trial_cohort_weekly_cost_micros"].as_i64(),
        ),
        (Some("u8"), Some(1), Some(3), Some(1), Some(7_500))
    );
    for bad in ["cohort_limit=0", "cohort_limit=1001", "cohort_offset=-1"] {
        let (status, body) = app
            .root_json(Method::GET, &format!("/api/analytics/optimize?{bad}"), None)
            .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{bad}: {body}");
    }
    // 4,000 / 7,500 = 53.33% = 5,333 bps
    assert_eq!(o["projected_roi_bps"], 5_333);

    // A stricter share threshold flags hume on both counts; bad thresholds are refused.
    let (_, strict) = app
        .root_json(Method::GET, "/api/analytics/optimize?week=2026-10-08&min_user_share_bps=2000&min_cost_per_active_user_micros=0", None)
        .await;
    assert_eq!(strict["services"][0]["under_used"], true);
    assert_eq!(strict["services"][1]["under_used"], false);
    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/analytics/optimize?min_user_share_bps=20000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, empty) = app
        .root_json(Method::GET, "/api/analytics/optimize?week=2025-01-01", None)
        .await;
    assert_eq!(
        (
            empty["active_users"].as_i64(),
            empty["projected_roi_bps"].clone()
        ),
        (Some(0), Value::Null)
    );
}

#[tokio::test]
async fn the_cli_analyzes_costs_and_optimisation() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let (status, _) = ingest(
        &app,
        &json!([event(
            "c1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1000}),
            "2026-10-06T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let run = async |args: &[&str]| app.cli(args).await;
    let out = run(&[
        "costs",
        "analyze",
        "--tenant",
        "acme",
        "--period",
        "weekly",
        "--from",
        "2026-10-05",
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["total_cost_micros"].as_i64(), v["to"].as_str()),
        (Some(2_500), Some("2026-10-12"))
    );
    let out = run(&[
        "costs",
        "analyze",
        "--tenant",
        "acme",
        "--period",
        "weekly",
        "--from",
        "2026-10-05",
    ])
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SERVICE") && text.contains("$0.002500"),
        "{text}"
    );
    let out = run(&["costs", "analyze", "--tenant", "acme", "--period", "yearly"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("period"));

    let out = run(&["optimize", "analyze", "--week", "2026-10-06", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["active_users"].as_i64(),
            v["trial_cohort"].as_array().map(Vec::len)
        ),
        (Some(1), Some(1))
    );
    let out = run(&["optimize", "analyze", "--week", "2026-10-06"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("active users"));
}
