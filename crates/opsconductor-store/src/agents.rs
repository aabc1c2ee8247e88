//! Agent identity: one-time enrollment tokens, registration, authentication, liveness.
//!
//! Tokens and secrets are 32 random bytes, hex-encoded, and only their SHA-256 is stored.
//! A plain hash (not argon2) is enough because they are random, not chosen by people:
//! there is no dictionary to try.

use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::AgentId;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// Why a token was refused, worded so a caller learns nothing about which check failed.
pub(crate) const TOKEN_REFUSED: &str = "enrollment token is unknown, expired or already used";
/// Why an agent credential was refused, equally uninformative.
pub(crate) const SECRET_REFUSED: &str = "unknown agent or wrong secret";

/// What a successful registration hands the agent, once.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredAgent {
    /// The agent's permanent id.
    pub agent_id: AgentId,
    /// The agent's secret (only its hash is stored; it cannot be shown again).
    pub secret: String,
    /// The segment the enrollment token was bound to.
    pub segment: String,
}

impl fmt::Debug for RegisteredAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredAgent")
            .field("agent_id", &self.agent_id)
            .field("secret", &"<redacted>")
            .field("segment", &self.segment)
            .finish()
    }
}

/// An enrolled agent as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// Id.
    pub id: AgentId,
    /// Human name given at registration (need not be unique).
    pub name: String,
    /// The segment whose work it takes.
    pub segment: String,
    /// Agent build version at registration.
    pub version: String,
    /// Action kinds it can run.
    pub capabilities: Vec<String>,
    /// When it registered.
    pub registered_at: DateTime<Utc>,
    /// Its last heartbeat, if any.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// False once its heartbeats stopped (see [`PgStore::mark_agents_offline`]).
    pub online: bool,
    /// The last heartbeat's content, as the controller recorded it.
    pub heartbeat: Option<serde_json::Value>,
    /// When an admin revoked it (its identity no longer works).
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) segment: String,
    pub(crate) version: String,
    pub(crate) capabilities: Vec<String>,
    pub(crate) registered_at: DateTime<Utc>,
    pub(crate) last_seen_at: Option<DateTime<Utc>>,
    pub(crate) online: bool,
    pub(crate) heartbeat: Option<Json<serde_json::Value>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl From<AgentRow> for AgentRecord {
    fn from(row: AgentRow) -> Self {
        Self {
            id: AgentId::from_uuid(row.id),
            name: row.name,
            segment: row.segment,
            version: row.version,
            capabilities: row.capabilities,
            registered_at: row.registered_at,
            last_seen_at: row.last_seen_at,
            online: row.online,
            heartbeat: row.heartbeat.map(|Json(value)| value),
            revoked_at: row.revoked_at,
        }
    }
}

/// The columns of [`AgentRow`], as a literal so queries stay `&'static str`.
macro_rules! agent_columns {
    () => {
        "id, name, segment, version, capabilities, registered_at, last_seen_at, online, heartbeat, \
         revoked_at"
    };
}
pub(crate) use agent_columns;

/// 32 random bytes from the thread-local CSPRNG, hex-encoded.
pub(crate) fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub(crate) fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// Enrollment tokens, agent registration and authentication, heartbeats and liveness.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Creates a one-time enrollment token for `segment`, valid for `ttl`. Returns the
    /// token; only its hash is stored. Fails with [`StoreError::NotFound`] when the segment
    /// does not exist.
    async fn create_enrollment_token(
        &self,
        segment: &str,
        ttl: Duration,
    ) -> Result<String, StoreError>;

    /// Exchanges an enrollment token for a permanent agent identity, in one statement: the
    /// token must exist, be unexpired and unused, and is marked used by the new agent. A
    /// second use, even concurrent, fails with [`StoreError::Unauthorized`].
    async fn register_agent(
        &self,
        token: &str,
        name: &str,
        version: &str,
        capabilities: &[String],
    ) -> Result<RegisteredAgent, StoreError>;

    /// Checks an agent's secret (comparing hashes in constant time) and returns the agent.
    /// An unknown agent and a wrong secret are the same [`StoreError::Unauthorized`].
    async fn authenticate_agent(
        &self,
        agent_id: AgentId,
        secret: &str,
    ) -> Result<AgentRecord, StoreError>;

    /// Revokes an agent: its secret stops working at once for new calls, and every
    /// controller ends its session at its next heartbeat. Revoking twice keeps the first
    /// time.
    async fn revoke_agent(&self, agent_id: AgentId) -> Result<AgentRecord, StoreError>;

    /// Records a heartbeat: the agent is online, seen now, and `heartbeat` is its latest
    /// self-report.
    async fn record_heartbeat(
        &self,
        agent_id: AgentId,
        heartbeat: &serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Marks offline every online agent not seen for `stale_after` (by the database
    /// clock, which also stamped the heartbeats). Returns how many it marked.
    async fn mark_agents_offline(&self, stale_after: Duration) -> Result<u64, StoreError>;

    /// Every enrolled agent, by segment then name.
    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError>;
}

#[async_trait]
impl AgentStore for PgStore {
    async fn create_enrollment_token(
        &self,
        segment: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let token = random_secret();
        sqlx::query(
            "INSERT INTO enrollment_tokens (token_sha256, segment, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
        )
        .bind(sha256(&token))
        .bind(segment)
        .bind(ttl.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(|e| match db(e) {
            StoreError::NotFound { .. } => StoreError::not_found(format!("segment {segment:?}")),
            other => other,
        })?;
        Ok(token)
    }

    async fn register_agent(
        &self,
        token: &str,
        name: &str,
        version: &str,
        capabilities: &[String],
    ) -> Result<RegisteredAgent, StoreError> {
        let agent_id = AgentId::new();
        let secret = random_secret();
        let segment: Option<String> = sqlx::query_scalar(
            "WITH token AS (
                 UPDATE enrollment_tokens SET used_at = now(), used_by_agent = $2
                 WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > now()
                 RETURNING segment
             )
             INSERT INTO agents (id, name, segment, version, capabilities, secret_sha256)
             SELECT $2, $3, token.segment, $4, $5, $6 FROM token
             RETURNING segment",
        )
        .bind(sha256(token))
        .bind(agent_id.as_uuid())
        .bind(name)
        .bind(version)
        .bind(capabilities)
        .bind(sha256(&secret))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let segment = segment.ok_or_else(|| StoreError::Unauthorized {
            message: TOKEN_REFUSED.to_owned(),
        })?;
        Ok(RegisteredAgent {
            agent_id,
            secret,
            segment,
        })
    }

    async fn authenticate_agent(
        &self,
        agent_id: AgentId,
        secret: &str,
    ) -> Result<AgentRecord, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT secret_sha256, ",
            agent_columns!(),
            " FROM agents WHERE id = $1"
        ))
        .bind(agent_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let refused = || StoreError::Unauthorized {
            message: SECRET_REFUSED.to_owned(),
        };
        let row = found.ok_or_else(refused)?;
        let stored: Vec<u8> = sqlx::Row::try_get(&row, "secret_sha256").map_err(db)?;
        if !bool::from(stored.ct_eq(&sha256(secret))) {
            return Err(refused());
        }
        let agent: AgentRow = sqlx::FromRow::from_row(&row).map_err(db)?;
        if agent.revoked_at.is_some() {
            return Err(StoreError::Unauthorized {
                message: format!(
                    "agent {agent_id} was revoked by an admin: enroll it again with a new token"
                ),
            });
        }
        Ok(agent.into())
    }

    async fn revoke_agent(&self, agent_id: AgentId) -> Result<AgentRecord, StoreError> {
        let row: Option<AgentRow> = sqlx::query_as(concat!(
            "UPDATE agents SET revoked_at = coalesce(revoked_at, now()), online = false
             WHERE id = $1 RETURNING ",
            agent_columns!()
        ))
        .bind(agent_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(AgentRecord::from)
            .ok_or_else(|| StoreError::not_found(format!("agent {agent_id}")))
    }

    async fn record_heartbeat(
        &self,
        agent_id: AgentId,
        heartbeat: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE agents SET last_seen_at = now(), online = true, heartbeat = $2
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(agent_id.as_uuid())
        .bind(Json(heartbeat))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Unauthorized {
                message: format!("agent {agent_id} is unknown or was revoked"),
            });
        }
        Ok(())
    }

    async fn mark_agents_offline(&self, stale_after: Duration) -> Result<u64, StoreError> {
        let updated = sqlx::query(
            "UPDATE agents SET online = false
             WHERE online
               AND (last_seen_at IS NULL
                    OR last_seen_at < now() - make_interval(secs => $1))",
        )
        .bind(stale_after.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(updated.rows_affected())
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows: Vec<AgentRow> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents ORDER BY segment, name, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(AgentRecord::from).collect())
    }
}
