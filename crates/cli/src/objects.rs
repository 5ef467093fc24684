//! The four kinds read from the cluster, as one view the plugin's commands share: phase,
//! conditions, resources, operations in flight, drift, and what the object refers to.

use anyhow::{Context as _, Result};
use azop_api::v1alpha1::{
    AksCluster, ArmOperation, AzureCluster, AzureResourceStatus, AzureStatus, DriftRecord, Phase,
    ProxyConfig, ReconcilePolicy, StorageBinding,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::kube_args::Connected;

/// The four kinds, as the plugin names them (also by their short names and plurals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    AzureCluster,
    AksCluster,
    StorageBinding,
    ProxyConfig,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::AzureCluster,
        Kind::AksCluster,
        Kind::StorageBinding,
        Kind::ProxyConfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AzureCluster => "AzureCluster",
            Kind::AksCluster => "AksCluster",
            Kind::StorageBinding => "StorageBinding",
            Kind::ProxyConfig => "ProxyConfig",
        }
    }

    /// `azurecluster`, `azureclusters`, `azc`, `AzureCluster`, `azureclusters.azop.dev`, …
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.to_ascii_lowercase();
        let s = s.strip_suffix(".azop.dev").unwrap_or(&s);
        Some(match s {
            "azurecluster" | "azureclusters" | "azc" => Kind::AzureCluster,
            "akscluster" | "aksclusters" | "aks" => Kind::AksCluster,
            "storagebinding" | "storagebindings" | "sb" => Kind::StorageBinding,
            "proxyconfig" | "proxyconfigs" | "pxc" => Kind::ProxyConfig,
            _ => return None,
        })
    }
}

/// What the plugin shows of one object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    pub reconcile_policy: ReconcilePolicy,
    pub deleting: bool,
    /// Whether status describes the current spec (`observedGeneration`).
    pub up_to_date: bool,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<AzureResourceStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ArmOperation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftRecord>,
    /// Other azop objects it uses (`why` follows them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<(Kind, String)>,
}

impl View {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn ready(&self) -> &str {
        self.condition("Ready")
            .map_or("Unknown", |c| c.status.as_str())
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn base<K: Resource>(kind: Kind, obj: &K, generation_seen: Option<i64>) -> View {
    View {
        kind,
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        phase: None,
        reconcile_policy: ReconcilePolicy::Manage,
        deleting: obj.meta().deletion_timestamp.is_some(),
        up_to_date: generation_seen.is_some() && generation_seen == obj.meta().generation,
        conditions: Vec::new(),
        resources: Vec::new(),
        operations: Vec::new(),
        drift: Vec::new(),
        references: Vec::new(),
    }
}

fn azure_view<K: Resource>(
    kind: Kind,
    obj: &K,
    status: Option<&AzureStatus>,
    policy: ReconcilePolicy,
) -> View {
    let s = status.cloned().unwrap_or_default();
    let mut v = base(kind, obj, s.common.observed_generation);
    v.phase = s.common.phase;
    v.reconcile_policy = policy;
    v.conditions = s.common.conditions;
    v.resources = s.resources;
    v.operations = s.operations;
    v.drift = s.drift;
    v
}

pub fn azure_cluster(c: &AzureCluster) -> View {
    let mut v = azure_view(
        Kind::AzureCluster,
        c,
        c.status.as_ref().map(|s| &s.azure),
        c.spec.azure.reconcile_policy,
    );
    if let Some(r) = &c.spec.image.storage_binding_ref {
        v.references.push((Kind::StorageBinding, r.name.clone()));
    }
    if let Some(r) = &c.spec.proxy_config_ref {
        v.references.push((Kind::ProxyConfig, r.name.clone()));
    }
    v
}

pub fn aks_cluster(c: &AksCluster) -> View {
    let mut v = azure_view(
        Kind::AksCluster,
        c,
        c.status.as_ref().map(|s| &s.azure),
        c.spec.azure.reconcile_policy,
    );
    if let Some(r) = &c.spec.proxy_config_ref {
        v.references.push((Kind::ProxyConfig, r.name.clone()));
    }
    v
}

pub fn storage_binding(b: &StorageBinding) -> View {
    azure_view(
        Kind::StorageBinding,
        b,
        b.status.as_ref().map(|s| &s.azure),
        b.spec.azure.reconcile_policy,
    )
}

pub fn proxy_config(p: &ProxyConfig) -> View {
    let s = p.status.clone().unwrap_or_default();
    let mut v = base(Kind::ProxyConfig, p, s.common.observed_generation);
    v.phase = s.common.phase;
    v.reconcile_policy = p.spec.reconcile_policy;
    v.conditions = s.common.conditions;
    v.drift = s.drift;
    v
}

fn api<K>(c: &Connected) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    if c.all {
        Api::all(c.client.clone())
    } else {
        Api::namespaced(c.client.clone(), &c.namespace)
    }
}

async fn list<K>(c: &Connected, what: &str) -> Result<Vec<K>>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    Ok(api::<K>(c)
        .list(&ListParams::default())
        .await
        .with_context(|| format!("list {what} (are azop's CRDs installed?)"))?
        .items)
}

/// Every object of `kinds` in the chosen namespace(s), sorted by namespace, kind, name.
pub async fn list_views(c: &Connected, kinds: &[Kind]) -> Result<Vec<View>> {
    let mut out = Vec::new();
    for k in kinds {
        match k {
            Kind::AzureCluster => out.extend(
                list::<AzureCluster>(c, "AzureClusters")
                    .await?
                    .iter()
                    .map(azure_cluster),
            ),
            Kind::AksCluster => out.extend(
                list::<AksCluster>(c, "AksClusters")
                    .await?
                    .iter()
                    .map(aks_cluster),
            ),
            Kind::StorageBinding => out.extend(
                list::<StorageBinding>(c, "StorageBindings")
                    .await?
                    .iter()
                    .map(storage_binding),
            ),
            Kind::ProxyConfig => out.extend(
                list::<ProxyConfig>(c, "ProxyConfigs")
                    .await?
                    .iter()
                    .map(proxy_config),
            ),
        }
    }
    out.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    Ok(out)
}

/// One object, `None` when it does not exist.
pub async fn get_view(
    client: &kube::Client,
    namespace: &str,
    kind: Kind,
    name: &str,
) -> Result<Option<View>> {
    let what = || format!("read {} {namespace}/{name}", kind.as_str());
    Ok(match kind {
        Kind::AzureCluster => Api::<AzureCluster>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .with_context(what)?
            .as_ref()
            .map(azure_cluster),
        Kind::AksCluster => Api::<AksCluster>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .with_context(what)?
            .as_ref()
            .map(aks_cluster),
        Kind::StorageBinding => Api::<StorageBinding>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .with_context(what)?
            .as_ref()
            .map(storage_binding),
        Kind::ProxyConfig => Api::<ProxyConfig>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .with_context(what)?
            .as_ref()
            .map(proxy_config),
    })
}

/// `kind/name`, `kind name` or a bare name (then the one kind that has an object of that
/// name in the namespace). Returns the kind (if given) and the name.
pub fn split_ref(args: &[String]) -> Result<(Option<Kind>, String)> {
    let bad = || {
        anyhow::anyhow!(
            "name an object: <kind>/<name>, <kind> <name> or <name> (kinds: azurecluster, akscluster, storagebinding, proxyconfig)"
        )
    };
    match args {
        [one] => match one.split_once('/') {
            Some((k, n)) => Ok((
                Some(Kind::parse(k).ok_or_else(|| anyhow::anyhow!("unknown kind {k:?}"))?),
                n.to_string(),
            )),
            None => Ok((None, one.clone())),
        },
        [k, n] => Ok((
            Some(Kind::parse(k).ok_or_else(|| anyhow::anyhow!("unknown kind {k:?}"))?),
            n.clone(),
        )),
        _ => Err(bad()),
    }
}

/// Finds `name` among the kinds (`kind` if given) in `namespace`: exactly one must match.
pub async fn find(
    client: &kube::Client,
    namespace: &str,
    kind: Option<Kind>,
    name: &str,
) -> Result<View> {
    let kinds: Vec<Kind> = kind.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
    let mut found = Vec::new();
    for k in kinds {
        if let Some(v) = get_view(client, namespace, k, name).await? {
            found.push(v);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => anyhow::bail!(
            "no {} named {name} in namespace {namespace}",
            kind.map_or("azop object", Kind::as_str)
        ),
        _ => anyhow::bail!(
            "several azop objects are named {name} in namespace {namespace} ({}): say which, e.g. azurecluster/{name}",
            found
                .iter()
                .map(|v| v.kind.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_any_name_kubectl_users_type() {
        for s in ["azc", "AzureCluster", "azureclusters.azop.dev"] {
            assert_eq!(Kind::parse(s), Some(Kind::AzureCluster), "{s}");
        }
        assert_eq!(Kind::parse("aks"), Some(Kind::AksCluster));
        assert_eq!(Kind::parse("pods"), None);
        assert_eq!(
            split_ref(&["azc/demo".into()]).expect("ok"),
            (Some(Kind::AzureCluster), "demo".into())
        );
        assert_eq!(
            split_ref(&["demo".into()]).expect("ok"),
            (None, "demo".into())
        );
        assert!(split_ref(&[]).is_err());
    }
}
