//! API keys: a stable key id with one or more secret versions, a scope of
//! namespaces, a status and an optional expiry. The rules that decide whether
//! a presented secret is accepted live here; hashing and storage do not.

use super::ids::{Integration, KeyId, NamespaceName, ProjectId, TenantId};
pub use super::limits::OverallLimits;
use super::namespace::NamespacePattern;
use super::plan::Plan;
use super::tenant::TenantStatus;
use super::ValidationError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The grace period an old secret keeps working after a rotation, unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::hours(24);
/// The longest grace period a rotation may ask for.
pub const MAX_GRACE: Duration = Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Disabled,
    /// Revoked for good (`DELETE /api/keys/{id}`): never accepted again.
    Revoked,
}

impl KeyStatus {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Revoked => "revoked",
        }
    }
}

/// Where a secret version stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretState {
    /// The newest version: no end date.
    Current,
    /// Replaced by a rotation, still accepted until its grace end.
    Grace,
    /// No longer accepted.
    Retired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    pub version: i64,
    /// A short, non-secret prefix of the key that identifies it to people.
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    /// Set when a rotation replaced this version: the end of its grace period.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SecretVersion {
    pub fn state(&self, now: DateTime<Utc>) -> SecretState {
        match self.expires_at {
            None => SecretState::Current,
            Some(end) if now < end => SecretState::Grace,
            Some(_) => SecretState::Retired,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub tenant_id: TenantId,
    pub integration: Integration,
    pub project_id: ProjectId,
    pub scopes: Vec<NamespacePattern>,
    /// What the platform calls the key ("" when unnamed).
    pub name: String,
    /// The platform's own labels (string keys and values), kept with the key.
    pub metadata: Metadata,
    /// Rights beyond the data plane, e.g. `secrets:read`.
    pub permissions: Vec<Permission>,
    pub status: KeyStatus,
    /// A per-key monthly request quota overriding the plan's figure.
    pub rate_limit: Option<i64>,
    /// Limits over every tenant the key serves together (a pooled key's own).
    pub overall: OverallLimits,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first.
    pub versions: Vec<SecretVersion>,
}

impl ApiKey {
    pub fn current_version(&self) -> Option<&SecretVersion> {
        self.versions.iter().rev().find(|v| v.expires_at.is_none())
    }

    pub fn allows(&self, namespace: &NamespaceName) -> bool {
        self.scopes.iter().any(|p| p.matches(namespace))
    }

    /// The first instant at which secret `version` is no longer accepted
    /// (the key's expiry or the end of the secret's grace), if any.
    pub fn valid_until(&self, version: i64) -> Option<DateTime<Utc>> {
        let secret = self
            .versions
            .iter()
            .find(|v| v.version == version)
            .and_then(|v| v.expires_at);
        match (self.expires_at, secret) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A right a key may carry beyond the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Read its own tenant's provider secrets from the vault.
    #[serde(rename = "secrets:read")]
    SecretsRead,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretsRead => "secrets:read",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "secrets:read" => Ok(Self::SecretsRead),
            other => Err(ValidationError::new(
                "permissions",
                format!("'{other}' is not a permission (secrets:read)"),
            )),
        }
    }
}

/// The outcome of presenting a key, as the verify endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    NotFound,
    Disabled,
    Revoked,
    Expired,
    ForbiddenNamespace,
    Malformed,
}

impl VerifyCode {
    pub fn is_valid(self) -> bool {
        self == Self::Valid
    }
}

/// What a verification needs to know besides the key itself.
pub struct VerifyContext<'a> {
    pub now: DateTime<Utc>,
    pub tenant_status: TenantStatus,
    /// The namespace asked for, and whether it exists.
    pub namespace: Option<(&'a NamespaceName, bool)>,
}

impl ApiKey {
    /// Decides whether secret `version` of this key is accepted. Order matters:
    /// a disabled or expired key says so before any namespace question is asked.
    pub fn check(&self, version: i64, ctx: &VerifyContext<'_>) -> VerifyCode {
        let Some(secret) = self.versions.iter().find(|v| v.version == version) else {
            return VerifyCode::NotFound;
        };
        if self.status == KeyStatus::Revoked {
            return VerifyCode::Revoked;
        }
        if self.status == KeyStatus::Disabled || ctx.tenant_status != TenantStatus::Active {
            return VerifyCode::Disabled;
        }
        if self.expires_at.is_some_and(|end| ctx.now >= end)
            || secret.state(ctx.now) == SecretState::Retired
        {
            return VerifyCode::Expired;
        }
        if let Some((namespace, exists)) = ctx.namespace {
            if !exists || !self.allows(namespace) {
                return VerifyCode::ForbiddenNamespace;
            }
        }
        VerifyCode::Valid
    }
}

/// A key's labels: at most 50, keys up to 40 characters, values up to 500.
pub type Metadata = std::collections::BTreeMap<String, String>;

pub const MAX_METADATA_ENTRIES: usize = 50;

pub fn check_metadata(metadata: &Metadata) -> Result<(), ValidationError> {
    let bad = |m: &str| Err(ValidationError::new("metadata", m.to_string()));
    if metadata.len() > MAX_METADATA_ENTRIES {
        return bad("at most 50 entries");
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > 40 || k.chars().any(char::is_control) {
            return bad("keys are 1 to 40 characters without control characters");
        }
        if v.chars().count() > 500 || v.chars().any(char::is_control) {
            return bad("values are at most 500 characters without control characters");
        }
    }
    Ok(())
}

/// A key's name: at most 100 characters, no control characters ("" unnamed).
pub fn check_key_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "at most 100 characters without control characters",
        ));
    }
    Ok(name.to_string())
}

/// How a rotation treats the secrets it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub grace: Duration,
}

impl Rotation {
    pub fn parse(grace_seconds: Option<i64>, immediate: bool) -> Result<Self, ValidationError> {
        if immediate {
            return Ok(Self {
                grace: Duration::zero(),
            });
        }
        let grace = match grace_seconds {
            None => DEFAULT_GRACE,
            Some(s) if s < 0 => {
                return Err(ValidationError::new(
                    "grace_seconds",
                    "must not be negative",
                ))
            }
            Some(s) if s > MAX_GRACE.num_seconds() => {
                return Err(ValidationError::new(
                    "grace_seconds",
                    format!("must be at most {} (30 days)", MAX_GRACE.num_seconds()),
                ))
            }
            Some(s) => Duration::seconds(s),
        };
        Ok(Self { grace })
    }

    /// When the replaced secrets stop working.
    pub fn grace_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.grace
    }
}

/// A per-key monthly quota must be positive and sane.
pub fn parse_rate_limit(value: Option<i64>) -> Result<Option<i64>, ValidationError> {
    match value {
        None => Ok(None),
        Some(n) if (1..=1_000_000_000_000).contains(&n) => Ok(Some(n)),
        Some(_) => Err(ValidationError::new(
            "rate_limit",
            "must be between 1 and 1000000000000 requests per month",
        )),
    }
}

/// A key's overall limits must be positive and sane.
pub fn check_overall_limits(limits: OverallLimits) -> Result<OverallLimits, ValidationError> {
    if limits
        .requests_per_second
        .is_some_and(|n| !(1..=10_000_000).contains(&n))
    {
        return Err(ValidationError::new(
            "overall_requests_per_second",
            "must be between 1 and 10000000 requests per second",
        ));
    }
    if limits
        .requests_per_month
        .is_some_and(|n| !(1..=1_000_000_000_000).contains(&n))
    {
        return Err(ValidationError::new(
            "overall_requests_per_month",
            "must be between 1 and 1000000000000 requests per month",
        ));
    }
    Ok(limits)
}

/// A key that expires must expire in the future.
pub fn parse_key_expiry(
    value: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    match value {
        Some(at) if at <= now => Err(ValidationError::new("expires_at", "must be in the future")),
        other => Ok(other),
    }
}

/// The plan a provisioning call asks for must match the tenant's if it already exists.
pub fn reconcile_plan(
    existing: Option<Plan>,
    requested: Option<Plan>,
) -> Result<Plan, (Plan, Plan)> {
    match (existing, requested) {
        (Some(have), Some(want)) if have != want => Err((have, want)),
        (Some(have), _) => Ok(have),
        (None, Some(want)) => Ok(want),
        (None, None) => Ok(Plan::Free),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(now: DateTime<Utc>) -> ApiKey {
        ApiKey {
            id: KeyId::from_random([1; 16]),
            tenant_id: TenantId::parse("acme").unwrap(),
            integration: Integration::parse("files").unwrap(),
            project_id: ProjectId::parse("jt").unwrap(),
            scopes: vec![NamespacePattern::parse("jt_acme").unwrap()],
            name: String::new(),
            metadata: Metadata::new(),
            permissions: Vec::new(),
            status: KeyStatus::Active,
            rate_limit: None,
            overall: OverallLimits::default(),
            expires_at: None,
            created_at: now,
            updated_at: now,
            versions: vec![
                SecretVersion {
                    version: 1,
                    display_prefix: "ac_files_aaaa".into(),
                    created_at: now,
                    expires_at: Some(now + Duration::seconds(10)),
                },
                SecretVersion {
                    version: 2,
                    display_prefix: "ac_files_bbbb".into(),
                    created_at: now,
                    expires_at: None,
                },
            ],
        }
    }

    fn ctx(now: DateTime<Utc>) -> VerifyContext<'static> {
        VerifyContext {
            now,
            tenant_status: TenantStatus::Active,
            namespace: None,
        }
    }

    #[test]
    fn old_secret_is_accepted_until_its_grace_end_only() {
        let now = Utc::now();
        let k = key(now);
        assert_eq!(k.check(1, &ctx(now)), VerifyCode::Valid);
        assert_eq!(
            k.check(1, &ctx(now + Duration::seconds(10))),
            VerifyCode::Expired
        );
        assert_eq!(
            k.check(2, &ctx(now + Duration::days(400))),
            VerifyCode::Valid
        );
    }

    #[test]
    fn disabled_wins_over_namespace_questions() {
        let now = Utc::now();
        let mut k = key(now);
        k.status = KeyStatus::Disabled;
        let other = NamespaceName::parse("other").unwrap();
        let c = VerifyContext {
            namespace: Some((&other, true)),
            ..ctx(now)
        };
        assert_eq!(k.check(2, &c), VerifyCode::Disabled);
    }

    #[test]
    fn namespace_outside_scope_or_missing_is_forbidden() {
        let now = Utc::now();
        let k = key(now);
        let mine = NamespaceName::parse("jt_acme").unwrap();
        let other = NamespaceName::parse("jt_other").unwrap();
        let c = |ns, exists| VerifyContext {
            namespace: Some((ns, exists)),
            ..ctx(now)
        };
        assert_eq!(k.check(2, &c(&mine, true)), VerifyCode::Valid);
        assert_eq!(k.check(2, &c(&mine, false)), VerifyCode::ForbiddenNamespace);
        assert_eq!(k.check(2, &c(&other, true)), VerifyCode::ForbiddenNamespace);
    }

    #[test]
    fn key_expiry_applies_to_every_version() {
        let now = Utc::now();
        let mut k = key(now);
        k.expires_at = Some(now + Duration::seconds(5));
        assert_eq!(
            k.check(2, &ctx(now + Duration::seconds(5))),
            VerifyCode::Expired
        );
    }

    #[test]
    fn rotation_grace_is_bounded() {
        assert_eq!(Rotation::parse(None, false).unwrap().grace, DEFAULT_GRACE);
        assert_eq!(
            Rotation::parse(Some(500), true).unwrap().grace,
            Duration::zero()
        );
        assert!(Rotation::parse(Some(-1), false).is_err());
        assert!(Rotation::parse(Some(MAX_GRACE.num_seconds() + 1), false).is_err());
    }
}

/// What verifying a presented key found.
#[derive(Debug, Clone)]
pub struct Verification {
    pub code: VerifyCode,
    pub key_id: Option<KeyId>,
    pub tenant_id: Option<TenantId>,
    pub namespace: Option<NamespaceName>,
    /// The tenant that owns the namespace (differs from `tenant_id` on pooled keys).
    pub namespace_tenant_id: Option<TenantId>,
    /// The plan of the namespace's tenant, whose limits apply.
    pub namespace_plan: Option<Plan>,
    /// The key tenant's plan.
    pub plan: Option<Plan>,
    /// The key's own monthly quota, if it has one.
    pub rate_limit: Option<i64>,
    /// The key's limits over every tenant it serves.
    pub overall: OverallLimits,
    pub permissions: Vec<Permission>,
    pub version: Option<i64>,
    /// When this secret (or the key) stops being accepted, if ever.
    pub valid_until: Option<DateTime<Utc>>,
}

impl Verification {
    pub fn bare(code: VerifyCode, namespace: Option<NamespaceName>) -> Self {
        Self {
            code,
            key_id: None,
            tenant_id: None,
            namespace,
            namespace_tenant_id: None,
            namespace_plan: None,
            plan: None,
            rate_limit: None,
            overall: OverallLimits::default(),
            permissions: Vec::new(),
            version: None,
            valid_until: None,
        }
    }
}
