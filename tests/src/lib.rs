//! Shared helpers for the end-to-end tests in this crate (tests live in `tests/e2e/`, each a
//! `[[test]]` of Cargo.toml; [`targets`] fails the build's tests when one is not).
//!
//! - [`samples`]: reading config/samples and the headers of invalid samples.
//! - [`objects`]: creating arbitrary manifests through discovery (`DynamicObject`).
//! - [`blob`]: a small Azure Blob REST client with Shared Key signing and account SAS, for
//!   talking to Azurite without an SDK.
//! - [`machines`]: the boot test's world (QEMU guests from azop's node image).

pub mod aks_cluster;
pub mod azure_cluster;
pub mod blob;
pub mod chaos;
pub mod corpus;
pub mod gitops;
pub mod machines;
pub mod objects;
pub mod operator;
pub mod plugin;
pub mod samples;
pub mod storage_binding;
pub mod targets;
