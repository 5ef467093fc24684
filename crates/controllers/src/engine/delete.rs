//! The delete pass, as a pipeline: precheck → credentials → poll → observe → sweep → what is
//! due → DELETE → done (finalizer removed) or status. The graph goes in reverse, in parallel
//! where independent, each DELETE held after a refusal like a PUT, only what this pass saw
//! with our uid tag. A container (resource group) goes last, and only when a listing shows
//! nothing in it that azop did not create.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use azop_api::v1alpha1::{
    ArmOperation, AzureObject, AzureStatus, DeletionPolicy, HasAzureStatus, Phase, ReconcilePolicy,
};
use azop_provider::resources::{ArmResource, UID_TAG, resource_group::ResourceGroup};
use azop_provider::{ArmSession, AzureError, Owner};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::act::{self, Write};
use super::apply::{Halt, conclude, current_status, open_session};
use super::graph::{self, Node, NodeState};
use super::kind::{Kind, Stop, Sweep};
use super::observe::{self, Observed};
use super::operations;
use super::plan::{Ownership, Planned};
use super::report::short_type;
use super::status::{self, Note};
use super::step::{Listed, PerResourceGet, StepCtx};
use crate::conditions::{self, Cond, Status};
use crate::context::Context;
use crate::error::Error;
use crate::finalizer;
use crate::retry::{HoldSource, ObjectHolds, PassOutcome, split_held};

/// Longest list walk; a resource group with more than 100 pages of resources is not ours.
const MAX_PAGES: usize = 100;
/// Why something is still there. Typed, so no decision reads a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A container kept for good: it holds resources azop did not create. It does not hold the deletion.
    KeptForeignInside { label: String, foreign: Vec<String> },
    /// A resource azop uses but did not create: kept for good. It does not hold the deletion.
    KeptNotOurs { label: String },
    /// Azure refused the DELETE; retried when its hold is due.
    Refused { label: String, message: String },
    /// The resource is in a failed state.
    Failed { label: String, message: String },
}

impl Problem {
    /// Kept for good: the pass is done without it.
    pub fn is_kept(&self) -> bool {
        matches!(
            self,
            Problem::KeptForeignInside { .. } | Problem::KeptNotOurs { .. }
        )
    }

    pub fn message(&self) -> String {
        match self {
            Problem::KeptForeignInside { label, foreign } => format!(
                "{label} is kept: it holds resources azop did not create ({})",
                crate::summary::names(foreign)
            ),
            Problem::KeptNotOurs { label } => {
                format!("{label} is kept: azop did not create it (it existed before)")
            }
            Problem::Refused { label, message } => format!("cannot delete {label}: {message}"),
            Problem::Failed { label, message } => format!("{label}: {message}"),
        }
    }
}

/// The deletion view of the plan: steps azop may delete, their dependencies among them,
/// and their states — anything this pass did not see with our uid tag counts as not ours.
/// Pure.
pub fn deletion_graph<P, X>(
    plan: &[Planned<P, X>],
    seen: &Observed,
) -> (Vec<Node<String>>, BTreeMap<String, NodeState>) {
    let deletable: Vec<&Planned<P, X>> = plan
        .iter()
        .filter(|s| s.ownership != Ownership::Existing)
        .collect();
    let nodes = deletable
        .iter()
        .map(|s| Node {
            key: s.key.clone(),
            deps: s
                .deps
                .iter()
                .filter(|d| deletable.iter().any(|o| &o.key == *d))
                .cloned()
                .collect(),
        })
        .collect();
    let states = deletable
        .iter()
        .map(|s| {
            let obs = seen.observation(&s.key);
            let state = if obs.exists && !obs.owned {
                NodeState::NotOwned
            } else {
                seen.states
                    .get(&s.key)
                    .cloned()
                    .unwrap_or(NodeState::Absent)
            };
            (s.key.clone(), state)
        })
        .collect();
    (nodes, states)
}

/// The steps a delete pass reads again by GET before it acts: those the graph would DELETE
/// now (each decided on a fresh read that it is ours and, for a shared zone, unused), or —
/// when nothing is due, no operation runs and the listing shows everything gone, so the pass
/// may let the object go — every step. A listing may say a resource exists; that one is
/// gone, or that nobody else uses it, is never taken from a listing alone. While something
/// is still being deleted (its operation, or the walk that will confirm it gone, still to
/// come) the pass cannot let the object go, and reads nothing again. Pure.
pub fn to_confirm<P, X>(plan: &[Planned<P, X>], seen: &Observed) -> BTreeSet<String> {
    let (nodes, states) = deletion_graph(plan, seen);
    let due = due(plan, &nodes, &states, false);
    if due.is_empty() && seen.operations.is_empty() && graph::all_gone(&nodes, &states) {
        return plan.iter().map(|s| s.key.clone()).collect();
    }
    due.into_iter().collect()
}

/// Keys to DELETE now, given what is left. A container waits until every other node is gone
/// and nothing the sweep removes is pending. Pure.
pub fn due<P, X>(
    plan: &[Planned<P, X>],
    nodes: &[Node<String>],
    states: &BTreeMap<String, NodeState>,
    sweep_pending: bool,
) -> Vec<String> {
    let is_container = |k: &str| plan.iter().any(|s| s.key == k && s.container);
    let others: Vec<Node<String>> = nodes
        .iter()
        .filter(|n| !is_container(&n.key))
        .cloned()
        .collect();
    let others_gone = graph::all_gone(&others, states) && !sweep_pending;
    graph::next_deletes(nodes, states)
        .into_iter()
        .filter(|k| others_gone || !is_container(k))
        .collect()
}

pub fn owned_by(item: &Value, owner: &Owner) -> bool {
    item.get("tags")
        .and_then(|t| t.get(UID_TAG))
        .and_then(Value::as_str)
        .is_some_and(|uid| owner.owns(Some(uid)))
}

/// Resources in the resource group `id` that do not carry this object's uid (`type/name`).
pub async fn foreign_inside(
    session: &ArmSession,
    owner: &Owner,
    id: &str,
) -> Result<Vec<String>, AzureError> {
    let items = session
        .list(
            &format!("{id}/resources"),
            ResourceGroup::API_VERSION,
            MAX_PAGES,
        )
        .await?;
    let field = |i: &Value, p: &str| {
        i.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    Ok(items
        .iter()
        .filter(|i| !owned_by(i, owner))
        .map(|i| format!("{}/{}", field(i, "/type"), field(i, "/name")))
        .collect())
}

/// The `Ready` message while deleting. Pure.
pub fn deleting_message(remaining: &[String], problems: &[Problem]) -> String {
    let mut message = format!(
        "deleting {} resource(s): {}",
        remaining.len(),
        crate::summary::names(remaining)
    );
    let blocking: Vec<String> = problems
        .iter()
        .filter(|p| !p.is_kept())
        .map(Problem::message)
        .collect();
    if !blocking.is_empty() {
        message.push_str(&format!(
            "; problems: {}",
            crate::summary::names(&blocking).replace(", ", "; ")
        ));
    }
    message
}

/// A deletion stopped before Azure could be asked (credentials gone, a read failing): the
/// message names what status says is left and how to give up. Kubernetes errors go to the
/// error policy.
fn delete_blocked<S: HasAzureStatus>(previous: &S, finalizer: &str, err: Error) -> Halt {
    if matches!(err, Error::Kube { .. }) {
        return Halt::Fail(err);
    }
    let left: Vec<String> = previous
        .azure()
        .resources
        .iter()
        .filter(|r| r.id.is_some() && r.state.as_deref() != Some("Existing"))
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    let message = format!(
        "cannot delete the Azure resources: {}; still in Azure: {}. Fix the cause, or remove the finalizer {finalizer} to give up (azop then leaves them behind)",
        err.chain(),
        if left.is_empty() {
            "unknown".to_string()
        } else {
            crate::summary::names(&left)
        },
    );
    Halt::Stop(Stop::new("DeleteBlocked", message, err.retry_class()))
}

/// The status while deleting (pure): phase `Deleting`, `Ready=False` with `reason`.
fn deleting_status<S: HasAzureStatus + Clone>(
    previous: &S,
    generation: Option<i64>,
    reason: &str,
    message: String,
    operations: Option<Vec<ArmOperation>>,
) -> S {
    let mut next = previous.clone();
    let before = previous.azure().common.conditions.clone();
    let shared = next.azure_mut();
    if let Some(ops) = operations {
        shared.operations = ops;
    }
    shared.common.phase = Some(Phase::Deleting);
    shared.common.observed_generation = generation;
    shared.common.conditions = conditions::merge(
        &before,
        &[Cond::new("Ready", Status::False, reason, message)],
        generation,
        &status::now(),
    );
    next
}

pub async fn run<K: Kind>(kind: &K, obj: &K::Object, ctx: &Context) -> Result<PassOutcome, Error> {
    if !obj.finalizers().iter().any(|f| f == K::IDENTITY.finalizer) {
        return Ok(PassOutcome::Done(Action::await_change()));
    }
    let previous = current_status(obj);
    if obj.scope().reconcile_policy == ReconcilePolicy::DetectOnly {
        return leave_in_azure::<K>(obj, ctx, &previous).await;
    }
    let ended = pass(kind, obj, ctx, &previous).await;
    conclude(ended, |stop| async move {
        let generation = obj.meta().generation;
        let next = deleting_status(&previous, generation, stop.reason, stop.message, None);
        status::write::<K>(ctx, obj, &previous, &next).await
    })
    .await
}

/// What a DetectOnly object leaves when it is deleted: everything in Azure, as it is (a
/// policy that writes nothing deletes nothing either). Pure.
pub fn left_in_azure_message(kind: &str, key: &str, status: &AzureStatus) -> String {
    let left: Vec<String> = status
        .resources
        .iter()
        .filter(|r| r.id.is_some() && r.state.as_deref() != Some("Existing"))
        .map(|r| format!("{} {}", short_type(&r.kind), r.name))
        .collect();
    format!(
        "spec.reconcilePolicy is DetectOnly: nothing was deleted in Azure; what azop created for {kind} {key} stays as it is, with its azop.dev_owner and azop.dev_uid tags{}",
        if left.is_empty() {
            String::new()
        } else {
            format!(": {}", left.join(", "))
        }
    )
}

/// A DetectOnly object's deletion: an Event naming what stays in Azure, then the finalizer
/// goes. No Azure call at all.
async fn leave_in_azure<K: Kind>(
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
) -> Result<PassOutcome, Error> {
    let id = K::IDENTITY;
    let message = left_in_azure_message(id.kind, &id.object_key(obj), previous.azure());
    status::publish::<K>(
        ctx,
        obj,
        vec![Note {
            type_: EventType::Normal,
            reason: "LeftInAzure",
            action: "Delete",
            message,
        }],
    )
    .await;
    finalizer::remove(&ctx.client, obj, id.finalizer).await?;
    Ok(PassOutcome::Done(Action::await_change()))
}

async fn pass<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
) -> Result<PassOutcome, Halt> {
    // Errors before Azure could be asked stop the pass as `DeleteBlocked`.
    let stopped = |e: Error| delete_blocked(previous, K::IDENTITY.finalizer, e);
    let orphan = obj.scope().deletion_policy == DeletionPolicy::Orphan;
    // Something outside Azure still needs the resources (clusters booting from an image);
    // with Orphan they stay, so nothing needs to wait.
    if !orphan && let Some(stop) = kind.delete_precheck(ctx, obj).await.map_err(stopped)? {
        return Err(stop.into());
    }
    let session = open_session(ctx, obj).await.map_err(stopped)?;
    let owner = K::IDENTITY.owner(obj);
    let plan = kind.plan(obj, None, &previous.azure().azure_names);
    let polled = match operations::poll_or_requeue(
        &session,
        previous.azure(),
        obj.meta().generation,
        false,
        ctx.settings.max_poll_interval,
    )
    .await
    {
        Ok(p) => p,
        Err(requeue) => return Ok(PassOutcome::Done(requeue)),
    };
    let ns = obj.namespace().unwrap_or_default();
    let first = Listed::for_deletion(&session);
    let cx = StepCtx {
        session: &session,
        observer: &first,
        owner: &owner,
        kube: &ctx.client,
        namespace: &ns,
    };
    let mut seen = observe::observe(&cx, &plan, polled.clone())
        .await
        .map_err(stopped)?;
    // What is about to be deleted, or found gone, is read again by GET (see `to_confirm`);
    // an orphan pass reads everything it will untag so.
    let direct = if orphan {
        PerResourceGet::new(&session)
    } else {
        PerResourceGet::for_deletion(&session)
    };
    let confirming = StepCtx {
        observer: &direct,
        ..cx
    };
    let keys = if orphan {
        plan.iter().map(|s| s.key.clone()).collect()
    } else {
        to_confirm(&plan, &seen)
    };
    observe::confirm(&confirming, &plan, &keys, &polled, &mut seen)
        .await
        .map_err(stopped)?;

    if orphan {
        return super::orphan::run::<K>(ctx, obj, &confirming, &plan, &seen).await;
    }

    // Some of what this pass read awaits the walk that will tell it gone (it counts as
    // still being deleted; the walk wakes the object).
    let awaiting = [first.awaiting_walk(), direct.awaiting_walk()]
        .into_iter()
        .flatten()
        .min();
    // Resources the plan does not have go by listing; the planned ones through the graph.
    // The sweep waits while a planned one awaits its walk: the container cannot go before
    // that walk anyway (the resource counts as present), and the group's listing would read
    // each resource so deleted by GET (a 404 each) instead of from the walk.
    let sweep = if awaiting.is_some() {
        Sweep::default()
    } else {
        kind.sweep(&session, &owner, obj, None, &plan, &mut seen.operations)
            .await
            .map_err(|e| stopped(Error::azure("delete resources the plan does not have", e)))?
    };
    let holds = ObjectHolds {
        holds: &ctx.holds,
        prefix: format!("{}delete/", K::IDENTITY.holds_prefix(obj)),
        now: std::time::Instant::now(),
    };
    let mut round = Round::new(&plan, &seen);
    round.awaiting = awaiting;
    round
        .choose(&cx, &plan, &seen, &sweep, &holds)
        .await
        .map_err(stopped)?;
    round.delete(&cx, &mut seen, &holds).await;
    round.note_failures(&plan);
    finish::<K>(obj, ctx, previous, &plan, &seen, &sweep, round).await
}

/// One pass's deletions: the deletion graph and its states, what is due, and why something
/// is still there.
struct Round<'p, P, X> {
    nodes: Vec<Node<String>>,
    states: BTreeMap<String, NodeState>,
    to_delete: Vec<&'p Planned<P, X>>,
    problems: Vec<Problem>,
    started: Vec<String>,
    held_wait: Option<Duration>,
    /// When the walk that will tell whether something this pass read is gone should be in
    /// (it wakes the object): while any is awaited, the object is not let go.
    awaiting: Option<Duration>,
}

impl<'p, P, X> Round<'p, P, X> {
    fn new(plan: &'p [Planned<P, X>], seen: &Observed) -> Self {
        let (nodes, states) = deletion_graph(plan, seen);
        // Foreign containers in use are kept for good, and said so.
        let problems = plan
            .iter()
            .filter(|s| s.container && states.get(&s.key) == Some(&NodeState::NotOwned))
            .map(|s| Problem::KeptNotOurs { label: s.label() })
            .collect();
        Round {
            nodes,
            states,
            to_delete: Vec::new(),
            problems,
            started: Vec::new(),
            held_wait: None,
            awaiting: None,
        }
    }

    fn hold(&mut self, wait: Duration) {
        self.held_wait = Some(self.held_wait.map_or(wait, |w| w.min(wait)));
    }

    /// The steps to DELETE now: due in the graph, seen with our uid tag, a container only
    /// when it holds nothing foreign, and not held after a refusal.
    async fn choose(
        &mut self,
        cx: &StepCtx<'_>,
        plan: &'p [Planned<P, X>],
        seen: &Observed,
        sweep: &Sweep,
        holds: &ObjectHolds<'_>,
    ) -> Result<(), Error> {
        let mut chosen = Vec::new();
        for key in due(plan, &self.nodes, &self.states, !sweep.pending.is_empty()) {
            let Some(s) = plan.iter().find(|s| s.key == key) else {
                continue;
            };
            // Only what this pass saw with our uid tag (deletion_graph made the rest NotOwned,
            // which next_deletes never returns); checked again here because it is the one rule
            // that must never break.
            if !seen.observation(&s.key).owned {
                continue;
            }
            if s.container {
                let cid = s.step.id(cx.session.subscription_id());
                let foreign = foreign_inside(cx.session, cx.owner, &cid)
                    .await
                    .map_err(|e| Error::azure(format!("list {}", s.label()), e))?;
                if !foreign.is_empty() {
                    self.problems.push(Problem::KeptForeignInside {
                        label: s.label(),
                        foreign,
                    });
                    continue;
                }
            }
            chosen.push(s);
        }
        // A DELETE Azure refused waits for its hold, like a refused PUT, instead of going out
        // again on every pass.
        let (send, held) = split_held(chosen, |s| s.key.as_str(), holds);
        for (s, wait, failure) in held {
            self.hold(wait);
            self.problems.push(Problem::Refused {
                label: s.label(),
                message: failure.message,
            });
        }
        self.to_delete = send;
        Ok(())
    }

    /// Sends the DELETEs in parallel; records the operations they start.
    async fn delete(&mut self, cx: &StepCtx<'_>, seen: &mut Observed, holds: &ObjectHolds<'_>) {
        let to_delete = std::mem::take(&mut self.to_delete);
        for (s, r) in act::send(cx, to_delete, seen, Write::Delete).await {
            match r {
                Ok(handle) => {
                    holds.succeeded(&s.key);
                    if let Some(h) = handle {
                        seen.operations.push(operations::from_handle(&h));
                    }
                    self.states.insert(s.key.clone(), NodeState::Busy);
                    self.started.push(s.label());
                }
                Err(e) => {
                    let (wait, failure) = holds.failed(&s.key, &e.failure(), HoldSource::Write);
                    self.hold(wait);
                    self.problems.push(Problem::Refused {
                        label: s.label(),
                        message: failure.message,
                    });
                }
            }
        }
    }

    fn note_failures(&mut self, plan: &[Planned<P, X>]) {
        for s in plan {
            if let Some(NodeState::Failed(f)) = self.states.get(&s.key) {
                self.problems.push(Problem::Failed {
                    label: s.label(),
                    message: f.message.clone(),
                });
            }
        }
    }

    /// The nodes still to go: every node but those kept for good.
    fn left(&self, plan: &[Planned<P, X>]) -> Vec<Node<String>> {
        let kept: Vec<&str> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::KeptForeignInside { label, .. } | Problem::KeptNotOurs { label } => {
                    Some(label.as_str())
                }
                _ => None,
            })
            .collect();
        let kept_keys: Vec<&str> = plan
            .iter()
            .filter(|s| kept.contains(&s.label().as_str()))
            .map(|s| s.key.as_str())
            .collect();
        self.nodes
            .iter()
            .filter(|n| !kept_keys.contains(&n.key.as_str()))
            .cloned()
            .collect()
    }
}

/// The Events of a deletion that is done: what was kept, and that it is done.
fn done_notes(problems: &[Problem]) -> Vec<Note> {
    problems
        .iter()
        .filter(|p| p.is_kept())
        .map(|p| Note {
            type_: match p {
                Problem::KeptNotOurs { .. } => EventType::Normal,
                _ => EventType::Warning,
            },
            reason: "ResourceGroupKept",
            action: "Delete",
            message: p.message(),
        })
        .chain([Note {
            type_: EventType::Normal,
            reason: "Deleted",
            action: "Delete",
            message: "every Azure resource azop created for this object is gone".to_string(),
        }])
        .collect()
}

/// Done: the finalizer goes. Else: the status says what is left and why, and the pass comes
/// back at the soonest of an operation's poll and a held retry (2 s while deleting, 10 s
/// while something blocks: a failed resource needs Azure's time).
async fn finish<K: Kind>(
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
    plan: &[Planned<K::Part, K::Extra>],
    seen: &Observed,
    sweep: &Sweep,
    round: Round<'_, K::Part, K::Extra>,
) -> Result<PassOutcome, Halt> {
    let mut notes = Vec::new();
    if !round.started.is_empty() {
        notes.push(Note {
            type_: EventType::Normal,
            reason: "Deleting",
            action: "Delete",
            message: format!("deleting {}", crate::summary::names(&round.started)),
        });
    }
    let left = round.left(plan);
    let done = seen.operations.is_empty()
        && round.awaiting.is_none()
        && sweep.pending.is_empty()
        && graph::all_gone(&left, &round.states);
    if done {
        notes.extend(done_notes(&round.problems));
        status::publish::<K>(ctx, obj, notes).await;
        finalizer::remove(&ctx.client, obj, K::IDENTITY.finalizer)
            .await
            .map_err(Halt::Fail)?;
        ctx.holds.forget(&K::IDENTITY.all_holds_prefix(obj));
        return Ok(PassOutcome::Done(Action::await_change()));
    }
    status::publish::<K>(ctx, obj, notes).await;
    let remaining: Vec<String> = plan
        .iter()
        .filter(|s| left.iter().any(|n| n.key == s.key))
        .filter(|s| {
            !matches!(
                round.states.get(&s.key),
                None | Some(NodeState::Absent | NodeState::NotOwned)
            )
        })
        .map(|s| s.label())
        .chain(sweep.pending.iter().cloned())
        .collect();
    // Something not kept for good is in the way: the condition says `DeleteBlocked`.
    let held_up = round.problems.iter().any(|p| !p.is_kept());
    let next = deleting_status(
        previous,
        obj.meta().generation,
        if held_up { "DeleteBlocked" } else { "Deleting" },
        deleting_message(&remaining, &round.problems),
        Some(seen.operations.clone()),
    );
    status::write::<K>(ctx, obj, previous, &next).await?;
    // A resource awaiting its confirming walk: the walk wakes the object; this is the
    // fallback.
    let wait = [
        (!seen.operations.is_empty()).then(|| seen.next_poll.unwrap_or(Duration::from_secs(2))),
        round.held_wait,
        round.awaiting,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(if held_up {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    });
    Ok(PassOutcome::Done(Action::requeue(wait.clamp(
        Duration::from_millis(500),
        ctx.settings.max_poll_interval,
    ))))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::Observation;
    use crate::testing::{absent, found, node, ours};

    /// rg ─┬─ nsg ─ vnet ─┐
    ///     └─ pip ─ lb ───┴─ nic
    fn graph() -> Vec<Planned<(), ()>> {
        let mut rg = node("rg", &[]);
        rg.ownership = Ownership::OwnedOrExisting;
        rg.container = true;
        vec![
            rg,
            node("nsg", &["rg"]),
            node("pip", &["rg"]),
            node("vnet", &["nsg"]),
            node("lb", &["pip"]),
            node("nic", &["vnet", "lb"]),
        ]
    }

    fn seen(pairs: &[(&str, NodeState, Observation)]) -> Observed {
        Observed {
            observations: pairs
                .iter()
                .map(|(k, _, o)| (k.to_string(), o.clone()))
                .collect(),
            states: pairs
                .iter()
                .map(|(k, s, _)| (k.to_string(), s.clone()))
                .collect(),
            operations: Vec::new(),
            next_poll: None,
            failed_ops: BTreeSet::new(),
        }
    }

    fn present(keys: &[&str]) -> Observed {
        let all = ["rg", "nsg", "pip", "vnet", "lb", "nic"];
        let pairs: Vec<(&str, NodeState, Observation)> = all
            .iter()
            .map(|k| {
                if keys.contains(k) {
                    (*k, NodeState::Ready, ours())
                } else {
                    (*k, NodeState::Absent, absent())
                }
            })
            .collect();
        seen(&pairs)
    }

    fn due_now(plan: &[Planned<(), ()>], seen: &Observed, sweep_pending: bool) -> Vec<String> {
        let (nodes, states) = deletion_graph(plan, seen);
        due(plan, &nodes, &states, sweep_pending)
    }

    #[test]
    fn a_delete_and_a_finish_are_decided_on_confirming_reads() {
        let plan = graph();
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        // What is due is read again, nothing else.
        assert_eq!(
            to_confirm(&plan, &present(&["rg", "nsg", "pip", "vnet", "lb"])),
            keys(&["lb", "vnet"])
        );
        // Nothing due and nothing running: the pass may let the object go, so every
        // absence the listing showed is confirmed (a shared zone "unused", a resource
        // "gone", may be stale).
        assert_eq!(
            to_confirm(&plan, &present(&[])),
            keys(&["rg", "nsg", "pip", "vnet", "lb", "nic"])
        );
        // Nothing due while an operation runs: the next pass decides.
        let mut waiting = present(&[]);
        waiting.operations.push(azop_api::v1alpha1::ArmOperation {
            resource_id: "/x".into(),
            action: azop_api::v1alpha1::ArmAction::Delete,
            url: "https://management.azure.com/op".into(),
            kind: None,
            started_at: None,
            deadline: None,
        });
        assert!(to_confirm(&plan, &waiting).is_empty());
        // Nothing due while the NIC is still being deleted (its confirming walk still to
        // come): nothing can be let go yet, so nothing is read again.
        let mut deleting = present(&[]);
        deleting.states.insert("nic".into(), NodeState::Busy);
        deleting.observations.insert("nic".into(), ours());
        assert!(to_confirm(&plan, &deleting).is_empty());
    }

    #[test]
    fn deletes_go_in_reverse_order_and_independent_ones_together() {
        let plan = graph();
        let table: &[(&[&str], &[&str])] = &[
            (&["rg", "nsg", "pip", "vnet", "lb", "nic"], &["nic"]),
            (&["rg", "nsg", "pip", "vnet", "lb"], &["vnet", "lb"]),
            (&["rg", "nsg", "pip"], &["nsg", "pip"]),
            // The container only once everything else is gone.
            (&["rg"], &["rg"]),
            (&[], &[]),
        ];
        for (left, want) in table {
            assert_eq!(
                due_now(&plan, &present(left), false),
                *want,
                "left: {left:?}"
            );
        }
        // Nor while the sweep still removes something inside it.
        assert!(due_now(&plan, &present(&["rg"]), true).is_empty());
    }

    #[test]
    fn only_what_carries_our_uid_is_deleted() {
        let plan = graph();
        let mut s = present(&["rg", "nsg", "pip"]);
        // Someone else's NSG of that name: never deleted, and it does not block the group.
        s.observations.insert(
            "nsg".into(),
            found(false, "Succeeded", serde_json::Value::Null),
        );
        s.states.insert("nsg".into(), NodeState::NotOwned);
        assert_eq!(due_now(&plan, &s, false), vec!["pip"]);
        // A group azop did not create (used under createResourceGroup: true) is never due,
        // though the create pass saw it Ready.
        let mut s = present(&["rg"]);
        s.observations.insert(
            "rg".into(),
            found(false, "Succeeded", serde_json::Value::Null),
        );
        let (nodes, states) = deletion_graph(&plan, &s);
        assert_eq!(states.get("rg"), Some(&NodeState::NotOwned));
        assert!(due(&plan, &nodes, &states, false).is_empty());
        assert!(graph::all_gone(&nodes, &states));
    }

    #[test]
    fn must_exist_steps_are_not_part_of_deletion() {
        let mut plan = graph();
        plan[0].ownership = Ownership::Existing;
        let (nodes, _) = deletion_graph(&plan, &present(&["rg", "nsg"]));
        assert!(nodes.iter().all(|n| n.key != "rg"));
        let nsg = nodes.iter().find(|n| n.key == "nsg").expect("nsg");
        assert!(nsg.deps.is_empty(), "{:?}", nsg.deps);
    }

    #[test]
    fn kept_resources_are_said_but_do_not_block() {
        let problems = vec![
            Problem::KeptForeignInside {
                label: "Microsoft.Resources/resourceGroups rg".into(),
                foreign: vec!["Microsoft.Storage/storageAccounts/theirs".into()],
            },
            Problem::KeptNotOurs {
                label: "Microsoft.Resources/resourceGroups shared".into(),
            },
            Problem::Refused {
                label: "Microsoft.Network/networkInterfaces n".into(),
                message: "NicInUse".into(),
            },
        ];
        let kept: Vec<bool> = problems.iter().map(Problem::is_kept).collect();
        assert_eq!(kept, vec![true, true, false]);
        assert!(problems[0].message().contains(
            "holds resources azop did not create (Microsoft.Storage/storageAccounts/theirs)"
        ));
        let m = deleting_message(&["Microsoft.Network/networkInterfaces n".into()], &problems);
        assert_eq!(
            m,
            "deleting 1 resource(s): Microsoft.Network/networkInterfaces n; problems: cannot delete Microsoft.Network/networkInterfaces n: NicInUse"
        );
    }
}
