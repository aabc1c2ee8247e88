//! SSH host keys trusted on first use.

use opsconductor_core::ids::AgentId;
use opsconductor_store::prelude::*;
use opsconductor_store::{HostKeyVerdict, StoreError};

on_both_backends!(the_first_key_is_trusted_and_a_different_one_refused);

async fn the_first_key_is_trusted_and_a_different_one_refused(store: SharedStore) {
    let agent = AgentId::new();
    let verify = |port: u16, fingerprint: &'static str| {
        let store = store.clone();
        async move {
            store
                .verify_host_key("core-1", port, "ssh-ed25519", fingerprint, agent)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        verify(22, "SHA256:aaa").await,
        HostKeyVerdict::TrustedOnFirstUse
    );
    assert_eq!(verify(22, "SHA256:aaa").await, HostKeyVerdict::Trusted);
    assert_eq!(
        verify(22, "SHA256:bbb").await,
        HostKeyVerdict::Changed {
            expected: "ssh-ed25519 SHA256:aaa".into()
        }
    );
    assert_eq!(
        verify(2222, "SHA256:bbb").await,
        HostKeyVerdict::TrustedOnFirstUse,
        "another port is another record"
    );

    let keys = store.list_host_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    let (first, other) = (&keys[0], &keys[1]);
    assert_eq!((first.host.as_str(), first.port), ("core-1", 22));
    assert_eq!(first.fingerprint, "SHA256:aaa");
    assert_eq!(first.first_seen_by, Some(*agent.as_uuid()));
    assert_eq!(first.refused_fingerprint.as_deref(), Some("SHA256:bbb"));
    assert!(first.refused_at.is_some());
    assert!(first.last_seen_at >= first.first_seen_at);
    assert_eq!(other.port, 2222);
    assert_eq!(other.refused_at, None);

    store.delete_host_key(first.id).await.unwrap();
    assert_eq!(
        store.delete_host_key(first.id).await.unwrap_err(),
        StoreError::NotFound {
            what: format!("ssh host key {}", first.id)
        }
    );
    assert_eq!(
        verify(22, "SHA256:bbb").await,
        HostKeyVerdict::TrustedOnFirstUse,
        "a forgotten record starts over"
    );
}
