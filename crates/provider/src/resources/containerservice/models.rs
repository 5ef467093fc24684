//! Serde models of ManagedCluster and AgentPool (API 2026-10-01), limited to what azop sets
//! or reads. Used both as PUT bodies (unset fields are omitted, so AKS defaults apply) and
//! as GET results (unknown fields land in `other`; enums are strings).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<ManagedClusterSku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ManagedClusterIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<ManagedClusterProperties>,
    /// Changes on every write to the cluster (read-only; never sent).
    #[serde(rename = "eTag", default, skip_serializing)]
    pub e_tag: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedClusterSku {
    /// `Base` (or `Automatic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Free`, `Standard`, `Premium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterIdentity {
    /// `SystemAssigned` or `UserAssigned`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub principal_id: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<String>,
    /// Resource id → `{}` in a body; AKS answers with each one's principalId and clientId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identities: Option<BTreeMap<String, Value>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One add-on (`addonProfiles.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// Read-only: the identity AKS made for the add-on.
    #[serde(default, skip_serializing)]
    pub identity: Option<UserAssignedIdentity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A user-assigned identity as AKS names one (`identityProfile`, add-on identities).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAssignedIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Filled in by AKS; azop sends only the resource id (as Cluster API Provider Azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
}

/// Something that is on or off (`keda`, `verticalPodAutoscaler`, `workloadIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enabled {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadAutoScalerProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keda: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical_pod_autoscaler: Option<Enabled>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<Enabled>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPoolUpgradeSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout_in_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_soak_duration_in_minutes: Option<i32>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `…/managedClusters/{c}/maintenanceConfigurations/{name}` (a proxy resource: no tags).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceConfiguration {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<MaintenanceConfigurationProperties>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceConfigurationProperties {
    /// The window, with AKS's keys (schedule, durationHours, utcOffset, startDate, startTime,
    /// notAllowedDates), kept as JSON: azop sends what the spec says and compares it key by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<PowerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    #[serde(
        rename = "privateFQDN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub private_fqdn: Option<String>,
    /// `KubernetesOfficial` or `AKSLongTermSupport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_upgrade_profile: Option<AutoUpgradeProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_profile: Option<AadProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool_profiles: Option<Vec<AgentPoolProfile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_profile: Option<NetworkProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_access_profile: Option<ApiServerAccessProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy_config: Option<HttpProxyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_profile: Option<LinuxProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_resource_group: Option<String>,
    #[serde(
        rename = "enableRBAC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_rbac: Option<bool>,
    /// With AAD only: no static admin credentials (listClusterAdminCredential is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_accounts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_issuer_profile: Option<OidcIssuerProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon_profiles: Option<BTreeMap<String, AddonProfile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_auto_scaler_profile: Option<WorkloadAutoScalerProfile>,
    /// kebab-case keys (`scan-interval`); most values are strings, a few booleans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaler_profile: Option<BTreeMap<String, Value>>,
    /// `kubeletidentity` → the kubelet's user-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_profile: Option<BTreeMap<String, UserAssignedIdentity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<SecurityProfile>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcIssuerProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Read-only: the issuer URL, once enabled.
    #[serde(rename = "issuerURL", default, skip_serializing)]
    pub issuer_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerState {
    /// `Running` or `Stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoUpgradeProfile {
    /// `rapid|stable|patch|node-image|none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_channel: Option<String>,
    /// `None|Unmanaged|NodeImage|SecurityPatch`.
    #[serde(
        rename = "nodeOSUpgradeChannel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_os_upgrade_channel: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AadProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(
        rename = "enableAzureRBAC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_azure_rbac: Option<bool>,
    #[serde(
        rename = "adminGroupObjectIDs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub admin_group_object_ids: Option<Vec<String>>,
    #[serde(rename = "tenantID", default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A pool inside the cluster body: its name plus the agent pool properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentPoolProfile {
    pub name: String,
    #[serde(flatten)]
    pub properties: AgentPoolProperties,
}

/// The child resource `…/managedClusters/{c}/agentPools/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<AgentPoolProperties>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPoolProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(
        rename = "osDiskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_disk_size_gb: Option<i32>,
    /// `Linux` or `Windows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// `System` or `User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `VirtualMachineScaleSets`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_auto_scaling: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<i32>,
    #[serde(
        rename = "vnetSubnetID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vnet_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_orchestrator_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_taints: Option<Vec<String>>,
    /// `Ubuntu`, `AzureLinux`, `Windows2022`, …
    #[serde(rename = "osSKU", default, skip_serializing_if = "Option::is_none")]
    pub os_sku: Option<String>,
    /// `Regular` or `Spot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set_priority: Option<String>,
    /// `Delete` or `Deallocate` (Spot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set_eviction_policy: Option<String>,
    /// Spot: US dollars per hour, or -1 for up to the on-demand price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_max_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_settings: Option<AgentPoolUpgradeSettings>,
    /// Tags of the pool's scale set: where azop's ownership tags go (pools have no ARM tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<PowerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_image_version: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfile {
    /// `azure`, `kubenet`, `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_plugin: Option<String>,
    /// `overlay` (Azure CNI Overlay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_plugin_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cidr: Option<String>,
    #[serde(
        rename = "dnsServiceIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_service_ip: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerAccessProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_private_cluster: Option<bool>,
    #[serde(
        rename = "authorizedIPRanges",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authorized_ip_ranges: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpProxyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<Vec<String>>,
    /// Base64 PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_ca: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshConfiguration {
    #[serde(default)]
    pub public_keys: Vec<SshPublicKey>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshPublicKey {
    pub key_data: String,
}

/// The one key AKS accepts in `identityProfile`.
pub const KUBELET_IDENTITY: &str = "kubeletidentity";

impl ManagedCluster {
    pub fn provisioning_state(&self) -> Option<&str> {
        self.properties.as_ref()?.provisioning_state.as_deref()
    }

    pub fn power_state(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .power_state
            .as_ref()?
            .code
            .as_deref()
    }

    /// The API server's public FQDN, or the private one for a private cluster.
    pub fn fqdn(&self) -> Option<&str> {
        let p = self.properties.as_ref()?;
        p.fqdn.as_deref().or(p.private_fqdn.as_deref())
    }

    /// The version the control plane runs (what auto-upgrade reached), else the requested one.
    pub fn current_kubernetes_version(&self) -> Option<&str> {
        let p = self.properties.as_ref()?;
        p.current_kubernetes_version
            .as_deref()
            .or(p.kubernetes_version.as_deref())
    }

    /// The add-ons as AKS reports them.
    pub fn addons(&self) -> impl Iterator<Item = (&String, &AddonProfile)> {
        self.properties
            .as_ref()
            .and_then(|p| p.addon_profiles.as_ref())
            .into_iter()
            .flatten()
    }

    /// The kubelet's identity, once AKS has one.
    pub fn kubelet_identity(&self) -> Option<&UserAssignedIdentity> {
        self.properties
            .as_ref()?
            .identity_profile
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(KUBELET_IDENTITY))
            .map(|(_, v)| v)
    }

    /// The OIDC issuer URL (workload identity), once AKS has one.
    pub fn oidc_issuer_url(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .oidc_issuer_profile
            .as_ref()?
            .issuer_url
            .as_deref()
    }

    pub fn agent_pools(&self) -> &[AgentPoolProfile] {
        self.properties
            .as_ref()
            .and_then(|p| p.agent_pool_profiles.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_values_survive() {
        let v = serde_json::json!({
            "name": "c", "location": "eastus", "futureTopLevel": {"x": 1},
            "sku": {"name": "Automatic", "tier": "Premium"},
            "properties": {
                "provisioningState": "SomethingNew",
                "agentPoolProfiles": [{"name": "sys", "mode": "Gateway", "futurePoolField": true}],
                "networkProfile": {"networkPlugin": "cilium-next", "newThing": [1]},
                "brandNewProfile": {}
            }
        });
        let c: ManagedCluster = serde_json::from_value(v.clone()).expect("parses");
        assert_eq!(c.provisioning_state(), Some("SomethingNew"));
        assert_eq!(
            c.agent_pools()[0].properties.mode.as_deref(),
            Some("Gateway")
        );
        assert!(c.other.contains_key("futureTopLevel"));
        assert!(
            c.agent_pools()[0]
                .properties
                .other
                .contains_key("futurePoolField")
        );
        assert_eq!(serde_json::to_value(&c).expect("json"), v);
    }
}
