//! The controllers of the four kinds — AzureCluster, AksCluster and StorageBinding on the
//! reconcile [`engine`], ProxyConfig on its own (it has nothing in Azure) — and what they
//! share: context, conditions, [`retry`] policy, Events, finalizers, credentials.

pub mod aks_cluster;
pub mod azure_cluster;
pub mod cluster_secrets;
pub mod conditions;
pub mod context;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod metrics;
pub mod node_bootstrap;
pub mod proxy_config;
pub mod retry;
pub mod shard;
pub mod storage_binding;
pub mod summary;
#[cfg(test)]
pub mod testing;

pub use context::{Context, Settings};
pub use error::Error;

use std::sync::Arc;
use std::time::Duration;

/// The controllers `azop run --controllers` can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ControllerKind {
    /// AzureCluster: IaaS Kubernetes on Azure VMs.
    Azurecluster,
    /// AksCluster: managed AKS clusters, their node pools and kubeconfig Secrets.
    Akscluster,
    /// ProxyConfig: outbound proxy settings (Kubernetes-side only; no Azure calls).
    Proxyconfig,
    /// StorageBinding: the storage account and container for the base VHD, the VHD copy and
    /// the managed image made from it.
    Storagebinding,
}

/// Settings that belong to one kind.
#[derive(Clone, Debug)]
pub struct KindSettings {
    /// Lifetime of the kubeadm bootstrap tokens azop makes for AzureCluster machines.
    pub bootstrap_token_ttl: Duration,
    /// How long an AzureCluster machine may take from VM creation to a Ready node before
    /// azop reads its serial console (boot diagnostics) into the condition.
    pub machine_join_deadline: Duration,
}

impl Default for KindSettings {
    fn default() -> Self {
        KindSettings {
            bootstrap_token_ttl: azure_cluster::tokens::DEFAULT_TTL,
            machine_join_deadline: azure_cluster::boot_log::DEFAULT_DEADLINE,
        }
    }
}

/// Runs the chosen controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(
    ctx: Arc<Context>,
    kinds: &[ControllerKind],
    settings: &KindSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for kind in kinds {
        let mut rx = rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let ctx = ctx.clone();
        tasks.push(match kind {
            ControllerKind::Azurecluster => tokio::spawn(engine::run(
                azure_cluster::AzureClusterKind::new(
                    settings.bootstrap_token_ttl,
                    settings.machine_join_deadline,
                ),
                ctx,
                stop,
            )),
            ControllerKind::Akscluster => {
                tokio::spawn(engine::run(aks_cluster::AksClusterKind, ctx, stop))
            }
            ControllerKind::Storagebinding => {
                tokio::spawn(engine::run(storage_binding::StorageBindingKind, ctx, stop))
            }
            ControllerKind::Proxyconfig => tokio::spawn(proxy_config::run(ctx, stop)),
        });
    }
    shutdown.await;
    let _ = tx.send(true);
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "controller task failed");
        }
    }
}
