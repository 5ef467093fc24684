//! ProxyConfig: outbound proxy settings, as a Private Cloud Gateway provides them.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, DeletionPolicy, DriftRecord, KeyRef, ReconcilePolicy};
use super::schema::{CelRule, cel};
use crate::validation::{messages as msg, patterns};

/// The CEL rule on a proxy URL (the schema's pattern checks the scheme; a URL that fails it is
/// reported there only): a host, an optional port, no path, query or fragment — most clients
/// silently drop them. Kubernetes' URL library (Go's net/url); the message does not show the
/// URL, which may carry the proxy's credentials.
const PROXY_URL_RULES: &[CelRule] = &[CelRule::new(
    r"!self.matches('^https?://[^\\s]+$') || (isURL(self) && url(self).getHostname() != '' && url(self).getEscapedPath() in ['', '/'] && !self.contains('?') && !self.contains('#') && (url(self).getPort() == '' || (url(self).getPort().size() <= 5 && int(url(self).getPort()) <= 65535)))",
    msg::PROXY_URL_HOST,
)
.invalid()];

/// Spec of a ProxyConfig: the outbound proxy clusters in this namespace use.
///
/// Inherited by AKS clusters (httpProxyConfig), by IaaS clusters (containerd and kubelet proxy
/// drop-ins in the VM bootstrap data), and by pods labelled `spectrocloud.com/connection:
/// proxy`, which get HTTP(S)_PROXY / NO_PROXY (upper and lower case) and the CA bundle from
/// azop's mutating webhook. The effective noProxy always adds 169.254.169.254, 168.63.129.16,
/// localhost, 127.0.0.1, .svc, .cluster.local and the cluster's own CIDRs.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "azop.dev",
    version = "v1alpha1",
    kind = "ProxyConfig",
    namespaced,
    status = "ProxyConfigStatus",
    derive = "PartialEq",
    shortname = "pxc",
    category = "azop",
    doc = "Outbound proxy settings (http, https, noProxy, CA) that clusters and labelled pods inherit.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the settings are valid and distributed"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "HTTPS Proxy",
        type_ = "string",
        json_path = ".spec.httpsProxy",
        description = "Proxy for HTTPS traffic"
    ),
    printcolumn(
        name = "Default",
        type_ = "boolean",
        json_path = ".spec.default",
        description = "Namespace default"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new("has(self.httpProxy) || has(self.httpsProxy)", msg::PROXY_NEEDS_ONE)]))]
pub struct ProxyConfigSpec {
    /// Proxy for plain HTTP traffic, for example http://proxy.example.com:3128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::PROXY_URL), length(max = 2048))]
    #[schemars(transform = cel(PROXY_URL_RULES))]
    pub http_proxy: Option<String>,
    /// Proxy for HTTPS traffic, for example http://proxy.example.com:3128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::PROXY_URL), length(max = 2048))]
    #[schemars(transform = cel(PROXY_URL_RULES))]
    pub https_proxy: Option<String>,
    /// Hosts, domain suffixes (.example.com), IPs and CIDRs reached directly. azop adds the
    /// Azure metadata and wire-server addresses, localhost, the in-cluster domains and the
    /// cluster's CIDRs itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = patterns::NO_PROXY_ENTRY)), length(max = 500))]
    pub no_proxy: Vec<String>,
    /// CA bundle (PEM) the proxy's TLS certificates chain to.
    #[serde(rename = "trustedCA", default, skip_serializing_if = "Option::is_none")]
    pub trusted_ca: Option<TrustedCa>,
    /// Make this the namespace default that clusters without a proxyConfigRef inherit.
    #[serde(default)]
    pub default: bool,
    /// Manage (default): azop keeps the CA bundle ConfigMap it writes for this ProxyConfig
    /// as the spec says, putting it back when it is changed by hand (recorded in
    /// `status.drift`). DetectOnly: azop reports a ConfigMap that differs (condition
    /// `InSync`, `status.drift`, an Event) and does not write it. Nothing of a ProxyConfig is
    /// in Azure.
    #[serde(default, skip_serializing_if = "ReconcilePolicy::is_manage")]
    pub reconcile_policy: ReconcilePolicy,
    /// What deleting this ProxyConfig does to the CA bundle ConfigMap azop keeps for it (the
    /// one pods mount). Delete (default): it carries an owner reference and the garbage
    /// collector removes it with the ProxyConfig. Orphan: it carries none and stays, as it
    /// was last written. Nothing of a ProxyConfig is in Azure. Under `reconcilePolicy:
    /// DetectOnly` the ConfigMap is not rewritten, so a change here takes effect once back
    /// to Manage.
    #[serde(default, skip_serializing_if = "DeletionPolicy::is_delete")]
    pub deletion_policy: DeletionPolicy,
}

/// Where the CA bundle is: exactly one of secretRef or configMapRef.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new("has(self.secretRef) != has(self.configMapRef)", msg::TRUSTED_CA_ONE_SOURCE)]))]
pub struct TrustedCa {
    /// A key of a Secret in this namespace holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<KeyRef>,
    /// A key of a ConfigMap in this namespace holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<KeyRef>,
}

/// Observed state of a ProxyConfig.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfigStatus {
    /// Conditions, observed generation and phase.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Objects that use these settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ProxyConsumer>,
    /// noProxy after azop's additions (without any cluster's own CIDRs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effective_no_proxy: Vec<String>,
    /// The CA bundle ConfigMap found different from what azop writes: Detected (DetectOnly)
    /// or Corrected (Manage, the last 10, newest first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftRecord>,
}

/// An object using a ProxyConfig.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConsumer {
    /// Kind: AzureCluster or AksCluster; for injected pods the kind of the pods' controller
    /// (ReplicaSet, StatefulSet, DaemonSet, Job), or Pod for a pod nothing controls.
    pub kind: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// Clusters: the noProxy list this cluster gets, with its own CIDRs and API server host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}
