//! Virtual networks WITH their subnets inline. A VNet PUT replaces the subnet list (an
//! omitted subnet is deleted), so azop manages subnets only here, in the VNet body, never
//! through the `subnets` child resource. For an azop-owned VNet the subnet list is exactly
//! the spec's: a subnet added by hand is drift. Subnet back-references (ipConfigurations,
//! NSG/NAT `subnets` lists, service association links) are never compared.

use super::{API_VERSION, ObservedRef, get_via_mgmt, send_via_mgmt, sub_resource, uid_tag};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    AddressSpace, NetworkSecurityGroup as NsgModel, ServiceEndpointPropertiesFormat, Subnet,
    SubnetPropertiesFormat, VirtualNetwork as VnetModel, VirtualNetworkPropertiesFormat,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct VirtualNetwork;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkKey {
    pub resource_group: String,
    pub name: String,
}

/// One subnet of the VNet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSpec {
    pub name: String,
    /// Inside the VNet's address space, not overlapping a sibling (the API crate checks).
    pub address_prefix: String,
    /// Build with [`super::ids::network_security_group`]; the NSG must exist first.
    pub network_security_group_id: Option<String>,
    /// Build with [`super::ids::nat_gateway`]; the NAT gateway must exist first.
    pub nat_gateway_id: Option<String>,
    /// e.g. `Microsoft.Storage` (needed for storage VNet rules).
    pub service_endpoints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkSpec {
    pub location: String,
    pub address_prefixes: Vec<String>,
    pub subnets: Vec<SubnetSpec>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedVirtualNetwork {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: ObservedVnetProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedVnetProperties {
    pub provisioning_state: Option<String>,
    pub address_space: Option<ObservedAddressSpace>,
    #[serde(default)]
    pub subnets: Vec<ObservedSubnet>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAddressSpace {
    #[serde(default)]
    pub address_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedSubnet {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: ObservedSubnetProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSubnetProperties {
    pub provisioning_state: Option<String>,
    pub address_prefix: Option<String>,
    /// Azure uses this list instead of `addressPrefix` for some subnets.
    #[serde(default)]
    pub address_prefixes: Vec<String>,
    pub network_security_group: Option<ObservedRef>,
    pub nat_gateway: Option<ObservedRef>,
    pub route_table: Option<ObservedRef>,
    #[serde(default)]
    pub service_endpoints: Vec<ObservedServiceEndpoint>,
    /// Back-references (NICs, LB frontends): read, never compared.
    #[serde(default)]
    pub ip_configurations: Vec<ObservedRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedServiceEndpoint {
    pub service: Option<String>,
}

impl ObservedSubnetProperties {
    /// The subnet's prefixes whichever field Azure used.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.address_prefixes.iter().map(String::as_str).collect();
        if let Some(p) = &self.address_prefix
            && !out.contains(&p.as_str())
        {
            out.push(p);
        }
        out
    }

    pub fn network_security_group_id(&self) -> Option<&str> {
        self.network_security_group.as_ref()?.id.as_deref()
    }

    pub fn nat_gateway_id(&self) -> Option<&str> {
        self.nat_gateway.as_ref()?.id.as_deref()
    }

    pub fn service_endpoint_names(&self) -> Vec<&str> {
        self.service_endpoints
            .iter()
            .filter_map(|s| s.service.as_deref())
            .collect()
    }
}

impl ObservedVirtualNetwork {
    pub fn subnet(&self, name: &str) -> Option<&ObservedSubnet> {
        self.properties.subnets.iter().find(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    pub fn address_prefixes(&self) -> &[String] {
        self.properties
            .address_space
            .as_ref()
            .map(|a| a.address_prefixes.as_slice())
            .unwrap_or_default()
    }
}

fn subnet_model(s: &SubnetSpec) -> Subnet {
    let mut props = SubnetPropertiesFormat::new();
    props.address_prefix = Some(s.address_prefix.clone());
    props.network_security_group = s.network_security_group_id.as_ref().map(|id| {
        let mut nsg = NsgModel::new();
        nsg.resource.id = Some(id.clone());
        nsg
    });
    props.nat_gateway = s.nat_gateway_id.as_deref().map(sub_resource);
    props.service_endpoints = s
        .service_endpoints
        .iter()
        .map(|svc| {
            let mut e = ServiceEndpointPropertiesFormat::new();
            e.service = Some(svc.clone());
            e
        })
        .collect();
    let mut subnet = Subnet::new();
    subnet.name = Some(s.name.clone());
    subnet.properties = Some(props);
    subnet
}

#[async_trait::async_trait]
impl ArmResource for VirtualNetwork {
    type Key = VirtualNetworkKey;
    type Spec = VirtualNetworkSpec;
    type Body = VnetModel;
    type Observed = ObservedVirtualNetwork;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/virtualNetworks";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::virtual_network(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> VnetModel {
        let mut space = AddressSpace::new();
        space.address_prefixes = spec.address_prefixes.clone();
        let mut props = VirtualNetworkPropertiesFormat::new();
        props.address_space = Some(space);
        props.subnets = spec.subnets.iter().map(subnet_model).collect();
        let mut body = VnetModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.properties = Some(props);
        body
    }

    fn diff(desired: &VnetModel, observed: &ObservedVirtualNetwork) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        let Some(props) = &desired.properties else {
            return d.finish();
        };
        let want_space: Vec<&str> = props
            .address_space
            .as_ref()
            .map(|a| a.address_prefixes.iter().map(String::as_str).collect())
            .unwrap_or_default();
        d.string_set(
            "properties.addressSpace.addressPrefixes",
            want_space,
            observed.address_prefixes().iter().map(String::as_str),
        );
        for subnet in &props.subnets {
            let name = subnet.name.as_deref().unwrap_or_default();
            let field = format!("properties.subnets[{name}]");
            let Some(o) = observed.subnet(name) else {
                d.push(&field, "present", "<missing>");
                continue;
            };
            let Some(sp) = &subnet.properties else {
                continue;
            };
            let op = &o.properties;
            d.string_set(
                &format!("{field}.addressPrefix"),
                sp.address_prefix.as_deref(),
                op.prefixes(),
            );
            d.id_set(
                &format!("{field}.networkSecurityGroup"),
                sp.network_security_group
                    .as_ref()
                    .and_then(|n| n.resource.id.as_deref()),
                op.network_security_group_id(),
            );
            d.id_set(
                &format!("{field}.natGateway"),
                sp.nat_gateway.as_ref().and_then(|n| n.id.as_deref()),
                op.nat_gateway_id(),
            );
            // Service names are case-insensitive (`Microsoft.Storage`).
            d.id_set(
                &format!("{field}.serviceEndpoints"),
                sp.service_endpoints
                    .iter()
                    .filter_map(|e| e.service.as_deref()),
                op.service_endpoint_names(),
            );
        }
        for o in &observed.properties.subnets {
            let name = o.name.as_deref().unwrap_or_default();
            let wanted = props.subnets.iter().any(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            if !wanted {
                d.push(
                    &format!("properties.subnets[{name}]"),
                    "<absent>",
                    "present",
                );
            }
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedVirtualNetwork) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedVirtualNetwork>, AzureError> {
        let client = session.network_client().virtual_networks_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &VnetModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().virtual_networks_client();
        let send = client
            .create_or_update(
                &key.resource_group,
                &key.name,
                body.clone(),
                session.subscription_id(),
            )
            .send();
        send_via_mgmt(session, send).await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.network_client().virtual_networks_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        send_via_mgmt(session, send).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            VirtualNetwork::RESOURCE_TYPE,
            VirtualNetwork::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;
    use crate::resources::network::ids;

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn key() -> VirtualNetworkKey {
        VirtualNetworkKey {
            resource_group: "rg1".into(),
            name: "test-vnet".into(),
        }
    }

    fn spec() -> VirtualNetworkSpec {
        VirtualNetworkSpec {
            location: "eastus".into(),
            address_prefixes: vec!["10.0.0.0/16".into()],
            subnets: vec![
                SubnetSpec {
                    name: "test-1".into(),
                    address_prefix: "10.0.0.0/24".into(),
                    network_security_group_id: None,
                    nat_gateway_id: None,
                    service_endpoints: vec![],
                },
                SubnetSpec {
                    name: "workers".into(),
                    address_prefix: "10.0.1.0/24".into(),
                    network_security_group_id: Some(ids::network_security_group(
                        "subid",
                        "rg1",
                        "workers-nsg",
                    )),
                    nat_gateway_id: Some(ids::nat_gateway("subid", "rg1", "natgw")),
                    service_endpoints: vec!["Microsoft.Storage".into()],
                },
            ],
            tags: [("env".to_owned(), "dev".to_owned())].into_iter().collect(),
        }
    }

    /// VirtualNetworks_CreateOrUpdate, example "VirtualNetworkCreateSubnet.json"
    /// (2024-03-01), re-typed with a second subnet carrying an NSG, a NAT gateway and a
    /// service endpoint as Azure returns them (lower-cased resource group in ids,
    /// provisioningState and locations on the endpoint, an ipConfigurations back-reference).
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "test-vnet",
            "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet",
            "type": "Microsoft.Network/virtualNetworks",
            "location": "eastus",
            "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
            "tags": {"env": "dev", "azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": "00000000-0000-0000-0000-000000000000",
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [
                    {
                        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet/subnets/test-1",
                        "name": "test-1",
                        "properties": {"addressPrefix": "10.0.0.0/24", "provisioningState": "Succeeded"}
                    },
                    {
                        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet/subnets/workers",
                        "name": "workers",
                        "type": "Microsoft.Network/virtualNetworks/subnets",
                        "properties": {
                            "addressPrefix": "10.0.1.0/24",
                            "provisioningState": "Succeeded",
                            "networkSecurityGroup": {"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/networkSecurityGroups/workers-nsg"},
                            "natGateway": {"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/natGateways/natgw"},
                            "serviceEndpoints": [{"service": "Microsoft.Storage", "locations": ["eastus", "westus"], "provisioningState": "Succeeded"}],
                            "ipConfigurations": [{"id": "/subscriptions/subid/resourceGroups/RG1/providers/Microsoft.Network/networkInterfaces/n1/ipConfigurations/ipconfig1"}],
                            "privateEndpointNetworkPolicies": "Disabled",
                            "privateLinkServiceNetworkPolicies": "Enabled"
                        }
                    }
                ],
                "virtualNetworkPeerings": [],
                "enableDdosProtection": false
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedVirtualNetwork {
        serde_json::from_value(v).expect("fixture parses")
    }

    fn desired() -> VnetModel {
        VirtualNetwork::desired(&key(), &spec(), &owner())
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(VirtualNetwork::diff(&desired(), &o), vec![]);
        assert_eq!(VirtualNetwork::owner_uid(&o).as_deref(), Some("uid-1"));
        assert_eq!(
            o.subnet("WORKERS").map(|s| s.properties.prefixes()),
            Some(vec!["10.0.1.0/24"])
        );
    }

    #[test]
    fn desired_body_puts_subnets_inline() {
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(
            body["properties"]["addressSpace"]["addressPrefixes"][0],
            "10.0.0.0/16"
        );
        let w = &body["properties"]["subnets"][1];
        assert_eq!(w["name"], "workers");
        assert_eq!(w["properties"]["addressPrefix"], "10.0.1.0/24");
        assert_eq!(
            w["properties"]["networkSecurityGroup"],
            serde_json::json!({"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/workers-nsg"})
        );
        assert_eq!(
            w["properties"]["serviceEndpoints"][0],
            serde_json::json!({"service": "Microsoft.Storage"})
        );
        assert!(
            body["properties"]["subnets"][0]["properties"]
                .get("networkSecurityGroup")
                .is_none()
        );
        assert_eq!(body["tags"]["azop.dev_uid"], "uid-1");
    }

    #[test]
    fn each_managed_field_is_drift() {
        let w = "/properties/subnets/1/properties";
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", Box::new(|v| v["location"] = "westus".into())),
            ("tags", Box::new(|v| v["tags"]["env"] = "prod".into())),
            (
                "properties.addressSpace.addressPrefixes",
                Box::new(|v| {
                    v["properties"]["addressSpace"]["addressPrefixes"] =
                        serde_json::json!(["10.0.0.0/16", "10.1.0.0/16"])
                }),
            ),
            (
                "properties.subnets[workers].addressPrefix",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{w}/addressPrefix")).expect("p") = "10.0.2.0/24".into()
                }),
            ),
            (
                "properties.subnets[workers].networkSecurityGroup",
                Box::new(move |v| {
                    v.pointer_mut(w)
                        .expect("p")
                        .as_object_mut()
                        .expect("o")
                        .remove("networkSecurityGroup");
                }),
            ),
            (
                "properties.subnets[workers].natGateway",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{w}/natGateway/id")).expect("p") = "/other".into()
                }),
            ),
            (
                "properties.subnets[workers].serviceEndpoints",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{w}/serviceEndpoints")).expect("p") =
                        serde_json::json!([])
                }),
            ),
            (
                "properties.subnets[workers]",
                Box::new(|v| {
                    v["properties"]["subnets"]
                        .as_array_mut()
                        .expect("a")
                        .remove(1);
                }),
            ),
            (
                "properties.subnets[by-hand]",
                Box::new(|v| {
                    let mut extra = v["properties"]["subnets"][0].clone();
                    extra["name"] = "by-hand".into();
                    v["properties"]["subnets"]
                        .as_array_mut()
                        .expect("a")
                        .push(extra);
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = VirtualNetwork::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }

    #[test]
    fn prefix_list_form_and_back_references_are_not_drift() {
        let mut v = get_after_put();
        let p = v
            .pointer_mut("/properties/subnets/0/properties")
            .expect("p");
        p.as_object_mut().expect("o").remove("addressPrefix");
        p["addressPrefixes"] = serde_json::json!(["10.0.0.0/24"]);
        v["properties"]["subnets"][1]["properties"]["ipConfigurations"] = serde_json::json!([]);
        v["properties"]["provisioningState"] = "Updating".into();
        assert!(VirtualNetwork::diff(&desired(), &observed(v)).is_empty());
    }
}
