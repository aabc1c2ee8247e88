//! Scans, devices and groups over REST: bad input gets a precise problem and changes
//! nothing; imports are partial and reported line by line; exports import again.

use opsconductor_store::testing::fresh_database;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RunningController, TestBroker, controller_config};
use crate::rest::{Http, fields};

async fn import(http: &Http, query: &str, body: &str) -> (StatusCode, Value) {
    let response = http
        .client()
        .post(format!("{}/api/v1/devices/import?{query}", http.base()))
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn device_count(http: &Http) -> u64 {
    let (status, page) = http.get("/api/v1/devices?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["total"].as_u64().unwrap()
}

#[tokio::test]
async fn inventory_bad_input_is_named_partial_imports_are_reported_and_nothing_is_corrupted() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);

    // A scan over the size cap, a bad port list and a bad profile: every field named, no
    // scan, no run.
    let (status, problem) = http
        .post(
            "/api/v1/scans",
            json!({
                "targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}]},
                "profile": {"tcp_ports": [22, 22, 0], "web": [{"scheme": "gopher"}]}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        [
            "profile.tcp_ports[1]",
            "profile.tcp_ports[2]",
            "profile.web[0].scheme"
        ]
    );
    let (status, problem) = http
        .post(
            "/api/v1/scans",
            json!({"targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        fields(&problem).iter().any(|f| f.starts_with("targets")),
        "{problem}"
    );
    let (status, problem) = http
        .post(
            "/api/v1/scans",
            json!({"targets": {"include": [{"type": "range", "value": "10.0.0.0/24"}]},
                   "profile": {"ping": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["profile"]);
    let (status, scans) = http.get("/api/v1/scans").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(scans["items"], json!([]), "nothing was started");
    let (status, _) = http.get("/api/v1/scans/not-a-uuid").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = http
        .get("/api/v1/scans/01a21bde-9743-755b-92f1-c64754083e1c")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A CSV without an address column: the file is refused, nothing written.
    let (status, problem) = import(&http, "format=csv", "host,vendor\nsw1,Cisco\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["file"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("address"),
        "{problem}"
    );
    assert_eq!(device_count(&http).await, 0);

    // A partial import: good lines written, bad lines reported by number.
    let csv = "address,hostname,vendor,tags\n\
               10.0.0.1,sw1,Cisco,core;dc1\n\
               10.0.0.300,bad,Cisco,\n\
               10.0.0.2,sw2,Juniper,core\n\
               10.0.0.1,again,Cisco,\n";
    let (status, dry) = import(&http, "format=csv&dry_run=true", csv).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(device_count(&http).await, 0, "a dry run writes nothing");
    let (status, report) = import(&http, "format=csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["rejected"], 2, "{report}");
    let lines: Vec<(u64, &str)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "address"), (5, "address")], "{report}");
    assert!(
        report["problems"][1]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "the duplicate names the first line: {report}"
    );
    let (status, device) = http.get("/api/v1/devices/10.0.0.1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device["hostname"], "sw1", "the first line wins: {device}");
    assert_eq!(device["tags"], json!(["core", "dc1"]));

    // Filters: an error names its column; a good one selects.
    let (status, problem) = http.get("/api/v1/devices?filter=vendor%20%3D").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["filter"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("column"),
        "{problem}"
    );
    let (_, page) = http
        .get("/api/v1/devices?filter=vendor%20%3D%20%22cisco%22%20and%20tag%20%3D%20core")
        .await;
    assert_eq!(page["total"], 1, "{page}");

    // Device edits: bad tags and addresses are named; a bulk change reports its reach.
    let (status, _, problem) = http
        .call(
            Method::PATCH,
            "/api/v1/devices/10.0.0.1",
            Some(json!({"tags": ["ok", ""]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["tags[1]"]);
    let (status, _, problem) = http
        .call(Method::GET, "/api/v1/devices/10.0.0.999", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["address"]);
    let (status, outcome) = http
        .post(
            "/api/v1/devices/bulk",
            json!({"addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "add_tags": ["lab"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["affected"], 2);
    let (status, problem) = http
        .post(
            "/api/v1/devices/bulk",
            json!({"addresses": ["10.0.0.1", "nope"], "add_tags": ["x"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["addresses[1]"]);

    // Groups: one of filter / members, filter errors with their column, live counts.
    let (status, problem) = http
        .post(
            "/api/v1/groups",
            json!({"name": "both", "filter": "tag = core", "members": ["10.0.0.1"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["filter"]);
    let (status, problem) = http
        .post(
            "/api/v1/groups",
            json!({"name": "bad", "filter": "vendr = x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("column 1"),
        "{problem}"
    );
    let (status, preview) = http
        .post(
            "/api/v1/groups/preview",
            json!({"name": "p", "filter": "tag = lab"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["count"], 2);
    let (status, group) = http
        .post(
            "/api/v1/groups",
            json!({"name": "lab", "members": ["10.9.0.0/30", "10.9.0.10"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["kind"], "static");
    assert_eq!(
        group["member_count"], 3,
        "a /30's two hosts and one address"
    );
    let (status, _, problem) = http
        .call(
            Method::PUT,
            "/api/v1/groups/lab",
            Some(json!({"name": "lab", "members": ["10.9.0.300"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["members[0]"]);
    let (_, unchanged) = http.get("/api/v1/groups/lab").await;
    assert_eq!(unchanged["version"], 1, "a refused update changes nothing");

    // The export imports again without problems.
    let response = http
        .client()
        .get(format!("{}/api/v1/devices/export?format=csv", http.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let exported = response.text().await.unwrap();
    let (status, again) = import(&http, "format=csv", &exported).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["problems"], json!([]), "{again}");
    assert_eq!(again["updated"], 2, "{again}");
    assert_eq!(device_count(&http).await, 2);
}
