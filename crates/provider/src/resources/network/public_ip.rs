//! Public IP addresses: always Standard SKU, Static, IPv4 (what a Standard load balancer and
//! a NAT gateway require). Zones cannot change after creation; a difference is reported so
//! the controller can say so, and the PUT fails with Azure's error.

use super::{API_VERSION, get_via_mgmt, send_via_mgmt, uid_tag};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    IpAllocationMethod, IpVersion, PublicIpAddress as PipModel, PublicIpAddressPropertiesFormat,
    PublicIpAddressSku, public_ip_address_sku,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct PublicIp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIpKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIpSpec {
    pub location: String,
    /// Empty: no zone (regional, non-zonal); `["1","2","3"]`: zone-redundant.
    pub zones: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedPublicIp {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku: Option<ObservedPipSku>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub properties: ObservedPipProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedPipSku {
    pub name: Option<String>,
    pub tier: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPipProperties {
    pub provisioning_state: Option<String>,
    #[serde(rename = "publicIPAllocationMethod")]
    pub public_ip_allocation_method: Option<String>,
    #[serde(rename = "publicIPAddressVersion")]
    pub public_ip_address_version: Option<String>,
    pub ip_address: Option<String>,
    /// Back-reference to the frontend/NAT using it: never compared.
    pub ip_configuration: Option<super::ObservedRef>,
}

impl ObservedPublicIp {
    /// The allocated address (a Static IP has one as soon as the create succeeded).
    pub fn ip_address(&self) -> Option<&str> {
        self.properties.ip_address.as_deref()
    }
}

#[async_trait::async_trait]
impl ArmResource for PublicIp {
    type Key = PublicIpKey;
    type Spec = PublicIpSpec;
    type Body = PipModel;
    type Observed = ObservedPublicIp;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/publicIPAddresses";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::public_ip(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> PipModel {
        let mut sku = PublicIpAddressSku::new();
        sku.name = Some(public_ip_address_sku::Name::Standard);
        sku.tier = Some(public_ip_address_sku::Tier::Regional);
        let mut props = PublicIpAddressPropertiesFormat::new();
        props.public_ip_allocation_method = Some(IpAllocationMethod::Static);
        props.public_ip_address_version = Some(IpVersion::IPv4);
        let mut body = PipModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.sku = Some(sku);
        body.zones = spec.zones.clone();
        body.properties = Some(Box::new(props));
        body
    }

    fn diff(desired: &PipModel, observed: &ObservedPublicIp) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        let osku = observed.sku.clone().unwrap_or_default();
        if let Some(sku) = &desired.sku {
            d.ignore_case(
                "sku.name",
                sku.name.as_ref().map(wire).as_deref(),
                osku.name.as_deref(),
            );
            // Azure fills in Regional when the tier is omitted.
            d.ignore_case(
                "sku.tier",
                sku.tier.as_ref().map(wire).as_deref(),
                Some(osku.tier.as_deref().unwrap_or("Regional")),
            );
        }
        d.string_set(
            "zones",
            desired.zones.iter().map(String::as_str),
            observed.zones.iter().map(String::as_str),
        );
        if let Some(p) = &desired.properties {
            let o = &observed.properties;
            d.ignore_case(
                "properties.publicIPAllocationMethod",
                p.public_ip_allocation_method.as_ref().map(wire).as_deref(),
                o.public_ip_allocation_method.as_deref(),
            );
            d.ignore_case(
                "properties.publicIPAddressVersion",
                p.public_ip_address_version.as_ref().map(wire).as_deref(),
                Some(o.public_ip_address_version.as_deref().unwrap_or("IPv4")),
            );
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedPublicIp) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedPublicIp>, AzureError> {
        let client = session.network_client().public_ip_addresses_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &PipModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().public_ip_addresses_client();
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
        let client = session.network_client().public_ip_addresses_client();
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
            PublicIp::RESOURCE_TYPE,
            PublicIp::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn desired() -> PipModel {
        let key = PublicIpKey {
            resource_group: "rg".into(),
            name: "test-ip".into(),
        };
        let spec = PublicIpSpec {
            location: "eastus".into(),
            zones: vec!["1".into(), "2".into(), "3".into()],
            tags: BTreeMap::new(),
        };
        PublicIp::desired(&key, &spec, &owner())
    }

    /// PublicIPAddresses_CreateOrUpdate, example "PublicIpAddressCreateCustomizedValues.json"
    /// (2024-03-01: Standard, Static, IPv4, zones), re-typed with three zones, our tags, an
    /// allocated address and an ipConfiguration back-reference.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "test-ip",
            "id": "/subscriptions/subid/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/test-ip",
            "type": "Microsoft.Network/publicIPAddresses",
            "location": "eastus",
            "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "zones": ["3", "1", "2"],
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded",
                "publicIPAddressVersion": "IPv4",
                "publicIPAllocationMethod": "Static",
                "idleTimeoutInMinutes": 4,
                "ipAddress": "20.1.2.3",
                "ipTags": [],
                "ipConfiguration": {"id": "/subscriptions/subid/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe"}
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedPublicIp {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(PublicIp::diff(&desired(), &o), vec![]);
        assert_eq!(o.ip_address(), Some("20.1.2.3"));
        assert_eq!(PublicIp::owner_uid(&o).as_deref(), Some("uid-1"));
    }

    #[test]
    fn desired_body_is_standard_static() {
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(
            body["sku"],
            serde_json::json!({"name": "Standard", "tier": "Regional"})
        );
        assert_eq!(body["properties"]["publicIPAllocationMethod"], "Static");
        assert_eq!(body["properties"]["publicIPAddressVersion"], "IPv4");
        assert_eq!(body["zones"], serde_json::json!(["1", "2", "3"]));
    }

    #[test]
    fn each_managed_field_is_drift() {
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", Box::new(|v| v["location"] = "westus".into())),
            ("sku.name", Box::new(|v| v["sku"]["name"] = "Basic".into())),
            ("sku.tier", Box::new(|v| v["sku"]["tier"] = "Global".into())),
            ("zones", Box::new(|v| v["zones"] = serde_json::json!(["1"]))),
            (
                "properties.publicIPAllocationMethod",
                Box::new(|v| v["properties"]["publicIPAllocationMethod"] = "Dynamic".into()),
            ),
            (
                "properties.publicIPAddressVersion",
                Box::new(|v| v["properties"]["publicIPAddressVersion"] = "IPv6".into()),
            ),
            (
                "tags",
                Box::new(|v| {
                    v["tags"]
                        .as_object_mut()
                        .expect("o")
                        .remove("azop.dev_owner");
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = PublicIp::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }
}
