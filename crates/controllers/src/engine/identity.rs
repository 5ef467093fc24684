//! Who a controller is: the names it uses towards Kubernetes, Azure and Prometheus.

use kube::{Resource, ResourceExt};

use azop_provider::Owner;

/// A controller's identity. Each kind supplies one constant; the engine uses nothing else to
/// tell controllers apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The kind, as the `azop.dev/owner` tag spells it: `AzureCluster`.
    pub kind: &'static str,
    /// The finalizer that keeps the object until its Azure resources are gone.
    pub finalizer: &'static str,
    /// The server-side-apply field manager of its status.
    pub field_manager: &'static str,
    /// The `controller` label of its metrics.
    pub metrics_label: &'static str,
    /// The Events' reporting controller.
    pub reporter: &'static str,
}

impl Identity {
    /// `namespace/name`, the key of per-object state (backoff) and of log lines.
    pub fn object_key<K: Resource>(&self, obj: &K) -> String {
        format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
    }

    /// The owner every resource of `obj` is tagged with.
    pub fn owner<K: Resource>(&self, obj: &K) -> Owner {
        Owner::new(
            self.kind,
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
            obj.uid().unwrap_or_default(),
        )
    }

    /// The prefix of the retry holds of `obj`'s steps: per object uid and generation, so a
    /// spec change lets every write through at once.
    pub fn holds_prefix<K: Resource>(&self, obj: &K) -> String {
        format!(
            "{}/{}/",
            obj.uid().unwrap_or_default(),
            obj.meta().generation.unwrap_or_default()
        )
    }

    /// The prefix of every hold of `obj`, whatever the generation (to forget them when it is
    /// gone).
    pub fn all_holds_prefix<K: Resource>(&self, obj: &K) -> String {
        format!("{}/", obj.uid().unwrap_or_default())
    }
}
