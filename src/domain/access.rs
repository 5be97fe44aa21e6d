//! Who may do what on the management side: the permissions an operator token
//! or a dashboard admin holds, and the tenants it may touch. One model for
//! both: an admin holds every permission, a viewer the read ones.

use super::admin::AdminRole;
use super::ids::{check_slug, TenantId};
use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One right on the management API. Each route needs exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// List and read tenants, their namespaces and plans.
    #[serde(rename = "tenants:read")]
    TenantsRead,
    /// Provision tenants, change their plan and status, create namespaces.
    #[serde(rename = "tenants:write")]
    TenantsWrite,
    /// List and read API keys (never their secrets).
    #[serde(rename = "keys:read")]
    KeysRead,
    /// Change API keys: name, labels, monthly quota override, expiry, scopes
    /// and permissions (granting `secrets:read` also needs `secrets:read`);
    /// rotate, disable, enable, revoke.
    #[serde(rename = "keys:write")]
    KeysWrite,
    /// Send usage events and flush usage.
    #[serde(rename = "usage:write")]
    UsageWrite,
    /// Usage reports, records, savings, cost analytics, forecasts, stats.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// Invoices, their exports, prices and plans.
    #[serde(rename = "billing:read")]
    BillingRead,
    /// Generate, push and settle invoices; set prices and plan figures.
    #[serde(rename = "billing:write")]
    BillingWrite,
    /// Resolve tenants' provider keys (the decrypted value) and list secrets'
    /// metadata, within the token's tenant scope; over every tenant only when
    /// granted by name.
    #[serde(rename = "secrets:read")]
    SecretsRead,
    /// Store, provision, rotate and check provider secrets.
    #[serde(rename = "secrets:write")]
    SecretsWrite,
    /// Create, list and revoke operator tokens; turn the root token off.
    #[serde(rename = "tokens:write")]
    TokensWrite,
    /// Read the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// List scheduled jobs and their runs.
    #[serde(rename = "jobs:read")]
    JobsRead,
    /// Create, change, delete and run jobs (a job acts with every right its task needs).
    #[serde(rename = "jobs:write")]
    JobsWrite,
    /// List webhook endpoints and deliveries.
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    /// Register and remove webhook endpoints, test them, replay deliveries.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Scrape `/metrics`.
    #[serde(rename = "metrics:read")]
    MetricsRead,
}

impl Permission {
    pub const ALL: [Permission; 17] = [
        Self::TenantsRead,
        Self::TenantsWrite,
        Self::KeysRead,
        Self::KeysWrite,
        Self::UsageWrite,
        Self::AnalyticsRead,
        Self::BillingRead,
        Self::BillingWrite,
        Self::SecretsRead,
        Self::SecretsWrite,
        Self::TokensWrite,
        Self::AuditRead,
        Self::JobsRead,
        Self::JobsWrite,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::MetricsRead,
    ];

    /// What a viewer holds: reading, except secrets.
    pub const READ: [Permission; 8] = [
        Self::TenantsRead,
        Self::KeysRead,
        Self::AnalyticsRead,
        Self::BillingRead,
        Self::AuditRead,
        Self::JobsRead,
        Self::WebhooksRead,
        Self::MetricsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantsRead => "tenants:read",
            Self::TenantsWrite => "tenants:write",
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::UsageWrite => "usage:write",
            Self::AnalyticsRead => "analytics:read",
            Self::BillingRead => "billing:read",
            Self::BillingWrite => "billing:write",
            Self::SecretsRead => "secrets:read",
            Self::SecretsWrite => "secrets:write",
            Self::TokensWrite => "tokens:write",
            Self::AuditRead => "audit:read",
            Self::JobsRead => "jobs:read",
            Self::JobsWrite => "jobs:write",
            Self::WebhooksRead => "webhooks:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::MetricsRead => "metrics:read",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "permissions",
                    format!(
                        "unknown permission {:?}; known: {}",
                        value.chars().take(40).collect::<String>(),
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tenants a credential may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant, and the platform-wide calls (prices, plans, tokens).
    All,
    /// Exactly this tenant.
    Tenant(TenantId),
    /// Every tenant whose id starts with this (written `prefix*`).
    Prefix(String),
}

impl TenantScope {
    /// `acme` is one tenant; `acme-*` every tenant whose id starts with `acme-`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value.strip_suffix('*') {
            Some(prefix) => {
                check_slug("tenant_scope", prefix, TenantId::MAX_LEN)?;
                Ok(Self::Prefix(prefix.to_string()))
            }
            None => Ok(Self::Tenant(TenantId::parse_field("tenant_scope", value)?)),
        }
    }

    pub fn covers(&self, tenant: &TenantId) -> bool {
        match self {
            Self::All => true,
            Self::Tenant(t) => t == tenant,
            Self::Prefix(p) => tenant.as_str().starts_with(p.as_str()),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// The stored and displayed form (`None` for all tenants).
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Tenant(t) => Some(t.to_string()),
            Self::Prefix(p) => Some(format!("{p}*")),
        }
    }
}

/// What a credential holds: permissions and the tenants they reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub permissions: BTreeSet<Permission>,
    pub tenants: TenantScope,
}

impl Grants {
    /// The root token: everything, everywhere.
    pub fn root() -> Self {
        Self {
            permissions: Permission::ALL.into_iter().collect(),
            tenants: TenantScope::All,
        }
    }

    /// A dashboard admin's: an admin holds every permission, a viewer the read ones.
    pub fn of_role(role: AdminRole) -> Self {
        let permissions = match role {
            AdminRole::Admin => Permission::ALL.into_iter().collect(),
            AdminRole::Viewer => Permission::READ.into_iter().collect(),
        };
        Self {
            permissions,
            tenants: TenantScope::All,
        }
    }

    pub fn permits(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Reading provider secrets of every tenant: allowed only when asked for
    /// by name (no wildcard), and shown as such.
    pub fn reads_every_tenants_secrets(&self) -> bool {
        self.permits(Permission::SecretsRead) && self.tenants.is_all()
    }
}

/// Parses a list of permission names; refuses an empty list and duplicates
/// are folded.
pub fn parse_permissions<S: AsRef<str>>(
    values: &[S],
) -> Result<BTreeSet<Permission>, ValidationError> {
    if values.is_empty() {
        return Err(ValidationError::new(
            "permissions",
            "name at least one permission",
        ));
    }
    values
        .iter()
        .map(|v| Permission::parse(v.as_ref()))
        .collect()
}

/// The permissions as stored: comma-separated names.
pub fn permissions_to_stored(permissions: &BTreeSet<Permission>) -> String {
    permissions
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn permissions_from_stored(value: &str) -> Result<BTreeSet<Permission>, ValidationError> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(Permission::parse)
        .collect()
}

/// An operator token as stored (its secret only as a digest, elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    /// `tok_` and 12 base62 characters: how the token is named in lists, the
    /// audit trail and revocation.
    pub id: String,
    pub name: String,
    /// `kwt_` and the first characters of the secret, to recognise it.
    pub display_prefix: String,
    pub grants: Grants,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl OperatorToken {
    /// Usable now: neither revoked nor past its expiry.
    pub fn is_live(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// active | expired | revoked
    pub fn state(&self, now: chrono::DateTime<chrono::Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.is_live(now) {
            "active"
        } else {
            "expired"
        }
    }

    /// How the token appears in the audit trail.
    pub fn actor_name(&self) -> String {
        format!("token:{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert!(Permission::parse("*").is_err());
        assert!(Permission::parse("keys:*").is_err());
        assert!(parse_permissions::<&str>(&[]).is_err());
    }

    #[test]
    fn scopes_cover_one_tenant_or_a_prefix() {
        let acme = TenantId::parse("acme").unwrap();
        let acme_eu = TenantId::parse("acme-eu").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        let one = TenantScope::parse("acme").unwrap();
        assert!(one.covers(&acme) && !one.covers(&acme_eu));
        let prefix = TenantScope::parse("acme-*").unwrap();
        assert!(prefix.covers(&acme_eu) && !prefix.covers(&acme) && !prefix.covers(&globex));
        assert_eq!(prefix.to_stored().as_deref(), Some("acme-*"));
        assert!(TenantScope::parse("*").is_err());
        assert!(TenantScope::parse("a b").is_err());
    }

    #[test]
    fn a_viewer_holds_the_read_permissions_only() {
        let viewer = Grants::of_role(AdminRole::Viewer);
        assert!(viewer.permits(Permission::KeysRead));
        assert!(!viewer.permits(Permission::KeysWrite));
        assert!(!viewer.permits(Permission::SecretsRead));
        assert!(Grants::of_role(AdminRole::Admin).permits(Permission::TokensWrite));
    }

    #[test]
    fn stored_permissions_round_trip() {
        let set = parse_permissions(&["keys:read", "audit:read", "keys:read"]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(
            permissions_from_stored(&permissions_to_stored(&set)).unwrap(),
            set
        );
    }
}
