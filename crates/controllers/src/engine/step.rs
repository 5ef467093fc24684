//! One node of a plan, type-erased so a graph can hold every kind of step.
//!
//! A [`ResourceStep`] is a provider resource: it observes through the [`Observer`] (the
//! subscription's shared listing, [`Listed`]), keeping the raw JSON for status (ids, addresses, provisioning states), and writes
//! only through the provider's pure `desired`/`diff` and its PUT/DELETE calls. A custom step
//! (a VHD copy, a credentials read, a Secret written to Kubernetes) implements [`Step`]
//! itself, with the same contract: observe without side effects, put and delete idempotently,
//! hand back an operation handle instead of waiting. What a write needs from Azure comes to
//! it as the pass's [`Observation`] of the step (and, for another resource, the observer's
//! answer of this pass), never from state the step kept. The engine reads every step once,
//! then writes only the steps the graph says to — so a steady-state resync is reads only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azop_provider::resources::{self, ArmResource};
use azop_provider::{ArmSession, AzureError, Difference, LroHandle, Owner, RawResponse};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::error::Error;
use crate::retry::Failure;

/// Where observations come from: the subscription's shared listing ([`Listed`]), or a GET
/// per resource ([`PerResourceGet`]). Steps read only through it.
#[async_trait]
pub trait Observer: Send + Sync {
    /// The resource at `path`, or `None` when it (or its resource group) does not exist.
    async fn get(&self, path: &str, api_version: &str) -> Result<Option<RawResponse>, AzureError>;
}

type GetResult = Result<Option<RawResponse>, AzureError>;

/// At most one answer per resource per pass: steps that read the same resource (an AKS pool
/// reads its cluster's version, a kubeconfig Secret its cluster's eTag) share it. One is
/// made per pass, so nothing is carried across passes.
#[derive(Default)]
struct Memo {
    seen: Mutex<HashMap<String, Arc<OnceCell<GetResult>>>>,
}

impl Memo {
    fn cell(&self, path: &str, api_version: &str) -> Arc<OnceCell<GetResult>> {
        let key = format!("{}?{api_version}", path.to_ascii_lowercase());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.entry(key).or_default().clone()
    }
}

/// The observer of every pass: the subscription's shared listing through the session
/// ([`ArmSession::observe`]: one paged LIST per type for every object, GETs only for what a
/// listing does not answer), once per resource per pass.
pub struct Listed<'a> {
    session: &'a ArmSession,
    memo: Memo,
    /// A deletion's reads: what azop deleted and no walk has confirmed yet is not waited
    /// for ([`ArmSession::observe_deferring`]; [`awaiting_walk`]).
    deleting: bool,
    awaiting: Awaiting,
}

impl<'a> Listed<'a> {
    pub fn new(session: &'a ArmSession) -> Self {
        Listed {
            session,
            memo: Memo::default(),
            deleting: false,
            awaiting: Awaiting::default(),
        }
    }

    /// When the walks some reads of this pass await should be in (the soonest), if any.
    pub fn awaiting_walk(&self) -> Option<Duration> {
        self.awaiting.soonest()
    }

    /// The reads of a delete pass: a resource azop deleted whose confirming walk has not
    /// happened yet counts as still being deleted, at once, instead of the pass waiting for
    /// the walk while it holds one of the controller's slots. The walk happens in the
    /// background and wakes the object.
    pub fn for_deletion(session: &'a ArmSession) -> Self {
        Listed {
            deleting: true,
            ..Listed::new(session)
        }
    }
}

#[async_trait]
impl Observer for Listed<'_> {
    async fn get(&self, path: &str, api_version: &str) -> Result<Option<RawResponse>, AzureError> {
        self.memo
            .cell(path, api_version)
            .get_or_init(|| async {
                if self.deleting {
                    self.awaiting
                        .note(self.session.observe_deferring(path, api_version).await)
                } else {
                    self.session.observe(path, api_version).await
                }
            })
            .await
            .clone()
    }
}

/// The reads of a pass that await a walk ([`AzureError::AwaitingWalk`]): the soonest it
/// should be in.
#[derive(Default)]
struct Awaiting(Mutex<Option<Duration>>);

impl Awaiting {
    fn note(&self, read: GetResult) -> GetResult {
        if let Err(AzureError::AwaitingWalk { ready_in, .. }) = &read {
            let mut soonest = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *soonest = Some(soonest.map_or(*ready_in, |s| s.min(*ready_in)));
        }
        read
    }

    fn soonest(&self) -> Option<Duration> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A step's read that found a resource azop deleted whose confirming walk is still to come
/// ([`AzureError::AwaitingWalk`]) is not a failure: the resource is still being deleted, as
/// far as the pass may tell — present and ours (so what depends on it waits, nothing is
/// deleted twice, and the object is not let go) — and the pass looks again when the walk
/// wakes it, or when the observer's `awaiting_walk` says. Other results pass through.
pub fn awaiting_walk(read: Result<Observation, StepError>) -> Result<Observation, StepError> {
    match read {
        Err(StepError::Azure(AzureError::AwaitingWalk { .. })) => Ok(Observation {
            exists: true,
            owned: true,
            provisioning_state: Some("Deleting".to_string()),
            ..Observation::default()
        }),
        other => other,
    }
}

/// A GET per resource, once per pass, through the session's throttle: for confirming reads
/// and for tools and tests that must see ARM as it is this instant. The subscription's
/// listing keeps what each GET answered ([`ArmSession::confirm`]).
pub struct PerResourceGet<'a> {
    session: &'a ArmSession,
    memo: Memo,
    /// A deletion's confirmations: what azop itself deleted is confirmed gone by a walk of
    /// its type that started after the delete, not waited for
    /// ([`ArmSession::confirm_deleted_deferring`]).
    deleting: bool,
    awaiting: Awaiting,
}

impl<'a> PerResourceGet<'a> {
    pub fn new(session: &'a ArmSession) -> Self {
        PerResourceGet {
            session,
            memo: Memo::default(),
            deleting: false,
            awaiting: Awaiting::default(),
        }
    }

    /// When the walks some confirmations of this pass await should be in, if any.
    pub fn awaiting_walk(&self) -> Option<Duration> {
        self.awaiting.soonest()
    }

    /// The confirming reads of a delete pass: a GET each, except that a resource azop
    /// deleted is confirmed gone from a walk of its type that started after its delete was
    /// answered (or its operation ended) — one walk for every resource so deleted, instead
    /// of a GET answered 404 each.
    pub fn for_deletion(session: &'a ArmSession) -> Self {
        PerResourceGet {
            deleting: true,
            ..PerResourceGet::new(session)
        }
    }
}

#[async_trait]
impl Observer for PerResourceGet<'_> {
    async fn get(&self, path: &str, api_version: &str) -> Result<Option<RawResponse>, AzureError> {
        self.memo
            .cell(path, api_version)
            .get_or_init(|| async {
                if self.deleting {
                    self.awaiting.note(
                        self.session
                            .confirm_deleted_deferring(path, api_version)
                            .await,
                    )
                } else {
                    self.session.confirm(path, api_version).await
                }
            })
            .await
            .clone()
    }
}

/// What a step may use: Azure (reads through the observer, writes through the session) and
/// Kubernetes (for custom steps that read or write objects in the object's namespace).
pub struct StepCtx<'a> {
    pub session: &'a ArmSession,
    pub observer: &'a dyn Observer,
    pub owner: &'a Owner,
    pub kube: &'a kube::Client,
    pub namespace: &'a str,
}

/// A step's failure: Azure's (classified by the provider's one table), Kubernetes', or a
/// custom step's own.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Azure(#[from] AzureError),
    #[error("failed to {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// The step cannot write as the spec (or what the user keeps) stands: bootstrap data
    /// over Azure's size limit, a CA Secret that is not a CA.
    #[error("{message}")]
    InvalidSpec { message: String },
    /// The step cannot write yet: something it needs is not there (the endpoint's address,
    /// a workload cluster that answers for a fresh join token).
    #[error("{message}")]
    NotReady { message: String },
    /// A conditional create found the resource there (ARM answered 412 to `If-None-Match:
    /// *`): made since the pass looked. Nothing was written; the pass reads it and decides
    /// as for any resource it finds (ours, not ours, one to use as it is).
    #[error("a resource of that name was made since it was last read; nothing was written")]
    Exists,
    /// The step's own check failed, typed where it is learnt (class, code, message, retry):
    /// AKS answered a kubeconfig kubectl cannot load. Decisions read its class and code.
    #[error("{0}")]
    Failed(Failure),
}

impl StepError {
    /// The failure, typed, as holds keep it and conditions show it.
    pub fn failure(&self) -> Failure {
        match self {
            StepError::Azure(e) => Failure::azure(e),
            StepError::Kube { .. } | StepError::NotReady { .. } | StepError::Exists => {
                Failure::transient(self.to_string())
            }
            StepError::InvalidSpec { message } => Failure::invalid(None, message.clone()),
            StepError::Failed(f) => f.clone(),
        }
    }

    /// The controllers' error, with what was being done.
    pub fn into_error(self, action: impl Into<String>) -> Error {
        match self {
            StepError::Azure(e) => Error::azure(action, e),
            StepError::Kube { action: a, source } => Error::Kube {
                action: format!("{}: {a}", action.into()),
                source,
            },
            StepError::InvalidSpec { message } => Error::InvalidSpec {
                message: format!("{}: {message}", action.into()),
            },
            StepError::NotReady { message } => Error::MissingReference {
                message: format!("{}: {message}", action.into()),
            },
            StepError::Exists => Error::Failed {
                action: action.into(),
                failure: Failure::transient(StepError::Exists.to_string()),
            },
            StepError::Failed(failure) => Error::Failed {
                action: action.into(),
                failure,
            },
        }
    }
}

/// What one GET found.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub exists: bool,
    /// Carries this object's `azop.dev_uid` tag.
    pub owned: bool,
    pub provisioning_state: Option<String>,
    /// Managed properties that differ from the spec (empty when absent or not owned).
    pub drift: Vec<Difference>,
    /// The resource as ARM returned it.
    pub raw: Option<Value>,
    /// Work under way that is not an ARM operation (a blob copy): look again after this long.
    pub poll_after: Option<std::time::Duration>,
    /// Why a failed resource failed, when the step knows more than `provisioningState is
    /// Failed` (a copy's status description, a VHD that is not fixed), and how its retry is
    /// held.
    pub failure: Option<Failure>,
}

/// Nothing there: what a step not read this pass counts as.
pub static ABSENT: Observation = Observation {
    exists: false,
    owned: false,
    provisioning_state: None,
    drift: Vec::new(),
    raw: None,
    poll_after: None,
    failure: None,
};

impl Observation {
    /// A resource that exists, as ARM returned it (`raw`): its provisioning state read from
    /// it, `drift` when it is ours.
    pub fn found(owned: bool, drift: Vec<Difference>, raw: Option<Value>) -> Self {
        Observation {
            exists: true,
            owned,
            provisioning_state: raw.as_ref().and_then(provisioning_state),
            drift,
            raw,
            poll_after: None,
            failure: None,
        }
    }

    /// The raw resource read back into the provider's typed model (what a write that depends
    /// on what runs is computed from). `None` when absent or unreadable.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.raw
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Provisioned: no state means Succeeded, as in ARM.
    pub fn succeeded(&self) -> bool {
        self.exists
            && self
                .provisioning_state
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
    }

    pub fn failed(&self) -> bool {
        self.provisioning_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled"))
    }

    /// A string at a JSON pointer of the raw resource, e.g. `/properties/ipAddress`.
    pub fn str_at(&self, pointer: &str) -> Option<String> {
        self.raw
            .as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

#[async_trait]
pub trait Step: Send + Sync {
    /// ARM type, e.g. `Microsoft.Network/virtualNetworks` (a custom step names what it makes).
    fn resource_type(&self) -> &'static str;
    fn name(&self) -> &str;
    /// The ARM id (path) in `subscription_id`; operations are matched to steps by it.
    fn id(&self, subscription_id: &str) -> String;
    /// The body a write would send, as JSON (pure). For tests and diagnostics; a custom step
    /// without one returns `None`.
    fn desired(&self, _owner: &Owner) -> Option<Value> {
        None
    }
    /// Whether a create of this step is conditional (`If-None-Match: *`, ARM answers 412 and
    /// writes nothing when the resource exists): then the pass sends it without confirming
    /// the absence by GET first, and its [`Step::put`] answers [`StepError::Exists`] when
    /// something was there. Default: no (the absence is confirmed by GET).
    fn creates_conditionally(&self) -> bool {
        false
    }
    /// What exists now. No side effects.
    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError>;
    /// Create or update to the desired state, given what this pass observed of the step.
    /// `Some(handle)` when an operation is under way.
    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError>;
    /// Delete. The engine calls it only after this pass observed the step as ours (`seen`).
    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError>;
    /// Remove this object's ownership marks and change nothing else (`deletionPolicy:
    /// Orphan`). The engine calls it only after this pass observed the step as ours. Default:
    /// the Tags API on [`Step::id`] (a tracked ARM resource); a step whose marks are elsewhere
    /// (a blob's metadata, a Secret's owner reference) or that has none overrides it.
    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        let id = self.id(cx.session.subscription_id());
        Ok(resources::remove_ownership_tags(cx.session, &id, cx.owner).await?)
    }
}

/// A provider resource module with its key and spec.
pub struct ResourceStep<R: ArmResource> {
    pub name: String,
    pub key: R::Key,
    pub spec: R::Spec,
}

impl<R: ArmResource> ResourceStep<R> {
    pub fn new(name: impl Into<String>, key: R::Key, spec: R::Spec) -> Self {
        ResourceStep {
            name: name.into(),
            key,
            spec,
        }
    }
}

fn provisioning_state(raw: &Value) -> Option<String> {
    raw.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[async_trait]
impl<R: ArmResource> Step for ResourceStep<R>
where
    R::Spec: 'static,
    R::Key: 'static,
{
    fn resource_type(&self) -> &'static str {
        R::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self, subscription_id: &str) -> String {
        R::path(subscription_id, &self.key)
    }

    fn desired(&self, owner: &Owner) -> Option<Value> {
        serde_json::to_value(R::desired(&self.key, &self.spec, owner)).ok()
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let path = R::path(cx.session.subscription_id(), &self.key);
        let Some(resp) = cx.observer.get(&path, R::API_VERSION).await? else {
            return Ok(Observation::default());
        };
        let typed: R::Observed = resp.parse(R::RESOURCE_TYPE)?;
        let raw = resp.json();
        let owned = cx.owner.owns(R::owner_uid(&typed).as_deref());
        let drift = if owned {
            R::diff(&R::desired(&self.key, &self.spec, cx.owner), &typed)
        } else {
            Vec::new()
        };
        Ok(Observation::found(owned, drift, raw))
    }

    fn creates_conditionally(&self) -> bool {
        R::CREATE_ONLY
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        if seen.exists {
            return Ok(
                resources::put_desired::<R>(cx.session, &self.key, &self.spec, cx.owner).await?,
            );
        }
        create::<R>(cx, &self.key, &self.spec).await
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::delete_observed::<R>(cx.session, &self.key).await?)
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(resources::disown::<R>(cx.session, &self.key, cx.owner).await?)
    }
}

/// Creates a resource the pass found absent: conditionally where ARM honours it
/// ([`resources::create_desired`]), a 412 becoming [`StepError::Exists`].
pub async fn create<R: ArmResource>(
    cx: &StepCtx<'_>,
    key: &R::Key,
    spec: &R::Spec,
) -> Result<Option<LroHandle>, StepError> {
    match resources::create_desired::<R>(cx.session, key, spec, cx.owner).await? {
        resources::Created::Started(handle) => Ok(handle),
        resources::Created::Exists => Err(StepError::Exists),
    }
}
