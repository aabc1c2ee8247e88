//! User-defined library entries: stored as written, compiled by the controller.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::PgStore;
use crate::error::{StoreError, db};

/// One stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryEntry {
    /// `commands`, `parsers` or `target_sources` (the library file's list name).
    pub kind: String,
    /// The entry's id.
    pub id: String,
    /// The entry as written.
    pub document: Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Changes whenever an entry is added, changed or removed: replicas compare it to decide
/// whether to recompile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LibraryStamp {
    /// Entries stored.
    pub count: i64,
    /// Latest change.
    pub latest: Option<DateTime<Utc>>,
}

/// User-defined library entries, kept beside the shipped library files.
#[async_trait]
pub trait LibraryEntryStore: Send + Sync {
    /// Every user entry, by kind and id.
    async fn library_entries(&self) -> Result<Vec<LibraryEntry>, StoreError>;

    /// The current [`LibraryStamp`].
    async fn library_stamp(&self) -> Result<LibraryStamp, StoreError>;

    /// Adds or replaces an entry.
    async fn put_library_entry(
        &self,
        kind: &str,
        id: &str,
        document: &Value,
    ) -> Result<(), StoreError>;

    /// Removes an entry.
    async fn delete_library_entry(&self, kind: &str, id: &str) -> Result<(), StoreError>;

    /// Names of the jobs (at most 20) whose actions use this command or parser.
    async fn jobs_using_library_entry(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Vec<String>, StoreError>;
}

#[async_trait]
impl LibraryEntryStore for PgStore {
    async fn library_entries(&self) -> Result<Vec<LibraryEntry>, StoreError> {
        let rows: Vec<(String, String, Json<Value>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT kind, id, document, updated_at FROM library_entries ORDER BY kind, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(kind, id, Json(document), updated_at)| LibraryEntry {
                kind,
                id,
                document,
                updated_at,
            })
            .collect())
    }

    async fn library_stamp(&self) -> Result<LibraryStamp, StoreError> {
        let (count, latest): (i64, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT count(*), max(updated_at) FROM library_entries")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        Ok(LibraryStamp { count, latest })
    }

    async fn put_library_entry(
        &self,
        kind: &str,
        id: &str,
        document: &Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO library_entries (kind, id, document) VALUES ($1, $2, $3)
             ON CONFLICT (kind, id) DO UPDATE
             SET document = EXCLUDED.document, updated_at = clock_timestamp()",
        )
        .bind(kind)
        .bind(id)
        .bind(Json(document))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_library_entry(&self, kind: &str, id: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM library_entries WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::not_found(format!(
                "user library entry {kind}/{id}"
            )));
        }
        Ok(())
    }

    async fn jobs_using_library_entry(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let probe = match kind {
            "commands" => serde_json::json!([{ "command": id }]),
            "parsers" => serde_json::json!([{ "parsers": [id] }]),
            _ => return Ok(Vec::new()),
        };
        sqlx::query_scalar(
            "SELECT name FROM jobs WHERE spec -> 'actions' @> $1 ORDER BY name LIMIT 20",
        )
        .bind(Json(probe))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }
}
