//! Client-side token buckets mirroring ARM's (per subscription × operation class), so azop
//! slows itself down before ARM has to. They are the one gate of a subscription: every
//! object, every controller and every pass of this process goes through the same three
//! buckets, and a 429 pauses the class for all of them, not only for the object that got it.
//!
//! How the mirror stays honest:
//! - **Requests in flight count.** ARM's `x-ms-ratelimit-remaining-*` header says what was
//!   left when ARM answered *this* request; requests admitted since and not yet answered
//!   (up to 8 per pass, several passes at once) will take from that too. The estimate
//!   becomes `remaining − others in flight`, never just `remaining`: overwriting it let a
//!   burst through that ARM then refused with 429s.
//! - **A restart starts empty.** A new process cannot know what ARM's bucket holds (a
//!   restart during a busy hour finds it drained), so a bucket starts with no tokens and
//!   refills at ARM's rate; the first answer's remaining count replaces the guess. Starting
//!   full sent a whole bucket's worth at once into an empty ARM bucket.
//! - **Replicas split the budget.** With `azop run --shards N`, every replica has its own
//!   gate against the same ARM buckets. A replica holding k of the N shards spends k/N of
//!   each class ([`BudgetShare`]): of the refill, of the bucket's size, and of ARM's
//!   remaining count when it corrects its estimate (that count is the whole
//!   subscription's). The share follows the shards held: a takeover raises it at once, a
//!   loss lowers it and cuts a bucket above the new size. Without the split each replica
//!   spent what it believed was the whole bucket and three replicas drew thousands of 429s;
//!   with the split alone, a few hundred, until a split gate also left some slack in ARM's
//!   bucket for the others ([`remaining_estimate`], [`SPLIT_SLACK`]).
//! - **429 pauses the class** for its Retry-After (ARM refuses anything sent earlier and
//!   says so again) and empties it; a warning is logged once per throttling episode, so
//!   the default log level tells the user the subscription is throttled.
//!
//! Policy when a bucket is empty or paused: the caller gets the wait. The HTTP layer waits
//! out short pauses (up to `ProviderConfig::max_throttle_wait`, default 5 s) so a burst of
//! reconciles is smoothed without failing; longer ones return [`crate::AzureError::Throttled`]
//! without sending anything, and the controller requeues after `retry_after`. Blocking a
//! worker for a 5-minute ARM pause would starve every other object of that controller, while
//! failing on every 100 ms gap would turn smoothing into error churn.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// ARM's operation classes; each has its own bucket and its own remaining-count header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Read,
    Write,
    Delete,
}

impl OpClass {
    pub fn from_method(method: &str) -> OpClass {
        match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" | "OPTIONS" => OpClass::Read,
            "DELETE" => OpClass::Delete,
            // PUT, PATCH and POST (listKeys, actions) count as writes at ARM.
            _ => OpClass::Write,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpClass::Read => "reads",
            OpClass::Write => "writes",
            OpClass::Delete => "deletes",
        }
    }

    /// The `x-ms-ratelimit-remaining-subscription-*` header for this class.
    pub fn remaining_header(self) -> &'static str {
        match self {
            OpClass::Read => "x-ms-ratelimit-remaining-subscription-reads",
            OpClass::Write => "x-ms-ratelimit-remaining-subscription-writes",
            OpClass::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// Size and refill rate of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSize {
    pub capacity: f64,
    pub refill_per_sec: f64,
}

impl BucketSize {
    /// This bucket's part for a gate spending `fraction` of it (0 < fraction ≤ 1). Pure.
    pub fn share(self, fraction: f64) -> BucketSize {
        BucketSize {
            capacity: self.capacity * fraction,
            refill_per_sec: self.refill_per_sec * fraction,
        }
    }
}

/// The part of each subscription's ARM budget this process spends: k of the N shards it
/// holds (`azop run --shards N`), or all of it (one replica, or the single leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetShare {
    held: u32,
    of: u32,
}

impl Default for BudgetShare {
    fn default() -> Self {
        BudgetShare::WHOLE
    }
}

impl BudgetShare {
    /// Everything: one replica (or the single leader) is azop's only client of ARM.
    pub const WHOLE: BudgetShare = BudgetShare { held: 1, of: 1 };

    /// `held` shards of `count`. More held than exist (never, in practice) counts as all;
    /// a count of 0 as 1. Pure.
    pub fn of_shards(held: usize, count: u32) -> BudgetShare {
        let of = count.max(1);
        let held = u32::try_from(held).unwrap_or(u32::MAX).min(of);
        BudgetShare { held, of }
    }

    pub fn held(self) -> u32 {
        self.held
    }

    pub fn of(self) -> u32 {
        self.of
    }

    /// k/N: the part of the budget this replica's shards are entitled to (0 while it holds
    /// none). What `/metrics` exports.
    pub fn fraction(self) -> f64 {
        f64::from(self.held) / f64::from(self.of)
    }

    /// The part the gate paces at: k/N, but never below one shard's (1/N). A replica
    /// holding nothing reconciles nothing and so sends nothing; whatever it still sends
    /// (a call already past the shard gate as the shard is lost) must not meet a bucket
    /// that never refills — an empty refill would make every wait infinite. Pure.
    pub fn pacing(self) -> f64 {
        f64::from(self.held.max(1)) / f64::from(self.of)
    }
}

/// ARM's published sizes (since 2024): reads 250 refilling 25/s, writes and deletes 200
/// refilling 10/s, per subscription, principal and region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleLimits {
    pub reads: BucketSize,
    pub writes: BucketSize,
    pub deletes: BucketSize,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            reads: BucketSize {
                capacity: 250.0,
                refill_per_sec: 25.0,
            },
            writes: BucketSize {
                capacity: 200.0,
                refill_per_sec: 10.0,
            },
            deletes: BucketSize {
                capacity: 200.0,
                refill_per_sec: 10.0,
            },
        }
    }
}

impl ThrottleLimits {
    /// These buckets with every refill rate multiplied by `factor` (their sizes unchanged):
    /// a subscription whose limits were raised, or a simulator run faster than ARM for a
    /// benchmark (every figure measured against the budget keeps its ratio).
    pub fn refill_scaled(self, factor: f64) -> Self {
        let scale = |b: BucketSize| BucketSize {
            refill_per_sec: b.refill_per_sec * factor,
            ..b
        };
        ThrottleLimits {
            reads: scale(self.reads),
            writes: scale(self.writes),
            deletes: scale(self.deletes),
        }
    }

    fn size(&self, class: OpClass) -> BucketSize {
        match class {
            OpClass::Read => self.reads,
            OpClass::Write => self.writes,
            OpClass::Delete => self.deletes,
        }
    }
}

/// Time source, replaceable in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct FakeClock {
    base: Instant,
    offset: Mutex<Duration>,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock {
            base: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }
}

impl FakeClock {
    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock()
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
    /// The turn of the last reservation that had to wait: the next one that has to wait
    /// goes after it ([`Throttle::reserve`]).
    tail: Option<Instant>,
    /// Admitted and not answered yet.
    in_flight: u32,
    /// When the current throttling episode was last reported (a 429 within
    /// [`EPISODE`] of it is the same episode).
    warned_at: Option<Instant>,
}

/// 429s closer together than this are one throttling episode: one warning.
const EPISODE: Duration = Duration::from_secs(60);

impl Bucket {
    /// Adds what `size` refilled since the last look (a bucket in debt climbs back first).
    fn refill(&mut self, size: BucketSize, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * size.refill_per_sec).min(size.capacity);
        self.last = now;
    }
}

/// A bucket's size at the share in effect, and that share (its pacing fraction).
#[derive(Debug, Clone, Copy)]
struct Sizing {
    size: BucketSize,
    share: f64,
}

/// Every bucket of the process, and the share of ARM's they are sized by.
#[derive(Debug, Default)]
struct Buckets {
    share: BudgetShare,
    by_key: HashMap<(String, OpClass), Bucket>,
}

/// A snapshot for metrics and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketState {
    pub tokens: f64,
    pub paused_for: Option<Duration>,
    pub in_flight: u32,
}

/// What a 429 did to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// The first 429 of an episode: worth a warning.
    NewEpisode,
    /// Another 429 of the episode already reported.
    Again,
}

/// A request the gate let through. Drop it when the request is answered or failed: it stops
/// counting as in flight then. [`Admitted::answered`] first when ARM sent its remaining count.
#[derive(Debug)]
pub struct Admitted {
    throttle: Throttle,
    subscription: String,
    class: OpClass,
}

impl Admitted {
    /// ARM answered and said how many requests of the class it still allows.
    pub fn answered(&self, remaining: u64) {
        self.throttle
            .observe_remaining(&self.subscription, self.class, remaining);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.throttle
            .with_bucket(&self.subscription, self.class, |b, _, _| {
                b.in_flight = b.in_flight.saturating_sub(1);
            });
    }
}

/// The buckets of every subscription this operator talks to.
#[derive(Debug, Clone)]
pub struct Throttle {
    clock: Arc<dyn Clock>,
    limits: ThrottleLimits,
    buckets: Arc<Mutex<Buckets>>,
}

impl Throttle {
    pub fn new(limits: ThrottleLimits, clock: Arc<dyn Clock>) -> Self {
        Throttle {
            clock,
            limits,
            buckets: Arc::new(Mutex::new(Buckets::default())),
        }
    }

    /// The share of ARM's budget this gate spends now.
    pub fn share(&self) -> BudgetShare {
        self.buckets.lock().share
    }

    /// Spend `share` of every subscription's budget from now on. Time until now refills at
    /// the old share; a bucket above its new size is cut to it (a debt is kept: those
    /// requests are already admitted). Returns the share it replaces.
    pub fn set_share(&self, share: BudgetShare) -> BudgetShare {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock();
        let old = buckets.share;
        if old == share {
            return old;
        }
        for ((_, class), bucket) in &mut buckets.by_key {
            bucket.refill(self.limits.size(*class).share(old.pacing()), now);
            bucket.tokens = bucket
                .tokens
                .min(self.limits.size(*class).share(share.pacing()).capacity);
        }
        buckets.share = share;
        old
    }

    fn with_bucket<T>(
        &self,
        subscription: &str,
        class: OpClass,
        f: impl FnOnce(&mut Bucket, Sizing, Instant) -> T,
    ) -> T {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock();
        let share = buckets.share.pacing();
        let size = self.limits.size(class).share(share);
        let bucket = buckets
            .by_key
            .entry((subscription.to_ascii_lowercase(), class))
            // Empty until ARM says otherwise: see the module docs.
            .or_insert_with(|| Bucket {
                tokens: 0.0,
                last: now,
                paused_until: None,
                tail: None,
                in_flight: 0,
                warned_at: None,
            });
        bucket.refill(size, now);
        f(bucket, Sizing { size, share }, now)
    }

    /// Take one token, or say how long until one is available. Nothing is taken on `Err`.
    /// The request counts as in flight until the [`Admitted`] is dropped.
    pub fn try_acquire(&self, subscription: &str, class: OpClass) -> Result<Admitted, Duration> {
        self.with_bucket(subscription, class, |b, sized, now| {
            if let Some(until) = b.paused_until {
                if until > now {
                    return Err(until - now);
                }
                b.paused_until = None;
            }
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                b.in_flight += 1;
                Ok(())
            } else {
                Err(until_token(b.tokens, sized.size))
            }
        })?;
        Ok(Admitted {
            throttle: self.clone(),
            subscription: subscription.to_owned(),
            class,
        })
    }

    /// Reserve the next token of the class, in arrival order: `Ok(wait)` — the request goes
    /// out once `wait` has passed (zero: now), and counts as in flight from now on (its token
    /// is taken, so the next caller's reservation comes after it); `Err(wait)` — nothing is
    /// taken, the earliest the request could go is beyond `max_wait`. Requests queued for
    /// the budget so go in the order they asked, each sleeping exactly its turn: without
    /// order, waiters woke together every refill and the unlucky ones lost to newer requests
    /// until they gave up.
    ///
    /// A reservation that has to wait also goes one token after the last one queued
    /// ([`after_tail`]): the queue was paced at the share in effect when it was made, and
    /// a share raised since (a shard taken over mid-wave) — or ARM's remaining count, which
    /// resets the tokens from what is in flight — would otherwise pace new reservations
    /// beside it at the new rate: the successor of a killed replica then sent above its
    /// share until its old queue ran out, and drew 429s.
    pub fn reserve(
        &self,
        subscription: &str,
        class: OpClass,
        max_wait: Duration,
    ) -> Result<(Admitted, Duration), Duration> {
        let wait = self.with_bucket(subscription, class, |b, sized, now| {
            let paused = match b.paused_until {
                Some(until) if until > now => until - now,
                Some(_) => {
                    b.paused_until = None;
                    Duration::ZERO
                }
                None => Duration::ZERO,
            };
            let for_token = until_token(b.tokens, sized.size);
            let mut wait = paused.max(for_token);
            if !for_token.is_zero() {
                wait = wait.max(after_tail(b.tail, sized.size, now));
            }
            if wait > max_wait {
                return Err(wait);
            }
            b.tokens -= 1.0;
            b.in_flight += 1;
            if !for_token.is_zero() {
                let turn = now + wait;
                b.tail = Some(b.tail.map_or(turn, |t| t.max(turn)));
            }
            Ok(wait)
        })?;
        Ok((
            Admitted {
                throttle: self.clone(),
                subscription: subscription.to_owned(),
                class,
            },
            wait,
        ))
    }

    /// ARM said how many requests of the class it still allows after answering one of ours.
    /// It knows about every client of the principal, so its count (our share of it)
    /// replaces our estimate — less the others of ours still in flight, which ARM may not
    /// have counted yet. Called while the answered request still counts as in flight (its
    /// [`Admitted`] not dropped).
    pub fn observe_remaining(&self, subscription: &str, class: OpClass, remaining: u64) {
        self.with_bucket(subscription, class, |b, sized, _| {
            b.tokens = remaining_estimate(remaining, sized.share, b.in_flight, sized.size.capacity);
        });
    }

    /// A 429: nothing goes out for this class until `retry_after` has passed, and the bucket
    /// is empty (ARM's is). Says whether this starts a throttling episode (worth a warning).
    pub fn pause(&self, subscription: &str, class: OpClass, retry_after: Duration) -> Paused {
        self.with_bucket(subscription, class, |b, _, now| {
            let until = now + retry_after;
            b.paused_until = Some(b.paused_until.map_or(until, |u| u.max(until)));
            b.tokens = 0.0;
            // While 429s keep coming, one warning a minute.
            let fresh = b
                .warned_at
                .is_none_or(|w| now.saturating_duration_since(w) >= EPISODE);
            if fresh {
                b.warned_at = Some(now);
                Paused::NewEpisode
            } else {
                Paused::Again
            }
        })
    }

    pub fn state(&self, subscription: &str, class: OpClass) -> BucketState {
        self.with_bucket(subscription, class, |b, _, now| BucketState {
            tokens: b.tokens,
            paused_for: b.paused_until.filter(|u| *u > now).map(|u| u - now),
            in_flight: b.in_flight,
        })
    }
}

/// How long until a bucket holding `tokens` (below zero: a debt) has one, refilling as
/// `size` does. Zero when it has one now; capped at a day — never an infinite or
/// unrepresentable wait, whatever the refill. Pure.
pub fn until_token(tokens: f64, size: BucketSize) -> Duration {
    if tokens >= 1.0 {
        return Duration::ZERO;
    }
    let secs = (1.0 - tokens) / size.refill_per_sec;
    if secs.is_finite() && secs >= 0.0 {
        Duration::from_secs_f64(secs.min(MAX_WAIT_SECS))
    } else {
        Duration::from_secs_f64(MAX_WAIT_SECS)
    }
}

/// How long from `now` until one token's time (at `size`'s refill) after `tail`, the turn
/// of the last reservation queued: zero without one, or when that is past. Pure.
pub fn after_tail(tail: Option<Instant>, size: BucketSize, now: Instant) -> Duration {
    let Some(tail) = tail else {
        return Duration::ZERO;
    };
    let one = until_token(0.0, size);
    (tail + one).saturating_duration_since(now)
}

/// Longest wait [`until_token`] says (a day): only reached with a refill of nothing.
const MAX_WAIT_SECS: f64 = 86_400.0;

/// Tokens to assume after ARM said `remaining` — the whole subscription's count, of which
/// this gate may spend `share` (of a bucket of `capacity` at that share) — with `in_flight`
/// of ours admitted and not answered (the answered one included; reserved ones waiting for
/// their turn count too). Below zero when more of ours are admitted than our part of what
/// ARM has left: the debt the reserved ones hold, which the next reservation waits behind.
///
/// A gate with part of the budget also leaves [`SPLIT_SLACK`] of ARM's bucket, times the
/// others' part, to the other replicas: they spend on estimates from their own last
/// answers, which this one cannot see, and with every gate pacing at its share ARM's
/// bucket otherwise sits at zero, where any two of them colliding draw a 429 (and ARM then
/// refuses the whole principal until its Retry-After). The slack keeps ARM's bucket that
/// far above empty; the rate spent is the same. A gate with the whole budget keeps none.
/// Pure.
pub fn remaining_estimate(remaining: u64, share: f64, in_flight: u32, capacity: f64) -> f64 {
    let others = f64::from(in_flight.saturating_sub(1));
    let whole = if share > 0.0 { capacity / share } else { 0.0 };
    let slack = (1.0 - share).max(0.0) * whole * SPLIT_SLACK;
    (remaining as f64 * share - others - slack).min(capacity)
}

/// Part of ARM's bucket a gate with part of the budget leaves unspent, times the other
/// replicas' part (see [`remaining_estimate`]): 5 % — 10 of the 200 writes, 12.5 of the 250
/// reads, two thirds of that for a third of the shards.
pub const SPLIT_SLACK: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> (Throttle, Arc<FakeClock>) {
        let clock = Arc::new(FakeClock::default());
        (
            Throttle::new(ThrottleLimits::default(), clock.clone()),
            clock,
        )
    }

    /// A bucket as full as ARM says it is.
    fn told(t: &Throttle, sub: &str, class: OpClass, remaining: u64) {
        t.observe_remaining(sub, class, remaining);
    }

    #[test]
    fn a_new_bucket_starts_empty_and_refills_at_arms_rate() {
        let (t, clock) = throttle();
        let wait = t
            .try_acquire("s", OpClass::Write)
            .expect_err("empty at start");
        assert_eq!(wait, Duration::from_millis(100), "10 writes a second");
        clock.advance(Duration::from_secs(1));
        for _ in 0..10 {
            drop(t.try_acquire("s", OpClass::Write).expect("refilled"));
        }
        assert!(t.try_acquire("s", OpClass::Write).is_err());
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            t.state("s", OpClass::Write).tokens,
            200.0,
            "capped at capacity"
        );
    }

    #[test]
    fn writes_bucket_holds_200_and_refills_10_per_second() {
        let (t, clock) = throttle();
        told(&t, "s", OpClass::Write, 200);
        for _ in 0..200 {
            drop(t.try_acquire("s", OpClass::Write).expect("token"));
        }
        let wait = t.try_acquire("s", OpClass::Write).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(100));
        clock.advance(Duration::from_millis(100));
        drop(t.try_acquire("s", OpClass::Write).expect("refilled one"));
        // Reads and other subscriptions are separate buckets.
        told(&t, "s", OpClass::Read, 250);
        drop(t.try_acquire("s", OpClass::Read).expect("reads untouched"));
        told(&t, "other", OpClass::Write, 200);
        drop(
            t.try_acquire("other", OpClass::Write)
                .expect("other sub untouched"),
        );
    }

    #[test]
    fn scaled_limits_refill_faster_and_keep_their_sizes() {
        let t = ThrottleLimits::default().refill_scaled(4.0);
        assert_eq!(t.reads.refill_per_sec, 100.0);
        assert_eq!(t.writes.refill_per_sec, 40.0);
        assert_eq!(t.deletes.refill_per_sec, 40.0);
        assert_eq!(t.reads.capacity, 250.0);
        assert_eq!(t.writes.capacity, 200.0);
    }

    #[test]
    fn reads_bucket_is_250_refilling_25_per_second() {
        let (t, clock) = throttle();
        told(&t, "s", OpClass::Read, 250);
        for _ in 0..250 {
            drop(t.try_acquire("s", OpClass::Read).expect("token"));
        }
        assert_eq!(
            t.try_acquire("s", OpClass::Read).map(drop),
            Err(Duration::from_millis(40))
        );
        clock.advance(Duration::from_secs(1));
        for _ in 0..25 {
            drop(t.try_acquire("s", OpClass::Read).expect("token"));
        }
        assert!(t.try_acquire("s", OpClass::Read).is_err());
    }

    #[test]
    fn the_remaining_count_less_what_is_in_flight_becomes_the_estimate() {
        let (t, _) = throttle();
        told(&t, "s", OpClass::Delete, 20);
        // Ten requests go out; ARM answers the first with 19 left: the nine others are
        // still on their way and will take from those 19.
        let admitted: Vec<Admitted> = (0..10)
            .map(|_| t.try_acquire("s", OpClass::Delete).expect("token"))
            .collect();
        assert_eq!(t.state("s", OpClass::Delete).in_flight, 10);
        admitted[0].answered(19);
        assert_eq!(t.state("s", OpClass::Delete).tokens, 10.0);
        drop(admitted);
        assert_eq!(t.state("s", OpClass::Delete).in_flight, 0);
        // ARM knows best when it has more than we thought, and when it has less (another
        // client of the principal).
        told(&t, "s", OpClass::Delete, 10_000);
        assert_eq!(t.state("s", OpClass::Delete).tokens, 200.0);
        told(&t, "s", OpClass::Delete, 2);
        drop(t.try_acquire("s", OpClass::Delete).expect("1"));
        drop(t.try_acquire("s", OpClass::Delete).expect("2"));
        assert!(t.try_acquire("s", OpClass::Delete).is_err());
    }

    #[test]
    fn reservations_go_in_arrival_order_each_at_its_turn() {
        let (t, clock) = throttle();
        told(&t, "s", OpClass::Read, 2);
        let max = Duration::from_secs(5);
        let turns: Vec<Duration> = (0..5)
            .map(|_| {
                let (admitted, wait) = t.reserve("s", OpClass::Read, max).expect("reserved");
                std::mem::forget(admitted);
                wait
            })
            .collect();
        // Two tokens now, then one every 40 ms, in the order asked.
        let ms = Duration::from_millis;
        assert_eq!(turns, vec![ms(0), ms(0), ms(40), ms(80), ms(120)]);
        // Nobody jumps the queue: a try now finds no token.
        assert!(t.try_acquire("s", OpClass::Read).is_err());
        // Beyond the longest wait: refused, and nothing is taken.
        let far = t
            .reserve("s", OpClass::Read, ms(100))
            .map(|(_, w)| w)
            .expect_err("beyond 100 ms");
        assert_eq!(far, ms(160));
        clock.advance(ms(160));
        let (_a, wait) = t.reserve("s", OpClass::Read, ms(100)).expect("its turn");
        assert_eq!(wait, Duration::ZERO);
        // A pause holds reservations too.
        t.pause("s", OpClass::Write, Duration::from_secs(2));
        let err = t
            .reserve("s", OpClass::Write, Duration::from_secs(1))
            .map(|(_, w)| w)
            .expect_err("paused");
        assert_eq!(err, Duration::from_secs(2));
    }

    #[test]
    fn the_estimate_goes_below_zero_only_by_what_is_admitted_and_never_above_capacity() {
        assert_eq!(remaining_estimate(5, 1.0, 32, 250.0), -26.0);
        assert_eq!(remaining_estimate(5, 1.0, 1, 250.0), 5.0);
        assert_eq!(remaining_estimate(12_000, 1.0, 3, 250.0), 250.0);
        assert_eq!(remaining_estimate(7, 1.0, 0, 250.0), 7.0);
    }

    #[test]
    fn a_replicas_share_is_its_shards_of_all_and_never_paces_at_zero() {
        let third = BudgetShare::of_shards(1, 3);
        assert_eq!((third.held(), third.of()), (1, 3));
        assert!((third.fraction() - 1.0 / 3.0).abs() < 1e-12);
        assert!((BudgetShare::of_shards(2, 3).fraction() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(BudgetShare::of_shards(3, 3).fraction(), 1.0);
        assert_eq!(BudgetShare::WHOLE.fraction(), 1.0);
        assert_eq!(BudgetShare::default(), BudgetShare::WHOLE);
        // Holding nothing: entitled to nothing, but paced at one shard's part, not at a
        // refill of zero.
        let none = BudgetShare::of_shards(0, 4);
        assert_eq!(none.fraction(), 0.0);
        assert_eq!(none.pacing(), 0.25);
        // Nonsense in, something sane out.
        assert_eq!(BudgetShare::of_shards(9, 3).fraction(), 1.0);
        assert_eq!(BudgetShare::of_shards(0, 0).pacing(), 1.0);
    }

    #[test]
    fn a_share_scales_the_size_the_refill_and_arms_remaining_count() {
        let writes = ThrottleLimits::default().writes.share(1.0 / 4.0);
        assert_eq!(writes.capacity, 50.0);
        assert_eq!(writes.refill_per_sec, 2.5);
        // ARM's count is the whole subscription's: a quarter of 100 is ours, less our
        // others in flight, less the slack left to the other three quarters (3/4 of 5 %
        // of 200 = 7.5); never above our part of the bucket.
        assert_eq!(remaining_estimate(100, 0.25, 1, 50.0), 17.5);
        assert_eq!(remaining_estimate(100, 0.25, 6, 50.0), 12.5);
        assert_eq!(remaining_estimate(10_000, 0.25, 1, 50.0), 50.0);
        // The whole budget leaves no slack.
        assert_eq!(remaining_estimate(100, 1.0, 1, 200.0), 100.0);
    }

    #[test]
    fn a_wait_is_never_infinite() {
        let nothing = BucketSize {
            capacity: 0.0,
            refill_per_sec: 0.0,
        };
        assert_eq!(until_token(0.0, nothing), Duration::from_secs(86_400));
        assert_eq!(until_token(1.0, nothing), Duration::ZERO);
        let writes = ThrottleLimits::default().writes;
        assert_eq!(until_token(-4.0, writes), Duration::from_millis(500));
    }

    #[test]
    fn a_gate_of_one_third_spends_a_third_of_each_class() {
        let (t, clock) = throttle();
        assert_eq!(
            t.set_share(BudgetShare::of_shards(1, 3)),
            BudgetShare::WHOLE
        );
        // ARM has its whole bucket: a third of it is ours, less the slack left to the
        // others (two thirds of 5 % of 250).
        told(&t, "s", OpClass::Read, 250);
        let ours = 250.0 / 3.0 - 2.0 / 3.0 * 12.5;
        assert!((t.state("s", OpClass::Read).tokens - ours).abs() < 1e-9);
        // A third of 10/s: a write every 300 ms.
        let wait = t.try_acquire("s", OpClass::Write).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(300));
        clock.advance(Duration::from_secs(3));
        for _ in 0..10 {
            drop(t.try_acquire("s", OpClass::Write).expect("refilled"));
        }
        assert!(t.try_acquire("s", OpClass::Write).is_err());
        // Capped at a third of the size.
        clock.advance(Duration::from_secs(3600));
        assert!((t.state("s", OpClass::Write).tokens - 200.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_takeover_raises_the_share_at_once_and_a_loss_cuts_the_bucket() {
        let (t, clock) = throttle();
        t.set_share(BudgetShare::of_shards(1, 3));
        told(&t, "s", OpClass::Write, 200);
        let third = 200.0 / 3.0;
        // A third of ARM's 200, less the slack left to the others (2/3 of 10).
        let told_ours = third - 20.0 / 3.0;
        assert!((t.state("s", OpClass::Write).tokens - told_ours).abs() < 1e-9);
        // Empty it, then take a second shard: refills at 2/3 of 10/s from now on, up to
        // 2/3 of the size; the second before the takeover refilled at the old third.
        for _ in 0..59 {
            drop(t.try_acquire("s", OpClass::Write).expect("token"));
        }
        clock.advance(Duration::from_secs(1));
        t.set_share(BudgetShare::of_shards(2, 3));
        let before = t.state("s", OpClass::Write).tokens;
        assert!(
            (before - (told_ours - 59.0 + 10.0 / 3.0)).abs() < 1e-9,
            "{before}"
        );
        clock.advance(Duration::from_secs(1));
        let after = t.state("s", OpClass::Write).tokens;
        assert!((after - before - 20.0 / 3.0).abs() < 1e-9, "{after}");
        clock.advance(Duration::from_secs(3600));
        assert!((t.state("s", OpClass::Write).tokens - 400.0 / 3.0).abs() < 1e-9);
        // Both shards lost but one: the bucket above a third of the size is cut to it.
        t.set_share(BudgetShare::of_shards(1, 3));
        assert!((t.state("s", OpClass::Write).tokens - third).abs() < 1e-9);
        // Every shard lost: paced as one shard, still refilling.
        t.set_share(BudgetShare::of_shards(0, 3));
        assert_eq!(t.share().fraction(), 0.0);
        for _ in 0..66 {
            drop(t.try_acquire("s", OpClass::Write).expect("token"));
        }
        let wait = t.try_acquire("s", OpClass::Write).expect_err("drained");
        assert!(wait <= Duration::from_millis(300), "{wait:?}");
    }

    #[test]
    fn a_share_changed_mid_wait_keeps_the_queue_in_its_turns() {
        let (t, clock) = throttle();
        told(&t, "s", OpClass::Write, 0);
        let max = Duration::from_secs(60);
        let ms = Duration::from_millis;
        // The whole budget: reservations 100 ms apart.
        let (_a, first) = t.reserve("s", OpClass::Write, max).expect("reserved");
        let (_b, second) = t.reserve("s", OpClass::Write, max).expect("reserved");
        assert_eq!((first, second), (ms(100), ms(200)));
        // Half the shards lost while those two wait: they keep their turns (already
        // admitted, counted as in flight), the debt they hold is repaid at the new rate,
        // so the next one waits behind them at 5/s.
        clock.advance(ms(50));
        t.set_share(BudgetShare::of_shards(1, 2));
        let (_c, third) = t.reserve("s", OpClass::Write, max).expect("reserved");
        // Debt after the 50 ms at 10/s: -1.5; one more token at 5/s: 2.5 / 5 = 500 ms.
        assert_eq!(third, ms(500));
        assert_eq!(t.state("s", OpClass::Write).in_flight, 3);
        // Raised again mid-wait: the queue keeps its turns (the third goes out at 550 ms),
        // and whoever asks next goes one token at the new 10/s after the last of them — not
        // at 350 ms, beside them, which would spend more than the share until the queue
        // ran out.
        t.set_share(BudgetShare::WHOLE);
        let (_d, fourth) = t.reserve("s", OpClass::Write, max).expect("reserved");
        assert_eq!(ms(50) + fourth, ms(650));
        // ARM's count resets the tokens from what is in flight, at the new rate: still
        // after the queue.
        t.observe_remaining("s", OpClass::Write, 0);
        let (_e, fifth) = t.reserve("s", OpClass::Write, max).expect("reserved");
        assert_eq!(ms(50) + fifth, ms(750));
        // A token in hand goes at once, whatever is queued (ARM has room for it).
        clock.advance(Duration::from_secs(60));
        let (_f, now) = t.reserve("s", OpClass::Write, max).expect("reserved");
        assert_eq!(now, Duration::ZERO);
    }

    #[test]
    fn a_429_pauses_the_bucket_for_retry_after() {
        let (t, clock) = throttle();
        told(&t, "s", OpClass::Write, 200);
        told(&t, "s", OpClass::Read, 250);
        assert_eq!(
            t.pause("S", OpClass::Write, Duration::from_secs(30)),
            Paused::NewEpisode
        );
        assert_eq!(
            t.try_acquire("s", OpClass::Write).map(drop),
            Err(Duration::from_secs(30)),
            "subscription ids compare case-insensitively"
        );
        clock.advance(Duration::from_secs(29));
        assert_eq!(
            t.try_acquire("s", OpClass::Write).map(drop),
            Err(Duration::from_secs(1))
        );
        clock.advance(Duration::from_secs(1));
        // The pause emptied the bucket; it refilled at 10/s meanwhile.
        drop(t.try_acquire("s", OpClass::Write).expect("pause over"));
        assert_eq!(t.state("s", OpClass::Write).paused_for, None);
        // Reads were never paused.
        drop(t.try_acquire("s", OpClass::Read).expect("reads flow"));
    }

    #[test]
    fn one_warning_per_episode() {
        let (t, clock) = throttle();
        assert_eq!(
            t.pause("s", OpClass::Read, Duration::from_secs(1)),
            Paused::NewEpisode
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            t.pause("s", OpClass::Read, Duration::from_secs(1)),
            Paused::Again
        );
        assert_eq!(
            t.pause("s", OpClass::Write, Duration::from_secs(1)),
            Paused::NewEpisode,
            "another class is another episode"
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            t.pause("s", OpClass::Read, Duration::from_secs(1)),
            Paused::NewEpisode,
            "a minute later: reported again"
        );
    }

    #[test]
    fn a_shorter_second_pause_does_not_shorten_the_first() {
        let (t, _) = throttle();
        t.pause("s", OpClass::Read, Duration::from_secs(60));
        t.pause("s", OpClass::Read, Duration::from_secs(5));
        assert_eq!(
            t.state("s", OpClass::Read).paused_for,
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn method_classes() {
        assert_eq!(OpClass::from_method("GET"), OpClass::Read);
        assert_eq!(OpClass::from_method("put"), OpClass::Write);
        assert_eq!(OpClass::from_method("POST"), OpClass::Write);
        assert_eq!(OpClass::from_method("DELETE"), OpClass::Delete);
    }
}
