//! One AKS node pool as its own resource (`…/managedClusters/{c}/agentPools/{name}`): scale,
//! resize or add a pool without a cluster PUT. Pools have no ARM tags; ownership is
//! recorded in the pool's `tags` property (the tags of its scale set).

use super::API_VERSION;
use super::managed_cluster::{AgentPoolSpec, diff_pool, pool_properties};
use super::models::AgentPool;
use crate::resources::diff::{Diff, tag_value};
use crate::resources::{ArmResource, Difference, OWNER_TAG, Owner, UID_TAG, read_only};
use crate::{ArmSession, AzureError};
use serde_json::{Map, Value};

pub struct AgentPoolResource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPoolKey {
    pub resource_group: String,
    pub cluster: String,
    pub name: String,
}

#[async_trait::async_trait]
impl ArmResource for AgentPoolResource {
    type Key = AgentPoolKey;
    /// `spec.name` must equal `key.name`.
    type Spec = AgentPoolSpec;
    type Body = AgentPool;
    type Observed = AgentPool;

    const RESOURCE_TYPE: &'static str = "Microsoft.ContainerService/managedClusters/agentPools";
    const API_VERSION: &'static str = API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        format!(
            "{}/agentPools/{}",
            super::cluster_id(subscription_id, &key.resource_group, &key.cluster),
            key.name
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> AgentPool {
        AgentPool {
            properties: Some(pool_properties(spec, owner)),
            ..AgentPool::default()
        }
    }

    fn diff(desired: &AgentPool, observed: &AgentPool) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(want) = &desired.properties {
            let have = observed.properties.clone().unwrap_or_default();
            diff_pool(&mut d, "properties", want, &have);
        }
        d.finish()
    }

    fn owner_uid(observed: &AgentPool) -> Option<String> {
        tag_value(observed.properties.as_ref()?.tags.as_ref()?, UID_TAG).map(str::to_owned)
    }

    /// A pool's marks are in `properties.tags`, which only a PUT of the pool changes (agent
    /// pools have no PATCH and no Tags API): the pool is PUT back as AKS returned it, read-only
    /// properties dropped, without this owner's two tags. The PUT's operation is not waited
    /// for: its body already says everything.
    async fn disown(
        session: &ArmSession,
        key: &Self::Key,
        owner: &Owner,
    ) -> Result<(), AzureError> {
        let path = Self::path(session.subscription_id(), key);
        let Some(resp) = session.get(&path, Self::API_VERSION).await? else {
            return Ok(());
        };
        let Some(body) = resp.json().and_then(|raw| disowned_pool(&raw, owner)) else {
            return Ok(());
        };
        match session
            .call(
                azure_core::Method::Put,
                &path,
                Self::API_VERSION,
                Some(&body),
            )
            .await
        {
            Ok(_) | Err(AzureError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The pool as AKS returned it (`raw`), fit to PUT back, without this owner's tags (pure).
/// `None` when it carries no mark of this owner (nothing to do).
pub fn disowned_pool(raw: &Value, owner: &Owner) -> Option<Value> {
    let tags = raw.pointer("/properties/tags")?.as_object()?;
    let ours = |k: &str, v: &Value| {
        (k.eq_ignore_ascii_case(UID_TAG) && v.as_str() == Some(owner.uid.as_str()))
            || (k.eq_ignore_ascii_case(OWNER_TAG)
                && v.as_str() == Some(owner.owner_tag_value().as_str()))
    };
    if !tags
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(UID_TAG) && ours(k, v))
    {
        return None;
    }
    let rest: Map<String, Value> = tags
        .iter()
        .filter(|(k, v)| !ours(k, v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut body = read_only::strip(AgentPoolResource::RESOURCE_TYPE, raw)?;
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("tags".to_owned(), Value::Object(rest));
    }
    Some(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            AgentPoolResource::RESOURCE_TYPE,
            AgentPoolResource::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::containerservice::managed_cluster::{PoolMode, PoolOsType, PoolScale};
    use crate::resources::network::FixtureEdit;

    fn spec() -> AgentPoolSpec {
        AgentPoolSpec {
            name: "agentpool1".into(),
            mode: PoolMode::User,
            vm_size: "Standard_DS2_v2".into(),
            scale: PoolScale::Fixed { count: 3 },
            zones: vec![],
            os_type: PoolOsType::Linux,
            max_pods: None,
            os_disk_size_gb: Some(64),
            vnet_subnet_id: Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/aks".into()),
            node_labels: [("workload".to_owned(), "batch".to_owned())].into_iter().collect(),
            node_taints: vec!["key1=val1:NoSchedule".into()],
            os_sku: None,
            spot: None,
            upgrade: None,
            orchestrator_version: None,
            tags: [("env".to_owned(), "prod".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn a_disowned_pool_keeps_everything_but_this_owners_tags() {
        let owner = Owner::new("AksCluster", "ns", "c", "uid-5");
        let raw = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/agentPools/p",
            "name": "p",
            "properties": {
                "count": 4,
                "vmSize": "Standard_D4s_v5",
                "provisioningState": "Succeeded",
                "currentOrchestratorVersion": "1.36.3",
                "tags": {"azop.dev/owner": "AksCluster/ns/c", "azop.dev/uid": "uid-5", "env": "prod"}
            }
        });
        assert_eq!(
            disowned_pool(&raw, &owner),
            Some(serde_json::json!({"properties": {
                "count": 4,
                "vmSize": "Standard_D4s_v5",
                "tags": {"env": "prod"}
            }}))
        );
        let other = Owner::new("AksCluster", "ns", "c", "uid-6");
        assert_eq!(
            disowned_pool(&raw, &other),
            None,
            "another owner's pool is not touched"
        );
    }

    fn desired() -> AgentPool {
        let key = AgentPoolKey {
            resource_group: "rg1".into(),
            cluster: "clustername1".into(),
            name: "agentpool1".into(),
        };
        AgentPoolResource::desired(&key, &spec(), &Owner::new("AksCluster", "ns", "c", "uid-5"))
    }

    /// AgentPools_CreateOrUpdate, example "AgentPoolsCreate_Update.json"
    /// (aks/stable/2026-10-01), re-typed with our pool: AKS adds orchestrator versions,
    /// node image, osSKU, maxPods, powerState; the subnet id comes back lower-cased.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "agentpool1",
            "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1/agentPools/agentpool1",
            "properties": {
                "count": 3,
                "maxPods": 110,
                "mode": "User",
                "nodeLabels": {"workload": "batch"},
                "nodeTaints": ["key1=val1:NoSchedule"],
                "orchestratorVersion": "1.33",
                "currentOrchestratorVersion": "1.33.3",
                "osDiskSizeGB": 64,
                "osType": "Linux",
                "osSKU": "Ubuntu",
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "vmSize": "Standard_DS2_v2",
                "type": "VirtualMachineScaleSets",
                "enableAutoScaling": false,
                "vnetSubnetID": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/aks",
                "tags": {"env": "prod", "azop.dev/owner": "AksCluster/ns/c", "azop.dev/uid": "uid-5", "aks-managed": "x"}
            }
        })
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o: AgentPool = serde_json::from_value(get_after_put()).expect("fixture");
        assert_eq!(AgentPoolResource::diff(&desired(), &o), vec![]);
        assert_eq!(AgentPoolResource::owner_uid(&o).as_deref(), Some("uid-5"));
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(
            body["properties"]["vnetSubnetID"],
            spec().vnet_subnet_id.unwrap_or_default()
        );
        assert_eq!(body["properties"]["nodeTaints"][0], "key1=val1:NoSchedule");
        assert!(body.get("name").is_none());
    }

    #[test]
    fn each_managed_field_is_drift() {
        let set = |ptr: &'static str, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("properties.count", set("/properties/count", 2.into())),
            (
                "properties.vmSize",
                set("/properties/vmSize", "Standard_D8s_v5".into()),
            ),
            (
                "properties.osDiskSizeGB",
                set("/properties/osDiskSizeGB", 128.into()),
            ),
            (
                "properties.vnetSubnetID",
                set("/properties/vnetSubnetID", "/other".into()),
            ),
            (
                "properties.nodeLabels",
                set("/properties/nodeLabels", serde_json::json!({})),
            ),
            (
                "properties.nodeTaints",
                set("/properties/nodeTaints", serde_json::json!([])),
            ),
            (
                "properties.availabilityZones",
                Box::new(|v| v["properties"]["availabilityZones"] = serde_json::json!(["1"])),
            ),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let o: AgentPool = serde_json::from_value(v).expect("fixture");
            let d = AgentPoolResource::diff(&desired(), &o);
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }
}
