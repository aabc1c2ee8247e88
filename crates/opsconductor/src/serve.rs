//! The long-running subcommands: `standalone`, `controller`, `agent`, `migrate`.

use std::process::ExitCode;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::cli::{LogFormat, ServiceArgs, StandaloneArgs};
use crate::standalone::Explicit;

/// Which process to run.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    /// The controller.
    Controller,
    /// An agent.
    Agent,
    /// Migrations only.
    Migrate,
}

/// Runs standalone mode until SIGINT / SIGTERM.
pub fn run_standalone(args: &StandaloneArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.service.log_format);
    let figment = figment(&args.service)?;
    let explicit = Explicit {
        database_url: figment.find_value("database_url").is_ok(),
        default_segment: figment.find_value("default_segment").is_ok(),
    };
    let config = extract(&figment)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let metrics = install_metrics(&shutdown)?;
        crate::standalone::run(args, config, explicit, metrics, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `service` until SIGINT / SIGTERM.
pub fn run(service: Service, args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        match service {
            Service::Controller => {
                let config: opsconductor_controller::ControllerConfig = load_config(args)?;
                let metrics = install_metrics(&shutdown)?;
                let controller = opsconductor_controller::Controller::build(config)
                    .await?
                    .with_metrics(metrics)
                    .with_web_ui(web_ui());
                controller.run_until_stopped(shutdown).await?;
            }
            Service::Agent => {
                let config: opsconductor_agent::AgentConfig = load_config(args)?;
                let metrics = install_metrics(&shutdown)?;
                match opsconductor_agent::Agent::build(config, &shutdown).await {
                    Ok(agent) => {
                        agent
                            .with_metrics(metrics)
                            .run_until_stopped(shutdown)
                            .await?
                    }
                    // Stopped while enrolling: a clean stop.
                    Err(opsconductor_agent::AgentError::Interrupted) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Service::Migrate => {
                let config: opsconductor_controller::ControllerConfig = load_config(args)?;
                let store = opsconductor_store::open(&config.database_url, 2).await?;
                store.migrate().await?;
                tracing::info!("migrations applied");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Histogram buckets of every `*_seconds` metric: from a millisecond (an ingest batch) to
/// a minute (an SSH command).
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process's Prometheus recorder (histograms with buckets, so dashboards can
/// take quantiles across replicas) and keeps it tidy until `shutdown`.
fn install_metrics(shutdown: &CancellationToken) -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .context("metrics buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let upkeep = handle.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => upkeep.run_upkeep(),
            }
        }
    });
    Ok(handle)
}

/// Settings not given anywhere take their serde defaults.
fn load_config<T: DeserializeOwned>(args: &ServiceArgs) -> anyhow::Result<T> {
    extract(&figment(args)?)
}

fn extract<T: DeserializeOwned>(figment: &Figment) -> anyhow::Result<T> {
    figment
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

/// The configuration sources: the TOML file if given, then `OPSCONDUCTOR_*` variables.
fn figment(args: &ServiceArgs) -> anyhow::Result<Figment> {
    let mut figment = Figment::new();
    if let Some(path) = &args.config {
        anyhow::ensure!(
            path.is_file(),
            "configuration file {} does not exist",
            path.display()
        );
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(
        Env::prefixed("OPSCONDUCTOR_")
            .ignore(&[
                "CONFIG",
                "LOG_FORMAT",
                "LOG",
                "LIBRARY_DIR",
                "LIBRARY_PLUGINS",
                "DATA_DIR",
                "PROFILE",
            ])
            .split("__"),
    );
    Ok(figment)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPSCONDUCTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// The embedded web UI for the controller, with a warning when this binary was built
/// without it (no Node.js at build time): the API works, the browser shows how to build it.
pub(crate) fn web_ui() -> axum::Router {
    if !opsconductor_web::is_built() {
        tracing::warn!(
            "this binary was built without the web UI (web/dist was missing): the API works; \
             run `make web` and rebuild to serve the UI"
        );
    }
    opsconductor_web::router()
}
