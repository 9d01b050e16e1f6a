//! Query strings, form bodies and percent-encoding (RFC 3986), decoded strictly: a sequence that
//! does not decode to UTF-8 is refused, never replaced, so two different encoded names can never
//! decode to the same one.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// At most this many parameters in one query string or form body.
pub const MAX_PARAMETERS: usize = 1000;

/// A percent-encoded text that is not UTF-8, or a query over the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEncoding(pub String);

impl std::fmt::Display for BadEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decodes `%XX` sequences; the result must be UTF-8.
pub fn decode(s: &str) -> Result<String, BadEncoding> {
    percent_decode(s.as_bytes())
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| BadEncoding(format!("{s:?} does not decode to UTF-8")))
}

/// Decodes a form value: `+` is a space, then `%XX` sequences.
pub fn decode_form(s: &str) -> Result<String, BadEncoding> {
    if s.contains('+') {
        decode(&s.replace('+', " "))
    } else {
        decode(s)
    }
}

/// What [`encode`] leaves as it is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Form-encodes a value (`application/x-www-form-urlencoded`: a space is `+`), as S3 encodes
/// keys in listings asked for with `encoding-type=url`.
pub fn encode_form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A decoded query string (or form body): its parameters in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b&c=%20`: names and values decoded as forms.
    pub fn parse(query: &str) -> Result<Self, BadEncoding> {
        let mut out = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if out.len() == MAX_PARAMETERS {
                return Err(BadEncoding(format!(
                    "more than {MAX_PARAMETERS} query parameters"
                )));
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push((decode_form(k)?, decode_form(v)?));
        }
        Ok(Self(out))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameter names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Adds the parameters of `other` after these (a query-protocol request's URL query and form
    /// body together).
    pub fn extend(&mut self, other: Query) {
        self.0.extend(other.0);
    }

    /// The parameters as the nested value the query protocol flattens (`Attribute.1.Name=a` is
    /// `{"Attribute": [{"Name": "a"}]}`): names split at dots, and a member whose keys are all
    /// numbers from 1 becomes a list in their order. A name given twice, or both as a value and
    /// as a structure, is refused; names have at most [`MAX_NAME_PARTS`] parts.
    pub fn tree(&self) -> Result<serde_json::Value, BadEncoding> {
        use serde_json::{Map, Value};
        let mut root = Map::new();
        for (name, value) in &self.0 {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.len() > MAX_NAME_PARTS {
                return Err(BadEncoding(format!(
                    "the parameter name {name:?} has more than {MAX_NAME_PARTS} parts"
                )));
            }
            let clash = || BadEncoding(format!("the parameter {name:?} is given twice"));
            let (last, path) = parts.split_last().ok_or_else(clash)?;
            let mut at = &mut root;
            for part in path {
                let next = at
                    .entry((*part).to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                at = next.as_object_mut().ok_or_else(clash)?;
            }
            if at.contains_key(*last) {
                return Err(clash());
            }
            at.insert((*last).to_owned(), Value::String(value.clone()));
        }
        Ok(lists(Value::Object(root), MAX_NAME_PARTS))
    }
}

/// A query-protocol request's parameters (its query string and its form body together), as the
/// nested value of [`Query::tree`]; the error says what is wrong with the form.
pub fn form_input(query: &Query, body: &[u8]) -> Result<serde_json::Value, BadEncoding> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BadEncoding("the form body is not valid UTF-8".into()))?;
    let mut q = query.clone();
    q.extend(Query::parse(text)?);
    q.tree()
}

/// At most this many dot-separated parts in one query-protocol parameter name.
pub const MAX_NAME_PARTS: usize = 12;

/// Turns objects keyed `1`, `2`, … into lists, `depth` levels down (names are at most
/// [`MAX_NAME_PARTS`] parts, so the tree is no deeper).
fn lists(v: serde_json::Value, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    let Value::Object(map) = v else { return v };
    let children = map
        .into_iter()
        .map(|(k, v)| (k, if depth > 0 { lists(v, depth - 1) } else { v }));
    let mut numbered: Vec<(u32, Value)> = Vec::new();
    let mut named = serde_json::Map::new();
    for (k, v) in children {
        match k.parse::<u32>() {
            Ok(n) if n >= 1 && !k.starts_with('0') && named.is_empty() => numbered.push((n, v)),
            _ => {
                for (n, v) in numbered.drain(..) {
                    named.insert(n.to_string(), v);
                }
                named.insert(k, v);
            }
        }
    }
    if named.is_empty() && !numbered.is_empty() {
        numbered.sort_by_key(|(n, _)| *n);
        Value::Array(numbered.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_strict_and_lossless() {
        let q = Query::parse("prefix=a%2Fb+c&versions&max-keys=5&x=%E2%9C%93").unwrap();
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert!(q.contains("versions") && q.get("versions") == Some(""));
        assert_eq!(q.get("x"), Some("✓"));
        // Two different invalid sequences must not both become U+FFFD.
        assert!(Query::parse("k=%FF").is_err());
        assert!(decode("a%C3").is_err());
        assert_eq!(decode("a%2").unwrap(), "a%2");
        assert_eq!(encode("a b/ü~"), "a%20b%2F%C3%BC~");
        assert_eq!(encode_form("a b+c/"), "a+b%2Bc%2F");
        let many = vec!["a=1"; MAX_PARAMETERS + 1].join("&");
        assert!(Query::parse(&many).is_err());
    }

    #[test]
    fn flattened_parameters_nest_into_lists_and_maps() {
        let q = Query::parse(
            "Action=X&Attribute.2.Name=b&Attribute.1.Name=a&Attribute.1.Value=1&Tags.entry.1.key=k&N.10=x&N.9=y",
        )
        .unwrap();
        assert_eq!(
            q.tree().unwrap(),
            serde_json::json!({
                "Action": "X",
                "Attribute": [{"Name": "a", "Value": "1"}, {"Name": "b"}],
                "Tags": {"entry": [{"key": "k"}]},
                "N": ["y", "x"],
            })
        );
        assert!(Query::parse("A=1&A.1=2").unwrap().tree().is_err());
        assert!(Query::parse("A.1=1&A=2").unwrap().tree().is_err());
        assert!(Query::parse("A=1&A=2").unwrap().tree().is_err());
        let deep = format!("{}=1", vec!["a"; 100].join("."));
        assert!(Query::parse(&deep).unwrap().tree().is_err());
        // `01` is a name, not a position.
        assert_eq!(
            Query::parse("L.01=a").unwrap().tree().unwrap(),
            serde_json::json!({"L": {"01": "a"}})
        );
    }
}
