//! Domain types: jobs, schedules, actions, runs, results, segments.
//!
//! Constructors validate; a value of these types that came through `validate` is one the
//! rest of the system can act on. Wire and storage formats are the serde forms here.

pub(crate) mod job;
mod result;
mod run;
mod schedule;
pub mod segment;

pub use crate::error::ValidationError;
pub use job::{ActionSpec, Job, JobOptions, JobSpec, OverlapPolicy};
pub use result::{MAX_RAW_EXCERPT_BYTES, ResultRecord, ResultStatus, cap_excerpt};
pub use run::{Run, RunCounters, RunStatus, RunTrigger};
pub use schedule::{MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, Schedule};
pub use segment::{DEFAULT_SEGMENT, Segment};
