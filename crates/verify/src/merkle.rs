//! Merkle proofs over the journal's block tree with QLDB's `dot` as the node hash:
//! consistency between two digests (RFC 9162 §2.1.4.2) and inclusion with a size check
//! (RFC 9162 §2.1.3.2). `dot` is commutative, so the RFC's left/right order drops out.

use std::fmt;

use veritrail_core::{Hash32, dot};

/// Why a consistency proof failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsistencyError {
    /// Sizes out of order, or zero.
    InvalidSizes { old_size: u64, new_size: u64 },
    /// The proof has the wrong number of hashes for these sizes.
    WrongLength,
    /// The proof does not reproduce the older digest.
    OldRootMismatch { computed: Hash32 },
    /// The proof does not reproduce the newer digest.
    NewRootMismatch { computed: Hash32 },
}

impl fmt::Display for ConsistencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSizes { old_size, new_size } => write!(
                f,
                "consistency: sizes {old_size} and {new_size} are not an older and a newer journal"
            ),
            Self::WrongLength => {
                f.write_str("consistency: the proof has the wrong number of hashes")
            }
            Self::OldRootMismatch { computed } => write!(
                f,
                "consistency: the proof rebuilds the older digest as {computed}, not the one given"
            ),
            Self::NewRootMismatch { computed } => write!(
                f,
                "consistency: the proof rebuilds the newer digest as {computed}, not the one given"
            ),
        }
    }
}

impl std::error::Error for ConsistencyError {}

/// Checks that the journal of `new_size` blocks with digest `new_root` extends the journal of
/// `old_size` blocks with digest `old_root`: nothing in the first `old_size` blocks changed.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash32,
    new_root: &Hash32,
    proof: &[Hash32],
) -> Result<(), ConsistencyError> {
    if old_size == 0 || old_size > new_size {
        return Err(ConsistencyError::InvalidSizes { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ConsistencyError::WrongLength);
        }
        if !old_root.ct_eq(new_root) {
            return Err(ConsistencyError::NewRootMismatch {
                computed: *old_root,
            });
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ConsistencyError::WrongLength);
    }
    let mut path: Vec<Hash32> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ConsistencyError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = dot(c, &fr);
            sr = dot(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = dot(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ConsistencyError::WrongLength);
    }
    if !fr.ct_eq(old_root) {
        return Err(ConsistencyError::OldRootMismatch { computed: fr });
    }
    if !sr.ct_eq(new_root) {
        return Err(ConsistencyError::NewRootMismatch { computed: sr });
    }
    Ok(())
}

/// Number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    if index >= size {
        return None;
    }
    let (mut start, mut end, mut len) = (0u64, size, 0usize);
    while end - start > 1 {
        let k = 1u64 << (63 - (end - start - 1).leading_zeros());
        if index < start + k {
            end = start + k;
        } else {
            start += k;
        }
        len += 1;
    }
    Some(len)
}

/// Why an inclusion proof failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InclusionError {
    /// The leaf index is not inside the tree.
    IndexOutOfRange { index: u64, size: u64 },
    /// The proof is not as long as a proof for that leaf and size must be.
    WrongLength { expected: usize, found: usize },
    /// The proof folds to another root.
    RootMismatch { computed: Hash32 },
}

impl fmt::Display for InclusionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexOutOfRange { index, size } => {
                write!(
                    f,
                    "inclusion: leaf {index} is not in a tree of {size} leaves"
                )
            }
            Self::WrongLength { expected, found } => write!(
                f,
                "inclusion: a proof for this leaf has {expected} hashes, this one has {found}"
            ),
            Self::RootMismatch { computed } => {
                write!(
                    f,
                    "inclusion: the proof folds to {computed}, not the digest"
                )
            }
        }
    }
}

impl std::error::Error for InclusionError {}

/// Strict inclusion check: QLDB's fold, plus the proof length implied by the leaf's position.
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    proof: &[Hash32],
    root: &Hash32,
) -> Result<(), InclusionError> {
    let expected =
        inclusion_proof_len(index, size).ok_or(InclusionError::IndexOutOfRange { index, size })?;
    if proof.len() != expected {
        return Err(InclusionError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let computed = veritrail_core::fold_proof(leaf, proof);
    if computed.ct_eq(root) {
        Ok(())
    } else {
        Err(InclusionError::RootMismatch { computed })
    }
}
