//! AzureCluster: a Kubernetes cluster on Azure VMs (IaaS).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AzureScope, AzureStatus, CIDR_MAX_LENGTH, CIDR_RULES, KUBELET_LABEL_RULES, KeyRef, LABEL_RULES,
    LocalObjectRef, SCOPE_RULES, VERSION_RULES,
};
use super::schema::{CelRule, cel, list_map, list_set, node_labels};
use crate::validation::{messages as msg, patterns};

// CAPZ's defaults, which Palette users know. Macros so the CEL rules below (built with
// `concat!`) and the Rust constants spell them once.
macro_rules! default_vnet_cidr {
    () => {
        "10.0.0.0/8"
    };
}
macro_rules! default_control_plane_subnet_cidr {
    () => {
        "10.0.0.0/16"
    };
}
macro_rules! default_worker_subnet_cidr {
    () => {
        "10.1.0.0/16"
    };
}
macro_rules! default_pod_cidr {
    () => {
        "192.168.0.0/16"
    };
}
macro_rules! default_service_cidr {
    () => {
        "10.96.0.0/12"
    };
}
/// The pod address range when `clusterNetwork.podCidr` is not given (CAPZ's templates' and
/// Calico's).
pub const DEFAULT_POD_CIDR: &str = default_pod_cidr!();
/// The service address range when `clusterNetwork.serviceCidr` is not given (kubeadm's).
pub const DEFAULT_SERVICE_CIDR: &str = default_service_cidr!();
/// The VNet address space of dynamic placement when `vnetCidr` is not given (CAPZ's).
pub const DEFAULT_VNET_CIDR: &str = default_vnet_cidr!();
/// The control-plane subnet when its `cidr` is not given (CAPZ's).
pub const DEFAULT_CONTROL_PLANE_SUBNET_CIDR: &str = default_control_plane_subnet_cidr!();
/// The worker subnet when its `cidr` is not given (CAPZ's).
pub const DEFAULT_WORKER_SUBNET_CIDR: &str = default_worker_subnet_cidr!();
pub const DEFAULT_OS_DISK_SIZE_GIB: i32 = 60;
pub const API_SERVER_PORT: i32 = 6443;

/// CEL: every worker VM name, `<cluster>-<pool>-<index>`, fits Azure's 64 characters; the
/// index has as many digits as twice the replicas minus one
/// ([`crate::validation::highest_worker_index`]).
const WORKER_VM_NAME_RULE: &str = "!has(self.spec.workerPools) || self.spec.workerPools.all(p, self.metadata.name.size() + p.name.size() + 2 + (p.replicas >= 501 ? 4 : p.replicas >= 51 ? 3 : p.replicas >= 6 ? 2 : 1) <= 64)";

/// CEL: the VMs' tags, azop's own included, fit Azure's 2048 characters. 139 is what azop's
/// own two take besides the cluster's name ([`crate::validation::own_tag_chars`]).
const VM_TAGS_TOTAL_RULE: &str = "!has(self.spec.tags) || self.spec.tags.map(k, k.size() + self.spec.tags[k].size()).sum() + self.metadata.name.size() + 139 <= 2048";

/// Spec of an AzureCluster: a Kubernetes cluster on Azure VMs, its network, machines and image.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "azop.dev",
    version = "v1alpha1",
    kind = "AzureCluster",
    namespaced,
    status = "AzureClusterStatus",
    derive = "PartialEq",
    shortname = "azc",
    category = "azop",
    doc = "An IaaS Kubernetes cluster on Azure VMs: network, load balancer, control-plane and worker machines.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether every part of the cluster is ready"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.controlPlaneEndpoint.host", description = "API server address (port 6443)"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.kubernetesVersion", description = "Kubernetes version"),
    printcolumn(name = "Location", type_ = "string", json_path = ".spec.location", priority = 1, description = "Azure region"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 44").message(msg::CLUSTER_NAME_LENGTH),
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message(msg::CLUSTER_NAME_CHARS),
    validation = Rule::new(WORKER_VM_NAME_RULE).message(msg::WORKER_VM_NAME_LENGTH).field_path(".spec.workerPools"),
    validation = Rule::new(VM_TAGS_TOTAL_RULE).message(msg::VM_TAGS_TOTAL).field_path(".spec.tags"),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(SCOPE_RULES), transform = cel(SPEC_RULES))]
pub struct AzureClusterSpec {
    /// Subscription, region, resource group, credentials and tags.
    #[serde(flatten)]
    pub azure: AzureScope,
    /// Kubernetes version, `1.33` or `1.33.2` (no leading v). Can be raised, never lowered.
    #[schemars(regex(pattern = patterns::KUBERNETES_VERSION), length(max = 32))]
    #[schemars(transform = cel(VERSION_RULES))]
    pub kubernetes_version: String,
    /// Where the cluster's machines live. Omit it for dynamic placement with CAPZ's defaults.
    #[serde(default)]
    pub network: AzureClusterNetwork,
    /// The control-plane machines.
    pub control_plane: ControlPlane,
    /// Worker machine pools, by name. Add, change or remove pools to scale. A changed VM
    /// size, OS disk or image replaces the pool's machines one at a time: a new machine
    /// first, then an old one drained (when the workload cluster answers) and removed, never
    /// fewer ready machines than the pool's size. A changed zone list applies to machines
    /// created after the change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = list_map("name"), length(max = 50))]
    pub worker_pools: Vec<WorkerPool>,
    /// The OS image every machine boots from. A change replaces the worker machines one at a
    /// time; control-plane machines keep the image they were created with (their
    /// replacement is not built yet) and the ControlPlaneReady condition says so.
    pub image: ImageSource,
    /// OpenSSH public key installed for the admin user of every machine (one line: ssh-rsa,
    /// ssh-ed25519 or ecdsa-sha2-nistp*).
    #[schemars(regex(pattern = patterns::SSH_PUBLIC_KEY), length(max = 16384))]
    pub ssh_public_key: String,
    /// Cloud-init (or other) bootstrap data for every machine, from a key of a Secret in the
    /// same namespace; passed to Azure as the VMs' customData, which Azure never returns.
    /// Without it the machines boot the image as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_data_secret_ref: Option<KeyRef>,
    /// ProxyConfig in the same namespace the machines use for outbound traffic. Without it the
    /// namespace's default ProxyConfig (if any) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_config_ref: Option<LocalObjectRef>,
    /// The Kubernetes network inside the cluster: pod and service ranges and the CNI azop
    /// installs when it bootstraps the machines (no `bootstrapDataSecretRef`). Immutable.
    #[serde(default)]
    pub cluster_network: KubernetesNetwork,
}

/// The Kubernetes network inside the cluster (Cluster API's `clusterNetwork`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(KUBERNETES_NETWORK_RULES))]
pub struct KubernetesNetwork {
    /// Pod addresses (default 192.168.0.0/16). Must not overlap serviceCidr; keep it outside
    /// the VNet too, or pods shadow machines. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES))]
    pub pod_cidr: Option<String>,
    /// Service (ClusterIP) addresses (default 10.96.0.0/12). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES))]
    pub service_cidr: Option<String>,
    /// The CNI installed on the first control-plane machine: Calico (default; VXLAN, as Azure
    /// does not carry IP-in-IP) or None (the nodes stay NotReady until you install one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<Cni>,
}

impl KubernetesNetwork {
    pub fn pod_cidr(&self) -> &str {
        self.pod_cidr.as_deref().unwrap_or(DEFAULT_POD_CIDR)
    }

    pub fn service_cidr(&self) -> &str {
        self.service_cidr.as_deref().unwrap_or(DEFAULT_SERVICE_CIDR)
    }

    pub fn cni(&self) -> Cni {
        self.cni.unwrap_or(Cni::Calico)
    }
}

/// The CNI azop installs.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Cni {
    /// Calico through its operator, VXLAN encapsulation, the pod range as its IP pool.
    Calico,
    /// No CNI: bring your own (nodes are NotReady until one runs).
    None,
}

// The three CIDRs of a network in CEL, with the defaults filled in as the Rust check does, and
// whether one is usable for containment checks (well-formed, no host bits: those are reported
// by their own rules).
macro_rules! vnet_cidr {
    () => {
        concat!(
            "(has(self.vnetCidr) ? self.vnetCidr : '",
            default_vnet_cidr!(),
            "')"
        )
    };
}
macro_rules! control_plane_cidr {
    () => {
        concat!(
            "(has(self.controlPlaneSubnet) && has(self.controlPlaneSubnet.cidr) ? self.controlPlaneSubnet.cidr : '",
            default_control_plane_subnet_cidr!(),
            "')"
        )
    };
}
macro_rules! worker_cidr {
    () => {
        concat!(
            "(has(self.workerSubnet) && has(self.workerSubnet.cidr) ? self.workerSubnet.cidr : '",
            default_worker_subnet_cidr!(),
            "')"
        )
    };
}
macro_rules! pod_cidr {
    () => {
        concat!(
            "(has(self.podCidr) ? self.podCidr : '",
            default_pod_cidr!(),
            "')"
        )
    };
}
macro_rules! service_cidr {
    () => {
        concat!(
            "(has(self.serviceCidr) ? self.serviceCidr : '",
            default_service_cidr!(),
            "')"
        )
    };
}
macro_rules! usable {
    ($c:expr) => {
        concat!(
            "(isCIDR(",
            $c,
            ") && cidr(",
            $c,
            ") == cidr(",
            $c,
            ").masked())"
        )
    };
}

// The subnets, defaults filled in, seen from the spec.
macro_rules! spec_cp_cidr {
    () => {
        concat!(
            "(has(self.network) && has(self.network.controlPlaneSubnet) && has(self.network.controlPlaneSubnet.cidr) ? self.network.controlPlaneSubnet.cidr : '",
            default_control_plane_subnet_cidr!(),
            "')"
        )
    };
}
macro_rules! spec_worker_cidr {
    () => {
        concat!(
            "(has(self.network) && has(self.network.workerSubnet) && has(self.network.workerSubnet.cidr) ? self.network.workerSubnet.cidr : '",
            default_worker_subnet_cidr!(),
            "')"
        )
    };
}
// 2^0 .. 2^32, indexed by 32 minus a prefix length: a subnet's size.
macro_rules! powers_of_two {
    () => {
        "[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824, 2147483648, 4294967296]"
    };
}
// Machines each subnet must hold.
macro_rules! cp_need {
    () => {
        "((has(self.controlPlane.replicas) ? self.controlPlane.replicas : 3) + (has(self.network) && has(self.network.apiServerLoadBalancer) && has(self.network.apiServerLoadBalancer.type) && self.network.apiServerLoadBalancer.type == 'Internal' ? 1 : 0))"
    };
}
macro_rules! worker_need {
    () => {
        "(has(self.workerPools) ? self.workerPools.map(p, p.replicas).sum() + self.workerPools.filter(p, p.replicas > 0).size() : 0)"
    };
}

const SPEC_RULES: &[CelRule] = &[
    CelRule::new(
        concat!(
            "!",
            usable!(spec_cp_cidr!()),
            " || cidr(",
            spec_cp_cidr!(),
            ").prefixLength() > 29 || ",
            powers_of_two!(),
            "[32 - cidr(",
            spec_cp_cidr!(),
            ").prefixLength()] - 5 >= ",
            cp_need!()
        ),
        msg::SUBNET_CAPACITY,
    )
    .at(".network.controlPlaneSubnet.cidr")
    .invalid(),
    CelRule::new(
        concat!(
            "!",
            usable!(spec_worker_cidr!()),
            " || cidr(",
            spec_worker_cidr!(),
            ").prefixLength() > 29 || ",
            powers_of_two!(),
            "[32 - cidr(",
            spec_worker_cidr!(),
            ").prefixLength()] - 5 >= ",
            worker_need!()
        ),
        msg::SUBNET_CAPACITY,
    )
    .at(".network.workerSubnet.cidr")
    .invalid(),
];

const NETWORK_RULES: &[CelRule] = &[
    CelRule::new(
        "!has(self.existingVnet) || (has(self.vnetCidr) && has(self.controlPlaneSubnet) && has(self.controlPlaneSubnet.name) && has(self.controlPlaneSubnet.cidr) && has(self.controlPlaneSubnet.securityGroupName) && has(self.workerSubnet) && has(self.workerSubnet.name) && has(self.workerSubnet.cidr) && has(self.workerSubnet.securityGroupName))",
        msg::STATIC_PLACEMENT_INCOMPLETE,
    ),
    CelRule::new(
        "has(self.existingVnet) || ((!has(self.controlPlaneSubnet) || (!has(self.controlPlaneSubnet.name) && !has(self.controlPlaneSubnet.securityGroupName))) && (!has(self.workerSubnet) || (!has(self.workerSubnet.name) && !has(self.workerSubnet.securityGroupName))))",
        msg::DYNAMIC_PLACEMENT_NAMES,
    ),
    CelRule::new(
        "has(self.existingVnet) || !has(self.apiServerLoadBalancer) || !has(self.apiServerLoadBalancer.type) || self.apiServerLoadBalancer.type != 'Internal'",
        msg::INTERNAL_LB_NEEDS_STATIC,
    )
    .at(".apiServerLoadBalancer"),
    CelRule::new(
        "has(self.existingVnet) == has(oldSelf.existingVnet) && (!has(self.existingVnet) || self.existingVnet == oldSelf.existingVnet)",
        msg::PLACEMENT_IMMUTABLE,
    )
    .at(".existingVnet"),
    CelRule::new(
        "(has(self.vnetCidr) ? self.vnetCidr : '') == (has(oldSelf.vnetCidr) ? oldSelf.vnetCidr : '') && (has(self.controlPlaneSubnet) && has(self.controlPlaneSubnet.cidr) ? self.controlPlaneSubnet.cidr : '') == (has(oldSelf.controlPlaneSubnet) && has(oldSelf.controlPlaneSubnet.cidr) ? oldSelf.controlPlaneSubnet.cidr : '') && (has(self.workerSubnet) && has(self.workerSubnet.cidr) ? self.workerSubnet.cidr : '') == (has(oldSelf.workerSubnet) && has(oldSelf.workerSubnet.cidr) ? oldSelf.workerSubnet.cidr : '')",
        msg::NETWORK_CIDRS_IMMUTABLE,
    ),
    CelRule::new(
        concat!(
            "!",
            usable!(vnet_cidr!()),
            " || !",
            usable!(control_plane_cidr!()),
            " || cidr(",
            vnet_cidr!(),
            ").containsCIDR(",
            control_plane_cidr!(),
            ")"
        ),
        msg::SUBNET_OUTSIDE_VNET,
    )
    .at(".controlPlaneSubnet.cidr")
    .show(concat!(
        control_plane_cidr!(),
        " + ' is not inside the VNet ' + ",
        vnet_cidr!()
    ))
    .invalid(),
    CelRule::new(
        concat!(
            "!",
            usable!(vnet_cidr!()),
            " || !",
            usable!(worker_cidr!()),
            " || cidr(",
            vnet_cidr!(),
            ").containsCIDR(",
            worker_cidr!(),
            ")"
        ),
        msg::SUBNET_OUTSIDE_VNET,
    )
    .at(".workerSubnet.cidr")
    .show(concat!(
        worker_cidr!(),
        " + ' is not inside the VNet ' + ",
        vnet_cidr!()
    ))
    .invalid(),
    // Two CIDR blocks overlap exactly when one contains the other.
    CelRule::new(
        concat!(
            "!",
            usable!(control_plane_cidr!()),
            " || !",
            usable!(worker_cidr!()),
            " || !(cidr(",
            control_plane_cidr!(),
            ").containsCIDR(",
            worker_cidr!(),
            ") || cidr(",
            worker_cidr!(),
            ").containsCIDR(",
            control_plane_cidr!(),
            "))"
        ),
        msg::SUBNET_OVERLAP,
    )
    .at(".workerSubnet.cidr")
    .show(concat!(
        worker_cidr!(),
        " + ' overlaps the control-plane subnet ' + ",
        control_plane_cidr!()
    ))
    .invalid(),
];

const KUBERNETES_NETWORK_RULES: &[CelRule] = &[
    CelRule::new(
        concat!(
            "!",
            usable!(pod_cidr!()),
            " || !",
            usable!(service_cidr!()),
            " || !(cidr(",
            pod_cidr!(),
            ").containsCIDR(",
            service_cidr!(),
            ") || cidr(",
            service_cidr!(),
            ").containsCIDR(",
            pod_cidr!(),
            "))"
        ),
        msg::POD_SERVICE_OVERLAP,
    )
    .at(".serviceCidr")
    .show(concat!(
        service_cidr!(),
        " + ' overlaps the pod range ' + ",
        pod_cidr!()
    ))
    .invalid(),
    CelRule::new(
        "(has(self.podCidr) ? self.podCidr : '') == (has(oldSelf.podCidr) ? oldSelf.podCidr : '') && (has(self.serviceCidr) ? self.serviceCidr : '') == (has(oldSelf.serviceCidr) ? oldSelf.serviceCidr : '') && (has(self.cni) ? self.cni : '') == (has(oldSelf.cni) ? oldSelf.cni : '')",
        msg::CLUSTER_NETWORK_IMMUTABLE,
    ),
];

/// Where the cluster's machines live.
///
/// Dynamic placement (no `existingVnet`): azop creates a VNet (`vnetCidr`, default
/// 10.0.0.0/8), a control-plane subnet (default 10.0.0.0/16) and a worker subnet (default
/// 10.1.0.0/16), each with its own NSG, a NAT gateway for egress and a Standard public load
/// balancer for the API server, and deletes them with the cluster.
///
/// Static placement (`existingVnet` set): the VNet, both subnets and their NSGs exist already;
/// all of `vnetCidr`, and each subnet's `name`, `cidr` and `securityGroupName` must be given.
/// azop checks them and never changes or deletes them.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(NETWORK_RULES))]
pub struct AzureClusterNetwork {
    /// An existing VNet to place the cluster into (static placement). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_vnet: Option<ExistingVnet>,
    /// Address space of the VNet. Dynamic placement: the VNet azop creates (default
    /// 10.0.0.0/8). Static placement: the existing VNet's address space, required. It must not
    /// overlap the ranges Azure reserves (127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4,
    /// 255.255.255.255/32, 168.63.129.16/32). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES), transform = cel(VNET_CIDR_RULES))]
    pub vnet_cidr: Option<String>,
    /// The control-plane subnet (default CIDR 10.0.0.0/16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_subnet: Option<SubnetSpec>,
    /// The worker subnet (default CIDR 10.1.0.0/16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_subnet: Option<SubnetSpec>,
    /// How the API server is exposed (default: a Standard public load balancer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_load_balancer: Option<ApiServerLoadBalancer>,
}

/// CEL on `vnetCidr`: clear of the ranges Azure reserves
/// ([`crate::validation::VNET_RESERVED_RANGES`]).
const VNET_CIDR_RULES: &[CelRule] = &[CelRule::new(
    "!isCIDR(self) || !['127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '255.255.255.255/32', '168.63.129.16/32'].exists(r, cidr(r).containsCIDR(self) || cidr(self).containsCIDR(r))",
    msg::VNET_RESERVED_RANGE,
)
.show(r#"'"' + self + '" overlaps a reserved range'"#)
.invalid()];

/// CEL on a subnet's CIDR: Azure's smallest subnet is a /29.
const SUBNET_CIDR_RULES: &[CelRule] = &[CelRule::new(
    "!isCIDR(self) || cidr(self).prefixLength() <= 29",
    msg::SUBNET_TOO_SMALL,
)
.show(r#"'"' + self + '"'"#)
.invalid()];

/// An existing VNet (static placement).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExistingVnet {
    /// Resource group of the VNet (may differ from spec.resourceGroup).
    #[schemars(regex(pattern = patterns::RESOURCE_GROUP), length(max = 90))]
    pub resource_group: String,
    /// Name of the VNet.
    #[schemars(regex(pattern = patterns::NETWORK_RESOURCE_NAME), length(max = 80))]
    pub name: String,
}

/// A subnet of the cluster's VNet.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSpec {
    /// Name of an existing subnet (static placement only; azop names the subnets it creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::NETWORK_RESOURCE_NAME), length(max = 80))]
    pub name: Option<String>,
    /// Address range of the subnet; it must lie inside vnetCidr and not overlap the other
    /// subnet, be a /29 or larger, and hold its machines: Azure reserves 5 addresses of every
    /// subnet; the control-plane subnet needs one per control-plane machine (and one for an
    /// internal load balancer), the worker subnet one per worker plus one per pool for a
    /// rolling replacement. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CIDR_V4), length(max = CIDR_MAX_LENGTH))]
    #[schemars(transform = cel(CIDR_RULES), transform = cel(SUBNET_CIDR_RULES))]
    pub cidr: Option<String>,
    /// Name of the existing network security group of the subnet (static placement only). For
    /// the control-plane subnet it must allow inbound TCP 6443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::NETWORK_RESOURCE_NAME), length(max = 80))]
    pub security_group_name: Option<String>,
}

/// How the API server is reached.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerLoadBalancer {
    /// Public (default): a Standard public load balancer with a public IP. Internal: a
    /// Standard internal load balancer in the control-plane subnet (static placement only).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub lb_type: Option<LoadBalancerType>,
}

/// Load balancer exposure.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoadBalancerType {
    /// A public IP in front of the API server.
    Public,
    /// A private IP in the control-plane subnet.
    Internal,
}

/// The control-plane machines. A changed VM size is applied in place (Azure resizes and
/// restarts the VM); a changed OS disk or image applies to control-plane machines created
/// later: running ones are not replaced (that needs etcd membership changes, not built yet).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlane {
    /// Number of control-plane machines: 1, 3 or 5 (etcd needs an odd count). Default 3.
    #[serde(default = "default_control_plane_replicas")]
    #[schemars(extend("enum" = [1, 3, 5]))]
    pub replicas: i32,
    /// Azure VM size, for example Standard_D4s_v5.
    #[schemars(regex(pattern = patterns::VM_SIZE), length(max = 64))]
    pub vm_size: String,
    /// OS disk of each machine.
    #[serde(default)]
    pub os_disk: OsDisk,
    /// Availability zones ("1", "2", "3") the machines are spread over evenly. Empty: no zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = patterns::ZONE)), transform = list_set, length(max = 3))]
    pub zones: Vec<String>,
}

fn default_control_plane_replicas() -> i32 {
    3
}

/// An OS disk.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsDisk {
    /// Size in GiB, 30 to 4095. Default 60.
    #[serde(rename = "sizeGiB", default = "default_os_disk_size")]
    #[schemars(range(min = 30, max = 4095))]
    pub size_gib: i32,
    /// Managed disk type. Default StandardSSD_LRS.
    #[serde(rename = "type", default)]
    pub disk_type: OsDiskType,
}

impl Default for OsDisk {
    fn default() -> Self {
        Self {
            size_gib: DEFAULT_OS_DISK_SIZE_GIB,
            disk_type: OsDiskType::default(),
        }
    }
}

fn default_os_disk_size() -> i32 {
    DEFAULT_OS_DISK_SIZE_GIB
}

/// Managed disk types Azure offers for OS disks.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OsDiskType {
    /// Standard HDD.
    #[serde(rename = "Standard_LRS")]
    StandardLrs,
    /// Standard SSD.
    #[default]
    #[serde(rename = "StandardSSD_LRS")]
    StandardSsdLrs,
    /// Premium SSD.
    #[serde(rename = "Premium_LRS")]
    PremiumLrs,
}

/// A pool of identical worker machines.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerPool {
    /// Pool name, unique in the cluster: 1-20 lowercase letters, digits and '-'. Machines are
    /// named `<cluster>-<pool>-<index>`, which must fit Azure's 64 characters with an index of
    /// up to twice the replicas.
    #[schemars(regex(pattern = patterns::WORKER_POOL_NAME), length(min = 1, max = 20))]
    pub name: String,
    /// Number of machines, 0 to 1000.
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Azure VM size, for example Standard_D4s_v5.
    #[schemars(regex(pattern = patterns::VM_SIZE), length(max = 64))]
    pub vm_size: String,
    /// OS disk of each machine.
    #[serde(default)]
    pub os_disk: OsDisk,
    /// Availability zones ("1", "2", "3") the machines are spread over evenly. Empty: no zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = patterns::ZONE)), transform = list_set, length(max = 3))]
    pub zones: Vec<String>,
    /// Kubernetes labels for the pool's nodes (at most 64), set by kubelet when the node
    /// registers: keys are Kubernetes qualified names, values at most 63 characters, and
    /// nothing in the kubernetes.io or k8s.io namespaces that kubelet may not set on its own
    /// node (`node-role.kubernetes.io/*` included: set those with kubectl).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = node_labels, transform = cel(LABEL_RULES), transform = cel(KUBELET_LABEL_RULES))]
    pub labels: BTreeMap<String, String>,
    /// Kubernetes taints for the pool's nodes (at most 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub taints: Vec<Taint>,
}

const TAINT_RULES: &[CelRule] = &[
    CelRule::new(
        r"self.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && (!self.key.contains('/') || self.key.split('/')[0].size() <= 253)",
        msg::TAINT_KEY,
    )
    .at(".key")
    .show(r#"'"' + self.key + '" is invalid'"#)
    .invalid(),
    CelRule::new(
        r"!has(self.value) || self.value.matches('^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$')",
        msg::TAINT_VALUE,
    )
    .at(".value")
    .show(r#"'"' + self.value + '" is invalid'"#)
    .invalid(),
];

/// A Kubernetes node taint.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(TAINT_RULES))]
pub struct Taint {
    /// Taint key: a Kubernetes qualified name (an optional DNS-subdomain prefix and '/', then
    /// 1-63 letters, digits, '-', '_' and '.').
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// Taint value: empty or 1-63 letters, digits, '-', '_' and '.'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: TaintEffect,
}

/// Taint effects.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TaintEffect {
    /// Pods without a toleration are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node.
    PreferNoSchedule,
    /// Running pods without a toleration are evicted.
    NoExecute,
}

/// The OS image machines boot from: exactly one of the three sources.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel([CelRule::new(
    "(has(self.storageBindingRef) ? 1 : 0) + (has(self.managedImageId) ? 1 : 0) + (has(self.marketplace) ? 1 : 0) == 1",
    msg::IMAGE_ONE_SOURCE,
)]))]
pub struct ImageSource {
    /// A StorageBinding in the same namespace: its VHD is copied and turned into a managed
    /// image, which the machines boot from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_binding_ref: Option<LocalObjectRef>,
    /// Resource id of an existing managed image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::MANAGED_IMAGE_ID), length(max = 1024))]
    pub managed_image_id: Option<String>,
    /// An Azure Marketplace image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<MarketplaceImage>,
}

/// An Azure Marketplace image reference.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketplaceImage {
    /// Publisher, for example `Canonical`.
    #[schemars(length(min = 1, max = 128))]
    pub publisher: String,
    /// Offer, for example `ubuntu-24_04-lts`.
    #[schemars(length(min = 1, max = 128))]
    pub offer: String,
    /// SKU, for example `server`.
    #[schemars(length(min = 1, max = 128))]
    pub sku: String,
    /// Version, or `latest`.
    #[schemars(length(min = 1, max = 64))]
    pub version: String,
}

/// Observed state of an AzureCluster.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureClusterStatus {
    /// Conditions, observed generation, phase, Azure names (by role: `vnet`, `controlPlaneSubnet`, `workerSubnet`, `controlPlaneNsg`, `workerNsg`, `natGateway`, `natGatewayPublicIp`, `apiServerPublicIp`, `loadBalancer`, ...), resources and
    /// operations in flight: the fields every Azure-backed kind shares.
    #[serde(flatten)]
    pub azure: AzureStatus,
    /// Where the API server is reached (the load balancer's IP and port 6443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,
    /// The cluster's machines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
    /// Availability zones the cluster's machines use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_domains: Vec<String>,
}

/// A host and port.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    /// IP address or DNS name.
    pub host: String,
    /// TCP port.
    pub port: i32,
}

/// One machine of the cluster.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Azure VM name.
    pub name: String,
    /// control-plane or worker.
    pub role: NodeRole,
    /// Worker pool name (workers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Availability zone of the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Private IP address of the VM's NIC.
    #[serde(rename = "privateIP", default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    /// Machine state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MachineState>,
    /// The machine's Kubernetes node, as the workload cluster reports it. Absent when azop
    /// cannot see the workload cluster (its API not up yet, or bootstrap data the user
    /// brings, for which azop holds no kubeconfig).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeReadiness>,
    /// The machine no longer matches its pool (VM size, image or OS disk changed): it runs
    /// as it is until its replacement is ready, then it is drained and removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outdated: bool,
}

/// A machine's node in the workload cluster.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NodeReadiness {
    /// The node's Ready condition is True.
    Ready,
    /// The node exists; its Ready condition is not True.
    NotReady,
    /// No node of the machine's name (its kubelet has not registered yet).
    NotRegistered,
}

/// Role of a machine.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Runs the API server and etcd.
    ControlPlane,
    /// Runs workloads.
    Worker,
}

/// Machine states, as Palette users know them.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MachineState {
    /// Not created yet.
    Pending,
    /// The VM is being created.
    Provisioning,
    /// The VM exists; Kubernetes is not up yet.
    Provisioned,
    /// The node runs.
    Running,
    /// The VM is being deleted.
    Deleting,
    /// The VM is gone.
    Deleted,
    /// Creating the VM failed.
    Failed,
}
