//! Ping sweep of 127.0.0.0/16 (65,534 hosts, one echo each, 200 ms timeout) through the
//! chunk runner, against `fping -i 0 -r 0 -t 200 -g 127.0.0.0/16` in the same run.
//!
//! ```text
//! cargo bench -p opsconductor-actions --bench ping_sweep
//! ```
//!
//! Knobs (environment): `OC_BENCH_CIDR` (default `127.0.0.0/16`, loopback only),
//! `OC_BENCH_CONCURRENCY` (targets in flight, default 1024), `OC_BENCH_THREADS` (Tokio
//! workers, default: one per core). Needs an ICMP socket (root, CAP_NET_RAW or
//! `net.ipv4.ping_group_range`) and `fping` on the PATH for the comparison.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use opsconductor_actions::ping::PingAction;
use opsconductor_actions::{Chunk, PreparedAction, Registry, RunnerConfig, run_chunk};
use opsconductor_core::criteria::CriteriaSpec;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;
use opsconductor_core::targets::{NoGroups, Target, TargetSpec, expand};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEFAULT_CIDR: &str = "127.0.0.0/16";
const DEFAULT_CONCURRENCY: usize = 1024;
const TIMEOUT_MS: u64 = 200;

struct Sweep {
    elapsed: Duration,
    replies: usize,
    results: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set of this process, from `VmHWM` in `/proc/self/status`.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

async fn ours(targets: Vec<Target>, concurrency: usize) -> Sweep {
    let action = PreparedAction {
        index: 0,
        kind: ActionKind::Ping,
        params: json!({
            "count": 1, "interval_ms": 0, "size": 56, "ttl": 64,
            "timeout_ms": TIMEOUT_MS, "family": "auto"
        })
        .as_object()
        .cloned()
        .expect("params object"),
        parsers: Vec::new(),
        criteria: CriteriaSpec {
            ok: Some("loss_pct < 100".to_owned()),
            warn: None,
        }
        .compile()
        .expect("criteria"),
        timeout: Duration::from_millis(TIMEOUT_MS + 800),
        credential: None,
    };
    let ping = Arc::new(PingAction::new());
    // Open the socket before the clock starts, as fping does before its first send.
    let kind = ping
        .socket_kind(opsconductor_actions::ping::IpFamily::V4)
        .await
        .expect("an ICMP socket opens here");
    println!("socket: {kind:?}, concurrency {concurrency}");
    let registry = Arc::new(Registry::empty().with(ping));
    let chunk = Chunk {
        run_id: RunId::new(),
        targets,
        actions: Arc::from(vec![action]),
    };
    let config = RunnerConfig {
        concurrency,
        target_timeout: Duration::from_secs(2),
        agent_id: None,
        require_first_ok: false,
    };
    let t0 = Instant::now();
    let (results, replies) = run_chunk(registry, chunk, config, CancellationToken::new())
        .fold((0_usize, 0_usize), |(results, replies), r| async move {
            (
                results + 1,
                replies + usize::from(r.status == ResultStatus::Ok),
            )
        })
        .await;
    Sweep {
        elapsed: t0.elapsed(),
        replies,
        results,
    }
}

fn fping(cidr: &str) -> Option<Sweep> {
    let t0 = Instant::now();
    // -a: print the hosts that answered (one line each, counted); -q: no per-probe output.
    let out = Command::new("fping")
        .args([
            "-a",
            "-q",
            "-i",
            "0",
            "-r",
            "0",
            "-t",
            &TIMEOUT_MS.to_string(),
            "-g",
            cidr,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let elapsed = t0.elapsed();
    match out {
        Ok(out) => {
            let replies = out
                .stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            Some(Sweep {
                elapsed,
                replies,
                results: replies,
            })
        }
        Err(e) => {
            println!("fping not run: {e}");
            None
        }
    }
}

fn main() {
    let cidr = std::env::var("OC_BENCH_CIDR").unwrap_or_else(|_| DEFAULT_CIDR.to_owned());
    let concurrency = env_or("OC_BENCH_CONCURRENCY", DEFAULT_CONCURRENCY);
    let threads = env_or(
        "OC_BENCH_THREADS",
        std::thread::available_parallelism().map_or(2, usize::from),
    );
    let expanded = expand(&TargetSpec::range(cidr.as_str()), &NoGroups).expect("a valid range");
    assert!(
        expanded
            .iter()
            .all(|t| t.ip().is_some_and(|ip| ip.is_loopback())),
        "this benchmark only pings loopback addresses"
    );
    let targets: Vec<Target> = expanded.iter().collect();
    let hosts = targets.len();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ours = runtime.block_on(ours(targets, concurrency));
    let rss = peak_rss_mib();
    drop(runtime);
    let theirs = fping(&cidr);

    let secs = ours.elapsed.as_secs_f64();
    println!();
    println!(
        "ping sweep of {cidr}: {hosts} hosts, 1 echo each, {TIMEOUT_MS} ms timeout, {threads} worker threads"
    );
    println!(
        "{:<26} {:>10} {:>12} {:>10}",
        "", "time (s)", "hosts/s", "replies"
    );
    println!(
        "{:<26} {:>10.3} {:>12.0} {:>10}",
        "opsconductor (run_chunk)",
        secs,
        hosts as f64 / secs,
        ours.replies
    );
    if let Some(theirs) = &theirs {
        let fsecs = theirs.elapsed.as_secs_f64();
        println!(
            "{:<26} {:>10.3} {:>12.0} {:>10}",
            "fping -i 0 -r 0 -t 200",
            fsecs,
            hosts as f64 / fsecs,
            theirs.replies
        );
        println!("ratio ours/fping (time): {:.2}", secs / fsecs);
    }
    match rss {
        Some(mib) => println!("our peak RSS (VmHWM): {mib:.1} MiB"),
        None => println!("our peak RSS: unknown (no /proc/self/status)"),
    }
    assert_eq!(ours.results, hosts, "every host has a result");
}
