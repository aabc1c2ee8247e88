//! The pieces every test builds on: a private slice of the real broker, chunk builders, a
//! running agent, a banner server for `tcp_port`, and a fault-injecting TCP proxy.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use opsconductor_agent::{AgentConfig, AgentError, CancellationToken};
use opsconductor_proto::v1;
use opsconductor_queue::{Publisher, QueueConfig, delete_topology, queue_depth};

use crate::controller::{FakeController, TOKEN};

/// The segment every test's agent is enrolled into.
pub const SEGMENT: &str = "lab";

/// Generous bound for things that should happen within a few seconds.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn amqp_url() -> String {
    std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// One test's topology on the real broker under a random prefix, deleted on drop.
pub struct TestBroker {
    pub config: QueueConfig,
    pub publisher: Publisher,
}

impl TestBroker {
    pub async fn new() -> Self {
        let config = QueueConfig {
            url: amqp_url(),
            prefix: format!("oct-agent-{}", uuid::Uuid::new_v4().simple()),
            delivery_limit: 5,
            prefetch: 2,
            heartbeat_secs: 5,
            connect_timeout: Duration::from_secs(5),
        };
        let publisher = Publisher::connect(&config)
            .await
            .expect("rabbitmq on loopback");
        publisher.ensure_segment(SEGMENT).await.unwrap();
        Self { config, publisher }
    }

    pub async fn publish(&self, work: &v1::ChunkWork) {
        self.publish_raw(&work.chunk_id, work.encode_to_vec()).await;
    }

    pub async fn publish_raw(&self, chunk_id: &str, payload: Vec<u8>) {
        self.publisher
            .publish_chunks(&[(chunk_id, SEGMENT, payload)])
            .await
            .unwrap();
    }

    /// Messages ready in the segment queue (unacked deliveries are not counted).
    pub async fn depth(&self) -> u32 {
        queue_depth(&self.config, SEGMENT).await.unwrap()
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
            runtime.block_on(delete_topology(&config, &[SEGMENT]))
        })
        .join();
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A chunk of `run_id` with the targets and actions given.
pub fn chunk(run_id: &str, targets: &[String], actions: Vec<v1::ChunkAction>) -> v1::ChunkWork {
    v1::ChunkWork {
        chunk_id: new_id(),
        run_id: run_id.to_owned(),
        job_id: new_id(),
        segment: SEGMENT.to_owned(),
        targets: targets.to_vec(),
        actions,
        concurrency: 64,
        target_timeout_ms: 20_000,
        run_deadline_unix_ms: 0,
        require_first_ok: false,
    }
}

/// `127.0.0.1` .. `127.0.0.n`: every 127.x address answers on loopback.
pub fn loopback_targets(n: u8) -> Vec<String> {
    (1..=n).map(|i| format!("127.0.0.{i}")).collect()
}

pub fn tcp_action(index: u32, port: u16) -> v1::ChunkAction {
    action(index, "tcp_port", json!({"port": port, "timeout_ms": 1000}))
}

pub fn ping_action(index: u32, count: u32) -> v1::ChunkAction {
    action(
        index,
        "ping",
        json!({"count": count, "interval_ms": 200, "timeout_ms": 1000}),
    )
}

pub fn action(index: u32, kind: &str, params: serde_json::Value) -> v1::ChunkAction {
    v1::ChunkAction {
        index,
        command_id: format!("test.{kind}"),
        kind: kind.to_owned(),
        params_json: params.to_string(),
        parsers_json: String::new(),
        criteria_json: String::new(),
        timeout_ms: 5000,
        credential_id: None,
    }
}

/// A TCP server on 127.0.0.1 that sends a banner and closes.
pub async fn banner_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket.write_all(b"SSH-2.0-test\r\n").await;
            });
        }
    });
    port
}

/// An agent configuration pointing at `controller_url` with fast batching.
pub fn agent_config(controller_url: &str, broker: &TestBroker, dir: &Path) -> AgentConfig {
    AgentConfig {
        controller_url: controller_url.to_owned(),
        enrollment_token: Some(TOKEN.to_owned()),
        identity_file: dir.join("identity.json"),
        name: "test-agent".to_owned(),
        queue: broker.config.clone(),
        max_chunks_in_flight: 2,
        max_concurrency: 128,
        result_buffer: 1000,
        batch_max_results: 4,
        batch_max_delay: Duration::from_millis(20),
        shutdown_grace: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        controller_ca_file: None,
        tls_cert_file: None,
        tls_key_file: None,
        metrics_listen: None,
    }
}

/// An agent running in the background.
pub struct RunningAgent {
    pub shutdown: CancellationToken,
    handle: Option<JoinHandle<Result<(), AgentError>>>,
}

impl RunningAgent {
    pub fn start(config: AgentConfig) -> Self {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(opsconductor_agent::run(config, shutdown.clone()));
        Self {
            shutdown,
            handle: Some(handle),
        }
    }

    /// Asks it to stop and waits for it.
    pub async fn stop(mut self) -> Result<(), AgentError> {
        self.shutdown.cancel();
        self.join().await
    }

    /// Drops it mid-flight, as a crash would: no shutdown sequence runs.
    pub async fn kill(mut self) {
        let handle = self.handle.take().expect("not joined yet");
        handle.abort();
        let _ = handle.await;
    }

    /// Waits for it to end by itself.
    pub async fn join(&mut self) -> Result<(), AgentError> {
        let handle = self.handle.take().expect("not joined yet");
        tokio::time::timeout(WAIT, handle)
            .await
            .expect("the agent stops in time")
            .expect("the agent does not panic")
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The standard set-up: broker slice, fake controller, temp dir, running agent.
pub struct Harness {
    pub broker: TestBroker,
    pub controller: FakeController,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Self {
        Self {
            broker: TestBroker::new().await,
            controller: FakeController::start(SEGMENT).await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config(&self) -> AgentConfig {
        agent_config(&self.controller.url(), &self.broker, self.dir.path())
    }

    /// Starts an agent and waits for its first session.
    pub async fn agent(&self, config: AgentConfig) -> RunningAgent {
        let agent = RunningAgent::start(config);
        let sessions = self.controller.snapshot().sessions;
        self.controller
            .wait_for(WAIT, "the agent's session", |r| {
                r.sessions > sessions && !r.hellos.is_empty()
            })
            .await;
        agent
    }
}

/// A TCP proxy that can cut every connection and refuse new ones, then come back on the
/// same port: an outage as the agent sees it.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    up: CancellationToken,
}

impl ChaosProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = CancellationToken::new();
        tokio::spawn(Self::serve(listener, upstream, up.clone()));
        Self { addr, upstream, up }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection and closes the port.
    pub fn down(&self) {
        self.up.cancel();
    }

    /// Listens on the same port again.
    pub async fn restore(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.up = CancellationToken::new();
        tokio::spawn(Self::serve(listener, self.upstream, self.up.clone()));
    }

    async fn serve(listener: TcpListener, upstream: SocketAddr, up: CancellationToken) {
        let up = Arc::new(up);
        loop {
            let accepted = tokio::select! {
                () = up.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((mut inbound, _)) = accepted else {
                return;
            };
            let up = Arc::clone(&up);
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    () = up.cancelled() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.up.cancel();
    }
}
