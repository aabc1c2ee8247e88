//! The agent's permanent identity: obtained once by enrolling with a one-time token,
//! then kept in a file only the agent's user can read.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use opsconductor_core::ids::AgentId;
use opsconductor_core::model::segment::validate_segment_name;
use opsconductor_proto::v1::RegisterRequest;
use opsconductor_proto::v1::agent_service_client::AgentServiceClient;

use crate::error::AgentError;
use crate::transport::is_transient;

/// Who this agent is to the controller. The secret never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The agent's id (UUID text), sent as `x-agent-id`.
    pub agent_id: String,
    /// The agent's secret, sent as a bearer token.
    pub agent_secret: String,
    /// The segment whose queue the agent consumes.
    pub segment: String,
    /// The controller that issued the identity.
    pub controller_url: String,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("agent_id", &self.agent_id)
            .field("agent_secret", &"***")
            .field("segment", &self.segment)
            .field("controller_url", &self.controller_url)
            .finish()
    }
}

impl Identity {
    /// The id as the core type (checked when the identity is loaded or issued).
    pub fn id(&self) -> Option<AgentId> {
        self.agent_id.parse().ok()
    }

    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.agent_id.parse::<AgentId>().is_err() {
            problems.push(format!("agent_id {:?} is not a UUID", self.agent_id));
        }
        if self.agent_secret.is_empty() {
            problems.push("agent_secret is empty".to_owned());
        }
        if let Err(e) = validate_segment_name(&self.segment, "segment") {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn identity_error(path: &Path, message: impl Into<String>) -> AgentError {
    AgentError::Identity {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads the identity file; `None` when there is none yet.
pub(crate) fn load(path: &Path) -> Result<Option<Identity>, AgentError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(identity_error(path, format!("cannot read it: {e}"))),
    };
    // serde's message can quote the offending value, which may be the secret: say where
    // the problem is, not what it was.
    let identity: Identity = serde_json::from_str(&text).map_err(|e| {
        identity_error(
            path,
            format!(
                "not a valid identity (line {}, column {}); delete it to enroll again",
                e.line(),
                e.column()
            ),
        )
    })?;
    identity.check().map_err(|m| identity_error(path, m))?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the identity file is readable by other users; it holds the agent's secret (chmod 600 it)"
        );
    }
    Ok(Some(identity))
}

/// Writes the identity atomically (temporary file, then rename) with mode 0600, so a crash
/// never leaves a half-written identity and no other user can read the secret.
pub(crate) fn save(path: &Path, identity: &Identity) -> Result<(), AgentError> {
    let text = serde_json::to_string_pretty(identity)
        .map_err(|e| identity_error(path, format!("cannot encode it: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| identity_error(path, format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut temp = PathBuf::from(path);
    temp.as_mut_os_string().push(".tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        // `mode` applies only to a file it creates; a leftover temporary file keeps its own.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| identity_error(path, format!("cannot write it: {e}")))
}

/// Exchanges the enrollment token for an identity, retrying while the controller is
/// unreachable (agents are often deployed before their controller is up).
pub(crate) async fn enroll(
    channel: Channel,
    controller_url: &str,
    token: &str,
    name: &str,
    capabilities: Vec<String>,
    shutdown: &CancellationToken,
) -> Result<Identity, AgentError> {
    let mut client = AgentServiceClient::new(channel);
    let request = RegisterRequest {
        enrollment_token: token.to_owned(),
        name: name.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        capabilities,
    };
    let mut attempt = 0;
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return Err(AgentError::Interrupted),
            outcome = client.register(request.clone()) => outcome,
        };
        match outcome {
            Ok(response) => {
                let response = response.into_inner();
                let identity = Identity {
                    agent_id: response.agent_id,
                    agent_secret: response.agent_secret,
                    segment: response.segment,
                    controller_url: controller_url.to_owned(),
                };
                identity.check().map_err(|m| {
                    AgentError::Enrollment(format!("the controller's answer is unusable: {m}"))
                })?;
                return Ok(identity);
            }
            Err(status) if is_transient(status.code()) => {
                let delay = opsconductor_queue::backoff(attempt);
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis(),
                    error = %status.message(),
                    "controller unreachable for enrollment; retrying"
                );
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    () = shutdown.cancelled() => return Err(AgentError::Interrupted),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(status) => {
                return Err(AgentError::Enrollment(format!(
                    "{:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Identity {
        Identity {
            agent_id: "0190c0de-0000-7000-8000-000000000001".into(),
            agent_secret: "s3cret".into(),
            segment: "dc1".into(),
            controller_url: "http://127.0.0.1:50051".into(),
        }
    }

    #[test]
    fn a_saved_identity_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/agent.json");
        save(&path, &sample()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap(), Some(sample()));
    }

    #[test]
    fn a_missing_file_is_no_identity_and_a_broken_one_an_error_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        assert_eq!(load(&path).unwrap(), None);
        std::fs::write(&path, r#"{"agent_id":"x","agent_secret":12345678}"#).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(!message.contains("12345678"), "{message}");
        assert!(message.contains("agent.json"), "{message}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
