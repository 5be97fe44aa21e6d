//! The API key format `ac_<integration>_<random><checksum>`:
//!
//! * `<random>` is 24 base62 characters from the OS CSPRNG (about 143 bits);
//! * `<checksum>` is the CRC-32 of everything before it, as 6 base62 characters,
//!   so a mistyped or truncated key is rejected without a database lookup.
//!
//! Only an HMAC-SHA256 digest of the whole key (keyed by a server-side secret,
//! the "pepper") is stored. A keyed fast hash, not argon2, is right here: the
//! keys carry 143 bits of entropy, so there is nothing to brute-force, and
//! verification sits on the hot path. Warning: changing the format or the
//! prefix invalidates every key already issued.

use crate::domain::ids::Integration;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const PREFIX: &str = "ac_";
pub const RANDOM_LEN: usize = 24;
pub const CHECKSUM_LEN: usize = 6;
/// Characters of the random part shown in the display prefix (24 of 143 bits).
const DISPLAY_LEN: usize = 4;
const MAX_KEY_LEN: usize = PREFIX.len() + Integration::MAX_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN;

/// A full API key in plain text. It exists only between generation and the
/// one response that shows it, and while a presented key is being checked.
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainApiKey(String);

impl fmt::Debug for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainApiKey({}…)", self.display_prefix())
    }
}

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    #[error("the key does not start with 'ac_'")]
    Prefix,
    #[error("the key is longer than any key keyward issues")]
    TooLong,
    #[error("the key has no valid integration part")]
    Integration,
    #[error("the key's secret part has the wrong length or characters")]
    Secret,
    #[error("the key's checksum does not match (mistyped or truncated?)")]
    Checksum,
}

pub(crate) fn base62_random(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in super::random_bytes::<32>() {
            // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut digits = [b'0'; CHECKSUM_LEN];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

impl PlainApiKey {
    /// A fresh key for `integration`, from the OS CSPRNG.
    pub fn generate(integration: &Integration) -> Self {
        let body = format!("{PREFIX}{integration}_{}", base62_random(RANDOM_LEN));
        let sum = checksum(&body);
        Self(body + &sum)
    }

    /// Checks the format and the checksum; touches no storage.
    pub fn parse(value: &str) -> Result<Self, MalformedKey> {
        if value.len() > MAX_KEY_LEN {
            return Err(MalformedKey::TooLong);
        }
        let rest = value.strip_prefix(PREFIX).ok_or(MalformedKey::Prefix)?;
        let (integration, secret) = rest.rsplit_once('_').ok_or(MalformedKey::Integration)?;
        Integration::parse(integration).map_err(|_| MalformedKey::Integration)?;
        if secret.len() != RANDOM_LEN + CHECKSUM_LEN
            || !secret.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(MalformedKey::Secret);
        }
        let (body, sum) = value.split_at(value.len() - CHECKSUM_LEN);
        if checksum(body) != sum {
            return Err(MalformedKey::Checksum);
        }
        Ok(Self(value.to_string()))
    }

    /// Reveals the key: only for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn integration(&self) -> &str {
        let rest = &self.0[PREFIX.len()..];
        rest.rsplit_once('_').map(|(i, _)| i).unwrap_or_default()
    }

    /// `ac_<integration>_` plus the first few characters of the random part.
    pub fn display_prefix(&self) -> String {
        let cut = self.0.len() - CHECKSUM_LEN - RANDOM_LEN + DISPLAY_LEN;
        self.0[..cut].to_string()
    }
}

/// The stored form of a key: HMAC-SHA256 under the server's pepper.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest(..)")
    }
}

/// Computes key digests. The pepper never leaves this type.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

impl KeyHasher {
    pub fn new(pepper: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC accepts keys of any length"),
        }
    }

    pub fn digest(&self, key: &PlainApiKey) -> KeyDigest {
        self.digest_str(&key.0)
    }

    /// The digest of another credential kept the same way (operator tokens).
    pub fn digest_str(&self, value: &str) -> KeyDigest {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        KeyDigest(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn integration() -> Integration {
        Integration::parse("files").unwrap()
    }

    #[test]
    fn generated_key_has_the_documented_shape() {
        let key = PlainApiKey::generate(&integration());
        let s = key.expose();
        assert!(s.starts_with("ac_files_"));
        assert_eq!(s.len(), "ac_files_".len() + RANDOM_LEN + CHECKSUM_LEN);
        assert_eq!(key.integration(), "files");
        assert_eq!(key.display_prefix().len(), "ac_files_".len() + DISPLAY_LEN);
        assert!(!format!("{key:?}").contains(&s[12..]));
    }

    #[test]
    fn two_keys_are_never_equal() {
        let a = PlainApiKey::generate(&integration());
        let b = PlainApiKey::generate(&integration());
        assert_ne!(a, b);
    }

    #[test]
    fn digest_depends_on_the_pepper() {
        let key = PlainApiKey::generate(&integration());
        assert_eq!(
            KeyHasher::new(b"a").digest(&key),
            KeyHasher::new(b"a").digest(&key)
        );
        assert_ne!(
            KeyHasher::new(b"a").digest(&key),
            KeyHasher::new(b"b").digest(&key)
        );
    }

    proptest! {
        #[test]
        fn generated_keys_always_parse(name in "[a-z0-9][a-z0-9_-]{0,31}") {
            let key = PlainApiKey::generate(&Integration::parse(name).unwrap());
            prop_assert_eq!(PlainApiKey::parse(key.expose()), Ok(key.clone()));
        }

        #[test]
        fn any_single_character_change_is_rejected(pos in 0usize..39, replacement in "[0-9A-Za-z_]") {
            let key = PlainApiKey::generate(&integration());
            let s = key.expose();
            let pos = pos % s.len();
            let mut chars: Vec<char> = s.chars().collect();
            let new = replacement.chars().next().unwrap();
            prop_assume!(chars[pos] != new);
            chars[pos] = new;
            let mutated: String = chars.into_iter().collect();
            prop_assert!(PlainApiKey::parse(&mutated).is_err(), "accepted {}", mutated);
        }

        #[test]
        fn truncated_keys_are_rejected(cut in 1usize..30) {
            let key = PlainApiKey::generate(&integration());
            let s = key.expose();
            prop_assert!(PlainApiKey::parse(&s[..s.len() - cut]).is_err());
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,120}") {
            let _ = PlainApiKey::parse(&s);
        }
    }
}
