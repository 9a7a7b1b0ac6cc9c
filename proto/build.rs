//! Compiles every `.proto` under this folder with protox (pure Rust, no system protoc) into one
//! descriptor set, then generates messages, clients and servers from it. The descriptor set is
//! also kept for gRPC server reflection.

use std::path::{Path, PathBuf};

fn protos(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("proto folder is readable");
    for entry in entries {
        let path = entry.expect("proto folder entry is readable").path();
        if path.is_dir() {
            protos(&path, found);
        } else if path.extension().is_some_and(|e| e == "proto") {
            found.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for package in [
        "common",
        "events",
        "identity",
        "notification",
        "orgaccess",
        "staff",
    ] {
        protos(&root.join(package), &mut files);
    }
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&root]).expect("protos compile");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )
    .expect("descriptor set is written");

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)
        .expect("code generation succeeds");
}
