//! Timestamps on the wire: ISO 8601 / RFC 3339 as S3's XML and headers carry them
//! (`2030-01-01T00:00:00Z`, `2030-01-01T00:00:00.000+02:00`), parsed strictly and without
//! recursion, and the HTTP date of `Last-Modified`.

use veritrail_core::time::{UtcMillis, days_from_civil};

/// The latest instant accepted anywhere (9999-12-31T23:59:59.999Z); later dates are refused
/// rather than wrapped.
pub const MAX_TIME: UtcMillis = UtcMillis(253_402_300_799_999);

/// Parses an RFC 3339 date-time (`T` or space separator, optional fraction, `Z` or an offset).
pub fn parse_iso8601(s: &str) -> Option<UtcMillis> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        let digits = &b[start..end.min(start + 3)];
        millis = digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
            * 10i64.pow(3 - digits.len() as u32);
        i = end;
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let ms = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60_000 + second * 1000 + millis;
    Some(UtcMillis(ms))
}

/// `2030-01-01T00:00:00.000Z`.
pub fn iso8601(t: UtcMillis) -> String {
    t.to_string()
}

/// `YYYY-MM-DDTHH:MM:SSZ`, CloudTrail's time format.
pub fn iso8601_seconds(t: UtcMillis) -> String {
    let (y, mo, d, h, mi, s, _) = t.fields();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// RFC 7231's date (`Last-Modified`).
pub fn http_date(t: UtcMillis) -> String {
    let secs = u64::try_from(t.0.div_euclid(1000)).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// `UtcMillis` as a number of milliseconds in stored JSON (`#[serde(with = …)]`).
pub mod millis {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use veritrail_core::time::UtcMillis;

    pub fn serialize<S: Serializer>(t: &UtcMillis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UtcMillis, D::Error> {
        i64::deserialize(d).map(UtcMillis)
    }
}

/// `Option<UtcMillis>` as milliseconds or `null` in stored JSON.
pub mod opt_millis {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use veritrail_core::time::UtcMillis;

    pub fn serialize<S: Serializer>(t: &Option<UtcMillis>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.0),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UtcMillis>, D::Error> {
        Option::<i64>::deserialize(d).map(|o| o.map(UtcMillis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        let t = parse_iso8601("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(t, UtcMillis(1_704_067_200_000));
        assert_eq!(
            parse_iso8601("2024-01-01T02:00:00.5+02:00"),
            Some(UtcMillis(1_704_067_200_500))
        );
        assert_eq!(
            parse_iso8601("2024-01-01T00:00:00.123456789Z"),
            Some(UtcMillis(1_704_067_200_123))
        );
        for bad in [
            "",
            "[[[[",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00Zjunk",
            "+2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        assert_eq!(parse_iso8601("9999-12-31T23:59:59.999Z"), Some(MAX_TIME));
        assert_eq!(
            http_date(UtcMillis(1_704_067_200_000)),
            "Mon, 01 Jan 2024 00:00:00 GMT"
        );
        assert_eq!(iso8601_seconds(t), "2024-01-01T00:00:00Z");
    }
}
