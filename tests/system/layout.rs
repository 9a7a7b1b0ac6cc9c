//! The shape of the code, checked: no service's `domain` module sees gRPC (tonic, prost) or
//! storage (sea-orm) types — conversions live at the edge and in the store, so the product's
//! rules stay functions that unit tests call without a server or a database.

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

#[test]
fn no_domain_module_sees_grpc_or_storage_types() {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    let mut files = Vec::new();
    for service in std::fs::read_dir(&services)
        .expect("services/")
        .filter_map(Result::ok)
    {
        let src = service.path().join("src");
        let file = src.join("domain.rs");
        if file.exists() {
            files.push(file);
        }
        sources(&src.join("domain"), &mut files);
    }
    assert!(files.len() >= 4, "found the domain modules: {files:?}");
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for banned in ["tonic", "prost", "sea_orm", "ps_proto"] {
                if code.contains(banned) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "domain modules must not use gRPC or storage types:\n{}",
        offences.join("\n")
    );
}
