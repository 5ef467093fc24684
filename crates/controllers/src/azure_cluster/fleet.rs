//! The machines an AzureCluster has in Azure now, and their nodes when the workload cluster
//! answers: what a worker pool's scaling and rolling replacement decide from
//! ([`super::rollout`]).
//!
//! One listing of the resource group's VMs per pass, from the subscription's shared listing
//! (the sweep of removed machines uses the same answer, so a steady-state pass reads nothing
//! from ARM), and one list of Nodes
//! through `<name>-kubeconfig` when azop bootstraps the cluster. The survey only reads: the
//! Nodes of machines that are gone are found here and deleted by the sweep.

use std::collections::{BTreeMap, BTreeSet};

use azop_api::v1alpha1::azure_cluster::{AzureCluster, NodeReadiness};
use azop_provider::{ArmSession, AzureError, Owner};
use kube::ResourceExt;
use serde_json::Value;

use super::names;
use super::workload::{self, NodeInfo};
use crate::engine::delete::owned_by;

/// What the survey found this pass.
#[derive(Clone, Default)]
pub struct Survey {
    /// The VMs of the resource group that carry this cluster's uid tag, as ARM lists them.
    pub owned: Vec<Value>,
    /// The workload cluster, when it answered this pass: a client and its nodes by name.
    pub workload: Option<workload::Workload>,
    /// Nodes of machines whose VM no longer exists (replaced, scaled down): no kubelet will
    /// ever report for them again, so the sweep deletes them.
    pub stale_nodes: Vec<String>,
    /// Machines that have not joined within the deadline: their serial console's tail
    /// (filled by the kind's survey after this listing, [`super::boot_log`]).
    pub boot_logs: BTreeMap<String, String>,
    /// azop bootstraps this cluster and its API server answered before, but not in this pass:
    /// what its nodes say now is unknown, so nothing is decided on them — a replacement waits
    /// for the new machine's node to be seen Ready, and no machine is removed undrained.
    /// (`false` when azop has never seen the cluster answer: then the VMs are all there is.)
    pub workload_lost: bool,
}

impl Survey {
    /// The node of machine `name`: `None` when azop cannot see the workload cluster.
    pub fn node(&self, name: &str) -> Option<NodeReadiness> {
        self.workload.as_ref().map(|w| match w.nodes.get(name) {
            None => NodeReadiness::NotRegistered,
            Some(NodeInfo { ready: true, .. }) => NodeReadiness::Ready,
            Some(_) => NodeReadiness::NotReady,
        })
    }

    /// Whether machine `name`'s node lets a replacement go on: Ready, or not visible to azop
    /// (then the VM's provisioning state is all there is to go by).
    pub fn node_ok(&self, name: &str) -> bool {
        !self.workload_lost && counts_as_ready(self.node(name))
    }

    /// Whether the node of machine `name` is cordoned.
    pub fn cordoned(&self, name: &str) -> bool {
        self.workload
            .as_ref()
            .and_then(|w| w.nodes.get(name))
            .is_some_and(|n| n.unschedulable)
    }
}

/// Lists the VMs; with the workload cluster's nodes (`workload`, when it answered), finds
/// the Nodes of machines that are gone.
pub async fn survey(
    session: &ArmSession,
    owner: &Owner,
    cluster: &AzureCluster,
    workload: Option<workload::Workload>,
) -> Result<Survey, AzureError> {
    let rg = &cluster.spec.azure.resource_group;
    let vms = session
        .observe_group(
            rg,
            "Microsoft.Compute/virtualMachines",
            azop_provider::resources::compute::API_VERSION,
        )
        .await?;
    let all_names: BTreeSet<String> = vms
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect();
    let owned: Vec<Value> = vms.into_iter().filter(|v| owned_by(v, owner)).collect();
    let listed_stale = workload.as_ref().map_or_else(Vec::new, |w| {
        stale_nodes(
            &cluster.name_any(),
            w.nodes.keys().map(String::as_str),
            &all_names,
        )
    });
    // A Node is deleted only once a GET confirms its VM is gone: the listing may have been
    // walked before the VM was made.
    let mut stale = Vec::with_capacity(listed_stale.len());
    for node in listed_stale {
        let path = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{node}",
            session.subscription_id()
        );
        if session
            .get(&path, azop_provider::resources::compute::API_VERSION)
            .await?
            .is_none()
        {
            stale.push(node);
        }
    }
    Ok(Survey {
        owned,
        workload,
        stale_nodes: stale,
        boot_logs: BTreeMap::new(),
        workload_lost: false,
    })
}

/// A node that lets a replacement go on: Ready, or unknown (the workload cluster not seen).
/// Pure.
pub fn counts_as_ready(node: Option<NodeReadiness>) -> bool {
    matches!(node, None | Some(NodeReadiness::Ready))
}

/// The index of a worker VM of `pool`, from its name (`<cluster>-<pool>-<index>`). Pure.
pub fn pool_index(cluster: &str, pool: &str, vm_name: &str) -> Option<usize> {
    let rest = vm_name.strip_prefix(&format!("{cluster}-{pool}-"))?;
    let index: usize = rest.parse().ok()?;
    (names::worker_machine(cluster, pool, index) == vm_name).then_some(index)
}

/// Nodes named as azop names machines (`<cluster>-<word>-<index>`) whose VM no longer exists
/// in the resource group: their machine was removed. Pure.
pub fn stale_nodes<'a>(
    cluster: &str,
    nodes: impl Iterator<Item = &'a str>,
    vm_names: &BTreeSet<String>,
) -> Vec<String> {
    nodes
        .filter(|n| looks_like_a_machine(cluster, n))
        .filter(|n| !vm_names.contains(&n.to_ascii_lowercase()))
        .map(str::to_string)
        .collect()
}

fn looks_like_a_machine(cluster: &str, node: &str) -> bool {
    let Some(rest) = node.strip_prefix(&format!("{cluster}-")) else {
        return false;
    };
    let Some((pool, index)) = rest.rsplit_once('-') else {
        return false;
    };
    !pool.is_empty()
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && pool
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The zone a listed VM sits in.
pub fn zone(vm: &Value) -> Option<String> {
    vm.pointer("/zones/0")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A listed VM's provisioning state.
pub fn provisioning_state(vm: &Value) -> Option<&str> {
    vm.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

/// The listed VMs by name.
pub fn by_name(vms: &[Value]) -> BTreeMap<String, &Value> {
    vms.iter()
        .filter_map(|v| Some((v.get("name")?.as_str()?.to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_index_is_read_only_from_names_azop_gives() {
        assert_eq!(pool_index("c", "w", "c-w-12"), Some(12));
        assert_eq!(pool_index("c", "w", "c-w-01"), None);
        assert_eq!(pool_index("c", "w", "c-w-x"), None);
        // Pool "a" does not claim the machines of pool "a-b".
        assert_eq!(pool_index("c", "a", "c-a-b-0"), None);
        assert_eq!(pool_index("c", "a-b", "c-a-b-0"), Some(0));
        assert_eq!(pool_index("c", "w", "other-w-0"), None);
    }

    #[test]
    fn only_nodes_of_removed_machines_are_stale() {
        let vms: BTreeSet<String> = ["c-cp-0", "c-w-3"].iter().map(|s| s.to_string()).collect();
        let nodes = [
            "c-cp-0",
            "c-w-0",
            "c-w-3",
            "laptop",
            "c-gpu-a-7",
            "c-w-x",
            "d-w-0",
        ];
        assert_eq!(
            stale_nodes("c", nodes.into_iter(), &vms),
            vec!["c-w-0".to_string(), "c-gpu-a-7".to_string()]
        );
    }

    /// A cluster azop could see and now cannot: no machine counts as ready for a replacement
    /// (the VM alone does not say its node is Ready). One azop never saw: the VM is all there
    /// is to go by.
    #[test]
    fn a_lost_workload_cluster_holds_a_replacement_a_never_seen_one_does_not() {
        let never_seen = Survey::default();
        assert!(never_seen.node_ok("c-w-1"));
        let lost = Survey {
            workload_lost: true,
            ..Survey::default()
        };
        assert!(!lost.node_ok("c-w-1"));
    }
}
