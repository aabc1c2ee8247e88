//! Conversions between wire messages and core types.
//!
//! Everything arriving from the wire is untrusted: a malformed id, status or JSON field
//! becomes a [`ConvertError`] naming the field (the controller answers it with
//! `INVALID_ARGUMENT`), never a panic.

use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use serde_json::{Map, Value};

use crate::v1;

/// A wire message that does not convert.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConvertError {
    /// The offending field, dotted (`results[3].fields_json`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConvertError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<ConvertError> for tonic::Status {
    fn from(e: ConvertError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

/// Parses a UUID text field into an id newtype.
pub fn parse_id<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ConvertError> {
    text.parse()
        .map_err(|_| ConvertError::new(field, format!("{text:?} is not a UUID")))
}

impl From<ResultStatus> for v1::ResultStatus {
    fn from(s: ResultStatus) -> Self {
        match s {
            ResultStatus::Ok => Self::Ok,
            ResultStatus::Warn => Self::Warn,
            ResultStatus::Fail => Self::Fail,
            ResultStatus::Error => Self::Error,
            ResultStatus::Timeout => Self::Timeout,
        }
    }
}

/// The wire form of a result (its run id travels on the batch).
pub fn result_to_proto(r: &ResultRecord) -> v1::Result {
    v1::Result {
        target: r.target.clone(),
        action_index: r.action_index,
        status: v1::ResultStatus::from(r.status).into(),
        started_at_us: r.started_at.timestamp_micros(),
        duration_ms: r.duration_ms,
        timings_json: json_object_text(&r.timings),
        fields_json: json_object_text(&r.fields),
        rows_json: if r.rows.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&r.rows).unwrap_or_default()
        },
        raw_excerpt: r.raw_excerpt.clone(),
        reason: r.reason.clone(),
    }
}

fn json_object_text(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        String::new()
    } else {
        serde_json::to_string(map).unwrap_or_default()
    }
}

/// Longest target text accepted from the wire (a DNS name is at most 253 bytes).
pub const MAX_TARGET_BYTES: usize = 255;

/// A result from the wire, checked. `field` prefixes error paths (`results[3]`).
pub fn result_from_proto(
    field: &str,
    run_id: RunId,
    agent_id: Option<AgentId>,
    r: v1::Result,
) -> Result<ResultRecord, ConvertError> {
    if r.target.is_empty() || r.target.len() > MAX_TARGET_BYTES {
        return Err(ConvertError::new(
            format!("{field}.target"),
            format!("must be 1 to {MAX_TARGET_BYTES} bytes"),
        ));
    }
    if i32::try_from(r.action_index).is_err() {
        return Err(ConvertError::new(
            format!("{field}.action_index"),
            "out of range",
        ));
    }
    let status = match v1::ResultStatus::try_from(r.status) {
        Ok(v1::ResultStatus::Ok) => ResultStatus::Ok,
        Ok(v1::ResultStatus::Warn) => ResultStatus::Warn,
        Ok(v1::ResultStatus::Fail) => ResultStatus::Fail,
        Ok(v1::ResultStatus::Error) => ResultStatus::Error,
        Ok(v1::ResultStatus::Timeout) => ResultStatus::Timeout,
        Ok(v1::ResultStatus::Unspecified) | Err(_) => {
            return Err(ConvertError::new(
                format!("{field}.status"),
                format!("{} is not a result status", r.status),
            ));
        }
    };
    // Years 1970 to 9999: what a clock can say and PostgreSQL can store.
    let started_at = DateTime::<Utc>::from_timestamp_micros(r.started_at_us)
        .filter(|t| (0..=253_402_300_799).contains(&t.timestamp()))
        .ok_or_else(|| ConvertError::new(format!("{field}.started_at_us"), "out of range"))?;
    if !r.duration_ms.is_finite() || r.duration_ms < 0.0 {
        return Err(ConvertError::new(
            format!("{field}.duration_ms"),
            "must be a finite number ≥ 0",
        ));
    }
    let rows = if r.rows_json.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&r.rows_json).map_err(|e| {
            ConvertError::new(
                format!("{field}.rows_json"),
                format!("not a JSON array of objects: {e}"),
            )
        })?
    };
    Ok(ResultRecord {
        run_id,
        target: r.target,
        action_index: r.action_index,
        status,
        started_at,
        duration_ms: r.duration_ms,
        timings: json_object(&format!("{field}.timings_json"), &r.timings_json)?,
        fields: json_object(&format!("{field}.fields_json"), &r.fields_json)?,
        rows,
        raw_excerpt: r.raw_excerpt,
        reason: r.reason,
        agent_id,
    })
}

/// Parses an optional JSON object field (empty text = empty object).
pub fn json_object(field: &str, text: &str) -> Result<Map<String, Value>, ConvertError> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_str(text)
        .map_err(|e| ConvertError::new(field, format!("not a JSON object: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResultRecord {
        let mut fields = Map::new();
        fields.insert("rtt_avg_ms".into(), Value::from(0.042));
        fields.insert("packets".into(), Value::from(3_u64));
        ResultRecord {
            run_id: RunId::new(),
            target: "127.0.0.1".into(),
            action_index: 2,
            status: ResultStatus::Warn,
            started_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("valid time"),
            duration_ms: 12.5,
            timings: Map::new(),
            fields,
            rows: vec![Map::new()],
            raw_excerpt: Some("3 packets".into()),
            reason: Some("rtt above 10 ms".into()),
            agent_id: None,
        }
    }

    #[test]
    fn a_result_survives_the_wire_with_integers_intact() {
        let record = sample();
        let back = result_from_proto("r", record.run_id, None, result_to_proto(&record))
            .expect("converts");
        assert_eq!(back, record);
        assert!(back.fields["packets"].is_u64());
    }

    #[test]
    fn malformed_wire_results_name_the_field() {
        let mut wire = result_to_proto(&sample());
        wire.status = 42;
        let err = result_from_proto("results[3]", RunId::new(), None, wire).unwrap_err();
        assert_eq!(err.field, "results[3].status");

        let mut wire = result_to_proto(&sample());
        wire.fields_json = "[1,2]".into();
        let err = result_from_proto("results[0]", RunId::new(), None, wire).unwrap_err();
        assert_eq!(err.field, "results[0].fields_json");

        let mut wire = result_to_proto(&sample());
        wire.duration_ms = f64::NAN;
        let err = result_from_proto("r", RunId::new(), None, wire).unwrap_err();
        assert_eq!(err.field, "r.duration_ms");
    }
}
