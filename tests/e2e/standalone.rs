//! The two-command quickstart: a fresh clone, `make run`, and OpsConductor is up in
//! standalone mode with its example jobs storing results; stopped and started again, it
//! still has its data.
//!
//! The clone builds with the dev profile (`OPSCONDUCTOR_PROFILE=dev`) into this
//! workspace's target directory, so the dependencies compiled for the tests are reused and
//! only the workspace crates are compiled again (the clone is another path).

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Long enough for the clone to compile the workspace crates on 2 cores.
const BUILD_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// The example jobs run once at first start; their results land within seconds.
const RESULTS_DEADLINE: Duration = Duration::from_secs(60);

/// `make run` in its own process group, its standard output read line by line.
struct Quickstart {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Quickstart {
    fn start(repo: &Path, http: SocketAddr, grpc: SocketAddr, log: &Path) -> Self {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new("make")
            .arg("run")
            .current_dir(repo)
            .env("OPSCONDUCTOR_PROFILE", "dev")
            .env("CARGO_TARGET_DIR", target)
            .env("OPSCONDUCTOR_HTTP_LISTEN", http.to_string())
            .env("OPSCONDUCTOR_GRPC_LISTEN", grpc.to_string())
            .env("OPSCONDUCTOR_LOG", "info")
            .env_remove("OPSCONDUCTOR_DATABASE_URL")
            .env_remove("OPSCONDUCTOR_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: log.to_owned(),
        }
    }

    /// Standard output up to the line saying where it runs.
    fn wait_until_running(&mut self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_secs(1))) {
                Ok(line) => {
                    let running = line.contains("is running at");
                    seen.push(line);
                    if running {
                        // The lines after it arrive in the same write.
                        std::thread::sleep(Duration::from_millis(200));
                        seen.extend(self.lines.try_iter());
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("make run ended: {:?}\n{}", self.child.wait(), self.stderr());
                }
            }
            assert!(
                Instant::now() < deadline,
                "make run did not start within {within:?}:\n{}",
                self.stderr()
            );
        }
    }

    /// SIGTERM to the `opsconductor` process `make run` started (what a service manager or
    /// `kill` sends); it must stop by itself, successfully, and `make` with it.
    fn stop(mut self) {
        let pid = descendant_named(self.child.id(), "opsconductor")
            .unwrap_or_else(|| panic!("no opsconductor process under make:\n{}", self.stderr()));
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "make run ended with {status} after SIGTERM:\n{}",
                    self.stderr()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "make run did not stop within 30 s of SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stderr(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
    }
}

/// The first process named `name` below `pid` (breadth first), from `/proc`.
fn descendant_named(pid: u32, name: &str) -> Option<u32> {
    let mut queue = std::collections::VecDeque::from([pid]);
    while let Some(parent) = queue.pop_front() {
        let children =
            std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if comm.trim() == name {
                return Some(child);
            }
            queue.push_back(child);
        }
    }
    None
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn sign_in(client: &reqwest::Client, base: &str, password: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "login: {}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(client: &reqwest::Client, token: &str, url: &str) -> Value {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// `make run` built the web UI into the binary: a client-side route gets the page, and the
/// script it loads is there.
async fn web_ui_is_served(client: &reqwest::Client, base: &str) {
    let page = client.get(format!("{base}/jobs/new")).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK, "GET /jobs/new");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers()
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<div id="root">"#),
        "the web UI's page, not a placeholder: {html}"
    );
    let script = html
        .split(r#"src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|src| src.starts_with("/assets/"))
        .unwrap_or_else(|| panic!("no /assets/ script in {html}"));
    let asset = client.get(format!("{base}{script}")).send().await.unwrap();
    assert_eq!(asset.status(), reqwest::StatusCode::OK, "GET {script}");
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.bytes().await.unwrap().len() > 10_000,
        "{script} is the bundle"
    );
}

/// The example ping job and its stored results.
async fn ping_results(client: &reqwest::Client, token: &str, base: &str) -> (String, Vec<Value>) {
    let jobs = get(client, token, &format!("{base}/api/v1/jobs?limit=100")).await;
    let ping = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "Example: ping 127.0.0.1/30")
        .unwrap_or_else(|| panic!("no example ping job in {jobs}"));
    let id = ping["id"].as_str().unwrap().to_owned();
    let results = get(
        client,
        token,
        &format!("{base}/api/v1/results?job_id={id}&limit=100"),
    )
    .await;
    (id, results["items"].as_array().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_clone_runs_with_make_run_and_keeps_its_data_across_a_restart() {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("opsconductor");
    let status = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(&repo_root)
        .arg(&clone)
        .status()
        .unwrap();
    assert!(status.success(), "git clone");
    let (http, grpc) = (free_port(), free_port());
    let base = format!("http://{http}");
    let log = dir.path().join("make-run.log");
    let client = reqwest::Client::new();

    // First start: builds, creates the admin and the example jobs, runs them.
    let mut first = Quickstart::start(&clone, http, grpc, &log);
    let out = first.wait_until_running(BUILD_DEADLINE);
    assert!(
        out.iter().any(|l| l.contains(&base)),
        "the printed URL is the configured one: {out:?}"
    );
    let password = out
        .iter()
        .find_map(|l| {
            l.split("created with password ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no generated password printed: {out:?}"))
        .to_owned();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "healthz: {}", health.status());
    web_ui_is_served(&client, &base).await;
    assert!(
        clone.join("data").is_dir(),
        "the data directory defaults to ./data"
    );
    let token = sign_in(&client, &base, &password).await;
    let deadline = Instant::now() + RESULTS_DEADLINE;
    let (ping_job, before) = loop {
        let (job, results) = ping_results(&client, &token, &base).await;
        let ok: Vec<&Value> = results.iter().filter(|r| r["status"] == "ok").collect();
        if ok.len() >= 2 {
            let targets: Vec<&str> = ok.iter().filter_map(|r| r["target"].as_str()).collect();
            assert!(
                targets.contains(&"127.0.0.1") && targets.contains(&"127.0.0.2"),
                "the ping example covers 127.0.0.1/30's hosts: {targets:?}"
            );
            break (job, results);
        }
        assert!(
            Instant::now() < deadline,
            "the example ping job stored no ok results within {RESULTS_DEADLINE:?}: {results:?}\n{}",
            first.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    first.stop();

    // Second start: nothing is created again, the same password signs in, the results
    // and jobs of the first start are there.
    let mut second = Quickstart::start(&clone, http, grpc, &log);
    let out = second.wait_until_running(Duration::from_secs(120));
    assert!(
        !out.iter().any(|l| l.contains("first start")),
        "a restart is not a first start: {out:?}"
    );
    let token = sign_in(&client, &base, &password).await;
    let (job_again, after) = ping_results(&client, &token, &base).await;
    assert_eq!(job_again, ping_job, "the example job kept its id");
    let key = |r: &Value| {
        (
            r["run_id"].clone(),
            r["target"].clone(),
            r["action_index"].clone(),
        )
    };
    for result in &before {
        assert!(
            after
                .iter()
                .any(|r| key(r) == key(result) && r["status"] == result["status"]),
            "result {result} survived the restart"
        );
    }
    let jobs = get(&client, &token, &format!("{base}/api/v1/jobs?limit=100")).await;
    let examples = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Example: "))
        })
        .count();
    assert_eq!(examples, 3, "the example jobs exist once: {jobs}");
    second.stop();
}
