//! Observe: every step read once (in parallel), each turned into a graph state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use azop_api::v1alpha1::ArmOperation;
use futures::{StreamExt, stream};

use super::PARALLEL_CALLS;
use super::graph::NodeState;
use super::operations::Polled;
use super::plan::{Ownership, Planned};
use super::step::{Observation, StepCtx, StepError};
use crate::error::Error;
use crate::retry::Failure;

/// Everything one pass learned, per graph key.
pub struct Observed {
    pub observations: BTreeMap<String, Observation>,
    pub states: BTreeMap<String, NodeState>,
    /// Operations still in flight (and those started this pass).
    pub operations: Vec<ArmOperation>,
    /// Shortest Retry-After among operations still running.
    pub next_poll: Option<Duration>,
    /// Keys whose failure came from a failed operation (Azure's code in hand), not only
    /// from a `provisioningState: Failed` read.
    pub failed_ops: BTreeSet<String>,
}

impl Observed {
    pub fn observation(&self, key: &str) -> &Observation {
        self.observations.get(key).unwrap_or(&super::step::ABSENT)
    }
}

/// A step's state from what this pass read and polled. Pure.
pub fn state_of(
    ownership: Ownership,
    obs: &Observation,
    busy: bool,
    failure: Option<&Failure>,
) -> NodeState {
    if busy {
        return NodeState::Busy;
    }
    if let Some(f) = failure {
        return NodeState::Failed(f.clone());
    }
    if !obs.exists {
        return NodeState::Absent;
    }
    match ownership {
        Ownership::Existing => return NodeState::Ready,
        Ownership::OwnedOrExisting if !obs.owned => return NodeState::Ready,
        Ownership::Owned if !obs.owned => return NodeState::NotOwned,
        _ => {}
    }
    if obs.failed() {
        return NodeState::Failed(match &obs.failure {
            Some(f) => f.clone(),
            None => {
                Failure::provisioning_state(obs.provisioning_state.as_deref().unwrap_or_default())
            }
        });
    }
    if !obs.succeeded() {
        return NodeState::Busy;
    }
    if !obs.drift.is_empty() {
        return NodeState::Drifted;
    }
    NodeState::Ready
}

/// Reads every step (at most [`PARALLEL_CALLS`] at a time) and folds in what polling found.
pub async fn observe<P, X>(
    cx: &StepCtx<'_>,
    plan: &[Planned<P, X>],
    polled: Polled,
) -> Result<Observed, Error> {
    let Polled {
        running: operations,
        failures,
        next_poll,
    } = polled;
    let mut reads = Vec::with_capacity(plan.len());
    for s in plan {
        reads.push(async move { s.step.observe(cx).await });
    }
    let results: Vec<Result<Observation, StepError>> =
        stream::iter(reads).buffered(PARALLEL_CALLS).collect().await;
    let sub = cx.session.subscription_id();
    let busy_ids: BTreeSet<String> = operations
        .iter()
        .map(|o| o.resource_id.to_ascii_lowercase())
        .collect();
    let mut observations = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut failed_ops = BTreeSet::new();
    for (s, r) in plan.iter().zip(results) {
        let obs = r.map_err(|e| e.into_error(format!("read {}", s.label())))?;
        let id = s.step.id(sub).to_ascii_lowercase();
        if failures.contains_key(&id) {
            failed_ops.insert(s.key.clone());
        }
        states.insert(
            s.key.clone(),
            state_of(s.ownership, &obs, busy_ids.contains(&id), failures.get(&id)),
        );
        observations.insert(s.key.clone(), obs);
    }
    Ok(Observed {
        observations,
        states,
        operations,
        next_poll,
        failed_ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(owned: bool, state: Option<&str>) -> Observation {
        Observation {
            exists: true,
            owned,
            provisioning_state: state.map(str::to_string),
            drift: Vec::new(),
            raw: None,
            poll_after: None,
            failure: None,
        }
    }

    #[test]
    fn states_follow_ownership_and_provisioning() {
        let failed = Failure::transient("Conflict: busy");
        let absent = Observation::default();
        let cases: Vec<(Ownership, Observation, bool, Option<&Failure>, NodeState)> = vec![
            (
                Ownership::Owned,
                absent.clone(),
                false,
                None,
                NodeState::Absent,
            ),
            (
                Ownership::Owned,
                seen(true, None),
                false,
                None,
                NodeState::Ready,
            ),
            (
                Ownership::Owned,
                seen(false, None),
                false,
                None,
                NodeState::NotOwned,
            ),
            // A foreign resource group under createResourceGroup: true is used, not refused.
            (
                Ownership::OwnedOrExisting,
                seen(false, None),
                false,
                None,
                NodeState::Ready,
            ),
            (
                Ownership::OwnedOrExisting,
                absent.clone(),
                false,
                None,
                NodeState::Absent,
            ),
            (
                Ownership::Existing,
                seen(false, Some("Failed")),
                false,
                None,
                NodeState::Ready,
            ),
            (Ownership::Existing, absent, false, None, NodeState::Absent),
            (
                Ownership::Owned,
                seen(true, Some("Updating")),
                false,
                None,
                NodeState::Busy,
            ),
            (
                Ownership::Owned,
                seen(true, Some("Failed")),
                false,
                None,
                NodeState::Failed(Failure::provisioning_state("Failed")),
            ),
            (
                Ownership::Owned,
                seen(true, None),
                true,
                None,
                NodeState::Busy,
            ),
            (
                Ownership::Owned,
                seen(true, None),
                false,
                Some(&failed),
                NodeState::Failed(failed.clone()),
            ),
        ];
        for (ownership, obs, busy, failure, want) in cases {
            assert_eq!(
                state_of(ownership, &obs, busy, failure),
                want,
                "{ownership:?} {obs:?} busy={busy}"
            );
        }
    }

    #[test]
    fn drift_on_an_owned_resource_is_drifted() {
        let mut obs = seen(true, Some("Succeeded"));
        obs.drift = vec![azop_provider::Difference {
            field: "tags".into(),
            desired: "a".into(),
            observed: "b".into(),
        }];
        assert_eq!(
            state_of(Ownership::Owned, &obs, false, None),
            NodeState::Drifted
        );
    }
}
