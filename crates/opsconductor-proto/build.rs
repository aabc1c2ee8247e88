//! Generates the agent contract from `proto/opsconductor/v1` with the protoc shipped inside
//! `protoc-bin-vendored`, so builds need neither a system protoc nor the network.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let agent = root.join("opsconductor/v1/agent.proto");
    println!("cargo:rerun-if-changed={}", agent.display());
    tonic_prost_build::configure().compile_with_config(config, &[agent], &[root])?;
    Ok(())
}
