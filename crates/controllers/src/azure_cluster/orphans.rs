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
use crate::engine::delete::owned_by;
use crate::engine::operations;
use crate::engine::{Leftover, Sweep};

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

/// The listed items (VMs or NICs) that carry this object's uid and whose name is not in
/// `desired` (lower-case): what the sweep removes. Pure.
pub fn unwanted<'a>(
    items: &'a [Value],
    owner: &Owner,
    desired: &BTreeSet<String>,
) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|v| owned_by(v, owner))
        .filter(|v| field(v, "/name").is_some_and(|n| !desired.contains(&n.to_ascii_lowercase())))
        .collect()
}

fn lower(names: impl Iterator<Item = String>) -> BTreeSet<String> {
    names.map(|n| n.to_ascii_lowercase()).collect()
}

/// The VMs of this pass: the survey's listing when it made one, else a fresh one.
async fn listed_vms(
    session: &ArmSession,
    resource_group: &str,
    survey: Option<&Survey>,
) -> Result<Vec<Value>, AzureError> {
    match survey {
        Some(s) => Ok(s.owned.clone()),
        None => {
            session
                .observe_group(resource_group, VM_TYPE, COMPUTE_API)
                .await
        }
    }
}

async fn listed_nics(session: &ArmSession, resource_group: &str) -> Result<Vec<Value>, AzureError> {
    session
        .observe_group(resource_group, NIC_TYPE, NETWORK_API)
        .await
}

/// What [`remove`] would remove now, read only (`azop plan`): the same listings and the same
/// choice ([`unwanted`]).
pub async fn leftovers(
    session: &ArmSession,
    owner: &Owner,
    resource_group: &str,
    desired_vms: &BTreeSet<String>,
    survey: Option<&Survey>,
) -> Result<Vec<Leftover>, AzureError> {
    let vms = listed_vms(session, resource_group, survey).await?;
    let nics = listed_nics(session, resource_group).await?;
    let workload = survey.and_then(|s| s.workload.as_ref());
    let desired = lower(desired_vms.iter().cloned());
    let desired_nics = lower(desired_vms.iter().map(|v| names::nic(v)));
    let name = |v: &Value| field(v, "/name").unwrap_or_default().to_string();
    let mut out: Vec<Leftover> = unwanted(&vms, owner, &desired)
        .into_iter()
        .map(|vm| Leftover {
            kind: VM_TYPE.to_string(),
            name: name(vm),
            note: workload
                .filter(|w| w.nodes.contains_key(&name(vm)))
                .map(|_| "its node is drained first".to_string()),
        })
        .collect();
    out.extend(
        unwanted(&nics, owner, &desired_nics)
            .into_iter()
            .map(|nic| Leftover {
                kind: NIC_TYPE.to_string(),
                name: name(nic),
                note: Some("once its VM is gone".to_string()),
            }),
    );
    Ok(out)
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
    let vms = listed_vms(session, resource_group, survey).await?;
    let workload = survey.and_then(|s| s.workload.as_ref());
    let lost = survey.is_some_and(|s| s.workload_lost);
    let desired = lower(desired_vms.iter().cloned());
    for vm in unwanted(&vms, owner, &desired) {
        remove_vm(session, vm, workload, lost, ops, &mut removal).await?;
    }
    let desired_nics = lower(desired_vms.iter().map(|v| names::nic(v)));
    let nics = listed_nics(session, resource_group).await?;
    for nic in unwanted(&nics, owner, &desired_nics) {
        remove_nic(session, nic, ops, &mut removal).await?;
    }
    Ok(removal)
}

/// One listed VM the spec no longer has: drained (when the workload cluster answers), then
/// deleted.
async fn remove_vm(
    session: &ArmSession,
    vm: &Value,
    workload: Option<&workload::Workload>,
    workload_lost: bool,
    ops: &mut Vec<ArmOperation>,
    removal: &mut Sweep,
) -> Result<(), AzureError> {
    let (Some(name), Some(id)) = (field(vm, "/name"), field(vm, "/id")) else {
        return Ok(());
    };
    let label = format!("virtualMachines {name}");
    let deleting = field(vm, "/properties/provisioningState")
        .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
    if in_flight(ops, id) || deleting {
        removal.pending.push(label);
        return Ok(());
    }
    // The workload cluster answered before and not now: its node may hold pods that would
    // not be drained. Wait until it answers (the first boot test lost a PodDisruptionBudget
    // to one pass like this).
    if workload.is_none() && workload_lost {
        removal.pending.push(format!(
            "{label}, waiting for the workload cluster's API server to answer again to drain its node first"
        ));
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

/// One listed NIC whose machine the spec no longer has: deleted once no VM holds it.
async fn remove_nic(
    session: &ArmSession,
    nic: &Value,
    ops: &mut Vec<ArmOperation>,
    removal: &mut Sweep,
) -> Result<(), AzureError> {
    let (Some(name), Some(id)) = (field(nic, "/name"), field(nic, "/id")) else {
        return Ok(());
    };
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
