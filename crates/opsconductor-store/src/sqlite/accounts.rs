//! Users, sessions, API tokens and failed logins on SQLite. The rules are PostgreSQL's,
//! each kept in one `BEGIN IMMEDIATE` transaction (which is what the row locks there
//! serialise). User names are unique regardless of case through `username_key`, the name
//! lowered in Rust.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{ApiTokenId, SessionId, UserId};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, earlier, now};
use crate::accounts::{TokenRow, UserRow, clash, token_columns, user_columns};
use crate::error::StoreError;
use crate::{
    AccountStore, ActiveSession, ApiTokenRecord, NewApiToken, NewSession, RefreshOutcome,
    SessionRecord, UserChange, UserRecord, UserUpdate,
};

/// The key that makes user names unique regardless of case.
fn username_key(username: &str) -> String {
    username.to_lowercase()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(
        &self,
        id: UserId,
        username: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (id, username, username_key, display_name, role, password_hash,
                                created_at, updated_at, password_changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) RETURNING ",
            user_columns!("users")
        ))
        .bind(id.as_uuid())
        .bind(username)
        .bind(username_key(username))
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(Ts(now()))
        .fetch_one(&self.writer)
        .await
        .map_err(db)
        .map_err(|e| clash(e, format!("user {username:?}")))?;
        row.try_into()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.reader)
            .await
            .map_err(db)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u ORDER BY u.username_key"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn get_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        user(&mut conn, id).await
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
            ", u.password_hash FROM users u WHERE u.username_key = $1"
        ))
        .bind(username_key(username))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
            .transpose()
    }

    async fn password_hash(&self, id: UserId) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.reader)
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
        let now = now();
        let mut tx = self.begin().await?;
        let before = user(&mut tx, id).await?;
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
            "UPDATE users SET
                 display_name = coalesce($2, display_name),
                 role = coalesce($3, role),
                 disabled = coalesce($4, disabled),
                 password_hash = coalesce($5, password_hash),
                 password_changed_at = CASE WHEN $5 IS NULL THEN password_changed_at
                                            ELSE $6 END,
                 version = version + 1,
                 updated_at = $6
             WHERE id = $1 RETURNING ",
            user_columns!("users")
        ))
        .bind(id.as_uuid())
        .bind(change.display_name.as_deref())
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled)
        .bind(change.password_hash.as_deref())
        .bind(Ts(now))
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
            revoke_sessions_of(&mut tx, id, reason, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(UserUpdate::Updated {
            before: Box::new(before),
            after: Box::new(after),
        })
    }

    async fn delete_user(&self, id: UserId) -> Result<UserRecord, StoreError> {
        let mut tx = self.begin().await?;
        let user = user(&mut tx, id).await?;
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
        let now = Ts(now());
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO auth_sessions (id, user_id, created_at, expires_at, refreshed_at,
                                        address, user_agent)
             VALUES ($1, $2, $3, $4, $3, $5, $6)",
        )
        .bind(session.id.as_uuid())
        .bind(session.user.as_uuid())
        .bind(now)
        .bind(Ts(session.expires_at))
        .bind(session.address.as_deref())
        .bind(&session.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.refresh_hash)
        .bind(session.id.as_uuid())
        .bind(now)
        .bind(Ts(session.refresh_expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(session.user.as_uuid())
            .bind(now)
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
        let now = now();
        let mut tx = self.begin().await?;
        let found: Option<(Uuid, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
            "SELECT session_id, replaced_at, expires_at > $2
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(old_hash)
        .bind(Ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((session, replaced_at, fresh)) = found else {
            return Ok(RefreshOutcome::Invalid);
        };
        if replaced_at.is_some() {
            let user: Option<Uuid> = sqlx::query_scalar(
                "UPDATE auth_sessions SET revoked_at = coalesce(revoked_at, $2),
                     revoked_reason = coalesce(revoked_reason, 'refresh token reused')
                 WHERE id = $1 RETURNING user_id",
            )
            .bind(session)
            .bind(Ts(now))
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
        let Some(active) = active_session(&mut tx, session, now).await? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if !fresh {
            return Ok(RefreshOutcome::Invalid);
        }
        sqlx::query("UPDATE refresh_tokens SET replaced_at = $2 WHERE token_hash = $1")
            .bind(old_hash)
            .bind(Ts(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
             VALUES ($1, $2, $4,
                     min($3, (SELECT expires_at FROM auth_sessions WHERE id = $2)))",
        )
        .bind(new_hash)
        .bind(session)
        .bind(Ts(new_expires_at))
        .bind(Ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE auth_sessions SET refreshed_at = $2 WHERE id = $1")
            .bind(session)
            .bind(Ts(now))
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
        let mut conn = self.reader.acquire().await.map_err(db)?;
        active_session(&mut conn, *id.as_uuid(), now()).await
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
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC",
        )
        .bind(user.as_uuid())
        .bind(Ts(now()))
        .fetch_all(&self.reader)
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
            "UPDATE auth_sessions SET revoked_at = $4, revoked_reason = $3
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(user.as_uuid())
        .bind(reason)
        .bind(Ts(now()))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<ApiTokenRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, role, token_hash, prefix, created_at,
                                     expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id.as_uuid())
        .bind(token.user.as_uuid())
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(&token.token_hash)
        .bind(&token.prefix)
        .bind(Ts(now()))
        .bind(token.expires_at.map(Ts))
        .execute(&self.writer)
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
             WHERE $1 IS NULL OR t.user_id = $1
             ORDER BY t.created_at DESC, t.id DESC"
        ))
        .bind(user.map(|u| *u.as_uuid()))
        .fetch_all(&self.reader)
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
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("API token {id}")))?
            .try_into()
    }

    async fn revoke_api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord, StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1")
            .bind(id.as_uuid())
            .bind(Ts(now()))
            .execute(&self.writer)
            .await
            .map_err(db)?;
        self.get_api_token(id).await
    }

    async fn active_api_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(ApiTokenRecord, UserRecord)>, StoreError> {
        let now = now();
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT u.disabled"
        ))
        .bind(token_hash)
        .bind(Ts(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let token = ApiTokenRecord::try_from(row)?;
        if token
            .last_used_at
            .is_none_or(|at| now - at > chrono::Duration::minutes(1))
        {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token.id.as_uuid())
                .bind(Ts(now))
                .execute(&self.writer)
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
        let now = now();
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
            .bind(Ts(earlier(now, keep)))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO login_failures (key, failed_at) SELECT value, $2 FROM json_each($1)",
        )
        .bind(serde_json::to_string(keys).map_err(|e| StoreError::other(e.to_string()))?)
        .bind(Ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn login_failures(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError> {
        sqlx::query_as(
            "SELECT key, count(*), min(failed_at) FROM login_failures
             WHERE key IN (SELECT value FROM json_each($1)) AND failed_at > $2
             GROUP BY key",
        )
        .bind(serde_json::to_string(keys).map_err(|e| StoreError::other(e.to_string()))?)
        .bind(Ts(earlier(now(), window)))
        .fetch_all(&self.reader)
        .await
        .map_err(db)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// One user, or [`StoreError::NotFound`].
async fn user(conn: &mut SqliteConnection, id: UserId) -> Result<UserRecord, StoreError> {
    sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!("u"),
        " FROM users u WHERE u.id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::not_found(format!("user {id}")))?
    .try_into()
}

async fn ensure_another_admin(tx: &mut SqliteConnection, id: UserId) -> Result<(), StoreError> {
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
    tx: &mut SqliteConnection,
    user: UserId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE auth_sessions SET revoked_at = $3, revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user.as_uuid())
    .bind(reason)
    .bind(Ts(now))
    .execute(tx)
    .await
    .map_err(db)?;
    Ok(())
}

async fn active_session(
    conn: &mut SqliteConnection,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ActiveSession>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        user_columns!("u"),
        " FROM auth_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT u.disabled"
    ))
    .bind(session)
    .bind(Ts(now))
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
