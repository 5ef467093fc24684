//! Kubernetes labels and taints that azop puts on nodes: the API server's syntax (qualified
//! names, label values), the namespaces kubelet may not set on its own node, and AKS's
//! reserved prefix. Pure; the controllers render kubelet flags with the same functions.

use std::collections::BTreeMap;

use super::rules::{matches, show};
use super::{Errors, messages as msg, patterns};
use crate::v1alpha1::Taint;

/// The labels kubelet sets itself (k8s.io/kubelet/pkg/apis: kubeletLabels).
pub const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

/// The label namespaces (and their subdomains) kubelet may set (kubeletLabelNamespaces).
pub const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// The prefix AKS keeps for its own node labels.
pub const AKS_RESERVED_LABEL_PREFIX: &str = "kubernetes.azure.com";

/// A Kubernetes qualified name (label and taint keys): `[prefix/]name`, the prefix a DNS
/// subdomain of at most 253 characters, the name 1–63 characters.
pub fn is_qualified_name(key: &str) -> bool {
    let prefix_ok = key.split_once('/').is_none_or(|(p, _)| p.len() <= 253);
    prefix_ok && matches(patterns::QUALIFIED_NAME, key)
}

/// A Kubernetes label value: empty, or 1–63 characters starting and ending alphanumeric.
pub fn is_label_value(value: &str) -> bool {
    matches(patterns::LABEL_VALUE, value)
}

/// May kubelet put `key` on its own node with `--node-labels`? kubelet refuses to start with
/// any other label in the kubernetes.io or k8s.io namespaces (and NodeRestriction would refuse
/// it too), e.g. `node-role.kubernetes.io/worker`.
pub fn kubelet_may_set(key: &str) -> bool {
    let Some((ns, _)) = key.split_once('/') else {
        return true;
    };
    let within = |domain: &str| ns == domain || ns.ends_with(&format!(".{domain}"));
    if !["kubernetes.io", "k8s.io"].iter().any(|r| within(r)) {
        return true;
    }
    KUBELET_LABELS.contains(&key) || KUBELET_LABEL_NAMESPACES.iter().any(|a| within(a))
}

/// Where a node's labels end up, which decides the rules beyond syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeLabels {
    /// kubelet's `--node-labels` on machines azop bootstraps (AzureCluster).
    Kubelet,
    /// An AKS agent pool's `nodeLabels`.
    Aks,
}

/// The most labels a pool may carry (the schema's `maxProperties`, which also bounds what the
/// CEL rules reading them may cost).
pub const MAX_NODE_LABELS: usize = 64;

/// A pool's node labels.
pub(crate) fn node_labels(
    errs: &mut Errors,
    field: &str,
    labels: &BTreeMap<String, String>,
    target: NodeLabels,
) {
    if labels.len() > MAX_NODE_LABELS {
        errs.push(
            field,
            format!(
                "{} labels given, at most {MAX_NODE_LABELS} allowed",
                labels.len()
            ),
        );
    }
    for (key, value) in labels {
        if !is_qualified_name(key) {
            errs.push(
                field,
                format!("label key {} is invalid: {}", show(key), msg::LABEL_KEY),
            );
        }
        if !is_label_value(value) {
            errs.push(
                field,
                format!(
                    "value {} of label {key:?} is invalid: {}",
                    show(value),
                    msg::LABEL_VALUE
                ),
            );
        }
        match target {
            NodeLabels::Kubelet if !kubelet_may_set(key) => {
                errs.push(field, format!("label {key:?}: {}", msg::KUBELET_LABEL));
            }
            NodeLabels::Aks if key.starts_with(AKS_RESERVED_LABEL_PREFIX) => {
                errs.push(field, format!("label {key:?}: {}", msg::AKS_LABEL_RESERVED));
            }
            _ => {}
        }
    }
}

/// The most taints a pool may carry (the schema's `maxItems`).
pub const MAX_TAINTS: usize = 32;

/// A pool's node taints: keys qualified names, values label values.
pub(crate) fn taints(errs: &mut Errors, field: &str, taints: &[Taint]) {
    if taints.len() > MAX_TAINTS {
        errs.push(
            field,
            format!(
                "{} taints given, at most {MAX_TAINTS} allowed",
                taints.len()
            ),
        );
    }
    for (j, taint) in taints.iter().enumerate() {
        if !is_qualified_name(&taint.key) {
            errs.push(
                format!("{field}[{j}].key"),
                format!("{} is invalid: {}", show(&taint.key), msg::TAINT_KEY),
            );
        }
        if let Some(value) = &taint.value
            && !is_label_value(value)
        {
            errs.push(
                format!("{field}[{j}].value"),
                format!("{} is invalid: {}", show(value), msg::TAINT_VALUE),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_follow_kubernetes() {
        for ok in [
            "a",
            "workload",
            "example.com/role",
            "nvidia.com/gpu",
            "a.b-c.d/X_y.z",
            &format!("{}/x", "a".repeat(253)),
            &"n".repeat(63),
        ] {
            assert!(is_qualified_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a/b/c",
            "/x",
            "x/",
            "-x",
            "x-",
            "Example.com/x",
            &format!("{}/x", "a".repeat(254)),
            &"n".repeat(64),
            "é",
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
    }

    #[test]
    fn label_values_follow_kubernetes() {
        assert!(is_label_value(""));
        assert!(is_label_value("present"));
        assert!(is_label_value(&"v".repeat(63)));
        assert!(!is_label_value(&"v".repeat(64)));
        assert!(!is_label_value("a b"));
        assert!(!is_label_value("-a"));
    }

    #[test]
    fn kubelet_namespaces() {
        assert!(kubelet_may_set("example.com/role"));
        assert!(kubelet_may_set("node.kubernetes.io/pool"));
        assert!(kubelet_may_set("x.kubelet.kubernetes.io/y"));
        assert!(kubelet_may_set("topology.kubernetes.io/zone"));
        assert!(!kubelet_may_set("node-role.kubernetes.io/worker"));
        assert!(!kubelet_may_set("kubernetes.io/role"));
        assert!(!kubelet_may_set("foo.k8s.io/x"));
    }

    #[test]
    fn aks_labels_keep_out_of_the_reserved_prefix() {
        let mut errs = Errors::default();
        let labels = BTreeMap::from([
            ("kubernetes.azure.com/mode".to_string(), "x".to_string()),
            ("node-role.kubernetes.io/worker".to_string(), String::new()),
        ]);
        node_labels(&mut errs, "f", &labels, NodeLabels::Aks);
        let e = errs.finish().expect_err("reserved");
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(e.has("f", msg::AKS_LABEL_RESERVED));
        let mut errs = Errors::default();
        node_labels(&mut errs, "f", &labels, NodeLabels::Kubelet);
        assert!(
            errs.finish()
                .expect_err("kubelet")
                .has("f", msg::KUBELET_LABEL)
        );
    }
}
