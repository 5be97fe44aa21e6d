//! `keyward vault rotate-master|reseal|retire-master`: the vault's master keys.

use super::{cli_actor, core, service_error};
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum VaultCommand {
    /// Add a master key version and re-seal every secret under it (the server may keep running).
    /// Refused when the keyring comes from KEYWARD_MASTER_KEYS, and on PostgreSQL unless
    /// --only-replica (a version written here would be missing on other replicas).
    RotateMaster {
        #[arg(long)]
        json: bool,
        /// No other replica uses this database.
        #[arg(long)]
        only_replica: bool,
    },
    /// Re-seal every secret under the active master key version
    /// (after KEYWARD_MASTER_KEY_ACTIVE moved on every replica).
    Reseal {
        #[arg(long)]
        json: bool,
    },
    /// Remove an old master key version once nothing is sealed under it.
    RetireMaster {
        version: i64,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(settings: Settings, cmd: VaultCommand) -> Result<(), String> {
    let core = core(&settings).await?;
    let actor = cli_actor();
    let result = match cmd {
        VaultCommand::Reseal { json } => core
            .vault
            .reseal(&actor)
            .await
            .map(|(version, moved)| {
                if json {
                    println!("{}", serde_json::json!({"version": version, "resealed": moved}));
                } else {
                    println!("{moved} secrets re-sealed under master key version {version}");
                }
            })
            .map_err(service_error),
        VaultCommand::RotateMaster { json, only_replica } => core
            .vault
            .rotate_master(&actor, only_replica)
            .await
            .map(|(version, moved)| {
                if json {
                    println!("{}", serde_json::json!({"version": version, "resealed": moved}));
                } else {
                    println!("master key version {version} is current; {moved} secrets re-sealed under it");
                }
            })
            .map_err(service_error),
        VaultCommand::RetireMaster { version, json } => core
            .vault
            .retire_master(&actor, version)
            .await
            .map(|()| {
                if json {
                    println!("{}", serde_json::json!({"retired": version}));
                } else {
                    println!("master key version {version} retired");
                }
            })
            .map_err(service_error),
    };
    core.shutdown().await;
    result
}
