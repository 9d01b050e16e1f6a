//! Writing signed evidence bundles (the format is [`veritrail_verify::bundle`]'s, which checks
//! them): the ledger's digest and a checkpoint signed now, a consistency proof from the
//! previous bundle, the period's records and its alerts with every review, each with its
//! revision proof, the validate-logs report, the posture results, query answers, the public
//! keys, and a manifest of every part's SHA-256 signed with the ledger's checkpoint key.

use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value as Json, json};
use veritrail_ledger::LedgerError;
use veritrail_ledger::checkpoint::CheckpointContent;
use veritrail_ledger::db::Database;
use veritrail_ledger::files::LedgerFiles;
use veritrail_ledger::journal::{LedgerDigest, proof_ion_text};
use veritrail_verify::bundle::{
    self as format, FORMAT, Manifest, ManifestPart, QUERY_PREFIX, part_hash,
};
use veritrail_verify::{parse_digest, parse_revision};

use crate::query::{self, Found, Period, QueryError, RECORDS_TABLE, proved_row};

/// Why a bundle could not be written. Inputs are checked before the checkpoint is signed, so
/// bad input leaves nothing behind.
#[derive(Debug)]
#[non_exhaustive]
pub enum BundleError {
    /// The ledger, its key or its checkpoints could not be used.
    Ledger(LedgerError),
    /// Reading the period's revisions failed.
    Query(QueryError),
    /// An input part (previous bundle, report, posture, query answer) is not what it must be.
    Input { part: String, problem: String },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ledger(e) => write!(f, "ledger: {e}"),
            Self::Query(e) => write!(f, "{e}"),
            Self::Input { part, problem } => write!(f, "{part}: {problem}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl From<LedgerError> for BundleError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

impl From<QueryError> for BundleError {
    fn from(e: QueryError) -> Self {
        Self::Query(e)
    }
}

fn input(part: &str, problem: impl Into<String>) -> BundleError {
    BundleError::Input {
        part: part.to_owned(),
        problem: problem.into(),
    }
}

/// What goes into a bundle besides what the ledger holds.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    pub period: Period,
    /// The previous bundle, to prove this one's digest extends its digest.
    pub previous: Option<Vec<u8>>,
    /// The `validate-logs --json` report for the period.
    pub validate_logs: Option<String>,
    /// The CloudTrail digest public keys the report was checked with (ListPublicKeys' shape).
    pub cloudtrail_keys: Option<Json>,
    /// `veritrail check --json` output.
    pub posture: Option<String>,
    /// `veritrail evidence query --out` answers: (name, text).
    pub queries: Vec<(String, String)>,
}

/// A written bundle and what it holds.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle document.
    pub text: String,
    pub manifest: Manifest,
    /// The checkpoint signed for it, as stored.
    pub checkpoint: PathBuf,
    pub records: usize,
    pub alerts: usize,
    pub query_rows: usize,
    /// The previous bundle's tip, when the bundle chains to one.
    pub previous_tip: Option<u64>,
}

/// Builds a bundle of the ledger's current state for the period; `progress` hears about long
/// work. Signs a checkpoint of the current digest and stores it with the ledger's checkpoints.
pub fn build(
    db: &Database,
    files: &LedgerFiles,
    request: &BundleRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<Bundle, BundleError> {
    let key = files.read_key()?;
    let (digest, now) = {
        let ledger = db.ledger();
        (ledger.digest()?, ledger.now())
    };
    // Everything handed in is checked before anything is signed or written.
    let chained = request
        .previous
        .as_deref()
        .map(|prev| consistency(db, &digest, prev, &key.verifier_key()))
        .transpose()?;
    check_reports(request)?;
    let mut answers = Vec::with_capacity(request.queries.len());
    for (name, text) in &request.queries {
        let (answer, rows) = reprove_query(db, name, text, digest.tip)?;
        answers.push((format!("{QUERY_PREFIX}{name}.json"), answer, rows));
    }

    let content = CheckpointContent {
        size: digest.tip + 1,
        digest: digest.digest,
        strand_id: digest.strand_id.clone(),
        time: now,
    };
    let note = key.sign(&content);
    let checkpoint = files.write_checkpoint(content.size, &note)?;
    progress(&format!(
        "signed checkpoint of digest {} at tip {}",
        digest.digest, digest.tip
    ));

    let mut parts: Vec<(String, String, Option<usize>)> = vec![
        (format::DIGEST.into(), digest.to_get_digest_json(), None),
        (format::CHECKPOINT.into(), note, None),
    ];
    let previous_tip = chained.as_ref().map(|(_, tip)| *tip);
    if let Some((text, _)) = chained {
        parts.push((format::CONSISTENCY.into(), text, None));
    }

    let period = request.period;
    let mut records: Vec<Found> = query::history(db, RECORDS_TABLE, digest.tip)?
        .into_iter()
        .filter(|f| f.event_time().is_some_and(|t| period.contains(t)))
        .collect();
    query::by_time(&mut records);
    progress(&format!(
        "{} records in the period; proving them",
        records.len()
    ));
    let record_rows = prove(db, &records, digest.tip, progress)?;
    let alerts = query::alert_revisions(db, period, digest.tip)?;
    let alert_rows = prove(db, &alerts, digest.tip, progress)?;
    progress(&format!(
        "{} alert revisions (alerts and reviews)",
        alerts.len()
    ));
    let (n_records, n_alerts) = (record_rows.len(), alert_rows.len());
    parts.push((
        format::RECORDS.into(),
        list_text(record_rows),
        Some(n_records),
    ));
    parts.push((format::ALERTS.into(), list_text(alert_rows), Some(n_alerts)));

    if let Some(report) = &request.validate_logs {
        parts.push((format::VALIDATE_LOGS.into(), report.clone(), None));
    }
    if let Some(posture) = &request.posture {
        parts.push((format::POSTURE.into(), posture.clone(), None));
    }
    let mut query_rows = 0;
    for (name, answer, rows) in answers {
        query_rows += rows;
        parts.push((name, answer, Some(rows)));
    }
    let keys = json!({
        "ledger": key.verifier_key(),
        "cloudtrail": request.cloudtrail_keys.clone().unwrap_or(Json::Array(Vec::new())),
    });
    parts.push((format::KEYS.into(), keys.to_string(), None));

    let manifest = Manifest {
        ledger: files.name.clone(),
        from: period.from,
        to: period.to,
        created: now,
        digest: digest.digest,
        tip: digest.tip,
        parts: parts
            .iter()
            .map(|(name, text, entries)| ManifestPart {
                name: name.clone(),
                sha256: part_hash(text),
                entries: *entries,
            })
            .collect(),
    };
    let signed = key.sign_note(&manifest.body());
    let mut map = Map::new();
    for (name, text, _) in parts {
        map.insert(name, Json::String(text));
    }
    let document = json!({"format": FORMAT, "manifest": signed, "parts": map});
    Ok(Bundle {
        text: document.to_string(),
        manifest,
        checkpoint,
        records: n_records,
        alerts: n_alerts,
        query_rows,
        previous_tip,
    })
}

/// The validate-logs report and posture results are what their commands print.
fn check_reports(request: &BundleRequest) -> Result<(), BundleError> {
    if let Some(report) = &request.validate_logs {
        let j: Json = serde_json::from_str(report)
            .map_err(|e| input(format::VALIDATE_LOGS, format!("not JSON: {e}")))?;
        if !j["events"].is_array() || !j["valid"].is_boolean() {
            return Err(input(
                format::VALIDATE_LOGS,
                "not a `veritrail validate-logs --json` report (no `events` or `valid`)",
            ));
        }
    }
    if let Some(posture) = &request.posture {
        let j: Json = serde_json::from_str(posture)
            .map_err(|e| input(format::POSTURE, format!("not JSON: {e}")))?;
        if !j["checks"].is_array() {
            return Err(input(
                format::POSTURE,
                "not `veritrail check --json` output (no `checks` list)",
            ));
        }
    }
    Ok(())
}

fn list_text(rows: Vec<Json>) -> String {
    Json::Array(rows).to_string()
}

fn prove(
    db: &Database,
    found: &[Found],
    tip: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Json>, BundleError> {
    let ledger = db.ledger();
    let mut rows = Vec::with_capacity(found.len());
    for (i, f) in found.iter().enumerate() {
        rows.push(proved_row(
            &ledger,
            f.table,
            f.seq,
            &f.document_id,
            tip,
            None,
        )?);
        if (i + 1) % 10_000 == 0 {
            progress(&format!("proved {} of {}", i + 1, found.len()));
        }
    }
    Ok(rows)
}

/// The consistency proof from the previous bundle's digest to `digest`, after checking that the
/// previous bundle verifies with this ledger's key and that the ledger still has its digest.
fn consistency(
    db: &Database,
    digest: &LedgerDigest,
    previous: &[u8],
    verifier_key: &str,
) -> Result<(String, u64), BundleError> {
    const PART: &str = "--previous";
    let report = format::verify_bundle(previous, None, verifier_key)
        .map_err(|e| input(PART, e.to_string()))?;
    if let Some(f) = report.failures.first() {
        return Err(input(
            PART,
            format!(
                "the previous bundle does not verify with this ledger's key ({} failures; first: {f})",
                report.failures.len()
            ),
        ));
    }
    let prev_json: Json =
        serde_json::from_slice(previous).map_err(|e| input(PART, e.to_string()))?;
    let prev = prev_json["parts"][format::DIGEST]
        .as_str()
        .ok_or_else(|| input(PART, "no digest"))
        .and_then(|t| parse_digest(t).map_err(|e| input(PART, e.to_string())))?;
    if prev.tip.strand_id != digest.strand_id || prev.tip.sequence_no > digest.tip {
        return Err(input(
            PART,
            format!(
                "the previous bundle's tip {} is not behind this ledger's tip {}",
                prev.tip, digest.tip
            ),
        ));
    }
    let ledger = db.ledger();
    let old = ledger.digest_at(Some(prev.tip.sequence_no))?;
    if !old.digest.ct_eq(&prev.digest) {
        return Err(input(
            PART,
            format!(
                "the ledger's digest at tip {} is {}, not the previous bundle's {}: the journal was changed since",
                prev.tip.sequence_no, old.digest, prev.digest
            ),
        ));
    }
    let proof = ledger.consistency(old.tip, digest.tip)?;
    let text = json!({
        "OldDigest": old.digest.to_base64(),
        "OldTipAddress": {"IonText": old.tip_ion_text()},
        "NewDigest": digest.digest.to_base64(),
        "NewTipAddress": {"IonText": digest.tip_ion_text()},
        "Proof": {"IonText": proof_ion_text(&proof)},
    })
    .to_string();
    Ok((text, old.tip))
}

/// A query answer with every row proved again under the bundle's digest.
fn reprove_query(
    db: &Database,
    name: &str,
    text: &str,
    tip: u64,
) -> Result<(String, usize), BundleError> {
    let part = format!("--query {name}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(input(
            &part,
            "a query's name is letters, digits, `-`, `_` and `.`",
        ));
    }
    let mut answer: Json =
        serde_json::from_str(text).map_err(|e| input(&part, format!("not JSON: {e}")))?;
    let rows = answer["rows"]
        .as_array()
        .ok_or_else(|| input(&part, "not a `veritrail evidence query` answer (no `rows`)"))?
        .clone();
    let ledger = db.ledger();
    let mut proved = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let bad = |p: String| input(&part, format!("row {i}: {p}"));
        let revision = parse_revision(&row.to_string()).map_err(|e| bad(e.to_string()))?;
        let st = revision.value.as_struct();
        let seq = st
            .and_then(|s| s.get("blockAddress"))
            .and_then(|a| a.as_struct())
            .and_then(|a| a.get("sequenceNo"))
            .and_then(|s| s.as_int())
            .and_then(|i| i.as_u64())
            .ok_or_else(|| bad("no blockAddress.sequenceNo".into()))?;
        let id = st
            .and_then(|s| s.get("metadata"))
            .and_then(|m| m.as_struct())
            .and_then(|m| m.get("id"))
            .and_then(|i| i.as_text())
            .ok_or_else(|| bad("no metadata.id".into()))?;
        let table = row["table"].as_str().unwrap_or("");
        let new = proved_row(&ledger, table, seq, id, tip, row["role"].as_str())?;
        if !new["view"].eq(&row["view"]) {
            return Err(bad("its view is not what the ledger's revision says".into()));
        }
        proved.push(new);
    }
    let n = proved.len();
    answer["rows"] = Json::Array(proved);
    answer["digest"] = serde_json::from_str(&ledger.digest_at(Some(tip))?.to_get_digest_json())
        .unwrap_or(Json::Null);
    Ok((answer.to_string(), n))
}
