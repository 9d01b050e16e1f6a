//! QLDB's session API, `qldb-session` 2019-07-11, awsJson1_0, one operation: `SendCommand`
//! (`../shared/specs/qldb.md` §5). Values are returned as Ion binary, each a complete stream;
//! the commit digest is checked exactly as the drivers compute it.
//!
//! A session token is 32 bytes from the operating system's random source and belongs to the
//! access key that started the session: another key presenting it gets InvalidSessionException.
//! Idle sessions and open transactions expire on the emulator's clock.

pub mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use veritrail_core::Hash32;
use veritrail_core::ion_input::{IonLimits, read_one};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::time::UtcMillis;
use veritrail_ledger::db::{Database, DbError, Transaction};

pub use error::SessionError;

use crate::env::Env;
use crate::services::qldb::Qldb;
use crate::wire::AwsRequest;
use crate::wire::json::str_member;

/// Values per page of results.
const PAGE_SIZE: usize = 200;
/// QLDB's largest statement, in characters.
const MAX_STATEMENT: usize = 100_000;

/// An open session.
#[derive(Debug)]
pub struct Session {
    pub ledger: String,
    /// The access key that started it (`None` for unsigned requests).
    owner: Option<String>,
    db: Database,
    last_used: UtcMillis,
    transaction: Option<OpenTransaction>,
    pages: u64,
}

#[derive(Debug)]
struct OpenTransaction {
    tx: Transaction,
    /// Remaining values of each result still being paged, by page token.
    pages: HashMap<String, Vec<Element>>,
}

/// The sessions of one emulator.
#[derive(Debug)]
pub struct QldbSessions {
    idle_timeout: Duration,
    sessions: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
}

fn timing(env: &Env, started: UtcMillis) -> Value {
    json!({"ProcessingTimeMilliseconds": (env.now().0 - started.0).max(0)})
}

impl QldbSessions {
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Mutex<Session>>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle_limit(&self) -> i64 {
        i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// Forgets sessions idle past the timeout (run by the emulator's tick).
    pub fn sweep(&self, now: UtcMillis) {
        let limit = self.idle_limit();
        self.sessions().retain(|_, s| {
            s.lock()
                .map(|s| now.0.saturating_sub(s.last_used.0) <= limit)
                .unwrap_or(false)
        });
    }

    /// Whether `SendCommand` `body` commits a transaction that writes (a journal block, synced
    /// to disk) rather than one that only read.
    pub fn commits_writes(&self, body: &Value) -> bool {
        let Some(token) = body.get("SessionToken").and_then(Value::as_str) else {
            return false;
        };
        let Some(session) = self.sessions().get(token).cloned() else {
            return false;
        };
        let session = session.lock().unwrap_or_else(|p| p.into_inner());
        session
            .transaction
            .as_ref()
            .is_some_and(|open| open.tx.writes())
    }

    /// Ends every session on ledger `name` (it is being deleted). Each session is looked at
    /// without the map's lock held, as a request holds its session's lock while it may take
    /// the map's.
    pub fn forget_ledger(&self, name: &str) {
        let all: Vec<(String, Arc<Mutex<Session>>)> = self
            .sessions()
            .iter()
            .map(|(t, s)| (t.clone(), Arc::clone(s)))
            .collect();
        let on_ledger: Vec<String> = all
            .into_iter()
            .filter(|(_, s)| s.lock().map(|s| s.ledger == name).unwrap_or(true))
            .map(|(t, _)| t)
            .collect();
        let gone: Vec<Arc<Mutex<Session>>> = {
            let mut sessions = self.sessions();
            on_ledger
                .iter()
                .filter_map(|t| sessions.remove(t))
                .collect()
        };
        // Dropped after the map's lock is released: closing a ledger may wait for its storage.
        drop(gone);
    }

    /// How many sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.sessions().len()
    }

    /// `SendCommand`: exactly one command, plus `SessionToken` for every command but
    /// StartSession.
    pub fn send_command(
        &self,
        req: &AwsRequest,
        env: &Env,
        qldb: &Qldb,
    ) -> Result<Value, SessionError> {
        let started = env.now();
        let obj = req.json().as_object().ok_or_else(|| {
            SessionError::Serialization("the request body must be a JSON object".into())
        })?;
        let commands: Vec<&String> = obj.keys().filter(|k| *k != "SessionToken").collect();
        let [command] = commands.as_slice() else {
            return Err(SessionError::BadRequest(format!(
                "SendCommand takes exactly one command, got {}",
                commands.len()
            )));
        };
        let args = &obj[command.as_str()];
        if command.as_str() == "StartSession" {
            return self.start_session(req, env, qldb, args, started);
        }
        let token = obj
            .get("SessionToken")
            .and_then(Value::as_str)
            .ok_or_else(|| SessionError::BadRequest(format!("{command} needs a SessionToken")))?;
        let session = self.session(token, req, env, qldb)?;
        let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
        session.last_used = env.now();
        match command.as_str() {
            "StartTransaction" => start_transaction(&mut session, env, started),
            "ExecuteStatement" => {
                let may_write = req
                    .identity
                    .as_ref()
                    .is_none_or(|i| i.role.allows(crate::ops::Access::Write));
                if may_write {
                    execute_statement(&mut session, env, args, started)
                } else {
                    read_only_statement(&mut session, env, args, started, req)
                }
            }
            "FetchPage" => fetch_page(&mut session, env, args, started),
            "CommitTransaction" => commit_transaction(&mut session, env, args, started),
            "AbortTransaction" => {
                session.transaction = None;
                Ok(json!({"AbortTransaction": {"TimingInformation": timing(env, started)}}))
            }
            "EndSession" => {
                session.transaction = None;
                self.sessions().remove(token);
                Ok(json!({"EndSession": {"TimingInformation": timing(env, started)}}))
            }
            other => Err(SessionError::BadRequest(format!("unknown command {other}"))),
        }
    }

    fn session(
        &self,
        token: &str,
        req: &AwsRequest,
        env: &Env,
        qldb: &Qldb,
    ) -> Result<Arc<Mutex<Session>>, SessionError> {
        let mut sessions = self.sessions();
        let invalid =
            || SessionError::InvalidSession("The parameter SessionToken is not valid".into());
        let session = sessions.get(token).cloned().ok_or_else(invalid)?;
        let (idle, owner, ledger) = {
            let s = session.lock().unwrap_or_else(|p| p.into_inner());
            (
                env.now().0.saturating_sub(s.last_used.0),
                s.owner.clone(),
                s.ledger.clone(),
            )
        };
        if owner != req.access_key {
            // Not this client's session: answered exactly as an unknown token.
            return Err(invalid());
        }
        if idle > self.idle_limit() {
            sessions.remove(token);
            return Err(SessionError::InvalidSession(
                "The session has expired: it was idle too long".into(),
            ));
        }
        if qldb.database(&ledger).is_none() {
            sessions.remove(token);
            return Err(SessionError::InvalidSession(format!(
                "The ledger {ledger} of this session was deleted"
            )));
        }
        Ok(session)
    }

    fn start_session(
        &self,
        req: &AwsRequest,
        env: &Env,
        qldb: &Qldb,
        args: &Value,
        started: UtcMillis,
    ) -> Result<Value, SessionError> {
        let name = str_member(args, "LedgerName").ok_or_else(|| {
            SessionError::BadRequest("StartSession.LedgerName is required".into())
        })?;
        let db = qldb.database(name).ok_or_else(|| {
            SessionError::BadRequest(format!("The ledger with name {name} does not exist"))
        })?;
        // Tokens are secrets: random, not derived from anything a client has seen.
        let token = env.token(32).map_err(|e| {
            SessionError::Internal(format!("no randomness for a session token: {}", e.0))
        })?;
        self.sessions().insert(
            token.clone(),
            Arc::new(Mutex::new(Session {
                ledger: name.to_owned(),
                owner: req.access_key.clone(),
                db,
                last_used: env.now(),
                transaction: None,
                pages: 0,
            })),
        );
        Ok(
            json!({"StartSession": {"SessionToken": token, "TimingInformation": timing(env, started)}}),
        )
    }
}

fn start_transaction(
    session: &mut Session,
    env: &Env,
    started: UtcMillis,
) -> Result<Value, SessionError> {
    if session.transaction.is_some() {
        return Err(SessionError::BadRequest(
            "Transaction already open: a session has one open transaction at a time; commit or abort it first".into(),
        ));
    }
    let tx = session.db.begin();
    let id = tx.id().to_owned();
    session.transaction = Some(OpenTransaction {
        tx,
        pages: HashMap::new(),
    });
    Ok(
        json!({"StartTransaction": {"TransactionId": id, "TimingInformation": timing(env, started)}}),
    )
}

fn open_transaction<'s>(
    session: &'s mut Session,
    args: &Value,
    command: &str,
) -> Result<&'s mut OpenTransaction, SessionError> {
    let id = str_member(args, "TransactionId")
        .ok_or_else(|| SessionError::BadRequest(format!("{command}.TransactionId is required")))?;
    let current = session.transaction.as_ref().map(|o| o.tx.id().to_owned());
    match current {
        Some(cur) if cur == id => session.transaction.as_mut().ok_or_else(|| {
            SessionError::InvalidSession(format!("Transaction {id} is not open in this session"))
        }),
        Some(cur) => Err(SessionError::BadRequest(format!(
            "Transaction {id} is not this session's open transaction ({cur})"
        ))),
        None => Err(SessionError::InvalidSession(format!(
            "Transaction {id} is not open in this session"
        ))),
    }
}

/// Maps a database error to what QLDB answers, closing the transaction where QLDB does.
fn db_error(session: &mut Session, e: DbError) -> SessionError {
    match e {
        DbError::OccConflict(m) => {
            session.transaction = None;
            SessionError::OccConflict(m)
        }
        DbError::Expired(id) => {
            session.transaction = None;
            SessionError::InvalidSession(format!("Transaction {id} has expired"))
        }
        DbError::DigestMismatch => SessionError::BadRequest("Digests don't match".into()),
        DbError::LimitExceeded(m) => SessionError::LimitExceeded(m),
        DbError::Ledger(l) => SessionError::Internal(l.to_string()),
        other => SessionError::BadRequest(other.to_string()),
    }
}

/// A statement parameter: `IonBinary` (base64) or `IonText`, read within QLDB's limits.
fn parameter(v: &Value, i: usize) -> Result<Element, SessionError> {
    if let Some(b64) = v.get("IonBinary").and_then(Value::as_str) {
        let bytes = BASE64.decode(b64).map_err(|_| {
            SessionError::BadRequest(format!("Parameters[{i}].IonBinary is not base64"))
        })?;
        return read_one(&bytes, IonLimits::QLDB_PARAMETER_BINARY)
            .map_err(|e| SessionError::BadRequest(format!("Parameters[{i}].IonBinary: {e}")));
    }
    if let Some(text) = v.get("IonText").and_then(Value::as_str) {
        return read_one(text.as_bytes(), IonLimits::QLDB_PARAMETER_TEXT)
            .map_err(|e| SessionError::BadRequest(format!("Parameters[{i}].IonText: {e}")));
    }
    Err(SessionError::BadRequest(format!(
        "Parameters[{i}] must hold IonBinary or IonText"
    )))
}

fn page(
    values: Vec<Element>,
    open: &mut OpenTransaction,
    token: String,
) -> Result<Value, SessionError> {
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
                .map_err(|e| SessionError::Internal(format!("cannot encode a result: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut page = Map::new();
    page.insert("Values".into(), Value::Array(encoded));
    if !rest.is_empty() {
        page.insert("NextPageToken".into(), json!(token));
        open.pages.insert(token, rest);
    }
    Ok(Value::Object(page))
}

fn next_page_token(session: &mut Session) -> String {
    session.pages += 1;
    format!("page{:020}", session.pages)
}

fn execute_statement(
    session: &mut Session,
    env: &Env,
    args: &Value,
    started: UtcMillis,
) -> Result<Value, SessionError> {
    let statement = str_member(args, "Statement")
        .ok_or_else(|| SessionError::BadRequest("ExecuteStatement.Statement is required".into()))?
        .to_owned();
    if statement.chars().count() > MAX_STATEMENT {
        return Err(SessionError::BadRequest(format!(
            "a statement is at most {MAX_STATEMENT} characters"
        )));
    }
    let params: Vec<Element> = match args.get("Parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parameter(v, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(SessionError::BadRequest("Parameters must be a list".into())),
    };
    let token = next_page_token(session);
    let open = open_transaction(session, args, "ExecuteStatement")?;
    match open.tx.execute(&statement, &params) {
        Ok(values) => {
            let reads = values.len() as u64;
            let first = page(values, open, token)?;
            Ok(json!({"ExecuteStatement": {
                "FirstPage": first,
                "TimingInformation": timing(env, started),
                "ConsumedIOs": {"ReadIOs": reads, "WriteIOs": 0},
            }}))
        }
        Err(e) => Err(db_error(session, e)),
    }
}

/// An ExecuteStatement of a caller whose role may not write: a statement that writes ends the
/// transaction (nothing of it is committed) and is refused.
fn read_only_statement(
    session: &mut Session,
    env: &Env,
    args: &Value,
    started: UtcMillis,
    req: &AwsRequest,
) -> Result<Value, SessionError> {
    let answer = execute_statement(session, env, args, started)?;
    let wrote = session
        .transaction
        .as_ref()
        .is_some_and(|open| open.tx.writes());
    if !wrote {
        return Ok(answer);
    }
    session.transaction = None;
    let who = req
        .identity
        .as_ref()
        .map_or("the caller", |i| i.principal.arn.as_str());
    Err(SessionError::AccessDenied(format!(
        "User: {who} is not authorized to perform: qldb:PartiQLUpdate (its role may only read): the statement writes, so its transaction was ended and nothing was committed"
    )))
}

fn fetch_page(
    session: &mut Session,
    env: &Env,
    args: &Value,
    started: UtcMillis,
) -> Result<Value, SessionError> {
    let token = str_member(args, "NextPageToken")
        .ok_or_else(|| SessionError::BadRequest("FetchPage.NextPageToken is required".into()))?
        .to_owned();
    let next = next_page_token(session);
    let open = open_transaction(session, args, "FetchPage")?;
    let values = open.pages.remove(&token).ok_or_else(|| {
        SessionError::BadRequest(format!(
            "NextPageToken {token} is not valid in this transaction"
        ))
    })?;
    let p = page(values, open, next)?;
    Ok(
        json!({"FetchPage": {"Page": p, "TimingInformation": timing(env, started), "ConsumedIOs": {"ReadIOs": 0, "WriteIOs": 0}}}),
    )
}

fn commit_transaction(
    session: &mut Session,
    env: &Env,
    args: &Value,
    started: UtcMillis,
) -> Result<Value, SessionError> {
    let digest_text = str_member(args, "CommitDigest").ok_or_else(|| {
        SessionError::BadRequest("CommitTransaction.CommitDigest is required".into())
    })?;
    let digest = BASE64
        .decode(digest_text)
        .ok()
        .and_then(|b| Hash32::from_slice(&b).ok())
        .ok_or_else(|| SessionError::BadRequest("CommitDigest must be 32 bytes, base64".into()))?;
    let open = open_transaction(session, args, "CommitTransaction")?;
    match open.tx.commit(Some(&digest)) {
        Ok(info) => {
            session.transaction = None;
            Ok(json!({"CommitTransaction": {
                "TransactionId": info.transaction_id,
                "CommitDigest": BASE64.encode(info.commit_digest.as_bytes()),
                "TimingInformation": timing(env, started),
                "ConsumedIOs": {"ReadIOs": 0, "WriteIOs": if info.sequence_no.is_some() { 1 } else { 0 }},
            }}))
        }
        Err(DbError::DigestMismatch) => {
            session.transaction = None;
            Err(SessionError::BadRequest("Digests don't match".into()))
        }
        Err(e) => Err(db_error(session, e)),
    }
}
