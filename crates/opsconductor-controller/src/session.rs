//! `AgentService`: enrollment, the session stream that carries results in and acks and
//! cancellations out, and just-in-time credentials.
//!
//! The ordering that makes results exactly-once lives here: a batch is acked only after
//! [`ResultStore::ingest_results`] committed it. If the database is down the session ends
//! with `UNAVAILABLE` and nothing is acked, so the agent keeps the batch and sends it again
//! on its next session; a batch that was committed but whose ack was lost comes back as
//! duplicates, which the result key collapses.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use opsconductor_core::ids::{AgentId, ChunkId, CredentialId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use opsconductor_proto::convert::{parse_id, result_from_proto};
use opsconductor_proto::v1::{self, agent_message, controller_message};
use opsconductor_store::prelude::*;
use opsconductor_store::{AgentRecord, ChunkState, HostKeyVerdict, StoreError};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::error::ControllerError;
use crate::events::EventBus;
use crate::vault::Vault;

/// Messages queued towards one agent before the session counts as stuck.
const OUTBOUND_BUFFER: usize = 1024;
/// Longest agent name accepted at registration.
const MAX_AGENT_NAME: usize = 200;

type Outbound = mpsc::Sender<Result<v1::ControllerMessage, Status>>;

/// One open session as the hub sees it.
struct OpenSession {
    generation: u64,
    tx: Outbound,
    /// Cancelled when a newer session of the same agent replaces this one.
    replaced: CancellationToken,
}

/// The open sessions, so cancellations reach every agent.
#[derive(Default)]
pub struct SessionHub {
    sessions: Mutex<HashMap<AgentId, OpenSession>>,
    next_generation: std::sync::atomic::AtomicU64,
}

impl SessionHub {
    /// Registers a session; a previous session of the same agent is told to end (two
    /// processes sharing one identity must not both ingest).
    fn open(&self, agent: AgentId, tx: Outbound) -> (u64, CancellationToken) {
        let generation = self
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let replaced = CancellationToken::new();
        let previous = self.lock().insert(
            agent,
            OpenSession {
                generation,
                tx,
                replaced: replaced.clone(),
            },
        );
        if let Some(previous) = previous {
            previous.replaced.cancel();
        }
        (generation, replaced)
    }

    fn close(&self, agent: AgentId, generation: u64) {
        let mut sessions = self.lock();
        if sessions
            .get(&agent)
            .is_some_and(|open| open.generation == generation)
        {
            sessions.remove(&agent);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, OpenSession>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the session of `agent` on this controller, if it has one here (after a
    /// revocation; replicas without it end theirs at the agent's next heartbeat).
    pub fn disconnect(&self, agent: AgentId) {
        if let Some(open) = self.lock().remove(&agent) {
            open.replaced.cancel();
        }
    }

    /// Agents with an open session.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    /// Tells every agent connected to this controller to stop `run`. Agents that connect
    /// later learn it from their Welcome, which lists recently ended runs from the store.
    pub fn cancel_run(&self, run: RunId, reason: &str) {
        let message = v1::ControllerMessage {
            body: Some(controller_message::Body::Cancel(v1::CancelRun {
                run_id: run.to_string(),
                reason: reason.to_owned(),
            })),
        };
        for open in self.lock().values() {
            // A full buffer means the agent is not reading; it learns from Welcome later.
            let _ = open.tx.try_send(Ok(message.clone()));
        }
    }
}

/// The gRPC service agents talk to.
pub struct AgentServiceImpl {
    store: SharedStore,
    hub: Arc<SessionHub>,
    events: EventBus,
    heartbeat_interval: Duration,
    shutdown: CancellationToken,
    vault: Option<Arc<Vault>>,
}

impl AgentServiceImpl {
    /// A service backed by `store`, announcing `heartbeat_interval` to agents and telling
    /// `events` about every batch it stores. Sessions end with `UNAVAILABLE` when
    /// `shutdown` fires, so agents move on to another replica and the gRPC server can stop.
    pub fn new(
        store: SharedStore,
        hub: Arc<SessionHub>,
        events: EventBus,
        heartbeat_interval: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            hub,
            events,
            heartbeat_interval,
            shutdown,
            vault: None,
        }
    }

    /// The same service handing out credentials sealed by `vault` (`None`: every fetch
    /// is refused with `FAILED_PRECONDITION`).
    #[must_use]
    pub fn with_vault(mut self, vault: Option<Arc<Vault>>) -> Self {
        self.vault = vault;
        self
    }

    /// The secret of `credential_id` for `agent`, if the chunk is one routed to its
    /// segment, still out, and of a run whose job uses that credential. Refusals name
    /// the chunk and the credential, never secret material.
    async fn credential_for(
        &self,
        agent: &AgentRecord,
        chunk_id: &str,
        credential_id: &str,
    ) -> Result<v1::FetchCredentialResponse, Status> {
        let chunk_id: ChunkId =
            parse_id("chunk_id", chunk_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let credential_id: CredentialId = parse_id("credential_id", credential_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let not_yours = || {
            Status::permission_denied(format!(
                "chunk {chunk_id} was not routed to this agent's segment {:?}",
                agent.segment
            ))
        };
        let chunk = match self.store.get_chunk(chunk_id).await {
            Ok(chunk) => chunk,
            Err(StoreError::NotFound { .. }) => return Err(not_yours()),
            Err(e) => return Err(ControllerError::from(e).into()),
        };
        if chunk.segment != agent.segment {
            return Err(not_yours());
        }
        if !matches!(chunk.state, ChunkState::Published | ChunkState::Running) {
            return Err(Status::failed_precondition(format!(
                "chunk {chunk_id} is {:?}: credentials are handed out only while it runs",
                chunk.state
            )));
        }
        let spec = self
            .store
            .run_job_spec(chunk.run_id)
            .await
            .map_err(ControllerError::from)?;
        if !spec
            .actions
            .iter()
            .any(|a| a.credential == Some(credential_id))
        {
            return Err(Status::permission_denied(format!(
                "chunk {chunk_id} has no action using credential {credential_id}"
            )));
        }
        let Some(vault) = &self.vault else {
            return Err(Status::failed_precondition(format!(
                "credential {credential_id}: this controller has no vault key configured"
            )));
        };
        let (meta, sealed) = self
            .store
            .sealed_credential(credential_id)
            .await
            .map_err(ControllerError::from)?;
        let secret_json = vault
            .open(credential_id, meta.kind, &sealed)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        tracing::info!(
            agent.id = %agent.id, chunk.id = %chunk_id, credential.id = %credential_id,
            "credential handed to agent"
        );
        Ok(v1::FetchCredentialResponse {
            credential_id: credential_id.to_string(),
            kind: meta.kind.as_str().to_owned(),
            secret_json,
        })
    }

    async fn authenticate<T>(&self, request: &Request<T>) -> Result<AgentRecord, Status> {
        let metadata = request.metadata();
        let agent_id = metadata
            .get("x-agent-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("missing x-agent-id metadata"))?;
        let agent_id: AgentId =
            parse_id("x-agent-id", agent_id).map_err(|e| Status::unauthenticated(e.to_string()))?;
        let secret = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer metadata"))?;
        Ok(self
            .store
            .authenticate_agent(agent_id, secret)
            .await
            .map_err(ControllerError::from)?)
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<v1::ControllerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl v1::agent_service_server::AgentService for AgentServiceImpl {
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        let r = request.into_inner();
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > MAX_AGENT_NAME {
            return Err(Status::invalid_argument(format!(
                "name: must be 1 to {MAX_AGENT_NAME} characters"
            )));
        }
        if r.enrollment_token.is_empty() {
            return Err(Status::invalid_argument(
                "enrollment_token: must not be empty",
            ));
        }
        let registered = self
            .store
            .register_agent(&r.enrollment_token, name, &r.version, &r.capabilities)
            .await
            .map_err(|e| match e {
                StoreError::Unauthorized { message } => Status::permission_denied(message),
                other => ControllerError::from(other).into(),
            })?;
        tracing::info!(agent.id = %registered.agent_id, segment = %registered.segment, "agent registered");
        Ok(Response::new(v1::RegisterResponse {
            agent_id: registered.agent_id.to_string(),
            agent_secret: registered.secret,
            segment: registered.segment,
        }))
    }

    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let agent = self.authenticate(&request).await?;
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(v1::AgentMessage {
                body: Some(agent_message::Body::Hello(hello)),
            }) => hello,
            _ => {
                return Err(Status::invalid_argument(
                    "the first session message must be Hello",
                ));
            }
        };
        let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
        // Registered before the Welcome is built, so a cancel in between reaches the
        // session either way.
        let (generation, replaced) = self.hub.open(agent.id, tx.clone());
        let ended = match self
            .store
            .recently_ended_runs(ENDED_RUNS_WINDOW, MAX_ENDED_RUNS)
            .await
        {
            Ok(runs) => runs,
            Err(e) => {
                self.hub.close(agent.id, generation);
                return Err(unavailable(e));
            }
        };
        let welcome = v1::ControllerMessage {
            body: Some(controller_message::Body::Welcome(v1::Welcome {
                heartbeat_interval_ms: u32::try_from(self.heartbeat_interval.as_millis())
                    .unwrap_or(u32::MAX),
                cancelled_run_ids: ended.iter().map(ToString::to_string).collect(),
            })),
        };
        tx.send(Ok(welcome))
            .await
            .map_err(|_| Status::cancelled("session closed"))?;
        tracing::info!(agent.id = %agent.id, segment = %agent.segment, version = %hello.version, "agent session opened");
        crate::metrics::sessions_changed(self.hub.connected());
        let session = Session {
            store: self.store.clone(),
            events: self.events.clone(),
            agent,
            tx,
            scopes: Mutex::new(HashMap::new()),
        };
        let hub = self.hub.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let agent_id = session.agent.id;
            let outcome = tokio::select! {
                outcome = session.serve(&mut inbound) => outcome,
                () = replaced.cancelled() => Err(Status::aborted(
                    "the controller ended this session: a newer session of this agent replaced it (is the identity file shared by two agents?), or the agent was revoked",
                )),
                () = shutdown.cancelled() => Err(Status::unavailable("controller shutting down")),
            };
            hub.close(agent_id, generation);
            crate::metrics::sessions_changed(hub.connected());
            match outcome {
                Ok(()) => tracing::info!(agent.id = %agent_id, "agent session closed"),
                Err(status) => {
                    tracing::warn!(agent.id = %agent_id, error = %status.message(), "agent session ended");
                    let _ = session.tx.send(Err(status)).await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn fetch_credential(
        &self,
        request: Request<v1::FetchCredentialRequest>,
    ) -> Result<Response<v1::FetchCredentialResponse>, Status> {
        let agent = self.authenticate(&request).await?;
        let r = request.into_inner();
        let response = self
            .credential_for(&agent, &r.chunk_id, &r.credential_id)
            .await?;
        Ok(Response::new(response))
    }

    async fn verify_host_key(
        &self,
        request: Request<v1::VerifyHostKeyRequest>,
    ) -> Result<Response<v1::VerifyHostKeyResponse>, Status> {
        use v1::verify_host_key_response::Decision;
        let agent = self.authenticate(&request).await?;
        let r = request.into_inner();
        let port = u16::try_from(r.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!("port: {} is not a TCP port", r.port))
            })?;
        for (field, value, longest) in [
            ("host", &r.host, 255),
            ("algorithm", &r.algorithm, 100),
            ("fingerprint", &r.fingerprint, 200),
        ] {
            if value.is_empty() || value.len() > longest {
                return Err(Status::invalid_argument(format!(
                    "{field}: must be 1 to {longest} bytes"
                )));
            }
        }
        let verdict = self
            .store
            .verify_host_key(&r.host, port, &r.algorithm, &r.fingerprint, agent.id)
            .await
            .map_err(ControllerError::from)?;
        let (decision, expected) = match verdict {
            HostKeyVerdict::Trusted => (Decision::Trusted, String::new()),
            HostKeyVerdict::TrustedOnFirstUse => {
                tracing::info!(agent.id = %agent.id, ssh.host = %r.host, ssh.port = port,
                    ssh.host_key = %r.fingerprint, "ssh host key recorded on first use");
                (Decision::TrustedOnFirstUse, String::new())
            }
            HostKeyVerdict::Changed { expected } => {
                tracing::warn!(agent.id = %agent.id, ssh.host = %r.host, ssh.port = port,
                    ssh.host_key = %r.fingerprint, expected = %expected,
                    "ssh host key changed: refused");
                (Decision::Changed, expected)
            }
        };
        Ok(Response::new(v1::VerifyHostKeyResponse {
            decision: decision.into(),
            expected,
        }))
    }
}

/// One agent's open session.
struct Session {
    store: SharedStore,
    /// Told about each stored batch; publishing never waits.
    events: EventBus,
    agent: AgentRecord,
    tx: Outbound,
    /// What the chunks this agent reported on may contain, loaded once per chunk.
    scopes: Mutex<HashMap<ChunkId, Arc<ChunkScope>>>,
}

/// The (target, action) pairs a chunk may report, and whose they are.
struct ChunkScope {
    run_id: RunId,
    segment: String,
    targets: HashSet<String>,
    action_count: u32,
}

/// Chunk scopes cached per session before the cache is emptied.
const MAX_CACHED_SCOPES: usize = 256;
/// How far back the Welcome's list of ended runs reaches, and its length.
const ENDED_RUNS_WINDOW: Duration = Duration::from_secs(24 * 3600);
const MAX_ENDED_RUNS: u32 = 10_000;

impl Session {
    async fn serve(&self, inbound: &mut Streaming<v1::AgentMessage>) -> Result<(), Status> {
        while let Some(message) = inbound.message().await? {
            match message.body {
                Some(agent_message::Body::Results(batch)) => self.ingest(batch).await?,
                Some(agent_message::Body::Heartbeat(h)) => {
                    let heartbeat = json!({
                        "chunks_in_flight": h.chunks_in_flight,
                        "targets_in_flight": h.targets_in_flight,
                        "max_concurrency": h.max_concurrency,
                        "results_buffered": h.results_buffered,
                        "results_dropped_total": h.results_dropped_total,
                        "load1": h.load1,
                    });
                    // A revoked agent's session ends here, on every replica, within one
                    // heartbeat interval.
                    self.store
                        .record_heartbeat(self.agent.id, &heartbeat)
                        .await
                        .map_err(|e| match e {
                            StoreError::Unauthorized { message } => {
                                Status::permission_denied(message)
                            }
                            other => unavailable(other),
                        })?;
                }
                Some(agent_message::Body::Chunk(event)) => self.chunk_event(event).await?,
                Some(agent_message::Body::Hello(_)) => {
                    return Err(Status::invalid_argument("Hello may only be sent once"));
                }
                None => return Err(Status::invalid_argument("empty agent message")),
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(agent.id = %self.agent.id, chunk.id = %batch.chunk_id, seq = batch.seq))]
    async fn ingest(&self, batch: v1::ResultBatch) -> Result<(), Status> {
        let seq = batch.seq;
        let chunk_id = batch.chunk_id.parse::<ChunkId>().ok();
        match self.checked_records(batch).await {
            Ok(records) => {
                let started = std::time::Instant::now();
                match self
                    .store
                    .ingest_results(chunk_id, Some(self.agent.id), &records)
                    .await
                {
                    Ok(outcome) => {
                        crate::metrics::ingested(
                            outcome.inserted,
                            outcome.duplicates,
                            started.elapsed(),
                        );
                        crate::metrics::results_received(&records);
                        // A batch of only duplicates changed nothing worth telling.
                        if outcome.inserted > 0
                            && let Some(run_id) = records.first().map(|r| r.run_id)
                        {
                            self.events.results_stored(run_id, records.into());
                        }
                    }
                    // Worth retrying: end the session; the agent resends on the next one.
                    Err(e) if e.is_transient() => return Err(unavailable(e)),
                    // Never storable (a run gone with retention, a value the schema
                    // refuses): resending would block the agent's queue forever.
                    Err(e) => {
                        crate::metrics::batch_rejected();
                        tracing::error!(error = %e, "result batch cannot be stored; dropping it");
                    }
                }
            }
            Err(why) => {
                crate::metrics::batch_rejected();
                tracing::warn!(reason = %why, "result batch refused");
            }
        }
        self.send(controller_message::Body::Ack(v1::BatchAck { seq }))
            .await
    }

    /// The batch's results that belong to its chunk, converted. Results for targets or
    /// actions outside the chunk, or a chunk of another segment, are refused: an agent
    /// reports only on work it was given.
    async fn checked_records(&self, batch: v1::ResultBatch) -> Result<Vec<ResultRecord>, String> {
        let chunk_id: ChunkId = parse_id("chunk_id", &batch.chunk_id).map_err(|e| e.to_string())?;
        let scope = self.scope(chunk_id).await?;
        if batch.run_id != scope.run_id.to_string() {
            return Err(format!(
                "run_id {} is not the run of chunk {chunk_id}",
                batch.run_id
            ));
        }
        let mut records = Vec::with_capacity(batch.results.len());
        let mut outside = 0_usize;
        for (i, r) in batch.results.into_iter().enumerate() {
            if !scope.targets.contains(&r.target) || r.action_index >= scope.action_count {
                outside += 1;
                continue;
            }
            let (target, action_index) = (r.target.clone(), r.action_index);
            match result_from_proto(
                &format!("results[{i}]"),
                scope.run_id,
                Some(self.agent.id),
                r,
            ) {
                Ok(record) => records.push(record),
                // Still the outcome of its (target, action): record it as an error so the
                // run completes, with the reason.
                Err(e) => records.push(malformed_result(
                    scope.run_id,
                    self.agent.id,
                    target,
                    action_index,
                    &e,
                )),
            }
        }
        if outside > 0 {
            tracing::warn!(outside, "results outside their chunk refused");
        }
        Ok(records)
    }

    /// The chunk's scope, from the cache or the store.
    async fn scope(&self, chunk_id: ChunkId) -> Result<Arc<ChunkScope>, String> {
        if let Some(scope) = self.scopes_lock().get(&chunk_id) {
            return Ok(scope.clone());
        }
        let chunk = match self.store.get_chunk(chunk_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound { what }) => return Err(format!("{what} does not exist")),
            Err(e) => return Err(format!("loading chunk {chunk_id}: {e}")),
        };
        if chunk.segment != self.agent.segment {
            return Err(format!(
                "chunk {chunk_id} belongs to segment {:?}, not the agent's {:?}",
                chunk.segment, self.agent.segment
            ));
        }
        let scope = Arc::new(ChunkScope {
            run_id: chunk.run_id,
            segment: chunk.segment,
            targets: chunk.targets.into_iter().collect(),
            action_count: chunk.action_count,
        });
        let mut scopes = self.scopes_lock();
        if scopes.len() >= MAX_CACHED_SCOPES {
            scopes.clear();
        }
        scopes.insert(chunk_id, scope.clone());
        Ok(scope)
    }

    fn scopes_lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChunkId, Arc<ChunkScope>>> {
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn chunk_event(&self, event: v1::ChunkEvent) -> Result<(), Status> {
        let Ok(chunk_id) = event.chunk_id.parse::<ChunkId>() else {
            tracing::warn!(chunk.id = %event.chunk_id, "chunk event for a malformed chunk id");
            return Ok(());
        };
        let run_id = match self.scope(chunk_id).await {
            Ok(scope) if scope.segment == self.agent.segment => scope.run_id,
            Ok(_) | Err(_) => {
                tracing::warn!(chunk.id = %chunk_id, "chunk event for a chunk this agent was not given");
                return Ok(());
            }
        };
        let outcome = match v1::chunk_event::Kind::try_from(event.kind) {
            Ok(v1::chunk_event::Kind::Started) => {
                self.store
                    .chunk_started(chunk_id, self.agent.id, event.delivery_count)
                    .await
            }
            Ok(v1::chunk_event::Kind::Finished) => self.store.chunk_finished(chunk_id).await,
            Ok(v1::chunk_event::Kind::Released) => Ok(()),
            Ok(v1::chunk_event::Kind::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "chunk.kind: {} is not a chunk event kind",
                    event.kind
                )));
            }
        };
        match outcome {
            Ok(()) => {
                // A started chunk moves its run from queued to running: watchers see it
                // before the first result.
                self.events.run_changed(run_id);
                Ok(())
            }
            // An event for a chunk of a deleted run is harmless.
            Err(StoreError::NotFound { what }) => {
                tracing::debug!(%what, "chunk event for an unknown chunk");
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn send(&self, body: controller_message::Body) -> Result<(), Status> {
        self.tx
            .send(Ok(v1::ControllerMessage { body: Some(body) }))
            .await
            .map_err(|_| Status::cancelled("session closed"))
    }
}

/// The error result standing in for a result the agent sent malformed.
fn malformed_result(
    run_id: RunId,
    agent_id: AgentId,
    target: String,
    action_index: u32,
    error: &opsconductor_proto::ConvertError,
) -> ResultRecord {
    ResultRecord {
        run_id,
        target,
        action_index,
        status: ResultStatus::Error,
        started_at: chrono::Utc::now(),
        duration_ms: 0.0,
        timings: serde_json::Map::new(),
        fields: serde_json::Map::new(),
        rows: Vec::new(),
        raw_excerpt: None,
        reason: Some(format!("the agent sent a malformed result ({error})")),
        agent_id: Some(agent_id),
    }
}

/// Store failures during a session end it with `UNAVAILABLE`: the agent reconnects and
/// resends whatever was not acked.
fn unavailable(e: StoreError) -> Status {
    Status::unavailable(format!("controller cannot store right now: {e}"))
}
