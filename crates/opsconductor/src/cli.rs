//! Command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// OpsConductor: distributed network monitor and job runner.
#[derive(Debug, Parser)]
#[command(name = "opsconductor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with the command, parser and target-source libraries.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Run everything in one process: controller, an agent for segment `local`, a SQLite
    /// store and an in-process queue. Nothing to install; data in `--data-dir`.
    Standalone(StandaloneArgs),
    /// Run the controller (scale-out mode: PostgreSQL + RabbitMQ).
    Controller(ServiceArgs),
    /// Run an agent for one network segment.
    Agent(ServiceArgs),
    /// Apply the database migrations and exit.
    Migrate(ServiceArgs),
}

/// Configuration of a long-running process: defaults, then the optional TOML file, then
/// `OPSCONDUCTOR_*` environment variables (nested keys with `__`, e.g.
/// `OPSCONDUCTOR_QUEUE__URL`).
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "OPSCONDUCTOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(
        long,
        value_enum,
        env = "OPSCONDUCTOR_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// `standalone`: the controller's settings (file and environment, as for `controller`)
/// plus where the data lives.
#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// Configuration and logging, as for `controller`.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The database, the generated keys and the local agent's identity.
    #[arg(long, env = "OPSCONDUCTOR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// How logs are written to standard error.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the libraries live.
#[derive(Debug, Args)]
pub struct LibraryDir {
    /// Library directory (holds commandLibrary.json, parserLibrary.json,
    /// targetSourceLibrary.json and an optional plugins/ folder).
    #[arg(
        long = "dir",
        env = "OPSCONDUCTOR_LIBRARY_DIR",
        default_value = "libraries"
    )]
    pub dir: PathBuf,
    /// An extra directory of library packs.
    #[arg(long = "plugins", env = "OPSCONDUCTOR_LIBRARY_PLUGINS")]
    pub plugins: Option<PathBuf>,
}

/// `library` subcommands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Load and check every library file: schemas, templates, criteria, parsers and their
    /// samples, cross-references. Exits 1 and lists every problem when anything is wrong.
    Validate {
        /// Library directory (default: ./libraries or $OPSCONDUCTOR_LIBRARY_DIR).
        dir: Option<PathBuf>,
        /// An extra directory of library packs.
        #[arg(long, env = "OPSCONDUCTOR_LIBRARY_PLUGINS")]
        plugins: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Render a command's live preview with params (`--param count=4`).
    Preview {
        /// Command id, e.g. ping.icmp.
        command: String,
        /// A param as NAME=VALUE; VALUE is read as JSON when it parses, else as text.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Target shown in the preview.
        #[arg(long, default_value = "192.0.2.1")]
        target: String,
        /// Library location.
        #[command(flatten)]
        library: LibraryDir,
    },
    /// Run a parser on a sample read from standard input and print the fields as JSON.
    Parse {
        /// Parser id, e.g. ping.stats.
        parser: String,
        /// Library location.
        #[command(flatten)]
        library: LibraryDir,
    },
    /// List library entries.
    List {
        /// Which entries.
        #[arg(value_enum, default_value = "commands")]
        what: ListWhat,
        /// Library location.
        #[command(flatten)]
        library: LibraryDir,
    },
}

/// Entry types for `library list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// Commands.
    Commands,
    /// Parsers.
    Parsers,
    /// Target sources.
    TargetSources,
}
