//! Token-bucket throttling per subscription × principal × operation class, plus a global
//! per-subscription bucket (ARM's model since 2024; sizes in `ThrottleConfig`).
//!
//! A refusal is a 429 with `Retry-After` in whole seconds, and ARM holds the client to it:
//! "if you send a request before the retry value elapses, your request isn't processed and a
//! new retry value is returned" (Microsoft Learn, "Request limits and throttling"). So a
//! refused (subscription, principal, class) stays refused until its Retry-After has passed,
//! even when the bucket has refilled a token in the meantime, and each early request is told
//! how long is left.

use crate::config::{BucketSize, ThrottleConfig};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    Read,
    Write,
    Delete,
}

impl OpClass {
    pub fn of_method(m: &str) -> Self {
        match m {
            "GET" | "HEAD" | "OPTIONS" => Self::Read,
            "DELETE" => Self::Delete,
            _ => Self::Write,
        }
    }
    pub fn header_word(self) -> &'static str {
        match self {
            Self::Read => "reads",
            Self::Write => "writes",
            Self::Delete => "deletes",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, size: BucketSize, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * size.refill_per_sec).min(size.capacity);
        self.last = now;
    }
}

/// The outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u64,
    pub global_remaining: u64,
    /// When refused: how long until a token is back.
    pub retry_after: Duration,
}

type ClientKey = (String, String, OpClass);

pub struct Throttle {
    cfg: Mutex<ThrottleConfig>,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
    global: Mutex<HashMap<(String, OpClass), Bucket>>,
    /// Until when a refused client is refused again, whatever its bucket holds.
    refused_until: Mutex<HashMap<ClientKey, Instant>>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg: Mutex::new(cfg),
            buckets: Mutex::default(),
            global: Mutex::default(),
            refused_until: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.lock().enabled
    }

    pub fn reset(&self) {
        self.buckets.lock().clear();
        self.global.lock().clear();
        self.refused_until.lock().clear();
    }

    pub fn take(&self, sub: &str, principal: &str, class: OpClass, now: Instant) -> Decision {
        let cfg = self.cfg.lock().clone();
        let size = match class {
            OpClass::Read => cfg.reads,
            OpClass::Write => cfg.writes,
            OpClass::Delete => cfg.deletes,
        };
        let gsize = BucketSize {
            capacity: size.capacity * cfg.global_factor,
            refill_per_sec: size.refill_per_sec * cfg.global_factor,
        };
        let sub = sub.to_ascii_lowercase();
        let client: ClientKey = (sub.clone(), principal.to_string(), class);
        let mut buckets = self.buckets.lock();
        let mut global = self.global.lock();
        let mut refused = self.refused_until.lock();
        let b = buckets.entry(client.clone()).or_insert(Bucket {
            tokens: size.capacity,
            last: now,
        });
        let g = global.entry((sub, class)).or_insert(Bucket {
            tokens: gsize.capacity,
            last: now,
        });
        b.refill(size, now);
        g.refill(gsize, now);
        if let Some(until) = refused.get(&client).copied() {
            if until > now {
                return Decision {
                    allowed: false,
                    remaining: 0,
                    global_remaining: g.tokens as u64,
                    retry_after: whole_seconds(until - now),
                };
            }
            refused.remove(&client);
        }
        if b.tokens >= 1.0 && g.tokens >= 1.0 {
            b.tokens -= 1.0;
            g.tokens -= 1.0;
            return Decision {
                allowed: true,
                remaining: b.tokens as u64,
                global_remaining: g.tokens as u64,
                retry_after: Duration::ZERO,
            };
        }
        let wait = |t: f64, s: BucketSize| {
            if t >= 1.0 || s.refill_per_sec <= 0.0 {
                0.0
            } else {
                (1.0 - t) / s.refill_per_sec
            }
        };
        let secs = wait(b.tokens, size).max(wait(g.tokens, gsize));
        let retry_after = whole_seconds(Duration::from_secs_f64(secs));
        refused.insert(client, now + retry_after);
        Decision {
            allowed: false,
            remaining: b.tokens as u64,
            global_remaining: g.tokens as u64,
            retry_after,
        }
    }
}

/// ARM's Retry-After is whole seconds, at least one.
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64().ceil().max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_refills_and_is_per_principal() {
        let cfg = ThrottleConfig {
            writes: BucketSize {
                capacity: 3.0,
                refill_per_sec: 1.0,
            },
            ..ThrottleConfig::default()
        };
        let t = Throttle::new(cfg);
        let now = Instant::now();
        for left in [2, 1, 0] {
            let d = t.take("s", "a", OpClass::Write, now);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = t.take("s", "a", OpClass::Write, now);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_secs(1));
        assert!(
            t.take("s", "b", OpClass::Write, now).allowed,
            "another principal has its own bucket"
        );
        assert!(
            t.take("s", "a", OpClass::Read, now).allowed,
            "reads are another class"
        );
        assert!(
            t.take("s", "a", OpClass::Write, now + Duration::from_millis(1100))
                .allowed
        );
    }

    #[test]
    fn a_request_before_retry_after_is_refused_again_with_what_is_left() {
        let cfg = ThrottleConfig {
            reads: BucketSize {
                capacity: 1.0,
                refill_per_sec: 25.0,
            },
            ..ThrottleConfig::default()
        };
        let t = Throttle::new(cfg);
        let now = Instant::now();
        assert!(t.take("s", "a", OpClass::Read, now).allowed);
        let d = t.take("s", "a", OpClass::Read, now);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_secs(1), "whole seconds");
        // 200 ms later the bucket has refilled five tokens, but the client was told 1 s.
        let d = t.take("s", "a", OpClass::Read, now + Duration::from_millis(200));
        assert!(!d.allowed, "refused again before Retry-After");
        assert_eq!(d.remaining, 0);
        assert_eq!(
            d.retry_after,
            Duration::from_secs(1),
            "what is left, rounded up"
        );
        assert!(
            t.take("s", "b", OpClass::Read, now + Duration::from_millis(200))
                .allowed,
            "another principal was not refused"
        );
        assert!(
            t.take("s", "a", OpClass::Write, now + Duration::from_millis(200))
                .allowed,
            "nor another class"
        );
        assert!(
            t.take("s", "a", OpClass::Read, now + Duration::from_millis(1000))
                .allowed,
            "served once Retry-After has passed"
        );
    }

    #[test]
    fn global_bucket_limits_all_principals() {
        let cfg = ThrottleConfig {
            deletes: BucketSize {
                capacity: 2.0,
                refill_per_sec: 0.0,
            },
            global_factor: 1.5,
            ..ThrottleConfig::default()
        };
        let t = Throttle::new(cfg);
        let now = Instant::now();
        assert!(t.take("s", "a", OpClass::Delete, now).allowed);
        assert!(t.take("s", "b", OpClass::Delete, now).allowed);
        assert!(t.take("s", "c", OpClass::Delete, now).allowed);
        let d = t.take("s", "d", OpClass::Delete, now);
        assert!(!d.allowed, "the global bucket (capacity 3) is empty: {d:?}");
        assert_eq!(d.global_remaining, 0);
    }
}
