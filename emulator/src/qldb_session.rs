//! QLDB's session API, `qldb-session` 2019-07-11, awsJson1_0, one operation: `SendCommand`
//! (`../shared/specs/qldb.md` §5). Values are returned as Ion binary, each a complete stream;
//! the commit digest is checked exactly as the drivers compute it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use veritrail_core::Hash32;
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_ledger::db::{Database, DbError, Transaction};

use crate::Emulator;
use crate::error::AwsError;

/// Values per page of results.
const PAGE_SIZE: usize = 200;

/// An open session.
#[derive(Debug)]
pub struct Session {
    pub ledger: String,
    db: Database,
    last_used: Instant,
    transaction: Option<OpenTransaction>,
}

#[derive(Debug)]
struct OpenTransaction {
    tx: Transaction,
    /// Remaining values of each result still being paged, by page token.
    pages: HashMap<String, Vec<Element>>,
}

fn timing(started: Instant) -> Value {
    json!({"ProcessingTimeMilliseconds": started.elapsed().as_millis() as u64})
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

fn str_member<'a>(v: &'a Value, name: &str, command: &str) -> Result<&'a str, AwsError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::bad_request(format!("{command}.{name} is required")))
}

/// `SendCommand`: exactly one command, plus `SessionToken` for every command but StartSession.
pub fn send_command(emulator: &Emulator, body: &[u8]) -> Response {
    let started = Instant::now();
    let result = (|| -> Result<Value, AwsError> {
        let request: Value = serde_json::from_slice(body).map_err(|e| {
            AwsError::serialization(format!("the request body is not valid JSON: {e}"))
        })?;
        let obj = request
            .as_object()
            .ok_or_else(|| AwsError::serialization("the request body must be a JSON object"))?;
        let commands: Vec<&String> = obj.keys().filter(|k| *k != "SessionToken").collect();
        let [command] = commands.as_slice() else {
            return Err(AwsError::bad_request(format!(
                "SendCommand takes exactly one command, got {}",
                commands.len()
            )));
        };
        let args = &obj[command.as_str()];
        if command.as_str() == "StartSession" {
            return start_session(emulator, args, started);
        }
        let token = obj
            .get("SessionToken")
            .and_then(Value::as_str)
            .ok_or_else(|| AwsError::bad_request(format!("{command} needs a SessionToken")))?;
        let session = session(emulator, token)?;
        let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
        session.last_used = Instant::now();
        match command.as_str() {
            "StartTransaction" => start_transaction(&mut session, started),
            "ExecuteStatement" => execute_statement(emulator, &mut session, args, started),
            "FetchPage" => fetch_page(&mut session, args, started),
            "CommitTransaction" => commit_transaction(&mut session, args, started),
            "AbortTransaction" => {
                session.transaction = None;
                Ok(json!({"AbortTransaction": {"TimingInformation": timing(started)}}))
            }
            "EndSession" => {
                session.transaction = None;
                emulator.sessions().remove(token);
                Ok(json!({"EndSession": {"TimingInformation": timing(started)}}))
            }
            other => Err(AwsError::bad_request(format!("unknown command {other}"))),
        }
    })();
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

fn session(emulator: &Emulator, token: &str) -> Result<Arc<Mutex<Session>>, AwsError> {
    let mut sessions = emulator.sessions();
    let session = sessions
        .get(token)
        .cloned()
        .ok_or_else(|| AwsError::invalid_session("The parameter SessionToken is not valid"))?;
    let idle = session
        .lock()
        .map(|s| s.last_used.elapsed())
        .unwrap_or_default();
    if idle > emulator.config.session_idle_timeout {
        sessions.remove(token);
        return Err(AwsError::invalid_session(
            "The session has expired: it was idle too long",
        ));
    }
    Ok(session)
}

fn start_session(emulator: &Emulator, args: &Value, started: Instant) -> Result<Value, AwsError> {
    let name = str_member(args, "LedgerName", "StartSession")?;
    let db = {
        let ledgers = emulator.ledgers();
        let entry = ledgers.get(name).ok_or_else(|| {
            AwsError::bad_request(format!("The ledger with name {name} does not exist"))
        })?;
        entry.db.clone()
    };
    // Session tokens are opaque to clients: [A-Za-z0-9+/=-], 4..1024 characters.
    let token = format!("{}{}", emulator.new_id(), emulator.new_id());
    emulator.sessions().insert(
        token.clone(),
        Arc::new(Mutex::new(Session {
            ledger: name.to_owned(),
            db,
            last_used: Instant::now(),
            transaction: None,
        })),
    );
    Ok(json!({"StartSession": {"SessionToken": token, "TimingInformation": timing(started)}}))
}

fn start_transaction(session: &mut Session, started: Instant) -> Result<Value, AwsError> {
    if session.transaction.is_some() {
        return Err(AwsError::bad_request(
            "Transaction already open: a session has one open transaction at a time; commit or abort it first",
        ));
    }
    let tx = session.db.begin();
    let id = tx.id().to_owned();
    session.transaction = Some(OpenTransaction {
        tx,
        pages: HashMap::new(),
    });
    Ok(json!({"StartTransaction": {"TransactionId": id, "TimingInformation": timing(started)}}))
}

fn open_transaction<'s>(
    session: &'s mut Session,
    args: &Value,
    command: &str,
) -> Result<&'s mut OpenTransaction, AwsError> {
    let id = str_member(args, "TransactionId", command)?;
    let current = session.transaction.as_ref().map(|o| o.tx.id().to_owned());
    match current {
        Some(cur) if cur == id => session.transaction.as_mut().ok_or_else(|| {
            AwsError::invalid_session(format!("Transaction {id} is not open in this session"))
        }),
        Some(cur) => Err(AwsError::bad_request(format!(
            "Transaction {id} is not this session's open transaction ({cur})"
        ))),
        None => Err(AwsError::invalid_session(format!(
            "Transaction {id} is not open in this session"
        ))),
    }
}

/// Maps a database error to what QLDB answers, closing the transaction where QLDB does.
fn db_error(session: &mut Session, e: DbError) -> AwsError {
    match e {
        DbError::OccConflict(m) => {
            session.transaction = None;
            AwsError::new(StatusCode::BAD_REQUEST, "OccConflictException", m)
        }
        DbError::Expired(id) => {
            session.transaction = None;
            AwsError::invalid_session(format!("Transaction {id} has expired"))
        }
        DbError::DigestMismatch => AwsError::bad_request("Digests don't match"),
        DbError::LimitExceeded(m) => {
            AwsError::new(StatusCode::BAD_REQUEST, "LimitExceededException", m)
        }
        DbError::Ledger(l) => AwsError::internal(l.to_string()),
        other => AwsError::bad_request(other.to_string()),
    }
}

fn parameter(v: &Value, i: usize) -> Result<Element, AwsError> {
    if let Some(b64) = v.get("IonBinary").and_then(Value::as_str) {
        let bytes = BASE64.decode(b64).map_err(|_| {
            AwsError::bad_request(format!("Parameters[{i}].IonBinary is not base64"))
        })?;
        return Element::read_one(&bytes).map_err(|e| {
            AwsError::bad_request(format!(
                "Parameters[{i}].IonBinary is not one Ion value: {e}"
            ))
        });
    }
    if let Some(text) = v.get("IonText").and_then(Value::as_str) {
        return Element::read_one(text.as_bytes()).map_err(|e| {
            AwsError::bad_request(format!("Parameters[{i}].IonText is not one Ion value: {e}"))
        });
    }
    Err(AwsError::bad_request(format!(
        "Parameters[{i}] must hold IonBinary or IonText"
    )))
}

fn page(
    values: Vec<Element>,
    open: &mut OpenTransaction,
    token: String,
) -> Result<Value, AwsError> {
    let mut values = values;
    let rest = if values.len() > PAGE_SIZE {
        values.split_off(PAGE_SIZE)
    } else {
        Vec::new()
    };
    let encoded: Vec<Value> = values
        .iter()
        .map(|v| {
            v.encode_as(v1_0::Binary)
                .map(|b| json!({"IonBinary": BASE64.encode(b)}))
                .map_err(|e| AwsError::internal(format!("cannot encode a result: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut page = json!({"Values": encoded});
    if !rest.is_empty() {
        page["NextPageToken"] = json!(token);
        open.pages.insert(token, rest);
    }
    Ok(page)
}

fn execute_statement(
    emulator: &Emulator,
    session: &mut Session,
    args: &Value,
    started: Instant,
) -> Result<Value, AwsError> {
    let statement = str_member(args, "Statement", "ExecuteStatement")?.to_owned();
    if statement.chars().count() > 100_000 {
        return Err(AwsError::bad_request(
            "a statement is at most 100,000 characters",
        ));
    }
    let params: Vec<Element> = match args.get("Parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parameter(v, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(AwsError::bad_request("Parameters must be a list")),
    };
    let open = open_transaction(session, args, "ExecuteStatement")?;
    let result = open.tx.execute(&statement, &params);
    match result {
        Ok(values) => {
            let reads = values.len() as u64;
            let open = open_transaction(session, args, "ExecuteStatement")?;
            let first = page(values, open, emulator.new_id())?;
            Ok(json!({"ExecuteStatement": {
                "FirstPage": first,
                "TimingInformation": timing(started),
                "ConsumedIOs": {"ReadIOs": reads, "WriteIOs": 0},
            }}))
        }
        Err(e) => Err(db_error(session, e)),
    }
}

fn fetch_page(session: &mut Session, args: &Value, started: Instant) -> Result<Value, AwsError> {
    let token = str_member(args, "NextPageToken", "FetchPage")?.to_owned();
    let open = open_transaction(session, args, "FetchPage")?;
    let values = open.pages.remove(&token).ok_or_else(|| {
        AwsError::bad_request(format!(
            "NextPageToken {token} is not valid in this transaction"
        ))
    })?;
    let next = format!("{token}x");
    let p = page(values, open, next)?;
    Ok(
        json!({"FetchPage": {"Page": p, "TimingInformation": timing(started), "ConsumedIOs": {"ReadIOs": 0, "WriteIOs": 0}}}),
    )
}

fn commit_transaction(
    session: &mut Session,
    args: &Value,
    started: Instant,
) -> Result<Value, AwsError> {
    let digest_text = str_member(args, "CommitDigest", "CommitTransaction")?;
    let digest = BASE64
        .decode(digest_text)
        .ok()
        .and_then(|b| Hash32::from_slice(&b).ok())
        .ok_or_else(|| AwsError::bad_request("CommitDigest must be 32 bytes, base64"))?;
    let open = open_transaction(session, args, "CommitTransaction")?;
    let result = open.tx.commit(Some(&digest));
    match result {
        Ok(info) => {
            session.transaction = None;
            Ok(json!({"CommitTransaction": {
                "TransactionId": info.transaction_id,
                "CommitDigest": BASE64.encode(info.commit_digest.as_bytes()),
                "TimingInformation": timing(started),
                "ConsumedIOs": {"ReadIOs": 0, "WriteIOs": if info.sequence_no.is_some() { 1 } else { 0 }},
            }}))
        }
        Err(DbError::DigestMismatch) => {
            session.transaction = None;
            Err(AwsError::bad_request("Digests don't match"))
        }
        Err(e) => Err(db_error(session, e)),
    }
}
