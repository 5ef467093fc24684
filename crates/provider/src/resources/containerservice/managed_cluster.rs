//! AKS managed clusters. The cluster body carries every node pool (`agentPoolProfiles`): a
//! cluster PUT makes the pool list what it says (pools it omits are removed), so the
//! controller always passes all desired pools here; [`super::agent_pool`] updates single
//! pools between cluster PUTs.
//!
//! Drift rules beyond "compare what azop sets": the Kubernetes version is drift only when
//! the cluster runs below the requested version (auto-upgrade may move it past; AKS refuses
//! downgrades, see [`effective_kubernetes_version`]); an autoscaled pool's `count` is the
//! autoscaler's; `trustedCa` is compared only when AKS returns it.

use super::models::*;
use super::{API_VERSION, version_satisfies};
use crate::resources::diff::{Diff, tag_value};
use crate::resources::{ArmResource, Difference, Owner, UID_TAG};
use std::collections::BTreeMap;

pub struct ManagedClusterResource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedClusterKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuTier {
    Free,
    Standard,
    Premium,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportPlan {
    KubernetesOfficial,
    AksLongTermSupport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeChannel {
    None,
    Patch,
    Stable,
    Rapid,
    NodeImage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeOsUpgradeChannel {
    None,
    Unmanaged,
    NodeImage,
    SecurityPatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    System,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolOsType {
    Linux,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolScale {
    Fixed { count: i32 },
    Autoscale { min: i32, max: i32 },
}

/// A Spot pool's settings (its priority is `Spot`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpotSpec {
    /// `Delete` or `Deallocate`; `None`: AKS's default (Delete).
    pub eviction_policy: Option<String>,
    /// `None`: AKS's default (-1, up to the on-demand price).
    pub max_price: Option<f64>,
}

/// How AKS upgrades a pool's nodes; `None` fields keep AKS's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolUpgradeSpec {
    pub max_surge: Option<String>,
    pub drain_timeout_in_minutes: Option<i32>,
    pub node_soak_duration_in_minutes: Option<i32>,
}

/// The taint and label AKS puts on every Spot pool itself: never drift, never removed.
pub const SPOT_TAINT: &str = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule";
pub const SPOT_LABEL: &str = "kubernetes.azure.com/scalesetpriority";

/// One node pool (used inline in the cluster and by [`super::agent_pool`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPoolSpec {
    /// Lowercase alphanumeric, ≤ 12 characters (≤ 6 for Windows).
    pub name: String,
    pub mode: PoolMode,
    pub vm_size: String,
    pub scale: PoolScale,
    pub zones: Vec<String>,
    pub os_type: PoolOsType,
    pub max_pods: Option<i32>,
    pub os_disk_size_gb: Option<i32>,
    /// Static placement: an existing subnet id.
    pub vnet_subnet_id: Option<String>,
    pub node_labels: BTreeMap<String, String>,
    /// `key=value:NoSchedule`; sent even when empty, so taints removed from the spec go.
    pub node_taints: Vec<String>,
    /// `Ubuntu`, `AzureLinux`, …; `None`: AKS's default for the OS type.
    pub os_sku: Option<String>,
    /// A Spot pool; `None`: regular VMs.
    pub spot: Option<SpotSpec>,
    pub upgrade: Option<PoolUpgradeSpec>,
    /// `None`: the control plane's version.
    pub orchestrator_version: Option<String>,
    /// The user's tags; azop's ownership tags are added (on the pool's scale set).
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoUpgradeSpec {
    /// `None`: AKS's default (none) and not managed.
    pub upgrade_channel: Option<UpgradeChannel>,
    pub node_os_upgrade_channel: Option<NodeOsUpgradeChannel>,
}

/// One AKS add-on as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonSpec {
    /// AKS's key (`azurepolicy`, `omsagent`, `azureKeyvaultSecretsProvider`).
    pub name: String,
    pub enabled: bool,
    /// Compared key by key: keys AKS adds (defaults) are not drift.
    pub config: BTreeMap<String, String>,
}

/// The control plane's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterIdentity {
    SystemAssigned,
    /// The resource id of a user-assigned identity.
    UserAssigned(String),
}

/// AKS-managed Entra ID integration (always `managed: true`; it cannot be switched off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadSpec {
    pub admin_group_object_ids: Vec<String>,
    pub enable_azure_rbac: bool,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNetworkSpec {
    /// `azure`, `kubenet` or `none`.
    pub plugin: String,
    /// `overlay` for Azure CNI Overlay.
    pub plugin_mode: Option<String>,
    pub pod_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub dns_service_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServerAccessSpec {
    pub private_cluster: bool,
    pub authorized_ip_ranges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProxySpec {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Vec<String>,
    /// Base64 PEM bundle.
    pub trusted_ca: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxProfileSpec {
    pub admin_username: String,
    pub ssh_public_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManagedClusterSpec {
    pub location: String,
    pub sku_tier: SkuTier,
    pub support_plan: Option<SupportPlan>,
    /// `1.33` or `1.33.3`; see [`effective_kubernetes_version`].
    pub kubernetes_version: String,
    pub dns_prefix: String,
    pub auto_upgrade: Option<AutoUpgradeSpec>,
    pub aad: Option<AadSpec>,
    /// Every pool of the cluster (at least one Linux System pool).
    pub agent_pools: Vec<AgentPoolSpec>,
    pub network: ClusterNetworkSpec,
    pub api_server_access: Option<ApiServerAccessSpec>,
    pub http_proxy: Option<HttpProxySpec>,
    pub linux_profile: Option<LinuxProfileSpec>,
    /// No static admin credentials (AAD only).
    pub disable_local_accounts: bool,
    /// Publish an OIDC issuer (workload identity). AKS cannot switch it off again.
    pub oidc_issuer: bool,
    /// Microsoft Entra Workload ID; `None`: not managed.
    pub workload_identity: Option<bool>,
    pub identity: ClusterIdentity,
    /// The kubelet's user-assigned identity (resource id).
    pub kubelet_identity: Option<String>,
    /// Add-ons the spec names; others are left as AKS has them.
    pub addons: Vec<AddonSpec>,
    /// KEDA; `None`: not managed.
    pub keda: Option<bool>,
    /// The Vertical Pod Autoscaler; `None`: not managed.
    pub vertical_pod_autoscaler: Option<bool>,
    /// Cluster autoscaler settings by AKS's kebab-case key; unset ones keep AKS's defaults.
    pub autoscaler_profile: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl SkuTier {
    pub fn wire(self) -> &'static str {
        match self {
            SkuTier::Free => "Free",
            SkuTier::Standard => "Standard",
            SkuTier::Premium => "Premium",
        }
    }
}

impl SupportPlan {
    pub fn wire(self) -> &'static str {
        match self {
            SupportPlan::KubernetesOfficial => "KubernetesOfficial",
            SupportPlan::AksLongTermSupport => "AKSLongTermSupport",
        }
    }
}

impl UpgradeChannel {
    pub fn wire(self) -> &'static str {
        match self {
            UpgradeChannel::None => "none",
            UpgradeChannel::Patch => "patch",
            UpgradeChannel::Stable => "stable",
            UpgradeChannel::Rapid => "rapid",
            UpgradeChannel::NodeImage => "node-image",
        }
    }
}

impl NodeOsUpgradeChannel {
    pub fn wire(self) -> &'static str {
        match self {
            NodeOsUpgradeChannel::None => "None",
            NodeOsUpgradeChannel::Unmanaged => "Unmanaged",
            NodeOsUpgradeChannel::NodeImage => "NodeImage",
            NodeOsUpgradeChannel::SecurityPatch => "SecurityPatch",
        }
    }
}

/// The version to request: the spec's, unless the cluster already runs something newer
/// (auto-upgrade) — then that, so a PUT for other drift is not refused as a downgrade.
pub fn effective_kubernetes_version(desired: &str, observed: Option<&ManagedCluster>) -> String {
    match observed.and_then(ManagedCluster::current_kubernetes_version) {
        Some(current)
            if !current.is_empty()
                && version_satisfies(desired, current)
                && !version_satisfies(current, desired) =>
        {
            current.to_owned()
        }
        _ => desired.to_owned(),
    }
}

/// The pool properties azop sets (shared with [`super::agent_pool`]).
pub fn pool_properties(spec: &AgentPoolSpec, owner: &Owner) -> AgentPoolProperties {
    let (count, autoscale, min, max) = match spec.scale {
        PoolScale::Fixed { count } => (Some(count), false, None, None),
        // The initial count is the minimum; the autoscaler owns it afterwards.
        PoolScale::Autoscale { min, max } => (Some(min), true, Some(min), Some(max)),
    };
    let spot = spec.spot.as_ref();
    AgentPoolProperties {
        count,
        vm_size: Some(spec.vm_size.clone()),
        os_disk_size_gb: spec.os_disk_size_gb,
        os_type: Some(
            match spec.os_type {
                PoolOsType::Linux => "Linux",
                PoolOsType::Windows => "Windows",
            }
            .to_owned(),
        ),
        mode: Some(
            match spec.mode {
                PoolMode::System => "System",
                PoolMode::User => "User",
            }
            .to_owned(),
        ),
        type_: Some("VirtualMachineScaleSets".to_owned()),
        availability_zones: (!spec.zones.is_empty()).then(|| spec.zones.clone()),
        max_pods: spec.max_pods,
        enable_auto_scaling: Some(autoscale),
        min_count: min,
        max_count: max,
        vnet_subnet_id: spec.vnet_subnet_id.clone(),
        orchestrator_version: spec.orchestrator_version.clone(),
        node_labels: (!spec.node_labels.is_empty()).then(|| spec.node_labels.clone()),
        // Always sent: an empty list is how taints removed from the spec leave the nodes.
        node_taints: Some(spec.node_taints.clone()),
        os_sku: spec.os_sku.clone(),
        scale_set_priority: spot.map(|_| "Spot".to_owned()),
        scale_set_eviction_policy: spot.and_then(|s| s.eviction_policy.clone()),
        spot_max_price: spot.and_then(|s| s.max_price),
        upgrade_settings: spec.upgrade.as_ref().map(|u| AgentPoolUpgradeSettings {
            max_surge: u.max_surge.clone(),
            drain_timeout_in_minutes: u.drain_timeout_in_minutes,
            node_soak_duration_in_minutes: u.node_soak_duration_in_minutes,
            ..AgentPoolUpgradeSettings::default()
        }),
        tags: Some(owner.tags(&spec.tags)),
        ..AgentPoolProperties::default()
    }
}

/// Whether a taint is one AKS manages itself on this pool (pure).
fn aks_taint(pool: &AgentPoolProperties, taint: &str) -> bool {
    is_spot(pool) && taint == SPOT_TAINT
}

fn is_spot(pool: &AgentPoolProperties) -> bool {
    pool.scale_set_priority
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("Spot"))
}

fn int(d: &mut Diff, field: &str, desired: Option<i32>, observed: Option<i32>) {
    if let Some(w) = desired
        && observed != Some(w)
    {
        d.push(
            field,
            w,
            observed.map_or("<unset>".to_owned(), |o| o.to_string()),
        );
    }
}

/// Compare one pool's managed properties (shared with [`super::agent_pool`]).
pub fn diff_pool(
    d: &mut Diff,
    field: &str,
    want: &AgentPoolProperties,
    have: &AgentPoolProperties,
) {
    d.ignore_case(
        &format!("{field}.vmSize"),
        want.vm_size.as_deref(),
        have.vm_size.as_deref(),
    );
    d.ignore_case(
        &format!("{field}.mode"),
        want.mode.as_deref(),
        have.mode.as_deref(),
    );
    d.ignore_case(
        &format!("{field}.osType"),
        want.os_type.as_deref(),
        Some(have.os_type.as_deref().unwrap_or("Linux")),
    );
    let autoscale = want.enable_auto_scaling == Some(true);
    d.boolean(
        &format!("{field}.enableAutoScaling"),
        want.enable_auto_scaling,
        Some(have.enable_auto_scaling.unwrap_or(false)),
    );
    if autoscale {
        int(
            d,
            &format!("{field}.minCount"),
            want.min_count,
            have.min_count,
        );
        int(
            d,
            &format!("{field}.maxCount"),
            want.max_count,
            have.max_count,
        );
    } else {
        int(d, &format!("{field}.count"), want.count, have.count);
    }
    d.string_set(
        &format!("{field}.availabilityZones"),
        want.availability_zones.iter().flatten().map(String::as_str),
        have.availability_zones.iter().flatten().map(String::as_str),
    );
    int(d, &format!("{field}.maxPods"), want.max_pods, have.max_pods);
    int(
        d,
        &format!("{field}.osDiskSizeGB"),
        want.os_disk_size_gb,
        have.os_disk_size_gb,
    );
    d.id_set(
        &format!("{field}.vnetSubnetID"),
        want.vnet_subnet_id.as_deref(),
        have.vnet_subnet_id.as_deref(),
    );
    if let Some(v) = &want.orchestrator_version {
        let current = have
            .current_orchestrator_version
            .as_deref()
            .or(have.orchestrator_version.as_deref())
            .unwrap_or("");
        if !version_satisfies(v, current) {
            d.push(&format!("{field}.orchestratorVersion"), v, current);
        }
    }
    // AKS's own Spot label and taint are left out on both sides: the cluster body sends a
    // pool back as AKS has it (with them), a pool body as the spec says (without).
    let mut want_labels = want.node_labels.clone().unwrap_or_default();
    let mut have_labels = have.node_labels.clone().unwrap_or_default();
    if is_spot(have) || is_spot(want) {
        want_labels.remove(SPOT_LABEL);
        have_labels.remove(SPOT_LABEL);
    }
    if want_labels != have_labels {
        d.push(
            &format!("{field}.nodeLabels"),
            format!("{want_labels:?}"),
            format!("{:?}", have.node_labels),
        );
    }
    d.string_set(
        &format!("{field}.nodeTaints"),
        want.node_taints
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|t| !aks_taint(want, t) && !aks_taint(have, t)),
        have.node_taints
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|t| !aks_taint(have, t)),
    );
    d.ignore_case(
        &format!("{field}.osSKU"),
        want.os_sku.as_deref(),
        have.os_sku.as_deref(),
    );
    d.ignore_case(
        &format!("{field}.scaleSetPriority"),
        Some(want.scale_set_priority.as_deref().unwrap_or("Regular")),
        Some(have.scale_set_priority.as_deref().unwrap_or("Regular")),
    );
    d.ignore_case(
        &format!("{field}.scaleSetEvictionPolicy"),
        want.scale_set_eviction_policy.as_deref(),
        have.scale_set_eviction_policy.as_deref(),
    );
    if let Some(price) = want.spot_max_price
        && have.spot_max_price != Some(price)
    {
        d.push(
            &format!("{field}.spotMaxPrice"),
            price,
            have.spot_max_price
                .map_or("<unset>".to_owned(), |p| p.to_string()),
        );
    }
    if let Some(u) = &want.upgrade_settings {
        let hu = have.upgrade_settings.clone().unwrap_or_default();
        let f = format!("{field}.upgradeSettings");
        d.exact(
            &format!("{f}.maxSurge"),
            u.max_surge.as_deref(),
            hu.max_surge.as_deref(),
        );
        int(
            d,
            &format!("{f}.drainTimeoutInMinutes"),
            u.drain_timeout_in_minutes,
            hu.drain_timeout_in_minutes,
        );
        int(
            d,
            &format!("{f}.nodeSoakDurationInMinutes"),
            u.node_soak_duration_in_minutes,
            hu.node_soak_duration_in_minutes,
        );
    }
    let mut tags = Diff::new();
    tags.tags(
        &want.tags.clone().unwrap_or_default(),
        &have.tags.clone().unwrap_or_default(),
    );
    for t in tags.finish() {
        d.push(&format!("{field}.tags"), t.desired, t.observed);
    }
}

fn enabled(on: bool) -> Enabled {
    Enabled {
        enabled: Some(on),
        ..Enabled::default()
    }
}

fn enabled_of(e: Option<&Enabled>) -> bool {
    e.and_then(|e| e.enabled).unwrap_or(false)
}

/// Add-ons, workload autoscalers, the autoscaler profile, the kubelet identity and workload
/// identity: only what the spec names; what AKS adds (add-on identities, config defaults,
/// autoscaler defaults) never counts.
fn diff_features(d: &mut Diff, want: &ManagedClusterProperties, have: &ManagedClusterProperties) {
    let have_addons = have.addon_profiles.clone().unwrap_or_default();
    for (name, addon) in want.addon_profiles.iter().flatten() {
        let field = format!("properties.addonProfiles.{name}");
        let found = have_addons
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let on = addon.enabled.unwrap_or(false);
        let have_on = found.and_then(|a| a.enabled).unwrap_or(false);
        if on != have_on {
            d.push(&format!("{field}.enabled"), on, have_on);
        }
        if !on {
            continue;
        }
        let have_config = found.and_then(|a| a.config.clone()).unwrap_or_default();
        for (k, v) in addon.config.iter().flatten() {
            let hv = have_config
                .iter()
                .find(|(hk, _)| hk.eq_ignore_ascii_case(k))
                .map(|(_, hv)| hv.as_str());
            // Resource ids (the workspace) may come back lower-cased.
            if !hv.is_some_and(|hv| hv.eq_ignore_ascii_case(v)) {
                d.push(&format!("{field}.config.{k}"), v, hv.unwrap_or("<unset>"));
            }
        }
    }
    if let Some(w) = &want.workload_auto_scaler_profile {
        let hw = have
            .workload_auto_scaler_profile
            .clone()
            .unwrap_or_default();
        let f = "properties.workloadAutoScalerProfile";
        if let Some(k) = &w.keda {
            d.boolean(
                &format!("{f}.keda.enabled"),
                k.enabled,
                Some(enabled_of(hw.keda.as_ref())),
            );
        }
        if let Some(v) = &w.vertical_pod_autoscaler {
            d.boolean(
                &format!("{f}.verticalPodAutoscaler.enabled"),
                v.enabled,
                Some(enabled_of(hw.vertical_pod_autoscaler.as_ref())),
            );
        }
    }
    // Most settings are strings; a few are booleans in AKS's schema (the daemonset eviction
    // ones), sent back as AKS gave them: both compared as text.
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let have_autoscaler = have.auto_scaler_profile.clone().unwrap_or_default();
    for (k, v) in want.auto_scaler_profile.iter().flatten() {
        let want_value = text(v);
        let want_value = want_value.as_str();
        let hv = have_autoscaler.get(k).map(text);
        if hv.as_deref() != Some(want_value) {
            d.push(
                &format!("properties.autoScalerProfile.{k}"),
                want_value,
                hv.unwrap_or_else(|| "<unset>".to_owned()),
            );
        }
    }
    if let Some(want_kubelet) = want
        .identity_profile
        .as_ref()
        .and_then(|p| p.get(KUBELET_IDENTITY))
    {
        let have_kubelet = have
            .identity_profile
            .iter()
            .flatten()
            .find(|(k, _)| k.eq_ignore_ascii_case(KUBELET_IDENTITY))
            .and_then(|(_, v)| v.resource_id.as_deref());
        d.id_set(
            "properties.identityProfile.kubeletidentity.resourceId",
            want_kubelet.resource_id.as_deref(),
            have_kubelet,
        );
    }
    if let Some(w) = want
        .security_profile
        .as_ref()
        .and_then(|s| s.workload_identity.as_ref())
    {
        d.boolean(
            "properties.securityProfile.workloadIdentity.enabled",
            w.enabled,
            Some(enabled_of(
                have.security_profile
                    .as_ref()
                    .and_then(|s| s.workload_identity.as_ref()),
            )),
        );
    }
}

fn trimmed_key(k: &str) -> String {
    k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[async_trait::async_trait]
impl ArmResource for ManagedClusterResource {
    type Key = ManagedClusterKey;
    type Spec = ManagedClusterSpec;
    type Body = ManagedCluster;
    type Observed = ManagedCluster;

    const RESOURCE_TYPE: &'static str = "Microsoft.ContainerService/managedClusters";
    const API_VERSION: &'static str = API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::cluster_id(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> ManagedCluster {
        let props = ManagedClusterProperties {
            kubernetes_version: Some(spec.kubernetes_version.clone()),
            dns_prefix: Some(spec.dns_prefix.clone()),
            support_plan: spec.support_plan.map(|p| p.wire().to_owned()),
            auto_upgrade_profile: spec.auto_upgrade.as_ref().map(|a| AutoUpgradeProfile {
                upgrade_channel: a.upgrade_channel.map(|c| c.wire().to_owned()),
                node_os_upgrade_channel: a.node_os_upgrade_channel.map(|c| c.wire().to_owned()),
                ..AutoUpgradeProfile::default()
            }),
            aad_profile: spec.aad.as_ref().map(|a| AadProfile {
                managed: Some(true),
                enable_azure_rbac: Some(a.enable_azure_rbac),
                admin_group_object_ids: Some(a.admin_group_object_ids.clone()),
                tenant_id: a.tenant_id.clone(),
                ..AadProfile::default()
            }),
            agent_pool_profiles: Some(
                spec.agent_pools
                    .iter()
                    .map(|p| AgentPoolProfile {
                        name: p.name.clone(),
                        properties: pool_properties(p, owner),
                    })
                    .collect(),
            ),
            network_profile: Some(NetworkProfile {
                network_plugin: Some(spec.network.plugin.clone()),
                network_plugin_mode: spec.network.plugin_mode.clone(),
                pod_cidr: spec.network.pod_cidr.clone(),
                service_cidr: spec.network.service_cidr.clone(),
                dns_service_ip: spec.network.dns_service_ip.clone(),
                ..NetworkProfile::default()
            }),
            api_server_access_profile: spec.api_server_access.as_ref().map(|a| {
                ApiServerAccessProfile {
                    enable_private_cluster: Some(a.private_cluster),
                    authorized_ip_ranges: Some(a.authorized_ip_ranges.clone()),
                    ..ApiServerAccessProfile::default()
                }
            }),
            http_proxy_config: spec.http_proxy.as_ref().map(|h| HttpProxyConfig {
                http_proxy: h.http_proxy.clone(),
                https_proxy: h.https_proxy.clone(),
                no_proxy: Some(h.no_proxy.clone()),
                trusted_ca: h.trusted_ca.clone(),
                ..HttpProxyConfig::default()
            }),
            linux_profile: spec.linux_profile.as_ref().map(|l| LinuxProfile {
                admin_username: Some(l.admin_username.clone()),
                ssh: Some(SshConfiguration {
                    public_keys: vec![SshPublicKey {
                        key_data: l.ssh_public_key.trim().to_owned(),
                    }],
                }),
            }),
            disable_local_accounts: spec.disable_local_accounts.then_some(true),
            oidc_issuer_profile: spec.oidc_issuer.then_some(OidcIssuerProfile {
                enabled: Some(true),
                issuer_url: None,
            }),
            addon_profiles: (!spec.addons.is_empty()).then(|| {
                spec.addons
                    .iter()
                    .map(|a| {
                        let profile = AddonProfile {
                            enabled: Some(a.enabled),
                            config: (!a.config.is_empty()).then(|| a.config.clone()),
                            ..AddonProfile::default()
                        };
                        (a.name.clone(), profile)
                    })
                    .collect()
            }),
            workload_auto_scaler_profile: (spec.keda.is_some()
                || spec.vertical_pod_autoscaler.is_some())
            .then(|| WorkloadAutoScalerProfile {
                keda: spec.keda.map(enabled),
                vertical_pod_autoscaler: spec.vertical_pod_autoscaler.map(enabled),
                ..WorkloadAutoScalerProfile::default()
            }),
            auto_scaler_profile: (!spec.autoscaler_profile.is_empty()).then(|| {
                spec.autoscaler_profile
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            }),
            identity_profile: spec.kubelet_identity.as_ref().map(|id| {
                BTreeMap::from([(
                    KUBELET_IDENTITY.to_owned(),
                    UserAssignedIdentity {
                        resource_id: Some(id.clone()),
                        ..UserAssignedIdentity::default()
                    },
                )])
            }),
            security_profile: spec.workload_identity.map(|w| SecurityProfile {
                workload_identity: Some(enabled(w)),
                ..SecurityProfile::default()
            }),
            ..ManagedClusterProperties::default()
        };
        ManagedCluster {
            location: Some(spec.location.clone()),
            tags: Some(owner.tags(&spec.tags)),
            sku: Some(ManagedClusterSku {
                name: Some("Base".to_owned()),
                tier: Some(spec.sku_tier.wire().to_owned()),
            }),
            identity: Some(match &spec.identity {
                ClusterIdentity::SystemAssigned => ManagedClusterIdentity {
                    type_: Some("SystemAssigned".to_owned()),
                    ..ManagedClusterIdentity::default()
                },
                ClusterIdentity::UserAssigned(id) => ManagedClusterIdentity {
                    type_: Some("UserAssigned".to_owned()),
                    user_assigned_identities: Some(BTreeMap::from([(
                        id.clone(),
                        serde_json::json!({}),
                    )])),
                    ..ManagedClusterIdentity::default()
                },
            }),
            properties: Some(props),
            ..ManagedCluster::default()
        }
    }

    fn diff(desired: &ManagedCluster, observed: &ManagedCluster) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.location {
            d.location(loc, observed.location.as_deref());
        }
        let osku = observed.sku.clone().unwrap_or_default();
        if let Some(sku) = &desired.sku {
            d.ignore_case(
                "sku.name",
                sku.name.as_deref(),
                Some(osku.name.as_deref().unwrap_or("Base")),
            );
            d.ignore_case(
                "sku.tier",
                sku.tier.as_deref(),
                Some(osku.tier.as_deref().unwrap_or("Free")),
            );
        }
        d.ignore_case(
            "identity.type",
            desired.identity.as_ref().and_then(|i| i.type_.as_deref()),
            observed.identity.as_ref().and_then(|i| i.type_.as_deref()),
        );
        if let Some(want) = desired
            .identity
            .as_ref()
            .and_then(|i| i.user_assigned_identities.as_ref())
        {
            let have = observed
                .identity
                .as_ref()
                .and_then(|i| i.user_assigned_identities.as_ref());
            d.id_set(
                "identity.userAssignedIdentities",
                want.keys().map(String::as_str),
                have.into_iter().flatten().map(|(k, _)| k.as_str()),
            );
        }
        let default_props = ManagedClusterProperties::default();
        let o = observed.properties.as_ref().unwrap_or(&default_props);
        if let Some(p) = &desired.properties {
            if let Some(v) = &p.kubernetes_version {
                let current = observed.current_kubernetes_version().unwrap_or("");
                if !version_satisfies(v, current) {
                    d.push("properties.kubernetesVersion", v, current);
                }
            }
            d.ignore_case(
                "properties.dnsPrefix",
                p.dns_prefix.as_deref(),
                o.dns_prefix.as_deref(),
            );
            d.ignore_case(
                "properties.supportPlan",
                p.support_plan.as_deref(),
                Some(o.support_plan.as_deref().unwrap_or("KubernetesOfficial")),
            );
            if let Some(a) = &p.auto_upgrade_profile {
                let oa = o.auto_upgrade_profile.clone().unwrap_or_default();
                d.ignore_case(
                    "properties.autoUpgradeProfile.upgradeChannel",
                    a.upgrade_channel.as_deref(),
                    oa.upgrade_channel.as_deref(),
                );
                d.ignore_case(
                    "properties.autoUpgradeProfile.nodeOSUpgradeChannel",
                    a.node_os_upgrade_channel.as_deref(),
                    oa.node_os_upgrade_channel.as_deref(),
                );
            }
            if let Some(a) = &p.aad_profile {
                let oa = o.aad_profile.clone().unwrap_or_default();
                d.boolean("properties.aadProfile.managed", a.managed, oa.managed);
                d.boolean(
                    "properties.aadProfile.enableAzureRBAC",
                    a.enable_azure_rbac,
                    Some(oa.enable_azure_rbac.unwrap_or(false)),
                );
                d.id_set(
                    "properties.aadProfile.adminGroupObjectIDs",
                    a.admin_group_object_ids
                        .iter()
                        .flatten()
                        .map(String::as_str),
                    oa.admin_group_object_ids
                        .iter()
                        .flatten()
                        .map(String::as_str),
                );
                d.ignore_case(
                    "properties.aadProfile.tenantID",
                    a.tenant_id.as_deref(),
                    oa.tenant_id.as_deref(),
                );
            }
            let have_pools = observed.agent_pools();
            for pool in p.agent_pool_profiles.iter().flatten() {
                let field = format!("properties.agentPoolProfiles[{}]", pool.name);
                match have_pools
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(&pool.name))
                {
                    None => d.push(&field, "present", "<missing>"),
                    Some(h) => diff_pool(&mut d, &field, &pool.properties, &h.properties),
                }
            }
            for h in have_pools {
                let wanted = p
                    .agent_pool_profiles
                    .iter()
                    .flatten()
                    .any(|w| w.name.eq_ignore_ascii_case(&h.name));
                if !wanted {
                    d.push(
                        &format!("properties.agentPoolProfiles[{}]", h.name),
                        "<absent>",
                        "present",
                    );
                }
            }
            if let Some(n) = &p.network_profile {
                let on = o.network_profile.clone().unwrap_or_default();
                let f = "properties.networkProfile";
                d.ignore_case(
                    &format!("{f}.networkPlugin"),
                    n.network_plugin.as_deref(),
                    on.network_plugin.as_deref(),
                );
                d.ignore_case(
                    &format!("{f}.networkPluginMode"),
                    n.network_plugin_mode.as_deref(),
                    on.network_plugin_mode.as_deref(),
                );
                d.exact(
                    &format!("{f}.podCidr"),
                    n.pod_cidr.as_deref(),
                    on.pod_cidr.as_deref(),
                );
                d.exact(
                    &format!("{f}.serviceCidr"),
                    n.service_cidr.as_deref(),
                    on.service_cidr.as_deref(),
                );
                d.exact(
                    &format!("{f}.dnsServiceIP"),
                    n.dns_service_ip.as_deref(),
                    on.dns_service_ip.as_deref(),
                );
            }
            if let Some(a) = &p.api_server_access_profile {
                let oa = o.api_server_access_profile.clone().unwrap_or_default();
                d.boolean(
                    "properties.apiServerAccessProfile.enablePrivateCluster",
                    a.enable_private_cluster,
                    Some(oa.enable_private_cluster.unwrap_or(false)),
                );
                d.string_set(
                    "properties.apiServerAccessProfile.authorizedIPRanges",
                    a.authorized_ip_ranges.iter().flatten().map(String::as_str),
                    oa.authorized_ip_ranges.iter().flatten().map(String::as_str),
                );
            }
            if let Some(h) = &p.http_proxy_config {
                let oh = o.http_proxy_config.clone().unwrap_or_default();
                let f = "properties.httpProxyConfig";
                d.exact(
                    &format!("{f}.httpProxy"),
                    h.http_proxy.as_deref(),
                    oh.http_proxy.as_deref(),
                );
                d.exact(
                    &format!("{f}.httpsProxy"),
                    h.https_proxy.as_deref(),
                    oh.https_proxy.as_deref(),
                );
                d.string_set(
                    &format!("{f}.noProxy"),
                    h.no_proxy.iter().flatten().map(String::as_str),
                    oh.no_proxy.iter().flatten().map(String::as_str),
                );
                // Compared only when AKS returns it; then an unwanted CA is drift too.
                if oh.trusted_ca.is_some() && oh.trusted_ca != h.trusted_ca {
                    d.push(
                        &format!("{f}.trustedCa"),
                        h.trusted_ca.as_deref().unwrap_or("<unset>"),
                        "<different>",
                    );
                }
            }
            d.boolean(
                "properties.disableLocalAccounts",
                p.disable_local_accounts,
                Some(o.disable_local_accounts.unwrap_or(false)),
            );
            if let Some(oidc) = &p.oidc_issuer_profile {
                d.boolean(
                    "properties.oidcIssuerProfile.enabled",
                    oidc.enabled,
                    Some(
                        o.oidc_issuer_profile
                            .as_ref()
                            .and_then(|x| x.enabled)
                            .unwrap_or(false),
                    ),
                );
            }
            diff_features(&mut d, p, o);
            if let Some(l) = &p.linux_profile {
                let ol = o.linux_profile.clone().unwrap_or_default();
                d.exact(
                    "properties.linuxProfile.adminUsername",
                    l.admin_username.as_deref(),
                    ol.admin_username.as_deref(),
                );
                let want: Vec<String> = l
                    .ssh
                    .iter()
                    .flat_map(|s| &s.public_keys)
                    .map(|k| trimmed_key(&k.key_data))
                    .collect();
                let have: Vec<String> = ol
                    .ssh
                    .iter()
                    .flat_map(|s| &s.public_keys)
                    .map(|k| trimmed_key(&k.key_data))
                    .collect();
                d.string_set(
                    "properties.linuxProfile.ssh.publicKeys",
                    want.iter().map(String::as_str),
                    have.iter().map(String::as_str),
                );
            }
        }
        d.tags(
            &desired.tags.clone().unwrap_or_default(),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ManagedCluster) -> Option<String> {
        tag_value(observed.tags.as_ref()?, UID_TAG).map(str::to_owned)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            ManagedClusterResource::RESOURCE_TYPE,
            ManagedClusterResource::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;

    pub(crate) fn system_pool() -> AgentPoolSpec {
        AgentPoolSpec {
            name: "nodepool1".into(),
            mode: PoolMode::System,
            vm_size: "Standard_DS1_v2".into(),
            scale: PoolScale::Fixed { count: 3 },
            zones: vec!["1".into(), "2".into(), "3".into()],
            os_type: PoolOsType::Linux,
            max_pods: Some(110),
            os_disk_size_gb: None,
            vnet_subnet_id: None,
            node_labels: BTreeMap::new(),
            node_taints: vec![],
            os_sku: None,
            spot: None,
            upgrade: None,
            orchestrator_version: None,
            tags: BTreeMap::new(),
        }
    }

    fn spec() -> ManagedClusterSpec {
        ManagedClusterSpec {
            location: "location1".into(),
            sku_tier: SkuTier::Standard,
            support_plan: Some(SupportPlan::KubernetesOfficial),
            kubernetes_version: "1.33".into(),
            dns_prefix: "dnsprefix1".into(),
            auto_upgrade: Some(AutoUpgradeSpec {
                upgrade_channel: Some(UpgradeChannel::Rapid),
                node_os_upgrade_channel: Some(NodeOsUpgradeChannel::NodeImage),
            }),
            aad: Some(AadSpec {
                admin_group_object_ids: vec!["0b3f8e2c-0000-0000-0000-000000000001".into()],
                enable_azure_rbac: true,
                tenant_id: None,
            }),
            agent_pools: vec![system_pool()],
            network: ClusterNetworkSpec {
                plugin: "kubenet".into(),
                plugin_mode: None,
                pod_cidr: Some("10.244.0.0/16".into()),
                service_cidr: Some("10.0.0.0/16".into()),
                dns_service_ip: Some("10.0.0.10".into()),
            },
            api_server_access: Some(ApiServerAccessSpec {
                private_cluster: false,
                authorized_ip_ranges: vec!["203.0.113.0/24".into()],
            }),
            http_proxy: Some(HttpProxySpec {
                http_proxy: Some("http://proxy.example:3128/".into()),
                https_proxy: Some("http://proxy.example:3128/".into()),
                no_proxy: vec!["localhost".into(), "127.0.0.1".into()],
                trusted_ca: None,
            }),
            linux_profile: Some(LinuxProfileSpec {
                admin_username: "azureuser".into(),
                ssh_public_key: "ssh-rsa keydata".into(),
            }),
            disable_local_accounts: false,
            oidc_issuer: true,
            workload_identity: None,
            identity: ClusterIdentity::SystemAssigned,
            kubelet_identity: None,
            addons: vec![],
            keda: None,
            vertical_pod_autoscaler: None,
            autoscaler_profile: BTreeMap::new(),
            tags: [("tier".to_owned(), "production".to_owned())]
                .into_iter()
                .collect(),
        }
    }

    fn owner() -> Owner {
        Owner::new("AksCluster", "ns", "clustername1", "uid-5")
    }

    fn desired() -> ManagedCluster {
        let key = ManagedClusterKey {
            resource_group: "rg1".into(),
            name: "clustername1".into(),
        };
        ManagedClusterResource::desired(&key, &spec(), &owner())
    }

    /// ManagedClusters_CreateOrUpdate, example "ManagedClustersCreate_Update.json"
    /// (aks/stable/2025-10-01), 200 response re-typed with our settings: what AKS adds
    /// (currentKubernetesVersion with the patch, fqdn, nodeResourceGroup, maxAgentPools,
    /// identity principal, pool defaults and orchestrator versions, podCidrs/serviceCidrs,
    /// effectiveNoProxy, loadBalancerProfile, the admin group tenant) must not be drift.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "clustername1",
            "type": "Microsoft.ContainerService/ManagedClusters",
            "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1",
            "location": "location1",
            "tags": {"tier": "production", "azop.dev/owner": "AksCluster/ns/clustername1", "azop.dev/uid": "uid-5"},
            "sku": {"name": "Base", "tier": "Standard"},
            "identity": {"type": "SystemAssigned", "principalId": "11111111-0000-0000-0000-000000000000", "tenantId": "22222222-0000-0000-0000-000000000000"},
            "properties": {
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "kubernetesVersion": "1.33",
                "currentKubernetesVersion": "1.33.3",
                "dnsPrefix": "dnsprefix1",
                "fqdn": "dnsprefix1-abcd1234.hcp.location1.azmk8s.io",
                "azurePortalFQDN": "dnsprefix1-abcd1234.portal.hcp.location1.azmk8s.io",
                "agentPoolProfiles": [{
                    "name": "nodepool1",
                    "type": "VirtualMachineScaleSets",
                    "availabilityZones": ["1", "2", "3"],
                    "count": 3,
                    "currentOrchestratorVersion": "1.33.3",
                    "orchestratorVersion": "1.33",
                    "enableNodePublicIP": false,
                    "enableAutoScaling": false,
                    "maxPods": 110,
                    "mode": "System",
                    "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202610.01.0",
                    "osType": "Linux",
                    "osSKU": "Ubuntu",
                    "osDiskSizeGB": 128,
                    "osDiskType": "Managed",
                    "provisioningState": "Succeeded",
                    "powerState": {"code": "Running"},
                    "vmSize": "Standard_DS1_v2",
                    "tags": {"azop.dev/owner": "AksCluster/ns/clustername1", "azop.dev/uid": "uid-5"}
                }],
                "autoUpgradeProfile": {"upgradeChannel": "rapid", "nodeOSUpgradeChannel": "NodeImage"},
                "aadProfile": {"managed": true, "enableAzureRBAC": true, "adminGroupObjectIDs": ["0B3F8E2C-0000-0000-0000-000000000001"], "tenantID": "22222222-0000-0000-0000-000000000000"},
                "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"], "enablePrivateCluster": false},
                "httpProxyConfig": {
                    "httpProxy": "http://proxy.example:3128/",
                    "httpsProxy": "http://proxy.example:3128/",
                    "noProxy": ["127.0.0.1", "localhost"],
                    "effectiveNoProxy": ["localhost", "127.0.0.1", "konnectivity", "10.0.0.0/16", "168.63.129.16", "169.254.169.254"]
                },
                "linuxProfile": {"adminUsername": "azureuser", "ssh": {"publicKeys": [{"keyData": "ssh-rsa keydata"}]}},
                "maxAgentPools": 100,
                "networkProfile": {
                    "dnsServiceIP": "10.0.0.10",
                    "ipFamilies": ["IPv4"],
                    "loadBalancerProfile": {"allocatedOutboundPorts": 2000, "idleTimeoutInMinutes": 10, "managedOutboundIPs": {"count": 1}},
                    "loadBalancerSku": "standard",
                    "networkPlugin": "kubenet",
                    "outboundType": "loadBalancer",
                    "podCidr": "10.244.0.0/16",
                    "podCidrs": ["10.244.0.0/16"],
                    "serviceCidr": "10.0.0.0/16",
                    "serviceCidrs": ["10.0.0.0/16"]
                },
                "nodeResourceGroup": "MC_rg1_clustername1_location1",
                "oidcIssuerProfile": {"enabled": true, "issuerURL": "https://location1.oic.prod-aks.azure.com/22222222-0000-0000-0000-000000000000/33333333-0000-0000-0000-000000000000/"},
                "enableRBAC": true,
                "supportPlan": "KubernetesOfficial"
            }
        })
    }

    fn observed(v: serde_json::Value) -> ManagedCluster {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(ManagedClusterResource::diff(&desired(), &o), vec![]);
        assert_eq!(
            ManagedClusterResource::owner_uid(&o).as_deref(),
            Some("uid-5")
        );
        assert_eq!(
            o.fqdn(),
            Some("dnsprefix1-abcd1234.hcp.location1.azmk8s.io")
        );
        assert_eq!(o.power_state(), Some("Running"));
    }

    #[test]
    fn desired_body_is_the_wire_shape() {
        let b = serde_json::to_value(desired()).expect("json");
        assert_eq!(
            b["sku"],
            serde_json::json!({"name": "Base", "tier": "Standard"})
        );
        assert_eq!(b["identity"], serde_json::json!({"type": "SystemAssigned"}));
        let p = &b["properties"];
        assert_eq!(
            p["autoUpgradeProfile"],
            serde_json::json!({"upgradeChannel": "rapid", "nodeOSUpgradeChannel": "NodeImage"})
        );
        assert_eq!(p["aadProfile"]["managed"], true);
        assert_eq!(p["aadProfile"]["enableAzureRBAC"], true);
        assert_eq!(
            p["aadProfile"]["adminGroupObjectIDs"][0],
            "0b3f8e2c-0000-0000-0000-000000000001"
        );
        assert_eq!(p["networkProfile"]["dnsServiceIP"], "10.0.0.10");
        assert_eq!(
            p["apiServerAccessProfile"]["authorizedIPRanges"][0],
            "203.0.113.0/24"
        );
        assert_eq!(
            p["httpProxyConfig"]["noProxy"],
            serde_json::json!(["localhost", "127.0.0.1"])
        );
        assert!(p["httpProxyConfig"].get("trustedCa").is_none());
        let pool = &p["agentPoolProfiles"][0];
        assert_eq!(pool["name"], "nodepool1");
        assert_eq!(pool["mode"], "System");
        assert_eq!(pool["count"], 3);
        assert_eq!(pool["enableAutoScaling"], false);
        assert_eq!(pool["tags"]["azop.dev/uid"], "uid-5");
        assert!(b.get("id").is_none());
    }

    #[test]
    fn each_managed_field_is_drift() {
        let set = |ptr: &'static str, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location", "westus".into())),
            ("sku.name", set("/sku/name", "Automatic".into())),
            ("sku.tier", set("/sku/tier", "Free".into())),
            (
                "identity.type",
                set("/identity/type", "UserAssigned".into()),
            ),
            (
                "properties.kubernetesVersion",
                set("/properties/currentKubernetesVersion", "1.32.7".into()),
            ),
            (
                "properties.dnsPrefix",
                set("/properties/dnsPrefix", "other".into()),
            ),
            (
                "properties.supportPlan",
                set("/properties/supportPlan", "AKSLongTermSupport".into()),
            ),
            (
                "properties.autoUpgradeProfile.upgradeChannel",
                set(
                    "/properties/autoUpgradeProfile/upgradeChannel",
                    "stable".into(),
                ),
            ),
            (
                "properties.autoUpgradeProfile.nodeOSUpgradeChannel",
                set(
                    "/properties/autoUpgradeProfile/nodeOSUpgradeChannel",
                    "None".into(),
                ),
            ),
            (
                "properties.aadProfile.managed",
                set("/properties/aadProfile/managed", false.into()),
            ),
            (
                "properties.aadProfile.enableAzureRBAC",
                set("/properties/aadProfile/enableAzureRBAC", false.into()),
            ),
            (
                "properties.aadProfile.adminGroupObjectIDs",
                set(
                    "/properties/aadProfile/adminGroupObjectIDs",
                    serde_json::json!([]),
                ),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].vmSize",
                set(
                    "/properties/agentPoolProfiles/0/vmSize",
                    "Standard_D4s_v5".into(),
                ),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].mode",
                set("/properties/agentPoolProfiles/0/mode", "User".into()),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].osType",
                set("/properties/agentPoolProfiles/0/osType", "Windows".into()),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].enableAutoScaling",
                set(
                    "/properties/agentPoolProfiles/0/enableAutoScaling",
                    true.into(),
                ),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].count",
                set("/properties/agentPoolProfiles/0/count", 5.into()),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].availabilityZones",
                set(
                    "/properties/agentPoolProfiles/0/availabilityZones",
                    serde_json::json!(["1"]),
                ),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].maxPods",
                set("/properties/agentPoolProfiles/0/maxPods", 30.into()),
            ),
            (
                "properties.agentPoolProfiles[nodepool1].tags",
                set(
                    "/properties/agentPoolProfiles/0/tags",
                    serde_json::json!({}),
                ),
            ),
            (
                "properties.agentPoolProfiles[nodepool1]",
                set("/properties/agentPoolProfiles/0/name", "renamed".into()),
            ),
            (
                "properties.networkProfile.networkPlugin",
                set("/properties/networkProfile/networkPlugin", "azure".into()),
            ),
            (
                "properties.networkProfile.podCidr",
                set("/properties/networkProfile/podCidr", "10.245.0.0/16".into()),
            ),
            (
                "properties.networkProfile.serviceCidr",
                set(
                    "/properties/networkProfile/serviceCidr",
                    "10.1.0.0/16".into(),
                ),
            ),
            (
                "properties.networkProfile.dnsServiceIP",
                set(
                    "/properties/networkProfile/dnsServiceIP",
                    "10.0.0.11".into(),
                ),
            ),
            (
                "properties.apiServerAccessProfile.enablePrivateCluster",
                set(
                    "/properties/apiServerAccessProfile/enablePrivateCluster",
                    true.into(),
                ),
            ),
            (
                "properties.apiServerAccessProfile.authorizedIPRanges",
                set(
                    "/properties/apiServerAccessProfile/authorizedIPRanges",
                    serde_json::json!([]),
                ),
            ),
            (
                "properties.httpProxyConfig.httpProxy",
                set(
                    "/properties/httpProxyConfig/httpProxy",
                    "http://other:3128/".into(),
                ),
            ),
            (
                "properties.httpProxyConfig.httpsProxy",
                set(
                    "/properties/httpProxyConfig/httpsProxy",
                    "http://other:3128/".into(),
                ),
            ),
            (
                "properties.httpProxyConfig.noProxy",
                set(
                    "/properties/httpProxyConfig/noProxy",
                    serde_json::json!(["localhost"]),
                ),
            ),
            (
                "properties.httpProxyConfig.trustedCa",
                Box::new(|v| v["properties"]["httpProxyConfig"]["trustedCa"] = "LS0t".into()),
            ),
            (
                "properties.linuxProfile.adminUsername",
                set("/properties/linuxProfile/adminUsername", "root".into()),
            ),
            (
                "properties.linuxProfile.ssh.publicKeys",
                set(
                    "/properties/linuxProfile/ssh/publicKeys/0/keyData",
                    "ssh-rsa other".into(),
                ),
            ),
            (
                "properties.oidcIssuerProfile.enabled",
                set("/properties/oidcIssuerProfile/enabled", false.into()),
            ),
            ("tags", set("/tags/tier", "dev".into())),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = ManagedClusterResource::diff(&desired(), &observed(v));
            let mut fields: Vec<&str> = d.iter().map(|x| x.field.as_str()).collect();
            // A renamed pool also shows up as an extra one.
            fields.retain(|f| *f != "properties.agentPoolProfiles[renamed]");
            assert_eq!(fields, vec![field], "{field}");
        }
    }

    #[test]
    fn local_accounts_disabled_by_the_spec_are_drift_until_aks_says_so() {
        let mut s = spec();
        s.disable_local_accounts = true;
        let key = ManagedClusterKey {
            resource_group: "rg1".into(),
            name: "clustername1".into(),
        };
        let want = ManagedClusterResource::desired(&key, &s, &owner());
        let d = ManagedClusterResource::diff(&want, &observed(get_after_put()));
        assert_eq!(d[0].field, "properties.disableLocalAccounts");
        let mut v = get_after_put();
        v["properties"]["disableLocalAccounts"] = true.into();
        assert!(ManagedClusterResource::diff(&want, &observed(v)).is_empty());
    }

    #[test]
    fn auto_upgrade_past_the_spec_is_not_drift_and_is_kept() {
        let mut v = get_after_put();
        v["properties"]["currentKubernetesVersion"] = "1.34.1".into();
        v["properties"]["kubernetesVersion"] = "1.34".into();
        let o = observed(v);
        assert!(ManagedClusterResource::diff(&desired(), &o).is_empty());
        assert_eq!(effective_kubernetes_version("1.33", Some(&o)), "1.34.1");
        assert_eq!(effective_kubernetes_version("1.35", Some(&o)), "1.35");
        assert_eq!(effective_kubernetes_version("1.33", None), "1.33");
    }

    #[test]
    fn a_spot_pool_sent_back_with_aks_own_label_and_taint_is_not_drift() {
        let pool = |taints: serde_json::Value, labels: serde_json::Value| {
            serde_json::json!({"properties": {"agentPoolProfiles": [{
                "name": "spot", "mode": "User", "count": 0, "vmSize": "Standard_D8s_v5",
                "scaleSetPriority": "Spot", "nodeTaints": taints, "nodeLabels": labels
            }]}})
        };
        let aks_has = pool(
            serde_json::json!([SPOT_TAINT, "workload=batch:NoSchedule"]),
            serde_json::json!({SPOT_LABEL: "spot", "workload": "batch"}),
        );
        let echoed: ManagedCluster = serde_json::from_value(aks_has.clone()).expect("want");
        let have: ManagedCluster = serde_json::from_value(aks_has).expect("have");
        assert_eq!(ManagedClusterResource::diff(&echoed, &have), vec![]);
        let spec_like: ManagedCluster = serde_json::from_value(pool(
            serde_json::json!(["workload=batch:NoSchedule"]),
            serde_json::json!({"workload": "batch"}),
        ))
        .expect("spec");
        assert_eq!(ManagedClusterResource::diff(&spec_like, &have), vec![]);
    }

    #[test]
    fn autoscaler_booleans_sent_back_as_aks_gave_them_are_not_drift() {
        let profile = serde_json::json!({
            "properties": {"autoScalerProfile": {
                "daemonset-eviction-for-empty-nodes": false,
                "ignore-daemonsets-utilization": false,
                "expander": "least-waste"
            }}
        });
        let want: ManagedCluster = serde_json::from_value(profile.clone()).expect("want");
        let have: ManagedCluster = serde_json::from_value(profile).expect("have");
        assert_eq!(ManagedClusterResource::diff(&want, &have), vec![]);
        let changed: ManagedCluster = serde_json::from_value(serde_json::json!({
            "properties": {"autoScalerProfile": {
                "daemonset-eviction-for-empty-nodes": true,
                "ignore-daemonsets-utilization": false,
                "expander": "least-waste"
            }}
        }))
        .expect("changed");
        let d = ManagedClusterResource::diff(&want, &changed);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].desired.as_str(), d[0].observed.as_str()),
            ("false", "true")
        );
    }

    #[test]
    fn autoscaled_pool_count_belongs_to_the_autoscaler() {
        let mut s = spec();
        s.agent_pools[0].scale = PoolScale::Autoscale { min: 1, max: 5 };
        let key = ManagedClusterKey {
            resource_group: "rg1".into(),
            name: "clustername1".into(),
        };
        let desired = ManagedClusterResource::desired(&key, &s, &owner());
        let mut v = get_after_put();
        let pool = v
            .pointer_mut("/properties/agentPoolProfiles/0")
            .expect("pool");
        pool["enableAutoScaling"] = true.into();
        pool["minCount"] = 1.into();
        pool["maxCount"] = 5.into();
        pool["count"] = 4.into();
        assert!(ManagedClusterResource::diff(&desired, &observed(v.clone())).is_empty());
        v["properties"]["agentPoolProfiles"][0]["maxCount"] = 3.into();
        let d = ManagedClusterResource::diff(&desired, &observed(v));
        assert_eq!(
            d[0].field,
            "properties.agentPoolProfiles[nodepool1].maxCount"
        );
    }
}
