//! Version `v1alpha1` of group `azop.dev`: the four kinds, all namespaced.

// Each `printcolumn(...)` repeats `type_ = ...`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
pub mod aks_cluster;
pub mod aks_control_plane;
// Each `printcolumn(...)` repeats `type_ = ...`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
pub mod azure_cluster;
pub mod azure_object;
pub mod common;
// Each `printcolumn(...)` repeats `type_ = ...`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
pub mod proxy_config;
pub(crate) mod schema;
// Each `printcolumn(...)` repeats `type_ = ...`; clippy mistakes that for a duplicate.
#[allow(clippy::duplicated_attributes)]
pub mod storage_binding;

pub use aks_cluster::*;
pub use azure_cluster::*;
pub use azure_object::{AzureObject, HasAzureStatus};
pub use common::*;
pub use proxy_config::*;
pub use storage_binding::*;

/// API group of every azop kind.
pub const GROUP: &str = "azop.dev";
/// API version of this module's kinds.
pub const VERSION: &str = "v1alpha1";
