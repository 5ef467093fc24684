//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never reconcile at once
//! (`--shards 1`, the default; `crate::shards` spreads the work over several Leases instead).
//!
//! The decision (create, renew, take over, wait) is a pure function of the Lease as read; the
//! write uses the Lease's resourceVersion, so of two replicas racing for an expired Lease exactly
//! one wins (the other gets 409 Conflict and waits).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How often the holder renews and a candidate retries.
    pub retry_period: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// No Lease exists: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Someone else held it and it expired (or was released): take it over.
    TakeOver,
    /// Someone else holds a valid Lease.
    Wait,
}

/// What to do given the Lease as read now. Pure.
pub fn decide(lease: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Action {
    let Some(spec) = lease else {
        return Action::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => Action::Renew,
        None | Some("") => Action::TakeOver,
        Some(_) => {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            let renewed = spec
                .renew_time
                .as_ref()
                .or(spec.acquire_time.as_ref())
                .map(|t| t.0);
            match renewed {
                Some(t) if t + SignedDuration::from_secs(duration) > now => Action::Wait,
                _ => Action::TakeOver,
            }
        }
    }
}

fn spec_for(cfg: &LeaderConfig, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
    let ours =
        previous.is_some_and(|p| p.holder_identity.as_deref() == Some(cfg.identity.as_str()));
    let keep_acquire = previous
        .filter(|_| ours)
        .and_then(|p| p.acquire_time.clone());
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    let is_transition = previous.is_some() && !ours;
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(i32::try_from(cfg.lease_duration.as_secs()).unwrap_or(15)),
        acquire_time: Some(keep_acquire.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if is_transition {
            transitions + 1
        } else {
            transitions
        }),
        ..LeaseSpec::default()
    }
}

/// What one attempt ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    Held,
    Waiting,
    /// Replicas running with `--shards` > 1 hold shard Leases of this group (who, which).
    BlockedByShards(String),
}

/// The replica holding a valid shard Lease of this group (`--shards` > 1, `crate::shards`),
/// if any: while one does, the single leader must not lead, or an object would have two
/// owners during an upgrade that changes `--shards`.
async fn shard_holder(api: &Api<Lease>, cfg: &LeaderConfig) -> kube::Result<Option<String>> {
    let selector = format!("{}={}", crate::shards::GROUP_LABEL, cfg.lease_name);
    match api.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => Ok(crate::shards::foreign_holder(
            &list.items,
            None,
            &cfg.identity,
            1,
            Timestamp::now(),
        )),
        // Without `list` on Leases no replica of this service account can have taken a
        // shard (the shard manager needs it): an older RBAC, nothing to wait for.
        Err(kube::Error::Api(e)) if e.code == 403 => {
            warn!(
                "cannot list Leases (grant list on leases, as the chart does): not checking for \
                 replicas running with --shards"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// One attempt: whether we hold the Lease afterwards. Taking it (not renewing) is checked
/// against the shard Leases before the write and again after it (write, then read: of a
/// leader and a sharded replica taking at once, at least one sees the other).
async fn try_acquire_or_renew(api: &Api<Lease>, cfg: &LeaderConfig) -> kube::Result<Attempt> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.lease_name).await?;
    let action = decide(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &cfg.identity,
        now,
    );
    let taking = matches!(action, Action::Create | Action::TakeOver);
    if taking && let Some(who) = shard_holder(api, cfg).await? {
        return Ok(Attempt::BlockedByShards(who));
    }
    let result = match (action, current) {
        (Action::Wait, _) => return Ok(Attempt::Waiting),
        (Action::Create, _) => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.lease_name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec_for(cfg, None, now)),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        (Action::Renew | Action::TakeOver, Some(mut lease)) => {
            lease.spec = Some(spec_for(cfg, lease.spec.as_ref(), now));
            // replace() carries metadata.resourceVersion: a concurrent writer makes this 409.
            api.replace(&cfg.lease_name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        (Action::Renew | Action::TakeOver, None) => return Ok(Attempt::Waiting),
    };
    match result {
        Ok(()) if taking => match shard_holder(api, cfg).await {
            Ok(None) => Ok(Attempt::Held),
            Ok(Some(who)) => {
                release(api, cfg).await;
                Ok(Attempt::BlockedByShards(who))
            }
            Err(e) => {
                release(api, cfg).await;
                Err(e)
            }
        },
        Ok(()) => Ok(Attempt::Held),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Waiting),
        Err(e) => Err(e),
    }
}

/// Why the election cannot work at all: retrying would only repeat the same refusal.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error(
        "the leader-election namespace {namespace:?} does not exist: create it \
         (kubectl create namespace {namespace}), point --leader-election-namespace at the \
         operator's own namespace, or run one replica with --leader-election=false"
    )]
    NamespaceMissing { namespace: String },
    #[error(
        "not allowed to use Lease {namespace}/{lease}: {message}. Grant get, list, create and \
         update on leases (coordination.k8s.io) in namespace {namespace} to the operator (the \
         azop-leader-election ClusterRole bound by a RoleBinding there, as config/rbac/ and the \
         Helm chart do)"
    )]
    Forbidden {
        namespace: String,
        lease: String,
        message: String,
    },
}

/// A refusal that will not go away by retrying, before we ever held the Lease. Pure.
pub fn fatal(cfg: &LeaderConfig, err: &kube::Error) -> Option<ElectionError> {
    let kube::Error::Api(status) = err else {
        return None;
    };
    match status.code {
        // A Lease GET answers 404 for a missing Lease too (get_opt turns that into None), so
        // a 404 that reaches here came from the create: the namespace is missing.
        404 => Some(ElectionError::NamespaceMissing {
            namespace: cfg.namespace.clone(),
        }),
        403 => Some(ElectionError::Forbidden {
            namespace: cfg.namespace.clone(),
            lease: cfg.lease_name.clone(),
            message: status.message.clone(),
        }),
        _ => None,
    }
}

/// Runs the election until `shutdown` fires. `leader` is set to true while we hold the Lease.
/// Losing a held Lease (renewals failing past the lease duration) sets it back to false; the
/// caller stops its controllers then, as a replica that may be partitioned must. A refusal
/// that retrying cannot fix (missing namespace, missing permission) before the first success
/// ends the election with an error instead of a warning every retry period.
pub async fn run(
    client: kube::Client,
    cfg: LeaderConfig,
    leader: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ElectionError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut last_renewal: Option<std::time::Instant> = None;
    let mut ever_succeeded = false;
    let mut blocked_logged = false;
    loop {
        let attempt = try_acquire_or_renew(&api, &cfg).await;
        if attempt.is_ok() {
            ever_succeeded = true;
        }
        let blocked = matches!(attempt, Ok(Attempt::BlockedByShards(_)));
        if let Ok(Attempt::BlockedByShards(who)) = &attempt
            && !blocked_logged
        {
            info!(
                held_by = %who,
                "replicas running with --shards hold shard Leases: not leading until they are released or expire"
            );
        }
        blocked_logged = blocked;
        match attempt {
            Ok(Attempt::Held) => {
                if !*leader.borrow() {
                    info!(identity = %cfg.identity, lease = %cfg.lease_name, "became leader");
                }
                last_renewal = Some(std::time::Instant::now());
                leader.send_replace(true);
            }
            Ok(Attempt::Waiting | Attempt::BlockedByShards(_)) => {
                if *leader.borrow() {
                    warn!(identity = %cfg.identity, "lost the lease to another replica");
                }
                leader.send_replace(false);
            }
            Err(e) => {
                if !ever_succeeded && let Some(fatal) = fatal(&cfg, &e) {
                    return Err(fatal);
                }
                warn!(error = %e, "leader election: lease update failed");
                let expired = last_renewal.is_none_or(|t| t.elapsed() >= cfg.lease_duration);
                if *leader.borrow() && expired {
                    warn!(
                        "leader election: could not renew within the lease duration; stepping down"
                    );
                    leader.send_replace(false);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.retry_period) => {}
            _ = shutdown.changed() => break,
        }
    }
    if *leader.borrow() {
        release(&api, &cfg).await;
        leader.send_replace(false);
    }
    Ok(())
}

/// Gives the Lease up on shutdown so the next replica does not wait for it to expire.
async fn release(api: &Api<Lease>, cfg: &LeaderConfig) {
    let Ok(Some(mut lease)) = api.get_opt(&cfg.lease_name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    spec.acquire_time = None;
    if let Err(e) = api
        .replace(&cfg.lease_name, &PostParams::default(), &lease)
        .await
    {
        warn!(error = %e, "failed to release the lease; the next leader waits for it to expire");
    } else {
        info!(identity = %cfg.identity, "released the lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(
                Timestamp::from_second(renewed).expect("valid timestamp"),
            )),
            ..LeaseSpec::default()
        }
    }

    fn now(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("valid timestamp")
    }

    #[test]
    fn absent_lease_is_created() {
        assert_eq!(decide(None, "a", now(0)), Action::Create);
    }

    #[test]
    fn own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&lease(Some("a"), 0, 15)), "a", now(100)),
            Action::Renew
        );
    }

    #[test]
    fn valid_foreign_lease_waits_and_expired_one_is_taken() {
        let l = lease(Some("b"), 100, 15);
        assert_eq!(decide(Some(&l), "a", now(110)), Action::Wait);
        assert_eq!(decide(Some(&l), "a", now(116)), Action::TakeOver);
    }

    #[test]
    fn released_lease_is_taken_at_once() {
        let mut l = lease(None, 100, 15);
        l.renew_time = None;
        assert_eq!(decide(Some(&l), "a", now(101)), Action::TakeOver);
    }

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, "x")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn missing_namespace_and_missing_permission_are_fatal_with_a_fix() {
        let cfg = LeaderConfig {
            namespace: "azop-system".into(),
            lease_name: "azop-leader".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(3),
        };
        let missing = fatal(
            &cfg,
            &api_error(404, "namespaces \"azop-system\" not found"),
        )
        .expect("404 is fatal");
        assert!(
            missing
                .to_string()
                .contains("kubectl create namespace azop-system")
        );
        let forbidden = fatal(&cfg, &api_error(403, "leases is forbidden")).expect("403 is fatal");
        let text = forbidden.to_string();
        assert!(text.contains("leases is forbidden") && text.contains("azop-leader-election"));
        assert!(fatal(&cfg, &api_error(500, "etcd timeout")).is_none());
        assert!(fatal(&cfg, &api_error(409, "conflict")).is_none());
    }

    #[test]
    fn transitions_count_only_changes_of_holder() {
        let cfg = LeaderConfig {
            namespace: "ns".into(),
            lease_name: "l".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        };
        let mut held = lease(Some("a"), 0, 15);
        held.lease_transitions = Some(3);
        assert_eq!(
            spec_for(&cfg, Some(&held), now(5)).lease_transitions,
            Some(3)
        );
        let mut foreign = lease(Some("b"), 0, 15);
        foreign.lease_transitions = Some(3);
        assert_eq!(
            spec_for(&cfg, Some(&foreign), now(50)).lease_transitions,
            Some(4)
        );
    }
}
