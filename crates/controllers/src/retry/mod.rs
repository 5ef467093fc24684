//! Retries, in one vocabulary, from the error to the requeue:
//!
//! 1. **Retry class** ([`RetryClass`]): how a failure is retried — not until the spec changes,
//!    after a set time, in seconds (busy), when a reference changes, or with exponential
//!    backoff ([`delay`]). Azure errors get theirs from the provider's one table
//!    ([`azop_provider::Retry`]); nothing here re-classifies them.
//! 2. **Failure** ([`Failure`]): what failed, typed from where it is learnt (a refused write, a
//!    failed operation, a read showing `provisioningState: Failed`, a custom step's own check)
//!    to the condition that shows it — class, Azure's code, message, retry class. No decision
//!    reads the message.
//! 3. **Per-object backoff** ([`ObjectBackoff`]): a pass ends [`PassOutcome::Done`] (it got
//!    through: the object's count resets) or [`PassOutcome::Stopped`] (it stopped before it
//!    could act: the count grows, and the requeue with it).
//! 4. **Per-step hold** ([`StepHolds`]): a write (PUT or DELETE) Azure refused, or whose
//!    operation failed, is not sent again before its hold ends, whatever woke the reconcile.

mod class;
mod failure;
mod object;
mod step;

pub use class::{MAX_TRANSIENT, RetryClass, delay};
pub use failure::Failure;
pub use object::{ObjectBackoff, PassOutcome};
pub use step::{Hold, HoldSource, ObjectHolds, StepHolds, on_failure, split_held};
