//! The end-to-end test files and the crate's test targets, kept in step.
//!
//! This crate's tests live in `tests/e2e/`, not in Cargo's `tests/` folder of the package (the
//! package root is the repository's `tests/`, so that folder would be `tests/tests/`), so
//! Cargo cannot discover them: each is a `[[test]]` in Cargo.toml. The test below fails when a
//! file in `e2e/` is not one, so a new test file can never silently not run.

use std::collections::BTreeSet;

/// The `path`s of the `[[test]]` targets in a Cargo.toml (pure; a plain reading of the
/// `path = "…"` lines of `[[test]]` tables, which is all this manifest has).
pub fn test_target_paths(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_test = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
            continue;
        }
        if in_test
            && let Some(value) = line
                .strip_prefix("path")
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('='))
        {
            out.insert(value.trim().trim_matches('"').to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_e2e_file_is_a_test_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        let targets = test_target_paths(&manifest);
        let mut files = BTreeSet::new();
        for entry in std::fs::read_dir(root.join("e2e")).expect("e2e/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                let name = path.file_name().and_then(|n| n.to_str()).expect("name");
                files.insert(format!("e2e/{name}"));
            }
        }
        let missing: Vec<&String> = files.difference(&targets).collect();
        assert!(
            missing.is_empty(),
            "test files that are not a [[test]] in tests/Cargo.toml, so they never run: {missing:?}; add `[[test]] name = \"<file>\" path = \"e2e/<file>.rs\"` for each"
        );
        let stale: Vec<&String> = targets.difference(&files).collect();
        assert!(
            stale.is_empty(),
            "[[test]] targets without a file: {stale:?}"
        );
    }

    #[test]
    fn only_test_tables_are_read() {
        let m = "[package]\npath = \"x\"\n\n[[test]]\nname = \"a\"\npath = \"e2e/a.rs\"\n\n[[bin]]\nname = \"b\"\npath = \"bench/main.rs\"\n[[test]]\npath=\"e2e/c.rs\"\n";
        let want: BTreeSet<String> = ["e2e/a.rs", "e2e/c.rs"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(test_target_paths(m), want);
    }
}
