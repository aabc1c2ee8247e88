//! The long-running subcommands: `standalone`, `controller`, `agent`, `migrate`.

use std::process::ExitCode;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
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
        crate::standalone::run(args, config, explicit, shutdown).await?;
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
                let controller = opsconductor_controller::Controller::build(config).await?;
                controller.run_until_stopped(shutdown).await?;
            }
            Service::Agent => {
                let config: opsconductor_agent::AgentConfig = load_config(args)?;
                opsconductor_agent::run(config, shutdown).await?;
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
