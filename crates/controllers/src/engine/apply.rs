//! The create/update pass: validate → resolve → names → observe → act → sweep → report.

use std::time::Duration;

use azop_api::v1alpha1::Phase;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::act::{self, Holds, Note};
use super::graph::NodeState;
use super::observe;
use super::operations;
use super::plan::StepView;
use super::settle::Verdict;
use super::status;
use super::step::{PerResourceGet, StepCtx};
use super::{Kind, ReportInput};
use crate::backoff::RetryClass;
use crate::context::Context;
use crate::error::Error;
use crate::{credentials, finalizer};

/// Reports an error that stops the pass before any Azure write (missing reference,
/// credentials, a failed read) and backs off per its class. Kubernetes errors go to the
/// error policy instead: status could not be written either.
pub async fn blocked_by<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    previous: &K::Status,
    err: Error,
) -> Result<Verdict, Error> {
    if matches!(err, Error::Kube { .. }) {
        return Err(err);
    }
    status::report_blocked::<K>(ctx, obj, previous, err.reason(), &err.chain(), None).await?;
    Ok(Verdict::blocked(err.retry_class()))
}

pub async fn run<K: Kind>(obj: &K::Object, ctx: &Context) -> Result<Verdict, Error> {
    let id = K::IDENTITY;
    let previous = K::status(obj);
    let ns = obj.namespace().unwrap_or_default();
    let generation = obj.meta().generation;
    let scope = K::scope(obj);

    // Invalid specs stop here: a condition and an Event, no Azure call.
    if let Err(message) = K::validate(obj) {
        status::report_blocked::<K>(
            ctx,
            obj,
            &previous,
            "InvalidSpec",
            &message,
            Some(Phase::Failed),
        )
        .await?;
        return Ok(Verdict::blocked(RetryClass::InvalidSpec));
    }
    finalizer::ensure(&ctx.client, obj, id.finalizer).await?;

    let resolved = match K::resolve(ctx, obj).await {
        Ok(r) => r,
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    };
    let creds = match credentials::resolve(&ctx.client, &ns, scope.credentials_ref.as_ref()).await {
        Ok(c) => c,
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    };

    let session = match ctx.provider.session(&creds, &scope.subscription_id) {
        Ok(s) => s,
        Err(e) => {
            let e = Error::azure("open an ARM session", e);
            return blocked_by::<K>(ctx, obj, &previous, e).await;
        }
    };

    // Names are fixed in status before the first PUT.
    let names = match K::choose_names(&session, obj, &K::azure(&previous).azure_names).await {
        Ok(n) => n,
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    };
    if K::azure(&previous).azure_names != names {
        let mut first = previous.clone();
        let shared = K::azure_mut(&mut first);
        shared.azure_names = names.clone();
        shared.common.phase = Some(
            K::azure(&previous)
                .common
                .phase
                .unwrap_or(Phase::Provisioning),
        );
        shared.common.observed_generation = generation;
        status::apply_status(&ctx.client, id.field_manager, obj, &first)
            .await
            .map_err(|e| Error::kube(format!("write status of {}", id.object_key(obj)), e))?;
    }

    let owner = id.owner(obj);

    // A read-only check before anything is written (static placement).
    match K::precheck(&session, obj).await {
        Ok(None) => {}
        Ok(Some(b)) => {
            status::report_blocked::<K>(ctx, obj, &previous, b.reason, &b.message, None).await?;
            return Ok(Verdict::Blocked {
                retry: b.retry,
                floor: b.floor,
            });
        }
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    }

    let hold_key = |step: &str| id.hold_key(obj, step);
    let holds = Holds {
        gate: &ctx.retries,
        key: &hold_key,
        now: std::time::Instant::now(),
    };
    // A failure on record needs a full pass (to retry it, or to clear it).
    let any_hold = holds.any_at_all();
    let polled = match operations::poll_or_requeue(
        &session,
        K::azure(&previous),
        generation,
        any_hold,
        ctx.settings.max_poll_interval,
    )
    .await
    {
        Ok(p) => p,
        Err(requeue) => return Ok(Verdict::Done(requeue)),
    };
    // What the plan needs from Azure besides the spec (the machines there are now), read
    // only in passes that go on past the poll.
    let mut resolved = resolved;
    if let Err(e) = K::survey(ctx, &session, &owner, obj, &mut resolved).await {
        return blocked_by::<K>(ctx, obj, &previous, e).await;
    }
    let plan = K::plan(obj, Some(&resolved), &names);
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
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    };
    act::record_failures(&plan, &mut seen, &holds);
    let acted = act::put_ready(&cx, &plan, &mut seen, &holds, K::azure(&previous)).await;
    let mut notes = acted.notes;

    // Resources the plan no longer has (a scale-down).
    let sweep = K::sweep(
        &session,
        &owner,
        obj,
        Some(&resolved),
        &plan,
        &mut seen.operations,
    )
    .await
    .map_err(|e| Error::azure("remove resources the spec no longer has", e));
    let sweep = match sweep {
        Ok(s) => s,
        Err(e) => return blocked_by::<K>(ctx, obj, &previous, e).await,
    };
    if !sweep.started.is_empty() {
        notes.push(Note {
            type_: EventType::Normal,
            reason: "ScalingDown",
            action: "Delete",
            message: format!("removing {}", sweep.started.join(", ")),
        });
    }
    status::publish::<K>(ctx, obj, notes).await;

    // Report.
    let views = views(&plan, &seen, &scope.subscription_id);
    let azure = azop_api::v1alpha1::AzureStatus {
        common: Default::default(),
        azure_names: names,
        resources: super::report_resources(&views),
        operations: seen.operations.clone(),
    };
    let next = K::report(ReportInput {
        steps: views,
        removing: sweep.pending.clone(),
        azure,
        previous: &previous,
        generation,
        scope,
        now: status::now(),
    });
    status::write::<K>(ctx, obj, &previous, &next).await?;
    status::publish::<K>(ctx, obj, K::notes(&previous, &next)).await;

    // When to come back: the soonest of an operation's poll, a held retry, and a look at
    // what was just written.
    let soonest = [
        (!seen.operations.is_empty()).then(|| {
            seen.next_poll
                .unwrap_or(Duration::from_secs(2))
                .min(ctx.settings.max_poll_interval)
        }),
        acted.held_wait,
        (acted.wrote || !sweep.started.is_empty()).then_some(Duration::from_secs(1)),
        // Removals waiting on something other than an ARM operation (a node being drained).
        (!sweep.pending.is_empty()).then_some(Duration::from_secs(5)),
        // Custom steps with work under way (a blob copy) say when to look again.
        seen.observations
            .values()
            .filter_map(|o| o.poll_after)
            .min(),
    ]
    .into_iter()
    .flatten()
    .min();
    if let Some(wait) = soonest {
        return Ok(Verdict::Done(Action::requeue(
            wait.max(Duration::from_millis(500)),
        )));
    }
    if K::azure(&next).common.phase == Some(Phase::Running) {
        return Ok(Verdict::Done(Action::requeue(ctx.settings.resync)));
    }
    // Waiting on something not ours (a resource we do not own, a missing group): nothing this
    // pass can do; look again, backing off while it lasts.
    Ok(Verdict::Blocked {
        retry: RetryClass::Transient,
        floor: Duration::from_secs(10),
    })
}

/// The plan as the report sees it.
pub fn views<'a, P: Copy, X>(
    plan: &'a [super::Planned<P, X>],
    seen: &'a observe::Observed,
    subscription_id: &str,
) -> Vec<StepView<'a, P, X>> {
    plan.iter()
        .map(|s| StepView {
            key: &s.key,
            part: s.part,
            ownership: s.ownership,
            resource_type: s.step.resource_type(),
            name: s.step.name(),
            id: s.step.id(subscription_id),
            extra: s.extra.as_ref(),
            state: seen.states.get(&s.key).unwrap_or(&NodeState::Absent),
            observed: seen.observation(&s.key),
        })
        .collect()
}
