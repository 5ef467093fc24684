//! Controller metrics: reconciles, their durations and their errors by class. Label values
//! are static and snake_case (`ok`, `stopped`, `error`; `transient`, `invalid_spec`, …).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

/// Which per-object map an entry count is of: `backoff` and `step_holds` are shared by
/// every controller (`controller` empty), `kind` is one kind's own (`controller` set).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub map: &'static str,
    pub controller: &'static str,
}

#[derive(Clone)]
pub struct ControllerMetrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
    /// Entries of the per-object state kept between passes: what `engine::forget` must
    /// bring back to zero once every object is gone.
    pub object_state: Family<StateLabels, Gauge>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
            object_state: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// One pass of `controller` that ended as `result` (`ok`, `stopped`, `error`).
    pub fn record_pass(
        &self,
        controller: &'static str,
        result: &'static str,
        took: std::time::Duration,
    ) {
        self.duration
            .get_or_create(&ControllerLabel { controller })
            .observe(took.as_secs_f64());
        self.reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .inc();
    }

    /// A reconcile of `controller` that failed with an error of `class`.
    pub fn record_error(&self, controller: &'static str, class: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { controller, class })
            .inc();
    }

    /// The entry count of one per-object map (`map`, and `controller` for a kind's own).
    pub fn record_state(&self, map: &'static str, controller: &'static str, entries: usize) {
        self.object_state
            .get_or_create(&StateLabels { map, controller })
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "azop_reconciles",
            "Reconciles by controller and result (ok, stopped, error)",
            self.reconciles.clone(),
        );
        registry.register(
            "azop_reconcile_errors",
            "Failed reconciles by controller and error class",
            self.errors.clone(),
        );
        registry.register(
            "azop_reconcile_duration_seconds",
            "Reconcile duration by controller",
            self.duration.clone(),
        );
        registry.register(
            "azop_object_state_entries",
            "Entries of per-object state kept between passes, by map (backoff, step_holds: \
             shared; kind: the controller's own); dropped when the object is gone",
            self.object_state.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_state_counts_are_exported_by_map_and_replaced_not_added() {
        let metrics = ControllerMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.record_state("backoff", "", 3);
        metrics.record_state("kind", "azurecluster", 2);
        metrics.record_state("backoff", "", 0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("azop_object_state_entries{map=\"backoff\",controller=\"\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("azop_object_state_entries{map=\"kind\",controller=\"azurecluster\"} 2"),
            "{text}"
        );
    }
}
