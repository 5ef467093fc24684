//! Reads the rules documented by config/samples/invalid (shared by the `api_doc` example and
//! the test that keeps docs/api.md current).

use std::path::{Path, PathBuf};

use azop_api::reference::RuleDoc;

pub fn invalid_samples_dir() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../config/samples/invalid")
}

/// The rules of every invalid sample, in file-name order.
pub fn read_rules(dir: &Path) -> std::io::Result<Vec<RuleDoc>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut rules = Vec::new();
    for f in files {
        if let Some(r) = RuleDoc::parse_sample(&std::fs::read_to_string(&f)?) {
            rules.push(r);
        }
    }
    Ok(rules)
}
