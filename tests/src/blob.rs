//! A small Azure Blob REST client: Shared Key request signing, account SAS, and the handful of
//! operations the tests need (containers, page blobs, Put Page, Copy Blob, Get Blob).
//! Path-style URLs only (`http://host:port/<account>/<container>/<blob>`), as Azurite serves.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use sha2::Sha256;

/// x-ms-version sent with every request (accepted by Azurite 3.35 and by Azure).
pub const API_VERSION: &str = "2021-08-06";

/// Errors from the blob client.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The account key is not valid base64.
    #[error("account key of {account} is not base64: {source}")]
    Key {
        account: String,
        #[source]
        source: base64::DecodeError,
    },
    /// The request could not be sent.
    #[error("{op}: request failed: {source}")]
    Http {
        op: String,
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with an unexpected status.
    #[error("{op}: unexpected status {status}: {body}")]
    Status {
        op: String,
        status: StatusCode,
        body: String,
    },
}

/// HMAC-SHA256 of `text` with `key`, base64.
pub fn sign(key: &[u8], text: &str) -> String {
    // HMAC accepts keys of any length; new_from_slice only fails for fixed-size MACs.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(text.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The Shared Key string-to-sign (Blob service, version ≥ 2015-02-21).
/// `headers` are (lower-case name, value); `path` is the URL path (for path-style URLs it starts
/// with `/<account>`); `query` are the decoded query parameters.
pub fn string_to_sign(
    method: &str,
    headers: &[(String, String)],
    account: &str,
    path: &str,
    query: &[(String, String)],
) -> String {
    let h = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    // A zero Content-Length is signed as the empty string.
    let content_length = match h("content-length") {
        "0" => "",
        v => v,
    };
    let mut ms: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    ms.sort();
    let canonical_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();
    q.sort();
    let canonical_query: String = q.iter().map(|(k, v)| format!("\n{k}:{v}")).collect();
    format!(
        "{method}\n{}\n{}\n{content_length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{canonical_headers}/{account}{path}{canonical_query}",
        h("content-encoding"),
        h("content-language"),
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    )
}

/// The account-SAS string-to-sign (version ≥ 2020-12-06, no encryption scope).
pub fn account_sas_string_to_sign(
    account: &str,
    permissions: &str,
    expiry: &str,
    version: &str,
) -> String {
    // account, sp, ss, srt, st, se, sip, spr, sv, ses, and a final newline.
    format!("{account}\n{permissions}\nb\nsco\n\n{expiry}\n\nhttps,http\n{version}\n\n")
}

/// A client for one storage account.
#[derive(Debug, Clone)]
pub struct BlobClient {
    http: reqwest::Client,
    endpoint: String,
    account: String,
    key: Vec<u8>,
}

/// Properties of a blob (from HEAD).
#[derive(Debug, Clone)]
pub struct BlobProperties {
    /// Content-Length.
    pub length: u64,
    /// x-ms-blob-type.
    pub blob_type: String,
    /// x-ms-copy-status, when the blob is a copy destination.
    pub copy_status: Option<String>,
    /// x-ms-copy-progress (`copied/total`).
    pub copy_progress: Option<String>,
    /// The blob's metadata (`x-ms-meta-*`, names without the prefix, lower-cased).
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl BlobClient {
    /// `endpoint` is the service root (`http://127.0.0.1:<port>`); `key` is base64.
    pub fn new(endpoint: &str, account: &str, key: &str) -> Result<BlobClient, BlobError> {
        let key = B64.decode(key).map_err(|source| BlobError::Key {
            account: account.to_string(),
            source,
        })?;
        Ok(BlobClient {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            account: account.to_string(),
            key,
        })
    }

    /// URL of a container or blob: `<endpoint>/<account>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.endpoint,
            self.account,
            path.trim_start_matches('/')
        )
    }

    /// An account SAS query string (no leading `?`) valid for an hour, for blob service
    /// objects with `permissions` (e.g. `r`).
    pub fn account_sas(&self, permissions: &str) -> String {
        self.account_sas_until(permissions, chrono::Utc::now() + chrono::Duration::hours(1))
    }

    /// An account SAS that expires at `expiry` (in the past for an expired one).
    pub fn account_sas_until(
        &self,
        permissions: &str,
        expiry: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let expiry = expiry.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let sig = sign(
            &self.key,
            &account_sas_string_to_sign(&self.account, permissions, &expiry, API_VERSION),
        );
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "sv={API_VERSION}&ss=b&srt=sco&sp={permissions}&se={}&spr=https,http&sig={}",
            enc(&expiry),
            enc(&sig)
        )
    }

    async fn send(
        &self,
        op: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        extra: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, BlobError> {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut headers: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date),
            ("x-ms-version".into(), API_VERSION.into()),
            ("content-length".into(), body.len().to_string()),
        ];
        headers.extend(extra.iter().map(|(k, v)| (k.to_lowercase(), v.clone())));
        let url_path = format!("/{}/{}", self.account, path.trim_start_matches('/'));
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sts = string_to_sign(method.as_str(), &headers, &self.account, &url_path, &q);
        let auth = format!("SharedKey {}:{}", self.account, sign(&self.key, &sts));
        let mut req = self
            .http
            .request(method, self.url(path))
            .query(query)
            .body(body);
        // Content-Length is sent explicitly: reqwest omits it for empty bodies, and Azurite's
        // request router requires it on Put Blob.
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req = req.header("authorization", auth);
        req.send().await.map_err(|source| BlobError::Http {
            op: op.to_string(),
            source,
        })
    }

    async fn expect(
        resp: reqwest::Response,
        op: &str,
        ok: &[StatusCode],
    ) -> Result<reqwest::Response, BlobError> {
        if ok.contains(&resp.status()) {
            return Ok(resp);
        }
        let status = resp.status();
        let code = header(&resp, "x-ms-error-code").unwrap_or_default();
        let body = format!("[{code}] {}", resp.text().await.unwrap_or_default());
        Err(BlobError::Status {
            op: op.to_string(),
            status,
            body,
        })
    }

    /// Create Container.
    pub async fn create_container(&self, container: &str) -> Result<(), BlobError> {
        let op = format!("create container {}/{container}", self.account);
        let r = self
            .send(
                &op,
                Method::PUT,
                container,
                &[("restype", "container")],
                &[],
                Vec::new(),
            )
            .await?;
        Self::expect(r, &op, &[StatusCode::CREATED]).await.map(drop)
    }

    /// Put Blob creating an empty page blob of `size` bytes (a multiple of 512).
    pub async fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        size: u64,
    ) -> Result<(), BlobError> {
        let op = format!("create page blob {}/{container}/{blob}", self.account);
        let headers = [
            ("x-ms-blob-type", "PageBlob".to_string()),
            ("x-ms-blob-content-length", size.to_string()),
        ];
        let r = self
            .send(
                &op,
                Method::PUT,
                &format!("{container}/{blob}"),
                &[],
                &headers,
                Vec::new(),
            )
            .await?;
        Self::expect(r, &op, &[StatusCode::CREATED]).await.map(drop)
    }

    /// Put Page: writes `data` (a multiple of 512 bytes, at most 4 MiB) at `offset`.
    pub async fn put_page(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), BlobError> {
        let end = offset + data.len() as u64 - 1;
        let op = format!(
            "put page {}/{container}/{blob} bytes={offset}-{end}",
            self.account
        );
        let headers = [
            ("x-ms-page-write", "update".to_string()),
            ("x-ms-range", format!("bytes={offset}-{end}")),
        ];
        let r = self
            .send(
                &op,
                Method::PUT,
                &format!("{container}/{blob}"),
                &[("comp", "page")],
                &headers,
                data,
            )
            .await?;
        Self::expect(r, &op, &[StatusCode::CREATED]).await.map(drop)
    }

    /// Copy Blob: starts an asynchronous copy from `source_url` into `container/blob`; returns
    /// x-ms-copy-status of the answer.
    pub async fn start_copy(
        &self,
        container: &str,
        blob: &str,
        source_url: &str,
    ) -> Result<String, BlobError> {
        let op = format!("copy blob into {}/{container}/{blob}", self.account);
        let r = self
            .send(
                &op,
                Method::PUT,
                &format!("{container}/{blob}"),
                &[],
                &[("x-ms-copy-source", source_url.to_string())],
                Vec::new(),
            )
            .await?;
        let r = Self::expect(r, &op, &[StatusCode::ACCEPTED]).await?;
        Ok(header(&r, "x-ms-copy-status").unwrap_or_default())
    }

    /// Get Blob Properties.
    pub async fn properties(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<BlobProperties, BlobError> {
        let op = format!("get properties of {}/{container}/{blob}", self.account);
        let r = self
            .send(
                &op,
                Method::HEAD,
                &format!("{container}/{blob}"),
                &[],
                &[],
                Vec::new(),
            )
            .await?;
        let r = Self::expect(r, &op, &[StatusCode::OK]).await?;
        Ok(BlobProperties {
            length: header(&r, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            blob_type: header(&r, "x-ms-blob-type").unwrap_or_default(),
            copy_status: header(&r, "x-ms-copy-status"),
            copy_progress: header(&r, "x-ms-copy-progress"),
            metadata: r
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    let name = k.as_str().strip_prefix("x-ms-meta-")?;
                    Some((name.to_string(), v.to_str().ok()?.to_string()))
                })
                .collect(),
        })
    }

    /// Get Blob: the whole content.
    pub async fn get(&self, container: &str, blob: &str) -> Result<Vec<u8>, BlobError> {
        let op = format!("get blob {}/{container}/{blob}", self.account);
        let r = self
            .send(
                &op,
                Method::GET,
                &format!("{container}/{blob}"),
                &[],
                &[],
                Vec::new(),
            )
            .await?;
        let r = Self::expect(r, &op, &[StatusCode::OK]).await?;
        r.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|source| BlobError::Http { op, source })
    }
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_layout() {
        let headers = vec![
            ("x-ms-version".to_string(), "2021-08-06".to_string()),
            (
                "x-ms-date".to_string(),
                "Fri, 21 Nov 2025 06:00:00 GMT".to_string(),
            ),
            ("content-length".to_string(), "0".to_string()),
        ];
        let q = vec![("restype".to_string(), "container".to_string())];
        let s = string_to_sign("PUT", &headers, "acct", "/acct/c1", &q);
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 21 Nov 2025 06:00:00 GMT\nx-ms-version:2021-08-06\n/acct/acct/c1\nrestype:container"
        );
    }

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", "what do ya want for nothing?");
        assert_eq!(
            B64.decode(sig).expect("b64"),
            hex_decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
