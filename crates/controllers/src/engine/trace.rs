//! The tracing span of one reconcile: every log line of the pass — the engine's, the
//! provider's ARM calls, the kind's — is emitted inside it, so it carries the object it
//! serves.

use kube::{Resource, ResourceExt};
use tracing::Span;

use super::Identity;

/// `reconcile{kind namespace name uid generation}`.
pub fn reconcile_span<O: Resource>(id: &Identity, obj: &O) -> Span {
    tracing::info_span!(
        "reconcile",
        kind = id.kind,
        namespace = obj.namespace().unwrap_or_default(),
        name = obj.name_any(),
        uid = obj.uid().unwrap_or_default(),
        generation = obj.meta().generation.unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Instrument;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::{Layer, Registry};

    use super::*;

    /// The fields of a span, as text.
    #[derive(Default)]
    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((
                field.name().to_string(),
                format!("{value:?}").trim_matches('"').to_string(),
            ));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_string(), value.to_string()));
        }
    }

    /// An event's message and the fields of the spans it was emitted in.
    type Seen = (String, Vec<(String, String)>);

    /// Records every event with its spans' fields.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(fields);
            }
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut message = Fields::default();
            event.record(&mut message);
            let text = message
                .0
                .iter()
                .find(|(k, _)| k == "message")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let mut spans = Vec::new();
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(f) = span.extensions().get::<Fields>() {
                        spans.extend(f.0.iter().cloned());
                    }
                }
            }
            self.0.lock().expect("lock").push((text, spans));
        }
    }

    /// A log line emitted anywhere within the pass (here as the provider logs an ARM call)
    /// carries the object's kind, namespace, name, uid and generation.
    #[tokio::test]
    async fn a_log_line_of_the_pass_names_the_object() {
        let capture = Capture::default();
        let subscriber = Registry::default().with(capture.clone());
        let mut c: azop_api::v1alpha1::azure_cluster::AzureCluster =
            crate::testing::cluster("prod").build();
        c.metadata.generation = Some(3);
        let id = <crate::azure_cluster::AzureClusterKind as crate::engine::Kind>::IDENTITY;
        let pass = async {
            tracing::debug!(method = "GET", "arm call");
        };
        let _guard = tracing::subscriber::set_default(subscriber);
        pass.instrument(reconcile_span(&id, &c)).await;
        let seen = capture.0.lock().expect("lock").clone();
        let (message, fields) = seen.first().expect("an event");
        assert_eq!(message, "arm call");
        let get = |k: &str| {
            fields
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("kind"), Some("AzureCluster"));
        assert_eq!(get("namespace"), Some("ns"));
        assert_eq!(get("name"), Some("prod"));
        assert_eq!(get("uid"), Some(crate::testing::UID));
        assert_eq!(get("generation"), Some("3"));
    }
}
