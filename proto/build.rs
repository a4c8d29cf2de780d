//! Compiles `proto/flotilla/v1/federation.proto` (messages, the tonic
//! client and server, and the descriptor set for server reflection).
//!
//! protoc: `$PROTOC` when set (Debian's protobuf-compiler, say), else the
//! one vendored by the protoc-bin-vendored crate, so a build needs nothing
//! beyond the crate registry.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("flotilla_v1_descriptor.bin"))
        .compile_with_config(config, &["proto/flotilla/v1/federation.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    Ok(())
}
