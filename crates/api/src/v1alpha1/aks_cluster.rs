//! AksCluster: a managed AKS cluster. The control-plane keys are Palette's, so cluster profiles
//! carry over unchanged.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AzureScope, AzureStatus, CIDR_MAX_LENGTH, CIDR_RULES, IPV4_MAX_LENGTH, LABEL_RULES,
    LocalObjectRef, SCOPE_RULES, SecretRef, VERSION_RULES, dns_zone_tag_rule,
};
use super::schema::{CelRule, cel, list_map, list_set, node_labels};
use crate::validation::{messages as msg, patterns};

const SPEC_RULES: &[CelRule] = &[
    CelRule::new(
        "self.nodePools.exists(p, has(p.mode) && p.mode == 'System' && (!has(p.osType) || p.osType == 'Linux'))",
        msg::SYSTEM_POOL_REQUIRED,
    )
    .at(".nodePools"),
    CelRule::new(
        "!self.nodePools.exists(p, has(p.osType) && p.osType == 'Windows') || !has(self.network) || !has(self.network.plugin) || self.network.plugin == 'azure'",
        msg::WINDOWS_NEEDS_AZURE_CNI,
    )
    .at(".nodePools"),
    CelRule::new(
        "self.nodePools.all(p, !oldSelf.nodePools.exists(o, o.name == p.name) || oldSelf.nodePools.exists(o, o.name == p.name && (has(o.osType) ? o.osType : 'Linux') == (has(p.osType) ? p.osType : 'Linux') && o.vmSize == p.vmSize && (has(o.osDiskSizeGiB) ? o.osDiskSizeGiB : 0) == (has(p.osDiskSizeGiB) ? p.osDiskSizeGiB : 0) && (has(o.zones) ? o.zones : []) == (has(p.zones) ? p.zones : []) && (has(o.maxPods) ? o.maxPods : 0) == (has(p.maxPods) ? p.maxPods : 0) && (has(o.subnetId) ? o.subnetId : '') == (has(p.subnetId) ? p.subnetId : '')))",
        msg::POOL_IMMUTABLE,
    )
    .at(".nodePools"),
    CelRule::new(
        "(has(self.apiServerAccess) && has(self.apiServerAccess.privateCluster) && self.apiServerAccess.privateCluster) == (has(oldSelf.apiServerAccess) && has(oldSelf.apiServerAccess.privateCluster) && oldSelf.apiServerAccess.privateCluster)",
        msg::PRIVATE_CLUSTER_IMMUTABLE,
    )
    .at(".apiServerAccess"),
    // AKS tags a private cluster's private DNS zone with the cluster's tags.
    dns_zone_tag_rule!(
        "has(self.apiServerAccess) && has(self.apiServerAccess.privateCluster) && self.apiServerAccess.privateCluster"
    ),
];

/// CEL: the node scale sets' tags (AKS puts the cluster's there), azop's own included, fit
/// Azure's 2048 characters. 137 is what azop's own two take besides the cluster's name
/// ([`crate::validation::own_tag_chars`]).
const VM_TAGS_TOTAL_RULE: &str = "!has(self.spec.tags) || self.spec.tags.map(k, k.size() + self.spec.tags[k].size()).sum() + self.metadata.name.size() + 137 <= 2048";

/// CEL on podCidr and serviceCidr: clear of the ranges AKS reserves
/// ([`crate::validation::AKS_RESERVED_RANGES`]).
const AKS_RANGE_RULES: &[CelRule] = &[CelRule::new(
    "!isCIDR(self) || !['169.254.0.0/16', '172.30.0.0/16', '172.31.0.0/16', '192.0.2.0/24'].exists(r, cidr(r).containsCIDR(self) || cidr(self).containsCIDR(r))",
    msg::AKS_RESERVED_RANGE,
)
.show(r#"'"' + self + '" overlaps a reserved range'"#)
.invalid()];

/// Spec of an AksCluster: a managed AKS cluster, its node pools, network and API server access.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "azop.dev",
    version = "v1alpha1",
    kind = "AksCluster",
    namespaced,
    status = "AksClusterStatus",
    derive = "PartialEq",
    shortname = "aks",
    category = "azop",
    doc = "A managed AKS cluster. managedControlPlane keeps Palette's keys (sku, autoUpgradeProfile, aadProfile).",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether every part of the cluster is ready"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.kubernetesVersion", description = "Kubernetes version the control plane runs"),
    printcolumn(name = "Tier", type_ = "string", json_path = ".spec.managedControlPlane.sku", description = "AKS tier (sku.tier)"),
    printcolumn(name = "Channel", type_ = "string", json_path = ".spec.managedControlPlane.autoUpgradeProfile.upgradeChannel", description = "Auto-upgrade channel"),
    printcolumn(name = "FQDN", type_ = "string", json_path = ".status.fqdn", priority = 1, description = "API server FQDN"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 44").message(msg::CLUSTER_NAME_LENGTH),
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(msg::CLUSTER_NAME_CHARS),
    validation = Rule::new("!self.metadata.name.contains('microsoft') && !self.metadata.name.contains('windows')").message(msg::AKS_NAME_RESERVED),
    validation = Rule::new(VM_TAGS_TOTAL_RULE).message(msg::VM_TAGS_TOTAL).field_path(".spec.tags"),
    validation = Rule::new("oldSelf.spec.kubernetesVersion == self.spec.kubernetesVersion || !has(self.status) || !has(self.status.kubernetesVersion) || !self.spec.kubernetesVersion.matches('^[0-9]+[.][0-9]+') || !oldSelf.spec.kubernetesVersion.matches('^[0-9]+[.][0-9]+') || (int(self.spec.kubernetesVersion.split('.')[0]) == int(oldSelf.spec.kubernetesVersion.split('.')[0]) && int(self.spec.kubernetesVersion.split('.')[1]) <= int(oldSelf.spec.kubernetesVersion.split('.')[1]) + 1) || (self.status.kubernetesVersion.matches('^[0-9]+[.][0-9]+') && int(self.spec.kubernetesVersion.split('.')[0]) == int(self.status.kubernetesVersion.split('.')[0]) && int(self.spec.kubernetesVersion.split('.')[1]) <= int(self.status.kubernetesVersion.split('.')[1]) + 1)").message(msg::VERSION_MINOR_SKIP).field_path(".spec.kubernetesVersion"),
    validation = Rule::new("oldSelf.spec.kubernetesVersion == self.spec.kubernetesVersion || !has(self.status) || !has(self.status.kubernetesVersion) || !self.status.kubernetesVersion.matches('^[0-9]+[.][0-9]+([.][0-9]+)?$') || int(self.spec.kubernetesVersion.split('.')[0]) > int(self.status.kubernetesVersion.split('.')[0]) || (int(self.spec.kubernetesVersion.split('.')[0]) == int(self.status.kubernetesVersion.split('.')[0]) && (int(self.spec.kubernetesVersion.split('.')[1]) > int(self.status.kubernetesVersion.split('.')[1]) || (int(self.spec.kubernetesVersion.split('.')[1]) == int(self.status.kubernetesVersion.split('.')[1]) && (self.spec.kubernetesVersion.split('.').size() < 3 || self.status.kubernetesVersion.split('.').size() < 3 || int(self.spec.kubernetesVersion.split('.')[2]) >= int(self.status.kubernetesVersion.split('.')[2])))))").message(msg::VERSION_BELOW_CURRENT).field_path(".spec.kubernetesVersion"),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(SCOPE_RULES), transform = cel(SPEC_RULES))]
pub struct AksClusterSpec {
    /// Subscription, region, resource group, credentials and tags.
    #[serde(flatten)]
    pub azure: AzureScope,
    /// Kubernetes version, `1.33` or `1.33.2` (no leading v): a floor, not a target to go back
    /// to. Can be raised one minor version at a time (AKS refuses skips), never lowered, and
    /// never below what auto-upgrade already reached (status.kubernetesVersion). Must be one
    /// AKS offers in the region (`az aks get-versions`); the Ready condition lists them if not.
    #[schemars(regex(pattern = patterns::KUBERNETES_VERSION), length(max = 32))]
    #[schemars(transform = cel(VERSION_RULES))]
    pub kubernetes_version: String,
    /// The AKS control plane, with Palette's keys.
    #[serde(default)]
    pub managed_control_plane: ManagedControlPlane,
    /// Node pools, by name. At least one must be a Linux System pool.
    #[schemars(transform = list_map("name"), length(min = 1, max = 100))]
    pub node_pools: Vec<AksNodePool>,
    /// Cluster network. Immutable once the cluster exists.
    #[serde(default)]
    pub network: AksNetwork,
    /// How the API server can be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_access: Option<ApiServerAccess>,
    /// OpenSSH RSA public key for the nodes' admin user (AKS accepts RSA only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SSH_RSA_PUBLIC_KEY), length(max = 16384))]
    pub ssh_public_key: Option<String>,
    /// ProxyConfig in the same namespace, set on the cluster as AKS httpProxyConfig. Without
    /// it the namespace's default ProxyConfig (if any) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_config_ref: Option<LocalObjectRef>,
}

const CONTROL_PLANE_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(oldSelf.autoUpgradeProfile) || !has(oldSelf.autoUpgradeProfile.upgradeChannel) || (has(self.autoUpgradeProfile) && has(self.autoUpgradeProfile.upgradeChannel))",
        msg::UPGRADE_CHANNEL_REMOVED,
    )
    .at(".autoUpgradeProfile"),
    CelRule::new(
        "!has(oldSelf.aadProfile) || has(self.aadProfile)",
        msg::AAD_DISABLED,
    )
    .at(".aadProfile"),
    CelRule::new(
        "!has(oldSelf.aadProfile) || !has(oldSelf.aadProfile.managed) || !oldSelf.aadProfile.managed || (has(self.aadProfile) && has(self.aadProfile.managed) && self.aadProfile.managed)",
        msg::AAD_MANAGED_OFF,
    )
    .at(".aadProfile"),
    CelRule::new(
        "!has(oldSelf.aadProfile) || !has(oldSelf.aadProfile.adminGroupObjectIDs) || oldSelf.aadProfile.adminGroupObjectIDs.size() == 0 || (has(self.aadProfile) && has(self.aadProfile.adminGroupObjectIDs) && self.aadProfile.adminGroupObjectIDs.size() > 0)",
        msg::AAD_ADMIN_GROUPS_EMPTY,
    )
    .at(".aadProfile"),
    CelRule::new(
        "!has(self.disableLocalAccounts) || !self.disableLocalAccounts || has(self.aadProfile)",
        msg::LOCAL_ACCOUNTS_NEED_AAD,
    )
    .at(".disableLocalAccounts"),
    CelRule::new(
        "!has(oldSelf.disableLocalAccounts) || (has(self.disableLocalAccounts) && self.disableLocalAccounts == oldSelf.disableLocalAccounts)",
        msg::LOCAL_ACCOUNTS_IMMUTABLE,
    )
    .at(".disableLocalAccounts"),
];

/// The AKS control plane, with the keys Palette's cluster profiles use.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(CONTROL_PLANE_RULES))]
pub struct ManagedControlPlane {
    /// AKS tier (sku.tier; sku.name is always Base): Free for small and non-production
    /// clusters, Standard (default) for production with the uptime SLA, Premium for long-term
    /// support.
    #[serde(default)]
    pub sku: AksSku,
    /// Automatic upgrades. Once an upgrade channel is set it cannot be removed; set it to
    /// `none` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_upgrade_profile: Option<AutoUpgradeProfile>,
    /// Entra ID (AAD) integration: AKS-managed Entra ID with Azure RBAC for Kubernetes
    /// authorization (as Cluster API Provider Azure sets it); the admin groups get
    /// cluster-admin. Once set it cannot be removed, `managed` cannot go from true to false
    /// and the admin group list cannot become empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_profile: Option<AadProfile>,
    /// No static (local) admin credentials: only Entra ID sign-in, so azop writes no
    /// `<name>-kubeconfig` admin Secret, only `<name>-kubeconfig-user`. Needs aadProfile;
    /// cannot change once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_accounts: Option<bool>,
}

/// AKS pricing tiers.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AksSku {
    /// No SLA; for small and non-production clusters.
    Free,
    /// Uptime SLA; for production.
    #[default]
    Standard,
    /// Standard plus long-term support.
    Premium,
}

/// AKS automatic upgrades.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "!has(self.upgradeChannel) || self.upgradeChannel != 'node-image' || !has(self.nodeOSUpgradeChannel) || self.nodeOSUpgradeChannel == 'NodeImage'",
    msg::NODE_IMAGE_CHANNEL_NODE_OS,
)
.at(".nodeOSUpgradeChannel")]))]
pub struct AutoUpgradeProfile {
    /// none, patch (latest patch of the current minor), stable (latest patch of minor N-1),
    /// rapid (latest patch of the newest minor) or node-image (node image only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_channel: Option<UpgradeChannel>,
    /// How the nodes' OS gets security updates: NodeImage (default: a new node image weekly),
    /// SecurityPatch, Unmanaged (the OS's own unattended upgrades) or None.
    #[serde(
        rename = "nodeOSUpgradeChannel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_os_upgrade_channel: Option<NodeOsUpgradeChannel>,
}

/// AKS node OS upgrade channels.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NodeOsUpgradeChannel {
    /// No OS updates beyond what a node image upgrade brings.
    None,
    /// The OS's own unattended upgrades.
    Unmanaged,
    /// Security patches applied to the nodes, without a reimage.
    SecurityPatch,
    /// A new node image (the default).
    NodeImage,
}

/// AKS auto-upgrade channels.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeChannel {
    /// No automatic upgrades.
    None,
    /// The latest patch of the current minor version.
    Patch,
    /// The latest patch of minor version N-1.
    Stable,
    /// The latest patch of the newest minor version.
    Rapid,
    /// The node image only.
    NodeImage,
}

/// Entra ID (AAD) integration.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AadProfile {
    /// Managed Entra ID integration. Cannot change from true to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Object ids of the Entra groups that get cluster-admin. Cannot become empty once set.
    #[serde(
        rename = "adminGroupObjectIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(inner(regex(pattern = patterns::GUID)), transform = list_set, length(max = 50))]
    pub admin_group_object_ids: Vec<String>,
}

const POOL_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(self.osType) || self.osType != 'Windows' || self.name.size() <= 6",
        msg::WINDOWS_POOL_NAME,
    )
    .at(".name")
    .show(r#"'"' + self.name + '"'"#),
    CelRule::new(
        "has(self.count) != has(self.autoscale)",
        msg::POOL_COUNT_OR_AUTOSCALE,
    ),
    CelRule::new(
        "!has(self.mode) || self.mode != 'System' || (has(self.count) ? self.count >= 1 : (!has(self.autoscale) || self.autoscale.min >= 1))",
        msg::SYSTEM_POOL_EMPTY,
    ),
    CelRule::new(
        "!has(self.mode) || self.mode != 'System' || !has(self.osType) || self.osType == 'Linux'",
        msg::SYSTEM_POOL_LINUX,
    )
    .at(".osType")
    .show(r#"'pool "' + self.name + '"'"#),
];

/// CEL on an AKS pool's labels: AKS keeps `kubernetes.azure.com` for its own.
const AKS_LABEL_RULES: &[CelRule] = &[CelRule::new(
    "self.all(k, !k.startsWith('kubernetes.azure.com'))",
    msg::AKS_LABEL_RESERVED,
)
.show(r#"'label "' + self.filter(k, k.startsWith('kubernetes.azure.com'))[0] + '"'"#)];

/// An AKS node pool (agent pool). osType, vmSize, osDiskSizeGiB, zones, maxPods and subnetId
/// are immutable: to change them add a new pool and remove the old one.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(POOL_RULES))]
pub struct AksNodePool {
    /// Pool name: 1-12 lowercase letters and digits starting with a letter (at most 6 for
    /// Windows pools).
    #[schemars(regex(pattern = patterns::AKS_POOL_NAME), length(min = 1, max = 12))]
    pub name: String,
    /// System pools run AKS's system pods and must be Linux (at least one System pool is
    /// required); User pools run workloads. Default User.
    #[serde(default)]
    pub mode: PoolMode,
    /// Linux (default) or Windows.
    #[serde(default)]
    pub os_type: OsType,
    /// Azure VM size, for example Standard_D4s_v5.
    #[schemars(regex(pattern = patterns::VM_SIZE), length(max = 64))]
    pub vm_size: String,
    /// Fixed node count, 0 to 1000. Exactly one of count and autoscale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub count: Option<i32>,
    /// Cluster-autoscaler range. Exactly one of count and autoscale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<Autoscale>,
    /// Availability zones ("1", "2", "3").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = patterns::ZONE), length(max = 1)), transform = list_set, length(max = 3))]
    pub zones: Vec<String>,
    /// Maximum pods per node, 10 to 250. Default: AKS's default for the network plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 250))]
    pub max_pods: Option<i32>,
    /// OS disk size in GiB, 30 to 2048. Default: AKS's default for the VM size.
    #[serde(
        rename = "osDiskSizeGiB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 30, max = 2048))]
    pub os_disk_size_gib: Option<i32>,
    /// Existing subnet for the pool's nodes (static placement). Default: network.existingSubnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SUBNET_ID), length(max = 1024))]
    pub subnet_id: Option<String>,
    /// Kubernetes labels for the pool's nodes (at most 64): keys are Kubernetes qualified
    /// names outside AKS's own `kubernetes.azure.com`, values at most 63 characters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = node_labels, transform = cel(LABEL_RULES), transform = cel(AKS_LABEL_RULES))]
    pub labels: BTreeMap<String, String>,
}

/// Node pool modes.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PoolMode {
    /// Runs AKS system pods.
    System,
    /// Runs workloads.
    #[default]
    User,
}

/// Node operating systems.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OsType {
    /// Linux nodes.
    #[default]
    Linux,
    /// Windows nodes.
    Windows,
}

/// A cluster-autoscaler range.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new("self.min <= self.max", msg::AUTOSCALE_MIN_MAX)]))]
pub struct Autoscale {
    /// Minimum node count, 0 to 1000.
    #[schemars(range(min = 0, max = 1000))]
    pub min: i32,
    /// Maximum node count, 0 to 1000, at least min.
    #[schemars(range(min = 0, max = 1000))]
    pub max: i32,
}

// Whether a CIDR field of the network is set, well-formed and without host bits (a malformed
// one or one with host bits is reported by its own rule).
macro_rules! usable_cidr {
    ($f:literal) => {
        concat!(
            "(has(self.",
            $f,
            ") && isCIDR(self.",
            $f,
            ") && cidr(self.",
            $f,
            ") == cidr(self.",
            $f,
            ").masked())"
        )
    };
}

const NETWORK_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(self.podCidr) || !has(self.plugin) || self.plugin != 'azure' || has(self.pluginMode)",
        msg::POD_CIDR_NEEDS_OVERLAY,
    )
    .at(".podCidr"),
    CelRule::new(
        "!has(self.pluginMode) || !has(self.plugin) || self.plugin == 'azure'",
        msg::OVERLAY_NEEDS_AZURE_CNI,
    )
    .at(".pluginMode"),
    CelRule::new(
        "has(self.serviceCidr) == has(self.dnsServiceIP)",
        msg::SERVICE_CIDR_AND_DNS_IP,
    ),
    CelRule::new("self == oldSelf", msg::AKS_NETWORK_IMMUTABLE),
    // Inside serviceCidr, and neither its network address nor the address after it (.1, the
    // kubernetes Service). Without IP arithmetic in CEL (and `string()` of an IP, whose cost the
    // API server cannot bound; likewise `!=` of IPs, hence `!(a == b)`): for a block of /31 or wider, the network address and its
    // successor are exactly the addresses whose /31 has the network address; a /32 holds only
    // its network address.
    CelRule::new(
        concat!(
            "!",
            usable_cidr!("serviceCidr"),
            " || !has(self.dnsServiceIP) || !isIP(self.dnsServiceIP) || ip(self.dnsServiceIP).family() != 4 || (cidr(self.serviceCidr).containsIP(self.dnsServiceIP) && !(ip(self.dnsServiceIP) == cidr(self.serviceCidr).ip()) && !(cidr(self.dnsServiceIP + '/31').masked().ip() == cidr(self.serviceCidr).ip()))"
        ),
        msg::DNS_SERVICE_IP_OUTSIDE,
    )
    .at(".dnsServiceIP")
    .show("self.dnsServiceIP + ' in ' + self.serviceCidr")
    .invalid(),
    // Two CIDR blocks overlap exactly when one contains the other.
    CelRule::new(
        concat!(
            "!",
            usable_cidr!("podCidr"),
            " || !",
            usable_cidr!("serviceCidr"),
            " || !(cidr(self.podCidr).containsCIDR(self.serviceCidr) || cidr(self.serviceCidr).containsCIDR(self.podCidr))"
        ),
        msg::POD_SERVICE_OVERLAP,
    )
    .at(".serviceCidr")
    .show("self.serviceCidr + ' overlaps podCidr ' + self.podCidr")
    .invalid(),
];

/// AKS cluster network (the AKS network profile). Immutable once the cluster exists.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(NETWORK_RULES))]
pub struct AksNetwork {
    /// Network plugin: azure (Azure CNI), kubenet or none (bring your own CNI). Without
    /// plugin and pluginMode azop asks for Azure CNI overlay, what AKS recommends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<NetworkPlugin>,
    /// overlay: Azure CNI overlay (pods get addresses from podCidr, not from the nodes'
    /// subnet). Only with plugin azure (or no plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_mode: Option<NetworkPluginMode>,
    /// Pod address range: kubenet, Azure CNI overlay or plugin none, never plain Azure CNI
    /// (AKS refuses it). Must not overlap serviceCidr nor the ranges AKS reserves
    /// (169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16, 192.0.2.0/24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES), transform = cel(AKS_RANGE_RULES))]
    pub pod_cidr: Option<String>,
    /// Service address range. Set together with dnsServiceIP. Default: AKS's 10.0.0.0/16.
    /// Must not overlap the ranges AKS reserves (169.254.0.0/16, 172.30.0.0/16,
    /// 172.31.0.0/16, 192.0.2.0/24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES), transform = cel(AKS_RANGE_RULES))]
    pub service_cidr: Option<String>,
    /// Cluster DNS service address, inside serviceCidr and not its first address.
    #[serde(
        rename = "dnsServiceIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = patterns::IPV4), length(max = IPV4_MAX_LENGTH))]
    pub dns_service_ip: Option<String>,
    /// Existing subnet for the nodes (static placement). Without it AKS creates its own VNet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SUBNET_ID), length(max = 1024))]
    pub existing_subnet: Option<String>,
}

/// AKS network plugins.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPlugin {
    /// Azure CNI.
    Azure,
    /// kubenet.
    Kubenet,
    /// No CNI; bring your own.
    None,
}

/// Azure CNI modes.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPluginMode {
    /// Azure CNI overlay.
    Overlay,
}

/// API server exposure.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "!(has(self.privateCluster) && self.privateCluster) || !has(self.authorizedIPRanges) || self.authorizedIPRanges.size() == 0",
    msg::PRIVATE_WITH_AUTHORIZED_RANGES,
)
.at(".authorizedIPRanges")]))]
pub struct ApiServerAccess {
    /// A private API server, reachable only from the VNet. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_cluster: Option<bool>,
    /// Public API server only: the IPv4 CIDRs allowed to reach it. Can change at any time.
    #[serde(
        rename = "authorizedIPRanges",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(inner(regex(pattern = patterns::CIDR_V4)), transform = list_set, length(max = 200))]
    pub authorized_ip_ranges: Vec<String>,
}

/// Observed state of an AksCluster.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AksClusterStatus {
    /// Conditions (ResourceGroupReady, ControlPlaneReady, NodePoolsReady, KubeconfigReady,
    /// rolled up into Ready), observed generation, phase, Azure names (by role: `cluster`,
    /// `nodeResourceGroup`), resources and operations in flight: the fields every
    /// Azure-backed kind shares.
    #[serde(flatten)]
    pub azure: AzureStatus,
    /// Kubernetes version the control plane runs now (auto-upgrade may have raised it past
    /// spec.kubernetesVersion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// ARM provisioningState of the managed cluster (Creating, Updating, Upgrading, Succeeded,
    /// Failed, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Power state of the managed cluster (Running or Stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    /// FQDN of the API server (the private FQDN for a private cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Resource group AKS keeps the nodes' resources in (AKS creates and deletes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_resource_group: Option<String>,
    /// OIDC issuer URL of the cluster (for workload identity federation).
    #[serde(
        rename = "oidcIssuerURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oidc_issuer_url: Option<String>,
    /// Secret in this namespace holding the admin kubeconfig (key `value`); absent when
    /// local accounts are disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretRef>,
    /// Secret in this namespace holding the user kubeconfig (key `value`; with Entra ID it
    /// runs kubelogin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_kubeconfig_secret_ref: Option<SecretRef>,
    /// Observed node pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_pools: Vec<AksNodePoolStatus>,
}

/// Observed state of one node pool.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AksNodePoolStatus {
    /// Pool name.
    pub name: String,
    /// System or User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Current node count (with autoscaling: what the autoscaler chose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// The autoscaler's range, when autoscaling is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<Autoscale>,
    /// Kubernetes version of the pool's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Node image version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image_version: Option<String>,
    /// ARM provisioningState of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Power state of the pool (Running or Stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
}
