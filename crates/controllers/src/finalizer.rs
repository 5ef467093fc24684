//! Adding and removing our finalizer with JSON patches guarded by the object's
//! resourceVersion, so a concurrent writer is never overwritten.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

use crate::error::Error;

fn api<K>(client: &kube::Client, obj: &K) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default())
}

/// Adds `finalizer` unless present. Done before the first Azure write, so nothing is ever
/// created that a deletion could forget.
pub async fn ensure<K>(client: &kube::Client, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    if obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let ops = if obj.meta().finalizers.is_none() {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ])
    };
    patch(client, obj, ops, "add finalizer").await
}

/// Removes `finalizer`: the object may now go.
pub async fn remove<K>(client: &kube::Client, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let ops = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": obj.resource_version()},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
    ]);
    patch(client, obj, ops, "remove finalizer").await
}

async fn patch<K>(
    client: &kube::Client,
    obj: &K,
    ops: serde_json::Value,
    what: &str,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| Error::InvalidSpec {
        message: format!("internal: bad finalizer patch: {e}"),
    })?;
    api(client, obj)
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            Error::kube(
                format!(
                    "{what} on {}/{}",
                    obj.namespace().unwrap_or_default(),
                    obj.name_any()
                ),
                e,
            )
        })
}
