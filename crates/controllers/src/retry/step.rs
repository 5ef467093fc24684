//! Per-step holds: a resource whose last write failed (refused by ARM, or its operation ended
//! Failed) is not written again before its hold ends — whatever woke the reconcile.
//!
//! Why per step and in the reconcile, not only in the requeue: every status write wakes the
//! controller through its own watch, so a requeue delay alone does not space retries. Without
//! this, a VM whose operation kept failing was PUT again on every pass (about once a second),
//! and the condition only ever showed "in progress": the Azure error was replaced in the same
//! pass by the retry it caused.
//!
//! The hold also keeps the [`Failure`] that caused it, so the condition can show Azure's code
//! until the retry, even when a later read shows only `provisioningState: Failed`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Failure, delay};

/// What is known about one step's failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Failures in a row.
    pub failures: u32,
    /// No write before this.
    pub until: Instant,
    /// A retry was let through and has not failed (yet).
    pub retrying: bool,
    /// The failure, as the condition should show it.
    pub failure: Failure,
}

/// Where a failure was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldSource {
    /// A write refused, or a failed operation: Azure's code and message are in hand.
    Write,
    /// Only a read showing `provisioningState: Failed` (the operation that failed is gone).
    Read,
}

/// A failure observed now. Pure.
///
/// A failure seen again during a hold (the same failed resource read once more) does not
/// lengthen the hold; a failure after a retry does, per the failure's retry class. A read
/// that says only `provisioningState: Failed` keeps the failure the write brought.
pub fn on_failure(
    previous: Option<&Hold>,
    failure: &Failure,
    source: HoldSource,
    now: Instant,
) -> Hold {
    let keep = |p: &Hold| match source {
        HoldSource::Write => failure.clone(),
        HoldSource::Read => p.failure.clone(),
    };
    match previous {
        Some(p) if !p.retrying => Hold {
            failure: keep(p),
            ..p.clone()
        },
        Some(p) => {
            let failures = p.failures.saturating_add(1);
            Hold {
                failures,
                until: now + delay(failure.retry, failures),
                retrying: false,
                failure: keep(p),
            }
        }
        None => Hold {
            failures: 1,
            until: now + delay(failure.retry, 1),
            retrying: false,
            failure: failure.clone(),
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

/// The holds of every object, keyed `<object uid>/<generation>/<step key>`.
#[derive(Default)]
pub struct StepHolds {
    holds: Mutex<HashMap<String, Hold>>,
}

impl StepHolds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Hold>> {
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure; returns the hold now in force.
    pub fn failed(&self, key: &str, failure: &Failure, source: HoldSource, now: Instant) -> Hold {
        let mut holds = self.lock();
        let next = on_failure(holds.get(key), failure, source, now);
        holds.insert(key.to_string(), next.clone());
        next
    }

    /// The hold on `key`, if a write must wait; otherwise lets one retry through (marking
    /// it, so its failure counts as a new one).
    pub fn check(&self, key: &str, now: Instant) -> Option<(Duration, Failure)> {
        let mut holds = self.lock();
        let hold = holds.get_mut(key)?;
        match held_for(Some(hold), now) {
            Some(wait) => Some((wait, hold.failure.clone())),
            None => {
                hold.retrying = true;
                None
            }
        }
    }

    /// Whether any key under `prefix` has a failure on record (held, or its one retry under
    /// way). A pure read: unlike [`StepHolds::check`] it never lets a retry through.
    pub fn any_under(&self, prefix: &str) -> bool {
        self.lock().keys().any(|k| k.starts_with(prefix))
    }

    /// The step is as desired: forget its failures.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Drops every hold under `prefix` (an object that is gone).
    pub fn forget(&self, prefix: &str) {
        self.lock().retain(|k, _| !k.starts_with(prefix));
    }

    /// How many steps have a failure on record (`azop_object_state_entries`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The holds of one object's steps in one pass: the shared [`StepHolds`], the object's key
/// prefix (uid and generation, so a spec change lets every write through at once), and the
/// pass's clock.
pub struct ObjectHolds<'a> {
    pub holds: &'a StepHolds,
    pub prefix: String,
    pub now: Instant,
}

impl ObjectHolds<'_> {
    fn key(&self, step: &str) -> String {
        format!("{}{step}", self.prefix)
    }

    /// `None`: the write may go now. `Some((wait, failure))`: held.
    pub fn check(&self, step: &str) -> Option<(Duration, Failure)> {
        self.holds.check(&self.key(step), self.now)
    }

    /// A failure learnt now: starts (or keeps) the hold. Returns the wait and the failure to
    /// show until the retry.
    pub fn failed(&self, step: &str, failure: &Failure, source: HoldSource) -> (Duration, Failure) {
        let hold = self
            .holds
            .failed(&self.key(step), failure, source, self.now);
        (hold.until.saturating_duration_since(self.now), hold.failure)
    }

    pub fn succeeded(&self, step: &str) {
        self.holds.succeeded(&self.key(step));
    }

    /// Whether any step of this object has a failure on record: known before the plan is
    /// made.
    pub fn any(&self) -> bool {
        self.holds.any_under(&self.prefix)
    }
}

/// Splits the steps due for a write into those that may go now and those held after a
/// failure (with the wait and the failure to show).
pub fn split_held<T>(
    due: Vec<T>,
    key: impl Fn(&T) -> &str,
    holds: &ObjectHolds<'_>,
) -> (Vec<T>, Vec<(T, Duration, Failure)>) {
    let mut send = Vec::new();
    let mut held = Vec::new();
    for s in due {
        match holds.check(key(&s)) {
            None => send.push(s),
            Some((wait, failure)) => held.push((s, wait, failure)),
        }
    }
    (send, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryClass;

    fn failure(message: &str) -> Failure {
        Failure::transient(message)
    }

    #[test]
    fn a_first_failure_holds_then_lets_one_retry_through() {
        let holds = StepHolds::default();
        let t0 = Instant::now();
        let first = Failure::new(
            azop_provider::ErrorClass::Transient,
            Some("OSProvisioningInternalError"),
            "OSProvisioningInternalError: boom",
            RetryClass::Transient,
        );
        holds.failed("u/vm/a", &first, HoldSource::Write, t0);
        let (wait, f) = holds.check("u/vm/a", t0).expect("held");
        assert_eq!(wait, delay(RetryClass::Transient, 1));
        assert_eq!(f, first);
        // Reading the failed resource again does not restart the hold or lose the code.
        holds.failed(
            "u/vm/a",
            &Failure::provisioning_state("Failed"),
            HoldSource::Read,
            t0 + Duration::from_secs(1),
        );
        let (wait, f) = holds
            .check("u/vm/a", t0 + Duration::from_secs(1))
            .expect("still held");
        assert_eq!(wait, Duration::from_secs(1));
        assert!(f.has_code("OSProvisioningInternalError"));
        // Due: one retry goes, and further checks let the retry's result come in.
        assert_eq!(
            holds.check("u/vm/a", t0 + delay(RetryClass::Transient, 1)),
            None
        );
    }

    #[test]
    fn a_failed_retry_doubles_the_hold_and_success_clears_it() {
        let holds = StepHolds::default();
        let t0 = Instant::now();
        holds.failed("k", &failure("e1"), HoldSource::Write, t0);
        let t1 = t0 + delay(RetryClass::Transient, 1);
        assert_eq!(holds.check("k", t1), None);
        let h = holds.failed("k", &failure("e2"), HoldSource::Write, t1);
        assert_eq!(
            (h.failures, h.until, h.retrying),
            (2, t1 + delay(RetryClass::Transient, 2), false)
        );
        assert!(holds.check("k", t1).is_some());
        holds.succeeded("k");
        assert_eq!(holds.check("k", t1), None);
    }

    #[test]
    fn throttling_holds_for_retry_after() {
        let t0 = Instant::now();
        let throttled = Failure::new(
            azop_provider::ErrorClass::Throttled,
            Some("TooManyRequests"),
            "TooManyRequests",
            RetryClass::After(Duration::from_secs(7)),
        );
        let h = on_failure(None, &throttled, HoldSource::Write, t0);
        assert_eq!(held_for(Some(&h), t0), Some(Duration::from_secs(7)));
    }

    #[test]
    fn forget_drops_one_objects_holds() {
        let holds = StepHolds::default();
        let t0 = Instant::now();
        holds.failed("uid-1/vnet", &failure("e"), HoldSource::Write, t0);
        holds.failed("uid-2/vnet", &failure("e"), HoldSource::Write, t0);
        holds.forget("uid-1/");
        assert_eq!(holds.check("uid-1/vnet", t0), None);
        assert!(holds.check("uid-2/vnet", t0).is_some());
    }

    /// Before the engine, a refused DELETE went out again on every pass (about once a second,
    /// since every status write woke the object). Now it waits for its hold, as a PUT does.
    #[test]
    fn a_refused_write_is_held_then_retried_once() {
        let gate = StepHolds::default();
        let t0 = Instant::now();
        let at = |now| ObjectHolds {
            holds: &gate,
            prefix: "uid/1/delete/".to_string(),
            now,
        };
        let busy = Failure::new(
            azop_provider::ErrorClass::Busy,
            Some("NicInUse"),
            "NicInUse: attached",
            RetryClass::Busy,
        );
        let (wait, _) = at(t0).failed("nic", &busy, HoldSource::Write);
        assert_eq!(wait, Duration::from_secs(5));
        let due = || vec!["nic".to_string(), "lb".to_string()];
        let (send, held) = split_held(due(), |k| k.as_str(), &at(t0 + Duration::from_secs(1)));
        assert_eq!(send, vec!["lb"]);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0, "nic");
        assert_eq!(held[0].1, Duration::from_secs(4));
        assert!(held[0].2.has_code("NicInUse"));
        let (send, held) = split_held(due(), |k| k.as_str(), &at(t0 + Duration::from_secs(5)));
        assert_eq!(send, vec!["nic", "lb"]);
        assert!(held.is_empty());
        assert!(at(t0).any());
    }
}
