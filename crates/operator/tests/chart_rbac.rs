//! The Helm chart agrees with what the e2e tests run: exactly the rules of
//! config/rbac/role.yaml (a chart that drifted would ship untested permissions), and default
//! values that `azop run` accepts. The chart keeps its rules in one place,
//! templates/_rbac_rules.tpl, rendered into a ClusterRole or (namespace-scoped mode) a Role;
//! tests/helm/run.sh checks the rendered and installed roles against the API server.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../..")
}

/// The `rules:` blocks of a manifest or template, in order, as text (templating lines never
/// sit inside them).
fn rule_blocks(text: &str) -> Vec<String> {
    text.match_indices("\nrules:")
        .map(|(i, _)| text[i + 1..].to_string())
        .map(|block| {
            block
                .lines()
                .take_while(|l| {
                    *l != "---"
                        && (l.starts_with("rules:") || l.starts_with(' ') || l.starts_with('-'))
                })
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[test]
fn chart_rules_equal_config_rbac() {
    let config = std::fs::read_to_string(root().join("config/rbac/role.yaml")).expect("role.yaml");
    let chart = std::fs::read_to_string(root().join("charts/azop/templates/_rbac_rules.tpl"))
        .expect("_rbac_rules.tpl");
    let (a, b) = (rule_blocks(&config), rule_blocks(&chart));
    assert_eq!(
        a.len(),
        2,
        "config/rbac/role.yaml: manager and leader-election roles"
    );
    assert_eq!(
        a, b,
        "charts/azop/templates/_rbac_rules.tpl must grant exactly config/rbac/role.yaml's rules"
    );
    assert!(a[0].contains("azureclusters/status"), "{}", a[0]);
    // Secrets are read, and written only by server-side apply (the AksCluster kubeconfigs):
    // no update or delete may come in unnoticed.
    let secrets = a[0]
        .split("\n  - ")
        .find(|rule| rule.contains("resources: [\"secrets\"]"))
        .expect("a Secret rule");
    assert!(
        secrets.contains(r#"verbs: ["get", "list", "watch", "create", "patch"]"#),
        "Secrets: read, and create/patch for the kubeconfig Secrets only: {secrets}"
    );
}

#[test]
fn chart_default_controllers_are_ones_azop_run_knows() {
    use clap::ValueEnum;
    let values =
        std::fs::read_to_string(root().join("charts/azop/values.yaml")).expect("values.yaml");
    let line = values
        .lines()
        .find_map(|l| l.strip_prefix("controllers:"))
        .expect("a controllers value");
    for name in line.trim().trim_matches('"').split(',') {
        assert!(
            azop_controllers::ControllerKind::from_str(name.trim(), false).is_ok(),
            "charts/azop/values.yaml names controller {name:?}, which `azop run --controllers` refuses"
        );
    }
}
