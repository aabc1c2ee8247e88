//! What every test builds on: a private slice of the broker, a controller configuration
//! for a test database, running controllers, job specs and polling.

use opsconductor_store::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_controller::auth::mint_api_token;
use opsconductor_controller::scheduler::SchedulerHandle;
use opsconductor_controller::vault::InlineKey;
use opsconductor_controller::{Controller, ControllerConfig};
use opsconductor_core::access::Role;
use opsconductor_core::model::{DEFAULT_SEGMENT, JobSpec};
use opsconductor_proto::v1::{self, agent_service_client::AgentServiceClient};
use opsconductor_queue::{QueueConfig, delete_topology};
use opsconductor_store::PgStore;
use opsconductor_store::testing::TestDb;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous bound for things that should happen within a few seconds.
pub const WAIT: Duration = Duration::from_secs(20);

/// One test's queue names on the real broker, deleted on drop.
pub struct TestBroker {
    pub config: QueueConfig,
}

impl TestBroker {
    pub fn new() -> Self {
        let url = std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        Self {
            config: QueueConfig {
                url,
                prefix: format!("oct-ctl-{}", uuid::Uuid::new_v4().simple()),
                connect_timeout: Duration::from_secs(5),
                ..QueueConfig::default()
            },
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(delete_topology(&config, &[DEFAULT_SEGMENT]))
        })
        .join();
    }
}

/// A controller on `db` and `broker`, listening on free ports, with a fast scheduler tick.
pub fn controller_config(db: &TestDb, broker: &TestBroker) -> ControllerConfig {
    ControllerConfig {
        database_url: db.url().to_owned(),
        database_max_connections: 6,
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        libraries_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"),
        queue: broker.config.clone(),
        scheduler_tick: Duration::from_millis(100),
        scheduler_max_in_flight: 4,
        // One key for every controller of a test, so they accept each other's tokens.
        auth_key: Some(InlineKey::new(TEST_AUTH_KEY)),
        bootstrap_admin: Some(ADMIN.to_owned()),
        bootstrap_admin_password: Some(InlineKey::new(ADMIN_PASSWORD)),
        ..ControllerConfig::default()
    }
}

/// The key test controllers sign access tokens with.
pub const TEST_AUTH_KEY: &str = "test-auth-key-0123456789abcdef0123456789";
/// The first admin every test controller bootstraps.
pub const ADMIN: &str = "admin";
/// Their password.
pub const ADMIN_PASSWORD: &str = "admin password for tests";

/// Makes an API token of `role` for `username` straight in the store (what
/// `POST /api/v1/api-tokens` does, without a login first).
pub async fn api_token(store: &dyn Store, username: &str, role: Role) -> String {
    let (user, _) = store
        .user_for_login(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("user {username} exists"));
    let name = format!("test {}", uuid::Uuid::new_v4());
    mint_api_token(store, user.id, &name, role, None)
        .await
        .unwrap()
        .1
}

/// The test process's Prometheus recorder, installed by the first controller a test
/// starts (nextest runs each test in its own process, so the figures are the test's).
pub fn test_metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
                .unwrap()
                .install_recorder()
                .unwrap()
        })
        .clone()
}

/// A controller serving in a background task.
pub struct RunningController {
    /// Where its REST API and WebSocket listen.
    pub http: std::net::SocketAddr,
    /// Where its gRPC services (agents and clients) listen.
    pub grpc: std::net::SocketAddr,
    /// An admin API token for its API.
    pub admin_token: String,
    shutdown: CancellationToken,
    scheduler: SchedulerHandle,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl RunningController {
    pub async fn start(config: ControllerConfig) -> Self {
        let admin = config
            .bootstrap_admin
            .clone()
            .unwrap_or_else(|| ADMIN.to_owned());
        // Installed first, so the metric descriptions registered at build reach it.
        let metrics = test_metrics();
        let controller = Controller::build(config)
            .await
            .unwrap()
            .with_metrics(metrics);
        let admin_token = api_token(&**controller.store(), &admin, Role::Admin).await;
        let scheduler = controller.scheduler();
        let (http, grpc) = (controller.http_addr(), controller.grpc_addr());
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(controller.run_until_stopped(shutdown.clone()));
        Self {
            http,
            grpc,
            admin_token,
            shutdown,
            scheduler,
            handle,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.scheduler.is_leader()
    }

    /// Shuts it down and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("controller stops in time")
            .expect("controller task does not panic")
            .expect("controller stops cleanly");
    }

    /// Drops it mid-flight, as a crash would: nothing of the shutdown sequence runs, its
    /// connections simply close.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A job pinging 127.0.0.1 on `schedule`, with `options`.
pub fn job_spec(name: &str, schedule: Value, options: Value) -> JobSpec {
    serde_json::from_value(json!({
        "name": name,
        "schedule": schedule,
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp"}],
        "options": options,
    }))
    .unwrap()
}

/// `t` without its sub-second part.
pub fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// Enrolls an agent in `segment` (which must exist); returns its id and secret.
pub async fn enrolled_agent(
    store: &PgStore,
    client: &mut AgentServiceClient<tonic::transport::Channel>,
    segment: &str,
) -> (String, String) {
    let token = store
        .create_enrollment_token(segment, Duration::from_secs(600))
        .await
        .unwrap();
    let registered = client
        .register(v1::RegisterRequest {
            enrollment_token: token,
            name: format!("agent of {segment}"),
            version: "test".to_owned(),
            capabilities: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (registered.agent_id, registered.agent_secret)
}

/// `message` as a call of `agent` (id, secret): the metadata every agent call carries.
pub fn as_agent<T>(message: T, agent: &(String, String)) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert("x-agent-id", agent.0.parse().unwrap());
    metadata.insert(
        "authorization",
        format!("Bearer {}", agent.1).parse().unwrap(),
    );
    request
}
