//! `AgentService`: enrollment, the session stream that carries results in and acks and
//! cancellations out, and just-in-time credentials.
//!
//! The ordering that makes results exactly-once lives here: a batch is acked only after
//! [`PgStore::ingest_results`] committed it. If the database is down the session ends
//! with `UNAVAILABLE` and nothing is acked, so the agent keeps the batch and sends it again
//! on its next session; a batch that was committed but whose ack was lost comes back as
//! duplicates, which the result key collapses.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use opsconductor_proto::convert::{parse_id, result_from_proto};
use opsconductor_proto::v1::{self, agent_message, controller_message};
use opsconductor_store::{AgentRecord, PgStore, StoreError};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::ControllerError;

/// Messages queued towards one agent before the session counts as stuck.
const OUTBOUND_BUFFER: usize = 1024;
/// Longest agent name accepted at registration.
const MAX_AGENT_NAME: usize = 200;

type Outbound = mpsc::Sender<Result<v1::ControllerMessage, Status>>;

/// The open sessions, so cancellations reach every agent.
#[derive(Default)]
pub struct SessionHub {
    sessions: Mutex<HashMap<AgentId, (u64, Outbound)>>,
    next_generation: std::sync::atomic::AtomicU64,
    cancelled: Mutex<HashSet<RunId>>,
}

impl SessionHub {
    fn open(&self, agent: AgentId, tx: Outbound) -> u64 {
        let generation = self
            .next_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A new session from the same agent replaces the old one (its stream ends when
        // the old sender is dropped).
        self.lock().insert(agent, (generation, tx));
        generation
    }

    fn close(&self, agent: AgentId, generation: u64) {
        let mut sessions = self.lock();
        if sessions.get(&agent).is_some_and(|(g, _)| *g == generation) {
            sessions.remove(&agent);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (u64, Outbound)>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Agents with an open session.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    /// Tells every connected agent to stop `run`, and remembers it for agents that
    /// connect later (their Welcome lists it).
    pub fn cancel_run(&self, run: RunId, reason: &str) {
        self.cancelled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run);
        let message = v1::ControllerMessage {
            body: Some(controller_message::Body::Cancel(v1::CancelRun {
                run_id: run.to_string(),
                reason: reason.to_owned(),
            })),
        };
        for (_, tx) in self.lock().values() {
            // A full buffer means the agent is not reading; it learns from Welcome later.
            let _ = tx.try_send(Ok(message.clone()));
        }
    }

    fn cancelled_runs(&self) -> Vec<String> {
        self.cancelled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// The gRPC service agents talk to.
pub struct AgentServiceImpl {
    store: PgStore,
    hub: Arc<SessionHub>,
    heartbeat_interval: Duration,
}

impl AgentServiceImpl {
    /// A service backed by `store`, announcing `heartbeat_interval` to agents.
    pub fn new(store: PgStore, hub: Arc<SessionHub>, heartbeat_interval: Duration) -> Self {
        Self {
            store,
            hub,
            heartbeat_interval,
        }
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
        let welcome = v1::ControllerMessage {
            body: Some(controller_message::Body::Welcome(v1::Welcome {
                heartbeat_interval_ms: u32::try_from(self.heartbeat_interval.as_millis())
                    .unwrap_or(u32::MAX),
                cancelled_run_ids: self.hub.cancelled_runs(),
            })),
        };
        tx.send(Ok(welcome))
            .await
            .map_err(|_| Status::cancelled("session closed"))?;
        let generation = self.hub.open(agent.id, tx.clone());
        tracing::info!(agent.id = %agent.id, segment = %agent.segment, version = %hello.version, "agent session opened");
        crate::metrics::sessions_changed(self.hub.connected());
        let session = Session {
            store: self.store.clone(),
            agent,
            tx,
        };
        let hub = self.hub.clone();
        tokio::spawn(async move {
            let agent_id = session.agent.id;
            let outcome = session.serve(&mut inbound).await;
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
        let _agent = self.authenticate(&request).await?;
        let r = request.into_inner();
        Err(Status::failed_precondition(format!(
            "credential {}: this controller has no credential vault configured",
            r.credential_id
        )))
    }
}

/// One agent's open session.
struct Session {
    store: PgStore,
    agent: AgentRecord,
    tx: Outbound,
}

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
                    self.store
                        .record_heartbeat(self.agent.id, &heartbeat)
                        .await
                        .map_err(unavailable)?;
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
        let run_id: RunId = parse_id("run_id", &batch.run_id)?;
        let chunk_id: ChunkId = parse_id("chunk_id", &batch.chunk_id)?;
        let mut records = Vec::with_capacity(batch.results.len());
        for (i, r) in batch.results.into_iter().enumerate() {
            match result_from_proto(
                &format!("results[{i}]"),
                run_id,
                Some(self.agent.id),
                r.clone(),
            ) {
                Ok(record) => records.push(record),
                // A result that does not convert is still an outcome of its (target,
                // action): record it as an error so the run completes and the agent is not
                // left resending a batch the controller will never take.
                Err(e) => match invalid_result(run_id, self.agent.id, r, &e) {
                    Some(record) => records.push(record),
                    None => tracing::warn!(error = %e, "dropping a result without a usable target"),
                },
            }
        }
        let started = std::time::Instant::now();
        match self
            .store
            .ingest_results(Some(chunk_id), Some(self.agent.id), &records)
            .await
        {
            Ok(outcome) => {
                crate::metrics::ingested(outcome.inserted, outcome.duplicates, started.elapsed());
            }
            Err(StoreError::NotFound { what }) => {
                // Results of a run that no longer exists: nothing to keep; ack so the agent
                // stops resending them.
                tracing::warn!(%what, "dropping results of an unknown run");
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.send(controller_message::Body::Ack(v1::BatchAck {
            seq: batch.seq,
        }))
        .await
    }

    async fn chunk_event(&self, event: v1::ChunkEvent) -> Result<(), Status> {
        let chunk_id: ChunkId = parse_id("chunk_id", &event.chunk_id)?;
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
            Ok(()) => Ok(()),
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

/// The error result standing in for a result the agent sent malformed; `None` when even
/// its target is unusable.
fn invalid_result(
    run_id: RunId,
    agent_id: AgentId,
    r: v1::Result,
    error: &opsconductor_proto::ConvertError,
) -> Option<ResultRecord> {
    if r.target.is_empty() || r.target.len() > 255 {
        return None;
    }
    Some(ResultRecord {
        run_id,
        target: r.target,
        action_index: r.action_index,
        status: ResultStatus::Error,
        started_at: chrono::Utc::now(),
        duration_ms: 0.0,
        timings: serde_json::Map::new(),
        fields: serde_json::Map::new(),
        rows: Vec::new(),
        raw_excerpt: None,
        reason: Some(format!("the agent sent a malformed result ({error})")),
        agent_id: Some(agent_id),
    })
}

/// Store failures during a session end it with `UNAVAILABLE`: the agent reconnects and
/// resends whatever was not acked.
fn unavailable(e: StoreError) -> Status {
    Status::unavailable(format!("controller cannot store right now: {e}"))
}
