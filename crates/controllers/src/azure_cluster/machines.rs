//! Which machines a cluster should have, and where (pure).

use azop_api::v1alpha1::azure_cluster::{AzureClusterSpec, NodeRole, OsDisk};

use super::names;

/// One VM the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachinePlan {
    pub name: String,
    pub nic: String,
    pub role: NodeRole,
    /// Worker pool name; `None` for the control plane.
    pub pool: Option<String>,
    pub index: usize,
    pub zone: Option<String>,
    pub vm_size: String,
    pub os_disk: OsDisk,
}

/// Zone of the `index`-th machine of a pool: deterministic round-robin, so replicas spread
/// evenly and scaling down (highest index first) keeps the spread even.
pub fn zone_for(zones: &[String], index: usize) -> Option<String> {
    if zones.is_empty() {
        None
    } else {
        zones.get(index % zones.len()).cloned()
    }
}

/// Every machine of the spec: control plane first, then each worker pool in spec order.
pub fn desired_machines(cluster: &str, spec: &AzureClusterSpec) -> Vec<MachinePlan> {
    let cp = &spec.control_plane;
    let cp_count = usize::try_from(cp.replicas).unwrap_or(0);
    let control_plane = (0..cp_count).map(|i| {
        let name = names::control_plane_machine(cluster, i);
        MachinePlan {
            nic: names::nic(&name),
            name,
            role: NodeRole::ControlPlane,
            pool: None,
            index: i,
            zone: zone_for(&cp.zones, i),
            vm_size: cp.vm_size.clone(),
            os_disk: cp.os_disk.clone(),
        }
    });
    let workers = spec.worker_pools.iter().flat_map(|pool| {
        let count = usize::try_from(pool.replicas).unwrap_or(0);
        (0..count).map(move |i| {
            let name = names::worker_machine(cluster, &pool.name, i);
            MachinePlan {
                nic: names::nic(&name),
                name,
                role: NodeRole::Worker,
                pool: Some(pool.name.clone()),
                index: i,
                zone: zone_for(&pool.zones, i),
                vm_size: pool.vm_size.clone(),
                os_disk: pool.os_disk.clone(),
            }
        })
    });
    control_plane.chain(workers).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(z: &[&str]) -> Vec<String> {
        z.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn round_robin_spreads_evenly() {
        let z = zones(&["1", "2", "3"]);
        let picked: Vec<_> = (0..7).map(|i| zone_for(&z, i)).collect();
        let count = |zone: &str| picked.iter().filter(|p| p.as_deref() == Some(zone)).count();
        assert_eq!((count("1"), count("2"), count("3")), (3, 2, 2));
        assert_eq!(zone_for(&[], 4), None);
    }

    #[test]
    fn scaling_down_removes_the_highest_index_and_keeps_the_rest() {
        let z = zones(&["1", "2"]);
        let five: Vec<_> = (0..5).map(|i| zone_for(&z, i)).collect();
        let three: Vec<_> = (0..3).map(|i| zone_for(&z, i)).collect();
        assert_eq!(&five[..3], &three[..]);
    }
}
