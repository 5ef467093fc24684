//! Act: PUT every step the graph allows now, in parallel, except those held after a failed
//! write ([`crate::retry`]).

use std::collections::BTreeSet;
use std::time::Duration;

use azop_api::v1alpha1::AzureStatus;
use futures::{StreamExt, stream};
use kube::runtime::events::EventType;

use super::PARALLEL_CALLS;
use super::graph::{self, NodeState};
use super::observe::Observed;
use super::operations;
use super::plan::{self, Ownership, Planned, StepOutcome};
use super::status::Note;
use super::step::{StepCtx, StepError};
use crate::retry::{HoldSource, ObjectHolds};

/// Failures observed this pass start (or keep) a hold on the step; one that is as desired
/// again clears it. The state then shows the hold's failure (Azure's code, kept across reads
/// that only say `provisioningState: Failed`).
pub fn record_failures<P, X>(plan: &[Planned<P, X>], seen: &mut Observed, holds: &ObjectHolds<'_>) {
    for s in plan {
        match seen.states.get(&s.key) {
            Some(NodeState::Ready) => holds.succeeded(&s.key),
            Some(NodeState::Failed(failure)) => {
                let source = if seen.failed_ops.contains(&s.key) {
                    HoldSource::Write
                } else {
                    HoldSource::Read
                };
                let (_, shown) = holds.failed(&s.key, &failure.clone(), source);
                seen.states.insert(s.key.clone(), NodeState::Failed(shown));
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
    /// Keys whose PUT went out this pass (drift they had is corrected).
    pub put: BTreeSet<String>,
    /// Keys whose conditional create found the resource there (ARM answered 412, nothing
    /// was written): to be read by GET in this pass and decided on like any found resource.
    pub existed: BTreeSet<String>,
}

fn sooner(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// The steps to PUT now: what the graph allows, minus what azop never writes (a must-exist
/// step, or a foreign one used as it is), minus held ones (their state then shows the
/// hold's failure). Pure but for the holds' bookkeeping.
fn due<'p, P, X>(
    plan: &'p [Planned<P, X>],
    seen: &mut Observed,
    holds: &ObjectHolds<'_>,
    acted: &mut Acted,
) -> Vec<&'p Planned<P, X>> {
    let mut to_put = Vec::new();
    for key in graph::next_creates(&plan::nodes(plan), &seen.states) {
        let Some(s) = plan.iter().find(|s| s.key == key) else {
            continue;
        };
        let obs = seen.observation(&s.key);
        let foreign = obs.exists && !obs.owned;
        if s.ownership == Ownership::Existing
            || (s.ownership == Ownership::OwnedOrExisting && foreign)
        {
            continue;
        }
        match holds.check(&s.key) {
            None => to_put.push(s),
            Some((wait, failure)) => {
                acted.held_wait = sooner(acted.held_wait, wait);
                seen.states.insert(key, NodeState::Failed(failure));
            }
        }
    }
    to_put
}

/// The ARM ids of the steps the graph would PUT now over something that exists (drifted or
/// failed; held ones included): the writes whose evidence must be recent
/// ([`azop_provider::ArmSession::refresh_evidence`]). Creates are confirmed by GET instead
/// ([`creates_to_confirm`]). Pure.
pub fn write_targets<P, X>(
    plan: &[Planned<P, X>],
    seen: &Observed,
    subscription: &str,
) -> Vec<String> {
    graph::next_creates(&plan::nodes(plan), &seen.states)
        .into_iter()
        .filter(|key| seen.states.get(key) != Some(&NodeState::Absent))
        .filter_map(|key| plan.iter().find(|s| s.key == key))
        .filter(|s| {
            let obs = seen.observation(&s.key);
            !(s.ownership == Ownership::Existing
                || (s.ownership == Ownership::OwnedOrExisting && obs.exists && !obs.owned))
        })
        .map(|s| s.step.id(subscription))
        .collect()
}

/// The keys of the steps the graph would create now (PUT where nothing was seen) whose
/// create is not conditional: a create over something made since the listing was walked
/// would take it over, so the absence is confirmed by GET first. A conditional create
/// (`If-None-Match: *`, [`super::Step::creates_conditionally`]) is its own check: ARM
/// refuses it when something exists, and the pass reads it then ([`Acted::existed`]). Pure.
pub fn creates_to_confirm<P, X>(plan: &[Planned<P, X>], seen: &Observed) -> BTreeSet<String> {
    graph::next_creates(&plan::nodes(plan), &seen.states)
        .into_iter()
        .filter(|key| seen.states.get(key) == Some(&NodeState::Absent))
        .filter(|key| {
            plan.iter().any(|s| {
                &s.key == key
                    && s.ownership != Ownership::Existing
                    && !s.step.creates_conditionally()
            })
        })
        .collect()
}

/// The creates still to confirm once `confirmed` were read by GET. A resource a GET found
/// there (made since the listing was walked: by a replica whose shard this one took over,
/// or by a process killed before a restart's walk) makes its dependents due in the same
/// pass, and their absence came from that same listing: they are read by GET too, level by
/// level, before any PUT — or the pass would PUT over what the other process made. Pure.
pub fn creates_left_to_confirm<P, X>(
    plan: &[Planned<P, X>],
    seen: &Observed,
    confirmed: &BTreeSet<String>,
) -> BTreeSet<String> {
    creates_to_confirm(plan, seen)
        .into_iter()
        .filter(|k| !confirmed.contains(k))
        .collect()
}

/// The Event a PUT deserves: drift corrected on a resource that exists, or one recreated
/// after it was deleted outside azop.
fn drift_note<P, X>(s: &Planned<P, X>, seen: &Observed, previous: &AzureStatus) -> Option<Note> {
    let obs = seen.observation(&s.key);
    let label = s.label();
    if obs.exists {
        let diffs: Vec<String> = obs.drift.iter().map(|d| d.to_string()).collect();
        return Some(Note {
            type_: EventType::Normal,
            reason: "DriftCorrected",
            action: "Update",
            message: format!("corrected drift on {label}: {}", diffs.join("; ")),
        });
    }
    was_created_before(previous, s.step.resource_type(), s.step.name()).then(|| Note {
        type_: EventType::Warning,
        reason: "DriftCorrected",
        action: "Create",
        message: format!("{label} was deleted outside azop; recreating it"),
    })
}

/// A write to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Put,
    Delete,
}

/// Sends `write` for each step, [`PARALLEL_CALLS`] at a time, each with what this pass
/// observed of it.
pub async fn send<'p, P, X>(
    cx: &StepCtx<'_>,
    steps: Vec<&'p Planned<P, X>>,
    seen: &Observed,
    write: Write,
) -> Vec<StepOutcome<'p, P, X>> {
    // Futures are built in a loop (not by a stream closure) to keep the reconcile future Send.
    let mut calls = Vec::with_capacity(steps.len());
    for s in steps {
        let obs = seen.observation(&s.key);
        calls.push(async move {
            let r = match write {
                Write::Put => s.step.put(cx, obs).await,
                Write::Delete => s.step.delete(cx, obs).await,
            };
            (s, r)
        });
    }
    stream::iter(calls)
        .buffer_unordered(PARALLEL_CALLS)
        .collect()
        .await
}

/// PUTs what the graph allows now, in parallel; records started operations in `seen`.
pub async fn put_ready<P, X>(
    cx: &StepCtx<'_>,
    plan: &[Planned<P, X>],
    seen: &mut Observed,
    holds: &ObjectHolds<'_>,
    previous: &AzureStatus,
) -> Acted {
    let mut acted = Acted::default();
    let to_put = due(plan, seen, holds, &mut acted);
    for (s, r) in send(cx, to_put, seen, Write::Put).await {
        match r {
            Ok(handle) => {
                acted.wrote = true;
                acted.put.insert(s.key.clone());
                acted.notes.extend(drift_note(s, seen, previous));
                if let Some(h) = handle {
                    seen.operations.push(operations::from_handle(&h));
                }
                seen.states.insert(s.key.clone(), NodeState::Busy);
            }
            // Made since the pass looked: nothing was written, and it is no failure.
            Err(StepError::Exists) => {
                acted.existed.insert(s.key.clone());
            }
            Err(e) => {
                let (wait, shown) = holds.failed(&s.key, &e.failure(), HoldSource::Write);
                acted.held_wait = sooner(acted.held_wait, wait);
                seen.states.insert(s.key.clone(), NodeState::Failed(shown));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::testing::{absent, node, ours};

    /// rg ─ nsg ─ vnet: all made by another process after this one's listing was walked.
    #[test]
    fn a_create_whose_dependency_a_get_found_is_confirmed_too() {
        let plan = vec![
            node("rg", &[]),
            node("nsg", &["rg"]),
            node("vnet", &["nsg"]),
        ];
        let mut seen = Observed {
            observations: ["rg", "nsg", "vnet"]
                .iter()
                .map(|k| (k.to_string(), absent()))
                .collect(),
            states: ["rg", "nsg", "vnet"]
                .iter()
                .map(|k| (k.to_string(), NodeState::Absent))
                .collect(),
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        };
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        let mut confirmed = BTreeSet::new();
        let mut rounds = Vec::new();
        loop {
            let next = creates_left_to_confirm(&plan, &seen, &confirmed);
            if next.is_empty() {
                break;
            }
            // The GETs find each one there, ours and provisioned.
            for k in &next {
                seen.states.insert(k.clone(), NodeState::Ready);
                seen.observations.insert(k.clone(), ours());
            }
            rounds.push(next.clone());
            confirmed.extend(next);
        }
        assert_eq!(rounds, vec![keys(&["rg"]), keys(&["nsg"]), keys(&["vnet"])]);
        // Nothing is left to PUT: every create was read first and found there.
        assert!(graph::next_creates(&plan::nodes(&plan), &seen.states).is_empty());
    }
}
