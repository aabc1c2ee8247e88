//! Job templates (saved job definitions to start new jobs from) and the controller's
//! run-time settings document.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::model::JobSpec;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// A saved job definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobTemplate {
    /// Stable id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The job it starts.
    pub spec: JobSpec,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TemplateRow {
    id: Uuid,
    name: String,
    description: String,
    spec: Json<JobSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for JobTemplate {
    fn from(row: TemplateRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            spec: row.spec.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The settings document with its version (for optimistic concurrency).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSettings {
    /// Bumped on every change.
    pub version: i64,
    /// The document as the controller wrote it.
    pub document: Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Saved job templates and the run-time settings document.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Saves a template; a template with the same name is replaced when `replace` is set,
    /// otherwise it is [`StoreError::AlreadyExists`].
    async fn save_template(
        &self,
        name: &str,
        description: &str,
        spec: &JobSpec,
        replace: bool,
    ) -> Result<JobTemplate, StoreError>;

    /// Templates by name, after `after_name`, at most `limit`.
    async fn list_templates(
        &self,
        after_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobTemplate>, StoreError>;

    /// The template with this id.
    async fn get_template(&self, id: Uuid) -> Result<JobTemplate, StoreError>;

    /// Deletes a template.
    async fn delete_template(&self, id: Uuid) -> Result<(), StoreError>;

    /// The settings document, if one was ever written.
    async fn get_settings(&self) -> Result<Option<StoredSettings>, StoreError>;

    /// Writes the settings document if it is still at `expected_version` (0: never
    /// written; `None`: no check).
    async fn put_settings(
        &self,
        expected_version: Option<i64>,
        document: &Value,
    ) -> Result<StoredSettings, StoreError>;
}

#[async_trait]
impl TemplateStore for PgStore {
    async fn save_template(
        &self,
        name: &str,
        description: &str,
        spec: &JobSpec,
        replace: bool,
    ) -> Result<JobTemplate, StoreError> {
        let sql = if replace {
            "INSERT INTO job_templates (id, name, description, spec) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE
             SET description = EXCLUDED.description, spec = EXCLUDED.spec, updated_at = now()
             RETURNING id, name, description, spec, created_at, updated_at"
        } else {
            "INSERT INTO job_templates (id, name, description, spec) VALUES ($1, $2, $3, $4)
             RETURNING id, name, description, spec, created_at, updated_at"
        };
        let row: TemplateRow = sqlx::query_as(sql)
            .bind(Uuid::now_v7())
            .bind(name)
            .bind(description)
            .bind(Json(spec))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match db(e) {
                StoreError::AlreadyExists { .. } => StoreError::AlreadyExists {
                    what: format!("template named {name:?}"),
                },
                other => other,
            })?;
        Ok(row.into())
    }

    async fn list_templates(
        &self,
        after_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobTemplate>, StoreError> {
        let rows: Vec<TemplateRow> = sqlx::query_as(
            "SELECT id, name, description, spec, created_at, updated_at FROM job_templates
             WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2",
        )
        .bind(after_name)
        .bind(i64::from(limit.clamp(1, crate::MAX_PAGE)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(JobTemplate::from).collect())
    }

    async fn get_template(&self, id: Uuid) -> Result<JobTemplate, StoreError> {
        let row: Option<TemplateRow> = sqlx::query_as(
            "SELECT id, name, description, spec, created_at, updated_at FROM job_templates
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(JobTemplate::from)
            .ok_or_else(|| StoreError::not_found(format!("template {id}")))
    }

    async fn delete_template(&self, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM job_templates WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("template {id}")));
        }
        Ok(())
    }

    async fn get_settings(&self) -> Result<Option<StoredSettings>, StoreError> {
        let row: Option<(i64, Json<Value>, DateTime<Utc>)> =
            sqlx::query_as("SELECT version, document, updated_at FROM settings")
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Ok(
            row.map(|(version, Json(document), updated_at)| StoredSettings {
                version,
                document,
                updated_at,
            }),
        )
    }

    async fn put_settings(
        &self,
        expected_version: Option<i64>,
        document: &Value,
    ) -> Result<StoredSettings, StoreError> {
        let sql = match expected_version {
            None => {
                "INSERT INTO settings (singleton, version, document) VALUES (true, 1, $2)
                 ON CONFLICT (singleton) DO UPDATE
                 SET document = EXCLUDED.document, version = settings.version + 1,
                     updated_at = now()
                 RETURNING version, updated_at"
            }
            Some(0) => {
                "INSERT INTO settings (singleton, version, document) VALUES (true, 1, $2)
                 ON CONFLICT (singleton) DO NOTHING
                 RETURNING version, updated_at"
            }
            Some(_) => {
                "UPDATE settings SET document = $2, version = version + 1, updated_at = now()
                 WHERE version = $1
                 RETURNING version, updated_at"
            }
        };
        let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as(sql)
            .bind(expected_version)
            .bind(Json(document))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let (version, updated_at) = row.ok_or_else(|| StoreError::Conflict {
            message: "settings changed since they were read; read them again".to_owned(),
        })?;
        Ok(StoredSettings {
            version,
            document: document.clone(),
            updated_at,
        })
    }
}
