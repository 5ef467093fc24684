//! Dispatch of ARM paths to handlers.

use crate::armid::parse_segments;
use crate::crud::{self, ListScope};
use crate::errors::ArmError;
use crate::lro;
use crate::request::ArmRequest;
use crate::state::AppState;
use crate::types::resources as rg;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn method_not_allowed() -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested method is not allowed on this resource.",
    )
}

fn no_route(path: &str) -> ArmError {
    ArmError::not_found("NoRouteFound", format!("No route registered for '{path}'."))
}

pub fn route(state: &AppState, req: &ArmRequest) -> Result<Response, ArmError> {
    let path = req.path.trim_end_matches('/').to_string();
    if let Some(scope) = crate::tags::scope_of(&path) {
        return crate::tags::at_scope(state, req, scope);
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    if segs.len() < 2 || !eq(segs[0], "subscriptions") {
        return Err(no_route(&path));
    }
    let sub = segs[1];
    match segs.len() {
        2 if *m == Method::GET => {
            return Ok(crate::respond::json(
                StatusCode::OK,
                &json!({"id": format!("/subscriptions/{sub}"), "subscriptionId": sub,
                        "displayName": "azop-armsim", "state": "Enabled"}),
            ));
        }
        3 if eq(segs[2], "resourcegroups") => {
            return if *m == Method::GET {
                rg::list(state, req, sub)
            } else {
                Err(method_not_allowed())
            };
        }
        3 if eq(segs[2], "resources") => {
            return rg::list_resources(state, req, sub, None);
        }
        4 if eq(segs[2], "resourcegroups") => {
            let name = segs[3];
            return match *m {
                Method::GET => rg::get(state, req, sub, name),
                Method::HEAD => rg::head(state, req, sub, name),
                Method::PUT => rg::put(state, req, sub, name, false),
                Method::PATCH => rg::put(state, req, sub, name, true),
                Method::DELETE => rg::delete(state, req, sub, name),
                _ => Err(method_not_allowed()),
            };
        }
        4 if eq(segs[2], "operationresults") => {
            return lro::location_status(state, segs[3], &self_url(state, req));
        }
        5 if eq(segs[2], "resourcegroups") && eq(segs[4], "resources") => {
            return rg::list_resources(state, req, sub, Some(segs[3]));
        }
        _ => {}
    }
    if eq(segs[2], "providers") {
        let ns = segs.get(3).copied().unwrap_or("");
        return match segs.len() {
            5 if *m == Method::GET => crud::list(
                state,
                req,
                ListScope::Subscription {
                    sub,
                    namespace: ns,
                    type_name: format!("{ns}/{}", segs[4]),
                },
            ),
            5 if *m == Method::POST => crud::provider_action(state, req, sub, ns, segs[4]),
            7 if eq(segs[4], "locations") && *m == Method::GET => {
                crud::location_read(state, req, sub, ns, segs[5], segs[6])
            }
            8 if eq(segs[4], "locations") && *m == Method::GET => {
                let op = segs[7];
                let kind = segs[6].to_ascii_lowercase();
                let monitor = req
                    .query("monitor")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                match kind.as_str() {
                    "operations" => lro::async_status(state, op),
                    "asyncoperations" if !monitor => lro::async_status(state, op),
                    "asyncoperations" | "operationresults" => {
                        lro::location_status(state, op, &self_url(state, req))
                    }
                    _ => Err(no_route(&path)),
                }
            }
            _ => Err(no_route(&path)),
        };
    }
    if segs.len() == 7 && eq(segs[2], "resourcegroups") && eq(segs[4], "providers") {
        return if *m == Method::GET {
            crud::list(
                state,
                req,
                ListScope::ResourceGroup {
                    sub,
                    rg: segs[3],
                    namespace: segs[5],
                    type_name: format!("{}/{}", segs[5], segs[6]),
                },
            )
        } else {
            Err(method_not_allowed())
        };
    }
    let Some((id, tail)) = parse_segments(&segs) else {
        return Err(no_route(&path));
    };
    match tail {
        None => match *m {
            Method::GET => crud::get(state, req, &id),
            Method::PUT => crud::put(state, req, &id, false),
            Method::PATCH => crud::put(state, req, &id, true),
            Method::DELETE => crud::delete(state, req, &id),
            _ => Err(method_not_allowed()),
        },
        Some(t) => match *m {
            // A GET view of one resource that is not a child collection (a VM's
            // `instanceView`) is answered by the type's action of that name.
            Method::GET
                if state
                    .registry
                    .get(&format!("{}/{t}", id.type_name()))
                    .is_none()
                    && state.registry.get(&id.type_name()).is_some() =>
            {
                crud::action(state, req, &id, &t)
            }
            Method::GET => {
                let type_name = format!("{}/{t}", id.type_name());
                crud::list(
                    state,
                    req,
                    ListScope::Children {
                        parent: &id,
                        type_name,
                    },
                )
            }
            Method::POST => crud::action(state, req, &id, &t),
            _ => Err(method_not_allowed()),
        },
    }
}

fn self_url(state: &AppState, req: &ArmRequest) -> String {
    let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if q.is_empty() {
        format!("{}{}", state.base_url, req.path)
    } else {
        format!("{}{}?{}", state.base_url, req.path, q.join("&"))
    }
}
