//! Agent identity beyond enrollment: SSH host keys trusted on first use across the
//! deployment (the first key any agent reports for host:port is recorded, the same key
//! is trusted by every agent, a different one is refused and noted until an admin resets
//! the record over REST), and revoking an agent.

use opsconductor_core::model::Segment;
use opsconductor_proto::v1::verify_host_key_response::Decision;
use opsconductor_proto::v1::{self, agent_service_client::AgentServiceClient};
use opsconductor_store::prelude::*;
use opsconductor_store::testing::fresh_database;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tonic::Code;

use crate::helpers::{
    RunningController, TestBroker, WAIT, as_agent, controller_config, enrolled_agent,
};
use crate::rest::Http;
use crate::ws::ScriptedAgent;

async fn verify(
    client: &mut AgentServiceClient<tonic::transport::Channel>,
    agent: &(String, String),
    port: u32,
    fingerprint: &str,
) -> Result<v1::VerifyHostKeyResponse, tonic::Status> {
    let request = as_agent(
        v1::VerifyHostKeyRequest {
            host: "10.0.0.7".to_owned(),
            port,
            algorithm: "ssh-ed25519".to_owned(),
            fingerprint: fingerprint.to_owned(),
        },
        agent,
    );
    client
        .verify_host_key(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn host_keys_are_trusted_on_first_use_for_every_agent_and_reset_by_an_admin() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);
    store
        .upsert_segment(&Segment::new("default", Vec::new()).unwrap())
        .await
        .unwrap();
    let mut client = AgentServiceClient::connect(format!("http://{}", controller.grpc))
        .await
        .unwrap();
    let first = enrolled_agent(&store, &mut client, "default").await;
    let second = enrolled_agent(&store, &mut client, "default").await;

    let decision = |r: &v1::VerifyHostKeyResponse| r.decision();
    let seen = verify(&mut client, &first, 22, "SHA256:good")
        .await
        .unwrap();
    assert_eq!(decision(&seen), Decision::TrustedOnFirstUse);
    // Another agent, the same key: trusted without a new record.
    let again = verify(&mut client, &second, 22, "SHA256:good")
        .await
        .unwrap();
    assert_eq!(decision(&again), Decision::Trusted);
    // A different key: refused, naming the recorded one; another port is its own record.
    let changed = verify(&mut client, &second, 22, "SHA256:evil")
        .await
        .unwrap();
    assert_eq!(decision(&changed), Decision::Changed);
    assert_eq!(changed.expected, "ssh-ed25519 SHA256:good");
    let other_port = verify(&mut client, &first, 2222, "SHA256:evil")
        .await
        .unwrap();
    assert_eq!(decision(&other_port), Decision::TrustedOnFirstUse);

    // The admin sees the record with the refused key, and resets it.
    let (status, keys) = http.get("/api/v1/ssh-host-keys").await;
    assert_eq!(status, StatusCode::OK);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["port"], 22);
    assert_eq!(keys[0]["fingerprint"], "SHA256:good");
    assert_eq!(keys[0]["refused_key"], "ssh-ed25519 SHA256:evil");
    assert_eq!(keys[0]["first_seen_by"], first.0.as_str());
    let path = format!("/api/v1/ssh-host-keys/{}", keys[0]["id"].as_str().unwrap());
    let (status, _, _) = http.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = http.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let after_reset = verify(&mut client, &second, 22, "SHA256:evil")
        .await
        .unwrap();
    assert_eq!(decision(&after_reset), Decision::TrustedOnFirstUse);

    // Bad input and strangers.
    let bad = verify(&mut client, &first, 70_000, "SHA256:x")
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("port"));
    let stranger = (first.0.clone(), "wrong-secret".to_owned());
    let refused = verify(&mut client, &stranger, 22, "SHA256:x")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    controller.stop().await;
}

#[tokio::test]
async fn a_revoked_agent_loses_its_session_and_every_call() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let http = Http::new(&controller);
    let mut session = ScriptedAgent::connect(controller.grpc, &store).await;
    let mut client = AgentServiceClient::connect(format!("http://{}", controller.grpc))
        .await
        .unwrap();
    let other = enrolled_agent(&store, &mut client, "default").await;
    let (status, _) = http
        .post(
            &format!("/api/v1/agents/{}/revoke", session.agent_id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The open session ends, saying why.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match session.inbound.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    })
    .await
    .expect("the session ends after the revocation");
    let ended = ended.expect("with a status");
    assert!(ended.message().contains("revoked"), "{ended:?}");
    // Later calls with its identity are refused; another agent is untouched.
    let revoked = (session.agent_id.clone(), session.agent_secret.clone());
    let refused = verify(&mut client, &revoked, 22, "SHA256:x")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("revoked"), "{refused:?}");
    let fine = verify(&mut client, &other, 22, "SHA256:x").await.unwrap();
    assert_eq!(fine.decision(), Decision::TrustedOnFirstUse);
    let (_, view) = http
        .get(&format!("/api/v1/agents/{}", session.agent_id))
        .await;
    assert!(view["revoked_at"].is_string(), "{view}");
    assert_eq!(view["online"], false);
    let unknown = format!("/api/v1/agents/{}/revoke", uuid::Uuid::now_v7());
    let (status, _) = http.post(&unknown, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    controller.stop().await;
}
