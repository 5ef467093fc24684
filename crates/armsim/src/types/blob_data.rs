//! The blob data plane behind storage accounts: a minimal, blocking client for the Azurite
//! the simulator was configured with ([`crate::BlobService`]). Containers created or deleted
//! through ARM are created or deleted in Azurite too, as on Azure, where the management-plane
//! container *is* the data-plane one.
//!
//! Blocking on purpose: resource types are synchronous and run under the store's lock; a
//! loopback call to Azurite takes a few milliseconds.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The blob API version spoken (accepted by Azurite 3.35).
const VERSION: &str = "2024-11-04";

/// An Azurite account: endpoint, name, key.
#[derive(Debug, Clone)]
pub struct DataPlane {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub account: String,
    pub key: String,
}

/// Azure Storage's Shared Key signature of a request without a body (Azurite checks it as
/// Azure does). `path` is the URL path (path style: `/<account>/<container>/...`),
/// `x_ms_headers` every `x-ms-*` header sent, `query` the query pairs. Returns the signature
/// and the query string to send (sorted, lower-case names, as signed).
pub fn shared_key(
    account: &str,
    key_b64: &str,
    method: &str,
    path: &str,
    x_ms_headers: &[(&str, &str)],
    query: &[(&str, &str)],
) -> Result<(String, String), String> {
    let mut headers: Vec<(String, &str)> = x_ms_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    headers.sort();
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_string()))
        .collect();
    q.sort();
    let mut to_sign = format!("{method}\n\n\n\n\n\n\n\n\n\n\n\n");
    for (k, v) in &headers {
        to_sign.push_str(&format!("{k}:{v}\n"));
    }
    to_sign.push_str(&format!("/{account}{path}"));
    for (k, v) in &q {
        to_sign.push_str(&format!("\n{k}:{v}"));
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .map_err(|e| format!("account key is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("hmac: {e}"))?;
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let query_string = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok((sig, query_string))
}

pub fn rfc1123_now() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

impl DataPlane {
    fn host_port(&self) -> Option<String> {
        let u = url::Url::parse(&self.endpoint).ok()?;
        Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
    }

    /// One request; `query` pairs are sorted for the signature. Returns status and body.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        let date = rfc1123_now();
        let full_path = format!("/{}{path}", self.account);
        let (sig, query_string) = shared_key(
            &self.account,
            &self.key,
            method,
            &full_path,
            &[("x-ms-date", &date), ("x-ms-version", VERSION)],
            query,
        )?;
        let target = if query_string.is_empty() {
            full_path
        } else {
            format!("{full_path}?{query_string}")
        };
        let host = self.host_port().ok_or("bad Azurite endpoint")?;
        let mut stream =
            TcpStream::connect(&host).map_err(|e| format!("connect to Azurite {host}: {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nx-ms-date: {date}\r\nx-ms-version: {VERSION}\r\nAuthorization: SharedKey {}:{sig}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.account
        );
        stream
            .write_all(req.as_bytes())
            .map_err(|e| format!("write to Azurite: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| format!("read from Azurite: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP status from Azurite: {text:.200}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Create Container; an existing one is fine.
    pub fn create_container(&self, name: &str) -> Result<(), String> {
        let (status, body) = self.call("PUT", &format!("/{name}"), &[("restype", "container")])?;
        match status {
            200..=299 | 409 => Ok(()),
            _ => Err(format!(
                "Azurite create container {name}: {status} {body:.300}"
            )),
        }
    }

    /// Delete Container; a missing one is fine.
    pub fn delete_container(&self, name: &str) -> Result<(), String> {
        let (status, body) =
            self.call("DELETE", &format!("/{name}"), &[("restype", "container")])?;
        match status {
            200..=299 | 404 => Ok(()),
            _ => Err(format!(
                "Azurite delete container {name}: {status} {body:.300}"
            )),
        }
    }

    /// Names of every container (one page: the simulator's accounts hold a few).
    pub fn list_containers(&self) -> Result<Vec<String>, String> {
        let (status, body) = self.call("GET", "/", &[("comp", "list")])?;
        if !(200..300).contains(&status) {
            return Err(format!("Azurite list containers: {status} {body:.300}"));
        }
        Ok(body
            .split("<Container>")
            .skip(1)
            .filter_map(|c| {
                let s = c.find("<Name>")? + "<Name>".len();
                let e = c[s..].find("</Name>")? + s;
                Some(c[s..e].to_string())
            })
            .collect())
    }
}
