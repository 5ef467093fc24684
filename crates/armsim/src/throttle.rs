//! Token-bucket throttling per subscription × principal × operation class, plus a global
//! per-subscription bucket (ARM's model since 2024; sizes in `ThrottleConfig`).

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

pub struct Throttle {
    cfg: Mutex<ThrottleConfig>,
    buckets: Mutex<HashMap<(String, String, OpClass), Bucket>>,
    global: Mutex<HashMap<(String, OpClass), Bucket>>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg: Mutex::new(cfg),
            buckets: Mutex::default(),
            global: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.lock().enabled
    }

    pub fn reset(&self) {
        self.buckets.lock().clear();
        self.global.lock().clear();
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
        let mut buckets = self.buckets.lock();
        let mut global = self.global.lock();
        let b = buckets
            .entry((sub.clone(), principal.to_string(), class))
            .or_insert(Bucket {
                tokens: size.capacity,
                last: now,
            });
        let g = global.entry((sub, class)).or_insert(Bucket {
            tokens: gsize.capacity,
            last: now,
        });
        b.refill(size, now);
        g.refill(gsize, now);
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
        Decision {
            allowed: false,
            remaining: b.tokens as u64,
            global_remaining: g.tokens as u64,
            retry_after: Duration::from_secs_f64(secs.ceil().max(1.0)),
        }
    }
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
