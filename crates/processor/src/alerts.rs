//! Rules and alerts: every record goes through one [`Machine`] over all rules of all packs; a
//! match raises an alert, recorded in the ledger table `Alerts` and reviewed there.
//!
//! An alert's id is derived from the pack, the rule and the record's `eventID`, and alerts are
//! appended idempotently by `alertId`, so a replay, a restart, or one event from two sources
//! raises each alert once. A review (`acknowledge`, `resolve`) is an `UPDATE` of the alert: a
//! new revision, so `history(Alerts)` is the review trail (who, when, what they noted).
//!
//! States: `OPEN` → `ACKNOWLEDGED` → `RESOLVED`, or `OPEN` → `RESOLVED`; nothing leaves
//! `RESOLVED`, and acknowledging twice is refused.

use serde_json::{Map, Value as Json, json};
use sha2::{Digest as _, Sha256};
use veritrail_core::ion_rs::Element;
use veritrail_core::json_ion::{ion_to_json, json_to_ion};
use veritrail_core::time::UtcMillis;
use veritrail_ledger::db::{Database, DbError};
use veritrail_rules::packs::{self, Rule, RulePack};
use veritrail_rules::{EventError, Machine, MachineBuilder};

use crate::document::Record;
use crate::error::ProcessorError;

/// The ledger table of alerts.
pub const ALERTS_TABLE: &str = "Alerts";
/// The key of an alert.
pub const ALERT_KEY: &str = "alertId";

/// All rules of some packs in one machine.
#[derive(Debug)]
pub struct RuleSet {
    /// (pack id, rule), in the machine's numbering.
    rules: Vec<(String, Rule)>,
    machine: Machine<usize>,
}

impl RuleSet {
    /// The shipped packs.
    pub fn builtin() -> Result<Self, ProcessorError> {
        let mut packs = Vec::new();
        for (id, text) in packs::BUILTIN {
            packs.push(packs::parse(text).map_err(|problems| {
                ProcessorError::Config(format!(
                    "built-in pack {id}: {}",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?);
        }
        Ok(Self::new(packs))
    }

    /// These packs' rules in one machine.
    pub fn new(packs: Vec<RulePack>) -> Self {
        let mut rules = Vec::new();
        let mut b = MachineBuilder::new();
        for pack in packs {
            for rule in pack.rules {
                b.add(rules.len(), &rule.pattern);
                rules.push((pack.id.clone(), rule));
            }
        }
        Self {
            rules,
            machine: b.build(),
        }
    }

    /// Adds a user's pack (JSON text) to the packs this set was built from.
    pub fn with_pack(self, text: &str) -> Result<Self, ProcessorError> {
        let pack = packs::parse(text).map_err(|problems| {
            ProcessorError::Config(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut packs: Vec<RulePack> = Vec::new();
        for (pack_id, rule) in self.rules {
            match packs.last_mut() {
                Some(p) if p.id == pack_id => p.rules.push(rule),
                _ => packs.push(RulePack {
                    id: pack_id,
                    title: String::new(),
                    description: String::new(),
                    rules: vec![rule],
                }),
            }
        }
        if packs.iter().any(|p| p.id == pack.id) {
            return Err(ProcessorError::Config(format!(
                "a pack with id {} is already loaded",
                pack.id
            )));
        }
        packs.push(pack);
        Ok(Self::new(packs))
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules an EventBridge event matches, as (pack id, rule).
    pub fn matches(&self, event: &Json) -> Result<Vec<(&str, &Rule)>, EventError> {
        Ok(self
            .machine
            .matches_value(event)?
            .into_iter()
            .map(|&i| (self.rules[i].0.as_str(), &self.rules[i].1))
            .collect())
    }
}

/// The id of the alert a rule raises on an event: the first 16 bytes of
/// SHA-256(`pack/rule` NUL `eventID`), in hex.
pub fn alert_id(pack_id: &str, rule_id: &str, event_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(pack_id.as_bytes());
    h.update(b"/");
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(event_id.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The alert document a rule raises on a record.
pub fn alert_document(pack_id: &str, rule: &Rule, record: &Record, raised_at: UtcMillis) -> Json {
    let controls: Vec<Json> = rule
        .controls
        .iter()
        .map(|c| json!({"framework": c.framework, "control": c.control}))
        .collect();
    let mut alert = Map::new();
    alert.insert(
        ALERT_KEY.into(),
        json!(alert_id(pack_id, &rule.id, &record.event_id)),
    );
    alert.insert("packId".into(), json!(pack_id));
    alert.insert("ruleId".into(), json!(rule.id));
    alert.insert("title".into(), json!(rule.title));
    alert.insert("severity".into(), json!(rule.severity.as_str()));
    alert.insert("controls".into(), Json::Array(controls));
    alert.insert("eventIDs".into(), json!([record.event_id]));
    alert.insert("eventTime".into(), json!(record.event_time));
    if let Some(name) = &record.event_name {
        alert.insert("eventName".into(), json!(name));
    }
    alert.insert("state".into(), json!(State::Open.as_str()));
    alert.insert("raisedAt".into(), json!(raised_at.to_string()));
    Json::Object(alert)
}

/// An alert's review state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "OPEN",
            State::Acknowledged => "ACKNOWLEDGED",
            State::Resolved => "RESOLVED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [State::Open, State::Acknowledged, State::Resolved]
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

/// Why a review was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReviewError {
    /// No alert has this id.
    NotFound(String),
    /// The alert's state does not allow this review (resolving a resolved alert).
    Transition {
        id: String,
        from: String,
        to: State,
    },
    /// `--by` or `--note` empty.
    Incomplete(&'static str),
    Ledger(DbError),
}

impl std::fmt::Display for ReviewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "no alert {id} in table {ALERTS_TABLE}"),
            Self::Transition { id, from, to } => {
                write!(f, "alert {id} is {from}; it cannot become {}", to.as_str())
            }
            Self::Incomplete(what) => write!(f, "a review needs {what}"),
            Self::Ledger(e) => write!(f, "ledger: {e}"),
        }
    }
}

impl std::error::Error for ReviewError {}

/// The alerts in the ledger (all, or in one state), as JSON, oldest first by `raisedAt`.
pub fn list(db: &Database, state: Option<State>) -> Result<Vec<Json>, DbError> {
    let rows = match state {
        Some(s) => db.execute(
            &format!("SELECT * FROM {ALERTS_TABLE} AS a WHERE a.state = ?"),
            &[Element::from(s.as_str())],
        ),
        None => db.execute(&format!("SELECT * FROM {ALERTS_TABLE}"), &[]),
    };
    let rows = match rows {
        Ok(r) => r,
        // No alert was ever raised: the table does not exist yet.
        Err(e) if is_missing_table(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<Json> = rows.iter().filter_map(|r| ion_to_json(r).ok()).collect();
    out.sort_by(|a, b| {
        let key = |v: &Json| {
            (
                v["raisedAt"].as_str().unwrap_or("").to_owned(),
                v[ALERT_KEY].as_str().unwrap_or("").to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(out)
}

fn is_missing_table(e: &DbError) -> bool {
    matches!(e, DbError::NoSuchTable { name, .. } if name == ALERTS_TABLE)
}

/// One alert, as JSON.
pub fn show(db: &Database, id: &str) -> Result<Option<Json>, DbError> {
    let rows = match db.execute(
        &format!("SELECT * FROM {ALERTS_TABLE} AS a WHERE a.{ALERT_KEY} = ?"),
        &[Element::from(id)],
    ) {
        Ok(r) => r,
        Err(e) if is_missing_table(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(rows.first().and_then(|r| ion_to_json(r).ok()))
}

/// Acknowledges or resolves an alert: checks the transition and records who, when and why as
/// a new revision of the alert. Returns the alert as it is now.
pub fn review(
    db: &Database,
    id: &str,
    to: State,
    by: &str,
    note: &str,
    at: UtcMillis,
) -> Result<Json, ReviewError> {
    if by.trim().is_empty() {
        return Err(ReviewError::Incomplete("--by (who reviewed it)"));
    }
    if note.trim().is_empty() {
        return Err(ReviewError::Incomplete("--note (what was found or done)"));
    }
    let review = json_to_ion(&json!({
        "action": to.as_str(),
        "by": by,
        "note": note,
        "at": at.to_string(),
    }));
    let select = format!("SELECT a.state FROM {ALERTS_TABLE} AS a WHERE a.{ALERT_KEY} = ?");
    let update =
        format!("UPDATE {ALERTS_TABLE} AS a SET a.state = ?, a.review = ? WHERE a.{ALERT_KEY} = ?");
    let id_value = Element::from(id);
    let result = db.run(3, |tx| {
        let rows = tx.execute(&select, std::slice::from_ref(&id_value))?;
        let Some(row) = rows.first() else {
            return Ok(Err(ReviewError::NotFound(id.to_owned())));
        };
        let from = row
            .as_struct()
            .and_then(|s| s.get("state"))
            .and_then(|s| s.as_text())
            .unwrap_or("")
            .to_owned();
        let allowed = matches!(
            (State::parse(&from), to),
            (Some(State::Open), State::Acknowledged | State::Resolved)
                | (Some(State::Acknowledged), State::Resolved)
        );
        if !allowed {
            return Ok(Err(ReviewError::Transition {
                id: id.to_owned(),
                from,
                to,
            }));
        }
        tx.execute(
            &update,
            &[Element::from(to.as_str()), review.clone(), id_value.clone()],
        )?;
        Ok(Ok(()))
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) if is_missing_table(&e) => return Err(ReviewError::NotFound(id.to_owned())),
        Err(e) => return Err(ReviewError::Ledger(e)),
    }
    show(db, id)
        .map_err(ReviewError::Ledger)?
        .ok_or_else(|| ReviewError::NotFound(id.to_owned()))
}

/// An alert document as the ledger stores it.
pub(crate) fn to_ion(alert: &Json) -> Element {
    json_to_ion(alert)
}
