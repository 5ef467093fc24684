//! Events, through the one shared Recorder so the API server aggregates repeats.

use kube::Resource;
use kube::runtime::events::{Event, EventType};

use crate::context::Context;

/// Publishes an Event on `obj`. A failure to publish is logged, never fatal: Events are
/// for people, status is the record.
pub async fn publish<K>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(truncate(note, 1024)),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "failed to publish an Event");
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
