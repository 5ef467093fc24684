//! `/_sim/`: fault injection, inventory, request log, reset.
//!
//! - `GET /_sim/faults` → `{"value":[fault…]}`; `POST /_sim/faults` (a `FaultSpec`) → 201 the
//!   fault with its `id`; `DELETE /_sim/faults` clears them all.
//! - `GET /_sim/inventory` → `{"value":[resource…]}`, each the ARM JSON a GET returns.
//! - `GET /_sim/requests[?method=&path=&status=&principal=]` → `{"value":[record…]}`;
//!   `DELETE /_sim/requests` clears the log.
//! - `POST /_sim/reset` → 204: empties the store, faults, request log and throttle buckets.
//! - `GET /_sim/machines` → `{"value":[machine…]}`: the guests (`--machines qemu`).
//! - AKS, to play what Azure does on its own: `POST /_sim/aks/upgrade {"id", "version"}`
//!   (the auto-upgrader moved a managed cluster and its pools), `POST /_sim/aks/autoscale
//!   {"id", "count"}` (the cluster autoscaler resized an agent pool), `POST
//!   /_sim/aks/rotate-credentials {"id"}` (certificates rotated: new kubeconfigs, new eTag),
//!   and `POST /_sim/aks/kubeconfig {"server", "caPem"?, "token"?}` (where the kubeconfigs
//!   point; `{}` resets). Each answers 204, or 404 for an unknown id.

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

/// `GET /_sim/machines` → `{"value":[machine…]}` (`--machines`; empty without).
pub async fn machines(State(s): Shared) -> Response {
    let list = s
        .machines
        .as_ref()
        .map(|m| m.machines.lock().clone())
        .unwrap_or_default();
    respond::json(StatusCode::OK, &json!({"value": list}))
}

pub async fn clear_faults(State(s): Shared) -> StatusCode {
    s.faults.clear();
    StatusCode::NO_CONTENT
}

pub fn inventory_of(s: &AppState) -> Vec<Value> {
    let out = {
        let mut store = s.store.lock();
        crate::lro::settle(&mut store, &s.registry, std::time::Instant::now());
        store
            .all()
            .map(|r| render(&s.registry, &store, r))
            .collect()
    };
    s.persist_ended();
    out
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

/// Runs `f` on the settled store, then saves the state file.
pub fn with_store<T>(
    s: &AppState,
    f: impl FnOnce(&mut crate::store::Store) -> Result<T, crate::errors::ArmError>,
) -> Result<T, crate::errors::ArmError> {
    let out = {
        let mut store = s.store.lock();
        crate::lro::settle(&mut store, &s.registry, std::time::Instant::now());
        f(&mut store)
    };
    s.persist();
    out
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn done(r: Result<(), crate::errors::ArmError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn aks_kubeconfig(State(s): Shared, Json(v): Json<Value>) -> Response {
    let target: Option<crate::config::KubeconfigTarget> = match v
        .get("server")
        .and_then(Value::as_str)
    {
        Some(_) => match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                return crate::errors::ArmError::bad_request("InvalidKubeconfig", e.to_string())
                    .into_response();
            }
        },
        None => None,
    };
    *s.aks_kubeconfig.lock() = target;
    StatusCode::NO_CONTENT.into_response()
}

pub async fn aks_upgrade(State(s): Shared, Json(v): Json<Value>) -> Response {
    done(with_store(&s, |store| {
        crate::types::containerservice::sim_auto_upgrade(
            store,
            field(&v, "id"),
            field(&v, "version"),
        )
    }))
}

pub async fn aks_autoscale(State(s): Shared, Json(v): Json<Value>) -> Response {
    let count = v.get("count").and_then(Value::as_i64).unwrap_or(-1);
    done(with_store(&s, |store| {
        crate::types::containerservice::sim_autoscale(store, field(&v, "id"), count)
    }))
}

pub async fn aks_rotate_credentials(State(s): Shared, Json(v): Json<Value>) -> Response {
    done(with_store(&s, |store| {
        crate::types::containerservice::sim_rotate_credentials(store, field(&v, "id"))
    }))
}
