//! The in-memory resource store: resources keyed by case-insensitive id (ids kept as first
//! written), and the long-running operations running against them.
//!
//! Other resource-type modules use the lookup API here (`get`, `children`, `of_type`,
//! `is_busy`) for referential integrity.

use crate::armid::key;
use crate::types::network::refs::RefIndex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// An operation in progress on a resource. States advance lazily: [`Store::settle`] finishes
/// every operation whose time has come, before each request is served.
#[derive(Debug, Clone)]
pub struct Pending {
    pub op_id: String,
    pub kind: OpKind,
    pub started: Instant,
    pub done_at: Instant,
    /// Non-terminal provisioning states shown in turn while the operation runs.
    pub stages: Vec<String>,
    /// Set by fault injection: the operation ends Failed with this code and message.
    pub fail: Option<(String, String)>,
}

impl Pending {
    /// The provisioning state to show at `now`.
    pub fn stage_at(&self, now: Instant) -> &str {
        let total = self.done_at.saturating_duration_since(self.started);
        let n = self.stages.len().max(1);
        let idx = if total.is_zero() {
            0
        } else {
            let elapsed = now.saturating_duration_since(self.started);
            ((elapsed.as_secs_f64() / total.as_secs_f64()) * n as f64) as usize
        };
        self.stages
            .get(idx.min(n - 1))
            .map(String::as_str)
            .unwrap_or("Updating")
    }
}

/// A stored resource: its ARM JSON body (id, name, type, location, tags, properties, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub type_name: String,
    pub body: Value,
    pub etag: String,
    #[serde(skip)]
    pub pending: Option<Pending>,
}

impl Resource {
    pub fn name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or("")
    }
    pub fn properties(&self) -> Option<&Value> {
        self.body.get("properties")
    }
    pub fn location(&self) -> Option<&str> {
        self.body.get("location").and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        }
    }
}

/// The record behind an operation-status URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub resource_id: String,
    pub kind: OpKind,
    pub status: OpStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub start_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub end_time: Option<OffsetDateTime>,
    pub error: Option<(String, String)>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Store {
    resources: BTreeMap<String, Resource>,
    ops: HashMap<String, Operation>,
    #[serde(skip)]
    pending: BTreeSet<String>,
    /// An operation ended since the last save. Operations end lazily, inside whichever request
    /// comes next (a GET included), so that request must save too: otherwise a restart loads
    /// the operation's start and finishes it again with an older etag than clients were shown.
    #[serde(skip)]
    ended_unsaved: bool,
    /// Back-references by target (crate::types::network::refs), refiled lazily after writes.
    #[serde(skip)]
    refs: RefCache,
}

/// The store's reference index behind its own lock: it is refiled by lookups that see the
/// store by shared reference. A copy starts empty and is filed on first use.
#[derive(Debug, Default)]
pub struct RefCache(parking_lot::Mutex<RefIndex>);

impl Clone for RefCache {
    fn clone(&self) -> Self {
        RefCache::default()
    }
}

impl RefCache {
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, RefIndex> {
        self.0.lock()
    }
}

pub fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

impl Store {
    pub fn get(&self, id: &str) -> Option<&Resource> {
        self.resources.get(&key(id))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Resource> {
        let k = key(id);
        self.refs.0.get_mut().touch(&k);
        self.resources.get_mut(&k)
    }

    /// The reference index (crate::types::network::refs::incoming).
    pub fn refs(&self) -> &RefCache {
        &self.refs
    }

    pub fn contains(&self, id: &str) -> bool {
        self.resources.contains_key(&key(id))
    }

    /// Inserts or replaces a resource (its id's case is kept if it already exists).
    pub fn insert(&mut self, mut res: Resource) {
        let k = key(&res.id);
        if let Some(old) = self.resources.get(&k) {
            res.id = old.id.clone();
        }
        if res.pending.is_some() {
            self.pending.insert(k.clone());
        } else {
            self.pending.remove(&k);
        }
        self.refs.0.get_mut().touch(&k);
        self.resources.insert(k, res);
    }

    /// Removes a resource and everything below it (children, and for a resource group, its
    /// contents). Returns the removed resources.
    pub fn remove_tree(&mut self, id: &str) -> Vec<Resource> {
        let k = key(id);
        let prefix = format!("{k}/");
        let doomed: Vec<String> = self
            .resources
            .range(k.clone()..)
            .take_while(|(kk, _)| **kk == k || kk.starts_with(&prefix))
            .map(|(kk, _)| kk.clone())
            .collect();
        doomed
            .into_iter()
            .filter_map(|kk| {
                self.pending.remove(&kk);
                self.refs.0.get_mut().touch(&kk);
                self.resources.remove(&kk)
            })
            .collect()
    }

    /// Every resource whose id lies under `prefix_id` (exclusive), in id order.
    pub fn descendants<'a>(
        &'a self,
        prefix_id: &str,
    ) -> impl Iterator<Item = &'a Resource> + use<'a> {
        let prefix = format!("{}/", key(prefix_id));
        self.resources
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
    }

    /// Direct children of `parent_id` of ARM type `child_type` (full type, any case).
    pub fn children<'a>(
        &'a self,
        parent_id: &str,
        child_type: &'a str,
    ) -> impl Iterator<Item = &'a Resource> + use<'a> {
        let depth = key(parent_id).matches('/').count() + 2;
        self.descendants(parent_id).filter(move |r| {
            r.type_name.eq_ignore_ascii_case(child_type) && key(&r.id).matches('/').count() == depth
        })
    }

    /// Every resource of an ARM type, across subscriptions.
    pub fn of_type<'a>(&'a self, type_name: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources
            .values()
            .filter(move |r| r.type_name.eq_ignore_ascii_case(type_name))
    }

    pub fn all(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values()
    }

    /// Is an operation running on this resource?
    pub fn is_busy(&self, id: &str) -> bool {
        self.get(id).is_some_and(|r| r.pending.is_some())
    }

    pub fn operation(&self, op_id: &str) -> Option<&Operation> {
        self.ops.get(op_id)
    }

    pub fn put_operation(&mut self, op: Operation) {
        self.ops.insert(op.id.clone(), op);
    }

    pub fn finish_operation(
        &mut self,
        op_id: &str,
        status: OpStatus,
        error: Option<(String, String)>,
    ) {
        if let Some(op) = self.ops.get_mut(op_id) {
            op.status = status;
            op.error = error;
            op.end_time = Some(OffsetDateTime::now_utc());
        }
    }

    /// Ids of resources with a running operation whose end time has passed.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.pending
            .iter()
            .filter(|k| {
                self.resources
                    .get(*k)
                    .and_then(|r| r.pending.as_ref())
                    .is_some_and(|p| p.done_at <= now)
            })
            .cloned()
            .collect()
    }

    /// Notes that an operation ended (see `ended_unsaved`).
    pub fn note_ended(&mut self) {
        self.ended_unsaved = true;
    }

    /// Whether an operation ended since the last call; clears the mark.
    pub fn take_ended_unsaved(&mut self) -> bool {
        std::mem::take(&mut self.ended_unsaved)
    }

    pub fn clear(&mut self) {
        *self = Store::default();
    }

    /// Completes every running operation at once (used when loading a state file).
    pub fn pending_keys(&self) -> Vec<String> {
        self.pending.iter().cloned().collect()
    }

    /// After loading a state file (running operations are not saved): what was being
    /// deleted is gone, what was being written has succeeded, open operations are done.
    pub fn finish_loaded(&mut self) {
        const RUNNING: &[&str] = &[
            "Creating",
            "Updating",
            "Deleting",
            "ResolvingDNS",
            "Accepted",
            "Provisioning",
            "Upgrading",
            "Scaling",
        ];
        let mut doomed = Vec::new();
        for r in self.resources.values_mut() {
            let state = r
                .body
                .pointer("/properties/provisioningState")
                .and_then(Value::as_str)
                .map(str::to_string);
            match state.as_deref() {
                Some("Deleting") => doomed.push(r.id.clone()),
                Some(s) if RUNNING.contains(&s) => {
                    crate::lro::set_provisioning_state(&mut r.body, "Succeeded");
                }
                _ => {}
            }
        }
        for id in doomed {
            self.remove_tree(&id);
        }
        let now = OffsetDateTime::now_utc();
        for op in self
            .ops
            .values_mut()
            .filter(|o| o.status == OpStatus::InProgress)
        {
            op.status = OpStatus::Succeeded;
            op.end_time = Some(now);
        }
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(id: &str, ty: &str) -> Resource {
        Resource {
            id: id.into(),
            type_name: ty.into(),
            body: json!({}),
            etag: new_etag(),
            pending: None,
        }
    }

    #[test]
    fn case_insensitive_keys_keep_first_written_id() {
        let mut s = Store::default();
        s.insert(res(
            "/subscriptions/s/resourceGroups/RG",
            "Microsoft.Resources/resourceGroups",
        ));
        s.insert(res(
            "/subscriptions/s/resourcegroups/rg",
            "Microsoft.Resources/resourceGroups",
        ));
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.get("/SUBSCRIPTIONS/s/resourceGroups/rg")
                .expect("found")
                .id,
            "/subscriptions/s/resourceGroups/RG"
        );
    }

    #[test]
    fn remove_tree_takes_children_but_not_siblings_with_common_prefix() {
        let mut s = Store::default();
        let v = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
        s.insert(res(v, "Microsoft.Network/virtualNetworks"));
        s.insert(res(
            &format!("{v}/subnets/a"),
            "Microsoft.Network/virtualNetworks/subnets",
        ));
        s.insert(res(&format!("{v}2"), "Microsoft.Network/virtualNetworks"));
        assert_eq!(
            s.children(v, "Microsoft.Network/virtualNetworks/subnets")
                .count(),
            1
        );
        assert_eq!(s.remove_tree(v).len(), 2);
        assert!(s.contains(&format!("{v}2")));
    }
}
