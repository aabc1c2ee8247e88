//! The wire contracts of package `opsconductor.v1` as generated tonic/prost code: the
//! agent ↔ controller contract (`proto/opsconductor/v1/agent.proto`) and the client API
//! (`api.proto`: `JobService`, `LibraryService`, `FleetService`, `InventoryService`), plus
//! the conversions between agent messages and the core types.
//!
//! Layout: [`v1`] is the generated package; [`FILE_DESCRIPTOR_SET`] describes it (and the
//! well-known types it imports) for gRPC server reflection; [`convert`] maps results between
//! [`opsconductor_core::model::ResultRecord`] and [`v1::Result`], rejecting malformed input
//! from the wire with an error that names the field; [`bearer`] is the interceptor that
//! sends a client's token.

/// Generated code of package `opsconductor.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("opsconductor.v1");
}

/// The encoded `FileDescriptorSet` of package `opsconductor.v1` with its imports, for
/// `tonic_reflection::server::Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/opsconductor_descriptor.bin"));

pub mod bearer;
pub mod convert;

pub use convert::ConvertError;
