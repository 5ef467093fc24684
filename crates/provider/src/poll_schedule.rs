//! When each long-running operation may be polled next: never sooner than ARM asked.
//!
//! ARM answers a PUT/DELETE that starts an operation, and every poll of it, with a
//! `Retry-After` (10–600 s on real Azure). A reconcile can come back sooner than that for
//! reasons of its own (a write elsewhere in its graph, an event, a shard taken over); without
//! a schedule it would poll every operation it has on record each time, spending the
//! subscription's read budget on answers ARM said were not ready. So the provider keeps, per
//! operation URL, the instant before which a poll is answered locally ("still running, look
//! again in …") without a call. Process memory only: after a restart the first poll goes out
//! at once (the throttle gate, which starts empty, paces it), and sets the schedule again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Entries this far past their instant are dropped (an operation whose object went away is
/// never polled again, and must not stay in memory).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The next allowed poll of each operation, by URL. Shared by every session of a provider.
#[derive(Debug, Default)]
pub struct PollSchedule {
    next: Mutex<HashMap<String, Instant>>,
}

impl PollSchedule {
    /// How long until `url` may be polled at `now`; `None` when it may be polled now.
    pub fn wait(&self, url: &str, now: Instant) -> Option<Duration> {
        self.next
            .lock()
            .get(url)
            .filter(|at| **at > now)
            .map(|at| *at - now)
    }

    /// ARM asked not to poll `url` before `now + retry_after`.
    pub fn set(&self, url: &str, now: Instant, retry_after: Duration) {
        let mut next = self.next.lock();
        next.retain(|_, at| now.saturating_duration_since(*at) < FORGET_AFTER);
        next.insert(url.to_owned(), now + retry_after);
    }

    /// The operation ended: nothing to schedule.
    pub fn done(&self, url: &str) {
        self.next.lock().remove(url);
    }

    pub fn len(&self) -> usize {
        self.next.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_waits_for_retry_after_and_only_its_own() {
        let s = PollSchedule::default();
        let t0 = Instant::now();
        assert_eq!(s.wait("op-1", t0), None, "never answered: poll now");
        s.set("op-1", t0, Duration::from_secs(30));
        assert_eq!(
            s.wait("op-1", t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(s.wait("op-2", t0), None, "another operation is not held");
        assert_eq!(s.wait("op-1", t0 + Duration::from_secs(30)), None);
        s.set(
            "op-1",
            t0 + Duration::from_secs(30),
            Duration::from_secs(15),
        );
        assert_eq!(
            s.wait("op-1", t0 + Duration::from_secs(31)),
            Some(Duration::from_secs(14))
        );
        s.done("op-1");
        assert_eq!(s.wait("op-1", t0 + Duration::from_secs(31)), None);
        assert!(s.is_empty());
    }

    #[test]
    fn abandoned_operations_are_forgotten() {
        let s = PollSchedule::default();
        let t0 = Instant::now();
        s.set("gone", t0, Duration::from_secs(10));
        s.set(
            "live",
            t0 + Duration::from_secs(10) + FORGET_AFTER,
            Duration::from_secs(10),
        );
        assert_eq!(s.len(), 1, "the abandoned entry went when another was set");
    }
}
