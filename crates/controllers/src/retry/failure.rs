//! A failure as conditions show it and holds keep it: typed end to end.

use std::fmt;

use azop_provider::{AzureError, ErrorClass};

use super::RetryClass;

/// What failed: the class and Azure's code for decisions, the message for people, and how
/// the write is retried. Built once, where the failure is learnt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The provider's class for Azure's failures; a custom step's own checks use the same
    /// classes (`InvalidSpec` for a VHD that is not fixed, `Transient` for a copy Azure
    /// failed).
    pub class: ErrorClass,
    /// Azure's error code, or a step's own (`VhdInvalid`), when there is one.
    pub code: Option<String>,
    /// What the condition shows.
    pub message: String,
    /// How a write that failed this way is held back.
    pub retry: RetryClass,
}

impl Failure {
    pub fn new(
        class: ErrorClass,
        code: Option<&str>,
        message: impl Into<String>,
        retry: RetryClass,
    ) -> Self {
        Failure {
            class,
            code: code.map(str::to_string),
            message: message.into(),
            retry,
        }
    }

    /// Azure's error, classified by the provider's one table.
    pub fn azure(e: &AzureError) -> Self {
        Failure {
            class: e.class(),
            code: e.code().map(str::to_string),
            message: e.to_string(),
            retry: RetryClass::from(e.retry()),
        }
    }

    /// An ARM operation that ended Failed or Canceled: Azure's class, code and message, but
    /// retried with backoff whatever the code says — Azure fails operations for passing
    /// reasons (`OSProvisioningTimedOut`, an allocation failure), and when the spec is the
    /// cause, changing it lets every write through at once anyway.
    pub fn operation(e: &AzureError) -> Self {
        Failure {
            retry: RetryClass::Transient,
            ..Failure::azure(e)
        }
    }

    /// A read that shows `provisioningState: Failed` (or `Canceled`) and nothing more: the
    /// operation that failed is gone.
    pub fn provisioning_state(state: &str) -> Self {
        Failure::new(
            ErrorClass::Transient,
            None,
            format!("provisioningState is {state}"),
            RetryClass::Transient,
        )
    }

    /// A spec (or something the user keeps, such as a CA Secret) that cannot work as it is.
    pub fn invalid(code: Option<&str>, message: impl Into<String>) -> Self {
        Failure::new(
            ErrorClass::InvalidSpec,
            code,
            message,
            RetryClass::InvalidSpec,
        )
    }

    /// Something that may work on a retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Failure::new(ErrorClass::Transient, None, message, RetryClass::Transient)
    }

    /// Whether Azure's code is `code` (codes compare case-insensitively, as ARM's do).
    pub fn has_code(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_azure_failure_keeps_class_code_and_retry() {
        let e = AzureError::Busy {
            code: "OperationNotAllowed".into(),
            message: "an operation is in progress".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let f = Failure::azure(&e);
        assert_eq!(f.class, ErrorClass::Busy);
        assert!(f.has_code("operationnotallowed"));
        assert_eq!(f.retry, RetryClass::After(Duration::from_secs(3)));
        assert_eq!(f.message, e.to_string());
    }
}
