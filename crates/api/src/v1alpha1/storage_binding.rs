//! StorageBinding: the storage account and container that hold the base VHD, and the managed
//! image made from it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AzureScope, AzureStatus, KeyRef, SCOPE_RULES, dns_zone_tag_rule};
use super::schema::{CelRule, cel, list_set};
use crate::validation::{messages as msg, patterns};

/// Container azop creates when `container.name` is not given.
pub const DEFAULT_CONTAINER_NAME: &str = "azop-vhds";
/// Blob name of the copied VHD when `vhd.blobName` is not given.
pub const DEFAULT_VHD_BLOB_NAME: &str = "base.vhd";

const SPEC_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(self.networkAccess) || !has(self.storageAccount) || !has(self.storageAccount.name)",
        msg::NETWORK_ACCESS_EXISTING_ACCOUNT,
    )
    .at(".networkAccess"),
    CelRule::new(
        "has(self.storageAccount) == has(oldSelf.storageAccount) && (!has(self.storageAccount) || self.storageAccount == oldSelf.storageAccount)",
        msg::STORAGE_ACCOUNT_IMMUTABLE,
    )
    .at(".storageAccount"),
    CelRule::new(
        "has(self.container) == has(oldSelf.container) && (!has(self.container) || self.container == oldSelf.container)",
        msg::CONTAINER_IMMUTABLE,
    )
    .at(".container"),
    CelRule::new(
        "!has(oldSelf.vhd) || (has(self.vhd) && self.vhd == oldSelf.vhd)",
        msg::VHD_IMMUTABLE,
    )
    .at(".vhd"),
    CelRule::new(
        "(has(self.networkAccess) && has(self.networkAccess.mode) && self.networkAccess.mode == 'Private') == (has(oldSelf.networkAccess) && has(oldSelf.networkAccess.mode) && oldSelf.networkAccess.mode == 'Private')",
        msg::PRIVATE_ACCESS_IMMUTABLE,
    )
    .at(".networkAccess"),
    // The tags go on the account azop creates, where a tag name has at most 128 characters.
    CelRule::new(
        "(has(self.storageAccount) && has(self.storageAccount.name)) || !has(self.tags) || self.tags.all(k, k.size() <= 128)",
        msg::STORAGE_TAG_KEY_LENGTH,
    )
    .at(".tags")
    .show(r#"'tag key "' + self.tags.filter(k, k.size() > 128)[0] + '"'"#),
    // ... and on the private DNS zone and its VNet link.
    dns_zone_tag_rule!(
        "has(self.networkAccess) && has(self.networkAccess.mode) && self.networkAccess.mode == 'Private'"
    ),
];

/// Spec of a StorageBinding: the storage account and container for the base VHD.
///
/// Default: azop creates a storage account with a generated name (deterministic from the
/// object's uid) and a container, owns both and deletes them with the binding. Custom:
/// `storageAccount.name` and/or `container.name` attach existing ones, which must exist
/// beforehand and are never deleted. Accounts azop creates always get secure defaults: HTTPS
/// only, TLS 1.2 minimum, no anonymous blob access.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "azop.dev",
    version = "v1alpha1",
    kind = "StorageBinding",
    namespaced,
    status = "StorageBindingStatus",
    derive = "PartialEq",
    shortname = "sb",
    category = "azop",
    doc = "The storage account and container that hold a base VHD, and the managed image made from it.",
    validation = Rule::new("self.metadata.name.size() <= 74").message(msg::STORAGE_BINDING_NAME_LENGTH),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the account, container, VHD and image are ready"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Account",
        type_ = "string",
        json_path = ".status.storageAccountName",
        description = "Storage account name"
    ),
    printcolumn(
        name = "VHD",
        type_ = "string",
        json_path = ".status.vhd.state",
        description = "VHD copy state"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(SCOPE_RULES), transform = cel(SPEC_RULES))]
pub struct StorageBindingSpec {
    /// Subscription, region, resource group, credentials and tags.
    #[serde(flatten)]
    pub azure: AzureScope,
    /// An existing storage account to use. Without it azop creates one with a generated name.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<StorageAccountRef>,
    /// An existing blob container to use. Without it azop creates `azop-vhds`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    /// Network access to an account azop creates: Public (default), VnetRestricted or Private.
    /// Not allowed with an existing account, which azop never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_access: Option<NetworkAccess>,
    /// The base VHD to copy into the container, server-side, as a page blob. A managed image is
    /// then created from it for AzureCluster machines to boot from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhd: Option<VhdSource>,
}

/// An existing storage account.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageAccountRef {
    /// Account name: 3-24 lowercase letters and digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::STORAGE_ACCOUNT_NAME), length(min = 3, max = 24))]
    pub name: Option<String>,
    /// Resource group of the account. Default: spec.resourceGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::RESOURCE_GROUP), length(max = 90))]
    pub resource_group: Option<String>,
}

/// An existing blob container.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRef {
    /// Container name: 3-63 lowercase letters, digits and single hyphens, starting and ending
    /// with a letter or digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CONTAINER_NAME), length(min = 3, max = 63))]
    pub name: Option<String>,
}

const NETWORK_ACCESS_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(self.mode) || self.mode != 'VnetRestricted' || (has(self.subnetIds) && self.subnetIds.size() > 0)",
        msg::RESTRICTED_NEEDS_SUBNETS,
    )
    .at(".subnetIds"),
    CelRule::new(
        "!has(self.mode) || self.mode != 'Private' || has(self.privateEndpointSubnetId)",
        msg::PRIVATE_NEEDS_ENDPOINT_SUBNET,
    )
    .at(".privateEndpointSubnetId"),
    CelRule::new(
        "(!has(self.subnetIds) || self.subnetIds.size() == 0 || (has(self.mode) && self.mode == 'VnetRestricted')) && (!has(self.privateEndpointSubnetId) || (has(self.mode) && self.mode == 'Private'))",
        msg::NETWORK_ACCESS_FIELDS,
    ),
];

/// Network access to the storage account.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(NETWORK_ACCESS_RULES))]
pub struct NetworkAccess {
    /// Public (default): reachable from anywhere over HTTPS. VnetRestricted: default action
    /// Deny plus VNet rules for subnetIds (each subnet needs the Microsoft.Storage service
    /// endpoint). Private: public network access disabled and a private endpoint in
    /// privateEndpointSubnetId (the Private Cloud Gateway case).
    #[serde(default)]
    pub mode: NetworkAccessMode,
    /// VnetRestricted only: subnets allowed to reach the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = patterns::SUBNET_ID)), transform = list_set, length(max = 100))]
    pub subnet_ids: Vec<String>,
    /// Private only: the subnet that receives the private endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SUBNET_ID), length(max = 1024))]
    pub private_endpoint_subnet_id: Option<String>,
}

/// Storage network access modes.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NetworkAccessMode {
    /// Reachable from anywhere over HTTPS.
    #[default]
    Public,
    /// Reachable only from the listed subnets.
    VnetRestricted,
    /// Reachable only through a private endpoint.
    Private,
}

/// The CEL rule on the VHD source URL (the schema's pattern checks the scheme; a URL that fails
/// it is reported there only): it has a host. Kubernetes' URL library (Go's net/url); the
/// message does not show the URL, which may carry a SAS token.
const VHD_SOURCE_URL_RULES: &[CelRule] = &[CelRule::new(
    r"!self.matches('^https?://[^\\s]+$') || (isURL(self) && url(self).getHostname() != '')",
    msg::VHD_SOURCE_URL,
)
.invalid()];

/// The VHD to copy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VhdSource {
    /// http(s) URL of the source VHD. A SAS token may come from sourceSasSecretRef instead of
    /// the URL, so it stays out of the object.
    #[schemars(regex(pattern = patterns::HTTP_URL), length(max = 4096))]
    #[schemars(transform = cel(VHD_SOURCE_URL_RULES))]
    pub source_url: String,
    /// Secret key holding a SAS token (without the leading `?`) appended to sourceUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sas_secret_ref: Option<KeyRef>,
    /// Name of the page blob in the container. Default base.vhd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::VHD_BLOB_NAME), length(max = 1024))]
    pub blob_name: Option<String>,
    /// Operating system of the VHD, for the managed image: Linux (default) or Windows.
    #[serde(default)]
    pub os_type: ImageOsType,
    /// Hyper-V generation of the VHD, for the managed image: V1 (default, as Azure's) or V2.
    /// It must match how the VHD was built; a Gen2 VHD booted as V1 does not start.
    #[serde(default)]
    pub hyper_v_generation: HyperVGeneration,
}

/// Operating system of a VHD.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ImageOsType {
    /// Linux.
    #[default]
    Linux,
    /// Windows.
    Windows,
}

/// Hyper-V generation of a VHD.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HyperVGeneration {
    /// Generation 1 (BIOS boot), Azure's default.
    #[default]
    V1,
    /// Generation 2 (UEFI boot).
    V2,
}

/// Observed state of a StorageBinding.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageBindingStatus {
    /// Conditions, observed generation, phase, Azure names (by role: `storageAccount`, `image`, `privateEndpoint`, ...), resources and
    /// operations in flight: the fields every Azure-backed kind shares.
    #[serde(flatten)]
    pub azure: AzureStatus,
    /// Name of the account in use (generated or given); written before the first PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account_name: Option<String>,
    /// Name of the container in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// True when azop created the account (and so deletes it with the binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_created_by_azop: Option<bool>,
    /// True when azop created the container (and so deletes it with the binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_created_by_azop: Option<bool>,
    /// Progress of the VHD copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhd: Option<VhdStatus>,
    /// ARM id of the managed image created from the VHD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

/// Progress of the server-side VHD copy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VhdStatus {
    /// Pending, Copying, Succeeded, Failed or Aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VhdCopyState>,
    /// Bytes copied so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_copied: Option<i64>,
    /// Size of the source VHD in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// Whole percent of the copy done (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// The copy's id, as the blob service reports it (`x-ms-copy-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_id: Option<String>,
    /// URL of the copied blob (without any SAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_url: Option<String>,
}

/// States of a blob copy.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum VhdCopyState {
    /// Not started.
    Pending,
    /// In progress.
    Copying,
    /// Done.
    Succeeded,
    /// Failed; see the conditions.
    Failed,
    /// Aborted.
    Aborted,
}
