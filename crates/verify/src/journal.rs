//! Streaming verification of a whole journal: blocks are handed over in order, each is checked
//! on its own (`check_block`), against its predecessor (sequence, strand, previous hash), and
//! folded into an independently computed Merkle tree, so the caller can compare every stored
//! subtree hash and digest with what the blocks really hash to.

use std::fmt;

use veritrail_core::ion_rs::Element;
use veritrail_core::{Hash32, dot};

use crate::qldb::{BlockError, CheckedBlock, check_block, check_block_strict};

/// The first thing wrong with a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError {
    /// Block at position `position` fails its own checks.
    Block { position: u64, error: BlockError },
    /// The block at `position` says it is block `found`.
    Sequence { position: u64, found: u64 },
    /// The block is in another strand than the blocks before it.
    Strand {
        position: u64,
        found: String,
        expected: String,
    },
    /// The first block names a previous block.
    FirstHasPrevious,
    /// The block's `previousBlockHash` is not the previous block's hash.
    ChainLink {
        position: u64,
        expected: Hash32,
        found: Option<Hash32>,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block { position, error } => write!(f, "block {position}: {error}"),
            Self::Sequence { position, found } => write!(
                f,
                "block {position}: it says it is block {found} (blocks deleted, reordered or renumbered)"
            ),
            Self::Strand {
                position,
                found,
                expected,
            } => write!(
                f,
                "block {position}: strand {found}, but the journal's strand is {expected}"
            ),
            Self::FirstHasPrevious => {
                f.write_str("block 0: the first block names a previous block")
            }
            Self::ChainLink {
                position,
                expected,
                found,
            } => write!(
                f,
                "block {position}: chain link: previousBlockHash is {} but block {} hashes to {expected}",
                found.map_or_else(|| "(none)".to_owned(), |h| h.to_base64()),
                position.saturating_sub(1)
            ),
        }
    }
}

impl std::error::Error for JournalError {}

/// A block accepted by [`JournalVerifier::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBlock {
    pub block: CheckedBlock,
    /// Complete-subtree hashes this block completed, (level, index, hash), the leaf first.
    pub nodes: Vec<(u32, u64, Hash32)>,
}

/// Verifies a journal block by block.
#[derive(Debug, Default)]
pub struct JournalVerifier {
    /// Blocks from this position on must follow veritrail's strict layout.
    strict_from: Option<u64>,
    size: u64,
    strand: Option<String>,
    previous: Option<Hash32>,
    pending: Vec<Option<Hash32>>,
}

impl JournalVerifier {
    /// For veritrail journals: every block must also cover its header fields
    /// ([`check_block_strict`]).
    pub fn veritrail() -> Self {
        Self::imported_then_veritrail(0)
    }

    /// For a ledger whose first `imported` blocks came from a QLDB export: those are checked by
    /// QLDB's rules, the blocks veritrail wrote after them by its strict ones.
    pub fn imported_then_veritrail(imported: u64) -> Self {
        Self {
            strict_from: Some(imported),
            ..Self::default()
        }
    }

    /// For journals exported from Amazon QLDB: QLDB's rules only ([`check_block`]).
    pub fn qldb() -> Self {
        Self::default()
    }

    /// For the blocks after the first `size` blocks of a journal already held (a replica being
    /// brought up to date), by QLDB's rules: the next block must be block `size` of `strand`
    /// and link to `previous`, the hash of block `size - 1`. `peaks` are the journal's complete
    /// subtrees from the largest down, one per set bit of `size`, so that [`Self::root`] is the
    /// digest of the whole journal; `None` when their number does not fit `size`.
    pub fn qldb_continuing(
        size: u64,
        strand: &str,
        previous: Hash32,
        peaks: &[Hash32],
    ) -> Option<Self> {
        if size == 0 || peaks.len() != size.count_ones() as usize {
            return None;
        }
        let levels = 64 - size.leading_zeros() as usize;
        let mut pending = vec![None; levels];
        let set_bits = (0..levels).rev().filter(|level| size >> level & 1 == 1);
        for (level, peak) in set_bits.zip(peaks) {
            pending[level] = Some(*peak);
        }
        Some(Self {
            strict_from: None,
            size,
            strand: Some(strand.to_owned()),
            previous: Some(previous),
            pending,
        })
    }

    /// Blocks accepted so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest over the blocks accepted so far.
    pub fn root(&self) -> Option<Hash32> {
        self.pending.iter().flatten().fold(None, |acc, node| {
            Some(match acc {
                None => *node,
                Some(right) => dot(node, &right),
            })
        })
    }

    /// Checks the next block.
    pub fn push(&mut self, block: &Element) -> Result<VerifiedBlock, JournalError> {
        let position = self.size;
        let strict = self.strict_from.is_some_and(|from| position >= from);
        let checked = if strict {
            check_block_strict(block)
        } else {
            check_block(block)
        }
        .map_err(|error| JournalError::Block { position, error })?;
        if checked.address.sequence_no != position {
            return Err(JournalError::Sequence {
                position,
                found: checked.address.sequence_no,
            });
        }
        match &self.strand {
            Some(s) if *s != checked.address.strand_id => {
                return Err(JournalError::Strand {
                    position,
                    found: checked.address.strand_id.clone(),
                    expected: s.clone(),
                });
            }
            _ => {}
        }
        match (&self.previous, &checked.previous_block_hash) {
            // QLDB's first block may name a previous hash (its shape is not documented); blocks
            // veritrail writes never do.
            (None, Some(_)) if strict => return Err(JournalError::FirstHasPrevious),
            (Some(expected), found) if !found.is_some_and(|f| f.ct_eq(expected)) => {
                return Err(JournalError::ChainLink {
                    position,
                    expected: *expected,
                    found: *found,
                });
            }
            _ => {}
        }
        let leaf = checked.block_hash;
        let mut nodes = vec![(0u32, position, leaf)];
        let (mut carry, mut level) = (leaf, 0usize);
        loop {
            if self.pending.len() <= level {
                self.pending.push(None);
            }
            match self.pending[level].take() {
                Some(left) => {
                    carry = dot(&left, &carry);
                    level += 1;
                    nodes.push((level as u32, position >> level, carry));
                }
                None => {
                    self.pending[level] = Some(carry);
                    break;
                }
            }
        }
        self.strand = Some(checked.address.strand_id.clone());
        self.previous = Some(leaf);
        self.size += 1;
        Ok(VerifiedBlock {
            block: checked,
            nodes,
        })
    }
}
