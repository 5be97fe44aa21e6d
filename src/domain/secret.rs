//! Provider secrets: which AI services keyward holds keys for, the kinds of
//! key, their names, and the order a tenant's request resolves them in.

use super::ids::TenantId;
use super::plan::Plan;
use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A third-party AI service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    OpenAi,
    Anthropic,
    Hume,
    ElevenLabs,
    Deepgram,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Self::OpenAi,
        Self::Anthropic,
        Self::Hume,
        Self::ElevenLabs,
        Self::Deepgram,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Hume => "hume",
            Self::ElevenLabs => "elevenlabs",
            Self::Deepgram => "deepgram",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "service",
                    format!(
                        "'{value}' is not one of openai, anthropic, hume, elevenlabs, deepgram"
                    ),
                )
            })
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a secret is to its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretKind {
    /// A dedicated key the platform holds for the tenant.
    Managed,
    /// The tenant's own key (bring your own key).
    Customer,
    /// Credentials that can provision keys at the provider.
    Admin,
    /// The platform's shared key for every tenant on a tier.
    Pooled,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::Customer => "customer",
            Self::Admin => "admin",
            Self::Pooled => "pooled",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        [Self::Managed, Self::Customer, Self::Admin, Self::Pooled]
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "kind",
                    format!("'{value}' is not managed, customer, admin or pooled"),
                )
            })
    }
}

/// Whose secret it is: a tenant's, the platform pool's for a tier, or the
/// platform's own (its admin credentials at a provider).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretOwner {
    Tenant(TenantId),
    Pool(Plan),
    Platform,
}

impl SecretOwner {
    /// The stored owner column: the tenant id, or `pool:<tier>` (tenant ids
    /// never contain ':').
    pub fn key(&self) -> String {
        match self {
            Self::Tenant(t) => t.to_string(),
            Self::Pool(p) => format!("pool:{}", p.as_str()),
            Self::Platform => "platform:".into(),
        }
    }

    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Tenant(t) => Some(t),
            _ => None,
        }
    }
}

/// The identity of one secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    pub service: Service,
    pub owner: SecretOwner,
    pub kind: SecretKind,
}

impl SecretRef {
    pub fn tenant(service: Service, tenant: TenantId, kind: SecretKind) -> Self {
        Self {
            service,
            owner: SecretOwner::Tenant(tenant),
            kind,
        }
    }

    /// The platform's admin credentials at a provider.
    pub fn platform_admin(service: Service) -> Self {
        Self {
            service,
            owner: SecretOwner::Platform,
            kind: SecretKind::Admin,
        }
    }

    pub fn pool(service: Service, tier: Plan) -> Self {
        Self {
            service,
            owner: SecretOwner::Pool(tier),
            kind: SecretKind::Pooled,
        }
    }

    /// The design's name: `ai-{service}-{tenantId}[-customer|-admin]`, and
    /// `ai-{service}-pool-{tier}` for pooled keys.
    pub fn name(&self) -> String {
        let service = self.service.as_str();
        match (&self.owner, self.kind) {
            (SecretOwner::Pool(tier), _) => format!("ai-{service}-pool-{}", tier.as_str()),
            (SecretOwner::Platform, _) => format!("ai-{service}-platform-admin"),
            (SecretOwner::Tenant(t), SecretKind::Customer) => format!("ai-{service}-{t}-customer"),
            (SecretOwner::Tenant(t), SecretKind::Admin) => format!("ai-{service}-{t}-admin"),
            (SecretOwner::Tenant(t), _) => format!("ai-{service}-{t}"),
        }
    }

    /// Associated data binding a ciphertext to this secret: opening it under
    /// any other identity fails.
    pub fn associated_data(&self) -> Vec<u8> {
        format!(
            "keyward-secret-v1\n{}\n{}\n{}\n{}",
            self.service.as_str(),
            self.owner.key(),
            self.kind.as_str(),
            self.name()
        )
        .into_bytes()
    }
}

/// The order a tenant's request for a service's key is answered in.
pub fn resolution_order(service: Service, tenant: &TenantId, tier: Plan) -> [SecretRef; 3] {
    [
        SecretRef::tenant(service, tenant.clone(), SecretKind::Customer),
        SecretRef::tenant(service, tenant.clone(), SecretKind::Managed),
        SecretRef::pool(service, tier),
    ]
}

/// The outcome of checking a key with its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    Valid,
    /// The provider refused the key (401 / 403).
    Invalid,
    /// The provider could not say (down, slow, unexpected answer).
    Unavailable,
}

impl Validation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Valid, Self::Invalid, Self::Unavailable]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

/// What is known about a secret without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub secret: SecretRef,
    pub name: String,
    pub version: i64,
    pub key_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_validated_at: Option<DateTime<Utc>>,
    pub last_validation: Option<Validation>,
}

/// A provider key value must look like one: printable, no whitespace, sane length.
pub fn check_secret_value(value: &str) -> Result<(), ValidationError> {
    if value.len() < 8 || value.len() > 4096 {
        return Err(ValidationError::new(
            "value",
            "must be between 8 and 4096 characters",
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            "value",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_design_convention() {
        let t = TenantId::parse("acme").unwrap();
        let name = |kind| SecretRef::tenant(Service::OpenAi, t.clone(), kind).name();
        assert_eq!(name(SecretKind::Managed), "ai-openai-acme");
        assert_eq!(name(SecretKind::Customer), "ai-openai-acme-customer");
        assert_eq!(name(SecretKind::Admin), "ai-openai-acme-admin");
        assert_eq!(
            SecretRef::pool(Service::Hume, Plan::Free).name(),
            "ai-hume-pool-free"
        );
    }

    #[test]
    fn associated_data_differs_for_every_identity() {
        let a = TenantId::parse("acme").unwrap();
        let b = TenantId::parse("acme-customer").unwrap();
        let ids = [
            SecretRef::tenant(Service::OpenAi, a.clone(), SecretKind::Customer),
            SecretRef::tenant(Service::OpenAi, a.clone(), SecretKind::Managed),
            SecretRef::tenant(Service::OpenAi, b, SecretKind::Managed),
            SecretRef::tenant(Service::Anthropic, a, SecretKind::Managed),
            SecretRef::pool(Service::OpenAi, Plan::Free),
        ];
        let aads: std::collections::HashSet<_> = ids.iter().map(|i| i.associated_data()).collect();
        assert_eq!(aads.len(), ids.len());
    }
}
