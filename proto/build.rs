//! Compiles every `.proto` under this folder with protox (pure Rust, no system protoc) into one
//! descriptor set, then generates messages from it, and the clients and servers the crate's
//! `client` and `server` features ask for, with every service using
//! `crate::limits::BoundedCodec`. The descriptor set is also kept for gRPC server
//! reflection.
//!
//! It also generates the `Bounded` impls (`OUT_DIR/limits.rs`) from the contract's own bounds,
//! `(common.v1.max_len)` and `(common.v1.max_items)`, and refuses to build when a string,
//! bytes or repeated field of a message some RPC takes as input has no bound: every field a
//! caller can fill has a documented maximum.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost_reflect::{Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, Value};

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
    // Read when the script runs, not when it was compiled: a build script's binary can be
    // reused by a checkout at another path that shares the target directory.
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for package in [
        "common",
        "events",
        "identity",
        "notification",
        "ops",
        "orgaccess",
        "staff",
    ] {
        protos(&root.join(package), &mut files);
    }
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&root]).expect("proto root is readable");
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&files).expect("protos compile");
    let descriptors = compiler.file_descriptor_set();
    let pool = compiler.descriptor_pool();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )
    .expect("descriptor set is written");
    std::fs::write(out.join("limits.rs"), bounded_impls(&pool)).expect("limits are written");

    tonic_prost_build::configure()
        .build_client(std::env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        .codec_path("crate::limits::BoundedCodec")
        .compile_fds(descriptors)
        .expect("code generation succeeds");
}

/// Messages (ours, not google's) reachable from some RPC's input.
fn request_messages(pool: &DescriptorPool) -> HashSet<String> {
    fn visit(message: MessageDescriptor, seen: &mut HashSet<String>) {
        if message.full_name().starts_with("google.") || !seen.insert(message.full_name().into()) {
            return;
        }
        for field in message.fields() {
            if let Kind::Message(inner) = field.kind() {
                visit(inner, seen);
            }
        }
    }
    let mut seen = HashSet::new();
    for service in pool.services() {
        for method in service.methods() {
            visit(method.input(), &mut seen);
        }
    }
    seen
}

/// prost's Rust path of a message: `staff.v1.Outer.Inner` → `crate::staff::v1::outer::Inner`.
fn rust_path(message: &MessageDescriptor) -> String {
    let package = message.package_name();
    let mut path = format!("crate::{}", package.replace('.', "::"));
    let relative = message
        .full_name()
        .strip_prefix(&format!("{package}."))
        .unwrap_or(message.full_name());
    let parts: Vec<&str> = relative.split('.').collect();
    for parent in &parts[..parts.len() - 1] {
        write!(path, "::{}", snake(parent)).expect("writing to a String");
    }
    write!(path, "::{}", camel(parts[parts.len() - 1])).expect("writing to a String");
    path
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Upper camel case as prost writes type names (only the first letter of a run of capitals
/// stays upper case).
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut previous_upper = false;
    for (i, c) in name.chars().enumerate() {
        if c == '_' {
            previous_upper = false;
            continue;
        }
        if i == 0 || out.ends_with('_') {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() && previous_upper {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        previous_upper = c.is_uppercase();
    }
    out
}

fn field_name(field: &FieldDescriptor) -> String {
    let name = field.name();
    match name {
        "type" | "match" | "ref" | "self" | "fn" | "move" | "mod" | "use" => format!("r#{name}"),
        _ => name.to_owned(),
    }
}

fn bound(field: &FieldDescriptor, extension: &str) -> Option<u32> {
    let pool = field.parent_pool();
    let extension = pool.get_extension_by_name(extension)?;
    let options = field.options();
    if !options.has_extension(&extension) {
        return None;
    }
    match options.get_extension(&extension).as_ref() {
        Value::U32(n) => Some(*n),
        _ => None,
    }
}

fn bounded_impls(pool: &DescriptorPool) -> String {
    let required = request_messages(pool);
    let mut missing = BTreeSet::new();
    let mut code = String::from("// Generated by proto/build.rs from the contract's bounds.\n");
    for message in pool.all_messages() {
        if message.full_name().starts_with("google.") || message.is_map_entry() {
            continue;
        }
        let path = rust_path(&message);
        // Only what callers send is checked; answers get an empty impl (the codec needs one).
        let mut body = String::new();
        if required.contains(message.full_name()) {
            for field in message.fields() {
                // Oneof payloads are events, never requests.
                if field.containing_oneof().is_none() {
                    field_checks(&field, &mut body, &mut missing);
                }
            }
        }
        let prefix = if body.is_empty() { "_prefix" } else { "prefix" };
        let out = if body.is_empty() { "_out" } else { "out" };
        writeln!(
            code,
            "impl crate::limits::Bounded for {path} {{\n    fn bounds(&self, {prefix}: &str, {out}: &mut Vec<crate::limits::Violation>) {{\n{body}    }}\n}}"
        )
        .expect("writing to a String");
    }
    assert!(
        missing.is_empty(),
        "every string, bytes and repeated field of a request needs a bound \
         ([(common.v1.max_len) = …] / [(common.v1.max_items) = …]); missing:\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
    code
}

/// Appends to `body` the checks of one field of a request message, and to `missing` the bound
/// the field lacks, if any.
fn field_checks(field: &FieldDescriptor, body: &mut String, missing: &mut BTreeSet<String>) {
    let name = field.name();
    let rust = field_name(field);
    let repeated = field.cardinality() == Cardinality::Repeated;
    let max_len = bound(field, "common.v1.max_len");
    let line = |body: &mut String, check: String| {
        writeln!(body, "        {check}").expect("writing to a String");
    };
    if repeated {
        match bound(field, "common.v1.max_items") {
            Some(n) => line(
                body,
                format!("crate::limits::items(self.{rust}.len(), {n}, prefix, \"{name}\", out);"),
            ),
            None if !field.is_map() => {
                missing.insert(format!("{} (max_items)", field.full_name()));
            }
            None => {}
        }
    }
    match field.kind() {
        Kind::String => match (max_len, repeated) {
            (Some(n), false) => line(
                body,
                format!("crate::limits::text(&self.{rust}, {n}, prefix, \"{name}\", out);"),
            ),
            (Some(n), true) => line(
                body,
                format!("crate::limits::texts(&self.{rust}, {n}, prefix, \"{name}\", out);"),
            ),
            (None, _) => {
                missing.insert(format!("{} (max_len)", field.full_name()));
            }
        },
        Kind::Bytes if !repeated => match max_len {
            Some(n) => line(
                body,
                format!("crate::limits::bytes(self.{rust}.len(), {n}, prefix, \"{name}\", out);"),
            ),
            None => {
                missing.insert(format!("{} (max_len)", field.full_name()));
            }
        },
        Kind::Message(_) if !field.is_map() => {
            if repeated {
                line(
                    body,
                    format!("crate::limits::each(&self.{rust}, prefix, \"{name}\", out);"),
                );
            } else {
                line(
                    body,
                    format!(
                        "if let Some(value) = &self.{rust} {{ crate::limits::nested(value, prefix, \"{name}\", out); }}"
                    ),
                );
            }
        }
        _ => {}
    }
}
