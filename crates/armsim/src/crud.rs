//! GET / PUT / PATCH / DELETE / list / POST-action on provider resources, generic over
//! [`ResourceType`].

use crate::api_versions;
use crate::armid::{ResourceId, resource_group_id};
use crate::errors::ArmError;
use crate::lro::{self, op_urls, retry_headers};
use crate::request::ArmRequest;
use crate::respond;
use crate::state::{AppState, render};
use crate::store::{OpKind, Resource, Store, new_etag};
use crate::types::{ActionContext, Flow, PutContext, ResourceType};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

fn check_api(
    state: &AppState,
    req: &ArmRequest,
    namespace: &str,
    type_name: &str,
) -> Result<(), ArmError> {
    api_versions::check(
        namespace,
        type_name,
        req.api_version(),
        &state.config.extra_api_versions,
    )
}

fn resource_type(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
) -> Result<Arc<dyn ResourceType>, ArmError> {
    let tn = id.type_name();
    check_api(state, req, &id.namespace, &tn)?;
    state.registry.get(&tn).ok_or_else(|| {
        ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace '{}' for api version '{}'.",
                tn.split_once('/').map(|(_, t)| t).unwrap_or(&tn),
                id.namespace,
                req.api_version().unwrap_or_default()
            ),
        )
    })
}

/// 404 ResourceGroupNotFound unless the group exists; 409 while it is being deleted (writes).
pub fn check_resource_group(
    store: &Store,
    sub: &str,
    rg: &str,
    writing: bool,
) -> Result<(), ArmError> {
    match store.get(&resource_group_id(sub, rg)) {
        None => Err(ArmError::resource_group_not_found(rg)),
        Some(r) if writing && r.pending.as_ref().is_some_and(|p| p.kind == OpKind::Delete) => {
            Err(ArmError::conflict(
                "ResourceGroupBeingDeleted",
                format!(
                    "The resource group '{rg}' is in deprovisioning state and cannot perform this operation."
                ),
            ))
        }
        Some(_) => Ok(()),
    }
}

fn not_found(ty: &dyn ResourceType, id: &ResourceId) -> ArmError {
    let tn = id.type_name();
    ArmError::not_found(
        ty.not_found_code(),
        format!(
            "The Resource '{}/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            tn,
            id.name(),
            id.resource_group
        ),
    )
}

fn locked_settled(state: &AppState) -> parking_lot::MutexGuard<'_, Store> {
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    store
}

pub fn get(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let ty = resource_type(state, req, id)?;
    let store = locked_settled(state);
    check_resource_group(&store, &id.subscription, &id.resource_group, false)?;
    let res = store
        .get(&id.to_id())
        .ok_or_else(|| not_found(ty.as_ref(), id))?;
    let mut body = render(&state.registry, &store, res);
    if let Some(expand) = req.query("$expand") {
        ty.expand(expand, res, &store, &mut body);
    }
    Ok(respond::with_etag(
        respond::json(StatusCode::OK, &body),
        &res.etag,
    ))
}

/// The location used in operation URLs: the resource's, else its top-level parent's.
fn op_location(store: &Store, id: &ResourceId, body: &Value) -> String {
    if let Some(l) = body.get("location").and_then(Value::as_str) {
        return l.to_string();
    }
    let mut top = id.clone();
    top.segments.truncate(1);
    store
        .get(&top.to_id())
        .and_then(|r| r.location().map(str::to_string))
        .unwrap_or_else(|| "global".into())
}

pub fn put(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    is_patch: bool,
) -> Result<Response, ArmError> {
    let ty = resource_type(state, req, id)?;
    let incoming = req.json_body()?;
    let api_version = req.api_version().unwrap_or_default().to_string();
    let mut store = locked_settled(state);
    check_resource_group(&store, &id.subscription, &id.resource_group, true)?;
    if let Some(parent) = id.parent()
        && !store.contains(&parent.to_id())
    {
        return Err(ArmError::not_found(
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                parent.name()
            ),
        ));
    }
    let existing = store.get(&id.to_id()).cloned();
    crate::preconditions::check(
        req.header("if-match"),
        req.header("if-none-match"),
        existing.as_ref(),
    )?;
    if is_patch && existing.is_none() {
        return Err(not_found(ty.as_ref(), id));
    }
    if let Some(e) = &existing {
        ty.check_write(e, &store)?;
    }
    let body = if is_patch {
        let mut merged = existing
            .as_ref()
            .map(|e| e.body.clone())
            .unwrap_or_default();
        crate::merge_patch::apply_arm(&mut merged, &incoming);
        merged
    } else {
        incoming
    };
    let id_str = existing
        .as_ref()
        .map(|e| e.id.clone())
        .unwrap_or_else(|| id.to_id());
    if let Some(max) = ty.max_name_length()
        && id.name().chars().count() > max
    {
        return Err(ArmError::bad_request(
            "InvalidResourceName",
            format!(
                "Resource name {} is invalid. The name can be up to {max} characters long.",
                id.name()
            ),
        ));
    }
    crate::tag_rules::check(ty.tag_limits(), &body)?;
    let mut body = ty.validate(PutContext {
        id,
        id_str: &id_str,
        body,
        existing: existing.as_ref(),
        store: &store,
        api_version: &api_version,
        is_patch,
    })?;
    body["id"] = Value::String(id_str.clone());
    body["name"] = Value::String(id.name().to_string());
    body["type"] = Value::String(ty.type_name().to_string());
    let kind = if existing.is_some() {
        OpKind::Update
    } else {
        OpKind::Create
    };
    let flow = if is_patch {
        ty.patch_flow()
    } else {
        ty.put_flow()
    };
    let mut res = Resource {
        id: id_str.clone(),
        type_name: ty.type_name().to_string(),
        body,
        etag: new_etag(),
        pending: existing.and_then(|e| e.pending),
    };
    let location = op_location(&store, id, &res.body);
    let op_id = if flow == Flow::Sync {
        if let Some(old) = res.pending.take() {
            store.finish_operation(&old.op_id, crate::store::OpStatus::Canceled, None);
        }
        lro::set_provisioning_state(&mut res.body, "Succeeded");
        None
    } else {
        let latency = state
            .config
            .latency_for(ty.type_name(), ty.typical_latency(kind));
        Some(lro::begin(
            &mut store,
            &mut res,
            kind,
            latency,
            ty.provisioning_stages(kind),
            req.async_fail.clone(),
        ))
    };
    let etag = res.etag.clone();
    store.insert(res);
    ty.after_write(&id_str, &mut store);
    let rendered = store
        .get(&id_str)
        .map(|r| render(&state.registry, &store, r));
    drop(store);
    state.persist();

    let status = if kind == OpKind::Create && !is_patch {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = match (flow, rendered) {
        (Flow::Location, _) => StatusCode::ACCEPTED.into_response(),
        (_, Some(body)) => respond::json(status, &body),
        (_, None) => status.into_response(),
    };
    if let Some(op_id) = op_id {
        let urls = op_urls(
            &state.base_url,
            &id.subscription,
            &id.namespace,
            &location,
            &op_id,
            &api_version,
        );
        let h = resp.headers_mut();
        if matches!(flow, Flow::AsyncOperation | Flow::AsyncOperationAndLocation) {
            insert(h, "azure-asyncoperation", &urls.async_operation);
        }
        if matches!(flow, Flow::Location | Flow::AsyncOperationAndLocation) {
            insert(h, "location", &urls.location);
        }
        retry_headers(h, state.config.retry_after);
    }
    Ok(respond::with_etag(resp, &etag))
}

fn insert(h: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

pub fn delete(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let ty = resource_type(state, req, id)?;
    let api_version = req.api_version().unwrap_or_default().to_string();
    let mut store = locked_settled(state);
    check_resource_group(&store, &id.subscription, &id.resource_group, false)?;
    let Some(mut res) = store.get(&id.to_id()).cloned() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    crate::preconditions::check(req.header("if-match"), None, Some(&res))?;
    ty.check_delete(&res, &store)?;
    let flow = ty.delete_flow();
    if flow == Flow::Sync {
        store.remove_tree(&res.id);
        ty.after_delete(&res, &mut store);
        drop(store);
        state.persist();
        return Ok(StatusCode::OK.into_response());
    }
    let location = op_location(&store, id, &res.body);
    let op_id = match &res.pending {
        Some(p) if p.kind == OpKind::Delete => p.op_id.clone(),
        _ => {
            let latency = state
                .config
                .latency_for(ty.type_name(), ty.typical_latency(OpKind::Delete));
            let op = lro::begin(
                &mut store,
                &mut res,
                OpKind::Delete,
                latency,
                ty.provisioning_stages(OpKind::Delete),
                req.async_fail.clone(),
            );
            store.insert(res);
            op
        }
    };
    drop(store);
    state.persist();
    let urls = op_urls(
        &state.base_url,
        &id.subscription,
        &id.namespace,
        &location,
        &op_id,
        &api_version,
    );
    let mut resp = StatusCode::ACCEPTED.into_response();
    let h = resp.headers_mut();
    insert(h, "location", &urls.location);
    if matches!(flow, Flow::AsyncOperation | Flow::AsyncOperationAndLocation) {
        insert(h, "azure-asyncoperation", &urls.async_operation);
    }
    retry_headers(h, state.config.retry_after);
    Ok(resp)
}

/// Where a list looks.
pub enum ListScope<'a> {
    Subscription {
        sub: &'a str,
        namespace: &'a str,
        type_name: String,
    },
    ResourceGroup {
        sub: &'a str,
        rg: &'a str,
        namespace: &'a str,
        type_name: String,
    },
    Children {
        parent: &'a ResourceId,
        type_name: String,
    },
}

pub fn list(
    state: &AppState,
    req: &ArmRequest,
    scope: ListScope<'_>,
) -> Result<Response, ArmError> {
    let (ns, tn) = match &scope {
        ListScope::Subscription {
            namespace,
            type_name,
            ..
        }
        | ListScope::ResourceGroup {
            namespace,
            type_name,
            ..
        } => (namespace.to_string(), type_name.clone()),
        ListScope::Children { parent, type_name } => (parent.namespace.clone(), type_name.clone()),
    };
    check_api(state, req, &ns, &tn)?;
    if state.registry.get(&tn).is_none() {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!("The resource type '{tn}' could not be found."),
        ));
    }
    let store = locked_settled(state);
    let items: Vec<&Resource> = match &scope {
        ListScope::Subscription { sub, .. } => {
            let prefix = format!("/subscriptions/{sub}/").to_ascii_lowercase();
            store
                .of_type(&tn)
                .filter(|r| r.id.to_ascii_lowercase().starts_with(&prefix))
                .collect()
        }
        ListScope::ResourceGroup { sub, rg, .. } => {
            check_resource_group(&store, sub, rg, false)?;
            store
                .descendants(&resource_group_id(sub, rg))
                .filter(|r| r.type_name.eq_ignore_ascii_case(&tn))
                .collect()
        }
        ListScope::Children { parent, .. } => {
            check_resource_group(&store, &parent.subscription, &parent.resource_group, false)?;
            let pid = parent.to_id();
            if !store.contains(&pid) {
                let pt = state.registry.get(&parent.type_name());
                let code = pt
                    .as_ref()
                    .map(|t| t.not_found_code())
                    .unwrap_or("ResourceNotFound");
                return Err(ArmError::not_found(
                    code,
                    format!(
                        "The Resource '{}/{}' under resource group '{}' was not found.",
                        parent.type_name(),
                        parent.name(),
                        parent.resource_group
                    ),
                ));
            }
            store.children(&pid, &tn).collect()
        }
    };
    // Only the page's items are rendered: a subscription-wide list of thousands of
    // resources is walked page by page, and rendering every item for every page would make
    // a full walk quadratic.
    let keyed = items
        .into_iter()
        .map(|r| (r.id.to_ascii_lowercase(), r))
        .collect();
    let (window, next) = page_window(req, state.config.page_size, keyed);
    let value: Vec<Value> = window
        .into_iter()
        .map(|r| render(&state.registry, &store, r))
        .collect();
    drop(store);
    Ok(page_response(state, req, value, next))
}

/// One page of a list, with an absolute `nextLink` when more remain.
pub fn page(state: &AppState, req: &ArmRequest, items: Vec<Value>) -> Response {
    let keyed = items
        .into_iter()
        .map(|v| {
            let id = v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            (id, v)
        })
        .collect();
    let (value, next) = page_window(req, state.config.page_size, keyed);
    page_response(state, req, value, next)
}

/// The page after the request's `$skiptoken` of `items` keyed by lower-case id, and the
/// token of the page after it. ARM's skiptokens are continuation tokens, not offsets: the
/// token names the last id served, and the next page starts after it, so a resource created
/// or deleted while a client walks the pages shifts nothing — no existing item is skipped
/// or listed twice (an offset would skip one for every item created before it). Pure.
pub fn page_window<T>(
    req: &ArmRequest,
    size: usize,
    mut items: Vec<(String, T)>,
) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let after = req.query("$skiptoken").and_then(skiptoken_id);
    let mut rest: Vec<(String, T)> = match after {
        Some(after) => items.into_iter().filter(|(k, _)| *k > after).collect(),
        None => items,
    };
    let more = rest.len() > size;
    rest.truncate(size);
    let next = more
        .then(|| rest.last().map(|(k, _)| skiptoken_for(k)))
        .flatten();
    (rest.into_iter().map(|(_, v)| v).collect(), next)
}

/// The opaque token for "after this id": the id's bytes in hex (URL-safe as it is).
fn skiptoken_for(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn skiptoken_id(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn page_response(
    state: &AppState,
    req: &ArmRequest,
    value: Vec<Value>,
    next: Option<String>,
) -> Response {
    let mut body = serde_json::json!({ "value": value });
    if let Some(token) = next {
        body["nextLink"] = Value::String(format!(
            "{}{}?api-version={}&$skiptoken={token}",
            state.base_url,
            req.path,
            req.api_version().unwrap_or_default(),
        ));
    }
    respond::json(StatusCode::OK, &body)
}

pub fn action(
    state: &AppState,
    req: &ArmRequest,
    id: &ResourceId,
    name: &str,
) -> Result<Response, ArmError> {
    let ty = resource_type(state, req, id)?;
    let body = req.json_body()?;
    let api_version = req.api_version().unwrap_or_default().to_string();
    let store = locked_settled(state);
    check_resource_group(&store, &id.subscription, &id.resource_group, false)?;
    let res = store
        .get(&id.to_id())
        .ok_or_else(|| not_found(ty.as_ref(), id))?;
    let out = ty.action(
        name,
        ActionContext {
            resource: res,
            store: &store,
            body,
            api_version: &api_version,
            query: &req.query,
            kubeconfig: state.aks_kubeconfig.lock().clone(),
            base_url: &state.base_url,
            sas_key: &state.sas_key,
        },
    )?;
    Ok(respond::json(StatusCode::OK, &out))
}

pub fn provider_action(
    state: &AppState,
    req: &ArmRequest,
    sub: &str,
    namespace: &str,
    name: &str,
) -> Result<Response, ArmError> {
    check_api(state, req, namespace, &format!("{namespace}/{name}"))?;
    let f = state
        .registry
        .provider_action(namespace, name)
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidResourceType",
                format!(
                    "The resource type '{name}' could not be found in the namespace '{namespace}'."
                ),
            )
        })?;
    let body = req.json_body()?;
    let store = locked_settled(state);
    let out = f(sub, &body, &store)?;
    Ok(respond::json(StatusCode::OK, &out))
}

/// A provider-level GET in a location (`…/locations/{location}/kubernetesVersions`).
pub fn location_read(
    state: &AppState,
    req: &ArmRequest,
    sub: &str,
    namespace: &str,
    location: &str,
    name: &str,
) -> Result<Response, ArmError> {
    check_api(
        state,
        req,
        namespace,
        &format!("{namespace}/locations/{name}"),
    )?;
    let f = state
        .registry
        .location_read(namespace, name)
        .ok_or_else(|| {
            ArmError::not_found(
                "NoRouteFound",
                format!("No route registered for '{namespace}/locations/{name}'."),
            )
        })?;
    let out = f(sub, &crate::types::util::normalize_location(location))?;
    Ok(respond::json(StatusCode::OK, &out))
}
