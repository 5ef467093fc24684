//! Client-side token buckets mirroring ARM's (per subscription × operation class), so azop
//! slows itself down before ARM has to.
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
    size: BucketSize,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.size.refill_per_sec).min(self.size.capacity);
        self.last = now;
    }
}

/// A snapshot for metrics and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketState {
    pub tokens: f64,
    pub paused_for: Option<Duration>,
}

/// The buckets of every subscription this operator talks to.
#[derive(Debug, Clone)]
pub struct Throttle {
    clock: Arc<dyn Clock>,
    limits: ThrottleLimits,
    buckets: Arc<Mutex<HashMap<(String, OpClass), Bucket>>>,
}

impl Throttle {
    pub fn new(limits: ThrottleLimits, clock: Arc<dyn Clock>) -> Self {
        Throttle {
            clock,
            limits,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn with_bucket<T>(
        &self,
        subscription: &str,
        class: OpClass,
        f: impl FnOnce(&mut Bucket, Instant) -> T,
    ) -> T {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock();
        let size = self.limits.size(class);
        let bucket = buckets
            .entry((subscription.to_ascii_lowercase(), class))
            .or_insert_with(|| Bucket {
                size,
                tokens: size.capacity,
                last: now,
                paused_until: None,
            });
        bucket.refill(now);
        f(bucket, now)
    }

    /// Take one token, or say how long until one is available. Nothing is taken on `Err`.
    pub fn try_acquire(&self, subscription: &str, class: OpClass) -> Result<(), Duration> {
        self.with_bucket(subscription, class, |b, now| {
            if let Some(until) = b.paused_until {
                if until > now {
                    return Err(until - now);
                }
                b.paused_until = None;
            }
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                let missing = 1.0 - b.tokens;
                Err(Duration::from_secs_f64(missing / b.size.refill_per_sec))
            }
        })
    }

    /// ARM told us how many requests it still allows: it knows about other clients sharing
    /// the principal, so its count replaces ours.
    pub fn observe_remaining(&self, subscription: &str, class: OpClass, remaining: u64) {
        self.with_bucket(subscription, class, |b, _| {
            b.tokens = (remaining as f64).min(b.size.capacity);
        });
    }

    /// A 429: nothing goes out for this class until `retry_after` has passed.
    pub fn pause(&self, subscription: &str, class: OpClass, retry_after: Duration) {
        self.with_bucket(subscription, class, |b, now| {
            let until = now + retry_after;
            b.paused_until = Some(b.paused_until.map_or(until, |u| u.max(until)));
            b.tokens = 0.0;
        });
    }

    pub fn state(&self, subscription: &str, class: OpClass) -> BucketState {
        self.with_bucket(subscription, class, |b, now| BucketState {
            tokens: b.tokens,
            paused_for: b.paused_until.filter(|u| *u > now).map(|u| u - now),
        })
    }
}

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

    #[test]
    fn writes_bucket_holds_200_and_refills_10_per_second() {
        let (t, clock) = throttle();
        for _ in 0..200 {
            t.try_acquire("s", OpClass::Write).expect("token");
        }
        let wait = t.try_acquire("s", OpClass::Write).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(100));
        clock.advance(Duration::from_millis(100));
        t.try_acquire("s", OpClass::Write).expect("refilled one");
        // Reads and other subscriptions are separate buckets.
        t.try_acquire("s", OpClass::Read).expect("reads untouched");
        t.try_acquire("other", OpClass::Write)
            .expect("other sub untouched");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            t.state("s", OpClass::Write).tokens,
            200.0,
            "capped at capacity"
        );
    }

    #[test]
    fn reads_bucket_is_250_refilling_25_per_second() {
        let (t, clock) = throttle();
        for _ in 0..250 {
            t.try_acquire("s", OpClass::Read).expect("token");
        }
        assert_eq!(
            t.try_acquire("s", OpClass::Read),
            Err(Duration::from_millis(40))
        );
        clock.advance(Duration::from_secs(1));
        for _ in 0..25 {
            t.try_acquire("s", OpClass::Read).expect("token");
        }
        assert!(t.try_acquire("s", OpClass::Read).is_err());
    }

    #[test]
    fn remaining_header_corrects_the_estimate() {
        let (t, _) = throttle();
        t.observe_remaining("s", OpClass::Delete, 2);
        t.try_acquire("s", OpClass::Delete).expect("1");
        t.try_acquire("s", OpClass::Delete).expect("2");
        assert!(t.try_acquire("s", OpClass::Delete).is_err());
        t.observe_remaining("s", OpClass::Delete, 10_000);
        assert_eq!(t.state("s", OpClass::Delete).tokens, 200.0);
    }

    #[test]
    fn a_429_pauses_the_bucket_for_retry_after() {
        let (t, clock) = throttle();
        t.pause("S", OpClass::Write, Duration::from_secs(30));
        assert_eq!(
            t.try_acquire("s", OpClass::Write),
            Err(Duration::from_secs(30)),
            "subscription ids compare case-insensitively"
        );
        clock.advance(Duration::from_secs(29));
        assert_eq!(
            t.try_acquire("s", OpClass::Write),
            Err(Duration::from_secs(1))
        );
        clock.advance(Duration::from_secs(1));
        // Pause over; tokens refilled 10/s × 1 s since the pause emptied it... at 29 s it had
        // refilled, so a token is available again.
        t.try_acquire("s", OpClass::Write).expect("pause over");
        assert_eq!(t.state("s", OpClass::Write).paused_for, None);
        // Reads were never paused.
        t.try_acquire("s", OpClass::Read).expect("reads flow");
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
