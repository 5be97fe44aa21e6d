//! The customer page as a view model: plain functions from what the services
//! returned (the tenant, its usage report, its live limits, keys, provider
//! secrets and audit trail) to the figures, rows and charts the page shows.
//! No I/O and no Leptos here; `customer::customer_page` reads, this builds.

use super::admin::{AdminView, ShownOnce};
use super::charts::{self, Series};
use super::costs_data::Chart;
use super::customer_data::{
    AuditRow, CustomerPageData, Gauge, KeyDetail, KeyLimits, SecretRow, VersionRow, DAYS,
};
use super::format::{bps, bytes, count, usd};
use crate::domain::api_key::ApiKey;
use crate::domain::audit::AuditEntry;
use crate::domain::secret::{SecretMeta, Service};
use crate::domain::usage::UsageTotals;
use crate::services::data_plane::{Storage, SubjectLimits, TenantLimits};
use crate::services::limits::LimitState;
use crate::services::tenants::TenantDetail;
use crate::services::usage::{UsageReport, Window};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};

/// What the page is built from.
pub struct Input {
    pub admin: AdminView,
    pub new_secret: Option<ShownOnce>,
    /// When the page was read: the end of the usage window, and the moment
    /// key versions are judged at.
    pub now: DateTime<Utc>,
    pub detail: TenantDetail,
    /// Daily usage over `window(now)`.
    pub report: UsageReport,
    pub limits: TenantLimits,
    pub keys: Vec<ApiKey>,
    pub secrets: Vec<SecretMeta>,
    pub audit: Vec<AuditEntry>,
    /// This month's statement (with any sub-organisations rolled up).
    pub money: crate::domain::statement::Statement,
    /// The month's budget and spend, if the tenant has one.
    pub budget: Option<crate::services::budgets::BudgetStatus>,
    /// Cost anomalies flagged in the last 30 days.
    pub anomalies: Vec<crate::domain::anomaly::Flagged>,
}

/// One day of the window, with its totals if it had any use.
type Day<'a> = (NaiveDate, Option<&'a UsageTotals>);

/// The first day (UTC) of the window ending on `today`.
fn first_day(today: NaiveDate) -> NaiveDate {
    today - Duration::days(DAYS - 1)
}

/// The usage window the page shows: the last `DAYS` UTC days, up to `now`.
pub fn window(now: DateTime<Utc>) -> Window {
    Window {
        from: first_day(now.date_naive())
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc(),
        to: now,
    }
}

/// The whole page.
pub fn page(input: Input) -> CustomerPageData {
    let days = per_day(&input.report, input.now.date_naive());
    let subjects = &input.limits.subjects;
    let t = input.detail.tenant;
    CustomerPageData {
        admin: input.admin,
        new_secret: input.new_secret,
        tenant_id: t.id.to_string(),
        name: t.name,
        plan: t.plan.as_str().into(),
        status: t.status.as_str().into(),
        created_at: stamp(t.created_at),
        namespaces: input
            .detail
            .namespaces
            .iter()
            .map(|n| n.name.to_string())
            .collect(),
        money: money_rows(&input.money),
        usage: usage_totals(&input.report.total),
        charts: usage_charts(&days),
        days: day_rows(&days),
        limits: subjects.iter().map(key_limits).collect(),
        max_payload: max_payload(subjects),
        storage: storage(&input.limits.storage),
        keys: input
            .keys
            .into_iter()
            .map(|k| key_detail(k, input.now))
            .collect(),
        secrets: input.secrets.into_iter().map(secret_row).collect(),
        services: Service::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        audit: input.audit.into_iter().map(audit_row).collect(),
        budget: input
            .budget
            .as_ref()
            .map(super::automation_model::budget_gauge),
        anomalies: super::automation_model::anomaly_rows(input.anomalies),
    }
}

/// A moment as the page writes it: RFC 3339 to the second, UTC.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Each day of the window ending on `today`, oldest first, with the
/// report's totals of that day.
fn per_day(report: &UsageReport, today: NaiveDate) -> Vec<Day<'_>> {
    let first = first_day(today);
    (0..DAYS)
        .map(|i| first + Duration::days(i))
        .map(|d| {
            let totals = report
                .series
                .iter()
                .find(|(at, _)| at.date_naive() == d)
                .map(|(_, t)| t);
            (d, totals)
        })
        .collect()
}

/// One figure per day: `f` of the day's totals, or `none` without use.
fn values(days: &[Day<'_>], none: f64, f: impl Fn(&UsageTotals) -> f64) -> Vec<f64> {
    days.iter().map(|(_, t)| t.map_or(none, &f)).collect()
}

/// Hits over lookups, as "87.5%", or "-" without lookups.
fn hit_rate(t: &UsageTotals) -> String {
    if t.hits + t.misses > 0 {
        format!("{:.1}%", t.hit_rate() * 100.0)
    } else {
        "-".into()
    }
}

/// The totals over the window, as (label, value).
fn usage_totals(t: &UsageTotals) -> Vec<(String, String)> {
    vec![
        ("Requests".into(), count(t.requests)),
        ("Hits".into(), count(t.hits)),
        ("Misses".into(), count(t.misses)),
        ("Hit rate".into(), hit_rate(t)),
        ("Refused by limits".into(), count(t.rejected)),
        (
            "Bytes in / out".into(),
            format!("{} / {}", bytes(t.bytes_in), bytes(t.bytes_out)),
        ),
        (
            "Latency mean / p95".into(),
            format!(
                "{:.2} ms / {:.2} ms",
                t.mean_latency_ms(),
                t.latency_quantile_ms(0.95)
            ),
        ),
    ]
}

/// Requests by outcome, latency, and hit rate with bytes served, per day.
fn usage_charts(days: &[Day<'_>]) -> Vec<Chart> {
    let labels: Vec<String> = days
        .iter()
        .map(|(d, _)| d.format("%b %d").to_string())
        .collect();
    vec![
        requests_chart(&labels, days),
        latency_chart(&labels, days),
        hit_rate_chart(&labels, days),
    ]
}

fn requests_chart(labels: &[String], days: &[Day<'_>]) -> Chart {
    Chart {
        id: "requests".into(),
        title: format!("Requests per day, last {DAYS} days"),
        series: vec!["hits".into(), "misses".into(), "other".into()],
        svg: charts::stacked_bars(
            "Requests per day by outcome",
            labels,
            &[
                Series {
                    name: "hits".into(),
                    values: values(days, 0.0, |t| t.hits as f64),
                },
                Series {
                    name: "misses".into(),
                    values: values(days, 0.0, |t| t.misses as f64),
                },
                Series {
                    name: "other".into(),
                    values: values(days, 0.0, |t| (t.requests - t.hits - t.misses) as f64),
                },
            ],
            "Day (UTC)",
            "Requests",
            |v| count(v.round() as i64),
        ),
        empty: format!("No requests in the last {DAYS} days."),
    }
}

fn latency_chart(labels: &[String], days: &[Day<'_>]) -> Chart {
    Chart {
        id: "latency".into(),
        title: format!("Latency per day (ms), last {DAYS} days"),
        series: vec!["mean".into(), "p95".into()],
        svg: charts::lines(
            "Latency per day",
            labels,
            &[
                Series {
                    name: "mean".into(),
                    values: values(days, f64::NAN, |t| t.mean_latency_ms()),
                },
                Series {
                    name: "p95".into(),
                    values: values(days, f64::NAN, |t| t.latency_quantile_ms(0.95)),
                },
            ],
            "Day (UTC)",
            "Milliseconds",
            None,
            |v| format!("{v:.1} ms"),
        ),
        empty: format!("No requests in the last {DAYS} days."),
    }
}

/// Each day's bytes out as a percentage of the busiest day's (none without use).
fn bytes_out_share(days: &[Day<'_>]) -> Vec<f64> {
    let peak = days
        .iter()
        .filter_map(|(_, t)| t.map(|t| t.bytes_out))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    values(days, f64::NAN, |t| t.bytes_out as f64 * 100.0 / peak)
}

fn hit_rate_chart(labels: &[String], days: &[Day<'_>]) -> Chart {
    Chart {
        id: "customer-hit-rate".into(),
        title: format!("Hit rate and bytes served per day, last {DAYS} days"),
        series: vec!["hit rate".into(), "bytes out (% of the busiest day)".into()],
        svg: charts::lines(
            "Cache hit rate and bytes served per day",
            labels,
            &[
                Series {
                    name: "hit rate".into(),
                    values: values(days, f64::NAN, |t| {
                        if t.hits + t.misses > 0 {
                            t.hit_rate() * 100.0
                        } else {
                            f64::NAN
                        }
                    }),
                },
                Series {
                    name: "bytes out (% of the busiest day)".into(),
                    values: bytes_out_share(days),
                },
            ],
            "Day (UTC)",
            "Percent",
            Some((0.0, 100.0)),
            |v| format!("{v:.0}%"),
        ),
        empty: format!("No cache lookups in the last {DAYS} days."),
    }
}

/// One row per day with use, newest first: (day, requests, hits, misses,
/// hit rate, bytes in, bytes out, mean latency, p95 latency).
fn day_rows(days: &[Day<'_>]) -> Vec<[String; 9]> {
    days.iter()
        .rev()
        .filter_map(|(d, t)| {
            t.map(|t| {
                [
                    d.to_string(),
                    count(t.requests),
                    count(t.hits),
                    count(t.misses),
                    hit_rate(t),
                    bytes(t.bytes_in),
                    bytes(t.bytes_out),
                    format!("{:.2} ms", t.mean_latency_ms()),
                    format!("{:.2} ms", t.latency_quantile_ms(0.95)),
                ]
            })
        })
        .collect()
}

fn gauge(label: &str, state: &LimitState, note: String) -> Gauge {
    Gauge {
        label: label.into(),
        used: state.used,
        limit: state.limit,
        shown: format!("{} of {}", count(state.used), count(state.limit)),
        note,
    }
}

/// One key's gauges: requests this second and month, concurrency.
fn key_limits(s: &SubjectLimits) -> KeyLimits {
    let mut gauges = vec![
        gauge("Requests this second", &s.per_second, "per second".into()),
        gauge(
            "Requests this month",
            &s.monthly,
            s.monthly
                .reset_at
                .map(|r| format!("resets {}", r.format("%Y-%m-%d")))
                .unwrap_or_default(),
        ),
        gauge("Concurrent requests", &s.concurrent, "in flight now".into()),
    ];
    // A pooled key's own limits, over every tenant it serves together.
    if let Some(o) = &s.overall_per_second {
        gauges.push(gauge(
            "Key, all tenants: this second",
            o,
            "the key's own per-second figure".into(),
        ));
    }
    if let Some(o) = &s.overall_monthly {
        gauges.push(gauge(
            "Key, all tenants: this month",
            o,
            "the key's own monthly quota".into(),
        ));
    }
    KeyLimits {
        key_id: s.key_id.to_string(),
        pooled: s.pooled,
        gauges,
    }
}

/// This month's statement for people.
fn money_rows(s: &crate::domain::statement::Statement) -> Vec<(String, String)> {
    let margin = |m: Option<i64>| m.map(bps).unwrap_or_else(|| "-".into());
    vec![
        ("Billed (revenue)".into(), usd(s.revenue_micros)),
        ("Direct cost".into(), usd(s.direct_cost_micros)),
        (
            "Gross profit".into(),
            format!(
                "{} ({})",
                usd(s.gross_profit_micros),
                margin(s.gross_margin_bps())
            ),
        ),
        ("SG&A and compliance".into(), usd(s.allocated_micros())),
        (
            "Net profit".into(),
            format!(
                "{} ({})",
                usd(s.net_profit_micros),
                margin(s.net_margin_bps())
            ),
        ),
    ]
}

/// The largest request body the first key admits, or "-" without keys.
fn max_payload(subjects: &[SubjectLimits]) -> String {
    subjects
        .first()
        .map(|s| bytes(s.max_payload_bytes))
        .unwrap_or_else(|| "-".into())
}

/// Cached bytes stored, of the plan's quota.
fn storage(s: &Storage) -> String {
    format!("{} of {}", bytes(s.used_bytes), bytes(s.quota_bytes))
}

/// A key with its secret versions, newest first, judged at `now`.
fn key_detail(k: ApiKey, now: DateTime<Utc>) -> KeyDetail {
    KeyDetail {
        key_id: k.id.to_string(),
        status: k.status.as_str().into(),
        integration: k.integration.to_string(),
        scopes: k
            .scopes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        expires_at: k.expires_at.map(stamp).unwrap_or_else(|| "never".into()),
        versions: k
            .versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                version: v.version,
                display_prefix: v.display_prefix.clone(),
                state: format!("{:?}", v.state(now)).to_lowercase(),
                created_at: stamp(v.created_at),
                valid_until: v.expires_at.map(stamp).unwrap_or_else(|| "-".into()),
            })
            .collect(),
    }
}

fn secret_row(m: SecretMeta) -> SecretRow {
    SecretRow {
        service: m.secret.service.as_str().into(),
        kind: m.secret.kind.as_str().into(),
        name: m.name,
        version: m.version,
        updated_at: stamp(m.updated_at),
        validation: match (m.last_validation, m.last_validated_at) {
            (Some(v), Some(at)) => format!("{} at {}", v.as_str(), stamp(at)),
            _ => "never checked".into(),
        },
    }
}

fn audit_row(a: AuditEntry) -> AuditRow {
    AuditRow {
        at: stamp(a.at),
        actor: a.actor,
        action: a.action,
        target: format!("{} {}", a.target_type, a.target),
        outcome: a.outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{KeyId, TenantId};
    use crate::domain::secret::{SecretKind, SecretRef, Validation};
    use std::collections::BTreeMap;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        d(day).and_hms_opt(hour, 0, 0).unwrap().and_utc()
    }

    fn report(days: Vec<(u32, UsageTotals)>) -> UsageReport {
        UsageReport {
            total: UsageTotals::default(),
            series: days.into_iter().map(|(day, t)| (at(day, 0), t)).collect(),
            namespaces: BTreeMap::new(),
        }
    }

    #[test]
    fn the_window_is_the_last_thirty_utc_days_up_to_now() {
        let now = at(30, 15);
        let w = window(now);
        assert_eq!(w.from, at(1, 0));
        assert_eq!(w.to, now);
        let r = report(vec![]);
        let days = per_day(&r, now.date_naive());
        assert_eq!(days.len(), 30);
        assert_eq!((days[0].0, days[29].0), (d(1), d(30)));
    }

    #[test]
    fn day_rows_are_newest_first_and_only_days_with_use() {
        let busy = UsageTotals {
            requests: 4,
            hits: 1,
            misses: 1,
            bytes_in: 1_500,
            bytes_out: 2_000_000,
            latency_sum_us: 8_000,
            ..Default::default()
        };
        let no_lookups = UsageTotals {
            requests: 2,
            ..Default::default()
        };
        let r = report(vec![(3, busy), (5, no_lookups)]);
        let rows: Vec<String> = day_rows(&per_day(&r, d(30)))
            .iter()
            .map(|row| row.join(" | "))
            .collect();
        assert_eq!(
            rows,
            vec![
                "2026-11-05 | 2 | 0 | 0 | - | 0 B | 0 B | 0.00 ms | 0.00 ms",
                "2026-11-03 | 4 | 1 | 1 | 50.0% | 1.5 KB | 2.00 MB | 2.00 ms | 0.00 ms",
            ]
        );
    }

    #[test]
    fn bytes_out_is_a_share_of_the_busiest_day() {
        let out = |bytes_out| UsageTotals {
            requests: 1,
            bytes_out,
            ..Default::default()
        };
        let r = report(vec![(29, out(500)), (30, out(1_000))]);
        let days = per_day(&r, d(30));
        let share = bytes_out_share(&days[27..]);
        assert!(share[0].is_nan(), "a day without use has no point");
        assert_eq!(&share[1..], &[50.0, 100.0]);
        let idle = report(vec![(30, out(0))]);
        assert_eq!(bytes_out_share(&per_day(&idle, d(30))[29..]), vec![0.0]);
    }

    #[test]
    fn gauges_say_used_of_limit_and_when_the_month_resets() {
        let state = |used, limit, reset_at| LimitState {
            limit,
            used,
            remaining: limit - used,
            reset_at,
        };
        let key = KeyId::from_random([0xab; 16]);
        let subject = SubjectLimits {
            key_id: key.clone(),
            key_tenant: TenantId::parse("acme").unwrap(),
            pooled: true,
            per_second: state(3, 10, None),
            monthly: state(1_200, 50_000, Some(at(30, 23))),
            concurrent: state(0, 4, None),
            max_payload_bytes: 2_500_000,
            overall_per_second: None,
            overall_monthly: None,
        };
        let k = key_limits(&subject);
        assert_eq!(k.key_id, key.to_string());
        assert!(k.pooled);
        let shown: Vec<(&str, &str, &str)> = k
            .gauges
            .iter()
            .map(|g| (g.label.as_str(), g.shown.as_str(), g.note.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("Requests this second", "3 of 10", "per second"),
                (
                    "Requests this month",
                    "1,200 of 50,000",
                    "resets 2026-11-30"
                ),
                ("Concurrent requests", "0 of 4", "in flight now"),
            ]
        );
        assert_eq!(max_payload(std::slice::from_ref(&subject)), "2.50 MB");
        assert_eq!(max_payload(&[]), "-");
    }

    #[test]
    fn a_secret_shows_its_last_validation_or_that_it_was_never_checked() {
        let meta = |validation: Option<Validation>| SecretMeta {
            secret: SecretRef::tenant(
                Service::OpenAi,
                TenantId::parse("acme").unwrap(),
                SecretKind::Managed,
            ),
            name: "prod".into(),
            version: 3,
            key_version: 1,
            created_at: at(1, 9),
            updated_at: at(2, 10),
            last_validated_at: validation.map(|_| at(3, 11)),
            last_validation: validation,
        };
        let checked = secret_row(meta(Some(Validation::Invalid)));
        assert_eq!(checked.updated_at, "2026-11-02T10:00:00Z");
        assert_eq!(checked.validation, "invalid at 2026-11-03T11:00:00Z");
        assert_eq!(secret_row(meta(None)).validation, "never checked");
    }
}
