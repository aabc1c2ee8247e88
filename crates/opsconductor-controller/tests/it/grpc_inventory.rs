//! The gRPC `InventoryService` against a real controller: devices imported (dry run, CSV,
//! JSON), listed with a filter, a search, a tag and pages, read and tagged; groups made
//! over REST listed and resolved over gRPC; a scan started, watched until it is cancelled,
//! and its diff. No agent runs, so a scan's run stays queued until the test cancels it.

use futures::StreamExt as _;
use opsconductor_proto::v1;
use opsconductor_proto::v1::inventory_service_client::InventoryServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tonic::Code;

use crate::grpc_api::{Authed, GrpcApp, assert_status, unknown_id};
use crate::helpers::WAIT;
use crate::rest::Http;

async fn inventory(app: &GrpcApp) -> InventoryServiceClient<Authed> {
    InventoryServiceClient::with_interceptor(app.channel().await, app.bearer())
}

fn csv_import(text: &str, dry_run: bool) -> v1::ImportDevicesRequest {
    v1::ImportDevicesRequest {
        text: text.to_owned(),
        format: "csv".to_owned(),
        dry_run,
    }
}

async fn list(
    client: &mut InventoryServiceClient<Authed>,
    request: v1::ListDevicesRequest,
) -> v1::ListDevicesResponse {
    client.list_devices(request).await.unwrap().into_inner()
}

fn addresses(page: &v1::ListDevicesResponse) -> Vec<&str> {
    page.devices.iter().map(|d| d.address.as_str()).collect()
}

const INVENTORY_CSV: &str = "\
address,hostname,vendor,tags
10.0.0.1,core-sw1,Cisco,core
10.0.0.2,edge-1,Juniper,edge
2001:DB8::1,v6-host,,core;v6
10.0.0.300,broken,,
";

#[tokio::test]
async fn grpc_devices_are_imported_listed_tagged_and_resolved_through_groups() {
    let app = GrpcApp::start().await;
    let mut client = inventory(&app).await;

    // A dry run reports and writes nothing.
    let dry = client
        .import_devices(csv_import(INVENTORY_CSV, true))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.dry_run);
    assert_eq!((dry.created, dry.updated, dry.rejected), (0, 0, 1));
    let everything = list(&mut client, v1::ListDevicesRequest::default()).await;
    assert_eq!(everything.total, 0);

    let report = client
        .import_devices(csv_import(INVENTORY_CSV, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.created, report.updated, report.rejected), (3, 0, 1));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].line, 5);
    assert_eq!(report.problems[0].field, "address");
    let json_import = client
        .import_devices(v1::ImportDevicesRequest {
            text: json!([{"address": "10.0.0.2", "notes": "rack 4"}]).to_string(),
            format: "json".to_owned(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((json_import.created, json_import.updated), (0, 1));

    // Listed in address order, filtered, searched, by tag and by page.
    let everything = list(&mut client, v1::ListDevicesRequest::default()).await;
    assert_eq!(everything.total, 3);
    assert_eq!(
        addresses(&everything),
        ["10.0.0.1", "10.0.0.2", "2001:db8::1"]
    );
    assert_eq!(everything.next_cursor, "");
    let cisco = list(
        &mut client,
        v1::ListDevicesRequest {
            filter: Some("vendor = \"Cisco\"".to_owned()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(cisco.total, 1);
    let device = &cisco.devices[0];
    assert_eq!(device.address, "10.0.0.1");
    assert_eq!(device.hostname.as_deref(), Some("core-sw1"));
    assert_eq!(device.tags, ["core"]);
    assert!(device.first_seen.is_some() && device.last_seen.is_some());
    let attributes: Value = serde_json::from_str(&device.attributes_json).unwrap();
    assert_eq!(attributes["vendor"], "Cisco");
    let core_v4 = list(
        &mut client,
        v1::ListDevicesRequest {
            filter: Some("tag = core and address in 10.0.0.0/8".to_owned()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(addresses(&core_v4), ["10.0.0.1"]);
    let searched = list(
        &mut client,
        v1::ListDevicesRequest {
            search: Some("EDGE".to_owned()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(addresses(&searched), ["10.0.0.2"]);
    let tagged = list(
        &mut client,
        v1::ListDevicesRequest {
            tag: Some("core".to_owned()),
            // Empty optional filters are no filters.
            filter: Some(String::new()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(addresses(&tagged), ["10.0.0.1", "2001:db8::1"]);
    let first = list(
        &mut client,
        v1::ListDevicesRequest {
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(addresses(&first), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(first.total, 3);
    assert!(!first.next_cursor.is_empty());
    let second = list(
        &mut client,
        v1::ListDevicesRequest {
            limit: 2,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(addresses(&second), ["2001:db8::1"]);
    assert_eq!(second.next_cursor, "");

    // A bad filter names `filter` and the column of the mistake.
    assert_status(
        client
            .list_devices(v1::ListDevicesRequest {
                filter: Some("vendor = ".to_owned()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["filter", "column"],
    );
    assert_status(
        client
            .list_devices(v1::ListDevicesRequest {
                limit: 10_001,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["limit"],
    );

    // One device, by any spelling of its address.
    let v6 = client
        .get_device(v1::GetDeviceRequest {
            address: "2001:DB8:0::1".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v6.address, "2001:db8::1");
    assert_eq!(v6.tags, ["core", "v6"]);
    let edge = client
        .get_device(v1::GetDeviceRequest {
            address: "10.0.0.2".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edge.notes, "rack 4");
    assert_status(
        client
            .get_device(v1::GetDeviceRequest {
                address: "10.9.9.9".to_owned(),
            })
            .await,
        Code::NotFound,
        &[],
    );
    assert_status(
        client
            .get_device(v1::GetDeviceRequest {
                address: "core-sw1".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        &["address"],
    );

    // Tags: devices not in the inventory are skipped; bad tags name the request field.
    let tagged = client
        .tag_devices(v1::TagDevicesRequest {
            addresses: vec!["10.0.0.1".to_owned(), "10.0.0.9".to_owned()],
            add_tags: vec!["lab".to_owned()],
            remove_tags: vec!["core".to_owned()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tagged.affected, 1);
    let core_sw = client
        .get_device(v1::GetDeviceRequest {
            address: "10.0.0.1".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(core_sw.tags, ["lab"]);
    assert_status(
        client
            .tag_devices(v1::TagDevicesRequest {
                addresses: vec!["10.0.0.1".to_owned()],
                add_tags: vec![" ".to_owned()],
                remove_tags: vec![],
            })
            .await,
        Code::InvalidArgument,
        &["add_tags[0]"],
    );
    assert_status(
        client
            .tag_devices(v1::TagDevicesRequest {
                addresses: vec!["nope".to_owned()],
                add_tags: vec!["x".to_owned()],
                remove_tags: vec![],
            })
            .await,
        Code::InvalidArgument,
        &["addresses[0]"],
    );

    // Imports that cannot be read at all name the request field and write nothing.
    assert_status(
        client
            .import_devices(v1::ImportDevicesRequest {
                text: INVENTORY_CSV.to_owned(),
                format: "xml".to_owned(),
                dry_run: false,
            })
            .await,
        Code::InvalidArgument,
        &["format"],
    );
    assert_status(
        client
            .import_devices(csv_import("host,vendor\nx,y\n", false))
            .await,
        Code::InvalidArgument,
        &["text"],
    );

    // Groups made over REST, listed and resolved over gRPC.
    let http = Http::new(&app.controller);
    for group in [
        json!({"name": "lab", "description": "lab gear", "filter": "tag = lab"}),
        json!({"name": "pair", "members": ["192.0.2.10", "192.0.2.11"]}),
    ] {
        let (status, body) = http.post("/api/v1/groups", group).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let groups = client
        .list_groups(v1::ListGroupsRequest {})
        .await
        .unwrap()
        .into_inner()
        .groups;
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["lab", "pair"]);
    assert_eq!(groups[0].kind(), v1::GroupKind::Dynamic);
    assert_eq!(groups[0].filter.as_deref(), Some("tag = lab"));
    assert_eq!(groups[0].description, "lab gear");
    assert_eq!(groups[0].member_count, 1);
    assert_eq!(groups[0].version, 1);
    assert_eq!(groups[1].kind(), v1::GroupKind::Static);
    assert_eq!(groups[1].members, ["192.0.2.10", "192.0.2.11"]);
    assert_eq!(groups[1].member_count, 2);

    let lab = client
        .resolve_group(v1::ResolveGroupRequest {
            name: "lab".to_owned(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lab.count, 1);
    assert_eq!(lab.members, ["10.0.0.1"]);
    let pair = client
        .resolve_group(v1::ResolveGroupRequest {
            name: "pair".to_owned(),
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pair.count, 2, "the count is every member");
    assert_eq!(pair.members, ["192.0.2.10"]);
    assert_status(
        client
            .resolve_group(v1::ResolveGroupRequest {
                name: "nope".to_owned(),
                limit: 0,
            })
            .await,
        Code::NotFound,
        &["nope"],
    );
    assert_status(
        client
            .resolve_group(v1::ResolveGroupRequest {
                name: "lab".to_owned(),
                limit: 10_001,
            })
            .await,
        Code::InvalidArgument,
        &["limit"],
    );
    app.stop().await;
}

/// A scan of four documentation addresses with a ping and one TCP probe each.
fn scan_request() -> Value {
    json!({
        "name": "grpc sweep",
        "targets": {"include": [{"type": "range", "value": "192.0.2.0/30"}]},
        "profile": {"tcp_ports": [22]},
    })
}

#[tokio::test]
async fn grpc_a_scan_is_started_watched_until_cancelled_and_its_diff_read() {
    let app = GrpcApp::start().await;
    let mut client = inventory(&app).await;

    // Bad requests name their field, relative to the scan request.
    assert_status(
        client
            .start_scan(v1::StartScanRequest {
                spec_json: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["spec_json"],
    );
    let mut bad = scan_request();
    bad["profile"]["tcp_ports"] = json!([0]);
    assert_status(
        client
            .start_scan(v1::StartScanRequest {
                spec_json: bad.to_string(),
            })
            .await,
        Code::InvalidArgument,
        &["profile.tcp_ports[0]"],
    );
    let mut unknown = scan_request();
    unknown["profile"]["telnet"] = json!(true);
    assert_status(
        client
            .start_scan(v1::StartScanRequest {
                spec_json: unknown.to_string(),
            })
            .await,
        Code::InvalidArgument,
        &["profile", "telnet"],
    );

    let scan = client
        .start_scan(v1::StartScanRequest {
            spec_json: scan_request().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scan.state(), v1::ScanState::Running);
    assert_eq!(scan.label, "grpc sweep");
    assert_eq!(scan.created_by.as_deref(), Some("admin"));
    assert!(scan.targets > 0);
    assert_eq!(scan.results_total, scan.targets * 2, "ping + tcp 22");
    assert_eq!(scan.results_done, 0);
    let spec: Value = serde_json::from_str(&scan.spec_json).unwrap();
    assert_eq!(spec["profile"]["ping"], true, "defaults filled in");
    assert!(scan.finished_at.is_none());

    let got = client
        .get_scan(v1::GetScanRequest {
            id: scan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, scan.id);
    assert_eq!(got.run_id, scan.run_id);
    let listed = client
        .list_scans(v1::ListScansRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.scans.len(), 1);
    assert_eq!(listed.scans[0].id, scan.id);
    assert_eq!(listed.next_cursor, "");

    // No diff while it runs.
    assert_status(
        client
            .get_scan_diff(v1::GetScanDiffRequest {
                id: scan.id.clone(),
            })
            .await,
        Code::FailedPrecondition,
        &["running"],
    );

    // The watch starts with the scan as it is and ends after it stopped running.
    let mut watch = client
        .watch_scan(v1::WatchScanRequest {
            id: scan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the first message in time")
        .expect("a first message")
        .unwrap()
        .scan
        .unwrap();
    assert_eq!(first.state(), v1::ScanState::Running);
    assert_eq!(first.id, scan.id);
    let cancelled = client
        .cancel_scan(v1::CancelScanRequest {
            id: scan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.id, scan.id);
    let mut last = first;
    while let Some(message) = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the watch ends in time")
    {
        let next = message.unwrap().scan.unwrap();
        assert_ne!(next, last, "only changes are sent");
        last = next;
    }
    assert_eq!(last.state(), v1::ScanState::Cancelled, "{last:?}");
    assert!(last.finished_at.is_some());
    assert_eq!(last.results_done, last.results_total);
    assert!(last.reason.is_some());

    // Ended: cancelling again is refused, the diff is there (nothing answered), and a
    // watch sends the final state once.
    assert_status(
        client
            .cancel_scan(v1::CancelScanRequest {
                id: scan.id.clone(),
            })
            .await,
        Code::FailedPrecondition,
        &["cancelled"],
    );
    let diff = client
        .get_scan_diff(v1::GetScanDiffRequest {
            id: scan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(diff.scan_id, scan.id);
    assert_eq!(diff.previous_scan_id, None);
    assert!(diff.new_hosts.is_empty() && diff.changed_hosts.is_empty());
    assert!(diff.gone_hosts.is_empty());
    let messages: Vec<_> = client
        .watch_scan(v1::WatchScanRequest {
            id: scan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].as_ref().unwrap().scan.as_ref().unwrap().state(),
        v1::ScanState::Cancelled
    );

    // Unknown and malformed ids.
    for id in [unknown_id(), "not-a-scan".to_owned()] {
        let code = if id.starts_with("not") {
            Code::InvalidArgument
        } else {
            Code::NotFound
        };
        assert_status(
            client.get_scan(v1::GetScanRequest { id: id.clone() }).await,
            code,
            &[],
        );
        assert_status(
            client
                .watch_scan(v1::WatchScanRequest { id: id.clone() })
                .await,
            code,
            &[],
        );
        assert_status(
            client
                .get_scan_diff(v1::GetScanDiffRequest { id: id.clone() })
                .await,
            code,
            &[],
        );
        assert_status(
            client.cancel_scan(v1::CancelScanRequest { id }).await,
            code,
            &[],
        );
    }
    assert_status(
        client
            .get_scan(v1::GetScanRequest {
                id: "not-a-scan".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        &["id"],
    );
    app.stop().await;
}
