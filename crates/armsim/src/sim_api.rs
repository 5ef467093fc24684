//! `/_sim/`: fault injection, inventory, request log, reset.
//!
//! - `GET /_sim/faults` → `{"value":[fault…]}`; `POST /_sim/faults` (a `FaultSpec`) → 201 the
//!   fault with its `id`; `DELETE /_sim/faults` clears them all.
//! - `GET /_sim/inventory` → `{"value":[resource…]}`, each the ARM JSON a GET returns.
//! - `GET /_sim/requests[?method=&path=&status=&principal=]` → `{"value":[record…]}`;
//!   `DELETE /_sim/requests` clears the log.
//! - `POST /_sim/reset` → 204: empties the store, faults, request log and throttle buckets.

use crate::faults::FaultSpec;
use crate::introspect::RequestFilter;
use crate::respond;
use crate::state::{AppState, render};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub type Shared = State<Arc<AppState>>;

pub async fn list_faults(State(s): Shared) -> Response {
    respond::json(StatusCode::OK, &json!({"value": s.faults.list()}))
}

pub async fn add_fault(State(s): Shared, Json(spec): Json<FaultSpec>) -> Response {
    match s.faults.add(spec) {
        Ok(f) => respond::json(StatusCode::CREATED, &json!(f)),
        Err(e) => {
            crate::errors::ArmError::bad_request("InvalidFault", e.to_string()).into_response()
        }
    }
}

pub async fn clear_faults(State(s): Shared) -> StatusCode {
    s.faults.clear();
    StatusCode::NO_CONTENT
}

pub fn inventory_of(s: &AppState) -> Vec<Value> {
    let mut store = s.store.lock();
    crate::lro::settle(&mut store, &s.registry, std::time::Instant::now());
    store
        .all()
        .map(|r| render(&s.registry, &store, r))
        .collect()
}

pub async fn inventory(State(s): Shared) -> Response {
    respond::json(StatusCode::OK, &json!({"value": inventory_of(&s)}))
}

pub fn filter_from(q: &HashMap<String, String>) -> RequestFilter {
    RequestFilter {
        method: q.get("method").cloned(),
        path: q.get("path").cloned(),
        status: q.get("status").and_then(|v| v.parse().ok()),
        principal: q.get("principal").cloned(),
    }
}

pub async fn requests(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    respond::json(
        StatusCode::OK,
        &json!({"value": s.requests.list(&filter_from(&q))}),
    )
}

pub async fn clear_requests(State(s): Shared) -> StatusCode {
    s.requests.clear();
    StatusCode::NO_CONTENT
}

pub fn reset_all(s: &AppState) {
    s.store.lock().clear();
    s.faults.clear();
    s.requests.clear();
    s.throttle.reset();
    s.persist();
}

pub async fn reset(State(s): Shared) -> StatusCode {
    reset_all(&s);
    StatusCode::NO_CONTENT
}
