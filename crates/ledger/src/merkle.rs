//! The Merkle accumulator over block hashes: QLDB's carry-up tree (the RFC 6962 shape, with
//! `dot` as the node hash), kept as persisted hashes of complete subtrees.
//!
//! Node `(level, index)` is the root of leaves `[index << level, (index + 1) << level)`. A
//! node exists once all its leaves do, so appending never rewrites one. Digests, inclusion
//! proofs and consistency proofs (RFC 9162 §2.1.3-2.1.4) read O(log n) nodes.

use veritrail_core::{Hash32, dot};

/// Reads a complete-subtree hash; errors pass through.
pub trait NodeSource {
    type Error;
    fn node(&self, level: u32, index: u64) -> Result<Hash32, Self::Error>;
}

/// Largest power of two strictly less than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The aligned complete subtrees covering `[start, end)`, left to right, as (level, index).
/// `start` must be aligned as it is in every range the RFC 6962 recursion produces.
fn peaks(start: u64, end: u64) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let mut level = if pos == 0 { 63 } else { pos.trailing_zeros() };
        while level > 0 && pos + (1u64 << level) > end {
            level -= 1;
        }
        out.push((level, pos >> level));
        pos += 1u64 << level;
    }
    out
}

/// Root of the tree over leaves `[start, end)`.
pub fn subtree_root<S: NodeSource>(src: &S, start: u64, end: u64) -> Result<Hash32, S::Error> {
    let mut acc: Option<Hash32> = None;
    for (level, index) in peaks(start, end).into_iter().rev() {
        let h = src.node(level, index)?;
        acc = Some(match acc {
            None => h,
            Some(right) => dot(&h, &right),
        });
    }
    // Callers never ask for an empty range; an empty root is the zero hash by convention.
    Ok(acc.unwrap_or(Hash32([0; 32])))
}

/// The inclusion proof of leaf `leaf` in the tree of `size` leaves, leaf to root.
pub fn inclusion_proof<S: NodeSource>(
    src: &S,
    leaf: u64,
    size: u64,
) -> Result<Vec<Hash32>, S::Error> {
    let mut out = Vec::new();
    let (mut start, mut end) = (0u64, size);
    // Walk down, remembering each sibling; the proof lists them from the bottom up.
    let mut siblings = Vec::new();
    while end - start > 1 {
        let k = split_point(end - start);
        if leaf < start + k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
        }
    }
    for (s, e) in siblings.into_iter().rev() {
        out.push(subtree_root(src, s, e)?);
    }
    Ok(out)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`
/// (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`). Empty when the sizes are equal.
pub fn consistency_proof<S: NodeSource>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash32>, S::Error> {
    let mut appended = Vec::new();
    let (mut start, mut end, mut complete) = (0u64, new_size, true);
    while old_size != end {
        let k = split_point(end - start);
        if old_size <= start + k {
            appended.push((start + k, end));
            end = start + k;
        } else {
            appended.push((start, start + k));
            start += k;
            complete = false;
        }
    }
    let mut out = Vec::new();
    if !complete {
        out.push(subtree_root(src, start, end)?);
    }
    for (s, e) in appended.into_iter().rev() {
        out.push(subtree_root(src, s, e)?);
    }
    Ok(out)
}

/// The right edge of the tree while appending: one pending complete subtree per set bit of the
/// leaf count. Appending a leaf returns the nodes that became complete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `pending[level]`: the complete node at that level still waiting for its right sibling.
    pending: Vec<Option<Hash32>>,
}

impl Frontier {
    /// Rebuilds the frontier of a tree of `size` leaves from stored nodes.
    pub fn load<S: NodeSource>(src: &S, size: u64) -> Result<Self, S::Error> {
        let mut pending = vec![None; 64 - size.leading_zeros() as usize];
        for (level, index) in peaks(0, size) {
            pending[level as usize] = Some(src.node(level, index)?);
        }
        Ok(Self { size, pending })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns every node completed by it as (level, index, hash), the leaf first.
    pub fn push(&mut self, leaf: Hash32) -> Vec<(u32, u64, Hash32)> {
        let index = self.size;
        let mut completed = vec![(0, index, leaf)];
        let mut carry = leaf;
        let mut level = 0usize;
        loop {
            if self.pending.len() <= level {
                self.pending.push(None);
            }
            match self.pending[level].take() {
                Some(left) => {
                    carry = dot(&left, &carry);
                    level += 1;
                    completed.push((level as u32, index >> level, carry));
                }
                None => {
                    self.pending[level] = Some(carry);
                    break;
                }
            }
        }
        self.size += 1;
        completed
    }

    /// The complete subtrees still waiting for a sibling, from the largest (leftmost) down:
    /// one per set bit of the leaf count.
    pub fn peaks(&self) -> Vec<Hash32> {
        self.pending.iter().rev().flatten().copied().collect()
    }

    /// Root over all leaves (the journal digest); `None` when empty.
    pub fn root(&self) -> Option<Hash32> {
        // Pending nodes from the lowest level are the rightmost: fold them leftwards.
        self.pending.iter().flatten().fold(None, |acc, node| {
            Some(match acc {
                None => *node,
                Some(right) => dot(node, &right),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use veritrail_core::merkle_root;

    struct Mem(HashMap<(u32, u64), Hash32>);

    impl NodeSource for Mem {
        type Error = String;
        fn node(&self, level: u32, index: u64) -> Result<Hash32, String> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or(format!("no node {level}/{index}"))
        }
    }

    fn leaves(n: u64) -> Vec<Hash32> {
        (0..n).map(|i| Hash32::sha256(&i.to_be_bytes())).collect()
    }

    fn build(n: u64) -> (Mem, Frontier) {
        let mut f = Frontier::default();
        let mut m = HashMap::new();
        for leaf in leaves(n) {
            for (l, i, h) in f.push(leaf) {
                assert!(
                    m.insert((l, i), h).is_none(),
                    "node {l}/{i} completed twice"
                );
            }
        }
        (Mem(m), f)
    }

    #[test]
    fn roots_match_the_carry_up_tree() {
        for n in 1..=70u64 {
            let (mem, f) = build(n);
            let expected = merkle_root(&leaves(n)).unwrap();
            assert_eq!(f.root(), Some(expected), "size {n}");
            assert_eq!(subtree_root(&mem, 0, n).unwrap(), expected);
            assert_eq!(Frontier::load(&mem, n).unwrap(), f);
        }
    }

    #[test]
    fn inclusion_proofs_fold_to_the_root() {
        let (mem, _) = build(70);
        let all = leaves(70);
        for n in 1..=70u64 {
            let root = merkle_root(&all[..n as usize]).unwrap();
            for m in 0..n {
                let proof = inclusion_proof(&mem, m, n).unwrap();
                assert_eq!(
                    veritrail_core::fold_proof(&all[m as usize], &proof),
                    root,
                    "leaf {m} of {n}"
                );
            }
        }
    }

    #[test]
    fn block_proof_length_matches_the_real_example() {
        // Real QLDB: block 100 under tip 123 (124 leaves) has a 7-element proof.
        let (mem, _) = build(124);
        assert_eq!(inclusion_proof(&mem, 100, 124).unwrap().len(), 7);
    }

    /// xorshift64*: deterministic sizes for the property tests.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn every_proof_for_small_sizes_verifies_independently() {
        use veritrail_verify::{verify_consistency, verify_inclusion};
        let (mem, _) = build(65);
        let roots: Vec<Hash32> = (1..=65)
            .map(|n| subtree_root(&mem, 0, n).unwrap())
            .collect();
        let all = leaves(65);
        for n in 1..=65u64 {
            let root = roots[n as usize - 1];
            for m in 1..=n {
                let proof = consistency_proof(&mem, m, n).unwrap();
                verify_consistency(m, n, &roots[m as usize - 1], &root, &proof).unwrap();
                let inc = inclusion_proof(&mem, m - 1, n).unwrap();
                verify_inclusion(&all[m as usize - 1], m - 1, n, &inc, &root).unwrap();
            }
        }
    }

    #[test]
    fn random_large_sizes_verify_and_every_bit_flip_fails() {
        use veritrail_verify::{verify_consistency, verify_inclusion};
        let total = 5_000u64;
        let (mem, _) = build(total);
        let all = leaves(total);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..40 {
            let n = rng(&mut state) % total + 1;
            let m = rng(&mut state) % n + 1;
            let (old, new) = (
                subtree_root(&mem, 0, m).unwrap(),
                subtree_root(&mem, 0, n).unwrap(),
            );
            let proof = consistency_proof(&mem, m, n).unwrap();
            verify_consistency(m, n, &old, &new, &proof).unwrap();
            let leaf = rng(&mut state) % n;
            let inc = inclusion_proof(&mem, leaf, n).unwrap();
            verify_inclusion(&all[leaf as usize], leaf, n, &inc, &new).unwrap();
            for i in 0..proof.len() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[i] = bad[i].with_bit_flipped(bit);
                    assert!(
                        verify_consistency(m, n, &old, &new, &bad).is_err(),
                        "{m}->{n} [{i}] bit {bit}"
                    );
                }
            }
            for i in 0..inc.len() {
                for bit in 0..256 {
                    let mut bad = inc.clone();
                    bad[i] = bad[i].with_bit_flipped(bit);
                    assert!(verify_inclusion(&all[leaf as usize], leaf, n, &bad, &new).is_err());
                }
            }
        }
    }
}
