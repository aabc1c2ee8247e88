//! Who may do what, checked on every door: each REST route, the WebSocket and each gRPC
//! client method, called as anonymous, viewer, operator, admin and with a revoked token.
//!
//! The expected roles are written out here, independently of the controller's policy
//! tables, and the test first checks that its table names every operation the served
//! OpenAPI document and the gRPC descriptors list — a new route without an entry fails
//! the test instead of going unchecked.

use opsconductor_store::prelude::*;
use std::collections::BTreeSet;

use opsconductor_controller::auth::tokens::token_hash;
use opsconductor_core::access::Role;
use opsconductor_proto::bearer::Bearer;
use opsconductor_proto::v1;
use opsconductor_proto::v1::fleet_service_client::FleetServiceClient;
use opsconductor_proto::v1::inventory_service_client::InventoryServiceClient;
use opsconductor_proto::v1::job_service_client::JobServiceClient;
use opsconductor_proto::v1::library_service_client::LibraryServiceClient;
use opsconductor_store::PgStore;
use opsconductor_store::testing::fresh_database;
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{RunningController, TestBroker, WAIT, api_token, controller_config};
use crate::rest::Http;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Revoked,
    As(Role),
}

const CALLERS: [Caller; 5] = [
    Caller::Anonymous,
    Caller::Revoked,
    Caller::As(Role::Viewer),
    Caller::As(Role::Operator),
    Caller::As(Role::Admin),
];

/// `None`: public.
type Needs = Option<Role>;
const PUBLIC: Needs = None;
const VIEWER: Needs = Some(Role::Viewer);
const OPERATOR: Needs = Some(Role::Operator);
const ADMIN: Needs = Some(Role::Admin);

/// Every REST route and the least role it needs.
const REST: &[(&str, &str, Needs)] = &[
    ("GET", "/healthz", PUBLIC),
    ("GET", "/readyz", PUBLIC),
    ("GET", "/metrics", PUBLIC),
    ("POST", "/api/v1/auth/login", PUBLIC),
    ("POST", "/api/v1/auth/refresh", PUBLIC),
    ("POST", "/api/v1/auth/logout", VIEWER),
    ("GET", "/api/v1/auth/me", VIEWER),
    ("POST", "/api/v1/auth/password", VIEWER),
    ("GET", "/api/v1/auth/sessions", VIEWER),
    ("DELETE", "/api/v1/auth/sessions/{id}", VIEWER),
    ("GET", "/api/v1/api-tokens", VIEWER),
    ("POST", "/api/v1/api-tokens", VIEWER),
    ("DELETE", "/api/v1/api-tokens/{id}", VIEWER),
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("GET", "/api/v1/users/{id}", ADMIN),
    ("PUT", "/api/v1/users/{id}", ADMIN),
    ("DELETE", "/api/v1/users/{id}", ADMIN),
    ("GET", "/api/v1/audit", ADMIN),
    ("GET", "/api/v1/jobs", VIEWER),
    ("POST", "/api/v1/jobs", OPERATOR),
    ("POST", "/api/v1/jobs/bulk", OPERATOR),
    ("POST", "/api/v1/jobs/validate", VIEWER),
    ("GET", "/api/v1/jobs/{id}", VIEWER),
    ("PUT", "/api/v1/jobs/{id}", OPERATOR),
    ("DELETE", "/api/v1/jobs/{id}", OPERATOR),
    ("POST", "/api/v1/jobs/{id}/clone", OPERATOR),
    ("POST", "/api/v1/jobs/{id}/disable", OPERATOR),
    ("POST", "/api/v1/jobs/{id}/enable", OPERATOR),
    ("POST", "/api/v1/jobs/{id}/runs", OPERATOR),
    ("GET", "/api/v1/jobs/{id}/series", VIEWER),
    ("GET", "/api/v1/runs", VIEWER),
    ("GET", "/api/v1/runs/{id}", VIEWER),
    ("POST", "/api/v1/runs/{id}/cancel", OPERATOR),
    ("GET", "/api/v1/results", VIEWER),
    ("GET", "/api/v1/results/export", VIEWER),
    ("GET", "/api/v1/library/commands", VIEWER),
    ("GET", "/api/v1/library/commands/{id}", VIEWER),
    ("GET", "/api/v1/library/parsers", VIEWER),
    ("GET", "/api/v1/library/target-sources", VIEWER),
    ("POST", "/api/v1/library/preview", VIEWER),
    ("POST", "/api/v1/library/parsers/test", VIEWER),
    ("POST", "/api/v1/library/dry-run", OPERATOR),
    ("GET", "/api/v1/library/user-entries", VIEWER),
    ("PUT", "/api/v1/library/user-entries/{kind}/{id}", OPERATOR),
    (
        "DELETE",
        "/api/v1/library/user-entries/{kind}/{id}",
        OPERATOR,
    ),
    ("POST", "/api/v1/targets/preview", VIEWER),
    ("GET", "/api/v1/templates", VIEWER),
    ("POST", "/api/v1/templates", OPERATOR),
    ("POST", "/api/v1/templates/import", OPERATOR),
    ("GET", "/api/v1/templates/{id}", VIEWER),
    ("DELETE", "/api/v1/templates/{id}", OPERATOR),
    ("GET", "/api/v1/templates/{id}/export", VIEWER),
    ("GET", "/api/v1/segments", VIEWER),
    ("GET", "/api/v1/segments/{name}", VIEWER),
    ("PUT", "/api/v1/segments/{name}", ADMIN),
    ("DELETE", "/api/v1/segments/{name}", ADMIN),
    ("GET", "/api/v1/agents", VIEWER),
    ("GET", "/api/v1/agents/{id}", VIEWER),
    ("POST", "/api/v1/agents/{id}/revoke", ADMIN),
    ("POST", "/api/v1/enrollment-tokens", ADMIN),
    ("GET", "/api/v1/settings", VIEWER),
    ("PUT", "/api/v1/settings", ADMIN),
    ("GET", "/api/v1/ssh-host-keys", VIEWER),
    ("DELETE", "/api/v1/ssh-host-keys/{id}", ADMIN),
    ("GET", "/api/v1/credentials", VIEWER),
    ("POST", "/api/v1/credentials", ADMIN),
    ("GET", "/api/v1/credentials/{id}", VIEWER),
    ("PUT", "/api/v1/credentials/{id}", ADMIN),
    ("DELETE", "/api/v1/credentials/{id}", ADMIN),
    ("GET", "/api/v1/scans", VIEWER),
    ("POST", "/api/v1/scans", OPERATOR),
    ("GET", "/api/v1/scans/{id}", VIEWER),
    ("POST", "/api/v1/scans/{id}/cancel", OPERATOR),
    ("GET", "/api/v1/scans/{id}/diff", VIEWER),
    ("GET", "/api/v1/devices", VIEWER),
    ("POST", "/api/v1/devices/bulk", OPERATOR),
    ("POST", "/api/v1/devices/import", OPERATOR),
    ("GET", "/api/v1/devices/export", VIEWER),
    ("GET", "/api/v1/devices/{address}", VIEWER),
    ("PATCH", "/api/v1/devices/{address}", OPERATOR),
    ("DELETE", "/api/v1/devices/{address}", OPERATOR),
    ("GET", "/api/v1/groups", VIEWER),
    ("POST", "/api/v1/groups", OPERATOR),
    ("POST", "/api/v1/groups/preview", VIEWER),
    ("GET", "/api/v1/groups/{name}", VIEWER),
    ("PUT", "/api/v1/groups/{name}", OPERATOR),
    ("DELETE", "/api/v1/groups/{name}", OPERATOR),
    ("GET", "/api/v1/groups/{name}/members", VIEWER),
];

/// Every gRPC client method and the least role it needs.
const GRPC: &[(&str, Role)] = &[
    ("JobService/CreateJob", Role::Operator),
    ("JobService/GetJob", Role::Viewer),
    ("JobService/ListJobs", Role::Viewer),
    ("JobService/UpdateJob", Role::Operator),
    ("JobService/DeleteJob", Role::Operator),
    ("JobService/CloneJob", Role::Operator),
    ("JobService/SetJobEnabled", Role::Operator),
    ("JobService/RunJob", Role::Operator),
    ("JobService/GetRun", Role::Viewer),
    ("JobService/ListRuns", Role::Viewer),
    ("JobService/CancelRun", Role::Operator),
    ("JobService/ListResults", Role::Viewer),
    ("JobService/WatchRun", Role::Viewer),
    ("LibraryService/ListCommands", Role::Viewer),
    ("LibraryService/ListParsers", Role::Viewer),
    ("LibraryService/ListTargetSources", Role::Viewer),
    ("LibraryService/PreviewCommand", Role::Viewer),
    ("LibraryService/TestParser", Role::Viewer),
    ("LibraryService/ValidateJob", Role::Viewer),
    ("FleetService/ListAgents", Role::Viewer),
    ("InventoryService/StartScan", Role::Operator),
    ("InventoryService/GetScan", Role::Viewer),
    ("InventoryService/ListScans", Role::Viewer),
    ("InventoryService/CancelScan", Role::Operator),
    ("InventoryService/GetScanDiff", Role::Viewer),
    ("InventoryService/WatchScan", Role::Viewer),
    ("InventoryService/ListDevices", Role::Viewer),
    ("InventoryService/GetDevice", Role::Viewer),
    ("InventoryService/TagDevices", Role::Operator),
    ("InventoryService/ImportDevices", Role::Operator),
    ("InventoryService/ListGroups", Role::Viewer),
    ("InventoryService/ResolveGroup", Role::Viewer),
];

/// A controller with a viewer and an operator besides its admin.
struct Fixture {
    controller: RunningController,
    store: PgStore,
    _db: opsconductor_store::testing::TestDb,
    _broker: TestBroker,
}

impl Fixture {
    async fn start() -> Self {
        let (store, db) = fresh_database().await;
        let broker = TestBroker::new();
        let controller = RunningController::start(controller_config(&db, &broker)).await;
        let admin = Http::new(&controller);
        for (name, role) in [("vera", "viewer"), ("otto", "operator")] {
            let (status, body) = admin
                .post(
                    "/api/v1/users",
                    json!({"username": name, "role": role, "password": "a long test password"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        Self {
            controller,
            store,
            _db: db,
            _broker: broker,
        }
    }

    /// A fresh token for `caller` (fresh, since some calls end the token they came with).
    async fn token(&self, caller: Caller) -> Option<String> {
        let user = |role| match role {
            Role::Viewer => "vera",
            Role::Operator => "otto",
            Role::Admin => "admin",
        };
        match caller {
            Caller::Anonymous => None,
            Caller::As(role) => Some(api_token(&self.store, user(role), role).await),
            Caller::Revoked => {
                let token = api_token(&self.store, "admin", Role::Admin).await;
                let (record, _) = self
                    .store
                    .active_api_token(&token_hash(&token))
                    .await
                    .unwrap()
                    .unwrap();
                let id = record.id;
                self.store.revoke_api_token(id).await.unwrap();
                Some(token)
            }
        }
    }
}

/// What `caller` must get from an operation that `needs`: `Ok(())` for "let through"
/// (any answer but 401/403), or the refusal.
fn expected(needs: Needs, caller: Caller) -> Result<(), StatusCode> {
    let Some(needed) = needs else {
        return Ok(());
    };
    match caller {
        Caller::Anonymous | Caller::Revoked => Err(StatusCode::UNAUTHORIZED),
        Caller::As(role) if role >= needed => Ok(()),
        Caller::As(_) => Err(StatusCode::FORBIDDEN),
    }
}

/// A concrete path for a route: ids are fresh UUIDs (so nothing real is touched).
fn concrete(route: &str) -> String {
    route
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{name}", "authz-test")
        .replace("{kind}", "commands")
        .replace("{address}", "192.0.2.1")
}

#[tokio::test]
async fn every_rest_route_answers_each_role_as_the_table_says() {
    let fx = Fixture::start().await;
    let admin = Http::new(&fx.controller);

    // The table covers every documented operation.
    let (_, doc) = admin.get("/api/openapi.json").await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "delete", "patch"].contains(&m.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = REST
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "operations without an expected role: {missing:?}"
    );

    let mut failures = Vec::new();
    for &(method, route, needs) in REST {
        for caller in CALLERS {
            let http = Http::with_token(&fx.controller, fx.token(caller).await.as_deref());
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let (status, _, answer) = http.call(method.clone(), &concrete(route), body).await;
            let ok = match expected(needs, caller) {
                Ok(()) => status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                Err(refusal) => status == refusal && answer["status"] == json!(refusal.as_u16()),
            };
            if !ok {
                failures.push(format!(
                    "{method} {route} as {caller:?}: got {status} {answer}, expected {:?}",
                    expected(needs, caller)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    fx.controller.stop().await;
}

/// Calls the gRPC method `name` with an empty request; the status code it ended with
/// (`Ok` included).
async fn call_grpc(channel: Channel, bearer: Bearer, name: &str) -> Code {
    let mut jobs = JobServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let mut library = LibraryServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let mut fleet = FleetServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let mut inventory = InventoryServiceClient::with_interceptor(channel, bearer);
    fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
        r.map_or_else(|s| s.code(), |_| Code::Ok)
    }
    match name {
        "JobService/CreateJob" => code(jobs.create_job(v1::CreateJobRequest::default()).await),
        "JobService/GetJob" => code(jobs.get_job(v1::GetJobRequest::default()).await),
        "JobService/ListJobs" => code(jobs.list_jobs(v1::ListJobsRequest::default()).await),
        "JobService/UpdateJob" => code(jobs.update_job(v1::UpdateJobRequest::default()).await),
        "JobService/DeleteJob" => code(jobs.delete_job(v1::DeleteJobRequest::default()).await),
        "JobService/CloneJob" => code(jobs.clone_job(v1::CloneJobRequest::default()).await),
        "JobService/SetJobEnabled" => code(
            jobs.set_job_enabled(v1::SetJobEnabledRequest::default())
                .await,
        ),
        "JobService/RunJob" => code(jobs.run_job(v1::RunJobRequest::default()).await),
        "JobService/GetRun" => code(jobs.get_run(v1::GetRunRequest::default()).await),
        "JobService/ListRuns" => code(jobs.list_runs(v1::ListRunsRequest::default()).await),
        "JobService/CancelRun" => code(jobs.cancel_run(v1::CancelRunRequest::default()).await),
        "JobService/ListResults" => {
            code(jobs.list_results(v1::ListResultsRequest::default()).await)
        }
        "JobService/WatchRun" => code(jobs.watch_run(v1::WatchRunRequest::default()).await),
        "LibraryService/ListCommands" => code(
            library
                .list_commands(v1::ListCommandsRequest::default())
                .await,
        ),
        "LibraryService/ListParsers" => code(
            library
                .list_parsers(v1::ListParsersRequest::default())
                .await,
        ),
        "LibraryService/ListTargetSources" => code(
            library
                .list_target_sources(v1::ListTargetSourcesRequest::default())
                .await,
        ),
        "LibraryService/PreviewCommand" => code(
            library
                .preview_command(v1::PreviewCommandRequest::default())
                .await,
        ),
        "LibraryService/TestParser" => {
            code(library.test_parser(v1::TestParserRequest::default()).await)
        }
        "LibraryService/ValidateJob" => code(
            library
                .validate_job(v1::ValidateJobRequest::default())
                .await,
        ),
        "FleetService/ListAgents" => {
            code(fleet.list_agents(v1::ListAgentsRequest::default()).await)
        }
        "InventoryService/StartScan" => {
            code(inventory.start_scan(v1::StartScanRequest::default()).await)
        }
        "InventoryService/GetScan" => code(inventory.get_scan(v1::GetScanRequest::default()).await),
        "InventoryService/ListScans" => {
            code(inventory.list_scans(v1::ListScansRequest::default()).await)
        }
        "InventoryService/CancelScan" => code(
            inventory
                .cancel_scan(v1::CancelScanRequest::default())
                .await,
        ),
        "InventoryService/GetScanDiff" => code(
            inventory
                .get_scan_diff(v1::GetScanDiffRequest::default())
                .await,
        ),
        "InventoryService/WatchScan" => {
            code(inventory.watch_scan(v1::WatchScanRequest::default()).await)
        }
        "InventoryService/ListDevices" => code(
            inventory
                .list_devices(v1::ListDevicesRequest::default())
                .await,
        ),
        "InventoryService/GetDevice" => {
            code(inventory.get_device(v1::GetDeviceRequest::default()).await)
        }
        "InventoryService/TagDevices" => code(
            inventory
                .tag_devices(v1::TagDevicesRequest::default())
                .await,
        ),
        "InventoryService/ImportDevices" => code(
            inventory
                .import_devices(v1::ImportDevicesRequest::default())
                .await,
        ),
        "InventoryService/ListGroups" => code(
            inventory
                .list_groups(v1::ListGroupsRequest::default())
                .await,
        ),
        "InventoryService/ResolveGroup" => code(
            inventory
                .resolve_group(v1::ResolveGroupRequest::default())
                .await,
        ),
        other => panic!("no call written for {other}"),
    }
}

#[tokio::test]
async fn every_grpc_client_method_answers_each_role_as_the_table_says() {
    let fx = Fixture::start().await;

    // The table covers every method of the client services.
    let descriptors =
        prost_types::FileDescriptorSet::decode(opsconductor_proto::FILE_DESCRIPTOR_SET).unwrap();
    let declared: BTreeSet<String> = descriptors
        .file
        .iter()
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name() != "AgentService")
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}/{}", s.name(), m.name()))
        })
        .collect();
    let tabled: BTreeSet<String> = GRPC.iter().map(|(m, _)| (*m).to_owned()).collect();
    assert_eq!(declared, tabled, "every client method has an expected role");

    let channel = Channel::from_shared(format!("http://{}", fx.controller.grpc))
        .unwrap()
        .connect_timeout(WAIT)
        .connect()
        .await
        .unwrap();
    let mut failures = Vec::new();
    for &(method, needed) in GRPC {
        for caller in CALLERS {
            let bearer = Bearer::new(fx.token(caller).await.as_deref()).unwrap();
            let code = call_grpc(channel.clone(), bearer, method).await;
            let ok = match expected(Some(needed), caller) {
                Ok(()) => !matches!(code, Code::Unauthenticated | Code::PermissionDenied),
                Err(StatusCode::UNAUTHORIZED) => code == Code::Unauthenticated,
                Err(_) => code == Code::PermissionDenied,
            };
            if !ok {
                failures.push(format!("{method} as {caller:?}: {code:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Agents, health and reflection need no user token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(serving.into_inner().status, 1, "SERVING");
    fx.controller.stop().await;
}

/// Opens `/api/v1/ws` with `token` (`None`: anonymous) the way a browser does, as the
/// subprotocol `bearer.<token>` beside `opsconductor.v1`; the HTTP status of the
/// handshake and, on success, the open socket.
async fn ws_open(
    http: std::net::SocketAddr,
    token: Option<&str>,
) -> (
    u16,
    Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>,
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{http}/api/v1/ws")
        .into_client_request()
        .unwrap();
    let protocols = match token {
        Some(t) => format!("opsconductor.v1, bearer.{t}"),
        None => "opsconductor.v1".to_owned(),
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().unwrap());
    let stream = tokio::net::TcpStream::connect(http).await.unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, response)) => {
            assert_eq!(
                response.headers()["sec-websocket-protocol"],
                "opsconductor.v1",
                "the server selects the protocol, never echoes the token"
            );
            (101, Some(socket))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            (response.status().as_u16(), None)
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn the_websocket_takes_every_signed_in_role_and_drops_a_revoked_session_within_seconds() {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let fx = Fixture::start().await;
    for caller in CALLERS {
        let token = fx.token(caller).await;
        let (status, socket) = ws_open(fx.controller.http, token.as_deref()).await;
        match expected(VIEWER, caller) {
            Ok(()) => {
                assert_eq!(status, 101, "{caller:?}");
                let mut socket = socket.unwrap();
                socket
                    .send(Message::Text(
                        json!({"type": "subscribe"}).to_string().into(),
                    ))
                    .await
                    .unwrap();
                let reply = tokio::time::timeout(WAIT, socket.next()).await.unwrap();
                let reply: Value =
                    serde_json::from_str(reply.unwrap().unwrap().to_text().unwrap()).unwrap();
                assert_eq!(reply["type"], "subscribed", "{caller:?}: {reply}");
            }
            Err(refusal) => assert_eq!(status, refusal.as_u16(), "{caller:?}"),
        }
    }

    // A session that logs out loses its socket.
    let viewer = Http::with_token(&fx.controller, None);
    let (status, login) = viewer
        .post(
            "/api/v1/auth/login",
            json!({"username": "vera", "password": "a long test password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let access = login["access_token"].as_str().unwrap();
    let (_, socket) = ws_open(fx.controller.http, Some(access)).await;
    let mut socket = socket.unwrap();
    let session = Http::with_token(&fx.controller, Some(access));
    let (status, _) = session.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    let close = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 1008);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    fx.controller.stop().await;
}
