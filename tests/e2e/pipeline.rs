//! The happy path: two segments, three agents, a ping job over both ranges and an HTTP job
//! against a local server — every result stored once and executed in the right segment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::support::{World, hosts, test_server_setting};

/// A tiny HTTP server on 127.0.0.1 answering 200 "ok" to everything.
async fn http_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buf = vec![0_u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_http_jobs_run_in_their_segments_and_store_every_result_once() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    world.start_agent("a2", "a").await;
    world.start_agent("b1", "b").await;

    let ping_run = world
        .run_job(json!({
            "name": "ping both segments",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "range", "value": "127.0.0.1-254, 127.0.1.1-254"}]},
            "actions": [{"command": "ping.icmp", "params": {"count": 1, "timeout_ms": 1000}}],
            "options": {"chunk_size": 50}
        }))
        .await;
    let port = http_server().await;
    let http_run = world
        .run_job(json!({
            "name": "local http",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
            "actions": [{"command": "http.get", "params": {"port": port, "path": "/health"}}]
        }))
        .await;

    let run = world.wait_for_run(ping_run, Duration::from_secs(120)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let targets: Vec<String> = hosts(0, 254).into_iter().chain(hosts(1, 254)).collect();
    let ledger = world.ledger(ping_run, &targets, 1).await;
    ledger.assert_exact();
    assert_eq!(
        run["counters"]["ok"], 508,
        "every loopback address answers: {run}"
    );

    // Every result was executed by an agent of the target's segment.
    let agents = world.get("/api/v1/agents").await;
    let segment_of: BTreeMap<String, String> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["segment"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for r in &ledger.results {
        let agent = r.agent_id.expect("results name their agent").to_string();
        let want = if r.target.starts_with("127.0.0.") {
            "a"
        } else {
            "b"
        };
        assert_eq!(
            segment_of[&agent], want,
            "{} ran in the wrong segment",
            r.target
        );
    }

    let run = world.wait_for_run(http_run, Duration::from_secs(60)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let ledger = world.ledger(http_run, &["127.0.0.1".to_owned()], 1).await;
    ledger.assert_exact();
    assert_eq!(
        ledger.results[0].fields["status_code"], 200,
        "{:?}",
        ledger.results[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_problem_naming_the_field_and_changes_nothing() {
    let mut world = World::new().await;
    world.start_controller().await;
    let client = world.client();
    let r = client
        .post(world.url("/api/v1/jobs"))
        .json(&json!({
            "name": "bad",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "range", "value": "10.0.0.0/33"}]},
            "actions": [{"command": "ping.icmp", "params": {"count": "four"}}],
            "options": {"run_deadline_seconds": u64::MAX}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"targets.include[0].value"), "{problem}");
    assert!(
        fields.iter().any(|f| f.starts_with("actions[0].params")),
        "{problem}"
    );

    // A body that is not a job names where it stopped making sense.
    let r = client
        .post(world.url("/api/v1/jobs"))
        .body(r#"{"name": "x", "schedule": {"type": "sometimes"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "schedule.type", "{problem}");

    // Without a token nothing is served; the admin's API token opens the same request.
    let anonymous = reqwest::Client::new();
    let r = anonymous
        .get(world.url("/api/v1/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = anonymous
        .get(world.url("/api/v1/jobs"))
        .bearer_auth(world.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Running a job that does not exist.
    let r = client
        .post(world.url(&format!("/api/v1/jobs/{}/runs", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Nothing was stored: the name "bad" is still free.
    world
        .post(
            "/api/v1/jobs",
            json!({
                "name": "bad",
                "schedule": {"type": "manual"},
                "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
                "actions": [{"command": "ping.icmp"}]
            }),
        )
        .await;
}

/// The Job Builder's "fetch a real sample": one action on one target runs through an agent
/// of the target's segment and comes back with raw output, fields and verdict; a segment
/// without an agent is refused at once, and no job is left behind either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_goes_through_the_targets_segment_and_leaves_no_job() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("b1", "b").await;
    let port = http_server().await;

    let outcome = world
        .post(
            "/api/v1/library/dry-run",
            json!({
                "action": {"command": "http.get", "params": {"port": port, "path": "/health"}},
                // The server listens on 127.0.0.1 (segment a, no agent): run it in b.
                "target": "127.0.0.1",
                "segment": "b",
            }),
        )
        .await;
    assert_eq!(outcome["segment"], "b", "{outcome}");
    assert_eq!(outcome["result"]["target"], "127.0.0.1");
    assert_eq!(outcome["result"]["status"], "ok", "{outcome}");
    assert_eq!(outcome["result"]["raw_excerpt"], "ok");
    assert_eq!(outcome["result"]["fields"]["status_code"], 200, "{outcome}");
    assert!(
        outcome["rendered"].as_str().unwrap().contains("127.0.0.1"),
        "{outcome}"
    );

    // Segment a (127.0.0.0/24) has no agent.
    let response = world
        .client()
        .post(world.url("/api/v1/library/dry-run"))
        .json(&json!({"action": {"command": "ping.icmp"}, "target": "127.0.0.9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("\"a\""),
        "{problem}"
    );

    let jobs = world.get("/api/v1/jobs").await;
    assert_eq!(jobs["items"], json!([]), "dry runs leave no job");
}

/// A run that logs in to the real sshd with a vault credential: the password reaches the
/// device and nothing else — not the AMQP messages (the stored chunk payloads, published
/// as they are), not any log line of the controller or the agent at TRACE, not the
/// results. The host key is recorded on first use by the controller on the way. The API
/// token every request carries and the admin password the harness logged in with are in
/// no log line either.
#[tokio::test]
async fn a_vault_credential_reaches_the_device_and_no_log_message_or_result() {
    let password = test_server_setting("OC_TEST_SSH_PASSWORD");
    let user = test_server_setting("OC_TEST_SSH_USER");
    let ssh: std::net::SocketAddr = test_server_setting("OC_TEST_SSH_ADDR").parse().unwrap();
    let mut world = World::new().await;
    world.log_filter = "trace";
    world.controller_env.push((
        "OPSCONDUCTOR_VAULT_KEY",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".to_owned(),
    ));
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let credential = world
        .post(
            "/api/v1/credentials",
            json!({"name": "lab login", "kind": "ssh_password",
                   "secret": {"user": user, "password": password}}),
        )
        .await;
    let run = world
        .run_job(json!({
            "name": "uptime with a vault credential",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "hosts", "hosts": [ssh.ip().to_string()]}]},
            "actions": [{"command": "ssh.command",
                         "params": {"command": "echo vault-ok", "port": ssh.port()},
                         "credential": credential["id"]}],
        }))
        .await;
    let done = world.wait_for_run(run, Duration::from_secs(60)).await;
    let results = world.get(&format!("/api/v1/results?run_id={run}")).await;
    assert_eq!(done["counters"]["ok"], 1, "{done}\n{results}");
    assert!(results.to_string().contains("vault-ok"), "{results}");
    let keys = world.get("/api/v1/ssh-host-keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");

    let payloads: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM chunks")
        .fetch_all(&sqlx::PgPool::connect(world.db.url()).await.unwrap())
        .await
        .unwrap();
    assert!(!payloads.is_empty());
    for payload in &payloads {
        assert!(
            !payload
                .windows(password.len())
                .any(|w| w == password.as_bytes())
        );
    }
    assert!(!results.to_string().contains(&password));
    for process in ["controller", "a1"] {
        let log = world.full_log(process);
        assert!(log.contains("TRACE"), "{process} logged at TRACE");
        assert!(
            !log.contains(&password),
            "the password is in the {process} log"
        );
        assert!(
            !log.contains(world.admin_token()),
            "the API token is in the {process} log"
        );
        assert!(
            !log.contains(world.admin_password()),
            "the admin password is in the {process} log"
        );
    }
}
