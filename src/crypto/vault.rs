//! Envelope for provider secrets: AES-256-GCM under a keyring of versioned
//! master keys. Every ciphertext names its key version, has a fresh random
//! 96-bit nonce, and is bound by associated data to its owner, so a
//! ciphertext copied onto another row fails to open.
//!
//! The keyring lives in `<data dir>/master.keys` (mode 0600), one
//! `version:base64` line per key; `KEYWARD_MASTER_KEY`, when set, is version 1
//! and is never written to disk. The highest version seals new secrets; older
//! ones only open what they sealed until they are retired.
//!
//! For several replicas the whole keyring can instead come from
//! configuration (`KEYWARD_MASTER_KEYS`: every version; and
//! `KEYWARD_MASTER_KEY_ACTIVE`: the one that seals), the same on every
//! replica and never written to disk; such a keyring is changed only by
//! changing the configuration everywhere, never by `rotate-master`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;
use zeroize::{Zeroize, Zeroizing};

pub const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key version {0} is not in the keyring")]
    UnknownKeyVersion(i64),
    #[error("the secret failed authentication: it was tampered with, truncated, or belongs to another owner")]
    Tampered,
    #[error("the master key must be 32 bytes of base64: {0}")]
    BadMasterKey(String),
    #[error("keyring file: {0}")]
    Io(#[from] io::Error),
    #[error("the keyring comes from KEYWARD_MASTER_KEYS: change it there, on every replica")]
    Configured,
}

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_version: i64,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// One master key; its bytes are wiped when dropped.
struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    fn parse(b64: &str) -> Result<Self, VaultError> {
        let mut bytes = Zeroizing::new(
            B64.decode(b64.trim())
                .map_err(|e| VaultError::BadMasterKey(e.to_string()))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            let n = bytes.len();
            bytes.zeroize();
            return Err(VaultError::BadMasterKey(format!("got {n} bytes")));
        }
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }
}

struct Ring {
    keys: BTreeMap<i64, MasterKey>,
    /// The version that seals new secrets.
    active: i64,
    /// The keyring file as last read (to notice another process's rotation).
    file_modified: Option<FileStamp>,
}

pub struct Keyring {
    path: PathBuf,
    env_key: Option<String>,
    /// `KEYWARD_MASTER_KEYS` and `KEYWARD_MASTER_KEY_ACTIVE`, when the whole
    /// keyring comes from configuration (then no file is read or written).
    configured: Option<(Zeroizing<String>, Option<i64>)>,
    ring: RwLock<Ring>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("versions", &self.versions())
            .finish()
    }
}

/// What identifies a version of the keyring file: every rewrite is a rename
/// onto it (a new inode), so this changes even within one mtime tick.
type FileStamp = (u64, SystemTime, u64);

fn modified(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((m.ino(), m.modified().ok()?, m.len()))
}

fn read_file(path: &Path) -> Result<BTreeMap<i64, MasterKey>, VaultError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    parse_lines(&text)
}

/// `version:base64` lines.
fn parse_lines(text: &str) -> Result<BTreeMap<i64, MasterKey>, VaultError> {
    let mut keys = BTreeMap::new();
    for line in text.split_whitespace() {
        let (version, key) = line
            .split_once(':')
            .ok_or_else(|| VaultError::BadMasterKey("a keyring line lacks 'version:'".into()))?;
        let version: i64 = version
            .trim()
            .parse()
            .map_err(|_| VaultError::BadMasterKey("a keyring version is not a number".into()))?;
        keys.insert(version, MasterKey::parse(key)?);
    }
    Ok(keys)
}

fn write_file(path: &Path, lines: &[(i64, String)]) -> io::Result<()> {
    let tmp = path.with_extension("keys.tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut text = Zeroizing::new(String::new());
    for (version, key) in lines {
        text.push_str(&format!("{version}:{key}\n"));
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

impl Keyring {
    /// Opens the keyring of a data directory, creating version 1 on first
    /// run unless `env_key` (KEYWARD_MASTER_KEY) provides it.
    pub fn open(data_dir: &Path, env_key: Option<String>) -> Result<Self, VaultError> {
        let path = data_dir.join("master.keys");
        if env_key.is_none() && modified(&path).is_none() {
            let key = B64.encode(Zeroizing::new(super::random_bytes::<32>()).as_slice());
            match write_file_exclusive(&path, &format!("1:{key}\n")) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        let keyring = Self {
            path,
            env_key,
            configured: None,
            ring: RwLock::new(Ring {
                keys: BTreeMap::new(),
                active: 1,
                file_modified: None,
            }),
        };
        keyring.reload()?;
        Ok(keyring)
    }

    /// A keyring given whole by configuration: `versions` is
    /// `1:<base64>,2:<base64>` (commas or whitespace between), `active` the
    /// version that seals (default: the highest). `env_key`
    /// (`KEYWARD_MASTER_KEY`), if also given, must equal its version 1.
    pub fn configured(
        versions: &str,
        active: Option<i64>,
        env_key: Option<String>,
    ) -> Result<Self, VaultError> {
        let keyring = Self {
            path: PathBuf::new(),
            env_key,
            configured: Some((Zeroizing::new(versions.to_string()), active)),
            ring: RwLock::new(Ring {
                keys: BTreeMap::new(),
                active: 1,
                file_modified: None,
            }),
        };
        keyring.reload()?;
        Ok(keyring)
    }

    /// Whether the keyring comes from configuration (see [`Keyring::configured`]).
    pub fn is_configured(&self) -> bool {
        self.configured.is_some()
    }

    fn reload(&self) -> Result<(), VaultError> {
        if let Some((versions, active)) = &self.configured {
            let keys = parse_lines(&versions.replace(',', "\n"))?;
            if let Some(env) = &self.env_key {
                let one = keys.get(&1).map(|k| &k.0[..]);
                if one != Some(&MasterKey::parse(env)?.0[..]) {
                    return Err(VaultError::BadMasterKey(
                        "KEYWARD_MASTER_KEY differs from version 1 of KEYWARD_MASTER_KEYS".into(),
                    ));
                }
            }
            let highest = *keys
                .keys()
                .next_back()
                .ok_or_else(|| VaultError::BadMasterKey("the keyring is empty".into()))?;
            let active = active.unwrap_or(highest);
            if !keys.contains_key(&active) {
                return Err(VaultError::BadMasterKey(format!(
                    "the active version {active} is not in KEYWARD_MASTER_KEYS"
                )));
            }
            *self.ring.write().expect("keyring lock") = Ring {
                keys,
                active,
                file_modified: None,
            };
            return Ok(());
        }
        let file_modified = modified(&self.path);
        let mut keys = read_file(&self.path)?;
        if let Some(env) = &self.env_key {
            keys.insert(1, MasterKey::parse(env)?);
        }
        let Some(&active) = keys.keys().next_back() else {
            return Err(VaultError::BadMasterKey("the keyring is empty".into()));
        };
        *self.ring.write().expect("keyring lock") = Ring {
            keys,
            active,
            file_modified,
        };
        Ok(())
    }

    /// Re-reads the keyring file if another process (`keyward vault
    /// rotate-master`) changed it since it was read.
    fn refresh(&self) {
        if self.configured.is_some() {
            return;
        }
        let changed = modified(&self.path) != self.ring.read().expect("keyring lock").file_modified;
        if changed {
            if let Err(e) = self.reload() {
                tracing::error!(error = %e, "keyring reload failed; keeping the keys in memory");
            }
        }
    }

    /// Each version's fingerprint (see [`super::fingerprint`]), never the key.
    pub fn fingerprints(&self) -> Vec<(i64, String)> {
        self.refresh();
        self.ring
            .read()
            .expect("keyring lock")
            .keys
            .iter()
            .map(|(v, k)| (*v, super::fingerprint(&k.0[..], "master key")))
            .collect()
    }

    pub fn versions(&self) -> Vec<i64> {
        self.ring
            .read()
            .expect("keyring lock")
            .keys
            .keys()
            .copied()
            .collect()
    }

    pub fn current_version(&self) -> i64 {
        self.refresh();
        self.ring.read().expect("keyring lock").active
    }

    /// Seals `plaintext` under the current master key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, VaultError> {
        self.refresh();
        let ring = self.ring.read().expect("keyring lock");
        let version = ring.active;
        let key = ring
            .keys
            .get(&version)
            .ok_or(VaultError::UnknownKeyVersion(version))?;
        let nonce = super::random_bytes::<NONCE_LEN>();
        let ciphertext = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Tampered)?;
        Ok(Sealed {
            key_version: version,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a sealed secret; fails unless it is intact and bound to `aad`.
    pub fn open_sealed(
        &self,
        sealed: &Sealed,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if sealed.nonce.len() != NONCE_LEN || sealed.ciphertext.len() < 16 {
            return Err(VaultError::Tampered);
        }
        let known = self
            .ring
            .read()
            .expect("keyring lock")
            .keys
            .contains_key(&sealed.key_version);
        if !known {
            // Perhaps sealed under a version added by another process since.
            self.reload()?;
        }
        let ring = self.ring.read().expect("keyring lock");
        let key = ring
            .keys
            .get(&sealed.key_version)
            .ok_or(VaultError::UnknownKeyVersion(sealed.key_version))?;
        key.cipher()
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Tampered)
    }

    /// Adds a new master key version to the keyring file; returns it.
    pub fn add_version(&self) -> Result<i64, VaultError> {
        if self.is_configured() {
            return Err(VaultError::Configured);
        }
        self.reload()?;
        let mut lines = file_lines(&self.path)?;
        let next = self
            .versions()
            .last()
            .copied()
            .unwrap_or(0)
            .max(lines.iter().map(|(v, _)| *v).max().unwrap_or(0))
            + 1;
        lines.push((
            next,
            B64.encode(Zeroizing::new(super::random_bytes::<32>()).as_slice()),
        ));
        write_file(&self.path, &lines)?;
        for (_, key) in lines.iter_mut() {
            key.zeroize();
        }
        self.reload()?;
        Ok(next)
    }

    /// Removes a master key version from the keyring file (the caller checks
    /// first that nothing is sealed under it). The current version stays.
    pub fn retire_version(&self, version: i64) -> Result<bool, VaultError> {
        if self.is_configured() {
            return Err(VaultError::Configured);
        }
        if version == self.current_version() {
            return Ok(false);
        }
        let mut lines = file_lines(&self.path)?;
        let before = lines.len();
        lines.retain(|(v, _)| *v != version);
        let removed = lines.len() != before;
        if removed {
            write_file(&self.path, &lines)?;
        }
        for (_, key) in lines.iter_mut() {
            key.zeroize();
        }
        self.reload()?;
        Ok(removed)
    }
}

fn file_lines(path: &Path) -> Result<Vec<(i64, String)>, VaultError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(v, k)| Some((v.trim().parse().ok()?, k.trim().to_string())))
        .collect())
}

fn write_file_exclusive(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path(), None).unwrap();
        let a = ring.seal(b"sk-secret", b"owner-a").unwrap();
        let b = ring.seal(b"sk-secret", b"owner-a").unwrap();
        assert_ne!(a.nonce, b.nonce, "every seal takes a fresh nonce");
        assert_eq!(&ring.open_sealed(&a, b"owner-a").unwrap()[..], b"sk-secret");
        assert!(matches!(
            ring.open_sealed(&a, b"owner-b"),
            Err(VaultError::Tampered)
        ));
        let mut flipped = a.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open_sealed(&flipped, b"owner-a"),
            Err(VaultError::Tampered)
        ));
        let mut short = a.clone();
        short.ciphertext.truncate(5);
        assert!(matches!(
            ring.open_sealed(&short, b"owner-a"),
            Err(VaultError::Tampered)
        ));
    }

    #[test]
    fn new_versions_seal_while_old_ones_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path(), None).unwrap();
        let old = ring.seal(b"x", b"o").unwrap();
        assert_eq!(old.key_version, 1);
        // Another process adds a version: this one notices on its next seal.
        let other = Keyring::open(dir.path(), None).unwrap();
        assert_eq!(other.add_version().unwrap(), 2);
        let new = ring.seal(b"y", b"o").unwrap();
        assert_eq!(new.key_version, 2);
        assert_eq!(&ring.open_sealed(&old, b"o").unwrap()[..], b"x");
        assert!(other.retire_version(1).unwrap());
        assert!(matches!(
            other.open_sealed(&old, b"o"),
            Err(VaultError::UnknownKeyVersion(1))
        ));
        assert!(
            !other.retire_version(2).unwrap(),
            "the current version stays"
        );
    }

    #[test]
    fn an_environment_key_is_version_one_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let env = B64.encode([7u8; 32]);
        let ring = Keyring::open(dir.path(), Some(env.clone())).unwrap();
        assert_eq!(ring.versions(), [1]);
        assert!(!dir.path().join("master.keys").exists());
        let sealed = ring.seal(b"z", b"o").unwrap();
        let again = Keyring::open(dir.path(), Some(env)).unwrap();
        assert_eq!(&again.open_sealed(&sealed, b"o").unwrap()[..], b"z");
        assert!(Keyring::open(dir.path(), Some("short".into())).is_err());
    }
}
