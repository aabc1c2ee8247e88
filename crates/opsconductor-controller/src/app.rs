//! Start-up as a value: [`Controller::build`] connects, migrates and binds (port 0 works,
//! so tests run many controllers side by side); [`Controller::run_until_stopped`] runs the
//! gRPC server, the REST server, the relay, the scheduler and the lifecycle tasks until
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use opsconductor_core::library::Library;
use opsconductor_proto::v1::agent_service_server::AgentServiceServer;
use opsconductor_queue::Broker;
use opsconductor_store::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::auth::policy::GrpcAuthLayer;
use crate::catalog::LibraryCatalog;
use crate::config::ControllerConfig;
use crate::dispatch::Dispatcher;
use crate::events::EventBus;
use crate::relay::RelayConfig;
use crate::rest::ApiState;
use crate::scheduler::{SchedulerConfig, SchedulerHandle};
use crate::session::{AgentServiceImpl, SessionHub};
use crate::vault::Vault;
use crate::ws::WsState;

/// How often a replica checks whether another one changed the user library entries.
const LIBRARY_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// A built controller, listening but not yet serving.
pub struct Controller {
    config: ControllerConfig,
    store: SharedStore,
    broker: Broker,
    dispatcher: Dispatcher,
    hub: Arc<SessionHub>,
    events: EventBus,
    relay_wake: Arc<Notify>,
    scheduler: SchedulerHandle,
    grpc: TcpListener,
    http: TcpListener,
    vault: Option<Arc<Vault>>,
    grpc_tls: Option<tonic::transport::ServerTlsConfig>,
    auth: Auth,
    metrics: Option<PrometheusHandle>,
    web_ui: Option<axum::Router>,
}

impl Controller {
    /// Loads the libraries, opens the database (`database_url`: PostgreSQL, or a SQLite
    /// file), applies migrations and binds both
    /// listeners. RabbitMQ is connected lazily by the relay, so a broker outage at start-up
    /// delays publishing instead of failing the start.
    pub async fn build(config: ControllerConfig) -> anyhow::Result<Self> {
        let broker = Broker::RabbitMq(config.queue.clone());
        Self::build_with_broker(config, broker).await
    }

    /// [`Controller::build`] with chunks published to `broker` instead of the RabbitMQ of
    /// `config.queue`: standalone mode hands it the in-process broker its agent consumes.
    pub async fn build_with_broker(
        config: ControllerConfig,
        broker: Broker,
    ) -> anyhow::Result<Self> {
        if let Err(problems) = config.validate() {
            anyhow::bail!("invalid configuration:\n  {}", problems.join("\n  "));
        }
        let grpc_tls = config
            .grpc_tls()
            .map_err(|e| anyhow::anyhow!("gRPC TLS: {e}"))?;
        let vault = Vault::from_config(config.vault_key_file.as_deref(), config.vault_key.as_ref())
            .context("setting up the credential vault")?
            .map(Arc::new);
        match &vault {
            Some(v) => tracing::info!(vault.key_id = v.key_id(), "credential vault ready"),
            None => tracing::warn!(
                "no vault key configured (vault_key_file / OPSCONDUCTOR_VAULT_KEY): \
                 credentials can be neither stored nor handed to agents"
            ),
        }
        let store = opsconductor_store::open(&config.database_url, config.database_max_connections)
            .await
            .context("opening the database")?;
        store.migrate().await.context("applying migrations")?;
        let auth = build_auth(&config, &store).await?;
        let catalog = LibraryCatalog::load(&config.libraries_dir, &*store)
            .await
            .with_context(|| {
                format!("loading libraries from {}", config.libraries_dir.display())
            })?;
        let grpc = TcpListener::bind(config.grpc_listen)
            .await
            .with_context(|| format!("binding gRPC on {}", config.grpc_listen))?;
        let http = TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("binding HTTP on {}", config.http_listen))?;
        crate::metrics::describe();
        let relay_wake = Arc::new(Notify::new());
        let events = EventBus::default();
        let dispatcher = Dispatcher::new(
            store.clone(),
            Arc::new(Library::default()),
            config.default_segment.clone(),
            relay_wake.clone(),
        )
        .with_catalog(catalog)
        .with_events(events.clone());
        Ok(Self {
            config,
            store,
            broker,
            dispatcher,
            hub: Arc::new(SessionHub::default()),
            events,
            relay_wake,
            scheduler: SchedulerHandle::default(),
            grpc,
            http,
            vault,
            grpc_tls,
            auth,
            metrics: None,
            web_ui: None,
        })
    }

    /// Serves the metrics `handle` renders at `GET /metrics` (without one, `/metrics` is
    /// 404). The process installs the recorder once; replicas in one process share it.
    #[must_use]
    pub fn with_metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Serves `ui` (the web UI) on the HTTP port for every path outside `/api/` that no
    /// route owns. The binary passes the embedded production build; without one those
    /// paths are 404.
    #[must_use]
    pub fn with_web_ui(mut self, ui: axum::Router) -> Self {
        self.web_ui = Some(ui);
        self
    }

    /// The client API REST and gRPC serve, for callers in this process (standalone mode's
    /// first start creates its example jobs through it, validated like any client's).
    pub fn api(&self) -> crate::api::Api {
        crate::api::Api::new(
            self.store.clone(),
            self.dispatcher.clone(),
            self.hub.clone(),
        )
        .with_vault(self.vault.clone())
    }

    /// Users, sessions and tokens (standalone mode creates its first admin through it).
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Where agents connect.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr().unwrap_or(self.config.grpc_listen)
    }

    /// Where the REST API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or(self.config.http_listen)
    }

    /// The store (tests inspect it).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Whether this replica leads the scheduler, while it runs.
    pub fn scheduler(&self) -> SchedulerHandle {
        self.scheduler.clone()
    }

    /// Serves until `shutdown` fires, then stops every task.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            store,
            broker,
            dispatcher,
            hub,
            events,
            relay_wake,
            scheduler,
            grpc,
            http,
            vault,
            grpc_tls,
            auth,
            metrics,
            web_ui,
        } = self;
        tracing::info!(grpc = %grpc.local_addr()?, http = %http.local_addr()?, "controller listening");
        // Checked here rather than at build, so a caller that creates the first user
        // in between (standalone mode) is not told to configure one.
        if store.count_users().await? == 0 {
            tracing::warn!(
                "there are no users yet: set bootstrap_admin and \
                 OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD (or bootstrap_admin_password_file) to \
                 create the first admin"
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(crate::relay::run(
            store.clone(),
            broker.clone(),
            RelayConfig {
                batch: config.relay_batch,
                poll: config.relay_poll,
            },
            relay_wake,
            shutdown.clone(),
        ));
        tasks.spawn(crate::events::run_progress_pump(
            events.clone(),
            store.clone(),
            crate::events::PROGRESS_INTERVAL,
            shutdown.clone(),
        ));
        tasks.spawn(crate::metrics::run_gauges(
            store.clone(),
            broker.clone(),
            config.default_segment.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::lifecycle::run_dead_letters(
            store.clone(),
            broker,
            events.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::catalog::run_refresher(
            dispatcher.catalog().clone(),
            store.clone(),
            LIBRARY_REFRESH,
            shutdown.clone(),
        ));
        tasks.spawn(crate::inventory::run_scan_finisher(
            store.clone(),
            config.default_segment.clone(),
            events.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::lifecycle::run_sweeper(
            store.clone(),
            config.sweep_interval,
            config.heartbeat_interval * 3,
            events.clone(),
            shutdown.clone(),
        ));
        if config.scheduler_enabled {
            tasks.spawn(crate::scheduler::run(
                store.clone(),
                dispatcher.clone(),
                SchedulerConfig {
                    tick: config.scheduler_tick,
                    misfire_grace: config.scheduler_misfire_grace,
                    reload: config.scheduler_reload,
                    max_in_flight: usize::try_from(config.scheduler_max_in_flight)
                        .unwrap_or(usize::MAX),
                },
                scheduler,
                shutdown.clone(),
            ));
        }
        let service = AgentServiceImpl::new(
            store.clone(),
            hub.clone(),
            events.clone(),
            config.heartbeat_interval,
            shutdown.clone(),
        )
        .with_vault(vault.clone());
        let grpc_shutdown = shutdown.clone();
        let client_api =
            crate::api::Api::new(store.clone(), dispatcher.clone(), hub.clone()).with_vault(vault);
        let mut grpc_builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
            .layer(crate::metrics::GrpcMetricsLayer)
            .layer(GrpcAuthLayer::new(auth.clone()));
        if let Some(tls) = grpc_tls {
            grpc_builder = grpc_builder
                .tls_config(tls)
                .context("setting up TLS on the gRPC port")?;
        }
        let grpc_router = grpc_builder.add_service(AgentServiceServer::new(service));
        let grpc_server = crate::grpc_api::add_client_services(
            grpc_router,
            client_api.clone(),
            events.clone(),
            shutdown.clone(),
        )
        .await
        .context("setting up the gRPC client API")?
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(grpc),
            grpc_shutdown.cancelled_owned(),
        );
        let ws = crate::ws::router(WsState {
            store: store.clone(),
            events,
            shutdown: shutdown.clone(),
            auth: auth.clone(),
        });
        let api = crate::rest::router(ApiState {
            api: client_api,
            auth,
            metrics,
            ui: web_ui,
        })
        .merge(ws);
        let http_shutdown = shutdown.clone();
        let http_server = axum::serve(
            http,
            api.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(http_shutdown.cancelled_owned());
        let (grpc_result, http_result) = tokio::join!(grpc_server, http_server);
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        grpc_result.context("gRPC server")?;
        http_result.context("HTTP server")?;
        Ok(())
    }
}

/// Authentication over `store` with the configured (or a random) token key, and the
/// first admin created if the configuration names one and there is no user yet.
async fn build_auth(config: &ControllerConfig, store: &SharedStore) -> anyhow::Result<Auth> {
    let key = match config.auth_key().map_err(anyhow::Error::msg)? {
        Some(key) => key,
        None => {
            tracing::warn!(
                "no auth key configured (auth_key_file / OPSCONDUCTOR_AUTH_KEY): access \
                 tokens are signed with a random key and die with this process; replicas \
                 will not accept each other's"
            );
            rand::random::<[u8; 32]>().to_vec()
        }
    };
    let auth = Auth::new(store.clone(), &key, config.auth_settings());
    if let Some((name, password)) = config.bootstrap_admin().map_err(anyhow::Error::msg)? {
        match auth.bootstrap_admin(&name, &password).await {
            Ok(true) => tracing::info!(user = %name, "first admin created"),
            Ok(false) => {}
            Err(e) => anyhow::bail!("bootstrap_admin: {e}"),
        }
    }
    Ok(auth)
}
