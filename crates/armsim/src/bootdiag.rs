//! Boot diagnostics' data plane: what the SAS URIs `retrieveBootDiagnosticsData` hands out
//! serve. In Azure they point at a storage account Azure manages; here at
//! `/_sim/bootdiagnostics/{vmId}/{file}?se=<unix expiry>&sig=<HMAC>`, checked like a SAS
//! (403 when expired or altered). The serial log is the guest's console with `--machines`,
//! empty without a guest; there is no screenshot (Linux guests, no display).

use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;

pub const SERIAL_LOG: &str = "serialconsole.log";
pub const SCREENSHOT: &str = "screenshot.bmp";

/// The signature of a link to `file` of VM `vm_id`, valid until `expiry` (unix seconds).
pub fn sign(key: &[u8], vm_id: &str, file: &str, expiry: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{vm_id}\n{file}\n{expiry}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether a link is genuine and not expired at `now` (pure).
pub fn valid(key: &[u8], vm_id: &str, file: &str, expiry: i64, sig: &str, now: i64) -> bool {
    now <= expiry && sign(key, vm_id, file, expiry) == sig
}

fn storage_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut r = (status, body).into_response();
    if let Ok(v) = code.parse() {
        r.headers_mut().insert("x-ms-error-code", v);
    }
    r
}

pub async fn serve(
    State(state): State<Arc<AppState>>,
    Path((vm_id, file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let expiry = q.get("se").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let sig = q.get("sig").map(String::as_str).unwrap_or("");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if !valid(&state.sas_key, &vm_id, &file, expiry, sig, now) {
        return storage_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request: the signature is not valid or has expired.",
        );
    }
    if file != SERIAL_LOG {
        return storage_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    }
    let bytes = match &state.machines {
        Some(m) => tokio::fs::read(m.serial_log(&vm_id))
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_valid_until_it_expires_and_only_for_its_vm_and_file() {
        let key = b"k";
        let sig = sign(key, "vm", SERIAL_LOG, 100);
        assert!(valid(key, "vm", SERIAL_LOG, 100, &sig, 100));
        assert!(!valid(key, "vm", SERIAL_LOG, 100, &sig, 101), "expired");
        assert!(
            !valid(key, "other", SERIAL_LOG, 100, &sig, 50),
            "another VM"
        );
        assert!(!valid(key, "vm", SCREENSHOT, 100, &sig, 50), "another file");
        assert!(
            !valid(key, "vm", SERIAL_LOG, 200, &sig, 50),
            "another expiry"
        );
    }
}
