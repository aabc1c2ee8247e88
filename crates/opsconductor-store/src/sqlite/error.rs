//! SQLite result codes translated into [`StoreError`], as `crate::error` does for
//! SQLSTATEs: the same variant for the same situation on either database.

use crate::error::StoreError;

// Primary result codes (https://www.sqlite.org/rescode.html).
const SQLITE_IOERR: i32 = 10;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_PROTOCOL: i32 = 15;
const SQLITE_TOOBIG: i32 = 18;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_MISMATCH: i32 = 20;
const SQLITE_RANGE: i32 = 25;
// Extended constraint codes.
const SQLITE_CONSTRAINT_CHECK: i32 = 275;
const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;
const SQLITE_CONSTRAINT_NOTNULL: i32 = 1299;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
const SQLITE_CONSTRAINT_DATATYPE: i32 = 3091;

/// Translates a sqlx error from SQLite: database errors by their (extended) result code,
/// everything else (pool, I/O) as for PostgreSQL.
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    let sqlx::Error::Database(e) = error else {
        return crate::error::db(error);
    };
    let code: i32 = e.code().and_then(|c| c.parse().ok()).unwrap_or_default();
    match (code, code & 0xff) {
        (SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY, _) => StoreError::AlreadyExists {
            what: subject_of(e.message()),
        },
        // SQLite does not say which key: callers that know name it.
        (SQLITE_CONSTRAINT_FOREIGNKEY, _) => StoreError::NotFound {
            what: "a referenced row".to_owned(),
        },
        (SQLITE_CONSTRAINT_CHECK | SQLITE_CONSTRAINT_NOTNULL | SQLITE_CONSTRAINT_DATATYPE, _)
        | (_, SQLITE_CONSTRAINT | SQLITE_TOOBIG | SQLITE_MISMATCH | SQLITE_RANGE) => {
            StoreError::invalid(e.message())
        }
        // Another process held the lock past the busy timeout: worth retrying.
        (_, SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Unavailable {
            message: format!("the database is locked by another process: {}", e.message()),
        },
        // The file cannot be opened, read or grown (a full disk among them).
        (_, SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN | SQLITE_PROTOCOL) => {
            StoreError::Unavailable {
                message: e.message().to_owned(),
            }
        }
        _ => StoreError::other(format!("{} (SQLite result code {code})", e.message())),
    }
}

/// Names what a unique key protects, for messages a person reads, from SQLite's
/// `UNIQUE constraint failed: <table>.<column>, …` (the PostgreSQL constraint names'
/// counterparts). Keys the code does not know fall back to SQLite's own message.
fn subject_of(message: &str) -> String {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    match columns {
        "jobs.name" => "job with this name",
        "jobs.id" => "job id",
        "runs.id" => "run id",
        "runs.job_id, runs.scheduled_for" => "run for this job and schedule time",
        "chunks.id" => "chunk id",
        "chunks.run_id, chunks.seq" => "chunk sequence number in this run",
        _ => return message.to_owned(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::subject_of;

    #[test]
    fn known_keys_are_named_in_words() {
        assert_eq!(
            subject_of("UNIQUE constraint failed: runs.job_id, runs.scheduled_for"),
            "run for this job and schedule time"
        );
        assert_eq!(
            subject_of("UNIQUE constraint failed: users.username_key"),
            "UNIQUE constraint failed: users.username_key"
        );
    }
}
