//! KMS's ciphertext blobs: AES-256-GCM under the key's material, with the encryption context
//! bound as additional authenticated data, and the key named in the blob so Decrypt needs no
//! `KeyId`.
//!
//! ```text
//! "VTK1" | key id (36 ASCII bytes, a UUID) | nonce (12 random bytes) | ciphertext | tag (16)
//! AAD = "VTK1" | key id | the encryption context as JSON, keys sorted
//! ```
//!
//! A changed byte anywhere, or another context, fails the tag: `InvalidCiphertextException`.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};

use super::error::KmsError;

const MAGIC: &[u8; 4] = b"VTK1";
const KEY_ID_LEN: usize = 36;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

fn aad(key_id: &str, context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    // A map of strings always serializes.
    aad.extend_from_slice(
        serde_json::to_string(context)
            .unwrap_or_default()
            .as_bytes(),
    );
    aad
}

/// Encrypts `plaintext` under `material` for the key `key_id` with a fresh `nonce`.
pub fn seal(
    material: &[u8; 32],
    key_id: &str,
    nonce: [u8; NONCE_LEN],
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    if key_id.len() != KEY_ID_LEN {
        return Err(KmsError::Internal(format!(
            "the key id {key_id} is not a UUID"
        )));
    }
    let cipher = Aes256Gcm::new(material.into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(key_id, context),
            },
        )
        .map_err(|_| KmsError::Internal("AES-GCM refused to encrypt".into()))?;
    let mut blob = Vec::with_capacity(4 + KEY_ID_LEN + NONCE_LEN + sealed.len());
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The id of the key a blob was made under (`None`: not a blob of this emulator).
pub fn key_id_of(blob: &[u8]) -> Option<&str> {
    if blob.len() < 4 + KEY_ID_LEN + NONCE_LEN + TAG_LEN || &blob[..4] != MAGIC {
        return None;
    }
    let id = std::str::from_utf8(&blob[4..4 + KEY_ID_LEN]).ok()?;
    id.bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'-')
        .then_some(id)
}

/// Decrypts a blob made by [`seal`] under `material` with the same context.
pub fn open(
    material: &[u8; 32],
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    let key_id = key_id_of(blob).ok_or(KmsError::InvalidCiphertext)?;
    let nonce = &blob[4 + KEY_ID_LEN..4 + KEY_ID_LEN + NONCE_LEN];
    let cipher = Aes256Gcm::new(material.into());
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &blob[4 + KEY_ID_LEN + NONCE_LEN..],
                aad: &aad(key_id, context),
            },
        )
        .map_err(|_| KmsError::InvalidCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_bind_key_context_and_every_byte() {
        let material = [7u8; 32];
        let id = "0b0e6f0c-1c8e-4a53-9d2a-5f7d0e1c2b3a";
        let ctx: BTreeMap<String, String> = [("purpose".to_owned(), "test".to_owned())].into();
        let blob = seal(&material, id, [1; 12], &ctx, b"secret").unwrap();
        assert_eq!(key_id_of(&blob), Some(id));
        assert_eq!(open(&material, &blob, &ctx).unwrap(), b"secret");
        assert_eq!(
            open(&material, &blob, &BTreeMap::new()),
            Err(KmsError::InvalidCiphertext)
        );
        assert_eq!(
            open(&[8u8; 32], &blob, &ctx),
            Err(KmsError::InvalidCiphertext)
        );
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(open(&material, &bad, &ctx).is_err(), "byte {i}");
        }
        assert!(open(&material, &blob[..20], &ctx).is_err());
        assert!(key_id_of(b"").is_none());
    }
}
