//! Loads every manifest under config/samples: valid ones pass `validate()` and the CEL rules of
//! the generated CRDs; every invalid one is refused by `validate()` with its stated message at
//! its stated field, and — when its first layer is CEL — by the CEL rules with the same
//! message. So neither the Rust layer nor the CEL layer can drift from the corpus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use azop_api::crds::crds;
use azop_api::v1alpha1::{AksCluster, AzureCluster, ProxyConfig, StorageBinding};
use azop_api::validation::{Validate, ValidationErrors, parse_object};
use kube::core::cel::{Validator, apply_defaults};
use serde_json::Value;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/samples")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn is_azop(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("azop.dev/"))
}

/// `validate()` (or `validate_update()`) of the typed object; a document the types refuse
/// (an enum outside its values) is refused by `parse_object` with the shared message.
fn rust_validate(old: Option<&Value>, new: &Value) -> Result<(), ValidationErrors> {
    fn run<K: Validate + serde::de::DeserializeOwned>(
        old: Option<&Value>,
        new: &Value,
    ) -> Result<(), ValidationErrors> {
        let new: K = parse_object(new.clone())?;
        match old {
            Some(old) => {
                let old: K =
                    parse_object(old.clone()).expect("the old object of an update is valid");
                K::validate_update(&old, &new)
            }
            None => new.validate(),
        }
    }
    match kind(new) {
        "AzureCluster" => run::<AzureCluster>(old, new),
        "AksCluster" => run::<AksCluster>(old, new),
        "StorageBinding" => run::<StorageBinding>(old, new),
        "ProxyConfig" => run::<ProxyConfig>(old, new),
        other => panic!("unknown kind {other}"),
    }
}

fn schema_of(kind_name: &str) -> Value {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind_name)
        .unwrap();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

/// The CEL rules of the generated CRD, evaluated as the API server does: schema defaults first.
fn cel_errors(old: Option<&Value>, new: &Value) -> Vec<(String, String)> {
    let schema = schema_of(kind(new));
    let new = apply_defaults(&schema, new);
    let old = old.map(|o| apply_defaults(&schema, o));
    match Validator::new().validate(&schema, &new, old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errs) => errs
            .iter()
            .map(|e| (e.field_path.clone(), e.message.clone()))
            .collect(),
    }
}

#[test]
fn valid_samples_pass_validate_and_cel() {
    let files = yaml_files(&samples_dir());
    assert!(
        files.len() >= 10,
        "expected at least 10 valid samples, found {}",
        files.len()
    );
    let mut kinds = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in documents(&text).iter().filter(|d| is_azop(d)) {
            kinds.insert(kind(doc).to_string());
            if let Err(e) = rust_validate(None, doc) {
                panic!("{}: validate() refused a valid sample: {e}", file.display());
            }
            let cel = cel_errors(None, doc);
            assert!(
                cel.is_empty(),
                "{}: CEL refused a valid sample: {cel:?}",
                file.display()
            );
        }
    }
    assert_eq!(kinds.len(), 4, "every kind has a sample: {kinds:?}");
}

struct Header {
    rule: String,
    layer: String,
    field: String,
    expect: String,
    update: bool,
}

fn header(text: &str, file: &Path) -> Header {
    let get = |key: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| {
                l.strip_prefix(&format!("# {key}: "))
                    .map(|v| v.trim().to_string())
            })
    };
    let need = |key: &str| {
        get(key).unwrap_or_else(|| panic!("{}: header lacks `# {key}:`", file.display()))
    };
    Header {
        rule: need("rule"),
        layer: need("layer"),
        field: need("field"),
        expect: need("expect"),
        update: get("update").as_deref() == Some("true"),
    }
}

#[test]
fn invalid_samples_are_refused_with_their_message_by_every_layer_that_has_the_rule() {
    let files = yaml_files(&samples_dir().join("invalid"));
    assert!(
        files.len() >= 45,
        "expected at least 45 invalid samples, found {}",
        files.len()
    );
    let mut rules = BTreeSet::new();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let h = header(&text, file);
        assert!(
            rules.insert(h.rule.clone()),
            "{}: rule {} appears twice",
            file.display(),
            h.rule
        );
        assert!(
            ["schema", "cel", "validate"].contains(&h.layer.as_str()),
            "{}: bad layer",
            file.display()
        );
        let docs = documents(&text);
        let (old, new) = match (h.update, docs.as_slice()) {
            (true, [old, new]) => (Some(old), new),
            (false, [new]) => (None, new),
            _ => panic!(
                "{}: expected {} document(s)",
                file.display(),
                if h.update { 2 } else { 1 }
            ),
        };
        if let Some(old) = old {
            // The old object of an update must itself be valid, or the sample breaks two rules.
            if let Err(e) = rust_validate(None, old) {
                failures.push(format!(
                    "{}: the old object is invalid: {e}",
                    file.display()
                ));
            }
        }

        match rust_validate(old, new) {
            Ok(()) => failures.push(format!(
                "{}: validate() accepted it (rule {})",
                file.display(),
                h.rule
            )),
            Err(e) => {
                if !e.has(&h.field, &h.expect) {
                    failures.push(format!(
                        "{}: validate() did not report {:?} at {}: {e}",
                        file.display(),
                        h.expect,
                        h.field
                    ));
                }
            }
        }

        let cel = cel_errors(old, new);
        match h.layer.as_str() {
            "cel" => {
                // Root-level rules (on metadata.name, or spec against status) report the root.
                let hit = cel.iter().any(|(path, message)| {
                    message.contains(&h.expect) && (path == &h.field || path.is_empty())
                });
                if !hit {
                    failures.push(format!(
                        "{}: CEL did not report {:?} at {}: {cel:?}",
                        file.display(),
                        h.expect,
                        h.field
                    ));
                }
            }
            // Only the Rust layer has this rule; CEL must not claim it.
            "validate" if !cel.is_empty() => {
                failures.push(format!(
                    "{}: layer validate, but CEL refused it: {cel:?}",
                    file.display()
                ));
            }
            _ => {}
        }
    }
    assert!(
        rules.len() >= 45,
        "expected at least 45 distinct rules, found {}",
        rules.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
