//! Writing status: once per pass, by server-side apply with the controller's field manager,
//! and an Event for every condition that flips.

use std::fmt::Debug;

use azop_api::v1alpha1::{HasAzureStatus, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Kind, Stop};
use crate::conditions::{self, Cond, Status};
use crate::context::Context;
use crate::error::Error;
use crate::events;

/// An Event a pass asks for (published after its writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Applies `status` to `obj` with the controller's field manager. Forced: the controller is the
/// only writer of status, so a conflict can only come from an older version of itself.
pub async fn apply_status<K, S>(
    client: &kube::Client,
    manager: &str,
    obj: &K,
    status: &S,
) -> kube::Result<()>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Conditions whose status differs from before, for Events. Pure.
pub fn transitions<'a>(previous: &[Condition], current: &'a [Condition]) -> Vec<&'a Condition> {
    current
        .iter()
        .filter(|c| {
            previous
                .iter()
                .find(|p| p.type_ == c.type_)
                .is_none_or(|p| p.status != c.status)
        })
        .collect()
}

/// Publishes the pass's Events as the controller.
pub async fn publish<K: Kind>(ctx: &Context, obj: &K::Object, notes: Vec<Note>) {
    for n in notes {
        events::publish(
            ctx,
            K::IDENTITY.reporter,
            obj,
            n.type_,
            n.reason,
            n.action,
            n.message,
        )
        .await;
    }
}

/// Writes `next` unless it equals `previous`, and emits an Event per condition that flipped.
pub async fn write<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    previous: &K::Status,
    next: &K::Status,
) -> Result<(), Error> {
    if next == previous {
        return Ok(());
    }
    let id = K::IDENTITY;
    apply_status(&ctx.client, id.field_manager, obj, next)
        .await
        .map_err(|e| Error::kube(format!("write status of {}", id.object_key(obj)), e))?;
    for c in transitions(
        &previous.azure().common.conditions,
        &next.azure().common.conditions,
    ) {
        let (type_, action) = if c.status == "True" {
            (EventType::Normal, "Ready")
        } else {
            (EventType::Warning, "NotReady")
        };
        let note = format!("{} is {}: {}", c.type_, c.status, c.message);
        events::publish(ctx, id.reporter, obj, type_, &c.reason, action, note).await;
    }
    Ok(())
}

/// The status of a pass stopped before any write: `Ready=False` with the stop's reason and
/// message, the part conditions kept as they were. Pure.
pub fn stopped_status<S: HasAzureStatus + Clone>(
    previous: &S,
    generation: Option<i64>,
    stop: &Stop,
    now: &Time,
) -> S {
    let before = previous.azure();
    let mut observations = vec![Cond::new(
        "Ready",
        Status::False,
        stop.reason,
        &stop.message,
    )];
    observations.extend(
        before
            .common
            .conditions
            .iter()
            .filter(|c| c.type_ != "Ready")
            .map(Cond::from_condition),
    );
    let mut next = previous.clone();
    let common = &mut next.azure_mut().common;
    common.conditions =
        conditions::merge(&before.common.conditions, &observations, generation, now);
    common.observed_generation = generation;
    common.phase = Some(stop.phase.unwrap_or(match before.common.phase {
        Some(Phase::Running | Phase::Updating) => Phase::Updating,
        Some(Phase::Failed) | None => Phase::Pending,
        Some(p) => p,
    }));
    next
}

/// Reports a pass stopped before any write, with a Warning Event when `Ready` stays False
/// but for a new reason (a flip already has its own Event).
pub async fn report_stop<K: Kind>(
    ctx: &Context,
    obj: &K::Object,
    previous: &K::Status,
    stop: &Stop,
) -> Result<(), Error> {
    let next = stopped_status(previous, obj.meta().generation, stop, &now());
    write::<K>(ctx, obj, previous, &next).await?;
    let ready = previous
        .azure()
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready");
    if let Some(c) = ready
        && c.status == "False"
        && (c.message != stop.message || c.reason != stop.reason)
    {
        events::publish(
            ctx,
            K::IDENTITY.reporter,
            obj,
            EventType::Warning,
            stop.reason,
            "Reconcile",
            stop.message.clone(),
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryClass;
    use crate::testing::{at, condition, status_in};

    #[test]
    fn a_stopped_pass_explains_itself_in_ready_and_keeps_the_parts() {
        let table: Vec<(Option<Phase>, Option<Phase>, Phase)> = vec![
            (None, None, Phase::Pending),
            (Some(Phase::Provisioning), None, Phase::Provisioning),
            (Some(Phase::Running), None, Phase::Updating),
            (Some(Phase::Updating), None, Phase::Updating),
            (Some(Phase::Failed), None, Phase::Pending),
            // An invalid spec says Failed whatever came before.
            (Some(Phase::Running), Some(Phase::Failed), Phase::Failed),
        ];
        for (before, asked, want) in table {
            let mut previous = status_in(
                Phase::Running,
                vec![
                    condition("Ready", "True", "Ready"),
                    condition("NetworkReady", "True", "Ready"),
                ],
            );
            previous.azure.common.phase = before;
            let mut stop = Stop::new(
                "MissingReference",
                "Secret ns/creds does not exist",
                RetryClass::WaitForReference,
            );
            stop.phase = asked;
            let next = stopped_status(&previous, Some(2), &stop, &at(5_000));
            assert_eq!(next.azure.common.phase, Some(want), "{before:?} {asked:?}");
            assert_eq!(next.azure.common.observed_generation, Some(2));
            let ready = &next.azure.common.conditions[0];
            assert_eq!(
                (
                    ready.type_.as_str(),
                    ready.status.as_str(),
                    ready.reason.as_str()
                ),
                ("Ready", "False", "MissingReference")
            );
            assert_eq!(ready.last_transition_time, at(5_000));
            let network = &next.azure.common.conditions[1];
            assert_eq!(
                (
                    network.status.as_str(),
                    network.last_transition_time.clone()
                ),
                ("True", at(1_000))
            );
        }
    }

    #[test]
    fn only_flipped_conditions_make_events() {
        let before = vec![
            condition("Ready", "False", "Provisioning"),
            condition("NetworkReady", "True", "Ready"),
        ];
        let after = vec![
            condition("Ready", "True", "Ready"),
            condition("NetworkReady", "True", "Ready"),
            condition("WorkersReady", "True", "Ready"),
        ];
        let flipped: Vec<&str> = transitions(&before, &after)
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(flipped, vec!["Ready", "WorkersReady"]);
    }
}
