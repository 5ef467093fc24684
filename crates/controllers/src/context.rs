//! What every reconcile gets: clients, the provider, the Event recorder, metrics, settings,
//! and the retry state shared by the controllers. State that belongs to one kind lives in
//! that kind's value (the engine's [`crate::engine::Kind`] is `&self`), never here.

use std::sync::Arc;
use std::time::Duration;

use azop_provider::Provider;

use crate::events::EventRecorder;
use crate::metrics::ControllerMetrics;
use crate::retry::{ObjectBackoff, StepHolds};
use crate::shard::ShardGate;

/// Settings shared by every controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Steady-state resync: how often a Ready object is re-read from Azure (reads only).
    pub resync: Duration,
    /// Longest wait between polls of an in-flight operation. ARM's Retry-After is honoured
    /// up to this bound — azop never polls sooner than ARM asks (real ARM says 10–600 s);
    /// without a Retry-After the provider's default (60 s) applies.
    pub max_poll_interval: Duration,
    /// Concurrent reconciles per controller.
    pub concurrency: u16,
    /// Watch only this namespace (default: all namespaces).
    pub namespace: Option<String>,
    /// Which objects this replica reconciles (all, unless the work is sharded).
    pub shards: ShardGate,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resync: Duration::from_secs(300),
            max_poll_interval: Duration::from_secs(600),
            concurrency: 4,
            namespace: None,
            shards: ShardGate::all(),
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub provider: Provider,
    pub recorder: EventRecorder,
    pub metrics: ControllerMetrics,
    /// Per-object backoff after passes that stopped, by object uid.
    pub backoff: ObjectBackoff,
    /// Per-step holds after failed writes.
    pub holds: StepHolds,
    pub settings: Settings,
}

impl Context {
    /// Exports how many entries the shared per-object maps hold (`azop_object_state_entries`).
    pub fn report_object_state(&self) {
        self.metrics.record_state("backoff", "", self.backoff.len());
        self.metrics
            .record_state("step_holds", "", self.holds.len());
    }

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
            backoff: ObjectBackoff::default(),
            holds: StepHolds::default(),
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
