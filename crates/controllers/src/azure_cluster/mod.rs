//! The AzureCluster controller: an IaaS Kubernetes cluster on Azure VMs, on the
//! [engine](crate::engine). This module holds only AzureCluster's own decisions:
//!
//! - [`names`], [`machines`], [`plan`]: what should exist (pure).
//! - [`report`]: status and conditions (pure).
//! - [`static_placement`]: the read-only check of an existing network.
//! - [`refs`]: the references read from Kubernetes (image, bootstrap data).
//! - [`bootstrap`]: the machines' customData — the user's bootstrap data behind azop's node
//!   fragments (the ProxyConfig's drop-ins and CA), or azop's own kubeadm bootstrap:
//!   [`pki`] and [`tokens`] (pure), [`kubeadm`] (the node's configuration, pure) and
//!   [`node_steps`] (the Secrets and the VMs whose customData is rendered at creation).
//! - [`fleet`], [`rollout`] (pure), [`workload`]: the machines in Azure now and their nodes
//!   (read by the survey); which a pool keeps, retires and adds (scaling, rolling
//!   replacement); cordon and drain.
//! - [`orphans`]: the sweep — machines the spec no longer has, found by listing, drained then
//!   removed, and the Nodes of machines that are gone.
//! - [`AzureClusterKind`]: the registration, and the kind's own state (when each workload
//!   cluster may be tried again, the join tokens' lifetime, the join deadline and the serial
//!   console tails read lately, [`boot_log`]).

pub mod boot_log;
pub mod boot_scripts;
pub mod bootstrap;
pub mod fleet;
pub mod kubeadm;
pub mod machines;
pub mod names;
pub mod node_steps;
pub mod orphans;
pub mod pki;
pub mod plan;
pub mod refs;
pub mod report;
pub mod rollout;
pub mod static_placement;
pub mod tokens;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use azop_api::naming::AZURE_CLUSTER_FINALIZER;
use azop_api::v1alpha1::ArmOperation;
use azop_api::v1alpha1::azure_cluster::{AzureCluster, AzureClusterStatus};
use azop_api::v1alpha1::storage_binding::StorageBinding;
use azop_provider::{ArmSession, AzureError, Owner};
use kube::ResourceExt;

use crate::context::Context;
use crate::engine::{Identity, Kind, Leftover, ReportInput, Rollout, Stop, Sweep, Watches};
use crate::error::Error;
use crate::retry::RetryClass;
use machines::MachinePlan;
use names::ClusterNames;
use plan::{Part, PlannedStep, Resolved};

/// AzureCluster as the engine sees it, with the state that is AzureCluster's alone.
pub struct AzureClusterKind {
    /// When each cluster's workload cluster may be tried again after it did not answer.
    pub probes: workload::Probes,
    /// Lifetime of the kubeadm bootstrap tokens azop makes for the machines.
    pub token_ttl: Duration,
    /// How long a machine may take from VM creation to a Ready node before its serial
    /// console is read into the condition.
    pub join_deadline: Duration,
    /// Serial console tails of machines that have not joined, read lately.
    pub boot_logs: boot_log::Cache,
}

impl Default for AzureClusterKind {
    fn default() -> Self {
        AzureClusterKind::new(tokens::DEFAULT_TTL, boot_log::DEFAULT_DEADLINE)
    }
}

impl AzureClusterKind {
    pub fn new(token_ttl: Duration, join_deadline: Duration) -> Self {
        AzureClusterKind {
            probes: workload::Probes::default(),
            token_ttl,
            join_deadline,
            boot_logs: boot_log::Cache::default(),
        }
    }
}

#[async_trait]
impl Kind for AzureClusterKind {
    type Object = AzureCluster;
    type Status = AzureClusterStatus;
    type Resolved = Resolved;
    type Part = Part;
    type Extra = MachinePlan;

    const IDENTITY: Identity = Identity {
        kind: "AzureCluster",
        finalizer: AZURE_CLUSTER_FINALIZER,
        field_manager: "azureclusters.azop.dev",
        metrics_label: "azurecluster",
        reporter: "azop",
    };

    /// Its bootstrap-data Secret, the StorageBinding it boots from (an image that becomes
    /// ready wakes it instead of leaving it to its next retry), and ProxyConfigs.
    fn watches(&self) -> Watches<AzureCluster> {
        Watches::<AzureCluster>::default()
            .secrets(|c| {
                c.spec
                    .bootstrap_data_secret_ref
                    .iter()
                    .map(|r| r.name.clone())
                    .collect()
            })
            .references::<StorageBinding>(|c| {
                c.spec
                    .image
                    .storage_binding_ref
                    .as_ref()
                    .map(|r| r.name.clone())
            })
            .proxy_configs(|c| c.spec.proxy_config_ref.as_ref().map(|r| r.name.clone()))
    }

    async fn resolve(&self, ctx: &Context, obj: &AzureCluster) -> Result<Resolved, Error> {
        let mut resolved =
            refs::resolve(&ctx.client, &obj.namespace().unwrap_or_default(), &obj.spec).await?;
        bootstrap::resolve(&ctx.client, obj, &mut resolved, self.token_ttl).await?;
        Ok(resolved)
    }

    fn names(&self, obj: &AzureCluster) -> BTreeMap<String, String> {
        ClusterNames::for_cluster(&obj.name_any(), plan::internal_load_balancer(&obj.spec))
            .to_status()
    }

    async fn precheck(
        &self,
        session: &ArmSession,
        obj: &AzureCluster,
    ) -> Result<Option<Stop>, Error> {
        let problem = static_placement::check(session, &obj.spec)
            .await
            .map_err(|e| Error::azure("read the existing network", e))?;
        Ok(problem.map(|message| {
            Stop::new("StaticPlacementInvalid", message, RetryClass::Busy)
                .with_floor(Duration::from_secs(30))
        }))
    }

    async fn survey(
        &self,
        ctx: &Context,
        session: &ArmSession,
        owner: &Owner,
        obj: &AzureCluster,
        resolved: &mut Resolved,
    ) -> Result<(), Error> {
        // azop reads the workload cluster only when it bootstrapped it (it holds the
        // kubeconfig then).
        let workload = if resolved.bootstrap.is_some() {
            workload::connect(&ctx.client, &self.probes, obj).await
        } else {
            None
        };
        let bootstrapped = resolved.bootstrap.is_some();
        let mut survey = fleet::survey(session, owner, obj, workload)
            .await
            .map_err(|e| Error::azure("list the cluster's machines", e))?;
        survey.workload_lost = bootstrapped
            && survey.workload.is_none()
            && self.probes.answered_before(&obj.uid().unwrap_or_default());
        // Only azop's own bootstrap promises a node per machine; with the user's bootstrap
        // data a machine need not ever join. A cluster whose API server answered before and
        // does not now has lost its API server (or azop its way there), not its machines:
        // they are not reported as late joiners, nor their consoles read (a call each),
        // until it answers again (the rollout holds meanwhile, docs/machines.md).
        if bootstrapped && !survey.workload_lost {
            let late = boot_log::overdue(
                &survey.owned,
                |name| survey.node(name),
                time::OffsetDateTime::now_utc(),
                self.join_deadline,
            );
            if !late.is_empty() {
                survey.boot_logs = boot_log::tails(
                    &self.boot_logs,
                    session,
                    &obj.spec.azure.resource_group,
                    &late,
                )
                .await;
            }
        }
        resolved.survey = Some(survey);
        Ok(())
    }

    fn plan(
        &self,
        obj: &AzureCluster,
        resolved: Option<&Resolved>,
        _names: &BTreeMap<String, String>,
    ) -> Vec<PlannedStep> {
        plan::plan(&obj.name_any(), &obj.spec, resolved)
    }

    async fn sweep(
        &self,
        session: &ArmSession,
        owner: &Owner,
        obj: &AzureCluster,
        resolved: Option<&Resolved>,
        plan: &[PlannedStep],
        operations: &mut Vec<ArmOperation>,
    ) -> Result<Sweep, AzureError> {
        orphans::remove(
            session,
            owner,
            &obj.spec.azure.resource_group,
            &planned_vms(plan),
            resolved.and_then(|r| r.survey.as_ref()),
            operations,
        )
        .await
    }

    async fn leftovers(
        &self,
        session: &ArmSession,
        owner: &Owner,
        obj: &AzureCluster,
        resolved: Option<&Resolved>,
        plan: &[PlannedStep],
    ) -> Result<Vec<Leftover>, AzureError> {
        orphans::leftovers(
            session,
            owner,
            &obj.spec.azure.resource_group,
            &planned_vms(plan),
            resolved.and_then(|r| r.survey.as_ref()),
        )
        .await
    }

    fn rollout(&self, obj: &AzureCluster, resolved: &Resolved) -> Rollout {
        plan::rollout(&obj.name_any(), &obj.spec, resolved)
    }

    fn report(&self, input: ReportInput<'_, Self>) -> AzureClusterStatus {
        report::status(input)
    }

    fn forget(&self, uid: &str) {
        self.probes.forget(uid);
    }

    fn remembered(&self) -> usize {
        self.probes.len()
    }
}

/// The VM names the plan holds: the graph creates and deletes these; anything else owned is
/// an orphan for the sweep. Each machine has exactly one of the two paths. Pure.
fn planned_vms(plan: &[PlannedStep]) -> BTreeSet<String> {
    plan.iter()
        .filter(|s| s.key.starts_with("vm/"))
        .map(|s| s.step.name().to_string())
        .collect()
}
