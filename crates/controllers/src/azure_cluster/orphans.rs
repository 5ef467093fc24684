//! Machines azop created that the spec no longer has (a pool scaled down or removed), and
//! the check that a resource group holds nothing foreign before it is deleted.
//!
//! Found by listing, not from status, so a VM whose PUT went out just before the operator was
//! killed — and never reached status — is still found and removed: nothing leaks.

use std::collections::BTreeSet;

use azop_api::v1alpha1::{ArmAction, ArmOperation};
use azop_provider::resources::UID_TAG;
use azop_provider::{ArmSession, AzureError, Owner};
use serde_json::Value;

use super::names;

/// Longest list walk; a resource group with more than 100 pages of VMs is not a cluster.
const MAX_PAGES: usize = 100;

#[derive(Debug, Default)]
pub struct Removal {
    /// Deletes started this pass (`type name`).
    pub started: Vec<String>,
    /// Still going away (started earlier, or waiting for their VM).
    pub pending: Vec<String>,
}

fn owned_by(item: &Value, owner: &Owner) -> bool {
    item.get("tags")
        .and_then(|t| t.get(UID_TAG))
        .and_then(Value::as_str)
        .is_some_and(|uid| owner.owns(Some(uid)))
}

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
        ops.push(super::reconcile::operation_from_handle(&h));
    }
    Ok(())
}

fn in_flight(ops: &[ArmOperation], id: &str) -> bool {
    ops.iter()
        .any(|o| o.action == ArmAction::Delete && o.resource_id.eq_ignore_ascii_case(id))
}

/// Deletes owned VMs not in `desired_vms`, then their NICs once the VM is gone.
pub async fn remove(
    session: &ArmSession,
    owner: &Owner,
    resource_group: &str,
    desired_vms: &BTreeSet<String>,
    ops: &mut Vec<ArmOperation>,
) -> Result<Removal, AzureError> {
    let sub = session.subscription_id().to_string();
    let base = format!("/subscriptions/{sub}/resourceGroups/{resource_group}/providers");
    let compute = azop_provider::resources::compute::API_VERSION;
    let network = azop_provider::resources::network::API_VERSION;
    let desired_nics: BTreeSet<String> = desired_vms
        .iter()
        .map(|v| names::nic(v).to_ascii_lowercase())
        .collect();
    let desired_vms_lc: BTreeSet<String> =
        desired_vms.iter().map(|v| v.to_ascii_lowercase()).collect();
    let mut removal = Removal::default();

    let vms = session
        .list(
            &format!("{base}/Microsoft.Compute/virtualMachines"),
            compute,
            MAX_PAGES,
        )
        .await?;
    for vm in vms.iter().filter(|v| owned_by(v, owner)) {
        let (Some(name), Some(id)) = (field(vm, "/name"), field(vm, "/id")) else {
            continue;
        };
        if desired_vms_lc.contains(&name.to_ascii_lowercase()) {
            continue;
        }
        let label = format!("virtualMachines {name}");
        let deleting = field(vm, "/properties/provisioningState")
            .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
        if in_flight(ops, id) || deleting {
            removal.pending.push(label);
        } else {
            delete_raw(session, id, compute, ops).await?;
            removal.started.push(label.clone());
            removal.pending.push(label);
        }
    }

    let nics = session
        .list(
            &format!("{base}/Microsoft.Network/networkInterfaces"),
            network,
            MAX_PAGES,
        )
        .await?;
    for nic in nics.iter().filter(|n| owned_by(n, owner)) {
        let (Some(name), Some(id)) = (field(nic, "/name"), field(nic, "/id")) else {
            continue;
        };
        if desired_nics.contains(&name.to_ascii_lowercase()) {
            continue;
        }
        let label = format!("networkInterfaces {name}");
        let attached = field(nic, "/properties/virtualMachine/id").is_some();
        let deleting = field(nic, "/properties/provisioningState")
            .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"));
        if attached || deleting || in_flight(ops, id) {
            removal.pending.push(label);
        } else {
            delete_raw(session, id, network, ops).await?;
            removal.started.push(label.clone());
            removal.pending.push(label);
        }
    }
    Ok(removal)
}

/// Resources in the group that do not carry this object's uid (`type/name`).
pub async fn foreign_resources(
    session: &ArmSession,
    owner: &Owner,
    resource_group: &str,
) -> Result<Vec<String>, AzureError> {
    let path = format!(
        "/subscriptions/{}/resourceGroups/{resource_group}/resources",
        session.subscription_id()
    );
    let items = session
        .list(&path, <azop_provider::resources::resource_group::ResourceGroup as azop_provider::resources::ArmResource>::API_VERSION, MAX_PAGES)
        .await?;
    Ok(items
        .iter()
        .filter(|i| !owned_by(i, owner))
        .map(|i| {
            format!(
                "{}/{}",
                field(i, "/type").unwrap_or("?"),
                field(i, "/name").unwrap_or("?")
            )
        })
        .collect())
}
