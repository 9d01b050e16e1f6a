//! S3 names and listings (issue 10, item 5): keys that are not UTF-8 are refused and never
//! stored, keys over 1,024 bytes and invalid bucket names get S3's errors, keys with control
//! characters list through `encoding-type=url` (ListObjects, ListObjectsV2, ListObjectVersions),
//! and paging (max-keys, markers, continuation tokens, delimiters, key and version-id markers)
//! returns every entry exactly once across pages, checked against a model by property tests.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};

use crate::mutate::config;
use crate::{runtime, s3_call};

/// Percent-encodes a key for a path (every byte but unreserved characters and `/`).
fn path_of(key: &str) -> String {
    let mut out = String::new();
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Text of XML content: entity and character references resolved.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .map(|e| i + e)
            .expect("an unterminated reference");
        let name = &rest[i + 1..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            n if n.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&n[2..], 16).unwrap()).unwrap()
            }
            n if n.starts_with('#') => char::from_u32(n[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown reference &{other};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A form-encoded name (`encoding-type=url`) decoded.
fn form_decoded(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The contents of each `<tag>…</tag>` (not nested in itself), in order.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let from = i + open.len();
        let end = rest[from..].find(&close).map(|e| from + e).unwrap();
        out.push(&rest[from..end]);
        rest = &rest[end + close.len()..];
    }
    out
}

/// The text of the first `<tag>`, unescaped and, in a `url` listing, decoded.
fn text(xml: &str, tag: &str, url: bool) -> Option<String> {
    blocks(xml, tag).first().map(|t| {
        let t = unescape(t);
        if url { form_decoded(&t) } else { t }
    })
}

fn texts(xml: &str, outer: &str, tag: &str, url: bool) -> Vec<String> {
    blocks(xml, outer)
        .iter()
        .filter_map(|b| text(b, tag, url))
        .collect()
}

/// The versions and delete markers of a ListObjectVersions page, in order: (key, version id,
/// delete marker).
fn version_entries(xml: &str, url: bool) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut rest = xml;
    loop {
        let v = rest.find("<Version>");
        let d = rest.find("<DeleteMarker>");
        let (at, tag) = match (v, d) {
            (Some(v), Some(d)) if d < v => (d, "DeleteMarker"),
            (Some(v), _) => (v, "Version"),
            (None, Some(d)) => (d, "DeleteMarker"),
            (None, None) => break,
        };
        rest = &rest[at..];
        let block = blocks(rest, tag)[0];
        out.push((
            text(block, "Key", url).unwrap(),
            text(block, "VersionId", false).unwrap(),
            tag == "DeleteMarker",
        ));
        rest = &rest[tag.len() + 2 + block.len()..];
    }
    out
}

/// An emulator of its own, spoken to as S3.
struct S3 {
    url: String,
    _running: veritrail_emulator::Running,
    _rt: tokio::runtime::Runtime,
}

impl S3 {
    fn spawn() -> Self {
        let rt = runtime();
        let running = rt.block_on(veritrail_emulator::spawn()).unwrap();
        Self {
            url: running.url.clone(),
            _running: running,
            _rt: rt,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        s3_call(&self.url, method, path, headers, body)
    }

    fn ok(&self, method: &str, path: &str, body: &str) -> Vec<(String, String)> {
        let (status, headers, text) = self.call(method, path, &[], body);
        assert!(status < 300, "{method} {path}: {status} {text}");
        headers
    }

    fn error(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let (status, _, text) = self.call(method, path, &[], body);
        let code = text
            .split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map(|(c, _)| c.to_owned())
            .unwrap_or_default();
        (status, code)
    }

    fn version_of(headers: &[(String, String)]) -> String {
        headers
            .iter()
            .find(|(k, _)| k == "x-amz-version-id")
            .map(|(_, v)| v.clone())
            .unwrap()
    }
}

#[test]
fn keys_that_are_not_utf8_or_too_long_and_bad_bucket_names_are_refused() {
    let s3 = S3::spawn();
    s3.ok("PUT", "/names", "");
    // Two different invalid sequences would decode to the same key if replaced: both refused.
    for path in [
        "/names/a%FF",
        "/names/a%FE",
        "/names/%C3",
        "/names/ok%ED%A0%80",
    ] {
        assert_eq!(
            s3.error("PUT", path, "x"),
            (400, "InvalidURI".into()),
            "{path}"
        );
        assert_eq!(
            s3.error("GET", path, ""),
            (400, "InvalidURI".into()),
            "{path}"
        );
    }
    assert_eq!(
        s3.error("GET", "/names?prefix=%FF", ""),
        (400, "InvalidURI".into())
    );
    assert_eq!(s3.error("PUT", "/na%FFmes", ""), (400, "InvalidURI".into()));
    // 1,024 bytes of UTF-8 is the longest key.
    let longest = "k".repeat(1024);
    s3.ok("PUT", &format!("/names/{longest}"), "longest");
    for key in ["k".repeat(1025), "✓".repeat(342)] {
        let path = format!("/names/{}", path_of(&key));
        assert_eq!(s3.error("PUT", &path, "x"), (400, "KeyTooLongError".into()));
        assert_eq!(s3.error("GET", &path, ""), (400, "KeyTooLongError".into()));
    }
    let delete = format!(
        "<Delete><Object><Key>{}</Key></Object></Delete>",
        "k".repeat(1025)
    );
    let (status, _, text) = s3.call("POST", "/names?delete", &[], &delete);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<Code>KeyTooLongError</Code>"), "{text}");
    // Only the valid key was stored.
    let (_, _, listing) = s3.call("GET", "/names?versions", &[], "");
    assert_eq!(blocks(&listing, "Version").len(), 1, "{listing}");
    assert_eq!(texts(&listing, "Version", "Key", false), [longest]);

    for name in [
        "ab",
        "Bad_Name",
        "UPPER",
        "-ab",
        "ab-",
        "a..b",
        "192.168.1.1",
        "xn--abc",
        "sthree-x",
        "bucket-s3alias",
        "bucket--ol-s3",
        "a b",
        &"a".repeat(64),
    ] {
        let path = format!("/{}", path_of(name));
        assert_eq!(
            s3.error("PUT", &path, ""),
            (400, "InvalidBucketName".into()),
            "{name}"
        );
    }
    let (_, _, buckets) = s3.call("GET", "/", &[], "");
    assert_eq!(texts(&buckets, "Bucket", "Name", false), ["names"]);
}

/// Keys no XML 1.0 document can carry literally, and ones URL encoding must not confuse.
const AWKWARD: &[&str] = &[
    "ctl\u{1}key",
    "nul\u{0}key",
    "tab\tkey",
    "nl\nkey",
    "cr\rkey",
    "del\u{7f}key",
    "esc\u{1b}[0m",
    "sp ace",
    "plus+key",
    "pct%41key",
    "amp&lt;",
    "uni✓/ü",
    "dir/\u{1}/x",
];

#[test]
fn keys_with_control_characters_list_with_encoding_type_url() {
    let s3 = S3::spawn();
    s3.ok("PUT", "/ctl", "");
    s3.ok(
        "PUT",
        "/ctl?versioning",
        "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
    );
    for key in AWKWARD {
        s3.ok("PUT", &format!("/ctl/{}", path_of(key)), key);
        // Each reads back by its own name.
        let (status, _, body) = s3.call("GET", &format!("/ctl/{}", path_of(key)), &[], "");
        assert_eq!((status, body.as_str()), (200, *key));
    }
    let mut want: Vec<String> = AWKWARD.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    for listing in [
        "/ctl?encoding-type=url",
        "/ctl?list-type=2&encoding-type=url",
    ] {
        let (status, _, xml) = s3.call("GET", listing, &[], "");
        assert_eq!(status, 200, "{xml}");
        assert!(xml.contains("<EncodingType>url</EncodingType>"), "{xml}");
        // Every key is written in printable ASCII.
        for key in blocks(&xml, "Key") {
            assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key:?}");
        }
        assert_eq!(texts(&xml, "Contents", "Key", true), want, "{listing}");
    }
    let (_, _, xml) = s3.call("GET", "/ctl?versions&encoding-type=url", &[], "");
    let keys: Vec<String> = version_entries(&xml, true)
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(keys, want);
    // A delimiter that is itself a control character, and a prefix holding one.
    let (_, _, xml) = s3.call("GET", "/ctl?encoding-type=url&delimiter=%01", &[], "");
    assert_eq!(
        texts(&xml, "CommonPrefixes", "Prefix", true),
        ["ctl\u{1}", "dir/\u{1}"]
    );
    assert_eq!(text(&xml, "Delimiter", true).as_deref(), Some("\u{1}"));
    let (_, _, xml) = s3.call(
        "GET",
        "/ctl?list-type=2&encoding-type=url&prefix=dir%2F%01",
        &[],
        "",
    );
    assert_eq!(texts(&xml, "Contents", "Key", true), ["dir/\u{1}/x"]);
    assert_eq!(text(&xml, "Prefix", true).as_deref(), Some("dir/\u{1}"));
    // Without it, S3 writes character references; the listing still names every key.
    let (_, _, xml) = s3.call("GET", "/ctl", &[], "");
    assert!(xml.contains("ctl&#x1;key"), "{xml}");
    assert_eq!(texts(&xml, "Contents", "Key", false), want);
    // Only `url` is an encoding.
    assert_eq!(
        s3.error("GET", "/ctl?encoding-type=base64", ""),
        (400, "InvalidArgument".into())
    );
}

// ---- paging, against a model -----------------------------------------------------------------

/// What a bucket holds: for each key, its versions oldest first (id, delete marker).
type Model = BTreeMap<String, Vec<(String, bool)>>;

/// One entry of a listing: `Ok` a key (or a key and a version id), `Err` a common prefix.
type Entry<T> = Result<T, String>;

#[derive(Debug, Clone)]
struct Listing {
    prefix: String,
    delimiter: Option<String>,
    max_keys: usize,
    url: bool,
}

/// The entries a whole listing holds, in order: `Ok(key)` or `Err(common prefix)`.
fn expected(keys: impl Iterator<Item = String>, l: &Listing) -> Vec<Entry<String>> {
    let mut out: Vec<Entry<String>> = Vec::new();
    for key in keys.filter(|k| k.starts_with(&l.prefix)) {
        let folded = l.delimiter.as_deref().and_then(|d| {
            key[l.prefix.len()..]
                .find(d)
                .map(|i| key[..l.prefix.len() + i + d.len()].to_owned())
        });
        match folded {
            Some(p) if out.last() == Some(&Err(p.clone())) => {}
            Some(p) => out.push(Err(p)),
            None => out.push(Ok(key)),
        }
    }
    out
}

fn query(l: &Listing) -> String {
    let mut q = format!("max-keys={}", l.max_keys);
    if !l.prefix.is_empty() {
        q.push_str(&format!(
            "&prefix={}",
            path_of(&l.prefix).replace('/', "%2F")
        ));
    }
    if let Some(d) = &l.delimiter {
        q.push_str(&format!("&delimiter={}", path_of(d).replace('/', "%2F")));
    }
    if l.url {
        q.push_str("&encoding-type=url");
    }
    q
}

fn param(v: &str) -> String {
    path_of(v).replace('/', "%2F")
}

/// Pages through ListObjects (V1 or V2) and returns every entry in order.
fn list_all(
    s3: &S3,
    bucket: &str,
    l: &Listing,
    v2: bool,
) -> Result<Vec<Entry<String>>, TestCaseError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..200 {
        let mut path = format!("/{bucket}?{}", query(l));
        if v2 {
            path.push_str("&list-type=2");
        }
        match (&next, v2) {
            (Some(t), true) => path.push_str(&format!("&continuation-token={}", param(t))),
            (Some(m), false) => path.push_str(&format!("&marker={}", param(m))),
            (None, _) => {}
        }
        let (status, _, xml) = s3.call("GET", &path, &[], "");
        prop_assert_eq!(status, 200, "{}: {}", path, xml);
        let keys = texts(&xml, "Contents", "Key", l.url);
        let prefixes = texts(&xml, "CommonPrefixes", "Prefix", l.url);
        let truncated = text(&xml, "IsTruncated", false).as_deref() == Some("true");
        let count = keys.len() + prefixes.len();
        prop_assert!(
            count <= l.max_keys,
            "{} entries on a page of {}",
            count,
            l.max_keys
        );
        if v2 {
            prop_assert_eq!(text(&xml, "KeyCount", false), Some(count.to_string()));
        }
        // A page is merged in key order: S3 lists contents and common prefixes apart.
        let mut page: Vec<Entry<String>> = keys
            .iter()
            .cloned()
            .map(Ok)
            .chain(prefixes.iter().cloned().map(Err))
            .collect();
        page.sort_by(|a, b| {
            let name = |e: &Entry<String>| match e {
                Ok(k) | Err(k) => k.clone(),
            };
            name(a).cmp(&name(b))
        });
        out.extend(page);
        if !truncated {
            return Ok(out);
        }
        prop_assert_eq!(
            count,
            l.max_keys,
            "a truncated page with fewer entries than asked for"
        );
        next = if v2 {
            text(&xml, "NextContinuationToken", false)
        } else {
            text(&xml, "NextMarker", l.url).or_else(|| keys.last().cloned())
        };
        prop_assert!(next.is_some(), "truncated without a marker: {}", xml);
    }
    Err(TestCaseError::fail("more than 200 pages"))
}

/// Pages through ListObjectVersions: (key, version id) or a common prefix, in order.
fn versions_all(
    s3: &S3,
    bucket: &str,
    l: &Listing,
) -> Result<Vec<Entry<(String, String)>>, TestCaseError> {
    let mut out = Vec::new();
    let mut next: Option<(String, Option<String>)> = None;
    for _ in 0..200 {
        let mut path = format!("/{bucket}?versions&{}", query(l));
        if let Some((k, v)) = &next {
            path.push_str(&format!("&key-marker={}", param(k)));
            if let Some(v) = v {
                path.push_str(&format!("&version-id-marker={}", param(v)));
            }
        }
        let (status, _, xml) = s3.call("GET", &path, &[], "");
        prop_assert_eq!(status, 200, "{}: {}", path, xml);
        let entries = version_entries(&xml, l.url);
        let prefixes = texts(&xml, "CommonPrefixes", "Prefix", l.url);
        let count = entries.len() + prefixes.len();
        prop_assert!(count <= l.max_keys);
        let mut page: Vec<Entry<(String, String)>> = Vec::new();
        page.extend(entries.into_iter().map(|(k, v, _)| Ok((k, v))));
        page.extend(prefixes.into_iter().map(Err));
        // Keys in order; a key's versions newest first, as listed.
        page.sort_by(|a, b| {
            let name = |e: &Entry<(String, String)>| match e {
                Ok((k, _)) | Err(k) => k.clone(),
            };
            name(a).cmp(&name(b))
        });
        out.extend(page);
        if text(&xml, "IsTruncated", false).as_deref() != Some("true") {
            return Ok(out);
        }
        prop_assert_eq!(count, l.max_keys);
        let key = text(&xml, "NextKeyMarker", l.url);
        prop_assert!(key.is_some(), "truncated without NextKeyMarker: {}", xml);
        next = key.map(|k| (k, text(&xml, "NextVersionIdMarker", false)));
    }
    Err(TestCaseError::fail("more than 200 pages"))
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec!['a', 'b', '/', ' ', '+', '%', '\u{1}', '✓']),
        1..6,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn listing_strategy() -> impl Strategy<Value = Listing> {
    (
        proptest::sample::select(vec!["", "a", "a/", "b", "\u{1}"]),
        proptest::option::of(proptest::sample::select(vec!["/", " ", "\u{1}", "a/"])),
        1usize..6,
        any::<bool>(),
    )
        .prop_map(|(prefix, delimiter, max_keys, url)| Listing {
            prefix: prefix.to_owned(),
            delimiter: delimiter.map(str::to_owned),
            max_keys,
            // XML cannot carry U+0001 literally: a client that cannot read references asks for
            // `url`; this one reads both.
            url,
        })
}

#[test]
fn pages_hold_every_entry_exactly_once() {
    let s3 = S3::spawn();
    // (key, versions to write, whether a delete marker ends it)
    let objects =
        proptest::collection::btree_map(key_strategy(), (1usize..4, any::<bool>()), 1..12);
    let case = (objects, proptest::collection::vec(listing_strategy(), 1..4));
    let mut settings = config(40);
    settings.rng_seed = RngSeed::Fixed(0x5eed_0011);
    let mut runner = TestRunner::new(settings);
    let bucket_no = std::cell::Cell::new(0u32);
    let result = runner.run(&case, |(objects, listings)| {
        bucket_no.set(bucket_no.get() + 1);
        let bucket = format!("pages-{}", bucket_no.get());
        s3.ok("PUT", &format!("/{bucket}"), "");
        s3.ok(
            "PUT",
            &format!("/{bucket}?versioning"),
            "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
        );
        let mut model = Model::new();
        for (key, (versions, deleted)) in &objects {
            let path = format!("/{bucket}/{}", path_of(key));
            for i in 0..*versions {
                let h = s3.ok("PUT", &path, &i.to_string());
                model
                    .entry(key.clone())
                    .or_default()
                    .push((S3::version_of(&h), false));
            }
            if *deleted {
                let h = s3.ok("DELETE", &path, "");
                model
                    .entry(key.clone())
                    .or_default()
                    .push((S3::version_of(&h), true));
            }
        }
        for l in &listings {
            let current = model
                .iter()
                .filter(|(_, vs)| vs.last().is_some_and(|(_, marker)| !marker))
                .map(|(k, _)| k.clone());
            let want = expected(current, l);
            for v2 in [false, true] {
                let got = list_all(&s3, &bucket, l, v2)?;
                prop_assert_eq!(&got, &want, "{:?} v2={}", l, v2);
            }
            let want: Vec<Entry<(String, String)>> = expected(model.keys().cloned(), l)
                .into_iter()
                .flat_map(|e| match e {
                    Ok(k) => model[&k]
                        .iter()
                        .rev()
                        .map(|(v, _)| Ok((k.clone(), v.clone())))
                        .collect::<Vec<_>>(),
                    Err(p) => vec![Err(p)],
                })
                .collect();
            let got = versions_all(&s3, &bucket, l)?;
            prop_assert_eq!(&got, &want, "{:?} versions", l);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
