//! The agent ↔ controller wire contract (`proto/opsconductor/v1/agent.proto`) as generated
//! tonic/prost code, plus the conversions between its messages and the core types.
//!
//! Layout: [`v1`] is the generated package; [`convert`] maps results between
//! [`opsconductor_core::model::ResultRecord`] and [`v1::Result`], rejecting malformed input
//! from the wire with an error that names the field.

/// Generated code of package `opsconductor.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("opsconductor.v1");
}

pub mod convert;

pub use convert::ConvertError;
