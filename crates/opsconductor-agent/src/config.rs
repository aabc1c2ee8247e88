//! The agent's configuration: one serde tree, every field with a named default except the
//! controller's address, durations written as `"50ms"`, `"20s"`, `"2m"` (a bare number is
//! seconds).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use opsconductor_queue::QueueConfig;

use crate::error::AgentError;

/// How an agent reaches its controller and broker, and how much work it holds at once.
///
/// The heartbeat interval is not configured here: the controller decides it and sends it in
/// its `Welcome`, so every agent of a deployment heartbeats alike.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The controller's gRPC address: `http://host:port`, or `https://host:port` for TLS
    /// (then `controller_ca_file` is required; `tls_cert_file` adds mutual TLS).
    #[serde(default = "default_controller_url")]
    pub controller_url: String,
    /// The one-time token an admin created for this agent's segment. Needed only for the
    /// first start: enrollment writes `identity_file`, and later starts use that instead.
    #[serde(default)]
    pub enrollment_token: Option<String>,
    /// Where the agent keeps its identity (id, secret, segment), written with mode 0600 on
    /// enrollment. Keep it across restarts: losing it means enrolling again.
    #[serde(default = "default_identity_file")]
    pub identity_file: PathBuf,
    /// A human name for the agent, shown in the UI; the host name by default.
    #[serde(default = "default_name")]
    pub name: String,
    /// The RabbitMQ connection. Its `prefetch` is ignored: the agent sets it to
    /// `max_chunks_in_flight`, since each unacked delivery is one chunk running.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Chunks run at once. Each holds one unacked delivery until the controller has
    /// stored all its results.
    #[serde(default = "default_max_chunks_in_flight")]
    pub max_chunks_in_flight: u16,
    /// Most targets run at once over all chunks; each chunk gets an equal share, or less
    /// when the chunk asks for less.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: u32,
    /// Results held while waiting for the controller's ack (the offline buffer). When it is
    /// full, chunks pause instead of dropping results; 50 000 results are a few tens of MB.
    #[serde(default = "default_result_buffer")]
    pub result_buffer: u32,
    /// Most results in one batch sent to the controller.
    #[serde(default = "default_batch_max_results")]
    pub batch_max_results: u32,
    /// A partial batch is sent after this long, so slow chunks still report progress.
    #[serde(default = "default_batch_max_delay", with = "humantime_serde")]
    pub batch_max_delay: Duration,
    /// On shutdown, how long in-flight chunks may take to finish and be acknowledged before
    /// they are handed back to the queue for another agent.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Bound on connecting to the controller and on waiting for its `Welcome`.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// PEM CA certificate(s) the controller's certificate must chain to. Required with an
    /// `https://` controller_url (there is no implicit trust store: an agent trusts the
    /// CA its operator names).
    #[serde(default)]
    pub controller_ca_file: Option<PathBuf>,
    /// PEM certificate chain the agent presents to the controller (mutual TLS), with
    /// `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `0.0.0.0:9464`; off when
    /// unset. The agent has no other listener.
    #[serde(default)]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

fn default_controller_url() -> String {
    "http://127.0.0.1:50051".to_owned()
}

fn default_identity_file() -> PathBuf {
    PathBuf::from("opsconductor-agent.json")
}

/// The host name from the kernel, or `agent` where there is none.
fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "agent".to_owned())
}

const fn default_max_chunks_in_flight() -> u16 {
    4
}

const fn default_max_concurrency() -> u32 {
    1024
}

const fn default_result_buffer() -> u32 {
    50_000
}

const fn default_batch_max_results() -> u32 {
    500
}

const fn default_batch_max_delay() -> Duration {
    Duration::from_millis(50)
}

const fn default_shutdown_grace() -> Duration {
    Duration::from_secs(20)
}

const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            controller_url: default_controller_url(),
            enrollment_token: None,
            identity_file: default_identity_file(),
            name: default_name(),
            queue: QueueConfig::default(),
            max_chunks_in_flight: default_max_chunks_in_flight(),
            max_concurrency: default_max_concurrency(),
            result_buffer: default_result_buffer(),
            batch_max_results: default_batch_max_results(),
            batch_max_delay: default_batch_max_delay(),
            shutdown_grace: default_shutdown_grace(),
            connect_timeout: default_connect_timeout(),
            controller_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            metrics_listen: None,
        }
    }
}

// Hand-written so the enrollment token and the AMQP password never reach a log line.
impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("controller_url", &self.controller_url)
            .field(
                "enrollment_token",
                &self.enrollment_token.as_ref().map(|_| "***"),
            )
            .field("identity_file", &self.identity_file)
            .field("name", &self.name)
            .field("queue", &self.queue)
            .field("max_chunks_in_flight", &self.max_chunks_in_flight)
            .field("max_concurrency", &self.max_concurrency)
            .field("result_buffer", &self.result_buffer)
            .field("batch_max_results", &self.batch_max_results)
            .field("batch_max_delay", &self.batch_max_delay)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("connect_timeout", &self.connect_timeout)
            .field("metrics_listen", &self.metrics_listen)
            .field("controller_ca_file", &self.controller_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .finish()
    }
}

impl AgentConfig {
    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), AgentError> {
        let mut problems = Vec::new();
        if let Err(problem) = crate::transport::check_url(&self.controller_url) {
            problems.push(problem);
        }
        if self.name.trim().is_empty() {
            problems.push("name must not be empty".to_owned());
        }
        if self.max_chunks_in_flight == 0 {
            problems.push("max_chunks_in_flight must be at least 1".to_owned());
        }
        if self.max_concurrency == 0 {
            problems.push("max_concurrency must be at least 1".to_owned());
        }
        if self.batch_max_results == 0 {
            problems.push("batch_max_results must be at least 1".to_owned());
        }
        if self.result_buffer < self.batch_max_results {
            // A batch holds its results' buffer slots; a buffer smaller than one batch
            // could never fill a batch.
            problems.push(format!(
                "result_buffer ({}) must be at least batch_max_results ({})",
                self.result_buffer, self.batch_max_results
            ));
        }
        if self.batch_max_delay.is_zero() {
            problems.push("batch_max_delay must be positive".to_owned());
        }
        if self.connect_timeout.is_zero() {
            problems.push("connect_timeout must be positive".to_owned());
        }
        let https = self.controller_url.starts_with("https://");
        if https && self.controller_ca_file.is_none() {
            problems.push(
                "controller_ca_file must name the CA of the controller's certificate with an \
                 https:// controller_url"
                    .to_owned(),
            );
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            problems.push("tls_cert_file and tls_key_file go together".to_owned());
        }
        if !https && (self.controller_ca_file.is_some() || self.tls_cert_file.is_some()) {
            problems.push(
                "controller_ca_file / tls_cert_file need an https:// controller_url".to_owned(),
            );
        }
        if self
            .enrollment_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            problems.push("enrollment_token must not be empty when set".to_owned());
        }
        if let Err(error) = self.queue_config().validate() {
            problems.push(format!("queue: {error}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AgentError::Config(problems.join("; ")))
        }
    }

    /// The queue settings the consumer uses: one prefetched delivery per chunk slot.
    pub(crate) fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            prefetch: self.max_chunks_in_flight,
            ..self.queue.clone()
        }
    }

    /// Targets one chunk may run at once: an equal share of `max_concurrency`.
    pub(crate) fn per_chunk_concurrency(&self) -> usize {
        let share = self.max_concurrency / u32::from(self.max_chunks_in_flight.max(1));
        usize::try_from(share.max(1)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
        "controller_url": "http://controller.example:50051",
        "enrollment_token": "enr-123",
        "identity_file": "/var/lib/opsconductor/agent.json",
        "name": "dc1-agent-a",
        "queue": {"url": "amqp://agent:pw@rabbit:5672/%2f", "prefix": "oc"},
        "max_chunks_in_flight": 8,
        "max_concurrency": 2048,
        "result_buffer": 100000,
        "batch_max_results": 1000,
        "batch_max_delay": "100ms",
        "shutdown_grace": "30s",
        "connect_timeout": "5s"
    }"#;

    #[test]
    fn the_example_config_deserialises_with_typed_durations() {
        let config: AgentConfig = serde_json::from_str(EXAMPLE).unwrap();
        assert_eq!(config.max_chunks_in_flight, 8);
        assert_eq!(config.batch_max_delay, Duration::from_millis(100));
        assert_eq!(config.shutdown_grace, Duration::from_secs(30));
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.queue_config().prefetch, 8);
        assert_eq!(config.per_chunk_concurrency(), 256);
        config.validate().unwrap();
    }

    #[test]
    fn an_empty_config_takes_the_defaults() {
        let config: AgentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.max_chunks_in_flight, 4);
        assert_eq!(config.result_buffer, 50_000);
        assert_eq!(config.batch_max_results, 500);
        assert_eq!(config.batch_max_delay, Duration::from_millis(50));
        assert_eq!(config.shutdown_grace, Duration::from_secs(20));
        assert!(config.enrollment_token.is_none());
        assert!(!config.name.is_empty());
        config.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<AgentConfig>(r#"{"max_chunks":2}"#).unwrap_err();
        assert!(err.to_string().contains("max_chunks"), "{err}");
    }

    #[test]
    fn validate_reports_every_problem_at_once() {
        let config = AgentConfig {
            controller_url: "https://controller:50051".into(),
            max_chunks_in_flight: 0,
            result_buffer: 10,
            batch_max_results: 100,
            batch_max_delay: Duration::ZERO,
            ..AgentConfig::default()
        };
        let message = config.validate().unwrap_err().to_string();
        for needle in [
            "controller_url",
            "max_chunks_in_flight",
            "result_buffer",
            "batch_max_delay",
        ] {
            assert!(message.contains(needle), "{needle} missing from {message}");
        }
    }

    #[test]
    fn debug_output_hides_the_enrollment_token() {
        let config: AgentConfig = serde_json::from_str(EXAMPLE).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("enr-123"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }
}
