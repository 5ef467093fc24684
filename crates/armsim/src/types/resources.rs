//! Microsoft.Resources: resource groups — the worked example of a resource type.
//!
//! Resource groups have their own paths (`/subscriptions/{s}/resourceGroups/{rg}`) so the
//! handlers live here, but the type implements [`ResourceType`] like any other: PUT is
//! synchronous (201 new / 200 existing, `Succeeded`), DELETE is asynchronous (202 + `Location`
//! at `/subscriptions/{s}/operationresults/{op}`) and cascades to everything inside.

use super::util::{normalize_location, require_location};
use super::{Flow, PutContext, ResourceType};
use crate::api_versions;
use crate::armid::resource_group_id;
use crate::errors::ArmError;
use crate::lro::{self, retry_headers};
use crate::request::ArmRequest;
use crate::respond;
use crate::state::{AppState, render};
use crate::store::{OpKind, Resource, new_etag};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const TYPE: &str = "Microsoft.Resources/resourceGroups";

pub struct ResourceGroups;

impl ResourceType for ResourceGroups {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id_str.rsplit('/').next().unwrap_or("");
        validate_name(name)?;
        let location = require_location(&ctx.body)?;
        if let Some(existing) = ctx.existing.and_then(Resource::location)
            && normalize_location(existing) != location
        {
            return Err(ArmError::conflict(
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{location}'. The Resource group already exists in location '{existing}'."
                ),
            ));
        }
        let mut out = json!({"location": location, "properties": {}});
        for k in ["tags", "managedBy"] {
            if let Some(v) = ctx.body.get(k).filter(|v| !v.is_null()) {
                out[k] = v.clone();
            }
        }
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::Sync
    }

    fn delete_flow(&self) -> Flow {
        Flow::Location
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Delete => Duration::from_secs(10),
            _ => Duration::ZERO,
        }
    }
}

/// Resource group names: 1–90 of letters, digits, `_ - . ( )`, not ending in a period.
pub fn validate_name(name: &str) -> Result<(), ArmError> {
    let ok = !name.is_empty()
        && name.len() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ArmError::bad_request(
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{name}' has these invalid characters or length."
            ),
        ))
    }
}

fn check_api(state: &AppState, req: &ArmRequest) -> Result<(), ArmError> {
    api_versions::check(
        "Microsoft.Resources",
        "resourceGroups",
        req.api_version(),
        &state.config.extra_api_versions,
    )
}

pub fn put(
    state: &AppState,
    req: &ArmRequest,
    sub: &str,
    rg: &str,
    is_patch: bool,
) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let incoming = req.json_body()?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let id = resource_group_id(sub, rg);
    let existing = store.get(&id).cloned();
    if is_patch && existing.is_none() {
        return Err(ArmError::resource_group_not_found(rg));
    }
    if let Some(e) = &existing {
        ResourceGroups.check_write(e, &store).map_err(|_| {
            ArmError::conflict(
                "ResourceGroupBeingDeleted",
                format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
            )
        })?;
    }
    let body = match (&existing, is_patch) {
        (Some(e), true) => {
            let mut merged = e.body.clone();
            crate::merge_patch::apply_arm(&mut merged, &incoming);
            merged
        }
        _ => incoming,
    };
    let id_str = existing.as_ref().map(|e| e.id.clone()).unwrap_or(id);
    let parsed = crate::armid::ResourceId {
        subscription: sub.into(),
        resource_group: rg.into(),
        namespace: "Microsoft.Resources".into(),
        segments: vec![("resourceGroups".into(), rg.into())],
    };
    let mut body = ResourceGroups.validate(PutContext {
        id: &parsed,
        id_str: &id_str,
        body,
        existing: existing.as_ref(),
        store: &store,
        api_version: req.api_version().unwrap_or_default(),
        is_patch,
    })?;
    body["id"] = Value::String(id_str.clone());
    body["name"] = Value::String(id_str.rsplit('/').next().unwrap_or(rg).to_string());
    body["type"] = Value::String(TYPE.into());
    lro::set_provisioning_state(&mut body, "Succeeded");
    let res = Resource {
        id: id_str.clone(),
        type_name: TYPE.into(),
        body,
        etag: new_etag(),
        pending: None,
    };
    store.insert(res);
    let out = store
        .get(&id_str)
        .map(|r| render(&state.registry, &store, r));
    drop(store);
    state.persist();
    let status = if existing.is_some() || is_patch {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(respond::json(status, &out.unwrap_or_default()))
}

pub fn get(state: &AppState, req: &ArmRequest, sub: &str, rg: &str) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let res = store
        .get(&resource_group_id(sub, rg))
        .ok_or_else(|| ArmError::resource_group_not_found(rg))?;
    Ok(respond::json(
        StatusCode::OK,
        &render(&state.registry, &store, res),
    ))
}

/// HEAD (check existence): 204 or 404.
pub fn head(state: &AppState, req: &ArmRequest, sub: &str, rg: &str) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    Ok(if store.contains(&resource_group_id(sub, rg)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    })
}

pub fn delete(
    state: &AppState,
    req: &ArmRequest,
    sub: &str,
    rg: &str,
) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let mut res = store
        .get(&resource_group_id(sub, rg))
        .cloned()
        .ok_or_else(|| ArmError::resource_group_not_found(rg))?;
    let op_id = match &res.pending {
        Some(p) if p.kind == OpKind::Delete => p.op_id.clone(),
        _ => {
            let latency = state
                .config
                .latency_for(TYPE, ResourceGroups.typical_latency(OpKind::Delete));
            let op = lro::begin(
                &mut store,
                &mut res,
                OpKind::Delete,
                latency,
                ResourceGroups.provisioning_stages(OpKind::Delete),
                req.async_fail.clone(),
            );
            store.insert(res);
            op
        }
    };
    drop(store);
    state.persist();
    let url = format!(
        "{}/subscriptions/{sub}/operationresults/{op_id}?api-version={}",
        state.base_url,
        req.api_version().unwrap_or_default()
    );
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("location", v);
    }
    retry_headers(resp.headers_mut(), state.config.retry_after);
    Ok(resp)
}

pub fn list(state: &AppState, req: &ArmRequest, sub: &str) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let prefix = format!("/subscriptions/{sub}/").to_ascii_lowercase();
    let items: Vec<Value> = store
        .of_type(TYPE)
        .filter(|r| r.id.to_ascii_lowercase().starts_with(&prefix))
        .map(|r| render(&state.registry, &store, r))
        .collect();
    drop(store);
    Ok(crate::crud::page(state, req, items))
}

/// Generic resource lists (`/subscriptions/{s}[/resourceGroups/{rg}]/resources`): the
/// top-level resources, with their common fields.
pub fn list_resources(
    state: &AppState,
    req: &ArmRequest,
    sub: &str,
    rg: Option<&str>,
) -> Result<Response, ArmError> {
    check_api(state, req)?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let scope = match rg {
        Some(rg) => {
            crate::crud::check_resource_group(&store, sub, rg, false)?;
            resource_group_id(sub, rg)
        }
        None => format!("/subscriptions/{sub}"),
    };
    let items: Vec<Value> = store
        .descendants(&scope)
        .filter(|r| r.type_name != TYPE && r.type_name.matches('/').count() == 1)
        .map(|r| {
            let mut v = json!({"id": r.id, "name": r.name(), "type": r.type_name});
            for k in ["location", "tags", "zones", "sku", "kind"] {
                if let Some(x) = r.body.get(k) {
                    v[k] = x.clone();
                }
            }
            v
        })
        .collect();
    drop(store);
    Ok(crate::crud::page(state, req, items))
}
