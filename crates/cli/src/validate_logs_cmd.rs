//! `veritrail validate-logs`: a drop-in for `aws cloudtrail validate-logs`, with its arguments,
//! messages, summary and exit codes (0 valid, 1 something invalid, 255 could not run). For now
//! it reads a local mirror (`--local-dir`); reading S3 comes with the S3 emulator.
//!
//! Local mirror layout: `<dir>/<bucket>/<key>` for each object, `<dir>/<bucket>/<key>.metadata.json`
//! for its `x-amz-meta-*` metadata (`{"signature": "…", "signature-algorithm": "SHA256withRSA"}`),
//! and `<dir>/public-keys.json`, the `ListPublicKeys` response.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use veritrail_verify::cloudtrail::public_key_fingerprint;
use veritrail_verify::validate_logs::{
    Event, Object, ObjectStore, Request, format_time, parse_time, summary, validate,
};

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
    /// The bucket the trail delivers to.
    #[arg(long)]
    s3_bucket: String,
    /// The trail's key prefix.
    #[arg(long)]
    s3_prefix: Option<String>,
    /// The account whose logs are validated (default: the trail's).
    #[arg(long)]
    account_id: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    verbose: bool,
    /// Print one JSON report instead of text.
    #[arg(long)]
    json: bool,
    /// A local mirror of the bucket (see `veritrail validate-logs --help` for its layout).
    #[arg(long, value_name = "DIR")]
    local_dir: PathBuf,
}

struct LocalMirror {
    root: PathBuf,
}

impl ObjectStore for LocalMirror {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
        let base = self.root.join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&base) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) && !key.ends_with(".metadata.json") {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, String> {
        let path = self.root.join(bucket).join(key);
        let body = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let meta_path = PathBuf::from(format!("{}.metadata.json", path.display()));
        let metadata: BTreeMap<String, String> = match std::fs::read_to_string(&meta_path) {
            Ok(t) => serde_json::from_str::<Value>(&t)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .map(|m| {
                    m.into_iter()
                        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        Ok(Some(Object { body, metadata }))
    }
}

fn public_keys(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let path = dir.join("public-keys.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
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

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(255)
}

pub fn run(args: ValidateLogs) -> ExitCode {
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
        return fail(&format!("Invalid trail ARN provided: {}", args.trail_arn));
    }
    let (region, account) = (
        parts[3].to_owned(),
        args.account_id
            .clone()
            .unwrap_or_else(|| parts[4].to_owned()),
    );
    let Some(start) = parse_time(&args.start_time) else {
        return fail(&format!("Unable to parse --start-time {}", args.start_time));
    };
    let end = match &args.end_time {
        None => veritrail_core::time::Clock::now(&veritrail_core::time::SystemClock),
        Some(t) => match parse_time(t) {
            Some(e) => e,
            None => return fail(&format!("Unable to parse --end-time {t}")),
        },
    };
    let keys = match public_keys(&args.local_dir) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let request = Request {
        trail_arn: args.trail_arn.clone(),
        bucket: args.s3_bucket.clone(),
        prefix: args.s3_prefix.clone(),
        account_id: account,
        region: region.clone(),
        home_region: region,
        start,
        end,
    };
    let store = LocalMirror {
        root: args.local_dir.clone(),
    };
    let lookup = |fp: &str| keys.get(fp).cloned();
    let report = match validate(&store, &lookup, &request) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if args.json {
        let events: Vec<Value> = report
            .events
            .iter()
            .map(|e| match e {
                Event::DigestValid { bucket, key } => json!({"kind": "digest", "object": format!("s3://{bucket}/{key}"), "valid": true}),
                Event::DigestInvalid { bucket, key, reason } => json!({"kind": "digest", "object": format!("s3://{bucket}/{key}"), "valid": false, "reason": reason}),
                Event::LogValid { bucket, key } => json!({"kind": "log", "object": format!("s3://{bucket}/{key}"), "valid": true}),
                Event::LogInvalid { bucket, key, reason } => json!({"kind": "log", "object": format!("s3://{bucket}/{key}"), "valid": false, "reason": reason}),
                Event::Gap { from, to } => json!({"kind": "gap", "from": from, "to": to}),
                Event::ChainBroken { key, reason } => json!({"kind": "chain", "object": key, "valid": false, "reason": reason}),
            })
            .collect();
        println!(
            "{}",
            json!({
                "trailArn": args.trail_arn,
                "start": format_time(start),
                "end": format_time(end),
                "digests": {"valid": report.digests_valid, "invalid": report.digests_invalid},
                "logs": {"valid": report.logs_valid, "invalid": report.logs_invalid},
                "chainBreaks": report.chain_breaks,
                "valid": report.exit_code() == 0,
                "events": events,
            })
        );
        return ExitCode::from(report.exit_code() as u8);
    }
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
            Event::ChainBroken { key, reason } => eprint!(
                "Digest file\ts3://{}/{key}\tINVALID: chain: {reason}\n\n",
                args.s3_bucket
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
