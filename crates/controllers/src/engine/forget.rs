//! Per-object state is dropped when its object is gone.
//!
//! The engine and the kinds keep a little state per object between passes (retry holds,
//! backoff counts, a workload cluster's probe times). A thousand objects created and deleted
//! must leave none of it behind. The delete pass's end forgets the holds, but an object can
//! also go without that pass (deleted before azop put its finalizer on, its finalizer removed
//! by hand, a deletion seen only as an absence after the watch was re-listed), so the watch
//! of the kind itself says when an object is gone: [`Seen`] follows its events and names
//! the uids that went, including those that disappeared between two lists (kube's watcher
//! sends no `Delete` for them).

use std::collections::HashSet;

use kube::Resource;
use kube::runtime::watcher::Event;

use super::{Kind, Runner};
use crate::retry::{ObjectBackoff, StepHolds};

/// The uids of the objects of one kind that the watch has shown and not yet seen go.
#[derive(Debug, Default)]
pub struct Seen {
    live: HashSet<String>,
    /// The uids of the list under way (between `Init` and `InitDone`).
    relisting: Option<HashSet<String>>,
}

impl Seen {
    /// Follows one watch event; returns the uids gone with it. Pure.
    pub fn on_event<K: Resource>(&mut self, event: &Event<K>) -> Vec<String> {
        let uid = |o: &K| o.meta().uid.clone();
        match event {
            Event::Apply(o) => {
                self.live.extend(uid(o));
                Vec::new()
            }
            Event::Delete(o) => uid(o).filter(|u| self.live.remove(u)).into_iter().collect(),
            Event::Init => {
                self.relisting = Some(HashSet::new());
                Vec::new()
            }
            Event::InitApply(o) => {
                self.relisting.get_or_insert_default().extend(uid(o));
                Vec::new()
            }
            Event::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                let mut gone: Vec<String> = self.live.difference(&listed).cloned().collect();
                gone.sort();
                self.live = listed;
                gone
            }
        }
    }

    /// Whether the object of uid `uid` is live as far as the watch has said: shown and not
    /// gone, or shown by a re-list under way.
    pub fn is_live(&self, uid: &str) -> bool {
        self.live.contains(uid) || self.relisting.as_ref().is_some_and(|r| r.contains(uid))
    }

    /// How many objects are known live.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// Follows one event of the kind's watch and drops the state of every object gone with it.
pub fn on_event<K: Kind>(runner: &Runner<K>, event: &Event<K::Object>) {
    let gone = runner.seen().on_event(event);
    for uid in gone {
        forget(runner, &uid);
    }
}

/// After a pass (or the error policy) of the object of uid `uid` wrote its state: if the
/// watch said meanwhile that the object is gone, the forget has already run and would not
/// run again, so what the pass wrote is dropped here. (A pass in flight when its object
/// went — its finalizer removed by hand, say — ends after the watch's `Delete`.) The pass
/// writes first and looks second, the watch marks first and forgets second: whichever
/// comes last drops the state.
pub fn after_pass<K: Kind>(runner: &Runner<K>, uid: &str) {
    let live = runner.seen().is_live(uid);
    if live {
        report_state(runner);
    } else {
        forget(runner, uid);
    }
}

/// Drops everything the engine and the kind keep for the object of uid `uid`.
pub fn forget<K: Kind>(runner: &Runner<K>, uid: &str) {
    forget_in(&runner.kind, &runner.ctx.holds, &runner.ctx.backoff, uid);
    report_state(runner);
}

/// Exports the entry counts of the per-object state (after a pass, and after a forget), so
/// that what a thousand deleted objects leave behind can be seen: zero once all are gone.
pub fn report_state<K: Kind>(runner: &Runner<K>) {
    runner.ctx.report_object_state();
    runner
        .ctx
        .metrics
        .record_state("kind", K::IDENTITY.metrics_label, runner.kind.remembered());
}

/// [`forget`], on the parts it touches.
fn forget_in<K: Kind>(kind: &K, holds: &StepHolds, backoff: &ObjectBackoff, uid: &str) {
    holds.forget(&format!("{uid}/"));
    backoff.succeeded(uid);
    kind.forget(uid);
    tracing::debug!(
        controller = K::IDENTITY.metrics_label,
        uid,
        "object gone: its state dropped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::azure_cluster::AzureCluster;

    fn cluster(uid: &str) -> AzureCluster {
        let mut c: AzureCluster = crate::testing::cluster(uid).build();
        c.metadata.uid = Some(uid.to_string());
        c
    }

    #[test]
    fn forgetting_an_object_drops_its_holds_backoff_and_probes_only() {
        use crate::azure_cluster::AzureClusterKind;
        use crate::retry::{Failure, HoldSource, RetryClass};
        use std::time::Instant;
        let kind = AzureClusterKind::default();
        let (holds, backoff) = (StepHolds::default(), ObjectBackoff::default());
        let failure = Failure::new(
            azop_provider::ErrorClass::Transient,
            Some("Boom"),
            "boom",
            RetryClass::Transient,
        );
        for uid in ["gone", "kept"] {
            holds.failed(
                &format!("{uid}/1/vnet"),
                &failure,
                HoldSource::Write,
                Instant::now(),
            );
            backoff.failed(uid);
            kind.probes.failed(uid, Instant::now());
        }
        assert_eq!(kind.probes.len(), 2);
        forget_in(&kind, &holds, &backoff, "gone");
        assert!(!holds.any_under("gone/"));
        assert!(holds.any_under("kept/"));
        assert_eq!(backoff.failed("gone"), 1, "its count starts over");
        assert_eq!(backoff.failed("kept"), 2);
        assert_eq!(kind.probes.len(), 1);
    }

    #[test]
    fn a_deleted_object_is_gone_once() {
        let mut seen = Seen::default();
        assert!(seen.on_event(&Event::Apply(cluster("a"))).is_empty());
        assert!(seen.on_event(&Event::Apply(cluster("a"))).is_empty());
        assert!(seen.on_event(&Event::Apply(cluster("b"))).is_empty());
        assert_eq!(seen.len(), 2);
        assert_eq!(seen.on_event(&Event::Delete(cluster("a"))), vec!["a"]);
        assert!(seen.on_event(&Event::Delete(cluster("a"))).is_empty());
        assert_eq!(seen.len(), 1);
        assert!(!seen.is_live("a"));
        assert!(seen.is_live("b"));
    }

    /// A pass ending during a re-list must not take its object for gone: it is live if the
    /// list under way showed it, or if the previous one did and this one has not ended.
    #[test]
    fn an_object_is_live_while_a_relist_is_under_way() {
        let mut seen = Seen::default();
        seen.on_event::<AzureCluster>(&Event::Init);
        seen.on_event(&Event::InitApply(cluster("a")));
        assert!(
            seen.is_live("a"),
            "shown by the first list, before it ended"
        );
        seen.on_event::<AzureCluster>(&Event::InitDone);
        seen.on_event::<AzureCluster>(&Event::Init);
        assert!(seen.is_live("a"), "the re-list has not ended");
        seen.on_event::<AzureCluster>(&Event::InitDone);
        assert!(!seen.is_live("a"), "the re-list did not show it");
    }

    #[test]
    fn an_object_missing_from_a_relist_is_gone() {
        // The watch broke; meanwhile `a` was deleted. The re-list shows only `b` and `c`.
        let mut seen = Seen::default();
        for e in [
            Event::Init,
            Event::InitApply(cluster("a")),
            Event::InitApply(cluster("b")),
        ] {
            assert!(seen.on_event(&e).is_empty());
        }
        assert!(seen.on_event::<AzureCluster>(&Event::InitDone).is_empty());
        assert_eq!(seen.len(), 2);
        seen.on_event::<AzureCluster>(&Event::Init);
        seen.on_event(&Event::InitApply(cluster("b")));
        seen.on_event(&Event::InitApply(cluster("c")));
        assert_eq!(seen.on_event::<AzureCluster>(&Event::InitDone), vec!["a"]);
        assert_eq!(seen.len(), 2);
        // Everything deleted while the watch was down.
        seen.on_event::<AzureCluster>(&Event::Init);
        assert_eq!(
            seen.on_event::<AzureCluster>(&Event::InitDone),
            vec!["b", "c"]
        );
        assert!(seen.is_empty());
    }
}
