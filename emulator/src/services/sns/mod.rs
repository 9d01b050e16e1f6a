//! SNS (2010-03-31, query protocol): topics (standard and FIFO), subscriptions for SQS queues
//! and HTTP endpoints (with the SubscriptionConfirmation handshake), filter policies on
//! message attributes or bodies, Publish and PublishBatch, tags.
//!
//! - [`model`]: topics, subscriptions and SNS's rules for names, attributes and messages;
//! - [`filter`]: filter policies, in EventBridge's pattern language (veritrail-rules);
//! - [`delivery`]: the envelope JSON, SQS message attributes, HTTP POSTs with retries;
//! - [`rows`]: topics, subscriptions, HTTP deliveries, failures and deduplication in
//!   `aws.sqlite`;
//! - [`error`]: one variant per SNS error code.
//!
//! Delivery to an SQS subscriber happens in the Publish call's store write, through
//! [`Sqs::enqueue`], so a published message and its queue copies are saved together. HTTP
//! deliveries are rows written in the same write and POSTed by the server's delivery task
//! ([`Sns::take_due_http`], [`Sns::http_done`]); a delivery that fails for good is recorded
//! ([`Sns::failed_deliveries`]) and sent to the subscription's dead-letter queue if it has one.
//!
//! Other services publish through [`Sns::publish_from`] (EventBridge targets).

pub mod delivery;
pub mod error;
pub mod filter;
pub mod model;
pub mod rows;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::response::Response;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use veritrail_core::time::UtcMillis;

use delivery::{HttpDelivery, Outcome, Published};
pub use error::SnsError;
use filter::{Filter, Scope};
use model::{DEDUP_WINDOW_MS, MAX_MESSAGE, Subscription, TOKEN_TTL_MS, Topic};
pub use rows::FailedDelivery;

use crate::EmulatorError;
use crate::env::Env;
use crate::ops::SnsOp;
use crate::services::sqs::{Outgoing, Sqs};
use crate::store::{Store, StoreError, Write};
use crate::wire::xml::{element, query_ok};
use crate::wire::{AwsRequest, ErrorBody, Query};

/// The `xmlns` of SNS's answers.
pub const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// The `SenderId` of messages SNS puts on SQS queues (SNS's service principal).
pub const SENDER_ID: &str = "AIDAIT2UOQQY3AUEKVGXU";
/// Subscriptions and topics per page of the list operations.
const PAGE: usize = 100;

/// Topics and subscriptions by ARN, and the compiled filter policy of each subscription that
/// has one.
#[derive(Debug, Default)]
struct State {
    topics: BTreeMap<String, Topic>,
    subscriptions: BTreeMap<String, Subscription>,
    filters: HashMap<String, Filter>,
}

/// The SNS service of one emulator.
#[derive(Debug)]
pub struct Sns {
    store: Arc<Store>,
    state: Mutex<State>,
    /// Raised when an HTTP delivery is queued.
    http_signal: Arc<tokio::sync::Notify>,
    /// HTTP deliveries being POSTed now (not handed out twice).
    in_flight: Mutex<HashSet<i64>>,
}

/// A message to publish, however it came (Publish, a batch entry, another service).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    pub message: String,
    pub subject: Option<String>,
    /// `json` when the message holds one text per protocol.
    pub structure: Option<String>,
    /// Message attributes: `{"name": {"DataType", "StringValue" | "BinaryValue"}}`.
    pub attributes: Map<String, Value>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// What a handler works with.
struct Ctx<'a> {
    req: &'a AwsRequest,
    env: &'a Env,
    now: i64,
    input: Value,
    /// `http://<host>`, for the links in messages.
    base_url: String,
    write: Option<&'a Write<'a>>,
}

impl Ctx<'_> {
    fn conn(&self) -> Result<&rusqlite::Connection, SnsError> {
        self.write.map(Write::conn).ok_or_else(|| {
            SnsError::Store(StoreError::Sqlite(
                "an SNS change was attempted outside a store write".into(),
            ))
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.input.get(name).and_then(Value::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, SnsError> {
        self.param(name).ok_or_else(|| {
            SnsError::InvalidParameter(format!(
                "Invalid parameter: {name} Reason: no value for required parameter"
            ))
        })
    }
}

/// The items of a query-protocol list (`Name.member.N`, or `Name.entry.N` for maps).
fn items<'a>(v: &'a Value, name: &str, kind: &str) -> Vec<&'a Value> {
    match v.get(name).and_then(|l| l.get(kind)) {
        Some(Value::Array(items)) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// Pairs of strings from a query-protocol list of structures (`Name.<kind>.N.<key>/<value>`).
fn pairs(v: &Value, name: &str, kind: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    items(v, name, kind)
        .into_iter()
        .filter_map(|e| {
            let k = e.get(key)?.as_str()?.to_owned();
            Some((
                k,
                e.get(value)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ))
        })
        .collect()
}

/// A query-protocol map of strings (`Attributes.entry.N.key/value`).
fn string_entries(v: &Value, name: &str) -> BTreeMap<String, String> {
    pairs(v, name, "entry", "key", "value")
}

/// Tags (`Tags.member.N.Key/Value`).
fn tags_of(v: &Value) -> BTreeMap<String, String> {
    pairs(v, "Tags", "member", "Key", "Value")
}

/// A message to publish as Publish or a batch entry gives it.
fn publication_of(v: &Value) -> Publication {
    let s = |n: &str| v.get(n).and_then(Value::as_str).map(str::to_owned);
    let attributes = items(v, "MessageAttributes", "entry")
        .into_iter()
        .filter_map(|e| {
            let name = e.get("Name")?.as_str()?.to_owned();
            Some((name, e.get("Value").cloned().unwrap_or(Value::Null)))
        })
        .collect();
    Publication {
        message: s("Message").unwrap_or_default(),
        subject: s("Subject"),
        structure: s("MessageStructure"),
        attributes,
        group_id: s("MessageGroupId"),
        dedup_id: s("MessageDeduplicationId"),
    }
}

fn entries_xml(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| {
            format!(
                "<entry>{}{}</entry>",
                element("key", k),
                element("value", v)
            )
        })
        .collect()
}

fn default_policy(arn: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": crate::ACCOUNT_ID}}
        }]
    })
    .to_string()
}

const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

/// One page of `arns` (sorted) after `NextToken`: the page and the next token.
fn page(arns: Vec<String>, token: Option<&str>) -> Result<(Vec<String>, Option<String>), SnsError> {
    let after = match token {
        None | Some("") => None,
        Some(t) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SnsError::InvalidParameter("Invalid parameter: NextToken".into()))?,
        ),
    };
    let rest: Vec<String> = arns
        .into_iter()
        .filter(|a| after.as_ref().is_none_or(|x| a > x))
        .collect();
    let more = rest.len() > PAGE;
    let page: Vec<String> = rest.into_iter().take(PAGE).collect();
    let next = more
        .then(|| page.last())
        .flatten()
        .map(|a| base64::engine::general_purpose::STANDARD.encode(a));
    Ok((page, next))
}

impl Sns {
    /// Loads topics and subscriptions from `aws.sqlite` (creating SNS's tables) and compiles
    /// their filter policies.
    pub fn open(store: Arc<Store>) -> Result<Self, EmulatorError> {
        let (topics, subscriptions) = {
            let w = store.write()?;
            w.conn().execute_batch(rows::SCHEMA)?;
            let loaded = rows::load(w.conn())?;
            w.commit()?;
            loaded
        };
        let mut state = State::default();
        for t in topics {
            state.topics.insert(t.arn.clone(), t);
        }
        for s in subscriptions {
            if let Some(policy) = s.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) {
                let scope = Scope::of(s.attributes.get("FilterPolicyScope").map(String::as_str));
                let f = filter::compile(policy, scope, "").map_err(|e| {
                    StoreError::Corrupt(format!(
                        "the SNS subscription {} (sns_subscriptions): {}",
                        s.arn,
                        e.parts().2
                    ))
                })?;
                state.filters.insert(s.arn.clone(), f);
            }
            state.subscriptions.insert(s.arn.clone(), s);
        }
        Ok(Self {
            store,
            state: Mutex::new(state),
            http_signal: Arc::new(tokio::sync::Notify::new()),
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one SNS request (`write` is set for every operation that can change
    /// something). Deliveries to SQS subscribers go through `sqs`.
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: SnsOp,
        env: &Env,
        write: Option<&Write<'_>>,
        sqs: &Sqs,
    ) -> Result<Response, ErrorBody> {
        let mut q = req.query.clone();
        let form = std::str::from_utf8(&req.body)
            .ok()
            .and_then(|b| Query::parse(b).ok())
            .ok_or_else(|| {
                ErrorBody::from(SnsError::InvalidParameter(
                    "Invalid parameter: the form body is not valid".into(),
                ))
            })?;
        q.extend(form);
        let input = q.tree().map_err(|e| {
            ErrorBody::from(SnsError::InvalidParameter(format!(
                "Invalid parameter: {}",
                e.0
            )))
        })?;
        let ctx = Ctx {
            req,
            env,
            now: env.now().0,
            input,
            base_url: format!("http://{}", req.header("host").unwrap_or("localhost:4566")),
            write,
        };
        let result = self.run(&ctx, op, sqs)?;
        Ok(query_ok(
            op.name(),
            XMLNS,
            result.as_deref(),
            &req.request_id,
        ))
    }

    fn run(&self, ctx: &Ctx<'_>, op: SnsOp, sqs: &Sqs) -> Result<Option<String>, SnsError> {
        use SnsOp::*;
        let mut state = self.state();
        let state = &mut *state;
        match op {
            CreateTopic => self.create_topic(ctx, state).map(Some),
            DeleteTopic => {
                let arn = ctx.required("TopicArn")?;
                model::topic_region(arn)?;
                if state.topics.remove(arn).is_none() {
                    return Err(SnsError::NotFound("Topic does not exist".into()));
                }
                let conn = ctx.conn()?;
                rows::delete_topic(conn, arn)?;
                let gone: Vec<String> = state
                    .subscriptions
                    .values()
                    .filter(|s| s.topic_arn == arn)
                    .map(|s| s.arn.clone())
                    .collect();
                for s in gone {
                    rows::delete_subscription(conn, &s)?;
                    state.subscriptions.remove(&s);
                    state.filters.remove(&s);
                }
                Ok(None)
            }
            ListTopics => {
                let arns: Vec<String> = state
                    .topics
                    .values()
                    .filter(|t| t.region == ctx.req.region)
                    .map(|t| t.arn.clone())
                    .collect();
                let (page, next) = page(arns, ctx.param("NextToken"))?;
                let members: String = page
                    .iter()
                    .map(|a| format!("<member>{}</member>", element("TopicArn", a)))
                    .collect();
                let next = next.map(|t| element("NextToken", &t)).unwrap_or_default();
                Ok(Some(format!("<Topics>{members}</Topics>{next}")))
            }
            GetTopicAttributes => {
                let t = Self::topic(state, ctx.required("TopicArn")?)?;
                let mut a = BTreeMap::new();
                a.insert("TopicArn".to_owned(), t.arn.clone());
                a.insert("Owner".to_owned(), crate::ACCOUNT_ID.to_owned());
                a.insert("Policy".to_owned(), default_policy(&t.arn));
                a.insert("DisplayName".to_owned(), String::new());
                a.insert(
                    "EffectiveDeliveryPolicy".to_owned(),
                    DEFAULT_DELIVERY_POLICY.to_owned(),
                );
                let subs = state
                    .subscriptions
                    .values()
                    .filter(|s| s.topic_arn == t.arn);
                let (confirmed, pending) =
                    subs.fold(
                        (0, 0),
                        |(c, p), s| {
                            if s.confirmed { (c + 1, p) } else { (c, p + 1) }
                        },
                    );
                a.insert("SubscriptionsConfirmed".to_owned(), confirmed.to_string());
                a.insert("SubscriptionsPending".to_owned(), pending.to_string());
                a.insert(
                    "SubscriptionsDeleted".to_owned(),
                    t.deleted_subscriptions.to_string(),
                );
                if t.fifo() {
                    a.insert("ContentBasedDeduplication".to_owned(), "false".to_owned());
                }
                a.extend(t.attributes.clone());
                Ok(Some(format!(
                    "<Attributes>{}</Attributes>",
                    entries_xml(&a)
                )))
            }
            SetTopicAttributes => {
                let arn = ctx.required("TopicArn")?;
                let name = ctx.required("AttributeName")?;
                let value = ctx.param("AttributeValue").unwrap_or("");
                let mut t = Self::topic(state, arn)?.clone();
                if name == "FifoTopic" {
                    return Err(SnsError::InvalidParameter(
                        "Invalid parameter: AttributeName".into(),
                    ));
                }
                let v = model::check_topic_attribute(name, value, t.fifo())?;
                t.attributes.insert(name.to_owned(), v);
                rows::save_topic(ctx.conn()?, &t)?;
                state.topics.insert(t.arn.clone(), t);
                Ok(None)
            }
            Subscribe => self.subscribe(ctx, state).map(Some),
            ConfirmSubscription => {
                let arn = ctx.required("TopicArn")?;
                model::topic_region(arn)
                    .map_err(|_| SnsError::InvalidParameter("Invalid parameter: Topic".into()))?;
                let token = ctx.required("Token")?;
                let sub = state
                    .subscriptions
                    .values()
                    .find(|s| s.topic_arn == arn && s.token.as_deref() == Some(token))
                    .filter(|s| s.confirmed || s.token_expires > ctx.now)
                    .cloned()
                    .ok_or_else(|| SnsError::InvalidParameter("Invalid parameter: Token".into()))?;
                let mut s = sub;
                if !s.confirmed {
                    s.confirmed = true;
                    rows::save_subscription(ctx.conn()?, &s)?;
                }
                let out = element("SubscriptionArn", &s.arn);
                state.subscriptions.insert(s.arn.clone(), s);
                Ok(Some(out))
            }
            Unsubscribe => {
                let arn = ctx.required("SubscriptionArn")?;
                let s = state
                    .subscriptions
                    .remove(arn)
                    .ok_or_else(|| SnsError::NotFound("Subscription does not exist".into()))?;
                state.filters.remove(arn);
                let conn = ctx.conn()?;
                rows::delete_subscription(conn, arn)?;
                if let Some(t) = state.topics.get_mut(&s.topic_arn) {
                    t.deleted_subscriptions += 1;
                    rows::save_topic(conn, t)?;
                }
                Ok(None)
            }
            ListSubscriptions | ListSubscriptionsByTopic => {
                let topic = if op == ListSubscriptionsByTopic {
                    Some(Self::topic(state, ctx.required("TopicArn")?)?.arn.clone())
                } else {
                    None
                };
                let arns: Vec<String> = state
                    .subscriptions
                    .values()
                    .filter(|s| topic.as_ref().is_none_or(|t| &s.topic_arn == t))
                    .filter(|s| {
                        model::topic_region(&s.topic_arn).is_ok_and(|r| r == ctx.req.region)
                    })
                    .map(|s| s.arn.clone())
                    .collect();
                let (page, next) = page(arns, ctx.param("NextToken"))?;
                let members: String = page
                    .iter()
                    .filter_map(|a| state.subscriptions.get(a))
                    .map(|s| {
                        let shown = if s.confirmed {
                            s.arn.as_str()
                        } else {
                            "PendingConfirmation"
                        };
                        format!(
                            "<member>{}{}{}{}{}</member>",
                            element("TopicArn", &s.topic_arn),
                            element("Protocol", &s.protocol),
                            element("SubscriptionArn", shown),
                            element("Owner", crate::ACCOUNT_ID),
                            element("Endpoint", &s.endpoint)
                        )
                    })
                    .collect();
                let next = next.map(|t| element("NextToken", &t)).unwrap_or_default();
                Ok(Some(format!(
                    "<Subscriptions>{members}</Subscriptions>{next}"
                )))
            }
            GetSubscriptionAttributes => {
                let s = Self::subscription(state, ctx.required("SubscriptionArn")?)?;
                let mut a = BTreeMap::new();
                a.insert("SubscriptionArn".to_owned(), s.arn.clone());
                a.insert("TopicArn".to_owned(), s.topic_arn.clone());
                a.insert("Owner".to_owned(), crate::ACCOUNT_ID.to_owned());
                a.insert("Protocol".to_owned(), s.protocol.clone());
                a.insert("Endpoint".to_owned(), s.endpoint.clone());
                a.insert("PendingConfirmation".to_owned(), (!s.confirmed).to_string());
                a.insert("ConfirmationWasAuthenticated".to_owned(), "true".to_owned());
                a.insert("RawMessageDelivery".to_owned(), "false".to_owned());
                a.insert(
                    "EffectiveDeliveryPolicy".to_owned(),
                    DEFAULT_DELIVERY_POLICY.to_owned(),
                );
                a.extend(s.attributes.clone());
                if a.contains_key("FilterPolicy") {
                    a.entry("FilterPolicyScope".to_owned())
                        .or_insert_with(|| "MessageAttributes".to_owned());
                }
                Ok(Some(format!(
                    "<Attributes>{}</Attributes>",
                    entries_xml(&a)
                )))
            }
            SetSubscriptionAttributes => {
                let arn = ctx.required("SubscriptionArn")?;
                let name = ctx.required("AttributeName")?;
                let value = ctx.param("AttributeValue").unwrap_or("");
                let mut s = Self::subscription(state, arn)?.clone();
                let v = model::check_subscription_attribute(name, value, "Invalid parameter: ")?;
                if v.is_empty() && name == "FilterPolicy" {
                    s.attributes.remove(name);
                } else {
                    s.attributes.insert(name.to_owned(), v);
                }
                self.set_filter(state, &s, "Invalid parameter: ")?;
                rows::save_subscription(ctx.conn()?, &s)?;
                state.subscriptions.insert(s.arn.clone(), s);
                Ok(None)
            }
            Publish => {
                let arn = ctx
                    .param("TopicArn")
                    .or_else(|| ctx.param("TargetArn"))
                    .map(str::to_owned);
                if ctx.param("PhoneNumber").is_some() && arn.is_none() {
                    return Err(SnsError::InvalidParameter(
                        "Invalid parameter: PhoneNumber Reason: veritrail does not send SMS".into(),
                    ));
                }
                let arn = arn.ok_or_else(|| {
                    SnsError::InvalidParameter(
                        "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter".into(),
                    )
                })?;
                let p = publication_of(&ctx.input);
                let (id, seq) =
                    self.publish(ctx.conn()?, ctx.env, sqs, state, &arn, &p, &ctx.req.region)?;
                let seq = seq
                    .map(|s| element("SequenceNumber", &s))
                    .unwrap_or_default();
                Ok(Some(format!("{}{seq}", element("MessageId", &id))))
            }
            PublishBatch => self.publish_batch(ctx, sqs, state).map(Some),
            TagResource | UntagResource | ListTagsForResource => {
                let arn = ctx.required("ResourceArn")?;
                let mut t = state
                    .topics
                    .get(arn)
                    .cloned()
                    .ok_or(SnsError::ResourceNotFound)?;
                match op {
                    TagResource => {
                        t.tags.extend(tags_of(&ctx.input));
                        if t.tags.len() > 50 {
                            return Err(SnsError::TagLimitExceeded);
                        }
                    }
                    UntagResource => {
                        for k in items(&ctx.input, "TagKeys", "member") {
                            if let Some(k) = k.as_str() {
                                t.tags.remove(k);
                            }
                        }
                    }
                    _ => {
                        return Ok(Some(crate::wire::xml::tags(&t.tags)));
                    }
                }
                rows::save_topic(ctx.conn()?, &t)?;
                state.topics.insert(t.arn.clone(), t);
                Ok(Some(String::new()))
            }
            other => Err(SnsError::InvalidParameter(format!(
                "veritrail does not emulate the sns operation {other}"
            ))),
        }
    }

    fn topic<'s>(state: &'s State, arn: &str) -> Result<&'s Topic, SnsError> {
        model::topic_region(arn)?;
        state
            .topics
            .get(arn)
            .ok_or_else(|| SnsError::NotFound("Topic does not exist".into()))
    }

    fn subscription<'s>(state: &'s State, arn: &str) -> Result<&'s Subscription, SnsError> {
        state
            .subscriptions
            .get(arn)
            .ok_or_else(|| SnsError::NotFound("Subscription does not exist".into()))
    }

    /// Compiles (or drops) a subscription's filter policy.
    fn set_filter(
        &self,
        state: &mut State,
        s: &Subscription,
        prefix: &str,
    ) -> Result<(), SnsError> {
        match s.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) {
            Some(policy) => {
                let scope = Scope::of(s.attributes.get("FilterPolicyScope").map(String::as_str));
                let f = filter::compile(policy, scope, prefix)?;
                state.filters.insert(s.arn.clone(), f);
            }
            None => {
                state.filters.remove(&s.arn);
            }
        }
        Ok(())
    }

    fn create_topic(&self, ctx: &Ctx<'_>, state: &mut State) -> Result<String, SnsError> {
        let name = ctx.required("Name")?;
        let given = string_entries(&ctx.input, "Attributes");
        let fifo = given
            .get("FifoTopic")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if name.ends_with(".fifo") != fifo {
            return Err(SnsError::InvalidParameter(if fifo {
                "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.".into()
            } else {
                "Invalid parameter: Topic Name".into()
            }));
        }
        model::check_topic_name(name, fifo)?;
        let mut attributes = BTreeMap::new();
        for (k, v) in &given {
            attributes.insert(k.clone(), model::check_topic_attribute(k, v, fifo)?);
        }
        let arn = model::topic_arn(&ctx.req.region, name);
        let tags = tags_of(&ctx.input);
        if let Some(existing) = state.topics.get(&arn) {
            if attributes
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v))
            {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: Attributes Reason: Topic already exists with different attributes".into(),
                ));
            }
            if !tags.is_empty() && tags != existing.tags {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: Tags Reason: Topic already exists with different tags"
                        .into(),
                ));
            }
            return Ok(element("TopicArn", &arn));
        }
        if tags.len() > 50 {
            return Err(SnsError::TagLimitExceeded);
        }
        let t = Topic {
            arn: arn.clone(),
            name: name.to_owned(),
            region: ctx.req.region.clone(),
            attributes,
            tags,
            next_seq: 1,
            deleted_subscriptions: 0,
        };
        rows::save_topic(ctx.conn()?, &t)?;
        state.topics.insert(arn.clone(), t);
        Ok(element("TopicArn", &arn))
    }

    fn subscribe(&self, ctx: &Ctx<'_>, state: &mut State) -> Result<String, SnsError> {
        let topic = Self::topic(state, ctx.required("TopicArn")?)?.clone();
        let protocol = ctx.required("Protocol")?.to_owned();
        if !model::PROTOCOLS.contains(&protocol.as_str()) {
            return Err(SnsError::InvalidParameter(format!(
                "Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
            )));
        }
        let endpoint = ctx
            .param("Endpoint")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| SnsError::InvalidParameter("Invalid parameter: Endpoint".into()))?
            .to_owned();
        match protocol.as_str() {
            "http" | "https" if !endpoint.starts_with(&format!("{protocol}://")) => {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: Endpoint must match the specified protocol".into(),
                ));
            }
            "sqs" if crate::services::sqs::model::parse_arn(&endpoint).is_none() => {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: SQS endpoint ARN".into(),
                ));
            }
            "sqs" if endpoint.ends_with(".fifo") && !topic.fifo() => {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics".into(),
                ));
            }
            _ => {}
        }
        let prefix = "Invalid parameter: Attributes Reason: ";
        let mut attributes = BTreeMap::new();
        for (k, v) in string_entries(&ctx.input, "Attributes") {
            let v = model::check_subscription_attribute(&k, &v, prefix)?;
            attributes.insert(k, v);
        }
        if let Some(policy) = attributes.get("FilterPolicy").filter(|p| !p.is_empty()) {
            let scope = Scope::of(attributes.get("FilterPolicyScope").map(String::as_str));
            filter::compile(policy, scope, prefix)?;
        }
        if let Some(existing) = state
            .subscriptions
            .values()
            .find(|s| s.topic_arn == topic.arn && s.protocol == protocol && s.endpoint == endpoint)
        {
            if attributes
                .iter()
                .any(|(k, v)| existing.attributes.get(k) != Some(v))
            {
                return Err(SnsError::InvalidParameter(format!(
                    "{prefix}Subscription already exists with different attributes"
                )));
            }
            let shown = if existing.confirmed {
                existing.arn.as_str()
            } else {
                "pending confirmation"
            };
            return Ok(element("SubscriptionArn", shown));
        }
        let http = matches!(protocol.as_str(), "http" | "https");
        let token = if http {
            Some(format!("{}{}", ctx.env.uuid()?, ctx.env.uuid()?).replace('-', ""))
        } else {
            None
        };
        let s = Subscription {
            arn: format!("{}:{}", topic.arn, ctx.env.uuid()?),
            topic_arn: topic.arn.clone(),
            protocol: protocol.clone(),
            endpoint: endpoint.clone(),
            confirmed: !http,
            token: token.clone(),
            token_expires: ctx.now + TOKEN_TTL_MS,
            attributes,
            base_url: ctx.base_url.clone(),
        };
        self.set_filter(state, &s, prefix)?;
        let conn = ctx.conn()?;
        rows::save_subscription(conn, &s)?;
        if let Some(token) = &token {
            let message_id = ctx.env.uuid()?;
            let timestamp = crate::wire::time::iso8601(UtcMillis(ctx.now));
            let d = HttpDelivery {
                id: 0,
                subscription_arn: s.arn.clone(),
                topic_arn: topic.arn.clone(),
                endpoint: endpoint.clone(),
                kind: "SubscriptionConfirmation".into(),
                body: delivery::confirmation(
                    &message_id,
                    &topic.arn,
                    token,
                    &s.base_url,
                    &timestamp,
                ),
                message_id,
                raw: false,
                attempts: 0,
            };
            let (retries, delay) =
                delivery::retry_policy(s.attributes.get("DeliveryPolicy").map(String::as_str));
            rows::http_insert(conn, &d, retries, delay, ctx.now)?;
            self.http_signal.notify_one();
        }
        let returned = ctx
            .param("ReturnSubscriptionArn")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let shown = if s.confirmed || returned {
            s.arn.clone()
        } else {
            "pending confirmation".to_owned()
        };
        state.subscriptions.insert(s.arn.clone(), s);
        Ok(element("SubscriptionArn", &shown))
    }

    fn publish_batch(
        &self,
        ctx: &Ctx<'_>,
        sqs: &Sqs,
        state: &mut State,
    ) -> Result<String, SnsError> {
        let arn = ctx.required("TopicArn")?.to_owned();
        Self::topic(state, &arn)?;
        let entries = items(&ctx.input, "PublishBatchRequestEntries", "member");
        if entries.is_empty() {
            return Err(SnsError::EmptyBatchRequest);
        }
        if entries.len() > 10 {
            return Err(SnsError::TooManyEntriesInBatchRequest);
        }
        let mut ids = BTreeSet::new();
        let mut total = 0usize;
        for e in &entries {
            let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
            let ok = (1..=80).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(SnsError::InvalidBatchEntryId);
            }
            if !ids.insert(id) {
                return Err(SnsError::BatchEntryIdsNotDistinct);
            }
            let p = publication_of(e);
            total += p.message.len() + model::check_message_attributes(&p.attributes).unwrap_or(0);
        }
        if total > MAX_MESSAGE {
            return Err(SnsError::BatchRequestTooLong);
        }
        let (mut ok, mut failed) = (String::new(), String::new());
        for e in entries {
            let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
            match self.publish(
                ctx.conn()?,
                ctx.env,
                sqs,
                state,
                &arn,
                &publication_of(e),
                &ctx.req.region,
            ) {
                Ok((message_id, seq)) => {
                    let seq = seq
                        .map(|s| element("SequenceNumber", &s))
                        .unwrap_or_default();
                    ok.push_str(&format!(
                        "<member>{}{}{seq}</member>",
                        element("Id", id),
                        element("MessageId", &message_id)
                    ));
                }
                Err(e @ (SnsError::Store(_) | SnsError::NoRandomness(_))) => return Err(e),
                Err(e) => {
                    let (code, _, message) = e.parts();
                    failed.push_str(&format!(
                        "<member>{}{}{}<SenderFault>true</SenderFault></member>",
                        element("Id", id),
                        element("Code", code),
                        element("Message", &message)
                    ));
                }
            }
        }
        Ok(format!(
            "<Successful>{ok}</Successful><Failed>{failed}</Failed>"
        ))
    }

    /// Checks and publishes one message to topic `arn`, delivering it to every confirmed
    /// subscription whose filter it passes. Returns its id and, on a FIFO topic, its sequence
    /// number.
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        conn: &rusqlite::Connection,
        env: &Env,
        sqs: &Sqs,
        state: &mut State,
        arn: &str,
        p: &Publication,
        region: &str,
    ) -> Result<(String, Option<String>), SnsError> {
        let topic_region = model::topic_region(arn)?;
        if topic_region != region {
            return Err(SnsError::InvalidParameter(
                "Invalid parameter: TopicArn".into(),
            ));
        }
        if let Some(s) = &p.subject {
            model::check_subject(s)?;
        }
        if p.message.is_empty() {
            return Err(SnsError::InvalidParameter(
                "Invalid parameter: Empty message".into(),
            ));
        }
        let attr_size = model::check_message_attributes(&p.attributes)?;
        if p.message.len() + attr_size > MAX_MESSAGE {
            return Err(SnsError::InvalidParameter(
                "Invalid parameter: Message too long".into(),
            ));
        }
        let per_protocol = match p.structure.as_deref() {
            None | Some("") => None,
            Some("json") => {
                let v: Value = serde_json::from_str(&p.message).map_err(|_| {
                    SnsError::InvalidParameter(
                        "Invalid parameter: Message Structure - JSON message body failed to parse"
                            .into(),
                    )
                })?;
                let m: Map<String, Value> = v
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| v.is_string())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                if !m.contains_key("default") {
                    return Err(SnsError::InvalidParameter(
                        "Invalid parameter: Message Structure - No default entry in JSON message body".into(),
                    ));
                }
                Some(m)
            }
            Some(_) => {
                return Err(SnsError::InvalidParameter(
                    "Invalid parameter: MessageStructure".into(),
                ));
            }
        };
        let topic = state
            .topics
            .get(arn)
            .cloned()
            .ok_or_else(|| SnsError::NotFound("Topic does not exist".into()))?;
        let now = env.now().0;
        let mut sequence_number = None;
        let mut dedup_id = None;
        let mut group_id = None;
        if topic.fifo() {
            let g = p.group_id.as_deref().ok_or_else(|| {
                SnsError::InvalidParameter(
                    "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
                        .into(),
                )
            })?;
            let d = match &p.dedup_id {
                Some(d) => d.clone(),
                None if topic.content_based_dedup() => {
                    crate::wire::hex(&sha2::Sha256::digest(p.message.as_bytes()))
                }
                None => {
                    return Err(SnsError::InvalidParameter(
                        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                    ));
                }
            };
            if let Some((id, seq)) = rows::dedup_find(conn, arn, &d, now)? {
                return Ok((id, Some(seq)));
            }
            group_id = Some(g.to_owned());
            dedup_id = Some(d);
        } else if p.dedup_id.is_some() {
            return Err(SnsError::InvalidParameter(
                "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type".into(),
            ));
        } else if p.group_id.is_some() {
            return Err(SnsError::InvalidParameter(
                "Invalid parameter: MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid for this topic type".into(),
            ));
        }
        let message_id = env.uuid()?;
        if let Some(d) = &dedup_id {
            let mut t = topic.clone();
            let seq = format!("{:020}", t.next_seq);
            t.next_seq += 1;
            rows::save_topic(conn, &t)?;
            rows::dedup_insert(conn, arn, d, &message_id, &seq, now + DEDUP_WINDOW_MS)?;
            state.topics.insert(t.arn.clone(), t);
            sequence_number = Some(seq);
        }
        let published = Published {
            message_id: message_id.clone(),
            topic_arn: arn.to_owned(),
            message: p.message.clone(),
            per_protocol,
            subject: p.subject.clone(),
            attributes: p.attributes.clone(),
            timestamp: crate::wire::time::iso8601(UtcMillis(now)),
            group_id,
            dedup_id,
            sequence_number: sequence_number.clone(),
        };
        let subscribers: Vec<Subscription> = state
            .subscriptions
            .values()
            .filter(|s| s.topic_arn == arn && s.confirmed)
            .cloned()
            .collect();
        for s in subscribers {
            let text = published.text_for(&s.protocol);
            if let Some(f) = state.filters.get(&s.arn) {
                if !f.passes(text, &published.attributes) {
                    continue;
                }
            }
            self.deliver(conn, env, sqs, &s, &published, now)?;
        }
        Ok((message_id, sequence_number))
    }

    /// Delivers a published message to one subscriber: SQS now, HTTP by the delivery task.
    fn deliver(
        &self,
        conn: &rusqlite::Connection,
        env: &Env,
        sqs: &Sqs,
        s: &Subscription,
        p: &Published,
        now: i64,
    ) -> Result<(), SnsError> {
        let body = if s.raw() {
            p.text_for(&s.protocol).to_owned()
        } else {
            p.envelope(&s.protocol, &s.arn, &s.base_url)
        };
        match s.protocol.as_str() {
            "sqs" => {
                let mut out = Outgoing::new(body.clone(), SENDER_ID);
                if s.raw() {
                    out.attributes = p.attributes.clone();
                }
                if sqs.queue_kind(&s.endpoint) == Some(true) {
                    out.group_id = p.group_id.clone();
                    out.dedup_id = p.dedup_id.clone();
                }
                if let Err(e) = sqs.enqueue_in(conn, env, &s.endpoint, &out) {
                    self.failed(
                        conn,
                        env,
                        sqs,
                        s,
                        &p.message_id,
                        &body,
                        1,
                        &e.parts().3,
                        now,
                    )?;
                }
            }
            "http" | "https" => {
                let d = HttpDelivery {
                    id: 0,
                    subscription_arn: s.arn.clone(),
                    topic_arn: s.topic_arn.clone(),
                    endpoint: s.endpoint.clone(),
                    kind: "Notification".into(),
                    message_id: p.message_id.clone(),
                    body,
                    raw: s.raw(),
                    attempts: 0,
                };
                let (retries, delay) =
                    delivery::retry_policy(s.attributes.get("DeliveryPolicy").map(String::as_str));
                rows::http_insert(conn, &d, retries, delay, now)?;
                self.http_signal.notify_one();
            }
            other => {
                let reason = format!("veritrail does not deliver to {other} endpoints");
                self.failed(conn, env, sqs, s, &p.message_id, &body, 0, &reason, now)?;
            }
        }
        Ok(())
    }

    /// Records a delivery that failed for good, and sends it to the subscription's dead-letter
    /// queue if it has one.
    #[allow(clippy::too_many_arguments)]
    fn failed(
        &self,
        conn: &rusqlite::Connection,
        env: &Env,
        sqs: &Sqs,
        s: &Subscription,
        message_id: &str,
        body: &str,
        attempts: i64,
        reason: &str,
        now: i64,
    ) -> Result<(), SnsError> {
        rows::failure_insert(
            conn,
            &FailedDelivery {
                at: now,
                topic_arn: s.topic_arn.clone(),
                subscription_arn: s.arn.clone(),
                endpoint: s.endpoint.clone(),
                message_id: message_id.to_owned(),
                attempts,
                reason: reason.to_owned(),
                body: body.to_owned(),
            },
        )?;
        let dlq = s
            .attributes
            .get("RedrivePolicy")
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|v| {
                v.get("deadLetterTargetArn")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(dlq) = dlq {
            // A dead-letter queue that is gone leaves the failure recorded all the same.
            let _ = sqs.enqueue_in(conn, env, &dlq, &Outgoing::new(body, SENDER_ID));
        }
        Ok(())
    }

    // ---- the HTTP delivery task ----------------------------------------------------------

    /// Raised when an HTTP delivery is queued (the server's delivery task waits on it).
    pub fn http_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.http_signal)
    }

    /// The HTTP deliveries due at `now` that no POST is working on (they are marked as being
    /// worked on until [`Sns::http_done`]).
    pub fn take_due_http(&self, now: UtcMillis) -> Result<Vec<HttpDelivery>, StoreError> {
        let due = self.store.read(|c| rows::http_due(c, now.0, 64))?;
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        Ok(due.into_iter().filter(|d| in_flight.insert(d.id)).collect())
    }

    /// Records how a POST went, inside `w`: delivered (gone), retried later by the policy, or
    /// failed for good (recorded, and sent to the subscription's dead-letter queue).
    pub fn http_done(
        &self,
        w: &Write<'_>,
        env: &Env,
        sqs: &Sqs,
        d: &HttpDelivery,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let result = self.http_outcome(w, env, sqs, d, outcome);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&d.id);
        result.map_err(|e| match e {
            SnsError::Store(s) => s,
            other => StoreError::Sqlite(other.parts().2),
        })
    }

    fn http_outcome(
        &self,
        w: &Write<'_>,
        env: &Env,
        sqs: &Sqs,
        d: &HttpDelivery,
        outcome: &Outcome,
    ) -> Result<(), SnsError> {
        let conn = w.conn();
        let now = env.now().0;
        let Some((retries, delay)) = rows::http_policy(conn, d.id)? else {
            return Ok(());
        };
        let attempts = d.attempts + 1;
        let reason = match outcome {
            Outcome::Delivered => return Ok(rows::http_delete(conn, d.id)?),
            Outcome::Retry(e) if attempts <= retries => {
                return Ok(rows::http_retry(conn, d.id, attempts, now + delay, e)?);
            }
            Outcome::Retry(e) | Outcome::Failed(e) => e.clone(),
        };
        rows::http_delete(conn, d.id)?;
        let sub = self.state().subscriptions.get(&d.subscription_arn).cloned();
        let sub = sub.unwrap_or_else(|| Subscription {
            arn: d.subscription_arn.clone(),
            topic_arn: d.topic_arn.clone(),
            protocol: "http".into(),
            endpoint: d.endpoint.clone(),
            confirmed: false,
            token: None,
            token_expires: 0,
            attributes: BTreeMap::new(),
            base_url: String::new(),
        });
        self.failed(
            conn,
            env,
            sqs,
            &sub,
            &d.message_id,
            &d.body,
            attempts,
            &reason,
            now,
        )
    }

    // ---- the narrow API other services use -----------------------------------------------

    /// Publishes to topic `topic_arn` as a service does (EventBridge delivering to a topic):
    /// SNS's checks and filters, delivery to every subscriber, inside the caller's store write.
    /// Returns the message id.
    pub fn publish_from(
        &self,
        w: &Write<'_>,
        env: &Env,
        sqs: &Sqs,
        topic_arn: &str,
        publication: &Publication,
    ) -> Result<String, SnsError> {
        let region = model::topic_region(topic_arn)?.to_owned();
        let mut state = self.state();
        self.publish(
            w.conn(),
            env,
            sqs,
            &mut state,
            topic_arn,
            publication,
            &region,
        )
        .map(|(id, _)| id)
    }

    /// Every delivery that failed for good, oldest first.
    pub fn failed_deliveries(&self) -> Result<Vec<FailedDelivery>, StoreError> {
        self.store.read(rows::failures)
    }
}
