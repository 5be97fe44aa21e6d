//! `keyward tenants ...` and `keyward namespaces ...`, over the API (see `remote`).

use super::remote::{query, Server};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub(super) struct TenantsArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: TenantsCommand,
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// Tenants in id order.
    List {
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        offset: Option<i64>,
    },
    /// One tenant: plan limits, namespaces, key count.
    Show { id: String },
    /// A tenant's direct sub-organisations.
    Children { id: String },
    /// Rename, change the plan, suspend or resume, or move under a parent.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        /// active | suspended
        #[arg(long)]
        status: Option<String>,
        /// Move under this tenant.
        #[arg(long, conflicts_with = "top_level")]
        parent: Option<String>,
        /// Make it a top-level tenant.
        #[arg(long)]
        top_level: bool,
    },
    /// Suspend: every key of the tenant is refused from the next request on.
    Suspend { id: String },
    /// Reactivate a suspended tenant.
    Resume { id: String },
    /// Erase the tenant (keys, namespaces, cached responses, secrets, usage);
    /// invoices and the audit trail stay. Give the id twice to confirm.
    Erase {
        id: String,
        /// The tenant id again.
        #[arg(long)]
        confirm: String,
    },
}

const TENANT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("NAME", "/name"),
    ("PLAN", "/plan"),
    ("STATUS", "/status"),
    ("PARENT", "/parent_id"),
    ("CREATED", "/created_at"),
];

pub(super) async fn run_tenants(args: TenantsArgs) -> Result<(), String> {
    let s = &args.server;
    let patch = |id: &str, body: Value| {
        let path = format!("/api/tenants/{}", super::remote::enc(id));
        async move { s.call(Method::PATCH, &path, Some(body)).await }
    };
    match args.cmd {
        TenantsCommand::List {
            plan,
            limit,
            offset,
        } => {
            let q = query(&[
                ("plan", plan),
                ("limit", limit.map(|l| l.to_string())),
                ("offset", offset.map(|o| o.to_string())),
            ]);
            let v = s
                .call(Method::GET, &format!("/api/tenants{q}"), None)
                .await?;
            s.show(&v, "/tenants", TENANT_COLUMNS);
        }
        TenantsCommand::Show { id } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/tenants/{}", super::remote::enc(&id)),
                    None,
                )
                .await?;
            s.show(&v, "", TENANT_COLUMNS);
            if !s.json {
                let names: Vec<&str> = v["namespaces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n["name"].as_str())
                    .collect();
                println!("\nnamespaces: {}", names.join(", "));
                println!("keys: {}", v["key_count"]);
                println!("limits: {}", v["limits"]);
            }
        }
        TenantsCommand::Children { id } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/tenants/{}/children", super::remote::enc(&id)),
                    None,
                )
                .await?;
            s.show(&v, "/children", TENANT_COLUMNS);
        }
        TenantsCommand::Update {
            id,
            name,
            plan,
            status,
            parent,
            top_level,
        } => {
            let mut body = json!({"name": name, "plan": plan, "status": status});
            if let Some(o) = body.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            match (parent, top_level) {
                (Some(p), _) => body["parent_id"] = json!(p),
                (None, true) => body["parent_id"] = Value::Null,
                (None, false) => {}
            }
            let v = patch(&id, body).await?;
            s.show(&v, "", TENANT_COLUMNS);
        }
        TenantsCommand::Suspend { id } => {
            let v = patch(&id, json!({"status": "suspended"})).await?;
            s.show(&v, "", TENANT_COLUMNS);
        }
        TenantsCommand::Resume { id } => {
            let v = patch(&id, json!({"status": "active"})).await?;
            s.show(&v, "", TENANT_COLUMNS);
        }
        TenantsCommand::Erase { id, confirm } => {
            if confirm != id {
                return Err(format!("not erased: --confirm must repeat the id ({id})"));
            }
            let v = s
                .call(
                    Method::DELETE,
                    &format!("/api/tenants/{}", super::remote::enc(&id)),
                    None,
                )
                .await?;
            if s.json {
                println!("{v}");
            } else {
                println!("keyward: tenant {id} erased: {v}");
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct NamespacesArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: NamespacesCommand,
}

#[derive(Debug, Subcommand)]
enum NamespacesCommand {
    /// Namespaces by name, optionally of one tenant.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a namespace for a tenant.
    Create {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        sector: Option<String>,
        #[arg(long)]
        use_case: Option<String>,
    },
    /// Delete a namespace with its cached responses.
    Delete { name: String },
}

const NAMESPACE_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "/name"),
    ("TENANT", "/tenant_id"),
    ("SECTOR", "/sector"),
    ("USE CASE", "/use_case"),
    ("CREATED", "/created_at"),
];

pub(super) async fn run_namespaces(args: NamespacesArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        NamespacesCommand::List { tenant } => {
            let q = query(&[("tenant_id", tenant)]);
            let v = s
                .call(Method::GET, &format!("/api/namespaces{q}"), None)
                .await?;
            s.show(&v, "/namespaces", NAMESPACE_COLUMNS);
        }
        NamespacesCommand::Create {
            name,
            tenant,
            sector,
            use_case,
        } => {
            let body =
                json!({"name": name, "user_id": tenant, "sector": sector, "use_case": use_case});
            let v = s.call(Method::POST, "/api/namespaces", Some(body)).await?;
            s.show(&v, "", NAMESPACE_COLUMNS);
        }
        NamespacesCommand::Delete { name } => {
            let v = s
                .call(
                    Method::DELETE,
                    &format!("/api/namespaces/{}", super::remote::enc(&name)),
                    None,
                )
                .await?;
            s.show(
                &v,
                "",
                &[("DELETED", "/name"), ("CACHED ENTRIES", "/cached_entries")],
            );
        }
    }
    Ok(())
}
