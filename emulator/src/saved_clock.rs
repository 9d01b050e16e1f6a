//! The emulator's clock as saved in `aws.sqlite` (`emulator_clock`): a time a little ahead of
//! the clock, where a restart begins, so time never goes back across a restart or a kill.
//!
//! The row carries an HMAC-SHA256 tag under a key of the key store (`clock-integrity.key`):
//! whoever can write `aws.sqlite` but not the key directory cannot move the saved time forward
//! (which would expire Object Lock retention at the next start) without the emulator refusing to
//! start. A row of a data directory older than the tag is accepted once and tagged.

use hmac::{KeyInit as _, Mac as _};
use rusqlite::OptionalExtension as _;

use crate::EmulatorError;
use crate::keys::KeyStore;
use crate::store::{StoreError, Write};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS emulator_clock (id INTEGER PRIMARY KEY CHECK (id = 1), now INTEGER NOT NULL, mac BLOB);";

/// The key that tags the saved time.
pub struct SavedClock([u8; 32]);

impl std::fmt::Debug for SavedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedClock(..)")
    }
}

impl SavedClock {
    /// Opens the row (creating or upgrading the table in `w`) and returns the saved time, if
    /// any, checked against its tag.
    pub fn open(w: &Write<'_>, keys: &KeyStore) -> Result<(Self, Option<i64>), EmulatorError> {
        let this = Self(keys.secret("clock-integrity.key")?);
        let conn = w.conn();
        conn.execute_batch(SCHEMA)?;
        let tagged: bool = conn.query_row(
            "SELECT count(*) FROM pragma_table_info('emulator_clock') WHERE name = 'mac'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !tagged {
            // A data directory from before the tag: its time is taken as it is, once.
            conn.execute_batch("ALTER TABLE emulator_clock ADD COLUMN mac BLOB")?;
            let old: Option<i64> = conn
                .query_row("SELECT now FROM emulator_clock WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(now) = old {
                this.save(w, now)?;
            }
            return Ok((this, old));
        }
        let row: Option<(i64, Option<Vec<u8>>)> = conn
            .query_row(
                "SELECT now, mac FROM emulator_clock WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok((this, None)),
            Some((now, Some(tag))) if this.mac(now).verify_slice(&tag).is_ok() => {
                Ok((this, Some(now)))
            }
            Some((now, _)) => Err(StoreError::Corrupt(format!(
                "the saved clock (emulator_clock row 1, {now}) does not match its integrity tag: it was changed outside the emulator"
            ))
            .into()),
        }
    }

    fn mac(&self, now: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts a 32-byte key"));
        mac.update(b"veritrail-emulator-clock-v1");
        mac.update(&now.to_be_bytes());
        mac
    }

    /// Saves `now` in `w`, unless a later time is saved already.
    pub fn save(&self, w: &Write<'_>, now: i64) -> Result<(), StoreError> {
        let tag = self.mac(now).finalize().into_bytes().to_vec();
        w.conn()
            .prepare_cached(
                "INSERT INTO emulator_clock (id, now, mac) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET now = excluded.now, mac = excluded.mac
                 WHERE excluded.now > now OR mac IS NULL",
            )?
            .execute(rusqlite::params![now, tag])?;
        Ok(())
    }
}
