//! Events (events.k8s.io/v1), through one shared recorder that aggregates exact repeats.
//!
//! Why not kube's `Recorder`: it keys its aggregation cache on type, reason, action and the
//! object, but not on the note. Two different Events with the same reason within its six
//! minutes — "corrected drift on the NSG", then "corrected drift on the VNet" — became one
//! Event whose series count went up while its note still named the NSG: the second correction
//! was invisible. Here the note is part of the key, so only true repeats are aggregated.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};
pub use kube::runtime::events::{Event, EventType};

use crate::context::Context;

/// How long a published Event is remembered for aggregation (as client-go and kube do).
const CACHE_TTL: SignedDuration = SignedDuration::from_mins(6);

/// What makes two Events "the same" for aggregation: everything a reader sees.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct EventKey {
    pub namespace: String,
    pub regarding_kind: String,
    pub regarding_name: String,
    pub regarding_uid: String,
    pub type_: String,
    pub reason: String,
    pub action: String,
    pub note: String,
}

impl EventKey {
    pub fn new(ev: &Event, reference: &ObjectReference) -> Self {
        EventKey {
            namespace: reference.namespace.clone().unwrap_or_default(),
            regarding_kind: reference.kind.clone().unwrap_or_default(),
            regarding_name: reference.name.clone().unwrap_or_default(),
            regarding_uid: reference.uid.clone().unwrap_or_default(),
            type_: type_name(ev.type_).to_string(),
            reason: ev.reason.clone(),
            action: ev.action.clone(),
            note: ev.note.clone().unwrap_or_default(),
        }
    }
}

impl EventKey {
    /// What the recorder remembers the key by: 128 bits of hash, not the key, whose note
    /// alone is up to 1 KiB. A creation wave of 1,000 clusters publishes thousands of Events
    /// within [`CACHE_TTL`]; their keys were the recorder's largest holding (issue 24,
    /// memory). Two different Events taken for one would need a 128-bit collision.
    fn digest(&self) -> KeyDigest {
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            self.hash(&mut h);
            h.finish()
        };
        KeyDigest((u128::from(half(0)) << 64) | u128::from(half(1)))
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct KeyDigest(u128);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Published {
    name: String,
    count: i32,
    last: Timestamp,
}

/// What to do with an Event, given what was published under its key. Pure.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Publish {
    Create,
    /// Bump the series of the existing Event `name` to `count`.
    Repeat {
        name: String,
        count: i32,
    },
}

fn decide(previous: Option<&Published>, now: Timestamp) -> Publish {
    match previous {
        Some(p) if p.last + CACHE_TTL > now => Publish::Repeat {
            name: p.name.clone(),
            count: p.count.saturating_add(1),
        },
        _ => Publish::Create,
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

pub struct EventRecorder {
    client: kube::Client,
    controller: String,
    instance: String,
    published: Mutex<HashMap<KeyDigest, Published>>,
}

impl EventRecorder {
    pub fn new(client: kube::Client, controller: &str, instance: Option<String>) -> Self {
        EventRecorder {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            published: Mutex::new(HashMap::new()),
        }
    }

    fn new_event(
        &self,
        reporter: &str,
        ev: &Event,
        reference: &ObjectReference,
        now: Timestamp,
    ) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            // The API server refuses a longer note: cut it, never lose the Event.
            note: ev
                .note
                .as_deref()
                .map(|n| crate::summary::fit(n, crate::summary::EVENT_NOTE_LIMIT)),
            metadata: ObjectMeta {
                namespace: reference.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    reference.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(reporter.to_string()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(type_name(ev.type_).to_string()),
            related: ev.secondary.clone(),
            ..K8sEvent::default()
        }
    }

    /// Creates the Event, or bumps the series of the same Event published recently, as the
    /// recorder's own controller.
    pub async fn publish(
        &self,
        ev: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let reporter = self.controller.clone();
        self.publish_as(&reporter, ev, reference).await
    }

    /// [`EventRecorder::publish`] with `reporter` as the Event's reporting controller.
    pub async fn publish_as(
        &self,
        reporter: &str,
        ev: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = EventKey::new(ev, reference);
        let digest = key.digest();
        let action = {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            forget_expired(&mut published, now);
            decide(published.get(&digest), now)
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &key.namespace);
        if let Publish::Repeat { name, count } = action {
            let patch = serde_json::json!({"series": EventSeries {
                count,
                last_observed_time: MicroTime(now),
            }});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(digest, name, count, now);
                    return Ok(());
                }
                // Expired on the server (Events live an hour): publish it afresh.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.new_event(reporter, ev, reference, now);
        let created = api.create(&PostParams::default(), &event).await?;
        self.remember(digest, created.metadata.name.unwrap_or_default(), 1, now);
        Ok(())
    }

    fn remember(&self, key: KeyDigest, name: String, count: i32, last: Timestamp) {
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        published.insert(key, Published { name, count, last });
    }

    /// Forgets the Events published longer than [`CACHE_TTL`] ago. Publishing does it too;
    /// this is for a quiet operator, which would otherwise keep the last wave's for ever
    /// (the operator calls it every minute).
    pub fn forget_expired(&self) {
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        forget_expired(&mut published, Timestamp::now());
    }

    /// Events remembered for aggregation now.
    pub fn remembered(&self) -> usize {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Drops what expired at `now`, and the table's room when a wave left it mostly empty (a
/// map keeps its largest capacity otherwise).
fn forget_expired(published: &mut HashMap<KeyDigest, Published>, now: Timestamp) {
    published.retain(|_, p| p.last + CACHE_TTL > now);
    if published.capacity() > 4 * published.len().max(64) {
        published.shrink_to_fit();
    }
}

/// Publishes an Event on `obj`, reported by `reporter` (a controller's identity). A failure
/// to publish is logged, never fatal: Events are for people, status is the record.
pub async fn publish<K>(
    ctx: &Context,
    reporter: &str,
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
    if let Err(e) = ctx
        .recorder
        .publish_as(reporter, &ev, &obj.object_ref(&()))
        .await
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Update".into(),
            secondary: None,
        }
    }

    fn reference() -> ObjectReference {
        ObjectReference {
            kind: Some("AzureCluster".into()),
            namespace: Some("ns".into()),
            name: Some("prod".into()),
            uid: Some("uid-1".into()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn events_with_the_same_reason_but_different_notes_are_different_events() {
        let nsg = EventKey::new(&ev("DriftCorrected", "corrected the NSG"), &reference());
        let vnet = EventKey::new(&ev("DriftCorrected", "corrected the VNet"), &reference());
        assert_ne!(nsg, vnet);
        assert_eq!(
            nsg,
            EventKey::new(&ev("DriftCorrected", "corrected the NSG"), &reference())
        );
        // What the recorder remembers them by keeps them apart, and a repeat together.
        assert_ne!(nsg.digest(), vnet.digest());
        assert_eq!(
            nsg.digest(),
            EventKey::new(&ev("DriftCorrected", "corrected the NSG"), &reference()).digest()
        );
        let other_object = ObjectReference {
            uid: Some("uid-2".into()),
            ..reference()
        };
        assert_ne!(
            nsg.digest(),
            EventKey::new(&ev("DriftCorrected", "corrected the NSG"), &other_object).digest()
        );
    }

    #[test]
    fn expired_events_are_forgotten_and_the_room_they_took_is_given_back() {
        let now = Timestamp::now();
        let published = |age_mins: i64| Published {
            name: "prod.1".into(),
            count: 1,
            last: now - SignedDuration::from_mins(age_mins),
        };
        let mut map = HashMap::new();
        // A wave: 5,000 Events, all but 10 older than the TTL by now.
        for i in 0..5_000u128 {
            map.insert(KeyDigest(i), published(if i < 10 { 1 } else { 7 }));
        }
        let wave_room = map.capacity();
        forget_expired(&mut map, now);
        assert_eq!(map.len(), 10);
        assert!(map.contains_key(&KeyDigest(3)));
        assert!(
            map.capacity() * 10 < wave_room,
            "room for {} kept after the wave (was {wave_room})",
            map.capacity()
        );
    }

    #[test]
    fn a_repeat_within_the_ttl_bumps_the_series_and_a_late_one_is_new() {
        let now = Timestamp::now();
        assert_eq!(decide(None, now), Publish::Create);
        let p = Published {
            name: "prod.1".into(),
            count: 1,
            last: now - SignedDuration::from_mins(1),
        };
        assert_eq!(
            decide(Some(&p), now),
            Publish::Repeat {
                name: "prod.1".into(),
                count: 2
            }
        );
        let old = Published {
            last: now - SignedDuration::from_mins(7),
            ..p
        };
        assert_eq!(decide(Some(&old), now), Publish::Create);
    }

    #[test]
    fn long_notes_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(600), 1024);
        assert!(s.len() <= 1024 + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
