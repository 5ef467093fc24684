//! What the operator would do for an object, without doing it: `azop plan`.
//!
//! A preview runs the first half of the create/update pass ([`super::apply`]) with the
//! kind's own hooks — validate, resolve, credentials, names, precheck, poll, survey, plan,
//! observe — and stops before act. What act, the sweep and the rolling replacement would do
//! then comes from the same decisions the operator takes: the graph's states
//! ([`super::observe::state_of`]), the provider's diffs, [`drift::found`], the sweep's
//! [`Kind::leftovers`] and the replacement's [`Kind::rollout`]. Nothing here decides
//! anything of its own, so a plan cannot say one thing while the operator does another.
//!
//! The session must be read-only ([`azop_provider::Access::ReadOnly`]): [`preview`] refuses
//! any other, and that session refuses every write before it is sent, so a preview cannot
//! write to Azure by any path.

use std::collections::{BTreeMap, BTreeSet};

use azop_api::Validate;
use azop_api::v1alpha1::{AzureObject, DriftChange, HasAzureStatus, ReconcilePolicy};
use azop_provider::{Access, ArmSession, CredentialSource};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::apply::current_status;
use super::drift;
use super::graph::NodeState;
use super::kind::{Kind, Rollout};
use super::observe::{self, Observed};
use super::operations;
use super::plan::{Ownership, Planned};
use super::report::short_type;
use super::step::{PerResourceGet, StepCtx};
use crate::context::Context;
use crate::credentials;
use crate::error::Error;

/// What would happen to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Created (PUT of a resource that does not exist).
    Create,
    /// Updated in place (PUT of a resource whose managed properties differ).
    Update,
    /// Replaced by a new one (a machine of a rolling replacement), in order.
    Replace,
    /// Deleted (the sweep: the spec no longer has it).
    Delete,
    /// Left as it is: it matches the spec, or it is not azop's and is used as it is.
    Untouched,
    /// An operation on it is under way already; nothing new is sent.
    InProgress,
    /// It differs from the spec, but `reconcilePolicy: DetectOnly` writes nothing.
    Reported,
    /// azop will not write it (not its own, or must exist and does not).
    Refused,
}

impl Action {
    /// Whether applying would change something in Azure (or in Kubernetes for custom steps).
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Replace | Action::Delete
        )
    }
}

/// One row of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: Action,
    /// ARM type (or what a custom step makes, such as a Kubernetes Secret).
    pub kind: String,
    pub name: String,
    /// The condition it reports under (`NetworkReady`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// What differs: JSON path, Azure's value (old), the spec's (new).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<DriftChange>,
    /// Why.
    pub reason: String,
    /// For a replacement: the machine created in its place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// For a replacement: its place in the rollout (1 = first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<usize>,
}

/// Why azop would not go on with an object (or not yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The condition reason the operator would report (`InvalidSpec`, `NotOwned`,
    /// `StaticPlacementInvalid`, `MissingReference`, …).
    pub reason: String,
    pub message: String,
}

/// The plan of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPreview {
    /// What azop (or Azure, through it) would refuse: fix these first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    /// What the object waits for before azop writes anything (a reference not ready yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Refusal>,
    /// Every resource and what would happen to it, in the graph's order; then deletions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl ObjectPreview {
    fn refused(reason: &str, message: impl Into<String>) -> Self {
        ObjectPreview {
            refusals: vec![Refusal {
                reason: reason.to_string(),
                message: message.into(),
            }],
            ..ObjectPreview::default()
        }
    }

    /// The plan when a stage fails the way the operator's pass would stop there.
    fn stopped(err: Error) -> Result<Self, Error> {
        match err {
            Error::MissingReference { message } => Ok(ObjectPreview {
                waiting: Some(Refusal {
                    reason: "MissingReference".into(),
                    message,
                }),
                ..ObjectPreview::default()
            }),
            Error::InvalidSpec { .. } | Error::NotOwned { .. } => {
                Ok(ObjectPreview::refused(err.reason(), err.chain()))
            }
            // A read that failed: no plan can be made (the caller reports the error).
            other => Err(other),
        }
    }
}

/// What the caller knows that the cluster does not hold yet: Secrets in the manifests being
/// planned, used for reading Azure when the cluster has no Secret of that name.
#[derive(Default)]
pub struct Overlay {
    /// `(namespace, name)` → the Secret's data.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
}

/// The object's credentials: its Secret in the cluster, else one from the manifests.
async fn credentials_for<O: AzureObject + Resource>(
    ctx: &Context,
    obj: &O,
    overlay: &Overlay,
) -> Result<CredentialSource, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let reference = obj.scope().credentials_ref.as_ref();
    match credentials::resolve(&ctx.client, &ns, reference).await {
        Err(Error::MissingReference { message }) => {
            let from_files = reference
                .and_then(|r| overlay.secrets.get(&(ns.clone(), r.name.clone())))
                .zip(reference);
            match from_files {
                Some((data, r)) => Ok(CredentialSource::secret(&ns, &r.name, data.clone())),
                None => Err(Error::MissingReference { message }),
            }
        }
        other => other,
    }
}

/// The plan for `obj` (the object as the API server would store it), with a read-only
/// provider in `ctx`.
pub async fn preview<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    overlay: &Overlay,
) -> Result<ObjectPreview, Error> {
    if let Err(errors) = obj.validate() {
        return Ok(ObjectPreview::refused("InvalidSpec", errors.to_string()));
    }
    let resolved = match kind.resolve(ctx, obj).await {
        Ok(r) => r,
        Err(e) => return ObjectPreview::stopped(e),
    };
    let creds = match credentials_for(ctx, obj, overlay).await {
        Ok(c) => c,
        Err(e) => return ObjectPreview::stopped(e),
    };
    let scope = obj.scope();
    let session = ctx
        .provider
        .session(&creds, &scope.subscription_id)
        .map_err(|e| Error::azure("open an ARM session", e))?;
    if session.access() != Access::ReadOnly {
        return Err(Error::InvalidSpec {
            message: "a plan needs a read-only ARM session (Provider with Access::ReadOnly)".into(),
        });
    }
    after_session(kind, obj, ctx, &session, resolved).await
}

async fn after_session<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    session: &ArmSession,
    mut resolved: K::Resolved,
) -> Result<ObjectPreview, Error> {
    let previous = current_status(obj);
    let recorded = &previous.azure().azure_names;
    let names = match kind.choose_names(session, obj, recorded).await {
        Ok(n) => n,
        Err(e) => return ObjectPreview::stopped(e),
    };
    match kind.precheck(session, obj).await {
        Ok(Some(stop)) => return Ok(ObjectPreview::refused(stop.reason, stop.message)),
        Ok(None) => {}
        Err(e) => return ObjectPreview::stopped(e),
    }
    let owner = K::IDENTITY.owner(obj);
    let polled = operations::poll(session, &previous.azure().operations).await;
    if let Err(e) = kind.survey(ctx, session, &owner, obj, &mut resolved).await {
        return ObjectPreview::stopped(e);
    }
    let plan = kind.plan(obj, Some(&resolved), &names);
    let ns = obj.namespace().unwrap_or_default();
    let observer = PerResourceGet::new(session);
    let cx = StepCtx {
        session,
        observer: &observer,
        owner: &owner,
        kube: &ctx.client,
        namespace: &ns,
    };
    let seen = observe::observe(&cx, &plan, polled).await?;
    let leftovers = kind
        .leftovers(session, &owner, obj, Some(&resolved), &plan)
        .await
        .map_err(|e| Error::azure("list what the spec no longer has", e))?;
    let rollout = kind.rollout(obj, &resolved);
    let policy = obj.scope().reconcile_policy;
    let found = drift::found(&plan, &seen, previous.azure(), policy);
    let mut out = ObjectPreview {
        changes: classify(&plan, &seen, &found, &rollout, &leftovers),
        refusals: step_refusals(&plan, &seen),
        ..ObjectPreview::default()
    };
    if policy == ReconcilePolicy::DetectOnly {
        for c in out.changes.iter_mut().filter(|c| c.action.is_change()) {
            c.action = Action::Reported;
            c.reason = format!(
                "spec.reconcilePolicy is DetectOnly: azop writes nothing ({})",
                c.reason
            );
        }
    }
    Ok(out)
}

/// One refusal per resource azop would not write (pure): one of our names that azop did not
/// create, or one that must exist and does not.
fn step_refusals<P, X>(plan: &[Planned<P, X>], seen: &Observed) -> Vec<Refusal> {
    plan.iter()
        .filter_map(|s| {
            let label = format!("{} {}", short_type(s.step.resource_type()), s.step.name());
            match seen.states.get(&s.key) {
                Some(NodeState::NotOwned) => Some(Refusal {
                    reason: "NotOwned".into(),
                    message: format!(
                        "{label} exists without this object's azop.dev_uid tag: azop never changes or deletes what it did not create; remove or rename it"
                    ),
                }),
                Some(NodeState::Absent) if s.ownership == Ownership::Existing => Some(Refusal {
                    reason: "NotFound".into(),
                    message: format!("{label} does not exist: azop only uses it; create it first"),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The rows of a plan (pure): each planned step from its graph state, machines of a rolling
/// replacement as swaps in order, then what the sweep removes.
pub fn classify<P: Copy + super::kind::Part, X>(
    plan: &[Planned<P, X>],
    seen: &Observed,
    found: &[drift::Found],
    rollout: &Rollout,
    leftovers: &[super::kind::Leftover],
) -> Vec<Change> {
    // Machines the rollout swaps (old and new) are its rows, not their steps' or the sweep's.
    let swapped: BTreeSet<String> = rollout
        .swaps
        .iter()
        .flat_map(|s| [s.old.to_ascii_lowercase(), s.new.to_ascii_lowercase()])
        .collect();
    let in_rollout = |name: &str| {
        let n = name.to_ascii_lowercase();
        swapped.contains(&n) || swapped.iter().any(|m| n == format!("{m}-nic"))
    };
    let mut rows: Vec<Change> = plan
        .iter()
        .filter(|s| !in_rollout(s.step.name()))
        .map(|s| step_row(s, seen, found))
        .collect();
    let planned: BTreeSet<String> = plan
        .iter()
        .map(|s| s.step.name().to_ascii_lowercase())
        .collect();
    for (i, swap) in rollout.swaps.iter().enumerate() {
        rows.push(Change {
            action: Action::Replace,
            kind: swap.kind.clone(),
            name: swap.old.clone(),
            condition: String::new(),
            changes: swap.changes.iter().map(drift::change).collect(),
            reason: format!(
                "rolling replacement of pool {}: {} is created first, then {} is drained and deleted (with its NIC)",
                swap.pool, swap.new, swap.old
            ),
            replaced_by: Some(swap.new.clone()),
            order: Some(i + 1),
        });
    }
    for (kind, name) in &rollout.added {
        if !planned.contains(&name.to_ascii_lowercase()) {
            rows.push(simple(
                Action::Create,
                kind,
                name,
                "added later in the rolling replacement",
            ));
        }
    }
    let mut gone: Vec<&super::kind::Leftover> =
        leftovers.iter().filter(|l| !in_rollout(&l.name)).collect();
    gone.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    for l in gone {
        let why = match &l.note {
            Some(n) => format!("the spec no longer has it ({n})"),
            None => "the spec no longer has it".to_string(),
        };
        rows.push(simple(Action::Delete, &l.kind, &l.name, &why));
    }
    for (kind, name) in &rollout.removed {
        if !rows
            .iter()
            .any(|r| r.action == Action::Delete && r.name.eq_ignore_ascii_case(name))
        {
            rows.push(simple(
                Action::Delete,
                kind,
                name,
                "removed later in the rolling replacement",
            ));
        }
    }
    rows
}

fn simple(action: Action, kind: &str, name: &str, reason: &str) -> Change {
    Change {
        action,
        kind: kind.to_string(),
        name: name.to_string(),
        condition: String::new(),
        changes: Vec::new(),
        reason: reason.to_string(),
        replaced_by: None,
        order: None,
    }
}

/// One planned step's row, from the state the operator's graph gives it. Pure.
fn step_row<P: Copy + super::kind::Part, X>(
    s: &Planned<P, X>,
    seen: &Observed,
    found: &[drift::Found],
) -> Change {
    let obs = seen.observation(&s.key);
    let state = seen.states.get(&s.key).unwrap_or(&NodeState::Absent);
    let drifted = found.iter().find(|f| f.key == s.key);
    let (action, reason, changes) = match state {
        NodeState::Absent if s.ownership == Ownership::Existing => (
            Action::Refused,
            "does not exist, and azop only uses it: create it first".to_string(),
            Vec::new(),
        ),
        NodeState::Absent => (
            Action::Create,
            match drifted {
                Some(_) => "deleted outside azop: recreated".to_string(),
                None => "does not exist".to_string(),
            },
            Vec::new(),
        ),
        NodeState::Drifted => (
            Action::Update,
            "differs from the spec".to_string(),
            obs.drift.iter().map(drift::change).collect(),
        ),
        NodeState::Failed(f) => (
            Action::Update,
            format!("the last write failed ({}); tried again", f.message),
            obs.drift.iter().map(drift::change).collect(),
        ),
        NodeState::Busy => (
            Action::InProgress,
            "an operation on it is under way".to_string(),
            Vec::new(),
        ),
        NodeState::NotOwned => (
            Action::Refused,
            "exists without this object's azop.dev_uid tag: azop never changes or deletes what it did not create; remove or rename it".to_string(),
            Vec::new(),
        ),
        NodeState::Ready if obs.exists && !obs.owned => (
            Action::Untouched,
            "exists and is not azop's: used as it is, never changed".to_string(),
            Vec::new(),
        ),
        NodeState::Ready if s.ownership == Ownership::Existing => (
            Action::Untouched,
            "exists: used as it is".to_string(),
            Vec::new(),
        ),
        NodeState::Ready => (Action::Untouched, "as the spec says".to_string(), Vec::new()),
    };
    Change {
        action,
        kind: s.step.resource_type().to_string(),
        name: s.step.name().to_string(),
        condition: s.part.condition_type().to_string(),
        changes,
        reason,
        replaced_by: None,
        order: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kind::{Leftover, Swap};
    use crate::engine::{Observation, Part};
    use crate::retry::Failure;
    use azop_provider::Difference;

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

    fn step(key: &str, ownership: Ownership) -> Planned<P, ()> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let mut s = Planned::new(
            key,
            &[],
            P::A,
            crate::testing::NamedStep {
                resource_type: "test/things",
                name: name.to_string(),
            },
        );
        s.ownership = ownership;
        s
    }

    fn seen(pairs: Vec<(&str, NodeState, Observation)>) -> Observed {
        let mut states = BTreeMap::new();
        let mut observations = BTreeMap::new();
        for (k, st, o) in pairs {
            states.insert(k.to_string(), st);
            observations.insert(k.to_string(), o);
        }
        Observed {
            observations,
            states,
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        }
    }

    fn exists(owned: bool, drift: Vec<Difference>) -> Observation {
        Observation::found(owned, drift, None)
    }

    #[test]
    fn each_graph_state_becomes_the_row_the_operator_would_act_on() {
        let tag = Difference {
            field: "tags".into(),
            desired: "env=prod".into(),
            observed: "env=test".into(),
        };
        let plan = vec![
            step("rg", Ownership::Existing),
            step("new", Ownership::Owned),
            step("drifted", Ownership::Owned),
            step("ready", Ownership::Owned),
            step("theirs", Ownership::Owned),
            step("busy", Ownership::Owned),
            step("failed", Ownership::Owned),
            step("missing-rg", Ownership::Existing),
        ];
        let seen = seen(vec![
            ("rg", NodeState::Ready, exists(false, vec![])),
            ("new", NodeState::Absent, Observation::default()),
            (
                "drifted",
                NodeState::Drifted,
                exists(true, vec![tag.clone()]),
            ),
            ("ready", NodeState::Ready, exists(true, vec![])),
            ("theirs", NodeState::NotOwned, exists(false, vec![])),
            ("busy", NodeState::Busy, exists(true, vec![])),
            (
                "failed",
                NodeState::Failed(Failure::transient("boom")),
                exists(true, vec![]),
            ),
            ("missing-rg", NodeState::Absent, Observation::default()),
        ]);
        let rows = classify(&plan, &seen, &[], &Rollout::default(), &[]);
        let actions: Vec<(&str, Action)> =
            rows.iter().map(|r| (r.name.as_str(), r.action)).collect();
        assert_eq!(
            actions,
            vec![
                ("rg", Action::Untouched),
                ("new", Action::Create),
                ("drifted", Action::Update),
                ("ready", Action::Untouched),
                ("theirs", Action::Refused),
                ("busy", Action::InProgress),
                ("failed", Action::Update),
                ("missing-rg", Action::Refused),
            ]
        );
        assert_eq!(
            rows[2].changes,
            vec![DriftChange {
                path: "tags".into(),
                azure: "env=test".into(),
                spec: "env=prod".into()
            }]
        );
        let refusals = step_refusals(&plan, &seen);
        assert_eq!(
            refusals
                .iter()
                .map(|r| r.reason.as_str())
                .collect::<Vec<_>>(),
            vec!["NotOwned", "NotFound"]
        );
    }

    #[test]
    fn a_rollout_replaces_in_order_and_the_sweep_deletes_the_rest() {
        let plan = vec![
            step("vm/c-w-0", Ownership::Owned),
            step("nic/c-w-0-nic", Ownership::Owned),
            step("vm/c-w-1", Ownership::Owned),
            step("vm/c-w-2", Ownership::Owned),
        ];
        let seen = seen(vec![
            ("vm/c-w-0", NodeState::Ready, exists(true, vec![])),
            ("nic/c-w-0-nic", NodeState::Ready, exists(true, vec![])),
            ("vm/c-w-1", NodeState::Ready, exists(true, vec![])),
            ("vm/c-w-2", NodeState::Absent, Observation::default()),
        ]);
        let size = Difference {
            field: "properties.hardwareProfile.vmSize".into(),
            desired: "Standard_D16s_v5".into(),
            observed: "Standard_D8s_v5".into(),
        };
        let swap = |old: &str, new: &str| Swap {
            pool: "w".into(),
            kind: "Microsoft.Compute/virtualMachines".into(),
            old: old.into(),
            new: new.into(),
            changes: vec![size.clone()],
        };
        let rollout = Rollout {
            swaps: vec![swap("c-w-1", "c-w-2"), swap("c-w-0", "c-w-3")],
            added: vec![],
            removed: vec![],
        };
        let leftovers = vec![Leftover {
            kind: "Microsoft.Compute/virtualMachines".into(),
            name: "c-x-9".into(),
            note: None,
        }];
        let rows = classify(&plan, &seen, &[], &rollout, &leftovers);
        let got: Vec<(Action, &str, Option<usize>)> = rows
            .iter()
            .map(|r| (r.action, r.name.as_str(), r.order))
            .collect();
        assert_eq!(
            got,
            vec![
                (Action::Replace, "c-w-1", Some(1)),
                (Action::Replace, "c-w-0", Some(2)),
                (Action::Delete, "c-x-9", None),
            ]
        );
        assert_eq!(rows[0].replaced_by.as_deref(), Some("c-w-2"));
        assert_eq!(rows[0].changes[0].path, "properties.hardwareProfile.vmSize");
    }
}
