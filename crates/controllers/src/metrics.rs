//! Controller metrics: reconciles, their durations and their errors by class. Label values
//! are static and snake_case (`ok`, `stopped`, `error`; `transient`, `invalid_spec`, …).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

#[derive(Clone)]
pub struct ControllerMetrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
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
    }
}
