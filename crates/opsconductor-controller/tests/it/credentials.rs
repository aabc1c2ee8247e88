//! The credential vault end to end: secrets go in over REST and never come out of it
//! (responses, the database in the clear), jobs may only reference credentials that
//! exist and suit their command, and an agent gets a secret over gRPC only for a chunk
//! routed to its segment whose job uses that credential.

use opsconductor_core::model::Segment;
use opsconductor_proto::v1::{self, agent_service_client::AgentServiceClient};
use opsconductor_store::ChunkState;
use opsconductor_store::prelude::*;
use opsconductor_store::testing::fresh_database;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{
    RunningController, TestBroker, WAIT, as_agent, controller_config, enrolled_agent, wait_for,
};
use crate::rest::{Http, fields};

const KEY: &str = "6f7073636f6e647563746f72207661756c74206b657920666f72207465737473";
const SECRET: &str = "hunter2-vault-test";

fn ssh_job(name: &str, credential: &Value) -> Value {
    json!({
        "name": name,
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ssh.command", "params": {"command": "uptime"},
                     "credential": credential}],
    })
}

#[tokio::test]
async fn secrets_go_in_and_only_metadata_comes_out() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let mut config = controller_config(&db, &broker);
    config.vault_key = Some(opsconductor_controller::vault::InlineKey::new(KEY));
    let controller = RunningController::start(config).await;
    let http = Http::new(&controller);

    let (status, created) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "core routers", "kind": "ssh_password",
                   "description": "netops login",
                   "secret": {"user": "netops", "password": SECRET}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "ssh_password");
    assert_eq!(created["version"], 1);
    let id = created["id"].clone();
    let (status, listed) = http.get("/api/v1/credentials").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], id);
    let (_, one) = http
        .get(&format!("/api/v1/credentials/{}", id.as_str().unwrap()))
        .await;
    for body in [&created, &listed, &one] {
        let text = body.to_string();
        assert!(
            !text.contains(SECRET) && !text.contains("secret\":"),
            "{text}"
        );
    }
    // At rest: sealed, not in the clear anywhere in the row.
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let row: String = sqlx::query_scalar("SELECT row_to_json(c)::text FROM credentials c")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!row.contains(SECRET) && !row.contains("netops\""), "{row}");

    // Bad secrets: the field is named, the value never echoed, nothing stored.
    let (status, problem) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "typo", "kind": "ssh_password",
                   "secret": {"user": "a", "pasword": SECRET}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["secret.pasword"]);
    assert!(!problem.to_string().contains(SECRET));
    let (status, problem) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "", "kind": "http_bearer", "secret": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["name", "secret"]);
    let (_, listed) = http.get("/api/v1/credentials").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // Jobs: an unknown credential and one of the wrong kind are refused by field.
    let (status, problem) = http
        .post("/api/v1/jobs", ssh_job("unknown", &json!(uuid_v7())))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["actions[0].credential"]);
    let (_, bearer) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "api token", "kind": "http_bearer", "secret": {"token": "t0k"}}),
        )
        .await;
    let (status, problem) = http
        .post("/api/v1/jobs", ssh_job("wrong kind", &bearer["id"]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("http_bearer"),
        "{problem}"
    );
    let (status, job) = http.post("/api/v1/jobs", ssh_job("uptime", &id)).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");

    // In use: not deletable, and the answer names the job.
    let path = format!("/api/v1/credentials/{}", id.as_str().unwrap());
    let (status, _, problem) = http.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("uptime"));

    // Rotation: a new version and secret time; a stale If-Match is refused.
    let (status, _, rotated) = http
        .call(
            Method::PUT,
            &path,
            Some(json!({"secret": {"user": "netops", "password": "rotated"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["version"], 2);
    assert_ne!(rotated["secret_updated_at"], created["secret_updated_at"]);
    let stale = http
        .client()
        .delete(format!("{}{path}", http.base()))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let bearer_path = format!("/api/v1/credentials/{}", bearer["id"].as_str().unwrap());
    let (status, _, _) = http.call(Method::DELETE, &bearer_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    controller.stop().await;

    // A controller without a key cannot store secrets, and says why.
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let (status, problem) = Http::new(&controller)
        .post(
            "/api/v1/credentials",
            json!({"name": "keyless", "kind": "http_bearer", "secret": {"token": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("vault key"));
    controller.stop().await;
}

fn uuid_v7() -> String {
    opsconductor_core::ids::CredentialId::new().to_string()
}

async fn fetch(
    client: &mut AgentServiceClient<tonic::transport::Channel>,
    agent: &(String, String),
    chunk_id: &str,
    credential_id: &str,
) -> Result<v1::FetchCredentialResponse, tonic::Status> {
    let request = as_agent(
        v1::FetchCredentialRequest {
            chunk_id: chunk_id.to_owned(),
            credential_id: credential_id.to_owned(),
        },
        agent,
    );
    client
        .fetch_credential(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn an_agent_gets_a_secret_only_for_its_own_chunks_that_use_it() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let mut config = controller_config(&db, &broker);
    config.vault_key = Some(opsconductor_controller::vault::InlineKey::new(KEY));
    let controller = RunningController::start(config).await;
    let http = Http::new(&controller);
    store
        .upsert_segment(&Segment::new("default", Vec::new()).unwrap())
        .await
        .unwrap();
    store
        .upsert_segment(&Segment::new("lab", vec!["10.99.0.0/16".parse().unwrap()]).unwrap())
        .await
        .unwrap();
    let (_, used) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "netops", "kind": "ssh_password",
                   "secret": {"user": "netops", "password": SECRET}}),
        )
        .await;
    let (_, unused) = http
        .post(
            "/api/v1/credentials",
            json!({"name": "other", "kind": "ssh_password",
                   "secret": {"user": "x", "password": "not-for-this-chunk"}}),
        )
        .await;
    let run = http.run_job(ssh_job("uptime", &used["id"])).await;
    let run_id = run["id"].as_str().unwrap().parse().unwrap();
    wait_for("the chunk is published", WAIT, || {
        let store = store.clone();
        async move {
            let chunks = store.chunks_for_run(run_id).await.unwrap();
            chunks.iter().all(|c| c.state == ChunkState::Published)
        }
    })
    .await;
    let chunks = store.chunks_for_run(run_id).await.unwrap();
    assert_eq!(chunks.len(), 1);
    let chunk = chunks[0].id.to_string();

    let mut client = AgentServiceClient::connect(format!("http://{}", controller.grpc))
        .await
        .unwrap();
    let own = enrolled_agent(&store, &mut client, "default").await;
    let lab = enrolled_agent(&store, &mut client, "lab").await;
    let used_id = used["id"].as_str().unwrap();

    let fetched = fetch(&mut client, &own, &chunk, used_id).await.unwrap();
    assert_eq!(fetched.kind, "ssh_password");
    let secret: Value = serde_json::from_str(&fetched.secret_json).unwrap();
    assert_eq!(secret, json!({"user": "netops", "password": SECRET}));

    let refused = fetch(&mut client, &lab, &chunk, used_id).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let refused = fetch(&mut client, &own, &chunk, unused["id"].as_str().unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let refused = fetch(&mut client, &own, &uuid_v7(), used_id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let bad_secret = (own.0.clone(), "not-the-secret".to_owned());
    let refused = fetch(&mut client, &bad_secret, &chunk, used_id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(!refused.message().contains(SECRET));

    controller.stop().await;
}
