//! The dependency graph of Azure resources, and the pure decisions taken on it.
//!
//! A reconcile observes every node, then asks [`next_creates`] which nodes to PUT now and
//! [`next_deletes`] which to DELETE now. Neither waits: a node whose dependencies are not yet
//! `Ready` is left for a later reconcile, which the in-flight operations' polling triggers.
//! Independent nodes come back together, so the caller runs them in parallel.

use std::collections::BTreeMap;

use crate::retry::Failure;

/// What a reconcile knows about one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Not in Azure.
    Absent,
    /// In Azure, ours, provisioned, and matching the spec.
    Ready,
    /// In Azure and ours, but some managed property differs from the spec.
    Drifted,
    /// An operation on it is in flight (ours, or Azure still provisioning it).
    Busy,
    /// In Azure, but without this object's uid tag: never written or deleted.
    NotOwned,
    /// The last operation on it failed (Azure's class, code and message, or the step's own).
    Failed(Failure),
}

/// A node of the graph: a key and the keys it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<K> {
    pub key: K,
    pub deps: Vec<K>,
}

/// Nodes to PUT now: absent, drifted or failed ones whose dependencies are all `Ready`.
/// Failed nodes are retried (the caller's backoff spaces the retries).
pub fn next_creates<K: Ord + Clone>(nodes: &[Node<K>], states: &BTreeMap<K, NodeState>) -> Vec<K> {
    nodes
        .iter()
        .filter(|n| {
            matches!(
                states.get(&n.key),
                Some(NodeState::Absent | NodeState::Drifted | NodeState::Failed(_)) | None
            )
        })
        .filter(|n| {
            n.deps
                .iter()
                .all(|d| states.get(d) == Some(&NodeState::Ready))
        })
        .map(|n| n.key.clone())
        .collect()
}

/// Nodes to DELETE now: present, ours, and no other present node depends on them.
/// Nodes that are `NotOwned` are never deleted and do not block their dependencies: they
/// are not ours to wait for.
pub fn next_deletes<K: Ord + Clone>(nodes: &[Node<K>], states: &BTreeMap<K, NodeState>) -> Vec<K> {
    let present = |k: &K| {
        matches!(
            states.get(k),
            Some(NodeState::Ready | NodeState::Drifted | NodeState::Busy | NodeState::Failed(_))
        )
    };
    nodes
        .iter()
        .filter(|n| {
            matches!(
                states.get(&n.key),
                Some(NodeState::Ready | NodeState::Drifted | NodeState::Failed(_))
            )
        })
        .filter(|n| {
            !nodes
                .iter()
                .any(|other| other.deps.contains(&n.key) && present(&other.key))
        })
        .map(|n| n.key.clone())
        .collect()
}

/// True when nothing of ours is left (absent or not ours).
pub fn all_gone<K: Ord>(nodes: &[Node<K>], states: &BTreeMap<K, NodeState>) -> bool {
    nodes.iter().all(|n| {
        matches!(
            states.get(&n.key),
            None | Some(NodeState::Absent | NodeState::NotOwned)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Vec<Node<&'static str>> {
        vec![
            Node {
                key: "nsg",
                deps: vec![],
            },
            Node {
                key: "pip",
                deps: vec![],
            },
            Node {
                key: "vnet",
                deps: vec!["nsg"],
            },
            Node {
                key: "lb",
                deps: vec!["pip"],
            },
            Node {
                key: "nic",
                deps: vec!["vnet", "lb"],
            },
            Node {
                key: "vm",
                deps: vec!["nic"],
            },
        ]
    }

    fn states(pairs: &[(&'static str, NodeState)]) -> BTreeMap<&'static str, NodeState> {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn roots_start_together() {
        let s = states(&[
            ("nsg", NodeState::Absent),
            ("pip", NodeState::Absent),
            ("vnet", NodeState::Absent),
            ("lb", NodeState::Absent),
            ("nic", NodeState::Absent),
            ("vm", NodeState::Absent),
        ]);
        assert_eq!(next_creates(&chain(), &s), vec!["nsg", "pip"]);
    }

    #[test]
    fn a_node_waits_for_every_dependency() {
        let s = states(&[
            ("nsg", NodeState::Ready),
            ("pip", NodeState::Busy),
            ("vnet", NodeState::Absent),
            ("lb", NodeState::Absent),
            ("nic", NodeState::Absent),
            ("vm", NodeState::Absent),
        ]);
        assert_eq!(next_creates(&chain(), &s), vec!["vnet"]);
    }

    #[test]
    fn drift_is_corrected_and_not_owned_is_left_alone() {
        let s = states(&[
            ("nsg", NodeState::Drifted),
            ("pip", NodeState::NotOwned),
            ("vnet", NodeState::Ready),
            ("lb", NodeState::Absent),
            ("nic", NodeState::Ready),
            ("vm", NodeState::Ready),
        ]);
        assert_eq!(next_creates(&chain(), &s), vec!["nsg"]);
    }

    #[test]
    fn deletes_run_leaves_first() {
        let all_ready: Vec<_> = chain().iter().map(|n| (n.key, NodeState::Ready)).collect();
        let s = states(&all_ready);
        assert_eq!(next_deletes(&chain(), &s), vec!["vm"]);
        let s = states(&[
            ("nsg", NodeState::Ready),
            ("pip", NodeState::Ready),
            ("vnet", NodeState::Ready),
            ("lb", NodeState::Ready),
            ("nic", NodeState::Absent),
            ("vm", NodeState::Absent),
        ]);
        assert_eq!(next_deletes(&chain(), &s), vec!["vnet", "lb"]);
    }

    #[test]
    fn a_busy_dependent_blocks_the_delete() {
        let s = states(&[
            ("nsg", NodeState::Ready),
            ("pip", NodeState::Ready),
            ("vnet", NodeState::Busy),
            ("lb", NodeState::Absent),
            ("nic", NodeState::Absent),
            ("vm", NodeState::Absent),
        ]);
        assert_eq!(next_deletes(&chain(), &s), vec!["pip"]);
        assert!(!all_gone(&chain(), &s));
        let gone = states(&[("nsg", NodeState::NotOwned)]);
        assert!(all_gone(&chain(), &gone));
    }
}
