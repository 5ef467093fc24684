//! Which objects this replica reconciles when several share the work (the engine's gate;
//! `azop run --shards N` and the operator's Lease manager feed it, docs/scale.md). Unsharded
//! (`--shards 1`, the default, one leader) the gate lets every object through.
//!
//! Every object belongs to one shard: `SHA-256(uid)` read as a number, modulo the shard
//! count — stable across replicas, restarts and versions, and spread evenly. A replica
//! reconciles an object only while it holds the object's shard (a Lease, managed by the
//! operator's shard manager); the moment it stops holding it — handed over, or not renewed
//! in time — a pass under way for that object is dropped, before another replica can take the
//! shard over. Every replica watches every object, so a shard taken over is reconciled at
//! once from a warm cache.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// The shard of object `uid` among `count`. Pure and stable: never change it (objects
/// would move between replicas during an upgrade).
pub fn shard_of(uid: &str, count: u32) -> u32 {
    let digest = Sha256::digest(uid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from_be_bytes(first);
    u32::try_from(n % u64::from(count.max(1))).unwrap_or(0)
}

/// This replica's shards, as the shard manager holds them.
#[derive(Clone, Debug)]
pub struct ShardGate {
    count: u32,
    /// `None`: unsharded, every object is this replica's.
    held: Option<watch::Receiver<BTreeSet<u32>>>,
}

impl Default for ShardGate {
    fn default() -> Self {
        ShardGate::all()
    }
}

impl ShardGate {
    /// One replica (or one leader) does everything.
    pub fn all() -> Self {
        ShardGate {
            count: 1,
            held: None,
        }
    }

    /// `count` shards; `held` is what this replica holds now.
    pub fn sharded(count: u32, held: watch::Receiver<BTreeSet<u32>>) -> Self {
        ShardGate {
            count: count.max(1),
            held: Some(held),
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this replica may reconcile object `uid` now. Nothing once the shard manager
    /// is gone: its last word may be stale.
    pub fn owns(&self, uid: &str) -> bool {
        match &self.held {
            None => true,
            Some(rx) => {
                rx.has_changed().is_ok() && rx.borrow().contains(&shard_of(uid, self.count))
            }
        }
    }

    /// Resolves when this replica no longer holds `uid`'s shard (never, unsharded).
    pub async fn lost(&self, uid: &str) {
        let Some(rx) = &self.held else {
            return std::future::pending().await;
        };
        let shard = shard_of(uid, self.count);
        let mut rx = rx.clone();
        // The manager gone (shutdown) counts as lost.
        let _ = rx.wait_for(|h| !h.contains(&shard)).await;
    }

    /// Yields each time this replica takes a shard (so its objects are reconciled at once).
    pub fn acquisitions(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        let rx = self.held.clone();
        futures::stream::unfold(
            (rx, BTreeSet::new()),
            |(rx, mut before): (Option<watch::Receiver<BTreeSet<u32>>>, BTreeSet<u32>)| async move {
                let mut rx = rx?;
                loop {
                    let now = rx.borrow_and_update().clone();
                    let gained = now.difference(&before).next().is_some();
                    before = now;
                    if gained {
                        return Some(((), (Some(rx), before)));
                    }
                    rx.changed().await.ok()?;
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn shards_are_stable_and_spread() {
        // Pinned: a change here would move objects between replicas during an upgrade.
        assert_eq!(
            shard_of("0b7d5a0e-2f4c-4d8e-9a51-6d3c1f2e8b90", 3),
            shard_of("0b7d5a0e-2f4c-4d8e-9a51-6d3c1f2e8b90", 3)
        );
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0, "no shard count is one shard");
        let mut counts = [0u32; 3];
        for i in 0..3000 {
            counts[shard_of(&format!("uid-{i}"), 3) as usize] += 1;
        }
        for c in counts {
            assert!((900..=1100).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn pinned_values() {
        let expected: Vec<u32> = ["a", "b", "c", "d"]
            .iter()
            .map(|u| shard_of(u, 7))
            .collect();
        // SHA-256("a") starts ca978112ca1bbdca: 0xca978112ca1bbdca % 7.
        assert_eq!(expected[0], (0xca97_8112_ca1b_bdca_u64 % 7) as u32);
    }

    #[tokio::test]
    async fn ownership_follows_the_held_set() {
        let (tx, rx) = watch::channel(BTreeSet::new());
        let gate = ShardGate::sharded(3, rx);
        let uid = "some-uid";
        let shard = shard_of(uid, 3);
        assert!(!gate.owns(uid));
        let mut acquired = Box::pin(gate.acquisitions());
        tx.send_replace([shard].into_iter().collect());
        assert!(gate.owns(uid));
        assert_eq!(acquired.next().await, Some(()));
        let lost = tokio::spawn({
            let gate = gate.clone();
            async move { gate.lost(uid).await }
        });
        tokio::task::yield_now().await;
        assert!(!lost.is_finished());
        tx.send_replace(BTreeSet::new());
        lost.await.expect("lost resolves");
        assert!(!gate.owns(uid));
        assert!(ShardGate::all().owns(uid));
    }

    #[tokio::test]
    async fn a_gone_manager_owns_nothing() {
        let (tx, rx) = watch::channel(BTreeSet::from([0, 1, 2]));
        let gate = ShardGate::sharded(3, rx);
        assert!(gate.owns("u"));
        drop(tx);
        assert!(!gate.owns("u"), "the last published set is not trusted");
        gate.lost("u").await;
    }
}
