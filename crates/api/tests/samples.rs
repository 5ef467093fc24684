//! Loads every manifest under config/samples: valid ones pass `validate()` and the CEL rules of
//! the generated CRDs; every invalid one is refused by `validate()` with its stated message at
//! its stated field, and — when its first layer is CEL — by the CEL rules with the same
//! message at the same field. So neither the Rust layer nor the CEL layer can drift from the
//! corpus.
//!
//! The CEL rules are evaluated by kube's evaluator (kube-cel on the `cel` crate), which has the
//! Kubernetes libraries too — but as re-implementations: `ip`/`cidr` on `ipnet`, `url` on the
//! `url` crate, where the API server uses Go's `net/netip` and `net/url`. The rules that call
//! them are listed in [`KUBERNETES_LIBRARY_RULES`] (checked against the generated CRDs, so a
//! new one is added deliberately); for those the real API server test (tests/e2e/apiserver.rs,
//! Kubernetes v1.37) is the authority, and this test only shows that the rules say what the
//! Rust checks say on the corpus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use azop_api::crds::crds;
use azop_api::v1alpha1::{AksCluster, AzureCluster, ProxyConfig, StorageBinding};
use azop_api::validation::{Validate, ValidationErrors, messages as msg, parse_object};
use kube::core::cel::{ErrorKind, Validator, apply_defaults};
use serde_json::Value;

fn samples_dir() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../config/samples")
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

/// One failed CEL rule: where the API server would report it (relative to the object, without a
/// leading dot) and its message.
#[derive(Debug)]
struct CelError {
    path: String,
    message: String,
}

/// The CEL rules of the generated CRD, evaluated as the API server does: schema defaults first.
/// A rule the evaluator cannot compile or evaluate, and a `messageExpression` that fell back to
/// the static message, fail the test: they would be silent gaps.
fn cel_errors(old: Option<&Value>, new: &Value) -> Vec<CelError> {
    let schema = schema_of(kind(new));
    let new = apply_defaults(&schema, new);
    let old = old.map(|o| apply_defaults(&schema, o));
    let rules = rules_of(&schema);
    match Validator::new().validate(&schema, &new, old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errs) => errs
            .iter()
            .map(|e| {
                assert!(
                    matches!(e.kind, ErrorKind::ValidationFailure),
                    "CEL could not evaluate a rule of {}: {e}",
                    kind(&new)
                );
                let rule = rules
                    .iter()
                    .find(|r| r.rule == e.rule)
                    .unwrap_or_else(|| panic!("no rule {:?} in the CRD", e.rule));
                if rule.message_expression {
                    assert_ne!(
                        e.message, rule.message,
                        "the messageExpression of {:?} fell back to the message",
                        e.rule
                    );
                }
                CelError {
                    path: e.field_path.trim_start_matches('.').to_string(),
                    message: e.message.clone(),
                }
            })
            .collect(),
    }
}

/// A rule of a generated CRD, where it sits in the schema (`spec.network`).
#[derive(Debug)]
struct CrdRule {
    node: String,
    rule: String,
    message: String,
    message_expression: bool,
    /// Everything CEL evaluates: the rule and its messageExpression.
    cel: String,
}

fn rules_of(schema: &Value) -> Vec<CrdRule> {
    fn walk(node: &Value, path: &str, out: &mut Vec<CrdRule>) {
        for r in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let rule = r["rule"].as_str().unwrap_or_default().to_string();
            let expr = r["messageExpression"].as_str();
            out.push(CrdRule {
                node: path.to_string(),
                cel: format!("{rule} {}", expr.unwrap_or_default()),
                rule,
                message: r["message"].as_str().unwrap_or_default().to_string(),
                message_expression: expr.is_some(),
            });
        }
        for (name, child) in node["properties"].as_object().into_iter().flatten() {
            let p = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            walk(child, &p, out);
        }
        if node.get("items").is_some() {
            walk(&node["items"], &format!("{path}[]"), out);
        }
        if node["additionalProperties"].is_object() {
            walk(&node["additionalProperties"], &format!("{path}{{}}"), out);
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

/// The rules that call Kubernetes' own CEL libraries (`ip`/`cidr`, in every API server since
/// 1.31, and `url`): `(kind, schema node, message)`. kube-cel evaluates them with its
/// re-implementations; the real API server is the authority.
const KUBERNETES_LIBRARY_RULES: &[(&str, &str, &str)] = &[
    ("AzureCluster", "spec.network", msg::SUBNET_OUTSIDE_VNET),
    ("AzureCluster", "spec.network", msg::SUBNET_OUTSIDE_VNET),
    ("AzureCluster", "spec.network", msg::SUBNET_OVERLAP),
    (
        "AzureCluster",
        "spec.network.controlPlaneSubnet.cidr",
        msg::CIDR_HOST_BITS,
    ),
    ("AzureCluster", "spec.network.vnetCidr", msg::CIDR_HOST_BITS),
    (
        "AzureCluster",
        "spec.network.workerSubnet.cidr",
        msg::CIDR_HOST_BITS,
    ),
    (
        "AzureCluster",
        "spec.clusterNetwork",
        msg::POD_SERVICE_OVERLAP,
    ),
    (
        "AzureCluster",
        "spec.clusterNetwork.podCidr",
        msg::CIDR_HOST_BITS,
    ),
    (
        "AzureCluster",
        "spec.clusterNetwork.serviceCidr",
        msg::CIDR_HOST_BITS,
    ),
    ("AksCluster", "spec.network", msg::DNS_SERVICE_IP_OUTSIDE),
    ("AksCluster", "spec.network", msg::POD_SERVICE_OVERLAP),
    ("AksCluster", "spec.network.podCidr", msg::CIDR_HOST_BITS),
    (
        "AksCluster",
        "spec.network.serviceCidr",
        msg::CIDR_HOST_BITS,
    ),
    ("AzureCluster", "spec", msg::SUBNET_CAPACITY),
    ("AzureCluster", "spec", msg::SUBNET_CAPACITY),
    (
        "AzureCluster",
        "spec.network.controlPlaneSubnet.cidr",
        msg::SUBNET_TOO_SMALL,
    ),
    (
        "AzureCluster",
        "spec.network.workerSubnet.cidr",
        msg::SUBNET_TOO_SMALL,
    ),
    (
        "AzureCluster",
        "spec.network.vnetCidr",
        msg::VNET_RESERVED_RANGE,
    ),
    (
        "AksCluster",
        "spec.network.podCidr",
        msg::AKS_RESERVED_RANGE,
    ),
    (
        "AksCluster",
        "spec.network.serviceCidr",
        msg::AKS_RESERVED_RANGE,
    ),
    ("StorageBinding", "spec.vhd.sourceUrl", msg::VHD_SOURCE_URL),
    ("ProxyConfig", "spec.httpProxy", msg::PROXY_URL_HOST),
    ("ProxyConfig", "spec.httpsProxy", msg::PROXY_URL_HOST),
];

#[test]
fn the_rules_using_kubernetes_libraries_are_the_listed_ones() {
    let call = regex::Regex::new(
        r"\b(isCIDR|cidr|containsIP|containsCIDR|masked|prefixLength|ip|isIP|family|isURL|url|getScheme|getHost|getHostname|getPort|getEscapedPath|getQuery)\(",
    )
    .unwrap();
    let mut found: Vec<(String, String, String)> = Vec::new();
    for crd in crds() {
        let kind_name = crd.spec.names.kind.clone();
        for r in rules_of(&schema_of(&kind_name)) {
            if call.is_match(&r.cel) {
                found.push((kind_name.clone(), r.node, r.message));
            }
        }
    }
    found.sort();
    let mut listed: Vec<(String, String, String)> = KUBERNETES_LIBRARY_RULES
        .iter()
        .map(|(k, n, m)| (k.to_string(), n.to_string(), m.to_string()))
        .collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "the CEL rules calling ip/cidr/url differ from KUBERNETES_LIBRARY_RULES: list a new one \
         there (its authority is the real API server test) or remove a gone one"
    );
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
                // Rules on metadata.name sit on the root and cannot name the field: the CRD
                // schema has no metadata properties for a fieldPath to point at.
                let hit = cel.iter().any(|e| {
                    e.message.contains(&h.expect)
                        && (e.path == h.field
                            || (e.path.is_empty() && h.field.starts_with("metadata.")))
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
