//! `occtl` run as a user runs it, against a real controller (port 0, a fresh PostgreSQL
//! database, a private slice of the local RabbitMQ). No agent runs, so runs stay queued
//! until a test cancels them; cancelled targets become `error` results, which is what the
//! results commands read back.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use opsconductor_store::prelude::*;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use opsconductor_controller::auth::mint_api_token;
use opsconductor_controller::vault::InlineKey;
use opsconductor_controller::{Controller, ControllerConfig};
use opsconductor_core::access::Role;
use opsconductor_core::ids::JobId;
use opsconductor_core::inventory::GroupSpec;
use opsconductor_core::model::{DEFAULT_SEGMENT, RunStatus};
use opsconductor_queue::{QueueConfig, delete_topology};
use opsconductor_store::PgStore;
use opsconductor_store::testing::{TestDb, fresh_database};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous bound for what should take a few seconds.
const WAIT: Duration = Duration::from_secs(30);

/// One test's queue names on the real broker, deleted on drop.
struct TestBroker {
    config: QueueConfig,
}

impl TestBroker {
    fn new() -> Self {
        let url = std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        Self {
            config: QueueConfig {
                url,
                prefix: format!("oct-occtl-{}", uuid::Uuid::new_v4().simple()),
                connect_timeout: Duration::from_secs(5),
                ..QueueConfig::default()
            },
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(delete_topology(&config, &[DEFAULT_SEGMENT]))
        })
        .join();
    }
}

/// A controller serving in the background, and a scratch directory for job files.
struct App {
    server: String,
    /// An admin API token, sent by [`App::command`].
    token: String,
    store: PgStore,
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    _db: TestDb,
    _broker: TestBroker,
}

impl App {
    async fn start() -> Self {
        let (store, db) = fresh_database().await;
        let broker = TestBroker::new();
        let config = ControllerConfig {
            database_url: db.url().to_owned(),
            database_max_connections: 6,
            grpc_listen: "127.0.0.1:0".parse().unwrap(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            libraries_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"),
            queue: broker.config.clone(),
            bootstrap_admin: Some("admin".to_owned()),
            bootstrap_admin_password: Some(InlineKey::new("a password for occtl tests")),
            ..ControllerConfig::default()
        };
        let controller = Controller::build(config).await.unwrap();
        let token = token_for(&store, "admin", Role::Admin).await;
        let server = format!("http://{}", controller.grpc_addr());
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(controller.run_until_stopped(shutdown.clone()));
        Self {
            server,
            token,
            store,
            dir: tempfile::tempdir().unwrap(),
            shutdown,
            handle,
            _db: db,
            _broker: broker,
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_occtl"));
        cmd.arg("--server")
            .arg(&self.server)
            .args(args)
            .env_remove("OCCTL_SERVER")
            .env("OCCTL_TOKEN", &self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs occtl to the end.
    async fn occtl(&self, args: &[&str]) -> Output {
        tokio::time::timeout(WAIT, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("occtl {args:?} ends in time"))
            .unwrap()
    }

    /// Runs occtl, asserting it succeeds; its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.occtl(args).await;
        assert!(
            out.status.success(),
            "occtl {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs occtl with `--output json`, asserting it succeeds; its stdout as JSON.
    async fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = ["--output", "json"].iter().chain(args).copied().collect();
        let out = self.ok(&args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Writes `value` as a file in the scratch directory; its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("controller stops in time")
            .expect("controller task does not panic")
            .expect("controller stops cleanly");
    }
}

/// A new API token of `role` for `username`.
async fn token_for(store: &PgStore, username: &str, role: Role) -> String {
    let (user, _) = store.user_for_login(username).await.unwrap().unwrap();
    let name = uuid::Uuid::new_v4().to_string();
    mint_api_token(store, user.id, &name, role, None)
        .await
        .unwrap()
        .1
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A manual job pinging 127.0.0.1.
fn job(name: &str) -> Value {
    json!({
        "name": name,
        "tags": ["cli"],
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 2}}],
    })
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after [`WAIT`].
async fn wait_for<F, Fut, T>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn id_in(line: &str, after: &str) -> String {
    line.split(after)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id after {after:?} in {line:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occtl_creates_lists_shows_and_deletes_jobs() {
    let app = App::start().await;

    let file = app.file("ping.json", &job("ping loopback").to_string());
    let out = app.ok(&["jobs", "create", "-f", &file]).await;
    assert!(out.starts_with("created job "), "{out}");
    assert!(out.contains("\"ping loopback\" (version 1)"), "{out}");
    let id = id_in(&out, "created job ");

    let other = app.file("other.json", &job("another ping").to_string());
    let created = app.json(&["jobs", "create", "-f", &other]).await;
    assert_eq!(created["name"], "another ping");
    assert_eq!(created["version"], 1);
    assert_eq!(created["spec"]["actions"][0]["params"]["count"], 2);

    let table = app.ok(&["jobs", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[0].contains("NAME") && lines[0].contains("LAST RUN"));
    assert!(lines[1].contains("another ping") && lines[1].contains("manual"));
    assert!(lines[2].starts_with(&id) && lines[2].contains("ping loopback"));

    let listed = app.json(&["jobs", "list", "--text", "loopback"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["last_run"], Value::Null);
    assert_eq!(app.json(&["jobs", "list", "--disabled"]).await, json!([]));

    let shown = app.ok(&["jobs", "show", &id]).await;
    assert!(shown.contains("name:     ping loopback"), "{shown}");
    assert!(shown.contains("schedule: manual"), "{shown}");
    assert!(shown.contains("\"command\": \"ping.icmp\""), "{shown}");
    let shown = app.json(&["jobs", "show", &id]).await;
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["tags"], json!(["cli"]));

    // The server's refusals are printed as they are, with a failing exit status.
    let mut bad = job("bad");
    bad["actions"][0]["params"]["count"] = json!(0);
    let bad_file = app.file("bad.json", &bad.to_string());
    let out = app.occtl(&["jobs", "create", "-f", &bad_file]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("actions[0].params.count"),
        "{}",
        text(&out.stderr)
    );
    let out = app.occtl(&["jobs", "create", "-f", &file]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    let out = app
        .occtl(&["jobs", "delete", &id, "--expected-version", "7"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("version"),
        "{}",
        text(&out.stderr)
    );

    let out = app.ok(&["jobs", "delete", &id]).await;
    assert_eq!(out.trim(), format!("deleted job {id}"));
    let out = app.occtl(&["jobs", "show", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    let out = app.occtl(&["jobs", "show", "not-an-id"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a UUID"),
        "{}",
        text(&out.stderr)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occtl_runs_a_job_watches_it_to_the_end_and_reads_its_results() {
    let app = App::start().await;
    let file = app.file("ping.json", &job("watched").to_string());
    let job_id = app.json(&["jobs", "create", "-f", &file]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A plain run: started, shown, cancelled.
    let out = app.ok(&["run", &job_id]).await;
    assert!(out.starts_with("started run "), "{out}");
    assert!(out.contains("(1 expected results)"), "{out}");
    let first_run = id_in(&out, "started run ");
    let shown = app.ok(&["runs", "show", &first_run]).await;
    assert!(shown.contains("status:   queued"), "{shown}");
    assert!(shown.contains("0/1 done"), "{shown}");
    let cancelled = app
        .json(&["runs", "cancel", &first_run, "--reason", "first is enough"])
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["reason"], "first is enough");

    // --watch with JSON: one object per line until the run ends.
    let mut child = app
        .command(&["--output", "json", "run", &job_id, "--watch"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("first progress line in time")
        .unwrap()
        .expect("a progress line");
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["status"], "queued");
    assert_eq!(first["counters"]["total"], 1);
    let watched_run = first["id"].as_str().unwrap().to_owned();
    app.ok(&["runs", "cancel", &watched_run, "--reason", "seen enough"])
        .await;
    let mut last = first;
    while let Some(line) = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the watch ends in time")
        .unwrap()
    {
        last = serde_json::from_str(&line).unwrap();
    }
    assert_eq!(last["status"], "cancelled");
    assert_eq!(last["counters"]["error"], 1);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(1), "a cancelled run is not a success");

    // --watch for people: progress lines on stderr, the end on stdout.
    let mut child = app.command(&["run", &job_id, "--watch"]).spawn().unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, progress.next_line())
        .await
        .expect("first progress line in time")
        .unwrap()
        .expect("a progress line");
    assert!(
        first.starts_with("queued     [------------------------] 0/1 done  ok 0"),
        "{first}"
    );
    let job: JobId = job_id.parse().unwrap();
    let store = app.store.clone();
    let third_run = wait_for("the third run", || {
        let store = store.clone();
        async move {
            let runs = store.runs_of_job(job).await.unwrap();
            runs.into_iter()
                .find(|r| r.status == RunStatus::Queued)
                .map(|r| r.id.to_string())
        }
    })
    .await;
    app.ok(&["runs", "cancel", &third_run]).await;
    let mut last_progress = first;
    while let Some(line) = tokio::time::timeout(WAIT, progress.next_line())
        .await
        .expect("the watch ends in time")
        .unwrap()
    {
        last_progress = line;
    }
    assert!(
        last_progress.starts_with("cancelled  [########################] 1/1 done"),
        "{last_progress}"
    );
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the watch ends in time")
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!(
            "run {third_run} cancelled: 1/1 done  ok 0  warn 0  fail 0  error 1  timeout 0 \
             (cancelled by a user)"
        )
    );

    // Results of one run, as a table, JSON and CSV.
    let table = app.ok(&["results", "--run", &watched_run]).await;
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].starts_with("STARTED") && rows[0].contains("TARGET"));
    assert!(
        rows[1].contains("127.0.0.1") && rows[1].contains("error"),
        "{table}"
    );
    assert!(rows[1].contains("run cancelled: seen enough"), "{table}");
    let results = app.json(&["results", "--run", &watched_run]).await;
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    assert_eq!(results[0]["status"], "error");
    assert_eq!(results[0]["target"], "127.0.0.1");
    assert_eq!(results[0]["job_id"], job_id.as_str());
    let csv = app
        .ok(&["results", "--run", &watched_run, "--format", "csv"])
        .await;
    let records: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(records.len(), 2, "{csv}");
    assert!(records[0].starts_with("run_id,job_id,target,action_index,status"));
    assert!(records[1].starts_with(&format!("{watched_run},{job_id},127.0.0.1,0,error,")));

    // Results of the job: all three runs, filtered by status and capped by --limit.
    let all = app.json(&["results", "--job", &job_id]).await;
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let ok = app
        .json(&["results", "--job", &job_id, "--status", "ok"])
        .await;
    assert_eq!(ok, json!([]));
    let capped = app
        .json(&["results", "--job", &job_id, "--limit", "2"])
        .await;
    assert_eq!(capped.as_array().unwrap().len(), 2);
    let out = app
        .occtl(&["results", "--job", &job_id, "--from", "yesterday"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--from"),
        "{}",
        text(&out.stderr)
    );

    let listed = app.json(&["jobs", "list"]).await;
    assert_eq!(listed[0]["last_run"]["id"], third_run.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occtl_validates_previews_and_parses_with_the_controllers_libraries() {
    let app = App::start().await;

    let good = app.file("good.json", &job("good").to_string());
    let out = app.ok(&["library", "validate", &good]).await;
    assert_eq!(out.trim(), format!("{good}: valid"));
    let mut bad = job("");
    bad["actions"][0]["params"]["count"] = json!(0);
    let bad = app.file("bad.json", &bad.to_string());
    let out = app.occtl(&["library", "validate", &bad]).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{bad}: 2 problems")),
        "{stdout}"
    );
    assert!(stdout.contains("  name: "), "{stdout}");
    assert!(stdout.contains("  actions[0].params.count: "), "{stdout}");
    let out = app
        .occtl(&["--output", "json", "library", "validate", &bad])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["errors"].as_array().unwrap().len(), 2);
    let broken = app.file("broken.json", "{\"name\": ");
    let out = app.occtl(&["library", "validate", &broken]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("1 problem\n"),
        "{}",
        text(&out.stdout)
    );
    // Validation stores nothing.
    assert_eq!(app.json(&["jobs", "list"]).await, json!([]));

    let out = app
        .ok(&[
            "library",
            "preview",
            "ping.icmp",
            "--param",
            "count=5",
            "-p",
            "family=ipv4",
            "--target",
            "192.0.2.1",
        ])
        .await;
    assert!(out.starts_with("ping -4 -c 5 "), "{out}");
    assert!(out.trim_end().ends_with(" 192.0.2.1"), "{out}");
    let preview = app.json(&["library", "preview", "ping.icmp"]).await;
    assert_eq!(preview["kind"], "ping");
    assert_eq!(preview["params"]["count"], 3);
    assert!(preview["text"].as_str().unwrap().ends_with("{{ target }}"));
    let out = app
        .occtl(&["library", "preview", "ping.icmp", "--param", "count=many"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("count"), "{}", text(&out.stderr));

    let sample = app.file(
        "ping.txt",
        "3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n\
         rtt min/avg/max/mdev = 0.030/0.042/0.055/0.010 ms\n",
    );
    let out = app
        .ok(&["library", "parse", "ping.stats", "--sample", &sample])
        .await;
    assert!(out.starts_with("fields:\n"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("sent") && l.trim_end().ends_with(" 3")),
        "{out}"
    );
    let parsed = app
        .json(&["library", "parse", "ping.stats", "--sample", &sample])
        .await;
    assert_eq!(parsed["fields"]["received"], 3);
    assert_eq!(parsed["fields"]["rtt_avg_ms"], 0.042);
    assert_eq!(parsed["errors"], json!([]));
    let definition = app.file(
        "kv.json",
        &json!({
            "id": "test.load", "name": "load",
            "extract": {"type": "regex", "pattern": "load=(?P<load>[0-9.]+)", "mode": "first"},
            "fields": {"load": {"from": "load", "type": "float"}}
        })
        .to_string(),
    );
    let load = app.file("load.txt", "cpu load=0.75\n");
    let parsed = app
        .json(&[
            "library",
            "parse",
            "--definition",
            &definition,
            "--sample",
            &load,
        ])
        .await;
    assert_eq!(parsed["fields"]["load"], 0.75);
    let out = app
        .occtl(&["library", "parse", "nope.parser", "--sample", &sample])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nope.parser"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(app.ok(&["agents", "list"]).await.trim(), "no agents");
    assert_eq!(app.json(&["agents", "list"]).await, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn occtl_says_which_server_it_cannot_reach() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_occtl"))
            .env("OCCTL_SERVER", &server)
            .args(["jobs", "list"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the controller at {server}")),
        "{stderr}"
    );
    // Usage errors are clap's, with its exit status.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_occtl"))
        .args(["results"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn occtl_needs_a_token_and_is_held_to_its_role() {
    let app = App::start().await;
    // No token: the controller's refusal, and how to fix it.
    let out = app
        .command(&["jobs", "list"])
        .env_remove("OCCTL_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--token or OCCTL_TOKEN"), "{stderr}");

    // A viewer lists but does not create.
    app.store
        .create_user(
            opsconductor_core::ids::UserId::new(),
            "viewer",
            "",
            Role::Viewer,
            "not used: the token is minted directly",
        )
        .await
        .unwrap();
    let viewer = token_for(&app.store, "viewer", Role::Viewer).await;
    let listed = app
        .command(&["jobs", "list"])
        .env("OCCTL_TOKEN", &viewer)
        .output()
        .await
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let file = app.file("job.json", &job("from a viewer").to_string());
    let out = app
        .command(&["jobs", "create", "-f", &file])
        .env("OCCTL_TOKEN", &viewer)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("operator"), "{stderr}");
    app.stop().await;
}

/// Three good devices and one bad line (line 5).
const INVENTORY_CSV: &str = "\
address,hostname,vendor,tags
10.0.0.1,core-sw1,Cisco,core
10.0.0.2,edge-1,Juniper,edge
2001:DB8::1,v6-host,,core;v6
10.0.0.300,broken,,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occtl_imports_lists_shows_and_tags_devices_and_resolves_groups() {
    let app = App::start().await;

    // A dry run reports the bad line, writes nothing and fails the exit status.
    let csv = app.file("inventory.csv", INVENTORY_CSV);
    let out = app.occtl(&["devices", "import", &csv, "--dry-run"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected line fails the import"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "checked {csv} (dry run, nothing written): 1 rejected\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("  line 5, address: "), "{stdout}");
    assert_eq!(app.ok(&["devices", "list"]).await.trim(), "no devices");

    let out = app.occtl(&["devices", "import", &csv]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with(&format!("imported {csv}: 3 created, 0 updated, 1 rejected")),
        "{}",
        text(&out.stdout)
    );
    let json_file = app.file(
        "notes.json",
        &json!([{"address": "10.0.0.2", "notes": "rack 4"}]).to_string(),
    );
    let report = app.json(&["devices", "import", &json_file]).await;
    assert_eq!(report["updated"], 1);
    assert_eq!(report["problems"], json!([]));
    let unknown = app.file("inventory.txt", INVENTORY_CSV);
    let out = app.occtl(&["devices", "import", &unknown]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--format csv"),
        "{}",
        text(&out.stderr)
    );

    // The table, with `-o table` after the subcommand.
    let table = app.ok(&["devices", "list", "-o", "table"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("ADDRESS") && lines[0].contains("HOSTNAME  VENDOR"),
        "{table}"
    );
    assert!(lines[1].starts_with("10.0.0.1 "), "{table}");
    assert!(
        lines[1].contains("core-sw1") && lines[1].contains("Cisco"),
        "{table}"
    );
    assert!(lines[3].starts_with("2001:db8::1 "), "{table}");
    assert!(lines[3].contains("core,v6"), "{table}");

    // JSON, filtered.
    let out = app
        .ok(&[
            "devices",
            "list",
            "--filter",
            "vendor = \"Cisco\"",
            "-o",
            "json",
        ])
        .await;
    let cisco: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cisco.as_array().unwrap().len(), 1, "{cisco}");
    assert_eq!(cisco[0]["address"], "10.0.0.1");
    assert_eq!(cisco[0]["attributes"]["vendor"], "Cisco");
    assert_eq!(cisco[0]["tags"], json!(["core"]));
    assert!(cisco[0]["first_seen"].is_string());
    let core = app.json(&["devices", "list", "--tag", "core"]).await;
    let addresses: Vec<&str> = core
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["10.0.0.1", "2001:db8::1"]);
    let searched = app.json(&["devices", "list", "--search", "edge"]).await;
    assert_eq!(searched[0]["address"], "10.0.0.2");
    assert_eq!(searched[0]["notes"], "rack 4");
    let capped = app.json(&["devices", "list", "--limit", "2"]).await;
    assert_eq!(capped.as_array().unwrap().len(), 2);
    let out = app
        .occtl(&["devices", "list", "--filter", "vendor = "])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("filter"),
        "{}",
        text(&out.stderr)
    );

    let shown = app.ok(&["devices", "show", "2001:DB8::1"]).await;
    assert!(shown.starts_with("address:    2001:db8::1\n"), "{shown}");
    assert!(shown.contains("hostname:   v6-host\n"), "{shown}");
    assert!(shown.contains("tags:       core, v6\n"), "{shown}");
    let shown = app.ok(&["devices", "show", "10.0.0.1"]).await;
    assert!(shown.contains("attributes:\n  vendor  Cisco\n"), "{shown}");
    let out = app.occtl(&["devices", "show", "10.9.9.9"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );

    let out = app
        .ok(&[
            "devices", "tag", "10.0.0.1", "10.0.0.9", "--add", "lab", "--remove", "core",
        ])
        .await;
    assert_eq!(out.trim(), "tagged 1 of 2 devices (1 not in the inventory)");
    let tagged = app.json(&["devices", "show", "10.0.0.1"]).await;
    assert_eq!(tagged["tags"], json!(["lab"]));

    // Groups (made in the store: occtl only reads them).
    for spec in [
        json!({"name": "lab", "description": "lab gear", "filter": "tag = lab"}),
        json!({"name": "pair", "members": ["192.0.2.10", "192.0.2.11"]}),
    ] {
        let spec: GroupSpec = serde_json::from_value(spec).unwrap();
        app.store.create_group(&spec).await.unwrap();
    }
    let table = app.ok(&["groups", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("NAME  KIND     MEMBERS"), "{table}");
    assert!(
        lines[1].starts_with("lab   dynamic  1        tag = lab"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("pair  static   2        192.0.2.10, 192.0.2.11"),
        "{table}"
    );
    let groups = app.json(&["groups", "list"]).await;
    assert_eq!(groups[0]["kind"], "dynamic");
    assert_eq!(groups[1]["members"], json!(["192.0.2.10", "192.0.2.11"]));
    let out = app.occtl(&["groups", "members", "lab"]).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "10.0.0.1\n");
    assert_eq!(text(&out.stderr).trim(), "lab: 1 targets");
    let out = app
        .occtl(&["groups", "members", "pair", "--limit", "1"])
        .await;
    assert_eq!(text(&out.stdout), "192.0.2.10\n");
    assert!(
        text(&out.stderr).contains("2 targets, the first 1 listed"),
        "{}",
        text(&out.stderr)
    );
    let pair = app.json(&["groups", "members", "pair"]).await;
    assert_eq!(
        pair,
        json!({"name": "pair", "count": 2, "members": ["192.0.2.10", "192.0.2.11"]})
    );
    let out = app.occtl(&["groups", "members", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occtl_starts_a_scan_waits_for_its_end_and_reads_it_back() {
    let app = App::start().await;

    // The controller's refusal names the field of the request the options made.
    let out = app
        .occtl(&["scan", "start", "192.0.2.0/30", "--port", "0"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("profile.tcp_ports[0]"),
        "{}",
        text(&out.stderr)
    );

    // --wait: the id first, progress on stderr, the end on stdout. No agent runs, so the
    // scan only ends when it is cancelled.
    let mut child = app
        .command(&[
            "scan",
            "start",
            "192.0.2.0/30",
            "--port",
            "22",
            "--name",
            "cli sweep",
            "--wait",
        ])
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut progress = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = tokio::time::timeout(WAIT, stdout.next_line())
        .await
        .expect("the start line in time")
        .unwrap()
        .expect("a start line");
    assert!(started.starts_with("started scan "), "{started}");
    assert!(started.contains("\"cli sweep\""), "{started}");
    let id = id_in(&started, "started scan ");
    let first = tokio::time::timeout(WAIT, progress.next_line())
        .await
        .expect("the first progress line in time")
        .unwrap()
        .expect("a progress line");
    assert!(
        first.starts_with("running    [------------------------] 0/"),
        "{first}"
    );
    assert!(first.ends_with("probed  alive 0  identified 0"), "{first}");

    let shown = app.ok(&["scan", "show", &id]).await;
    assert!(shown.contains("state:    running\n"), "{shown}");
    assert!(shown.contains("\"tcp_ports\": [\n"), "{shown}");
    let out = app.occtl(&["scan", "diff", &id]).await;
    assert_eq!(out.status.code(), Some(1), "no diff while it runs");
    assert!(
        text(&out.stderr).contains("running"),
        "{}",
        text(&out.stderr)
    );

    let cancelled = app.json(&["scan", "cancel", &id]).await;
    assert_eq!(cancelled["id"], id.as_str());
    let mut last_progress = first;
    while let Some(line) = tokio::time::timeout(WAIT, progress.next_line())
        .await
        .expect("the wait ends in time")
        .unwrap()
    {
        last_progress = line;
    }
    assert!(
        last_progress.starts_with("cancelled  [########################]"),
        "{last_progress}"
    );
    let end = tokio::time::timeout(WAIT, stdout.next_line())
        .await
        .expect("the end line in time")
        .unwrap()
        .expect("an end line");
    assert!(
        end.starts_with(&format!("scan {id} cancelled: probed ")),
        "{end}"
    );
    assert!(end.ends_with("(scan cancelled by a user)"), "{end}");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(1), "a cancelled scan is not a success");

    // Read back: the list, the scan, its diff.
    let table = app.ok(&["scan", "list"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("cli sweep"),
        "{table}"
    );
    assert!(lines[1].contains("cancelled"), "{table}");
    let scans = app.json(&["scans", "list"]).await;
    assert_eq!(scans[0]["state"], "cancelled");
    assert_eq!(scans[0]["spec"]["profile"]["tcp_ports"], json!([22]));
    let diff = app.ok(&["scan", "diff", &id]).await;
    assert!(
        diff.starts_with(&format!("scan {id}: the first of its range")),
        "{diff}"
    );
    assert!(
        diff.contains("new: 0\n") && diff.ends_with("gone: 0\n"),
        "{diff}"
    );
    let diff = app.json(&["scan", "diff", &id]).await;
    assert_eq!(diff["new"], json!([]));
    let out = app.occtl(&["scan", "cancel", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already"),
        "{}",
        text(&out.stderr)
    );

    // Without --wait: started and left running; JSON for scripts.
    let started = app
        .json(&[
            "scan",
            "start",
            "192.0.2.8/30",
            "--no-ping",
            "--ssh-port",
            "22",
        ])
        .await;
    assert_eq!(started["state"], "running");
    assert_eq!(started["spec"]["profile"]["ping"], false);
    let id = started["id"].as_str().unwrap().to_owned();
    app.ok(&["scan", "cancel", &id]).await;
    app.stop().await;
}
