//! The workload cluster, through `<name>-kubeconfig`: its nodes' readiness, cordon and drain
//! before a machine is removed, and the Node objects of removed machines.
//!
//! An unreachable workload cluster never holds a pass: its API not up yet is the normal state
//! of a cluster being built. After a failed attempt azop does not try again for
//! [`RETRY_AFTER`], so a cluster whose endpoint does not answer costs one short timeout per
//! half minute, not one per pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use azop_api::v1alpha1::azure_cluster::AzureCluster;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};

use super::node_steps::workload_client;
use super::pki;

/// How long azop leaves an unreachable workload cluster alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What azop knows of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its `Ready` condition is `True`.
    pub ready: bool,
    /// Cordoned.
    pub unschedulable: bool,
}

/// A workload cluster that answered this pass.
#[derive(Clone)]
pub struct Workload {
    pub client: kube::Client,
    pub nodes: BTreeMap<String, NodeInfo>,
}

/// When each cluster's workload may be tried again, by cluster uid.
#[derive(Default)]
pub struct Probes {
    next_try: Mutex<HashMap<String, Instant>>,
    /// Clusters whose API server has answered this process at least once.
    answered_once: Mutex<std::collections::HashSet<String>>,
}

impl Probes {
    fn due(&self, key: &str, now: Instant) -> bool {
        let map = self.next_try.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).is_none_or(|t| *t <= now)
    }

    /// The workload of cluster `key` did not answer at `now`.
    pub(crate) fn failed(&self, key: &str, now: Instant) {
        let mut map = self.next_try.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key.to_string(), now + RETRY_AFTER);
    }

    fn answered(&self, key: &str) {
        let mut map = self.next_try.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
        self.answered_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
    }

    /// The cluster of uid `key` is gone: nothing of it is kept.
    pub fn forget(&self, key: &str) {
        self.next_try
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.answered_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// How many clusters have something kept (a retry time, or having answered once).
    pub fn len(&self) -> usize {
        let next = self.next_try.lock().unwrap_or_else(|e| e.into_inner());
        let answered = self.answered_once.lock().unwrap_or_else(|e| e.into_inner());
        // Exported after every pass (`azop_object_state_entries`): counted without
        // collecting the keys.
        answered.len() + next.keys().filter(|k| !answered.contains(*k)).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the cluster of uid `key` has answered before: when it does not answer now,
    /// azop has lost sight of nodes it could see, rather than never seen them.
    pub fn answered_before(&self, key: &str) -> bool {
        self.answered_once
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }
}

/// The workload cluster and its nodes, or `None` when azop has no kubeconfig for it yet or it
/// does not answer.
pub async fn connect(
    client: &kube::Client,
    probes: &Probes,
    cluster: &AzureCluster,
) -> Option<Workload> {
    let key = cluster.uid().unwrap_or_default();
    let now = Instant::now();
    if !probes.due(&key, now) {
        return None;
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let name = pki::kubeconfig_secret_name(&cluster.name_any());
    let kubeconfig = secrets
        .get_opt(&name)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.data)
        .and_then(|d| d.get("value").cloned())
        .and_then(|b| String::from_utf8(b.0).ok())?;
    let answer = match workload_client(&kubeconfig).await {
        Ok(client) => nodes(&client).await.map(|nodes| Workload { client, nodes }),
        Err(e) => Err(e),
    };
    match answer {
        Ok(w) => {
            probes.answered(&key);
            Some(w)
        }
        Err(e) => {
            tracing::debug!(cluster = %cluster.name_any(), error = %e, "workload cluster not reachable");
            probes.failed(&key, now);
            None
        }
    }
}

async fn nodes(client: &kube::Client) -> Result<BTreeMap<String, NodeInfo>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("list nodes: {e}"))?;
    Ok(list
        .items
        .iter()
        .map(|n| (n.name_any(), node_info(n)))
        .collect())
}

/// What a Node says of itself. Pure.
pub fn node_info(node: &Node) -> NodeInfo {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let unschedulable = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    NodeInfo {
        ready,
        unschedulable,
    }
}

/// Where a drain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Nothing left to move: the machine may go.
    Done,
    /// Pods still to leave (evictions refused by a PodDisruptionBudget, or terminating).
    Draining {
        pods_left: usize,
        blocked: Vec<String>,
    },
}

/// Whether `kubectl drain` would evict `pod`: not a mirror pod, not a DaemonSet's, not
/// finished. Pure.
pub fn evictable(pod: &Pod) -> bool {
    let mirror = pod
        .annotations()
        .contains_key("kubernetes.io/config.mirror");
    let daemon = pod
        .owner_references()
        .iter()
        .any(|o| o.kind == "DaemonSet" && o.controller == Some(true));
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    !mirror && !daemon && !finished
}

/// Cordons `node` and asks every evictable pod on it to leave (the Eviction API, so
/// PodDisruptionBudgets are honoured). Called again each pass until it says [`Drain::Done`].
pub async fn drain(client: &kube::Client, node: &str) -> Result<Drain, String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let cordon = serde_json::json!({"spec": {"unschedulable": true}});
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&cordon))
        .await
        .map_err(|e| format!("cordon node {node}: {e}"))?;
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| format!("list the pods of node {node}: {e}"))?;
    let moving: Vec<&Pod> = on_node.items.iter().filter(|p| evictable(p)).collect();
    if moving.is_empty() {
        return Ok(Drain::Done);
    }
    let mut blocked = Vec::new();
    for pod in &moving {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api.evict(&pod.name_any(), &EvictParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => blocked.push(format!("{ns}/{}: {e}", pod.name_any())),
        }
    }
    Ok(Drain::Draining {
        pods_left: moving.len(),
        blocked,
    })
}

/// Deletes the Node of a machine that is gone. Failures are left for the next pass.
pub async fn delete_node(client: &kube::Client, node: &str) {
    let api: Api<Node> = Api::all(client.clone());
    match api.delete(node, &DeleteParams::default()).await {
        Ok(_) => tracing::info!(node, "deleted the node of a removed machine"),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => tracing::debug!(node, error = %e, "could not delete a node"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    #[test]
    fn a_node_is_ready_only_with_ready_true() {
        let node = |status: &str, unschedulable: Option<bool>| Node {
            metadata: ObjectMeta::default(),
            spec: Some(NodeSpec {
                unschedulable,
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        };
        assert_eq!(
            node_info(&node("True", None)),
            NodeInfo {
                ready: true,
                unschedulable: false
            }
        );
        assert!(!node_info(&node("Unknown", None)).ready);
        assert!(node_info(&node("False", Some(true))).unschedulable);
        assert_eq!(node_info(&Node::default()), NodeInfo::default());
    }

    #[test]
    fn drain_skips_what_kubectl_drain_skips() {
        let pod = |owner: Option<&str>, mirror: bool, phase: &str| Pod {
            metadata: ObjectMeta {
                annotations: mirror
                    .then(|| [("kubernetes.io/config.mirror".to_string(), "x".to_string())].into()),
                owner_references: owner.map(|kind| {
                    vec![OwnerReference {
                        kind: kind.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        };
        assert!(evictable(&pod(Some("ReplicaSet"), false, "Running")));
        assert!(evictable(&pod(None, false, "Pending")));
        assert!(!evictable(&pod(Some("DaemonSet"), false, "Running")));
        assert!(!evictable(&pod(None, true, "Running")));
        assert!(!evictable(&pod(Some("Job"), false, "Succeeded")));
    }

    #[test]
    fn a_cluster_that_answered_once_is_remembered_across_failures() {
        let probes = Probes::default();
        assert!(!probes.answered_before("uid-1"));
        probes.failed("uid-1", Instant::now());
        assert!(!probes.answered_before("uid-1"));
        probes.answered("uid-1");
        probes.failed("uid-1", Instant::now());
        assert!(probes.answered_before("uid-1"));
        assert!(!probes.answered_before("uid-2"));
    }

    #[test]
    fn a_cluster_gone_leaves_nothing_in_the_probes() {
        let probes = Probes::default();
        probes.answered("uid-1");
        probes.failed("uid-1", Instant::now());
        probes.failed("uid-2", Instant::now());
        assert_eq!(probes.len(), 2);
        probes.forget("uid-1");
        assert_eq!(probes.len(), 1);
        assert!(!probes.answered_before("uid-1"));
        probes.forget("uid-2");
        assert!(probes.is_empty());
    }
}
