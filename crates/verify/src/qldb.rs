//! Verification of QLDB revisions, blocks and bare document hashes against a digest
//! (`../shared/specs/qldb.md` §2), and of the link between consecutive blocks.

use std::fmt;

use veritrail_core::ion_rs::{Element, Struct};
use veritrail_core::qldb::{block_hash, revision_hash};
use veritrail_core::{Hash32, fold_proof, ion_hash, merkle_root};

use crate::input::{
    BlockAddress, Digest, InputError, as_struct, block_address, join, optional_hash, required,
    required_hash,
};

/// A proof that does not fold to the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError {
    /// The proof folded from the leaf.
    pub computed: Hash32,
    /// The digest it should have produced.
    pub digest: Hash32,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "proof fold: the proof folds to {} but the digest is {}",
            self.computed, self.digest
        )
    }
}

impl std::error::Error for ProofError {}

/// Folds `proof` from `leaf` and compares the result with `digest` in constant time.
pub fn verify_document_hash(
    leaf: &Hash32,
    proof: &[Hash32],
    digest: &Hash32,
) -> Result<(), ProofError> {
    let computed = fold_proof(leaf, proof);
    if computed.ct_eq(digest) {
        Ok(())
    } else {
        Err(ProofError {
            computed,
            digest: *digest,
        })
    }
}

/// Why a revision did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevisionError {
    /// The revision is not a readable QLDB revision.
    Malformed(InputError),
    /// `dot(H(metadata), H(data))` is not the revision's stated `hash`.
    RevisionHash { stated: Hash32, computed: Hash32 },
    /// The revision is in another strand than the digest.
    StrandMismatch { revision: String, digest: String },
    /// The revision's block comes after the digest's tip, so the digest cannot cover it.
    TipBeforeBlock { block: u64, tip: u64 },
    /// The proof does not fold to the digest.
    ProofFold(ProofError),
    /// The file has no proof to check against the digest.
    NoProof,
}

impl RevisionError {
    /// A short stable name of the check that failed, for scripts.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "input",
            Self::RevisionHash { .. } => "revision hash",
            Self::StrandMismatch { .. } => "strand",
            Self::TipBeforeBlock { .. } => "digest tip",
            Self::ProofFold(_) => "proof fold",
            Self::NoProof => "proof",
        }
    }
}

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "{e}"),
            Self::RevisionHash { stated, computed } => write!(
                f,
                "revision hash: the revision says {stated} but its metadata and data hash to {computed}"
            ),
            Self::StrandMismatch { revision, digest } => write!(
                f,
                "strand: the revision is in strand {revision} but the digest covers strand {digest}"
            ),
            Self::TipBeforeBlock { block, tip } => write!(
                f,
                "digest tip: the revision is in block {block}, after the digest's tip {tip}; use a later digest"
            ),
            Self::ProofFold(e) => write!(f, "{e}"),
            Self::NoProof => f.write_str("proof: the revision file has no Proof"),
        }
    }
}

impl std::error::Error for RevisionError {}

impl From<InputError> for RevisionError {
    fn from(e: InputError) -> Self {
        Self::Malformed(e)
    }
}

/// What a verified revision is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionReport {
    pub document_id: Option<String>,
    pub version: Option<u64>,
    pub block: BlockAddress,
    pub revision_hash: Hash32,
    pub proof_len: usize,
}

/// The data-hash leg of a revision: `H(data)`, the kept `dataHash` of a redacted revision,
/// or nothing for a deleted one.
fn data_hash(st: &Struct, path: &str) -> Result<Option<Hash32>, InputError> {
    match st.get("data") {
        Some(data) => Ok(Some(ion_hash(data))),
        None => optional_hash(st, "dataHash", path),
    }
}

/// Recomputes a revision's hash from its metadata and data, and checks it against the stated
/// `hash`. Returns the hash.
fn check_revision_hash(st: &Struct, path: &str) -> Result<Hash32, RevisionError> {
    let metadata = required(st, "metadata", path)?;
    as_struct(metadata, &join(path, "metadata"))?;
    let computed = revision_hash(metadata, data_hash(st, path)?.as_ref());
    let stated = required_hash(st, "hash", path)?;
    if stated.ct_eq(&computed) {
        Ok(computed)
    } else {
        Err(RevisionError::RevisionHash { stated, computed })
    }
}

fn check_tip(block: &BlockAddress, tip: &BlockAddress) -> Result<(), RevisionError> {
    if block.strand_id != tip.strand_id {
        return Err(RevisionError::StrandMismatch {
            revision: block.strand_id.clone(),
            digest: tip.strand_id.clone(),
        });
    }
    if block.sequence_no > tip.sequence_no {
        return Err(RevisionError::TipBeforeBlock {
            block: block.sequence_no,
            tip: tip.sequence_no,
        });
    }
    Ok(())
}

/// Verifies a revision (GetRevision's `Revision`) and its proof against a digest: the revision
/// hash is recomputed from metadata and data, then the proof is folded from it.
pub fn verify_revision(
    revision: &Element,
    proof: Option<&[Hash32]>,
    digest: &Digest,
) -> Result<RevisionReport, RevisionError> {
    let st = as_struct(revision, "Revision")?;
    let block = block_address(
        required(st, "blockAddress", "Revision")?,
        "Revision.blockAddress",
    )?;
    let revision_hash = check_revision_hash(st, "Revision")?;
    check_tip(&block, &digest.tip)?;
    let proof = proof.ok_or(RevisionError::NoProof)?;
    verify_document_hash(&revision_hash, proof, &digest.digest)
        .map_err(RevisionError::ProofFold)?;
    let metadata = required(st, "metadata", "Revision")?;
    let meta = as_struct(metadata, "Revision.metadata")?;
    Ok(RevisionReport {
        document_id: meta.get("id").and_then(Element::as_text).map(str::to_owned),
        version: meta
            .get("version")
            .and_then(|v| v.as_int())
            .and_then(|i| i.as_u64()),
        block,
        revision_hash,
        proof_len: proof.len(),
    })
}

/// Why a block did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockError {
    /// The block is not a readable QLDB block.
    Malformed(InputError),
    /// Revision `index` does not hash to its stated hash.
    RevisionHash {
        index: usize,
        stated: Hash32,
        computed: Hash32,
    },
    /// Revision `index` names another block than the one it is in.
    RevisionBlockAddress { index: usize },
    /// Revision `index` names another transaction than the block's.
    RevisionTransaction { index: usize },
    /// The Merkle root of the revisions is not among `entriesHashList`.
    RevisionsRootNotListed { root: Hash32 },
    /// `H(transactionInfo)` is not among `entriesHashList`.
    TransactionInfoNotListed { hash: Hash32 },
    /// `H(redactionInfo)` is not among `entriesHashList`.
    RedactionInfoNotListed { hash: Hash32 },
    /// Strict (veritrail) blocks: `H({blockAddress, transactionId, blockTimestamp})` is not
    /// among `entriesHashList`, so one of those header fields was changed.
    BlockInfoNotListed { hash: Hash32 },
    /// The Merkle root of `entriesHashList` is not the stated `entriesHash`.
    EntriesHash { stated: Hash32, computed: Hash32 },
    /// `dot(entriesHash, previousBlockHash)` is not the stated `blockHash`.
    BlockHash { stated: Hash32, computed: Hash32 },
    /// The block is in another strand than the digest.
    StrandMismatch { block: String, digest: String },
    /// The block comes after the digest's tip.
    TipBeforeBlock { block: u64, tip: u64 },
    /// The proof does not fold to the digest.
    ProofFold(ProofError),
    /// The file has no proof to check against the digest.
    NoProof,
}

impl BlockError {
    /// A short stable name of the check that failed, for scripts.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "input",
            Self::RevisionHash { .. } => "revision hash",
            Self::RevisionBlockAddress { .. } => "revision block address",
            Self::RevisionTransaction { .. } => "revision transaction",
            Self::RevisionsRootNotListed { .. } => "revisions root",
            Self::TransactionInfoNotListed { .. } => "transaction info hash",
            Self::RedactionInfoNotListed { .. } => "redaction info hash",
            Self::BlockInfoNotListed { .. } => "block info hash",
            Self::EntriesHash { .. } => "entries hash",
            Self::BlockHash { .. } => "block hash",
            Self::StrandMismatch { .. } => "strand",
            Self::TipBeforeBlock { .. } => "digest tip",
            Self::ProofFold(_) => "proof fold",
            Self::NoProof => "proof",
        }
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "{e}"),
            Self::RevisionHash {
                index,
                stated,
                computed,
            } => write!(
                f,
                "revision hash: revision {index} says {stated} but its metadata and data hash to {computed}"
            ),
            Self::RevisionBlockAddress { index } => write!(
                f,
                "revision block address: revision {index} names another block than the one it is in"
            ),
            Self::RevisionTransaction { index } => write!(
                f,
                "revision transaction: revision {index}'s metadata.txId is not the block's transactionId"
            ),
            Self::RevisionsRootNotListed { root } => write!(
                f,
                "revisions root: the revisions hash to {root}, which is not in entriesHashList"
            ),
            Self::TransactionInfoNotListed { hash } => write!(
                f,
                "transaction info hash: transactionInfo hashes to {hash}, which is not in entriesHashList"
            ),
            Self::RedactionInfoNotListed { hash } => write!(
                f,
                "redaction info hash: redactionInfo hashes to {hash}, which is not in entriesHashList"
            ),
            Self::BlockInfoNotListed { hash } => write!(
                f,
                "block info hash: blockAddress, transactionId and blockTimestamp hash to {hash}, which is not in entriesHashList (one of them was changed)"
            ),
            Self::EntriesHash { stated, computed } => write!(
                f,
                "entries hash: the block says {stated} but entriesHashList hashes to {computed}"
            ),
            Self::BlockHash { stated, computed } => write!(
                f,
                "block hash: the block says {stated} but dot(entriesHash, previousBlockHash) is {computed}"
            ),
            Self::StrandMismatch { block, digest } => write!(
                f,
                "strand: the block is in strand {block} but the digest covers strand {digest}"
            ),
            Self::TipBeforeBlock { block, tip } => write!(
                f,
                "digest tip: block {block} comes after the digest's tip {tip}; use a later digest"
            ),
            Self::ProofFold(e) => write!(f, "{e}"),
            Self::NoProof => f.write_str("proof: the block file has no Proof"),
        }
    }
}

impl std::error::Error for BlockError {}

impl From<InputError> for BlockError {
    fn from(e: InputError) -> Self {
        Self::Malformed(e)
    }
}

/// What a verified block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockReport {
    pub block: BlockAddress,
    pub block_hash: Hash32,
    pub revisions: usize,
    pub proof_len: usize,
    /// The rules it was held to: [`BlockRules::Qldb`] or [`BlockRules::Veritrail`].
    pub rules: BlockRules,
}

/// A block whose internal hashes have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBlock {
    pub address: BlockAddress,
    pub block_hash: Hash32,
    pub previous_block_hash: Option<Hash32>,
    pub revisions: usize,
    /// The recomputed hash of each revision (the stated hash of hash-only ones), in order.
    pub revision_hashes: Vec<Hash32>,
}

fn listed(list: &[Hash32], h: &Hash32) -> bool {
    // Every comparison runs, so timing says nothing about which entry matched.
    list.iter().fold(false, |found, e| found | e.ct_eq(h))
}

/// What [`check_block`] learned beyond the [`CheckedBlock`]: the parts that decide and apply
/// veritrail's rule.
struct BlockParts<'a> {
    st: &'a Struct,
    entries: Vec<Hash32>,
    transaction_info_hash: Option<Hash32>,
}

/// Checks a block's internal hashes: every revision hash, the revisions root and
/// `H(transactionInfo)` (and `H(redactionInfo)`) among `entriesHashList`, `entriesHash`, and
/// `blockHash = dot(entriesHash, previousBlockHash)`.
pub fn check_block(block: &Element) -> Result<CheckedBlock, BlockError> {
    check_block_parts(block).map(|(checked, _)| checked)
}

fn check_block_parts(block: &Element) -> Result<(CheckedBlock, BlockParts<'_>), BlockError> {
    let path = "Block";
    let st = as_struct(block, path)?;
    let address = block_address(required(st, "blockAddress", path)?, "Block.blockAddress")?;
    let transaction_id = st.get("transactionId").and_then(Element::as_text);

    let mut leaves = Vec::new();
    if let Some(revisions) = st.get("revisions") {
        let list = revisions
            .as_list()
            .ok_or_else(|| InputError::new("Block.revisions", "expected a list"))?;
        for (index, revision) in list.iter().enumerate() {
            let rpath = format!("Block.revisions[{index}]");
            let rst = as_struct(revision, &rpath)?;
            if rst.get("metadata").is_none() {
                // A hash-only system revision: it counts as a leaf as it is.
                leaves.push(required_hash(rst, "hash", &rpath)?);
                continue;
            }
            let hash = check_revision_hash(rst, &rpath).map_err(|e| match e {
                RevisionError::RevisionHash { stated, computed } => BlockError::RevisionHash {
                    index,
                    stated,
                    computed,
                },
                RevisionError::Malformed(m) => BlockError::Malformed(m),
                other => BlockError::Malformed(InputError::new(rpath.clone(), other.to_string())),
            })?;
            if let Some(ba) = rst.get("blockAddress") {
                if block_address(ba, &join(&rpath, "blockAddress"))? != address {
                    return Err(BlockError::RevisionBlockAddress { index });
                }
            }
            let tx = required(rst, "metadata", &rpath)?
                .as_struct()
                .and_then(|m| m.get("txId"))
                .and_then(Element::as_text);
            if let (Some(tx), Some(block_tx)) = (tx, transaction_id) {
                if tx != block_tx {
                    return Err(BlockError::RevisionTransaction { index });
                }
            }
            leaves.push(hash);
        }
    }

    let entries_list = required(st, "entriesHashList", path)?
        .as_list()
        .ok_or_else(|| InputError::new("Block.entriesHashList", "expected a list of blobs"))?;
    let entries: Vec<Hash32> = entries_list
        .iter()
        .enumerate()
        .map(|(i, e)| crate::input::hash_value(e, &format!("Block.entriesHashList[{i}]")))
        .collect::<Result<_, _>>()?;

    if let Some(root) = merkle_root(&leaves) {
        if !listed(&entries, &root) {
            return Err(BlockError::RevisionsRootNotListed { root });
        }
    }
    let transaction_info_hash = st
        .get("transactionInfo")
        .filter(|v| !v.is_null())
        .map(ion_hash);
    if let Some(hash) = transaction_info_hash {
        if !listed(&entries, &hash) {
            return Err(BlockError::TransactionInfoNotListed { hash });
        }
    }
    if let Some(info) = st.get("redactionInfo").filter(|v| !v.is_null()) {
        let hash = ion_hash(info);
        if !listed(&entries, &hash) {
            return Err(BlockError::RedactionInfoNotListed { hash });
        }
    }

    let stated_entries = required_hash(st, "entriesHash", path)?;
    let computed_entries = merkle_root(&entries).ok_or_else(|| {
        BlockError::Malformed(InputError::new("Block.entriesHashList", "is empty"))
    })?;
    if !stated_entries.ct_eq(&computed_entries) {
        return Err(BlockError::EntriesHash {
            stated: stated_entries,
            computed: computed_entries,
        });
    }
    let previous_block_hash = optional_hash(st, "previousBlockHash", path)?;
    let computed = block_hash(&computed_entries, previous_block_hash.as_ref());
    let stated = required_hash(st, "blockHash", path)?;
    if !stated.ct_eq(&computed) {
        return Err(BlockError::BlockHash { stated, computed });
    }
    let checked = CheckedBlock {
        address,
        block_hash: computed,
        previous_block_hash,
        revisions: leaves.len(),
        revision_hashes: leaves,
    };
    Ok((
        checked,
        BlockParts {
            st,
            entries,
            transaction_info_hash,
        },
    ))
}

/// [`check_block`], plus the rule veritrail's own journals follow: the header fields QLDB
/// leaves unhashed are covered by `H({blockAddress, transactionId, blockTimestamp})` in
/// `entriesHashList`. Real QLDB blocks do not carry that entry; use [`check_block`] for them.
pub fn check_block_strict(block: &Element) -> Result<CheckedBlock, BlockError> {
    let (checked, parts) = check_block_parts(block)?;
    check_block_info(&parts)?;
    Ok(checked)
}

fn check_block_info(parts: &BlockParts<'_>) -> Result<(), BlockError> {
    let mut info = Element::struct_builder();
    for name in ["blockAddress", "transactionId", "blockTimestamp"] {
        info = info.with_field(name, required(parts.st, name, "Block")?.clone());
    }
    let hash = ion_hash(&Element::from(info.build()));
    if listed(&parts.entries, &hash) {
        Ok(())
    } else {
        Err(BlockError::BlockInfoNotListed { hash })
    }
}

/// Which rules a block is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockRules {
    /// Recognise the layout from the parts of the block its hash covers (see
    /// [`check_block_with`]).
    Auto,
    /// QLDB's published rules only ([`check_block`]).
    Qldb,
    /// QLDB's rules and veritrail's block-info entry ([`check_block_strict`]).
    Veritrail,
}

impl BlockRules {
    /// `auto`, `qldb` or `veritrail`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Qldb => "qldb",
            Self::Veritrail => "veritrail",
        }
    }
}

/// True when the block is laid out as veritrail writes blocks: `entriesHashList` is exactly
/// `[revisionsRoot, H(transactionInfo), one more]` (without the root when there are no
/// revisions). Only hashed parts decide (the list, the revisions, `transactionInfo`: all
/// covered by `entriesHash`, so by `blockHash` and the proof), never the unhashed header fields
/// an attacker may have changed. Real QLDB blocks list internal hashes around these and put
/// `H(transactionInfo)` last (`../shared/specs/qldb.md` §2.2, §8.1).
fn is_veritrail_layout(checked: &CheckedBlock, parts: &BlockParts<'_>) -> bool {
    let Some(info) = parts.transaction_info_hash else {
        return false;
    };
    let mut expected: Vec<Hash32> = merkle_root(&checked.revision_hashes).into_iter().collect();
    expected.push(info);
    parts.entries.len() == expected.len() + 1
        && parts
            .entries
            .iter()
            .zip(&expected)
            .fold(true, |same, (e, x)| same & e.ct_eq(x))
}

/// Checks a block by `rules`, and says which rules were applied. With [`BlockRules::Auto`], a
/// block laid out as veritrail writes blocks is held to veritrail's rule too, so a changed
/// `blockTimestamp`, `transactionId` or `blockAddress` fails; any other block is checked by
/// QLDB's rules.
pub fn check_block_with(
    block: &Element,
    rules: BlockRules,
) -> Result<(CheckedBlock, BlockRules), BlockError> {
    let (checked, parts) = check_block_parts(block)?;
    let applied = match rules {
        BlockRules::Auto if is_veritrail_layout(&checked, &parts) => BlockRules::Veritrail,
        BlockRules::Auto => BlockRules::Qldb,
        other => other,
    };
    if applied == BlockRules::Veritrail {
        check_block_info(&parts)?;
    }
    Ok((checked, applied))
}

/// Verifies a block (GetBlock's `Block`): its internal hashes by the rules its layout calls
/// for ([`BlockRules::Auto`]), then its proof against a digest.
pub fn verify_block(
    block: &Element,
    proof: Option<&[Hash32]>,
    digest: &Digest,
) -> Result<BlockReport, BlockError> {
    verify_block_with(block, proof, digest, BlockRules::Auto)
}

/// [`verify_block`] with the rules chosen by the caller.
pub fn verify_block_with(
    block: &Element,
    proof: Option<&[Hash32]>,
    digest: &Digest,
    rules: BlockRules,
) -> Result<BlockReport, BlockError> {
    let (checked, rules) = check_block_with(block, rules)?;
    if checked.address.strand_id != digest.tip.strand_id {
        return Err(BlockError::StrandMismatch {
            block: checked.address.strand_id,
            digest: digest.tip.strand_id.clone(),
        });
    }
    if checked.address.sequence_no > digest.tip.sequence_no {
        return Err(BlockError::TipBeforeBlock {
            block: checked.address.sequence_no,
            tip: digest.tip.sequence_no,
        });
    }
    let proof = proof.ok_or(BlockError::NoProof)?;
    verify_document_hash(&checked.block_hash, proof, &digest.digest)
        .map_err(BlockError::ProofFold)?;
    Ok(BlockReport {
        block: checked.address,
        block_hash: checked.block_hash,
        revisions: checked.revisions,
        proof_len: proof.len(),
        rules,
    })
}

/// Why two blocks do not form a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// One of the blocks fails its own checks.
    Block {
        sequence_no: Option<u64>,
        error: BlockError,
    },
    /// The second block is not the next one in the same strand.
    NotConsecutive {
        previous: BlockAddress,
        next: BlockAddress,
    },
    /// The second block's `previousBlockHash` is not the first block's `blockHash`.
    PreviousBlockHash {
        sequence_no: u64,
        expected: Hash32,
        found: Option<Hash32>,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block {
                sequence_no: Some(n),
                error,
            } => write!(f, "block {n}: {error}"),
            Self::Block {
                sequence_no: None,
                error,
            } => write!(f, "{error}"),
            Self::NotConsecutive { previous, next } => {
                write!(f, "chain: block {next} does not follow block {previous}")
            }
            Self::PreviousBlockHash {
                sequence_no,
                expected,
                found,
            } => write!(
                f,
                "chain link: block {sequence_no} has previousBlockHash {} but the block before it hashes to {expected}",
                found.map_or_else(|| "(none)".to_owned(), |h| h.to_base64())
            ),
        }
    }
}

impl std::error::Error for ChainError {}

/// Checks both blocks (by the rules their layout calls for) and that `next` follows `previous`: the next sequence number in the same
/// strand, with `previousBlockHash` equal to the previous block's hash.
pub fn verify_chain_link(previous: &Element, next: &Element) -> Result<(), ChainError> {
    let check = |block| {
        check_block_with(block, BlockRules::Auto)
            .map(|(checked, _)| checked)
            .map_err(|error| ChainError::Block {
                sequence_no: None,
                error,
            })
    };
    let (p, n) = (check(previous)?, check(next)?);
    if n.address.strand_id != p.address.strand_id
        || p.address.sequence_no.checked_add(1) != Some(n.address.sequence_no)
    {
        return Err(ChainError::NotConsecutive {
            previous: p.address,
            next: n.address,
        });
    }
    match n.previous_block_hash {
        Some(h) if h.ct_eq(&p.block_hash) => Ok(()),
        found => Err(ChainError::PreviousBlockHash {
            sequence_no: n.address.sequence_no,
            expected: p.block_hash,
            found,
        }),
    }
}
