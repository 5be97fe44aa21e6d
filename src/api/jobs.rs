//! `/api/jobs`: scheduled jobs (cron, UTC), their runs, and running one now.

use super::access::{needs, Operator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
#[allow(unused_imports)]
use super::schemas::{JobName, TaskName, Timestamp};
use crate::domain::schedule::{JobRun, Task};
use crate::services::scheduler::{JobSpec, JobView, Scheduler};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunItem {
    pub id: String,
    pub job: String,
    /// The scheduled time this run is for (the request time for a manual run).
    #[schema(value_type = Timestamp)]
    pub occurrence: DateTime<Utc>,
    /// 1, or more when a replica died mid-run and another took over.
    pub attempt: i64,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The replica that ran it.
    pub replica: String,
    #[schema(value_type = Timestamp)]
    pub started_at: DateTime<Utc>,
    #[schema(value_type = Option<Timestamp>, nullable)]
    pub ended_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded`, `failed` or `abandoned`.
    pub outcome: String,
    /// What the run changed, or `{"error": ...}`.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

impl From<JobRun> for RunItem {
    fn from(r: JobRun) -> Self {
        Self {
            id: r.id,
            job: r.job,
            occurrence: r.occurrence,
            attempt: r.attempt,
            trigger: r.trigger.as_str().into(),
            replica: r.replica,
            started_at: r.started_at,
            ended_at: r.ended_at,
            outcome: r.outcome.as_str().into(),
            summary: r.summary,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobItem {
    pub name: String,
    #[schema(value_type = TaskName)]
    pub task: String,
    /// A cron expression, UTC (five fields, or six with seconds first).
    pub schedule: String,
    /// The schedule in words.
    pub describes: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub enabled: bool,
    /// The occurrence it runs for next.
    #[schema(value_type = Timestamp)]
    pub next_run_at: DateTime<Utc>,
    /// The replica running it now, if any.
    pub running_on: Option<String>,
    #[schema(value_type = Timestamp)]
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub last_run: Option<RunItem>,
}

impl From<JobView> for JobItem {
    fn from(j: JobView) -> Self {
        Self {
            name: j.name,
            task: j.task.as_str().into(),
            schedule: j.schedule,
            describes: j.describes,
            params: j.params,
            enabled: j.enabled,
            next_run_at: j.next_run_at,
            running_on: j.running_on,
            updated_at: j.updated_at,
            updated_by: j.updated_by,
            last_run: j.last_run.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobsPage {
    pub jobs: Vec<JobItem>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunsPage {
    pub runs: Vec<RunItem>,
}

/// A new job needs `task` and `schedule`; a change gives only what changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    #[schema(value_type = Option<TaskName>)]
    pub task: Option<String>,
    #[schema(max_length = 100, example = "0 2 * * *")]
    pub schedule: Option<String>,
    /// The task's options, e.g. `{"period": "previous_month"}` for invoices.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A job acts with keyward's rights: setting or running one also needs the
/// permission its task's work needs (`billing:write` for invoices, ...).
fn task_permission(
    operator: &Operator<needs::JobsWrite>,
    task: Option<Task>,
) -> Result<(), ApiError> {
    match task.and_then(Task::needs) {
        Some(p) if !operator.grants.permits(p) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            format!("this job's task needs the {p} permission too, which this token does not hold"),
        )),
        _ => Ok(()),
    }
}

fn limit(q: &RunsQuery) -> Result<i64, ApiError> {
    let n = q.limit.unwrap_or(50);
    if !(1..=500).contains(&n) {
        return Err(
            crate::domain::ValidationError::new("limit", "must be between 1 and 500").into(),
        );
    }
    Ok(n)
}

/// Every job with its next occurrence and its latest run.
#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    security(("operator_token" = ["jobs:read"])),
    responses(
        (status = 200, body = JobsPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_jobs(
    State(scheduler): State<Scheduler>,
    _operator: Operator<needs::JobsRead>,
) -> Result<Json<JobsPage>, ApiError> {
    Ok(Json(JobsPage {
        jobs: scheduler
            .jobs()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/jobs/{name}",
    tag = "jobs",
    params(("name" = JobName, Path)),
    security(("operator_token" = ["jobs:read"])),
    responses(
        (status = 200, body = JobItem),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_job(
    State(scheduler): State<Scheduler>,
    _operator: Operator<needs::JobsRead>,
    Path(name): Path<String>,
) -> Result<Json<JobItem>, ApiError> {
    Ok(Json(scheduler.job(&name).await?.into()))
}

/// Creates or changes a job; a new or changed schedule counts from now. A
/// new job needs `task` and `schedule`; the schedule must be a cron
/// expression (UTC) that matches some date, and `params` must suit the task
/// (422 with the field otherwise).
#[utoipa::path(
    put,
    path = "/api/jobs/{name}",
    tag = "jobs",
    params(("name" = JobName, Path)),
    request_body = JobBody,
    security(("operator_token" = ["jobs:write"])),
    responses(
        (status = 200, body = JobItem),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_job(
    State(scheduler): State<Scheduler>,
    operator: Operator<needs::JobsWrite>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<JobBody>,
) -> Result<Json<JobItem>, ApiError> {
    let task = body.task.as_deref().map(Task::parse).transpose()?;
    let effective = match task {
        Some(t) => Some(t),
        None => scheduler.job(&name).await.ok().map(|j| j.task),
    };
    task_permission(&operator, effective)?;
    let spec = JobSpec {
        task,
        schedule: body.schedule,
        params: body.params,
        enabled: body.enabled,
    };
    Ok(Json(
        scheduler
            .set_job(&operator.actor, &name, spec)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/jobs/{name}",
    tag = "jobs",
    params(("name" = JobName, Path)),
    security(("operator_token" = ["jobs:write"])),
    responses(
        (status = 204, description = "Deleted (its runs stay in the history)"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_job(
    State(scheduler): State<Scheduler>,
    operator: Operator<needs::JobsWrite>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    scheduler.delete_job(&operator.actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a job now, on this replica, and answers when it has finished; its
/// schedule is unchanged.
#[utoipa::path(
    post,
    path = "/api/jobs/{name}/run",
    tag = "jobs",
    params(("name" = JobName, Path)),
    security(("operator_token" = ["jobs:write"])),
    responses(
        (status = 200, description = "The run (its outcome may be failed)", body = RunItem),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "JOB_RUNNING: another run holds the job", body = ErrorBody),
    )
)]
pub async fn run_job(
    State(scheduler): State<Scheduler>,
    operator: Operator<needs::JobsWrite>,
    Path(name): Path<String>,
) -> Result<Json<RunItem>, ApiError> {
    let job = scheduler.job(&name).await?;
    task_permission(&operator, Some(job.task))?;
    Ok(Json(
        scheduler.run_now(&operator.actor, &name).await?.into(),
    ))
}

/// A job's runs, newest first.
#[utoipa::path(
    get,
    path = "/api/jobs/{name}/runs",
    tag = "jobs",
    params(("name" = JobName, Path), RunsQuery),
    security(("operator_token" = ["jobs:read"])),
    responses(
        (status = 200, body = RunsPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn job_runs(
    State(scheduler): State<Scheduler>,
    _operator: Operator<needs::JobsRead>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<RunsPage>, ApiError> {
    let n = limit(&q)?;
    Ok(Json(RunsPage {
        runs: scheduler
            .runs(Some(&name), n)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}
