//! `/admin/jobs` (scheduled jobs, their runs, run now, switch on or off) and
//! `/admin/webhooks` (endpoints and the delivery log, with replay). Forms
//! post to `api::admin_automation`; reading needs `jobs:read` /
//! `webhooks:read`, acting the write permission.

use super::admin::{page_error, sign_in_first, AdminBar, Notice};
use super::automation_data::{DeliveryRow, JobRow, JobsPageData, RunRow, WebhooksPageData};
use super::customer_data::AnomalyRow;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[server(prefix = "/admin/fn", endpoint = "jobs")]
pub async fn jobs_page() -> Result<Option<JobsPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use crate::domain::access::Permission;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    if !session.grants().permits(Permission::JobsRead) {
        return Err(ServerFnError::new(
            "this page needs the jobs:read permission",
        ));
    }
    let scheduler = &state.core.scheduler;
    let jobs = scheduler.jobs().await.map_err(server_error)?;
    let runs = scheduler.runs(None, 100).await.map_err(server_error)?;
    Ok(Some(super::automation_model::jobs_page(
        admin_view(session),
        jobs,
        runs,
    )))
}

#[server(prefix = "/admin/fn", endpoint = "webhooks")]
pub async fn webhooks_page() -> Result<Option<WebhooksPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use crate::domain::access::Permission;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    if !session.grants().permits(Permission::WebhooksRead) {
        return Err(ServerFnError::new(
            "this page needs the webhooks:read permission",
        ));
    }
    let hooks = &state.core.webhooks;
    let endpoints = hooks.endpoints().await.map_err(server_error)?;
    let deliveries = hooks
        .deliveries(None, None, 100)
        .await
        .map_err(server_error)?;
    Ok(Some(super::automation_model::webhooks_page(
        admin_view(session),
        endpoints,
        deliveries,
    )))
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| jobs_page());
    view! {
        <Suspense fallback=|| view! { <p>"Loading jobs..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Jobs page/> }.into_any(),
                    Ok(None) => sign_in_first().into_any(),
                    Err(e) => page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| webhooks_page());
    view! {
        <Suspense fallback=|| view! { <p>"Loading webhooks..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Webhooks page/> }.into_any(),
                    Ok(None) => sign_in_first().into_any(),
                    Err(e) => page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

fn job_notice(kind: &str, outcome: &str) -> Option<(bool, String)> {
    Some(match kind {
        "ran" if outcome == "succeeded" => (false, "The job ran and succeeded.".into()),
        "ran" => (true, "The job ran and failed: see its run below.".into()),
        "saved" => (false, "Saved.".into()),
        "bad-schedule" => (true, "Not saved: the schedule must be a cron expression in UTC, e.g. 0 2 * * * or 0 3 * * MON.".into()),
        "running" => (
            true,
            "The job is running on another replica; try again when it ends.".into(),
        ),
        "no-job" => (true, "There is no such job.".into()),
        "read-only" => (
            true,
            "Changing jobs needs the jobs:write permission.".into(),
        ),
        _ => return None,
    })
}

#[component]
fn Jobs(page: JobsPageData) -> impl IntoView {
    let query = use_query_map();
    let message = {
        let q = query.read_untracked();
        job_notice(
            q.get("notice").as_deref().unwrap_or(""),
            q.get("outcome").as_deref().unwrap_or(""),
        )
    };
    let csrf = page.admin.csrf_token.clone();
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>"Scheduled jobs"</h1>
            {message.map(|(error, text)| view! { <Notice error text/> })}
            <p class="muted">"Schedules are cron expressions in UTC. With several replicas, one runs each occurrence (a lease in the store); occurrences missed while no replica ran run once."</p>
            <JobTable jobs=page.jobs csrf/>
            <h2 id="runs-h">"Recent runs"</h2>
            <RunTable runs=page.runs/>
        </main>
    }
    .into_any()
}

#[component]
fn JobTable(jobs: Vec<JobRow>, csrf: String) -> impl IntoView {
    view! {
        <table class="customers" aria-label="Jobs">
            <thead><tr>
                <th scope="col">"Job"</th><th scope="col">"Task"</th><th scope="col">"Schedule"</th>
                <th scope="col">"Next run"</th><th scope="col">"Last outcome"</th><th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                {jobs.into_iter().map(|j| view! { <JobLine job=j csrf=csrf.clone()/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn JobLine(job: JobRow, csrf: String) -> impl IntoView {
    let j = job;
    let (switch_to, switch_label) = if j.enabled {
        ("off", "Turn off")
    } else {
        ("on", "Turn on")
    };
    let next = if j.enabled {
        j.next_run_at.clone()
    } else {
        "off".into()
    };
    view! {
        <tr data-job=j.name.clone()>
            <td><strong>{j.name.clone()}</strong><br/><span class="muted">{j.params}</span></td>
            <td>{j.task}</td>
            <td>
                <form method="post" action=format!("/admin/jobs/{}/schedule", j.name) class="inline">
                    <input type="hidden" name="csrf_token" value=csrf.clone()/>
                    <label for=format!("schedule-{}", j.name) class="muted">{j.describes}</label>
                    <input id=format!("schedule-{}", j.name) name="schedule" value=j.schedule required maxlength="100" size="14"/>
                    <button type="submit">"Save"</button>
                </form>
            </td>
            <td>{next}{(!j.running_on.is_empty()).then(|| view! { <br/><span class="badge">"running"</span> })}</td>
            <td><span class=format!("badge {}", j.last_outcome)>{j.last_outcome.clone()}</span></td>
            <td>
                <form method="post" action=format!("/admin/jobs/{}/run", j.name)>
                    <input type="hidden" name="csrf_token" value=csrf.clone()/>
                    <button type="submit">"Run now"</button>
                </form>
                <form method="post" action=format!("/admin/jobs/{}/enabled", j.name)>
                    <input type="hidden" name="csrf_token" value=csrf/>
                    <input type="hidden" name="enabled" value=switch_to/>
                    <button type="submit">{switch_label}</button>
                </form>
            </td>
        </tr>
    }
    .into_any()
}

#[component]
fn RunTable(runs: Vec<RunRow>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="empty">"No job has run yet."</p> }.into_any();
    }
    view! {
        <table class="customers" aria-labelledby="runs-h">
            <thead><tr>
                <th scope="col">"Job"</th><th scope="col">"Occurrence"</th><th scope="col">"Attempt"</th>
                <th scope="col">"Trigger"</th><th scope="col">"Started"</th><th scope="col">"Ended"</th>
                <th scope="col">"Outcome"</th><th scope="col">"What it changed"</th>
            </tr></thead>
            <tbody>
                {runs.into_iter().map(|r| view! {
                    <tr>
                        <td>{r.job}</td><td>{r.occurrence}</td><td>{r.attempt}</td><td>{r.trigger}</td>
                        <td>{r.started_at}</td><td>{r.ended_at}</td>
                        <td><span class=format!("badge {}", r.outcome)>{r.outcome.clone()}</span></td>
                        <td><code class="summary">{r.summary}</code></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

fn webhook_notice(kind: &str) -> Option<(bool, String)> {
    Some(match kind {
        "replayed" => (false, "Queued again: it goes out within a second.".into()),
        "gone" => (true, "That delivery or its endpoint is gone.".into()),
        "read-only" => (
            true,
            "Replaying needs the webhooks:write permission.".into(),
        ),
        _ => return None,
    })
}

#[component]
fn Webhooks(page: WebhooksPageData) -> impl IntoView {
    let query = use_query_map();
    let message = webhook_notice(
        query
            .read_untracked()
            .get("notice")
            .as_deref()
            .unwrap_or(""),
    );
    let csrf = page.admin.csrf_token.clone();
    let endpoints = if page.endpoints.is_empty() {
        view! { <p class="empty">"No endpoint yet: register one with POST /api/webhooks or keyward webhooks add."</p> }.into_any()
    } else {
        view! {
            <table class="customers" aria-label="Endpoints">
                <thead><tr><th scope="col">"Endpoint"</th><th scope="col">"URL"</th><th scope="col">"Tenant"</th><th scope="col">"Events"</th></tr></thead>
                <tbody>
                    {page.endpoints.into_iter().map(|e| view! {
                        <tr><td><code>{e.id}</code><br/><span class="muted">{e.description}</span></td><td>{e.url}</td><td>{e.tenant_id}</td><td>{e.events}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>"Webhooks"</h1>
            {message.map(|(error, text)| view! { <Notice error text/> })}
            <p class="muted">"Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) and retried with backoff."</p>
            {endpoints}
            <h2 id="deliveries-h">"Deliveries, newest first"</h2>
            <DeliveryTable deliveries=page.deliveries csrf/>
        </main>
    }
    .into_any()
}

#[component]
fn DeliveryTable(deliveries: Vec<DeliveryRow>, csrf: String) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="empty">"Nothing delivered yet."</p> }.into_any();
    }
    view! {
        <table class="customers" aria-labelledby="deliveries-h">
            <thead><tr>
                <th scope="col">"Created"</th><th scope="col">"Event"</th><th scope="col">"Tenant"</th>
                <th scope="col">"Endpoint"</th><th scope="col">"Status"</th><th scope="col">"Attempts"</th>
                <th scope="col">"Last answer"</th><th scope="col">"Replay"</th>
            </tr></thead>
            <tbody>
                {deliveries.into_iter().map(|d| view! {
                    <tr data-delivery=d.id.clone()>
                        <td>{d.created_at}</td><td>{d.event_type}</td><td>{d.tenant_id}</td>
                        <td><code>{d.endpoint_id}</code></td>
                        <td><span class=format!("badge {}", d.status)>{d.status.clone()}</span></td>
                        <td>{d.attempts}</td>
                        <td>{d.last_status_code}" "<span class="muted">{d.last_error}</span></td>
                        <td>
                            <form method="post" action=format!("/admin/webhooks/deliveries/{}/replay", d.id)>
                                <input type="hidden" name="csrf_token" value=csrf.clone()/>
                                <button type="submit">"Replay"</button>
                            </form>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Flagged cost anomalies (the customer page and the costs dashboard).
#[component]
pub fn AnomalySection(anomalies: Vec<AnomalyRow>) -> impl IntoView {
    let body = if anomalies.is_empty() {
        view! { <p class="empty">"No cost anomaly flagged in the last 30 days."</p> }.into_any()
    } else {
        view! {
            <table class="customers" aria-labelledby="anomalies-h">
                <thead><tr>
                    <th scope="col">"Day"</th><th scope="col">"Tenant"</th><th scope="col">"Service"</th>
                    <th scope="col">"Cost"</th><th scope="col">"Trailing mean"</th><th scope="col">"Above the mean"</th>
                </tr></thead>
                <tbody>
                    {anomalies.into_iter().map(|a| view! {
                        <tr><td>{a.day}</td><td>{a.tenant_id}</td><td>{a.service}</td><td>{a.cost}</td><td>{a.mean}</td><td>{a.score}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="anomalies-h">
            <h2 id="anomalies-h">"Cost anomalies"</h2>
            <p class="muted">"Days whose cost of a service was far above the tenant's trailing mean (the check-anomalies job)."</p>
            {body}
        </section>
    }
    .into_any()
}
