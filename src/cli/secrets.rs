//! `keyward secrets get|provision|rotate <service> <tenant>` and `keyward
//! secrets list`: tenants' AI provider keys in the vault, on the store (the
//! stored secret's put, delete, versions, rollback, validate: `secret_store`).

use super::{cli_actor, core, service_error};
use crate::api::secrets::{ResolvedKey, SecretView};
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum SecretsCommand {
    /// Print the key a tenant gets for a service (customer, else managed, else pooled).
    Get {
        service: String,
        tenant: String,
        /// The tier whose pooled key is the last resort (default: the tenant's plan).
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Mint a managed key for the tenant at the provider.
    Provision {
        service: String,
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Secrets' names, kinds, versions and last validation (never values).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace the tenant's managed key with a freshly provisioned one.
    Rotate {
        service: String,
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Stored(super::secret_store::StoredCommand),
}

/// A stored secret's metadata: the API's `SecretView` with `--json`.
fn print_meta(meta: &crate::domain::secret::SecretMeta, json: bool) {
    if json {
        let view = SecretView::from(meta.clone());
        println!("{}", serde_json::to_string(&view).unwrap_or_default());
    } else {
        println!(
            "{:<40} {:<10} {:<8} {:>7}",
            "NAME", "SERVICE", "KIND", "VERSION"
        );
        println!(
            "{:<40} {:<10} {:<8} {:>7}",
            meta.name,
            meta.secret.service.as_str(),
            meta.secret.kind.as_str(),
            meta.version
        );
    }
}

/// Secrets' metadata: the API's `SecretView`s with `--json`, else a table.
fn print_list(list: Vec<crate::domain::secret::SecretMeta>, json: bool) {
    if json {
        let views: Vec<SecretView> = list.into_iter().map(Into::into).collect();
        println!("{}", serde_json::to_string(&views).unwrap_or_default());
        return;
    }
    println!(
        "{:<40} {:<10} {:<8} {:>7}  VALIDATION",
        "NAME", "SERVICE", "KIND", "VERSION"
    );
    for m in list {
        println!(
            "{:<40} {:<10} {:<8} {:>7}  {}",
            m.name,
            m.secret.service.as_str(),
            m.secret.kind.as_str(),
            m.version,
            m.last_validation.map(|v| v.as_str()).unwrap_or("-")
        );
    }
}

pub(super) async fn run(settings: Settings, cmd: SecretsCommand) -> Result<(), String> {
    use crate::domain::ids::TenantId;
    use crate::domain::secret::Service;
    let core = core(&settings).await?;
    let actor = cli_actor();
    let parse = |service: &str, tenant: &str| -> Result<(Service, TenantId), String> {
        Ok((
            Service::parse(service).map_err(|e| e.to_string())?,
            TenantId::parse(tenant).map_err(|e| e.to_string())?,
        ))
    };
    let result = match cmd {
        SecretsCommand::Stored(cmd) => super::secret_store::run(&core, cmd).await,
        SecretsCommand::Get {
            service,
            tenant,
            tier,
            json,
        } => {
            let (service, tenant) = parse(&service, &tenant)?;
            let tier = tier
                .map(|t| crate::domain::plan::Plan::parse_field("tier", &t))
                .transpose()
                .map_err(|e| e.to_string())?;
            let r = core
                .vault
                .resolve_secret(
                    &crate::services::vault::Caller::everything(),
                    &actor,
                    service,
                    &tenant,
                    tier,
                    None,
                )
                .await
                .map_err(service_error)?;
            if json {
                let view = ResolvedKey {
                    service: service.to_string(),
                    tenant_id: tenant.to_string(),
                    key: r.value.to_string(),
                    source: r.source.as_str().into(),
                    name: r.name.clone(),
                    version: r.version,
                };
                println!("{}", serde_json::to_string(&view).unwrap_or_default());
            } else {
                println!("{:<40} {:<8} {:>7}  KEY", "NAME", "SOURCE", "VERSION");
                println!(
                    "{:<40} {:<8} {:>7}  {}",
                    r.name,
                    r.source.as_str(),
                    r.version,
                    r.value.as_str()
                );
            }
            Ok(())
        }
        SecretsCommand::List { tenant, json } => {
            let tenant = tenant
                .map(TenantId::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            let list = core
                .vault
                .list_secrets(tenant.as_ref())
                .await
                .map_err(service_error)?;
            print_list(list, json);
            Ok(())
        }
        SecretsCommand::Provision {
            service,
            tenant,
            json,
        }
        | SecretsCommand::Rotate {
            service,
            tenant,
            json,
        } => {
            let (service, tenant) = parse(&service, &tenant)?;
            let meta = core
                .vault
                .provision_managed(&actor, service, &tenant, Some("cli"))
                .await
                .map_err(service_error)?;
            print_meta(&meta, json);
            Ok(())
        }
    };
    core.shutdown().await;
    result
}
