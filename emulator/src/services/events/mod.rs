//! EventBridge (awsJson1_1, `X-Amz-Target: AWSEvents.<Op>`, `../shared/specs/cloudtrail.md`
//! §5): event buses, rules with event patterns or schedules, targets, PutEvents,
//! TestEventPattern, tags, connections and API destinations; and the CloudTrail record of every
//! call the emulator serves, put on the default bus as an "AWS API Call via CloudTrail" event.
//!
//! - [`rules`], [`buses`], [`destinations`], [`put_events`]: handlers, named after the
//!   operations; [`input`]: the API model's constraints and EventBridge's validation messages;
//! - [`model`]: buses, rules, connections, API destinations; [`persist`]: their rows;
//! - [`schedule`]: `rate(…)` and `cron(…)` on the emulator's clock; [`transform`]: `Input`,
//!   `InputPath` and `InputTransformer`;
//! - [`delivery`]: the durable delivery queue, retries, dead letters, the HTTP client;
//! - [`error`]: one variant per EventBridge error code.
//!
//! Matching: the enabled rules of each bus are compiled into one `veritrail_rules::Machine`
//! (rebuilt whenever a rule of that bus or its targets change, then shared immutably), so
//! matching an event costs about the size of the event, not the number of rules. Read-only
//! calls' records reach only rules in state `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`,
//! which have a machine of their own.
//!
//! Connections' secrets (passwords, API keys, client secrets) are kept in the key store, not in
//! `aws.sqlite`, and are never answered back or recorded.

pub mod buses;
pub mod delivery;
pub mod destinations;
pub mod error;
pub mod input;
pub mod model;
pub mod persist;
pub mod put_events;
pub mod rules;
pub mod schedule;
pub mod transform;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};
use veritrail_core::time::UtcMillis;
use veritrail_rules::{Machine, MachineBuilder, envelope};

use delivery::{Delivery, Failure, Invocation, Next, Outcome, Tokens};
pub use error::EventsError;
use model::{ApiDestination, Bus, Connection, DEFAULT_BUS, Rule, RuleState, uuid};

use crate::ACCOUNT_ID;
use crate::EmulatorError;
use crate::env::Env;
use crate::keys::{KeyError, KeyStore};
use crate::ops::EventsOp;
use crate::services::cloudtrail::records::NewRecord;
use crate::services::sns::{Publication, Sns, SnsError};
use crate::services::sqs::{Outgoing, Sqs, SqsError};
use crate::store::{Store, StoreError, Write};
use crate::wire::AwsRequest;
use crate::wire::time::iso8601_seconds;

/// Where connections' secrets live in the key store.
pub const SECRETS_DIR: &str = "events-connections";
/// A scheduled rule that fell behind (the clock was moved) fires at most this many of the times
/// it missed, the latest ones, in one tick.
const MAX_CATCH_UP: usize = 60;
/// HTTP deliveries under way at once, at most.
const MAX_IN_FLIGHT: usize = 64;

/// A rule as matching sees it.
#[derive(Debug)]
struct Armed {
    arn: String,
    name: String,
    targets: Vec<Value>,
}

/// The enabled rules of one bus, compiled.
#[derive(Debug)]
struct Compiled {
    rules: Vec<Armed>,
    /// Rules `ENABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    all: Machine<usize>,
    /// Rules `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS` only: read-only calls' records.
    read_only: Machine<usize>,
}

impl Compiled {
    /// The deliveries of `event` to the targets of every rule `machine` matches.
    fn deliveries(
        &self,
        machine: &Machine<usize>,
        event: &Value,
        region: &str,
        now: UtcMillis,
    ) -> Vec<Delivery> {
        let Ok(matched) = machine.matches_value(event) else {
            // Over EventBridge's limits (256 KB, nesting): not delivered, as on AWS.
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for &i in matched {
            if !seen.insert(i) {
                continue;
            }
            let Some(rule) = self.rules.get(i) else {
                continue;
            };
            out.extend(
                rule.targets
                    .iter()
                    .map(|t| new_delivery(region, &rule.arn, &rule.name, t, event, now)),
            );
        }
        out
    }
}

fn new_delivery(
    region: &str,
    rule_arn: &str,
    rule_name: &str,
    target: &Value,
    event: &Value,
    now: UtcMillis,
) -> Delivery {
    Delivery {
        region: region.to_owned(),
        rule_arn: rule_arn.to_owned(),
        rule_name: rule_name.to_owned(),
        target: target.clone(),
        event: event.clone(),
        ingested: now,
        attempts: 0,
        last_error: None,
    }
}

type BusKey = (String, String);

/// Buses, rules, connections, API destinations, connections' secrets, and the compiled rules.
#[derive(Debug)]
pub struct State {
    /// When the EventBridge state was first made: the default buses' creation time.
    pub created: UtcMillis,
    /// Custom buses, and default buses once something (tags) was set on them.
    pub buses: BTreeMap<BusKey, Bus>,
    /// By region, bus and name.
    pub rules: BTreeMap<(String, String, String), Rule>,
    pub connections: BTreeMap<BusKey, Connection>,
    pub destinations: BTreeMap<BusKey, ApiDestination>,
    /// Connections' full `AuthParameters`, by key-store file.
    pub secrets: BTreeMap<String, Value>,
    compiled: BTreeMap<BusKey, Arc<Compiled>>,
}

impl State {
    /// A bus, the default bus of every region included.
    pub fn bus(&self, region: &str, name: &str) -> Option<Bus> {
        match self.buses.get(&(region.to_owned(), name.to_owned())) {
            Some(b) => Some(b.clone()),
            None if name == DEFAULT_BUS => {
                let mut b = Bus::new(region, DEFAULT_BUS, self.created);
                b.modified = self.created;
                Some(b)
            }
            None => None,
        }
    }

    /// The rules of one bus, by name.
    pub fn rules_of<'a>(&'a self, region: &str, bus: &str) -> impl Iterator<Item = &'a Rule> {
        let from = (region.to_owned(), bus.to_owned(), String::new());
        let (region, bus) = (region.to_owned(), bus.to_owned());
        self.rules
            .range(from..)
            .take_while(move |((r, b, _), _)| *r == region && *b == bus)
            .map(|(_, rule)| rule)
    }

    /// Compiles the enabled rules of a bus again (after any change to its rules or targets).
    pub fn rebuild(&mut self, region: &str, bus: &str) {
        let mut all = MachineBuilder::new();
        let mut read_only = MachineBuilder::new();
        let mut armed = Vec::new();
        for rule in self.rules_of(region, bus) {
            if rule.state == RuleState::Disabled || rule.targets.is_empty() {
                continue;
            }
            let Some(pattern) = rule.compiled() else {
                continue;
            };
            let i = armed.len();
            all.add(i, &pattern);
            if rule.state == RuleState::EnabledWithAllManagementEvents {
                read_only.add(i, &pattern);
            }
            armed.push(Armed {
                arn: rule.arn(),
                name: rule.name.clone(),
                targets: rule.targets.clone(),
            });
        }
        let key = (region.to_owned(), bus.to_owned());
        if armed.is_empty() {
            self.compiled.remove(&key);
        } else {
            self.compiled.insert(
                key,
                Arc::new(Compiled {
                    rules: armed,
                    all: all.build(),
                    read_only: read_only.build(),
                }),
            );
        }
    }

    fn compiled(&self, region: &str, bus: &str) -> Option<Arc<Compiled>> {
        self.compiled
            .get(&(region.to_owned(), bus.to_owned()))
            .cloned()
    }
}

/// What a handler works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub req: &'a AwsRequest,
    pub env: &'a Env,
    pub now: UtcMillis,
    pub keys: &'a KeyStore,
    write: Option<&'a Write<'a>>,
}

impl Ctx<'_> {
    /// The store write of a changing operation.
    pub fn write(&self) -> Result<&Write<'_>, EventsError> {
        self.write.ok_or_else(|| {
            EventsError::Store(StoreError::Sqlite(
                "a change was attempted outside a store write".into(),
            ))
        })
    }

    pub fn region(&self) -> &str {
        &self.req.region
    }
}

/// A delivery taken from the queue, and the call that makes it.
#[derive(Debug)]
pub struct Attempt {
    pub id: i64,
    pub delivery: Delivery,
    pub invocation: Invocation,
}

/// The services inside the emulator that EventBridge delivers to (SQS queues, SNS topics, and
/// dead-letter queues), written in the same store write as the delivery's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub sqs: &'a Sqs,
    pub sns: &'a Sns,
    pub env: &'a Env,
}

/// How a delivery is made: an HTTP call, or a message put on a queue or topic of the emulator.
enum Plan {
    Http(Invocation),
    Queue(Outgoing),
    Topic(Publication),
}

/// The EventBridge service of one emulator.
#[derive(Debug)]
pub struct Events {
    state: Mutex<State>,
    keys: KeyStore,
    /// Deliveries of read-only calls' events, committed with the next store write.
    pending: Mutex<Vec<Delivery>>,
    /// Queued deliveries being made now (by row id).
    in_flight: Mutex<HashSet<i64>>,
    pub tokens: Tokens,
    /// Rings when deliveries were queued, so they start before the next tick.
    wake: Arc<tokio::sync::Notify>,
}

/// Whether a row's key columns (region first, name last) name what its JSON holds.
fn loaded(what: &str, keys: &[String], region: &str, name: &str) -> Result<(), String> {
    if keys.first().map(String::as_str) != Some(region)
        || keys.last().map(String::as_str) != Some(name)
    {
        return Err(format!("the {what} in the row is {region}/{name}"));
    }
    Ok(())
}

impl Events {
    /// Loads buses, rules, connections (and their secrets from the key store) and API
    /// destinations, checks the queued deliveries, and compiles every bus's rules.
    pub fn open(store: &Store, keys: &KeyStore, now: UtcMillis) -> Result<Self, EmulatorError> {
        let created = {
            let w = store.write()?;
            w.conn().execute_batch(persist::SCHEMA)?;
            let created = persist::created(&w, now)?;
            w.commit()?;
            created
        };
        let buses: Vec<Bus> = persist::load(store, "ev_buses", "region, name", |b: &Bus, k| {
            b.check()?;
            loaded("bus", k, &b.region, &b.name)
        })?;
        let rules: Vec<Rule> =
            persist::load(store, "ev_rules", "region, bus, name", |r: &Rule, k| {
                r.check()?;
                if k.get(1) != Some(&r.bus) {
                    return Err(format!("the rule in the row is on bus {}", r.bus));
                }
                loaded("rule", k, &r.region, &r.name)
            })?;
        let connections: Vec<Connection> = persist::load(
            store,
            "ev_connections",
            "region, name",
            |c: &Connection, k| {
                c.check()?;
                loaded("connection", k, &c.region, &c.name)
            },
        )?;
        let destinations: Vec<ApiDestination> = persist::load(
            store,
            "ev_destinations",
            "region, name",
            |d: &ApiDestination, k| {
                d.check()?;
                loaded("API destination", k, &d.region, &d.name)
            },
        )?;
        persist::check_deliveries::<Delivery>(store)?;
        let mut secrets = BTreeMap::new();
        for c in &connections {
            let bytes = keys.read(&c.secret_file)?.ok_or_else(|| {
                KeyError(format!(
                    "the secret of EventBridge connection {} ({}) is missing from the key store",
                    c.name, c.secret_file
                ))
            })?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|err| {
                KeyError(format!(
                    "the secret of EventBridge connection {} ({}) is damaged: {err}",
                    c.name, c.secret_file
                ))
            })?;
            secrets.insert(c.secret_file.clone(), v);
        }
        let mut state = State {
            created,
            buses: buses
                .into_iter()
                .map(|b| ((b.region.clone(), b.name.clone()), b))
                .collect(),
            rules: rules
                .into_iter()
                .map(|r| ((r.region.clone(), r.bus.clone(), r.name.clone()), r))
                .collect(),
            connections: connections
                .into_iter()
                .map(|c| ((c.region.clone(), c.name.clone()), c))
                .collect(),
            destinations: destinations
                .into_iter()
                .map(|d| ((d.region.clone(), d.name.clone()), d))
                .collect(),
            secrets,
            compiled: BTreeMap::new(),
        };
        let buses: BTreeSet<BusKey> = state
            .rules
            .keys()
            .map(|(r, b, _)| (r.clone(), b.clone()))
            .collect();
        for (region, bus) in buses {
            state.rebuild(&region, &bus);
        }
        Ok(Self {
            state: Mutex::new(state),
            keys: keys.clone(),
            pending: Mutex::new(Vec::new()),
            in_flight: Mutex::new(HashSet::new()),
            tokens: Tokens::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What rings when deliveries are queued.
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.wake)
    }

    /// Handles one EventBridge operation (`write` is set for every operation that changes
    /// something).
    pub fn handle(
        &self,
        req: &AwsRequest,
        op: EventsOp,
        env: &Env,
        write: Option<&Write<'_>>,
    ) -> Result<Value, EventsError> {
        let ctx = Ctx {
            req,
            env,
            now: env.now(),
            keys: &self.keys,
            write,
        };
        let mut state = self.state();
        use EventsOp::*;
        match op {
            PutRule => rules::put_rule(&ctx, &mut state),
            DescribeRule => rules::describe_rule(&ctx, &state),
            ListRules => rules::list_rules(&ctx, &state),
            DeleteRule => rules::delete_rule(&ctx, &mut state),
            EnableRule => rules::set_state(&ctx, &mut state, true),
            DisableRule => rules::set_state(&ctx, &mut state, false),
            PutTargets => rules::put_targets(&ctx, &mut state),
            RemoveTargets => rules::remove_targets(&ctx, &mut state),
            ListTargetsByRule => rules::list_targets_by_rule(&ctx, &state),
            ListRuleNamesByTarget => rules::list_rule_names_by_target(&ctx, &state),
            CreateEventBus => buses::create_event_bus(&ctx, &mut state),
            DescribeEventBus => buses::describe_event_bus(&ctx, &state),
            ListEventBuses => buses::list_event_buses(&ctx, &state),
            DeleteEventBus => buses::delete_event_bus(&ctx, &mut state),
            TagResource => buses::tag_resource(&ctx, &mut state),
            UntagResource => buses::untag_resource(&ctx, &mut state),
            ListTagsForResource => buses::list_tags_for_resource(&ctx, &state),
            CreateConnection => destinations::create_connection(&ctx, &mut state),
            DescribeConnection => destinations::describe_connection(&ctx, &state),
            ListConnections => destinations::list_connections(&ctx, &state),
            DeleteConnection => destinations::delete_connection(&ctx, &mut state),
            CreateApiDestination => destinations::create_api_destination(&ctx, &mut state),
            DescribeApiDestination => destinations::describe_api_destination(&ctx, &state),
            ListApiDestinations => destinations::list_api_destinations(&ctx, &state),
            DeleteApiDestination => destinations::delete_api_destination(&ctx, &mut state),
            TestEventPattern => put_events::test_event_pattern(&ctx),
            PutEvents => {
                let (answer, deliveries) = put_events::put_events(&ctx, &state)?;
                drop(state);
                let w = ctx.write()?;
                for d in &deliveries {
                    persist::insert_delivery(w, d.ingested, d)?;
                }
                if !deliveries.is_empty() {
                    self.wake.notify_one();
                }
                Ok(answer)
            }
            other => Err(EventsError::Validation(format!(
                "veritrail does not emulate the events operation {other}"
            ))),
        }
    }

    /// Puts the CloudTrail record of a served call on its region's default bus: every rule it
    /// matches queues a delivery per target (committed with the next store write). A read-only
    /// call's record reaches only rules in `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub fn observe(&self, record: &NewRecord, env: &Env, now: UtcMillis) {
        let Some(compiled) = self.state().compiled(&record.region, DEFAULT_BUS) else {
            return;
        };
        let machine = if record.read_only {
            &compiled.read_only
        } else {
            &compiled.all
        };
        if machine.is_empty() {
            return;
        }
        // The record is parsed back only when some rule could match it.
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&record.json) else {
            return;
        };
        let fields = &fields;
        let mut event = envelope::cloudtrail_event(fields);
        event["id"] = json!(uuid(&env.new_id()));
        let deliveries = compiled.deliveries(machine, &event, &record.region, now);
        if !deliveries.is_empty() {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(deliveries);
            self.wake.notify_one();
        }
    }

    /// Commits the deliveries waiting in memory into `w`.
    pub fn flush(&self, w: &Write<'_>) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (i, d) in rows.iter().enumerate() {
            if let Err(e) = persist::insert_delivery(w, d.ingested, d) {
                // Keep what was not saved for the next write.
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(rows[i..].iter().cloned());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Once a tick, inside `w`: commits waiting deliveries, fires the scheduled rules that are
    /// due, and removes secrets of connections that no longer exist from the key store. Returns
    /// whether deliveries are due.
    pub fn tick(&self, w: &Write<'_>, env: &Env, now: UtcMillis) -> Result<bool, StoreError> {
        self.flush(w)?;
        let mut state = self.state();
        let mut fired = Vec::new();
        for rule in state.rules.values_mut() {
            let (Some(at), Some(schedule)) = (rule.next_fire, rule.parsed_schedule()) else {
                continue;
            };
            if at > now {
                continue;
            }
            let mut times = Vec::new();
            let mut t = Some(at);
            while let Some(x) = t.filter(|x| *x <= now) {
                times.push(x);
                t = schedule.next_after(x, rule.put_at);
            }
            let skip = times.len().saturating_sub(MAX_CATCH_UP);
            if rule.state != RuleState::Disabled {
                for x in &times[skip..] {
                    let event = json!({
                        "version": "0",
                        "id": uuid(&env.new_id()),
                        "detail-type": "Scheduled Event",
                        "source": "aws.events",
                        "account": ACCOUNT_ID,
                        "time": iso8601_seconds(*x),
                        "region": rule.region,
                        "resources": [rule.arn()],
                        "detail": {},
                    });
                    fired.extend(rule.targets.iter().map(|t| {
                        new_delivery(&rule.region, &rule.arn(), &rule.name, t, &event, now)
                    }));
                }
            }
            rule.next_fire = t;
            persist::put_rule(w, rule)?;
        }
        for d in &fired {
            persist::insert_delivery(w, d.ingested, d)?;
        }
        self.forget_deleted_secrets(&state);
        drop(state);
        Ok(persist::next_due(w)?.is_some_and(|due| due <= now))
    }

    /// Removes the key-store files of connections that are gone (called under the store's
    /// writer lock, when memory and the committed rows agree).
    fn forget_deleted_secrets(&self, state: &State) {
        let Ok(files) = std::fs::read_dir(self.keys.dir().join(SECRETS_DIR)) else {
            return;
        };
        for f in files.flatten() {
            let name = format!("{SECRETS_DIR}/{}", f.file_name().to_string_lossy());
            if !state.secrets.contains_key(&name) {
                let _ = std::fs::remove_file(f.path());
            }
        }
    }

    /// Takes the deliveries due at `now` that are not under way: local outcomes (a target that
    /// is gone or cannot be reached from here) are settled in `w` at once; the HTTP calls are
    /// returned, marked under way, for the caller to make and [`Events::settle`].
    pub fn take_due(
        &self,
        w: &Write<'_>,
        local: Local<'_>,
        now: UtcMillis,
    ) -> Result<Vec<Attempt>, StoreError> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        if room == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, Delivery)> = persist::due_deliveries(w, now, room + in_flight.len())?;
        let mut out = Vec::new();
        let mut settled = Vec::new();
        {
            let state = self.state();
            for (id, d) in rows {
                if in_flight.contains(&id) || out.len() == room {
                    continue;
                }
                match plan(&state, &d) {
                    Ok(Plan::Http(invocation)) => {
                        in_flight.insert(id);
                        out.push(Attempt {
                            id,
                            delivery: d,
                            invocation,
                        });
                    }
                    Ok(Plan::Queue(message)) => {
                        let outcome = local_outcome(
                            local
                                .sqs
                                .enqueue(w, local.env, d.target_arn(), &message)
                                .map_err(sqs_failure),
                        )?;
                        settled.push((id, d, outcome));
                    }
                    Ok(Plan::Topic(publication)) => {
                        let outcome = local_outcome(
                            local
                                .sns
                                .publish_from(w, local.env, local.sqs, d.target_arn(), &publication)
                                .map_err(sns_failure),
                        )?;
                        settled.push((id, d, outcome));
                    }
                    Err(outcome) => settled.push((id, d, outcome)),
                }
            }
        }
        drop(in_flight);
        for (id, d, outcome) in settled {
            self.settle(w, local, id, d, outcome, now)?;
        }
        Ok(out)
    }

    /// Saves how an attempt ended: delivered (removed), retried later, or given up (to the
    /// dead-letter queue, and recorded in `ev_failures`).
    pub fn settle(
        &self,
        w: &Write<'_>,
        local: Local<'_>,
        id: i64,
        mut d: Delivery,
        outcome: Outcome,
        now: UtcMillis,
    ) -> Result<(), StoreError> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        d.attempts = d.attempts.saturating_add(1);
        let (failure, retryable, after) = match outcome {
            Outcome::Delivered => return persist::delete_delivery(w, id),
            Outcome::Retry { failure, after } => (failure, true, after),
            Outcome::Fail(failure) => (failure, false, None),
        };
        d.last_error = Some(failure.clone());
        match delivery::next_after_failure(&d, retryable, after, id, now) {
            Next::RetryAt(at) => persist::update_delivery(w, id, at, &d),
            Next::GiveUp(exhausted) => {
                let dead_letter = match d.dead_letter_arn() {
                    Some(arn) => {
                        let message = dead_letter_message(&d, &failure, exhausted);
                        let sent = match local.sqs.enqueue(w, local.env, arn, &message) {
                            Err(SqsError::Store(e)) => return Err(e),
                            sent => sent.map_err(|e| e.parts().3),
                        };
                        Some((arn, sent))
                    }
                    None => None,
                };
                let record = delivery::failure_record(&d, &failure, exhausted, dead_letter, now);
                persist::insert_failure(w, now, &record)?;
                persist::delete_delivery(w, id)
            }
        }
    }

    /// The deliveries that failed for good, oldest first (what `ev_failures` holds).
    pub fn failures(store: &Store) -> Result<Vec<Value>, StoreError> {
        let rows: Vec<String> = store.read(|c| {
            let mut stmt = c.prepare("SELECT json FROM ev_failures ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        rows.iter()
            .map(|t| crate::services::saved::parse_row("an ev_failures row", t))
            .collect()
    }

    /// How many deliveries are queued (committed or waiting in memory).
    pub fn queued(store: &Store) -> Result<usize, StoreError> {
        let n: i64 =
            store.read(|c| c.query_row("SELECT count(*) FROM ev_deliveries", [], |r| r.get(0)))?;
        Ok(n as usize)
    }
}

/// How a delivery is made: the HTTP call of an API destination, or an outcome known at once.
fn plan(state: &State, d: &Delivery) -> Result<Plan, Outcome> {
    let arn = d.target_arn();
    let service = arn.split(':').nth(2).unwrap_or_default();
    let no_resource = |what: String| Outcome::Fail(Failure::new("NO_RESOURCE", what));
    if service == "sqs" || service == "sns" {
        let ctx = transform::Context {
            rule_arn: &d.rule_arn,
            rule_name: &d.rule_name,
            ingestion_time: &iso8601_seconds(d.ingested),
        };
        let body = transform::payload(&d.target, &d.event, &ctx)
            .map_err(|e| Outcome::Fail(Failure::new("INVALID_JSON", e.0)))?;
        let event_id = d.event.get("id").and_then(Value::as_str).map(str::to_owned);
        let group_id = d
            .target
            .pointer("/SqsParameters/MessageGroupId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Ok(if service == "sqs" {
            Plan::Queue(Outgoing {
                body,
                attributes: Map::new(),
                // EventBridge deduplicates FIFO deliveries by the event's id.
                dedup_id: group_id.as_ref().and(event_id),
                group_id,
                sender: EVENTBRIDGE_SENDER.to_owned(),
            })
        } else {
            Plan::Topic(Publication {
                message: body,
                subject: None,
                structure: None,
                attributes: Map::new(),
                dedup_id: group_id.as_ref().and(event_id),
                group_id,
            })
        });
    }
    let Some((region, name, id)) = input::resource_arn(arn, "api-destination") else {
        return Err(Outcome::Fail(Failure::new(
            "SDK_CLIENT_ERROR",
            format!("veritrail does not deliver to {service} targets ({arn})"),
        )));
    };
    let dest = state
        .destinations
        .get(&(region.to_owned(), name.to_owned()))
        .filter(|dest| dest.id == id)
        .ok_or_else(|| no_resource(format!("The API destination {arn} does not exist")))?;
    let conn = input::resource_arn(&dest.connection_arn, "connection")
        .and_then(|(r, n, i)| {
            state
                .connections
                .get(&(r.to_owned(), n.to_owned()))
                .filter(|c| c.id == i)
        })
        .ok_or_else(|| {
            no_resource(format!(
                "The connection {} of API destination {name} does not exist",
                dest.connection_arn
            ))
        })?;
    let secret = state
        .secrets
        .get(&conn.secret_file)
        .ok_or_else(|| no_resource(format!("The secret of connection {} is missing", conn.name)))?;
    let ctx = transform::Context {
        rule_arn: &d.rule_arn,
        rule_name: &d.rule_name,
        ingestion_time: &iso8601_seconds(d.ingested),
    };
    let payload = transform::payload(&d.target, &d.event, &ctx)
        .map_err(|e| Outcome::Fail(Failure::new("INVALID_JSON", e.0)))?;
    delivery::invocation(dest, conn, secret, &d.target, &d.event, payload)
        .map(Plan::Http)
        .map_err(Outcome::Fail)
}

/// The `SenderId` of the messages EventBridge puts on queues.
const EVENTBRIDGE_SENDER: &str = "AIDAIE6VAXUQU2DKHA7DK";

/// A local delivery's outcome; a store failure is not an outcome: it fails the whole take
/// (nothing is committed, and the delivery stays due).
fn local_outcome(sent: Result<String, Result<Failure, StoreError>>) -> Result<Outcome, StoreError> {
    match sent {
        Ok(_) => Ok(Outcome::Delivered),
        Err(Ok(failure)) => Ok(Outcome::Fail(failure)),
        Err(Err(e)) => Err(e),
    }
}

fn sqs_failure(e: SqsError) -> Result<Failure, StoreError> {
    match e {
        SqsError::Store(e) => Err(e),
        SqsError::QueueDoesNotExist => Ok(Failure::new("NO_RESOURCE", e.parts().3)),
        e => Ok(Failure::new("SDK_CLIENT_ERROR", e.parts().3)),
    }
}

fn sns_failure(e: SnsError) -> Result<Failure, StoreError> {
    match e {
        SnsError::Store(e) => Err(e),
        SnsError::NotFound(_) => Ok(Failure::new("NO_RESOURCE", e.parts().2)),
        e => Ok(Failure::new("SDK_CLIENT_ERROR", e.parts().2)),
    }
}

/// The message a dead-letter queue receives: the event as it matched, with the attributes
/// EventBridge adds (`RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`,
/// `EXHAUSTED_RETRY_CONDITION`, `RETRY_ATTEMPTS`).
fn dead_letter_message(d: &Delivery, failure: &Failure, exhausted: Option<&str>) -> Outgoing {
    let mut attributes = Map::new();
    let mut put = |k: &str, v: &str| {
        attributes.insert(
            k.to_owned(),
            json!({"DataType": "String", "StringValue": v}),
        );
    };
    put("RULE_ARN", &d.rule_arn);
    put("TARGET_ARN", d.target_arn());
    put("ERROR_CODE", &failure.code);
    put("ERROR_MESSAGE", &failure.message);
    if let Some(condition) = exhausted {
        put("EXHAUSTED_RETRY_CONDITION", condition);
    }
    put("RETRY_ATTEMPTS", &d.attempts.saturating_sub(1).to_string());
    Outgoing {
        body: d.event.to_string(),
        attributes,
        sender: EVENTBRIDGE_SENDER.to_owned(),
        ..Outgoing::default()
    }
}

/// The `requestParameters` of an EventBridge call's CloudTrail record: the request, members in
/// lower camel case, with connections' secret values hidden and PutEvents' details left out.
pub fn audit_parameters(op: EventsOp, body: &Value) -> Value {
    const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";
    fn hide(v: &mut Value) {
        match v {
            Value::Object(o) => {
                let secret = o.get("IsValueSecret").and_then(Value::as_bool) == Some(true);
                for (k, x) in o.iter_mut() {
                    if matches!(k.as_str(), "Password" | "ApiKeyValue" | "ClientSecret")
                        || (secret && k == "Value")
                    {
                        *x = json!(HIDDEN);
                    } else {
                        hide(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(hide),
            _ => {}
        }
    }
    let mut body = body.clone();
    match op {
        EventsOp::CreateConnection | EventsOp::UpdateConnection => hide(&mut body),
        EventsOp::PutEvents => {
            for e in body
                .get_mut("Entries")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(o) = e.as_object_mut() {
                    o.remove("Detail");
                }
            }
        }
        _ => {}
    }
    crate::audit::lower_first(&body)
}
