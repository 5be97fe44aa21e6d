//! Admin accounts of the dashboard: who may sign in, and what they may do.

use super::ValidationError;
use serde::{Deserialize, Serialize};

/// An admin holds every permission; a viewer the read ones (see `access::Grants::of_role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    Admin,
    Viewer,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            _ => Err(ValidationError::new("role", "must be admin or viewer")),
        }
    }
}

/// An admin's sign-in name: an email address, kept lower-case.
pub fn parse_email(value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_ascii_lowercase();
    let bad = || ValidationError::new("email", "must be an email address like ops@example.com");
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || v.len() > 254
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
        || domain.contains('@')
    {
        return Err(bad());
    }
    Ok(v)
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Passwords: at least 12 characters (a passphrase), at most 1 KiB.
pub fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(parse_email(" Ops@Example.COM ").unwrap(), "ops@example.com");
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "ops@com",
            "o ps@example.com",
            "a@b@c.com",
            "ops@.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn roles_parse() {
        assert_eq!(AdminRole::parse("viewer").unwrap(), AdminRole::Viewer);
        assert!(AdminRole::parse("root").is_err());
    }
}
