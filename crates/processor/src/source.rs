//! Where events come from: the [`Source`] trait, the local directory source, and the durable
//! checkpoint of files fully ingested.
//!
//! A source hands over events in batches and is told when a batch is done, that is when every
//! record of it is durable in the ledger (and its alerts recorded and delivered or
//! dead-lettered). A local directory acknowledges by writing the file to its [`Checkpoint`]; a
//! queue would delete its messages. What was handed over but not acknowledged comes again after
//! a restart, and the idempotent append by `eventID` stores it once.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::{Value as Json, json};
use veritrail_core::record::MAX_LOG_FILE_BYTES;

use crate::error::ProcessorError;

/// One event as a source read it: JSON, or why it is not.
#[derive(Debug)]
pub struct RawEvent {
    /// Where it came from (`file.json record 3`, `events.jsonl line 7`).
    pub at: String,
    pub value: Result<Json, String>,
}

/// A batch of events, and the source's handle on it for the acknowledgement.
#[derive(Debug)]
pub struct SourceBatch<T> {
    /// Where the batch came from (a file's path).
    pub origin: String,
    pub events: Vec<RawEvent>,
    /// What the source needs to acknowledge the batch: for a directory, the file's stamp
    /// (`None` for a file that could not be read, so that a rerun tries it again); for a
    /// queue, its messages' receipt handles.
    pub token: T,
}

/// A source of events. Further sources (SQS, EventBridge over HTTP, S3, LookupEvents) implement
/// the same two calls. The processor reads the next batch on a thread of its own while it
/// appends the previous one, so a source and its tokens are `Send`.
pub trait Source: Send {
    /// What acknowledging a batch needs.
    type Token: Send;

    /// The next batch, or `None` when there is nothing more.
    fn next_batch(&mut self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError>;

    /// Called once every event of `batch` is durable: the source may forget it for good.
    fn acknowledge(&mut self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError>;

    /// How many batches are left, when the source knows (for a progress indicator).
    fn remaining(&self) -> Option<usize> {
        None
    }
}

/// A file as the checkpoint knows it: path, size and modification time, so a file that
/// changed since is read again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub path: String,
    pub size: u64,
    pub modified_ns: u128,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            path: path.display().to_string(),
            size: meta.len(),
            modified_ns,
        })
    }
}

/// The files fully ingested, one JSON line each, appended and synced only after their records
/// are durable. A line cut short by a crash is not a file done: that file is read again.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    done: HashSet<FileStamp>,
}

impl Checkpoint {
    /// Reads the checkpoint at `path` (absent: nothing done yet).
    pub fn open(path: &Path) -> Result<Self, ProcessorError> {
        let mut done = HashSet::new();
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(|e| ProcessorError::io(path, e))?;
                    let Ok(v) = serde_json::from_str::<Json>(&line) else {
                        continue;
                    };
                    if let (Some(p), Some(size), Some(ns)) = (
                        v["file"].as_str(),
                        v["size"].as_u64(),
                        v["modifiedNs"].as_str().and_then(|s| s.parse().ok()),
                    ) {
                        done.insert(FileStamp {
                            path: p.to_owned(),
                            size,
                            modified_ns: ns,
                        });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProcessorError::io(path, e)),
        }
        Ok(Self {
            path: path.to_owned(),
            done,
        })
    }

    pub fn is_done(&self, stamp: &FileStamp) -> bool {
        self.done.contains(stamp)
    }

    /// Records a file as done, durably (the line is synced before this returns).
    pub fn mark_done(&mut self, stamp: &FileStamp) -> Result<(), ProcessorError> {
        let line = json!({"file": stamp.path, "size": stamp.size, "modifiedNs": stamp.modified_ns.to_string()});
        append_line(&self.path, &line)?;
        self.done.insert(stamp.clone());
        Ok(())
    }
}

/// Appends one JSON line to a file and syncs it (creating the file and its directory).
pub(crate) fn append_line(path: &Path, line: &Json) -> Result<(), ProcessorError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ProcessorError::io(dir, e))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ProcessorError::io(path, e))?;
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    f.write_all(&bytes)
        .and_then(|()| f.sync_data())
        .map_err(|e| ProcessorError::io(path, e))
}

/// What the directory source reads: CloudTrail log files (`{"Records":[…]}`, also a JSON array
/// or one record), gzipped or not, and files of EventBridge events or records, one per line.
const EXTENSIONS: [&str; 4] = [".json", ".json.gz", ".jsonl", ".jsonl.gz"];

/// A local directory (walked in name order, subdirectories included) or a single file.
#[derive(Debug)]
pub struct DirSource {
    files: std::vec::IntoIter<PathBuf>,
    left: usize,
    checkpoint: Checkpoint,
    /// Files skipped because the checkpoint has them.
    pub skipped: usize,
}

impl DirSource {
    /// Lists the files under `root` now; files added later are not seen.
    pub fn new(root: &Path, checkpoint: Checkpoint) -> Result<Self, ProcessorError> {
        let mut files = Vec::new();
        let meta = std::fs::metadata(root).map_err(|e| ProcessorError::io(root, e))?;
        if meta.is_file() {
            files.push(root.to_owned());
        } else {
            let mut dirs = vec![root.to_owned()];
            let mut seen = HashSet::new();
            while let Some(dir) = dirs.pop() {
                // A symbolic link loop ends: each directory is visited once.
                let real = std::fs::canonicalize(&dir).map_err(|e| ProcessorError::io(&dir, e))?;
                if !seen.insert(real) {
                    continue;
                }
                for entry in std::fs::read_dir(&dir).map_err(|e| ProcessorError::io(&dir, e))? {
                    let path = entry.map_err(|e| ProcessorError::io(&dir, e))?.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if EXTENSIONS
                        .iter()
                        .any(|x| path.to_string_lossy().ends_with(x))
                    {
                        files.push(path);
                    }
                }
            }
        }
        files.sort();
        let mut skipped = 0;
        files.retain(|p| match FileStamp::of(p) {
            Ok(stamp) if checkpoint.is_done(&stamp) => {
                skipped += 1;
                false
            }
            _ => true,
        });
        Ok(Self {
            left: files.len(),
            files: files.into_iter(),
            checkpoint,
            skipped,
        })
    }
}

impl Source for DirSource {
    type Token = Option<FileStamp>;

    fn next_batch(&mut self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        let Some(path) = self.files.next() else {
            return Ok(None);
        };
        self.left -= 1;
        let origin = path.display().to_string();
        let unreadable = |reason: String| SourceBatch {
            origin: origin.clone(),
            events: vec![RawEvent {
                at: origin.clone(),
                value: Err(reason),
            }],
            token: None,
        };
        let stamp = match FileStamp::of(&path) {
            Ok(s) => s,
            Err(e) => return Ok(Some(unreadable(format!("cannot read: {e}")))),
        };
        let text = match read_text(&path) {
            Ok(t) => t,
            Err(e) => return Ok(Some(unreadable(e))),
        };
        let events = events_of(&origin, &text);
        Ok(Some(SourceBatch {
            origin,
            events,
            token: Some(stamp),
        }))
    }

    fn acknowledge(&mut self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        match &batch.token {
            Some(stamp) => self.checkpoint.mark_done(stamp),
            None => Ok(()),
        }
    }

    fn remaining(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A file's text, gunzipped when its name ends in `.gz`, at most [`MAX_LOG_FILE_BYTES`].
fn read_text(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let limit = MAX_LOG_FILE_BYTES as u64;
    let mut bytes = Vec::new();
    let read = if path.to_string_lossy().ends_with(".gz") {
        MultiGzDecoder::new(file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
    } else {
        file.take(limit + 1).read_to_end(&mut bytes)
    };
    read.map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "more than {limit} bytes (uncompressed); CloudTrail log files are far smaller"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// The events of a file: a log file's `Records`, a JSON array, one object, or JSON Lines.
pub fn events_of(origin: &str, text: &str) -> Vec<RawEvent> {
    let whole = serde_json::from_str::<Json>(text);
    match whole {
        Ok(Json::Object(mut top)) if top.contains_key("Records") => match top.remove("Records") {
            Some(Json::Array(records)) => numbered(origin, records),
            _ => vec![RawEvent {
                at: origin.to_owned(),
                value: Err("a log file's `Records` must be an array".into()),
            }],
        },
        Ok(Json::Array(items)) => numbered(origin, items),
        Ok(v @ Json::Object(_)) => vec![RawEvent {
            at: origin.to_owned(),
            value: Ok(v),
        }],
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| RawEvent {
                at: format!("{origin} line {}", i + 1),
                value: serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}")),
            })
            .collect(),
    }
}

fn numbered(origin: &str, items: Vec<Json>) -> Vec<RawEvent> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| RawEvent {
            at: format!("{origin} record {i}"),
            value: Ok(v),
        })
        .collect()
}
