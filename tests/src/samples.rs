//! config/samples: valid samples (accepted by the server) and invalid ones, whose header says
//! which validation layer must refuse them:
//!
//! ```text
//! # rule: <short-rule-id>
//! # layer: schema | cel | validate
//! # field: <field path>
//! # expect: <substring of validate() message>
//! ```
//!
//! Files with two YAML documents are update cases: the first is created, the second must be
//! refused as an update.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use azop_testenv::manifests;

/// Which layer is expected to refuse an invalid sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The CRD's OpenAPI schema: the API server itself refuses it (any version).
    Schema,
    /// A CEL rule (`x-kubernetes-validations`): servers ≥ 1.25 refuse it.
    Cel,
    /// Only azop's own `validate()` (controller / webhook).
    Validate,
}

/// The header of an invalid sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Short rule id.
    pub rule: String,
    /// Refusing layer.
    pub layer: Layer,
    /// Field path, e.g. `spec.nodePools[0].name`.
    pub field: String,
    /// Substring of validate()'s message.
    pub expect: String,
}

/// An invalid sample file.
#[derive(Debug, Clone)]
pub struct InvalidSample {
    /// File path.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// One document (create case) or two (update case: old, new).
    pub docs: Vec<serde_json::Value>,
}

/// Parses the `# key: value` lines of the leading comment block.
pub fn parse_header(text: &str) -> anyhow::Result<Header> {
    let mut rule = None;
    let mut layer = None;
    let mut field = None;
    let mut expect = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line == "---" {
            continue;
        }
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "rule" => rule = Some(value),
            "layer" => layer = Some(value),
            "field" => field = Some(value),
            "expect" => expect = Some(value),
            _ => {}
        }
    }
    let layer = match layer.as_deref() {
        Some("schema") => Layer::Schema,
        Some("cel") => Layer::Cel,
        Some("validate") => Layer::Validate,
        Some(other) => bail!("unknown layer {other:?} (expected schema, cel or validate)"),
        None => bail!("missing `# layer:` line"),
    };
    Ok(Header {
        rule: rule.context("missing `# rule:` line")?,
        layer,
        field: field.context("missing `# field:` line")?,
        expect: expect.unwrap_or_default(),
    })
}

/// The last segment of a field path, without list indexes or map keys:
/// `spec.nodePools[0].name` → `name`, `spec.tags["Azure-x"]` → `tags`.
pub fn field_leaf(field: &str) -> &str {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    if last.is_empty() { field } else { last }
}

/// Valid samples: every YAML file under `dir` except `invalid/`, with its documents.
pub fn valid_samples(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<serde_json::Value>)>> {
    manifests::yaml_files(dir, &["invalid"])?
        .into_iter()
        .map(|p| {
            let docs = manifests::read_documents(&p)?;
            Ok((p, docs))
        })
        .collect()
}

/// Invalid samples under `dir/invalid`, with their headers.
pub fn invalid_samples(dir: &Path) -> anyhow::Result<Vec<InvalidSample>> {
    let inv = dir.join("invalid");
    if !inv.exists() {
        return Ok(Vec::new());
    }
    manifests::yaml_files(&inv, &[])?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let header =
                parse_header(&text).with_context(|| format!("header of {}", path.display()))?;
            let docs = manifests::parse_documents(&text, &path)?;
            if docs.is_empty() || docs.len() > 2 {
                bail!(
                    "{}: expected 1 or 2 YAML documents, found {}",
                    path.display(),
                    docs.len()
                );
            }
            Ok(InvalidSample { path, header, docs })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parses() {
        let h = parse_header(
            "# rule: pool-name-length\n# layer: schema\n# field: spec.nodePools[0].name\n# expect: at most 12\napiVersion: v1\n# rule: ignored\n",
        )
        .expect("header");
        assert_eq!(h.rule, "pool-name-length");
        assert_eq!(h.layer, Layer::Schema);
        assert_eq!(h.field, "spec.nodePools[0].name");
        assert_eq!(h.expect, "at most 12");
    }

    #[test]
    fn header_requires_layer_and_field() {
        assert!(parse_header("# rule: x\n# field: a\n").is_err());
        assert!(parse_header("# rule: x\n# layer: schema\n").is_err());
        assert!(parse_header("# rule: x\n# layer: magic\n# field: a\n").is_err());
    }

    #[test]
    fn leaf_of_field_paths() {
        assert_eq!(field_leaf("spec.nodePools[0].name"), "name");
        assert_eq!(field_leaf("spec.tags[\"Azure-x\"]"), "tags");
        assert_eq!(field_leaf("spec.location"), "location");
        assert_eq!(field_leaf("replicas"), "replicas");
    }
}
