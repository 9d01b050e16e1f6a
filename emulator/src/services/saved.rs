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
