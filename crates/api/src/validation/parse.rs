//! Turning untyped objects into typed ones. Enum fields are enforced by the Rust types
//! themselves, so a value outside an enum fails here, with the same message the other layers
//! use and the path of the field.

use serde::de::DeserializeOwned;

use super::messages as msg;
use super::{ValidationError, ValidationErrors};

/// Enum-typed fields and their messages. Paths use `[]` for any list index.
const ENUM_FIELDS: &[(&str, &str)] = &[
    ("spec.controlPlane.osDisk.type", msg::OS_DISK_TYPE),
    ("spec.workerPools[].osDisk.type", msg::OS_DISK_TYPE),
    ("spec.workerPools[].taints[].effect", msg::TAINT_EFFECT),
    (
        "spec.network.apiServerLoadBalancer.type",
        msg::LOAD_BALANCER_TYPE,
    ),
    ("spec.managedControlPlane.sku", msg::SKU),
    (
        "spec.managedControlPlane.autoUpgradeProfile.upgradeChannel",
        msg::UPGRADE_CHANNEL,
    ),
    ("spec.nodePools[].mode", msg::POOL_MODE),
    ("spec.nodePools[].osType", msg::OS_TYPE),
    ("spec.nodePools[].osSKU", msg::OS_SKU),
    ("spec.nodePools[].scaleSetPriority", msg::SCALE_SET_PRIORITY),
    (
        "spec.nodePools[].scaleSetEvictionPolicy",
        msg::EVICTION_POLICY,
    ),
    (
        "spec.managedControlPlane.addonProfiles[].name",
        msg::ADDON_NAME,
    ),
    ("spec.managedControlPlane.identity.type", msg::IDENTITY_TYPE),
    (
        "spec.managedControlPlane.autoscalerProfile.expander",
        msg::AUTOSCALER_EXPANDER,
    ),
    (
        "spec.managedControlPlane.autoscalerProfile.balanceSimilarNodeGroups",
        msg::AUTOSCALER_BOOLEAN,
    ),
    (
        "spec.managedControlPlane.autoscalerProfile.skipNodesWithLocalStorage",
        msg::AUTOSCALER_BOOLEAN,
    ),
    (
        "spec.managedControlPlane.autoscalerProfile.skipNodesWithSystemPods",
        msg::AUTOSCALER_BOOLEAN,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.autoUpgrade.schedule.weekly.dayOfWeek",
        msg::MAINTENANCE_WEEK_DAY,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.nodeOSUpgrade.schedule.weekly.dayOfWeek",
        msg::MAINTENANCE_WEEK_DAY,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.autoUpgrade.schedule.relativeMonthly.dayOfWeek",
        msg::MAINTENANCE_WEEK_DAY,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.nodeOSUpgrade.schedule.relativeMonthly.dayOfWeek",
        msg::MAINTENANCE_WEEK_DAY,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.autoUpgrade.schedule.relativeMonthly.weekIndex",
        msg::MAINTENANCE_WEEK_INDEX,
    ),
    (
        "spec.managedControlPlane.maintenanceWindows.nodeOSUpgrade.schedule.relativeMonthly.weekIndex",
        msg::MAINTENANCE_WEEK_INDEX,
    ),
    ("spec.network.plugin", msg::NETWORK_PLUGIN),
    ("spec.networkAccess.mode", msg::NETWORK_ACCESS_MODE),
    ("spec.vhd.osType", msg::VHD_OS_TYPE),
    ("spec.vhd.hyperVGeneration", msg::VHD_HYPER_V_GENERATION),
];

/// Enum fields inside a `#[serde(flatten)]` struct (the [`crate::v1alpha1::AzureScope`] in
/// every spec): serde reports their errors at the flattening parent (`spec`), so they are
/// checked here first, with their own path.
const FLATTENED_ENUMS: &[(&str, &str, &[&str], &str)] = &[(
    "spec",
    "deletionPolicy",
    &["Delete", "Orphan"],
    msg::DELETION_POLICY,
)];

fn flattened_enum_error(value: &serde_json::Value) -> Option<ValidationErrors> {
    FLATTENED_ENUMS
        .iter()
        .find_map(|(parent, key, allowed, m)| {
            let v = value.get(*parent)?.get(*key)?;
            if v.as_str().is_some_and(|s| allowed.contains(&s)) {
                return None;
            }
            Some(ValidationErrors(vec![ValidationError {
                field: format!("{parent}.{key}"),
                message: format!("{v}: {m}"),
            }]))
        })
}

/// Deserializes an object (for example one read from a manifest) into its kind's type. A
/// failure names the field and, for enum fields, carries the shared message.
pub fn parse_object<K: DeserializeOwned>(value: serde_json::Value) -> Result<K, ValidationErrors> {
    if let Some(e) = flattened_enum_error(&value) {
        return Err(e);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let generic = strip_indices(&field);
        let detail = e.inner().to_string();
        let message = match ENUM_FIELDS.iter().find(|(p, _)| *p == generic) {
            Some((_, m)) => format!("{detail}: {m}"),
            None => detail,
        };
        ValidationErrors(vec![ValidationError { field, message }])
    })
}

/// Like [`parse_object`], from one YAML document.
pub fn parse_yaml<K: DeserializeOwned>(yaml: &str) -> Result<K, ValidationErrors> {
    let value: serde_json::Value = serde_yaml::from_str(yaml).map_err(|e| {
        ValidationErrors(vec![ValidationError {
            field: String::new(),
            message: format!("not valid YAML: {e}"),
        }])
    })?;
    parse_object(value)
}

/// `spec.nodePools[2].mode` → `spec.nodePools[].mode`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_stripped() {
        assert_eq!(
            strip_indices("spec.nodePools[12].mode"),
            "spec.nodePools[].mode"
        );
        assert_eq!(strip_indices("spec.a"), "spec.a");
    }
}
