//! Connections and API destinations, so a rule can call an HTTP endpoint: CreateConnection,
//! DescribeConnection, ListConnections, DeleteConnection, CreateApiDestination,
//! DescribeApiDestination, ListApiDestinations and DeleteApiDestination.
//!
//! A connection's full `AuthParameters` are written to the key store (as EventBridge keeps them
//! in Secrets Manager) before its row is; the row and every answer hold them without the secret
//! values. The key-store file of a deleted connection is removed at the next tick.

use serde_json::{Map, Value, json};

use crate::services::events::error::EventsError;
use crate::services::events::input::{Constraint, Input, c, page, resource_arn};
use crate::services::events::model::{ApiDestination, Connection, uuid};
use crate::services::events::{Ctx, SECRETS_DIR, State, persist};

const AUTH_TYPES: Constraint =
    Constraint::choices(&["BASIC", "OAUTH_CLIENT_CREDENTIALS", "API_KEY"]);
const HTTP_METHODS: Constraint =
    Constraint::choices(&["HEAD", "POST", "PATCH", "DELETE", "PUT", "GET", "OPTIONS"]);
const OAUTH_METHODS: Constraint = Constraint::choices(&["GET", "POST", "PUT"]);
const PARAM_KEY: Constraint = Constraint::length(0, 512);
const PARAM_VALUE: Constraint = Constraint::length(0, 512);
/// Members that hold secret values.
const SECRET_MEMBERS: [&str; 3] = ["Password", "ApiKeyValue", "ClientSecret"];

/// Checks a `ConnectionHttpParameters` structure (headers, query string and body parameters).
fn http_parameters(input: &mut Input<'_>, v: &Value, at: &str) -> Result<(), EventsError> {
    for (member, path) in [
        ("HeaderParameters", "headerParameters"),
        ("QueryStringParameters", "queryStringParameters"),
        ("BodyParameters", "bodyParameters"),
    ] {
        let list: &[Value] = input.list_in(v, member)?.map_or(&[], Vec::as_slice);
        if list.len() > 100 {
            input.fail(
                Some(&format!("{} parameters", list.len())),
                &format!("{at}.{path}"),
                "Member must have length less than or equal to 100",
            );
        }
        for (i, p) in list.iter().enumerate() {
            let here = format!("{at}.{path}.{}.member", i + 1);
            let key = input.string_in(p, "Key", &format!("{here}.key"), &PARAM_KEY, false)?;
            let value =
                input.string_in(p, "Value", &format!("{here}.value"), &PARAM_VALUE, false)?;
            let bad = |s: &str| s.chars().any(|c| c.is_control() && c != '\t');
            if member == "HeaderParameters"
                && key.is_some_and(|k| k.is_empty() || bad(k) || k.contains(':'))
            {
                input.fail(
                    key,
                    &format!("{here}.key"),
                    r"Member must satisfy regular expression pattern: ^[!#$%&'*+-.^_`|~0-9a-zA-Z]+$",
                );
            }
            if value.is_some_and(bad) {
                input.fail(
                    value,
                    &format!("{here}.value"),
                    "Member must not contain control characters",
                );
            }
        }
    }
    Ok(())
}

/// Checks `AuthParameters` for an authorization type.
fn auth_parameters(
    input: &mut Input<'_>,
    kind: &str,
    auth: Option<&Value>,
) -> Result<(), EventsError> {
    let Some(auth) = auth else {
        input.missing("authParameters");
        return Ok(());
    };
    let needed = match kind {
        "BASIC" => "BasicAuthParameters",
        "API_KEY" => "ApiKeyAuthParameters",
        _ => "OAuthParameters",
    };
    let Some(block) = input.object_in(auth, needed)?.map(|_| &auth[needed]) else {
        return Err(EventsError::Validation(format!(
            "Parameter AuthParameters is not valid: {needed} is required for AuthorizationType {kind}."
        )));
    };
    let at = format!("authParameters.{}", lower(needed));
    fn header(
        input: &mut Input<'_>,
        v: &Value,
        member: &str,
        path: &str,
    ) -> Result<(), EventsError> {
        input
            .string_in(v, member, path, &c::AUTH_HEADER, true)
            .map(|_| ())
    }
    match kind {
        "BASIC" => {
            header(input, block, "Username", &format!("{at}.username"))?;
            header(input, block, "Password", &format!("{at}.password"))?;
        }
        "API_KEY" => {
            header(input, block, "ApiKeyName", &format!("{at}.apiKeyName"))?;
            header(input, block, "ApiKeyValue", &format!("{at}.apiKeyValue"))?;
        }
        _ => {
            match input.object_in(block, "ClientParameters")? {
                None => input.missing(&format!("{at}.clientParameters")),
                Some(_) => {
                    let client = &block["ClientParameters"];
                    let cp = format!("{at}.clientParameters");
                    header(input, client, "ClientID", &format!("{cp}.clientID"))?;
                    header(input, client, "ClientSecret", &format!("{cp}.clientSecret"))?;
                }
            }
            input.string_in(
                block,
                "AuthorizationEndpoint",
                &format!("{at}.authorizationEndpoint"),
                &c::HTTPS_ENDPOINT,
                true,
            )?;
            input.string_in(
                block,
                "HttpMethod",
                &format!("{at}.httpMethod"),
                &OAUTH_METHODS,
                true,
            )?;
            if input.object_in(block, "OAuthHttpParameters")?.is_some() {
                http_parameters(
                    input,
                    &block["OAuthHttpParameters"],
                    &format!("{at}.oAuthHttpParameters"),
                )?;
            }
        }
    }
    if input.object_in(auth, "InvocationHttpParameters")?.is_some() {
        http_parameters(
            input,
            &auth["InvocationHttpParameters"],
            "authParameters.invocationHttpParameters",
        )?;
    }
    Ok(())
}

fn lower(member: &str) -> String {
    let mut c = member.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// `AuthParameters` without secret values (what DescribeConnection shows).
fn public(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let secret = o.get("IsValueSecret").and_then(Value::as_bool) == Some(true);
            Value::Object(
                o.iter()
                    .filter(|(k, _)| {
                        !(SECRET_MEMBERS.contains(&k.as_str()) || secret && *k == "Value")
                    })
                    .map(|(k, x)| (k.clone(), public(x)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(public).collect()),
        other => other.clone(),
    }
}

pub fn create_connection(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let body = ctx.req.json();
    let mut input = Input::new(body);
    let name = input.string("Name", "name", &c::RULE_NAME, true)?;
    let description = input.string("Description", "description", &c::DESCRIPTION, false)?;
    let kind = input.string("AuthorizationType", "authorizationType", &AUTH_TYPES, true)?;
    let auth = input
        .object_in(body, "AuthParameters")?
        .map(|_| &body["AuthParameters"]);
    if let Some(kind) = kind.filter(|k| AUTH_TYPES.choices.is_some_and(|c| c.contains(k))) {
        auth_parameters(&mut input, kind, auth)?;
    }
    input.finish()?;
    let (name, kind) = (name.unwrap_or_default(), kind.unwrap_or_default());
    let region = ctx.region().to_owned();
    let key = (region.clone(), name.to_owned());
    if state.connections.contains_key(&key) {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "Connection {name} already exists."
        )));
    }
    let auth = auth.cloned().unwrap_or_else(|| json!({}));
    let id = uuid(&ctx.env.new_id());
    let secret_file = format!("{SECRETS_DIR}/{id}.json");
    // The secret is saved first: a connection row never names a secret that is not there.
    ctx.keys
        .write_new(&secret_file, auth.to_string().as_bytes())
        .map_err(|e| EventsError::Keys(e.0))?;
    let connection = Connection {
        region: region.clone(),
        name: name.to_owned(),
        id,
        description: description.map(str::to_owned),
        authorization_type: kind.to_owned(),
        auth_parameters: public(&auth),
        secret_file: secret_file.clone(),
        state: if kind == "OAUTH_CLIENT_CREDENTIALS" {
            "AUTHORIZING".into()
        } else {
            "AUTHORIZED".into()
        },
        created: ctx.now,
        modified: ctx.now,
        authorized: ctx.now,
    };
    persist::put_connection(ctx.write()?, &connection)?;
    let out = json!({
        "ConnectionArn": connection.arn(),
        "ConnectionState": connection.state,
        "CreationTime": connection.summary()["CreationTime"],
        "LastModifiedTime": connection.summary()["LastModifiedTime"],
    });
    state.secrets.insert(secret_file, auth);
    state.connections.insert(key, connection);
    Ok(out)
}

fn name_only(ctx: &Ctx<'_>) -> Result<String, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::RULE_NAME, true)?;
    input.finish()?;
    Ok(name.unwrap_or_default().to_owned())
}

pub fn describe_connection(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let name = name_only(ctx)?;
    state
        .connections
        .get(&(ctx.region().to_owned(), name.clone()))
        .map(Connection::describe)
        .ok_or_else(|| EventsError::no_connection(&name))
}

pub fn list_connections(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let prefix = input.string("NamePrefix", "namePrefix", &c::RULE_NAME, false)?;
    let wanted = input.string(
        "ConnectionState",
        "connectionState",
        &Constraint::length(0, 64),
        false,
    )?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let listed: Vec<Value> = state
        .connections
        .values()
        .filter(|c| c.region == ctx.region())
        .filter(|c| prefix.is_none_or(|p| c.name.starts_with(p)))
        .filter(|c| wanted.is_none_or(|s| c.state == s))
        .map(Connection::summary)
        .collect();
    let (listed, next) = page(listed, token, limit)?;
    let mut out = json!({ "Connections": listed });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

pub fn delete_connection(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let name = name_only(ctx)?;
    let key = (ctx.region().to_owned(), name.clone());
    let Some(connection) = state.connections.get(&key).cloned() else {
        return Err(EventsError::no_connection(&name));
    };
    persist::delete_connection(ctx.write()?, &key.0, &name)?;
    state.connections.remove(&key);
    state.secrets.remove(&connection.secret_file);
    let mut out = connection.summary();
    out["ConnectionState"] = json!("DELETING");
    if let Some(o) = out.as_object_mut() {
        o.remove("Name");
        o.remove("AuthorizationType");
    }
    Ok(out)
}

pub fn create_api_destination(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let name = input.string("Name", "name", &c::RULE_NAME, true)?;
    let description = input.string("Description", "description", &c::DESCRIPTION, false)?;
    let connection = input.string("ConnectionArn", "connectionArn", &c::CONNECTION_ARN, true)?;
    let endpoint = input.string(
        "InvocationEndpoint",
        "invocationEndpoint",
        &c::HTTPS_ENDPOINT,
        true,
    )?;
    let method = input.string("HttpMethod", "httpMethod", &HTTP_METHODS, true)?;
    let rate = input.int_in(
        ctx.req.json(),
        "InvocationRateLimitPerSecond",
        "invocationRateLimitPerSecond",
        (1, i64::from(i32::MAX)),
    )?;
    input.finish()?;
    let name = name.unwrap_or_default();
    let region = ctx.region().to_owned();
    let key = (region.clone(), name.to_owned());
    if state.destinations.contains_key(&key) {
        return Err(EventsError::ResourceAlreadyExists(format!(
            "An api-destination '{name}' already exists."
        )));
    }
    let connection_arn = connection.unwrap_or_default();
    let exists = resource_arn(connection_arn, "connection").is_some_and(|(r, n, id)| {
        state
            .connections
            .get(&(r.to_owned(), n.to_owned()))
            .is_some_and(|c| c.id == id)
    });
    if !exists {
        let n = resource_arn(connection_arn, "connection").map_or("", |(_, n, _)| n);
        return Err(EventsError::no_connection(n));
    }
    let d = ApiDestination {
        region: region.clone(),
        name: name.to_owned(),
        id: uuid(&ctx.env.new_id()),
        description: description.map(str::to_owned),
        connection_arn: connection_arn.to_owned(),
        endpoint: endpoint.unwrap_or_default().to_owned(),
        method: method.unwrap_or_default().to_owned(),
        rate_limit: rate.unwrap_or(300),
        created: ctx.now,
        modified: ctx.now,
    };
    persist::put_destination(ctx.write()?, &d)?;
    let full = d.describe();
    let out = json!({
        "ApiDestinationArn": full["ApiDestinationArn"],
        "ApiDestinationState": full["ApiDestinationState"],
        "CreationTime": full["CreationTime"],
        "LastModifiedTime": full["LastModifiedTime"],
    });
    state.destinations.insert(key, d);
    Ok(out)
}

pub fn describe_api_destination(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let name = name_only(ctx)?;
    state
        .destinations
        .get(&(ctx.region().to_owned(), name.clone()))
        .map(ApiDestination::describe)
        .ok_or_else(|| EventsError::no_api_destination(&name))
}

pub fn list_api_destinations(ctx: &Ctx<'_>, state: &State) -> Result<Value, EventsError> {
    let mut input = Input::new(ctx.req.json());
    let prefix = input.string("NamePrefix", "namePrefix", &c::RULE_NAME, false)?;
    let connection = input.string("ConnectionArn", "connectionArn", &c::CONNECTION_ARN, false)?;
    let token = input.string("NextToken", "nextToken", &c::NEXT_TOKEN, false)?;
    let limit = input.limit()?;
    input.finish()?;
    let listed: Vec<Value> = state
        .destinations
        .values()
        .filter(|d| d.region == ctx.region())
        .filter(|d| prefix.is_none_or(|p| d.name.starts_with(p)))
        .filter(|d| connection.is_none_or(|c| d.connection_arn == c))
        .map(|d| {
            let mut v = d.describe();
            if let Some(o) = v.as_object_mut() {
                o.remove("Description");
            }
            v
        })
        .collect();
    let (listed, next) = page(listed, token, limit)?;
    let mut out = json!({ "ApiDestinations": listed });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

pub fn delete_api_destination(ctx: &Ctx<'_>, state: &mut State) -> Result<Value, EventsError> {
    let name = name_only(ctx)?;
    let key = (ctx.region().to_owned(), name.clone());
    if !state.destinations.contains_key(&key) {
        return Err(EventsError::no_api_destination(&name));
    }
    persist::delete_destination(ctx.write()?, &key.0, &name)?;
    state.destinations.remove(&key);
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_left_out_of_what_is_shown() {
        let auth = json!({
            "BasicAuthParameters": {"Username": "u", "Password": "p4ss"},
            "InvocationHttpParameters": {"HeaderParameters": [
                {"Key": "x-open", "Value": "shown", "IsValueSecret": false},
                {"Key": "x-token", "Value": "hidden", "IsValueSecret": true}
            ]}
        });
        let shown = public(&auth).to_string();
        assert!(shown.contains("\"Username\":\"u\"") && shown.contains("shown"));
        assert!(
            !shown.contains("p4ss") && !shown.contains("hidden"),
            "{shown}"
        );
    }
}
