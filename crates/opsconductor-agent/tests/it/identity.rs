//! Enrollment and the identity file.

use std::os::unix::fs::PermissionsExt as _;

use opsconductor_agent::{AgentError, CancellationToken};

use crate::helpers::{Harness, WAIT};

#[tokio::test]
async fn enrollment_writes_a_private_identity_file_and_a_restart_reuses_it_without_a_token() {
    let h = Harness::new().await;
    let config = h.config();
    let first = h.agent(config.clone()).await;
    first.stop().await.unwrap();

    let meta = std::fs::metadata(&config.identity_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config.identity_file).unwrap()).unwrap();
    assert_eq!(saved["agent_id"], h.controller.state.agent_id.as_str());
    assert_eq!(saved["segment"], "lab");
    let registered = h.controller.snapshot().registers;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].name, "test-agent");
    assert!(registered[0].capabilities.contains(&"ping".to_owned()));

    let mut again = config;
    again.enrollment_token = None;
    let second = h.agent(again).await;
    second.stop().await.unwrap();
    let recorded = h.controller.snapshot();
    assert_eq!(recorded.registers.len(), 1, "no second enrollment");
    assert_eq!(recorded.sessions, 2);
}

#[tokio::test]
async fn starting_without_an_identity_file_or_an_enrollment_token_names_both_settings() {
    let h = Harness::new().await;
    let mut config = h.config();
    config.enrollment_token = None;
    let error = tokio::time::timeout(
        WAIT,
        opsconductor_agent::run(config, CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(error, AgentError::Config(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("identity_file") && message.contains("enrollment_token"),
        "{message}"
    );
}

#[tokio::test]
async fn a_refused_enrollment_token_is_a_clear_error() {
    let h = Harness::new().await;
    let mut config = h.config();
    config.enrollment_token = Some("not-the-token".to_owned());
    let error = tokio::time::timeout(
        WAIT,
        opsconductor_agent::run(config.clone(), CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(error, AgentError::Enrollment(_)), "{error}");
    assert!(!config.identity_file.exists());
}
