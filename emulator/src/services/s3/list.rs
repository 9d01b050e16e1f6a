//! Listings: ListObjects (V1 markers), ListObjectsV2 (continuation tokens), ListObjectVersions
//! (key and version-id markers), each with prefix, delimiter (common prefixes), pages of at most
//! 1,000 entries, and `encoding-type=url` for keys XML cannot carry.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;

use crate::services::s3::error::S3Error;
use crate::services::s3::model::{Bucket, Version};
use crate::services::s3::{Ctx, NS, xml_ok};
use crate::wire::query::encode_form;
use crate::wire::time::iso8601;
use crate::wire::xml::element;

/// How names are written in a listing: as they are, or form-encoded (`encoding-type=url`).
#[derive(Clone, Copy)]
struct Names {
    url: bool,
}

impl Names {
    fn of(ctx: &Ctx<'_>) -> Result<Self, S3Error> {
        match ctx.req.query.get("encoding-type") {
            None => Ok(Self { url: false }),
            Some("url") => Ok(Self { url: true }),
            Some(_) => Err(S3Error::InvalidArgument(
                "Invalid Encoding Method specified in Request".into(),
            )),
        }
    }

    fn el(self, name: &str, text: &str) -> String {
        if self.url {
            element(name, &encode_form(text))
        } else {
            element(name, text)
        }
    }

    fn encoding(self) -> &'static str {
        if self.url {
            "<EncodingType>url</EncodingType>"
        } else {
            ""
        }
    }
}

fn max_keys(ctx: &Ctx<'_>) -> Result<usize, S3Error> {
    match ctx.req.query.get("max-keys") {
        None => Ok(1000),
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                S3Error::InvalidArgument(
                    "Provided max-keys not an integer or within integer range".into(),
                )
            }),
    }
}

/// One entry of a listing: a key (with what to write about it) or a common prefix.
enum Entry<'a> {
    Key(&'a str, &'a [Version]),
    Prefix(String),
}

/// Walks the keys of `b` after `after` (exclusive) under `prefix`, folding keys that contain
/// `delimiter` after the prefix into common prefixes, and stops after `max` entries. Returns
/// the entries and whether more remain.
fn walk<'a>(
    b: &'a Bucket,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    include_after: bool,
    max: usize,
    keep: impl Fn(&[Version]) -> bool,
) -> (Vec<Entry<'a>>, bool) {
    let mut out = Vec::new();
    let start = match after {
        Some(a) if a > prefix => a.to_owned(),
        _ => prefix.to_owned(),
    };
    // A marker that is itself a common prefix skips everything under it.
    let skip_under = after.filter(|a| delimiter.is_some_and(|d| a.ends_with(d)));
    let mut last_prefix: Option<String> = None;
    for (key, versions) in b.objects.range(start..) {
        if !key.starts_with(prefix) {
            break;
        }
        if let Some(a) = after {
            if key.as_str() < a || (key == a && !include_after) {
                continue;
            }
        }
        if skip_under.is_some_and(|s| key.starts_with(s)) {
            continue;
        }
        if !keep(versions) {
            continue;
        }
        if let Some(d) = delimiter.filter(|d| !d.is_empty()) {
            if let Some(i) = key[prefix.len()..].find(d) {
                let common = key[..prefix.len() + i + d.len()].to_owned();
                if last_prefix.as_deref() == Some(common.as_str()) {
                    continue;
                }
                if out.len() == max {
                    return (out, true);
                }
                last_prefix = Some(common.clone());
                out.push(Entry::Prefix(common));
                continue;
            }
        }
        if out.len() == max {
            return (out, true);
        }
        out.push(Entry::Key(key, versions));
    }
    (out, false)
}

fn entry_name(e: &Entry<'_>) -> String {
    match e {
        Entry::Key(k, _) => (*k).to_owned(),
        Entry::Prefix(p) => p.clone(),
    }
}

pub fn list_objects(ctx: &Ctx<'_>, bucket: &str, v2: bool) -> Result<Response, S3Error> {
    let names = Names::of(ctx)?;
    let max = max_keys(ctx)?;
    let q = &ctx.req.query;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let after: Option<String> = if v2 {
        match q.get("continuation-token") {
            Some(t) => Some(
                TOKEN
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::InvalidArgument(
                            "The continuation token provided is incorrect".into(),
                        )
                    })?,
            ),
            None => q.get("start-after").map(str::to_owned),
        }
    } else {
        q.get("marker").map(str::to_owned)
    };
    let state = ctx.s3.state();
    let b = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    let (entries, truncated) = walk(b, prefix, delimiter, after.as_deref(), false, max, |vs| {
        vs.last().is_some_and(|v| !v.delete_marker)
    });
    let mut contents = String::new();
    let mut prefixes = String::new();
    for e in &entries {
        match e {
            Entry::Key(k, versions) => {
                let Some(v) = versions.last() else { continue };
                contents.push_str(&format!(
                    "<Contents>{}<LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass>{}</Contents>",
                    names.el("Key", k),
                    iso8601(v.modified),
                    v.etag,
                    v.size,
                    if !v2 || ctx.req.query.get("fetch-owner") == Some("true") {
                        format!("<Owner><ID>{}</ID><DisplayName>veritrail</DisplayName></Owner>", crate::ACCOUNT_ID)
                    } else {
                        String::new()
                    }
                ));
            }
            Entry::Prefix(p) => prefixes.push_str(&format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                names.el("Prefix", p)
            )),
        }
    }
    let last = entries.last().map(entry_name);
    let common = format!(
        "{}{}{}<MaxKeys>{max}</MaxKeys>{}<IsTruncated>{truncated}</IsTruncated>",
        element("Name", bucket),
        names.el("Prefix", prefix),
        delimiter.map_or(String::new(), |d| names.el("Delimiter", d)),
        names.encoding(),
    );
    let body = if v2 {
        let next = match (&last, truncated) {
            (Some(l), true) => element("NextContinuationToken", &TOKEN.encode(l)),
            _ => String::new(),
        };
        let token = q
            .get("continuation-token")
            .map_or(String::new(), |t| element("ContinuationToken", t));
        let start_after = q
            .get("start-after")
            .map_or(String::new(), |s| names.el("StartAfter", s));
        format!(
            "<ListBucketResult {NS}>{common}<KeyCount>{}</KeyCount>{token}{next}{start_after}{contents}{prefixes}</ListBucketResult>",
            entries.len()
        )
    } else {
        let next = match (&last, truncated) {
            (Some(l), true) => names.el("NextMarker", l),
            _ => String::new(),
        };
        format!(
            "<ListBucketResult {NS}>{common}{}{next}{contents}{prefixes}</ListBucketResult>",
            names.el("Marker", after.as_deref().unwrap_or(""))
        )
    };
    Ok(xml_ok(body))
}

use axum::response::Response;

pub fn list_object_versions(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let names = Names::of(ctx)?;
    let max = max_keys(ctx)?;
    let q = &ctx.req.query;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let key_marker = q.get("key-marker").filter(|k| !k.is_empty());
    let version_marker = q.get("version-id-marker").filter(|v| !v.is_empty());
    if version_marker.is_some() && key_marker.is_none() {
        return Err(S3Error::InvalidArgument(
            "A version-id marker cannot be specified without a key marker.".into(),
        ));
    }
    let state = ctx.s3.state();
    let b = state
        .buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    // The key marker's own remaining versions come first when a version marker is given.
    let (keys, _) = walk(
        b,
        prefix,
        delimiter,
        key_marker,
        version_marker.is_some(),
        usize::MAX,
        |vs| !vs.is_empty(),
    );
    let mut items = String::new();
    let mut count = 0usize;
    let mut truncated = false;
    let mut next: Option<(String, Option<String>)> = None;
    'outer: for e in &keys {
        match e {
            Entry::Prefix(p) => {
                if count == max {
                    truncated = true;
                    break;
                }
                items.push_str(&format!(
                    "<CommonPrefixes>{}</CommonPrefixes>",
                    names.el("Prefix", p)
                ));
                count += 1;
                next = Some((p.clone(), None));
            }
            Entry::Key(k, versions) => {
                let newest_first: Vec<(usize, &Version)> =
                    versions.iter().enumerate().rev().collect();
                let skip_to = match (key_marker, version_marker) {
                    (Some(km), Some(vm)) if km == *k => newest_first
                        .iter()
                        .position(|(_, v)| v.id.as_str() == vm)
                        .map_or(newest_first.len(), |i| i + 1),
                    _ => 0,
                };
                for (i, v) in newest_first.iter().skip(skip_to) {
                    if count == max {
                        truncated = true;
                        break 'outer;
                    }
                    let latest = *i + 1 == versions.len();
                    let common = format!(
                        "{}{}<IsLatest>{latest}</IsLatest><LastModified>{}</LastModified>",
                        names.el("Key", k),
                        element("VersionId", v.id.as_str()),
                        iso8601(v.modified)
                    );
                    if v.delete_marker {
                        items.push_str(&format!("<DeleteMarker>{common}</DeleteMarker>"));
                    } else {
                        items.push_str(&format!(
                            "<Version>{common}<ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Version>",
                            v.etag, v.size
                        ));
                    }
                    count += 1;
                    next = Some(((*k).to_owned(), Some(v.id.as_str().to_owned())));
                }
            }
        }
    }
    let next_markers = match (&next, truncated) {
        (Some((k, v)), true) => format!(
            "{}{}",
            names.el("NextKeyMarker", k),
            v.as_deref()
                .map_or(String::new(), |v| element("NextVersionIdMarker", v))
        ),
        _ => String::new(),
    };
    Ok(xml_ok(format!(
        "<ListVersionsResult {NS}>{}{}{}{}{}<MaxKeys>{max}</MaxKeys>{}<IsTruncated>{truncated}</IsTruncated>{next_markers}{items}</ListVersionsResult>",
        element("Name", bucket),
        names.el("Prefix", prefix),
        names.el("KeyMarker", key_marker.unwrap_or("")),
        element("VersionIdMarker", version_marker.unwrap_or("")),
        delimiter.map_or(String::new(), |d| names.el("Delimiter", d)),
        names.encoding(),
    )))
}
