//! Local secrets generated on first run (the root token, the key-hashing
//! pepper) live in the data directory, readable by the owner only.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Whether `load_or_create` found the file or had to make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Existing,
    Created,
}

/// Reads the secret at `path`, or writes `make()` there with mode 0600.
/// Creation is exclusive, so two processes starting at once agree on one value.
pub fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> io::Result<(String, Origin)> {
    match fs::read_to_string(path) {
        Ok(value) => {
            let mode = fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            return Ok((value.trim().to_string(), Origin::Existing));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let value = make();
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(value.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            Ok((value, Origin::Created))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((
            fs::read_to_string(path)?.trim().to_string(),
            Origin::Existing,
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let (a, origin) = load_or_create(&path, || "one".into()).unwrap();
        assert_eq!((a.as_str(), origin), ("one", Origin::Created));
        let (b, origin) = load_or_create(&path, || "two".into()).unwrap();
        assert_eq!((b.as_str(), origin), ("one", Origin::Existing));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
