//! The executor contract.

use std::time::Duration;

use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use opsconductor_core::targets::Target;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::credential::Credential;

/// Most raw output bytes an action hands to parsers; anything beyond is dropped (and
/// flagged with the `output_truncated` field) so a 50 MB answer cannot exhaust memory.
pub const MAX_RAW_OUTPUT_BYTES: usize = 1024 * 1024;

/// One action on one target.
#[derive(Debug, Clone, Copy)]
pub struct ActionInput<'a> {
    /// The target.
    pub target: &'a Target,
    /// Params with defaults filled in (validated against the command's schema).
    pub params: &'a Map<String, Value>,
    /// Credential material, when the action references one.
    pub credential: Option<&'a Credential>,
    /// The action must finish by then; the runner enforces it too.
    pub deadline: Instant,
}

impl ActionInput<'_> {
    /// Time left until the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Deserialises the params into the executor's own typed struct.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, ActionError> {
        serde_json::from_value(Value::Object(self.params.clone()))
            .map_err(|e| ActionError::InvalidParams(e.to_string()))
    }
}

/// What an executor produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutput {
    /// Native fields (`loss_pct`, `status_code`, ...).
    pub fields: Map<String, Value>,
    /// Phase timings in milliseconds.
    pub timings: Map<String, Value>,
    /// Raw output for parsers and the result's excerpt (at most [`MAX_RAW_OUTPUT_BYTES`]).
    pub raw: String,
}

impl ActionOutput {
    /// Sets a field.
    pub fn field(&mut self, name: &str, value: impl Into<Value>) {
        self.fields.insert(name.to_owned(), value.into());
    }

    /// Sets a timing in milliseconds.
    pub fn timing(&mut self, name: &str, duration: Duration) {
        self.timings.insert(
            name.to_owned(),
            Value::from(duration.as_secs_f64() * 1000.0),
        );
    }
}

/// Why an action produced no output. The message is shown to operators as the result's
/// reason: it says what happened on the network, not what the code did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Ran out of time (`no reply within 1000 ms`).
    #[error("{0}")]
    Timeout(String),
    /// Failed: refused, unreachable, DNS, auth, protocol error...
    #[error("{0}")]
    Failed(String),
    /// The params do not fit the executor (should have been caught by the schema).
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The action needs a credential of another kind, or none was given.
    #[error("credential: {0}")]
    Credential(String),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// An executor for one action kind. Executors are built once per agent and shared by
/// every chunk, so they hold the sockets, clients and caches worth reusing.
pub trait Action: Send + Sync {
    /// The kind it executes.
    fn kind(&self) -> ActionKind;

    /// Runs once against one target. Must not panic on any input or device answer.
    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>>;
}

/// Appends `bytes` to `buf` up to [`MAX_RAW_OUTPUT_BYTES`]; returns false once capped.
pub fn push_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    bytes.len() <= room
}
