//! The Kubernetes versions AKS offers in a region:
//! `GET /subscriptions/{s}/providers/Microsoft.ContainerService/locations/{l}/kubernetesVersions`
//! (ManagedClusters_ListKubernetesVersions), and the pure decisions made on them.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::{API_VERSION, version_parts, version_satisfies};
use crate::arm::ArmSession;
use crate::error::AzureError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct KubernetesVersionList {
    #[serde(default)]
    pub values: Vec<KubernetesVersion>,
}

/// One minor version, with its patches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesVersion {
    /// `1.33`.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_preview: bool,
    /// `1.33.3` → the versions it can be upgraded to.
    #[serde(default)]
    pub patch_versions: BTreeMap<String, PatchVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PatchVersion {
    #[serde(default)]
    pub upgrades: Vec<String>,
}

impl KubernetesVersionList {
    /// Every offered patch version (preview minors excluded), oldest first.
    pub fn patches(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .values
            .iter()
            .filter(|v| !v.is_preview)
            .flat_map(|v| v.patch_versions.keys().cloned())
            .collect();
        out.sort_by_key(|v| version_parts(v));
        out
    }

    /// Whether `requested` (`1.33` or `1.33.3`) names an offered version: a minor with at
    /// least one patch, or an exact patch.
    pub fn offers(&self, requested: &str) -> bool {
        let want = version_parts(requested);
        self.patches().iter().any(|p| {
            let have = version_parts(p);
            if want.len() >= 3 {
                have == want[..3]
            } else {
                have.len() >= 2 && want.len() == 2 && have[..2] == want[..]
            }
        })
    }

    /// The offered minors with their newest patch (`1.33 (1.33.3)`), for messages.
    pub fn summary(&self) -> String {
        let mut minors: Vec<(Vec<u64>, String, String)> = self
            .values
            .iter()
            .filter(|v| !v.is_preview)
            .filter_map(|v| {
                let newest = v
                    .patch_versions
                    .keys()
                    .max_by_key(|p| version_parts(p))?
                    .clone();
                Some((version_parts(&v.version), v.version.clone(), newest))
            })
            .collect();
        minors.sort();
        minors
            .into_iter()
            .map(|(_, minor, newest)| format!("{minor} (up to {newest})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The versions offered in `location`.
pub async fn list_kubernetes_versions(
    session: &ArmSession,
    location: &str,
) -> Result<KubernetesVersionList, AzureError> {
    let path = session.subscription_path(&format!(
        "/providers/Microsoft.ContainerService/locations/{location}/kubernetesVersions"
    ));
    match session.get(&path, API_VERSION).await? {
        Some(resp) => resp.parse("kubernetesVersions"),
        None => Ok(KubernetesVersionList::default()),
    }
}

/// The version to ask AKS for, given the spec's (a floor, `1.33` or `1.33.2`) and what the
/// control plane runs now (pure):
/// - nothing runs yet: the spec's;
/// - what runs satisfies the spec (auto-upgrade may have moved past it): what runs — never a
///   downgrade, and no change;
/// - the spec is more than one minor ahead: the next minor only (AKS refuses skips; the next
///   pass takes the next step);
/// - else the spec's.
pub fn target_version(spec: &str, running: Option<&str>) -> String {
    let Some(running) = running.filter(|r| !r.is_empty()) else {
        return spec.to_string();
    };
    if version_satisfies(spec, running) {
        return running.to_string();
    }
    let (s, r) = (version_parts(spec), version_parts(running));
    let minor = |v: &[u64]| {
        (
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
        )
    };
    let (sm, rm) = (minor(&s), minor(&r));
    if sm.0 == rm.0 && sm.1 > rm.1 + 1 {
        return format!("{}.{}", rm.0, rm.1 + 1);
    }
    spec.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ManagedClusters_ListKubernetesVersions, example "KubernetesVersions_List.json"
    /// (aks/stable/2026-08-01).
    fn example() -> KubernetesVersionList {
        serde_json::from_value(serde_json::json!({"values": [
            {"capabilities": {"supportPlan": ["KubernetesOfficial"]}, "version": "1.23",
             "patchVersions": {"1.23.12": {"upgrades": ["1.23.15", "1.24.6", "1.24.9"]}, "1.23.15": {"upgrades": ["1.24.6", "1.24.9"]}}},
            {"capabilities": {"supportPlan": ["KubernetesOfficial"]}, "isDefault": true, "version": "1.24",
             "patchVersions": {"1.24.6": {"upgrades": ["1.24.9", "1.25.4", "1.25.5"]}, "1.24.9": {"upgrades": ["1.25.4", "1.25.5"]}}},
            {"capabilities": {"supportPlan": ["KubernetesOfficial"]}, "version": "1.25",
             "patchVersions": {"1.25.4": {"upgrades": ["1.25.5", "1.26.0"]}, "1.25.5": {"upgrades": ["1.26.0"]}}},
            {"capabilities": {"supportPlan": ["KubernetesOfficial"]}, "isPreview": true, "version": "1.26",
             "patchVersions": {"1.26.0": {"upgrades": []}}}
        ]}))
        .expect("example parses")
    }

    #[test]
    fn offered_versions_are_minors_and_patches_but_not_previews() {
        let l = example();
        assert!(l.offers("1.24"));
        assert!(l.offers("1.24.9"));
        assert!(!l.offers("1.24.7"));
        assert!(!l.offers("1.26"), "preview minors are not offered");
        assert!(!l.offers("1.22"));
        assert_eq!(
            l.summary(),
            "1.23 (up to 1.23.15), 1.24 (up to 1.24.9), 1.25 (up to 1.25.5)"
        );
        assert_eq!(l.patches().first().map(String::as_str), Some("1.23.12"));
    }

    #[test]
    fn the_target_is_a_floor_one_minor_at_a_time() {
        assert_eq!(target_version("1.33", None), "1.33");
        // Auto-upgrade moved past the spec: keep what runs.
        assert_eq!(target_version("1.33", Some("1.34.1")), "1.34.1");
        assert_eq!(target_version("1.33", Some("1.33.3")), "1.33.3");
        // One minor ahead: the spec's.
        assert_eq!(target_version("1.34", Some("1.33.3")), "1.34");
        assert_eq!(target_version("1.33.5", Some("1.33.3")), "1.33.5");
        // Two ahead: one step first.
        assert_eq!(target_version("1.35", Some("1.33.3")), "1.34");
    }
}
