//! Retry classes and the delays they give.

use std::time::Duration;

/// How a failure is retried. Azure errors map from the provider's one table,
/// [`azop_provider::Retry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// The spec cannot work as written: wait for the user to change it (the watch wakes us).
    InvalidSpec,
    /// Azure's table says when to come back (Retry-After when throttled or busy, a fixed
    /// delay for a missing permission or a rejected token).
    After(Duration),
    /// Something else holds the resource (or a check waits on something outside azop): retry
    /// in seconds.
    Busy,
    /// A referenced object (Secret, StorageBinding) is missing or not ready. Watches on those
    /// kinds wake the object when it changes, so this is only a safety net.
    WaitForReference,
    /// Anything else: exponential per object.
    Transient,
}

/// Longest wait for transient errors; long enough to spare ARM, short enough to heal promptly.
pub const MAX_TRANSIENT: Duration = Duration::from_secs(300);
const BASE_TRANSIENT: Duration = Duration::from_secs(2);
const BUSY: Duration = Duration::from_secs(5);
const REFERENCE: Duration = Duration::from_secs(60);
/// Invalid specs are re-checked rarely: a spec change wakes the controller anyway, and a
/// referenced object (Secret, StorageBinding) fixed out of band is still noticed.
const INVALID_SPEC: Duration = Duration::from_secs(600);

impl From<azop_provider::Retry> for RetryClass {
    fn from(r: azop_provider::Retry) -> Self {
        match r {
            azop_provider::Retry::AfterChange => RetryClass::InvalidSpec,
            azop_provider::Retry::After(d) => RetryClass::After(d),
            azop_provider::Retry::Backoff => RetryClass::Transient,
        }
    }
}

/// The delay before the next attempt, given the class and how many attempts failed in a row
/// (1 for the first failure). Pure.
pub fn delay(class: RetryClass, failures: u32) -> Duration {
    match class {
        RetryClass::InvalidSpec => INVALID_SPEC,
        RetryClass::After(d) => d.max(Duration::from_secs(1)),
        RetryClass::Busy => BUSY,
        RetryClass::WaitForReference => REFERENCE,
        RetryClass::Transient => {
            let exp = failures.saturating_sub(1).min(16);
            BASE_TRANSIENT
                .saturating_mul(1u32 << exp)
                .min(MAX_TRANSIENT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_backoff_doubles_and_caps() {
        assert_eq!(delay(RetryClass::Transient, 1), Duration::from_secs(2));
        assert_eq!(delay(RetryClass::Transient, 2), Duration::from_secs(4));
        assert_eq!(delay(RetryClass::Transient, 5), Duration::from_secs(32));
        assert_eq!(delay(RetryClass::Transient, 40), MAX_TRANSIENT);
    }

    #[test]
    fn throttled_follows_retry_after() {
        let d = delay(RetryClass::After(Duration::from_secs(17)), 9);
        assert_eq!(d, Duration::from_secs(17));
    }
}
