//! The one error type of the provider, and the pure function that builds it from what ARM
//! answered. Controllers act on [`AzureError::class`]: requeue soon, requeue after, stop until
//! the spec changes, or report a missing permission.

use std::time::Duration;

/// How long a controller should wait before retrying a busy resource when ARM gave no hint.
/// Short: the operation holding the resource usually ends within seconds.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);
/// A missing role assignment is fixed outside Kubernetes; look again now and then.
pub const AUTH_RETRY_AFTER: Duration = Duration::from_secs(120);
/// A token endpoint that failed (network, or a secret not yet propagated in AAD).
pub const CREDENTIAL_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The classes the controllers act on. Stable names: used as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    NotFound,
    Busy,
    Throttled,
    InvalidSpec,
    Auth,
    Transient,
    Credential,
    Config,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::NotFound => "not_found",
            ErrorClass::Busy => "busy",
            ErrorClass::Throttled => "throttled",
            ErrorClass::InvalidSpec => "invalid_spec",
            ErrorClass::Auth => "auth",
            ErrorClass::Transient => "transient",
            ErrorClass::Credential => "credential",
            ErrorClass::Config => "config",
        }
    }
}

/// When a caller should try again: the one retry table, for every caller (controllers included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not until something the user controls changes (the spec, the credentials Secret): a
    /// watch on those wakes the caller.
    AfterChange,
    /// After this long: ARM's Retry-After, or the class's fixed delay.
    After(Duration),
    /// With the caller's exponential backoff.
    Backoff,
}

/// Everything that can go wrong talking to Azure. Messages are Azure's own text (which never
/// contains our secrets) or our own; secret values are never formatted into them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AzureError {
    /// The resource (or its resource group) does not exist.
    #[error("azure resource not found ({code}): {message}")]
    NotFound { code: String, message: String },

    /// Another operation holds the resource (AnotherOperationInProgress,
    /// RetryableErrorDueToAnotherOperation, OperationNotAllowed, a 409/412, a dependent still
    /// attached): retry soon.
    #[error("azure resource is busy ({code}): {message}")]
    Busy {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },

    /// ARM (or our own client-side bucket) refused the request for now.
    #[error("azure throttled the request ({code}); retry after {retry_after:?}")]
    Throttled { code: String, retry_after: Duration },

    /// Azure rejected what we asked for: no retry until the spec changes.
    #[error("azure rejected the request ({code}, http {status}): {message}")]
    InvalidSpec {
        status: u16,
        code: String,
        message: String,
    },

    /// The principal may not do this. `action` and `scope` are parsed from
    /// AuthorizationFailed's message so a condition can name the missing permission.
    #[error("not authorized ({code}) to perform {} over {}: {message}", action.as_deref().unwrap_or("an action"), scope.as_deref().unwrap_or("the scope"))]
    Auth {
        code: String,
        action: Option<String>,
        scope: Option<String>,
        message: String,
    },

    /// Server errors, timeouts, connection failures, unreadable answers, operations past their
    /// deadline: retry with backoff.
    #[error("transient azure failure ({code}): {message}")]
    Transient {
        status: Option<u16>,
        code: String,
        message: String,
    },

    /// The credentials Secret is incomplete or malformed (never echoes values).
    #[error("invalid azure credentials secret {secret}: {reason}")]
    CredentialConfig { secret: String, reason: String },

    /// The token endpoint refused or could not be reached.
    #[error("failed to obtain an azure access token for {source_name}: {message}")]
    Credential {
        source_name: String,
        message: String,
    },

    /// The provider itself is misconfigured (a bad endpoint URL, …).
    #[error("invalid azure provider configuration: {reason}")]
    Config { reason: String },

    /// A read-only session (`azop plan`) refused to send a write; nothing reached Azure.
    #[error("read-only session: {method} {path} was not sent (a plan only reads)")]
    WriteRefused { method: String, path: String },

    /// Whether a resource azop deleted is gone is told by the next walk of its type that
    /// starts after the delete, and none has yet: a pass that asked without waiting
    /// ([`crate::ArmSession::observe_deferring`]) gets this at once, the walk is under way in
    /// the background, and the resource's owner is woken (`Listings::changes`) once it has
    /// happened. Not a failure: the resource counts as still being deleted.
    #[error(
        "waiting for a walk of {resource_type} that started after azop's delete (expected within {ready_in:?})"
    )]
    AwaitingWalk {
        resource_type: String,
        ready_in: Duration,
    },
}

impl AzureError {
    pub fn class(&self) -> ErrorClass {
        match self {
            AzureError::NotFound { .. } => ErrorClass::NotFound,
            AzureError::Busy { .. } | AzureError::AwaitingWalk { .. } => ErrorClass::Busy,
            AzureError::Throttled { .. } => ErrorClass::Throttled,
            AzureError::InvalidSpec { .. } => ErrorClass::InvalidSpec,
            AzureError::Auth { .. } => ErrorClass::Auth,
            AzureError::Transient { .. } => ErrorClass::Transient,
            AzureError::CredentialConfig { .. } | AzureError::Credential { .. } => {
                ErrorClass::Credential
            }
            AzureError::Config { .. } | AzureError::WriteRefused { .. } => ErrorClass::Config,
        }
    }

    /// A CamelCase reason for Kubernetes Events and conditions.
    pub fn category(&self) -> &'static str {
        match self {
            AzureError::NotFound { .. } => "AzureNotFound",
            AzureError::Busy { .. } => "AzureBusy",
            AzureError::Throttled { .. } => "AzureThrottled",
            AzureError::InvalidSpec { .. } => "AzureInvalidSpec",
            AzureError::Auth { .. } => "AzureAuthorizationFailed",
            AzureError::Transient { .. } => "AzureTransient",
            AzureError::CredentialConfig { .. } => "CredentialsInvalid",
            AzureError::Credential { .. } => "CredentialsRejected",
            AzureError::Config { .. } => "ProviderMisconfigured",
            AzureError::WriteRefused { .. } => "WriteRefused",
            AzureError::AwaitingWalk { .. } => "AzureBusy",
        }
    }

    /// Will trying again without a spec change help? NotFound is not retryable as such: the
    /// caller decides what absence means (create it, or report a missing dependency).
    pub fn is_retryable(&self) -> bool {
        match self {
            AzureError::Busy { .. }
            | AzureError::AwaitingWalk { .. }
            | AzureError::Throttled { .. }
            | AzureError::Transient { .. }
            | AzureError::Credential { .. }
            | AzureError::Auth { .. } => true,
            AzureError::NotFound { .. }
            | AzureError::InvalidSpec { .. }
            | AzureError::CredentialConfig { .. }
            | AzureError::Config { .. }
            | AzureError::WriteRefused { .. } => false,
        }
    }

    /// When to try again. Derived from [`AzureError::is_retryable`] and
    /// [`AzureError::retry_after`], so the three never disagree. NotFound is retried with
    /// backoff: where a caller meets it on a write, a parent is missing and may appear.
    pub fn retry(&self) -> Retry {
        if matches!(self, AzureError::NotFound { .. }) {
            return Retry::Backoff;
        }
        if !self.is_retryable() {
            return Retry::AfterChange;
        }
        match self.retry_after() {
            Some(d) => Retry::After(d),
            None => Retry::Backoff,
        }
    }

    /// When to come back: ARM's Retry-After where it gave one, else a class default. `None`
    /// means "use your own backoff" (Transient) or "not until something changes".
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AzureError::Throttled { retry_after, .. } => Some(*retry_after),
            AzureError::Busy { retry_after, .. } => Some(retry_after.unwrap_or(BUSY_RETRY_AFTER)),
            AzureError::AwaitingWalk { ready_in, .. } => Some(*ready_in),
            AzureError::Auth { .. } => Some(AUTH_RETRY_AFTER),
            AzureError::Credential { .. } => Some(CREDENTIAL_RETRY_AFTER),
            _ => None,
        }
    }

    /// Azure's error code, where there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::NotFound { code, .. }
            | AzureError::Busy { code, .. }
            | AzureError::Throttled { code, .. }
            | AzureError::InvalidSpec { code, .. }
            | AzureError::Auth { code, .. }
            | AzureError::Transient { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn transient(code: &str, message: impl Into<String>) -> Self {
        AzureError::Transient {
            status: None,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        AzureError::Config {
            reason: reason.into(),
        }
    }
}

/// Codes that mean "someone else is working on it, come back soon".
const BUSY_CODES: &[&str] = &[
    "AnotherOperationInProgress",
    "RetryableErrorDueToAnotherOperation",
    "OperationNotAllowed",
    "PreconditionFailed",
    "Conflict",
    "ResourceGroupBeingDeleted",
    "InUseSubnetCannotBeDeleted",
    "InUseNetworkSecurityGroupCannotBeDeleted",
    "InUseRouteTableCannotBeDeleted",
    "PublicIPAddressInUse",
    "NicInUse",
    "CannotDeleteResource",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceGroupNotFound",
    "ResourceNotFound",
    "NotFound",
    "ParentResourceNotFound",
    "ContainerNotFound",
    "StorageAccountNotFound",
];

const THROTTLE_CODES: &[&str] = &["SubscriptionRequestsThrottled", "TooManyRequests"];

/// 409s that are not contention but a spec the user must change.
const INVALID_SPEC_CONFLICT_CODES: &[&str] =
    &["StorageAccountAlreadyTaken", "StorageAccountAlreadyExists"];

/// Code and message from an ARM error body: `{"error":{"code","message"}}`, or the flat
/// `{"code","message"}` the AKS RP sometimes returns.
pub fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let pick = |v: &serde_json::Value, key: &str, alt: &str| {
        v.get(key)
            .or_else(|| v.get(alt))
            .and_then(|s| s.as_str())
            .map(str::to_owned)
    };
    let nested = value.get("error").or_else(|| value.get("Error"));
    let (code, message) = match nested {
        Some(inner) if inner.is_object() => (
            pick(inner, "code", "Code"),
            pick(inner, "message", "Message"),
        ),
        _ => (None, None),
    };
    (
        code.or_else(|| pick(&value, "code", "Code")),
        message.or_else(|| pick(&value, "message", "Message")),
    )
}

/// Action and scope from AuthorizationFailed's message: "… does not have authorization to
/// perform action 'X' over scope 'Y' or the scope is invalid …".
pub fn parse_authorization_failed(message: &str) -> (Option<String>, Option<String>) {
    fn quoted_after(message: &str, marker: &str) -> Option<String> {
        let start = message.find(marker)? + marker.len();
        let rest = message[start..].trim_start();
        let rest = rest.strip_prefix('\'')?;
        let end = rest.find('\'')?;
        Some(rest[..end].to_owned())
    }
    (
        quoted_after(message, "perform action"),
        quoted_after(message, "over scope"),
    )
}

/// Classify an ARM answer. Pure: status, the `x-ms-error-code` header, Retry-After (already
/// parsed) and the body. The header code wins over the body's, as the ARM guidelines say.
pub fn classify(
    status: u16,
    header_code: Option<&str>,
    retry_after: Option<Duration>,
    body: &[u8],
) -> AzureError {
    let (body_code, body_message) = parse_error_body(body);
    let code = header_code
        .map(str::to_owned)
        .or(body_code)
        .unwrap_or_else(|| format!("Http{status}"));
    let message = body_message.unwrap_or_else(|| format!("http status {status}"));
    classify_code(status, code, message, retry_after)
}

/// Classify from an already-extracted code and message (the poller's Failed status).
pub fn classify_code(
    status: u16,
    code: String,
    message: String,
    retry_after: Option<Duration>,
) -> AzureError {
    let is = |list: &[&str]| list.iter().any(|c| c.eq_ignore_ascii_case(&code));
    if code.eq_ignore_ascii_case("AuthorizationFailed")
        || code.eq_ignore_ascii_case("LinkedAuthorizationFailed")
    {
        let (action, scope) = parse_authorization_failed(&message);
        return AzureError::Auth {
            code,
            action,
            scope,
            message,
        };
    }
    if code.eq_ignore_ascii_case("ExpiredAuthenticationToken") {
        // The next request fetches a fresh token.
        return AzureError::Transient {
            status: Some(status),
            code,
            message,
        };
    }
    if is(BUSY_CODES) {
        return AzureError::Busy {
            code,
            message,
            retry_after,
        };
    }
    if is(THROTTLE_CODES) || (status == 429) {
        return AzureError::Throttled {
            code,
            retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
        };
    }
    if is(NOT_FOUND_CODES) || status == 404 {
        return AzureError::NotFound { code, message };
    }
    if is(INVALID_SPEC_CONFLICT_CODES) {
        return AzureError::InvalidSpec {
            status,
            code,
            message,
        };
    }
    match status {
        401 | 403 => AzureError::Auth {
            code,
            action: None,
            scope: None,
            message,
        },
        409 | 412 => AzureError::Busy {
            code,
            message,
            retry_after,
        },
        408 | 500..=599 => AzureError::Transient {
            status: Some(status),
            code,
            message,
        },
        // A Failed/Canceled LRO carries no HTTP status of its own (0): what failed was the
        // request we made, which Azure judged — unless the code says otherwise, that is the spec.
        _ => AzureError::InvalidSpec {
            status,
            code,
            message,
        },
    }
}

/// Error raised inside the HTTP pipeline when our own bucket is paused longer than we are
/// willing to wait; surfaced as [`AzureError::Throttled`] without any request being sent.
#[derive(Debug, thiserror::Error)]
#[error("client-side throttle for subscription bucket {class} is paused for {retry_after:?}")]
pub struct LocalThrottle {
    pub class: &'static str,
    pub retry_after: Duration,
}

/// Convert an `azure_core` error (from a generated crate's `.send()` or a credential).
pub fn from_core_error(err: &azure_core::Error, retry_after: Option<Duration>) -> AzureError {
    use azure_core::error::ErrorKind;
    if let Some(local) = find_in_chain::<LocalThrottle>(err) {
        return AzureError::Throttled {
            code: "ClientSideThrottle".to_owned(),
            retry_after: local.retry_after,
        };
    }
    if let Some(http) = err.as_http_error() {
        return classify_code(
            u16::from(http.status()),
            http.error_code()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Http{}", u16::from(http.status()))),
            http.error_message()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("http status {}", u16::from(http.status()))),
            retry_after,
        );
    }
    if let Some(ours) = find_in_chain::<AzureErrorBox>(err) {
        return ours.0.clone();
    }
    match err.kind() {
        ErrorKind::HttpResponse { status, error_code } => classify_code(
            u16::from(*status),
            error_code
                .clone()
                .unwrap_or_else(|| format!("Http{}", u16::from(*status))),
            format!("http status {status}"),
            retry_after,
        ),
        ErrorKind::Io => AzureError::transient("ConnectionFailed", err.to_string()),
        ErrorKind::Credential => AzureError::Credential {
            source_name: "credential".to_owned(),
            message: err.to_string(),
        },
        ErrorKind::DataConversion => AzureError::transient("UnreadableResponse", err.to_string()),
        _ => AzureError::transient("RequestFailed", err.to_string()),
    }
}

/// Carries an [`AzureError`] through `azure_core`'s error type (from inside our pipeline
/// policies) so it comes out unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AzureErrorBox(pub AzureError);

fn find_in_chain<T: std::error::Error + 'static>(err: &azure_core::Error) -> Option<&T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(code: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": {"code": code, "message": message}}))
            .expect("json")
    }

    #[test]
    fn every_code_in_the_notes_maps_to_its_class() {
        let table: &[(&str, u16, ErrorClass)] = &[
            ("ResourceGroupNotFound", 404, ErrorClass::NotFound),
            ("ResourceNotFound", 404, ErrorClass::NotFound),
            ("NotFound", 404, ErrorClass::NotFound),
            ("AnotherOperationInProgress", 409, ErrorClass::Busy),
            ("AnotherOperationInProgress", 400, ErrorClass::Busy),
            ("RetryableErrorDueToAnotherOperation", 429, ErrorClass::Busy),
            ("InUseSubnetCannotBeDeleted", 400, ErrorClass::Busy),
            (
                "InUseNetworkSecurityGroupCannotBeDeleted",
                400,
                ErrorClass::Busy,
            ),
            ("NetcfgInvalidSubnet", 400, ErrorClass::InvalidSpec),
            ("NetcfgSubnetRangesOverlap", 400, ErrorClass::InvalidSpec),
            ("NetcfgSubnetRangeOutsideVnet", 400, ErrorClass::InvalidSpec),
            ("NetworkAclsValidationFailure", 400, ErrorClass::InvalidSpec),
            ("StorageAccountAlreadyTaken", 409, ErrorClass::InvalidSpec),
            ("AccountNameInvalid", 400, ErrorClass::InvalidSpec),
            ("OperationNotAllowed", 409, ErrorClass::Busy),
            ("PreconditionFailed", 412, ErrorClass::Busy),
            ("SubscriptionRequestsThrottled", 429, ErrorClass::Throttled),
            ("TooManyRequests", 429, ErrorClass::Throttled),
            ("AuthorizationFailed", 403, ErrorClass::Auth),
            ("InvalidAuthenticationToken", 401, ErrorClass::Auth),
            ("ExpiredAuthenticationToken", 401, ErrorClass::Transient),
            ("InternalServerError", 500, ErrorClass::Transient),
            ("ServiceUnavailable", 503, ErrorClass::Transient),
            ("GatewayTimeout", 504, ErrorClass::Transient),
            ("SomethingNew", 409, ErrorClass::Busy),
            ("SomethingNew", 400, ErrorClass::InvalidSpec),
        ];
        for (code, status, class) in table {
            let err = classify(*status, None, None, &arm(code, "m"));
            assert_eq!(err.class(), *class, "{code} ({status})");
            assert_eq!(err.code(), Some(*code));
        }
    }

    #[test]
    fn retryability_follows_the_class() {
        let busy = classify(409, None, None, &arm("AnotherOperationInProgress", "m"));
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(BUSY_RETRY_AFTER));
        let invalid = classify(400, None, None, &arm("NetcfgInvalidSubnet", "bad prefix"));
        assert!(!invalid.is_retryable());
        assert_eq!(invalid.retry_after(), None);
        assert_eq!(invalid.category(), "AzureInvalidSpec");
        let gone = classify(404, None, None, &arm("ResourceNotFound", "m"));
        assert!(!gone.is_retryable());
        assert_eq!(invalid.retry(), Retry::AfterChange);
        assert_eq!(gone.retry(), Retry::Backoff);
        let transient = classify(503, None, None, b"");
        assert!(transient.is_retryable());
        assert_eq!(transient.retry(), Retry::Backoff);
        assert_eq!(busy.retry(), Retry::After(BUSY_RETRY_AFTER));
        assert_eq!(transient.code(), Some("Http503"));
    }

    /// One table: a rejected token is retried after a minute, a malformed Secret waits for the
    /// Secret to change. (The controllers used to keep their own table, in which both were
    /// "invalid spec, look again in 10 minutes" while this one called them retryable.)
    #[test]
    fn credential_errors_have_one_retry() {
        let rejected = AzureError::Credential {
            source_name: "secret ns/creds".into(),
            message: "AADSTS7000215".into(),
        };
        assert!(rejected.is_retryable());
        assert_eq!(rejected.retry(), Retry::After(CREDENTIAL_RETRY_AFTER));
        let malformed = AzureError::CredentialConfig {
            secret: "ns/creds".into(),
            reason: "missing key clientId".into(),
        };
        assert!(!malformed.is_retryable());
        assert_eq!(malformed.retry(), Retry::AfterChange);
    }

    #[test]
    fn throttled_carries_retry_after() {
        let err = classify(
            429,
            None,
            Some(Duration::from_secs(17)),
            &arm("SubscriptionRequestsThrottled", "slow down"),
        );
        assert_eq!(
            err,
            AzureError::Throttled {
                code: "SubscriptionRequestsThrottled".into(),
                retry_after: Duration::from_secs(17)
            }
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(17)));
        // A 429 without a header still says when to come back.
        assert_eq!(
            classify(429, None, None, b"").retry_after(),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn busy_keeps_retry_after_when_given() {
        let err = classify(
            429,
            None,
            Some(Duration::from_secs(3)),
            &arm("RetryableErrorDueToAnotherOperation", "locked"),
        );
        assert_eq!(err.class(), ErrorClass::Busy);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn flat_aks_form_and_header_code_are_understood() {
        let flat = br#"{"code":"OperationNotAllowed","message":"Operation is not allowed because there's an in progress create managed cluster operation"}"#;
        let err = classify(409, None, None, flat);
        assert_eq!(err.class(), ErrorClass::Busy);
        assert!(err.to_string().contains("in progress create"));

        let err = classify(404, Some("ResourceGroupNotFound"), None, b"");
        assert_eq!(err.code(), Some("ResourceGroupNotFound"));
        // Header beats body.
        let err = classify(400, Some("AccountNameInvalid"), None, &arm("Other", "m"));
        assert_eq!(err.code(), Some("AccountNameInvalid"));
    }

    #[test]
    fn authorization_failed_names_action_and_scope() {
        let message = "The client 'c0ffee' with object id 'c0ffee' does not have authorization to perform action 'Microsoft.Network/virtualNetworks/write' over scope '/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v1' or the scope is invalid. If access was recently granted, please refresh your credentials.";
        let err = classify(403, None, None, &arm("AuthorizationFailed", message));
        match &err {
            AzureError::Auth { action, scope, .. } => {
                assert_eq!(
                    action.as_deref(),
                    Some("Microsoft.Network/virtualNetworks/write")
                );
                assert_eq!(
                    scope.as_deref(),
                    Some(
                        "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v1"
                    )
                );
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("Microsoft.Network/virtualNetworks/write")
        );
        assert_eq!(err.category(), "AzureAuthorizationFailed");
    }

    #[test]
    fn unparseable_bodies_fall_back_to_the_status() {
        let err = classify(502, None, None, b"<html>bad gateway</html>");
        assert_eq!(err.class(), ErrorClass::Transient);
        assert_eq!(err.code(), Some("Http502"));
    }
}
