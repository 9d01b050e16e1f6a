//! QLDB's control plane, `qldb` 2019-01-02, rest-json (`../shared/specs/qldb.md` §4): ledgers
//! with their states, deletion protection, permissions mode and tags, and GetDigest, GetBlock
//! and GetRevision over the veritrail ledger. Handlers are named after the AWS operations.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use veritrail_core::ion_rs::Element;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::journal::{is_valid_ledger_name, proof_ion_text};
use veritrail_ledger::{Ledger, LedgerError, LedgerOptions};

use crate::error::AwsError;
use crate::{ACCOUNT_ID, Emulator, LedgerEntry};

/// Control-plane settings of a ledger, kept beside its journal as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub permissions_mode: String,
    pub deletion_protection: bool,
    pub kms_key: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Epoch seconds.
    pub created: f64,
    pub region: String,
}

impl Settings {
    fn to_json(&self) -> Value {
        json!({
            "permissionsMode": self.permissions_mode,
            "deletionProtection": self.deletion_protection,
            "kmsKey": self.kms_key,
            "tags": self.tags,
            "created": self.created,
            "region": self.region,
        })
    }

    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            permissions_mode: v.get("permissionsMode")?.as_str()?.to_owned(),
            deletion_protection: v.get("deletionProtection")?.as_bool()?,
            kms_key: v.get("kmsKey").and_then(Value::as_str).map(str::to_owned),
            tags: v
                .get("tags")?
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
            created: v.get("created")?.as_f64()?,
            region: v
                .get("region")
                .and_then(Value::as_str)
                .unwrap_or("us-east-1")
                .to_owned(),
        })
    }
}

fn paths(emulator: &Emulator, name: &str) -> (PathBuf, PathBuf) {
    let dir = emulator.config.data_dir.join("ledgers");
    (
        dir.join(format!("{name}.ledger")),
        dir.join(format!("{name}.json")),
    )
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:qldb:{region}:{ACCOUNT_ID}:ledger/{name}")
}

fn database(emulator: &Emulator, ledger: Ledger) -> Database {
    Database::new(
        ledger,
        DatabaseOptions {
            transaction_timeout: emulator.config.transaction_timeout,
            strict_limits: true,
        },
    )
}

/// Opens the ledgers already in the data directory.
pub fn load_ledgers(emulator: &Emulator) -> Result<(), String> {
    let dir = emulator.config.data_dir.join("ledgers");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        let (journal, _) = paths(emulator, &name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let settings = serde_json::from_str::<Value>(&text)
            .ok()
            .as_ref()
            .and_then(Settings::from_json)
            .ok_or_else(|| format!("{}: not a ledger settings file", path.display()))?;
        let ledger = Ledger::open(&journal, LedgerOptions::default())
            .map_err(|e| format!("{}: {e}", journal.display()))?;
        let entry = LedgerEntry {
            arn: arn(&settings.region, &name),
            name: name.clone(),
            db: database(emulator, ledger),
            settings,
            described: true,
        };
        emulator.ledgers().insert(name, entry);
    }
    Ok(())
}

fn save(emulator: &Emulator, entry: &LedgerEntry) -> Result<(), AwsError> {
    let (_, settings) = paths(emulator, &entry.name);
    std::fs::write(&settings, entry.settings.to_json().to_string())
        .map_err(|e| AwsError::internal(format!("cannot save the ledger settings: {e}")))
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(&v.replace('+', " ")))
        .collect()
}

fn body_json(body: &[u8]) -> Result<Value, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| AwsError::serialization(format!("the request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(AwsError::serialization(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// The AWS operation a rest-json request is, and the ledger it names (for CloudTrail records).
pub fn operation_name(method: &Method, path: &str) -> (&'static str, Option<String>) {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let name = segs.get(1).cloned();
    let op = match (
        method.as_str(),
        segs.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        ("POST", ["ledgers"]) => "CreateLedger",
        ("GET", ["ledgers"]) => "ListLedgers",
        ("GET", ["ledgers", _]) => "DescribeLedger",
        ("PATCH", ["ledgers", _]) => "UpdateLedger",
        ("DELETE", ["ledgers", _]) => "DeleteLedger",
        ("PATCH", ["ledgers", _, "permissions-mode"]) => "UpdateLedgerPermissionsMode",
        ("POST", ["ledgers", _, "digest"]) => "GetDigest",
        ("POST", ["ledgers", _, "block"]) => "GetBlock",
        ("POST", ["ledgers", _, "revision"]) => "GetRevision",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        _ => "Unknown",
    };
    (op, name)
}

/// Routes a rest-json request to its operation.
pub fn route(
    emulator: &Emulator,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
    region: &str,
) -> Response {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (method.as_str(), segs.as_slice()) {
        ("POST", ["ledgers"]) => body_json(body).and_then(|b| create_ledger(emulator, &b, region)),
        ("GET", ["ledgers"]) => list_ledgers(emulator, query),
        ("GET", ["ledgers", name]) => describe_ledger(emulator, name),
        ("PATCH", ["ledgers", name]) => {
            body_json(body).and_then(|b| update_ledger(emulator, name, &b))
        }
        ("DELETE", ["ledgers", name]) => delete_ledger(emulator, name),
        ("PATCH", ["ledgers", name, "permissions-mode"]) => {
            body_json(body).and_then(|b| update_ledger_permissions_mode(emulator, name, &b))
        }
        ("POST", ["ledgers", name, "digest"]) => {
            body_json(body).and_then(|_| get_digest(emulator, name))
        }
        ("POST", ["ledgers", name, "block"]) => {
            body_json(body).and_then(|b| get_block(emulator, name, &b))
        }
        ("POST", ["ledgers", name, "revision"]) => {
            body_json(body).and_then(|b| get_revision(emulator, name, &b))
        }
        ("POST", ["tags", resource @ ..]) => {
            body_json(body).and_then(|b| tag_resource(emulator, &resource.join("/"), &b))
        }
        ("DELETE", ["tags", resource @ ..]) => untag_resource(emulator, &resource.join("/"), query),
        ("GET", ["tags", resource @ ..]) => list_tags_for_resource(emulator, &resource.join("/")),
        (_, ["ledgers", _, "journal-s3-exports", ..]) | (_, ["journal-s3-exports", ..]) => Err(
            AwsError::unknown_operation("QLDB journal S3 exports (they come with the S3 emulator)"),
        ),
        (_, ["ledgers", _, "journal-kinesis-streams", ..]) => {
            Err(AwsError::unknown_operation("QLDB journal Kinesis streams"))
        }
        _ => Err(AwsError::unknown_operation(&format!("{method} {path}"))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn describe(entry: &LedgerEntry, with_permissions: bool) -> Value {
    let mut v = json!({
        "Name": entry.name,
        "Arn": entry.arn,
        "State": if entry.described { "ACTIVE" } else { "CREATING" },
        "CreationDateTime": entry.settings.created,
        "DeletionProtection": entry.settings.deletion_protection,
        "EncryptionDescription": {
            "KmsKeyArn": entry.settings.kms_key.clone().unwrap_or_else(|| "AWS_OWNED_KMS_KEY".into()),
            "EncryptionStatus": "ENABLED",
        },
    });
    if with_permissions {
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "PermissionsMode".into(),
                json!(entry.settings.permissions_mode),
            );
        }
    }
    v
}

fn permissions_mode(body: &Value, required: bool) -> Result<Option<String>, AwsError> {
    match body.get("PermissionsMode") {
        None if required => Err(AwsError::invalid_parameter(
            "PermissionsMode",
            "PermissionsMode is required: ALLOW_ALL or STANDARD",
        )),
        None => Ok(None),
        Some(Value::String(m)) if m == "ALLOW_ALL" || m == "STANDARD" => Ok(Some(m.clone())),
        Some(other) => Err(AwsError::invalid_parameter(
            "PermissionsMode",
            format!("PermissionsMode must be ALLOW_ALL or STANDARD, not {other}"),
        )),
    }
}

fn tags_of(body: &Value) -> Result<BTreeMap<String, String>, AwsError> {
    match body.get("Tags") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => {
            if m.len() > 50 {
                return Err(AwsError::invalid_parameter(
                    "Tags",
                    "a resource has at most 50 tags",
                ));
            }
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Null => Ok((k.clone(), String::new())),
                    _ => Err(AwsError::invalid_parameter(
                        "Tags",
                        format!("the value of tag {k} must be a string"),
                    )),
                })
                .collect()
        }
        Some(_) => Err(AwsError::invalid_parameter(
            "Tags",
            "Tags must be a map of strings",
        )),
    }
}

fn create_ledger(emulator: &Emulator, body: &Value, region: &str) -> Result<Response, AwsError> {
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::invalid_parameter("Name", "Name is required"))?;
    if !is_valid_ledger_name(name) {
        return Err(AwsError::invalid_parameter(
            "Name",
            format!(
                "{name} is not a valid ledger name: 1 to 32 letters, digits and hyphens, not all digits, no leading, trailing or double hyphen"
            ),
        ));
    }
    let permissions = permissions_mode(body, true)?.unwrap_or_default();
    let deletion_protection = match body.get("DeletionProtection") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AwsError::invalid_parameter(
                "DeletionProtection",
                "DeletionProtection must be a boolean",
            ));
        }
    };
    let tags = tags_of(body)?;
    let mut ledgers = emulator.ledgers();
    if ledgers.contains_key(name) {
        return Err(AwsError::new(
            StatusCode::CONFLICT,
            "ResourceAlreadyExistsException",
            format!("The ledger with name {name} already exists"),
        )
        .with("ResourceType", "LEDGER")
        .with("ResourceName", name));
    }
    let (journal, _) = paths(emulator, name);
    // A journal left by a deleted ledger of the same name is gone with it.
    let _ = std::fs::remove_file(&journal);
    let ledger = Ledger::create(&journal, name, LedgerOptions::default())
        .map_err(|e| AwsError::internal(e.to_string()))?;
    let entry = LedgerEntry {
        name: name.to_owned(),
        arn: arn(region, name),
        db: database(emulator, ledger),
        settings: Settings {
            permissions_mode: permissions,
            deletion_protection,
            kms_key: body
                .get("KmsKey")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tags,
            created: now_seconds(),
            region: region.to_owned(),
        },
        described: false,
    };
    save(emulator, &entry)?;
    let mut response = describe(&entry, true);
    if let Some(o) = response.as_object_mut() {
        o.remove("EncryptionDescription");
        o.insert(
            "KmsKeyArn".into(),
            json!(
                entry
                    .settings
                    .kms_key
                    .clone()
                    .unwrap_or_else(|| "AWS_OWNED_KMS_KEY".into())
            ),
        );
    }
    ledgers.insert(name.to_owned(), entry);
    Ok(ok(response))
}

fn describe_ledger(emulator: &Emulator, name: &str) -> Result<Response, AwsError> {
    let mut ledgers = emulator.ledgers();
    let entry = ledgers
        .get_mut(name)
        .ok_or_else(|| AwsError::ledger_not_found(name))?;
    let response = describe(entry, true);
    entry.described = true;
    Ok(ok(response))
}

fn list_ledgers(emulator: &Emulator, query: &str) -> Result<Response, AwsError> {
    let max = match query_values(query, "max_results").first() {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(AwsError::invalid_parameter(
                    "MaxResults",
                    "MaxResults must be 1 to 100",
                ));
            }
        },
    };
    let start = query_values(query, "next_token").first().cloned();
    let ledgers = emulator.ledgers();
    let names: Vec<&LedgerEntry> = ledgers
        .values()
        .filter(|e| start.as_ref().is_none_or(|s| e.name.as_str() > s.as_str()))
        .collect();
    let page: Vec<Value> = names
        .iter()
        .take(max)
        .map(|e| json!({"Name": e.name, "State": if e.described { "ACTIVE" } else { "CREATING" }, "CreationDateTime": e.settings.created}))
        .collect();
    let mut body = json!({"Ledgers": page});
    if names.len() > max {
        if let (Some(o), Some(last)) = (body.as_object_mut(), names.get(max - 1)) {
            o.insert("NextToken".into(), json!(last.name));
        }
    }
    Ok(ok(body))
}

fn update_ledger(emulator: &Emulator, name: &str, body: &Value) -> Result<Response, AwsError> {
    let mut ledgers = emulator.ledgers();
    let entry = ledgers
        .get_mut(name)
        .ok_or_else(|| AwsError::ledger_not_found(name))?;
    match body.get("DeletionProtection") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => entry.settings.deletion_protection = *b,
        Some(_) => {
            return Err(AwsError::invalid_parameter(
                "DeletionProtection",
                "DeletionProtection must be a boolean",
            ));
        }
    }
    if let Some(k) = body.get("KmsKey").and_then(Value::as_str) {
        entry.settings.kms_key = if k == "AWS_OWNED_KMS_KEY" {
            None
        } else {
            Some(k.to_owned())
        };
    }
    save(emulator, entry)?;
    entry.described = true;
    Ok(ok(describe(entry, false)))
}

fn update_ledger_permissions_mode(
    emulator: &Emulator,
    name: &str,
    body: &Value,
) -> Result<Response, AwsError> {
    let mode = permissions_mode(body, true)?.unwrap_or_default();
    let mut ledgers = emulator.ledgers();
    let entry = ledgers
        .get_mut(name)
        .ok_or_else(|| AwsError::ledger_not_found(name))?;
    entry.settings.permissions_mode = mode;
    save(emulator, entry)?;
    Ok(ok(
        json!({"Name": entry.name, "Arn": entry.arn, "PermissionsMode": entry.settings.permissions_mode}),
    ))
}

fn delete_ledger(emulator: &Emulator, name: &str) -> Result<Response, AwsError> {
    let mut ledgers = emulator.ledgers();
    let entry = ledgers
        .get(name)
        .ok_or_else(|| AwsError::ledger_not_found(name))?;
    if entry.settings.deletion_protection {
        return Err(AwsError::new(
            StatusCode::PRECONDITION_FAILED,
            "ResourcePreconditionNotMetException",
            format!("Preventing deletion of ledger {name} because deletion protection is enabled. Disable deletion protection using UpdateLedger first."),
        )
        .with("ResourceType", "LEDGER")
        .with("ResourceName", name));
    }
    ledgers.remove(name);
    drop(ledgers);
    emulator
        .sessions()
        .retain(|_, s| s.lock().map(|s| s.ledger != name).unwrap_or(false));
    let (journal, settings) = paths(emulator, name);
    for p in [
        settings,
        journal.clone(),
        journal.with_extension("ledger-wal"),
        journal.with_extension("ledger-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
    Ok((StatusCode::OK, [("content-type", "application/json")], "").into_response())
}

fn database_of(emulator: &Emulator, name: &str) -> Result<Database, AwsError> {
    let ledgers = emulator.ledgers();
    let entry = ledgers
        .get(name)
        .ok_or_else(|| AwsError::ledger_not_found(name))?;
    Ok(entry.db.clone())
}

fn ledger_error(parameter: &str, e: LedgerError) -> AwsError {
    match e {
        LedgerError::Storage(_) => AwsError::internal(e.to_string()),
        other => AwsError::invalid_parameter(parameter, other.to_string()),
    }
}

fn get_digest(emulator: &Emulator, name: &str) -> Result<Response, AwsError> {
    let db = database_of(emulator, name)?;
    let digest = db.ledger().digest().map_err(|e| ledger_error("Name", e))?;
    Ok(ok(
        json!({"Digest": digest.digest.to_base64(), "DigestTipAddress": {"IonText": digest.tip_ion_text()}}),
    ))
}

/// Reads a `{"IonText": "{strandId:…,sequenceNo:N}"}` member.
fn address(body: &Value, member: &str, strand: &str) -> Result<Option<u64>, AwsError> {
    let Some(holder) = body.get(member) else {
        return Ok(None);
    };
    let text = holder
        .get("IonText")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            AwsError::invalid_parameter(
                member,
                format!("{member} must be {{\"IonText\": \"{{strandId:…,sequenceNo:…}}\"}}"),
            )
        })?;
    let value = Element::read_one(text.as_bytes()).map_err(|e| {
        AwsError::invalid_parameter(member, format!("{member}.IonText is not valid Ion: {e}"))
    })?;
    let st = value.as_struct().ok_or_else(|| {
        AwsError::invalid_parameter(
            member,
            format!("{member} must be a struct with strandId and sequenceNo"),
        )
    })?;
    let given = st
        .get("strandId")
        .and_then(Element::as_text)
        .ok_or_else(|| AwsError::invalid_parameter(member, format!("{member} has no strandId")))?;
    if given != strand {
        return Err(AwsError::invalid_parameter(
            member,
            format!("{member} names strand {given}, but the ledger's strand is {strand}"),
        ));
    }
    let seq = st
        .get("sequenceNo")
        .and_then(Element::as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            AwsError::invalid_parameter(member, format!("{member} has no non-negative sequenceNo"))
        })?;
    Ok(Some(seq))
}

fn get_block(emulator: &Emulator, name: &str, body: &Value) -> Result<Response, AwsError> {
    let db = database_of(emulator, name)?;
    let ledger = db.ledger();
    let strand = ledger.strand_id().to_owned();
    let seq = address(body, "BlockAddress", &strand)?
        .ok_or_else(|| AwsError::invalid_parameter("BlockAddress", "BlockAddress is required"))?;
    let tip = address(body, "DigestTipAddress", &strand)?;
    let mut out = json!({});
    match tip {
        Some(t) => {
            let b = ledger
                .block(seq, Some(t))
                .map_err(|e| ledger_error("BlockAddress", e))?;
            out["Block"] = json!({"IonText": b.value.to_string()});
            out["Proof"] = json!({"IonText": proof_ion_text(&b.proof)});
        }
        None => {
            let b = ledger
                .block_element(seq)
                .map_err(|e| ledger_error("BlockAddress", e))?;
            out["Block"] = json!({"IonText": b.to_string()});
        }
    }
    Ok(ok(out))
}

fn get_revision(emulator: &Emulator, name: &str, body: &Value) -> Result<Response, AwsError> {
    let db = database_of(emulator, name)?;
    let ledger = db.ledger();
    let strand = ledger.strand_id().to_owned();
    let seq = address(body, "BlockAddress", &strand)?
        .ok_or_else(|| AwsError::invalid_parameter("BlockAddress", "BlockAddress is required"))?;
    let document_id = body
        .get("DocumentId")
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::invalid_parameter("DocumentId", "DocumentId is required"))?;
    let tip = address(body, "DigestTipAddress", &strand)?;
    let r = ledger
        .revision(seq, document_id, tip)
        .map_err(|e| ledger_error("DocumentId", e))?;
    let mut out = json!({"Revision": {"IonText": r.value.to_string()}});
    if tip.is_some() {
        out["Proof"] = json!({"IonText": proof_ion_text(&r.proof)});
    }
    Ok(ok(out))
}

fn entry_by_arn<'a>(
    ledgers: &'a mut BTreeMap<String, LedgerEntry>,
    arn: &str,
) -> Result<&'a mut LedgerEntry, AwsError> {
    ledgers.values_mut().find(|e| e.arn == arn).ok_or_else(|| {
        AwsError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("The resource {arn} does not exist"),
        )
        .with("ResourceType", "LEDGER")
        .with("ResourceName", arn)
    })
}

fn tag_resource(emulator: &Emulator, arn: &str, body: &Value) -> Result<Response, AwsError> {
    let tags = tags_of(body)?;
    let mut ledgers = emulator.ledgers();
    let entry = entry_by_arn(&mut ledgers, arn)?;
    entry.settings.tags.extend(tags);
    if entry.settings.tags.len() > 50 {
        return Err(AwsError::invalid_parameter(
            "Tags",
            "a resource has at most 50 tags",
        ));
    }
    save(emulator, entry)?;
    Ok(ok(json!({})))
}

fn untag_resource(emulator: &Emulator, arn: &str, query: &str) -> Result<Response, AwsError> {
    let keys = query_values(query, "tagKeys");
    let mut ledgers = emulator.ledgers();
    let entry = entry_by_arn(&mut ledgers, arn)?;
    for k in keys {
        entry.settings.tags.remove(&k);
    }
    save(emulator, entry)?;
    Ok(ok(json!({})))
}

fn list_tags_for_resource(emulator: &Emulator, arn: &str) -> Result<Response, AwsError> {
    let mut ledgers = emulator.ledgers();
    let entry = entry_by_arn(&mut ledgers, arn)?;
    Ok(ok(json!({"Tags": entry.settings.tags})))
}
