//! How a pass ends: the requeue, and the per-object failure count behind it.
//!
//! A pass that gets through (observed, acted, reported) resets the object's count; a pass
//! that is blocked before it could act (a read that fails, a missing reference, credentials
//! that do not work, a static-placement problem) counts as a failure even though it wrote a
//! condition and returned normally. Before the engine, such passes returned `Ok` and the
//! wrapper reset the count on every `Ok`: the backoff never grew, and one cluster whose VNet
//! GET failed with a 500 re-read its whole graph every two seconds, without end.

use std::time::Duration;

use kube::runtime::controller::Action;

use crate::backoff::{self, FailureCounter, RetryClass};

/// The outcome of one pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The pass got through; come back as the action says.
    Done(Action),
    /// Stopped before acting; retry per `retry`, backing off per object, and not before
    /// `floor`.
    Blocked { retry: RetryClass, floor: Duration },
}

impl Verdict {
    pub fn blocked(retry: RetryClass) -> Self {
        Verdict::Blocked {
            retry,
            floor: Duration::ZERO,
        }
    }
}

/// Turns a verdict into the requeue, counting failures of `key`.
pub fn settle(failures: &FailureCounter, key: &str, verdict: Verdict) -> Action {
    match verdict {
        Verdict::Done(action) => {
            failures.succeeded(key);
            action
        }
        Verdict::Blocked { retry, floor } => {
            let n = failures.failed(key);
            Action::requeue(backoff::delay(retry, n).max(floor))
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

    /// The bug this module fixes: blocked passes used to reset the count, so the delay stayed
    /// at its first step forever.
    #[test]
    fn backoff_grows_while_blocked_and_resets_only_on_success() {
        let failures = FailureCounter::default();
        let blocked = || Verdict::blocked(RetryClass::Transient);
        let delays: Vec<Option<Duration>> = (0..5)
            .map(|_| requeue(settle(&failures, "ns/c", blocked())))
            .collect();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(delays, vec![secs(2), secs(4), secs(8), secs(16), secs(32)]);
        // Another object is counted apart.
        assert_eq!(requeue(settle(&failures, "ns/other", blocked())), secs(2));
        // A pass that gets through resets it.
        let done = settle(
            &failures,
            "ns/c",
            Verdict::Done(Action::requeue(Duration::from_secs(300))),
        );
        assert_eq!(requeue(done), secs(300));
        assert_eq!(requeue(settle(&failures, "ns/c", blocked())), secs(2));
    }

    #[test]
    fn a_floor_bounds_the_first_retries() {
        let failures = FailureCounter::default();
        let v = || Verdict::Blocked {
            retry: RetryClass::Transient,
            floor: Duration::from_secs(10),
        };
        assert_eq!(
            requeue(settle(&failures, "k", v())),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            requeue(settle(&failures, "k", v())),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            requeue(settle(&failures, "k", v())),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            requeue(settle(&failures, "k", v())),
            Some(Duration::from_secs(16))
        );
    }
}
