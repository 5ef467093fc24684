//! One AKS node pool as its own resource (`…/managedClusters/{c}/agentPools/{name}`): scale,
//! resize or add a pool without a cluster PUT. Pools have no ARM tags; ownership is
//! recorded in the pool's `tags` property (the tags of its scale set).

use super::API_VERSION;
use super::managed_cluster::{AgentPoolSpec, diff_pool, pool_properties};
use super::models::AgentPool;
use crate::resources::diff::{Diff, tag_value};
use crate::resources::{ArmResource, Difference, Owner, UID_TAG};

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
