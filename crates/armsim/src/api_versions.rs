//! api-version checks per provider namespace.
//!
//! Accepted: what the Rust azure_mgmt 0.21 crates send, the current stable versions in
//! notes/azure-arm-semantics.md, and the defaults of the latest Python azure-mgmt-* packages
//! (azure-mgmt-resource 26.0.0, -storage 25.3.0, -containerservice 41.8.0, -network 33.1.0,
//! -compute 39.0.0; read from their generated operations).

use crate::errors::ArmError;
use std::collections::HashMap;

const RESOURCES: &[&str] = &["2021-04-01", "2025-04-01"];
// 2024-06-01 is the private DNS zones' version (Microsoft.Network/privateDnsZones).
const NETWORK: &[&str] = &["2024-03-01", "2024-06-01", "2026-03-01"];
// Compute versions differ per type (disks 2024-03-02 / 2026-03-02, galleries 2026-03-03);
// they are checked per namespace here.
const COMPUTE: &[&str] = &[
    "2024-03-02",
    "2024-07-01",
    "2026-03-02",
    "2026-03-03",
    "2026-04-01",
];
const STORAGE: &[&str] = &["2023-05-01", "2026-09-01"];
const CONTAINER_SERVICE: &[&str] = &["2025-10-01", "2026-08-01", "2026-10-01"];

pub fn builtin(namespace_lower: &str) -> Option<&'static [&'static str]> {
    match namespace_lower {
        "microsoft.resources" => Some(RESOURCES),
        "microsoft.network" => Some(NETWORK),
        "microsoft.compute" => Some(COMPUTE),
        "microsoft.storage" => Some(STORAGE),
        "microsoft.containerservice" => Some(CONTAINER_SERVICE),
        _ => None,
    }
}

/// Checks `api_version` for a request against `namespace` and `type_name` (for the message).
pub fn check(
    namespace: &str,
    type_name: &str,
    api_version: Option<&str>,
    extra: &HashMap<String, Vec<String>>,
) -> Result<(), ArmError> {
    let Some(v) = api_version.filter(|v| !v.is_empty()) else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let ns = namespace.to_ascii_lowercase();
    let mut supported: Vec<String> = builtin(&ns)
        .unwrap_or(&[])
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(more) = extra.get(&ns) {
        supported.extend(more.iter().cloned());
    }
    if supported.iter().any(|s| s == v) {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location 'global' and API version '{v}' for type '{}'. The supported api-versions are '{}'.",
            type_name,
            supported.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unsupported_versions_are_refused() {
        let extra = HashMap::new();
        let e = check("Microsoft.Storage", "storageAccounts", None, &extra).expect_err("missing");
        assert_eq!(e.code, "MissingApiVersionParameter");
        let e = check(
            "Microsoft.Storage",
            "storageAccounts",
            Some("2019-01-01"),
            &extra,
        )
        .expect_err("old");
        assert_eq!(e.code, "NoRegisteredProviderFound");
        assert!(e.message.contains("2023-05-01"));
        assert!(check("microsoft.storage", "x", Some("2023-05-01"), &extra).is_ok());
    }
}
