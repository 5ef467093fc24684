//! Status of an AzureCluster, computed from what one pass observed (pure).

use std::collections::BTreeMap;

use azop_api::v1alpha1::AzureScope;
use azop_api::v1alpha1::azure_cluster::{
    ApiEndpoint, AzureClusterStatus, MachineState, NodeRole, NodeStatus,
};

use super::AzureClusterKind;
use super::machines::MachinePlan;
use super::plan::{KEY_API_PIP, KEY_LB, Part};
use crate::conditions::{Cond, Status};
use crate::engine::report::{Stall, Wording};
use crate::engine::{NodeState, Part as _, ReportInput};

/// One step as the report sees it.
pub type StepView<'a> = crate::engine::StepView<'a, Part, MachinePlan>;

/// AzureCluster's words in the shared condition ladder.
struct ClusterWording<'a> {
    scope: &'a AzureScope,
}

impl Wording<Part, MachinePlan> for ClusterWording<'_> {
    fn scope(&self) -> &AzureScope {
        self.scope
    }

    fn idle(&self, part: Part) -> Cond {
        let msg = match part {
            Part::Workers => "no worker pools",
            Part::Network => "static placement: the existing VNet, subnets and NSGs are in place",
            _ => "nothing to create",
        };
        Cond::new(part.condition_type(), Status::True, "Ready", msg)
    }

    fn not_owned(&self, labels: &[String]) -> String {
        format!(
            "{} in resource group {} already exist(s) without this object's azop.dev/uid tag; azop never changes what it did not create: delete or rename it, or rename the cluster",
            labels.join(", "),
            self.scope.resource_group
        )
    }

    fn removing_part(&self) -> Option<Part> {
        Some(Part::Workers)
    }

    /// Machines running in Azure whose nodes have not joined within the deadline: what to
    /// look at first, their serial console says why.
    fn stalled(&self, _part: Part, steps: &[&StepView<'_>]) -> Option<Stall> {
        not_joined(steps)
    }
}

/// The reason of a part whose machines have not joined within the deadline.
pub const NOT_JOINED: &str = "NotJoined";

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

/// The stall of a part some of whose machines have not joined within the deadline (the
/// survey read a serial console tail for each, [`super::boot_log`]): each with that tail.
/// Decided on the machines' typed state. Pure.
fn not_joined(steps: &[&StepView<'_>]) -> Option<Stall> {
    let late: Vec<String> = steps
        .iter()
        .filter(|s| s.key.starts_with("vm/"))
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
    (!late.is_empty()).then(|| Stall {
        reason: NOT_JOINED,
        message: late.join("\n"),
    })
}

/// The status to apply (pure).
pub fn status(input: ReportInput<'_, AzureClusterKind>) -> AzureClusterStatus {
    let mut parts = input.part_conditions(&ClusterWording { scope: input.scope });
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
    }
    let azure = input.azure_status(parts);

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

    AzureClusterStatus {
        azure,
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
    use crate::engine::{Observation, Ownership, StepView as View};
    use crate::retry::Failure;
    use crate::testing::{
        self, ClusterFixture, Seen, absent, cluster, cond, condition, found, ours, status_in,
    };
    use azop_api::v1alpha1::Phase;
    use azop_provider::resources::compute::virtual_machine::ImageSource;

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
        let seen = testing::observed(&steps, seen);
        status(testing::report_input::<AzureClusterKind>(
            &steps,
            &seen,
            previous,
            removing,
            Default::default(),
            &c.spec.azure,
        ))
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
                            NodeState::Failed(Failure::transient(
                                "OSProvisioningInternalError: boom",
                            )),
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

    /// Through the ladder: the machine's part says NotJoined with its console's tail (before
    /// what is still under way), the other parts are untouched, and Ready rolls it up.
    #[test]
    fn a_machine_that_has_not_joined_is_quoted_from_its_serial_console() {
        let c: AzureCluster = cluster("c").pool("w", 1, &[]).build();
        let survey = crate::azure_cluster::fleet::Survey {
            boot_logs: [(
                "c-w-0".to_string(),
                "azop: kubeadm join failed 3 times".to_string(),
            )]
            .into(),
            ..Default::default()
        };
        let resolved = Resolved {
            image: ImageSource::ManagedImage {
                id: testing::managed_image_id("base"),
            },
            custom_data: None,
            bootstrap: None,
            survey: Some(survey),
        };
        let steps: Vec<PlannedStep> = plan::plan("c", &c.spec, Some(&resolved));
        let pass = |nic_busy: bool| {
            let seen = testing::observed(&steps, |k| {
                if nic_busy && k == "nic/c-w-0" {
                    (NodeState::Busy, found(true, "Updating", json!({})))
                } else {
                    ready()
                }
            });
            status(testing::report_input::<AzureClusterKind>(
                &steps,
                &seen,
                &fresh(),
                vec![],
                Default::default(),
                &c.spec.azure,
            ))
        };
        let s = pass(false);
        let (status_, reason, message) = cond(&s, "WorkersReady");
        assert_eq!((status_, reason), ("False", NOT_JOINED));
        assert_eq!(
            message,
            "machine c-w-0 has not joined the cluster within the join deadline (the cluster's API server does not answer); its serial console (boot diagnostics) ends:\nazop: kubeadm join failed 3 times"
        );
        assert_eq!(cond(&s, "ControlPlaneReady").0, "True");
        let (ready_status, ready_reason, _) = cond(&s, "Ready");
        assert_eq!((ready_status, ready_reason), ("False", NOT_JOINED));
        // Something else under way is said after it.
        let busy = pass(true);
        let (_, reason, message) = cond(&busy, "WorkersReady");
        assert_eq!(reason, NOT_JOINED);
        assert!(
            message.ends_with("; 1 of 2 ready; networkInterfaces c-w-0-nic (in progress)"),
            "{message}"
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
