//! The credential vault's rows: versions, name clashes, and no deleting what jobs use.

use opsconductor_core::credential::CredentialKind;
use opsconductor_core::ids::CredentialId;
use opsconductor_store::prelude::*;
use opsconductor_store::{CredentialChange, CredentialDeletion, SealedSecret, StoreError};

use crate::job_spec;

on_both_backends!(
    credentials_keep_their_secret_as_sealed_and_change_by_version,
    a_credential_a_job_uses_cannot_be_deleted,
);

fn sealed(byte: u8) -> SealedSecret {
    SealedSecret {
        nonce: vec![byte; 12],
        sealed: vec![byte; 40],
        key_id: format!("key-{byte}"),
    }
}

async fn credentials_keep_their_secret_as_sealed_and_change_by_version(store: SharedStore) {
    let id = CredentialId::new();
    let community = store
        .create_credential(
            id,
            "lab community",
            CredentialKind::SnmpCommunity,
            "lab",
            &sealed(1),
        )
        .await
        .unwrap();
    assert_eq!((community.id, community.version), (id, 1));
    assert_eq!(community.kind, CredentialKind::SnmpCommunity);
    assert_eq!(store.get_credential(id).await.unwrap(), community);
    let (meta, secret) = store.sealed_credential(id).await.unwrap();
    assert_eq!((meta, secret), (community.clone(), sealed(1)));

    let err = store
        .create_credential(
            CredentialId::new(),
            "lab community",
            CredentialKind::HttpBearer,
            "",
            &sealed(2),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "credential named \"lab community\"".into()
        }
    );
    let bad_nonce = SealedSecret {
        nonce: vec![0; 3],
        ..sealed(3)
    };
    assert!(matches!(
        store
            .create_credential(
                CredentialId::new(),
                "bad",
                CredentialKind::SshKey,
                "",
                &bad_nonce
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));

    let other = store
        .create_credential(
            CredentialId::new(),
            "api",
            CredentialKind::HttpBearer,
            "",
            &sealed(4),
        )
        .await
        .unwrap();
    let names: Vec<_> = store
        .list_credentials()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["api", "lab community"]);
    let mut by_id = store
        .credentials_by_id(&[id, other.id, CredentialId::new()])
        .await
        .unwrap();
    by_id.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(by_id, vec![other.clone(), community.clone()]);

    let renamed = store
        .update_credential(
            id,
            Some(1),
            &CredentialChange {
                name: Some("core community".into()),
                ..CredentialChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.version, renamed.name.as_str()),
        (2, "core community")
    );
    assert_eq!(renamed.secret_updated_at, community.secret_updated_at);
    let rotated = store
        .update_credential(
            id,
            None,
            &CredentialChange {
                secret: Some(sealed(9)),
                ..CredentialChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rotated.version, 3);
    assert!(rotated.secret_updated_at > community.secret_updated_at);
    assert_eq!(store.sealed_credential(id).await.unwrap().1, sealed(9));

    let stale = store
        .update_credential(id, Some(1), &CredentialChange::default())
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    let clash = store
        .update_credential(
            id,
            None,
            &CredentialChange {
                name: Some("api".into()),
                ..CredentialChange::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        clash,
        StoreError::AlreadyExists {
            what: "credential named \"api\"".into()
        }
    );
    let unknown = CredentialId::new();
    for err in [
        store.get_credential(unknown).await.unwrap_err(),
        store.sealed_credential(unknown).await.unwrap_err(),
        store
            .update_credential(unknown, None, &CredentialChange::default())
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            err,
            StoreError::NotFound {
                what: format!("credential {unknown}")
            }
        );
    }
}

async fn a_credential_a_job_uses_cannot_be_deleted(store: SharedStore) {
    let id = CredentialId::new();
    store
        .create_credential(id, "ssh", CredentialKind::SshPassword, "", &sealed(1))
        .await
        .unwrap();
    let mut spec = job_spec("show version");
    spec.actions[0].credential = Some(id);
    let job = store.create_job(&spec).await.unwrap();
    store.create_job(&job_spec("unrelated")).await.unwrap();

    assert_eq!(
        store.delete_credential(id, Some(1)).await.unwrap(),
        CredentialDeletion::InUse {
            jobs: vec!["show version".into()]
        }
    );
    assert_eq!(
        store.delete_credential(id, Some(5)).await.unwrap(),
        CredentialDeletion::StaleVersion { current: 1 }
    );
    store.delete_job(job.id, None).await.unwrap();
    assert_eq!(
        store.delete_credential(id, Some(1)).await.unwrap(),
        CredentialDeletion::Deleted
    );
    assert!(matches!(
        store.delete_credential(id, None).await,
        Err(StoreError::NotFound { .. })
    ));
}
