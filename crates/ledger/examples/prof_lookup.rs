//! scratch profile (not committed)
#![allow(clippy::disallowed_methods)]
use veritrail_core::ion_rs::Element;
use veritrail_ledger::db::{Database, DatabaseOptions};
use veritrail_ledger::{Ledger, LedgerOptions};
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("prof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ledger = Ledger::create(&dir.join("b.ledger"), "bank", LedgerOptions::default()).unwrap();
    let db = Database::new(
        ledger,
        DatabaseOptions {
            strict_limits: false,
            ..DatabaseOptions::default()
        },
    );
    db.execute("CREATE TABLE Accounts", &[]).unwrap();
    db.execute("CREATE INDEX ON Accounts (accountId)", &[])
        .unwrap();
    db.execute("CREATE TABLE Transfers", &[]).unwrap();
    let n = 10000u64;
    let docs: Vec<Element> = (0..n).map(|i| Element::read_one(format!("{{accountId:\"ACC-{i:06}\",owner:\"Owner {i}\",branch:\"B{}\",balance:1000,currency:\"EUR\",opened:2020-01-01T}}", i % 50)).unwrap()).collect();
    for chunk in docs.chunks(1000) {
        db.run(0, |tx| {
            for d in chunk {
                tx.execute("INSERT INTO Accounts ?", std::slice::from_ref(d))?;
            }
            Ok(())
        })
        .unwrap();
    }
    let cpu = || -> f64 {
        std::fs::read_to_string("/proc/self/schedstat")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let c0 = cpu();
    let t = std::time::Instant::now();
    let mut k = 0u64;
    let mut s = 88172645463325252u64;
    let mut count = 0;
    while t.elapsed().as_secs() < 4 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let id = format!("ACC-{:06}", s % n);
        if mode == "transfer" {
            let to = format!("ACC-{:06}", (s >> 20) % n);
            if to == id {
                continue;
            }
            db.run(0, |tx| {
                let get = |tx: &mut veritrail_ledger::db::Transaction,
                           id: &str|
                 -> Result<i64, veritrail_ledger::db::DbError> {
                    let r = tx.execute(
                        "SELECT VALUE a.balance FROM Accounts AS a WHERE a.accountId = ?",
                        &[Element::string(id)],
                    )?;
                    Ok(r.first().and_then(Element::as_i64).unwrap_or(0))
                };
                let (a, b) = (get(tx, &id)?, get(tx, &to)?);
                tx.execute(
                    "UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?",
                    &[Element::from(a - 1), Element::string(id.as_str())],
                )?;
                tx.execute(
                    "UPDATE Accounts AS a SET a.balance = ? WHERE a.accountId = ?",
                    &[Element::from(b + 1), Element::string(to.as_str())],
                )?;
                tx.execute(
                    "INSERT INTO Transfers ?",
                    &[
                        Element::read_one(format!("{{from:\"{id}\",to:\"{to}\",amount:1}}"))
                            .unwrap(),
                    ],
                )?;
                Ok(())
            })
            .unwrap();
        } else {
            let rows = db
                .execute(
                    "SELECT * FROM Accounts WHERE accountId = ?",
                    &[Element::string(id)],
                )
                .unwrap();
            k += rows.len() as u64;
        }
        count += 1;
    }
    eprintln!(
        "{mode}: {:.0} per s, cpu {:.1} us/op ({k})",
        count as f64 / t.elapsed().as_secs_f64(),
        (cpu() - c0) / 1000.0 / count as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
