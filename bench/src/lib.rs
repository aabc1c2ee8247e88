//! What the benchmark binaries share.
//!
//! Layout:
//! - this file: signing in to the controller they start. The controller is started with a
//!   first admin (`OPSCONDUCTOR_BOOTSTRAP_ADMIN`) and a random token key; the harness logs
//!   in as that admin and makes an API token, which (unlike a 5-minute access token) lasts
//!   as long as the benchmark;
//! - [`harness`]: the processes measured — fresh database, random queue prefix, release
//!   `opsconductor controller` and one `opsconductor agent` ([`harness::World`]);
//! - [`measure`]: CPU seconds per process, the fping anchor, report helpers.
//!
//! Binaries: `opsconductor-bench` (the pipeline, `src/main.rs`), `opsconductor-bench-scan`
//! (discovery scans, `src/bin/scan.rs`), `opsconductor-bench-rest` (the REST API,
//! `src/bin/rest.rs`).

pub mod harness;
pub mod measure;

use std::time::Duration;

use anyhow::{Context as _, anyhow, ensure};
use serde_json::{Value, json};

/// The first admin the controller creates at start; the harness signs in as it.
pub const ADMIN: &str = "admin";

/// A random token key for a controller that starts once per run.
pub fn random_auth_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A REST client for the harness, sending `token` as bearer with every request when given.
pub fn api_client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the API token is not a header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()?)
}

/// Signs in to the controller at `base` as the first admin and makes an API token: unlike
/// an access token (5 minutes) it lasts as long as the benchmark does.
pub async fn api_token(
    client: &reqwest::Client,
    base: &str,
    password: &str,
    name: &str,
) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": password}))
        .send()
        .await
        .context("POST /api/v1/auth/login")?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "login: {status} {text}");
    let login: Value = serde_json::from_str(&text).context("the login response")?;
    let access = login["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access_token in the login response"))?;
    let response = client
        .post(format!("{base}/api/v1/api-tokens"))
        .bearer_auth(access)
        .json(&json!({"name": name}))
        .send()
        .await
        .context("POST /api/v1/api-tokens")?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(
        status.is_success(),
        "creating an API token: {status} {text}"
    );
    let created: Value = serde_json::from_str(&text).context("the API token response")?;
    created["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no token in the API token response"))
}

/// Runs a benchmark's body on a multi-threaded runtime: success unless the harness itself
/// failed (a missed goal is reported in the table, not as a failure).
pub fn run_benchmark(
    bench: impl std::future::Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark harness failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
