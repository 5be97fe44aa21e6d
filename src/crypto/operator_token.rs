//! Operator tokens: `kwt_` and 40 base62 characters from the OS CSPRNG (about
//! 238 bits). Stored only as an HMAC-SHA256 digest under the pepper, like API
//! keys; shown once, when created.

use super::api_key::{base62_random, KeyDigest, KeyHasher};
use std::fmt;

pub const PREFIX: &str = "kwt_";
const SECRET_LEN: usize = 40;
/// Characters of the secret shown in the display prefix.
const DISPLAY_LEN: usize = 6;

/// A whole operator token in plain text; `Debug` never prints it.
pub struct PlainOperatorToken(String);

impl fmt::Debug for PlainOperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainOperatorToken({}…)", self.display_prefix())
    }
}

impl PlainOperatorToken {
    pub fn generate() -> Self {
        Self(format!("{PREFIX}{}", base62_random(SECRET_LEN)))
    }

    /// A presented string that has the token's shape (no storage touched).
    pub fn parse(value: &str) -> Option<Self> {
        let secret = value.strip_prefix(PREFIX)?;
        (secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(value.to_string()))
    }

    /// Whether a presented bearer is meant as an operator token at all.
    pub fn looks_like(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// Reveals the token: only for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn display_prefix(&self) -> String {
        self.0[..PREFIX.len() + DISPLAY_LEN].to_string()
    }

    pub fn digest(&self, hasher: &KeyHasher) -> KeyDigest {
        hasher.digest_str(&self.0)
    }
}

/// A token's id: `tok_` and 12 base62 characters.
pub fn new_token_id() -> String {
    format!("tok_{}", base62_random(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_never_print() {
        let t = PlainOperatorToken::generate();
        assert!(t.expose().starts_with("kwt_"));
        assert_eq!(t.expose().len(), 44);
        assert!(PlainOperatorToken::parse(t.expose()).is_some());
        assert!(PlainOperatorToken::parse(&t.expose()[..43]).is_none());
        assert!(PlainOperatorToken::parse("kwroot_abc").is_none());
        assert!(!format!("{t:?}").contains(&t.expose()[10..]));
        assert_ne!(t.expose(), PlainOperatorToken::generate().expose());
    }
}
