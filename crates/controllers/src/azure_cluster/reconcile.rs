//! One reconcile of an AzureCluster: observe → plan → act → report.
//!
//! Nothing here waits for Azure. A PUT or DELETE that starts an operation is recorded in
//! `status.operations` and the reconcile returns; the next one polls it once. A killed operator
//! therefore resumes from status: names are deterministic and written before the first PUT,
//! operations are polled instead of re-sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use azop_api::Validate;
use azop_api::naming::AZURE_CLUSTER_FINALIZER;
use azop_api::v1alpha1::azure_cluster::{AzureCluster, AzureClusterStatus};
use azop_api::v1alpha1::{ArmAction, ArmOperation, Phase};
use azop_provider::resources::compute::virtual_machine::ImageSource;
use azop_provider::{ArmSession, AzureError, LroHandle, LroKind, Owner, PollOutcome};
use futures::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::names::ClusterNames;
use super::plan::{self, PlannedStep, Resolved};
use super::report::{self, ReportInput, StepView};
use super::{orphans, refs, static_placement};
use crate::backoff::{self, RetryClass};
use crate::conditions::{Observation as Cond, Status};
use crate::context::Context;
use crate::error::Error;
use crate::graph::{self, Node, NodeState};
use crate::retry_gate::Source;
use crate::step::Observation;
use crate::{events, finalizer, status};

pub const KIND: &str = "AzureCluster";
pub const MANAGER: &str = "azureclusters.azop.dev";
/// Parallel ARM calls within one reconcile.
const PARALLEL_CALLS: usize = 8;

pub async fn reconcile(obj: Arc<AzureCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let result = if obj.metadata.deletion_timestamp.is_some() {
        cleanup(&obj, &ctx).await
    } else {
        apply(&obj, &ctx).await
    };
    let key = object_key(&obj);
    ctx.metrics
        .duration
        .get_or_create(&crate::metrics::ControllerLabel {
            controller: "azurecluster",
        })
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics
        .reconciles
        .get_or_create(&crate::metrics::ReconcileLabels {
            controller: "azurecluster",
            result: if result.is_ok() { "ok" } else { "error" },
        })
        .inc();
    if result.is_ok() {
        ctx.failures.succeeded(&key);
    }
    result
}

/// Retry after an error nothing else handled (Kubernetes API errors, mostly).
pub fn error_policy(obj: Arc<AzureCluster>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .errors
        .get_or_create(&crate::metrics::ErrorLabels {
            controller: "azurecluster",
            class: err.reason(),
        })
        .inc();
    let failures = ctx.failures.failed(&object_key(&obj));
    let delay = backoff::delay(err.retry_class(), failures);
    tracing::warn!(object = %object_key(&obj), error = %err.chain(), ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn object_key(obj: &AzureCluster) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn owner(obj: &AzureCluster) -> Owner {
    Owner::new(
        KIND,
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
        obj.uid().unwrap_or_default(),
    )
}

fn now() -> Time {
    Time(Timestamp::now())
}

/// Everything one pass learned, per graph key.
struct Observed {
    observations: BTreeMap<String, Observation>,
    states: BTreeMap<String, NodeState>,
    operations: Vec<ArmOperation>,
    /// Shortest Retry-After among operations still running.
    next_poll: Option<Duration>,
    /// Keys whose failure came from a failed operation (Azure's code in hand), not only
    /// from a `provisioningState: Failed` read.
    failed_ops: BTreeSet<String>,
}

fn to_handle(op: &ArmOperation) -> LroHandle {
    let kind = match op.kind.as_deref() {
        Some("Location") => LroKind::Location,
        Some("ProvisioningState") => LroKind::ProvisioningState,
        _ => LroKind::AzureAsyncOperation,
    };
    let ts = |t: &Option<Time>| {
        t.as_ref()
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok())
    };
    let started = ts(&op.started_at).unwrap_or_else(time::OffsetDateTime::now_utc);
    LroHandle {
        url: op.url.clone(),
        kind,
        resource_id: op.resource_id.clone(),
        method: match op.action {
            ArmAction::Put => "PUT".into(),
            ArmAction::Delete => "DELETE".into(),
        },
        started_at: started,
        deadline: ts(&op.deadline).unwrap_or(started + time::Duration::hours(1)),
    }
}

pub fn operation_from_handle(h: &LroHandle) -> ArmOperation {
    let ts = |t: time::OffsetDateTime| Timestamp::from_second(t.unix_timestamp()).ok().map(Time);
    ArmOperation {
        resource_id: h.resource_id.clone(),
        action: if h.method.eq_ignore_ascii_case("DELETE") {
            ArmAction::Delete
        } else {
            ArmAction::Put
        },
        url: h.url.clone(),
        kind: Some(
            match h.kind {
                LroKind::AzureAsyncOperation => "AzureAsyncOperation",
                LroKind::Location => "Location",
                LroKind::ProvisioningState => "ProvisioningState",
            }
            .to_string(),
        ),
        started_at: ts(h.started_at),
        deadline: ts(h.deadline),
    }
}

/// Polls every recorded operation once. Returns the ones still running, the failures by
/// resource id, and when to look again.
async fn poll_operations(
    session: &ArmSession,
    ops: &[ArmOperation],
) -> (
    Vec<ArmOperation>,
    BTreeMap<String, String>,
    Option<Duration>,
) {
    // Futures are built in a loop (not by a stream closure) to keep the reconcile future Send.
    let mut polls = Vec::with_capacity(ops.len());
    for op in ops.iter().cloned() {
        polls.push(async move {
            let r = session.poll_once(&to_handle(&op)).await;
            (op, r)
        });
    }
    let results: Vec<(ArmOperation, Result<PollOutcome, AzureError>)> = stream::iter(polls)
        .buffer_unordered(PARALLEL_CALLS)
        .collect()
        .await;
    let mut running = Vec::new();
    let mut failures = BTreeMap::new();
    let mut next: Option<Duration> = None;
    for (op, r) in results {
        match r {
            Ok(PollOutcome::InProgress { retry_after }) => {
                next = Some(next.map_or(retry_after, |n| n.min(retry_after)));
                running.push(op);
            }
            Ok(PollOutcome::Succeeded { .. }) => {}
            Ok(PollOutcome::Failed(e)) => {
                failures.insert(op.resource_id.to_ascii_lowercase(), e.to_string());
            }
            // The operation URL is gone (Azure forgets finished operations): what the resource
            // looks like now tells the rest.
            Err(AzureError::NotFound { .. }) => {}
            Err(e) => {
                tracing::debug!(url = %op.url, error = %e, "could not poll an operation; keeping it");
                next = Some(next.map_or(Duration::from_secs(5), |n| n.min(Duration::from_secs(5))));
                running.push(op);
            }
        }
    }
    (running, failures, next)
}

fn state_of(
    step: &PlannedStep,
    obs: &Observation,
    busy: bool,
    failure: Option<&String>,
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
    if step.external {
        return NodeState::Ready;
    }
    if !obs.owned {
        return NodeState::NotOwned;
    }
    if obs.failed() {
        return NodeState::Failed(format!(
            "provisioningState is {}",
            obs.provisioning_state.clone().unwrap_or_default()
        ));
    }
    if !obs.succeeded() {
        return NodeState::Busy;
    }
    if !obs.drift.is_empty() {
        return NodeState::Drifted;
    }
    NodeState::Ready
}

/// What polling the recorded operations found.
struct Polled {
    running: Vec<ArmOperation>,
    failures: BTreeMap<String, String>,
    next_poll: Option<Duration>,
}

async fn poll(session: &ArmSession, ops: &[ArmOperation]) -> Polled {
    let (running, failures, next_poll) = poll_operations(session, ops).await;
    Polled {
        running,
        failures,
        next_poll,
    }
}

/// When every recorded operation is still running, nothing else can have changed that a
/// full pass would act on: dependencies become Ready only when an operation ends, the spec is
/// the one already observed, and no retry hold is due. Then the reconcile polls only and comes
/// back at the operations' Retry-After, instead of re-reading every resource. Pure.
fn poll_only_wait(
    previous: &AzureClusterStatus,
    generation: Option<i64>,
    polled: &Polled,
    any_hold: bool,
) -> Option<Duration> {
    let all_running = !previous.operations.is_empty()
        && polled.failures.is_empty()
        && polled.running.len() == previous.operations.len();
    (all_running && !any_hold && previous.common.observed_generation == generation)
        .then(|| polled.next_poll.unwrap_or(Duration::from_secs(2)))
}

async fn observe(
    session: &ArmSession,
    owner: &Owner,
    steps: &[PlannedStep],
    polled: Polled,
) -> Result<Observed, Error> {
    let Polled {
        running: operations,
        failures,
        next_poll,
    } = polled;
    let mut reads = Vec::with_capacity(steps.len());
    for s in steps {
        reads.push(async move { (s.key.clone(), s.step.observe(session, owner).await) });
    }
    let results: Vec<(String, Result<Observation, AzureError>)> =
        stream::iter(reads).buffered(PARALLEL_CALLS).collect().await;
    let sub = session.subscription_id();
    let busy_ids: BTreeSet<String> = operations
        .iter()
        .map(|o| o.resource_id.to_ascii_lowercase())
        .collect();
    let mut observations = BTreeMap::new();
    let mut states = BTreeMap::new();
    let mut failed_ops = BTreeSet::new();
    for (s, (key, r)) in steps.iter().zip(results) {
        let obs = r.map_err(|e| {
            Error::azure(
                format!("read {} {}", s.step.resource_type(), s.step.name()),
                e,
            )
        })?;
        let id = s.step.id(sub).to_ascii_lowercase();
        if failures.contains_key(&id) {
            failed_ops.insert(key.clone());
        }
        states.insert(
            key.clone(),
            state_of(s, &obs, busy_ids.contains(&id), failures.get(&id)),
        );
        observations.insert(key, obs);
    }
    Ok(Observed {
        observations,
        states,
        operations,
        next_poll,
        failed_ops,
    })
}

fn nodes(steps: &[PlannedStep]) -> Vec<Node<String>> {
    steps
        .iter()
        .map(|s| Node {
            key: s.key.clone(),
            deps: s.deps.clone(),
        })
        .collect()
}

async fn apply(obj: &AzureCluster, ctx: &Context) -> Result<Action, Error> {
    let previous = obj.status.clone().unwrap_or_default();
    let name = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();

    // Invalid specs stop here: a condition and an Event, no Azure call.
    if let Err(errors) = obj.validate() {
        let message = errors.to_string();
        report_blocked(
            obj,
            ctx,
            &previous,
            "InvalidSpec",
            &message,
            Some(Phase::Failed),
        )
        .await?;
        return Ok(Action::requeue(backoff::delay(RetryClass::InvalidSpec, 1)));
    }
    finalizer::ensure(&ctx.client, obj, AZURE_CLUSTER_FINALIZER).await?;

    let resolved = match refs::resolve(&ctx.client, &ns, &obj.spec).await {
        Ok(r) => r,
        Err(e) => return blocked_by(obj, ctx, &previous, e).await,
    };
    let creds = match crate::credentials::resolve(
        &ctx.client,
        &ns,
        obj.spec.azure.credentials_ref.as_ref(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return blocked_by(obj, ctx, &previous, e).await,
    };

    // Names are fixed in status before the first PUT.
    let names =
        ClusterNames::for_cluster(&name, plan::internal_load_balancer(&obj.spec)).to_status();
    if previous.azure_names != names {
        let mut first = previous.clone();
        first.azure_names = names.clone();
        first.common.phase = Some(previous.common.phase.unwrap_or(Phase::Provisioning));
        first.common.observed_generation = obj.metadata.generation;
        status::apply_status(&ctx.client, MANAGER, obj, &first)
            .await
            .map_err(|e| Error::kube(format!("write status of {ns}/{name}"), e))?;
    }

    let session = match ctx
        .provider
        .session(&creds, &obj.spec.azure.subscription_id)
    {
        Ok(s) => s,
        Err(e) => {
            return blocked_by(obj, ctx, &previous, Error::azure("open an ARM session", e)).await;
        }
    };
    let owner = owner(obj);

    // Static placement: the existing network is checked, read-only, before anything is written.
    if let Some(problem) = static_placement::check(&session, &obj.spec)
        .await
        .map_err(|e| Error::azure("read the existing network", e))?
    {
        report_blocked(
            obj,
            ctx,
            &previous,
            "StaticPlacementInvalid",
            &problem,
            None,
        )
        .await?;
        return Ok(Action::requeue(
            backoff::delay(RetryClass::Busy, 1).max(Duration::from_secs(30)),
        ));
    }

    let steps = plan::plan(&name, &obj.spec, &resolved);
    let now_instant = std::time::Instant::now();
    let gate_key = |key: &str| {
        format!(
            "{}/{}/{key}",
            obj.uid().unwrap_or_default(),
            obj.metadata.generation.unwrap_or_default()
        )
    };
    let polled = poll(&session, &previous.operations).await;
    // A failure on record needs a full pass (to retry it, or to clear it).
    let any_hold = steps
        .iter()
        .any(|s| ctx.retries.has_failure(&gate_key(&s.key)));
    if let Some(wait) = poll_only_wait(&previous, obj.metadata.generation, &polled, any_hold) {
        return Ok(Action::requeue(wait.clamp(
            Duration::from_millis(500),
            ctx.settings.max_poll_interval,
        )));
    }
    let mut seen = match observe(&session, &owner, &steps, polled).await {
        Ok(o) => o,
        Err(e) => return blocked_by(obj, ctx, &previous, e).await,
    };

    // Failures observed this pass start (or keep) a hold on the resource; one that is as
    // desired again clears it.
    for s in &steps {
        match seen.states.get(&s.key) {
            Some(NodeState::Ready) => ctx.retries.succeeded(&gate_key(&s.key)),
            Some(NodeState::Failed(message)) => {
                let source = if seen.failed_ops.contains(&s.key) {
                    Source::Azure
                } else {
                    Source::ProvisioningState
                };
                let hold = ctx.retries.failed(
                    &gate_key(&s.key),
                    message,
                    source,
                    RetryClass::Transient,
                    now_instant,
                );
                seen.states
                    .insert(s.key.clone(), NodeState::Failed(hold.message));
            }
            _ => {}
        }
    }

    // Act: PUT what the graph allows now, in parallel — except resources still held after
    // a failure, which keep showing the Azure error until their retry is due.
    let mut held_wait: Option<Duration> = None;
    let mut to_create: Vec<&PlannedStep> = Vec::new();
    for key in graph::next_creates(&nodes(&steps), &seen.states) {
        let Some(s) = steps.iter().find(|s| s.key == key) else {
            continue;
        };
        if s.external {
            continue;
        }
        match ctx.retries.check(&gate_key(&s.key), now_instant) {
            None => to_create.push(s),
            Some((wait, message)) => {
                held_wait = Some(held_wait.map_or(wait, |w| w.min(wait)));
                seen.states.insert(key, NodeState::Failed(message));
            }
        }
    }
    let mut puts = Vec::with_capacity(to_create.len());
    for s in to_create {
        let (session, owner) = (&session, &owner);
        puts.push(async move { (s, s.step.put(session, owner).await) });
    }
    let put_results: Vec<(&PlannedStep, Result<Option<LroHandle>, AzureError>)> =
        stream::iter(puts)
            .buffer_unordered(PARALLEL_CALLS)
            .collect()
            .await;
    let mut acted = false;
    for (s, r) in put_results {
        let obs = seen.observations.get(&s.key).cloned().unwrap_or_default();
        let label = format!("{} {}", s.step.resource_type(), s.step.name());
        match r {
            Ok(handle) => {
                acted = true;
                if obs.exists {
                    let diffs: Vec<String> = obs.drift.iter().map(|d| d.to_string()).collect();
                    events::publish(
                        ctx,
                        obj,
                        EventType::Normal,
                        "DriftCorrected",
                        "Update",
                        format!("corrected drift on {label}: {}", diffs.join("; ")),
                    )
                    .await;
                } else if was_created_before(&previous, s.step.resource_type(), s.step.name()) {
                    events::publish(
                        ctx,
                        obj,
                        EventType::Warning,
                        "DriftCorrected",
                        "Create",
                        format!("{label} was deleted outside azop; recreating it"),
                    )
                    .await;
                }
                if let Some(h) = handle {
                    seen.operations.push(operation_from_handle(&h));
                }
                seen.states.insert(s.key.clone(), NodeState::Busy);
            }
            Err(e) => {
                let message = e.to_string();
                let class = Error::azure(format!("write {label}"), e).retry_class();
                let hold = ctx.retries.failed(
                    &gate_key(&s.key),
                    &message,
                    Source::Azure,
                    class,
                    now_instant,
                );
                let wait = hold.until.saturating_duration_since(now_instant);
                held_wait = Some(held_wait.map_or(wait, |w| w.min(wait)));
                seen.states
                    .insert(s.key.clone(), NodeState::Failed(hold.message));
            }
        }
    }

    // Machines the spec no longer has (a pool scaled down or removed): VM first, then its NIC.
    let removal = orphans::remove(
        &session,
        &owner,
        &obj.spec.azure.resource_group,
        &planned_vms(&steps),
        &mut seen.operations,
    )
    .await
    .map_err(|e| Error::azure("remove machines the spec no longer has", e))?;
    if !removal.started.is_empty() {
        acted = true;
        events::publish(
            ctx,
            obj,
            EventType::Normal,
            "ScalingDown",
            "Delete",
            format!("removing {}", removal.started.join(", ")),
        )
        .await;
    }

    // Report.
    let sub = obj.spec.azure.subscription_id.clone();
    let views: Vec<StepView<'_>> = steps
        .iter()
        .map(|s| StepView {
            key: &s.key,
            part: s.part,
            external: s.external,
            resource_type: s.step.resource_type(),
            name: s.step.name(),
            id: s.step.id(&sub),
            machine: s.machine.as_ref(),
            state: seen.states.get(&s.key).unwrap_or(&NodeState::Absent),
            observed: seen.observations.get(&s.key).unwrap_or(&EMPTY),
        })
        .collect();
    let new_status = report::status(ReportInput {
        steps: views,
        removing: removal.pending,
        operations: seen.operations.clone(),
        azure_names: names,
        previous: &previous,
        generation: obj.metadata.generation,
        resource_group: &obj.spec.azure.resource_group,
        subscription_id: &sub,
        now: now(),
    });
    write_status(obj, ctx, &previous, &new_status).await?;

    // When to come back: the soonest of an operation's poll, a held retry, and a look at
    // what was just written.
    let soonest = [
        (!seen.operations.is_empty()).then(|| {
            seen.next_poll
                .unwrap_or(Duration::from_secs(2))
                .min(ctx.settings.max_poll_interval)
        }),
        held_wait,
        acted.then_some(Duration::from_secs(1)),
    ]
    .into_iter()
    .flatten()
    .min();
    if let Some(wait) = soonest {
        return Ok(Action::requeue(wait.max(Duration::from_millis(500))));
    }
    if new_status.common.phase == Some(Phase::Running) {
        return Ok(Action::requeue(ctx.settings.resync));
    }
    // Waiting on something not ours (a resource we do not own, a missing group): look again.
    let failures = ctx.failures.failed(&object_key(obj));
    Ok(Action::requeue(
        backoff::delay(RetryClass::Transient, failures).max(Duration::from_secs(10)),
    ))
}

/// The VM names the plan holds: the graph creates and deletes these; anything else owned is
/// an orphan for [`orphans::remove`]. Pure.
fn planned_vms(steps: &[PlannedStep]) -> BTreeSet<String> {
    steps
        .iter()
        .filter(|s| s.key.starts_with("vm/"))
        .map(|s| s.step.name().to_string())
        .collect()
}

static EMPTY: Observation = Observation {
    exists: false,
    owned: false,
    provisioning_state: None,
    drift: Vec::new(),
    raw: None,
};

fn was_created_before(previous: &AzureClusterStatus, resource_type: &str, name: &str) -> bool {
    previous.resources.iter().any(|r| {
        r.kind.eq_ignore_ascii_case(resource_type)
            && r.name.eq_ignore_ascii_case(name)
            && r.state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Succeeded"))
    })
}

/// Writes status once and emits an Event per condition that changed.
async fn write_status(
    obj: &AzureCluster,
    ctx: &Context,
    previous: &AzureClusterStatus,
    new_status: &AzureClusterStatus,
) -> Result<(), Error> {
    if new_status == previous {
        return Ok(());
    }
    status::apply_status(&ctx.client, MANAGER, obj, new_status)
        .await
        .map_err(|e| Error::kube(format!("write status of {}", object_key(obj)), e))?;
    for c in report::transitions(&previous.common.conditions, &new_status.common.conditions) {
        let (kind, action) = if c.status == "True" {
            (EventType::Normal, "Ready")
        } else {
            (EventType::Warning, "NotReady")
        };
        events::publish(
            ctx,
            obj,
            kind,
            &c.reason,
            action,
            format!("{} is {}: {}", c.type_, c.status, c.message),
        )
        .await;
    }
    Ok(())
}

/// Reports an error that stops the reconcile before any Azure write (bad spec, missing
/// reference, credentials), and schedules the retry its class asks for.
async fn blocked_by(
    obj: &AzureCluster,
    ctx: &Context,
    previous: &AzureClusterStatus,
    err: Error,
) -> Result<Action, Error> {
    if matches!(err, Error::Kube { .. }) {
        return Err(err);
    }
    report_blocked(obj, ctx, previous, err.reason(), &err.chain(), None).await?;
    let failures = ctx.failures.failed(&object_key(obj));
    Ok(Action::requeue(backoff::delay(err.retry_class(), failures)))
}

async fn report_blocked(
    obj: &AzureCluster,
    ctx: &Context,
    previous: &AzureClusterStatus,
    reason: &str,
    message: &str,
    phase: Option<Phase>,
) -> Result<(), Error> {
    let mut next = previous.clone();
    let ready = Cond::new("Ready", Status::False, reason, message);
    // Keep the part conditions as they were; only Ready explains what blocks.
    let mut observations: Vec<Cond> = vec![ready];
    observations.extend(
        previous
            .common
            .conditions
            .iter()
            .filter(|c| c.type_ != "Ready")
            .map(|c| Cond {
                type_: c.type_.clone(),
                status: match c.status.as_str() {
                    "True" => Status::True,
                    "False" => Status::False,
                    _ => Status::Unknown,
                },
                reason: c.reason.clone(),
                message: c.message.clone(),
            }),
    );
    next.common.conditions = crate::conditions::merge(
        &previous.common.conditions,
        &observations,
        obj.metadata.generation,
        &now(),
    );
    next.common.observed_generation = obj.metadata.generation;
    next.common.phase = Some(phase.unwrap_or(match previous.common.phase {
        Some(Phase::Running | Phase::Updating) => Phase::Updating,
        Some(Phase::Failed) | None => Phase::Pending,
        Some(p) => p,
    }));
    let changed_message = previous
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .is_none_or(|c| c.message != message || c.reason != reason);
    write_status(obj, ctx, previous, &next).await?;
    if changed_message
        && previous
            .common
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False")
    {
        // Ready stayed False but for a new reason: still worth telling the user.
        events::publish(
            ctx,
            obj,
            EventType::Warning,
            reason,
            "Reconcile",
            message.to_string(),
        )
        .await;
    }
    Ok(())
}

async fn cleanup(obj: &AzureCluster, ctx: &Context) -> Result<Action, Error> {
    if !obj
        .finalizers()
        .iter()
        .any(|f| f == AZURE_CLUSTER_FINALIZER)
    {
        return Ok(Action::await_change());
    }
    let previous = obj.status.clone().unwrap_or_default();
    let ns = obj.namespace().unwrap_or_default();
    let creds = match crate::credentials::resolve(
        &ctx.client,
        &ns,
        obj.spec.azure.credentials_ref.as_ref(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return blocked_deleting(obj, ctx, &previous, e).await,
    };
    let session = match ctx
        .provider
        .session(&creds, &obj.spec.azure.subscription_id)
    {
        Ok(s) => s,
        Err(e) => {
            return blocked_deleting(obj, ctx, &previous, Error::azure("open an ARM session", e))
                .await;
        }
    };
    let owner = owner(obj);
    // Only keys matter for deletion; the image is irrelevant.
    let resolved = Resolved {
        image: ImageSource::ManagedImage { id: String::new() },
        custom_data: None,
    };
    let steps = plan::plan(&obj.name_any(), &obj.spec, &resolved);
    let polled = poll(&session, &previous.operations).await;
    if let Some(wait) = poll_only_wait(&previous, obj.metadata.generation, &polled, false) {
        return Ok(Action::requeue(wait.clamp(
            Duration::from_millis(500),
            ctx.settings.max_poll_interval,
        )));
    }
    let mut seen = match observe(&session, &owner, &steps, polled).await {
        Ok(o) => o,
        Err(e) => return blocked_deleting(obj, ctx, &previous, e).await,
    };

    // Machines the plan does not have (a scale-down still under way, a VM whose PUT went out
    // just before a crash) go by listing; the planned ones go through the graph below. Each
    // machine has exactly one of the two paths: listing them all here as well sent every
    // planned VM a second DELETE in the same pass.
    let removal = orphans::remove(
        &session,
        &owner,
        &obj.spec.azure.resource_group,
        &planned_vms(&steps),
        &mut seen.operations,
    )
    .await
    .map_err(|e| Error::azure("delete machines", e))?;

    let owned_steps: Vec<&PlannedStep> = steps.iter().filter(|s| !s.external).collect();
    let graph_nodes: Vec<Node<String>> = owned_steps
        .iter()
        .map(|s| Node {
            key: s.key.clone(),
            deps: s
                .deps
                .iter()
                .filter(|d| steps.iter().any(|o| &o.key == *d && !o.external))
                .cloned()
                .collect(),
        })
        .collect();
    let mut problems = Vec::new();
    let deletable = graph::next_deletes(&graph_nodes, &seen.states);
    // The resource group goes only once everything else is gone, and only if it holds
    // nothing azop did not create: deleting a group deletes everything in it.
    let others_left = owned_steps.iter().any(|s| {
        s.key != plan::KEY_RESOURCE_GROUP
            && !matches!(
                seen.states.get(&s.key),
                None | Some(NodeState::Absent | NodeState::NotOwned)
            )
    });
    let mut started = Vec::new();
    for key in deletable {
        let Some(s) = steps.iter().find(|s| s.key == key) else {
            continue;
        };
        if key == plan::KEY_RESOURCE_GROUP {
            if others_left || !removal.pending.is_empty() {
                continue;
            }
            let foreign =
                orphans::foreign_resources(&session, &owner, &obj.spec.azure.resource_group)
                    .await
                    .map_err(|e| Error::azure("list the resource group", e))?;
            if !foreign.is_empty() {
                problems.push(format!(
                    "resource group {} is kept: it holds resources azop did not create ({})",
                    obj.spec.azure.resource_group,
                    foreign.join(", ")
                ));
                continue;
            }
        }
        // Ownership was checked on this pass's observation (state Ready/Drifted/Failed means ours).
        match s.step.delete(&session).await {
            Ok(handle) => {
                if let Some(h) = handle {
                    seen.operations.push(operation_from_handle(&h));
                }
                seen.states.insert(key.clone(), NodeState::Busy);
                started.push(format!("{} {}", s.step.resource_type(), s.step.name()));
            }
            Err(e) => problems.push(format!(
                "cannot delete {} {}: {e}",
                s.step.resource_type(),
                s.step.name()
            )),
        }
    }
    for (key, state) in &seen.states {
        if let NodeState::Failed(msg) = state
            && let Some(s) = steps.iter().find(|s| &s.key == key)
        {
            problems.push(format!(
                "{} {}: {msg}",
                s.step.resource_type(),
                s.step.name()
            ));
        }
    }
    if !started.is_empty() {
        events::publish(
            ctx,
            obj,
            EventType::Normal,
            "Deleting",
            "Delete",
            format!("deleting {}", started.join(", ")),
        )
        .await;
    }

    let rg_kept = problems.iter().any(|p| p.starts_with("resource group"));
    let done = seen.operations.is_empty()
        && removal.pending.is_empty()
        && owned_steps.iter().all(|s| match seen.states.get(&s.key) {
            None | Some(NodeState::Absent | NodeState::NotOwned) => true,
            _ => s.key == plan::KEY_RESOURCE_GROUP && rg_kept,
        });
    if done {
        if rg_kept {
            events::publish(
                ctx,
                obj,
                EventType::Warning,
                "ResourceGroupKept",
                "Delete",
                problems.join("; "),
            )
            .await;
        }
        events::publish(
            ctx,
            obj,
            EventType::Normal,
            "Deleted",
            "Delete",
            "every Azure resource azop created for this cluster is gone".to_string(),
        )
        .await;
        finalizer::remove(&ctx.client, obj, AZURE_CLUSTER_FINALIZER).await?;
        ctx.retries
            .forget(&format!("{}/", obj.uid().unwrap_or_default()));
        return Ok(Action::await_change());
    }

    let remaining: Vec<String> = owned_steps
        .iter()
        .filter(|s| {
            !matches!(
                seen.states.get(&s.key),
                None | Some(NodeState::Absent | NodeState::NotOwned)
            )
        })
        .map(|s| format!("{} {}", s.step.resource_type(), s.step.name()))
        .chain(removal.pending.iter().cloned())
        .collect();
    let mut message = format!(
        "deleting {} resource(s): {}",
        remaining.len(),
        remaining.join(", ")
    );
    if !problems.is_empty() {
        message.push_str(&format!("; problems: {}", problems.join("; ")));
    }
    let mut next = previous.clone();
    next.operations = seen.operations.clone();
    next.common.phase = Some(Phase::Deleting);
    next.common.observed_generation = obj.metadata.generation;
    next.common.conditions = crate::conditions::merge(
        &previous.common.conditions,
        &[Cond::new(
            "Ready",
            Status::False,
            if problems.is_empty() {
                "Deleting"
            } else {
                "DeleteBlocked"
            },
            message,
        )],
        obj.metadata.generation,
        &now(),
    );
    write_status(obj, ctx, &previous, &next).await?;
    let wait = seen.next_poll.unwrap_or(Duration::from_secs(2));
    let wait = if problems.is_empty() {
        wait
    } else {
        wait.max(Duration::from_secs(10))
    };
    Ok(Action::requeue(wait.clamp(
        Duration::from_millis(500),
        ctx.settings.max_poll_interval,
    )))
}

async fn blocked_deleting(
    obj: &AzureCluster,
    ctx: &Context,
    previous: &AzureClusterStatus,
    err: Error,
) -> Result<Action, Error> {
    if matches!(err, Error::Kube { .. }) {
        return Err(err);
    }
    let left: Vec<String> = previous
        .resources
        .iter()
        .filter(|r| r.id.is_some())
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    let message = format!(
        "cannot delete the Azure resources: {}; still in Azure: {}. Fix the cause, or remove the finalizer {AZURE_CLUSTER_FINALIZER} to give up (azop then leaves them behind)",
        err.chain(),
        if left.is_empty() {
            "unknown".to_string()
        } else {
            left.join(", ")
        }
    );
    let mut next = previous.clone();
    next.common.phase = Some(Phase::Deleting);
    next.common.observed_generation = obj.metadata.generation;
    next.common.conditions = crate::conditions::merge(
        &previous.common.conditions,
        &[Cond::new("Ready", Status::False, "DeleteBlocked", message)],
        obj.metadata.generation,
        &now(),
    );
    write_status(obj, ctx, previous, &next).await?;
    let failures = ctx.failures.failed(&object_key(obj));
    Ok(Action::requeue(backoff::delay(err.retry_class(), failures)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: &str) -> ArmOperation {
        ArmOperation {
            resource_id: id.into(),
            action: ArmAction::Put,
            url: format!("https://arm/{id}/op"),
            kind: None,
            started_at: None,
            deadline: None,
        }
    }

    fn status_with(ops: Vec<ArmOperation>, generation: i64) -> AzureClusterStatus {
        let mut s = AzureClusterStatus {
            operations: ops,
            ..AzureClusterStatus::default()
        };
        s.common.observed_generation = Some(generation);
        s
    }

    fn polled(running: Vec<ArmOperation>, failed: &[&str]) -> Polled {
        Polled {
            running,
            failures: failed
                .iter()
                .map(|f| (f.to_string(), "Failed".to_string()))
                .collect(),
            next_poll: Some(Duration::from_secs(7)),
        }
    }

    #[test]
    fn only_polls_while_every_operation_still_runs() {
        let prev = status_with(vec![op("a"), op("b")], 3);
        let all = polled(vec![op("a"), op("b")], &[]);
        assert_eq!(
            poll_only_wait(&prev, Some(3), &all, false),
            Some(Duration::from_secs(7))
        );
        // One finished: dependants may be ready now.
        assert_eq!(
            poll_only_wait(&prev, Some(3), &polled(vec![op("a")], &[]), false),
            None
        );
        // One failed: report it.
        assert_eq!(
            poll_only_wait(&prev, Some(3), &polled(vec![op("a")], &["b"]), false),
            None
        );
        // The spec changed, or a retry hold is due, or nothing is in flight: full pass.
        assert_eq!(poll_only_wait(&prev, Some(4), &all, false), None);
        assert_eq!(poll_only_wait(&prev, Some(3), &all, true), None);
        assert_eq!(
            poll_only_wait(
                &status_with(vec![], 3),
                Some(3),
                &polled(vec![], &[]),
                false
            ),
            None
        );
    }
}
