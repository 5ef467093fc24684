//! The trusted CA at the edges (I/O): reading the PEM from the referenced Secret or ConfigMap,
//! and keeping the bundle ConfigMap that injected pods mount.

use std::collections::BTreeMap;

use azop_api::v1alpha1::DeletionPolicy;
use azop_api::v1alpha1::proxy_config::{ProxyConfig, TrustedCa};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::compute::INJECTED_LABEL;
use super::validate::{CaBundle, CaSource};
use crate::error::Error;

/// Key of the bundle in the ConfigMap azop keeps, and the file name pods see.
pub const CA_CONFIGMAP_KEY: &str = "ca.crt";

/// Name of the ConfigMap holding `proxy`'s CA bundle, in the ProxyConfig's namespace (the
/// namespace of every pod that can use it). Deterministic, so the webhook computes it without
/// any lookup.
pub fn ca_configmap_name(proxy: &str) -> String {
    const SUFFIX: &str = "-proxy-ca";
    let mut base: String = proxy.chars().take(253 - SUFFIX.len()).collect();
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}{SUFFIX}")
}

/// Reads the PEM text `ca` points at, in `namespace` (never another). A missing object or key
/// is a `Missing` answer for the condition; only API failures are errors.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    ca: Option<&TrustedCa>,
) -> Result<CaSource, Error> {
    let Some(ca) = ca else {
        return Ok(CaSource::NotSet);
    };
    if let Some(r) = &ca.secret_ref {
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = api
            .get_opt(&r.name)
            .await
            .map_err(|e| Error::kube(format!("read Secret {namespace}/{}", r.name), e))?;
        let Some(secret) = secret else {
            return Ok(CaSource::Missing(format!(
                "Secret {namespace}/{} does not exist",
                r.name
            )));
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .cloned()
            });
        return Ok(match value {
            Some(v) => CaSource::Found(v),
            None => CaSource::Missing(format!(
                "Secret {namespace}/{} has no key {}",
                r.name, r.key
            )),
        });
    }
    if let Some(r) = &ca.config_map_ref {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let cm = api
            .get_opt(&r.name)
            .await
            .map_err(|e| Error::kube(format!("read ConfigMap {namespace}/{}", r.name), e))?;
        let Some(cm) = cm else {
            return Ok(CaSource::Missing(format!(
                "ConfigMap {namespace}/{} does not exist",
                r.name
            )));
        };
        let value = cm
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .cloned()
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            });
        return Ok(match value {
            Some(v) => CaSource::Found(v),
            None => CaSource::Missing(format!(
                "ConfigMap {namespace}/{} has no key {}",
                r.name, r.key
            )),
        });
    }
    // Both or neither set: the spec check reports it.
    Ok(CaSource::Missing(
        "trustedCA names neither a Secret nor a ConfigMap".into(),
    ))
}

const MANAGER: &str = "proxyconfigs.azop.dev";

/// The bundle ConfigMap as it is now, if any.
pub async fn current_configmap(
    client: &kube::Client,
    proxy: &ProxyConfig,
) -> Result<Option<ConfigMap>, Error> {
    let ns = proxy.namespace().unwrap_or_default();
    let name = ca_configmap_name(&proxy.name_any());
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    api.get_opt(&name)
        .await
        .map_err(|e| Error::kube(format!("read ConfigMap {ns}/{name}"), e))
}

/// A PEM bundle as status and Events may show it: its size and the start of its SHA-256,
/// never the certificates themselves.
fn fingerprint(pem: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pem.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes, sha256 {hex}…", pem.len())
}

/// How the bundle ConfigMap differs from what azop writes (pure): another bundle, one that
/// should be there and is not, or one that should not be there and is.
pub fn bundle_drift(
    existing: Option<&ConfigMap>,
    bundle: Option<&CaBundle>,
) -> Vec<azop_api::v1alpha1::DriftChange> {
    use crate::engine::drift::absent;
    use azop_api::v1alpha1::DriftChange;
    let held = existing.map(|cm| {
        cm.data
            .as_ref()
            .and_then(|d| d.get(CA_CONFIGMAP_KEY))
            .cloned()
            .unwrap_or_default()
    });
    match (held, bundle) {
        (None, Some(_)) => vec![absent()],
        (Some(have), Some(want)) if have != want.pem => vec![DriftChange {
            path: format!("data.{CA_CONFIGMAP_KEY}"),
            azure: fingerprint(&have),
            spec: fingerprint(&want.pem),
        }],
        (Some(_), None) => vec![DriftChange {
            path: "resource".into(),
            azure: "exists".into(),
            spec: "absent (no valid trustedCA)".into(),
        }],
        _ => Vec::new(),
    }
}

/// Keeps the bundle ConfigMap in step: applied (server-side, owned by the ProxyConfig so the
/// garbage collector removes it with it, unless `deletionPolicy` is Orphan) when there is a
/// valid bundle, deleted otherwise so pods never mount a stale CA.
pub async fn keep_configmap(
    client: &kube::Client,
    proxy: &ProxyConfig,
    bundle: Option<&CaBundle>,
) -> Result<(), Error> {
    let ns = proxy.namespace().unwrap_or_default();
    let name = ca_configmap_name(&proxy.name_any());
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    match bundle {
        Some(b) => {
            let owner = proxy
                .controller_owner_ref(&())
                .ok_or_else(|| Error::InvalidSpec {
                    message: "internal: ProxyConfig without name or uid".into(),
                })?;
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(BTreeMap::from([
                        (
                            "app.kubernetes.io/managed-by".to_string(),
                            "azop".to_string(),
                        ),
                        (INJECTED_LABEL.to_string(), label_value(&proxy.name_any())),
                    ])),
                    // deletionPolicy Orphan: no owner reference, so the garbage collector
                    // leaves the bundle when the ProxyConfig goes (server-side apply drops
                    // one written before).
                    owner_references: (proxy.spec.deletion_policy == DeletionPolicy::Delete)
                        .then(|| vec![owner]),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    CA_CONFIGMAP_KEY.to_string(),
                    b.pem.clone(),
                )])),
                ..ConfigMap::default()
            };
            let mut value = serde_json::to_value(&cm).map_err(|e| Error::InvalidSpec {
                message: format!("internal: ConfigMap does not serialise: {e}"),
            })?;
            value["apiVersion"] = "v1".into();
            value["kind"] = "ConfigMap".into();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&value),
            )
            .await
            .map_err(|e| Error::kube(format!("apply ConfigMap {ns}/{name}"), e))?;
        }
        None => match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::kube(format!("delete ConfigMap {ns}/{name}"), e)),
        },
    }
    Ok(())
}

/// A label value is at most 63 characters; longer names are cut (the label is informative
/// only: the webhook's pod label carries the same value).
pub fn label_value(name: &str) -> String {
    let mut v: String = name.chars().take(63).collect();
    while v.ends_with(['-', '.', '_']) {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_names_are_deterministic_and_valid() {
        assert_eq!(ca_configmap_name("corp"), "corp-proxy-ca");
        let long = format!("{}.-x", "a".repeat(242));
        let n = ca_configmap_name(&long);
        assert!(n.len() <= 253, "{}", n.len());
        assert!(n.ends_with("-proxy-ca"));
        assert!(!n.contains(".-proxy"));
        assert_eq!(label_value(&"b".repeat(70)).len(), 63);
    }
}
