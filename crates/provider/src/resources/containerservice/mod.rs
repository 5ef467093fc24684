//! AKS through a typed client of our own: azure_mgmt_containerservice stopped at 0.10 with
//! retired preview API versions and an incompatible azure_core (notes/azure-crates.md), so
//! these modules speak Microsoft.ContainerService at [`API_VERSION`] through
//! [`crate::ArmSession::call`] — the same azure_core 0.21 pipeline, credential, throttle and
//! metrics as every other call.
//!
//! [`models`] holds serde models for the fields azop uses; every struct keeps unknown
//! fields in a flattened `other` map and every enum is a string, so fields and values AKS
//! adds later never break deserialization.

pub mod agent_pool;
pub mod credentials;
pub mod maintenance_configuration;
pub mod managed_cluster;
pub mod models;
pub mod versions;

/// The newest stable Microsoft.ContainerService API version in azure-rest-api-specs
/// (`aks/stable/2026-10-01/managedClusters.json`; 2026-08-01 is the one before, with
/// published examples), served by Azure and by azop-armsim. Recent versions accept an update
/// of `httpProxyConfig` (older ones refused it), which lets a ProxyConfig change reach an
/// existing cluster.
pub const API_VERSION: &str = "2026-10-01";

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}`
pub fn cluster_id(subscription_id: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.ContainerService/managedClusters/{name}"
    )
}

/// `1.33.3` → `[1, 33, 3]` (non-numeric parts count as 0).
pub fn version_parts(v: &str) -> Vec<u64> {
    v.trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Is `observed` (e.g. `1.33.3`) at least `desired` (e.g. `1.33`), comparing only as many
/// components as `desired` names? Auto-upgrade may move a cluster past what was asked; that
/// is never drift (and a PUT could not go back: AKS refuses downgrades).
pub fn version_satisfies(desired: &str, observed: &str) -> bool {
    let d = version_parts(desired);
    let o = version_parts(observed);
    let o: Vec<u64> = (0..d.len())
        .map(|i| o.get(i).copied().unwrap_or(0))
        .collect();
    o >= d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_on_the_named_components() {
        assert!(version_satisfies("1.33", "1.33.3"));
        assert!(version_satisfies("1.33", "1.34.1"));
        assert!(!version_satisfies("1.33", "1.32.7"));
        assert!(version_satisfies("1.33.3", "1.33.3"));
        assert!(!version_satisfies("1.33.4", "1.33.3"));
        assert!(!version_satisfies("1.33", ""));
    }
}
