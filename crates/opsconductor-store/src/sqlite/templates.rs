//! Job templates and the settings document on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::model::JobSpec;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now};
use crate::error::StoreError;
use crate::templates::TemplateRow;
use crate::{JobTemplate, StoredSettings, TemplateStore};

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn save_template(
        &self,
        name: &str,
        description: &str,
        spec: &JobSpec,
        replace: bool,
    ) -> Result<JobTemplate, StoreError> {
        let sql = if replace {
            "INSERT INTO job_templates (id, name, description, spec, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO UPDATE
             SET description = excluded.description, spec = excluded.spec,
                 updated_at = excluded.updated_at
             RETURNING id, name, description, spec, created_at, updated_at"
        } else {
            "INSERT INTO job_templates (id, name, description, spec, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             RETURNING id, name, description, spec, created_at, updated_at"
        };
        let row: TemplateRow = sqlx::query_as(sql)
            .bind(Uuid::now_v7())
            .bind(name)
            .bind(description)
            .bind(Json(spec))
            .bind(Ts(now()))
            .fetch_one(&self.writer)
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
             WHERE $1 IS NULL OR name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after_name)
        .bind(i64::from(limit.clamp(1, crate::MAX_PAGE)))
        .fetch_all(&self.reader)
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
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(JobTemplate::from)
            .ok_or_else(|| StoreError::not_found(format!("template {id}")))
    }

    async fn delete_template(&self, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM job_templates WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
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
                .fetch_optional(&self.reader)
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
                "INSERT INTO settings (singleton, version, document, updated_at)
                 VALUES (1, 1, $2, $3)
                 ON CONFLICT (singleton) DO UPDATE
                 SET document = excluded.document, version = settings.version + 1,
                     updated_at = excluded.updated_at
                 RETURNING version, updated_at"
            }
            Some(0) => {
                "INSERT INTO settings (singleton, version, document, updated_at)
                 VALUES (1, 1, $2, $3)
                 ON CONFLICT (singleton) DO NOTHING
                 RETURNING version, updated_at"
            }
            Some(_) => {
                "UPDATE settings SET document = $2, version = version + 1, updated_at = $3
                 WHERE version = $1
                 RETURNING version, updated_at"
            }
        };
        let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as(sql)
            .bind(expected_version)
            .bind(Json(document))
            .bind(Ts(now()))
            .fetch_optional(&self.writer)
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
