//! Who is calling, and what they may do: users with argon2id passwords, login sessions
//! with short-lived JWT access tokens and rotating refresh tokens, API tokens for
//! automation, the login rate limit and the first-admin bootstrap.
//!
//! Every request names its caller with `Authorization: Bearer <token>` (an access token
//! or an API token `oct_…`). [`Auth::authenticate`] turns that into a [`Principal`] whose
//! role is read from the store, not from the token, and caches the answer for
//! [`PRINCIPAL_CACHE_TTL`]: so logout, a password change, a disabled user, a revoked
//! token or a changed role take effect on every replica within that time (and at once on
//! the replica that made the change). The transports then check the role an operation
//! needs: [`policy`] holds the tables for REST and gRPC.
//!
//! - [`password`]: argon2id hashing and the password policy.
//! - [`tokens`]: JWT access tokens and opaque refresh / API tokens.
//! - [`policy`]: the least role of every REST route and gRPC method, and the gRPC layer.

pub mod password;
pub mod policy;
pub mod tokens;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{ApiTokenId, SessionId, UserId};
use opsconductor_store::prelude::*;
use opsconductor_store::{
    ApiTokenRecord, NewApiToken, NewAuditEntry, NewSession, RefreshOutcome, UserChange, UserRecord,
    UserUpdate,
};
use serde_json::{Value, json};

use crate::error::ControllerError;
use tokens::{API_TOKEN_PREFIX, AccessTokens, REFRESH_TOKEN_PREFIX, opaque_token, token_hash};

/// How long an authentication answer is reused before the store is asked again: the
/// longest a revocation made on another replica takes to apply here.
pub const PRINCIPAL_CACHE_TTL: Duration = Duration::from_secs(2);
/// Cached answers kept at most; the cache is emptied when it grows past this.
const PRINCIPAL_CACHE_MAX: usize = 10_000;
/// Longest user name.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The authentication settings (from the controller configuration).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `iss` of access tokens.
    pub issuer: String,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (each refresh issues a new one).
    pub refresh_token_ttl: Duration,
    /// No session lasts longer than this, however often it is refreshed.
    pub session_max_age: Duration,
    /// Failed logins per account within `login_failure_window` before it is locked.
    pub max_failures_per_account: u32,
    /// Failed logins per client address within `login_failure_window` before it is
    /// locked out.
    pub max_failures_per_address: u32,
    /// The window the failure counts cover.
    pub login_failure_window: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "opsconductor".to_owned(),
            access_token_ttl: Duration::from_secs(5 * 60),
            refresh_token_ttl: Duration::from_secs(12 * 3600),
            session_max_age: Duration::from_secs(7 * 24 * 3600),
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            login_failure_window: Duration::from_secs(15 * 60),
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token of this login session.
    Session(SessionId),
    /// This API token.
    ApiToken(ApiTokenId),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (an API token acts for its owner).
    pub user: UserId,
    /// Their name.
    pub username: String,
    /// What they may do now: the user's role, capped by the API token's.
    pub role: Role,
    /// How they authenticated.
    pub credential: Credential,
}

impl Principal {
    /// Refuses (403) unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ControllerError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ControllerError::Forbidden(format!(
                "this needs the {needed} role; {} has {}",
                self.username, self.role
            )))
        }
    }
}

/// Where a request came from, for sessions, the rate limit and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer address.
    pub address: Option<IpAddr>,
    /// The `User-Agent`.
    pub user_agent: String,
}

/// What a login or a refresh hands the client.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds it is valid.
    pub expires_in: u64,
    /// The one-use token for the next refresh.
    pub refresh_token: String,
    /// Seconds it is valid.
    pub refresh_expires_in: u64,
    /// The user.
    pub user: UserRecord,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Session(SessionId),
    Token(Vec<u8>),
}

type PrincipalCache = HashMap<CacheKey, (Instant, Option<Principal>)>;

/// Authentication and account management over the store.
#[derive(Clone)]
pub struct Auth {
    store: SharedStore,
    tokens: AccessTokens,
    settings: AuthSettings,
    cache: Arc<Mutex<PrincipalCache>>,
}

impl Auth {
    /// Accounts in `store`, access tokens signed with `key`.
    pub fn new(store: SharedStore, key: &[u8], settings: AuthSettings) -> Self {
        Self {
            tokens: AccessTokens::new(key, &settings.issuer),
            store,
            settings,
            cache: Arc::default(),
        }
    }

    /// The caller named by an `Authorization` header value (`Bearer <token>`).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Principal, ControllerError> {
        let Some(header) = authorization else {
            return Err(unauthenticated(
                "no credentials: send Authorization: Bearer <token>",
            ));
        };
        let Some(token) = bearer_token(header) else {
            return Err(unauthenticated(
                "the Authorization header must be Bearer <token>",
            ));
        };
        self.authenticate_token(token).await
    }

    /// The caller holding `token` (an access token or an API token).
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, ControllerError> {
        let key = if token.starts_with(API_TOKEN_PREFIX) {
            CacheKey::Token(token_hash(token))
        } else {
            let (_, session) = self.tokens.verify(token).map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                unauthenticated("the access token is not valid (expired, altered or not ours)")
            })?;
            CacheKey::Session(session)
        };
        if let Some(known) = self.cached(&key) {
            return known.ok_or_else(revoked);
        }
        let found = match &key {
            CacheKey::Session(session) => {
                self.store
                    .active_session(*session)
                    .await?
                    .map(|s| Principal {
                        user: s.user.id,
                        username: s.user.username,
                        role: s.user.role,
                        credential: Credential::Session(s.id),
                    })
            }
            CacheKey::Token(hash) => {
                self.store
                    .active_api_token(hash)
                    .await?
                    .map(|(token, user)| Principal {
                        user: user.id,
                        username: user.username,
                        role: token.role.min(user.role),
                        credential: Credential::ApiToken(token.id),
                    })
            }
        };
        self.remember(key, found.clone());
        found.ok_or_else(revoked)
    }

    fn cached(&self, key: &CacheKey) -> Option<Option<Principal>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < PRINCIPAL_CACHE_TTL)
            .map(|(_, p)| p.clone())
    }

    fn remember(&self, key: CacheKey, principal: Option<Principal>) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= PRINCIPAL_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), principal));
    }

    /// Drops every cached answer, after a change that revokes something, so it applies
    /// on this replica at once.
    pub fn forget_cached(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Logs in: checks the rate limit, the password, and starts a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, ControllerError> {
        let account_key = format!("user:{}", username.to_lowercase());
        let mut keys = vec![account_key.clone()];
        if let Some(address) = client.address {
            keys.push(format!("address:{address}"));
        }
        self.check_login_rate(&keys).await?;
        let found = self.store.user_for_login(username).await?;
        let (user, phc) = match found {
            Some((user, phc)) => (Some(user), Some(phc)),
            None => (None, None),
        };
        let matches = password::verify(password.to_owned(), phc).await?;
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            _ => {
                self.store
                    .record_login_failure(&keys, self.settings.login_failure_window)
                    .await?;
                self.audit_login(username, None, "auth.login_failed", client)
                    .await;
                return Err(unauthenticated("wrong user name or password"));
            }
        };
        self.store.clear_login_failures(&account_key).await?;
        let session = SessionId::new();
        let now = Utc::now();
        let (refresh_token, refresh_hash) = opaque_token(REFRESH_TOKEN_PREFIX);
        self.store
            .create_session(&NewSession {
                id: session,
                user: user.id,
                refresh_hash,
                refresh_expires_at: now + chrono_duration(self.settings.refresh_token_ttl),
                expires_at: now + chrono_duration(self.settings.session_max_age),
                address: client.address.map(|a| a.to_string()),
                user_agent: client.user_agent.chars().take(256).collect(),
            })
            .await?;
        self.audit_login(username, Some(&user), "auth.login", client)
            .await;
        self.issue(user, session, refresh_token, now)
    }

    async fn check_login_rate(&self, keys: &[String]) -> Result<(), ControllerError> {
        let window = self.settings.login_failure_window;
        let counts = self.store.login_failures(keys, window).await?;
        for (key, count, oldest) in counts {
            let limit = if key.starts_with("user:") {
                self.settings.max_failures_per_account
            } else {
                self.settings.max_failures_per_address
            };
            if count >= i64::from(limit) {
                let retry_at = oldest + chrono_duration(window);
                let retry_after = (retry_at - Utc::now()).num_seconds().max(1);
                let what = if key.starts_with("user:") {
                    "this account"
                } else {
                    "this address"
                };
                return Err(ControllerError::TooManyRequests {
                    message: format!(
                        "too many failed logins for {what}: try again in {retry_after} s"
                    ),
                    retry_after_seconds: u64::try_from(retry_after).unwrap_or(1),
                });
            }
        }
        Ok(())
    }

    /// Trades a refresh token for a new access token and a new refresh token. A refresh
    /// token used twice ends its session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, ControllerError> {
        let now = Utc::now();
        let (next, next_hash) = opaque_token(REFRESH_TOKEN_PREFIX);
        let outcome = self
            .store
            .rotate_refresh_token(
                &token_hash(refresh_token),
                &next_hash,
                now + chrono_duration(self.settings.refresh_token_ttl),
            )
            .await?;
        match outcome {
            RefreshOutcome::Rotated { session, user } => self.issue(user, session, next, now),
            RefreshOutcome::Reused { session, user } => {
                self.forget_cached();
                tracing::warn!(%session, %user, "a replaced refresh token was presented again: session revoked");
                self.record(
                    None,
                    "auth.refresh_reused",
                    "session",
                    &session.to_string(),
                    json!({"user": user.to_string()}),
                    None,
                )
                .await;
                Err(unauthenticated(
                    "this refresh token was already used: the session is revoked, log in again",
                ))
            }
            RefreshOutcome::Invalid => Err(unauthenticated(
                "the refresh token is not valid (expired, revoked or unknown)",
            )),
        }
    }

    fn issue(
        &self,
        user: UserRecord,
        session: SessionId,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, ControllerError> {
        let access_token = self
            .tokens
            .issue(
                user.id,
                &user.username,
                user.role,
                session,
                now,
                now + chrono_duration(self.settings.access_token_ttl),
            )
            .map_err(|e| ControllerError::Internal(e.to_string()))?;
        Ok(IssuedTokens {
            access_token,
            expires_in: self.settings.access_token_ttl.as_secs(),
            refresh_token,
            refresh_expires_in: self.settings.refresh_token_ttl.as_secs(),
            user,
        })
    }

    /// Ends the caller's session (an API token is revoked instead).
    pub async fn logout(&self, caller: &Principal) -> Result<(), ControllerError> {
        match caller.credential {
            Credential::Session(session) => {
                self.store
                    .revoke_session(session, caller.user, "logged out")
                    .await?;
            }
            Credential::ApiToken(id) => {
                self.store.revoke_api_token(id).await?;
            }
        }
        self.forget_cached();
        Ok(())
    }

    /// Ends one of the caller's own sessions (another browser, a lost laptop).
    pub async fn end_session(
        &self,
        caller: &Principal,
        session: SessionId,
    ) -> Result<(), ControllerError> {
        if !self
            .store
            .revoke_session(session, caller.user, "ended by its user")
            .await?
        {
            return Err(ControllerError::NotFound(format!("session {session}")));
        }
        self.forget_cached();
        Ok(())
    }

    /// Changes the caller's own password after checking the current one; every session
    /// of the user ends (API tokens stay).
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ControllerError> {
        let phc = self.store.password_hash(caller.user).await?;
        if !password::verify(current.to_owned(), Some(phc)).await? {
            return Err(ControllerError::field(
                "current_password",
                "is not the current password",
            ));
        }
        password::check_policy("new_password", new, &caller.username)?;
        let change = UserChange {
            password_hash: Some(password::hash(new.to_owned()).await?),
            ..UserChange::default()
        };
        // Unconditional: it cannot be stale.
        self.store.update_user(caller.user, None, &change).await?;
        self.forget_cached();
        Ok(())
    }

    /// Creates a user (admins do this; the password is checked against the policy).
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<UserRecord, ControllerError> {
        check_username(username)?;
        password::check_policy("password", password, username)?;
        let phc = password::hash(password.to_owned()).await?;
        Ok(self
            .store
            .create_user(UserId::new(), username, display_name, role, &phc)
            .await?)
    }

    /// Changes a user (admins); a new password is checked and hashed here.
    pub async fn update_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
        display_name: Option<String>,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<&str>,
    ) -> Result<(UserRecord, UserRecord), ControllerError> {
        let password_hash = match password {
            Some(p) => {
                let user = self.store.get_user(id).await?;
                password::check_policy("password", p, &user.username)?;
                Some(password::hash(p.to_owned()).await?)
            }
            None => None,
        };
        let change = UserChange {
            display_name,
            role,
            disabled,
            password_hash,
        };
        match self
            .store
            .update_user(id, expected_version, &change)
            .await?
        {
            UserUpdate::Updated { before, after } => {
                self.forget_cached();
                Ok((*before, *after))
            }
            UserUpdate::StaleVersion { current } => Err(ControllerError::PreconditionFailed(
                format!("user {id} is at version {current}, not the one in If-Match"),
            )),
        }
    }

    /// Deletes a user with their sessions and tokens.
    pub async fn delete_user(&self, id: UserId) -> Result<UserRecord, ControllerError> {
        let user = self.store.delete_user(id).await?;
        self.forget_cached();
        Ok(user)
    }

    /// Creates an API token for the caller, at most as strong as the caller; returns its
    /// record and the token itself (shown this once, never stored).
    pub async fn create_api_token(
        &self,
        caller: &Principal,
        name: &str,
        role: Option<Role>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiTokenRecord, String), ControllerError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ControllerError::field(
                "name",
                "must be 1 to 100 characters",
            ));
        }
        let role = role.unwrap_or(caller.role);
        if !caller.role.allows(role) {
            return Err(ControllerError::field(
                "role",
                format!("may not exceed your own role ({})", caller.role),
            ));
        }
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ControllerError::field(
                "expires_at",
                "must be in the future",
            ));
        }
        mint_api_token(&*self.store, caller.user, name, role, expires_at).await
    }

    /// Revokes an API token: the caller's own, or anyone's for an admin. Someone else's
    /// token is "not found" to a non-admin, so ids of others' tokens reveal nothing.
    pub async fn revoke_api_token(
        &self,
        caller: &Principal,
        id: ApiTokenId,
    ) -> Result<ApiTokenRecord, ControllerError> {
        let token = self.store.get_api_token(id).await?;
        if token.user != caller.user && caller.role != Role::Admin {
            return Err(ControllerError::NotFound(format!("API token {id}")));
        }
        let token = self.store.revoke_api_token(id).await?;
        self.forget_cached();
        Ok(token)
    }

    /// Creates the first admin when there is no user at all; does nothing otherwise.
    /// Returns whether it created one.
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, ControllerError> {
        if self.store.count_users().await? > 0 {
            return Ok(false);
        }
        match self.create_user(username, "", Role::Admin, password).await {
            Ok(user) => {
                self.record(
                    None,
                    "user.bootstrap",
                    "user",
                    &user.id.to_string(),
                    json!({"username": user.username, "role": "admin"}),
                    None,
                )
                .await;
                Ok(true)
            }
            // Another replica bootstrapped the same admin at the same moment.
            Err(ControllerError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends to the audit log; a failure is logged, not returned: the change it
    /// describes is already committed.
    pub async fn record(
        &self,
        actor: Option<&Principal>,
        action: &str,
        target_kind: &str,
        target_id: &str,
        summary: Value,
        address: Option<IpAddr>,
    ) {
        let (actor_kind, actor_id, actor_name) = match actor {
            Some(p) => match p.credential {
                Credential::Session(_) => ("user", Some(*p.user.as_uuid()), p.username.clone()),
                Credential::ApiToken(id) => ("api_token", Some(*id.as_uuid()), p.username.clone()),
            },
            None => ("system", None, "system".to_owned()),
        };
        let entry = NewAuditEntry {
            actor_kind: actor_kind.to_owned(),
            actor_id,
            actor_name,
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.to_owned(),
            summary,
            address: address.map(|a| a.to_string()),
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = %e, action, "writing the audit log failed");
        }
    }

    async fn audit_login(
        &self,
        username: &str,
        user: Option<&UserRecord>,
        action: &str,
        client: &ClientInfo,
    ) {
        let entry = NewAuditEntry {
            actor_kind: "user".to_owned(),
            actor_id: user.map(|u| *u.id.as_uuid()),
            actor_name: username.chars().take(MAX_USERNAME_CHARS).collect(),
            action: action.to_owned(),
            target_kind: "session".to_owned(),
            target_id: String::new(),
            summary: json!({"user_agent": client.user_agent.chars().take(256).collect::<String>()}),
            address: client.address.map(|a| a.to_string()),
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::error!(error = %e, action, "writing the audit log failed");
        }
    }

    /// The store (for reads the API passes through).
    pub fn store(&self) -> &SharedStore {
        &self.store
    }
}

/// The token of an `Authorization` header value `Bearer <token>` (the scheme in any case).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Stores a new API token for `user` (no checks: callers decide who may have what) and
/// returns its record and the token, which exists nowhere else.
pub async fn mint_api_token(
    store: &dyn Store,
    user: UserId,
    name: &str,
    role: Role,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(ApiTokenRecord, String), ControllerError> {
    let (token, token_hash) = opaque_token(API_TOKEN_PREFIX);
    let record = store
        .create_api_token(&NewApiToken {
            id: ApiTokenId::new(),
            user,
            name: name.to_owned(),
            role,
            token_hash,
            prefix: token.chars().take(API_TOKEN_PREFIX.len() + 6).collect(),
            expires_at,
        })
        .await?;
    Ok((record, token))
}

/// A user name: 1–64 characters of letters, digits and `._@-`, starting with a letter or
/// digit.
pub fn check_username(username: &str) -> Result<(), ControllerError> {
    let ok = !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_CHARS
        && username.chars().next().is_some_and(char::is_alphanumeric)
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ControllerError::field(
            "username",
            format!(
                "must be 1 to {MAX_USERNAME_CHARS} letters, digits or . _ @ -, starting with a letter or digit"
            ),
        ))
    }
}

fn unauthenticated(message: &str) -> ControllerError {
    ControllerError::Unauthorized(message.to_owned())
}

fn revoked() -> ControllerError {
    unauthenticated(
        "the session or token is no longer valid (logged out, revoked, expired or the user is disabled)",
    )
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
