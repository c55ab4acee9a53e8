//! Compiles `proto/msync.proto` into Rust types. There is no `protoc` on the build machines:
//! `protox` (a pure-Rust protobuf compiler) produces the descriptors and `prost-build` generates
//! the code from them (`$OUT_DIR/easemob.pb.rs`, included by `src/msync.rs`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/msync.proto";
    println!("cargo:rerun-if-changed={PROTO}");

    let descriptors = protox::compile([PROTO], ["proto"])?;
    prost_build::Config::new()
        // `bytes` fields decode as `bytes::Bytes`: zero-copy out of a received frame, and cheap to
        // share when one stored payload goes to many recipients.
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
