//! Enrollment, authentication and liveness of agents.

use opsconductor_store::prelude::*;
use std::time::Duration;

use opsconductor_core::ids::AgentId;
use opsconductor_core::model::Segment;
use opsconductor_store::StoreError;
use serde_json::json;

on_both_backends!(
    an_enrollment_token_registers_exactly_one_agent,
    an_expired_token_is_refused,
    an_unknown_token_is_refused,
    a_token_for_an_unknown_segment_is_not_found,
    an_agent_authenticates_with_its_secret_only,
    heartbeats_keep_an_agent_online_until_they_stop,
);

async fn with_segment(store: &dyn Store) {
    store
        .upsert_segment(&Segment::new("lab", Vec::new()).unwrap())
        .await
        .unwrap();
}

fn caps() -> Vec<String> {
    vec!["ping".into(), "snmp".into()]
}

async fn an_enrollment_token_registers_exactly_one_agent(store: SharedStore) {
    with_segment(&*store).await;
    let token = store
        .create_enrollment_token("lab", Duration::from_secs(600))
        .await
        .unwrap();

    let agent = store
        .register_agent(&token, "probe-1", "0.1.0", &caps())
        .await
        .unwrap();
    assert_eq!(agent.segment, "lab");
    assert!(
        !format!("{agent:?}").contains(&agent.secret),
        "Debug hides the secret"
    );

    let again = store
        .register_agent(&token, "probe-2", "0.1.0", &caps())
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::Unauthorized { .. }),
        "{again:?}"
    );

    let agents = store.list_agents().await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id, agent.agent_id);
    assert_eq!(agents[0].name, "probe-1");
    assert_eq!(agents[0].capabilities, caps());
    assert!(!agents[0].online);
}

async fn an_expired_token_is_refused(store: SharedStore) {
    with_segment(&*store).await;
    let token = store
        .create_enrollment_token("lab", Duration::ZERO)
        .await
        .unwrap();
    let err = store
        .register_agent(&token, "probe-1", "0.1.0", &caps())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized { .. }), "{err:?}");
    assert!(store.list_agents().await.unwrap().is_empty());
}

async fn an_unknown_token_is_refused(store: SharedStore) {
    let err = store
        .register_agent("not-a-token", "probe-1", "0.1.0", &caps())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized { .. }), "{err:?}");
}

async fn a_token_for_an_unknown_segment_is_not_found(store: SharedStore) {
    let err = store
        .create_enrollment_token("nowhere", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::NotFound {
            what: "segment \"nowhere\"".into()
        }
    );
}

async fn an_agent_authenticates_with_its_secret_only(store: SharedStore) {
    with_segment(&*store).await;
    let token = store
        .create_enrollment_token("lab", Duration::from_secs(60))
        .await
        .unwrap();
    let agent = store
        .register_agent(&token, "probe-1", "0.1.0", &caps())
        .await
        .unwrap();

    let record = store
        .authenticate_agent(agent.agent_id, &agent.secret)
        .await
        .unwrap();
    assert_eq!(record.id, agent.agent_id);
    assert_eq!(record.segment, "lab");

    let wrong = store
        .authenticate_agent(agent.agent_id, "wrong")
        .await
        .unwrap_err();
    let unknown = store
        .authenticate_agent(AgentId::new(), &agent.secret)
        .await
        .unwrap_err();
    assert!(
        matches!(wrong, StoreError::Unauthorized { .. }),
        "{wrong:?}"
    );
    assert_eq!(
        wrong, unknown,
        "a wrong secret and an unknown agent look the same"
    );
}

async fn heartbeats_keep_an_agent_online_until_they_stop(store: SharedStore) {
    with_segment(&*store).await;
    let token = store
        .create_enrollment_token("lab", Duration::from_secs(60))
        .await
        .unwrap();
    let agent = store
        .register_agent(&token, "probe-1", "0.1.0", &caps())
        .await
        .unwrap();
    let beat = json!({"chunks_in_flight": 2, "load1": 0.5});
    store.record_heartbeat(agent.agent_id, &beat).await.unwrap();

    let listed = store.list_agents().await.unwrap();
    assert!(listed[0].online);
    assert!(listed[0].last_seen_at.is_some());
    assert_eq!(listed[0].heartbeat.as_ref(), Some(&beat));

    assert_eq!(
        store
            .mark_agents_offline(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .mark_agents_offline(Duration::from_millis(10))
            .await
            .unwrap(),
        1
    );
    assert!(!store.list_agents().await.unwrap()[0].online);

    let err = store
        .record_heartbeat(AgentId::new(), &beat)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized { .. }), "{err:?}");

    // Revoked: the secret and heartbeats stop working, the record stays.
    let revoked = store.revoke_agent(agent.agent_id).await.unwrap();
    assert!(revoked.revoked_at.is_some() && !revoked.online);
    let err = store
        .authenticate_agent(agent.agent_id, &agent.secret)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    let err = store
        .record_heartbeat(agent.agent_id, &beat)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unauthorized { .. }), "{err:?}");
    assert_eq!(store.list_agents().await.unwrap().len(), 1);
}
