//! azop's API: the four custom resources in group `azop.dev`, version `v1alpha1`.
//!
//! - [`v1alpha1`]: the types (`AzureCluster`, `AksCluster`, `StorageBinding`, `ProxyConfig`).
//! - [`validation`]: the pure `Validate` trait that enforces every rule the OpenAPI schema and
//!   the CEL rules enforce, with the same messages, plus the rules too hard for CEL.
//! - [`crds`]: the generated CustomResourceDefinitions and their committed YAML files.
//! - [`naming`]: deterministic Azure names, finalizers, tag keys and labels.
//! - [`proxy`]: the effective `noProxy` list.
//! - [`reference`]: docs/api.md, generated from the CRDs and the invalid samples.

/// The AKS taint pattern (`key=value:Effect`) as a literal: CEL rules embed it in their text,
/// which needs a literal, and [`validation::patterns::AKS_TAINT`] is the same string.
macro_rules! aks_taint_pattern {
    () => {
        "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?=[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?:(NoSchedule|PreferNoSchedule|NoExecute)$"
    };
}
pub(crate) use aks_taint_pattern;

pub mod crds;
pub mod naming;
pub mod proxy;
pub mod reference;
pub mod v1alpha1;
pub mod validation;

pub use validation::{Validate, ValidationError, ValidationErrors};
