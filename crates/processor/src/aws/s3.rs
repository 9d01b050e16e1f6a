//! CloudTrail log files in S3 as a source: `s3://bucket/prefix`, real AWS or the emulator.
//!
//! A trail delivers under `prefix/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/` (with an
//! organization id level for organization trails), and within such a folder a key's name
//! carries the time of its file (`…_CloudTrail_<region>_YYYYMMDDTHHmmZ_<unique>.json.gz`), so
//! keys sorted by name are in time order per account and region. The source finds these
//! folders (the roots) by listing with a delimiter, lists each root after the last key done
//! (`StartAfter`), and reads the new `.json.gz` files in key order, one batch per file.
//!
//! The checkpoint is durable: `s3-checkpoint.jsonl` in the processor's state directory gets
//! `{bucket, root, key}` once a file's records are durable, and the last line per root is
//! where the next listing starts. A crash before that line is written reads the file again,
//! and the idempotent append stores it once. A file delivered late under a name that sorts
//! before the last key done would be missed; CloudTrail names files by the end of the interval
//! they cover and delivers them in that order, and the emulator does the same.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};
use veritrail_core::record::MAX_LOG_FILE_BYTES;

use super::{Aws, failed};
use crate::error::ProcessorError;
use crate::notify::Pause;
use crate::source::{RawEvent, Source, SourceBatch, append_line, decode_text, events_of, lock};

/// Where and how to read a bucket.
#[derive(Debug, Clone)]
pub struct BucketOptions {
    pub bucket: String,
    /// A key prefix (`""` for the whole bucket); a prefix that already names a
    /// `…/CloudTrail/<region>/` folder is read as that one root.
    pub prefix: String,
    /// The checkpoint file.
    pub checkpoint: PathBuf,
    /// End when a listing finds nothing new, instead of listing again every `poll`.
    pub until_empty: bool,
    pub poll: Duration,
    pub pause: Arc<dyn Pause>,
    pub stop: Arc<AtomicBool>,
}

/// `s3://bucket/prefix` as (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Result<(String, String), ProcessorError> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        ProcessorError::Config(format!("`{url}` is not an s3://bucket/prefix URL"))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ProcessorError::Config(format!("`{url}` names no bucket")));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// A file to read: its root folder and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogObject {
    pub root: String,
    pub key: String,
}

/// CloudTrail log files in an S3 bucket, as a [`Source`].
#[derive(Debug)]
pub struct BucketSource {
    aws: Aws,
    client: aws_sdk_s3::Client,
    options: BucketOptions,
    /// Only the reading thread uses it; behind a lock for `Sync`.
    state: Mutex<Listing>,
}

/// What the reading side keeps.
#[derive(Debug)]
struct Listing {
    /// The last key handed over, per root (at open, the last one done): the next listing
    /// starts after it, since the file before may still be in the pipeline.
    listed: BTreeMap<String, String>,
    pending: VecDeque<LogObject>,
}

/// How deep under `AWSLogs/` the `CloudTrail/` folder may be (account, or organization and
/// account).
const MAX_DEPTH: usize = 3;

impl BucketSource {
    pub fn open(aws: &Aws, options: BucketOptions) -> Result<Self, ProcessorError> {
        let done = read_checkpoint(&options.checkpoint, &options.bucket)?;
        Ok(Self {
            aws: aws.clone(),
            client: aws_sdk_s3::Client::new(aws.config()),
            options,
            state: Mutex::new(Listing {
                listed: done,
                pending: VecDeque::new(),
            }),
        })
    }

    /// The folders the log files are in (`…/CloudTrail/<region>/`).
    fn roots(&self) -> Result<Vec<String>, ProcessorError> {
        let prefix = &self.options.prefix;
        if prefix.contains("CloudTrail/") {
            return Ok(vec![prefix.clone()]);
        }
        let base = if prefix.is_empty() || prefix.ends_with('/') {
            format!("{prefix}AWSLogs/")
        } else {
            format!("{prefix}/AWSLogs/")
        };
        let mut roots = Vec::new();
        let mut level = vec![base];
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for folder in level {
                for child in self.folders(&folder)? {
                    if child.ends_with("/CloudTrail/") {
                        roots.extend(self.folders(&child)?);
                    } else if !child.ends_with("/CloudTrail-Digest/")
                        && !child.ends_with("/CloudTrail-Insight/")
                    {
                        next.push(child);
                    }
                }
            }
            level = next;
        }
        roots.sort();
        Ok(roots)
    }

    /// The subfolders of `folder` (ListObjectsV2 with delimiter `/`).
    fn folders(&self, folder: &str) -> Result<Vec<String>, ProcessorError> {
        Ok(self.list(folder, Some("/"), None)?.0)
    }

    /// The log files of `root` after `after`, in key order.
    fn new_files(
        &self,
        root: &str,
        after: Option<String>,
    ) -> Result<Vec<LogObject>, ProcessorError> {
        let (_, keys) = self.list(root, None, after)?;
        Ok(keys
            .into_iter()
            .filter(|k| k.ends_with(".json.gz"))
            .map(|key| LogObject {
                root: root.to_owned(),
                key,
            })
            .collect())
    }

    /// Every page of ListObjectsV2 under `prefix`: (common prefixes, keys).
    fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<String>,
    ) -> Result<(Vec<String>, Vec<String>), ProcessorError> {
        list_objects(
            &self.aws,
            &self.client,
            &self.options.bucket,
            prefix,
            delimiter,
            after,
        )
    }

    /// A file's events; a file that cannot be read is one rejected event naming why.
    fn read(&self, object: &LogObject) -> Result<Vec<RawEvent>, ProcessorError> {
        let origin = format!("s3://{}/{}", self.options.bucket, object.key);
        let got = self.aws.block_on(async {
            let answer = self
                .client
                .get_object()
                .bucket(&self.options.bucket)
                .key(&object.key)
                .send()
                .await?;
            if answer
                .content_length()
                .is_some_and(|n| n > MAX_LOG_FILE_BYTES as i64)
            {
                return Ok(Err(format!(
                    "{} bytes; CloudTrail log files are far smaller",
                    answer.content_length().unwrap_or_default()
                )));
            }
            Ok(answer
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .map_err(|e| e.to_string()))
        });
        let bytes = match got {
            Ok(Ok(b)) => b,
            Ok(Err(why)) => {
                return Ok(vec![RawEvent {
                    at: origin,
                    value: Err(why),
                }]);
            }
            Err(e) => {
                let e: aws_sdk_s3::error::SdkError<_> = e;
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    // Deleted since it was listed: nothing to read, and nothing to wait for.
                    return Ok(vec![RawEvent {
                        at: origin,
                        value: Err("deleted before it could be read".into()),
                    }]);
                }
                return Err(failed(format!("GetObject {origin}"), e));
            }
        };
        Ok(match decode_text(&bytes[..], true) {
            Ok(text) => events_of(&origin, &text),
            Err(why) => vec![RawEvent {
                at: origin,
                value: Err(why),
            }],
        })
    }
}

impl Source for BucketSource {
    type Token = LogObject;

    fn next_batch(&self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        let mut state = lock(&self.state);
        loop {
            if self.options.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if let Some(object) = state.pending.pop_front() {
                let events = self.read(&object)?;
                let origin = format!("s3://{}/{}", self.options.bucket, object.key);
                return Ok(Some(SourceBatch::new(origin, events, object)));
            }
            for root in self.roots()? {
                let files = self.new_files(&root, state.listed.get(&root).cloned())?;
                if let Some(last) = files.last() {
                    state.listed.insert(root.clone(), last.key.clone());
                }
                state.pending.extend(files);
            }
            if state.pending.is_empty() {
                if self.options.until_empty {
                    return Ok(None);
                }
                self.options.pause.pause(self.options.poll);
            }
        }
    }

    fn acknowledge(&self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        let LogObject { root, key } = &batch.token;
        append_line(
            &self.options.checkpoint,
            &json!({"bucket": self.options.bucket, "root": root, "key": key}),
        )
    }

    fn remaining(&self) -> Option<usize> {
        // Asked between batches; the reading thread may hold the lock for a listing.
        self.state.try_lock().ok().map(|s| s.pending.len())
    }
}

/// The last key done per root of `bucket` (a line cut short by a crash is ignored).
fn read_checkpoint(path: &Path, bucket: &str) -> Result<BTreeMap<String, String>, ProcessorError> {
    let mut done = BTreeMap::new();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(ProcessorError::io(path, e)),
    };
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| ProcessorError::io(path, e))?;
        let Ok(v) = serde_json::from_str::<Json>(&line) else {
            continue;
        };
        if let (Some(b), Some(root), Some(key)) =
            (v["bucket"].as_str(), v["root"].as_str(), v["key"].as_str())
        {
            if b == bucket {
                done.insert(root.to_owned(), key.to_owned());
            }
        }
    }
    Ok(done)
}

/// Every page of ListObjectsV2 of `bucket` under `prefix`: (common prefixes, keys).
pub(crate) fn list_objects(
    aws: &Aws,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<String>,
) -> Result<(Vec<String>, Vec<String>), ProcessorError> {
    let (mut folders, mut keys) = (Vec::new(), Vec::new());
    let mut token = None;
    loop {
        let page = aws
            .block_on(
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_delimiter(delimiter.map(str::to_owned))
                    .set_start_after(after.clone())
                    .set_continuation_token(token.take())
                    .send(),
            )
            .map_err(|e| failed(format!("ListObjectsV2 on s3://{bucket}/{prefix}"), e))?;
        folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok((folders, keys)),
        }
    }
}
