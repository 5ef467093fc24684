//! NAT gateways (Standard) with their public IPs: the cluster's egress, so no node needs a
//! public IP. The `subnets` list in responses is a back-reference (set by the VNet's
//! subnets pointing here) and never compared.

use super::{
    API_VERSION, ObservedRef, get_via_mgmt, ref_ids, send_via_mgmt, sub_resource, uid_tag,
};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    NatGateway as NatModel, NatGatewayPropertiesFormat, NatGatewaySku, nat_gateway_sku,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct NatGateway;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatGatewayKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatGatewaySpec {
    pub location: String,
    /// At most one zone (NAT gateways are zonal or regional).
    pub zones: Vec<String>,
    /// Standard, Static public IPs (build with [`super::ids::public_ip`]).
    pub public_ip_ids: Vec<String>,
    /// 4–120 minutes; `None` keeps Azure's default (4).
    pub idle_timeout_minutes: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedNatGateway {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku: Option<ObservedNatSku>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub properties: ObservedNatProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedNatSku {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNatProperties {
    pub provisioning_state: Option<String>,
    pub idle_timeout_in_minutes: Option<i32>,
    #[serde(default)]
    pub public_ip_addresses: Vec<ObservedRef>,
    /// Back-reference: never compared.
    #[serde(default)]
    pub subnets: Vec<ObservedRef>,
}

#[async_trait::async_trait]
impl ArmResource for NatGateway {
    type Key = NatGatewayKey;
    type Spec = NatGatewaySpec;
    type Body = NatModel;
    type Observed = ObservedNatGateway;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/natGateways";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::nat_gateway(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> NatModel {
        let mut sku = NatGatewaySku::new();
        sku.name = Some(nat_gateway_sku::Name::Standard);
        let mut props = NatGatewayPropertiesFormat::new();
        props.idle_timeout_in_minutes = spec.idle_timeout_minutes;
        props.public_ip_addresses = spec
            .public_ip_ids
            .iter()
            .map(|id| sub_resource(id))
            .collect();
        let mut body = NatModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.sku = Some(sku);
        body.zones = spec.zones.clone();
        body.properties = Some(props);
        body
    }

    fn diff(desired: &NatModel, observed: &ObservedNatGateway) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        d.ignore_case(
            "sku.name",
            desired
                .sku
                .as_ref()
                .and_then(|s| s.name.as_ref())
                .map(wire)
                .as_deref(),
            observed.sku.as_ref().and_then(|s| s.name.as_deref()),
        );
        d.string_set(
            "zones",
            desired.zones.iter().map(String::as_str),
            observed.zones.iter().map(String::as_str),
        );
        if let Some(p) = &desired.properties {
            let o = &observed.properties;
            if let Some(t) = p.idle_timeout_in_minutes
                && o.idle_timeout_in_minutes != Some(t)
            {
                d.push(
                    "properties.idleTimeoutInMinutes",
                    t,
                    o.idle_timeout_in_minutes
                        .map_or("<unset>".to_owned(), |v| v.to_string()),
                );
            }
            d.id_set(
                "properties.publicIpAddresses",
                p.public_ip_addresses.iter().filter_map(|r| r.id.as_deref()),
                ref_ids(&o.public_ip_addresses),
            );
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedNatGateway) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedNatGateway>, AzureError> {
        let client = session.network_client().nat_gateways_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &NatModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().nat_gateways_client();
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
        let client = session.network_client().nat_gateways_client();
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
            NatGateway::RESOURCE_TYPE,
            NatGateway::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;
    use crate::resources::network::ids;

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn desired() -> NatModel {
        let key = NatGatewayKey {
            resource_group: "rg1".into(),
            name: "test-natgateway".into(),
        };
        let spec = NatGatewaySpec {
            location: "westus".into(),
            zones: vec![],
            public_ip_ids: vec![ids::public_ip("subid", "rg1", "PublicIpAddress1")],
            idle_timeout_minutes: None,
            tags: BTreeMap::new(),
        };
        NatGateway::desired(&key, &spec, &owner())
    }

    /// NatGateways_CreateOrUpdate, example "NatGatewayCreateOrUpdate.json" (2024-03-01),
    /// re-typed with our tags, a lower-cased resource group in the public IP id and a
    /// subnet back-reference.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "test-natGateway",
            "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/natGateways/test-natGateway",
            "type": "Microsoft.Network/natGateways",
            "location": "westus",
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "sku": {"name": "Standard"},
            "properties": {
                "idleTimeoutInMinutes": 4,
                "provisioningState": "Succeeded",
                "publicIpAddresses": [{"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/PublicIpAddress1"}],
                "subnets": [{"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v/subnets/workers"}]
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedNatGateway {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(NatGateway::diff(&desired(), &o), vec![]);
        assert_eq!(NatGateway::owner_uid(&o).as_deref(), Some("uid-1"));
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(body["sku"]["name"], "Standard");
        assert!(
            body["properties"]["publicIpAddresses"][0]["id"]
                .as_str()
                .is_some_and(|s| s.ends_with("/PublicIpAddress1"))
        );
        assert!(body.get("zones").is_none());
    }

    #[test]
    fn each_managed_field_is_drift() {
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", Box::new(|v| v["location"] = "eastus".into())),
            (
                "sku.name",
                Box::new(|v| v["sku"]["name"] = "StandardV2".into()),
            ),
            ("zones", Box::new(|v| v["zones"] = serde_json::json!(["1"]))),
            (
                "properties.publicIpAddresses",
                Box::new(|v| v["properties"]["publicIpAddresses"] = serde_json::json!([])),
            ),
            ("tags", Box::new(|v| v["tags"] = serde_json::json!({}))),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = NatGateway::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
        let mut spec_timeout = desired();
        if let Some(p) = spec_timeout.properties.as_mut() {
            p.idle_timeout_in_minutes = Some(10);
        }
        let d = NatGateway::diff(&spec_timeout, &observed(get_after_put()));
        assert_eq!(d[0].field, "properties.idleTimeoutInMinutes");
    }
}
