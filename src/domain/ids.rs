//! Identifiers that cross the API boundary. Each is parsed once, at the edge,
//! and is valid by construction afterwards.

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The character set shared by tenant ids, namespace names and project ids:
/// `^[a-zA-Z0-9_-]{1,64}$`.
pub fn check_slug(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ValidationError::new(
            field,
            "may contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
                Self::parse_field($field, value)
            }

            /// Parses a value that arrived under another field name.
            pub fn parse_field(
                field: &'static str,
                value: impl Into<String>,
            ) -> Result<Self, ValidationError> {
                let value = value.into();
                check_slug(field, &value, $max)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A customer of the platform (`user_id` in the design's API).
    TenantId,
    "tenant_id",
    64
);
impl TenantId {
    /// Stands for every tenant a key serves, in the counters of a key's
    /// overall limits; `*` is no valid tenant id, so it never meets a real one.
    pub fn every() -> Self {
        Self("*".to_string())
    }

    pub fn is_every(&self) -> bool {
        self.0 == "*"
    }
}

slug_id!(
    /// An isolated cache namespace, owned by one tenant.
    NamespaceName,
    "namespace",
    64
);
slug_id!(
    /// The platform project a key was issued for (e.g. `jt`).
    ProjectId,
    "project_id",
    64
);

/// The integration a key is for; it is embedded in the key itself
/// (`ac_<integration>_<secret>`), so it is lowercase and short.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Integration(String);

impl Integration {
    pub const MAX_LEN: usize = 32;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ValidationError::new("integration", "must not be empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "integration",
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ValidationError::new(
                "integration",
                "may contain only lowercase letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Integration {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Integration> for String {
    fn from(value: Integration) -> String {
        value.0
    }
}

impl fmt::Display for Integration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable id of an API key: `key_` followed by 32 lowercase hex digits.
/// It never changes through rotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    pub const PREFIX: &'static str = "key_";

    /// Builds a key id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut s = String::with_capacity(36);
        s.push_str(Self::PREFIX);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        let ok = value
            .strip_prefix(Self::PREFIX)
            .map(|hex| {
                hex.len() == 32
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .unwrap_or(false);
        if ok {
            Ok(Self(value))
        } else {
            Err(ValidationError::new(
                "key_id",
                "must be 'key_' followed by 32 lowercase hex digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<KeyId> for String {
    fn from(value: KeyId) -> String {
        value.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_the_documented_charset_and_length() {
        assert!(TenantId::parse("acme_Co-42").is_ok());
        assert!(TenantId::parse("a".repeat(64)).is_ok());
        assert!(TenantId::parse("a".repeat(65)).is_err());
        assert!(TenantId::parse("").is_err());
        assert!(
            TenantId::parse("*").is_err(),
            "the marker of every tenant is no tenant id"
        );
        assert!(TenantId::parse("acme co").is_err());
        assert!(TenantId::parse("acmé").is_err());
    }

    proptest::proptest! {
        #[test]
        fn every_id_of_the_documented_pattern_is_accepted(id in "[a-zA-Z0-9_-]{1,64}") {
            let parsed = TenantId::parse(id.clone()).unwrap();
            proptest::prop_assert_eq!(parsed.as_str(), id.as_str());
            proptest::prop_assert!(NamespaceName::parse(id.clone()).is_ok());
            proptest::prop_assert!(ProjectId::parse(id).is_ok());
        }

        #[test]
        fn an_id_with_any_other_character_is_rejected(
            head in "[a-zA-Z0-9_-]{0,30}",
            bad in "[^a-zA-Z0-9_-]",
            tail in "[a-zA-Z0-9_-]{0,30}",
        ) {
            let id = format!("{head}{bad}{tail}");
            proptest::prop_assert!(TenantId::parse(id.clone()).is_err(), "accepted {:?}", id);
            proptest::prop_assert!(NamespaceName::parse(id).is_err());
        }

        #[test]
        fn an_id_longer_than_64_characters_is_rejected(id in "[a-zA-Z0-9_-]{65,200}") {
            proptest::prop_assert!(TenantId::parse(id).is_err());
        }

        #[test]
        fn key_ids_parse_only_in_their_own_shape(s in "\\PC{0,40}") {
            if let Ok(id) = KeyId::parse(s.clone()) {
                proptest::prop_assert!(s.starts_with("key_") && s.len() == 36);
                proptest::prop_assert_eq!(id.as_str(), s.as_str());
            }
        }
    }

    #[test]
    fn key_id_round_trips_from_random_bytes() {
        let id = KeyId::from_random([0xab; 16]);
        assert_eq!(KeyId::parse(id.as_str().to_string()).unwrap(), id);
        assert!(KeyId::parse("key_ABAB").is_err());
        assert!(KeyId::parse(format!("key_{}", "A".repeat(32))).is_err());
    }
}
