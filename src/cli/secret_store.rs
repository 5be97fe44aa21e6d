//! `keyward secrets put|delete|versions|rollback|validate <service> <tenant>`:
//! a tenant's stored provider secrets, on the store (the value of `put` is
//! read from stdin, never from the command line).

use super::{cli_actor, service_error};
use crate::api::secrets::SecretView;
use crate::domain::ids::TenantId;
use crate::domain::secret::{SecretKind, SecretRef, Service};
use crate::services::Keyward;
use clap::Args;

/// Which of a tenant's secrets.
#[derive(Debug, Args)]
pub(super) struct TenantSecret {
    service: String,
    tenant: String,
    /// managed | customer | admin
    #[arg(long, default_value = "managed")]
    kind: String,
    #[arg(long)]
    json: bool,
}

impl TenantSecret {
    fn secret(&self) -> Result<SecretRef, String> {
        let kind = SecretKind::parse(&self.kind).map_err(|e| e.to_string())?;
        if kind == SecretKind::Pooled {
            return Err("pooled keys belong to a tier; use PUT /api/secrets".into());
        }
        Ok(SecretRef::tenant(
            Service::parse(&self.service).map_err(|e| e.to_string())?,
            TenantId::parse(self.tenant.as_str()).map_err(|e| e.to_string())?,
            kind,
        ))
    }
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum StoredCommand {
    /// Store a value (read from stdin), checked with the provider unless --no-check.
    Put {
        #[command(flatten)]
        which: TenantSecret,
        #[arg(long)]
        no_check: bool,
    },
    /// Delete the secret and its kept versions (a customer key: the tenant
    /// falls back to its managed key, then the pooled one).
    Delete {
        #[command(flatten)]
        which: TenantSecret,
    },
    /// The kept previous versions (never values).
    Versions {
        #[command(flatten)]
        which: TenantSecret,
    },
    /// Make a kept previous version current again.
    Rollback {
        #[command(flatten)]
        which: TenantSecret,
        #[arg(long)]
        version: i64,
    },
    /// Check the stored key with its provider (an invalid managed key self-heals).
    Validate {
        #[command(flatten)]
        which: TenantSecret,
    },
}

fn print(meta: crate::domain::secret::SecretMeta, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(&SecretView::from(meta)).unwrap_or_default()
        );
    } else {
        println!(
            "{} version {} ({})",
            meta.name,
            meta.version,
            meta.secret.kind.as_str()
        );
    }
}

pub(super) async fn run(core: &Keyward, cmd: StoredCommand) -> Result<(), String> {
    let actor = cli_actor();
    let vault = &core.vault;
    match cmd {
        StoredCommand::Put { which, no_check } => {
            let mut value = String::new();
            std::io::stdin()
                .read_line(&mut value)
                .map_err(|e| format!("reading the value from stdin: {e}"))?;
            let value = zeroize::Zeroizing::new(value.trim_end_matches(['\r', '\n']).to_string());
            let meta = vault
                .put_secret(&actor, &which.secret()?, &value, !no_check)
                .await
                .map_err(service_error)?;
            print(meta, which.json);
        }
        StoredCommand::Delete { which } => {
            let secret = which.secret()?;
            vault
                .delete_secret(&actor, &secret)
                .await
                .map_err(service_error)?;
            println!("keyward: {} deleted", secret.name());
        }
        StoredCommand::Versions { which } => {
            let versions = vault
                .previous_versions(&which.secret()?)
                .await
                .map_err(service_error)?;
            if which.json {
                let rows: Vec<_> = versions
                    .iter()
                    .map(|v| {
                        serde_json::json!({"version": v.version, "key_version": v.key_version,
                        "created_at": v.created_at, "replaced_at": v.replaced_at})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!("{:>7}  {:>11}  REPLACED AT", "VERSION", "MASTER KEY");
                for v in versions {
                    println!("{:>7}  {:>11}  {}", v.version, v.key_version, v.replaced_at);
                }
            }
        }
        StoredCommand::Rollback { which, version } => {
            let meta = vault
                .rollback_secret(&actor, &which.secret()?, version)
                .await
                .map_err(service_error)?;
            print(meta, which.json);
        }
        StoredCommand::Validate { which } => {
            let checked = vault
                .check_secret(&actor, &which.secret()?)
                .await
                .map_err(service_error)?;
            println!(
                "keyward: {} is {}{}",
                checked.meta.name,
                checked.validation.as_str(),
                if checked.healed {
                    " (replaced by a newly provisioned key)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
