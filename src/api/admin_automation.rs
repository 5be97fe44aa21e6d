//! The jobs and webhooks pages' actions, for a signed-in admin:
//! `POST /admin/jobs/{name}/run` (needs `jobs:write`), `POST
//! /admin/jobs/{name}/enabled` (switch on or off), and `POST
//! /admin/webhooks/deliveries/{id}/replay` (needs `webhooks:write`).

use super::admin_session::{admin_gate, see_other};
use super::error::ApiError;
use super::extract::request_id;
use crate::domain::access::Permission;
use crate::services::scheduler::{JobSpec, Scheduler};
use crate::services::webhooks::Webhooks;
use crate::services::Error;
use crate::web::session::SignedInAdmin;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

const JOBS: &str = "/admin/jobs";
const WEBHOOKS: &str = "/admin/webhooks";

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf_token: String,
}

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    pub csrf_token: String,
    pub schedule: String,
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    pub csrf_token: String,
    /// on | off
    pub enabled: String,
}

pub async fn run_job(
    State(scheduler): State<Scheduler>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(
        &session,
        &form.csrf_token,
        Some(JOBS),
        Permission::JobsWrite,
    )? {
        return Ok(refused);
    }
    let notice = match scheduler
        .run_now(&session.actor(request_id(&headers)), &name)
        .await
    {
        Ok(run) => format!("ran&outcome={}", run.outcome.as_str()),
        Err(Error::Conflict { .. }) => "running".into(),
        Err(Error::NotFound { .. }) => "no-job".into(),
        Err(e) => return Err(e.into()),
    };
    Ok(see_other(&format!("{JOBS}?notice={notice}")))
}

pub async fn set_enabled(
    State(scheduler): State<Scheduler>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Result<Response, ApiError> {
    let spec = JobSpec {
        task: None,
        schedule: None,
        params: None,
        enabled: Some(form.enabled == "on"),
    };
    save_job(
        &scheduler,
        &session,
        &headers,
        &form.csrf_token,
        &name,
        spec,
    )
    .await
}

/// A new cron expression for a job (it needs the job's task's permission
/// too, as over the API: an admin holds every permission).
pub async fn set_schedule(
    State(scheduler): State<Scheduler>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, ApiError> {
    let spec = JobSpec {
        task: None,
        schedule: Some(form.schedule),
        params: None,
        enabled: None,
    };
    save_job(
        &scheduler,
        &session,
        &headers,
        &form.csrf_token,
        &name,
        spec,
    )
    .await
}

/// The jobs page's change of one job: gated, saved, and back to the page
/// with what happened.
async fn save_job(
    scheduler: &Scheduler,
    session: &crate::services::admins::AdminSession,
    headers: &HeaderMap,
    csrf_token: &str,
    name: &str,
    spec: JobSpec,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(session, csrf_token, Some(JOBS), Permission::JobsWrite)? {
        return Ok(refused);
    }
    let notice = match scheduler
        .set_job(&session.actor(request_id(headers)), name, spec)
        .await
    {
        Ok(_) => "saved",
        Err(Error::Validation(_)) => "bad-schedule",
        Err(Error::NotFound { .. }) => "no-job",
        Err(e) => return Err(e.into()),
    };
    Ok(see_other(&format!("{JOBS}?notice={notice}")))
}

pub async fn replay(
    State(webhooks): State<Webhooks>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(
        &session,
        &form.csrf_token,
        Some(WEBHOOKS),
        Permission::WebhooksWrite,
    )? {
        return Ok(refused);
    }
    let notice = match webhooks
        .replay(&session.actor(request_id(&headers)), &id)
        .await
    {
        Ok(_) => "replayed",
        Err(Error::NotFound { .. } | Error::Conflict { .. }) => "gone",
        Err(e) => return Err(e.into()),
    };
    Ok(see_other(&format!("{WEBHOOKS}?notice={notice}")))
}

pub fn router() -> axum::Router<crate::startup::AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/admin/jobs/{name}/run", post(run_job))
        .route("/admin/jobs/{name}/enabled", post(set_enabled))
        .route("/admin/jobs/{name}/schedule", post(set_schedule))
        .route("/admin/webhooks/deliveries/{id}/replay", post(replay))
}
