//! The bank seed scenario: (a) a ledger with deletion protection, ACTIVE; (b) tables, indexes
//! and sample data in transactions with driver-computed commit digests; (c) the audit
//! queries; (d) a digest and every revision of one account fetched with GetRevision and
//! verified with `veritrail-verify`; (e) DeleteLedger refused until UpdateLedger lifts the
//! protection.

use veritrail_scenarios::{Session, qldb_client, session_client, spawn};
use veritrail_verify::{parse_digest, parse_revision, verify_revision};

use crate::{active_ledger, field, ion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_scenario_runs_through_the_aws_sdk() {
    let emulator = spawn().await.unwrap();
    let qldb = qldb_client(&emulator.url);
    let sessions = session_client(&emulator.url);

    // (a)
    active_ledger(&qldb, "bank", true).await;
    let described = qldb.describe_ledger().name("bank").send().await.unwrap();
    assert_eq!(described.deletion_protection(), Some(true));
    assert!(described.arn().unwrap().ends_with(":ledger/bank"));
    assert!(described.creation_date_time().is_some());

    // (b)
    let session = Session::start(&sessions, "bank").await.unwrap();
    session
        .execute(|tx| {
            Box::pin(async move {
                for t in ["Accounts", "Transactions", "AuditLog"] {
                    tx.exec(&format!("CREATE TABLE {t}"), &[]).await?;
                }
                tx.exec("CREATE INDEX ON Accounts (accountId)", &[]).await?;
                tx.exec("CREATE INDEX ON Transactions (fromAccount)", &[])
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    session
        .execute(|tx| {
            Box::pin(async move {
                for (id, owner, balance) in [
                    ("ACC-001", "Alice", 1000),
                    ("ACC-002", "Bob", 500),
                    ("ACC-003", "Carol", 250),
                ] {
                    tx.exec(
                        "INSERT INTO Accounts ?",
                        &[ion(&format!(
                            "{{accountId:\"{id}\",owner:\"{owner}\",balance:{balance}}}"
                        ))],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    for (from, to, amount, time) in [
        ("ACC-001", "ACC-002", 100, "2024-01-15T10:00:00Z"),
        ("ACC-002", "ACC-003", 50, "2024-02-01T09:30:00Z"),
        ("ACC-001", "ACC-003", 200, "2024-03-10T16:45:00Z"),
    ] {
        session
            .execute(|tx| {
                Box::pin(async move {
                    let read = |v: Vec<veritrail_core::ion_rs::Element>| v[0].as_i64().unwrap();
                    let a = read(tx.exec("SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?", &[ion(&format!("\"{from}\""))]).await?);
                    let b = read(tx.exec("SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?", &[ion(&format!("\"{to}\""))]).await?);
                    tx.exec("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[ion(&(a - amount).to_string()), ion(&format!("\"{from}\""))]).await?;
                    tx.exec("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[ion(&(b + amount).to_string()), ion(&format!("\"{to}\""))]).await?;
                    tx.exec("INSERT INTO Transactions ?", &[ion(&format!("{{fromAccount:\"{from}\",toAccount:\"{to}\",amount:{amount},time:{time}}}"))]).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }

    // (c)
    let (balances, of_one, in_range, history) = session
        .execute(|tx| {
            Box::pin(async move {
                let balances = tx.exec("SELECT a.accountId, a.balance FROM Accounts AS a", &[]).await?;
                let of_one = tx.exec("SELECT * FROM Transactions AS t WHERE t.fromAccount = ?", &[ion("\"ACC-001\"")]).await?;
                let in_range = tx.exec("SELECT VALUE t.amount FROM Transactions AS t WHERE t.time BETWEEN `2024-01-31T` AND `2024-03-31T`", &[]).await?;
                let history = tx.exec("SELECT * FROM history(Accounts) AS h WHERE h.data.accountId = 'ACC-001'", &[]).await?;
                Ok((balances, of_one, in_range, history))
            })
        })
        .await
        .unwrap();
    let mut b: Vec<(String, i64)> = balances
        .iter()
        .map(|r| {
            (
                field(r, "accountId").as_text().unwrap().to_owned(),
                field(r, "balance").as_i64().unwrap(),
            )
        })
        .collect();
    b.sort();
    assert_eq!(
        b,
        [
            ("ACC-001".into(), 700),
            ("ACC-002".into(), 550),
            ("ACC-003".into(), 500)
        ]
    );
    assert_eq!(of_one.len(), 2);
    assert_eq!(in_range.len(), 2);
    assert_eq!(history.len(), 3);
    session.end().await.unwrap();

    // (d)
    let digest = qldb.get_digest().name("bank").send().await.unwrap();
    let tip = digest
        .digest_tip_address()
        .unwrap()
        .ion_text()
        .unwrap()
        .to_owned();
    let digest_json = format!(
        "{{\"Digest\":\"{}\",\"DigestTipAddress\":{{\"IonText\":{}}}}}",
        base64_of(digest.digest().as_ref()),
        serde_json_string(&tip)
    );
    let saved = parse_digest(&digest_json).unwrap();
    for row in &history {
        let address = field(row, "blockAddress").to_string();
        let id = field(field(row, "metadata"), "id").as_text().unwrap();
        let out = qldb
            .get_revision()
            .name("bank")
            .block_address(
                aws_sdk_qldb::types::ValueHolder::builder()
                    .ion_text(address)
                    .build(),
            )
            .document_id(id)
            .digest_tip_address(
                aws_sdk_qldb::types::ValueHolder::builder()
                    .ion_text(&tip)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let revision_json = format!(
            "{{\"Revision\":{{\"IonText\":{}}},\"Proof\":{{\"IonText\":{}}}}}",
            serde_json_string(out.revision().unwrap().ion_text().unwrap()),
            serde_json_string(out.proof().unwrap().ion_text().unwrap())
        );
        let parsed = parse_revision(&revision_json).unwrap();
        verify_revision(&parsed.value, parsed.proof.as_deref(), &saved).unwrap();
    }

    // (e)
    let refused = qldb.delete_ledger().name("bank").send().await.unwrap_err();
    assert!(
        refused
            .into_service_error()
            .is_resource_precondition_not_met_exception()
    );
    qldb.update_ledger()
        .name("bank")
        .deletion_protection(false)
        .send()
        .await
        .unwrap();
    qldb.delete_ledger().name("bank").send().await.unwrap();
    let gone = qldb
        .describe_ledger()
        .name("bank")
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_resource_not_found_exception());
}

fn base64_of(bytes: &[u8]) -> String {
    veritrail_core::Hash32::from_slice(bytes)
        .unwrap()
        .to_base64()
}

fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
