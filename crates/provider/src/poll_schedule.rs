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

/// What is known of one operation's polls.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Not to be polled before this.
    at: Instant,
    /// ARM's last Retry-After for it.
    interval: Duration,
    /// A create (ARM answered the PUT 201) followed through its resource
    /// ([`PollSchedule::resource_interval`]).
    create: bool,
}

/// The next allowed poll of each operation, by URL. Shared by every session of a provider.
#[derive(Debug, Default)]
pub struct PollSchedule {
    next: Mutex<HashMap<String, Entry>>,
}

impl PollSchedule {
    /// How long until `url` may be polled at `now`; `None` when it may be polled now.
    pub fn wait(&self, url: &str, now: Instant) -> Option<Duration> {
        self.next
            .lock()
            .get(url)
            .filter(|e| e.at > now)
            .map(|e| e.at - now)
    }

    /// ARM asked not to poll `url` before `now + retry_after`.
    pub fn set(&self, url: &str, now: Instant, retry_after: Duration) {
        let mut next = self.next.lock();
        next.retain(|_, e| now.saturating_duration_since(e.at) < FORGET_AFTER);
        let create = next.get(url).is_some_and(|e| e.create);
        next.insert(
            url.to_owned(),
            Entry {
                at: now + retry_after,
                interval: retry_after,
                create,
            },
        );
    }

    /// The operation at `url` creates its resource (the PUT was answered 201, by this
    /// process): it is followed by reading the resource itself, whose provisioning state ARM
    /// keeps non-terminal until the operation ends — one read that is both the poll and the
    /// result, instead of a poll and then a GET. `interval` applies when ARM gave no
    /// Retry-After.
    pub fn note_create(&self, url: &str, now: Instant, interval: Duration) {
        let mut next = self.next.lock();
        next.entry(url.to_owned())
            .or_insert(Entry {
                at: now,
                interval,
                create: false,
            })
            .create = true;
    }

    /// For an operation followed through its resource ([`PollSchedule::note_create`]): the
    /// interval between reads. `None`: poll the operation itself (an update, or an operation
    /// a previous process started).
    pub fn resource_interval(&self, url: &str) -> Option<Duration> {
        self.next
            .lock()
            .get(url)
            .filter(|e| e.create)
            .map(|e| e.interval)
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
    fn only_creates_are_followed_through_their_resource_at_arms_interval() {
        let s = PollSchedule::default();
        let t0 = Instant::now();
        s.set("update", t0, Duration::from_secs(20));
        assert_eq!(
            s.resource_interval("update"),
            None,
            "an update polls its operation"
        );
        s.set("create", t0, Duration::from_secs(15));
        s.note_create("create", t0, Duration::from_secs(60));
        assert_eq!(
            s.resource_interval("create"),
            Some(Duration::from_secs(15)),
            "ARM's Retry-After, not the default"
        );
        assert_eq!(s.wait("create", t0), Some(Duration::from_secs(15)));
        s.set(
            "create",
            t0 + Duration::from_secs(15),
            Duration::from_secs(10),
        );
        assert_eq!(
            s.resource_interval("create"),
            Some(Duration::from_secs(10)),
            "still a create, at the newest interval"
        );
        // No Retry-After: the default interval, pollable at once.
        s.note_create("bare", t0, Duration::from_secs(60));
        assert_eq!(s.resource_interval("bare"), Some(Duration::from_secs(60)));
        assert_eq!(s.wait("bare", t0), None);
        s.done("create");
        assert_eq!(s.resource_interval("create"), None);
        assert_eq!(s.resource_interval("never-seen"), None);
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
