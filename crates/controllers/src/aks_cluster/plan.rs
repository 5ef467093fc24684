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

use azop_api::v1alpha1::aks_cluster::{
    AksClusterSpec, AksNodePool, AksSku, NetworkPlugin, NodeOsUpgradeChannel, OsType, PoolMode,
    UpgradeChannel,
};
use azop_provider::resources::containerservice::agent_pool::AgentPoolKey;
use azop_provider::resources::containerservice::managed_cluster::{
    self as mc, AadSpec, AgentPoolSpec, ApiServerAccessSpec, AutoUpgradeSpec, ClusterNetworkSpec,
    HttpProxySpec, LinuxProfileSpec, ManagedClusterKey, ManagedClusterSpec, PoolScale, SkuTier,
    SupportPlan,
};

use super::steps::{ClusterStep, KubeconfigStep, PoolStep};
use crate::engine::Planned;
use crate::engine::plan::resource_group;

/// The nodes' admin user (AKS's own default name).
pub const ADMIN_USERNAME: &str = "azureuser";

pub use crate::engine::plan::KEY_RESOURCE_GROUP;
pub const KEY_CLUSTER: &str = "cluster";
pub const KEY_ADMIN_KUBECONFIG: &str = "kubeconfig/admin";
pub const KEY_USER_KUBECONFIG: &str = "kubeconfig/user";

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
    spec.managed_control_plane.disable_local_accounts == Some(true)
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
        node_taints: Vec::new(),
        orchestrator_version: None,
        tags: spec.azure.tags.clone(),
    }
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
            // As Cluster API Provider Azure: managed Entra ID comes with Azure RBAC.
            enable_azure_rbac: true,
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
        oidc_issuer: true,
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
    let cluster = ClusterStep::new(
        key.clone(),
        cluster_spec(name, spec, resolved.unwrap_or(&default_resolved)),
        spec.kubernetes_version.clone(),
    );
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
    if resolved.is_none() {
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
        );
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
