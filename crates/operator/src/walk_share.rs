//! Walks shared between replicas (`azop run --shards N > 1`, docs/scale.md "Walks shared
//! between replicas"): each replica hands its subscription-wide walks to the others through
//! the API server, and compares its own listings with theirs, so the replicas walk a
//! subscription once per listing age between them instead of once each.
//!
//! A walk travels as a ConfigMap in the operator's namespace, one per (credentials,
//! subscription, type, api-version), replaced by each walk handed on: the walk's start and,
//! as binary data, 16 bytes per resource listed (hashes of its id and of its ETag; no id,
//! body or tag: `azop_provider::listing::digest`). ~100 KB for the 6,000 NICs of 1,000
//! clusters, at most one write per type every 30 s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azop_provider::Listings;
use azop_provider::listing::digest::{FORMAT, WalkDigest};
use azop_provider::listing::{Attested, digest};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info, warn};

/// Names the operator (its lease name) whose replicas share these walks.
pub const GROUP_LABEL: &str = "azop.dev/walk-group";
const BY: &str = "azop.dev/walk-by";
const STARTED_MS: &str = "azop.dev/walk-started-unix-ms";
const FORMAT_KEY: &str = "azop.dev/walk-format";
const CREDENTIAL: &str = "azop.dev/walk-credential";
const SUBSCRIPTION: &str = "azop.dev/walk-subscription";
const TYPE: &str = "azop.dev/walk-type";
const API_VERSION: &str = "azop.dev/walk-api-version";
const ENTRIES: &str = "entries";
const FIELD_MANAGER: &str = "azop-walks";

/// A walk nobody handed on for this long describes a subscription no replica reads any more:
/// its ConfigMap is deleted by the next replica to start.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `published`; `compared` (another replica's walk compared with this one's listing);
    /// `complete` (of those, the ones that count as this listing's walk).
    pub event: String,
}

/// `azop_shared_walks_total`.
pub type Counters = Family<EventLabels, Counter>;

fn count(counters: &Counters, event: &str) {
    counters
        .get_or_create(&EventLabels {
            event: event.to_owned(),
        })
        .inc();
}

/// The ConfigMap that hands `d` on, as replica `by` of `group` writes it. Pure.
pub fn config_map(d: &WalkDigest, group: &str, by: &str) -> ConfigMap {
    let started_ms = d
        .started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let annotations = [
        (BY, by.to_owned()),
        (STARTED_MS, started_ms.to_string()),
        (FORMAT_KEY, FORMAT.to_owned()),
        (CREDENTIAL, d.credential.clone()),
        (SUBSCRIPTION, d.subscription.clone()),
        (TYPE, d.type_name.clone()),
        (API_VERSION, d.api_version.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{group}-walk-{}", d.slot())),
            labels: Some(BTreeMap::from([(GROUP_LABEL.to_owned(), group.to_owned())])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(
            ENTRIES.to_owned(),
            ByteString(d.encode_entries()),
        )])),
        ..ConfigMap::default()
    }
}

/// Why a ConfigMap of the group is not a walk this replica can use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    #[error("written by a replica with digest format {0:?}, this one reads {FORMAT:?}")]
    Format(String),
    #[error("annotation {0} is missing or unreadable")]
    Annotation(&'static str),
    #[error(transparent)]
    Entries(#[from] digest::BadEntries),
}

/// A walk read back from its ConfigMap, and the replica that handed it on. Pure.
pub fn read(cm: &ConfigMap) -> Result<(WalkDigest, String), Unusable> {
    let empty = BTreeMap::new();
    let a = cm.metadata.annotations.as_ref().unwrap_or(&empty);
    let get = |k: &'static str| a.get(k).cloned().ok_or(Unusable::Annotation(k));
    let format = get(FORMAT_KEY)?;
    if format != FORMAT {
        return Err(Unusable::Format(format));
    }
    let started_ms: u64 = get(STARTED_MS)?
        .parse()
        .map_err(|_| Unusable::Annotation(STARTED_MS))?;
    let bytes = cm
        .binary_data
        .as_ref()
        .and_then(|b| b.get(ENTRIES))
        .map(|b| b.0.as_slice())
        .unwrap_or_default();
    let digest = WalkDigest {
        credential: get(CREDENTIAL)?,
        subscription: get(SUBSCRIPTION)?,
        type_name: get(TYPE)?,
        api_version: get(API_VERSION)?,
        started: SystemTime::UNIX_EPOCH + Duration::from_millis(started_ms),
        entries: WalkDigest::decode_entries(bytes)?,
    };
    Ok((digest, get(BY)?))
}

/// Where the walks are handed on, and who this replica is.
#[derive(Debug, Clone)]
pub struct Sharing {
    pub api: Api<ConfigMap>,
    pub group: String,
    pub identity: String,
    pub counters: Counters,
}

/// Hands every walk this replica makes to the others, until the listings are gone.
pub async fn publish(sharing: Sharing, listings: Listings) {
    let mut walks = listings.digests();
    drop(listings);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut failing = false;
    loop {
        let d: Arc<WalkDigest> = match walks.recv().await {
            Ok(d) => d,
            // Later walks of the same types replace what was dropped.
            Err(RecvError::Lagged(n)) => {
                debug!(dropped = n, "walks not handed on");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let cm = config_map(&d, &sharing.group, &sharing.identity);
        let name = cm.metadata.name.clone().unwrap_or_default();
        match sharing.api.patch(&name, &params, &Patch::Apply(&cm)).await {
            Ok(_) => {
                count(&sharing.counters, "published");
                if failing {
                    info!(config_map = %name, "walks are handed to the other replicas again");
                }
                failing = false;
            }
            // Each replica still walks for itself: only the saving is lost. Said once per
            // failing spell (a missing RBAC rule would otherwise log every 30 s per type).
            Err(e) if !failing => {
                warn!(config_map = %name, error = %e, "cannot hand this walk to the other replicas (they walk for themselves); check the Role grants configmaps get, list, watch, create and patch");
                failing = true;
            }
            Err(e) => debug!(config_map = %name, error = %e, "walk not handed on"),
        }
    }
}

/// Compares this replica's listings with every walk the other replicas hand on.
pub async fn follow(sharing: Sharing, listings: Listings) {
    let config = watcher::Config::default().labels(&format!("{GROUP_LABEL}={}", sharing.group));
    let mut walks = watcher(sharing.api.clone(), config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = walks.next().await {
        let cm = match event {
            Ok(cm) => cm,
            Err(e) => {
                debug!(error = %e, "watching the shared walks");
                continue;
            }
        };
        let name = cm.metadata.name.clone().unwrap_or_default();
        let (d, by) = match read(&cm) {
            Ok(found) => found,
            Err(e) => {
                debug!(config_map = %name, error = %e, "a shared walk this replica cannot use");
                continue;
            }
        };
        // Before the identity check: a forgotten walk may carry this replica's identity (a
        // pod name reused by a StatefulSet, `--identity` given).
        if SystemTime::now()
            .duration_since(d.started)
            .is_ok_and(|age| age > FORGOTTEN_AFTER)
        {
            let _ = sharing.api.delete(&name, &DeleteParams::default()).await;
            continue;
        }
        if by == sharing.identity {
            continue;
        }
        match listings.attest(&d) {
            Attested::Compared(found) if !found.stale => {
                count(&sharing.counters, "compared");
                if found.complete {
                    count(&sharing.counters, "complete");
                }
                debug!(
                    resource_type = %d.type_name,
                    by = %by,
                    complete = found.complete,
                    woken = found.woken.len(),
                    "compared with another replica's walk"
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk() -> WalkDigest {
        WalkDigest {
            credential: digest::credential_tag("k"),
            subscription: "00000000-0000-0000-0000-000000000001".into(),
            type_name: "microsoft.network/networkinterfaces".into(),
            api_version: "2024-05-01".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_123),
            entries: vec![(1, 2), (3, 4)],
        }
    }

    #[test]
    fn a_walk_round_trips_through_its_config_map() {
        let cm = config_map(&walk(), "azop-leader", "replica-a");
        let name = cm.metadata.name.clone().expect("a name");
        assert!(name.starts_with("azop-leader-walk-"), "{name}");
        assert_eq!(
            cm.metadata.labels.as_ref().and_then(|l| l.get(GROUP_LABEL)),
            Some(&"azop-leader".to_owned())
        );
        assert_eq!(read(&cm), Ok((walk(), "replica-a".to_owned())));
        // Through JSON, as the API server stores it (binary data as base64).
        let back: ConfigMap =
            serde_json::from_value(serde_json::to_value(&cm).expect("json")).expect("a cm");
        assert_eq!(read(&back), Ok((walk(), "replica-a".to_owned())));
    }

    #[test]
    fn a_walk_of_another_format_or_torn_is_not_used() {
        let mut cm = config_map(&walk(), "g", "r");
        cm.metadata
            .annotations
            .as_mut()
            .expect("annotations")
            .insert(FORMAT_KEY.into(), "sip13-v0".into());
        assert_eq!(read(&cm), Err(Unusable::Format("sip13-v0".into())));
        let mut cm = config_map(&walk(), "g", "r");
        cm.binary_data
            .as_mut()
            .expect("data")
            .insert(ENTRIES.into(), ByteString(vec![0; 17]));
        assert!(matches!(read(&cm), Err(Unusable::Entries(_))));
        let mut cm = config_map(&walk(), "g", "r");
        cm.metadata
            .annotations
            .as_mut()
            .expect("annotations")
            .remove(SUBSCRIPTION);
        assert_eq!(read(&cm), Err(Unusable::Annotation(SUBSCRIPTION)));
    }
}
