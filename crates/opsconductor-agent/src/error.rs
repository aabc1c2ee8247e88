//! The crate's one error type. Only failures that stop the agent reach it: everything the
//! agent can ride out (controller away, broker restart, a bad chunk) is retried or recorded
//! where it happens.

use std::path::PathBuf;

use opsconductor_queue::QueueError;

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is unusable; every problem is listed.
    #[error("invalid agent configuration: {0}")]
    Config(String),
    /// The identity file cannot be read, parsed or written.
    #[error("agent identity file {}: {message}", path.display())]
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The controller refused the enrollment token (used twice, expired, unknown).
    #[error("the controller refused enrollment: {0}")]
    Enrollment(String),
    /// The controller no longer accepts this agent's identity. Retrying cannot help: the
    /// agent must be enrolled again with a new token.
    #[error(
        "the controller rejected this agent's identity ({0}); delete the identity file and \
         enroll again with a new enrollment_token"
    )]
    Revoked(String),
    /// The broker can never accept the agent's queue settings or segment name (outages
    /// and refusals are retried, not reported).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Shutdown was requested before the agent finished starting (e.g. while it waited
    /// for the controller to enroll it).
    #[error("stopped before the agent finished starting")]
    Interrupted,
}
