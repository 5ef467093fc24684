//! Microsoft.Compute resources: virtual machines (API 2024-07-01), managed disks
//! (2024-03-02) and managed images (2024-07-01) — the versions azure_mgmt_compute 0.21's
//! builders send. Bodies are the generated models; GETs are read into local observed models
//! (every field optional, enums as strings). Only `.send()` is used: the crate's own futures
//! re-PUT images and disks in a loop (notes/azure-crates.md).

pub mod boot_diagnostics;
pub mod image;
pub mod managed_disk;
pub mod virtual_machine;

use serde::de::DeserializeOwned;

/// The Microsoft.Compute API version of virtual machines and images.
pub const API_VERSION: &str = "2024-07-01";
/// The API version of managed disks (the disk RP versions separately).
pub const DISK_API_VERSION: &str = "2024-03-02";

/// A generated enum from its wire string. The generated enums fall back to `UnknownValue`
/// for strings they do not know (new VM sizes), so any value round-trips.
pub(crate) fn wire_enum<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/{rest}`
pub fn compute_id(subscription_id: &str, resource_group: &str, rest: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Compute/{rest}"
    )
}
