//! QLDB's journal streams to Kinesis (`../shared/specs/qldb.md` §3.4): StreamJournalToKinesis,
//! DescribeJournalKinesisStream, ListJournalKinesisStreamsForLedger and
//! CancelJournalKinesisStream, and the streamer that tails each ledger's committed blocks.
//!
//! Every record is Ion binary `{qldbStreamArn, recordType, payload}`: a CONTROL `CREATED` first,
//! then for each block from the start time on a BLOCK_SUMMARY (the block with its revisions
//! replaced by `revisionSummaries`) and one REVISION_DETAILS per revision, and a CONTROL
//! `COMPLETED` once the exclusive end time is passed (never on cancel). Partition keys: the
//! document id for REVISION_DETAILS (so one document's revisions stay on one shard, in order),
//! the ledger's strand id for BLOCK_SUMMARY, the stream id for CONTROL. With aggregation on
//! (the default) the records of one block that share a partition key go out as one
//! KPL-aggregated Kinesis record ([`crate::services::kinesis::aggregate`]).
//!
//! A stream is a row of `qldb_journal_streams` holding the next block to send; the records of
//! a step and the row that moves past them are written in one store write, so a restart resumes
//! where the last committed step stopped (at least once; here, exactly once). A target stream
//! that does not exist turns the journal stream `IMPAIRED` with `ErrorCause`
//! `KINESIS_STREAM_NOT_FOUND`; once it exists again the stream is `ACTIVE` and carries on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::time::UtcMillis;

use super::{Qldb, QldbError};
use crate::ACCOUNT_ID;
use crate::env::Env;
use crate::services::kinesis::{Kinesis, Outgoing, aggregate};
use crate::services::saved::JsonTable;
use crate::store::Write;
use crate::wire::json::{epoch_member, epoch_seconds, str_member};

pub(super) const STREAMS: JsonTable = JsonTable {
    table: "qldb_journal_streams",
    what: "the QLDB journal stream",
};

/// Blocks one step of one stream carries at most (a step runs once a second).
const BLOCKS_PER_STEP: u64 = 256;
/// An aggregated record is closed before it passes this size (Kinesis takes 1 MiB).
const AGGREGATE_LIMIT: usize = 900 * 1024;

/// A journal stream, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalStream {
    pub id: String,
    pub ledger: String,
    pub region: String,
    pub name: String,
    pub role_arn: String,
    pub kinesis_arn: String,
    pub aggregation: bool,
    /// Milliseconds.
    pub start: i64,
    #[serde(with = "crate::services::saved::present")]
    pub end: Option<i64>,
    pub created: i64,
    /// ACTIVE, COMPLETED, CANCELED, FAILED or IMPAIRED.
    pub status: String,
    #[serde(with = "crate::services::saved::present")]
    pub error_cause: Option<String>,
    /// The sequence number of the next block to look at.
    pub next_block: u64,
    /// Whether the CONTROL CREATED record went out.
    pub created_sent: bool,
    pub tags: BTreeMap<String, String>,
}

impl JournalStream {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:qldb:{}:{ACCOUNT_ID}:stream/{}/{}",
            self.region, self.ledger, self.id
        )
    }

    pub fn check(&self) -> Result<(), String> {
        match self.status.as_str() {
            "ACTIVE" | "COMPLETED" | "CANCELED" | "FAILED" | "IMPAIRED" => Ok(()),
            other => Err(format!("status {other}")),
        }
    }

    fn describe(&self) -> Value {
        let mut v = json!({
            "LedgerName": self.ledger,
            "CreationTime": epoch_seconds(UtcMillis(self.created)),
            "InclusiveStartTime": epoch_seconds(UtcMillis(self.start)),
            "RoleArn": self.role_arn,
            "StreamId": self.id,
            "Arn": self.arn(),
            "Status": self.status,
            "KinesisConfiguration": {
                "StreamArn": self.kinesis_arn,
                "AggregationEnabled": self.aggregation,
            },
            "StreamName": self.name,
        });
        if let Some(end) = self.end {
            v["ExclusiveEndTime"] = json!(epoch_seconds(UtcMillis(end)));
        }
        if let Some(cause) = &self.error_cause {
            v["ErrorCause"] = json!(cause);
        }
        v
    }
}

fn is_kinesis_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:kinesis:") else {
        return false;
    };
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    matches!(parts.as_slice(), [region, account, resource]
        if !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("stream/").is_some_and(|n| !n.is_empty()))
}

/// A role ARN as IAM writes them: `arn:aws:iam::<12 digits>:role/<path/>name`.
pub(super) fn check_role_arn(arn: &str) -> Result<(), QldbError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(account, resource)| {
            account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty())
        });
    if ok {
        Ok(())
    } else {
        Err(QldbError::invalid(
            "RoleArn",
            format!("The role ARN {arn} is not valid"),
        ))
    }
}

fn ion_bytes(e: &Element) -> Result<Vec<u8>, QldbError> {
    e.encode_as(v1_0::Binary)
        .map_err(|err| QldbError::Internal(format!("encoding a stream record: {err}")))
}

fn field<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.as_struct()?.get(name)
}

impl Qldb {
    pub(super) fn stream_journal_to_kinesis(
        &self,
        ledger: &str,
        body: &Value,
        env: &Env,
        w: &Write<'_>,
    ) -> Result<Value, QldbError> {
        let (region, created) = {
            let ledgers = self.ledgers();
            let entry = ledgers
                .get(ledger)
                .ok_or_else(|| QldbError::LedgerNotFound(ledger.to_owned()))?;
            (entry.settings.region.clone(), entry.settings.created)
        };
        let role = str_member(body, "RoleArn")
            .ok_or_else(|| QldbError::invalid("RoleArn", "RoleArn is required"))?;
        check_role_arn(role)?;
        let name = str_member(body, "StreamName")
            .ok_or_else(|| QldbError::invalid("StreamName", "StreamName is required"))?;
        if !veritrail_ledger::journal::is_valid_ledger_name(name) {
            return Err(QldbError::invalid(
                "StreamName",
                format!(
                    "The stream name {name} is not valid: 1 to 32 letters, digits and hyphens, not all digits, no leading, trailing or double hyphens"
                ),
            ));
        }
        let start = epoch_member(body, "InclusiveStartTime")
            .map_err(|m| QldbError::invalid("InclusiveStartTime", m))?
            .ok_or_else(|| {
                QldbError::invalid("InclusiveStartTime", "InclusiveStartTime is required")
            })?;
        let end = epoch_member(body, "ExclusiveEndTime")
            .map_err(|m| QldbError::invalid("ExclusiveEndTime", m))?;
        let now = env.now();
        if start > now {
            return Err(QldbError::invalid(
                "InclusiveStartTime",
                "The InclusiveStartTime cannot be in the future",
            ));
        }
        if let Some(end) = end {
            if end <= start {
                return Err(QldbError::invalid(
                    "ExclusiveEndTime",
                    "The ExclusiveEndTime must be after the InclusiveStartTime",
                ));
            }
        }
        let config = body.get("KinesisConfiguration").ok_or_else(|| {
            QldbError::invalid("KinesisConfiguration", "KinesisConfiguration is required")
        })?;
        let stream_arn = str_member(config, "StreamArn").ok_or_else(|| {
            QldbError::invalid(
                "KinesisConfiguration.StreamArn",
                "KinesisConfiguration.StreamArn is required",
            )
        })?;
        if !is_kinesis_arn(stream_arn) {
            return Err(QldbError::invalid(
                "KinesisConfiguration.StreamArn",
                format!("The Kinesis stream ARN {stream_arn} is not valid"),
            ));
        }
        let aggregation = match config.get("AggregationEnabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(QldbError::invalid(
                    "KinesisConfiguration.AggregationEnabled",
                    "AggregationEnabled must be a boolean",
                ));
            }
        };
        let tags = super::tags_of(body)?;
        let stream = JournalStream {
            id: env.new_id(),
            ledger: ledger.to_owned(),
            region,
            name: name.to_owned(),
            role_arn: role.to_owned(),
            kinesis_arn: stream_arn.to_owned(),
            aggregation,
            // A start before the ledger existed is its creation (QLDB clamps it too).
            start: start.0.max(created.0),
            end: end.map(|e| e.0),
            created: now.0,
            status: "ACTIVE".into(),
            error_cause: None,
            next_block: 0,
            created_sent: false,
            tags,
        };
        STREAMS.save(w.conn(), &stream.id, &stream)?;
        let id = stream.id.clone();
        self.streams().insert(id.clone(), stream);
        Ok(json!({ "StreamId": id }))
    }

    fn journal_stream(&self, ledger: &str, id: &str) -> Result<JournalStream, QldbError> {
        if !self.ledgers().contains_key(ledger) {
            return Err(QldbError::LedgerNotFound(ledger.to_owned()));
        }
        self.streams()
            .get(id)
            .filter(|s| s.ledger == ledger)
            .cloned()
            .ok_or_else(|| QldbError::StreamNotFound(id.to_owned()))
    }

    pub(super) fn describe_journal_kinesis_stream(
        &self,
        ledger: &str,
        id: &str,
    ) -> Result<Value, QldbError> {
        Ok(json!({ "Stream": self.journal_stream(ledger, id)?.describe() }))
    }

    pub(super) fn list_journal_kinesis_streams_for_ledger(
        &self,
        ledger: &str,
    ) -> Result<Value, QldbError> {
        if !self.ledgers().contains_key(ledger) {
            return Err(QldbError::LedgerNotFound(ledger.to_owned()));
        }
        let streams: Vec<Value> = self
            .streams()
            .values()
            .filter(|s| s.ledger == ledger)
            .map(JournalStream::describe)
            .collect();
        Ok(json!({ "Streams": streams }))
    }

    pub(super) fn cancel_journal_kinesis_stream(
        &self,
        ledger: &str,
        id: &str,
        w: &Write<'_>,
    ) -> Result<Value, QldbError> {
        let mut s = self.journal_stream(ledger, id)?;
        if !matches!(s.status.as_str(), "ACTIVE" | "IMPAIRED") {
            return Err(QldbError::StreamNotActive {
                id: id.to_owned(),
                status: s.status.clone(),
            });
        }
        s.status = "CANCELED".into();
        STREAMS.save(w.conn(), &s.id, &s)?;
        self.streams().insert(s.id.clone(), s);
        Ok(json!({ "StreamId": id }))
    }

    /// Moves every live journal stream forward: the blocks committed since its last step (at
    /// most [`BLOCKS_PER_STEP`]) go to its Kinesis stream in `w`, with the row that records how
    /// far it got. Called by the emulator's delivery tick.
    pub fn pump_streams(
        &self,
        w: &Write<'_>,
        now: UtcMillis,
        kinesis: &Kinesis,
    ) -> Result<(), QldbError> {
        let live: Vec<JournalStream> = self
            .streams()
            .values()
            .filter(|s| matches!(s.status.as_str(), "ACTIVE" | "IMPAIRED"))
            .cloned()
            .collect();
        for mut s in live {
            let before = s.clone();
            self.step(&mut s, w, now, kinesis)?;
            if s != before {
                STREAMS.save(w.conn(), &s.id, &s)?;
                self.streams().insert(s.id.clone(), s);
            }
        }
        Ok(())
    }

    fn step(
        &self,
        s: &mut JournalStream,
        w: &Write<'_>,
        now: UtcMillis,
        kinesis: &Kinesis,
    ) -> Result<(), QldbError> {
        if !kinesis.stream_exists(&s.kinesis_arn) {
            s.status = "IMPAIRED".into();
            s.error_cause = Some("KINESIS_STREAM_NOT_FOUND".into());
            return Ok(());
        }
        s.status = "ACTIVE".into();
        s.error_cause = None;
        let Some(db) = self.database(&s.ledger) else {
            s.status = "FAILED".into();
            return Ok(());
        };
        let arn = s.arn();
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        let record = |kind: &str, payload: Element| -> Result<Vec<u8>, QldbError> {
            ion_bytes(&Element::from(
                Element::struct_builder()
                    .with_field("qldbStreamArn", Element::string(arn.as_str()))
                    .with_field("recordType", Element::string(kind))
                    .with_field("payload", payload)
                    .build(),
            ))
        };
        let control = |kind: &str| {
            Element::from(
                Element::struct_builder()
                    .with_field("controlRecordType", Element::string(kind))
                    .build(),
            )
        };
        if !s.created_sent {
            records.push((s.id.clone(), record("CONTROL", control("CREATED"))?));
        }
        let mut next = s.next_block;
        let mut ended = false;
        // Block groups: the records of one block, to aggregate within.
        let mut groups: Vec<Vec<(String, Vec<u8>)>> = vec![std::mem::take(&mut records)];
        {
            let ledger = db.ledger();
            let count = ledger.block_count();
            let strand = ledger.strand_id().to_owned();
            while next < count && next < s.next_block + BLOCKS_PER_STEP {
                let block = ledger
                    .block_element(next)
                    .map_err(|e| QldbError::Internal(e.to_string()))?;
                let t = field(&block, "blockTimestamp")
                    .and_then(Element::as_timestamp)
                    .map(|t| UtcMillis::from_ion(&t).0)
                    .unwrap_or(0);
                if s.end.is_some_and(|e| t >= e) {
                    ended = true;
                    break;
                }
                next += 1;
                if t < s.start {
                    continue;
                }
                let mut group = Vec::new();
                let (summary, details) = split_block(&block)?;
                group.push((strand.clone(), record("BLOCK_SUMMARY", summary)?));
                for (doc, detail) in details {
                    group.push((doc, record("REVISION_DETAILS", detail)?));
                }
                groups.push(group);
            }
            if next >= count && s.end.is_some_and(|e| now.0 >= e) {
                // Later blocks are stamped after now, so past the end.
                ended = true;
            }
        }
        if ended {
            groups.push(vec![(
                s.id.clone(),
                record("CONTROL", control("COMPLETED"))?,
            )]);
        }
        let outgoing: Vec<Outgoing> = groups
            .into_iter()
            .flat_map(|g| {
                if s.aggregation {
                    aggregated(g)
                } else {
                    g.into_iter()
                        .map(|(partition_key, data)| Outgoing {
                            partition_key,
                            data,
                        })
                        .collect()
                }
            })
            .collect();
        if !outgoing.is_empty() {
            if let Err(e) = kinesis.put_records_in(w.conn(), now, &s.kinesis_arn, &outgoing) {
                s.status = "IMPAIRED".into();
                s.error_cause = Some("KINESIS_STREAM_NOT_FOUND".into());
                return if matches!(
                    e,
                    crate::services::kinesis::KinesisError::ResourceNotFound(_)
                ) {
                    Ok(())
                } else {
                    Err(QldbError::Internal(e.to_string()))
                };
            }
        }
        s.created_sent = true;
        s.next_block = next;
        if ended {
            s.status = "COMPLETED".into();
        }
        Ok(())
    }
}

/// One record to put: (partition key, data).
type Keyed = (String, Vec<u8>);

/// The records of one block packed, in order, into KPL-aggregated records (each with its
/// partition key table, as the Kinesis Producer Library packs records of many keys), split
/// before [`AGGREGATE_LIMIT`]; each Kinesis record takes its first user record's partition
/// key, as the KPL does. Order per document holds: a block's records keep their order.
fn aggregated(group: Vec<Keyed>) -> Vec<Outgoing> {
    let mut out = Vec::new();
    let mut batch: Vec<Keyed> = Vec::new();
    let mut size = 0;
    let flush = |batch: &mut Vec<Keyed>, out: &mut Vec<Outgoing>| {
        if let Some((key, _)) = batch.first() {
            out.push(Outgoing {
                partition_key: key.clone(),
                data: aggregate::aggregate(batch),
            });
        }
        batch.clear();
    };
    for r in group {
        if size + r.1.len() + r.0.len() > AGGREGATE_LIMIT && !batch.is_empty() {
            flush(&mut batch, &mut out);
            size = 0;
        }
        size += r.1.len() + r.0.len();
        batch.push(r);
    }
    flush(&mut batch, &mut out);
    out
}

/// A block's BLOCK_SUMMARY payload (the block with `revisionSummaries` for `revisions`) and a
/// REVISION_DETAILS payload per revision, with its document id.
fn split_block(block: &Element) -> Result<(Element, Vec<(String, Element)>), QldbError> {
    let st = block
        .as_struct()
        .ok_or_else(|| QldbError::Internal("a block is not a struct".into()))?;
    let documents = st
        .get("transactionInfo")
        .and_then(|t| t.as_struct())
        .and_then(|t| t.get("documents"))
        .and_then(Element::as_struct);
    let mut summaries = Vec::new();
    let mut details = Vec::new();
    let revisions = st
        .get("revisions")
        .and_then(Element::as_sequence)
        .map(|s| s.elements().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for revision in revisions {
        let hash = field(&revision, "hash").cloned();
        let doc = field(&revision, "metadata")
            .and_then(|m| field(m, "id"))
            .and_then(Element::as_string)
            .map(str::to_owned);
        let mut summary = Element::struct_builder();
        if let Some(h) = hash {
            summary = summary.with_field("hash", h);
        }
        if let Some(d) = &doc {
            summary = summary.with_field("documentId", Element::string(d.as_str()));
        }
        summaries.push(Element::from(summary.build()));
        let Some(doc) = doc else {
            continue;
        };
        let info = documents.and_then(|d| d.get(doc.as_str()));
        let table_info = Element::from(
            Element::struct_builder()
                .with_field(
                    "tableName",
                    info.and_then(|i| field(i, "tableName"))
                        .cloned()
                        .unwrap_or_else(|| Element::string("")),
                )
                .with_field(
                    "tableId",
                    info.and_then(|i| field(i, "tableId"))
                        .cloned()
                        .unwrap_or_else(|| Element::string("")),
                )
                .build(),
        );
        details.push((
            doc,
            Element::from(
                Element::struct_builder()
                    .with_field("tableInfo", table_info)
                    .with_field("revision", revision)
                    .build(),
            ),
        ));
    }
    let summary = Element::from(
        st.clone_builder()
            .remove_field("revisions")
            .with_field(
                "revisionSummaries",
                Element::from(Element::sequence_builder().push_all(summaries).build_list()),
            )
            .build(),
    );
    Ok((summary, details))
}
