//! XML bodies (S3's rest-xml, and the query protocol's answers): parsed with quick-xml into
//! typed values (numeric character references, CDATA and nesting as XML means them), after a
//! streaming check of size and depth, and written with escaping.

use std::borrow::Cow;

use quick_xml::events::Event;
use serde::de::DeserializeOwned;

/// XML bodies deeper than this are refused before they are deserialized.
pub const MAX_DEPTH: usize = 32;
/// XML request bodies larger than this are refused (S3's largest configuration bodies, such as
/// a lifecycle of 1,000 rules or a 1,000-key DeleteObjects, fit well within it).
pub const MAX_BODY: usize = 2 << 20;

/// Why a body is not the XML an operation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadXml(pub String);

impl std::fmt::Display for BadXml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `body` is well-formed XML within [`MAX_BODY`] and [`MAX_DEPTH`], without
/// recursion.
pub fn check(body: &[u8]) -> Result<&str, BadXml> {
    if body.len() > MAX_BODY {
        return Err(BadXml(format!("the body is over {MAX_BODY} bytes")));
    }
    let text = std::str::from_utf8(body).map_err(|_| BadXml("the body is not UTF-8".to_owned()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(BadXml(format!(
                        "elements are nested deeper than {MAX_DEPTH}"
                    )));
                }
            }
            Ok(Event::Empty(_)) if depth == 0 => roots += 1,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(BadXml(format!(
                    "not well-formed at byte {}: {e}",
                    reader.buffer_position()
                )));
            }
        }
    }
    if depth != 0 || roots != 1 {
        return Err(BadXml(
            "the body must be exactly one XML element".to_owned(),
        ));
    }
    Ok(text)
}

/// Reads a body into `T` (element names are the struct's field names; attributes and
/// namespaces are ignored).
pub fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadXml> {
    let text = check(body)?;
    quick_xml::de::from_str(text).map_err(|e| BadXml(e.to_string()))
}

/// Escapes text for an element's content or an attribute. Characters XML 1.0 cannot carry
/// literally (control characters, as S3 keys may hold) become character references, as S3
/// writes them; clients that cannot read those ask for `encoding-type=url`.
pub fn escape(s: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(s);
    if !escaped
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            out.push_str(&format!("&#x{:X};", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `<name>text</name>`, escaped.
pub fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// Tags as the query protocol answers them: `<Tags><member><Key/><Value/></member>…</Tags>`.
pub fn tags<'a>(tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let members: String = tags
        .into_iter()
        .map(|(k, v)| {
            format!(
                "<member>{}{}</member>",
                element("Key", k),
                element("Value", v)
            )
        })
        .collect();
    format!("<Tags>{members}</Tags>")
}

/// A query-protocol answer: `<OpResponse xmlns><OpResult>result</OpResult><ResponseMetadata>`
/// (no result element for operations without output).
pub fn query_ok(
    operation: &str,
    xmlns: &str,
    result: Option<&str>,
    request_id: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let result = result
        .map(|r| format!("<{operation}Result>{r}</{operation}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{operation}Response xmlns=\"{xmlns}\">{result}<ResponseMetadata>{}</ResponseMetadata></{operation}Response>",
        element("RequestId", request_id)
    );
    (
        axum::http::StatusCode::OK,
        [("content-type", "text/xml")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Retention {
        #[serde(rename = "Mode")]
        mode: String,
        #[serde(rename = "RetainUntilDate")]
        until: String,
    }

    #[test]
    fn bodies_are_read_as_xml_means_them() {
        let r: Retention = from_body(
            br#"<?xml version="1.0"?><Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>&#67;OMPLIANCE</Mode><RetainUntilDate><![CDATA[2030-01-01T00:00:00Z]]></RetainUntilDate><Extra><Deep/></Extra></Retention>"#,
        )
        .unwrap();
        assert_eq!(r.mode, "COMPLIANCE");
        assert_eq!(r.until, "2030-01-01T00:00:00Z");
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert!(check(deep.as_bytes()).unwrap_err().0.contains("deeper"));
        assert!(check(b"<a><b></a>").is_err());
        assert!(check(b"<a/><b/>").is_err());
        assert!(from_body::<Retention>(b"<Retention><Mode>X</Mode></Retention>").is_err());
        assert_eq!(element("K", "a<b&"), "<K>a&lt;b&amp;</K>");
        assert_eq!(escape("a\u{1}b"), "a&#x1;b");
    }
}
