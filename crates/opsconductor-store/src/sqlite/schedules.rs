//! The scheduler's view on SQLite, and its leader election.
//!
//! Leadership is an exclusive lock on the file `<database>.leader` (`File::try_lock`,
//! `flock` on Unix), the counterpart of PostgreSQL's session advisory lock: it is held by
//! one open file handle at a time (also within one process: each contender opens its own
//! handle), and the operating system releases it when the handle closes or the process
//! dies, so a restarted process leads at once instead of waiting for a lease to run out.
//! The lock is local to the machine, which is what standalone mode is. As on PostgreSQL,
//! the unique (job, fire time) index on runs turns a double fire into
//! [`StoreError::AlreadyExists`].

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::Job;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now, uuid_list};
use crate::error::StoreError;
use crate::jobs::JobRow;
use crate::{JobsFingerprint, LeaderElection, ScheduleStore, StoreAdmin};

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn enabled_scheduled_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs
             WHERE enabled AND json_extract(spec, '$.schedule.type') <> 'manual'
             ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Job::from).collect())
    }

    async fn jobs_by_ids(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs
             WHERE id IN (SELECT unhex(value) FROM json_each($1))",
        )
        .bind(uuid_list(ids.iter().map(JobId::as_uuid)))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Job::from).collect())
    }

    async fn jobs_fingerprint(&self) -> Result<JobsFingerprint, StoreError> {
        let (jobs, enabled, versions, last_change): (i64, i64, i64, Option<DateTime<Utc>>) =
            sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE enabled), coalesce(sum(version), 0),
                        max(updated_at)
                 FROM jobs",
            )
            .fetch_one(&self.reader)
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
        let active: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT job_id FROM runs
             WHERE job_id IN (SELECT unhex(value) FROM json_each($1))
               AND status IN ('queued', 'running')",
        )
        .bind(uuid_list(jobs.iter().map(JobId::as_uuid)))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(active.into_iter().map(JobId::from_uuid).collect())
    }

    fn leader_election(&self) -> Box<dyn LeaderElection> {
        Box::new(SqliteLeaderElection {
            store: self.clone(),
            lock_path: self.leader_lock_path(),
            lock: None,
        })
    }
}

/// One contender for the scheduler leadership: it leads while it holds the lock file.
pub(crate) struct SqliteLeaderElection {
    store: SqliteStore,
    lock_path: PathBuf,
    /// The locked handle while this contender leads; closing it releases the lock.
    lock: Option<File>,
}

impl std::fmt::Debug for SqliteLeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLeaderElection")
            .field("lock_path", &self.lock_path)
            .field("held", &self.lock.is_some())
            .finish()
    }
}

#[async_trait]
impl LeaderElection for SqliteLeaderElection {
    fn is_held(&self) -> bool {
        self.lock.is_some()
    }

    async fn try_acquire(&mut self) -> Result<bool, StoreError> {
        if self.lock.is_some() {
            return Ok(true);
        }
        let unavailable = |e: std::io::Error| StoreError::Unavailable {
            message: format!(
                "cannot use the scheduler lock file {}: {e}",
                self.lock_path.display()
            ),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(unavailable)?;
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(unavailable(e)),
        }
    }

    async fn still_held(&mut self, timeout: Duration) -> bool {
        if self.lock.is_none() {
            return false;
        }
        // The lock cannot be lost while its handle is open; what can fail is the database.
        // A reader answers it, so a check does not queue behind a long write.
        let alive = tokio::time::timeout(timeout, self.store.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if !alive {
            self.lose();
        }
        alive
    }

    async fn watermark(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.ensure_leading()?;
        sqlx::query_scalar("SELECT checked_until FROM scheduler_state")
            .fetch_optional(&self.store.reader)
            .await
            .map_err(|e| self.failed(db(e)))
    }

    async fn checkpoint(
        &mut self,
        checked_until: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        self.ensure_leading()?;
        let write = sqlx::query(
            "INSERT INTO scheduler_state (singleton, checked_until, updated_at) VALUES (1, $1, $2)
             ON CONFLICT (singleton) DO UPDATE
             SET checked_until = max(checked_until, excluded.checked_until),
                 updated_at = excluded.updated_at",
        )
        .bind(Ts(checked_until))
        .bind(Ts(now()))
        .execute(&self.store.writer);
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failed(db(e))),
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
        if let Some(file) = self.lock.take() {
            // Closing the handle releases the lock too; unlocking first says so explicitly.
            let _ = file.unlock();
        }
    }
}

impl SqliteLeaderElection {
    fn ensure_leading(&self) -> Result<(), StoreError> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict {
                message: "this replica does not lead the scheduler".to_owned(),
            }),
        }
    }

    /// A failed write or read of the leader's state ends the leadership, as on PostgreSQL.
    fn failed(&mut self, error: StoreError) -> StoreError {
        self.lose();
        error
    }

    fn lose(&mut self) {
        self.lock = None;
    }
}
