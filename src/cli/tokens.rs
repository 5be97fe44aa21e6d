//! `keyward tokens create|list|revoke|root-token`: operator tokens for the
//! management API, and the bootstrap root token's switch. Works on the store
//! (whoever runs it holds every permission, like the root token).

use super::{cli_actor, core, service_error};
use crate::api::tokens::{CreatedTokenView, TokenView};
use crate::config::Settings;
use crate::services::operators::NewToken;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// Create a token; prints it once (only its digest is kept).
    Create {
        /// What the token is for, e.g. "provisioning backend".
        #[arg(long)]
        name: String,
        /// A permission (repeat or comma-separate), e.g. keys:read,keys:write.
        #[arg(long = "permission", required = true, value_delimiter = ',')]
        permissions: Vec<String>,
        /// Restrict it to one tenant (acme) or an id prefix (acme-*).
        #[arg(long)]
        tenant_scope: Option<String>,
        /// When it stops working (RFC 3339), e.g. 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Grant secrets:read over every tenant (never implied).
        #[arg(long)]
        all_tenants_secrets: bool,
        #[arg(long)]
        json: bool,
    },
    /// Every token, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token for good (by its id, tok_...).
    Revoke { id: String },
    /// Turn the root token off (needs a live token with tokens:write) or on.
    RootToken {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

fn print_table(tokens: &[TokenView]) {
    println!(
        "{:<17} {:<24} {:<8} {:<14} {:<20} PERMISSIONS",
        "ID", "NAME", "STATE", "TENANTS", "LAST USED"
    );
    for t in tokens {
        println!(
            "{:<17} {:<24} {:<8} {:<14} {:<20} {}",
            t.id,
            t.name.chars().take(24).collect::<String>(),
            t.state,
            t.tenant_scope.as_deref().unwrap_or("all"),
            t.last_used_at
                .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "never".into()),
            t.permissions.join(",")
        );
    }
}

pub(super) async fn run(settings: Settings, cmd: TokensCommand) -> Result<(), String> {
    let core = core(&settings).await?;
    let result = execute(&core.operators, cmd).await;
    core.shutdown().await;
    result
}

async fn execute(
    operators: &crate::services::operators::Operators,
    cmd: TokensCommand,
) -> Result<(), String> {
    let actor = cli_actor();
    match cmd {
        TokensCommand::Create {
            name,
            permissions,
            tenant_scope,
            expires_at,
            all_tenants_secrets,
            json,
        } => {
            let new = NewToken {
                name,
                permissions,
                tenant_scope,
                expires_at,
                all_tenants_secrets,
            };
            let created = operators
                .create(new, &crate::services::operators::Operator::root(), &actor)
                .await
                .map_err(service_error)?;
            let view = CreatedTokenView {
                token: created.secret.expose().to_string(),
                view: created.token.into(),
            };
            if json {
                println!("{}", serde_json::to_string(&view).unwrap_or_default());
            } else {
                println!(
                    "keyward: token {} created ({}). It is shown once:\n\n    {}\n",
                    view.view.id,
                    view.view.permissions.join(","),
                    view.token
                );
            }
        }
        TokensCommand::List { json } => {
            let tokens: Vec<TokenView> = operators
                .list()
                .await
                .map_err(service_error)?
                .into_iter()
                .map(Into::into)
                .collect();
            if json {
                println!("{}", serde_json::to_string(&tokens).unwrap_or_default());
            } else {
                print_table(&tokens);
            }
        }
        TokensCommand::Revoke { id } => {
            operators.revoke(&id, &actor).await.map_err(service_error)?;
            println!("keyward: token {id} revoked");
        }
        TokensCommand::RootToken { state } => {
            let on = state == "on";
            operators
                .set_root_enabled(on, &actor)
                .await
                .map_err(service_error)?;
            println!("keyward: the root token is turned {state}");
        }
    }
    Ok(())
}
