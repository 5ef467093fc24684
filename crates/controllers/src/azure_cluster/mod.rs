//! The AzureCluster controller: an IaaS Kubernetes cluster on Azure VMs.
//!
//! - [`names`], [`machines`], [`plan`]: what should exist (pure).
//! - [`reconcile`]: observe → act → report, never waiting on Azure.
//! - [`report`]: status and conditions (pure).
//! - [`static_placement`], [`orphans`], [`refs`]: checks and lookups at the edges.

pub mod machines;
pub mod names;
pub mod orphans;
pub mod plan;
pub mod reconcile;
pub mod refs;
pub mod report;
pub mod static_placement;

use std::sync::Arc;

use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_api::v1alpha1::storage_binding::StorageBinding;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};

use crate::context::Context;

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
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "azurecluster controller event");
            }
        })
        .await;
}
