//! Walk of the loopback snmpd's whole tree (root `.1`, max-repetitions 50) with the
//! `snmp_walk` executor against net-snmp's
//! `snmpbulkwalk -v2c -c oc-public -On -m '' -Cr50 127.0.0.1:16161 .1 > /dev/null`,
//! interleaved in the same run. Prints medians, varbinds/s and the ratio ours/anchor
//! (goal ≤ 1.0).
//!
//! Needs `scripts/test-servers.sh start`. `cargo bench -p opsconductor-actions --bench
//! snmp_walk`; `OC_BENCH_ITERATIONS` (default 9) sets the rounds.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use opsconductor_actions::snmp::SnmpWalkAction;
use opsconductor_actions::{Action, ActionInput};
use opsconductor_core::targets::Target;
use serde_json::{Value, json};

/// A setting from the environment, else from `.test-servers/env.sh`.
fn setting(key: &str) -> Option<String> {
    if let Ok(value) = std::env::var(key) {
        return Some(value);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join(".test-servers/env.sh")).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.trim().trim_start_matches("export ").split_once('=')?;
        (k == key).then(|| v.trim_matches(['"', '\'']).to_owned())
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() {
    let addr: SocketAddr = setting("OC_TEST_SNMP_ADDR")
        .unwrap_or_else(|| "127.0.0.1:16161".to_owned())
        .parse()
        .expect("OC_TEST_SNMP_ADDR is ip:port");
    let community = setting("OC_TEST_SNMP_COMMUNITY").unwrap_or_else(|| "oc-public".to_owned());
    let iterations: usize = std::env::var("OC_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let action = SnmpWalkAction::new();
    let target = Target::Ip(addr.ip());
    let Value::Object(params) = json!({
        "root_oid": ".1",
        "max_repetitions": 50,
        "max_varbinds": 1_000_000,
        "port": addr.port(),
        "community": community,
        "timeout_ms": 2000,
    }) else {
        unreachable!("an object literal")
    };
    let ours = || {
        let started = Instant::now();
        let out = runtime
            .block_on(action.run(ActionInput {
                target: &target,
                params: &params,
                credential: None,
                deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            }))
            .expect("walk");
        let count = out.fields["varbind_count"].as_u64().expect("varbind_count");
        (started.elapsed(), count)
    };
    let target_text = addr.to_string();
    let anchor = || {
        let started = Instant::now();
        let status = Command::new("snmpbulkwalk")
            .args([
                "-v2c",
                "-c",
                &community,
                "-On",
                "-m",
                "",
                "-Cr50",
                &target_text,
                ".1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("snmpbulkwalk runs");
        assert!(status.success(), "snmpbulkwalk failed: {status}");
        started.elapsed()
    };
    let anchor_count = {
        let out = Command::new("snmpbulkwalk")
            .args([
                "-v2c",
                "-c",
                &community,
                "-On",
                "-m",
                "",
                "-Cr50",
                &target_text,
                ".1",
            ])
            .stderr(Stdio::null())
            .output()
            .expect("snmpbulkwalk runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('.') && !l.contains(" = No more variables"))
            .count()
    };

    // Warm both up (snmpd caches some tables on the first walk).
    let (_, count) = ours();
    anchor();
    let mut our_times = Vec::with_capacity(iterations);
    let mut anchor_times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        our_times.push(ours().0);
        anchor_times.push(anchor());
    }
    let (our_median, anchor_median) = (median(&mut our_times), median(&mut anchor_times));
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "snmp_walk: whole tree of {addr} (root .1, max-repetitions 50), {iterations} iterations each"
    );
    println!(
        "  ours          median {:>8.1} ms  {count} varbinds  {:>9.0} varbinds/s  (min {:.1} ms, max {:.1} ms)",
        our_median.as_secs_f64() * 1000.0,
        rate(count, our_median),
        our_times[0].as_secs_f64() * 1000.0,
        our_times[iterations - 1].as_secs_f64() * 1000.0,
    );
    println!(
        "  snmpbulkwalk  median {:>8.1} ms  {anchor_count} varbinds  {:>9.0} varbinds/s  (min {:.1} ms, max {:.1} ms)",
        anchor_median.as_secs_f64() * 1000.0,
        rate(anchor_count as u64, anchor_median),
        anchor_times[0].as_secs_f64() * 1000.0,
        anchor_times[iterations - 1].as_secs_f64() * 1000.0,
    );
    println!(
        "  ratio ours/anchor (median time) {:.2}  (goal <= 1.0)",
        our_median.as_secs_f64() / anchor_median.as_secs_f64()
    );
}
