//! Throughput of the shipped `ping.stats` parser: 100,000 ping summaries with varying
//! numbers (one in ten with total loss, so without an rtt line) per iteration.
//!
//! `cargo bench -p opsconductor-core --bench parse_ping`
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opsconductor_core::parse::{CompiledParser, ParserDef};
use serde_json::Value;

const OUTPUTS: usize = 100_000;

fn shipped_ping_parser() -> CompiledParser {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../libraries/parserLibrary.json");
    let text = std::fs::read_to_string(&path).expect("read parserLibrary.json");
    let library: Value = serde_json::from_str(&text).expect("parserLibrary.json is JSON");
    let entry = library["parsers"]
        .as_array()
        .and_then(|parsers| parsers.iter().find(|p| p["id"] == "ping.stats"))
        .expect("ping.stats is shipped")
        .clone();
    let def: ParserDef = serde_json::from_value(entry).expect("ping.stats deserialises");
    def.compile().expect("ping.stats compiles")
}

/// iputils-style outputs; a small LCG keeps them varied and the run reproducible.
fn ping_outputs(n: usize) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    (0..n)
        .map(|i| {
            let host = format!("10.{}.{}.{}", next(256), next(256), 1 + next(254));
            let sent = 1 + next(20);
            let received = if i % 10 == 0 { 0 } else { sent - next(sent.min(3)) };
            let loss = (sent - received) as f64 * 100.0 / sent as f64;
            let time = sent * 1000 + next(100);
            let mut out = format!(
                "PING {host} ({host}) 56(84) bytes of data.\n\n--- {host} ping statistics ---\n\
                 {sent} packets transmitted, {received} received, {loss}% packet loss, time {time}ms\n"
            );
            if received > 0 {
                let min = next(50_000);
                let avg = min + next(5_000);
                let max = avg + next(5_000);
                let mdev = next(2_000);
                out.push_str(&format!(
                    "rtt min/avg/max/mdev = {}.{:03}/{}.{:03}/{}.{:03}/{}.{:03} ms\n",
                    min / 1000,
                    min % 1000,
                    avg / 1000,
                    avg % 1000,
                    max / 1000,
                    max % 1000,
                    mdev / 1000,
                    mdev % 1000
                ));
            }
            out
        })
        .collect()
}

fn parse_ping(c: &mut Criterion) {
    let parser = shipped_ping_parser();
    let inputs = ping_outputs(OUTPUTS);
    let bytes: usize = inputs.iter().map(String::len).sum();

    // One plain pass first: a figure to quote, and a check that every output parsed.
    let start = Instant::now();
    let clean = inputs.iter().filter(|i| parser.parse(i).is_clean()).count();
    let elapsed = start.elapsed();
    assert_eq!(clean, OUTPUTS, "every generated output parses cleanly");
    eprintln!(
        "parse_ping: {OUTPUTS} outputs ({:.1} MiB) in {:.3} s = {:.0} outputs/s, {:.1} MiB/s",
        bytes as f64 / 1_048_576.0,
        elapsed.as_secs_f64(),
        OUTPUTS as f64 / elapsed.as_secs_f64(),
        bytes as f64 / 1_048_576.0 / elapsed.as_secs_f64()
    );

    let mut group = c.benchmark_group("parse_ping");
    group.throughput(Throughput::Elements(OUTPUTS as u64));
    group.sample_size(10);
    group.bench_function("ping.stats/100k", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(parser.parse(black_box(input)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, parse_ping);
criterion_main!(benches);
