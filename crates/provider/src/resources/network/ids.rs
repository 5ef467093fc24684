//! ARM ids of network resources, built from names. Used for references inside request
//! bodies (a subnet's NSG, a NIC's backend pool, a load balancer rule's own frontend), which
//! must name resources before — or while — they are created.

fn provider_id(subscription_id: &str, resource_group: &str, rest: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Network/{rest}"
    )
}

pub fn virtual_network(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("virtualNetworks/{name}"),
    )
}

pub fn subnet(subscription_id: &str, resource_group: &str, vnet: &str, name: &str) -> String {
    format!(
        "{}/subnets/{name}",
        virtual_network(subscription_id, resource_group, vnet)
    )
}

pub fn network_security_group(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("networkSecurityGroups/{name}"),
    )
}

pub fn public_ip(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("publicIPAddresses/{name}"),
    )
}

pub fn nat_gateway(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("natGateways/{name}"),
    )
}

pub fn load_balancer(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("loadBalancers/{name}"),
    )
}

/// A load balancer's child (`frontendIPConfigurations`, `backendAddressPools`, `probes`,
/// `loadBalancingRules`) by the load balancer's id.
pub fn load_balancer_child(lb_id: &str, collection: &str, name: &str) -> String {
    format!("{lb_id}/{collection}/{name}")
}

pub fn network_interface(subscription_id: &str, resource_group: &str, name: &str) -> String {
    provider_id(
        subscription_id,
        resource_group,
        &format!("networkInterfaces/{name}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_arm_shape() {
        assert_eq!(
            subnet("s", "rg", "v", "cp"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/cp"
        );
        assert_eq!(
            load_balancer_child(&load_balancer("s", "rg", "lb"), "probes", "p"),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/probes/p"
        );
    }
}
