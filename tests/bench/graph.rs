//! The AzureCluster resource graph for dynamic placement, as plan.rs documents it
//! (crates/controllers/src/azure_cluster/plan.rs), and its critical path under given
//! per-type latencies (pure).
//!
//! ```text
//! resource group ─┬─ control-plane NSG ─┐
//!                 ├─ worker NSG ────────┼─ VNet (both subnets) ─┬─ control-plane NICs ─ VMs
//!                 ├─ NAT public IP ─ NAT gateway ─┘             └─ worker NICs ─ VMs
//!                 └─ API public IP ─ load balancer ─────────────── (control-plane NICs)
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

pub const RESOURCE_GROUP: &str = "Microsoft.Resources/resourceGroups";
pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const PUBLIC_IP: &str = "Microsoft.Network/publicIPAddresses";
pub const NAT_GATEWAY: &str = "Microsoft.Network/natGateways";
pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const LOAD_BALANCER: &str = "Microsoft.Network/loadBalancers";
pub const NIC: &str = "Microsoft.Network/networkInterfaces";
pub const VM: &str = "Microsoft.Compute/virtualMachines";

/// One Azure resource of the plan.
#[derive(Clone, Debug)]
pub struct Node {
    pub key: String,
    pub arm_type: &'static str,
    pub deps: Vec<String>,
}

fn node(key: &str, arm_type: &'static str, deps: &[&str]) -> Node {
    Node {
        key: key.to_string(),
        arm_type,
        deps: deps.iter().map(|d| d.to_string()).collect(),
    }
}

/// The graph of a dynamic-placement cluster with `control_plane` and `workers` machines.
pub fn cluster_graph(control_plane: usize, workers: usize) -> Vec<Node> {
    let mut g = vec![
        node("rg", RESOURCE_GROUP, &[]),
        node("nsg/controlplane", NSG, &["rg"]),
        node("nsg/worker", NSG, &["rg"]),
        node("pip/natgw", PUBLIC_IP, &["rg"]),
        node("natgw", NAT_GATEWAY, &["pip/natgw"]),
        node("vnet", VNET, &["nsg/controlplane", "nsg/worker", "natgw"]),
        node("pip/apiserver", PUBLIC_IP, &["rg"]),
        node("lb", LOAD_BALANCER, &["pip/apiserver"]),
    ];
    for i in 0..control_plane {
        let nic = format!("nic/cp-{i}");
        g.push(node(&nic, NIC, &["vnet", "lb"]));
        g.push(node(&format!("vm/cp-{i}"), VM, &[nic.as_str()]));
    }
    for i in 0..workers {
        let nic = format!("nic/worker-{i}");
        g.push(node(&nic, NIC, &["vnet"]));
        g.push(node(&format!("vm/worker-{i}"), VM, &[nic.as_str()]));
    }
    g
}

/// The longest chain through the graph when each node takes `latency(type)` and starts as
/// soon as everything it depends on has finished; returns its length and its keys in order.
/// With `reverse`, edges point the other way (deletion: a resource goes only after everything
/// that depends on it).
pub fn critical_path(
    graph: &[Node],
    reverse: bool,
    latency: impl Fn(&str) -> Duration,
) -> (Duration, Vec<String>) {
    // Predecessors of each node in the direction of travel.
    let mut preds: BTreeMap<&str, Vec<&str>> =
        graph.iter().map(|n| (n.key.as_str(), Vec::new())).collect();
    for n in graph {
        for d in &n.deps {
            let (from, to) = if reverse {
                (n.key.as_str(), d.as_str())
            } else {
                (d.as_str(), n.key.as_str())
            };
            preds.entry(to).or_default().push(from);
        }
    }
    let types: BTreeMap<&str, &str> = graph.iter().map(|n| (n.key.as_str(), n.arm_type)).collect();
    // Finish time of each node, memoised; the graph is small and acyclic.
    fn finish<'a>(
        key: &'a str,
        preds: &BTreeMap<&'a str, Vec<&'a str>>,
        types: &BTreeMap<&'a str, &'a str>,
        latency: &dyn Fn(&str) -> Duration,
        memo: &mut BTreeMap<&'a str, (Duration, Option<&'a str>)>,
    ) -> Duration {
        if let Some((d, _)) = memo.get(key) {
            return *d;
        }
        let mut start = Duration::ZERO;
        let mut via = None;
        for p in preds.get(key).into_iter().flatten() {
            let f = finish(p, preds, types, latency, memo);
            if f > start || via.is_none() {
                start = start.max(f);
                via = Some(*p);
            }
        }
        let own = latency(types.get(key).copied().unwrap_or_default());
        memo.insert(key, (start + own, via));
        start + own
    }
    let mut memo = BTreeMap::new();
    let mut best: Option<(Duration, &str)> = None;
    for n in graph {
        let f = finish(&n.key, &preds, &types, &latency, &mut memo);
        if best.is_none_or(|(b, _)| f > b) {
            best = Some((f, n.key.as_str()));
        }
    }
    let Some((total, last)) = best else {
        return (Duration::ZERO, Vec::new());
    };
    let mut path = vec![last.to_string()];
    let mut cur = last;
    while let Some((_, Some(p))) = memo.get(cur) {
        path.push((*p).to_string());
        cur = p;
    }
    path.reverse();
    (total, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The realistic preset's create times (docs/armsim.md).
    fn create(t: &str) -> Duration {
        Duration::from_secs(match t {
            NSG | PUBLIC_IP | NIC => 3,
            NAT_GATEWAY => 15,
            VNET => 7,
            LOAD_BALANCER => 10,
            VM => 90,
            _ => 0,
        })
    }

    #[test]
    fn create_path_runs_through_the_nat_gateway_and_a_vm() {
        let (d, path) = critical_path(&cluster_graph(3, 3), false, create);
        assert_eq!(d, Duration::from_secs(3 + 15 + 7 + 3 + 90));
        assert_eq!(
            path,
            ["rg", "pip/natgw", "natgw", "vnet", "nic/cp-0", "vm/cp-0"]
        );
    }

    #[test]
    fn a_slow_load_balancer_moves_the_control_plane_onto_its_chain() {
        let slow_lb = |t: &str| match t {
            LOAD_BALANCER => Duration::from_secs(60),
            other => create(other),
        };
        let (d, path) = critical_path(&cluster_graph(1, 1), false, slow_lb);
        assert_eq!(d, Duration::from_secs(3 + 60 + 3 + 90));
        assert_eq!(path, ["rg", "pip/apiserver", "lb", "nic/cp-0", "vm/cp-0"]);
    }

    #[test]
    fn delete_path_ends_at_the_resource_group() {
        let delete = |t: &str| {
            Duration::from_secs(match t {
                RESOURCE_GROUP => 10,
                NSG | PUBLIC_IP | NIC => 2,
                NAT_GATEWAY => 15,
                VNET => 10,
                LOAD_BALANCER => 5,
                VM => 45,
                _ => 0,
            })
        };
        let (d, path) = critical_path(&cluster_graph(3, 3), true, delete);
        assert_eq!(d, Duration::from_secs(45 + 2 + 10 + 15 + 2 + 10));
        assert_eq!(path.first().map(String::as_str), Some("vm/cp-0"));
        assert_eq!(path.last().map(String::as_str), Some("rg"));
    }
}
