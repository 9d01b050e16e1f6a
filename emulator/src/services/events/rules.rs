//! Rules and their targets: PutRule, DescribeRule, ListRules, DeleteRule, EnableRule,
//! DisableRule, PutTargets, RemoveTargets, ListTargetsByRule and ListRuleNamesByTarget.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use veritrail_rules::Pattern;

use crate::services::events::error::EventsError;
use crate::services::events::input::{Constraint, Input, c, page};
use crate::services::events::model::{DEFAULT_BUS, MAX_TARGETS, Rule, RuleState};
use crate::services::events::schedule::Schedule;
use crate::services::events::transform::{PREDEFINED, placeholders};
use crate::services::events::{Ctx, State, input, persist};

/// The bus an `EventBusName` member names (a name or an ARN; the default bus when absent):
/// its region and name.
pub fn resolve_bus(ctx: &Ctx<'_>, given: Option<&str>) -> (String, String) {
    match given.and_then(input::bus_name_or_arn) {
        Some((region, name)) => (region.unwrap_or(ctx.region()).to_owned(), name.to_owned()),
        None => (ctx.region().to_owned(), DEFAULT_BUS.to_owned()),
    }
}

/// [`resolve_bus`], refused with ResourceNotFoundException when that bus does not exist.
fn existing_bus(
    ctx: &Ctx<'_>,
    state: &State,
    given: Option<&str>,
) -> Result<(String, String), EventsError> {
    let (region, bus) = resolve_bus(ctx, given);
    if state.bus(&region, &bus).is_none() {
        return Err(EventsError::no_bus(&bus));
    }
    Ok((region, bus))
}

/// A `Tags` list (`[{Key, Value}]`).
pub fn tag_list(
    input: &mut Input<'_>,
    member: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, EventsError> {
    let mut out = BTreeMap::new();
    for (i, t) in input.list(member)?.into_iter().flatten().enumerate() {
        let at = format!("{path}.{}.member", i + 1);
        let key = input.string_in(t, "Key", &format!("{at}.key"), &c::TAG_KEY, true)?;
        let value = input.string_in(t, "Value", &format!("{at}.value"), &c::TAG_VALUE, true)?;
        if let (Some(k), Some(v)) = (key, value) {
            out.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(out)
}

/// The rule `Name` on the bus `EventBusName` names.
fn find<'s>(
    state: &'s State,
    region: &str,
    bus: &str,
    name: &str,
) -> Result<&'s Rule, EventsError> {
    state
        .rules
        .get(&(region.to_owned(), bus.to_owned(), name.to_owned()))
        .ok_or_else(|| EventsError::no_rule(name, bus))
}

/// Reads `Name` (or `Rule`) and `EventBusName`, checked.
fn rule_and_bus(ctx: &Ctx<'_>, member: &str) -> Result<(String, String, String), EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string(member, &lower(member), &c::RULE_NAME, true)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    input.finish()?;
    let (region, bus) = resolve_bus(ctx, bus);
    Ok((region, bus, name.unwrap_or_default().to_owned()))
}

fn lower(member: &str) -> String {
    let mut c = member.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub fn put_rule(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::RULE_NAME, true)?;
    let schedule = input.string(
        "ScheduleExpression",
        "scheduleExpression",
        &Constraint::length(0, 256),
        false,
    )?;
    let pattern = input.string(
        "EventPattern",
        "eventPattern",
        &Constraint::length(0, 4096),
        false,
    )?;
    let rule_state = input.string("State", "state", &c::RULE_STATE, false)?;
    let description = input.string("Description", "description", &c::DESCRIPTION, false)?;
    let role_arn = input.string("RoleArn", "roleArn", &c::ARN, false)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let tags = tag_list(&mut input, "Tags", "tags")?;
    input.finish()?;
    let name = name.unwrap_or_default().to_owned();
    let (region, bus) = existing_bus(ctx, state, bus)?;
    if pattern.is_none() && schedule.is_none() {
        return Err(EventsError::Validation(
            "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
        ));
    }
    let parsed = match schedule {
        Some(s) => {
            if bus != DEFAULT_BUS {
                return Err(EventsError::Validation(
                    "ScheduleExpression is supported only on the default event bus.".into(),
                ));
            }
            Some(Schedule::parse(s).ok_or_else(|| {
                EventsError::Validation("Parameter ScheduleExpression is not valid.".into())
            })?)
        }
        None => None,
    };
    if let Some(p) = pattern {
        Pattern::compile(p)?;
    }
    let key = (region.clone(), bus.clone(), name.clone());
    let existing = state.rules.get(&key);
    let rule = Rule {
        region: region.clone(),
        bus: bus.clone(),
        name,
        pattern: pattern.map(str::to_owned),
        schedule: schedule.map(str::to_owned),
        state: rule_state
            .and_then(RuleState::parse)
            .unwrap_or(RuleState::Enabled),
        description: description.map(str::to_owned),
        role_arn: role_arn.map(str::to_owned),
        // Tags are set when a rule is made; putting it again leaves them.
        tags: existing.map_or(tags, |r| r.tags.clone()),
        targets: existing.map(|r| r.targets.clone()).unwrap_or_default(),
        put_at: ctx.now,
        next_fire: parsed.and_then(|s| s.next_after(ctx.now, ctx.now)),
    };
    persist::put_rule(ctx.write()?, &rule)?;
    let arn = rule.arn();
    state.rules.insert(key, rule);
    state.rebuild(&region, &bus);
    Ok(json!({ "RuleArn": arn }))
}

pub fn describe_rule(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let (region, bus, name) = rule_and_bus(ctx, "Name")?;
    Ok(find(state, &region, &bus, &name)?.describe(true))
}

pub fn list_rules(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let prefix = input.string("NamePrefix", "namePrefix", &c::RULE_NAME, false)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let (region, bus) = existing_bus(ctx, state, bus)?;
    let rules: Vec<Value> = state
        .rules_of(&region, &bus)
        .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p)))
        .map(|r| r.describe(false))
        .collect();
    let (rules, next) = page(rules, token, limit)?;
    let mut out = json!({ "Rules": rules });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

pub fn delete_rule(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let (region, bus, name) = rule_and_bus(ctx, "Name")?;
    let force = Input::new(ctx.req.json()).bool("Force")?.unwrap_or(false);
    let key = (region.clone(), bus.clone(), name.clone());
    // Deleting a rule that is not there succeeds, as on AWS.
    let Some(rule) = state.rules.get(&key) else {
        return Ok(json!({}));
    };
    if !rule.targets.is_empty() && !force {
        return Err(EventsError::Validation(
            "Rule can't be deleted since it has targets.".into(),
        ));
    }
    persist::delete_rule(ctx.write()?, &region, &bus, &name)?;
    state.rules.remove(&key);
    state.rebuild(&region, &bus);
    Ok(json!({}))
}

/// EnableRule (`enable`) and DisableRule.
pub fn set_state(ctx: &Ctx<'_>, state: &mut State, enable: bool) -> Result<Value, EventsError> {
    let (region, bus, name) = rule_and_bus(ctx, "Name")?;
    let mut rule = find(state, &region, &bus, &name)?.clone();
    rule.state = match (enable, rule.state) {
        (false, _) => RuleState::Disabled,
        (true, RuleState::Disabled) => RuleState::Enabled,
        (true, s) => s,
    };
    if enable {
        // A schedule fires again from now on, not for the times it was disabled.
        rule.next_fire = rule
            .parsed_schedule()
            .and_then(|s| s.next_after(ctx.now, rule.put_at));
    }
    persist::put_rule(ctx.write()?, &rule)?;
    state
        .rules
        .insert((region.clone(), bus.clone(), name), rule);
    state.rebuild(&region, &bus);
    Ok(json!({}))
}

/// `^[!#$%&'*+-.^_`|~0-9a-zA-Z]+$`: an HTTP header name.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t')
}

/// Checks one target's members against the model (at `targets.N.member.…`).
fn check_target(input: &mut Input<'_>, t: &Value, at: &str) -> Result<(), EventsError> {
    let body = t;
    input.string_in(body, "Id", &format!("{at}.id"), &c::RULE_NAME, true)?;
    input.string_in(body, "Arn", &format!("{at}.arn"), &c::ARN, true)?;
    input.string_in(body, "RoleArn", &format!("{at}.roleArn"), &c::ARN, false)?;
    input.string_in(
        body,
        "Input",
        &format!("{at}.input"),
        &Constraint::length(0, 8192),
        false,
    )?;
    input.string_in(
        body,
        "InputPath",
        &format!("{at}.inputPath"),
        &Constraint::length(0, 256),
        false,
    )?;
    if input.object_in(body, "InputTransformer")?.is_some() {
        let tr_value = &body["InputTransformer"];
        input.string_in(
            tr_value,
            "InputTemplate",
            &format!("{at}.inputTransformer.inputTemplate"),
            &Constraint::length(1, 8192),
            true,
        )?;
        if let Some(paths) = input.object_in(tr_value, "InputPathsMap")? {
            let path = format!("{at}.inputTransformer.inputPathsMap");
            if paths.len() > 100 {
                input.fail(
                    Some(&format!("{} entries", paths.len())),
                    &path,
                    "Member must have length less than or equal to 100",
                );
            }
            for (k, v) in paths {
                input.check(
                    k,
                    &format!("{path}.key"),
                    &Constraint::pattern(1, 256, r"[A-Za-z0-9\_\-]+", |s| {
                        s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    }),
                );
                let Some(v) = v.as_str() else {
                    return Err(EventsError::Serialization(format!(
                        "InputPathsMap value of {k} must be a string"
                    )));
                };
                input.check(v, &format!("{path}.value"), &Constraint::length(0, 256));
            }
        }
    }
    if input.object_in(body, "RetryPolicy")?.is_some() {
        let p = &body["RetryPolicy"];
        input.int_in(
            p,
            "MaximumRetryAttempts",
            &format!("{at}.retryPolicy.maximumRetryAttempts"),
            (0, 185),
        )?;
        input.int_in(
            p,
            "MaximumEventAgeInSeconds",
            &format!("{at}.retryPolicy.maximumEventAgeInSeconds"),
            (60, 86_400),
        )?;
    }
    if input.object_in(body, "DeadLetterConfig")?.is_some() {
        input.string_in(
            &body["DeadLetterConfig"],
            "Arn",
            &format!("{at}.deadLetterConfig.arn"),
            &c::ARN,
            false,
        )?;
    }
    if input.object_in(body, "SqsParameters")?.is_some() {
        input.string_in(
            &body["SqsParameters"],
            "MessageGroupId",
            &format!("{at}.sqsParameters.messageGroupId"),
            &Constraint::length(0, 100),
            false,
        )?;
    }
    if input.object_in(body, "HttpParameters")?.is_some() {
        let h = &body["HttpParameters"];
        for (i, v) in input
            .list_in(h, "PathParameterValues")?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(v) = v.as_str() else {
                return Err(EventsError::Serialization(
                    "PathParameterValues must be strings".into(),
                ));
            };
            if v.trim().is_empty() || !no_controls(v) {
                input.fail(
                    Some(v),
                    &format!("{at}.httpParameters.pathParameterValues.{}.member", i + 1),
                    r"Member must satisfy regular expression pattern: ^(?!\s*$).+",
                );
            }
        }
        for (member, key_ok) in [
            ("HeaderParameters", is_header_name as fn(&str) -> bool),
            ("QueryStringParameters", no_controls as fn(&str) -> bool),
        ] {
            for (k, v) in input.object_in(h, member)?.into_iter().flatten() {
                let path = format!("{at}.httpParameters.{}", lower(member));
                let Some(v) = v.as_str() else {
                    return Err(EventsError::Serialization(format!(
                        "{member} values must be strings"
                    )));
                };
                if !key_ok(k) || k.len() > 512 {
                    input.fail(
                        Some(k),
                        &format!("{path}.key"),
                        "Member must be a valid name",
                    );
                }
                if !no_controls(v) || v.len() > 512 {
                    input.fail(
                        Some(v),
                        &format!("{path}.value"),
                        "Member must have length less than or equal to 512 and no control characters",
                    );
                }
            }
        }
    }
    Ok(())
}

/// Whether an ARN has the shape `arn:<partition>:<service>:<region>:<account>:<resource>`.
fn arn_shaped(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && !parts[2].is_empty()
        && !parts[5].is_empty()
}

/// A refusal of one target in PutTargets' `FailedEntries`.
fn failed(id: &str, message: impl Into<String>) -> Value {
    json!({"TargetId": id, "ErrorCode": "ValidationException", "ErrorMessage": message.into()})
}

/// Why one target cannot be put (it goes to `FailedEntries`), if it cannot.
fn target_refusal(t: &Map<String, Value>, id: &str) -> Option<Value> {
    let arn = t.get("Arn").and_then(Value::as_str).unwrap_or_default();
    if !arn_shaped(arn) {
        return Some(failed(id, "Provided Arn is not in correct format."));
    }
    let service = arn.split(':').nth(2).unwrap_or_default();
    if service == "events" && arn.contains(":api-destination/") && t.get("RoleArn").is_none() {
        return Some(failed(
            id,
            format!("Parameter(s) RoleArn must be specified for target: {id}."),
        ));
    }
    if let Some(dlq) = t
        .get("DeadLetterConfig")
        .and_then(|d| d.get("Arn"))
        .and_then(Value::as_str)
    {
        let sqs = arn_shaped(dlq) && dlq.split(':').nth(2) == Some("sqs");
        if !sqs || dlq.ends_with(".fifo") {
            return Some(failed(
                id,
                format!(
                    "The dead-letter queue of target {id} must be the ARN of a standard SQS queue."
                ),
            ));
        }
    }
    let group = t
        .get("SqsParameters")
        .and_then(|p| p.get("MessageGroupId"))
        .is_some();
    if service == "sqs" && arn.ends_with(".fifo") && !group {
        return Some(failed(
            id,
            format!("Parameter(s) SqsParameters must be specified for target: {id}."),
        ));
    }
    None
}

/// Refusals of the whole request that concern one target's input settings.
fn check_input(t: &Map<String, Value>, id: &str) -> Result<(), EventsError> {
    let given = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|k| t.get(**k).is_some_and(|v| !v.is_null()))
        .count();
    if given > 1 {
        return Err(EventsError::Validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        )));
    }
    if let Some(text) = t.get("Input").and_then(Value::as_str) {
        if serde_json::from_str::<Value>(text).is_err() {
            return Err(EventsError::Validation(format!(
                "Input for target {id} is not valid JSON."
            )));
        }
    }
    if let Some(tr) = t.get("InputTransformer") {
        let template = tr
            .get("InputTemplate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let paths = tr.get("InputPathsMap").and_then(Value::as_object);
        for name in placeholders(template) {
            let defined = PREDEFINED.contains(&name) || paths.is_some_and(|p| p.contains_key(name));
            if !defined {
                return Err(EventsError::Validation(format!(
                    "InputTemplate for target {id} contains invalid placeholder {name}."
                )));
            }
        }
    }
    Ok(())
}

pub fn put_targets(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Rule", "rule", &c::RULE_NAME, true)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let targets = input.list("Targets")?;
    match targets {
        None => input.missing("targets"),
        Some(list) => {
            if list.is_empty() || list.len() > 100 {
                let bound = if list.is_empty() {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 100"
                };
                input.fail(Some(&format!("{} targets", list.len())), "targets", bound);
            }
            for (i, t) in list.iter().enumerate() {
                if !t.is_object() {
                    return Err(EventsError::Serialization(
                        "Targets must be a list of structures".into(),
                    ));
                }
                check_target(&mut input, t, &format!("targets.{}.member", i + 1))?;
            }
        }
    }
    input.finish()?;
    let (region, bus) = resolve_bus(ctx, bus);
    let name = name.unwrap_or_default();
    let mut rule = find(state, &region, &bus, name)?.clone();
    let given: Vec<&Map<String, Value>> = targets
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    for t in &given {
        let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
        check_input(t, id)?;
    }
    let mut failed_entries = Vec::new();
    let mut targets = rule.targets.clone();
    for t in given {
        let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
        if let Some(refusal) = target_refusal(t, id) {
            failed_entries.push(refusal);
            continue;
        }
        let value = Value::Object(t.clone());
        match targets
            .iter_mut()
            .find(|x| x.get("Id").and_then(Value::as_str) == Some(id))
        {
            Some(existing) => *existing = value,
            None => targets.push(value),
        }
    }
    if targets.len() > MAX_TARGETS {
        return Err(EventsError::LimitExceeded);
    }
    rule.targets = targets;
    persist::put_rule(ctx.write()?, &rule)?;
    state
        .rules
        .insert((region.clone(), bus.clone(), name.to_owned()), rule);
    state.rebuild(&region, &bus);
    Ok(json!({"FailedEntryCount": failed_entries.len(), "FailedEntries": failed_entries}))
}

pub fn remove_targets(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Rule", "rule", &c::RULE_NAME, true)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let ids = input.list("Ids")?;
    let mut wanted = Vec::new();
    match ids {
        None => input.missing("ids"),
        Some(list) if list.is_empty() || list.len() > 100 => input.fail(
            Some(&format!("{} ids", list.len())),
            "ids",
            "Member must have length between 1 and 100",
        ),
        Some(list) => {
            for (i, id) in list.iter().enumerate() {
                let Some(id) = id.as_str() else {
                    return Err(EventsError::Serialization("Ids must be strings".into()));
                };
                input.check(id, &format!("ids.{}.member", i + 1), &c::RULE_NAME);
                wanted.push(id.to_owned());
            }
        }
    }
    input.bool("Force")?;
    input.finish()?;
    let (region, bus) = resolve_bus(ctx, bus);
    let name = name.unwrap_or_default();
    let mut rule = find(state, &region, &bus, name)?.clone();
    rule.targets.retain(|t| {
        !wanted
            .iter()
            .any(|w| t.get("Id").and_then(Value::as_str) == Some(w.as_str()))
    });
    persist::put_rule(ctx.write()?, &rule)?;
    state
        .rules
        .insert((region.clone(), bus.clone(), name.to_owned()), rule);
    state.rebuild(&region, &bus);
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

pub fn list_targets_by_rule(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Rule", "rule", &c::RULE_NAME, true)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let (region, bus) = resolve_bus(ctx, bus);
    let rule = find(state, &region, &bus, name.unwrap_or_default())?;
    let (targets, next) = page(rule.targets.clone(), token, limit)?;
    let mut out = json!({ "Targets": targets });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

pub fn list_rule_names_by_target(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let arn = input.string("TargetArn", "targetArn", &c::ARN, true)?;
    let bus = input.string("EventBusName", "eventBusName", &c::BUS_NAME_OR_ARN, false)?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let (region, bus) = existing_bus(ctx, state, bus)?;
    let arn = arn.unwrap_or_default();
    let names: Vec<String> = state
        .rules_of(&region, &bus)
        .filter(|r| {
            r.targets
                .iter()
                .any(|t| t.get("Arn").and_then(Value::as_str) == Some(arn))
        })
        .map(|r| r.name.clone())
        .collect();
    let (names, next) = page(names, token, limit)?;
    let mut out = json!({ "RuleNames": names });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}
