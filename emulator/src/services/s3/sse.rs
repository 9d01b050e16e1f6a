//! SSE-KMS: an object written with `x-amz-server-side-encryption: aws:kms` (or into a bucket
//! whose default encryption is `aws:kms` with a `KMSMasterKeyID`) is stored encrypted under a
//! fresh 256-bit data key from KMS ([`Kms::data_key`], bound to the encryption context S3 uses,
//! `{"aws:s3:arn": "arn:aws:s3:::<bucket>/<key>"}`); the version keeps the key's ARN and the
//! data key's blob. GetObject asks KMS to decrypt the blob ([`Kms::decrypt_data_key`]), so a
//! disabled or deleted key makes the object unreadable, as on AWS.
//!
//! What the integrity tags cover: the ETag (MD5) and the `x-amz-checksum-*` values are of the
//! plaintext, what the client sent and verifies; the version's SHA-256 and the row's MAC are of
//! the stored form, the ciphertext, which is what is checked when it is read back from disk.
//!
//! ```text
//! stored body = nonce (12 random bytes) | AES-256-GCM(data key, plaintext) | tag (16)
//! ```

use std::collections::BTreeMap;

use aes_gcm::aead::Aead as _;
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use axum::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::services::kms::{Kms, KmsError};
use crate::services::s3::error::S3Error;

const NONCE_LEN: usize = 12;

/// How a version's body is encrypted under KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseKms {
    /// The KMS key's ARN (what `x-amz-server-side-encryption-aws-kms-key-id` answers).
    #[serde(rename = "keyArn")]
    pub key_arn: String,
    /// The data key, encrypted under the KMS key (base64).
    #[serde(rename = "dataKey")]
    pub data_key: String,
}

/// The encryption context S3 binds a data key to.
fn context(bucket: &str, key: &str) -> BTreeMap<String, String> {
    [(
        "aws:s3:arn".to_owned(),
        format!("arn:aws:s3:::{bucket}/{key}"),
    )]
    .into()
}

/// How a PutObject asks for its body to be encrypted: `None` for S3's own keys, else the KMS
/// key it names (from the headers, or the bucket's default `bucket_default`).
pub fn requested(
    algorithm: Option<&str>,
    key_header: Option<&str>,
    bucket_default: Option<(String, Option<String>)>,
) -> Result<Option<String>, S3Error> {
    match (algorithm, key_header) {
        (None, Some(_)) | (Some("AES256"), Some(_)) => Err(S3Error::InvalidArgument(
            "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
                .into(),
        )),
        (Some("aws:kms"), Some(k)) => Ok(Some(k.to_owned())),
        (Some("aws:kms"), None) => match bucket_default {
            Some((a, Some(k))) if a == "aws:kms" => Ok(Some(k)),
            _ => Err(S3Error::InvalidArgument(
                "veritrail has no AWS managed key aws/s3: name a KMS key with x-amz-server-side-encryption-aws-kms-key-id or the bucket's default encryption"
                    .into(),
            )),
        },
        (Some("AES256"), None) => Ok(None),
        (Some(_), _) => Err(S3Error::InvalidArgument(
            "The encryption method specified is not supported".into(),
        )),
        (None, None) => match bucket_default {
            Some((a, Some(k))) if a == "aws:kms" => Ok(Some(k)),
            Some((a, None)) if a == "aws:kms" => Err(S3Error::InvalidArgument(
                "veritrail has no AWS managed key aws/s3: the bucket's default encryption must name a KMSMasterKeyID"
                    .into(),
            )),
            _ => Ok(None),
        },
    }
}

/// Encrypts `plaintext` for `bucket/key` under a new data key of the KMS key `key_ref` names.
pub fn seal(
    kms: &Kms,
    env: &Env,
    region: &str,
    key_ref: &str,
    bucket: &str,
    key: &str,
    plaintext: &[u8],
) -> Result<(SseKms, Bytes), S3Error> {
    use base64::Engine as _;
    let dk = kms.data_key(region, key_ref, &context(bucket, key), env)?;
    let mut nonce = [0u8; NONCE_LEN];
    env.fill_random(&mut nonce)
        .map_err(|e| S3Error::Kms(KmsError::Internal(format!("no randomness: {}", e.0))))?;
    let sealed = Aes256Gcm::new((&dk.plaintext).into())
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| S3Error::Kms(KmsError::Internal("AES-GCM refused to encrypt".into())))?;
    let mut stored = nonce.to_vec();
    stored.extend_from_slice(&sealed);
    Ok((
        SseKms {
            key_arn: dk.key_arn,
            data_key: base64::engine::general_purpose::STANDARD.encode(&dk.blob),
        },
        Bytes::from(stored),
    ))
}

/// Decrypts a stored body (KMS must still let the data key be decrypted).
pub fn open(
    kms: &Kms,
    env: &Env,
    region: &str,
    sse: &SseKms,
    bucket: &str,
    key: &str,
    stored: &[u8],
) -> Result<Bytes, S3Error> {
    use base64::Engine as _;
    let damaged = || S3Error::StoredObjectDamaged {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&sse.data_key)
        .map_err(|_| damaged())?;
    let data_key = kms.decrypt_data_key(region, &blob, &context(bucket, key), env.now())?;
    if data_key.len() != 32 || stored.len() < NONCE_LEN {
        return Err(damaged());
    }
    let plain = Aes256Gcm::new_from_slice(&data_key)
        .map_err(|_| damaged())?
        .decrypt(
            Nonce::from_slice(&stored[..NONCE_LEN]),
            &stored[NONCE_LEN..],
        )
        .map_err(|_| damaged())?;
    Ok(Bytes::from(plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_or_the_bucket_names_the_key() {
        let kms_default = || Some(("aws:kms".to_owned(), Some("k1".to_owned())));
        assert_eq!(requested(None, None, None).unwrap(), None);
        assert_eq!(
            requested(Some("AES256"), None, kms_default()).unwrap(),
            None
        );
        assert_eq!(
            requested(None, None, kms_default()).unwrap().as_deref(),
            Some("k1")
        );
        assert_eq!(
            requested(Some("aws:kms"), Some("k2"), kms_default())
                .unwrap()
                .as_deref(),
            Some("k2")
        );
        assert_eq!(
            requested(Some("aws:kms"), None, kms_default())
                .unwrap()
                .as_deref(),
            Some("k1")
        );
        assert!(requested(None, Some("k2"), None).is_err());
        assert!(requested(Some("aws:kms"), None, None).is_err());
        assert!(requested(Some("rot13"), None, None).is_err());
    }
}
