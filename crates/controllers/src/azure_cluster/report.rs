//! Status of an AzureCluster, computed from what one reconcile observed (pure).

use std::collections::BTreeMap;

use azop_api::v1alpha1::azure_cluster::{
    ApiEndpoint, AzureClusterStatus, MachineState, NodeRole, NodeStatus,
};
use azop_api::v1alpha1::{ArmOperation, AzureResourceStatus, CommonStatus, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::machines::MachinePlan;
use super::plan::{KEY_API_PIP, KEY_LB, KEY_RESOURCE_GROUP, Part};
use crate::conditions::{self, Observation as Cond, Status};
use crate::graph::NodeState;
use crate::step::Observation;

/// One step as the report sees it.
pub struct StepView<'a> {
    pub key: &'a str,
    pub part: Part,
    pub external: bool,
    pub resource_type: &'a str,
    pub name: &'a str,
    pub id: String,
    pub machine: Option<&'a MachinePlan>,
    pub state: &'a NodeState,
    pub observed: &'a Observation,
}

pub struct ReportInput<'a> {
    pub steps: Vec<StepView<'a>>,
    /// Resources being removed that the spec no longer has (scaled-down machines).
    pub removing: Vec<String>,
    pub operations: Vec<ArmOperation>,
    pub azure_names: BTreeMap<String, String>,
    pub previous: &'a AzureClusterStatus,
    pub generation: Option<i64>,
    pub resource_group: &'a str,
    pub subscription_id: &'a str,
    pub now: Time,
}

fn short_type(t: &str) -> &str {
    t.rsplit('/').next().unwrap_or(t)
}

fn part_condition(
    part: Part,
    steps: &[&StepView<'_>],
    removing: &[String],
    rg: &str,
    sub: &str,
) -> Cond {
    let ty = part.condition_type();
    if steps.is_empty() && removing.is_empty() {
        let msg = match part {
            Part::Workers => "no worker pools",
            Part::Network => "static placement: the existing VNet, subnets and NSGs are in place",
            _ => "nothing to create",
        };
        return Cond::new(ty, Status::True, "Ready", msg);
    }
    let label = |s: &StepView<'_>| format!("{} {}", short_type(s.resource_type), s.name);
    if let Some(s) = steps
        .iter()
        .find(|s| s.external && *s.state == NodeState::Absent)
    {
        return Cond::new(
            ty,
            Status::False,
            "ResourceGroupNotFound",
            format!(
                "resource group {} does not exist in subscription {sub}: create it, or set spec.createResourceGroup: true to let azop create and own it",
                s.name
            ),
        );
    }
    let failed: Vec<String> = steps
        .iter()
        .filter_map(|s| match s.state {
            NodeState::Failed(m) => Some(format!("{}: {m}", label(s))),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        return Cond::new(ty, Status::False, "ProvisioningFailed", failed.join("; "));
    }
    let not_owned: Vec<String> = steps
        .iter()
        .filter(|s| *s.state == NodeState::NotOwned)
        .map(|s| label(s))
        .collect();
    if !not_owned.is_empty() {
        return Cond::new(
            ty,
            Status::False,
            "NotOwned",
            format!(
                "{} in resource group {rg} already exist(s) without this object's azop.dev/uid tag; azop never changes what it did not create: delete or rename it, or rename the cluster",
                not_owned.join(", ")
            ),
        );
    }
    let ready = steps
        .iter()
        .filter(|s| *s.state == NodeState::Ready)
        .count();
    if ready == steps.len() && removing.is_empty() {
        return Cond::new(
            ty,
            Status::True,
            "Ready",
            format!("{ready} of {} resources ready", steps.len()),
        );
    }
    let pending: Vec<String> = steps
        .iter()
        .filter(|s| *s.state != NodeState::Ready)
        .map(|s| {
            let what = match s.state {
                NodeState::Drifted => "updating",
                NodeState::Busy => "in progress",
                _ => "waiting",
            };
            format!("{} ({what})", label(s))
        })
        .chain(removing.iter().map(|r| format!("{r} (removing)")))
        .collect();
    Cond::new(
        ty,
        Status::False,
        "Provisioning",
        format!("{ready} of {} ready; {}", steps.len(), pending.join(", ")),
    )
}

fn machine_state(state: &NodeState) -> MachineState {
    match state {
        NodeState::Absent | NodeState::NotOwned => MachineState::Pending,
        NodeState::Busy => MachineState::Provisioning,
        NodeState::Ready | NodeState::Drifted => MachineState::Running,
        NodeState::Failed(_) => MachineState::Failed,
    }
}

/// The status to apply, and the conditions' previous statuses for Events.
pub fn status(input: ReportInput<'_>) -> AzureClusterStatus {
    let by_part =
        |p: Part| -> Vec<&StepView<'_>> { input.steps.iter().filter(|s| s.part == p).collect() };
    let mut parts: Vec<Cond> = Part::ALL
        .iter()
        .map(|p| {
            let removing: Vec<String> = if *p == Part::Workers {
                input.removing.clone()
            } else {
                Vec::new()
            };
            part_condition(
                *p,
                &by_part(*p),
                &removing,
                input.resource_group,
                input.subscription_id,
            )
        })
        .collect();
    let ready = conditions::ready_rollup(&parts);
    parts.insert(0, ready.clone());

    let nics: BTreeMap<&str, &StepView<'_>> = input
        .steps
        .iter()
        .filter(|s| s.key.starts_with("nic/"))
        .filter_map(|s| s.machine.map(|m| (m.name.as_str(), s)))
        .collect();
    let nodes: Vec<NodeStatus> = input
        .steps
        .iter()
        .filter(|s| s.key.starts_with("vm/"))
        .filter_map(|s| {
            let m = s.machine?;
            Some(NodeStatus {
                name: m.name.clone(),
                role: m.role,
                pool: m.pool.clone(),
                zone: m.zone.clone(),
                private_ip: nics.get(m.name.as_str()).and_then(|nic| {
                    nic.observed
                        .str_at("/properties/ipConfigurations/0/properties/privateIPAddress")
                }),
                state: Some(machine_state(s.state)),
            })
        })
        .collect();
    let mut failure_domains: Vec<String> = input
        .steps
        .iter()
        .filter_map(|s| s.machine)
        .filter(|m| m.role == NodeRole::ControlPlane)
        .filter_map(|m| m.zone.clone())
        .collect();
    failure_domains.sort();
    failure_domains.dedup();

    // The public IP's address, or the internal load balancer's private frontend address.
    let endpoint = input
        .steps
        .iter()
        .find(|s| s.key == KEY_API_PIP)
        .and_then(|s| s.observed.str_at("/properties/ipAddress"))
        .or_else(|| {
            input.steps.iter().find(|s| s.key == KEY_LB).and_then(|s| {
                s.observed
                    .str_at("/properties/frontendIPConfigurations/0/properties/privateIPAddress")
            })
        })
        .map(|host| ApiEndpoint { host, port: 6443 });

    let resources = input
        .steps
        .iter()
        .filter(|s| !(s.external && s.key == KEY_RESOURCE_GROUP && !s.observed.exists))
        .map(|s| AzureResourceStatus {
            kind: s.resource_type.to_string(),
            name: s.name.to_string(),
            id: s.observed.exists.then(|| s.id.clone()),
            state: Some(match s.state {
                NodeState::Absent => "Missing".to_string(),
                NodeState::NotOwned => "NotOwned".to_string(),
                _ if s.external => "Existing".to_string(),
                _ => s
                    .observed
                    .provisioning_state
                    .clone()
                    .unwrap_or_else(|| "Succeeded".to_string()),
            }),
        })
        .collect();

    let previous_phase = input.previous.common.phase;
    let phase = if ready.status == Status::True {
        Phase::Running
    } else if matches!(previous_phase, Some(Phase::Running | Phase::Updating)) {
        Phase::Updating
    } else {
        Phase::Provisioning
    };
    AzureClusterStatus {
        common: CommonStatus {
            conditions: conditions::merge(
                &input.previous.common.conditions,
                &parts,
                input.generation,
                &input.now,
            ),
            observed_generation: input.generation,
            phase: Some(phase),
        },
        control_plane_endpoint: endpoint.or_else(|| input.previous.control_plane_endpoint.clone()),
        azure_names: input.azure_names,
        resources,
        nodes,
        failure_domains,
        operations: input.operations,
    }
}

/// Conditions whose status differs from before: `(type, new condition)`, for Events.
pub fn transitions<'a>(previous: &[Condition], current: &'a [Condition]) -> Vec<&'a Condition> {
    current
        .iter()
        .filter(|c| {
            previous
                .iter()
                .find(|p| p.type_ == c.type_)
                .is_none_or(|p| p.status != c.status)
        })
        .collect()
}
