//! What AKS does with the cluster features beyond pools and versions: add-ons (each enabled
//! one gets a user-assigned identity AKS makes in the node resource group), KEDA and VPA, the
//! cluster autoscaler profile (AKS fills its defaults), the control-plane identity
//! (SystemAssigned or one UserAssigned), the kubelet identity (AKS makes `<cluster>-agentpool`
//! unless one is brought, which needs a user-assigned control plane), workload identity (needs
//! the OIDC issuer); and per pool: taints, OS SKU, Spot (AKS taints and labels Spot pools
//! itself), upgrade settings. A feature a PUT leaves out keeps what the cluster had.

use crate::errors::ArmError;
use serde_json::{Map, Value, json};

fn bad(msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg)
}

/// A deterministic GUID for something of the cluster `cluster_id` (`what`: `kubelet/client`).
fn guid(cluster_id: &str, what: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("{}/{what}", cluster_id.to_ascii_lowercase()).as_bytes(),
    )
    .to_string()
}

/// The cluster a feature belongs to.
pub struct ClusterIds<'a> {
    pub cluster_id: &'a str,
    pub name: &'a str,
    pub subscription: &'a str,
    pub node_resource_group: &'a str,
    /// `major.minor.patch` the control plane runs after this write.
    pub version: &'a str,
}

impl ClusterIds<'_> {
    fn managed_identity(&self, name: &str) -> Value {
        let resource_id = format!(
            "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            self.subscription, self.node_resource_group
        );
        json!({
            "resourceId": resource_id,
            "clientId": guid(self.cluster_id, &format!("{name}/client")),
            "objectId": guid(self.cluster_id, &format!("{name}/object")),
        })
    }
}

/// Add-ons AKS accepts (canonical key; the identity name prefix when AKS makes one).
const ADDONS: &[(&str, Option<&str>)] = &[
    ("azurepolicy", Some("azurepolicy")),
    ("omsagent", Some("omsagent")),
    (
        "azureKeyvaultSecretsProvider",
        Some("azurekeyvaultsecretsprovider"),
    ),
    (
        "ingressApplicationGateway",
        Some("ingressapplicationgateway"),
    ),
    ("aciConnectorLinux", Some("aciconnectorlinux")),
    ("confcom", None),
];

fn is_user_assigned_identity_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() == 9
        && parts[0].is_empty()
        && parts[1].eq_ignore_ascii_case("subscriptions")
        && parts[3].eq_ignore_ascii_case("resourceGroups")
        && parts[5].eq_ignore_ascii_case("providers")
        && parts[6].eq_ignore_ascii_case("Microsoft.ManagedIdentity")
        && parts[7].eq_ignore_ascii_case("userAssignedIdentities")
        && parts.iter().skip(1).all(|p| !p.is_empty())
}

/// `identity` of the cluster body (validated, read-only parts filled).
pub fn apply_identity(body: &mut Value, cluster_id: &str) -> Result<(), ArmError> {
    if body.get("identity").is_none_or(Value::is_null) {
        body["identity"] = json!({"type": "SystemAssigned"});
    }
    let ty = body
        .pointer("/identity/type")
        .and_then(Value::as_str)
        .unwrap_or("SystemAssigned")
        .to_string();
    match ty.as_str() {
        "SystemAssigned" => {
            body["identity"] = json!({
                "type": "SystemAssigned",
                "principalId": guid(cluster_id, "identity/principal"),
                "tenantId": "00000000-0000-0000-0000-000000000000",
            });
        }
        "UserAssigned" => {
            let ids: Vec<String> = body
                .pointer("/identity/userAssignedIdentities")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            if ids.len() != 1 {
                return Err(bad(format!(
                    "The identity type UserAssigned needs exactly one user assigned identity in identity.userAssignedIdentities; {} given.",
                    ids.len()
                )));
            }
            let id = &ids[0];
            if !is_user_assigned_identity_id(id) {
                return Err(bad(format!(
                    "The user assigned identity '{id}' is not a valid resource id of Microsoft.ManagedIdentity/userAssignedIdentities."
                )));
            }
            body["identity"] = json!({
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    id.clone(): {
                        "principalId": guid(id, "principal"),
                        "clientId": guid(id, "client"),
                    }
                }
            });
        }
        other => {
            return Err(bad(format!(
                "The value of parameter identity.type '{other}' is invalid (SystemAssigned|UserAssigned)."
            )));
        }
    }
    Ok(())
}

/// Cluster autoscaler settings AKS reports when none is given.
const AUTOSCALER_DEFAULTS: &[(&str, &str)] = &[
    ("balance-similar-node-groups", "false"),
    ("expander", "random"),
    ("max-empty-bulk-delete", "10"),
    ("max-graceful-termination-sec", "600"),
    ("max-node-provision-time", "15m"),
    ("max-total-unready-percentage", "45"),
    ("new-pod-scale-up-delay", "0s"),
    ("ok-total-unready-count", "3"),
    ("scale-down-delay-after-add", "10m"),
    ("scale-down-delay-after-delete", "10s"),
    ("scale-down-delay-after-failure", "3m"),
    ("scale-down-unneeded-time", "10m"),
    ("scale-down-unready-time", "20m"),
    ("scale-down-utilization-threshold", "0.5"),
    ("scan-interval", "10s"),
    ("skip-nodes-with-local-storage", "false"),
    ("skip-nodes-with-system-pods", "true"),
];
const AUTOSCALER_BOOLEANS: &[(&str, bool)] = &[
    ("daemonset-eviction-for-empty-nodes", false),
    ("daemonset-eviction-for-occupied-nodes", true),
    ("ignore-daemonsets-utilization", false),
];

fn digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

fn autoscaler_value_ok(key: &str, v: &str) -> bool {
    let unit = |u: &str| v.strip_suffix(u).is_some_and(digits);
    match key {
        "balance-similar-node-groups"
        | "skip-nodes-with-local-storage"
        | "skip-nodes-with-system-pods" => v == "true" || v == "false",
        "expander" => ["least-waste", "most-pods", "priority", "random"].contains(&v),
        "max-empty-bulk-delete" | "max-graceful-termination-sec" | "ok-total-unready-count" => {
            digits(v)
        }
        "max-total-unready-percentage" => v.parse::<u32>().is_ok_and(|p| p <= 100),
        "max-node-provision-time"
        | "scale-down-delay-after-add"
        | "scale-down-delay-after-failure"
        | "scale-down-unneeded-time"
        | "scale-down-unready-time" => unit("m"),
        "scale-down-delay-after-delete" => unit("m") || unit("s"),
        "new-pod-scale-up-delay" => unit("s") || unit("m") || unit("h"),
        "scan-interval" => unit("s"),
        "scale-down-utilization-threshold" => {
            v.parse::<f64>().is_ok_and(|t| (0.0..=1.0).contains(&t))
        }
        _ => false,
    }
}

/// Add-ons, workload autoscalers, the autoscaler profile, the kubelet identity and workload
/// identity of a cluster PUT (`props`), against the stored body `old`.
pub fn apply_features(
    props: &mut Map<String, Value>,
    old: &Value,
    ids: &ClusterIds<'_>,
    identity_type: &str,
) -> Result<(), ArmError> {
    let old_props = old.get("properties").cloned().unwrap_or(json!({}));
    // Left out: kept as the cluster had it.
    for k in [
        "addonProfiles",
        "workloadAutoScalerProfile",
        "securityProfile",
        "identityProfile",
        "autoScalerProfile",
    ] {
        if props.get(k).is_none_or(Value::is_null)
            && let Some(v) = old_props.get(k).filter(|v| !v.is_null())
        {
            props.insert(k.to_string(), v.clone());
        }
    }
    addons(props, ids)?;

    if let Some(w) = props
        .get_mut("workloadAutoScalerProfile")
        .and_then(Value::as_object_mut)
    {
        for part in ["keda", "verticalPodAutoscaler"] {
            if let Some(p) = w.get(part).filter(|p| !p.is_null())
                && p.get("enabled").and_then(Value::as_bool).is_none()
            {
                return Err(bad(format!(
                    "The value of parameter workloadAutoScalerProfile.{part}.enabled is required."
                )));
            }
        }
        let keda = w
            .get("keda")
            .and_then(|k| k.get("enabled"))
            .and_then(Value::as_bool)
            == Some(true);
        let minor = ids
            .version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        if keda && minor < 26 {
            return Err(bad(format!(
                "The KEDA add-on is not supported on Kubernetes version {}: it needs 1.26 or later.",
                ids.version
            )));
        }
    }

    let autoscaling = props
        .get("agentPoolProfiles")
        .and_then(Value::as_array)
        .is_some_and(|pools| {
            pools
                .iter()
                .any(|p| p.get("enableAutoScaling").and_then(Value::as_bool) == Some(true))
        });
    let given = props
        .get("autoScalerProfile")
        .and_then(Value::as_object)
        .cloned();
    if given.is_some() || autoscaling {
        let given = given.unwrap_or_default();
        let mut profile = Map::new();
        for (k, v) in &given {
            if let Some((_, _)) = AUTOSCALER_BOOLEANS.iter().find(|(b, _)| b == k) {
                if !v.is_boolean() {
                    return Err(bad(format!(
                        "The value of parameter autoScalerProfile.{k} must be a boolean."
                    )));
                }
                profile.insert(k.clone(), v.clone());
                continue;
            }
            let Some(s) = v.as_str() else {
                return Err(bad(format!(
                    "The value of parameter autoScalerProfile.{k} must be a string."
                )));
            };
            if !AUTOSCALER_DEFAULTS.iter().any(|(d, _)| d == k) || !autoscaler_value_ok(k, s) {
                return Err(bad(format!(
                    "The value of parameter autoScalerProfile.{k} '{s}' is invalid."
                )));
            }
            profile.insert(k.clone(), v.clone());
        }
        for (k, d) in AUTOSCALER_DEFAULTS {
            profile.entry(k.to_string()).or_insert(json!(d));
        }
        for (k, d) in AUTOSCALER_BOOLEANS {
            profile.entry(k.to_string()).or_insert(json!(d));
        }
        props.insert("autoScalerProfile".into(), Value::Object(profile));
    }

    // The kubelet identity: brought (needs a user-assigned control plane), else AKS's own.
    let brought = props
        .get("identityProfile")
        .and_then(|p| p.get("kubeletidentity"))
        .and_then(|k| k.get("resourceId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let own = ids.managed_identity(&format!("{}-agentpool", ids.name));
    let kept = old_props
        .pointer("/identityProfile/kubeletidentity/resourceId")
        .and_then(Value::as_str);
    // A body that sends back what a GET showed (AKS's own identity, or the one already set)
    // changes nothing.
    let brought = brought.filter(|id| {
        !own["resourceId"]
            .as_str()
            .is_some_and(|o| o.eq_ignore_ascii_case(id))
            && !kept.is_some_and(|k| k.eq_ignore_ascii_case(id))
    });
    let kubelet = match brought {
        Some(id) => {
            if identity_type != "UserAssigned" {
                return Err(bad(
                    "A kubelet identity (identityProfile.kubeletidentity) can only be used with a user assigned control plane identity.",
                ));
            }
            if !is_user_assigned_identity_id(&id) {
                return Err(bad(format!(
                    "The kubelet identity '{id}' is not a valid resource id of Microsoft.ManagedIdentity/userAssignedIdentities."
                )));
            }
            json!({
                "resourceId": id,
                "clientId": guid(&id, "client"),
                "objectId": guid(&id, "object"),
            })
        }
        None => match kept {
            Some(id)
                if !own["resourceId"]
                    .as_str()
                    .is_some_and(|o| o.eq_ignore_ascii_case(id)) =>
            {
                old_props["identityProfile"]["kubeletidentity"].clone()
            }
            _ => own,
        },
    };
    props.insert(
        "identityProfile".into(),
        json!({"kubeletidentity": kubelet}),
    );

    let on =
        |v: Option<&Value>| v.and_then(|v| v.get("enabled")).and_then(Value::as_bool) == Some(true);
    let workload_identity = on(props
        .get("securityProfile")
        .and_then(|s| s.get("workloadIdentity")));
    let oidc = on(props.get("oidcIssuerProfile"));
    if workload_identity && !oidc {
        return Err(bad(
            "Enabling workload identity (securityProfile.workloadIdentity) requires the OIDC issuer (oidcIssuerProfile.enabled: true).",
        ));
    }
    Ok(())
}

fn addons(props: &mut Map<String, Value>, ids: &ClusterIds<'_>) -> Result<(), ArmError> {
    let Some(given) = props
        .get("addonProfiles")
        .and_then(Value::as_object)
        .cloned()
    else {
        return Ok(());
    };
    let mut out = Map::new();
    for (name, addon) in given {
        let Some((key, identity)) = ADDONS.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name))
        else {
            return Err(bad(format!(
                "The addon '{name}' is not supported. Supported addons: {}.",
                ADDONS
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let Some(enabled) = addon.get("enabled").and_then(Value::as_bool) else {
            return Err(bad(format!(
                "The value of parameter addonProfiles.{name}.enabled is required."
            )));
        };
        let mut config: Map<String, Value> = addon
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !enabled {
            out.insert(
                key.to_string(),
                json!({"enabled": false, "config": Value::Null}),
            );
            continue;
        }
        let text =
            |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        match *key {
            "azurepolicy" => {
                if let Some((k, _)) = config
                    .iter()
                    .find(|(k, v)| !(k.as_str() == "version" && v.as_str() == Some("v2")))
                {
                    return Err(bad(format!(
                        "The config '{k}' of the azurepolicy addon is invalid: only version v2 is supported."
                    )));
                }
            }
            "omsagent" => {
                let ws = text(&config, "logAnalyticsWorkspaceResourceID").ok_or_else(|| {
                    bad("The omsagent addon needs config.logAnalyticsWorkspaceResourceID.")
                })?;
                let parts: Vec<&str> = ws.split('/').collect();
                let workspace = parts.len() == 9
                    && parts[6].eq_ignore_ascii_case("Microsoft.OperationalInsights")
                    && parts[7].eq_ignore_ascii_case("workspaces");
                if !workspace {
                    return Err(bad(format!(
                        "The Log Analytics workspace '{ws}' of the omsagent addon is not a valid resource id."
                    )));
                }
                if let Some(k) = config.keys().find(|k| {
                    !["logAnalyticsWorkspaceResourceID", "useAADAuth"].contains(&k.as_str())
                }) {
                    return Err(bad(format!(
                        "The config '{k}' of the omsagent addon is not supported."
                    )));
                }
            }
            "azureKeyvaultSecretsProvider" => {
                for (k, v) in &config {
                    let ok = match (k.as_str(), v.as_str()) {
                        ("enableSecretRotation", Some(b)) => b == "true" || b == "false",
                        ("rotationPollInterval", Some(d)) => ["s", "m", "h"]
                            .iter()
                            .any(|u| d.strip_suffix(u).is_some_and(digits)),
                        _ => false,
                    };
                    if !ok {
                        return Err(bad(format!(
                            "The config '{k}' of the azureKeyvaultSecretsProvider addon is invalid."
                        )));
                    }
                }
                config
                    .entry("enableSecretRotation")
                    .or_insert(json!("false"));
                config.entry("rotationPollInterval").or_insert(json!("2m"));
            }
            _ => {}
        }
        let mut profile = json!({"enabled": true, "config": if config.is_empty() { Value::Null } else { Value::Object(config) }});
        if let Some(prefix) = identity {
            profile["identity"] = ids.managed_identity(&format!("{prefix}-{}", ids.name));
        }
        out.insert(key.to_string(), profile);
    }
    props.insert("addonProfiles".into(), Value::Object(out));
    Ok(())
}

/// The taint and label AKS gives every Spot pool.
pub const SPOT_TAINT: &str = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule";
pub const SPOT_LABEL: &str = "kubernetes.azure.com/scalesetpriority";

const LINUX_SKUS: &[&str] = &[
    "Ubuntu",
    "Ubuntu2204",
    "Ubuntu2404",
    "Ubuntu2604",
    "AzureLinux",
    "AzureLinux3",
    "AzureContainerLinux",
    "CBLMariner",
];
const WINDOWS_SKUS: &[&str] = &["Windows2019", "Windows2022", "Windows2025"];

fn taint_ok(t: &str) -> bool {
    let Some((kv, effect)) = t.rsplit_once(':') else {
        return false;
    };
    let Some((k, v)) = kv.split_once('=') else {
        return false;
    };
    ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        && !k.is_empty()
        && !v.is_empty()
        && !kv.contains(char::is_whitespace)
}

/// Taints, OS SKU, Spot and upgrade settings of one pool (`old`: the pool as stored).
pub fn apply_pool_features(
    name: &str,
    props: &mut Map<String, Value>,
    old: Option<&Map<String, Value>>,
) -> Result<(), ArmError> {
    let field = |f: &str| format!("agentPoolProfile.{f}");
    let os_type = props
        .get("osType")
        .and_then(Value::as_str)
        .unwrap_or("Linux")
        .to_string();
    let windows = os_type.eq_ignore_ascii_case("Windows");
    let sku = match props.get("osSKU").and_then(Value::as_str) {
        Some(s) => {
            let (own, other) = if windows {
                (WINDOWS_SKUS, LINUX_SKUS)
            } else {
                (LINUX_SKUS, WINDOWS_SKUS)
            };
            match own.iter().find(|k| k.eq_ignore_ascii_case(s)) {
                Some(k) => k.to_string(),
                None if other.iter().any(|k| k.eq_ignore_ascii_case(s)) => {
                    return Err(bad(format!(
                        "The OS SKU '{s}' of agent pool '{name}' does not match its OS type {os_type}."
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "The value of parameter {} '{s}' is invalid.",
                        field("osSKU")
                    )));
                }
            }
        }
        None => old
            .and_then(|o| o.get("osSKU"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| if windows { "Windows2022" } else { "Ubuntu" }.to_string()),
    };
    if windows
        && let Some(before) = old.and_then(|o| o.get("osSKU")).and_then(Value::as_str)
        && !before.eq_ignore_ascii_case(&sku)
    {
        return Err(bad(format!(
            "Changing property 'osSKU' of Windows agent pool '{name}' from {before} to {sku} is not allowed."
        )));
    }
    props.insert("osSKU".into(), json!(sku));

    let priority = props
        .get("scaleSetPriority")
        .and_then(Value::as_str)
        .unwrap_or("Regular")
        .to_string();
    if !["Regular", "Spot"].contains(&priority.as_str()) {
        return Err(bad(format!(
            "The value of parameter {} '{priority}' is invalid.",
            field("scaleSetPriority")
        )));
    }
    let before = old
        .and_then(|o| o.get("scaleSetPriority"))
        .and_then(Value::as_str)
        .unwrap_or("Regular");
    if old.is_some() && before != priority {
        return Err(bad(format!(
            "Changing property 'scaleSetPriority' of agent pool '{name}' is not allowed."
        )));
    }
    let spot = priority == "Spot";
    let system = props.get("mode").and_then(Value::as_str) == Some("System");
    if spot && system {
        return Err(bad(format!(
            "Agent pool '{name}' is a System pool and cannot use Spot priority."
        )));
    }
    if !spot
        && (props
            .get("scaleSetEvictionPolicy")
            .is_some_and(|v| !v.is_null())
            || props.get("spotMaxPrice").is_some_and(|v| !v.is_null()))
    {
        return Err(bad(format!(
            "scaleSetEvictionPolicy and spotMaxPrice can only be set on Spot agent pools ('{name}' is Regular)."
        )));
    }
    if spot {
        let policy = props
            .get("scaleSetEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Delete")
            .to_string();
        if !["Delete", "Deallocate"].contains(&policy.as_str()) {
            return Err(bad(format!(
                "The value of parameter {} '{policy}' is invalid.",
                field("scaleSetEvictionPolicy")
            )));
        }
        let price = props
            .get("spotMaxPrice")
            .and_then(Value::as_f64)
            .unwrap_or(-1.0);
        if price != -1.0 && price <= 0.0 {
            return Err(bad(format!(
                "The value of parameter {} {price} is invalid: -1 or a price above 0.",
                field("spotMaxPrice")
            )));
        }
        for (k, v) in [
            ("scaleSetEvictionPolicy", json!(policy)),
            ("spotMaxPrice", json!(price)),
        ] {
            if let Some(b) = old.and_then(|o| o.get(k))
                && !b.is_null()
                && *b != v
            {
                return Err(bad(format!(
                    "Changing property '{k}' of agent pool '{name}' is not allowed."
                )));
            }
            props.insert(k.into(), v);
        }
    }

    let mut taints: Vec<String> = match props.get("nodeTaints") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string).unwrap_or_default())
            .collect(),
        _ => old
            .and_then(|o| o.get("nodeTaints"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    taints.retain(|t| t != SPOT_TAINT);
    if let Some(t) = taints.iter().find(|t| !taint_ok(t)) {
        return Err(bad(format!(
            "The value of parameter {} '{t}' is invalid: taints are key=value:NoSchedule|PreferNoSchedule|NoExecute.",
            field("nodeTaints")
        )));
    }
    if spot {
        taints.push(SPOT_TAINT.to_string());
        let labels = props.entry("nodeLabels").or_insert(json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        labels[SPOT_LABEL] = json!("spot");
    }
    props.insert("nodeTaints".into(), json!(taints));

    if let Some(u) = props.get("upgradeSettings").and_then(Value::as_object) {
        if let Some(s) = u.get("maxSurge").and_then(Value::as_str) {
            let ok = match s.strip_suffix('%') {
                Some(p) => p.parse::<u32>().is_ok_and(|p| (1..=100).contains(&p)),
                None => s.parse::<u32>().is_ok_and(|n| n >= 1),
            };
            if !ok {
                return Err(bad(format!(
                    "The value of parameter {} '{s}' is invalid.",
                    field("upgradeSettings.maxSurge")
                )));
            }
        }
        for (k, lo, hi) in [
            ("drainTimeoutInMinutes", 1, 1440),
            ("nodeSoakDurationInMinutes", 0, 30),
        ] {
            if let Some(v) = u.get(k).and_then(Value::as_i64)
                && !(lo..=hi).contains(&v)
            {
                return Err(bad(format!(
                    "The value of parameter {} {v} is out of the range [{lo}, {hi}].",
                    field(&format!("upgradeSettings.{k}"))
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> ClusterIds<'static> {
        ClusterIds {
            cluster_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
            name: "c",
            subscription: "s",
            node_resource_group: "MC_rg_c_westeurope",
            version: "1.36.3",
        }
    }

    #[test]
    fn enabled_add_ons_get_an_identity_and_what_aks_refuses_is_refused() {
        let mut props = json!({"addonProfiles": {
            "azurepolicy": {"enabled": true},
            "azureKeyvaultSecretsProvider": {"enabled": true},
            "omsagent": {"enabled": false}
        }})
        .as_object()
        .cloned()
        .unwrap_or_default();
        apply_features(&mut props, &Value::Null, &ids(), "SystemAssigned").expect("ok");
        let a = &props["addonProfiles"];
        assert!(
            a["azurepolicy"]["identity"]["resourceId"]
                .as_str()
                .is_some_and(|id| id.ends_with("/MC_rg_c_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/azurepolicy-c"))
        );
        assert_eq!(
            a["azureKeyvaultSecretsProvider"]["config"]["rotationPollInterval"],
            "2m"
        );
        assert!(a["omsagent"].get("identity").is_none());
        assert!(
            props["identityProfile"]["kubeletidentity"]["resourceId"]
                .as_str()
                .is_some_and(|id| id.ends_with("/c-agentpool"))
        );
        for bad_addon in [
            json!({"azurepolicy": {"enabled": true, "config": {"version": "v1"}}}),
            json!({"omsagent": {"enabled": true}}),
            json!({"httpApplicationRouting": {"enabled": true}}),
            json!({"azureKeyvaultSecretsProvider": {"enabled": true, "config": {"rotationPollInterval": "soon"}}}),
        ] {
            let mut p = Map::new();
            p.insert("addonProfiles".into(), bad_addon.clone());
            assert!(
                apply_features(&mut p, &Value::Null, &ids(), "SystemAssigned").is_err(),
                "{bad_addon}"
            );
        }
    }

    #[test]
    fn a_kubelet_identity_needs_a_user_assigned_control_plane_and_workload_identity_the_issuer() {
        let kubelet = json!({"identityProfile": {"kubeletidentity": {"resourceId": "/subscriptions/s/resourceGroups/id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/k"}}});
        let mut p = kubelet.as_object().cloned().unwrap_or_default();
        assert!(apply_features(&mut p, &Value::Null, &ids(), "SystemAssigned").is_err());
        let mut p = kubelet.as_object().cloned().unwrap_or_default();
        apply_features(&mut p, &Value::Null, &ids(), "UserAssigned").expect("ok");
        assert!(p["identityProfile"]["kubeletidentity"]["objectId"].is_string());
        let mut p = json!({"securityProfile": {"workloadIdentity": {"enabled": true}}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(apply_features(&mut p, &Value::Null, &ids(), "SystemAssigned").is_err());
    }

    #[test]
    fn spot_pools_get_aks_taint_and_label_and_keep_their_priority() {
        let mut p =
            json!({"mode": "User", "scaleSetPriority": "Spot", "nodeTaints": ["a=b:NoSchedule"]})
                .as_object()
                .cloned()
                .unwrap_or_default();
        apply_pool_features("spot", &mut p, None).expect("ok");
        assert_eq!(p["nodeTaints"], json!(["a=b:NoSchedule", SPOT_TAINT]));
        assert_eq!(p["nodeLabels"][SPOT_LABEL], "spot");
        assert_eq!(
            (
                p["scaleSetEvictionPolicy"].clone(),
                p["spotMaxPrice"].clone()
            ),
            (json!("Delete"), json!(-1.0))
        );
        let old = p.clone();
        let mut regular = json!({"mode": "User"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(apply_pool_features("spot", &mut regular, Some(&old)).is_err());
        let mut system = json!({"mode": "System", "scaleSetPriority": "Spot"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(apply_pool_features("sys", &mut system, None).is_err());
        let mut bad_taint = json!({"nodeTaints": ["gpu:NoSchedule"]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(apply_pool_features("p", &mut bad_taint, None).is_err());
        let mut bad_sku = json!({"osSKU": "Windows2022"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(apply_pool_features("p", &mut bad_sku, None).is_err());
    }
}
