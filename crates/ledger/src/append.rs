//! Appending documents in bulk, idempotently: the write path of an ingest pipeline (the audit
//! processor, `veritrail ledger append`).
//!
//! A batch of documents goes into one table, skipping every document whose key field (for
//! CloudTrail records, `eventID`) is already in the table or earlier in the same request, so
//! appending the same input twice stores each document once. The table and its index on the key
//! field are created by the first append; every index the table declares is maintained. Each
//! batch is one transaction and one journal block, recorded as
//! `INSERT INTO <table> << ?, ?, … >>` with the documents as its parameters; blocks are written
//! by the pipelined [`Ledger::commit_stream`](crate::Ledger::commit_stream), the next one built
//! while the previous one syncs. Time and ids come from the ledger's [`LedgerOptions`](crate::LedgerOptions).
//!
//! The ledger stays locked for the whole append, so it is serialized with every other commit;
//! an open transaction that read the table conflicts at its commit, as with any other write.

use std::collections::HashSet;
use std::sync::Arc;

use veritrail_core::ion_rs::Element;

use crate::db::{Database, DbError, check_document_fits, check_table_name, index_keys, invalid};
use crate::journal::{Committed, NewTransaction, Statement, Write};
use crate::limits::{MAX_ACTIVE_TABLES, MAX_INDEXES_PER_TABLE, MAX_TOTAL_TABLES};
use crate::partiql::eval::index_key;
use crate::storage::{IndexUpdate, Storage as _, TableRow, TableStatus};

/// Where and how to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// The table, created by the first append (QLDB's naming rules apply).
    pub table: String,
    /// The top-level field that identifies a document; every document must have it. A
    /// document whose key a current document of the table already has is a duplicate.
    pub key_field: String,
    /// Documents per transaction (one journal block each), at least 1. Appends are not held to
    /// QLDB's 40 documents per transaction.
    pub batch_size: usize,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Documents written.
    pub appended: u64,
    /// Documents skipped because their key was in the table or earlier in the request.
    pub duplicates: u64,
    /// Transactions committed (journal blocks written).
    pub transactions: u64,
    /// The append created the table.
    pub created_table: bool,
    /// The append created the index on the key field.
    pub created_index: bool,
}

/// What the first transaction of an append does besides inserting.
#[derive(Debug, Default)]
struct Setup {
    statements: Vec<String>,
    tables: Vec<TableRow>,
    index_updates: Vec<IndexUpdate>,
}

impl Database {
    /// Checks one document as [`Database::append`] checks each of its documents (a struct,
    /// nesting, and in strict mode QLDB's 128 KB), so that a caller can set aside a document
    /// the ledger would refuse and append the others.
    pub fn check_append_document(&self, document: &Element) -> Result<(), DbError> {
        check_document_fits(document, self.options().strict_limits)
    }

    /// Appends `documents` to a table, skipping duplicates by key; see the [module](self).
    ///
    /// Every document is checked (a struct, nesting, and in strict mode QLDB's 128 KB) before
    /// anything is written. `on_durable` is called for each transaction, in order, once its
    /// block is durable; on an error, the transactions acknowledged so far stay committed.
    pub fn append(
        &self,
        request: &AppendRequest,
        documents: Vec<Element>,
        mut on_durable: impl FnMut(&Committed),
    ) -> Result<AppendReport, DbError> {
        if request.batch_size == 0 {
            return Err(invalid(None, "an append needs a batch size of at least 1"));
        }
        let strict = self.options().strict_limits;
        let key_field = request.key_field.as_str();
        let mut keys = Vec::with_capacity(documents.len());
        for (i, d) in documents.iter().enumerate() {
            check_document_fits(d, strict).map_err(|e| match e {
                DbError::LimitExceeded(m) => DbError::LimitExceeded(format!("document {i}: {m}")),
                other => invalid(None, format!("document {i}: {other}")),
            })?;
            let key = d
                .as_struct()
                .and_then(|s| s.get(key_field))
                .and_then(index_key)
                .ok_or_else(|| {
                    invalid(
                        None,
                        format!(
                            "document {i} has no `{key_field}`: an idempotent append tells duplicates by it"
                        ),
                    )
                })?;
            keys.push(key);
        }

        let mut ledger = self.ledger();
        let committed = ledger.storage().tables()?;
        let mut report = AppendReport::default();
        let mut setup = Setup::default();
        let mut stored_keys: HashSet<Vec<u8>> = HashSet::new();
        let table = match committed
            .iter()
            .find(|t| t.status == TableStatus::Active && t.name == request.table)
        {
            Some(t) if t.indexes.iter().any(|f| f == key_field) => t.clone(),
            Some(t) => {
                // A table without the index (created by SQL, or by an older veritrail): add
                // it, and index the documents already there.
                if t.indexes.len() >= MAX_INDEXES_PER_TABLE {
                    return Err(DbError::LimitExceeded(format!(
                        "table {} has {MAX_INDEXES_PER_TABLE} indexes, none on {key_field}: an idempotent append needs one",
                        t.name
                    )));
                }
                let mut t = t.clone();
                t.indexes.push(key_field.to_owned());
                for r in ledger.storage().current_in_table(&t.table_id)? {
                    let data = match ledger.storage().revision_at(r.seq, r.index)? {
                        Some(stored) => crate::journal::revision_data(&stored)?,
                        None => None,
                    };
                    let keys = index_keys(&t.indexes, data.as_ref());
                    stored_keys.extend(
                        keys.iter()
                            .filter(|(f, _)| f == key_field)
                            .map(|(_, k)| k.clone()),
                    );
                    setup.index_updates.push(IndexUpdate {
                        document_id: r.document_id,
                        table_id: t.table_id.clone(),
                        keys,
                    });
                }
                setup
                    .statements
                    .push(format!("CREATE INDEX ON {} ({key_field})", request.table));
                setup.tables.push(t.clone());
                report.created_index = true;
                t
            }
            None => {
                check_table_name(&request.table).map_err(|m| invalid(None, m))?;
                let active = committed
                    .iter()
                    .filter(|t| t.status == TableStatus::Active)
                    .count();
                if active >= MAX_ACTIVE_TABLES || (strict && committed.len() >= MAX_TOTAL_TABLES) {
                    return Err(DbError::LimitExceeded(format!(
                        "the ledger cannot take another table ({active} active, {} in all)",
                        committed.len()
                    )));
                }
                let t = TableRow {
                    table_id: self.new_id(),
                    name: request.table.clone(),
                    status: TableStatus::Active,
                    indexes: vec![key_field.to_owned()],
                    last_write_seq: 0,
                };
                setup
                    .statements
                    .push(format!("CREATE TABLE {}", request.table));
                setup
                    .statements
                    .push(format!("CREATE INDEX ON {} ({key_field})", request.table));
                setup.tables.push(t.clone());
                report.created_table = true;
                report.created_index = true;
                t
            }
        };

        // Duplicates: in the table (through its index) or earlier in this request.
        let stored: Vec<bool> = if report.created_index {
            keys.iter().map(|key| stored_keys.contains(key)).collect()
        } else {
            let asked: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            ledger
                .storage()
                .keys_indexed(&table.table_id, key_field, &asked)?
        };
        let mut seen: HashSet<&[u8]> = HashSet::with_capacity(keys.len());
        let mut fresh = Vec::with_capacity(documents.len());
        for ((doc, key), stored) in documents.into_iter().zip(&keys).zip(stored) {
            if stored || !seen.insert(key) {
                report.duplicates += 1;
            } else {
                fresh.push(Arc::new(doc));
            }
        }
        if fresh.is_empty() && setup.statements.is_empty() {
            return Ok(report);
        }

        let clock = Arc::clone(&ledger.options().clock);
        let ids = Arc::clone(&ledger.options().ids);
        let mut setup = Some(setup);
        let batches: Vec<&[Arc<Element>]> = if fresh.is_empty() {
            vec![&[]]
        } else {
            fresh.chunks(request.batch_size).collect()
        };
        let transactions = batches.into_iter().map(|chunk| {
            let Setup {
                statements: ddl,
                tables,
                mut index_updates,
            } = setup.take().unwrap_or_default();
            let mut statements: Vec<Statement> = ddl
                .into_iter()
                .map(|text| Statement {
                    text,
                    parameters: vec![],
                    start_time: Some(clock.now()),
                })
                .collect();
            let insert = statements.len();
            if !chunk.is_empty() {
                statements.push(Statement {
                    text: format!(
                        "INSERT INTO {} << {} >>",
                        table.name,
                        vec!["?"; chunk.len()].join(", ")
                    ),
                    parameters: chunk.to_vec(),
                    start_time: Some(clock.now()),
                });
            }
            let writes: Vec<Write> = chunk
                .iter()
                .map(|doc| Write {
                    table_name: table.name.clone(),
                    table_id: table.table_id.clone(),
                    document_id: ids.new_id(),
                    version: 0,
                    data: Some(Arc::clone(doc)),
                    statements: vec![insert],
                })
                .collect();
            index_updates.extend(writes.iter().map(|w| IndexUpdate {
                document_id: w.document_id.clone(),
                table_id: table.table_id.clone(),
                keys: index_keys(&table.indexes, w.data.as_deref()),
            }));
            NewTransaction {
                id: None,
                statements,
                writes,
                tables,
                index_updates,
            }
        });
        ledger.commit_stream(transactions, |c| {
            report.transactions += 1;
            report.appended += c.revision_hashes.len() as u64;
            on_durable(c);
        })?;
        Ok(report)
    }
}
