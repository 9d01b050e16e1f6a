//! The traversal of `aws cloudtrail validate-logs` (`../shared/specs/cloudtrail.md` §3.2-3.3):
//! digests newest to oldest, following `previousDigestS3Object`, each digest and then its
//! logs checked, gaps reported, and the summary awscli prints. Objects come through
//! [`ObjectStore`], so the same logic runs over S3, the emulator or a local mirror; this module
//! does no I/O itself.
//!
//! Beyond awscli: each valid digest's link to the next newer one is checked
//! (`previousDigestHashValue`, `previousDigestSignature`) and reported as a chain break.

use std::collections::BTreeMap;

use veritrail_core::time::{UtcMillis, days_from_civil};

use crate::cloudtrail::{Digest, FetchedDigest, check_digest, check_link, check_log};

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
}

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
    /// veritrail's extra check: a digest does not link to the one before it.
    ChainBroken {
        key: String,
        reason: String,
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
    /// No digest keys at all in range.
    pub no_digests: bool,
    /// Earliest start and latest end among valid digests.
    pub found: Option<(UtcMillis, UtcMillis)>,
}

impl Report {
    /// awscli's exit code: 1 when anything is invalid or missing, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.digests_invalid + self.logs_invalid + self.chain_breaks > 0 {
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
    let mut report = Report::default();
    if listed.is_empty() {
        report.no_digests = true;
        return Ok(report);
    }
    let mut current: Option<String> = listed.last().cloned();
    let mut last_start =
        parse_time(key_stamp(&listed[listed.len() - 1]).unwrap_or("")).unwrap_or(req.end);
    let mut newer: Option<Digest> = None;
    let mut visited = std::collections::HashSet::new();
    while let Some(key) = current.take() {
        if req.start > last_start || !visited.insert(key.clone()) {
            break;
        }
        // The next older listed key, whether or not `key` itself is listed (it may be missing).
        let older_listed = || {
            listed
                .iter()
                .rev()
                .find(|k| k.as_str() < key.as_str())
                .cloned()
        };
        let fetched = store.get(&req.bucket, &key)?;
        let Some(object) = fetched else {
            report.digests_invalid += 1;
            report.events.push(Event::DigestInvalid {
                bucket: req.bucket.clone(),
                key: key.clone(),
                reason: "not found".into(),
            });
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
                report.events.push(Event::DigestInvalid {
                    bucket: req.bucket.clone(),
                    key: key.clone(),
                    reason: e.to_string(),
                });
                newer = None;
                current = older_listed();
                continue;
            }
        };
        report.digests_valid += 1;
        report.events.push(Event::DigestValid {
            bucket: req.bucket.clone(),
            key: key.clone(),
        });
        // Only a digest that names this one as its predecessor links to it (a new chain after a
        // gap does not).
        if let Some(n) = newer
            .as_ref()
            .filter(|n| n.previous_key.as_deref() == Some(key.as_str()))
        {
            if let Err(e) = check_link(&digest, n) {
                report.chain_breaks += 1;
                report.events.push(Event::ChainBroken {
                    key: n.key.clone(),
                    reason: e.to_string(),
                });
            }
        }
        for log in &digest.log_files {
            let result = match store.get(&log.bucket, &log.key)? {
                None => Err("not found".to_owned()),
                Some(o) => check_log(&o.body, &log.hash).map_err(|e| e.to_string()),
            };
            match result {
                Ok(()) => {
                    report.logs_valid += 1;
                    report.events.push(Event::LogValid {
                        bucket: log.bucket.clone(),
                        key: log.key.clone(),
                    });
                }
                Err(reason) => {
                    report.logs_invalid += 1;
                    report.events.push(Event::LogInvalid {
                        bucket: log.bucket.clone(),
                        key: log.key.clone(),
                        reason,
                    });
                }
            }
        }
        let (start, end) = (parse_time(&digest.start_time), parse_time(&digest.end_time));
        if let (Some(s), Some(e)) = (start, end) {
            report.found = Some(match report.found {
                None => (s, e),
                Some((fs, fe)) => (fs.min(s), fe.max(e)),
            });
            last_start = s;
        }
        current = match (&digest.previous_key, &digest.previous_bucket) {
            (Some(k), Some(b)) if *b == req.bucket => Some(k.clone()),
            (Some(_), Some(_)) => older_listed(),
            _ => {
                let older = older_listed();
                if let (Some(o), Some(s)) = (&older, start) {
                    if let Some(o_end) = key_stamp(o).and_then(parse_time) {
                        report.events.push(Event::Gap {
                            from: format_time(o_end),
                            to: format_time(s),
                        });
                    }
                }
                older
            }
        };
        newer = Some(digest);
    }
    Ok(report)
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
            format_time(fs.max(start)),
            format_time(fe.min(end))
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
}
