//! Per-resource retry holds: a resource whose last write failed (refused by ARM, or its
//! operation ended Failed) is not written again before its backoff has passed — whatever
//! woke the reconcile.
//!
//! Why per resource and in the reconcile, not only in the requeue: every status write wakes
//! the controller through its own watch, so a requeue delay alone does not space retries.
//! Without this, a VM whose operation kept failing was PUT again on every pass (about once
//! a second), and the condition only ever showed "in progress": the Azure error was
//! replaced in the same pass by the retry it caused.
//!
//! The hold also keeps the Azure error that caused it, so the condition can show it until
//! the retry, even when a later read shows only `provisioningState: Failed`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::backoff::{RetryClass, delay};

/// What is known about one resource's failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Failures in a row.
    pub failures: u32,
    /// No write before this.
    pub until: Instant,
    /// A retry was let through and has not failed (yet).
    pub retrying: bool,
    /// The Azure error, as the condition should show it.
    pub message: String,
}

/// Where a failure was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A PUT refused, or a failed operation: Azure's code and message are in hand.
    Azure,
    /// Only a read showing `provisioningState: Failed` (the operation that failed is gone).
    ProvisioningState,
}

/// A failure observed now. Pure.
///
/// A failure seen again during a hold (the same failed resource read once more) does not
/// lengthen the hold; a failure after a retry does, per `class`.
pub fn on_failure(
    previous: Option<&Hold>,
    message: &str,
    source: Source,
    class: RetryClass,
    now: Instant,
) -> Hold {
    let keep_message = |p: &Hold| match source {
        Source::Azure => message.to_string(),
        Source::ProvisioningState => p.message.clone(),
    };
    match previous {
        Some(p) if !p.retrying => Hold {
            message: keep_message(p),
            ..p.clone()
        },
        Some(p) => {
            let failures = p.failures.saturating_add(1);
            Hold {
                failures,
                until: now + delay(class, failures),
                retrying: false,
                message: keep_message(p),
            }
        }
        None => Hold {
            failures: 1,
            until: now + delay(class, 1),
            retrying: false,
            message: message.to_string(),
        },
    }
}

/// `None`: a write may go now. `Some(wait)`: held for `wait` more. Pure.
pub fn held_for(hold: Option<&Hold>, now: Instant) -> Option<Duration> {
    let h = hold?;
    if h.retrying || now >= h.until {
        None
    } else {
        Some(h.until - now)
    }
}

/// The holds of every object, keyed `<object uid>/<graph key>`.
#[derive(Default)]
pub struct RetryGate {
    holds: Mutex<HashMap<String, Hold>>,
}

impl RetryGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Hold>> {
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure; returns the hold now in force.
    pub fn failed(
        &self,
        key: &str,
        message: &str,
        source: Source,
        class: RetryClass,
        now: Instant,
    ) -> Hold {
        let mut holds = self.lock();
        let next = on_failure(holds.get(key), message, source, class, now);
        holds.insert(key.to_string(), next.clone());
        next
    }

    /// The hold on `key`, if a write must wait; otherwise lets one retry through (marking
    /// it, so its failure counts as a new one).
    pub fn check(&self, key: &str, now: Instant) -> Option<(Duration, String)> {
        let mut holds = self.lock();
        let hold = holds.get_mut(key)?;
        match held_for(Some(hold), now) {
            Some(wait) => Some((wait, hold.message.clone())),
            None => {
                hold.retrying = true;
                None
            }
        }
    }

    /// Whether any key under `prefix` (one object's generation) has a failure on record
    /// (held, or its one retry under way). A pure read: unlike [`RetryGate::check`] it never
    /// lets a retry through.
    pub fn has_failure_under(&self, prefix: &str) -> bool {
        self.lock().keys().any(|k| k.starts_with(prefix))
    }

    /// The resource is as desired: forget its failures.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Drops every hold of one object (it is gone).
    pub fn forget(&self, prefix: &str) {
        self.lock().retain(|k, _| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: RetryClass = RetryClass::Transient;

    #[test]
    fn a_first_failure_holds_then_lets_one_retry_through() {
        let gate = RetryGate::default();
        let t0 = Instant::now();
        gate.failed(
            "u/vm/a",
            "OSProvisioningInternalError",
            Source::Azure,
            T,
            t0,
        );
        let (wait, msg) = gate.check("u/vm/a", t0).expect("held");
        assert_eq!(wait, delay(T, 1));
        assert_eq!(msg, "OSProvisioningInternalError");
        // Reading the failed resource again does not restart the hold or lose the code.
        gate.failed(
            "u/vm/a",
            "provisioningState is Failed",
            Source::ProvisioningState,
            T,
            t0 + Duration::from_secs(1),
        );
        let (wait, msg) = gate
            .check("u/vm/a", t0 + Duration::from_secs(1))
            .expect("still held");
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(msg, "OSProvisioningInternalError");
        // Due: one retry goes, and further checks let the retry's result come in.
        assert_eq!(gate.check("u/vm/a", t0 + delay(T, 1)), None);
    }

    #[test]
    fn a_failed_retry_doubles_the_hold_and_success_clears_it() {
        let gate = RetryGate::default();
        let t0 = Instant::now();
        gate.failed("k", "e1", Source::Azure, T, t0);
        let t1 = t0 + delay(T, 1);
        assert_eq!(gate.check("k", t1), None);
        let h = gate.failed("k", "e2", Source::Azure, T, t1);
        assert_eq!(
            (h.failures, h.until, h.retrying),
            (2, t1 + delay(T, 2), false)
        );
        assert!(gate.check("k", t1).is_some());
        gate.succeeded("k");
        assert_eq!(gate.check("k", t1), None);
    }

    #[test]
    fn throttling_holds_for_retry_after() {
        let t0 = Instant::now();
        let h = on_failure(
            None,
            "TooManyRequests",
            Source::Azure,
            RetryClass::After(Duration::from_secs(7)),
            t0,
        );
        assert_eq!(held_for(Some(&h), t0), Some(Duration::from_secs(7)));
    }

    #[test]
    fn forget_drops_one_objects_holds() {
        let gate = RetryGate::default();
        let t0 = Instant::now();
        gate.failed("uid-1/vnet", "e", Source::Azure, T, t0);
        gate.failed("uid-2/vnet", "e", Source::Azure, T, t0);
        gate.forget("uid-1/");
        assert_eq!(gate.check("uid-1/vnet", t0), None);
        assert!(gate.check("uid-2/vnet", t0).is_some());
    }
}
