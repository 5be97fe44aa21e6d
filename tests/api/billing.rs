//! Invoices: generation from the cost rollups, idempotent regeneration, the
//! Xero CSV and JSON exports field by field, the push to a Xero stub, payment
//! reconciliation, the CLI, and the data plane's own requests as a cost.
//! Every expected amount is computed by hand in the comments.

use crate::costs::{event, ingest};
use crate::helpers::{s, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// acme (pro) and beta use services in October 2026; acme also in November.
async fn october(app: &TestApp) {
    app.provision_tenant("acme").await;
    app.provision_tenant("beta").await;
    let (status, body) = ingest(
        app,
        &json!([
            // openai: 1000 in x 2.5 $/M + 500 out x 10 $/M = 2,500 + 5,000 = 7,500 µ$
            event(
                "b1",
                "acme",
                "u1",
                "openai",
                json!({"tokens_in": 1000, "tokens_out": 500}),
                "2026-10-05T10:00:00Z"
            ),
            // openai: 2,000,000 in x 2.5 $/M = 5,000,000 µ$ (openai total 5,007,500 µ$ = 500.75 c -> 501 c)
            event(
                "b2",
                "acme",
                "u2",
                "openai",
                json!({"tokens_in": 2_000_000}),
                "2026-10-31T23:59:59Z"
            ),
            // hume: 12.5 s x 2,000 µ$/s = 25,000 µ$ = 2.5 c -> 3 c
            event(
                "b3",
                "acme",
                "u1",
                "hume",
                json!({"seconds": 12.5}),
                "2026-10-06T10:00:00Z"
            ),
            // elevenlabs: 2,000 chars x 180,000 µ$ per 1,000 = 360,000 µ$ = 36 c
            event(
                "b4",
                "acme",
                "u1",
                "elevenlabs",
                json!({"characters": 2000}),
                "2026-10-07T10:00:00Z"
            ),
            // November: not in October's invoice.
            event(
                "b5",
                "acme",
                "u1",
                "openai",
                json!({"tokens_in": 1000}),
                "2026-11-01T00:00:00Z"
            ),
            // beta deepgram: 100 min x 4,300 µ$ = 430,000 µ$ = 43 c
            event(
                "b6",
                "beta",
                "u9",
                "deepgram",
                json!({"minutes": 100}),
                "2026-10-20T08:00:00Z"
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn generate(app: &TestApp, body: Value) -> Value {
    let (status, out) = app
        .root_json(Method::POST, "/api/xero/generate-invoices", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out
}

fn lines(invoice: &Value) -> Vec<(String, i64)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                s(&l["item_code"]).to_string(),
                l["unit_amount_cents"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn owned(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(c, a)| (c.to_string(), *a)).collect()
}

#[tokio::test]
async fn invoices_match_a_hand_computation_and_regenerate_in_place() {
    let app = spawn_app().await;
    october(&app).await;
    let out = generate(&app, json!({"period": "2026-10"})).await;
    assert_eq!(out["replaced"], 0);
    let invoices = out["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 2, "{out}");
    let acme = &invoices[0];
    assert_eq!(acme["number"], "KW-202610-ACME");
    assert_eq!(acme["tenant_id"], "acme");
    assert_eq!(acme["status"], "draft");
    assert_eq!(acme["date"], "2026-10-31");
    assert_eq!(acme["due_date"], "2026-11-30");
    assert_eq!(acme["currency"], "USD");
    // acme is on pro, which bills cost-plus. Direct cost 25,000 + 360,000 +
    // 5,007,500 = 5,392,500 µ$; SG&A 10% = 539,250 µ$ = 53.925 c -> 54;
    // compliance 5% = 269,625 µ$ = 26.96 c -> 27.
    assert_eq!(
        lines(acme),
        owned(&[
            ("13-HUME", 3),
            ("14-ELEVENLABS", 36),
            ("15-OPENAI", 501),
            ("90-SGA", 54),
            ("91-COMPLIANCE", 27)
        ])
    );
    assert_eq!(acme["total_cents"], 621);
    assert_eq!(acme["total"], "6.21");
    assert_eq!(
        s(&acme["lines"][2]["description"]),
        "OpenAI usage 2026-10 (2 events)"
    );
    // beta: 430,000 µ$ = 43 c; SG&A 43,000 µ$ = 4.3 c -> 4; 21,500 µ$ = 2.15 c -> 2.
    let beta = &invoices[1];
    assert_eq!(beta["number"], "KW-202610-BETA");
    assert_eq!(
        lines(beta),
        owned(&[("17-DEEPGRAM", 43), ("90-SGA", 4), ("91-COMPLIANCE", 2)])
    );
    assert_eq!(beta["total_cents"], 49);

    // A late October event, then regeneration by date: same numbers, no duplicates.
    let (status, _) = ingest(
        &app,
        // anthropic: 1000 out x 15 $/M = 15,000 µ$ = 1.5 c -> 2 c
        &json!([event(
            "b7",
            "acme",
            "u3",
            "anthropic",
            json!({"tokens_out": 1000}),
            "2026-10-15T00:00:00Z"
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let again = generate(&app, json!({"date": "2026-10-01"})).await;
    assert_eq!(again["replaced"], 2);
    assert_eq!(again["period"], "2026-10");
    let (status, listed) = app
        .root_json(Method::GET, "/api/invoices?period=2026-10", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "regeneration must not duplicate");
    // Direct cost 5,407,500 µ$: SG&A 540,750 µ$ = 54.075 c -> 54; compliance
    // 270,375 µ$ = 27.04 c -> 27; total 3 + 36 + 501 + 2 + 54 + 27 = 623.
    assert_eq!(
        lines(&listed[0]),
        owned(&[
            ("13-HUME", 3),
            ("14-ELEVENLABS", 36),
            ("15-OPENAI", 501),
            ("16-ANTHROPIC", 2),
            ("90-SGA", 54),
            ("91-COMPLIANCE", 27)
        ])
    );
    assert_eq!(listed[0]["total_cents"], 623);

    // November holds only acme's event: 1000 x 2.5 $/M = 2,500 µ$ = 0.25 c
    // -> 0 c, SG&A and compliance 0: it bills nothing, so no invoice.
    let nov = generate(&app, json!({"period": "2026-11"})).await;
    assert_eq!(nov["invoices"], json!([]), "{nov}");
    // An empty month: no invoices.
    let empty = generate(&app, json!({"period": "2026-09"})).await;
    assert_eq!(empty["invoices"], json!([]));

    // Each generation is audited.
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?action=invoices.generate", None)
        .await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 4, "{trail}");
}

#[tokio::test]
async fn exports_follow_xero_layouts_field_by_field() {
    let app = spawn_app().await;
    october(&app).await;
    generate(&app, json!({"period": "2026-10"})).await;
    let (_, tenant) = app.root_json(Method::GET, "/api/tenants/beta", None).await;
    let beta_name = s(&tenant["name"]).to_string();

    let res = app
        .root(
            Method::GET,
            "/api/xero/export?period=2026-10&format=csv",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("keyward-invoices-2026-10.csv"));
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(
        rows[0],
        "*ContactName,EmailAddress,POAddressLine1,POAddressLine2,POAddressLine3,POAddressLine4,POCity,\
         PORegion,POPostalCode,POCountry,*InvoiceNumber,Reference,*InvoiceDate,*DueDate,InventoryItemCode,\
         *Description,*Quantity,*UnitAmount,Discount,*AccountCode,*TaxType,TrackingName1,TrackingOption1,\
         TrackingName2,TrackingOption2,Currency,BrandingTheme"
    );
    // 5 acme lines + 3 beta lines.
    assert_eq!(rows.len(), 1 + 5 + 3, "{csv}");
    let beta_rows: Vec<Vec<&str>> = rows
        .iter()
        .filter(|r| r.contains("KW-202610-BETA"))
        .map(|r| r.split(',').collect())
        .collect();
    let deepgram = &beta_rows[0];
    assert_eq!(deepgram.len(), 27);
    assert_eq!(deepgram[0], beta_name);
    assert_eq!(deepgram[10], "KW-202610-BETA");
    assert_eq!(deepgram[11], "keyward beta 2026-10");
    assert_eq!(deepgram[12], "31/10/2026");
    assert_eq!(deepgram[13], "30/11/2026");
    assert_eq!(deepgram[14], "17-DEEPGRAM");
    assert_eq!(deepgram[15], "Deepgram usage 2026-10 (1 event)");
    assert_eq!(deepgram[16], "1");
    assert_eq!(deepgram[17], "0.43");
    assert_eq!(deepgram[19], "200");
    assert_eq!(deepgram[20], "OUTPUT");
    assert_eq!(deepgram[25], "USD");
    assert_eq!(beta_rows[1][14], "90-SGA");
    assert_eq!(beta_rows[1][17], "0.04");
    assert_eq!(beta_rows[2][14], "91-COMPLIANCE");
    assert_eq!(beta_rows[2][17], "0.02");

    let (status, json) = app
        .root_json(
            Method::GET,
            "/api/xero/export?period=2026-10&format=json",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let inv = &json["Invoices"][1];
    assert_eq!(inv["Type"], "ACCREC");
    assert_eq!(inv["Contact"]["Name"], beta_name.as_str());
    assert_eq!(inv["Date"], "2026-10-31");
    assert_eq!(inv["DueDate"], "2026-11-30");
    assert_eq!(inv["InvoiceNumber"], "KW-202610-BETA");
    assert_eq!(inv["Reference"], "keyward beta 2026-10");
    assert_eq!(inv["Status"], "DRAFT");
    assert_eq!(inv["LineAmountTypes"], "Exclusive");
    let item = &inv["LineItems"][0];
    assert_eq!(item["Description"], "Deepgram usage 2026-10 (1 event)");
    assert_eq!(item["Quantity"], 1);
    assert_eq!(item["UnitAmount"], 0.43);
    assert_eq!(item["AccountCode"], "200");
    assert_eq!(item["ItemCode"], "17-DEEPGRAM");
    assert_eq!(item["TaxType"], "OUTPUT");
    assert_eq!(inv["LineItems"].as_array().unwrap().len(), 3);

    // Amounts are decimals written digit for digit, not floats re-printed.
    let res = app
        .root(
            Method::GET,
            "/api/xero/export?period=2026-10&format=json",
            None,
        )
        .await;
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = res.text().await.unwrap();
    assert!(text.contains(r#""UnitAmount":0.43,"#), "{text}");
    assert!(text.contains(r#""UnitAmount":5.01,"#), "{text}");
}

#[tokio::test]
async fn push_to_xero_then_payments_reconcile() {
    let app = spawn_app().await;
    october(&app).await;
    generate(&app, json!({"period": "2026-10"})).await;

    let (status, sent) = app
        .root_json(
            Method::POST,
            "/api/xero/push",
            Some(json!({"period": "2026-10"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent.as_array().unwrap().len(), 2);
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["xero_invoice_id"], "xero-KW-202610-ACME");
    // What Xero received: an authorised sales invoice with our codes.
    let received: Value = app
        .client
        .get(format!(
            "{}/xero/received/KW-202610-ACME",
            crate::providers_stub::base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received["Status"], "AUTHORISED");
    assert_eq!(received["LineItems"][2]["ItemCode"], "15-OPENAI");
    assert_eq!(received["LineItems"][2]["UnitAmount"], 5.01);
    // What was billed in a sent month can no longer be repriced: terms may
    // change from the next month on.
    for (path, body) in [
        (
            "/api/money/allocation-rates",
            json!({"sga_bps": 2000, "compliance_bps": 500, "effective_from": "2026-10-15"}),
        ),
        (
            "/api/plans/pro/pricing",
            json!({"monthly_price_micros": 0, "usage_markup_bps": 0, "effective_from": "2026-10-31"}),
        ),
    ] {
        let (status, body) = app.root_json(Method::PUT, path, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert_eq!(body["error"]["code"], "PERIOD_INVOICED", "{body}");
    }
    let (status, body) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/acme",
            Some(json!({"plan": "pro", "plan_effective_from": "2026-10-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/money/allocation-rates",
            Some(json!({"sga_bps": 1000, "compliance_bps": 500, "effective_from": "2026-11-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Pushing again sends nothing (no drafts left).
    let (_, again) = app
        .root_json(
            Method::POST,
            "/api/xero/push",
            Some(json!({"period": "2026-10"})),
        )
        .await;
    assert_eq!(again, json!([]));
    // Regenerating keeps sent invoices as they are.
    let regen = generate(&app, json!({"period": "2026-10"})).await;
    assert_eq!(regen["kept"], json!(["KW-202610-ACME", "KW-202610-BETA"]));
    assert_eq!(regen["invoices"], json!([]));

    let pay = |id: &str, number: &str, amount: Value| json!({"payment_id": id, "invoice_number": number, "amount": amount, "date": "2026-12-01"});
    // 621 c due: pay 5.00, then retry the same payment, then the rest.
    let (status, p1) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p1", "KW-202610-ACME", json!(5))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p1}");
    assert_eq!(p1["recorded"], true);
    assert_eq!(p1["invoice"]["status"], "sent");
    assert_eq!(p1["invoice"]["due_cents"], 121);
    let (_, retry) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p1", "KW-202610-ACME", json!(5))),
        )
        .await;
    assert_eq!(retry["recorded"], false);
    assert_eq!(retry["invoice"]["paid_cents"], 500);
    let (status, reused) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p1", "KW-202610-ACME", json!("6.00"))),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(reused["error"]["code"], "PAYMENT_ID_REUSED");
    let (status, p2) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p2", "KW-202610-ACME", json!("1.21"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p2}");
    assert_eq!(p2["invoice"]["status"], "paid");
    assert_eq!(p2["invoice"]["due_cents"], 0);
    let (_, paid) = app
        .root_json(Method::GET, "/api/invoices?status=paid", None)
        .await;
    assert_eq!(paid.as_array().unwrap().len(), 1);
    assert_eq!(paid[0]["number"], "KW-202610-ACME");

    // Refusals: unknown invoice, a draft, bad amounts.
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p3", "KW-209901-NOPE", json!(1))),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "INVOICE_NOT_FOUND");
    // A November draft: 1,000,000 in x 2.5 $/M = $2.50.
    let (status, _) = ingest(
        &app,
        &json!([event(
            "n1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1_000_000}),
            "2026-11-02T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    generate(&app, json!({"period": "2026-11"})).await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(pay("p4", "KW-202611-ACME", json!(1))),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "INVOICE_NOT_SENT");
    for bad in [
        json!(-1),
        json!(0),
        json!("1.234"),
        json!("ten"),
        json!(null),
    ] {
        let (status, body) = app
            .root_json(
                Method::POST,
                "/api/xero/payments",
                Some(pay("p5", "KW-202610-BETA", bad.clone())),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // Nothing of those refusals was stored.
    let (_, beta) = app
        .root_json(Method::GET, "/api/invoices/KW-202610-BETA", None)
        .await;
    assert_eq!(beta["paid_cents"], 0);
    assert_eq!(beta["status"], "sent");
}

#[tokio::test]
async fn billing_input_is_checked() {
    let app = spawn_app().await;
    for body in [
        json!({"period": "2026-13"}),
        json!({"period": "2026-10", "date": "2026-10-01"}),
        json!({}),
        json!({"date": "yesterday"}),
    ] {
        let (status, out) = app
            .root_json(
                Method::POST,
                "/api/xero/generate-invoices",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {out}");
        assert_eq!(out["error"]["code"], "VALIDATION_ERROR", "{out}");
    }
    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/xero/export?period=2026-10&format=xml",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .root_json(Method::GET, "/api/invoices?status=late", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.root_json(Method::GET, "/api/invoices/KW-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = app
        .client
        .post(app.url("/api/xero/generate-invoices"))
        .json(&json!({"period": "2026-10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_cli_generates_and_exports_invoices() {
    let app = spawn_app().await;
    october(&app).await;
    let run = async |args: &[&str]| app.cli(args).await;
    let out = run(&[
        "billing",
        "generate-invoices",
        "--date",
        "2026-10-15",
        "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(generated["period"], "2026-10");
    assert_eq!(generated["invoices"][0]["number"], "KW-202610-ACME");
    assert_eq!(generated["invoices"][0]["total_cents"], 621);

    let table = run(&["billing", "generate-invoices", "--period", "2026-10"]).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("2 draft invoices (2 replaced"), "{text}");
    assert!(
        text.contains("KW-202610-BETA") && text.contains("0.49"),
        "{text}"
    );

    let csv = run(&[
        "billing", "export", "--period", "2026-10", "--format", "csv",
    ])
    .await;
    assert!(csv.status.success());
    let api_csv = app
        .root(
            Method::GET,
            "/api/xero/export?period=2026-10&format=csv",
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(String::from_utf8(csv.stdout).unwrap(), api_csv);
    let json = run(&[
        "billing", "export", "--period", "2026-10", "--format", "json",
    ])
    .await;
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["Invoices"].as_array().unwrap().len(), 2);

    let bad = run(&[
        "billing", "export", "--period", "2026-10", "--format", "xml",
    ])
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("csv or json"));
    let bad = run(&["billing", "generate-invoices", "--period", "October"]).await;
    assert!(!bad.status.success());
}

#[tokio::test]
async fn data_plane_requests_are_a_cost_rounded_once_per_day() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    // keyward's request price: 1 µ$ per 3 requests, from before today.
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/prices",
            Some(
                json!({"service": "keyward", "unit": "request", "price_micros": 1,
                        "per_units": 3, "effective_from": "2026-01-02T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Seven served requests, each flushed alone: rounding each flush would
    // give 0 µ$ (1/3 rounds to 0); the running count gives round(7/3) = 2 µ$.
    for i in 0..7 {
        let call = app.cache_get(&key, "jt_acme", &format!("q{i}")).await;
        assert_eq!(call.status, StatusCode::OK);
        app.flush_usage().await;
    }
    // A refused request (bad namespace) is not charged: it is never admitted.
    let refused = app.cache_get(&key, "jt_other", "q").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.flush_usage().await;
    let today = chrono::Utc::now().date_naive();
    let (status, tpc) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/acme?period=daily&from={today}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tpc}");
    let services = tpc["services"].as_array().unwrap();
    let keyward = services
        .iter()
        .find(|s| s["service"] == "keyward")
        .expect("keyward service");
    assert_eq!(keyward["cost_micros"], 2, "{tpc}");
    assert_eq!(tpc["events"], 7, "{tpc}");
}

/// More invoices (210) and lines (630) than one statement inserts: every
/// tenant's invoice stored whole, once, its lines in order.
#[tokio::test]
async fn a_month_of_many_tenants_is_invoiced_whole() {
    let app = spawn_app().await;
    let tenants: Vec<String> = (0..210).map(|i| format!("t{i:03}")).collect();
    for t in &tenants {
        app.provision_tenant(t).await;
    }
    // Each: deepgram 100 min = 43 c, SG&A 4 c, compliance 2 c (as beta above).
    let events: Vec<Value> = tenants
        .iter()
        .map(|t| {
            event(
                &format!("m-{t}"),
                t,
                "u1",
                "deepgram",
                json!({"minutes": 100}),
                "2026-10-20T08:00:00Z",
            )
        })
        .collect();
    let (status, body) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = generate(&app, json!({"period": "2026-10"})).await;
    assert_eq!(out["invoices"].as_array().unwrap().len(), 210);
    let (status, listed) = app
        .root_json(Method::GET, "/api/invoices?period=2026-10", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed.as_array().unwrap();
    let numbers: Vec<&str> = listed.iter().map(|i| s(&i["number"])).collect();
    let expected: Vec<String> = tenants
        .iter()
        .map(|t| format!("KW-202610-{}", t.to_uppercase()))
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
    for inv in listed {
        assert_eq!(
            lines(inv),
            owned(&[("17-DEEPGRAM", 43), ("90-SGA", 4), ("91-COMPLIANCE", 2)]),
            "{inv}"
        );
        assert_eq!(inv["total_cents"], 49);
    }
}
