//! The least role each operation needs, for REST routes and gRPC methods, in one place.
//!
//! The rule is the product's: a viewer reads (and runs side-effect-free checks such as a
//! command preview or a parser test); an operator also runs and edits jobs, templates,
//! library entries and targets, dry-runs an action, scans, and edits the inventory and
//! device groups; an admin also manages users, agents, segments, credentials, host keys
//! and settings, and reads the audit log. Every signed-in user manages their own session,
//! password and API tokens. A route or method missing from the tables needs admin:
//! forgetting an entry fails closed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Method;
use opsconductor_core::access::Role;

use super::{Auth, ClientInfo};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (health, docs, login).
    Public,
    /// A signed-in caller with at least this role.
    AtLeast(Role),
}

/// REST routes open to anyone.
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
];

/// Writes (and reads) that need more than the default of their method: reads need a
/// viewer, writes an operator.
const REST_ROLES: &[(&str, &str, Role)] = &[
    // Checks and previews change nothing.
    ("POST", "/api/v1/jobs/validate", Role::Viewer),
    ("POST", "/api/v1/library/preview", Role::Viewer),
    ("POST", "/api/v1/library/parsers/test", Role::Viewer),
    ("POST", "/api/v1/targets/preview", Role::Viewer),
    ("POST", "/api/v1/groups/preview", Role::Viewer),
    // Everyone manages their own session, password and API tokens.
    ("POST", "/api/v1/auth/logout", Role::Viewer),
    ("POST", "/api/v1/auth/password", Role::Viewer),
    ("DELETE", "/api/v1/auth/sessions/{id}", Role::Viewer),
    ("POST", "/api/v1/api-tokens", Role::Viewer),
    ("DELETE", "/api/v1/api-tokens/{id}", Role::Viewer),
    // Administration.
    ("GET", "/api/v1/audit", Role::Admin),
    ("GET", "/api/v1/users", Role::Admin),
    ("POST", "/api/v1/users", Role::Admin),
    ("GET", "/api/v1/users/{id}", Role::Admin),
    ("PUT", "/api/v1/users/{id}", Role::Admin),
    ("DELETE", "/api/v1/users/{id}", Role::Admin),
    ("PUT", "/api/v1/segments/{name}", Role::Admin),
    ("DELETE", "/api/v1/segments/{name}", Role::Admin),
    ("POST", "/api/v1/agents/{id}/revoke", Role::Admin),
    ("POST", "/api/v1/enrollment-tokens", Role::Admin),
    ("PUT", "/api/v1/settings", Role::Admin),
    ("DELETE", "/api/v1/ssh-host-keys/{id}", Role::Admin),
    ("POST", "/api/v1/credentials", Role::Admin),
    ("PUT", "/api/v1/credentials/{id}", Role::Admin),
    ("DELETE", "/api/v1/credentials/{id}", Role::Admin),
];

/// Routes under these prefixes that are not in [`REST_ROLES`] follow the default of their
/// method; anything else not listed needs admin.
const OPERATOR_WRITE_PREFIXES: &[&str] = &[
    "/api/v1/jobs",
    "/api/v1/runs",
    "/api/v1/library/",
    "/api/v1/templates",
    "/api/v1/scans",
    "/api/v1/devices",
    "/api/v1/groups",
];

/// What `method` on the route `route` (as declared, `/api/v1/jobs/{id}`) asks.
pub fn rest_access(method: &Method, route: &str) -> Access {
    let method = method.as_str();
    if PUBLIC_ROUTES.contains(&(method, route)) {
        return Access::Public;
    }
    if let Some((_, _, role)) = REST_ROLES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
    {
        return Access::AtLeast(*role);
    }
    if matches!(method, "GET" | "HEAD") {
        return Access::AtLeast(Role::Viewer);
    }
    if OPERATOR_WRITE_PREFIXES.iter().any(|p| route.starts_with(p)) {
        return Access::AtLeast(Role::Operator);
    }
    Access::AtLeast(Role::Admin)
}

/// gRPC methods (`/package.Service/Method`) and the least role they need. The agent
/// service authenticates agents by their own credentials; health and reflection are
/// public.
const GRPC_ROLES: &[(&str, Role)] = &[
    ("/opsconductor.v1.JobService/CreateJob", Role::Operator),
    ("/opsconductor.v1.JobService/GetJob", Role::Viewer),
    ("/opsconductor.v1.JobService/ListJobs", Role::Viewer),
    ("/opsconductor.v1.JobService/UpdateJob", Role::Operator),
    ("/opsconductor.v1.JobService/DeleteJob", Role::Operator),
    ("/opsconductor.v1.JobService/CloneJob", Role::Operator),
    ("/opsconductor.v1.JobService/SetJobEnabled", Role::Operator),
    ("/opsconductor.v1.JobService/RunJob", Role::Operator),
    ("/opsconductor.v1.JobService/GetRun", Role::Viewer),
    ("/opsconductor.v1.JobService/ListRuns", Role::Viewer),
    ("/opsconductor.v1.JobService/CancelRun", Role::Operator),
    ("/opsconductor.v1.JobService/ListResults", Role::Viewer),
    ("/opsconductor.v1.JobService/WatchRun", Role::Viewer),
    ("/opsconductor.v1.LibraryService/ListCommands", Role::Viewer),
    ("/opsconductor.v1.LibraryService/ListParsers", Role::Viewer),
    (
        "/opsconductor.v1.LibraryService/ListTargetSources",
        Role::Viewer,
    ),
    (
        "/opsconductor.v1.LibraryService/PreviewCommand",
        Role::Viewer,
    ),
    ("/opsconductor.v1.LibraryService/TestParser", Role::Viewer),
    ("/opsconductor.v1.LibraryService/ValidateJob", Role::Viewer),
    ("/opsconductor.v1.FleetService/ListAgents", Role::Viewer),
    (
        "/opsconductor.v1.InventoryService/StartScan",
        Role::Operator,
    ),
    ("/opsconductor.v1.InventoryService/GetScan", Role::Viewer),
    ("/opsconductor.v1.InventoryService/ListScans", Role::Viewer),
    (
        "/opsconductor.v1.InventoryService/CancelScan",
        Role::Operator,
    ),
    (
        "/opsconductor.v1.InventoryService/GetScanDiff",
        Role::Viewer,
    ),
    ("/opsconductor.v1.InventoryService/WatchScan", Role::Viewer),
    (
        "/opsconductor.v1.InventoryService/ListDevices",
        Role::Viewer,
    ),
    ("/opsconductor.v1.InventoryService/GetDevice", Role::Viewer),
    (
        "/opsconductor.v1.InventoryService/TagDevices",
        Role::Operator,
    ),
    (
        "/opsconductor.v1.InventoryService/ImportDevices",
        Role::Operator,
    ),
    ("/opsconductor.v1.InventoryService/ListGroups", Role::Viewer),
    (
        "/opsconductor.v1.InventoryService/ResolveGroup",
        Role::Viewer,
    ),
];

/// gRPC services open to anyone (agents prove themselves inside the service).
const GRPC_PUBLIC_SERVICES: &[&str] = &[
    "/opsconductor.v1.AgentService/",
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What the gRPC method at `path` asks.
pub fn grpc_access(path: &str) -> Access {
    if GRPC_PUBLIC_SERVICES.iter().any(|s| path.starts_with(s)) {
        return Access::Public;
    }
    GRPC_ROLES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(Access::AtLeast(Role::Admin), |(_, role)| {
            Access::AtLeast(*role)
        })
}

/// A tower layer for the gRPC server: authenticates callers of the client services from
/// their `authorization` metadata, refuses those whose role is too small
/// (`UNAUTHENTICATED` / `PERMISSION_DENIED`), hands the [`super::Principal`] to the service
/// in the request extensions and writes the audit log entry of each change that
/// succeeded.
#[derive(Clone)]
pub struct GrpcAuthLayer {
    auth: Auth,
}

impl GrpcAuthLayer {
    /// The layer over `auth`.
    pub fn new(auth: Auth) -> Self {
        Self { auth }
    }
}

impl<S> tower::Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuth {
            auth: self.auth.clone(),
            inner,
        }
    }
}

/// The service [`GrpcAuthLayer`] makes.
#[derive(Clone)]
pub struct GrpcAuth<S> {
    auth: Auth,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<axum::http::Request<B>> for GrpcAuth<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        // The clone takes the place of the service that was polled ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let Access::AtLeast(needed) = grpc_access(request.uri().path()) else {
                return inner.call(request).await;
            };
            let header = request
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let checked = match auth.authenticate(header).await {
                Ok(principal) => principal.require(needed).map(|()| principal),
                Err(e) => Err(e),
            };
            match checked {
                Ok(principal) => {
                    let client = ClientInfo {
                        address: peer_address(request.extensions()),
                        user_agent: request
                            .headers()
                            .get(axum::http::header::USER_AGENT)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                    };
                    let path = request.uri().path().to_owned();
                    request.extensions_mut().insert(principal.clone());
                    request.extensions_mut().insert(client.clone());
                    let response = inner.call(request).await?;
                    // Methods above viewer change something: audit them once they
                    // succeeded (an error answers with grpc-status in the headers).
                    let failed = response
                        .headers()
                        .get("grpc-status")
                        .is_some_and(|s| s.as_bytes() != b"0");
                    if needed > Role::Viewer && !failed {
                        let method = path.rsplit('/').next().unwrap_or_default();
                        auth.record(
                            Some(&principal),
                            &format!("grpc {}", path.trim_start_matches('/')),
                            method,
                            "",
                            serde_json::json!({}),
                            client.address,
                        )
                        .await;
                    }
                    Ok(response)
                }
                Err(e) => Ok(tonic::Status::from(e).into_http()),
            }
        })
    }
}

/// The caller's address, over plain TCP or TLS.
fn peer_address(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    extensions
        .get::<TcpConnectInfo>()
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .map(TlsConnectInfo::get_ref)
        })
        .and_then(TcpConnectInfo::remote_addr)
        .map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_routes_and_methods_fail_closed() {
        assert_eq!(
            rest_access(&Method::POST, "/api/v1/something-new"),
            Access::AtLeast(Role::Admin)
        );
        assert_eq!(
            grpc_access("/opsconductor.v1.JobService/SomethingNew"),
            Access::AtLeast(Role::Admin)
        );
        assert_eq!(
            rest_access(&Method::GET, "/api/v1/jobs"),
            Access::AtLeast(Role::Viewer)
        );
        assert_eq!(
            rest_access(&Method::POST, "/api/v1/jobs"),
            Access::AtLeast(Role::Operator)
        );
        assert_eq!(rest_access(&Method::GET, "/healthz"), Access::Public);
        assert_eq!(grpc_access("/grpc.health.v1.Health/Check"), Access::Public);
    }
}
