//! Start-up and shutdown: the identity, the parts every task shares, and the order in which
//! they stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use metrics_exporter_prometheus::PrometheusHandle;
use opsconductor_actions::Registry;
use opsconductor_actions::hostkey::MemoryTofu;
use opsconductor_core::ids::AgentId;
use opsconductor_queue::Broker;

use crate::config::AgentConfig;
use crate::consume::{self, Consuming};
use crate::error::AgentError;
use crate::hostkeys::ControllerHostKeys;
use crate::identity::{self, Identity};
use crate::outbox::Outbox;
use crate::runs::Runs;
use crate::session;
use crate::transport::{self, AgentAuth, AuthedClient};

/// After the grace period, how long released chunks get to requeue their deliveries.
const RELEASE_WAIT: Duration = Duration::from_secs(5);
/// At the very end, how long the session gets to send the last chunk events.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Everything the session and the chunk tasks share.
pub(crate) struct Shared {
    pub config: AgentConfig,
    pub identity: Identity,
    pub agent_id: Option<AgentId>,
    pub registry: Arc<Registry>,
    pub outbox: Outbox,
    pub runs: Arc<Runs>,
    pub stats: Stats,
    pub client: AuthedClient,
    /// Where the segment's chunks come from.
    pub broker: Broker,
    /// Cancelled when in-flight chunks must be handed back to the queue: the shutdown
    /// grace is over, or the controller rejected the agent.
    pub release: CancellationToken,
}

impl Shared {
    /// Action kinds this agent runs, as the controller names them.
    pub(crate) fn capabilities(&self) -> Vec<String> {
        capabilities(&self.registry)
    }

    /// Most targets run at once over all chunks.
    pub(crate) fn max_concurrency(&self) -> u32 {
        let per_chunk = u32::try_from(self.config.per_chunk_concurrency()).unwrap_or(u32::MAX);
        per_chunk.saturating_mul(u32::from(self.config.max_chunks_in_flight))
    }
}

fn capabilities(registry: &Registry) -> Vec<String> {
    registry
        .kinds()
        .into_iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

/// Live figures for heartbeats.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    chunks: AtomicU32,
    targets: AtomicU32,
}

impl Stats {
    /// Counts a chunk in flight until the guard drops.
    pub(crate) fn chunk_started(&self) -> ChunkInFlight<'_> {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        ChunkInFlight(self)
    }

    pub(crate) fn chunks_in_flight(&self) -> u32 {
        self.chunks.load(Ordering::Relaxed)
    }

    pub(crate) fn targets_in_flight(&self) -> u32 {
        self.targets.load(Ordering::Relaxed)
    }

    /// Replaces one chunk's contribution `from` to the targets in flight with `to`.
    pub(crate) fn adjust_targets(&self, from: u32, to: u32) {
        if to >= from {
            self.targets.fetch_add(to - from, Ordering::Relaxed);
        } else {
            self.targets.fetch_sub(from - to, Ordering::Relaxed);
        }
    }
}

/// One chunk in flight (see [`Stats::chunk_started`]).
pub(crate) struct ChunkInFlight<'a>(&'a Stats);

impl Drop for ChunkInFlight<'_> {
    fn drop(&mut self) {
        self.0.chunks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An enrolled agent, ready to run. Building it settles the identity (enrolling when there
/// is none yet); [`Agent::run_until_stopped`] does the work.
pub struct Agent {
    shared: Arc<Shared>,
    metrics: Option<PrometheusHandle>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("identity", &self.shared.identity)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Checks the configuration and settles the identity: read from `identity_file`, or
    /// obtained with `enrollment_token` (retrying while the controller is unreachable, until
    /// `shutdown`) and written to `identity_file`.
    ///
    /// SSH host keys are checked against the controller's trust-on-first-use record
    /// (`VerifyHostKey`), shared by every agent of the deployment.
    pub async fn build(
        config: AgentConfig,
        shutdown: &CancellationToken,
    ) -> Result<Self, AgentError> {
        let broker = Broker::RabbitMq(config.queue_config());
        Self::build_with_broker(config, broker, shutdown).await
    }

    /// [`Agent::build`] consuming from `broker` instead of the RabbitMQ of `config.queue`:
    /// standalone mode's agent takes its chunks from the controller's in-process broker.
    pub async fn build_with_broker(
        config: AgentConfig,
        broker: Broker,
        shutdown: &CancellationToken,
    ) -> Result<Self, AgentError> {
        config.validate()?;
        crate::metrics::describe();
        opsconductor_actions::metrics::describe();
        let tls = match &config.controller_ca_file {
            Some(ca) if config.controller_url.starts_with("https://") => {
                Some(transport::client_tls(
                    ca,
                    config
                        .tls_cert_file
                        .as_deref()
                        .zip(config.tls_key_file.as_deref()),
                )?)
            }
            _ => None,
        };
        let channel = transport::channel(&config.controller_url, config.connect_timeout, tls)?;
        let identity = match identity::load(&config.identity_file)? {
            Some(identity) => {
                if identity.controller_url != config.controller_url {
                    tracing::warn!(
                        issued_by = %identity.controller_url,
                        controller = %config.controller_url,
                        "the identity was issued by another controller address"
                    );
                }
                identity
            }
            None => {
                let Some(token) = config.enrollment_token.as_deref() else {
                    return Err(AgentError::Config(format!(
                        "no identity at identity_file ({}) and no enrollment_token: set \
                         enrollment_token for the first start, which writes identity_file",
                        config.identity_file.display()
                    )));
                };
                let identity = identity::enroll(
                    channel.clone(),
                    &config.controller_url,
                    token,
                    &config.name,
                    // What the agent runs does not depend on where host keys are
                    // checked; the real registry needs the identity being enrolled.
                    capabilities(&Registry::native(Arc::new(MemoryTofu::default()))),
                    shutdown,
                )
                .await?;
                if let Err(error) = identity::save(&config.identity_file, &identity) {
                    return Err(AgentError::Identity {
                        path: config.identity_file.clone(),
                        message: format!(
                            "enrolled as agent {} but could not save the identity ({error}); \
                             the enrollment token is used up, so create a new one",
                            identity.agent_id
                        ),
                    });
                }
                tracing::info!(agent.id = %identity.agent_id, segment = %identity.segment, "enrolled with the controller");
                identity
            }
        };
        let auth = AgentAuth::new(&identity).map_err(|message| AgentError::Identity {
            path: config.identity_file.clone(),
            message,
        })?;
        let client = transport::authed_client(channel, auth);
        let registry = Arc::new(Registry::native(Arc::new(ControllerHostKeys::new(
            client.clone(),
        ))));
        let outbox = Outbox::new(usize::try_from(config.result_buffer).unwrap_or(usize::MAX));
        let shared = Shared {
            agent_id: identity.id(),
            identity,
            registry,
            outbox,
            runs: Arc::new(Runs::default()),
            stats: Stats::default(),
            client,
            broker,
            release: CancellationToken::new(),
            config,
        };
        Ok(Self {
            shared: Arc::new(shared),
            metrics: None,
        })
    }

    /// Serves the metrics `handle` renders on `metrics_listen` (when that is set) while the
    /// agent runs. The process installs the recorder once.
    #[must_use]
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// The agent's id, as issued by the controller.
    pub fn agent_id(&self) -> &str {
        &self.shared.identity.agent_id
    }

    /// The segment whose queue the agent consumes.
    pub fn segment(&self) -> &str {
        &self.shared.identity.segment
    }

    /// Runs until `shutdown` is cancelled, then stops in order: no new deliveries; up to
    /// `shutdown_grace` for in-flight chunks to finish and be acknowledged; the rest handed
    /// back to the queue (`RELEASED`); the consumer closed; the session closed after its
    /// last events. Fails only when the controller rejects the agent's identity.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AgentError> {
        let shared = self.shared;
        if shared.config.metrics_listen.is_some() && self.metrics.is_none() {
            tracing::warn!("metrics_listen is set but this process installed no metrics recorder");
        }
        if let (Some(address), Some(handle)) = (shared.config.metrics_listen, self.metrics) {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| AgentError::Config(format!("metrics_listen {address}: {e}")))?;
            tracing::info!(%address, "serving metrics at /metrics");
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Err(error) = crate::metrics::serve(listener, handle, stop).await {
                    tracing::warn!(%error, "the metrics listener stopped");
                }
            });
        }
        let intake = shutdown.child_token();
        let session_stop = CancellationToken::new();
        let session = tokio::spawn({
            let (shared, intake, session_stop) =
                (Arc::clone(&shared), intake.clone(), session_stop.clone());
            async move {
                let outcome = session::run(&shared, &session_stop).await;
                if outcome.is_err() {
                    // Nothing can be delivered any more: take no work and hand back what runs.
                    intake.cancel();
                    shared.release.cancel();
                }
                outcome
            }
        });
        tracing::info!(
            agent.id = %shared.identity.agent_id,
            segment = %shared.identity.segment,
            controller = %shared.config.controller_url,
            "agent running"
        );

        let Consuming {
            mut tasks,
            consumers,
            fatal,
        } = consume::run(&shared, &intake).await;
        if fatal.is_some() {
            shared.release.cancel();
        }
        if !tasks.is_empty() && !shared.release.is_cancelled() {
            tracing::info!(
                chunks = tasks.len(),
                grace_ms = shared.config.shutdown_grace.as_millis(),
                "stopping: waiting for in-flight chunks"
            );
        }
        let drained = tokio::select! {
            biased;
            () = join_all(&mut tasks) => true,
            () = tokio::time::sleep(shared.config.shutdown_grace) => false,
            () = shared.release.cancelled() => false,
        };
        if !drained {
            tracing::info!(
                chunks = tasks.len(),
                "handing in-flight chunks back to the queue"
            );
            shared.release.cancel();
            if tokio::time::timeout(RELEASE_WAIT, join_all(&mut tasks))
                .await
                .is_err()
            {
                tasks.abort_all();
                join_all(&mut tasks).await;
            }
        }
        for consumer in consumers {
            consumer.close().await;
        }
        if !session.is_finished() {
            let _ = tokio::time::timeout(FLUSH_WAIT, shared.outbox.drained()).await;
        }
        session_stop.cancel();
        let mut outcome = match session.await {
            Ok(outcome) => outcome,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Ok(()),
        };
        if let Some(error) = fatal {
            outcome = Err(AgentError::Queue(error));
        }
        tracing::info!("agent stopped");
        outcome
    }
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            tracing::error!(error = %error, "a chunk task panicked");
        }
    }
}

/// Builds the agent and runs it until `shutdown`. Shutdown during enrollment is a clean
/// stop, not an error.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    match Agent::build(config, &shutdown).await {
        Ok(agent) => agent.run_until_stopped(shutdown).await,
        Err(AgentError::Interrupted) => Ok(()),
        Err(error) => Err(error),
    }
}
