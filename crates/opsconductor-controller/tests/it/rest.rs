//! The REST API end to end over HTTP against a real controller: every route answers what
//! it documents, bad input gets a precise problem and changes nothing, ETags stop lost
//! updates, pages and exports hold every result once, and the served OpenAPI document is
//! the committed `docs/openapi.json`.

use opsconductor_store::prelude::*;
use std::collections::HashSet;

use chrono::{Duration, Utc};
use opsconductor_core::ids::{ChunkId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use opsconductor_store::testing::fresh_database;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RunningController, TestBroker, controller_config};

pub(crate) struct Http {
    client: Client,
    base: String,
}

impl Http {
    /// A client acting as the controller's admin.
    pub(crate) fn new(controller: &RunningController) -> Self {
        Self::with_token(controller, Some(&controller.admin_token))
    }

    /// A client sending `token` (none: anonymous).
    pub(crate) fn with_token(controller: &RunningController, token: Option<&str>) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        Self {
            client: Client::builder().default_headers(headers).build().unwrap(),
            base: format!("http://{}", controller.http),
        }
    }

    /// Creates `job` and starts a run of it; returns the run.
    pub(crate) async fn run_job(&self, job: Value) -> Value {
        let (status, job) = self.post("/api/v1/jobs", job).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let path = format!("/api/v1/jobs/{}/runs", job["id"].as_str().unwrap());
        let (status, run) = self.post(&path, json!({})).await;
        assert!(status.is_success(), "{run}");
        run
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, value)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::GET, path, None).await;
        (status, body)
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::POST, path, Some(body)).await;
        (status, body)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (StatusCode, String, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, content_type, value)
    }
}

fn ping_job(name: &str) -> Value {
    json!({
        "name": name,
        "tags": ["core"],
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "range", "value": "127.0.0.0/30"}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 2}}],
    })
}

/// The field names of a problem's errors.
pub(crate) fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn jobs_crud_with_etags_bulk_and_bad_input() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);

    // Create, read with its ETag.
    let (status, created) = http.post("/api/v1/jobs", ping_job("core ping")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["version"], 1);
    let (status, headers, job) = http
        .call(Method::GET, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(job["actions"][0]["params"]["count"], 2);

    // Schema violations name the field and store nothing.
    let mut bad = ping_job("bad");
    bad["actions"][0]["params"]["count"] = json!(1000);
    bad["schedule"] = json!({"type": "cron", "expression": "61 * * * *"});
    bad["targets"] = json!({"include": [{"type": "range", "value": "10.0.0.0/33"}]});
    let (status, problem) = http.post("/api/v1/jobs", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    for field in [
        "actions[0].params.count",
        "schedule.expression",
        "targets.include[0].value",
    ] {
        assert!(
            named.iter().any(|f| f == field),
            "{field} missing in {named:?}"
        );
    }
    let mut wrong_type = ping_job("wrong type");
    wrong_type["actions"][0]["timeout_ms"] = json!("soon");
    let (status, problem) = http.post("/api/v1/jobs", wrong_type).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["actions[0].timeout_ms"]);
    let (status, ctype, problem) = http
        .raw(
            Method::POST,
            "/api/v1/jobs",
            "application/json",
            b"{\"name\": ",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(ctype, "application/problem+json");
    assert!(
        problem["detail"].as_str().unwrap().contains("EOF"),
        "{problem}"
    );
    let (status, _, _) = http
        .raw(Method::POST, "/api/v1/jobs", "text/plain", b"{}")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = vec![b' '; 17 * 1024 * 1024];
    let (status, ctype, _) = http
        .raw(Method::POST, "/api/v1/jobs", "application/json", &huge)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ctype, "application/problem+json");
    let (status, _) = http.post("/api/v1/jobs", ping_job("core ping")).await;
    assert_eq!(status, StatusCode::CONFLICT, "duplicate name");
    let (_, list) = http.get("/api/v1/jobs").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing else stored"
    );

    // Update: If-Match guards against lost updates.
    let mut changed = ping_job("core ping");
    changed["description"] = json!("pings the core");
    let put = |tag: &'static str, body: Value| {
        let request = http
            .client
            .put(format!("{}/api/v1/jobs/{id}", http.base))
            .header("if-match", tag)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let response = put("\"1\"", changed.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let response = put("\"1\"", changed.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::PRECONDITION_FAILED,
        "stale ETag"
    );
    let response = put("garbage", changed).await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "not an ETag at all"
    );
    assert_eq!(store.get_job(id.parse().unwrap()).await.unwrap().version, 2);

    // Clone, enable / disable, bulk, list filters and pages.
    let (status, copy) = http
        .call(Method::POST, &format!("/api/v1/jobs/{id}/clone"), None)
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["name"], "core ping (copy)");
    assert_eq!(copy["enabled"], false);
    let (_, enabled) = http
        .post(
            &format!("/api/v1/jobs/{}/enable", copy["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["version"], 2, "enabling is a change");
    let (_, disabled) = http
        .post(
            &format!("/api/v1/jobs/{}/disable", copy["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    let (status, named) = http
        .post(
            &format!("/api/v1/jobs/{id}/clone"),
            json!({"name": "named copy"}),
        )
        .await;
    assert_eq!(
        (status, named["name"].clone()),
        (StatusCode::CREATED, json!("named copy"))
    );
    http.call(
        Method::DELETE,
        &format!("/api/v1/jobs/{}", named["id"].as_str().unwrap()),
        None,
    )
    .await;
    for n in 0..5 {
        http.post("/api/v1/jobs", ping_job(&format!("edge {n}")))
            .await;
    }
    let (_, page1) = http.get("/api/v1/jobs?limit=4").await;
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = http
        .get(&format!("/api/v1/jobs?limit=4&cursor={cursor}"))
        .await;
    let names: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    assert!(page2.get("next_cursor").is_none() || page2["next_cursor"].is_null());
    let (_, filtered) = http.get("/api/v1/jobs?text=EDGE&enabled=true").await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 5);
    let (status, problem) = http.get("/api/v1/jobs?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["limit"]);
    let (status, problem) = http.get("/api/v1/jobs?cursor=nonsense").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["cursor"]);

    let edge_ids: Vec<Value> = filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].clone())
        .collect();
    let (status, outcome) = http
        .post(
            "/api/v1/jobs/bulk",
            json!({"action": "disable", "ids": edge_ids}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["changed"].as_array().unwrap().len(), 5);
    let (_, disabled) = http.get("/api/v1/jobs?enabled=false").await;
    assert_eq!(
        disabled["items"].as_array().unwrap().len(),
        6,
        "five edges and the copy"
    );
    let (status, _) = http
        .post("/api/v1/jobs/bulk", json!({"action": "explode", "ids": []}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, outcome) = http
        .post(
            "/api/v1/jobs/bulk",
            json!({"action": "delete", "ids": edge_ids}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome["changed"].as_array().unwrap().len(), 5);

    // Validate without saving; unknown ids and routes are problems.
    let (status, _) = http
        .post("/api/v1/jobs/validate", ping_job("not saved"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = http
        .get(&format!("/api/v1/jobs/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = http.get("/api/v1/jobs/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = http.call(Method::PATCH, "/api/v1/jobs", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/problem+json");

    // Delete with a stale ETag fails; with the right one it goes, history included.
    let response = http
        .client
        .delete(format!("{}/api/v1/jobs/{id}", http.base))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let (status, run) = http
        .post(&format!("/api/v1/jobs/{id}/runs"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let response = http
        .client
        .delete(format!("{}/api/v1/jobs/{id}", http.base))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = http
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the job's runs went with it");

    controller.stop().await;
}

/// Writes `n` results of `run` directly through the store's ingest path.
async fn ingest(store: &opsconductor_store::PgStore, run: RunId, targets: &[String]) {
    let records: Vec<ResultRecord> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| ResultRecord {
            run_id: run,
            target: target.clone(),
            action_index: 0,
            status: if i % 3 == 0 {
                ResultStatus::Fail
            } else {
                ResultStatus::Ok
            },
            started_at: Utc::now(),
            duration_ms: 1.0 + i as f64,
            timings: Default::default(),
            fields: serde_json::from_value(json!({"rtt_avg_ms": i as f64, "note": "a,\"b\""}))
                .unwrap(),
            rows: vec![],
            raw_excerpt: None,
            reason: None,
            agent_id: None,
        })
        .collect();
    store
        .ingest_results(None::<ChunkId>, None, &records)
        .await
        .unwrap();
}

#[tokio::test]
async fn runs_results_pages_exports_and_series() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);

    let mut job = ping_job("lab sweep");
    job["targets"] = json!({"include": [{"type": "range", "value": "127.0.1.0/26"}]});
    let (_, job) = http.post("/api/v1/jobs", job).await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let (status, run) = http
        .post(&format!("/api/v1/jobs/{job_id}/runs"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run_id: RunId = run["id"].as_str().unwrap().parse().unwrap();

    // Run detail: the job as it ran, its rendered command and its chunks.
    let (status, detail) = http.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["job_spec"]["name"], "lab sweep");
    let rendered = detail["rendered_commands"][0]["text"].as_str().unwrap();
    assert!(
        rendered.starts_with("ping") && rendered.contains("-c 2"),
        "{rendered}"
    );
    // A /26 is 62 hosts: network and broadcast addresses are left out.
    let targets: Vec<String> = detail["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["targets"].as_array().unwrap().iter())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(targets.len(), 62);
    // Two targets still to report: the run stays running (and can be cancelled below).
    let targets = &targets[..60];
    ingest(&store, run_id, targets).await;

    // Pages of results cover every result exactly once.
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/api/v1/results?run_id={run_id}&limit=10"),
            Some(c) => format!("/api/v1/results?run_id={run_id}&limit=10&cursor={c}"),
        };
        let (status, page) = http.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["target"].as_str().unwrap().to_owned()));
            assert_eq!(item["job_id"], job_id.as_str());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 60);

    let (_, failed) = http
        .get(&format!(
            "/api/v1/results?job_id={job_id}&status=fail&limit=1000"
        ))
        .await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 20);
    let (_, one) = http
        .get(&format!("/api/v1/results?job_id={job_id}&target=127.0.1.5"))
        .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let future = (Utc::now() + Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (_, none) = http
        .get(&format!("/api/v1/results?job_id={job_id}&from={future}"))
        .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (status, problem) = http.get("/api/v1/results?status=great").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["status"]);

    // Exports: CSV with a header and quoted cells, NDJSON one object per line.
    let csv = http
        .client
        .get(format!(
            "{}/api/v1/results/export?run_id={run_id}&format=csv",
            http.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 61, "header + one line per result");
    assert!(
        csv.contains(r#""{""note"":""a,\""b\"""","#),
        "{}",
        csv.lines().nth(1).unwrap()
    );
    let ndjson = http
        .client
        .get(format!(
            "{}/api/v1/results/export?job_id={job_id}&format=json",
            http.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ndjson.lines().count(), 60);
    assert!(
        ndjson
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );

    // Series: one bucket holding everything, success rate and the field's mean.
    let (status, series) = http
        .get(&format!(
            "/api/v1/jobs/{job_id}/series?field=rtt_avg_ms&step=1h"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{series}");
    let total: i64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 60);
    let (status, problem) = http
        .get(&format!("/api/v1/jobs/{job_id}/series?step=1ms"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["step"]);

    // Runs: list, live counters, cancel.
    let (_, runs) = http.get(&format!("/api/v1/runs?job_id={job_id}")).await;
    assert_eq!(runs["items"][0]["id"], run_id.to_string());
    assert_eq!(runs["items"][0]["counters"]["ok"], 40);
    let (status, cancelled) = http
        .post(
            &format!("/api/v1/runs/{run_id}/cancel"),
            json!({"reason": "maintenance"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["counters"]["error"], 2, "the unfinished targets");
    let (status, _) = http
        .post(&format!("/api/v1/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a finished run cannot be cancelled"
    );
    let (status, problem) = http
        .post(&format!("/api/v1/runs/{run_id}/cancel"), json!({"why": 1}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Pages by job cross runs: a second run's 10 results come first (newest run), then
    // the first run's 60 (the first run was cancelled above: 62 with its 2 errors), each exactly once, in small pages.
    let (_, second) = http
        .post(&format!("/api/v1/jobs/{job_id}/runs"), json!({}))
        .await;
    let second: RunId = second["id"].as_str().unwrap().parse().unwrap();
    ingest(&store, second, &targets[..10]).await;
    let mut by_job = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/api/v1/results?job_id={job_id}&limit=7"),
            Some(c) => format!("/api/v1/results?job_id={job_id}&limit=7&cursor={c}"),
        };
        let (status, page) = http.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            by_job.push((
                item["run_id"].as_str().unwrap().to_owned(),
                item["target"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(by_job.len(), 72);
    assert_eq!(
        by_job.iter().collect::<HashSet<_>>().len(),
        72,
        "no repeats"
    );
    assert!(
        by_job[..10]
            .iter()
            .all(|(run, _)| *run == second.to_string())
    );
    controller.stop().await;
}

#[tokio::test]
async fn libraries_templates_fleet_settings_and_health() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);

    let (status, commands) = http.get("/api/v1/library/commands").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        commands
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "ping.icmp")
    );
    let (_, parsers) = http.get("/api/v1/library/parsers").await;
    assert!(
        parsers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "http.json_health")
    );
    let (_, sources) = http.get("/api/v1/library/target-sources").await;
    assert!(!sources.as_array().unwrap().is_empty());
    let (status, _) = http.get("/api/v1/library/commands/ping.icmp").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = http.get("/api/v1/library/commands/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Preview renders with defaults; params breaking the schema name their field.
    let (status, preview) = http
        .post(
            "/api/v1/library/preview",
            json!({"command": "ping.icmp", "params": {"count": 5}, "target": "10.0.0.1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(preview["text"].as_str().unwrap().contains("-c 5"));
    assert!(preview["text"].as_str().unwrap().ends_with("10.0.0.1"));
    let (status, problem) = http
        .post(
            "/api/v1/library/preview",
            json!({"command": "ping.icmp", "params": {"count": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fields(&problem).iter().any(|f| f.ends_with("count")),
        "{problem}"
    );

    // Parser test: a library parser, and an inline one with a broken pattern.
    let (status, parsed) = http
        .post("/api/v1/library/parsers/test", json!({"parser": "http.json_health", "sample": "{\"status\": \"UP\", \"version\": \"1.2\"}"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{parsed}");
    assert_eq!(parsed["fields"]["healthy"], true);
    let (status, problem) = http
        .post("/api/v1/library/parsers/test", json!({"definition": {"id": "x", "name": "x", "extract": {"type": "regex", "pattern": "(?P<a"}}, "sample": "a"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fields(&problem).iter().all(|f| f.starts_with("definition")),
        "{problem}"
    );

    // Target preview: count, segments, invalid file lines with numbers.
    let (status, _) = http
        .call(
            Method::PUT,
            "/api/v1/segments/lab",
            Some(json!({"cidrs": ["127.0.2.0/24"]})),
        )
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::OK);
    let (status, preview) = http
        .post(
            "/api/v1/targets/preview",
            json!({"targets": {"include": [
            {"type": "range", "value": "127.0.1.0/24, 127.0.2.0/25"},
            {"type": "file", "name": "hosts.txt", "content": "127.0.3.1\nnot an address!\n"}
        ], "exclude": ["127.0.1.0/25"]}, "limit": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    // Hosts only: 127.0.1.128-254, 127.0.2.1-126 and the file's one good line.
    assert_eq!(preview["count"], 127 + 126 + 1);
    assert_eq!(preview["first"].as_array().unwrap().len(), 3);
    assert_eq!(preview["by_segment"]["lab"], 126);
    assert_eq!(preview["invalid"][0]["line"], 2);
    let (status, problem) = http
        .post(
            "/api/v1/targets/preview",
            json!({"targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}]}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "over the cap: {problem}"
    );

    // Templates: save, list, export, import elsewhere, delete.
    let (status, template) = http
        .post(
            "/api/v1/templates",
            json!({"name": "core ping", "spec": ping_job("from template")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template_id = template["id"].as_str().unwrap().to_owned();
    let (status, _) = http
        .post(
            "/api/v1/templates",
            json!({"name": "core ping", "spec": ping_job("again")}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let mut broken = ping_job("broken");
    broken["actions"] = json!([]);
    let (status, problem) = http
        .post(
            "/api/v1/templates",
            json!({"name": "broken", "spec": broken}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["spec.actions"]);
    let (status, loaded) = http.get(&format!("/api/v1/templates/{template_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(loaded["spec"]["name"], "from template");
    let (_, file) = http
        .get(&format!("/api/v1/templates/{template_id}/export"))
        .await;
    assert_eq!(file["format"], "opsconductor.template/v1");
    let (status, _) = http
        .call(
            Method::DELETE,
            &format!("/api/v1/templates/{template_id}"),
            None,
        )
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, imported) = http.post("/api/v1/templates/import", file.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    assert_eq!(imported["spec"]["name"], "from template");
    let mut wrong = file;
    wrong["format"] = json!("something/else");
    let (status, _) = http.post("/api/v1/templates/import", wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, templates) = http.get("/api/v1/templates").await;
    assert_eq!(templates.as_array().unwrap().len(), 1);

    // Fleet: segments, enrollment tokens, agents.
    let (status, problem) = http
        .call(
            Method::PUT,
            "/api/v1/segments/lab",
            Some(json!({"cidrs": ["10.0.0.0/33"]})),
        )
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, token) = http
        .post("/api/v1/enrollment-tokens", json!({"segment": "lab"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(token["token"].as_str().unwrap().len() > 20);
    let (status, problem) = http
        .call(Method::DELETE, "/api/v1/segments/lab", None)
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a token still uses it: {problem}"
    );
    let (status, _) = http
        .post(
            "/api/v1/enrollment-tokens",
            json!({"segment": "lab", "ttl_seconds": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, lab) = http.get("/api/v1/segments/lab").await;
    assert_eq!(
        (status, lab["name"].clone()),
        (StatusCode::OK, json!("lab"))
    );
    let (status, _) = http.get("/api/v1/segments/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = http
        .call(
            Method::PUT,
            "/api/v1/segments/spare",
            Some(json!({"cidrs": []})),
        )
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::OK);
    let (status, _) = http
        .call(Method::DELETE, "/api/v1/segments/spare", None)
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, segments) = http.get("/api/v1/segments").await;
    assert_eq!(segments[0]["cidrs"][0], "127.0.2.0/24");
    let (status, agents) = http.get("/api/v1/agents").await;
    assert_eq!((status, agents), (StatusCode::OK, json!([])));
    let (status, _) = http
        .get(&format!("/api/v1/agents/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Settings: defaults, conditional write, range check.
    let (status, headers, settings) = http.call(Method::GET, "/api/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["results_retention_days"], 30);
    assert_eq!(headers["etag"], "\"0\"");
    let write = |tag: &'static str, days: u32| {
        let request = http
            .client
            .put(format!("{}/api/v1/settings", http.base))
            .header("if-match", tag)
            .json(&json!({"results_retention_days": days}));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(write("\"0\"", 90).await, StatusCode::OK);
    assert_eq!(write("\"0\"", 60).await, StatusCode::PRECONDITION_FAILED);
    assert_eq!(write("\"1\"", 0).await, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, settings) = http.get("/api/v1/settings").await;
    assert_eq!(settings["results_retention_days"], 90);

    // Retention follows the setting: a partition 100 days old goes, a recent one stays.
    let old_day = (Utc::now() - Duration::days(100)).date_naive();
    store.ensure_partitions(old_day, 0).await.unwrap();
    let dropped = opsconductor_controller::settings::apply_retention(&store)
        .await
        .unwrap();
    assert_eq!(dropped, [format!("results_{}", old_day.format("%Y%m%d"))]);

    // Health, readiness, docs.
    let (status, _) = http.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = http.get("/readyz").await;
    assert_eq!(
        (status, ready["database"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, docs) = http.get("/api/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        docs.as_str().unwrap().contains("swagger"),
        "docs page served"
    );

    controller.stop().await;
}

/// The served document is the committed one, so API changes show up in review.
/// `UPDATE_OPENAPI=1 cargo nextest run -E 'test(openapi)'` rewrites it.
#[tokio::test]
async fn openapi_document_matches_the_committed_snapshot() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);
    let (status, served) = http.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served["openapi"], "3.1.0");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "docs/openapi.json differs from the served document; rerun with UPDATE_OPENAPI=1 and review the diff"
    );
    // Every route of the router is documented.
    let paths = served["paths"].as_object().unwrap();
    for route in [
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/results/export",
        "/api/v1/settings",
    ] {
        assert!(paths.contains_key(route), "{route} undocumented");
    }
    controller.stop().await;
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// User-defined entries compile with the shipped libraries (same validation, no shipped id
/// taken), are usable by jobs at once, cannot be removed while used, and reach another
/// replica on the same database without a restart.
#[tokio::test]
async fn user_library_entries_are_validated_used_guarded_and_shared() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);
    let put = |path: String, body: Value| {
        let request = http.client.put(format!("{}{path}", http.base)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let delete = |path: String| {
        let request = http.client.delete(format!("{}{path}", http.base));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // A copy of the shipped ping command under a new id.
    let (_, mut command) = http.get("/api/v1/library/commands/ping.icmp").await;
    command["id"] = json!("lab.ping");
    command["name"] = json!("Lab ping");
    let (status, saved) = put(
        "/api/v1/library/user-entries/commands/lab.ping".into(),
        command.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, commands) = http.get("/api/v1/library/commands").await;
    assert!(
        commands
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "lab.ping")
    );

    // Same validation as the files: a broken schema names its field inside the entry, a
    // shipped id cannot be taken, the path and body ids must agree.
    let mut broken = command.clone();
    broken["id"] = json!("lab.broken");
    broken["params_schema"]["properties"]["count"]["type"] = json!("integr");
    let (status, problem) = put(
        "/api/v1/library/user-entries/commands/lab.broken".into(),
        broken,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        fields(&problem)
            .iter()
            .any(|f| f.starts_with("params_schema")),
        "{problem}"
    );
    let mut shipped = command.clone();
    shipped["id"] = json!("ping.icmp");
    let (status, problem) = put(
        "/api/v1/library/user-entries/commands/ping.icmp".into(),
        shipped,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"].as_str().unwrap().contains("duplicate"),
        "{problem}"
    );
    let (status, _) = put(
        "/api/v1/library/user-entries/commands/other".into(),
        command.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = put(
        "/api/v1/library/user-entries/widgets/x".into(),
        json!({"id": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, entries) = http.get("/api/v1/library/user-entries").await;
    assert_eq!(
        entries.as_array().unwrap().len(),
        1,
        "nothing else stored: {entries}"
    );

    // Jobs use it at once; it cannot go while they do.
    let mut job = ping_job("lab job");
    job["actions"][0]["command"] = json!("lab.ping");
    let (status, job) = http.post("/api/v1/jobs", job).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let (status, problem) = delete("/api/v1/library/user-entries/commands/lab.ping".into()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"].as_str().unwrap().contains("lab job"),
        "{problem}"
    );

    // Another replica on the same database picks it up without a restart.
    let replica = RunningController::start(controller_config(&db, &broker)).await;
    let replica_http = Http::new(&replica);
    let (_, commands) = replica_http.get("/api/v1/library/commands").await;
    assert!(
        commands
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "lab.ping")
    );
    let (_, mut parser) = http.get("/api/v1/library/parsers").await;
    let mut parser = parser
        .as_array_mut()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "ping.stats")
        .unwrap()
        .clone();
    parser["id"] = json!("lab.stats");
    let (status, _) = put(
        "/api/v1/library/user-entries/parsers/lab.stats".into(),
        parser,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    crate::helpers::wait_for(
        "the replica to see the new parser",
        crate::helpers::WAIT,
        || async {
            let (_, parsers) = replica_http.get("/api/v1/library/parsers").await;
            parsers
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == "lab.stats")
        },
    )
    .await;
    replica.stop().await;

    let (status, _) = http
        .call(
            Method::DELETE,
            &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
            None,
        )
        .await
        .pipe(|(s, _, b)| (s, b));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = delete("/api/v1/library/user-entries/commands/lab.ping".into()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = delete("/api/v1/library/user-entries/commands/lab.ping".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    controller.stop().await;
}
