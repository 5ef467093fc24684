//! Status of an AksCluster, from what one pass observed (pure).

use azop_api::v1alpha1::aks_cluster::{
    AksAddonStatus, AksClusterStatus, AksNodePoolStatus, Autoscale, ManagedIdentityStatus,
};
use azop_api::v1alpha1::{AzureScope, SecretRef};
use azop_provider::ErrorClass;
use azop_provider::resources::containerservice::version_satisfies;
use azop_provider::resources::containerservice::versions::target_version;
use serde_json::Value;

use super::AksClusterKind;
use super::plan::{Extra, KEY_CLUSTER, Part};
use super::steps::INVALID_KUBECONFIG;
use crate::conditions::{Cond, Status};
use crate::engine::report::{self, Wording};
use crate::engine::{NodeState, Part as _, ReportInput};
use crate::retry::Failure;

pub type StepView<'a> = crate::engine::StepView<'a, Part, Extra>;

fn str_at(raw: Option<&Value>, p: &str) -> Option<String> {
    raw?.pointer(p).and_then(Value::as_str).map(str::to_string)
}

fn int_at(raw: Option<&Value>, p: &str) -> Option<i32> {
    raw?.pointer(p)
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
}

/// AksCluster's words in the shared condition ladder: steps are named by their name (a pool,
/// a Secret), and each part says what it holds when ready and what it waits for when not.
struct AksWording<'a> {
    scope: &'a AzureScope,
}

impl Wording<Part, Extra> for AksWording<'_> {
    fn scope(&self) -> &AzureScope {
        self.scope
    }

    fn label(&self, s: &StepView<'_>) -> String {
        s.name.to_string()
    }

    fn idle(&self, part: Part) -> Cond {
        let ty = part.condition_type();
        match part {
            Part::ControlPlane => {
                Cond::new(ty, Status::Unknown, "Waiting", "no managed cluster planned")
            }
            Part::NodePools => Cond::new(ty, Status::True, "Ready", "0 pool(s) ready: "),
            _ => Cond::new(ty, Status::True, "Ready", "nothing to create"),
        }
    }

    /// A write AKS refused because an operation runs is a wait, not a failure; a kubeconfig
    /// AKS returned broken says so. Decided on the first failure's class and code.
    fn failed_reason(&self, _part: Part, failures: &[&Failure]) -> &'static str {
        match failures.first() {
            Some(f) if f.class == ErrorClass::Busy => "Busy",
            Some(f) if f.has_code(INVALID_KUBECONFIG) => INVALID_KUBECONFIG,
            _ => "ProvisioningFailed",
        }
    }

    fn not_owned(&self, labels: &[String]) -> String {
        format!(
            "{} already exist(s) without this AksCluster's ownership (azop.dev/uid tag, or owner reference for a Secret); azop never changes what it did not create: delete or rename it, rename the cluster, or, for a cluster made outside azop that carries no azop.dev/uid tag, set spec.adoptExisting: true to adopt it",
            labels.join(", ")
        )
    }

    fn ready(&self, part: Part, steps: &[&StepView<'_>]) -> Cond {
        let ty = part.condition_type();
        match part {
            Part::ResourceGroup => match steps.first() {
                Some(s) if s.is_foreign_in_use() => report::existing_resource_group(part, s.name),
                Some(s) => Cond::new(
                    ty,
                    Status::True,
                    "Ready",
                    format!("resource group {} is ready", s.name),
                ),
                None => self.idle(part),
            },
            Part::ControlPlane => match cluster_of(steps) {
                Some(c) => with_windows(control_plane_ready(c), &windows_of(steps)),
                None => self.idle(part),
            },
            Part::NodePools => {
                let ready: Vec<String> = steps.iter().map(|s| pool_summary(s)).collect();
                Cond::new(
                    ty,
                    Status::True,
                    "Ready",
                    format!("{} pool(s) ready: {}", ready.len(), ready.join(", ")),
                )
            }
            Part::Kubeconfig => kubeconfigs_ready(steps),
        }
    }

    fn progress(&self, part: Part, steps: &[&StepView<'_>], removing: &[String]) -> Cond {
        let ty = part.condition_type();
        match part {
            Part::ResourceGroup => Cond::new(
                ty,
                Status::False,
                "Provisioning",
                format!(
                    "creating resource group {}",
                    steps.first().map_or("", |s| s.name)
                ),
            ),
            Part::ControlPlane => match cluster_of(steps) {
                Some(c) if *c.state != NodeState::Ready => control_plane_progress(c),
                Some(_) => windows_progress(&windows_of(steps)),
                None => self.idle(part),
            },
            Part::NodePools => pools_progress(steps, removing),
            Part::Kubeconfig => {
                let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
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
        }
    }

    fn removing_part(&self) -> Option<Part> {
        Some(Part::NodePools)
    }
}

/// The managed cluster among the control plane's steps (its maintenance windows follow it).
fn cluster_of<'s, 'a>(steps: &[&'s StepView<'a>]) -> Option<&'s StepView<'a>> {
    steps.iter().copied().find(|s| s.key == KEY_CLUSTER)
}

/// The maintenance windows among the control plane's steps.
fn windows_of<'s, 'a>(steps: &[&'s StepView<'a>]) -> Vec<&'s StepView<'a>> {
    steps
        .iter()
        .copied()
        .filter(|s| matches!(s.extra, Some(Extra::Maintenance { .. })))
        .collect()
}

/// A ready control plane names the maintenance windows it has.
fn with_windows(mut c: Cond, windows: &[&StepView<'_>]) -> Cond {
    if !windows.is_empty() {
        let names: Vec<&str> = windows.iter().map(|s| s.name).collect();
        c.message
            .push_str(&format!("; maintenance windows: {}", names.join(", ")));
    }
    c
}

/// The cluster is up, its maintenance windows are being written (settings of the cluster,
/// written once it is up).
fn windows_progress(windows: &[&StepView<'_>]) -> Cond {
    let pending: Vec<&str> = windows
        .iter()
        .filter(|s| *s.state != NodeState::Ready)
        .map(|s| s.name)
        .collect();
    Cond::new(
        Part::ControlPlane.condition_type(),
        Status::False,
        "Updating",
        format!("applying maintenance window(s) {}", pending.join(", ")),
    )
}

/// The spec's version (a floor), what runs, and the version to ask for.
fn versions(c: &StepView<'_>) -> (String, Option<String>, String) {
    let floor = match c.extra {
        Some(Extra::Cluster { version }) => version.clone(),
        _ => String::new(),
    };
    let running = str_at(
        c.observed.raw.as_ref(),
        "/properties/currentKubernetesVersion",
    );
    let target = target_version(&floor, running.as_deref());
    (floor, running, target)
}

fn control_plane_ready(c: &StepView<'_>) -> Cond {
    let (floor, running, _) = versions(c);
    let r = running.unwrap_or_default();
    // Past the spec only where the spec names a version: 1.37.2 runs spec 1.37 as asked.
    let named = floor.split('.').count();
    let running_named: Vec<&str> = r.split('.').take(named).collect();
    let past = if !version_satisfies(&running_named.join("."), &floor) {
        format!(" (auto-upgrade moved it past spec.kubernetesVersion {floor}; azop keeps it)")
    } else {
        String::new()
    };
    Cond::new(
        Part::ControlPlane.condition_type(),
        Status::True,
        "Ready",
        format!("control plane of {} runs Kubernetes {r}{past}", c.name),
    )
}

/// The control plane while it is created, upgraded or updated.
fn control_plane_progress(c: &StepView<'_>) -> Cond {
    let ty = Part::ControlPlane.condition_type();
    let (floor, running, target) = versions(c);
    let state = c.observed.provisioning_state.clone().unwrap_or_default();
    let (reason, message) = match c.state {
        NodeState::Absent => (
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
            (
                "Upgrading",
                format!(
                    "upgrading the control plane of {} from Kubernetes {r} to {target}{step}",
                    c.name
                ),
            )
        }
        NodeState::Busy if !c.observed.exists => (
            "Provisioning",
            format!("creating managed cluster {} (Kubernetes {floor})", c.name),
        ),
        NodeState::Drifted => (
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
        _ => (
            "Provisioning",
            format!(
                "managed cluster {} is {}",
                c.name,
                if state.is_empty() {
                    "being updated".to_string()
                } else {
                    state
                }
            ),
        ),
    };
    Cond::new(ty, Status::False, reason, message)
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

fn pools_progress(pools: &[&StepView<'_>], removing: &[String]) -> Cond {
    let ready = pools
        .iter()
        .filter(|s| *s.state == NodeState::Ready)
        .count();
    let pending: Vec<String> = pools
        .iter()
        .filter(|s| *s.state != NodeState::Ready)
        .map(|s| {
            let what = match s.state {
                NodeState::Absent => "to be created",
                other => report::progress_word(other),
            };
            format!("{} ({what})", s.name)
        })
        .chain(removing.iter().map(|r| format!("{r} (removing)")))
        .collect();
    Cond::new(
        Part::NodePools.condition_type(),
        Status::False,
        "Provisioning",
        format!(
            "{ready} of {} pool(s) ready; {}",
            pools.len(),
            pending.join(", ")
        ),
    )
}

fn kubeconfigs_ready(secrets: &[&StepView<'_>]) -> Cond {
    let admin = secrets
        .iter()
        .any(|s| matches!(s.extra, Some(Extra::Kubeconfig { admin: true })));
    let names: Vec<&str> = secrets.iter().map(|s| s.name).collect();
    let note = if admin {
        ""
    } else {
        "; no admin kubeconfig: local accounts are disabled (sign in with Entra ID)"
    };
    Cond::new(
        Part::Kubeconfig.condition_type(),
        Status::True,
        "Ready",
        format!(
            "Secret(s) {} hold the kubeconfig (key value){note}",
            names.join(", ")
        ),
    )
}

/// The status to apply (pure).
pub fn status(input: ReportInput<'_, AksClusterKind>) -> AksClusterStatus {
    let wording = AksWording { scope: input.scope };
    let azure = input.azure_status(input.part_conditions(&wording));
    let cluster = input.step(KEY_CLUSTER);
    let raw = cluster.and_then(|c| c.observed.raw.as_ref());
    let pools: Vec<AksNodePoolStatus> = input
        .steps_of(Part::NodePools)
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
    let kept = |now: Option<String>, before: &Option<String>| now.or_else(|| before.clone());
    AksClusterStatus {
        azure,
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
        maintenance_configurations: applied_windows(&input.steps),
    }
}

/// The maintenance windows azop applied (pure): those this pass saw as ours or just wrote.
/// The sweep removes a window that leaves the spec only when this list named it, so a window
/// of a cluster azop does not own (`NotOwned`), or one never written, is never removed.
fn applied_windows(steps: &[StepView<'_>]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| !matches!(s.state, NodeState::Absent | NodeState::NotOwned))
        .filter_map(|s| match s.extra {
            Some(Extra::Maintenance { name }) => Some(name.clone()),
            _ => None,
        })
        .collect()
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
    use crate::engine::report::part_condition;
    use crate::engine::{Observation, Ownership};

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

    /// The ControlPlane condition of a pass that saw the cluster so.
    fn control_plane(c: &StepView<'_>) -> Cond {
        let scope = AzureScope::default();
        part_condition(&AksWording { scope: &scope }, Part::ControlPlane, &[c], &[])
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
        let c = control_plane(&cluster_view(&busy, &obs, &extra));
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
        let c = control_plane(&cluster_view(&ready, &obs, &extra));
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
        let c = control_plane(&cluster_view(&drifted, &obs, &extra));
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
        let scope = AzureScope::default();
        let w = AksWording { scope: &scope };
        let cp = |steps: &[&StepView<'_>]| part_condition(&w, Part::ControlPlane, steps, &[]);
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
        let pending = window_view(&absent, &none, &window);
        let c = cp(&[&cluster, &pending]);
        assert_eq!((c.status, c.reason.as_str()), (Status::False, "Updating"));
        assert!(
            c.message
                .contains("applying maintenance window(s) aksManagedAutoUpgradeSchedule"),
            "{}",
            c.message
        );
        let applied = window_view(&ready, &obs, &window);
        let c = cp(&[&cluster, &applied]);
        assert_eq!(c.status, Status::True);
        assert!(
            c.message.contains(
                "runs Kubernetes 1.37.2; maintenance windows: aksManagedAutoUpgradeSchedule"
            ),
            "{}",
            c.message
        );
        // A window AKS refused is the control plane's failure, with AKS's words.
        let failed = NodeState::Failed(Failure::azure(&azop_provider::AzureError::InvalidSpec {
            status: 400,
            code: "InvalidParameter".into(),
            message: "bad window".into(),
        }));
        let refused = window_view(&failed, &obs, &window);
        let c = cp(&[&cluster, &refused]);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (Status::False, "ProvisioningFailed")
        );
        assert!(
            c.message.starts_with("aksManagedAutoUpgradeSchedule: "),
            "{}",
            c.message
        );
        // A cluster still on its way says so first: its windows wait for it.
        let busy = NodeState::Busy;
        let creating = Observation {
            exists: false,
            ..Default::default()
        };
        let cluster = cluster_view(&busy, &creating, &extra);
        let c = cp(&[&cluster, &pending]);
        assert_eq!(c.reason, "Provisioning");
    }

    /// Only windows this pass saw as ours, or wrote, count as applied (the sweep removes no
    /// other).
    #[test]
    fn applied_windows_are_the_ones_seen_as_ours_or_written() {
        let window = Extra::Maintenance {
            name: "aksManagedAutoUpgradeSchedule".into(),
        };
        let obs = Observation::default();
        let states = [
            (NodeState::Ready, true),
            (NodeState::Busy, true),
            (NodeState::Drifted, true),
            (NodeState::Absent, false),
            (NodeState::NotOwned, false),
        ];
        for (state, listed) in states {
            let views = [window_view(&state, &obs, &window)];
            assert_eq!(!applied_windows(&views).is_empty(), listed, "{state:?}");
        }
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

    /// A kubeconfig AKS returned broken is `InvalidKubeconfig` by the failure's code, whatever
    /// its message says; a message that merely mentions it decides nothing.
    #[test]
    fn an_invalid_kubeconfig_is_known_by_its_code() {
        let scope = AzureScope::default();
        let w = AksWording { scope: &scope };
        let kc = azop_provider::resources::containerservice::credentials::Kubeconfig::new(
            b"apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    exec:\n      installHint: kubelogin is required: https://x\n".to_vec(),
        );
        let broken = super::super::steps::check_kubeconfig(false, "c-kubeconfig-user", &kc)
            .expect_err("kubectl cannot load it");
        assert!(broken.has_code(INVALID_KUBECONFIG));
        assert!(
            !broken.message.contains("kubelogin"),
            "never the content: {}",
            broken.message
        );
        assert_eq!(
            w.failed_reason(Part::Kubeconfig, &[&broken]),
            INVALID_KUBECONFIG
        );
        let mentions = Failure::transient("InvalidKubeconfig somewhere in a message");
        assert_eq!(
            w.failed_reason(Part::Kubeconfig, &[&mentions]),
            "ProvisioningFailed"
        );
    }

    /// Decided on the failure's class, never its message.
    #[test]
    fn a_busy_refusal_is_a_wait() {
        let scope = AzureScope::default();
        let w = AksWording { scope: &scope };
        let busy = Failure::azure(&azop_provider::AzureError::Busy {
            code: "OperationNotAllowed".into(),
            message: "x".into(),
            retry_after: None,
        });
        let refused = Failure::azure(&azop_provider::AzureError::InvalidSpec {
            status: 400,
            code: "InvalidParameter".into(),
            message: "is busy".into(),
        });
        assert_eq!(w.failed_reason(Part::ControlPlane, &[&busy]), "Busy");
        assert_eq!(
            w.failed_reason(Part::ControlPlane, &[&refused, &busy]),
            "ProvisioningFailed"
        );
    }
}
