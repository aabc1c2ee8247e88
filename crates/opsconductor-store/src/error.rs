//! The store's one error type, and the translation of database errors into it.
//!
//! Callers decide what to do from the variant alone (answer 404 / 409 / 503, retry, give
//! up), so every SQLSTATE that means something to them is translated here and no sqlx type
//! leaves the crate.

use std::borrow::Cow;

/// Everything a store operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The thing the operation needs does not exist (`run 0190…`, `segment "lab"`).
    #[error("{what} not found")]
    NotFound {
        /// What was missing, with its key.
        what: String,
    },
    /// A thing with the same key or unique name already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What clashed, with its key.
        what: String,
    },
    /// The operation lost a race with another writer, or the state forbids it right now
    /// (cancelling a finished run). Races are retried inside the store first, so seeing
    /// this for a race means it kept losing.
    #[error("conflict: {message}")]
    Conflict {
        /// What clashed.
        message: String,
    },
    /// The input breaks a rule of the schema (a value out of range, a check constraint).
    #[error("invalid: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// A credential (enrollment token, agent secret) was refused.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// Why, worded so it reveals nothing about which part was wrong.
        message: String,
    },
    /// The database cannot be reached or is shutting down; worth retrying later.
    #[error("database unavailable: {message}")]
    Unavailable {
        /// The connection problem.
        message: String,
    },
    /// Anything else: a bug or a broken schema, not something a caller can fix.
    #[error("store error: {message}")]
    Other {
        /// The underlying error.
        message: String,
    },
}

impl StoreError {
    /// True when the same call may succeed if repeated later: an outage, or a race the
    /// store kept losing (not a state conflict such as cancelling a finished run).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. }) || self.is_lost_race()
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
        }
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::Other {
            message: message.into(),
        }
    }

    /// True for the serialization failures and deadlocks the store retries by itself.
    pub(crate) fn is_lost_race(&self) -> bool {
        matches!(self, Self::Conflict { message } if message.starts_with(LOST_RACE))
    }
}

/// Prefix of [`StoreError::Conflict`] messages that come from SQLSTATE 40001 / 40P01.
const LOST_RACE: &str = "concurrent update";

/// Translates a sqlx error by its kind and, for database errors, by SQLSTATE.
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code().unwrap_or(Cow::Borrowed(""));
            let subject = || subject_of(e.constraint(), e.message());
            match code.as_ref() {
                "23505" => StoreError::AlreadyExists { what: subject() },
                "23503" => StoreError::NotFound { what: subject() },
                "40001" | "40P01" => StoreError::Conflict {
                    message: format!("{LOST_RACE}: {}", e.message()),
                },
                // Class 22 is bad data, 23502/23514 null and check violations.
                c if c.starts_with("22") || c == "23502" || c == "23514" => {
                    StoreError::invalid(e.message())
                }
                // Class 08 is connection trouble; 57P0x and 53300 are a server shutting
                // down, restarting or out of connection slots.
                c if c.starts_with("08") || c.starts_with("57P0") || c == "53300" => {
                    StoreError::Unavailable {
                        message: e.message().to_owned(),
                    }
                }
                c => StoreError::other(format!("{} (SQLSTATE {c})", e.message())),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable {
            message: error.to_string(),
        },
        sqlx::Error::RowNotFound => StoreError::not_found("row"),
        other => StoreError::other(other.to_string()),
    }
}

/// Names what a constraint protects, for messages a person reads. Constraints the code
/// does not know fall back to the database's own message.
fn subject_of(constraint: Option<&str>, message: &str) -> String {
    match constraint {
        Some("jobs_name_key") => "job with this name".to_owned(),
        Some("jobs_pkey") => "job id".to_owned(),
        Some("runs_pkey") => "run id".to_owned(),
        Some("runs_one_per_schedule_slot") => "run for this job and schedule time".to_owned(),
        Some("runs_job_id_fkey") => "job".to_owned(),
        Some("chunks_pkey") => "chunk id".to_owned(),
        Some("chunks_run_id_seq_key") => "chunk sequence number in this run".to_owned(),
        Some("agents_segment_fkey" | "enrollment_tokens_segment_fkey") => "segment".to_owned(),
        _ => message.to_owned(),
    }
}
