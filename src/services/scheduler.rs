//! The job scheduler: jobs (a task, a cron schedule in UTC, params) live in
//! the store and are edited from the API, CLI and dashboard. Every replica
//! ticks; a due occurrence is run by the one replica that takes the job's
//! lease (a row update with an expiry, renewed while it runs), so with
//! several replicas each occurrence runs once, and a replica that dies
//! mid-run lets another take the occurrence over when its lease lapses.
//! Occurrences missed while no replica ran collapse into one run. Every run
//! is recorded: start, end, outcome, and what it changed.

use super::job_tasks::Runner;
use super::metrics::Metrics;
use super::{now, Error, Result, Tasks};
use crate::db::{self, Db};
use crate::domain::audit::Actor;
use crate::domain::events::{Event, EventType};
use crate::domain::schedule::{default_jobs, Job, JobRun, Outcome, Schedule, Task, Trigger};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Tunables (tests shorten them).
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// How often each replica looks for due jobs.
    pub tick: Duration,
    /// How long a lease lasts without renewal (renewed every third of it).
    pub lease: Duration,
    /// Off: this replica runs no scheduled occurrence (manual runs still work).
    pub enabled: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            enabled: true,
        }
    }
}

#[derive(Clone)]
pub struct Scheduler(Arc<Inner>);

struct Inner {
    db: Db,
    runner: Runner,
    metrics: Metrics,
    options: SchedulerOptions,
    /// This replica's name on leases and runs.
    holder: String,
}

/// A job with its latest run, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub name: String,
    pub task: Task,
    pub schedule: String,
    /// The schedule in words.
    pub describes: String,
    pub params: serde_json::Value,
    pub enabled: bool,
    pub next_run_at: DateTime<Utc>,
    /// The replica running it now, if any.
    pub running_on: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub last_run: Option<JobRun>,
}

/// What setting a job takes (absent fields keep the job's current values).
pub struct JobSpec {
    pub task: Option<Task>,
    pub schedule: Option<String>,
    pub params: Option<serde_json::Value>,
    pub enabled: Option<bool>,
}

fn job_not_found(name: &str) -> Error {
    Error::not_found("JOB_NOT_FOUND", format!("no job {name}"))
}

impl Scheduler {
    pub(crate) fn new(db: Db, runner: Runner, metrics: Metrics, options: SchedulerOptions) -> Self {
        Self(Arc::new(Inner {
            db,
            runner,
            metrics,
            options,
            holder: format!("replica-{}", uuid::Uuid::new_v4().simple()),
        }))
    }

    /// This replica's name on leases and runs.
    pub fn replica(&self) -> &str {
        &self.0.holder
    }

    /// Adds the default jobs a new install lacks (never changes existing ones).
    pub(crate) async fn seed(&self) -> Result<()> {
        let at = now();
        let mut conn = self.0.db.pool().acquire().await?;
        for (name, task, schedule, params, enabled) in default_jobs() {
            let schedule = Schedule::parse(schedule)?;
            let Some(next) = schedule.next_after(at) else {
                continue;
            };
            let job = Job {
                name: name.to_string(),
                task,
                schedule,
                params,
                enabled,
                next_run_at: next,
                lease_holder: None,
                lease_expires_at: None,
                updated_at: at,
                updated_by: "keyward".into(),
            };
            db::jobs::insert_if_absent(&mut conn, &job).await?;
        }
        Ok(())
    }

    pub(crate) fn spawn(&self, tasks: &Tasks) {
        if !self.0.options.enabled {
            tracing::info!("the scheduler is off on this replica (KEYWARD_SCHEDULER=off)");
            return;
        }
        let scheduler = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(scheduler.0.options.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                scheduler.run_due().await;
            }
        }));
    }

    /// One tick: runs each due job whose lease this replica takes.
    pub async fn run_due(&self) {
        let due = match self.0.db.pool().acquire().await {
            Ok(mut conn) => db::jobs::due(&mut conn, now()).await,
            Err(e) => Err(e),
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due jobs failed");
                return;
            }
        };
        for job in due {
            let scheduler = self.clone();
            // Each job in its own task: a long one does not hold the others up.
            tokio::spawn(async move {
                let occurrence = job.next_run_at;
                if let Err(e) = scheduler
                    .run(job, occurrence, Trigger::Schedule, None)
                    .await
                {
                    if !matches!(e, Error::Conflict { .. }) {
                        tracing::warn!(error = %e, "a scheduled job could not run");
                    }
                }
            });
        }
    }

    /// Runs one occurrence under the job's lease; 409 `JOB_RUNNING` when
    /// another run holds it.
    async fn run(
        &self,
        job: Job,
        occurrence: DateTime<Utc>,
        trigger: Trigger,
        actor: Option<&Actor>,
    ) -> Result<JobRun> {
        let inner = &self.0;
        let lease = chrono::Duration::from_std(inner.options.lease)
            .unwrap_or(chrono::Duration::seconds(60));
        let started = now();
        let mut conn = inner.db.pool().acquire().await?;
        if !db::jobs::claim(
            &mut conn,
            &job.name,
            &inner.holder,
            started,
            started + lease,
        )
        .await?
        {
            return Err(Error::conflict(
                "JOB_RUNNING",
                format!(
                    "job {} is running on another replica (or just ran)",
                    job.name
                ),
            ));
        }
        // Re-read under the lease: another replica may have finished this
        // occurrence between our look and our claim.
        let current = db::jobs::find(&mut conn, &job.name).await?;
        let still_due = current
            .as_ref()
            .is_some_and(|j| j.enabled && j.next_run_at == occurrence);
        if trigger == Trigger::Schedule && !still_due {
            db::jobs::release(&mut conn, &job.name, &inner.holder, None).await?;
            return Err(Error::conflict("JOB_RUNNING", "the occurrence already ran"));
        }
        let run = db::jobs::start_run(
            &mut conn,
            &JobRun {
                id: format!("run_{}", uuid::Uuid::new_v4().simple()),
                job: job.name.clone(),
                occurrence,
                attempt: 0,
                trigger,
                replica: inner.holder.clone(),
                started_at: started,
                ended_at: None,
                outcome: Outcome::Running,
                summary: json!({"requested_by": actor.map(|a| a.name.clone())}),
            },
        )
        .await?;
        drop(conn);
        // Stopped however this ends (a panic included): a lease nobody
        // renews lapses, and another replica can take the occurrence over.
        // When the lease is lost, the run stops here: another replica may
        // already be running the same occurrence.
        let lost = Arc::new(tokio::sync::Notify::new());
        let heartbeat = AbortOnDrop(self.heartbeat(&job.name, lost.clone()));
        let result = tokio::select! {
            r = inner.runner.execute(&job, actor) => Some(r),
            () = lost.notified() => None,
        };
        drop(heartbeat);
        let (outcome, summary) = match result {
            Some(Ok(summary)) => (Outcome::Succeeded, summary),
            Some(Err(e)) => (Outcome::Failed, json!({"error": e.to_string()})),
            None => (
                Outcome::Abandoned,
                json!({"error": "the job's lease was lost mid-run; the run stopped"}),
            ),
        };
        let ended = now();
        let moves = match (trigger, outcome) {
            (_, Outcome::Abandoned) | (Trigger::Manual, _) => None,
            // Strictly after now: the occurrences missed meanwhile collapse into this run.
            (Trigger::Schedule, _) => job
                .schedule
                .next_after(ended.max(occurrence))
                .map(|next| (occurrence, next)),
        };
        // The run's record and the job's next occurrence change together.
        let mut tx = inner.db.begin().await?;
        db::jobs::finish_run(&mut tx, &run.id, outcome, &summary, ended).await?;
        db::jobs::release(&mut tx, &job.name, &inner.holder, moves).await?;
        tx.commit().await?;
        inner.metrics.job_run(job.task.as_str(), outcome.as_str());
        if outcome == Outcome::Failed {
            tracing::warn!(job = %job.name, summary = %summary, "a job run failed");
            inner.runner.events().emit(Event::new(
                EventType::JobFailed,
                None,
                json!({"job": job.name, "task": job.task, "run_id": run.id,
                           "occurrence": occurrence, "error": summary["error"]}),
            ));
        }
        Ok(JobRun {
            ended_at: Some(ended),
            outcome,
            summary,
            ..run
        })
    }

    /// Renews the lease every third of its length while the run goes on;
    /// signals `lost` once the lease is another replica's, or has lapsed
    /// because the store could not be reached to renew it.
    fn heartbeat(&self, name: &str, lost: Arc<tokio::sync::Notify>) -> tokio::task::JoinHandle<()> {
        let scheduler = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let inner = &scheduler.0;
            let every = inner.options.lease / 3;
            let lease = chrono::Duration::from_std(inner.options.lease)
                .unwrap_or(chrono::Duration::seconds(60));
            let mut held_until = tokio::time::Instant::now() + inner.options.lease;
            loop {
                tokio::time::sleep(every).await;
                let asked = tokio::time::Instant::now();
                let renewed = match inner.db.pool().acquire().await {
                    Ok(mut conn) => {
                        db::jobs::renew(&mut conn, &name, &inner.holder, now() + lease).await
                    }
                    Err(e) => Err(e),
                };
                match renewed {
                    Ok(true) => held_until = asked + inner.options.lease,
                    Ok(false) => {
                        tracing::warn!(job = %name, "a job's lease was taken over; its run stops");
                        lost.notify_one();
                        return;
                    }
                    Err(e) if tokio::time::Instant::now() + every >= held_until => {
                        tracing::warn!(job = %name, error = %e, "a job's lease lapses unrenewed; its run stops");
                        lost.notify_one();
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(job = %name, error = %e, "could not renew a job's lease; trying again");
                    }
                }
            }
        })
    }

    pub async fn jobs(&self) -> Result<Vec<JobView>> {
        let mut conn = self.0.db.pool().acquire().await?;
        let jobs = db::jobs::list(&mut conn).await?;
        let at = now();
        let mut views = Vec::with_capacity(jobs.len());
        for j in jobs {
            let last_run = db::jobs::runs(&mut conn, Some(&j.name), 1).await?.pop();
            views.push(view(j, last_run, at));
        }
        Ok(views)
    }

    pub async fn job(&self, name: &str) -> Result<JobView> {
        let mut conn = self.0.db.pool().acquire().await?;
        let job = db::jobs::find(&mut conn, name)
            .await?
            .ok_or_else(|| job_not_found(name))?;
        let last = db::jobs::runs(&mut conn, Some(name), 1).await?.pop();
        Ok(view(job, last, now()))
    }

    /// Creates or changes a job; a new schedule starts from now.
    pub async fn set_job(&self, actor: &Actor, name: &str, spec: JobSpec) -> Result<JobView> {
        Job::check_name(name)?;
        let at = now();
        let mut tx = self.0.db.begin().await?;
        let existing = db::jobs::find(&mut tx, name).await?;
        let task = match (spec.task, &existing) {
            (Some(t), _) => t,
            (None, Some(j)) => j.task,
            (None, None) => {
                return Err(
                    crate::domain::ValidationError::new("task", "a new job needs a task").into(),
                )
            }
        };
        let schedule = match (&spec.schedule, &existing) {
            (Some(s), _) => Schedule::parse(s)?,
            (None, Some(j)) => j.schedule.clone(),
            (None, None) => {
                return Err(crate::domain::ValidationError::new(
                    "schedule",
                    "a new job needs a schedule",
                )
                .into())
            }
        };
        let params = spec
            .params
            .or_else(|| existing.as_ref().map(|j| j.params.clone()))
            .unwrap_or_else(|| json!({}));
        Runner::check_params(task, &params)?;
        let enabled = spec
            .enabled
            .or(existing.as_ref().map(|j| j.enabled))
            .unwrap_or(true);
        let schedule_changed = existing
            .as_ref()
            .is_none_or(|j| j.schedule.as_str() != schedule.as_str() || (!j.enabled && enabled));
        let next_run_at = match &existing {
            Some(j) if !schedule_changed => j.next_run_at,
            _ => schedule.next_after(at).ok_or_else(|| {
                crate::domain::ValidationError::new(
                    "schedule",
                    "the expression never matches a date",
                )
            })?,
        };
        let job = Job {
            name: name.to_string(),
            task,
            schedule,
            params,
            enabled,
            next_run_at,
            lease_holder: None,
            lease_expires_at: None,
            updated_at: at,
            updated_by: actor.name.clone(),
        };
        db::jobs::upsert(&mut tx, &job).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                if existing.is_some() { "job.update" } else { "job.create" },
                "job",
                name,
                None,
                json!({"task": task, "schedule": job.schedule.as_str(), "params": job.params, "enabled": enabled}),
            ),
            at,
        )
        .await?;
        tx.commit().await?;
        self.job(name).await
    }

    pub async fn delete_job(&self, actor: &Actor, name: &str) -> Result<()> {
        let at = now();
        let mut tx = self.0.db.begin().await?;
        if !db::jobs::delete(&mut tx, name).await? {
            return Err(job_not_found(name));
        }
        db::audit::insert(
            &mut tx,
            &actor.entry("job.delete", "job", name, None, json!({})),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs a job now, here, whatever its schedule (its next occurrence is
    /// left as it was); audited, and recorded like any run. The run goes on
    /// in its own task even if the caller stops waiting (a request timeout).
    pub async fn run_now(&self, actor: &Actor, name: &str) -> Result<JobRun> {
        let job = {
            let mut conn = self.0.db.pool().acquire().await?;
            db::jobs::find(&mut conn, name)
                .await?
                .ok_or_else(|| job_not_found(name))?
        };
        let mut conn = self.0.db.pool().acquire().await?;
        db::audit::insert(
            &mut conn,
            &actor.entry("job.run", "job", name, None, json!({"task": job.task})),
            now(),
        )
        .await?;
        drop(conn);
        let scheduler = self.clone();
        let actor = actor.clone();
        tokio::spawn(async move {
            scheduler
                .run(job, now(), Trigger::Manual, Some(&actor))
                .await
        })
        .await
        .map_err(|e| Error::internal("running a job", e))?
    }

    /// Runs newest first, of one job or all (at most 500).
    pub async fn runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>> {
        let mut conn = self.0.db.pool().acquire().await?;
        if let Some(name) = job {
            if db::jobs::find(&mut conn, name).await?.is_none() {
                return Err(job_not_found(name));
            }
        }
        Ok(db::jobs::runs(&mut conn, job, limit.clamp(1, 500)).await?)
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn view(j: Job, last_run: Option<JobRun>, at: DateTime<Utc>) -> JobView {
    let running_on = j
        .lease_expires_at
        .filter(|until| *until >= at)
        .and(j.lease_holder.clone());
    JobView {
        describes: j.schedule.describe(),
        schedule: j.schedule.as_str().to_string(),
        name: j.name,
        task: j.task,
        params: j.params,
        enabled: j.enabled,
        next_run_at: j.next_run_at,
        running_on,
        updated_at: j.updated_at,
        updated_by: j.updated_by,
        last_run,
    }
}
