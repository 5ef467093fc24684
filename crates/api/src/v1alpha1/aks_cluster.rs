//! AksCluster: a managed AKS cluster. The control-plane keys are Palette's, so cluster profiles
//! carry over unchanged.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AzureScope, AzureStatus, CIDR_MAX_LENGTH, CIDR_RULES, IPV4_MAX_LENGTH, LocalObjectRef,
    SCOPE_RULES, SecretRef, VERSION_RULES,
};
use super::schema::{CelRule, cel, list_map, list_set};
use crate::validation::{messages as msg, patterns};

pub use super::aks_control_plane::*;

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
        "self.nodePools.all(p, !oldSelf.nodePools.exists(o, o.name == p.name) || oldSelf.nodePools.exists(o, o.name == p.name && (has(o.osType) ? o.osType : 'Linux') == (has(p.osType) ? p.osType : 'Linux') && o.vmSize == p.vmSize && (has(o.osDiskSizeGiB) ? o.osDiskSizeGiB : 0) == (has(p.osDiskSizeGiB) ? p.osDiskSizeGiB : 0) && (has(o.zones) ? o.zones : []) == (has(p.zones) ? p.zones : []) && (has(o.maxPods) ? o.maxPods : 0) == (has(p.maxPods) ? p.maxPods : 0) && (has(o.subnetId) ? o.subnetId : '') == (has(p.subnetId) ? p.subnetId : '') && (has(o.scaleSetPriority) ? o.scaleSetPriority : 'Regular') == (has(p.scaleSetPriority) ? p.scaleSetPriority : 'Regular') && (has(o.scaleSetEvictionPolicy) ? o.scaleSetEvictionPolicy : '') == (has(p.scaleSetEvictionPolicy) ? p.scaleSetEvictionPolicy : '') && (has(o.spotMaxPrice) ? double(o.spotMaxPrice) : -1.0) == (has(p.spotMaxPrice) ? double(p.spotMaxPrice) : -1.0) && ((has(p.osType) ? p.osType : 'Linux') != 'Windows' || (has(o.osSKU) ? o.osSKU : '') == (has(p.osSKU) ? p.osSKU : ''))))",
        msg::POOL_IMMUTABLE,
    )
    .at(".nodePools"),
    CelRule::new(
        "(has(self.apiServerAccess) && has(self.apiServerAccess.privateCluster) && self.apiServerAccess.privateCluster) == (has(oldSelf.apiServerAccess) && has(oldSelf.apiServerAccess.privateCluster) && oldSelf.apiServerAccess.privateCluster)",
        msg::PRIVATE_CLUSTER_IMMUTABLE,
    )
    .at(".apiServerAccess"),
    CelRule::new(
        "!has(self.managedControlPlane) || !has(self.managedControlPlane.workloadAutoScalerProfile) || !has(self.managedControlPlane.workloadAutoScalerProfile.keda) || !self.managedControlPlane.workloadAutoScalerProfile.keda.enabled || !self.kubernetesVersion.matches('^[0-9]+[.][0-9]+') || int(self.kubernetesVersion.split('.')[0]) > 1 || int(self.kubernetesVersion.split('.')[1]) >= 26",
        msg::KEDA_VERSION,
    )
    .at(".managedControlPlane.workloadAutoScalerProfile.keda"),
    // Here, not on managedControlPlane: a cluster created without that block has the issuer
    // on (azop's default), and a rule there would not see the old object.
    CelRule::new(
        "(has(oldSelf.managedControlPlane) && has(oldSelf.managedControlPlane.oidcIssuerProfile) && !oldSelf.managedControlPlane.oidcIssuerProfile.enabled) || !has(self.managedControlPlane) || !has(self.managedControlPlane.oidcIssuerProfile) || self.managedControlPlane.oidcIssuerProfile.enabled",
        msg::OIDC_ISSUER_CANNOT_DISABLE,
    )
    .at(".managedControlPlane.oidcIssuerProfile.enabled"),
];

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
    /// Adopt an AKS cluster of this name that already exists in the resource group and
    /// carries no azop owner tag: azop tags it (and the spec's node pools it has) as this
    /// object's and from then on manages it like one it created, changing it to match the
    /// spec. Default false: an existing cluster is left alone (NotOwned). A cluster that
    /// carries another object's uid is never adopted, whatever this says. Deleting an adopted
    /// cluster's object deletes the cluster unless deletionPolicy is Orphan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,
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
        "!has(self.osSKU) || ((has(self.osType) && self.osType == 'Windows') == self.osSKU.startsWith('Windows'))",
        msg::OS_SKU_MISMATCH,
    )
    .at(".osSKU"),
    CelRule::new(
        "!has(self.scaleSetPriority) || self.scaleSetPriority != 'Spot' || !has(self.mode) || self.mode != 'System'",
        msg::SPOT_SYSTEM_POOL,
    )
    .at(".scaleSetPriority"),
    CelRule::new(
        "(has(self.scaleSetPriority) && self.scaleSetPriority == 'Spot') || (!has(self.scaleSetEvictionPolicy) && !has(self.spotMaxPrice))",
        msg::SPOT_ONLY,
    )
    .at(".scaleSetPriority"),
    CelRule::new(
        "!has(self.spotMaxPrice) || double(self.spotMaxPrice) == -1.0 || double(self.spotMaxPrice) > 0.0",
        msg::SPOT_MAX_PRICE,
    )
    .at(".spotMaxPrice"),
];

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
    /// System pools run AKS's system pods (at least one Linux System pool is required); User
    /// pools run workloads. Default User.
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
    /// Kubernetes labels for the pool's nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Kubernetes taints for the pool's nodes, `key=value:Effect` (for example
    /// `sku=gpu:NoSchedule`), as AKS takes them. Can change at any time. (A schema pattern,
    /// not a CEL rule: a regex per taint of up to 100 pools is over the API server's CEL cost
    /// budget.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(max = 400), regex(pattern = patterns::AKS_TAINT)), transform = list_set, length(max = 50))]
    pub taints: Vec<String>,
    /// Node OS image: Ubuntu (AKS's default for Linux), Ubuntu2204, Ubuntu2404, AzureLinux or
    /// AzureLinux3 for Linux pools; Windows2022 or Windows2025 for Windows pools. A Linux pool
    /// may move between Linux SKUs (AKS reimages its nodes); a Windows pool's is immutable.
    #[serde(rename = "osSKU", default, skip_serializing_if = "Option::is_none")]
    pub os_sku: Option<OsSku>,
    /// Regular (default) or Spot (evictable, discounted VMs; User pools only; AKS taints
    /// them `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set_priority: Option<ScaleSetPriority>,
    /// Spot only: Delete (default) or Deallocate evicted nodes. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set_eviction_policy: Option<EvictionPolicy>,
    /// Spot only: the most to pay per hour in US dollars, or -1 (default) for up to the
    /// on-demand price. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_max_price: Option<f64>,
    /// How AKS upgrades the pool's nodes. Can change at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_settings: Option<PoolUpgradeSettings>,
}

/// AKS node OS images.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OsSku {
    /// Ubuntu, the version AKS picks for the Kubernetes version.
    Ubuntu,
    /// Ubuntu 22.04.
    Ubuntu2204,
    /// Ubuntu 24.04.
    Ubuntu2404,
    /// Azure Linux, the version AKS picks.
    AzureLinux,
    /// Azure Linux 3.
    AzureLinux3,
    /// Windows Server 2022.
    Windows2022,
    /// Windows Server 2025.
    Windows2025,
}

impl OsSku {
    pub fn as_str(self) -> &'static str {
        match self {
            OsSku::Ubuntu => "Ubuntu",
            OsSku::Ubuntu2204 => "Ubuntu2204",
            OsSku::Ubuntu2404 => "Ubuntu2404",
            OsSku::AzureLinux => "AzureLinux",
            OsSku::AzureLinux3 => "AzureLinux3",
            OsSku::Windows2022 => "Windows2022",
            OsSku::Windows2025 => "Windows2025",
        }
    }

    pub fn is_windows(self) -> bool {
        matches!(self, OsSku::Windows2022 | OsSku::Windows2025)
    }
}

/// VM priority of a pool's scale set.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ScaleSetPriority {
    /// Regular VMs.
    Regular,
    /// Spot VMs: no SLA, evicted when Azure needs the capacity.
    Spot,
}

/// What happens to an evicted Spot node.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum EvictionPolicy {
    /// Deleted (the default).
    Delete,
    /// Stopped and deallocated (still counts against quota).
    Deallocate,
}

impl EvictionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::Delete => "Delete",
            EvictionPolicy::Deallocate => "Deallocate",
        }
    }
}

/// How AKS upgrades a pool's nodes.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolUpgradeSettings {
    /// Extra nodes during an upgrade: a number (`1`) or a percentage of the pool (`33%`).
    /// AKS's default is 10%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MAX_SURGE), length(max = 5))]
    pub max_surge: Option<String>,
    /// Minutes to wait for each node's pods to be evicted (1-1440; AKS's default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub drain_timeout_in_minutes: Option<i32>,
    /// Minutes to wait after draining a node before the next (0-30; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 30))]
    pub node_soak_duration_in_minutes: Option<i32>,
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
    /// (AKS refuses it). Must not overlap serviceCidr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES))]
    pub pod_cidr: Option<String>,
    /// Service address range. Set together with dnsServiceIP. Default: AKS's 10.0.0.0/16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES))]
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
    /// Add-ons as AKS reports them, with the identity each runs as (grant it the Azure roles
    /// it needs, such as Key Vault access for azureKeyvaultSecretsProvider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addon_profiles: Vec<AksAddonStatus>,
    /// The identity the kubelets run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_identity: Option<ManagedIdentityStatus>,
    /// The AKS maintenance configurations azop applied (their AKS names); azop removes only
    /// these when their window leaves the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_configurations: Vec<String>,
}

/// One add-on as AKS reports it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AksAddonStatus {
    /// The add-on's AKS name.
    pub name: String,
    /// Whether it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The managed identity AKS made for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedIdentityStatus>,
}

/// A managed identity, as AKS reports it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityStatus {
    /// Resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Client (application) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Object (principal) id: what role assignments name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
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
