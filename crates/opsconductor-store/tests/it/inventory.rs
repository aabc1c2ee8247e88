//! The device inventory, device groups and scans.

use chrono::Utc;
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::inventory::{Attributes, GroupSpec, ScanCounts, ScanSpec};
use opsconductor_store::prelude::*;
use opsconductor_store::{
    DeviceUpdate, ImportedDevice, NewScan, ObservedDevice, ScanFinish, ScanState, StoreError,
};
use serde_json::json;
use uuid::Uuid;

on_both_backends!(
    a_finished_scan_writes_its_snapshot_and_devices_once,
    imports_tags_and_operator_fields_survive_scans,
    groups_are_created_renamed_at_their_version_and_deleted,
);

fn spec(range: &str) -> ScanSpec {
    serde_json::from_value(json!({
        "targets": {"include": [{"type": "range", "value": range}]},
        "profile": {"tcp_ports": [22]}
    }))
    .unwrap()
}

fn host(address: &str, sys_name: Option<&str>, ports: &[u16]) -> ObservedDevice {
    ObservedDevice {
        address: address.to_owned(),
        hostname: sys_name.map(str::to_owned),
        segment: Some("default".to_owned()),
        attributes: Attributes {
            sys_name: sys_name.map(str::to_owned),
            open_ports: ports.to_vec(),
            ..Attributes::default()
        },
    }
}

async fn start(store: &SharedStore, range: &str) -> Uuid {
    let id = Uuid::now_v7();
    let scan = store
        .create_scan(&NewScan {
            id,
            run_id: RunId::new(),
            job_id: JobId::new(),
            spec: spec(range),
            created_by: Some("ops".to_owned()),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(scan.state, ScanState::Running);
    assert_eq!(scan.label, range);
    id
}

fn finish(id: Uuid, hosts: Vec<ObservedDevice>, previous: Option<Uuid>) -> ScanFinish {
    ScanFinish {
        id,
        state: ScanState::Completed,
        counts: ScanCounts {
            probed: 10,
            alive: hosts.len() as u64,
            ..ScanCounts::default()
        },
        previous_scan_id: previous,
        reason: None,
        hosts,
        finished_at: Utc::now(),
    }
}

async fn a_finished_scan_writes_its_snapshot_and_devices_once(store: SharedStore) {
    let first = start(&store, "10.0.0.0/28").await;
    assert_eq!(store.running_scans().await.unwrap().len(), 1);
    let hosts = vec![
        host("10.0.0.10", Some("sw-10"), &[22]),
        host("10.0.0.2", None, &[]),
        host("10.0.0.9", None, &[80]),
    ];
    assert!(
        store
            .finish_scan(&finish(first, hosts.clone(), None))
            .await
            .unwrap()
    );
    // A second replica finishing the same scan writes nothing.
    assert!(
        !store
            .finish_scan(&finish(first, vec![], None))
            .await
            .unwrap()
    );
    let scan = store.get_scan(first).await.unwrap();
    assert_eq!(scan.state, ScanState::Completed);
    assert_eq!(scan.counts.alive, 3);
    assert!(store.running_scans().await.unwrap().is_empty());

    let snapshot = store.scan_hosts(first).await.unwrap();
    assert_eq!(snapshot.len(), 3);
    assert_eq!(snapshot["10.0.0.10"].open_ports, [22]);

    // Numeric address order, keyset pages.
    let addresses = |devices: Vec<opsconductor_core::inventory::Device>| {
        devices.into_iter().map(|d| d.address).collect::<Vec<_>>()
    };
    assert_eq!(
        addresses(store.all_devices().await.unwrap()),
        ["10.0.0.2", "10.0.0.9", "10.0.0.10"]
    );
    assert_eq!(
        addresses(store.list_devices(Some("10.0.0.2"), 1).await.unwrap()),
        ["10.0.0.9"]
    );
    let device = store.get_device("10.0.0.10").await.unwrap();
    assert_eq!(device.hostname.as_deref(), Some("sw-10"));
    assert_eq!(device.last_scan_id, Some(first.to_string()));
    let first_seen = device.first_seen;

    // The next scan of the range finds the previous one and replaces what scans own.
    let second = start(&store, "10.0.0.0/28").await;
    let created_at = store.get_scan(second).await.unwrap().created_at;
    let previous = store
        .previous_scan(&spec("10.0.0.0/28").range_key(), created_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(previous.id, first);
    assert!(
        store
            .previous_scan(&spec("10.0.1.0/28").range_key(), created_at)
            .await
            .unwrap()
            .is_none(),
        "another range has no previous scan"
    );
    let later = vec![host("10.0.0.10", None, &[])];
    assert!(
        store
            .finish_scan(&finish(second, later, Some(first)))
            .await
            .unwrap()
    );
    let device = store.get_device("10.0.0.10").await.unwrap();
    assert_eq!(
        device.hostname.as_deref(),
        Some("sw-10"),
        "a learned name is kept"
    );
    assert!(device.attributes.open_ports.is_empty());
    assert_eq!(device.first_seen, first_seen);
    assert!(device.last_seen > first_seen);
    let listed = store.list_scans(None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [second, first]
    );
    let page = store
        .list_scans(Some((listed[0].created_at, listed[0].id)), 10)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|s| s.id).collect::<Vec<_>>(), [first]);
}

async fn imports_tags_and_operator_fields_survive_scans(store: SharedStore) {
    let imported = |address: &str, tags: &[&str]| ImportedDevice {
        address: address.to_owned(),
        hostname: Some(format!("h-{address}")),
        vendor: Some("Cisco".to_owned()),
        model: None,
        os: None,
        tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
        notes: Some("rack 4".to_owned()),
    };
    let (created, updated) = store
        .import_devices(
            &[
                imported("2001:db8::1", &["core"]),
                imported("10.1.0.1", &[]),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!((created, updated), (2, 0));
    assert_eq!(store.count_devices().await.unwrap(), 2);
    let (created, updated) = store
        .import_devices(&[imported("10.1.0.1", &["edge"])], Utc::now())
        .await
        .unwrap();
    assert_eq!((created, updated), (0, 1));
    assert_eq!(store.get_device("10.1.0.1").await.unwrap().tags, ["edge"]);
    assert_eq!(
        store.all_devices().await.unwrap()[0].address,
        "10.1.0.1",
        "IPv4 sorts before IPv6"
    );

    let tagged = store
        .tag_devices(
            &[
                "10.1.0.1".to_owned(),
                "2001:db8::1".to_owned(),
                "10.9.9.9".to_owned(),
            ],
            &["dc1".to_owned()],
            &["core".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(tagged, 2, "the unknown address is not counted");
    assert_eq!(store.get_device("2001:db8::1").await.unwrap().tags, ["dc1"]);
    assert_eq!(
        store.get_device("10.1.0.1").await.unwrap().tags,
        ["dc1", "edge"]
    );

    // A scan replaces what it learns and keeps tags and notes.
    let scan = start(&store, "10.1.0.0/24").await;
    assert!(
        store
            .finish_scan(&finish(
                scan,
                vec![host("10.1.0.1", Some("edge-1"), &[443])],
                None
            ))
            .await
            .unwrap()
    );
    let device = store.get_device("10.1.0.1").await.unwrap();
    assert_eq!(device.tags, ["dc1", "edge"]);
    assert_eq!(device.notes, "rack 4");
    assert_eq!(device.hostname.as_deref(), Some("edge-1"));
    assert_eq!(device.attributes.open_ports, [443]);

    let changed = store
        .update_device(
            "10.1.0.1",
            &DeviceUpdate {
                hostname: Some(None),
                tags: None,
                notes: Some("moved".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.hostname, None);
    assert_eq!(changed.notes, "moved");
    assert_eq!(changed.tags, ["dc1", "edge"]);
    assert!(matches!(
        store
            .update_device("10.7.7.7", &DeviceUpdate::default())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store
            .delete_devices(&["10.1.0.1".to_owned(), "10.7.7.7".to_owned()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.all_devices().await.unwrap().len(), 1);
}

async fn groups_are_created_renamed_at_their_version_and_deleted(store: SharedStore) {
    let core = GroupSpec {
        name: "core".to_owned(),
        description: "core switches".to_owned(),
        filter: Some("tag = core".to_owned()),
        members: Vec::new(),
    };
    let created = store.create_group(&core).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.spec, core);
    assert!(matches!(
        store.create_group(&core).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let lab = GroupSpec {
        name: "lab".to_owned(),
        description: String::new(),
        filter: None,
        members: vec!["10.0.0.0/30".to_owned(), "lab-gw".to_owned()],
    };
    store.create_group(&lab).await.unwrap();

    let renamed = GroupSpec {
        name: "core-switches".to_owned(),
        ..core.clone()
    };
    assert!(matches!(
        store.update_group("core", &renamed, Some(7)).await,
        Err(StoreError::Conflict { .. })
    ));
    let updated = store.update_group("core", &renamed, Some(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    assert!(matches!(
        store.get_group("core").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.update_group("lab", &renamed, None).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let names: Vec<String> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.spec.name)
        .collect();
    assert_eq!(names, ["core-switches", "lab"]);
    assert_eq!(
        store.get_group("lab").await.unwrap().spec.members,
        lab.members
    );
    store.delete_group("lab").await.unwrap();
    assert!(matches!(
        store.delete_group("lab").await,
        Err(StoreError::NotFound { .. })
    ));
}
