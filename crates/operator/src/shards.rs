//! Sharding the work over replicas (`azop run --shards N`, N > 1): one `coordination.k8s.io/v1`
//! Lease per shard (`<lease-name>-shard-<i>`), each held by at most one replica; a replica
//! reconciles the objects of the shards it holds (`azop_controllers::shard`, which assigns an
//! object to a shard by a stable hash of its uid).
//!
//! Each replica, every retry period, reads the shard Leases (one LIST by label) and the
//! single leader Lease (one GET), then:
//! - renews the shards it holds (a write guarded by resourceVersion);
//! - takes **one** free shard (absent, released, or expired) while it holds fewer than its
//!   share, `ceil(N / live replicas)` — live replicas are the holders of valid Leases, those
//!   asking for one, and itself;
//! - when none is free and it holds less than its share, asks the replica holding the most
//!   (more than its share) to hand one over: the annotation `azop.dev/preferred-holder` on
//!   one of its Leases. The holder stops reconciling that shard at once and releases the
//!   Lease one round later; the asker takes it.
//!
//! **Never two owners.** A replica counts a shard as held only until two thirds of the lease
//! duration after the instant it stamped its last successful renewal (a watchdog drops it
//! then, and with it every pass under way for its objects, even while the API server does
//! not answer), while another replica takes a Lease only once it expired — a full lease
//! duration after that stamp, on its own clock — or was released by its holder after the
//! holder had stopped. Clocks may differ by up to a third of the lease duration.
//!
//! **Never two shard counts.** Shard Leases carry `azop.dev/shard-count`. A replica takes no
//! shard while a Lease of another count — or the single leader Lease of `--shards 1` — is
//! valid and held by another replica, and it re-reads after each take (write, then read):
//! of two replicas of different counts taking at once, at least one sees the other and gives
//! its new shard back before reconciling anything in it. The leader election of `--shards 1`
//! does the same with the shard Leases (`crate::leader`). So an upgrade that changes
//! `--shards` never lets an object be reconciled under two counts at once: the replicas of the
//! new count wait until the last replica of the old one is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::leader::{ElectionError, LeaderConfig};

/// The annotation with the shard count a Lease was taken under.
pub const COUNT_ANNOTATION: &str = "azop.dev/shard-count";
/// The annotation by which a replica asks the holder for a shard.
pub const PREFERRED_ANNOTATION: &str = "azop.dev/preferred-holder";
/// The label naming the Lease group (the `--lease-name`), for listing every shard Lease.
pub const GROUP_LABEL: &str = "azop.dev/lease-group";

#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// The leader election's settings: namespace, base Lease name, identity, durations.
    pub lease: LeaderConfig,
    pub count: u32,
}

impl ShardConfig {
    pub fn lease_name(&self, index: u32) -> String {
        shard_lease_name(&self.lease.lease_name, index)
    }

    /// How long after the stamp of a successful renewal a shard still counts as held.
    fn renew_deadline(&self) -> Duration {
        self.lease.lease_duration * 2 / 3
    }

    fn selector(&self) -> String {
        format!("{GROUP_LABEL}={}", self.lease.lease_name)
    }
}

pub fn shard_lease_name(base: &str, index: u32) -> String {
    format!("{base}-shard-{index}")
}

/// Why `--lease-name` cannot name a shard group: it goes into a label value. Pure.
pub fn check_group_name(base: &str) -> Result<(), String> {
    let ok_chars = base
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if base.len() <= 63 && ok_chars && ends(base.chars().next()) && ends(base.chars().last()) {
        Ok(())
    } else {
        Err(format!(
            "--lease-name {base:?} cannot name the shard Leases' group: with --shards > 1 it \
             is also the label value {GROUP_LABEL}, which must be at most 63 letters, digits, \
             '-', '_' or '.', starting and ending with a letter or digit; choose a shorter name"
        ))
    }
}

/// One shard Lease as read this round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub index: u32,
    pub holder: Option<String>,
    /// Held, and renewed within its duration.
    pub valid: bool,
    /// Renewed, or released, within its duration: a released Lease another replica asked
    /// for is left to that replica for one lease duration.
    pub recent: bool,
    pub preferred: Option<String>,
}

/// What to do with a shard this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    Renew(u32),
    /// Another replica asked for it: stop its work, then release it.
    HandOver(u32),
    Take(u32),
    /// Ask its holder to hand it over.
    AskFor(u32),
}

fn holder_of(spec: Option<&LeaseSpec>) -> Option<&str> {
    spec.and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// Whether a Lease was renewed (or released) within its duration at `now`. Pure.
pub fn recent(spec: Option<&LeaseSpec>, now: Timestamp) -> bool {
    let Some(spec) = spec else {
        return false;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    spec.renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .is_some_and(|t| t.0 + SignedDuration::from_secs(duration) > now)
}

/// Whether a Lease is held and valid at `now`. Pure.
pub fn valid(spec: Option<&LeaseSpec>, now: Timestamp) -> bool {
    holder_of(spec).is_some() && recent(spec, now)
}

fn annotation<'a>(lease: &'a Lease, key: &str) -> Option<&'a str> {
    lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The shard Leases of `count` as listed, by index (Leases of other indexes are ignored).
/// Pure.
pub fn seen(leases: &[Lease], base: &str, count: u32, now: Timestamp) -> Vec<Seen> {
    (0..count)
        .map(|index| {
            let name = shard_lease_name(base, index);
            let lease = leases
                .iter()
                .find(|l| l.metadata.name.as_deref() == Some(name.as_str()));
            let spec = lease.and_then(|l| l.spec.as_ref());
            Seen {
                index,
                holder: holder_of(spec).map(str::to_string),
                valid: valid(spec, now),
                recent: recent(spec, now),
                preferred: lease
                    .and_then(|l| annotation(l, PREFERRED_ANNOTATION))
                    .map(str::to_string),
            }
        })
        .collect()
}

/// Who, besides `me`, holds a valid Lease that assigns objects differently from a replica
/// of `count` shards: a shard Lease of another count, or the single leader Lease (`count` 1
/// counts as the leader Lease's own: then every valid shard Lease is foreign). `None`: no
/// one. Pure.
pub fn foreign_holder(
    shard_leases: &[Lease],
    leader: Option<&Lease>,
    me: &str,
    count: u32,
    now: Timestamp,
) -> Option<String> {
    let others = |l: &&Lease| {
        let spec = l.spec.as_ref();
        valid(spec, now) && holder_of(spec) != Some(me)
    };
    if count > 1
        && let Some(l) = leader.filter(|l| others(l))
    {
        let who = holder_of(l.spec.as_ref()).unwrap_or_default();
        return Some(format!(
            "{who} (the leader Lease {}, --shards 1)",
            l.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    let mine = count.to_string();
    shard_leases
        .iter()
        .filter(|l| others(l))
        .find(|l| count == 1 || annotation(l, COUNT_ANNOTATION) != Some(mine.as_str()))
        .map(|l| {
            format!(
                "{} (Lease {}, --shards {})",
                holder_of(l.spec.as_ref()).unwrap_or_default(),
                l.metadata.name.as_deref().unwrap_or_default(),
                annotation(l, COUNT_ANNOTATION).unwrap_or("unknown")
            )
        })
}

/// A stable starting point per replica, so replicas starting together try different shards.
fn offset(me: &str, count: u32) -> u32 {
    azop_controllers::shard::shard_of(me, count)
}

/// This round's moves for replica `me` among `count` shards: renewals first, then
/// hand-overs, then at most one take or request. `blocked`: a Lease of another shard count
/// (or the single leader Lease) is valid — take and ask for nothing. Pure.
pub fn plan(me: &str, count: u32, seen: &[Seen], blocked: bool) -> Vec<Move> {
    let mut live: BTreeSet<&str> = BTreeSet::from([me]);
    let mut held_by: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for s in seen.iter().filter(|s| s.valid) {
        if let Some(h) = s.holder.as_deref() {
            live.insert(h);
            held_by.entry(h).or_default().push(s.index);
        }
        if let Some(p) = s.preferred.as_deref() {
            live.insert(p);
        }
    }
    let share = count.div_ceil(u32::try_from(live.len()).unwrap_or(u32::MAX).max(1));
    let mut moves = Vec::new();
    let mut hand_overs = Vec::new();
    let mut kept = 0;
    // Ours even when its renewal is overdue: nobody else may have taken it while our name
    // is on it.
    for s in seen.iter().filter(|s| s.holder.as_deref() == Some(me)) {
        match s.preferred.as_deref() {
            Some(p) if p != me => hand_overs.push(Move::HandOver(s.index)),
            _ => {
                kept += 1;
                moves.push(Move::Renew(s.index));
            }
        }
    }
    moves.extend(hand_overs);
    if blocked || kept >= share {
        return moves;
    }
    let start = offset(me, count);
    let reserved_for_another =
        |s: &Seen| s.recent && s.preferred.as_deref().is_some_and(|p| p != me);
    let mut free: Vec<&Seen> = seen
        .iter()
        .filter(|s| !s.valid && s.holder.as_deref() != Some(me) && !reserved_for_another(s))
        .collect();
    // Asked for by us first, then unclaimed ones, then from our starting point.
    free.sort_by_key(|s| {
        let claim = match s.preferred.as_deref() {
            Some(p) if p == me => 0,
            None => 1,
            Some(_) => 2,
        };
        (claim, (s.index + count - start % count) % count)
    });
    if let Some(s) = free.first() {
        moves.push(Move::Take(s.index));
        return moves;
    }
    let asked = seen
        .iter()
        .any(|s| s.valid && s.preferred.as_deref() == Some(me));
    if asked {
        return moves;
    }
    let richest = held_by
        .iter()
        .filter(|(h, shards)| **h != me && u32::try_from(shards.len()).unwrap_or(0) > share)
        .max_by_key(|(h, shards)| (shards.len(), std::cmp::Reverse(**h)));
    if let Some((_, shards)) = richest
        && let Some(s) = seen
            .iter()
            .filter(|s| shards.contains(&s.index) && s.preferred.is_none())
            .min_by_key(|s| s.index)
    {
        moves.push(Move::AskFor(s.index));
    }
    moves
}

/// What this replica holds: until when each shard counts as held, and the shards it stopped
/// working on to hand them over (released next round).
#[derive(Debug, Default)]
struct Holdings {
    until: BTreeMap<u32, Instant>,
    handing_over: BTreeSet<u32>,
}

impl Holdings {
    /// The shards held at `now` (those past their deadline are dropped). Pure on the state.
    fn current(&mut self, now: Instant) -> BTreeSet<u32> {
        self.until.retain(|_, until| *until > now);
        self.until.keys().copied().collect()
    }
}

type Shared = Arc<Mutex<Holdings>>;

fn lock(h: &Shared) -> MutexGuard<'_, Holdings> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publishes the shards held now to the controllers' gate. A gained shard is logged before
/// it is published and a lost one after, so the log's intervals contain every pass.
fn publish(h: &Shared, tx: &watch::Sender<BTreeSet<u32>>, count: u32, gauge: &Gauge) {
    // Under the lock: the watchdog and the round publish in turn, never interleaved.
    let mut holdings = lock(h);
    let set = holdings.current(Instant::now());
    let before = tx.borrow().clone();
    if before == set {
        return;
    }
    for i in set.difference(&before) {
        info!(shard = i, of = count, "shard held");
    }
    tx.send_replace(set.clone());
    gauge.set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    for i in before.difference(&set) {
        info!(shard = i, of = count, "shard no longer held");
    }
    drop(holdings);
}

/// Runs the shard manager until `shutdown` fires; `tx` says which shards this replica holds.
/// Refusals retrying cannot fix (missing namespace, missing permission) before the first
/// success end it with an error.
pub async fn run(
    client: kube::Client,
    cfg: ShardConfig,
    tx: watch::Sender<BTreeSet<u32>>,
    mut shutdown: watch::Receiver<bool>,
    gauge: Gauge,
) -> Result<(), ElectionError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.lease.namespace);
    let held: Shared = Arc::default();
    let tx = Arc::new(tx);
    info!(
        identity = %cfg.lease.identity,
        shards = cfg.count,
        leases = %format!("{}/{}", cfg.lease.namespace, cfg.lease_name(0)),
        "sharding the work: taking shard Leases"
    );
    // The watchdog: a shard not renewed in time stops counting as held even while the loop
    // below waits on an API server that does not answer.
    let watchdog = tokio::spawn({
        let (held, tx, count, gauge) = (held.clone(), tx.clone(), cfg.count, gauge.clone());
        async move {
            loop {
                publish(&held, &tx, count, &gauge);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut ever_succeeded = false;
    let mut blocked_by: Option<String> = None;
    loop {
        match round(&api, &cfg, &held, &tx, &gauge).await {
            Ok(blocked) => {
                ever_succeeded = true;
                if blocked != blocked_by {
                    match &blocked {
                        Some(who) => info!(
                            held_by = %who,
                            "a Lease of another shard count is held: taking no shard until it is released or expires"
                        ),
                        None if blocked_by.is_some() => {
                            info!("no Lease of another shard count is held any more")
                        }
                        None => {}
                    }
                }
                blocked_by = blocked;
            }
            Err(e) => {
                if !ever_succeeded && let Some(fatal) = crate::leader::fatal(&cfg.lease, &e) {
                    watchdog.abort();
                    lock(&held).until.clear();
                    publish(&held, &tx, cfg.count, &gauge);
                    return Err(fatal);
                }
                warn!(error = %e, "shard leases: update failed");
            }
        }
        publish(&held, &tx, cfg.count, &gauge);
        tokio::select! {
            _ = tokio::time::sleep(cfg.lease.retry_period) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Stop every pass first, then give the Leases up so others take them at once.
    let mine: Vec<u32> = {
        let mut h = lock(&held);
        let mine = h.until.keys().chain(&h.handing_over).copied().collect();
        h.until.clear();
        mine
    };
    publish(&held, &tx, cfg.count, &gauge);
    watchdog.abort();
    if !mine.is_empty() {
        tokio::time::sleep(HAND_OVER_GRACE).await;
        for i in mine {
            release(&api, &cfg, i).await;
        }
    }
    Ok(())
}

/// Between dropping shards and releasing their Leases at shutdown: passes under way see the
/// drop and stop. (A hand-over waits a whole round instead.)
const HAND_OVER_GRACE: Duration = Duration::from_secs(1);

/// Reads every shard Lease, decides and acts. Returns who blocks taking, if anyone.
async fn round(
    api: &Api<Lease>,
    cfg: &ShardConfig,
    held: &Shared,
    tx: &watch::Sender<BTreeSet<u32>>,
    gauge: &Gauge,
) -> kube::Result<Option<String>> {
    let me = cfg.lease.identity.as_str();
    // The stamp written as renewTime and the instant the held deadline counts from are
    // taken together, before any request: the deadline can only be early, never late.
    let (now, stamped) = (Timestamp::now(), Instant::now());
    let listed = api
        .list(&ListParams::default().labels(&cfg.selector()))
        .await?;
    let leader = api.get_opt(&cfg.lease.lease_name).await?;
    let view = seen(&listed.items, &cfg.lease.lease_name, cfg.count, now);
    let blocked = foreign_holder(&listed.items, leader.as_ref(), me, cfg.count, now);
    // Someone else's name on a shard we count as ours (it expired on their clock): drop it.
    let dropped = {
        let mut h = lock(held);
        let before = h.until.len();
        let ours = |i: &u32| {
            usize::try_from(*i)
                .ok()
                .and_then(|i| view.get(i))
                .is_some_and(|s| s.holder.as_deref() == Some(me))
        };
        h.until.retain(|i, _| ours(i));
        h.handing_over.retain(ours);
        before != h.until.len()
    };
    if dropped {
        warn!("a shard this replica counted as its own is held by another replica: dropped");
        publish(held, tx, cfg.count, gauge);
    }
    let current = |i: u32| {
        let name = cfg.lease_name(i);
        listed
            .items
            .iter()
            .find(|l| l.metadata.name.as_deref() == Some(name.as_str()))
            .cloned()
    };
    let mut first_error = None;
    // Shards written as ours that we do not work on yet: published only once a read after
    // the write shows no replica of another shard count.
    let mut fresh = Vec::new();
    for m in plan(me, cfg.count, &view, blocked.is_some()) {
        let result = match m {
            Move::Renew(i) | Move::Take(i) => {
                let how = if matches!(m, Move::Renew(_)) {
                    Write::Renew
                } else {
                    Write::Take
                };
                write(api, cfg, i, current(i), how, now).await.map(|won| {
                    if won {
                        let mut h = lock(held);
                        if let Some(until) = h.until.get_mut(&i) {
                            *until = stamped + cfg.renew_deadline();
                        } else {
                            fresh.push(i);
                        }
                    }
                    // Lost a race (409): a renewal keeps the deadline of the last one that
                    // was written; the next round reads who holds it.
                })
            }
            Move::HandOver(i) => {
                let first_time = lock(held).handing_over.insert(i);
                if first_time {
                    // Stop working on it now; release it next round, once passes stopped.
                    lock(held).until.remove(&i);
                    publish(held, tx, cfg.count, gauge);
                    info!(
                        shard = i,
                        "another replica asked for this shard: handing it over"
                    );
                    Ok(())
                } else {
                    write(api, cfg, i, current(i), Write::Release, now)
                        .await
                        .map(|won| {
                            if won {
                                lock(held).handing_over.remove(&i);
                                info!(shard = i, "released the shard to the replica that asked");
                            }
                        })
                }
            }
            Move::AskFor(i) => write(api, cfg, i, current(i), Write::Ask, now)
                .await
                .map(|won| {
                    if won {
                        info!(shard = i, "asked the holder of this shard to hand it over");
                    }
                }),
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if !fresh.is_empty() {
        confirm(api, cfg, held, &fresh, stamped).await?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(blocked),
    }
}

/// Write, then read: publishes the shards just written as ours unless a replica of another
/// shard count holds a valid Lease now, in which case they are given back unused.
async fn confirm(
    api: &Api<Lease>,
    cfg: &ShardConfig,
    held: &Shared,
    fresh: &[u32],
    stamped: Instant,
) -> kube::Result<()> {
    let me = cfg.lease.identity.as_str();
    let now = Timestamp::now();
    let listed = api
        .list(&ListParams::default().labels(&cfg.selector()))
        .await?;
    let leader = api.get_opt(&cfg.lease.lease_name).await?;
    match foreign_holder(&listed.items, leader.as_ref(), me, cfg.count, now) {
        None => {
            let mut h = lock(held);
            for i in fresh {
                h.until.insert(*i, stamped + cfg.renew_deadline());
            }
        }
        Some(who) => {
            info!(held_by = %who, shards = ?fresh, "a Lease of another shard count appeared: giving the shards just taken back");
            for i in fresh {
                release(api, cfg, *i).await;
            }
        }
    }
    Ok(())
}

enum Write {
    Renew,
    Take,
    Ask,
    Release,
}

/// Writes shard Lease `i` (created when it does not exist, else replaced with its
/// resourceVersion, so of two replicas racing exactly one wins). `false`: another writer won.
async fn write(
    api: &Api<Lease>,
    cfg: &ShardConfig,
    i: u32,
    current: Option<Lease>,
    how: Write,
    now: Timestamp,
) -> kube::Result<bool> {
    let lease = written(cfg, i, current, &how, now);
    let exists = lease.metadata.resource_version.is_some();
    let result = if exists {
        api.replace(&cfg.lease_name(i), &PostParams::default(), &lease)
            .await
            .map(|_| ())
    } else {
        api.create(&PostParams::default(), &lease).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(true),
        // 409: changed since read (replace) or created meanwhile (create).
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The Lease as `how` writes it. Pure.
fn written(
    cfg: &ShardConfig,
    i: u32,
    current: Option<Lease>,
    how: &Write,
    now: Timestamp,
) -> Lease {
    let me = cfg.lease.identity.clone();
    let mut lease = current.unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(cfg.lease_name(i)),
            namespace: Some(cfg.lease.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    lease
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(GROUP_LABEL.to_string(), cfg.lease.lease_name.clone());
    let annotations = lease
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    let mut spec = lease.spec.take().unwrap_or_default();
    let seconds = i32::try_from(cfg.lease.lease_duration.as_secs()).unwrap_or(15);
    match how {
        Write::Renew => {
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds);
            annotations.insert(COUNT_ANNOTATION.to_string(), cfg.count.to_string());
        }
        Write::Take => {
            let transition = holder_of(Some(&spec)).is_some_and(|h| h != me);
            spec.holder_identity = Some(me);
            spec.acquire_time = Some(MicroTime(now));
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds);
            if transition {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            annotations.insert(COUNT_ANNOTATION.to_string(), cfg.count.to_string());
            annotations.remove(PREFERRED_ANNOTATION);
        }
        Write::Ask => {
            annotations.insert(PREFERRED_ANNOTATION.to_string(), me);
        }
        Write::Release => {
            // renewTime says when it was released: a replica that asked for it has one
            // lease duration to take it before anyone else may.
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(now));
            spec.acquire_time = None;
        }
    }
    lease.spec = Some(spec);
    lease
}

/// Gives shard `i` up, if still ours.
async fn release(api: &Api<Lease>, cfg: &ShardConfig, i: u32) {
    let lease = match api.get_opt(&cfg.lease_name(i)).await {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            warn!(shard = i, error = %e, "failed to read the shard to release it; it is taken over once it expires");
            return;
        }
    };
    if holder_of(lease.spec.as_ref()) != Some(cfg.lease.identity.as_str()) {
        return;
    }
    match write(api, cfg, i, Some(lease), Write::Release, Timestamp::now()).await {
        Ok(true) => info!(shard = i, "released the shard"),
        Ok(false) => warn!(
            shard = i,
            "the shard changed while releasing it; it is taken over once it expires"
        ),
        Err(e) => {
            warn!(shard = i, error = %e, "failed to release the shard; it is taken over once it expires")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen_(index: u32, holder: Option<&str>, valid: bool, preferred: Option<&str>) -> Seen {
        Seen {
            index,
            holder: holder.map(str::to_string),
            valid,
            recent: valid,
            preferred: preferred.map(str::to_string),
        }
    }

    fn takes(moves: &[Move]) -> Vec<u32> {
        moves
            .iter()
            .filter_map(|m| match m {
                Move::Take(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("valid timestamp")
    }

    fn cfg(me: &str, count: u32) -> ShardConfig {
        ShardConfig {
            lease: LeaderConfig {
                namespace: "azop-system".into(),
                lease_name: "azop-leader".into(),
                identity: me.into(),
                lease_duration: Duration::from_secs(15),
                retry_period: Duration::from_secs(3),
            },
            count,
        }
    }

    /// A Lease as the API server returns it after `how` by `me` at second `at`.
    fn lease_after(
        me: &str,
        count: u32,
        i: u32,
        how: Write,
        at: i64,
        current: Option<Lease>,
    ) -> Lease {
        let mut l = written(&cfg(me, count), i, current, &how, ts(at));
        l.metadata.resource_version = Some("1".into());
        l
    }

    #[test]
    fn a_lone_replica_takes_one_shard_per_round_until_it_holds_all() {
        let mut state = vec![
            seen_(0, None, false, None),
            seen_(1, None, false, None),
            seen_(2, None, false, None),
        ];
        for round in 0..3 {
            let moves = plan("a", 3, &state, false);
            let t = takes(&moves);
            assert_eq!(t.len(), 1, "round {round}: {moves:?}");
            state[t[0] as usize] = seen_(t[0], Some("a"), true, None);
        }
        let moves = plan("a", 3, &state, false);
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| matches!(m, Move::Renew(_))));
    }

    /// Replicas running rounds in turn over one set of Leases end with one shard each.
    #[test]
    fn three_replicas_settle_on_one_shard_each() {
        let mut state: Vec<Seen> = (0..3).map(|i| seen_(i, None, false, None)).collect();
        for _round in 0..10 {
            for me in ["a", "b", "c"] {
                for m in plan(me, 3, &state, false) {
                    match m {
                        Move::Take(i) => state[i as usize] = seen_(i, Some(me), true, None),
                        Move::AskFor(i) => state[i as usize].preferred = Some(me.into()),
                        Move::HandOver(i) => {
                            let asker = state[i as usize].preferred.clone();
                            state[i as usize] = Seen {
                                index: i,
                                holder: None,
                                valid: false,
                                recent: true,
                                preferred: asker,
                            };
                        }
                        Move::Renew(_) => {}
                    }
                }
            }
        }
        let mut holders: Vec<_> = state.iter().filter_map(|s| s.holder.clone()).collect();
        holders.sort();
        assert_eq!(holders, ["a", "b", "c"], "{state:?}");
    }

    #[test]
    fn a_killed_replicas_shard_is_taken_once_its_lease_expired() {
        // c died: its lease is no longer valid. a and b (share ceil(3/2) = 2) both try; the
        // Lease write's resourceVersion lets one win.
        let state = vec![
            seen_(0, Some("a"), true, None),
            seen_(1, Some("b"), true, None),
            seen_(2, Some("c"), false, None),
        ];
        assert_eq!(takes(&plan("a", 3, &state, false)), vec![2]);
        assert_eq!(takes(&plan("b", 3, &state, false)), vec![2]);
        // While it is valid, nobody takes it.
        let alive = vec![
            seen_(0, Some("a"), true, None),
            seen_(1, Some("b"), true, None),
            seen_(2, Some("c"), true, None),
        ];
        assert!(takes(&plan("a", 3, &alive, false)).is_empty());
        // With a holding two of three, b does not ask for more (2 is a's share of 3 over 2).
        let after = vec![
            seen_(0, Some("a"), true, None),
            seen_(1, Some("b"), true, None),
            seen_(2, Some("a"), true, None),
        ];
        assert_eq!(plan("b", 3, &after, false), vec![Move::Renew(1)]);
    }

    #[test]
    fn a_newcomer_asks_the_richest_and_the_holder_hands_over() {
        let state = vec![
            seen_(0, Some("a"), true, None),
            seen_(1, Some("a"), true, None),
            seen_(2, Some("b"), true, None),
        ];
        // c holds nothing, nothing is free; a holds 2 > ceil(3/3): c asks for one of a's.
        assert_eq!(plan("c", 3, &state, false), vec![Move::AskFor(0)]);
        let asked = vec![
            seen_(0, Some("a"), true, Some("c")),
            seen_(1, Some("a"), true, None),
            seen_(2, Some("b"), true, None),
        ];
        assert_eq!(plan("c", 3, &asked, false), vec![], "asked once; waits");
        assert_eq!(
            plan("a", 3, &asked, false),
            vec![Move::Renew(1), Move::HandOver(0)]
        );
        // Released (just now): c takes the one it asked for; a and b leave it to c.
        let mut released = vec![
            seen_(0, None, false, Some("c")),
            seen_(1, Some("a"), true, None),
            seen_(2, Some("b"), true, None),
        ];
        released[0].recent = true;
        assert_eq!(takes(&plan("c", 3, &released, false)), vec![0]);
        assert!(takes(&plan("a", 3, &released, false)).is_empty());
        assert!(takes(&plan("b", 3, &released, false)).is_empty());
        // c died before taking it: a lease duration later anyone may.
        released[0].recent = false;
        assert_eq!(takes(&plan("a", 3, &released, false)), vec![0]);
    }

    #[test]
    fn more_replicas_than_shards_leave_the_extra_ones_idle() {
        let state = vec![
            seen_(0, Some("a"), true, None),
            seen_(1, Some("b"), true, None),
        ];
        assert_eq!(plan("c", 2, &state, false), vec![]);
    }

    #[test]
    fn another_shard_count_blocks_taking_and_asking_but_not_renewing() {
        let state = vec![seen_(0, Some("a"), true, None), seen_(1, None, false, None)];
        assert_eq!(plan("a", 2, &state, true), vec![Move::Renew(0)]);
        let rich = vec![
            seen_(0, Some("b"), true, None),
            seen_(1, Some("b"), true, None),
        ];
        assert_eq!(plan("a", 2, &rich, true), vec![]);
    }

    #[test]
    fn validity_needs_a_holder_and_a_recent_renewal() {
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(ts(100))),
            ..LeaseSpec::default()
        };
        assert!(valid(Some(&spec), ts(110)));
        assert!(!valid(Some(&spec), ts(115)));
        let released = LeaseSpec {
            holder_identity: None,
            ..spec.clone()
        };
        assert!(!valid(Some(&released), ts(101)));
        assert!(recent(Some(&released), ts(101)));
        assert!(!valid(None, ts(0)));
    }

    #[test]
    fn leases_are_read_by_index_with_their_claims() {
        let taken = lease_after("a", 3, 1, Write::Take, 100, None);
        let asked = lease_after("c", 3, 1, Write::Ask, 101, Some(taken));
        let released = lease_after("b", 3, 2, Write::Take, 50, None);
        let released = lease_after("b", 3, 2, Write::Release, 99, Some(released));
        let view = seen(&[asked, released], "azop-leader", 3, ts(105));
        assert_eq!(view.len(), 3);
        assert_eq!(view[0], seen_(0, None, false, None));
        assert_eq!(view[1], seen_(1, Some("a"), true, Some("c")));
        assert_eq!(
            view[2],
            Seen {
                index: 2,
                holder: None,
                valid: false,
                recent: true,
                preferred: None
            }
        );
    }

    #[test]
    fn writes_keep_the_group_label_and_the_count() {
        let l = lease_after("a", 3, 2, Write::Take, 100, None);
        assert_eq!(l.metadata.name.as_deref(), Some("azop-leader-shard-2"));
        assert_eq!(
            l.metadata
                .labels
                .as_ref()
                .and_then(|m| m.get(GROUP_LABEL))
                .map(String::as_str),
            Some("azop-leader")
        );
        assert_eq!(annotation(&l, COUNT_ANNOTATION), Some("3"));
        // Taken over by b: a transition; b's take clears the request that let it in.
        let asked = lease_after("b", 3, 2, Write::Ask, 101, Some(l));
        let released = lease_after("a", 3, 2, Write::Release, 102, Some(asked));
        assert_eq!(annotation(&released, PREFERRED_ANNOTATION), Some("b"));
        let taken = lease_after("b", 3, 2, Write::Take, 103, Some(released));
        assert_eq!(annotation(&taken, PREFERRED_ANNOTATION), None);
        assert_eq!(
            taken
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref()),
            Some("b")
        );
        // Renewed by a replica restarted with another count (same identity): it re-stamps
        // the count, so the others see what it works under.
        let renewed = lease_after("b", 5, 2, Write::Renew, 104, Some(taken));
        assert_eq!(annotation(&renewed, COUNT_ANNOTATION), Some("5"));
    }

    #[test]
    fn another_count_or_the_leader_lease_is_foreign() {
        let three = lease_after("a", 3, 0, Write::Take, 100, None);
        let five = lease_after("b", 5, 1, Write::Take, 100, None);
        // Replicas of 3 see b's Lease of 5; b sees a's; nobody is foreign to itself.
        let both = [three.clone(), five.clone()];
        assert!(foreign_holder(&both, None, "c", 3, ts(101)).is_some_and(|w| w.contains("b (")));
        assert!(foreign_holder(&both, None, "c", 5, ts(101)).is_some_and(|w| w.contains("a (")));
        assert_eq!(
            foreign_holder(std::slice::from_ref(&three), None, "c", 3, ts(101)),
            None
        );
        assert_eq!(
            foreign_holder(std::slice::from_ref(&five), None, "b", 3, ts(101)),
            None
        );
        // Expired or released Leases of another count do not block.
        assert_eq!(
            foreign_holder(std::slice::from_ref(&five), None, "c", 3, ts(200)),
            None
        );
        // The leader Lease (--shards 1) blocks every sharded replica while valid...
        let leader = Lease {
            metadata: ObjectMeta {
                name: Some("azop-leader".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("old".into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(ts(100))),
                ..LeaseSpec::default()
            }),
        };
        assert!(
            foreign_holder(&[], Some(&leader), "c", 3, ts(101)).is_some_and(|w| w.contains("old"))
        );
        assert_eq!(foreign_holder(&[], Some(&leader), "c", 3, ts(120)), None);
        // ...and, seen from the leader election (count 1), every valid shard Lease is foreign.
        assert!(foreign_holder(&[three], Some(&leader), "old", 1, ts(101)).is_some());
        assert_eq!(foreign_holder(&[], Some(&leader), "old", 1, ts(101)), None);
    }

    #[test]
    fn the_group_name_must_be_a_label_value() {
        assert!(check_group_name("azop-leader").is_ok());
        assert!(check_group_name(&"x".repeat(64)).is_err());
        let err = check_group_name("-bad").expect_err("refused");
        assert!(err.contains("--lease-name") && err.contains("63"));
    }

    #[test]
    fn held_shards_lapse_at_their_deadline() {
        let t = Instant::now();
        let mut h = Holdings::default();
        h.until.insert(0, t + Duration::from_secs(10));
        h.until.insert(1, t + Duration::from_secs(2));
        assert_eq!(h.current(t), BTreeSet::from([0, 1]));
        assert_eq!(h.current(t + Duration::from_secs(3)), BTreeSet::from([0]));
        assert_eq!(h.current(t + Duration::from_secs(10)), BTreeSet::new());
        // The deadline leaves a third of the lease for clocks and the next holder's read.
        assert_eq!(cfg("a", 3).renew_deadline(), Duration::from_secs(10));
    }
}
