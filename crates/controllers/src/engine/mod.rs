//! The reconcile engine every Azure-backed kind runs on.
//!
//! A kind supplies a [`Kind`]: its [`Identity`], how to validate and resolve an object, a pure
//! `plan` (a dependency graph of [`Planned`] steps) and a pure `report` (status from what the
//! pass saw). The engine does the rest, the same way for every kind, and never waits for Azure:
//!
//! 1. **observe** ([`observe`]): poll each recorded operation once, read every step once
//!    through the [`Observer`] (8 at a time), turn each into a graph state;
//! 2. **act** ([`act`]): PUT what the graph allows now, in parallel, except steps held after
//!    a failed write ([`holds`]); a PUT that starts an operation is recorded and polled by
//!    requeue;
//! 3. **delete** ([`delete`]): the graph in reverse, in parallel where independent, with the
//!    same holds for refused DELETEs, only what this pass saw with our uid tag, a container
//!    (resource group) last and only when it holds nothing foreign; with `deletionPolicy:
//!    Orphan` ([`orphan`]) nothing is deleted: only azop's ownership marks are removed;
//! 4. **status** ([`status`]): written once by server-side apply, an Event per condition that
//!    flips.
//!
//! Per-object backoff ([`settle`]) grows while a pass is blocked and resets only when a
//! pass gets through.

pub mod act;
pub mod apply;
pub mod delete;
pub mod graph;
pub mod holds;
pub mod identity;
pub mod observe;
pub mod operations;
pub mod orphan;
pub mod plan;
pub mod settle;
pub mod status;
pub mod step;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::v1alpha1::{ArmOperation, AzureScope, AzureStatus};
use azop_provider::{ArmSession, AzureError, Owner};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::runtime::controller::Action;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use graph::NodeState;
pub use identity::Identity;
pub use plan::{Ownership, Planned, StepView};
pub use settle::Verdict;
pub use step::{Observation, Observer, PerResourceGet, ResourceStep, Step, StepCtx, StepError};

use crate::backoff::RetryClass;
use crate::context::Context;
use crate::error::Error;

/// Parallel ARM calls within one reconcile.
pub const PARALLEL_CALLS: usize = 8;

/// Something that stops a pass before any write (a static-placement check that failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// The `Ready` condition's reason.
    pub reason: &'static str,
    pub message: String,
    pub retry: RetryClass,
    /// The shortest wait before looking again.
    pub floor: Duration,
}

/// Resources of the object that the plan no longer has, found by listing (a scale-down).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Deletes started this pass (`type name`).
    pub started: Vec<String>,
    /// Still going away (started earlier, or waiting for something).
    pub pending: Vec<String>,
}

/// What a kind's `report` gets: the plan as seen this pass, and the shared status the engine
/// already filled (names, resources, operations).
pub struct ReportInput<'a, K: Kind + ?Sized> {
    pub steps: Vec<StepView<'a, K::Part, K::Extra>>,
    /// Resources being removed that the plan no longer has.
    pub removing: Vec<String>,
    /// `azureNames`, `resources` and `operations` for the new status; conditions and phase
    /// are the report's to fill.
    pub azure: AzureStatus,
    pub previous: &'a K::Status,
    pub generation: Option<i64>,
    pub scope: &'a AzureScope,
    pub now: Time,
}

/// One Azure-backed kind: what the engine needs to know about it. Everything here is either
/// pure or a read at the edge (references in Kubernetes, a read-only check in Azure).
#[async_trait]
pub trait Kind: Send + Sync + 'static {
    type Object: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static;
    type Status: Clone + PartialEq + Default + Serialize + Send + Sync + 'static;
    /// What `resolve` read (an image id, bootstrap data).
    type Resolved: Send + Sync;
    /// The condition a step reports under.
    type Part: Copy + Eq + Send + Sync + 'static;
    /// Per-step data the report needs (a machine's role and zone).
    type Extra: Send + Sync + 'static;

    const IDENTITY: Identity;

    fn scope(obj: &Self::Object) -> &AzureScope;
    /// The object's current status (default when it has none).
    fn status(obj: &Self::Object) -> Self::Status;
    fn azure(status: &Self::Status) -> &AzureStatus;
    fn azure_mut(status: &mut Self::Status) -> &mut AzureStatus;

    /// The same rules as the CRD's schema and CEL. `Err(message)` stops the pass: no Azure call.
    fn validate(obj: &Self::Object) -> Result<(), String>;
    /// References in Kubernetes the plan needs (Secrets, other azop objects).
    async fn resolve(ctx: &Context, obj: &Self::Object) -> Result<Self::Resolved, Error>;
    /// Azure names by role, fixed in status before the first PUT.
    fn names(obj: &Self::Object) -> BTreeMap<String, String>;
    /// The names for this pass, when choosing them needs Azure (a storage account name is
    /// global: `checkNameAvailability` first). `recorded` is what status already holds; once a
    /// name is there it must be kept. Default: [`Kind::names`].
    async fn choose_names(
        _session: &ArmSession,
        obj: &Self::Object,
        _recorded: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        Ok(Self::names(obj))
    }
    /// A check before a deletion touches Azure (a StorageBinding whose image clusters still
    /// boot from). `Some` holds the deletion, with the blocker's reason and message.
    async fn delete_precheck(
        _ctx: &Context,
        _obj: &Self::Object,
    ) -> Result<Option<Blocker>, Error> {
        Ok(None)
    }
    /// A read-only check before anything is written. `Some` stops the pass.
    async fn precheck(
        _session: &ArmSession,
        _obj: &Self::Object,
    ) -> Result<Option<Blocker>, Error> {
        Ok(None)
    }
    /// What the plan needs to read from Azure besides the spec, after the precheck and the
    /// poll (the machines a pool has now, for a rolling replacement), kept in `resolved`.
    /// Default: nothing.
    async fn survey(
        _ctx: &Context,
        _session: &ArmSession,
        _owner: &Owner,
        _obj: &Self::Object,
        _resolved: &mut Self::Resolved,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// The graph (pure). `resolved` is `None` while deleting: only keys and ids matter then.
    /// `names`: the names of this pass (while deleting, those status recorded).
    fn plan(
        obj: &Self::Object,
        resolved: Option<&Self::Resolved>,
        names: &BTreeMap<String, String>,
    ) -> Vec<Planned<Self::Part, Self::Extra>>;
    /// Removes owned resources the plan no longer has (found by listing, so a resource whose
    /// PUT went out just before a crash is still found). Runs in both passes; `resolved` is
    /// `None` while deleting.
    async fn sweep(
        _session: &ArmSession,
        _owner: &Owner,
        _obj: &Self::Object,
        _resolved: Option<&Self::Resolved>,
        _plan: &[Planned<Self::Part, Self::Extra>],
        _operations: &mut Vec<ArmOperation>,
    ) -> Result<Sweep, AzureError> {
        Ok(Sweep::default())
    }
    /// The status to write (pure).
    fn report(input: ReportInput<'_, Self>) -> Self::Status;
    /// Events for what changed between two statuses beyond conditions (a copy's progress).
    /// Pure; default none.
    fn notes(_previous: &Self::Status, _next: &Self::Status) -> Vec<act::Note> {
        Vec::new()
    }
}

/// The reconcile function to register with a kube `Controller`.
pub async fn reconcile<K: Kind>(obj: Arc<K::Object>, ctx: Arc<Context>) -> Result<Action, Error> {
    let id = K::IDENTITY;
    let started = std::time::Instant::now();
    let verdict = if obj.meta().deletion_timestamp.is_some() {
        delete::run::<K>(&obj, &ctx).await
    } else {
        apply::run::<K>(&obj, &ctx).await
    };
    ctx.metrics
        .duration
        .get_or_create(&crate::metrics::ControllerLabel {
            controller: id.metrics_label,
        })
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics
        .reconciles
        .get_or_create(&crate::metrics::ReconcileLabels {
            controller: id.metrics_label,
            result: match &verdict {
                Ok(Verdict::Done(_)) => "ok",
                Ok(Verdict::Blocked { .. }) => "blocked",
                Err(_) => "error",
            },
        })
        .inc();
    verdict.map(|v| settle::settle(&ctx.failures, &id.object_key(&*obj), v))
}

/// The error policy to register with a kube `Controller`: errors nothing else handled
/// (Kubernetes API errors, mostly) back off per object, like blocked passes.
pub fn error_policy<K: Kind>(obj: Arc<K::Object>, err: &Error, ctx: Arc<Context>) -> Action {
    let id = K::IDENTITY;
    ctx.metrics
        .errors
        .get_or_create(&crate::metrics::ErrorLabels {
            controller: id.metrics_label,
            class: err.reason(),
        })
        .inc();
    let key = id.object_key(&*obj);
    let action = settle::settle(
        &ctx.failures,
        &key,
        Verdict::Blocked {
            retry: err.retry_class(),
            floor: Duration::ZERO,
        },
    );
    tracing::warn!(object = %key, error = %err.chain(), "reconcile failed");
    action
}

/// `status.resources` from the plan as seen this pass (pure): every step with its id once it
/// exists, and its state — the provisioning state, `Missing`, `NotOwned`, or `Existing` for a
/// resource azop uses but did not create. A must-exist resource that does not is left out
/// (its condition says so).
pub fn report_resources<P, X>(
    steps: &[StepView<'_, P, X>],
) -> Vec<azop_api::v1alpha1::AzureResourceStatus> {
    steps
        .iter()
        .filter(|s| s.ownership != Ownership::Existing || s.observed.exists)
        .map(|s| azop_api::v1alpha1::AzureResourceStatus {
            kind: s.resource_type.to_string(),
            name: s.name.to_string(),
            id: s.observed.exists.then(|| s.id.clone()),
            state: Some(match s.state {
                NodeState::Absent => "Missing".to_string(),
                NodeState::NotOwned => "NotOwned".to_string(),
                _ if s.is_external() => "Existing".to_string(),
                _ => s
                    .observed
                    .provisioning_state
                    .clone()
                    .unwrap_or_else(|| "Succeeded".to_string()),
            }),
        })
        .collect()
}
