//! Namespaces isolate one tenant's cache entries from every other's, and
//! namespace patterns say which of them a key may touch.

use super::ids::{check_slug, NamespaceName, TenantId};
use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: NamespaceName,
    pub tenant_id: TenantId,
    pub sector: String,
    pub use_case: String,
    pub created_at: DateTime<Utc>,
}

/// One entry of a key's scope: an exact namespace name, or a prefix followed
/// by `*` (e.g. `jt_customer_*`) for a pooled key over many tenants' namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NamespacePattern {
    Exact(NamespaceName),
    Prefix(String),
}

impl NamespacePattern {
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        match value.strip_suffix('*') {
            Some(prefix) => {
                // An empty prefix would grant every namespace of every tenant.
                check_slug("scopes", prefix, NamespaceName::MAX_LEN - 1).map_err(|e| {
                    ValidationError::new(
                        "scopes",
                        format!("pattern '{value}': prefix {}", e.message),
                    )
                })?;
                Ok(Self::Prefix(prefix.to_string()))
            }
            None => Ok(Self::Exact(NamespaceName::parse_field("scopes", value)?)),
        }
    }

    pub fn matches(&self, namespace: &NamespaceName) -> bool {
        match self {
            Self::Exact(name) => name == namespace,
            Self::Prefix(prefix) => namespace.as_str().starts_with(prefix.as_str()),
        }
    }
}

impl TryFrom<String> for NamespacePattern {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<NamespacePattern> for String {
    fn from(value: NamespacePattern) -> String {
        value.to_string()
    }
}

impl fmt::Display for NamespacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name.as_str()),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// The namespace a dedicated key gets when the caller names none:
/// `<project>_<tenant>`, which a pooled pattern `<project>_*` also covers.
pub fn derive_namespace(
    project: &super::ids::ProjectId,
    tenant: &TenantId,
) -> Result<NamespaceName, ValidationError> {
    NamespaceName::parse(format!("{project}_{tenant}")).map_err(|_| {
        ValidationError::new(
            "namespace",
            format!(
                "the derived namespace '{project}_{tenant}' is longer than {} characters; give one explicitly",
                NamespaceName::MAX_LEN
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> NamespaceName {
        NamespaceName::parse(s).unwrap()
    }

    #[test]
    fn prefix_pattern_matches_only_names_with_that_prefix() {
        let p = NamespacePattern::parse("jt_customer_*").unwrap();
        assert!(p.matches(&ns("jt_customer_acme")));
        assert!(!p.matches(&ns("jt_other")));
        assert_eq!(p.to_string(), "jt_customer_*");
    }

    #[test]
    fn exact_pattern_matches_one_name() {
        let p = NamespacePattern::parse("jt_acme").unwrap();
        assert!(p.matches(&ns("jt_acme")));
        assert!(!p.matches(&ns("jt_acme2")));
    }

    #[test]
    fn bare_star_and_inner_star_are_rejected() {
        assert!(NamespacePattern::parse("*").is_err());
        assert!(NamespacePattern::parse("jt_*_x").is_err());
        assert!(NamespacePattern::parse("a b*").is_err());
    }
}
