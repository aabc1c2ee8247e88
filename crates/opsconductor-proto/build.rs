//! Generates the agent contract and the client API from `proto/opsconductor/v1` with the
//! protoc shipped inside `protoc-bin-vendored` (and its well-known types), so builds need
//! neither a system protoc nor the network. The encoded descriptor set is written next to
//! the generated code for gRPC server reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Read at run time, not with env!(): a build script binary reused from a shared
    // target directory must look at the checkout that is building now.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let protos = [
        root.join("opsconductor/v1/agent.proto"),
        root.join("opsconductor/v1/api.proto"),
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("opsconductor_descriptor.bin"))
        .compile_with_config(
            config,
            &protos,
            &[root, protoc_bin_vendored::include_path()?],
        )?;
    Ok(())
}
