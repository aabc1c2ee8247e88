//! User library entries and the jobs that use them.

use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use serde_json::json;

use crate::job_spec;

on_both_backends!(
    library_entries_are_put_replaced_stamped_and_deleted,
    jobs_using_a_library_entry_are_named
);

async fn library_entries_are_put_replaced_stamped_and_deleted(store: SharedStore) {
    let empty = store.library_stamp().await.unwrap();
    assert_eq!((empty.count, empty.latest), (0, None));
    let probe = json!({"id": "lab.probe", "kind": "tcp", "params": {"port": 22}});
    store
        .put_library_entry("commands", "lab.probe", &probe)
        .await
        .unwrap();
    store
        .put_library_entry("parsers", "lab.parse", &json!({"id": "lab.parse"}))
        .await
        .unwrap();
    let stamp = store.library_stamp().await.unwrap();
    assert_eq!(stamp.count, 2);
    assert!(stamp.latest.is_some());

    let changed = json!({"id": "lab.probe", "kind": "tcp", "params": {"port": 2222}});
    store
        .put_library_entry("commands", "lab.probe", &changed)
        .await
        .unwrap();
    let restamped = store.library_stamp().await.unwrap();
    assert_eq!(restamped.count, 2);
    assert_ne!(restamped, stamp, "a replaced entry changes the stamp");

    let entries = store.library_entries().await.unwrap();
    let keys: Vec<_> = entries
        .iter()
        .map(|e| (e.kind.as_str(), e.id.as_str()))
        .collect();
    assert_eq!(keys, [("commands", "lab.probe"), ("parsers", "lab.parse")]);
    assert_eq!(entries[0].document, changed);

    let err = store
        .put_library_entry("widgets", "x", &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");

    store
        .delete_library_entry("commands", "lab.probe")
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_library_entry("commands", "lab.probe")
            .await
            .unwrap_err(),
        StoreError::NotFound {
            what: "user library entry commands/lab.probe".into()
        }
    );
    assert_eq!(store.library_stamp().await.unwrap().count, 1);
}

async fn jobs_using_a_library_entry_are_named(store: SharedStore) {
    let mut uses_both = job_spec("uses both");
    uses_both.actions = serde_json::from_value(json!([
        {"command": "ping.icmp"},
        {"command": "lab.probe", "parsers": ["lab.parse", "other"]}
    ]))
    .unwrap();
    store.create_job(&uses_both).await.unwrap();
    uses_both.name = "pings only".into();
    uses_both.actions.truncate(1);
    store.create_job(&uses_both).await.unwrap();
    store.create_job(&job_spec("unrelated")).await.unwrap();

    let commands = store
        .jobs_using_library_entry("commands", "lab.probe")
        .await
        .unwrap();
    assert_eq!(commands, ["uses both"]);
    let pings = store
        .jobs_using_library_entry("commands", "ping.icmp")
        .await
        .unwrap();
    assert_eq!(pings, ["pings only", "unrelated", "uses both"]);
    let parsers = store
        .jobs_using_library_entry("parsers", "lab.parse")
        .await
        .unwrap();
    assert_eq!(parsers, ["uses both"]);
    assert!(
        store
            .jobs_using_library_entry("parsers", "lab")
            .await
            .unwrap()
            .is_empty(),
        "whole ids only"
    );
    assert!(
        store
            .jobs_using_library_entry("target_sources", "lab.probe")
            .await
            .unwrap()
            .is_empty()
    );
}
