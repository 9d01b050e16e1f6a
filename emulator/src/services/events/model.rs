//! EventBridge's state: event buses, rules (with their targets), connections and API
//! destinations, their ARNs, and how each is read back from `aws.sqlite` (strictly: a row no
//! call could have stored stops start-up).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::time::UtcMillis;
use veritrail_rules::Pattern;

use crate::ACCOUNT_ID;
use crate::services::events::input::{is_bus_name, is_name};
use crate::services::events::schedule::Schedule;
use crate::wire::json::epoch_seconds;

/// The bus every account has in every region.
pub const DEFAULT_BUS: &str = "default";
/// Targets a rule may have.
pub const MAX_TARGETS: usize = 5;
/// Tags a resource may have.
pub const MAX_TAGS: usize = 50;

/// A rule's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleState {
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
    /// Enabled, and also given the read-only management events CloudTrail delivers.
    #[serde(rename = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")]
    EnabledWithAllManagementEvents,
}

impl RuleState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ENABLED" => Some(Self::Enabled),
            "DISABLED" => Some(Self::Disabled),
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" => {
                Some(Self::EnabledWithAllManagementEvents)
            }
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
            Self::EnabledWithAllManagementEvents => "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        }
    }
}

/// `arn:aws:events:<region>:<account>:event-bus/<name>`.
pub fn bus_arn(region: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{name}")
}

/// A rule's ARN: `rule/<name>` on the default bus, `rule/<bus>/<name>` on others.
pub fn rule_arn(region: &str, bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}")
    } else {
        format!("arn:aws:events:{region}:{ACCOUNT_ID}:rule/{bus}/{name}")
    }
}

/// An event bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bus {
    pub region: String,
    pub name: String,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    #[serde(with = "crate::wire::time::millis")]
    pub created: UtcMillis,
    #[serde(with = "crate::wire::time::millis")]
    pub modified: UtcMillis,
    pub tags: BTreeMap<String, String>,
}

impl Bus {
    pub fn new(region: &str, name: &str, now: UtcMillis) -> Self {
        Self {
            region: region.to_owned(),
            name: name.to_owned(),
            description: None,
            created: now,
            modified: now,
            tags: BTreeMap::new(),
        }
    }

    pub fn arn(&self) -> String {
        bus_arn(&self.region, &self.name)
    }

    /// DescribeEventBus's answer (ListEventBuses lists the same members).
    pub fn describe(&self) -> Value {
        let mut v = json!({
            "Name": self.name,
            "Arn": self.arn(),
            "CreationTime": epoch_seconds(self.created),
            "LastModifiedTime": epoch_seconds(self.modified),
        });
        if let Some(d) = &self.description {
            v["Description"] = json!(d);
        }
        v
    }

    pub fn check(&self) -> Result<(), String> {
        if !is_bus_name(&self.name) || self.name.len() > 256 {
            return Err(format!("bus name {:?} is not valid", self.name));
        }
        check_tags(&self.tags)
    }
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags, over {MAX_TAGS}", tags.len()));
    }
    match tags.keys().find(|k| k.is_empty() || k.len() > 128) {
        Some(k) => Err(format!("tag key {k:?} is not valid")),
        None => Ok(()),
    }
}

/// A rule, with its targets (each kept as the JSON PutTargets was given, after validation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub region: String,
    pub bus: String,
    pub name: String,
    #[serde(with = "crate::services::saved::present")]
    pub pattern: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub schedule: Option<String>,
    pub state: RuleState,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    #[serde(with = "crate::services::saved::present")]
    pub role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub targets: Vec<Value>,
    /// When the rule was last put: a rate schedule counts from here.
    #[serde(with = "crate::wire::time::millis")]
    pub put_at: UtcMillis,
    /// When a scheduled rule fires next.
    #[serde(with = "crate::wire::time::opt_millis")]
    pub next_fire: Option<UtcMillis>,
}

impl Rule {
    pub fn arn(&self) -> String {
        rule_arn(&self.region, &self.bus, &self.name)
    }

    /// DescribeRule's answer; ListRules lists the same members without `CreatedBy`.
    pub fn describe(&self, created_by: bool) -> Value {
        let mut v = json!({
            "Name": self.name,
            "Arn": self.arn(),
            "State": self.state.as_str(),
            "EventBusName": self.bus,
        });
        let optional = [
            ("EventPattern", &self.pattern),
            ("ScheduleExpression", &self.schedule),
            ("Description", &self.description),
            ("RoleArn", &self.role_arn),
        ];
        for (k, value) in optional {
            if let Some(s) = value {
                v[k] = json!(s);
            }
        }
        if created_by {
            v["CreatedBy"] = json!(ACCOUNT_ID);
        }
        v
    }

    /// The compiled pattern (rules are checked when put and when loaded, so this compiles).
    pub fn compiled(&self) -> Option<Pattern> {
        self.pattern
            .as_deref()
            .and_then(|p| Pattern::compile(p).ok())
    }

    pub fn parsed_schedule(&self) -> Option<Schedule> {
        self.schedule.as_deref().and_then(Schedule::parse)
    }

    /// Whether a saved rule is one PutRule and PutTargets could have made.
    pub fn check(&self) -> Result<(), String> {
        if !is_name(&self.name) || self.name.len() > 64 {
            return Err(format!("rule name {:?} is not valid", self.name));
        }
        if !is_bus_name(&self.bus) {
            return Err(format!("bus name {:?} is not valid", self.bus));
        }
        if self.pattern.is_none() && self.schedule.is_none() {
            return Err("a rule with neither pattern nor schedule".into());
        }
        if let Some(p) = &self.pattern {
            Pattern::compile(p).map_err(|e| format!("its pattern: {e}"))?;
        }
        if self.schedule.is_some() && self.parsed_schedule().is_none() {
            return Err(format!("schedule {:?} is not valid", self.schedule));
        }
        if self.targets.len() > MAX_TARGETS {
            return Err(format!(
                "{} targets, over {MAX_TARGETS}",
                self.targets.len()
            ));
        }
        for t in &self.targets {
            let ok = t.get("Id").and_then(Value::as_str).is_some_and(is_name)
                && t.get("Arn").and_then(Value::as_str).is_some();
            if !ok {
                return Err(format!("target {t} lacks an Id or Arn"));
            }
        }
        check_tags(&self.tags)
    }
}

/// A connection: how to authorize with an HTTP endpoint. The secret values (password, API key
/// value, OAuth client secret, parameters marked secret) live in the key store, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub region: String,
    pub name: String,
    /// The last part of its ARN.
    pub id: String,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    /// `BASIC`, `API_KEY` or `OAUTH_CLIENT_CREDENTIALS`.
    pub authorization_type: String,
    /// `AuthParameters` as DescribeConnection shows them: secret values left out.
    pub auth_parameters: Value,
    /// The key-store file that holds the full `AuthParameters`.
    pub secret_file: String,
    pub state: String,
    #[serde(with = "crate::wire::time::millis")]
    pub created: UtcMillis,
    #[serde(with = "crate::wire::time::millis")]
    pub modified: UtcMillis,
    #[serde(with = "crate::wire::time::millis")]
    pub authorized: UtcMillis,
}

impl Connection {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{ACCOUNT_ID}:connection/{}/{}",
            self.region, self.name, self.id
        )
    }

    /// Where Secrets Manager would keep its secret.
    pub fn secret_arn(&self) -> String {
        let suffix: String = self.id.chars().rev().take(6).collect();
        format!(
            "arn:aws:secretsmanager:{}:{ACCOUNT_ID}:secret:events!connection/{}/{}-{suffix}",
            self.region, self.name, self.id
        )
    }

    /// The members CreateConnection and DeleteConnection answer with (and the list entry).
    pub fn summary(&self) -> Value {
        json!({
            "ConnectionArn": self.arn(),
            "Name": self.name,
            "ConnectionState": self.state,
            "AuthorizationType": self.authorization_type,
            "CreationTime": epoch_seconds(self.created),
            "LastModifiedTime": epoch_seconds(self.modified),
            "LastAuthorizedTime": epoch_seconds(self.authorized),
        })
    }

    pub fn describe(&self) -> Value {
        let mut v = self.summary();
        v["AuthParameters"] = self.auth_parameters.clone();
        v["SecretArn"] = json!(self.secret_arn());
        if let Some(d) = &self.description {
            v["Description"] = json!(d);
        }
        v
    }

    pub fn check(&self) -> Result<(), String> {
        if !is_name(&self.name) || self.name.len() > 64 {
            return Err(format!("connection name {:?} is not valid", self.name));
        }
        if !["BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"]
            .contains(&self.authorization_type.as_str())
        {
            return Err(format!(
                "authorization type {:?} is not valid",
                self.authorization_type
            ));
        }
        if !self.auth_parameters.is_object() {
            return Err("its AuthParameters are not an object".into());
        }
        Ok(())
    }
}

/// An API destination: an HTTP endpoint, its method and the connection that authorizes calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiDestination {
    pub region: String,
    pub name: String,
    pub id: String,
    #[serde(with = "crate::services::saved::present")]
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate_limit: i64,
    #[serde(with = "crate::wire::time::millis")]
    pub created: UtcMillis,
    #[serde(with = "crate::wire::time::millis")]
    pub modified: UtcMillis,
}

impl ApiDestination {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{ACCOUNT_ID}:api-destination/{}/{}",
            self.region, self.name, self.id
        )
    }

    pub fn describe(&self) -> Value {
        let mut v = json!({
            "ApiDestinationArn": self.arn(),
            "Name": self.name,
            "ApiDestinationState": "ACTIVE",
            "ConnectionArn": self.connection_arn,
            "InvocationEndpoint": self.endpoint,
            "HttpMethod": self.method,
            "InvocationRateLimitPerSecond": self.rate_limit,
            "CreationTime": epoch_seconds(self.created),
            "LastModifiedTime": epoch_seconds(self.modified),
        });
        if let Some(d) = &self.description {
            v["Description"] = json!(d);
        }
        v
    }

    pub fn check(&self) -> Result<(), String> {
        if !is_name(&self.name) || self.name.len() > 64 {
            return Err(format!("API destination name {:?} is not valid", self.name));
        }
        if self.rate_limit < 1 {
            return Err(format!("rate limit {} is not valid", self.rate_limit));
        }
        Ok(())
    }
}

/// An id in UUID form made from one of the emulator's ids (EventBridge's event ids and the last
/// part of connection and destination ARNs look like this).
pub fn uuid(seed: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::wire::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
