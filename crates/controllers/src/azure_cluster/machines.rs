//! Which machines a cluster should have, and where (pure).

use azop_api::v1alpha1::azure_cluster::{
    AzureClusterSpec, NodeReadiness, NodeRole, OsDisk, WorkerPool,
};
use serde_json::Value;
use std::time::Duration;

use super::fleet::{self, Survey};
use super::names;
use super::rollout::{self, Slot};

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
    /// It no longer matches its pool: kept as it is until it is removed.
    pub outdated: bool,
    /// Its node, when the workload cluster answered this pass.
    pub node: Option<NodeReadiness>,
    /// It has not joined within the deadline: the tail of its serial console.
    pub boot_log: Option<String>,
}

/// How often a pass runs while a machine's node has not turned Ready in a workload cluster
/// that answers. Nothing wakes azop when a node joins (the Node lives in the workload cluster,
/// which azop does not watch), so it looks: often while the machine comes up, so that status
/// follows the join within seconds rather than at the next resync or after a grown backoff.
pub const JOIN_POLL: Duration = Duration::from_secs(15);
/// The same once the machine is past the join deadline (its serial console is being quoted):
/// a late join is still noticed within a minute, and a machine that never joins costs one
/// pass a minute.
pub const LATE_JOIN_POLL: Duration = Duration::from_secs(60);

/// When to look again at an existing machine azop bootstraps, for its node (pure). Only while
/// the workload cluster answers and the node is not Ready: a cluster whose API server azop
/// cannot reach (not up yet, or private to a network the operator is not in) is looked at on
/// the resync as before, so it costs no more ARM reads than any other object.
pub fn join_poll(m: &MachinePlan) -> Option<Duration> {
    match m.node {
        None | Some(NodeReadiness::Ready) => None,
        Some(NodeReadiness::NotReady | NodeReadiness::NotRegistered) if m.boot_log.is_some() => {
            Some(LATE_JOIN_POLL)
        }
        Some(NodeReadiness::NotReady | NodeReadiness::NotRegistered) => Some(JOIN_POLL),
    }
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
            outdated: false,
            node: None,
            boot_log: None,
        }
    });
    let workers = spec.worker_pools.iter().flat_map(|pool| {
        let count = usize::try_from(pool.replicas).unwrap_or(0);
        (0..count).map(move |i| worker(cluster, pool, i))
    });
    control_plane.chain(workers).collect()
}

/// The `index`-th machine of a worker pool, as the spec describes it.
pub fn worker(cluster: &str, pool: &WorkerPool, index: usize) -> MachinePlan {
    let name = names::worker_machine(cluster, &pool.name, index);
    MachinePlan {
        nic: names::nic(&name),
        name,
        role: NodeRole::Worker,
        pool: Some(pool.name.clone()),
        index,
        zone: zone_for(&pool.zones, index),
        vm_size: pool.vm_size.clone(),
        os_disk: pool.os_disk.clone(),
        outdated: false,
        node: None,
        boot_log: None,
    }
}

/// The machines with what this pass found in Azure (pure): the control plane as the spec
/// numbers it, each worker pool as [`rollout::decide`] says. An existing machine keeps the
/// zone it sits in. `outdated(machine, vm)` says whether a listed VM no longer matches the
/// machine the spec describes.
pub fn with_survey(
    cluster: &str,
    spec: &AzureClusterSpec,
    survey: &Survey,
    outdated: impl Fn(&MachinePlan, &Value) -> bool,
) -> Vec<MachinePlan> {
    let listed = fleet::by_name(&survey.owned);
    let found = |mut m: MachinePlan| {
        m.node = survey.node(&m.name);
        m.boot_log = survey.boot_logs.get(&m.name).cloned();
        if let Some(vm) = listed.get(&m.name) {
            m.zone = fleet::zone(vm).or(m.zone);
            m.outdated = outdated(&m, vm);
        }
        m
    };
    let from_spec = desired_machines(cluster, spec);
    let mut out: Vec<MachinePlan> = from_spec
        .iter()
        .filter(|m| m.role == NodeRole::ControlPlane)
        .cloned()
        .map(found)
        .collect();
    for pool in &spec.worker_pools {
        let template = |index: usize| worker(cluster, pool, index);
        let slots = pool_slots(cluster, pool, survey, &outdated);
        let replicas = usize::try_from(pool.replicas).unwrap_or(0);
        let d = rollout::decide(replicas, &slots);
        let kept = d.keep.iter().chain(&d.retire).map(|&i| found(template(i)));
        let created = d.create.iter().map(|&i| found(template(i)));
        let mut pool_machines: Vec<MachinePlan> = kept.chain(created).collect();
        pool_machines.sort_by_key(|m| m.index);
        out.extend(pool_machines);
    }
    out
}

/// The machines `pool` has in Azure now, as [`rollout::decide`] takes them (pure).
pub fn pool_slots(
    cluster: &str,
    pool: &WorkerPool,
    survey: &Survey,
    outdated: impl Fn(&MachinePlan, &Value) -> bool,
) -> Vec<Slot> {
    fleet::by_name(&survey.owned)
        .iter()
        .filter_map(|(name, vm)| {
            let index = fleet::pool_index(cluster, &pool.name, name)?;
            let state = fleet::provisioning_state(vm).unwrap_or("Succeeded");
            Some(Slot {
                index,
                current: !outdated(&worker(cluster, pool, index), vm),
                ready: state.eq_ignore_ascii_case("Succeeded") && survey.node_ok(name),
                deleting: state.eq_ignore_ascii_case("Deleting"),
                cordoned: survey.cordoned(name),
            })
        })
        .collect()
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

    #[test]
    fn a_machine_is_polled_until_its_node_is_ready_and_less_often_once_late() {
        let m = |node, boot_log: Option<&str>| MachinePlan {
            name: "c-w-0".into(),
            nic: "c-w-0-nic".into(),
            role: NodeRole::Worker,
            pool: Some("w".into()),
            index: 0,
            zone: None,
            vm_size: "Standard_D2s_v5".into(),
            os_disk: OsDisk::default(),
            outdated: false,
            node,
            boot_log: boot_log.map(str::to_string),
        };
        // The API server not answering (not up yet, or out of reach): the resync, as for any
        // object.
        assert_eq!(join_poll(&m(None, None)), None);
        assert_eq!(join_poll(&m(None, Some("tail"))), None);
        // A node not registered, a node not Ready: look soon.
        assert_eq!(
            join_poll(&m(Some(NodeReadiness::NotRegistered), None)),
            Some(JOIN_POLL)
        );
        assert_eq!(
            join_poll(&m(Some(NodeReadiness::NotReady), None)),
            Some(JOIN_POLL)
        );
        // Past the deadline (its console quoted): still looked at, once a minute.
        assert_eq!(
            join_poll(&m(Some(NodeReadiness::NotReady), Some("tail"))),
            Some(LATE_JOIN_POLL)
        );
        // Ready: the resync is enough.
        assert_eq!(
            join_poll(&m(Some(NodeReadiness::Ready), Some("tail"))),
            None
        );
        assert_eq!(join_poll(&m(Some(NodeReadiness::Ready), None)), None);
    }
}
