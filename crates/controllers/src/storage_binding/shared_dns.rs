//! The private DNS zone `privatelink.blob.core.windows.net` and its VNet link: shared by every
//! private endpoint to blob storage in the resource group, so they belong to no one binding.
//!
//! azop creates them when missing and marks them shared ([`SHARED_TAG`]), never with a
//! binding's `azop.dev_owner`/`azop.dev_uid` (that binding goes; the zone stays for the
//! others). A binding being deleted removes them once the last user is gone: when the zone
//! holds no record but its SOA, no endpoint resolves through it any more (each endpoint's zone
//! group keeps an A record there, and it goes with the endpoint). A zone or link azop did not
//! create (no mark) is used as it is and never changed or deleted. Zones an older azop tagged
//! with one binding's uid are taken over: re-tagged as shared, that binding's marks dropped.

use std::collections::BTreeMap;

use async_trait::async_trait;
use azop_provider::resources::network::private_endpoint::{
    PrivateDnsZone, PrivateDnsZoneKey, VirtualNetworkLink, VirtualNetworkLinkKey,
};
use azop_provider::resources::{self, ArmResource, OWNER_TAG, UID_TAG};
use azop_provider::{Difference, LroHandle, Owner};
use serde_json::{Value, json};

use crate::engine::{Observation, Step, StepCtx, StepError};

/// The mark of a shared resource azop created (value `true`).
pub const SHARED_TAG: &str = azop_api::naming::TAG_SHARED;

/// Who a zone or link belongs to, from its tags (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marking {
    /// Created by azop, shared.
    Shared,
    /// Created by an older azop for one binding (its uid tag): azop's, to be re-tagged.
    Legacy,
    /// Not created by azop: used as it is.
    Foreign,
}

pub fn marking(tags: Option<&serde_json::Map<String, Value>>) -> Marking {
    let has = |k: &str| tags.is_some_and(|t| t.keys().any(|t| t.eq_ignore_ascii_case(k)));
    if has(SHARED_TAG) {
        Marking::Shared
    } else if has(UID_TAG) {
        Marking::Legacy
    } else {
        Marking::Foreign
    }
}

/// Whether an endpoint still resolves through the zone: it has records besides its SOA (pure).
pub fn zone_in_use(zone: &Value) -> bool {
    zone.pointer("/properties/numberOfRecordSets")
        .and_then(Value::as_i64)
        // Unknown: assume in use, never delete on a guess.
        .is_none_or(|n| n > 1)
}

/// The tags a shared resource gets (pure): what it has (or, new, the binding's own tags),
/// without any binding's ownership marks, with the shared mark.
pub fn shared_tags(
    existing: Option<&serde_json::Map<String, Value>>,
    user: &BTreeMap<String, String>,
) -> Value {
    let mut tags = serde_json::Map::new();
    match existing {
        Some(t) => {
            for (k, v) in t {
                if !k.eq_ignore_ascii_case(OWNER_TAG) && !k.eq_ignore_ascii_case(UID_TAG) {
                    tags.insert(k.clone(), v.clone());
                }
            }
        }
        None => {
            for (k, v) in user {
                tags.insert(k.clone(), json!(v));
            }
        }
    }
    tags.insert(SHARED_TAG.to_string(), json!("true"));
    Value::Object(tags)
}

fn tags_of(raw: &Value) -> Option<&serde_json::Map<String, Value>> {
    raw.get("tags").and_then(Value::as_object)
}

/// The observation of a shared resource (pure): ours when azop made it; while deleting,
/// ours only once the zone is unused; a legacy one drifts until it is re-tagged.
fn observation(
    raw: Value,
    deleting: bool,
    zone_unused: bool,
    mut drift: Vec<Difference>,
) -> Observation {
    let mark = marking(tags_of(&raw));
    let ours = mark != Marking::Foreign;
    if mark == Marking::Legacy {
        drift.push(Difference {
            field: "tags".to_string(),
            desired: format!("{SHARED_TAG}=true, no binding's ownership marks"),
            observed: "one binding's azop.dev_uid".to_string(),
        });
    }
    Observation {
        exists: true,
        owned: ours && (!deleting || zone_unused),
        provisioning_state: raw
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
            .map(str::to_string),
        drift: if ours && !deleting { drift } else { Vec::new() },
        raw: Some(raw),
        ..Default::default()
    }
}

async fn read_zone(cx: &StepCtx<'_>, key: &PrivateDnsZoneKey) -> Result<Option<Value>, StepError> {
    let path = PrivateDnsZone::path(cx.session.subscription_id(), key);
    Ok(cx
        .observer
        .get(&path, PrivateDnsZone::API_VERSION)
        .await?
        .and_then(|r| r.json()))
}

/// The shared private DNS zone.
pub struct SharedZone {
    pub key: PrivateDnsZoneKey,
    /// The binding's tags, for a zone azop creates.
    pub tags: BTreeMap<String, String>,
    pub deleting: bool,
}

impl SharedZone {
    pub fn new(key: PrivateDnsZoneKey, tags: BTreeMap<String, String>, deleting: bool) -> Self {
        SharedZone {
            key,
            tags,
            deleting,
        }
    }

    /// The body to PUT: the tags the zone has (`seen`, as ARM returned it) made shared.
    fn body(&self, seen: Option<&Value>) -> Value {
        json!({
            "location": "global",
            "tags": shared_tags(seen.and_then(tags_of), &self.tags),
        })
    }
}

#[async_trait]
impl Step for SharedZone {
    fn resource_type(&self) -> &'static str {
        PrivateDnsZone::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        PrivateDnsZone::path(subscription_id, &self.key)
    }

    fn desired(&self, _owner: &Owner) -> Option<Value> {
        Some(self.body(None))
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let Some(raw) = read_zone(cx, &self.key).await? else {
            return Ok(Observation::default());
        };
        let unused = !zone_in_use(&raw);
        Ok(observation(raw, self.deleting, unused, Vec::new()))
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let resp =
            PrivateDnsZone::put(cx.session, &self.key, &self.body(seen.raw.as_ref())).await?;
        let path = self.id(cx.session.subscription_id());
        Ok(cx
            .session
            .start_lro("PUT", &path, PrivateDnsZone::API_VERSION, &resp))
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::delete_observed::<PrivateDnsZone>(cx.session, &self.key).await?)
    }
}

/// The shared zone's link to one VNet.
pub struct SharedLink {
    pub key: VirtualNetworkLinkKey,
    pub zone: PrivateDnsZoneKey,
    pub vnet_id: String,
    pub tags: BTreeMap<String, String>,
    pub deleting: bool,
}

impl SharedLink {
    pub fn new(
        key: VirtualNetworkLinkKey,
        zone: PrivateDnsZoneKey,
        vnet_id: String,
        tags: BTreeMap<String, String>,
        deleting: bool,
    ) -> Self {
        SharedLink {
            key,
            zone,
            vnet_id,
            tags,
            deleting,
        }
    }

    /// The body to PUT: the tags the link has (`seen`, as ARM returned it) made shared.
    fn body(&self, seen: Option<&Value>) -> Value {
        json!({
            "location": "global",
            "tags": shared_tags(seen.and_then(tags_of), &self.tags),
            "properties": {
                "virtualNetwork": {"id": self.vnet_id},
                "registrationEnabled": false
            }
        })
    }
}

#[async_trait]
impl Step for SharedLink {
    fn resource_type(&self) -> &'static str {
        VirtualNetworkLink::RESOURCE_TYPE
    }

    fn name(&self) -> &str {
        &self.key.name
    }

    fn id(&self, subscription_id: &str) -> String {
        VirtualNetworkLink::path(subscription_id, &self.key)
    }

    fn desired(&self, _owner: &Owner) -> Option<Value> {
        Some(self.body(None))
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let path = self.id(cx.session.subscription_id());
        let Some(raw) = cx
            .observer
            .get(&path, VirtualNetworkLink::API_VERSION)
            .await?
            .and_then(|r| r.json())
        else {
            return Ok(Observation::default());
        };
        let unused = match read_zone(cx, &self.zone).await? {
            Some(zone) => !zone_in_use(&zone),
            None => true,
        };
        let mut drift = Vec::new();
        let have = raw
            .pointer("/properties/virtualNetwork/id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !have.eq_ignore_ascii_case(&self.vnet_id) {
            drift.push(Difference {
                field: "properties.virtualNetwork.id".to_string(),
                desired: self.vnet_id.clone(),
                observed: have.to_string(),
            });
        }
        Ok(observation(raw, self.deleting, unused, drift))
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let resp =
            VirtualNetworkLink::put(cx.session, &self.key, &self.body(seen.raw.as_ref())).await?;
        let path = self.id(cx.session.subscription_id());
        Ok(cx
            .session
            .start_lro("PUT", &path, VirtualNetworkLink::API_VERSION, &resp))
    }

    async fn delete(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(resources::delete_observed::<VirtualNetworkLink>(cx.session, &self.key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(tags: Value, records: i64) -> Value {
        json!({"location": "global", "tags": tags,
               "properties": {"numberOfRecordSets": records, "provisioningState": "Succeeded"}})
    }

    #[test]
    fn only_what_azop_made_is_ours_and_only_the_last_user_deletes_it() {
        let shared = zone(json!({SHARED_TAG: "true", "env": "dev"}), 1);
        let o = observation(shared.clone(), false, true, Vec::new());
        assert!(o.owned && o.drift.is_empty());
        // Deleting: ours only once no endpoint's record is left.
        assert!(observation(shared.clone(), true, true, Vec::new()).owned);
        assert!(!observation(shared, true, false, Vec::new()).owned);
        // A zone made by hand: used, never ours.
        let foreign = zone(json!({"team": "net"}), 1);
        assert!(!observation(foreign.clone(), false, true, Vec::new()).owned);
        assert!(!observation(foreign, true, true, Vec::new()).owned);
        // One an older azop tagged with a binding's uid: ours, re-tagged.
        let legacy = zone(
            json!({UID_TAG: "gone", OWNER_TAG: "StorageBinding/ns/old", "env": "dev"}),
            2,
        );
        let o = observation(legacy.clone(), false, false, Vec::new());
        assert!(o.owned);
        assert_eq!(o.drift[0].field, "tags");
        let tags = shared_tags(tags_of(&legacy), &BTreeMap::new());
        assert_eq!(tags, json!({"env": "dev", SHARED_TAG: "true"}));
        assert!(zone_in_use(&legacy));
        assert!(!zone_in_use(&zone(json!({}), 1)));
        assert!(zone_in_use(&json!({})), "unknown is in use");
        // A new zone carries the binding's tags and the mark, no ownership.
        let fresh = shared_tags(
            None,
            &BTreeMap::from([("env".to_string(), "prod".to_string())]),
        );
        assert_eq!(fresh, json!({"env": "prod", SHARED_TAG: "true"}));
    }
}
