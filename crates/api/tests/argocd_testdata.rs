//! The objects the Argo CD health checks are tested on
//! (config/argocd/resource_customizations/azop.dev/<Kind>/testdata/) have exactly the shape of
//! the API types: each parses as its kind, and its status survives a round trip through the
//! Rust type unchanged — so a misspelt or invented status field in hand-built test data (the
//! kinds without a controller yet) fails here instead of testing a check on a shape azop never
//! writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use azop_api::v1alpha1::{AksCluster, AzureCluster, ProxyConfig, StorageBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<K: DeserializeOwned + Serialize>(path: &Path, original: &Value) -> Value {
    let typed: K = serde_path_to_error::deserialize(original.clone())
        .unwrap_or_else(|e| panic!("{}: does not parse as its kind: {e}", path.display()));
    serde_json::to_value(&typed).unwrap()
}

#[test]
fn argocd_testdata_has_the_api_types_shape() {
    let root =
        &Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../config/argocd/resource_customizations/azop.dev");
    let mut seen = 0;
    for kind in [
        "AzureCluster",
        "AksCluster",
        "StorageBinding",
        "ProxyConfig",
    ] {
        let dir = root.join(kind).join("testdata");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no test data", dir.display());
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let original: Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(original["kind"], kind, "{}", path.display());
            let back = match kind {
                "AzureCluster" => round_trip::<AzureCluster>(&path, &original),
                "AksCluster" => round_trip::<AksCluster>(&path, &original),
                "StorageBinding" => round_trip::<StorageBinding>(&path, &original),
                _ => round_trip::<ProxyConfig>(&path, &original),
            };
            pretty_assertions::assert_eq!(
                original.get("status"),
                back.get("status"),
                "{}: status fields the API types do not have (or spell otherwise)",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} test objects");
}
