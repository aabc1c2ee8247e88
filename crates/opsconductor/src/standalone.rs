//! `opsconductor standalone`: the whole system in one process, with nothing to install.
//!
//! The controller runs as in scale-out mode, with two seams swapped: the store is a SQLite
//! file in the data directory (unless `database_url` is configured) and chunks travel
//! through an in-process broker instead of RabbitMQ. An agent for segment `local`
//! (127.0.0.0/8 and ::1, and every target no other segment covers) runs in the same
//! process, enrolled over the controller's own gRPC port like any remote agent.
//!
//! The data directory holds everything that must survive a restart: the database, the
//! token-signing and vault keys (generated on first start, mode 0600) and the agent's
//! identity. The first start also creates the admin (password from
//! `OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD`, or generated and printed once) and a few
//! example jobs that check this machine, each run once straight away.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use opsconductor_agent::{Agent, AgentConfig};
use opsconductor_controller::{Controller, ControllerConfig};
use opsconductor_core::model::{JobSpec, Segment};
use opsconductor_queue::{Broker, InProcessBroker, InProcessOptions};
use opsconductor_store::prelude::*;
use opsconductor_store::{ChunkState, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::StandaloneArgs;

/// The segment of the in-process agent.
pub const LOCAL_SEGMENT: &str = "local";
/// The admin created on first start unless `bootstrap_admin` names another.
const DEFAULT_ADMIN: &str = "admin";
/// How long the in-process agent's enrollment token is valid: it is used at once.
const ENROLLMENT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Files in the data directory.
struct DataDir {
    root: PathBuf,
}

impl DataDir {
    fn open(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the data directory {}", root.display()))?;
        restrict(root, 0o700)?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.root.join("opsconductor.db").display())
    }

    fn agent_identity(&self) -> PathBuf {
        self.root.join("agent-identity.json")
    }

    /// The key file `name`, created with 32 random bytes (hex) when missing.
    fn key_file(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.root.join(name);
        if !path.exists() {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_0600()
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "{}", random_hex(32))
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(path)
    }
}

/// `OpenOptions::mode(0o600)`, named for what it is for.
trait SecretFile {
    fn mode_0600(&mut self) -> &mut Self;
}

impl SecretFile for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {} to mode {mode:o}", path.display()))
}

fn random_hex(bytes: usize) -> String {
    hex::encode(
        (0..bytes)
            .map(|_| rand::random::<u8>())
            .collect::<Vec<u8>>(),
    )
}

/// What the standalone settings change in the controller's, where the user set nothing.
pub struct Explicit {
    /// `database_url` was configured: use it instead of the data directory's SQLite file.
    pub database_url: bool,
    /// `default_segment` was configured.
    pub default_segment: bool,
}

/// Runs standalone mode until `shutdown`.
pub async fn run(
    args: &StandaloneArgs,
    mut config: ControllerConfig,
    explicit: Explicit,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.grpc_tls_cert_file.is_none(),
        "grpc_tls_* settings are for scale-out mode: the standalone agent reaches its \
         controller over loopback without TLS"
    );
    let data = DataDir::open(&args.data_dir)?;
    if !explicit.database_url {
        config.database_url = data.database_url();
    }
    if !explicit.default_segment {
        config.default_segment = LOCAL_SEGMENT.to_owned();
    }
    if config.auth_key_file.is_none() && config.auth_key.is_none() {
        config.auth_key_file = Some(data.key_file("auth.key")?);
    }
    if config.vault_key_file.is_none() && config.vault_key.is_none() {
        config.vault_key_file = Some(data.key_file("vault.key")?);
    }
    // The admin is created below, where standalone mode can tell whether this start
    // created it (and so whether a generated password means anything).
    let admin = config
        .bootstrap_admin
        .take()
        .unwrap_or_else(|| DEFAULT_ADMIN.to_owned());
    let configured_password = if config.bootstrap_admin_password.is_some()
        || config.bootstrap_admin_password_file.is_some()
    {
        ControllerConfig {
            bootstrap_admin: Some(admin.clone()),
            ..config.clone()
        }
        .bootstrap_admin()
        .map_err(anyhow::Error::msg)?
        .map(|(_, password)| password)
    } else {
        None
    };
    config.bootstrap_admin_password = None;
    config.bootstrap_admin_password_file = None;

    let agent_config = AgentConfig {
        identity_file: data.agent_identity(),
        name: "standalone".to_owned(),
        ..AgentConfig::default()
    };
    let broker = InProcessBroker::new(InProcessOptions {
        prefetch: agent_config.max_chunks_in_flight,
        ..InProcessOptions::from_config(&config.queue)
    })?;
    // One recorder for the process: the controller's /metrics shows the agent's too.
    let controller = Controller::build_with_broker(config, Broker::InProcess(broker.clone()))
        .await
        .context("starting the controller")?
        .with_metrics(metrics)
        .with_web_ui(crate::serve::web_ui());
    let store = controller.store().clone();
    end_runs_lost_with_the_queue(&*store).await?;
    let password = configured_password
        .clone()
        .unwrap_or_else(|| random_hex(12));
    let first_start = controller
        .auth()
        .bootstrap_admin(&admin, &password)
        .await
        .map_err(|e| anyhow::anyhow!("creating the first admin: {e}"))?;
    if first_start {
        first_start_setup(&controller, &*store).await?;
        // An identity left from an earlier database names an agent this one never
        // registered: enroll afresh.
        if agent_config.identity_file.exists() {
            tracing::warn!(file = %agent_config.identity_file.display(), "replacing an agent identity from an earlier database");
            std::fs::remove_file(&agent_config.identity_file)
                .with_context(|| format!("removing {}", agent_config.identity_file.display()))?;
        }
    }
    let (http, grpc) = (controller.http_addr(), controller.grpc_addr());
    let mut controller_task = tokio::spawn(controller.run_until_stopped(shutdown.clone()));

    let agent_config = AgentConfig {
        controller_url: format!("http://{}", loopback(grpc)),
        enrollment_token: if agent_config.identity_file.exists() {
            None
        } else {
            Some(
                store
                    .create_enrollment_token(LOCAL_SEGMENT, ENROLLMENT_TTL)
                    .await
                    .context("creating the local agent's enrollment token")?,
            )
        },
        ..agent_config
    };
    let agent = tokio::select! {
        built = Agent::build_with_broker(agent_config, Broker::InProcess(broker), &shutdown) => {
            built.context("starting the local agent")?
        }
        ended = &mut controller_task => {
            return ended.context("controller task")?;
        }
    };
    announce(
        http,
        grpc,
        &args.data_dir,
        &admin,
        first_start,
        configured_password.is_none().then_some(&password),
    );
    let agent_task = tokio::spawn(agent.run_until_stopped(shutdown.clone()));
    let controller_outcome = controller_task.await.context("controller task")?;
    // The controller stopping for any reason stops the agent too.
    shutdown.cancel();
    let agent_outcome = agent_task.await.context("agent task")?;
    controller_outcome?;
    agent_outcome.context("local agent")?;
    Ok(())
}

/// The in-process queue dies with the process: chunks it held (published, or running on
/// the agent when the process stopped) will never be delivered. Their runs are ended now,
/// their missing targets recorded as errors, instead of waiting out their deadline; chunks
/// still in the outbox were never handed over and are published as usual.
async fn end_runs_lost_with_the_queue(store: &dyn Store) -> anyhow::Result<()> {
    for run in store.active_runs().await? {
        let chunks = store.chunks_for_run(run.id).await?;
        let lost = chunks
            .iter()
            .any(|c| matches!(c.state, ChunkState::Published | ChunkState::Running));
        if !lost {
            continue;
        }
        match store
            .cancel_run(run.id, "interrupted: standalone mode stopped while it ran")
            .await
        {
            // It ended on its own in the meantime.
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e).context("ending a run interrupted by the last stop"),
        }
        tracing::warn!(run.id = %run.id, "run interrupted by the last stop ended");
    }
    Ok(())
}

/// The address to reach a listener on from this machine (`0.0.0.0` is not one).
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// The local segment and the example jobs, each run once now.
async fn first_start_setup(controller: &Controller, store: &dyn Store) -> anyhow::Result<()> {
    let local = Segment::new(
        LOCAL_SEGMENT,
        ["127.0.0.0/8", "::1/128"]
            .iter()
            .map(|net| net.parse::<ipnet::IpNet>())
            .collect::<Result<_, _>>()?,
    )?;
    store.upsert_segment(&local).await?;
    let api = controller.api();
    for spec in example_jobs(
        loopback(controller.http_addr()),
        loopback(controller.grpc_addr()),
    )? {
        let job = api
            .create_job(spec)
            .await
            .map_err(|e| anyhow::anyhow!("creating an example job: {e}"))?;
        api.run_job(job.id)
            .await
            .map_err(|e| anyhow::anyhow!("running example job {}: {e}", job.spec.name))?;
        tracing::info!(job = %job.spec.name, "example job created");
    }
    Ok(())
}

/// Checks of this machine that show the system working: a ping sweep of a few loopback
/// addresses, the controller's own health endpoint and its gRPC port, every minute.
fn example_jobs(http: SocketAddr, grpc: SocketAddr) -> anyhow::Result<Vec<JobSpec>> {
    let every_minute = json!({"type": "interval", "seconds": 60});
    let specs = [
        json!({
            "name": "Example: ping 127.0.0.1/30",
            "description": "Created on first start: pings four loopback addresses every minute.",
            "schedule": every_minute,
            "targets": {"include": [{"type": "range", "value": "127.0.0.1/30"}]},
            "actions": [{"command": "ping.icmp"}],
        }),
        json!({
            "name": "Example: controller health (HTTP)",
            "description": "Created on first start: asks this controller's /healthz every minute.",
            "schedule": every_minute,
            "targets": {"include": [{"type": "hosts", "hosts": [http.ip().to_string()]}]},
            "actions": [{"command": "http.get", "params": {"port": http.port(), "path": "/healthz"}}],
        }),
        json!({
            "name": "Example: controller gRPC port (TCP)",
            "description": "Created on first start: connects to this controller's gRPC port every minute.",
            "schedule": every_minute,
            "targets": {"include": [{"type": "hosts", "hosts": [grpc.ip().to_string()]}]},
            // Connect only: what a gRPC server says first is binary HTTP/2 framing.
            "actions": [{"command": "tcp.port", "params": {"port": grpc.port(), "read_bytes": 0}}],
        }),
    ];
    specs
        .into_iter()
        .map(|spec| serde_json::from_value(spec).context("an example job"))
        .collect()
}

/// The lines a user reads after `make run`: where it is and how to sign in.
fn announce(
    http: SocketAddr,
    grpc: SocketAddr,
    data_dir: &Path,
    admin: &str,
    first_start: bool,
    generated_password: Option<&String>,
) {
    let url = format!("http://{}", loopback(http));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "OpsConductor standalone is running at {url}");
    let _ = writeln!(
        out,
        "  REST API {url}/api/v1 (docs {url}/api/docs) · gRPC {} · data in {}",
        loopback(grpc),
        data_dir.display()
    );
    match (first_start, generated_password) {
        (true, Some(password)) => {
            let _ = writeln!(
                out,
                "  first start: user {admin:?} created with password {password} \
                 (shown once; change it with POST /api/v1/auth/password)"
            );
        }
        (true, None) => {
            let _ = writeln!(
                out,
                "  first start: user {admin:?} created with the configured password"
            );
        }
        (false, _) => {}
    }
    let _ = out.flush();
}
