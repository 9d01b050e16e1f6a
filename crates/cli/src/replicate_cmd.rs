//! `veritrail replicate`: a verified copy of a ledger in another place, fed from a QLDB journal
//! stream in Kinesis (`--from-stream ARN`: the BLOCK_SUMMARY and REVISION_DETAILS records put
//! back together into blocks) or from a journal export in S3 (`--from-export s3://bucket/prefix`),
//! and `veritrail ledger import --from s3://…`. Every block hash and chain link is verified by
//! `veritrail-verify` (through the ledger's verified import) before anything is written, so a
//! block changed in transit is refused with the reason and the replica is left as it was.
//!
//! The first run creates the replica; later runs bring it up to date from its tip on
//! (`verification::update_replica`: the blocks it holds must hash as the source's do, the newer
//! ones must continue its chain). `--follow` keeps reading the stream, every `--poll-ms`, until
//! SIGINT or SIGTERM (which end the run after the batch in hand) or until the replica reaches
//! `--until-tip-seq`.
//!
//! AWS is reached through the AWS SDK for Rust with the standard credential chain, region and
//! `AWS_ENDPOINT_URL` (real AWS, or `veritrail serve`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::types::ShardIteratorType;
use clap::Args;
use serde_json::json;
use veritrail_core::ion_input::{DEFAULT_MAX_DEPTH, IonLimits, read_one};
use veritrail_core::ion_rs::Element;
use veritrail_emulator::services::kinesis::aggregate::deaggregate;
use veritrail_ledger::export::read_export;
use veritrail_ledger::files::LedgerFiles;
use veritrail_ledger::verification::{
    ReplicaUpdate, VerifyError, import_blocks, import_ledger, update_replica,
};
use veritrail_verify::validate_logs::ObjectStore as _;

use crate::Outcome;
use crate::ledger_cmd::{imported, ledger_files, verify_failed};
use crate::verify_cmd::report;

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
    /// The replica ledger: created by the first run, brought up to date by later ones.
    #[arg(long, value_name = "LEDGER")]
    to: String,
    /// Keep reading the stream and append blocks as they arrive, until SIGINT or SIGTERM (or
    /// --until-tip-seq).
    #[arg(long, requires = "from_stream", conflicts_with = "from_export")]
    follow: bool,
    /// Milliseconds between two reads of the stream with --follow.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
    /// With --follow: stop once the replica's last block is this sequence number or later.
    #[arg(long, value_name = "SEQ", requires = "follow")]
    until_tip_seq: Option<u64>,
    /// Where ledgers live [env: VERITRAIL_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where signing keys live [env: VERITRAIL_KEY_DIR; default: DATA_DIR/keys].
    #[arg(long, value_name = "DIR")]
    key_dir: Option<PathBuf>,
    /// The region of the stream or bucket [default: the SDK's, else us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Print the result as JSON (progress lines go to stderr).
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReplicateArgs) -> Outcome {
    let files = ledger_files(&args.to, args.data_dir.as_deref(), args.key_dir.as_deref());
    match (&args.from_stream, &args.from_export) {
        (Some(arn), _) => from_stream(&args, arn, &files),
        (None, Some(url)) => from_export(&args, url, &files),
        (None, None) => {
            crate::ledger_cmd::bad_input(args.json, "give --from-stream or --from-export")
        }
    }
}

/// The source could not be read (an unknown stream or bucket, an object KMS will not decrypt):
/// exit 1, as a run that could not check anything.
fn unreadable(json_out: bool, message: &str) -> Outcome {
    report(
        json_out,
        Outcome::Failed,
        &format!("error: {message}"),
        json!({"check": "source"}),
    )
}

fn from_export(args: &ReplicateArgs, url: &str, files: &LedgerFiles) -> Outcome {
    let region = args.region.as_deref();
    if !files.journal_exists().unwrap_or(false) {
        return match with_s3_export(url, &files.data_dir, region, |dir| {
            import_ledger(files, dir, None, files.options())
        }) {
            Ok(r) => imported(args.json, r),
            Err(e) => unreadable(args.json, &e),
        };
    }
    let result = with_s3_export(url, &files.data_dir, region, |dir| {
        let blocks = read_export(dir).map_err(|e| VerifyError::Input(e.to_string()))?;
        update_replica(files, blocks, files.options())
    });
    match result {
        Ok(Ok(r)) => {
            let mut progress = Progress::new(args.json);
            progress.appended(&r);
            progress.summary(files)
        }
        Ok(Err(e)) => verify_failed(args.json, &e),
        Err(e) => unreadable(args.json, &e),
    }
}

/// What a run did, for its progress lines and its summary.
struct Progress {
    json: bool,
    created: Option<u64>,
    appended: u64,
    last: Option<ReplicaUpdate>,
}

impl Progress {
    fn new(json: bool) -> Self {
        Self {
            json,
            created: None,
            appended: 0,
            last: None,
        }
    }

    fn line(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    fn appended(&mut self, r: &ReplicaUpdate) {
        for seq in &r.appended {
            self.appended += 1;
            self.line(&format!(
                "replicated block {} ({}, {seq})",
                self.appended, r.strand_id
            ));
        }
        self.last = Some(r.clone());
    }

    /// The summary (exit 0): what the replica holds now, and its digest.
    fn summary(&self, files: &LedgerFiles) -> Outcome {
        let Some(r) = &self.last else {
            // Stopped while following a stream that has carried no block yet.
            return report(
                self.json,
                Outcome::Verified,
                &format!(
                    "no journal block arrived; replica {} was not created",
                    files.name
                ),
                json!({"ledger": files.name, "created": false, "appended": 0}),
            );
        };
        let created = self
            .created
            .map_or_else(String::new, |n| format!("created with {n} blocks, then "));
        report(
            self.json,
            Outcome::Verified,
            &format!(
                "replica {} {created}appended {} blocks; it ends at block {} of strand {} with digest {}; every block hash and chain link verified",
                r.name,
                self.appended,
                r.tip(),
                r.strand_id,
                r.digest.to_base64()
            ),
            json!({
                "ledger": r.name,
                "created": self.created.is_some(),
                "appended": self.appended,
                "tip": r.tip(),
                "strandId": r.strand_id,
                "digest": r.digest.to_base64(),
            }),
        )
    }
}

/// Set by SIGINT or SIGTERM (the handlers are installed at once, so a signal that comes before
/// the first poll is not lost).
fn stop_on_signal(runtime: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    flag.store(true, Ordering::SeqCst);
                });
                return;
            }
        }
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            flag.store(true, Ordering::SeqCst);
        });
    });
    stop
}

fn from_stream(args: &ReplicateArgs, arn: &str, files: &LedgerFiles) -> Outcome {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return unreadable(args.json, &e),
    };
    let stop = if args.follow {
        stop_on_signal(&runtime)
    } else {
        Arc::new(AtomicBool::new(false))
    };
    let region = args.region.clone().or_else(|| {
        arn.strip_prefix("arn:aws:kinesis:")
            .and_then(|r| r.split(':').next())
            .map(str::to_owned)
    });
    let conf = runtime.block_on(sdk_config(region.as_deref()));
    let mut reader = StreamReader {
        client: aws_sdk_kinesis::Client::new(&conf),
        arn: arn.to_owned(),
        shards: Vec::new(),
    };
    if let Err(e) = runtime.block_on(reader.open()) {
        return unreadable(args.json, &e);
    }
    let mut progress = Progress::new(args.json);
    let mut waiting: Vec<Element> = Vec::new();
    let mut ledgers = BTreeSet::new();
    let mut record_no = 0usize;
    let mut following = false;
    let mut stuck: Option<String> = None;
    loop {
        let payloads = match runtime.block_on(reader.poll()) {
            Ok(p) => p,
            Err(e) => return unreadable(args.json, &e),
        };
        for bytes in &payloads {
            match read_one(bytes, RECORD_LIMITS) {
                Ok(e) => waiting.push(e),
                Err(e) => {
                    return unreadable(
                        args.json,
                        &format!("stream record {record_no} is not Ion: {e}"),
                    );
                }
            }
            record_no += 1;
        }
        let (blocks, missing) = match assemble(&waiting, &mut ledgers, args.follow) {
            Ok(a) => {
                waiting = a.rest;
                (a.blocks, a.missing)
            }
            Err(e) => return unreadable(args.json, &e),
        };
        // Records of one block written to several shards may straddle one read, never two.
        stuck = match (missing, stuck) {
            (Some(m), Some(before)) if m == before => {
                return unreadable(
                    args.json,
                    &format!("{m}, and it did not come in two reads of every shard"),
                );
            }
            (m, _) => m,
        };
        if !files.journal_exists().unwrap_or(false) {
            if !blocks.is_empty() {
                let count = blocks.len() as u64;
                match import_blocks(files, blocks, None, files.options()) {
                    Ok(r) => {
                        progress.line(&format!(
                            "created replica {} with blocks 0 to {} of strand {}",
                            r.name,
                            count - 1,
                            r.strand_id
                        ));
                        progress.created = Some(count);
                        // The summary reports the replica's digest: an empty append gives it.
                        match update_replica(files, Vec::new(), files.options()) {
                            Ok(r) => progress.last = Some(r),
                            Err(e) => return verify_failed(args.json, &e),
                        }
                    }
                    Err(e) => return verify_failed(args.json, &e),
                }
            } else if !args.follow {
                return unreadable(
                    args.json,
                    &format!("the stream {arn} holds no journal blocks to replicate"),
                );
            }
        } else {
            match update_replica(files, blocks, files.options()) {
                Ok(r) => progress.appended(&r),
                Err(e) => return verify_failed(args.json, &e),
            }
        }
        let tip = progress.last.as_ref().map(ReplicaUpdate::tip);
        let reached = matches!((args.until_tip_seq, tip), (Some(until), Some(tip)) if tip >= until);
        if !args.follow || reached || stop.load(Ordering::SeqCst) {
            break;
        }
        if !following {
            following = true;
            progress.line(&format!(
                "following {arn} from block {}",
                tip.map_or(0, |t| t + 1)
            ));
        }
        runtime.block_on(pause(Duration::from_millis(args.poll_ms), &stop));
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    progress.summary(files)
}

/// Waits `poll`, or less when a signal asks to stop.
async fn pause(poll: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50).min(poll);
    let mut waited = Duration::ZERO;
    while waited < poll && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(step).await;
        waited += step;
    }
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

fn get<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.as_struct()?.get(name)
}

fn seq_of(e: &Element) -> Option<i64> {
    get(get(e, "blockAddress")?, "sequenceNo")?.as_i64()
}

/// Puts blocks back together from QLDB stream records: each BLOCK_SUMMARY with its
/// `revisionSummaries` replaced by the revisions the REVISION_DETAILS records carry (matched by
/// block and hash). Records delivered twice are the same record. `ledgers` gathers the ledgers
/// the records came from (one stream must carry one ledger's journal).
///
/// A revision that is missing is named, unless `wait` (a stream being followed, where the
/// records of a block spread over shards may not all have arrived yet): then the blocks from
/// the first incomplete one (or the first gap) on are left for later, their records are
/// returned beside the blocks, and what is missing is named when a later block is already
/// there (the caller decides how long to wait for it).
pub fn assemble(
    records: &[Element],
    ledgers: &mut BTreeSet<String>,
    wait: bool,
) -> Result<Assembled, String> {
    let mut summaries: BTreeMap<i64, Element> = BTreeMap::new();
    let mut revisions: BTreeMap<(i64, Vec<u8>), Element> = BTreeMap::new();
    let mut kept: Vec<(i64, &Element)> = Vec::new();
    for r in records {
        let kind = get(r, "recordType")
            .and_then(Element::as_text)
            .unwrap_or("");
        if let Some(arn) = get(r, "qldbStreamArn").and_then(Element::as_text) {
            ledgers.insert(
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
                kept.push((seq, r));
            }
            "REVISION_DETAILS" => {
                let revision =
                    get(payload, "revision").ok_or("a REVISION_DETAILS has no revision")?;
                let seq = seq_of(revision).ok_or("a revision has no blockAddress.sequenceNo")?;
                let hash = get(revision, "hash")
                    .and_then(Element::as_blob)
                    .ok_or("a revision has no hash")?;
                revisions.insert((seq, hash.to_vec()), revision.clone());
                kept.push((seq, r));
            }
            _ => {}
        }
    }
    if ledgers.len() > 1 {
        return Err(format!(
            "the stream carries the journals of more than one ledger ({}); replicate one ledger per stream",
            ledgers.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut blocks = Vec::with_capacity(summaries.len());
    let mut waiting_from = None;
    let mut missing = None;
    let mut previous: Option<i64> = None;
    let last = summaries.keys().next_back().copied();
    'blocks: for (seq, summary) in summaries {
        if wait {
            if let Some(p) = previous.filter(|p| p + 1 != seq) {
                waiting_from = Some(seq);
                missing = Some(format!(
                    "block {}: its BLOCK_SUMMARY is not in the stream, but block {seq}'s is",
                    p + 1
                ));
                break;
            }
        }
        previous = Some(seq);
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
                Some(doc) => match revisions.get(&(seq, hash.to_vec())) {
                    Some(revision) => list.push(revision.clone()),
                    None if wait => {
                        waiting_from = Some(seq);
                        if last.is_some_and(|l| l > seq) {
                            missing = Some(format!(
                                "block {seq}: the revision of document {doc} is not in the stream, but block {}'s summary is",
                                last.unwrap_or(seq)
                            ));
                        }
                        break 'blocks;
                    }
                    None => {
                        return Err(format!(
                            "block {seq}: the revision of document {doc} is not in the stream"
                        ));
                    }
                },
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
    // What is left for later: the records of the blocks not put together yet, including
    // revisions whose summary has not arrived.
    let rest = if wait {
        let from = waiting_from.or(previous.map(|p| p + 1)).unwrap_or(i64::MIN);
        kept.into_iter()
            .filter(|(seq, _)| *seq >= from)
            .map(|(_, r)| r.clone())
            .collect()
    } else {
        Vec::new()
    };
    Ok(Assembled {
        blocks,
        rest,
        missing,
    })
}

/// What [`assemble`] put together.
pub struct Assembled {
    /// The blocks, in order.
    pub blocks: Vec<Element>,
    /// The records of blocks not complete yet (when waiting).
    pub rest: Vec<Element>,
    /// What a waiting block lacks while a later block is already there.
    pub missing: Option<String>,
}

/// A Kinesis stream read shard by shard, each from its trim horizon, remembering where each
/// shard's reading stopped so that the next poll reads only what came since.
struct StreamReader {
    client: aws_sdk_kinesis::Client,
    arn: String,
    shards: Vec<ShardPosition>,
}

struct ShardPosition {
    id: String,
    /// `None` once a closed shard is read to its end.
    iterator: Option<String>,
    /// The last record read, to resume after an iterator expired.
    last_sequence: Option<String>,
}

impl StreamReader {
    fn failed(&self, op: &str, e: &dyn std::fmt::Display) -> String {
        format!("{op} on {} failed: {e}", self.arn)
    }

    /// Lists the stream's shards and starts each at its trim horizon.
    async fn open(&mut self) -> Result<(), String> {
        let mut token: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let mut call = self.client.list_shards();
            call = match &token {
                Some(t) => call.next_token(t),
                None => call.stream_arn(&self.arn),
            };
            let page = call
                .send()
                .await
                .map_err(|e| self.failed("ListShards", &DisplayErrorContext(e)))?;
            ids.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        for id in ids {
            let iterator = self.iterator(&id, None).await?;
            self.shards.push(ShardPosition {
                id,
                iterator,
                last_sequence: None,
            });
        }
        Ok(())
    }

    /// An iterator at the trim horizon, or just after `after`.
    async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<Option<String>, String> {
        let mut call = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard);
        call = match after {
            Some(seq) => call
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            None => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(call
            .send()
            .await
            .map_err(|e| self.failed("GetShardIterator", &DisplayErrorContext(e)))?
            .shard_iterator()
            .map(str::to_owned))
    }

    /// Every record put since the last poll (every shard read up to its tip), de-aggregated.
    async fn poll(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            while let Some(it) = self.shards[i].iterator.clone() {
                let sent = self
                    .client
                    .get_records()
                    .stream_arn(&self.arn)
                    .shard_iterator(it)
                    .send()
                    .await;
                let page = match sent {
                    Ok(page) => page,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_expired_iterator_exception()) =>
                    {
                        let shard = &self.shards[i];
                        let fresh = self
                            .iterator(&shard.id, shard.last_sequence.as_deref())
                            .await?;
                        self.shards[i].iterator = fresh;
                        continue;
                    }
                    Err(e) => return Err(self.failed("GetRecords", &DisplayErrorContext(e))),
                };
                let shard = &mut self.shards[i];
                for r in page.records() {
                    let parts = deaggregate(r.partition_key(), r.data().as_ref()).map_err(|e| {
                        format!(
                            "record {} of {} is not a valid aggregated record: {}",
                            r.sequence_number(),
                            shard.id,
                            e.0
                        )
                    })?;
                    out.extend(parts.into_iter().map(|(_, data)| data));
                    shard.last_sequence = Some(r.sequence_number().to_owned());
                }
                shard.iterator = page.next_shard_iterator().map(str::to_owned);
                if page.records().is_empty() && page.millis_behind_latest().unwrap_or(0) == 0 {
                    break;
                }
            }
        }
        Ok(out)
    }
}
