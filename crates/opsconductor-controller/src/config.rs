//! The controller's configuration: one typed tree, defaults named, every problem reported
//! at once by [`ControllerConfig::validate`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use opsconductor_core::model::segment::DEFAULT_SEGMENT;
use opsconductor_queue::QueueConfig;
use serde::Deserialize;

/// Everything the controller needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// PostgreSQL URL.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Connections in the pool (ingest, relay, API share it).
    #[serde(default = "default_database_max_connections")]
    pub database_max_connections: u32,
    /// Where agents (and gRPC clients) connect.
    #[serde(default = "default_grpc_listen")]
    pub grpc_listen: SocketAddr,
    /// Where the REST API listens.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// The shipped libraries (`commandLibrary.json`, …) and their `plugins/`.
    #[serde(default = "default_libraries_dir")]
    pub libraries_dir: PathBuf,
    /// RabbitMQ.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Segment for targets no segment's CIDRs cover.
    #[serde(default = "default_segment")]
    pub default_segment: String,
    /// How often agents send heartbeats; three missed make an agent offline.
    #[serde(default = "default_heartbeat_interval", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How often the lifecycle sweeper looks for expired runs and silent agents.
    #[serde(default = "default_sweep_interval", with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Outbox rows the relay publishes per round.
    #[serde(default = "default_relay_batch")]
    pub relay_batch: u32,
    /// How long the relay waits for new work before looking at the outbox again (it is
    /// also woken by every dispatch; the poll catches other controllers' runs).
    #[serde(default = "default_relay_poll", with = "humantime_serde")]
    pub relay_poll: Duration,
    /// Whether this replica takes part in scheduling. Every replica may: only the one
    /// holding the scheduler lock in PostgreSQL fires, the others stand by.
    #[serde(default = "default_scheduler_enabled")]
    pub scheduler_enabled: bool,
    /// Longest pause of the scheduler loop. The leader also wakes at each fire time, so
    /// this bounds how fast a standby notices the leader is gone and how soon a job change
    /// is seen, not the fire lag.
    #[serde(default = "default_scheduler_tick", with = "humantime_serde")]
    pub scheduler_tick: Duration,
    /// How late a fire may be and still count as on time (a slow tick, a leader hand-over).
    /// Older fires were missed: dropped, or caught up once if the job has a catch-up window.
    #[serde(default = "default_scheduler_misfire_grace", with = "humantime_serde")]
    pub scheduler_misfire_grace: Duration,
    /// How often the leader checks whether jobs were created, changed or disabled (one
    /// aggregate query; the jobs are re-read only when it changed).
    #[serde(default = "default_scheduler_reload", with = "humantime_serde")]
    pub scheduler_reload: Duration,
    /// Batches of scheduled runs (up to 250 runs each, one transaction) the scheduler
    /// writes at once. Each holds a database connection while it is written, so keep it
    /// below `database_max_connections`.
    #[serde(default = "default_scheduler_max_in_flight")]
    pub scheduler_max_in_flight: u32,
    /// File holding the credential vault's master key: 32 random bytes as 64 hex digits
    /// (`openssl rand -hex 32`), readable by the controller only. The key is never stored
    /// in the database; losing it loses the stored secrets. Without a key, credentials
    /// can be neither stored nor handed to agents.
    #[serde(default)]
    pub vault_key_file: Option<PathBuf>,
    /// The master key itself, for deployments that inject secrets as environment
    /// variables (`OPSCONDUCTOR_VAULT_KEY`); `vault_key_file` wins when both are set.
    #[serde(default)]
    pub vault_key: Option<crate::vault::InlineKey>,
    /// PEM certificate chain of the gRPC port (agents and gRPC clients); with
    /// `grpc_tls_key_file` it turns TLS on for that port.
    #[serde(default)]
    pub grpc_tls_cert_file: Option<PathBuf>,
    /// PEM private key of `grpc_tls_cert_file`.
    #[serde(default)]
    pub grpc_tls_key_file: Option<PathBuf>,
    /// PEM CA certificate(s) client certificates must chain to: mutual TLS. A client
    /// without such a certificate is refused at the handshake.
    #[serde(default)]
    pub grpc_tls_client_ca_file: Option<PathBuf>,
}

fn default_database_url() -> String {
    "postgres://postgres@127.0.0.1:5432/opsconductor".to_owned()
}
fn default_database_max_connections() -> u32 {
    16
}
fn default_grpc_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50051))
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_libraries_dir() -> PathBuf {
    PathBuf::from("libraries")
}
fn default_segment() -> String {
    DEFAULT_SEGMENT.to_owned()
}
fn default_heartbeat_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_sweep_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_relay_batch() -> u32 {
    500
}
fn default_relay_poll() -> Duration {
    Duration::from_millis(500)
}
fn default_scheduler_enabled() -> bool {
    true
}
fn default_scheduler_tick() -> Duration {
    Duration::from_millis(250)
}
fn default_scheduler_misfire_grace() -> Duration {
    Duration::from_secs(10)
}
fn default_scheduler_reload() -> Duration {
    Duration::from_secs(1)
}
fn default_scheduler_max_in_flight() -> u32 {
    8
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            database_url: default_database_url(),
            database_max_connections: default_database_max_connections(),
            grpc_listen: default_grpc_listen(),
            http_listen: default_http_listen(),
            libraries_dir: default_libraries_dir(),
            queue: QueueConfig::default(),
            default_segment: default_segment(),
            heartbeat_interval: default_heartbeat_interval(),
            sweep_interval: default_sweep_interval(),
            relay_batch: default_relay_batch(),
            relay_poll: default_relay_poll(),
            scheduler_enabled: default_scheduler_enabled(),
            scheduler_tick: default_scheduler_tick(),
            scheduler_misfire_grace: default_scheduler_misfire_grace(),
            scheduler_reload: default_scheduler_reload(),
            scheduler_max_in_flight: default_scheduler_max_in_flight(),
            vault_key_file: None,
            vault_key: None,
            grpc_tls_cert_file: None,
            grpc_tls_key_file: None,
            grpc_tls_client_ca_file: None,
        }
    }
}

impl ControllerConfig {
    /// The gRPC port's TLS settings read from their PEM files (`None`: plain HTTP/2).
    /// Errors name the file.
    pub fn grpc_tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, String> {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
        };
        let (Some(cert), Some(key)) = (&self.grpc_tls_cert_file, &self.grpc_tls_key_file) else {
            return Ok(None);
        };
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
            read(cert, "grpc_tls_cert_file")?,
            read(key, "grpc_tls_key_file")?,
        ));
        if let Some(ca) = &self.grpc_tls_client_ca_file {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca, "grpc_tls_client_ca_file")?));
        }
        Ok(Some(tls))
    }

    /// Every problem at once, each naming its setting.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.grpc_tls_cert_file.is_some() != self.grpc_tls_key_file.is_some() {
            problems.push("grpc_tls_cert_file and grpc_tls_key_file go together".to_owned());
        }
        if self.grpc_tls_client_ca_file.is_some() && self.grpc_tls_cert_file.is_none() {
            problems.push(
                "grpc_tls_client_ca_file (mutual TLS) needs grpc_tls_cert_file and \
                 grpc_tls_key_file"
                    .to_owned(),
            );
        }
        if self.database_max_connections < 2 {
            problems.push("database_max_connections: must be at least 2".to_owned());
        }
        if self.heartbeat_interval < Duration::from_millis(100) {
            problems.push("heartbeat_interval: must be at least 100ms".to_owned());
        }
        if self.sweep_interval.is_zero() {
            problems.push("sweep_interval: must be more than 0".to_owned());
        }
        if self.relay_batch == 0 {
            problems.push("relay_batch: must be at least 1".to_owned());
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&self.scheduler_tick) {
            problems.push("scheduler_tick: must be between 10ms and 10s".to_owned());
        }
        if !(self.scheduler_tick..=Duration::from_secs(3600))
            .contains(&self.scheduler_misfire_grace)
        {
            problems.push(
                "scheduler_misfire_grace: must be at least scheduler_tick and at most 1h"
                    .to_owned(),
            );
        }
        if self.scheduler_reload.is_zero() {
            problems.push("scheduler_reload: must be more than 0".to_owned());
        }
        if self.scheduler_max_in_flight == 0 {
            problems.push("scheduler_max_in_flight: must be at least 1".to_owned());
        }
        if let Err(e) = opsconductor_core::model::segment::validate_segment_name(
            &self.default_segment,
            "default_segment",
        ) {
            problems.push(e.to_string());
        }
        if let Err(e) = self.queue.validate() {
            problems.push(format!("queue: {e}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_config_deserialises() {
        let config: ControllerConfig = serde_json::from_value(serde_json::json!({
            "database_url": "postgres://postgres@127.0.0.1/oc",
            "grpc_listen": "0.0.0.0:50051",
            "heartbeat_interval": "2s",
            "queue": {"url": "amqp://guest:guest@127.0.0.1:5672/%2f"}
        }))
        .expect("deserialises");
        assert_eq!(config.heartbeat_interval, Duration::from_secs(2));
        config.validate().expect("valid");
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let err = serde_json::from_value::<ControllerConfig>(serde_json::json!({"grpc_port": 1}))
            .unwrap_err();
        assert!(err.to_string().contains("grpc_port"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let config = ControllerConfig {
            database_max_connections: 1,
            relay_batch: 0,
            ..ControllerConfig::default()
        };
        let problems = config.validate().unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
