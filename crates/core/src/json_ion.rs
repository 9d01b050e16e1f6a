//! The lossless mapping between JSON values and Ion values, used to store CloudTrail records
//! (JSON) as ledger documents (Ion) and to give the original JSON back.
//!
//! JSON → Ion: null → null, bool → bool, integer → int, any other number → decimal with the
//! shortest digits that round-trip, string → string, array → list, object → struct (field order
//! kept). Ion → JSON inverts that exactly; the Ion types JSON lacks map the way QLDB's own JSON
//! export down-converts them (timestamps and symbols to strings, lobs to base64 strings).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ion_rs::{Decimal, Element, Int, IonType, Value};
use serde_json::{Map, Number, Value as Json};

/// Why an Ion value has no JSON form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IonToJsonError {
    /// A float that is NaN or infinite: JSON has no such numbers.
    NonFiniteFloat { path: String },
    /// An integer or decimal outside what a JSON number holds here (i64, u64 or f64).
    NumberOutOfRange { path: String, value: String },
    /// A struct field or symbol whose text is unknown (`$0`).
    UnknownSymbolText { path: String },
}

impl fmt::Display for IonToJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFiniteFloat { path } => {
                write!(f, "{path}: NaN or infinite floats have no JSON form")
            }
            Self::NumberOutOfRange { path, value } => {
                write!(f, "{path}: the number {value} does not fit a JSON number")
            }
            Self::UnknownSymbolText { path } => write!(f, "{path}: a symbol with unknown text"),
        }
    }
}

impl std::error::Error for IonToJsonError {}

/// Converts a JSON value to the Ion value that stores it.
pub fn json_to_ion(value: &Json) -> Element {
    match value {
        Json::Null => Element::null(IonType::Null),
        Json::Bool(b) => Element::from(*b),
        Json::Number(n) => number_to_ion(n),
        Json::String(s) => Element::string(s.as_str()),
        Json::Array(items) => Element::from(
            Element::sequence_builder()
                .push_all(items.iter().map(json_to_ion))
                .build_list(),
        ),
        Json::Object(map) => Element::from(
            Element::struct_builder()
                .with_fields(map.iter().map(|(k, v)| (k.as_str(), json_to_ion(v))))
                .build(),
        ),
    }
}

fn number_to_ion(n: &Number) -> Element {
    if let Some(i) = n.as_i64() {
        return Element::from(i);
    }
    if let Some(u) = n.as_u64() {
        return Element::from(Int::from(u));
    }
    // A JSON number with a fraction or exponent. serde_json prints the shortest digits that
    // parse back to the same f64; those digits become the decimal's coefficient.
    let text = n.to_string();
    match decimal_from_text(&text) {
        Some(d) => Element::from(d),
        // Unreachable for finite f64 text; keep the value as a float rather than lose it.
        None => Element::from(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Parses `-?digits(.digits)?([eE][+-]?digits)?` into an exact decimal.
fn decimal_from_text(text: &str) -> Option<Decimal> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp_part) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut exponent: i64 = exp_part.map_or(Some(0), |e| e.parse().ok())?;
    exponent = exponent.checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    let digits = format!("{int_part}{frac_part}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
    if magnitude == 0 && negative {
        return Some(Decimal::negative_zero_with_exponent(exponent));
    }
    let coefficient = if negative { -magnitude } else { magnitude };
    Some(Decimal::new(Int::from(coefficient), exponent))
}

/// Converts an Ion value back to JSON. For values made by [`json_to_ion`] the result equals the
/// original JSON value.
pub fn ion_to_json(value: &Element) -> Result<Json, IonToJsonError> {
    let mut path = String::from("$");
    convert(value, &mut path)
}

fn convert(value: &Element, path: &mut String) -> Result<Json, IonToJsonError> {
    Ok(match value.value() {
        Value::Null(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => {
            if let Some(v) = i.as_i64() {
                Json::from(v)
            } else if let Some(v) = i.as_u64() {
                Json::from(v)
            } else {
                return Err(IonToJsonError::NumberOutOfRange {
                    path: path.clone(),
                    value: i.to_string(),
                });
            }
        }
        Value::Float(f) => Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| IonToJsonError::NonFiniteFloat { path: path.clone() })?,
        Value::Decimal(d) => decimal_to_json(d, path)?,
        Value::Timestamp(t) => Json::String(t.to_string()),
        Value::Symbol(s) => Json::String(
            s.text()
                .ok_or_else(|| IonToJsonError::UnknownSymbolText { path: path.clone() })?
                .to_owned(),
        ),
        Value::String(s) => Json::String(s.text().to_owned()),
        Value::Clob(b) | Value::Blob(b) => Json::String(BASE64.encode(b.as_ref())),
        Value::List(seq) | Value::SExp(seq) => {
            let mut items = Vec::with_capacity(seq.len());
            for (i, child) in seq.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                items.push(convert(child, path)?);
                path.truncate(len);
            }
            Json::Array(items)
        }
        Value::Struct(st) => {
            let mut map = Map::with_capacity(st.len());
            for (name, child) in st.iter() {
                let name = name
                    .text()
                    .ok_or_else(|| IonToJsonError::UnknownSymbolText { path: path.clone() })?;
                let len = path.len();
                path.push('.');
                path.push_str(name);
                let v = convert(child, path)?;
                path.truncate(len);
                map.insert(name.to_owned(), v);
            }
            Json::Object(map)
        }
    })
}

fn decimal_to_json(d: &Decimal, path: &str) -> Result<Json, IonToJsonError> {
    let out_of_range = || IonToJsonError::NumberOutOfRange {
        path: path.to_owned(),
        value: d.to_string(),
    };
    let coefficient = d.coefficient();
    let sign = if coefficient.is_negative() { "-" } else { "" };
    let text = format!("{sign}{}e{}", coefficient.magnitude(), d.exponent());
    let f: f64 = text.parse().map_err(|_| out_of_range())?;
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(out_of_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_json_kind() {
        let original: Json = serde_json::from_str(
            r#"{"z":null,"a":true,"n":-12,"u":18446744073709551615,"f":1.5,"g":-0.0,"h":1e300,
                "s":"x\"y","l":[1,[2,{"k":"v"}]],"o":{},"tiny":4.9e-324,"one":1.0}"#,
        )
        .unwrap();
        let ion = json_to_ion(&original);
        let back = ion_to_json(&ion).unwrap();
        assert_eq!(back, original);
        // Field order is kept too.
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("z"));
        // Numbers with fractions are exact decimals, not binary floats.
        let f = ion.as_struct().unwrap().get("f").unwrap();
        assert_eq!(f.ion_type(), IonType::Decimal);
    }

    #[test]
    fn errors_name_the_path() {
        let v = Element::read_one("{a:[1, nan]}").unwrap();
        assert_eq!(
            ion_to_json(&v),
            Err(IonToJsonError::NonFiniteFloat {
                path: "$.a[1]".into()
            })
        );
    }
}
