//! The money model end to end: for a tenant and a month, the invoice total,
//! the TPC revenue and the cost dashboard's revenue are one number, in both
//! billing modes, with a rate change and a plan change mid-month; a parent
//! rolls up its sub-organisations; the seed's savings estimate to the cent.
//! Every expected amount is computed by hand in the comments.

use crate::admins::signed_in;
use crate::costs::{event, ingest};
use crate::dashboards::{add_admins, page_html};
use crate::helpers::{spawn_app, TestApp};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The first day of last calendar month, and its number of days.
fn last_month() -> (NaiveDate, i64) {
    let first_this = Utc::now().date_naive().with_day(1).unwrap();
    let first_last = (first_this - Duration::days(1)).with_day(1).unwrap();
    (first_last, (first_this - first_last).num_days())
}

async fn put(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, out) = app.root_json(Method::PUT, path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {out}");
    out
}

/// The month's invoice of `tenant` (regenerated now): (lines, total cents).
async fn invoice(app: &TestApp, month: NaiveDate, tenant: &str) -> (Vec<(String, i64)>, i64) {
    let period = month.format("%Y-%m").to_string();
    let (status, out) = app
        .root_json(
            Method::POST,
            "/api/xero/generate-invoices",
            Some(json!({ "period": period })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let inv = out["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tenant_id"] == tenant)
        .unwrap_or_else(|| panic!("no invoice for {tenant}: {out}"));
    let lines = inv["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item_code"].as_str().unwrap().to_string(),
                l["unit_amount_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    (lines, inv["total_cents"].as_i64().unwrap())
}

async fn profitability(app: &TestApp, tenant: &str, month: NaiveDate) -> Value {
    let (status, t) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/{tenant}?period=monthly&from={month}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t
}

/// `$1,234.56` as the dashboard writes whole-dollar amounts.
fn dollars(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// Asserts the invoice, the TPC and the dashboard agree on the month's revenue.
async fn one_number(app: &TestApp, cookie: &str, tenant: &str, month: NaiveDate, cents: i64) {
    let (_, total) = invoice(app, month, tenant).await;
    assert_eq!(total, cents, "invoice total");
    let t = profitability(app, tenant, month).await;
    assert_eq!(
        t["profitability"]["revenue_micros"],
        cents * 10_000,
        "TPC revenue: {t}"
    );
    let page = page_html(
        app,
        &format!("/admin/costs?period=last-month&tenant={tenant}"),
        cookie,
    )
    .await;
    let kpi = format!("<strong class=\"kpi-value\">{}</strong>", dollars(cents));
    let at = page.find("Revenue").expect("a revenue KPI");
    assert!(page[at..].contains(&kpi), "dashboard revenue {kpi}: {page}");
}

fn owned(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(c, a)| (c.to_string(), *a)).collect()
}

#[tokio::test]
async fn a_month_is_one_number_on_the_invoice_the_tpc_and_the_dashboard_in_both_modes() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let (month, days) = last_month();
    // acme has been on pro since the first of last month.
    let (status, body) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/acme",
            Some(json!({"plan": "pro", "plan_effective_from": month})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = |d: i64| format!("{}T10:00:00Z", month + Duration::days(d));
    let (status, body) = ingest(
        &app,
        &json!([
            // openai: 2,000,000 in x 2.5 $/M = 5,000,000 µ$ (day 5)
            event(
                "m1",
                "acme",
                "u1",
                "openai",
                json!({"tokens_in": 2_000_000}),
                &at(4)
            ),
            // hume: 12.5 s x 2,000 µ$ = 25,000 µ$ (day 10)
            event("m2", "acme", "u1", "hume", json!({"seconds": 12.5}), &at(9)),
            // deepgram: 100 min x 4,300 µ$ = 430,000 µ$ (day 15)
            event(
                "m3",
                "acme",
                "u2",
                "deepgram",
                json!({"minutes": 100}),
                &at(14)
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Cost-plus (pro's default): 3 + 500 + 43 c of services; SG&A 10% of
    // 5,455,000 = 545,500 µ$ -> 55 c; compliance 272,750 µ$ -> 27 c: 628 c.
    let (lines, _) = invoice(&app, month, "acme").await;
    assert_eq!(
        lines,
        owned(&[
            ("13-HUME", 3),
            ("15-OPENAI", 500),
            ("17-DEEPGRAM", 43),
            ("90-SGA", 55),
            ("91-COMPLIANCE", 27)
        ])
    );
    one_number(&app, &cookie, "acme", month, 628).await;
    // Gross 6,280,000 - 5,455,000 = 825,000; allocated 55 c + 27 c; net 5,000.
    let p = &profitability(&app, "acme", month).await["profitability"];
    assert_eq!(p["profit_micros"], 825_000);
    assert_eq!(p["net_profit_micros"], 5_000);
    assert_eq!(
        (p["sga_micros"].clone(), p["compliance_micros"].clone()),
        (json!(550_000), json!(270_000))
    );

    // SG&A rises to 20% from day 11: day 5's and day 10's cost keep 10%.
    // SG&A 500,000 + 2,500 + 86,000 = 588,500 µ$ -> 59 c; total 632 c.
    put(
        &app,
        "/api/money/allocation-rates",
        json!({"sga_bps": 2000, "compliance_bps": 500, "effective_from": month + Duration::days(10)}),
    )
    .await;
    let (lines, _) = invoice(&app, month, "acme").await;
    assert_eq!(lines[3], ("90-SGA".to_string(), 59));
    one_number(&app, &cookie, "acme", month, 632).await;

    // Plan pricing for pro: $30 a month plus usage at 120%, from long ago.
    // Subscription 3,000 c; hume 30,000 µ$ -> 3; openai 6,000,000 -> 600;
    // deepgram 516,000 -> 52: 3,655 c.
    put(
        &app,
        "/api/plans/pro/pricing",
        json!({"billing_mode": "plan_pricing", "monthly_price_micros": 30_000_000,
               "usage_markup_bps": 12_000, "effective_from": "2000-01-01"}),
    )
    .await;
    let (lines, _) = invoice(&app, month, "acme").await;
    assert_eq!(
        lines,
        owned(&[
            ("10-SUBSCRIPTION", 3_000),
            ("13-HUME", 3),
            ("15-OPENAI", 600),
            ("17-DEEPGRAM", 52)
        ])
    );
    one_number(&app, &cookie, "acme", month, 3_655).await;
    // Gross 36,550,000 - 5,455,000 = 31,095,000 (85.08%); allocated 59 c +
    // 27 c (costs here, not lines); net 30,235,000 (82.72%).
    let p = &profitability(&app, "acme", month).await["profitability"];
    assert_eq!(p["plan_revenue_micros"], 30_000_000);
    assert_eq!(p["profit_micros"], 31_095_000);
    assert_eq!(p["margin_bps"], 8_508);
    assert_eq!(p["net_profit_micros"], 30_235_000);
    assert_eq!(p["net_margin_bps"], 8_272);

    // acme moved to enterprise ($300, usage at cost) from day 21: pro's
    // subscription for 20 days, enterprise's for the rest; usage (all
    // before day 21) at pro's rate.
    put(
        &app,
        "/api/plans/enterprise/pricing",
        json!({"billing_mode": "plan_pricing", "monthly_price_micros": 300_000_000,
               "usage_markup_bps": 10_000, "effective_from": "2000-01-01"}),
    )
    .await;
    let (status, body) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/acme",
            Some(json!({"plan": "enterprise", "plan_effective_from": month + Duration::days(20)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let half_up = |n: i64, d: i64| (2 * n + d) / (2 * d);
    let subscription = half_up(30_000_000 * 20, days) + half_up(300_000_000 * (days - 20), days);
    let subscription_cents = half_up(subscription, 10_000);
    let (lines, _) = invoice(&app, month, "acme").await;
    assert_eq!(
        lines[0],
        ("10-SUBSCRIPTION".to_string(), subscription_cents)
    );
    one_number(&app, &cookie, "acme", month, subscription_cents + 655).await;

    // Dating a plan change back changes what is billed: a token that may
    // only manage tenants is refused (and the refusal audited).
    let (_, token) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "tenants only", "permissions": ["tenants:write"]})),
        )
        .await;
    let res = app
        .client
        .patch(app.url("/api/tenants/acme"))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({"plan": "pro", "plan_effective_from": month}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PERMISSION_DENIED", "{body}");

    // A plan change cannot be dated in the future, nor without a plan.
    for bad in [
        json!({"plan": "pro", "plan_effective_from": Utc::now().date_naive() + Duration::days(1)}),
        json!({"plan_effective_from": month}),
    ] {
        let (status, body) = app
            .root_json(Method::PATCH, "/api/tenants/acme", Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "plan_effective_from", "{body}");
    }
    // Terms with their history, and rates out of range refused by name.
    let (_, terms) = app.root_json(Method::GET, "/api/money/terms", None).await;
    assert_eq!(
        terms["allocation_rates"].as_array().unwrap().len(),
        2,
        "{terms}"
    );
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/money/allocation-rates",
            Some(json!({"sga_bps": 10_001, "compliance_bps": 500})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "sga_bps");
}

#[tokio::test]
async fn a_parent_rolls_up_its_sub_organisations_with_each_share() {
    let app = spawn_app().await;
    app.provision_tenant("holding").await;
    for kid in ["kid-a", "kid-b"] {
        app.provision(
            json!({"user_id": kid, "integration": "files", "project_id": "jt",
                             "tier": "pro", "parent_id": "holding"}),
        )
        .await;
    }
    let (month, _) = last_month();
    let at = format!("{}T10:00:00Z", month + Duration::days(2));
    // kid-a: 400,000 in x 2.5 $/M = $1.00; kid-b: $3.00; the parent nothing.
    let (status, body) = ingest(
        &app,
        &json!([
            event(
                "r1",
                "kid-a",
                "u",
                "openai",
                json!({"tokens_in": 400_000}),
                &at
            ),
            event(
                "r2",
                "kid-b",
                "u",
                "openai",
                json!({"tokens_in": 1_200_000}),
                &at
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Cost-plus: kid-a 100 + 10 + 5 = 115 c, kid-b 300 + 30 + 15 = 345 c.
    let t = profitability(&app, "holding", month).await;
    assert_eq!(t["total_cost_micros"], 4_000_000);
    assert_eq!(t["profitability"]["revenue_micros"], 4_600_000);
    let members: Vec<(String, i64, i64, i64)> = t["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["tenant_id"].as_str().unwrap().to_string(),
                m["revenue_micros"].as_i64().unwrap(),
                m["cost_share_bps"].as_i64().unwrap(),
                m["revenue_share_bps"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("holding".to_string(), 0, 0, 0),
            ("kid-a".to_string(), 1_150_000, 2_500, 2_500),
            ("kid-b".to_string(), 3_450_000, 7_500, 7_500),
        ]
    );
    // Each child's own figures stay its own; each is invoiced on its own.
    let a = profitability(&app, "kid-a", month).await;
    assert_eq!(a["profitability"]["revenue_micros"], 1_150_000);
    assert_eq!(a["members"], json!([]));
    let (_, a_total) = invoice(&app, month, "kid-a").await;
    assert_eq!(a_total, 115);
    // Once the parent invoices its sub-organisations, the family has one
    // invoice, the parent's, equal to the family's TPC revenue.
    let (status, body) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/holding",
            Some(json!({"invoices_children": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = app
        .root_json(Method::GET, "/api/tenants/holding", None)
        .await;
    assert_eq!(detail["invoices_children"], true, "{detail}");
    let period = month.format("%Y-%m").to_string();
    let (status, out) = app
        .root_json(
            Method::POST,
            "/api/xero/generate-invoices",
            Some(json!({ "period": period })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let invoices = out["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{out}");
    assert_eq!(invoices[0]["tenant_id"], "holding");
    assert_eq!(invoices[0]["total_cents"], 460);
    let descriptions: Vec<&str> = invoices[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["description"].as_str().unwrap())
        .collect();
    assert!(
        descriptions[0].starts_with("kid-a: OpenAI usage")
            && descriptions[3].starts_with("kid-b: OpenAI usage"),
        "{descriptions:?}"
    );

    // The parent's dashboard is the family's.
    add_admins(&app).await;
    let (cookie, _) = signed_in(&app, "ops@example.com").await;
    let page = page_html(
        &app,
        "/admin/costs?period=last-month&tenant=holding",
        &cookie,
    )
    .await;
    assert!(
        page.contains("<strong class=\"kpi-value\">$4.00</strong>"),
        "{page}"
    );
    assert!(
        page.contains("<strong class=\"kpi-value\">$4.60</strong>"),
        "{page}"
    );
    // The seed's projection sits beside the measured saving.
    let card = &page[page.find("data-card=\"savings\"").expect("a savings card")..];
    assert!(card.contains("$200.00 / $110.00 a month"), "{card}");
    assert!(
        card.contains("$90.00 a month (45.0%), $1,080.00 the first year, break-even month 1"),
        "{card}"
    );
    assert!(card.contains("Measured saving in this period"), "{card}");
}

#[tokio::test]
async fn an_event_costing_over_a_million_dollars_is_refused() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    // 10^12 characters x 180,000 µ$ per 1,000 = $180,000,000.
    let (status, body) = ingest(
        &app,
        &json!([event(
            "x1",
            "acme",
            "u",
            "elevenlabs",
            json!({"characters": 1_000_000_000_000_i64}),
            "2026-11-02T00:00:00Z"
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "units", "{body}");
}

#[tokio::test]
async fn the_seeds_savings_estimate_to_the_cent() {
    let app = spawn_app().await;
    let (status, p) = app
        .root_json(Method::GET, "/api/analytics/savings-projection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    // 1,000 customers x 100 files of 20 MB, 70% hits, origin $0.10/GB, cache $50.
    assert_eq!(p["requests_per_month"], 100_000);
    assert_eq!(p["hits_per_month"], 70_000);
    assert_eq!(p["origin_cost_without_cache_micros"], 200_000_000);
    assert_eq!(p["origin_cost_with_cache_micros"], 60_000_000);
    assert_eq!(p["cache_cost_micros"], 50_000_000);
    assert_eq!(p["total_with_cache_micros"], 110_000_000);
    assert_eq!(p["monthly_saving_micros"], 90_000_000);
    assert_eq!(p["saving_bps"], 4_500);
    assert_eq!(p["first_year_saving_micros"], 1_080_000_000);
    assert_eq!(p["break_even_month"], 1);
    // A $200 set-up is repaid by the end of month 3.
    let (_, p) = app
        .root_json(
            Method::GET,
            "/api/analytics/savings-projection?setup_cost_micros=200000000",
            None,
        )
        .await;
    assert_eq!(p["break_even_month"], 3);
    let (status, bad) = app
        .root_json(
            Method::GET,
            "/api/analytics/savings-projection?hit_rate_bps=10001",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["field"], "hit_rate_bps");
    // The CLI gives the same figures.
    let out = app.cli(&["costs", "project-savings", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["monthly_saving_micros"], 90_000_000);
    let out = app.cli(&["costs", "project-savings"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("saving $90.000000 a month (45.00%)"),
        "{text}"
    );
    assert!(
        text.contains("first year $1080.000000; break-even month 1"),
        "{text}"
    );
}
