//! Users, login sessions with rotating refresh tokens, API tokens and failed logins.

use std::time::Duration;

use chrono::Utc;
use opsconductor_core::access::Role;
use opsconductor_core::ids::{ApiTokenId, SessionId, UserId};
use opsconductor_store::prelude::*;
use opsconductor_store::{
    NewApiToken, NewSession, RefreshOutcome, StoreError, UserChange, UserRecord, UserUpdate,
};

on_both_backends!(
    user_names_are_unique_regardless_of_case,
    a_user_changes_only_at_the_version_it_was_read,
    the_last_enabled_admin_stays,
    a_refresh_token_works_once_and_its_reuse_ends_the_session,
    a_new_password_or_disabling_ends_every_session,
    api_tokens_work_until_revoked_or_expired,
    failed_logins_are_counted_per_key_within_a_window,
);

async fn user(store: &dyn Store, name: &str, role: Role) -> UserRecord {
    store
        .create_user(
            UserId::new(),
            name,
            &format!("{name} (display)"),
            role,
            "hash",
        )
        .await
        .unwrap()
}

fn new_session(user: UserId, refresh: &[u8]) -> NewSession {
    NewSession {
        id: SessionId::new(),
        user,
        refresh_hash: refresh.to_vec(),
        refresh_expires_at: Utc::now() + chrono::Duration::hours(1),
        expires_at: Utc::now() + chrono::Duration::hours(8),
        address: Some("192.0.2.1".into()),
        user_agent: "test".into(),
    }
}

async fn user_names_are_unique_regardless_of_case(store: SharedStore) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = user(&*store, "Alice", Role::Admin).await;
    assert_eq!(alice.version, 1);
    assert!(!alice.disabled);
    assert_eq!(alice.last_login_at, None);
    assert_eq!(store.get_user(alice.id).await.unwrap(), alice);

    let err = store
        .create_user(UserId::new(), "alice", "", Role::Viewer, "h")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "user \"alice\"".into()
        }
    );
    let (found, hash) = store.user_for_login("ALICE").await.unwrap().unwrap();
    assert_eq!(found, alice);
    assert_eq!(hash, "hash");
    assert_eq!(store.password_hash(alice.id).await.unwrap(), "hash");
    assert!(store.user_for_login("bob").await.unwrap().is_none());

    user(&*store, "bob", Role::Viewer).await;
    user(&*store, "Carol", Role::Operator).await;
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["Alice", "bob", "Carol"], "by name, any case");
    assert_eq!(store.count_users().await.unwrap(), 3);

    let unknown = UserId::new();
    assert_eq!(
        store.get_user(unknown).await.unwrap_err(),
        StoreError::NotFound {
            what: format!("user {unknown}")
        }
    );
    assert!(matches!(
        store.password_hash(unknown).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_user_changes_only_at_the_version_it_was_read(store: SharedStore) {
    let bob = user(&*store, "bob", Role::Viewer).await;
    let change = UserChange {
        display_name: Some("Robert".into()),
        role: Some(Role::Operator),
        ..UserChange::default()
    };
    let UserUpdate::Updated { before, after } =
        store.update_user(bob.id, Some(1), &change).await.unwrap()
    else {
        panic!("the first change applies")
    };
    assert_eq!(*before, bob);
    assert_eq!(after.display_name, "Robert");
    assert_eq!(after.role, Role::Operator);
    assert_eq!(after.version, 2);
    assert_eq!(after.password_changed_at, bob.password_changed_at);

    assert_eq!(
        store.update_user(bob.id, Some(1), &change).await.unwrap(),
        UserUpdate::StaleVersion { current: 2 }
    );
    let unknown = UserId::new();
    assert!(matches!(
        store.update_user(unknown, None, &change).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn the_last_enabled_admin_stays(store: SharedStore) {
    let root = user(&*store, "root", Role::Admin).await;
    let demote = UserChange {
        role: Some(Role::Viewer),
        ..UserChange::default()
    };
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    for change in [&demote, &disable] {
        let err = store.update_user(root.id, None, change).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    }
    assert!(matches!(
        store.delete_user(root.id).await,
        Err(StoreError::Conflict { .. })
    ));

    let second = user(&*store, "second", Role::Admin).await;
    store.update_user(root.id, None, &disable).await.unwrap();
    assert!(
        matches!(
            store.delete_user(second.id).await,
            Err(StoreError::Conflict { .. })
        ),
        "the disabled admin does not count"
    );
    let deleted = store.delete_user(root.id).await.unwrap();
    assert_eq!(deleted.username, "root");
    assert!(matches!(
        store.get_user(root.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_refresh_token_works_once_and_its_reuse_ends_the_session(store: SharedStore) {
    let alice = user(&*store, "alice", Role::Operator).await;
    let login = new_session(alice.id, b"refresh-1");
    store.create_session(&login).await.unwrap();
    assert!(
        store
            .get_user(alice.id)
            .await
            .unwrap()
            .last_login_at
            .is_some()
    );
    let active = store.active_session(login.id).await.unwrap().unwrap();
    assert_eq!(active.id, login.id);
    assert_eq!(active.user.id, alice.id);
    let listed = store.list_sessions(alice.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].address.as_deref(), Some("192.0.2.1"));

    let later = Utc::now() + chrono::Duration::hours(1);
    let RefreshOutcome::Rotated { session, user } = store
        .rotate_refresh_token(b"refresh-1", b"refresh-2", later)
        .await
        .unwrap()
    else {
        panic!("a fresh token rotates")
    };
    assert_eq!((session, user.id), (login.id, alice.id));
    assert_eq!(
        store
            .rotate_refresh_token(b"unknown", b"refresh-x", later)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"refresh-1", b"refresh-3", later)
            .await
            .unwrap(),
        RefreshOutcome::Reused {
            session: login.id,
            user: alice.id
        }
    );
    assert!(store.active_session(login.id).await.unwrap().is_none());
    assert_eq!(
        store
            .rotate_refresh_token(b"refresh-2", b"refresh-4", later)
            .await
            .unwrap(),
        RefreshOutcome::Invalid,
        "the whole session ended"
    );

    let other = new_session(alice.id, b"other-1");
    store.create_session(&other).await.unwrap();
    let stranger = UserId::new();
    assert!(
        !store
            .revoke_session(other.id, stranger, "no")
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_session(other.id, alice.id, "logout")
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(other.id, alice.id, "again")
            .await
            .unwrap()
    );
    assert!(store.list_sessions(alice.id).await.unwrap().is_empty());
}

async fn a_new_password_or_disabling_ends_every_session(store: SharedStore) {
    user(&*store, "root", Role::Admin).await;
    let bob = user(&*store, "bob", Role::Viewer).await;
    let first = new_session(bob.id, b"a");
    store.create_session(&first).await.unwrap();
    let change = UserChange {
        password_hash: Some("new hash".into()),
        ..UserChange::default()
    };
    let UserUpdate::Updated { after, .. } = store.update_user(bob.id, None, &change).await.unwrap()
    else {
        panic!("applies")
    };
    assert!(after.password_changed_at > bob.password_changed_at);
    assert_eq!(store.password_hash(bob.id).await.unwrap(), "new hash");
    assert!(store.active_session(first.id).await.unwrap().is_none());

    let second = new_session(bob.id, b"b");
    store.create_session(&second).await.unwrap();
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store.update_user(bob.id, None, &disable).await.unwrap();
    assert!(store.active_session(second.id).await.unwrap().is_none());
}

fn token(user: UserId, name: &str, hash: &[u8]) -> NewApiToken {
    NewApiToken {
        id: ApiTokenId::new(),
        user,
        name: name.into(),
        role: Role::Operator,
        token_hash: hash.to_vec(),
        prefix: "oct_abcd".into(),
        expires_at: None,
    }
}

async fn api_tokens_work_until_revoked_or_expired(store: SharedStore) {
    let alice = user(&*store, "alice", Role::Admin).await;
    let bob = user(&*store, "bob", Role::Operator).await;
    let ci = store
        .create_api_token(&token(alice.id, "ci", b"t1"))
        .await
        .unwrap();
    assert_eq!(ci.username, "alice");
    assert_eq!(ci.last_used_at, None);
    let err = store
        .create_api_token(&token(alice.id, "ci", b"t2"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "API token \"ci\"".into()
        }
    );
    store
        .create_api_token(&token(bob.id, "ci", b"t3"))
        .await
        .unwrap();
    let mut expired = token(bob.id, "old", b"t4");
    expired.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
    store.create_api_token(&expired).await.unwrap();

    assert_eq!(store.list_api_tokens(None).await.unwrap().len(), 3);
    let alices = store.list_api_tokens(Some(alice.id)).await.unwrap();
    assert_eq!(alices, vec![ci.clone()]);

    let (used, owner) = store.active_api_token(b"t1").await.unwrap().unwrap();
    assert_eq!((used.id, owner.id), (ci.id, alice.id));
    assert!(
        store
            .get_api_token(ci.id)
            .await
            .unwrap()
            .last_used_at
            .is_some(),
        "use is noted"
    );
    assert!(
        store.active_api_token(b"t4").await.unwrap().is_none(),
        "expired"
    );
    assert!(store.active_api_token(b"nope").await.unwrap().is_none());

    let revoked = store.revoke_api_token(ci.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        store.revoke_api_token(ci.id).await.unwrap().revoked_at,
        revoked.revoked_at,
        "revoking twice keeps the first time"
    );
    assert!(store.active_api_token(b"t1").await.unwrap().is_none());
    let unknown = ApiTokenId::new();
    assert_eq!(
        store.get_api_token(unknown).await.unwrap_err(),
        StoreError::NotFound {
            what: format!("API token {unknown}")
        }
    );

    // A disabled owner's tokens stop working; deleting the owner deletes them.
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store.update_user(bob.id, None, &disable).await.unwrap();
    assert!(store.active_api_token(b"t3").await.unwrap().is_none());
    store.delete_user(bob.id).await.unwrap();
    assert!(
        store
            .list_api_tokens(Some(bob.id))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn failed_logins_are_counted_per_key_within_a_window(store: SharedStore) {
    let keys = ["user:alice".to_owned(), "address:192.0.2.1".to_owned()];
    let keep = Duration::from_secs(3600);
    store.record_login_failure(&keys, keep).await.unwrap();
    store.record_login_failure(&keys[..1], keep).await.unwrap();

    let mut counts = store
        .login_failures(&keys, Duration::from_secs(600))
        .await
        .unwrap();
    counts.sort();
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (counts[0].0.as_str(), counts[0].1),
        ("address:192.0.2.1", 1)
    );
    assert_eq!((counts[1].0.as_str(), counts[1].1), ("user:alice", 2));
    assert!(counts[1].2 <= Utc::now());

    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        store
            .login_failures(&keys, Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty(),
        "outside the window"
    );
    // Recording prunes failures older than `keep`.
    store
        .record_login_failure(&["other".to_owned()], Duration::from_millis(10))
        .await
        .unwrap();
    assert!(
        store
            .login_failures(&keys, Duration::from_secs(600))
            .await
            .unwrap()
            .is_empty()
    );

    store.record_login_failure(&keys, keep).await.unwrap();
    store.clear_login_failures("user:alice").await.unwrap();
    let left = store
        .login_failures(&keys, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "address:192.0.2.1");
}
