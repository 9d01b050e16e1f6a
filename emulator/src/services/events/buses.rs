//! Event buses and tags: CreateEventBus, DescribeEventBus, ListEventBuses, DeleteEventBus,
//! TagResource, UntagResource and ListTagsForResource. Every region has its `default` bus,
//! which cannot be made or deleted.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::services::events::error::EventsError;
use crate::services::events::input::{Constraint, Input, c, page};
use crate::services::events::model::{Bus, DEFAULT_BUS, MAX_TAGS};
use crate::services::events::rules::{resolve_bus, tag_list};
use crate::services::events::{Ctx, State, persist};

pub fn create_event_bus(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::BUS_NAME, true)?;
    let source = input.string(
        "EventSourceName",
        "eventSourceName",
        &Constraint::length(1, 256),
        false,
    )?;
    let description = input.string("Description", "description", &c::DESCRIPTION, false)?;
    input.string(
        "KmsKeyIdentifier",
        "kmsKeyIdentifier",
        &Constraint::length(0, 2048),
        false,
    )?;
    let tags = tag_list(&mut input, "Tags", "tags")?;
    input.finish()?;
    let name = name.unwrap_or_default();
    if source.is_some() {
        return Err(EventsError::Validation(
            "veritrail does not emulate partner event sources: leave out EventSourceName".into(),
        ));
    }
    if name.contains('/') {
        return Err(EventsError::Validation(
            "Event bus name must not contain '/'.".into(),
        ));
    }
    let region = ctx.region().to_owned();
    if state.bus(&region, name).is_some() {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "Event bus {name} already exists."
        )));
    }
    if tags.len() > MAX_TAGS {
        return Err(EventsError::LimitExceeded);
    }
    let mut bus = Bus::new(&region, name, ctx.now);
    bus.description = description.map(str::to_owned);
    bus.tags = tags;
    persist::put_bus(ctx.write()?, &bus)?;
    let mut out = json!({ "EventBusArn": bus.arn() });
    if let Some(d) = &bus.description {
        out["Description"] = json!(d);
    }
    state.buses.insert((region, name.to_owned()), bus);
    Ok(out)
}

pub fn describe_event_bus(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::BUS_NAME_OR_ARN, false)?;
    input.finish()?;
    let (region, name) = resolve_bus(ctx, name);
    state
        .bus(&region, &name)
        .map(|b| b.describe())
        .ok_or_else(|| EventsError::no_bus(&name))
}

pub fn list_event_buses(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let prefix = input.string("NamePrefix", "namePrefix", &c::BUS_NAME, false)?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let region = ctx.region();
    let mut buses: BTreeMap<String, Bus> = state
        .buses
        .values()
        .filter(|b| b.region == region)
        .map(|b| (b.name.clone(), b.clone()))
        .collect();
    if let Some(default) = state.bus(region, DEFAULT_BUS) {
        buses.entry(DEFAULT_BUS.to_owned()).or_insert(default);
    }
    let listed: Vec<Value> = buses
        .values()
        .filter(|b| prefix.is_none_or(|p| b.name.starts_with(p)))
        .map(Bus::describe)
        .collect();
    let (listed, next) = page(listed, token, limit)?;
    let mut out = json!({ "EventBuses": listed });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

/// Deletes a custom bus and the rules on it.
pub fn delete_event_bus(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::BUS_NAME, true)?;
    input.finish()?;
    let name = name.unwrap_or_default();
    if name == DEFAULT_BUS {
        return Err(EventsError::Validation(
            "Cannot delete event bus default.".into(),
        ));
    }
    let region = ctx.region().to_owned();
    let key = (region.clone(), name.to_owned());
    if !state.buses.contains_key(&key) {
        return Err(EventsError::no_bus(name));
    }
    let w = ctx.write()?;
    let rules: Vec<String> = state
        .rules_of(&region, name)
        .map(|r| r.name.clone())
        .collect();
    for r in &rules {
        persist::delete_rule(w, &region, name, r)?;
    }
    persist::delete_bus(w, &region, name)?;
    for r in rules {
        state.rules.remove(&(region.clone(), name.to_owned(), r));
    }
    state.buses.remove(&key);
    state.rebuild(&region, name);
    Ok(json!({}))
}

/// What a tagging call's `ResourceARN` names.
enum Tagged {
    Rule {
        region: String,
        bus: String,
        name: String,
    },
    Bus {
        region: String,
        name: String,
    },
}

fn tagged(ctx: &Ctx<'_>, state: &State) -> Result<Tagged, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let arn = input.string("ResourceARN", "resourceARN", &c::ARN, true)?;
    input.finish()?;
    let arn = arn.unwrap_or_default();
    let invalid = || EventsError::Validation(format!("Parameter ResourceARN is not valid: {arn}"));
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("events"), Some(region), Some(_), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    let region = region.to_owned();
    if let Some(rest) = resource.strip_prefix("rule/") {
        let (bus, name) = match rest.rsplit_once('/') {
            Some((bus, name)) => (bus.to_owned(), name.to_owned()),
            None => (DEFAULT_BUS.to_owned(), rest.to_owned()),
        };
        if !state
            .rules
            .contains_key(&(region.clone(), bus.clone(), name.clone()))
        {
            return Err(EventsError::no_rule(&name, &bus));
        }
        return Ok(Tagged::Rule { region, bus, name });
    }
    if let Some(name) = resource.strip_prefix("event-bus/") {
        if state.bus(&region, name).is_none() {
            return Err(EventsError::no_bus(name));
        }
        return Ok(Tagged::Bus {
            region,
            name: name.to_owned(),
        });
    }
    Err(invalid())
}

/// Changes the tags of what `ResourceARN` names.
fn retag(
    ctx: &Ctx<'_>,
    state: &mut State,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<Value, EventsError> {
    let w = ctx.write()?;
    match tagged(ctx, state)? {
        Tagged::Rule { region, bus, name } => {
            let key = (region, bus, name);
            let Some(mut rule) = state.rules.get(&key).cloned() else {
                return Err(EventsError::no_rule(&key.2, &key.1));
            };
            change(&mut rule.tags);
            if rule.tags.len() > MAX_TAGS {
                return Err(EventsError::LimitExceeded);
            }
            persist::put_rule(w, &rule)?;
            state.rules.insert(key, rule);
        }
        Tagged::Bus { region, name } => {
            let Some(mut bus) = state.bus(&region, &name) else {
                return Err(EventsError::no_bus(&name));
            };
            change(&mut bus.tags);
            if bus.tags.len() > MAX_TAGS {
                return Err(EventsError::LimitExceeded);
            }
            bus.modified = ctx.now;
            persist::put_bus(w, &bus)?;
            state.buses.insert((region, name), bus);
        }
    }
    Ok(json!({}))
}

pub fn tag_resource(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    if input.list("Tags")?.is_none() {
        input.missing("tags");
    }
    let tags = tag_list(&mut input, "Tags", "tags")?;
    input.finish()?;
    retag(ctx, state, |t| t.extend(tags))
}

pub fn untag_resource(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let mut keys = Vec::new();
    match input.list("TagKeys")? {
        None => input.missing("tagKeys"),
        Some(list) => {
            for (i, k) in list.iter().enumerate() {
                let Some(k) = k.as_str() else {
                    return Err(EventsError::Serialization("TagKeys must be strings".into()));
                };
                input.check(k, &format!("tagKeys.{}.member", i + 1), &c::TAG_KEY);
                keys.push(k.to_owned());
            }
        }
    }
    input.finish()?;
    retag(ctx, state, |t| {
        for k in &keys {
            t.remove(k);
        }
    })
}

pub fn list_tags_for_resource(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let tags = match tagged(ctx, state)? {
        Tagged::Rule { region, bus, name } => state
            .rules
            .get(&(region, bus.clone(), name.clone()))
            .map(|r| r.tags.clone())
            .ok_or_else(|| EventsError::no_rule(&name, &bus))?,
        Tagged::Bus { region, name } => state
            .bus(&region, &name)
            .map(|b| b.tags)
            .ok_or_else(|| EventsError::no_bus(&name))?,
    };
    let list: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({ "Tags": list }))
}
