//! `GET /api/v1/ws`: live run progress and results over a WebSocket, fed by the
//! [`crate::events::EventBus`].
//!
//! # Authentication
//! The upgrade request carries the caller's token as `Authorization: Bearer <token>`, or
//! (browsers cannot set that header on a WebSocket) as a subprotocol entry
//! `bearer.<token>` next to `opsconductor.v1`, which the server selects. Without a valid
//! token the upgrade is refused with a 401 problem document. Every signed-in role may
//! watch; the token is checked again every few seconds, and a connection whose session
//! or token was revoked is closed with code 1008.
//!
//! # Protocol
//! Every frame is a JSON text frame with a `type`.
//!
//! Client → server:
//! - `{"type":"subscribe","runs":["<run id>",…],"jobs":["<job id>",…]}` (either list may be
//!   left out). The server answers with a `run_progress` snapshot of every run named and of
//!   every queued or running run of every job named, then `subscribed` listing the ids
//!   accepted. An unknown id gets an `error` naming it (`runs[1]: run … does not exist`)
//!   and is not subscribed; the others are.
//! - `{"type":"unsubscribe","runs":[…],"jobs":[…]}`: answered with `unsubscribed`.
//!
//! Server → client:
//! - `{"type":"run_progress","run":{…}}`: a run's committed state (status, counters), for a
//!   subscribed run or any run of a subscribed job (so a new run of a watched job shows
//!   up). At most one per run per progress tick (250 ms); never older than one sent before.
//! - `{"type":"results","run_id":"…","results":[…]}`: newly stored results of a subscribed
//!   run, at most [`MAX_RESULTS_PER_MESSAGE`] per message and
//!   [`RESULTS_MESSAGES_PER_SECOND`] messages per second per connection. A result resent by
//!   an agent after a reconnect may arrive twice.
//! - `{"type":"results_skipped","run_id":"…","count":n}`: results held back by that rate
//!   limit in the last second; read them over REST.
//! - `{"type":"resync"}`: this connection fell behind and lost events; fresh snapshots of
//!   its runs follow, results in between were lost (read them over REST).
//! - `{"type":"subscribed"|"unsubscribed","runs":[…],"jobs":[…]}`: acknowledgements.
//! - `{"type":"error","message":"<field>: <problem>"}`: a message was refused; the
//!   connection stays open.
//!
//! A connection holds at most [`MAX_SUBSCRIPTIONS`] runs and jobs. The server pings every
//! 30 s and closes a connection that stays silent for two intervals, or whose socket does
//! not take a message within 10 s: a client that stops reading is dropped, never waited
//! for, so it cannot hold up anyone else.
//!
//! # Design
//! Each connection is one task reading from its own bus receiver, so ingest and the
//! progress pump never wait for a socket; if the task falls more than the bus capacity
//! behind, it gets `Lagged` and resynchronises from the store instead.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt as _, StreamExt as _};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{ResultRecord, Run, RunStatus};
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, PRINCIPAL_CACHE_TTL};
use crate::error::ControllerError;
use crate::events::{Event, EventBus};

/// Runs plus jobs one connection may watch: bounds the snapshots a resync loads.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Results per `results` message: keeps frames small enough for any client.
pub const MAX_RESULTS_PER_MESSAGE: usize = 200;
/// `results` messages per second per connection (also the burst); beyond it results are
/// counted in `results_skipped` so a dashboard is not flooded by a big sweep.
pub const RESULTS_MESSAGES_PER_SECOND: u32 = 20;
/// How long one message may wait for the socket before the client counts as stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Keepalive ping period; a connection silent for two of these is closed.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// How often skipped-result counts go out, and the least time between two resyncs.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Largest client message: a full subscription list fits several times over.
const MAX_CLIENT_MESSAGE_BYTES: usize = 128 * 1024;
/// Runs loaded at once for snapshots: a few pool connections per connection, no more.
const SNAPSHOT_CONCURRENCY: usize = 4;
/// Longest error message sent back (they may quote what the client sent).
const MAX_ERROR_CHARS: usize = 1000;
/// Runs whose last sent state is remembered before forgetting runs no longer subscribed.
const MAX_REMEMBERED_RUNS: usize = 4 * MAX_SUBSCRIPTIONS;

/// What the WebSocket handler needs.
#[derive(Clone)]
pub struct WsState {
    /// Snapshots on subscribe and resync.
    pub store: SharedStore,
    /// Where progress and results come from.
    pub events: EventBus,
    /// Closes every connection (code 1001) when the controller stops, since the HTTP
    /// server's graceful shutdown does not wait for upgraded connections.
    pub shutdown: CancellationToken,
    /// Who may connect.
    pub auth: Auth,
}

/// The `/api/v1/ws` route with its own state, to be merged into the REST router.
pub fn router(state: WsState) -> Router {
    Router::new()
        .route("/api/v1/ws", get(upgrade))
        .with_state(state)
}

/// The subprotocol a browser offers beside `bearer.<token>` (browsers cannot set an
/// `Authorization` header on a WebSocket); the server selects it.
pub const SUBPROTOCOL: &str = "opsconductor.v1";
/// Prefix of the subprotocol entry that carries the token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "bearer.";

/// Held for a WebSocket connection's life: the client gauge goes down when it drops.
struct ConnectedClient;

impl Drop for ConnectedClient {
    fn drop(&mut self) {
        crate::metrics::websocket_clients(-1.0);
    }
}

/// The bearer token of an upgrade request: the `Authorization` header, or a
/// `bearer.<token>` entry of `Sec-WebSocket-Protocol`.
fn upgrade_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return crate::auth::bearer_token(value).map(str::to_owned);
    }
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .map(str::to_owned)
}

async fn upgrade(
    State(state): State<WsState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Checked before the upgrade, so a refused client gets a problem document.
    let Some(token) = upgrade_token(&headers) else {
        return ControllerError::Unauthorized(
            "no credentials: send Authorization: Bearer <token>, or the subprotocol \
             bearer.<token> beside opsconductor.v1"
                .to_owned(),
        )
        .into_response();
    };
    let principal = match state.auth.authenticate_token(&token).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = principal.require(Role::Viewer) {
        return e.into_response();
    }
    match ws {
        Ok(ws) => ws
            .protocols([SUBPROTOCOL])
            .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
            .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
            .on_upgrade(move |socket| serve(socket, state, token)),
        // Same problem+json shape as every other REST error.
        Err(rejection) => {
            let status = rejection.status();
            let body = json!({
                "type": "about:blank",
                "title": status.canonical_reason().unwrap_or("error"),
                "status": status.as_u16(),
                "detail": format!("this endpoint speaks WebSocket: {}", rejection.body_text()),
            });
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

/// Numbers connections in logs.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Serves one connection until the client leaves, stalls or the controller stops.
#[tracing::instrument(skip_all, fields(ws.connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed)))]
async fn serve(socket: WebSocket, state: WsState, token: String) {
    crate::metrics::websocket_clients(1.0);
    // Counted down however the connection ends (the task may also be dropped).
    let _connected = ConnectedClient;
    // Subscribed before anything is loaded, so nothing between a snapshot and the next
    // event is lost.
    let mut events = state.events.subscribe();
    let (mut sink, mut stream) = socket.split();
    let mut conn = Connection::new(state.store.clone());
    let now = Instant::now();
    let mut ping = tokio::time::interval_at(now + PING_INTERVAL, PING_INTERVAL);
    let mut flush = tokio::time::interval_at(now + FLUSH_INTERVAL, FLUSH_INTERVAL);
    let mut recheck = tokio::time::interval_at(now + PRINCIPAL_CACHE_TTL, PRINCIPAL_CACHE_TTL);
    let mut last_heard = now;
    tracing::debug!("websocket opened");
    let end = 'serve: loop {
        let outgoing = tokio::select! {
            () = state.shutdown.cancelled() => {
                let close = Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "controller shutting down".into(),
                }));
                let _ = timeout(Duration::from_secs(1), sink.send(close)).await;
                break 'serve "controller shutting down";
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else {
                    break 'serve "connection lost";
                };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => conn.on_text(text.as_str()).await,
                    Message::Binary(_) => {
                        vec![error_message("binary frames are not supported; send JSON text")]
                    }
                    Message::Ping(_) | Message::Pong(_) => Vec::new(),
                    Message::Close(_) => break 'serve "client closed",
                }
            }
            event = events.recv() => match event {
                Ok(event) => conn.on_event(&event, Instant::now()),
                Err(RecvError::Lagged(missed)) => conn.on_lagged(missed, Instant::now()).await,
                Err(RecvError::Closed) => break 'serve "event bus closed",
            },
            _ = flush.tick() => conn.on_flush(Instant::now()).await,
            // A logout, a revoked token or a disabled user ends the connection too.
            _ = recheck.tick() => match state.auth.authenticate_token(&token).await {
                Ok(_) | Err(ControllerError::Unavailable(_)) => Vec::new(),
                Err(_) => {
                    let close = Message::Close(Some(CloseFrame {
                        code: close_code::POLICY,
                        reason: "session or token no longer valid".into(),
                    }));
                    let _ = timeout(Duration::from_secs(1), sink.send(close)).await;
                    break 'serve "credentials revoked";
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > 2 * PING_INTERVAL {
                    break 'serve "client unresponsive";
                }
                vec![Message::Ping(Bytes::new())]
            }
        };
        if outgoing.is_empty() {
            continue;
        }
        for message in outgoing {
            match timeout(SEND_TIMEOUT, sink.feed(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break 'serve "connection lost",
                Err(_) => break 'serve "client not reading",
            }
        }
        match timeout(SEND_TIMEOUT, sink.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break 'serve "connection lost",
            Err(_) => break 'serve "client not reading",
        }
    };
    match end {
        // The client's fault, but worth an operator's notice if it happens often.
        "client not reading" | "client unresponsive" => {
            tracing::info!(reason = end, "websocket closed");
        }
        _ => tracing::debug!(reason = end, "websocket closed"),
    }
}

/// What a client may send.
#[derive(Debug, PartialEq)]
enum ClientMessage {
    Subscribe(Selection),
    Unsubscribe(Selection),
}

/// Runs and jobs named by a client message.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    #[serde(default)]
    runs: Vec<RunId>,
    #[serde(default)]
    jobs: Vec<JobId>,
}

/// Parses a client message; the error names the field that does not fit. The `type` is
/// read first so the rest is parsed with its field paths intact (serde's internally tagged
/// enums lose them).
fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the message is not JSON: {e}"))?;
    let Value::Object(mut fields) = value else {
        return Err("the message must be a JSON object with a \"type\"".to_owned());
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(_) => return Err("type: must be a string".to_owned()),
        None => return Err("type: missing; expected \"subscribe\" or \"unsubscribe\"".to_owned()),
    };
    let wrap: fn(Selection) -> ClientMessage = match kind.as_str() {
        "subscribe" => ClientMessage::Subscribe,
        "unsubscribe" => ClientMessage::Unsubscribe,
        other => {
            let other: String = other.chars().take(64).collect();
            return Err(format!(
                "type: unknown message type {other:?}; expected \"subscribe\" or \"unsubscribe\""
            ));
        }
    };
    let selection: Selection =
        serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        })?;
    Ok(wrap(selection))
}

/// What the server sends.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    RunProgress {
        run: &'a Run,
    },
    Results {
        run_id: RunId,
        results: &'a [ResultRecord],
    },
    ResultsSkipped {
        run_id: RunId,
        count: u64,
    },
    Resync,
    Subscribed {
        runs: Vec<RunId>,
        jobs: Vec<JobId>,
    },
    Unsubscribed {
        runs: Vec<RunId>,
        jobs: Vec<JobId>,
    },
    Error {
        message: &'a str,
    },
}

impl ServerMessage<'_> {
    fn encode(&self) -> Option<Message> {
        match serde_json::to_string(self) {
            Ok(text) => Some(Message::Text(text.into())),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a websocket message");
                None
            }
        }
    }
}

fn error_message(message: &str) -> Message {
    let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
    ServerMessage::Error { message: &message }
        .encode()
        .unwrap_or_else(|| Message::Text("{\"type\":\"error\",\"message\":\"\"}".into()))
}

/// A token bucket for `results` messages, a pure function of the time it is given.
#[derive(Debug)]
struct ResultsBudget {
    per_second: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl ResultsBudget {
    fn new(per_second: u32, now: Instant) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            tokens: per_second,
            refilled_at: now,
        }
    }

    /// Whether a message may go out at `now` (and counts it if so).
    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Where a run was when last sent: progress older than that is dropped, because a pump
/// event loaded before a snapshot may arrive after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    stage: u8,
    done: u64,
}

impl Seen {
    fn of(run: &Run) -> Self {
        let stage = match run.status {
            RunStatus::Queued => 0,
            RunStatus::Running => 1,
            RunStatus::Completed | RunStatus::Cancelled | RunStatus::Failed => 2,
        };
        Self {
            stage,
            done: run.counters.done(),
        }
    }

    fn is_older_than(self, other: Self) -> bool {
        self.stage < other.stage || self.done < other.done
    }
}

/// One connection's subscriptions and limits.
struct Connection {
    store: SharedStore,
    runs: HashSet<RunId>,
    jobs: HashSet<JobId>,
    seen: HashMap<RunId, Seen>,
    budget: ResultsBudget,
    skipped: HashMap<RunId, u64>,
    resync_pending: bool,
    last_resync: Option<Instant>,
}

impl Connection {
    fn new(store: SharedStore) -> Self {
        Self {
            store,
            runs: HashSet::new(),
            jobs: HashSet::new(),
            seen: HashMap::new(),
            budget: ResultsBudget::new(RESULTS_MESSAGES_PER_SECOND, Instant::now()),
            skipped: HashMap::new(),
            resync_pending: false,
            last_resync: None,
        }
    }

    async fn on_text(&mut self, text: &str) -> Vec<Message> {
        match parse_client_message(text) {
            Ok(ClientMessage::Subscribe(selection)) => self.subscribe(selection).await,
            Ok(ClientMessage::Unsubscribe(selection)) => self.unsubscribe(selection),
            Err(message) => vec![error_message(&message)],
        }
    }

    async fn subscribe(&mut self, selection: Selection) -> Vec<Message> {
        let mut fresh = HashSet::new();
        let new_runs: Vec<(usize, RunId)> = selection
            .runs
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, id)| !self.runs.contains(id) && fresh.insert(*id))
            .collect();
        let mut fresh = HashSet::new();
        let new_jobs: Vec<(usize, JobId)> = selection
            .jobs
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, id)| !self.jobs.contains(id) && fresh.insert(*id))
            .collect();
        let total = self.runs.len() + self.jobs.len() + new_runs.len() + new_jobs.len();
        if total > MAX_SUBSCRIPTIONS {
            let field = if new_runs.is_empty() { "jobs" } else { "runs" };
            return vec![error_message(&format!(
                "{field}: a connection may watch at most {MAX_SUBSCRIPTIONS} runs and jobs \
                 together; this subscription would make {total} (nothing was subscribed)"
            ))];
        }
        let mut out = Vec::new();
        let mut accepted_runs = Vec::new();
        for (i, id, outcome) in self.load_runs(new_runs).await {
            match outcome {
                Ok(run) => {
                    self.runs.insert(id);
                    accepted_runs.push(id);
                    out.extend(self.progress(&run));
                }
                Err(e) => out.push(error_message(&load_error("runs", i, "run", id, &e))),
            }
        }
        let mut accepted_jobs = Vec::new();
        for (i, id) in new_jobs {
            match self.store.get_job(id).await {
                Ok(_) => {
                    self.jobs.insert(id);
                    accepted_jobs.push(id);
                }
                Err(e) => out.push(error_message(&load_error("jobs", i, "job", id, &e))),
            }
        }
        if !accepted_jobs.is_empty() {
            let watched: HashSet<JobId> = accepted_jobs.iter().copied().collect();
            out.extend(self.active_runs_of(&watched).await);
        }
        out.extend(
            ServerMessage::Subscribed {
                runs: accepted_runs,
                jobs: accepted_jobs,
            }
            .encode(),
        );
        out
    }

    fn unsubscribe(&mut self, selection: Selection) -> Vec<Message> {
        for id in &selection.runs {
            self.runs.remove(id);
            self.skipped.remove(id);
            self.seen.remove(id);
        }
        for id in &selection.jobs {
            self.jobs.remove(id);
        }
        ServerMessage::Unsubscribed {
            runs: selection.runs,
            jobs: selection.jobs,
        }
        .encode()
        .into_iter()
        .collect()
    }

    fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Message> {
        match event {
            Event::RunProgress { run } => {
                if self.runs.contains(&run.id) || self.jobs.contains(&run.job_id) {
                    self.progress(run).into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            Event::Results { run_id, results } => {
                if !self.runs.contains(run_id) {
                    return Vec::new();
                }
                let mut out = Vec::new();
                for part in results.chunks(MAX_RESULTS_PER_MESSAGE) {
                    if self.budget.try_take(now) {
                        out.extend(
                            ServerMessage::Results {
                                run_id: *run_id,
                                results: part,
                            }
                            .encode(),
                        );
                    } else {
                        *self.skipped.entry(*run_id).or_default() += part.len() as u64;
                    }
                }
                out
            }
        }
    }

    /// The bus dropped events for this connection: resynchronise now, or at the next
    /// flush if the last resync was under a second ago (a connection that keeps lagging
    /// must not turn into a stream of store queries).
    async fn on_lagged(&mut self, missed: u64, now: Instant) -> Vec<Message> {
        tracing::debug!(missed, "websocket client lagged behind the event bus");
        if self
            .last_resync
            .is_some_and(|at| now.saturating_duration_since(at) < FLUSH_INTERVAL)
        {
            self.resync_pending = true;
            return Vec::new();
        }
        self.resync(now).await
    }

    /// Skipped-result counts, and a resync that was put off.
    async fn on_flush(&mut self, now: Instant) -> Vec<Message> {
        let mut out: Vec<Message> = self
            .skipped
            .drain()
            .filter_map(|(run_id, count)| ServerMessage::ResultsSkipped { run_id, count }.encode())
            .collect();
        if self.resync_pending {
            out.extend(self.resync(now).await);
        }
        out
    }

    async fn resync(&mut self, now: Instant) -> Vec<Message> {
        self.resync_pending = false;
        self.last_resync = Some(now);
        let mut out: Vec<Message> = ServerMessage::Resync.encode().into_iter().collect();
        let runs: Vec<(usize, RunId)> = self.runs.iter().copied().enumerate().collect();
        for (_, id, outcome) in self.load_runs(runs).await {
            match outcome {
                Ok(run) => out.extend(self.progress(&run)),
                Err(StoreError::NotFound { .. }) => {
                    self.runs.remove(&id);
                    out.push(error_message(&format!(
                        "runs: run {id} no longer exists; unsubscribed"
                    )));
                }
                Err(e) => out.push(error_message(&format!("runs: cannot load run {id}: {e}"))),
            }
        }
        if !self.jobs.is_empty() {
            let jobs = self.jobs.clone();
            out.extend(self.active_runs_of(&jobs).await);
        }
        out
    }

    /// `run_progress` for `run`, unless something newer was sent already.
    fn progress(&mut self, run: &Run) -> Option<Message> {
        let now = Seen::of(run);
        if let Some(last) = self.seen.get(&run.id)
            && now.is_older_than(*last)
        {
            return None;
        }
        if self.seen.len() >= MAX_REMEMBERED_RUNS && !self.seen.contains_key(&run.id) {
            let runs = &self.runs;
            self.seen.retain(|id, _| runs.contains(id));
        }
        self.seen.insert(run.id, now);
        ServerMessage::RunProgress { run }.encode()
    }

    /// Snapshots of the queued and running runs of `jobs`.
    async fn active_runs_of(&mut self, jobs: &HashSet<JobId>) -> Vec<Message> {
        match self.store.active_runs().await {
            Ok(runs) => runs
                .iter()
                .filter(|run| jobs.contains(&run.job_id))
                .filter_map(|run| self.progress(run))
                .collect(),
            Err(e) => vec![error_message(&format!(
                "jobs: cannot load the active runs of the watched jobs: {e}"
            ))],
        }
    }

    /// Loads runs a few at a time, keeping each one's position in the client's list.
    async fn load_runs(
        &self,
        ids: Vec<(usize, RunId)>,
    ) -> Vec<(usize, RunId, Result<Run, StoreError>)> {
        let mut loaded: Vec<_> = futures::stream::iter(ids)
            .map(|(i, id)| {
                let store = self.store.clone();
                async move { (i, id, store.get_run(id).await) }
            })
            .buffer_unordered(SNAPSHOT_CONCURRENCY)
            .collect()
            .await;
        loaded.sort_by_key(|(i, _, _)| *i);
        loaded
    }
}

/// `runs[2]: run … does not exist`, or why it could not be loaded.
fn load_error(
    list: &str,
    index: usize,
    what: &str,
    id: impl std::fmt::Display,
    e: &StoreError,
) -> String {
    match e {
        StoreError::NotFound { .. } => format!("{list}[{index}]: {what} {id} does not exist"),
        other => format!("{list}[{index}]: cannot load {what} {id} right now: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_bad_ones_name_their_field() {
        let run = RunId::new();
        let parsed = parse_client_message(&format!(r#"{{"type":"subscribe","runs":["{run}"]}}"#));
        assert_eq!(
            parsed,
            Ok(ClientMessage::Subscribe(Selection {
                runs: vec![run],
                jobs: Vec::new()
            }))
        );
        assert_eq!(
            parse_client_message(r#"{"type":"unsubscribe"}"#),
            Ok(ClientMessage::Unsubscribe(Selection::default()))
        );
        let cases = [
            (r#"{"type":"subscribe","runs":["nope"]}"#, "runs[0]: "),
            (r#"{"type":"subscribe","runs":"x"}"#, "runs: "),
            (r#"{"type":"subscribe","jobs":[1]}"#, "jobs[0]: "),
            (
                r#"{"type":"subscribe","colour":1}"#,
                "unknown field `colour`",
            ),
            (
                r#"{"type":"watch"}"#,
                "type: unknown message type \"watch\"",
            ),
            (r#"{"type":7}"#, "type: must be a string"),
            (r#"{"runs":[]}"#, "type: missing"),
            (r#"[1]"#, "must be a JSON object"),
            ("{", "not JSON"),
        ];
        for (text, expected) in cases {
            let err = parse_client_message(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn the_results_budget_allows_a_burst_then_refills_with_time() {
        let start = Instant::now();
        let mut budget = ResultsBudget::new(4, start);
        assert!((0..4).all(|_| budget.try_take(start)));
        assert!(!budget.try_take(start));
        assert!(!budget.try_take(start + Duration::from_millis(200)));
        assert!(budget.try_take(start + Duration::from_millis(260)));
        // A long pause refills the burst, not more.
        let later = start + Duration::from_secs(60);
        assert!((0..4).all(|_| budget.try_take(later)));
        assert!(!budget.try_take(later));
    }

    #[test]
    fn progress_older_than_what_was_sent_is_recognised() {
        let sent = Seen { stage: 1, done: 10 };
        assert!(Seen { stage: 1, done: 9 }.is_older_than(sent));
        assert!(Seen { stage: 0, done: 10 }.is_older_than(sent));
        assert!(!Seen { stage: 1, done: 10 }.is_older_than(sent));
        assert!(!Seen { stage: 2, done: 10 }.is_older_than(sent));
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let run_id = RunId::new();
        let encoded = |m: ServerMessage<'_>| serde_json::to_value(&m).expect("encodes");
        assert_eq!(encoded(ServerMessage::Resync), json!({"type": "resync"}));
        assert_eq!(
            encoded(ServerMessage::ResultsSkipped { run_id, count: 3 }),
            json!({"type": "results_skipped", "run_id": run_id, "count": 3})
        );
        assert_eq!(
            encoded(ServerMessage::Error { message: "x" }),
            json!({"type": "error", "message": "x"})
        );
    }
}
