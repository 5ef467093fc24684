//! AzureCluster rules.

use kube::ResourceExt;

use ipnet::Ipv4Net;

use super::labels::{self, NodeLabels};
use super::rules::{self, cidr, overlaps};
use super::{Errors, Validate, ValidationErrors, messages as msg, patterns};
use crate::v1alpha1::{
    AzureCluster, AzureClusterNetwork, AzureClusterSpec, DEFAULT_CONTROL_PLANE_SUBNET_CIDR,
    DEFAULT_VNET_CIDR, DEFAULT_WORKER_SUBNET_CIDR, KubernetesNetwork, LoadBalancerType, OsDisk,
};

/// Azure's longest Linux VM name.
pub const MAX_VM_NAME: usize = 64;

impl Validate for AzureCluster {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        let name = self.name_any();
        rules::cluster_name(&mut errs, &name);
        spec(&mut errs, &self.spec);
        worker_vm_names(&mut errs, &name, &self.spec);
        rules::vm_tags_total(
            &mut errs,
            "spec.tags",
            &self.spec.azure.tags,
            "AzureCluster",
            &name,
        );
        errs.finish()
    }

    fn validate_update(old: &Self, new: &Self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        errs.extend(new.validate());
        let (o, n) = (&old.spec, &new.spec);
        rules::scope_update(&mut errs, &o.azure, &n.azure);
        if !rules::version_not_lower(&n.kubernetes_version, &o.kubernetes_version) {
            errs.push(
                "spec.kubernetesVersion",
                format!(
                    "{:?} is lower than {:?}: {}",
                    n.kubernetes_version,
                    o.kubernetes_version,
                    msg::VERSION_DOWNGRADE
                ),
            );
        }
        network_update(&mut errs, &o.network, &n.network);
        if o.cluster_network != n.cluster_network {
            errs.push("spec.clusterNetwork", msg::CLUSTER_NETWORK_IMMUTABLE);
        }
        errs.finish()
    }
}

fn spec(errs: &mut Errors, spec: &AzureClusterSpec) {
    rules::scope(errs, &spec.azure);
    rules::kubernetes_version(errs, "spec.kubernetesVersion", &spec.kubernetes_version);
    let (cp_net, wk_net) = network(errs, &spec.network);
    subnet_capacity(errs, spec, cp_net, wk_net);
    cluster_network(errs, &spec.cluster_network);

    let cp = &spec.control_plane;
    if ![1, 3, 5].contains(&cp.replicas) {
        errs.push(
            "spec.controlPlane.replicas",
            format!("{}: {}", cp.replicas, msg::CONTROL_PLANE_REPLICAS),
        );
    }
    vm_size(errs, "spec.controlPlane.vmSize", &cp.vm_size);
    os_disk(errs, "spec.controlPlane.osDisk", &cp.os_disk);
    rules::zones(errs, "spec.controlPlane.zones", &cp.zones);

    if spec.worker_pools.len() > 50 {
        errs.push("spec.workerPools", "at most 50 worker pools are allowed");
    }
    for (i, pool) in spec.worker_pools.iter().enumerate() {
        let at = format!("spec.workerPools[{i}]");
        rules::string(
            errs,
            &format!("{at}.name"),
            &pool.name,
            patterns::WORKER_POOL_NAME,
            (1, 20),
            msg::WORKER_POOL_NAME,
        );
        if spec.worker_pools[..i].iter().any(|p| p.name == pool.name) {
            errs.push(
                format!("{at}.name"),
                format!(
                    "{:?} is used twice: {}",
                    pool.name,
                    msg::WORKER_POOL_DUPLICATE
                ),
            );
        }
        rules::range(
            errs,
            &format!("{at}.replicas"),
            pool.replicas,
            (0, 1000),
            msg::WORKER_REPLICAS,
        );
        vm_size(errs, &format!("{at}.vmSize"), &pool.vm_size);
        os_disk(errs, &format!("{at}.osDisk"), &pool.os_disk);
        rules::zones(errs, &format!("{at}.zones"), &pool.zones);
        labels::node_labels(
            errs,
            &format!("{at}.labels"),
            &pool.labels,
            NodeLabels::Kubelet,
        );
        labels::taints(errs, &format!("{at}.taints"), &pool.taints);
    }

    let img = &spec.image;
    let sources = [
        img.storage_binding_ref.is_some(),
        img.managed_image_id.is_some(),
        img.marketplace.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        errs.push("spec.image", msg::IMAGE_ONE_SOURCE);
    }
    if let Some(r) = &img.storage_binding_ref {
        rules::object_name(errs, "spec.image.storageBindingRef.name", &r.name);
    }
    rules::opt_string(
        errs,
        "spec.image.managedImageId",
        img.managed_image_id.as_ref(),
        patterns::MANAGED_IMAGE_ID,
        (1, 1024),
        msg::MANAGED_IMAGE_ID,
    );

    rules::string(
        errs,
        "spec.sshPublicKey",
        &spec.ssh_public_key,
        patterns::SSH_PUBLIC_KEY,
        (1, 16384),
        msg::SSH_PUBLIC_KEY,
    );
    if let Some(r) = &spec.proxy_config_ref {
        rules::object_name(errs, "spec.proxyConfigRef.name", &r.name);
    }
}

fn vm_size(errs: &mut Errors, field: &str, value: &str) {
    rules::string(errs, field, value, patterns::VM_SIZE, (1, 64), msg::VM_SIZE);
}

fn os_disk(errs: &mut Errors, field: &str, disk: &OsDisk) {
    rules::range(
        errs,
        &format!("{field}.sizeGiB"),
        disk.size_gib,
        (30, 4095),
        msg::OS_DISK_SIZE,
    );
}

/// The highest index a pool of `replicas` machines gives a name: a rolling replacement numbers
/// new machines above the old ones, so up to twice the pool.
pub fn highest_worker_index(replicas: i32) -> usize {
    usize::try_from(replicas)
        .unwrap_or(0)
        .saturating_mul(2)
        .saturating_sub(1)
}

/// `<cluster>-<pool>-<index>` must fit Azure's 64 characters (the NIC `-nic` and the OS disk
/// `-osdisk` then fit their 80).
fn worker_vm_names(errs: &mut Errors, cluster: &str, spec: &AzureClusterSpec) {
    for (i, pool) in spec.worker_pools.iter().enumerate() {
        let index = highest_worker_index(pool.replicas);
        let len = cluster.chars().count() + pool.name.chars().count() + 2 + rules::digits(index);
        if len > MAX_VM_NAME {
            errs.push(
                "spec.workerPools",
                format!(
                    "pool {i}: \"{cluster}-{}-{index}\" has {len} characters: {}",
                    pool.name,
                    msg::WORKER_VM_NAME_LENGTH
                ),
            );
        }
    }
}

/// Both subnets hold their machines: the control plane (and an internal load balancer's
/// frontend), the workers with one spare address per pool for a rolling replacement.
fn subnet_capacity(
    errs: &mut Errors,
    spec: &AzureClusterSpec,
    cp_net: Option<Ipv4Net>,
    wk_net: Option<Ipv4Net>,
) {
    let internal_lb = spec
        .network
        .api_server_load_balancer
        .as_ref()
        .and_then(|lb| lb.lb_type)
        == Some(LoadBalancerType::Internal);
    let cp_need = u64::try_from(spec.control_plane.replicas).unwrap_or(0) + u64::from(internal_lb);
    let workers: u64 = spec
        .worker_pools
        .iter()
        .map(|p| u64::try_from(p.replicas).unwrap_or(0))
        .sum();
    let surge = spec.worker_pools.iter().filter(|p| p.replicas > 0).count() as u64;
    for (field, net, need) in [
        ("spec.network.controlPlaneSubnet.cidr", cp_net, cp_need),
        ("spec.network.workerSubnet.cidr", wk_net, workers + surge),
    ] {
        let Some(net) = net else { continue };
        if net.prefix_len() > 29 {
            continue; // reported as too small already
        }
        let usable = rules::usable_subnet_addresses(net.prefix_len());
        if usable < need {
            errs.push(
                field,
                format!(
                    "{net} has {usable} usable addresses and needs {need}: {}",
                    msg::SUBNET_CAPACITY
                ),
            );
        }
    }
}

/// The placement's rules; returns the two subnets (defaults filled in) when they parse.
fn network(errs: &mut Errors, net: &AzureClusterNetwork) -> (Option<Ipv4Net>, Option<Ipv4Net>) {
    let cp = net.control_plane_subnet.clone().unwrap_or_default();
    let wk = net.worker_subnet.clone().unwrap_or_default();
    if let Some(v) = &net.existing_vnet {
        rules::string(
            errs,
            "spec.network.existingVnet.resourceGroup",
            &v.resource_group,
            patterns::RESOURCE_GROUP,
            (1, 90),
            msg::RESOURCE_GROUP,
        );
        rules::string(
            errs,
            "spec.network.existingVnet.name",
            &v.name,
            patterns::NETWORK_RESOURCE_NAME,
            (1, 80),
            msg::NETWORK_RESOURCE_NAME,
        );
        let complete = net.vnet_cidr.is_some()
            && [&cp, &wk]
                .iter()
                .all(|s| s.name.is_some() && s.cidr.is_some() && s.security_group_name.is_some());
        if !complete {
            errs.push("spec.network", msg::STATIC_PLACEMENT_INCOMPLETE);
        }
    } else {
        let names = [&cp, &wk]
            .iter()
            .any(|s| s.name.is_some() || s.security_group_name.is_some());
        if names {
            errs.push("spec.network", msg::DYNAMIC_PLACEMENT_NAMES);
        }
        let internal = net
            .api_server_load_balancer
            .as_ref()
            .and_then(|lb| lb.lb_type)
            == Some(LoadBalancerType::Internal);
        if internal {
            errs.push(
                "spec.network.apiServerLoadBalancer",
                msg::INTERNAL_LB_NEEDS_STATIC,
            );
        }
    }
    for (field, subnet) in [
        ("spec.network.controlPlaneSubnet", &cp),
        ("spec.network.workerSubnet", &wk),
    ] {
        for (key, value) in [
            ("name", &subnet.name),
            ("securityGroupName", &subnet.security_group_name),
        ] {
            rules::opt_string(
                errs,
                &format!("{field}.{key}"),
                value.as_ref(),
                patterns::NETWORK_RESOURCE_NAME,
                (1, 80),
                msg::NETWORK_RESOURCE_NAME,
            );
        }
    }

    // CIDRs: each parses; both subnets lie inside the VNet and do not overlap. Defaults fill in
    // what dynamic placement leaves out, so a custom vnetCidr without subnet CIDRs is caught.
    let vnet_field = "spec.network.vnetCidr";
    let vnet = cidr(
        errs,
        vnet_field,
        net.vnet_cidr.as_deref().unwrap_or(DEFAULT_VNET_CIDR),
        msg::CIDR_FORMAT,
    );
    let cp_field = "spec.network.controlPlaneSubnet.cidr";
    let wk_field = "spec.network.workerSubnet.cidr";
    let cp_net = cidr(
        errs,
        cp_field,
        cp.cidr
            .as_deref()
            .unwrap_or(DEFAULT_CONTROL_PLANE_SUBNET_CIDR),
        msg::CIDR_FORMAT,
    );
    let wk_net = cidr(
        errs,
        wk_field,
        wk.cidr.as_deref().unwrap_or(DEFAULT_WORKER_SUBNET_CIDR),
        msg::CIDR_FORMAT,
    );
    if let Some(vnet) = vnet
        && let Some(range) = rules::overlapped_range(&vnet, &rules::VNET_RESERVED_RANGES)
    {
        errs.push(
            vnet_field,
            format!("{vnet} overlaps {range}: {}", msg::VNET_RESERVED_RANGE),
        );
    }
    for (field, subnet) in [(cp_field, cp_net), (wk_field, wk_net)] {
        if let Some(s) = subnet
            && s.prefix_len() > 29
        {
            errs.push(field, format!("{s}: {}", msg::SUBNET_TOO_SMALL));
        }
    }
    if let Some(vnet) = vnet {
        for (field, subnet) in [(cp_field, cp_net), (wk_field, wk_net)] {
            if let Some(s) = subnet
                && !vnet.contains(&s)
            {
                errs.push(
                    field,
                    format!(
                        "{s} is not inside the VNet {vnet}: {}",
                        msg::SUBNET_OUTSIDE_VNET
                    ),
                );
            }
        }
    }
    if let (Some(a), Some(b)) = (cp_net, wk_net)
        && overlaps(&a, &b)
    {
        errs.push(
            wk_field,
            format!(
                "{b} overlaps the control-plane subnet {a}: {}",
                msg::SUBNET_OVERLAP
            ),
        );
    }
    (cp_net, wk_net)
}

fn cluster_network(errs: &mut Errors, net: &KubernetesNetwork) {
    let pods = cidr(
        errs,
        "spec.clusterNetwork.podCidr",
        net.pod_cidr(),
        msg::CIDR_FORMAT,
    );
    let services = cidr(
        errs,
        "spec.clusterNetwork.serviceCidr",
        net.service_cidr(),
        msg::CIDR_FORMAT,
    );
    if let (Some(p), Some(s)) = (pods, services)
        && overlaps(&p, &s)
    {
        errs.push(
            "spec.clusterNetwork.serviceCidr",
            format!(
                "{s} overlaps the pod range {p}: {}",
                msg::POD_SERVICE_OVERLAP
            ),
        );
    }
}

fn network_update(errs: &mut Errors, old: &AzureClusterNetwork, new: &AzureClusterNetwork) {
    if old.existing_vnet != new.existing_vnet {
        errs.push("spec.network.existingVnet", msg::PLACEMENT_IMMUTABLE);
    }
    let cidrs = |n: &AzureClusterNetwork| {
        (
            n.vnet_cidr.clone(),
            n.control_plane_subnet.as_ref().and_then(|s| s.cidr.clone()),
            n.worker_subnet.as_ref().and_then(|s| s.cidr.clone()),
        )
    };
    if cidrs(old) != cidrs(new) {
        errs.push("spec.network", msg::NETWORK_CIDRS_IMMUTABLE);
    }
}
