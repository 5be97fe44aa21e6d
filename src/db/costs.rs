//! Usage events and their daily cost rollups.

use super::{corrupt, ts, Conn, Engine};
use crate::domain::analytics::{CohortPage, Period, ServiceWeek, WeekUsers};
use crate::domain::cost::UsageEvent;
use crate::domain::pricing::CostService;
use crate::domain::statement::DayCost;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};

use super::Col::{Int, Text};

/// The stored columns of an event, in `store_new_events`' order.
const EVENT_COLUMNS: [super::Col; 16] = [
    Text, Text, Text, Text, Text, Text, Text, Text, Int, Int, Int, Int, Int, Int, Int, Text,
];

/// (tenant, day, user, service) of a rollup row.
pub type RollupKey = (String, String, String, String);
/// A rollup row's additions: (events, cost µ$, duration ms).
pub type RollupDelta = (i64, i64, i64);

/// Stores the events not stored before (an event is identified by its id and
/// timestamp; a retry resends both) with their costs, and queues exactly those
/// for the daily rollups (one `cost_rollup_pending` row; see
/// [`apply_pending`]). Call inside a write transaction (`Db::begin`: on
/// SQLite it holds the only write lock from its start) with each (timestamp,
/// event id) at most once in `events`. Returns how many were new.
pub async fn ingest(
    conn: &mut Conn,
    engine: Engine,
    events: &[(UsageEvent, i64)],
    now: DateTime<Utc>,
) -> sqlx::Result<usize> {
    let new_ids = store_new_events(conn, engine, events, &ts(now)).await?;
    queue_rollup_deltas(conn, events, &new_ids).await?;
    Ok(new_ids.len())
}

/// Inserts the events with their costs, skipping those already stored; the
/// (timestamp, event id) of each one inserted. On PostgreSQL the batch is one
/// statement with the events bound as one JSON value; on SQLite, where a
/// bound value costs little and unpacking JSON per column costs more
/// (measured: 12,900 against ~38,000 events/s at 10 million events), 500
/// rows a statement with a parameter per value.
async fn store_new_events(
    conn: &mut Conn,
    engine: Engine,
    events: &[(UsageEvent, i64)],
    now: &str,
) -> sqlx::Result<HashSet<(String, String)>> {
    let mut new_ids = HashSet::with_capacity(events.len());
    let chunk = match engine {
        Engine::Sqlite => 500,
        Engine::Postgres => MAX_ROWS_PER_STATEMENT,
    };
    for part in events.chunks(chunk) {
        let insert = |rows: usize| {
            format!(
                "INSERT INTO usage_events (occurred_at, event_id, trace_id, tenant_id, user_id, service, \
                 operation, model, tokens_in, tokens_out, characters, seconds_milli, minutes_milli, \
                 duration_ms, cost_micros, ingested_at) {} ON CONFLICT (occurred_at, event_id) DO NOTHING",
                rows_source(engine, rows, &EVENT_COLUMNS)
            )
        };
        match engine {
            Engine::Postgres => {
                let rows: Vec<_> = part
                    .iter()
                    .map(|(e, cost)| event_row(e, *cost, now))
                    .collect();
                let sql = format!("{} RETURNING occurred_at, event_id", insert(part.len()));
                let q = sqlx::query(&sql)
                    .bind(serde_json::to_string(&rows).map_err(|e| corrupt(e.to_string()))?);
                for row in q.fetch_all(&mut *conn).await? {
                    new_ids.insert((row.try_get("occurred_at")?, row.try_get("event_id")?));
                }
            }
            Engine::Sqlite => {
                // SQLite has one writer and this transaction holds its lock
                // (`BEGIN IMMEDIATE`): what is not stored now is new. Asking
                // first gives one packed row (usually empty) where RETURNING
                // would hand every inserted row over on its own.
                let stored = stored_among(conn, part).await?;
                let fresh: Vec<_> = part
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !stored.contains(i))
                    .map(|(_, e)| e)
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                let sql = insert(fresh.len());
                let q = fresh.iter().fold(sqlx::query(&sql), |q, (e, cost)| {
                    let r = event_row(e, *cost, now);
                    q.bind(r.0)
                        .bind(r.1)
                        .bind(r.2)
                        .bind(r.3)
                        .bind(r.4)
                        .bind(r.5)
                        .bind(r.6)
                        .bind(r.7)
                        .bind(r.8)
                        .bind(r.9)
                        .bind(r.10)
                        .bind(r.11)
                        .bind(r.12)
                        .bind(r.13)
                        .bind(r.14)
                        .bind(r.15)
                });
                // Holds while this transaction has the write lock and the
                // batch's keys are unique (`dedup_batch`); if not, the batch
                // fails whole rather than count an event it did not store.
                let stored = q.execute(&mut *conn).await?.rows_affected();
                if stored != fresh.len() as u64 {
                    return Err(corrupt(format!(
                        "usage events: {stored} of {} new events stored; call ingest in a \
                         write transaction with unique event keys",
                        fresh.len()
                    )));
                }
                new_ids.extend(fresh.iter().map(|(e, _)| (ts(e.at), e.event_id.clone())));
            }
        }
    }
    Ok(new_ids)
}

/// The positions in `part` of the events already stored (SQLite), read as
/// one packed row.
async fn stored_among(conn: &mut Conn, part: &[(UsageEvent, i64)]) -> sqlx::Result<HashSet<usize>> {
    let mut rows = String::new();
    for i in 0..part.len() {
        if i > 0 {
            rows.push(',');
        }
        rows.push_str(&format!("({i},?,?)"));
    }
    let sql = format!(
        "WITH given(i, at, id) AS (VALUES {rows}) SELECT {} AS packed FROM given \
         JOIN usage_events e ON e.occurred_at = given.at AND e.event_id = given.id",
        super::packed("CAST(given.i AS TEXT)")
    );
    let q = part.iter().fold(sqlx::query(&sql), |q, (e, _)| {
        q.bind(ts(e.at)).bind(e.event_id.as_str())
    });
    let packed: Option<String> = q.fetch_one(&mut *conn).await?.try_get("packed")?;
    super::unpack_ints(packed.as_deref())?
        .into_iter()
        .map(|i| usize::try_from(i).map_err(|e| corrupt(format!("event position: {e}"))))
        .collect()
}

/// The stored columns of an event.
type EventRow<'e> = (
    String,
    &'e str,
    &'e str,
    &'e str,
    &'e str,
    &'e str,
    &'e str,
    Option<&'e str>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    &'e str,
);

fn event_row<'e>(e: &'e UsageEvent, cost: i64, now: &'e str) -> EventRow<'e> {
    let u = &e.units;
    (
        ts(e.at),
        e.event_id.as_str(),
        e.trace_id.as_str(),
        e.tenant_id.as_str(),
        e.user_id.as_str(),
        e.service.as_str(),
        e.operation.as_str(),
        e.model.as_deref(),
        u.tokens_in,
        u.tokens_out,
        u.characters,
        u.seconds_milli,
        u.minutes_milli,
        e.duration_ms,
        cost,
        now,
    )
}

/// Rows bound as one JSON value a statement (PostgreSQL): at most this many.
const MAX_ROWS_PER_STATEMENT: usize = 5_000;

/// Where an INSERT takes `rows` rows of `cols` from: one JSON parameter on
/// PostgreSQL ([`super::json_rows`]), a parameter per value on SQLite.
fn rows_source(engine: Engine, rows: usize, cols: &[super::Col]) -> String {
    match engine {
        Engine::Postgres => super::json_rows(engine, 1, cols),
        Engine::Sqlite => super::values(engine, rows, cols.len()),
    }
}

/// Queues the new events' additions to the daily rollups as one
/// `cost_rollup_pending` row (none when no event was new).
async fn queue_rollup_deltas(
    conn: &mut Conn,
    events: &[(UsageEvent, i64)],
    new_ids: &HashSet<(String, String)>,
) -> sqlx::Result<()> {
    let rollups = new_event_deltas(events, new_ids);
    if !rollups.is_empty() {
        let rows: Vec<_> = rollups
            .iter()
            .map(|((t, d, u, s), (n, c, ms))| (t, d, u, s, n, c, ms))
            .collect();
        let body = serde_json::to_string(&rows).map_err(|e| corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO cost_rollup_pending (body) VALUES ($1)")
            .bind(body)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The rollup additions of the events in `new_ids`, per (tenant, day, user,
/// service), in key order.
fn new_event_deltas<'e>(
    events: &'e [(UsageEvent, i64)],
    new_ids: &HashSet<(String, String)>,
) -> BTreeMap<(&'e str, String, &'e str, &'e str), RollupDelta> {
    let mut rollups: BTreeMap<(&str, String, &str, &str), RollupDelta> = BTreeMap::new();
    for (e, cost) in events {
        if !new_ids.contains(&(ts(e.at), e.event_id.clone())) {
            continue;
        }
        let r = rollups
            .entry((
                e.tenant_id.as_str(),
                e.at.date_naive().to_string(),
                e.user_id.as_str(),
                e.service.as_str(),
            ))
            .or_default();
        r.0 += 1;
        r.1 += cost;
        r.2 += e.duration_ms;
    }
    rollups
}

/// The last queued batch of rollup deltas, if any is queued.
pub async fn last_pending(conn: &mut Conn) -> sqlx::Result<Option<i64>> {
    sqlx::query("SELECT CAST(MAX(id) AS BIGINT) AS id FROM cost_rollup_pending")
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")
}

/// Whether any batch up to `upto` is still queued (or being applied by
/// another transaction).
pub async fn pending_upto(conn: &mut Conn, upto: i64) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT id FROM cost_rollup_pending WHERE id <= $1 LIMIT 1")
            .bind(upto)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// Applies the first `max` queued batches of rollup deltas up to batch
/// `upto` to the rollups, merged and in key order, and removes them from the
/// queue, all in the caller's transaction. Returns how many it applied.
pub async fn apply_pending(
    conn: &mut Conn,
    engine: Engine,
    upto: i64,
    max: i64,
) -> sqlx::Result<usize> {
    let bodies = sqlx::query(
        "DELETE FROM cost_rollup_pending WHERE id IN \
         (SELECT id FROM cost_rollup_pending WHERE id <= $1 ORDER BY id LIMIT $2) RETURNING body",
    )
    .bind(upto)
    .bind(max)
    .fetch_all(&mut *conn)
    .await?;
    if bodies.is_empty() {
        return Ok(0);
    }
    let mut rows = Vec::new();
    for row in &bodies {
        let body: String = row.try_get("body")?;
        let batch: Vec<(String, String, String, String, i64, i64, i64)> =
            serde_json::from_str(&body)
                .map_err(|e| corrupt(format!("cost_rollup_pending: {e}")))?;
        rows.extend(
            batch
                .into_iter()
                .map(|(t, d, u, s, n, c, ms)| ((t, d, u, s), [n, c, ms])),
        );
    }
    // Each batch is in key order: merged, not sorted (see `summed`).
    let merged: BTreeMap<RollupKey, RollupDelta> = super::summed(rows)
        .into_iter()
        .map(|(k, [n, c, ms])| (k, (n, c, ms)))
        .collect();
    add_rollups(conn, engine, &merged).await?;
    Ok(bodies.len())
}

/// Adds deltas to the per-user daily rollups (`cost_daily`), the weekly ones
/// (`cost_weekly`) and the per-tenant daily ones (`cost_daily_tenant`).
pub async fn add_rollups(
    conn: &mut Conn,
    engine: Engine,
    deltas: &BTreeMap<RollupKey, RollupDelta>,
) -> sqlx::Result<()> {
    let mut daily = Vec::with_capacity(deltas.len());
    // Gathered, then added up in key order (`summed`): one row per event or
    // so, where inserting each into an ordered map compared keys dozens of
    // times (measured: a seventh of the server's time during a backfill).
    let mut weekly = Vec::with_capacity(deltas.len());
    let mut per_tenant = Vec::with_capacity(deltas.len());
    let mut per_service = Vec::with_capacity(deltas.len());
    let mut tenant_totals = Vec::with_capacity(deltas.len());
    let mut user_days = Vec::with_capacity(deltas.len());
    for ((tenant, day, user, service), &(n, cost, duration)) in deltas {
        daily.push((
            vec![day.clone(), tenant.clone(), user.clone(), service.clone()],
            vec![n, cost, duration],
        ));
        let date = day
            .parse::<chrono::NaiveDate>()
            .map_err(|e| corrupt(format!("rollup day {day}: {e}")))?;
        let monday = Period::Weekly.containing(date).0.to_string();
        let sums = [n, cost];
        weekly.push((
            (monday, tenant.as_str(), user.as_str(), service.as_str()),
            sums,
        ));
        per_tenant.push(([day.as_str(), tenant.as_str(), service.as_str()], sums));
        per_service.push(([day.as_str(), service.as_str()], sums));
        tenant_totals.push(([day.as_str(), tenant.as_str()], sums));
        if service != DATA_PLANE {
            user_days.push(((tenant.as_str(), user.as_str(), date), sums));
        }
    }
    // Both in their primary key's order.
    let weekly: super::cost_spans::UserWeekDeltas = super::summed(weekly).into_iter().collect();
    let user_days: super::cost_spans::UserDayDeltas =
        super::summed(user_days).into_iter().collect();
    // First, so the anchor's lock is taken before any row lock (see
    // `cost_spans::lock`), and before `weekly` is added to `cost_weekly`.
    super::cost_spans::add(conn, engine, &user_days, &weekly).await?;
    upsert_sums(conn, engine, "cost_daily", &DAILY_KEYS, &DAILY_SUMS, &daily).await?;
    for (table, keys, sums) in [
        ("cost_daily_service", &SERVICE_KEYS, per_service),
        ("cost_daily_tenant_total", &TENANT_TOTAL_KEYS, tenant_totals),
    ] {
        let rows: Vec<_> = super::summed(sums)
            .into_iter()
            .map(|(key, sums)| (key.map(String::from).to_vec(), sums.to_vec()))
            .collect();
        upsert_sums(conn, engine, table, keys, &COST_SUMS, &rows).await?;
    }
    let weekly: Vec<_> = weekly
        .into_iter()
        .map(|((week, t, u, s), sums)| (vec![week, t.into(), u.into(), s.into()], sums.to_vec()))
        .collect();
    upsert_sums(
        conn,
        engine,
        "cost_weekly",
        &WEEKLY_KEYS,
        &COST_SUMS,
        &weekly,
    )
    .await?;
    let per_tenant: Vec<_> = super::summed(per_tenant)
        .into_iter()
        .map(|(key, sums)| (key.map(String::from).to_vec(), sums.to_vec()))
        .collect();
    upsert_sums(
        conn,
        engine,
        "cost_daily_tenant",
        &TENANT_KEYS,
        &COST_SUMS,
        &per_tenant,
    )
    .await
}

const DAILY_KEYS: [&str; 4] = ["day", "tenant_id", "user_id", "service"];
const WEEKLY_KEYS: [&str; 4] = ["week", "tenant_id", "user_id", "service"];
const TENANT_KEYS: [&str; 3] = ["day", "tenant_id", "service"];
const SERVICE_KEYS: [&str; 2] = ["day", "service"];
const TENANT_TOTAL_KEYS: [&str; 2] = ["day", "tenant_id"];
/// The data plane's rows in the cost rollups (not a user's AI use).
pub(super) const DATA_PLANE: &str = "keyward";
const DAILY_SUMS: [&str; 3] = ["events", "cost_micros", "duration_ms"];
const COST_SUMS: [&str; 2] = ["events", "cost_micros"];

/// Adds `rows` (key values, then the values to add) to an additive rollup
/// `table` whose primary key is `keys`: a new row is inserted, an existing one
/// gets the values added. The keys are unique. PostgreSQL takes 5,000 rows a
/// statement as one JSON value, SQLite 200 with a parameter per value (see
/// `store_new_events`).
pub(super) async fn upsert_sums(
    conn: &mut Conn,
    engine: Engine,
    table: &str,
    keys: &[&str],
    sums: &[&str],
    rows: &[(Vec<String>, Vec<i64>)],
) -> sqlx::Result<()> {
    let cols: Vec<super::Col> = keys
        .iter()
        .map(|_| Text)
        .chain(sums.iter().map(|_| Int))
        .collect();
    let updates: Vec<String> = sums
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    let chunk = match engine {
        Engine::Sqlite => 200,
        Engine::Postgres => MAX_ROWS_PER_STATEMENT,
    };
    for part in rows.chunks(chunk) {
        let sql = format!(
            "INSERT INTO {table} ({}, {}) {} ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            sums.join(", "),
            rows_source(engine, part.len(), &cols),
            keys.join(", "),
            updates.join(", ")
        );
        let q = sqlx::query(&sql);
        let q = match engine {
            Engine::Postgres => {
                let body: Vec<serde_json::Value> = part
                    .iter()
                    .map(|(key, values)| {
                        key.iter()
                            .map(|k| serde_json::Value::from(k.as_str()))
                            .chain(values.iter().map(|v| serde_json::Value::from(*v)))
                            .collect()
                    })
                    .collect();
                q.bind(serde_json::to_string(&body).map_err(|e| corrupt(e.to_string()))?)
            }
            Engine::Sqlite => part.iter().fold(q, |q, (key, values)| {
                let q = key.iter().fold(q, |q, k| q.bind(k.as_str()));
                values.iter().fold(q, |q, v| q.bind(*v))
            }),
        };
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes a tenant from every cost rollup: its own rows, and its share of
/// the per-service totals across tenants. Returns the rows removed.
pub async fn forget_tenant(conn: &mut Conn, tenant: &str) -> sqlx::Result<u64> {
    // The anchor's lock first, as every writer of the kept rows takes it: a
    // fold or an apply of late events cannot interleave with the subtraction.
    let engine = match conn.backend_name() {
        "PostgreSQL" => Engine::Postgres,
        _ => Engine::Sqlite,
    };
    super::cost_spans::lock(conn, engine).await?;
    // Its share of the totals across tenants, from its own rows: (total,
    // its rows, the key they share, the column emptied rows are left with
    // nothing in, the sums taken out).
    let shares: [(&str, &str, &str, &str, &[&str]); 2] = [
        (
            "cost_daily_service",
            "cost_daily_tenant",
            "day",
            "events",
            &["events", "cost_micros"],
        ),
        (
            "cost_service_week",
            "cost_weekly",
            "week",
            "users",
            &["users", "events", "cost_micros"],
        ),
    ];
    for (total, rows, key, count, sums) in shares {
        let theirs = format!(
            "FROM {rows} r WHERE r.tenant_id = $1 \
             AND r.{key} = {total}.{key} AND r.service = {total}.service"
        );
        let sets: Vec<String> = sums
            .iter()
            .map(|c| {
                let taken = if *c == "users" {
                    "COUNT(*)".to_string()
                } else {
                    format!("SUM(r.{c})")
                };
                format!("{c} = {c} - (SELECT CAST({taken} AS BIGINT) {theirs})")
            })
            .collect();
        sqlx::query(&format!(
            "UPDATE {total} SET {} WHERE EXISTS (SELECT 1 {theirs})",
            sets.join(", ")
        ))
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!("DELETE FROM {total} WHERE {count} <= 0"))
            .execute(&mut *conn)
            .await?;
    }
    let mut removed = 0;
    for table in [
        "cost_daily",
        "cost_daily_tenant",
        "cost_daily_tenant_total",
        "cost_weekly",
        "cost_user_span",
    ] {
        removed += sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1"))
            .bind(tenant)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(removed)
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

/// The daily rollups of some tenants (a tenant and its sub-organisations)
/// for days in `[from, to)`.
pub async fn tenant_days(
    conn: &mut Conn,
    tenants: &[crate::domain::ids::TenantId],
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<DailyCost>> {
    let sql = format!(
        "SELECT day, user_id, service, events, cost_micros FROM cost_daily \
         WHERE day >= $1 AND day < $2 {} ORDER BY day, user_id, service",
        super::tenants_clause("tenant_id", Some(tenants), 3)
    );
    let q = sqlx::query(&sql)
        .bind(from.to_string())
        .bind(to.to_string());
    let rows = super::bind_tenants(q, Some(tenants))
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

/// Each tenant's use of each service per day in `[from, to)`, of the given
/// tenants or (`None`) of all: (tenant, day cost) rows, by tenant and day.
pub async fn tenant_day_costs(
    conn: &mut Conn,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<(String, DayCost)>> {
    let sql = format!(
        "SELECT tenant_id, day, service, events, cost_micros FROM cost_daily_tenant \
         WHERE day >= $1 AND day < $2 {} ORDER BY tenant_id, day, service",
        tenant_days_clause(tenants, 3)
    );
    let q = sqlx::query(&sql)
        .bind(from.to_string())
        .bind(to.to_string());
    let q = super::bind_tenants(q, tenants);
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            let service: String = r.try_get("service")?;
            Ok((
                r.try_get("tenant_id")?,
                DayCost {
                    day: day
                        .parse()
                        .map_err(|e| super::corrupt(format!("day: {e}")))?,
                    service: CostService::parse(&service)
                        .map_err(|e| super::corrupt(format!("service: {e}")))?,
                    events: r.try_get("events")?,
                    cost_micros: r.try_get("cost_micros")?,
                },
            ))
        })
        .collect()
}

/// Each tenant's cost per day in `[from, to)` (all services), of the given
/// tenants or (`None`) of all: (tenant, day, cost) rows.
pub async fn tenant_day_totals(
    conn: &mut Conn,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<(String, chrono::NaiveDate, i64)>> {
    // A row per day with its tenants packed ("tenant cost,..."): one row per
    // tenant and day would be 90,000 rows for 1,000 tenants over 90 days.
    let sql = format!(
        "SELECT day, {} AS packed FROM cost_daily_tenant_total \
         WHERE day >= $1 AND day < $2 {} GROUP BY day",
        super::packed("tenant_id || ' ' || CAST(cost_micros AS TEXT)"),
        super::tenants_clause("tenant_id", tenants, 3)
    );
    let q = sqlx::query(&sql)
        .bind(from.to_string())
        .bind(to.to_string());
    let mut out = Vec::new();
    for r in super::bind_tenants(q, tenants)
        .fetch_all(&mut *conn)
        .await?
    {
        let day: String = r.try_get("day")?;
        let day: chrono::NaiveDate = day.parse().map_err(|e| corrupt(format!("day: {e}")))?;
        let packed: Option<String> = r.try_get("packed")?;
        for item in super::unpack(packed.as_deref()) {
            let (tenant, cost) = item
                .split_once(' ')
                .ok_or_else(|| corrupt(format!("packed tenant cost {item:?}")))?;
            let cost = cost
                .parse()
                .map_err(|e| corrupt(format!("packed cost {cost:?}: {e}")))?;
            out.push((tenant.to_string(), day, cost));
        }
    }
    Ok(out)
}

/// Each tenant's use of each service in `[starts[0], to)`, summed over the
/// stretches that begin at `starts` (ascending): (tenant, cost dated on the
/// stretch's first day) rows.
pub async fn tenant_segment_costs(
    conn: &mut Conn,
    engine: Engine,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    to: chrono::NaiveDate,
    starts: &[chrono::NaiveDate],
) -> sqlx::Result<Vec<(String, DayCost)>> {
    let Some(first) = starts.first() else {
        return Ok(Vec::new());
    };
    let days = usize::try_from((to - *first).num_days()).unwrap_or(0);
    if engine == Engine::Sqlite && starts.len() * DAYS_PER_SEEK <= days {
        return tenant_segment_costs_by_seek(conn, tenants, to, starts).await;
    }
    // Dates are chrono's own ISO text: safe to write into the statement.
    let last = format!("'{}'", starts[starts.len() - 1]);
    let stretch = if starts.len() == 1 {
        last
    } else {
        let mut case = String::from("CASE");
        for pair in starts.windows(2) {
            case.push_str(&format!(" WHEN day < '{}' THEN '{}'", pair[1], pair[0]));
        }
        format!("{case} ELSE {last} END")
    };
    let sql = format!(
        "SELECT tenant_id, {stretch} AS stretch, service, CAST(SUM(events) AS BIGINT) AS events, \
         CAST(SUM(cost_micros) AS BIGINT) AS cost FROM cost_daily_tenant \
         WHERE day >= $1 AND day < $2 {} GROUP BY tenant_id, stretch, service \
         ORDER BY tenant_id, stretch, service",
        super::tenants_clause("tenant_id", tenants, 3)
    );
    let q = sqlx::query(&sql)
        .bind(first.to_string())
        .bind(to.to_string());
    super::bind_tenants(q, tenants)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let day: String = r.try_get("stretch")?;
            let service: String = r.try_get("service")?;
            Ok((
                r.try_get("tenant_id")?,
                DayCost {
                    day: day.parse().map_err(|e| corrupt(format!("day: {e}")))?,
                    service: CostService::parse(&service)
                        .map_err(|e| corrupt(format!("service: {e}")))?,
                    events: r.try_get("events")?,
                    cost_micros: r.try_get("cost")?,
                },
            ))
        })
        .collect()
}

/// SQLite seeks each (tenant, service, stretch) while the span has at least
/// this many days per stretch; else it groups the rows. A seek and a grouped
/// row cost about the same (review, 1,000 tenants: one stretch 0.016 s either
/// way; 31 one-day stretches 0.16 s by seek against 0.04 s grouped; 90 days
/// of 425,000 rows 0.04 s by seek against 0.36 s grouped), so seeking pays
/// while a tenant's service has more days to group than stretches, with
/// rows on a quarter of the days or more.
const DAYS_PER_SEEK: usize = 4;

/// [`tenant_segment_costs`] on SQLite: one seek in the index by tenant
/// (`cost_daily_tenant_by_service`) per (tenant, service, stretch) instead of
/// sorting every row of the span to group it, read packed. Tenant ids are
/// slugs and dates and services fixed text: none holds a space or a comma.
async fn tenant_segment_costs_by_seek(
    conn: &mut Conn,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    to: chrono::NaiveDate,
    starts: &[chrono::NaiveDate],
) -> sqlx::Result<Vec<(String, DayCost)>> {
    // Dates are chrono's own ISO text and services our own names: safe to
    // write into the statement.
    let stretches: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            let finish = starts.get(i + 1).copied().unwrap_or(to);
            format!("('{start}', '{finish}')")
        })
        .collect();
    let services: Vec<String> = CostService::ALL
        .iter()
        .map(|s| format!("('{}')", s.as_str()))
        .collect();
    let sql = format!(
        "WITH s(start, finish) AS (VALUES {}), v(service) AS (VALUES {}) \
         SELECT {} AS packed FROM (SELECT t.id || ' ' || s.start || ' ' || v.service || ' ' || \
         (SELECT SUM(c.events) || ' ' || SUM(c.cost_micros) FROM cost_daily_tenant AS c \
          INDEXED BY cost_daily_tenant_by_service WHERE c.tenant_id = t.id \
          AND c.service = v.service AND c.day >= s.start AND c.day < s.finish) AS line \
         FROM tenants AS t CROSS JOIN v CROSS JOIN s WHERE 1 = 1 {}) AS l",
        stretches.join(", "),
        services.join(", "),
        super::packed("line"),
        super::tenants_clause("t.id", tenants, 1)
    );
    let packed: Option<String> = super::bind_tenants(sqlx::query(&sql), tenants)
        .fetch_one(&mut *conn)
        .await?
        .try_get("packed")?;
    let mut out = super::unpack(packed.as_deref())
        .map(|line| {
            let bad = || corrupt(format!("tenant segment cost {line:?}"));
            let mut f = line.split(' ');
            let mut next = || f.next().ok_or_else(bad);
            let (tenant, day, service) = (next()?, next()?, next()?);
            let (events, cost) = (next()?, next()?);
            Ok((
                tenant.to_string(),
                DayCost {
                    day: day.parse().map_err(|_| bad())?,
                    service: CostService::parse(service).map_err(|_| bad())?,
                    events: events.parse().map_err(|_| bad())?,
                    cost_micros: cost.parse().map_err(|_| bad())?,
                },
            ))
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    // The order of the grouped read: tenant, stretch, service.
    out.sort_by(|a, b| {
        (&a.0, a.1.day, a.1.service.as_str()).cmp(&(&b.0, b.1.day, b.1.service.as_str()))
    });
    Ok(out)
}

/// The ISO week starting on `monday`, across tenants: per service (users,
/// events, cost), and its users ranked for the trial cohort with `page` of
/// it. A week wholly folded is read from its kept rows; the current one is
/// aggregated here.
pub async fn week_totals(
    conn: &mut Conn,
    engine: Engine,
    monday: chrono::NaiveDate,
    page: Option<CohortPage>,
) -> sqlx::Result<(Vec<ServiceWeek>, WeekUsers)> {
    use super::cost_spans;
    if cost_spans::week_kept(conn, monday).await? {
        let services = cost_spans::service_week(conn, monday).await?;
        let users = cost_spans::ranked_week_users(conn, engine, monday, page).await?;
        return Ok((services, users));
    }
    let week = monday.to_string();
    // One row per (tenant, user, service) and week, so a count is a user count.
    let services = sqlx::query(
        "SELECT service, CAST(COUNT(*) AS BIGINT) AS users, CAST(SUM(events) AS BIGINT) AS events, \
         CAST(SUM(cost_micros) AS BIGINT) AS cost FROM cost_weekly WHERE week = $1 AND service <> 'keyward' \
         GROUP BY service ORDER BY service",
    )
    .bind(&week)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(service_week_row)
    .collect::<sqlx::Result<Vec<_>>>()?;
    let users = cost_spans::week_users(conn, monday).await?;
    Ok((services, WeekUsers::ranked(users, page)))
}

/// A service's week from a row of (service, users, events, cost).
pub(super) fn service_week_row(r: &sqlx::any::AnyRow) -> sqlx::Result<ServiceWeek> {
    Ok(ServiceWeek {
        service: r.try_get("service")?,
        users: r.try_get("users")?,
        events: r.try_get("events")?,
        cost_micros: r.try_get("cost")?,
    })
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
    engine: Engine,
    records: &[crate::domain::usage::UsageRecord],
    prices: &[crate::domain::pricing::Price],
) -> sqlx::Result<()> {
    use crate::domain::pricing::{price_at, CostService, PriceUnit};
    // (day, tenant, key, price, per units) -> (requests, duration ms)
    type Group<'a> = (String, &'a str, &'a str, i64, i64);
    let mut groups: BTreeMap<Group, (i64, i64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status < 400) {
        let (p, per) = price_at(prices, CostService::Cache, None, PriceUnit::Request, r.at)
            .map(|p| (p.price_micros, p.per_units.max(1)))
            .unwrap_or((0, 1));
        let day = r.at.date_naive().to_string();
        let entry = groups
            .entry((day, &*r.tenant_id, &*r.key_id, p, per))
            .or_default();
        entry.0 += 1;
        entry.1 += r.latency_us / 1000;
    }
    let service = CostService::Cache.as_str();
    let round = |n: i64, p: i64, per: i64| {
        i64::try_from((2 * i128::from(n) * i128::from(p) + i128::from(per)) / (2 * i128::from(per)))
            .unwrap_or(i64::MAX)
    };
    let mut deltas: BTreeMap<RollupKey, RollupDelta> = BTreeMap::new();
    for ((day, tenant, key, p, per), (n, duration)) in groups {
        let row = (
            tenant.to_string(),
            day,
            key.to_string(),
            service.to_string(),
        );
        // (The row may already be in `deltas` when a price changed within the batch.)
        let before = stored_events(conn, &row).await? + deltas.get(&row).map_or(0, |d| d.0);
        let cost = round(before + n, p, per) - round(before, p, per);
        let d = deltas.entry(row).or_default();
        d.0 += n;
        d.1 += cost;
        d.2 += duration;
    }
    add_rollups(conn, engine, &deltas).await
}

/// The events a `cost_daily` row holds so far (0 when it does not exist).
async fn stored_events(conn: &mut Conn, row: &RollupKey) -> sqlx::Result<i64> {
    sqlx::query(
        "SELECT events FROM cost_daily WHERE tenant_id = $1 AND day = $2 AND user_id = $3 AND service = $4",
    )
    .bind(&row.0)
    .bind(&row.1)
    .bind(&row.2)
    .bind(&row.3)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get::<i64, _>("events"))
    .transpose()
    .map(Option::unwrap_or_default)
}

/// The daily rollup to read for some tenants: across every tenant (`None`)
/// the per-service one, sized days x services.
/// `tenants_clause` for a read of `cost_daily_tenant` over a span: with
/// tenants named, every service is named too, so SQLite seeks (tenant,
/// service, day range) in its index by tenant (migration 0024) instead of
/// reading each named tenant's whole history.
fn tenant_days_clause(tenants: Option<&[crate::domain::ids::TenantId]>, first: usize) -> String {
    match tenants {
        None => String::new(),
        Some(_) => format!(
            "{} AND service IN ({})",
            super::tenants_clause("tenant_id", tenants, first),
            CostService::ALL
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn per_day_table(tenants: Option<&[crate::domain::ids::TenantId]>) -> &'static str {
    match tenants {
        None => "cost_daily_service",
        Some(_) => "cost_daily_tenant",
    }
}

/// What the cost dashboards read for `[from, to)`, optionally of one tenant
/// (`tenant` empty = every tenant). All aggregated here.
pub struct CostBreakdown {
    /// (day, service, events, cost)
    pub by_day: Vec<(chrono::NaiveDate, String, i64, i64)>,
    /// Cost of each (tenant, user) with cost in the span.
    pub user_costs: Vec<i64>,
}

pub async fn breakdown(
    conn: &mut Conn,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<CostBreakdown> {
    let (from_day, to_day) = (from, to);
    let (from, to) = (from.to_string(), to.to_string());
    let sql = format!(
        "SELECT day, service, CAST(SUM(events) AS BIGINT) AS events, \
         CAST(SUM(cost_micros) AS BIGINT) AS cost FROM {} \
         WHERE day >= $1 AND day < $2 {} GROUP BY day, service ORDER BY day, service",
        per_day_table(tenants),
        tenant_days_clause(tenants, 3)
    );
    let by_day = super::bind_tenants(sqlx::query(&sql).bind(&from).bind(&to), tenants)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            Ok((
                day.parse().map_err(|e| corrupt(format!("day: {e}")))?,
                r.try_get("service")?,
                r.try_get("events")?,
                r.try_get("cost")?,
            ))
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    if let Some(kept) = super::cost_spans::kept_span(conn, from_day, to_day).await? {
        let user_costs = super::cost_spans::user_costs(conn, &kept, to_day, tenants).await?;
        return Ok(CostBreakdown { by_day, user_costs });
    }
    let sql = format!(
        "SELECT {} AS packed FROM (SELECT CAST(SUM(cost_micros) AS BIGINT) AS cost FROM cost_daily \
         WHERE day >= $1 AND day < $2 AND service <> 'keyward' {} GROUP BY tenant_id, user_id) AS u",
        super::packed("CAST(cost AS TEXT)"),
        super::tenants_clause("tenant_id", tenants, 3)
    );
    let packed: Option<String> =
        super::bind_tenants(sqlx::query(&sql).bind(&from).bind(&to), tenants)
            .fetch_one(&mut *conn)
            .await?
            .try_get("packed")?;
    let user_costs = super::unpack_ints(packed.as_deref())?;
    Ok(CostBreakdown { by_day, user_costs })
}

/// Cost per service in `[from, to)`, of one tenant or (`None`) all.
pub async fn service_totals(
    conn: &mut Conn,
    tenants: Option<&[crate::domain::ids::TenantId]>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> sqlx::Result<Vec<(String, i64)>> {
    let sql = format!(
        "SELECT service, CAST(SUM(cost_micros) AS BIGINT) AS cost FROM {} \
         WHERE day >= $1 AND day < $2 {} GROUP BY service",
        per_day_table(tenants),
        tenant_days_clause(tenants, 3)
    );
    let q = sqlx::query(&sql)
        .bind(from.to_string())
        .bind(to.to_string());
    super::bind_tenants(q, tenants)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("service")?, r.try_get("cost")?)))
        .collect()
}
