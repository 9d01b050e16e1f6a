//! QLDB session API: the command flow a driver runs, digests, paging, OCC and errors.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use veritrail_core::ion_rs::{Element, v1_0};
use veritrail_core::qldb::CommitDigest;

use crate::{Reply, request, runtime};

const TARGET: (&str, &str) = ("X-Amz-Target", "QLDBSession.SendCommand");
const JSON10: (&str, &str) = ("Content-Type", "application/x-amz-json-1.0");

fn send(url: &str, body: Value) -> Reply {
    request(url, "POST", "/", &[TARGET, JSON10], &body.to_string())
}

struct Tx {
    url: String,
    token: String,
    id: String,
    digest: CommitDigest,
}

impl Tx {
    fn start(url: &str, token: &str) -> Self {
        let r = send(url, json!({"SessionToken": token, "StartTransaction": {}}));
        let id = r.json["StartTransaction"]["TransactionId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 22);
        Tx {
            url: url.into(),
            token: token.into(),
            digest: CommitDigest::new(&id),
            id,
        }
    }

    fn exec(&mut self, statement: &str, params: &[Element]) -> Reply {
        self.digest.add_statement(statement, params);
        let ps: Vec<Value> = params
            .iter()
            .map(|p| json!({"IonBinary": BASE64.encode(p.encode_as(v1_0::Binary).unwrap())}))
            .collect();
        send(
            &self.url,
            json!({"SessionToken": self.token, "ExecuteStatement": {"TransactionId": self.id, "Statement": statement, "Parameters": ps}}),
        )
    }

    fn commit(&self) -> Reply {
        send(
            &self.url,
            json!({"SessionToken": self.token, "CommitTransaction": {"TransactionId": self.id, "CommitDigest": BASE64.encode(self.digest.digest().as_bytes())}}),
        )
    }
}

fn values(r: &Reply, key: &str) -> Vec<Element> {
    r.json[key]["FirstPage"]["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            Element::read_one(BASE64.decode(v["IonBinary"].as_str().unwrap()).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn a_driver_flow_with_digests_paging_and_errors() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();
    request(
        &u,
        "POST",
        "/ledgers",
        &[],
        r#"{"Name":"bank","PermissionsMode":"STANDARD"}"#,
    );
    let s = send(&u, json!({"StartSession": {"LedgerName": "bank"}}));
    assert_eq!(s.status, 200);
    let token = s.json["StartSession"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tx = Tx::start(&u, &token);
    // One open transaction per session.
    let second = send(&u, json!({"SessionToken": token, "StartTransaction": {}}));
    assert_eq!(second.error_type(), "BadRequestException");
    assert_eq!(tx.exec("CREATE TABLE Accounts", &[]).status, 200);
    tx.exec("CREATE INDEX ON Accounts (accountId)", &[]);
    assert_eq!(tx.commit().status, 200);
    // QLDB's limit: 40 documents per transaction.
    for batch in 0..12 {
        let mut tx = Tx::start(&u, &token);
        for i in 0..40 {
            let n = batch * 40 + i;
            if n >= 450 {
                break;
            }
            let doc = Element::read_one(format!("{{accountId:\"A{n}\",balance:{n}}}")).unwrap();
            let r = tx.exec("INSERT INTO Accounts ?", &[doc]);
            assert_eq!(r.status, 200, "{}", r.json);
        }
        if batch == 0 {
            let over = tx.exec(
                "INSERT INTO Accounts ?",
                &[Element::read_one("{accountId:\"over\"}").unwrap()],
            );
            assert_eq!(over.error_type(), "LimitExceededException");
            let abort = send(&u, json!({"SessionToken": token, "AbortTransaction": {}}));
            assert_eq!(abort.status, 200);
            let mut again = Tx::start(&u, &token);
            for i in 0..40 {
                let doc = Element::read_one(format!("{{accountId:\"A{i}\",balance:{i}}}")).unwrap();
                again.exec("INSERT INTO Accounts ?", &[doc]);
            }
            assert_eq!(again.commit().status, 200);
            continue;
        }
        let c = tx.commit();
        assert_eq!(c.status, 200, "{}", c.json);
        assert_eq!(
            c.json["CommitTransaction"]["CommitDigest"],
            BASE64.encode(tx.digest.digest().as_bytes())
        );
    }

    // Results come as complete Ion binary values, 200 per page.
    let mut tx = Tx::start(&u, &token);
    let r = tx.exec("SELECT VALUE balance FROM Accounts", &[]);
    let mut all = values(&r, "ExecuteStatement");
    let mut next = r.json["ExecuteStatement"]["FirstPage"]["NextPageToken"]
        .as_str()
        .map(str::to_owned);
    while let Some(t) = next {
        let p = send(
            &u,
            json!({"SessionToken": token, "FetchPage": {"TransactionId": tx.id, "NextPageToken": t}}),
        );
        for v in p.json["FetchPage"]["Page"]["Values"].as_array().unwrap() {
            all.push(
                Element::read_one(BASE64.decode(v["IonBinary"].as_str().unwrap()).unwrap())
                    .unwrap(),
            );
        }
        next = p.json["FetchPage"]["Page"]["NextPageToken"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(all.len(), 450);
    let bad = tx.exec("SELECT * FROM Nope", &[]);
    assert_eq!(bad.error_type(), "BadRequestException");
    assert!(
        bad.json["Message"]
            .as_str()
            .unwrap()
            .contains("no such table")
    );
    // A digest that leaves out a statement does not match.
    let mut wrong = CommitDigest::new(&tx.id);
    wrong.add_statement("SELECT VALUE balance FROM Accounts", &[]);
    let refused = send(
        &u,
        json!({"SessionToken": token, "CommitTransaction": {"TransactionId": tx.id, "CommitDigest": BASE64.encode(wrong.digest().as_bytes())}}),
    );
    assert_eq!(refused.error_type(), "BadRequestException");
    assert_eq!(refused.json["Message"], "Digests don't match");

    // OCC: two sessions update the same document.
    let s2 = send(&u, json!({"StartSession": {"LedgerName": "bank"}}));
    let token2 = s2.json["StartSession"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut a = Tx::start(&u, &token);
    let mut b = Tx::start(&u, &token2);
    a.exec(
        "UPDATE Accounts AS x SET x.balance = 1 WHERE x.accountId = 'A1'",
        &[],
    );
    b.exec(
        "UPDATE Accounts AS x SET x.balance = 2 WHERE x.accountId = 'A1'",
        &[],
    );
    assert_eq!(a.commit().status, 200);
    let lost = b.commit();
    assert_eq!(lost.error_type(), "OccConflictException");

    // Bad tokens and shapes.
    let nope = send(&u, json!({"SessionToken": "nope", "StartTransaction": {}}));
    assert_eq!(nope.error_type(), "InvalidSessionException");
    let two = send(
        &u,
        json!({"SessionToken": token, "StartTransaction": {}, "EndSession": {}}),
    );
    assert_eq!(two.error_type(), "BadRequestException");
    let garbage = request(&u, "POST", "/", &[TARGET], "{{");
    assert_eq!(garbage.error_type(), "SerializationException");
    let no_ledger = send(&u, json!({"StartSession": {"LedgerName": "missing"}}));
    assert_eq!(no_ledger.error_type(), "BadRequestException");
    assert_eq!(
        send(&u, json!({"SessionToken": token, "EndSession": {}})).status,
        200
    );
    assert_eq!(
        send(&u, json!({"SessionToken": token, "StartTransaction": {}})).error_type(),
        "InvalidSessionException"
    );
}

#[test]
fn expired_transactions_and_idle_sessions_answer_as_qldb_does() {
    let rt = runtime();
    let dir =
        std::env::temp_dir().join(format!("veritrail-emulator-expiry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = veritrail_emulator::Config::new(&dir);
    config.transaction_timeout = std::time::Duration::from_millis(100);
    config.session_idle_timeout = std::time::Duration::from_millis(300);
    // Expiry follows the emulator's clock: the test moves it instead of sleeping.
    config.clock = std::sync::Arc::new(veritrail_core::time::ManualClock::new(
        veritrail_core::time::UtcMillis(1_704_067_200_000),
        0,
    ));
    let emu = std::sync::Arc::new(veritrail_emulator::Emulator::open(config).unwrap());
    let running = rt
        .block_on(veritrail_emulator::serve(
            emu.clone(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let u = running.url.clone();
    request(
        &u,
        "POST",
        "/ledgers",
        &[],
        r#"{"Name":"slow","PermissionsMode":"STANDARD"}"#,
    );
    let s = send(&u, json!({"StartSession": {"LedgerName": "slow"}}));
    let token = s.json["StartSession"]["SessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tx = Tx::start(&u, &token);
    emu.clock().advance(150).unwrap();
    let expired = tx.exec("CREATE TABLE T", &[]);
    assert_eq!(expired.error_type(), "InvalidSessionException");
    // The message the drivers match to decide not to retry.
    assert_eq!(
        expired.json["Message"],
        format!("Transaction {} has expired", tx.id)
    );
    // The session itself lives on; a new transaction works.
    let mut again = Tx::start(&u, &token);
    assert_eq!(again.exec("CREATE TABLE T", &[]).status, 200);
    assert_eq!(again.commit().status, 200);
    // Idle past the session timeout: the token is no longer valid.
    emu.clock().advance(350).unwrap();
    let idle = send(&u, json!({"SessionToken": token, "StartTransaction": {}}));
    assert_eq!(idle.error_type(), "InvalidSessionException");
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
