//! The processes a benchmark measures: a fresh PostgreSQL database, a random RabbitMQ
//! queue prefix, `opsconductor controller` and one `opsconductor agent` started from the
//! release binary, and a REST client signed in as the first admin.
//!
//! A [`World`] owns all of it; dropping it kills the two children (by their own handles),
//! deletes the queue topology and drops the database.

#![expect(
    clippy::print_stdout,
    reason = "the harness says on the benchmark's report what it waits for or fails to clean"
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use opsconductor_store::PgStore;
use opsconductor_store::testing::{TestDb, fresh_database};
use serde_json::{Value, json};

use crate::{ADMIN, api_client, api_token, random_auth_key};

/// The agent's name, as the controller lists it.
pub const AGENT_NAME: &str = "bench-agent";

/// An environment variable parsed as `T`, or `default` when unset or unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// How the controller and the agent are started, from the environment.
#[derive(Debug, Clone)]
pub struct Processes {
    /// The broker (`OC_BENCH_AMQP_URL`).
    pub amqp_url: String,
    /// The release binary (`OC_BENCH_BINARY`, default: `opsconductor` next to this one).
    pub binary: PathBuf,
    /// The shipped libraries, from the source tree the benchmark was built from.
    pub libraries: PathBuf,
    /// Agent `max_chunks_in_flight` (`OC_BENCH_AGENT_CHUNKS`).
    pub agent_chunks: u32,
    /// Agent `max_concurrency` (`OC_BENCH_AGENT_CONCURRENCY`).
    pub agent_concurrency: u32,
    /// Agent `batch_max_results` (`OC_BENCH_AGENT_BATCH`).
    pub agent_batch: u32,
}

impl Processes {
    /// Reads `OC_BENCH_AMQP_URL`, `OC_BENCH_BINARY`, `OC_BENCH_AGENT_CHUNKS` (default 4),
    /// `OC_BENCH_AGENT_CONCURRENCY` (4096) and `OC_BENCH_AGENT_BATCH` (1000).
    pub fn from_env() -> anyhow::Result<Self> {
        let binary = match std::env::var_os("OC_BENCH_BINARY") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_exe()
                .context("locating this binary")?
                .with_file_name("opsconductor"),
        };
        Ok(Self {
            amqp_url: std::env::var("OC_BENCH_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
            binary,
            libraries: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../libraries"),
            agent_chunks: env_or("OC_BENCH_AGENT_CHUNKS", 4),
            agent_concurrency: env_or("OC_BENCH_AGENT_CONCURRENCY", 4096),
            agent_batch: env_or("OC_BENCH_AGENT_BATCH", 1000),
        })
    }

    /// Fails unless the release binary exists.
    pub fn check_binary(&self) -> anyhow::Result<()> {
        ensure!(
            self.binary.is_file(),
            "{} does not exist: build it first (cargo build --release -p opsconductor)",
            self.binary.display()
        );
        Ok(())
    }
}

/// A child process of ours with its log file; killed (by its own handle) when dropped.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log (stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 40)
            );
        }
        Ok(())
    }

    /// Peak resident set (`VmHWM`) in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .ok_or_else(|| anyhow!("no VmHWM in {path}"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("VmHWM of {path}"))?;
        Ok(kib * 1024)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}

/// A loopback address with a port nobody listens on now.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("picking a free port")?;
    Ok(listener.local_addr()?)
}

/// A command for the release binary with only the settings we give it, stderr to `log`.
fn opsconductor(binary: &Path, log: &Path) -> anyhow::Result<Command> {
    let mut cmd = Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("OPSCONDUCTOR_") {
            cmd.env_remove(key);
        }
    }
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.env("OPSCONDUCTOR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    Ok(cmd)
}

/// Database, broker prefix, the two processes and a REST client. Dropping it kills the
/// processes, deletes the queue topology and drops the database.
pub struct World {
    processes: Processes,
    controller: Option<Proc>,
    agent: Option<Proc>,
    prefix: String,
    grpc: SocketAddr,
    http: SocketAddr,
    /// Sends the admin's API token once the controller is up (see `start_controller`).
    client: reqwest::Client,
    /// The first admin's password (random per run).
    admin_password: String,
    dir: tempfile::TempDir,
    store: PgStore,
    db: TestDb,
}

impl World {
    /// A fresh database, a random queue prefix, free ports and a log directory; nothing
    /// started yet.
    pub async fn new(processes: &Processes) -> anyhow::Result<Self> {
        let (store, db) = fresh_database().await;
        Ok(Self {
            processes: processes.clone(),
            controller: None,
            agent: None,
            prefix: format!(
                "oc-bench-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            grpc: free_port()?,
            http: free_port()?,
            client: api_client(None)?,
            admin_password: uuid::Uuid::new_v4().simple().to_string(),
            dir: tempfile::Builder::new().prefix("oc-bench-").tempdir()?,
            store,
            db,
        })
    }

    /// The store on the fresh database (the one the controller uses).
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// The fresh database's URL.
    pub fn db_url(&self) -> &str {
        self.db.url()
    }

    /// Where the children's logs go (`controller.log`, `agent.log`).
    pub fn logs_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the logs directory when the world is dropped.
    pub fn keep_logs(&mut self) {
        self.dir.disable_cleanup(true);
    }

    /// The REST API's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// A REST call; fails unless it answers 2xx with JSON.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }

    fn queue_env(&self, cmd: &mut Command) {
        cmd.env("OPSCONDUCTOR_QUEUE__URL", &self.processes.amqp_url)
            .env("OPSCONDUCTOR_QUEUE__PREFIX", &self.prefix);
    }

    /// Starts the controller with a first admin, waits until it answers and signs in: the
    /// client sends an API token of that admin from then on.
    pub async fn start_controller(&mut self) -> anyhow::Result<()> {
        let binary = self.processes.binary.clone();
        let log = self.dir.path().join("controller.log");
        let mut cmd = opsconductor(&binary, &log)?;
        cmd.arg("controller")
            .env("OPSCONDUCTOR_DATABASE_URL", self.db.url())
            .env("OPSCONDUCTOR_GRPC_LISTEN", self.grpc.to_string())
            .env("OPSCONDUCTOR_HTTP_LISTEN", self.http.to_string())
            .env("OPSCONDUCTOR_LIBRARIES_DIR", &self.processes.libraries)
            // The controller starts once per run: a random token key will do.
            .env("OPSCONDUCTOR_AUTH_KEY", random_auth_key())
            .env("OPSCONDUCTOR_BOOTSTRAP_ADMIN", ADMIN)
            .env(
                "OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD",
                &self.admin_password,
            );
        self.queue_env(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.controller = Some(Proc {
            name: "controller".into(),
            child,
            log,
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                let token =
                    api_token(&self.client, &self.url(""), &self.admin_password, "bench").await?;
                self.client = api_client(Some(&token))?;
                return Ok(());
            }
            self.controller_mut()?.check_alive()?;
            ensure!(
                Instant::now() < deadline,
                "the controller did not answer /healthz within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The controller, once started.
    pub fn controller_mut(&mut self) -> anyhow::Result<&mut Proc> {
        self.controller
            .as_mut()
            .ok_or_else(|| anyhow!("no controller"))
    }

    /// The agent, once started.
    pub fn agent_mut(&mut self) -> anyhow::Result<&mut Proc> {
        self.agent.as_mut().ok_or_else(|| anyhow!("no agent"))
    }

    /// Fails when the controller or the agent has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.controller_mut()?.check_alive()?;
        self.agent_mut()?.check_alive()
    }

    /// Creates the `default` segment (no CIDRs: it takes every target no other segment
    /// routes), enrolls one agent in it, starts it and waits until it is online.
    pub async fn start_agent(&mut self) -> anyhow::Result<()> {
        self.put("/api/v1/segments/default", json!({"cidrs": []}))
            .await?;
        let token = self
            .post("/api/v1/enrollment-tokens", json!({"segment": "default"}))
            .await?["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token in the enrollment response"))?
            .to_owned();
        let p = self.processes.clone();
        let log = self.dir.path().join("agent.log");
        let mut cmd = opsconductor(&p.binary, &log)?;
        cmd.arg("agent")
            .env(
                "OPSCONDUCTOR_CONTROLLER_URL",
                format!("http://{}", self.grpc),
            )
            .env("OPSCONDUCTOR_ENROLLMENT_TOKEN", token)
            .env(
                "OPSCONDUCTOR_IDENTITY_FILE",
                self.dir.path().join("agent.identity.json"),
            )
            .env("OPSCONDUCTOR_NAME", AGENT_NAME)
            .env(
                "OPSCONDUCTOR_MAX_CHUNKS_IN_FLIGHT",
                p.agent_chunks.to_string(),
            )
            .env(
                "OPSCONDUCTOR_MAX_CONCURRENCY",
                p.agent_concurrency.to_string(),
            )
            .env("OPSCONDUCTOR_BATCH_MAX_RESULTS", p.agent_batch.to_string());
        self.queue_env(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", p.binary.display()))?;
        self.agent = Some(Proc {
            name: "agent".into(),
            child,
            log,
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let agents = self.get("/api/v1/agents").await?;
            let online = agents.as_array().is_some_and(|list| {
                list.iter()
                    .any(|a| a["name"] == AGENT_NAME && a["online"] == true)
            });
            if online {
                return Ok(());
            }
            self.check_alive()?;
            ensure!(
                Instant::now() < deadline,
                "the agent did not come online within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Our own children, by their handles; then the broker topology. The database goes
        // with `db` (TestDb drops it).
        self.agent.take();
        self.controller.take();
        let config = opsconductor_queue::QueueConfig {
            url: self.processes.amqp_url.clone(),
            prefix: self.prefix.clone(),
            ..opsconductor_queue::QueueConfig::default()
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Err(e) = opsconductor_queue::delete_topology(&config, &["default"]).await
                    {
                        println!("could not delete queue topology {}: {e}", config.prefix);
                    }
                });
            }
        })
        .join();
    }
}

/// Waits until something listens on the broker's port (a test elsewhere may be
/// restarting RabbitMQ).
pub async fn wait_for_broker(url: &str) -> anyhow::Result<()> {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("cannot read host:port from the AMQP URL"))?;
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut said = false;
    loop {
        if TcpStream::connect(host_port).is_ok() {
            return Ok(());
        }
        if !said {
            println!("waiting for RabbitMQ on {host_port} …");
            said = true;
        }
        ensure!(
            Instant::now() < deadline,
            "RabbitMQ is not listening on {host_port}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Fails unless every address `cidr` expands to is a loopback address: the benchmarks
/// send traffic to 127.0.0.0/8 only.
pub fn loopback_targets(cidr: &str) -> anyhow::Result<u64> {
    let spec = opsconductor_core::targets::TargetSpec::range(cidr);
    let expanded = opsconductor_core::targets::expand(&spec, &opsconductor_core::targets::NoGroups)
        .map_err(|e| anyhow!("OC_BENCH_CIDR {cidr:?}: {e}"))?;
    ensure!(
        expanded
            .iter()
            .all(|t| t.ip().is_some_and(|ip| ip.is_loopback())),
        "this benchmark only probes loopback addresses"
    );
    Ok(expanded.len())
}

/// Runs `psql -c command` against `url`, feeding `stdin` if given.
pub fn psql(url: &str, command: &str, stdin: Option<&[u8]>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            command,
        ])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running psql (installed with PostgreSQL)")?;
    if let Some(bytes) = stdin {
        let mut pipe = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("psql has no stdin"))?;
        pipe.write_all(bytes).context("writing to psql")?;
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "psql {command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One value from `psql`.
pub fn psql_scalar(url: &str, query: &str) -> anyhow::Result<String> {
    psql(url, query, None)
}
