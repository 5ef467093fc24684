//! The controllers' error type: what failed, for which object, and how to retry.

use azop_provider::{AzureError, ErrorClass};

use crate::retry::{Failure, RetryClass};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec breaks a rule; the message says which and how to fix it.
    #[error("invalid spec: {message}")]
    InvalidSpec { message: String },
    /// A referenced object (Secret, StorageBinding, …) is missing or not ready.
    #[error("{message}")]
    MissingReference { message: String },
    /// A resource azop would create exists without this object's uid tag.
    #[error("{message}")]
    NotOwned { message: String },
    #[error("failed to {action}")]
    Kube {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("failed to {action}")]
    Azure {
        action: String,
        #[source]
        source: Box<AzureError>,
    },
    /// A step's own check failed (a kubeconfig AKS returned that kubectl cannot load): typed
    /// where it was learnt.
    #[error("failed to {action}: {failure}")]
    Failed { action: String, failure: Failure },
}

impl Error {
    pub fn azure(action: impl Into<String>, source: AzureError) -> Self {
        Error::Azure {
            action: action.into(),
            source: Box::new(source),
        }
    }

    pub fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// How the next attempt is scheduled. Azure errors follow the provider's one table
    /// ([`AzureError::retry`]); nothing here re-classifies them.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::InvalidSpec { .. } => RetryClass::InvalidSpec,
            // A missing Secret or a StorageBinding not yet ready is fixed out of band; a watch
            // on the referenced kinds wakes the object, the retry is only a safety net.
            Error::MissingReference { .. } => RetryClass::WaitForReference,
            Error::NotOwned { .. } => RetryClass::Busy,
            Error::Kube { .. } => RetryClass::Transient,
            Error::Azure { source, .. } => RetryClass::from(source.retry()),
            Error::Failed { failure, .. } => failure.retry,
        }
    }

    /// A static label for metrics and the Event/condition reason: the provider's category
    /// for Azure errors.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "InvalidSpec",
            Error::MissingReference { .. } => "MissingReference",
            Error::NotOwned { .. } => "NotOwned",
            Error::Kube { .. } => "KubernetesError",
            Error::Azure { source, .. } => source.category(),
            Error::Failed { failure, .. } if failure.class == ErrorClass::InvalidSpec => {
                "InvalidSpec"
            }
            Error::Failed { .. } => "StepFailed",
        }
    }

    /// The metrics label of the error's class: static, snake_case, low-cardinality (the
    /// provider's class for Azure errors).
    pub fn class_label(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "invalid_spec",
            Error::MissingReference { .. } => "missing_reference",
            Error::NotOwned { .. } => "not_owned",
            Error::Kube { .. } => "kubernetes",
            Error::Azure { source, .. } => source.class().as_str(),
            Error::Failed { failure, .. } => failure.class.as_str(),
        }
    }

    /// The whole chain, for conditions and Events: "failed to create vnet x: <Azure's code and message>".
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The controllers used to call a rejected token "invalid spec, 10 minutes" while the
    /// provider called it retryable; now both read the provider's table.
    #[test]
    fn azure_errors_retry_as_the_provider_says() {
        let rejected = Error::azure(
            "open an ARM session",
            AzureError::Credential {
                source_name: "secret ns/creds".into(),
                message: "AADSTS7000215".into(),
            },
        );
        assert_eq!(
            rejected.retry_class(),
            RetryClass::After(azop_provider::error::CREDENTIAL_RETRY_AFTER)
        );
        assert_eq!(rejected.reason(), "CredentialsRejected");
        assert_eq!(rejected.class_label(), "credential");
        let malformed = Error::azure(
            "open an ARM session",
            AzureError::CredentialConfig {
                secret: "ns/creds".into(),
                reason: "missing key clientId".into(),
            },
        );
        assert_eq!(malformed.retry_class(), RetryClass::InvalidSpec);
        let throttled = Error::azure(
            "read vnet",
            AzureError::Throttled {
                code: "TooManyRequests".into(),
                retry_after: Duration::from_secs(17),
            },
        );
        assert_eq!(
            throttled.retry_class(),
            RetryClass::After(Duration::from_secs(17))
        );
        let transient = Error::azure(
            "read vnet",
            AzureError::Transient {
                status: Some(500),
                code: "InternalServerError".into(),
                message: "boom".into(),
            },
        );
        assert_eq!(transient.retry_class(), RetryClass::Transient);
        // Metric labels are snake_case, never the CamelCase condition reasons.
        let labels = [
            Error::InvalidSpec {
                message: String::new(),
            }
            .class_label(),
            Error::MissingReference {
                message: String::new(),
            }
            .class_label(),
            throttled.class_label(),
            transient.class_label(),
        ];
        assert_eq!(
            labels,
            [
                "invalid_spec",
                "missing_reference",
                "throttled",
                "transient"
            ]
        );
    }
}
