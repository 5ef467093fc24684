//! The one condition ladder every Azure-backed kind reports through, with per-kind wording,
//! and the shared status pieces a report fills (`resources`, `Ready`, phase).
//!
//! A part's condition, from the steps that report under it:
//!
//! 1. nothing planned and nothing being removed → [`Wording::idle`];
//! 2. a step that must exist and does not → [`Wording::missing`] (the resource group by
//!    default);
//! 3. failed steps → `False`, [`Wording::failed_reason`] (`ProvisioningFailed` by default),
//!    each step's failure;
//! 4. steps of that name that azop did not create → `False`, `NotOwned`,
//!    [`Wording::not_owned`];
//! 5. steps that exist in Azure but do not do their job, as the kind judges from what it
//!    observed outside ARM → `False`, [`Wording::stalled`]'s reason and message (none by
//!    default; AzureCluster: machines whose nodes have not joined, `NotJoined`), followed by
//!    what is still under way;
//! 6. every step ready and nothing being removed → [`Wording::ready`] (`True`; a resource
//!    group used as it is says `ExistingResourceGroup`);
//! 7. else → [`Wording::progress`] (`False`, `Provisioning` by default, with what is under
//!    way and what is being removed).
//!
//! `Ready` is rolled up from the parts in [`Part::ALL`] order: the first that is not True.

use azop_api::v1alpha1::{
    AzureResourceStatus, AzureScope, AzureStatus, CommonStatus, HasAzureStatus, Phase,
};

use super::graph::NodeState;
use super::kind::{Kind, Part, ReportInput};
use super::plan::{Ownership, StepView};
use crate::conditions::{self, Cond, Status};
use crate::retry::Failure;

/// `virtualNetworks` of `Microsoft.Network/virtualNetworks`.
pub fn short_type(t: &str) -> &str {
    t.rsplit('/').next().unwrap_or(t)
}

/// What a kind says in its part conditions. Every method but [`Wording::scope`],
/// [`Wording::idle`] and [`Wording::not_owned`] has the shared wording as its default.
pub trait Wording<P: Part, X> {
    fn scope(&self) -> &AzureScope;

    /// How messages name a step: `virtualNetworks prod-vnet`.
    fn label(&self, s: &StepView<'_, P, X>) -> String {
        format!("{} {}", short_type(s.resource_type), s.name)
    }

    /// A part with nothing planned and nothing being removed.
    fn idle(&self, part: P) -> Cond;

    /// A step that must exist and does not: the resource group, unless the kind says
    /// otherwise.
    fn missing(&self, part: P, s: &StepView<'_, P, X>) -> Cond {
        resource_group_not_found(part, s.name, &self.scope().subscription_id)
    }

    /// The reason of a part with failed steps.
    fn failed_reason(&self, _part: P, _failures: &[&Failure]) -> &'static str {
        "ProvisioningFailed"
    }

    /// The message of a part whose steps exist without this object's uid (`labels`).
    fn not_owned(&self, labels: &[String]) -> String;

    /// Every step ready, nothing being removed.
    fn ready(&self, part: P, steps: &[&StepView<'_, P, X>]) -> Cond {
        default_ready(part, steps)
    }

    /// The reason while steps are under way.
    fn progress_reason(&self, _part: P) -> &'static str {
        "Provisioning"
    }

    /// Steps under way (or waiting), and what is being removed.
    fn progress(&self, part: P, steps: &[&StepView<'_, P, X>], removing: &[String]) -> Cond {
        let ready = steps
            .iter()
            .filter(|s| *s.state == NodeState::Ready)
            .count();
        let pending: Vec<String> = steps
            .iter()
            .filter(|s| *s.state != NodeState::Ready)
            .map(|s| format!("{} ({})", self.label(s), progress_word(s.state)))
            .chain(removing.iter().map(|r| format!("{r} (removing)")))
            .collect();
        Cond::new(
            part.condition_type(),
            Status::False,
            self.progress_reason(part),
            format!("{ready} of {} ready; {}", steps.len(), pending.join(", ")),
        )
    }

    /// Steps that exist in Azure but are stuck, as the kind judges from its own observations
    /// (typed data on the steps' extras, never message text): the reason and what to say.
    /// None by default.
    fn stalled(&self, _part: P, _steps: &[&StepView<'_, P, X>]) -> Option<Stall> {
        None
    }

    /// The part whose condition names what the sweep is removing (none by default).
    fn removing_part(&self) -> Option<P> {
        None
    }
}

/// What [`Wording::stalled`] found: the condition's reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub reason: &'static str,
    pub message: String,
}

/// The shared `ready` rung: `ExistingResourceGroup` when a resource group is used as it is,
/// else `Ready` with the count.
pub fn default_ready<P: Part, X>(part: P, steps: &[&StepView<'_, P, X>]) -> Cond {
    if let Some(s) = steps.iter().find(|s| s.is_foreign_in_use()) {
        return existing_resource_group(part, s.name);
    }
    Cond::new(
        part.condition_type(),
        Status::True,
        "Ready",
        format!("{} of {} resources ready", steps.len(), steps.len()),
    )
}

/// How a step that is not ready is described.
pub fn progress_word(state: &NodeState) -> &'static str {
    match state {
        NodeState::Drifted => "updating",
        NodeState::Busy => "in progress",
        _ => "waiting",
    }
}

/// The `missing` condition of a resource group that must exist.
pub fn resource_group_not_found<P: Part>(part: P, name: &str, subscription: &str) -> Cond {
    Cond::new(
        part.condition_type(),
        Status::False,
        "ResourceGroupNotFound",
        format!(
            "resource group {name} does not exist in subscription {subscription}: create it, or set spec.createResourceGroup: true to let azop create and own it"
        ),
    )
}

/// A resource group that existed without our uid, used as it is.
pub fn existing_resource_group<P: Part>(part: P, name: &str) -> Cond {
    Cond::new(
        part.condition_type(),
        Status::True,
        "ExistingResourceGroup",
        format!(
            "resource group {name} already existed without this object's azop.dev/uid tag: azop uses it as it is and never changes or deletes it"
        ),
    )
}

/// Rungs 2–4 of the ladder: a missing must-exist step, failed steps, steps azop did not
/// create. `None` when there is no problem.
pub fn problem<P: Part, X>(
    w: &(impl Wording<P, X> + ?Sized),
    part: P,
    steps: &[&StepView<'_, P, X>],
) -> Option<Cond> {
    if let Some(s) = steps
        .iter()
        .find(|s| s.ownership == Ownership::Existing && *s.state == NodeState::Absent)
    {
        return Some(w.missing(part, s));
    }
    let failed: Vec<(&StepView<'_, P, X>, &Failure)> = steps
        .iter()
        .filter_map(|s| match s.state {
            NodeState::Failed(f) => Some((*s, f)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let failures: Vec<&Failure> = failed.iter().map(|(_, f)| *f).collect();
        let message: Vec<String> = failed
            .iter()
            .map(|(s, f)| format!("{}: {}", w.label(s), f.message))
            .collect();
        return Some(Cond::new(
            part.condition_type(),
            Status::False,
            w.failed_reason(part, &failures),
            message.join("; "),
        ));
    }
    let not_owned: Vec<String> = steps
        .iter()
        .filter(|s| *s.state == NodeState::NotOwned)
        .map(|s| w.label(s))
        .collect();
    (!not_owned.is_empty()).then(|| {
        Cond::new(
            part.condition_type(),
            Status::False,
            "NotOwned",
            w.not_owned(&not_owned),
        )
    })
}

/// One part's condition (the ladder above).
pub fn part_condition<P: Part, X>(
    w: &(impl Wording<P, X> + ?Sized),
    part: P,
    steps: &[&StepView<'_, P, X>],
    removing: &[String],
) -> Cond {
    if steps.is_empty() && removing.is_empty() {
        return w.idle(part);
    }
    if let Some(c) = problem(w, part, steps) {
        return c;
    }
    let settled = removing.is_empty() && steps.iter().all(|s| *s.state == NodeState::Ready);
    if let Some(stall) = w.stalled(part, steps) {
        let mut message = stall.message;
        if !settled {
            message = format!("{message}; {}", w.progress(part, steps, removing).message);
        }
        return Cond::new(part.condition_type(), Status::False, stall.reason, message);
    }
    if removing.is_empty() && steps.iter().all(|s| *s.state == NodeState::Ready) {
        return w.ready(part, steps);
    }
    w.progress(part, steps, removing)
}

impl<K: Kind + ?Sized> ReportInput<'_, K> {
    /// The steps that report under `part`.
    pub fn steps_of(&self, part: K::Part) -> Vec<&StepView<'_, K::Part, K::Extra>> {
        self.steps.iter().filter(|s| s.part == part).collect()
    }

    /// The step with graph key `key`.
    pub fn step(&self, key: &str) -> Option<&StepView<'_, K::Part, K::Extra>> {
        self.steps.iter().find(|s| s.key == key)
    }

    /// Every part's condition, in [`Part::ALL`] order.
    pub fn part_conditions(&self, w: &(impl Wording<K::Part, K::Extra> + ?Sized)) -> Vec<Cond> {
        K::Part::ALL
            .iter()
            .map(|p| {
                let removing: &[String] = if w.removing_part() == Some(*p) {
                    &self.removing
                } else {
                    &[]
                };
                part_condition(w, *p, &self.steps_of(*p), removing)
            })
            .collect()
    }

    /// The shared status: `Ready` rolled up from `parts` and listed first, the conditions
    /// merged with the previous ones (a transition time moves only when a status flips), the
    /// observed generation, and the phase.
    pub fn azure_status(&self, parts: Vec<Cond>) -> AzureStatus {
        let ready = conditions::ready_rollup(&parts);
        let previous = self.previous.azure();
        let phase = phase(ready.status, previous.common.phase);
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(ready);
        all.extend(parts);
        AzureStatus {
            common: CommonStatus {
                conditions: conditions::merge(
                    &previous.common.conditions,
                    &all,
                    self.generation,
                    &self.now,
                ),
                observed_generation: self.generation,
                phase: Some(phase),
            },
            ..self.azure.clone()
        }
    }
}

/// The phase from `Ready` and the phase before (pure): Running when ready; Updating when it
/// was running; Provisioning otherwise.
pub fn phase(ready: Status, previous: Option<Phase>) -> Phase {
    if ready == Status::True {
        Phase::Running
    } else if matches!(previous, Some(Phase::Running | Phase::Updating)) {
        Phase::Updating
    } else {
        Phase::Provisioning
    }
}

/// `status.resources` from the plan as seen this pass (pure): every step with its id once it
/// exists, and its state — the provisioning state, `Missing`, `NotOwned`, or `Existing` for a
/// resource azop uses but did not create. A must-exist resource that does not is left out
/// (its condition says so).
pub fn report_resources<P, X>(steps: &[StepView<'_, P, X>]) -> Vec<AzureResourceStatus> {
    steps
        .iter()
        .filter(|s| s.ownership != Ownership::Existing || s.observed.exists)
        .map(|s| AzureResourceStatus {
            kind: s.resource_type.to_string(),
            name: s.name.to_string(),
            id: s.observed.exists.then(|| s.id.clone()),
            state: Some(match s.state {
                NodeState::Absent => "Missing".to_string(),
                NodeState::NotOwned => "NotOwned".to_string(),
                _ if s.is_external() => "Existing".to_string(),
                _ => s
                    .observed
                    .provisioning_state
                    .clone()
                    .unwrap_or_else(|| "Succeeded".to_string()),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Observation;

    #[test]
    fn the_phase_follows_ready_and_what_came_before() {
        let table = [
            (Status::True, None, Phase::Running),
            (Status::True, Some(Phase::Updating), Phase::Running),
            (Status::False, None, Phase::Provisioning),
            (Status::False, Some(Phase::Pending), Phase::Provisioning),
            (Status::False, Some(Phase::Running), Phase::Updating),
            (Status::Unknown, Some(Phase::Updating), Phase::Updating),
        ];
        for (ready, before, want) in table {
            assert_eq!(phase(ready, before), want, "{ready:?} {before:?}");
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum P {
        A,
    }

    impl Part for P {
        const ALL: &'static [P] = &[P::A];
        fn condition_type(self) -> &'static str {
            "AReady"
        }
    }

    struct Plain(AzureScope);

    impl Wording<P, ()> for Plain {
        fn scope(&self) -> &AzureScope {
            &self.0
        }
        fn idle(&self, part: P) -> Cond {
            Cond::new(part.condition_type(), Status::True, "Ready", "nothing")
        }
        fn not_owned(&self, labels: &[String]) -> String {
            format!("{} are not ours", labels.join(", "))
        }
    }

    fn view<'a>(
        name: &'a str,
        ownership: Ownership,
        state: &'a NodeState,
        observed: &'a Observation,
    ) -> StepView<'a, P, ()> {
        StepView {
            key: name,
            part: P::A,
            ownership,
            resource_type: "Microsoft.Network/things",
            name,
            id: String::new(),
            extra: None,
            state,
            observed,
        }
    }

    /// Each rung of the ladder, the first that applies winning.
    #[test]
    fn the_ladder_says_the_most_important_thing_first() {
        let w = Plain(AzureScope {
            subscription_id: "sub".into(),
            ..Default::default()
        });
        let obs = Observation::default();
        let (ready, busy, absent, not_owned) = (
            NodeState::Ready,
            NodeState::Busy,
            NodeState::Absent,
            NodeState::NotOwned,
        );
        let failed = NodeState::Failed(Failure::transient("boom"));
        let rung = |steps: &[StepView<'_, P, ()>], removing: &[String]| {
            let refs: Vec<&StepView<'_, P, ()>> = steps.iter().collect();
            let c = part_condition(&w, P::A, &refs, removing);
            (c.status, c.reason, c.message)
        };
        assert_eq!(rung(&[], &[]).1, "Ready");
        assert_eq!(
            rung(
                &[
                    view("rg", Ownership::Existing, &absent, &obs),
                    view("x", Ownership::Owned, &failed, &obs)
                ],
                &[]
            )
            .1,
            "ResourceGroupNotFound"
        );
        let f = rung(
            &[
                view("x", Ownership::Owned, &failed, &obs),
                view("y", Ownership::Owned, &not_owned, &obs),
            ],
            &[],
        );
        assert_eq!(
            (f.1.as_str(), f.2.as_str()),
            ("ProvisioningFailed", "things x: boom")
        );
        let n = rung(&[view("y", Ownership::Owned, &not_owned, &obs)], &[]);
        assert_eq!(
            (n.1.as_str(), n.2.as_str()),
            ("NotOwned", "things y are not ours")
        );
        let r = rung(&[view("x", Ownership::Owned, &ready, &obs)], &[]);
        assert_eq!(
            (r.0, r.2.as_str()),
            (Status::True, "1 of 1 resources ready")
        );
        let p = rung(
            &[
                view("x", Ownership::Owned, &ready, &obs),
                view("y", Ownership::Owned, &busy, &obs),
            ],
            &["things z".to_string()],
        );
        assert_eq!(
            (p.1.as_str(), p.2.as_str()),
            (
                "Provisioning",
                "1 of 2 ready; things y (in progress), things z (removing)"
            )
        );
    }

    /// A wording that judges the step named `stuck` stuck when it exists.
    struct Stuck(Plain);

    impl Wording<P, ()> for Stuck {
        fn scope(&self) -> &AzureScope {
            self.0.scope()
        }
        fn idle(&self, part: P) -> Cond {
            self.0.idle(part)
        }
        fn not_owned(&self, labels: &[String]) -> String {
            self.0.not_owned(labels)
        }
        fn stalled(&self, _part: P, steps: &[&StepView<'_, P, ()>]) -> Option<Stall> {
            steps
                .iter()
                .find(|s| s.name == "stuck" && *s.state == NodeState::Ready)
                .map(|s| Stall {
                    reason: "Stuck",
                    message: format!("{} does nothing", s.name),
                })
        }
    }

    /// The stalled rung comes after failures and conflicts, before ready and progress, and
    /// says what else is under way.
    #[test]
    fn a_stalled_step_is_said_before_ready_and_progress() {
        let w = Stuck(Plain(AzureScope {
            subscription_id: "sub".into(),
            ..Default::default()
        }));
        let obs = Observation::default();
        let (ready, busy) = (NodeState::Ready, NodeState::Busy);
        let failed = NodeState::Failed(Failure::transient("boom"));
        let rung = |steps: &[StepView<'_, P, ()>], removing: &[String]| {
            let refs: Vec<&StepView<'_, P, ()>> = steps.iter().collect();
            let c = part_condition(&w, P::A, &refs, removing);
            (c.status, c.reason, c.message)
        };
        assert_eq!(
            rung(&[view("stuck", Ownership::Owned, &ready, &obs)], &[]),
            (Status::False, "Stuck".into(), "stuck does nothing".into())
        );
        assert_eq!(
            rung(
                &[
                    view("stuck", Ownership::Owned, &ready, &obs),
                    view("y", Ownership::Owned, &busy, &obs)
                ],
                &[]
            ),
            (
                Status::False,
                "Stuck".into(),
                "stuck does nothing; 1 of 2 ready; things y (in progress)".into()
            )
        );
        assert_eq!(
            rung(
                &[
                    view("stuck", Ownership::Owned, &ready, &obs),
                    view("x", Ownership::Owned, &failed, &obs)
                ],
                &[]
            )
            .1,
            "ProvisioningFailed"
        );
        assert_eq!(
            rung(&[view("other", Ownership::Owned, &ready, &obs)], &[]).0,
            Status::True
        );
    }
}
