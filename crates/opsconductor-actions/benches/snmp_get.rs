//! GETs against many devices through the chunk runner: 100 "devices" (address:port pairs
//! spread over the loopback snmpd and its extra instances) polled round after round, then a
//! sustained run of 10,000 GETs with the runner's default concurrency. Prints requests/s and
//! latency percentiles; a loop of `snmpget` processes is no fair anchor (≈450/s), so the
//! figure to compare with is docs' anchors.md: an async client with 16 requests in flight
//! reaches ≈48k req/s against one snmpd.
//!
//! Starts the extra instances with `OC_TEST_SNMP_EXTRA=4 scripts/test-servers.sh start`
//! when fewer than 4 run (idempotent; they are left running). `cargo bench -p
//! opsconductor-actions --bench snmp_get`; `OC_BENCH_ROUNDS` (default 100) sets the rounds.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use opsconductor_actions::credential::{Credential, Secret, SnmpAuthProtocol, SnmpPrivProtocol};
use opsconductor_actions::snmp::SnmpGetAction;
use opsconductor_actions::{Chunk, PreparedAction, Registry, RunnerConfig, run_chunk};
use opsconductor_core::criteria::Criteria;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::{ResultRecord, ResultStatus};
use opsconductor_core::targets::Target;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const EXTRA_INSTANCES: usize = 4;
const DEVICES: usize = 100;
const SUSTAINED_REQUESTS: usize = 10_000;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A setting of `.test-servers/env.sh` (read fresh: the script rewrites it).
fn setting(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo_root().join(".test-servers/env.sh")).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.trim().trim_start_matches("export ").split_once('=')?;
        (k == key).then(|| v.trim_matches(['"', '\'']).to_owned())
    })
}

fn extra_ports() -> Vec<u16> {
    setting("OC_TEST_SNMP_EXTRA_ADDRS")
        .unwrap_or_default()
        .split([',', ' '])
        .filter_map(|a| a.trim().rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .collect()
}

/// Ports of the snmpd instances, the main one first.
fn instance_ports() -> Vec<u16> {
    if extra_ports().len() < EXTRA_INSTANCES {
        println!(
            "starting {EXTRA_INSTANCES} extra snmpd instances (scripts/test-servers.sh start)"
        );
        let status = Command::new(repo_root().join("scripts/test-servers.sh"))
            .arg("start")
            .env("OC_TEST_SNMP_EXTRA", EXTRA_INSTANCES.to_string())
            .current_dir(repo_root())
            .status()
            .expect("scripts/test-servers.sh runs");
        assert!(
            status.success(),
            "scripts/test-servers.sh start failed: {status}"
        );
    }
    let main: u16 = setting("OC_TEST_SNMP_ADDR")
        .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .expect("OC_TEST_SNMP_ADDR in .test-servers/env.sh: run scripts/test-servers.sh start");
    let mut ports = vec![main];
    ports.extend(extra_ports().into_iter().take(EXTRA_INSTANCES));
    ports
}

/// The main v3 user (authPriv SHA-256 / AES-128); every instance has it.
fn v3_credential() -> Arc<Credential> {
    let get = |key: &str| setting(key).unwrap_or_else(|| panic!("{key} in .test-servers/env.sh"));
    Arc::new(Credential::SnmpV3 {
        user: get("OC_TEST_SNMP_V3_USER"),
        auth: Some((
            SnmpAuthProtocol::Sha256,
            Secret::new(get("OC_TEST_SNMP_V3_AUTH_PASS")),
        )),
        privacy: Some((
            SnmpPrivProtocol::Aes128,
            Secret::new(get("OC_TEST_SNMP_V3_PRIV_PASS")),
        )),
    })
}

fn action(port: u16, oids: &[&str], credential: Option<Arc<Credential>>) -> PreparedAction {
    let Value::Object(params) = json!({
        "oids": oids,
        "port": port,
        "version": if credential.is_some() { "3" } else { "2c" },
        "community": setting("OC_TEST_SNMP_COMMUNITY").unwrap_or_else(|| "oc-public".to_owned()),
        "timeout_ms": 1000,
        "retries": 1,
    }) else {
        unreachable!("an object literal")
    };
    PreparedAction {
        index: 0,
        kind: ActionKind::SnmpGet,
        params,
        parsers: Vec::new(),
        criteria: Criteria::default(),
        timeout: Duration::from_secs(5),
        credential,
    }
}

/// Runs one chunk per port, `per_port` targets each, all at once; returns every result.
async fn poll(
    registry: &Arc<Registry>,
    ports: &[u16],
    per_port: usize,
    oids: &[&str],
    credential: Option<&Arc<Credential>>,
) -> Vec<ResultRecord> {
    let loopback: IpAddr = [127, 0, 0, 1].into();
    let streams = ports.iter().map(|&port| {
        let chunk = Chunk {
            run_id: RunId::new(),
            targets: vec![Target::Ip(loopback); per_port],
            actions: Arc::from(vec![action(port, oids, credential.cloned())]),
        };
        run_chunk(
            registry.clone(),
            chunk,
            RunnerConfig::default(),
            CancellationToken::new(),
        )
    });
    futures::stream::select_all(streams).collect().await
}

struct Tally {
    latencies_ms: Vec<f64>,
    failures: usize,
    first_failure: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latencies_ms: Vec::new(),
            failures: 0,
            first_failure: None,
        }
    }

    fn add(&mut self, results: &[ResultRecord]) {
        for r in results {
            if r.status == ResultStatus::Ok {
                self.latencies_ms.push(r.duration_ms);
            } else {
                self.failures += 1;
                self.first_failure
                    .get_or_insert_with(|| format!("{:?}: {:?}", r.status, r.reason));
            }
        }
    }

    fn percentile(&mut self, p: f64) -> f64 {
        self.latencies_ms.sort_unstable_by(f64::total_cmp);
        let n = self.latencies_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies_ms[rank.clamp(1, n) - 1]
    }

    fn report(&mut self, label: &str, wall: Duration, varbinds_per_request: usize) {
        let ok = self.latencies_ms.len();
        let per_sec = ok as f64 / wall.as_secs_f64();
        let (p50, p99) = (self.percentile(50.0), self.percentile(99.0));
        println!(
            "  {label:<34} {ok:>6} ok {:>4} failed  {per_sec:>8.0} req/s  {:>9.0} varbinds/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            self.failures,
            per_sec * varbinds_per_request as f64,
            p50,
            p99,
        );
        if let Some(first) = &self.first_failure {
            println!("    first failure: {first}");
        }
    }
}

fn main() {
    let ports = instance_ports();
    let rounds: usize = std::env::var("OC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = Arc::new(Registry::empty().with(Arc::new(SnmpGetAction::new())));
    let per_port = DEVICES.div_ceil(ports.len());
    let one = [".1.3.6.1.2.1.1.3.0"];
    let ten = [
        ".1.3.6.1.2.1.1.1.0",
        ".1.3.6.1.2.1.1.2.0",
        ".1.3.6.1.2.1.1.3.0",
        ".1.3.6.1.2.1.1.4.0",
        ".1.3.6.1.2.1.1.5.0",
        ".1.3.6.1.2.1.1.6.0",
        ".1.3.6.1.2.1.1.7.0",
        ".1.3.6.1.2.1.2.1.0",
        ".1.3.6.1.2.1.2.2.1.2.1",
        ".1.3.6.1.2.1.2.2.1.10.1",
    ];
    println!(
        "snmp_get: {} devices over {} snmpd instances (ports {ports:?}), runner concurrency {}",
        per_port * ports.len(),
        ports.len(),
        RunnerConfig::default().concurrency
    );
    runtime.block_on(async {
        // Warm-up: sockets, snmpd caches, allocator.
        for _ in 0..5 {
            poll(&registry, &ports, per_port, &one, None).await;
        }
        for (label, oids) in [("1 OID per GET", &one[..]), ("10 OIDs per GET", &ten[..])] {
            let mut tally = Tally::new();
            let mut round_times = Vec::with_capacity(rounds);
            let started = Instant::now();
            for _ in 0..rounds {
                let round = Instant::now();
                tally.add(&poll(&registry, &ports, per_port, oids, None).await);
                round_times.push(round.elapsed());
            }
            let wall = started.elapsed();
            round_times.sort_unstable();
            tally.report(&format!("{rounds} rounds, {label}"), wall, oids.len());
            println!(
                "    median round (all {} devices once) {:.2} ms",
                per_port * ports.len(),
                round_times[rounds / 2].as_secs_f64() * 1000.0
            );
        }
        let sustained_per_port = SUSTAINED_REQUESTS / ports.len();
        let mut tally = Tally::new();
        let started = Instant::now();
        tally.add(&poll(&registry, &ports, sustained_per_port, &one, None).await);
        tally.report(
            &format!("sustained {} GETs, 1 OID", sustained_per_port * ports.len()),
            started.elapsed(),
            1,
        );

        // SNMPv3 authPriv: each action discovers the engine and localises its keys.
        let credential = v3_credential();
        let v3_rounds = (rounds / 10).max(3);
        let mut tally = Tally::new();
        let started = Instant::now();
        for _ in 0..v3_rounds {
            tally.add(&poll(&registry, &ports, per_port, &one, Some(&credential)).await);
        }
        tally.report(
            &format!("v3 SHA-256/AES, {v3_rounds} rounds, 1 OID"),
            started.elapsed(),
            1,
        );
    });
    println!(
        "  anchor (anchors.md): async client, 16 in flight vs one snmpd ≈48k req/s; 10 OIDs ≈152k varbinds/s"
    );
}
