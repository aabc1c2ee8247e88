//! Scale-out as the compose file deploys it: the controller and two agents as separate
//! processes, each agent in a network namespace of its own standing for a network segment,
//! then a Prometheus-style scrape of all three `/metrics` endpoints.
//!
//! Each namespace is joined to the host by a veth pair on a private /29 of 10.231.0.0/16
//! and has no other route: nothing leaves the machine. The agents reach the controller's
//! gRPC port at their pair's host address (the controller listens on every address, as in
//! a container), and RabbitMQ — which listens on loopback only and lets `guest` in from
//! loopback only — through a forwarder of the test on that same host address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use opsconductor_store::prelude::*;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep};

use crate::support::{World, binary, without_settings};

/// Where an agent serves `/metrics` inside its namespace.
const AGENT_METRICS_PORT: u16 = 9464;

/// RabbitMQ on the host (see [`World::queue_url`]).
const RABBITMQ: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5672);

/// Namespaces are named `oc-e2e-<pid>-<n>-<site>`, so a later run can tell the leftovers
/// of a killed one (its pid is gone) from another run's.
const NETNS_PREFIX: &str = "oc-e2e-";

/// Tells the namespace sets of one process apart.
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// One segment: a namespace, the veth pair joining it to the host and the ping targets
/// that route to it.
struct Site {
    segment: &'static str,
    /// The agent's name.
    agent: &'static str,
    netns: String,
    /// The host end of the veth pair (its other end is `eth0` in the namespace).
    host_if: String,
    /// The host end's address: the agent's way to the controller and the broker.
    host_addr: Ipv4Addr,
    /// The namespace end's address: where the agent's metrics are scraped.
    ns_addr: Ipv4Addr,
    /// The segment's CIDR (the pair's /29).
    cidr: String,
    /// Addresses the agent reaches from its namespace: both ends of the pair, and for
    /// site-a a second address of its own (so the two segments differ in size).
    targets: Vec<String>,
}

/// Two namespaces, `site-a` and `site-b`, each with a veth pair to the host; removed on
/// drop, also when the test panics.
struct TwoSites {
    sites: Vec<Site>,
}

impl TwoSites {
    fn create() -> Self {
        remove_leftovers();
        let third = free_third_octet();
        let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut net = Self { sites: Vec::new() };
        for (i, (segment, agent)) in [("site-a", "agent-a"), ("site-b", "agent-b")]
            .into_iter()
            .enumerate()
        {
            let letter = if i == 0 { 'a' } else { 'b' };
            let base = 8 * u8::try_from(i).unwrap();
            let host_addr = Ipv4Addr::new(10, 231, third, base + 1);
            let ns_addr = Ipv4Addr::new(10, 231, third, base + 2);
            let mut targets = vec![host_addr.to_string(), ns_addr.to_string()];
            if i == 0 {
                targets.push(Ipv4Addr::new(10, 231, third, base + 3).to_string());
            }
            // Registered before anything exists, so a failure half-way is cleaned up too.
            net.sites.push(Site {
                segment,
                agent,
                netns: format!("{NETNS_PREFIX}{pid}-{n}-{letter}"),
                host_if: format!("oce{pid}x{n}{letter}"),
                host_addr,
                ns_addr,
                cidr: format!("10.231.{third}.{base}/29"),
                targets,
            });
            let site = net.sites.last().unwrap();
            let (ns, host_if) = (site.netns.as_str(), site.host_if.as_str());
            ip(&["netns", "add", ns]);
            ip(&[
                "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&["addr", "add", &format!("{host_addr}/29"), "dev", host_if]);
            ip(&["link", "set", host_if, "up"]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ns_addr}/29"),
                "dev",
                "eth0",
            ]);
            for extra in &site.targets[2..] {
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{extra}/29"),
                    "dev",
                    "eth0",
                ]);
            }
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        net
    }
}

impl Drop for TwoSites {
    fn drop(&mut self) {
        for site in &self.sites {
            // Deleting the namespace deletes its veth end and so the pair; the host end
            // is deleted first in case the namespace lives on in a stray process.
            let _ = Command::new("ip")
                .args(["link", "del", &site.host_if])
                .output();
            let _ = Command::new("ip")
                .args(["netns", "del", &site.netns])
                .output();
        }
    }
}

/// Runs `ip args…` and panics with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces of earlier runs of this test that were killed before their
/// drop ran (their pid is gone); their veth pairs go with them.
fn remove_leftovers() {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// A `10.231.<third>.0/24` no host interface has an address in (another run's sites).
fn free_third_octet() -> u8 {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .unwrap();
    let addresses = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = u8::try_from(std::process::id() % 256).unwrap();
    (0..=255_u8)
        .map(|i| start.wrapping_add(i))
        .find(|third| !addresses.contains(&format!(" 10.231.{third}.")))
        .expect("every 10.231.x.0/24 is in use")
}

/// Accepts on an address of the host and splices every connection to `to`; stops (with
/// every connection it holds) on drop.
struct Forwarder {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Forwarder {
    async fn start(ip: Ipv4Addr, to: SocketAddr) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Enrolls and starts the agent of `site` inside its namespace, talking to the controller
/// at `grpc_port` and to RabbitMQ through `broker`, both on the pair's host address.
async fn start_agent_in(world: &mut World, site: &Site, grpc_port: u16, broker: SocketAddr) {
    let token = world
        .post(
            "/api/v1/enrollment-tokens",
            json!({"segment": site.segment}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = site.agent;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &site.netns, binary(), "agent"]);
    let log = world.dir.path().join(format!("{name}.log"));
    let child = without_settings(cmd, &log, world.log_filter)
        .env(
            "OPSCONDUCTOR_CONTROLLER_URL",
            format!("http://{}:{grpc_port}", site.host_addr),
        )
        .env("OPSCONDUCTOR_ENROLLMENT_TOKEN", token)
        .env(
            "OPSCONDUCTOR_IDENTITY_FILE",
            world.dir.path().join(format!("{name}.identity.json")),
        )
        .env("OPSCONDUCTOR_NAME", name)
        .env(
            "OPSCONDUCTOR_QUEUE__URL",
            format!("amqp://guest:guest@{broker}/%2f"),
        )
        .env("OPSCONDUCTOR_QUEUE__PREFIX", &world.prefix)
        .env(
            "OPSCONDUCTOR_METRICS_LISTEN",
            format!("0.0.0.0:{AGENT_METRICS_PORT}"),
        )
        .spawn()
        .unwrap();
    // `ip netns exec` execs the agent: the child is the agent itself.
    world.agents.insert(name.to_owned(), child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_in_two_network_namespaces_run_their_segments_and_export_metrics() {
    // Declared first, dropped last (also on panic): the forwarders and the world, with
    // its processes, go before the namespaces.
    let net = TwoSites::create();
    let mut world = World::new().await;
    world.segments.extend(["site-a", "site-b"]);
    // Every address, as a controller in a container listens: the agents come from their
    // pair's host address.
    let grpc_port = world.grpc.port();
    world.grpc = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), grpc_port);
    world.start_controller().await;
    for site in &net.sites {
        world
            .put(
                &format!("/api/v1/segments/{}", site.segment),
                json!({"cidrs": [site.cidr]}),
            )
            .await;
    }
    let mut forwarders = Vec::new();
    for site in &net.sites {
        let broker = Forwarder::start(site.host_addr, RABBITMQ).await;
        start_agent_in(&mut world, site, grpc_port, broker.addr).await;
        forwarders.push(broker);
    }
    for site in &net.sites {
        world.wait_until_online(site.agent).await;
    }
    let agents = world.get("/api/v1/agents").await;
    let agent_id: BTreeMap<&str, String> = net
        .sites
        .iter()
        .map(|site| {
            let agent = agents
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == site.agent)
                .unwrap_or_else(|| panic!("{} is not listed: {agents}", site.agent));
            assert_eq!(agent["segment"], site.segment, "{agent}");
            (site.segment, agent["id"].as_str().unwrap().to_owned())
        })
        .collect();

    // One job over both segments.
    let targets: Vec<String> = net
        .sites
        .iter()
        .flat_map(|s| s.targets.iter().cloned())
        .collect();
    let run = world
        .run_job(json!({
            "name": "ping both sites",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "hosts", "hosts": targets}]},
            "actions": [{"command": "ping.icmp", "params": {"count": 1, "timeout_ms": 1000}}]
        }))
        .await;
    let done = world.wait_for_run(run, Duration::from_secs(30)).await;
    let logs = || {
        format!(
            "--- controller\n{}\n--- agent-a\n{}\n--- agent-b\n{}",
            world.log("controller"),
            world.log("agent-a"),
            world.log("agent-b")
        )
    };
    assert_eq!(done["status"], "completed", "{done}\n{}", logs());
    let ledger = world.ledger(run, &targets, 1).await;
    ledger.assert_exact();
    assert_eq!(
        done["counters"]["ok"],
        targets.len(),
        "every address of both pairs answers its agent: {done}\n{}",
        logs()
    );

    // Each segment's chunks went to its queue and were run by its agent …
    let site_of = |target: &str| {
        net.sites
            .iter()
            .find(|s| s.targets.iter().any(|t| t == target))
            .unwrap()
    };
    let chunks = world.store.chunks_for_run(run).await.unwrap();
    let mut chunks_of = BTreeMap::<&str, u32>::new();
    for chunk in &chunks {
        for target in &chunk.targets {
            assert_eq!(
                site_of(target).segment,
                chunk.segment,
                "{target} was queued for the wrong segment: {chunk:?}"
            );
        }
        assert_eq!(
            chunk.agent_id.map(|id| id.to_string()).as_ref(),
            Some(&agent_id[chunk.segment.as_str()]),
            "a chunk of {} ran elsewhere: {chunk:?}",
            chunk.segment
        );
        assert_eq!(
            chunk.state,
            opsconductor_store::ChunkState::Done,
            "{chunk:?}"
        );
        *chunks_of
            .entry(site_of(&chunk.targets[0]).segment)
            .or_default() += 1;
    }
    // … and the results say so to the API's users.
    let results = world
        .get(&format!("/api/v1/results?run_id={run}&limit=100"))
        .await;
    let items = results["items"].as_array().unwrap();
    assert_eq!(items.len(), targets.len(), "{results}");
    for result in items {
        let site = site_of(result["target"].as_str().unwrap());
        assert_eq!(
            result["agent_id"].as_str(),
            Some(agent_id[site.segment].as_str()),
            "{} ran on the wrong agent: {result}",
            result["target"]
        );
    }

    // What Prometheus would see. The gauges refresh every few seconds: wait for them.
    let scraper = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let run_id = run.to_string();
    let chunk_count = chunks.len() as f64;
    let results_count = targets.len() as f64;
    scrape_until(
        &scraper,
        &world.url("/metrics"),
        "controller",
        |m, c| {
            c.eq(m, "opsconductor_controller_runs_started_total", &[], 1.0);
            c.eq(
                m,
                "opsconductor_controller_chunks_created_total",
                &[],
                chunk_count,
            );
            c.eq(
                m,
                "opsconductor_controller_chunks_published_total",
                &[],
                chunk_count,
            );
            c.eq(
                m,
                "opsconductor_controller_results_ingested_total",
                &[("outcome", "inserted")],
                results_count,
            );
            c.eq(
                m,
                "opsconductor_controller_results_received_total",
                &[("status", "ok")],
                results_count,
            );
            c.eq(m, "opsconductor_controller_agent_sessions", &[], 2.0);
            c.eq(m, "opsconductor_controller_runs_active", &[], 0.0);
            c.eq(m, "opsconductor_controller_outbox_backlog", &[], 0.0);
            for site in &net.sites {
                let segment = ("segment", site.segment);
                c.eq(
                    m,
                    "opsconductor_controller_agents",
                    &[segment, ("state", "online")],
                    1.0,
                );
                c.eq(
                    m,
                    "opsconductor_controller_agents",
                    &[segment, ("state", "offline")],
                    0.0,
                );
                c.eq(m, "opsconductor_controller_queue_depth", &[segment], 0.0);
                c.zero_or_absent(
                    m,
                    "opsconductor_controller_chunks_dead_lettered_total",
                    &[segment],
                );
            }
            c.at_least(
                m,
                "opsconductor_controller_http_requests_total",
                &[("method", "POST"), ("status", "201")],
                1.0,
            );
            c.at_least(
                m,
                "opsconductor_controller_grpc_requests_total",
                &[("code", "Ok")],
                2.0,
            );
            c.at_least(
                m,
                "opsconductor_controller_ingest_batch_seconds_count",
                &[],
                1.0,
            );
            // Routes are templates: the run polled by id is not a label value.
            if m.samples
                .iter()
                .any(|s| s.labels.values().any(|v| v.contains(&run_id)))
            {
                c.failures
                    .push(format!("a label holds the run id {run_id}"));
            }
        },
        &logs,
    )
    .await;
    for site in &net.sites {
        let url = format!("http://{}:{AGENT_METRICS_PORT}/metrics", site.ns_addr);
        let ran = site.targets.len() as f64;
        let segment_chunks = f64::from(chunks_of[site.segment]);
        scrape_until(
            &scraper,
            &url,
            site.agent,
            |m, c| {
                c.eq(
                    m,
                    "opsconductor_agent_chunks_total",
                    &[("outcome", "finished")],
                    segment_chunks,
                );
                c.eq(m, "opsconductor_agent_chunks_total", &[], segment_chunks);
                c.eq(
                    m,
                    "opsconductor_actions_runs_total",
                    &[("kind", "ping"), ("outcome", "ok")],
                    ran,
                );
                c.eq(m, "opsconductor_actions_runs_total", &[], ran);
                c.eq(
                    m,
                    "opsconductor_actions_duration_seconds_count",
                    &[("kind", "ping")],
                    ran,
                );
                c.eq(m, "opsconductor_agent_results_buffered", &[], 0.0);
                c.zero_or_absent(m, "opsconductor_agent_results_dropped_total", &[]);
                c.zero_or_absent(m, "opsconductor_agent_session_reconnects_total", &[]);
                c.at_least(
                    m,
                    "opsconductor_agent_batch_ack_latency_seconds_count",
                    &[],
                    1.0,
                );
            },
            &logs,
        )
        .await;
    }
}

/// Scrapes `url` until `check` finds nothing wrong, for up to 30 s (the controller's
/// gauges are refreshed in rounds, every 5 s or as long as a round takes when the broker
/// is slow to answer); then fails with what was still wrong and the scrape.
async fn scrape_until(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    check: impl Fn(&Scrape, &mut Checks),
    logs: &dyn Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (failures, text) = match scrape(client, url).await {
            Ok(scrape) => {
                let mut checks = Checks::default();
                check(&scrape, &mut checks);
                (checks.failures, scrape.text)
            }
            Err(error) => (vec![error], String::new()),
        };
        if failures.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} metrics at {url}:\n  {}\n--- scrape\n{text}\n{}",
            failures.join("\n  "),
            logs()
        );
        sleep(Duration::from_millis(500)).await;
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Result<Scrape, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    if !content_type.starts_with("text/plain") {
        return Err(format!(
            "GET {url}: content type {content_type:?}, not Prometheus text"
        ));
    }
    Scrape::parse(&text).map_err(|e| format!("GET {url}: {e}"))
}

/// What a check found wrong.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn eq(&mut self, m: &Scrape, name: &str, labels: &[(&str, &str)], want: f64) {
        let got = m.value(name, labels);
        if got != Some(want) {
            self.failures
                .push(format!("{name}{labels:?} = {got:?}, want {want}"));
        }
    }

    fn at_least(&mut self, m: &Scrape, name: &str, labels: &[(&str, &str)], least: f64) {
        let got = m.value(name, labels);
        if !got.is_some_and(|v| v >= least) {
            self.failures
                .push(format!("{name}{labels:?} = {got:?}, want ≥ {least}"));
        }
    }

    fn zero_or_absent(&mut self, m: &Scrape, name: &str, labels: &[(&str, &str)]) {
        let got = m.value(name, labels);
        if got.is_some_and(|v| v != 0.0) {
            self.failures
                .push(format!("{name}{labels:?} = {got:?}, want 0 or absent"));
        }
    }
}

/// One sample line of the Prometheus text format.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` page.
struct Scrape {
    samples: Vec<Sample>,
    text: String,
}

impl Scrape {
    /// Parses `name{label="value",…} value [timestamp]` lines; `#` lines are skipped.
    fn parse(text: &str) -> Result<Self, String> {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_sample(l).map_err(|e| format!("{e} in {l:?}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            samples,
            text: text.to_owned(),
        })
    }

    /// The sum of the samples named `name` having (at least) `labels`; `None` when there
    /// is no such sample.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|got| got == v))
            })
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches([',', ' ']);
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = inner.split_once("=\"").ok_or("a label without a value")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().ok_or("an unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.insert(key.trim().to_owned(), value);
            inner = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

#[test]
fn prometheus_text_parses_with_route_templates_and_escapes_in_label_values() {
    let text = "# HELP x_total Things\n# TYPE x_total counter\n\
                x_total{method=\"GET\",route=\"/api/v1/runs/{id}\",status=\"200\"} 3\n\
                x_total{method=\"POST\",route=\"/a,b\\\"c\\\\\",status=\"201\"} 2 1700000000\n\
                up 1\n\
                h_bucket{le=\"+Inf\"} 7\n";
    let m = Scrape::parse(text).unwrap();
    assert_eq!(m.samples.len(), 4);
    assert_eq!(m.value("x_total", &[]), Some(5.0));
    assert_eq!(
        m.value("x_total", &[("route", "/api/v1/runs/{id}")]),
        Some(3.0)
    );
    assert_eq!(m.value("x_total", &[("route", "/a,b\"c\\")]), Some(2.0));
    assert_eq!(m.value("up", &[]), Some(1.0));
    assert_eq!(m.value("h_bucket", &[("le", "+Inf")]), Some(7.0));
    assert_eq!(m.value("x_total", &[("status", "500")]), None);
}
