//! When a job fires: cron with seconds, a fixed interval, once at a time, or only by hand.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::error::{Problems, ValidationError};

/// Shortest interval accepted; shorter polling is a load test, not monitoring.
pub const MIN_INTERVAL_SECONDS: u64 = 1;
/// Longest interval accepted (one year).
pub const MAX_INTERVAL_SECONDS: u64 = 366 * 24 * 3600;

/// A job's schedule, as stored and exchanged (`{"type": "cron", ...}`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Cron expression with an optional leading seconds field (`*/30 * * * * *`), evaluated
    /// in `timezone` (IANA name, default UTC) so "09:00 every weekday" survives DST.
    Cron {
        /// 5 fields (minute first) or 6 fields (second first).
        expression: String,
        /// IANA time zone name.
        #[serde(default = "default_timezone")]
        timezone: String,
    },
    /// Every `seconds`, aligned to multiples of the interval since the Unix epoch so that
    /// replicas and restarts agree on the fire times.
    Interval {
        /// Seconds between fires.
        seconds: u64,
    },
    /// Once, at an instant.
    Once {
        /// When to fire (RFC 3339).
        at: DateTime<Utc>,
    },
    /// Never by itself: only "run now".
    Manual,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

impl Schedule {
    /// Checks the schedule, naming the offending field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        match self {
            Self::Cron {
                expression,
                timezone,
            } => {
                if let Err(e) = parse_cron(expression) {
                    problems.push("expression", e);
                }
                if Tz::from_str(timezone).is_err() {
                    problems.push(
                        "timezone",
                        format!(
                            "{timezone:?} is not an IANA time zone name (e.g. \"Europe/Berlin\")"
                        ),
                    );
                }
            }
            Self::Interval { seconds } => {
                if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(seconds) {
                    problems.push(
                        "seconds",
                        format!(
                            "interval must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS} seconds, got {seconds}"
                        ),
                    );
                }
            }
            Self::Once { .. } | Self::Manual => {}
        }
        problems.finish()
    }

    /// The first fire time strictly after `after`, or `None` when there is none (manual,
    /// a one-shot in the past, an invalid schedule). A pure function of its input.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron {
                expression,
                timezone,
            } => {
                let cron = parse_cron(expression).ok()?;
                let tz = Tz::from_str(timezone).ok()?;
                let local = after.with_timezone(&tz);
                cron.find_next_occurrence(&local, false)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
            Self::Interval { seconds } => {
                let every = i64::try_from(*seconds).ok().filter(|s| *s > 0)?;
                let now = after.timestamp();
                let next = (now.div_euclid(every) + 1).checked_mul(every)?;
                DateTime::from_timestamp(next, 0)
            }
            Self::Once { at } => (*at > after).then_some(*at),
            Self::Manual => None,
        }
    }

    /// Up to `n` upcoming fire times after `after` (for the schedule editor's preview).
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(t) => {
                    out.push(t);
                    cursor = t;
                }
                None => break,
            }
        }
        out
    }

    /// The schedule in words, e.g. "every 60 seconds".
    pub fn describe(&self) -> String {
        match self {
            Self::Cron {
                expression,
                timezone,
            } => match parse_cron(expression) {
                Ok(cron) => format!("{} ({timezone})", cron.describe()),
                Err(e) => format!("invalid cron: {e}"),
            },
            Self::Interval { seconds } => match seconds {
                s if s % 3600 == 0 => format!("every {} hour(s)", s / 3600),
                s if s % 60 == 0 => format!("every {} minute(s)", s / 60),
                s => format!("every {s} second(s)"),
            },
            Self::Once { at } => format!("once at {}", at.to_rfc3339()),
            Self::Manual => "only when run by hand".to_owned(),
        }
    }
}

fn parse_cron(expression: &str) -> Result<Cron, String> {
    let fields = expression.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!(
            "cron expression {expression:?} has {fields} fields; expected 5 (minute hour day month weekday) or 6 (second first)"
        ));
    }
    Cron::from_str(expression).map_err(|e| format!("invalid cron expression {expression:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cron_with_seconds_fires_on_the_second() {
        let s = Schedule::Cron {
            expression: "*/15 * * * * *".into(),
            timezone: "UTC".into(),
        };
        s.validate().unwrap();
        assert_eq!(
            s.next_after(at("2026-01-01T00:00:07Z")),
            Some(at("2026-01-01T00:00:15Z"))
        );
    }

    #[test]
    fn five_field_cron_means_second_zero() {
        let s = Schedule::Cron {
            expression: "30 9 * * 1-5".into(),
            timezone: "Europe/Berlin".into(),
        };
        // Friday 2026-01-02 10:00 Berlin is after 09:30, so the next is Monday 09:30 CET = 08:30 UTC.
        assert_eq!(
            s.next_after(at("2026-01-02T09:00:00Z")),
            Some(at("2026-01-05T08:30:00Z"))
        );
    }

    #[test]
    fn cron_respects_daylight_saving_time() {
        let s = Schedule::Cron {
            expression: "0 0 9 * * *".into(),
            timezone: "Europe/Berlin".into(),
        };
        // Summer time: 09:00 CEST = 07:00 UTC.
        assert_eq!(
            s.next_after(at("2026-07-01T00:00:00Z")),
            Some(at("2026-07-01T07:00:00Z"))
        );
    }

    #[test]
    fn intervals_align_to_the_epoch() {
        let s = Schedule::Interval { seconds: 60 };
        assert_eq!(
            s.next_after(at("2026-01-01T00:00:59Z")),
            Some(at("2026-01-01T00:01:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-01-01T00:01:00Z")),
            Some(at("2026-01-01T00:02:00Z"))
        );
        assert_eq!(s.upcoming(at("2026-01-01T00:00:00Z"), 3).len(), 3);
    }

    #[test]
    fn once_fires_only_in_the_future_and_manual_never() {
        let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let once = Schedule::Once { at: t };
        assert_eq!(once.next_after(t - chrono::Duration::seconds(1)), Some(t));
        assert_eq!(once.next_after(t), None);
        assert_eq!(Schedule::Manual.next_after(t), None);
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let err = Schedule::Cron {
            expression: "61 * * * *".into(),
            timezone: "Mars/Olympus".into(),
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["expression", "timezone"]);
        let err = Schedule::Cron {
            expression: "* * *".into(),
            timezone: "UTC".into(),
        }
        .validate()
        .unwrap_err();
        assert!(err.errors[0].message.contains("3 fields"));
        let err = Schedule::Interval { seconds: 0 }.validate().unwrap_err();
        assert_eq!(err.errors[0].field, "seconds");
    }

    #[test]
    fn schedules_deserialize_from_tagged_json() {
        let s: Schedule =
            serde_json::from_str(r#"{"type":"cron","expression":"0 * * * * *"}"#).unwrap();
        assert_eq!(
            s,
            Schedule::Cron {
                expression: "0 * * * * *".into(),
                timezone: "UTC".into()
            }
        );
        assert!(
            serde_json::from_str::<Schedule>(r#"{"type":"interval","seconds":5,"x":1}"#).is_err()
        );
    }

    #[test]
    fn describe_says_it_in_words() {
        assert_eq!(
            Schedule::Interval { seconds: 120 }.describe(),
            "every 2 minute(s)"
        );
        assert!(
            Schedule::Cron {
                expression: "0 0 * * *".into(),
                timezone: "UTC".into()
            }
            .describe()
            .contains("UTC")
        );
    }
}
