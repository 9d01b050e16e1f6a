//! QLDB's journal exports to S3 (`../shared/specs/qldb.md` §3.3): ExportJournalToS3,
//! DescribeJournalS3Export, ListJournalS3Exports and ListJournalS3ExportsForLedger.
//!
//! The export is the layout `veritrail ledger export` writes (`Ledger::export_journal`): the
//! request writes the started manifest and the data objects into the emulated S3 (through
//! [`S3::deliver_object`], with the bucket's default retention) and answers `IN_PROGRESS`; the
//! next delivery tick writes the completed manifest and the export is `COMPLETED`, so a client
//! polling DescribeJournalS3Export sees the same transition as on QLDB. A bucket that does not
//! exist, or a role IAM does not know, is refused before anything is written.
//!
//! Encryption: `SSE_KMS` writes every object (manifests and data) through S3's SSE-KMS path,
//! as a PutObject with `x-amz-server-side-encryption: aws:kms` and the key would; `SSE_S3` and
//! `NO_ENCRYPTION` give S3's own keys (`AES256`, S3's default since 2023). A KMS key that does
//! not exist, is disabled or is pending deletion is refused at the request
//! (`ResourcePreconditionNotMetException`, as the bucket and role are); a key that becomes
//! unusable before the export completes leaves it `CANCELLED`, QLDB's one status for an export
//! that did not finish (DescribeJournalS3Export has no FAILED).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;
use veritrail_ledger::export::{ExportFormat, ExportRequest};

use super::{Qldb, QldbError};
use crate::env::Env;
use crate::services::iam::Iam;
use crate::services::kms::Kms;
use crate::services::s3::{Encryption, S3};
use crate::services::saved::JsonTable;
use crate::store::Write;
use crate::wire::json::{epoch_member, epoch_seconds, str_member};

pub(super) const EXPORTS: JsonTable = JsonTable {
    table: "qldb_journal_exports",
    what: "the QLDB journal export",
};

/// Blocks per data object.
const BLOCKS_PER_OBJECT: usize = 500;

/// An export, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalExport {
    pub id: String,
    pub ledger: String,
    pub region: String,
    pub created: i64,
    /// IN_PROGRESS, COMPLETED or CANCELLED.
    pub status: String,
    pub start: i64,
    pub end: i64,
    pub bucket: String,
    pub prefix: String,
    pub encryption: Value,
    pub role_arn: String,
    pub format: String,
    /// The completed manifest's key and body, written when the export completes.
    pub completed_key: String,
    pub completed_body: Vec<u8>,
}

impl JournalExport {
    pub fn check(&self) -> Result<(), String> {
        match self.status.as_str() {
            "IN_PROGRESS" | "COMPLETED" | "CANCELLED" => Ok(()),
            other => Err(format!("status {other}")),
        }
    }

    fn describe(&self) -> Value {
        json!({
            "LedgerName": self.ledger,
            "ExportId": self.id,
            "ExportCreationTime": epoch_seconds(UtcMillis(self.created)),
            "Status": self.status,
            "InclusiveStartTime": epoch_seconds(UtcMillis(self.start)),
            "ExclusiveEndTime": epoch_seconds(UtcMillis(self.end)),
            "S3ExportConfiguration": {
                "Bucket": self.bucket,
                "Prefix": self.prefix,
                "EncryptionConfiguration": self.encryption,
            },
            "RoleArn": self.role_arn,
            "OutputFormat": self.format,
        })
    }
}

fn precondition(message: String) -> QldbError {
    QldbError::Precondition(message)
}

/// How the objects of an export with `EncryptionConfiguration` `config` are written.
fn encryption<'a>(config: &'a Value, kms: &'a Kms) -> Encryption<'a> {
    match (
        config.get("ObjectEncryptionType").and_then(Value::as_str),
        str_member(config, "KmsKeyArn"),
    ) {
        (Some("SSE_KMS"), Some(key)) => Encryption::Kms { kms, key },
        _ => Encryption::S3Managed,
    }
}

impl Qldb {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn export_journal_to_s3(
        &self,
        ledger: &str,
        body: &Value,
        env: &Env,
        w: &Write<'_>,
        s3: &S3,
        iam: &Iam,
        kms: &Kms,
    ) -> Result<Value, QldbError> {
        let (db, region) = {
            let ledgers = self.ledgers();
            let entry = ledgers
                .get(ledger)
                .ok_or_else(|| QldbError::LedgerNotFound(ledger.to_owned()))?;
            (entry.db.clone(), entry.settings.region.clone())
        };
        let time = |name: &'static str| -> Result<UtcMillis, QldbError> {
            epoch_member(body, name)
                .map_err(|m| QldbError::invalid(name, m))?
                .ok_or_else(|| QldbError::invalid(name, format!("{name} is required")))
        };
        let start = time("InclusiveStartTime")?;
        let end = time("ExclusiveEndTime")?;
        let now = env.now();
        if end <= start {
            return Err(QldbError::invalid(
                "ExclusiveEndTime",
                "The ExclusiveEndTime must be after the InclusiveStartTime",
            ));
        }
        if end > now {
            return Err(QldbError::invalid(
                "ExclusiveEndTime",
                "The ExclusiveEndTime cannot be in the future",
            ));
        }
        let role = str_member(body, "RoleArn")
            .ok_or_else(|| QldbError::invalid("RoleArn", "RoleArn is required"))?;
        super::streams::check_role_arn(role)?;
        let config = body.get("S3ExportConfiguration").ok_or_else(|| {
            QldbError::invalid("S3ExportConfiguration", "S3ExportConfiguration is required")
        })?;
        let bucket = str_member(config, "Bucket").ok_or_else(|| {
            QldbError::invalid(
                "S3ExportConfiguration.Bucket",
                "S3ExportConfiguration.Bucket is required",
            )
        })?;
        let prefix = str_member(config, "Prefix").unwrap_or("");
        if prefix.len() > 128 {
            return Err(QldbError::invalid(
                "S3ExportConfiguration.Prefix",
                "The prefix is longer than 128 characters",
            ));
        }
        let encryption_config = config
            .get("EncryptionConfiguration")
            .cloned()
            .unwrap_or_else(|| json!({"ObjectEncryptionType": "NO_ENCRYPTION"}));
        match encryption_config
            .get("ObjectEncryptionType")
            .and_then(Value::as_str)
        {
            Some("NO_ENCRYPTION" | "SSE_S3") => {}
            Some("SSE_KMS") if str_member(&encryption_config, "KmsKeyArn").is_some() => {}
            Some("SSE_KMS") => {
                return Err(QldbError::invalid(
                    "S3ExportConfiguration.EncryptionConfiguration.KmsKeyArn",
                    "A KmsKeyArn is required for SSE_KMS",
                ));
            }
            _ => {
                return Err(QldbError::invalid(
                    "S3ExportConfiguration.EncryptionConfiguration.ObjectEncryptionType",
                    "ObjectEncryptionType must be SSE_KMS, SSE_S3 or NO_ENCRYPTION",
                ));
            }
        }
        let format = match str_member(body, "OutputFormat") {
            None => ExportFormat::IonText,
            Some(f) => ExportFormat::parse(f)
                .filter(|_| matches!(f, "ION_TEXT" | "ION_BINARY" | "JSON"))
                .ok_or_else(|| {
                    QldbError::invalid(
                        "OutputFormat",
                        "OutputFormat must be ION_BINARY, ION_TEXT or JSON",
                    )
                })?,
        };
        if !iam.role_exists(role) {
            return Err(precondition(format!(
                "QLDB cannot assume the role {role}: it does not exist"
            )));
        }
        if !s3.bucket_exists(bucket) {
            return Err(precondition(format!(
                "The S3 bucket {bucket} does not exist, or QLDB cannot write to it with role {role}"
            )));
        }
        if let Encryption::Kms { key, .. } = encryption(&encryption_config, kms) {
            kms.key_arn(&region, key, now).map_err(|e| {
                precondition(format!(
                    "QLDB cannot encrypt the export with the KMS key {key}: {} ({})",
                    e.message(),
                    e.code()
                ))
            })?;
        }
        // The ledger writes the export into a directory of its own, which is then delivered.
        let scratch = self.dir.join(format!(".export-{}", env.new_id()));
        let summary = {
            let ledger = db.ledger();
            ledger.export_journal(
                &scratch,
                &ExportRequest {
                    start: Some(start),
                    end: Some(end),
                    format,
                    prefix: prefix.to_owned(),
                    bucket: bucket.to_owned(),
                    blocks_per_object: BLOCKS_PER_OBJECT,
                },
            )
        };
        let delivered = summary
            .map_err(|e| QldbError::invalid("InclusiveStartTime", e.to_string()))
            .and_then(|summary| {
                let read = |key: &str| {
                    std::fs::read(scratch.join(key))
                        .map_err(|e| QldbError::Internal(format!("the export's {key}: {e}")))
                };
                let content_type = content_type(format);
                for key in std::iter::once(&summary.started_manifest).chain(&summary.keys) {
                    s3.deliver_object(
                        w,
                        env,
                        now,
                        bucket,
                        key,
                        read(key)?,
                        BTreeMap::new(),
                        content_type,
                        encryption(&encryption_config, kms),
                    )
                    .map_err(|e| precondition(format!("writing {key} into {bucket}: {e:?}")))?;
                }
                Ok(JournalExport {
                    id: summary.export_id.clone(),
                    ledger: ledger.to_owned(),
                    region,
                    created: now.0,
                    status: "IN_PROGRESS".into(),
                    start: start.0,
                    end: end.0,
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                    encryption: encryption_config.clone(),
                    role_arn: role.to_owned(),
                    format: format.name().to_owned(),
                    completed_body: read(&summary.completed_manifest)?,
                    completed_key: summary.completed_manifest,
                })
            });
        remove_scratch(&scratch);
        let export = delivered?;
        EXPORTS.save(w.conn(), &export.id, &export)?;
        let id = export.id.clone();
        self.exports().insert(id.clone(), export);
        Ok(json!({ "ExportId": id }))
    }

    pub(super) fn describe_journal_s3_export(
        &self,
        ledger: &str,
        id: &str,
    ) -> Result<Value, QldbError> {
        if !self.ledgers().contains_key(ledger) {
            return Err(QldbError::LedgerNotFound(ledger.to_owned()));
        }
        let exports = self.exports();
        let e = exports
            .get(id)
            .filter(|e| e.ledger == ledger)
            .ok_or_else(|| QldbError::ExportNotFound(id.to_owned()))?;
        Ok(json!({ "ExportDescription": e.describe() }))
    }

    /// ListJournalS3Exports (every ledger, `ledger` empty) or ListJournalS3ExportsForLedger.
    pub(super) fn list_journal_s3_exports(&self, ledger: Option<&str>) -> Result<Value, QldbError> {
        if let Some(l) = ledger {
            if !self.ledgers().contains_key(l) {
                return Err(QldbError::LedgerNotFound(l.to_owned()));
            }
        }
        let list: Vec<Value> = self
            .exports()
            .values()
            .filter(|e| ledger.is_none_or(|l| e.ledger == l))
            .map(JournalExport::describe)
            .collect();
        Ok(json!({ "JournalS3Exports": list }))
    }

    /// Completes the exports in progress: their completed manifests go into S3 (in the
    /// emulator's delivery tick).
    pub fn complete_exports(
        &self,
        w: &Write<'_>,
        env: &Env,
        s3: &S3,
        kms: &Kms,
    ) -> Result<(), QldbError> {
        let pending: Vec<JournalExport> = self
            .exports()
            .values()
            .filter(|e| e.status == "IN_PROGRESS")
            .cloned()
            .collect();
        for mut e in pending {
            let format = ExportFormat::parse(&e.format).unwrap_or(ExportFormat::IonText);
            let written = s3.deliver_object(
                w,
                env,
                env.now(),
                &e.bucket,
                &e.completed_key,
                e.completed_body.clone(),
                BTreeMap::new(),
                content_type(format),
                encryption(&e.encryption, kms),
            );
            e.status = if written.is_ok() {
                "COMPLETED".into()
            } else {
                "CANCELLED".into()
            };
            EXPORTS.save(w.conn(), &e.id, &e)?;
            self.exports().insert(e.id.clone(), e);
        }
        Ok(())
    }
}

fn content_type(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Json => "application/json",
        _ => "application/octet-stream",
    }
}

fn remove_scratch(dir: &Path) {
    // What is left behind is a copy of data the ledger still holds; the next start ignores it.
    let _ = std::fs::remove_dir_all(dir);
}
