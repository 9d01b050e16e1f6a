//! How services read their rows of `aws.sqlite` back: strictly. A row that does not parse, or
//! lacks a member, is damaged (changed by hand, or by a bug) and stops start-up with an error
//! naming the row, rather than becoming an empty string, time 0 or a missing setting.

use serde::de::DeserializeOwned;

use crate::store::StoreError;

/// Parses a saved row's JSON; `row` names the row in the error (`the CloudTrail state (ct_state
/// row 1)`).
pub fn parse_row<T: DeserializeOwned>(row: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))
}

/// A keyed table of JSON rows (`<table> (key TEXT PRIMARY KEY, json TEXT NOT NULL)`): the
/// layout of IAM's and KMS's entities. `table` is one of the service's own constant names.
#[derive(Debug)]
pub struct JsonTable {
    pub table: &'static str,
    /// What a row is, for errors (`the IAM role`).
    pub what: &'static str,
}

impl JsonTable {
    /// The `CREATE TABLE` statement.
    pub fn schema(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, json TEXT NOT NULL);",
            self.table
        )
    }

    /// Inserts or replaces the row of `key`.
    pub fn save<T: serde::Serialize>(
        &self,
        conn: &rusqlite::Connection,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        conn.prepare_cached(&format!(
            "INSERT INTO {} (key, json) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET json = excluded.json",
            self.table
        ))?
        .execute(rusqlite::params![key, json])?;
        Ok(())
    }

    /// Deletes the row of `key`.
    pub fn delete(&self, conn: &rusqlite::Connection, key: &str) -> Result<(), StoreError> {
        conn.prepare_cached(&format!("DELETE FROM {} WHERE key = ?1", self.table))?
            .execute([key])?;
        Ok(())
    }

    /// Every row, read strictly: `key_of` must give back the row's key, and `check` must pass.
    pub fn load<T: DeserializeOwned>(
        &self,
        conn: &rusqlite::Connection,
        key_of: impl Fn(&T) -> String,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> Result<Vec<T>, StoreError> {
        let rows: Vec<(String, String)> = conn
            .prepare(&format!(
                "SELECT key, json FROM {} ORDER BY key",
                self.table
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, text) in rows {
            let row = format!("{} {key} ({})", self.what, self.table);
            let value: T = parse_row(&row, &text)?;
            if key_of(&value) != key {
                return Err(StoreError::Corrupt(format!(
                    "{row}: its JSON names another one"
                )));
            }
            check(&value).map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))?;
            out.push(value);
        }
        Ok(out)
    }
}

/// An `Option` member that must be present in a saved row (`null` when it is `None`): serde
/// otherwise reads a removed member as `None`, so a damaged row would silently lose a setting.
/// Use as `#[serde(with = "crate::services::saved::present")]`.
pub mod present {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        name: String,
        #[serde(with = "present")]
        note: Option<String>,
    }

    #[test]
    fn a_removed_member_is_damage_not_none() {
        let row: Row = parse_row("row a", r#"{"name":"a","note":null}"#).unwrap();
        assert_eq!(row.note, None);
        let text = serde_json::to_string(&Row {
            name: "b".into(),
            note: Some("x".into()),
        })
        .unwrap();
        assert_eq!(
            parse_row::<Row>("row b", &text).unwrap().note.as_deref(),
            Some("x")
        );
        let e = parse_row::<Row>("row c", r#"{"name":"c"}"#).unwrap_err();
        assert!(e.to_string().contains("row c: missing field `note`"), "{e}");
        let e = parse_row::<Row>("row d", "{not json").unwrap_err();
        assert!(
            e.to_string().starts_with("aws.sqlite is damaged: row d: "),
            "{e}"
        );
    }
}
