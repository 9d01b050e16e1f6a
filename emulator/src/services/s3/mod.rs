//! S3 (rest-xml, path-style): buckets with versioning, Object Lock, policies, lifecycle,
//! encryption and public access block settings; versioned objects with `x-amz-meta-*`
//! metadata, delete markers, retention and legal hold enforced against the emulator's clock
//! (`../shared/specs/cloudtrail.md` §7); listings with delimiters, pages and `encoding-type=url`.
//!
//! - [`model`]: buckets, versions and S3's closed sets (versioning state, retention mode …);
//! - [`bucket`], [`object`], [`list`]: handlers, named after the S3 operations;
//! - [`checksum`]: `aws-chunked` bodies, `Content-MD5` and `x-amz-checksum-*`, all checked;
//! - [`persist`]: rows in `aws.sqlite`, each with an integrity tag; bodies read on demand;
//! - [`error`]: one variant per S3 error code.
//!
//! Other services reach S3 through the narrow API at the end of this file
//! ([`S3::bucket_policy`], [`S3::deliver_object`] …), never through its maps.

pub mod bucket;
pub mod checksum;
pub mod error;
pub mod list;
pub mod model;
pub mod object;
pub mod persist;
pub mod sse;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use veritrail_core::time::UtcMillis;

pub use checksum::content_md5;
pub use error::S3Error;
use model::{Bucket, MAX_KEY_BYTES, Version, VersionId, Versioning};
use persist::Integrity;

use crate::EmulatorError;
use crate::env::Env;
use crate::keys::KeyStore;
use crate::ops::S3Op;
use crate::store::{Store, StoreError, Write};
use crate::wire::{AwsRequest, Resource};

/// The `xmlns` of S3's answers.
pub const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
/// Bodies kept in memory after they are written or read, at most (bytes).
const CACHE_BYTES: usize = 64 << 20;
/// Bodies larger than this are never cached.
const CACHE_ONE: usize = 4 << 20;

/// The buckets, and the sequence number of the next stored version row.
#[derive(Debug)]
pub struct State {
    pub buckets: BTreeMap<String, Bucket>,
    next_seq: i64,
}

/// Recently used bodies, bounded in bytes.
struct BodyCache {
    entries: lru::LruCache<(String, String, VersionId), Bytes>,
    bytes: usize,
}

impl std::fmt::Debug for BodyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BodyCache({} bodies, {} bytes)",
            self.entries.len(),
            self.bytes
        )
    }
}

impl BodyCache {
    fn put(&mut self, id: (String, String, VersionId), body: Bytes) {
        if body.len() > CACHE_ONE {
            return;
        }
        self.bytes += body.len();
        if let Some(old) = self.entries.put(id, body) {
            self.bytes -= old.len();
        }
        while self.bytes > CACHE_BYTES {
            match self.entries.pop_lru() {
                Some((_, b)) => self.bytes -= b.len(),
                None => break,
            }
        }
    }

    fn remove(&mut self, id: &(String, String, VersionId)) {
        if let Some(b) = self.entries.pop(id) {
            self.bytes -= b.len();
        }
    }
}

/// How an object a service delivers ([`S3::deliver_object`]) is encrypted.
#[derive(Debug, Clone, Copy)]
pub enum Encryption<'a> {
    /// With S3's own keys (`x-amz-server-side-encryption: AES256`).
    S3Managed,
    /// Under a fresh data key of the KMS key `key` names (`aws:kms`), through KMS's narrow API.
    Kms {
        kms: &'a crate::services::kms::Kms,
        key: &'a str,
    },
}

/// The S3 service of one emulator.
#[derive(Debug)]
pub struct S3 {
    store: Arc<Store>,
    integrity: Integrity,
    state: Mutex<State>,
    cache: Mutex<BodyCache>,
}

/// What a handler works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub s3: &'a S3,
    pub req: &'a AwsRequest,
    pub env: &'a Env,
    pub now: UtcMillis,
    /// The store write this request runs in (every operation that changes something has one).
    pub write: Option<&'a Write<'a>>,
    /// The request body, framing removed and checksums verified.
    pub body: Bytes,
    /// The whole-object checksum the client sent, if any.
    pub checksum: Option<model::Checksum>,
    /// KMS, for SSE-KMS (its narrow API: data keys, and decrypting them).
    pub kms: &'a crate::services::kms::Kms,
}

impl Ctx<'_> {
    pub fn write(&self) -> Result<&Write<'_>, S3Error> {
        self.write.ok_or_else(|| {
            S3Error::Store(StoreError::Sqlite(
                "a change was attempted outside a store write".into(),
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }

    /// `x-amz-bypass-governance-retention: true`.
    pub fn bypass_governance(&self) -> bool {
        self.header("x-amz-bypass-governance-retention")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

/// A 200 answer with an XML body.
pub fn xml_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

/// An empty answer with `status`.
pub fn empty(status: StatusCode) -> Response {
    (status, "").into_response()
}

/// Sets a header if the value is a valid header value.
pub fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

impl S3 {
    /// Loads every bucket and version's metadata; the integrity key comes from the key store.
    pub fn open(store: Arc<Store>, keys: &KeyStore) -> Result<Self, EmulatorError> {
        let integrity = Integrity::new(keys.secret("s3-integrity.key")?);
        {
            let w = store.write()?;
            w.conn().execute_batch(persist::SCHEMA)?;
            persist::migrate_v0(&w, &integrity)?;
            w.commit()?;
        }
        let (buckets, next_seq) = persist::load(&store, &integrity)?;
        Ok(Self {
            store,
            integrity,
            state: Mutex::new(State { buckets, next_seq }),
            cache: Mutex::new(BodyCache {
                entries: lru::LruCache::unbounded(),
                bytes: 0,
            }),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, BodyCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one S3 request (`write` is set for every operation that can change something).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: S3Op,
        env: &Env,
        write: Option<&Write<'_>>,
        kms: &crate::services::kms::Kms,
    ) -> Result<Response, S3Error> {
        if let Resource::Object { key, .. } = &req.resource {
            if key.len() > MAX_KEY_BYTES {
                return Err(S3Error::KeyTooLong(key.len()));
            }
        }
        let (body, checksum) = checksum::verified_body(&req.headers, req.body.clone())?;
        let ctx = Ctx {
            s3: self,
            req,
            env,
            now: env.now(),
            write,
            body,
            checksum,
            kms,
        };
        let (bucket, key) = match &req.resource {
            Resource::Bucket(b) => (b.as_str(), None),
            Resource::Object { bucket, key } => (bucket.as_str(), Some(key.as_str())),
            _ => ("", None),
        };
        use S3Op::*;
        match (op, key) {
            (ListBuckets, _) => bucket::list_buckets(&ctx),
            (CreateBucket, _) => bucket::create_bucket(&ctx, bucket),
            (DeleteBucket, _) => bucket::delete_bucket(&ctx, bucket),
            (HeadBucket, _) => bucket::head_bucket(&ctx, bucket),
            (GetBucketLocation, _) => bucket::get_bucket_location(&ctx, bucket),
            (GetBucketVersioning, _) => bucket::get_bucket_versioning(&ctx, bucket),
            (PutBucketVersioning, _) => bucket::put_bucket_versioning(&ctx, bucket),
            (GetObjectLockConfiguration, _) => bucket::get_object_lock_configuration(&ctx, bucket),
            (PutObjectLockConfiguration, _) => bucket::put_object_lock_configuration(&ctx, bucket),
            (GetBucketPolicy, _) => bucket::get_bucket_policy(&ctx, bucket),
            (PutBucketPolicy, _) => bucket::put_bucket_policy(&ctx, bucket),
            (DeleteBucketPolicy, _) => bucket::delete_bucket_policy(&ctx, bucket),
            (GetBucketLifecycleConfiguration, _) => {
                bucket::get_bucket_lifecycle_configuration(&ctx, bucket)
            }
            (PutBucketLifecycleConfiguration, _) => {
                bucket::put_bucket_lifecycle_configuration(&ctx, bucket)
            }
            (DeleteBucketLifecycle, _) => bucket::delete_bucket_lifecycle(&ctx, bucket),
            (GetBucketEncryption, _) => bucket::get_bucket_encryption(&ctx, bucket),
            (PutBucketEncryption, _) => bucket::put_bucket_encryption(&ctx, bucket),
            (DeleteBucketEncryption, _) => bucket::delete_bucket_encryption(&ctx, bucket),
            (GetPublicAccessBlock, _) => bucket::get_public_access_block(&ctx, bucket),
            (PutPublicAccessBlock, _) => bucket::put_public_access_block(&ctx, bucket),
            (DeletePublicAccessBlock, _) => bucket::delete_public_access_block(&ctx, bucket),
            (GetBucketTagging, _) => bucket::get_bucket_tagging(&ctx, bucket),
            (PutBucketTagging, _) => bucket::put_bucket_tagging(&ctx, bucket),
            (DeleteBucketTagging, _) => bucket::delete_bucket_tagging(&ctx, bucket),
            (ListObjects, _) => list::list_objects(&ctx, bucket, false),
            (ListObjectsV2, _) => list::list_objects(&ctx, bucket, true),
            (ListObjectVersions, _) => list::list_object_versions(&ctx, bucket),
            (DeleteObjects, _) => object::delete_objects(&ctx, bucket),
            (PutObject, Some(k)) => object::put_object(&ctx, bucket, k),
            (GetObject, Some(k)) => object::get_object(&ctx, bucket, k, false),
            (HeadObject, Some(k)) => object::get_object(&ctx, bucket, k, true),
            (DeleteObject, Some(k)) => object::delete_object(&ctx, bucket, k),
            (PutObjectRetention, Some(k)) => object::put_object_retention(&ctx, bucket, k),
            (GetObjectRetention, Some(k)) => object::get_object_retention(&ctx, bucket, k),
            (PutObjectLegalHold, Some(k)) => object::put_object_legal_hold(&ctx, bucket, k),
            (GetObjectLegalHold, Some(k)) => object::get_object_legal_hold(&ctx, bucket, k),
            (other, _) => Err(S3Error::InvalidRequest(format!(
                "veritrail does not emulate the s3 operation {other} at this address"
            ))),
        }
    }

    /// A version's body: from the cache, else from disk (checked against its SHA-256).
    pub(crate) fn body(
        &self,
        bucket: &str,
        key: &str,
        version: &Version,
    ) -> Result<Bytes, S3Error> {
        let id = (bucket.to_owned(), key.to_owned(), version.id.clone());
        if let Some(b) = self.cache().entries.get(&id) {
            return Ok(b.clone());
        }
        let body = persist::read_body(&self.store, bucket, key, version)?;
        self.cache().put(id, body.clone());
        Ok(body)
    }

    /// Stores a new version of `key` in `b` (replacing the `null` version unless versioning is
    /// enabled) and returns it. The caller has checked the request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_version(
        &self,
        w: &Write<'_>,
        state: &mut State,
        env: &Env,
        bucket: &str,
        key: &str,
        mut version: Version,
        body: Bytes,
    ) -> Result<Version, S3Error> {
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
        let versioned = b.settings.versioning == Versioning::Enabled;
        version.id = if versioned {
            VersionId(env.new_id())
        } else {
            VersionId::null()
        };
        let versions = b.objects.entry(key.to_owned()).or_default();
        if !versioned {
            if let Some(old) = versions.iter().find(|v| v.id.is_null()) {
                if old.locked(false, env.now()) {
                    return Err(S3Error::AccessDeniedLocked);
                }
                persist::delete_version(w, bucket, key, &old.id)?;
            }
            versions.retain(|v| !v.id.is_null());
            self.cache()
                .remove(&(bucket.to_owned(), key.to_owned(), VersionId::null()));
        }
        let seq = state.next_seq;
        persist::insert_version(w, &self.integrity, seq, bucket, key, &version, &body)?;
        state.next_seq += 1;
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
        b.objects
            .entry(key.to_owned())
            .or_default()
            .push(version.clone());
        if !version.delete_marker {
            self.cache().put(
                (bucket.to_owned(), key.to_owned(), version.id.clone()),
                body,
            );
        }
        Ok(version)
    }

    /// Saves a version's changed metadata (retention, legal hold).
    pub(crate) fn save_version(
        &self,
        w: &Write<'_>,
        bucket: &str,
        key: &str,
        version: &Version,
    ) -> Result<(), S3Error> {
        Ok(persist::update_version(
            w,
            &self.integrity,
            bucket,
            key,
            version,
        )?)
    }

    /// Removes one version from disk and the cache (the caller removes it from `state`).
    pub(crate) fn forget_version(
        &self,
        w: &Write<'_>,
        bucket: &str,
        key: &str,
        id: &VersionId,
    ) -> Result<(), S3Error> {
        persist::delete_version(w, bucket, key, id)?;
        self.cache()
            .remove(&(bucket.to_owned(), key.to_owned(), id.clone()));
        Ok(())
    }

    pub(crate) fn save_settings(
        &self,
        w: &Write<'_>,
        name: &str,
        b: &Bucket,
    ) -> Result<(), S3Error> {
        Ok(persist::save_settings(
            w,
            &self.integrity,
            name,
            &b.settings,
        )?)
    }

    pub(crate) fn forget_bucket(&self, w: &Write<'_>, name: &str) -> Result<(), S3Error> {
        Ok(persist::delete_bucket(w, name)?)
    }

    // ---- the narrow API other services use ------------------------------------------------

    /// Whether the bucket exists.
    pub fn bucket_exists(&self, name: &str) -> bool {
        self.state().buckets.contains_key(name)
    }

    /// The bucket's policy (`Err` when there is no such bucket).
    pub fn bucket_policy(&self, name: &str) -> Result<Option<String>, S3Error> {
        self.state()
            .buckets
            .get(name)
            .map(|b| b.settings.policy.clone())
            .ok_or_else(|| S3Error::NoSuchBucket(name.to_owned()))
    }

    /// Writes an object as a service does (CloudTrail delivering a log or digest file, QLDB an
    /// export): a new version, with the bucket's default retention, inside the caller's store
    /// write, encrypted as `encryption` says (under a KMS key exactly as a PutObject with
    /// `x-amz-server-side-encryption: aws:kms` and that key would be).
    #[allow(clippy::too_many_arguments)]
    pub fn deliver_object(
        &self,
        w: &Write<'_>,
        env: &Env,
        at: UtcMillis,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        metadata: BTreeMap<String, String>,
        content_type: &str,
        encryption: Encryption<'_>,
    ) -> Result<(), S3Error> {
        let now = at;
        let mut state = self.state();
        let b = state
            .buckets
            .get(bucket)
            .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
        let retention = b
            .settings
            .default_retention
            .map(|d| d.retention_from(now))
            .transpose()?;
        let plaintext = Bytes::from(body);
        let (sse_kms, stored) = match encryption {
            Encryption::S3Managed => (None, plaintext.clone()),
            Encryption::Kms { kms, key: key_ref } => {
                let (sse, sealed) = sse::seal(
                    kms,
                    env,
                    &b.settings.region,
                    key_ref,
                    bucket,
                    key,
                    &plaintext,
                )?;
                (Some(sse), sealed)
            }
        };
        // The ETag is of the plaintext; the SHA-256 of what is stored (as PutObject does).
        let version = Version {
            id: VersionId::null(),
            delete_marker: false,
            size: plaintext.len() as u64,
            etag: object::etag(&plaintext),
            sha256: persist::sha256_hex(&stored),
            content_type: Some(content_type.to_owned()),
            metadata,
            modified: now,
            retention,
            legal_hold: false,
            checksum: None,
            sse_kms,
        };
        self.store_version(w, &mut state, env, bucket, key, version, stored)?;
        Ok(())
    }

    /// The current version of an object: its bytes and `x-amz-meta-*` metadata (for tests and
    /// in-process validators).
    pub fn current_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
        let version = self.state().buckets.get(bucket)?.current(key)?.clone();
        let body = self.body(bucket, key, &version).ok()?;
        Some((body.to_vec(), version.metadata))
    }

    /// The keys of `bucket` under `prefix` that have a current version, in order.
    pub fn current_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let state = self.state();
        state.buckets.get(bucket).map_or_else(Vec::new, |b| {
            b.objects
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(k, _)| b.current(k).is_some())
                .map(|(k, _)| k.clone())
                .collect()
        })
    }
}
