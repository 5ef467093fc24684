//! The AKS control plane of an AksCluster (`spec.managedControlPlane`), with the keys Palette's
//! AKS cluster profiles use (they follow Cluster API Provider Azure's AzureManagedControlPlane),
//! so a Palette `managedControlPlane` block pasted in works unchanged. Where neither has a key,
//! the field is named as AKS's REST API names it. docs/palette-aks.md maps every key.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::{CelRule, cel, list_map, list_set};
use crate::validation::{messages as msg, patterns};

// Whether local accounts are disabled, and whether either key says so: Palette's
// `aadProfile.disableLocalAccounts` first, then the older `disableLocalAccounts`.
macro_rules! local_accounts_set {
    ($x:literal) => {
        concat!(
            "((has(",
            $x,
            ".aadProfile) && has(",
            $x,
            ".aadProfile.disableLocalAccounts)) || has(",
            $x,
            ".disableLocalAccounts))"
        )
    };
}
macro_rules! local_accounts_value {
    ($x:literal) => {
        concat!(
            "(has(",
            $x,
            ".aadProfile) && has(",
            $x,
            ".aadProfile.disableLocalAccounts) ? ",
            $x,
            ".aadProfile.disableLocalAccounts : (has(",
            $x,
            ".disableLocalAccounts) && ",
            $x,
            ".disableLocalAccounts))"
        )
    };
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
        "!has(self.disableLocalAccounts) || !has(self.aadProfile) || !has(self.aadProfile.disableLocalAccounts) || self.disableLocalAccounts == self.aadProfile.disableLocalAccounts",
        msg::LOCAL_ACCOUNTS_CONFLICT,
    )
    .at(".aadProfile.disableLocalAccounts"),
    // Either key may carry the setting (moving it from the old key to Palette's is fine); what
    // it says cannot change.
    CelRule::new(
        concat!(
            "!",
            local_accounts_set!("oldSelf"),
            " || (",
            local_accounts_set!("self"),
            " && ",
            local_accounts_value!("self"),
            " == ",
            local_accounts_value!("oldSelf"),
            ")"
        ),
        msg::LOCAL_ACCOUNTS_IMMUTABLE,
    )
    .at(".disableLocalAccounts"),
    CelRule::new(
        "!has(self.kubeletUserAssignedIdentity) || (has(self.identity) && self.identity.type == 'UserAssigned')",
        msg::KUBELET_IDENTITY_NEEDS_USER_ASSIGNED,
    )
    .at(".kubeletUserAssignedIdentity"),
    CelRule::new(
        "!has(self.securityProfile) || !has(self.securityProfile.workloadIdentity) || !self.securityProfile.workloadIdentity.enabled || !has(self.oidcIssuerProfile) || self.oidcIssuerProfile.enabled",
        msg::WORKLOAD_IDENTITY_NEEDS_OIDC,
    )
    .at(".securityProfile.workloadIdentity"),
    CelRule::new(
        "!has(self.maintenanceWindows) || !has(self.maintenanceWindows.autoUpgrade) || (has(self.autoUpgradeProfile) && has(self.autoUpgradeProfile.upgradeChannel) && self.autoUpgradeProfile.upgradeChannel != 'none')",
        msg::MAINTENANCE_AUTO_UPGRADE_CHANNEL,
    )
    .at(".maintenanceWindows.autoUpgrade"),
    CelRule::new(
        "!has(self.maintenanceWindows) || !has(self.maintenanceWindows.nodeOSUpgrade) || !has(self.autoUpgradeProfile) || !has(self.autoUpgradeProfile.nodeOSUpgradeChannel) || self.autoUpgradeProfile.nodeOSUpgradeChannel in ['NodeImage', 'SecurityPatch']",
        msg::MAINTENANCE_NODE_OS_CHANNEL,
    )
    .at(".maintenanceWindows.nodeOSUpgrade"),
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
    /// Entra ID (AAD) integration: AKS-managed Entra ID, by default with Azure RBAC for
    /// Kubernetes authorization (as Cluster API Provider Azure sets it); the admin groups get
    /// cluster-admin. Once set it cannot be removed, `managed` cannot go from true to false
    /// and the admin group list cannot become empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_profile: Option<AadProfile>,
    /// Deprecated: use `aadProfile.disableLocalAccounts` (Palette's key), which wins; both
    /// may be set only to the same value. Kept so existing manifests keep working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_accounts: Option<bool>,
    /// AKS add-ons by name (azurepolicy, omsagent, azureKeyvaultSecretsProvider), as
    /// Palette and Cluster API Provider Azure list them. An add-on not listed is left as AKS
    /// has it; `enabled: false` turns one off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = list_map("name"), length(max = 8))]
    pub addon_profiles: Vec<AddonProfile>,
    /// Event-driven (KEDA) and vertical (VPA) pod autoscaling, as AKS add-ons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_auto_scaler_profile: Option<WorkloadAutoScalerProfile>,
    /// Settings of the cluster autoscaler (for every pool with `autoscale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_profile: Option<AutoscalerProfile>,
    /// The control plane's managed identity: SystemAssigned (default) or UserAssigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ControlPlaneIdentity>,
    /// User-assigned identity the kubelets use (pulling from Azure Container Registry, for
    /// example). Needs `identity.type: UserAssigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::USER_ASSIGNED_IDENTITY_ID), length(max = 1024))]
    pub kubelet_user_assigned_identity: Option<String>,
    /// The OIDC issuer (for workload identity federation). On unless set to false at
    /// creation; AKS cannot turn it off once on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_issuer_profile: Option<OidcIssuerProfile>,
    /// Security settings: Microsoft Entra Workload ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<SecurityProfile>,
    /// Planned maintenance: when automatic upgrades may run. Each window is AKS's
    /// maintenance configuration of that name; a window removed from the spec is removed
    /// from AKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_windows: Option<MaintenanceWindows>,
}

impl ManagedControlPlane {
    /// Whether local accounts are disabled: `aadProfile.disableLocalAccounts` (Palette's key),
    /// else the deprecated `disableLocalAccounts`.
    pub fn local_accounts_disabled(&self) -> Option<bool> {
        self.aad_profile
            .as_ref()
            .and_then(|a| a.disable_local_accounts)
            .or(self.disable_local_accounts)
    }

    /// Whether the OIDC issuer is on (default: on).
    pub fn oidc_issuer_enabled(&self) -> bool {
        self.oidc_issuer_profile.as_ref().is_none_or(|o| o.enabled)
    }
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
    /// Azure RBAC for Kubernetes authorization: Entra role assignments decide what users may
    /// do in the cluster. Default true (as Cluster API Provider Azure sets it); false leaves
    /// authorization to Kubernetes RBAC bindings. Can change at any time.
    #[serde(
        rename = "enableAzureRBAC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_azure_rbac: Option<bool>,
    /// No static (local) admin credentials: only Entra ID sign-in, so azop writes no
    /// `<name>-kubeconfig` admin Secret, only `<name>-kubeconfig-user` (Palette's key).
    /// Cannot change once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_local_accounts: Option<bool>,
}

// The config keys each add-on accepts, checked where AKS would refuse them.
const ADDON_RULES: &[CelRule] = &[
    CelRule::new(
        "self.name != 'azurepolicy' || !has(self.config) || self.config.all(k, k == 'version' && self.config[k] == 'v2')",
        msg::AZURE_POLICY_CONFIG,
    )
    .at(".config"),
    CelRule::new(
        concat!(
            "self.name != 'omsagent' || ((!self.enabled || (has(self.config) && 'logAnalyticsWorkspaceResourceID' in self.config)) && (!has(self.config) || self.config.all(k, (k == 'logAnalyticsWorkspaceResourceID' && self.config[k].matches('",
            r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft[.]OperationalInsights/workspaces/[^/]+$",
            "')) || (k == 'useAADAuth' && self.config[k] in ['true', 'false']))))"
        ),
        msg::MONITORING_CONFIG,
    )
    .at(".config"),
    CelRule::new(
        "self.name != 'azureKeyvaultSecretsProvider' || !has(self.config) || self.config.all(k, (k == 'enableSecretRotation' && self.config[k] in ['true', 'false']) || (k == 'rotationPollInterval' && self.config[k].matches('^[0-9]{1,6}(s|m|h)$')))",
        msg::KEY_VAULT_CONFIG,
    )
    .at(".config"),
];

/// One AKS add-on, as Palette and Cluster API Provider Azure list them.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(ADDON_RULES))]
pub struct AddonProfile {
    /// azurepolicy (Azure Policy for Kubernetes), omsagent (Container Insights monitoring)
    /// or azureKeyvaultSecretsProvider (the Key Vault CSI driver).
    pub name: AddonName,
    /// On or off. Turning one off keeps nothing of it in the cluster.
    pub enabled: bool,
    /// The add-on's settings: azurepolicy takes `version: v2` at most; omsagent needs
    /// `logAnalyticsWorkspaceResourceID` (and takes `useAADAuth`); azureKeyvaultSecretsProvider
    /// takes `enableSecretRotation` and `rotationPollInterval`.
    /// Values are at most 1024 characters (a bound the API server's CEL cost budget needs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 8, "additionalProperties" = {"type": "string", "maxLength": 1024}))]
    pub config: BTreeMap<String, String>,
}

/// The AKS add-ons azop manages.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum AddonName {
    /// Azure Policy for Kubernetes (Gatekeeper): policy assignments enforced in the cluster.
    #[serde(rename = "azurepolicy")]
    AzurePolicy,
    /// Container Insights: logs and metrics into a Log Analytics workspace.
    #[serde(rename = "omsagent")]
    Monitoring,
    /// Secrets Store CSI driver with the Azure Key Vault provider.
    #[serde(rename = "azureKeyvaultSecretsProvider")]
    KeyVaultSecretsProvider,
}

impl AddonName {
    /// The add-on's key in AKS's `addonProfiles`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddonName::AzurePolicy => "azurepolicy",
            AddonName::Monitoring => "omsagent",
            AddonName::KeyVaultSecretsProvider => "azureKeyvaultSecretsProvider",
        }
    }
}

/// Workload autoscaling add-ons.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadAutoScalerProfile {
    /// KEDA, event-driven autoscaling (scale on queue length, events, schedules; to zero).
    /// Needs Kubernetes 1.26 or newer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keda: Option<Toggle>,
    /// The Vertical Pod Autoscaler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical_pod_autoscaler: Option<Toggle>,
}

/// A feature that is on or off.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Toggle {
    /// On or off.
    pub enabled: bool,
}

/// The OIDC issuer.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcIssuerProfile {
    /// Publish an OIDC issuer. Once true, it cannot go back to false.
    pub enabled: bool,
}

/// Security settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfile {
    /// Microsoft Entra Workload ID: pods exchange service account tokens for Entra tokens.
    /// Needs the OIDC issuer. Can be turned on and off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<Toggle>,
}

/// The control plane's managed identity.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "(self.type == 'UserAssigned') == has(self.userAssignedIdentityResourceID)",
    msg::IDENTITY_RESOURCE_ID,
)
.at(".userAssignedIdentityResourceID")]))]
pub struct ControlPlaneIdentity {
    /// SystemAssigned: AKS creates and manages the identity. UserAssigned: the identity named
    /// by userAssignedIdentityResourceID (give it the roles the cluster needs beforehand).
    #[serde(rename = "type")]
    pub type_: IdentityType,
    /// Resource id of the user-assigned identity; only with type UserAssigned.
    #[serde(
        rename = "userAssignedIdentityResourceID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = patterns::USER_ASSIGNED_IDENTITY_ID), length(max = 1024))]
    pub user_assigned_identity_resource_id: Option<String>,
}

/// Managed identity kinds.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IdentityType {
    /// An identity AKS creates and deletes with the cluster.
    SystemAssigned,
    /// An identity that exists on its own.
    UserAssigned,
}

/// Settings of the cluster autoscaler, with Cluster API Provider Azure's keys (AKS spells
/// them in kebab-case). Each is a string, as AKS takes them; unset ones keep AKS's defaults.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerProfile {
    /// Balance similar node pools ("true" or "false").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_similar_node_groups: Option<StringBool>,
    /// least-waste, most-pods, priority or random (AKS's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expander: Option<Expander>,
    /// Most empty nodes deleted at once (a whole number; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::COUNT))]
    pub max_empty_bulk_delete: Option<String>,
    /// Seconds to wait for pods to end on scale-down (a whole number; default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::COUNT))]
    pub max_graceful_termination_sec: Option<String>,
    /// How long a node may take to come up (whole minutes, `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub max_node_provision_time: Option<String>,
    /// Unready nodes (percent, 0-100) above which the autoscaler stops (default 45).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::PERCENTAGE))]
    pub max_total_unready_percentage: Option<String>,
    /// Ignore pending pods younger than this (`0s`, `30s`, `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::DURATION))]
    pub new_pod_scale_up_delay: Option<String>,
    /// Unready nodes allowed whatever the percentage (a whole number; default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::COUNT))]
    pub ok_total_unready_count: Option<String>,
    /// How often the cluster is evaluated (whole seconds, `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SECONDS))]
    pub scan_interval: Option<String>,
    /// Scale-down pause after a scale-up (whole minutes, `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub scale_down_delay_after_add: Option<String>,
    /// Scale-down pause after a node deletion (whole minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub scale_down_delay_after_delete: Option<String>,
    /// Scale-down pause after a failed scale-down (whole minutes, `3m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub scale_down_delay_after_failure: Option<String>,
    /// How long a node must be unneeded before removal (whole minutes, `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub scale_down_unneeded_time: Option<String>,
    /// How long an unready node must be unneeded before removal (whole minutes, `20m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MINUTES))]
    pub scale_down_unready_time: Option<String>,
    /// Utilization below which a node may be removed (0 to 1, `0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::FRACTION))]
    pub scale_down_utilization_threshold: Option<String>,
    /// Keep nodes with pods using local storage ("true" or "false").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_nodes_with_local_storage: Option<StringBool>,
    /// Keep nodes running kube-system pods ("true" or "false").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_nodes_with_system_pods: Option<StringBool>,
}

impl AutoscalerProfile {
    /// Every setting that is set, by AKS's key, with its value (pure).
    pub fn aks_settings(&self) -> BTreeMap<&'static str, String> {
        let b = |v: &Option<StringBool>| v.map(|b| b.as_str().to_string());
        [
            (
                "balance-similar-node-groups",
                b(&self.balance_similar_node_groups),
            ),
            ("expander", self.expander.map(|e| e.as_str().to_string())),
            ("max-empty-bulk-delete", self.max_empty_bulk_delete.clone()),
            (
                "max-graceful-termination-sec",
                self.max_graceful_termination_sec.clone(),
            ),
            (
                "max-node-provision-time",
                self.max_node_provision_time.clone(),
            ),
            (
                "max-total-unready-percentage",
                self.max_total_unready_percentage.clone(),
            ),
            (
                "new-pod-scale-up-delay",
                self.new_pod_scale_up_delay.clone(),
            ),
            (
                "ok-total-unready-count",
                self.ok_total_unready_count.clone(),
            ),
            ("scan-interval", self.scan_interval.clone()),
            (
                "scale-down-delay-after-add",
                self.scale_down_delay_after_add.clone(),
            ),
            (
                "scale-down-delay-after-delete",
                self.scale_down_delay_after_delete.clone(),
            ),
            (
                "scale-down-delay-after-failure",
                self.scale_down_delay_after_failure.clone(),
            ),
            (
                "scale-down-unneeded-time",
                self.scale_down_unneeded_time.clone(),
            ),
            (
                "scale-down-unready-time",
                self.scale_down_unready_time.clone(),
            ),
            (
                "scale-down-utilization-threshold",
                self.scale_down_utilization_threshold.clone(),
            ),
            (
                "skip-nodes-with-local-storage",
                b(&self.skip_nodes_with_local_storage),
            ),
            (
                "skip-nodes-with-system-pods",
                b(&self.skip_nodes_with_system_pods),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// "true" or "false", as a string (how AKS and Cluster API Provider Azure take it).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StringBool {
    /// Yes.
    #[serde(rename = "true")]
    True,
    /// No.
    #[serde(rename = "false")]
    False,
}

impl StringBool {
    pub fn as_str(self) -> &'static str {
        match self {
            StringBool::True => "true",
            StringBool::False => "false",
        }
    }
}

/// How the cluster autoscaler picks a pool to grow.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Expander {
    /// The pool left with the least idle CPU (then memory).
    LeastWaste,
    /// The pool that fits the most pending pods.
    MostPods,
    /// By the priorities of the autoscaler's priority ConfigMap.
    Priority,
    /// Any (AKS's default).
    Random,
}

impl Expander {
    pub fn as_str(self) -> &'static str {
        match self {
            Expander::LeastWaste => "least-waste",
            Expander::MostPods => "most-pods",
            Expander::Priority => "priority",
            Expander::Random => "random",
        }
    }
}

/// Planned maintenance windows, one per AKS-managed schedule.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "!has(self.autoUpgrade) || !has(self.autoUpgrade.schedule.daily)",
    msg::MAINTENANCE_DAILY_AUTO_UPGRADE,
)
.at(".autoUpgrade.schedule")]))]
pub struct MaintenanceWindows {
    /// When the upgrade channel's Kubernetes upgrades may run (AKS's
    /// `aksManagedAutoUpgradeSchedule`). Needs an upgradeChannel other than none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_upgrade: Option<MaintenanceWindow>,
    /// When node OS upgrades may run (AKS's `aksManagedNodeOSUpgradeSchedule`). Needs
    /// nodeOSUpgradeChannel NodeImage (the default) or SecurityPatch.
    #[serde(
        rename = "nodeOSUpgrade",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_os_upgrade: Option<MaintenanceWindow>,
}

/// One maintenance window, with AKS's keys.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// How it recurs: exactly one of daily, weekly, absoluteMonthly, relativeMonthly.
    pub schedule: MaintenanceSchedule,
    /// Length in hours, 4 to 24 (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4, max = 24))]
    pub duration_hours: Option<i32>,
    /// Offset of startTime and the dates from UTC, `+05:30` or `-07:00` (default `+00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::UTC_OFFSET))]
    pub utc_offset: Option<String>,
    /// First day the window applies (`YYYY-MM-DD`); default: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::DATE))]
    pub start_date: Option<String>,
    /// Start of the window, `HH:mm`.
    #[schemars(regex(pattern = patterns::TIME_OF_DAY))]
    pub start_time: String,
    /// Date ranges without maintenance (holidays, freezes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub not_allowed_dates: Vec<DateSpan>,
}

/// How a window recurs: exactly one of the four.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "(has(self.daily) ? 1 : 0) + (has(self.weekly) ? 1 : 0) + (has(self.absoluteMonthly) ? 1 : 0) + (has(self.relativeMonthly) ? 1 : 0) == 1",
    msg::MAINTENANCE_ONE_SCHEDULE,
)]))]
pub struct MaintenanceSchedule {
    /// Every intervalDays days (node OS upgrades only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<DailySchedule>,
    /// Every intervalWeeks weeks on dayOfWeek.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<WeeklySchedule>,
    /// Every intervalMonths months on dayOfMonth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_monthly: Option<AbsoluteMonthlySchedule>,
    /// Every intervalMonths months on the weekIndex dayOfWeek ("the first Monday").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_monthly: Option<RelativeMonthlySchedule>,
}

/// Every N days.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailySchedule {
    /// Days between windows, 1 to 7.
    #[schemars(range(min = 1, max = 7))]
    pub interval_days: i32,
}

/// Every N weeks on a day.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeeklySchedule {
    /// Weeks between windows, 1 to 4.
    #[schemars(range(min = 1, max = 4))]
    pub interval_weeks: i32,
    /// The day.
    pub day_of_week: WeekDay,
}

/// Every N months on a date.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbsoluteMonthlySchedule {
    /// Months between windows, 1 to 6.
    #[schemars(range(min = 1, max = 6))]
    pub interval_months: i32,
    /// Day of the month, 1 to 31.
    #[schemars(range(min = 1, max = 31))]
    pub day_of_month: i32,
}

/// Every N months on the Nth weekday.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelativeMonthlySchedule {
    /// Months between windows, 1 to 6.
    #[schemars(range(min = 1, max = 6))]
    pub interval_months: i32,
    /// First, Second, Third, Fourth or Last.
    pub week_index: WeekIndex,
    /// The day.
    pub day_of_week: WeekDay,
}

/// Days of the week.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WeekDay {
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
}

/// Which week of the month.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WeekIndex {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

/// A range of dates, both included.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new("self.start <= self.end", msg::MAINTENANCE_NOT_ALLOWED).at(".end")]))]
pub struct DateSpan {
    /// First day, `YYYY-MM-DD`.
    #[schemars(regex(pattern = patterns::DATE), length(max = 10))]
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    #[schemars(regex(pattern = patterns::DATE), length(max = 10))]
    pub end: String,
}
