//! Time as the journal records it: UTC with millisecond precision, injected through [`Clock`]
//! so digests, ids and retention are testable.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use ion_rs::Timestamp;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UtcMillis(pub i64);

impl UtcMillis {
    /// (year, month, day, hour, minute, second, millisecond) in UTC.
    pub fn fields(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let days = self.0.div_euclid(86_400_000);
        let rem = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let secs = rem / 1000;
        (
            y,
            m,
            d,
            (secs / 3600) as u32,
            ((secs / 60) % 60) as u32,
            (secs % 60) as u32,
            (rem % 1000) as u32,
        )
    }

    /// The Ion timestamp QLDB writes: UTC (`Z`) with exactly millisecond precision.
    pub fn to_ion(self) -> Timestamp {
        let (y, mo, d, h, mi, s, ms) = self.fields();
        // Every instant from year 1 to 9999 is a valid Ion timestamp; clamp the rest rather
        // than fail, since clocks outside that range are a configuration error upstream.
        let year = y.clamp(1, 9999) as u32;
        Timestamp::with_ymd(year, mo, d)
            .with_hms(h, mi, s)
            .with_milliseconds(ms)
            .with_offset(0)
            .build()
            .unwrap_or_else(|_| {
                Timestamp::with_year(1970)
                    .build()
                    .expect("a year-precision timestamp for 1970 is always valid")
            })
    }

    /// Reads an Ion timestamp back to milliseconds (offsets applied, sub-millisecond digits dropped).
    pub fn from_ion(t: &Timestamp) -> Self {
        let utc = t.to_utc();
        let days = days_from_civil(
            i64::from(utc.year()),
            i64::from(utc.month()),
            i64::from(utc.day()),
        );
        let ms = ((days * 24 + i64::from(utc.hour())) * 60 + i64::from(utc.minute())) * 60_000
            + i64::from(utc.second()) * 1000
            + i64::from(t.milliseconds());
        Self(ms)
    }
}

impl fmt::Display for UtcMillis {
    /// RFC 3339 with milliseconds: `2019-09-16T19:37:05.344Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, ms) = self.fields();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in UTC milliseconds.
    fn now(&self) -> UtcMillis;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one read of the system's wall clock; everything else is given a `Clock`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> UtcMillis {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        UtcMillis(ms)
    }
}

/// Elapsed real time, for benchmarks, progress and watchdogs: the one place that reads the
/// monotonic clock (`Instant::now` is refused elsewhere by clippy's `disallowed-methods`).
/// Nothing recorded (journal times, ids, retention) may come from it; that is [`Clock`]'s job.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts measuring now.
    #[allow(clippy::disallowed_methods)]
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }

    /// Seconds since [`Stopwatch::start`].
    pub fn seconds(&self) -> f64 {
        self.elapsed().as_secs_f64()
    }
}

/// A clock tests set by hand; each reading advances it by `step` milliseconds.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    step: i64,
}

impl ManualClock {
    /// Starts at `start`, advancing `step` ms per reading.
    pub fn new(start: UtcMillis, step: i64) -> Self {
        Self {
            now: AtomicI64::new(start.0),
            step,
        }
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: UtcMillis) {
        self.now.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UtcMillis {
        UtcMillis(self.now.fetch_add(self.step, Ordering::SeqCst))
    }
}

/// A clock that never goes backwards, whatever the clock under it does: journal timestamps
/// must not decrease from one block to the next.
#[derive(Debug)]
pub struct MonotonicClock<C> {
    inner: C,
    last: Mutex<i64>,
}

impl<C: Clock> MonotonicClock<C> {
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            last: Mutex::new(i64::MIN),
        }
    }
}

impl<C: Clock> Clock for MonotonicClock<C> {
    fn now(&self) -> UtcMillis {
        let t = self.inner.now().0;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = (*last).max(t);
        UtcMillis(*last)
    }
}

/// A clock an operator steers: the time of `inner`, run `scale` times as fast and moved forward
/// on request. The emulator runs on one, so hours of CloudTrail delivery pass in seconds and tests
/// jump whole days. It never goes backwards.
#[derive(Debug)]
pub struct SteeredClock {
    inner: std::sync::Arc<dyn Clock>,
    /// (inner time at the anchor, steered time at the anchor, scale).
    anchor: Mutex<(i64, i64, f64)>,
}

impl SteeredClock {
    /// Starts at `inner`'s time, at real speed.
    pub fn new(inner: std::sync::Arc<dyn Clock>) -> Self {
        let t = inner.now().0;
        Self {
            inner,
            anchor: Mutex::new((t, t, 1.0)),
        }
    }

    fn at(anchor: (i64, i64, f64), inner: i64) -> i64 {
        let (from, to, scale) = anchor;
        to.saturating_add(((inner - from) as f64 * scale) as i64)
    }

    /// Moves the clock forward by `ms` (a negative amount is refused: time does not go back).
    pub fn advance(&self, ms: i64) -> Result<UtcMillis, String> {
        if ms < 0 {
            return Err(format!("the clock only moves forward (asked for {ms} ms)"));
        }
        let mut a = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let inner = self.inner.now().0;
        let now = Self::at(*a, inner).saturating_add(ms);
        *a = (inner, now, a.2);
        Ok(UtcMillis(now))
    }

    /// Runs the clock `scale` times as fast as `inner` from now on (0 stops it).
    pub fn set_scale(&self, scale: f64) -> Result<(), String> {
        if !scale.is_finite() || !(0.0..=1_000_000.0).contains(&scale) {
            return Err(format!(
                "the clock scale must be between 0 and 1000000, not {scale}"
            ));
        }
        let mut a = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let inner = self.inner.now().0;
        *a = (inner, Self::at(*a, inner), scale);
        Ok(())
    }

    /// The current scale.
    pub fn scale(&self) -> f64 {
        self.anchor.lock().unwrap_or_else(|p| p.into_inner()).2
    }
}

impl Clock for SteeredClock {
    fn now(&self) -> UtcMillis {
        let a = *self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        UtcMillis(Self::at(a, self.inner.now().0).max(a.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_display() {
        for days in [-719_468, -1, 0, 1, 10_957, 18_155, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        let t = UtcMillis(1_568_662_625_344);
        assert_eq!(t.to_string(), "2019-09-16T19:37:05.344Z");
        let ion = t.to_ion();
        // ion-rs prints UTC as +00:00; it is the same instant and the same Ion Hash as `Z`.
        let written = ion_rs::Element::read_one("2019-09-16T19:37:05.344Z").unwrap();
        assert_eq!(
            crate::ion_hash(&ion_rs::Element::from(ion.clone())),
            crate::ion_hash(&written)
        );
        assert_eq!(UtcMillis::from_ion(&ion), t);
    }

    #[test]
    fn manual_clock_steps() {
        let c = ManualClock::new(UtcMillis(10), 5);
        assert_eq!((c.now(), c.now()), (UtcMillis(10), UtcMillis(15)));
        c.set(UtcMillis(0));
        let m = MonotonicClock::new(c);
        assert_eq!(m.now(), UtcMillis(0));
    }

    #[test]
    fn steered_clock_advances_and_scales() {
        let inner = std::sync::Arc::new(ManualClock::new(UtcMillis(1000), 0));
        let c = SteeredClock::new(inner.clone());
        assert_eq!(c.now(), UtcMillis(1000));
        assert_eq!(c.advance(3_600_000), Ok(UtcMillis(3_601_000)));
        assert!(c.advance(-1).is_err());
        c.set_scale(60.0).unwrap();
        inner.set(UtcMillis(2000)); // one real second is a minute
        assert_eq!(c.now(), UtcMillis(3_661_000));
        assert!(c.set_scale(f64::NAN).is_err() && c.set_scale(-1.0).is_err());
        c.set_scale(0.0).unwrap();
        inner.set(UtcMillis(9000));
        assert_eq!(c.now(), UtcMillis(3_661_000));
    }
}
