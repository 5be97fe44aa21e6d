//! Tenants: the platform's customers, with optional parent organisations.

use super::ids::TenantId;
use super::plan::Plan;
use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, ValidationError> {
        match value {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(ValidationError::new(
                field,
                format!("'{other}' is not a tenant status; expected active or suspended"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub plan: Plan,
    pub parent_id: Option<TenantId>,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
}

/// Display names are free text, but bounded and single-line.
pub fn parse_display_name(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > 200 {
        return Err(ValidationError::new(
            field,
            "must be at most 200 characters",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// Free text such as a namespace's sector or use case: bounded, may be empty.
pub fn parse_free_text(field: &'static str, value: &str) -> Result<String, ValidationError> {
    if value.chars().count() > 500 {
        return Err(ValidationError::new(
            field,
            "must be at most 500 characters",
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}
