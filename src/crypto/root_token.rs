//! The root admin token that guards the management API.

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Holds only the SHA-256 of the root token; presented tokens are hashed and
/// compared in constant time, so neither their length nor content leaks.
#[derive(Clone)]
pub struct RootToken {
    digest: [u8; 32],
}

impl fmt::Debug for RootToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootToken(..)")
    }
}

impl RootToken {
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&presented).into()
    }

    /// A fresh token: `kwroot_` and 43 base64url characters (256 bits).
    pub fn generate() -> String {
        use base64::Engine;
        let random =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(super::random_bytes::<32>());
        format!("kwroot_{random}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_token() {
        let t = RootToken::new("secret");
        assert!(t.matches("secret"));
        assert!(!t.matches("secret "));
        assert!(!t.matches(""));
    }

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let a = RootToken::generate();
        assert_eq!(a.len(), "kwroot_".len() + 43);
        assert_ne!(a, RootToken::generate());
    }
}
