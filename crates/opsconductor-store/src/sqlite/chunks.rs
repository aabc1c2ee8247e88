//! Chunks on SQLite: the outbox claim / publish cycle and each chunk's life on an agent.
//! A claim's lease works as on PostgreSQL; `BEGIN IMMEDIATE` stands in for `SKIP LOCKED`
//! (claims are serialised, so two relays never claim the same row).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::ResultStatus;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::results::fill_missing;
use super::{SqliteStore, Ts, db, later, now};
use crate::chunks::ChunkRow;
use crate::error::StoreError;
use crate::results::FillScope;
use crate::{ChunkRecord, ChunkStore, OutboxItem};

/// A chunk row as SQLite holds it: the targets as a JSON array.
#[derive(sqlx::FromRow)]
struct SqliteChunkRow {
    id: Uuid,
    run_id: Uuid,
    segment: String,
    seq: i32,
    targets: Json<Vec<String>>,
    action_count: i32,
    state: String,
    attempts: i32,
    agent_id: Option<Uuid>,
    published_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    dead_reason: Option<String>,
}

impl TryFrom<SqliteChunkRow> for ChunkRecord {
    type Error = StoreError;

    fn try_from(row: SqliteChunkRow) -> Result<Self, StoreError> {
        ChunkRow {
            id: row.id,
            run_id: row.run_id,
            segment: row.segment,
            seq: row.seq,
            targets: row.targets.0,
            action_count: row.action_count,
            state: row.state,
            attempts: row.attempts,
            agent_id: row.agent_id,
            published_at: row.published_at,
            finished_at: row.finished_at,
            dead_reason: row.dead_reason,
        }
        .try_into()
    }
}

macro_rules! chunk_columns {
    () => {
        "id, run_id, segment, seq, targets, action_count, state, attempts, agent_id,
         published_at, finished_at, dead_reason"
    };
}

/// A list of outbox ids as one bind parameter (a JSON array).
fn id_list(ids: &[i64]) -> String {
    Value::from(ids.to_vec()).to_string()
}

#[async_trait]
impl ChunkStore for SqliteStore {
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = now();
        let until = later(now, lease);
        let mut tx = self.begin().await?;
        let rows: Vec<(i64, Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT o.id, o.chunk_id, o.segment, c.payload
             FROM outbox AS o JOIN chunks AS c ON c.id = o.chunk_id
             WHERE o.claimed_until IS NULL OR o.claimed_until < $1
             ORDER BY o.id
             LIMIT $2",
        )
        .bind(Ts(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let ids: Vec<i64> = rows.iter().map(|(id, ..)| *id).collect();
        sqlx::query(
            "UPDATE outbox SET claimed_until = $2
             WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(id_list(&ids))
        .bind(Ts(until))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(outbox_id, chunk_id, segment, payload)| OutboxItem {
                outbox_id,
                chunk_id: ChunkId::from_uuid(chunk_id),
                segment,
                payload,
            })
            .collect())
    }

    async fn mark_published(&self, outbox_ids: &[i64]) -> Result<(), StoreError> {
        if outbox_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let gone: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1)) RETURNING chunk_id",
        )
        .bind(id_list(outbox_ids))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE chunks SET state = 'published', published_at = $2
             WHERE id IN (SELECT unhex(value) FROM json_each($1)) AND state = 'pending'",
        )
        .bind(super::uuid_list(&gone))
        .bind(Ts(now()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn chunk_started(
        &self,
        chunk_id: ChunkId,
        agent_id: AgentId,
        delivery_count: u32,
    ) -> Result<(), StoreError> {
        let attempts = i32::try_from(delivery_count).unwrap_or(i32::MAX);
        let now = Ts(now());
        let mut tx = self.begin().await?;
        let run: Option<Uuid> = sqlx::query_scalar("SELECT run_id FROM chunks WHERE id = $1")
            .bind(chunk_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(run) = run else {
            return Err(StoreError::not_found(format!("chunk {chunk_id}")));
        };
        sqlx::query(
            "UPDATE runs SET status = 'running', started_at = coalesce(started_at, $2)
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(run)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // An agent has it, so it was published, even if the relay's mark (which the
        // outbox delete below pre-empts) never lands.
        sqlx::query(
            "UPDATE chunks
             SET state = 'running', agent_id = $2, attempts = max(attempts, $3),
                 published_at = coalesce(published_at, $4)
             WHERE id = $1 AND state IN ('pending', 'published', 'running')",
        )
        .bind(chunk_id.as_uuid())
        .bind(agent_id.as_uuid())
        .bind(attempts)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM outbox WHERE chunk_id = $1")
            .bind(chunk_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn chunk_finished(&self, chunk_id: ChunkId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM chunks WHERE id = $1")
            .bind(chunk_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::not_found(format!("chunk {chunk_id}")));
        }
        sqlx::query(
            "UPDATE chunks SET state = 'done', finished_at = $2
             WHERE id = $1 AND state IN ('pending', 'published', 'running')",
        )
        .bind(chunk_id.as_uuid())
        .bind(Ts(now()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM outbox WHERE chunk_id = $1")
            .bind(chunk_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn dead_letter_chunk(&self, chunk_id: ChunkId, reason: &str) -> Result<u64, StoreError> {
        let now = now();
        let mut tx = self.begin().await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM chunks WHERE id = $1")
            .bind(chunk_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::not_found(format!("chunk {chunk_id}")));
        }
        sqlx::query(
            "UPDATE chunks SET state = 'dead', finished_at = $2, dead_reason = $3
             WHERE id = $1 AND state IN ('pending', 'published', 'running')",
        )
        .bind(chunk_id.as_uuid())
        .bind(Ts(now))
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM outbox WHERE chunk_id = $1")
            .bind(chunk_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let filled = fill_missing(
            &mut tx,
            FillScope::Chunk(chunk_id),
            ResultStatus::Error,
            &format!("chunk dead-lettered: {reason}"),
            now,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        let filled: i64 = filled.iter().map(|(_, n)| *n).sum();
        Ok(u64::try_from(filled).unwrap_or_default())
    }

    async fn get_chunk(&self, chunk_id: ChunkId) -> Result<ChunkRecord, StoreError> {
        let row: Option<SqliteChunkRow> = sqlx::query_as(concat!(
            "SELECT ",
            chunk_columns!(),
            " FROM chunks WHERE id = $1"
        ))
        .bind(chunk_id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("chunk {chunk_id}")))?
            .try_into()
    }

    async fn release_claims(&self, outbox_ids: &[i64]) -> Result<(), StoreError> {
        if outbox_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET claimed_until = NULL WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(id_list(outbox_ids))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn chunks_for_run(&self, run_id: RunId) -> Result<Vec<ChunkRecord>, StoreError> {
        let rows: Vec<SqliteChunkRow> = sqlx::query_as(concat!(
            "SELECT ",
            chunk_columns!(),
            " FROM chunks WHERE run_id = $1 ORDER BY seq"
        ))
        .bind(run_id.as_uuid())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(ChunkRecord::try_from).collect()
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        Ok(u64::try_from(rows).unwrap_or(0))
    }
}
