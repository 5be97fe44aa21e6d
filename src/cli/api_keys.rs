//! `keyward keys ...`: API keys, over the API (see `remote`).

use super::remote::{enc, pairs, query, Server};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub(super) struct KeysArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Keys, optionally of one tenant (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One key with its secret versions.
    Show {
        key_id: String,
    },
    /// A tenant (created when new), its namespace and a key; prints the key once.
    Provision {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        integration: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        namespace: Option<String>,
        /// Extra namespace patterns (a pooled key), e.g. jt_customer_*.
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
        /// e.g. secrets:read
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Vec<String>,
        /// Monthly quota of this key.
        #[arg(long)]
        rate_limit: Option<i64>,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        parent: Option<String>,
    },
    /// Change a key in place (absent options stay as they are).
    Update {
        key_id: String,
        #[command(flatten)]
        changes: KeyChangeArgs,
    },
    /// A new secret; the old one works for the grace period (default 24 h).
    Rotate {
        key_id: String,
        #[arg(long)]
        grace_seconds: Option<i64>,
        #[arg(long)]
        immediate: bool,
    },
    Disable {
        key_id: String,
    },
    Enable {
        key_id: String,
    },
    /// Revoke for good (refused from the next request on).
    Revoke {
        key_id: String,
    },
}

#[derive(Debug, Args)]
struct KeyChangeArgs {
    #[arg(long)]
    name: Option<String>,
    /// Replace the labels: key=value (repeat).
    #[arg(long = "label")]
    labels: Vec<String>,
    #[arg(long, conflicts_with = "plan_quota")]
    rate_limit: Option<i64>,
    /// Drop the key's quota override (the plan's applies).
    #[arg(long)]
    plan_quota: bool,
    #[arg(long, conflicts_with = "no_expiry")]
    expires_at: Option<String>,
    #[arg(long)]
    no_expiry: bool,
    /// Replace the scopes (repeat or comma-separate).
    #[arg(long = "scope", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Replace the permissions (repeat or comma-separate).
    #[arg(long = "permission", value_delimiter = ',')]
    permissions: Vec<String>,
}

/// The body of `POST /api/provision` from the command's options.
fn provision_body(cmd: KeysCommand) -> Value {
    let KeysCommand::Provision {
        tenant,
        integration,
        project,
        tier,
        namespace,
        scopes,
        permissions,
        rate_limit,
        expires_at,
        name,
        parent,
    } = cmd
    else {
        return Value::Null;
    };
    let mut body = json!({"user_id": tenant, "integration": integration, "project_id": project});
    for (k, v) in [
        ("tier", tier),
        ("namespace", namespace),
        ("expires_at", expires_at),
        ("key_name", name),
        ("parent_id", parent),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if !scopes.is_empty() {
        body["scopes"] = json!(scopes);
    }
    if !permissions.is_empty() {
        body["permissions"] = json!(permissions);
    }
    if let Some(r) = rate_limit {
        body["rate_limit"] = json!(r);
    }
    body
}

/// The body of `PATCH /api/keys/{id}`: only what was given (null to clear).
fn patch_body(c: KeyChangeArgs) -> Result<Value, String> {
    let mut body = json!({});
    if let Some(n) = c.name {
        body["name"] = json!(n);
    }
    if !c.labels.is_empty() {
        body["metadata"] = pairs(&c.labels)?;
    }
    if let Some(r) = c.rate_limit {
        body["rate_limit"] = json!(r);
    }
    if c.plan_quota {
        body["rate_limit"] = Value::Null;
    }
    if let Some(e) = c.expires_at {
        body["expires_at"] = json!(e);
    }
    if c.no_expiry {
        body["expires_at"] = Value::Null;
    }
    if !c.scopes.is_empty() {
        body["scopes"] = json!(c.scopes);
    }
    if !c.permissions.is_empty() {
        body["permissions"] = json!(c.permissions);
    }
    Ok(body)
}

const KEY_COLUMNS: &[(&str, &str)] = &[
    ("KEY ID", "/key_id"),
    ("TENANT", "/tenant_id"),
    ("NAME", "/name"),
    ("STATUS", "/status"),
    ("PREFIX", "/display_prefix"),
    ("SCOPES", "/scopes"),
    ("QUOTA", "/rate_limit"),
    ("EXPIRES", "/expires_at"),
];

pub(super) async fn run(args: KeysArgs) -> Result<(), String> {
    let s = &args.server;
    let key_path = |id: &str, action: &str| format!("/api/keys/{}{action}", enc(id));
    match args.cmd {
        KeysCommand::List { tenant } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/keys{}", query(&[("tenant_id", tenant)])),
                    None,
                )
                .await?;
            s.show(&v, "/keys", KEY_COLUMNS);
        }
        KeysCommand::Show { key_id } => {
            let v = s.call(Method::GET, &key_path(&key_id, ""), None).await?;
            s.show(&v, "", KEY_COLUMNS);
        }
        cmd @ KeysCommand::Provision { .. } => {
            let v = s
                .call(Method::POST, "/api/provision", Some(provision_body(cmd)))
                .await?;
            if s.json {
                println!("{v}");
            } else {
                println!(
                    "keyward: key {} for tenant {} (namespace {}). It is shown once:\n\n    {}\n",
                    v["key_id"].as_str().unwrap_or(""),
                    v["tenant_id"].as_str().unwrap_or(""),
                    v["namespace"].as_str().unwrap_or("-"),
                    v["api_key"].as_str().unwrap_or("")
                );
            }
        }
        KeysCommand::Update { key_id, changes } => {
            let v = s
                .call(
                    Method::PATCH,
                    &key_path(&key_id, ""),
                    Some(patch_body(changes)?),
                )
                .await?;
            s.show(&v, "", KEY_COLUMNS);
        }
        KeysCommand::Rotate {
            key_id,
            grace_seconds,
            immediate,
        } => {
            let body = json!({"grace_seconds": grace_seconds, "immediate": immediate});
            let v = s
                .call(Method::POST, &key_path(&key_id, "/rotate"), Some(body))
                .await?;
            if s.json {
                println!("{v}");
            } else {
                println!(
                    "keyward: key {} rotated to version {}; the previous secret works until {}. The new one is shown once:\n\n    {}\n",
                    v["key_id"].as_str().unwrap_or(""),
                    v["version"],
                    v["previous_expires_at"].as_str().unwrap_or("-"),
                    v["api_key"].as_str().unwrap_or("")
                );
            }
        }
        KeysCommand::Disable { key_id } => {
            let v = s
                .call(Method::POST, &key_path(&key_id, "/disable"), None)
                .await?;
            s.show(&v, "", KEY_COLUMNS);
        }
        KeysCommand::Enable { key_id } => {
            let v = s
                .call(Method::POST, &key_path(&key_id, "/enable"), None)
                .await?;
            s.show(&v, "", KEY_COLUMNS);
        }
        KeysCommand::Revoke { key_id } => {
            let v = s.call(Method::DELETE, &key_path(&key_id, ""), None).await?;
            s.show(&v, "", KEY_COLUMNS);
        }
    }
    Ok(())
}
