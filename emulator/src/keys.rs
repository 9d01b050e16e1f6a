//! The emulator's key store: secrets kept apart from the data (`aws.sqlite` never holds one),
//! in a directory only its owner may enter (mode 0700), one file per key (mode 0600), written
//! once and synced before use.
//!
//! ```text
//! <key-dir>/cloudtrail-signing/<valid-from-ms>.der   RSA private keys that sign digests (PKCS #1 DER)
//! <key-dir>/s3-integrity.key                         32 bytes: the MAC key of stored S3 versions
//! <key-dir>/kms/<key-id>.key                          32 bytes: a KMS key's AES-256 key material
//! ```
//!
//! Architecture Invariant: whoever can read the data directory but not the key directory can
//! neither forge a digest that validates nor alter a stored object undetected.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// A key file larger than this is not a key.
const MAX_KEY_FILE: u64 = 64 << 10;

/// A key store problem: the message names the path and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

fn io(path: &Path, e: std::io::Error) -> KeyError {
    KeyError(format!("the key store: {}: {e}", path.display()))
}

/// A directory of secrets.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| io(path, e))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> Result<(), KeyError> {
    Ok(())
}

impl KeyStore {
    /// Opens (creating it if needed) the key directory, and makes it private (0700).
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        restrict(dir, 0o700)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a new key file (0600, synced, as is its directory); refuses to overwrite one.
    pub fn write_new(&self, name: &str, bytes: &[u8]) -> Result<(), KeyError> {
        let path = self.path(name);
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
        restrict(&parent, 0o700)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(|e| io(&path, e))?;
        file.write_all(bytes).map_err(|e| io(&path, e))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        if let Ok(d) = std::fs::File::open(&parent) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Reads a key file (refusing one that others may read: it may have been replaced).
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, KeyError> {
        let path = self.path(name);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file
                .metadata()
                .map_err(|e| io(&path, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError(format!(
                    "the key store: {} may be read by others (mode {:o}); make it 0600",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io(&path, e))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError(format!(
                "the key store: {} is too large to be a key",
                path.display()
            )));
        }
        Ok(Some(bytes))
    }

    /// Removes a key file for good (a KMS key whose deletion date passed); one already gone is
    /// not an error.
    pub fn remove(&self, name: &str) -> Result<(), KeyError> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The names of the files in a subdirectory, sorted.
    pub fn list(&self, subdir: &str) -> Result<Vec<String>, KeyError> {
        let dir = self.path(subdir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// A 32-byte secret, made from the operating system's randomness the first time.
    pub fn secret(&self, name: &str) -> Result<[u8; 32], KeyError> {
        if let Some(bytes) = self.read(name)? {
            return bytes.try_into().map_err(|_| {
                KeyError(format!(
                    "the key store: {} is not a 32-byte key",
                    self.path(name).display()
                ))
            });
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| KeyError(format!("no randomness for a key: {e}")))?;
        self.write_new(name, &key)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_private_and_written_once() {
        let dir = std::env::temp_dir().join(format!("veritrail-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = KeyStore::open(&dir).unwrap();
        let a = store.secret("s3-integrity.key").unwrap();
        assert_eq!(store.secret("s3-integrity.key").unwrap(), a);
        store.write_new("cloudtrail-signing/1.der", b"k").unwrap();
        assert!(
            store
                .write_new("cloudtrail-signing/1.der", b"other")
                .is_err()
        );
        assert_eq!(store.list("cloudtrail-signing").unwrap(), ["1.der"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("s3-integrity.key")), 0o600);
            assert_eq!(mode(&dir.join("cloudtrail-signing")), 0o700);
            std::fs::set_permissions(
                dir.join("s3-integrity.key"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            assert!(store.secret("s3-integrity.key").is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
