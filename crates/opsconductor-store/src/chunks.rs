//! Chunks: the outbox relay's claim / publish cycle and each chunk's life on an agent.
//!
//! States: `pending` (written with its run, in the outbox) → `published` (the broker
//! confirmed it) → `running` (an agent started it) → `done`; or `dead` (dead-lettered) or
//! `cancelled` (its run was cancelled or expired before an agent took it). Transitions out
//! of `done`, `dead` and `cancelled` never happen, so late or repeated events are no-ops.

use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::ResultStatus;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};
use crate::results::{FillScope, fill_missing};

/// Where a chunk is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkState {
    /// Written, waiting in the outbox.
    Pending,
    /// Confirmed by the broker, not yet started by an agent.
    Published,
    /// An agent is executing it.
    Running,
    /// The agent finished it and every result was acknowledged.
    Done,
    /// Dead-lettered; its unfinished targets were recorded as errors.
    Dead,
    /// Its run ended before an agent took it.
    Cancelled,
}

impl ChunkState {
    /// The name used in storage and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        Ok(match name {
            "pending" => Self::Pending,
            "published" => Self::Published,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            other => return Err(StoreError::other(format!("unknown chunk state {other:?}"))),
        })
    }
}

impl fmt::Display for ChunkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored chunk, without its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Id (also the AMQP message id).
    pub id: ChunkId,
    /// The run.
    pub run_id: RunId,
    /// The segment whose queue it goes to.
    pub segment: String,
    /// Position within the run.
    pub seq: u32,
    /// Its targets.
    pub targets: Vec<String>,
    /// Actions run on each target.
    pub action_count: u32,
    /// Life-cycle state.
    pub state: ChunkState,
    /// Highest delivery count an agent reported when starting it.
    pub attempts: u32,
    /// The agent that last started it.
    pub agent_id: Option<AgentId>,
    /// When the broker confirmed it.
    pub published_at: Option<DateTime<Utc>>,
    /// When it reached `done`, `dead` or `cancelled`.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it was dead-lettered.
    pub dead_reason: Option<String>,
}

/// A chunk that was out of the store (queued or on an agent) when its run was cancelled:
/// the controller tells its segment's agents to drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// Id.
    pub id: ChunkId,
    /// Its segment.
    pub segment: String,
    /// The agent running it, if one started it.
    pub agent_id: Option<AgentId>,
}

/// An outbox row claimed for publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The row, to pass to [`PgStore::mark_published`] once the broker confirms.
    pub outbox_id: i64,
    /// The chunk (the message id).
    pub chunk_id: ChunkId,
    /// The segment (the routing key).
    pub segment: String,
    /// The message body (protobuf `ChunkWork`).
    pub payload: Vec<u8>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow {
    pub(crate) id: Uuid,
    pub(crate) run_id: Uuid,
    pub(crate) segment: String,
    pub(crate) seq: i32,
    pub(crate) targets: Vec<String>,
    pub(crate) action_count: i32,
    pub(crate) state: String,
    pub(crate) attempts: i32,
    pub(crate) agent_id: Option<Uuid>,
    pub(crate) published_at: Option<DateTime<Utc>>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
    pub(crate) dead_reason: Option<String>,
}

impl TryFrom<ChunkRow> for ChunkRecord {
    type Error = StoreError;

    fn try_from(row: ChunkRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ChunkId::from_uuid(row.id),
            run_id: RunId::from_uuid(row.run_id),
            segment: row.segment,
            // CHECK constraints keep these ≥ 0.
            seq: u32::try_from(row.seq).unwrap_or_default(),
            targets: row.targets,
            action_count: u32::try_from(row.action_count).unwrap_or_default(),
            state: ChunkState::parse(&row.state)?,
            attempts: u32::try_from(row.attempts).unwrap_or_default(),
            agent_id: row.agent_id.map(AgentId::from_uuid),
            published_at: row.published_at,
            finished_at: row.finished_at,
            dead_reason: row.dead_reason,
        })
    }
}

/// The outbox relay's claim / publish cycle and the life cycle of a run's chunks.
#[async_trait]
pub trait ChunkStore: Send + Sync {
    /// Claims up to `limit` outbox rows, oldest first, for `lease`. A claimed row is not
    /// handed to another relay (another controller) until the lease runs out, so a relay
    /// that dies between claim and [`PgStore::mark_published`] delays its chunks by one
    /// lease instead of losing them.
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// Records broker confirms: deletes the outbox rows and marks their chunks published
    /// (a chunk an agent already started stays running).
    async fn mark_published(&self, outbox_ids: &[i64]) -> Result<(), StoreError>;

    /// An agent started a chunk (`delivery_count` > 1 on a redelivery): the chunk runs on
    /// that agent and a queued run becomes running. The chunk's outbox row, if the relay
    /// has not removed it yet, goes too: the agent having the chunk proves it was
    /// published, and republishing it would only make a duplicate. A chunk that already
    /// ended is left alone.
    async fn chunk_started(
        &self,
        chunk_id: ChunkId,
        agent_id: AgentId,
        delivery_count: u32,
    ) -> Result<(), StoreError>;

    /// The agent finished a chunk and every result of it was acknowledged.
    async fn chunk_finished(&self, chunk_id: ChunkId) -> Result<(), StoreError>;

    /// Dead-letters a chunk (it failed on every delivery): the chunk ends `dead` with
    /// `reason`, and every (target, action) of it without a result is recorded as an
    /// `error` `"chunk dead-lettered: <reason>"` — counted, so the run can complete. Returns
    /// how many results were filled in. Repeating it changes nothing more.
    async fn dead_letter_chunk(&self, chunk_id: ChunkId, reason: &str) -> Result<u64, StoreError>;

    /// One chunk, for checking what an agent reports against it.
    async fn get_chunk(&self, chunk_id: ChunkId) -> Result<ChunkRecord, StoreError>;

    /// Hands claimed outbox rows back at once (the relay failed to publish them), instead
    /// of leaving them leased until the lease runs out.
    async fn release_claims(&self, outbox_ids: &[i64]) -> Result<(), StoreError>;

    /// The chunks of a run, by sequence number.
    async fn chunks_for_run(&self, run_id: RunId) -> Result<Vec<ChunkRecord>, StoreError>;

    /// Outbox rows not yet confirmed by the queue (claimed or not): the relay's backlog.
    async fn outbox_backlog(&self) -> Result<u64, StoreError>;
}

#[async_trait]
impl ChunkStore for PgStore {
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<(i64, Uuid, String, Vec<u8>)> = sqlx::query_as(
            "WITH claimable AS (
                 SELECT id FROM outbox
                 WHERE claimed_until IS NULL OR claimed_until < now()
                 ORDER BY id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED
             ), claimed AS (
                 UPDATE outbox AS o SET claimed_until = now() + make_interval(secs => $2)
                 FROM claimable
                 WHERE o.id = claimable.id
                 RETURNING o.id, o.chunk_id, o.segment
             )
             SELECT claimed.id, claimed.chunk_id, claimed.segment, c.payload
             FROM claimed JOIN chunks AS c ON c.id = claimed.chunk_id
             ORDER BY claimed.id",
        )
        .bind(i64::from(limit))
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
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
        sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) RETURNING chunk_id)
             UPDATE chunks SET state = 'published', published_at = now()
             WHERE id IN (SELECT chunk_id FROM gone) AND state = 'pending'",
        )
        .bind(outbox_ids)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn chunk_started(
        &self,
        chunk_id: ChunkId,
        agent_id: AgentId,
        delivery_count: u32,
    ) -> Result<(), StoreError> {
        let attempts = i32::try_from(delivery_count).unwrap_or(i32::MAX);
        self.retrying(move || async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            // The run before the chunk: every multi-row operation here locks in that order.
            let run: Option<Uuid> = sqlx::query_scalar(
                "WITH chunk AS (SELECT run_id FROM chunks WHERE id = $1),
                 started AS (
                     UPDATE runs SET status = 'running', started_at = coalesce(started_at, now())
                     WHERE id = (SELECT run_id FROM chunk) AND status = 'queued'
                 )
                 SELECT run_id FROM chunk",
            )
            .bind(chunk_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if run.is_none() {
                return Err(StoreError::not_found(format!("chunk {chunk_id}")));
            }
            sqlx::query(
                "WITH started AS (
                     UPDATE chunks
                     SET state = 'running', agent_id = $2, attempts = greatest(attempts, $3),
                         -- An agent has it, so it was published, even if the relay's
                         -- mark (which this delete pre-empts) never lands.
                         published_at = coalesce(published_at, now())
                     WHERE id = $1 AND state IN ('pending', 'published', 'running')
                 )
                 DELETE FROM outbox WHERE chunk_id = $1",
            )
            .bind(chunk_id.as_uuid())
            .bind(agent_id.as_uuid())
            .bind(attempts)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)
        })
        .await
    }

    async fn chunk_finished(&self, chunk_id: ChunkId) -> Result<(), StoreError> {
        let known: Option<bool> = sqlx::query_scalar(
            "WITH done AS (
                 UPDATE chunks SET state = 'done', finished_at = now()
                 WHERE id = $1 AND state IN ('pending', 'published', 'running')
             ), unqueued AS (
                 DELETE FROM outbox WHERE chunk_id = $1
             )
             SELECT true FROM chunks WHERE id = $1",
        )
        .bind(chunk_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match known {
            Some(_) => Ok(()),
            None => Err(StoreError::not_found(format!("chunk {chunk_id}"))),
        }
    }

    async fn dead_letter_chunk(&self, chunk_id: ChunkId, reason: &str) -> Result<u64, StoreError> {
        let result_reason = format!("chunk dead-lettered: {reason}");
        let result_reason = result_reason.as_str();
        self.retrying(move || async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let run: Option<Uuid> = sqlx::query_scalar(
                "SELECT r.id FROM runs AS r JOIN chunks AS c ON c.run_id = r.id
                 WHERE c.id = $1 FOR UPDATE OF r",
            )
            .bind(chunk_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if run.is_none() {
                return Err(StoreError::not_found(format!("chunk {chunk_id}")));
            }
            sqlx::query(
                "WITH dead AS (
                     UPDATE chunks SET state = 'dead', finished_at = now(), dead_reason = $2
                     WHERE id = $1 AND state IN ('pending', 'published', 'running')
                 )
                 DELETE FROM outbox WHERE chunk_id = $1",
            )
            .bind(chunk_id.as_uuid())
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let filled = fill_missing(
                &mut tx,
                FillScope::Chunk(chunk_id),
                ResultStatus::Error,
                result_reason,
            )
            .await?;
            tx.commit().await.map_err(db)?;
            Ok(filled.iter().map(|(_, n)| *n).sum::<i64>())
        })
        .await
        .map(|filled| u64::try_from(filled).unwrap_or_default())
    }

    async fn get_chunk(&self, chunk_id: ChunkId) -> Result<ChunkRecord, StoreError> {
        let row: Option<ChunkRow> = sqlx::query_as(
            "SELECT id, run_id, segment, seq, targets, action_count, state, attempts, agent_id,
                    published_at, finished_at, dead_reason
             FROM chunks WHERE id = $1",
        )
        .bind(chunk_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::NotFound {
            what: format!("chunk {chunk_id}"),
        })
        .and_then(ChunkRecord::try_from)
    }

    async fn release_claims(&self, outbox_ids: &[i64]) -> Result<(), StoreError> {
        if outbox_ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE outbox SET claimed_until = NULL WHERE id = ANY($1)")
            .bind(outbox_ids)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn chunks_for_run(&self, run_id: RunId) -> Result<Vec<ChunkRecord>, StoreError> {
        let rows: Vec<ChunkRow> = sqlx::query_as(
            "SELECT id, run_id, segment, seq, targets, action_count, state, attempts, agent_id,
                    published_at, finished_at, dead_reason
             FROM chunks WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(ChunkRecord::try_from).collect()
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(rows).unwrap_or(0))
    }
}
