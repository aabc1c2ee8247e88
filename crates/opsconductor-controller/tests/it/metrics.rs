//! `GET /metrics`: what an operator's Prometheus scrapes from a controller after it served
//! requests, ran a job and talked gRPC.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{RunningController, TestBroker, controller_config, wait_for};
use crate::rest::Http;
use opsconductor_store::testing::fresh_database;

/// The value of the sample `name{labels}` (labels as rendered, in any order given here).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
}

async fn scrape(http: &Http) -> String {
    let response = http
        .client()
        .get(format!("{}/metrics", http.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_show_requests_runs_and_fleet_by_low_cardinality_labels() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);
    // Public like the health checks: Prometheus scrapes without a token.
    let anonymous = Http::with_token(&controller, None);

    let run = http
        .run_job(json!({
            "name": "metrics ping",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1", "127.0.0.2"]}]},
            "actions": [{"command": "ping.icmp"}],
        }))
        .await;
    assert!(run["id"].is_string(), "{run}");
    for id in [
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002",
    ] {
        let (status, _) = http.get(&format!("/api/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // The gauges are refreshed every 15 s; the counters at once.
    let text = scrape(&anonymous).await;
    assert_eq!(
        sample(&text, "opsconductor_controller_runs_started_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "opsconductor_controller_chunks_created_total", &[]),
        Some(1.0)
    );
    // Route templates, not raw paths: both unknown ids are one series.
    assert_eq!(
        sample(
            &text,
            "opsconductor_controller_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/v1/jobs/{id}"),
                ("status", "404")
            ],
        ),
        Some(2.0),
        "{text}"
    );
    assert!(!text.contains("00000000-0000-0000-0000-000000000001"));
    assert_eq!(
        sample(
            &text,
            "opsconductor_controller_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v1/jobs"),
                ("status", "201")
            ],
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "opsconductor_controller_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", "/api/v1/jobs/{id}/runs")],
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );

    // gRPC: a health check is counted by method and code.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", controller.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    let text = scrape(&anonymous).await;
    assert_eq!(
        sample(
            &text,
            "opsconductor_controller_grpc_requests_total",
            &[("method", "grpc.health.v1.Health/Check"), ("code", "Ok")],
        ),
        Some(1.0),
        "{text}"
    );

    // The store- and queue-backed gauges (refreshed every 15 s): the run waits, its chunk
    // published to the default segment's queue (no agent runs here), which has no agent.
    wait_for(
        "the gauges to show the waiting run",
        std::time::Duration::from_secs(40),
        || async {
            let text = scrape(&anonymous).await;
            sample(&text, "opsconductor_controller_runs_active", &[]) == Some(1.0)
                && sample(&text, "opsconductor_controller_outbox_backlog", &[]) == Some(0.0)
                && sample(
                    &text,
                    "opsconductor_controller_queue_depth",
                    &[("segment", "default")],
                ) == Some(1.0)
                && sample(
                    &text,
                    "opsconductor_controller_agents",
                    &[("segment", "default"), ("state", "online")],
                ) == Some(0.0)
        },
    )
    .await;
    // Every response names its request, the id its log lines carry; a client's own id
    // is kept when it is a plain one and replaced otherwise.
    let response = anonymous
        .client()
        .get(format!("{}/healthz", anonymous.base()))
        .header("x-request-id", "probe-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "probe-42");
    let response = anonymous
        .client()
        .get(format!("{}/api/v1/jobs", anonymous.base()))
        .header("x-request-id", "forged\tid")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a generated UUID: {generated}");

    let text = scrape(&anonymous).await;
    assert!(
        text.contains("# HELP opsconductor_controller_queue_depth "),
        "descriptions are rendered: {text}"
    );
}
