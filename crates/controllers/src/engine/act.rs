//! Act: PUT every step the graph allows now, in parallel, except those held after a failed
//! write. Also the holds' bookkeeping, shared with the delete pass.

use std::time::{Duration, Instant};

use azop_api::v1alpha1::AzureStatus;
use futures::{StreamExt, stream};
use kube::runtime::events::EventType;

use super::PARALLEL_CALLS;
use super::graph::{self, NodeState};
use super::holds::{RetryGate, Source};
use super::observe::Observed;
use super::operations;
use super::plan::{self, Ownership, Planned};
use super::step::StepCtx;
use crate::backoff::RetryClass;

/// An Event the pass asks for (published by the caller, after the writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

/// Retry holds of one object's steps: the gate, and how a step's key becomes a hold key.
pub struct Holds<'a> {
    pub gate: &'a RetryGate,
    pub key: &'a (dyn Fn(&str) -> String + Sync),
    pub now: Instant,
}

impl Holds<'_> {
    /// `None`: the write may go now. `Some((wait, message))`: held.
    pub fn check(&self, step: &str) -> Option<(Duration, String)> {
        self.gate.check(&(self.key)(step), self.now)
    }

    /// A write refused now: starts (or lengthens) the hold. Returns the wait and the message
    /// to show until the retry.
    pub fn refused(&self, step: &str, message: &str, class: RetryClass) -> (Duration, String) {
        let hold = self
            .gate
            .failed(&(self.key)(step), message, Source::Azure, class, self.now);
        (hold.until.saturating_duration_since(self.now), hold.message)
    }

    /// Whether any step of this object (whatever its key) has a failure on record: known
    /// before the plan is made.
    pub fn any_at_all(&self) -> bool {
        self.gate.has_failure_under(&(self.key)(""))
    }
}

/// Failures observed this pass start (or keep) a hold on the step; one that is as desired
/// again clears it. The state then shows the hold's message (Azure's code, kept across reads
/// that only say `provisioningState: Failed`).
pub fn record_failures<P, X>(plan: &[Planned<P, X>], seen: &mut Observed, holds: &Holds<'_>) {
    for s in plan {
        match seen.states.get(&s.key) {
            Some(NodeState::Ready) => holds.gate.succeeded(&(holds.key)(&s.key)),
            Some(NodeState::Failed(message)) => {
                let source = if seen.failed_ops.contains(&s.key) {
                    Source::Azure
                } else {
                    Source::ProvisioningState
                };
                let class = seen
                    .observation(&s.key)
                    .failure
                    .as_ref()
                    .map_or(RetryClass::Transient, |(_, c)| *c);
                let hold =
                    holds
                        .gate
                        .failed(&(holds.key)(&s.key), message, source, class, holds.now);
                seen.states
                    .insert(s.key.clone(), NodeState::Failed(hold.message));
            }
            _ => {}
        }
    }
}

/// What the PUTs of one pass did.
#[derive(Debug, Default)]
pub struct Acted {
    /// Some write went out: look again soon.
    pub wrote: bool,
    /// The soonest held retry.
    pub held_wait: Option<Duration>,
    pub notes: Vec<Note>,
}

fn sooner(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// PUTs what the graph allows now, in parallel; records started operations in `seen`.
pub async fn put_ready<P, X>(
    cx: &StepCtx<'_>,
    plan: &[Planned<P, X>],
    seen: &mut Observed,
    holds: &Holds<'_>,
    previous: &AzureStatus,
) -> Acted {
    let mut acted = Acted::default();
    let mut to_put: Vec<&Planned<P, X>> = Vec::new();
    for key in graph::next_creates(&plan::nodes(plan), &seen.states) {
        let Some(s) = plan.iter().find(|s| s.key == key) else {
            continue;
        };
        // Never written: must exist, or exists and is someone else's.
        let foreign = seen.observation(&s.key).exists && !seen.observation(&s.key).owned;
        if s.ownership == Ownership::Existing
            || (s.ownership == Ownership::OwnedOrExisting && foreign)
        {
            continue;
        }
        match holds.check(&s.key) {
            None => to_put.push(s),
            Some((wait, message)) => {
                acted.held_wait = sooner(acted.held_wait, wait);
                seen.states.insert(key, NodeState::Failed(message));
            }
        }
    }
    let mut puts = Vec::with_capacity(to_put.len());
    for s in to_put {
        puts.push(async move { (s, s.step.put(cx).await) });
    }
    let results: Vec<super::plan::StepOutcome<'_, P, X>> = stream::iter(puts)
        .buffer_unordered(PARALLEL_CALLS)
        .collect()
        .await;
    for (s, r) in results {
        let label = s.label();
        match r {
            Ok(handle) => {
                acted.wrote = true;
                let obs = seen.observation(&s.key);
                if obs.exists {
                    let diffs: Vec<String> = obs.drift.iter().map(|d| d.to_string()).collect();
                    acted.notes.push(Note {
                        type_: EventType::Normal,
                        reason: "DriftCorrected",
                        action: "Update",
                        message: format!("corrected drift on {label}: {}", diffs.join("; ")),
                    });
                } else if was_created_before(previous, s.step.resource_type(), s.step.name()) {
                    acted.notes.push(Note {
                        type_: EventType::Warning,
                        reason: "DriftCorrected",
                        action: "Create",
                        message: format!("{label} was deleted outside azop; recreating it"),
                    });
                }
                if let Some(h) = handle {
                    seen.operations.push(operations::from_handle(&h));
                }
                seen.states.insert(s.key.clone(), NodeState::Busy);
            }
            Err(e) => {
                let (wait, message) = holds.refused(&s.key, &e.to_string(), e.retry_class());
                acted.held_wait = sooner(acted.held_wait, wait);
                seen.states
                    .insert(s.key.clone(), NodeState::Failed(message));
            }
        }
    }
    acted
}

/// Whether status recorded the resource as provisioned once (so its absence now is drift).
pub fn was_created_before(previous: &AzureStatus, resource_type: &str, name: &str) -> bool {
    previous.resources.iter().any(|r| {
        r.kind.eq_ignore_ascii_case(resource_type)
            && r.name.eq_ignore_ascii_case(name)
            && r.state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
    })
}
