//! The delete pass: the graph in reverse, in parallel where independent, each DELETE held
//! after a refusal like a PUT, only what this pass saw with our uid tag. A container (resource
//! group) goes last, and only when a listing shows nothing in it that azop did not create.
//! The finalizer is removed once Azure is clean.

use std::collections::BTreeMap;
use std::time::Duration;

use azop_api::v1alpha1::{DeletionPolicy, Phase};
use azop_provider::resources::{ArmResource, UID_TAG, resource_group::ResourceGroup};
use azop_provider::{ArmSession, AzureError, Owner};
use futures::{StreamExt, stream};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::act::{Holds, Note};
use super::graph::{self, Node, NodeState};
use super::observe::{self, Observed};
use super::operations;
use super::plan::{Ownership, Planned};
use super::settle::Verdict;
use super::status;
use super::step::{PerResourceGet, StepCtx};
use super::{Kind, PARALLEL_CALLS};
use crate::conditions::{self, Observation as Cond, Status};
use crate::context::Context;
use crate::credentials;
use crate::error::Error;
use crate::finalizer;

/// Longest list walk; a resource group with more than 100 pages of resources is not ours.
const MAX_PAGES: usize = 100;

/// Why something is still there. Typed, so no decision reads a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A container kept for good: it holds resources azop did not create. Not a blocker.
    KeptForeignInside { label: String, foreign: Vec<String> },
    /// A resource azop uses but did not create: kept for good. Not a blocker.
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
                foreign.join(", ")
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

/// Splits the due steps into those whose write may go now and those held after a failure
/// (with the wait and the message to show).
pub fn hold_back<T>(
    due: Vec<T>,
    key: impl Fn(&T) -> &str,
    holds: &Holds<'_>,
) -> (Vec<T>, Vec<(T, Duration, String)>) {
    let mut send = Vec::new();
    let mut held = Vec::new();
    for s in due {
        match holds.check(key(&s)) {
            None => send.push(s),
            Some((wait, message)) => held.push((s, wait, message)),
        }
    }
    (send, held)
}

/// The `Ready` message while deleting. Pure.
pub fn deleting_message(remaining: &[String], problems: &[Problem]) -> String {
    let mut message = format!(
        "deleting {} resource(s): {}",
        remaining.len(),
        remaining.join(", ")
    );
    let blocking: Vec<String> = problems
        .iter()
        .filter(|p| !p.is_kept())
        .map(Problem::message)
        .collect();
    if !blocking.is_empty() {
        message.push_str(&format!("; problems: {}", blocking.join("; ")));
    }
    message
}

/// Reports deletion blocked before Azure could be asked (credentials gone, a read failing):
/// names what status says is left and how to give up.
async fn blocked_deleting<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    previous: &K::Status,
    err: Error,
) -> Result<Verdict, Error> {
    if matches!(err, Error::Kube { .. }) {
        return Err(err);
    }
    let left: Vec<String> = K::azure(previous)
        .resources
        .iter()
        .filter(|r| r.id.is_some() && r.state.as_deref() != Some("Existing"))
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    let message = format!(
        "cannot delete the Azure resources: {}; still in Azure: {}. Fix the cause, or remove the finalizer {} to give up (azop then leaves them behind)",
        err.chain(),
        if left.is_empty() {
            "unknown".to_string()
        } else {
            left.join(", ")
        },
        K::IDENTITY.finalizer,
    );
    let next = deleting_status::<K>(
        previous,
        obj.meta().generation,
        "DeleteBlocked",
        message,
        None,
    );
    status::write::<K>(ctx, obj, previous, &next).await?;
    Ok(Verdict::blocked(err.retry_class()))
}

fn deleting_status<K: Kind>(
    previous: &K::Status,
    generation: Option<i64>,
    reason: &str,
    message: String,
    operations: Option<Vec<azop_api::v1alpha1::ArmOperation>>,
) -> K::Status {
    let mut next = previous.clone();
    let before = K::azure(previous).common.conditions.clone();
    let shared = K::azure_mut(&mut next);
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

pub async fn run<K: Kind>(obj: &K::Object, ctx: &Context) -> Result<Verdict, Error> {
    let id = K::IDENTITY;
    if !obj.finalizers().iter().any(|f| f == id.finalizer) {
        return Ok(Verdict::Done(Action::await_change()));
    }
    let previous = K::status(obj);
    let ns = obj.namespace().unwrap_or_default();
    let scope = K::scope(obj);
    let orphan = scope.deletion_policy == DeletionPolicy::Orphan;
    // Something outside Azure still needs the resources (clusters booting from an image);
    // with Orphan they stay, so nothing needs to wait.
    match if orphan {
        Ok(None)
    } else {
        K::delete_precheck(ctx, obj).await
    } {
        Ok(None) => {}
        Ok(Some(b)) => {
            let next =
                deleting_status::<K>(&previous, obj.meta().generation, b.reason, b.message, None);
            status::write::<K>(ctx, obj, &previous, &next).await?;
            return Ok(Verdict::Blocked {
                retry: b.retry,
                floor: b.floor,
            });
        }
        Err(e) => return blocked_deleting::<K>(ctx, obj, &previous, e).await,
    }
    let creds = match credentials::resolve(&ctx.client, &ns, scope.credentials_ref.as_ref()).await {
        Ok(c) => c,
        Err(e) => return blocked_deleting::<K>(ctx, obj, &previous, e).await,
    };
    let session = match ctx.provider.session(&creds, &scope.subscription_id) {
        Ok(s) => s,
        Err(e) => {
            let e = Error::azure("open an ARM session", e);
            return blocked_deleting::<K>(ctx, obj, &previous, e).await;
        }
    };
    let owner = id.owner(obj);
    let plan = K::plan(obj, None, &K::azure(&previous).azure_names);
    let polled = match operations::poll_or_requeue(
        &session,
        K::azure(&previous),
        obj.meta().generation,
        false,
        ctx.settings.max_poll_interval,
    )
    .await
    {
        Ok(p) => p,
        Err(requeue) => return Ok(Verdict::Done(requeue)),
    };
    let observer = PerResourceGet::new(&session);
    let cx = StepCtx {
        session: &session,
        observer: &observer,
        owner: &owner,
        kube: &ctx.client,
        namespace: &ns,
    };
    let mut seen = match observe::observe(&cx, &plan, polled).await {
        Ok(o) => o,
        Err(e) => return blocked_deleting::<K>(ctx, obj, &previous, e).await,
    };

    if orphan {
        return super::orphan::run::<K>(ctx, obj, &cx, &plan, &seen, &previous).await;
    }

    // Resources the plan does not have go by listing; the planned ones through the graph.
    let sweep = match K::sweep(&session, &owner, obj, None, &plan, &mut seen.operations).await {
        Ok(s) => s,
        Err(e) => {
            let e = Error::azure("delete resources the plan does not have", e);
            return blocked_deleting::<K>(ctx, obj, &previous, e).await;
        }
    };

    let (nodes, mut states) = deletion_graph(&plan, &seen);
    let mut problems: Vec<Problem> = Vec::new();
    // Foreign containers in use are kept for good, and said so.
    for s in plan.iter().filter(|s| s.container) {
        if states.get(&s.key) == Some(&NodeState::NotOwned) {
            problems.push(Problem::KeptNotOurs { label: s.label() });
        }
    }
    let hold_key = |step: &str| id.hold_key(obj, &format!("delete/{step}"));
    let holds = Holds {
        gate: &ctx.retries,
        key: &hold_key,
        now: std::time::Instant::now(),
    };
    let mut to_delete: Vec<&Planned<K::Part, K::Extra>> = Vec::new();
    let mut held_wait: Option<Duration> = None;
    for key in due(&plan, &nodes, &states, !sweep.pending.is_empty()) {
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
            let cid = s.step.id(session.subscription_id());
            let foreign = foreign_inside(&session, &owner, &cid)
                .await
                .map_err(|e| Error::azure(format!("list {}", s.label()), e));
            let foreign = match foreign {
                Ok(f) => f,
                Err(e) => return blocked_deleting::<K>(ctx, obj, &previous, e).await,
            };
            if !foreign.is_empty() {
                problems.push(Problem::KeptForeignInside {
                    label: s.label(),
                    foreign,
                });
                continue;
            }
        }
        to_delete.push(s);
    }
    // A DELETE Azure refused waits for its hold, like a refused PUT, instead of going out again
    // on every pass.
    let (to_delete, held) = hold_back(to_delete, |s| s.key.as_str(), &holds);
    for (s, wait, message) in held {
        held_wait = Some(held_wait.map_or(wait, |w| w.min(wait)));
        problems.push(Problem::Refused {
            label: s.label(),
            message,
        });
    }
    let mut deletes = Vec::with_capacity(to_delete.len());
    for s in to_delete {
        let cx = &cx;
        deletes.push(async move { (s, s.step.delete(cx).await) });
    }
    let results: Vec<super::plan::StepOutcome<'_, K::Part, K::Extra>> = stream::iter(deletes)
        .buffer_unordered(PARALLEL_CALLS)
        .collect()
        .await;
    let mut started = Vec::new();
    for (s, r) in results {
        match r {
            Ok(handle) => {
                holds.gate.succeeded(&hold_key(&s.key));
                if let Some(h) = handle {
                    seen.operations.push(operations::from_handle(&h));
                }
                states.insert(s.key.clone(), NodeState::Busy);
                started.push(s.label());
            }
            Err(e) => {
                let (wait, message) = holds.refused(&s.key, &e.to_string(), e.retry_class());
                held_wait = Some(held_wait.map_or(wait, |w| w.min(wait)));
                problems.push(Problem::Refused {
                    label: s.label(),
                    message,
                });
            }
        }
    }
    for s in &plan {
        if let Some(NodeState::Failed(message)) = states.get(&s.key) {
            problems.push(Problem::Failed {
                label: s.label(),
                message: message.clone(),
            });
        }
    }
    let mut notes = Vec::new();
    if !started.is_empty() {
        notes.push(Note {
            type_: EventType::Normal,
            reason: "Deleting",
            action: "Delete",
            message: format!("deleting {}", started.join(", ")),
        });
    }

    let kept: Vec<&Problem> = problems.iter().filter(|p| p.is_kept()).collect();
    let kept_keys: Vec<&str> = plan
        .iter()
        .filter(|s| {
            kept.iter().any(|p| match p {
                Problem::KeptForeignInside { label, .. } | Problem::KeptNotOurs { label } => {
                    *label == s.label()
                }
                _ => false,
            })
        })
        .map(|s| s.key.as_str())
        .collect();
    let left: Vec<Node<String>> = nodes
        .iter()
        .filter(|n| !kept_keys.contains(&n.key.as_str()))
        .cloned()
        .collect();
    let done =
        seen.operations.is_empty() && sweep.pending.is_empty() && graph::all_gone(&left, &states);
    if done {
        for p in &kept {
            notes.push(Note {
                type_: match p {
                    Problem::KeptNotOurs { .. } => EventType::Normal,
                    _ => EventType::Warning,
                },
                reason: "ResourceGroupKept",
                action: "Delete",
                message: p.message(),
            });
        }
        notes.push(Note {
            type_: EventType::Normal,
            reason: "Deleted",
            action: "Delete",
            message: "every Azure resource azop created for this object is gone".to_string(),
        });
        status::publish::<K>(ctx, obj, notes).await;
        finalizer::remove(&ctx.client, obj, id.finalizer).await?;
        ctx.retries.forget(&id.holds_prefix(obj));
        return Ok(Verdict::Done(Action::await_change()));
    }
    status::publish::<K>(ctx, obj, notes).await;

    let remaining: Vec<String> = plan
        .iter()
        .filter(|s| left.iter().any(|n| n.key == s.key))
        .filter(|s| {
            !matches!(
                states.get(&s.key),
                None | Some(NodeState::Absent | NodeState::NotOwned)
            )
        })
        .map(|s| s.label())
        .chain(sweep.pending.iter().cloned())
        .collect();
    let blocked = problems.iter().any(|p| !p.is_kept());
    let next = deleting_status::<K>(
        &previous,
        obj.meta().generation,
        if blocked { "DeleteBlocked" } else { "Deleting" },
        deleting_message(&remaining, &problems),
        Some(seen.operations.clone()),
    );
    status::write::<K>(ctx, obj, &previous, &next).await?;
    // The soonest of an operation's poll and a held retry; with neither, look again in 2 s
    // while deleting, 10 s while something blocks (a failed resource: Azure needs time).
    let wait = [
        (!seen.operations.is_empty()).then(|| seen.next_poll.unwrap_or(Duration::from_secs(2))),
        held_wait,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(if blocked {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    });
    Ok(Verdict::Done(Action::requeue(wait.clamp(
        Duration::from_millis(500),
        ctx.settings.max_poll_interval,
    ))))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use super::*;
    use crate::backoff::RetryClass;
    use crate::engine::Observation;
    use crate::engine::holds::RetryGate;
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

    /// Before the engine, a refused DELETE went out again on every pass (about once a second,
    /// since every status write woke the object). Now it waits for its hold, as a PUT does.
    #[test]
    fn a_refused_delete_is_held_then_retried_once() {
        let gate = RetryGate::default();
        let key = |k: &str| format!("uid/1/delete/{k}");
        let t0 = Instant::now();
        let at = |now| Holds {
            gate: &gate,
            key: &key,
            now,
        };
        let (wait, _) = at(t0).refused("nic", "NicInUse: attached", RetryClass::Busy);
        assert_eq!(wait, Duration::from_secs(5));
        let due = || vec!["nic".to_string(), "lb".to_string()];
        let (send, held) = hold_back(due(), |k| k.as_str(), &at(t0 + Duration::from_secs(1)));
        assert_eq!(send, vec!["lb"]);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0, "nic");
        assert_eq!(held[0].1, Duration::from_secs(4));
        assert!(held[0].2.contains("NicInUse"));
        let (send, held) = hold_back(due(), |k| k.as_str(), &at(t0 + Duration::from_secs(5)));
        assert_eq!(send, vec!["nic", "lb"]);
        assert!(held.is_empty());
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
