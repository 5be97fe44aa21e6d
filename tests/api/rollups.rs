//! The pre-aggregated figures agree with a direct computation over the raw
//! events: a generated data set (three tenants, fifteen users each, two
//! services, 85 days, a price change in the middle, a retried batch and a
//! half-new one), every figure of the TPC, the cost dashboard's spread over
//! users and the weekly optimisation compared with the events the test sent.

use crate::admins::signed_in;
use crate::costs::{event, ingest};
use crate::dashboards::{add_admins, page_html};
use crate::helpers::{spawn_app, TestApp};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use keyward::domain::analytics::Period;
use keyward::domain::overview::{Preset, UserSpread};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One generated event: what the test knows about it.
struct Sent {
    json: Value,
    tenant: String,
    user: String,
    service: &'static str,
    day: NaiveDate,
    cost: i64,
}

const TENANTS: [&str; 3] = ["ra", "rb", "rc"];

/// 600 events over the last 85 days; OpenAI input tokens cost 2.5 $/M
/// before `change` and 5 $/M from it on; Hume 2,000 µ$ a second.
fn generate(now: DateTime<Utc>, change: DateTime<Utc>) -> Vec<Sent> {
    let mut x: u64 = 42;
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    (0..600)
        .map(|i| {
            let tenant = TENANTS[next(3) as usize].to_string();
            // Skewed: low-numbered users are busier, so percentiles differ.
            let busiest = 1 + next(15);
            let user = format!("u{}", next(busiest));
            let at = now - Duration::minutes(next(85 * 24 * 60) as i64);
            let (service, units, cost) = if next(4) == 0 {
                let s = 1 + next(20) as i64;
                ("hume", json!({"seconds": s}), s * 2_000)
            } else {
                let tokens = 2 * (1 + next(5_000) as i64);
                let per_token_x2 = if at >= change { 10 } else { 5 };
                (
                    "openai",
                    json!({"tokens_in": tokens}),
                    tokens * per_token_x2 / 2,
                )
            };
            let id = format!("g{i}");
            Sent {
                json: event(&id, &tenant, &user, service, units, &at.to_rfc3339()),
                tenant,
                user,
                service,
                day: at.date_naive(),
                cost,
            }
        })
        .collect()
}

/// Each (tenant, user)'s (events, cost) in `[from, to)` of some tenants.
fn per_user(
    sent: &[Sent],
    from: NaiveDate,
    to: NaiveDate,
    tenant: Option<&str>,
) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for e in sent
        .iter()
        .filter(|e| from <= e.day && e.day < to && tenant.is_none_or(|t| t == e.tenant))
    {
        let u = out.entry((e.tenant.clone(), e.user.clone())).or_default();
        u.0 += 1;
        u.1 += e.cost;
    }
    out
}

async fn ingest_all(app: &TestApp, sent: &[Sent]) {
    let batch = |events: &[Sent]| Value::Array(events.iter().map(|e| e.json.clone()).collect());
    let batches: Vec<Value> = sent[..500].chunks(100).map(batch).collect();
    for b in &batches {
        let (status, body) = ingest(app, b).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["duplicates"], 0);
    }
    // A retried batch counts nothing; a half-new one only its new half
    // (the rollups checked below count each of the 600 events once).
    let (_, again) = ingest(app, &batches[2]).await;
    assert_eq!(
        (again["accepted"].as_i64(), again["duplicates"].as_i64()),
        (Some(0), Some(100))
    );
    let (status, mixed) = ingest(app, &batch(&sent[450..550])).await;
    assert_eq!(status, StatusCode::OK, "{mixed}");
    assert_eq!(
        (mixed["accepted"].as_i64(), mixed["duplicates"].as_i64()),
        (Some(50), Some(50))
    );
    let (_, last) = ingest(app, &batch(&sent[550..])).await;
    assert_eq!(last["accepted"], 50);
}

fn stats_of(figures: &BTreeMap<(String, String), (i64, i64)>) -> UserSpread {
    UserSpread::of(figures.values().map(|v| v.1).collect())
}

/// The TPC of each tenant over a span: every figure from the raw events.
async fn check_tpc(app: &TestApp, sent: &[Sent], tenant: &str, from: NaiveDate, to: NaiveDate) {
    let (status, tpc) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/{tenant}?period=daily&from={from}&to={to}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tpc}");
    let users = per_user(sent, from, to, Some(tenant));
    let spread = stats_of(&users);
    let total: i64 = users.values().map(|u| u.1).sum();
    let events: i64 = users.values().map(|u| u.0).sum();
    let ctx = format!("{tenant} {from}..{to}");
    assert_eq!(tpc["total_cost_micros"], total, "{ctx}");
    assert_eq!(tpc["events"], events, "{ctx}");
    for (field, want) in [
        ("mean_micros", spread.mean_micros),
        ("median_micros", spread.median_micros),
        ("p95_micros", spread.p95_micros),
        ("p99_micros", spread.p99_micros),
        ("std_dev_micros", spread.std_dev_micros),
    ] {
        assert_eq!(tpc["user_stats"][field], want, "{field} of {ctx}");
    }
    let got: BTreeMap<String, (i64, i64)> = tpc["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap().to_string(),
                (
                    u["events"].as_i64().unwrap(),
                    u["cost_micros"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    let want: BTreeMap<String, (i64, i64)> = users.into_iter().map(|((_, u), v)| (u, v)).collect();
    assert_eq!(got, want, "users of {ctx}");
    for service in ["openai", "hume"] {
        let want: i64 = sent
            .iter()
            .filter(|e| e.tenant == tenant && e.service == service && from <= e.day && e.day < to)
            .map(|e| e.cost)
            .sum();
        let got = tpc["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .map_or(0, |s| s["cost_micros"].as_i64().unwrap());
        assert_eq!(got, want, "{service} of {ctx}");
    }
}

/// The dashboard's "Cost per user" figures for a preset (of every tenant
/// or one), each from the raw events.
async fn check_dashboard(
    app: &TestApp,
    cookie: &str,
    sent: &[Sent],
    preset: Preset,
    tenant: Option<&str>,
) {
    let span = preset.span(Utc::now().date_naive());
    let users = per_user(sent, span.from, span.to, tenant);
    let s = stats_of(&users);
    let path = match tenant {
        Some(t) => format!("/admin/costs?period={}&tenant={t}", preset.as_str()),
        None => format!("/admin/costs?period={}", preset.as_str()),
    };
    let page = page_html(app, &path, cookie).await;
    for (label, value) in [
        ("Users", users.len().to_string()),
        ("Mean", keyward_usd(s.mean_micros)),
        ("Median", keyward_usd(s.median_micros)),
        ("p95", keyward_usd(s.p95_micros)),
        ("p99", keyward_usd(s.p99_micros)),
        ("Std dev", keyward_usd(s.std_dev_micros)),
    ] {
        let want = format!("<dt>{label}</dt><dd>{value}</dd>");
        assert!(page.contains(&want), "{path}: {want} missing");
    }
}

/// Money as the pages write it (see `ui::format::usd`).
fn keyward_usd(micros: i64) -> String {
    let abs = micros.unsigned_abs();
    if abs != 0 && abs < 50 {
        return "<$0.0001".into();
    }
    if abs != 0 && abs < 1_000_000 {
        return format!("$0.{:04}", (abs + 50) / 100);
    }
    let cents = (abs + 5_000) / 10_000;
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// The weekly optimisation's per-service and per-user figures.
async fn check_optimize(app: &TestApp, sent: &[Sent], monday: NaiveDate) {
    let (status, o) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/optimize?week={monday}&cohort_limit=1000"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{o}");
    let end = monday + Duration::days(7);
    let users = per_user(sent, monday, end, None);
    assert_eq!(o["active_users"], users.len(), "week of {monday}");
    for s in o["services"].as_array().unwrap() {
        let of: Vec<&Sent> = sent
            .iter()
            .filter(|e| e.service == s["service"] && monday <= e.day && e.day < end)
            .collect();
        let mut who: Vec<(&str, &str)> = of.iter().map(|e| (&*e.tenant, &*e.user)).collect();
        who.sort();
        who.dedup();
        assert_eq!(s["users"], who.len(), "{s}");
        assert_eq!(s["events"], of.len(), "{s}");
        assert_eq!(
            s["cost_micros"],
            of.iter().map(|e| e.cost).sum::<i64>(),
            "{s}"
        );
    }
    // The trial cohort: the most active 30% by events, then cost, then id.
    let mut ranked: Vec<_> = users.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1 .0
            .cmp(&a.1 .0)
            .then(b.1 .1.cmp(&a.1 .1))
            .then(a.0.cmp(&b.0))
    });
    ranked.truncate((ranked.len() * 3).div_ceil(10));
    let want: Vec<(String, String)> = ranked.into_iter().map(|(k, _)| k).collect();
    let got: Vec<(String, String)> = o["trial_cohort"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["tenant_id"].as_str().unwrap().into(),
                c["user_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(got, want, "cohort of {monday}");
}

#[tokio::test]
async fn rollups_agree_with_the_raw_events() {
    let app = spawn_app().await;
    for t in TENANTS {
        app.provision_tenant(t).await;
    }
    add_admins(&app).await;
    let now = Utc::now();
    let change = (now - Duration::days(40))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/prices",
            Some(
                json!({"service": "openai", "unit": "token_in", "price_micros": 5_000_000,
                        "per_units": 1_000_000, "effective_from": change.to_rfc3339()}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sent = generate(now, change);
    ingest_all(&app, &sent).await;

    let today = now.date_naive();
    let mut spans: Vec<(NaiveDate, NaiveDate)> = Preset::ALL
        .iter()
        .map(|p| p.span(today))
        .map(|s| (s.from, s.to))
        .collect();
    // Not a kept span: read from the daily rollups.
    spans.push((today - Duration::days(17), today - Duration::days(3)));
    for (from, to) in spans {
        for t in TENANTS {
            check_tpc(&app, &sent, t, from, to).await;
        }
    }
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    for preset in Preset::ALL {
        check_dashboard(&app, &cookie, &sent, preset, None).await;
        check_dashboard(&app, &cookie, &sent, preset, Some("rb")).await;
    }
    let this_week = Period::Weekly.containing(today).0;
    for weeks_ago in [0, 1, 5, 11] {
        check_optimize(&app, &sent, this_week - Duration::days(7 * weeks_ago)).await;
    }
}
