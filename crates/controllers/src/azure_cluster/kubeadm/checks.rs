//! Checks of what goes into a machine's bootstrap, so a cluster that cannot come up is an
//! invalid spec before any VM exists: versions, names, PEM blocks, the labels and taints
//! kubelet would refuse (pure).

use std::collections::BTreeMap;

use azop_api::v1alpha1::azure_cluster::{Taint, TaintEffect};
use serde_yaml::Value;

use super::config::{insert, map};
use super::{ClusterBootstrap, KubeVersion};

pub(super) fn check_cluster(c: &ClusterBootstrap) -> Result<(), String> {
    KubeVersion::parse(&c.kubernetes_version)?;
    if c.endpoint_host.is_empty() || c.endpoint_port == 0 {
        return Err(format!(
            "the API endpoint {:?} port {} is not usable: both are needed",
            c.endpoint_host, c.endpoint_port
        ));
    }
    for (what, cidr) in [("pod", &c.pod_cidr), ("service", &c.service_cidr)] {
        cidr.parse::<ipnet::IpNet>()
            .map_err(|_| format!("the {what} CIDR {cidr:?} is not a CIDR"))?;
    }
    let token_ok = c.token.split_once('.').is_some_and(|(id, secret)| {
        let ok = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        ok(id, 6) && ok(secret, 16)
    });
    if !token_ok {
        return Err("the bootstrap token is not [a-z0-9]{6}.[a-z0-9]{16}".into());
    }
    let hash_ok = c
        .ca_cert_hash
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !hash_ok {
        return Err(format!(
            "the CA certificate hash {:?} is not sha256:<64 hex digits>",
            c.ca_cert_hash
        ));
    }
    Ok(())
}

pub(super) fn check_node_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "node name {n:?} is not a lowercase DNS-1123 subdomain"
        ))
    }
}

pub(super) fn check_pem(name: &str, pem: &str, key: bool) -> Result<(), String> {
    let want = if key {
        "-----BEGIN PRIVATE KEY-----"
    } else if name == "sa.pub" {
        "-----BEGIN PUBLIC KEY-----"
    } else {
        "-----BEGIN CERTIFICATE-----"
    };
    if pem.trim_start().starts_with(want) {
        Ok(())
    } else {
        Err(format!(
            "the cluster's {name} is not a PEM starting with {want}"
        ))
    }
}

/// The labels kubelet sets itself (k8s.io/kubelet/pkg/apis: kubeletLabels).
const KUBELET_LABELS: &[&str] = &[
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
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

/// May kubelet put `key` on its own node with `--node-labels`? kubelet refuses to start with
/// any other label in the kubernetes.io or k8s.io namespaces (and NodeRestriction would refuse
/// it too), e.g. `node-role.kubernetes.io/worker`.
pub fn kubelet_may_set(key: &str) -> bool {
    let Some((ns, _)) = key.split_once('/') else {
        return true;
    };
    let reserved = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|r| ns == *r || ns.ends_with(&format!(".{r}")));
    if !reserved {
        return true;
    }
    KUBELET_LABELS.contains(&key)
        || KUBELET_LABEL_NAMESPACES
            .iter()
            .any(|a| ns == *a || ns.ends_with(&format!(".{a}")))
}

fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        None => is_name_part(key),
        Some((prefix, name)) => {
            is_name_part(name)
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
    }
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_name_part(v)
}

/// `--node-labels` (`k=v,k=v`), None without labels; Err for a label kubelet would refuse.
pub(super) fn node_labels(labels: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    if labels.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (k, v) in labels {
        if !is_qualified_name(k) {
            return Err(format!("node label key {k:?} is not a valid label key"));
        }
        if !is_label_value(v) {
            return Err(format!(
                "node label {k}: value {v:?} is not a valid label value"
            ));
        }
        if !kubelet_may_set(k) {
            return Err(format!(
                "node label {k}: kubelet may not set labels in the kubernetes.io and k8s.io namespaces on its own node (it would refuse to start and the node would never register); only {} and the *.kubelet.kubernetes.io/ and *.node.kubernetes.io/ namespaces are allowed. Use a label under your own prefix (e.g. example.com/role), or set node-role.kubernetes.io/* with kubectl after the node joins",
                KUBELET_LABELS.join(", ")
            ));
        }
        out.push(format!("{k}={v}"));
    }
    Ok(Some(out.join(",")))
}

pub(super) fn taints_value(taints: &[Taint]) -> Result<Option<Value>, String> {
    if taints.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for t in taints {
        if !is_qualified_name(&t.key) {
            return Err(format!("taint key {:?} is not a valid key", t.key));
        }
        let mut v = map([("key", Value::from(t.key.as_str()))]);
        if let Some(value) = &t.value {
            if !is_label_value(value) {
                return Err(format!(
                    "taint {}: value {value:?} is not a valid value",
                    t.key
                ));
            }
            insert(&mut v, "value", Value::from(value.as_str()));
        }
        let effect = match t.effect {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        };
        insert(&mut v, "effect", Value::from(effect));
        out.push(v);
    }
    Ok(Some(Value::Sequence(out)))
}
