//! `veritrail replicate`: a verified copy of a ledger in another place, fed from a QLDB journal
//! stream in Kinesis (`--from-stream ARN`: the BLOCK_SUMMARY and REVISION_DETAILS records put
//! back together into blocks) or from a journal export in S3 (`--from-export s3://bucket/prefix`),
//! and `veritrail ledger import --from s3://…`. Every block hash and chain link is verified by
//! `veritrail-verify` (through the ledger's verified import) before anything is written, so a
//! block changed in transit is refused with the reason and no replica is left behind.
//!
//! AWS is reached through the AWS SDK for Rust with the standard credential chain, region and
//! `AWS_ENDPOINT_URL` (real AWS, or `veritrail serve`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;
use clap::Args;
use veritrail_core::ion_input::{DEFAULT_MAX_DEPTH, IonLimits, read_one};
use veritrail_core::ion_rs::Element;
use veritrail_emulator::services::kinesis::aggregate::deaggregate;
use veritrail_ledger::LedgerOptions;
use veritrail_ledger::verification::{VerifyError, import_blocks, import_ledger};
use veritrail_verify::validate_logs::ObjectStore as _;

use crate::Outcome;
use crate::ledger_cmd::{bad_input, imported, ledger_files};

/// A stream record is at most 1 MiB (Kinesis's limit).
const RECORD_LIMITS: IonLimits = IonLimits::new(1 << 20, DEFAULT_MAX_DEPTH);

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// The Kinesis stream a QLDB journal stream writes to (its ARN).
    #[arg(
        long,
        value_name = "ARN",
        conflicts_with = "from_export",
        required_unless_present = "from_export"
    )]
    from_stream: Option<String>,
    /// A journal export in S3: s3://bucket/prefix (where its manifests are).
    #[arg(long, value_name = "S3_URL")]
    from_export: Option<String>,
    /// The replica ledger to create.
    #[arg(long, value_name = "LEDGER")]
    to: String,
    /// Where ledgers live [env: VERITRAIL_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where signing keys live [env: VERITRAIL_KEY_DIR; default: DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// The region of the stream or bucket [default: the SDK's, else us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReplicateArgs) -> Outcome {
    let files = ledger_files(&args.to, args.data_dir.as_deref(), args.key_dir.as_deref());
    let result = match (&args.from_stream, &args.from_export) {
        (Some(arn), _) => match blocks_from_stream(arn, args.region.as_deref()) {
            Ok(blocks) => import_blocks(&files, blocks, None, LedgerOptions::default()),
            Err(e) => return bad_input(args.json, e),
        },
        (None, Some(url)) => {
            match with_s3_export(url, &files.data_dir, args.region.as_deref(), |dir| {
                import_ledger(&files, dir, None, LedgerOptions::default())
            }) {
                Ok(r) => r,
                Err(e) => return bad_input(args.json, e),
            }
        }
        (None, None) => return bad_input(args.json, "give --from-stream or --from-export"),
    };
    imported(args.json, result)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The SDK's configuration for `region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else us-east-1.
async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let region = region
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned());
    crate::aws_store::sdk_config(&region).await
}

/// `s3://bucket/prefix` as (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url} is not an s3://bucket/prefix URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{url} names no bucket"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// Fetches every object under `s3://bucket/prefix` into a scratch directory beside the ledgers
/// (keys kept as they are, as `aws s3 sync` would), runs `f` on it, and removes it.
pub fn with_s3_export<T>(
    url: &str,
    data_dir: &Path,
    region: Option<&str>,
    f: impl FnOnce(&Path) -> Result<T, VerifyError>,
) -> Result<Result<T, VerifyError>, String> {
    let (bucket, prefix) = parse_s3_url(url)?;
    let runtime = std::sync::Arc::new(runtime()?);
    let conf = runtime.block_on(sdk_config(region));
    let client = runtime.block_on(crate::aws_store::bucket_client(&conf, &bucket))?;
    let store = crate::aws_store::S3Store {
        client,
        runtime: std::sync::Arc::clone(&runtime),
    };
    let scratch = data_dir.join(format!(".fetch-{}", std::process::id()));
    let fetched = (|| {
        let keys = store.list(&bucket, &prefix)?;
        if keys.is_empty() {
            return Err(format!("nothing is stored under {url}"));
        }
        for key in keys {
            if key.starts_with('/') || key.split('/').any(|part| part == "..") {
                return Err(format!(
                    "s3://{bucket}/{key}: a key that would be written outside the export"
                ));
            }
            let body = store
                .get(&bucket, &key)?
                .ok_or_else(|| format!("s3://{bucket}/{key} was listed but is gone"))?
                .body;
            let path = scratch.join(&key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    })();
    let result = fetched.map(|()| f(&scratch));
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Reads every record of the Kinesis stream `arn` (every shard from its trim horizon to its
/// tip), de-aggregates them and puts the journal's blocks back together.
pub fn blocks_from_stream(arn: &str, region: Option<&str>) -> Result<Vec<Element>, String> {
    let region = region.map(str::to_owned).or_else(|| {
        arn.strip_prefix("arn:aws:kinesis:")
            .and_then(|r| r.split(':').next())
            .map(str::to_owned)
    });
    let runtime = runtime()?;
    let payloads = runtime.block_on(async {
        let conf = sdk_config(region.as_deref()).await;
        read_stream(&aws_sdk_kinesis::Client::new(&conf), arn).await
    })?;
    let mut records = Vec::with_capacity(payloads.len());
    for (n, bytes) in payloads.iter().enumerate() {
        let e = read_one(bytes, RECORD_LIMITS)
            .map_err(|e| format!("stream record {n} is not Ion: {e}"))?;
        records.push(e);
    }
    assemble(&records)
}

async fn read_stream(client: &aws_sdk_kinesis::Client, arn: &str) -> Result<Vec<Vec<u8>>, String> {
    let sdk = |op: &str, e: &dyn std::fmt::Display| format!("{op} on {arn} failed: {e}");
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = client.list_shards();
        call = match &token {
            Some(t) => call.next_token(t),
            None => call.stream_arn(arn),
        };
        let page = call
            .send()
            .await
            .map_err(|e| sdk("ListShards", &DisplayErrorContext(e)))?;
        shards.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for shard in shards {
        let mut iterator = client
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| sdk("GetShardIterator", &DisplayErrorContext(e)))?
            .shard_iterator()
            .map(str::to_owned);
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .stream_arn(arn)
                .shard_iterator(it)
                .send()
                .await
                .map_err(|e| sdk("GetRecords", &DisplayErrorContext(e)))?;
            for r in page.records() {
                let parts = deaggregate(r.partition_key(), r.data().as_ref()).map_err(|e| {
                    format!(
                        "record {} of {shard} is not a valid aggregated record: {}",
                        r.sequence_number(),
                        e.0
                    )
                })?;
                out.extend(parts.into_iter().map(|(_, data)| data));
            }
            if page.records().is_empty() && page.millis_behind_latest().unwrap_or(0) == 0 {
                break;
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
    }
    Ok(out)
}

fn get<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.as_struct()?.get(name)
}

fn seq_of(e: &Element) -> Option<i64> {
    get(get(e, "blockAddress")?, "sequenceNo")?.as_i64()
}

/// Puts blocks back together from QLDB stream records: each BLOCK_SUMMARY with its
/// `revisionSummaries` replaced by the revisions the REVISION_DETAILS records carry (matched by
/// block and hash). Records delivered twice are the same record; a revision that is missing is
/// named.
pub fn assemble(records: &[Element]) -> Result<Vec<Element>, String> {
    let mut summaries: BTreeMap<i64, Element> = BTreeMap::new();
    let mut revisions: BTreeMap<(i64, Vec<u8>), Element> = BTreeMap::new();
    let mut streams = std::collections::BTreeSet::new();
    for r in records {
        let kind = get(r, "recordType")
            .and_then(Element::as_text)
            .unwrap_or("");
        if let Some(arn) = get(r, "qldbStreamArn").and_then(Element::as_text) {
            streams.insert(
                arn.rsplit_once('/')
                    .map_or(arn, |(ledger, _)| ledger)
                    .to_owned(),
            );
        }
        let Some(payload) = get(r, "payload") else {
            continue;
        };
        match kind {
            "BLOCK_SUMMARY" => {
                let seq =
                    seq_of(payload).ok_or("a BLOCK_SUMMARY has no blockAddress.sequenceNo")?;
                summaries.insert(seq, payload.clone());
            }
            "REVISION_DETAILS" => {
                let revision =
                    get(payload, "revision").ok_or("a REVISION_DETAILS has no revision")?;
                let seq = seq_of(revision).ok_or("a revision has no blockAddress.sequenceNo")?;
                let hash = get(revision, "hash")
                    .and_then(Element::as_blob)
                    .ok_or("a revision has no hash")?;
                revisions.insert((seq, hash.to_vec()), revision.clone());
            }
            _ => {}
        }
    }
    if streams.len() > 1 {
        return Err(format!(
            "the stream carries the journals of more than one ledger ({}); replicate one ledger per stream",
            streams.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut blocks = Vec::with_capacity(summaries.len());
    for (seq, summary) in summaries {
        let st = summary
            .as_struct()
            .ok_or("a BLOCK_SUMMARY payload is not a struct")?;
        let mut list = Vec::new();
        for s in get(&summary, "revisionSummaries")
            .and_then(Element::as_sequence)
            .into_iter()
            .flat_map(|l| l.iter())
        {
            let hash = get(s, "hash")
                .and_then(Element::as_blob)
                .ok_or_else(|| format!("block {seq}: a revision summary has no hash"))?;
            match get(s, "documentId").and_then(Element::as_text) {
                Some(doc) => list.push(revisions.get(&(seq, hash.to_vec())).cloned().ok_or_else(
                    || format!("block {seq}: the revision of document {doc} is not in the stream"),
                )?),
                None => list.push(Element::from(
                    Element::struct_builder()
                        .with_field("hash", Element::blob(hash))
                        .build(),
                )),
            }
        }
        blocks.push(Element::from(
            st.clone_builder()
                .remove_field("revisionSummaries")
                .with_field(
                    "revisions",
                    Element::from(Element::sequence_builder().push_all(list).build_list()),
                )
                .build(),
        ));
    }
    Ok(blocks)
}
