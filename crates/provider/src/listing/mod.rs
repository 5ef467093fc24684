//! Observation by listing: one paged LIST per resource type serves every object whose
//! resources live in the subscription, instead of one GET per resource per pass.
//!
//! Each (credentials, subscription) has a [`SubscriptionListing`]; each ARM type asked for in
//! it a listing walked with one paged LIST of the whole subscription
//! (`/subscriptions/{s}/providers/{ns}/{type}`, `nextLink` followed to the end), at most once
//! per `max_age` (the resync interval), shared by every pass that reads the type. What a pass
//! reads through [`crate::ArmSession::observe`]:
//!
//! - a top-level resource of a resource group, or a resource group: from the listing;
//! - one azop wrote since the listing was walked (a PUT, PATCH or DELETE answered, an
//!   operation on it ended): by GET, once, and that answer is kept;
//! - a resource listed in progress longer ago than `busy_age`: by GET (its operation may
//!   end without a write of this process's: one a killed process started);
//! - a resource not carrying an `azop.dev_uid` tag that no pass asked for before: by GET the
//!   first time (the listing keeps only the bodies of what azop owns or was asked for);
//! - anything else (child resources such as subnets, blob containers, agent pools; actions;
//!   operation status URLs): by GET, as before.
//!
//! Walks compare ETags (or bodies) with the previous walk: a resource that changed outside
//! azop wakes its owner at once ([`Listings::changes`]), so drift is found within one walk of
//! the type, not at the owner's next resync after it.
//!
//! Writes are decided on recent evidence: before a PUT or DELETE the engine asks for the
//! listing to be no older than `write_evidence_age` ([`crate::ArmSession::refresh_evidence`]),
//! so a resource someone created under one of azop's names since the last walk is seen
//! before azop would write over it.
//!
//! A principal that may not list the subscription (403 AuthorizationFailed: its role is
//! assigned on resource groups) gets resource-group walks instead, one per group asked for;
//! a type that cannot be listed at all (a 400 or 404 on the list) is read by GET.
//! Listings are per credentials Secret, never shared between two: a Secret that cannot
//! authenticate sees nothing another one read.

pub mod body;
pub mod digest;
pub mod entries;
pub mod observe;
pub mod target;
pub mod wanted;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::broadcast;

pub use digest::WalkDigest;
pub use entries::Attestation;
use entries::TypeState;
use target::{Target, id_key};
use wanted::WantedWalks;

/// Listing settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListingConfig {
    /// How old a listing may be when it serves a read: the steady-state resync interval.
    pub max_age: Duration,
    /// How old the evidence a write is decided on may be.
    pub write_evidence_age: Duration,
    /// How long a resource seen in progress (`Creating`, `Updating`, `Deleting`) is trusted
    /// before it is read again by GET (see [`entries`]).
    pub busy_age: Duration,
    /// Bound on one walk (a misbehaving server must not loop us).
    pub max_pages: usize,
    /// Shortest time between the starts of two walks of a type asked for to see past an
    /// instant (a deletion confirming what it deleted is gone): the passes asking meanwhile
    /// share the next walk instead of each starting one.
    pub min_walk_interval: Duration,
    /// Hand each subscription-wide walk to the other replicas ([`Listings::digests`]) and
    /// take theirs ([`Listings::attest`]): `azop run --shards N > 1`. A digest of a type is
    /// made at most once per `write_evidence_age`.
    pub share_walks: bool,
}

impl Default for ListingConfig {
    fn default() -> Self {
        ListingConfig {
            max_age: Duration::from_secs(300),
            write_evidence_age: Duration::from_secs(30),
            // ARM's shortest usual Retry-After: an operation is not looked at more often.
            busy_age: Duration::from_secs(10),
            max_pages: 10_000,
            min_walk_interval: Duration::from_secs(2),
            share_walks: false,
        }
    }
}

impl ListingConfig {
    /// The listing of an operator resyncing every `resync`: a listing serves reads for at
    /// most 70 % of the resync, so an object's resync — jittered between 80 % and 100 % of
    /// the interval after its previous one — always finds a listing walked since its
    /// previous resync, walking it when it does not. Every walk happens in some object's
    /// pass, and that object resyncs — and walks again — within one resync: a change made
    /// outside azop is seen by a walk, which wakes its owner, within one resync of it.
    /// Pure.
    pub fn for_resync(resync: Duration) -> ListingConfig {
        let max_age = resync.mul_f64(0.7);
        ListingConfig {
            max_age,
            write_evidence_age: ListingConfig::default().write_evidence_age.min(max_age),
            busy_age: ListingConfig::default().busy_age.min(max_age),
            min_walk_interval: ListingConfig::default().min_walk_interval.min(max_age),
            ..ListingConfig::default()
        }
    }
}

/// A resource changed outside azop (or went): its owner should look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The `azop.dev_uid` tag of the resource.
    pub owner_uid: String,
}

/// How a type is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One walk of the whole subscription.
    Subscription,
    /// One walk per resource group asked for (the principal may not list the subscription).
    Group,
    /// GET per resource (the type cannot be listed).
    Direct,
}

/// One ARM type (at one api-version) of one subscription.
#[derive(Debug)]
pub struct TypeListing {
    pub type_name: String,
    pub api_version: String,
    pub(crate) mode: Mutex<Mode>,
    pub(crate) state: Mutex<TypeState>,
    /// One walk at a time: passes that need a fresher listing wait for the walk under way.
    pub(crate) walking: tokio::sync::Mutex<()>,
    /// Walks past an instant asked for by passes that did not wait: served by one
    /// background walker (see [`wanted`]).
    pub(crate) wanted: Mutex<WantedWalks>,
    /// Start of the last walk handed to the other replicas ([`ListingConfig::share_walks`]).
    pub(crate) shared_at: Mutex<Option<Instant>>,
}

impl TypeListing {
    pub fn mode(&self) -> Mode {
        *self.mode.lock()
    }
}

/// Everything listed in one subscription with one credential.
#[derive(Debug)]
pub struct SubscriptionListing {
    pub(crate) config: ListingConfig,
    /// [`digest::credential_tag`] of the credentials.
    credential: String,
    /// Lower case.
    subscription: String,
    digests: broadcast::Sender<Arc<WalkDigest>>,
    types: Mutex<HashMap<(String, String), Arc<TypeListing>>>,
    pub(crate) changes: broadcast::Sender<Changed>,
    /// What the kept bodies of each type are compressed against ([`body`]).
    pub(crate) dicts: body::Dicts,
}

impl SubscriptionListing {
    /// The listing of `type_name` at `api_version` (made on first use).
    pub fn type_listing(&self, type_name: &str, api_version: &str) -> Arc<TypeListing> {
        let key = (type_name.to_ascii_lowercase(), api_version.to_string());
        self.types
            .lock()
            .entry(key)
            .or_insert_with(|| {
                Arc::new(TypeListing {
                    type_name: type_name.to_string(),
                    api_version: api_version.to_string(),
                    mode: Mutex::new(Mode::Subscription),
                    state: Mutex::new(TypeState::default()),
                    walking: tokio::sync::Mutex::new(()),
                    wanted: Mutex::new(WantedWalks::default()),
                    shared_at: Mutex::new(None),
                })
            })
            .clone()
    }

    /// The api-version this subscription's listing of `type_name` reads it at (the one its
    /// objects observe it at), if it has one.
    pub fn api_version_of(&self, type_name: &str) -> Option<String> {
        self.types
            .lock()
            .keys()
            .find(|(t, _)| t.eq_ignore_ascii_case(type_name))
            .map(|(_, v)| v.clone())
    }

    fn listings_of(&self, type_name: &str) -> Vec<Arc<TypeListing>> {
        self.types
            .lock()
            .iter()
            .filter(|((t, _), _)| t.eq_ignore_ascii_case(type_name))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// azop wrote `path` (`method` answered at `now`): what is known of it, and for a
    /// DELETE of everything under it, must be read again.
    pub fn touched(&self, method: &str, path: &str, now: Instant) {
        let target = Target::of(path);
        let key = id_key(path);
        let deleted = method.eq_ignore_ascii_case("DELETE");
        if let Some(type_name) = target.type_name() {
            for l in self.listings_of(type_name) {
                l.state.lock().touch(&key, now, deleted);
            }
        }
        if deleted {
            let prefix = format!("{key}/");
            let all: Vec<Arc<TypeListing>> = self.types.lock().values().cloned().collect();
            for l in all {
                l.state.lock().touch_under(&prefix, now);
            }
        }
    }

    /// Whether a subscription-wide walk of `l` that started at `started` is to be handed to
    /// the other replicas: walks are shared, and none of the type was in the last
    /// `write_evidence_age` (creation and deletion walk often; steady state every listing
    /// age). Notes it as handed if so.
    pub(crate) fn shares_walk(&self, l: &TypeListing, started: Instant) -> bool {
        if !self.config.share_walks {
            return false;
        }
        let mut last = l.shared_at.lock();
        let due = last
            .is_none_or(|t| started.saturating_duration_since(t) >= self.config.write_evidence_age);
        if due {
            *last = Some(started);
        }
        due
    }

    /// Hands a walk of `l` to whoever shares walks ([`Listings::digests`]).
    pub(crate) fn publish(&self, l: &TypeListing, started: SystemTime, entries: Vec<(u64, u64)>) {
        // Nobody listening is fine: the walk served this replica.
        let _ = self.digests.send(Arc::new(WalkDigest {
            credential: self.credential.clone(),
            subscription: self.subscription.clone(),
            type_name: l.type_name.to_ascii_lowercase(),
            api_version: l.api_version.clone(),
            started,
            entries,
        }));
    }

    /// How many resources the listings of this subscription hold, and how many bodies.
    pub fn size(&self) -> (usize, usize) {
        let all: Vec<Arc<TypeListing>> = self.types.lock().values().cloned().collect();
        all.iter().fold((0, 0), |(n, b), l| {
            let s = l.state.lock();
            let bodies = s
                .entries
                .values()
                .filter(|e| matches!(&e.known, entries::Known::Present(i) if i.body().is_some()))
                .count();
            (n + s.entries.len(), b + bodies)
        })
    }
}

struct Inner {
    config: ListingConfig,
    subs: Mutex<HashMap<(String, String), Arc<SubscriptionListing>>>,
    changes: broadcast::Sender<Changed>,
    digests: broadcast::Sender<Arc<WalkDigest>>,
}

/// What [`Listings::attest`] did with another replica's walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attested {
    /// Compared with this replica's listing of the type (see [`entries::Attestation`]).
    Compared(Attestation),
    /// This replica lists no such type in that subscription with those credentials.
    NotListed,
}

/// Every listing of the process, by credentials and subscription. Cheap to clone.
#[derive(Clone)]
pub struct Listings {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listings")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Changes waiting for a slow reader before the oldest are dropped (the resync covers them).
const CHANGES_BACKLOG: usize = 4096;

/// Walk digests waiting to be handed on before the oldest are dropped (a later walk of the
/// type replaces them anyway).
const DIGESTS_BACKLOG: usize = 64;

impl Listings {
    pub fn new(config: ListingConfig) -> Listings {
        let (changes, _) = broadcast::channel(CHANGES_BACKLOG);
        let (digests, _) = broadcast::channel(DIGESTS_BACKLOG);
        Listings {
            inner: Arc::new(Inner {
                config,
                subs: Mutex::new(HashMap::new()),
                changes,
                digests,
            }),
        }
    }

    /// This replica's subscription-wide walks, for the other replicas
    /// ([`ListingConfig::share_walks`]; at most one per type and `write_evidence_age`).
    pub fn digests(&self) -> broadcast::Receiver<Arc<WalkDigest>> {
        self.inner.digests.subscribe()
    }

    /// Compares this replica's listing with another replica's walk (`digest`), marks what
    /// it shows changed to be read again and wakes the owners, and — when it is complete
    /// against the listing — lets it count as walked then (see
    /// [`entries::TypeState::attest`]). The walk's wall-clock start is taken as that long
    /// before now on this replica's clock (a start in the future as now): the replicas'
    /// clocks are assumed to agree within seconds, as Lease expiry already assumes.
    pub fn attest(&self, digest: &WalkDigest) -> Attested {
        let sub = self
            .inner
            .subs
            .lock()
            .values()
            .find(|s| s.credential == digest.credential && s.subscription == digest.subscription)
            .cloned();
        let Some(sub) = sub else {
            return Attested::NotListed;
        };
        let listing = sub
            .types
            .lock()
            .get(&(digest.type_name.clone(), digest.api_version.clone()))
            .cloned();
        let Some(l) = listing.filter(|l| l.mode() == Mode::Subscription) else {
            return Attested::NotListed;
        };
        let age = SystemTime::now()
            .duration_since(digest.started)
            .unwrap_or_default();
        let now = Instant::now();
        let started = now.checked_sub(age).unwrap_or(now);
        let listed: HashMap<u64, u64> = digest.entries.iter().copied().collect();
        let found = l.state.lock().attest(started, &listed);
        for owner_uid in &found.woken {
            // Nobody listening is fine: the resync covers it.
            let _ = self.inner.changes.send(Changed {
                owner_uid: owner_uid.clone(),
            });
        }
        Attested::Compared(found)
    }

    pub fn config(&self) -> ListingConfig {
        self.inner.config
    }

    /// Resources that changed outside azop, as walks find them.
    pub fn changes(&self) -> broadcast::Receiver<Changed> {
        self.inner.changes.subscribe()
    }

    /// The listing of `subscription` read with credentials `credential_key`.
    pub fn subscription(
        &self,
        credential_key: &str,
        subscription: &str,
    ) -> Arc<SubscriptionListing> {
        let key = (
            credential_key.to_string(),
            subscription.to_ascii_lowercase(),
        );
        self.inner
            .subs
            .lock()
            .entry(key)
            .or_insert_with(|| {
                Arc::new(SubscriptionListing {
                    config: self.inner.config,
                    credential: digest::credential_tag(credential_key),
                    subscription: subscription.to_ascii_lowercase(),
                    digests: self.inner.digests.clone(),
                    types: Mutex::new(HashMap::new()),
                    changes: self.inner.changes.clone(),
                    dicts: body::Dicts::default(),
                })
            })
            .clone()
    }

    /// The listing of `subscription` with `credential_key`, when one exists.
    pub fn find(
        &self,
        credential_key: &str,
        subscription: &str,
    ) -> Option<Arc<SubscriptionListing>> {
        self.inner
            .subs
            .lock()
            .get(&(
                credential_key.to_string(),
                subscription.to_ascii_lowercase(),
            ))
            .cloned()
    }

    /// Drops the listings of credentials no longer in use (a Secret that was replaced).
    pub fn retain(&self, live: impl Fn(&str) -> bool) {
        self.inner.subs.lock().retain(|(k, _), _| live(k));
    }

    /// Resources and kept bodies over every listing.
    pub fn size(&self) -> (usize, usize) {
        let all: Vec<Arc<SubscriptionListing>> = self.inner.subs.lock().values().cloned().collect();
        all.iter().fold((0, 0), |(n, b), s| {
            let (sn, sb) = s.size();
            (n + sn, b + sb)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_always_older_than_the_previous_resync_at_the_next_one() {
        let resync = Duration::from_secs(300);
        let c = ListingConfig::for_resync(resync);
        assert_eq!(c.max_age, Duration::from_secs(210));
        assert!(
            c.max_age < resync.mul_f64(0.8),
            "the earliest jittered resync"
        );
        assert_eq!(c.write_evidence_age, Duration::from_secs(30));
        let fast = ListingConfig::for_resync(Duration::from_secs(1));
        assert_eq!(fast.max_age, Duration::from_millis(700));
        assert_eq!(fast.write_evidence_age, Duration::from_millis(700));
    }
}
