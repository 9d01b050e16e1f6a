//! Verifying a whole ledger, and importing a journal export only once it verifies: the work of
//! `veritrail ledger verify` and `ledger import`, as library functions with typed reports.
//!
//! The checking is done by `veritrail-verify`, which shares no code with this crate: the
//! verifier never runs the code that produced what it checks. This module only reads what is
//! stored and hands it over, then compares what the verifier rebuilt with the derived hashes
//! kept for proofs.

use std::fmt;
use std::path::Path;

use veritrail_core::Hash32;
use veritrail_core::ion_rs::Element;
use veritrail_verify::{JournalVerifier, parse_digest, verify_checkpoint};

use crate::checkpoint::{CheckpointKey, origin};
use crate::error::LedgerError;
use crate::export::read_export;
use crate::files::LedgerFiles;
use crate::journal::{Ledger, LedgerOptions};
use crate::storage::{Storage as _, StorageError};

/// What failed verification, with the check that caught it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Broken {
    /// A block does not verify or cannot be read: its hashes, chain link, sequence or layout.
    Block(String),
    /// A derived hash kept for proofs (a subtree hash, a block's revision hashes) disagrees with
    /// the blocks.
    StoredHash(String),
    /// The signed checkpoint is not valid, or the journal does not reproduce it.
    Checkpoint(String),
    /// The journal does not reproduce a saved digest.
    Digest(String),
}

impl Broken {
    /// The name of the check, as `--json` reports it.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Block(_) => "block",
            Self::StoredHash(_) => "stored hash",
            Self::Checkpoint(_) => "checkpoint",
            Self::Digest(_) => "digest",
        }
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block(m) | Self::StoredHash(m) | Self::Checkpoint(m) | Self::Digest(m) => {
                f.write_str(m)
            }
        }
    }
}

/// Why a verification or an import did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The journal (or the export) failed verification; for an import, nothing was written.
    Broken(Broken),
    /// Something given cannot be used: a key, checkpoint, digest or export that cannot be read,
    /// or an import into a ledger that exists.
    Input(String),
    /// The ledger cannot be opened or written.
    Ledger(LedgerError),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broken(b) => write!(f, "{b}"),
            Self::Input(m) => f.write_str(m),
            Self::Ledger(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<LedgerError> for VerifyError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

impl From<Broken> for VerifyError {
    fn from(b: Broken) -> Self {
        Self::Broken(b)
    }
}

/// A ledger that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerReport {
    pub name: String,
    pub strand_id: String,
    pub blocks: u64,
    /// The digest the verifier rebuilt from every block, at the last block.
    pub digest: Hash32,
    /// Blocks covered by the signed checkpoint the journal reproduces; `None` without one.
    pub checkpoint_size: Option<u64>,
}

impl LedgerReport {
    /// The last block's sequence number.
    pub fn tip(&self) -> u64 {
        self.blocks.saturating_sub(1)
    }
}

/// A signed checkpoint to hold a journal to: the note, the verifier key to trust, and where
/// the note came from (for messages).
#[derive(Debug, Clone, Copy)]
pub struct CheckpointToCheck<'a> {
    pub note: &'a str,
    pub verifier_key: &'a str,
    pub source: &'a str,
}

/// Reads a small text file named on the command line (a key, a checkpoint note, a saved
/// digest), at most 1 MiB of it: `/dev/zero` is refused, not read until memory runs out.
fn read(what: &str, path: &Path) -> Result<String, VerifyError> {
    use std::io::Read as _;
    const LIMIT: u64 = 1 << 20;
    let failed = |e: String| VerifyError::Input(format!("{what} {}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| failed(e.to_string()))?;
    if bytes.len() as u64 > LIMIT {
        return Err(failed(format!("larger than {LIMIT} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| failed("not UTF-8 text".into()))
}

/// Verifies the ledger `files` names: opens it read-only, finds the checkpoint to check
/// (`checkpoint`, else the newest stored one) and the key to trust (`public_key`, else the
/// ledger's own `.pub`), and runs [`verify_journal`]. `progress(done, total)` is called every
/// 100,000 blocks.
pub fn verify_ledger(
    files: &LedgerFiles,
    public_key: Option<&Path>,
    checkpoint: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<LedgerReport, VerifyError> {
    let ledger = Ledger::open_read_only(&files.journal(), files.options())?;
    let note = match checkpoint {
        Some(p) => Some((p.display().to_string(), read("the checkpoint", p)?)),
        None => files
            .latest_checkpoint()?
            .map(|(p, text)| (p.display().to_string(), text)),
    };
    let key = match &note {
        Some(_) => {
            let path = public_key.map_or_else(|| files.public_key(), Path::to_owned);
            Some(read("the public key", &path)?)
        }
        None => None,
    };
    let to_check = match (&note, &key) {
        (Some((source, note)), Some(verifier_key)) => Some(CheckpointToCheck {
            note,
            verifier_key,
            source,
        }),
        _ => None,
    };
    verify_journal(&ledger, to_check, progress)
}

/// Recomputes every revision hash, block hash, chain link and subtree hash of `ledger` with the
/// independent verifier, compares the derived hashes stored for proofs, and checks the journal
/// against a signed checkpoint when one is given. Reports the first broken block.
pub fn verify_journal(
    ledger: &Ledger,
    checkpoint: Option<CheckpointToCheck<'_>>,
    mut progress: impl FnMut(u64, u64),
) -> Result<LedgerReport, VerifyError> {
    // The checkpoint is checked before the journal is read.
    let checkpoint = match checkpoint {
        None => None,
        Some(c) => {
            let cp = verify_checkpoint(c.note, c.verifier_key)
                .map_err(|e| Broken::Checkpoint(format!("{e} ({})", c.source)))?;
            if cp.origin != origin(ledger.name()) {
                return Err(Broken::Checkpoint(format!(
                    "checkpoint {}: it is for {}, not veritrail/{}",
                    c.source,
                    cp.origin,
                    ledger.name()
                ))
                .into());
            }
            if cp.extension("strand") != Some(ledger.strand_id()) {
                return Err(Broken::Checkpoint(format!(
                    "checkpoint {}: it is for strand {:?}, not the journal's strand {}",
                    c.source,
                    cp.extension("strand"),
                    ledger.strand_id()
                ))
                .into());
            }
            Some(cp)
        }
    };
    let count = ledger.block_count();
    let mut verifier = JournalVerifier::imported_then_veritrail(ledger.imported_blocks()?);
    let mut root_at_checkpoint = None;
    for seq in 0..count {
        let block = ledger
            .block_element(seq)
            .map_err(|e| Broken::Block(format!("block {seq}: {e}")))?;
        let verified = verifier
            .push(&block)
            .map_err(|e| Broken::Block(e.to_string()))?;
        for (level, index, hash) in &verified.nodes {
            match ledger.storage().node(*level, *index) {
                Ok(Some(stored)) if stored.ct_eq(hash) => {}
                Ok(stored) => {
                    return Err(Broken::StoredHash(format!(
                        "block {seq}: the stored subtree hash at level {level}, index {index} is {} but the blocks hash to {hash}",
                        stored.map_or_else(|| "missing".to_owned(), |h| h.to_base64())
                    ))
                    .into());
                }
                Err(e) => return Err(Broken::StoredHash(format!("block {seq}: {e}")).into()),
            }
        }
        match ledger.storage().block(seq) {
            Ok(Some(stored)) if stored.revision_hashes == verified.block.revision_hashes => {}
            Ok(_) => {
                return Err(Broken::StoredHash(format!(
                    "block {seq}: the stored revision hashes do not match the revisions"
                ))
                .into());
            }
            Err(e) => return Err(Broken::StoredHash(format!("block {seq}: {e}")).into()),
        }
        if checkpoint.as_ref().is_some_and(|c| c.size == seq + 1) {
            root_at_checkpoint = verifier.root();
        }
        if seq > 0 && seq % 100_000 == 0 {
            progress(seq, count);
        }
    }
    let digest = verifier
        .root()
        .ok_or_else(|| Broken::Block("the journal has no blocks".into()))?;
    let checkpoint_size = match checkpoint {
        None => None,
        Some(cp) if cp.size > count => {
            return Err(Broken::Checkpoint(format!(
                "the signed checkpoint covers {} blocks but the journal has only {count}: blocks were removed",
                cp.size
            ))
            .into());
        }
        Some(cp) => match root_at_checkpoint {
            Some(r) if r.ct_eq(&cp.digest) => Some(cp.size),
            other => {
                return Err(Broken::Checkpoint(format!(
                    "the journal's digest at {} blocks is {} but the signed checkpoint says {}: the journal was rewritten",
                    cp.size,
                    other.map_or_else(|| "(none)".to_owned(), |h| h.to_base64()),
                    cp.digest
                ))
                .into());
            }
        },
    };
    Ok(LedgerReport {
        name: ledger.name().to_owned(),
        strand_id: ledger.strand_id().to_owned(),
        blocks: count,
        digest,
        checkpoint_size,
    })
}

/// A journal export that was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub name: String,
    pub strand_id: String,
    pub blocks: u64,
    /// The tip of the saved digest the journal reproduced, when one was given.
    pub digest_tip: Option<u64>,
    /// A signing key was created for the ledger (none was in the key directory).
    pub created_key: bool,
}

fn sequence_no(block: &Element) -> i64 {
    block
        .as_struct()
        .and_then(|s| s.get("blockAddress"))
        .and_then(Element::as_struct)
        .and_then(|a| a.get("sequenceNo"))
        .and_then(Element::as_i64)
        .unwrap_or(-1)
}

/// An import never writes over a ledger.
fn refuse_existing(files: &LedgerFiles) -> Result<(), VerifyError> {
    if files.journal_exists().map_err(LedgerError::Storage)? {
        return Err(VerifyError::Input(match &files.storage {
            crate::storage::StorageChoice::Sqlite => {
                format!("{} already exists", files.journal().display())
            }
            other => format!(
                "ledger {} already exists in {}",
                files.name,
                other.describe()
            ),
        }));
    }
    Ok(())
}

/// Creates the ledger `files` names from a journal export (veritrail's or Amazon QLDB's,
/// ION_TEXT or ION_BINARY) under `from`. Every block hash and chain link is verified first by
/// QLDB's rules, and with `digest` (a saved `aws qldb get-digest` output) the journal's digest
/// at that tip must equal it; nothing is written unless all of it verifies. A signing key is
/// created when the key directory has none for the ledger.
pub fn import_ledger(
    files: &LedgerFiles,
    from: &Path,
    digest: Option<&Path>,
    options: LedgerOptions,
) -> Result<ImportReport, VerifyError> {
    refuse_existing(files)?;
    let digest =
        match digest {
            None => None,
            Some(p) => Some(parse_digest(&read("the saved digest", p)?).map_err(|e| {
                VerifyError::Input(format!("the saved digest {}: {e}", p.display()))
            })?),
        };
    let blocks = read_export(from).map_err(|e| VerifyError::Input(e.to_string()))?;
    import_blocks(files, blocks, digest, options)
}

/// [`import_ledger`] for blocks read elsewhere (a Kinesis journal stream rebuilt into blocks,
/// an export fetched from S3): sorted by sequence number, they must start at block 0, and every
/// block hash and chain link (and the digest, if given) must verify before anything is written.
pub fn import_blocks(
    files: &LedgerFiles,
    mut blocks: Vec<Element>,
    digest: Option<veritrail_verify::Digest>,
    options: LedgerOptions,
) -> Result<ImportReport, VerifyError> {
    refuse_existing(files)?;
    let journal = files.journal();
    blocks.sort_by_key(sequence_no);
    if let Some(first) = blocks.first().map(sequence_no) {
        if first != 0 {
            return Err(VerifyError::Input(format!(
                "the export starts at block {first}; an import needs the whole journal from block 0 (export without --start)"
            )));
        }
    }
    let nothing = "nothing was imported";
    let mut verifier = JournalVerifier::qldb();
    let mut root_at_tip = None;
    for block in &blocks {
        verifier
            .push(block)
            .map_err(|e| Broken::Block(format!("{e}; {nothing}")))?;
        if let Some(d) = &digest {
            if verifier.size() == d.tip.sequence_no + 1 {
                root_at_tip = verifier.root();
            }
        }
    }
    if let Some(d) = &digest {
        let strand = blocks
            .first()
            .and_then(|b| b.as_struct())
            .and_then(|s| s.get("blockAddress"))
            .and_then(Element::as_struct)
            .and_then(|a| a.get("strandId"))
            .and_then(Element::as_text)
            .unwrap_or("");
        if strand != d.tip.strand_id {
            return Err(Broken::Digest(format!(
                "the digest is for strand {}, the export is strand {strand}; {nothing}",
                d.tip.strand_id
            ))
            .into());
        }
        match root_at_tip {
            Some(r) if r.ct_eq(&d.digest) => {}
            Some(r) => {
                return Err(Broken::Digest(format!(
                    "the journal's digest at tip {} is {r} but the saved digest is {}; {nothing}",
                    d.tip.sequence_no, d.digest
                ))
                .into());
            }
            None => {
                return Err(Broken::Digest(format!(
                    "the saved digest's tip {} is past the export's last block {}; {nothing}",
                    d.tip.sequence_no,
                    verifier.size().saturating_sub(1)
                ))
                .into());
            }
        }
    }
    std::fs::create_dir_all(&files.data_dir).map_err(|e| {
        VerifyError::Ledger(LedgerError::Storage(StorageError::Backend(format!(
            "{}: {e}",
            files.data_dir.display()
        ))))
    })?;
    let ledger = Ledger::import(&journal, &files.name, &blocks, options)?;
    let created_key = !files.private_key().exists();
    if created_key {
        files.write_new_key(&CheckpointKey::generate(&files.name)?)?;
    }
    Ok(ImportReport {
        name: ledger.name().to_owned(),
        strand_id: ledger.strand_id().to_owned(),
        blocks: blocks.len() as u64,
        digest_tip: digest.map(|d| d.tip.sequence_no),
        created_key,
    })
}

/// A replica brought up to date by [`update_replica`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaUpdate {
    pub name: String,
    pub strand_id: String,
    /// Blocks the replica held before.
    pub blocks_before: u64,
    /// The sequence numbers appended, in order (empty when the replica was current).
    pub appended: Vec<u64>,
    /// The digest the verifier rebuilt over the whole replica, at its new tip.
    pub digest: Hash32,
}

impl ReplicaUpdate {
    /// The replica's last block's sequence number.
    pub fn tip(&self) -> u64 {
        (self.blocks_before + self.appended.len() as u64).saturating_sub(1)
    }
}

/// Brings the replica `files` names (a ledger made by [`import_blocks`] or [`import_ledger`])
/// up to date with `blocks` from its source (a journal stream, a newer export). Blocks the
/// replica already holds must hash as its own do (block 0 differing: another ledger; a later
/// one: a fork), checked by `veritrail-verify`; the blocks after its tip must continue it with
/// no gap, each block hash and chain link verified from the replica's last block on, before
/// any is written.
pub fn update_replica(
    files: &LedgerFiles,
    mut blocks: Vec<Element>,
    options: LedgerOptions,
) -> Result<ReplicaUpdate, VerifyError> {
    let journal = files.journal();
    if !journal.exists() {
        return Err(VerifyError::Input(format!(
            "{} does not exist: there is no replica to bring up to date",
            journal.display()
        )));
    }
    let nothing = "nothing was written";
    let mut ledger = Ledger::open(&journal, options)?;
    let size = ledger.block_count();
    let imported = ledger.imported_blocks()?;
    if imported != size || size == 0 {
        return Err(VerifyError::Input(format!(
            "{} is not a replica: {} of its {size} blocks were written here, not imported; {nothing}",
            files.name,
            size.saturating_sub(imported)
        )));
    }
    blocks.sort_by_key(sequence_no);
    let split = blocks.partition_point(|b| u64::try_from(sequence_no(b)).is_ok_and(|s| s < size));
    let new = blocks.split_off(split);
    for block in &blocks {
        let seq = sequence_no(block);
        let checked = veritrail_verify::check_block(block)
            .map_err(|e| Broken::Block(format!("the source's block {seq}: {e}; {nothing}")))?;
        let Ok(seq) = u64::try_from(seq) else {
            return Err(Broken::Block(format!(
                "the source holds a block without a sequence number; {nothing}"
            ))
            .into());
        };
        let held = ledger.stored_block_hash(seq)?;
        if !checked.block_hash.ct_eq(&held) {
            let why = if seq == 0 {
                "the source is another ledger than the one this replica copies".to_owned()
            } else {
                format!("the source's journal forked from the replica's at or before block {seq}")
            };
            return Err(Broken::Block(format!(
                "block {seq}: the source's block hashes to {} but the replica's is {held}: {why}; {nothing}",
                checked.block_hash
            ))
            .into());
        }
    }
    let previous = ledger.stored_block_hash(size - 1)?;
    let mut verifier = JournalVerifier::qldb_continuing(
        size,
        ledger.strand_id(),
        previous,
        &ledger.frontier.peaks(),
    )
    .ok_or_else(|| {
        Broken::StoredHash(format!(
            "the replica's stored subtree hashes do not fit its {size} blocks"
        ))
    })?;
    if let Some(first) = new.first().map(sequence_no) {
        if first != size as i64 {
            return Err(VerifyError::Input(format!(
                "the source's next block is {first} but the replica ends at block {}: blocks {size} to {} are not in the source; {nothing}",
                size - 1,
                first - 1
            )));
        }
    }
    for block in &new {
        verifier
            .push(block)
            .map_err(|e| Broken::Block(format!("{e}; {nothing}")))?;
    }
    let digest = verifier
        .root()
        .ok_or_else(|| Broken::StoredHash("the replica has no digest".into()))?;
    ledger.append_imported(&new)?;
    Ok(ReplicaUpdate {
        name: ledger.name().to_owned(),
        strand_id: ledger.strand_id().to_owned(),
        blocks_before: size,
        appended: new.iter().map(|b| sequence_no(b) as u64).collect(),
        digest,
    })
}
