//! ARM operations in flight: recorded in status (so a restarted operator resumes them),
//! polled once per reconcile, never awaited.

use std::collections::BTreeMap;
use std::time::Duration;

use azop_api::v1alpha1::{ArmAction, ArmOperation, AzureStatus};
use azop_provider::{ArmSession, AzureError, LroHandle, LroKind, PollOutcome};
use futures::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;

use super::PARALLEL_CALLS;
use crate::retry::Failure;

/// What polling the recorded operations found.
#[derive(Clone)]
pub struct Polled {
    /// Still running: kept in status.
    pub running: Vec<ArmOperation>,
    /// Azure's error, by lower-case resource id, for operations that ended Failed.
    pub failures: BTreeMap<String, Failure>,
    /// Shortest Retry-After among the running ones.
    pub next_poll: Option<Duration>,
}

pub fn to_handle(op: &ArmOperation) -> LroHandle {
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

pub fn from_handle(h: &LroHandle) -> ArmOperation {
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

/// Polls every recorded operation once.
pub async fn poll(session: &ArmSession, ops: &[ArmOperation]) -> Polled {
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
                failures.insert(op.resource_id.to_ascii_lowercase(), Failure::operation(&e));
            }
            // The operation URL is gone (Azure forgets operations), or the operation outlived
            // its deadline: it is dropped, and this pass re-reads the resource, whose state
            // tells the rest (Succeeded, Failed, still provisioning, or absent).
            Ok(PollOutcome::Gone) => {
                tracing::info!(url = %op.url, resource = %op.resource_id, "operation gone (404); re-reading the resource");
            }
            Ok(PollOutcome::Expired) => {
                tracing::warn!(url = %op.url, resource = %op.resource_id, "operation past its deadline; dropped, re-reading the resource");
            }
            Err(e) => {
                tracing::debug!(url = %op.url, error = %e, "could not poll an operation; keeping it");
                next = Some(next.map_or(Duration::from_secs(5), |n| n.min(Duration::from_secs(5))));
                running.push(op);
            }
        }
    }
    Polled {
        running,
        failures,
        next_poll: next,
    }
}

/// When every recorded operation is still running, nothing else can have changed that a
/// full pass would act on: dependencies become Ready only when an operation ends, the spec is
/// the one already observed, and no retry hold is due. Then the reconcile polls only and comes
/// back at the operations' Retry-After, instead of re-reading every resource. Pure.
pub fn poll_only_wait(
    previous: &AzureStatus,
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

/// Polls the recorded operations once. `Err(requeue)` when every one is still running and
/// nothing else could have changed ([`poll_only_wait`]): the pass ends there.
pub async fn poll_or_requeue(
    session: &ArmSession,
    previous: &AzureStatus,
    generation: Option<i64>,
    any_hold: bool,
    max_poll: Duration,
) -> Result<Polled, Action> {
    let polled = poll(session, &previous.operations).await;
    match poll_only_wait(previous, generation, &polled, any_hold) {
        Some(wait) => Err(Action::requeue(
            wait.clamp(Duration::from_millis(500), max_poll),
        )),
        None => Ok(polled),
    }
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

    fn status_with(ops: Vec<ArmOperation>, generation: i64) -> AzureStatus {
        let mut s = AzureStatus {
            operations: ops,
            ..AzureStatus::default()
        };
        s.common.observed_generation = Some(generation);
        s
    }

    fn polled(running: Vec<ArmOperation>, failed: &[&str]) -> Polled {
        Polled {
            running,
            failures: failed
                .iter()
                .map(|f| (f.to_string(), Failure::transient("Failed")))
                .collect(),
            next_poll: Some(Duration::from_secs(7)),
        }
    }

    #[test]
    fn a_handle_survives_the_round_trip_through_status() {
        let h = LroHandle {
            url: "https://arm/op/1".into(),
            kind: LroKind::Location,
            resource_id: "/subscriptions/s/resourceGroups/rg".into(),
            method: "DELETE".into(),
            started_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("ts"),
            deadline: time::OffsetDateTime::from_unix_timestamp(1_700_003_600).expect("ts"),
        };
        let op = from_handle(&h);
        assert_eq!(op.action, ArmAction::Delete);
        assert_eq!(to_handle(&op), h);
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
