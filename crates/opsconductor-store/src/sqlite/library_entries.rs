//! User library entries on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{SqliteStore, Ts, db, now};
use crate::error::StoreError;
use crate::{LibraryEntry, LibraryEntryStore, LibraryStamp};

#[async_trait]
impl LibraryEntryStore for SqliteStore {
    async fn library_entries(&self) -> Result<Vec<LibraryEntry>, StoreError> {
        let rows: Vec<(String, String, Json<Value>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT kind, id, document, updated_at FROM library_entries ORDER BY kind, id",
        )
        .fetch_all(&self.reader)
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
                .fetch_one(&self.reader)
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
            "INSERT INTO library_entries (kind, id, document, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (kind, id) DO UPDATE
             SET document = excluded.document, updated_at = excluded.updated_at",
        )
        .bind(kind)
        .bind(id)
        .bind(Json(document))
        .bind(Ts(now()))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_library_entry(&self, kind: &str, id: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM library_entries WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.writer)
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
        // PostgreSQL's containment test (`actions @> [{"command": id}]`, or
        // `[{"parsers": [id]}]`) as a walk of the actions.
        let sql = match kind {
            "commands" => {
                "SELECT name FROM jobs AS j
                 WHERE EXISTS (SELECT 1 FROM json_each(j.spec, '$.actions') AS a
                               WHERE json_extract(a.value, '$.command') = $1
                                 AND json_type(a.value, '$.command') = 'text')
                 ORDER BY name LIMIT 20"
            }
            "parsers" => {
                "SELECT name FROM jobs AS j
                 WHERE EXISTS (SELECT 1 FROM json_each(j.spec, '$.actions') AS a,
                                             json_each(a.value, '$.parsers') AS p
                               WHERE json_type(a.value, '$.parsers') = 'array'
                                 AND p.type = 'text' AND p.value = $1)
                 ORDER BY name LIMIT 20"
            }
            _ => return Ok(Vec::new()),
        };
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_all(&self.reader)
            .await
            .map_err(db)
    }
}
