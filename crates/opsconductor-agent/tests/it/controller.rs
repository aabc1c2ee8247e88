//! A stand-in for the controller's `AgentService`: it records what the agent sends and
//! acks result batches, and can withhold acks, drop the session, cancel runs, refuse
//! credentials or reject the agent. The lead's end-to-end tests use the real controller.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use opsconductor_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use opsconductor_proto::v1::{
    self, AgentMessage, ControllerMessage, FetchCredentialRequest, FetchCredentialResponse,
    RegisterRequest, RegisterResponse, agent_message, controller_message,
};

/// The enrollment token the fake controller accepts (once).
pub const TOKEN: &str = "enroll-me";

/// Everything the agent sent, in arrival order.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub registers: Vec<RegisterRequest>,
    pub hellos: Vec<v1::Hello>,
    /// Sessions opened (authorised ones).
    pub sessions: usize,
    /// Every batch, with the number of the session it came on (1-based).
    pub batches: Vec<(usize, v1::ResultBatch)>,
    pub events: Vec<v1::ChunkEvent>,
    pub heartbeats: Vec<v1::Heartbeat>,
    pub fetches: Vec<FetchCredentialRequest>,
    pub host_key_checks: Vec<v1::VerifyHostKeyRequest>,
    /// Seqs of the current session received while acks were withheld.
    pub held: Vec<u64>,
}

impl Recorded {
    /// Results received for a chunk, every copy.
    pub fn results_of(&self, chunk_id: &str) -> Vec<v1::Result> {
        self.batches
            .iter()
            .filter(|(_, b)| b.chunk_id == chunk_id)
            .flat_map(|(_, b)| b.results.iter().cloned())
            .collect()
    }

    /// Events of one kind for a chunk.
    pub fn events_of(&self, chunk_id: &str, kind: v1::chunk_event::Kind) -> Vec<v1::ChunkEvent> {
        self.events
            .iter()
            .filter(|e| e.chunk_id == chunk_id && e.kind == i32::from(kind))
            .cloned()
            .collect()
    }

    pub fn finished(&self, chunk_id: &str) -> Option<v1::ChunkEvent> {
        self.events_of(chunk_id, v1::chunk_event::Kind::Finished)
            .into_iter()
            .next()
    }
}

type Outbound = mpsc::Sender<Result<ControllerMessage, Status>>;
/// A stored credential: (kind, secret JSON), or the code to refuse it with.
type StoredCredential = Result<(String, String), tonic::Code>;

pub struct State {
    pub agent_id: String,
    pub secret: String,
    pub segment: String,
    recorded: Mutex<Recorded>,
    pub withhold_acks: AtomicBool,
    pub reject_sessions: AtomicBool,
    pub heartbeat_ms: AtomicU32,
    token_used: AtomicBool,
    cancelled_runs: Mutex<Vec<String>>,
    /// The open session: its number, kill switch and outbound sender.
    current: Mutex<Option<(usize, CancellationToken, Outbound)>>,
    /// Credential id → (kind, secret JSON), or the status to fail with.
    pub credentials: Mutex<HashMap<String, StoredCredential>>,
    /// The host-key record, with the controller's trust-on-first-use rules.
    pub host_keys: opsconductor_actions::hostkey::MemoryTofu,
}

impl State {
    fn record(&self, change: impl FnOnce(&mut Recorded)) {
        change(&mut self.recorded.lock().unwrap());
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let metadata = request.metadata();
        let bearer = metadata.get("authorization").and_then(|v| v.to_str().ok());
        let agent = metadata.get("x-agent-id").and_then(|v| v.to_str().ok());
        if self.reject_sessions.load(Ordering::SeqCst) {
            return Err(Status::unauthenticated("agent identity revoked"));
        }
        if bearer != Some(&format!("Bearer {}", self.secret)) || agent != Some(&self.agent_id) {
            return Err(Status::unauthenticated("unknown agent or wrong secret"));
        }
        Ok(())
    }

    async fn send(&self, message: controller_message::Body) {
        let tx = self
            .current
            .lock()
            .unwrap()
            .as_ref()
            .map(|(_, _, tx)| tx.clone());
        if let Some(tx) = tx {
            let _ = tx
                .send(Ok(ControllerMessage {
                    body: Some(message),
                }))
                .await;
        }
    }

    async fn on_message(&self, session: usize, message: AgentMessage, tx: &Outbound) {
        let reply = |body| ControllerMessage { body: Some(body) };
        match message.body {
            Some(agent_message::Body::Hello(hello)) => {
                self.record(|r| r.hellos.push(hello));
                let welcome = v1::Welcome {
                    heartbeat_interval_ms: self.heartbeat_ms.load(Ordering::SeqCst),
                    cancelled_run_ids: self.cancelled_runs.lock().unwrap().clone(),
                };
                let _ = tx
                    .send(Ok(reply(controller_message::Body::Welcome(welcome))))
                    .await;
            }
            Some(agent_message::Body::Heartbeat(heartbeat)) => {
                self.record(|r| r.heartbeats.push(heartbeat));
            }
            Some(agent_message::Body::Results(batch)) => {
                let seq = batch.seq;
                let withhold = self.withhold_acks.load(Ordering::SeqCst);
                self.record(|r| {
                    r.batches.push((session, batch));
                    if withhold {
                        r.held.push(seq);
                    }
                });
                if !withhold {
                    let _ = tx
                        .send(Ok(reply(controller_message::Body::Ack(v1::BatchAck {
                            seq,
                        }))))
                        .await;
                }
            }
            Some(agent_message::Body::Chunk(event)) => self.record(|r| r.events.push(event)),
            None => {}
        }
    }
}

#[derive(Clone)]
struct Service(Arc<State>);

#[tonic::async_trait]
impl AgentService for Service {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let request = request.into_inner();
        let valid = request.enrollment_token == TOKEN;
        self.0.record(|r| r.registers.push(request));
        if !valid || self.0.token_used.swap(true, Ordering::SeqCst) {
            return Err(Status::permission_denied(
                "enrollment token unknown or used",
            ));
        }
        Ok(Response::new(RegisterResponse {
            agent_id: self.0.agent_id.clone(),
            agent_secret: self.0.secret.clone(),
            segment: self.0.segment.clone(),
        }))
    }

    type SessionStream = ReceiverStream<Result<ControllerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        self.0.authorize(&request)?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(4096);
        let kill = CancellationToken::new();
        let number = {
            let mut recorded = self.0.recorded.lock().unwrap();
            recorded.sessions += 1;
            recorded.held.clear();
            recorded.sessions
        };
        if let Some((_, old, _)) =
            self.0
                .current
                .lock()
                .unwrap()
                .replace((number, kill.clone(), tx.clone()))
        {
            old.cancel();
        }
        let state = Arc::clone(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = kill.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("session dropped by the test"))).await;
                        break;
                    }
                    message = inbound.message() => match message {
                        Ok(Some(message)) => state.on_message(number, message, &tx).await,
                        _ => break,
                    },
                }
            }
            state
                .current
                .lock()
                .unwrap()
                .take_if(|(n, _, _)| *n == number);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn fetch_credential(
        &self,
        request: Request<FetchCredentialRequest>,
    ) -> Result<Response<FetchCredentialResponse>, Status> {
        self.0.authorize(&request)?;
        let request = request.into_inner();
        let id = request.credential_id.clone();
        self.0.record(|r| r.fetches.push(request));
        match self.0.credentials.lock().unwrap().get(&id) {
            Some(Ok((kind, secret_json))) => Ok(Response::new(FetchCredentialResponse {
                credential_id: id,
                kind: kind.clone(),
                secret_json: secret_json.clone(),
            })),
            Some(Err(code)) => Err(Status::new(*code, format!("credential {id} refused"))),
            None => Err(Status::not_found(format!("no credential {id}"))),
        }
    }

    async fn verify_host_key(
        &self,
        request: Request<v1::VerifyHostKeyRequest>,
    ) -> Result<Response<v1::VerifyHostKeyResponse>, Status> {
        use opsconductor_actions::hostkey::{HostKey, HostKeyDecision, HostKeyVerifier as _};
        use v1::verify_host_key_response::Decision;
        self.0.authorize(&request)?;
        let request = request.into_inner();
        self.0.record(|r| r.host_key_checks.push(request.clone()));
        let key = HostKey {
            algorithm: request.algorithm,
            fingerprint: request.fingerprint,
        };
        let port = u16::try_from(request.port).unwrap();
        let (decision, expected) = match self.0.host_keys.verify(&request.host, port, &key).await {
            HostKeyDecision::Trusted => (Decision::Trusted, String::new()),
            HostKeyDecision::TrustedOnFirstUse => (Decision::TrustedOnFirstUse, String::new()),
            HostKeyDecision::Changed { expected } => (Decision::Changed, expected),
            HostKeyDecision::Unverified { reason } => return Err(Status::internal(reason)),
        };
        Ok(Response::new(v1::VerifyHostKeyResponse {
            decision: decision.into(),
            expected,
        }))
    }
}

/// The fake controller, serving on a loopback port until dropped.
pub struct FakeController {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl FakeController {
    pub async fn start(segment: &str) -> Self {
        let state = Arc::new(State {
            agent_id: uuid::Uuid::now_v7().to_string(),
            secret: format!("secret-{}", uuid::Uuid::new_v4().simple()),
            segment: segment.to_owned(),
            recorded: Mutex::default(),
            withhold_acks: AtomicBool::new(false),
            reject_sessions: AtomicBool::new(false),
            heartbeat_ms: AtomicU32::new(200),
            token_used: AtomicBool::new(false),
            cancelled_runs: Mutex::default(),
            current: Mutex::default(),
            credentials: Mutex::default(),
            host_keys: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let state = Arc::clone(&state);
            let stop = stop.clone();
            async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(AgentServiceServer::from_arc(Arc::new(Service(state))))
                    .serve_with_incoming_shutdown(
                        TcpListenerStream::new(listener),
                        stop.cancelled_owned(),
                    )
                    .await;
            }
        });
        Self {
            addr,
            state,
            stop,
            server: Some(server),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn snapshot(&self) -> Recorded {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Polls until `done` holds, failing the test after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let recorded = self.snapshot();
            if done(&recorded) {
                return recorded;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; recorded: {} sessions, {} batches, events {:?}",
                recorded.sessions,
                recorded.batches.len(),
                recorded.events
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends the open session with UNAVAILABLE, as a crashing controller replica would.
    pub fn drop_session(&self) {
        if let Some((_, kill, _)) = self.state.current.lock().unwrap().take() {
            kill.cancel();
        }
    }

    /// Starts acking again, including every batch held so far on the open session.
    pub async fn release_acks(&self) {
        self.state.withhold_acks.store(false, Ordering::SeqCst);
        let held = std::mem::take(&mut self.state.recorded.lock().unwrap().held);
        for seq in held {
            self.state
                .send(controller_message::Body::Ack(v1::BatchAck { seq }))
                .await;
        }
    }

    /// Cancels a run: remembered for later welcomes and sent on the open session.
    pub async fn cancel_run(&self, run_id: &str) {
        self.state
            .cancelled_runs
            .lock()
            .unwrap()
            .push(run_id.to_owned());
        self.state
            .send(controller_message::Body::Cancel(v1::CancelRun {
                run_id: run_id.to_owned(),
                reason: "cancelled by the test".to_owned(),
            }))
            .await;
    }

    pub fn set_credential(&self, id: &str, credential: Result<(&str, &str), tonic::Code>) {
        self.state.credentials.lock().unwrap().insert(
            id.to_owned(),
            credential.map(|(kind, json)| (kind.to_owned(), json.to_owned())),
        );
    }
}

impl Drop for FakeController {
    fn drop(&mut self) {
        self.drop_session();
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
