//! The committed CRD files must be exactly what the code generates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use azop_api::crds::{crd_files, crds};

#[path = "../examples/support/rules.rs"]
mod rules;

#[test]
fn committed_api_reference_matches_the_code() {
    let root =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../..");
    let rules = rules::read_rules(&rules::invalid_samples_dir()).unwrap();
    assert!(rules.len() >= 45, "{} rules read", rules.len());
    let committed = std::fs::read_to_string(root.join("docs/api.md")).unwrap_or_default();
    assert!(
        committed == azop_api::reference::markdown(&rules),
        "docs/api.md differs from what crates/api generates: run `make generate` and commit the result"
    );
}

#[test]
fn committed_crds_match_the_code() {
    let root =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../..");
    for dir in ["crds", "charts/azop/files/crds"] {
        for (file, yaml) in crd_files() {
            let path = root.join(dir).join(&file);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == yaml,
                "{} differs from what crates/api generates: run `make generate` and commit the result",
                path.display()
            );
        }
    }
}

#[test]
fn every_crd_is_namespaced_in_category_azop_with_status_and_columns() {
    let crds = crds();
    assert_eq!(crds.len(), 4);
    for crd in crds {
        assert_eq!(crd.spec.group, "azop.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["azop".to_string()][..])
        );
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty())
        );
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let cols: Vec<&str> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for needed in ["Ready", "Phase", "Age"] {
            assert!(cols.contains(&needed), "{}: {cols:?}", crd.spec.names.kind);
        }
    }
}

#[test]
fn every_named_field_has_a_description() {
    fn walk(node: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
            for (name, child) in props {
                let p = format!("{path}.{name}");
                if child.get("description").is_none()
                    && p != ".apiVersion"
                    && p != ".kind"
                    && p != ".metadata"
                {
                    missing.push(p.clone());
                }
                walk(child, &p, missing);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), missing);
        }
    }
    let mut missing = Vec::new();
    for crd in crds() {
        let schema = serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        walk(&schema, &crd.spec.names.kind, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "fields without a description (kubectl explain shows nothing): {missing:?}"
    );
}
