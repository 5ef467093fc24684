//! What one listing knows of one ARM type: an entry per resource, and when the listing was
//! walked. Pure (time comes in as an argument); the async walking lives in the parent module.
//!
//! Freshness rules, in one place:
//! - A walk that started at `S` replaces an entry unless the entry was learned after `S`
//!   (a GET, or one of azop's own writes, made while the walk was under way): the walk may
//!   have read that resource before the change.
//! - One of azop's writes marks its entry `dirty` (learned at the time of the answer): the
//!   next observation reads it by GET instead of trusting the listing, and a walk that
//!   started before the write does not clear it.
//! - A walk compares each resource with the previous walk (its ETag, else its body): one that
//!   changed, appeared or went — without a write of azop's since the previous walk — wakes
//!   the object whose `azop.dev_uid` tag it carries. The first walk of a type wakes nobody:
//!   there is nothing to compare with.
//! - A resource listed (or read) in a non-terminal provisioning state (`Creating`,
//!   `Updating`, `Deleting`) is trusted for `busy_age` only, then read by GET: its operation
//!   ends without a write of azop's when the process that started it was killed (the handle
//!   never reached status), and nothing else would tell the listing before its next walk.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::body::KeptBody;
use super::target::in_group;

/// One resource as a listing (or a GET) showed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The ETag (with the provisioning state), else a hash of the body: what tells a change.
    pub fingerprint: u64,
    /// The `azop.dev_uid` tag.
    pub owner_uid: Option<Box<str>>,
    /// A hash of the whole body as listed: a walk reuses the kept body only when this is
    /// the same (the ETag is not enough: what ARM computes on reading changes no ETag).
    pub content: u64,
    /// Its provisioning state was terminal (or absent) when it was learned.
    pub settled: bool,
    /// The JSON body, kept (compressed) only for resources azop owns or that a pass asked
    /// for: the only ones a reconcile reads. Others are known to exist, by their id.
    pub held: Held,
}

/// What an entry holds of a resource beyond its fingerprints: its body, or only its id. The
/// body holds the id, so the id is not kept twice (22,000 ids of ~150 bytes at 1,000
/// clusters).
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    Body(KeptBody),
    /// The id as ARM wrote it.
    Id(Box<str>),
}

impl Item {
    /// The kept body, if any.
    pub fn body(&self) -> Option<&KeptBody> {
        match &self.held {
            Held::Body(b) => Some(b),
            Held::Id(_) => None,
        }
    }

    /// This item without its body: only the id is kept, read back from the body (`key`, the
    /// lower-case id, if the body cannot give it: only a bug could make it unreadable).
    pub fn without_body(mut self, key: &str) -> Item {
        if let Held::Body(b) = &self.held {
            let id = b
                .json()
                .ok()
                .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
                .and_then(|v| {
                    v.get("id")
                        .and_then(serde_json::Value::as_str)
                        .map(Into::into)
                })
                .unwrap_or_else(|| key.into());
            self.held = Held::Id(id);
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    Present(Item),
    /// A GET found nothing, or azop deleted it.
    Absent,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub known: Known,
    pub learned_at: Instant,
    /// Written by azop since it was learned: read it again before trusting it.
    pub dirty: bool,
    /// When azop last wrote it.
    pub touched_at: Option<Instant>,
    /// azop's last write to it was a DELETE (answered, or its operation ended): an absence
    /// may then be read from a walk that started after it ([`Lookup::WalkSince`]).
    pub deleted: bool,
    /// When a pass last asked for it by id.
    pub asked_at: Option<Instant>,
}

impl Entry {
    /// Whether what is known must be read again by GET at `now` rather than trusted: azop
    /// wrote it since, or it was in progress longer ago than `busy_age`. Pure.
    pub fn needs_read(&self, now: Instant, busy_age: Duration) -> bool {
        self.dirty
            || matches!(&self.known, Known::Present(i)
                if !i.settled && now.saturating_duration_since(self.learned_at) > busy_age)
    }
}

/// What a walk covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every resource of the type in the subscription.
    Subscription,
    /// Those of one resource group (the principal may not list the subscription).
    Group(String),
}

impl Scope {
    fn covers(&self, key: &str) -> bool {
        match self {
            Scope::Subscription => true,
            Scope::Group(g) => in_group(key, g),
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Not there, as of the walk or read it was learned from.
    Absent,
    /// There, with its body.
    Body(KeptBody),
    /// Read it by GET: azop wrote it since, or its body was not kept.
    Read,
    /// azop deleted it at the instant given: what a walk that started after that instant
    /// shows is the answer (gone, or still there), one walk for every resource so deleted.
    WalkSince(Instant),
}

/// One type's listing.
#[derive(Debug, Default)]
pub struct TypeState {
    /// Start of the last complete subscription-wide walk.
    pub listed_at: Option<Instant>,
    /// Start of the last complete walk of each resource group (lower case), when the
    /// principal may only list resource groups.
    pub groups_listed_at: HashMap<String, Instant>,
    /// By [`super::target::id_key`].
    pub entries: HashMap<String, Entry>,
    /// Start of the latest subscription-wide walk of another replica's that this listing
    /// was compared with and found complete against ([`TypeState::attest`]).
    pub attested_at: Option<Instant>,
}

/// What comparing a listing with another replica's walk found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attestation {
    /// Owners of resources that walk shows changed or gone: read again, and woken.
    pub woken: Vec<String>,
    /// The walk listed nothing this listing does not know of: it now counts as walked then.
    pub complete: bool,
    /// The walk started before what this listing already holds: nothing was compared.
    pub stale: bool,
}

impl TypeState {
    /// When what is known of resource group `group` was last walked.
    pub fn walked_at(&self, scope: &Scope) -> Option<Instant> {
        match scope {
            Scope::Subscription => self.listed_at,
            Scope::Group(g) => self.groups_listed_at.get(&g.to_ascii_lowercase()).copied(),
        }
    }

    /// How old the evidence about `key` is at `now`: when its entry was learned, else (not
    /// there) when its scope was walked. `None`: never walked.
    pub fn age(&self, scope: &Scope, key: &str, now: Instant) -> Option<Duration> {
        let learned = match self.entries.get(key) {
            Some(e) if !e.dirty => Some(e.learned_at),
            Some(_) => return None,
            None => self.walked_at(scope),
        };
        learned.map(|t| now.saturating_duration_since(t))
    }

    /// What is known of `key`; notes that a pass asked for it. An entry in progress for
    /// longer than `busy_age` is to be read again ([`Entry::needs_read`]).
    pub fn lookup(&mut self, key: &str, now: Instant, busy_age: Duration) -> Lookup {
        let Some(e) = self.entries.get_mut(key) else {
            return Lookup::Absent;
        };
        e.asked_at = Some(now);
        if e.dirty
            && e.deleted
            && let Some(t) = e.touched_at
        {
            return Lookup::WalkSince(t);
        }
        if e.needs_read(now, busy_age) {
            return Lookup::Read;
        }
        match &e.known {
            Known::Absent => Lookup::Absent,
            Known::Present(Item {
                held: Held::Body(body),
                ..
            }) => Lookup::Body(body.clone()),
            Known::Present(_) => Lookup::Read,
        }
    }

    /// What a GET sent at `now` answered (`None`: not found). Something learned after it
    /// was sent (one of azop's writes answered meanwhile) is kept instead.
    pub fn learn(&mut self, key: String, item: Option<Item>, now: Instant) {
        if let Some(e) = self.entries.get_mut(&key)
            && e.learned_at > now
        {
            e.asked_at = Some(now);
            return;
        }
        let previous = self.entries.remove(&key);
        self.entries.insert(
            key,
            Entry {
                known: item.map_or(Known::Absent, Known::Present),
                learned_at: now,
                dirty: false,
                touched_at: previous.as_ref().and_then(|p| p.touched_at),
                deleted: previous.as_ref().is_some_and(|p| p.deleted),
                asked_at: Some(now),
            },
        );
    }

    /// azop wrote `key` (answered at `now`; `deleted`: the write was a DELETE): read it
    /// again before trusting it.
    pub fn touch(&mut self, key: &str, now: Instant, deleted: bool) {
        let e = self.entries.entry(key.to_string()).or_insert(Entry {
            known: Known::Absent,
            learned_at: now,
            dirty: true,
            touched_at: None,
            deleted,
            asked_at: None,
        });
        e.dirty = true;
        e.learned_at = now;
        e.touched_at = Some(now);
        e.deleted = deleted;
    }

    /// azop deleted something that holds every entry under `prefix` (a resource group).
    pub fn touch_under(&mut self, prefix: &str, now: Instant) {
        for (k, e) in self.entries.iter_mut() {
            if k.starts_with(prefix) {
                e.dirty = true;
                e.learned_at = now;
                e.touched_at = Some(now);
                e.deleted = true;
            }
        }
    }

    /// Whether `key`, which azop deleted, is known gone from evidence that began at or after
    /// `since` (a walk that started then, or a GET sent then), with no write of azop's
    /// since. Pure.
    pub fn gone_since(&self, key: &str, since: Instant) -> bool {
        self.entries.get(key).is_some_and(|e| {
            e.deleted && !e.dirty && e.known == Known::Absent && e.learned_at >= since
        })
    }

    /// The `azop.dev_uid` of `key` as last listed or read.
    pub fn owner_of(&self, key: &str) -> Option<String> {
        match &self.entries.get(key)?.known {
            Known::Present(item) => item.owner_uid.as_deref().map(str::to_string),
            Known::Absent => None,
        }
    }

    /// When azop's DELETE of `key` was answered (or its operation ended), when that is the
    /// last write azop made to it.
    pub fn deleted_at(&self, key: &str) -> Option<Instant> {
        self.entries
            .get(key)
            .filter(|e| e.deleted)
            .and_then(|e| e.touched_at)
    }

    /// What a walk that lists `key` with a body of hash `content` can keep of what is known:
    /// the body already kept, when the body is the same as then, so a walk of an unchanged
    /// subscription makes no new bodies; and when a pass last asked for it.
    pub fn known_of(&self, key: &str, content: u64) -> (Option<KeptBody>, Option<Instant>) {
        let Some(e) = self.entries.get(key) else {
            return (None, None);
        };
        let body = match &e.known {
            Known::Present(i) if i.content == content => i.body().cloned(),
            _ => None,
        };
        (body, e.asked_at)
    }

    /// Applies a complete walk of `scope` that started at `started`. `keep_body` says whether
    /// a listed item's body is worth keeping (given its owner and when a pass last asked for
    /// it); a resource azop deleted stays known as gone while it was deleted or asked for
    /// within `forget_after`. Returns the owner uids whose resources changed outside azop
    /// since the previous walk of the scope.
    pub fn apply(
        &mut self,
        scope: &Scope,
        started: Instant,
        items: Vec<(String, Item)>,
        keep_body: impl Fn(Option<&str>, Option<Instant>) -> bool,
        forget_after: Duration,
    ) -> Vec<String> {
        let previous_walk = self.walked_at(scope);
        let ours_since_previous = |e: &Entry| match (e.touched_at, previous_walk) {
            (Some(t), Some(p)) => t >= p,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut woken = Vec::new();
        let mut listed = std::collections::HashSet::with_capacity(items.len());
        for (key, item) in items {
            listed.insert(key.clone());
            let old = self.entries.get(&key);
            if old.is_some_and(|e| e.learned_at > started) {
                continue;
            }
            let asked_at = old.and_then(|e| e.asked_at);
            if let Some(p) = previous_walk
                && p < started
                && !old.is_some_and(ours_since_previous)
            {
                let changed = match old.map(|e| &e.known) {
                    Some(Known::Present(o)) => o.fingerprint != item.fingerprint,
                    _ => true,
                };
                if changed && let Some(uid) = &item.owner_uid {
                    woken.push(uid.to_string());
                }
            }
            let item = if keep_body(item.owner_uid.as_deref(), asked_at) {
                item
            } else {
                item.without_body(&key)
            };
            let touched_at = old.and_then(|e| e.touched_at);
            let deleted = old.is_some_and(|e| e.deleted);
            self.entries.insert(
                key,
                Entry {
                    known: Known::Present(item),
                    learned_at: started,
                    dirty: false,
                    touched_at,
                    deleted,
                    asked_at,
                },
            );
        }
        let gone: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, e)| scope.covers(k) && !listed.contains(*k) && e.learned_at <= started)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            let Some(mut e) = self.entries.remove(&key) else {
                continue;
            };
            let was = std::mem::replace(&mut e.known, Known::Absent);
            if previous_walk.is_some()
                && !ours_since_previous(&e)
                && let Known::Present(item) = was
                && let Some(uid) = item.owner_uid
            {
                woken.push(uid.to_string());
            }
            // What azop deleted is kept as gone, as of this walk, while passes still ask
            // for it (a deletion's last pass confirms every resource gone: from this walk,
            // not a GET each); other absences are the absence of an entry.
            let recent = |t: Option<Instant>| {
                t.is_some_and(|t| started.saturating_duration_since(t) <= forget_after)
            };
            if e.deleted && (recent(e.touched_at) || recent(e.asked_at)) {
                e.learned_at = started;
                e.dirty = false;
                self.entries.insert(key, e);
            }
        }
        match scope {
            Scope::Subscription => self.listed_at = Some(started),
            Scope::Group(g) => {
                self.groups_listed_at
                    .insert(g.to_ascii_lowercase(), started);
            }
        }
        woken.sort();
        woken.dedup();
        woken
    }

    /// Compares this listing with another replica's subscription-wide walk that started at
    /// `started` and listed `listed` (`digest::key_hash` of the id key → fingerprint).
    ///
    /// - Entries learned before `started` (and not already to be read again) that the walk
    ///   shows otherwise — another fingerprint, or not listed at all — are marked to be read
    ///   by GET before they are trusted, and their owners are returned to be woken: the
    ///   same evidence this listing's own walk would have found, at no call. An absence a
    ///   GET found that the walk lists is read again too. What azop deleted is left to its own
    ///   rule (a walk of this process's after the delete: [`Lookup::WalkSince`]).
    /// - When every resource the walk listed is one this listing knows, the listing counts
    ///   as walked at `started` for the steady-state age ([`TypeState::attested_at`]). A
    ///   resource it does not know (made since its own walk, by anyone) is not trusted from
    ///   a hash: the listing then walks for itself when its age runs out.
    ///
    /// Only subscription-wide listings are compared (a group-by-group listing holds less
    /// than the walk). Pure.
    pub fn attest(&mut self, started: Instant, listed: &HashMap<u64, u64>) -> Attestation {
        let newest = self.listed_at.max(self.attested_at);
        if newest.is_none_or(|t| t >= started) {
            return Attestation {
                stale: true,
                ..Attestation::default()
            };
        }
        let mut woken = Vec::new();
        let mut known = std::collections::HashSet::with_capacity(self.entries.len());
        for (key, e) in self.entries.iter_mut() {
            let hash = super::digest::key_hash(key);
            known.insert(hash);
            // What azop deleted is confirmed by its own walks only ([`Lookup::WalkSince`]).
            if e.learned_at >= started || e.dirty || e.deleted {
                continue;
            }
            let differs = match &e.known {
                Known::Present(item) => listed.get(&hash) != Some(&item.fingerprint),
                Known::Absent => listed.contains_key(&hash),
            };
            if differs {
                e.dirty = true;
                if let Known::Present(item) = &e.known
                    && let Some(uid) = &item.owner_uid
                {
                    woken.push(uid.to_string());
                }
            }
        }
        let complete = listed.keys().all(|k| known.contains(k));
        if complete {
            self.attested_at = Some(started);
        }
        woken.sort();
        woken.dedup();
        Attestation {
            woken,
            complete,
            stale: false,
        }
    }

    /// The entries of resource group `group`, for a group listing.
    pub fn in_group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> {
        self.entries.iter().filter(move |(k, _)| in_group(k, group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/subscriptions/s/resourcegroups/rg/providers/t/x/a";
    const B: &str = "/subscriptions/s/resourcegroups/rg/providers/t/x/b";
    const C: &str = "/subscriptions/s/resourcegroups/other/providers/t/x/c";

    const BUSY: Duration = Duration::from_secs(10);
    const FORGET: Duration = Duration::from_secs(60);

    fn item(id: &str, fingerprint: u64, uid: Option<&str>) -> (String, Item) {
        (
            id.to_string(),
            Item {
                fingerprint,
                // The body below differs with the fingerprint, and so does its hash.
                content: fingerprint,
                owner_uid: uid.map(Into::into),
                settled: true,
                held: Held::Body(KeptBody::new(
                    format!("{{\"id\":\"{id}\",\"f\":{fingerprint}}}").as_bytes(),
                )),
            },
        )
    }

    #[test]
    fn an_item_without_its_body_keeps_its_id_as_arm_wrote_it() {
        let id = "/subscriptions/S/resourceGroups/RG/providers/t/x/A";
        let (key, with_body) = item(id, 1, None);
        let bare = with_body.without_body(&key.to_ascii_lowercase());
        assert_eq!(bare.held, Held::Id(id.into()));
        assert_eq!(bare.body(), None);
        // Already without: unchanged.
        assert_eq!(bare.clone().without_body("other"), bare);
    }

    #[test]
    fn a_resource_listed_in_progress_is_read_again_after_busy_age() {
        // A VM whose PUT a killed process sent: listed `Creating`, and no write of this
        // process will ever mark it; only its age sends the next pass to a GET.
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        let (key, mut creating) = item(A, 1, Some("u1"));
        creating.settled = false;
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![(key, creating), item(B, 1, Some("u2"))],
            keep_all,
            FORGET,
        );
        assert!(matches!(s.lookup(A, t(5), BUSY), Lookup::Body(_)));
        assert_eq!(s.lookup(A, t(11), BUSY), Lookup::Read);
        // A settled one is trusted for as long as the listing serves.
        assert!(matches!(s.lookup(B, t(11), BUSY), Lookup::Body(_)));
        // The GET found it done: trusted again.
        s.learn(A.into(), Some(item(A, 2, Some("u1")).1), t(12));
        assert!(matches!(s.lookup(A, t(40), BUSY), Lookup::Body(_)));
    }

    fn keep_all(_: Option<&str>, _: Option<Instant>) -> bool {
        true
    }

    #[test]
    fn a_walk_tells_presence_absence_and_bodies() {
        let t0 = Instant::now();
        let mut s = TypeState::default();
        let woken = s.apply(
            &Scope::Subscription,
            t0,
            vec![item(A, 1, Some("u1")), item(C, 2, None)],
            |uid, _| uid.is_some(),
            FORGET,
        );
        assert!(woken.is_empty(), "the first walk wakes nobody");
        assert!(matches!(s.lookup(A, t0, BUSY), Lookup::Body(_)));
        assert_eq!(s.lookup(B, t0, BUSY), Lookup::Absent);
        // A foreign resource's body is not kept: it is read when asked for.
        assert_eq!(s.lookup(C, t0, BUSY), Lookup::Read);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            s.age(&Scope::Subscription, B, later),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn changes_outside_azop_wake_their_owner_and_azops_own_writes_do_not() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![item(A, 1, Some("u1")), item(B, 1, Some("u2"))],
            keep_all,
            FORGET,
        );
        // Someone edits A (new ETag); azop writes B, then B's new state is listed.
        s.touch(B, t(5), false);
        let woken = s.apply(
            &Scope::Subscription,
            t(10),
            vec![item(A, 2, Some("u1")), item(B, 2, Some("u2"))],
            keep_all,
            FORGET,
        );
        assert_eq!(woken, vec!["u1".to_string()]);
        // A resource deleted outside azop wakes its owner; a new one carrying a uid too.
        let woken = s.apply(
            &Scope::Subscription,
            t(20),
            vec![item(B, 2, Some("u2")), item(C, 1, Some("u3"))],
            keep_all,
            FORGET,
        );
        assert_eq!(woken, vec!["u1".to_string(), "u3".to_string()]);
        // Nothing changed: nobody woken.
        let woken = s.apply(
            &Scope::Subscription,
            t(30),
            vec![item(B, 2, Some("u2")), item(C, 1, Some("u3"))],
            keep_all,
            FORGET,
        );
        assert!(woken.is_empty());
    }

    #[test]
    fn a_walk_never_overrides_what_was_learned_after_it_started() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![item(A, 1, None)],
            keep_all,
            FORGET,
        );
        // azop writes A at 12 (dirty: read it again) and creates B at 13.
        s.touch(A, t(12), false);
        s.touch(B, t(13), false);
        assert_eq!(s.lookup(A, t(14), BUSY), Lookup::Read);
        assert_eq!(s.lookup(B, t(14), BUSY), Lookup::Read);
        assert_eq!(s.age(&Scope::Subscription, A, t(14)), None, "no evidence");
        // A walk that started at 10 (before both writes) ends now: it keeps both dirty.
        s.apply(
            &Scope::Subscription,
            t(10),
            vec![item(A, 1, None)],
            keep_all,
            FORGET,
        );
        assert_eq!(s.lookup(A, t(15), BUSY), Lookup::Read);
        assert_eq!(s.lookup(B, t(15), BUSY), Lookup::Read);
        // A GET of B at 16 is evidence; a walk from 20 supersedes everything.
        s.learn(B.into(), Some(item(B, 5, None).1), t(16));
        assert!(matches!(s.lookup(B, t(17), BUSY), Lookup::Body(_)));
        s.apply(
            &Scope::Subscription,
            t(20),
            vec![item(A, 3, None)],
            keep_all,
            FORGET,
        );
        assert!(matches!(s.lookup(A, t(21), BUSY), Lookup::Body(_)));
        assert_eq!(
            s.lookup(B, t(21), BUSY),
            Lookup::Absent,
            "gone by the walk of 20"
        );
    }

    #[test]
    fn what_azop_deleted_is_confirmed_gone_only_by_a_walk_that_started_after_the_delete() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![item(A, 1, Some("u1")), item(B, 1, Some("u1"))],
            keep_all,
            FORGET,
        );
        // azop's DELETE of A is answered at 5: A is read from a walk that starts after 5.
        s.touch(A, t(5), true);
        assert_eq!(s.lookup(A, t(5), BUSY), Lookup::WalkSince(t(5)));
        assert_eq!(s.deleted_at(A), Some(t(5)));
        assert!(!s.gone_since(A, t(5)));
        // A walk that started at 3 (before the delete) ends without A: not evidence.
        s.apply(
            &Scope::Subscription,
            t(3),
            vec![item(B, 1, Some("u1"))],
            keep_all,
            FORGET,
        );
        assert_eq!(s.lookup(A, t(6), BUSY), Lookup::WalkSince(t(5)));
        assert!(!s.gone_since(A, t(5)));
        // A walk from 7 still lists it (the delete runs): there, as listed.
        let (key, mut deleting) = item(A, 2, Some("u1"));
        deleting.settled = false;
        let woken = s.apply(
            &Scope::Subscription,
            t(7),
            vec![(key, deleting), item(B, 1, Some("u1"))],
            keep_all,
            FORGET,
        );
        assert!(woken.is_empty(), "azop's own delete wakes nobody");
        assert!(matches!(s.lookup(A, t(8), BUSY), Lookup::Body(_)));
        assert!(!s.gone_since(A, t(5)));
        // The operation ends at 9 (touched again); a walk from 10 does not list A: gone,
        // and kept as gone (one walk confirms it for every later pass).
        s.touch(A, t(9), true);
        let woken = s.apply(
            &Scope::Subscription,
            t(10),
            vec![item(B, 1, Some("u1"))],
            keep_all,
            FORGET,
        );
        assert!(woken.is_empty(), "azop's own delete wakes nobody");
        assert_eq!(s.lookup(A, t(11), BUSY), Lookup::Absent);
        assert!(s.gone_since(A, t(9)));
        assert!(s.gone_since(A, t(10)));
        assert!(
            !s.gone_since(A, t(11)),
            "not from evidence older than asked for"
        );
        // A resource that went without a delete of azop's is not kept.
        let woken = s.apply(&Scope::Subscription, t(20), Vec::new(), keep_all, FORGET);
        assert_eq!(woken, vec!["u1".to_string()], "B went outside azop");
        assert!(!s.entries.contains_key(B));
        assert!(
            s.gone_since(A, t(20)),
            "A confirmed again by the walk of 20"
        );
        // Nobody asks for A any more: forgotten once FORGET has passed.
        s.apply(&Scope::Subscription, t(100), Vec::new(), keep_all, FORGET);
        assert!(!s.entries.contains_key(A), "forgotten");
        assert_eq!(s.lookup(A, t(101), BUSY), Lookup::Absent);
    }

    #[test]
    fn a_write_after_a_delete_is_read_by_get_again() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.touch(A, t(1), true);
        s.touch(A, t(2), false);
        assert_eq!(s.lookup(A, t(3), BUSY), Lookup::Read);
        assert_eq!(s.deleted_at(A), None);
    }

    #[test]
    fn a_deleted_resource_group_makes_everything_in_it_read_again_after_the_delete() {
        let t0 = Instant::now();
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t0,
            vec![item(A, 1, None), item(C, 1, None)],
            keep_all,
            FORGET,
        );
        s.touch_under("/subscriptions/s/resourcegroups/rg/", t0);
        // Deleted with its group: read from a walk that started after the delete.
        assert_eq!(s.lookup(A, t0, BUSY), Lookup::WalkSince(t0));
        assert!(matches!(s.lookup(C, t0, BUSY), Lookup::Body(_)));
    }

    #[test]
    fn a_group_walk_covers_its_group_only() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Group("rg".into()),
            t(0),
            vec![item(A, 1, None)],
            keep_all,
            FORGET,
        );
        s.apply(
            &Scope::Group("other".into()),
            t(1),
            vec![item(C, 1, None)],
            keep_all,
            FORGET,
        );
        // rg again, A gone: C (another group) is untouched.
        s.apply(
            &Scope::Group("RG".into()),
            t(2),
            Vec::new(),
            keep_all,
            FORGET,
        );
        assert_eq!(s.lookup(A, t(3), BUSY), Lookup::Absent);
        assert!(matches!(s.lookup(C, t(3), BUSY), Lookup::Body(_)));
        assert_eq!(s.walked_at(&Scope::Group("Rg".into())), Some(t(2)));
        assert_eq!(s.in_group("other").count(), 1);
    }

    #[test]
    fn what_a_walk_can_reuse_is_the_body_of_the_same_fingerprint() {
        let t0 = Instant::now();
        let mut s = TypeState::default();
        assert_eq!(s.known_of(A, 1), (None, None));
        s.apply(
            &Scope::Subscription,
            t0,
            vec![item(A, 1, Some("u1")), item(B, 1, None)],
            |uid, _| uid.is_some(),
            FORGET,
        );
        let asked = t0 + Duration::from_secs(1);
        assert!(matches!(s.lookup(A, asked, BUSY), Lookup::Body(_)));
        let (body, asked_at) = s.known_of(A, 1);
        assert_eq!(
            body.expect("kept").json().expect("json"),
            format!("{{\"id\":\"{A}\",\"f\":1}}").as_bytes()
        );
        assert_eq!(asked_at, Some(asked));
        // Another fingerprint: changed, nothing to reuse (but still when it was asked for).
        assert_eq!(s.known_of(A, 2), (None, Some(asked)));
        // No body was kept for B.
        assert_eq!(s.known_of(B, 1), (None, None));
    }

    /// Another replica's walk, as its digest gives it: key hash → fingerprint.
    fn digest(items: &[(&str, u64)]) -> HashMap<u64, u64> {
        items
            .iter()
            .map(|(k, f)| (super::super::digest::key_hash(k), *f))
            .collect()
    }

    #[test]
    fn another_replicas_walk_marks_what_changed_and_wakes_its_owner() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![
                item(A, 1, Some("u1")),
                item(B, 1, Some("u2")),
                item(C, 1, None),
            ],
            keep_all,
            FORGET,
        );
        // The other replica's walk at 10 s: A was edited, C is gone, B unchanged.
        let found = s.attest(t(10), &digest(&[(A, 2), (B, 1)]));
        assert_eq!(found.woken, vec!["u1".to_string()]);
        assert!(found.complete, "it listed nothing unknown here");
        assert_eq!(s.attested_at, Some(t(10)));
        assert_eq!(s.lookup(A, t(11), BUSY), Lookup::Read, "A changed: read it");
        assert_eq!(
            s.lookup(C, t(11), BUSY),
            Lookup::Read,
            "C not listed: read it"
        );
        assert!(matches!(s.lookup(B, t(11), BUSY), Lookup::Body(_)));
        // The same walk again, or an older one: nothing is compared.
        assert!(s.attest(t(10), &digest(&[])).stale);
        assert!(s.attest(t(5), &digest(&[])).stale);
        // The GET of A answered after that walk: a later walk that still shows the old A
        // does not mark it again (what was learned after the walk started wins).
        s.learn(A.into(), Some(item(A, 2, Some("u1")).1), t(12));
        let found = s.attest(t(11), &digest(&[(A, 1), (B, 1)]));
        assert!(found.woken.is_empty());
        assert!(matches!(s.lookup(A, t(13), BUSY), Lookup::Body(_)));
    }

    #[test]
    fn a_walk_listing_what_this_listing_does_not_know_does_not_count_as_walked() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        // Never walked here: nothing to compare, nothing attested.
        assert!(s.attest(t(1), &digest(&[(A, 1)])).stale);
        s.apply(
            &Scope::Subscription,
            t(2),
            vec![item(A, 1, Some("u1"))],
            keep_all,
            FORGET,
        );
        // B was made since (by another replica's object, or by anyone): its hash says
        // nothing this listing could answer from.
        let found = s.attest(t(10), &digest(&[(A, 1), (B, 7)]));
        assert!(!found.complete);
        assert_eq!(s.attested_at, None);
        assert!(matches!(s.lookup(A, t(11), BUSY), Lookup::Body(_)));
    }

    #[test]
    fn what_azop_wrote_or_deleted_keeps_its_own_rules() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let mut s = TypeState::default();
        s.apply(
            &Scope::Subscription,
            t(0),
            vec![item(A, 1, Some("u1")), item(B, 1, Some("u2"))],
            keep_all,
            FORGET,
        );
        // azop deleted A (answered at 5 s); a GET found B absent, and then someone made it.
        s.touch(A, t(5), true);
        s.learn(B.into(), None, t(6));
        let found = s.attest(t(10), &digest(&[(A, 1), (B, 3)]));
        assert!(found.woken.is_empty(), "nobody to wake for an absence");
        // A's absence is still told by a walk of this process's after the delete.
        assert_eq!(s.lookup(A, t(11), BUSY), Lookup::WalkSince(t(5)));
        // B, absent by a GET, is listed by the other walk: read again.
        assert_eq!(s.lookup(B, t(11), BUSY), Lookup::Read);
    }
}
