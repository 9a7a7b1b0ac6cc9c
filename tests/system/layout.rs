//! The shape of the code, checked: no service's `domain` or `app` module sees gRPC (tonic,
//! prost) or storage (sea-orm) types — conversions live at the edge and in the store, so the
//! product's rules stay functions that unit tests call without a server or a database, and the
//! use cases call the store instead of building queries.

use std::path::{Path, PathBuf};

/// Every `.rs` file of `dir` and below.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|x| x == "rs") {
            found.push(path);
        }
    }
}

/// The lines of `files` that name any of `banned` outside a comment.
fn offences(files: &[PathBuf], banned: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if banned.iter().any(|b| code.contains(b)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// The source files of module `module` (`module.rs` and `module/`) of every service.
fn module_files(module: &str) -> Vec<(String, PathBuf)> {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    let mut files = Vec::new();
    for service in std::fs::read_dir(&services)
        .expect("services/")
        .filter_map(Result::ok)
    {
        let name = service.file_name().to_string_lossy().into_owned();
        let src = service.path().join("src");
        let mut found = Vec::new();
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            found.push(file);
        }
        sources(&src.join(module), &mut found);
        files.extend(found.into_iter().map(|f| (name.clone(), f)));
    }
    files
}

const GRPC_AND_STORAGE: [&str; 4] = ["tonic", "prost", "sea_orm", "ps_proto"];

#[test]
fn no_domain_module_sees_grpc_or_storage_types() {
    let files: Vec<PathBuf> = module_files("domain").into_iter().map(|(_, f)| f).collect();
    assert!(files.len() >= 4, "found the domain modules: {files:?}");
    let offences = offences(&files, &GRPC_AND_STORAGE);
    assert!(
        offences.is_empty(),
        "domain modules must not use gRPC or storage types:\n{}",
        offences.join("\n")
    );
}

#[test]
fn no_app_module_sees_grpc_or_storage_types() {
    let files = module_files("app");
    let services: std::collections::BTreeSet<&str> =
        files.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(services.len(), 4, "found every service's app: {services:?}");
    let all: Vec<PathBuf> = files.into_iter().map(|(_, f)| f).collect();
    let grpc = offences(&all, &["tonic", "prost", "ps_proto"]);
    assert!(
        grpc.is_empty(),
        "app modules must not use gRPC types:\n{}",
        grpc.join("\n")
    );
    let storage = offences(&all, &["sea_orm", "store::entities"]);
    assert!(
        storage.is_empty(),
        "app modules must call their store, not sea-orm:\n{}",
        storage.join("\n")
    );
}
