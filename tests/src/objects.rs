//! Creating and updating arbitrary manifests (any kind the server serves) via discovery.

use anyhow::Context;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};

/// The `Api` for the kind of `obj` (namespaced into `ns` when the kind is namespaced).
pub async fn api_for(
    client: &kube::Client,
    obj: &serde_json::Value,
    ns: &str,
) -> anyhow::Result<Api<DynamicObject>> {
    let api_version = obj
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .context("manifest without apiVersion")?;
    let kind = obj
        .get("kind")
        .and_then(|v| v.as_str())
        .context("manifest without kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discover {api_version} {kind}"))?;
    Ok(match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    })
}

/// `obj` as a `DynamicObject` placed in namespace `ns`.
pub fn to_dynamic(obj: &serde_json::Value, ns: &str) -> anyhow::Result<DynamicObject> {
    let mut d: DynamicObject =
        serde_json::from_value(obj.clone()).context("manifest is not a Kubernetes object")?;
    d.metadata.namespace = Some(ns.to_string());
    Ok(d)
}

/// Creates `obj` in `ns`. The outer error is ours (discovery, parsing); the inner result is
/// the server's answer.
pub async fn create(
    client: &kube::Client,
    ns: &str,
    obj: &serde_json::Value,
) -> anyhow::Result<Result<DynamicObject, kube::Error>> {
    let api = api_for(client, obj, ns).await?;
    let d = to_dynamic(obj, ns)?;
    Ok(api.create(&PostParams::default(), &d).await)
}

/// Replaces the object named by `obj` with `obj` (taking the current resourceVersion), as an
/// update. Outer error: ours; inner: the server's answer.
pub async fn replace(
    client: &kube::Client,
    ns: &str,
    obj: &serde_json::Value,
) -> anyhow::Result<Result<DynamicObject, kube::Error>> {
    let api = api_for(client, obj, ns).await?;
    let mut d = to_dynamic(obj, ns)?;
    let name = d
        .metadata
        .name
        .clone()
        .context("manifest without metadata.name")?;
    let current = api
        .get(&name)
        .await
        .with_context(|| format!("get {name} before update"))?;
    d.metadata.resource_version = current.metadata.resource_version;
    Ok(api.replace(&name, &PostParams::default(), &d).await)
}

/// The message of an API error (`Status.message`), or the error's text.
pub fn error_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

/// The HTTP code of an API error, if it is one.
pub fn error_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Writes `obj`'s `status` through the status subresource of the object it names (a merge
/// patch), as a controller would. Does nothing when `obj` has no status. Outer error: ours;
/// inner: the server's answer.
pub async fn write_status(
    client: &kube::Client,
    ns: &str,
    obj: &serde_json::Value,
) -> anyhow::Result<Result<(), kube::Error>> {
    let Some(status) = obj.get("status") else {
        return Ok(Ok(()));
    };
    let api = api_for(client, obj, ns).await?;
    let name = obj
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .context("manifest without metadata.name")?;
    let patch = serde_json::json!({ "status": status });
    Ok(api
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .map(|_| ()))
}
