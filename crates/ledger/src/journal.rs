//! [`Ledger`]: commits transactions as journal blocks and answers QLDB's GetDigest, GetBlock
//! and GetRevision with proofs.
//!
//! Block layout (any layout passing QLDB's membership checks is valid, spec §2.2):
//! `entriesHashList = [revisionsRoot, H(transactionInfo), H(blockInfo)]` (no revisions root in
//! a block without revisions), where `blockInfo = {blockAddress, transactionId, blockTimestamp}`.
//! QLDB's rules leave those three header fields outside every hash; the extra entry makes them
//! tamper-evident while QLDB verifiers, which only check membership, still accept the block. Block 0 is the genesis block, written when the ledger is created,
//! so a ledger always has a digest.
//!
//! Architecture Invariant: a block is built, hashed and written in one storage commit; the
//! in-memory tip (frontier, last hash) changes only after that commit returns.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use veritrail_core::dot;
use veritrail_core::id::{IdSource, TimeOrderedIds, is_valid_id};
use veritrail_core::ion_hash::ion_hash_str;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::qldb::{block_hash, revision_hash};
use veritrail_core::time::{Clock, MonotonicClock, SystemClock, UtcMillis};
use veritrail_core::{Hash32, ion_hash, merkle_root};

use crate::error::LedgerError;
use crate::merkle::{self, Frontier, NodeSource};
use crate::storage::{
    AnyStorage, CommitBatch, Durability, RevisionKind, Storage, StorageChoice, StorageError,
    StoredBlock, StoredRevision, SyncBarrier,
};

/// How a ledger gets its time and ids, and how durable its commits are.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub durability: Durability,
    /// Where the ledger is stored: its SQLite file (the default) or a PostgreSQL database.
    pub storage: StorageChoice,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(MonotonicClock::new(SystemClock)),
            ids: Arc::new(TimeOrderedIds::default()),
            durability: Durability::Full,
            storage: StorageChoice::Sqlite,
        }
    }
}

/// One statement of a transaction, as recorded in `transactionInfo`.
#[derive(Debug, Clone)]
pub struct Statement {
    pub text: String,
    /// Positional parameters. A parameter that is also a write's `data` (the same `Arc`) is
    /// hashed once.
    pub parameters: Vec<Arc<Element>>,
    /// When the statement started; the commit time when `None`.
    pub start_time: Option<UtcMillis>,
}

/// One document revision a transaction writes.
#[derive(Debug, Clone)]
pub struct Write {
    pub table_name: String,
    pub table_id: String,
    pub document_id: String,
    /// 0 for an insert, then one more per revision.
    pub version: u64,
    /// The new document; `None` records a deletion.
    pub data: Option<Arc<Element>>,
    /// Indexes into the transaction's statements of the statements that wrote it.
    pub statements: Vec<usize>,
}

/// A transaction to commit as one block.
#[derive(Debug, Clone, Default)]
pub struct NewTransaction {
    /// The transaction id; a fresh one when `None`.
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    pub writes: Vec<Write>,
    /// Tables created or changed (catalog state, committed with the block).
    pub tables: Vec<crate::storage::TableRow>,
    /// Index keys of documents after this transaction.
    pub index_updates: Vec<crate::storage::IndexUpdate>,
}

/// What a commit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub sequence_no: u64,
    pub transaction_id: String,
    pub block_hash: Hash32,
    pub timestamp: UtcMillis,
    /// The revision hash of each write, in order.
    pub revision_hashes: Vec<Hash32>,
}

/// A digest and its tip, as GetDigest returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerDigest {
    pub digest: Hash32,
    pub strand_id: String,
    pub tip: u64,
}

impl LedgerDigest {
    /// `{strandId:"…",sequenceNo:N}` as Ion text.
    pub fn tip_ion_text(&self) -> String {
        address_text(&self.strand_id, self.tip)
    }

    /// The JSON `aws qldb get-digest` prints.
    pub fn to_get_digest_json(&self) -> String {
        format!(
            "{{\"Digest\":\"{}\",\"DigestTipAddress\":{{\"IonText\":{}}}}}",
            self.digest.to_base64(),
            json_string(&self.tip_ion_text())
        )
    }
}

/// A value (block or revision) with its proof, as GetBlock / GetRevision return them.
#[derive(Debug, Clone)]
pub struct WithProof {
    pub value: Element,
    pub proof: Vec<Hash32>,
}

impl WithProof {
    /// The JSON `aws qldb get-block` / `get-revision` prints (`field` is `Block` or `Revision`).
    pub fn to_json(&self, field: &str) -> String {
        format!(
            "{{\"{field}\":{{\"IonText\":{}}},\"Proof\":{{\"IonText\":{}}}}}",
            json_string(&self.value.to_string()),
            json_string(&proof_ion_text(&self.proof))
        )
    }
}

/// A proof as Ion text: a list of blobs.
pub fn proof_ion_text(proof: &[Hash32]) -> String {
    let items: Vec<String> = proof
        .iter()
        .map(|h| format!("{{{{{}}}}}", h.to_base64()))
        .collect();
    format!("[{}]", items.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn address_text(strand_id: &str, seq: u64) -> String {
    format!("{{strandId:\"{strand_id}\",sequenceNo:{seq}}}")
}

fn address(strand_id: &str, seq: u64) -> Element {
    Element::from(
        Element::struct_builder()
            .with_field("strandId", Element::string(strand_id))
            .with_field("sequenceNo", Element::from(seq_i64(seq)))
            .build(),
    )
}

fn seq_i64(seq: u64) -> i64 {
    // Sequence numbers come from SQLite's signed 64-bit keys, so they always fit.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn blob(h: &Hash32) -> Element {
    Element::blob(h.as_bytes())
}

fn encode(e: &Element) -> Result<Vec<u8>, LedgerError> {
    e.encode_as(v1_0::Binary).map_err(|err| {
        LedgerError::Storage(StorageError::Corrupt(format!("cannot encode Ion: {err}")))
    })
}

/// A transaction with the part of its block that does not depend on the journal's tip done
/// ahead: its documents hashed and encoded (on all cores: this is most of a commit's work),
/// its statements' digests. Prepared before the ledger's lock is taken, it leaves only the
/// block's own hashes to compute under the lock.
#[derive(Debug)]
pub struct Prepared {
    tx: NewTransaction,
    /// Per write: the Ion hash of its data and the data as Ion binary.
    writes: Vec<(Option<Hash32>, Vec<u8>)>,
    statement_digests: Vec<Hash32>,
}

impl Prepared {
    /// Checks the transaction and does its tip-independent work.
    pub fn new(tx: NewTransaction) -> Result<Self, LedgerError> {
        validate(&tx)?;
        let writes = parallel_map(&tx.writes, |w| {
            let data_hash = w.data.as_ref().map(|d| ion_hash(d));
            let body = match &w.data {
                Some(d) => encode(d)?,
                None => Vec::new(),
            };
            Ok::<_, LedgerError>((data_hash, body))
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut hashes = ValueHashes::default();
        for (w, (h, _)) in tx.writes.iter().zip(&writes) {
            if let (Some(d), Some(h)) = (&w.data, h) {
                hashes.insert(d, *h);
            }
        }
        let statement_digests = tx
            .statements
            .iter()
            .map(|s| statement_digest_of(s, &hashes))
            .collect();
        Ok(Self {
            tx,
            writes,
            statement_digests,
        })
    }
}

/// Builds and hashes the next block on top of `tip`, and advances `tip` past it.
fn build_block(
    options: &LedgerOptions,
    strand_id: &str,
    tip: &mut Tip,
    tx: NewTransaction,
) -> Result<(CommitBatch, Committed), LedgerError> {
    build_prepared(options, strand_id, tip, Prepared::new(tx)?)
}

/// [`build_block`] of a transaction prepared ahead.
fn build_prepared(
    options: &LedgerOptions,
    strand_id: &str,
    tip: &mut Tip,
    prepared: Prepared,
) -> Result<(CommitBatch, Committed), LedgerError> {
    let Prepared {
        tx,
        writes,
        statement_digests,
    } = prepared;
    let seq = tip.frontier.size();
    let tx_id = tx.id.clone().unwrap_or_else(|| options.ids.new_id());
    // Journal time never runs backwards, whatever the clock does.
    let now = options.clock.now().max(tip.last_timestamp);
    let block_address = address(strand_id, seq);
    let tx_time = Element::from(now.to_ion());

    // txTime is the block's timestamp; only the data is stored per revision.
    let pairs: Vec<(&Write, Option<Hash32>)> = tx
        .writes
        .iter()
        .zip(writes.iter().map(|(h, _)| *h))
        .collect();
    let hashed = parallel_map(&pairs, |(w, data_hash)| {
        let metadata = metadata(&w.document_id, w.version, &tx_time, &tx_id);
        revision_hash(&metadata, data_hash.as_ref())
    });
    let mut revision_hashes = Vec::with_capacity(tx.writes.len());
    let mut stored_revisions = Vec::with_capacity(tx.writes.len());
    for (index, ((w, (_, body)), hash)) in tx.writes.iter().zip(writes).zip(hashed).enumerate() {
        stored_revisions.push(StoredRevision {
            kind: RevisionKind::Data,
            seq,
            index: u32::try_from(index)
                .map_err(|_| LedgerError::InvalidTransaction("too many writes".into()))?,
            document_id: w.document_id.clone(),
            version: w.version,
            body,
        });
        revision_hashes.push(hash);
    }

    let transaction_info = transaction_info(&tx, now, &statement_digests);
    let info_hash = ion_hash(&transaction_info);
    let mut entries = Vec::with_capacity(2);
    if let Some(root) = merkle_root(&revision_hashes) {
        entries.push(root);
    }
    entries.push(info_hash);
    let block_timestamp = Element::from(now.to_ion());
    entries.push(ion_hash(&block_info(
        &block_address,
        &Element::string(tx_id.as_str()),
        &block_timestamp,
    )));
    let entries_hash = merkle_root(&entries).unwrap_or(info_hash);
    let hash = block_hash(&entries_hash, tip.last_block_hash.as_ref());

    let mut header = Element::struct_builder()
        .with_field("blockAddress", block_address)
        .with_field("transactionId", Element::string(tx_id.as_str()))
        .with_field("blockTimestamp", block_timestamp)
        .with_field("blockHash", blob(&hash))
        .with_field("entriesHash", blob(&entries_hash));
    if let Some(prev) = &tip.last_block_hash {
        header = header.with_field("previousBlockHash", blob(prev));
    }
    let header = Element::from(
        header
            .with_field(
                "entriesHashList",
                Element::from(
                    Element::sequence_builder()
                        .push_all(entries.iter().map(blob))
                        .build_list(),
                ),
            )
            .with_field("transactionInfo", transaction_info)
            .build(),
    );

    let nodes = tip.frontier.push(hash);
    let revision_tables = tx.writes.iter().map(|w| w.table_id.clone()).collect();
    let batch = CommitBatch {
        block: StoredBlock {
            seq,
            header: encode(&header)?,
            revision_hashes: revision_hashes.clone(),
        },
        revisions: stored_revisions,
        nodes,
        revision_tables,
        tables: tx.tables,
        index_updates: tx.index_updates,
    };
    tip.last_block_hash = Some(hash);
    tip.last_timestamp = now;
    Ok((
        batch,
        Committed {
            sequence_no: seq,
            transaction_id: tx_id,
            block_hash: hash,
            timestamp: now,
            revision_hashes,
        },
    ))
}

/// The document data of a stored revision: `None` for a deletion or a hash-only revision.
pub fn revision_data(stored: &StoredRevision) -> Result<Option<Element>, LedgerError> {
    // The name for an error, made only when there is one (this runs for every row read).
    let decode = |bytes: &[u8]| {
        veritrail_core::ion_input::read_one(bytes, crate::limits::STORED_ION).map_err(|e| {
            LedgerError::Storage(StorageError::Corrupt(format!(
                "block {}, revision {}: {e}",
                stored.seq, stored.index
            )))
        })
    };
    match stored.kind {
        RevisionKind::Data if stored.body.is_empty() => Ok(None),
        RevisionKind::Data => decode(&stored.body).map(Some),
        RevisionKind::Full => Ok(decode(&stored.body)?
            .as_struct()
            .and_then(|s| s.get("data"))
            .cloned()),
        RevisionKind::HashOnly => Ok(None),
    }
}

/// `{id, version, txTime, txId}`: a revision's metadata.
fn metadata(document_id: &str, version: u64, tx_time: &Element, tx_id: &str) -> Element {
    Element::from(
        Element::struct_builder()
            .with_field("id", Element::string(document_id))
            .with_field("version", Element::from(seq_i64(version)))
            .with_field("txTime", tx_time.clone())
            .with_field("txId", Element::string(tx_id))
            .build(),
    )
}

/// A revision as GetRevision shows it, rebuilt from what is stored: its block's address,
/// timestamp and transaction id, its hash, its directory entry, and its data. Only the data is
/// stored per revision; everything else is either in the block or derived from it, and
/// `ledger verify` recomputes the revision hash from exactly these parts.
fn revision_element(
    block: &veritrail_core::ion_rs::Struct,
    hash: &Hash32,
    stored: &StoredRevision,
    what: &str,
) -> Result<Element, LedgerError> {
    let bad = |d: &str| LedgerError::Storage(StorageError::Corrupt(format!("{what}: {d}")));
    match stored.kind {
        RevisionKind::Full => return decode(&stored.body, what),
        RevisionKind::HashOnly => {
            return Ok(Element::from(
                Element::struct_builder()
                    .with_field("hash", blob(hash))
                    .build(),
            ));
        }
        RevisionKind::Data => {}
    }
    let field = |name: &str| {
        block
            .get(name)
            .ok_or_else(|| bad(&format!("the block has no `{name}`")))
    };
    let tx_id = field("transactionId")?
        .as_text()
        .ok_or_else(|| bad("transactionId is not text"))?;
    let mut revision = Element::struct_builder()
        .with_field("blockAddress", field("blockAddress")?.clone())
        .with_field("hash", blob(hash));
    if !stored.body.is_empty() {
        revision = revision.with_field("data", decode(&stored.body, what)?);
    }
    let metadata = metadata(
        &stored.document_id,
        stored.version,
        field("blockTimestamp")?,
        tx_id,
    );
    Ok(Element::from(
        revision.with_field("metadata", metadata).build(),
    ))
}

/// Reads stored Ion. A file changed behind the ledger's back may hold anything, so its nesting
/// is checked before ion-rs recurses into it.
fn decode(bytes: &[u8], what: &str) -> Result<Element, LedgerError> {
    veritrail_core::ion_input::read_one(bytes, crate::limits::STORED_ION)
        .map_err(|e| LedgerError::Storage(StorageError::Corrupt(format!("{what}: {e}"))))
}

/// QLDB's ledger-name rule.
pub fn is_valid_ledger_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.bytes().all(|b| b.is_ascii_digit())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

struct Nodes<'a, S>(&'a S);

impl<S: Storage> NodeSource for Nodes<'_, S> {
    type Error = LedgerError;
    fn node(&self, level: u32, index: u64) -> Result<Hash32, LedgerError> {
        self.0.node(level, index)?.ok_or_else(|| {
            LedgerError::Storage(StorageError::Corrupt(format!(
                "the subtree hash at level {level}, index {index} is missing"
            )))
        })
    }
}

/// Complete-subtree hashes of a small in-memory list (the revisions or entries of one block).
struct SliceNodes<'a>(&'a [Hash32]);

impl NodeSource for SliceNodes<'_> {
    type Error = std::convert::Infallible;
    fn node(&self, level: u32, index: u64) -> Result<Hash32, Self::Error> {
        let start = (index << level) as usize;
        let end = (((index + 1) << level) as usize).min(self.0.len());
        Ok(merkle_root(&self.0[start..end]).unwrap_or(Hash32([0; 32])))
    }
}

fn list_proof(leaves: &[Hash32], index: usize) -> Vec<Hash32> {
    match merkle::inclusion_proof(&SliceNodes(leaves), index as u64, leaves.len() as u64) {
        Ok(p) => p,
        Err(never) => match never {},
    }
}

/// The end of the journal that the next block builds on.
#[derive(Debug, Clone)]
struct Tip {
    frontier: Frontier,
    last_block_hash: Option<Hash32>,
    last_timestamp: UtcMillis,
}

/// A QLDB-compatible ledger.
#[derive(Debug)]
pub struct Ledger<S: Storage = AnyStorage> {
    pub(crate) storage: S,
    name: String,
    strand_id: String,
    pub(crate) frontier: Frontier,
    pub(crate) last_block_hash: Option<Hash32>,
    pub(crate) last_timestamp: UtcMillis,
    options: LedgerOptions,
    /// What makes blocks committed by [`Ledger::commit_deferred`] durable.
    barrier: Option<Arc<dyn SyncBarrier>>,
}

/// Blocks written but perhaps not yet durable, and what makes them so.
#[derive(Debug, Clone)]
#[must_use = "a deferred commit is acknowledged only once `wait` returns"]
pub struct Durable {
    barrier: Option<Arc<dyn SyncBarrier>>,
    blocks: u64,
}

impl Durable {
    /// Returns once the blocks are durable (at once when they already are): one sync of the
    /// storage covers every block written before it, whoever wrote it.
    pub fn wait(&self) -> Result<(), LedgerError> {
        match &self.barrier {
            Some(b) => Ok(b.sync_through(self.blocks)?),
            None => Ok(()),
        }
    }
}

impl Ledger<AnyStorage> {
    /// Creates a ledger (its file, or its schema in the database `options.storage` names)
    /// and writes its genesis block.
    pub fn create(path: &Path, name: &str, options: LedgerOptions) -> Result<Self, LedgerError> {
        if !is_valid_ledger_name(name) {
            return Err(LedgerError::InvalidName(name.to_owned()));
        }
        let strand_id = options.ids.new_id();
        let created = options.clock.now();
        let storage = AnyStorage::create(
            &options.storage,
            path,
            &[
                ("name", name.to_owned()),
                ("strand_id", strand_id.clone()),
                ("created", created.to_string()),
            ],
            options.durability,
        )?;
        let mut ledger = Self::from_storage(storage, options)?;
        ledger.commit(NewTransaction {
            id: None,
            statements: vec![Statement {
                text: format!("CREATE LEDGER {name}"),
                parameters: vec![],
                start_time: Some(created),
            }],
            writes: vec![],
            ..Default::default()
        })?;
        Ok(ledger)
    }

    /// Opens an existing ledger.
    pub fn open(path: &Path, options: LedgerOptions) -> Result<Self, LedgerError> {
        let storage = AnyStorage::open(&options.storage, path, options.durability, false)?;
        Self::from_storage(storage, options)
    }

    /// Opens an existing ledger for reading only.
    pub fn open_read_only(path: &Path, options: LedgerOptions) -> Result<Self, LedgerError> {
        let storage = AnyStorage::open(&options.storage, path, options.durability, true)?;
        Self::from_storage(storage, options)
    }
}

impl<S: Storage> Ledger<S> {
    /// Loads a ledger's tip from its storage.
    pub fn from_storage(storage: S, options: LedgerOptions) -> Result<Self, LedgerError> {
        let meta = |k: &str| -> Result<String, LedgerError> {
            storage.meta(k)?.ok_or_else(|| {
                LedgerError::Storage(StorageError::Corrupt(format!("metadata `{k}` is missing")))
            })
        };
        let name = meta("name")?;
        let strand_id = meta("strand_id")?;
        let size = storage.block_count()?;
        let tip = Self::load_tip(&storage, size)?;
        Ok(Self {
            barrier: storage.barrier(),
            storage,
            name,
            strand_id,
            frontier: tip.frontier,
            last_block_hash: tip.last_block_hash,
            last_timestamp: tip.last_timestamp,
            options,
        })
    }

    /// The tip after the first `size` blocks, read from storage.
    fn load_tip(storage: &S, size: u64) -> Result<Tip, LedgerError> {
        let frontier = Frontier::load(&Nodes(storage), size)?;
        let (last_block_hash, last_timestamp) = if size == 0 {
            (None, UtcMillis(i64::MIN))
        } else {
            let header = Self::header_of(storage, size - 1)?;
            let st = header
                .as_struct()
                .ok_or_else(|| corrupt(size - 1, "header is not a struct"))?;
            let hash = st
                .get("blockHash")
                .and_then(Element::as_blob)
                .and_then(|b| Hash32::from_slice(b).ok())
                .ok_or_else(|| corrupt(size - 1, "blockHash is missing"))?;
            let ts = st
                .get("blockTimestamp")
                .and_then(Element::as_timestamp)
                .map(|t| UtcMillis::from_ion(&t))
                .ok_or_else(|| corrupt(size - 1, "blockTimestamp is missing"))?;
            (Some(hash), ts)
        };
        Ok(Tip {
            frontier,
            last_block_hash,
            last_timestamp,
        })
    }

    /// Catches up with blocks another process appended (a ledger in a shared database read by
    /// a process that is not its writer, or a writer that took the lease over). Returns whether
    /// the tip moved. An embedded ledger has one process and nothing to catch up with.
    pub fn refresh(&mut self) -> Result<bool, LedgerError> {
        if !self.storage.shared() {
            return Ok(false);
        }
        let size = self.storage.block_count()?;
        let known = self.frontier.size();
        if size == known {
            return Ok(false);
        }
        if size < known {
            return Err(LedgerError::Storage(StorageError::Corrupt(format!(
                "the journal had {known} blocks and now has {size}"
            ))));
        }
        let tip = Self::load_tip(&self.storage, size)?;
        self.set_tip(tip);
        Ok(true)
    }

    /// Makes this process the ledger's writer (the lease of a shared database) and brings its
    /// tip up to the durable one, before blocks are built on it.
    pub(crate) fn prepare_write(&mut self) -> Result<(), LedgerError> {
        self.storage.acquire_writer()?;
        self.refresh()?;
        Ok(())
    }

    fn header_of(storage: &S, seq: u64) -> Result<Element, LedgerError> {
        Ok(Self::block_of(storage, seq)?.1)
    }

    /// Block `seq` as stored, with its header decoded.
    fn block_of(storage: &S, seq: u64) -> Result<(StoredBlock, Element), LedgerError> {
        let block = storage
            .block(seq)?
            .ok_or_else(|| corrupt(seq, "the block is missing"))?;
        let header = decode(&block.header, &format!("block {seq}'s header"))?;
        Ok((block, header))
    }

    /// The ledger's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ledger's one strand.
    pub fn strand_id(&self) -> &str {
        &self.strand_id
    }

    /// Number of blocks (the last block is `block_count() - 1`).
    pub fn block_count(&self) -> u64 {
        self.frontier.size()
    }

    /// A fresh id from the ledger's id source.
    pub fn new_id(&self) -> String {
        self.options.ids.new_id()
    }

    /// Now, by the ledger's clock.
    pub fn now(&self) -> UtcMillis {
        self.options.clock.now()
    }

    /// The clock, id source and durability the ledger was opened with.
    pub fn options(&self) -> &LedgerOptions {
        &self.options
    }

    /// Revision `index` of block `seq` as the committed view and `history()` show it:
    /// `{blockAddress, hash, data, metadata}` (no `data` for a deletion).
    pub fn revision_value(&self, seq: u64, index: u32) -> Result<Element, LedgerError> {
        let (block, header) = Self::block_of(&self.storage, seq)?;
        let st = header
            .as_struct()
            .ok_or_else(|| corrupt(seq, "header is not a struct"))?;
        let stored = self
            .storage
            .revision_at(seq, index)?
            .ok_or_else(|| corrupt(seq, "a revision is missing"))?;
        let hash = block
            .revision_hashes
            .get(index as usize)
            .ok_or_else(|| corrupt(seq, "a revision hash is missing"))?;
        revision_element(st, hash, &stored, &format!("block {seq}, revision {index}"))
    }

    /// How many leading blocks were imported from a QLDB export (checked by QLDB's rules only;
    /// later blocks follow veritrail's stricter layout).
    pub fn imported_blocks(&self) -> Result<u64, LedgerError> {
        Ok(self
            .storage
            .meta("imported_blocks")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The storage underneath, for verification and tests.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Commits a transaction as one block; returns once it is durable.
    pub fn commit(&mut self, tx: NewTransaction) -> Result<Committed, LedgerError> {
        let mut committed = self.commit_all(vec![tx])?;
        committed
            .pop()
            .ok_or_else(|| LedgerError::InvalidTransaction("nothing was committed".into()))
    }

    /// Group commit: each transaction becomes its own block, and all of them are written in one
    /// durable storage commit (one fsync). Either every block is committed or none is.
    pub fn commit_all(&mut self, txs: Vec<NewTransaction>) -> Result<Vec<Committed>, LedgerError> {
        self.prepare_write()?;
        let mut tip = self.tip();
        let mut batches = Vec::with_capacity(txs.len());
        let mut committed = Vec::with_capacity(txs.len());
        for tx in txs {
            let (batch, c) = build_block(&self.options, &self.strand_id, &mut tip, tx)?;
            batches.push(batch);
            committed.push(c);
        }
        self.storage.commit(&batches)?;
        self.set_tip(tip);
        Ok(committed)
    }

    /// Group commit: commits a transaction as one block, written but perhaps not yet durable.
    /// The caller releases whatever lock it holds on the ledger, then waits on the returned
    /// [`Durable`] before acknowledging the commit; meanwhile other transactions commit, and
    /// one sync makes all of them durable. Digests and proofs cover only durable blocks.
    pub fn commit_deferred(&mut self, tx: Prepared) -> Result<(Committed, Durable), LedgerError> {
        self.prepare_write()?;
        let mut tip = self.tip();
        let (batch, committed) = build_prepared(&self.options, &self.strand_id, &mut tip, tx)?;
        self.storage.commit_unsynced(std::slice::from_ref(&batch))?;
        self.set_tip(tip);
        let durable = self.durability();
        Ok((committed, durable))
    }

    /// What makes every block written so far durable (for a transaction that only read: it
    /// may have seen blocks whose writers are still waiting for the disk).
    pub fn durability(&self) -> Durable {
        Durable {
            barrier: self.barrier.clone(),
            blocks: self.frontier.size(),
        }
    }

    /// How many times the storage was synced for deferred commits (none when every commit
    /// is durable as it returns).
    pub fn syncs(&self) -> u64 {
        self.barrier.as_ref().map_or(0, |b| b.syncs())
    }

    /// The number of blocks known to be durable: digests and proofs go no further.
    pub fn durable_size(&self) -> u64 {
        let written = self.frontier.size();
        self.barrier
            .as_ref()
            .map_or(written, |b| b.durable().min(written))
    }

    /// Pipelined commit of a stream of transactions, one block each: while one block is being
    /// written and synced, the next is hashed and built. `on_durable` is called for each
    /// transaction, in order, only once its block is durable. On an error the blocks already
    /// acknowledged stay committed, nothing after them is, and the error is returned.
    pub fn commit_stream<I>(
        &mut self,
        txs: I,
        mut on_durable: impl FnMut(&Committed),
    ) -> Result<u64, LedgerError>
    where
        I: IntoIterator<Item = NewTransaction>,
        S: Send,
    {
        type Ack = Result<(Committed, Tip), LedgerError>;
        self.prepare_write()?;
        let mut tip = self.tip();
        let mut durable: Option<Tip> = None;
        let mut count = 0u64;
        let (options, strand_id, storage) =
            (&self.options, self.strand_id.as_str(), &mut self.storage);
        let mut accept = |ack: Ack, durable: &mut Option<Tip>| -> Result<(), LedgerError> {
            let (committed, after) = ack?;
            on_durable(&committed);
            *durable = Some(after);
            count += 1;
            Ok(())
        };
        let outcome = std::thread::scope(|scope| {
            let (to_writer, batches) =
                std::sync::mpsc::sync_channel::<(CommitBatch, Committed, Tip)>(1);
            let (ack_tx, acks) = std::sync::mpsc::channel::<Ack>();
            scope.spawn(move || {
                for (batch, committed, after) in batches {
                    let result = storage
                        .commit(std::slice::from_ref(&batch))
                        .map(|()| (committed, after));
                    let failed = result.is_err();
                    if ack_tx.send(result.map_err(LedgerError::from)).is_err() || failed {
                        break;
                    }
                }
            });
            let produce = || -> Result<(), LedgerError> {
                for tx in txs {
                    let (batch, committed) = build_block(options, strand_id, &mut tip, tx)?;
                    if to_writer.send((batch, committed, tip.clone())).is_err() {
                        break; // the writer stopped on an error, which is waiting in `acks`
                    }
                    while let Ok(ack) = acks.try_recv() {
                        accept(ack, &mut durable)?;
                    }
                }
                Ok(())
            };
            let produced = produce();
            drop(to_writer);
            // Everything sent is either acknowledged here or was never written.
            let mut drained = Ok(());
            for ack in acks {
                if drained.is_ok() {
                    drained = accept(ack, &mut durable);
                }
            }
            produced.and(drained)
        });
        if let Some(after) = durable {
            self.set_tip(after);
        }
        outcome.map(|()| count)
    }

    fn tip(&self) -> Tip {
        Tip {
            frontier: self.frontier.clone(),
            last_block_hash: self.last_block_hash,
            last_timestamp: self.last_timestamp,
        }
    }

    fn set_tip(&mut self, tip: Tip) {
        self.frontier = tip.frontier;
        self.last_block_hash = tip.last_block_hash;
        self.last_timestamp = tip.last_timestamp;
    }

    fn check_tip(&self, tip: Option<u64>) -> Result<u64, LedgerError> {
        let last = self.durable_size().saturating_sub(1);
        match tip {
            None => Ok(last),
            Some(t) if t > last => Err(LedgerError::TipPastEnd { tip: t, last }),
            Some(t) => Ok(t),
        }
    }

    fn check_block(&self, seq: u64) -> Result<(), LedgerError> {
        let last = self.durable_size().saturating_sub(1);
        if seq > last {
            return Err(LedgerError::SequencePastTip { seq, last });
        }
        Ok(())
    }

    /// The digest at the latest block (GetDigest).
    pub fn digest(&self) -> Result<LedgerDigest, LedgerError> {
        self.digest_at(None)
    }

    /// The digest as it was when `tip` was the last block.
    pub fn digest_at(&self, tip: Option<u64>) -> Result<LedgerDigest, LedgerError> {
        let tip = self.check_tip(tip)?;
        let digest = if tip + 1 == self.frontier.size() {
            self.frontier
                .root()
                .ok_or_else(|| corrupt(0, "the ledger has no blocks"))?
        } else {
            merkle::subtree_root(&Nodes(&self.storage), 0, tip + 1)?
        };
        Ok(LedgerDigest {
            digest,
            strand_id: self.strand_id.clone(),
            tip,
        })
    }

    /// The whole block as GetBlock shows it (header fields and revisions).
    pub fn block_element(&self, seq: u64) -> Result<Element, LedgerError> {
        self.check_block(seq)?;
        let (stored, header) = Self::block_of(&self.storage, seq)?;
        let st = header
            .as_struct()
            .ok_or_else(|| corrupt(seq, "header is not a struct"))?;
        let bodies = self.storage.revisions(seq)?;
        if bodies.len() != stored.revision_hashes.len() {
            return Err(corrupt(
                seq,
                "the revision directory and the revision hashes disagree",
            ));
        }
        let revisions: Vec<Element> = bodies
            .iter()
            .zip(&stored.revision_hashes)
            .map(|(r, h)| revision_element(st, h, r, &format!("block {seq}, revision {}", r.index)))
            .collect::<Result<_, _>>()?;
        Ok(Element::from(
            st.clone_builder()
                .with_field(
                    "revisions",
                    Element::from(Element::sequence_builder().push_all(revisions).build_list()),
                )
                .build(),
        ))
    }

    /// The stored hash of block `seq` (level 0 of the accumulator).
    pub fn stored_block_hash(&self, seq: u64) -> Result<Hash32, LedgerError> {
        Nodes(&self.storage).node(0, seq)
    }

    /// A block with the proof of its hash under the digest at `tip` (GetBlock).
    pub fn block(&self, seq: u64, tip: Option<u64>) -> Result<WithProof, LedgerError> {
        self.check_block(seq)?;
        let tip = self.check_tip(tip)?;
        if tip < seq {
            return Err(LedgerError::TipBeforeBlock { tip, block: seq });
        }
        let value = self.block_element(seq)?;
        let proof = self.block_proof(seq, tip)?;
        Ok(WithProof { value, proof })
    }

    /// Only the proof of block `seq`'s hash under the digest at `tip` (GetBlock's `Proof`).
    pub fn block_proof(&self, seq: u64, tip: u64) -> Result<Vec<Hash32>, LedgerError> {
        self.check_block(seq)?;
        let tip = self.check_tip(Some(tip))?;
        if tip < seq {
            return Err(LedgerError::TipBeforeBlock { tip, block: seq });
        }
        merkle::inclusion_proof(&Nodes(&self.storage), seq, tip + 1)
    }

    /// A document's revision in block `seq` with the proof of its hash under the digest at `tip`
    /// (GetRevision).
    pub fn revision(
        &self,
        seq: u64,
        document_id: &str,
        tip: Option<u64>,
    ) -> Result<WithProof, LedgerError> {
        self.check_block(seq)?;
        let tip = self.check_tip(tip)?;
        if tip < seq {
            return Err(LedgerError::TipBeforeBlock { tip, block: seq });
        }
        let stored = self.storage.revision(seq, document_id)?.ok_or_else(|| {
            LedgerError::DocumentNotInBlock {
                document_id: document_id.to_owned(),
                seq,
            }
        })?;
        let (block, header) = Self::block_of(&self.storage, seq)?;
        let st = header
            .as_struct()
            .ok_or_else(|| corrupt(seq, "header is not a struct"))?;
        let index = stored.index as usize;
        if index >= block.revision_hashes.len() {
            return Err(corrupt(
                seq,
                "a revision is not among the block's revision hashes",
            ));
        }
        // Revision -> revisions root -> entriesHash -> blockHash -> digest.
        let mut proof = list_proof(&block.revision_hashes, index);
        let entries: Vec<Hash32> = st
            .get("entriesHashList")
            .and_then(Element::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(|e| e.as_blob().and_then(|b| Hash32::from_slice(b).ok()))
                    .collect()
            })
            .unwrap_or_default();
        // The revisions root is entry 0 of every block with revisions.
        proof.extend(list_proof(&entries, 0));
        if let Some(prev) = st
            .get("previousBlockHash")
            .and_then(Element::as_blob)
            .and_then(|b| Hash32::from_slice(b).ok())
        {
            proof.push(prev);
        }
        proof.extend(merkle::inclusion_proof(
            &Nodes(&self.storage),
            seq,
            tip + 1,
        )?);
        let value = revision_element(
            st,
            &block.revision_hashes[index],
            &stored,
            &format!("block {seq}, revision {index}"),
        )?;
        Ok(WithProof { value, proof })
    }

    /// The consistency proof from the digest at `old_tip` to the digest at `new_tip`
    /// (RFC 9162 §2.1.4 with QLDB's `dot`).
    pub fn consistency(&self, old_tip: u64, new_tip: u64) -> Result<Vec<Hash32>, LedgerError> {
        let new_tip = self.check_tip(Some(new_tip))?;
        if old_tip > new_tip {
            return Err(LedgerError::InvalidRange(format!(
                "the older tip {old_tip} comes after the newer tip {new_tip}"
            )));
        }
        merkle::consistency_proof(&Nodes(&self.storage), old_tip + 1, new_tip + 1)
    }
}

/// `{blockAddress, transactionId, blockTimestamp}`: the header fields QLDB's hashes leave out.
pub fn block_info(address: &Element, transaction_id: &Element, timestamp: &Element) -> Element {
    Element::from(
        Element::struct_builder()
            .with_field("blockAddress", address.clone())
            .with_field("transactionId", transaction_id.clone())
            .with_field("blockTimestamp", timestamp.clone())
            .build(),
    )
}

fn corrupt(seq: u64, what: &str) -> LedgerError {
    LedgerError::Storage(StorageError::Corrupt(format!("block {seq}: {what}")))
}

fn validate(tx: &NewTransaction) -> Result<(), LedgerError> {
    let bad = |m: String| Err(LedgerError::InvalidTransaction(m));
    if let Some(id) = &tx.id {
        if !is_valid_id(id) {
            return bad(format!("transaction id `{id}` is not 22 base62 characters"));
        }
    }
    if tx.statements.is_empty() {
        return bad("a transaction records at least one statement".into());
    }
    let mut seen = std::collections::HashSet::new();
    for (i, w) in tx.writes.iter().enumerate() {
        if !is_valid_id(&w.document_id) {
            return bad(format!(
                "write {i}: document id `{}` is not 22 base62 characters",
                w.document_id
            ));
        }
        if !is_valid_id(&w.table_id) {
            return bad(format!(
                "write {i}: table id `{}` is not 22 base62 characters",
                w.table_id
            ));
        }
        if let Some(bad_index) = w.statements.iter().find(|s| **s >= tx.statements.len()) {
            return bad(format!(
                "write {i}: statement index {bad_index} but the transaction has {} statements",
                tx.statements.len()
            ));
        }
        if !seen.insert(w.document_id.as_str()) {
            return bad(format!(
                "write {i}: document {} is written twice",
                w.document_id
            ));
        }
    }
    Ok(())
}

/// Runs `f` over `items` on all cores (up to four threads) when there are enough of them.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 32 {
        return items.iter().map(&f).collect();
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    let mut parts = items.chunks(chunk);
    let mine = parts.next_back().unwrap_or(&[]);
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        // The calling thread does its share instead of waiting.
        let last: Vec<R> = mine.iter().map(f).collect();
        let mut out: Vec<R> = handles
            .into_iter()
            // A worker can only panic on a bug; surface it rather than hide it.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        out.extend(last);
        out
    })
}

/// Ion hashes already computed for a transaction's documents, by `Arc` identity, so that a
/// statement parameter that is also a written document is not hashed twice.
#[derive(Default)]
struct ValueHashes {
    by_ptr: std::collections::HashMap<*const Element, Hash32>,
}

impl ValueHashes {
    fn insert(&mut self, v: &Arc<Element>, h: Hash32) {
        self.by_ptr.insert(Arc::as_ptr(v), h);
    }

    fn get(&self, v: &Arc<Element>) -> Hash32 {
        self.by_ptr
            .get(&Arc::as_ptr(v))
            .copied()
            .unwrap_or_else(|| ion_hash(v))
    }
}

/// `statementDigest = H(statement) dot H(p1) dot …`, as `veritrail_core::qldb::statement_digest`.
fn statement_digest_of(s: &Statement, hashes: &ValueHashes) -> Hash32 {
    s.parameters
        .iter()
        .fold(ion_hash_str(&s.text), |acc, p| dot(&acc, &hashes.get(p)))
}

/// `transactionInfo`: statements with their digests, and which statements wrote each document.
fn transaction_info(tx: &NewTransaction, now: UtcMillis, digests: &[Hash32]) -> Element {
    let statements = tx.statements.iter().zip(digests).map(|(s, digest)| {
        Element::from(
            Element::struct_builder()
                .with_field("statement", Element::string(s.text.as_str()))
                .with_field(
                    "startTime",
                    Element::from(s.start_time.unwrap_or(now).min(now).to_ion()),
                )
                .with_field("statementDigest", blob(digest))
                .build(),
        )
    });
    let mut documents: BTreeMap<&str, (&str, &str, Vec<usize>)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for w in &tx.writes {
        let entry = documents.entry(&w.document_id).or_insert_with(|| {
            order.push(&w.document_id);
            (&w.table_name, &w.table_id, Vec::new())
        });
        for st in &w.statements {
            if !entry.2.contains(st) {
                entry.2.push(*st);
            }
        }
    }
    let mut docs = Element::struct_builder();
    for id in order {
        if let Some((table_name, table_id, stmts)) = documents.get(id) {
            docs = docs.with_field(
                id,
                Element::from(
                    Element::struct_builder()
                        .with_field("tableName", Element::string(*table_name))
                        .with_field("tableId", Element::string(*table_id))
                        .with_field(
                            "statements",
                            Element::from(
                                Element::sequence_builder()
                                    .push_all(stmts.iter().map(|i| Element::from(*i as i64)))
                                    .build_list(),
                            ),
                        )
                        .build(),
                ),
            );
        }
    }
    Element::from(
        Element::struct_builder()
            .with_field(
                "statements",
                Element::from(
                    Element::sequence_builder()
                        .push_all(statements)
                        .build_list(),
                ),
            )
            .with_field("documents", Element::from(docs.build()))
            .build(),
    )
}
