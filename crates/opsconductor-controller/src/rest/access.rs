//! The REST door: every routed request passes [`guard`], which authenticates the caller,
//! checks the role [`crate::auth::policy::rest_access`] asks for the route, hands the
//! handler the [`Principal`] and [`ClientInfo`], and after a successful change writes the
//! audit log entry — the handler's [`AuditNote`] when it attached one, else one naming
//! the route, its path parameters and the versions before and after.

use std::net::SocketAddr;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, ETAG, IF_MATCH, USER_AGENT};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiState;
use crate::auth::policy::{Access, rest_access};
use crate::auth::{ClientInfo, Principal};

/// What a handler tells the audit log about the change it made.
#[derive(Debug, Clone)]
pub struct AuditNote {
    action: String,
    target_kind: String,
    target_id: String,
    summary: Value,
}

impl AuditNote {
    /// A note: `action` (`user.update`) on `target_kind` `target_id`, with `summary`.
    pub fn new(
        action: &str,
        target_kind: &str,
        target_id: impl Into<String>,
        summary: Value,
    ) -> Self {
        Self {
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.into(),
            summary,
        }
    }

    /// `response` carrying this note to [`guard`].
    pub fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// The client's address and agent, from the connection and the headers.
pub fn client_info(request: &Request) -> ClientInfo {
    ClientInfo {
        address: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        user_agent: request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Authenticates, authorises and audits one routed request.
pub async fn guard(
    State(state): State<ApiState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let client = client_info(&request);
    request.extensions_mut().insert(client.clone());
    let needed = match rest_access(&method, &route) {
        Access::Public => return next.run(request).await,
        Access::AtLeast(role) => role,
    };
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state.auth.authenticate(header).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = principal.require(needed) {
        return e.into_response();
    }
    request.extensions_mut().insert(principal.clone());
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let audit = writes.then(|| {
        let params: Vec<(String, String)> = params
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        (version_of(request.headers(), IF_MATCH), params)
    });
    let mut response = next.run(request).await;
    if let Some((version_before, mut params)) = audit
        && response.status().is_success()
    {
        if response.status() == StatusCode::CREATED
            && let Some(id) = created_id(&mut response).await
        {
            params.insert(0, ("id".to_owned(), id));
        }
        let note = response.extensions().get::<AuditNote>().cloned();
        record(
            &state,
            &principal,
            &client,
            &method,
            &route,
            note,
            &params,
            version_before,
            version_of(response.headers(), ETAG),
        )
        .await;
    }
    response
}

/// The `id` (or `name`) of what a `201 Created` answer describes, read from its JSON
/// body (which is put back as it was), so the audit entry names what was created.
async fn created_id(response: &mut Response) -> Option<String> {
    let body = std::mem::take(response.body_mut());
    // Created answers are small documents; a body that fails to read here would have
    // failed the client the same way.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let id = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        ["id", "name"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
    });
    *response.body_mut() = axum::body::Body::from(bytes);
    id
}

/// A version from an `ETag` / `If-Match` header (`"3"` → 3).
fn version_of(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<i64> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

#[allow(clippy::too_many_arguments)]
async fn record(
    state: &ApiState,
    principal: &Principal,
    client: &ClientInfo,
    method: &Method,
    route: &str,
    note: Option<AuditNote>,
    params: &[(String, String)],
    version_before: Option<i64>,
    version_after: Option<i64>,
) {
    let note = note.unwrap_or_else(|| {
        // `/api/v1/jobs/{id}/runs` → kind `jobs`, id the first parameter.
        let kind = route
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap_or_default();
        let target_id = params.first().map(|(_, v)| v.clone()).unwrap_or_default();
        let mut summary = json!({});
        if let Some(v) = version_before {
            summary["version_before"] = json!(v);
        }
        if let Some(v) = version_after {
            summary["version_after"] = json!(v);
        }
        AuditNote::new(&format!("{method} {route}"), kind, target_id, summary)
    });
    state
        .auth
        .record(
            Some(principal),
            &note.action,
            &note.target_kind,
            &note.target_id,
            note.summary,
            client.address,
        )
        .await;
}
