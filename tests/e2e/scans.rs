//! Discovery end to end: a scan of 127.0.0.0/24 with real net-snmp, OpenSSH and HTTP
//! servers on loopback addresses of their own, run by a real agent through RabbitMQ into
//! PostgreSQL; the inventory it builds; the diff after a server goes away; and a dynamic
//! group resolved when a job's run starts.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::time::sleep;

use crate::discovery_servers::{Snmpd, Sshd, WebServer};
use crate::support::World;

const SNMP_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
const SSH_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 22);
const WEB_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 23);
const SNMP_PORT: u16 = 16171;
const SSH_PORT: u16 = 12271;
const WEB_PORT: u16 = 18271;
const COMMUNITY: &str = "oc-scan";

fn scan_request() -> Value {
    json!({
        "name": "lab sweep",
        "targets": {"include": [{"type": "range", "value": "127.0.0.0/24"}]},
        "profile": {
            "ping": true,
            "snmp": {"port": SNMP_PORT, "community": COMMUNITY},
            "ssh_port": SSH_PORT,
            "web": [{"scheme": "http", "port": WEB_PORT}],
        },
        "options": {"host_timeout_ms": 8000}
    })
}

/// Starts a scan of the /24 and waits for its end.
async fn scan(world: &World, request: Value) -> Value {
    let started = world.post("/api/v1/scans", request).await;
    assert_eq!(started["state"], "running", "{started}");
    assert_eq!(started["targets"], 254, "{started}");
    let scan = wait_scan(world, started["id"].as_str().unwrap()).await;
    assert_eq!(scan["state"], "completed", "{scan}");
    scan
}

async fn device(world: &World, address: Ipv4Addr) -> Value {
    world.get(&format!("/api/v1/devices/{address}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_identifies_snmp_ssh_and_web_hosts_and_a_rescan_shows_what_changed() {
    let snmpd = Snmpd::start(SNMP_ADDR, SNMP_PORT, COMMUNITY, "oc-scan-snmpd").await;
    let mut sshd = Sshd::start(SSH_ADDR, SSH_PORT).await;
    let mut web = WebServer::start(WEB_ADDR, WEB_PORT, "oc-scan-web/1.0", "Scan Lab Console").await;

    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("scanner", "a").await;
    let request = scan_request();

    let first = scan(&world, request.clone()).await;
    assert_eq!(first["counts"]["probed"], 254, "{first}");
    assert_eq!(
        first["counts"]["alive"], 254,
        "every loopback address answers ping: {first}"
    );
    assert_eq!(first["counts"]["identified"], 3, "{first}");
    assert_eq!(
        first["counts"]["new"], 254,
        "the first scan finds everything new: {first}"
    );

    let snmp_host = device(&world, SNMP_ADDR).await;
    assert_eq!(snmp_host["hostname"], "oc-scan-snmpd", "{snmp_host}");
    let attrs = &snmp_host["attributes"];
    assert_eq!(attrs["sys_name"], "oc-scan-snmpd", "{snmp_host}");
    assert_eq!(attrs["sys_location"], "e2e lab", "{snmp_host}");
    assert!(
        attrs["sys_descr"].as_str().unwrap().starts_with("Linux"),
        "{snmp_host}"
    );
    assert!(
        attrs["sys_object_id"]
            .as_str()
            .unwrap()
            .starts_with("1.3.6.1.4.1.8072."),
        "net-snmp's enterprise: {snmp_host}"
    );
    assert!(
        attrs["os"].as_str().unwrap().contains("Linux"),
        "{snmp_host}"
    );

    let ssh_host = device(&world, SSH_ADDR).await;
    let banner = ssh_host["attributes"]["ssh_banner"]
        .as_str()
        .unwrap_or_default();
    assert!(banner.starts_with("SSH-2.0-OpenSSH_"), "{ssh_host}");
    assert_eq!(
        ssh_host["attributes"]["open_ports"],
        json!([SSH_PORT]),
        "{ssh_host}"
    );
    assert!(
        ssh_host["attributes"]["os"]
            .as_str()
            .unwrap()
            .contains("Linux"),
        "{ssh_host}"
    );

    let web_host = device(&world, WEB_ADDR).await;
    assert_eq!(
        web_host["attributes"]["http_server"], "oc-scan-web/1.0",
        "{web_host}"
    );
    assert_eq!(
        web_host["attributes"]["http_title"], "Scan Lab Console",
        "{web_host}"
    );
    assert_eq!(
        web_host["attributes"]["open_ports"],
        json!([WEB_PORT]),
        "{web_host}"
    );

    // An address with nothing on it is alive (ping) and nothing more.
    let quiet = device(&world, Ipv4Addr::new(127, 0, 0, 99)).await;
    assert_eq!(quiet["attributes"].get("open_ports"), None, "{quiet}");
    assert_eq!(
        quiet["segment"], "a",
        "routed by segment a's 127.0.0.0/24: {quiet}"
    );

    // The inventory lists all of them, and a filter finds the identified ones.
    let page = world.get("/api/v1/devices?limit=10").await;
    assert_eq!(page["total"], 254, "{page}");
    assert_eq!(
        page["items"][0]["address"], "127.0.0.1",
        "address order: {page}"
    );
    let filtered = world
        .get("/api/v1/devices?filter=exists%20sys_name%20or%20exists%20ssh_banner%20or%20http_title%20~%20lab")
        .await;
    let found: BTreeSet<&str> = filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        BTreeSet::from(["127.0.0.21", "127.0.0.22", "127.0.0.23"]),
        "{filtered}"
    );

    // sshd goes away; the next scan of the range shows that host as changed.
    sshd.stop();
    let second = scan(&world, request.clone()).await;
    assert_eq!(second["previous_scan_id"], first["id"], "{second}");
    assert_eq!(second["counts"]["identified"], 2, "{second}");
    assert_eq!(second["counts"]["new"], 0, "{second}");
    assert_eq!(second["counts"]["changed"], 1, "{second}");
    let diff = world
        .get(&format!(
            "/api/v1/scans/{}/diff",
            second["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(diff["new"], json!([]), "{diff}");
    assert_eq!(diff["gone"], json!([]), "{diff}");
    let changed = diff["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{diff}");
    assert_eq!(changed[0]["address"], SSH_ADDR.to_string(), "{diff}");
    let fields: BTreeSet<&str> = changed[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains("ssh_banner") && fields.contains("open_ports"),
        "{diff}"
    );
    let now = device(&world, SSH_ADDR).await;
    assert_eq!(now["attributes"].get("ssh_banner"), None, "{now}");
    assert_eq!(now["first_seen"], ssh_host["first_seen"], "{now}");

    // Without ping, a host is alive when a probe answers: on 127.0.0.20-24 that is the
    // SNMP and web hosts. The web server stops; the next scan of that range says it is gone.
    let mut narrow = request.clone();
    narrow["targets"] = json!({"include": [{"type": "range", "value": "127.0.0.20-127.0.0.24"}]});
    narrow["profile"]["ping"] = json!(false);
    let started = world.post("/api/v1/scans", narrow.clone()).await;
    let first_narrow = wait_scan(&world, started["id"].as_str().unwrap()).await;
    assert_eq!(
        first_narrow["previous_scan_id"],
        Value::Null,
        "another range: {first_narrow}"
    );
    assert_eq!(first_narrow["counts"]["probed"], 5, "{first_narrow}");
    assert_eq!(first_narrow["counts"]["alive"], 2, "{first_narrow}");
    web.stop();
    let started = world.post("/api/v1/scans", narrow).await;
    let narrow_again = wait_scan(&world, started["id"].as_str().unwrap()).await;
    assert_eq!(narrow_again["counts"]["gone"], 1, "{narrow_again}");
    let diff = world
        .get(&format!(
            "/api/v1/scans/{}/diff",
            narrow_again["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(diff["gone"], json!([WEB_ADDR.to_string()]), "{diff}");
    assert_eq!(diff["previous_scan_id"], first_narrow["id"], "{diff}");

    // Cancelling a finished scan is refused; history lists newest first.
    let history = world.get("/api/v1/scans").await;
    assert_eq!(history["items"][0]["id"], narrow_again["id"], "{history}");
    let refused = world
        .client()
        .post(world.url(&format!(
            "/api/v1/scans/{}/cancel",
            second["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    drop(snmpd);
}

/// Polls a scan until it is no longer running.
async fn wait_scan(world: &World, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let scan = world.get(&format!("/api/v1/scans/{id}")).await;
        if scan["state"] != "running" {
            return scan;
        }
        assert!(
            Instant::now() < deadline,
            "scan {id} still running: {scan}\n--- controller\n{}",
            world.log("controller")
        );
        sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_a_dynamic_group_runs_on_exactly_the_members_at_run_start() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("runner", "a").await;

    // An inventory from an import: three core Cisco boxes, one access switch, one Linux.
    let csv = "address,hostname,vendor,os,tags\n\
               127.0.0.51,core-1,Cisco,IOS XE,core;dc1\n\
               127.0.0.52,core-2,Cisco,IOS XE,core\n\
               127.0.0.53,acc-1,Cisco,IOS,access\n\
               127.0.0.54,core-3,Cisco,NX-OS,core\n\
               127.0.0.55,mon-1,,Linux,core\n";
    let report = world
        .client()
        .post(world.url("/api/v1/devices/import?format=csv"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["created"], 5, "{report}");

    let group = world
        .post(
            "/api/v1/groups",
            json!({"name": "core-cisco", "filter": "vendor = \"Cisco\" and tag = \"core\""}),
        )
        .await;
    assert_eq!(group["member_count"], 3, "{group}");
    let job = world
        .post(
            "/api/v1/jobs",
            json!({
                "name": "ping the core",
                "schedule": {"type": "manual"},
                "targets": {"include": [{"type": "group", "group": "core-cisco"}]},
                "actions": [{"command": "ping.alive", "params": {"count": 1}}]
            }),
        )
        .await;

    // Membership changes after the job was saved: it is resolved when the run starts.
    let bulk = world
        .post(
            "/api/v1/devices/bulk",
            json!({"addresses": ["127.0.0.53"], "add_tags": ["core"]}),
        )
        .await;
    assert_eq!(bulk["affected"], 1, "{bulk}");
    let bulk = world
        .post(
            "/api/v1/devices/bulk",
            json!({"addresses": ["127.0.0.54"], "remove_tags": ["core"]}),
        )
        .await;
    assert_eq!(bulk["affected"], 1, "{bulk}");
    let preview = world
        .post(
            "/api/v1/targets/preview",
            json!({"targets": {"include": [{"type": "group", "group": "core-cisco"}]}}),
        )
        .await;
    assert_eq!(preview["count"], 3, "{preview}");

    let run = world
        .post(
            &format!("/api/v1/jobs/{}/runs", job["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    let run_id = run["id"].as_str().unwrap().parse().unwrap();
    let done = world.wait_for_run(run_id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let ledger = world
        .ledger(
            run_id,
            &[
                "127.0.0.51".to_owned(),
                "127.0.0.52".to_owned(),
                "127.0.0.53".to_owned(),
            ],
            1,
        )
        .await;
    ledger.assert_exact();

    // A group that does not exist fails the run's start with the field named.
    let orphan = world
        .post(
            "/api/v1/jobs",
            json!({
                "name": "orphan",
                "schedule": {"type": "manual"},
                "targets": {"include": [{"type": "group", "group": "nope"}]},
                "actions": [{"command": "ping.alive"}]
            }),
        )
        .await;
    let refused = world
        .client()
        .post(world.url(&format!(
            "/api/v1/jobs/{}/runs",
            orphan["id"].as_str().unwrap()
        )))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"], "targets.include[0].group",
        "{problem}"
    );
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no such group"),
        "{problem}"
    );
}
