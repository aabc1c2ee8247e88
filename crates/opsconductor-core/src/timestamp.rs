//! Timestamps in API output, written without `fmt` machinery.
//!
//! chrono serialises a `DateTime` through `collect_str`, a dozen small `fmt::Write` calls
//! that serde_json escapes one by one: about 190 ns per timestamp, which was 70 % of
//! encoding a page of 100 jobs with their last runs (nine timestamps each; measured with
//! `cargo bench -p opsconductor-controller --bench job_page`). These serialisers write the
//! same text into a stack buffer and hand serde one string: byte for byte chrono's
//! `to_rfc3339_opts(SecondsFormat::AutoSi, true)` (`2026-11-26T12:30:58.448739Z`; the
//! fraction has 0, 3, 6 or 9 digits, as few as the value needs), so clients see no change.
//!
//! Use with `#[serde(serialize_with = "crate::timestamp::serialize")]`,
//! [`serialize_option`] for an `Option`, or wrap in [`Rfc3339`]. Deserialising stays
//! chrono's.

use chrono::{DateTime, Datelike as _, SecondsFormat, Timelike as _, Utc};
use serde::Serializer;

/// Longest text: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Serialises `at` as RFC 3339 in UTC, like chrono but faster.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write_rfc3339(at, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        // Years outside 0..=9999 take chrono's sign and width rules.
        None => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// [`serialize`] for an optional timestamp (`null` when absent).
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A timestamp that serialises with [`serialize`], for code that writes entries by hand.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub DateTime<Utc>);

impl serde::Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

/// Writes `at` into `buf`; `None` for a year that does not fit four digits.
fn write_rfc3339<'a>(at: &DateTime<Utc>, buf: &'a mut [u8; MAX_LEN]) -> Option<&'a str> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    // A leap second is stored as nanoseconds ≥ 1e9; chrono prints it as second 60.
    let (second, nanos) = match at.nanosecond() {
        n if n >= 1_000_000_000 => (at.second() + 1, n - 1_000_000_000),
        n => (at.second(), n),
    };
    put(&mut buf[0..4], year);
    buf[4] = b'-';
    put(&mut buf[5..7], at.month());
    buf[7] = b'-';
    put(&mut buf[8..10], at.day());
    buf[10] = b'T';
    put(&mut buf[11..13], at.hour());
    buf[13] = b':';
    put(&mut buf[14..16], at.minute());
    buf[16] = b':';
    put(&mut buf[17..19], second);
    let mut len = 19;
    let (digits, fraction) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (3, nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        (6, nanos / 1_000)
    } else {
        (9, nanos)
    };
    if digits > 0 {
        buf[len] = b'.';
        put(&mut buf[len + 1..len + 1 + digits], fraction);
        len += 1 + digits;
    }
    buf[len] = b'Z';
    len += 1;
    // Only ASCII digits and punctuation were written.
    std::str::from_utf8(&buf[..len]).ok()
}

/// Writes `value` as exactly `out.len()` decimal digits, zero-padded.
fn put(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        // `value % 10` is below 10, so the cast cannot truncate.
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeDelta, TimeZone as _};
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Stamp(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn both(at: DateTime<Utc>) -> (String, String) {
        (
            serde_json::to_string(&Stamp(at)).unwrap_or_default(),
            serde_json::to_string(&at).unwrap_or_default(),
        )
    }

    #[test]
    fn writes_what_chrono_writes_for_every_fraction_width() {
        let base = Utc.with_ymd_and_hms(2026, 11, 26, 12, 30, 58).single();
        let Some(base) = base else {
            panic!("a valid date")
        };
        for nanos in [
            0,
            1,
            9,
            10,
            999,
            1_000,
            448_739_000,
            448_000_000,
            999_999_999,
        ] {
            let at = base + TimeDelta::nanoseconds(nanos);
            let (ours, chrono) = both(at);
            assert_eq!(ours, chrono, "nanos {nanos}");
        }
    }

    #[test]
    fn writes_what_chrono_writes_across_the_calendar() {
        // A walk over 300 years in uneven steps hits every month, day, hour and minute,
        // leap years and centuries.
        let mut at = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single();
        let step = TimeDelta::seconds(86_400 * 3 + 3_671) + TimeDelta::microseconds(7_919);
        let mut checked = 0;
        while let Some(now) = at.filter(|a| a.year() < 2200) {
            let (ours, chrono) = both(now);
            assert_eq!(ours, chrono);
            checked += 1;
            at = now.checked_add_signed(step);
        }
        assert!(checked > 30_000, "{checked} timestamps checked");
    }

    #[test]
    fn years_beyond_four_digits_and_leap_seconds_match_chrono_too() {
        let far = NaiveDate::from_ymd_opt(12_345, 6, 7)
            .and_then(|d| d.and_hms_opt(8, 9, 10))
            .map(|n| n.and_utc());
        let before = NaiveDate::from_ymd_opt(-44, 3, 15)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| n.and_utc());
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|n| n.and_utc());
        for at in [far, before, leap] {
            let Some(at) = at else { panic!("a valid date") };
            let (ours, chrono) = both(at);
            assert_eq!(ours, chrono);
        }
    }

    #[test]
    fn an_absent_time_is_null() {
        #[derive(Serialize)]
        struct Maybe(#[serde(serialize_with = "serialize_option")] Option<DateTime<Utc>>);
        assert_eq!(
            serde_json::to_string(&Maybe(None)).ok().as_deref(),
            Some("null")
        );
    }
}
