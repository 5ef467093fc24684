//! Long-running operations: starting them, finishing them lazily when their time comes, the
//! polling headers, and the operation-status endpoints (Azure-AsyncOperation and Location).

use crate::errors::ArmError;
use crate::state::AppState;
use crate::store::{OpKind, OpStatus, Operation, Pending, Resource, Store, new_etag};
use crate::types::Registry;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Finishes every operation whose time has come.
pub fn settle(store: &mut Store, registry: &Registry, now: Instant) {
    for k in store.due(now) {
        complete(store, registry, &k);
    }
}

/// Finishes the operation running on `id` now, whatever its planned end.
pub fn complete(store: &mut Store, registry: &Registry, id: &str) {
    let Some(mut res) = store.get(id).cloned() else {
        return;
    };
    let Some(p) = res.pending.take() else {
        return;
    };
    let status = if p.fail.is_some() {
        OpStatus::Failed
    } else {
        OpStatus::Succeeded
    };
    if p.kind == OpKind::Delete && p.fail.is_none() {
        store.remove_tree(&res.id);
        if let Some(t) = registry.get(&res.type_name) {
            t.after_delete(&res, store);
        }
    } else {
        set_provisioning_state(&mut res.body, status.as_str());
        res.etag = new_etag();
        let ty = registry.get(&res.type_name);
        store.insert(res.clone());
        if let Some(t) = ty {
            t.after_write(&res.id, store);
        }
    }
    store.finish_operation(&p.op_id, status, p.fail);
    store.note_ended();
}

pub fn set_provisioning_state(body: &mut Value, state: &str) {
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("provisioningState".into(), Value::String(state.into()));
    }
}

/// Starts an operation on `res` (which the caller then stores). Returns the operation id.
pub fn begin(
    store: &mut Store,
    res: &mut Resource,
    kind: OpKind,
    latency: Duration,
    stages: Vec<String>,
    fail: Option<(String, String)>,
) -> String {
    let op_id = uuid::Uuid::new_v4().to_string();
    if let Some(old) = res.pending.take() {
        // A newer write supersedes the running one, as ARM does for most RPs.
        store.finish_operation(
            &old.op_id,
            OpStatus::Canceled,
            Some((
                "OperationPreempted".into(),
                "The operation was preempted by a newer operation.".into(),
            )),
        );
    }
    let now = Instant::now();
    if let Some(first) = stages.first() {
        set_provisioning_state(&mut res.body, first);
    }
    res.pending = Some(Pending {
        op_id: op_id.clone(),
        kind,
        started: now,
        done_at: now + latency,
        stages,
        fail,
    });
    store.put_operation(Operation {
        id: op_id.clone(),
        resource_id: res.id.clone(),
        kind,
        status: OpStatus::InProgress,
        start_time: OffsetDateTime::now_utc(),
        end_time: None,
        error: None,
    });
    op_id
}

/// Polling URLs of one operation.
pub struct OpUrls {
    pub async_operation: String,
    pub location: String,
}

pub fn op_urls(
    base: &str,
    sub: &str,
    namespace: &str,
    location: &str,
    op_id: &str,
    api_version: &str,
) -> OpUrls {
    let loc = if location.is_empty() {
        "global"
    } else {
        location
    };
    OpUrls {
        async_operation: format!(
            "{base}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operations/{op_id}?api-version={api_version}"
        ),
        location: format!(
            "{base}/subscriptions/{sub}/providers/{namespace}/locations/{loc}/operationResults/{op_id}?api-version={api_version}"
        ),
    }
}

/// `Retry-After` (whole seconds, only when ≥ 1 s) and `retry-after-ms`.
pub fn retry_headers(h: &mut HeaderMap, d: Duration) {
    if d >= Duration::from_secs(1)
        && let Ok(v) = HeaderValue::from_str(&d.as_secs().to_string())
    {
        h.insert("retry-after", v);
    }
    if let Ok(v) = HeaderValue::from_str(&d.as_millis().to_string()) {
        h.insert("retry-after-ms", v);
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The Azure-AsyncOperation status body: always 200 while the operation is known.
pub fn async_status(state: &AppState, op_id: &str) -> Result<Response, ArmError> {
    let op = lookup(state, op_id)?;
    let mut body = json!({
        "id": format!("/providers/operations/{}", op.id),
        "name": op.id,
        "status": op.status.as_str(),
        "startTime": rfc3339(op.start_time),
    });
    if let Some(end) = op.end_time {
        body["endTime"] = Value::String(rfc3339(end));
    }
    if let Some((code, message)) = &op.error {
        body["error"] = json!({"code": code, "message": message});
    }
    let mut resp = crate::respond::json(StatusCode::OK, &body);
    if op.status == OpStatus::InProgress {
        retry_headers(resp.headers_mut(), state.config.retry_after);
    }
    Ok(resp)
}

/// The Location flow: 202 (empty) while running; then the resource (PUT) or 204 (DELETE);
/// a failed operation answers its error with status 400.
pub fn location_status(
    state: &AppState,
    op_id: &str,
    self_url: &str,
) -> Result<Response, ArmError> {
    let op = lookup(state, op_id)?;
    match op.status {
        OpStatus::InProgress => {
            let mut resp = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(self_url) {
                resp.headers_mut().insert("location", v);
            }
            retry_headers(resp.headers_mut(), state.config.retry_after);
            Ok(resp)
        }
        OpStatus::Succeeded if op.kind == OpKind::Delete => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        OpStatus::Succeeded => {
            let store = state.store.lock();
            match store.get(&op.resource_id) {
                Some(res) => {
                    let body = crate::state::render(&state.registry, &store, res);
                    Ok(crate::respond::json(StatusCode::OK, &body))
                }
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        OpStatus::Failed | OpStatus::Canceled => {
            let (code, message) = op
                .error
                .unwrap_or_else(|| ("OperationFailed".into(), "The operation failed.".into()));
            Err(ArmError::bad_request(code, message))
        }
    }
}

fn lookup(state: &AppState, op_id: &str) -> Result<Operation, ArmError> {
    let mut store = state.store.lock();
    settle(&mut store, &state.registry, Instant::now());
    store.operation(op_id).cloned().ok_or_else(|| {
        ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{op_id}' could not be found."),
        )
    })
}
