//! `veritrail validate-logs`: a drop-in for `aws cloudtrail validate-logs`, with its arguments,
//! messages, summary and exit codes (0 valid, 1 something invalid, 255 could not run). It reads
//! S3 the way awscli does ([`crate::aws_store`]: real AWS, or the emulator through
//! `AWS_ENDPOINT_URL`), or a local mirror (`--local-dir`).
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
    /// Print one JSON report instead of text.
    #[arg(long)]
    json: bool,
    /// The region whose digests are validated (default: the trail's home region).
    #[arg(long)]
    region: Option<String>,
    /// Read a local mirror of the bucket instead of S3: `DIR/<bucket>/<key>`, each object's
    /// `x-amz-meta-*` in `DIR/<bucket>/<key>.metadata.json`, and `DIR/public-keys.json` (a
    /// ListPublicKeys response); needs --s3-bucket.
    #[arg(long, value_name = "DIR")]
    local_dir: Option<PathBuf>,
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

/// Validates from S3: the trail's bucket (DescribeTrails unless --s3-bucket), its region
/// (GetBucketLocation), the public keys for the range (ListPublicKeys), then the objects.
fn validate_s3(
    args: &ValidateLogs,
    request: &mut Request,
) -> Result<veritrail_verify::validate_logs::Report, String> {
    let runtime = std::sync::Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?,
    );
    let (client, keys) = runtime.block_on(async {
        let conf = crate::aws_store::sdk_config(&request.region).await;
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
    let store = crate::aws_store::S3Store { client, runtime };
    let lookup = |fp: &str| keys.get(fp).cloned();
    validate(&store, &lookup, request)
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
                return fail("--local-dir needs --s3-bucket (there is no trail to describe)");
            }
            public_keys(dir).and_then(|keys| {
                let store = LocalMirror { root: dir.clone() };
                let lookup = |fp: &str| keys.get(fp).cloned();
                validate(&store, &lookup, &request)
            })
        }
        None => validate_s3(&args, &mut request),
    };
    let report = match found {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let bucket = request.bucket.clone();
    if args.json {
        let object = |b: &str, k: &str| format!("s3://{b}/{k}");
        let events: Vec<Value> = report
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
        let windows = |kind: &str| -> Vec<Value> {
            events
                .iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| json!({"from": e["from"], "to": e["to"]}))
                .collect()
        };
        let (gaps, quiet) = (windows("gap"), windows("no-delivery"));
        println!(
            "{}",
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
                "valid": report.exit_code() == 0,
                "summary": summary(&report, start, end),
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
