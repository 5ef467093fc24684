//! AksCluster rules.

use kube::ResourceExt;

use super::rules::{self, cidr, overlaps};
use super::{Errors, Validate, ValidationErrors, messages as msg, patterns};
use crate::v1alpha1::{
    AddonName, AddonProfile, AksCluster, AksClusterSpec, AksNetwork, AksNodePool,
    AutoscalerProfile, IdentityType, MaintenanceWindow, ManagedControlPlane, NetworkPlugin,
    NodeOsUpgradeChannel, OsType, PoolMode, ScaleSetPriority, UpgradeChannel,
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
        if o.managed_control_plane.oidc_issuer_enabled()
            && !n.managed_control_plane.oidc_issuer_enabled()
        {
            errs.push(
                "spec.managedControlPlane.oidcIssuerProfile.enabled",
                msg::OIDC_ISSUER_CANNOT_DISABLE,
            );
        }
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
    let priority = |p: &AksNodePool| p.scale_set_priority.unwrap_or(ScaleSetPriority::Regular);
    old.os_type == new.os_type
        && old.vm_size == new.vm_size
        && old.os_disk_size_gib == new.os_disk_size_gib
        && old.zones == new.zones
        && old.max_pods == new.max_pods
        && old.subnet_id == new.subnet_id
        && priority(old) == priority(new)
        && old.scale_set_eviction_policy == new.scale_set_eviction_policy
        && old.spot_max_price.unwrap_or(-1.0) == new.spot_max_price.unwrap_or(-1.0)
        // A Linux pool may move between Linux SKUs (AKS reimages it); Windows SKUs stay.
        && (new.os_type != OsType::Windows || old.os_sku == new.os_sku)
}

fn spec(errs: &mut Errors, spec: &AksClusterSpec) {
    rules::scope(errs, &spec.azure);
    rules::kubernetes_version(errs, "spec.kubernetesVersion", &spec.kubernetes_version);

    let cp = &spec.managed_control_plane;
    control_plane(errs, cp);
    if let Some(w) = &cp.workload_auto_scaler_profile
        && w.keda.is_some_and(|k| k.enabled)
        && let Some((major, minor, _)) = rules::parse_version(&spec.kubernetes_version)
        && major == 1
        && minor < 26
    {
        errs.push(
            "spec.managedControlPlane.workloadAutoScalerProfile.keda",
            format!("{:?}: {}", spec.kubernetes_version, msg::KEDA_VERSION),
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

/// The control plane on its own (the rules CEL enforces on `managedControlPlane`).
fn control_plane(errs: &mut Errors, cp: &ManagedControlPlane) {
    const AT: &str = "spec.managedControlPlane";
    if cp.disable_local_accounts == Some(true) && cp.aad_profile.is_none() {
        errs.push(
            format!("{AT}.disableLocalAccounts"),
            msg::LOCAL_ACCOUNTS_NEED_AAD,
        );
    }
    if let (Some(old_key), Some(new_key)) = (
        cp.disable_local_accounts,
        cp.aad_profile
            .as_ref()
            .and_then(|a| a.disable_local_accounts),
    ) && old_key != new_key
    {
        errs.push(
            format!("{AT}.aadProfile.disableLocalAccounts"),
            msg::LOCAL_ACCOUNTS_CONFLICT,
        );
    }
    for (i, addon) in cp.addon_profiles.iter().enumerate() {
        addon_profile(errs, &format!("{AT}.addonProfiles[{i}]"), addon);
        if cp.addon_profiles[..i].iter().any(|a| a.name == addon.name) {
            errs.push(
                format!("{AT}.addonProfiles[{i}].name"),
                format!(
                    "{:?} is listed twice: {}",
                    addon.name.as_str(),
                    msg::ADDON_NAME
                ),
            );
        }
    }
    if let Some(a) = &cp.autoscaler_profile {
        autoscaler_profile(errs, a);
    }
    if let Some(id) = &cp.identity {
        let user_assigned = id.type_ == IdentityType::UserAssigned;
        if user_assigned != id.user_assigned_identity_resource_id.is_some() {
            errs.push(
                format!("{AT}.identity.userAssignedIdentityResourceID"),
                msg::IDENTITY_RESOURCE_ID,
            );
        }
        rules::opt_string(
            errs,
            &format!("{AT}.identity.userAssignedIdentityResourceID"),
            id.user_assigned_identity_resource_id.as_ref(),
            patterns::USER_ASSIGNED_IDENTITY_ID,
            (1, 1024),
            msg::USER_ASSIGNED_IDENTITY_ID,
        );
    }
    rules::opt_string(
        errs,
        &format!("{AT}.kubeletUserAssignedIdentity"),
        cp.kubelet_user_assigned_identity.as_ref(),
        patterns::USER_ASSIGNED_IDENTITY_ID,
        (1, 1024),
        msg::USER_ASSIGNED_IDENTITY_ID,
    );
    if cp.kubelet_user_assigned_identity.is_some()
        && cp.identity.as_ref().map(|i| i.type_) != Some(IdentityType::UserAssigned)
    {
        errs.push(
            format!("{AT}.kubeletUserAssignedIdentity"),
            msg::KUBELET_IDENTITY_NEEDS_USER_ASSIGNED,
        );
    }
    let workload_identity = cp
        .security_profile
        .as_ref()
        .and_then(|s| s.workload_identity)
        .is_some_and(|w| w.enabled);
    if workload_identity && !cp.oidc_issuer_enabled() {
        errs.push(
            format!("{AT}.securityProfile.workloadIdentity"),
            msg::WORKLOAD_IDENTITY_NEEDS_OIDC,
        );
    }
    let channel = cp
        .auto_upgrade_profile
        .as_ref()
        .and_then(|p| p.upgrade_channel);
    let node_os = cp
        .auto_upgrade_profile
        .as_ref()
        .and_then(|p| p.node_os_upgrade_channel);
    if let Some(w) = &cp.maintenance_windows {
        if let Some(auto) = &w.auto_upgrade {
            maintenance_window(errs, &format!("{AT}.maintenanceWindows.autoUpgrade"), auto);
            if auto.schedule.daily.is_some() {
                errs.push(
                    format!("{AT}.maintenanceWindows.autoUpgrade.schedule"),
                    msg::MAINTENANCE_DAILY_AUTO_UPGRADE,
                );
            }
            if channel.is_none_or(|c| c == UpgradeChannel::None) {
                errs.push(
                    format!("{AT}.maintenanceWindows.autoUpgrade"),
                    msg::MAINTENANCE_AUTO_UPGRADE_CHANNEL,
                );
            }
        }
        if let Some(os) = &w.node_os_upgrade {
            maintenance_window(errs, &format!("{AT}.maintenanceWindows.nodeOSUpgrade"), os);
            if node_os.is_some_and(|c| {
                matches!(
                    c,
                    NodeOsUpgradeChannel::None | NodeOsUpgradeChannel::Unmanaged
                )
            }) {
                errs.push(
                    format!("{AT}.maintenanceWindows.nodeOSUpgrade"),
                    msg::MAINTENANCE_NODE_OS_CHANNEL,
                );
            }
        }
    }
}

fn addon_profile(errs: &mut Errors, at: &str, addon: &AddonProfile) {
    let field = format!("{at}.config");
    if addon.config.len() > 8 {
        errs.push(&field, format!("{} keys, at most 8", addon.config.len()));
    }
    if let Some((k, v)) = addon.config.iter().find(|(_, v)| v.chars().count() > 1024) {
        errs.push(
            &field,
            format!(
                "config {k:?}: {} characters, at most 1024",
                v.chars().count()
            ),
        );
    }
    let bad_key = |allowed: &dyn Fn(&str, &str) -> bool| {
        addon
            .config
            .iter()
            .find(|(k, v)| !allowed(k, v))
            .map(|(k, _)| k.clone())
    };
    match addon.name {
        AddonName::AzurePolicy => {
            if let Some(k) = bad_key(&|k, v| k == "version" && v == "v2") {
                errs.push(field, format!("config {k:?}: {}", msg::AZURE_POLICY_CONFIG));
            }
        }
        AddonName::Monitoring => {
            let bad = bad_key(&|k, v| match k {
                "logAnalyticsWorkspaceResourceID" => {
                    rules::matches(patterns::LOG_ANALYTICS_WORKSPACE_ID, v)
                }
                "useAADAuth" => v == "true" || v == "false",
                _ => false,
            });
            let missing =
                addon.enabled && !addon.config.contains_key("logAnalyticsWorkspaceResourceID");
            if let Some(k) = bad {
                errs.push(field, format!("config {k:?}: {}", msg::MONITORING_CONFIG));
            } else if missing {
                errs.push(field, msg::MONITORING_CONFIG);
            }
        }
        AddonName::KeyVaultSecretsProvider => {
            if let Some(k) = bad_key(&|k, v| match k {
                "enableSecretRotation" => v == "true" || v == "false",
                "rotationPollInterval" => rules::matches(patterns::DURATION, v),
                _ => false,
            }) {
                errs.push(field, format!("config {k:?}: {}", msg::KEY_VAULT_CONFIG));
            }
        }
    }
}

fn autoscaler_profile(errs: &mut Errors, a: &AutoscalerProfile) {
    const AT: &str = "spec.managedControlPlane.autoscalerProfile";
    let checks: [(&str, &Option<String>, &'static str, &str); 13] = [
        (
            "maxEmptyBulkDelete",
            &a.max_empty_bulk_delete,
            patterns::COUNT,
            msg::AUTOSCALER_COUNT,
        ),
        (
            "maxGracefulTerminationSec",
            &a.max_graceful_termination_sec,
            patterns::COUNT,
            msg::AUTOSCALER_COUNT,
        ),
        (
            "maxNodeProvisionTime",
            &a.max_node_provision_time,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "maxTotalUnreadyPercentage",
            &a.max_total_unready_percentage,
            patterns::PERCENTAGE,
            msg::AUTOSCALER_PERCENTAGE,
        ),
        (
            "newPodScaleUpDelay",
            &a.new_pod_scale_up_delay,
            patterns::DURATION,
            msg::AUTOSCALER_DELAY,
        ),
        (
            "okTotalUnreadyCount",
            &a.ok_total_unready_count,
            patterns::COUNT,
            msg::AUTOSCALER_COUNT,
        ),
        (
            "scanInterval",
            &a.scan_interval,
            patterns::SECONDS,
            msg::AUTOSCALER_SCAN_INTERVAL,
        ),
        (
            "scaleDownDelayAfterAdd",
            &a.scale_down_delay_after_add,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "scaleDownDelayAfterDelete",
            &a.scale_down_delay_after_delete,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "scaleDownDelayAfterFailure",
            &a.scale_down_delay_after_failure,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "scaleDownUnneededTime",
            &a.scale_down_unneeded_time,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "scaleDownUnreadyTime",
            &a.scale_down_unready_time,
            patterns::MINUTES,
            msg::AUTOSCALER_MINUTES,
        ),
        (
            "scaleDownUtilizationThreshold",
            &a.scale_down_utilization_threshold,
            patterns::FRACTION,
            msg::AUTOSCALER_THRESHOLD,
        ),
    ];
    for (key, value, pattern, message) in checks {
        rules::opt_string(
            errs,
            &format!("{AT}.{key}"),
            value.as_ref(),
            pattern,
            (1, 16),
            message,
        );
    }
}

fn maintenance_window(errs: &mut Errors, at: &str, w: &MaintenanceWindow) {
    let s = &w.schedule;
    let kinds = [
        s.daily.is_some(),
        s.weekly.is_some(),
        s.absolute_monthly.is_some(),
        s.relative_monthly.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        errs.push(format!("{at}.schedule"), msg::MAINTENANCE_ONE_SCHEDULE);
    }
    let interval = |errs: &mut Errors, field: &str, v: i32, bounds: (i32, i32)| {
        rules::range(
            errs,
            &format!("{at}.schedule.{field}"),
            v,
            bounds,
            msg::MAINTENANCE_INTERVAL,
        );
    };
    if let Some(d) = &s.daily {
        interval(errs, "daily.intervalDays", d.interval_days, (1, 7));
    }
    if let Some(wk) = &s.weekly {
        interval(errs, "weekly.intervalWeeks", wk.interval_weeks, (1, 4));
    }
    if let Some(m) = &s.absolute_monthly {
        interval(
            errs,
            "absoluteMonthly.intervalMonths",
            m.interval_months,
            (1, 6),
        );
        interval(errs, "absoluteMonthly.dayOfMonth", m.day_of_month, (1, 31));
    }
    if let Some(m) = &s.relative_monthly {
        interval(
            errs,
            "relativeMonthly.intervalMonths",
            m.interval_months,
            (1, 6),
        );
    }
    if let Some(h) = w.duration_hours {
        rules::range(
            errs,
            &format!("{at}.durationHours"),
            h,
            (4, 24),
            msg::MAINTENANCE_DURATION,
        );
    }
    rules::string(
        errs,
        &format!("{at}.startTime"),
        &w.start_time,
        patterns::TIME_OF_DAY,
        (5, 5),
        msg::MAINTENANCE_START_TIME,
    );
    rules::opt_string(
        errs,
        &format!("{at}.utcOffset"),
        w.utc_offset.as_ref(),
        patterns::UTC_OFFSET,
        (6, 6),
        msg::MAINTENANCE_UTC_OFFSET,
    );
    rules::opt_string(
        errs,
        &format!("{at}.startDate"),
        w.start_date.as_ref(),
        patterns::DATE,
        (10, 10),
        msg::MAINTENANCE_DATE,
    );
    if w.not_allowed_dates.len() > 32 {
        errs.push(
            format!("{at}.notAllowedDates"),
            format!("{} ranges, at most 32", w.not_allowed_dates.len()),
        );
    }
    for (i, span) in w.not_allowed_dates.iter().enumerate() {
        let f = format!("{at}.notAllowedDates[{i}]");
        rules::string(
            errs,
            &format!("{f}.start"),
            &span.start,
            patterns::DATE,
            (10, 10),
            msg::MAINTENANCE_DATE,
        );
        rules::string(
            errs,
            &format!("{f}.end"),
            &span.end,
            patterns::DATE,
            (10, 10),
            msg::MAINTENANCE_DATE,
        );
        if span.start > span.end {
            errs.push(
                format!("{f}.end"),
                format!(
                    "{} to {}: {}",
                    span.start,
                    span.end,
                    msg::MAINTENANCE_NOT_ALLOWED
                ),
            );
        }
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
    if pool.taints.len() > 50 {
        errs.push(
            format!("{at}.taints"),
            format!("{} taints: {}", pool.taints.len(), msg::TAINT_FORMAT),
        );
    }
    if let Some(t) = pool
        .taints
        .iter()
        .find(|t| t.chars().count() > 400 || !rules::matches(patterns::AKS_TAINT, t))
    {
        errs.push(
            format!("{at}.taints"),
            format!("{}: {}", rules::show(t), msg::TAINT_FORMAT),
        );
    }
    if let Some(sku) = pool.os_sku
        && sku.is_windows() != (pool.os_type == OsType::Windows)
    {
        errs.push(
            format!("{at}.osSKU"),
            format!(
                "{:?} on a {:?} pool: {}",
                sku.as_str(),
                pool.os_type,
                msg::OS_SKU_MISMATCH
            ),
        );
    }
    let spot = pool.scale_set_priority == Some(ScaleSetPriority::Spot);
    if spot && pool.mode == PoolMode::System {
        errs.push(format!("{at}.scaleSetPriority"), msg::SPOT_SYSTEM_POOL);
    }
    if !spot && (pool.scale_set_eviction_policy.is_some() || pool.spot_max_price.is_some()) {
        errs.push(format!("{at}.scaleSetPriority"), msg::SPOT_ONLY);
    }
    if let Some(p) = pool.spot_max_price
        && p != -1.0
        && p <= 0.0
    {
        errs.push(
            format!("{at}.spotMaxPrice"),
            format!("{p}: {}", msg::SPOT_MAX_PRICE),
        );
    }
    if let Some(u) = &pool.upgrade_settings {
        rules::opt_string(
            errs,
            &format!("{at}.upgradeSettings.maxSurge"),
            u.max_surge.as_ref(),
            patterns::MAX_SURGE,
            (1, 5),
            msg::MAX_SURGE,
        );
        if let Some(d) = u.drain_timeout_in_minutes {
            rules::range(
                errs,
                &format!("{at}.upgradeSettings.drainTimeoutInMinutes"),
                d,
                (1, 1440),
                msg::DRAIN_TIMEOUT,
            );
        }
        if let Some(d) = u.node_soak_duration_in_minutes {
            rules::range(
                errs,
                &format!("{at}.upgradeSettings.nodeSoakDurationInMinutes"),
                d,
                (0, 30),
                msg::NODE_SOAK,
            );
        }
    }
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
    // Either key may carry it; moving it from the old key to Palette's is no change.
    if old.local_accounts_disabled().is_some()
        && new.local_accounts_disabled() != old.local_accounts_disabled()
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
