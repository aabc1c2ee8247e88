//! Users, login sessions with rotating refresh tokens, API tokens and failed logins.
//!
//! The store keeps what the controller hands it: password hashes (argon2id, made by the
//! controller) and SHA-256 hashes of tokens, never a token or a password. The rules that
//! need the database to hold — a replaced refresh token ends its session, the last
//! enabled admin cannot be removed, a disabled user or a new password ends every session —
//! are kept here, each in one transaction.

use async_trait::async_trait;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{ApiTokenId, SessionId, UserId};
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// A user as the API shows it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id.
    pub id: UserId,
    /// Login name, unique regardless of case.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in and loses every session.
    pub disabled: bool,
    /// Increments on every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last password change.
    pub password_changed_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A change to a user; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New display name.
    pub display_name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
}

/// What [`PgStore::update_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserUpdate {
    /// Changed: the user before and after.
    Updated {
        /// Before the change.
        before: Box<UserRecord>,
        /// After it.
        after: Box<UserRecord>,
    },
    /// The user changed since the caller read it; nothing was done.
    StaleVersion {
        /// Its version now.
        current: i64,
    },
}

/// A new login session and its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session's id (it goes into access tokens).
    pub id: SessionId,
    /// Whose it is.
    pub user: UserId,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: Vec<u8>,
    /// When that refresh token stops working.
    pub refresh_expires_at: DateTime<Utc>,
    /// When the session ends whatever happens.
    pub expires_at: DateTime<Utc>,
    /// Where the login came from.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// What [`PgStore::rotate_refresh_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was good: it is replaced by the new one.
    Rotated {
        /// The session it belongs to.
        session: SessionId,
        /// Its user, as now.
        user: UserRecord,
    },
    /// The token had already been replaced: its session is now revoked.
    Reused {
        /// The session that was revoked.
        session: SessionId,
        /// Its user.
        user: UserId,
    },
    /// No such token, or it, its session or its user is no longer valid.
    Invalid,
}

/// A live session as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The session.
    pub id: SessionId,
    /// Its user, as now (role changes apply at once).
    pub user: UserRecord,
}

/// A login session as its owner (or an admin) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Stable id.
    pub id: SessionId,
    /// Whose it is.
    pub user: UserId,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub refreshed_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// Where the login came from.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: String,
}

/// An API token's metadata (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Stable id.
    pub id: ApiTokenId,
    /// Its owner.
    pub user: UserId,
    /// Its owner's name.
    pub username: String,
    /// Unique per owner.
    pub name: String,
    /// The most it may do (never more than its owner may, at any time).
    pub role: Role,
    /// The token's first characters.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new API token.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Its id.
    pub id: ApiTokenId,
    /// Its owner.
    pub user: UserId,
    /// Unique per owner.
    pub name: String,
    /// The most it may do.
    pub role: Role,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The token's first characters.
    pub prefix: String,
    /// When it stops working by itself.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    role: String,
    disabled: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    password_changed_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

/// The user columns, for `concat!` (sqlx takes only static SQL).
macro_rules! user_columns {
    ($t:literal) => {
        concat!(
            $t,
            ".id, ",
            $t,
            ".username, ",
            $t,
            ".display_name, ",
            $t,
            ".role, ",
            $t,
            ".disabled, ",
            $t,
            ".version, ",
            $t,
            ".created_at, ",
            $t,
            ".updated_at, ",
            $t,
            ".password_changed_at, ",
            $t,
            ".last_login_at"
        )
    };
}
pub(crate) use user_columns;

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: UserId::from_uuid(row.id),
            username: row.username,
            display_name: row.display_name,
            role: parse_role(&row.role)?,
            disabled: row.disabled,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            password_changed_at: row.password_changed_at,
            last_login_at: row.last_login_at,
        })
    }
}

fn parse_role(text: &str) -> Result<Role, StoreError> {
    text.parse().map_err(StoreError::other)
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    username: String,
    name: String,
    role: String,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

macro_rules! token_columns {
    () => {
        "t.id, t.user_id, u.username, t.name, t.role, t.prefix, t.created_at, t.expires_at,
         t.last_used_at, t.revoked_at"
    };
}
pub(crate) use token_columns;

impl TryFrom<TokenRow> for ApiTokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ApiTokenId::from_uuid(row.id),
            user: UserId::from_uuid(row.user_id),
            username: row.username,
            name: row.name,
            role: parse_role(&row.role)?,
            prefix: row.prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A name clash on users or tokens, said in words.
pub(crate) fn clash(error: StoreError, what: String) -> StoreError {
    match error {
        StoreError::AlreadyExists { .. } => StoreError::AlreadyExists { what },
        other => other,
    }
}

/// Users, login sessions with rotating refresh tokens, API tokens and failed logins. Only hashes are stored: never a password or a token.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user at version 1. A name in use (in any case) is
    /// [`StoreError::AlreadyExists`].
    async fn create_user(
        &self,
        id: UserId,
        username: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError>;

    /// How many users exist (zero before the first admin is bootstrapped).
    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// One user.
    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError>;

    /// A user by login name (any case) with their password hash, for checking a login.
    async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError>;

    /// A user's password hash, for checking the current password before a change.
    async fn password_hash(&self, id: UserId) -> Result<String, StoreError>;

    /// Changes a user; `expected_version` makes the change conditional. A new password
    /// or disabling ends every session of the user; demoting or disabling the last enabled
    /// admin is refused ([`StoreError::Conflict`]).
    async fn update_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
        change: &UserChange,
    ) -> Result<UserUpdate, StoreError>;

    /// Deletes a user with their sessions and API tokens; the last enabled admin stays.
    async fn delete_user(&self, id: UserId) -> Result<UserRecord, StoreError>;

    /// Starts a session with its first refresh token and notes the login time.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Replaces the refresh token `old_hash` by `new_hash`. A token presented a second
    /// time revokes its whole session ([`RefreshOutcome::Reused`]): one of the two
    /// presenters is not the user.
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;

    /// The session and its user if the session is neither revoked nor expired and the user
    /// is enabled; `None` otherwise.
    async fn active_session(&self, id: SessionId) -> Result<Option<ActiveSession>, StoreError>;

    /// The sessions of `user` that are still active, newest first.
    async fn list_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError>;

    /// Ends a session of `user` (logout). False if there was no such active session.
    async fn revoke_session(
        &self,
        id: SessionId,
        user: UserId,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Creates an API token. A name the owner already uses is
    /// [`StoreError::AlreadyExists`].
    async fn create_api_token(&self, token: &NewApiToken) -> Result<ApiTokenRecord, StoreError>;

    /// API tokens, newest first: `user`'s, or everyone's for `None`.
    async fn list_api_tokens(
        &self,
        user: Option<UserId>,
    ) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// One API token's metadata.
    async fn get_api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord, StoreError>;

    /// Revokes an API token (revoking a revoked one changes nothing).
    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord, StoreError>;

    /// The token with hash `token_hash` and its owner, if the token is neither revoked nor
    /// expired and the owner is enabled. Notes the use (to the minute).
    async fn active_api_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(ApiTokenRecord, UserRecord)>, StoreError>;

    /// Records a failed login under each of `keys` and forgets failures older than
    /// `keep`.
    async fn record_login_failure(&self, keys: &[String], keep: Duration)
    -> Result<(), StoreError>;

    /// Failed logins of each of `keys` in the last `window`, with the oldest of them
    /// (which says when the count drops): one entry per key that has any.
    async fn login_failures(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError>;

    /// Forgets the failed logins of `key` (an account, after a successful login).
    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(
        &self,
        id: UserId,
        username: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users AS u (id, username, display_name, role, password_hash)
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            user_columns!("u")
        ))
        .bind(id.as_uuid())
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
        .map_err(|e| clash(e, format!("user {username:?}")))?;
        row.try_into()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u ORDER BY lower(u.username)"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("user {id}")))?
            .try_into()
    }

    async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!("u"),
            ", u.password_hash FROM users u WHERE lower(u.username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
            .transpose()
    }

    async fn password_hash(&self, id: UserId) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::not_found(format!("user {id}")))
    }

    async fn update_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
        change: &UserChange,
    ) -> Result<UserUpdate, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        lock_admins(&mut tx).await?;
        let before: UserRecord = sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u WHERE u.id = $1 FOR UPDATE"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::not_found(format!("user {id}")))?
        .try_into()?;
        if expected_version.is_some_and(|expected| expected != before.version) {
            return Ok(UserUpdate::StaleVersion {
                current: before.version,
            });
        }
        let stays_admin = change.role.unwrap_or(before.role) == Role::Admin
            && !change.disabled.unwrap_or(before.disabled);
        if before.role == Role::Admin && !before.disabled && !stays_admin {
            ensure_another_admin(&mut tx, id).await?;
        }
        let after: UserRecord = sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users u SET
                 display_name = coalesce($2, u.display_name),
                 role = coalesce($3, u.role),
                 disabled = coalesce($4, u.disabled),
                 password_hash = coalesce($5, u.password_hash),
                 password_changed_at = CASE WHEN $5 IS NULL THEN u.password_changed_at
                                            ELSE now() END,
                 version = u.version + 1,
                 updated_at = now()
             WHERE u.id = $1 RETURNING ",
            user_columns!("u")
        ))
        .bind(id.as_uuid())
        .bind(change.display_name.as_deref())
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled)
        .bind(change.password_hash.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
        .try_into()?;
        let reason = if change.password_hash.is_some() {
            Some("password changed")
        } else if after.disabled && !before.disabled {
            Some("user disabled")
        } else {
            None
        };
        if let Some(reason) = reason {
            revoke_sessions_of(&mut tx, id, reason).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(UserUpdate::Updated {
            before: Box::new(before),
            after: Box::new(after),
        })
    }

    async fn delete_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        lock_admins(&mut tx).await?;
        let user: UserRecord = sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u WHERE u.id = $1 FOR UPDATE"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::not_found(format!("user {id}")))?
        .try_into()?;
        if user.role == Role::Admin && !user.disabled {
            ensure_another_admin(&mut tx, id).await?;
        }
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO auth_sessions (id, user_id, expires_at, address, user_agent)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.as_uuid())
        .bind(session.user.as_uuid())
        .bind(session.expires_at)
        .bind(session.address.as_deref())
        .bind(&session.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&session.refresh_hash)
        .bind(session.id.as_uuid())
        .bind(session.refresh_expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
            .bind(session.user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let found: Option<(Uuid, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
            "SELECT r.session_id, r.replaced_at, r.expires_at > now()
             FROM refresh_tokens r WHERE r.token_hash = $1 FOR UPDATE",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((session, replaced_at, fresh)) = found else {
            return Ok(RefreshOutcome::Invalid);
        };
        if replaced_at.is_some() {
            let user: Option<Uuid> = sqlx::query_scalar(
                "UPDATE auth_sessions SET revoked_at = coalesce(revoked_at, now()),
                     revoked_reason = coalesce(revoked_reason, 'refresh token reused')
                 WHERE id = $1 RETURNING user_id",
            )
            .bind(session)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(match user {
                Some(user) => RefreshOutcome::Reused {
                    session: SessionId::from_uuid(session),
                    user: UserId::from_uuid(user),
                },
                None => RefreshOutcome::Invalid,
            });
        }
        let Some(active) = active_session(&mut tx, session).await? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if !fresh {
            return Ok(RefreshOutcome::Invalid);
        }
        sqlx::query("UPDATE refresh_tokens SET replaced_at = now() WHERE token_hash = $1")
            .bind(old_hash)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
             VALUES ($1, $2, least($3, (SELECT expires_at FROM auth_sessions WHERE id = $2)))",
        )
        .bind(new_hash)
        .bind(session)
        .bind(new_expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE auth_sessions SET refreshed_at = now() WHERE id = $1")
            .bind(session)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(RefreshOutcome::Rotated {
            session: active.id,
            user: active.user,
        })
    }

    async fn active_session(&self, id: SessionId) -> Result<Option<ActiveSession>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        active_session(&mut conn, *id.as_uuid()).await
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            user_id: Uuid,
            created_at: DateTime<Utc>,
            refreshed_at: DateTime<Utc>,
            expires_at: DateTime<Utc>,
            address: Option<String>,
            user_agent: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, user_id, created_at, refreshed_at, expires_at, address, user_agent
             FROM auth_sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
             ORDER BY created_at DESC",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| SessionRecord {
                id: SessionId::from_uuid(r.id),
                user: UserId::from_uuid(r.user_id),
                created_at: r.created_at,
                refreshed_at: r.refreshed_at,
                expires_at: r.expires_at,
                address: r.address,
                user_agent: r.user_agent,
            })
            .collect())
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        user: UserId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $3
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(user.as_uuid())
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<ApiTokenRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, role, token_hash, prefix, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.as_uuid())
        .bind(token.user.as_uuid())
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(&token.token_hash)
        .bind(&token.prefix)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)
        .map_err(|e| clash(e, format!("API token {:?}", token.name)))?;
        self.get_api_token(token.id).await
    }

    async fn list_api_tokens(
        &self,
        user: Option<UserId>,
    ) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE $1::uuid IS NULL OR t.user_id = $1
             ORDER BY t.created_at DESC, t.id DESC"
        ))
        .bind(user.map(|u| *u.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(ApiTokenRecord::try_from).collect()
    }

    async fn get_api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("API token {id}")))?
            .try_into()
    }

    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord, StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        self.get_api_token(id).await
    }

    async fn active_api_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(ApiTokenRecord, UserRecord)>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let token = ApiTokenRecord::try_from(row)?;
        if token
            .last_used_at
            .is_none_or(|at| Utc::now() - at > chrono::Duration::minutes(1))
        {
            sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
                .bind(token.id.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        let user = self.get_user(token.user).await?;
        Ok(Some((token, user)))
    }

    async fn record_login_failure(
        &self,
        keys: &[String],
        keep: Duration,
    ) -> Result<(), StoreError> {
        let keep =
            chrono::Duration::from_std(keep).map_err(|e| StoreError::invalid(e.to_string()))?;
        sqlx::query(
            "WITH pruned AS (DELETE FROM login_failures WHERE failed_at < now() - $2::interval)
             INSERT INTO login_failures (key) SELECT unnest($1::text[])",
        )
        .bind(keys)
        .bind(keep)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn login_failures(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError> {
        let window =
            chrono::Duration::from_std(window).map_err(|e| StoreError::invalid(e.to_string()))?;
        sqlx::query_as(
            "SELECT key, count(*), min(failed_at) FROM login_failures
             WHERE key = ANY($1) AND failed_at > now() - $2::interval
             GROUP BY key",
        )
        .bind(keys)
        .bind(window)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// Locks the enabled admins' rows, so two concurrent demotions cannot both see "another
/// admin is left".
async fn lock_admins(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM users WHERE role = 'admin' AND NOT disabled FOR UPDATE")
        .execute(tx)
        .await
        .map_err(db)?;
    Ok(())
}

async fn ensure_another_admin(tx: &mut sqlx::PgConnection, id: UserId) -> Result<(), StoreError> {
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1",
    )
    .bind(id.as_uuid())
    .fetch_one(tx)
    .await
    .map_err(db)?;
    if others == 0 {
        return Err(StoreError::Conflict {
            message: "this is the last enabled admin: make another user admin first".to_owned(),
        });
    }
    Ok(())
}

async fn revoke_sessions_of(
    tx: &mut sqlx::PgConnection,
    user: UserId,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user.as_uuid())
    .bind(reason)
    .execute(tx)
    .await
    .map_err(db)?;
    Ok(())
}

async fn active_session(
    conn: &mut sqlx::PgConnection,
    session: Uuid,
) -> Result<Option<ActiveSession>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!("u"),
        " FROM auth_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled"
    ))
    .bind(session)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.map(|user| {
        Ok(ActiveSession {
            id: SessionId::from_uuid(session),
            user: user.try_into()?,
        })
    })
    .transpose()
}
