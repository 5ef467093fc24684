//! AksCluster rules.

use kube::ResourceExt;

use super::labels::{self, NodeLabels};
use super::rules::{self, cidr, overlaps};
use super::{Errors, Validate, ValidationErrors, messages as msg, patterns};
use crate::v1alpha1::{
    AksCluster, AksClusterSpec, AksNetwork, AksNodePool, ManagedControlPlane, NetworkPlugin,
    NodeOsUpgradeChannel, OsType, PoolMode, UpgradeChannel,
};

impl Validate for AksCluster {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        let name = self.name_any();
        rules::cluster_name(&mut errs, &name);
        if name.contains("microsoft") || name.contains("windows") {
            errs.push(
                "metadata.name",
                format!("{name:?}: {}", msg::AKS_NAME_RESERVED),
            );
        }
        spec(&mut errs, &self.spec);
        // AKS puts the cluster's tags on the node pools' scale sets too.
        rules::vm_tags_total(
            &mut errs,
            "spec.tags",
            &self.spec.azure.tags,
            "AksCluster",
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
        // Auto-upgrade may have raised the running version past the spec; that is fine until
        // the spec's version is changed, which must then not go below what runs.
        let current = new
            .status
            .as_ref()
            .or(old.status.as_ref())
            .and_then(|s| s.kubernetes_version.as_deref());
        if let Some(current) = current
            && n.kubernetes_version != o.kubernetes_version
            && !rules::version_not_lower(&n.kubernetes_version, current)
        {
            errs.push(
                "spec.kubernetesVersion",
                format!(
                    "{:?} is lower than {current:?}: {}",
                    n.kubernetes_version,
                    msg::VERSION_BELOW_CURRENT
                ),
            );
        }
        // Once a cluster runs: one minor at a time, from the old spec or from what runs,
        // whichever is newer (after auto-upgrade moved past the spec, the next minor of what
        // runs is one step). Before, AKS creates whatever version is asked.
        let within = |base: &str| rules::version_within_one_minor(&n.kubernetes_version, base);
        if let Some(running) = current
            && n.kubernetes_version != o.kubernetes_version
            && !within(&o.kubernetes_version)
            && !within(running)
        {
            errs.push(
                "spec.kubernetesVersion",
                format!(
                    "{:?} after {:?}: {}",
                    n.kubernetes_version,
                    o.kubernetes_version,
                    msg::VERSION_MINOR_SKIP
                ),
            );
        }
        control_plane_update(
            &mut errs,
            &o.managed_control_plane,
            &n.managed_control_plane,
        );
        if n.node_pools.iter().any(|p| {
            o.node_pools.iter().any(|q| q.name == p.name)
                && !o
                    .node_pools
                    .iter()
                    .any(|q| q.name == p.name && same_immutables(q, p))
        }) {
            errs.push("spec.nodePools", msg::POOL_IMMUTABLE);
        }
        if o.network != n.network {
            errs.push("spec.network", msg::AKS_NETWORK_IMMUTABLE);
        }
        let private = |s: &AksClusterSpec| {
            s.api_server_access.as_ref().and_then(|a| a.private_cluster) == Some(true)
        };
        if private(o) != private(n) {
            errs.push("spec.apiServerAccess", msg::PRIVATE_CLUSTER_IMMUTABLE);
        }
        errs.finish()
    }
}

fn same_immutables(old: &AksNodePool, new: &AksNodePool) -> bool {
    old.os_type == new.os_type
        && old.vm_size == new.vm_size
        && old.os_disk_size_gib == new.os_disk_size_gib
        && old.zones == new.zones
        && old.max_pods == new.max_pods
        && old.subnet_id == new.subnet_id
}

fn spec(errs: &mut Errors, spec: &AksClusterSpec) {
    rules::scope(errs, &spec.azure);
    rules::kubernetes_version(errs, "spec.kubernetesVersion", &spec.kubernetes_version);

    let cp = &spec.managed_control_plane;
    if cp.disable_local_accounts == Some(true) && cp.aad_profile.is_none() {
        errs.push(
            "spec.managedControlPlane.disableLocalAccounts",
            msg::LOCAL_ACCOUNTS_NEED_AAD,
        );
    }
    if let Some(p) = &cp.auto_upgrade_profile
        && p.upgrade_channel == Some(UpgradeChannel::NodeImage)
        && p.node_os_upgrade_channel
            .is_some_and(|c| c != NodeOsUpgradeChannel::NodeImage)
    {
        errs.push(
            "spec.managedControlPlane.autoUpgradeProfile.nodeOSUpgradeChannel",
            msg::NODE_IMAGE_CHANNEL_NODE_OS,
        );
    }
    if let Some(aad) = &spec.managed_control_plane.aad_profile {
        rules::string_set(
            errs,
            "spec.managedControlPlane.aadProfile.adminGroupObjectIDs",
            &aad.admin_group_object_ids,
            patterns::GUID,
            50,
            msg::ADMIN_GROUP_ID,
            msg::ADMIN_GROUP_ID,
        );
    }

    if spec.node_pools.is_empty() || spec.node_pools.len() > 100 {
        errs.push(
            "spec.nodePools",
            format!(
                "{} pools given, 1 to 100 allowed: {}",
                spec.node_pools.len(),
                msg::SYSTEM_POOL_REQUIRED
            ),
        );
    }
    let linux_system = spec
        .node_pools
        .iter()
        .any(|p| p.mode == PoolMode::System && p.os_type == OsType::Linux);
    if !linux_system && !spec.node_pools.is_empty() {
        errs.push("spec.nodePools", msg::SYSTEM_POOL_REQUIRED);
    }
    let windows = spec.node_pools.iter().any(|p| p.os_type == OsType::Windows);
    if windows
        && spec
            .network
            .plugin
            .is_some_and(|p| p != NetworkPlugin::Azure)
    {
        errs.push("spec.nodePools", msg::WINDOWS_NEEDS_AZURE_CNI);
    }
    for (i, pool) in spec.node_pools.iter().enumerate() {
        node_pool(errs, &format!("spec.nodePools[{i}]"), pool);
        if pool.mode == PoolMode::System && pool.os_type != OsType::Linux {
            errs.push(
                format!("spec.nodePools[{i}].osType"),
                format!("pool {:?}: {}", pool.name, msg::SYSTEM_POOL_LINUX),
            );
        }
        if spec.node_pools[..i].iter().any(|p| p.name == pool.name) {
            errs.push(
                format!("spec.nodePools[{i}].name"),
                format!("{:?} is used twice: {}", pool.name, msg::POOL_DUPLICATE),
            );
        }
    }

    network(errs, &spec.network);

    if let Some(access) = &spec.api_server_access {
        let field = "spec.apiServerAccess.authorizedIPRanges";
        rules::string_set(
            errs,
            field,
            &access.authorized_ip_ranges,
            patterns::CIDR_V4,
            200,
            msg::AUTHORIZED_IP_RANGE,
            msg::AUTHORIZED_IP_RANGE,
        );
        if access.private_cluster == Some(true) && !access.authorized_ip_ranges.is_empty() {
            errs.push(field, msg::PRIVATE_WITH_AUTHORIZED_RANGES);
        }
        // A private cluster's API server has a private DNS zone, which AKS tags with the
        // cluster's tags.
        if access.private_cluster == Some(true) {
            rules::dns_zone_tags(errs, "spec.tags", &spec.azure.tags);
        }
    }
    rules::opt_string(
        errs,
        "spec.sshPublicKey",
        spec.ssh_public_key.as_ref(),
        patterns::SSH_RSA_PUBLIC_KEY,
        (1, 16384),
        msg::SSH_RSA_ONLY,
    );
    if let Some(r) = &spec.proxy_config_ref {
        rules::object_name(errs, "spec.proxyConfigRef.name", &r.name);
    }
}

fn node_pool(errs: &mut Errors, at: &str, pool: &AksNodePool) {
    rules::string(
        errs,
        &format!("{at}.name"),
        &pool.name,
        patterns::AKS_POOL_NAME,
        (1, 12),
        msg::AKS_POOL_NAME,
    );
    if pool.os_type == OsType::Windows && pool.name.chars().count() > 6 {
        errs.push(
            format!("{at}.name"),
            format!("{:?}: {}", pool.name, msg::WINDOWS_POOL_NAME),
        );
    }
    rules::string(
        errs,
        &format!("{at}.vmSize"),
        &pool.vm_size,
        patterns::VM_SIZE,
        (1, 64),
        msg::VM_SIZE,
    );
    if let Some(count) = pool.count {
        rules::range(
            errs,
            &format!("{at}.count"),
            count,
            (0, 1000),
            msg::POOL_COUNT,
        );
    }
    if let Some(a) = &pool.autoscale {
        rules::range(
            errs,
            &format!("{at}.autoscale.min"),
            a.min,
            (0, 1000),
            msg::POOL_COUNT,
        );
        rules::range(
            errs,
            &format!("{at}.autoscale.max"),
            a.max,
            (0, 1000),
            msg::POOL_COUNT,
        );
        if a.min > a.max {
            errs.push(
                format!("{at}.autoscale"),
                format!("min {} > max {}: {}", a.min, a.max, msg::AUTOSCALE_MIN_MAX),
            );
        }
    }
    if pool.count.is_some() == pool.autoscale.is_some() {
        errs.push(at, msg::POOL_COUNT_OR_AUTOSCALE);
    }
    if pool.mode == PoolMode::System {
        let empty = match (pool.count, &pool.autoscale) {
            (Some(c), _) => c < 1,
            (None, Some(a)) => a.min < 1,
            (None, None) => false,
        };
        if empty {
            errs.push(at, msg::SYSTEM_POOL_EMPTY);
        }
    }
    rules::zones(errs, &format!("{at}.zones"), &pool.zones);
    if let Some(m) = pool.max_pods {
        rules::range(errs, &format!("{at}.maxPods"), m, (10, 250), msg::MAX_PODS);
    }
    if let Some(d) = pool.os_disk_size_gib {
        rules::range(
            errs,
            &format!("{at}.osDiskSizeGiB"),
            d,
            (30, 2048),
            "osDiskSizeGiB must be between 30 and 2048",
        );
    }
    rules::opt_string(
        errs,
        &format!("{at}.subnetId"),
        pool.subnet_id.as_ref(),
        patterns::SUBNET_ID,
        (1, 1024),
        msg::SUBNET_ID,
    );
    labels::node_labels(errs, &format!("{at}.labels"), &pool.labels, NodeLabels::Aks);
}

fn network(errs: &mut Errors, net: &AksNetwork) {
    let pod = net
        .pod_cidr
        .as_deref()
        .and_then(|c| cidr(errs, "spec.network.podCidr", c, msg::CIDR_FORMAT));
    let svc = net
        .service_cidr
        .as_deref()
        .and_then(|c| cidr(errs, "spec.network.serviceCidr", c, msg::CIDR_FORMAT));
    let dns = net
        .dns_service_ip
        .as_deref()
        .and_then(|ip| rules::ipv4(errs, "spec.network.dnsServiceIP", ip));
    if net.service_cidr.is_some() != net.dns_service_ip.is_some() {
        errs.push("spec.network", msg::SERVICE_CIDR_AND_DNS_IP);
    }
    if let (Some(svc), Some(dns)) = (svc, dns) {
        let first = u32::from(svc.network());
        let ip = u32::from(dns);
        if !svc.contains(&dns) || ip == first || ip == first.wrapping_add(1) {
            errs.push(
                "spec.network.dnsServiceIP",
                format!("{dns} in {svc}: {}", msg::DNS_SERVICE_IP_OUTSIDE),
            );
        }
    }
    if net.pod_cidr.is_some()
        && net.plugin == Some(NetworkPlugin::Azure)
        && net.plugin_mode.is_none()
    {
        errs.push("spec.network.podCidr", msg::POD_CIDR_NEEDS_OVERLAY);
    }
    if net.plugin_mode.is_some() && net.plugin.is_some_and(|p| p != NetworkPlugin::Azure) {
        errs.push("spec.network.pluginMode", msg::OVERLAY_NEEDS_AZURE_CNI);
    }
    for (field, net) in [
        ("spec.network.podCidr", pod),
        ("spec.network.serviceCidr", svc),
    ] {
        if let Some(net) = net
            && let Some(range) = rules::overlapped_range(&net, &rules::AKS_RESERVED_RANGES)
        {
            errs.push(
                field,
                format!("{net} overlaps {range}: {}", msg::AKS_RESERVED_RANGE),
            );
        }
    }
    if let (Some(p), Some(s)) = (pod, svc)
        && overlaps(&p, &s)
    {
        errs.push(
            "spec.network.serviceCidr",
            format!("{s} overlaps podCidr {p}: {}", msg::POD_SERVICE_OVERLAP),
        );
    }
    rules::opt_string(
        errs,
        "spec.network.existingSubnet",
        net.existing_subnet.as_ref(),
        patterns::SUBNET_ID,
        (1, 1024),
        msg::SUBNET_ID,
    );
}

fn control_plane_update(errs: &mut Errors, old: &ManagedControlPlane, new: &ManagedControlPlane) {
    if old.disable_local_accounts.is_some()
        && new.disable_local_accounts != old.disable_local_accounts
    {
        errs.push(
            "spec.managedControlPlane.disableLocalAccounts",
            msg::LOCAL_ACCOUNTS_IMMUTABLE,
        );
    }
    let channel = |c: &ManagedControlPlane| {
        c.auto_upgrade_profile
            .as_ref()
            .and_then(|p| p.upgrade_channel)
    };
    if channel(old).is_some() && channel(new).is_none() {
        errs.push(
            "spec.managedControlPlane.autoUpgradeProfile",
            msg::UPGRADE_CHANNEL_REMOVED,
        );
    }
    if let Some(old_aad) = &old.aad_profile {
        match &new.aad_profile {
            None => errs.push("spec.managedControlPlane.aadProfile", msg::AAD_DISABLED),
            Some(new_aad) => {
                if old_aad.managed == Some(true) && new_aad.managed != Some(true) {
                    errs.push("spec.managedControlPlane.aadProfile", msg::AAD_MANAGED_OFF);
                }
                if !old_aad.admin_group_object_ids.is_empty()
                    && new_aad.admin_group_object_ids.is_empty()
                {
                    errs.push(
                        "spec.managedControlPlane.aadProfile",
                        msg::AAD_ADMIN_GROUPS_EMPTY,
                    );
                }
            }
        }
    }
}
