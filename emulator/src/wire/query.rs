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
}
