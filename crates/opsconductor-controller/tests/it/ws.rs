//! `GET /api/v1/ws`. Against a running controller, results reach it through the real gRPC
//! session of a scripted agent (a gRPC client speaking the agent protocol, since no real
//! agent runs here) and new runs through the dispatcher and the scheduler. Tests about the
//! bus itself (a stuck client, a lagging one) serve the real route and pump on their own
//! bus and publish on it the way the session does, so they can watch its subscribers.

use opsconductor_store::prelude::*;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{SinkExt as _, StreamExt as _};
use opsconductor_controller::auth::{Auth, AuthSettings};
use opsconductor_controller::dispatch::Dispatcher;
use opsconductor_core::access::Role;
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::library::Library;
use opsconductor_core::model::{
    DEFAULT_SEGMENT, JobSpec, ResultRecord, ResultStatus, RunTrigger, Segment,
};
use opsconductor_proto::convert::result_to_proto;
use opsconductor_proto::v1::{self, agent_message, agent_service_client::AgentServiceClient};
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{ChunkRecord, PgStore};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{WebSocketStream, client_async};

use opsconductor_controller::events::{EventBus, PROGRESS_INTERVAL, run_progress_pump};
use opsconductor_controller::ws::{self, WsState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    RunningController, TEST_AUTH_KEY, TestBroker, WAIT, api_token, as_agent, controller_config,
    enrolled_agent,
};

/// A WebSocket client of `/api/v1/ws` that keeps every message it received.
struct WsClient {
    socket: WebSocketStream<TcpStream>,
    received: Vec<Value>,
}

impl WsClient {
    async fn connect(http: SocketAddr, token: &str) -> Self {
        Self::handshake(http, token, TcpStream::connect(http).await.unwrap()).await
    }

    /// A client whose socket buffers almost nothing: one that stops reading stalls the
    /// server's sends after a few hundred kilobytes instead of megabytes.
    async fn connect_with_tiny_buffer(http: SocketAddr, token: &str) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        Self::handshake(http, token, socket.connect(http).await.unwrap()).await
    }

    async fn handshake(http: SocketAddr, token: &str, stream: TcpStream) -> Self {
        let mut request = format!("ws://{http}/api/v1/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = client_async(request, stream).await.unwrap();
        Self {
            socket,
            received: Vec::new(),
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// The next JSON message; panics on a close, an error or after `WAIT`.
    async fn next(&mut self, what: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    self.received.push(value.clone());
                    return value;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("waiting for {what}, got {other:?}"),
            }
        }
    }

    /// Reads until a message satisfies `matches` and returns it.
    async fn wait_for(&mut self, what: &str, mut matches: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let message = self.next(what).await;
            if matches(&message) {
                return message;
            }
        }
    }

    async fn subscribe(&mut self, runs: &[RunId], jobs: &[JobId]) -> Value {
        self.send(json!({"type": "subscribe", "runs": runs, "jobs": jobs}))
            .await;
        self.wait_for("subscribed", |m| m["type"] == "subscribed")
            .await
    }

    /// Every `run_progress` of `run` received so far.
    fn progress_of(&self, run: RunId) -> Vec<&Value> {
        self.received
            .iter()
            .filter(|m| m["type"] == "run_progress" && m["run"]["id"] == json!(run))
            .collect()
    }

    /// Results delivered plus results reported skipped, for `run`.
    fn results_accounted(&self, run: RunId) -> (u64, u64) {
        let of_run = |m: &&Value| m["run_id"] == json!(run);
        let delivered = self
            .received
            .iter()
            .filter(|m| m["type"] == "results")
            .filter(of_run)
            .map(|m| m["results"].as_array().unwrap().len() as u64)
            .sum();
        let skipped = self
            .received
            .iter()
            .filter(|m| m["type"] == "results_skipped")
            .filter(of_run)
            .map(|m| m["count"].as_u64().unwrap())
            .sum();
        (delivered, skipped)
    }
}

fn done(progress: &Value) -> u64 {
    let c = &progress["run"]["counters"];
    ["ok", "warn", "failed", "error", "timeout"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum()
}

/// An agent as the controller sees it: registered with an enrollment token, one session
/// stream, result batches acked one by one.
pub(crate) struct ScriptedAgent {
    /// Its id and secret, as registered.
    pub(crate) agent_id: String,
    pub(crate) agent_secret: String,
    tx: mpsc::Sender<v1::AgentMessage>,
    pub(crate) inbound: tonic::Streaming<v1::ControllerMessage>,
    seq: u64,
}

impl ScriptedAgent {
    pub(crate) async fn connect(grpc: SocketAddr, store: &PgStore) -> Self {
        // Enrollment names a defined segment; the default one catches every target here.
        store
            .upsert_segment(&Segment::new(DEFAULT_SEGMENT, Vec::new()).unwrap())
            .await
            .unwrap();
        let mut client = AgentServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let (agent_id, agent_secret) = enrolled_agent(store, &mut client, DEFAULT_SEGMENT).await;
        let (tx, rx) = mpsc::channel(16);
        tx.send(v1::AgentMessage {
            body: Some(agent_message::Body::Hello(v1::Hello {
                version: "test".to_owned(),
                capabilities: Vec::new(),
                max_concurrency: 1,
            })),
        })
        .await
        .unwrap();
        let identity = (agent_id, agent_secret);
        let request = as_agent(ReceiverStream::new(rx), &identity);
        let mut inbound = client.session(request).await.unwrap().into_inner();
        let welcome = inbound.message().await.unwrap().unwrap();
        assert!(
            matches!(welcome.body, Some(v1::controller_message::Body::Welcome(_))),
            "{welcome:?}"
        );
        let (agent_id, agent_secret) = identity;
        Self {
            agent_secret,
            agent_id,
            tx,
            inbound,
            seq: 0,
        }
    }

    /// Sends ok results for `targets` of `chunk` (action 0) and waits for the ack: when this
    /// returns the batch is committed.
    async fn report(&mut self, chunk: &ChunkRecord, targets: &[String]) {
        self.seq += 1;
        let results = targets
            .iter()
            .map(|target| result_to_proto(&ok_result(chunk.run_id, target, 0)))
            .collect();
        self.tx
            .send(v1::AgentMessage {
                body: Some(agent_message::Body::Results(v1::ResultBatch {
                    seq: self.seq,
                    chunk_id: chunk.id.to_string(),
                    run_id: chunk.run_id.to_string(),
                    results,
                })),
            })
            .await
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.inbound.message())
                .await
                .expect("the batch is acked in time")
                .unwrap()
                .expect("the session stays open");
            if let Some(v1::controller_message::Body::Ack(ack)) = message.body
                && ack.seq == self.seq
            {
                return;
            }
        }
    }
}

fn dispatcher(store: &PgStore) -> Dispatcher {
    let library =
        Library::load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"))
            .unwrap();
    Dispatcher::new(
        std::sync::Arc::new(store.clone()),
        Arc::new(library),
        DEFAULT_SEGMENT.to_owned(),
        Arc::new(Notify::new()),
    )
}

/// A manual job pinging `count` loopback addresses, all in one chunk.
fn sweep(count: usize) -> JobSpec {
    let hosts: Vec<String> = (0..count)
        .map(|i| format!("127.1.{}.{}", i / 250, i % 250 + 1))
        .collect();
    serde_json::from_value(json!({
        "name": format!("sweep of {count}"),
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": hosts}]},
        "actions": [{"command": "ping.icmp"}],
        "options": {"chunk_size": 10_000},
    }))
    .unwrap()
}

/// A run of a `count`-target sweep, created the way "run now" does, and its one chunk.
async fn queued_run(store: &PgStore, count: usize) -> (RunId, ChunkRecord) {
    let job = store.create_job(&sweep(count)).await.unwrap();
    let run = dispatcher(store)
        .start_run(job.id, RunTrigger::Manual)
        .await
        .unwrap();
    let mut chunks = store.chunks_for_run(run.id).await.unwrap();
    assert_eq!(chunks.len(), 1);
    (run.id, chunks.remove(0))
}

#[tokio::test]
async fn a_subscribed_run_streams_rising_progress_and_its_results_until_it_completes() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let (run, chunk) = queued_run(&store, 40).await;
    let mut client = WsClient::connect(controller.http, &controller.admin_token).await;

    let subscribed = client.subscribe(&[run], &[]).await;
    assert_eq!(subscribed["runs"], json!([run]));
    let snapshot = client.progress_of(run);
    assert_eq!(snapshot.len(), 1, "one snapshot on subscribe");
    assert_eq!(snapshot[0]["run"]["status"], "queued");
    assert_eq!(done(snapshot[0]), 0);
    assert_eq!(snapshot[0]["run"]["counters"]["total"], 40);

    let mut agent = ScriptedAgent::connect(controller.grpc, &store).await;
    for (i, batch) in chunk.targets.chunks(10).enumerate() {
        agent.report(&chunk, batch).await;
        let expected = (i as u64 + 1) * 10;
        client
            .wait_for(&format!("progress at {expected}"), |m| {
                m["type"] == "run_progress" && m["run"]["id"] == json!(run) && done(m) == expected
            })
            .await;
    }
    let last = client.progress_of(run).last().copied().unwrap().clone();
    assert_eq!(last["run"]["status"], "completed", "{last}");

    let counts: Vec<u64> = client.progress_of(run).into_iter().map(done).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let mut delivered = HashSet::new();
    for message in client.received.iter().filter(|m| m["type"] == "results") {
        assert_eq!(message["run_id"], json!(run));
        for result in message["results"].as_array().unwrap() {
            assert_eq!(result["status"], "ok");
            delivered.insert(result["target"].as_str().unwrap().to_owned());
        }
    }
    let expected: HashSet<String> = chunk.targets.iter().cloned().collect();
    assert_eq!(delivered, expected, "every result reached the client once");
    controller.stop().await;
}

#[tokio::test]
async fn bad_messages_get_an_error_naming_the_field_and_the_connection_keeps_working() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let (run, _) = queued_run(&store, 3).await;
    let mut client = WsClient::connect(controller.http, &controller.admin_token).await;

    // Each bad message gets one error naming what is wrong, and nothing else.
    let bad = [
        (
            json!({"type": "subscribe", "runs": [run.to_string(), "not-a-uuid"]}),
            "runs[1]: ",
        ),
        (
            json!({"type": "subcribe", "runs": []}),
            "type: unknown message type",
        ),
        (
            json!({"type": "subscribe", "colour": "red"}),
            "unknown field `colour`",
        ),
        (json!({"runs": [run]}), "type: missing"),
        (json!("subscribe"), "must be a JSON object"),
        (
            json!({"type": "subscribe", "jobs": (0..1001).map(|_| JobId::new()).collect::<Vec<_>>()}),
            "at most 1000",
        ),
    ];
    for (message, expected) in bad {
        client.send(message.clone()).await;
        let m = client.next("an error").await;
        assert_eq!(m["type"], "error", "{message}: {m}");
        let text = m["message"].as_str().unwrap();
        assert!(text.contains(expected), "{message}: {text}");
    }
    client
        .socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let m = client.next("an error").await;
    assert_eq!(m["type"], "error", "{m}");

    // An unknown run is named and skipped; the known one is subscribed.
    let unknown = RunId::new();
    client
        .send(json!({"type": "subscribe", "runs": [unknown, run]}))
        .await;
    let m = client.next("unknown run error").await;
    assert_eq!(m["type"], "error", "{m}");
    let message = m["message"].as_str().unwrap();
    assert!(
        message.starts_with("runs[0]: ") && message.contains(&unknown.to_string()),
        "{m}"
    );
    let m = client.next("snapshot").await;
    assert_eq!(m["type"], "run_progress", "{m}");
    assert_eq!(m["run"]["id"], json!(run));
    let m = client.next("subscribed").await;
    assert_eq!(m, json!({"type": "subscribed", "runs": [run], "jobs": []}));

    client
        .send(json!({"type": "unsubscribe", "runs": [run]}))
        .await;
    let m = client.next("unsubscribed").await;
    assert_eq!(
        m,
        json!({"type": "unsubscribed", "runs": [run], "jobs": []})
    );

    // A plain GET is refused the way every REST error is.
    let response = http_get(controller.http, "/api/v1/ws").await;
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    controller.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_without_holding_up_ingest_or_other_clients() {
    const RESULTS: usize = 5000;
    const BATCH: usize = 500;
    let (store, _db) = fresh_database().await;
    let (run, chunk) = queued_run(&store, RESULTS).await;
    let server = WsServer::start(&store, EventBus::default()).await;

    let mut stuck = WsClient::connect_with_tiny_buffer(server.addr, &server.token).await;
    stuck.subscribe(&[run], &[]).await;
    let mut watching = WsClient::connect(server.addr, &server.token).await;
    watching.subscribe(&[run], &[]).await;
    assert_eq!(server.events.subscribers(), 2);

    // What the session does per batch: commit, then publish. About 16 MB of results go
    // out to each client; the stuck one has stopped reading.
    let started = Instant::now();
    let mut slowest_publish = Duration::ZERO;
    for batch in chunk.targets.chunks(BATCH) {
        let records: Vec<ResultRecord> = batch
            .iter()
            .map(|target| ok_result(run, target, 4000))
            .collect();
        store
            .ingest_results(Some(chunk.id), None, &records)
            .await
            .unwrap();
        let publish = Instant::now();
        server.events.results_stored(run, records.into());
        slowest_publish = slowest_publish.max(publish.elapsed());
    }
    let ingested = Instant::now();
    assert!(
        slowest_publish < Duration::from_millis(100),
        "publishing took {slowest_publish:?}"
    );

    watching
        .wait_for("the run to complete", |m| {
            m["type"] == "run_progress" && m["run"]["status"] == "completed"
        })
        .await;
    let seen_after = ingested.elapsed();
    // The server gives a stuck socket 10 s; the other client must not wait for that.
    assert!(
        seen_after < Duration::from_secs(5),
        "completion reached the reading client {seen_after:?} after ingest ended \
         (ingest took {:?})",
        ingested - started
    );
    // Every result was either delivered or reported skipped (rate limit), none lost.
    let deadline = Instant::now() + WAIT;
    loop {
        let (delivered, skipped) = watching.results_accounted(run);
        if delivered + skipped == RESULTS as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} delivered + {skipped} skipped of {RESULTS}"
        );
        watching.next("results or results_skipped").await;
    }

    // The server gives up on the stuck socket and drops the connection (and its bus
    // receiver); the reading client stays.
    crate::helpers::wait_for("the server to drop the stuck connection", WAIT, || async {
        server.events.subscribers() <= 1
    })
    .await;
    // What the buffers held, then the end of the stream.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = stuck.socket.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stuck client sees its connection end");
    watching
        .send(json!({"type": "unsubscribe", "runs": [run]}))
        .await;
    watching
        .wait_for("unsubscribed", |m| m["type"] == "unsubscribed")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_job_subscription_shows_runs_started_after_it() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    // Overlap allowed: the runs stay queued (no agent), and each fire must still run.
    let spec: JobSpec = serde_json::from_value(json!({
        "name": "every second",
        "schedule": {"type": "interval", "seconds": 1},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp"}],
        "options": {"overlap": "allow"},
    }))
    .unwrap();
    let job = store.create_job(&spec).await.unwrap();
    let mut client = WsClient::connect(controller.http, &controller.admin_token).await;
    let subscribed = client.subscribe(&[], &[job.id]).await;
    assert_eq!(subscribed["jobs"], json!([job.id]));
    let before: HashSet<RunId> = store
        .runs_of_job(job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();

    let m = client
        .wait_for("a new run of the job", |m| {
            m["type"] == "run_progress"
                && m["run"]["job_id"] == json!(job.id)
                && serde_json::from_value::<RunId>(m["run"]["id"].clone())
                    .is_ok_and(|id| !before.contains(&id))
        })
        .await;
    assert_eq!(m["run"]["status"], "queued", "{m}");
    assert!(
        m["run"]["trigger"] == "schedule" || m["run"]["trigger"] == "catch_up",
        "{m}"
    );
    controller.stop().await;
}

#[tokio::test]
async fn a_client_that_falls_behind_the_bus_gets_a_resync_with_fresh_snapshots() {
    let (store, _db) = fresh_database().await;
    let (run, chunk) = queued_run(&store, 1).await;
    // A bus that keeps two events per subscriber.
    let server = WsServer::start(&store, EventBus::new(2)).await;
    let mut client = WsClient::connect(server.addr, &server.token).await;
    client.subscribe(&[run], &[]).await;

    // Published without a pause (this runtime has one thread): the connection cannot
    // read in between, so it falls 98 events behind.
    let result = ok_result(run, &chunk.targets[0], 0);
    for _ in 0..100 {
        server
            .events
            .results_stored(run, vec![result.clone()].into());
    }
    client.wait_for("resync", |m| m["type"] == "resync").await;
    let m = client.next("a fresh snapshot").await;
    assert_eq!(m["type"], "run_progress", "{m}");
    assert_eq!(m["run"]["id"], json!(run));
    // Only the newest events survive the lag.
    let (delivered, _) = client.results_accounted(run);
    assert!(
        delivered <= 2,
        "{delivered} results delivered despite the lag"
    );
    server.stop().await;
}

/// The real `/api/v1/ws` route and progress pump on their own listener and bus, for tests
/// that publish on the bus themselves or watch its subscribers.
struct WsServer {
    addr: SocketAddr,
    /// A viewer's API token.
    token: String,
    events: EventBus,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    pump: JoinHandle<()>,
}

impl WsServer {
    async fn start(store: &PgStore, events: EventBus) -> Self {
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let auth = Auth::new(
            std::sync::Arc::new(store.clone()),
            TEST_AUTH_KEY.as_bytes(),
            AuthSettings::default(),
        );
        auth.create_user("watcher", "", Role::Viewer, "a password for watching")
            .await
            .unwrap();
        let token = api_token(store, "watcher", Role::Viewer).await;
        let app = ws::router(WsState {
            store: std::sync::Arc::new(store.clone()),
            events: events.clone(),
            shutdown: shutdown.clone(),
            auth,
        });
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        let pump = tokio::spawn(run_progress_pump(
            events.clone(),
            std::sync::Arc::new(store.clone()),
            PROGRESS_INTERVAL,
            shutdown.clone(),
        ));
        Self {
            addr,
            token,
            events,
            shutdown,
            server,
            pump,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
        self.pump.await.unwrap();
    }
}

/// An ok result of action 0 on `target` with `excerpt_bytes` of raw output.
fn ok_result(run: RunId, target: &str, excerpt_bytes: usize) -> ResultRecord {
    ResultRecord {
        run_id: run,
        target: target.to_owned(),
        action_index: 0,
        status: ResultStatus::Ok,
        started_at: Utc::now(),
        duration_ms: 0.5,
        timings: serde_json::Map::new(),
        fields: serde_json::Map::new(),
        rows: Vec::new(),
        raw_excerpt: (excerpt_bytes > 0).then(|| "x".repeat(excerpt_bytes)),
        reason: None,
        agent_id: None,
    }
}

/// A bare HTTP/1.1 GET; the whole response as text.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}
