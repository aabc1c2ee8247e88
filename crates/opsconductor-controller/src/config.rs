//! The controller's configuration: one typed tree, defaults named, every problem reported
//! at once by [`ControllerConfig::validate`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use opsconductor_core::model::segment::DEFAULT_SEGMENT;
use opsconductor_queue::QueueConfig;
use serde::Deserialize;

use crate::auth::AuthSettings;
use crate::vault::InlineKey;

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
    /// File holding the key that signs access tokens (HMAC-SHA256): at least 32
    /// characters, e.g. `openssl rand -hex 32`. Every replica needs the same key. Without
    /// one each start makes a random key: access tokens then die with the process (clients
    /// refresh and carry on) and replicas do not accept each other's.
    #[serde(default)]
    pub auth_key_file: Option<PathBuf>,
    /// The token key itself (`OPSCONDUCTOR_AUTH_KEY`); `auth_key_file` wins.
    #[serde(default)]
    pub auth_key: Option<InlineKey>,
    /// `iss` of the access tokens this controller issues and accepts.
    #[serde(default = "default_auth_issuer")]
    pub auth_issuer: String,
    /// Lifetime of an access token. Revocation does not wait for it (requests check the
    /// session), so it only bounds how long a stolen token is worth anything.
    #[serde(default = "default_access_token_ttl", with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token; each refresh issues a new one.
    #[serde(default = "default_refresh_token_ttl", with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// No login session lasts longer than this, however often it is refreshed.
    #[serde(default = "default_session_max_age", with = "humantime_serde")]
    pub session_max_age: Duration,
    /// Failed logins of one account within `login_failure_window` after which it is
    /// refused (429) until the window passes.
    #[serde(default = "default_login_max_failures_per_account")]
    pub login_max_failures_per_account: u32,
    /// The same for one client address (password spraying across accounts).
    #[serde(default = "default_login_max_failures_per_address")]
    pub login_max_failures_per_address: u32,
    /// The window failed logins are counted in.
    #[serde(default = "default_login_failure_window", with = "humantime_serde")]
    pub login_failure_window: Duration,
    /// First-admin bootstrap: when there is no user at all, the controller creates an
    /// admin with this name and `bootstrap_admin_password(_file)` at start.
    #[serde(default)]
    pub bootstrap_admin: Option<String>,
    /// File holding the first admin's password (at least 12 characters).
    #[serde(default)]
    pub bootstrap_admin_password_file: Option<PathBuf>,
    /// The first admin's password itself (`OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD`).
    #[serde(default)]
    pub bootstrap_admin_password: Option<InlineKey>,
}

fn default_auth_issuer() -> String {
    "opsconductor".to_owned()
}
fn default_access_token_ttl() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_refresh_token_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_session_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_login_max_failures_per_account() -> u32 {
    5
}
fn default_login_max_failures_per_address() -> u32 {
    20
}
fn default_login_failure_window() -> Duration {
    Duration::from_secs(15 * 60)
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
            auth_key_file: None,
            auth_key: None,
            auth_issuer: default_auth_issuer(),
            access_token_ttl: default_access_token_ttl(),
            refresh_token_ttl: default_refresh_token_ttl(),
            session_max_age: default_session_max_age(),
            login_max_failures_per_account: default_login_max_failures_per_account(),
            login_max_failures_per_address: default_login_max_failures_per_address(),
            login_failure_window: default_login_failure_window(),
            bootstrap_admin: None,
            bootstrap_admin_password_file: None,
            bootstrap_admin_password: None,
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

    /// The key that signs access tokens: from `auth_key_file`, else `auth_key`, else
    /// `None` (the caller makes a random one). Errors name the setting.
    pub fn auth_key(&self) -> Result<Option<Vec<u8>>, String> {
        let text = match (&self.auth_key_file, &self.auth_key) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| format!("auth_key_file {}: {e}", path.display()))?,
            (None, Some(key)) => key.expose().to_owned(),
            (None, None) => return Ok(None),
        };
        let key = text.trim();
        if key.len() < 32 {
            return Err(
                "auth_key_file / OPSCONDUCTOR_AUTH_KEY: the key must be at least 32 characters \
                 (openssl rand -hex 32)"
                    .to_owned(),
            );
        }
        Ok(Some(key.as_bytes().to_vec()))
    }

    /// The first admin to create if there is no user: name and password. Errors name the
    /// setting.
    pub fn bootstrap_admin(&self) -> Result<Option<(String, String)>, String> {
        let Some(name) = &self.bootstrap_admin else {
            return Ok(None);
        };
        let password = match (
            &self.bootstrap_admin_password_file,
            &self.bootstrap_admin_password,
        ) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| format!("bootstrap_admin_password_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, Some(p)) => p.expose().to_owned(),
            (None, None) => return Err("bootstrap_admin: no password configured".to_owned()),
        };
        Ok(Some((name.clone(), password)))
    }

    /// The authentication settings.
    pub fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            issuer: self.auth_issuer.clone(),
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            session_max_age: self.session_max_age,
            max_failures_per_account: self.login_max_failures_per_account,
            max_failures_per_address: self.login_max_failures_per_address,
            login_failure_window: self.login_failure_window,
        }
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
        if !(Duration::from_secs(10)..=Duration::from_secs(24 * 3600))
            .contains(&self.access_token_ttl)
        {
            problems.push("access_token_ttl: must be between 10s and 24h".to_owned());
        }
        if self.refresh_token_ttl < self.access_token_ttl {
            problems.push("refresh_token_ttl: must be at least access_token_ttl".to_owned());
        }
        if self.session_max_age < self.refresh_token_ttl {
            problems.push("session_max_age: must be at least refresh_token_ttl".to_owned());
        }
        if self.login_max_failures_per_account == 0 || self.login_max_failures_per_address == 0 {
            problems.push(
                "login_max_failures_per_account and login_max_failures_per_address: must be at least 1"
                    .to_owned(),
            );
        }
        if self.login_failure_window.is_zero() {
            problems.push("login_failure_window: must be more than 0".to_owned());
        }
        if self.auth_issuer.trim().is_empty() {
            problems.push("auth_issuer: must not be empty".to_owned());
        }
        if self.bootstrap_admin.is_some()
            && self.bootstrap_admin_password.is_none()
            && self.bootstrap_admin_password_file.is_none()
        {
            problems.push(
                "bootstrap_admin needs bootstrap_admin_password_file or OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD"
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
