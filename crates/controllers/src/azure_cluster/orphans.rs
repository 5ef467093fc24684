//! Machines azop created that the spec no longer has (a pool scaled down or removed): the
//! AzureCluster's sweep.
//!
//! Found by listing, not from status, so a VM whose PUT went out just before the operator was
//! killed — and never reached status — is still found and removed: nothing leaks. The
//! listing is the subscription's shared one ([`ArmSession::observe_group`]): a restarted
//! operator walks it afresh, and azop's own writes since a walk are read again by GET.
//!
//! When the workload cluster answers, a machine's node is cordoned and drained first (pods
//! evicted through the Eviction API, so PodDisruptionBudgets hold), and its VM is deleted
//! only once nothing is left to move; its Node object goes once the VM is gone (the survey
//! finds such Nodes, [`super::fleet::Survey::stale_nodes`]). While the cluster is being
//! deleted nothing is drained: the whole cluster goes.

use std::collections::BTreeSet;

use azop_api::v1alpha1::{ArmAction, ArmOperation};
use azop_provider::{ArmSession, AzureError, Owner};
use serde_json::Value;

use super::fleet::Survey;
use super::names;
use super::workload::{self, Drain};
use crate::engine::Sweep;
use crate::engine::delete::owned_by;
use crate::engine::operations;

const VM_TYPE: &str = "Microsoft.Compute/virtualMachines";
const NIC_TYPE: &str = "Microsoft.Network/networkInterfaces";
const COMPUTE_API: &str = azop_provider::resources::compute::API_VERSION;
const NETWORK_API: &str = azop_provider::resources::network::API_VERSION;

fn field<'a>(item: &'a Value, pointer: &str) -> Option<&'a str> {
    item.pointer(pointer).and_then(Value::as_str)
}

async fn delete_raw(
    session: &ArmSession,
    id: &str,
    api_version: &str,
    ops: &mut Vec<ArmOperation>,
) -> Result<(), AzureError> {
    if let Some(h) = session.delete_by_id(id, api_version).await? {
        ops.push(operations::from_handle(&h));
    }
    Ok(())
}

fn in_flight(ops: &[ArmOperation], id: &str) -> bool {
    ops.iter()
        .any(|o| o.action == ArmAction::Delete && o.resource_id.eq_ignore_ascii_case(id))
}

/// Deletes owned VMs not in `desired_vms`, then their NICs once the VM is gone, and the Nodes
/// of machines whose VM is gone.
pub async fn remove(
    session: &ArmSession,
    owner: &Owner,
    resource_group: &str,
    desired_vms: &BTreeSet<String>,
    survey: Option<&Survey>,
    ops: &mut Vec<ArmOperation>,
) -> Result<Sweep, AzureError> {
    let mut removal = Sweep::default();
    if let Some(s) = survey
        && let Some(w) = &s.workload
    {
        for node in &s.stale_nodes {
            workload::delete_node(&w.client, node).await;
        }
    }
    // This pass's listing when the survey made one; a fresh one while deleting.
    let listed;
    let vms: &[Value] = match survey {
        Some(s) => &s.owned,
        None => {
            listed = session
                .observe_group(resource_group, VM_TYPE, COMPUTE_API)
                .await?;
            &listed
        }
    };
    let workload = survey.and_then(|s| s.workload.as_ref());
    let desired: BTreeSet<String> = desired_vms.iter().map(|v| v.to_ascii_lowercase()).collect();
    for vm in vms.iter().filter(|v| owned_by(v, owner)) {
        remove_vm(session, vm, &desired, workload, ops, &mut removal).await?;
    }
    let desired_nics: BTreeSet<String> = desired_vms
        .iter()
        .map(|v| names::nic(v).to_ascii_lowercase())
        .collect();
    let nics = session
        .observe_group(resource_group, NIC_TYPE, NETWORK_API)
        .await?;
    for nic in nics.iter().filter(|n| owned_by(n, owner)) {
        remove_nic(session, nic, &desired_nics, ops, &mut removal).await?;
    }
    Ok(removal)
}

/// One listed VM: kept when desired; else drained (when the workload cluster answers), then
/// deleted.
async fn remove_vm(
    session: &ArmSession,
    vm: &Value,
    desired: &BTreeSet<String>,
    workload: Option<&workload::Workload>,
    ops: &mut Vec<ArmOperation>,
    removal: &mut Sweep,
) -> Result<(), AzureError> {
    let (Some(name), Some(id)) = (field(vm, "/name"), field(vm, "/id")) else {
        return Ok(());
    };
    if desired.contains(&name.to_ascii_lowercase()) {
        return Ok(());
    }
    let label = format!("virtualMachines {name}");
    let deleting = field(vm, "/properties/provisioningState")
        .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
    if in_flight(ops, id) || deleting {
        removal.pending.push(label);
        return Ok(());
    }
    if let Some(w) = workload.filter(|w| w.nodes.contains_key(name)) {
        let waiting = match workload::drain(&w.client, name).await {
            Ok(Drain::Done) => None,
            Ok(Drain::Draining { pods_left, blocked }) => {
                let why = blocked
                    .first()
                    .map(|b| format!("; eviction refused: {b}"))
                    .unwrap_or_default();
                Some(format!("{pods_left} pods to move{why}"))
            }
            // The workload cluster stopped answering mid-drain: try again next pass rather
            // than delete a machine whose pods were not moved.
            Err(e) => Some(e),
        };
        if let Some(why) = waiting {
            removal
                .pending
                .push(format!("{label}, draining its node: {why}"));
            return Ok(());
        }
    }
    delete_raw(session, id, COMPUTE_API, ops).await?;
    removal.started.push(label.clone());
    removal.pending.push(label);
    Ok(())
}

/// One listed NIC: kept when its machine is desired; else deleted once no VM holds it.
async fn remove_nic(
    session: &ArmSession,
    nic: &Value,
    desired: &BTreeSet<String>,
    ops: &mut Vec<ArmOperation>,
    removal: &mut Sweep,
) -> Result<(), AzureError> {
    let (Some(name), Some(id)) = (field(nic, "/name"), field(nic, "/id")) else {
        return Ok(());
    };
    if desired.contains(&name.to_ascii_lowercase()) {
        return Ok(());
    }
    let label = format!("networkInterfaces {name}");
    let attached = field(nic, "/properties/virtualMachine/id").is_some();
    let deleting = field(nic, "/properties/provisioningState")
        .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
    if attached || deleting || in_flight(ops, id) {
        removal.pending.push(label);
    } else {
        delete_raw(session, id, NETWORK_API, ops).await?;
        removal.started.push(label.clone());
        removal.pending.push(label);
    }
    Ok(())
}
