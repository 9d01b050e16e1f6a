//! Verifying signed checkpoints (C2SP signed-note format, Ed25519) with only the verifier key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use veritrail_core::Hash32;

/// What a verified checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `veritrail/<ledger>`.
    pub origin: String,
    /// Blocks covered.
    pub size: u64,
    pub digest: Hash32,
    /// The extension lines (`strand …`, `time …`).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The value of extension line `key value`.
    pub fn extension(&self, key: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
    }
}

/// Why a checkpoint did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The verifier key is not `<name>+<hash>+<base64(0x01 || key)>`.
    BadVerifierKey(String),
    /// The note is not a signed checkpoint.
    Malformed(String),
    /// No signature line from this key.
    NoSignatureFromKey(String),
    /// The signature does not verify: the note was changed or signed by another key.
    BadSignature,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadVerifierKey(d) => write!(f, "checkpoint: bad verifier key: {d}"),
            Self::Malformed(d) => write!(f, "checkpoint: not a signed checkpoint: {d}"),
            Self::NoSignatureFromKey(n) => write!(f, "checkpoint: not signed by key {n}"),
            Self::BadSignature => f.write_str(
                "checkpoint: the signature does not verify (the checkpoint was altered or signed by another key)",
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

struct VerifierKey {
    name: String,
    hash: [u8; 4],
    key: VerifyingKey,
}

fn parse_verifier_key(text: &str) -> Result<VerifierKey, CheckpointError> {
    let bad = |d: &str| CheckpointError::BadVerifierKey(d.to_owned());
    // Names and hashes hold no '+', base64 may: split from the left.
    let mut parts = text.trim().splitn(3, '+');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no key name"))?;
    let hash_hex = parts.next().ok_or_else(|| bad("no key hash"))?;
    let b64 = parts.next().ok_or_else(|| bad("no key"))?;
    let body = BASE64
        .decode(b64)
        .map_err(|_| bad("the key is not base64"))?;
    let (alg, key) = body.split_first().ok_or_else(|| bad("empty key"))?;
    if *alg != 0x01 || key.len() != 32 {
        return Err(bad("not an Ed25519 key"));
    }
    let mut k = [0u8; 32];
    k.copy_from_slice(key);
    let key = VerifyingKey::from_bytes(&k).map_err(|_| bad("not a valid Ed25519 point"))?;
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([0x01]);
    h.update(k);
    let d = h.finalize();
    let hash = [d[0], d[1], d[2], d[3]];
    let expected_hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    if !expected_hex.eq_ignore_ascii_case(hash_hex) {
        return Err(bad("the key hash does not match the key"));
    }
    Ok(VerifierKey {
        name: name.to_owned(),
        hash,
        key,
    })
}

/// Verifies a C2SP signed note (a checkpoint, or another statement signed with a ledger's key,
/// such as an evidence bundle's manifest) with a verifier key and returns its signed body,
/// without the final newline.
pub fn verify_note<'a>(note: &'a str, verifier_key: &str) -> Result<&'a str, CheckpointError> {
    let vkey = parse_verifier_key(verifier_key)?;
    let malformed = |d: &str| CheckpointError::Malformed(d.to_owned());
    let (body, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let signed = format!("{body}\n");
    let mut found = false;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(malformed("a signature line must start with an em dash"));
        };
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line has no signature"))?;
        if name != vkey.name {
            continue;
        }
        let sig = BASE64
            .decode(b64)
            .map_err(|_| malformed("a signature is not base64"))?;
        if sig.len() != 68 || sig[..4] != vkey.hash {
            continue;
        }
        found = true;
        let mut s = [0u8; 64];
        s.copy_from_slice(&sig[4..]);
        vkey.key
            .verify_strict(signed.as_bytes(), &Signature::from_bytes(&s))
            .map_err(|_| CheckpointError::BadSignature)?;
    }
    if !found {
        return Err(CheckpointError::NoSignatureFromKey(vkey.name));
    }
    Ok(body)
}

/// Verifies a signed checkpoint note with a verifier key and returns what it says.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let malformed = |d: &str| CheckpointError::Malformed(d.to_owned());
    let body = verify_note(note, verifier_key)?;
    let mut lines = body.lines();
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| malformed("no origin line"))?;
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| malformed("the second line must be the tree size"))?;
    let digest = lines
        .next()
        .and_then(|l| Hash32::from_base64(l).ok())
        .ok_or_else(|| malformed("the third line must be the base64 digest"))?;
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        digest,
        extensions: lines.map(str::to_owned).collect(),
    })
}
