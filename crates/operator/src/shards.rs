//! Sharding the work over replicas (`azop run --shards N`, N > 1): one `coordination.k8s.io/v1`
//! Lease per shard (`<lease-name>-shard-<i>`), each held by at most one replica; a replica
//! reconciles the objects of the shards it holds (`azop_controllers::shard`).
//!
//! Each replica, every retry period:
//! - renews the shards it holds (a Lease write guarded by resourceVersion);
//! - takes **one** free shard (never held, released, or expired) while it holds fewer than its
//!   share, `ceil(N / live replicas)` — live replicas are the holders of valid Leases, those
//!   asking for one, and itself;
//! - when none is free and it holds less than its share, asks the replica holding the most
//!   (more than its share) to hand one over: the annotation `azop.dev/preferred-holder` on
//!   one of its Leases. The holder stops reconciling that shard, then releases the Lease;
//!   the asker takes it.
//!
//! Never two owners: a replica counts a shard as held only until two thirds of the lease
//! duration after the start of its last successful renewal (a watchdog drops it then, and
//! with it every pass under way for its objects), while another replica takes a Lease only
//! once it expired — a full lease duration after that renewal — or was released by its
//! holder after the holder had stopped. A replica SIGKILLed loses its shards to the others
//! within one lease duration and a retry period.
//!
//! Shard Leases carry `azop.dev/shard-count`; a replica started with another count (an
//! upgrade that changes `--shards`) takes nothing while a Lease of another count — or the
//! single leader Lease of `--shards 1` — is valid: an object must never map to two
//! shards held by two replicas at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::leader::{ElectionError, LeaderConfig};

/// The annotation with the shard count a Lease was taken under.
pub const COUNT_ANNOTATION: &str = "azop.dev/shard-count";
/// The annotation by which a replica asks for a shard.
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
        format!("{}-shard-{index}", self.lease.lease_name)
    }

    /// How long after the start of a successful renewal a shard still counts as held.
    fn renew_deadline(&self) -> Duration {
        self.lease.lease_duration * 2 / 3
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
    spec.is_some_and(|s| s.holder_identity.as_deref().is_some_and(|h| !h.is_empty()))
        && recent(spec, now)
}

/// A stable starting point per replica, so replicas starting together try different shards.
fn offset(me: &str, count: u32) -> u32 {
    azop_controllers::shard::shard_of(me, count)
}

/// This round's moves for replica `me` among `count` shards. `blocked`: a Lease of another
/// shard count (or the single leader Lease) is valid — take nothing. Pure.
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
    let share = count.div_ceil(u32::try_from(live.len()).unwrap_or(1).max(1));
    let mut moves = Vec::new();
    let mut kept = 0;
    for s in seen.iter().filter(|s| s.holder.as_deref() == Some(me)) {
        match s.preferred.as_deref() {
            Some(p) if p != me => moves.push(Move::HandOver(s.index)),
            _ => {
                kept += 1;
                moves.push(Move::Renew(s.index));
            }
        }
    }
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

/// Until when each held shard counts as held.
type Held = Arc<Mutex<BTreeMap<u32, Instant>>>;

fn lock(held: &Held) -> MutexGuard<'_, BTreeMap<u32, Instant>> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publishes the shards held now (dropping those past their deadline); logs changes.
fn publish(held: &Held, tx: &watch::Sender<BTreeSet<u32>>, count: u32) {
    let now = Instant::now();
    let set: BTreeSet<u32> = {
        let mut h = lock(held);
        h.retain(|_, until| *until > now);
        h.keys().copied().collect()
    };
    tx.send_if_modified(|current| {
        if *current == set {
            return false;
        }
        info!(shards = ?set, of = count, "holding shards");
        *current = set;
        true
    });
}

/// Runs the shard manager until `shutdown` fires; `held` says which shards this replica
/// holds. Refusals retrying cannot fix before the first success end it with an error.
pub async fn run(
    client: kube::Client,
    cfg: ShardConfig,
    tx: watch::Sender<BTreeSet<u32>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ElectionError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.lease.namespace);
    let held: Held = Arc::new(Mutex::new(BTreeMap::new()));
    let tx = Arc::new(tx);
    // The watchdog: a shard not renewed in time stops counting as held even while the API
    // server does not answer (the loop below may be stuck in a request).
    let watchdog = tokio::spawn({
        let (held, tx, count) = (held.clone(), tx.clone(), cfg.count);
        async move {
            loop {
                publish(&held, &tx, count);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let mut ever_succeeded = false;
    let mut waiting_logged = false;
    loop {
        match round(&api, &cfg, &held, &tx).await {
            Ok(blocked) => {
                ever_succeeded = true;
                if blocked && !waiting_logged {
                    info!(
                        "leases of another shard count (or the leader lease) are held: taking no shard until they are released or expire"
                    );
                }
                waiting_logged = blocked;
            }
            Err(e) => {
                if !ever_succeeded && let Some(fatal) = crate::leader::fatal(&cfg.lease, &e) {
                    watchdog.abort();
                    return Err(fatal);
                }
                warn!(error = %e, "shard leases: update failed");
            }
        }
        publish(&held, &tx, cfg.count);
        tokio::select! {
            _ = tokio::time::sleep(cfg.lease.retry_period) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Stop every pass first, then give the Leases up so others take them at once.
    let mine: Vec<u32> = lock(&held).keys().copied().collect();
    lock(&held).clear();
    publish(&held, &tx, cfg.count);
    watchdog.abort();
    if !mine.is_empty() {
        tokio::time::sleep(HAND_OVER_GRACE).await;
        for i in mine {
            release(&api, &cfg, i).await;
        }
    }
    Ok(())
}

/// Between dropping a shard and releasing its Lease: passes under way see the drop and stop.
const HAND_OVER_GRACE: Duration = Duration::from_secs(1);

/// Reads every shard Lease, decides and acts. Returns whether taking was blocked.
async fn round(
    api: &Api<Lease>,
    cfg: &ShardConfig,
    held: &Held,
    tx: &watch::Sender<BTreeSet<u32>>,
) -> kube::Result<bool> {
    let me = cfg.lease.identity.as_str();
    let now = Timestamp::now();
    let mut leases: HashMap<u32, Option<Lease>> = HashMap::new();
    let mut seen = Vec::new();
    for i in 0..cfg.count {
        let lease = api.get_opt(&cfg.lease_name(i)).await?;
        let spec = lease.as_ref().and_then(|l| l.spec.as_ref());
        let annotation = |k: &str| {
            lease
                .as_ref()
                .and_then(|l| l.metadata.annotations.as_ref())
                .and_then(|a| a.get(k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        seen.push(Seen {
            index: i,
            holder: spec
                .and_then(|s| s.holder_identity.clone())
                .filter(|h| !h.is_empty()),
            valid: valid(spec, now),
            recent: recent(spec, now),
            preferred: annotation(PREFERRED_ANNOTATION),
        });
        leases.insert(i, lease);
    }
    // Someone else took a shard we thought ours (it expired on their clock): drop it now.
    {
        let mut h = lock(held);
        h.retain(|i, _| seen[*i as usize].holder.as_deref() == Some(me));
    }
    let blocked = blocked(api, cfg, now).await?;
    for m in plan(me, cfg.count, &seen, blocked) {
        let (i, sent) = (shard_index(&m), Instant::now());
        let Some(current) = leases.remove(&i) else {
            continue;
        };
        let written = match &m {
            Move::Renew(_) => write(api, cfg, i, current, Write::Renew, now).await,
            Move::Take(_) => write(api, cfg, i, current, Write::Take, now).await,
            Move::AskFor(_) => write(api, cfg, i, current, Write::Ask, now).await,
            Move::HandOver(_) => {
                lock(held).remove(&i);
                publish(held, tx, cfg.count);
                tokio::time::sleep(HAND_OVER_GRACE).await;
                info!(shard = i, "handing the shard over to the replica that asked");
                write(api, cfg, i, current, Write::Release, now).await
            }
        };
        match (&m, written?) {
            (Move::Renew(_) | Move::Take(_), true) => {
                lock(held).insert(i, sent + cfg.renew_deadline());
            }
            (Move::Renew(_) | Move::Take(_), false) => {
                lock(held).remove(&i);
            }
            _ => {}
        }
    }
    Ok(blocked)
}

fn shard_index(m: &Move) -> u32 {
    match m {
        Move::Renew(i) | Move::HandOver(i) | Move::Take(i) | Move::AskFor(i) => *i,
    }
}

/// Whether a Lease of another shard count, or the single leader Lease, is valid.
async fn blocked(api: &Api<Lease>, cfg: &ShardConfig, now: Timestamp) -> kube::Result<bool> {
    let me = cfg.lease.identity.as_str();
    let leader = api.get_opt(&cfg.lease.lease_name).await?;
    if leader
        .as_ref()
        .is_some_and(|l| valid(l.spec.as_ref(), now) && holder(l) != Some(me))
    {
        return Ok(true);
    }
    let group = api
        .list(&ListParams::default().labels(&format!("{GROUP_LABEL}={}", cfg.lease.lease_name)))
        .await?;
    let count = cfg.count.to_string();
    Ok(group.items.iter().any(|l| {
        let theirs = l
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(COUNT_ANNOTATION));
        theirs.is_some_and(|c| *c != count) && valid(l.spec.as_ref(), now) && holder(l) != Some(me)
    }))
}

fn holder(l: &Lease) -> Option<&str> {
    l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
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
    let me = cfg.lease.identity.clone();
    let mut lease = current.unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(cfg.lease_name(i)),
            namespace: Some(cfg.lease.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let exists = lease.metadata.resource_version.is_some();
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
    match how {
        Write::Renew => {
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(lease_seconds(cfg));
        }
        Write::Take => {
            let transition = spec.holder_identity.as_deref().is_some_and(|h| h != me);
            spec.holder_identity = Some(me.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(lease_seconds(cfg));
            if transition {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            annotations.insert(COUNT_ANNOTATION.to_string(), cfg.count.to_string());
            annotations.remove(PREFERRED_ANNOTATION);
        }
        Write::Ask => {
            annotations.insert(PREFERRED_ANNOTATION.to_string(), me.clone());
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
    let result = if exists {
        api.replace(&cfg.lease_name(i), &PostParams::default(), &lease)
            .await
            .map(|_| ())
    } else {
        api.create(&PostParams::default(), &lease).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

fn lease_seconds(cfg: &ShardConfig) -> i32 {
    i32::try_from(cfg.lease.lease_duration.as_secs()).unwrap_or(15)
}

/// Gives shard `i` up on shutdown, if still ours.
async fn release(api: &Api<Lease>, cfg: &ShardConfig, i: u32) {
    let Ok(Some(lease)) = api.get_opt(&cfg.lease_name(i)).await else {
        return;
    };
    if holder(&lease) != Some(cfg.lease.identity.as_str()) {
        return;
    }
    match write(api, cfg, i, Some(lease), Write::Release, Timestamp::now()).await {
        Ok(true) => info!(shard = i, "released the shard"),
        Ok(false) | Err(_) => {
            warn!(shard = i, "failed to release the shard; it is taken over once it expires")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(index: u32, holder: Option<&str>, valid: bool, preferred: Option<&str>) -> Seen {
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

    #[test]
    fn a_lone_replica_takes_one_shard_per_round_until_it_holds_all() {
        let mut state = vec![
            seen(0, None, false, None),
            seen(1, None, false, None),
            seen(2, None, false, None),
        ];
        for round in 0..3 {
            let moves = plan("a", 3, &state, false);
            let t = takes(&moves);
            assert_eq!(t.len(), 1, "round {round}: {moves:?}");
            state[t[0] as usize] = seen(t[0], Some("a"), true, None);
        }
        let moves = plan("a", 3, &state, false);
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| matches!(m, Move::Renew(_))));
    }

    #[test]
    fn three_replicas_end_with_one_shard_each() {
        let state = vec![
            seen(0, Some("a"), true, None),
            seen(1, Some("b"), true, None),
            seen(2, None, false, None),
        ];
        // c (not visible to the others yet) takes the free one; a, seeing two replicas,
        // races it for it (share 2) — the Lease write lets one win, and a hand-over evens
        // it out if a wins.
        assert_eq!(takes(&plan("c", 3, &state, false)), vec![2]);
        assert_eq!(takes(&plan("a", 3, &state, false)), vec![2]);
        let settled = vec![
            seen(0, Some("a"), true, None),
            seen(1, Some("b"), true, None),
            seen(2, Some("c"), true, None),
        ];
        for me in ["a", "b", "c"] {
            let moves = plan(me, 3, &settled, false);
            assert_eq!(moves.len(), 1, "{me}: {moves:?}");
            assert!(matches!(moves[0], Move::Renew(_)));
        }
    }

    #[test]
    fn a_killed_replicas_shard_is_taken_once_its_lease_expired() {
        // c died: its lease is no longer valid. a and b (share ceil(3/2) = 2) both try; the
        // Lease write's resourceVersion lets one win.
        let state = vec![
            seen(0, Some("a"), true, None),
            seen(1, Some("b"), true, None),
            seen(2, Some("c"), false, None),
        ];
        assert_eq!(takes(&plan("a", 3, &state, false)), vec![2]);
        assert_eq!(takes(&plan("b", 3, &state, false)), vec![2]);
        // While it is valid, nobody takes it.
        let alive = vec![
            seen(0, Some("a"), true, None),
            seen(1, Some("b"), true, None),
            seen(2, Some("c"), true, None),
        ];
        assert!(takes(&plan("a", 3, &alive, false)).is_empty());
    }

    #[test]
    fn a_newcomer_asks_the_richest_and_the_holder_hands_over() {
        let state = vec![
            seen(0, Some("a"), true, None),
            seen(1, Some("a"), true, None),
            seen(2, Some("b"), true, None),
        ];
        // c holds nothing, nothing is free; a holds 2 > ceil(3/3): c asks for one of a's.
        assert_eq!(plan("c", 3, &state, false), vec![Move::AskFor(0)]);
        let asked = vec![
            seen(0, Some("a"), true, Some("c")),
            seen(1, Some("a"), true, None),
            seen(2, Some("b"), true, None),
        ];
        assert_eq!(plan("c", 3, &asked, false), vec![], "asked once; waits");
        assert_eq!(
            plan("a", 3, &asked, false),
            vec![Move::HandOver(0), Move::Renew(1)]
        );
        // Released (just now): c takes the one it asked for; a and b leave it to c.
        let mut released = vec![
            seen(0, None, false, Some("c")),
            seen(1, Some("a"), true, None),
            seen(2, Some("b"), true, None),
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
    fn another_shard_count_blocks_taking_but_not_renewing() {
        let state = vec![seen(0, Some("a"), true, None), seen(1, None, false, None)];
        assert_eq!(plan("a", 2, &state, true), vec![Move::Renew(0)]);
    }

    #[test]
    fn validity_needs_a_holder_and_a_recent_renewal() {
        let t = |s: i64| Timestamp::from_second(s).expect("ts");
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(t(100))),
            ..LeaseSpec::default()
        };
        assert!(valid(Some(&spec), t(110)));
        assert!(!valid(Some(&spec), t(116)));
        let released = LeaseSpec {
            holder_identity: None,
            ..spec.clone()
        };
        assert!(!valid(Some(&released), t(101)));
        assert!(!valid(None, t(0)));
    }
}
