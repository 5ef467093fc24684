//! azop's own long-running-operation poller. The generated crates' pollers sleep 30 s with
//! no deadline, drop Azure's error code and choke on Location's empty 202 — so the crates
//! only send the PUT/DELETE and this module takes over.
//!
//! Controllers never block on an operation: the first response becomes an [`LroHandle`]
//! (serializable, stored in status), and each reconcile calls
//! [`crate::ArmSession::poll_once`] which answers "in progress, come back in N s",
//! "succeeded" or "failed with Azure's code". After a restart the stored handle is polled
//! again instead of re-issuing the PUT.

use crate::arm::RawResponse;
use crate::error::{AzureError, classify, classify_code};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// How an operation is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LroKind {
    /// The `Azure-AsyncOperation` status resource: always 200 with `{status, error}`.
    AzureAsyncOperation,
    /// The `Location` URL: 202 (often with no body) while running, then 200/201/204.
    Location,
    /// No operation header, but the PUT's body showed a non-terminal provisioningState:
    /// follow the resource itself.
    ProvisioningState,
}

/// A started operation, as stored in a controller's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LroHandle {
    /// Absolute URL to poll (for ProvisioningState: the resource URL with api-version).
    pub url: String,
    pub kind: LroKind,
    /// The ARM id of the resource the operation works on.
    pub resource_id: String,
    /// `PUT` or `DELETE`: what the operation does.
    pub method: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// After this instant the operation counts as failed (Transient `OperationTimedOut`).
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    InProgress {
        retry_after: Duration,
    },
    /// Done; `body` is the final resource where the poll returned one.
    Succeeded {
        body: Option<serde_json::Value>,
    },
    /// The operation itself failed or was canceled; Azure's code and message are kept.
    Failed(AzureError),
    /// The operation can no longer be read: its status URL answers 404 (ARM forgets an
    /// operation some time after it ends, and loses it when the resource's operation is
    /// replaced). Only the resource can tell what happened: drop the handle and re-read it.
    Gone,
    /// The operation outlived its deadline without an answer that ends it (still running, or
    /// its status unreadable). It is dropped and the resource re-read, so nothing is polled
    /// forever.
    Expired,
}

/// Poller settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LroConfig {
    /// When ARM sends no Retry-After. Clients of real Azure use 60 s; tests use less.
    pub default_retry_after: Duration,
    /// Upper bound on any Retry-After we honour (ARM sends 10–600 s).
    pub max_retry_after: Duration,
    /// Default deadline of an operation (AKS modules pass a longer one).
    pub default_deadline: Duration,
}

impl Default for LroConfig {
    fn default() -> Self {
        LroConfig {
            default_retry_after: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
            default_deadline: Duration::from_secs(60 * 60),
        }
    }
}

/// `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` (seconds or an HTTP date).
pub fn retry_after(resp: &RawResponse, now: OffsetDateTime) -> Option<Duration> {
    for ms in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(v) = resp.header(ms).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(v));
        }
    }
    let v = resp.header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::try_from(when - now).unwrap_or(Duration::ZERO))
}

fn next_poll(resp: &RawResponse, cfg: &LroConfig, now: OffsetDateTime) -> Duration {
    retry_after(resp, now)
        .unwrap_or(cfg.default_retry_after)
        .min(cfg.max_retry_after)
}

/// Decide from the first response of a PUT/DELETE whether an operation is under way, and
/// how to follow it. `None`: the request completed synchronously.
pub fn handle_from_response(
    method: &str,
    resource_url: &str,
    resource_id: &str,
    resp: &RawResponse,
    now: OffsetDateTime,
    deadline: Duration,
) -> Option<LroHandle> {
    let handle = |url: &str, kind| LroHandle {
        url: url.to_owned(),
        kind,
        resource_id: resource_id.to_owned(),
        method: method.to_ascii_uppercase(),
        started_at: now,
        deadline: now + deadline,
    };
    if let Some(url) = resp.header("azure-asyncoperation") {
        return Some(handle(url, LroKind::AzureAsyncOperation));
    }
    if resp.status == 202 {
        return Some(match resp.header("location") {
            Some(url) => handle(url, LroKind::Location),
            // 202 with nothing to follow: watch the resource itself.
            None => handle(resource_url, LroKind::ProvisioningState),
        });
    }
    if method.eq_ignore_ascii_case("PUT")
        && let Some(state) = provisioning_state(&resp.json())
        && !is_terminal(&state)
    {
        return Some(handle(resource_url, LroKind::ProvisioningState));
    }
    None
}

pub fn provisioning_state(body: &Option<serde_json::Value>) -> Option<String> {
    body.as_ref()?
        .get("properties")?
        .get("provisioningState")?
        .as_str()
        .map(str::to_owned)
}

pub fn is_terminal(state: &str) -> bool {
    ["Succeeded", "Failed", "Canceled"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(state))
}

/// Interpret one poll response. `Err` means "could not read the status" (retry the poll),
/// never "the operation failed".
pub fn interpret_poll(
    handle: &LroHandle,
    resp: &RawResponse,
    cfg: &LroConfig,
    now: OffsetDateTime,
) -> Result<PollOutcome, AzureError> {
    // A 404 from any status URL: the operation is gone (a DELETE followed through the
    // resource itself is the exception: its 404 is the answer).
    let resource_gone_is_success =
        handle.kind == LroKind::ProvisioningState && handle.method == "DELETE";
    let outcome = if resp.status == 404 && !resource_gone_is_success {
        Ok(PollOutcome::Gone)
    } else {
        match handle.kind {
            LroKind::AzureAsyncOperation => interpret_async_operation(resp, cfg, now),
            LroKind::Location => interpret_location(resp, cfg, now),
            LroKind::ProvisioningState => interpret_provisioning_state(handle, resp, cfg, now),
        }
    };
    past_deadline(handle, outcome, now)
}

/// An operation past its deadline that has not ended (still running, or its status could not
/// be read) is [`PollOutcome::Expired`]; an answer that ends it is kept.
pub fn past_deadline(
    handle: &LroHandle,
    outcome: Result<PollOutcome, AzureError>,
    now: OffsetDateTime,
) -> Result<PollOutcome, AzureError> {
    match outcome {
        Ok(PollOutcome::InProgress { .. }) | Err(_) if now >= handle.deadline => {
            Ok(PollOutcome::Expired)
        }
        other => other,
    }
}

fn unreadable(resp: &RawResponse, now: OffsetDateTime) -> AzureError {
    let err = classify(
        resp.status,
        resp.header("x-ms-error-code"),
        retry_after(resp, now),
        &resp.body,
    );
    match err {
        // A 404 never gets here (it is `Gone`); another "not found" code with another status
        // says nothing about the resource either.
        AzureError::NotFound { code, message } => AzureError::Transient {
            status: Some(resp.status),
            code,
            message,
        },
        other => other,
    }
}

fn operation_error(status: &str, body: &serde_json::Value) -> AzureError {
    let err = body.get("error");
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Operation{status}"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(|c| c.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the operation ended {status}"));
    classify_code(0, code, message, None)
}

fn interpret_async_operation(
    resp: &RawResponse,
    cfg: &LroConfig,
    now: OffsetDateTime,
) -> Result<PollOutcome, AzureError> {
    if !(200..300).contains(&resp.status) {
        return Err(unreadable(resp, now));
    }
    let body = resp.json().ok_or_else(|| {
        AzureError::transient(
            "UnreadableOperationStatus",
            "operation status body is not json",
        )
    })?;
    let status = body.get("status").and_then(|s| s.as_str()).ok_or_else(|| {
        AzureError::transient(
            "UnreadableOperationStatus",
            "operation status has no status field",
        )
    })?;
    Ok(match status {
        s if s.eq_ignore_ascii_case("Succeeded") => PollOutcome::Succeeded { body: None },
        s if s.eq_ignore_ascii_case("Failed") || s.eq_ignore_ascii_case("Canceled") => {
            PollOutcome::Failed(operation_error(s, &body))
        }
        // InProgress, Accepted, Running, Deleting, any RP-specific state.
        _ => PollOutcome::InProgress {
            retry_after: next_poll(resp, cfg, now),
        },
    })
}

fn interpret_location(
    resp: &RawResponse,
    cfg: &LroConfig,
    now: OffsetDateTime,
) -> Result<PollOutcome, AzureError> {
    match resp.status {
        202 => Ok(PollOutcome::InProgress {
            retry_after: next_poll(resp, cfg, now),
        }),
        200..=299 => Ok(PollOutcome::Succeeded { body: resp.json() }),
        // Throttling and server errors say nothing about the operation.
        408 | 429 | 500..=599 => Err(unreadable(resp, now)),
        // Any other answer is the operation's own outcome, with Azure's code.
        _ => Ok(PollOutcome::Failed(classify(
            resp.status,
            resp.header("x-ms-error-code"),
            None,
            &resp.body,
        ))),
    }
}

fn interpret_provisioning_state(
    handle: &LroHandle,
    resp: &RawResponse,
    cfg: &LroConfig,
    now: OffsetDateTime,
) -> Result<PollOutcome, AzureError> {
    if resp.status == 404 && handle.method == "DELETE" {
        return Ok(PollOutcome::Succeeded { body: None });
    }
    if !(200..300).contains(&resp.status) {
        return Err(classify(
            resp.status,
            resp.header("x-ms-error-code"),
            retry_after(resp, now),
            &resp.body,
        ));
    }
    let body = resp.json();
    match provisioning_state(&body) {
        None => Ok(PollOutcome::Succeeded { body }),
        Some(s) if s.eq_ignore_ascii_case("Succeeded") => Ok(PollOutcome::Succeeded { body }),
        Some(s) if is_terminal(&s) => Ok(PollOutcome::Failed(AzureError::InvalidSpec {
            status: 0,
            code: format!("ProvisioningState{s}"),
            message: format!("{} ended in provisioning state {s}", handle.resource_id),
        })),
        Some(_) => Ok(PollOutcome::InProgress {
            retry_after: next_poll(resp, cfg, now),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-10-01 12:00 UTC);

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> RawResponse {
        RawResponse::new(
            status,
            headers.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            body.as_bytes().to_vec(),
        )
    }

    fn cfg() -> LroConfig {
        LroConfig {
            default_retry_after: Duration::from_secs(7),
            ..LroConfig::default()
        }
    }

    fn handle(kind: LroKind, method: &str) -> LroHandle {
        LroHandle {
            url: "https://arm/op".into(),
            kind,
            resource_id: "/subscriptions/s/resourceGroups/rg".into(),
            method: method.into(),
            started_at: NOW,
            deadline: NOW + Duration::from_secs(600),
        }
    }

    #[test]
    fn handle_prefers_azure_async_operation_over_location() {
        let r = resp(
            201,
            &[
                ("Azure-AsyncOperation", "https://arm/aao"),
                ("Location", "https://arm/loc"),
            ],
            r#"{"properties":{"provisioningState":"Updating"}}"#,
        );
        let h = handle_from_response(
            "PUT",
            "https://arm/res",
            "/id",
            &r,
            NOW,
            Duration::from_secs(60),
        )
        .expect("lro");
        assert_eq!(h.kind, LroKind::AzureAsyncOperation);
        assert_eq!(h.url, "https://arm/aao");
        assert_eq!(h.deadline, NOW + Duration::from_secs(60));

        let r = resp(
            202,
            &[("Location", "https://arm/loc"), ("Retry-After", "17")],
            "",
        );
        let h = handle_from_response(
            "PUT",
            "https://arm/res",
            "/id",
            &r,
            NOW,
            Duration::from_secs(60),
        )
        .expect("lro");
        assert_eq!(
            (h.kind, h.url.as_str()),
            (LroKind::Location, "https://arm/loc")
        );
    }

    #[test]
    fn sync_answers_have_no_handle_and_non_terminal_bodies_do() {
        let done = resp(
            200,
            &[],
            r#"{"properties":{"provisioningState":"Succeeded"}}"#,
        );
        assert!(
            handle_from_response("PUT", "u", "/id", &done, NOW, Duration::from_secs(1)).is_none()
        );
        let no_state = resp(201, &[], r#"{"location":"westeurope"}"#);
        assert!(
            handle_from_response("PUT", "u", "/id", &no_state, NOW, Duration::from_secs(1))
                .is_none()
        );
        let deleted = resp(204, &[], "");
        assert!(
            handle_from_response("DELETE", "u", "/id", &deleted, NOW, Duration::from_secs(1))
                .is_none()
        );
        let creating = resp(
            201,
            &[],
            r#"{"properties":{"provisioningState":"Creating"}}"#,
        );
        let h = handle_from_response(
            "PUT",
            "https://arm/res",
            "/id",
            &creating,
            NOW,
            Duration::from_secs(1),
        )
        .expect("lro");
        assert_eq!(
            (h.kind, h.url.as_str()),
            (LroKind::ProvisioningState, "https://arm/res")
        );
        let bare_202 = resp(202, &[], "");
        assert_eq!(
            handle_from_response(
                "DELETE",
                "https://arm/res",
                "/id",
                &bare_202,
                NOW,
                Duration::from_secs(1)
            )
            .map(|h| h.kind),
            Some(LroKind::ProvisioningState)
        );
    }

    #[test]
    fn handle_round_trips_through_json() {
        let h = handle(LroKind::Location, "DELETE");
        let text = serde_json::to_string(&h).expect("ser");
        assert!(
            text.contains("\"startedAt\":\"2026-10-01T12:00:00Z\""),
            "{text}"
        );
        let back: LroHandle = serde_json::from_str(&text).expect("de");
        assert_eq!(back, h);
    }

    #[test]
    fn async_operation_paths() {
        let h = handle(LroKind::AzureAsyncOperation, "PUT");
        let in_progress = resp(200, &[("Retry-After", "3")], r#"{"status":"InProgress"}"#);
        assert_eq!(
            interpret_poll(&h, &in_progress, &cfg(), NOW),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_secs(3)
            })
        );
        let ms = resp(
            200,
            &[("retry-after-ms", "250"), ("Retry-After", "3")],
            r#"{"status":"Accepted"}"#,
        );
        assert_eq!(
            interpret_poll(&h, &ms, &cfg(), NOW),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_millis(250)
            })
        );
        let no_header = resp(200, &[], r#"{"status":"InProgress"}"#);
        assert_eq!(
            interpret_poll(&h, &no_header, &cfg(), NOW),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_secs(7)
            })
        );
        let ok = resp(200, &[], r#"{"status":"Succeeded"}"#);
        assert_eq!(
            interpret_poll(&h, &ok, &cfg(), NOW),
            Ok(PollOutcome::Succeeded { body: None })
        );
        let failed = resp(
            200,
            &[],
            r#"{"status":"Failed","error":{"code":"NetcfgSubnetRangesOverlap","message":"Subnet 'a' overlaps 'b'"}}"#,
        );
        match interpret_poll(&h, &failed, &cfg(), NOW) {
            Ok(PollOutcome::Failed(e)) => {
                assert_eq!(e.code(), Some("NetcfgSubnetRangesOverlap"));
                assert!(e.to_string().contains("overlaps"));
                assert!(!e.is_retryable());
            }
            other => panic!("{other:?}"),
        }
        let canceled = resp(200, &[], r#"{"status":"Canceled"}"#);
        match interpret_poll(&h, &canceled, &cfg(), NOW) {
            Ok(PollOutcome::Failed(e)) => assert_eq!(e.code(), Some("OperationCanceled")),
            other => panic!("{other:?}"),
        }
        let busy = resp(
            200,
            &[],
            r#"{"status":"Failed","error":{"code":"AnotherOperationInProgress","message":"m"}}"#,
        );
        match interpret_poll(&h, &busy, &cfg(), NOW) {
            Ok(PollOutcome::Failed(e)) => assert!(e.is_retryable()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn async_operation_read_failures_are_errors_not_failures() {
        let h = handle(LroKind::AzureAsyncOperation, "PUT");
        let e500 = resp(
            500,
            &[],
            r#"{"error":{"code":"InternalServerError","message":"m"}}"#,
        );
        assert!(matches!(
            interpret_poll(&h, &e500, &cfg(), NOW),
            Err(AzureError::Transient { .. })
        ));
        let garbage = resp(200, &[], "<html>");
        assert!(interpret_poll(&h, &garbage, &cfg(), NOW).is_err());
        let no_status = resp(200, &[], "{}");
        assert!(interpret_poll(&h, &no_status, &cfg(), NOW).is_err());
        let throttled = resp(429, &[("Retry-After", "9")], "");
        assert_eq!(
            interpret_poll(&h, &throttled, &cfg(), NOW),
            Err(AzureError::Throttled {
                code: "Http429".into(),
                retry_after: Duration::from_secs(9)
            })
        );
    }

    #[test]
    fn location_paths() {
        let h = handle(LroKind::Location, "PUT");
        let pending = resp(202, &[], "");
        assert_eq!(
            interpret_poll(&h, &pending, &cfg(), NOW),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_secs(7)
            })
        );
        let done = resp(
            200,
            &[],
            r#"{"name":"acct","properties":{"provisioningState":"Succeeded"}}"#,
        );
        match interpret_poll(&h, &done, &cfg(), NOW) {
            Ok(PollOutcome::Succeeded { body: Some(b) }) => assert_eq!(b["name"], "acct"),
            other => panic!("{other:?}"),
        }
        let gone = resp(204, &[], "");
        assert_eq!(
            interpret_poll(&h, &gone, &cfg(), NOW),
            Ok(PollOutcome::Succeeded { body: None })
        );
        let failed = resp(
            400,
            &[],
            r#"{"error":{"code":"NetworkAclsValidationFailure","message":"subnet lacks the service endpoint"}}"#,
        );
        match interpret_poll(&h, &failed, &cfg(), NOW) {
            Ok(PollOutcome::Failed(e)) => {
                assert_eq!(e.code(), Some("NetworkAclsValidationFailure"))
            }
            other => panic!("{other:?}"),
        }
        let unavailable = resp(503, &[], "");
        assert!(interpret_poll(&h, &unavailable, &cfg(), NOW).is_err());
    }

    #[test]
    fn provisioning_state_paths() {
        let h = handle(LroKind::ProvisioningState, "PUT");
        let creating = resp(
            200,
            &[],
            r#"{"properties":{"provisioningState":"Creating"}}"#,
        );
        assert!(matches!(
            interpret_poll(&h, &creating, &cfg(), NOW),
            Ok(PollOutcome::InProgress { .. })
        ));
        let ok = resp(
            200,
            &[],
            r#"{"properties":{"provisioningState":"Succeeded"}}"#,
        );
        assert!(matches!(
            interpret_poll(&h, &ok, &cfg(), NOW),
            Ok(PollOutcome::Succeeded { body: Some(_) })
        ));
        let failed = resp(200, &[], r#"{"properties":{"provisioningState":"Failed"}}"#);
        match interpret_poll(&h, &failed, &cfg(), NOW) {
            Ok(PollOutcome::Failed(e)) => assert_eq!(e.code(), Some("ProvisioningStateFailed")),
            other => panic!("{other:?}"),
        }
        let d = handle(LroKind::ProvisioningState, "DELETE");
        assert_eq!(
            interpret_poll(&d, &resp(404, &[], ""), &cfg(), NOW),
            Ok(PollOutcome::Succeeded { body: None })
        );
    }

    #[test]
    fn retry_after_http_date_and_cap() {
        let r = resp(202, &[("Retry-After", "Thu, 01 Oct 2026 12:00:30 GMT")], "");
        assert_eq!(retry_after(&r, NOW), Some(Duration::from_secs(30)));
        let past = resp(202, &[("Retry-After", "Thu, 01 Oct 2026 11:00:00 GMT")], "");
        assert_eq!(retry_after(&past, NOW), Some(Duration::ZERO));
        let huge = resp(202, &[("Retry-After", "86400")], "");
        let h = handle(LroKind::Location, "PUT");
        assert_eq!(
            interpret_poll(&h, &huge, &cfg(), NOW),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_secs(600)
            })
        );
        assert_eq!(retry_after(&resp(202, &[], ""), NOW), None);
    }

    #[test]
    fn past_the_deadline_an_unfinished_operation_expires_in_any_state() {
        let h = handle(LroKind::AzureAsyncOperation, "PUT");
        let late = NOW + Duration::from_secs(601);
        let running = resp(200, &[], r#"{"status":"InProgress"}"#);
        assert_eq!(
            interpret_poll(&h, &running, &cfg(), late),
            Ok(PollOutcome::Expired)
        );
        // Unreadable, throttled, failing: past the deadline all the same.
        for unreadable in [
            resp(
                500,
                &[],
                r#"{"error":{"code":"InternalServerError","message":"m"}}"#,
            ),
            resp(429, &[("Retry-After", "9")], ""),
            resp(200, &[], "<html>"),
        ] {
            assert_eq!(
                interpret_poll(&h, &unreadable, &cfg(), late),
                Ok(PollOutcome::Expired)
            );
        }
        assert_eq!(
            past_deadline(
                &h,
                Err(AzureError::transient("Connect", "connection refused")),
                late
            ),
            Ok(PollOutcome::Expired)
        );
        // Before the deadline they are what they were.
        assert_eq!(
            past_deadline(
                &h,
                Ok(PollOutcome::InProgress {
                    retry_after: Duration::from_secs(1)
                }),
                NOW
            ),
            Ok(PollOutcome::InProgress {
                retry_after: Duration::from_secs(1)
            })
        );
        // A finished operation is reported even when polled late.
        let ok = resp(200, &[], r#"{"status":"Succeeded"}"#);
        assert_eq!(
            interpret_poll(&h, &ok, &cfg(), late),
            Ok(PollOutcome::Succeeded { body: None })
        );
        let failed = resp(
            200,
            &[],
            r#"{"status":"Failed","error":{"code":"QuotaExceeded","message":"m"}}"#,
        );
        assert!(matches!(
            interpret_poll(&h, &failed, &cfg(), late),
            Ok(PollOutcome::Failed(_))
        ));
    }

    #[test]
    fn a_status_url_that_answers_404_means_the_operation_is_gone() {
        let not_found = resp(
            404,
            &[("x-ms-error-code", "OperationNotFound")],
            r#"{"error":{"code":"OperationNotFound","message":"The operation was not found."}}"#,
        );
        for (kind, method) in [
            (LroKind::AzureAsyncOperation, "PUT"),
            (LroKind::AzureAsyncOperation, "DELETE"),
            (LroKind::Location, "PUT"),
            (LroKind::Location, "DELETE"),
            (LroKind::ProvisioningState, "PUT"),
        ] {
            assert_eq!(
                interpret_poll(&handle(kind, method), &not_found, &cfg(), NOW),
                Ok(PollOutcome::Gone),
                "{kind:?} {method}"
            );
        }
        // A DELETE followed through the resource: its 404 is the answer.
        assert_eq!(
            interpret_poll(
                &handle(LroKind::ProvisioningState, "DELETE"),
                &not_found,
                &cfg(),
                NOW
            ),
            Ok(PollOutcome::Succeeded { body: None })
        );
    }
}
