//! `keyward admin add-user`: dashboard admin accounts.

use super::{cli_actor, core, service_error};
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum AdminCommand {
    /// Add an admin account. The password is read from stdin (piped), or
    /// prompted for without echo on a terminal; at least 12 characters.
    AddUser {
        email: String,
        /// admin (changes things) or viewer (sees everything, changes nothing).
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

/// The password for a new admin: prompted without echo on a terminal,
/// otherwise the first line of stdin.
fn read_password() -> Result<String, String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")
            .map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) async fn run(settings: Settings, cmd: AdminCommand) -> Result<(), String> {
    let AdminCommand::AddUser { email, role } = cmd;
    let role = crate::domain::admin::AdminRole::parse(&role).map_err(|e| e.to_string())?;
    let password = read_password()?;
    let core = core(&settings).await?;
    let result = core
        .admins
        .add_admin(&cli_actor(), &email, role, password)
        .await
        .map_err(service_error);
    core.shutdown().await;
    let email = result?;
    println!(
        "keyward: admin {email} added ({}); sign in at /admin/sign-in",
        role.as_str()
    );
    Ok(())
}
