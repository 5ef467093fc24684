//! Microsoft.Network resources azop creates for an IaaS cluster (API 2024-03-01, the
//! version azure_mgmt_network 0.21 sends), plus read-only access to existing ones
//! ([`existing`], static placement).
//!
//! Request bodies are the generated models (they serialize the exact wire shape); GETs are
//! read into small local models ("observed") holding only what the diffs and controllers
//! read, every field optional and every enum a string, so no server answer fails to parse.
//!
//! Child references inside one resource (a load balancer rule pointing at its frontend, a
//! subnet's NSG) are ARM ids built with [`ids`], before the referenced resource exists.

pub mod existing;
pub mod ids;
pub mod load_balancer;
pub mod nat_gateway;
pub mod network_interface;
pub mod network_security_group;
pub mod private_endpoint;
pub mod public_ip;
pub mod virtual_network;

use super::UID_TAG;
use super::diff::tag_value;
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The Microsoft.Network API version of every call here (the generated builders send it).
pub const API_VERSION: &str = "2024-03-01";

/// A reference to another resource as ARM returns it: `{"id": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObservedRef {
    #[serde(default)]
    pub id: Option<String>,
}

impl ObservedRef {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
}

/// Ids of a list of references (empty ids dropped).
pub(crate) fn ref_ids(refs: &[ObservedRef]) -> impl Iterator<Item = &str> {
    refs.iter().filter_map(|r| r.id.as_deref())
}

/// The `azop.dev_uid` tag of an observed resource.
pub(crate) fn uid_tag(tags: &Option<BTreeMap<String, String>>) -> Option<String> {
    tag_value(tags.as_ref()?, UID_TAG).map(str::to_owned)
}

/// A reference body `{"id": id}` for the generated models.
pub(crate) fn sub_resource(id: &str) -> azure_mgmt_network::models::SubResource {
    let mut r = azure_mgmt_network::models::SubResource::new();
    r.id = Some(id.to_owned());
    r
}

/// Await a generated GET's `.send()`: 404 (resource or resource group missing) → `None`.
pub(crate) async fn get_via_mgmt<T, R, F>(
    session: &ArmSession,
    send: F,
    what: &str,
) -> Result<Option<T>, AzureError>
where
    T: DeserializeOwned,
    F: std::future::Future<Output = azure_core::Result<R>>,
    R: Into<azure_core::Response>,
{
    match session.mgmt(send).await {
        Ok(resp) => Ok(Some(resp.parse(what)?)),
        Err(AzureError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Await a generated PUT/DELETE's `.send()`.
pub(crate) async fn send_via_mgmt<R, F>(
    session: &ArmSession,
    send: F,
) -> Result<RawResponse, AzureError>
where
    F: std::future::Future<Output = azure_core::Result<R>>,
    R: Into<azure_core::Response>,
{
    session.mgmt(send).await
}

/// A change applied to a response fixture in the diff tests.
#[cfg(test)]
pub(crate) type FixtureEdit = Box<dyn Fn(&mut serde_json::Value)>;
