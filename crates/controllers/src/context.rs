//! What every reconcile gets: clients, the provider, the Event recorder, metrics, settings.

use std::sync::Arc;
use std::time::Duration;

use azop_provider::Provider;

use crate::backoff::FailureCounter;
use crate::engine::holds::RetryGate;
use crate::events::EventRecorder;
use crate::metrics::ControllerMetrics;

/// Settings shared by every controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Steady-state resync: how often a Ready object is re-read from Azure (reads only).
    pub resync: Duration,
    /// Longest wait between polls of an in-flight operation, whatever Retry-After says.
    pub max_poll_interval: Duration,
    /// Concurrent reconciles per controller.
    pub concurrency: u16,
    /// Watch only this namespace (default: all namespaces).
    pub namespace: Option<String>,
    /// Lifetime of the kubeadm bootstrap tokens azop makes for AzureCluster machines.
    pub bootstrap_token_ttl: Duration,
    /// How long an AzureCluster machine may take from VM creation to a Ready node before
    /// azop reads its serial console (boot diagnostics) into the condition.
    pub machine_join_deadline: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resync: Duration::from_secs(300),
            max_poll_interval: Duration::from_secs(30),
            concurrency: 4,
            namespace: None,
            bootstrap_token_ttl: crate::azure_cluster::tokens::DEFAULT_TTL,
            machine_join_deadline: crate::azure_cluster::boot_log::DEFAULT_DEADLINE,
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub provider: Provider,
    pub recorder: EventRecorder,
    pub metrics: ControllerMetrics,
    pub failures: FailureCounter,
    /// Per-resource holds after failed writes.
    pub retries: RetryGate,
    /// When each AzureCluster's workload cluster may be tried again after it did not answer.
    pub workload_probes: crate::azure_cluster::workload::Probes,
    /// Serial console tails of machines that have not joined, read lately.
    pub boot_logs: crate::azure_cluster::boot_log::Cache,
    pub settings: Settings,
}

impl Context {
    pub fn new(
        client: kube::Client,
        provider: Provider,
        metrics: ControllerMetrics,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Context {
            recorder: EventRecorder::new(client.clone(), "azop", std::env::var("POD_NAME").ok()),
            client,
            provider,
            metrics,
            failures: FailureCounter::default(),
            retries: RetryGate::default(),
            workload_probes: Default::default(),
            boot_logs: Default::default(),
            settings,
        })
    }

    /// An Api for `K` in the watched scope: one namespace, or all.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        match &self.settings.namespace {
            Some(ns) => kube::Api::namespaced(self.client.clone(), ns),
            None => kube::Api::all(self.client.clone()),
        }
    }
}
