//! Journal export in QLDB's S3 export layout (`../shared/specs/qldb.md` §3.3), and import of
//! such an export (veritrail's or a real QLDB export) into a new ledger.
//!
//! ```text
//! {prefix}{exportId}.started.manifest
//! {prefix}yyyy/mm/dd/hh/{strandId}.{firstSeq}-{lastSeq}.ion      blocks, one after another
//! {prefix}{exportId}.{strandId}.completed.manifest             {keys:[full keys, in order]}
//! ```
//! Import only reads and stores: the caller verifies the blocks first (with `veritrail-verify`,
//! which shares no code with this crate) and passes only a journal that verified.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use veritrail_core::Hash32;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::json_ion::ion_to_json;
use veritrail_core::time::UtcMillis;

use crate::error::LedgerError;
use crate::journal::{Ledger, LedgerOptions};
use crate::merkle::Frontier;
use crate::storage::{
    AnyStorage, CommitBatch, RevisionKind, Storage, StorageError, StoredBlock, StoredRevision,
    TableRow, TableStatus,
};

/// The formats QLDB exports in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    IonText,
    IonBinary,
    Json,
}

impl ExportFormat {
    /// `ION_TEXT`, `ION_BINARY` or `JSON` (QLDB's names, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "ION_TEXT" => Some(Self::IonText),
            "ION_BINARY" => Some(Self::IonBinary),
            "JSON" => Some(Self::Json),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::IonText => "ION_TEXT",
            Self::IonBinary => "ION_BINARY",
            Self::Json => "JSON",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            _ => "ion",
        }
    }

    fn write(self, values: &[Element]) -> Result<Vec<u8>, LedgerError> {
        let mut out = Vec::new();
        for v in values {
            match self {
                Self::IonText => {
                    out.extend_from_slice(v.to_string().as_bytes());
                    out.push(b'\n');
                }
                Self::IonBinary => {
                    out.extend(v.encode_as(v1_0::Binary).map_err(|e| io_err("encode", e))?)
                }
                Self::Json => {
                    let j = ion_to_json(v)
                        .map_err(|e| LedgerError::InvalidRange(format!("JSON export: {e}")))?;
                    out.extend_from_slice(j.to_string().as_bytes());
                    out.push(b'\n');
                }
            }
        }
        Ok(out)
    }
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(StorageError::Backend(format!("{what}: {e}")))
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Blocks with `blockTimestamp` at or after this (default: the ledger's creation).
    pub start: Option<UtcMillis>,
    /// Blocks with `blockTimestamp` before this (default: now).
    pub end: Option<UtcMillis>,
    pub format: ExportFormat,
    /// Key prefix, as S3ExportConfiguration.Prefix.
    pub prefix: String,
    /// Recorded in the manifest, as S3ExportConfiguration.Bucket.
    pub bucket: String,
    /// At most this many blocks per data object.
    pub blocks_per_object: usize,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub export_id: String,
    pub started_manifest: String,
    pub completed_manifest: String,
    /// Data object keys, in order.
    pub keys: Vec<String>,
    pub blocks: u64,
}

fn write_file(root: &Path, key: &str, bytes: &[u8]) -> Result<(), LedgerError> {
    let path = root.join(key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err(parent.display(), e))?;
    }
    std::fs::write(&path, bytes).map_err(|e| io_err(path.display(), e))
}

fn hour_folder(t: UtcMillis) -> String {
    let (y, mo, d, h, ..) = t.fields();
    format!("{y:04}/{mo:02}/{d:02}/{h:02}")
}

fn block_time(block: &Element) -> Option<UtcMillis> {
    block
        .as_struct()?
        .get("blockTimestamp")?
        .as_timestamp()
        .map(|t| UtcMillis::from_ion(&t))
}

impl Ledger {
    /// Writes the blocks of `[start, end)` under `root` in QLDB's export layout.
    pub fn export_journal(
        &self,
        root: &Path,
        req: &ExportRequest,
    ) -> Result<ExportSummary, LedgerError> {
        let export_id = self.new_id();
        let first_time = block_time(&self.block_element(0)?).unwrap_or(UtcMillis(0));
        let start = req.start.map_or(first_time, |s| s.max(first_time));
        let end = req.end.unwrap_or_else(|| self.now());
        if end <= start {
            return Err(LedgerError::InvalidRange(format!(
                "the export window [{start}, {end}) is empty: the end must come after the start"
            )));
        }
        let ts = |t: UtcMillis| Element::from(t.to_ion());
        let started = Element::from(
            Element::struct_builder()
                .with_field("ledgerName", Element::string(self.name()))
                .with_field("exportId", Element::string(export_id.as_str()))
                .with_field("inclusiveStartTime", ts(start))
                .with_field("exclusiveEndTime", ts(end))
                .with_field("bucket", Element::string(req.bucket.as_str()))
                .with_field("prefix", Element::string(req.prefix.as_str()))
                .with_field("objectEncryptionType", Element::string("NO_ENCRYPTION"))
                .with_field("outputFormat", Element::string(req.format.name()))
                .build(),
        );
        let started_manifest = format!("{}{export_id}.started.manifest", req.prefix);
        write_file(root, &started_manifest, &req.format.write(&[started])?)?;

        let mut keys = Vec::new();
        let mut pending: Vec<(u64, Element)> = Vec::new();
        let mut folder = String::new();
        let mut exported = 0u64;
        let flush = |pending: &mut Vec<(u64, Element)>,
                     folder: &str,
                     keys: &mut Vec<String>|
         -> Result<(), LedgerError> {
            if let (Some((first, _)), Some((last, _))) = (pending.first(), pending.last()) {
                let key = format!(
                    "{}{folder}/{}.{first}-{last}.{}",
                    req.prefix,
                    self.strand_id(),
                    req.format.extension()
                );
                let blocks: Vec<Element> = pending.drain(..).map(|(_, b)| b).collect();
                write_file(root, &key, &req.format.write(&blocks)?)?;
                keys.push(key);
            }
            Ok(())
        };
        for seq in 0..self.block_count() {
            let block = self.block_element(seq)?;
            let Some(t) = block_time(&block) else {
                continue;
            };
            if t < start || t >= end {
                continue;
            }
            let f = hour_folder(t);
            if f != folder || pending.len() >= req.blocks_per_object.max(1) {
                flush(&mut pending, &folder, &mut keys)?;
                folder = f;
            }
            pending.push((seq, block));
            exported += 1;
        }
        flush(&mut pending, &folder, &mut keys)?;
        let completed = Element::from(
            Element::struct_builder()
                .with_field(
                    "keys",
                    Element::from(
                        Element::sequence_builder()
                            .push_all(keys.iter().map(|k| Element::string(k.as_str())))
                            .build_list(),
                    ),
                )
                .build(),
        );
        let completed_manifest = format!(
            "{}{export_id}.{}.completed.manifest",
            req.prefix,
            self.strand_id()
        );
        write_file(root, &completed_manifest, &req.format.write(&[completed])?)?;
        Ok(ExportSummary {
            export_id,
            started_manifest,
            completed_manifest,
            keys,
            blocks: exported,
        })
    }
}

/// Finds the one completed manifest under `root`.
pub fn find_completed_manifest(root: &Path) -> Result<PathBuf, LedgerError> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| io_err(dir.display(), e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".completed.manifest") {
                found.push(p);
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(LedgerError::InvalidRange(format!(
            "no *.completed.manifest under {}: is this a finished journal export?",
            root.display()
        ))),
        n => Err(LedgerError::InvalidRange(format!(
            "{n} completed manifests under {}: point at the folder of one export",
            root.display()
        ))),
    }
}

fn read_ion_values(path: &Path) -> Result<Vec<Element>, LedgerError> {
    use std::io::Read as _;
    let limit = crate::limits::EXPORT_OBJECT.max_bytes as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| io_err(path.display(), e))?;
    if bytes.len() as u64 > limit {
        return Err(LedgerError::InvalidRange(format!(
            "{} is larger than {limit} bytes, the limit for one export object",
            path.display()
        )));
    }
    // JSON is also valid Ion text, so the file name tells them apart.
    if path.extension().is_some_and(|e| e == "json") {
        return Err(LedgerError::InvalidRange(format!(
            "{} looks like a JSON export; JSON loses Ion's blob and timestamp types, so its hashes cannot be checked: export as ION_TEXT or ION_BINARY",
            path.display()
        )));
    }
    // An export may come from anywhere: its nesting is checked before ion-rs recurses into it.
    crate::limits::read_all_ion(&bytes, crate::limits::EXPORT_OBJECT)
        .map_err(|e| LedgerError::InvalidRange(format!("{}: {e}", path.display())))
}

/// Reads the blocks of a journal export, in the manifest's order. Nothing is verified here.
pub fn read_export(root: &Path) -> Result<Vec<Element>, LedgerError> {
    let manifest = find_completed_manifest(root)?;
    let values = read_ion_values(&manifest)?;
    let keys: Vec<String> = values
        .first()
        .and_then(Element::as_struct)
        .and_then(|s| s.get("keys"))
        .and_then(Element::as_sequence)
        .map(|seq| {
            seq.iter()
                .filter_map(|k| k.as_text().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| {
            LedgerError::InvalidRange(format!("{}: no `keys` list", manifest.display()))
        })?;
    let mut blocks = Vec::new();
    for key in keys {
        // Keys are full object keys; an export synced from S3 keeps them relative to the bucket.
        let path = root.join(&key);
        let path = if path.is_file() {
            path
        } else {
            manifest
                .parent()
                .map(|p| p.join(Path::new(&key).file_name().unwrap_or_default()))
                .unwrap_or(path)
        };
        blocks.extend(read_ion_values(&path)?);
    }
    Ok(blocks)
}

fn text_field<'a>(st: &'a veritrail_core::ion_rs::Struct, name: &str) -> Option<&'a str> {
    st.get(name).and_then(Element::as_text)
}

/// Blocks written per storage commit by an import.
const IMPORT_CHUNK: usize = 1000;

/// Catalog state carried from one imported block to the next.
struct Importing {
    frontier: Frontier,
    seen_tables: HashSet<String>,
}

impl Importing {
    /// The storage batch of block `seq`, a block that verified.
    fn batch(&mut self, seq: u64, block: &Element) -> Result<CommitBatch, LedgerError> {
        let bad = |what: &str| LedgerError::InvalidRange(format!("imported block {seq}: {what}"));
        let mut tables: Vec<TableRow> = Vec::new();
        let st = block.as_struct().ok_or_else(|| bad("not a struct"))?;
        let block_hash = st
            .get("blockHash")
            .and_then(Element::as_blob)
            .and_then(|b| Hash32::from_slice(b).ok())
            .ok_or_else(|| bad("no blockHash"))?;
        let docs = st
            .get("transactionInfo")
            .and_then(Element::as_struct)
            .and_then(|t| t.get("documents"))
            .and_then(Element::as_struct);
        let mut revisions = Vec::new();
        let mut revision_tables = Vec::new();
        let mut hashes = Vec::new();
        let list = st.get("revisions").and_then(Element::as_sequence);
        for (i, rev) in list.into_iter().flat_map(|l| l.iter()).enumerate() {
            let rst = rev
                .as_struct()
                .ok_or_else(|| bad("a revision is not a struct"))?;
            let hash = rst
                .get("hash")
                .and_then(Element::as_blob)
                .and_then(|b| Hash32::from_slice(b).ok())
                .ok_or_else(|| bad("a revision has no hash"))?;
            hashes.push(hash);
            let meta = rst.get("metadata").and_then(Element::as_struct);
            let (kind, document_id, version, body) = match meta {
                None => (RevisionKind::HashOnly, "0".repeat(22), 0, Vec::new()),
                Some(m) => (
                    RevisionKind::Full,
                    text_field(m, "id")
                        .ok_or_else(|| bad("a revision has no metadata.id"))?
                        .to_owned(),
                    m.get("version")
                        .and_then(Element::as_i64)
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(0),
                    rev.encode_as(v1_0::Binary)
                        .map_err(|e| io_err("encode", e))?,
                ),
            };
            let table = docs
                .and_then(|d| d.get(document_id.as_str()))
                .and_then(Element::as_struct)
                .map(|d| {
                    (
                        text_field(d, "tableId").unwrap_or(""),
                        text_field(d, "tableName").unwrap_or(""),
                    )
                });
            let table_id = table.map_or(String::new(), |(id, _)| id.to_owned());
            if let Some((id, tname)) = table {
                if !id.is_empty() && self.seen_tables.insert(id.to_owned()) {
                    tables.push(TableRow {
                        table_id: id.to_owned(),
                        name: tname.to_owned(),
                        status: TableStatus::Active,
                        indexes: vec![],
                        last_write_seq: seq,
                    });
                }
            }
            revision_tables.push(table_id);
            revisions.push(StoredRevision {
                seq,
                index: u32::try_from(i).map_err(|_| bad("too many revisions"))?,
                document_id,
                version,
                kind,
                body,
            });
        }
        let header = Element::from(st.clone_builder().remove_field("revisions").build());
        let nodes = self.frontier.push(block_hash);
        Ok(CommitBatch {
            block: StoredBlock {
                seq,
                header: header
                    .encode_as(v1_0::Binary)
                    .map_err(|e| io_err("encode", e))?,
                revision_hashes: hashes,
            },
            revisions,
            nodes,
            revision_tables,
            tables,
            index_updates: vec![],
        })
    }
}

impl Ledger {
    /// Creates a ledger holding an imported journal, block for block, hashes as they are.
    /// The blocks must already have been verified (each block, every chain link, from block 0).
    pub fn import(
        path: &Path,
        name: &str,
        blocks: &[Element],
        options: LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        if !crate::journal::is_valid_ledger_name(name) {
            return Err(LedgerError::InvalidName(name.to_owned()));
        }
        let first = blocks
            .first()
            .ok_or_else(|| LedgerError::InvalidRange("the export holds no blocks".into()))?;
        let strand = first
            .as_struct()
            .and_then(|s| s.get("blockAddress"))
            .and_then(Element::as_struct)
            .and_then(|a| text_field(a, "strandId"))
            .ok_or_else(|| {
                LedgerError::InvalidRange("imported block 0: no blockAddress.strandId".into())
            })?
            .to_owned();
        let created = block_time(first).unwrap_or(UtcMillis(0));
        let mut storage = AnyStorage::create(
            &options.storage,
            path,
            &[
                ("name", name.to_owned()),
                ("strand_id", strand.clone()),
                ("created", created.to_string()),
                ("imported_blocks", blocks.len().to_string()),
            ],
            options.durability,
        )?;
        storage.acquire_writer()?;
        let mut importing = Importing {
            frontier: Frontier::default(),
            seen_tables: HashSet::new(),
        };
        for (n, chunk) in blocks.chunks(IMPORT_CHUNK).enumerate() {
            let first = (n * IMPORT_CHUNK) as u64;
            let batches = chunk
                .iter()
                .zip(first..)
                .map(|(block, seq)| importing.batch(seq, block))
                .collect::<Result<Vec<_>, _>>()?;
            storage.commit(&batches)?;
        }
        drop(storage);
        Ledger::open(path, options)
    }

    /// Appends blocks to a replica (a ledger made by [`Ledger::import`] that holds nothing but
    /// imported blocks) as the blocks after its tip, hashes as they are; the count of imported
    /// blocks moves in the same storage commit. The blocks must already have been verified as
    /// the continuation of this ledger (sequence, strand, chain link from its last block).
    pub fn append_imported(&mut self, blocks: &[Element]) -> Result<(), LedgerError> {
        self.prepare_write()?;
        let size = self.block_count();
        let imported = self.imported_blocks()?;
        if imported != size {
            return Err(LedgerError::InvalidRange(format!(
                "{} holds {} blocks written here after the {imported} imported ones: it is no longer a replica, and nothing can be appended to it",
                self.name(),
                size.saturating_sub(imported)
            )));
        }
        let mut importing = Importing {
            frontier: self.frontier.clone(),
            seen_tables: self
                .storage
                .tables()?
                .into_iter()
                .map(|t| t.table_id)
                .collect(),
        };
        for (n, chunk) in blocks.chunks(IMPORT_CHUNK).enumerate() {
            let first = size + (n * IMPORT_CHUNK) as u64;
            let batches = chunk
                .iter()
                .zip(first..)
                .map(|(block, seq)| importing.batch(seq, block))
                .collect::<Result<Vec<_>, _>>()?;
            let count = first + chunk.len() as u64;
            self.storage
                .commit_with_meta(&batches, &[("imported_blocks", count.to_string())])?;
            self.frontier = importing.frontier.clone();
            if let Some(last) = chunk.last() {
                self.last_block_hash = last
                    .as_struct()
                    .and_then(|s| s.get("blockHash"))
                    .and_then(Element::as_blob)
                    .and_then(|b| Hash32::from_slice(b).ok());
                if let Some(t) = block_time(last) {
                    self.last_timestamp = t;
                }
            }
        }
        Ok(())
    }
}
