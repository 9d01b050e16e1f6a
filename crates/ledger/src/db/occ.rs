//! Optimistic concurrency control: what a transaction read, and the check at commit that none
//! of it changed since.
//!
//! Each read path records one [`Read`] taken from the same locked snapshot as the rows it
//! returned; [`validate`] runs under the lock the commit holds, so a transaction that commits
//! saw exactly the committed state at its commit point (serializable, in commit order).
//! A read of something that did not exist is recorded too, so phantoms conflict: an index
//! lookup that found nothing, a table name that resolved to nothing, a document id not found.

use std::collections::BTreeSet;

use crate::storage::{RevisionRef, Storage, TableRow, TableStatus};

use super::DbError;

/// A table's definition as the catalog holds it, without its write sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct TableDef {
    id: String,
    name: String,
    status: TableStatus,
    indexes: Vec<String>,
}

impl TableDef {
    fn of(t: &TableRow) -> Self {
        Self {
            id: t.table_id.clone(),
            name: t.name.clone(),
            status: t.status,
            indexes: t.indexes.clone(),
        }
    }
}

/// One thing a transaction read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Read {
    /// A document by id, or written by the transaction: its version then (`None`: absent).
    Document {
        document_id: String,
        version: Option<u64>,
    },
    /// Everything in a table (a full scan, the committed view, `history()`): the last block
    /// that wrote to it.
    AllOf {
        table_id: String,
        last_write_seq: u64,
    },
    /// An indexed equality lookup: the documents it found, with their versions, sorted.
    Lookup {
        table_id: String,
        field: String,
        key: Vec<u8>,
        found: Vec<(String, u64)>,
    },
    /// A table name resolved against the catalog: every committed table it could name.
    Name {
        name: String,
        candidates: Vec<TableDef>,
    },
    /// The whole catalog (information_schema, and DDL, which checks names and limits).
    Catalog(Vec<TableDef>),
}

/// The committed tables a name could resolve to: by name in any case, or by table id.
pub(super) fn name_read(committed: &[TableRow], name: &str) -> Read {
    Read::Name {
        name: name.to_owned(),
        candidates: candidates(committed, name),
    }
}

fn candidates(committed: &[TableRow], name: &str) -> Vec<TableDef> {
    committed
        .iter()
        .filter(|t| t.name.eq_ignore_ascii_case(name) || t.table_id == name)
        .map(TableDef::of)
        .collect()
}

pub(super) fn catalog_read(committed: &[TableRow]) -> Read {
    Read::Catalog(committed.iter().map(TableDef::of).collect())
}

/// The reads of one transaction, each recorded once.
pub(super) type ReadSet = BTreeSet<Read>;

fn conflict(what: String) -> DbError {
    DbError::OccConflict(what)
}

/// Checks, under the commit's lock, that everything in `reads` is as it was read;
/// `committed` is the catalog now.
pub(super) fn validate<S: Storage>(
    storage: &S,
    committed: &[TableRow],
    reads: &ReadSet,
) -> Result<(), DbError> {
    for read in reads {
        match read {
            Read::Document {
                document_id,
                version,
            } => {
                if storage.current(document_id)?.map(|r| r.version) != *version {
                    return Err(conflict(format!(
                        "document {document_id} was changed by another transaction"
                    )));
                }
            }
            Read::AllOf {
                table_id,
                last_write_seq,
            } => {
                let now = committed
                    .iter()
                    .find(|t| t.table_id == *table_id)
                    .map_or(0, |t| t.last_write_seq);
                if now != *last_write_seq {
                    return Err(conflict(format!(
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
                if lookup(storage, table_id, field, key)? != *found {
                    return Err(conflict(format!(
                        "documents with {field} read through the index were changed, added or removed by another transaction"
                    )));
                }
            }
            Read::Name {
                name,
                candidates: c,
            } => {
                if candidates(committed, name) != *c {
                    return Err(conflict(format!(
                        "the table named {name} was created, dropped or changed by another transaction"
                    )));
                }
            }
            Read::Catalog(before) => {
                if committed
                    .iter()
                    .map(TableDef::of)
                    .ne(before.iter().cloned())
                {
                    return Err(conflict(
                        "tables were created, dropped or indexed by another transaction".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The current documents an index lookup finds, with their versions, sorted.
pub(super) fn lookup<S: Storage>(
    storage: &S,
    table_id: &str,
    field: &str,
    key: &[u8],
) -> Result<Vec<(String, u64)>, DbError> {
    Ok(found(&storage.index_lookup_current(table_id, field, key)?))
}

/// What a lookup that returned `refs` records as found.
pub(super) fn found(refs: &[RevisionRef]) -> Vec<(String, u64)> {
    refs.iter()
        .map(|r| (r.document_id.clone(), r.version))
        .collect()
}
