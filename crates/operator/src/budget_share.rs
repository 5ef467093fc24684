//! The part of ARM's budget this replica spends follows the shards it holds
//! (`azop run --shards N`, docs/scale.md "One budget over replicas"): k of N shards, k/N of
//! every subscription's buckets. The shard manager publishes what is held; this task sets
//! the provider's gate, the `azop_arm_budget_share` gauge and an info line on each change.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;

use azop_provider::{BudgetShare, Throttle};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tracing::info;

pub type ShareGauge = Gauge<f64, AtomicU64>;

/// A share as people write it: `1/3`, `0/3`, `1/1`. Pure.
pub fn describe(share: BudgetShare) -> String {
    format!("{}/{}", share.held(), share.of())
}

/// Sets `share` on the gate and the gauge; logs it when it changed. Returns whether it did.
pub fn apply(throttle: &Throttle, gauge: &ShareGauge, share: BudgetShare) -> bool {
    gauge.set(share.fraction());
    let old = throttle.set_share(share);
    if old != share {
        info!(
            share = %describe(share),
            was = %describe(old),
            "ARM budget share: this replica now spends {:.0} % of each subscription's read, write and delete budgets",
            share.fraction() * 100.0
        );
    }
    old != share
}

/// Until the shard manager is gone: the gate spends the part of the held shards.
pub async fn follow(
    mut held: watch::Receiver<BTreeSet<u32>>,
    count: u32,
    throttle: Throttle,
    gauge: ShareGauge,
) {
    loop {
        let share = BudgetShare::of_shards(held.borrow_and_update().len(), count);
        apply(&throttle, &gauge, share);
        if held.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_provider::ThrottleLimits;
    use azop_provider::throttle::SystemClock;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn shares_read_as_fractions() {
        assert_eq!(describe(BudgetShare::of_shards(2, 3)), "2/3");
        assert_eq!(describe(BudgetShare::WHOLE), "1/1");
    }

    #[tokio::test]
    async fn the_gate_and_the_gauge_follow_the_shards_held() {
        let throttle = Throttle::new(ThrottleLimits::default(), Arc::new(SystemClock));
        let gauge = ShareGauge::default();
        let (tx, rx) = watch::channel(BTreeSet::new());
        let task = tokio::spawn(follow(rx, 3, throttle.clone(), gauge.clone()));
        let settled = |want: BudgetShare| {
            let (throttle, gauge) = (throttle.clone(), gauge.clone());
            async move {
                for _ in 0..200 {
                    if throttle.share() == want && (gauge.get() - want.fraction()).abs() < 1e-12 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                panic!(
                    "share {:?}, gauge {}; want {want:?}",
                    throttle.share(),
                    gauge.get()
                );
            }
        };
        settled(BudgetShare::of_shards(0, 3)).await;
        tx.send_replace(BTreeSet::from([1]));
        settled(BudgetShare::of_shards(1, 3)).await;
        tx.send_replace(BTreeSet::from([1, 2]));
        settled(BudgetShare::of_shards(2, 3)).await;
        tx.send_replace(BTreeSet::from([2]));
        settled(BudgetShare::of_shards(1, 3)).await;
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends with the shard manager")
            .expect("task");
    }
}
