//! Jobs: versioned definitions, stored as the core `JobSpec` serialised to JSON.

use chrono::{DateTime, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{Job, JobSpec};
use sqlx::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    version: i64,
    spec: Json<JobSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PgStore {
    /// Stores a new job at version 1. Fails with [`StoreError::AlreadyExists`] when a job
    /// with the same name exists. The spec is stored as given: validating it against the
    /// libraries is the caller's job.
    pub async fn create_job(&self, spec: &JobSpec) -> Result<Job, StoreError> {
        let id = JobId::new();
        let (created_at, updated_at): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO jobs (id, name, version, spec, enabled) VALUES ($1, $2, 1, $3, $4)
             RETURNING created_at, updated_at",
        )
        .bind(id.as_uuid())
        .bind(&spec.name)
        .bind(Json(spec))
        .bind(spec.enabled)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match db(e) {
            StoreError::AlreadyExists { .. } => StoreError::AlreadyExists {
                what: format!("job named {:?}", spec.name),
            },
            other => other,
        })?;
        Ok(Job {
            id,
            version: 1,
            spec: spec.clone(),
            created_at,
            updated_at,
        })
    }

    /// The job with this id.
    pub async fn get_job(&self, id: JobId) -> Result<Job, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let row = row.ok_or_else(|| StoreError::not_found(format!("job {id}")))?;
        Ok(Job {
            id: JobId::from_uuid(row.id),
            version: row.version,
            spec: row.spec.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
