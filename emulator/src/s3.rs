//! S3 (rest-xml, path-style): buckets with versioning and Object Lock, versioned objects with
//! `x-amz-meta-*` metadata, delete markers, retention and legal hold enforced against the
//! emulator's clock (`../shared/specs/cloudtrail.md` §7), and ListObjects V1/V2 and
//! ListObjectVersions. State is in memory for now (per emulator instance).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use veritrail_core::time::UtcMillis;

use crate::Emulator;

/// A bucket.
#[derive(Debug, Default)]
pub struct Bucket {
    pub created: UtcMillis,
    pub region: String,
    /// `None` (never set), `Enabled` or `Suspended`.
    pub versioning: Option<String>,
    pub object_lock: bool,
    /// Default retention: (mode, days).
    pub default_retention: Option<(String, i64)>,
    /// key → versions, oldest first.
    pub objects: BTreeMap<String, Vec<Version>>,
    /// Opaque configurations stored as sent (encryption, public access block).
    pub configs: BTreeMap<String, String>,
    /// Keys changed since the last save to SQLite ([`crate::persist`]).
    pub dirty: std::collections::BTreeSet<String>,
    /// Settings changed since the last save.
    pub settings_dirty: bool,
}

/// What a PutObject stores.
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    pub body: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// Explicit retention; `None` applies the bucket's default retention, if any.
    pub retention: Option<(String, UtcMillis)>,
    pub legal_hold: bool,
}

impl Bucket {
    /// Stores a new version of `key` (replacing the `null` version when versioning is off) and
    /// returns its (version id, ETag). Used by PutObject and by CloudTrail's delivery.
    pub fn put_version(
        &mut self,
        key: &str,
        object: NewObject,
        now: UtcMillis,
        new_id: impl FnOnce() -> String,
    ) -> (String, String) {
        let retention = object.retention.or_else(|| {
            self.default_retention
                .as_ref()
                .map(|(m, d)| (m.clone(), UtcMillis(now.0 + d * 86_400_000)))
        });
        let etag = crate::delivery::hex(&Md5::digest(&object.body));
        let id = if self.versioning.as_deref() == Some("Enabled") {
            new_id()
        } else {
            "null".to_owned()
        };
        self.dirty.insert(key.to_owned());
        let versions = self.objects.entry(key.to_owned()).or_default();
        if id == "null" {
            versions.retain(|v| v.id != "null");
        }
        versions.push(Version {
            id: id.clone(),
            delete_marker: false,
            body: object.body,
            metadata: object.metadata,
            content_type: object.content_type,
            modified: now,
            etag: etag.clone(),
            retention,
            legal_hold: object.legal_hold,
        });
        (id, etag)
    }
}

/// One version of an object, or a delete marker.
#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub delete_marker: bool,
    pub body: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub modified: UtcMillis,
    pub etag: String,
    pub retention: Option<(String, UtcMillis)>,
    pub legal_hold: bool,
}

/// An S3 error: `<Error><Code>…</Code><Message>…</Message></Error>`.
#[derive(Debug)]
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error {
        status,
        code,
        message: message.into(),
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            escape(&self.message)
        );
        (self.status, [("content-type", "application/xml")], body).into_response()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of each `<tag>…</tag>` in `xml`, in order (namespaces and attributes ignored).
fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&format!("<{tag}")) {
        let after = &rest[i + tag.len() + 1..];
        // Skip longer tag names that merely start with `tag`.
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let Some(open_end) = after.find('>') else {
            break;
        };
        let body = &after[open_end + 1..];
        let Some(close) = body.find(&format!("</{tag}>")) else {
            break;
        };
        out.push(unescape(body[..close].trim()));
        rest = &body[close..];
    }
    out
}

fn xml_first(xml: &str, tag: &str) -> Option<String> {
    xml_all(xml, tag).into_iter().next()
}

fn xml_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

fn iso(t: UtcMillis) -> String {
    t.to_string()
}

fn parse_iso(s: &str) -> Option<UtcMillis> {
    veritrail_core::ion_rs::Element::read_one(s.trim().as_bytes())
        .ok()
        .and_then(|e| e.as_timestamp())
        .map(|t| UtcMillis::from_ion(&t))
}

fn query_map(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (
                crate::qldb::percent_decode(k),
                crate::qldb::percent_decode(&v.replace('+', " ")),
            ),
            None => (crate::qldb::percent_decode(kv), String::new()),
        })
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Decodes an `aws-chunked` body (what SDKs send with streaming or trailing checksums):
/// `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n<trailers>\r\n\r\n`.
fn decode_aws_chunked(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn is_aws_chunked(headers: &HeaderMap) -> bool {
    header(headers, "content-encoding").is_some_and(|e| e.contains("aws-chunked"))
        || header(headers, "x-amz-content-sha256").is_some_and(|s| s.starts_with("STREAMING-"))
}

/// A path-style path as (bucket, key), both percent-decoded; no key for `/bucket` or `/bucket/`.
fn bucket_and_key(path: &str) -> (String, Option<String>) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (
            crate::qldb::percent_decode(b),
            Some(crate::qldb::percent_decode(k)),
        ),
        Some((b, _)) => (crate::qldb::percent_decode(b), None),
        None => (crate::qldb::percent_decode(trimmed), None),
    }
}

/// The S3 operation a request is: (name, bucket, key, whether it is a data event).
pub fn operation_name(
    method: &Method,
    path: &str,
    query: &str,
) -> (&'static str, String, Option<String>, bool) {
    let q = query_map(query);
    let (bucket, key) = bucket_and_key(path);
    let has = |k: &str| q.contains_key(k);
    let op = match (method.as_str(), key.is_some()) {
        ("GET", false) if bucket.is_empty() => "ListBuckets",
        ("PUT", false) if has("versioning") => "PutBucketVersioning",
        ("GET", false) if has("versioning") => "GetBucketVersioning",
        ("PUT", false) if has("object-lock") => "PutObjectLockConfiguration",
        ("GET", false) if has("object-lock") => "GetObjectLockConfiguration",
        ("PUT", false) if has("encryption") => "PutBucketEncryption",
        ("GET", false) if has("encryption") => "GetBucketEncryption",
        ("PUT", false) if has("publicAccessBlock") => "PutPublicAccessBlock",
        ("GET", false) if has("publicAccessBlock") => "GetPublicAccessBlock",
        ("GET", false) if has("location") => "GetBucketLocation",
        ("GET", false) if has("versions") => "ListObjectVersions",
        ("GET", false) if q.get("list-type").map(String::as_str) == Some("2") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("PUT", false) => "CreateBucket",
        ("HEAD", false) => "HeadBucket",
        ("DELETE", false) => "DeleteBucket",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("PUT", true) if has("retention") => "PutObjectRetention",
        ("GET", true) if has("retention") => "GetObjectRetention",
        ("PUT", true) if has("legal-hold") => "PutObjectLegalHold",
        ("GET", true) if has("legal-hold") => "GetObjectLegalHold",
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        _ => "Unknown",
    };
    let data = key.is_some() || op == "DeleteObjects";
    (op, bucket, key, data)
}

/// Handles one S3 request.
pub fn route(
    emulator: &Emulator,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    region: &str,
) -> Response {
    let decoded;
    let body = if is_aws_chunked(headers) {
        match decode_aws_chunked(body) {
            Some(d) => {
                decoded = d;
                decoded.as_slice()
            }
            None => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "The aws-chunked body is malformed",
                )
                .into_response();
            }
        }
    } else {
        body
    };
    let q = query_map(query);
    let (bucket, key) = bucket_and_key(path);
    let now = emulator.config.clock.now();
    let mut buckets = emulator.buckets();
    let result = if bucket.is_empty() {
        Ok(list_buckets(&buckets))
    } else {
        match key {
            None => bucket_op(
                &mut buckets,
                method,
                &bucket,
                &q,
                headers,
                body,
                region,
                now,
                &|| emulator.new_id(),
            ),
            Some(k) => object_op(
                &mut buckets,
                method,
                &bucket,
                &k,
                &q,
                headers,
                body,
                now,
                emulator,
            ),
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn list_buckets(buckets: &BTreeMap<String, Bucket>) -> Response {
    let items: String = buckets
        .iter()
        .map(|(n, b)| {
            format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                escape(n),
                iso(b.created)
            )
        })
        .collect();
    xml_ok(format!(
        "<ListAllMyBucketsResult {NS}><Owner><ID>{}</ID></Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>",
        crate::ACCOUNT_ID
    ))
}

fn no_bucket(name: &str) -> S3Error {
    err(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        format!("The specified bucket does not exist: {name}"),
    )
}

#[allow(clippy::too_many_arguments)]
fn bucket_op(
    buckets: &mut BTreeMap<String, Bucket>,
    method: &Method,
    name: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    region: &str,
    now: UtcMillis,
    new_id: &dyn Fn() -> String,
) -> Result<Response, S3Error> {
    let text = String::from_utf8_lossy(body).into_owned();
    if *method == Method::PUT && q.is_empty() {
        if buckets.contains_key(name) {
            return Err(err(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        let valid = (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !name.starts_with(['-', '.'])
            && !name.ends_with(['-', '.']);
        if !valid {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "InvalidBucketName",
                "The specified bucket is not valid.",
            ));
        }
        let lock = header(headers, "x-amz-bucket-object-lock-enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let location = xml_first(&text, "LocationConstraint").unwrap_or_else(|| region.to_owned());
        buckets.insert(
            name.to_owned(),
            Bucket {
                created: now,
                region: location,
                versioning: lock.then(|| "Enabled".to_owned()),
                object_lock: lock,
                settings_dirty: true,
                ..Bucket::default()
            },
        );
        let mut r = (StatusCode::OK, "").into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/{name}")) {
            r.headers_mut().insert("location", v);
        }
        return Ok(r);
    }
    let b = buckets.get_mut(name).ok_or_else(|| no_bucket(name))?;
    if *method == Method::PUT {
        b.settings_dirty = true;
    }
    // Bucket settings kept as the XML the client sent.
    let stored_config = ["encryption", "publicAccessBlock"]
        .into_iter()
        .find(|k| q.contains_key(*k));
    match (method.as_str(), q) {
        ("HEAD", _) => Ok((
            StatusCode::OK,
            [("x-amz-bucket-region", b.region.clone())],
            "",
        )
            .into_response()),
        ("GET", q) if q.contains_key("location") => {
            let loc = if b.region == "us-east-1" {
                String::new()
            } else {
                escape(&b.region)
            };
            Ok(xml_ok(format!(
                "<LocationConstraint {NS}>{loc}</LocationConstraint>"
            )))
        }
        ("GET", q) if q.contains_key("versioning") => Ok(xml_ok(match &b.versioning {
            Some(s) => format!(
                "<VersioningConfiguration {NS}><Status>{s}</Status></VersioningConfiguration>"
            ),
            None => format!("<VersioningConfiguration {NS}/>"),
        })),
        ("PUT", q) if q.contains_key("versioning") => {
            let status = xml_first(&text, "Status").unwrap_or_default();
            if status != "Enabled" && status != "Suspended" {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ));
            }
            if b.object_lock && status != "Enabled" {
                return Err(err(
                    StatusCode::CONFLICT,
                    "InvalidBucketState",
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                ));
            }
            b.versioning = Some(status);
            Ok((StatusCode::OK, "").into_response())
        }
        ("GET", q) if q.contains_key("object-lock") => {
            if !b.object_lock {
                return Err(err(
                    StatusCode::NOT_FOUND,
                    "ObjectLockConfigurationNotFoundError",
                    "Object Lock configuration does not exist for this bucket",
                ));
            }
            let rule = b.default_retention.as_ref().map_or(String::new(), |(m, d)| {
                format!("<Rule><DefaultRetention><Mode>{m}</Mode><Days>{d}</Days></DefaultRetention></Rule>")
            });
            Ok(xml_ok(format!(
                "<ObjectLockConfiguration {NS}><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
            )))
        }
        ("PUT", q) if q.contains_key("object-lock") => {
            if !b.object_lock && b.versioning.as_deref() != Some("Enabled") {
                return Err(err(
                    StatusCode::CONFLICT,
                    "InvalidBucketState",
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                ));
            }
            b.object_lock = true;
            b.versioning = Some("Enabled".into());
            b.default_retention = match xml_first(&text, "Mode") {
                None => None,
                Some(mode) if mode == "GOVERNANCE" || mode == "COMPLIANCE" => {
                    let days = match (xml_first(&text, "Days"), xml_first(&text, "Years")) {
                        (Some(d), None) => d.parse::<i64>().ok(),
                        (None, Some(y)) => y.parse::<i64>().ok().map(|y| y * 365),
                        _ => None,
                    }
                    .filter(|d| *d > 0)
                    .ok_or_else(|| {
                        err(
                            StatusCode::BAD_REQUEST,
                            "MalformedXML",
                            "DefaultRetention needs Days or Years, not both",
                        )
                    })?;
                    Some((mode, days))
                }
                Some(_) => {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        "MalformedXML",
                        "Mode must be GOVERNANCE or COMPLIANCE",
                    ));
                }
            };
            Ok((StatusCode::OK, "").into_response())
        }
        ("PUT", _) if let Some(k) = stored_config => {
            b.configs.insert(k.to_owned(), text);
            Ok((StatusCode::OK, "").into_response())
        }
        ("GET", _) if let Some(k) = stored_config => match b.configs.get(k) {
            Some(c) => Ok(xml_ok(
                c.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                    .trim()
                    .to_owned(),
            )),
            None if k == "encryption" => Ok(xml_ok(format!(
                "<ServerSideEncryptionConfiguration {NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
            ))),
            None => Err(err(
                StatusCode::NOT_FOUND,
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
            )),
        },
        ("GET", q) if q.contains_key("versions") => Ok(list_versions(name, b, q)),
        ("GET", q) => Ok(list_objects(name, b, q)),
        ("POST", q) if q.contains_key("delete") => delete_objects(b, &text, headers, now, new_id),
        ("DELETE", q) if q.is_empty() => {
            if b.objects.values().any(|v| !v.is_empty()) {
                return Err(err(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                ));
            }
            buckets.remove(name);
            Ok((StatusCode::NO_CONTENT, "").into_response())
        }
        (m, _) => Err(err(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "veritrail does not emulate this bucket operation ({m} with {:?})",
                q.keys().collect::<Vec<_>>()
            ),
        )),
    }
}

fn current(versions: &[Version]) -> Option<&Version> {
    versions.last().filter(|v| !v.delete_marker)
}

fn list_objects(name: &str, b: &Bucket, q: &BTreeMap<String, String>) -> Response {
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let v2 = q.get("list-type").map(String::as_str) == Some("2");
    let after = if v2 {
        q.get("continuation-token")
            .or_else(|| q.get("start-after"))
            .cloned()
            .unwrap_or_default()
    } else {
        q.get("marker").cloned().unwrap_or_default()
    };
    let max: usize = q
        .get("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let keys: Vec<(&String, &Version)> = b
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && k.as_str() > after.as_str())
        .filter_map(|(k, v)| current(v).map(|c| (k, c)))
        .collect();
    let truncated = keys.len() > max;
    let page = &keys[..keys.len().min(max)];
    let contents: String = page
        .iter()
        .map(|(k, v)| {
            format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                escape(k),
                iso(v.modified),
                v.etag,
                v.body.len()
            )
        })
        .collect();
    let last = page.last().map(|(k, _)| escape(k)).unwrap_or_default();
    if v2 {
        let next = if truncated {
            format!("<NextContinuationToken>{last}</NextContinuationToken>")
        } else {
            String::new()
        };
        xml_ok(format!(
            "<ListBucketResult {NS}><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{next}{contents}</ListBucketResult>",
            escape(name),
            escape(&prefix),
            page.len()
        ))
    } else {
        let next = if truncated {
            format!("<NextMarker>{last}</NextMarker>")
        } else {
            String::new()
        };
        xml_ok(format!(
            "<ListBucketResult {NS}><Name>{}</Name><Prefix>{}</Prefix><Marker>{}</Marker><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{next}{contents}</ListBucketResult>",
            escape(name),
            escape(&prefix),
            escape(&after)
        ))
    }
}

fn list_versions(name: &str, b: &Bucket, q: &BTreeMap<String, String>) -> Response {
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let mut items = String::new();
    for (k, versions) in b.objects.iter().filter(|(k, _)| k.starts_with(&prefix)) {
        for (i, v) in versions.iter().enumerate().rev() {
            let latest = i + 1 == versions.len();
            if v.delete_marker {
                items.push_str(&format!(
                    "<DeleteMarker><Key>{}</Key><VersionId>{}</VersionId><IsLatest>{latest}</IsLatest><LastModified>{}</LastModified></DeleteMarker>",
                    escape(k), v.id, iso(v.modified)
                ));
            } else {
                items.push_str(&format!(
                    "<Version><Key>{}</Key><VersionId>{}</VersionId><IsLatest>{latest}</IsLatest><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Version>",
                    escape(k), v.id, iso(v.modified), v.etag, v.body.len()
                ));
            }
        }
    }
    xml_ok(format!(
        "<ListVersionsResult {NS}><Name>{}</Name><Prefix>{}</Prefix><IsTruncated>false</IsTruncated>{items}</ListVersionsResult>",
        escape(name),
        escape(&prefix)
    ))
}

/// Whether deleting (or shortening the retention of) this version is refused.
fn locked(v: &Version, bypass_governance: bool, now: UtcMillis) -> bool {
    if v.legal_hold {
        return true;
    }
    match &v.retention {
        Some((mode, until)) if now < *until => !(mode == "GOVERNANCE" && bypass_governance),
        _ => false,
    }
}

fn access_denied() -> S3Error {
    err(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "Access Denied because object protected by object lock.",
    )
}

fn bypass(headers: &HeaderMap) -> bool {
    header(headers, "x-amz-bypass-governance-retention")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Deletes `key` (a delete marker) or one version of it; returns (version id, was a marker).
fn delete_one(
    b: &mut Bucket,
    key: &str,
    version: Option<&str>,
    bypass: bool,
    now: UtcMillis,
    new_id: impl FnOnce() -> String,
) -> Result<(String, bool), S3Error> {
    b.dirty.insert(key.to_owned());
    match version {
        None => {
            if b.versioning.is_none() {
                b.objects.remove(key);
                return Ok(("null".into(), false));
            }
            let id = new_id();
            b.objects.entry(key.to_owned()).or_default().push(Version {
                id: id.clone(),
                delete_marker: true,
                body: vec![],
                metadata: BTreeMap::new(),
                content_type: None,
                modified: now,
                etag: String::new(),
                retention: None,
                legal_hold: false,
            });
            Ok((id, true))
        }
        Some(vid) => {
            let versions = b.objects.get_mut(key).ok_or_else(|| {
                err(
                    StatusCode::NOT_FOUND,
                    "NoSuchVersion",
                    "The specified version does not exist.",
                )
            })?;
            let i = versions.iter().position(|v| v.id == vid).ok_or_else(|| {
                err(
                    StatusCode::NOT_FOUND,
                    "NoSuchVersion",
                    "The specified version does not exist.",
                )
            })?;
            if locked(&versions[i], bypass, now) {
                return Err(access_denied());
            }
            let marker = versions.remove(i).delete_marker;
            if versions.is_empty() {
                b.objects.remove(key);
            }
            Ok((vid.to_owned(), marker))
        }
    }
}

fn delete_objects(
    b: &mut Bucket,
    xml: &str,
    headers: &HeaderMap,
    now: UtcMillis,
    new_id: &dyn Fn() -> String,
) -> Result<Response, S3Error> {
    let quiet = xml_first(xml, "Quiet").is_some_and(|q| q == "true");
    let mut out = String::new();
    for object in xml_all(xml, "Object") {
        let key = xml_first(&object, "Key").unwrap_or_default();
        let version = xml_first(&object, "VersionId");
        match delete_one(b, &key, version.as_deref(), bypass(headers), now, new_id) {
            Ok((vid, marker)) if !quiet => out.push_str(&format!(
                "<Deleted><Key>{}</Key>{}{}</Deleted>",
                escape(&key),
                version.as_ref().map_or(String::new(), |v| format!("<VersionId>{}</VersionId>", escape(v))),
                if marker || version.is_none() { format!("<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>{vid}</DeleteMarkerVersionId>") } else { String::new() }
            )),
            Ok(_) => {}
            Err(e) => out.push_str(&format!("<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>", escape(&key), e.code, escape(&e.message))),
        }
    }
    Ok(xml_ok(format!("<DeleteResult {NS}>{out}</DeleteResult>")))
}

#[allow(clippy::too_many_arguments)]
fn object_op(
    buckets: &mut BTreeMap<String, Bucket>,
    method: &Method,
    bucket: &str,
    key: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    now: UtcMillis,
    emulator: &Emulator,
) -> Result<Response, S3Error> {
    let b = buckets.get_mut(bucket).ok_or_else(|| no_bucket(bucket))?;
    // CopyObject and UploadPart are PUTs too; storing their (empty) bodies would be a wrong
    // success, so they are refused by name.
    if method == Method::PUT {
        let unsupported = if headers.contains_key("x-amz-copy-source") {
            Some("CopyObject")
        } else if q.contains_key("uploadId") {
            Some("UploadPart")
        } else {
            None
        };
        if let Some(op) = unsupported {
            return Err(err(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("veritrail does not emulate {op}"),
            ));
        }
    }
    let version_id = q.get("versionId").cloned();
    let find = |b: &Bucket| -> Result<Version, S3Error> {
        let versions = b.objects.get(key).ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
        })?;
        match &version_id {
            Some(id) => versions
                .iter()
                .find(|v| v.id == *id)
                .cloned()
                .ok_or_else(|| {
                    err(
                        StatusCode::NOT_FOUND,
                        "NoSuchVersion",
                        "The specified version does not exist.",
                    )
                }),
            None => current(versions).cloned().ok_or_else(|| {
                err(
                    StatusCode::NOT_FOUND,
                    "NoSuchKey",
                    "The specified key does not exist.",
                )
            }),
        }
    };
    let lock_ops = q.contains_key("retention") || q.contains_key("legal-hold");
    if lock_ops && !b.object_lock {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Bucket is missing Object Lock Configuration",
        ));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    match method.as_str() {
        "PUT" if q.contains_key("retention") => {
            let mode = xml_first(&text, "Mode").unwrap_or_default();
            let until = xml_first(&text, "RetainUntilDate").and_then(|d| parse_iso(&d));
            let (Some(until), true) = (until, mode == "GOVERNANCE" || mode == "COMPLIANCE") else {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "Retention needs Mode (GOVERNANCE or COMPLIANCE) and RetainUntilDate",
                ));
            };
            let v = find(b)?;
            let bypassing = bypass(headers);
            if let Some((old_mode, old_until)) = &v.retention {
                let shortening = until < *old_until || mode != *old_mode;
                if shortening && now < *old_until && (old_mode == "COMPLIANCE" || !bypassing) {
                    return Err(access_denied());
                }
            }
            for x in b
                .objects
                .get_mut(key)
                .into_iter()
                .flatten()
                .filter(|x| x.id == v.id)
            {
                x.retention = Some((mode.clone(), until));
                b.dirty.insert(key.to_owned());
            }
            Ok((StatusCode::OK, "").into_response())
        }
        "GET" if q.contains_key("retention") => {
            let v = find(b)?;
            match v.retention {
                Some((m, u)) => Ok(xml_ok(format!(
                    "<Retention {NS}><Mode>{m}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
                    iso(u)
                ))),
                None => Err(err(
                    StatusCode::NOT_FOUND,
                    "NoSuchObjectLockConfiguration",
                    "The specified object does not have a ObjectLock configuration",
                )),
            }
        }
        "PUT" if q.contains_key("legal-hold") => {
            let status = xml_first(&text, "Status").unwrap_or_default();
            if status != "ON" && status != "OFF" {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "MalformedXML",
                    "LegalHold Status must be ON or OFF",
                ));
            }
            let v = find(b)?;
            for x in b
                .objects
                .get_mut(key)
                .into_iter()
                .flatten()
                .filter(|x| x.id == v.id)
            {
                x.legal_hold = status == "ON";
                b.dirty.insert(key.to_owned());
            }
            Ok((StatusCode::OK, "").into_response())
        }
        "GET" if q.contains_key("legal-hold") => {
            let v = find(b)?;
            Ok(xml_ok(format!(
                "<LegalHold {NS}><Status>{}</Status></LegalHold>",
                if v.legal_hold { "ON" } else { "OFF" }
            )))
        }
        "PUT" => {
            let mode = header(headers, "x-amz-object-lock-mode");
            let until = header(headers, "x-amz-object-lock-retain-until-date");
            let hold = header(headers, "x-amz-object-lock-legal-hold");
            if (mode.is_some() || until.is_some() || hold.is_some()) && !b.object_lock {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "Bucket is missing Object Lock Configuration",
                ));
            }
            if mode.is_some() != until.is_some() {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                ));
            }
            let has_checksum = headers
                .keys()
                .any(|k| k.as_str() == "content-md5" || k.as_str().starts_with("x-amz-checksum-"));
            if (mode.is_some() || hold.is_some()) && !has_checksum {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
                ));
            }
            let retention = match (mode, until) {
                (Some(m), Some(u)) => {
                    let u = parse_iso(u).filter(|u| *u > now).ok_or_else(|| {
                        err(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "The retain until date must be in the future!",
                        )
                    })?;
                    Some((m.to_owned(), u))
                }
                _ => None,
            };
            let metadata: BTreeMap<String, String> = headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str().strip_prefix("x-amz-meta-")?.to_owned(),
                        v.to_str().ok()?.to_owned(),
                    ))
                })
                .collect();
            let (id, etag) = b.put_version(
                key,
                NewObject {
                    body: body.to_vec(),
                    metadata,
                    content_type: header(headers, "content-type").map(str::to_owned),
                    retention,
                    legal_hold: hold == Some("ON"),
                },
                now,
                || emulator.new_id(),
            );
            let mut r = (StatusCode::OK, "").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
                r.headers_mut().insert("etag", v);
            }
            if id != "null" {
                if let Ok(v) = HeaderValue::from_str(&id) {
                    r.headers_mut().insert("x-amz-version-id", v);
                }
            }
            Ok(r)
        }
        "GET" | "HEAD" => {
            let v = find(b)?;
            let mut r = if *method == Method::HEAD {
                (StatusCode::OK, "").into_response()
            } else {
                (StatusCode::OK, v.body.clone()).into_response()
            };
            let h = r.headers_mut();
            let mut put = |k: &str, val: String| {
                if let (Ok(name), Ok(value)) = (
                    axum::http::HeaderName::try_from(k),
                    HeaderValue::from_str(&val),
                ) {
                    h.insert(name, value);
                }
            };
            put("etag", format!("\"{}\"", v.etag));
            put("content-length", v.body.len().to_string());
            put(
                "content-type",
                v.content_type
                    .clone()
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            );
            put("last-modified", http_date(v.modified));
            if v.id != "null" {
                put("x-amz-version-id", v.id.clone());
            }
            for (k, val) in &v.metadata {
                put(&format!("x-amz-meta-{k}"), val.clone());
            }
            if let Some((m, u)) = &v.retention {
                put("x-amz-object-lock-mode", m.clone());
                put("x-amz-object-lock-retain-until-date", iso(*u));
            }
            if b.object_lock {
                put(
                    "x-amz-object-lock-legal-hold",
                    if v.legal_hold { "ON" } else { "OFF" }.into(),
                );
            }
            Ok(r)
        }
        "DELETE" => {
            if bypass(headers) && !b.object_lock {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.",
                ));
            }
            let (vid, marker) =
                delete_one(b, key, version_id.as_deref(), bypass(headers), now, || {
                    emulator.new_id()
                })?;
            let mut r = (StatusCode::NO_CONTENT, "").into_response();
            if vid != "null" {
                if let Ok(v) = HeaderValue::from_str(&vid) {
                    r.headers_mut().insert("x-amz-version-id", v);
                }
            }
            if marker {
                r.headers_mut()
                    .insert("x-amz-delete-marker", HeaderValue::from_static("true"));
            }
            Ok(r)
        }
        m => Err(err(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("veritrail does not emulate {m} on objects"),
        )),
    }
}

/// RFC 7231 date for Last-Modified.
fn http_date(t: UtcMillis) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, _) = t.fields();
    let weekday = DAYS[t.0.div_euclid(86_400_000).rem_euclid(7) as usize];
    format!(
        "{weekday}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS[(mo as usize).saturating_sub(1) % 12]
    )
}

/// Base64 MD5 of a body, as `Content-MD5` wants it (for tests and clients).
pub fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(decode_aws_chunked(body).unwrap(), b"hello world");
        assert!(decode_aws_chunked(b"zz\r\n").is_none());
        assert_eq!(
            xml_all(
                "<a><Key>x&amp;y</Key><KeyMarker>z</KeyMarker><Key>w</Key></a>",
                "Key"
            ),
            ["x&y", "w"]
        );
    }
}
