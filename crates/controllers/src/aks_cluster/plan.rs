//! The resource graph of one AksCluster (pure), and the AKS bodies its spec maps to.
//!
//! ```text
//! resource group ─ managed cluster (with its System pools) ─┬─ agent pool (one per spec pool)
//!                                                            ├─ Secret <name>-kubeconfig
//!                                                            └─ Secret <name>-kubeconfig-user
//! ```
//! The cluster is created with its System pools only (AKS needs one in the create body); User
//! pools follow as agentPools, in parallel, once the control plane is up. So a User pool that
//! AKS cannot create (quota, a VM size the zone lacks) fails on its own, in NodePoolsReady,
//! instead of failing the whole cluster create. After creation every pool change goes through
//! its own agent pool: a cluster update carries the pools as they are.
//!
//! While deleting, the plan has the resource group and the cluster only: AKS deletes the
//! pools with their cluster (and refuses to delete the last System pool alone), and the
//! kubeconfig Secrets are the garbage collector's (they carry an owner reference).

use std::collections::BTreeMap;

use azop_api::v1alpha1::DeletionPolicy;
use azop_api::v1alpha1::aks_cluster::{
    AksClusterSpec, AksNodePool, AksSku, IdentityType, MaintenanceWindow, NetworkPlugin,
    NodeOsUpgradeChannel, OsType, PoolMode, ScaleSetPriority, UpgradeChannel,
};
use azop_provider::resources::containerservice::agent_pool::AgentPoolKey;
use azop_provider::resources::containerservice::maintenance_configuration::{
    AUTO_UPGRADE_SCHEDULE, MaintenanceConfigurationKey, MaintenanceWindowSpec,
    NODE_OS_UPGRADE_SCHEDULE,
};
use azop_provider::resources::containerservice::managed_cluster::{
    self as mc, AadSpec, AddonSpec, AgentPoolSpec, ApiServerAccessSpec, AutoUpgradeSpec,
    ClusterIdentity, ClusterNetworkSpec, HttpProxySpec, LinuxProfileSpec, ManagedClusterKey,
    ManagedClusterSpec, PoolScale, PoolUpgradeSpec, SkuTier, SpotSpec, SupportPlan,
};

use super::steps::{ClusterStep, KubeconfigStep, MaintenanceStep, PoolStep};
use crate::engine::Planned;
use crate::engine::plan::resource_group;

/// The nodes' admin user (AKS's own default name).
pub const ADMIN_USERNAME: &str = "azureuser";

pub use crate::engine::plan::KEY_RESOURCE_GROUP;
pub const KEY_CLUSTER: &str = "cluster";
pub const KEY_ADMIN_KUBECONFIG: &str = "kubeconfig/admin";
pub const KEY_USER_KUBECONFIG: &str = "kubeconfig/user";

pub fn maintenance_key(name: &str) -> String {
    format!("maintenance/{name}")
}

pub fn pool_key(name: &str) -> String {
    format!("pool/{name}")
}

/// Which condition a step reports under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    ResourceGroup,
    ControlPlane,
    NodePools,
    Kubeconfig,
}

impl crate::engine::Part for Part {
    const ALL: &'static [Part] = &[
        Part::ResourceGroup,
        Part::ControlPlane,
        Part::NodePools,
        Part::Kubeconfig,
    ];

    fn condition_type(self) -> &'static str {
        match self {
            Part::ResourceGroup => "ResourceGroupReady",
            Part::ControlPlane => "ControlPlaneReady",
            Part::NodePools => "NodePoolsReady",
            Part::Kubeconfig => "KubeconfigReady",
        }
    }
}

/// What the report needs about a step besides its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extra {
    /// The spec's Kubernetes version (a floor).
    Cluster {
        version: String,
    },
    Pool {
        name: String,
        mode: &'static str,
        autoscale: Option<(i32, i32)>,
    },
    Kubeconfig {
        admin: bool,
    },
    /// A maintenance configuration: its AKS name.
    Maintenance {
        name: String,
    },
}

pub type PlannedStep = Planned<Part, Extra>;

/// What the reconcile read before planning: the inherited proxy, if any.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub http_proxy: Option<HttpProxySpec>,
}

/// `<name>-kubeconfig` (admin) or `<name>-kubeconfig-user`: the Cluster API names tools read.
pub fn kubeconfig_secret(cluster: &str, admin: bool) -> String {
    if admin {
        format!("{cluster}-kubeconfig")
    } else {
        format!("{cluster}-kubeconfig-user")
    }
}

/// AKS's default node resource group (AKS creates and deletes it with the cluster).
pub fn node_resource_group(cluster: &str, spec: &AksClusterSpec) -> String {
    format!(
        "MC_{}_{cluster}_{}",
        spec.azure.resource_group, spec.azure.location
    )
}

pub fn local_accounts_disabled(spec: &AksClusterSpec) -> bool {
    spec.managed_control_plane.local_accounts_disabled() == Some(true)
}

fn upgrade_channel(c: UpgradeChannel) -> mc::UpgradeChannel {
    match c {
        UpgradeChannel::None => mc::UpgradeChannel::None,
        UpgradeChannel::Patch => mc::UpgradeChannel::Patch,
        UpgradeChannel::Stable => mc::UpgradeChannel::Stable,
        UpgradeChannel::Rapid => mc::UpgradeChannel::Rapid,
        UpgradeChannel::NodeImage => mc::UpgradeChannel::NodeImage,
    }
}

fn node_os_channel(c: NodeOsUpgradeChannel) -> mc::NodeOsUpgradeChannel {
    match c {
        NodeOsUpgradeChannel::None => mc::NodeOsUpgradeChannel::None,
        NodeOsUpgradeChannel::Unmanaged => mc::NodeOsUpgradeChannel::Unmanaged,
        NodeOsUpgradeChannel::SecurityPatch => mc::NodeOsUpgradeChannel::SecurityPatch,
        NodeOsUpgradeChannel::NodeImage => mc::NodeOsUpgradeChannel::NodeImage,
    }
}

/// The network AKS gets: the spec's, with Azure CNI overlay when the spec names neither a
/// plugin nor a mode (what AKS recommends; plain Azure CNI uses up the nodes' subnet).
pub fn network(spec: &AksClusterSpec) -> ClusterNetworkSpec {
    let n = &spec.network;
    let plugin = match n.plugin {
        None | Some(NetworkPlugin::Azure) => "azure",
        Some(NetworkPlugin::Kubenet) => "kubenet",
        Some(NetworkPlugin::None) => "none",
    };
    let overlay = n.plugin_mode.is_some() || (n.plugin.is_none() && n.plugin_mode.is_none());
    ClusterNetworkSpec {
        plugin: plugin.to_string(),
        plugin_mode: overlay.then(|| "overlay".to_string()),
        pod_cidr: n.pod_cidr.clone(),
        service_cidr: n.service_cidr.clone(),
        dns_service_ip: n.dns_service_ip.clone(),
    }
}

/// One node pool as AKS gets it. The Kubernetes version is left to the step (it follows the
/// control plane); tags are the cluster's.
pub fn pool_spec(spec: &AksClusterSpec, p: &AksNodePool) -> AgentPoolSpec {
    AgentPoolSpec {
        name: p.name.clone(),
        mode: match p.mode {
            PoolMode::System => mc::PoolMode::System,
            PoolMode::User => mc::PoolMode::User,
        },
        vm_size: p.vm_size.clone(),
        scale: match (&p.autoscale, p.count) {
            (Some(a), _) => PoolScale::Autoscale {
                min: a.min,
                max: a.max,
            },
            (None, count) => PoolScale::Fixed {
                count: count.unwrap_or(1),
            },
        },
        zones: p.zones.clone(),
        os_type: match p.os_type {
            OsType::Linux => mc::PoolOsType::Linux,
            OsType::Windows => mc::PoolOsType::Windows,
        },
        max_pods: p.max_pods,
        os_disk_size_gb: p.os_disk_size_gib,
        vnet_subnet_id: p
            .subnet_id
            .clone()
            .or_else(|| spec.network.existing_subnet.clone()),
        node_labels: p.labels.clone(),
        node_taints: p.taints.clone(),
        os_sku: p.os_sku.map(|s| s.as_str().to_string()),
        spot: (p.scale_set_priority == Some(ScaleSetPriority::Spot)).then(|| SpotSpec {
            eviction_policy: p.scale_set_eviction_policy.map(|e| e.as_str().to_string()),
            max_price: p.spot_max_price,
        }),
        upgrade: p.upgrade_settings.as_ref().map(|u| PoolUpgradeSpec {
            max_surge: u.max_surge.clone(),
            drain_timeout_in_minutes: u.drain_timeout_in_minutes,
            node_soak_duration_in_minutes: u.node_soak_duration_in_minutes,
        }),
        orchestrator_version: None,
        tags: spec.azure.tags.clone(),
    }
}

/// A maintenance window with AKS's keys (pure): what the spec names, nothing else.
pub fn maintenance_window(w: &MaintenanceWindow) -> MaintenanceWindowSpec {
    let mut v = serde_json::to_value(w).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        // AKS requires it; 24 is its documented default.
        o.entry("durationHours")
            .or_insert(serde_json::Value::from(24));
    }
    MaintenanceWindowSpec(v)
}

/// Maintenance configurations azop applied (`applied`, from status) that the spec no longer
/// has: to be removed (pure).
pub fn stale_maintenance(applied: &[String], spec: &AksClusterSpec) -> Vec<String> {
    let wanted: Vec<&str> = maintenance_windows(spec).iter().map(|(n, _)| *n).collect();
    applied
        .iter()
        .filter(|a| !wanted.iter().any(|w| w.eq_ignore_ascii_case(a)))
        .cloned()
        .collect()
}

/// The maintenance windows the spec has, by AKS name (pure).
pub fn maintenance_windows(spec: &AksClusterSpec) -> Vec<(&'static str, MaintenanceWindowSpec)> {
    let Some(w) = &spec.managed_control_plane.maintenance_windows else {
        return Vec::new();
    };
    [
        (AUTO_UPGRADE_SCHEDULE, w.auto_upgrade.as_ref()),
        (NODE_OS_UPGRADE_SCHEDULE, w.node_os_upgrade.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, w)| w.map(|w| (name, maintenance_window(w))))
    .collect()
}

/// The managed cluster as AKS gets it at creation (pure). `agent_pools` holds the System
/// pools; the version is the spec's (the step turns it into the version to send).
pub fn cluster_spec(name: &str, spec: &AksClusterSpec, resolved: &Resolved) -> ManagedClusterSpec {
    let cp = &spec.managed_control_plane;
    let (sku_tier, support_plan) = match cp.sku {
        AksSku::Free => (SkuTier::Free, SupportPlan::KubernetesOfficial),
        AksSku::Standard => (SkuTier::Standard, SupportPlan::KubernetesOfficial),
        // Premium is the tier of AKS's long-term support, which is why users pick it.
        AksSku::Premium => (SkuTier::Premium, SupportPlan::AksLongTermSupport),
    };
    let profile = cp.auto_upgrade_profile.clone().unwrap_or_default();
    ManagedClusterSpec {
        location: spec.azure.location.clone(),
        sku_tier,
        support_plan: Some(support_plan),
        kubernetes_version: spec.kubernetes_version.clone(),
        dns_prefix: name.to_string(),
        auto_upgrade: Some(AutoUpgradeSpec {
            upgrade_channel: profile.upgrade_channel.map(upgrade_channel),
            // AKS's own default for new clusters, said explicitly so it is kept.
            node_os_upgrade_channel: Some(node_os_channel(
                profile
                    .node_os_upgrade_channel
                    .unwrap_or(NodeOsUpgradeChannel::NodeImage),
            )),
        }),
        aad: cp.aad_profile.as_ref().map(|a| AadSpec {
            admin_group_object_ids: a.admin_group_object_ids.clone(),
            // As Cluster API Provider Azure: managed Entra ID comes with Azure RBAC unless the
            // spec says otherwise.
            enable_azure_rbac: a.enable_azure_rbac.unwrap_or(true),
            tenant_id: None,
        }),
        agent_pools: spec
            .node_pools
            .iter()
            .filter(|p| p.mode == PoolMode::System)
            .map(|p| pool_spec(spec, p))
            .collect(),
        network: network(spec),
        api_server_access: spec
            .api_server_access
            .as_ref()
            .map(|a| ApiServerAccessSpec {
                private_cluster: a.private_cluster == Some(true),
                authorized_ip_ranges: a.authorized_ip_ranges.clone(),
            }),
        http_proxy: resolved.http_proxy.clone(),
        linux_profile: spec.ssh_public_key.as_ref().map(|k| LinuxProfileSpec {
            admin_username: ADMIN_USERNAME.to_string(),
            ssh_public_key: k.clone(),
        }),
        disable_local_accounts: local_accounts_disabled(spec),
        oidc_issuer: cp.oidc_issuer_enabled(),
        workload_identity: cp
            .security_profile
            .as_ref()
            .and_then(|s| s.workload_identity)
            .map(|w| w.enabled),
        identity: match &cp.identity {
            Some(id) if id.type_ == IdentityType::UserAssigned => ClusterIdentity::UserAssigned(
                id.user_assigned_identity_resource_id
                    .clone()
                    .unwrap_or_default(),
            ),
            _ => ClusterIdentity::SystemAssigned,
        },
        kubelet_identity: cp.kubelet_user_assigned_identity.clone(),
        addons: cp
            .addon_profiles
            .iter()
            .map(|a| AddonSpec {
                name: a.name.as_str().to_string(),
                enabled: a.enabled,
                config: a.config.clone(),
            })
            .collect(),
        keda: cp
            .workload_auto_scaler_profile
            .as_ref()
            .and_then(|w| w.keda)
            .map(|k| k.enabled),
        vertical_pod_autoscaler: cp
            .workload_auto_scaler_profile
            .as_ref()
            .and_then(|w| w.vertical_pod_autoscaler)
            .map(|v| v.enabled),
        autoscaler_profile: cp
            .autoscaler_profile
            .as_ref()
            .map(|a| {
                a.aks_settings()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            })
            .unwrap_or_default(),
        tags: spec.azure.tags.clone(),
    }
}

/// The whole graph (pure). `resolved` is `None` while deleting.
pub fn plan(
    name: &str,
    namespace: &str,
    spec: &AksClusterSpec,
    resolved: Option<&Resolved>,
) -> Vec<PlannedStep> {
    let az = &spec.azure;
    let rg = &az.resource_group;
    let key = ManagedClusterKey {
        resource_group: rg.clone(),
        name: name.to_string(),
    };
    let mut steps = Vec::new();

    steps.push(resource_group(az, Part::ResourceGroup));

    let default_resolved = Resolved::default();
    // Adoption is for a live object only: a deletion never claims anything.
    let adopt = spec.adopt_existing && resolved.is_some();
    let cluster = ClusterStep::new(
        key.clone(),
        cluster_spec(name, spec, resolved.unwrap_or(&default_resolved)),
        spec.kubernetes_version.clone(),
    )
    .adopting(adopt);
    let mut cluster_step = Planned::new(
        KEY_CLUSTER,
        &[KEY_RESOURCE_GROUP],
        Part::ControlPlane,
        cluster,
    );
    cluster_step.extra = Some(Extra::Cluster {
        version: spec.kubernetes_version.clone(),
    });
    steps.push(cluster_step);
    // Deleting: the pools and windows go with the cluster. Orphaning: the pools carry marks
    // of their own (their tags), so they are planned to lose them.
    if resolved.is_none() && spec.azure.deletion_policy != DeletionPolicy::Orphan {
        return steps;
    }

    for p in &spec.node_pools {
        let pool = PoolStep::new(
            AgentPoolKey {
                resource_group: rg.clone(),
                cluster: name.to_string(),
                name: p.name.clone(),
            },
            key.clone(),
            pool_spec(spec, p),
            spec.kubernetes_version.clone(),
        )
        .adopting(adopt);
        let mut s = Planned::new(&pool_key(&p.name), &[KEY_CLUSTER], Part::NodePools, pool);
        s.extra = Some(Extra::Pool {
            name: p.name.clone(),
            mode: match p.mode {
                PoolMode::System => "System",
                PoolMode::User => "User",
            },
            autoscale: p.autoscale.as_ref().map(|a| (a.min, a.max)),
        });
        steps.push(s);
    }
    for (config, window) in maintenance_windows(spec) {
        let step = MaintenanceStep::new(
            MaintenanceConfigurationKey {
                resource_group: rg.clone(),
                cluster: name.to_string(),
                name: config.to_string(),
            },
            key.clone(),
            window,
        )
        .adopting(adopt);
        let mut s = Planned::new(
            &maintenance_key(config),
            &[KEY_CLUSTER],
            Part::ControlPlane,
            step,
        );
        s.extra = Some(Extra::Maintenance {
            name: config.to_string(),
        });
        steps.push(s);
    }
    let kubeconfigs: &[(bool, &str)] = if local_accounts_disabled(spec) {
        &[(false, KEY_USER_KUBECONFIG)]
    } else {
        &[(true, KEY_ADMIN_KUBECONFIG), (false, KEY_USER_KUBECONFIG)]
    };
    for (admin, k) in kubeconfigs {
        let step = KubeconfigStep::new(
            *admin,
            kubeconfig_secret(name, *admin),
            namespace.to_string(),
            key.clone(),
        );
        let mut s = Planned::new(k, &[KEY_CLUSTER], Part::Kubeconfig, step);
        s.extra = Some(Extra::Kubeconfig { admin: *admin });
        steps.push(s);
    }
    steps
}

/// The names by role, for `status.azureNames`.
pub fn names(name: &str, spec: &AksClusterSpec) -> BTreeMap<String, String> {
    [
        ("cluster".to_string(), name.to_string()),
        (
            "nodeResourceGroup".to_string(),
            node_resource_group(name, spec),
        ),
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::aks_cluster::AksCluster;

    fn governed() -> AksCluster {
        azop_api::validation::parse_yaml(include_str!(
            "../../../../config/samples/akscluster-governed-autoscaled.yaml"
        ))
        .expect("sample")
    }

    #[test]
    fn the_control_plane_features_reach_the_cluster_spec() {
        let c = governed();
        let s = cluster_spec("analytics-aks", &c.spec, &Resolved::default());
        let aad = s.aad.expect("aad");
        assert!(aad.enable_azure_rbac);
        assert!(s.disable_local_accounts, "Palette's aadProfile key");
        assert!(s.oidc_issuer);
        assert_eq!(s.workload_identity, Some(true));
        assert!(
            matches!(&s.identity, ClusterIdentity::UserAssigned(id) if id.ends_with("/analytics-aks-control-plane"))
        );
        assert!(
            s.kubelet_identity
                .as_deref()
                .is_some_and(|k| k.ends_with("/analytics-aks-kubelet"))
        );
        let names: Vec<&str> = s.addons.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["azurepolicy", "azureKeyvaultSecretsProvider"]);
        assert_eq!(
            s.addons[1]
                .config
                .get("rotationPollInterval")
                .map(String::as_str),
            Some("2m")
        );
        assert_eq!(
            (s.keda, s.vertical_pod_autoscaler),
            (Some(true), Some(true))
        );
        assert_eq!(
            s.autoscaler_profile.get("expander").map(String::as_str),
            Some("least-waste")
        );
        assert_eq!(
            s.autoscaler_profile
                .get("scan-interval")
                .map(String::as_str),
            Some("20s")
        );
        assert_eq!(s.autoscaler_profile.len(), 6);
        // Only the System pool goes into the create body.
        assert_eq!(s.agent_pools.len(), 1);
        assert_eq!(
            s.agent_pools[0].node_taints,
            ["CriticalAddonsOnly=true:NoSchedule"]
        );
        assert_eq!(s.agent_pools[0].os_sku.as_deref(), Some("AzureLinux"));
        assert_eq!(
            s.agent_pools[0]
                .upgrade
                .as_ref()
                .and_then(|u| u.max_surge.as_deref()),
            Some("33%")
        );
    }

    #[test]
    fn a_spot_pool_is_spot_with_its_eviction_policy_and_price() {
        let c = governed();
        let batch = pool_spec(&c.spec, &c.spec.node_pools[1]);
        let spot = batch.spot.expect("spot");
        assert_eq!(spot.eviction_policy.as_deref(), Some("Delete"));
        assert_eq!(spot.max_price, Some(-1.0));
        assert_eq!(batch.node_taints, ["workload=batch:NoSchedule"]);
        assert!(pool_spec(&c.spec, &c.spec.node_pools[0]).spot.is_none());
    }

    #[test]
    fn defaults_keep_what_azop_did_before() {
        let mut c = governed();
        c.spec.managed_control_plane = Default::default();
        let s = cluster_spec("c", &c.spec, &Resolved::default());
        assert!(s.oidc_issuer);
        assert_eq!(s.identity, ClusterIdentity::SystemAssigned);
        assert!(s.addons.is_empty() && s.autoscaler_profile.is_empty());
        assert_eq!(
            (s.keda, s.vertical_pod_autoscaler, s.workload_identity),
            (None, None, None)
        );
        assert!(!s.disable_local_accounts);
    }

    #[test]
    fn maintenance_windows_are_steps_and_removed_ones_are_stale() {
        let c = governed();
        let steps = plan("analytics-aks", "ns", &c.spec, Some(&Resolved::default()));
        let windows: Vec<&str> = steps
            .iter()
            .filter_map(|s| match &s.extra {
                Some(Extra::Maintenance { name }) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(windows, [AUTO_UPGRADE_SCHEDULE, NODE_OS_UPGRADE_SCHEDULE]);
        let auto = steps
            .iter()
            .find(|s| s.key == maintenance_key(AUTO_UPGRADE_SCHEDULE))
            .expect("step");
        assert_eq!(auto.deps, [KEY_CLUSTER]);
        let owner = azop_provider::Owner::new("AksCluster", "ns", "analytics-aks", "u");
        let body = auto.step.desired(&owner).expect("body");
        let w = &body["properties"]["maintenanceWindow"];
        assert_eq!(w["schedule"]["relativeMonthly"]["weekIndex"], "First");
        assert_eq!(w["durationHours"], 6);
        assert_eq!(w["notAllowedDates"][0]["end"], "2028-01-03");
        // Node OS window without durationHours gets AKS's default said explicitly.
        let mut c2 = c.clone();
        if let Some(m) = c2.spec.managed_control_plane.maintenance_windows.as_mut()
            && let Some(n) = m.node_os_upgrade.as_mut()
        {
            n.duration_hours = None;
        }
        let w = maintenance_windows(&c2.spec);
        assert_eq!(w[1].1.0["durationHours"], 24);

        let applied = vec![
            AUTO_UPGRADE_SCHEDULE.to_string(),
            NODE_OS_UPGRADE_SCHEDULE.to_string(),
        ];
        assert!(stale_maintenance(&applied, &c.spec).is_empty());
        let mut c3 = c.clone();
        if let Some(m) = c3.spec.managed_control_plane.maintenance_windows.as_mut() {
            m.auto_upgrade = None;
        }
        assert_eq!(
            stale_maintenance(&applied, &c3.spec),
            [AUTO_UPGRADE_SCHEDULE]
        );
        // A window azop never applied is never azop's to remove.
        assert!(stale_maintenance(&[], &c3.spec).is_empty());
    }
}
