//! The parts of an HTTP request the ARM handlers use.

use axum::http::{HeaderMap, Method};
use bytes::Bytes;

pub struct ArmRequest {
    pub method: Method,
    /// The percent-decoded path.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Set by fault injection: the operation this request starts must fail with this error.
    pub async_fail: Option<(String, String)>,
}

impl ArmRequest {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn api_version(&self) -> Option<&str> {
        self.query("api-version")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (an object); empty bodies are `{}`.
    pub fn json_body(&self) -> Result<serde_json::Value, crate::errors::ArmError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::json!({}));
        }
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .map_err(crate::errors::ArmError::invalid_request_content)?;
        if !v.is_object() {
            return Err(crate::errors::ArmError::invalid_request_content(
                "the body must be a JSON object",
            ));
        }
        Ok(v)
    }
}
