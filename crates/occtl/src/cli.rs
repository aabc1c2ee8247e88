//! The command-line grammar (clap derive). Nothing here talks to the controller.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the controller's gRPC API listens unless `--server` / `OCCTL_SERVER` says otherwise
/// (the controller's default `grpc_listen`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// occtl — drive an OpsConductor controller over its gRPC API.
#[derive(Debug, Parser)]
#[command(name = "occtl", version, about, long_about = None)]
pub struct Cli {
    /// The controller's gRPC address.
    #[arg(long, global = true, env = "OCCTL_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// TLS to an `https://` server.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// An API token (`oct_…`, made at `/api/v1/api-tokens`) or an access token; sent as
    /// `authorization: Bearer`. Prefer the environment variable: arguments show up in
    /// process lists.
    #[arg(long, global = true, env = "OCCTL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// `human` (tables and sentences; `table` is the same) or `json` (one JSON document;
    /// `run --watch` and `scan start --wait` write one JSON object per line).
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// TLS settings for an `https://` server.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// PEM CA certificate(s) the controller's certificate must chain to (required for
    /// `https://`).
    #[arg(long, global = true, env = "OCCTL_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a controller that requires mutual TLS.
    #[arg(long, global = true, env = "OCCTL_CERT_FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// PEM key of `--cert-file`.
    #[arg(long, global = true, env = "OCCTL_KEY_FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

/// Output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    #[value(alias = "table")]
    Human,
    /// For scripts.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, show and delete jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Start a run of a job now.
    Run(RunArgs),
    /// Look at or cancel runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Query results of a run or a job.
    Results(ResultsArgs),
    /// Use the controller's command and parser libraries.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// The agents working for the controller.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Discover devices: start, follow, list and compare scans.
    #[command(subcommand, alias = "scans")]
    Scan(ScanCommand),
    /// The device inventory scans and imports fill.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Device groups, as jobs target them.
    #[command(subcommand)]
    Groups(GroupsCommand),
}

/// `occtl jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Create a job from a JSON job file.
    Create {
        /// The job file (`-` reads standard input).
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// List jobs by name.
    List {
        /// Only jobs whose name or description contains this text.
        #[arg(long)]
        text: Option<String>,
        /// Only jobs with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only enabled jobs.
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        /// Only disabled jobs.
        #[arg(long)]
        disabled: bool,
    },
    /// Show one job with its spec.
    Show {
        /// Job id.
        id: String,
    },
    /// Delete a job with its runs and results.
    Delete {
        /// Job id.
        id: String,
        /// Refuse if the job changed since this version was read.
        #[arg(long)]
        expected_version: Option<i64>,
    },
}

/// `occtl run JOB_ID [--watch]`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job id.
    pub job_id: String,
    /// Follow the run until it ends, with a live progress line; the exit status is 0 only
    /// if it completed.
    #[arg(long, short)]
    pub watch: bool,
}

/// `occtl runs …`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Show one run with its counters.
    Show {
        /// Run id.
        id: String,
    },
    /// Cancel a queued or running run.
    Cancel {
        /// Run id.
        id: String,
        /// Recorded on the run and its unfinished results.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `occtl results --run ID | --job ID`
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Results of this run.
    #[arg(long, required_unless_present = "job", conflicts_with = "job")]
    pub run: Option<String>,
    /// Results of this job's runs, newest run first.
    #[arg(long)]
    pub job: Option<String>,
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only this outcome.
    #[arg(long, value_enum)]
    pub status: Option<ResultStatusArg>,
    /// Started at or after (RFC 3339, e.g. 2026-04-01T00:00:00Z).
    #[arg(long)]
    pub from: Option<String>,
    /// Started before (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many results.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Table, JSON or CSV (default: table, or JSON with `--output json`).
    #[arg(long, value_enum)]
    pub format: Option<ResultsFormat>,
}

/// A result status on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultStatusArg {
    /// Met its ok criteria.
    Ok,
    /// Met warn.
    Warn,
    /// Missed its criteria.
    Fail,
    /// Could not run.
    Error,
    /// Ran out of time.
    Timeout,
}

/// How `results` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultsFormat {
    /// Aligned columns.
    Table,
    /// One JSON array.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// `occtl library …`
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Validate a job file against the controller's libraries (exit status 1 if invalid).
    Validate {
        /// The job file (`-` reads standard input).
        file: PathBuf,
    },
    /// Render a command with params, as an agent would run it (secrets masked).
    Preview {
        /// Command id, e.g. `ping.icmp`.
        command: String,
        /// A param as `name=value`; the value is read as JSON when it is JSON (`count=5`,
        /// `verbose=true`) and as text otherwise (`family=ipv4`).
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Render for this target instead of the `{{ target }}` placeholder.
        #[arg(long)]
        target: Option<String>,
    },
    /// Run a parser on captured output (exit status 1 if the sample had problems).
    Parse {
        /// Parser id from the library, e.g. `ping.stats`.
        #[arg(required_unless_present = "definition", conflicts_with = "definition")]
        parser_id: Option<String>,
        /// A parser definition file to try instead of a library parser.
        #[arg(long)]
        definition: Option<PathBuf>,
        /// The captured output (`-` reads standard input).
        #[arg(long)]
        sample: PathBuf,
    },
}

/// `occtl agents …`
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List enrolled agents with their liveness.
    List,
}

/// `occtl scan …`
#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// Start a discovery scan of a range.
    Start(Box<ScanStartArgs>),
    /// List scans, newest first.
    List {
        /// At most this many scans.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one scan with its counts and request.
    Show {
        /// Scan id.
        id: String,
    },
    /// New, changed and gone hosts against the previous scan of the same range.
    Diff {
        /// Scan id.
        id: String,
    },
    /// Cancel a running scan (what it found so far still reaches the inventory).
    Cancel {
        /// Scan id.
        id: String,
    },
}

/// `occtl scan start RANGE… [probes] [--wait]`: the range and the discovery profile.
/// Without probe options a scan only pings.
#[derive(Debug, Args)]
pub struct ScanStartArgs {
    /// What to scan: addresses, CIDRs (`10.0.0.0/24`) and ranges (`10.0.0.1-50`), as
    /// separate arguments or separated by commas.
    #[arg(required = true, value_name = "RANGE")]
    pub ranges: Vec<String>,
    /// Addresses, CIDRs or ranges never to probe (repeatable).
    #[arg(long, value_name = "RANGE")]
    pub exclude: Vec<String>,
    /// A label for the scan history (default: the range).
    #[arg(long)]
    pub name: Option<String>,
    /// Probe every address, not only those that answer ping (for networks that drop ICMP;
    /// slower, as silent addresses wait out their timeouts).
    #[arg(long)]
    pub no_ping: bool,
    /// A TCP port to try on each live host (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Read the SNMP system group with this v1/v2c community. It is stored in the scan's
    /// request in the clear: prefer --snmp-credential.
    #[arg(long, value_name = "COMMUNITY", conflicts_with = "snmp_credential")]
    pub snmp_community: Option<String>,
    /// Read the SNMP system group with this vault credential (its id).
    #[arg(long, value_name = "ID")]
    pub snmp_credential: Option<String>,
    /// The SNMP version (default 2c; 3 needs a credential).
    #[arg(long, value_name = "VERSION", value_parser = ["1", "2c", "3"])]
    pub snmp_version: Option<String>,
    /// The SNMP UDP port (default 161). Any --snmp-* option turns the SNMP probe on (with
    /// the community `public` unless one is given).
    #[arg(long, value_name = "N")]
    pub snmp_port: Option<u16>,
    /// Read the SSH banner on this port.
    #[arg(long, value_name = "N")]
    pub ssh_port: Option<u16>,
    /// Fetch the HTTP front page (status, Server header, title) on this port (repeatable).
    #[arg(long = "http", value_name = "PORT")]
    pub http: Vec<u16>,
    /// Fetch the HTTPS front page on this port (repeatable).
    #[arg(long = "https", value_name = "PORT")]
    pub https: Vec<u16>,
    /// Follow the scan until it ends, with a live progress line, then print its counts; the
    /// exit status is 0 only if it completed.
    #[arg(long, short)]
    pub wait: bool,
}

/// `occtl devices …`
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List devices in address order.
    List {
        /// A filter in the group filter language, e.g. `vendor = "Cisco" and tag = core`.
        #[arg(long)]
        filter: Option<String>,
        /// Text in the address, host name, vendor, model, OS, sysName or tags.
        #[arg(long)]
        search: Option<String>,
        /// Only devices with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// At most this many devices (default: all).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one device with everything scans learned about it.
    Show {
        /// IPv4 or IPv6 address.
        address: String,
    },
    /// Add and remove tags on devices.
    Tag {
        /// The devices' addresses.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<String>,
        /// A tag to add (repeatable).
        #[arg(long, value_name = "TAG", required_unless_present = "remove")]
        add: Vec<String>,
        /// A tag to remove (repeatable).
        #[arg(long, value_name = "TAG")]
        remove: Vec<String>,
    },
    /// Import devices from a CSV file (header row naming `address` and any of hostname,
    /// vendor, model, os, tags, notes) or a JSON array. Bad lines are reported and left
    /// out; the exit status is 1 if any was.
    Import {
        /// The file; `.json` is read as JSON, `.csv` as CSV (`-` reads standard input and
        /// needs --format).
        file: PathBuf,
        /// The file's format, when its extension does not say.
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Check the file and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The format of a device import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Comma-separated with a header row.
    Csv,
    /// A JSON array of device objects.
    Json,
}

/// `occtl groups …`
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List groups with their member counts now.
    List,
    /// The targets a group selects now.
    Members {
        /// Group name.
        name: String,
        /// List at most this many (the count is always the full count).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn results_need_a_run_or_a_job_but_not_both() {
        assert!(Cli::try_parse_from(["occtl", "results"]).is_err());
        assert!(Cli::try_parse_from(["occtl", "results", "--run", "a", "--job", "b"]).is_err());
        let cli =
            Cli::try_parse_from(["occtl", "-o", "json", "results", "--job", "b"]).expect("parses");
        assert_eq!(cli.output, Output::Json);
    }

    #[test]
    fn output_takes_table_for_human_after_the_subcommand_too() {
        let cli = Cli::try_parse_from(["occtl", "devices", "list", "-o", "table"]).expect("parses");
        assert_eq!(cli.output, Output::Human);
        let cli = Cli::try_parse_from(["occtl", "devices", "list", "--tag", "core", "-o", "json"])
            .expect("parses");
        assert_eq!(cli.output, Output::Json);
    }

    #[test]
    fn a_scan_needs_a_range_and_one_snmp_secret_at_most() {
        assert!(Cli::try_parse_from(["occtl", "scan", "start"]).is_err());
        assert!(
            Cli::try_parse_from([
                "occtl",
                "scan",
                "start",
                "10.0.0.0/24",
                "--snmp-community",
                "public",
                "--snmp-credential",
                "x",
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["occtl", "scan", "start", "10.0.0.0/24", "--port", "70000"])
                .is_err()
        );
        let cli = Cli::try_parse_from(["occtl", "scans", "list"]).expect("the plural works too");
        assert!(matches!(
            cli.command,
            Command::Scan(ScanCommand::List { limit: 100 })
        ));
    }

    #[test]
    fn tagging_needs_a_tag_to_add_or_remove() {
        assert!(Cli::try_parse_from(["occtl", "devices", "tag", "10.0.0.1"]).is_err());
        assert!(Cli::try_parse_from(["occtl", "devices", "tag", "--add", "x"]).is_err());
        let cli = Cli::try_parse_from([
            "occtl", "devices", "tag", "10.0.0.1", "10.0.0.2", "--remove", "old",
        ])
        .expect("parses");
        let Command::Devices(DevicesCommand::Tag {
            addresses,
            add,
            remove,
        }) = cli.command
        else {
            panic!("a tag command");
        };
        assert_eq!(addresses, ["10.0.0.1", "10.0.0.2"]);
        assert!(add.is_empty());
        assert_eq!(remove, ["old"]);
    }
}
