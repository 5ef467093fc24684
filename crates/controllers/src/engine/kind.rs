//! What a kind gives the engine: the [`Kind`] trait, the [`Part`]s its conditions name, what
//! its report gets ([`ReportInput`]), and what its hooks can answer ([`Stop`], [`Sweep`]).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::Validate;
use azop_api::v1alpha1::{
    ArmOperation, AzureObject, AzureScope, AzureStatus, HasAzureStatus, Phase,
};
use azop_provider::{ArmSession, AzureError, Owner};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use super::identity::Identity;
use super::plan::{Planned, StepView};
use super::registration::{Watchable, Watches};
use super::status::Note;
use crate::context::Context;
use crate::error::Error;
use crate::retry::RetryClass;

/// The condition a step reports under: one per part of the object, `Ready` rolled up from
/// them in [`Part::ALL`] order (the first that is not True names the problem).
pub trait Part: Copy + Eq + Debug + Send + Sync + 'static {
    /// Every part, in the order the conditions are listed.
    const ALL: &'static [Self];
    /// The condition's type, e.g. `NetworkReady`.
    fn condition_type(self) -> &'static str;
}

/// Why a pass stops before it writes anything to Azure: the `Ready` condition's reason and
/// message, and how the next pass is scheduled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub reason: &'static str,
    pub message: String,
    pub retry: RetryClass,
    /// The shortest wait before looking again.
    pub floor: Duration,
    /// The phase to show; `None` keeps the lifecycle's (Updating after Running, …).
    pub phase: Option<Phase>,
}

impl Stop {
    pub fn new(reason: &'static str, message: impl Into<String>, retry: RetryClass) -> Self {
        Stop {
            reason,
            message: message.into(),
            retry,
            floor: Duration::ZERO,
            phase: None,
        }
    }

    pub fn with_floor(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    /// An error that stops the pass (a missing reference, credentials, a failed read), with
    /// its reason and retry class.
    pub fn from_error(err: &Error) -> Self {
        Stop::new(err.reason(), err.chain(), err.retry_class())
    }
}

/// Resources of the object that the plan no longer has, found by listing (a scale-down).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Deletes started this pass (`type name`).
    pub started: Vec<String>,
    /// Still going away (started earlier, or waiting for something).
    pub pending: Vec<String>,
}

/// A resource of the object that the plan no longer has, found by listing: what the sweep
/// removes (a machine of a pool scaled down, a pool taken out of the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// ARM type, e.g. `Microsoft.Compute/virtualMachines`.
    pub kind: String,
    pub name: String,
    /// Why it waits, when it cannot go at once (a node to drain, the last System pool).
    pub note: Option<String>,
}

/// One machine a rolling replacement swaps for a new one, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The pool (or group) the machines belong to.
    pub pool: String,
    /// ARM type of the machine, e.g. `Microsoft.Compute/virtualMachines`.
    pub kind: String,
    /// The machine removed, once `new` is ready.
    pub old: String,
    /// The machine created in its place, first.
    pub new: String,
    /// What differs between the old machine and what the spec asks for.
    pub changes: Vec<azop_provider::Difference>,
}

/// A rolling replacement as a whole (pure): the swaps in order, and the machines it adds or
/// removes besides (a pool resized during the replacement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    pub swaps: Vec<Swap>,
    /// Machines added in later passes that are not swaps (`(ARM type, name)`).
    pub added: Vec<(String, String)>,
    /// Machines removed in later passes that are not swaps.
    pub removed: Vec<(String, String)>,
}

/// What a kind's `report` gets: the plan as seen this pass, and the shared status the engine
/// already filled (names, resources, operations).
pub struct ReportInput<'a, K: Kind + ?Sized> {
    pub steps: Vec<StepView<'a, K::Part, K::Extra>>,
    /// Resources being removed that the plan no longer has.
    pub removing: Vec<String>,
    /// `azureNames`, `resources` and `operations` for the new status; conditions and phase
    /// come from [`ReportInput::azure_status`].
    pub azure: AzureStatus,
    pub previous: &'a K::Status,
    pub generation: Option<i64>,
    pub scope: &'a AzureScope,
    pub now: Time,
}

/// One Azure-backed kind: what the engine needs to know about it. A value of it carries the
/// kind's own state (caches, settings); every hook is either pure or a read at the edge
/// (references in Kubernetes, a read-only check in Azure). Writes happen only in steps
/// (act) and the sweep (cleanup).
#[async_trait]
pub trait Kind: Send + Sync + 'static {
    type Object: Watchable + AzureObject<Status = Self::Status> + Validate;
    type Status: HasAzureStatus
        + Clone
        + PartialEq
        + Default
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static;
    /// What `resolve` (and `survey`) read: an image id, bootstrap data, the machines there are.
    type Resolved: Send + Sync;
    type Part: Part;
    /// Per-step data the report needs (a machine's role and zone).
    type Extra: Send + Sync + 'static;

    const IDENTITY: Identity;

    /// What wakes an object besides its own spec changes.
    fn watches(&self) -> Watches<Self::Object>;

    /// References in Kubernetes the plan needs (Secrets, other azop objects).
    async fn resolve(&self, ctx: &Context, obj: &Self::Object) -> Result<Self::Resolved, Error>;

    /// Azure names by role, fixed in status before the first PUT.
    fn names(&self, obj: &Self::Object) -> BTreeMap<String, String>;

    /// The names for this pass, when choosing them needs Azure (a storage account name is
    /// global: `checkNameAvailability` first). `recorded` is what status already holds; once a
    /// name is there it must be kept. Default: [`Kind::names`].
    async fn choose_names(
        &self,
        _session: &ArmSession,
        obj: &Self::Object,
        _recorded: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        Ok(self.names(obj))
    }

    /// A check before a deletion touches Azure (a StorageBinding whose image clusters still
    /// boot from). `Some` holds the deletion, with the stop's reason and message.
    async fn delete_precheck(
        &self,
        _ctx: &Context,
        _obj: &Self::Object,
    ) -> Result<Option<Stop>, Error> {
        Ok(None)
    }

    /// A read-only check before anything is written. `Some` stops the pass.
    async fn precheck(
        &self,
        _session: &ArmSession,
        _obj: &Self::Object,
    ) -> Result<Option<Stop>, Error> {
        Ok(None)
    }

    /// What the plan needs to read from Azure (or the workload cluster) besides the spec,
    /// after the precheck and the poll: the machines a pool has now, for a rolling
    /// replacement. Reads only; kept in `resolved`. Default: nothing.
    async fn survey(
        &self,
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
        &self,
        obj: &Self::Object,
        resolved: Option<&Self::Resolved>,
        names: &BTreeMap<String, String>,
    ) -> Vec<Planned<Self::Part, Self::Extra>>;

    /// Removes what the object owns that the plan no longer has (found by listing, so a
    /// resource whose PUT went out just before a crash is still found), and whatever else the
    /// survey found gone. Runs in both passes; `resolved` is `None` while deleting.
    async fn sweep(
        &self,
        _session: &ArmSession,
        _owner: &Owner,
        _obj: &Self::Object,
        _resolved: Option<&Self::Resolved>,
        _plan: &[Planned<Self::Part, Self::Extra>],
        _operations: &mut Vec<ArmOperation>,
    ) -> Result<Sweep, AzureError> {
        Ok(Sweep::default())
    }

    /// What the sweep would remove this pass: owned resources the plan no longer has, found
    /// by listing. Reads only; the sweep removes exactly these (so `azop plan` shows what the
    /// operator deletes). `resolved` as for [`Kind::sweep`]. Default: nothing.
    async fn leftovers(
        &self,
        _session: &ArmSession,
        _owner: &Owner,
        _obj: &Self::Object,
        _resolved: Option<&Self::Resolved>,
        _plan: &[Planned<Self::Part, Self::Extra>],
    ) -> Result<Vec<Leftover>, AzureError> {
        Ok(Vec::new())
    }

    /// The machines a rolling replacement swaps from here to the end, in order, deciding
    /// pass after pass as the operator does (pure; `azop plan` shows it). Default: none.
    fn rollout(&self, _obj: &Self::Object, _resolved: &Self::Resolved) -> Rollout {
        Rollout::default()
    }

    /// The status to write (pure).
    fn report(&self, input: ReportInput<'_, Self>) -> Self::Status;

    /// Events for what changed between two statuses beyond conditions (a copy's progress).
    /// Pure; default none.
    fn notes(&self, _previous: &Self::Status, _next: &Self::Status) -> Vec<Note> {
        Vec::new()
    }

    /// The object of uid `uid` is gone from Kubernetes: drop whatever the kind keeps for it
    /// ([`super::forget`] calls this once per object). Default: the kind keeps nothing.
    fn forget(&self, _uid: &str) {}

    /// How many objects the kind keeps something for ([`Kind::forget`] drops it); exported
    /// as `azop_object_state_entries{map="kind"}`. Default: none.
    fn remembered(&self) -> usize {
        0
    }
}
