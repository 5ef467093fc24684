//! The base-VHD copy: a server-side Copy Blob from a source URL (optionally with a SAS) into
//! a page blob of the StorageBinding's container, with progress, length verification and
//! abort.
//!
//! A small REST client of our own on reqwest (rustls), not azure_storage_blobs 0.21 nor
//! azure_storage_blob 1.x: the copy needs three calls (Copy Blob, Get Blob Properties,
//! Abort Copy Blob), and we must pin `x-ms-version` to what Azurite 3.35 accepts and read
//! the raw `x-ms-copy-*` headers. azure_storage_blobs 0.21 is unmaintained like the mgmt
//! crates; azure_storage_blob 1.x pulls a third azure_core (1.x) with a different credential
//! trait. See docs/provider.md.

use crate::credentials::SecretString;
use crate::error::AzureError;
use base64::Engine as _;
use std::collections::BTreeMap;
use url::Url;

/// The blob service version we speak: accepted by Azure and by Azurite 3.35 (≤ 2025-11-05).
pub const BLOB_API_VERSION: &str = "2024-11-04";

/// How requests to the destination account are authorized.
#[derive(Debug, Clone)]
pub enum BlobAuth {
    /// The account key (from `listKeys`), for Shared Key signing.
    SharedKey { account: String, key: SecretString },
    /// A SAS token (query string without the leading `?`).
    Sas(SecretString),
}

/// Copy status as Azure reports it in `x-ms-copy-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStatus {
    Pending,
    Success,
    Failed,
    Aborted,
}

impl CopyStatus {
    pub fn parse(s: &str) -> Option<CopyStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Some(CopyStatus::Pending),
            "success" => Some(CopyStatus::Success),
            "failed" => Some(CopyStatus::Failed),
            "aborted" => Some(CopyStatus::Aborted),
            _ => None,
        }
    }
}

/// Progress of a copy, from the destination blob's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyProgress {
    pub copy_id: Option<String>,
    pub status: CopyStatus,
    pub bytes_copied: u64,
    pub total_bytes: u64,
    /// `x-ms-copy-status-description` (why a copy failed).
    pub description: Option<String>,
    pub blob_type: Option<String>,
    pub content_length: Option<u64>,
}

/// Parse a Get Blob Properties / Copy Blob answer's headers (lower-case names). Pure.
pub fn parse_copy_properties(
    headers: &BTreeMap<String, String>,
) -> Result<CopyProgress, AzureError> {
    let get = |k: &str| headers.get(k).map(String::as_str);
    let status = get("x-ms-copy-status")
        .and_then(CopyStatus::parse)
        .ok_or_else(|| {
            AzureError::transient(
                "NoCopyStatus",
                "the blob has no x-ms-copy-status: no copy was started into it",
            )
        })?;
    let (bytes_copied, total_bytes) = match get("x-ms-copy-progress") {
        Some(p) => {
            let (a, b) = p.split_once('/').ok_or_else(|| {
                AzureError::transient(
                    "UnreadableCopyProgress",
                    format!("x-ms-copy-progress {p:?}"),
                )
            })?;
            let num = |s: &str| {
                s.trim().parse::<u64>().map_err(|_| {
                    AzureError::transient(
                        "UnreadableCopyProgress",
                        format!("x-ms-copy-progress {p:?}"),
                    )
                })
            };
            (num(a)?, num(b)?)
        }
        None => (0, 0),
    };
    Ok(CopyProgress {
        copy_id: get("x-ms-copy-id").map(str::to_owned),
        status,
        bytes_copied,
        total_bytes,
        description: get("x-ms-copy-status-description").map(str::to_owned),
        blob_type: get("x-ms-blob-type").map(str::to_owned),
        content_length: get("content-length").and_then(|v| v.parse().ok()),
    })
}

/// What the controller does next with a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyVerdict {
    /// Still running: report `bytes_copied/total_bytes` and poll again.
    InProgress,
    /// Done, and the blob is a page blob of the expected length.
    Verified { length: u64 },
    /// Azure ended it (or someone aborted it) or it finished wrong: an error for status.
    Failed(AzureError),
}

/// Pure: judge a progress report. `expected_length`: the source's length when known.
pub fn verdict(p: &CopyProgress, expected_length: Option<u64>) -> CopyVerdict {
    let fail = |code: &str, message: String| {
        CopyVerdict::Failed(AzureError::InvalidSpec {
            status: 0,
            code: code.to_owned(),
            message,
        })
    };
    match p.status {
        CopyStatus::Pending => CopyVerdict::InProgress,
        CopyStatus::Failed => fail(
            "CopyFailed",
            p.description
                .clone()
                .unwrap_or_else(|| "the copy failed".to_owned()),
        ),
        CopyStatus::Aborted => fail(
            "CopyAborted",
            p.description
                .clone()
                .unwrap_or_else(|| "the copy was aborted".to_owned()),
        ),
        CopyStatus::Success => {
            let length = p.content_length.unwrap_or(p.total_bytes);
            if let Some(t) = p.blob_type.as_deref()
                && !t.eq_ignore_ascii_case("PageBlob")
            {
                return fail(
                    "NotAPageBlob",
                    format!("the copied blob is a {t}; a VHD source must be a page blob"),
                );
            }
            if p.total_bytes != 0 && p.total_bytes != length {
                return fail(
                    "CopyLengthMismatch",
                    format!(
                        "copied {} of {} bytes but the blob is {length} bytes",
                        p.bytes_copied, p.total_bytes
                    ),
                );
            }
            if let Some(want) = expected_length
                && want != length
            {
                return fail(
                    "CopyLengthMismatch",
                    format!("the blob is {length} bytes, expected {want}"),
                );
            }
            if !length.is_multiple_of(512) {
                return fail(
                    "NotAVhd",
                    format!("the blob is {length} bytes, not a multiple of 512"),
                );
            }
            CopyVerdict::Verified { length }
        }
    }
}

/// A blob data-plane client for one account.
#[derive(Debug, Clone)]
pub struct BlobClient {
    http: reqwest::Client,
    /// The account's blob endpoint: `https://<account>.blob.core.windows.net/` or, for
    /// Azurite, `http://127.0.0.1:<port>/<account>/`.
    endpoint: Url,
    auth: BlobAuth,
    /// Read-only clients refuse writes unsent ([`crate::access`]).
    access: crate::access::Access,
}

fn rfc1123_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    now.format(&format).unwrap_or_default()
}

/// The Shared Key string-to-sign of the Blob service (2009-09-19 and later). Pure.
pub fn string_to_sign(
    method: &str,
    url: &Url,
    account: &str,
    headers: &BTreeMap<String, String>,
) -> String {
    let h = |k: &str| headers.get(k).map(String::as_str).unwrap_or("");
    let content_length = match h("content-length") {
        "0" => "",
        other => other,
    };
    let mut out = format!(
        "{method}\n{}\n{}\n{content_length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
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
    );
    for (k, v) in headers.iter().filter(|(k, _)| k.starts_with("x-ms-")) {
        out.push_str(&format!("{k}:{}\n", v.trim()));
    }
    out.push_str(&format!("/{account}{}", url.path()));
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.into_owned());
    }
    for (k, mut vs) in params {
        vs.sort();
        out.push_str(&format!("\n{k}:{}", vs.join(",")));
    }
    out
}

fn storage_error(
    status: u16,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    what: &str,
) -> AzureError {
    // The blob service answers XML: <Error><Code>…</Code><Message>…</Message></Error>.
    let text = String::from_utf8_lossy(body);
    let between = |open: &str, close: &str| {
        let s = text.find(open)? + open.len();
        let e = text[s..].find(close)? + s;
        Some(text[s..e].trim().to_owned())
    };
    let code = headers
        .get("x-ms-error-code")
        .cloned()
        .or_else(|| between("<Code>", "</Code>"))
        .unwrap_or_else(|| format!("Http{status}"));
    let message = between("<Message>", "</Message>")
        .unwrap_or_else(|| format!("{what}: http status {status}"));
    let message = message.lines().next().unwrap_or_default().to_owned();
    crate::error::classify_code(status, code, format!("{what}: {message}"), None)
}

impl BlobClient {
    pub fn new(endpoint: Url, auth: BlobAuth) -> Result<BlobClient, AzureError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .build()
            .map_err(|e| AzureError::config(format!("failed to build blob http client: {e}")))?;
        let mut endpoint = endpoint;
        if !endpoint.path().ends_with('/') {
            let p = format!("{}/", endpoint.path());
            endpoint.set_path(&p);
        }
        Ok(BlobClient {
            http,
            endpoint,
            auth,
            access: crate::access::Access::ReadWrite,
        })
    }

    /// The same client, refusing writes unsent when `access` is read-only (a plan observes
    /// a VHD copy on the data plane; [`crate::access`]).
    pub fn with_access(mut self, access: crate::access::Access) -> BlobClient {
        self.access = access;
        self
    }

    /// The account's blob endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `<endpoint><container>/<blob>`, without any SAS.
    pub fn blob_url(&self, container: &str, blob: &str) -> Result<Url, AzureError> {
        self.endpoint
            .join(&format!("{container}/{blob}"))
            .map_err(|e| AzureError::config(format!("invalid blob path {container}/{blob}: {e}")))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        extra: &[(&str, String)],
        body: Vec<u8>,
        what: &str,
    ) -> Result<(u16, BTreeMap<String, String>), AzureError> {
        let (status, headers, _) = self.send_body(method, url, extra, body, what).await?;
        Ok((status, headers))
    }

    async fn send_body(
        &self,
        method: reqwest::Method,
        mut url: Url,
        extra: &[(&str, String)],
        body: Vec<u8>,
        what: &str,
    ) -> Result<(u16, BTreeMap<String, String>, Vec<u8>), AzureError> {
        if !self.access.allows(method.as_str(), url.path()) {
            return Err(AzureError::WriteRefused {
                method: method.to_string(),
                path: format!("{} ({what})", url.path()),
            });
        }
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        headers.insert("x-ms-version".into(), BLOB_API_VERSION.into());
        headers.insert("x-ms-date".into(), rfc1123_now());
        headers.insert("content-length".into(), body.len().to_string());
        for (k, v) in extra {
            headers.insert(k.to_ascii_lowercase(), v.clone());
        }
        match &self.auth {
            BlobAuth::SharedKey { account, key } => {
                let to_sign = string_to_sign(method.as_str(), &url, account, &headers);
                let signature = azure_core::hmac::hmac_sha256(
                    &to_sign,
                    &azure_core::auth::Secret::new(key.expose().to_owned()),
                )
                .map_err(|_| AzureError::CredentialConfig {
                    secret: format!("storage account {account} key"),
                    reason: "the account key is not valid base64".to_owned(),
                })?;
                headers.insert(
                    "authorization".into(),
                    format!("SharedKey {account}:{signature}"),
                );
            }
            BlobAuth::Sas(sas) => {
                let existing = url.query().map(str::to_owned);
                let q = match existing {
                    Some(q) if !q.is_empty() => format!("{q}&{}", sas.expose()),
                    _ => sas.expose().to_owned(),
                };
                url.set_query(Some(&q));
            }
        }
        let mut req = self.http.request(method, url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.body(body).send().await.map_err(|e| {
            // reqwest's error text includes the URL, which may carry a SAS: keep it out.
            AzureError::transient("ConnectionFailed", format!("{what}: {}", e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let headers: BTreeMap<String, String> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect();
        let body = resp.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(storage_error(status, &headers, &body, what));
        }
        Ok((status, headers, body.to_vec()))
    }

    /// Create a private container (for tests and for accounts azop reaches on the data
    /// plane; the StorageBinding controller creates containers through ARM).
    pub async fn create_container(&self, container: &str) -> Result<(), AzureError> {
        let mut url = self
            .endpoint
            .join(container)
            .map_err(|e| AzureError::config(e.to_string()))?;
        url.query_pairs_mut().append_pair("restype", "container");
        match self
            .send(
                reqwest::Method::PUT,
                url,
                &[],
                Vec::new(),
                "create container",
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(AzureError::Busy { code, .. }) if code == "ContainerAlreadyExists" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Create an empty page blob of `length` bytes (a multiple of 512).
    pub async fn create_page_blob(
        &self,
        container: &str,
        blob: &str,
        length: u64,
    ) -> Result<(), AzureError> {
        let url = self.blob_url(container, blob)?;
        self.send(
            reqwest::Method::PUT,
            url,
            &[
                ("x-ms-blob-type", "PageBlob".into()),
                ("x-ms-blob-content-length", length.to_string()),
            ],
            Vec::new(),
            "create page blob",
        )
        .await
        .map(|_| ())
    }

    /// Write 512-aligned pages at `offset`.
    pub async fn put_pages(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), AzureError> {
        let mut url = self.blob_url(container, blob)?;
        url.query_pairs_mut().append_pair("comp", "page");
        let end = offset + data.len() as u64 - 1;
        self.send(
            reqwest::Method::PUT,
            url,
            &[
                ("x-ms-page-write", "update".into()),
                ("x-ms-range", format!("bytes={offset}-{end}")),
            ],
            data,
            "put pages",
        )
        .await
        .map(|_| ())
    }

    /// Start the server-side copy. `source_url` is any URL the service can read; `source_sas`
    /// is appended to it (never logged).
    pub async fn start_copy(
        &self,
        container: &str,
        blob: &str,
        source_url: &Url,
        source_sas: Option<&SecretString>,
    ) -> Result<CopyProgress, AzureError> {
        self.start_copy_with_metadata(container, blob, source_url, source_sas, &[])
            .await
    }

    /// [`BlobClient::start_copy`], setting metadata on the destination blob (`x-ms-meta-*`;
    /// names must be C# identifiers) — how azop marks the blobs it owns.
    pub async fn start_copy_with_metadata(
        &self,
        container: &str,
        blob: &str,
        source_url: &Url,
        source_sas: Option<&SecretString>,
        metadata: &[(&str, &str)],
    ) -> Result<CopyProgress, AzureError> {
        let mut source = source_url.clone();
        if let Some(sas) = source_sas {
            let q = match source.query() {
                Some(q) if !q.is_empty() => format!("{q}&{}", sas.expose().trim_start_matches('?')),
                _ => sas.expose().trim_start_matches('?').to_owned(),
            };
            source.set_query(Some(&q));
        }
        let url = self.blob_url(container, blob)?;
        let mut extra: Vec<(String, String)> =
            vec![("x-ms-copy-source".to_owned(), source.to_string())];
        for (k, v) in metadata {
            extra.push((format!("x-ms-meta-{k}"), (*v).to_owned()));
        }
        let extra: Vec<(&str, String)> =
            extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let (_, headers) = self
            .send(
                reqwest::Method::PUT,
                url,
                &extra,
                Vec::new(),
                "start blob copy",
            )
            .await?;
        let mut progress = parse_copy_properties(&headers)?;
        // Copy Blob's answer carries id and status only; length comes from the next poll.
        progress.content_length = None;
        Ok(progress)
    }

    /// Read the copy's progress from the destination blob.
    pub async fn copy_progress(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<CopyProgress, AzureError> {
        let url = self.blob_url(container, blob)?;
        let (_, headers) = self
            .send(
                reqwest::Method::HEAD,
                url,
                &[],
                Vec::new(),
                "get blob properties",
            )
            .await?;
        parse_copy_properties(&headers)
    }

    /// The blob's properties and metadata as headers (lower-case names), or `None` when the
    /// blob (or its container) does not exist.
    pub async fn properties(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Option<BTreeMap<String, String>>, AzureError> {
        let url = self.blob_url(container, blob)?;
        match self
            .send(
                reqwest::Method::HEAD,
                url,
                &[],
                Vec::new(),
                "get blob properties",
            )
            .await
        {
            Ok((_, headers)) => Ok(Some(headers)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `length` bytes from `offset` (a ranged Get Blob).
    pub async fn read_range(
        &self,
        container: &str,
        blob: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, AzureError> {
        let url = self.blob_url(container, blob)?;
        let end = offset + length.max(1) - 1;
        let (_, _, body) = self
            .send_body(
                reqwest::Method::GET,
                url,
                &[("x-ms-range", format!("bytes={offset}-{end}"))],
                Vec::new(),
                "read blob range",
            )
            .await?;
        Ok(body)
    }

    /// Set Blob Metadata: the blob's metadata becomes exactly `metadata` (names without the
    /// `x-ms-meta-` prefix); its content, properties and a copy's status are untouched.
    pub async fn set_metadata(
        &self,
        container: &str,
        blob: &str,
        metadata: &[(String, String)],
    ) -> Result<(), AzureError> {
        let mut url = self.blob_url(container, blob)?;
        url.query_pairs_mut().append_pair("comp", "metadata");
        let headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-ms-meta-{k}"), v.clone()))
            .collect();
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.send(
            reqwest::Method::PUT,
            url,
            &headers,
            Vec::new(),
            "set blob metadata",
        )
        .await
        .map(|_| ())
    }

    /// Delete the blob (and its snapshots). Already gone is done.
    pub async fn delete_blob(&self, container: &str, blob: &str) -> Result<(), AzureError> {
        let url = self.blob_url(container, blob)?;
        match self
            .send(
                reqwest::Method::DELETE,
                url,
                &[("x-ms-delete-snapshots", "include".into())],
                Vec::new(),
                "delete blob",
            )
            .await
        {
            Ok(_) | Err(AzureError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Abort a pending copy. A copy that already finished answers NoPendingCopyOperation,
    /// which is returned as an error for the caller to judge.
    pub async fn abort_copy(
        &self,
        container: &str,
        blob: &str,
        copy_id: &str,
    ) -> Result<(), AzureError> {
        let mut url = self.blob_url(container, blob)?;
        url.query_pairs_mut()
            .append_pair("comp", "copy")
            .append_pair("copyid", copy_id);
        self.send(
            reqwest::Method::PUT,
            url,
            &[("x-ms-copy-action", "abort".into())],
            Vec::new(),
            "abort blob copy",
        )
        .await
        .map(|_| ())
    }
}

/// The account name Shared Key signs with, from a blob endpoint: the first label of the host
/// (`https://<account>.blob.core.windows.net/`), or — for an IP or `localhost` endpoint in path
/// style, as Azurite and the Azure SDKs use it — the first path segment
/// (`http://127.0.0.1:10000/<account>/`). Pure.
pub fn data_plane_account(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?;
    let path_style = matches!(
        endpoint.host(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
    ) || host.eq_ignore_ascii_case("localhost");
    let name = if path_style {
        endpoint.path_segments()?.find(|s| !s.is_empty())?
    } else {
        host.split('.').next()?
    };
    (!name.is_empty()).then(|| name.to_owned())
}

/// One MiB: Azure wants a VHD's virtual size to be a whole number of them.
pub const MIB: u64 = 1024 * 1024;
/// Size of a VHD footer.
pub const VHD_FOOTER_LEN: u64 = 512;

/// What a valid fixed VHD footer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhdFooter {
    /// The disk's virtual size (`current size`), bytes.
    pub virtual_size: u64,
}

/// Why a blob is not a VHD Azure can make an image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VhdProblem {
    /// No `conectix` cookie in the last 512 bytes: not a VHD (or a VHDX, or raw).
    NoFooter,
    /// The footer's checksum does not match.
    BadChecksum,
    /// A dynamic (3) or differencing (4) VHD: Azure needs a fixed one.
    NotFixed { disk_type: u32 },
    /// The blob length is not the virtual size plus the footer.
    SizeMismatch { virtual_size: u64, blob_length: u64 },
    /// The virtual size is not a whole number of MiB.
    NotWholeMib { virtual_size: u64 },
}

impl std::fmt::Display for VhdProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VhdProblem::NoFooter => write!(
                f,
                "the blob has no VHD footer (no 'conectix' cookie in its last 512 bytes): Azure needs a fixed VHD; convert the image with `qemu-img convert -O vpc -o subformat=fixed,force_size`"
            ),
            VhdProblem::BadChecksum => write!(
                f,
                "the VHD footer's checksum is wrong: the file is damaged or not a VHD"
            ),
            VhdProblem::NotFixed { disk_type } => write!(
                f,
                "the VHD is {} (disk type {disk_type}); Azure makes images only from fixed VHDs: convert it with `qemu-img convert -O vpc -o subformat=fixed,force_size`",
                match disk_type {
                    3 => "dynamic",
                    4 => "differencing",
                    _ => "not fixed",
                }
            ),
            VhdProblem::SizeMismatch {
                virtual_size,
                blob_length,
            } => write!(
                f,
                "the blob is {blob_length} bytes but its VHD footer says the disk is {virtual_size} bytes (plus the 512-byte footer): the file is truncated or padded"
            ),
            VhdProblem::NotWholeMib { virtual_size } => write!(
                f,
                "the VHD's virtual size ({virtual_size} bytes) is not a whole number of MiB, which Azure requires: resize it (`qemu-img resize`) to a multiple of 1 MiB"
            ),
        }
    }
}

/// Checks a VHD footer (the blob's last 512 bytes) as Azure does before making an image: the
/// cookie, the checksum, a fixed disk, and a blob of exactly the virtual size plus the footer,
/// the size a whole number of MiB. Pure.
pub fn check_vhd_footer(footer: &[u8], blob_length: u64) -> Result<VhdFooter, VhdProblem> {
    if footer.len() != VHD_FOOTER_LEN as usize || &footer[0..8] != b"conectix" {
        return Err(VhdProblem::NoFooter);
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([footer[at], footer[at + 1], footer[at + 2], footer[at + 3]])
    };
    let be64 = |at: usize| (u64::from(be32(at)) << 32) | u64::from(be32(at + 4));
    let sum: u32 = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .map(|(_, b)| u32::from(*b))
        .fold(0u32, u32::wrapping_add);
    if !sum != be32(64) {
        return Err(VhdProblem::BadChecksum);
    }
    let disk_type = be32(60);
    if disk_type != 2 {
        return Err(VhdProblem::NotFixed { disk_type });
    }
    let virtual_size = be64(48);
    if blob_length != virtual_size + VHD_FOOTER_LEN {
        return Err(VhdProblem::SizeMismatch {
            virtual_size,
            blob_length,
        });
    }
    if virtual_size == 0 || !virtual_size.is_multiple_of(MIB) {
        return Err(VhdProblem::NotWholeMib { virtual_size });
    }
    Ok(VhdFooter { virtual_size })
}

/// A valid fixed-VHD footer for a disk of `virtual_size` bytes (for tests and fixtures; the
/// fields azop does not read are those qemu-img writes). Pure.
pub fn fixed_vhd_footer(virtual_size: u64, disk_type: u32) -> Vec<u8> {
    let mut f = vec![0u8; VHD_FOOTER_LEN as usize];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes());
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
    f[28..32].copy_from_slice(b"qemu");
    f[40..48].copy_from_slice(&virtual_size.to_be_bytes());
    f[48..56].copy_from_slice(&virtual_size.to_be_bytes());
    f[60..64].copy_from_slice(&disk_type.to_be_bytes());
    let sum: u32 = f
        .iter()
        .map(|b| u32::from(*b))
        .fold(0u32, u32::wrapping_add);
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
    f
}

/// The well-known base64 check used by tests and callers: is this a plausible account key?
pub fn is_base64_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pending_progress_is_parsed_and_in_progress() {
        let p = parse_copy_properties(&headers(&[
            ("x-ms-copy-status", "pending"),
            ("x-ms-copy-progress", "1048576/31457792"),
            ("x-ms-copy-id", "c0py"),
            ("x-ms-blob-type", "PageBlob"),
            ("content-length", "31457792"),
        ]))
        .expect("parse");
        assert_eq!(p.status, CopyStatus::Pending);
        assert_eq!((p.bytes_copied, p.total_bytes), (1_048_576, 31_457_792));
        assert_eq!(p.copy_id.as_deref(), Some("c0py"));
        assert_eq!(verdict(&p, None), CopyVerdict::InProgress);
    }

    #[test]
    fn failed_copy_keeps_the_description() {
        let p = parse_copy_properties(&headers(&[
            ("x-ms-copy-status", "failed"),
            ("x-ms-copy-progress", "0/1024"),
            (
                "x-ms-copy-status-description",
                "500 InternalError \"Copy failed when reading the source.\"",
            ),
        ]))
        .expect("parse");
        match verdict(&p, None) {
            CopyVerdict::Failed(e) => {
                assert_eq!(e.code(), Some("CopyFailed"));
                assert!(e.to_string().contains("reading the source"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aborted_copy_is_a_failure() {
        let p = parse_copy_properties(&headers(&[
            ("x-ms-copy-status", "aborted"),
            ("x-ms-copy-progress", "512/1024"),
        ]))
        .expect("parse");
        assert_eq!(p.status, CopyStatus::Aborted);
        assert!(
            matches!(verdict(&p, None), CopyVerdict::Failed(e) if e.code() == Some("CopyAborted"))
        );
    }

    #[test]
    fn success_is_verified_against_length_and_type() {
        let ok = headers(&[
            ("x-ms-copy-status", "success"),
            ("x-ms-copy-progress", "2048/2048"),
            ("x-ms-blob-type", "PageBlob"),
            ("content-length", "2048"),
        ]);
        let p = parse_copy_properties(&ok).expect("parse");
        assert_eq!(
            verdict(&p, Some(2048)),
            CopyVerdict::Verified { length: 2048 }
        );
        assert!(
            matches!(verdict(&p, Some(4096)), CopyVerdict::Failed(e) if e.code() == Some("CopyLengthMismatch"))
        );
        let mut block = ok.clone();
        block.insert("x-ms-blob-type".into(), "BlockBlob".into());
        assert!(
            matches!(verdict(&parse_copy_properties(&block).expect("parse"), None), CopyVerdict::Failed(e) if e.code() == Some("NotAPageBlob"))
        );
        let mut short = ok.clone();
        short.insert("content-length".into(), "1024".into());
        assert!(matches!(
            verdict(&parse_copy_properties(&short).expect("parse"), None),
            CopyVerdict::Failed(_)
        ));
    }

    #[test]
    fn missing_or_bad_headers_are_errors() {
        assert!(parse_copy_properties(&headers(&[])).is_err());
        assert!(parse_copy_properties(&headers(&[("x-ms-copy-status", "weird")])).is_err());
        assert!(
            parse_copy_properties(&headers(&[
                ("x-ms-copy-status", "pending"),
                ("x-ms-copy-progress", "12")
            ]))
            .is_err()
        );
    }

    #[test]
    fn string_to_sign_follows_the_shared_key_layout() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/vhds/base.vhd?comp=copy&copyid=abc",
        )
        .expect("url");
        let h = headers(&[
            ("x-ms-version", BLOB_API_VERSION),
            ("x-ms-date", "Thu, 01 Oct 2026 12:00:00 GMT"),
            ("x-ms-copy-action", "abort"),
            ("content-length", "0"),
        ]);
        let s = string_to_sign("PUT", &url, "devstoreaccount1", &h);
        let expected = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-copy-action:abort\nx-ms-date:Thu, 01 Oct 2026 12:00:00 GMT\nx-ms-version:{BLOB_API_VERSION}\n/devstoreaccount1/devstoreaccount1/vhds/base.vhd\ncomp:copy\ncopyid:abc"
        );
        assert_eq!(s, expected);
    }

    #[test]
    fn the_signing_account_comes_from_the_endpoint() {
        let u = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            data_plane_account(&u("https://azop0123.blob.core.windows.net/")).as_deref(),
            Some("azop0123")
        );
        assert_eq!(
            data_plane_account(&u("http://127.0.0.1:10000/azopsim07/")).as_deref(),
            Some("azopsim07")
        );
        assert_eq!(
            data_plane_account(&u("http://localhost:10000/devstoreaccount1")).as_deref(),
            Some("devstoreaccount1")
        );
        assert_eq!(data_plane_account(&u("http://127.0.0.1:10000/")), None);
    }

    #[test]
    fn fixed_vhd_footers_pass_and_every_problem_is_named() {
        let size = 4 * MIB;
        let ok = fixed_vhd_footer(size, 2);
        assert_eq!(
            check_vhd_footer(&ok, size + 512),
            Ok(VhdFooter { virtual_size: size })
        );
        assert_eq!(
            check_vhd_footer(&fixed_vhd_footer(size, 3), size + 512),
            Err(VhdProblem::NotFixed { disk_type: 3 })
        );
        assert_eq!(
            check_vhd_footer(&ok, size + 1024),
            Err(VhdProblem::SizeMismatch {
                virtual_size: size,
                blob_length: size + 1024
            })
        );
        let odd = fixed_vhd_footer(size + 512, 2);
        assert_eq!(
            check_vhd_footer(&odd, size + 1024),
            Err(VhdProblem::NotWholeMib {
                virtual_size: size + 512
            })
        );
        let mut damaged = ok.clone();
        damaged[100] ^= 1;
        assert_eq!(
            check_vhd_footer(&damaged, size + 512),
            Err(VhdProblem::BadChecksum)
        );
        assert_eq!(
            check_vhd_footer(&[0u8; 512], size + 512),
            Err(VhdProblem::NoFooter)
        );
        assert!(
            VhdProblem::NotFixed { disk_type: 3 }
                .to_string()
                .contains("dynamic")
        );
    }

    #[test]
    fn storage_errors_are_classified_from_xml() {
        let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>CannotVerifyCopySource</Code><Message>This request is not authorized.\nRequestId:1</Message></Error>";
        let e = storage_error(403, &BTreeMap::new(), body, "start blob copy");
        assert_eq!(e.code(), Some("CannotVerifyCopySource"));
        assert!(e.to_string().contains("not authorized"));
        assert!(!e.to_string().contains("RequestId"));
    }
}
