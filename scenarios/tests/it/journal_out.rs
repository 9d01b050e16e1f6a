//! The second seed recipe, steps 5 to 9, with the unmodified clients: the AWS CLI (awscli
//! 1.40.45) makes the Kinesis stream and the role and starts QLDB's journal stream; pyqldb
//! inserts and updates documents and boto3 with `aws-kinesis-agg` reads and de-aggregates the
//! stream (`drivers/journal_stream.py`); the AWS CLI exports the journal to S3 and describes the
//! export until it completes (and again under a KMS key: `head-object` shows SSE-KMS with the
//! key, and a disabled key makes the objects unreadable and a new export refused); and a
//! revision read from the export verifies against a digest
//! from `aws qldb get-digest` with the proof from `aws qldb get-revision` (by
//! `veritrail-verify`), while the same revision changed by one byte does not.

use std::process::Command;

use veritrail_core::ion_rs::Element;

use crate::awscli::{failed, json, ok, with_cli};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"qldb.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const ROLE: &str = "arn:aws:iam::000000000000:role/qldb-journal";

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn field<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.as_struct()?.get(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_seed_recipe_streams_the_journal_to_kinesis_and_exports_it_to_s3() {
    let emulator = veritrail_scenarios::spawn().await.unwrap();
    let clock = std::sync::Arc::clone(&emulator.emulator);
    with_cli(&emulator.url, "awscli-journal-out", move |u, home| {
        // 5. The Kinesis stream, the role QLDB writes with, and the ledger.
        ok(u, home, &["kinesis", "create-stream", "--stream-name", "vehicle-journal", "--shard-count", "2"]);
        let summary = json(&ok(u, home, &["kinesis", "describe-stream-summary", "--stream-name", "vehicle-journal"]));
        let stream_arn = summary["StreamDescriptionSummary"]["StreamARN"].as_str().unwrap().to_owned();
        ok(u, home, &["iam", "create-role", "--role-name", "qldb-journal", "--assume-role-policy-document", TRUST]);
        ok(u, home, &["qldb", "create-ledger", "--name", "vehicles", "--permissions-mode", "STANDARD", "--no-deletion-protection"]);
        ok(u, home, &["qldb", "describe-ledger", "--name", "vehicles"]);

        // 6. Start streaming (aggregation on); an end before the start is refused.
        let config = format!("StreamArn={stream_arn},AggregationEnabled=true");
        let refused = failed(u, home, &[
            "qldb", "stream-journal-to-kinesis", "--ledger-name", "vehicles", "--role-arn", ROLE,
            "--inclusive-start-time", "2026-01-02T00:00:00Z", "--exclusive-end-time", "2026-01-01T00:00:00Z",
            "--kinesis-configuration", &config, "--stream-name", "backwards",
        ]);
        assert!(refused.contains("InvalidParameterException"), "{refused}");
        let started = json(&ok(u, home, &[
            "qldb", "stream-journal-to-kinesis", "--ledger-name", "vehicles", "--role-arn", ROLE,
            "--inclusive-start-time", "2020-01-01T00:00:00Z",
            "--kinesis-configuration", &config, "--stream-name", "vehicles-journal",
        ]));
        let stream_id = started["StreamId"].as_str().unwrap().to_owned();

        // 7. Documents through pyqldb; the stream read and de-aggregated with aws-kinesis-agg.
        let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("drivers/journal_stream.py");
        let out = Command::new(crate::drivers::python())
            .arg(script)
            .args([u, stream_arn.as_str(), stream_id.as_str(), "vehicles"])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.contains("journal stream consumer: ok"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let document = stdout.lines().next().unwrap().trim().to_owned();
        let described = json(&ok(u, home, &[
            "qldb", "describe-journal-kinesis-stream", "--ledger-name", "vehicles", "--stream-id", &stream_id,
        ]));
        assert_eq!(described["Stream"]["Status"], "ACTIVE");
        assert_eq!(described["Stream"]["KinesisConfiguration"]["StreamArn"], stream_arn.as_str());

        // 8. Export to S3, up to now; a missing bucket and an unknown role are refused.
        ok(u, home, &["s3api", "create-bucket", "--bucket", "journal-exports"]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let end = (clock.now().0 / 1000).to_string();
        let export = |bucket: &str, role: &str| {
            vec![
                "qldb".to_owned(), "export-journal-to-s3".into(), "--name".into(), "vehicles".into(),
                "--inclusive-start-time".into(), "2020-01-01T00:00:00Z".into(),
                "--exclusive-end-time".into(), end.clone(), "--role-arn".into(), role.to_owned(),
                "--s3-export-configuration".into(),
                format!("Bucket={bucket},Prefix=vehicles/,EncryptionConfiguration={{ObjectEncryptionType=SSE_S3}}"),
            ]
        };
        let no_bucket = export("no-such-bucket", ROLE);
        let refused = failed(u, home, &strs(&no_bucket));
        assert!(refused.contains("ResourcePreconditionNotMetException"), "{refused}");
        let no_role = export("journal-exports", "arn:aws:iam::000000000000:role/nobody");
        let refused = failed(u, home, &strs(&no_role));
        assert!(refused.contains("ResourcePreconditionNotMetException"), "{refused}");
        let good = export("journal-exports", ROLE);
        let export_id = json(&ok(u, home, &strs(&good)))["ExportId"].as_str().unwrap().to_owned();

        // 9. Describe the export until it completes, then read it back.
        let mut status = String::new();
        for _ in 0..100 {
            let d = json(&ok(u, home, &["qldb", "describe-journal-s3-export", "--name", "vehicles", "--export-id", &export_id]));
            status = d["ExportDescription"]["Status"].as_str().unwrap().to_owned();
            if status == "COMPLETED" {
                assert_eq!(d["ExportDescription"]["S3ExportConfiguration"]["Bucket"], "journal-exports");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(status, "COMPLETED");
        // The same export under a KMS key: every object is SSE-KMS with that key, as
        // `head-object` shows; with the key disabled the objects cannot be read and a new
        // export is refused.
        let key_arn = json(&ok(u, home, &["kms", "create-key", "--description", "journal exports"]))["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut encrypted = export("journal-exports", ROLE);
        encrypted[11] = format!(
            "Bucket=journal-exports,Prefix=vehicles-kms/,EncryptionConfiguration={{ObjectEncryptionType=SSE_KMS,KmsKeyArn={key_arn}}}"
        );
        let kms_export = json(&ok(u, home, &strs(&encrypted)))["ExportId"].as_str().unwrap().to_owned();
        for _ in 0..100 {
            let d = json(&ok(u, home, &["qldb", "describe-journal-s3-export", "--name", "vehicles", "--export-id", &kms_export]));
            if d["ExportDescription"]["Status"] == "COMPLETED" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let listing = json(&ok(u, home, &["s3api", "list-objects-v2", "--bucket", "journal-exports", "--prefix", "vehicles-kms/"]));
        let kms_keys: Vec<String> = listing["Contents"].as_array().unwrap().iter().map(|o| o["Key"].as_str().unwrap().to_owned()).collect();
        assert!(kms_keys.iter().any(|k| k.ends_with(".completed.manifest")), "{kms_keys:?}");
        assert!(kms_keys.iter().any(|k| k.ends_with(".ion")), "{kms_keys:?}");
        for key in &kms_keys {
            let head = json(&ok(u, home, &["s3api", "head-object", "--bucket", "journal-exports", "--key", key]));
            assert_eq!(head["ServerSideEncryption"], "aws:kms", "{key}: {head}");
            assert_eq!(head["SSEKMSKeyId"], key_arn.as_str(), "{key}: {head}");
        }
        let plain = json(&ok(u, home, &["s3api", "head-object", "--bucket", "journal-exports", "--key", &format!("vehicles/{export_id}.started.manifest")]));
        assert_eq!(plain["ServerSideEncryption"], "AES256", "{plain}");
        ok(u, home, &["kms", "disable-key", "--key-id", &key_arn]);
        let out = home.join("object");
        let unreadable = failed(u, home, &["s3api", "get-object", "--bucket", "journal-exports", "--key", &kms_keys[0], out.to_str().unwrap()]);
        assert!(unreadable.contains("KMS.DisabledException"), "{unreadable}");
        let refused = failed(u, home, &strs(&encrypted));
        assert!(refused.contains("ResourcePreconditionNotMetException") && refused.contains("disabled"), "{refused}");
        ok(u, home, &["kms", "enable-key", "--key-id", &key_arn]);

        let listed = json(&ok(u, home, &["qldb", "list-journal-s3-exports-for-ledger", "--name", "vehicles"]));
        assert!(
            listed["JournalS3Exports"].as_array().unwrap().iter().any(|e| e["ExportId"] == export_id.as_str()),
            "{listed}"
        );
        let get = |key: &str| ok(u, home, &["s3", "cp", &format!("s3://journal-exports/{key}"), "-"]);
        let listing = ok(u, home, &["s3api", "list-objects-v2", "--bucket", "journal-exports", "--prefix", "vehicles/"]);
        let manifest_key = json(&listing)["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["Key"].as_str().unwrap().to_owned())
            .find(|k| k.starts_with(&format!("vehicles/{export_id}.")) && k.ends_with(".completed.manifest"))
            .expect("the completed manifest");
        let manifest = Element::read_one(get(&manifest_key).as_bytes()).unwrap();
        let mut blocks = Vec::new();
        for key in field(&manifest, "keys").unwrap().as_sequence().unwrap().iter() {
            blocks.extend(Element::read_all(get(key.as_text().unwrap()).as_bytes()).unwrap());
        }
        let revision = blocks
            .iter()
            .flat_map(|b| field(b, "revisions").and_then(Element::as_sequence).into_iter().flat_map(|s| s.iter()))
            .find(|r| {
                let m = field(r, "metadata");
                m.and_then(|m| field(m, "id")).and_then(Element::as_text) == Some(document.as_str())
                    && m.and_then(|m| field(m, "version")).and_then(Element::as_i64) == Some(2)
            })
            .expect("the document's last revision in the export")
            .clone();

        // The revision from the export against a digest, with the proof QLDB hands out.
        let digest_text = ok(u, home, &["qldb", "get-digest", "--name", "vehicles"]);
        let digest = veritrail_verify::parse_digest(&digest_text).unwrap();
        let tip = json(&digest_text)["DigestTipAddress"].to_string();
        let address = serde_json::json!({"IonText": field(&revision, "blockAddress").unwrap().to_string()}).to_string();
        let proved = ok(u, home, &[
            "qldb", "get-revision", "--name", "vehicles", "--block-address", &address,
            "--document-id", &document, "--digest-tip-address", &tip,
        ]);
        let proof = veritrail_verify::parse_revision(&proved).unwrap().proof.unwrap();
        veritrail_verify::verify_revision(&revision, Some(&proof), &digest).unwrap();
        let forged = Element::read_one(revision.to_string().replace("Dave", "Mallory").as_bytes()).unwrap();
        assert!(veritrail_verify::verify_revision(&forged, Some(&proof), &digest).is_err());
    })
    .await;
}
