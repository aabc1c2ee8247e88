//! HTTP checks per second through the chunk runner, each check on a new connection,
//! against a tiny hyper server on its own runtime thread; anchored in the same run by
//! `wrk -t2 -c64 -d5s -H 'Connection: close'` against the same server.
//!
//! Also measured, for the record of why the executor owns its connections: reqwest with
//! pooling off (`pool_max_idle_per_host(0)`, one shared client) and reqwest with a new
//! client per check, at the same concurrency.
//!
//! Run: `cargo bench -p opsconductor-actions --bench http_checks`
//! (`OC_BENCH_HTTP_CHECKS=<n>` changes the number of checks per measured chunk).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opsconductor_actions::http::HttpAction;
use opsconductor_actions::{
    Action as _, ActionInput, Chunk, PreparedAction, Registry, RunnerConfig, run_chunk,
};
use opsconductor_core::criteria::Criteria;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;
use opsconductor_core::targets::Target;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Checks in flight, as `wrk -c64`.
const CONCURRENCY: usize = 64;
/// Default checks per measured chunk.
const DEFAULT_CHECKS: usize = 40_000;

fn main() {
    let checks = std::env::var("OC_BENCH_HTTP_CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CHECKS);
    let addr = start_server();
    println!(
        "http_checks: server on {addr}, {checks} checks, concurrency {CONCURRENCY}, new connection per check"
    );

    // The agent's runtime: multi-threaded, one worker per core (here the server shares them).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    // Warm-up (page in, fill allocator caches), then the measured chunk.
    on_workers(&runtime, runner_checks(addr, 2_000));
    let ours = on_workers(&runtime, runner_checks(addr, checks));
    println!(
        "opsconductor http_get via run_chunk: {:.0} checks/s ({} ok of {}, {:.2} s), latency p50 {:.2} ms, p99 {:.2} ms",
        ours.per_second(),
        ours.ok,
        ours.total,
        ours.elapsed.as_secs_f64(),
        ours.percentile(50.0),
        ours.percentile(99.0),
    );

    let anchor = wrk(addr);
    match anchor {
        Some(rps) => println!(
            "anchor wrk -t2 -c64 -d5s -H 'Connection: close': {rps:.0} req/s; ratio ours/anchor = {:.2}",
            ours.per_second() / rps
        ),
        None => println!("anchor wrk: not available (is wrk installed?)"),
    }

    let direct = on_workers(&runtime, direct_checks(addr, checks / 2));
    println!(
        "opsconductor HttpAction::run directly (no runner): {:.0} checks/s, p99 {:.2} ms",
        direct.per_second(),
        direct.percentile(99.0)
    );
    let shared = on_workers(
        &runtime,
        reqwest_checks(addr, checks / 2, ReqwestMode::SharedNoPool),
    );
    println!(
        "reqwest, one client, pool_max_idle_per_host(0): {:.0} checks/s, p99 {:.2} ms",
        shared.per_second(),
        shared.percentile(99.0)
    );
    let per_check = on_workers(
        &runtime,
        reqwest_checks(addr, checks / 10, ReqwestMode::ClientPerCheck),
    );
    println!(
        "reqwest, a new client per check: {:.0} checks/s, p99 {:.2} ms",
        per_check.per_second(),
        per_check.percentile(99.0)
    );
}

/// Runs `work` as a task on the runtime's workers, as an agent's consumer would run, rather
/// than on the bench's main thread (which would cost a cross-thread wake-up per result).
fn on_workers<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> T {
    runtime
        .block_on(runtime.spawn(work))
        .expect("measurement task")
}

/// Results of one measured batch.
struct Measured {
    total: usize,
    ok: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

/// `checks` HTTP GETs through the chunk runner.
async fn runner_checks(addr: SocketAddr, checks: usize) -> Measured {
    let registry = Arc::new(Registry::empty().with(Arc::new(HttpAction::new())));
    let params = json!({"port": addr.port(), "path": "/", "timeout_ms": 5000});
    let action = PreparedAction {
        index: 0,
        kind: ActionKind::HttpGet,
        params: serde_json::from_value(params).expect("params"),
        parsers: Vec::new(),
        criteria: Criteria::default(),
        timeout: Duration::from_secs(5),
        credential: None,
    };
    let target = Target::Ip(addr.ip());
    let chunk = Chunk {
        run_id: RunId::new(),
        targets: vec![target; checks],
        actions: Arc::from(vec![action]),
    };
    let config = RunnerConfig {
        concurrency: CONCURRENCY,
        target_timeout: Duration::from_secs(10),
        agent_id: None,
        require_first_ok: false,
    };
    let started = Instant::now();
    let mut results = run_chunk(registry, chunk, config, CancellationToken::new());
    let mut measured = Measured {
        total: 0,
        ok: 0,
        elapsed: Duration::ZERO,
        latencies_ms: Vec::with_capacity(checks),
    };
    let mut first_error = None;
    while let Some(record) = results.next().await {
        measured.total += 1;
        if record.status == ResultStatus::Ok {
            measured.ok += 1;
            measured.latencies_ms.push(record.duration_ms);
        } else if first_error.is_none() {
            first_error = record.reason;
        }
    }
    measured.elapsed = started.elapsed();
    if let Some(reason) = first_error {
        println!("  first failed check: {reason}");
    }
    measured
}

/// `checks` calls of the executor itself, `CONCURRENCY` at a time: the runner's share of
/// the cost is the difference from [`runner_checks`].
async fn direct_checks(addr: SocketAddr, checks: usize) -> Measured {
    let action = HttpAction::new();
    let target = Target::Ip(addr.ip());
    let params = json!({"port": addr.port(), "path": "/", "timeout_ms": 5000});
    let serde_json::Value::Object(params) = params else {
        unreachable!("an object literal");
    };
    let started = Instant::now();
    let latencies: Vec<Option<f64>> = futures::stream::iter(0..checks)
        .map(|_| async {
            let t0 = Instant::now();
            let input = ActionInput {
                target: &target,
                params: &params,
                credential: None,
                deadline: tokio::time::Instant::now() + Duration::from_secs(10),
            };
            action.run(input).await.ok()?;
            Some(t0.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies_ms: Vec<f64> = latencies.into_iter().flatten().collect();
    Measured {
        total: checks,
        ok: latencies_ms.len(),
        elapsed,
        latencies_ms,
    }
}

#[derive(Clone, Copy)]
enum ReqwestMode {
    SharedNoPool,
    ClientPerCheck,
}

/// `checks` GETs with reqwest, `CONCURRENCY` at a time.
async fn reqwest_checks(addr: SocketAddr, checks: usize, mode: ReqwestMode) -> Measured {
    let url = format!("http://{addr}/");
    let build = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("reqwest client")
    };
    let shared = build();
    let started = Instant::now();
    let latencies: Vec<Option<f64>> = futures::stream::iter(0..checks)
        .map(|_| {
            let (url, client) = match mode {
                ReqwestMode::SharedNoPool => (url.clone(), shared.clone()),
                ReqwestMode::ClientPerCheck => (url.clone(), build()),
            };
            async move {
                let t0 = Instant::now();
                let response = client.get(url).send().await.ok()?;
                response.bytes().await.ok()?;
                Some(t0.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let latencies_ms: Vec<f64> = latencies.into_iter().flatten().collect();
    Measured {
        total: checks,
        ok: latencies_ms.len(),
        elapsed,
        latencies_ms,
    }
}

/// A minimal HTTP/1.1 server ("ok") on its own single-threaded runtime and OS thread.
fn start_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// Requests per second `wrk` reaches against the server, new connection per request.
fn wrk(addr: SocketAddr) -> Option<f64> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", "-d5s", "-H", "Connection: close"])
        .arg(format!("http://{addr}/"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}
