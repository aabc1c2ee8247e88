//! The audit log: appended, read back newest first with filters and a cursor.

use chrono::Utc;
use opsconductor_store::prelude::*;
use opsconductor_store::{AuditFilter, NewAuditEntry};
use serde_json::json;
use uuid::Uuid;

on_both_backends!(audit_entries_come_back_newest_first_filtered_and_paged);

fn entry(actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor_kind: "user".into(),
        actor_id: Some(Uuid::now_v7()),
        actor_name: actor.into(),
        action: action.into(),
        target_kind: action.split('.').next().unwrap().into(),
        target_id: target.into(),
        summary: json!({"name": target, "version": 2}),
        address: Some("192.0.2.7".into()),
    }
}

async fn audit_entries_come_back_newest_first_filtered_and_paged(store: SharedStore) {
    let before = Utc::now() - chrono::Duration::seconds(1);
    let written = [
        entry("alice", "job.create", "j1"),
        entry("bob", "job.update", "j1"),
        entry("alice", "user.create", "u1"),
        entry("alice", "api_token.create", "t1"),
        entry("bob", "job.delete", "j1"),
    ];
    for e in &written {
        store.record_audit(e).await.unwrap();
    }
    let actions = |entries: &[opsconductor_store::AuditEntry]| {
        entries.iter().map(|e| e.action.clone()).collect::<Vec<_>>()
    };

    let all = store
        .list_audit(&AuditFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        actions(&all),
        [
            "job.delete",
            "api_token.create",
            "user.create",
            "job.update",
            "job.create"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(all[4].actor_id, written[0].actor_id);
    assert_eq!(all[4].summary, written[0].summary);
    assert_eq!(all[4].address.as_deref(), Some("192.0.2.7"));
    assert!(all[4].at >= before);

    let filter = |f: AuditFilter| {
        let store = store.clone();
        async move { actions(&store.list_audit(&f, 100).await.unwrap()) }
    };
    assert_eq!(
        filter(AuditFilter {
            action: Some("job.".into()),
            ..AuditFilter::default()
        })
        .await,
        ["job.delete", "job.update", "job.create"]
    );
    assert_eq!(
        filter(AuditFilter {
            action: Some("api_token.".into()),
            ..AuditFilter::default()
        })
        .await,
        ["api_token.create"]
    );
    assert_eq!(
        filter(AuditFilter {
            action: Some("job.update".into()),
            ..AuditFilter::default()
        })
        .await,
        ["job.update"]
    );
    assert_eq!(
        filter(AuditFilter {
            actor: Some("bob".into()),
            target_kind: Some("job".into()),
            target_id: Some("j1".into()),
            ..AuditFilter::default()
        })
        .await,
        ["job.delete", "job.update"]
    );
    assert!(
        filter(AuditFilter {
            since: Some(Utc::now() + chrono::Duration::seconds(5)),
            ..AuditFilter::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        filter(AuditFilter {
            since: Some(before),
            until: Some(Utc::now() + chrono::Duration::seconds(5)),
            ..AuditFilter::default()
        })
        .await
        .len(),
        5
    );

    let first_page = store.list_audit(&AuditFilter::default(), 2).await.unwrap();
    assert_eq!(actions(&first_page), ["job.delete", "api_token.create"]);
    let next = store
        .list_audit(
            &AuditFilter {
                before_id: Some(first_page[1].id),
                ..AuditFilter::default()
            },
            2,
        )
        .await
        .unwrap();
    assert_eq!(actions(&next), ["user.create", "job.update"]);
}
