//! The customer page's tenant actions (plain forms, posted to
//! `api::admin_tenants`): change the plan, suspend or resume, create and
//! delete namespaces, and erase the tenant after typing its id.

use leptos::prelude::*;

#[component]
pub fn TenantActions(
    tenant_id: String,
    plan: String,
    status: String,
    namespaces: Vec<String>,
    csrf: String,
) -> impl IntoView {
    view! {
        <section aria-labelledby="actions-h" class="card">
            <h2 id="actions-h">"Manage the customer"</h2>
            <PlanAndStatus tenant_id=tenant_id.clone() plan status csrf=csrf.clone()/>
            <Namespaces tenant_id=tenant_id.clone() namespaces csrf=csrf.clone()/>
            <Erase tenant_id csrf/>
        </section>
    }
    .into_any()
}

#[component]
fn PlanAndStatus(tenant_id: String, plan: String, status: String, csrf: String) -> impl IntoView {
    let action = format!("/admin/tenants/{tenant_id}");
    let suspended = status == "suspended";
    view! {
        <form class="inline" method="post" action=action.clone()>
            <input type="hidden" name="csrf_token" value=csrf.clone()/>
            <label for="plan-select">"Plan"</label>
            <select id="plan-select" name="plan">
                {["free", "pro", "enterprise"].map(|p| view! {
                    <option value=p selected=p == plan>{p}</option>
                }).collect_view()}
            </select>
            <button type="submit">"Change plan"</button>
        </form>
        <form class="inline" method="post" action=action>
            <input type="hidden" name="csrf_token" value=csrf/>
            {if suspended {
                view! {
                    <input type="hidden" name="status" value="active"/>
                    <button type="submit">"Resume"</button>
                }.into_any()
            } else {
                view! {
                    <input type="hidden" name="status" value="suspended"/>
                    <input type="checkbox" id="suspend-confirm" name="confirm" value="yes" required/>
                    <label for="suspend-confirm">"Confirm suspend"</label>
                    <button type="submit" class="danger">"Suspend"</button>
                }.into_any()
            }}
        </form>
    }
    .into_any()
}

#[component]
fn Namespaces(tenant_id: String, namespaces: Vec<String>, csrf: String) -> impl IntoView {
    view! {
        <h3>"Namespaces"</h3>
        <ul class="plain">
            {namespaces.into_iter().map(|ns| {
                let confirm = format!("ns-confirm-{ns}");
                view! {
                    <li data-namespace=ns.clone()>
                        <code>{ns.clone()}</code>
                        <form class="inline" method="post" action=format!("/admin/namespaces/{ns}/delete")>
                            <input type="hidden" name="csrf_token" value=csrf.clone()/>
                            <input type="checkbox" id=confirm.clone() name="confirm" value="yes" required/>
                            <label for=confirm>"Confirm delete (with its cached responses)"</label>
                            <button type="submit" class="danger">"Delete"</button>
                        </form>
                    </li>
                }
            }).collect_view()}
        </ul>
        <form class="inline" method="post" action=format!("/admin/tenants/{tenant_id}/namespaces")>
            <input type="hidden" name="csrf_token" value=csrf/>
            <label for="new-namespace">"New namespace"</label>
            <input id="new-namespace" name="name" required maxlength="64" placeholder="jt_acme_eu"/>
            <button type="submit">"Create namespace"</button>
        </form>
    }
    .into_any()
}

#[component]
fn Erase(tenant_id: String, csrf: String) -> impl IntoView {
    view! {
        <h3>"Erase"</h3>
        <p class="muted">
            "Deletes the customer's keys, namespaces, cached responses, provider secrets and usage. "
            "Its invoices are kept for legal retention, and the audit trail records the erasure."
        </p>
        <form method="post" action=format!("/admin/tenants/{tenant_id}/erase")>
            <input type="hidden" name="csrf_token" value=csrf/>
            <label for="erase-confirm">"Type the customer id (" <code>{tenant_id.clone()}</code> ") to confirm"</label>
            <input id="erase-confirm" name="confirm_id" required autocomplete="off"/>
            <button type="submit" class="danger">"Erase customer"</button>
        </form>
    }
    .into_any()
}
