//! Results: what one action did on one target.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::criteria::Verdict;
use crate::ids::{AgentId, RunId};

/// Most bytes of raw device output kept with a result.
pub const MAX_RAW_EXCERPT_BYTES: usize = 4096;

/// Outcome of one (target, action).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// Ran and met its ok criteria.
    Ok,
    /// Ran, missed ok, met warn.
    Warn,
    /// Ran and missed its criteria.
    Fail,
    /// Could not run or could not finish (refused, DNS, auth, parse...).
    Error,
    /// Ran out of time.
    Timeout,
}

impl ResultStatus {
    /// The lowercase name used in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::Timeout => "timeout",
        }
    }
}

impl From<Verdict> for ResultStatus {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Ok => Self::Ok,
            Verdict::Warn => Self::Warn,
            Verdict::Fail => Self::Fail,
        }
    }
}

impl std::str::FromStr for ResultStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ok" => Self::Ok,
            "warn" => Self::Warn,
            "fail" => Self::Fail,
            "error" => Self::Error,
            "timeout" => Self::Timeout,
            other => return Err(format!("unknown result status {other:?}")),
        })
    }
}

/// One (run, target, action index) result; that triple is its idempotency key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The run.
    pub run_id: RunId,
    /// The target as text (address or hostname).
    pub target: String,
    /// Position of the action in the job.
    pub action_index: u32,
    /// Outcome.
    pub status: ResultStatus,
    /// When the action started.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub started_at: DateTime<Utc>,
    /// Wall time of the action, milliseconds.
    pub duration_ms: f64,
    /// Phase timings in milliseconds (`connect_ms`, `tls_ms`, `first_byte_ms`...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub timings: Map<String, Value>,
    /// Fields produced by the action and its parsers.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
    /// Table rows produced by parsers (e.g. one per interface).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Map<String, Value>>,
    /// The start of the raw output, at most [`MAX_RAW_EXCERPT_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_excerpt: Option<String>,
    /// Why it is not ok, in words a network engineer understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The agent that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// Cuts raw output to at most [`MAX_RAW_EXCERPT_BYTES`] on a character boundary, decoding
/// invalid UTF-8 lossily.
pub fn cap_excerpt(raw: &[u8]) -> String {
    let head = &raw[..raw.len().min(MAX_RAW_EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(head);
    if text.len() <= MAX_RAW_EXCERPT_BYTES {
        return text.into_owned();
    }
    let mut end = MAX_RAW_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_capped_and_lossy() {
        let big = vec![b'a'; 10_000];
        assert_eq!(cap_excerpt(&big).len(), MAX_RAW_EXCERPT_BYTES);
        let junk = [0xff, 0xfe, b'o', b'k'];
        assert_eq!(cap_excerpt(&junk), "\u{fffd}\u{fffd}ok");
        let mut many_junk = vec![0xffu8; 5000];
        many_junk.push(b'x');
        assert!(cap_excerpt(&many_junk).len() <= MAX_RAW_EXCERPT_BYTES);
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            ResultStatus::Ok,
            ResultStatus::Warn,
            ResultStatus::Fail,
            ResultStatus::Error,
            ResultStatus::Timeout,
        ] {
            assert_eq!(s.as_str().parse::<ResultStatus>().unwrap(), s);
        }
    }
}
