//! Job templates and the settings document.

use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use serde_json::json;
use uuid::Uuid;

use crate::job_spec;

on_both_backends!(
    templates_are_saved_replaced_listed_and_deleted,
    settings_change_only_at_the_version_they_were_read,
);

async fn templates_are_saved_replaced_listed_and_deleted(store: SharedStore) {
    let ping = store
        .save_template("ping sweep", "every host", &job_spec("ping"), false)
        .await
        .unwrap();
    assert_eq!(ping.name, "ping sweep");
    assert_eq!(ping.spec, job_spec("ping"));
    assert_eq!(store.get_template(ping.id).await.unwrap(), ping);

    let err = store
        .save_template("ping sweep", "again", &job_spec("ping"), false)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "template named \"ping sweep\"".into()
        }
    );
    let replaced = store
        .save_template("ping sweep", "replaced", &job_spec("ping 2"), true)
        .await
        .unwrap();
    assert_eq!(replaced.id, ping.id, "replacing keeps the template");
    assert_eq!(replaced.description, "replaced");
    assert_eq!(replaced.created_at, ping.created_at);
    assert_eq!(replaced.spec.name, "ping 2");

    store
        .save_template("arp", "", &job_spec("arp"), false)
        .await
        .unwrap();
    store
        .save_template("zeta", "", &job_spec("z"), false)
        .await
        .unwrap();
    let names = |templates: Vec<opsconductor_store::JobTemplate>| {
        templates.into_iter().map(|t| t.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_templates(None, 2).await.unwrap()),
        ["arp", "ping sweep"]
    );
    assert_eq!(
        names(store.list_templates(Some("ping sweep"), 2).await.unwrap()),
        ["zeta"]
    );

    store.delete_template(ping.id).await.unwrap();
    for err in [
        store.get_template(ping.id).await.unwrap_err(),
        store.delete_template(ping.id).await.unwrap_err(),
    ] {
        assert_eq!(
            err,
            StoreError::NotFound {
                what: format!("template {}", ping.id)
            }
        );
    }
    assert!(matches!(
        store.get_template(Uuid::now_v7()).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn settings_change_only_at_the_version_they_were_read(store: SharedStore) {
    assert_eq!(store.get_settings().await.unwrap(), None);
    let first = json!({"retention_days": 30});
    let stored = store.put_settings(Some(0), &first).await.unwrap();
    assert_eq!((stored.version, &stored.document), (1, &first));
    assert_eq!(store.get_settings().await.unwrap(), Some(stored.clone()));

    let conflict = store.put_settings(Some(0), &first).await.unwrap_err();
    assert!(
        matches!(conflict, StoreError::Conflict { .. }),
        "written already: {conflict:?}"
    );
    let second = json!({"retention_days": 7});
    let stored = store.put_settings(Some(1), &second).await.unwrap();
    assert_eq!(stored.version, 2);
    assert!(matches!(
        store.put_settings(Some(1), &second).await,
        Err(StoreError::Conflict { .. })
    ));
    let third = json!({"retention_days": 1, "nested": {"list": [1, 2]}});
    let stored = store.put_settings(None, &third).await.unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(store.get_settings().await.unwrap().unwrap().document, third);
}
