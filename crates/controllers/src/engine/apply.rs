//! The create/update pass, as a pipeline: prepare (validate, finalizer, references,
//! credentials, names) → precheck → poll → survey → plan → observe → act → sweep → report →
//! when to come back. Each stage either hands the next what it needs or stops the pass with
//! a [`Halt`]; [`run`] turns a stop into the `Ready` condition and the per-object backoff.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use azop_api::Validate;
use azop_api::v1alpha1::{AzureObject, AzureStatus, HasAzureStatus, Phase, ReconcilePolicy};
use azop_provider::{ArmSession, Owner};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::act::{self, Acted};
use super::drift;
use super::graph::NodeState;
use super::kind::{Kind, ReportInput, Stop, Sweep};
use super::observe::{self, Observed};
use super::operations;
use super::plan::{Planned, StepView};
use super::report::report_resources;
use super::status::{self, Note};
use super::step::{Listed, PerResourceGet, StepCtx};
use crate::context::Context;
use crate::error::Error;
use crate::retry::{ObjectHolds, PassOutcome, RetryClass};
use crate::{credentials, finalizer};

/// Why a pass ends before it got through.
pub enum Halt {
    /// Stopped before writing to Azure: reported as `Ready=False`, backed off per object.
    Stop(Stop),
    /// Kubernetes failed (status could not be written either): the error policy backs off.
    Fail(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        match e {
            Error::Kube { .. } => Halt::Fail(e),
            other => Halt::Stop(Stop::from_error(&other)),
        }
    }
}

impl From<Stop> for Halt {
    fn from(s: Stop) -> Self {
        Halt::Stop(s)
    }
}

/// What a pass works with once prepared.
pub struct Prepared<R> {
    pub session: ArmSession,
    pub owner: Owner,
    pub resolved: R,
    pub names: BTreeMap<String, String>,
}

/// The status an object carries now (default when it has none).
pub fn current_status<O: AzureObject>(obj: &O) -> O::Status {
    obj.azure_object_status().cloned().unwrap_or_default()
}

/// Opens the ARM session with the object's credentials (its Secret, or the operator's own
/// identity).
pub async fn open_session<O: AzureObject + Resource>(
    ctx: &Context,
    obj: &O,
) -> Result<ArmSession, Error> {
    let scope = obj.scope();
    let ns = obj.namespace().unwrap_or_default();
    let creds = credentials::resolve(&ctx.client, &ns, scope.credentials_ref.as_ref()).await?;
    ctx.provider
        .session(&creds, &scope.subscription_id)
        .map_err(|e| Error::azure("open an ARM session", e))
}

/// How a pass ended, as the per-object backoff takes it: a stop is reported (`report`) and
/// backs off; a Kubernetes failure goes to the error policy.
pub async fn conclude<F: Future<Output = Result<(), Error>>>(
    ended: Result<PassOutcome, Halt>,
    report: impl FnOnce(Stop) -> F,
) -> Result<PassOutcome, Error> {
    match ended {
        Ok(outcome) => Ok(outcome),
        Err(Halt::Fail(e)) => Err(e),
        Err(Halt::Stop(stop)) => {
            let (retry, floor) = (stop.retry, stop.floor);
            tracing::debug!(reason = stop.reason, message = %stop.message, ?retry, "pass stopped");
            report(stop).await?;
            Ok(PassOutcome::Stopped { retry, floor })
        }
    }
}

pub async fn run<K: Kind>(kind: &K, obj: &K::Object, ctx: &Context) -> Result<PassOutcome, Error> {
    let previous = current_status(obj);
    let ended = pass(kind, obj, ctx, &previous).await;
    conclude(ended, |stop| async move {
        status::report_stop::<K>(ctx, obj, &previous, &stop).await
    })
    .await
}

async fn pass<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
) -> Result<PassOutcome, Halt> {
    let mut p = prepare(kind, obj, ctx, previous).await?;
    if let Some(stop) = kind.precheck(&p.session, obj).await? {
        return Err(stop.into());
    }
    let holds = ObjectHolds {
        holds: &ctx.holds,
        prefix: K::IDENTITY.holds_prefix(obj),
        now: std::time::Instant::now(),
    };
    // A failure on record needs a full pass (to retry it, or to clear it).
    let polled = match operations::poll_or_requeue(
        &p.session,
        previous.azure(),
        obj.meta().generation,
        holds.any(),
        ctx.settings.max_poll_interval,
    )
    .await
    {
        Ok(polled) => polled,
        Err(requeue) => return Ok(PassOutcome::Done(requeue)),
    };
    // What the plan needs from Azure besides the spec (the machines there are now), read
    // only in passes that go on past the poll.
    kind.survey(ctx, &p.session, &p.owner, obj, &mut p.resolved)
        .await?;
    let plan = kind.plan(obj, Some(&p.resolved), &p.names);
    let ns = obj.namespace().unwrap_or_default();
    let first = Listed::new(&p.session);
    let cx = StepCtx {
        session: &p.session,
        observer: &first,
        owner: &p.owner,
        kube: &ctx.client,
        namespace: &ns,
    };
    let mut seen = observe::observe(&cx, &plan, polled.clone()).await?;
    // Writes over what exists are decided on recent evidence: when the listing that says a
    // resource is ours and drifted is older than the listing's write-evidence age, it is
    // walked again and the pass looks once more before writing.
    let targets = act::write_targets(&plan, &seen, p.session.subscription_id());
    let again;
    let cx = if p
        .session
        .refresh_evidence(&targets)
        .await
        .map_err(|e| Error::azure("read what is about to be written", e))?
    {
        again = Listed::new(&p.session);
        let cx = StepCtx {
            observer: &again,
            ..cx
        };
        seen = observe::observe(&cx, &plan, polled.clone()).await?;
        cx
    } else {
        cx
    };
    // An absence is confirmed by GET before the pass acts on it: what must exist already
    // before the condition says it is not there, what is about to be created before the PUT
    // (either may have been made since the listing was walked).
    let mut missing = observe::absences_to_report(&plan, &seen);
    missing.extend(act::creates_to_confirm(&plan, &seen));
    let mut confirmed = std::collections::BTreeSet::new();
    while !missing.is_empty() {
        let direct = PerResourceGet::new(&p.session);
        let confirming = StepCtx {
            observer: &direct,
            ..cx
        };
        observe::confirm(&confirming, &plan, &missing, &polled, &mut seen).await?;
        confirmed.append(&mut missing);
        // What a GET found there makes its dependents due: their absence is confirmed too.
        missing = act::creates_left_to_confirm(&plan, &seen, &confirmed);
    }
    act::record_failures(&plan, &mut seen, &holds);
    let policy = obj.scope().reconcile_policy;
    let found = drift::found(&plan, &seen, previous.azure(), policy);
    let (acted, sweep) = match policy {
        ReconcilePolicy::Manage => {
            let acted = act::put_ready(&cx, &plan, &mut seen, &holds, previous.azure()).await;
            // A conditional create that found the resource there wrote nothing: read what
            // is there now and decide as for any resource found (ours, someone else's, one
            // to use as it is) — the next pass acts on it.
            if !acted.existed.is_empty() {
                let direct = PerResourceGet::new(&p.session);
                let reading = StepCtx {
                    observer: &direct,
                    ..cx
                };
                observe::confirm(&reading, &plan, &acted.existed, &polled, &mut seen).await?;
            }
            let sweep = kind
                .sweep(
                    &p.session,
                    &p.owner,
                    obj,
                    Some(&p.resolved),
                    &plan,
                    &mut seen.operations,
                )
                .await
                .map_err(|e| Error::azure("remove resources the spec no longer has", e))?;
            (acted, sweep)
        }
        // Nothing is written: a drifted resource is reported by InSync and status.drift,
        // and counts as there for its part's condition (it exists and is provisioned).
        ReconcilePolicy::DetectOnly => {
            for f in &found {
                if seen.states.get(&f.key) == Some(&NodeState::Drifted) {
                    seen.states.insert(f.key.clone(), NodeState::Ready);
                }
            }
            (Acted::default(), Sweep::default())
        }
    };
    let pass = Pass {
        plan: &plan,
        seen: &seen,
        acted: &acted,
        sweep: &sweep,
        policy,
        found: &found,
    };
    let next = report(kind, obj, ctx, previous, &p, &pass).await?;
    Ok(next_visit::<K>(ctx, &next, &seen, &acted, &sweep))
}

/// What one pass saw and did, as its report needs it.
struct Pass<'a, P, X> {
    plan: &'a [Planned<P, X>],
    seen: &'a Observed,
    acted: &'a Acted,
    sweep: &'a Sweep,
    policy: ReconcilePolicy,
    found: &'a [drift::Found],
}

/// Validate, finalizer, references, credentials, names (written to status before the first
/// PUT).
async fn prepare<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
) -> Result<Prepared<K::Resolved>, Halt> {
    // Invalid specs stop here: a condition and an Event, no Azure call.
    if let Err(errors) = obj.validate() {
        let mut stop = Stop::new("InvalidSpec", errors.to_string(), RetryClass::InvalidSpec);
        stop.phase = Some(Phase::Failed);
        return Err(stop.into());
    }
    finalizer::ensure(&ctx.client, obj, K::IDENTITY.finalizer)
        .await
        .map_err(Halt::Fail)?;
    let resolved = kind.resolve(ctx, obj).await?;
    let session = open_session(ctx, obj).await?;
    let recorded = &previous.azure().azure_names;
    let names = kind.choose_names(&session, obj, recorded).await?;
    if *recorded != names {
        record_names::<K>(ctx, obj, previous, &names).await?;
    }
    Ok(Prepared {
        session,
        owner: K::IDENTITY.owner(obj),
        resolved,
        names,
    })
}

/// Writes the names to status before anything is created under them.
async fn record_names<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    previous: &K::Status,
    names: &BTreeMap<String, String>,
) -> Result<(), Halt> {
    let mut first = previous.clone();
    let shared = first.azure_mut();
    shared.azure_names = names.clone();
    shared.common.phase = Some(previous.azure().common.phase.unwrap_or(Phase::Provisioning));
    shared.common.observed_generation = obj.meta().generation;
    let id = K::IDENTITY;
    status::apply_status(&ctx.client, id.field_manager, obj, &first)
        .await
        .map_err(|e| {
            Halt::Fail(Error::kube(
                format!("write status of {}", id.object_key(obj)),
                e,
            ))
        })
}

/// Publishes the pass's Events, computes the status (the kind's pure report, then drift)
/// and writes it.
async fn report<K: Kind>(
    kind: &K,
    obj: &K::Object,
    ctx: &Context,
    previous: &K::Status,
    p: &Prepared<K::Resolved>,
    pass: &Pass<'_, K::Part, K::Extra>,
) -> Result<K::Status, Halt> {
    let (plan, seen, acted, sweep) = (pass.plan, pass.seen, pass.acted, pass.sweep);
    let (policy, found) = (pass.policy, pass.found);
    let mut notes = acted.notes.clone();
    notes.extend(drift::detected_note(policy, &previous.azure().drift, found));
    if !sweep.started.is_empty() {
        notes.push(Note {
            type_: EventType::Normal,
            reason: "ScalingDown",
            action: "Delete",
            message: format!("removing {}", crate::summary::names(&sweep.started)),
        });
    }
    status::publish::<K>(ctx, obj, notes).await;
    let scope = obj.scope();
    let steps = views(plan, seen, &scope.subscription_id);
    let azure = azop_api::v1alpha1::AzureStatus {
        common: Default::default(),
        azure_names: p.names.clone(),
        resources: report_resources(&steps),
        operations: seen.operations.clone(),
        // Filled by `with_drift` once the kind has reported.
        drift: Vec::new(),
    };
    let now = status::now();
    let mut next = kind.report(ReportInput {
        steps,
        removing: sweep.pending.clone(),
        azure,
        previous,
        generation: obj.meta().generation,
        scope,
        now: now.clone(),
    });
    with_drift(
        next.azure_mut(),
        previous.azure(),
        &drift::Assessed {
            policy,
            found,
            corrected: &acted.put,
        },
        obj.meta().generation,
        &now,
    );
    status::write::<K>(ctx, obj, previous, &next).await?;
    status::publish::<K>(ctx, obj, kind.notes(previous, &next)).await;
    Ok(next)
}

/// Adds what a pass found of drift to the status the kind reported (pure): `status.drift`,
/// the `InSync` condition after the parts, and under DetectOnly a `Ready` that says why
/// nothing is being provisioned.
pub fn with_drift(
    next: &mut AzureStatus,
    previous: &AzureStatus,
    assessed: &drift::Assessed<'_>,
    generation: Option<i64>,
    now: &Time,
) {
    drift::report(
        &mut next.common,
        &mut next.drift,
        (&previous.common, &previous.drift),
        assessed,
        generation,
        now,
    );
    if assessed.policy == ReconcilePolicy::DetectOnly {
        drift::detect_only_ready(&mut next.common.conditions, &mut next.common.phase);
    }
}

/// When to come back: the soonest of an operation's poll, a held retry, and a look at what
/// was just written; the resync when Running.
fn next_visit<K: Kind>(
    ctx: &Context,
    next: &K::Status,
    seen: &Observed,
    acted: &Acted,
    sweep: &Sweep,
) -> PassOutcome {
    let soonest = [
        // ARM's Retry-After, never sooner (see `operations::poll_or_requeue`).
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
    match soonest {
        Some(wait) => PassOutcome::Done(Action::requeue(wait.max(Duration::from_millis(500)))),
        None if next.azure().common.phase == Some(Phase::Running) => {
            PassOutcome::Done(Action::requeue(jittered(ctx.settings.resync)))
        }
        // Waiting on something not ours (a resource we do not own, a missing group): nothing
        // this pass can do; look again, backing off while it lasts.
        None => PassOutcome::Stopped {
            retry: RetryClass::Transient,
            floor: Duration::from_secs(10),
        },
    }
}

/// The resync, between 80 % and 100 % of it at random: objects created together (a GitOps
/// sync, a restart that reconciles everything) must not resync together forever after. Never
/// longer than the resync: every walk of a listing happens in some object's pass, and that
/// object comes back — and walks the type again, its listing being older than the listing's
/// age of 70 % of the resync — within one resync, so a change made outside azop is seen by a
/// walk, and its owner woken, within one resync (docs/scale.md, "Drift").
pub fn jittered(resync: Duration) -> Duration {
    use rand::Rng;
    resync.mul_f64(rand::rng().random_range(0.8..1.0))
}

/// The plan as the report sees it.
pub fn views<'a, P: Copy, X>(
    plan: &'a [Planned<P, X>],
    seen: &'a Observed,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resyncs_spread_over_a_fifth_of_the_interval_and_never_exceed_it() {
        let resync = Duration::from_secs(300);
        let waits: Vec<Duration> = (0..500).map(|_| jittered(resync)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(240) && *w < resync),
            "within 80–100 %"
        );
        let early = waits
            .iter()
            .filter(|w| **w < Duration::from_secs(270))
            .count();
        assert!(
            (150..=350).contains(&early),
            "about half in the first half: {early} of 500"
        );
        // The listing's age is below the shortest resync: every resync finds a listing walked
        // since the object's previous one, and walks again when it does not.
        let listing = azop_provider::ListingConfig::for_resync(resync);
        assert!(listing.max_age < Duration::from_secs(240));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 400, "spread, not a few fixed values");
    }
}
