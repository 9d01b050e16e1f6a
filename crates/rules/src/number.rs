//! Numbers normalised to a comparable form, as event-ruler's `ComparableNumber` does.
//!
//! A JSON number is comparable when it is a finite `f64` whose shortest decimal form equals the
//! written number exactly (so `0.1` and `3.018e2` are, `0.10000000000000000555` and `1e400` are
//! not). Its key is the IEEE-754 bit pattern with the sign bit flipped (positive numbers) or all
//! bits flipped (negative numbers), so keys order like the numbers; `-0` counts as `0`, as it
//! does after Java's `BigDecimal` round trip. Numbers that are not comparable still match by their
//! exact text.

use std::cmp::Ordering;

/// An order-preserving key for a comparable number.
pub(crate) type NumberKey = u64;

/// The key of `text` (a JSON number), or `None` when event-ruler cannot compare it.
pub(crate) fn comparable(text: &str) -> Option<NumberKey> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let shortest = format!("{value:e}");
    if decimal_cmp(&shortest, text)? != Ordering::Equal {
        return None;
    }
    Some(key(value))
}

/// The key of a finite value.
pub(crate) fn key(value: f64) -> NumberKey {
    let value = if value == 0.0 { 0.0 } else { value };
    let bits = value.to_bits();
    if bits >> 63 == 0 {
        bits | (1 << 63)
    } else {
        !bits
    }
}

/// The smallest and largest keys of event-ruler's open-ended ranges (±`f64::MAX`).
pub(crate) fn min_key() -> NumberKey {
    key(-f64::MAX)
}

pub(crate) fn max_key() -> NumberKey {
    key(f64::MAX)
}

/// A decimal number as sign, significant digits (no leading or trailing zeros) and the exponent
/// of the last digit; zero has no digits.
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let mut exponent = exp - frac.len() as i64;
    while digits.last() == Some(&0) {
        digits.pop();
        exponent += 1;
    }
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..lead);
    if digits.is_empty() {
        exponent = 0;
    }
    Some(Decimal {
        negative: negative && !digits.is_empty(),
        digits,
        exponent,
    })
}

/// Compares two decimal texts numerically (exactly, with no rounding).
fn decimal_cmp(a: &str, b: &str) -> Option<Ordering> {
    let a = parse_decimal(a)?;
    let b = parse_decimal(b)?;
    if a.negative != b.negative {
        return Some(if a.negative {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let magnitude = magnitude_cmp(&a, &b);
    Some(if a.negative {
        magnitude.reverse()
    } else {
        magnitude
    })
}

fn magnitude_cmp(a: &Decimal, b: &Decimal) -> Ordering {
    match (a.digits.is_empty(), b.digits.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    // Position of the most significant digit.
    let top_a = a.exponent + a.digits.len() as i64;
    let top_b = b.exponent + b.digits.len() as i64;
    if top_a != top_b {
        return top_a.cmp(&top_b);
    }
    let n = a.digits.len().max(b.digits.len());
    for i in 0..n {
        let da = a.digits.get(i).copied().unwrap_or(0);
        let db = b.digits.get(i).copied().unwrap_or(0);
        if da != db {
            return da.cmp(&db);
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals_are_comparable_and_ordered() {
        let texts = [
            "-5E11",
            "-4999999999.99999",
            "-122.413496",
            "-0.000002",
            "0",
            "0.000001",
            "3.8",
            "3.9",
            "11",
            "2.5e4",
            "999999999.999999",
            "5E11",
        ];
        let keys: Vec<_> = texts.iter().map(|t| comparable(t).unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn spellings_of_one_number_share_a_key() {
        assert_eq!(comparable("300"), comparable("3.0e2"));
        assert_eq!(comparable("300"), comparable("300.000"));
        assert_eq!(comparable("0"), comparable("-0.0"));
        assert_eq!(comparable("1E-320"), comparable("1.0e-320"));
    }

    #[test]
    fn inexact_or_infinite_numbers_are_not_comparable() {
        assert_eq!(comparable("0.10000000000000000555"), None);
        assert_eq!(comparable("1E309"), None);
        assert_eq!(comparable("1E-325"), None);
        assert_eq!(comparable("2.0e422"), None);
        assert!(comparable("123456789012").is_some());
    }
}
