//! The scan benchmark: a discovery scan of a /16 with ping and one TCP port, end to end
//! into the inventory, next to the anchor tools over the same range in the same run.
//!
//! ```text
//! make bench-scan
//! # = cargo build --release --locked -p opsconductor -p opsconductor-bench
//! #   && target/release/opsconductor-bench-scan
//! ```
//!
//! The processes are the pipeline benchmark's (`src/main.rs`, [`World`]): a fresh
//! database, a random queue prefix, `opsconductor controller` and one `opsconductor agent`
//! (segment `default`) from the release binary next to this one. The harness listens on
//! `127.0.0.1:PORT` only (it accepts and closes at once), so one address of the range has
//! the port open and every other one answers RST.
//!
//! Phases:
//!
//! 1. **Warm-up** (untimed): a scan of `127.255.255.0/24` with the same profile.
//! 2. **Timed scans**, `OC_BENCH_RUNS` of them, each after the anchors of its round:
//!    - `fping -a -q -i 0 -r 0 -t 200 -g CIDR` — the sweep;
//!    - `nmap -n -sn CIDR` — nmap's host discovery alone (as root: ICMP echo, TCP SYN
//!      to 443, TCP ACK to 80, ICMP timestamp);
//!    - `nmap -n -sT -p PORT CIDR` — discovery, then a connect to the port on every live
//!      host: the same work as our scan, in one tool;
//!    - `nmap -n -Pn -sT -p PORT CIDR` — the connects alone; fping + this is "sweep, then
//!      the port on every host" done by the two anchors one after the other;
//!    - ours: `POST /api/v1/scans` (`ping.alive` gate, then `tcp.port` on hosts that
//!      answered) timed from the request until the scan's `finished_at` (its results
//!      folded into the inventory), and until a poll sees it `completed`. The poll reads
//!      the scan's run every 20 ms while it runs (cheap) and then the scan every 50 ms
//!      (a running scan's GET counts its results so far).
//!
//!    Each scan is checked: completed, every address probed and alive (every 127.x
//!    answers ping), and `GET /api/v1/devices?filter=port = PORT` has exactly the one
//!    device with the port open. Its timeline is printed: the run's first and last stored
//!    results, when the finisher started folding and when its transaction committed (the
//!    controller's `scan finished; inventory updated` line with `elapsed_ms`), and the CPU
//!    seconds of controller, agent, PostgreSQL, RabbitMQ and the rest.
//! 3. **The fold's parts**, once, for the last scan: the store calls the finisher makes
//!    (`scan_results`, `devices_by_address`, `scan_hosts`, and `finish_scan` — the write —
//!    on a scan record made for it with the same hosts), timed in-process, and
//!    `GET /api/v1/devices` with the port filter. The controller's peak RSS is read when
//!    each scan completes and after its device listing.
//!
//! Needs PostgreSQL (`OPSCONDUCTOR_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), RabbitMQ on `OC_BENCH_AMQP_URL`, `fping`,
//! `nmap` and `psql` on the PATH (`scripts/install-deps.sh`), and root for the agent's ICMP
//! socket and nmap's discovery probes.
//!
//! Knobs (environment): `OC_BENCH_RUNS` (timed scans, default 3), `OC_BENCH_CIDR` (loopback
//! only, default `127.0.0.0/16`), `OC_BENCH_PORT` (the open port, default: one the system
//! picks), `OC_BENCH_CONCURRENCY` (the scan's `options.concurrency`, default 4096),
//! `OC_BENCH_HOST_TIMEOUT_MS` (`options.host_timeout_ms`, default 5000),
//! `OC_BENCH_SILENT_PORT` (set: the open port keeps each connection 30 s and sends
//! nothing, like a server waiting for a request, instead of closing it), the agent's
//! `OC_BENCH_AGENT_CHUNKS` / `OC_BENCH_AGENT_CONCURRENCY` / `OC_BENCH_AGENT_BATCH` (defaults
//! 4 / 4096 / 1000), `OC_BENCH_BINARY`, `OC_BENCH_KEEP_LOGS` (set: keep the children's logs).
//!
//! Exits non-zero only when the harness itself fails (a process does not start, a scan
//! does not complete, …); a wrong count is reported in the table, not as a failure.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use opsconductor_store::prelude::*;
use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use chrono::{DateTime, Utc};
use opsconductor_bench::harness::{
    Processes, World, env_or, loopback_targets, psql_scalar, wait_for_broker,
};
use opsconductor_bench::measure::{
    CpuSample, FpingTiming, children_cpu_seconds, fping, median, opt_secs, range, settle, since,
    thousands,
};
use opsconductor_core::ids::RunId;
use opsconductor_core::model::{Run, RunStatus};
use opsconductor_store::{NewScan, ObservedDevice, ScanFinish, ScanState};
use serde_json::{Value, json};
use uuid::Uuid;

/// fping's reply timeout (milliseconds), as in the pipeline benchmark.
const FPING_TIMEOUT_MS: u64 = 200;
/// How often the scan's run is polled while it runs.
const RUN_POLL: Duration = Duration::from_millis(20);
/// How often the scan is polled once its run is over.
const SCAN_POLL: Duration = Duration::from_millis(50);
/// Longest a scan may take before the harness gives up.
const SCAN_LIMIT: Duration = Duration::from_secs(600);
/// The warm-up scan's range (untimed): connects the relay's publisher, declares the queue,
/// starts the agent's consumer, runs the finisher once.
const WARM_UP_CIDR: &str = "127.255.255.0/24";
/// How long a silent open port keeps a connection before closing it.
const SILENT_HOLD: Duration = Duration::from_secs(30);
/// The controller's log line when a scan's results are in the inventory.
const FOLD_MESSAGE: &str = "scan finished; inventory updated";

/// The harness's settings, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    runs: usize,
    cidr: String,
    /// 0: let the system pick.
    port: u16,
    concurrency: u32,
    host_timeout_ms: u64,
    /// The open port keeps connections without sending anything.
    silent_port: bool,
    processes: Processes,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            runs: env_or("OC_BENCH_RUNS", 3_usize).max(1),
            cidr: std::env::var("OC_BENCH_CIDR").unwrap_or_else(|_| "127.0.0.0/16".into()),
            port: env_or("OC_BENCH_PORT", 0),
            concurrency: env_or("OC_BENCH_CONCURRENCY", 4096),
            host_timeout_ms: env_or("OC_BENCH_HOST_TIMEOUT_MS", 5000),
            silent_port: std::env::var_os("OC_BENCH_SILENT_PORT").is_some(),
            processes: Processes::from_env()?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The open port

/// A listener on 127.0.0.1 only, counting connections. It accepts and closes at once: a
/// service that sends nothing and keeps the connection (`silent`, like an HTTP server
/// waiting for a request) holds our `tcp.port` probe until its read timeout.
struct OpenPort {
    port: u16,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl OpenPort {
    async fn bind(port: u16, silent: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                        if silent {
                            tokio::spawn(async move {
                                tokio::time::sleep(SILENT_HOLD).await;
                                drop(stream);
                            });
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Self {
            port,
            accepted,
            task,
        })
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for OpenPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Anchors

/// One nmap run.
#[derive(Debug, Clone, Copy)]
struct NmapTiming {
    elapsed: Duration,
    /// nmap's own "scanned in N seconds".
    reported: Option<f64>,
    hosts_up: Option<u64>,
    /// Hosts listed with the port open.
    open: usize,
    cpu: Option<f64>,
}

/// `nmap -n ARGS CIDR`, timed; its summary line parsed.
fn nmap(args: &[&str], cidr: &str, port: u16) -> anyhow::Result<NmapTiming> {
    let cpu_before = children_cpu_seconds();
    let t0 = Instant::now();
    let out = Command::new("nmap")
        .arg("-n")
        .args(args)
        .arg(cidr)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running nmap (scripts/install-deps.sh installs it)")?;
    let elapsed = t0.elapsed();
    let cpu = children_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    ensure!(
        out.status.success(),
        "nmap {args:?} failed: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let open_line = format!("{port}/tcp");
    let open = text
        .lines()
        .filter(|l| l.starts_with(&open_line) && l.split_whitespace().nth(1) == Some("open"))
        .count();
    // "Nmap done: 65536 IP addresses (65536 hosts up) scanned in 10.52 seconds"
    let done = text.lines().find(|l| l.starts_with("Nmap done:"));
    let hosts_up = done
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    let reported = done
        .and_then(|l| l.split("scanned in ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Ok(NmapTiming {
        elapsed,
        reported,
        hosts_up,
        open,
        cpu,
    })
}

fn cpu_text(cpu: Option<f64>) -> String {
    cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"))
}

// ---------------------------------------------------------------------------------------
// Our scan

/// One timed scan; every time in seconds relative to the scan request.
#[derive(Debug, Clone)]
struct ScanTiming {
    id: Uuid,
    run_id: RunId,
    /// The scan request's response arrived (job, run, chunks, outbox, scan written).
    accepted: f64,
    /// The agent started the first chunk.
    agent_started: Option<f64>,
    /// The first result batch was stored.
    first_stored: Option<f64>,
    /// The statement storing the last results (it ends the run) started.
    last_stored: f64,
    /// A poll saw the run over.
    run_polled: f64,
    /// The finisher began folding (its log line's time minus `elapsed_ms`).
    fold_started: Option<f64>,
    /// The scan's `finished_at`: stamped by the finisher just before its write.
    finished: f64,
    /// The finisher's transaction committed (its log line's time).
    fold_logged: Option<f64>,
    /// The finisher's `elapsed_ms`: reading the results to commit.
    fold_ms: Option<u64>,
    /// A poll saw the scan completed.
    polled: f64,
    /// How long the first GET of the scan took after its run ended (while still running
    /// it counts the results stored so far).
    running_get: f64,
    results_total: u64,
    probed: u64,
    alive: u64,
    new: u64,
    changed: u64,
    gone: u64,
    /// Devices with the port open, and the first one's address.
    port_devices: u64,
    port_device: Option<String>,
    cpu: CpuSample,
    /// Connections the open port accepted during the scan.
    connects: u64,
    /// The controller's peak RSS when the poll saw the scan completed, and after the
    /// device listing that checks the port.
    controller_hwm_folded: u64,
    controller_hwm_listed: u64,
}

fn u64_of(value: &Value) -> u64 {
    value.as_u64().unwrap_or_default()
}

fn time_of(value: &Value, what: &str) -> anyhow::Result<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| anyhow!("{what} is not a time: {value}"))
}

/// Text with terminal colour sequences taken out (the children log in colour).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The finisher's log line for `scan`: when it was written and its `elapsed_ms`.
fn fold_log(log: &std::path::Path, scan: Uuid) -> Option<(DateTime<Utc>, u64)> {
    let text = std::fs::read_to_string(log).ok()?;
    let id = scan.to_string();
    text.lines()
        .filter(|l| l.contains(FOLD_MESSAGE) && l.contains(&id))
        .map(strip_ansi)
        .find_map(|line| {
            let at: DateTime<Utc> = line.split_whitespace().next()?.parse().ok()?;
            let elapsed = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("elapsed_ms="))?
                .trim_end_matches(',')
                .parse()
                .ok()?;
            Some((at, elapsed))
        })
}

fn scan_body(name: &str, cidr: &str, port: u16, settings: &Settings) -> Value {
    json!({
        "name": name,
        "targets": {"include": [{"type": "range", "value": cidr}]},
        "profile": {"ping": true, "tcp_ports": [port]},
        "options": {
            "concurrency": settings.concurrency,
            "host_timeout_ms": settings.host_timeout_ms
        }
    })
}

/// Starts a scan, waits until it is completed and reads what it found.
async fn timed_scan(
    world: &mut World,
    name: &str,
    cidr: &str,
    open: &OpenPort,
    settings: &Settings,
) -> anyhow::Result<ScanTiming> {
    let (controller_pid, agent_pid) = (world.controller_mut()?.pid(), world.agent_mut()?.pid());
    let connects_before = open.accepted();
    let cpu_before = CpuSample::take(controller_pid, agent_pid);
    let requested_at = Utc::now();
    let t0 = Instant::now();
    let started = world
        .post("/api/v1/scans", scan_body(name, cidr, open.port, settings))
        .await?;
    let accepted = t0.elapsed().as_secs_f64();
    let id: Uuid = started["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no scan id in {started}"))?;
    let run_id: RunId = started["run_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no run id in {started}"))?;

    let run_path = format!("/api/v1/runs/{run_id}");
    let run = loop {
        let run: Run = serde_json::from_value(world.get(&run_path).await?).context("GET run")?;
        if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            break run;
        }
        if t0.elapsed() > SCAN_LIMIT {
            bail!(
                "scan {id}: run {run_id} still {:?} after {SCAN_LIMIT:?}: {:?}",
                run.status,
                run.counters
            );
        }
        world.check_alive()?;
        tokio::time::sleep(RUN_POLL).await;
    };
    let run_polled = t0.elapsed().as_secs_f64();
    ensure!(
        run.status == RunStatus::Completed,
        "scan {id}: run {run_id} ended {:?}: {:?}",
        run.status,
        run.reason
    );

    let scan_path = format!("/api/v1/scans/{id}");
    let mut running_get = None;
    let scan = loop {
        let asked = Instant::now();
        let scan = world.get(&scan_path).await?;
        running_get.get_or_insert(asked.elapsed().as_secs_f64());
        if scan["state"] != "running" {
            break scan;
        }
        if t0.elapsed() > SCAN_LIMIT {
            bail!("scan {id} still running after {SCAN_LIMIT:?}: {scan}");
        }
        world.check_alive()?;
        tokio::time::sleep(SCAN_POLL).await;
    };
    let polled = t0.elapsed().as_secs_f64();
    let cpu = CpuSample::take(controller_pid, agent_pid).since(cpu_before);
    let connects = open.accepted() - connects_before;
    ensure!(
        scan["state"] == "completed",
        "scan {id} ended {}: {}",
        scan["state"],
        scan["reason"]
    );
    let finished_at = time_of(&scan["finished_at"], "the scan's finished_at")?;
    let last_stored = run
        .finished_at
        .ok_or_else(|| anyhow!("completed run without finished_at"))?;
    // The statement that stored the first results (stored_at is its transaction's now()).
    let first_stored = psql_scalar(
        world.db_url(),
        &format!(
            "SELECT to_char(min(stored_at) AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM results WHERE run_id = '{run_id}'"
        ),
    )
    .ok()
    .and_then(|text| text.parse::<DateTime<Utc>>().ok());
    let fold = fold_log(world.controller_mut()?.log(), id);
    let controller_hwm_folded = world.controller_mut()?.peak_rss_bytes()?;

    let filter = format!("/api/v1/devices?limit=1&filter=port%20%3D%20{}", open.port);
    let devices = world.get(&filter).await?;
    let controller_hwm_listed = world.controller_mut()?.peak_rss_bytes()?;
    let counts = &scan["counts"];
    Ok(ScanTiming {
        id,
        run_id,
        accepted,
        agent_started: run.started_at.map(|at| since(requested_at, at)),
        first_stored: first_stored.map(|at| since(requested_at, at)),
        last_stored: since(requested_at, last_stored),
        run_polled,
        fold_started: fold
            .map(|(at, ms)| since(requested_at, at) - Duration::from_millis(ms).as_secs_f64()),
        finished: since(requested_at, finished_at),
        fold_logged: fold.map(|(at, _)| since(requested_at, at)),
        fold_ms: fold.map(|(_, ms)| ms),
        polled,
        running_get: running_get.unwrap_or_default(),
        results_total: u64_of(&scan["results_total"]),
        probed: u64_of(&counts["probed"]),
        alive: u64_of(&counts["alive"]),
        new: u64_of(&counts["new"]),
        changed: u64_of(&counts["changed"]),
        gone: u64_of(&counts["gone"]),
        port_devices: u64_of(&devices["total"]),
        port_device: devices["items"][0]["address"].as_str().map(str::to_owned),
        cpu,
        connects,
        controller_hwm_folded,
        controller_hwm_listed,
    })
}

fn describe_scan(label: &str, s: &ScanTiming) -> String {
    format!(
        "[{label}] scan {} (run {}): {} results; probed {}, alive {}, new {}, changed {}, \
         gone {}; devices with the port open: {} ({}); port connects {}\n\
         [{label}] accepted {:.3} s, agent started {}, first stored {}, last stored {:.3} s, \
         run seen over {:.3} s, fold started {}, finished_at {:.3} s, fold committed {} \
         (elapsed_ms {}), poll saw completed {:.3} s; first scan GET after the run {:.0} ms\n\
         [{label}] {}; controller peak RSS {:.0} MB when completed, {:.0} MB after the device \
         listing",
        s.id,
        s.run_id,
        s.results_total,
        s.probed,
        s.alive,
        s.new,
        s.changed,
        s.gone,
        s.port_devices,
        s.port_device.as_deref().unwrap_or("-"),
        s.connects,
        s.accepted,
        opt_secs(s.agent_started),
        opt_secs(s.first_stored),
        s.last_stored,
        s.run_polled,
        opt_secs(s.fold_started),
        s.finished,
        opt_secs(s.fold_logged),
        s.fold_ms
            .map_or_else(|| "?".to_owned(), |ms| ms.to_string()),
        s.polled,
        s.running_get * 1000.0,
        s.cpu.describe(),
        s.controller_hwm_folded as f64 / 1e6,
        s.controller_hwm_listed as f64 / 1e6
    )
}

/// One round's anchors.
#[derive(Debug, Clone, Copy)]
struct Anchors {
    fping: FpingTiming,
    /// `nmap -n -sn`: discovery alone.
    discovery: NmapTiming,
    /// `nmap -n -sT -p PORT`: discovery + connect.
    connect: NmapTiming,
    /// `nmap -n -Pn -sT -p PORT`: connect to every address.
    connect_all: NmapTiming,
}

fn describe_nmap(label: &str, what: &str, n: &NmapTiming) -> String {
    format!(
        "[{label}] {what}: {:.3} s (nmap says {}), {} hosts up, {} with the port open, CPU s {}",
        n.elapsed.as_secs_f64(),
        n.reported
            .map_or_else(|| "?".to_owned(), |s| format!("{s:.2} s")),
        n.hosts_up.map_or_else(|| "?".to_owned(), |h| h.to_string()),
        n.open,
        cpu_text(n.cpu)
    )
}

async fn anchors(label: &str, cidr: &str, port: u16) -> anyhow::Result<Anchors> {
    let p = port.to_string();
    settle().await;
    let sweep = fping(cidr, FPING_TIMEOUT_MS)?;
    println!(
        "[{label}] fping: {:.3} s, {} hosts answered, CPU s {}",
        sweep.elapsed.as_secs_f64(),
        sweep.alive,
        cpu_text(sweep.cpu)
    );
    settle().await;
    let discovery = nmap(&["-sn"], cidr, port)?;
    println!("{}", describe_nmap(label, "nmap -sn", &discovery));
    settle().await;
    let connect = nmap(&["-sT", "-p", &p], cidr, port)?;
    println!("{}", describe_nmap(label, "nmap -sT", &connect));
    settle().await;
    let connect_all = nmap(&["-Pn", "-sT", "-p", &p], cidr, port)?;
    println!("{}", describe_nmap(label, "nmap -Pn -sT", &connect_all));
    settle().await;
    Ok(Anchors {
        fping: sweep,
        discovery,
        connect,
        connect_all,
    })
}

// ---------------------------------------------------------------------------------------
// The fold's parts

/// The store calls the finisher makes, for one finished scan, timed one by one, and the
/// device listing with the port filter.
#[derive(Debug, Clone)]
struct FoldParts {
    results: usize,
    scan_results: Duration,
    addresses: usize,
    devices_by_address: Duration,
    previous_hosts: Option<(usize, Duration)>,
    /// `finish_scan` with the scan's hosts again (snapshot rows + device upserts).
    write: Duration,
    device_filter: Duration,
}

/// Times the finisher's store calls for `scan`: its reads as they are, and its write by
/// finishing a scan record made for it (a fresh id and run id, nothing runs it) with the
/// same hosts — which rewrites the same devices, as a rescan does. Run after the timed
/// scans: the record is one more scan of the range in the history.
async fn fold_parts(world: &World, scan: Uuid, port: u16) -> anyhow::Result<FoldParts> {
    let store = world.store();
    let record = store.get_scan(scan).await?;
    let run = store.get_run(record.run_id).await?;
    let t0 = Instant::now();
    let rows = store.scan_results(run.id, run.created_at, &[]).await?;
    let scan_results = t0.elapsed();
    let mut addresses: Vec<String> = rows
        .iter()
        .filter(|r| r.action_index == 0 && r.status == "ok")
        .map(|r| r.target.clone())
        .collect();
    addresses.sort();
    addresses.dedup();
    let t0 = Instant::now();
    let known = store.devices_by_address(&addresses).await?;
    let devices_by_address = t0.elapsed();
    ensure!(
        known.len() == addresses.len(),
        "{} of {} live addresses are devices",
        known.len(),
        addresses.len()
    );
    let previous_hosts = match record.previous_scan_id {
        Some(previous) => {
            let t0 = Instant::now();
            let hosts = store.scan_hosts(previous).await?;
            Some((hosts.len(), t0.elapsed()))
        }
        None => None,
    };
    let t0 = Instant::now();
    world
        .get(&format!(
            "/api/v1/devices?limit=1&filter=port%20%3D%20{port}"
        ))
        .await?;
    let device_filter = t0.elapsed();

    let hosts: Vec<ObservedDevice> = store
        .scan_hosts(scan)
        .await?
        .into_iter()
        .map(|(address, attributes)| ObservedDevice {
            address,
            hostname: attributes.sys_name.clone(),
            segment: Some("default".to_owned()),
            attributes,
        })
        .collect();
    let copy = store
        .create_scan(&NewScan {
            id: Uuid::now_v7(),
            run_id: RunId::new(),
            job_id: record.job_id,
            spec: record.spec.clone(),
            created_by: Some("bench: fold write".to_owned()),
            created_at: Utc::now(),
        })
        .await?;
    let t0 = Instant::now();
    let won = store
        .finish_scan(&ScanFinish {
            id: copy.id,
            state: ScanState::Completed,
            counts: record.counts,
            previous_scan_id: Some(scan),
            reason: None,
            hosts,
            finished_at: Utc::now(),
        })
        .await?;
    let write = t0.elapsed();
    ensure!(won, "the copy of scan {scan} was finished by someone else");
    Ok(FoldParts {
        results: rows.len(),
        scan_results,
        addresses: addresses.len(),
        devices_by_address,
        previous_hosts,
        write,
        device_filter,
    })
}

// ---------------------------------------------------------------------------------------
// The run

struct ScanFigures {
    targets: u64,
    port: u16,
    /// Devices the range should show with the port open (1 when it holds 127.0.0.1).
    expected_open: u64,
    scans: Vec<ScanTiming>,
    anchors: Vec<Anchors>,
    parts: FoldParts,
    controller_peak: u64,
    agent_peak: u64,
}

async fn bench_scans(settings: &Settings) -> anyhow::Result<ScanFigures> {
    settings.processes.check_binary()?;
    let targets = loopback_targets(&settings.cidr)?;
    let warm_targets = loopback_targets(WARM_UP_CIDR)?;
    wait_for_broker(&settings.processes.amqp_url).await?;
    let open = OpenPort::bind(settings.port, settings.silent_port).await?;
    println!(
        "port {} open on 127.0.0.1 only{}",
        open.port,
        if settings.silent_port {
            " (silent: keeps connections, sends nothing)"
        } else {
            ""
        }
    );

    let mut world = World::new(&settings.processes).await?;
    let result = bench_in(&mut world, settings, &open, targets, warm_targets).await;
    if std::env::var_os("OC_BENCH_KEEP_LOGS").is_some() {
        world.keep_logs();
    }
    if result.is_err() {
        world.keep_logs();
        println!(
            "scan benchmark failed; logs kept in {} (controller.log, agent.log)",
            world.logs_dir().display()
        );
    }
    result
}

async fn bench_in(
    world: &mut World,
    settings: &Settings,
    open: &OpenPort,
    targets: u64,
    warm_targets: u64,
) -> anyhow::Result<ScanFigures> {
    println!("logs: {}", world.logs_dir().display());
    world.start_controller().await?;
    world.start_agent().await?;

    let warm = timed_scan(world, "bench warm-up", WARM_UP_CIDR, open, settings).await?;
    println!("{}", describe_scan("warm-up", &warm));
    ensure!(
        warm.alive == warm_targets,
        "the warm-up scan found {} of {warm_targets} addresses alive",
        warm.alive
    );

    let mut scans = Vec::new();
    let mut rounds = Vec::new();
    for i in 0..settings.runs {
        let label = (i + 1).to_string();
        rounds.push(anchors(&label, &settings.cidr, open.port).await?);
        let scan = timed_scan(world, "bench scan", &settings.cidr, open, settings).await?;
        println!("{}", describe_scan(&label, &scan));
        scans.push(scan);
    }

    let last = scans.last().ok_or_else(|| anyhow!("no scan"))?;
    let parts = fold_parts(world, last.id, open.port).await?;
    println!("fold parts of the last scan: {parts:?}");
    let controller_peak = world.controller_mut()?.peak_rss_bytes()?;
    let agent_peak = world.agent_mut()?.peak_rss_bytes()?;
    let holds_localhost = opsconductor_core::targets::expand(
        &opsconductor_core::targets::TargetSpec::range(settings.cidr.as_str()),
        &opsconductor_core::targets::NoGroups,
    )
    .map_err(|e| anyhow!("{e}"))?
    .iter()
    .any(|t| t.ip() == Some(Ipv4Addr::LOCALHOST.into()));
    Ok(ScanFigures {
        targets,
        port: open.port,
        expected_open: u64::from(holds_localhost),
        scans,
        anchors: rounds,
        parts,
        controller_peak,
        agent_peak,
    })
}

// ---------------------------------------------------------------------------------------
// Report

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn report(settings: &Settings, f: &ScanFigures) {
    let n = f.scans.len();
    let ours: Vec<f64> = f.scans.iter().map(|s| s.finished).collect();
    let committed: Vec<f64> = f
        .scans
        .iter()
        .map(|s| s.fold_logged.unwrap_or(s.finished))
        .collect();
    let polled: Vec<f64> = f.scans.iter().map(|s| s.polled).collect();
    let run_over: Vec<f64> = f.scans.iter().map(|s| s.last_stored).collect();
    let fping: Vec<f64> = f.anchors.iter().map(|a| secs(a.fping.elapsed)).collect();
    let discovery: Vec<f64> = f
        .anchors
        .iter()
        .map(|a| secs(a.discovery.elapsed))
        .collect();
    let connect: Vec<f64> = f.anchors.iter().map(|a| secs(a.connect.elapsed)).collect();
    let connect_all: Vec<f64> = f
        .anchors
        .iter()
        .map(|a| secs(a.connect_all.elapsed))
        .collect();
    let pair: Vec<f64> = f
        .anchors
        .iter()
        .map(|a| secs(a.fping.elapsed) + secs(a.connect_all.elapsed))
        .collect();
    let (ours_med, fping_med, connect_med, pair_med) = (
        median(ours.clone()),
        median(fping.clone()),
        median(connect.clone()),
        median(pair.clone()),
    );
    let port = f.port;
    let hosts = thousands(f.targets as f64);

    let rows: Vec<[String; 4]> = vec![
        [
            format!(
                "Scan of {} ({hosts} addresses, `ping.alive` then `tcp.port` {port} on live \
                 hosts): request → scan `finished_at` (results folded into the inventory), \
                 median of {n}",
                settings.cidr
            ),
            range(&ours, " s", 2),
            format!(
                "sweep: `fping -i 0 -r 0 -t 200 -g {}` {}",
                settings.cidr,
                range(&fping, " s", 2)
            ),
            format!("{:.2}", ours_med / fping_med),
        ],
        [
            "same".into(),
            format!("{ours_med:.2} s"),
            format!(
                "discovery + port: `nmap -n -sT -p {port} {}` {}",
                settings.cidr,
                range(&connect, " s", 2)
            ),
            format!("{:.2}", ours_med / connect_med),
        ],
        [
            "same".into(),
            format!("{ours_med:.2} s"),
            format!(
                "sweep, then the port on every address: fping + `nmap -n -Pn -sT -p {port}` \
                 {} (nmap alone {})",
                range(&pair, " s", 2),
                range(&connect_all, " s", 2)
            ),
            format!("{:.2}", ours_med / pair_med),
        ],
        [
            "same, request → the finisher's transaction committed (its log line)".into(),
            range(&committed, " s", 2),
            format!("nmap -sT {connect_med:.2} s"),
            format!("{:.2}", median(committed.clone()) / connect_med),
        ],
        [
            "same, request → REST shows the scan `completed` (polled)".into(),
            range(&polled, " s", 2),
            format!("nmap -sT {connect_med:.2} s"),
            format!("{:.2}", median(polled.clone()) / connect_med),
        ],
        [
            "the scan's run alone: request → last result stored (run `finished_at`)".into(),
            range(&run_over, " s", 2),
            format!("fping + nmap -Pn -sT {pair_med:.2} s"),
            format!("{:.2}", median(run_over.clone()) / pair_med),
        ],
        [
            "nmap's host discovery alone (`nmap -n -sn`), for reference".into(),
            "—".into(),
            range(&discovery, " s", 2),
            "—".into(),
        ],
        [
            "Controller / agent peak RSS (`VmHWM`) over the scans".into(),
            format!(
                "{:.0} MB / {:.0} MB",
                f.controller_peak as f64 / 1e6,
                f.agent_peak as f64 / 1e6
            ),
            "—".into(),
            "—".into(),
        ],
    ];

    println!();
    println!("| what | ours | anchor (same run) | ratio |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!("| {} |", row.join(" | "));
    }
    println!();

    let verified = f.scans.iter().all(|s| {
        s.alive == f.targets && s.probed == f.targets && s.port_devices == f.expected_open
    });
    let list = |values: Vec<String>| values.join(", ");
    println!(
        "checks: alive per scan {} of {}; devices with port {port} open {} (expected {}{}); \
         fping answered {}; nmap -sT hosts up {} with the port open on {}: {}",
        list(f.scans.iter().map(|s| s.alive.to_string()).collect()),
        f.targets,
        list(
            f.scans
                .iter()
                .map(|s| format!(
                    "{} ({})",
                    s.port_devices,
                    s.port_device.as_deref().unwrap_or("-")
                ))
                .collect()
        ),
        f.expected_open,
        if f.expected_open == 1 {
            ", 127.0.0.1"
        } else {
            ""
        },
        list(
            f.anchors
                .iter()
                .map(|a| a.fping.alive.to_string())
                .collect()
        ),
        list(
            f.anchors
                .iter()
                .map(|a| a.connect.hosts_up.unwrap_or_default().to_string())
                .collect()
        ),
        list(
            f.anchors
                .iter()
                .map(|a| a.connect.open.to_string())
                .collect()
        ),
        if verified { "ok" } else { "**WRONG**" }
    );
    let cpu = |pick: fn(&CpuSample) -> f64| {
        range(
            &f.scans.iter().map(|s| pick(&s.cpu)).collect::<Vec<_>>(),
            "",
            2,
        )
    };
    let anchor_cpu = |pick: fn(&Anchors) -> Option<f64>| {
        range(
            &f.anchors.iter().filter_map(pick).collect::<Vec<_>>(),
            "",
            2,
        )
    };
    println!(
        "CPU seconds per scan: controller {}, agent {}, postgres {}, rabbitmq {}, other {}; \
         anchors: fping {}, nmap -sn {}, nmap -sT {}, nmap -Pn -sT {}",
        cpu(|c| c.controller),
        cpu(|c| c.agent),
        cpu(|c| c.postgres),
        cpu(|c| c.rabbitmq),
        cpu(CpuSample::others),
        anchor_cpu(|a| a.fping.cpu),
        anchor_cpu(|a| a.discovery.cpu),
        anchor_cpu(|a| a.connect.cpu),
        anchor_cpu(|a| a.connect_all.cpu),
    );
    let phase = |pick: fn(&ScanTiming) -> Option<f64>| {
        range(
            &f.scans.iter().filter_map(pick).collect::<Vec<_>>(),
            " s",
            2,
        )
    };
    println!(
        "timeline (s from the request): accepted {}, agent started {}, first stored {}, last \
         stored {}, fold started {}, finished_at {}, fold committed {}, poll saw completed {}; \
         fold elapsed_ms {}; first scan GET after the run {}",
        phase(|s| Some(s.accepted)),
        phase(|s| s.agent_started),
        phase(|s| s.first_stored),
        phase(|s| Some(s.last_stored)),
        phase(|s| s.fold_started),
        phase(|s| Some(s.finished)),
        phase(|s| s.fold_logged),
        phase(|s| Some(s.polled)),
        range(
            &f.scans
                .iter()
                .filter_map(|s| s.fold_ms.map(|ms| ms as f64))
                .collect::<Vec<_>>(),
            "",
            0
        ),
        range(
            &f.scans
                .iter()
                .map(|s| s.running_get * 1000.0)
                .collect::<Vec<_>>(),
            " ms",
            0
        ),
    );
    let r = &f.parts;
    let store_calls = secs(r.scan_results)
        + secs(r.devices_by_address)
        + r.previous_hosts.map_or(0.0, |(_, d)| secs(d))
        + secs(r.write);
    let fold_s = f
        .scans
        .last()
        .and_then(|s| s.fold_ms)
        .map(|ms| ms as f64 / 1e3);
    println!(
        "fold parts (last scan, store calls timed in-process): scan_results {} rows {:.3} s; \
         devices_by_address {} addresses {:.3} s; previous scan_hosts {}; finish_scan write of \
         {} hosts {:.3} s; together {:.3} s of the finisher's {} (the rest: its own CPU and \
         small queries); GET /api/v1/devices?filter=port = {port} {:.3} s",
        thousands(r.results as f64),
        secs(r.scan_results),
        thousands(r.addresses as f64),
        secs(r.devices_by_address),
        r.previous_hosts.map_or_else(
            || "none".to_owned(),
            |(n, d)| format!("{} hosts {:.3} s", thousands(n as f64), secs(d))
        ),
        thousands(r.addresses as f64),
        secs(r.write),
        store_calls,
        fold_s.map_or_else(|| "?".to_owned(), |s| format!("{s:.3} s")),
        secs(r.device_filter),
    );
    println!(
        "controller peak RSS (MB) when each scan completed: {}; after its device listing: {}",
        list(
            f.scans
                .iter()
                .map(|s| format!("{:.0}", s.controller_hwm_folded as f64 / 1e6))
                .collect()
        ),
        list(
            f.scans
                .iter()
                .map(|s| format!("{:.0}", s.controller_hwm_listed as f64 / 1e6))
                .collect()
        ),
    );
    println!(
        "settings: scan concurrency {}, host_timeout_ms {}, chunk_size 1024 (fixed for scans); \
         agent max_chunks_in_flight {}, max_concurrency {}, batch_max_results {}; ratios are \
         time ratios (ours / anchor, ≤ 1 is faster); nmap probes {} addresses of the range \
         (network and broadcast too), fping and ours {}",
        settings.concurrency,
        settings.host_timeout_ms,
        settings.processes.agent_chunks,
        settings.processes.agent_concurrency,
        settings.processes.agent_batch,
        f.anchors
            .first()
            .and_then(|a| a.connect.hosts_up)
            .map_or_else(|| "?".to_owned(), |h| thousands(h as f64)),
        hosts
    );
}

// ---------------------------------------------------------------------------------------

async fn bench() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    println!("{settings:?}");
    let figures = bench_scans(&settings).await?;
    report(&settings, &figures);
    Ok(())
}

fn main() -> ExitCode {
    opsconductor_bench::run_benchmark(bench())
}
