//! Pieces shared by the kinds: where in Azure an object lives, references, and status parts.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::{CelRule, cel, list_map, tags};
use crate::validation::{messages as msg, patterns};

/// CEL rules every kind with an [`AzureScope`] carries on its spec: where an object lives in
/// Azure never changes.
pub(crate) const SCOPE_RULES: &[CelRule] = &[
    CelRule::new(
        "self.subscriptionId == oldSelf.subscriptionId",
        msg::SUBSCRIPTION_ID_IMMUTABLE,
    )
    .at(".subscriptionId"),
    CelRule::new("self.location == oldSelf.location", msg::LOCATION_IMMUTABLE).at(".location"),
    CelRule::new(
        "self.resourceGroup == oldSelf.resourceGroup",
        msg::RESOURCE_GROUP_IMMUTABLE,
    )
    .at(".resourceGroup"),
];

/// CEL rules on a tag map: Azure's reserved prefixes, character set and value length, and
/// azop's own tag names (every key starting with [`crate::naming::OWN_TAG_PREFIX`]). Each message names the first offending key, as the Rust check does.
/// (Keys that differ only in case are refused by the Rust check alone: comparing every pair
/// costs more than the API server allows a rule.)
pub(crate) const TAG_RULES: &[CelRule] = &[
    CelRule::new(
        "self.all(k, !k.lowerAscii().startsWith('azure') && !k.lowerAscii().startsWith('microsoft') && !k.lowerAscii().startsWith('windows'))",
        msg::TAG_RESERVED,
    )
    .show(r#"'tag key "' + self.filter(k, k.lowerAscii().startsWith('azure') || k.lowerAscii().startsWith('microsoft') || k.lowerAscii().startsWith('windows'))[0] + '" starts with a reserved prefix'"#),
    CelRule::new(
        r"self.all(k, k.size() >= 1 && k.size() <= 512 && !k.matches('[<>%&?/\\\\[:cntrl:]]'))",
        msg::TAG_KEY_CHARS,
    )
    .show(r#"'tag key "' + self.filter(k, k.size() < 1 || k.size() > 512 || k.matches('[<>%&?/\\\\[:cntrl:]]'))[0] + '"'"#),
    CelRule::new("self.all(k, self[k].size() <= 256)", msg::TAG_VALUE_LENGTH)
        .show(r#"'value of tag "' + self.filter(k, self[k].size() > 256)[0] + '"'"#),
    CelRule::new(
        "self.all(k, !k.lowerAscii().startsWith('azop.dev_'))",
        msg::TAG_KEY_AZOP,
    )
    .show(r#"'tag key "' + self.filter(k, k.lowerAscii().startsWith('azop.dev_'))[0] + '"'"#),
];

/// CEL, on a spec with tags, for resources that are private DNS zones or VNet links (a
/// StorageBinding's private endpoint, an AKS private cluster): at most 13 user tags, keys
/// without spaces, special characters or a leading digit. `when` is the CEL condition under
/// which the tags reach such a zone.
macro_rules! dns_zone_tag_rule {
    ($when:expr) => {
        crate::v1alpha1::schema::CelRule::new(
            concat!(
                "!(",
                $when,
                ") || !has(self.tags) || (self.tags.size() <= 13 && self.tags.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_.-]*$')))"
            ),
            crate::validation::messages::DNS_ZONE_TAGS,
        )
        .at(".tags")
    };
}
pub(crate) use dns_zone_tag_rule;

/// CEL on a pool's node labels: Kubernetes' syntax for keys (qualified names) and values.
pub(crate) const LABEL_RULES: &[CelRule] = &[
    CelRule::new(
        r"self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && (!k.contains('/') || k.split('/')[0].size() <= 253))",
        msg::LABEL_KEY,
    )
    .show(r#"'label key "' + self.filter(k, !k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') || (k.contains('/') && k.split('/')[0].size() > 253))[0] + '" is invalid'"#),
    CelRule::new(
        r"self.all(k, self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'))",
        msg::LABEL_VALUE,
    )
    .show(r#"'value of label "' + self.filter(k, !self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$'))[0] + '" is invalid'"#),
];

/// CEL on labels kubelet sets with `--node-labels` (AzureCluster): nothing in the
/// kubernetes.io and k8s.io namespaces but what kubelet may set
/// ([`crate::validation::labels::kubelet_may_set`]).
pub(crate) const KUBELET_LABEL_RULES: &[CelRule] = &[CelRule::new(
    "self.all(k, !k.contains('/') || !k.split('/')[0].matches('(^|[.])(kubernetes|k8s)[.]io$') || k.split('/')[0].matches('(^|[.])(kubelet|node)[.]kubernetes[.]io$') || k in ['kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region', 'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type', 'kubernetes.io/os', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch'])",
    msg::KUBELET_LABEL,
)
.show(r#"'label "' + self.filter(k, k.contains('/') && k.split('/')[0].matches('(^|[.])(kubernetes|k8s)[.]io$') && !k.split('/')[0].matches('(^|[.])(kubelet|node)[.]kubernetes[.]io$') && !(k in ['kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region', 'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type', 'kubernetes.io/os', 'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch']))[0] + '"'"#)];

/// Where in Azure an object's resources live and whose identity azop uses to manage them.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureScope {
    /// Secret in the same namespace holding the service principal azop uses for this object:
    /// keys `tenantId`, `clientId`, and either `clientSecret` or `federatedTokenFile`; optional
    /// `cloud` (AzurePublicCloud, AzureUSGovernmentCloud or AzureChinaCloud). Without it the
    /// operator's own workload or managed identity is used. A Secret in another namespace can
    /// never be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<SecretRef>,
    /// Azure subscription id (a GUID) the resources are created in. Immutable.
    #[schemars(regex(pattern = patterns::GUID))]
    pub subscription_id: String,
    /// Azure region, as ARM spells it (`westeurope`, `eastus2`). Immutable.
    #[schemars(regex(pattern = patterns::LOCATION))]
    pub location: String,
    /// Resource group the resources are created in. It must exist unless
    /// `createResourceGroup` is true. Immutable.
    #[schemars(regex(pattern = patterns::RESOURCE_GROUP), length(max = 90))]
    pub resource_group: String,
    /// Let azop create the resource group and own it: it is deleted with this object, but only
    /// if azop created it (it carries azop's uid tag). Default false: the group must exist.
    #[serde(default)]
    pub create_resource_group: bool,
    /// Tags applied to every Azure resource azop creates for this object, next to azop's own
    /// `azop.dev_owner` and `azop.dev_uid`. Keys starting (case-insensitively) with azure,
    /// microsoft or windows are reserved by Azure and refused, and so are keys starting with
    /// `azop.dev_` (azop's own marks, `azop.dev_shared` included). At most 48 tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = cel(TAG_RULES), transform = tags)]
    pub tags: BTreeMap<String, String>,
    /// Manage (default): azop creates what is missing, corrects what differs from the spec and
    /// deletes what it created when the object goes; each correction is recorded in
    /// `status.drift`. DetectOnly: azop reads Azure and reports what differs (condition
    /// `InSync`, `status.drift`, an Event) but writes nothing to Azure — no create, update or
    /// delete, also not when the object is deleted (whatever `deletionPolicy` says: even
    /// azop's ownership tags stay). Switching back to Manage corrects the drift on the next
    /// pass.
    #[serde(default, skip_serializing_if = "ReconcilePolicy::is_manage")]
    pub reconcile_policy: ReconcilePolicy,
    /// What deleting this object does in Azure. Delete (default): every resource azop created
    /// for it (those carrying its uid tag) is deleted, then the finalizer is removed. Orphan:
    /// nothing is deleted or changed except azop's ownership marks (the `azop.dev_owner` and
    /// `azop.dev_uid` tags, a blob's or container's `azop_owner`/`azop_uid` metadata), then the
    /// finalizer is removed. May be changed at any time, also just before deleting. Under
    /// `reconcilePolicy: DetectOnly` neither applies: nothing in Azure is written at all.
    #[serde(default, skip_serializing_if = "DeletionPolicy::is_delete")]
    pub deletion_policy: DeletionPolicy,
}

/// What deleting a Kubernetes object does to what azop made for it.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete what azop created for the object.
    #[default]
    Delete,
    /// Keep it: remove only azop's ownership marks.
    Orphan,
}

impl DeletionPolicy {
    pub fn is_delete(&self) -> bool {
        *self == DeletionPolicy::Delete
    }
}

/// Whether azop corrects Azure or only reports how it differs from the spec.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReconcilePolicy {
    /// Create, correct and delete.
    #[default]
    Manage,
    /// Observe and report drift; write nothing.
    DetectOnly,
}

impl ReconcilePolicy {
    pub fn is_manage(&self) -> bool {
        *self == ReconcilePolicy::Manage
    }
}

/// The condition that says whether Azure matches the spec (drift), next to `Ready`.
pub const IN_SYNC: &str = "InSync";

/// Whether a drift record is still there or was corrected.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DriftState {
    /// Found and left as it is (DetectOnly).
    Detected,
    /// Found and corrected by azop (Manage).
    Corrected,
}

/// One property of a resource that differs from the spec.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftChange {
    /// JSON path in the resource (`properties.hardwareProfile.vmSize`, `tags`), or
    /// `resource` when the whole resource is missing.
    pub path: String,
    /// What Azure has (`absent` for a missing resource).
    pub azure: String,
    /// What the spec asks for.
    pub spec: String,
}

/// A resource azop found different from the spec: left as it is (DetectOnly) or corrected
/// (Manage).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    /// ARM resource type (or what a custom step makes, such as a Secret).
    pub kind: String,
    /// Name of the resource.
    pub name: String,
    /// What differs.
    pub changes: Vec<DriftChange>,
    /// Detected or Corrected.
    pub state: DriftState,
    /// When azop first found it.
    pub detected_at: Time,
    /// When azop sent the correction (Corrected only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_at: Option<Time>,
}

/// Reference to a Secret in the same namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret, in the same namespace as this object.
    #[schemars(regex(pattern = patterns::OBJECT_NAME), length(min = 1, max = 253))]
    pub name: String,
}

/// Reference to another azop object in the same namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the same namespace as this object.
    #[schemars(regex(pattern = patterns::OBJECT_NAME), length(min = 1, max = 253))]
    pub name: String,
}

/// Reference to one key of a Secret or ConfigMap in the same namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// Name of the Secret or ConfigMap, in the same namespace as this object.
    #[schemars(regex(pattern = patterns::OBJECT_NAME), length(min = 1, max = 253))]
    pub name: String,
    /// Key within it.
    #[schemars(regex(pattern = patterns::DATA_KEY), length(min = 1, max = 253))]
    pub key: String,
}

/// Lifecycle phase of an object, as users of Palette know it.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing created yet (waiting for a dependency or the first reconcile).
    Pending,
    /// Azure resources are being created.
    Provisioning,
    /// Everything exists and matches the spec.
    Running,
    /// A spec change is being applied to existing resources.
    Updating,
    /// The object is being deleted and its Azure resources removed.
    Deleting,
    /// Reconciling stopped on an error that needs a change (see the conditions).
    Failed,
}

/// Fields every kind's status carries.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// Conditions, one per part of the object, plus `Ready` rolled up from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = list_map("type"))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase: Pending, Provisioning, Running, Updating, Deleting or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

/// The status every Azure-backed kind embeds (flattened, so its fields sit at the top of
/// `status`): conditions, observed generation and phase, the Azure names fixed before the first
/// PUT, the resources with their ids and states, and the operations in flight. One type, so the
/// reconcile engine reads and writes the same fields for every kind.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureStatus {
    /// Conditions, observed generation and phase.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Azure names of the resources azop creates, by role. Fixed and written before the first
    /// PUT so a reconcile killed at any point never leaves an orphan under another name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub azure_names: BTreeMap<String, String>,
    /// Every Azure resource azop manages (or uses) for the object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<AzureResourceStatus>,
    /// ARM operations in flight, so a restarted operator resumes polling them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ArmOperation>,
    /// Where Azure differs from the spec: with DetectOnly what differs now (Detected), and
    /// the last corrections azop made (Corrected, at most 10, newest first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftRecord>,
}

/// One Azure resource azop manages for an object.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureResourceStatus {
    /// ARM resource type, for example `Microsoft.Network/virtualNetworks`.
    pub kind: String,
    /// Azure name of the resource.
    pub name: String,
    /// Full ARM resource id, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Last observed state, for example the ARM `provisioningState` (`Succeeded`, `Creating`,
    /// `Failed`), `Missing`, `NotOwned`, or `Existing` (a resource azop uses but did not create
    /// and never deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// What an in-flight ARM operation does.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArmAction {
    /// A create or update (PUT).
    Put,
    /// A DELETE.
    Delete,
}

/// An ARM long-running operation azop started and still polls. Kept in status so a restarted
/// operator resumes polling instead of sending the request again.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArmOperation {
    /// ARM id of the resource the operation acts on.
    pub resource_id: String,
    /// `put` or `delete`.
    pub action: ArmAction,
    /// The URL to poll (`Azure-AsyncOperation` or `Location` header of the response).
    pub url: String,
    /// How the URL is polled: `AzureAsyncOperation` (a status resource), `Location` (202
    /// until done) or `ProvisioningState` (the resource itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the request was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// After this instant the operation counts as timed out and the step is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Time>,
}

/// CEL: the version in `self` is not lower than the one in `oldSelf`. Versions are `1.33` or
/// `1.33.2`; the patch is compared only when both sides give one, so `1.33.2` → `1.33` is
/// not a downgrade. (CEL's semver library came with Kubernetes 1.33; azop supports 1.31.)
pub(crate) const VERSION_NOT_LOWER: &str = "int(self.split('.')[0]) > int(oldSelf.split('.')[0]) || (int(self.split('.')[0]) == int(oldSelf.split('.')[0]) && (int(self.split('.')[1]) > int(oldSelf.split('.')[1]) || (int(self.split('.')[1]) == int(oldSelf.split('.')[1]) && (self.split('.').size() < 3 || oldSelf.split('.').size() < 3 || int(self.split('.')[2]) >= int(oldSelf.split('.')[2])))))";

/// The CEL rule on a `kubernetesVersion` field: never lowered.
pub(crate) const VERSION_RULES: &[CelRule] =
    &[CelRule::new(VERSION_NOT_LOWER, msg::VERSION_DOWNGRADE)
        .show(r#"'"' + self + '" is lower than "' + oldSelf + '"'"#)];

/// The CEL rule on an IPv4 CIDR field (the schema's pattern checks the form): written with
/// its network address. `cidr()` is the Kubernetes 1.31 CIDR library; `masked()` clears the
/// host bits. The message shows the value but not the masked form the Rust check suggests:
/// the API server's cost estimate of `string(<cidr>)` is unbounded and it refuses the CRD.
pub(crate) const CIDR_RULES: &[CelRule] = &[CelRule::new(
    "!isCIDR(self) || cidr(self) == cidr(self).masked()",
    msg::CIDR_HOST_BITS,
)
.show(r#"'"' + self + '" has host bits set'"#)
.invalid()];

/// The longest IPv4 CIDR, `255.255.255.255/32`: the schema's `maxLength`, which also bounds
/// what the CEL rules reading a CIDR may cost.
pub(crate) const CIDR_MAX_LENGTH: u32 = 18;
/// The longest IPv4 address, `255.255.255.255`.
pub(crate) const IPV4_MAX_LENGTH: u32 = 15;
