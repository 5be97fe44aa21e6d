//! Each user's cost over a span (ISO week, month, rolling 30 and 90 days),
//! kept as events are applied, so the spread of cost over users is read
//! without grouping the per-user daily rollups (see migration 0022).

use super::{corrupt, Conn, Engine};
use crate::domain::analytics::{Period, UserWeek};
use chrono::{Duration, NaiveDate};
use sqlx::Row;
use std::collections::BTreeMap;

/// The rolling windows kept: (kind, days). A window's rows hold each user's
/// cost over the `days` days ending with its anchor's `last_day`.
pub const WINDOWS: [(&str, i64); 2] = [("last30", 30), ("last90", 90)];

/// Which kept span `[from, to)` is, if any: ("week", Monday), ("month", first
/// day), or a rolling window ("last30", "") ending the day before `to` when
/// that is the window's anchor.
pub async fn kept_span(
    conn: &mut Conn,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Option<(&'static str, String)>> {
    if Period::Weekly.containing(from) == (from, to) {
        return Ok(Some(("week", from.to_string())));
    }
    if Period::Monthly.containing(from) == (from, to) {
        return Ok(Some(("month", from.to_string())));
    }
    let anchors = anchors(conn, None).await?;
    Ok(WINDOWS.into_iter().find_map(|(kind, days)| {
        let last = anchors.get(kind)?;
        (*last + Duration::days(1) == to && to - Duration::days(days) == from)
            .then(|| (kind, String::new()))
    }))
}

/// The rolling windows' anchors (last day of each). With `lock`, they are
/// held for the transaction (on PostgreSQL; SQLite's write transactions are
/// serial anyway), so applying deltas and moving windows serialize.
async fn anchors(
    conn: &mut Conn,
    lock: Option<Engine>,
) -> sqlx::Result<BTreeMap<String, NaiveDate>> {
    let sql = match lock {
        Some(Engine::Postgres) => "SELECT kind, last_day FROM cost_window_anchor FOR UPDATE",
        _ => "SELECT kind, last_day FROM cost_window_anchor",
    };
    sqlx::query(sql)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let day: String = r.try_get("last_day")?;
            Ok((
                r.try_get("kind")?,
                day.parse()
                    .map_err(|e| corrupt(format!("cost_window_anchor: {e}")))?,
            ))
        })
        .collect()
}

/// Per (tenant, user, day): (events, cost) to add.
pub type UserDayDeltas<'a> = BTreeMap<(&'a str, &'a str, NaiveDate), [i64; 2]>;

/// Adds users' daily costs to their week's, month's and (when the day lies
/// inside one) rolling windows' totals. Call in the transaction that adds
/// them to `cost_daily`.
pub async fn add(conn: &mut Conn, engine: Engine, deltas: &UserDayDeltas<'_>) -> sqlx::Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let anchors = anchors(conn, Some(engine)).await?;
    let mut spans: BTreeMap<(&str, String, &str, &str), [i64; 2]> = BTreeMap::new();
    let mut put = |kind, start: String, t, u, v: &[i64; 2]| {
        let s = spans.entry((kind, start, t, u)).or_default();
        s[0] += v[0];
        s[1] += v[1];
    };
    for (&(t, u, day), v) in deltas {
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
            if let Some(&last) = anchors.get(kind) {
                if day <= last && day > last - Duration::days(days) {
                    put(kind, String::new(), t, u, v);
                }
            }
        }
    }
    let rows: Vec<_> = spans
        .into_iter()
        .map(|((k, s, t, u), v)| {
            (
                vec![k.to_string(), s, t.to_string(), u.to_string()],
                v.to_vec(),
            )
        })
        .collect();
    super::costs::upsert_sums(conn, engine, "cost_user_span", &SPAN_KEYS, &SUMS, &rows).await
}

const SPAN_KEYS: [&str; 4] = ["kind", "start", "tenant_id", "user_id"];
const SUMS: [&str; 2] = ["events", "cost_micros"];

/// Moves every rolling window to end with `today`: adds the days that enter
/// and subtracts those that leave (or, when it is missing or `days` behind,
/// rebuilds it from `cost_daily`). Returns whether anything moved. Call in a
/// write transaction.
pub async fn advance(conn: &mut Conn, engine: Engine, today: NaiveDate) -> sqlx::Result<bool> {
    let anchors = anchors(conn, Some(engine)).await?;
    let mut moved = false;
    for (kind, days) in WINDOWS {
        match anchors.get(kind) {
            Some(&last) if last >= today => continue,
            Some(&last) if (today - last).num_days() < days => {
                let mut day = last + Duration::days(1);
                while day <= today {
                    add_days(conn, kind, day, day, 1).await?;
                    let leaving = day - Duration::days(days);
                    add_days(conn, kind, leaving, leaving, -1).await?;
                    day += Duration::days(1);
                }
                sqlx::query(
                    "DELETE FROM cost_user_span WHERE kind = $1 AND start = '' AND events <= 0",
                )
                .bind(kind)
                .execute(&mut *conn)
                .await?;
            }
            _ => {
                sqlx::query("DELETE FROM cost_user_span WHERE kind = $1")
                    .bind(kind)
                    .execute(&mut *conn)
                    .await?;
                add_days(conn, kind, today - Duration::days(days - 1), today, 1).await?;
            }
        }
        sqlx::query(
            "INSERT INTO cost_window_anchor (kind, last_day) VALUES ($1, $2) \
             ON CONFLICT (kind) DO UPDATE SET last_day = excluded.last_day",
        )
        .bind(kind)
        .bind(today.to_string())
        .execute(&mut *conn)
        .await?;
        moved = true;
    }
    Ok(moved)
}

/// Whether a rolling window is missing or ends before `today`.
pub async fn behind(conn: &mut Conn, today: NaiveDate) -> sqlx::Result<bool> {
    let anchors = anchors(conn, None).await?;
    Ok(WINDOWS
        .iter()
        .any(|(kind, _)| anchors.get(*kind).is_none_or(|last| *last < today)))
}

/// Adds (`sign` 1) or subtracts (-1) each user's cost on days
/// `[first, last]` to window `kind`.
async fn add_days(
    conn: &mut Conn,
    kind: &str,
    first: NaiveDate,
    last: NaiveDate,
    sign: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cost_user_span (kind, start, tenant_id, user_id, events, cost_micros) \
         SELECT $1, '', tenant_id, user_id, CAST($4 * SUM(events) AS BIGINT), \
         CAST($4 * SUM(cost_micros) AS BIGINT) FROM cost_daily \
         WHERE day >= $2 AND day <= $3 AND service <> 'keyward' GROUP BY tenant_id, user_id \
         ON CONFLICT (kind, start, tenant_id, user_id) DO UPDATE SET \
         events = cost_user_span.events + excluded.events, \
         cost_micros = cost_user_span.cost_micros + excluded.cost_micros",
    )
    .bind(kind)
    .bind(first.to_string())
    .bind(last.to_string())
    .bind(sign)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Each user's cost in a kept span (see [`kept_span`]), of some tenants or
/// (`None`) all.
pub async fn user_costs(
    conn: &mut Conn,
    (kind, start): (&str, &str),
    tenants: Option<&[crate::domain::ids::TenantId]>,
) -> sqlx::Result<Vec<i64>> {
    let sql = format!(
        "SELECT cost_micros FROM cost_user_span WHERE kind = $1 AND start = $2 {}",
        super::tenants_clause("tenant_id", tenants, 3)
    );
    super::bind_tenants(sqlx::query(&sql).bind(kind).bind(start), tenants)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("cost_micros"))
        .collect()
}

/// Each active user's events and cost in the ISO week starting on `monday`.
pub async fn week_users(conn: &mut Conn, monday: NaiveDate) -> sqlx::Result<Vec<UserWeek>> {
    sqlx::query(
        "SELECT tenant_id, user_id, events, cost_micros FROM cost_user_span \
         WHERE kind = 'week' AND start = $1",
    )
    .bind(monday.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(UserWeek {
            tenant_id: r.try_get("tenant_id")?,
            user_id: r.try_get("user_id")?,
            events: r.try_get("events")?,
            cost_micros: r.try_get("cost_micros")?,
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

    async fn kept(conn: &mut Conn, kind: &str) -> BTreeMap<(String, String), (i64, i64)> {
        sqlx::query(
            "SELECT tenant_id, user_id, events, cost_micros FROM cost_user_span WHERE kind = $1",
        )
        .bind(kind)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get("tenant_id"), r.get("user_id")),
                (r.get("events"), r.get("cost_micros")),
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

    /// The rolling windows agree with a direct sum over `cost_daily` after
    /// every day they move (one day, several, or more than a window at once)
    /// with use landing before, inside and after them in between.
    #[tokio::test]
    async fn rolling_windows_agree_with_the_daily_rollups_as_days_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite:{}", dir.path().join("k.db").display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        // (The migration anchors the windows on the real today.)
        sqlx::query("DELETE FROM cost_window_anchor")
            .execute(db.pool())
            .await
            .unwrap();
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut today = start;
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
            for (kind, days) in WINDOWS {
                let want = direct(&mut conn, today - Duration::days(days - 1), today).await;
                assert!(!want.is_empty() || step == 0);
                assert_eq!(kept(&mut conn, kind).await, want, "{kind} on {today}");
            }
            let (from, to) = (today - Duration::days(29), today + Duration::days(1));
            // (A 30-day month reads as the month: the same figures.)
            assert!(kept_span(&mut conn, from, to).await.unwrap().is_some());
        }
    }
}
