//! Manifests as `kubectl apply -f` takes them: files, directories (their `.yaml`, `.yml`
//! and `.json` files, in name order; `-R` for subdirectories), or `-` for stdin; several YAML
//! documents per file; `List` objects unpacked.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// One document and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// `file.yaml#2` (the document's position, from 1).
    pub source: String,
    pub value: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }
}

/// Every document of `paths`, in order.
pub fn read(paths: &[PathBuf], recursive: bool) -> Result<Vec<Doc>> {
    if paths.is_empty() {
        bail!("no manifests: give -f <file|directory|->");
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read manifests from stdin")?;
            out.extend(parse(&text, "stdin")?);
        } else if p.is_dir() {
            for f in files_in(p, recursive)? {
                out.extend(read_file(&f)?);
            }
        } else {
            out.extend(read_file(p)?);
        }
    }
    Ok(out)
}

fn files_in(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for e in entries {
        if e.is_dir() {
            if recursive {
                out.extend(files_in(&e, true)?);
            }
        } else if e
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        {
            out.push(e);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<Doc>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// The documents of one YAML (or JSON) text; empty documents skipped, `List`s unpacked. Pure.
pub fn parse(text: &str, source: &str) -> Result<Vec<Doc>> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de)
            .with_context(|| format!("{source}: document {} is not valid YAML", i + 1))?;
        if value.is_null() {
            continue;
        }
        let at = format!("{source}#{}", i + 1);
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            for item in value
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(Doc {
                    source: at.clone(),
                    value: item.clone(),
                });
            }
        } else {
            if !value.is_object() {
                bail!("{at}: not a Kubernetes object");
            }
            out.push(Doc { source: at, value });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_empty_ones() {
        let docs = parse(
            "---\n# only a comment\n---\nkind: Secret\nmetadata: {name: a, namespace: n}\n---\nkind: List\nitems:\n- {kind: ConfigMap, metadata: {name: b}}\n",
            "x.yaml",
        )
        .expect("parses");
        let got: Vec<(&str, &str, &str)> = docs
            .iter()
            .map(|d| (d.source.as_str(), d.kind(), d.name()))
            .collect();
        assert_eq!(
            got,
            vec![("x.yaml#2", "Secret", "a"), ("x.yaml#3", "ConfigMap", "b")]
        );
        assert_eq!(docs[0].namespace(), Some("n"));
        assert!(parse("- a\n- b\n", "bad.yaml").is_err());
    }

    #[test]
    fn a_directory_reads_its_manifests_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.yaml"), "kind: B\n").expect("write");
        std::fs::write(dir.path().join("a.yml"), "kind: A\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "kind: C\n").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/c.json"), "{\"kind\": \"D\"}").expect("write");
        let kinds = |r| {
            read(&[dir.path().to_path_buf()], r)
                .expect("reads")
                .iter()
                .map(|d| d.kind().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(false), vec!["A", "B"]);
        assert_eq!(kinds(true), vec!["A", "B", "D"]);
    }
}
