//! The harness: processes, REST helpers and the ledger.

use opsconductor_store::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opsconductor_core::ids::RunId;
use opsconductor_store::PgStore;
use opsconductor_store::testing::{TestDb, fresh_database};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

/// The first admin every controller of a world is started with (created on the first start
/// only: the bootstrap does nothing once there is a user).
const ADMIN: &str = "admin";

/// One scenario's world: a database, a queue prefix, a controller and its agents.
pub struct World {
    pub store: PgStore,
    pub db: TestDb,
    pub prefix: String,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    pub controller: Option<Child>,
    pub agents: BTreeMap<String, Child>,
    /// `OPSCONDUCTOR_LOG` of the processes started from now on.
    pub log_filter: &'static str,
    /// Extra environment of the controller (e.g. the vault key).
    pub controller_env: Vec<(&'static str, String)>,
    /// The segments whose queues are deleted with the world (`a`, `b` and `default`; a
    /// test with segments of its own adds them).
    pub segments: Vec<&'static str>,
    /// The key that signs access tokens: one per world, so every (re)start of its
    /// controller accepts the tokens an earlier one issued.
    auth_key: String,
    /// The first admin's password.
    admin_password: String,
    /// An API token of the first admin (it never expires, unlike an access token, and it
    /// lives in the database, so it outlasts controller restarts); made on the first start.
    admin_token: Option<String>,
    /// Sends `admin_token` with every request once there is one.
    client: reqwest::Client,
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_opsconductor")
}

/// A command for the binary with only the settings we give it.
fn process(log_name: &std::path::Path, log_filter: &str) -> Command {
    without_settings(Command::new(binary()), log_name, log_filter)
}

/// `cmd` without the `OPSCONDUCTOR_*` settings of the test's environment, logging at
/// `log_filter` to `log_name` (for the binary started through a wrapper such as
/// `ip netns exec`).
pub fn without_settings(mut cmd: Command, log_name: &std::path::Path, log_filter: &str) -> Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("OPSCONDUCTOR_") {
            cmd.env_remove(key);
        }
    }
    let log = std::fs::File::create(log_name).unwrap();
    cmd.env("OPSCONDUCTOR_LOG", log_filter)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

impl World {
    pub async fn new() -> Self {
        let (store, db) = fresh_database().await;
        let prefix = format!("oc-e2e-{}", &uuid_hex()[..12]);
        Self {
            store,
            db,
            prefix,
            grpc: free_port(),
            http: free_port(),
            dir: tempfile::tempdir().unwrap(),
            controller: None,
            agents: BTreeMap::new(),
            log_filter: "info,opsconductor=debug",
            controller_env: Vec::new(),
            segments: vec!["a", "b", "default"],
            auth_key: format!("{}{}", uuid_hex(), uuid_hex()),
            admin_password: uuid_hex(),
            admin_token: None,
            client: reqwest::Client::new(),
        }
    }

    /// The first admin's password (the controller got it as its bootstrap password; the
    /// harness logged in with it).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The first admin's API token (`oct_…`), for requests the world's client does not
    /// make (other clients, gRPC metadata, WebSocket headers).
    pub fn admin_token(&self) -> &str {
        self.admin_token
            .as_deref()
            .expect("the admin token is made when the controller first starts")
    }

    /// The world's HTTP client: it sends the admin token with every request.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Logs in as the first admin, makes an API token and has the client send it from now
    /// on. Runs once per world: the token outlives controller restarts.
    async fn sign_in(&mut self) {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": ADMIN, "password": self.admin_password}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let login: Value = r.json().await.unwrap();
        assert!(status.is_success(), "login: {status} {login}");
        let access = login["access_token"].as_str().unwrap();
        let r = self
            .client
            .post(self.url("/api/v1/api-tokens"))
            .bearer_auth(access)
            .json(&json!({"name": "e2e"}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let created: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "creating the API token: {created}");
        let token = created["token"].as_str().unwrap().to_owned();
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        value.set_sensitive(true);
        let headers =
            reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)]);
        self.client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        self.admin_token = Some(token);
    }

    pub fn queue_url() -> String {
        "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()
    }

    /// Starts (or restarts) the controller and waits until its REST API answers; on the
    /// first start, signs in (see [`World::admin_token`]).
    pub async fn start_controller(&mut self) {
        let libraries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries");
        let log = self.dir.path().join("controller.log");
        let child = process(&log, self.log_filter)
            .envs(self.controller_env.iter().map(|(k, v)| (*k, v)))
            .arg("controller")
            .env("OPSCONDUCTOR_DATABASE_URL", self.db.url())
            .env("OPSCONDUCTOR_GRPC_LISTEN", self.grpc.to_string())
            .env("OPSCONDUCTOR_HTTP_LISTEN", self.http.to_string())
            .env("OPSCONDUCTOR_LIBRARIES_DIR", libraries)
            .env("OPSCONDUCTOR_QUEUE__URL", Self::queue_url())
            .env("OPSCONDUCTOR_QUEUE__PREFIX", &self.prefix)
            .env("OPSCONDUCTOR_HEARTBEAT_INTERVAL", "1s")
            .env("OPSCONDUCTOR_RELAY_POLL", "200ms")
            .env("OPSCONDUCTOR_AUTH_KEY", &self.auth_key)
            .env("OPSCONDUCTOR_BOOTSTRAP_ADMIN", ADMIN)
            .env(
                "OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD",
                &self.admin_password,
            )
            .spawn()
            .unwrap();
        self.controller = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                if self.admin_token.is_none() {
                    self.sign_in().await;
                }
                return;
            }
            if let Some(status) = self.controller.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "controller exited with {status}:\n{}",
                    self.log("controller")
                );
            }
            assert!(
                Instant::now() < deadline,
                "controller did not come up:\n{}",
                self.log("controller")
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the controller.
    pub fn kill_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Enrolls and starts an agent named `name` in `segment`.
    pub async fn start_agent(&mut self, name: &str, segment: &str) {
        let token = self
            .post("/api/v1/enrollment-tokens", json!({"segment": segment}))
            .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let identity = self.dir.path().join(format!("{name}.identity.json"));
        let log = self.dir.path().join(format!("{name}.log"));
        let child = process(&log, self.log_filter)
            .arg("agent")
            .env(
                "OPSCONDUCTOR_CONTROLLER_URL",
                format!("http://{}", self.grpc),
            )
            .env("OPSCONDUCTOR_ENROLLMENT_TOKEN", token)
            .env("OPSCONDUCTOR_IDENTITY_FILE", identity)
            .env("OPSCONDUCTOR_NAME", name)
            .env("OPSCONDUCTOR_QUEUE__URL", Self::queue_url())
            .env("OPSCONDUCTOR_QUEUE__PREFIX", &self.prefix)
            .spawn()
            .unwrap();
        self.agents.insert(name.to_owned(), child);
        self.wait_until_online(name).await;
    }

    /// Waits until the agent `name` (started by the world, in `agents`) is online: it has
    /// a session and sent a heartbeat.
    pub async fn wait_until_online(&mut self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let agents = self.get("/api/v1/agents").await;
            if agents
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == name && a["online"] == true)
            {
                return;
            }
            if let Some(status) = self.agents.get_mut(name).unwrap().try_wait().unwrap() {
                panic!("agent {name} exited with {status}:\n{}", self.log(name));
            }
            assert!(
                Instant::now() < deadline,
                "agent {name} did not come online:\n{}",
                self.log(name)
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs an agent.
    pub fn kill_agent(&mut self, name: &str) {
        let mut child = self.agents.remove(name).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// A process's whole log.
    pub fn full_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "PUT {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Segment A = 127.0.0.0/24, B = 127.0.1.0/24.
    pub async fn define_segments(&self) {
        self.put("/api/v1/segments/a", json!({"cidrs": ["127.0.0.0/24"]}))
            .await;
        self.put("/api/v1/segments/b", json!({"cidrs": ["127.0.1.0/24"]}))
            .await;
    }

    /// Creates a job and starts a run of it; returns the run id.
    pub async fn run_job(&self, job: Value) -> RunId {
        let job = self.post("/api/v1/jobs", job).await;
        let run = self
            .post(
                &format!("/api/v1/jobs/{}/runs", job["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        run["id"].as_str().unwrap().parse().unwrap()
    }

    /// Waits until the run is finished; returns its JSON.
    pub async fn wait_for_run(&self, run: RunId, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.get(&format!("/api/v1/runs/{run}")).await;
            let status = r["status"].as_str().unwrap_or_default().to_owned();
            if !matches!(status.as_str(), "queued" | "running") {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} still {status} after {within:?}: {r}\n--- controller\n{}",
                self.log("controller")
            );
            sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asserts the run is still going (so the fault that follows hits it mid-run).
    pub async fn assert_running(&self, run: RunId) {
        let r = self.get(&format!("/api/v1/runs/{run}")).await;
        assert_eq!(
            r["status"], "running",
            "the run ended before the fault: {r}"
        );
    }

    /// Waits until at least `n` results of the run are stored.
    pub async fn wait_for_results(&self, run: RunId, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.store.count_results(run).await.unwrap() < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} results after {within:?}"
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Compares intended (target, action) pairs with the stored results.
    pub async fn ledger(&self, run: RunId, targets: &[String], actions: u32) -> Ledger {
        let intended: BTreeSet<(String, u32)> = targets
            .iter()
            .flat_map(|t| (0..actions).map(move |a| (t.clone(), a)))
            .collect();
        let results = self.store.results_for_run(run).await.unwrap();
        let mut seen = BTreeMap::<(String, u32), u32>::new();
        for r in &results {
            *seen.entry((r.target.clone(), r.action_index)).or_default() += 1;
        }
        let got: BTreeSet<_> = seen.keys().cloned().collect();
        // The key makes two rows per (target, action) impossible; a result stored twice
        // would show as counters running past the rows, so they are compared too.
        let run = self.store.get_run(run).await.unwrap();
        let c = run.counters;
        let counted = c.ok + c.warn + c.failed + c.error + c.timeout;
        Ledger {
            lost: intended.difference(&got).count(),
            duplicated: seen.values().filter(|n| **n > 1).count()
                + usize::try_from(counted.saturating_sub(results.len() as u64)).unwrap(),
            unexpected: got.difference(&intended).count()
                + usize::try_from(c.total.saturating_sub(intended.len() as u64)).unwrap(),
            results,
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for child in self.agents.values_mut().chain(self.controller.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let config = opsconductor_queue::QueueConfig {
            url: Self::queue_url(),
            prefix: self.prefix.clone(),
            ..opsconductor_queue::QueueConfig::default()
        };
        let segments = self.segments.clone();
        // Best effort, on a thread of its own: drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = opsconductor_queue::delete_topology(&config, &segments).await;
                });
            }
        })
        .join();
    }
}

/// What a run left in the store against what it intended.
pub struct Ledger {
    pub lost: usize,
    pub duplicated: usize,
    pub unexpected: usize,
    pub results: Vec<opsconductor_core::model::ResultRecord>,
}

impl Ledger {
    pub fn assert_exact(&self) {
        assert_eq!(
            (self.lost, self.duplicated, self.unexpected),
            (0, 0, 0),
            "lost, duplicated, unexpected"
        );
    }
}

/// A setting of the loopback test servers (`scripts/test-servers.sh` writes them to
/// `.test-servers/env.sh`; the environment wins).
pub fn test_server_setting(key: &str) -> String {
    if let Ok(value) = std::env::var(key) {
        return value;
    }
    let env = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-servers/env.sh");
    let text = std::fs::read_to_string(&env).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches(['"', '\'']).to_owned())
        .unwrap_or_else(|| panic!("{key} is not in {}: start the test servers", env.display()))
}

pub fn uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `127.0.<third>.<1..=last>` as target texts.
pub fn hosts(third: u8, last: u8) -> Vec<String> {
    (1..=last).map(|i| format!("127.0.{third}.{i}")).collect()
}
