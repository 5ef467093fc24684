//! Network interfaces: one IP configuration on a subnet, a Dynamic private IP, optional
//! load balancer backend pool membership. A node never gets a public IP: the spec has no
//! field for one, `desired` never sets one, and a public IP attached by hand is drift (our
//! PUT removes it).

use super::{API_VERSION, ObservedRef, get_via_mgmt, ref_ids, send_via_mgmt, uid_tag};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    BackendAddressPool, IpAllocationMethod, NetworkInterface as NicModel,
    NetworkInterfaceIpConfiguration, NetworkInterfaceIpConfigurationPropertiesFormat,
    NetworkInterfacePropertiesFormat, Subnet,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct NetworkInterface;

/// The name of the NIC's single IP configuration.
pub const IP_CONFIGURATION_NAME: &str = "ipconfig1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterfaceKey {
    pub resource_group: String,
    pub name: String,
}

/// What a node's NIC may be. Deliberately no public IP field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterfaceSpec {
    pub location: String,
    /// [`super::ids::subnet`] (an azop subnet or an existing one under static placement).
    pub subnet_id: String,
    /// e.g. [`super::load_balancer::backend_pool_id`] for control-plane nodes.
    pub backend_pool_ids: Vec<String>,
    pub accelerated_networking: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedNetworkInterface {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: ObservedNicProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNicProperties {
    pub provisioning_state: Option<String>,
    pub enable_accelerated_networking: Option<bool>,
    #[serde(default)]
    pub ip_configurations: Vec<ObservedIpConfiguration>,
    /// Back-reference to the VM using it: never compared.
    pub virtual_machine: Option<ObservedRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedIpConfiguration {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: ObservedIpConfigurationProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedIpConfigurationProperties {
    #[serde(rename = "privateIPAddress")]
    pub private_ip_address: Option<String>,
    #[serde(rename = "privateIPAllocationMethod")]
    pub private_ip_allocation_method: Option<String>,
    pub subnet: Option<ObservedRef>,
    #[serde(rename = "publicIPAddress")]
    pub public_ip_address: Option<ObservedRef>,
    #[serde(default)]
    pub load_balancer_backend_address_pools: Vec<ObservedRef>,
    pub primary: Option<bool>,
}

impl ObservedNetworkInterface {
    fn ip_configuration(&self, name: &str) -> Option<&ObservedIpConfiguration> {
        self.properties.ip_configurations.iter().find(|c| {
            c.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The node's private IP (allocated when the NIC is created).
    pub fn private_ip(&self) -> Option<&str> {
        self.ip_configuration(IP_CONFIGURATION_NAME)
            .or_else(|| self.properties.ip_configurations.first())?
            .properties
            .private_ip_address
            .as_deref()
    }
}

#[async_trait::async_trait]
impl ArmResource for NetworkInterface {
    type Key = NetworkInterfaceKey;
    type Spec = NetworkInterfaceSpec;
    type Body = NicModel;
    type Observed = ObservedNetworkInterface;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/networkInterfaces";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::network_interface(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> NicModel {
        let mut subnet = Subnet::new();
        subnet.sub_resource.id = Some(spec.subnet_id.clone());
        let mut ip_props = NetworkInterfaceIpConfigurationPropertiesFormat::new();
        ip_props.subnet = Some(subnet);
        ip_props.private_ip_allocation_method = Some(IpAllocationMethod::Dynamic);
        ip_props.primary = Some(true);
        ip_props.load_balancer_backend_address_pools = spec
            .backend_pool_ids
            .iter()
            .map(|id| {
                let mut pool = BackendAddressPool::new();
                pool.sub_resource.id = Some(id.clone());
                pool
            })
            .collect();
        // public_ip_address stays None: no node ever gets a public IP.
        let mut ip = NetworkInterfaceIpConfiguration::new();
        ip.name = Some(IP_CONFIGURATION_NAME.to_owned());
        ip.properties = Some(ip_props);
        let mut props = NetworkInterfacePropertiesFormat::new();
        props.ip_configurations = vec![ip];
        props.enable_accelerated_networking = Some(spec.accelerated_networking);
        let mut body = NicModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.properties = Some(props);
        body
    }

    fn diff(desired: &NicModel, observed: &ObservedNetworkInterface) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        if let Some(p) = &desired.properties {
            d.boolean(
                "properties.enableAcceleratedNetworking",
                p.enable_accelerated_networking,
                Some(
                    observed
                        .properties
                        .enable_accelerated_networking
                        .unwrap_or(false),
                ),
            );
            for ip in &p.ip_configurations {
                let name = ip.name.clone().unwrap_or_default();
                let field = format!("properties.ipConfigurations[{name}]");
                let (Some(o), Some(ip_props)) = (observed.ip_configuration(&name), &ip.properties)
                else {
                    d.push(&field, "present", "<missing>");
                    continue;
                };
                let op = &o.properties;
                d.id_set(
                    &format!("{field}.subnet"),
                    ip_props
                        .subnet
                        .as_ref()
                        .and_then(|s| s.sub_resource.id.as_deref()),
                    op.subnet.as_ref().and_then(|s| s.id.as_deref()),
                );
                d.ignore_case(
                    &format!("{field}.privateIPAllocationMethod"),
                    ip_props
                        .private_ip_allocation_method
                        .as_ref()
                        .map(wire)
                        .as_deref(),
                    op.private_ip_allocation_method.as_deref(),
                );
                d.id_set(
                    &format!("{field}.loadBalancerBackendAddressPools"),
                    ip_props
                        .load_balancer_backend_address_pools
                        .iter()
                        .filter_map(|b| b.sub_resource.id.as_deref()),
                    ref_ids(&op.load_balancer_backend_address_pools),
                );
                if let Some(pip) = op.public_ip_address.as_ref().and_then(|r| r.id.as_deref()) {
                    d.push(&format!("{field}.publicIPAddress"), "<none>", pip);
                }
            }
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedNetworkInterface) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedNetworkInterface>, AzureError> {
        let client = session.network_client().network_interfaces_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &NicModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().network_interfaces_client();
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
        let client = session.network_client().network_interfaces_client();
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
            NetworkInterface::RESOURCE_TYPE,
            NetworkInterface::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;
    use crate::resources::network::ids;
    use crate::resources::network::load_balancer::{LoadBalancerKey, backend_pool_id};

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn pool() -> String {
        backend_pool_id(
            "subid",
            &LoadBalancerKey {
                resource_group: "rg1".into(),
                name: "lb".into(),
            },
        )
    }

    fn desired() -> NicModel {
        let key = NetworkInterfaceKey {
            resource_group: "rg1".into(),
            name: "test-nic".into(),
        };
        let spec = NetworkInterfaceSpec {
            location: "eastus".into(),
            subnet_id: ids::subnet("subid", "rg1", "rg1-vnet", "default"),
            backend_pool_ids: vec![pool()],
            accelerated_networking: true,
            tags: BTreeMap::new(),
        };
        NetworkInterface::desired(&key, &spec, &owner())
    }

    /// NetworkInterfaces_CreateOrUpdate, example "NetworkInterfaceCreate.json"
    /// (2024-03-01), re-typed: no public IP (the example has one; ours never do), a backend
    /// pool membership, the allocated private IP, Azure's defaults (primary,
    /// privateIPAddressVersion, dnsSettings, macAddress) and a virtualMachine back-reference.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "test-nic",
            "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/test-nic",
            "type": "Microsoft.Network/networkInterfaces",
            "location": "eastus",
            "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [{
                    "name": "ipconfig1",
                    "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/test-nic/ipConfigurations/ipconfig1",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": "172.20.2.4",
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddressVersion": "IPv4",
                        "subnet": {"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/virtualNetworks/rg1-vnet/subnets/default"},
                        "loadBalancerBackendAddressPools": [{"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/control-plane"}],
                        "primary": true
                    }
                }],
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": [], "internalDomainNameSuffix": "test.bx.internal.cloudapp.net"},
                "macAddress": "00-0D-3A-1B-C7-21",
                "enableAcceleratedNetworking": true,
                "vnetEncryptionSupported": false,
                "enableIPForwarding": false,
                "disableTcpStateTracking": false,
                "nicType": "Standard",
                "virtualMachine": {"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm-0"},
                "auxiliaryMode": "None"
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedNetworkInterface {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(NetworkInterface::diff(&desired(), &o), vec![]);
        assert_eq!(o.private_ip(), Some("172.20.2.4"));
        assert_eq!(NetworkInterface::owner_uid(&o).as_deref(), Some("uid-1"));
    }

    #[test]
    fn desired_body_has_no_public_ip() {
        let body = serde_json::to_value(desired()).expect("json");
        let ip = &body["properties"]["ipConfigurations"][0];
        assert_eq!(ip["name"], "ipconfig1");
        assert_eq!(ip["properties"]["privateIPAllocationMethod"], "Dynamic");
        assert_eq!(
            ip["properties"]["loadBalancerBackendAddressPools"][0]["id"],
            pool()
        );
        assert!(ip["properties"].get("publicIPAddress").is_none());
        assert!(!body.to_string().to_ascii_lowercase().contains("publicip"));
    }

    #[test]
    fn each_managed_field_is_drift() {
        let ip = "/properties/ipConfigurations/0/properties";
        let set = |ptr: String, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(&ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location".into(), "westus".into())),
            (
                "properties.enableAcceleratedNetworking",
                set(
                    "/properties/enableAcceleratedNetworking".into(),
                    false.into(),
                ),
            ),
            (
                "properties.ipConfigurations[ipconfig1].subnet",
                set(format!("{ip}/subnet/id"), "/other".into()),
            ),
            (
                "properties.ipConfigurations[ipconfig1].privateIPAllocationMethod",
                set(format!("{ip}/privateIPAllocationMethod"), "Static".into()),
            ),
            (
                "properties.ipConfigurations[ipconfig1].loadBalancerBackendAddressPools",
                set(
                    format!("{ip}/loadBalancerBackendAddressPools"),
                    serde_json::json!([]),
                ),
            ),
            (
                "properties.ipConfigurations[ipconfig1].publicIPAddress",
                Box::new(move |v| {
                    v.pointer_mut(ip).expect("p")["publicIPAddress"] =
                        serde_json::json!({"id": "/pip"})
                }),
            ),
            (
                "properties.ipConfigurations[ipconfig1]",
                set("/properties/ipConfigurations/0/name".into(), "other".into()),
            ),
            ("tags", set("/tags".into(), serde_json::json!(null))),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = NetworkInterface::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }
}
