//! The traversal of `aws cloudtrail validate-logs` (`../shared/specs/cloudtrail.md` §3.2-3.3):
//! digests newest to oldest, following `previousDigestS3Object`, each digest and then its
//! logs checked, gaps reported, and the summary awscli prints. Objects come through
//! [`ObjectStore`], so the same logic runs over S3, the emulator or a local mirror; this module
//! does no I/O itself.
//!
//! Beyond awscli: each valid digest's link to the next newer one is checked
//! (`previousDigestHashValue`, `previousDigestSignature`, contiguous windows) and reported as a
//! chain break; a digest whose key does not match its own end time is out of place; a log
//! listed by two digests is reported; hours whose digest lists no log file are named. Objects
//! are fetched in batches through [`ObjectStore::get_many`], which a store may run in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};

use veritrail_core::time::{UtcMillis, days_from_civil};

use crate::cloudtrail::{Digest, FetchedDigest, LoggedFile, check_digest, check_link, check_log};

/// One object: its bytes as stored (gzip) and its user metadata (`x-amz-meta-*` without the
/// prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object {
    pub body: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
}

/// Where the objects are.
pub trait ObjectStore {
    /// Every key of `bucket` under `prefix`, in ascending order.
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String>;
    /// The object, or `None` when there is no such key.
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, String>;
    /// Several objects, in the order asked (a store may fetch them in parallel).
    fn get_many(&self, items: &[(String, String)]) -> Result<Vec<Option<Object>>, String> {
        items.iter().map(|(b, k)| self.get(b, k)).collect()
    }
}

/// How many digests are fetched ahead, and how many logs at once.
const DIGEST_BATCH: usize = 64;
const LOG_BATCH: usize = 256;

/// What to validate.
#[derive(Debug, Clone)]
pub struct Request {
    pub trail_arn: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub account_id: String,
    /// The region whose digests are read (CloudTrail's source region).
    pub region: String,
    /// The trail's home region, for key look-ups and messages.
    pub home_region: String,
    pub start: UtcMillis,
    pub end: UtcMillis,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    DigestValid {
        bucket: String,
        key: String,
    },
    DigestInvalid {
        bucket: String,
        key: String,
        reason: String,
    },
    LogValid {
        bucket: String,
        key: String,
    },
    LogInvalid {
        bucket: String,
        key: String,
        reason: String,
    },
    /// No digest covers the time between these two (awscli reports it, and it is not invalid).
    Gap {
        from: String,
        to: String,
    },
    /// veritrail's extra check: a digest does not link to the one before it, or sits at a key
    /// that does not match its own end time.
    ChainBroken {
        key: String,
        reason: String,
    },
    /// veritrail's extra check: a log file listed by more than one digest (or twice by one).
    LogListedTwice {
        bucket: String,
        key: String,
        digest: String,
    },
    /// A valid digest lists no log file: nothing was delivered in its window.
    NoLogs {
        from: String,
        to: String,
    },
}

/// The outcome, with the counts awscli summarises.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub events: Vec<Event>,
    pub digests_valid: usize,
    pub digests_invalid: usize,
    pub logs_valid: usize,
    pub logs_invalid: usize,
    pub chain_breaks: usize,
    pub logs_listed_twice: usize,
    /// No digest keys at all in range.
    pub no_digests: bool,
    /// The range awscli reports as found ("Results found for … to …"), once a digest is valid.
    pub found: Option<(UtcMillis, UtcMillis)>,
    /// The newest digest key listed in range, valid or not (see [`check_latest_delivery`]).
    pub newest_listed: Option<String>,
}

impl Report {
    /// awscli's exit code: 1 when anything is invalid or missing, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.digests_invalid + self.logs_invalid + self.chain_breaks + self.logs_listed_twice > 0
        {
            1
        } else {
            0
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` from a digest key (`key[-24:-8]`, or the backfill variant).
pub fn key_stamp(key: &str) -> Option<&str> {
    let base = key.strip_suffix(".json.gz")?;
    let base = base.strip_suffix("_backfill").unwrap_or(base);
    base.get(base.len().checked_sub(16)?..)
}

/// Parses `YYYYMMDDTHHMMSSZ` or `YYYY-MM-DDTHH:MM:SSZ` as UTC.
pub fn parse_time(t: &str) -> Option<UtcMillis> {
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i64>().ok());
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (
        n(8..10).unwrap_or(0),
        n(10..12).unwrap_or(0),
        n(12..14).unwrap_or(0),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(UtcMillis(
        (((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + s) * 1000,
    ))
}

/// `%Y-%m-%dT%H:%M:%SZ`, as awscli prints times.
pub fn format_time(t: UtcMillis) -> String {
    let (y, mo, d, h, mi, s, _) = t.fields();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn stamp_of(t: UtcMillis) -> String {
    let (y, mo, d, h, mi, s, _) = t.fields();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The digest key prefix: `[prefix/]AWSLogs/<acct>/CloudTrail-Digest/<region>/`.
pub fn digest_prefix(req: &Request) -> String {
    let p = req
        .prefix
        .as_deref()
        .map(|p| format!("{}/", p.trim_end_matches('/')))
        .unwrap_or_default();
    format!(
        "{p}AWSLogs/{}/CloudTrail-Digest/{}/",
        req.account_id, req.region
    )
}

/// A report line, or a log whose check is still to come.
enum Slot {
    Done(Event),
    Log(LoggedFile),
}

/// Runs the validation. `public_key` finds a key's DER by fingerprint. An `Err` is what awscli
/// exits 255 for (the store failing, times out of order).
pub fn validate(
    store: &dyn ObjectStore,
    public_key: &dyn Fn(&str) -> Option<Vec<u8>>,
    req: &Request,
) -> Result<Report, String> {
    if req.start >= req.end {
        return Err("Invalid time range specified: start-time must occur before end-time".into());
    }
    let latest = stamp_of(UtcMillis(req.end.0 + 3_600_000));
    let earliest = stamp_of(req.start);
    let listed: Vec<String> = store
        .list(&req.bucket, &digest_prefix(req))?
        .into_iter()
        .filter(|k| k.contains("_CloudTrail-Digest_") && !k.ends_with("_backfill.json.gz"))
        .filter(|k| key_stamp(k).is_some_and(|s| s >= earliest.as_str() && s <= latest.as_str()))
        .collect();
    let mut report = Report {
        newest_listed: listed.last().cloned(),
        ..Report::default()
    };
    if listed.is_empty() {
        report.no_digests = true;
        return Ok(report);
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut fetched: HashMap<String, Option<Object>> = HashMap::new();
    let mut current: Option<String> = listed.last().cloned();
    let mut last_start =
        parse_time(key_stamp(&listed[listed.len() - 1]).unwrap_or("")).unwrap_or(req.end);
    let mut newer: Option<Digest> = None;
    let mut visited = HashSet::new();
    let mut logs_seen: HashMap<(String, String), String> = HashMap::new();
    while let Some(key) = current.take() {
        if req.start > last_start || !visited.insert(key.clone()) {
            break;
        }
        // The next older listed key, whether or not `key` itself is listed (it may be missing).
        // `listed` is in ascending order: the keys before `below` are the older ones.
        let below = listed.partition_point(|k| k.as_str() < key.as_str());
        let older_listed = || below.checked_sub(1).map(|i| listed[i].clone());
        if !fetched.contains_key(&key) {
            // This digest and the older listed ones after it, in one batch.
            let batch: Vec<(String, String)> = std::iter::once(key.clone())
                .chain(
                    listed[..below]
                        .iter()
                        .rev()
                        .filter(|k| !visited.contains(*k) && !fetched.contains_key(*k))
                        .take(DIGEST_BATCH - 1)
                        .cloned(),
                )
                .map(|k| (req.bucket.clone(), k))
                .collect();
            let objects = store.get_many(&batch)?;
            fetched.extend(batch.into_iter().map(|(_, k)| k).zip(objects));
        }
        let Some(object) = fetched.remove(&key).flatten() else {
            report.digests_invalid += 1;
            slots.push(Slot::Done(Event::DigestInvalid {
                bucket: req.bucket.clone(),
                key: key.clone(),
                reason: "not found".into(),
            }));
            newer = None;
            current = older_listed();
            continue;
        };
        let checked = check_digest(
            &FetchedDigest {
                bucket: &req.bucket,
                key: &key,
                gzip: &object.body,
                signature: object.metadata.get("signature").map(String::as_str),
                signature_algorithm: object
                    .metadata
                    .get("signature-algorithm")
                    .map(String::as_str),
            },
            &req.home_region,
            public_key,
        );
        let digest = match checked {
            Ok(d) => d,
            Err(e) => {
                report.digests_invalid += 1;
                slots.push(Slot::Done(Event::DigestInvalid {
                    bucket: req.bucket.clone(),
                    key: key.clone(),
                    reason: e.to_string(),
                }));
                newer = None;
                current = older_listed();
                continue;
            }
        };
        report.digests_valid += 1;
        slots.push(Slot::Done(Event::DigestValid {
            bucket: req.bucket.clone(),
            key: key.clone(),
        }));
        // A digest is filed under its end time; one elsewhere was put there by someone else.
        let end_stamp = parse_time(&digest.end_time).map(stamp_of);
        if end_stamp.as_deref() != key_stamp(&key) {
            report.chain_breaks += 1;
            slots.push(Slot::Done(Event::ChainBroken {
                key: key.clone(),
                reason: format!(
                    "out of place: its key is stamped {} but its digestEndTime is {}",
                    key_stamp(&key).unwrap_or("(none)"),
                    digest.end_time
                ),
            }));
        }
        // Only a digest that names this one as its predecessor links to it (a new chain after a
        // gap does not).
        if let Some(n) = newer
            .as_ref()
            .filter(|n| n.previous_key.as_deref() == Some(key.as_str()))
        {
            if let Err(e) = check_link(&digest, n) {
                report.chain_breaks += 1;
                slots.push(Slot::Done(Event::ChainBroken {
                    key: n.key.clone(),
                    reason: e.to_string(),
                }));
            }
        }
        if digest.log_files.is_empty() {
            slots.push(Slot::Done(Event::NoLogs {
                from: digest.start_time.clone(),
                to: digest.end_time.clone(),
            }));
        }
        for log in &digest.log_files {
            let id = (log.bucket.clone(), log.key.clone());
            if let Some(first) = logs_seen.insert(id, key.clone()) {
                report.logs_listed_twice += 1;
                slots.push(Slot::Done(Event::LogListedTwice {
                    bucket: log.bucket.clone(),
                    key: log.key.clone(),
                    digest: first,
                }));
            }
            slots.push(Slot::Log(log.clone()));
        }
        let (start, end) = (parse_time(&digest.start_time), parse_time(&digest.end_time));
        if let (Some(s), Some(e)) = (start, end) {
            // awscli's bookkeeping, quirks included: the end comes from the newest valid digest;
            // the start is the requested one, replaced by each later digest start it meets.
            let (mut fs, fe) = report.found.unwrap_or((req.start, e.min(req.end)));
            if s > req.start {
                fs = s;
            }
            report.found = Some((fs, fe));
            last_start = s;
        }
        current = match (&digest.previous_key, &digest.previous_bucket) {
            (Some(k), Some(b)) if *b == req.bucket => Some(k.clone()),
            (Some(_), Some(_)) => older_listed(),
            _ => {
                let older = older_listed();
                if let (Some(o), Some(s)) = (&older, start) {
                    if let Some(o_end) = key_stamp(o).and_then(parse_time) {
                        slots.push(Slot::Done(Event::Gap {
                            from: format_time(o_end),
                            to: format_time(s),
                        }));
                    }
                }
                older
            }
        };
        newer = Some(digest);
    }
    check_logs(store, slots, &mut report)?;
    Ok(report)
}

/// Fetches and checks the logs of `slots` in batches (across digests), then writes every event
/// in traversal order, as awscli prints them.
fn check_logs(
    store: &dyn ObjectStore,
    slots: Vec<Slot>,
    report: &mut Report,
) -> Result<(), String> {
    let logs: Vec<&LoggedFile> = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Log(l) => Some(l),
            Slot::Done(_) => None,
        })
        .collect();
    let mut outcomes: Vec<Result<(), String>> = Vec::with_capacity(logs.len());
    for batch in logs.chunks(LOG_BATCH) {
        let asked: Vec<(String, String)> = batch
            .iter()
            .map(|l| (l.bucket.clone(), l.key.clone()))
            .collect();
        let objects = store.get_many(&asked)?;
        outcomes.extend(batch.iter().zip(objects).map(|(log, object)| match object {
            None => Err("not found".to_owned()),
            Some(o) => check_log(&o.body, &log.hash).map_err(|e| e.to_string()),
        }));
    }
    let mut outcomes = outcomes.into_iter();
    for slot in slots {
        let event = match slot {
            Slot::Done(e) => e,
            Slot::Log(log) => match outcomes.next().unwrap_or(Err("not checked".into())) {
                Ok(()) => {
                    report.logs_valid += 1;
                    Event::LogValid {
                        bucket: log.bucket,
                        key: log.key,
                    }
                }
                Err(reason) => {
                    report.logs_invalid += 1;
                    Event::LogInvalid {
                        bucket: log.bucket,
                        key: log.key,
                        reason,
                    }
                }
            },
        };
        report.events.push(event);
    }
    Ok(())
}

/// How much later than the newest digest's end the trail may say it delivered a digest: the
/// time between a digest's end and its delivery. Digests are hourly, so one deleted from the end
/// leaves the newest an hour or more behind.
pub const DELIVERY_SLACK_MILLIS: i64 = 30 * 60_000;

/// The trail's newest digest delivery (GetTrailStatus' `LatestDigestDeliveryTime`) against the
/// newest digest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestDelivery {
    /// When the trail says it last delivered a digest.
    pub delivered: UtcMillis,
    /// The end time (key stamp) of the newest digest found in range, if any.
    pub newest_found: Option<UtcMillis>,
    /// Digests are missing from the end of the chain: the trail delivered one later than the
    /// newest found (by more than [`DELIVERY_SLACK_MILLIS`]). awscli cannot see this.
    pub missing: bool,
}

/// Compares the newest digest found with the trail's latest digest delivery. `None` when the
/// delivery falls outside the requested range (then the range says nothing about it).
pub fn check_latest_delivery(
    report: &Report,
    req: &Request,
    delivered: UtcMillis,
) -> Option<LatestDelivery> {
    if delivered < req.start || delivered > req.end {
        return None;
    }
    let newest_found = report
        .newest_listed
        .as_deref()
        .and_then(key_stamp)
        .and_then(parse_time);
    let missing = newest_found.is_none_or(|n| n.0 < delivered.0 - DELIVERY_SLACK_MILLIS);
    Some(LatestDelivery {
        delivered,
        newest_found,
        missing,
    })
}

/// awscli's summary text, after the per-file lines.
pub fn summary(report: &Report, start: UtcMillis, end: UtcMillis) -> String {
    let mut out = format!(
        "Results requested for {} to {}\n",
        format_time(start),
        format_time(end)
    );
    if report.no_digests {
        out.push_str("No digests found\n");
        return out;
    }
    match report.found {
        None => out.push_str("No valid digests found in range\n"),
        Some((fs, fe)) => out.push_str(&format!(
            "Results found for {} to {}:\n",
            format_time(fs),
            format_time(fe)
        )),
    }
    for (valid, invalid, kind) in [
        (report.digests_valid, report.digests_invalid, "digest files"),
        (report.logs_valid, report.logs_invalid, "log files"),
    ] {
        let total = valid + invalid;
        if total == 0 {
            continue;
        }
        out.push_str(&format!("\n{valid}/{total} {kind} valid"));
        if invalid > 0 {
            out.push_str(&format!(", {invalid}/{total} {kind} INVALID"));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_times() {
        assert_eq!(
            key_stamp("x/1_CloudTrail-Digest_us-east-1_t_us-east-1_20150816T230550Z.json.gz"),
            Some("20150816T230550Z")
        );
        assert_eq!(
            key_stamp("x_20150816T230550Z_backfill.json.gz"),
            Some("20150816T230550Z")
        );
        let t = parse_time("20150816T230550Z").unwrap();
        assert_eq!(format_time(t), "2015-08-16T23:05:50Z");
        assert_eq!(parse_time("2015-08-16T23:05:50Z"), Some(t));
        assert_eq!(stamp_of(t), "20150816T230550Z");
        assert!(parse_time("nope").is_none());
    }

    #[test]
    fn the_latest_delivery_is_compared_with_the_newest_digest() {
        let req = Request {
            trail_arn: String::new(),
            bucket: String::new(),
            prefix: None,
            account_id: String::new(),
            region: String::new(),
            home_region: String::new(),
            start: parse_time("20240101T000000Z").unwrap(),
            end: parse_time("20240101T050000Z").unwrap(),
        };
        let report = Report {
            newest_listed: Some("x_20240101T030000Z.json.gz".into()),
            ..Report::default()
        };
        let at = |t: &str| parse_time(t).unwrap();
        let seen = check_latest_delivery(&report, &req, at("20240101T040000Z")).unwrap();
        assert!(seen.missing);
        assert_eq!(seen.newest_found, Some(at("20240101T030000Z")));
        let on_time = check_latest_delivery(&report, &req, at("20240101T030500Z")).unwrap();
        assert!(!on_time.missing);
        assert_eq!(
            check_latest_delivery(&report, &req, at("20240101T060000Z")),
            None
        );
        let none = check_latest_delivery(&Report::default(), &req, at("20240101T010000Z"));
        assert!(none.unwrap().missing);
    }
}
