//! # opsconductor-core
//!
//! The pure heart of OpsConductor: everything that decides *what* runs and *what a result
//! means*, with no async runtime, transport or database. Every other crate builds on it.
//!
//! ## Layout
//! - [`ids`] — UUID v7 id newtypes.
//! - [`access`] — the roles (viewer, operator, admin) every transport enforces.
//! - [`error`] — field-precise [`ValidationError`] shared by validated constructors.
//! - [`model`] — jobs, schedules, actions, runs, results, segments.
//! - [`library`] — the command / parser / target-source libraries and their loader.
//! - [`params`] — command params checked against the command's JSON Schema.
//! - [`template`] — command templates compiled at load, rendered for previews.
//! - [`parse`] — output parsers (regex, JSONPath, key=value, tables) and field maps.
//! - [`credential`] — credential kinds and their secret material, checked in one place.
//! - [`criteria`] — the success-criteria expression language (ok / warn / fail).
//! - [`inventory`] — devices learned by scans, dynamic-group filters, scan diffs, imports.
//! - [`targets`] — target expansion (addresses, CIDRs, ranges, lists, files) and routing.
//! - [`timestamp`] — RFC 3339 timestamps in API output, written without `fmt`.

pub mod access;
pub mod credential;
pub mod criteria;
pub mod error;
pub mod ids;
pub mod inventory;
pub mod library;
pub mod model;
pub mod params;
pub mod parse;
pub mod targets;
pub mod template;
pub mod timestamp;

pub use error::{FieldError, ValidationError};
