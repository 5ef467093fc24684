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
//! - [`fleet`], [`rollout`] (pure), [`workload`]: the machines in Azure now and their nodes;
//!   which a pool keeps, retires and adds (scaling, rolling replacement); cordon and drain.
//! - [`orphans`]: machines the spec no longer has, found by listing, drained then removed.
//! - [`AzureClusterKind`] and [`run`]: the registration.

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
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::Validate;
use azop_api::naming::AZURE_CLUSTER_FINALIZER;
use azop_api::v1alpha1::azure_cluster::{AzureCluster, AzureClusterStatus};
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use azop_api::v1alpha1::storage_binding::StorageBinding;
use azop_api::v1alpha1::{ArmOperation, AzureScope, AzureStatus};
use azop_provider::{ArmSession, AzureError, Owner};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};

use crate::backoff::RetryClass;
use crate::context::Context;
use crate::engine::{self, Blocker, Identity, Kind, ReportInput, Sweep};
use crate::error::Error;
use crate::proxy_config;
use machines::MachinePlan;
use names::ClusterNames;
use plan::{Part, PlannedStep, Resolved};

/// AzureCluster as the engine sees it.
pub struct AzureClusterKind;

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

    fn scope(obj: &AzureCluster) -> &AzureScope {
        &obj.spec.azure
    }

    fn status(obj: &AzureCluster) -> AzureClusterStatus {
        obj.status.clone().unwrap_or_default()
    }

    fn azure(status: &AzureClusterStatus) -> &AzureStatus {
        &status.azure
    }

    fn azure_mut(status: &mut AzureClusterStatus) -> &mut AzureStatus {
        &mut status.azure
    }

    fn validate(obj: &AzureCluster) -> Result<(), String> {
        obj.validate().map_err(|errors| errors.to_string())
    }

    async fn resolve(ctx: &Context, obj: &AzureCluster) -> Result<Resolved, Error> {
        let mut resolved =
            refs::resolve(&ctx.client, &obj.namespace().unwrap_or_default(), &obj.spec).await?;
        bootstrap::resolve(
            &ctx.client,
            obj,
            &mut resolved,
            ctx.settings.bootstrap_token_ttl,
        )
        .await?;
        Ok(resolved)
    }

    fn names(obj: &AzureCluster) -> BTreeMap<String, String> {
        ClusterNames::for_cluster(&obj.name_any(), plan::internal_load_balancer(&obj.spec))
            .to_status()
    }

    async fn precheck(session: &ArmSession, obj: &AzureCluster) -> Result<Option<Blocker>, Error> {
        let problem = static_placement::check(session, &obj.spec)
            .await
            .map_err(|e| Error::azure("read the existing network", e))?;
        Ok(problem.map(|message| Blocker {
            reason: "StaticPlacementInvalid",
            message,
            retry: RetryClass::Busy,
            floor: Duration::from_secs(30),
        }))
    }

    async fn survey(
        ctx: &Context,
        session: &ArmSession,
        owner: &Owner,
        obj: &AzureCluster,
        resolved: &mut Resolved,
    ) -> Result<(), Error> {
        let survey = fleet::survey(ctx, session, owner, obj, resolved.bootstrap.is_some())
            .await
            .map_err(|e| Error::azure("list the cluster's machines", e))?;
        resolved.survey = Some(survey);
        Ok(())
    }

    fn plan(
        obj: &AzureCluster,
        resolved: Option<&Resolved>,
        _names: &BTreeMap<String, String>,
    ) -> Vec<PlannedStep> {
        plan::plan(&obj.name_any(), &obj.spec, resolved)
    }

    async fn sweep(
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

    fn report(input: ReportInput<'_, Self>) -> AzureClusterStatus {
        report::status(input)
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

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let clusters: Api<AzureCluster> = ctx.api();
    let secrets: Api<Secret> = ctx.api();
    // Only spec changes (and the deletion mark, which bumps the generation) wake a cluster:
    // the controller's own status writes must not, or every write would re-read the whole
    // graph from Azure. In-flight operations are polled by requeue, at their Retry-After.
    let (reader, writer) = reflector::store();
    let triggers = watcher(clusters, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let controller = Controller::for_stream(triggers, reader)
        .with_config(Config::default().concurrency(ctx.settings.concurrency));
    let store = controller.store();
    let bindings_store = controller.store();
    let proxies_store = controller.store();
    let bindings: Api<StorageBinding> = ctx.api();
    // A changed credentials or bootstrap Secret wakes every cluster of its namespace that
    // names it (the watch carries no Secret data into memory beyond the event itself).
    controller
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: Secret| {
                let ns = secret.namespace().unwrap_or_default();
                let name = secret.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
                    .filter(|c| {
                        c.spec
                            .azure
                            .credentials_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                            || c.spec
                                .bootstrap_data_secret_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                    })
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        // A StorageBinding whose image becomes ready (or changes) wakes the clusters booting
        // from it, instead of leaving them to find out at their next retry.
        .watches(
            bindings,
            watcher::Config::default(),
            move |binding: StorageBinding| {
                let ns = binding.namespace().unwrap_or_default();
                let name = binding.name_any();
                bindings_store
                    .state()
                    .into_iter()
                    .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
                    .filter(|c| {
                        c.spec
                            .image
                            .storage_binding_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                    })
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        // A ProxyConfig appearing, changing its spec or going wakes the clusters that use it:
        // those naming it, and those of its namespace without a reference (it may have
        // become, or stopped being, their default). Status writes do not wake them.
        .watches_stream(
            proxy_config::spec_changes(ctx.api()),
            move |p: ProxyConfig| {
                let ns = p.namespace().unwrap_or_default();
                let name = p.name_any();
                proxies_store
                    .state()
                    .into_iter()
                    .filter(|c| {
                        proxy_config::resolve::affects(
                            &ns,
                            &name,
                            c.namespace().as_deref().unwrap_or_default(),
                            c.spec.proxy_config_ref.as_ref().map(|r| r.name.as_str()),
                        )
                    })
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            engine::reconcile::<AzureClusterKind>,
            engine::error_policy::<AzureClusterKind>,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "azurecluster controller event");
            }
        })
        .await;
}
