//! The reconcile engine every Azure-backed kind runs on.
//!
//! A kind supplies a [`Kind`] value: its [`Identity`], what wakes it ([`Watches`]), how to
//! resolve an object's references, a pure `plan` (a dependency graph of [`Planned`] steps)
//! and a pure `report` (status from what the pass saw, worded through the one condition
//! ladder of [`report`]). The engine does the rest, the same way for every kind, and never
//! waits for Azure:
//!
//! 1. **observe** ([`observe`]): poll each recorded operation once ([`operations`]), read
//!    every step once through the [`Observer`] (8 at a time), turn each into a graph state;
//! 2. **act** ([`act`]): PUT what the graph allows now, in parallel, except steps held after
//!    a failed write ([`crate::retry`]); a PUT that starts an operation is recorded and
//!    polled by requeue;
//! 3. **delete** ([`delete`]): the graph in reverse, in parallel where independent, with the
//!    same holds for refused DELETEs, only what this pass saw with our uid tag, a container
//!    (resource group) last and only when it holds nothing foreign; with `deletionPolicy:
//!    Orphan` ([`orphan`]) nothing is deleted: only azop's ownership marks are removed;
//! 4. **status** ([`status`]): written once by server-side apply, an Event per condition that
//!    flips.
//!
//! Every pass runs inside a `reconcile` tracing span ([`trace`]) naming the object, so the
//! provider's log lines can be tied to the object they serve.

pub mod act;
pub mod apply;
pub mod delete;
pub mod drift;
pub mod forget;
pub mod graph;
pub mod identity;
pub mod kind;
pub mod observe;
pub mod operations;
pub mod orphan;
pub mod plan;
pub mod preview;
pub mod registration;
pub mod report;
pub mod status;
pub mod step;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;
use tracing::Instrument;

pub use graph::NodeState;
pub use identity::Identity;
pub use kind::{Kind, Leftover, Part, ReportInput, Rollout, Stop, Swap, Sweep};
pub use plan::{Ownership, Planned, StepView};
pub use registration::{Watches, run};
pub use report::{Wording, report_resources};
pub use status::Note;
pub use step::{Observation, Observer, PerResourceGet, ResourceStep, Step, StepCtx, StepError};

use crate::context::Context;
use crate::error::Error;
use crate::retry::PassOutcome;

/// Parallel ARM calls within one reconcile.
pub const PARALLEL_CALLS: usize = 8;

/// A kind and the shared context: what the kube `Controller` hands every reconcile.
pub struct Runner<K> {
    pub kind: K,
    pub ctx: Arc<Context>,
    /// The controller's concurrency limit (`--concurrency`), served in the order objects
    /// came due. kube's own limit holds due objects in a set it serves in no particular
    /// order: with many objects waiting (a hundred clusters created at once, passes waiting
    /// for the subscription's ARM budget) an object requeued for one second waited minutes
    /// while others went round again. The controller runs unbounded and every pass takes a
    /// slot here first, first come first served (tokio's semaphore is fair).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The objects the kind's watch shows (`forget`): their state goes when they do.
    seen: std::sync::Mutex<forget::Seen>,
}

impl<K> Runner<K> {
    pub fn new(kind: K, ctx: Arc<Context>) -> Self {
        let slots = pass_slots(ctx.settings.concurrency);
        Runner {
            kind,
            ctx,
            slots,
            seen: Default::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, forget::Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `concurrency` slots for passes, handed out first come first served.
pub fn pass_slots(concurrency: u16) -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(usize::from(concurrency.max(1))))
}

/// One reconcile of `obj`: the create/update pass, or the delete pass once the object is
/// marked for deletion; then the requeue from the per-object backoff.
pub async fn reconcile<K: Kind>(
    obj: Arc<K::Object>,
    runner: Arc<Runner<K>>,
) -> Result<Action, Error> {
    let (kind, ctx) = (&runner.kind, &*runner.ctx);
    let gate = &ctx.settings.shards;
    let uid = obj.meta().uid.clone().unwrap_or_default();
    // Another replica's object (crate::shard): woken again when this replica takes its shard.
    if !gate.owns(&uid) {
        return Ok(Action::await_change());
    }
    let span = trace::reconcile_span(&K::IDENTITY, &*obj);
    let slots = &runner.slots;
    let reporting = &*runner;
    async move {
        let pass = async {
            // Never closed: an error would only mean no limit.
            let _slot = slots.acquire().await.ok();
            let started = std::time::Instant::now();
            let outcome = if obj.meta().deletion_timestamp.is_some() {
                delete::run(kind, &obj, ctx).await
            } else {
                apply::run(kind, &obj, ctx).await
            };
            (outcome, started)
        };
        // The shard handed over (or not renewed in time): stop at once, before the replica
        // taking it over starts — also while waiting for a slot. A pass can be stopped
        // anywhere; the next one converges.
        let (outcome, started) = tokio::select! {
            biased;
            () = gate.lost(&uid) => {
                tracing::info!("shard no longer held: pass stopped");
                return Ok(Action::await_change());
            }
            outcome = pass => outcome,
        };
        let result = match &outcome {
            Ok(o) => o.label(),
            Err(_) => "error",
        };
        ctx.metrics
            .record_pass(K::IDENTITY.metrics_label, result, started.elapsed());
        let action = outcome.map(|o| {
            let action = ctx.backoff.requeue(&uid, o);
            // Where a long wait comes from, when one is looked into.
            tracing::debug!(result, took_ms = started.elapsed().as_millis(), next = ?action, "pass ended");
            action
        });
        forget::after_pass(reporting, &uid);
        action
    }
    .instrument(span)
    .await
}

/// The error policy: errors nothing else handled (Kubernetes API errors, mostly) back off
/// per object, like stopped passes.
pub fn error_policy<K: Kind>(obj: Arc<K::Object>, err: &Error, runner: Arc<Runner<K>>) -> Action {
    let ctx = &runner.ctx;
    let id = K::IDENTITY;
    ctx.metrics
        .record_error(id.metrics_label, err.class_label());
    let key = id.object_key(&*obj);
    // By uid: unique across kinds, and dropped when the object goes (`forget`).
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let action = ctx.backoff.requeue(
        &uid,
        PassOutcome::Stopped {
            retry: err.retry_class(),
            floor: Duration::ZERO,
        },
    );
    tracing::warn!(object = %key, error = %err.chain(), "reconcile failed");
    forget::after_pass(&runner, &uid);
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason the limit is ours: objects get their turn in the order they came due.
    #[tokio::test]
    async fn pass_slots_are_served_in_the_order_asked() {
        let slots = pass_slots(1);
        let held = slots.clone().acquire_owned().await.expect("open");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..20 {
            let (slots, order) = (slots.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _slot = slots.acquire().await.expect("open");
                order.lock().expect("lock").push(i);
            }));
            // Each asks after the previous one is queued.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(held);
        for w in waiting {
            w.await.expect("task");
        }
        let order = order.lock().expect("lock").clone();
        assert_eq!(order, (0..20).collect::<Vec<_>>());
    }
}
