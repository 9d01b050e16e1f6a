//! [`Hash32`] and the one way QLDB combines hashes: `dot`, the carry-up Merkle root built
//! from it, and the left-to-right fold that checks a proof (`../shared/specs/qldb.md` §1.2-1.3, §2.4).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest. QLDB hashes are always exactly 32 bytes; "no hash" is `Option::None`.
#[derive(Clone, Copy, PartialOrd, Ord)]
pub struct Hash32(pub [u8; 32]);

/// Why some bytes or text are not a [`Hash32`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashParseError {
    /// The input decoded to this many bytes instead of 32.
    WrongLength(usize),
    /// The text is not valid standard base64.
    NotBase64,
    /// The text is not 64 hexadecimal digits.
    NotHex,
}

impl fmt::Display for HashParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength(n) => write!(f, "a hash must be 32 bytes, this one has {n}"),
            Self::NotBase64 => f.write_str("a hash must be standard base64 (32 bytes)"),
            Self::NotHex => f.write_str("a hash must be 64 hexadecimal digits"),
        }
    }
}

impl std::error::Error for HashParseError {}

impl Hash32 {
    /// SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The hash as raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Takes exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashParseError::WrongLength(bytes.len()))
    }

    /// Parses standard base64, the form QLDB prints (`6m6BMX…Gk=`).
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| HashParseError::NotBase64)?;
        Self::from_slice(&bytes)
    }

    /// Parses 64 hexadecimal digits, the form CloudTrail digest files use.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let text = text.trim().as_bytes();
        if text.len() != 64 {
            return Err(HashParseError::NotHex);
        }
        let mut out = [0u8; 32];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or(HashParseError::NotHex)?;
            let lo = hex_digit(pair[1]).ok_or(HashParseError::NotHex)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// Standard base64 with padding, as QLDB prints hashes.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Constant-time equality: the time taken does not depend on where the hashes differ,
    /// so a verifier leaks nothing about how close a forged hash came.
    pub fn ct_eq(&self, other: &Self) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }

    /// The same hash with one bit flipped: for tests that tamper with proofs and digests.
    pub fn with_bit_flipped(&self, bit: usize) -> Self {
        let mut out = *self;
        out.0[(bit / 8) % 32] ^= 1 << (bit % 8);
        out
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for Hash32 {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Hash32 {}

impl std::hash::Hash for Hash32 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_base64())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl From<[u8; 32]> for Hash32 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

/// QLDB's ordering of two hashes: as 32 *signed* bytes, compared from the last byte down.
fn qldb_compare(a: &Hash32, b: &Hash32) -> std::cmp::Ordering {
    for i in (0..32).rev() {
        let (x, y) = (a.0[i] as i8, b.0[i] as i8);
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

/// `dot(a, b)`: SHA-256 of the two hashes concatenated, the smaller (in QLDB's order) first.
/// Commutative, so a proof needs no left/right markers.
pub fn dot(a: &Hash32, b: &Hash32) -> Hash32 {
    let (first, second) = if qldb_compare(a, b).is_lt() {
        (a, b)
    } else {
        (b, a)
    };
    let mut h = Sha256::new();
    h.update(first.0);
    h.update(second.0);
    Hash32(h.finalize().into())
}

/// `dot` where either side may be the empty hash, which is the identity.
pub fn dot_opt(a: Option<&Hash32>, b: Option<&Hash32>) -> Option<Hash32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(dot(a, b)),
        (Some(x), None) | (None, Some(x)) => Some(*x),
        (None, None) => None,
    }
}

/// The carry-up Merkle root of a list: pair neighbours with `dot` level by level, carrying an
/// odd last node up unchanged. The same shape as an RFC 6962 tree. `None` for an empty list.
pub fn merkle_root(leaves: &[Hash32]) -> Option<Hash32> {
    match leaves {
        [] => None,
        [one] => Some(*one),
        _ => {
            let mut level: Vec<Hash32> = leaves.to_vec();
            while level.len() > 1 {
                let next: Vec<Hash32> = level
                    .chunks(2)
                    .map(|pair| match pair {
                        [a, b] => dot(a, b),
                        [a] => *a,
                        _ => unreachable!("chunks(2) yields one or two items"),
                    })
                    .collect();
                level = next;
            }
            level.first().copied()
        }
    }
}

/// Folds a proof left to right from `leaf`: `proof.reduce(leaf, dot)`. The result equals the
/// digest exactly when the proof is valid.
pub fn fold_proof(leaf: &Hash32, proof: &[Hash32]) -> Hash32 {
    proof.iter().fold(*leaf, |acc, sibling| dot(&acc, sibling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(s: &str) -> Hash32 {
        Hash32::sha256(s.as_bytes())
    }

    // Known answers from the Rust QLDB driver's qldb_hash.rs (spec §8.2).
    #[test]
    fn dot_matches_driver_vector() {
        assert_eq!(
            sha("1").to_hex(),
            "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
        );
        assert_eq!(
            dot(&sha("1"), &sha("2")).to_hex(),
            "940ed9abddfb5ef28004408546bc5043cda391232b6afe07267f9f8ed2b500c9"
        );
    }

    #[test]
    fn dot_is_commutative_and_empty_is_identity() {
        let (a, b) = (sha("a"), sha("b"));
        assert_eq!(dot(&a, &b), dot(&b, &a));
        assert_eq!(dot_opt(Some(&a), None), Some(a));
        assert_eq!(dot_opt(None, Some(&b)), Some(b));
        assert_eq!(dot_opt(None, None), None);
    }

    #[test]
    fn comparison_is_signed_and_from_the_last_byte() {
        // 0x80 is -128 as i8, so it sorts before 0x7f even though it is larger unsigned.
        let mut lo = [0u8; 32];
        lo[31] = 0x80;
        let mut hi = [0u8; 32];
        hi[31] = 0x7f;
        hi[0] = 0xff; // the first byte must not matter when the last bytes differ
        let (lo, hi) = (Hash32(lo), Hash32(hi));
        let mut concat = lo.0.to_vec();
        concat.extend_from_slice(&hi.0);
        assert_eq!(dot(&lo, &hi), Hash32::sha256(&concat));
        assert_eq!(dot(&hi, &lo), Hash32::sha256(&concat));
    }

    #[test]
    fn merkle_root_carries_odd_nodes_up() {
        let h: Vec<Hash32> = (0..5).map(|i| sha(&i.to_string())).collect();
        assert_eq!(merkle_root(&[]), None);
        assert_eq!(merkle_root(&h[..1]), Some(h[0]));
        let left = dot(&dot(&h[0], &h[1]), &dot(&h[2], &h[3]));
        assert_eq!(merkle_root(&h), Some(dot(&left, &h[4])));
        assert_eq!(merkle_root(&h[..3]), Some(dot(&dot(&h[0], &h[1]), &h[2])));
    }

    #[test]
    fn parse_and_print() {
        let h = sha("x");
        assert_eq!(Hash32::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(Hash32::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(
            Hash32::from_base64("AAAA"),
            Err(HashParseError::WrongLength(3))
        );
        assert_eq!(Hash32::from_base64("!!"), Err(HashParseError::NotBase64));
        assert_eq!(Hash32::from_hex("zz"), Err(HashParseError::NotHex));
        assert!(h.ct_eq(&h));
        assert!(!h.ct_eq(&h.with_bit_flipped(255)));
    }
}
