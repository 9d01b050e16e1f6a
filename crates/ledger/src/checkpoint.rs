//! Signed checkpoints: an Ed25519 signature over (ledger name, tree size, digest, strand, time)
//! in the C2SP signed-note checkpoint format, so an auditor holding only the public key can
//! check a digest later and catch a journal rewritten after the fact.
//!
//! ```text
//! veritrail/<ledger>            origin
//! <tree size>                   blocks covered (last sequence number + 1)
//! <digest, base64>
//! strand <strandId>             extension lines
//! time <RFC 3339 UTC>
//!
//! — veritrail/<ledger> <base64(key hash[4] || signature[64])>
//! ```
//! Key names and hashes follow C2SP signed-note: key hash = SHA-256(name || "\n" || 0x01 ||
//! public key)[..4]; verifier keys are written `<name>+<hash hex>+<base64(0x01 || public key)>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};
use veritrail_core::Hash32;
use veritrail_core::time::UtcMillis;

use crate::error::LedgerError;

const ED25519: u8 = 0x01;

/// The key name (and checkpoint origin) of a ledger.
pub fn origin(ledger_name: &str) -> String {
    format!("veritrail/{ledger_name}")
}

fn key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A ledger's checkpoint-signing key.
#[derive(Debug, Clone)]
pub struct CheckpointKey {
    name: String,
    key: SigningKey,
}

impl CheckpointKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate(ledger_name: &str) -> Result<Self, LedgerError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| LedgerError::Keys(format!("no randomness for a new key: {e}")))?;
        Ok(Self::from_seed(ledger_name, seed))
    }

    /// A key from a 32-byte seed (tests use fixed seeds).
    pub fn from_seed(ledger_name: &str, seed: [u8; 32]) -> Self {
        Self {
            name: origin(ledger_name),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`, the signed-note private key form.
    pub fn to_private_text(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut body = vec![ED25519];
        body.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex(&key_hash(&self.name, &public)),
            BASE64.encode(body)
        )
    }

    /// Reads the private key form back.
    pub fn from_private_text(text: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::Keys(format!("not a veritrail private key: {why}"));
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("missing PRIVATE+KEY+ prefix"))?;
        // Names and hashes hold no '+', base64 may: split from the left.
        let mut parts = rest.splitn(3, '+');
        let name = parts.next().ok_or_else(|| bad("no key name"))?;
        let _hash = parts.next().ok_or_else(|| bad("no key hash"))?;
        let b64 = parts.next().ok_or_else(|| bad("no key"))?;
        let body = BASE64
            .decode(b64)
            .map_err(|_| bad("the key is not base64"))?;
        match body.split_first() {
            Some((&ED25519, seed)) if seed.len() == 32 => {
                let mut s = [0u8; 32];
                s.copy_from_slice(seed);
                Ok(Self {
                    name: name.to_owned(),
                    key: SigningKey::from_bytes(&s),
                })
            }
            _ => Err(bad("not an Ed25519 key")),
        }
    }

    /// `<name>+<hash hex>+<base64(0x01 || public key)>`: what an auditor needs to verify.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut body = vec![ED25519];
        body.extend_from_slice(&public);
        format!(
            "{}+{}+{}",
            self.name,
            hex(&key_hash(&self.name, &public)),
            BASE64.encode(body)
        )
    }

    /// Signs a checkpoint of the journal.
    pub fn sign(&self, content: &CheckpointContent) -> String {
        self.sign_note(&content.body(&self.name))
    }

    /// Signs any note body with this key in the signed-note form checkpoints use (for other
    /// statements made with the ledger's key, such as an evidence bundle's manifest). `body`
    /// is lines each ending in a newline, with no empty line.
    pub fn sign_note(&self, body: &str) -> String {
        let signature = self.key.sign(body.as_bytes()).to_bytes();
        let public = self.key.verifying_key().to_bytes();
        let mut sig = key_hash(&self.name, &public).to_vec();
        sig.extend_from_slice(&signature);
        format!("{body}\n\u{2014} {} {}\n", self.name, BASE64.encode(sig))
    }
}

/// What a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointContent {
    /// Blocks covered: the digest tip's sequence number + 1.
    pub size: u64,
    pub digest: Hash32,
    pub strand_id: String,
    pub time: UtcMillis,
}

impl CheckpointContent {
    fn body(&self, origin: &str) -> String {
        format!(
            "{origin}\n{}\n{}\nstrand {}\ntime {}\n",
            self.size,
            self.digest.to_base64(),
            self.strand_id,
            self.time
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_round_trips_and_note_has_the_c2sp_shape() {
        for seed in 0..=255u8 {
            let key = CheckpointKey::from_seed("bank", [seed; 32]);
            let back = CheckpointKey::from_private_text(&key.to_private_text()).unwrap();
            assert_eq!(back.verifier_key(), key.verifier_key());
        }
        let key = CheckpointKey::from_seed("bank", [7; 32]);
        let back = CheckpointKey::from_private_text(&key.to_private_text()).unwrap();
        assert_eq!(back.verifier_key(), key.verifier_key());
        assert!(key.verifier_key().starts_with("veritrail/bank+"));
        let note = key.sign(&CheckpointContent {
            size: 5,
            digest: Hash32([1; 32]),
            strand_id: "KmA3ZZca7vAIiJAK9S5Iwl".into(),
            time: UtcMillis(0),
        });
        let (body, sig) = note.split_once("\n\n").unwrap();
        assert_eq!(body.lines().next(), Some("veritrail/bank"));
        assert_eq!(body.lines().nth(1), Some("5"));
        assert!(sig.starts_with("\u{2014} veritrail/bank "));
        assert!(CheckpointKey::from_private_text("garbage").is_err());
    }
}
