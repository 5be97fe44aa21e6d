//! Each user's cost over a span (ISO week, month, rolling 30 and 90 days),
//! kept so the spread of cost over users is read without grouping the
//! per-user daily rollups over the whole span (see migration 0022).
//!
//! The kept rows hold whole days up to an anchor (`cost_window_anchor`,
//! kind 'spans': the last day folded in, yesterday once the day has turned).
//! Once a UTC day the day that ended is folded in from `cost_daily` (and the
//! day leaving a rolling window taken out); a late event for a day already
//! folded is added as it is applied. A read adds the days after the anchor
//! (today) from `cost_daily`. So applying the ingest's deltas, the hot part
//! of ingest, adds nothing here for events of today.

use super::{corrupt, Conn, Engine};
use crate::domain::analytics::{
    cohort_size, CohortPage, CohortUser, Period, ServiceWeek, UserWeek, WeekUsers,
};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use sqlx::Row;
use std::collections::BTreeMap;

/// The rolling windows kept: (kind, days). A window's rows hold the `days -
/// 1` days ending with the anchor; a read adds the day after it (today).
pub const WINDOWS: [(&str, i64); 2] = [("last30", 30), ("last90", 90)];

const ANCHOR: &str = "spans";

/// A kept span a read can use: its rows' key, and the first day to add from
/// `cost_daily` (the day after the anchor, or the span's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub kind: &'static str,
    pub start: String,
    pub fresh_from: NaiveDate,
}

/// Which kept span `[from, to)` is, if any: ("week", Monday), ("month", first
/// day), or a rolling window ("last30", "") ending with the day after the
/// anchor.
pub async fn kept_span(
    conn: &mut Conn,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Option<Kept>> {
    let Some(anchor) = anchor(conn, None).await? else {
        return Ok(None);
    };
    let fresh_from = (anchor + Duration::days(1)).max(from);
    let kept = |kind, start| {
        Some(Kept {
            kind,
            start,
            fresh_from,
        })
    };
    if Period::Weekly.containing(from) == (from, to) {
        return Ok(kept("week", from.to_string()));
    }
    if Period::Monthly.containing(from) == (from, to) {
        return Ok(kept("month", from.to_string()));
    }
    Ok(WINDOWS.into_iter().find_map(|(kind, days)| {
        (to == anchor + Duration::days(2) && to - Duration::days(days) == from)
            .then(|| kept(kind, String::new()))
            .flatten()
    }))
}

/// The last day folded into the kept spans. With `lock`, it is held for
/// the transaction (on PostgreSQL; SQLite's write transactions are serial
/// anyway), so applying deltas and folding days serialize.
async fn anchor(conn: &mut Conn, lock: Option<Engine>) -> sqlx::Result<Option<NaiveDate>> {
    if lock == Some(Engine::Postgres) {
        // Waits for this lock are expected and ordered (taken first, one
        // lock order, no deadlock): a fold or an erasure may hold it longer
        // than the sessions' 10 s lock timeout, and the appliers behind it
        // (every read) wait for it rather than fail.
        sqlx::query("SET LOCAL lock_timeout = 0")
            .execute(&mut *conn)
            .await?;
    }
    let sql = match lock {
        Some(Engine::Postgres) => {
            "SELECT last_day FROM cost_window_anchor WHERE kind = $1 FOR UPDATE"
        }
        _ => "SELECT last_day FROM cost_window_anchor WHERE kind = $1",
    };
    let Some(row) = sqlx::query(sql)
        .bind(ANCHOR)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let day: String = row.try_get("last_day")?;
    day.parse()
        .map(Some)
        .map_err(|e| corrupt(format!("cost_window_anchor: {e}")))
}

/// Takes the anchor's lock for the transaction (PostgreSQL; SQLite's
/// writes are serial anyway). Everything that changes the kept rows or what
/// they are built from (applying deltas, the fold, erasure) takes it first,
/// before any row lock, so they serialize without deadlocks.
pub async fn lock(conn: &mut Conn, engine: Engine) -> sqlx::Result<()> {
    anchor(conn, Some(engine)).await.map(drop)
}

/// Per (tenant, user, day): (events, cost) to add.
pub type UserDayDeltas<'a> = BTreeMap<(&'a str, &'a str, NaiveDate), [i64; 2]>;

/// Per (Monday, tenant, user, service): (events, cost) to add to `cost_weekly`.
pub type UserWeekDeltas<'a> = BTreeMap<(String, &'a str, &'a str, &'a str), [i64; 2]>;

/// Adds users' costs on days already folded in (late events) to their
/// kept spans, and to the kept service weeks (`weekly`: the same deltas
/// per week) of weeks wholly folded; days after the anchor are left to the
/// daily fold. Call in the transaction that adds them to `cost_daily`,
/// before `weekly` is added to `cost_weekly`.
pub async fn add(
    conn: &mut Conn,
    engine: Engine,
    deltas: &UserDayDeltas<'_>,
    weekly: &UserWeekDeltas<'_>,
) -> sqlx::Result<()> {
    // The anchor is read under its lock even when every delta looks fresh:
    // a fold of that day on another replica must wait for this transaction
    // (and then see its rows in `cost_daily`), or run first (and then these
    // deltas are late and added here). Unlocked, both could skip them.
    let Some(anchor) = anchor(conn, Some(engine)).await? else {
        return Ok(());
    };
    if deltas.keys().all(|k| k.2 > anchor) {
        // (Also when there are none: the lock is taken all the same.)
        return Ok(());
    }
    // (kind, start, tenant, user) and its sums, added up below.
    type SpanKey<'k> = (&'static str, String, &'k str, &'k str);
    let mut spans: Vec<(SpanKey, [i64; 2])> = Vec::new();
    let mut put = |kind, start: String, t, u, v: &[i64; 2]| spans.push(((kind, start, t, u), *v));
    for (&(t, u, day), v) in deltas.iter().filter(|(k, _)| k.2 <= anchor) {
        put(
            "week",
            Period::Weekly.containing(day).0.to_string(),
            t,
            u,
            v,
        );
        put(
            "month",
            Period::Monthly.containing(day).0.to_string(),
            t,
            u,
            v,
        );
        for (kind, days) in WINDOWS {
            if day > anchor - Duration::days(days - 1) {
                put(kind, String::new(), t, u, v);
            }
        }
    }
    let rows: Vec<_> = super::summed(spans)
        .into_iter()
        .map(|((k, s, t, u), v)| {
            (
                vec![k.to_string(), s, t.to_string(), u.to_string()],
                v.to_vec(),
            )
        })
        .collect();
    super::costs::upsert_sums(conn, engine, "cost_user_span", &SPAN_KEYS, &SUMS, &rows).await?;
    add_service_weeks(conn, engine, anchor, weekly).await
}

/// Adds late use to the kept service weeks of weeks wholly folded: events
/// and cost, and one user more where the (tenant, user, service) is new in
/// the week's `cost_weekly`.
async fn add_service_weeks(
    conn: &mut Conn,
    engine: Engine,
    anchor: NaiveDate,
    weekly: &UserWeekDeltas<'_>,
) -> sqlx::Result<()> {
    let mut late = Vec::new();
    for (key, v) in weekly {
        let monday: NaiveDate = key
            .0
            .parse()
            .map_err(|e| corrupt(format!("cost_weekly week: {e}")))?;
        if key.3 != super::costs::DATA_PLANE && monday + Duration::days(6) <= anchor {
            late.push((key, v));
        }
    }
    let mut known = std::collections::HashSet::new();
    for part in late.chunks(200) {
        known.extend(known_weekly_rows(conn, engine, part.iter().map(|r| r.0)).await?);
    }
    let mut sums: BTreeMap<(&str, &str), [i64; 3]> = BTreeMap::new();
    for ((week, t, u, service), v) in late {
        let is_new = !known.contains(&(
            week.clone(),
            t.to_string(),
            u.to_string(),
            service.to_string(),
        ));
        let s = sums.entry((week.as_str(), service)).or_default();
        s[0] += i64::from(is_new);
        s[1] += v[0];
        s[2] += v[1];
    }
    let rows: Vec<_> = sums
        .into_iter()
        .map(|((w, s), v)| (vec![w.to_string(), s.to_string()], v.to_vec()))
        .collect();
    super::costs::upsert_sums(
        conn,
        engine,
        "cost_service_week",
        &["week", "service"],
        &["users", "events", "cost_micros"],
        &rows,
    )
    .await
}

const SPAN_KEYS: [&str; 4] = ["kind", "start", "tenant_id", "user_id"];
const SUMS: [&str; 2] = ["events", "cost_micros"];

/// Which of these (week, tenant, user, service) rows `cost_weekly` holds.
async fn known_weekly_rows<'k>(
    conn: &mut Conn,
    engine: Engine,
    keys: impl Iterator<Item = &'k (String, &'k str, &'k str, &'k str)>,
) -> sqlx::Result<Vec<(String, String, String, String)>> {
    let keys: Vec<_> = keys.collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // Anonymous placeholders on SQLite (see `placeholders`): named ones are
    // looked up one by one, so 800 of them cost 800 x 800 steps to bind.
    let sql = format!(
        "SELECT week, tenant_id, user_id, service FROM cost_weekly \
         WHERE (week, tenant_id, user_id, service) IN ({})",
        super::values(engine, keys.len(), 4)
    );
    let q = keys.iter().fold(sqlx::query(&sql), |q, (w, t, u, s)| {
        q.bind(w.as_str()).bind(*t).bind(*u).bind(*s)
    });
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("week")?,
                r.try_get("tenant_id")?,
                r.try_get("user_id")?,
                r.try_get("service")?,
            ))
        })
        .collect()
}

/// Whether a day has ended since the last fold (or nothing is kept yet).
pub async fn behind(conn: &mut Conn, today: NaiveDate) -> sqlx::Result<bool> {
    Ok(anchor(conn, None)
        .await?
        .is_none_or(|a| a < today - Duration::days(1)))
}

/// Folds every day that has ended (up to yesterday) into the kept spans:
/// each user's cost that day added to its week, month and rolling windows,
/// and the day leaving each window taken out. Missing, or more than a
/// window behind, everything is rebuilt from `cost_daily`. Returns whether
/// anything moved. Call in a write transaction.
pub async fn advance(conn: &mut Conn, engine: Engine, today: NaiveDate) -> sqlx::Result<bool> {
    let target = today - Duration::days(1);
    match anchor(conn, Some(engine)).await? {
        Some(a) if a >= target => return Ok(false),
        Some(a) if (target - a).num_days() < 30 => {
            let mut day = a + Duration::days(1);
            while day <= target {
                fold_day(conn, engine, day).await?;
                day += Duration::days(1);
            }
            sqlx::query("DELETE FROM cost_user_span WHERE start = '' AND events <= 0")
                .execute(&mut *conn)
                .await?;
        }
        _ => rebuild(conn, engine, target).await?,
    }
    sqlx::query(
        "INSERT INTO cost_window_anchor (kind, last_day) VALUES ($1, $2) \
         ON CONFLICT (kind) DO UPDATE SET last_day = excluded.last_day",
    )
    .bind(ANCHOR)
    .bind(target.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Adds `day` to its week, month and the rolling windows; takes the day
/// leaving each window out.
async fn fold_day(conn: &mut Conn, engine: Engine, day: NaiveDate) -> sqlx::Result<()> {
    if day.weekday() == Weekday::Sun {
        keep_service_weeks(conn, Period::Weekly.containing(day).0, day).await?;
    }
    let week = Period::Weekly.containing(day).0.to_string();
    let month = Period::Monthly.containing(day).0.to_string();
    for (kind, start) in [("week", week.as_str()), ("month", month.as_str())] {
        add_days(conn, engine, (kind, start), (day, day), 1).await?;
    }
    for (kind, days) in WINDOWS {
        add_days(conn, engine, (kind, ""), (day, day), 1).await?;
        let leaving = day - Duration::days(days - 1);
        add_days(conn, engine, (kind, ""), (leaving, leaving), -1).await?;
    }
    Ok(())
}

/// Every kept span from `cost_daily`, folded up to `last`.
async fn rebuild(conn: &mut Conn, engine: Engine, last: NaiveDate) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cost_user_span")
        .execute(&mut *conn)
        .await?;
    let (week, month) = match engine {
        Engine::Sqlite => (
            "date(day, 'weekday 0', '-6 days')",
            "substr(day, 1, 8) || '01'",
        ),
        Engine::Postgres => (
            "to_char(date_trunc('week', CAST(day AS date)), 'YYYY-MM-DD')",
            "substr(day, 1, 8) || '01'",
        ),
    };
    for (kind, start) in [("week", week), ("month", month)] {
        sqlx::query(&format!(
            "INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros) \
             SELECT $1, {start}, tenant_id, user_id, CAST(SUM(events) AS BIGINT), \
             CAST(SUM(cost_micros) AS BIGINT) FROM cost_daily \
             WHERE day <= $2 AND service <> 'keyward' GROUP BY {start}, tenant_id, user_id"
        ))
        .bind(kind)
        .bind(last.to_string())
        .execute(&mut *conn)
        .await?;
    }
    for (kind, days) in WINDOWS {
        let first = last - Duration::days(days - 2);
        add_days(conn, engine, (kind, ""), (first, last), 1).await?;
    }
    sqlx::query("DELETE FROM cost_service_week")
        .execute(&mut *conn)
        .await?;
    // The Monday of the first week a day the API accepts (2000-01-01) is in.
    let min = NaiveDate::from_ymd_opt(1999, 12, 27).expect("a Monday");
    keep_service_weeks(conn, min, last - Duration::days(6)).await
}

/// Keeps each service's week across tenants (its distinct users, events and
/// cost, from `cost_weekly`) for the weeks starting on Mondays in
/// `[first, last]`: what the weekly optimisation reads for a week wholly
/// folded, instead of grouping one row per user and service.
async fn keep_service_weeks(
    conn: &mut Conn,
    first: NaiveDate,
    last: NaiveDate,
) -> sqlx::Result<()> {
    let (first, last) = (first.to_string(), last.to_string());
    sqlx::query("DELETE FROM cost_service_week WHERE week >= $1 AND week <= $2")
        .bind(&first)
        .bind(&last)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO cost_service_week (week, service, users, events, cost_micros) \
         SELECT week, service, CAST(COUNT(*) AS BIGINT), CAST(SUM(events) AS BIGINT), \
         CAST(SUM(cost_micros) AS BIGINT) FROM cost_weekly \
         WHERE week >= $1 AND week <= $2 AND service <> 'keyward' GROUP BY week, service",
    )
    .bind(&first)
    .bind(&last)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the ISO week starting on `monday` is wholly folded in (its
/// Sunday at or before the anchor), so its kept user rows and service rows
/// hold all of it.
pub async fn week_kept(conn: &mut Conn, monday: NaiveDate) -> sqlx::Result<bool> {
    Ok(anchor(conn, None)
        .await?
        .is_some_and(|a| monday + Duration::days(6) <= a))
}

/// The kept services of a week wholly folded (see [`week_kept`]).
pub async fn service_week(conn: &mut Conn, monday: NaiveDate) -> sqlx::Result<Vec<ServiceWeek>> {
    sqlx::query(
        "SELECT service, users, events, cost_micros AS cost FROM cost_service_week \
         WHERE week = $1 ORDER BY service",
    )
    .bind(monday.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(super::costs::service_week_row)
    .collect()
}

/// The users of a week wholly folded (see [`week_kept`]), read in rank
/// order from the kept rows (an index holds that order): how many, the
/// trial cohort's size and cost, and `page` of it (or all of it).
pub async fn ranked_week_users(
    conn: &mut Conn,
    engine: Engine,
    monday: NaiveDate,
    page: Option<CohortPage>,
) -> sqlx::Result<WeekUsers> {
    let start = monday.to_string();
    let active: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cost_user_span WHERE kind = 'week' AND start = $1",
    )
    .bind(&start)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    let size = cohort_size(active);
    // Ids compare as bytes, as in Rust (PostgreSQL's collation may differ).
    let ids = match engine {
        Engine::Sqlite => "tenant_id, user_id",
        Engine::Postgres => "tenant_id COLLATE \"C\", user_id COLLATE \"C\"",
    };
    let ranked = format!(
        "FROM cost_user_span WHERE kind = 'week' AND start = $1 \
         ORDER BY events DESC, cost_micros DESC, {ids}"
    );
    let cost: i64 = sqlx::query(&format!(
        "SELECT CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS c FROM \
         (SELECT cost_micros {ranked} LIMIT $2) AS top"
    ))
    .bind(&start)
    .bind(size)
    .fetch_one(&mut *conn)
    .await?
    .try_get("c")?;
    let page = page.unwrap_or(CohortPage {
        limit: size,
        offset: 0,
    });
    let limit = page.limit.min(size - page.offset).max(0);
    let cohort = sqlx::query(&format!(
        "SELECT tenant_id, user_id, events, cost_micros {ranked} LIMIT $2 OFFSET $3"
    ))
    .bind(&start)
    .bind(limit)
    .bind(page.offset)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(CohortUser {
            tenant_id: r.try_get("tenant_id")?,
            user_id: r.try_get("user_id")?,
            events: r.try_get("events")?,
            cost_micros: r.try_get("cost_micros")?,
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(WeekUsers {
        active,
        cohort_size: size,
        cohort_cost_micros: cost,
        cohort,
    })
}

/// Adds (`sign` 1) or subtracts (-1) each user's cost on days
/// `[first, last]` to the kept span `(kind, start)`.
async fn add_days(
    conn: &mut Conn,
    _engine: Engine,
    (kind, start): (&str, &str),
    (first, last): (NaiveDate, NaiveDate),
    sign: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros) \
         SELECT $1, $2, tenant_id, user_id, CAST($5 * SUM(events) AS BIGINT), \
         CAST($5 * SUM(cost_micros) AS BIGINT) FROM cost_daily \
         WHERE day >= $3 AND day <= $4 AND service <> 'keyward' GROUP BY tenant_id, user_id \
         ON CONFLICT (kind, start, tenant_id, user_id) DO UPDATE SET \
         events = cost_user_span.events + excluded.events, \
         cost_micros = cost_user_span.cost_micros + excluded.cost_micros",
    )
    .bind(kind)
    .bind(start)
    .bind(first.to_string())
    .bind(last.to_string())
    .bind(sign)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The rows of a kept span with the days after its anchor added from
/// `cost_daily`: `SELECT tenant_id, user_id, events, cost` (grouped only
/// when there are such days). Binds: $1 kind, $2 start, $3 the first fresh
/// day, $4 the span's end, then the tenants twice.
fn kept_rows_sql(
    span: &Kept,
    to: NaiveDate,
    tenants: Option<&[crate::domain::ids::TenantId]>,
) -> String {
    let n = tenants.map_or(0, <[_]>::len);
    let kept = format!(
        "SELECT tenant_id, user_id, events, cost_micros FROM cost_user_span \
         WHERE kind = $1 AND start = $2 {}",
        super::tenants_clause("tenant_id", tenants, 5)
    );
    if span.fresh_from >= to {
        return format!("SELECT tenant_id, user_id, events, cost_micros AS cost FROM ({kept}) AS k WHERE $3 = $3 AND $4 = $4");
    }
    format!(
        "SELECT tenant_id, user_id, CAST(SUM(events) AS BIGINT) AS events, \
         CAST(SUM(cost_micros) AS BIGINT) AS cost FROM ({kept} UNION ALL \
         SELECT tenant_id, user_id, events, cost_micros FROM cost_daily \
         WHERE day >= $3 AND day < $4 AND service <> 'keyward' {}) AS u GROUP BY tenant_id, user_id",
        super::tenants_clause("tenant_id", tenants, 5 + n)
    )
}

async fn kept_rows(
    conn: &mut Conn,
    span: &Kept,
    to: NaiveDate,
    tenants: Option<&[crate::domain::ids::TenantId]>,
) -> sqlx::Result<Vec<sqlx::any::AnyRow>> {
    let sql = kept_rows_sql(span, to, tenants);
    kept_rows_query(&sql, span, to, tenants)
        .fetch_all(&mut *conn)
        .await
}

/// `sql` (a query over [`kept_rows_sql`]) with its parameters bound.
fn kept_rows_query<'q>(
    sql: &'q str,
    span: &'q Kept,
    to: NaiveDate,
    tenants: Option<&'q [crate::domain::ids::TenantId]>,
) -> super::AnyQuery<'q> {
    let q = sqlx::query(sql)
        .bind(span.kind)
        .bind(span.start.as_str())
        .bind(span.fresh_from.to_string())
        .bind(to.to_string());
    let q = super::bind_tenants(q, tenants);
    if span.fresh_from >= to {
        q
    } else {
        super::bind_tenants(q, tenants)
    }
}

/// Each user's cost in a kept span `[.., to)` (see [`kept_span`]), of some
/// tenants or (`None`) all.
pub async fn user_costs(
    conn: &mut Conn,
    span: &Kept,
    to: NaiveDate,
    tenants: Option<&[crate::domain::ids::TenantId]>,
) -> sqlx::Result<Vec<i64>> {
    // One row per user would be 100,000 rows at 100,000 users: read packed.
    let sql = format!(
        "SELECT {} AS packed FROM ({}) AS p",
        super::packed("CAST(cost AS TEXT)"),
        kept_rows_sql(span, to, tenants)
    );
    let packed: Option<String> = kept_rows_query(&sql, span, to, tenants)
        .fetch_one(&mut *conn)
        .await?
        .try_get("packed")?;
    super::unpack_ints(packed.as_deref())
}

/// Each active user's events and cost in the ISO week starting on `monday`.
pub async fn week_users(conn: &mut Conn, monday: NaiveDate) -> sqlx::Result<Vec<UserWeek>> {
    let to = monday + Duration::days(7);
    // (Without an anchor nothing is kept: every day is read fresh.)
    let fresh_from = anchor(conn, None)
        .await?
        .map_or(monday, |a| (a + Duration::days(1)).max(monday));
    let span = Kept {
        kind: "week",
        start: monday.to_string(),
        fresh_from,
    };
    kept_rows(conn, &span, to, None)
        .await?
        .iter()
        .map(|r| {
            Ok(UserWeek {
                tenant_id: r.try_get("tenant_id")?,
                user_id: r.try_get("user_id")?,
                events: r.try_get("events")?,
                cost_micros: r.try_get("cost")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::costs::{add_rollups, RollupDelta, RollupKey};
    use crate::db::Db;

    /// Every user's (events, cost) over `[first, last]`, straight from `cost_daily`.
    async fn direct(
        conn: &mut Conn,
        first: NaiveDate,
        last: NaiveDate,
    ) -> BTreeMap<(String, String), (i64, i64)> {
        sqlx::query(
            "SELECT tenant_id, user_id, CAST(SUM(events) AS BIGINT) AS n, \
             CAST(SUM(cost_micros) AS BIGINT) AS c FROM cost_daily \
             WHERE day >= $1 AND day <= $2 AND service <> 'keyward' GROUP BY tenant_id, user_id",
        )
        .bind(first.to_string())
        .bind(last.to_string())
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get("tenant_id"), r.get("user_id")),
                (r.get("n"), r.get("c")),
            )
        })
        .collect()
    }

    /// Deltas of a small pseudo-random day of use around `day` (late and
    /// early events too), data-plane rows included.
    fn some_use(seed: u64, day: NaiveDate) -> BTreeMap<RollupKey, RollupDelta> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let mut out = BTreeMap::new();
        for _ in 0..12 {
            let offset = next(130) as i64 - 120; // mostly the past 120 days, some days ahead
            let d = day + Duration::days(offset);
            let service = ["openai", "hume", "keyward"][next(3) as usize];
            let key = (
                format!("t{}", next(3)),
                d.to_string(),
                format!("u{}", next(5)),
                service.to_string(),
            );
            let e: &mut RollupDelta = out.entry(key).or_default();
            e.0 += 1;
            e.1 += next(10_000) as i64;
        }
        out
    }

    /// The kept spans agree with a direct sum over `cost_daily` after every
    /// day that ends (one day, several, or more than a window at once), with
    /// use landing before, inside and after them in between.
    #[tokio::test]
    async fn kept_spans_agree_with_the_daily_rollups_as_days_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("k.db").display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        // (The migration anchors the spans on the real yesterday.)
        sqlx::query("DELETE FROM cost_window_anchor")
            .execute(db.pool())
            .await
            .unwrap();
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut today = start;
        let mut compared = 0;
        for (step, gap) in [0, 1, 1, 2, 1, 5, 1, 29, 1, 30, 1, 95, 1, 1, 3]
            .iter()
            .enumerate()
        {
            today += Duration::days(*gap);
            let mut tx = db.begin().await.unwrap();
            add_rollups(&mut tx, db.engine(), &some_use(step as u64, today))
                .await
                .unwrap();
            advance(&mut tx, db.engine(), today).await.unwrap();
            add_rollups(&mut tx, db.engine(), &some_use(1000 + step as u64, today))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let mut conn = db.pool().acquire().await.unwrap();
            let (from, to) = (today - Duration::days(29), today + Duration::days(1));
            let spans = [
                (from, to),
                (today - Duration::days(89), to),
                Period::Weekly.containing(today),
                Period::Monthly.containing(today),
                Period::Weekly.containing(today - Duration::days(10)),
                Period::Monthly.containing(today - Duration::days(40)),
            ];
            for (from, to) in spans {
                let kept = kept_span(&mut conn, from, to).await.unwrap().unwrap();
                let mut got = user_costs(&mut conn, &kept, to, None).await.unwrap();
                let mut want: Vec<i64> = direct(&mut conn, from, to - Duration::days(1))
                    .await
                    .into_values()
                    .map(|v| v.1)
                    .collect();
                compared += want.len();
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want, "{from}..{to} on {today}");
            }
            for back in [10, 20] {
                let monday = Period::Weekly.containing(today - Duration::days(back)).0;
                assert!(week_kept(&mut conn, monday).await.unwrap());
                compared += check_week(&mut conn, monday).await;
            }
        }
        assert!(compared > 300, "only {compared} users compared");
    }

    /// A wholly folded week's kept services and ranked users equal what
    /// grouping its rows gives; returns the users compared.
    async fn check_week(conn: &mut Conn, monday: NaiveDate) -> usize {
        let want: Vec<ServiceWeek> = sqlx::query(
            "SELECT service, CAST(COUNT(*) AS BIGINT) AS u, CAST(SUM(events) AS BIGINT) AS n, \
             CAST(SUM(cost_micros) AS BIGINT) AS c FROM cost_weekly \
             WHERE week = $1 AND service <> 'keyward' GROUP BY service ORDER BY service",
        )
        .bind(monday.to_string())
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| ServiceWeek {
            service: r.get("service"),
            users: r.get("u"),
            events: r.get("n"),
            cost_micros: r.get("c"),
        })
        .collect();
        assert_eq!(service_week(conn, monday).await.unwrap(), want, "{monday}");
        let users: Vec<UserWeek> = direct(conn, monday, monday + Duration::days(6))
            .await
            .into_iter()
            .map(|((t, u), (n, c))| UserWeek {
                tenant_id: t,
                user_id: u,
                events: n,
                cost_micros: c,
            })
            .collect();
        let n = users.len();
        for page in [
            None,
            Some(CohortPage {
                limit: 2,
                offset: 1,
            }),
        ] {
            let got = ranked_week_users(conn, Engine::Sqlite, monday, page)
                .await
                .unwrap();
            assert_eq!(got, WeekUsers::ranked(users.clone(), page), "{monday}");
        }
        n
    }
}
