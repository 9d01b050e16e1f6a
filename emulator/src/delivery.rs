//! CloudTrail delivery (`../shared/specs/cloudtrail.md` §1-2): each logging trail gets its
//! records as `.json.gz` log files every [`Config::log_interval`](crate::Config) and, with log
//! file validation on, an hourly digest per region signed with SHA256withRSA and chained
//! through `previousDigest*`. StopLogging and DeleteTrail write a final digest; a restart, or
//! validation turned back on, starts a new chain. Signing keys rotate every 25 days and stay
//! valid for 30, so their windows overlap.
//!
//! Everything is driven by the emulator's clock: [`tick`] runs after every request and once a
//! second in the background, and catches up on every delivery that has fallen due, so moving the
//! clock a month ahead produces a month of files.
//!
//! Architecture Invariant: nothing here trusts veritrail-verify; the hashes, the string to sign
//! and the signature are made here and checked there (and by the AWS CLI).

use std::collections::BTreeMap;

use flate2::Compression;
use flate2::write::GzEncoder;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use veritrail_core::time::UtcMillis;

use crate::cloudtrail::{Recorded, State, Trail};
use crate::s3::{Bucket, NewObject};
use crate::{ACCOUNT_ID, Emulator};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// A signing key is replaced after this long ...
pub const KEY_ROTATION: i64 = 25 * DAY;
/// ... and verifies signatures for this long.
pub const KEY_VALIDITY: i64 = 30 * DAY;

/// A digest-signing key.
#[derive(Debug)]
pub struct SigningKey {
    pub private: rsa::RsaPrivateKey,
    /// DER PKCS#1 RSAPublicKey, as ListPublicKeys serves it.
    pub der: Vec<u8>,
    pub fingerprint: String,
    pub valid_from: UtcMillis,
}

impl SigningKey {
    /// A key from its private half and DER PKCS#1 public key.
    pub fn new(private: rsa::RsaPrivateKey, der: Vec<u8>, valid_from: UtcMillis) -> Self {
        use md5::Digest as _;
        let fingerprint = hex(&md5::Md5::digest(&der));
        Self {
            private,
            der,
            fingerprint,
            valid_from,
        }
    }

    pub fn valid_until(&self) -> UtcMillis {
        UtcMillis(self.valid_from.0 + KEY_VALIDITY)
    }
}

/// Where a trail's delivery stands.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Records before this index were delivered (or predate logging).
    pub cursor: usize,
    /// When the next log files are due.
    pub next_log: Option<UtcMillis>,
    /// One digest chain per region.
    pub chains: BTreeMap<String, Chain>,
    /// StopLogging or DeleteTrail: deliver what is left and close the chains.
    pub flush: bool,
    pub latest_delivery: Option<UtcMillis>,
    pub latest_digest: Option<UtcMillis>,
    pub latest_error: Option<String>,
    /// Files written, for names that never repeat.
    pub files: u64,
}

/// One region's digest chain.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The next digest's digestStartTime.
    pub start: UtcMillis,
    /// (bucket, key, hex SHA-256 of its uncompressed bytes, hex signature) of the last digest.
    pub previous: Option<(String, String, String, String)>,
    /// logFiles entries delivered since the last digest.
    pub logs: Vec<Value>,
}

impl Chain {
    pub fn new(start: UtcMillis) -> Self {
        Self {
            start,
            previous: None,
            logs: Vec::new(),
        }
    }
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes)
        .and_then(|()| e.finish())
        .map_err(|e| format!("gzip: {e}"))
}

/// `[prefix/]AWSLogs/<acct>/`.
fn logs_root(trail: &Trail) -> String {
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

/// The signing key for time `t`, made when none is current (RSA-2048).
pub fn signing_key(keys: &mut Vec<SigningKey>, t: UtcMillis) -> Result<&SigningKey, String> {
    let due = keys
        .last()
        .is_none_or(|k| t.0 >= k.valid_from.0 + KEY_ROTATION);
    if due {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_seed(seed);
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| e.to_string())?;
        let der = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec();
        keys.push(SigningKey::new(private, der, t));
    }
    keys.last().ok_or_else(|| "no signing key".to_owned())
}

/// Whether the trail's event selectors take this record.
fn selected(trail: &Trail, r: &Recorded) -> bool {
    if !trail.multi_region && r.region != trail.region {
        return false;
    }
    let v = &r.value;
    let management = v["managementEvent"] == json!(true);
    let read_only = v["readOnly"] == json!(true);
    let Some(selectors) = trail.event_selectors.as_array() else {
        return management;
    };
    selectors.iter().any(|s| {
        if let Some(fields) = s.get("FieldSelectors").and_then(Value::as_array) {
            return fields.iter().all(|f| advanced_field_matches(f, v));
        }
        let rw = match s.get("ReadWriteType").and_then(Value::as_str) {
            Some("ReadOnly") => read_only,
            Some("WriteOnly") => !read_only,
            _ => true,
        };
        let wanted = if management {
            s.get("IncludeManagementEvents").and_then(Value::as_bool) != Some(false)
        } else {
            s.get("DataResources")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|d| data_resource_matches(d, v)))
        };
        rw && wanted
    })
}

/// A basic selector's data resource (`AWS::S3::Object` with ARN prefixes, or any type by name).
fn data_resource_matches(d: &Value, record: &Value) -> bool {
    let kind = d.get("Type").and_then(Value::as_str).unwrap_or("");
    let arn = match (kind, record["eventSource"].as_str()) {
        ("AWS::S3::Object", Some("s3.amazonaws.com")) => format!(
            "arn:aws:s3:::{}/{}",
            record["requestParameters"]["bucketName"]
                .as_str()
                .unwrap_or(""),
            record["requestParameters"]["key"].as_str().unwrap_or("")
        ),
        ("AWS::QLDB::Ledger", Some("qldb.amazonaws.com")) => "arn:aws:qldb".to_owned(),
        _ => return false,
    };
    d.get("Values").and_then(Value::as_array).is_some_and(|vs| {
        vs.iter()
            .filter_map(Value::as_str)
            .any(|p| arn.starts_with(p.trim_end_matches('*')))
    })
}

/// One advanced field selector over the fields CloudTrail lets them name.
fn advanced_field_matches(f: &Value, record: &Value) -> bool {
    let actual = match f.get("Field").and_then(Value::as_str) {
        Some("eventCategory") => record["eventCategory"].as_str().map(str::to_owned),
        Some("readOnly") => record["readOnly"].as_bool().map(|b| b.to_string()),
        Some("eventSource") => record["eventSource"].as_str().map(str::to_owned),
        Some("eventName") => record["eventName"].as_str().map(str::to_owned),
        Some("resources.type") => record["resources"][0]["type"].as_str().map(str::to_owned),
        Some("resources.ARN") => record["resources"][0]["ARN"].as_str().map(str::to_owned),
        // Fields veritrail does not model select everything.
        _ => return true,
    };
    let actual = actual.unwrap_or_default();
    let list = |k: &str| -> Vec<&str> {
        f.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let (eq, ne, sw, nsw) = (
        list("Equals"),
        list("NotEquals"),
        list("StartsWith"),
        list("NotStartsWith"),
    );
    (eq.is_empty() || eq.contains(&actual.as_str()))
        && !ne.contains(&actual.as_str())
        && (sw.is_empty() || sw.iter().any(|p| actual.starts_with(p)))
        && !nsw.iter().any(|p| actual.starts_with(p))
}

/// Writes the trail's log files for records up to `t` (delivery time `t`), one per region.
fn deliver_logs(
    trail: &mut Trail,
    records: &[Recorded],
    buckets: &mut BTreeMap<String, Bucket>,
    t: UtcMillis,
    new_id: &dyn Fn() -> String,
) {
    let mut by_region: BTreeMap<String, Vec<&Recorded>> = BTreeMap::new();
    let mut cursor = trail.delivery.cursor;
    while let Some(r) = records.get(cursor).filter(|r| r.at <= t) {
        if selected(trail, r) {
            by_region.entry(r.region.clone()).or_default().push(r);
        }
        cursor += 1;
    }
    trail.delivery.cursor = cursor;
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
        match put(
            buckets,
            &trail.bucket,
            &key,
            body.as_bytes(),
            None,
            t,
            new_id,
        ) {
            Ok(()) => {
                trail.delivery.latest_delivery = Some(t);
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
            Err(e) => trail.delivery.latest_error = Some(e),
        }
    }
}

fn put(
    buckets: &mut BTreeMap<String, Bucket>,
    bucket: &str,
    key: &str,
    uncompressed: &[u8],
    signature: Option<&str>,
    t: UtcMillis,
    new_id: &dyn Fn() -> String,
) -> Result<(), String> {
    let body = gzip(uncompressed)?;
    let b = buckets
        .get_mut(bucket)
        .ok_or_else(|| "NoSuchBucket".to_owned())?;
    let mut metadata = BTreeMap::new();
    if let Some(s) = signature {
        metadata.insert("signature".to_owned(), s.to_owned());
        metadata.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
    }
    b.put_version(
        key,
        NewObject {
            body,
            metadata,
            content_type: Some("application/json".into()),
            ..NewObject::default()
        },
        t,
        new_id,
    );
    Ok(())
}

/// Writes the digest of `region`'s chain ending at `end` and moves the chain on.
fn write_digest(
    trail: &mut Trail,
    region: &str,
    keys: &mut Vec<SigningKey>,
    buckets: &mut BTreeMap<String, Bucket>,
    end: UtcMillis,
    new_id: &dyn Fn() -> String,
) {
    let Some(chain) = trail.delivery.chains.get(region).cloned() else {
        return;
    };
    let key = match signing_key(keys, end) {
        Ok(k) => k,
        Err(e) => {
            trail.delivery.latest_error = Some(e);
            return;
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
    let (prev_bucket, prev_key, prev_hash, prev_sig) = match &chain.previous {
        Some((b, k, h, s)) => (json!(b), json!(k), json!(h), json!(s)),
        None => (Value::Null, Value::Null, Value::Null, Value::Null),
    };
    let digest = json!({
        "awsAccountId": ACCOUNT_ID,
        "digestStartTime": crate::s3_time(chain.start),
        "digestEndTime": crate::s3_time(end),
        "digestS3Bucket": trail.bucket,
        "digestS3Object": object,
        "digestPublicKeyFingerprint": key.fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": event_times("newestEventTime").into_iter().max(),
        "oldestEventTime": event_times("oldestEventTime").into_iter().min(),
        "previousDigestS3Bucket": prev_bucket,
        "previousDigestS3Object": prev_key,
        "previousDigestHashValue": prev_hash,
        "previousDigestHashAlgorithm": if chain.previous.is_some() { json!("SHA-256") } else { Value::Null },
        "previousDigestSignature": prev_sig,
        "logFiles": chain.logs,
    })
    .to_string();
    let hash = hex(&Sha256::digest(digest.as_bytes()));
    let to_sign = format!(
        "{}\n{}/{object}\n{hash}\n{}",
        crate::s3_time(end),
        trail.bucket,
        chain.previous.as_ref().map_or("null", |p| p.3.as_str())
    );
    // PKCS #1 v1.5 with SHA-256: the DigestInfo prefix of RFC 8017 §9.2 (rsa 0.9 takes it as
    // bytes, since sha2 0.11 and rsa 0.9 use different `digest` crates).
    let scheme = rsa::Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: Box::new([
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ]),
    };
    let signature = match key
        .private
        .sign(scheme, &Sha256::digest(to_sign.as_bytes()))
    {
        Ok(s) => hex(&s),
        Err(e) => {
            trail.delivery.latest_error = Some(format!("signing a digest: {e}"));
            return;
        }
    };
    match put(
        buckets,
        &trail.bucket,
        &object,
        digest.as_bytes(),
        Some(&signature),
        end,
        new_id,
    ) {
        Ok(()) => {
            trail.delivery.latest_digest = Some(end);
            trail.delivery.chains.insert(
                region.to_owned(),
                Chain {
                    start: end,
                    previous: Some((trail.bucket.clone(), object, hash, signature)),
                    logs: Vec::new(),
                },
            );
        }
        Err(e) => trail.delivery.latest_error = Some(e),
    }
}

/// Catches one trail up to `now`: log files every `interval`, digests every hour, and the final
/// files of a stopped or deleted trail.
fn catch_up(
    trail: &mut Trail,
    records: &[Recorded],
    keys: &mut Vec<SigningKey>,
    buckets: &mut BTreeMap<String, Bucket>,
    now: UtcMillis,
    interval: i64,
    new_id: &dyn Fn() -> String,
) -> bool {
    let before = (
        trail.delivery.next_log,
        trail.delivery.files,
        trail.delivery.latest_digest,
        trail.delivery.cursor,
        trail.delivery.flush,
    );
    if trail.logging || trail.delivery.flush {
        let started = trail.start_logging.unwrap_or(now);
        let mut next_log = trail
            .delivery
            .next_log
            .unwrap_or(UtcMillis(started.0 + interval));
        loop {
            let next_digest = trail
                .delivery
                .chains
                .iter()
                .map(|(r, c)| (UtcMillis(c.start.0 + HOUR), r.clone()))
                .min();
            let log_first = next_digest.as_ref().is_none_or(|(d, _)| next_log <= *d);
            if log_first {
                if next_log > now {
                    break;
                }
                deliver_logs(trail, records, buckets, next_log, new_id);
                next_log = UtcMillis(next_log.0 + interval);
            } else if let Some((end, region)) = next_digest {
                if end > now {
                    break;
                }
                write_digest(trail, &region, keys, buckets, end, new_id);
            }
        }
        trail.delivery.next_log = Some(next_log);
    }
    if trail.delivery.flush {
        deliver_logs(trail, records, buckets, now, new_id);
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
            write_digest(trail, &r, keys, buckets, end, new_id);
        }
        trail.delivery.chains.clear();
        trail.delivery.next_log = None;
        trail.delivery.flush = false;
    }
    before
        != (
            trail.delivery.next_log,
            trail.delivery.files,
            trail.delivery.latest_digest,
            trail.delivery.cursor,
            trail.delivery.flush,
        )
}

/// Starts delivery for a trail that starts logging (or turns validation on) at `now`: a new
/// digest chain with null `previous*` fields.
pub fn start(trail: &mut Trail, records: usize, now: UtcMillis) {
    if !trail.logging {
        trail.delivery.cursor = records;
        trail.delivery.next_log = None;
    }
    if trail.validation && trail.delivery.chains.is_empty() {
        trail
            .delivery
            .chains
            .insert(trail.region.clone(), Chain::new(now));
    }
}

/// Delivers everything due at the emulator's current time, then saves what changed (the
/// request's own effects included) to SQLite; records of calls that changed nothing else wait
/// for `all_records` (see [`crate::persist::Persist::save`]).
pub fn tick(emulator: &Emulator, all_records: bool) -> Result<(), String> {
    let now = emulator.config.clock.now();
    let interval = i64::try_from(emulator.config.log_interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1000);
    let mut state = emulator.cloudtrail();
    let mut buckets = emulator.buckets();
    let new_id = || emulator.new_id();
    let State {
        trails,
        retired,
        records,
        keys,
        ..
    } = &mut *state;
    let mut changed = false;
    for trail in trails.values_mut().chain(retired.iter_mut()) {
        changed |= catch_up(trail, records, keys, &mut buckets, now, interval, &new_id);
    }
    let retiring = retired.len();
    retired.retain(|t| t.delivery.flush);
    state.dirty |= changed || retired.len() != retiring;
    emulator.save(&mut state, &mut buckets, all_records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(selectors: Value) -> Trail {
        Trail {
            name: "t".into(),
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: None,
            validation: true,
            global_events: true,
            multi_region: false,
            logging: true,
            start_logging: None,
            stop_logging: None,
            event_selectors: selectors,
            delivery: Delivery::default(),
        }
    }

    fn record(
        region: &str,
        source: &str,
        name: &str,
        management: bool,
        read_only: bool,
    ) -> Recorded {
        Recorded {
            at: UtcMillis(0),
            region: region.into(),
            value: json!({
                "eventSource": source, "eventName": name, "readOnly": read_only,
                "managementEvent": management,
                "eventCategory": if management { "Management" } else { "Data" },
                "requestParameters": {"bucketName": "evidence", "key": "a/b.txt"},
            }),
        }
    }

    #[test]
    fn event_selectors_choose_what_a_trail_delivers() {
        let put = record("us-east-1", "s3.amazonaws.com", "PutObject", false, false);
        let get = record("us-east-1", "s3.amazonaws.com", "GetObject", false, true);
        let create = record("us-east-1", "s3.amazonaws.com", "CreateBucket", true, false);
        let list = record(
            "us-east-1",
            "cloudtrail.amazonaws.com",
            "ListTrails",
            true,
            true,
        );
        let elsewhere = record(
            "eu-west-1",
            "cloudtrail.amazonaws.com",
            "ListTrails",
            true,
            true,
        );

        // The default: management events, read and write, home region only.
        let default = trail(
            json!([{"ReadWriteType": "All", "IncludeManagementEvents": true, "DataResources": []}]),
        );
        let picked = |t: &Trail| [&put, &get, &create, &list, &elsewhere].map(|r| selected(t, r));
        assert_eq!(picked(&default), [false, false, true, true, false]);
        let mut everywhere = trail(default.event_selectors.clone());
        everywhere.multi_region = true;
        assert_eq!(picked(&everywhere), [false, false, true, true, true]);

        // Write-only, with S3 object data events for one bucket prefix.
        let writes = trail(
            json!([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": true,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::evidence/a/"]}]}]),
        );
        assert_eq!(picked(&writes), [true, false, true, false, false]);
        let other_bucket = trail(
            json!([{"ReadWriteType": "All", "IncludeManagementEvents": false,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::other/"]}]}]),
        );
        assert_eq!(picked(&other_bucket), [false, false, false, false, false]);

        // Advanced selectors: data events only, but not reads.
        let advanced = trail(json!([{"Name": "s3 writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "readOnly", "Equals": ["false"]}]}]));
        assert_eq!(picked(&advanced), [true, false, false, false, false]);
        let by_name = trail(json!([{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventName", "NotStartsWith": ["List"]}]}]));
        assert_eq!(picked(&by_name), [false, false, true, false, false]);
    }
}
