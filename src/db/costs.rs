//! Usage events and their daily cost rollups; plan pricing.

use super::{ts, Conn, Engine};
use crate::domain::analytics::Earnings;
use crate::domain::cost::UsageEvent;
use crate::domain::plan::Plan;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};

const EVENT_COLUMNS: usize = 16;

/// (tenant, day, user, service) of a rollup row; its value is (events, cost, duration).
type RollupKey<'a> = (&'a str, String, &'a str, &'a str);

/// Stores the events not stored before (by event id) with their costs, and
/// adds exactly those to the daily rollups. Call inside a transaction.
/// Returns how many were new.
pub async fn ingest(
    conn: &mut Conn,
    engine: Engine,
    events: &[(UsageEvent, i64)],
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let mut new_ids: HashSet<String> = HashSet::new();
    let now = ts(now);
    for chunk in events.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO usage_events (event_id, trace_id, tenant_id, user_id, service, operation, model, \
             tokens_in, tokens_out, characters, seconds_milli, minutes_milli, duration_ms, occurred_at, \
             cost_micros, ingested_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&super::placeholders(
                engine,
                i * EVENT_COLUMNS + 1,
                EVENT_COLUMNS,
            ));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
        let mut q = sqlx::query(&sql);
        for (e, cost) in chunk {
            let u = &e.units;
            q = q
                .bind(e.event_id.as_str())
                .bind(e.trace_id.as_str())
                .bind(e.tenant_id.as_str())
                .bind(e.user_id.as_str())
                .bind(e.service.as_str())
                .bind(e.operation.as_str())
                .bind(e.model.clone())
                .bind(u.tokens_in)
                .bind(u.tokens_out)
                .bind(u.characters)
                .bind(u.seconds_milli)
                .bind(u.minutes_milli)
                .bind(e.duration_ms)
                .bind(ts(e.at))
                .bind(*cost)
                .bind(now.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            new_ids.insert(row.try_get("event_id")?);
        }
    }

    let mut rollups: BTreeMap<RollupKey, (i64, i64, i64)> = BTreeMap::new();
    for (e, cost) in events {
        if !new_ids.contains(&e.event_id) {
            continue;
        }
        let day = e.at.date_naive().to_string();
        let r = rollups
            .entry((
                e.tenant_id.as_str(),
                day,
                e.user_id.as_str(),
                e.service.as_str(),
            ))
            .or_default();
        r.0 += 1;
        r.1 += cost;
        r.2 += e.duration_ms;
    }
    // Many rows per statement: a batch of random events touches about as many
    // rollup rows as it has events.
    let rollups: Vec<_> = rollups.into_iter().collect();
    for chunk in rollups.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO cost_daily (day, tenant_id, user_id, service, events, cost_micros, duration_ms) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&super::placeholders(engine, i * 7 + 1, 7));
            sql.push(')');
        }
        sql.push_str(
            " ON CONFLICT (tenant_id, day, user_id, service) DO UPDATE SET \
             events = cost_daily.events + excluded.events, \
             cost_micros = cost_daily.cost_micros + excluded.cost_micros, \
             duration_ms = cost_daily.duration_ms + excluded.duration_ms",
        );
        let mut q = sqlx::query(&sql);
        for ((tenant, day, user, service), (n, cost, duration)) in chunk {
            q = q
                .bind(day.as_str())
                .bind(*tenant)
                .bind(*user)
                .bind(*service)
                .bind(*n)
                .bind(*cost)
                .bind(*duration);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(new_ids.len())
}

/// One rollup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCost {
    pub day: chrono::NaiveDate,
    pub user_id: String,
    pub service: String,
    pub events: i64,
    pub cost_micros: i64,
}

/// A tenant's daily rollups for days in `[from, to)`.
pub async fn tenant_days(
    conn: &mut Conn,
    tenant: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<DailyCost>> {
    let rows = sqlx::query(
        "SELECT day, user_id, service, events, cost_micros FROM cost_daily \
         WHERE tenant_id = $1 AND day >= $2 AND day < $3 ORDER BY day, user_id, service",
    )
    .bind(tenant)
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            Ok(DailyCost {
                day: day
                    .parse()
                    .map_err(|e| super::corrupt(format!("day: {e}")))?,
                user_id: r.try_get("user_id")?,
                service: r.try_get("service")?,
                events: r.try_get("events")?,
                cost_micros: r.try_get("cost_micros")?,
            })
        })
        .collect()
}

pub async fn plan_pricing(conn: &mut Conn, plan: Plan) -> sqlx::Result<Earnings> {
    let row = sqlx::query(
        "SELECT monthly_price_micros, usage_markup_bps FROM plan_pricing WHERE plan = $1",
    )
    .bind(plan.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Earnings {
            monthly_price_micros: r.try_get("monthly_price_micros")?,
            usage_markup_bps: r.try_get("usage_markup_bps")?,
        },
        None => Earnings {
            monthly_price_micros: 0,
            usage_markup_bps: 0,
        },
    })
}

pub async fn set_plan_pricing(
    conn: &mut Conn,
    plan: Plan,
    pricing: Earnings,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO plan_pricing (plan, monthly_price_micros, usage_markup_bps, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (plan) DO UPDATE SET \
         monthly_price_micros = excluded.monthly_price_micros, \
         usage_markup_bps = excluded.usage_markup_bps, updated_at = excluded.updated_at",
    )
    .bind(plan.as_str())
    .bind(pricing.monthly_price_micros)
    .bind(pricing.usage_markup_bps)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Cost per day and plan (of the tenant who incurred it) for days in `[from, to)`.
pub async fn daily_cost_by_plan(
    conn: &mut Conn,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<(chrono::NaiveDate, String, i64)>> {
    let rows = sqlx::query(
        "SELECT c.day AS day, t.plan AS plan, CAST(SUM(c.cost_micros) AS BIGINT) AS cost \
         FROM cost_daily c JOIN tenants t ON t.id = c.tenant_id \
         WHERE c.day >= $1 AND c.day < $2 GROUP BY c.day, t.plan ORDER BY c.day",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            Ok((
                day.parse()
                    .map_err(|e| super::corrupt(format!("day: {e}")))?,
                r.try_get("plan")?,
                r.try_get("cost")?,
            ))
        })
        .collect()
}

/// How many tenants each plan has.
pub async fn tenants_per_plan(conn: &mut Conn) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT plan, CAST(COUNT(*) AS BIGINT) AS n FROM tenants GROUP BY plan")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("plan")?, r.try_get("n")?)))
        .collect()
}

/// Every tenant's use per user and service for days in `[from, to)`.
pub async fn usage_between(
    conn: &mut Conn,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<(String, String, String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT tenant_id, user_id, service, CAST(SUM(events) AS BIGINT) AS events, \
         CAST(SUM(cost_micros) AS BIGINT) AS cost FROM cost_daily WHERE day >= $1 AND day < $2 \
         GROUP BY tenant_id, user_id, service",
    )
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("tenant_id")?,
                r.try_get("user_id")?,
                r.try_get("service")?,
                r.try_get("events")?,
                r.try_get("cost")?,
            ))
        })
        .collect()
}

/// Adds data-plane requests to the cost rollups as service `keyward`: one
/// row per (day, namespace-owner tenant, key), counting requests that were
/// served (refusals by a limit are not charged). The cost is the request
/// price in force at the time, applied to the row's running count and
/// rounded once (the increment added is round(p * after) - round(p * before)),
/// so many small batches cost exactly what one large one would, and a later
/// price change never rewrites what was already added.
pub async fn add_data_plane(
    conn: &mut Conn,
    records: &[crate::domain::usage::UsageRecord],
    prices: &[crate::domain::pricing::Price],
) -> sqlx::Result<()> {
    use crate::domain::pricing::{price_at, CostService, PriceUnit};
    // (price, per_units) -> (day, tenant, key) -> (requests, duration ms)
    type Groups<'a> = BTreeMap<(i64, i64), BTreeMap<(String, &'a str, &'a str), (i64, i64)>>;
    let mut groups: Groups = BTreeMap::new();
    for r in records.iter().filter(|r| r.status < 400) {
        let (p, per) = price_at(prices, CostService::Cache, None, PriceUnit::Request, r.at)
            .map(|p| (p.price_micros, p.per_units.max(1)))
            .unwrap_or((0, 1));
        let day = r.at.date_naive().to_string();
        let entry = groups
            .entry((p, per))
            .or_default()
            .entry((day, &*r.tenant_id, &*r.key_id))
            .or_default();
        entry.0 += 1;
        entry.1 += r.latency_us / 1000;
    }
    for ((price, per), rows) in groups {
        let rows: Vec<_> = rows.into_iter().collect();
        // Numbered placeholders on both engines ($1 and $2 recur): there are
        // few rows per flush (one per day, tenant and key), so SQLite's named
        // lookup stays cheap.
        for chunk in rows.chunks(50) {
            // $1 price, $2 per-units; then 7 values per row.
            let mut sql = String::from(
                "INSERT INTO cost_daily (day, tenant_id, user_id, service, events, cost_micros, duration_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                sql.push_str(&super::placeholders(Engine::Postgres, i * 7 + 3, 7));
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (tenant_id, day, user_id, service) DO UPDATE SET \
                 events = cost_daily.events + excluded.events, \
                 cost_micros = cost_daily.cost_micros \
                   + ((cost_daily.events + excluded.events) * $1 * 2 + $2) / ($2 * 2) \
                   - (cost_daily.events * $1 * 2 + $2) / ($2 * 2), \
                 duration_ms = cost_daily.duration_ms + excluded.duration_ms",
            );
            let mut q = sqlx::query(&sql).bind(price).bind(per);
            for ((day, tenant, key), (n, duration)) in chunk {
                let cost = i64::try_from(
                    (2 * i128::from(*n) * i128::from(price) + i128::from(per))
                        / (2 * i128::from(per)),
                )
                .unwrap_or(i64::MAX);
                q = q
                    .bind(day.as_str())
                    .bind(*tenant)
                    .bind(*key)
                    .bind(CostService::Cache.as_str())
                    .bind(*n)
                    .bind(cost)
                    .bind(*duration);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}
