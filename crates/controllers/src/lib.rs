//! Controllers for AzureCluster, AksCluster and ProxyConfig (StorageBinding's is to come), the reconcile
//! [`engine`] the Azure-backed ones run on, and the plumbing they share: context, conditions,
//! retry policy, Events, finalizers, credentials.

pub mod aks_cluster;
pub mod azure_cluster;
pub mod backoff;
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
pub mod storage_binding;
#[cfg(test)]
pub mod testing;

pub use context::{Context, Settings};
pub use error::Error;

use std::sync::Arc;

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

/// Runs the chosen controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(
    ctx: Arc<Context>,
    kinds: &[ControllerKind],
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for kind in kinds {
        let mut rx = rx.clone();
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        match kind {
            ControllerKind::Azurecluster => {
                tasks.push(tokio::spawn(azure_cluster::run(ctx.clone(), stop)));
            }
            ControllerKind::Akscluster => {
                tasks.push(tokio::spawn(aks_cluster::run(ctx.clone(), stop)));
            }
            ControllerKind::Proxyconfig => {
                tasks.push(tokio::spawn(proxy_config::run(ctx.clone(), stop)));
            }
            ControllerKind::Storagebinding => {
                tasks.push(tokio::spawn(storage_binding::run(ctx.clone(), stop)));
            }
        }
    }
    shutdown.await;
    let _ = tx.send(true);
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "controller task failed");
        }
    }
}
