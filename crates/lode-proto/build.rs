//! Compiles `proto/push.proto` with the vendored `protoc`, so building Lode
//! needs nothing installed beyond cargo.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let proto_dir = manifest.join("../../proto");
    let proto = proto_dir.join("push.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    let well_known = protoc_bin_vendored::include_path().expect("vendored protobuf includes");

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // Generate google.protobuf.Timestamp ourselves instead of pulling prost-types.
    config.compile_well_known_types();
    // timestamp.proto's comments hold Java/Python snippets rustdoc would run as doctests.
    config.disable_comments(["."]);
    config
        .compile_protos(&[&proto], &[&proto_dir, &well_known])
        .expect("compile proto/push.proto");

    // OTLP logs (`/otlp/v1/logs`), its own package: generated into `otlp.rs`.
    let otlp = proto_dir.join("otlp_logs.proto");
    println!("cargo:rerun-if-changed={}", otlp.display());
    prost_build::Config::new()
        .protoc_executable(protoc_bin_vendored::protoc_bin_path().expect("vendored protoc"))
        .disable_comments(["."])
        .compile_protos(&[&otlp], &[&proto_dir])
        .expect("compile proto/otlp_logs.proto");
}
