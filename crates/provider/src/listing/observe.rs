//! Reads through the listing: what an [`ArmSession`] answers from its subscription's
//! listings, and when it walks or GETs instead (see the parent module).

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::body::{Dicts, KeptBody};
use super::digest::{key_hash, stable_hash};
use super::entries::{Held, Item, Lookup, Scope};
use super::target::{self, Target, id_key};
use super::{Changed, Mode, TypeListing};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::UID_TAG;

/// Kept bodies of resources azop does not own stay this many walks after a pass last asked.
const INTEREST_WALKS: u32 = 3;

/// A listed (or read) resource made into an entry: its id key and what is kept of it, its
/// body compressed on its own. Pure.
pub fn item_of(v: &Value) -> Option<(String, Item)> {
    item_with(v, |_, _| (None, None), |_, _| true, KeptBody::new)
}

/// A read resource of `type_name` made into an entry, its body compressed against the
/// type's dictionary in `dicts`.
fn item_in(v: &Value, type_name: &str, dicts: &Dicts) -> Option<(String, Item)> {
    item_with(
        v,
        |_, _| (None, None),
        |_, _| true,
        |json| dicts.keep(type_name, json),
    )
}

/// [`item_of`] for a walk: `known` gives, by id key and content hash, a body already kept for
/// the resource unchanged (reused, not made again) and when a pass last asked for it; `keep`
/// says from the owner uid and that instant whether a new body is worth making, and
/// `compress` makes it. Pure given its arguments.
pub fn item_with(
    v: &Value,
    known: impl FnOnce(&str, u64) -> (Option<KeptBody>, Option<Instant>),
    keep: impl FnOnce(Option<&str>, Option<Instant>) -> bool,
    compress: impl FnOnce(&[u8]) -> KeptBody,
) -> Option<(String, Item)> {
    let id = v.get("id").and_then(Value::as_str)?;
    // The whole body, serialized once: its hash says whether a body already kept can be
    // reused. Not the ETag: a body can change without one — what ARM computes when it
    // answers (a NIC's `virtualMachine`, a subnet's `ipConfigurations`) is no write of the
    // resource — and a stale NIC body made a pass delete the NIC of a VM still there.
    let json = serde_json::to_vec(v).ok()?;
    let content = {
        let mut c = std::collections::hash_map::DefaultHasher::new();
        json.hash(&mut c);
        c.finish()
    };
    let fingerprint = match v
        .get("etag")
        .or_else(|| v.get("eTag"))
        .and_then(Value::as_str)
    {
        // ARM changes a resource's ETag on every write; the provisioning state is hashed
        // with it because an operation's end is not a write of the user's. Stable hashes:
        // other replicas compare their entries with this one's walks (`digest`).
        Some(etag) => match v
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
        {
            Some(state) => stable_hash(&[etag.as_bytes(), b"s", state.as_bytes()]),
            None => stable_hash(&[etag.as_bytes(), b"n"]),
        },
        // Without an ETag the body itself tells a change.
        None => stable_hash(&[&json]),
    };
    let owner_uid: Option<Box<str>> = v.get("tags").and_then(Value::as_object).and_then(|tags| {
        tags.get(UID_TAG)
            .or_else(|| {
                tags.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(UID_TAG))
                    .map(|(_, v)| v)
            })
            .and_then(Value::as_str)
            .map(Into::into)
    });
    let settled = v
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .is_none_or(|s| {
            ["Succeeded", "Failed", "Canceled"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t))
        });
    let key = id_key(id);
    let (kept, asked_at) = known(&key, content);
    let held = match kept {
        Some(kept) => Held::Body(kept),
        None if keep(owner_uid.as_deref(), asked_at) => Held::Body(compress(&json)),
        None => Held::Id(id.into()),
    };
    Some((
        key,
        Item {
            fingerprint,
            content,
            owner_uid,
            settled,
            held,
        },
    ))
}

/// Where a failed walk leaves the type: `None` when the error is the caller's to see. A
/// principal without read on the subscription lists per resource group; one without even
/// that, or a type that cannot be listed, reads by GET. Pure.
pub fn fallback(mode: Mode, is_group_type: bool, err: &AzureError) -> Option<Mode> {
    match err {
        AzureError::Auth { code, .. } if code.eq_ignore_ascii_case("AuthorizationFailed") => {
            Some(match mode {
                Mode::Subscription if !is_group_type => Mode::Group,
                _ => Mode::Direct,
            })
        }
        AzureError::InvalidSpec { .. } | AzureError::NotFound { .. } => Some(Mode::Direct),
        _ => None,
    }
}

/// What a pass needs of a listing's last walk.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// A walk of this process's at most this old (the evidence a write is decided on).
    MaxAge(Duration),
    /// At most this old, for a steady-state read: another replica's walk this listing was
    /// compared with ([`super::entries::TypeState::attest`]) serves too, for an eighth
    /// longer (below).
    Steady(Duration),
    /// Started at or after this instant (it must see past one of azop's deletes).
    Since(Instant),
}

impl Need {
    /// Whether a walk of this process's that started at `walked`, or another replica's
    /// that started at `attested` (`None`: never), serves at `now`. Pure.
    ///
    /// Another replica's walk serves an eighth of the age longer than one's own: the
    /// replica that walked walks again when its own walk is `max_age` old, and its next
    /// digest reaches the others before their grace runs out — so the replicas take turns
    /// instead of all walking at the instant their shared walk expires. 0.7 × 9/8 of the
    /// resync is still under the 80 % an object's resync comes after its previous one
    /// ([`super::ListingConfig::for_resync`]).
    fn met(self, walked: Option<Instant>, attested: Option<Instant>, now: Instant) -> bool {
        let within = |t: Option<Instant>, age: Duration| {
            t.is_some_and(|t| now.saturating_duration_since(t) <= age)
        };
        match self {
            Need::MaxAge(max_age) => within(walked, max_age),
            Need::Steady(max_age) => {
                within(walked, max_age) || within(attested, max_age + max_age / 8)
            }
            Need::Since(since) => walked.is_some_and(|t| t >= since),
        }
    }
}

fn fresh(l: &TypeListing, scope: &Scope, need: Need, now: Instant) -> bool {
    let state = l.state.lock();
    let attested = match scope {
        Scope::Subscription => state.attested_at,
        Scope::Group(_) => None,
    };
    need.met(state.walked_at(scope), attested, now)
}

impl ArmSession {
    /// The resource at `path` as the shared listing knows it (a walk at most
    /// `max_age` old, or a GET where the listing cannot answer): `None` when it (or its
    /// resource group) does not exist. What [`ArmSession::get`] answers, at a fraction of
    /// the calls.
    pub async fn observe(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        self.observe_with(path, api_version, false).await
    }

    /// As [`ArmSession::observe`], for a pass that must not wait for a walk: a resource azop
    /// deleted, whose gone-or-not is told by a walk of its type that started after the
    /// delete and none has yet, answers [`AzureError::AwaitingWalk`] at once. That walk is
    /// then under way in the background (one for every pass asking, at most one per
    /// `min_walk_interval`), and the owner named by the resource's `azop.dev_uid` is woken
    /// through [`crate::Listings::changes`] once it has been applied. So a deletion pass
    /// never holds its controller slot while a walk is awaited.
    pub async fn observe_deferring(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        self.observe_with(path, api_version, true).await
    }

    async fn observe_with(
        &self,
        path: &str,
        api_version: &str,
        defer: bool,
    ) -> Result<Option<RawResponse>, AzureError> {
        let target = Target::of(path);
        let Some(type_name) = self.listable(&target) else {
            self.metrics.record_observation("get");
            return self.get(path, api_version).await;
        };
        let l = self.listing.type_listing(type_name, api_version);
        let Some(_) = self
            .walked_for(&l, &target, Need::Steady(self.listing.config.max_age))
            .await?
        else {
            return self.read(&l, path).await;
        };
        let mut found =
            l.state
                .lock()
                .lookup(&id_key(path), Instant::now(), self.listing.config.busy_age);
        // One of azop's deletes: gone (or not) as a walk that started after it shows, one
        // walk for every resource deleted before it started — not a GET each.
        if let Lookup::WalkSince(since) = found {
            found = match self
                .walked_since_or_defer(&l, &target, &id_key(path), since, defer)
                .await?
            {
                Some(_) => match l.state.lock().lookup(
                    &id_key(path),
                    Instant::now(),
                    self.listing.config.busy_age,
                ) {
                    Lookup::WalkSince(_) => Lookup::Read,
                    other => other,
                },
                None => Lookup::Read,
            };
        }
        match found {
            Lookup::Absent => {
                self.metrics.record_observation("listing");
                Ok(None)
            }
            Lookup::Body(body) => match body.json() {
                Ok(json) => {
                    self.metrics.record_observation("listing");
                    Ok(Some(RawResponse {
                        status: 200,
                        headers: Default::default(),
                        body: json,
                    }))
                }
                // Only a bug could make a kept body unreadable; a GET still answers.
                Err(e) => {
                    tracing::warn!(path, error = %e, "a kept body could not be decompressed");
                    self.read(&l, path).await
                }
            },
            Lookup::Read | Lookup::WalkSince(_) => self.read(&l, path).await,
        }
    }

    /// Whether `path` is gone, confirmed for a deletion: when azop's own DELETE of it was
    /// answered (or its operation ended) and a walk of its type that started after that
    /// instant — and no longer ago than `write_evidence_age` — does not list it, `None`
    /// without a call of its own (the walk is shared by every resource deleted before it
    /// started); otherwise a GET, as [`ArmSession::confirm`]. An absence is never taken
    /// from a walk that may predate the delete.
    pub async fn confirm_deleted(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        self.confirm_deleted_with(path, api_version, false).await
    }

    /// As [`ArmSession::confirm_deleted`], without waiting for the walk it needs: answers
    /// [`AzureError::AwaitingWalk`] at once when none has happened yet (see
    /// [`ArmSession::observe_deferring`]).
    pub async fn confirm_deleted_deferring(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        self.confirm_deleted_with(path, api_version, true).await
    }

    async fn confirm_deleted_with(
        &self,
        path: &str,
        api_version: &str,
        defer: bool,
    ) -> Result<Option<RawResponse>, AzureError> {
        let target = Target::of(path);
        if let Some(type_name) = self.listable(&target) {
            let key = id_key(path);
            let l = self.listing.type_listing(type_name, api_version);
            let deleted = l.state.lock().deleted_at(&key);
            if let Some(deleted) = deleted {
                let recent = Instant::now()
                    .checked_sub(self.listing.config.write_evidence_age)
                    .unwrap_or(deleted);
                let since = deleted.max(recent);
                if l.state.lock().gone_since(&key, since) {
                    self.metrics.record_observation("listing");
                    return Ok(None);
                }
                if self
                    .walked_since_or_defer(&l, &target, &key, since, defer)
                    .await?
                    .is_some()
                    && l.state.lock().gone_since(&key, since)
                {
                    self.metrics.record_observation("listing");
                    return Ok(None);
                }
            }
        }
        self.confirm(path, api_version).await
    }

    /// A GET of `path` whose answer every listing of its type keeps (as a read the listing
    /// makes itself does): a pass that confirms what a listing said — an absence before it is
    /// reported or acted on — leaves the listing as fresh as the GET, so a later read of the
    /// resource through the listing does not repeat the stale answer until the next walk.
    pub async fn confirm(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        let asked = Instant::now();
        let resp = self.get(path, api_version).await?;
        let target = Target::of(path);
        if let Some(type_name) = self.listable(&target) {
            let item = resp
                .as_ref()
                .and_then(RawResponse::json)
                .as_ref()
                .and_then(|v| item_in(v, type_name, &self.listing.dicts))
                .map(|(_, i)| i);
            for l in self.listing.listings_of(type_name) {
                l.state.lock().learn(id_key(path), item.clone(), asked);
            }
        }
        Ok(resp)
    }

    /// The resources of `type_name` in resource group `group`, as the shared listing knows
    /// them: those azop owns (and those a pass asked for) with their bodies, others with
    /// their `id` and `name` only. A missing group lists nothing.
    pub async fn observe_group(
        &self,
        group: &str,
        type_name: &str,
        api_version: &str,
    ) -> Result<Vec<Value>, AzureError> {
        let target = Target::Top {
            subscription: self.subscription_id.clone(),
            group: group.to_string(),
            type_name: type_name.to_string(),
            name: String::new(),
        };
        let l = self.listing.type_listing(type_name, api_version);
        if self
            .walked_for(&l, &target, Need::Steady(self.listing.config.max_age))
            .await?
            .is_none()
        {
            let path = target::group_collection(&self.subscription_id, group, type_name);
            return self
                .list(&path, api_version, self.listing.config.max_pages)
                .await;
        }
        let prefix = target::group_prefix(&self.subscription_id, group, type_name);
        let mut out = Vec::new();
        let mut to_read = Vec::new();
        let now = Instant::now();
        let busy_age = self.listing.config.busy_age;
        {
            let state = l.state.lock();
            for (key, e) in state
                .in_group(group)
                .filter(|(k, _)| k.starts_with(&prefix))
            {
                match (&e.known, e.needs_read(now, busy_age)) {
                    (_, true) => to_read.push(key.clone()),
                    (super::entries::Known::Absent, false) => {}
                    (super::entries::Known::Present(item), false) => match &item.held {
                        Held::Body(body) => match body
                            .json()
                            .ok()
                            .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
                        {
                            Some(v) => out.push(v),
                            // Only a bug could make a kept body unreadable; a GET still answers.
                            None => to_read.push(key.clone()),
                        },
                        Held::Id(id) => {
                            let name = id.rsplit('/').next().unwrap_or_default();
                            out.push(serde_json::json!({"id": &**id, "name": name}));
                        }
                    },
                }
            }
        }
        self.metrics.record_observation("listing");
        for key in to_read {
            if let Some(resp) = self.read(&l, &key).await?
                && let Some(v) = resp.json()
            {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Whether a write to each of `ids` would be decided on evidence older than the
    /// listing's `write_evidence_age`; if so, walks their types again (once per type), so
    /// the next observations are recent. Returns whether anything was walked.
    pub async fn refresh_evidence(&self, ids: &[String]) -> Result<bool, AzureError> {
        let max_age = self.listing.config.write_evidence_age;
        let now = Instant::now();
        let mut stale: Vec<(Arc<TypeListing>, Target)> = Vec::new();
        let mut seen = BTreeSet::new();
        for id in ids {
            let target = Target::of(id);
            let Some(type_name) = self.listable(&target) else {
                continue;
            };
            for l in self.listing.listings_of(type_name) {
                let scope = match (l.mode(), target.group()) {
                    (Mode::Subscription, _) => Scope::Subscription,
                    (Mode::Group, Some(g)) => Scope::Group(g.to_string()),
                    _ => continue,
                };
                let old = l
                    .state
                    .lock()
                    .age(&scope, &id_key(id), now)
                    .is_none_or(|age| age > max_age);
                let key = (
                    l.type_name.to_ascii_lowercase(),
                    l.api_version.clone(),
                    format!("{scope:?}"),
                );
                if old && seen.insert(key) {
                    stale.push((l, target.clone()));
                }
            }
        }
        let walked = !stale.is_empty();
        for (l, target) in stale {
            self.walked(&l, &target, max_age).await?;
        }
        Ok(walked)
    }

    /// The type a target is listed under, when this session's listings serve it.
    fn listable<'t>(&self, target: &'t Target) -> Option<&'t str> {
        match target {
            Target::Group { subscription, .. } | Target::Top { subscription, .. }
                if subscription.eq_ignore_ascii_case(&self.subscription_id) =>
            {
                target.type_name()
            }
            _ => None,
        }
    }

    /// Makes the listing covering `target` at most `max_age` old, walking it when it is
    /// older (one walk at a time; passes waiting for it share it). `None`: the type is read
    /// by GET.
    async fn walked(
        &self,
        l: &TypeListing,
        target: &Target,
        max_age: Duration,
    ) -> Result<Option<Scope>, AzureError> {
        self.walked_for(l, target, Need::MaxAge(max_age)).await
    }

    /// Makes the listing covering `target` hold a walk that started at or after `since`,
    /// walking it when it does not; passes asking meanwhile share that walk. Walks asked for
    /// so start at most once per `min_walk_interval` (the ones waiting are served together).
    /// `None`: the type is read by GET.
    async fn walked_since(
        &self,
        l: &TypeListing,
        target: &Target,
        since: Instant,
    ) -> Result<Option<Scope>, AzureError> {
        self.walked_for(l, target, Need::Since(since)).await
    }

    /// [`Self::walked_since`], or — `defer`, and the type walked subscription-wide — when
    /// no such walk has happened yet, [`AzureError::AwaitingWalk`] at once, with the walk
    /// asked of the type's background walker (started if none runs) and `key`'s owner noted
    /// to be woken after it.
    async fn walked_since_or_defer(
        &self,
        l: &Arc<TypeListing>,
        target: &Target,
        key: &str,
        since: Instant,
        defer: bool,
    ) -> Result<Option<Scope>, AzureError> {
        if !defer || l.mode() != Mode::Subscription {
            return self.walked_since(l, target, since).await;
        }
        let now = Instant::now();
        if fresh(l, &Scope::Subscription, Need::Since(since), now) {
            return Ok(Some(Scope::Subscription));
        }
        let owner = l.state.lock().owner_of(key);
        if l.wanted.lock().ask(since, owner) {
            let (session, l, target) = (self.clone(), l.clone(), target.clone());
            tokio::spawn(async move { session.serve_wanted(l, target).await });
        }
        self.metrics.record_observation("deferred");
        let interval = self.listing.config.min_walk_interval;
        let last = l.state.lock().walked_at(&Scope::Subscription);
        let next_start = last.map_or(now, |p| (p + interval).max(now));
        Err(AzureError::AwaitingWalk {
            resource_type: l.type_name.clone(),
            // When the walk should be in: its start, and as long again for its pages. The
            // owner is woken then; this is only the pass's fallback.
            ready_in: next_start.saturating_duration_since(now) + interval,
        })
    }

    /// The background walker of `l`: walks past the latest instant asked for until every
    /// pass that asked has been served, waking their owners after each walk. A failed walk
    /// drops what was asked: those passes come back at their own requeue and ask again.
    async fn serve_wanted(self, l: Arc<TypeListing>, target: Target) {
        loop {
            let Some(since) = l.wanted.lock().latest() else {
                return;
            };
            let woken = match self.walked_since(&l, &target, since).await {
                Ok(Some(scope)) => {
                    let started = l.state.lock().walked_at(&scope);
                    let mut wanted = l.wanted.lock();
                    let woken = started.map(|t| wanted.served(t)).unwrap_or_default();
                    if wanted.is_empty() {
                        drop(wanted);
                        self.wake(woken);
                        return;
                    }
                    woken
                }
                // The type is read by GET now: the passes come back and read so.
                Ok(None) => {
                    let woken = l.wanted.lock().abandon();
                    self.wake(woken);
                    return;
                }
                Err(e) => {
                    tracing::debug!(resource_type = %l.type_name, error = %e, "a walk asked for by deletions failed; they ask again");
                    l.wanted.lock().abandon();
                    return;
                }
            };
            self.wake(woken);
        }
    }

    fn wake(&self, owners: Vec<String>) {
        for owner_uid in owners {
            // Nobody listening is fine: the pass's own requeue covers it.
            let _ = self.listing.changes.send(Changed { owner_uid });
        }
    }

    async fn walked_for(
        &self,
        l: &TypeListing,
        target: &Target,
        need: Need,
    ) -> Result<Option<Scope>, AzureError> {
        let is_group_type = matches!(target, Target::Group { .. });
        loop {
            let mode = l.mode();
            let scope = match (mode, target.group()) {
                (Mode::Subscription, _) => Scope::Subscription,
                (Mode::Group, Some(g)) if !is_group_type => Scope::Group(g.to_string()),
                _ => return Ok(None),
            };
            if fresh(l, &scope, need, Instant::now()) {
                return Ok(Some(scope));
            }
            let failed = {
                let _one_walk = l.walking.lock().await;
                if fresh(l, &scope, need, Instant::now()) {
                    return Ok(Some(scope));
                }
                if l.mode() != mode {
                    continue;
                }
                if let Need::Since(_) = need {
                    let previous = l.state.lock().walked_at(&scope);
                    if let Some(wait) = previous
                        .map(|p| p + self.listing.config.min_walk_interval)
                        .and_then(|next| next.checked_duration_since(Instant::now()))
                    {
                        tokio::time::sleep(wait).await;
                    }
                }
                match self.walk(l, &scope).await {
                    Ok(()) => return Ok(Some(scope)),
                    Err(e) => e,
                }
            };
            let Some(next) = fallback(mode, is_group_type, &failed) else {
                return Err(failed);
            };
            tracing::info!(
                resource_type = %l.type_name,
                error = %failed,
                ?next,
                "cannot list this type across the subscription; reading it another way"
            );
            *l.mode.lock() = next;
        }
    }

    /// One walk of `scope`, applied to the listing; owners of what changed outside azop are
    /// told.
    async fn walk(&self, l: &TypeListing, scope: &Scope) -> Result<(), AzureError> {
        let started = Instant::now();
        let started_wall = std::time::SystemTime::now();
        let path = match scope {
            Scope::Subscription => {
                target::subscription_collection(&self.subscription_id, &l.type_name)
            }
            Scope::Group(g) => target::group_collection(&self.subscription_id, g, &l.type_name),
        };
        let interest = self.listing.config.max_age * INTEREST_WALKS;
        let keep = |uid: Option<&str>, asked: Option<Instant>| {
            uid.is_some() || asked.is_some_and(|a| started.saturating_duration_since(a) <= interest)
        };
        // Page by page: each listed resource's JSON is dropped as soon as its entry is made,
        // and an unchanged resource's entry shares the body already kept (issue 24, memory:
        // a walk made every owned resource's body anew, so each walk of a type held its
        // bodies twice).
        let mut items: Vec<(String, Item)> = Vec::new();
        let mut listed_count = 0usize;
        self.list_each(&path, &l.api_version, self.listing.config.max_pages, |v| {
            listed_count += 1;
            items.extend(item_with(
                &v,
                |key, fingerprint| l.state.lock().known_of(key, fingerprint),
                keep,
                |json| self.listing.dicts.keep(&l.type_name, json),
            ));
        })
        .await?;
        self.metrics.record_observation("refresh");
        // What the other replicas compare their listings with (`digest`): taken from the
        // walk as listed, before this listing's own writes meanwhile are merged in.
        let shared =
            (*scope == Scope::Subscription && self.listing.shares_walk(l, started)).then(|| {
                let mut entries: Vec<(u64, u64)> = items
                    .iter()
                    .map(|(k, i)| (key_hash(k), i.fingerprint))
                    .collect();
                entries.sort_unstable();
                entries
            });
        let woken = l.state.lock().apply(scope, started, items, keep, interest);
        if let Some(entries) = shared {
            self.listing.publish(l, started_wall, entries);
        }
        tracing::debug!(
            resource_type = %l.type_name,
            items = listed_count,
            woken = woken.len(),
            "listing walked"
        );
        for owner_uid in woken {
            // Nobody listening is fine: the resync covers it.
            let _ = self.listing.changes.send(Changed { owner_uid });
        }
        Ok(())
    }

    /// A GET of `path`, learned by the listing.
    async fn read(&self, l: &TypeListing, path: &str) -> Result<Option<RawResponse>, AzureError> {
        let asked = Instant::now();
        let resp = self.get(path, &l.api_version).await?;
        self.metrics.record_observation("get");
        let item = resp
            .as_ref()
            .and_then(RawResponse::json)
            .as_ref()
            .and_then(|v| item_in(v, &l.type_name, &self.listing.dicts))
            .map(|(_, i)| i);
        l.state.lock().learn(id_key(path), item, asked);
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_carry_their_owner_and_an_etag_fingerprint() {
        let v = json!({"id": "/subscriptions/S/resourceGroups/RG/providers/a/b/N", "etag": "W/\"1\"",
                       "tags": {"AZOP.DEV_UID": "u-1"}, "properties": {"provisioningState": "Succeeded"}});
        let (key, item) = item_of(&v).expect("an item");
        assert_eq!(key, "/subscriptions/s/resourcegroups/rg/providers/a/b/n");
        assert_eq!(item.owner_uid.as_deref(), Some("u-1"));
        // Same ETag and state, other body: the same resource as far as changes go.
        let mut same = v.clone();
        same["properties"]["extra"] = json!(1);
        assert_eq!(
            item_of(&same).expect("item").1.fingerprint,
            item.fingerprint
        );
        let mut updating = v.clone();
        updating["properties"]["provisioningState"] = json!("Updating");
        assert_ne!(
            item_of(&updating).expect("item").1.fingerprint,
            item.fingerprint
        );
        assert!(item.settled);
        assert!(!item_of(&updating).expect("item").1.settled, "in progress");
        // No ETag (a resource group): the body tells.
        let rg = json!({"id": "/subscriptions/s/resourceGroups/rg", "tags": {}});
        let mut tagged = rg.clone();
        tagged["tags"]["x"] = json!("y");
        assert_ne!(
            item_of(&rg).expect("item").1.fingerprint,
            item_of(&tagged).expect("item").1.fingerprint
        );
        assert!(item_of(&json!({"name": "no id"})).is_none());
    }

    #[test]
    fn a_walk_serves_by_age_or_by_having_started_after_an_instant() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let fresh = Need::MaxAge(Duration::from_secs(10));
        assert!(fresh.met(Some(t(0)), None, t(10)));
        assert!(!fresh.met(Some(t(0)), None, t(11)));
        assert!(!fresh.met(None, None, t(0)), "never walked");
        // The evidence a write is decided on is this process's own walk.
        assert!(!fresh.met(None, Some(t(9)), t(10)));
        // However recent, a walk that started before the delete says nothing of it; nor
        // does another replica's.
        let past_delete = Need::Since(t(5));
        assert!(!past_delete.met(Some(t(4)), None, t(5)));
        assert!(past_delete.met(Some(t(5)), None, t(100)));
        assert!(past_delete.met(Some(t(6)), None, t(6)));
        assert!(!past_delete.met(Some(t(4)), Some(t(6)), t(6)));
    }

    #[test]
    fn another_replicas_walk_serves_steady_reads_an_eighth_longer() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let steady = Need::Steady(Duration::from_secs(80));
        assert!(steady.met(Some(t(0)), None, t(80)));
        assert!(!steady.met(Some(t(0)), None, t(81)), "own walk: the age");
        assert!(steady.met(Some(t(0)), Some(t(0)), t(90)));
        assert!(!steady.met(Some(t(0)), Some(t(0)), t(91)), "80 + 10");
        assert!(steady.met(None, Some(t(20)), t(100)));
    }

    #[test]
    fn a_walk_refused_falls_back_to_groups_then_to_gets() {
        let denied = AzureError::Auth {
            code: "AuthorizationFailed".into(),
            action: None,
            scope: None,
            message: "no".into(),
        };
        assert_eq!(
            fallback(Mode::Subscription, false, &denied),
            Some(Mode::Group)
        );
        assert_eq!(
            fallback(Mode::Subscription, true, &denied),
            Some(Mode::Direct)
        );
        assert_eq!(fallback(Mode::Group, false, &denied), Some(Mode::Direct));
        let cannot = AzureError::InvalidSpec {
            status: 400,
            code: "NoRegisteredProviderFound".into(),
            message: "no".into(),
        };
        assert_eq!(
            fallback(Mode::Subscription, false, &cannot),
            Some(Mode::Direct)
        );
        let busy = AzureError::Throttled {
            code: "SubscriptionRequestsThrottled".into(),
            retry_after: Duration::from_secs(1),
        };
        assert_eq!(fallback(Mode::Subscription, false, &busy), None);
    }

    #[test]
    fn a_walk_shares_the_body_of_an_unchanged_resource_and_makes_only_wanted_ones() {
        let v = json!({"id": "/subscriptions/S/resourceGroups/RG/providers/a/b/N", "etag": "\"1\"",
                       "tags": {"azop.dev_uid": "u-1"}, "properties": {"provisioningState": "Succeeded"}});
        let (key, fresh) = item_of(&v).expect("an item");
        let fresh_json = fresh.body().expect("a body").json().expect("json");
        assert_eq!(
            serde_json::from_slice::<Value>(&fresh_json).expect("json"),
            v
        );
        // Unchanged (same body): the body already kept is the entry's, not a new one.
        let kept = KeptBody::new(b"{\"kept\":true}");
        let (_, reused) = item_with(
            &v,
            |k, f| {
                assert_eq!((k, f), (key.as_str(), fresh.content));
                (Some(kept.clone()), None)
            },
            |_, _| panic!("no body is made for an unchanged resource"),
            |_| panic!("no body is compressed for an unchanged resource"),
        )
        .expect("an item");
        assert_eq!(reused.body(), Some(&kept));
        // Changed (no body kept with that content): made anew when wanted...
        let (_, remade) = item_with(
            &v,
            |_, _| (None, None),
            |uid, _| uid == Some("u-1"),
            KeptBody::new,
        )
        .expect("an item");
        assert_eq!(
            remade.body().expect("a body").json().expect("json"),
            fresh_json
        );
        // ... and not at all when not.
        let (_, bare) =
            item_with(&v, |_, _| (None, None), |_, _| false, KeptBody::new).expect("an item");
        assert_eq!(bare.body(), None);
        assert_eq!(bare.held, Held::Id(v["id"].as_str().expect("id").into()));
        assert_eq!(bare.fingerprint, fresh.fingerprint);
    }

    /// The bug the content hash fixes: ARM answers a NIC's `virtualMachine` from the VM that
    /// uses it, with the NIC's ETag unchanged. A body reused by ETag kept a NIC "unattached"
    /// after its VM came, and a pass removing the machine deleted the NIC of a VM still
    /// there (ARM: NicInUse).
    #[test]
    fn a_body_that_changed_under_the_same_etag_is_not_reused() {
        let nic = |vm: Option<&str>| {
            let mut v = json!({"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/n",
                               "etag": "W/\"7\"", "tags": {"azop.dev_uid": "u-1"},
                               "properties": {"provisioningState": "Succeeded"}});
            if let Some(vm) = vm {
                v["properties"]["virtualMachine"] = json!({"id": vm});
            }
            v
        };
        let (_, before) = item_of(&nic(None)).expect("an item");
        let (_, after) = item_of(&nic(Some(
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/m",
        )))
        .expect("an item");
        assert_eq!(before.fingerprint, after.fingerprint, "same ETag and state");
        assert_ne!(before.content, after.content);
        let (_, walked) = item_with(
            &nic(Some(
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/m",
            )),
            |_, content| {
                // What a listing keeps answers by content: the old body is not this one.
                let old = before.body().cloned();
                (old.filter(|_| content == before.content), None)
            },
            |_, _| true,
            KeptBody::new,
        )
        .expect("an item");
        let json = walked.body().expect("a body").json().expect("json");
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert!(v.pointer("/properties/virtualMachine/id").is_some(), "{v}");
    }
}
