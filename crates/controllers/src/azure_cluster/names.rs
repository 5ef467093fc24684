//! Deterministic Azure names for an AzureCluster's resources (pure).
//!
//! Names follow Cluster API Provider Azure's shapes (`<cluster>-public-lb`, `<cluster>-vnet`,
//! …) so users coming from CAPZ and Palette recognise them. They derive from the cluster's name
//! only: two objects that would collide (same name, same resource group, different namespace)
//! are kept apart by the uid tag — the second one reports the resource as not its own and never
//! touches it.

use std::collections::BTreeMap;

/// The names of the cluster-wide resources, by role. Written to `status.azureNames` before
/// the first PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNames {
    pub vnet: String,
    pub control_plane_subnet: String,
    pub worker_subnet: String,
    pub control_plane_nsg: String,
    pub worker_nsg: String,
    pub nat_gateway: String,
    pub nat_gateway_public_ip: String,
    pub api_server_public_ip: String,
    pub load_balancer: String,
}

impl ClusterNames {
    /// `internal_lb`: the API server's load balancer is internal (`<cluster>-internal-lb`).
    pub fn for_cluster(cluster: &str, internal_lb: bool) -> Self {
        ClusterNames {
            vnet: format!("{cluster}-vnet"),
            control_plane_subnet: format!("{cluster}-controlplane-subnet"),
            worker_subnet: format!("{cluster}-node-subnet"),
            control_plane_nsg: format!("{cluster}-controlplane-nsg"),
            worker_nsg: format!("{cluster}-node-nsg"),
            nat_gateway: format!("{cluster}-node-natgw"),
            nat_gateway_public_ip: format!("{cluster}-node-natgw-pip"),
            api_server_public_ip: format!("{cluster}-apiserver-pip"),
            load_balancer: if internal_lb {
                format!("{cluster}-internal-lb")
            } else {
                format!("{cluster}-public-lb")
            },
        }
    }

    /// The map written to `status.azureNames`.
    pub fn to_status(&self) -> BTreeMap<String, String> {
        [
            ("vnet", &self.vnet),
            ("controlPlaneSubnet", &self.control_plane_subnet),
            ("workerSubnet", &self.worker_subnet),
            ("controlPlaneNsg", &self.control_plane_nsg),
            ("workerNsg", &self.worker_nsg),
            ("natGateway", &self.nat_gateway),
            ("natGatewayPublicIp", &self.nat_gateway_public_ip),
            ("apiServerPublicIp", &self.api_server_public_ip),
            ("loadBalancer", &self.load_balancer),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// A control-plane VM's name: `<cluster>-cp-<index>`.
pub fn control_plane_machine(cluster: &str, index: usize) -> String {
    format!("{cluster}-cp-{index}")
}

/// A worker VM's name: `<cluster>-<pool>-<index>`.
pub fn worker_machine(cluster: &str, pool: &str, index: usize) -> String {
    format!("{cluster}-{pool}-{index}")
}

/// A VM's NIC.
pub fn nic(machine: &str) -> String {
    format!("{machine}-nic")
}

/// A VM's OS disk.
pub fn os_disk(machine: &str) -> String {
    format!("{machine}-osdisk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_capz_shapes() {
        let n = ClusterNames::for_cluster("prod", false);
        assert_eq!(
            ClusterNames::for_cluster("prod", true).load_balancer,
            "prod-internal-lb"
        );
        assert_eq!(n.load_balancer, "prod-public-lb");
        assert_eq!(n.vnet, "prod-vnet");
        assert_eq!(control_plane_machine("prod", 2), "prod-cp-2");
        assert_eq!(worker_machine("prod", "gpu", 0), "prod-gpu-0");
        assert_eq!(nic("prod-gpu-0"), "prod-gpu-0-nic");
        assert_eq!(n.to_status().len(), 9);
    }
}
