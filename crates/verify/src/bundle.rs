//! Evidence bundles: one JSON document an auditor checks offline with the ledger's verifier key
//! alone. Pure functions over bytes; the caller reads the files.
//!
//! ```text
//! {"format": "veritrail-bundle/1",
//!  "manifest": "<C2SP signed note, signed with the ledger's Ed25519 key>",
//!  "parts": {"digest.json": "<text>", "checkpoint.note": "<text>", "records.json": "<text>", …}}
//! ```
//!
//! The manifest's body names the ledger, the period, the digest and tip, and every part with
//! the SHA-256 of its UTF-8 text (and how many entries it holds, for lists):
//!
//! ```text
//! veritrail-bundle/1
//! ledger audit
//! from 2024-01-01T00:00:00Z
//! to 2024-01-02T00:00:00Z
//! created 2024-01-02T00:05:00Z
//! digest <base64> <tip sequence number>
//! part <sha256 hex> <entries or -> <name>
//! ```
//!
//! [`verify_bundle`] checks every part and names each one that fails; it never stops at the
//! first failure, so a report lists all that is wrong.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value as Json};
use sha2::{Digest as _, Sha256};
use veritrail_core::Hash32;
use veritrail_core::ion_rs::Element;
use veritrail_core::time::UtcMillis;

use crate::checkpoint::{verify_checkpoint, verify_note};
use crate::input::{Digest, parse_digest, parse_ion, parse_proof, parse_revision};
use crate::merkle::verify_consistency;
use crate::qldb::verify_revision;
use crate::validate_logs::{format_time, parse_time};

/// The format name, the first line of the manifest and the document's `format`.
pub const FORMAT: &str = "veritrail-bundle/1";
/// The largest bundle read: 1 GiB.
pub const MAX_BUNDLE_BYTES: usize = 1 << 30;

/// `aws qldb get-digest` output of the ledger's digest the bundle is proved against.
pub const DIGEST: &str = "digest.json";
/// The signed checkpoint of that digest.
pub const CHECKPOINT: &str = "checkpoint.note";
/// The consistency proof from the previous bundle's digest (`veritrail ledger consistency`).
pub const CONSISTENCY: &str = "consistency.json";
/// The audit records of the period, each a revision with its proof.
pub const RECORDS: &str = "records.json";
/// The alerts raised on records of the period, every revision (the reviews) with its proof.
pub const ALERTS: &str = "alerts.json";
/// The `veritrail validate-logs --json` report for the period.
pub const VALIDATE_LOGS: &str = "validate-logs.json";
/// The posture results (`veritrail check --json`).
pub const POSTURE: &str = "posture.json";
/// The public keys: the ledger's verifier key and the CloudTrail digest keys used.
pub const KEYS: &str = "keys.json";
/// Answers of `veritrail evidence query`, one part each: `query/<name>.json`.
pub const QUERY_PREFIX: &str = "query/";

/// One part named by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPart {
    pub name: String,
    pub sha256: Hash32,
    /// How many entries a list part holds.
    pub entries: Option<usize>,
}

/// What the manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub ledger: String,
    pub from: UtcMillis,
    pub to: UtcMillis,
    pub created: UtcMillis,
    pub digest: Hash32,
    pub tip: u64,
    pub parts: Vec<ManifestPart>,
}

impl Manifest {
    /// The manifest's text, to be signed (every line ends in a newline).
    pub fn body(&self) -> String {
        let mut out = format!(
            "{FORMAT}\nledger {}\nfrom {}\nto {}\ncreated {}\ndigest {} {}\n",
            self.ledger,
            format_time(self.from),
            format_time(self.to),
            format_time(self.created),
            self.digest.to_base64(),
            self.tip
        );
        for p in &self.parts {
            let entries = p.entries.map_or_else(|| "-".to_owned(), |n| n.to_string());
            out.push_str(&format!(
                "part {} {entries} {}\n",
                p.sha256.to_hex(),
                p.name
            ));
        }
        out
    }

    /// Reads a manifest body (as [`verify_note`] returns it).
    pub fn parse(body: &str) -> Result<Self, String> {
        let mut lines = body.lines();
        if lines.next() != Some(FORMAT) {
            return Err(format!("the first line is not `{FORMAT}`"));
        }
        let mut field = |key: &str| -> Result<String, String> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or_else(|| format!("no `{key}` line where expected"))
        };
        let time = |key: &str, text: String| {
            parse_time(&text).ok_or_else(|| format!("`{key} {text}` is not a UTC time"))
        };
        let ledger = field("ledger")?;
        let from = time("from", field("from")?)?;
        let to = time("to", field("to")?)?;
        let created = time("created", field("created")?)?;
        let digest_line = field("digest")?;
        let (d, tip) = digest_line
            .split_once(' ')
            .ok_or("the digest line is not `digest <base64> <tip>`")?;
        let digest = Hash32::from_base64(d).map_err(|e| format!("the manifest's digest: {e}"))?;
        let tip = tip
            .parse::<u64>()
            .map_err(|_| format!("the manifest's tip `{tip}` is not a number"))?;
        let mut parts = Vec::new();
        for line in lines {
            let mut f = line.splitn(4, ' ');
            let (Some("part"), Some(hash), Some(entries), Some(name)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(format!("`{line}` is not `part <sha256> <entries> <name>`"));
            };
            let sha256 =
                Hash32::from_hex(hash).map_err(|e| format!("part {name}: the hash: {e}"))?;
            let entries = match entries {
                "-" => None,
                n => Some(
                    n.parse::<usize>()
                        .map_err(|_| format!("part {name}: `{n}` entries is not a number"))?,
                ),
            };
            parts.push(ManifestPart {
                name: name.to_owned(),
                sha256,
                entries,
            });
        }
        Ok(Self {
            ledger,
            from,
            to,
            created,
            digest,
            tip,
            parts,
        })
    }
}

/// The SHA-256 of a part's text, as the manifest states it.
pub fn part_hash(text: &str) -> Hash32 {
    Hash32(Sha256::digest(text.as_bytes()).into())
}

/// A bundle that cannot be read at all: nothing to verify (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInputError {
    /// Which bundle: `bundle` or `previous`.
    pub which: &'static str,
    pub problem: String,
}

impl fmt::Display for BundleInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.which, self.problem)
    }
}

impl std::error::Error for BundleInputError {}

/// One check that failed: the part (`records.json[3]`, `manifest`, …), a short stable name of
/// the check, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub part: String,
    pub check: &'static str,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.part, self.check, self.message)
    }
}

/// What a verified bundle holds, and every failure found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleReport {
    pub ledger: String,
    pub period: Option<(UtcMillis, UtcMillis)>,
    pub digest: Option<Hash32>,
    pub tip: Option<u64>,
    pub parts: Vec<String>,
    pub records: usize,
    pub alerts: usize,
    pub query_rows: usize,
    /// Sizes (blocks) of the previous and this digest, when a consistency proof was checked
    /// against the previous bundle.
    pub consistency: Option<(u64, u64)>,
    /// `(PASS, FAIL, ERROR)` counts of the posture results.
    pub posture: Option<(usize, usize, usize)>,
    /// Whether the validate-logs report says the logs are valid.
    pub logs_valid: Option<bool>,
    pub failures: Vec<Failure>,
}

impl BundleReport {
    pub fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }

    fn fail(&mut self, part: impl Into<String>, check: &'static str, message: impl Into<String>) {
        self.failures.push(Failure {
            part: part.into(),
            check,
            message: message.into(),
        });
    }
}

struct Document {
    manifest: String,
    parts: Map<String, Json>,
}

fn read_document(bytes: &[u8], which: &'static str) -> Result<Document, BundleInputError> {
    let bad = |problem: String| BundleInputError { which, problem };
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(bad(format!(
            "{} bytes, more than the limit of {MAX_BUNDLE_BYTES}",
            bytes.len()
        )));
    }
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JSON document: {e}")))?;
    if json.get("format").and_then(Json::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not an evidence bundle (`format` is not `{FORMAT}`)"
        )));
    }
    let manifest = json
        .get("manifest")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("no `manifest` string".into()))?
        .to_owned();
    let parts = match json.get("parts") {
        Some(Json::Object(m)) => m.clone(),
        _ => return Err(bad("no `parts` object".into())),
    };
    Ok(Document { manifest, parts })
}

fn part_text<'a>(doc: &'a Document, name: &str) -> Option<&'a str> {
    doc.parts.get(name).and_then(Json::as_str)
}

/// Verifies a bundle with the ledger's verifier key (`<name>+<hash>+<base64>`), and the chain
/// from the previous bundle when one is given. Every failure is in the report; only a bundle
/// that cannot be read at all is an error.
pub fn verify_bundle(
    bundle: &[u8],
    previous: Option<&[u8]>,
    key: &str,
) -> Result<BundleReport, BundleInputError> {
    let doc = read_document(bundle, "bundle")?;
    let previous = previous
        .map(|p| read_document(p, "previous bundle"))
        .transpose()?;
    let mut r = BundleReport {
        parts: doc.parts.keys().cloned().collect(),
        ..BundleReport::default()
    };
    let manifest = check_manifest(&doc, key, &mut r);
    let digest = check_digest(&doc, manifest.as_ref(), key, &mut r);
    if let Some(m) = &manifest {
        r.ledger.clone_from(&m.ledger);
        r.period = Some((m.from, m.to));
    }
    let period = manifest.as_ref().map(|m| (m.from, m.to));
    if let Some(d) = &digest {
        r.digest = Some(d.digest);
        r.tip = Some(d.tip.sequence_no);
        r.records = check_revisions(&doc, RECORDS, d, period, &mut r);
        r.alerts = check_revisions(&doc, ALERTS, d, period, &mut r);
        for name in doc.parts.keys().filter(|n| n.starts_with(QUERY_PREFIX)) {
            r.query_rows += check_query(&doc, name, d, &mut r);
        }
        check_consistency(&doc, previous.as_ref(), d, key, &mut r);
    }
    check_validate_logs(&doc, period, &mut r);
    check_posture(&doc, &mut r);
    check_keys(&doc, key, &mut r);
    Ok(r)
}

/// The manifest's signature, then every part's hash and entry count against it.
fn check_manifest(doc: &Document, key: &str, r: &mut BundleReport) -> Option<Manifest> {
    // A manifest whose signature fails is still read, so the parts can be checked against what
    // it claims; the signature failure alone makes the bundle invalid.
    let body = match verify_note(&doc.manifest, key) {
        Ok(body) => body,
        Err(e) => {
            r.fail("manifest", "signature", e.to_string());
            doc.manifest.split_once("\n\n").map_or("", |(b, _)| b)
        }
    };
    let manifest = match Manifest::parse(body) {
        Ok(m) => m,
        Err(e) => {
            r.fail("manifest", "format", e);
            return None;
        }
    };
    let mut listed = BTreeSet::new();
    for p in &manifest.parts {
        if !listed.insert(p.name.as_str()) {
            r.fail(
                "manifest",
                "format",
                format!("part {} is listed twice", p.name),
            );
        }
        let Some(text) = part_text(doc, &p.name) else {
            r.fail(
                &p.name,
                "missing",
                "the manifest lists this part but the bundle does not hold it (as text)",
            );
            continue;
        };
        let computed = part_hash(text);
        if !computed.ct_eq(&p.sha256) {
            r.fail(
                &p.name,
                "hash",
                format!(
                    "SHA-256 {} but the manifest says {}: the part was changed",
                    computed.to_hex(),
                    p.sha256.to_hex()
                ),
            );
        }
        if let Some(expected) = p.entries {
            let found = serde_json::from_str::<Json>(text)
                .ok()
                .and_then(|j| list_of(&j).map(<[Json]>::len));
            if found != Some(expected) {
                r.fail(
                    &p.name,
                    "count",
                    format!(
                        "{} entries but the manifest says {expected}: entries were dropped or added",
                        found.map_or_else(|| "no list of".to_owned(), |n| n.to_string())
                    ),
                );
            }
        }
    }
    for name in doc.parts.keys() {
        if !listed.contains(name.as_str()) {
            r.fail(name, "unlisted", "the manifest does not list this part");
        }
    }
    for required in [DIGEST, CHECKPOINT, RECORDS, ALERTS, KEYS] {
        if !listed.contains(required) {
            r.fail(
                required,
                "missing",
                "every bundle has this part; the manifest does not list it",
            );
        }
    }
    Some(manifest)
}

/// The entries of a list part: the array itself, or its `rows` (query answers).
fn list_of(json: &Json) -> Option<&[Json]> {
    match json {
        Json::Array(a) => Some(a),
        Json::Object(o) => o.get("rows").and_then(Json::as_array).map(Vec::as_slice),
        _ => None,
    }
}

/// The digest part, the manifest's digest, and the checkpoint that signs it.
fn check_digest(
    doc: &Document,
    manifest: Option<&Manifest>,
    key: &str,
    r: &mut BundleReport,
) -> Option<Digest> {
    let digest = match part_text(doc, DIGEST).map(parse_digest) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            r.fail(DIGEST, "input", e.to_string());
            return None;
        }
        None => {
            r.fail(DIGEST, "missing", "the bundle has no digest");
            return None;
        }
    };
    if let Some(m) = manifest {
        if !m.digest.ct_eq(&digest.digest) || m.tip != digest.tip.sequence_no {
            r.fail(
                DIGEST,
                "digest",
                format!(
                    "the digest {} at tip {} is not the manifest's {} at tip {}",
                    digest.digest, digest.tip.sequence_no, m.digest, m.tip
                ),
            );
        }
    }
    match part_text(doc, CHECKPOINT).map(|n| verify_checkpoint(n, key)) {
        None => r.fail(CHECKPOINT, "missing", "the bundle has no signed checkpoint"),
        Some(Err(e)) => r.fail(CHECKPOINT, "signature", e.to_string()),
        Some(Ok(c)) => {
            let commits = c.digest.ct_eq(&digest.digest)
                && c.size == digest.tip.sequence_no + 1
                && c.extension("strand") == Some(digest.tip.strand_id.as_str());
            if !commits {
                r.fail(
                    CHECKPOINT,
                    "digest",
                    format!(
                        "the checkpoint signs {} over {} blocks, not the bundle's digest {} at tip {}",
                        c.digest, c.size, digest.digest, digest.tip.sequence_no
                    ),
                );
            }
            if let Some(m) = manifest {
                if c.origin != format!("veritrail/{}", m.ledger) {
                    r.fail(
                        CHECKPOINT,
                        "origin",
                        format!(
                            "the checkpoint is of {}, the manifest of ledger {}",
                            c.origin, m.ledger
                        ),
                    );
                }
            }
        }
    }
    Some(digest)
}

/// A revision's data field as text.
fn data_text<'a>(revision: &'a Element, field: &str) -> Option<&'a str> {
    revision
        .as_struct()
        .and_then(|s| s.get("data"))
        .and_then(Element::as_struct)
        .and_then(|d| d.get(field))
        .and_then(Element::as_text)
}

/// Verifies one `{Revision, Proof}` entry against the digest; returns the revision.
fn check_entry(
    entry: &Json,
    label: &str,
    digest: &Digest,
    r: &mut BundleReport,
) -> Option<(Element, String)> {
    let parsed = match parse_revision(&entry.to_string()) {
        Ok(p) => p,
        Err(e) => {
            r.fail(label, "input", e.to_string());
            return None;
        }
    };
    if let Some(view) = entry.get("view") {
        if *view != revision_view(&parsed.value) {
            r.fail(
                label,
                "view",
                "the entry's view says what its revision does not",
            );
        }
    }
    match verify_revision(&parsed.value, parsed.proof.as_deref(), digest) {
        Ok(rep) => {
            let id = format!(
                "{}/{}",
                rep.document_id.unwrap_or_default(),
                rep.version.unwrap_or_default()
            );
            Some((parsed.value, id))
        }
        Err(e) => {
            r.fail(label, e.check(), e.to_string());
            None
        }
    }
}

/// Every revision of a list part, its proof, that it lies in the period and is there once.
fn check_revisions(
    doc: &Document,
    name: &str,
    digest: &Digest,
    period: Option<(UtcMillis, UtcMillis)>,
    r: &mut BundleReport,
) -> usize {
    let Some(text) = part_text(doc, name) else {
        return 0;
    };
    let entries = match serde_json::from_str::<Json>(text) {
        Ok(Json::Array(a)) => a,
        _ => {
            r.fail(name, "input", "not a JSON list of revisions with proofs");
            return 0;
        }
    };
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let label = format!("{name}[{i}]");
        let Some((revision, id)) = check_entry(entry, &label, digest, r) else {
            continue;
        };
        if !seen.insert(id.clone()) {
            r.fail(
                &label,
                "duplicate",
                format!("revision {id} is in the bundle twice"),
            );
        }
        let Some((from, to)) = period else { continue };
        match data_text(&revision, "eventTime") {
            None => r.fail(&label, "period", "the revision has no data.eventTime"),
            Some(t) => match parse_time(t) {
                Some(at) if at >= from && at < to => {}
                _ => r.fail(
                    &label,
                    "period",
                    format!(
                        "eventTime {t} is outside the period {} to {}",
                        format_time(from),
                        format_time(to)
                    ),
                ),
            },
        }
    }
    entries.len()
}

/// A query answer: every row's revision proved against the bundle's digest.
fn check_query(doc: &Document, name: &str, digest: &Digest, r: &mut BundleReport) -> usize {
    let Some(text) = part_text(doc, name) else {
        return 0;
    };
    let json = serde_json::from_str::<Json>(text).ok();
    let Some(rows) = json.as_ref().and_then(list_of) else {
        r.fail(name, "input", "not a query answer (`{\"rows\": [...]}`)");
        return 0;
    };
    for (i, row) in rows.iter().enumerate() {
        check_entry(row, &format!("{name}[{i}]"), digest, r);
    }
    rows.len()
}

/// The consistency proof from the previous bundle's digest to this one.
fn check_consistency(
    doc: &Document,
    previous: Option<&Document>,
    digest: &Digest,
    key: &str,
    r: &mut BundleReport,
) {
    let Some(text) = part_text(doc, CONSISTENCY) else {
        if previous.is_some() {
            r.fail(
                CONSISTENCY,
                "missing",
                "a previous bundle was given but this bundle has no consistency proof",
            );
        }
        return;
    };
    let parsed = (|| -> Result<(Hash32, u64, Hash32, u64, Vec<Hash32>), String> {
        let j: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let hash = |k: &str| {
            j.get(k)
                .and_then(Json::as_str)
                .and_then(|t| Hash32::from_base64(t).ok())
                .ok_or_else(|| format!("no base64 {k}"))
        };
        let tip = |k: &str| -> Result<u64, String> {
            let t = j
                .get(k)
                .and_then(|a| a.get("IonText"))
                .and_then(Json::as_str)
                .ok_or_else(|| format!("no {k}.IonText"))?;
            let v = parse_ion(t, k).map_err(|e| e.to_string())?;
            crate::input::block_address(&v, k)
                .map(|a| a.sequence_no)
                .map_err(|e| e.to_string())
        };
        let proof = j
            .get("Proof")
            .and_then(|p| p.get("IonText"))
            .and_then(Json::as_str)
            .ok_or("no Proof.IonText")?;
        let proof = parse_proof(proof).map_err(|e| e.to_string())?;
        Ok((
            hash("OldDigest")?,
            tip("OldTipAddress")?,
            hash("NewDigest")?,
            tip("NewTipAddress")?,
            proof,
        ))
    })();
    let (old, old_tip, new, new_tip, proof) = match parsed {
        Ok(p) => p,
        Err(e) => {
            r.fail(CONSISTENCY, "input", e);
            return;
        }
    };
    if !new.ct_eq(&digest.digest) || new_tip != digest.tip.sequence_no {
        r.fail(
            CONSISTENCY,
            "digest",
            "the proof's newer digest is not this bundle's digest",
        );
    }
    if let Err(e) = verify_consistency(old_tip + 1, new_tip + 1, &old, &new, &proof) {
        r.fail(CONSISTENCY, "proof", e.to_string());
        return;
    }
    let Some(prev) = previous else { return };
    // The previous bundle's digest, vouched for by its own signed manifest.
    let prev_digest = verify_note(&prev.manifest, key)
        .map_err(|e| format!("its manifest: {e}"))
        .and_then(|body| Manifest::parse(body).map_err(|e| format!("its manifest: {e}")))
        .and_then(|m| {
            let d = part_text(prev, DIGEST)
                .ok_or("it has no digest")?
                .to_owned();
            let listed = m.parts.iter().find(|p| p.name == DIGEST);
            if !listed.is_some_and(|p| p.sha256.ct_eq(&part_hash(&d))) {
                return Err("its digest does not match its manifest".to_owned());
            }
            parse_digest(&d).map_err(|e| e.to_string())
        });
    match prev_digest {
        Err(e) => r.fail("previous", "signature", format!("the previous bundle: {e}")),
        Ok(p) => {
            if p.digest.ct_eq(&old) && p.tip.sequence_no == old_tip {
                r.consistency = Some((old_tip + 1, new_tip + 1));
            } else {
                r.fail(
                    CONSISTENCY,
                    "previous",
                    format!(
                        "the proof starts at {} (tip {old_tip}), not at the previous bundle's digest {} (tip {})",
                        old, p.digest, p.tip.sequence_no
                    ),
                );
            }
        }
    }
}

/// The validate-logs report: that it covers the period and its summary agrees with its events.
fn check_validate_logs(
    doc: &Document,
    period: Option<(UtcMillis, UtcMillis)>,
    r: &mut BundleReport,
) {
    let Some(text) = part_text(doc, VALIDATE_LOGS) else {
        return;
    };
    let Ok(j) = serde_json::from_str::<Json>(text) else {
        r.fail(VALIDATE_LOGS, "input", "not a JSON report");
        return;
    };
    let events = j["events"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let count = |kind: &str, valid: bool| {
        events
            .iter()
            .filter(|e| e["kind"] == kind && e["valid"].as_bool() == Some(valid))
            .count() as u64
    };
    let stated = |path: [&str; 2]| j[path[0]][path[1]].as_u64();
    let mut mismatches = Vec::new();
    for (kind, key) in [("digest", "digests"), ("log", "logs")] {
        for (valid, field) in [(true, "valid"), (false, "invalid")] {
            let found = count(kind, valid);
            if stated([key, field]) != Some(found) {
                mismatches.push(format!(
                    "{key}.{field} says {:?} but {found} events",
                    stated([key, field])
                ));
            }
        }
    }
    let invalid_events = events
        .iter()
        .filter(|e| e["valid"].as_bool() == Some(false))
        .count();
    let valid = j["valid"].as_bool();
    if valid == Some(true) && invalid_events > 0 {
        mismatches.push(format!(
            "valid is true but {invalid_events} events are invalid"
        ));
    }
    if valid.is_none() {
        mismatches.push("no `valid`".into());
    }
    if !mismatches.is_empty() {
        r.fail(VALIDATE_LOGS, "summary", mismatches.join("; "));
    }
    r.logs_valid = valid.map(|v| v && invalid_events == 0);
    if let Some((from, to)) = period {
        let start = j["start"].as_str().and_then(parse_time);
        let end = j["end"].as_str().and_then(parse_time);
        if !matches!((start, end), (Some(s), Some(e)) if s <= from && e >= to) {
            r.fail(
                VALIDATE_LOGS,
                "period",
                format!(
                    "the report covers {} to {}, not the whole period {} to {}",
                    j["start"],
                    j["end"],
                    format_time(from),
                    format_time(to)
                ),
            );
        }
    }
}

/// The posture results: `{checks: [{id, status}]}`, statuses PASS, FAIL or ERROR.
fn check_posture(doc: &Document, r: &mut BundleReport) {
    let Some(text) = part_text(doc, POSTURE) else {
        return;
    };
    let json = serde_json::from_str::<Json>(text).ok();
    let Some(checks) = json.as_ref().and_then(|j| j["checks"].as_array()) else {
        r.fail(
            POSTURE,
            "input",
            "not posture results (`{\"checks\": [...]}`)",
        );
        return;
    };
    let mut counts = (0, 0, 0);
    for (i, c) in checks.iter().enumerate() {
        match c["status"].as_str() {
            Some("PASS") => counts.0 += 1,
            Some("FAIL") => counts.1 += 1,
            Some("ERROR") => counts.2 += 1,
            other => r.fail(
                format!("{POSTURE}[{i}]"),
                "input",
                format!("status {other:?} is not PASS, FAIL or ERROR"),
            ),
        }
    }
    r.posture = Some(counts);
}

/// The keys part names the key the bundle was checked with.
fn check_keys(doc: &Document, key: &str, r: &mut BundleReport) {
    let Some(text) = part_text(doc, KEYS) else {
        return;
    };
    let json = serde_json::from_str::<Json>(text).ok();
    match json.as_ref().and_then(|j| j["ledger"].as_str()) {
        Some(k) if k.trim() == key.trim() => {}
        Some(k) => r.fail(
            KEYS,
            "ledger key",
            format!(
                "the bundle names ledger key {k}, not the key given ({})",
                key.trim()
            ),
        ),
        None => r.fail(KEYS, "input", "no `ledger` verifier key"),
    }
}

/// The readable summary of a revision that query answers carry beside it (`view`): fields of
/// the record or alert, and who, as JSON. The verifier recomputes it from the proved revision,
/// so a `view` that says something the revision does not is caught.
pub fn revision_view(revision: &Element) -> Json {
    let mut view = Map::new();
    let st = revision.as_struct();
    if let Some(meta) = st
        .and_then(|s| s.get("metadata"))
        .and_then(Element::as_struct)
    {
        if let Some(id) = meta.get("id").and_then(Element::as_text) {
            view.insert("documentId".into(), Json::from(id));
        }
        if let Some(v) = meta
            .get("version")
            .and_then(|v| v.as_int())
            .and_then(|i| i.as_i64())
        {
            view.insert("version".into(), Json::from(v));
        }
    }
    let Some(data) = st.and_then(|s| s.get("data")).and_then(Element::as_struct) else {
        return Json::Object(view);
    };
    const FIELDS: [&str; 12] = [
        "eventTime",
        "eventName",
        "eventSource",
        "awsRegion",
        "sourceIPAddress",
        "errorCode",
        "errorMessage",
        "alertId",
        "ruleId",
        "severity",
        "state",
        "raisedAt",
    ];
    for f in FIELDS {
        if let Some(t) = data.get(f).and_then(Element::as_text) {
            view.insert(f.into(), Json::from(t));
        }
    }
    let identity = data.get("userIdentity").and_then(Element::as_struct);
    let who = identity.and_then(|u| {
        u.get("arn")
            .and_then(Element::as_text)
            .map(str::to_owned)
            .or_else(|| {
                let kind = u.get("type").and_then(Element::as_text)?;
                let principal = u
                    .get("principalId")
                    .and_then(Element::as_text)
                    .unwrap_or("-");
                Some(format!("{kind}:{principal}"))
            })
    });
    if let Some(who) = who {
        view.insert("who".into(), Json::from(who));
    }
    if let Some(review) = data.get("review") {
        if let Ok(j) = veritrail_core::json_ion::ion_to_json(review) {
            view.insert("review".into(), j);
        }
    }
    Json::Object(view)
}
