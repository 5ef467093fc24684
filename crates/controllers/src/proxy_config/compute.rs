//! What a ProxyConfig's status says (pure): effective noProxy, consumers, conditions, phase,
//! and whether the Ready transition deserves an Event.

use std::collections::BTreeSet;

use azop_api::proxy::effective_no_proxy;
use azop_api::v1alpha1::aks_cluster::AksCluster;
use azop_api::v1alpha1::azure_cluster::{AzureCluster, AzureClusterStatus};
use azop_api::v1alpha1::proxy_config::{ProxyConfig, ProxyConfigStatus, ProxyConsumer};
use azop_api::v1alpha1::{CommonStatus, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::ResourceExt;

use super::inherit;
use crate::conditions::{self, Cond, Status};

/// Most consumers listed in status: a namespace with thousands of injected workloads must not
/// grow the object towards etcd's size limit. The count is in the Ready message.
pub const MAX_CONSUMERS: usize = 100;

/// The pod label the webhook sets on every pod it injected, value = the ProxyConfig's name;
/// the controller lists its workload consumers through it (a metadata-only watch).
pub const INJECTED_LABEL: &str = "azop.dev/proxy-config";

/// The noProxy shown in `status.effectiveNoProxy`: the user's entries plus azop's additions,
/// without any cluster's CIDRs (those are per consumer).
pub fn status_no_proxy(p: &ProxyConfig) -> Vec<String> {
    let none: [&str; 0] = [];
    effective_no_proxy(&p.spec.no_proxy, &none)
}

/// Whether a cluster with `reference` in `ns` means to use `p`: it names it, or names none
/// and `p` is a default. By intent, not by whether `p` is currently usable: a conflict or an
/// invalid spec then shows exactly which clusters it affects.
fn intends(p: &ProxyConfig, ns: Option<String>, reference: Option<&str>) -> bool {
    ns == p.namespace()
        && match reference {
            Some(r) => r == p.name_any(),
            None => p.spec.default,
        }
}

/// The clusters that use `p`, each with the noProxy it gets (its own CIDRs and API host).
pub fn cluster_consumers(
    p: &ProxyConfig,
    azure: &[impl std::ops::Deref<Target = AzureCluster>],
    aks: &[impl std::ops::Deref<Target = AksCluster>],
) -> Vec<ProxyConsumer> {
    let mut out = Vec::new();
    for c in azure.iter().map(|c| &**c) {
        let reference = c.spec.proxy_config_ref.as_ref().map(|r| r.name.as_str());
        if intends(p, c.namespace(), reference) {
            let net = inherit::azure_cluster_network(c);
            out.push(ProxyConsumer {
                kind: "AzureCluster".into(),
                namespace: c.namespace().unwrap_or_default(),
                name: c.name_any(),
                no_proxy: net.no_proxy(&p.spec.no_proxy),
            });
        }
    }
    for c in aks.iter().map(|c| &**c) {
        let reference = c.spec.proxy_config_ref.as_ref().map(|r| r.name.as_str());
        if intends(p, c.namespace(), reference) {
            let net = inherit::aks_cluster_network(c);
            out.push(ProxyConsumer {
                kind: "AksCluster".into(),
                namespace: c.namespace().unwrap_or_default(),
                name: c.name_any(),
                no_proxy: net.no_proxy(&p.spec.no_proxy),
            });
        }
    }
    out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    out
}

/// What ProxyConfig's own cache keeps of an AzureCluster: what [`cluster_consumers`] reads
/// (the reference, the network, the API endpoint) and the metadata. It is a second cache of
/// every cluster (the AzureCluster controller keeps the whole object), so the rest — pools,
/// the SSH key, the image, the rest of status — is dropped as each object arrives. Pure.
pub fn consumer_view(c: &mut AzureCluster) {
    crate::engine::registration::slim(c);
    let spec = &mut c.spec;
    spec.worker_pools = Vec::new();
    spec.ssh_public_key = String::new();
    spec.kubernetes_version = String::new();
    spec.bootstrap_data_secret_ref = None;
    spec.image = Default::default();
    spec.cluster_network = Default::default();
    spec.azure.tags = Default::default();
    spec.control_plane.zones = Vec::new();
    c.status = c.status.take().map(|s| AzureClusterStatus {
        control_plane_endpoint: s.control_plane_endpoint,
        ..AzureClusterStatus::default()
    });
}

/// The workloads whose pods carry `p`'s injection: each pod's controller (a ReplicaSet,
/// StatefulSet, DaemonSet, Job) or the pod itself, once each, sorted.
pub fn workload_consumers<'a>(
    p: &ProxyConfig,
    pods: impl IntoIterator<Item = &'a ObjectMeta>,
) -> Vec<ProxyConsumer> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let mut set = BTreeSet::new();
    for m in pods {
        if m.namespace.as_deref() != Some(ns.as_str())
            || m.labels.as_ref().and_then(|l| l.get(INJECTED_LABEL)) != Some(&name)
        {
            continue;
        }
        let owner = m
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let (kind, oname) = match owner {
            Some(o) => (o.kind.clone(), o.name.clone()),
            None => ("Pod".to_string(), m.name.clone().unwrap_or_default()),
        };
        set.insert((kind, oname));
    }
    set.into_iter()
        .map(|(kind, name)| ProxyConsumer {
            kind,
            namespace: ns.clone(),
            name,
            no_proxy: Vec::new(),
        })
        .collect()
}

/// An Event to publish for a change of `Ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub warning: bool,
    pub reason: String,
    pub note: String,
}

/// The status for this pass, and the Event its Ready transition deserves (none when Ready's
/// status and reason did not change: repeats are not news).
pub fn report(
    p: &ProxyConfig,
    parts: &[Cond],
    mut consumers: Vec<ProxyConsumer>,
    now: &Time,
) -> (ProxyConfigStatus, Option<Transition>) {
    let previous = p
        .status
        .as_ref()
        .map(|s| s.common.conditions.clone())
        .unwrap_or_default();
    let total = consumers.len();
    consumers.truncate(MAX_CONSUMERS);
    let mut ready = conditions::ready_rollup(parts);
    if ready.status == Status::True {
        ready.message = match total {
            0 => "valid; no consumers yet".to_string(),
            n => format!("valid; {n} consumer(s)"),
        };
    }
    let phase = match (ready.status, ready.reason.as_str()) {
        (Status::True, _) => Phase::Running,
        (_, "MissingReference") => Phase::Pending,
        _ => Phase::Failed,
    };
    let mut observations = parts.to_vec();
    observations.push(ready.clone());
    let generation = p.metadata.generation;
    let merged = conditions::merge(&previous, &observations, generation, now);
    let old_ready = previous.iter().find(|c| c.type_ == "Ready");
    let changed =
        old_ready.is_none_or(|c| c.status != ready.status.as_str() || c.reason != ready.reason);
    let transition = changed.then(|| Transition {
        warning: ready.status != Status::True,
        reason: if ready.status == Status::True {
            "Ready".to_string()
        } else {
            ready.reason.clone()
        },
        note: ready.message.clone(),
    });
    (
        ProxyConfigStatus {
            common: CommonStatus {
                conditions: merged,
                observed_generation: generation,
                phase: Some(phase),
            },
            consumers,
            effective_no_proxy: status_no_proxy(p),
            // Filled by the pass (`drift::report`), which knows what it read and wrote.
            drift: Vec::new(),
        },
        transition,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_config::resolve::tests::proxy;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn at(s: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(s).expect("ts"))
    }

    fn pod(ns: &str, name: &str, label: Option<&str>, owner: Option<(&str, &str)>) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: label.map(|l| [(INJECTED_LABEL.to_string(), l.to_string())].into()),
            owner_references: owner.map(|(k, n)| {
                vec![OwnerReference {
                    kind: k.into(),
                    name: n.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn the_consumer_view_of_a_cluster_gives_the_same_consumers() {
        use azop_api::v1alpha1::azure_cluster::ApiEndpoint;
        use azop_api::v1alpha1::common::LocalObjectRef;
        let p = proxy("ns", "corp", false);
        let mut full = crate::testing::cluster("c")
            .static_placement()
            .pool("work", 3, &["1", "2"])
            .build();
        full.spec.proxy_config_ref = Some(LocalObjectRef {
            name: "corp".into(),
        });
        full.status = Some(AzureClusterStatus {
            control_plane_endpoint: Some(ApiEndpoint {
                host: "api.c.example.com".into(),
                port: 6443,
            }),
            failure_domains: vec!["1".into(), "2".into()],
            ..AzureClusterStatus::default()
        });
        let mut view = full.clone();
        consumer_view(&mut view);
        assert!(view.spec.worker_pools.is_empty() && view.spec.ssh_public_key.is_empty());
        let consumers = cluster_consumers(&p, &[Box::new(full)], &[] as &[Box<AksCluster>]);
        assert_eq!(consumers.len(), 1);
        assert!(
            consumers[0]
                .no_proxy
                .iter()
                .any(|n| n == "api.c.example.com"),
            "{:?}",
            consumers[0].no_proxy
        );
        assert_eq!(
            cluster_consumers(&p, &[Box::new(view)], &[] as &[Box<AksCluster>]),
            consumers
        );
    }

    #[test]
    fn workload_consumers_are_the_pods_controllers_once_each() {
        let p = proxy("a", "corp", true);
        let pods = [
            pod("a", "web-1", Some("corp"), Some(("ReplicaSet", "web-abc"))),
            pod("a", "web-2", Some("corp"), Some(("ReplicaSet", "web-abc"))),
            pod("a", "bare", Some("corp"), None),
            pod("a", "other", Some("different"), None),
            pod("b", "elsewhere", Some("corp"), None),
        ];
        let got = workload_consumers(&p, pods.iter());
        let names: Vec<_> = got
            .iter()
            .map(|c| (c.kind.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(names, vec![("Pod", "bare"), ("ReplicaSet", "web-abc")]);
    }

    #[test]
    fn ready_flips_produce_one_event_each() {
        let mut p = proxy("a", "corp", false);
        let good = [Cond::new("SpecValid", Status::True, "Valid", "")];
        let (status, ev) = report(&p, &good, vec![], &at(10));
        assert_eq!(status.common.phase, Some(Phase::Running));
        assert_eq!(status.common.observed_generation, Some(3));
        assert_eq!(ev.expect("first Ready is news").reason, "Ready");
        assert!(
            status
                .effective_no_proxy
                .contains(&"169.254.169.254".to_string())
        );
        p.status = Some(status);
        let (status, ev) = report(&p, &good, vec![], &at(20));
        assert_eq!(ev, None, "unchanged Ready publishes nothing");
        p.status = Some(status);
        let bad = [Cond::new(
            "DefaultUnique",
            Status::False,
            "MultipleDefaults",
            "two",
        )];
        let (status, ev) = report(&p, &bad, vec![], &at(30));
        let ev = ev.expect("flip is news");
        assert!(ev.warning);
        assert_eq!(ev.reason, "MultipleDefaults");
        assert_eq!(status.common.phase, Some(Phase::Failed));
        let ready = status
            .common
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("ready");
        assert_eq!(ready.last_transition_time, at(30));
    }

    #[test]
    fn consumers_are_capped() {
        let p = proxy("a", "corp", false);
        let many: Vec<ProxyConsumer> = (0..MAX_CONSUMERS + 5)
            .map(|i| ProxyConsumer {
                kind: "Pod".into(),
                namespace: "a".into(),
                name: format!("p{i}"),
                no_proxy: vec![],
            })
            .collect();
        let good = [Cond::new("SpecValid", Status::True, "Valid", "")];
        let (status, _) = report(&p, &good, many, &at(1));
        assert_eq!(status.consumers.len(), MAX_CONSUMERS);
        let ready = status.common.conditions.last().expect("ready");
        assert!(
            ready.message.contains("105 consumer(s)"),
            "{}",
            ready.message
        );
    }
}
