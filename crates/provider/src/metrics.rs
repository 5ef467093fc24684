//! Prometheus metrics of the ARM traffic. The operator owns the `Registry`; it passes it to
//! [`ProviderMetrics::register`]. Labels are static and low-cardinality: method, the ARM
//! resource type (never a name or id), the status class.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub method: String,
    pub resource_type: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `error` when no response came back.
    pub status_class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub resource_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ThrottleLabels {
    /// `reads`, `writes`, `deletes`.
    pub class: String,
    /// `waited` (held back briefly, then sent), `rejected` (returned Throttled unsent),
    /// `server_429` (ARM said 429).
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LroLabels {
    /// `in_progress`, `succeeded`, `failed`, `error`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObservationLabels {
    /// `listing` (answered from the shared listing, no call), `get` (read by GET: a child
    /// resource, one azop wrote since the listing, a foreign one never read before),
    /// `refresh` (a listing walked, its pages counted in `azop_arm_requests`).
    pub source: String,
}

/// Handles to every provider metric; cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderMetrics {
    pub calls: Family<CallLabels, Counter>,
    pub latency: Family<LatencyLabels, Histogram>,
    pub throttle_events: Family<ThrottleLabels, Counter>,
    pub throttle_wait_seconds: Family<ThrottleLabels, Counter<f64>>,
    pub lro_polls: Family<LroLabels, Counter>,
    pub observations: Family<ObservationLabels, Counter>,
}

impl Default for ProviderMetrics {
    fn default() -> Self {
        ProviderMetrics {
            calls: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.01, 2.0, 14))
            }),
            throttle_events: Family::default(),
            throttle_wait_seconds: Family::default(),
            lro_polls: Family::default(),
            observations: Family::default(),
        }
    }
}

impl ProviderMetrics {
    /// Register every metric under the `azop_arm_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "azop_arm_requests",
            "ARM requests by method, resource type and status class",
            self.calls.clone(),
        );
        registry.register(
            "azop_arm_request_duration_seconds",
            "ARM request latency",
            self.latency.clone(),
        );
        registry.register(
            "azop_arm_throttle_events",
            "Client-side throttle waits and rejections, and 429s from ARM",
            self.throttle_events.clone(),
        );
        registry.register(
            "azop_arm_throttle_wait_seconds",
            "Time requests were held back by the client-side throttle",
            self.throttle_wait_seconds.clone(),
        );
        registry.register(
            "azop_arm_lro_polls",
            "Long-running operation polls by outcome",
            self.lro_polls.clone(),
        );
        registry.register(
            "azop_arm_observations",
            "Resource observations by where they came from (the shared listing, a GET) and listing refreshes",
            self.observations.clone(),
        );
    }

    pub fn record_observation(&self, source: &str) {
        self.observations
            .get_or_create(&ObservationLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    pub fn record_call(
        &self,
        method: &str,
        resource_type: &str,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        let status_class = match status {
            Some(s) => format!("{}xx", s / 100),
            None => "error".to_owned(),
        };
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_owned(),
                resource_type: resource_type.to_owned(),
                status_class,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                resource_type: resource_type.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_throttle(&self, class: &str, outcome: &str, waited: Duration) {
        let labels = ThrottleLabels {
            class: class.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.throttle_events.get_or_create(&labels).inc();
        if !waited.is_zero() {
            self.throttle_wait_seconds
                .get_or_create(&labels)
                .inc_by(waited.as_secs_f64());
        }
    }

    pub fn record_lro(&self, outcome: &str) {
        self.lro_polls
            .get_or_create(&LroLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

/// The metric label for a request path: the provider namespace and resource types of the
/// last `/providers/` segment, e.g. `Microsoft.Storage/storageAccounts/blobServices/containers`.
/// Names never leak into labels.
pub fn resource_type_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(pos) = segments
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))
        && pos + 1 < segments.len()
    {
        let rest = &segments[pos + 1..];
        let mut out = rest[0].to_owned();
        // namespace, then type/name pairs: keep the types.
        for (i, seg) in rest.iter().enumerate().skip(1) {
            if i % 2 == 1 {
                out.push('/');
                out.push_str(seg);
            }
        }
        if pos >= 2 && !out.contains('/') {
            return "Microsoft.Resources/operations".to_owned();
        }
        return out;
    }
    match segments.as_slice() {
        [s, _, rg, ..]
            if s.eq_ignore_ascii_case("subscriptions")
                && rg.eq_ignore_ascii_case("resourcegroups") =>
        {
            "Microsoft.Resources/resourceGroups".to_owned()
        }
        [s, ..] if s.eq_ignore_ascii_case("subscriptions") => {
            "Microsoft.Resources/subscriptions".to_owned()
        }
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_never_carry_names() {
        assert_eq!(
            resource_type_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/containers/c"
            ),
            "Microsoft.Storage/storageAccounts/blobServices/containers"
        );
        assert_eq!(
            resource_type_of("/subscriptions/s/resourcegroups/rg"),
            "Microsoft.Resources/resourceGroups"
        );
        assert_eq!(
            resource_type_of(
                "/subscriptions/s/providers/Microsoft.Network/locations/eastus/operations/abc"
            ),
            "Microsoft.Network/locations/operations"
        );
        assert_eq!(
            resource_type_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/listKeys"
            ),
            "Microsoft.Storage/storageAccounts/listKeys"
        );
    }

    #[test]
    fn registers_and_encodes() {
        let m = ProviderMetrics::default();
        let mut registry = Registry::default();
        m.register(&mut registry);
        m.record_call(
            "PUT",
            "Microsoft.Storage/storageAccounts",
            Some(202),
            Duration::from_millis(30),
        );
        m.record_throttle("writes", "waited", Duration::from_millis(500));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encode");
        assert!(out.contains("azop_arm_requests_total{method=\"PUT\",resource_type=\"Microsoft.Storage/storageAccounts\",status_class=\"2xx\"} 1"), "{out}");
        assert!(out.contains("azop_arm_throttle_wait_seconds_total"));
    }
}
