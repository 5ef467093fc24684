//! Per-object backoff: how a pass ends, and the requeue that follows.
//!
//! A pass that gets through (observed, acted, reported) resets the object's count; a pass
//! that stops before it could act (a read that fails, a missing reference, credentials that
//! do not work, a static-placement problem) counts as a failure even though it wrote a
//! condition and returned normally. Before the engine, such passes returned `Ok` and the
//! wrapper reset the count on every `Ok`: the backoff never grew, and one cluster whose VNet
//! GET failed with a 500 re-read its whole graph every two seconds, without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::controller::Action;

use super::{RetryClass, delay};

/// How one pass ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PassOutcome {
    /// The pass got through; come back as the action says.
    Done(Action),
    /// Stopped before acting; retry per `retry`, backing off per object, and not before
    /// `floor`.
    Stopped { retry: RetryClass, floor: Duration },
}

impl PassOutcome {
    pub fn stopped(retry: RetryClass) -> Self {
        PassOutcome::Stopped {
            retry,
            floor: Duration::ZERO,
        }
    }

    /// The metrics label of the outcome.
    pub fn label(&self) -> &'static str {
        match self {
            PassOutcome::Done(_) => "ok",
            PassOutcome::Stopped { .. } => "stopped",
        }
    }
}

/// Consecutive stopped passes (and failed reconciles) per object; a pass that gets through
/// resets the count.
#[derive(Default)]
pub struct ObjectBackoff {
    counts: Mutex<HashMap<String, u32>>,
}

impl ObjectBackoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one more failure of `key` and returns the count.
    pub fn failed(&self, key: &str) -> u32 {
        let mut counts = self.lock();
        let n = counts.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    /// How many objects have a count kept (`azop_object_state_entries`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Turns a pass's outcome into the requeue, counting failures of `key`.
    pub fn requeue(&self, key: &str, outcome: PassOutcome) -> Action {
        match outcome {
            PassOutcome::Done(action) => {
                self.succeeded(key);
                action
            }
            // ARM said when (throttled, busy): the subscription's state or another's
            // operation, not this object failing. Its count is left as it was, or a run of
            // throttled passes would turn the next ordinary stop into minutes of backoff.
            PassOutcome::Stopped {
                retry: retry @ RetryClass::After(_),
                floor,
            } => Action::requeue(delay(retry, 1).max(floor)),
            PassOutcome::Stopped { retry, floor } => {
                let n = self.failed(key);
                Action::requeue(delay(retry, n).max(floor))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requeue(a: Action) -> Option<Duration> {
        // `Action` keeps its delay private, but compares: find the delay it was built with.
        (0..=600)
            .map(Duration::from_secs)
            .find(|d| Action::requeue(*d) == a)
    }

    /// The bug this module fixes: stopped passes used to reset the count, so the delay stayed
    /// at its first step forever.
    #[test]
    fn backoff_grows_while_stopped_and_resets_only_on_success() {
        let backoff = ObjectBackoff::default();
        let stopped = || PassOutcome::stopped(RetryClass::Transient);
        let delays: Vec<Option<Duration>> = (0..5)
            .map(|_| requeue(backoff.requeue("ns/c", stopped())))
            .collect();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(delays, vec![secs(2), secs(4), secs(8), secs(16), secs(32)]);
        // Another object is counted apart.
        assert_eq!(requeue(backoff.requeue("ns/other", stopped())), secs(2));
        // A pass that gets through resets it.
        let done = backoff.requeue(
            "ns/c",
            PassOutcome::Done(Action::requeue(Duration::from_secs(300))),
        );
        assert_eq!(requeue(done), secs(300));
        assert_eq!(requeue(backoff.requeue("ns/c", stopped())), secs(2));
    }

    #[test]
    fn passes_stopped_by_throttling_do_not_grow_the_backoff() {
        let backoff = ObjectBackoff::default();
        let throttled = || PassOutcome::stopped(RetryClass::After(Duration::from_secs(3)));
        for _ in 0..10 {
            assert_eq!(
                requeue(backoff.requeue("ns/c", throttled())),
                Some(Duration::from_secs(3)),
                "as ARM said"
            );
        }
        // The next ordinary stop backs off from the start, not from ten failures.
        assert_eq!(
            requeue(backoff.requeue("ns/c", PassOutcome::stopped(RetryClass::Transient))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_floor_bounds_the_first_retries() {
        let backoff = ObjectBackoff::default();
        let v = || PassOutcome::Stopped {
            retry: RetryClass::Transient,
            floor: Duration::from_secs(10),
        };
        let delays: Vec<Option<Duration>> =
            (0..4).map(|_| requeue(backoff.requeue("k", v()))).collect();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(delays, vec![secs(10), secs(10), secs(10), secs(16)]);
    }
}
