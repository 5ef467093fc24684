//! Regular expressions shared by the OpenAPI schema (`pattern`), the CEL rules (`matches`) and
//! the Rust checks, so the three layers accept exactly the same strings.
//!
//! Every pattern is written in the common subset of Go's RE2 (the API server) and Rust's
//! `regex` crate: ASCII classes only, no look-around, no back-references.

/// A subscription id or an Entra object id: a GUID.
pub const GUID: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// An Azure region name as ARM spells it (`westeurope`, `eastus2`).
pub const LOCATION: &str = r"^[a-z][a-z0-9]{1,39}$";
/// A resource group name: 1–90 of letters, digits, `-`, `_`, `.`, `(`, `)`; not ending in `.`.
pub const RESOURCE_GROUP: &str = r"^[-a-zA-Z0-9_.()]{0,89}[-a-zA-Z0-9_()]$";
/// A Kubernetes object name (DNS-1123 subdomain), for Secret and ConfigMap references.
pub const OBJECT_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key inside a Secret or ConfigMap.
pub const DATA_KEY: &str = r"^[-._a-zA-Z0-9]+$";
/// A cluster name: lowercase alphanumerics and `-`, starting and ending alphanumeric.
pub const CLUSTER_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An IPv4 address.
pub const IPV4: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$";
/// An IPv4 CIDR block.
pub const CIDR_V4: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$";
/// An Azure VM size (`Standard_D4s_v5`).
pub const VM_SIZE: &str = r"^(Standard|Basic)_[A-Za-z0-9_-]+$";
/// A Kubernetes version without a leading `v`: `1.33` or `1.33.2`.
pub const KUBERNETES_VERSION: &str = r"^[1-9][0-9]*\.[0-9]+(\.[0-9]+)?$";
/// An OpenSSH public key of a type Azure Linux VMs accept.
pub const SSH_PUBLIC_KEY: &str = r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$";
/// An OpenSSH RSA public key (AKS accepts RSA only).
pub const SSH_RSA_PUBLIC_KEY: &str = r"^ssh-rsa [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$";
/// An IaaS worker pool name (it prefixes VM names).
pub const WORKER_POOL_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An AKS node pool name: lowercase alphanumerics starting with a letter, at most 12.
pub const AKS_POOL_NAME: &str = r"^[a-z][a-z0-9]{0,11}$";
/// An availability zone number.
pub const ZONE: &str = r"^[123]$";
/// A storage account name: 3–24 lowercase letters and digits.
pub const STORAGE_ACCOUNT_NAME: &str = r"^[a-z0-9]{3,24}$";
/// A blob container name: lowercase letters, digits and single hyphens, starting and ending
/// with a letter or digit (length 3–63 is checked separately).
pub const CONTAINER_NAME: &str = r"^[a-z0-9](-?[a-z0-9])*$";
/// A managed image resource id.
pub const MANAGED_IMAGE_ID: &str =
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/images/[^/]+$";
/// A subnet resource id.
pub const SUBNET_ID: &str = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$";
/// An Azure resource name for VNets, subnets and NSGs (1–80 characters).
pub const NETWORK_RESOURCE_NAME: &str = r"^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,78}[a-zA-Z0-9_])?$";
/// A proxy URL: http or https scheme followed by something.
pub const PROXY_URL: &str = r"^https?://[^\s]+$";
/// A VHD source URL.
pub const HTTP_URL: &str = r"^https?://[^\s]+$";
/// A `noProxy` entry: a host, domain suffix, IP or CIDR; no spaces or commas.
pub const NO_PROXY_ENTRY: &str = r"^[^\s,]+$";
/// A page-blob name for the VHD.
/// The length limit (1024) is the schema's maxLength: Go's regexp, which the API server uses,
/// refuses repeat counts above 1000.
pub const VHD_BLOB_NAME: &str = r"^[A-Za-z0-9][-A-Za-z0-9._/]*\.vhd$";
/// A user-assigned managed identity resource id (ARM ids are case-insensitive).
pub const USER_ASSIGNED_IDENTITY_ID: &str = r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$";
/// A Log Analytics workspace resource id (the portal often shows it lower-cased).
pub const LOG_ANALYTICS_WORKSPACE_ID: &str = r"(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/workspaces/[^/]+$";
/// An AKS node taint, `key=value:Effect` (the key may carry a DNS prefix). Written out again
/// in the CEL rule (`aks_taint_pattern!`), which needs a literal.
pub const AKS_TAINT: &str = crate::aks_taint_pattern!();
/// A surge: a whole number of nodes (1 or more) or a percentage from 1% to 100%.
pub const MAX_SURGE: &str = r"^([1-9][0-9]?%|100%|[1-9][0-9]{0,3})$";
/// A time of day, `HH:mm`.
pub const TIME_OF_DAY: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// A UTC offset from -12:00 to +14:00.
pub const UTC_OFFSET: &str =
    r"^(\+(0[0-9]|1[0-3]):[0-5][0-9]|\+14:00|-(0[0-9]|1[01]):[0-5][0-9]|-12:00)$";
/// A calendar date, `YYYY-MM-DD`.
pub const DATE: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
/// Whole minutes, as the cluster autoscaler's AKS settings take them (`10m`).
pub const MINUTES: &str = r"^[0-9]{1,6}m$";
/// Whole seconds (`10s`).
pub const SECONDS: &str = r"^[0-9]{1,6}s$";
/// A whole number.
pub const COUNT: &str = r"^[0-9]{1,6}$";
/// A duration with a unit of s, m or h (`30s`).
pub const DURATION: &str = r"^[0-9]{1,6}(s|m|h)$";
/// A fraction from 0 to 1 (`0.5`).
pub const FRACTION: &str = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$";
/// A whole percentage from 0 to 100.
pub const PERCENTAGE: &str = r"^([0-9]|[1-9][0-9]|100)$";
