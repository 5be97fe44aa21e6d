//! Secret material: API-key generation, parsing and keyed hashing, the root
//! token, and the 0600 files in the data directory that hold local secrets.

pub mod api_key;
pub mod operator_token;
pub mod password;
pub mod root_token;
pub mod secret_file;
pub mod vault;

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS CSPRNG failing is not recoverable: without entropy no key is safe to issue.
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

/// A fingerprint of a secret that may be stored beside data without
/// revealing it: hex HMAC-SHA256 keyed by the secret over a fixed label
/// (for a low-entropy secret, key it by a high-entropy one and put the
/// secret in the label, so the database alone cannot be brute-forced).
pub fn fingerprint(key: &[u8], label: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"keyward fingerprint v1\0");
    mac.update(label.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
