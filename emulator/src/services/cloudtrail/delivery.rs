//! CloudTrail delivery (`../shared/specs/cloudtrail.md` §1-2): each logging trail gets its
//! records as `.json.gz` log files every [`Config::log_interval`](crate::Config) and, with log
//! file validation on, an hourly digest per region signed with SHA256withRSA and chained
//! through `previousDigest*`. StopLogging and DeleteTrail write a final digest; a restart, or
//! validation turned back on, starts a new chain.
//!
//! Everything is driven by the emulator's clock: [`catch_up`] delivers every file that has
//! fallen due, so moving the clock a month ahead produces a month of files. Files reach S3
//! through its narrow API ([`S3::deliver_object`]), which also applies the bucket's policy
//! check done here and its default retention.
//!
//! Architecture Invariant: nothing here trusts veritrail-verify; the hashes, the string to sign
//! and the signature are made here and checked there (and by the AWS CLI).

use std::collections::BTreeMap;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use veritrail_core::time::UtcMillis;

use crate::ACCOUNT_ID;
use crate::env::Env;
use crate::services::cloudtrail::model::{Chain, PreviousDigest, Recorded, Trail};
use crate::services::cloudtrail::signing::SigningKeys;
use crate::services::cloudtrail::{records, selectors, trails};
use crate::services::s3::{S3, S3Error};
use crate::store::{StoreError, Write};
use crate::wire::hex;
use crate::wire::time::iso8601_seconds;

const HOUR: i64 = 3_600_000;

/// What a delivery pass works with.
#[derive(Debug)]
pub struct Tick<'a> {
    pub w: &'a Write<'a>,
    pub env: &'a Env,
    pub s3: &'a S3,
    pub keys: &'a mut SigningKeys,
    /// How often log files go out, in milliseconds.
    pub interval: i64,
    /// The sequence number of the next record to be made: every record below it is stored.
    pub next_record: i64,
}

fn stamp(t: UtcMillis, seconds: bool) -> String {
    let (y, mo, d, h, mi, s, _) = t.fields();
    if seconds {
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    } else {
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}Z")
    }
}

fn folder(t: UtcMillis) -> String {
    let (y, mo, d, ..) = t.fields();
    format!("{y:04}/{mo:02}/{d:02}")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// `[prefix/]AWSLogs/<acct>/`.
pub fn logs_root(trail: &Trail) -> String {
    let p = trail
        .prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{}/", p.trim_end_matches('/')))
        .unwrap_or_default();
    format!("{p}AWSLogs/{ACCOUNT_ID}/")
}

/// 16 characters of `[A-Za-z0-9]`, unique per file (§1.1: meaningless, so derived from a counter).
fn unique16(trail: &str, region: &str, n: u64, t: UtcMillis) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let h = Sha256::digest(format!("{trail}\n{region}\n{n}\n{}", t.0).as_bytes());
    h.iter()
        .take(16)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Puts a file into the trail's bucket, if its policy lets CloudTrail write that key; the S3
/// error code CloudTrail would report otherwise.
fn put(
    tick: &Tick<'_>,
    trail: &Trail,
    key: &str,
    uncompressed: &[u8],
    signature: Option<&str>,
    at: UtcMillis,
) -> Result<Result<(), String>, StoreError> {
    if let Some(code) = trails::delivery_refused(tick.s3, trail, key) {
        return Ok(Err(code.to_owned()));
    }
    let mut metadata = BTreeMap::new();
    if let Some(s) = signature {
        metadata.insert("signature".to_owned(), s.to_owned());
        metadata.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
    }
    match tick.s3.deliver_object(
        tick.w,
        tick.env,
        at,
        &trail.bucket,
        key,
        gzip(uncompressed),
        metadata,
        "application/json",
        crate::services::s3::Encryption::S3Managed,
    ) {
        Ok(()) => Ok(Ok(())),
        Err(S3Error::Store(e)) => Err(e),
        Err(e) => Ok(Err(crate::wire::ErrorBody::from(e).code.into_owned())),
    }
}

/// Writes the trail's log files for records up to `t` (delivery time `t`), one per region.
fn deliver_logs(trail: &mut Trail, tick: &Tick<'_>, t: UtcMillis) -> Result<(), StoreError> {
    let mut by_region: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
    for r in records::since(tick.w.conn(), trail.delivery.cursor, t)? {
        trail.delivery.cursor = r.seq + 1;
        if selectors::selected(trail, &r) {
            by_region.entry(r.region.clone()).or_default().push(r);
        }
    }
    for (region, rs) in by_region {
        let body = json!({"Records": rs.iter().map(|r| &r.value).collect::<Vec<_>>()}).to_string();
        trail.delivery.files += 1;
        let key = format!(
            "{}CloudTrail/{region}/{}/{ACCOUNT_ID}_CloudTrail_{region}_{}_{}.json.gz",
            logs_root(trail),
            folder(t),
            stamp(t, false),
            unique16(&trail.name, &region, trail.delivery.files, t)
        );
        let times: Vec<&str> = rs
            .iter()
            .filter_map(|r| r.value["eventTime"].as_str())
            .collect();
        let entry = json!({
            "s3Bucket": trail.bucket,
            "s3Object": key,
            "hashValue": hex(&Sha256::digest(body.as_bytes())),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": times.iter().max(),
            "oldestEventTime": times.iter().min(),
        });
        match put(tick, trail, &key, body.as_bytes(), None, t)? {
            Ok(()) => {
                trail.delivery.latest_delivery = Some(t);
                trail.delivery.latest_delivery_error = None;
                if trail.validation {
                    let start = trail.delivery.chains.values().map(|c| c.start).min();
                    trail
                        .delivery
                        .chains
                        .entry(region)
                        .or_insert_with(|| Chain::new(start.unwrap_or(t)))
                        .logs
                        .push(entry);
                }
            }
            Err(code) => trail.delivery.latest_delivery_error = Some(code),
        }
    }
    Ok(())
}

/// Writes the digest of `region`'s chain ending at `end` and moves the chain on.
fn write_digest(
    trail: &mut Trail,
    tick: &mut Tick<'_>,
    region: &str,
    end: UtcMillis,
) -> Result<(), StoreError> {
    let Some(chain) = trail.delivery.chains.get(region).cloned() else {
        return Ok(());
    };
    let key = match tick.keys.current(end) {
        Ok(k) => k,
        Err(e) => {
            trail.delivery.latest_digest_error = Some(e);
            return Ok(());
        }
    };
    let object = format!(
        "{}CloudTrail-Digest/{region}/{}/{ACCOUNT_ID}_CloudTrail-Digest_{region}_{}_{}_{}.json.gz",
        logs_root(trail),
        folder(end),
        trail.name,
        trail.region,
        stamp(end, true)
    );
    let event_times = |k: &str| -> Vec<&str> {
        chain
            .logs
            .iter()
            .filter_map(|l| l[k].as_str())
            .collect::<Vec<_>>()
    };
    let previous = chain.previous.as_ref();
    let field = |f: fn(&PreviousDigest) -> &str| previous.map_or(Value::Null, |p| json!(f(p)));
    let digest = json!({
        "awsAccountId": ACCOUNT_ID,
        "digestStartTime": iso8601_seconds(chain.start),
        "digestEndTime": iso8601_seconds(end),
        "digestS3Bucket": trail.bucket,
        "digestS3Object": object,
        "digestPublicKeyFingerprint": key.fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": event_times("newestEventTime").into_iter().max(),
        "oldestEventTime": event_times("oldestEventTime").into_iter().min(),
        "previousDigestS3Bucket": field(|p| &p.bucket),
        "previousDigestS3Object": field(|p| &p.key),
        "previousDigestHashValue": field(|p| &p.hash),
        "previousDigestHashAlgorithm": if previous.is_some() { json!("SHA-256") } else { Value::Null },
        "previousDigestSignature": field(|p| &p.signature),
        "logFiles": chain.logs,
    })
    .to_string();
    let hash = hex(&Sha256::digest(digest.as_bytes()));
    let to_sign = format!(
        "{}\n{}/{object}\n{hash}\n{}",
        iso8601_seconds(end),
        trail.bucket,
        previous.map_or("null", |p| p.signature.as_str())
    );
    let signature = match key.sign(to_sign.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            trail.delivery.latest_digest_error = Some(e);
            return Ok(());
        }
    };
    match put(
        tick,
        trail,
        &object,
        digest.as_bytes(),
        Some(&signature),
        end,
    )? {
        Ok(()) => {
            trail.delivery.latest_digest = Some(end);
            trail.delivery.latest_digest_error = None;
            trail.delivery.chains.insert(
                region.to_owned(),
                Chain {
                    start: end,
                    previous: Some(PreviousDigest {
                        bucket: trail.bucket.clone(),
                        key: object,
                        hash,
                        signature,
                    }),
                    logs: Vec::new(),
                },
            );
        }
        Err(code) => trail.delivery.latest_digest_error = Some(code),
    }
    Ok(())
}

/// Catches one trail up to `now`: log files every interval, digests every hour, and the final
/// files of a stopped or deleted trail. Returns whether anything changed.
pub fn catch_up(
    trail: &mut Trail,
    tick: &mut Tick<'_>,
    now: UtcMillis,
) -> Result<bool, StoreError> {
    let before = trail.delivery.clone();
    let interval = tick.interval;
    if trail.logging || trail.delivery.flush {
        let started = trail.start_logging.unwrap_or(now);
        let mut next_log = trail
            .delivery
            .next_log
            .unwrap_or(UtcMillis(started.0.saturating_add(interval)));
        loop {
            let next_digest = trail
                .delivery
                .chains
                .iter()
                .map(|(r, c)| (UtcMillis(c.start.0.saturating_add(HOUR)), r.clone()))
                .min();
            let log_first = next_digest.as_ref().is_none_or(|(d, _)| next_log <= *d);
            if log_first {
                if next_log > now {
                    break;
                }
                // An interval with no record left to deliver writes no file: a clock moved a year
                // ahead walks its intervals without reading the records each time.
                if trail.delivery.cursor < tick.next_record {
                    deliver_logs(trail, tick, next_log)?;
                }
                next_log = UtcMillis(next_log.0.saturating_add(interval));
            } else if let Some((end, region)) = next_digest {
                if end > now {
                    break;
                }
                write_digest(trail, tick, &region, end)?;
                // A digest that could not be written still moves the chain on, so a missing
                // bucket cannot stall delivery forever.
                if let Some(c) = trail.delivery.chains.get_mut(&region) {
                    if c.start < end {
                        c.start = end;
                    }
                }
            }
        }
        trail.delivery.next_log = Some(next_log);
    }
    if trail.delivery.flush {
        deliver_logs(trail, tick, now)?;
        let chains: Vec<(String, UtcMillis)> = trail
            .delivery
            .chains
            .iter()
            .map(|(r, c)| (r.clone(), c.start))
            .collect();
        for (r, start) in chains {
            // A stop in the very second an hourly digest was written still gets its own final
            // digest, one second later, rather than the same key as the one before it.
            let end = UtcMillis(now.0.max(start.0 - start.0.rem_euclid(1000) + 1000));
            write_digest(trail, tick, &r, end)?;
        }
        trail.delivery.chains.clear();
        trail.delivery.next_log = None;
        trail.delivery.flush = false;
    }
    Ok(before != trail.delivery)
}

/// Starts delivery for a trail that starts logging (or turns validation on) at `now`: a new
/// digest chain with null `previous*` fields. `next_record` is the sequence number of the next
/// record to be made.
pub fn start(trail: &mut Trail, next_record: i64, now: UtcMillis) {
    if !trail.logging {
        trail.delivery.cursor = next_record;
        trail.delivery.next_log = None;
    }
    if trail.validation && trail.delivery.chains.is_empty() {
        trail
            .delivery
            .chains
            .insert(trail.region.clone(), Chain::new(now));
    }
}
