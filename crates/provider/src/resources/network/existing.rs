//! Read-only access to networks azop did not create (static placement): the user names an
//! existing VNet, subnets and NSGs; azop validates them and never writes to them. There is
//! deliberately no write function here — only GETs, each returning the same observed
//! models the managed kinds use, `None` when the resource (or its resource group) is absent.

use super::network_security_group::{
    NetworkSecurityGroup, NetworkSecurityGroupKey, ObservedNetworkSecurityGroup,
};
use super::virtual_network::{
    ObservedSubnet, ObservedVirtualNetwork, VirtualNetwork, VirtualNetworkKey,
};
use super::{API_VERSION, ids};
use crate::arm::ArmSession;
use crate::error::AzureError;
use crate::resources::ArmResource;

/// GET an existing VNet (with its subnets).
pub async fn virtual_network(
    session: &ArmSession,
    resource_group: &str,
    name: &str,
) -> Result<Option<ObservedVirtualNetwork>, AzureError> {
    let key = VirtualNetworkKey {
        resource_group: resource_group.to_owned(),
        name: name.to_owned(),
    };
    VirtualNetwork::observe(session, &key).await
}

/// GET an existing subnet through its own id (`…/virtualNetworks/{v}/subnets/{s}`).
pub async fn subnet(
    session: &ArmSession,
    resource_group: &str,
    vnet: &str,
    name: &str,
) -> Result<Option<ObservedSubnet>, AzureError> {
    let path = ids::subnet(session.subscription_id(), resource_group, vnet, name);
    match session.get(&path, API_VERSION).await? {
        None => Ok(None),
        Some(resp) => Ok(Some(
            resp.parse("Microsoft.Network/virtualNetworks/subnets")?,
        )),
    }
}

/// GET an existing NSG.
pub async fn network_security_group(
    session: &ArmSession,
    resource_group: &str,
    name: &str,
) -> Result<Option<ObservedNetworkSecurityGroup>, AzureError> {
    let key = NetworkSecurityGroupKey {
        resource_group: resource_group.to_owned(),
        name: name.to_owned(),
    };
    NetworkSecurityGroup::observe(session, &key).await
}

/// Why an existing subnet cannot host a cluster's nodes (pure; the controller turns these
/// into a condition message).
pub fn subnet_problems(
    subnet: &ObservedSubnet,
    required_service_endpoints: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let p = &subnet.properties;
    if p.prefixes().is_empty() {
        out.push("subnet has no address prefix".to_owned());
    }
    if let Some(state) = p.provisioning_state.as_deref()
        && !state.eq_ignore_ascii_case("Succeeded")
    {
        out.push(format!("subnet is {state}"));
    }
    let have = p.service_endpoint_names();
    for svc in required_service_endpoints {
        if !have.iter().any(|h| h.eq_ignore_ascii_case(svc)) {
            out.push(format!("subnet lacks the {svc} service endpoint"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subnets_Get, example "SubnetGet.json" (2024-03-01), with a service endpoint.
    const SUBNET_GET: &str = r#"{
        "name": "subnet1",
        "id": "/subscriptions/subid/resourceGroups/subnet-test/providers/Microsoft.Network/virtualNetworks/vnetname/subnets/subnet1",
        "properties": {
            "addressPrefix": "10.0.0.0/16",
            "provisioningState": "Succeeded",
            "serviceEndpoints": [{"service": "Microsoft.Storage", "locations": ["eastus"], "provisioningState": "Succeeded"}],
            "networkSecurityGroup": {"id": "/subscriptions/subid/resourceGroups/subnet-test/providers/Microsoft.Network/networkSecurityGroups/nsg"}
        }
    }"#;

    #[test]
    fn an_existing_subnet_is_read_and_checked() {
        let s: ObservedSubnet = serde_json::from_str(SUBNET_GET).expect("fixture");
        assert_eq!(s.properties.prefixes(), vec!["10.0.0.0/16"]);
        assert!(
            s.properties
                .network_security_group_id()
                .is_some_and(|id| id.ends_with("/nsg"))
        );
        assert!(subnet_problems(&s, &["microsoft.storage"]).is_empty());
        assert_eq!(
            subnet_problems(&s, &["Microsoft.KeyVault"]),
            vec!["subnet lacks the Microsoft.KeyVault service endpoint".to_owned()]
        );
    }
}
