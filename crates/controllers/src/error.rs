//! The controllers' error type: what failed, for which object, and how to retry.

use std::time::Duration;

use azop_provider::{AzureError, ErrorClass};

use crate::backoff::RetryClass;

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

    /// How the next attempt is scheduled.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::InvalidSpec { .. } => RetryClass::InvalidSpec,
            // A missing Secret or a StorageBinding not yet ready is fixed out of band; a watch
            // on the referenced kinds wakes the object, the retry is only a safety net.
            Error::MissingReference { .. } => RetryClass::WaitForReference,
            Error::NotOwned { .. } => RetryClass::Busy,
            Error::Kube { .. } => RetryClass::Transient,
            Error::Azure { source, .. } => match source.class() {
                ErrorClass::Throttled => RetryClass::Throttled {
                    retry_after: source.retry_after().unwrap_or(Duration::from_secs(10)),
                },
                ErrorClass::Busy => RetryClass::Busy,
                ErrorClass::InvalidSpec | ErrorClass::Config | ErrorClass::Credential => {
                    RetryClass::InvalidSpec
                }
                ErrorClass::Auth => RetryClass::Auth,
                ErrorClass::NotFound | ErrorClass::Transient => RetryClass::Transient,
            },
        }
    }

    /// A static label for metrics and the Event/condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => "InvalidSpec",
            Error::MissingReference { .. } => "MissingReference",
            Error::NotOwned { .. } => "NotOwned",
            Error::Kube { .. } => "KubernetesError",
            Error::Azure { source, .. } => match source.class() {
                ErrorClass::Throttled => "Throttled",
                ErrorClass::Busy => "AzureBusy",
                ErrorClass::InvalidSpec => "AzureRejected",
                ErrorClass::Auth => "AuthorizationFailed",
                ErrorClass::Credential | ErrorClass::Config => "CredentialsInvalid",
                ErrorClass::NotFound => "AzureNotFound",
                ErrorClass::Transient => "AzureTransient",
            },
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
