//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, and the
//! Object Lock subresources (retention, legal hold). Every path that could remove or shorten
//! the protection of a locked version goes through [`Version::locked`] or
//! [`check_retention_change`].

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use md5::Digest as _;
use serde::Deserialize;
use veritrail_core::time::UtcMillis;

use crate::services::s3::error::S3Error;
use crate::services::s3::model::{Retention, RetentionMode, Version, VersionId, Versioning};
use crate::services::s3::{Ctx, NS, State, bucket, empty, persist, set_header, sse, xml_ok};
use crate::wire::time::{MAX_TIME, http_date, iso8601, parse_iso8601};
use crate::wire::xml::{self, element};

/// The ETag S3 gives a single-part object: hex MD5 of the body.
pub fn etag(body: &[u8]) -> String {
    crate::wire::hex(&md5::Md5::digest(body))
}

/// User metadata (`x-amz-meta-*`) is at most this large, as S3 allows.
const MAX_METADATA: usize = 2 * 1024;

fn not_lock_bucket() -> S3Error {
    S3Error::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

/// The version a request names (`versionId`), or the key's current one.
fn find<'a>(
    state: &'a State,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<&'a Version, S3Error> {
    let b = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    let versions = b.objects.get(key);
    match version_id {
        Some(id) => versions
            .and_then(|vs| vs.iter().find(|v| v.id.as_str() == id))
            .ok_or_else(|| S3Error::NoSuchVersion {
                key: key.to_owned(),
                version: id.to_owned(),
            }),
        None => b
            .current(key)
            .ok_or_else(|| S3Error::NoSuchKey(key.to_owned())),
    }
}

/// A retain-until date: ISO 8601, in the future, no later than year 9999.
fn retain_until(text: &str, now: UtcMillis) -> Result<UtcMillis, S3Error> {
    let until = parse_iso8601(text).ok_or_else(|| {
        S3Error::InvalidArgument(format!(
            "The retain until date is not a valid ISO 8601 date-time: {text}"
        ))
    })?;
    if until <= now {
        return Err(S3Error::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    if until > MAX_TIME {
        return Err(S3Error::InvalidArgument(
            "The retain until date is after year 9999".into(),
        ));
    }
    Ok(until)
}

pub fn put_object(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let mode = ctx.header("x-amz-object-lock-mode");
    let until = ctx.header("x-amz-object-lock-retain-until-date");
    let hold = ctx.header("x-amz-object-lock-legal-hold");
    let legal_hold = match hold {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => {
            return Err(S3Error::InvalidArgument(
                "Legal Hold must be either of 'ON' or 'OFF'".into(),
            ));
        }
    };
    let mode = mode
        .map(|m| {
            RetentionMode::parse(m)
                .ok_or_else(|| S3Error::InvalidArgument(format!("Unknown wormMode directive: {m}")))
        })
        .transpose()?;
    if mode.is_some() != until.is_some() {
        return Err(S3Error::InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
                .into(),
        ));
    }
    let has_checksum = ctx
        .req
        .headers
        .keys()
        .any(|k| k.as_str() == "content-md5" || k.as_str().starts_with("x-amz-checksum-"))
        || ctx
            .header("x-amz-trailer")
            .is_some_and(|t| t.contains("x-amz-checksum-"));
    if (mode.is_some() || hold.is_some()) && !has_checksum {
        return Err(S3Error::InvalidRequest(
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
                .into(),
        ));
    }
    let explicit = match (mode, until) {
        (Some(mode), Some(u)) => Some(Retention {
            mode,
            until: retain_until(u, ctx.now)?,
        }),
        _ => None,
    };
    let metadata: BTreeMap<String, String> = ctx
        .req
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().strip_prefix("x-amz-meta-")?.to_owned(),
                v.to_str().ok()?.to_owned(),
            ))
        })
        .collect();
    let metadata_size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata_size > MAX_METADATA {
        return Err(S3Error::InvalidArgument(
            "Your metadata headers exceed the maximum allowed metadata size".into(),
        ));
    }
    let w = ctx.write()?;
    let mut state = ctx.s3.state();
    let b = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    if (mode.is_some() || hold.is_some()) && !b.settings.object_lock {
        return Err(not_lock_bucket());
    }
    let retention = match explicit {
        Some(r) => Some(r),
        None => b
            .settings
            .default_retention
            .map(|d| d.retention_from(ctx.now))
            .transpose()?,
    };
    let requested = sse::requested(
        ctx.header("x-amz-server-side-encryption"),
        ctx.header("x-amz-server-side-encryption-aws-kms-key-id"),
        bucket::default_encryption(&b.settings),
    )?;
    let region = b.settings.region.clone();
    let plaintext = ctx.body.clone();
    // The ETag and checksums are of the plaintext; the SHA-256 of what is stored.
    let (sse_kms, body) = match requested {
        Some(key_ref) => {
            let (sse, sealed) =
                sse::seal(ctx.kms, ctx.env, &region, &key_ref, bucket, key, &plaintext)?;
            (Some(sse), sealed)
        }
        None => (None, plaintext.clone()),
    };
    let version = Version {
        id: VersionId::null(),
        delete_marker: false,
        size: plaintext.len() as u64,
        etag: etag(&plaintext),
        sha256: persist::sha256_hex(&body),
        content_type: ctx.header("content-type").map(str::to_owned),
        metadata,
        modified: ctx.now,
        retention,
        legal_hold,
        checksum: ctx.checksum.clone(),
        sse_kms,
    };
    let stored = ctx
        .s3
        .store_version(w, &mut state, ctx.env, bucket, key, version, body)?;
    let mut r = empty(StatusCode::OK);
    set_header(&mut r, "etag", &format!("\"{}\"", stored.etag));
    if !stored.id.is_null() {
        set_header(&mut r, "x-amz-version-id", stored.id.as_str());
    }
    if let Some(c) = &stored.checksum {
        set_header(&mut r, c.algorithm.header(), &c.value);
    }
    sse_headers(&mut r, &stored);
    Ok(r)
}

/// `x-amz-server-side-encryption` (and the KMS key's ARN) of a version.
fn sse_headers(r: &mut Response, v: &Version) {
    match &v.sse_kms {
        Some(sse) => {
            set_header(r, "x-amz-server-side-encryption", "aws:kms");
            set_header(
                r,
                "x-amz-server-side-encryption-aws-kms-key-id",
                &sse.key_arn,
            );
        }
        None => set_header(r, "x-amz-server-side-encryption", "AES256"),
    }
}

/// `Range: bytes=a-b` (one range; `a-` and `-n` too), as (start, end inclusive).
fn range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        // S3 serves a multi-range request whole.
        return Ok(None);
    }
    let invalid = || {
        S3Error::InvalidArgument(format!(
            "The requested range bytes={spec} is not satisfiable"
        ))
    };
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| invalid())?;
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| invalid())?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| invalid())?,
            b.parse::<u64>()
                .map_err(|_| invalid())?
                .min(len.saturating_sub(1)),
        ),
    };
    if len == 0 || start > end || start >= len {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

pub fn get_object(ctx: &Ctx<'_>, bucket: &str, key: &str, head: bool) -> Result<Response, S3Error> {
    let version_id = ctx.req.query.get("versionId");
    let (version, lock_bucket, region) = {
        let state = ctx.s3.state();
        let b = state
            .buckets
            .get(bucket)
            .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
        let found = match version_id {
            Some(_) => find(&state, bucket, key, version_id)?.clone(),
            None => match b.objects.get(key).and_then(|v| v.last()) {
                Some(v) if v.delete_marker => {
                    return Err(S3Error::CurrentIsDeleteMarker(key.to_owned()));
                }
                Some(v) => v.clone(),
                None => return Err(S3Error::NoSuchKey(key.to_owned())),
            },
        };
        (found, b.settings.object_lock, b.settings.region.clone())
    };
    if version.delete_marker {
        return Err(S3Error::VersionIsDeleteMarker(version.id.0));
    }
    let body = if head {
        Bytes::new()
    } else {
        let stored = ctx.s3.body(bucket, key, &version)?;
        match &version.sse_kms {
            Some(sse) => sse::open(ctx.kms, ctx.env, &region, sse, bucket, key, &stored)?,
            None => stored,
        }
    };
    let part = range(ctx.header("range"), version.size)?;
    let mut r = match (head, part) {
        (false, Some((start, end))) => {
            let slice = body.slice(start as usize..=end as usize);
            let mut r = (StatusCode::PARTIAL_CONTENT, slice).into_response();
            set_header(
                &mut r,
                "content-range",
                &format!("bytes {start}-{end}/{}", version.size),
            );
            r
        }
        (false, None) => (StatusCode::OK, body).into_response(),
        (true, _) => {
            let mut r = empty(StatusCode::OK);
            set_header(&mut r, "content-length", &version.size.to_string());
            r
        }
    };
    set_header(&mut r, "etag", &format!("\"{}\"", version.etag));
    set_header(&mut r, "accept-ranges", "bytes");
    set_header(
        &mut r,
        "content-type",
        version
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    set_header(&mut r, "last-modified", &http_date(version.modified));
    if !version.id.is_null() {
        set_header(&mut r, "x-amz-version-id", version.id.as_str());
    }
    for (k, v) in &version.metadata {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(format!("x-amz-meta-{k}")),
            axum::http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    if let Some(ret) = version.retention {
        set_header(&mut r, "x-amz-object-lock-mode", ret.mode.as_str());
        set_header(
            &mut r,
            "x-amz-object-lock-retain-until-date",
            &iso8601(ret.until),
        );
    }
    if lock_bucket {
        set_header(
            &mut r,
            "x-amz-object-lock-legal-hold",
            if version.legal_hold { "ON" } else { "OFF" },
        );
    }
    if let Some(c) = &version.checksum {
        if ctx.header("x-amz-checksum-mode") == Some("ENABLED") && part.is_none() {
            set_header(&mut r, c.algorithm.header(), &c.value);
        }
    }
    sse_headers(&mut r, &version);
    Ok(r)
}

/// Deletes `key` (a delete marker, or the `null` version) or one version of it; returns the
/// version id the answer names and whether it is (or was) a delete marker.
fn delete_one(
    ctx: &Ctx<'_>,
    state: &mut State,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<(VersionId, bool), S3Error> {
    let w = ctx.write()?;
    let bypass = ctx.bypass_governance();
    let b = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    if bypass && !b.settings.object_lock {
        return Err(S3Error::InvalidArgument(
            "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets."
                .into(),
        ));
    }
    let versioning = b.settings.versioning;
    match version_id {
        Some(id) => {
            let found = b
                .objects
                .get(key)
                .and_then(|vs| vs.iter().find(|v| v.id.as_str() == id))
                .cloned()
                .ok_or_else(|| S3Error::NoSuchVersion {
                    key: key.to_owned(),
                    version: id.to_owned(),
                })?;
            if found.locked(bypass, ctx.now) {
                return Err(S3Error::AccessDeniedLocked);
            }
            ctx.s3.forget_version(w, bucket, key, &found.id)?;
            remove_from_state(state, bucket, key, &found.id);
            Ok((found.id, found.delete_marker))
        }
        None if versioning == Versioning::Unversioned => {
            let ids: Vec<VersionId> = b
                .objects
                .get(key)
                .map(|vs| vs.iter().map(|v| v.id.clone()).collect())
                .unwrap_or_default();
            for id in &ids {
                ctx.s3.forget_version(w, bucket, key, id)?;
                remove_from_state(state, bucket, key, id);
            }
            Ok((VersionId::null(), false))
        }
        None => {
            let marker = Version {
                id: VersionId::null(),
                delete_marker: true,
                size: 0,
                etag: String::new(),
                sha256: persist::sha256_hex(b""),
                content_type: None,
                metadata: BTreeMap::new(),
                modified: ctx.now,
                retention: None,
                legal_hold: false,
                checksum: None,
                sse_kms: None,
            };
            let stored =
                ctx.s3
                    .store_version(w, state, ctx.env, bucket, key, marker, Bytes::new())?;
            Ok((stored.id, true))
        }
    }
}

fn remove_from_state(state: &mut State, bucket: &str, key: &str, id: &VersionId) {
    if let Some(b) = state.buckets.get_mut(bucket) {
        if let Some(vs) = b.objects.get_mut(key) {
            vs.retain(|v| v.id != *id);
            if vs.is_empty() {
                b.objects.remove(key);
            }
        }
    }
}

pub fn delete_object(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let mut state = ctx.s3.state();
    let (id, marker) = delete_one(ctx, &mut state, bucket, key, ctx.req.query.get("versionId"))?;
    let mut r = empty(StatusCode::NO_CONTENT);
    if !id.is_null() {
        set_header(&mut r, "x-amz-version-id", id.as_str());
    }
    if marker {
        set_header(&mut r, "x-amz-delete-marker", "true");
    }
    Ok(r)
}

#[derive(Deserialize)]
struct Delete {
    #[serde(rename = "Quiet")]
    quiet: Option<bool>,
    #[serde(rename = "Object", default)]
    objects: Vec<DeleteEntry>,
}

#[derive(Deserialize)]
struct DeleteEntry {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "VersionId")]
    version_id: Option<String>,
}

pub fn delete_objects(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let request: Delete = xml::from_body(&ctx.body).map_err(|e| S3Error::MalformedXml(e.0))?;
    if request.objects.is_empty() || request.objects.len() > 1000 {
        return Err(S3Error::MalformedXml(
            "a Delete request names 1 to 1,000 objects".into(),
        ));
    }
    let quiet = request.quiet.unwrap_or(false);
    let mut state = ctx.s3.state();
    if !state.buckets.contains_key(bucket) {
        return Err(S3Error::NoSuchBucket(bucket.to_owned()));
    }
    let mut out = String::new();
    for entry in &request.objects {
        let version = entry.version_id.as_deref();
        let result = if entry.key.len() > super::model::MAX_KEY_BYTES {
            Err(S3Error::KeyTooLong(entry.key.len()))
        } else {
            delete_one(ctx, &mut state, bucket, &entry.key, version)
        };
        match result {
            Ok((id, marker)) if !quiet => {
                out.push_str("<Deleted>");
                out.push_str(&element("Key", &entry.key));
                if let Some(v) = version {
                    out.push_str(&element("VersionId", v));
                }
                if marker {
                    out.push_str("<DeleteMarker>true</DeleteMarker>");
                    out.push_str(&element("DeleteMarkerVersionId", id.as_str()));
                }
                out.push_str("</Deleted>");
            }
            Ok(_) => {}
            Err(S3Error::Store(e)) => return Err(S3Error::Store(e)),
            Err(e) => {
                let body = crate::wire::ErrorBody::from(e);
                out.push_str(&format!(
                    "<Error>{}{}{}{}</Error>",
                    element("Key", &entry.key),
                    version.map_or(String::new(), |v| element("VersionId", v)),
                    element("Code", &body.code),
                    element("Message", &body.message)
                ));
            }
        }
    }
    Ok(xml_ok(format!("<DeleteResult {NS}>{out}</DeleteResult>")))
}

#[derive(Deserialize)]
struct RetentionXml {
    #[serde(rename = "Mode")]
    mode: Option<String>,
    #[serde(rename = "RetainUntilDate")]
    until: Option<String>,
}

/// Whether `new` may replace `old` now: COMPLIANCE can only be extended (same mode, later
/// date); GOVERNANCE can be shortened or changed only with the bypass header.
fn check_retention_change(
    old: Option<Retention>,
    new: Retention,
    bypass: bool,
    now: UtcMillis,
) -> Result<(), S3Error> {
    let Some(old) = old else { return Ok(()) };
    if now >= old.until {
        return Ok(());
    }
    let weaker = new.until < old.until || new.mode != old.mode;
    if weaker && (old.mode == RetentionMode::Compliance || !bypass) {
        return Err(S3Error::AccessDeniedLocked);
    }
    Ok(())
}

/// Runs `f` on the version the request names in a lock bucket, then saves it.
fn update_lock(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    f: impl FnOnce(&mut Version) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let w = ctx.write()?;
    let mut state = ctx.s3.state();
    let version_id = ctx.req.query.get("versionId");
    let target = find(&state, bucket, key, version_id)?.id.clone();
    let b = state
        .buckets
        .get_mut(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    if !b.settings.object_lock {
        return Err(not_lock_bucket());
    }
    let v = b
        .objects
        .get_mut(key)
        .and_then(|vs| vs.iter_mut().find(|v| v.id == target))
        .ok_or_else(|| S3Error::NoSuchKey(key.to_owned()))?;
    if v.delete_marker {
        return Err(S3Error::InvalidRequest(
            "a delete marker has no Object Lock settings".into(),
        ));
    }
    let mut changed = v.clone();
    f(&mut changed)?;
    ctx.s3.save_version(w, bucket, key, &changed)?;
    *v = changed;
    Ok(())
}

pub fn put_object_retention(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let x: RetentionXml = xml::from_body(&ctx.body).map_err(|e| S3Error::MalformedXml(e.0))?;
    let mode = x
        .mode
        .as_deref()
        .and_then(RetentionMode::parse)
        .ok_or_else(|| S3Error::MalformedXml("Mode must be GOVERNANCE or COMPLIANCE".into()))?;
    let until_text = x
        .until
        .ok_or_else(|| S3Error::MalformedXml("Retention needs a RetainUntilDate".into()))?;
    let new = Retention {
        mode,
        until: retain_until(&until_text, ctx.now)?,
    };
    let bypass = ctx.bypass_governance();
    update_lock(ctx, bucket, key, |v| {
        check_retention_change(v.retention, new, bypass, ctx.now)?;
        v.retention = Some(new);
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

/// The version a lock getter reads, in a lock bucket.
fn lock_version(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Version, S3Error> {
    let state = ctx.s3.state();
    let lock = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?
        .settings
        .object_lock;
    if !lock {
        return Err(not_lock_bucket());
    }
    find(&state, bucket, key, ctx.req.query.get("versionId")).cloned()
}

pub fn get_object_retention(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let v = lock_version(ctx, bucket, key)?;
    match v.retention {
        Some(r) => Ok(xml_ok(format!(
            "<Retention {NS}><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            r.mode.as_str(),
            iso8601(r.until)
        ))),
        None => Err(S3Error::NoSuchObjectLockConfiguration),
    }
}

#[derive(Deserialize)]
struct LegalHoldXml {
    #[serde(rename = "Status")]
    status: Option<String>,
}

pub fn put_object_legal_hold(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let x: LegalHoldXml = xml::from_body(&ctx.body).map_err(|e| S3Error::MalformedXml(e.0))?;
    let on = match x.status.as_deref() {
        Some("ON") => true,
        Some("OFF") => false,
        _ => {
            return Err(S3Error::MalformedXml(
                "LegalHold Status must be ON or OFF".into(),
            ));
        }
    };
    update_lock(ctx, bucket, key, |v| {
        v.legal_hold = on;
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

pub fn get_object_legal_hold(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let v = lock_version(ctx, bucket, key)?;
    Ok(xml_ok(format!(
        "<LegalHold {NS}><Status>{}</Status></LegalHold>",
        if v.legal_hold { "ON" } else { "OFF" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_is_only_ever_extended() {
        let now = UtcMillis(1_000);
        let c = |until| Retention {
            mode: RetentionMode::Compliance,
            until: UtcMillis(until),
        };
        let g = |until| Retention {
            mode: RetentionMode::Governance,
            until: UtcMillis(until),
        };
        assert!(check_retention_change(Some(c(5_000)), c(6_000), false, now).is_ok());
        for bypass in [false, true] {
            assert!(check_retention_change(Some(c(5_000)), c(4_000), bypass, now).is_err());
            assert!(check_retention_change(Some(c(5_000)), g(9_000), bypass, now).is_err());
        }
        assert!(check_retention_change(Some(g(5_000)), g(4_000), false, now).is_err());
        assert!(check_retention_change(Some(g(5_000)), g(4_000), true, now).is_ok());
        // Expired retention no longer protects.
        assert!(check_retention_change(Some(c(500)), g(2_000), false, now).is_ok());
        assert_eq!(range(Some("bytes=2-4"), 10).unwrap(), Some((2, 4)));
        assert_eq!(range(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(range(Some("bytes=8-"), 10).unwrap(), Some((8, 9)));
        assert!(range(Some("bytes=10-"), 10).is_err());
        assert!(range(Some("bytes=x-"), 10).is_err());
    }
}
