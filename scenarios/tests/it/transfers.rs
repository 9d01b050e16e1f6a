//! Concurrent transfers through separate sessions, with the drivers' OCC retry rules; the
//! balances keep their total and match a serial replay of the committed transfers.

use std::sync::{Arc, Mutex};

use veritrail_scenarios::{DriverError, Session, session_client, spawn};

use crate::{active_ledger, ion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_through_separate_sessions() {
    let emulator = spawn().await.unwrap();
    let qldb = veritrail_scenarios::qldb_client(&emulator.url);
    let sessions = session_client(&emulator.url);
    active_ledger(&qldb, "transfers", false).await;
    let setup = Session::start(&sessions, "transfers").await.unwrap();
    setup
        .execute(|tx| {
            Box::pin(async move {
                tx.exec("CREATE TABLE Accounts", &[]).await?;
                tx.exec("CREATE INDEX ON Accounts (accountId)", &[]).await?;
                for a in 0..4 {
                    tx.exec(
                        "INSERT INTO Accounts ?",
                        &[ion(&format!("{{accountId:\"A{a}\",balance:100}}"))],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();

    let committed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for client in 0..4u64 {
        let (sessions, committed) = (sessions.clone(), Arc::clone(&committed));
        tasks.push(tokio::spawn(async move {
            let session = Session::start(&sessions, "transfers").await.unwrap();
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (client + 1);
            for _ in 0..8 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let (from, to) = (state % 4, (state >> 8) % 4);
                if from == to {
                    continue;
                }
                let amount = (state >> 16) as i64 % 30 + 1;
                let moved = session
                    .execute(|tx| {
                        Box::pin(async move {
                            let get = |v: Vec<veritrail_core::ion_rs::Element>| v[0].as_i64().unwrap();
                            let a = get(tx.exec("SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?", &[ion(&format!("\"A{from}\""))]).await?);
                            let b = get(tx.exec("SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?", &[ion(&format!("\"A{to}\""))]).await?);
                            if a < amount {
                                return Ok(false);
                            }
                            tx.exec("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[ion(&(a - amount).to_string()), ion(&format!("\"A{from}\""))]).await?;
                            tx.exec("UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?", &[ion(&(b + amount).to_string()), ion(&format!("\"A{to}\""))]).await?;
                            Ok(true)
                        })
                    })
                    .await;
                match moved {
                    Ok(true) => committed.lock().unwrap().push((from, to, amount)),
                    Ok(false) => {}
                    // Retries exhausted under contention: the transfer did not happen.
                    Err(DriverError::Occ(_)) => {}
                    Err(e) => panic!("transfer failed: {e}"),
                }
            }
            session.end().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let balances = setup
        .execute(|tx| {
            Box::pin(async move {
                tx.exec("SELECT VALUE a.balance FROM Accounts AS a", &[])
                    .await
            })
        })
        .await
        .unwrap();
    let total: i64 = balances.iter().map(|b| b.as_i64().unwrap()).sum();
    assert_eq!(total, 400);
    // Every committed transfer moved money exactly once.
    let committed: Vec<(u64, u64, i64)> = committed.lock().unwrap().clone();
    assert!(!committed.is_empty());
    let mut expected = [100i64; 4];
    for (from, to, amount) in committed.iter() {
        expected[*from as usize] -= amount;
        expected[*to as usize] += amount;
    }
    let by_account = setup
        .execute(|tx| {
            Box::pin(async move {
                tx.exec("SELECT a.accountId, a.balance FROM Accounts AS a", &[])
                    .await
            })
        })
        .await
        .unwrap();
    for row in by_account {
        let id = crate::field(&row, "accountId").as_text().unwrap();
        let n: usize = id[1..].parse().unwrap();
        assert_eq!(
            crate::field(&row, "balance").as_i64().unwrap(),
            expected[n],
            "{id}"
        );
    }
}
