//! Schedule expressions of scheduled rules, as EventBridge reads them, and when they fire next
//! (UTC, on the emulator's clock).
//!
//! - `rate(<n> <unit>)`: a positive whole number and `minute`, `hour` or `day` (singular for 1,
//!   plural otherwise), counted from the time the rule was put.
//! - `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`: `,` `-` `*` `/` in
//!   every field, `?` in exactly one of the two day fields, `L` and `W` in day-of-month (`L`,
//!   `LW`, `15W`), `L` and `#` in day-of-week (`6L`, `SAT#3`), month names JAN–DEC and day names
//!   SUN–SAT (1 is Sunday), years 1970–2199.
//!
//! Anything else is refused ("Parameter ScheduleExpression is not valid.").

use veritrail_core::time::{UtcMillis, civil_from_days, days_from_civil};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2199;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every this many milliseconds.
    Rate(i64),
    Cron(Box<Cron>),
}

/// The two day fields of a cron expression (one is always `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    /// `?`.
    Any,
    /// Days of the month (bits 1–31) or of the week (bits 1–7, 1 is Sunday).
    Set(u64),
    /// `L` in day-of-month.
    LastOfMonth,
    /// `LW`.
    LastWeekdayOfMonth,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u32),
    /// `6L` in day-of-week: the month's last Friday.
    LastInMonth(u32),
    /// `SAT#3`: the month's third Saturday.
    Nth(u32, u32),
}

/// A cron expression's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    month_days: Days,
    months: u64,
    week_days: Days,
    /// Bit `y - 1970`.
    years: [u64; 4],
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEK_DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn number(s: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Some(i as u32 + offset);
    }
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A plain field (`,` `-` `*` `/`) as a set of values in `lo..=hi`.
fn values(field: &str, lo: u32, hi: u32, names: &[&str], offset: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(number(s, &[], 0).filter(|s| *s > 0)?)),
            None => (item, None),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a, names, offset)?, number(b, names, offset)?)
        } else {
            let v = number(range, names, offset)?;
            (v, if step.is_some() { hi } else { v })
        };
        if from < lo || to > hi || from > to {
            return None;
        }
        let step = step.unwrap_or(1) as usize;
        out.extend((from..=to).step_by(step));
    }
    Some(out)
}

fn bits(values: &[u32]) -> u64 {
    values.iter().fold(0, |b, v| b | 1 << v)
}

fn month_days(field: &str) -> Option<Days> {
    Some(match field {
        "?" => Days::Any,
        "L" => Days::LastOfMonth,
        "LW" => Days::LastWeekdayOfMonth,
        f if f.ends_with('W') => {
            let d = number(&f[..f.len() - 1], &[], 0).filter(|d| (1..=31).contains(d))?;
            Days::NearestWeekday(d)
        }
        f => Days::Set(bits(&values(f, 1, 31, &[], 0)?)),
    })
}

fn week_days(field: &str) -> Option<Days> {
    let day = |s: &str| number(s, &WEEK_DAYS, 1).filter(|d| (1..=7).contains(d));
    Some(match field {
        "?" => Days::Any,
        "L" => Days::Set(1 << 7),
        f if f.ends_with('L') => Days::LastInMonth(day(&f[..f.len() - 1])?),
        f if f.contains('#') => {
            let (d, n) = f.split_once('#')?;
            Days::Nth(day(d)?, number(n, &[], 0).filter(|n| (1..=5).contains(n))?)
        }
        f => Days::Set(bits(&values(f, 1, 7, &WEEK_DAYS, 1)?)),
    })
}

impl Schedule {
    /// Parses a schedule expression; `None` when EventBridge would refuse it.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(inner) = text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (n, unit) = inner.split_once(' ')?;
            let n: i64 = number(n, &[], 0).map(i64::from).filter(|n| *n > 0)?;
            let unit_ms = match (unit, n == 1) {
                ("minute", true) | ("minutes", false) => MINUTE,
                ("hour", true) | ("hours", false) => 60 * MINUTE,
                ("day", true) | ("days", false) => DAY,
                _ => return None,
            };
            return Some(Self::Rate(n * unit_ms));
        }
        let inner = text.strip_prefix("cron(")?.strip_suffix(')')?;
        let fields: Vec<&str> = inner.split(' ').collect();
        let [min, hour, dom, month, dow, year] = fields.as_slice() else {
            return None;
        };
        let years = values(year, FIRST_YEAR as u32, LAST_YEAR as u32, &[], 0)?;
        let mut year_bits = [0u64; 4];
        for y in years {
            let i = (y as i64 - FIRST_YEAR) as usize;
            year_bits[i / 64] |= 1 << (i % 64);
        }
        let cron = Cron {
            minutes: bits(&values(min, 0, 59, &[], 0)?),
            hours: bits(&values(hour, 0, 23, &[], 0)?),
            month_days: month_days(dom)?,
            months: bits(&values(month, 1, 12, &MONTHS, 1)?),
            week_days: week_days(dow)?,
            years: year_bits,
        };
        // Exactly one of the day fields is `?`.
        if (cron.month_days == Days::Any) == (cron.week_days == Days::Any) {
            return None;
        }
        Some(Self::Cron(Box::new(cron)))
    }

    /// The first time the schedule fires after `after`; a rate counts from `anchor` (when the
    /// rule was put). `None` when it never fires again (a cron of years gone by).
    pub fn next_after(&self, after: UtcMillis, anchor: UtcMillis) -> Option<UtcMillis> {
        match self {
            Self::Rate(period) => {
                let elapsed = after.0.saturating_sub(anchor.0);
                let k = if elapsed < 0 { 1 } else { elapsed / period + 1 };
                Some(UtcMillis(
                    anchor.0.saturating_add(k.saturating_mul(*period)),
                ))
            }
            Self::Cron(c) => c.next_after(after),
        }
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, i64::from(m) + 1, 1)
    };
    (next - days_from_civil(y, i64::from(m), 1)) as u32
}

/// 1 is Sunday, 7 Saturday.
fn week_day(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (5).
    ((days + 4).rem_euclid(7) + 1) as u32
}

fn is_weekday(days: i64) -> bool {
    (2..=6).contains(&week_day(days))
}

impl Cron {
    fn day_matches(&self, y: i64, m: u32, d: u32) -> bool {
        let days = days_from_civil(y, i64::from(m), i64::from(d));
        let dim = days_in_month(y, m);
        let first = days_from_civil(y, i64::from(m), 1);
        let spec = if self.month_days == Days::Any {
            &self.week_days
        } else {
            &self.month_days
        };
        let wd = week_day(days);
        match spec {
            Days::Any => true,
            Days::Set(b) if self.month_days == Days::Any => b & (1 << wd) != 0,
            Days::Set(b) => b & (1 << d) != 0,
            Days::LastOfMonth => d == dim,
            Days::LastWeekdayOfMonth => {
                let last = (1..=dim)
                    .rev()
                    .find(|x| is_weekday(first + i64::from(*x) - 1))
                    .unwrap_or(dim);
                d == last
            }
            Days::NearestWeekday(n) => {
                if *n > dim {
                    return false;
                }
                let target = first + i64::from(*n) - 1;
                let nearest = match week_day(target) {
                    7 if *n > 1 => target - 1,
                    7 => target + 2,
                    1 if *n < dim => target + 1,
                    1 => target - 2,
                    _ => target,
                };
                days == nearest
            }
            Days::LastInMonth(k) => wd == *k && d + 7 > dim,
            Days::Nth(k, n) => wd == *k && (d - 1) / 7 + 1 == *n,
        }
    }

    fn year_in(&self, y: i64) -> bool {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
            return false;
        }
        let i = (y - FIRST_YEAR) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    fn next_after(&self, after: UtcMillis) -> Option<UtcMillis> {
        // The next whole minute after `after`.
        let start = (after.0.div_euclid(MINUTE) + 1) * MINUTE;
        let mut day = start.div_euclid(DAY);
        let mut from_minute = (start.rem_euclid(DAY) / MINUTE) as u32;
        let last_day = days_from_civil(LAST_YEAR, 12, 31);
        while day <= last_day {
            let (y, m, d) = civil_from_days(day);
            if !self.year_in(y) {
                // Skip to the next year.
                day = days_from_civil(y + 1, 1, 1);
                from_minute = 0;
                continue;
            }
            if self.months & (1 << m) != 0 && self.day_matches(y, m, d) {
                for minute_of_day in from_minute..24 * 60 {
                    let (h, mi) = (minute_of_day / 60, minute_of_day % 60);
                    if self.hours & (1 << h) != 0 && self.minutes & (1 << mi) != 0 {
                        return Some(UtcMillis(day * DAY + i64::from(minute_of_day) * MINUTE));
                    }
                }
            }
            day += 1;
            from_minute = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::time::{iso8601_seconds, parse_iso8601};

    fn at(s: &str) -> UtcMillis {
        parse_iso8601(s).unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        let s = Schedule::parse(expr).unwrap();
        iso8601_seconds(s.next_after(at(after), at(after)).unwrap())
    }

    #[test]
    fn rates_read_as_eventbridge_reads_them() {
        assert_eq!(
            Schedule::parse("rate(1 minute)"),
            Some(Schedule::Rate(MINUTE))
        );
        assert_eq!(
            Schedule::parse("rate(5 hours)"),
            Some(Schedule::Rate(5 * 3_600_000))
        );
        // EventBridge's refusals (recorded against the real service by LocalStack's tests).
        for bad in [
            "rate(10 seconds)",
            "rate(10 years)",
            "rate(1 minutes)",
            "rate(1 hours)",
            "rate(1 days)",
            "rate(10 minute)",
            "rate(10 hour)",
            "rate(10 day)",
            "rate()",
            "rate(10)",
            "rate(10 minutess)",
            "rate(foo minutes)",
            "rate(0 minutes)",
            "rate(-10 minutes)",
            "rate(10 MINUTES)",
            "rate( 10 minutes )",
            " rate(10 minutes)",
        ] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
        let r = Schedule::parse("rate(5 minutes)").unwrap();
        let put = at("2026-01-01T00:00:30Z");
        assert_eq!(
            r.next_after(put, put),
            Some(at("2026-01-01T00:05:30Z")),
            "first run one period after the rule was put"
        );
        assert_eq!(
            r.next_after(at("2026-01-01T00:12:00Z"), put),
            Some(at("2026-01-01T00:15:30Z"))
        );
    }

    #[test]
    fn crons_fire_when_the_user_guide_says() {
        // 2026-01-01 is a Thursday.
        assert_eq!(
            next("cron(0 10 * * ? *)", "2026-01-01T09:00:00Z"),
            "2026-01-01T10:00:00Z"
        );
        assert_eq!(
            next("cron(0 10 * * ? *)", "2026-01-01T10:00:00Z"),
            "2026-01-02T10:00:00Z"
        );
        assert_eq!(
            next("cron(15 12 * * ? *)", "2026-01-01T12:15:00Z"),
            "2026-01-02T12:15:00Z"
        );
        assert_eq!(
            next("cron(0 18 ? * MON-FRI *)", "2026-01-02T18:00:00Z"),
            "2026-01-05T18:00:00Z"
        );
        assert_eq!(
            next("cron(0 8 1 * ? *)", "2026-01-01T09:00:00Z"),
            "2026-02-01T08:00:00Z"
        );
        assert_eq!(
            next("cron(0/15 * * * ? *)", "2026-01-01T09:16:00Z"),
            "2026-01-01T09:30:00Z"
        );
        assert_eq!(
            next("cron(0/5 8-17 ? * MON-FRI *)", "2026-01-02T17:56:00Z"),
            "2026-01-05T08:00:00Z"
        );
        assert_eq!(
            next("cron(5,35 14 * * ? *)", "2026-01-01T14:06:00Z"),
            "2026-01-01T14:35:00Z"
        );
        // The last Friday of the month, and the third Saturday.
        assert_eq!(
            next("cron(15 10 ? * 6L 2026-2027)", "2026-01-01T00:00:00Z"),
            "2026-01-30T10:15:00Z"
        );
        assert_eq!(
            next("cron(0 2 ? * SAT#3 *)", "2026-01-01T00:00:00Z"),
            "2026-01-17T02:00:00Z"
        );
        assert_eq!(
            next("cron(0 0 L * ? *)", "2026-02-01T00:00:00Z"),
            "2026-02-28T00:00:00Z"
        );
        // 2026-01-31 is a Saturday: the last weekday is Friday the 30th; the weekday nearest the
        // 3rd of January 2026 (a Saturday) is Friday the 2nd.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2026-01-01T00:00:00Z"),
            "2026-01-30T00:00:00Z"
        );
        assert_eq!(
            next("cron(0 0 3W * ? *)", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        // Years gone by never fire.
        let past = Schedule::parse("cron(0/5 5 ? JAN 1-5 2022)").unwrap();
        assert_eq!(
            past.next_after(at("2026-01-01T00:00:00Z"), UtcMillis(0)),
            None
        );
        for bad in [
            "cron(0 1 * * * *)",
            "cron(0 1 ? * ? *)",
            "cron(7 20 * * NOT *)",
            "cron(INVALID)",
            "cron(0 dummy ? * MON-FRI *)",
            "cron(71 8 1 * ? *)",
            "cron(0 8 1 * ? * *)",
            "cron(0 8 32 * ? *)",
            "cron(0 8 ? * 8 *)",
            "cron(0 8 1 * ? 1969)",
            "cron(0/0 8 1 * ? *)",
            "cron(5-1 8 1 * ? *)",
        ] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
    }
}
