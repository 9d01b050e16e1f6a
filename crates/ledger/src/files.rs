//! Where a ledger lives on disk: the journal database in the data directory, its signing key
//! in a key directory kept apart from it, and its signed checkpoints beside the journal.
//!
//! ```text
//! <data-dir>/<name>.ledger                  SQLite journal (+ -wal, -shm)
//! <data-dir>/checkpoints/<name>/<size>.note signed checkpoints, one file each
//! <key-dir>/<name>.key                      private signing key (mode 0600)
//! <key-dir>/<name>.pub                      verifier key, for auditors
//! ```
//!
//! With PostgreSQL storage ([`LedgerFiles::storage`]) the journal is schema `veritrail_<name>`
//! of the database instead of the `.ledger` file; keys and checkpoints stay files.

use std::path::{Path, PathBuf};

use crate::checkpoint::CheckpointKey;
use crate::error::LedgerError;
use crate::journal::LedgerOptions;
use crate::storage::{StorageChoice, StorageError};

/// The paths of one ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFiles {
    pub name: String,
    pub data_dir: PathBuf,
    pub key_dir: PathBuf,
    /// Where the journal is: the `.ledger` file (the default) or a PostgreSQL database.
    pub storage: StorageChoice,
}

impl LedgerFiles {
    /// Paths for ledger `name`; the key directory defaults to `<data-dir>/keys`.
    pub fn new(name: &str, data_dir: &Path, key_dir: Option<&Path>) -> Self {
        Self {
            name: name.to_owned(),
            data_dir: data_dir.to_owned(),
            key_dir: key_dir.map_or_else(|| data_dir.join("keys"), Path::to_owned),
            storage: StorageChoice::Sqlite,
        }
    }

    /// The same ledger with its journal in `storage`.
    pub fn with_storage(self, storage: StorageChoice) -> Self {
        Self { storage, ..self }
    }

    /// Default ledger options, with the journal where these files say.
    pub fn options(&self) -> LedgerOptions {
        LedgerOptions {
            storage: self.storage.clone(),
            ..LedgerOptions::default()
        }
    }

    /// Whether the journal exists.
    pub fn journal_exists(&self) -> Result<bool, StorageError> {
        self.storage.ledger_exists(&self.journal())
    }

    pub fn journal(&self) -> PathBuf {
        self.data_dir.join(format!("{}.ledger", self.name))
    }

    pub fn private_key(&self) -> PathBuf {
        self.key_dir.join(format!("{}.key", self.name))
    }

    pub fn public_key(&self) -> PathBuf {
        self.key_dir.join(format!("{}.pub", self.name))
    }

    pub fn checkpoint_dir(&self) -> PathBuf {
        self.data_dir.join("checkpoints").join(&self.name)
    }

    /// The checkpoint covering `size` blocks.
    pub fn checkpoint(&self, size: u64) -> PathBuf {
        self.checkpoint_dir().join(format!("{size:020}.note"))
    }

    /// Writes a new key pair; refuses to overwrite an existing key.
    pub fn write_new_key(&self, key: &CheckpointKey) -> Result<(), LedgerError> {
        let io = |p: &Path, e: std::io::Error| LedgerError::Keys(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(&self.key_dir).map_err(|e| io(&self.key_dir, e))?;
        let private = self.private_key();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&private).map_err(|e| io(&private, e))?;
        use std::io::Write as _;
        writeln!(file, "{}", key.to_private_text()).map_err(|e| io(&private, e))?;
        file.sync_all().map_err(|e| io(&private, e))?;
        let public = self.public_key();
        std::fs::write(&public, format!("{}\n", key.verifier_key())).map_err(|e| io(&public, e))?;
        Ok(())
    }

    /// Reads the private key.
    pub fn read_key(&self) -> Result<CheckpointKey, LedgerError> {
        let path = self.private_key();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LedgerError::Keys(format!("the signing key {}: {e}", path.display())))?;
        CheckpointKey::from_private_text(&text)
    }

    /// Stores a signed checkpoint note durably.
    pub fn write_checkpoint(&self, size: u64, note: &str) -> Result<PathBuf, LedgerError> {
        let dir = self.checkpoint_dir();
        let io = |p: &Path, e: std::io::Error| LedgerError::Keys(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let path = self.checkpoint(size);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, note).map_err(|e| io(&tmp, e))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        Ok(path)
    }

    /// The newest checkpoint note, if any: (path, text).
    pub fn latest_checkpoint(&self) -> Result<Option<(PathBuf, String)>, LedgerError> {
        let dir = self.checkpoint_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::Keys(format!("{}: {e}", dir.display()))),
        };
        let latest = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "note"))
            .max();
        match latest {
            None => Ok(None),
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| LedgerError::Keys(format!("{}: {e}", p.display())))?;
                Ok(Some((p, text)))
            }
        }
    }
}
