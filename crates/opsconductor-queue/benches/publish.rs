//! Dispatch throughput against the local RabbitMQ: 400 chunks of 200 targets each (a /16
//! split for dispatch is 328 such chunks; the goal is 65,534 targets published in ≤ 1 s).
//!
//! Measures, in one run: `publish_chunks` (pipelined: all sent, then all confirms awaited),
//! consuming them back with acks, and the anchor — the same 400 chunks published one at a
//! time, each confirm awaited before the next send (what a naive relay does).
//!
//! `cargo bench -p opsconductor-queue --bench publish` (`OPSCONDUCTOR_TEST_AMQP_URL` picks
//! the broker; `BENCH_ROUNDS` the number of rounds, default 3).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::error::Error;
use std::time::{Duration, Instant};

use opsconductor_proto::v1::{ChunkAction, ChunkWork};
use opsconductor_queue::{Consumer, Publisher, QueueConfig, delete_topology};
use prost::Message;

const CHUNKS: usize = 400;
const TARGETS_PER_CHUNK: usize = 200;
const SEGMENT: &str = "bench";

type Item = (String, String, Vec<u8>);

/// A chunk as the dispatcher makes it: 200 addresses of a /16 and three resolved actions.
fn chunk(index: usize) -> Item {
    let chunk_id = uuid::Uuid::now_v7().to_string();
    let targets = (0..TARGETS_PER_CHUNK)
        .map(|t| {
            let n = index * TARGETS_PER_CHUNK + t;
            format!("10.20.{}.{}", (n / 256) % 256, n % 256)
        })
        .collect();
    let ping = ChunkAction {
        index: 0,
        command_id: "ping.icmp".into(),
        kind: "ping".into(),
        params_json: r#"{"count":3,"interval_ms":200,"size":56,"ttl":64,"timeout_ms":1000}"#.into(),
        parsers_json: "[]".into(),
        criteria_json: r#"{"all":[{"field":"loss_pct","op":"lt","value":50}]}"#.into(),
        timeout_ms: 5_000,
        credential_id: None,
    };
    let snmp = ChunkAction {
        index: 1,
        command_id: "snmp.if_table".into(),
        kind: "snmp".into(),
        params_json: r#"{"operation":"bulkwalk","oids":["1.3.6.1.2.1.2.2.1.2","1.3.6.1.2.1.2.2.1.8","1.3.6.1.2.1.31.1.1.1.6","1.3.6.1.2.1.31.1.1.1.10"],"version":"v2c","port":161,"max_repetitions":25,"retries":1,"timeout_ms":2000}"#.into(),
        parsers_json: r#"[{"id":"snmp.table","kind":"snmp_table","options":{"index_from":"1.3.6.1.2.1.2.2.1","columns":{"2":"if_descr","8":"if_oper_status"}}},{"id":"fields","kind":"map","options":{"rename":{"if_descr":"interface","if_oper_status":"status"},"types":{"status":"integer"}}}]"#.into(),
        criteria_json: r#"{"all":[{"field":"status","op":"eq","value":1}],"warn":[{"field":"interface","op":"matches","value":"^Gi"}]}"#.into(),
        timeout_ms: 10_000,
        credential_id: Some(uuid::Uuid::now_v7().to_string()),
    };
    let http = ChunkAction {
        index: 2,
        command_id: "http.health".into(),
        kind: "http".into(),
        params_json: r#"{"method":"GET","scheme":"https","port":8443,"path":"/api/v2/health?verbose=true&include=dependencies,build,uptime","headers":{"accept":"application/json","user-agent":"opsconductor-agent/0.1","x-request-source":"scheduled-health-check"},"expect_status":[200,204],"follow_redirects":false,"max_redirects":0,"verify_tls":true,"tls_expiry_warn_days":21,"timeout_ms":5000,"body_regex":"\\\"status\\\"\\s*:\\s*\\\"(ok|pass)\\\"","jsonpath":[{"path":"$.checks[?@.status != 'pass'].name","expect":"empty"},{"path":"$.build.version","expect":"present"}]}"#.into(),
        parsers_json: r#"[{"id":"json.fields","kind":"jsonpath","options":{"fields":{"status":"$.status","version":"$.build.version","uptime_s":"$.uptime_seconds","db":"$.checks[?@.name == 'database'].status","queue":"$.checks[?@.name == 'queue'].status"}}},{"id":"tls","kind":"tls_expiry","options":{"field":"cert_days_left"}}]"#.into(),
        criteria_json: r#"{"all":[{"field":"http_status","op":"in","value":[200,204]},{"field":"status","op":"in","value":["ok","pass"]}],"warn":[{"field":"cert_days_left","op":"lt","value":21},{"field":"latency_ms","op":"gt","value":750}]}"#.into(),
        timeout_ms: 6_000,
        credential_id: None,
    };
    let work = ChunkWork {
        chunk_id: chunk_id.clone(),
        run_id: uuid::Uuid::now_v7().to_string(),
        job_id: uuid::Uuid::now_v7().to_string(),
        segment: SEGMENT.into(),
        targets,
        actions: vec![ping, snmp, http],
        concurrency: 64,
        target_timeout_ms: 15_000,
        run_deadline_unix_ms: 1_900_000_000_000,
        require_first_ok: false,
    };
    (chunk_id, SEGMENT.to_owned(), work.encode_to_vec())
}

fn batch() -> Vec<Item> {
    (0..CHUNKS).map(chunk).collect()
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn consume_all(config: &QueueConfig, count: usize) -> Result<Duration, Box<dyn Error>> {
    let mut consumer = Consumer::connect(config, SEGMENT).await?;
    let started = Instant::now();
    for _ in 0..count {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next()).await??;
        delivery.ack().await?;
    }
    let elapsed = started.elapsed();
    consumer.close().await;
    Ok(elapsed)
}

async fn run(config: &QueueConfig, rounds: usize) -> Result<(), Box<dyn Error>> {
    let publisher = Publisher::connect(config).await?;
    publisher.ensure_segment(SEGMENT).await?;
    let sizes: Vec<usize> = batch().iter().map(|item| item.2.len()).collect();
    println!(
        "payload: {} chunks x {} targets, {}..{} bytes each ({:.1} KiB mean)",
        CHUNKS,
        TARGETS_PER_CHUNK,
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64 / 1024.0
    );
    // Warm-up: connection, channel and queue are hot before anything is timed.
    publisher.publish_chunks(&batch()[..10]).await?;
    consume_all(config, 10).await?;

    let mut pipelined_all = Vec::new();
    let mut serial_all = Vec::new();
    for round in 1..=rounds {
        let items = batch();
        let started = Instant::now();
        publisher.publish_chunks(&items).await?;
        let pipelined = started.elapsed();
        let consumed = consume_all(config, CHUNKS).await?;

        let items = batch();
        let started = Instant::now();
        for item in &items {
            publisher.publish_chunks(std::slice::from_ref(item)).await?;
        }
        let serial = started.elapsed();
        consume_all(config, CHUNKS).await?;

        println!(
            "round {round}: pipelined {:>7.1} ms ({:>6.0} chunks/s, {:>7.0} targets/s) | \
             consume+ack {:>7.1} ms ({:>6.0} chunks/s) | one-at-a-time {:>7.1} ms ({:>6.0} chunks/s) | \
             pipelined is {:.1}x faster",
            pipelined.as_secs_f64() * 1e3,
            per_second(CHUNKS, pipelined),
            per_second(CHUNKS * TARGETS_PER_CHUNK, pipelined),
            consumed.as_secs_f64() * 1e3,
            per_second(CHUNKS, consumed),
            serial.as_secs_f64() * 1e3,
            per_second(CHUNKS, serial),
            serial.as_secs_f64() / pipelined.as_secs_f64(),
        );
        pipelined_all.push(pipelined);
        serial_all.push(serial);
    }
    pipelined_all.sort();
    serial_all.sort();
    let median = |all: &[Duration]| all[all.len() / 2];
    let (pipelined, serial) = (median(&pipelined_all), median(&serial_all));
    let goal_chunks = 65_534_usize.div_ceil(TARGETS_PER_CHUNK);
    println!(
        "median: {CHUNKS} chunks in {:.1} ms pipelined vs {:.1} ms one at a time (ratio {:.1}x); \
         65,534 targets = {goal_chunks} chunks ≈ {:.0} ms at the pipelined rate (goal ≤ 1000 ms)",
        pipelined.as_secs_f64() * 1e3,
        serial.as_secs_f64() * 1e3,
        serial.as_secs_f64() / pipelined.as_secs_f64(),
        pipelined.as_secs_f64() * 1e3 * goal_chunks as f64 / CHUNKS as f64,
    );
    publisher.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let config = QueueConfig {
        url: std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
            .unwrap_or_else(|_| QueueConfig::default().url),
        prefix: format!("ocbench-{}", uuid::Uuid::new_v4().simple()),
        prefetch: 100,
        ..QueueConfig::default()
    };
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let outcome = run(&config, rounds).await;
    delete_topology(&config, &[SEGMENT]).await?;
    outcome
}
