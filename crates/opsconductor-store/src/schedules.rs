//! What the scheduler needs from the store: the jobs it fires, which of them have a run
//! in flight, and the leadership among controller replicas with the watermark a leader
//! hands over to the next.
//!
//! Leadership is a PostgreSQL session advisory lock held on a connection of its own (not
//! one from the pool, which would hand the session — and the lock — to whoever borrows it
//! next). The lock lives exactly as long as that session: when the connection drops, the
//! server releases it and another replica can take it on its next attempt. A replica that
//! lost the connection without noticing could still try to fire; the unique
//! (job, fire time) index on runs turns those attempts into [`StoreError::AlreadyExists`].

use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{Job, JobSpec};
use sqlx::postgres::PgConnectOptions;
use sqlx::types::Json;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// The advisory lock key of the scheduler leadership, as `hashtext` of this name (the same
/// naming scheme as the results-partition lock).
const LEADER_LOCK_NAME: &str = "opsconductor.scheduler";

/// A summary of the job table that changes whenever a job is created, edited, enabled,
/// disabled or removed: the scheduler reloads its jobs only when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobsFingerprint {
    pub(crate) jobs: i64,
    pub(crate) enabled: i64,
    pub(crate) versions: i64,
    pub(crate) last_change: Option<DateTime<Utc>>,
}

/// A job row as the scheduler reads it.
#[derive(sqlx::FromRow)]
struct ScheduledJobRow {
    id: Uuid,
    version: i64,
    spec: Json<JobSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ScheduledJobRow {
    fn into_job(self) -> Job {
        Job {
            id: JobId::from_uuid(self.id),
            version: self.version,
            spec: self.spec.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The scheduler's view: enabled scheduled jobs, active runs, and the leader election.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Every enabled job whose schedule can fire by itself (not `manual`), by id.
    async fn enabled_scheduled_jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// The jobs with these ids that exist (in no particular order): one query for a
    /// whole burst of fires.
    async fn jobs_by_ids(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError>;

    /// The current [`JobsFingerprint`]: one aggregate over the job table, cheap enough to
    /// ask every second.
    async fn jobs_fingerprint(&self) -> Result<JobsFingerprint, StoreError>;

    /// Those of `jobs` that have a queued or running run (of any trigger): one query for
    /// all of them.
    async fn jobs_with_active_runs(&self, jobs: &[JobId]) -> Result<HashSet<JobId>, StoreError>;

    /// A contender for the scheduler leadership, not yet connected. Each replica keeps one
    /// and calls [`LeaderElection::try_acquire`] until it wins.
    fn leader_election(&self) -> Box<dyn LeaderElection>;
}

#[async_trait]
impl ScheduleStore for PgStore {
    async fn enabled_scheduled_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<ScheduledJobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs
             WHERE enabled AND spec -> 'schedule' ->> 'type' <> 'manual'
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(ScheduledJobRow::into_job).collect())
    }

    async fn jobs_by_ids(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let uuids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let rows: Vec<ScheduledJobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs WHERE id = ANY($1)",
        )
        .bind(&uuids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(ScheduledJobRow::into_job).collect())
    }

    async fn jobs_fingerprint(&self) -> Result<JobsFingerprint, StoreError> {
        let (jobs, enabled, versions, last_change): (i64, i64, i64, Option<DateTime<Utc>>) =
            sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE enabled),
                        coalesce(sum(version), 0)::int8, max(updated_at)
                 FROM jobs",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(JobsFingerprint {
            jobs,
            enabled,
            versions,
            last_change,
        })
    }

    async fn jobs_with_active_runs(&self, jobs: &[JobId]) -> Result<HashSet<JobId>, StoreError> {
        if jobs.is_empty() {
            return Ok(HashSet::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|id| *id.as_uuid()).collect();
        let active: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT job_id FROM runs
             WHERE job_id = ANY($1) AND status IN ('queued', 'running')",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(active.into_iter().map(JobId::from_uuid).collect())
    }

    fn leader_election(&self) -> Box<dyn LeaderElection> {
        Box::new(PgLeaderElection {
            options: self.pool.connect_options(),
            conn: None,
            held: false,
        })
    }
}

/// One replica's side of the scheduler leadership. At most one replica holds it at a
/// time; the holder fires schedules and keeps the watermark a successor starts from.
#[async_trait]
pub trait LeaderElection: Send + std::fmt::Debug {
    /// True while this replica holds the leadership, as far as it last checked.
    fn is_held(&self) -> bool;

    /// Takes the leadership if nobody holds it; true when this replica now leads (or
    /// already did). Never waits. A failure is returned as an error and the next attempt
    /// starts over.
    async fn try_acquire(&mut self) -> Result<bool, StoreError>;

    /// A cheap check that the leadership is still held. A failure or no answer within
    /// `timeout` ends the leadership.
    async fn still_held(&mut self, timeout: Duration) -> bool;

    /// The watermark the previous leader left (every fire at or before it was handled), or
    /// `None` where no scheduler has led yet.
    async fn watermark(&mut self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records that every fire at or before `checked_until` has been handled. It never
    /// moves back. Failing, or taking longer than `timeout`, ends the leadership.
    async fn checkpoint(
        &mut self,
        checked_until: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<(), StoreError>;

    /// Gives the leadership up (best effort).
    async fn release(&mut self);
}

/// One replica's side of the scheduler leadership: a dedicated connection that holds the
/// advisory lock while this replica leads. Dropping it (or the connection failing) ends
/// the leadership; the server releases the lock as soon as it sees the session end.
pub struct PgLeaderElection {
    options: Arc<PgConnectOptions>,
    /// Kept between attempts so a follower does not open a connection per attempt.
    conn: Option<PgConnection>,
    held: bool,
}

impl std::fmt::Debug for PgLeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLeaderElection")
            .field("connected", &self.conn.is_some())
            .field("held", &self.held)
            .finish()
    }
}

#[async_trait]
impl LeaderElection for PgLeaderElection {
    fn is_held(&self) -> bool {
        self.held
    }

    async fn try_acquire(&mut self) -> Result<bool, StoreError> {
        if self.held {
            return Ok(true);
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let mut conn = self.options.connect().await.map_err(db)?;
                // A lost watermark write only means a successor re-evaluates a tick, whose
                // fires then collide on the unique index: not worth a WAL flush per tick.
                sqlx::query("SET synchronous_commit = off")
                    .execute(&mut conn)
                    .await
                    .map_err(db)?;
                self.conn.insert(conn)
            }
        };
        let acquired = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(LEADER_LOCK_NAME)
            .fetch_one(&mut *conn)
            .await;
        match acquired {
            Ok(acquired) => {
                self.held = acquired;
                Ok(acquired)
            }
            Err(e) => {
                self.conn = None;
                Err(db(e))
            }
        }
    }

    async fn still_held(&mut self, timeout: Duration) -> bool {
        if !self.held {
            return false;
        }
        let Some(conn) = &mut self.conn else {
            self.held = false;
            return false;
        };
        let alive = tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&mut *conn))
            .await
            .is_ok_and(|r| r.is_ok());
        if !alive {
            self.lose();
        }
        alive
    }

    async fn watermark(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.leading_connection()?;
        let result = sqlx::query_scalar("SELECT checked_until FROM scheduler_state")
            .fetch_optional(&mut *conn)
            .await;
        result.map_err(|e| self.failed(e))
    }

    async fn checkpoint(
        &mut self,
        checked_until: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let conn = self.leading_connection()?;
        let write = sqlx::query(
            "INSERT INTO scheduler_state (singleton, checked_until) VALUES (true, $1)
             ON CONFLICT (singleton) DO UPDATE
             SET checked_until = greatest(scheduler_state.checked_until, EXCLUDED.checked_until),
                 updated_at = now()",
        )
        .bind(checked_until)
        .execute(&mut *conn);
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => {
                self.lose();
                Err(StoreError::Unavailable {
                    message: format!(
                        "scheduler watermark write took longer than {timeout:?}; leadership given up"
                    ),
                })
            }
        }
    }

    async fn release(&mut self) {
        let was_held = std::mem::replace(&mut self.held, false);
        if let Some(mut conn) = self.conn.take() {
            if was_held {
                let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
                    .bind(LEADER_LOCK_NAME)
                    .execute(&mut conn)
                    .await;
            }
            let _ = conn.close().await;
        }
    }
}

impl PgLeaderElection {
    fn leading_connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        match (&mut self.conn, self.held) {
            (Some(conn), true) => Ok(conn),
            _ => Err(StoreError::Conflict {
                message: "this replica does not lead the scheduler".to_owned(),
            }),
        }
    }

    /// An error on the lock's connection: whatever it was, the session can no longer be
    /// trusted to hold the lock.
    fn failed(&mut self, error: sqlx::Error) -> StoreError {
        self.lose();
        db(error)
    }

    fn lose(&mut self) {
        self.held = false;
        self.conn = None;
    }
}
