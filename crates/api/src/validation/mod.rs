//! Validation in Rust: every rule the OpenAPI schema and the CEL rules enforce, with the same
//! messages (see [`messages`]), plus the one rule kept out of CEL (no spec change while an
//! AzureCluster is Provisioning). The controllers run it before acting and report failures in
//! the object's conditions.

pub mod labels;
pub mod messages;
pub mod patterns;

mod aks_cluster;
mod azure_cluster;
mod parse;
mod proxy_config;
pub(crate) mod rules;
mod storage_binding;

use std::fmt;

pub use azure_cluster::{MAX_VM_NAME, highest_worker_index};
pub use parse::{parse_object, parse_yaml};
pub use rules::{
    AKS_RESERVED_RANGES, MAX_DNS_ZONE_USER_TAGS, MAX_USER_TAGS, VNET_RESERVED_RANGES,
    own_tag_chars, tag_key_chars_ok, usable_subnet_addresses,
};
pub use storage_binding::MAX_STORAGE_BINDING_NAME;

/// One broken rule: which field, and what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Path of the offending field, e.g. `spec.network.controlPlaneSubnet.cidr` or
    /// `spec.nodePools[1].name`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every rule an object breaks, in the order they were found (never empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// The errors for one field.
    pub fn for_field<'a>(
        &'a self,
        field: &'a str,
    ) -> impl Iterator<Item = &'a ValidationError> + 'a {
        self.0.iter().filter(move |e| e.field == field)
    }

    /// Whether some error on `field` contains `text`.
    pub fn has(&self, field: &str, text: &str) -> bool {
        self.for_field(field).any(|e| e.message.contains(text))
    }
}

/// Validation of one kind.
pub trait Validate {
    /// Checks an object on its own (creation, or any state).
    fn validate(&self) -> Result<(), ValidationErrors>;

    /// Checks a change from `old` to `new`: every rule of [`Validate::validate`] on `new`, plus
    /// the transition rules (immutable fields, no downgrade, ...).
    fn validate_update(old: &Self, new: &Self) -> Result<(), ValidationErrors>;
}

/// Collects errors while checking.
#[derive(Default)]
pub(crate) struct Errors(Vec<ValidationError>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }

    pub(crate) fn extend(&mut self, result: Result<(), ValidationErrors>) {
        if let Err(e) = result {
            self.0.extend(e.0);
        }
    }
}
