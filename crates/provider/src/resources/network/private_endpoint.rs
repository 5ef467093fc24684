//! Private endpoints to a storage account's blob service, their private DNS zone group, and
//! the private DNS zone (`privatelink.blob.core.windows.net`) with its link to the VNet: what
//! an account with public network access disabled needs to be reached from the VNet (the
//! Private Cloud Gateway case).
//!
//! Local serde models and raw calls: the bodies are small, and azure_mgmt_network 0.21 has no
//! private DNS models. Private endpoints and zone groups are Microsoft.Network 2024-03-01;
//! private DNS zones and their links are 2024-06-01 (`Microsoft.Network/privateDnsZones`).

use super::{ObservedRef, uid_tag};
use crate::resources::diff::{Diff, tags_from_value, tags_to_value};
use crate::resources::{ArmResource, Difference, Owner};
use crate::{ArmSession, AzureError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// API version of private DNS zones and their virtual network links.
pub const PRIVATE_DNS_API_VERSION: &str = "2024-06-01";
/// The zone the blob service's private endpoints register in (public cloud).
pub const BLOB_PRIVATE_DNS_ZONE: &str = "privatelink.blob.core.windows.net";

fn network_id(sub: &str, rg: &str, rest: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{rest}")
}

/// A private endpoint with one auto-approved connection.
pub struct PrivateEndpoint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateEndpointKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateEndpointSpec {
    pub location: String,
    pub subnet_id: String,
    /// The resource reached (a storage account id).
    pub target_id: String,
    /// Its sub-resource (`blob`).
    pub group_id: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedPrivateEndpoint {
    pub id: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: ObservedPrivateEndpointProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPrivateEndpointProperties {
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub subnet: ObservedRef,
    #[serde(default)]
    pub private_link_service_connections: Vec<ObservedConnection>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedConnection {
    pub name: Option<String>,
    #[serde(default)]
    pub properties: ObservedConnectionProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedConnectionProperties {
    pub private_link_service_id: Option<String>,
    #[serde(default)]
    pub group_ids: Vec<String>,
}

#[async_trait::async_trait]
impl ArmResource for PrivateEndpoint {
    type Key = PrivateEndpointKey;
    type Spec = PrivateEndpointSpec;
    type Body = Value;
    type Observed = ObservedPrivateEndpoint;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateEndpoints";
    const API_VERSION: &'static str = super::API_VERSION;
    // Not conditional: a private endpoint's PUT makes a network interface and a connection
    // on the target before the endpoint itself, and a create-only PUT of one has been
    // reported refused with 412 after those were made (Azure/bicep discussion 20633). One
    // per StorageBinding: its GET first costs nothing that matters.

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        network_id(
            subscription_id,
            &key.resource_group,
            &format!("privateEndpoints/{}", key.name),
        )
    }

    fn desired(key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> Value {
        json!({
            "location": spec.location,
            "tags": tags_to_value(&owner.tags(&spec.tags)),
            "properties": {
                "subnet": {"id": spec.subnet_id},
                "privateLinkServiceConnections": [{
                    "name": format!("{}-{}", key.name, spec.group_id),
                    "properties": {
                        "privateLinkServiceId": spec.target_id,
                        "groupIds": [spec.group_id],
                    }
                }]
            }
        })
    }

    fn diff(desired: &Value, observed: &ObservedPrivateEndpoint) -> Vec<Difference> {
        let mut d = Diff::new();
        d.location(
            desired["location"].as_str().unwrap_or_default(),
            observed.location.as_deref(),
        );
        let o = &observed.properties;
        d.id_set(
            "properties.subnet.id",
            desired
                .pointer("/properties/subnet/id")
                .and_then(Value::as_str),
            o.subnet.id.as_deref(),
        );
        let want = desired
            .pointer("/properties/privateLinkServiceConnections/0/properties/privateLinkServiceId")
            .and_then(Value::as_str);
        d.id_set(
            "properties.privateLinkServiceConnections",
            want,
            o.private_link_service_connections
                .iter()
                .filter_map(|c| c.properties.private_link_service_id.as_deref()),
        );
        d.tags(
            &tags_from_value(&desired.get("tags").cloned()),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedPrivateEndpoint) -> Option<String> {
        uid_tag(&observed.tags)
    }
}

/// The zone group of a private endpoint (`…/privateDnsZoneGroups/default`): it keeps the
/// endpoint's A record in the zone. A child without tags: owned through its endpoint, so it
/// is ours when the endpoint is.
pub struct PrivateDnsZoneGroup;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDnsZoneGroupKey {
    pub resource_group: String,
    pub endpoint: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDnsZoneGroupSpec {
    pub zone_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedZoneGroup {
    pub id: Option<String>,
    #[serde(default)]
    pub properties: ObservedZoneGroupProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedZoneGroupProperties {
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub private_dns_zone_configs: Vec<ObservedZoneConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedZoneConfig {
    #[serde(default)]
    pub properties: ObservedZoneConfigProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedZoneConfigProperties {
    pub private_dns_zone_id: Option<String>,
}

#[async_trait::async_trait]
impl ArmResource for PrivateDnsZoneGroup {
    type Key = PrivateDnsZoneGroupKey;
    type Spec = PrivateDnsZoneGroupSpec;
    type Body = Value;
    type Observed = ObservedZoneGroup;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups";
    const API_VERSION: &'static str = super::API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        network_id(
            subscription_id,
            &key.resource_group,
            &format!(
                "privateEndpoints/{}/privateDnsZoneGroups/{}",
                key.endpoint, key.name
            ),
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, _owner: &Owner) -> Value {
        let zone = spec.zone_id.rsplit('/').next().unwrap_or_default();
        json!({
            "properties": {
                "privateDnsZoneConfigs": [{
                    "name": zone.replace('.', "-"),
                    "properties": {"privateDnsZoneId": spec.zone_id}
                }]
            }
        })
    }

    fn diff(desired: &Value, observed: &ObservedZoneGroup) -> Vec<Difference> {
        let mut d = Diff::new();
        d.id_set(
            "properties.privateDnsZoneConfigs",
            desired
                .pointer("/properties/privateDnsZoneConfigs/0/properties/privateDnsZoneId")
                .and_then(Value::as_str),
            observed
                .properties
                .private_dns_zone_configs
                .iter()
                .filter_map(|c| c.properties.private_dns_zone_id.as_deref()),
        );
        d.finish()
    }

    fn owner_uid(_observed: &ObservedZoneGroup) -> Option<String> {
        // No tags: a zone group is ours when its endpoint is (the controller's step checks
        // the endpoint).
        None
    }

    /// No marks of its own (it is ours through its parent): nothing to remove.
    async fn disown(
        _session: &ArmSession,
        _key: &Self::Key,
        _owner: &Owner,
    ) -> Result<(), AzureError> {
        Ok(())
    }
}

/// A private DNS zone (global).
pub struct PrivateDnsZone;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDnsZoneKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivateDnsZoneSpec {
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTracked {
    pub id: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: Value,
}

#[async_trait::async_trait]
impl ArmResource for PrivateDnsZone {
    type Key = PrivateDnsZoneKey;
    type Spec = PrivateDnsZoneSpec;
    type Body = Value;
    type Observed = ObservedTracked;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones";
    const API_VERSION: &'static str = PRIVATE_DNS_API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        network_id(
            subscription_id,
            &key.resource_group,
            &format!("privateDnsZones/{}", key.name),
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> Value {
        json!({"location": "global", "tags": tags_to_value(&owner.tags(&spec.tags))})
    }

    fn diff(desired: &Value, observed: &ObservedTracked) -> Vec<Difference> {
        let mut d = Diff::new();
        d.tags(
            &tags_from_value(&desired.get("tags").cloned()),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedTracked) -> Option<String> {
        uid_tag(&observed.tags)
    }
}

/// A private DNS zone's link to a VNet, so the VNet resolves the zone's records.
pub struct VirtualNetworkLink;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkLinkKey {
    pub resource_group: String,
    pub zone: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNetworkLinkSpec {
    pub vnet_id: String,
    pub tags: BTreeMap<String, String>,
}

#[async_trait::async_trait]
impl ArmResource for VirtualNetworkLink {
    type Key = VirtualNetworkLinkKey;
    type Spec = VirtualNetworkLinkSpec;
    type Body = Value;
    type Observed = ObservedTracked;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
    const API_VERSION: &'static str = PRIVATE_DNS_API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        network_id(
            subscription_id,
            &key.resource_group,
            &format!(
                "privateDnsZones/{}/virtualNetworkLinks/{}",
                key.zone, key.name
            ),
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> Value {
        json!({
            "location": "global",
            "tags": tags_to_value(&owner.tags(&spec.tags)),
            "properties": {
                "virtualNetwork": {"id": spec.vnet_id},
                "registrationEnabled": false
            }
        })
    }

    fn diff(desired: &Value, observed: &ObservedTracked) -> Vec<Difference> {
        let mut d = Diff::new();
        d.id_set(
            "properties.virtualNetwork.id",
            desired
                .pointer("/properties/virtualNetwork/id")
                .and_then(Value::as_str),
            observed
                .properties
                .pointer("/virtualNetwork/id")
                .and_then(Value::as_str),
        );
        d.tags(
            &tags_from_value(&desired.get("tags").cloned()),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedTracked) -> Option<String> {
        uid_tag(&observed.tags)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What PUTs of this module's four kinds send (the read-only check of every kind).
    pub(crate) fn wire_bodies() -> Vec<(&'static str, serde_json::Value)> {
        let zone = PrivateDnsZoneKey {
            resource_group: "rg".into(),
            name: BLOB_PRIVATE_DNS_ZONE.into(),
        };
        let endpoint = PrivateEndpoint::desired(
            &PrivateEndpointKey {
                resource_group: "rg".into(),
                name: "azop1-blob-pe".into(),
            },
            &PrivateEndpointSpec {
                location: "westeurope".into(),
                subnet_id: SUBNET.into(),
                target_id: ACCOUNT.into(),
                group_id: "blob".into(),
                tags: BTreeMap::new(),
            },
            &owner(),
        );
        let group = PrivateDnsZoneGroup::desired(
            &PrivateDnsZoneGroupKey {
                resource_group: "rg".into(),
                endpoint: "azop1-blob-pe".into(),
                name: "default".into(),
            },
            &PrivateDnsZoneGroupSpec {
                zone_id: PrivateDnsZone::path("s", &zone),
            },
            &owner(),
        );
        let dns = PrivateDnsZone::desired(&zone, &PrivateDnsZoneSpec::default(), &owner());
        let link = VirtualNetworkLink::desired(
            &VirtualNetworkLinkKey {
                resource_group: "rg".into(),
                zone: BLOB_PRIVATE_DNS_ZONE.into(),
                name: "vnet-hub".into(),
            },
            &VirtualNetworkLinkSpec {
                vnet_id: "/v".into(),
                tags: BTreeMap::new(),
            },
            &owner(),
        );
        vec![
            (PrivateEndpoint::RESOURCE_TYPE, endpoint),
            (PrivateDnsZoneGroup::RESOURCE_TYPE, group),
            (PrivateDnsZone::RESOURCE_TYPE, dns),
            (VirtualNetworkLink::RESOURCE_TYPE, link),
        ]
    }

    fn owner() -> Owner {
        Owner::new("StorageBinding", "ns", "img", "uid-5")
    }

    const SUBNET: &str = "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/pe";
    const ACCOUNT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/azop1";

    #[test]
    fn endpoint_body_and_a_get_after_put_show_no_drift() {
        let key = PrivateEndpointKey {
            resource_group: "rg".into(),
            name: "azop1-blob-pe".into(),
        };
        let spec = PrivateEndpointSpec {
            location: "westeurope".into(),
            subnet_id: SUBNET.into(),
            target_id: ACCOUNT.into(),
            group_id: "blob".into(),
            tags: BTreeMap::new(),
        };
        let body = PrivateEndpoint::desired(&key, &spec, &owner());
        assert_eq!(body["properties"]["subnet"]["id"], SUBNET);
        let c = &body["properties"]["privateLinkServiceConnections"][0];
        assert_eq!(c["properties"]["groupIds"], json!(["blob"]));
        assert_eq!(c["properties"]["privateLinkServiceId"], ACCOUNT);
        // PrivateEndpoints_Get (azure-rest-api-specs "PrivateEndpointGet.json"), re-typed.
        let got: ObservedPrivateEndpoint = serde_json::from_value(json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/azop1-blob-pe",
            "location": "westeurope",
            "tags": {"azop.dev_owner": "StorageBinding/ns/img", "azop.dev_uid": "uid-5"},
            "properties": {
                "provisioningState": "Succeeded",
                "subnet": {"id": SUBNET.to_lowercase()},
                "privateLinkServiceConnections": [{
                    "name": "azop1-blob-pe-blob",
                    "properties": {"privateLinkServiceId": ACCOUNT, "groupIds": ["blob"],
                        "privateLinkServiceConnectionState": {"status": "Approved"}}
                }],
                "networkInterfaces": [{"id": "/x/nic"}]
            }
        }))
        .expect("parses");
        assert_eq!(PrivateEndpoint::diff(&body, &got), vec![]);
        assert_eq!(PrivateEndpoint::owner_uid(&got).as_deref(), Some("uid-5"));
        let mut other = got.clone();
        other.properties.subnet.id = Some("/other".into());
        assert_eq!(
            PrivateEndpoint::diff(&body, &other)
                .iter()
                .map(|d| d.field.as_str())
                .collect::<Vec<_>>(),
            vec!["properties.subnet.id"]
        );
    }

    #[test]
    fn dns_bodies() {
        let zone = PrivateDnsZone::desired(
            &PrivateDnsZoneKey {
                resource_group: "rg".into(),
                name: BLOB_PRIVATE_DNS_ZONE.into(),
            },
            &PrivateDnsZoneSpec::default(),
            &owner(),
        );
        assert_eq!(zone["location"], "global");
        let link = VirtualNetworkLink::desired(
            &VirtualNetworkLinkKey {
                resource_group: "rg".into(),
                zone: BLOB_PRIVATE_DNS_ZONE.into(),
                name: "vnet-hub".into(),
            },
            &VirtualNetworkLinkSpec {
                vnet_id: "/v".into(),
                tags: BTreeMap::new(),
            },
            &owner(),
        );
        assert_eq!(link["properties"]["registrationEnabled"], false);
        let group = PrivateDnsZoneGroup::desired(
            &PrivateDnsZoneGroupKey {
                resource_group: "rg".into(),
                endpoint: "pe".into(),
                name: "default".into(),
            },
            &PrivateDnsZoneGroupSpec {
                zone_id: format!("/z/privateDnsZones/{BLOB_PRIVATE_DNS_ZONE}"),
            },
            &owner(),
        );
        assert_eq!(
            group["properties"]["privateDnsZoneConfigs"][0]["name"],
            "privatelink-blob-core-windows-net"
        );
    }
}
