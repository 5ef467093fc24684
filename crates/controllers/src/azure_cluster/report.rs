//! Status of an AzureCluster, computed from what one pass observed (pure).

use std::collections::BTreeMap;

use azop_api::v1alpha1::azure_cluster::{
    ApiEndpoint, AzureClusterStatus, MachineState, NodeRole, NodeStatus,
};
use azop_api::v1alpha1::{AzureStatus, CommonStatus, Phase};

use super::AzureClusterKind;
use super::machines::MachinePlan;
use super::plan::{KEY_API_PIP, KEY_LB, Part};
use crate::conditions::{self, Observation as Cond, Status};
use crate::engine::{NodeState, Ownership, ReportInput};

/// One step as the report sees it.
pub type StepView<'a> = crate::engine::StepView<'a, Part, MachinePlan>;

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
        .find(|s| s.ownership == Ownership::Existing && *s.state == NodeState::Absent)
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
    if let Some(s) = steps.iter().find(|s| s.is_foreign_in_use())
        && ready == steps.len()
        && removing.is_empty()
    {
        return Cond::new(
            ty,
            Status::True,
            "ExistingResourceGroup",
            format!(
                "resource group {} already existed without this object's azop.dev/uid tag: azop uses it as it is and never changes or deletes it",
                s.name
            ),
        );
    }
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

/// The Workers condition while pools replace outdated machines: per pool, how many machines
/// match the spec and are ready, what comes up, what goes. Pure.
fn replacement(steps: &[StepView<'_>], removing: &[String]) -> Option<Cond> {
    let vms: Vec<&StepView<'_>> = steps
        .iter()
        .filter(|s| s.key.starts_with("vm/") && s.part == Part::Workers)
        .collect();
    let mut pools: BTreeMap<&str, Vec<&StepView<'_>>> = BTreeMap::new();
    for s in &vms {
        if let Some(pool) = s.extra.and_then(|m| m.pool.as_deref()) {
            pools.entry(pool).or_default().push(s);
        }
    }
    let mut lines = Vec::new();
    for (pool, machines) in pools {
        let outdated: Vec<&str> = machines
            .iter()
            .filter(|s| s.extra.is_some_and(|m| m.outdated))
            .map(|s| s.name)
            .collect();
        let prefix = format!(
            "virtualMachines {}-",
            machines[0].name.rsplit_once('-').map_or("", |p| p.0)
        );
        let going: Vec<&String> = removing.iter().filter(|r| r.starts_with(&prefix)).collect();
        if outdated.is_empty() {
            continue;
        }
        let current: Vec<&&StepView<'_>> = machines
            .iter()
            .filter(|s| s.extra.is_some_and(|m| !m.outdated))
            .collect();
        let ready = current
            .iter()
            .filter(|s| *s.state == NodeState::Ready && s.extra.is_some_and(node_ready))
            .count();
        let coming: Vec<&str> = current
            .iter()
            .filter(|s| !(*s.state == NodeState::Ready && s.extra.is_some_and(node_ready)))
            .map(|s| s.name)
            .collect();
        let mut line = format!(
            "pool {pool}: replacing machines one at a time, {ready} new ready, {} outdated left",
            outdated.len()
        );
        if !coming.is_empty() {
            line.push_str(&format!("; coming up: {}", coming.join(", ")));
        }
        if !going.is_empty() {
            line.push_str(&format!(
                "; removing: {}",
                going
                    .iter()
                    .map(|g| g.trim_start_matches("virtualMachines "))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        line.push_str(&format!("; outdated: {}", outdated.join(", ")));
        lines.push(line);
    }
    (!lines.is_empty()).then(|| {
        Cond::new(
            Part::Workers.condition_type(),
            Status::False,
            "Replacing",
            lines.join("; "),
        )
    })
}

/// A machine counts as ready for a replacement when its node is Ready, or azop cannot see it.
fn node_ready(m: &MachinePlan) -> bool {
    super::fleet::counts_as_ready(m.node)
}

/// The ControlPlane condition when control-plane machines run an older image or OS disk
/// (they are not replaced: that needs etcd membership changes azop does not make yet). Pure.
fn control_plane_outdated(steps: &[StepView<'_>]) -> Option<Cond> {
    let outdated: Vec<&str> = steps
        .iter()
        .filter(|s| s.key.starts_with("vm/") && s.part == Part::ControlPlane)
        .filter(|s| s.extra.is_some_and(|m| m.outdated))
        .map(|s| s.name)
        .collect();
    (!outdated.is_empty()).then(|| {
        Cond::new(
            Part::ControlPlane.condition_type(),
            Status::False,
            "OutdatedMachines",
            format!(
                "{} run(s) an older image or OS disk than the spec: azop does not replace control-plane machines yet (that needs etcd membership changes); control-plane machines created from now on get the new one, running ones keep theirs",
                outdated.join(", ")
            ),
        )
    })
}

/// The condition of `part` when some of its machines have not joined within the deadline:
/// each with the tail of its serial console (boot diagnostics). Pure.
fn not_joined(steps: &[StepView<'_>], part: Part) -> Option<Cond> {
    let late: Vec<String> = steps
        .iter()
        .filter(|s| s.key.starts_with("vm/") && s.part == part)
        .filter_map(|s| {
            let m = s.extra?;
            let log = m.boot_log.as_ref()?;
            let node = match m.node {
                Some(n) => format!("its node is {n:?}"),
                None => "the cluster's API server does not answer".to_string(),
            };
            Some(format!(
                "machine {} has not joined the cluster within the join deadline ({node}); its serial console (boot diagnostics) ends:\n{log}",
                m.name
            ))
        })
        .collect();
    (!late.is_empty()).then(|| {
        Cond::new(
            part.condition_type(),
            Status::False,
            "NotJoined",
            late.join("\n"),
        )
    })
}

/// The status to apply (pure).
pub fn status(input: ReportInput<'_, AzureClusterKind>) -> AzureClusterStatus {
    let rg = &input.scope.resource_group;
    let sub = &input.scope.subscription_id;
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
            part_condition(*p, &by_part(*p), &removing, rg, sub)
        })
        .collect();
    for c in parts.iter_mut() {
        let replacing = match c.type_.as_str() {
            "WorkersReady" => replacement(&input.steps, &input.removing),
            "ControlPlaneReady" => control_plane_outdated(&input.steps),
            _ => None,
        };
        match replacing {
            Some(r) if c.status == Status::True => *c = r,
            // Machines coming up and going are the replacement itself: its progress first.
            Some(r) if c.reason == "Provisioning" => {
                c.message = format!("{}; {}", r.message, c.message);
                c.reason = r.reason;
            }
            // A failure or a conflict says what to fix; the progress follows it.
            Some(r) => c.message = format!("{}; {}", c.message, r.message),
            None => {}
        }
        let part = match c.type_.as_str() {
            "ControlPlaneReady" => Some(Part::ControlPlane),
            "WorkersReady" => Some(Part::Workers),
            _ => None,
        };
        // A machine that has not joined is what to look at first: its console says why.
        match part.and_then(|p| not_joined(&input.steps, p)) {
            Some(j) if c.status == Status::True => *c = j,
            Some(j) => {
                c.message = format!("{}; {}", j.message, c.message);
                c.reason = j.reason;
            }
            None => {}
        }
    }
    let ready = conditions::ready_rollup(&parts);
    parts.insert(0, ready.clone());

    let nics: BTreeMap<&str, &StepView<'_>> = input
        .steps
        .iter()
        .filter(|s| s.key.starts_with("nic/"))
        .filter_map(|s| s.extra.map(|m| (m.name.as_str(), s)))
        .collect();
    let nodes: Vec<NodeStatus> = input
        .steps
        .iter()
        .filter(|s| s.key.starts_with("vm/"))
        .filter_map(|s| {
            let m = s.extra?;
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
                node: m.node,
                outdated: m.outdated,
            })
        })
        .collect();
    let mut failure_domains: Vec<String> = input
        .steps
        .iter()
        .filter_map(|s| s.extra)
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

    let previous_phase = input.previous.azure.common.phase;
    let phase = if ready.status == Status::True {
        Phase::Running
    } else if matches!(previous_phase, Some(Phase::Running | Phase::Updating)) {
        Phase::Updating
    } else {
        Phase::Provisioning
    };
    AzureClusterStatus {
        azure: AzureStatus {
            common: CommonStatus {
                conditions: conditions::merge(
                    &input.previous.azure.common.conditions,
                    &parts,
                    input.generation,
                    &input.now,
                ),
                observed_generation: input.generation,
                phase: Some(phase),
            },
            ..input.azure
        },
        control_plane_endpoint: endpoint.or_else(|| input.previous.control_plane_endpoint.clone()),
        nodes,
        failure_domains,
    }
}

#[cfg(test)]
mod tests {
    use azop_api::v1alpha1::azure_cluster::AzureCluster;
    use serde_json::json;

    use super::*;
    use crate::azure_cluster::plan::{
        self, KEY_API_PIP, KEY_RESOURCE_GROUP, KEY_VNET, PlannedStep, Resolved,
    };
    use crate::engine::{Observation, StepView as View};
    use crate::testing::{
        self, ClusterFixture, absent, cluster, condition, found, ours, status_in,
    };
    use azop_provider::resources::compute::virtual_machine::ImageSource;

    /// What one step looked like this pass.
    type Seen = (NodeState, Observation);

    fn ready() -> Seen {
        (NodeState::Ready, ours())
    }

    fn report(
        fixture: ClusterFixture,
        previous: &AzureClusterStatus,
        removing: Vec<String>,
        seen: impl Fn(&str) -> Seen,
    ) -> AzureClusterStatus {
        let c: AzureCluster = fixture.build();
        let resolved = Resolved {
            image: ImageSource::ManagedImage {
                id: testing::managed_image_id("base"),
            },
            custom_data: None,
            bootstrap: None,
            survey: None,
        };
        let steps: Vec<PlannedStep> = plan::plan("c", &c.spec, Some(&resolved));
        let seen: Vec<Seen> = steps.iter().map(|s| seen(&s.key)).collect();
        let views: Vec<StepView<'_>> = steps
            .iter()
            .zip(&seen)
            .map(|(s, (state, obs))| View {
                key: &s.key,
                part: s.part,
                ownership: s.ownership,
                resource_type: s.step.resource_type(),
                name: s.step.name(),
                id: s.step.id(testing::SUBSCRIPTION),
                extra: s.extra.as_ref(),
                state,
                observed: obs,
            })
            .collect();
        let azure = AzureStatus {
            resources: crate::engine::report_resources(&views),
            ..AzureStatus::default()
        };
        status(ReportInput {
            steps: views,
            removing,
            azure,
            previous,
            generation: Some(1),
            scope: &c.spec.azure,
            now: testing::at(2_000),
        })
    }

    fn cond<'a>(s: &'a AzureClusterStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
        let c = s
            .azure
            .common
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no condition {type_}"));
        (c.status.as_str(), c.reason.as_str(), c.message.as_str())
    }

    fn fresh() -> AzureClusterStatus {
        AzureClusterStatus::default()
    }

    #[test]
    fn every_condition_reason() {
        struct Case {
            name: &'static str,
            fixture: ClusterFixture,
            removing: Vec<String>,
            seen: fn(&str) -> Seen,
            condition: &'static str,
            want: (&'static str, &'static str),
            message_has: &'static str,
        }
        let cases = vec![
            Case {
                name: "all ready",
                fixture: cluster("c"),
                removing: vec![],
                seen: |_| ready(),
                condition: "NetworkReady",
                want: ("True", "Ready"),
                message_has: "5 of 5 resources ready",
            },
            Case {
                name: "no worker pools",
                fixture: cluster("c"),
                removing: vec![],
                seen: |_| ready(),
                condition: "WorkersReady",
                want: ("True", "Ready"),
                message_has: "no worker pools",
            },
            Case {
                name: "static placement needs no network resources",
                fixture: cluster("c").static_placement(),
                removing: vec![],
                seen: |_| ready(),
                condition: "NetworkReady",
                want: ("True", "Ready"),
                message_has: "static placement",
            },
            Case {
                name: "in progress",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k == KEY_VNET {
                        (NodeState::Busy, found(true, "Updating", json!({})))
                    } else {
                        ready()
                    }
                },
                condition: "NetworkReady",
                want: ("False", "Provisioning"),
                message_has: "virtualNetworks c-vnet (in progress)",
            },
            Case {
                name: "drifted",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k == KEY_VNET {
                        (NodeState::Drifted, ours())
                    } else {
                        ready()
                    }
                },
                condition: "NetworkReady",
                want: ("False", "Provisioning"),
                message_has: "(updating)",
            },
            Case {
                name: "waiting",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k.starts_with("vm/") {
                        (NodeState::Absent, absent())
                    } else {
                        ready()
                    }
                },
                condition: "ControlPlaneReady",
                want: ("False", "Provisioning"),
                message_has: "virtualMachines c-cp-0 (waiting)",
            },
            Case {
                name: "failed",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k == "vm/c-cp-0" {
                        (
                            NodeState::Failed("OSProvisioningInternalError: boom".into()),
                            found(true, "Failed", json!({})),
                        )
                    } else {
                        ready()
                    }
                },
                condition: "ControlPlaneReady",
                want: ("False", "ProvisioningFailed"),
                message_has: "virtualMachines c-cp-0: OSProvisioningInternalError: boom",
            },
            Case {
                name: "not owned",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k == plan::KEY_LB {
                        (NodeState::NotOwned, found(false, "Succeeded", json!({})))
                    } else {
                        ready()
                    }
                },
                condition: "LoadBalancerReady",
                want: ("False", "NotOwned"),
                message_has: "loadBalancers c-public-lb in resource group rg",
            },
            Case {
                name: "resource group must exist",
                fixture: cluster("c").existing_resource_group(),
                removing: vec![],
                // Nothing exists, the resource group included.
                seen: |_| (NodeState::Absent, absent()),
                condition: "ResourceGroupReady",
                want: ("False", "ResourceGroupNotFound"),
                message_has: "createResourceGroup: true",
            },
            Case {
                name: "an existing resource group is used",
                fixture: cluster("c"),
                removing: vec![],
                seen: |k| {
                    if k == KEY_RESOURCE_GROUP {
                        (NodeState::Ready, found(false, "Succeeded", json!({})))
                    } else {
                        ready()
                    }
                },
                condition: "ResourceGroupReady",
                want: ("True", "ExistingResourceGroup"),
                message_has: "never changes or deletes it",
            },
            Case {
                name: "machines being removed",
                fixture: cluster("c").pool("w", 1, &[]),
                removing: vec!["virtualMachines c-w-1".into()],
                seen: |_| ready(),
                condition: "WorkersReady",
                want: ("False", "Provisioning"),
                message_has: "virtualMachines c-w-1 (removing)",
            },
        ];
        for case in cases {
            let s = report(case.fixture, &fresh(), case.removing, case.seen);
            let (status, reason, message) = cond(&s, case.condition);
            assert_eq!((status, reason), case.want, "{}: {message}", case.name);
            assert!(
                message.contains(case.message_has),
                "{}: {message:?} lacks {:?}",
                case.name,
                case.message_has
            );
        }
    }

    #[test]
    fn ready_rolls_up_the_first_part_that_is_not() {
        let s = report(cluster("c"), &fresh(), vec![], |k| {
            if k == KEY_VNET || k == "vm/c-cp-0" {
                (NodeState::Absent, absent())
            } else {
                ready()
            }
        });
        let (status, reason, message) = cond(&s, "Ready");
        assert_eq!((status, reason), ("False", "Provisioning"));
        assert!(message.starts_with("NetworkReady: "), "{message}");
        let all = report(cluster("c"), &fresh(), vec![], |_| ready());
        assert_eq!(cond(&all, "Ready").0, "True");
        let types: Vec<&str> = all
            .azure
            .common
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            vec![
                "Ready",
                "ResourceGroupReady",
                "NetworkReady",
                "LoadBalancerReady",
                "ControlPlaneReady",
                "WorkersReady"
            ]
        );
    }

    #[test]
    fn a_replacement_says_how_far_it_got_and_what_comes_and_goes() {
        let c: AzureCluster = cluster("c").pool("w", 3, &[]).build();
        let mut machines = crate::azure_cluster::machines::desired_machines("c", &c.spec);
        // c-w-0 and c-w-1 outdated and running; c-w-3 new and coming up; c-w-2 draining.
        machines.retain(|m| m.name != "c-w-2");
        for m in machines.iter_mut().filter(|m| m.pool.is_some()) {
            m.outdated = true;
        }
        let mut new = machines[1].clone();
        new.name = "c-w-3".into();
        new.index = 3;
        new.outdated = false;
        machines.push(new);
        let busy = NodeState::Busy;
        let ready_state = NodeState::Ready;
        let obs = Observation::default();
        let keys: Vec<String> = machines.iter().map(|m| format!("vm/{}", m.name)).collect();
        let views: Vec<StepView<'_>> = machines
            .iter()
            .zip(&keys)
            .map(|(m, key)| View {
                key,
                part: if m.pool.is_some() {
                    Part::Workers
                } else {
                    Part::ControlPlane
                },
                ownership: Ownership::Owned,
                resource_type: "Microsoft.Compute/virtualMachines",
                name: &m.name,
                id: String::new(),
                extra: Some(m),
                state: if m.name == "c-w-3" {
                    &busy
                } else {
                    &ready_state
                },
                observed: &obs,
            })
            .collect();
        let removing = vec![
            "virtualMachines c-w-2, draining its node: 1 pods to move".to_string(),
            "networkInterfaces c-w-9-nic".to_string(),
        ];
        let cond = replacement(&views, &removing).expect("replacing");
        assert_eq!(cond.reason, "Replacing");
        assert_eq!(cond.status, Status::False);
        assert_eq!(
            cond.message,
            "pool w: replacing machines one at a time, 0 new ready, 2 outdated left; coming up: c-w-3; removing: c-w-2, draining its node: 1 pods to move; outdated: c-w-0, c-w-1"
        );
        assert!(control_plane_outdated(&views).is_none());
        // Nothing outdated: no replacement to report.
        let current: Vec<StepView<'_>> = views
            .into_iter()
            .filter(|v| v.extra.is_some_and(|m| !m.outdated))
            .collect();
        assert!(replacement(&current, &removing).is_none());
    }

    #[test]
    fn a_machine_that_has_not_joined_is_quoted_from_its_serial_console() {
        let c: AzureCluster = cluster("c").pool("w", 1, &[]).build();
        let mut m = crate::azure_cluster::machines::desired_machines("c", &c.spec);
        m[1].node = Some(azop_api::v1alpha1::azure_cluster::NodeReadiness::NotRegistered);
        m[1].boot_log = Some("azop: kubeadm join failed 3 times".into());
        let (state, obs) = (NodeState::Ready, Observation::default());
        let view = |i: usize, part: Part| View {
            key: if i == 0 { "vm/c-cp-0" } else { "vm/c-w-0" },
            part,
            ownership: Ownership::Owned,
            resource_type: "Microsoft.Compute/virtualMachines",
            name: if i == 0 { "c-cp-0" } else { "c-w-0" },
            id: String::new(),
            extra: Some(&m[i]),
            state: &state,
            observed: &obs,
        };
        let views = [view(0, Part::ControlPlane), view(1, Part::Workers)];
        assert!(not_joined(&views, Part::ControlPlane).is_none());
        let cond = not_joined(&views, Part::Workers).expect("not joined");
        assert_eq!(
            (cond.status, cond.reason.as_str()),
            (Status::False, "NotJoined")
        );
        assert!(
            cond.message.starts_with("machine c-w-0 has not joined the cluster within the join deadline (its node is NotRegistered)")
                && cond.message.ends_with("ends:\nazop: kubeadm join failed 3 times"),
            "{}",
            cond.message
        );
    }

    #[test]
    fn an_outdated_control_plane_is_reported_not_replaced() {
        let c: AzureCluster = cluster("c").build();
        let mut cp = crate::azure_cluster::machines::desired_machines("c", &c.spec);
        cp[0].outdated = true;
        let (state, obs) = (NodeState::Ready, Observation::default());
        let view = View {
            key: "vm/c-cp-0",
            part: Part::ControlPlane,
            ownership: Ownership::Owned,
            resource_type: "Microsoft.Compute/virtualMachines",
            name: "c-cp-0",
            id: String::new(),
            extra: Some(&cp[0]),
            state: &state,
            observed: &obs,
        };
        let cond = control_plane_outdated(&[view]).expect("outdated");
        assert_eq!(
            (cond.status, cond.reason.as_str()),
            (Status::False, "OutdatedMachines")
        );
        assert!(
            cond.message.starts_with("c-cp-0 run(s) an older image"),
            "{}",
            cond.message
        );
    }

    #[test]
    fn every_phase() {
        let not_ready = |k: &str| {
            if k == KEY_VNET {
                (NodeState::Busy, ours())
            } else {
                ready()
            }
        };
        type Row = (&'static str, AzureClusterStatus, fn(&str) -> Seen, Phase);
        let table: Vec<Row> = vec![
            ("first pass", fresh(), not_ready, Phase::Provisioning),
            (
                "still provisioning",
                status_in(Phase::Provisioning, vec![]),
                not_ready,
                Phase::Provisioning,
            ),
            (
                "ready",
                status_in(Phase::Provisioning, vec![]),
                |_| ready(),
                Phase::Running,
            ),
            (
                "drift after running",
                status_in(Phase::Running, vec![]),
                not_ready,
                Phase::Updating,
            ),
            (
                "still updating",
                status_in(Phase::Updating, vec![]),
                not_ready,
                Phase::Updating,
            ),
            (
                "updated",
                status_in(Phase::Updating, vec![]),
                |_| ready(),
                Phase::Running,
            ),
            (
                "pending, then progress",
                status_in(Phase::Pending, vec![]),
                not_ready,
                Phase::Provisioning,
            ),
        ];
        for (name, previous, seen, want) in table {
            let s = report(cluster("c"), &previous, vec![], seen);
            assert_eq!(s.azure.common.phase, Some(want), "{name}");
            assert_eq!(s.azure.common.observed_generation, Some(1), "{name}");
        }
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let previous = status_in(
            Phase::Running,
            vec![
                condition("Ready", "True", "Ready"),
                condition("NetworkReady", "True", "Ready"),
            ],
        );
        let network_since = |s: &AzureClusterStatus| {
            s.azure
                .common
                .conditions
                .iter()
                .find(|c| c.type_ == "NetworkReady")
                .map(|c| c.last_transition_time.clone())
        };
        let s = report(cluster("c"), &previous, vec![], |_| ready());
        assert_eq!(network_since(&s), Some(testing::at(1_000)));
        let s = report(cluster("c"), &previous, vec![], |k| {
            if k == KEY_VNET {
                (NodeState::Busy, ours())
            } else {
                ready()
            }
        });
        assert_eq!(network_since(&s), Some(testing::at(2_000)));
    }

    #[test]
    fn endpoint_nodes_and_resources_come_from_the_observations() {
        let s = report(
            cluster("c").control_plane(3, &["1", "2", "3"]),
            &fresh(),
            vec![],
            |k| match k {
                KEY_API_PIP => (
                    NodeState::Ready,
                    found(
                        true,
                        "Succeeded",
                        json!({"properties": {"ipAddress": "20.1.2.3"}}),
                    ),
                ),
                "nic/c-cp-1" => (
                    NodeState::Ready,
                    found(
                        true,
                        "Succeeded",
                        json!({"properties": {"ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.5"}}]}}),
                    ),
                ),
                "vm/c-cp-2" => (NodeState::Busy, found(true, "Creating", json!({}))),
                "vm/c-cp-0" => (NodeState::Absent, absent()),
                KEY_RESOURCE_GROUP => (NodeState::Ready, found(false, "Succeeded", json!({}))),
                _ => ready(),
            },
        );
        assert_eq!(
            s.control_plane_endpoint,
            Some(ApiEndpoint {
                host: "20.1.2.3".into(),
                port: 6443
            })
        );
        let nodes: Vec<(&str, Option<&str>, Option<MachineState>)> = s
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.private_ip.as_deref(), n.state))
            .collect();
        assert_eq!(
            nodes,
            vec![
                ("c-cp-0", None, Some(MachineState::Pending)),
                ("c-cp-1", Some("10.0.0.5"), Some(MachineState::Running)),
                ("c-cp-2", None, Some(MachineState::Provisioning)),
            ]
        );
        assert_eq!(s.failure_domains, vec!["1", "2", "3"]);
        let state = |name: &str| {
            s.azure
                .resources
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.state.clone())
        };
        assert_eq!(state("rg").as_deref(), Some("Existing"));
        assert_eq!(state("c-cp-0").as_deref(), Some("Missing"));
        assert_eq!(state("c-cp-2").as_deref(), Some("Creating"));
        let vm0 = s.azure.resources.iter().find(|r| r.name == "c-cp-0");
        assert_eq!(vm0.and_then(|r| r.id.clone()), None);
    }

    #[test]
    fn a_missing_existing_group_is_not_listed_as_a_resource() {
        let s = report(
            cluster("c").existing_resource_group(),
            &fresh(),
            vec![],
            |_| (NodeState::Absent, absent()),
        );
        assert!(s.azure.resources.iter().all(|r| r.name != "rg"));
    }
}
