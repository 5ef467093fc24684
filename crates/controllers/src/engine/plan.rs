//! What a kind's `plan` returns: a dependency graph of steps, each tagged with the condition
//! it reports under and how azop may treat what it finds.

use azop_api::v1alpha1::AzureScope;
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};

use super::graph::{Node, NodeState};
use super::step::{Observation, ResourceStep, Step};

/// The graph key of every kind's resource group.
pub const KEY_RESOURCE_GROUP: &str = "resourceGroup";

/// What azop may do with a step's resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// azop creates and owns it. One of that name without this object's uid tag is
    /// `NotOwned`: never written, never deleted, and the condition says so.
    Owned,
    /// azop creates and owns it when it is absent; one that exists without our uid tag is
    /// used as it is, never written and never deleted (a resource group under
    /// `createResourceGroup: true` that someone else made, as CAPZ treats it).
    OwnedOrExisting,
    /// It must exist already and is never written or deleted (a resource group under
    /// `createResourceGroup: false`).
    Existing,
}

/// One node of the graph.
pub struct Planned<P, X> {
    /// Graph key, unique in the plan: `vnet`, `nic/prod-cp-0`.
    pub key: String,
    pub deps: Vec<String>,
    /// The condition the step reports under.
    pub part: P,
    pub ownership: Ownership,
    /// Deleted only when the rest of the plan is gone and a listing shows nothing foreign in
    /// it (a resource group: deleting it deletes everything inside).
    pub container: bool,
    /// What the kind's report needs about the step besides its state (a machine's role).
    pub extra: Option<X>,
    pub step: Box<dyn Step>,
}

impl<P, X> Planned<P, X> {
    /// An owned step with no extra data.
    pub fn new<S: Step + 'static>(key: &str, deps: &[&str], part: P, step: S) -> Self {
        Planned {
            key: key.to_string(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            part,
            ownership: Ownership::Owned,
            container: false,
            extra: None,
            step: Box::new(step),
        }
    }

    /// `type name`, as conditions and Events name a resource.
    pub fn label(&self) -> String {
        format!("{} {}", self.step.resource_type(), self.step.name())
    }
}

/// The scope's resource group, the same for every kind: a container (deleted last, and only
/// when it holds nothing foreign). With `createResourceGroup`, a group of that name that azop
/// did not create is used as it is and never deleted (as CAPZ does); without it, the group
/// must exist.
pub fn resource_group<P, X>(scope: &AzureScope, part: P) -> Planned<P, X> {
    let rg = &scope.resource_group;
    let mut step = Planned::new(
        KEY_RESOURCE_GROUP,
        &[],
        part,
        ResourceStep::<ResourceGroup>::new(
            rg,
            ResourceGroupKey { name: rg.clone() },
            ResourceGroupSpec {
                location: scope.location.clone(),
                tags: scope.tags.clone(),
            },
        ),
    );
    step.ownership = if scope.create_resource_group {
        Ownership::OwnedOrExisting
    } else {
        Ownership::Existing
    };
    step.container = true;
    step
}

/// The graph the create pass walks: every step, with its dependencies.
pub fn nodes<P, X>(plan: &[Planned<P, X>]) -> Vec<Node<String>> {
    plan.iter()
        .map(|s| Node {
            key: s.key.clone(),
            deps: s.deps.clone(),
        })
        .collect()
}

/// One step as a kind's report sees it: the plan's data, this pass's state and observation.
pub struct StepView<'a, P, X> {
    pub key: &'a str,
    pub part: P,
    pub ownership: Ownership,
    pub resource_type: &'a str,
    pub name: &'a str,
    pub id: String,
    pub extra: Option<&'a X>,
    pub state: &'a NodeState,
    pub observed: &'a Observation,
}

impl<P, X> StepView<'_, P, X> {
    /// In Azure without our uid tag, and used as it is ([`Ownership::OwnedOrExisting`]).
    pub fn is_foreign_in_use(&self) -> bool {
        self.ownership == Ownership::OwnedOrExisting && self.observed.exists && !self.observed.owned
    }

    /// Observed, never written: must exist beforehand, or exists and is not ours.
    pub fn is_external(&self) -> bool {
        self.ownership == Ownership::Existing || self.is_foreign_in_use()
    }
}

/// A step with the answer to its PUT or DELETE: the operation it started, if any.
pub type StepOutcome<'a, P, X> = (
    &'a Planned<P, X>,
    Result<Option<azop_provider::LroHandle>, super::step::StepError>,
);
