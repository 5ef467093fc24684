//! Reading YAML manifests (multi-document files) from disk.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result, io};

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, sorted; directories named in
/// `exclude` (by file name) are skipped.
pub fn yaml_files(dir: &Path, exclude: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io("read directory", &d))? {
            let path = entry.map_err(io("read directory", &d))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if path.is_dir() {
                if !exclude.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The non-empty documents of a YAML text, as JSON values.
pub fn parse_documents(text: &str, path: &Path) -> Result<Vec<serde_json::Value>> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(de).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        docs.push(json);
    }
    Ok(docs)
}

/// The non-empty documents of a YAML file.
pub fn read_documents(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    parse_documents(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_skip_empty_documents() {
        let docs = parse_documents("# c\n---\na: 1\n---\n---\nb: [x]\n", Path::new("t.yaml"))
            .expect("parse");
        assert_eq!(
            docs,
            vec![serde_json::json!({"a": 1}), serde_json::json!({"b": ["x"]})]
        );
    }

    #[test]
    fn yaml_files_recurse_and_exclude() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/invalid")).expect("mkdir");
        std::fs::write(d.path().join("a/x.yaml"), "").expect("write");
        std::fs::write(d.path().join("a/invalid/y.yaml"), "").expect("write");
        std::fs::write(d.path().join("z.yml"), "").expect("write");
        std::fs::write(d.path().join("README.md"), "").expect("write");
        let files = yaml_files(d.path(), &["invalid"]).expect("list");
        assert_eq!(
            files,
            vec![d.path().join("a/x.yaml"), d.path().join("z.yml")]
        );
    }
}
