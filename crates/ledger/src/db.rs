//! Tables, documents and PartiQL transactions over the journal, as QLDB runs them: every
//! committed transaction is one journal block; reads are validated at commit (optimistic
//! concurrency control), so transactions are serializable.
//!
//! OCC (`../shared/specs/qldb.md` §5.3): a full scan conflicts with any write to the table
//! since it was read; an indexed equality lookup only with changes to the documents matching
//! it; a document read or written conflicts with any newer revision of that document.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use veritrail_core::Hash32;
use veritrail_core::ion_rs::{Element, IonType, Value};
use veritrail_core::qldb::CommitDigest;
use veritrail_core::time::UtcMillis;

use crate::error::LedgerError;
use crate::journal::{Ledger, NewTransaction, Statement as JournalStatement, Write};
use crate::partiql::ast::{
    Expr, Join, PathStep, ProjectItem, Projection, Select, Source, SourceKind, Statement,
};
use crate::partiql::eval::{Env, EvalError, Val, eval, index_key, truthy};
use crate::partiql::{SyntaxError, parse};
use crate::storage::{IndexUpdate, RevisionRef, Storage as _, TableRow};

/// QLDB's fixed limits (spec §9).
pub const MAX_INDEXES_PER_TABLE: usize = 5;
pub const MAX_ACTIVE_TABLES: usize = 20;
pub const MAX_TOTAL_TABLES: usize = 40;
pub const MAX_DOCUMENTS_PER_TRANSACTION: usize = 40;
pub const MAX_TRANSACTION_BYTES: usize = 4 << 20;

/// How transactions behave.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// A transaction open longer than this is expired (QLDB: 30 s).
    pub transaction_timeout: Duration,
    /// Enforce QLDB's per-transaction and per-ledger limits (40 documents and 4 MB per
    /// transaction, 20 active and 40 total tables). Index and table limits always apply.
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

fn invalid(position: Option<usize>, message: impl Into<String>) -> DbError {
    DbError::Invalid {
        position,
        message: message.into(),
    }
}

/// A ledger with tables, shared by many transactions. Cloning it is cheap: clones share the
/// ledger.
#[derive(Debug, Clone)]
pub struct Database {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ledger: Mutex<Ledger>,
    options: DatabaseOptions,
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
        Self {
            inner: Arc::new(Shared {
                ledger: Mutex::new(ledger),
                options,
            }),
        }
    }

    /// The ledger underneath (held while the guard lives).
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.inner.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn options(&self) -> &DatabaseOptions {
        &self.inner.options
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Transaction {
        let id = self.ledger().new_id();
        Transaction {
            db: self.clone(),
            digest: CommitDigest::new(&id),
            id,
            started: Instant::now(),
            statements: Vec::new(),
            docs: Vec::new(),
            doc_index: HashMap::new(),
            tables: Vec::new(),
            reindex: Vec::new(),
            reads: Vec::new(),
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
    statements: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Read {
    Document {
        document_id: String,
        version: Option<u64>,
    },
    Scan {
        table_id: String,
        last_write_seq: u64,
    },
    Lookup {
        table_id: String,
        field: String,
        key: Vec<u8>,
        found: Vec<(String, u64)>,
    },
}

/// A document a DML statement changes: its id, its current data, and the bindings it matched with.
type Match = (String, Element, Env);

/// A row of a source: its value, and the document id when it is a user document.
#[derive(Debug, Clone)]
struct Row {
    value: Element,
    document_id: Option<String>,
}

/// An open transaction.
#[derive(Debug)]
pub struct Transaction {
    db: Database,
    id: String,
    digest: CommitDigest,
    started: Instant,
    statements: Vec<JournalStatement>,
    docs: Vec<PendingDoc>,
    doc_index: HashMap<String, usize>,
    tables: Vec<TableRow>,
    reindex: Vec<String>,
    reads: Vec<Read>,
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

impl Transaction {
    /// The transaction id (22 characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The commit digest so far, as the drivers compute it.
    pub fn commit_digest(&self) -> Hash32 {
        self.digest.digest()
    }

    fn check_open(&self) -> Result<(), DbError> {
        if self.closed {
            return Err(DbError::Closed);
        }
        if self.started.elapsed() > self.db.options().transaction_timeout {
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
        let start_time = self.ledger().now();
        let parsed = parse(statement)?;
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

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.db.ledger()
    }

    // ---- catalog -------------------------------------------------------------------------

    fn all_tables(&self) -> Result<Vec<TableRow>, DbError> {
        let mut tables = self.ledger().storage().tables()?;
        for t in &self.tables {
            match tables.iter_mut().find(|c| c.table_id == t.table_id) {
                Some(c) => *c = t.clone(),
                None => tables.push(t.clone()),
            }
        }
        Ok(tables)
    }

    fn active_table(&self, name: &str, position: usize) -> Result<TableRow, DbError> {
        let tables = self.all_tables()?;
        let active = |t: &&TableRow| t.status == "ACTIVE";
        tables
            .iter()
            .filter(active)
            .find(|t| t.name == name)
            .or_else(|| {
                tables
                    .iter()
                    .filter(active)
                    .find(|t| t.name.eq_ignore_ascii_case(name))
            })
            .cloned()
            .ok_or_else(|| DbError::NoSuchTable {
                name: name.to_owned(),
                position,
            })
    }

    fn put_table(&mut self, t: TableRow) {
        match self.tables.iter_mut().find(|c| c.table_id == t.table_id) {
            Some(c) => *c = t,
            None => self.tables.push(t),
        }
    }

    // ---- reading ---------------------------------------------------------------------------

    fn committed_data(&self, r: &RevisionRef) -> Result<Element, DbError> {
        let ledger = self.ledger();
        let corrupt = |what: &str| {
            DbError::Ledger(LedgerError::Storage(crate::storage::StorageError::Corrupt(
                format!(
                    "block {}: revision {} of document {} {what}",
                    r.seq, r.index, r.document_id
                ),
            )))
        };
        let stored = ledger
            .storage()
            .revision_at(r.seq, r.index)?
            .ok_or_else(|| corrupt("is missing"))?;
        crate::journal::revision_data(&stored)?.ok_or_else(|| corrupt("has no data"))
    }

    /// The user view of a table: current documents, with this transaction's writes.
    fn scan(&mut self, table: &TableRow) -> Result<Vec<Row>, DbError> {
        let committed = self.ledger().storage().current_in_table(&table.table_id)?;
        let last_write_seq = self
            .ledger()
            .storage()
            .tables()?
            .into_iter()
            .find(|t| t.table_id == table.table_id)
            .map_or(0, |t| t.last_write_seq);
        self.reads.push(Read::Scan {
            table_id: table.table_id.clone(),
            last_write_seq,
        });
        let mut rows = Vec::new();
        // Read each block's revisions once, not once per document.
        let mut i = 0;
        while i < committed.len() {
            let seq = committed[i].seq;
            let end = committed[i..]
                .iter()
                .position(|r| r.seq != seq)
                .map_or(committed.len(), |n| i + n);
            let group = &committed[i..end];
            if group.len() > 4 {
                let stored = self.ledger().storage().revisions(seq)?;
                for r in group {
                    if self.doc_index.contains_key(&r.document_id) {
                        continue;
                    }
                    let data = stored
                        .get(r.index as usize)
                        .map(crate::journal::revision_data)
                        .transpose()?
                        .flatten();
                    if let Some(value) = data {
                        rows.push(Row {
                            value,
                            document_id: Some(r.document_id.clone()),
                        });
                    }
                }
            } else {
                for r in group {
                    if !self.doc_index.contains_key(&r.document_id) {
                        rows.push(Row {
                            value: self.committed_data(r)?,
                            document_id: Some(r.document_id.clone()),
                        });
                    }
                }
            }
            i = end;
        }
        for d in self.docs.iter().filter(|d| d.table_id == table.table_id) {
            if let Some(data) = &d.data {
                rows.push(Row {
                    value: data.clone(),
                    document_id: Some(d.document_id.clone()),
                });
            }
        }
        Ok(rows)
    }

    /// Documents of `table` whose indexed `field` equals `value`, with this transaction's writes.
    fn lookup(
        &mut self,
        table: &TableRow,
        field: &str,
        value: &Element,
    ) -> Result<Vec<Row>, DbError> {
        let Some(key) = index_key(value) else {
            return Ok(Vec::new());
        };
        let ids = self
            .ledger()
            .storage()
            .index_lookup(&table.table_id, field, &key)?;
        let mut found = Vec::new();
        let mut rows = Vec::new();
        for id in ids {
            let Some(r) = self.ledger().storage().current(&id)? else {
                continue;
            };
            if r.deleted {
                continue;
            }
            found.push((id.clone(), r.version));
            if !self.doc_index.contains_key(&id) {
                rows.push(Row {
                    value: self.committed_data(&r)?,
                    document_id: Some(id),
                });
            }
        }
        self.reads.push(Read::Lookup {
            table_id: table.table_id.clone(),
            field: field.to_owned(),
            key: key.clone(),
            found,
        });
        for d in self.docs.iter().filter(|d| d.table_id == table.table_id) {
            if let Some(data) = &d.data {
                let v = data.as_struct().and_then(|s| s.get(field));
                if v.and_then(index_key).as_deref() == Some(key.as_slice()) {
                    rows.push(Row {
                        value: data.clone(),
                        document_id: Some(d.document_id.clone()),
                    });
                }
            }
        }
        Ok(rows)
    }

    /// `SELECT … FROM T WHERE alias.f = v` on an indexed `f` uses the index.
    fn indexed_equality(
        table: &TableRow,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Option<(String, Element)> {
        let binding = source.binding();
        let mut conjuncts = Vec::new();
        fn split<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
            if let Expr::Bin(crate::partiql::ast::BinOp::And, a, b) = e {
                split(a, out);
                split(b, out);
            } else {
                out.push(e);
            }
        }
        split(filter?, &mut conjuncts);
        for c in conjuncts {
            let Expr::Bin(crate::partiql::ast::BinOp::Eq, a, b) = c else {
                continue;
            };
            for (path, value) in [(a, b), (b, a)] {
                let field = match &**path {
                    Expr::Path(base, steps) => match (&**base, steps.as_slice()) {
                        (Expr::Var { name, .. }, [PathStep::Field(f)])
                            if name.eq_ignore_ascii_case(&binding) =>
                        {
                            f.clone()
                        }
                        _ => continue,
                    },
                    Expr::Var {
                        name,
                        quoted: false,
                        ..
                    } if !name.eq_ignore_ascii_case(&binding) => name.clone(),
                    _ => continue,
                };
                if !table.indexes.contains(&field) {
                    continue;
                }
                if let Ok(Some(v)) = eval(value, &Env::default(), params) {
                    return Some((field, v));
                }
            }
        }
        None
    }

    fn revision_rows(&self, refs: &[RevisionRef]) -> Result<Vec<Row>, DbError> {
        let ledger = self.ledger();
        refs.iter()
            .map(|r| {
                Ok(Row {
                    value: ledger.revision_value(r.seq, r.index)?,
                    document_id: Some(r.document_id.clone()),
                })
            })
            .collect()
    }

    fn source_rows(
        &mut self,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<Vec<Row>, DbError> {
        match &source.kind {
            SourceKind::Table(name) => {
                let table = self.active_table(name, source.pos)?;
                match Self::indexed_equality(&table, source, filter, params) {
                    Some((field, value)) => self.lookup(&table, &field, &value),
                    None => self.scan(&table),
                }
            }
            SourceKind::Committed(name) => {
                let table = self.active_table(name, source.pos)?;
                self.scan(&table)?; // records the read for OCC
                let refs = self.ledger().storage().current_in_table(&table.table_id)?;
                self.revision_rows(&refs)
            }
            SourceKind::History { table, start, end } => {
                let tables = self.all_tables()?;
                let t = tables
                    .iter()
                    .find(|t| t.name == *table || t.table_id == *table)
                    .or_else(|| tables.iter().find(|t| t.name.eq_ignore_ascii_case(table)))
                    .cloned()
                    .ok_or_else(|| DbError::NoSuchTable {
                        name: table.clone(),
                        position: source.pos,
                    })?;
                let bound = |e: &Option<Expr>| -> Result<Option<UtcMillis>, DbError> {
                    match e {
                        None => Ok(None),
                        Some(e) => match eval(e, &Env::default(), params)?
                            .as_ref()
                            .and_then(Element::as_timestamp)
                        {
                            Some(ts) => Ok(Some(UtcMillis::from_ion(&ts))),
                            None => Err(invalid(
                                Some(source.pos),
                                "history() bounds must be Ion timestamps, e.g. `2019-06-05T20:53:00Z`",
                            )),
                        },
                    }
                };
                let (from, to) = (bound(start)?, bound(end)?);
                let refs = self.ledger().storage().history(&t.table_id)?;
                let rows = self.revision_rows(&refs)?;
                Ok(rows
                    .into_iter()
                    .filter(|r| {
                        let t = r
                            .value
                            .as_struct()
                            .and_then(|s| s.get("metadata"))
                            .and_then(Element::as_struct)
                            .and_then(|m| m.get("txTime"))
                            .and_then(Element::as_timestamp)
                            .map(|ts| UtcMillis::from_ion(&ts));
                        from.is_none_or(|f| t.is_some_and(|t| t >= f))
                            && to.is_none_or(|e| t.is_some_and(|t| t <= e))
                    })
                    .collect())
            }
            SourceKind::UserTables => Ok(self
                .all_tables()?
                .into_iter()
                .map(|t| Row {
                    value: user_table_row(&t),
                    document_id: None,
                })
                .collect()),
        }
    }

    fn bind(env: &Env, source: &Source, row: &Row) -> Env {
        let mut env = env.clone();
        env.bindings.push((source.binding(), row.value.clone()));
        if let (Some(by), Some(id)) = (&source.by, &row.document_id) {
            env.bindings
                .push((by.clone(), Element::string(id.as_str())));
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
            for env in &tuples {
                for row in &rows {
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
                .iter()
                .map(|env| {
                    if env.bindings.len() == 1 || s.from.len() == 1 {
                        env.bindings
                            .first()
                            .map(|(_, v)| v.clone())
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

    fn check_document(&self, value: &Element, position: Option<usize>) -> Result<(), DbError> {
        if value.ion_type() != IonType::Struct || value.is_null() {
            return Err(invalid(
                position,
                format!("a document must be a struct, not {}", value.ion_type()),
            ));
        }
        Ok(())
    }

    fn write(
        &mut self,
        table: &TableRow,
        document_id: &str,
        base_version: Option<u64>,
        data: Option<Element>,
        statement: usize,
    ) -> Result<(), DbError> {
        if let Some(d) = &data {
            self.bytes += d.to_string().len();
        }
        let strict = self.db.options().strict_limits;
        if let Some(&i) = self.doc_index.get(document_id) {
            let d = &mut self.docs[i];
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
            self.reads.push(Read::Document {
                document_id: document_id.to_owned(),
                version: base_version,
            });
            self.doc_index
                .insert(document_id.to_owned(), self.docs.len());
            self.docs.push(PendingDoc {
                document_id: document_id.to_owned(),
                table_id: table.table_id.clone(),
                table_name: table.name.clone(),
                base_version,
                data,
                statements: vec![statement],
            });
        }
        if strict && self.bytes > MAX_TRANSACTION_BYTES {
            return Err(DbError::LimitExceeded(format!(
                "a transaction is at most {MAX_TRANSACTION_BYTES} bytes"
            )));
        }
        Ok(())
    }

    fn base_version(&self, document_id: &str) -> Result<Option<u64>, DbError> {
        if let Some(&i) = self.doc_index.get(document_id) {
            return Ok(self.docs[i].base_version);
        }
        Ok(self
            .ledger()
            .storage()
            .current(document_id)?
            .map(|r| r.version))
    }

    /// Matching documents of a DML statement's source: (document id, data, bindings).
    fn matching(
        &mut self,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<(TableRow, Vec<Match>), DbError> {
        let SourceKind::Table(name) = &source.kind else {
            return Err(invalid(Some(source.pos), "only user tables can be changed"));
        };
        let table = self.active_table(name, source.pos)?;
        let rows = match Self::indexed_equality(&table, source, filter, params) {
            Some((field, value)) => self.lookup(&table, &field, &value)?,
            None => self.scan(&table)?,
        };
        let mut out = Vec::new();
        for row in rows {
            let env = Self::bind(&Env::default(), source, &row);
            if let Some(f) = filter {
                if !truthy(&eval(f, &env, params)?) {
                    continue;
                }
            }
            if let Some(id) = row.document_id {
                out.push((id, row.value, env));
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
        match stmt {
            Statement::Select(s) => self.select(s, params),
            Statement::CreateTable { name } => {
                let tables = self.all_tables()?;
                if tables
                    .iter()
                    .any(|t| t.status == "ACTIVE" && t.name == *name)
                {
                    return Err(DbError::TableExists(name.clone()));
                }
                if tables.iter().filter(|t| t.status == "ACTIVE").count() >= MAX_ACTIVE_TABLES {
                    return Err(DbError::LimitExceeded(format!(
                        "a ledger has at most {MAX_ACTIVE_TABLES} active tables"
                    )));
                }
                if self.db.options().strict_limits && tables.len() >= MAX_TOTAL_TABLES {
                    return Err(DbError::LimitExceeded(format!(
                        "a ledger has at most {MAX_TOTAL_TABLES} tables, dropped ones included"
                    )));
                }
                let table_id = self.ledger().new_id();
                self.put_table(TableRow {
                    table_id: table_id.clone(),
                    name: name.clone(),
                    status: "ACTIVE".into(),
                    indexes: vec![],
                    last_write_seq: 0,
                });
                Ok(vec![table_result(&table_id)])
            }
            Statement::DropTable { name } => {
                let mut t = self.active_table(name, 0)?;
                t.status = "INACTIVE".into();
                let id = t.table_id.clone();
                self.put_table(t);
                Ok(vec![table_result(&id)])
            }
            Statement::CreateIndex { table, field } => {
                let mut t = self.active_table(table, 0)?;
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
                let t = self.active_table(table, 0)?;
                let v = eval(value, &Env::default(), params)?
                    .ok_or_else(|| invalid(None, "INSERT of MISSING"))?;
                let docs: Vec<Element> = match v.value() {
                    Value::List(seq) | Value::SExp(seq) => seq.iter().cloned().collect(),
                    _ => vec![v],
                };
                let mut out = Vec::new();
                for d in docs {
                    self.check_document(&d, None)?;
                    let id = self.ledger().new_id();
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
                for (id, mut data, env) in matches {
                    for (target, value) in sets {
                        let steps = target_steps(target, &source.binding())?;
                        let v = eval(value, &env, params)?;
                        data = match v {
                            Some(v) => set_path(&data, &steps, v)?,
                            None => remove_path(&data, &steps),
                        };
                    }
                    let base = self.base_version(&id)?;
                    self.write(&table, &id, base, Some(data), index)?;
                    out.push(dml_result(&id));
                }
                Ok(out)
            }
            Statement::Delete { source, filter } => {
                let (table, matches) = self.matching(source, filter.as_ref(), params)?;
                let mut out = Vec::new();
                for (id, _, _) in matches {
                    let base = self.base_version(&id)?;
                    self.write(&table, &id, base, None, index)?;
                    out.push(dml_result(&id));
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
                for (id, data, env) in matches {
                    let Some(v) = eval(value, &env, params)? else {
                        continue;
                    };
                    let current = steps.iter().try_fold(Some(data.clone()), |acc, s| {
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
                    let updated = set_path(&data, &steps, list)?;
                    let base = self.base_version(&id)?;
                    self.write(&table, &id, base, Some(updated), index)?;
                    out.push(dml_result(&id));
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
                for (id, data, _) in matches {
                    let updated = remove_path(&data, &steps);
                    let base = self.base_version(&id)?;
                    self.write(&table, &id, base, Some(updated), index)?;
                    out.push(dml_result(&id));
                }
                Ok(out)
            }
        }
    }

    // ---- commit ----------------------------------------------------------------------------

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
        let mut ledger = self.db.ledger();
        validate_reads(&ledger, &self.reads)?;
        if self.docs.is_empty() && self.tables.is_empty() {
            return Ok(CommitInfo {
                transaction_id: self.id.clone(),
                commit_digest: digest,
                sequence_no: None,
            });
        }
        // Table names must still be free (another transaction may have created one meanwhile).
        let committed_tables = ledger.storage().tables()?;
        for t in &self.tables {
            if t.status == "ACTIVE"
                && committed_tables
                    .iter()
                    .any(|c| c.status == "ACTIVE" && c.name == t.name && c.table_id != t.table_id)
            {
                return Err(DbError::OccConflict(format!(
                    "table {} was created by another transaction",
                    t.name
                )));
            }
        }
        let tables: HashMap<&str, &TableRow> = committed_tables
            .iter()
            .chain(self.tables.iter())
            .map(|t| (t.table_id.as_str(), t))
            .collect();
        let keys_of = |table_id: &str, data: Option<&Element>| -> Vec<(String, Vec<u8>)> {
            let (Some(t), Some(st)) = (tables.get(table_id), data.and_then(Element::as_struct))
            else {
                return Vec::new();
            };
            t.indexes
                .iter()
                .filter_map(|f| {
                    st.get(f.as_str())
                        .and_then(index_key)
                        .map(|k| (f.clone(), k))
                })
                .collect()
        };
        let mut index_updates: Vec<IndexUpdate> = self
            .docs
            .iter()
            .map(|d| IndexUpdate {
                document_id: d.document_id.clone(),
                table_id: d.table_id.clone(),
                keys: keys_of(&d.table_id, d.data.as_ref()),
            })
            .collect();
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
                    keys: keys_of(table_id, data.as_ref()),
                });
            }
        }
        let tx = NewTransaction {
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
        };
        let committed = ledger.commit(tx)?;
        Ok(CommitInfo {
            transaction_id: self.id.clone(),
            commit_digest: digest,
            sequence_no: Some(committed.sequence_no),
        })
    }
}

fn validate_reads(ledger: &Ledger, reads: &[Read]) -> Result<(), DbError> {
    let storage = ledger.storage();
    let mut tables: Option<Vec<TableRow>> = None;
    for read in reads {
        match read {
            Read::Document {
                document_id,
                version,
            } => {
                let now = storage.current(document_id)?.map(|r| r.version);
                if now != *version {
                    return Err(DbError::OccConflict(format!(
                        "document {document_id} was changed by another transaction"
                    )));
                }
            }
            Read::Scan {
                table_id,
                last_write_seq,
            } => {
                if tables.is_none() {
                    tables = Some(storage.tables()?);
                }
                let now = tables
                    .as_ref()
                    .and_then(|ts| ts.iter().find(|t| t.table_id == *table_id))
                    .map_or(0, |t| t.last_write_seq);
                if now != *last_write_seq {
                    return Err(DbError::OccConflict(format!(
                        "table {table_id}, read in full, was written by another transaction"
                    )));
                }
            }
            Read::Lookup {
                table_id,
                field,
                key,
                found,
            } => {
                let mut now = Vec::new();
                for id in storage.index_lookup(table_id, field, key)? {
                    if let Some(r) = storage.current(&id)? {
                        if !r.deleted {
                            now.push((id, r.version));
                        }
                    }
                }
                now.sort();
                let mut before = found.clone();
                before.sort();
                if now != before {
                    return Err(DbError::OccConflict(format!(
                        "documents with {field} read through the index were changed by another transaction"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn user_table_row(t: &TableRow) -> Element {
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

/// The steps of a SET/INSERT/REMOVE target inside the document: `alias.a.b` or `a.b`.
fn target_steps(target: &Expr, binding: &str) -> Result<Vec<PathStep>, DbError> {
    match target {
        Expr::Var { name, .. } if !name.eq_ignore_ascii_case(binding) => {
            Ok(vec![PathStep::Field(name.clone())])
        }
        Expr::Path(base, steps) => match &**base {
            Expr::Var { name, .. } if name.eq_ignore_ascii_case(binding) => Ok(steps.clone()),
            Expr::Var { name, .. } => {
                let mut all = vec![PathStep::Field(name.clone())];
                all.extend(steps.iter().cloned());
                Ok(all)
            }
            _ => Err(invalid(None, "the target must be a path into the document")),
        },
        _ => Err(invalid(None, "the target must be a path into the document")),
    }
}

fn set_path(doc: &Element, steps: &[PathStep], value: Element) -> Result<Element, DbError> {
    let Some((first, rest)) = steps.split_first() else {
        return Ok(value);
    };
    match first {
        PathStep::Field(name) => {
            let st = doc.as_struct();
            let child = st
                .and_then(|s| s.get(name.as_str()))
                .cloned()
                .unwrap_or_else(|| Element::from(Element::struct_builder().build()));
            let new_child = set_path(&child, rest, value)?;
            let mut b = Element::struct_builder();
            let mut replaced = false;
            if let Some(s) = st {
                for (k, v) in s.iter() {
                    if k.text() == Some(name.as_str()) && !replaced {
                        b = b.with_field(name.as_str(), new_child.clone());
                        replaced = true;
                    } else {
                        b = b.with_field(k.text().unwrap_or(""), v.clone());
                    }
                }
            }
            if !replaced {
                b = b.with_field(name.as_str(), new_child);
            }
            Ok(Element::from(b.build()))
        }
        PathStep::Index(i) => {
            let seq = doc
                .as_sequence()
                .ok_or_else(|| invalid(None, "an index step needs a list"))?;
            let i = usize::try_from(*i).map_err(|_| invalid(None, "a negative list index"))?;
            let mut items: Vec<Element> = seq.iter().cloned().collect();
            let slot = items
                .get_mut(i)
                .ok_or_else(|| invalid(None, format!("list index {i} is out of range")))?;
            *slot = set_path(slot, rest, value)?;
            Ok(Element::from(
                Element::sequence_builder().push_all(items).build_list(),
            ))
        }
        PathStep::Wildcard => Err(invalid(None, "a wildcard cannot be assigned")),
    }
}

fn remove_path(doc: &Element, steps: &[PathStep]) -> Element {
    match steps {
        [] => doc.clone(),
        [PathStep::Field(name)] => match doc.as_struct() {
            Some(st) => Element::from(st.clone_builder().remove_field(name.as_str()).build()),
            None => doc.clone(),
        },
        [PathStep::Field(name), rest @ ..] => {
            match doc.as_struct().and_then(|s| s.get(name.as_str())) {
                Some(child) => set_path(doc, &steps[..1], remove_path(child, rest))
                    .unwrap_or_else(|_| doc.clone()),
                None => doc.clone(),
            }
        }
        _ => doc.clone(),
    }
}

/// Convenience for callers holding `Val`s.
pub fn val_to_element(v: Val) -> Element {
    v.unwrap_or_else(|| Element::null(IonType::Null))
}
