//! The Tags API at a scope: `{scope}/providers/Microsoft.Resources/tags/default`
//! (Tags_GetAtScope, Tags_CreateOrUpdateAtScope, Tags_UpdateAtScope). `scope` is a resource
//! group or a tracked resource (one with a `location`; proxy resources such as agent pools and
//! blob containers have no tags). PATCH takes `{"operation": "Merge"|"Replace"|"Delete",
//! "properties": {"tags": {...}}}`; Delete removes the tags whose name and value both match.
//! A write changes the resource's etag and is refused while the resource is busy.

use crate::api_versions;
use crate::errors::ArmError;
use crate::lro;
use crate::request::ArmRequest;
use crate::respond;
use crate::state::AppState;
use crate::store::new_etag;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// The suffix of a tags request, lower-cased.
pub const SUFFIX: &str = "/providers/microsoft.resources/tags/default";

/// The scope of a tags request, if `path` is one.
pub fn scope_of(path: &str) -> Option<&str> {
    let lower = path.to_ascii_lowercase();
    lower
        .strip_suffix(SUFFIX)
        .map(|scope| &path[..scope.len()])
        .filter(|s| !s.is_empty())
}

fn answer(scope: &str, tags: &Map<String, Value>) -> Response {
    respond::json(
        StatusCode::OK,
        &json!({
            "id": format!("{scope}/providers/Microsoft.Resources/tags/default"),
            "name": "default",
            "type": "Microsoft.Resources/tags",
            "properties": {"tags": tags},
        }),
    )
}

fn tags_in(body: &Value) -> Result<Map<String, Value>, ArmError> {
    match body.pointer("/properties/tags") {
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        None | Some(Value::Null) => Ok(Map::new()),
        _ => Err(ArmError::bad_request(
            "InvalidRequestContent",
            "properties.tags must be an object of strings.",
        )),
    }
}

pub fn at_scope(state: &AppState, req: &ArmRequest, scope: &str) -> Result<Response, ArmError> {
    api_versions::check(
        "Microsoft.Resources",
        "tags",
        req.api_version(),
        &state.config.extra_api_versions,
    )?;
    let mut store = state.store.lock();
    lro::settle(&mut store, &state.registry, Instant::now());
    let Some(existing) = store.get(scope).cloned() else {
        return Err(ArmError::not_found(
            "ResourceNotFound",
            format!("The Resource '{scope}' was not found."),
        ));
    };
    let tracked = existing.body.get("location").is_some_and(|l| !l.is_null());
    if !tracked {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type '{}' does not support tags.",
                existing.type_name
            ),
        ));
    }
    let current: Map<String, Value> = existing
        .body
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if req.method == Method::GET {
        return Ok(answer(scope, &current));
    }
    if existing.pending.is_some() {
        return Err(ArmError::conflict(
            "AnotherOperationInProgress",
            format!("The resource '{scope}' is being changed by another operation."),
        ));
    }
    let body = req.json_body()?;
    let given = tags_in(&body)?;
    let next = match (
        req.method.clone(),
        body.get("operation").and_then(Value::as_str),
    ) {
        (Method::PUT, _) => given,
        (Method::PATCH, Some("Replace")) => given,
        (Method::PATCH, Some("Merge")) => {
            let mut t = current;
            t.extend(given);
            t
        }
        (Method::PATCH, Some("Delete")) => {
            let mut t = current;
            t.retain(|k, v| given.get(k) != Some(v));
            t
        }
        (Method::PATCH, other) => {
            return Err(ArmError::bad_request(
                "InvalidRequestContent",
                format!(
                    "The tags operation '{}' is invalid (Merge|Replace|Delete).",
                    other.unwrap_or("<missing>")
                ),
            ));
        }
        _ => {
            return Err(ArmError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The method is not allowed on tags.",
            ));
        }
    };
    if let Some(res) = store.get_mut(scope) {
        res.body["tags"] = Value::Object(next.clone());
        res.etag = new_etag();
    }
    Ok(answer(scope, &next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tags_path_names_its_scope() {
        assert_eq!(
            scope_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/providers/Microsoft.Resources/tags/default"
            ),
            Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
            )
        );
        assert_eq!(
            scope_of(
                "/subscriptions/s/resourceGroups/rg/providers/microsoft.resources/TAGS/default"
            ),
            Some("/subscriptions/s/resourceGroups/rg")
        );
        assert_eq!(scope_of("/subscriptions/s/resourceGroups/rg"), None);
    }
}
