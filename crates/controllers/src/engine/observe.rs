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
        let obs = super::step::awaiting_walk(r)
            .map_err(|e| e.into_error(format!("read {}", s.label())))?;
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

/// Reads the steps `keys` of `plan` again through `cx` — a pass's confirming reads, a GET
/// per resource ([`super::step::PerResourceGet`]) — and puts what they show in place of what
/// the pass knew of them. A listing may say what exists, but an absence ("not found",
/// "nobody uses it any more", "all gone") is confirmed this way before the pass reports it,
/// deletes on it, or lets the object go.
pub async fn confirm<P, X>(
    cx: &StepCtx<'_>,
    plan: &[Planned<P, X>],
    keys: &BTreeSet<String>,
    polled: &Polled,
    seen: &mut Observed,
) -> Result<(), Error> {
    let chosen: Vec<&Planned<P, X>> = plan.iter().filter(|s| keys.contains(&s.key)).collect();
    let mut reads = Vec::with_capacity(chosen.len());
    for s in &chosen {
        reads.push(async move { s.step.observe(cx).await });
    }
    let results: Vec<Result<Observation, StepError>> =
        stream::iter(reads).buffered(PARALLEL_CALLS).collect().await;
    let sub = cx.session.subscription_id();
    let busy_ids: BTreeSet<String> = seen
        .operations
        .iter()
        .map(|o| o.resource_id.to_ascii_lowercase())
        .collect();
    for (s, r) in chosen.into_iter().zip(results) {
        let obs = super::step::awaiting_walk(r)
            .map_err(|e| e.into_error(format!("read {}", s.label())))?;
        let id = s.step.id(sub).to_ascii_lowercase();
        seen.states.insert(
            s.key.clone(),
            state_of(
                s.ownership,
                &obs,
                busy_ids.contains(&id),
                polled.failures.get(&id),
            ),
        );
        seen.observations.insert(s.key.clone(), obs);
    }
    Ok(())
}

/// The steps whose absence a create pass would report rather than mend: those that must
/// exist already (`Existing`) and were not seen. Confirmed by GET before the condition says
/// "not found" (a listing walked before the user made it says nothing of it). Pure.
pub fn absences_to_report<P, X>(plan: &[Planned<P, X>], seen: &Observed) -> BTreeSet<String> {
    plan.iter()
        .filter(|s| s.ownership == Ownership::Existing)
        .filter(|s| seen.states.get(&s.key) == Some(&NodeState::Absent))
        .map(|s| s.key.clone())
        .collect()
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
    fn absences_acted_on_are_confirmed_by_get_first() {
        use crate::testing::{absent, node, ours};
        // rg (must exist) ─ acct ─ blob; zone beside.
        let mut rg = node("rg", &[]);
        rg.ownership = Ownership::Existing;
        let plan = vec![
            rg,
            node("acct", &["rg"]),
            node("blob", &["acct"]),
            node("zone", &[]),
        ];
        let observed = |pairs: &[(&str, NodeState)]| Observed {
            observations: pairs
                .iter()
                .map(|(k, st)| {
                    let o = if *st == NodeState::Absent {
                        absent()
                    } else {
                        ours()
                    };
                    (k.to_string(), o)
                })
                .collect(),
            states: pairs
                .iter()
                .map(|(k, st)| (k.to_string(), st.clone()))
                .collect(),
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        };
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        // The group the user must make is not seen: reported only after a GET.
        let none_yet = observed(&[
            ("rg", NodeState::Absent),
            ("acct", NodeState::Absent),
            ("blob", NodeState::Absent),
            ("zone", NodeState::Absent),
        ]);
        assert_eq!(absences_to_report(&plan, &none_yet), keys(&["rg"]));
        // Creates due now are confirmed, those still waiting on a dependency are not.
        assert_eq!(
            super::super::act::creates_to_confirm(&plan, &none_yet),
            keys(&["zone"])
        );
        let group_there = observed(&[
            ("rg", NodeState::Ready),
            ("acct", NodeState::Absent),
            ("blob", NodeState::Absent),
            ("zone", NodeState::Drifted),
        ]);
        assert!(absences_to_report(&plan, &group_there).is_empty());
        // A drifted one exists: its correction is no create.
        assert_eq!(
            super::super::act::creates_to_confirm(&plan, &group_there),
            keys(&["acct"])
        );
    }

    /// A step whose creates carry `If-None-Match: *`.
    struct Conditional(crate::testing::NamedStep);

    #[async_trait::async_trait]
    impl super::super::Step for Conditional {
        fn resource_type(&self) -> &'static str {
            self.0.resource_type()
        }
        fn name(&self) -> &str {
            self.0.name()
        }
        fn id(&self, subscription_id: &str) -> String {
            self.0.id(subscription_id)
        }
        fn creates_conditionally(&self) -> bool {
            true
        }
        async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
            self.0.observe(cx).await
        }
        async fn put(
            &self,
            cx: &StepCtx<'_>,
            seen: &Observation,
        ) -> Result<Option<azop_provider::LroHandle>, StepError> {
            self.0.put(cx, seen).await
        }
        async fn delete(
            &self,
            cx: &StepCtx<'_>,
            seen: &Observation,
        ) -> Result<Option<azop_provider::LroHandle>, StepError> {
            self.0.delete(cx, seen).await
        }
    }

    #[test]
    fn a_conditional_create_is_sent_without_a_confirming_get() {
        use crate::testing::NamedStep;
        let named = |key: &str| NamedStep {
            resource_type: "test/things",
            name: key.to_string(),
        };
        let plan = vec![
            Planned::<(), ()>::new("nsg", &[], (), Conditional(named("nsg"))),
            Planned::<(), ()>::new("rg", &[], (), named("rg")),
        ];
        let absent = Observed {
            observations: BTreeMap::new(),
            states: [
                ("nsg".to_string(), NodeState::Absent),
                ("rg".to_string(), NodeState::Absent),
            ]
            .into_iter()
            .collect(),
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        };
        // Only the step whose create ARM would not refuse over something that exists is
        // read first.
        assert_eq!(
            super::super::act::creates_to_confirm(&plan, &absent),
            ["rg".to_string()].into_iter().collect::<BTreeSet<_>>()
        );
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
