//! `veritrail validate-logs`: a drop-in for `aws cloudtrail validate-logs`, with its arguments,
//! messages, summary and exit codes (0 valid, 1 something invalid, 255 could not run). It reads
//! S3 the way awscli does ([`crate::aws_store`]: real AWS, or the emulator through
//! `AWS_ENDPOINT_URL`), or a local mirror (`--local-dir`).
//!
//! Local mirror layout: `<dir>/<bucket>/<key>` for each object, `<dir>/<bucket>/<key>.metadata.json`
//! for its `x-amz-meta-*` metadata (`{"signature": "…", "signature-algorithm": "SHA256withRSA"}`),
//! and `<dir>/public-keys.json`, the `ListPublicKeys` response; optionally `<dir>/trail-status.json`,
//! the `GetTrailStatus` response, for `--json`'s check of the newest digest. Symbolic links are
//! followed only inside the bucket's directory and never in a loop; every file is read within a
//! limit ([`crate::input`]).
//!
//! With `--json`, the newest digest found is compared with the trail's `LatestDigestDeliveryTime`
//! (GetTrailStatus): digests deleted from the end of the chain leave no gap and no broken link,
//! so awscli misses them; the report names them and is not valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;
use veritrail_verify::cloudtrail::public_key_fingerprint;
use veritrail_verify::validate_logs::{
    Event, Object, ObjectStore, Request, check_latest_delivery, format_time, parse_time, summary,
    validate,
};

use crate::input;

#[derive(Debug, Args)]
pub struct ValidateLogs {
    /// The trail's ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>).
    #[arg(long)]
    trail_arn: String,
    /// Validate logs delivered from this time (UTC), e.g. 2024-01-01T00:00:00Z.
    #[arg(long)]
    start_time: String,
    /// ... up to this time (default: now).
    #[arg(long)]
    end_time: Option<String>,
    /// The bucket the trail delivers to (default: the trail's, from DescribeTrails).
    #[arg(long)]
    s3_bucket: Option<String>,
    /// The trail's key prefix.
    #[arg(long)]
    s3_prefix: Option<String>,
    /// The account whose logs are validated (default: the trail's).
    #[arg(long)]
    account_id: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    verbose: bool,
    /// Print one JSON report instead of text. It also compares the newest digest with the
    /// trail's latest digest delivery (GetTrailStatus; trail-status.json in a local mirror), so
    /// digests deleted from the end of the chain are reported.
    #[arg(long)]
    json: bool,
    /// The region whose digests are validated (default: the trail's home region).
    #[arg(long)]
    region: Option<String>,
    /// Read a local mirror of the bucket instead of S3: `DIR/<bucket>/<key>`, each object's
    /// `x-amz-meta-*` in `DIR/<bucket>/<key>.metadata.json`, `DIR/public-keys.json` (a
    /// ListPublicKeys response) and, for --json, `DIR/trail-status.json` (a GetTrailStatus
    /// response); needs --s3-bucket.
    #[arg(long, value_name = "DIR")]
    local_dir: Option<PathBuf>,
}

/// A local copy of buckets: `<root>/<bucket>/<key>`. Reading it never follows a symbolic link
/// out of the bucket's directory, never visits a directory twice (so a link loop ends), and
/// never reads a file past its [`input::Limit`].
struct LocalMirror {
    /// Canonical (symbolic links resolved).
    root: PathBuf,
}

/// A path component that names something below its directory (not `.` or `..`).
fn below(c: &str) -> bool {
    c != "." && c != ".."
}

impl LocalMirror {
    fn new(dir: &Path) -> Result<Self, String> {
        let root = dir
            .canonicalize()
            .map_err(|e| format!("--local-dir {}: {e}", dir.display()))?;
        Ok(Self { root })
    }

    /// The bucket's directory, canonical and inside the mirror; `None` when it is missing or
    /// its name cannot be a directory of the mirror.
    fn bucket_dir(&self, bucket: &str) -> Option<PathBuf> {
        if bucket.is_empty() || !below(bucket) || bucket.contains(['/', '\\']) {
            return None;
        }
        let dir = self.root.join(bucket).canonicalize().ok()?;
        (dir.starts_with(&self.root) && dir.is_dir()).then_some(dir)
    }

    /// Where `key` lives in `bucket`, resolved; `None` when it does not exist, is not a file,
    /// or resolves outside the bucket's directory (a key with `..` or a link out is, for a
    /// mirror, an object that is not there).
    fn object_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let base = self.bucket_dir(bucket)?;
        // A leading `/` would make the join absolute; `..` climbs (and the canonical path is
        // checked again below, for links).
        if key.starts_with('/') || !key.split('/').all(below) {
            return None;
        }
        let path = base.join(key).canonicalize().ok()?;
        (path.starts_with(&base) && path.is_file()).then_some(path)
    }
}

impl ObjectStore for LocalMirror {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        let Some(base) = self.bucket_dir(bucket) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut visited = std::collections::HashSet::from([base.clone()]);
        // (canonical directory, the key prefix it stands for)
        let mut stack = vec![(base.clone(), String::new())];
        while let Some((dir, key_prefix)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                    continue; // S3 keys are UTF-8
                };
                let key = format!("{key_prefix}{name}");
                let Ok(kind) = e.file_type() else {
                    continue;
                };
                // A link counts as what it points to, if that is inside the bucket.
                let target = if kind.is_symlink() {
                    match e.path().canonicalize() {
                        Ok(t) if t.starts_with(&base) => t,
                        _ => continue,
                    }
                } else {
                    e.path()
                };
                if target.is_dir() {
                    if visited.insert(target.clone()) {
                        stack.push((target, format!("{key}/")));
                    }
                } else if target.is_file()
                    && key.starts_with(prefix)
                    && !key.ends_with(".metadata.json")
                {
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, String> {
        let Some(path) = self.object_path(bucket, key) else {
            return Ok(None);
        };
        let body = match input::read_bytes(&path, input::TRAIL_OBJECT) {
            Ok(b) => b,
            Err(input::ReadError::NotFound) => return Ok(None),
            Err(e) => return Err(format!("s3://{bucket}/{key} ({}): {e}", path.display())),
        };
        let metadata: BTreeMap<String, String> = self
            .object_path(bucket, &format!("{key}.metadata.json"))
            .and_then(|p| input::read_text(&p, input::SMALL_JSON).ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Object { body, metadata }))
    }
}

fn public_keys(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let path = dir.join("public-keys.json");
    let text = input::read_text(&path, input::PUBLIC_KEYS)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut keys = BTreeMap::new();
    for k in v["PublicKeyList"].as_array().into_iter().flatten() {
        let Some(b64) = k["Value"].as_str() else {
            continue;
        };
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| format!("{}: a key Value is not base64", path.display()))?;
        let fp = k["Fingerprint"]
            .as_str()
            .map_or_else(|| public_key_fingerprint(&der), str::to_owned);
        keys.insert(fp, der);
    }
    if keys.is_empty() {
        return Err("No public keys found between the start and end times".into());
    }
    Ok(keys)
}

/// The trail's `LatestDigestDeliveryTime` from a mirror's optional `trail-status.json` (a
/// GetTrailStatus response, times in epoch seconds as the API gives them).
fn local_latest_digest_delivery(dir: &Path) -> Result<Option<UtcMillis>, String> {
    let path = dir.join("trail-status.json");
    let text = match input::read_text(&path, input::SMALL_JSON) {
        Ok(t) => t,
        Err(input::ReadError::NotFound) => {
            return Err("the mirror has no trail-status.json (a GetTrailStatus response)".into());
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match &v["LatestDigestDeliveryTime"] {
        Value::Null => Ok(None),
        t => t
            .as_f64()
            .filter(|s| s.is_finite() && s.abs() < 1e15)
            .map(|s| Some(UtcMillis((s * 1000.0).round() as i64)))
            .ok_or_else(|| {
                format!(
                    "{}: LatestDigestDeliveryTime is not a time in epoch seconds",
                    path.display()
                )
            }),
    }
}

/// Validates from S3: the trail's bucket (DescribeTrails unless --s3-bucket), its region
/// (GetBucketLocation), the public keys for the range (ListPublicKeys), then the objects.
/// The trail's latest digest delivery, when asked for (`--json`): a time, none yet, or why it
/// could not be read.
type LatestDigestDelivery = Option<Result<Option<UtcMillis>, String>>;

/// A report, the trail's latest digest delivery and the public keys used.
type Fetched = (
    veritrail_verify::validate_logs::Report,
    LatestDigestDelivery,
    BTreeMap<String, Vec<u8>>,
);

fn validate_s3(args: &ValidateLogs, request: &mut Request) -> Result<Fetched, String> {
    let runtime = std::sync::Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?,
    );
    let conf = runtime.block_on(crate::aws_store::sdk_config(&request.region));
    let (client, keys) = runtime.block_on(async {
        if args.s3_bucket.is_none() {
            let (bucket, prefix) =
                crate::aws_store::describe_trail(&conf, &request.trail_arn).await?;
            request.bucket = bucket;
            request.prefix = prefix;
        }
        let keys = crate::aws_store::public_keys(
            &conf,
            request.start.0.div_euclid(1000),
            (request.end.0 + 2 * 3_600_000).div_euclid(1000),
        )
        .await?;
        if keys.is_empty() {
            return Err(format!(
                "No public keys found between {} and {}",
                format_time(request.start),
                format_time(request.end)
            ));
        }
        let client = crate::aws_store::bucket_client(&conf, &request.bucket).await?;
        Ok::<_, String>((client, keys))
    })?;
    let store = crate::aws_store::S3Store {
        client,
        runtime: std::sync::Arc::clone(&runtime),
    };
    let lookup = |fp: &str| keys.get(fp).cloned();
    let report = validate(&store, &lookup, request)?;
    let delivery = args.json.then(|| {
        runtime.block_on(crate::aws_store::latest_digest_delivery(
            &conf,
            &request.trail_arn,
        ))
    });
    Ok((report, delivery, keys))
}

/// The `latestDigestDelivery` part of the JSON report, and the event to add when digests are
/// missing from the end of the chain.
fn delivery_json(
    delivery: Result<Option<UtcMillis>, String>,
    report: &veritrail_verify::validate_logs::Report,
    request: &Request,
) -> (Value, Option<Value>) {
    let not_checked = |reason: String| (json!({"checked": false, "reason": reason}), None);
    let delivered = match delivery {
        Err(e) => return not_checked(e),
        Ok(None) => return not_checked("the trail has delivered no digest".into()),
        Ok(Some(t)) => t,
    };
    let Some(found) = check_latest_delivery(report, request, delivered) else {
        return not_checked(format!(
            "the trail's latest digest delivery, {}, is outside the requested range",
            format_time(delivered)
        ));
    };
    let newest = found.newest_found.map(format_time);
    let part = json!({
        "checked": true,
        "trailStatus": format_time(delivered),
        "newestDigest": newest,
        "missing": found.missing,
    });
    let event = found.missing.then(|| {
        json!({
            "kind": "missing-digests",
            "from": newest.clone().unwrap_or_else(|| format_time(request.start)),
            "to": format_time(delivered),
            "valid": false,
            "reason": format!(
                "the trail delivered a digest at {} (GetTrailStatus) but the newest digest found ends {}: digests were removed from the end of the chain",
                format_time(delivered),
                newest.as_deref().map_or_else(|| "nowhere in range".to_owned(), |n| format!("at {n}"))
            ),
        })
    });
    (part, event)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(255)
}

/// A validation that ran: what was asked, what was found, and the public keys it used.
struct Validated {
    report: veritrail_verify::validate_logs::Report,
    delivery: LatestDigestDelivery,
    request: Request,
    keys: BTreeMap<String, Vec<u8>>,
}

/// The logs of a trail for `veritrail evidence bundle`: its ARN and bucket (or a local mirror).
#[derive(Debug, Clone)]
pub struct TrailLogs {
    pub trail_arn: String,
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
    pub local_dir: Option<PathBuf>,
}

/// The `--json` report for a period, exactly as `veritrail validate-logs --json` prints it, and
/// the public keys used (`{Fingerprint, Value}`, ListPublicKeys' shape).
pub fn json_report_for(
    trail: &TrailLogs,
    start: UtcMillis,
    end: UtcMillis,
) -> Result<(Value, Vec<Value>), String> {
    let args = ValidateLogs {
        trail_arn: trail.trail_arn.clone(),
        start_time: format_time(start),
        end_time: Some(format_time(end)),
        s3_bucket: trail.s3_bucket.clone(),
        s3_prefix: trail.s3_prefix.clone(),
        account_id: None,
        verbose: false,
        json: true,
        region: None,
        local_dir: trail.local_dir.clone(),
    };
    let v = validate_args(&args)?;
    let keys = v
        .keys
        .iter()
        .map(|(fp, der)| {
            json!({"Fingerprint": fp, "Value": base64::engine::general_purpose::STANDARD.encode(der)})
        })
        .collect();
    Ok((json_report(&args, v), keys))
}

/// Validates the trail's logs from S3 between `start` and `end` (the trail's bucket, prefix,
/// account and home region) and returns the `--json` report: what `veritrail check` judges.
pub fn s3_json_report(trail_arn: &str, start: UtcMillis, end: UtcMillis) -> Result<Value, String> {
    let trail = TrailLogs {
        trail_arn: trail_arn.to_owned(),
        s3_bucket: None,
        s3_prefix: None,
        local_dir: None,
    };
    json_report_for(&trail, start, end).map(|(report, _keys)| report)
}

fn validate_args(args: &ValidateLogs) -> Result<Validated, String> {
    // arn:<partition>:cloudtrail:<region>:<12 digits>:trail/<name>
    let parts: Vec<&str> = args.trail_arn.splitn(6, ':').collect();
    let valid_arn = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "cloudtrail"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with("trail/")
        && parts[5].len() > 6;
    if !valid_arn {
        return Err(format!("Invalid trail ARN provided: {}", args.trail_arn));
    }
    let (region, account) = (
        parts[3].to_owned(),
        args.account_id
            .clone()
            .unwrap_or_else(|| parts[4].to_owned()),
    );
    let Some(start) = parse_time(&args.start_time) else {
        return Err(format!("Unable to parse --start-time {}", args.start_time));
    };
    let end = match &args.end_time {
        None => veritrail_core::time::Clock::now(&veritrail_core::time::SystemClock),
        Some(t) => match parse_time(t) {
            Some(e) => e,
            None => return Err(format!("Unable to parse --end-time {t}")),
        },
    };
    let home_region = region.clone();
    let region = args.region.clone().unwrap_or(region);
    let mut request = Request {
        trail_arn: args.trail_arn.clone(),
        bucket: args.s3_bucket.clone().unwrap_or_default(),
        prefix: args.s3_prefix.clone(),
        account_id: account,
        region: region.clone(),
        home_region,
        start,
        end,
    };
    let found = match &args.local_dir {
        Some(dir) => {
            if args.s3_bucket.is_none() {
                return Err("--local-dir needs --s3-bucket (there is no trail to describe)".into());
            }
            public_keys(dir).and_then(|keys| {
                let store = LocalMirror::new(dir)?;
                let lookup = |fp: &str| keys.get(fp).cloned();
                let report = validate(&store, &lookup, &request)?;
                Ok((
                    report,
                    args.json.then(|| local_latest_digest_delivery(dir)),
                    keys,
                ))
            })
        }
        None => validate_s3(args, &mut request),
    };
    let (report, delivery, keys) = found?;
    Ok(Validated {
        report,
        delivery,
        request,
        keys,
    })
}

/// The `--json` report.
fn json_report(args: &ValidateLogs, v: Validated) -> Value {
    let Validated {
        report,
        delivery,
        request,
        ..
    } = v;
    let (start, end) = (request.start, request.end);
    let bucket = request.bucket.clone();
    let object = |b: &str, k: &str| format!("s3://{b}/{k}");
    let mut events: Vec<Value> = report
        .events
        .iter()
        .map(|e| match e {
            Event::DigestValid { bucket, key } => json!({"kind": "digest", "object": object(bucket, key), "valid": true}),
            Event::DigestInvalid { bucket, key, reason } => json!({"kind": "digest", "object": object(bucket, key), "valid": false, "reason": reason}),
            Event::LogValid { bucket, key } => json!({"kind": "log", "object": object(bucket, key), "valid": true}),
            Event::LogInvalid { bucket, key, reason } => json!({"kind": "log", "object": object(bucket, key), "valid": false, "reason": reason}),
            Event::Gap { from, to } => json!({"kind": "gap", "from": from, "to": to}),
            Event::ChainBroken { key, reason } => json!({"kind": "chain", "object": object(&bucket, key), "valid": false, "reason": reason}),
            Event::LogListedTwice { bucket, key, digest } => json!({"kind": "duplicate-log", "object": object(bucket, key), "valid": false, "reason": format!("also listed by {}", object(bucket, digest))}),
            Event::NoLogs { from, to } => json!({"kind": "no-delivery", "from": from, "to": to}),
        })
        .collect();
    let (delivery, missing) = match delivery {
        Some(d) => delivery_json(d, &report, &request),
        None => (Value::Null, None),
    };
    let valid = report.exit_code() == 0 && missing.is_none();
    events.extend(missing);
    let windows = |kind: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| json!({"from": e["from"], "to": e["to"]}))
            .collect()
    };
    let (gaps, quiet) = (windows("gap"), windows("no-delivery"));
    json!({
            "trailArn": args.trail_arn,
            "bucket": bucket,
            "prefix": request.prefix,
            "region": request.region,
            "start": format_time(start),
            "end": format_time(end),
            "found": report.found.map(|(s, e)| json!({"start": format_time(s), "end": format_time(e)})),
            "digests": {"valid": report.digests_valid, "invalid": report.digests_invalid},
            "logs": {"valid": report.logs_valid, "invalid": report.logs_invalid},
            "chainBreaks": report.chain_breaks,
            "logsListedTwice": report.logs_listed_twice,
            "gaps": gaps,
            "noDelivery": quiet,
            "latestDigestDelivery": delivery,
            "valid": valid,
            "summary": summary(&report, start, end),
            "events": events,
    })
}

pub fn run(args: ValidateLogs) -> ExitCode {
    let v = match validate_args(&args) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    if args.json {
        let report = json_report(&args, v);
        println!("{report}");
        return ExitCode::from(u8::from(report["valid"] != Value::Bool(true)));
    }
    let Validated {
        report, request, ..
    } = v;
    let (start, end, bucket) = (request.start, request.end, request.bucket.clone());
    print!(
        "Validating log files for trail {} between {} and {}\n\n",
        args.trail_arn,
        format_time(start),
        format_time(end)
    );
    for e in &report.events {
        match e {
            Event::DigestValid { bucket, key } if args.verbose => {
                println!("Digest file\ts3://{bucket}/{key}\tvalid")
            }
            Event::LogValid { bucket, key } if args.verbose => {
                println!("Log file\ts3://{bucket}/{key}\tvalid")
            }
            Event::DigestInvalid {
                bucket,
                key,
                reason,
            } => eprint!("Digest file\ts3://{bucket}/{key}\tINVALID: {reason}\n\n"),
            Event::LogInvalid {
                bucket,
                key,
                reason,
            } => eprint!("Log file\ts3://{bucket}/{key}\tINVALID: {reason}\n\n"),
            Event::Gap { from, to } => {
                eprint!("No log files were delivered by CloudTrail between {from} and {to}\n\n")
            }
            Event::ChainBroken { key, reason } => {
                eprint!("Digest file\ts3://{bucket}/{key}\tINVALID: chain: {reason}\n\n")
            }
            Event::LogListedTwice {
                bucket,
                key,
                digest,
            } => eprint!(
                "Log file\ts3://{bucket}/{key}\tINVALID: also listed by s3://{bucket}/{digest}\n\n"
            ),
            _ => {}
        }
    }
    if args.verbose {
        println!();
    }
    print!("{}", summary(&report, start, end));
    ExitCode::from(report.exit_code() as u8)
}
