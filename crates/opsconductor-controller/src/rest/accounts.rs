//! Signing in and who may: login, token refresh, logout, the caller's own password,
//! sessions and API tokens; users for admins; the audit log.
//!
//! Passwords and tokens go in and never come out, with one exception made on purpose: a
//! login or refresh answers with the new tokens, and creating an API token answers with
//! the token, once (only its hash is kept).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header::ETAG;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{ApiTokenId, SessionId, UserId};
use opsconductor_store::{ApiTokenRecord, AuditEntry, AuditFilter, UserRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::access::AuditNote;
use super::extract::{JsonBody, QueryParams, etag, if_match_version};
use super::{ApiState, Problem, json_response, path_id};
use crate::auth::{ClientInfo, Credential, IssuedTokens, MAX_USERNAME_CHARS, Principal, password};
use crate::error::ControllerError;

type ApiResult = Result<Response, ControllerError>;

/// A user as the API shows it (never a password or its hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Stable id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Increments on every change; the `ETag`.
    pub version: i64,
    /// Creation time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Last password change.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub password_changed_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role,
            disabled: u.disabled,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
            password_changed_at: u.password_changed_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name (any case).
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Password.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// A refresh.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh; good once.
    pub refresh_token: String,
}

/// Tokens for a session.
#[derive(Serialize, ToSchema)]
pub struct SessionTokens {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Trade it at `/api/v1/auth/refresh` for new tokens before it expires; good once.
    pub refresh_token: String,
    /// Seconds the refresh token is valid.
    pub refresh_expires_in: u64,
    /// Who signed in.
    pub user: UserView,
}

impl From<IssuedTokens> for SessionTokens {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            refresh_expires_in: t.refresh_expires_in,
            user: t.user.into(),
        }
    }
}

/// The caller.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: UserView,
    /// What the caller may do now (an API token may be limited below its owner's role).
    pub role: Role,
    /// `session` or `api_token`.
    pub credential: String,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new one (at least 12 characters).
    pub new_password: String,
}

/// A session of the caller.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Stable id.
    pub id: SessionId,
    /// Login time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub refreshed_at: DateTime<Utc>,
    /// When it ends at the latest.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    /// Where the login came from.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// Whether this is the session of this request.
    pub current: bool,
}

/// The caller's sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    /// Active sessions, newest first.
    pub items: Vec<SessionView>,
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: letters, digits, `._@-`.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
    /// What the user may do.
    pub role: Role,
    /// Initial password (at least 12 characters).
    pub password: String,
}

/// A change to a user; absent fields stay.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New role (takes effect within seconds on every replica).
    pub role: Option<Role>,
    /// Disable (ends every session) or enable.
    pub disabled: Option<bool>,
    /// New password (ends every session).
    pub password: Option<String>,
}

/// Users, by name.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    /// The users.
    pub items: Vec<UserView>,
}

/// An API token's metadata.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenView {
    /// Stable id.
    pub id: ApiTokenId,
    /// Its owner.
    pub user_id: UserId,
    /// Its owner's name.
    pub username: String,
    /// Unique per owner.
    pub name: String,
    /// The most it may do (never more than its owner may at the time of use).
    pub role: Role,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    /// Creation time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRecord> for ApiTokenView {
    fn from(t: ApiTokenRecord) -> Self {
        Self {
            id: t.id,
            user_id: t.user,
            username: t.username,
            name: t.name,
            role: t.role,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new API token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// Unique among the caller's tokens.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The most it may do; at most the caller's role (default: the caller's role).
    pub role: Option<Role>,
    /// When it stops working by itself (default: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created API token: the only time the token is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// Its metadata.
    #[serde(flatten)]
    pub meta: ApiTokenView,
    /// Send as `Authorization: Bearer <token>`. Not shown again.
    pub token: String,
}

/// API tokens.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    /// Newest first.
    pub items: Vec<ApiTokenView>,
}

/// Which API tokens to list.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiTokenQuery {
    /// Every user's tokens (admins only); default: the caller's own.
    #[serde(default)]
    pub all: bool,
}

/// An audit log entry.
#[derive(Serialize, ToSchema)]
pub struct AuditView {
    /// Increasing id; pass as `before` for the next page.
    pub id: i64,
    /// When.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// `user`, `api_token` or `system`.
    pub actor_kind: String,
    /// The user or token id.
    pub actor_id: Option<uuid::Uuid>,
    /// The user's name.
    pub actor_name: String,
    /// What was done (`user.update`, `PUT /api/v1/jobs/{id}`, `auth.login_failed` …).
    pub action: String,
    /// What it was done to (`user`, `jobs` …).
    pub target_kind: String,
    /// Its id or name.
    pub target_id: String,
    /// What changed (never secrets).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The client's address.
    pub address: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            summary: e.summary,
            address: e.address,
        }
    }
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditView>,
    /// Pass as `before` for older entries; absent on the last page.
    pub next_before: Option<i64>,
}

/// Which audit entries to read.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exact user name.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`user.`).
    pub action: Option<String>,
    /// Exact target kind.
    pub target_kind: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Entries with a smaller id (the cursor).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn user_response(status: StatusCode, user: UserRecord) -> Response {
    let tag = etag(user.version);
    let mut response = json_response(status, UserView::from(user));
    response.headers_mut().insert(ETAG, tag);
    response
}

fn user_id(text: &str) -> Result<UserId, ControllerError> {
    path_id("user", text)
}

/// Signs in with a user name and password. Too many failures for an account or an
/// address answer 429 with `Retry-After` until the window passes.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = SessionTokens),
        (status = 429, description = "Too many failed logins", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn login(
    State(state): State<ApiState>,
    Extension(client): Extension<ClientInfo>,
    JsonBody(login): JsonBody<LoginRequest>,
) -> ApiResult {
    // No such name or password can exist: say so rather than store it as a failure.
    if login.username.is_empty() || login.username.chars().count() > MAX_USERNAME_CHARS {
        return Err(ControllerError::field(
            "username",
            format!("must be 1 to {MAX_USERNAME_CHARS} characters"),
        ));
    }
    if login.password.is_empty() || login.password.len() > password::MAX_BYTES {
        return Err(ControllerError::field(
            "password",
            format!("must be 1 to {} bytes", password::MAX_BYTES),
        ));
    }
    let tokens = state
        .auth
        .login(&login.username, &login.password, &client)
        .await?;
    Ok(json_response(StatusCode::OK, SessionTokens::from(tokens)))
}

/// Trades a refresh token for new tokens. Each refresh token is good once: presenting
/// one again revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses((status = 200, body = SessionTokens),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    State(state): State<ApiState>,
    JsonBody(refresh): JsonBody<RefreshRequest>,
) -> ApiResult {
    let tokens = state.auth.refresh(&refresh.refresh_token).await?;
    Ok(json_response(StatusCode::OK, SessionTokens::from(tokens)))
}

/// Ends the caller's session (with an API token: revokes that token).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn logout(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
) -> ApiResult {
    state.auth.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller: their user and what they may do.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = MeView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn me(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
) -> ApiResult {
    let user = state.auth.store().get_user(caller.user).await?;
    let credential = match caller.credential {
        Credential::Session(_) => "session",
        Credential::ApiToken(_) => "api_token",
    };
    Ok(json_response(
        StatusCode::OK,
        MeView {
            user: user.into(),
            role: caller.role,
            credential: credential.to_owned(),
        },
    ))
}

/// Changes the caller's password; every session of theirs ends (sign in again).
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed; every session ended"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn change_password(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    JsonBody(change): JsonBody<PasswordChange>,
) -> ApiResult {
    state
        .auth
        .change_password(&caller, &change.current_password, &change.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's active sessions.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, body = SessionList),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_sessions(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
) -> ApiResult {
    let current = match caller.credential {
        Credential::Session(id) => Some(id),
        Credential::ApiToken(_) => None,
    };
    let items = state
        .auth
        .store()
        .list_sessions(caller.user)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: Some(s.id) == current,
            id: s.id,
            created_at: s.created_at,
            refreshed_at: s.refreshed_at,
            expires_at: s.expires_at,
            address: s.address,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(json_response(StatusCode::OK, SessionList { items }))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn end_session(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = path_id("session", &id)?;
    state.auth.end_session(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_users(State(state): State<ApiState>) -> ApiResult {
    let items = state
        .auth
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(UserView::from)
        .collect();
    Ok(json_response(StatusCode::OK, UserList { items }))
}

/// Creates a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = NewUser,
    responses((status = 201, body = UserView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_user(
    State(state): State<ApiState>,
    JsonBody(new): JsonBody<NewUser>,
) -> ApiResult {
    let user = state
        .auth
        .create_user(&new.username, &new.display_name, new.role, &new.password)
        .await?;
    let note = AuditNote::new(
        "user.create",
        "user",
        user.id.to_string(),
        json!({"username": user.username, "role": user.role}),
    );
    Ok(note.attach(user_response(StatusCode::CREATED, user)))
}

/// One user (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView, headers(("ETag" = String, description = "The version"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_user(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let user = state.auth.store().get_user(user_id(&id)?).await?;
    Ok(user_response(StatusCode::OK, user))
}

/// Changes a user (admins). Disabling or a new password ends their sessions; a role
/// change applies within seconds. The last enabled admin cannot be demoted or disabled.
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users",
    request_body = UserUpdate,
    params(("id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 200, body = UserView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_user(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(update): JsonBody<UserUpdate>,
) -> ApiResult {
    let id = user_id(&id)?;
    let expected = if_match_version(&headers)?;
    let (before, after) = state
        .auth
        .update_user(
            id,
            expected,
            update.display_name,
            update.role,
            update.disabled,
            update.password.as_deref(),
        )
        .await?;
    let note = AuditNote::new(
        "user.update",
        "user",
        id.to_string(),
        json!({
            "username": after.username,
            "before": {"role": before.role, "disabled": before.disabled, "display_name": before.display_name, "version": before.version},
            "after": {"role": after.role, "disabled": after.disabled, "display_name": after.display_name, "version": after.version},
            "password_changed": update.password.is_some(),
        }),
    );
    Ok(note.attach(user_response(StatusCode::OK, after)))
}

/// Deletes a user with their sessions and API tokens (admins); not the last admin.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_user(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let user = state.auth.delete_user(user_id(&id)?).await?;
    let note = AuditNote::new(
        "user.delete",
        "user",
        user.id.to_string(),
        json!({"username": user.username, "role": user.role}),
    );
    Ok(note.attach(StatusCode::NO_CONTENT.into_response()))
}

/// API tokens: the caller's own, or with `all=true` everyone's (admins).
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "auth",
    params(ApiTokenQuery),
    responses((status = 200, body = ApiTokenList),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_api_tokens(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    QueryParams(query): QueryParams<ApiTokenQuery>,
) -> ApiResult {
    let owner = if query.all {
        caller.require(Role::Admin)?;
        None
    } else {
        Some(caller.user)
    };
    let items = state
        .auth
        .store()
        .list_api_tokens(owner)
        .await?
        .into_iter()
        .map(ApiTokenView::from)
        .collect();
    Ok(json_response(StatusCode::OK, ApiTokenList { items }))
}

/// Creates an API token for the caller. The answer holds the token; it is not shown
/// again.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "auth",
    request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_api_token(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    JsonBody(new): JsonBody<NewApiToken>,
) -> ApiResult {
    let (meta, token) = state
        .auth
        .create_api_token(&caller, &new.name, new.role, new.expires_at)
        .await?;
    let note = AuditNote::new(
        "api_token.create",
        "api_token",
        meta.id.to_string(),
        json!({"name": meta.name, "role": meta.role, "expires_at": meta.expires_at}),
    );
    Ok(note.attach(json_response(
        StatusCode::CREATED,
        CreatedApiToken {
            meta: meta.into(),
            token,
        },
    )))
}

/// Revokes an API token: the caller's own, or anyone's for an admin.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "API token id")),
    responses((status = 204, description = "Revoked"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_api_token(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult {
    let token = state
        .auth
        .revoke_api_token(&caller, path_id("API token", &id)?)
        .await?;
    let note = AuditNote::new(
        "api_token.revoke",
        "api_token",
        token.id.to_string(),
        json!({"name": token.name, "owner": token.username}),
    );
    Ok(note.attach(StatusCode::NO_CONTENT.into_response()))
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "users",
    params(AuditQuery),
    responses((status = 200, body = AuditPage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_audit(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> ApiResult {
    let limit = query.limit.unwrap_or(100);
    if !(1..=opsconductor_store::MAX_AUDIT_PAGE).contains(&limit) {
        return Err(ControllerError::field("limit", "must be 1 to 1000"));
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(ControllerError::field("before", "must be at least 1"));
    }
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        target_kind: query.target_kind,
        target_id: query.target_id,
        since: query.since,
        until: query.until,
        before_id: query.before,
    };
    let entries = state.auth.store().list_audit(&filter, limit).await?;
    let next_before = if i64::try_from(entries.len()).unwrap_or(0) == limit {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    let items = entries.into_iter().map(AuditView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        AuditPage { items, next_before },
    ))
}
