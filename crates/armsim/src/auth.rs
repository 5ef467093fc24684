//! The AAD-compatible side: the token endpoint, OpenID discovery documents, and bearer-token
//! checks on ARM calls.
//!
//! Access tokens are unsigned JWTs (`alg: none`) carrying `tid`, `oid`, `appid`, `iat`,
//! `exp`; the simulator trusts only tokens it can parse and that have not expired.

use crate::config::SimConfig;
use crate::errors::ArmError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub tid: String,
    pub oid: String,
    pub appid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A stable object id per (tenant, client).
fn object_id(tenant: &str, client_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{tenant}/{client_id}").as_bytes(),
    )
    .to_string()
}

pub fn issue(
    tenant: &str,
    client_id: &str,
    audience: &str,
    lifetime_secs: i64,
) -> (String, Claims) {
    let iat = now_unix();
    let claims = Claims {
        tid: tenant.to_string(),
        oid: object_id(tenant, client_id),
        appid: client_id.to_string(),
        iat,
        exp: iat + lifetime_secs,
        iss: format!("https://sts.armsim.local/{tenant}/"),
        aud: audience.to_string(),
    };
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
    (format!("{header}.{payload}."), claims)
}

fn decode_payload(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_h, p) = (parts.next()?, parts.next()?);
    serde_json::from_slice(&B64.decode(p.trim_end_matches('=')).ok()?).ok()
}

/// Checks the `Authorization` header of an ARM call.
pub fn check_bearer(header: Option<&str>) -> Result<Claims, ArmError> {
    let invalid = |m: &str| {
        ArmError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            m.to_string(),
        )
    };
    let Some(h) = header else {
        return Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .ok_or_else(|| {
            invalid("The access token is invalid: the Authorization header is not a Bearer token.")
        })?;
    let claims: Claims = decode_payload(token)
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| invalid("The access token is invalid."))?;
    if claims.exp <= now_unix() {
        return Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    Ok(claims)
}

/// 401 with `WWW-Authenticate` as ARM sends it.
pub fn unauthorized(err: ArmError, base_url: &str) -> Response {
    let mut resp = err.into_response();
    let v = format!(
        "Bearer authorization_uri=\"{base_url}/common/oauth2/authorize\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header or an invalid token.\""
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn aad_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{aadsts}: {description}"),
        "error_codes": [aadsts],
        "timestamp": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    crate::respond::json(status, &body)
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `POST /{tenant}/oauth2/v2.0/token` (and the v1 `/{tenant}/oauth2/token`).
pub fn token(config: &SimConfig, tenant: &str, form: &HashMap<String, String>) -> Response {
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant}'."),
        );
    }
    let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let principal = config
        .principals
        .as_ref()
        .map(|ps| ps.iter().find(|p| &p.client_id == client_id));
    if let Some(None) = principal {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    let known = principal.flatten();
    match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), _) => {
            if let Some(p) = known
                && p.client_secret.as_deref() != Some(secret.as_str())
            {
                return aad_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                );
            }
        }
        (None, Some(assertion)) => {
            if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    700024,
                    "Client assertion type is not supported: expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                );
            }
            let exp = decode_payload(assertion).and_then(|v| v.get("exp").and_then(Value::as_i64));
            match exp {
                None => {
                    return aad_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_client",
                        50027,
                        "JWT token is invalid or malformed.",
                    );
                }
                Some(e) if e <= now_unix() => {
                    return aad_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_client",
                        700024,
                        "Client assertion is not within its valid time range.",
                    );
                }
                Some(_) => {}
            }
        }
        (None, None) => {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    }
    let audience = form
        .get("scope")
        .map(|s| {
            s.split(' ')
                .next()
                .unwrap_or("")
                .trim_end_matches("/.default")
                .to_string()
        })
        .unwrap_or_default();
    let life = config.token_lifetime.as_secs() as i64;
    let (access_token, _) = issue(tenant, client_id, &audience, life);
    crate::respond::json(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": access_token}),
    )
}

/// `/{tenant}/v2.0/.well-known/openid-configuration`, what MSAL reads before the token call.
pub fn openid_configuration(base_url: &str, tenant: &str) -> Response {
    crate::respond::json(
        StatusCode::OK,
        &json!({
            "token_endpoint": format!("{base_url}/{tenant}/oauth2/v2.0/token"),
            "authorization_endpoint": format!("{base_url}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base_url}/{tenant}/oauth2/v2.0/devicecode"),
            "issuer": format!("{base_url}/{tenant}/v2.0"),
            "jwks_uri": format!("{base_url}/{tenant}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "WW",
        }),
    )
}

/// `/common/discovery/instance`: MSAL's instance discovery, answered for our host.
pub fn instance_discovery(base_url: &str, params: &HashMap<String, String>) -> Response {
    let host = base_url.split("://").nth(1).unwrap_or(base_url).to_string();
    let tenant = params
        .get("authorization_endpoint")
        .and_then(|a| a.split("://").nth(1))
        .and_then(|rest| rest.split('/').nth(1))
        .unwrap_or("common")
        .to_string();
    crate::respond::json(
        StatusCode::OK,
        &json!({
            "tenant_discovery_endpoint": format!("{base_url}/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_pass_and_expired_fail() {
        let (t, c) = issue("tenant", "app", "https://management.azure.com", 60);
        let got = check_bearer(Some(&format!("Bearer {t}"))).expect("valid");
        assert_eq!(got, c);
        let (old, _) = issue("tenant", "app", "aud", -1);
        let e = check_bearer(Some(&format!("Bearer {old}"))).expect_err("expired");
        assert_eq!(e.code, "ExpiredAuthenticationToken");
        let e = check_bearer(Some("Bearer garbage")).expect_err("garbage");
        assert_eq!(e.code, "InvalidAuthenticationToken");
    }
}
