//! Agent identity on SQLite: the same tokens and hashes as on PostgreSQL; capabilities are
//! a JSON array.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::AgentId;
use sqlx::types::Json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, earlier, later, now};
use crate::agents::{
    AgentRow, SECRET_REFUSED, TOKEN_REFUSED, agent_columns, random_secret, sha256,
};
use crate::error::StoreError;
use crate::{AgentRecord, AgentStore, RegisteredAgent};

/// An agent row as SQLite holds it: the capabilities as a JSON array.
#[derive(sqlx::FromRow)]
struct SqliteAgentRow {
    id: Uuid,
    name: String,
    segment: String,
    version: String,
    capabilities: Json<Vec<String>>,
    registered_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
    online: bool,
    heartbeat: Option<Json<serde_json::Value>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<SqliteAgentRow> for AgentRecord {
    fn from(row: SqliteAgentRow) -> Self {
        AgentRow {
            id: row.id,
            name: row.name,
            segment: row.segment,
            version: row.version,
            capabilities: row.capabilities.0,
            registered_at: row.registered_at,
            last_seen_at: row.last_seen_at,
            online: row.online,
            heartbeat: row.heartbeat,
            revoked_at: row.revoked_at,
        }
        .into()
    }
}

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_enrollment_token(
        &self,
        segment: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let token = random_secret();
        let now = now();
        sqlx::query(
            "INSERT INTO enrollment_tokens (token_sha256, segment, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(sha256(&token))
        .bind(segment)
        .bind(Ts(now))
        .bind(Ts(later(now, ttl)))
        .execute(&self.writer)
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
        let now = now();
        let mut tx = self.begin().await?;
        let segment: Option<String> = sqlx::query_scalar(
            "UPDATE enrollment_tokens SET used_at = $3, used_by_agent = $2
             WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $3
             RETURNING segment",
        )
        .bind(sha256(token))
        .bind(agent_id.as_uuid())
        .bind(Ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let segment = segment.ok_or_else(|| StoreError::Unauthorized {
            message: TOKEN_REFUSED.to_owned(),
        })?;
        sqlx::query(
            "INSERT INTO agents (id, name, segment, version, capabilities, secret_sha256,
                                 registered_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(agent_id.as_uuid())
        .bind(name)
        .bind(&segment)
        .bind(version)
        .bind(Json(capabilities))
        .bind(sha256(&secret))
        .bind(Ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
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
        #[derive(sqlx::FromRow)]
        struct Row {
            secret_sha256: Vec<u8>,
            #[sqlx(flatten)]
            agent: SqliteAgentRow,
        }
        let found: Option<Row> = sqlx::query_as(concat!(
            "SELECT secret_sha256, ",
            agent_columns!(),
            " FROM agents WHERE id = $1"
        ))
        .bind(agent_id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        let refused = || StoreError::Unauthorized {
            message: SECRET_REFUSED.to_owned(),
        };
        let row = found.ok_or_else(refused)?;
        if !bool::from(row.secret_sha256.ct_eq(&sha256(secret))) {
            return Err(refused());
        }
        if row.agent.revoked_at.is_some() {
            return Err(StoreError::Unauthorized {
                message: format!(
                    "agent {agent_id} was revoked by an admin: enroll it again with a new token"
                ),
            });
        }
        Ok(row.agent.into())
    }

    async fn revoke_agent(&self, agent_id: AgentId) -> Result<AgentRecord, StoreError> {
        let row: Option<SqliteAgentRow> = sqlx::query_as(concat!(
            "UPDATE agents SET revoked_at = coalesce(revoked_at, $2), online = false
             WHERE id = $1 RETURNING ",
            agent_columns!()
        ))
        .bind(agent_id.as_uuid())
        .bind(Ts(now()))
        .fetch_optional(&self.writer)
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
            "UPDATE agents SET last_seen_at = $3, online = true, heartbeat = $2
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(agent_id.as_uuid())
        .bind(Json(heartbeat))
        .bind(Ts(now()))
        .execute(&self.writer)
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
             WHERE online AND (last_seen_at IS NULL OR last_seen_at < $1)",
        )
        .bind(Ts(earlier(now(), stale_after)))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(updated.rows_affected())
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows: Vec<SqliteAgentRow> = sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents ORDER BY segment, name, id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(AgentRecord::from).collect())
    }
}
