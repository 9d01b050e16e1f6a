//! Tables, documents and PartiQL transactions over the journal, as QLDB runs them: every
//! committed transaction is one journal block, and transactions are serializable in commit
//! order by optimistic concurrency control (`../shared/specs/qldb.md` §5.3).
//!
//! Every read path (full scan, index lookup, document by id, `BY`, joins, the committed view,
//! `history()`, `information_schema`, COUNT, the WHERE of UPDATE/DELETE/`FROM …`) reads under
//! one lock of the ledger and records what it read ([`occ::Read`]); the commit validates all of
//! it under the lock it writes with. A full scan conflicts with any write to the table since; an
//! index lookup with any change to the set of matching documents (an insert that would match
//! included); a document read or written with any newer revision of it.
//!
//! Documents and parameters are checked before anything recursive runs over them
//! ([`crate::limits`]): nesting always, QLDB's size and count limits in strict mode.

mod occ;
mod paths;
mod source;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use veritrail_core::Hash32;
use veritrail_core::id::IdSource;
use veritrail_core::ion_rs::{Element, IonType, Value, v1_0};
use veritrail_core::qldb::CommitDigest;
use veritrail_core::time::{Clock, UtcMillis};

use crate::error::LedgerError;
use crate::journal::{Ledger, NewTransaction, Prepared, Statement as JournalStatement, Write};
pub use crate::limits::{
    MAX_ACTIVE_TABLES, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_TRANSACTION, MAX_INDEXES_PER_TABLE,
    MAX_TOTAL_TABLES, MAX_TRANSACTION_BYTES,
};
use crate::limits::{MAX_ION_DEPTH, MAX_TABLE_NAME_CHARS, binary_size_bound, check_value_depth};
use crate::partiql::ast::{
    Expr, Join, PathStep, ProjectItem, Projection, Select, Source, SourceKind, Statement,
};
use crate::partiql::eval::{Env, EvalError, Val, eval, index_key, truthy};
use crate::partiql::{SyntaxError, is_reserved_word, parse};
use crate::storage::{IndexUpdate, Storage as _, TableRow, TableStatus};
use paths::{remove_path, set_path, target_steps};
use source::Row;

/// How transactions behave.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// A transaction open longer than this, by the ledger's clock, is expired (QLDB: 30 s).
    pub transaction_timeout: Duration,
    /// Enforce QLDB's per-transaction, per-document and per-ledger limits (40 documents and
    /// 4 MB per transaction, 128 KB per document, 40 tables in all). Index and active-table
    /// limits, and the nesting limits on values and statements, always apply.
    pub strict_limits: bool,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            transaction_timeout: Duration::from_secs(30),
            strict_limits: true,
        }
    }
}

/// Why a statement or a commit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbError {
    Syntax(SyntaxError),
    Eval(EvalError),
    /// A statement that parses but cannot run as written.
    Invalid {
        position: Option<usize>,
        message: String,
    },
    NoSuchTable {
        name: String,
        position: usize,
    },
    TableExists(String),
    /// Another transaction changed what this one read: retry it.
    OccConflict(String),
    /// Open longer than the transaction timeout.
    Expired(String),
    LimitExceeded(String),
    /// The client's commit digest is not the transaction's.
    DigestMismatch,
    /// The transaction was already committed or aborted.
    Closed,
    Ledger(LedgerError),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(e) => write!(f, "{e}"),
            Self::Eval(e) => write!(f, "{e}"),
            Self::Invalid {
                position: Some(p),
                message,
            } => write!(f, "at position {p}: {message}"),
            Self::Invalid {
                position: None,
                message,
            } => f.write_str(message),
            Self::NoSuchTable { name, position } => {
                write!(f, "at position {position}: no such table `{name}`")
            }
            Self::TableExists(n) => write!(f, "a table named `{n}` already exists"),
            Self::OccConflict(d) => write!(
                f,
                "Optimistic concurrency control (OCC) failure encountered while committing the transaction: {d}"
            ),
            Self::Expired(id) => write!(f, "Transaction {id} has expired"),
            Self::LimitExceeded(d) => write!(f, "limit exceeded: {d}"),
            Self::DigestMismatch => f.write_str("Digests don't match"),
            Self::Closed => f.write_str("the transaction is already committed or aborted"),
            Self::Ledger(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<LedgerError> for DbError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e)
    }
}

impl From<crate::storage::StorageError> for DbError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Ledger(LedgerError::Storage(e))
    }
}

impl From<SyntaxError> for DbError {
    fn from(e: SyntaxError) -> Self {
        Self::Syntax(e)
    }
}

impl From<EvalError> for DbError {
    fn from(e: EvalError) -> Self {
        Self::Eval(e)
    }
}

pub(crate) fn invalid(position: Option<usize>, message: impl Into<String>) -> DbError {
    DbError::Invalid {
        position,
        message: message.into(),
    }
}

/// Checks a name for a new table by QLDB's rules: 1 to 128 letters, digits and underscores,
/// not starting with a digit, not a PartiQL reserved word, and not a name the system's own
/// sources use (`history`, `information_schema`, the `_ql_` prefix of committed views).
pub fn check_table_name(name: &str) -> Result<(), String> {
    let shape = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_TABLE_NAME_CHARS;
    if !shape {
        return Err(format!(
            "`{name}` is not a valid table name: use 1 to {MAX_TABLE_NAME_CHARS} letters, digits and underscores, starting with a letter or an underscore"
        ));
    }
    if is_reserved_word(name) {
        return Err(format!(
            "`{name}` is not a valid table name: it is a PartiQL reserved word"
        ));
    }
    if name.eq_ignore_ascii_case("history") || name.eq_ignore_ascii_case("information_schema") {
        return Err(format!(
            "`{name}` is not a valid table name: it names a system source"
        ));
    }
    if name.len() >= 4 && name[..4].eq_ignore_ascii_case("_ql_") {
        return Err(format!(
            "`{name}` is not a valid table name: the `_ql_` prefix belongs to system views such as `_ql_committed_<table>`"
        ));
    }
    Ok(())
}

/// How many parsed statements a database keeps (all are forgotten when it is full).
const PARSED_STATEMENTS: usize = 512;

/// A ledger with tables, shared by many transactions. Cloning it is cheap: clones share the
/// ledger.
#[derive(Debug, Clone)]
pub struct Database {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ledger: Mutex<Ledger>,
    /// The committed catalog and the journal size it was read at: every change to it is a
    /// new block, so it is read from storage again only after a commit.
    catalog: Mutex<Option<(u64, Arc<Vec<TableRow>>)>>,
    /// The journal size last seen under the ledger's lock (never more than it is), read by
    /// `begin` without taking the lock.
    tip_seen: std::sync::atomic::AtomicU64,
    /// Statements parsed before, by their text (drivers send the same few again and again).
    parsed: Mutex<HashMap<String, Arc<Statement>>>,
    options: DatabaseOptions,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

/// What a committed transaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub transaction_id: String,
    pub commit_digest: Hash32,
    /// The journal block, `None` for a read-only transaction (no block is written).
    pub sequence_no: Option<u64>,
}

impl Database {
    pub fn new(ledger: Ledger, options: DatabaseOptions) -> Self {
        let clock = Arc::clone(&ledger.options().clock);
        let ids = Arc::clone(&ledger.options().ids);
        let tip = ledger.block_count();
        Self {
            inner: Arc::new(Shared {
                ledger: Mutex::new(ledger),
                catalog: Mutex::new(None),
                tip_seen: std::sync::atomic::AtomicU64::new(tip),
                parsed: Mutex::new(HashMap::new()),
                options,
                clock,
                ids,
            }),
        }
    }

    /// The ledger underneath (held while the guard lives), caught up with blocks another
    /// process appended if its storage is shared ([`Ledger::refresh`]). A failed refresh leaves
    /// the tip as it was; the storage reads that follow report the failure.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        let mut ledger = self.inner.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let _ = ledger.refresh();
        ledger
    }

    /// The committed catalog (`ledger` is this database's ledger, locked by the caller).
    pub(crate) fn catalog(&self, ledger: &Ledger) -> Result<Arc<Vec<TableRow>>, DbError> {
        let tip = ledger.block_count();
        self.saw_tip(tip);
        let mut cached = self.inner.catalog.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, tables)) = cached.as_ref() {
            if *at == tip {
                return Ok(Arc::clone(tables));
            }
        }
        let tables = Arc::new(ledger.storage().tables()?);
        *cached = Some((tip, Arc::clone(&tables)));
        Ok(tables)
    }

    /// `text` parsed, from the statements parsed before when it is one of them.
    fn parse(&self, text: &str) -> Result<Arc<Statement>, SyntaxError> {
        let mut cache = self.inner.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache.get(text) {
            return Ok(Arc::clone(found));
        }
        drop(cache);
        let parsed = Arc::new(parse(text)?);
        cache = self.inner.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PARSED_STATEMENTS {
            cache.clear();
        }
        cache.insert(text.to_owned(), Arc::clone(&parsed));
        Ok(parsed)
    }

    /// Notes the journal's size, read under the ledger's lock.
    fn saw_tip(&self, tip: u64) {
        self.inner
            .tip_seen
            .fetch_max(tip, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn options(&self) -> &DatabaseOptions {
        &self.inner.options
    }

    /// Now, by the ledger's clock.
    pub(crate) fn now(&self) -> UtcMillis {
        self.inner.clock.now()
    }

    /// A fresh id from the ledger's id source.
    pub(crate) fn new_id(&self) -> String {
        self.inner.ids.new_id()
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Transaction {
        let id = self.new_id();
        // Without the lock: if commits were made that this has not seen, `begun_at` is lower
        // than the journal's size and the commit validates every read, as it must.
        let begun_at = self
            .inner
            .tip_seen
            .load(std::sync::atomic::Ordering::Acquire);
        Transaction {
            db: self.clone(),
            begun_at,
            digest: CommitDigest::new(&id),
            id,
            started: self.now(),
            statements: Vec::new(),
            docs: Vec::new(),
            doc_index: HashMap::new(),
            tables: Vec::new(),
            reindex: Vec::new(),
            reads: occ::ReadSet::new(),
            looked_up: HashMap::new(),
            bytes: 0,
            closed: false,
        }
    }

    /// Runs `work` in a transaction and commits it, retrying on OCC conflicts (at most
    /// `retries` more times), as the QLDB drivers' `execute` does.
    pub fn run<T>(
        &self,
        retries: usize,
        mut work: impl FnMut(&mut Transaction) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut attempt = 0;
        loop {
            let mut tx = self.begin();
            let result = work(&mut tx).and_then(|v| tx.commit(None).map(|_| v));
            match result {
                Err(DbError::OccConflict(_)) if attempt < retries => attempt += 1,
                other => return other,
            }
        }
    }

    /// Runs one statement in its own transaction.
    pub fn execute(&self, statement: &str, params: &[Element]) -> Result<Vec<Element>, DbError> {
        self.run(3, |tx| tx.execute(statement, params))
    }
}

#[derive(Debug, Clone)]
struct PendingDoc {
    document_id: String,
    table_id: String,
    table_name: String,
    /// The committed version this write replaces; `None` for a new document.
    base_version: Option<u64>,
    /// The new data; `None` deletes the document.
    data: Option<Element>,
    /// Size of `data` as Ion binary (counted in strict mode only).
    bytes: usize,
    statements: Vec<usize>,
}

/// A document a DML statement changes: its id, its data, the bindings it matched with, and
/// the committed version it replaces.
struct Match {
    id: String,
    data: Element,
    env: Env,
    base: Option<u64>,
}

/// An indexed lookup: table id, field, index key.
type LookupKey = (String, String, Vec<u8>);

/// An open transaction.
#[derive(Debug)]
pub struct Transaction {
    db: Database,
    /// The journal's size when the transaction began: if it is the same at commit, nothing
    /// it read can have changed.
    begun_at: u64,
    id: String,
    digest: CommitDigest,
    started: UtcMillis,
    statements: Vec<JournalStatement>,
    docs: Vec<PendingDoc>,
    doc_index: HashMap<String, usize>,
    tables: Vec<TableRow>,
    reindex: Vec<String>,
    reads: occ::ReadSet,
    /// Committed documents found by each indexed lookup (table id, field, key), with their
    /// versions. Looking the same key up again reuses them: the lookup is validated at commit,
    /// so if they changed meanwhile the transaction cannot commit anyway.
    looked_up: HashMap<LookupKey, Vec<(String, u64, Element)>>,
    bytes: usize,
    closed: bool,
}

fn dml_result(document_id: &str) -> Element {
    Element::from(
        Element::struct_builder()
            .with_field("documentId", Element::string(document_id))
            .build(),
    )
}

fn table_result(table_id: &str) -> Element {
    Element::from(
        Element::struct_builder()
            .with_field("tableId", Element::string(table_id))
            .build(),
    )
}

/// The index keys of a document under a table's indexes (none for a deletion).
pub(crate) fn index_keys(indexes: &[String], data: Option<&Element>) -> Vec<(String, Vec<u8>)> {
    let Some(st) = data.and_then(Element::as_struct) else {
        return Vec::new();
    };
    indexes
        .iter()
        .filter_map(|f| {
            st.get(f.as_str())
                .and_then(index_key)
                .map(|k| (f.clone(), k))
        })
        .collect()
}

/// Checks a document about to be written: a struct, nested at most [`MAX_ION_DEPTH`] deep,
/// and in strict mode at most [`MAX_DOCUMENT_BYTES`] of Ion binary. Returns that size (0 when
/// not counted).
pub(crate) fn check_document(value: &Element, strict: bool) -> Result<usize, DbError> {
    check_shape(value)?;
    if !strict {
        return Ok(0);
    }
    let size = encoded_size(value)?;
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(size));
    }
    Ok(size)
}

/// As [`check_document`], for a caller that needs no size: the document is encoded to be
/// measured only when its [`binary_size_bound`] is over the limit (appends, whose documents are
/// encoded once, in their block).
pub(crate) fn check_document_fits(value: &Element, strict: bool) -> Result<(), DbError> {
    check_shape(value)?;
    if !strict || binary_size_bound(value).is_some_and(|b| b <= MAX_DOCUMENT_BYTES) {
        return Ok(());
    }
    match encoded_size(value)? {
        size if size > MAX_DOCUMENT_BYTES => Err(too_large(size)),
        _ => Ok(()),
    }
}

fn check_shape(value: &Element) -> Result<(), DbError> {
    if value.ion_type() != IonType::Struct || value.is_null() {
        return Err(invalid(
            None,
            format!("a document must be a struct, not {}", value.ion_type()),
        ));
    }
    check_value_depth(value, MAX_ION_DEPTH).map_err(|_| {
        DbError::LimitExceeded(format!(
            "a document nests containers deeper than {MAX_ION_DEPTH} levels"
        ))
    })
}

fn encoded_size(value: &Element) -> Result<usize, DbError> {
    Ok(value
        .encode_as(v1_0::Binary)
        .map_err(|e| invalid(None, format!("the document cannot be encoded as Ion: {e}")))?
        .len())
}

fn too_large(size: usize) -> DbError {
    DbError::LimitExceeded(format!(
        "a document is at most {MAX_DOCUMENT_BYTES} bytes of Ion binary; this one is {size}"
    ))
}

impl Transaction {
    /// The transaction id (22 characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether committing it writes a journal block (and so waits for the disk); a transaction
    /// that only read commits without touching the disk.
    pub fn writes(&self) -> bool {
        !self.docs.is_empty() || !self.tables.is_empty()
    }

    /// The commit digest so far, as the drivers compute it.
    pub fn commit_digest(&self) -> Hash32 {
        self.digest.digest()
    }

    fn check_open(&self) -> Result<(), DbError> {
        if self.closed {
            return Err(DbError::Closed);
        }
        let open_ms = self.db.now().0.saturating_sub(self.started.0);
        let timeout_ms =
            i64::try_from(self.db.options().transaction_timeout.as_millis()).unwrap_or(i64::MAX);
        if open_ms > timeout_ms {
            return Err(DbError::Expired(self.id.clone()));
        }
        Ok(())
    }

    /// Runs one statement with positional parameters; returns its result rows.
    pub fn execute(
        &mut self,
        statement: &str,
        params: &[Element],
    ) -> Result<Vec<Element>, DbError> {
        self.check_open()?;
        // Before anything recursive (hashing for the commit digest included) sees them.
        for (i, p) in params.iter().enumerate() {
            check_value_depth(p, MAX_ION_DEPTH).map_err(|_| {
                DbError::LimitExceeded(format!(
                    "parameter {} nests containers deeper than {MAX_ION_DEPTH} levels",
                    i + 1
                ))
            })?;
        }
        let start_time = self.db.now();
        let parsed = self.db.parse(statement)?;
        let index = self.statements.len();
        let result = self.run_statement(&parsed, params, index);
        // Every statement sent counts towards the commit digest, as in the drivers.
        self.digest.add_statement(statement, params);
        self.statements.push(JournalStatement {
            text: statement.to_owned(),
            parameters: params.iter().cloned().map(Arc::new).collect(),
            start_time: Some(start_time),
        });
        result
    }

    /// Abandons the transaction.
    pub fn abort(&mut self) {
        self.closed = true;
    }

    fn put_table(&mut self, t: TableRow) {
        match self.tables.iter_mut().find(|c| c.table_id == t.table_id) {
            Some(c) => *c = t,
            None => self.tables.push(t),
        }
    }

    /// The catalog for DDL, recorded whole: DDL conflicts with any other DDL meanwhile.
    fn read_catalog(&mut self) -> Result<Vec<TableRow>, DbError> {
        let committed = {
            let db = self.db.clone();
            let ledger = db.ledger();
            db.catalog(&ledger)?
        };
        self.reads.insert(occ::catalog_read(&committed));
        Ok(self.merged_tables(&committed))
    }

    /// `env` with `row` bound to the source's name (and its id to the `BY` name).
    fn bind(env: &Env, source: &Source, row: Row) -> Env {
        let mut env = env.clone();
        env.bindings.push((source.binding(), row.value));
        if let (Some(by), Some(id)) = (&source.by, row.document_id) {
            env.bindings.push((by.clone(), Element::string(id)));
        }
        env
    }

    fn tuples(
        &mut self,
        from: &[Join],
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<Vec<Env>, DbError> {
        let mut tuples = vec![Env::default()];
        for join in from {
            let rows = self.source_rows(
                &join.source,
                if from.len() == 1 { filter } else { None },
                params,
            )?;
            let mut next = Vec::new();
            // The rows are moved into the last tuple that takes them and copied before.
            let last = tuples.len().saturating_sub(1);
            let mut rows = Some(rows);
            for (i, env) in tuples.iter().enumerate() {
                let these: Vec<Row> = if i == last {
                    rows.take().unwrap_or_default()
                } else {
                    rows.clone().unwrap_or_default()
                };
                for row in these {
                    let e = Self::bind(env, &join.source, row);
                    if let Some(on) = &join.on {
                        if !truthy(&eval(on, &e, params)?) {
                            continue;
                        }
                    }
                    next.push(e);
                }
            }
            tuples = next;
        }
        let mut out = Vec::new();
        for env in tuples {
            if let Some(f) = filter {
                if !truthy(&eval(f, &env, params)?) {
                    continue;
                }
            }
            out.push(env);
        }
        Ok(out)
    }

    fn select(&mut self, s: &Select, params: &[Element]) -> Result<Vec<Element>, DbError> {
        let tuples = self.tuples(&s.from, s.filter.as_ref(), params)?;
        match &s.projection {
            Projection::Items(items)
                if matches!(
                    items.as_slice(),
                    [ProjectItem::Expr {
                        expr: Expr::CountStar,
                        ..
                    }]
                ) =>
            {
                let name = match &items[0] {
                    ProjectItem::Expr { alias: Some(a), .. } => a.clone(),
                    _ => "_1".into(),
                };
                Ok(vec![Element::from(
                    Element::struct_builder()
                        .with_field(name, Element::from(tuples.len() as i64))
                        .build(),
                )])
            }
            Projection::Star => Ok(tuples
                .into_iter()
                .map(|env| {
                    if env.bindings.len() == 1 || s.from.len() == 1 {
                        env.bindings
                            .into_iter()
                            .next()
                            .map(|(_, v)| v)
                            .unwrap_or_else(|| Element::null(IonType::Null))
                    } else {
                        let mut b = Element::struct_builder();
                        for (_, v) in &env.bindings {
                            if let Some(st) = v.as_struct() {
                                for (k, fv) in st.iter() {
                                    b = b.with_field(k.text().unwrap_or(""), fv.clone());
                                }
                            }
                        }
                        Element::from(b.build())
                    }
                })
                .collect()),
            Projection::Value(e) => {
                let mut out = Vec::new();
                for env in &tuples {
                    if let Some(v) = eval(e, env, params)? {
                        out.push(v);
                    }
                }
                Ok(out)
            }
            Projection::Items(items) => {
                let mut out = Vec::new();
                for env in &tuples {
                    let mut b = Element::struct_builder();
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            ProjectItem::AllOf(alias) => {
                                let v = env
                                    .bindings
                                    .iter()
                                    .find(|(n, _)| n.eq_ignore_ascii_case(alias))
                                    .map(|(_, v)| v);
                                if let Some(st) = v.and_then(Element::as_struct) {
                                    for (k, fv) in st.iter() {
                                        b = b.with_field(k.text().unwrap_or(""), fv.clone());
                                    }
                                }
                            }
                            ProjectItem::Expr { expr, alias } => {
                                if let Some(v) = eval(expr, env, params)? {
                                    let name =
                                        alias.clone().unwrap_or_else(|| output_name(expr, i));
                                    b = b.with_field(name, v);
                                }
                            }
                        }
                    }
                    out.push(Element::from(b.build()));
                }
                Ok(out)
            }
        }
    }

    // ---- writing ---------------------------------------------------------------------------

    fn write(
        &mut self,
        table: &TableRow,
        document_id: &str,
        base_version: Option<u64>,
        data: Option<Element>,
        statement: usize,
    ) -> Result<(), DbError> {
        let strict = self.db.options().strict_limits;
        let size = match &data {
            Some(d) => check_document(d, strict)?,
            None => 0,
        };
        if let Some(&i) = self.doc_index.get(document_id) {
            let d = &mut self.docs[i];
            self.bytes = self.bytes - d.bytes + size;
            d.bytes = size;
            d.data = data;
            if !d.statements.contains(&statement) {
                d.statements.push(statement);
            }
        } else {
            if strict && self.docs.len() >= MAX_DOCUMENTS_PER_TRANSACTION {
                return Err(DbError::LimitExceeded(format!(
                    "a transaction writes at most {MAX_DOCUMENTS_PER_TRANSACTION} documents"
                )));
            }
            self.reads.insert(occ::Read::Document {
                document_id: document_id.to_owned(),
                version: base_version,
            });
            self.doc_index
                .insert(document_id.to_owned(), self.docs.len());
            self.bytes += size;
            self.docs.push(PendingDoc {
                document_id: document_id.to_owned(),
                table_id: table.table_id.clone(),
                table_name: table.name.clone(),
                base_version,
                data,
                bytes: size,
                statements: vec![statement],
            });
        }
        if strict && self.bytes > MAX_TRANSACTION_BYTES {
            return Err(DbError::LimitExceeded(format!(
                "a transaction writes at most {MAX_TRANSACTION_BYTES} bytes of documents"
            )));
        }
        Ok(())
    }

    /// The documents a DML statement over `source` changes, read under one lock.
    fn matching(
        &mut self,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<(TableRow, Vec<Match>), DbError> {
        let SourceKind::Table(name) = &source.kind else {
            return Err(invalid(Some(source.pos), "only user tables can be changed"));
        };
        let rows = {
            let db = self.db.clone();
            let ledger = db.ledger();
            let table = self.resolve(&ledger, name, source.pos, true)?;
            (
                table.row.clone(),
                self.table_rows(&ledger, &table, source, filter, params)?,
            )
        };
        let (table, rows) = rows;
        let mut out = Vec::new();
        for row in rows {
            let env = Self::bind(&Env::default(), source, row.clone());
            if let Some(f) = filter {
                if !truthy(&eval(f, &env, params)?) {
                    continue;
                }
            }
            if let Some(id) = row.document_id {
                let base = match self.doc_index.get(&id) {
                    Some(&i) => self.docs[i].base_version,
                    None => row.version,
                };
                out.push(Match {
                    id,
                    data: row.value,
                    env,
                    base,
                });
            }
        }
        Ok((table, out))
    }

    fn run_statement(
        &mut self,
        stmt: &Statement,
        params: &[Element],
        index: usize,
    ) -> Result<Vec<Element>, DbError> {
        let strict = self.db.options().strict_limits;
        match stmt {
            Statement::Select(s) => self.select(s, params),
            Statement::CreateTable { name, pos } => {
                check_table_name(name).map_err(|m| invalid(Some(*pos), m))?;
                let tables = self.read_catalog()?;
                if tables
                    .iter()
                    .any(|t| t.status == TableStatus::Active && t.name == *name)
                {
                    return Err(DbError::TableExists(name.clone()));
                }
                if tables
                    .iter()
                    .filter(|t| t.status == TableStatus::Active)
                    .count()
                    >= MAX_ACTIVE_TABLES
                {
                    return Err(DbError::LimitExceeded(format!(
                        "a ledger has at most {MAX_ACTIVE_TABLES} active tables"
                    )));
                }
                if strict && tables.len() >= MAX_TOTAL_TABLES {
                    return Err(DbError::LimitExceeded(format!(
                        "a ledger has at most {MAX_TOTAL_TABLES} tables, dropped ones included"
                    )));
                }
                let table_id = self.db.new_id();
                self.put_table(TableRow {
                    table_id: table_id.clone(),
                    name: name.clone(),
                    status: TableStatus::Active,
                    indexes: vec![],
                    last_write_seq: 0,
                });
                Ok(vec![table_result(&table_id)])
            }
            Statement::DropTable { name } => {
                let mut t = self.active_table(name, 0)?.row;
                self.read_catalog()?;
                t.status = TableStatus::Inactive;
                let id = t.table_id.clone();
                self.put_table(t);
                Ok(vec![table_result(&id)])
            }
            Statement::CreateIndex { table, field } => {
                let mut t = self.active_table(table, 0)?.row;
                self.read_catalog()?;
                if t.indexes.iter().any(|f| f == field) {
                    return Err(invalid(
                        None,
                        format!("table {table} already has an index on {field}"),
                    ));
                }
                if t.indexes.len() >= MAX_INDEXES_PER_TABLE {
                    return Err(DbError::LimitExceeded(format!(
                        "a table has at most {MAX_INDEXES_PER_TABLE} indexes"
                    )));
                }
                t.indexes.push(field.clone());
                let id = t.table_id.clone();
                self.put_table(t);
                if !self.reindex.contains(&id) {
                    self.reindex.push(id.clone());
                }
                Ok(vec![table_result(&id)])
            }
            Statement::Insert { table, value } => {
                let t = self.active_table(table, 0)?.row;
                let v = eval(value, &Env::default(), params)?
                    .ok_or_else(|| invalid(None, "INSERT of MISSING"))?;
                let docs: Vec<Element> = match v.value() {
                    Value::List(seq) | Value::SExp(seq) => seq.iter().cloned().collect(),
                    _ => vec![v],
                };
                let mut out = Vec::new();
                for d in docs {
                    let id = self.db.new_id();
                    self.write(&t, &id, None, Some(d), index)?;
                    out.push(dml_result(&id));
                }
                Ok(out)
            }
            Statement::Update {
                source,
                sets,
                filter,
            }
            | Statement::FromSet {
                source,
                filter,
                sets,
            } => {
                let (table, matches) = self.matching(source, filter.as_ref(), params)?;
                let mut out = Vec::new();
                for m in matches {
                    let mut data = m.data;
                    for (target, value) in sets {
                        let steps = target_steps(target, &source.binding())?;
                        data = match eval(value, &m.env, params)? {
                            Some(v) => set_path(&data, &steps, v)?,
                            None => remove_path(&data, &steps),
                        };
                    }
                    self.write(&table, &m.id, m.base, Some(data), index)?;
                    out.push(dml_result(&m.id));
                }
                Ok(out)
            }
            Statement::Delete { source, filter } => {
                let (table, matches) = self.matching(source, filter.as_ref(), params)?;
                let mut out = Vec::new();
                for m in matches {
                    self.write(&table, &m.id, m.base, None, index)?;
                    out.push(dml_result(&m.id));
                }
                Ok(out)
            }
            Statement::FromInsert {
                source,
                filter,
                target,
                value,
            } => {
                let (table, matches) = self.matching(source, filter.as_ref(), params)?;
                let steps = target_steps(target, &source.binding())?;
                let mut out = Vec::new();
                for m in matches {
                    let Some(v) = eval(value, &m.env, params)? else {
                        continue;
                    };
                    let current = steps.iter().try_fold(Some(m.data.clone()), |acc, s| {
                        Ok::<_, DbError>(
                            crate::partiql::eval::step(&acc, s)
                                .into_iter()
                                .next()
                                .flatten(),
                        )
                    })?;
                    let list = match current.as_ref().map(|c| c.value()) {
                        Some(Value::List(seq)) => {
                            Element::from(seq.clone_builder().push(v).build_list())
                        }
                        None => Element::from(Element::sequence_builder().push(v).build_list()),
                        Some(_) => {
                            return Err(invalid(None, "INSERT INTO a path that is not a list"));
                        }
                    };
                    let updated = set_path(&m.data, &steps, list)?;
                    self.write(&table, &m.id, m.base, Some(updated), index)?;
                    out.push(dml_result(&m.id));
                }
                Ok(out)
            }
            Statement::FromRemove {
                source,
                filter,
                target,
            } => {
                let (table, matches) = self.matching(source, filter.as_ref(), params)?;
                let steps = target_steps(target, &source.binding())?;
                let mut out = Vec::new();
                for m in matches {
                    let updated = remove_path(&m.data, &steps);
                    self.write(&table, &m.id, m.base, Some(updated), index)?;
                    out.push(dml_result(&m.id));
                }
                Ok(out)
            }
        }
    }

    // ---- commit ----------------------------------------------------------------------------

    /// Checks, under the commit's lock (`ledger`), that nothing this transaction read has
    /// changed: at once when no block was committed since it began.
    fn validate_reads(&self, db: &Database, ledger: &Ledger) -> Result<(), DbError> {
        if ledger.block_count() != self.begun_at {
            occ::validate(ledger.storage(), &db.catalog(ledger)?, &self.reads)?;
        }
        Ok(())
    }

    /// The journal transaction of this transaction's writes under the committed catalog
    /// `catalog`; `ledger` (locked) is read for the documents of an index being created.
    fn new_transaction(
        &mut self,
        catalog: &[TableRow],
        ledger: Option<&Ledger>,
    ) -> Result<NewTransaction, DbError> {
        let tables: HashMap<String, TableRow> = self
            .merged_tables(catalog)
            .into_iter()
            .map(|t| (t.table_id.clone(), t))
            .collect();
        let indexes_of = |table_id: &str| tables.get(table_id).map_or(&[][..], |t| &t.indexes);
        let mut index_updates: Vec<IndexUpdate> = self
            .docs
            .iter()
            .map(|d| IndexUpdate {
                document_id: d.document_id.clone(),
                table_id: d.table_id.clone(),
                keys: index_keys(indexes_of(&d.table_id), d.data.as_ref()),
            })
            .collect();
        if let Some(ledger) = ledger {
            for table_id in &self.reindex {
                for r in ledger.storage().current_in_table(table_id)? {
                    if self.doc_index.contains_key(&r.document_id) {
                        continue;
                    }
                    let data = match ledger.storage().revision_at(r.seq, r.index)? {
                        Some(stored) => crate::journal::revision_data(&stored)?,
                        None => None,
                    };
                    index_updates.push(IndexUpdate {
                        document_id: r.document_id.clone(),
                        table_id: table_id.clone(),
                        keys: index_keys(indexes_of(table_id), data.as_ref()),
                    });
                }
            }
        }
        Ok(NewTransaction {
            id: Some(self.id.clone()),
            statements: std::mem::take(&mut self.statements),
            writes: self
                .docs
                .iter()
                .map(|d| Write {
                    table_name: d.table_name.clone(),
                    table_id: d.table_id.clone(),
                    document_id: d.document_id.clone(),
                    version: d.base_version.map_or(0, |v| v + 1),
                    data: d.data.clone().map(Arc::new),
                    statements: d.statements.clone(),
                })
                .collect(),
            tables: self.tables.clone(),
            index_updates,
        })
    }

    /// Validates what this transaction read and commits its writes as one journal block.
    /// `expected` is the client's commit digest, when it sent one.
    pub fn commit(&mut self, expected: Option<&Hash32>) -> Result<CommitInfo, DbError> {
        self.check_open()?;
        self.closed = true;
        let digest = self.digest.digest();
        if let Some(e) = expected {
            if !e.ct_eq(&digest) {
                return Err(DbError::DigestMismatch);
            }
        }
        let db = self.db.clone();
        if !self.writes() {
            let ledger = db.ledger();
            self.validate_reads(&db, &ledger)?;
            // What it read is acknowledged only once it cannot be lost.
            let durable = ledger.durability();
            drop(ledger);
            durable.wait()?;
            return Ok(CommitInfo {
                transaction_id: self.id.clone(),
                commit_digest: digest,
                sequence_no: None,
            });
        }
        let (prepared, mut ledger) = if self.tables.is_empty() && self.reindex.is_empty() {
            // Only documents: hashed and encoded before the lock is taken, with their index keys
            // under the catalog as of now. If the catalog changes before the lock, a block was
            // committed since this transaction began, so its reads are validated under the
            // lock, and they include the definition (indexes too) of every table it writes.
            let catalog = {
                let ledger = db.ledger();
                db.catalog(&ledger)?
            };
            let prepared = Prepared::new(self.new_transaction(&catalog, None)?)?;
            let ledger = db.ledger();
            self.validate_reads(&db, &ledger)?;
            (prepared, ledger)
        } else {
            // DDL, or an index to build: everything on the catalog and table it commits on.
            let ledger = db.ledger();
            self.validate_reads(&db, &ledger)?;
            let catalog = db.catalog(&ledger)?;
            let prepared = Prepared::new(self.new_transaction(&catalog, Some(&ledger))?)?;
            (prepared, ledger)
        };
        // Written under the lock, made durable outside it: transactions committing meanwhile
        // share one sync (group commit).
        let (committed, durable) = ledger.commit_deferred(prepared)?;
        db.saw_tip(ledger.block_count());
        drop(ledger);
        durable.wait()?;
        Ok(CommitInfo {
            transaction_id: self.id.clone(),
            commit_digest: digest,
            sequence_no: Some(committed.sequence_no),
        })
    }
}

pub(super) fn user_table_row(t: &TableRow) -> Element {
    let indexes = t.indexes.iter().enumerate().map(|(i, f)| {
        Element::from(
            Element::struct_builder()
                .with_field(
                    "indexId",
                    Element::string(format!("{}{i}", &t.table_id[..t.table_id.len().min(21)])),
                )
                .with_field("expr", Element::string(format!("[{f}]")))
                .with_field("status", Element::string("ONLINE"))
                .build(),
        )
    });
    Element::from(
        Element::struct_builder()
            .with_field("name", Element::string(t.name.as_str()))
            .with_field("tableId", Element::string(t.table_id.as_str()))
            .with_field("status", Element::string(t.status.as_str()))
            .with_field(
                "indexes",
                Element::from(Element::sequence_builder().push_all(indexes).build_list()),
            )
            .build(),
    )
}

/// The output field name of a projected expression: its last path step, or `_n`.
fn output_name(expr: &Expr, i: usize) -> String {
    match expr {
        Expr::Var { name, .. } => name.clone(),
        Expr::Path(_, steps) => match steps.last() {
            Some(PathStep::Field(f)) => f.clone(),
            _ => format!("_{}", i + 1),
        },
        _ => format!("_{}", i + 1),
    }
}

/// Convenience for callers holding `Val`s.
pub fn val_to_element(v: Val) -> Element {
    v.unwrap_or_else(|| Element::null(IonType::Null))
}
