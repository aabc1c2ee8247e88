//! Shared test helpers: where the loopback test servers are and how to reach them.

#![allow(dead_code, reason = "each test module uses a different subset")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `KEY=VALUE` settings written by `scripts/test-servers.sh start` (the environment wins).
pub fn server_env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = std::env::var("OC_TEST_SERVERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".test-servers"));
        let mut map = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(dir.join("env.sh")) {
            for line in text.lines() {
                let line = line.trim().trim_start_matches("export ").trim();
                if let Some((k, v)) = line.split_once('=') {
                    map.insert(k.to_owned(), v.trim_matches(['"', '\'']).to_owned());
                }
            }
        }
        for (k, v) in std::env::vars() {
            if k.starts_with("OC_TEST_") {
                map.insert(k, v);
            }
        }
        map
    })
}

/// A setting the test servers script provides; panics with the fix when it is missing.
pub fn setting(key: &str) -> String {
    server_env().get(key).cloned().unwrap_or_else(|| {
        panic!("{key} is not set: run `scripts/test-servers.sh start` (make test does) first")
    })
}
