//! Scheduled jobs, their leases and their runs.

use super::{get_opt_ts, get_ts, ts, Conn};
use crate::domain::schedule::{Job, JobRun, Outcome, Schedule, Task, Trigger};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "name, task, schedule, params, enabled, next_run_at, lease_holder, \
                       lease_expires_at, updated_at, updated_by";

fn from_row(r: &AnyRow) -> sqlx::Result<Job> {
    let bad = |what: &str, e: String| super::corrupt(format!("job {what}: {e}"));
    let task: String = r.try_get("task")?;
    let schedule: String = r.try_get("schedule")?;
    let params: String = r.try_get("params")?;
    Ok(Job {
        name: r.try_get("name")?,
        task: Task::parse(&task).map_err(|e| bad("task", e.to_string()))?,
        schedule: Schedule::parse(&schedule).map_err(|e| bad("schedule", e.to_string()))?,
        params: serde_json::from_str(&params).map_err(|e| bad("params", e.to_string()))?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        next_run_at: get_ts(r, "next_run_at")?,
        lease_holder: r.try_get("lease_holder")?,
        lease_expires_at: get_opt_ts(r, "lease_expires_at")?,
        updated_at: get_ts(r, "updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

/// Adds a job unless one of that name exists; true when added.
pub async fn insert_if_absent(conn: &mut Conn, job: &Job) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO jobs (name, task, schedule, params, enabled, next_run_at, updated_at, \
         updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&job.name)
    .bind(job.task.as_str())
    .bind(job.schedule.as_str())
    .bind(job.params.to_string())
    .bind(i64::from(job.enabled))
    .bind(ts(job.next_run_at))
    .bind(ts(job.updated_at))
    .bind(&job.updated_by)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates or replaces a job's definition (its lease is left alone).
pub async fn upsert(conn: &mut Conn, job: &Job) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO jobs (name, task, schedule, params, enabled, next_run_at, updated_at, \
         updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO UPDATE SET \
         task = $2, schedule = $3, params = $4, enabled = $5, next_run_at = $6, \
         updated_at = $7, updated_by = $8",
    )
    .bind(&job.name)
    .bind(job.task.as_str())
    .bind(job.schedule.as_str())
    .bind(job.params.to_string())
    .bind(i64::from(job.enabled))
    .bind(ts(job.next_run_at))
    .bind(ts(job.updated_at))
    .bind(&job.updated_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM jobs WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find(conn: &mut Conn, name: &str) -> sqlx::Result<Option<Job>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn list(conn: &mut Conn) -> sqlx::Result<Vec<Job>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM jobs ORDER BY name"))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Enabled jobs whose occurrence is due and whose lease is free or lapsed.
pub async fn due(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<Vec<Job>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE enabled = 1 AND next_run_at <= $1 \
         AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY next_run_at"
    ))
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Takes the job's lease when it is free or lapsed: true when `holder` has it.
pub async fn claim(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_holder = $1, lease_expires_at = $2 WHERE name = $3 \
         AND (lease_expires_at IS NULL OR lease_expires_at < $4)",
    )
    .bind(holder)
    .bind(ts(until))
    .bind(name)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends a held lease; false when it is no longer `holder`'s.
pub async fn renew(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE jobs SET lease_expires_at = $1 WHERE name = $2 AND lease_holder = $3")
            .bind(ts(until))
            .bind(name)
            .bind(holder)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease back. With `moves = Some((from, to))` the job moves on
/// to occurrence `to`, but only while its next occurrence still is `from`:
/// a schedule edited during the run keeps the occurrence the edit set.
pub async fn release(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    moves: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> sqlx::Result<()> {
    let sql = match moves {
        Some(_) => {
            "UPDATE jobs SET lease_holder = NULL, lease_expires_at = NULL, next_run_at = \
             CASE WHEN next_run_at = $3 THEN $4 ELSE next_run_at END \
             WHERE name = $1 AND lease_holder = $2"
        }
        None => {
            "UPDATE jobs SET lease_holder = NULL, lease_expires_at = NULL \
             WHERE name = $1 AND lease_holder = $2"
        }
    };
    let mut q = sqlx::query(sql).bind(name).bind(holder);
    if let Some((from, to)) = moves {
        q = q.bind(ts(from)).bind(ts(to));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

fn run_from_row(r: &AnyRow) -> sqlx::Result<JobRun> {
    let trigger: String = r.try_get("trigger_kind")?;
    let outcome: String = r.try_get("outcome")?;
    let summary: String = r.try_get("summary")?;
    Ok(JobRun {
        id: r.try_get("id")?,
        job: r.try_get("job")?,
        occurrence: get_ts(r, "occurrence")?,
        attempt: r.try_get("attempt")?,
        trigger: Trigger::parse(&trigger)
            .ok_or_else(|| super::corrupt(format!("job run trigger {trigger:?}")))?,
        replica: r.try_get("replica")?,
        started_at: get_ts(r, "started_at")?,
        ended_at: get_opt_ts(r, "ended_at")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| super::corrupt(format!("job run outcome {outcome:?}")))?,
        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
    })
}

const RUN_COLUMNS: &str = "id, job, occurrence, attempt, trigger_kind, replica, started_at, \
                           ended_at, outcome, summary";

/// Starts a run of `occurrence`: earlier attempts still marked running
/// (their replica stopped) become abandoned; returns the new attempt.
pub async fn start_run(conn: &mut Conn, run: &JobRun) -> sqlx::Result<JobRun> {
    sqlx::query(
        "UPDATE job_runs SET outcome = 'abandoned', ended_at = $1 \
         WHERE job = $2 AND occurrence = $3 AND outcome = 'running'",
    )
    .bind(ts(run.started_at))
    .bind(&run.job)
    .bind(ts(run.occurrence))
    .execute(&mut *conn)
    .await?;
    let attempt: i64 = sqlx::query(
        "SELECT CAST(COALESCE(MAX(attempt), 0) AS BIGINT) AS n FROM job_runs \
         WHERE job = $1 AND occurrence = $2",
    )
    .bind(&run.job)
    .bind(ts(run.occurrence))
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    let mut run = run.clone();
    run.attempt = attempt + 1;
    sqlx::query(&format!(
        "INSERT INTO job_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)"
    ))
    .bind(&run.id)
    .bind(&run.job)
    .bind(ts(run.occurrence))
    .bind(run.attempt)
    .bind(run.trigger.as_str())
    .bind(&run.replica)
    .bind(ts(run.started_at))
    .bind(run.outcome.as_str())
    .bind(run.summary.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(run)
}

pub async fn finish_run(
    conn: &mut Conn,
    id: &str,
    outcome: Outcome,
    summary: &serde_json::Value,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE job_runs SET outcome = $1, summary = $2, ended_at = $3 WHERE id = $4")
        .bind(outcome.as_str())
        .bind(summary.to_string())
        .bind(ts(at))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A job's runs (or every job's), newest first.
pub async fn runs(conn: &mut Conn, job: Option<&str>, limit: i64) -> sqlx::Result<Vec<JobRun>> {
    // Two statements rather than `$1 = '' OR job = $1`, which keeps a
    // planner off the (job, started_at) index.
    let rows = match job {
        Some(job) => {
            sqlx::query(&format!(
                "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = $1 \
                 ORDER BY started_at DESC, attempt DESC LIMIT $2"
            ))
            .bind(job)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {RUN_COLUMNS} FROM job_runs ORDER BY started_at DESC, attempt DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter().map(run_from_row).collect()
}

/// Runs that started before `before` (retention).
pub async fn delete_runs_before(conn: &mut Conn, before: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM job_runs WHERE started_at < $1")
        .bind(ts(before))
        .execute(&mut *conn)
        .await?
        .rows_affected())
}
