//! Reading FROM sources. Each read holds the ledger's lock from the catalog lookup to the last
//! row, so the rows and the [`Read`] that validates them at commit come from one snapshot.
//!
//! A user table is read by document id (`… BY id WHERE id = ?`), through an index (an equality
//! on an indexed top-level field), or in full; the committed view and `history()` are read in
//! full; `information_schema.user_tables` reads the catalog.

use veritrail_core::ion_rs::Element;
use veritrail_core::time::UtcMillis;

use super::occ::{self, Read};
use super::{DbError, Transaction, invalid};
use crate::error::LedgerError;
use crate::journal::Ledger;
use crate::partiql::ast::{BinOp, Expr, PathStep, Source, SourceKind};
use crate::partiql::eval::{Env, eval, index_key};
use crate::storage::{RevisionRef, Storage as _, StorageError, TableRow, TableStatus};

/// A row of a source: its value, and for a user document its id and the version read.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub value: Element,
    pub document_id: Option<String>,
    /// The committed version read; `None` for this transaction's own writes.
    pub version: Option<u64>,
}

/// A table a name resolved to: as this transaction sees it, and as committed.
#[derive(Debug, Clone)]
pub(super) struct TableRef {
    pub row: TableRow,
    pub committed: Option<TableRow>,
}

impl TableRef {
    /// Indexes whose keys are in storage (not ones this transaction is creating).
    fn has_committed_index(&self, field: &str) -> bool {
        self.committed
            .as_ref()
            .is_some_and(|c| c.indexes.iter().any(|f| f == field))
    }
}

/// How a statement reaches a table's documents.
enum Access {
    ById(String),
    Index(String, Element),
    Scan,
}

impl Transaction {
    /// The catalog as this transaction sees it: committed tables with its own changes.
    pub(super) fn merged_tables(&self, committed: &[TableRow]) -> Vec<TableRow> {
        let mut tables = committed.to_vec();
        for t in &self.tables {
            match tables.iter_mut().find(|c| c.table_id == t.table_id) {
                Some(c) => *c = t.clone(),
                None => tables.push(t.clone()),
            }
        }
        tables
    }

    /// Resolves a table by name (exact, then in any case); `active_only` limits it to active
    /// tables, otherwise (for `history()`) a table id or a dropped table is found too.
    pub(super) fn resolve(
        &mut self,
        ledger: &Ledger,
        name: &str,
        position: usize,
        active_only: bool,
    ) -> Result<TableRef, DbError> {
        let committed = self.db.catalog(ledger)?;
        self.reads.insert(occ::name_read(&committed, name));
        // Without DDL of its own (the usual case) the committed catalog is used as it is.
        let tables: std::borrow::Cow<'_, [TableRow]> = if self.tables.is_empty() {
            std::borrow::Cow::Borrowed(committed.as_slice())
        } else {
            std::borrow::Cow::Owned(self.merged_tables(&committed))
        };
        let usable = |t: &&TableRow| !active_only || t.status == TableStatus::Active;
        let active_first = |pick: &dyn Fn(&TableRow) -> bool| {
            tables
                .iter()
                .filter(usable)
                .filter(|t| pick(t))
                .min_by_key(|t| t.status != TableStatus::Active)
        };
        let row = active_first(&|t| t.name == name)
            .or_else(|| active_first(&|t| !active_only && t.table_id == name))
            .or_else(|| active_first(&|t| t.name.eq_ignore_ascii_case(name)))
            .cloned()
            .ok_or_else(|| DbError::NoSuchTable {
                name: name.to_owned(),
                position,
            })?;
        let committed = committed
            .iter()
            .find(|c| c.table_id == row.table_id)
            .cloned();
        Ok(TableRef { row, committed })
    }

    /// An active table by name, read under its own lock (for statements that write).
    pub(super) fn active_table(
        &mut self,
        name: &str,
        position: usize,
    ) -> Result<TableRef, DbError> {
        let db = self.db.clone();
        let ledger = db.ledger();
        self.resolve(&ledger, name, position, true)
    }

    /// The rows of one FROM source. `filter` (the WHERE clause of a single-source statement)
    /// may choose the access path; it is still applied to every row by the caller.
    pub(super) fn source_rows(
        &mut self,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<Vec<Row>, DbError> {
        let db = self.db.clone();
        let ledger = db.ledger();
        match &source.kind {
            SourceKind::Table(name) => {
                let table = self.resolve(&ledger, name, source.pos, true)?;
                self.table_rows(&ledger, &table, source, filter, params)
            }
            SourceKind::Committed(name) => {
                let table = self.resolve(&ledger, name, source.pos, true)?;
                self.read_all_of(&table);
                let refs = ledger.storage().current_in_table(&table.row.table_id)?;
                revision_rows(&ledger, &refs)
            }
            SourceKind::History { table, start, end } => {
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
                let t = self.resolve(&ledger, table, source.pos, false)?;
                self.read_all_of(&t);
                let refs = ledger.storage().history(&t.row.table_id)?;
                let rows = revision_rows(&ledger, &refs)?;
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
            SourceKind::UserTables => {
                let committed = self.db.catalog(&ledger)?;
                self.reads.insert(occ::catalog_read(&committed));
                Ok(self
                    .merged_tables(&committed)
                    .iter()
                    .map(|t| Row {
                        value: super::user_table_row(t),
                        document_id: None,
                        version: None,
                    })
                    .collect())
            }
        }
    }

    /// A user table's documents for a statement over `source`, with this transaction's writes.
    pub(super) fn table_rows(
        &mut self,
        ledger: &Ledger,
        table: &TableRef,
        source: &Source,
        filter: Option<&Expr>,
        params: &[Element],
    ) -> Result<Vec<Row>, DbError> {
        match access(table, source, filter, params) {
            Access::ById(id) => self.by_id(ledger, table, &id),
            Access::Index(field, value) => self.lookup(ledger, table, &field, &value),
            Access::Scan => self.scan(ledger, table),
        }
    }

    /// Records that the whole of a table was read.
    fn read_all_of(&mut self, table: &TableRef) {
        self.reads.insert(Read::AllOf {
            table_id: table.row.table_id.clone(),
            last_write_seq: table.committed.as_ref().map_or(0, |t| t.last_write_seq),
        });
    }

    /// This transaction's own current documents of a table that `keep` accepts.
    fn own_rows(&self, table_id: &str, keep: impl Fn(&Element) -> bool) -> Vec<Row> {
        self.docs
            .iter()
            .filter(|d| d.table_id == table_id)
            .filter_map(|d| {
                let data = d.data.as_ref().filter(|v| keep(v))?;
                Some(Row {
                    value: data.clone(),
                    document_id: Some(d.document_id.clone()),
                    version: None,
                })
            })
            .collect()
    }

    fn committed_row(&self, ledger: &Ledger, r: &RevisionRef) -> Result<Row, DbError> {
        Ok(Row {
            value: committed_data(ledger, r)?,
            document_id: Some(r.document_id.clone()),
            version: Some(r.version),
        })
    }

    /// The user view of a whole table.
    fn scan(&mut self, ledger: &Ledger, table: &TableRef) -> Result<Vec<Row>, DbError> {
        self.read_all_of(table);
        let committed = ledger.storage().current_in_table(&table.row.table_id)?;
        let mut rows = Vec::with_capacity(committed.len());
        // Read each block's revisions once, not once per document.
        for group in committed.chunk_by(|a, b| a.seq == b.seq) {
            let mine = |r: &&RevisionRef| !self.doc_index.contains_key(&r.document_id);
            if group.len() > 4 {
                let stored = ledger.storage().revisions(group[0].seq)?;
                for r in group.iter().filter(mine) {
                    let data = stored
                        .get(r.index as usize)
                        .map(crate::journal::revision_data)
                        .transpose()?
                        .flatten();
                    if let Some(value) = data {
                        rows.push(Row {
                            value,
                            document_id: Some(r.document_id.clone()),
                            version: Some(r.version),
                        });
                    }
                }
            } else {
                for r in group.iter().filter(mine) {
                    rows.push(self.committed_row(ledger, r)?);
                }
            }
        }
        rows.extend(self.own_rows(&table.row.table_id, |_| true));
        Ok(rows)
    }

    /// Documents whose indexed `field` equals `value`. The lookup is recorded with what it
    /// found, nothing included, so a matching insert by another transaction conflicts.
    fn lookup(
        &mut self,
        ledger: &Ledger,
        table: &TableRef,
        field: &str,
        value: &Element,
    ) -> Result<Vec<Row>, DbError> {
        let table_id = &table.row.table_id;
        // A null or missing value equals nothing: no document can match.
        let Some(key) = index_key(value) else {
            return Ok(Vec::new());
        };
        let cache_key = (table_id.clone(), field.to_owned(), key.clone());
        if !self.looked_up.contains_key(&cache_key) {
            let refs = ledger
                .storage()
                .index_lookup_current(table_id, field, &key)?;
            let mut found = Vec::with_capacity(refs.len());
            for r in &refs {
                found.push((r.document_id.clone(), r.version, committed_data(ledger, r)?));
            }
            self.reads.insert(Read::Lookup {
                table_id: table_id.clone(),
                field: field.to_owned(),
                key: key.clone(),
                found: occ::found(&refs),
            });
            self.looked_up.insert(cache_key.clone(), found);
        }
        let rows: Vec<Row> = self
            .looked_up
            .get(&cache_key)
            .into_iter()
            .flatten()
            .filter(|(id, _, _)| !self.doc_index.contains_key(id))
            .map(|(id, version, value)| Row {
                value: value.clone(),
                document_id: Some(id.clone()),
                version: Some(*version),
            })
            .collect();
        let mut rows = rows;
        rows.extend(self.own_rows(table_id, |data| {
            let v = data.as_struct().and_then(|s| s.get(field));
            v.and_then(index_key).as_deref() == Some(key.as_slice())
        }));
        Ok(rows)
    }

    /// One document by id, if it is a current document of the table.
    fn by_id(&mut self, ledger: &Ledger, table: &TableRef, id: &str) -> Result<Vec<Row>, DbError> {
        let table_id = &table.row.table_id;
        if let Some(&i) = self.doc_index.get(id) {
            let own = &self.docs[i];
            return Ok(match &own.data {
                Some(data) if own.table_id == *table_id => vec![Row {
                    value: data.clone(),
                    document_id: Some(id.to_owned()),
                    version: None,
                }],
                _ => Vec::new(),
            });
        }
        let current = ledger.storage().current(id)?;
        self.reads.insert(Read::Document {
            document_id: id.to_owned(),
            version: current.as_ref().map(|r| r.version),
        });
        match current {
            Some(r) if r.table_id == *table_id && !r.deleted => {
                Ok(vec![self.committed_row(ledger, &r)?])
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// Chooses how to reach the documents of `source` that `filter` can match: an equality on the
/// `BY` variable reads one document, an equality on an indexed field (whose keys are stored)
/// uses the index, anything else reads the whole table.
fn access(table: &TableRef, source: &Source, filter: Option<&Expr>, params: &[Element]) -> Access {
    let binding = source.binding();
    let is = |name: &str, quoted: bool, var: &str| {
        if quoted {
            name == var
        } else {
            name.eq_ignore_ascii_case(var)
        }
    };
    let mut conjuncts = Vec::new();
    let mut pending: Vec<&Expr> = filter.into_iter().collect();
    while let Some(e) = pending.pop() {
        match e {
            Expr::Bin(BinOp::And, a, b) => pending.extend([&**b, &**a]),
            other => conjuncts.push(other),
        }
    }
    let mut index = None;
    for c in conjuncts {
        let Expr::Bin(BinOp::Eq, a, b) = c else {
            continue;
        };
        for (path, value) in [(a, b), (b, a)] {
            let Ok(Some(v)) = eval(value, &Env::default(), params) else {
                continue;
            };
            match &**path {
                Expr::Var { name, quoted, .. }
                    if source.by.as_deref().is_some_and(|by| is(name, *quoted, by)) =>
                {
                    if let Some(id) = v.as_text() {
                        return Access::ById(id.to_owned());
                    }
                }
                Expr::Path(base, steps) => {
                    if let (Expr::Var { name, quoted, .. }, [PathStep::Field(f)]) =
                        (&**base, steps.as_slice())
                    {
                        if is(name, *quoted, &binding) && table.has_committed_index(f) {
                            index.get_or_insert((f.clone(), v));
                        }
                    }
                }
                Expr::Var {
                    name,
                    quoted: false,
                    ..
                } if !is(name, false, &binding)
                    && source.at.as_deref().is_none_or(|at| !is(name, false, at))
                    && table.has_committed_index(name) =>
                {
                    index.get_or_insert((name.clone(), v));
                }
                _ => {}
            }
        }
    }
    match index {
        Some((field, value)) => Access::Index(field, value),
        None => Access::Scan,
    }
}

/// The data of a committed revision.
fn committed_data(ledger: &Ledger, r: &RevisionRef) -> Result<Element, DbError> {
    let corrupt = |what: &str| {
        DbError::Ledger(LedgerError::Storage(StorageError::Corrupt(format!(
            "block {}: revision {} of document {} {what}",
            r.seq, r.index, r.document_id
        ))))
    };
    let stored = ledger
        .storage()
        .revision_at(r.seq, r.index)?
        .ok_or_else(|| corrupt("is missing"))?;
    crate::journal::revision_data(&stored)?.ok_or_else(|| corrupt("has no data"))
}

/// Revisions as the committed view and `history()` show them.
fn revision_rows(ledger: &Ledger, refs: &[RevisionRef]) -> Result<Vec<Row>, DbError> {
    refs.iter()
        .map(|r| {
            Ok(Row {
                value: ledger.revision_value(r.seq, r.index)?,
                document_id: Some(r.document_id.clone()),
                version: None,
            })
        })
        .collect()
}
