//! Status of an AksCluster, from what one pass observed (pure).

use azop_api::v1alpha1::aks_cluster::{
    AksAddonStatus, AksClusterStatus, AksNodePoolStatus, Autoscale, ManagedIdentityStatus,
};
use azop_api::v1alpha1::{AzureStatus, CommonStatus, Phase, SecretRef};
use azop_provider::resources::containerservice::version_satisfies;
use azop_provider::resources::containerservice::versions::target_version;
use serde_json::Value;

use super::AksClusterKind;
use super::plan::{Extra, KEY_CLUSTER, Part};
use super::steps::INVALID_KUBECONFIG;
use crate::conditions::{self, Observation as Cond, Status};
use crate::engine::{NodeState, Ownership, ReportInput};

pub type StepView<'a> = crate::engine::StepView<'a, Part, Extra>;

fn str_at(raw: Option<&Value>, p: &str) -> Option<String> {
    raw?.pointer(p).and_then(Value::as_str).map(str::to_string)
}

fn int_at(raw: Option<&Value>, p: &str) -> Option<i32> {
    raw?.pointer(p)
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
}

/// A refused write's message reads as a wait, not a failure, when AKS only said "busy".
fn failure_reason(message: &str) -> &'static str {
    if message.contains("is busy") || message.contains("OperationNotAllowed") {
        "Busy"
    } else if message.contains(INVALID_KUBECONFIG) {
        INVALID_KUBECONFIG
    } else {
        "ProvisioningFailed"
    }
}

/// The first problem of a set of steps, if any: a missing resource group, a failure, a
/// resource azop did not create.
fn problem(ty: &str, steps: &[&StepView<'_>], sub: &str) -> Option<Cond> {
    if let Some(s) = steps
        .iter()
        .find(|s| s.ownership == Ownership::Existing && *s.state == NodeState::Absent)
    {
        return Some(Cond::new(
            ty,
            Status::False,
            "ResourceGroupNotFound",
            format!(
                "resource group {} does not exist in subscription {sub}: create it, or set spec.createResourceGroup: true to let azop create and own it",
                s.name
            ),
        ));
    }
    let failed: Vec<(String, &str)> = steps
        .iter()
        .filter_map(|s| match s.state {
            NodeState::Failed(m) => Some((format!("{}: {m}", s.name), failure_reason(m))),
            _ => None,
        })
        .collect();
    if let Some((_, reason)) = failed.first() {
        let msg: Vec<String> = failed.iter().map(|(m, _)| m.clone()).collect();
        return Some(Cond::new(ty, Status::False, reason, msg.join("; ")));
    }
    let not_owned: Vec<&str> = steps
        .iter()
        .filter(|s| *s.state == NodeState::NotOwned)
        .map(|s| s.name)
        .collect();
    if !not_owned.is_empty() {
        return Some(Cond::new(
            ty,
            Status::False,
            "NotOwned",
            format!(
                "{} already exist(s) without this AksCluster's ownership (azop.dev/uid tag, or owner reference for a Secret); azop never changes what it did not create: delete or rename it, or rename the cluster",
                not_owned.join(", ")
            ),
        ));
    }
    None
}

fn resource_group(steps: &[&StepView<'_>], sub: &str) -> Cond {
    let ty = Part::ResourceGroup.condition_type();
    if let Some(p) = problem(ty, steps, sub) {
        return p;
    }
    match steps.first() {
        Some(s) if *s.state == NodeState::Ready && s.is_foreign_in_use() => Cond::new(
            ty,
            Status::True,
            "ExistingResourceGroup",
            format!(
                "resource group {} already existed without this object's azop.dev/uid tag: azop uses it as it is and never changes or deletes it",
                s.name
            ),
        ),
        Some(s) if *s.state == NodeState::Ready => Cond::new(
            ty,
            Status::True,
            "Ready",
            format!("resource group {} is ready", s.name),
        ),
        Some(s) => Cond::new(
            ty,
            Status::False,
            "Provisioning",
            format!("creating resource group {}", s.name),
        ),
        None => Cond::new(ty, Status::True, "Ready", "nothing to create"),
    }
}

/// The control plane: the managed cluster, then its maintenance windows (settings of the
/// cluster, written once it is up).
fn control_plane(cluster: Option<&StepView<'_>>, maintenance: &[&StepView<'_>], sub: &str) -> Cond {
    let ty = Part::ControlPlane.condition_type();
    let mut c = managed_cluster(cluster, sub);
    if c.status != Status::True {
        return c;
    }
    if let Some(p) = problem(ty, maintenance, sub) {
        return p;
    }
    let pending: Vec<&str> = maintenance
        .iter()
        .filter(|s| *s.state != NodeState::Ready)
        .map(|s| s.name)
        .collect();
    if !pending.is_empty() {
        return Cond::new(
            ty,
            Status::False,
            "Updating",
            format!("applying maintenance window(s) {}", pending.join(", ")),
        );
    }
    if !maintenance.is_empty() {
        let names: Vec<&str> = maintenance.iter().map(|s| s.name).collect();
        c.message
            .push_str(&format!("; maintenance windows: {}", names.join(", ")));
    }
    c
}

fn managed_cluster(cluster: Option<&StepView<'_>>, sub: &str) -> Cond {
    let ty = Part::ControlPlane.condition_type();
    let Some(c) = cluster else {
        return Cond::new(ty, Status::Unknown, "Waiting", "no managed cluster planned");
    };
    if let Some(p) = problem(ty, &[c], sub) {
        return p;
    }
    let raw = c.observed.raw.as_ref();
    let floor = match c.extra {
        Some(Extra::Cluster { version }) => version.clone(),
        _ => String::new(),
    };
    let running = str_at(raw, "/properties/currentKubernetesVersion");
    let target = target_version(&floor, running.as_deref());
    let state = c.observed.provisioning_state.clone().unwrap_or_default();
    match c.state {
        NodeState::Absent => Cond::new(
            ty,
            Status::False,
            "Provisioning",
            format!(
                "managed cluster {} is to be created with Kubernetes {floor}",
                c.name
            ),
        ),
        NodeState::Busy | NodeState::Drifted
            if running
                .as_deref()
                .is_some_and(|r| !version_satisfies(&target, r)) =>
        {
            let r = running.unwrap_or_default();
            let step = if target != floor {
                format!(" (AKS upgrades one minor version at a time; {floor} comes next)")
            } else {
                String::new()
            };
            Cond::new(
                ty,
                Status::False,
                "Upgrading",
                format!(
                    "upgrading the control plane of {} from Kubernetes {r} to {target}{step}",
                    c.name
                ),
            )
        }
        NodeState::Busy if !c.observed.exists => Cond::new(
            ty,
            Status::False,
            "Provisioning",
            format!("creating managed cluster {} (Kubernetes {floor})", c.name),
        ),
        NodeState::Busy => Cond::new(
            ty,
            Status::False,
            "Provisioning",
            format!(
                "managed cluster {} is {}",
                c.name,
                if state.is_empty() {
                    "being updated".to_string()
                } else {
                    state.clone()
                }
            ),
        ),
        NodeState::Drifted => Cond::new(
            ty,
            Status::False,
            "Updating",
            format!(
                "updating managed cluster {}: {}",
                c.name,
                c.observed
                    .drift
                    .iter()
                    .map(|d| d.field.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        _ => {
            let r = running.unwrap_or_default();
            let past = if !version_satisfies(&r, &floor) {
                format!(
                    " (auto-upgrade moved it past spec.kubernetesVersion {floor}; azop keeps it)"
                )
            } else {
                String::new()
            };
            Cond::new(
                ty,
                Status::True,
                "Ready",
                format!("control plane of {} runs Kubernetes {r}{past}", c.name),
            )
        }
    }
}

fn pool_summary(s: &StepView<'_>) -> String {
    let raw = s.observed.raw.as_ref();
    let count = int_at(raw, "/properties/count").map_or("?".to_string(), |c| c.to_string());
    let version = str_at(raw, "/properties/currentOrchestratorVersion").unwrap_or_default();
    match s.extra {
        Some(Extra::Pool {
            mode,
            autoscale: Some((min, max)),
            ..
        }) => format!(
            "{} ({mode}, autoscale {min}-{max}, {count} now, {version})",
            s.name
        ),
        Some(Extra::Pool { mode, .. }) => format!("{} ({mode}, {count} nodes, {version})", s.name),
        _ => s.name.to_string(),
    }
}

fn node_pools(pools: &[&StepView<'_>], removing: &[String], sub: &str) -> Cond {
    let ty = Part::NodePools.condition_type();
    if let Some(p) = problem(ty, pools, sub) {
        return p;
    }
    let ready: Vec<String> = pools
        .iter()
        .filter(|s| *s.state == NodeState::Ready)
        .map(|s| pool_summary(s))
        .collect();
    if ready.len() == pools.len() && removing.is_empty() {
        return Cond::new(
            ty,
            Status::True,
            "Ready",
            format!("{} pool(s) ready: {}", ready.len(), ready.join(", ")),
        );
    }
    let pending: Vec<String> = pools
        .iter()
        .filter(|s| *s.state != NodeState::Ready)
        .map(|s| {
            let what = match s.state {
                NodeState::Absent => "to be created",
                NodeState::Drifted => "updating",
                NodeState::Busy => "in progress",
                _ => "waiting",
            };
            format!("{} ({what})", s.name)
        })
        .chain(removing.iter().map(|r| format!("{r} (removing)")))
        .collect();
    Cond::new(
        ty,
        Status::False,
        "Provisioning",
        format!(
            "{} of {} pool(s) ready; {}",
            ready.len(),
            pools.len(),
            pending.join(", ")
        ),
    )
}

fn kubeconfigs(secrets: &[&StepView<'_>], sub: &str) -> Cond {
    let ty = Part::Kubeconfig.condition_type();
    if let Some(p) = problem(ty, secrets, sub) {
        return p;
    }
    let admin = secrets
        .iter()
        .any(|s| matches!(s.extra, Some(Extra::Kubeconfig { admin: true })));
    let names: Vec<&str> = secrets.iter().map(|s| s.name).collect();
    if secrets.iter().all(|s| *s.state == NodeState::Ready) {
        let note = if admin {
            ""
        } else {
            "; no admin kubeconfig: local accounts are disabled (sign in with Entra ID)"
        };
        return Cond::new(
            ty,
            Status::True,
            "Ready",
            format!(
                "Secret(s) {} hold the kubeconfig (key value){note}",
                names.join(", ")
            ),
        );
    }
    Cond::new(
        ty,
        Status::False,
        "Provisioning",
        format!(
            "writing Secret(s) {} once the control plane is up",
            names.join(", ")
        ),
    )
}

/// The status to apply (pure).
pub fn status(input: ReportInput<'_, AksClusterKind>) -> AksClusterStatus {
    let sub = &input.scope.subscription_id;
    let by_part =
        |p: Part| -> Vec<&StepView<'_>> { input.steps.iter().filter(|s| s.part == p).collect() };
    let cluster = input.steps.iter().find(|s| s.key == KEY_CLUSTER);
    let maintenance: Vec<&StepView<'_>> = input
        .steps
        .iter()
        .filter(|s| matches!(s.extra, Some(Extra::Maintenance { .. })))
        .collect();
    let mut parts = vec![
        resource_group(&by_part(Part::ResourceGroup), sub),
        control_plane(cluster, &maintenance, sub),
        node_pools(&by_part(Part::NodePools), &input.removing, sub),
        kubeconfigs(&by_part(Part::Kubeconfig), sub),
    ];
    let ready = conditions::ready_rollup(&parts);
    parts.insert(0, ready.clone());

    let raw = cluster.and_then(|c| c.observed.raw.as_ref());
    let pools: Vec<AksNodePoolStatus> = by_part(Part::NodePools)
        .into_iter()
        .filter(|s| s.observed.exists)
        .map(|s| {
            let r = s.observed.raw.as_ref();
            let autoscale = (r
                .and_then(|v| v.pointer("/properties/enableAutoScaling"))
                .and_then(Value::as_bool)
                == Some(true))
            .then(|| Autoscale {
                min: int_at(r, "/properties/minCount").unwrap_or(0),
                max: int_at(r, "/properties/maxCount").unwrap_or(0),
            });
            AksNodePoolStatus {
                name: s.name.to_string(),
                mode: str_at(r, "/properties/mode"),
                count: int_at(r, "/properties/count"),
                autoscale,
                kubernetes_version: str_at(r, "/properties/currentOrchestratorVersion")
                    .or_else(|| str_at(r, "/properties/orchestratorVersion")),
                node_image_version: str_at(r, "/properties/nodeImageVersion"),
                state: s.observed.provisioning_state.clone(),
                power_state: str_at(r, "/properties/powerState/code"),
            }
        })
        .collect();
    let secret_ref = |admin: bool| {
        input
            .steps
            .iter()
            .find(|s| matches!(s.extra, Some(Extra::Kubeconfig { admin: a }) if *a == admin))
            .filter(|s| *s.state == NodeState::Ready)
            .map(|s| SecretRef {
                name: s.name.to_string(),
            })
    };
    let previous = input.previous;
    let phase = if ready.status == Status::True {
        Phase::Running
    } else if matches!(
        previous.azure.common.phase,
        Some(Phase::Running | Phase::Updating)
    ) {
        Phase::Updating
    } else {
        Phase::Provisioning
    };
    let kept = |now: Option<String>, before: &Option<String>| now.or_else(|| before.clone());
    AksClusterStatus {
        azure: AzureStatus {
            common: CommonStatus {
                conditions: conditions::merge(
                    &previous.azure.common.conditions,
                    &parts,
                    input.generation,
                    &input.now,
                ),
                observed_generation: input.generation,
                phase: Some(phase),
            },
            ..input.azure
        },
        kubernetes_version: kept(
            str_at(raw, "/properties/currentKubernetesVersion"),
            &previous.kubernetes_version,
        ),
        provisioning_state: cluster
            .and_then(|c| c.observed.provisioning_state.clone())
            .or_else(|| previous.provisioning_state.clone()),
        power_state: kept(
            str_at(raw, "/properties/powerState/code"),
            &previous.power_state,
        ),
        fqdn: kept(
            str_at(raw, "/properties/fqdn").or_else(|| str_at(raw, "/properties/privateFQDN")),
            &previous.fqdn,
        ),
        node_resource_group: kept(
            str_at(raw, "/properties/nodeResourceGroup"),
            &previous.node_resource_group,
        ),
        oidc_issuer_url: kept(
            str_at(raw, "/properties/oidcIssuerProfile/issuerURL"),
            &previous.oidc_issuer_url,
        ),
        kubeconfig_secret_ref: secret_ref(true),
        user_kubeconfig_secret_ref: secret_ref(false),
        node_pools: pools,
        addon_profiles: match raw {
            Some(r) => addons(r),
            None => previous.addon_profiles.clone(),
        },
        kubelet_identity: raw
            .and_then(|r| r.pointer("/properties/identityProfile/kubeletidentity"))
            .map(identity)
            .or_else(|| previous.kubelet_identity.clone()),
        // Every window the spec has is azop's to apply (and, once gone from the spec, to
        // remove); the sweep keeps a removal that failed here by stopping the pass.
        maintenance_configurations: maintenance
            .iter()
            .filter_map(|s| match s.extra {
                Some(Extra::Maintenance { name }) => Some(name.clone()),
                _ => None,
            })
            .collect(),
    }
}

fn identity(v: &Value) -> ManagedIdentityStatus {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    ManagedIdentityStatus {
        resource_id: s("resourceId"),
        client_id: s("clientId"),
        object_id: s("objectId"),
    }
}

/// The add-ons AKS reports, with their identities (pure).
fn addons(raw: &Value) -> Vec<AksAddonStatus> {
    raw.pointer("/properties/addonProfiles")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, a)| AksAddonStatus {
            name: name.clone(),
            enabled: a.get("enabled").and_then(Value::as_bool),
            identity: a.get("identity").map(identity),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Observation;

    fn cluster_view<'a>(
        state: &'a NodeState,
        obs: &'a Observation,
        extra: &'a Extra,
    ) -> StepView<'a> {
        StepView {
            key: KEY_CLUSTER,
            part: Part::ControlPlane,
            ownership: Ownership::Owned,
            resource_type: "Microsoft.ContainerService/managedClusters",
            name: "c",
            id: "/x".into(),
            extra: Some(extra),
            state,
            observed: obs,
        }
    }

    fn seen(current: &str, state: &str) -> Observation {
        Observation {
            exists: true,
            owned: true,
            provisioning_state: Some(state.into()),
            drift: vec![],
            raw: Some(
                serde_json::json!({"properties": {"currentKubernetesVersion": current, "provisioningState": state}}),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn the_control_plane_says_upgrading_and_keeps_a_version_past_the_spec() {
        let extra = Extra::Cluster {
            version: "1.34".into(),
        };
        let busy = NodeState::Busy;
        let obs = seen("1.33.3", "Upgrading");
        let c = control_plane(Some(&cluster_view(&busy, &obs, &extra)), &[], "s");
        assert_eq!((c.status, c.reason.as_str()), (Status::False, "Upgrading"));
        assert!(
            c.message.contains("from Kubernetes 1.33.3 to 1.34"),
            "{}",
            c.message
        );

        let extra = Extra::Cluster {
            version: "1.33".into(),
        };
        let ready = NodeState::Ready;
        let obs = seen("1.34.1", "Succeeded");
        let c = control_plane(Some(&cluster_view(&ready, &obs, &extra)), &[], "s");
        assert_eq!(c.status, Status::True);
        assert!(
            c.message
                .contains("runs Kubernetes 1.34.1 (auto-upgrade moved it past"),
            "{}",
            c.message
        );

        let extra = Extra::Cluster {
            version: "1.35".into(),
        };
        let obs = seen("1.33.3", "Succeeded");
        let drifted = NodeState::Drifted;
        let c = control_plane(Some(&cluster_view(&drifted, &obs, &extra)), &[], "s");
        assert!(
            c.message
                .contains("to 1.34 (AKS upgrades one minor version at a time"),
            "{}",
            c.message
        );
    }

    fn window_view<'a>(
        state: &'a NodeState,
        obs: &'a Observation,
        extra: &'a Extra,
    ) -> StepView<'a> {
        StepView {
            key: "maintenance/aksManagedAutoUpgradeSchedule",
            part: Part::ControlPlane,
            ownership: Ownership::Owned,
            resource_type: "Microsoft.ContainerService/managedClusters/maintenanceConfigurations",
            name: "aksManagedAutoUpgradeSchedule",
            id: "/x/maintenanceConfigurations/aksManagedAutoUpgradeSchedule".into(),
            extra: Some(extra),
            state,
            observed: obs,
        }
    }

    #[test]
    fn maintenance_windows_follow_the_cluster_in_the_control_plane_condition() {
        let extra = Extra::Cluster {
            version: "1.37".into(),
        };
        let window = Extra::Maintenance {
            name: "aksManagedAutoUpgradeSchedule".into(),
        };
        let ready = NodeState::Ready;
        let obs = seen("1.37.2", "Succeeded");
        let cluster = cluster_view(&ready, &obs, &extra);
        let absent = NodeState::Absent;
        let none = Observation::default();
        let w = window_view(&absent, &none, &window);
        let c = control_plane(Some(&cluster), &[&w], "s");
        assert_eq!((c.status, c.reason.as_str()), (Status::False, "Updating"));
        assert!(
            c.message.contains("aksManagedAutoUpgradeSchedule"),
            "{}",
            c.message
        );
        let w = window_view(&ready, &obs, &window);
        let c = control_plane(Some(&cluster), &[&w], "s");
        assert_eq!(c.status, Status::True);
        assert!(
            c.message
                .contains("maintenance windows: aksManagedAutoUpgradeSchedule"),
            "{}",
            c.message
        );
        let failed = NodeState::Failed("azure rejected the request (InvalidParameter): x".into());
        let w = window_view(&failed, &obs, &window);
        let c = control_plane(Some(&cluster), &[&w], "s");
        assert_eq!(
            (c.status, c.reason.as_str()),
            (Status::False, "ProvisioningFailed")
        );
        // A cluster still on its way says so first.
        let busy = NodeState::Busy;
        let cluster = cluster_view(&busy, &obs, &extra);
        let c = control_plane(Some(&cluster), &[&w], "s");
        assert_eq!(c.reason, "Provisioning");
    }

    #[test]
    fn add_ons_and_the_kubelet_identity_are_read_from_the_cluster() {
        let raw = serde_json::json!({"properties": {"addonProfiles": {
            "azurepolicy": {"enabled": true, "identity": {"resourceId": "/id/azurepolicy-c", "clientId": "c1", "objectId": "o1"}},
            "omsagent": {"enabled": false}
        }}});
        let a = addons(&raw);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].name, "azurepolicy");
        assert_eq!(
            a[0].identity.as_ref().and_then(|i| i.object_id.as_deref()),
            Some("o1")
        );
        assert_eq!((a[1].enabled, a[1].identity.clone()), (Some(false), None));
    }

    #[test]
    fn a_busy_refusal_is_a_wait() {
        assert_eq!(
            failure_reason("azure resource is busy (OperationNotAllowed): x"),
            "Busy"
        );
        assert_eq!(
            failure_reason(
                "InvalidKubeconfig: AKS returned a user kubeconfig that kubectl cannot load (x)"
            ),
            "InvalidKubeconfig"
        );
        assert_eq!(
            failure_reason("azure rejected the request (InvalidParameter)"),
            "ProvisioningFailed"
        );
    }
}
