//! Secret material: API-key generation, parsing and keyed hashing, the root
//! token, and the 0600 files in the data directory that hold local secrets.

pub mod api_key;
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
