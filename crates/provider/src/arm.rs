//! The HTTP layer: one `azure_core` 0.21 transport per (credential, ARM endpoint), shared by
//! the generated azure_mgmt clients (`ClientBuilder::new(cred).endpoint(url)` + `.send()`)
//! and by azop's own raw ARM calls (AKS, polling, actions such as listKeys).
//!
//! [`ArmTransport`] is the last policy of every pipeline. It is where the client-side
//! throttle admits requests, the bearer token is attached, metrics are recorded and
//! `x-ms-ratelimit-remaining-*` / 429s feed back into the throttle. azure_core's own retry
//! policy is switched off ([`azure_core::RetryOptions::none`]); see docs/provider.md.
//!
//! The generated clients get a placeholder credential: the real bearer token is attached
//! here, below azure_core's `TransportPolicy`, whose debug log prints the Authorization
//! header in clear (its `Headers` Debug redacts every header *except* Authorization).

use crate::access::Access;
use crate::credentials::ResolvedCredential;
use crate::error::{AzureError, LocalThrottle, classify, from_core_error};
use crate::listing::{Listings, SubscriptionListing};
use crate::lro::{self, LroConfig, LroHandle, PollOutcome};
use crate::metrics::{ProviderMetrics, resource_type_of};
use crate::poll_schedule::PollSchedule;
use crate::throttle::{Admitted, OpClass, Paused, Throttle};
use azure_core::auth::{AccessToken, TokenCredential};
use azure_core::headers::{AUTHORIZATION, HeaderName};
use azure_core::{Context, Method, Pipeline, Policy, PolicyResult, Request, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use url::Url;

/// A response with its body read: what every provider function works with.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    pub status: u16,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn new(
        status: u16,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Vec<u8>,
    ) -> Self {
        RawResponse {
            status,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, `None` when empty or not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// Parse the body into a model; a wrong shape is a transient error (logged with the type).
    pub fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, AzureError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            AzureError::transient("UnreadableResponse", format!("failed to parse {what}: {e}"))
        })
    }

    /// This answer as an error (for non-2xx).
    pub fn to_error(&self) -> AzureError {
        classify(
            self.status,
            self.header("x-ms-error-code"),
            lro::retry_after(self, OffsetDateTime::now_utc()),
            &self.body,
        )
    }

    pub async fn collect(resp: Response) -> Result<RawResponse, AzureError> {
        let (status, headers, body) = resp.deconstruct();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
            .collect();
        let body = body.collect().await.map_err(|e| {
            AzureError::transient(
                "ConnectionFailed",
                format!("failed to read response body: {e}"),
            )
        })?;
        Ok(RawResponse::new(u16::from(status), headers, body.to_vec()))
    }
}

/// The subscription a request path belongs to, if any.
pub fn subscription_of(path: &str) -> Option<String> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    match (segments.next(), segments.next()) {
        (Some(s), Some(id)) if s.eq_ignore_ascii_case("subscriptions") => {
            Some(id.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The last policy of every pipeline: throttle, token, send, measure, learn.
#[derive(Debug)]
pub struct ArmTransport {
    http: Arc<dyn azure_core::HttpClient>,
    credential: Arc<dyn TokenCredential>,
    scopes: Vec<String>,
    throttle: Throttle,
    metrics: ProviderMetrics,
    max_throttle_wait: Duration,
    /// Read-only sessions refuse writes here, before anything is sent.
    access: Access,
    /// Where this credential's writes are noted, so listings read them again.
    listings: Listings,
    credential_key: String,
}

impl ArmTransport {
    /// A PUT, PATCH or DELETE was answered: the listing must not trust what it knew of the
    /// resource (or, for a DELETE, of anything under it).
    fn note_write(&self, method: &str, subscription: Option<&str>, path: &str) {
        let writes = ["PUT", "PATCH", "DELETE"];
        if let Some(sub) = subscription
            && writes.iter().any(|w| w.eq_ignore_ascii_case(method))
            && let Some(listing) = self.listings.find(&self.credential_key, sub)
        {
            listing.touched(method, path, Instant::now());
        }
    }

    async fn admit(&self, subscription: &str, class: OpClass) -> azure_core::Result<Admitted> {
        let mut waited = Duration::ZERO;
        loop {
            let left = self.max_throttle_wait.saturating_sub(waited);
            match self.throttle.reserve(subscription, class, left) {
                // Our turn, now or after the requests that asked before us.
                Ok((admitted, wait)) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                        waited += wait;
                    }
                    // A 429 paused the class while we waited: wait it out too, if we may.
                    let paused = self.throttle.state(subscription, class).paused_for;
                    if let Some(p) = paused {
                        drop(admitted);
                        if waited + p <= self.max_throttle_wait {
                            tokio::time::sleep(p).await;
                            waited += p;
                            continue;
                        }
                        self.metrics
                            .record_throttle(class.as_str(), "rejected", waited);
                        return Err(azure_core::Error::new(
                            azure_core::error::ErrorKind::Other,
                            LocalThrottle {
                                class: class.as_str(),
                                retry_after: p,
                            },
                        ));
                    }
                    if !waited.is_zero() {
                        self.metrics
                            .record_throttle(class.as_str(), "waited", waited);
                    }
                    return Ok(admitted);
                }
                Err(wait) => {
                    self.metrics
                        .record_throttle(class.as_str(), "rejected", waited);
                    tracing::debug!(
                        class = class.as_str(),
                        ?wait,
                        "client-side throttle rejects request"
                    );
                    return Err(azure_core::Error::new(
                        azure_core::error::ErrorKind::Other,
                        LocalThrottle {
                            class: class.as_str(),
                            retry_after: wait,
                        },
                    ));
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Policy for ArmTransport {
    async fn send(
        &self,
        _ctx: &Context,
        request: &mut Request,
        _next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let method = request.method().to_string();
        let path = request.url().path().to_owned();
        if !self.access.allows(&method, &path) {
            tracing::warn!(%method, %path, "read-only session: write refused, not sent");
            return Err(azure_core::Error::new(
                azure_core::error::ErrorKind::Other,
                crate::error::AzureErrorBox(AzureError::WriteRefused { method, path }),
            ));
        }
        let subscription = subscription_of(&path);
        let class = OpClass::from_method(&method);
        let resource_type = resource_type_of(&path);
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        // A create that must not take over what exists (crate::create_only).
        let create_only = method.eq_ignore_ascii_case("PUT") && crate::create_only::active();
        if create_only {
            request.insert_header(HeaderName::from_static("if-none-match"), "*");
        }
        let mut retried_429 = false;
        loop {
            // Held until the answer is in: it counts as in flight till then.
            let admitted = match &subscription {
                Some(sub) => Some(self.admit(sub, class).await?),
                None => None,
            };
            let token = self.credential.get_token(&scopes).await?;
            request.insert_header(AUTHORIZATION, format!("Bearer {}", token.token.secret()));
            let started = Instant::now();
            let result = self.http.execute_request(request).await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    self.metrics
                        .record_call(&method, &resource_type, None, started.elapsed());
                    // The request may have reached ARM.
                    self.note_write(&method, subscription.as_deref(), &path);
                    return Err(e);
                }
            };
            self.note_write(&method, subscription.as_deref(), &path);
            let status = u16::from(response.status());
            if create_only && status == 412 {
                crate::create_only::note_existed();
            }
            self.metrics
                .record_call(&method, &resource_type, Some(status), started.elapsed());
            tracing::debug!(%method, %resource_type, status, "arm call");
            if let Some(admitted) = &admitted
                && let Some(remaining) = response
                    .headers()
                    .get_optional_str(&HeaderName::from_static(class.remaining_header()))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            {
                admitted.answered(remaining);
            }
            drop(admitted);
            if status != 429 {
                return Ok(response);
            }
            // A 429: read the body to tell subscription throttling from a resource lock
            // (RetryableErrorDueToAnotherOperation), then hand an identical response up.
            let collected = RawResponse::collect(response).await.map_err(|e| {
                azure_core::Error::new(
                    azure_core::error::ErrorKind::Io,
                    crate::error::AzureErrorBox(e),
                )
            })?;
            let retry_after = lro::retry_after(&collected, OffsetDateTime::now_utc())
                .unwrap_or(Duration::from_secs(60));
            let err = collected.to_error();
            if let (Some(sub), AzureError::Throttled { .. }) = (&subscription, &err) {
                if self.throttle.pause(sub, class, retry_after) == Paused::NewEpisode {
                    tracing::warn!(
                        subscription = %sub,
                        class = class.as_str(),
                        retry_after_seconds = retry_after.as_secs_f64(),
                        "ARM is throttling this subscription: every {} request to it waits {:.0} s (ARM's budget is per subscription; see docs/provider.md, Throttling)",
                        class.as_str().trim_end_matches('s'),
                        retry_after.as_secs_f64()
                    );
                }
                self.metrics
                    .record_throttle(class.as_str(), "server_429", Duration::ZERO);
                if !retried_429 && retry_after <= self.max_throttle_wait {
                    // Short pause: wait it out here (admit sleeps) and send once more.
                    retried_429 = true;
                    continue;
                }
            }
            let mut headers = azure_core::headers::Headers::new();
            for (k, v) in &collected.headers {
                headers.insert(
                    HeaderName::from(k.clone()),
                    azure_core::headers::HeaderValue::from(v.clone()),
                );
            }
            return Ok(Response::new(
                response_status(429),
                headers,
                Box::pin(azure_core::BytesStream::new(collected.body)),
            ));
        }
    }
}

fn response_status(code: u16) -> azure_core::StatusCode {
    azure_core::StatusCode::try_from(code).unwrap_or(azure_core::StatusCode::InternalServerError)
}

/// Hands every response up unchanged, so raw calls see non-2xx answers with their headers
/// (azure_core's retry policies, even "none", turn them into errors and drop the headers).
#[derive(Debug)]
struct PassThrough;

#[async_trait::async_trait]
impl Policy for PassThrough {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// Given to the generated clients instead of the real credential; [`ArmTransport`]
/// replaces the placeholder with a real token.
#[derive(Debug)]
struct DeferredCredential;

#[async_trait::async_trait]
impl TokenCredential for DeferredCredential {
    async fn get_token(&self, _scopes: &[&str]) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "azop-token-attached-by-transport",
            OffsetDateTime::now_utc() + Duration::from_secs(24 * 3600),
        ))
    }
    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

/// One pipeline per (credential, endpoint) and the generated clients on it.
pub(crate) struct SessionCore {
    pub(crate) credential: ResolvedCredential,
    pub(crate) access: Access,
    pipeline: Pipeline,
    resources: azure_mgmt_resources::Client,
    storage: azure_mgmt_storage::Client,
    network: azure_mgmt_network::Client,
    compute: azure_mgmt_compute::Client,
}

impl SessionCore {
    pub(crate) fn new(
        credential: ResolvedCredential,
        http: Arc<dyn azure_core::HttpClient>,
        throttle: Throttle,
        metrics: ProviderMetrics,
        max_throttle_wait: Duration,
        access: Access,
        listings: Listings,
    ) -> Result<SessionCore, AzureError> {
        let endpoint = credential.endpoints.arm.clone();
        let scope = endpoint
            .join(".default")
            .map_err(|e| AzureError::config(format!("invalid arm endpoint {endpoint}: {e}")))?;
        let transport = Arc::new(ArmTransport {
            http,
            credential: credential.credential.clone(),
            scopes: vec![scope.to_string()],
            throttle,
            metrics,
            max_throttle_wait,
            access,
            listings,
            credential_key: credential.key.clone(),
        });
        let options = || {
            azure_core::ClientOptions::default()
                .retry(azure_core::RetryOptions::none())
                .transport(azure_core::TransportOptions::new_custom_policy(
                    transport.clone(),
                ))
        };
        let mut pipeline = Pipeline::new(
            Some("azop-provider"),
            Some(env!("CARGO_PKG_VERSION")),
            options(),
            Vec::new(),
            Vec::new(),
        );
        // [.., telemetry, custom headers, retry, transport]: swap the retry policy.
        let retry_position = pipeline.policies().len() - 2;
        pipeline.replace_policy(Arc::new(PassThrough), retry_position);
        let deferred: Arc<dyn TokenCredential> = Arc::new(DeferredCredential);
        let scopes = [scope.as_str()];
        Ok(SessionCore {
            resources: azure_mgmt_resources::Client::new(
                endpoint.clone(),
                deferred.clone(),
                vec![scope.to_string()],
                options(),
            ),
            storage: azure_mgmt_storage::Client::new(
                endpoint.clone(),
                deferred.clone(),
                vec![scope.to_string()],
                options(),
            ),
            network: azure_mgmt_network::Client::new(
                endpoint.clone(),
                deferred.clone(),
                vec![scope.to_string()],
                options(),
            ),
            compute: azure_mgmt_compute::ClientBuilder::new(deferred)
                .endpoint(endpoint)
                .scopes(&scopes)
                .retry(azure_core::RetryOptions::none())
                .transport(azure_core::TransportOptions::new_custom_policy(
                    transport.clone(),
                ))
                .build()
                .map_err(|e| AzureError::config(format!("failed to build compute client: {e}")))?,
            credential,
            access,
            pipeline,
        })
    }
}

/// A raw ARM request (for what the generated crates cannot do: AKS, polling, actions).
#[derive(Debug, Clone)]
pub struct ArmRequest {
    pub method: Method,
    pub url: Url,
    pub body: Option<serde_json::Value>,
    pub headers: Vec<(String, String)>,
}

/// Everything a controller needs to talk to one subscription as one identity. Cheap to
/// clone; make one per reconcile with [`crate::Provider::session`].
#[derive(Clone)]
pub struct ArmSession {
    pub(crate) core: Arc<SessionCore>,
    pub(crate) subscription_id: String,
    pub(crate) throttle: Throttle,
    pub(crate) metrics: ProviderMetrics,
    pub(crate) lro: LroConfig,
    /// The subscription's listings read with this credential (see [`crate::listing`]).
    pub(crate) listing: Arc<SubscriptionListing>,
    /// When each operation may be polled next (ARM's Retry-After).
    pub(crate) polls: Arc<PollSchedule>,
}

impl std::fmt::Debug for ArmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmSession")
            .field("subscription_id", &self.subscription_id)
            .field("credential", &self.core.credential.label)
            .field("endpoint", &self.core.credential.endpoints.arm.as_str())
            .finish()
    }
}

impl ArmSession {
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    /// What this session may send: a read-only one (`azop plan`) refuses every write
    /// unsent ([`crate::access`]).
    pub fn access(&self) -> Access {
        self.core.access
    }

    pub fn endpoint(&self) -> &Url {
        &self.core.credential.endpoints.arm
    }

    pub fn lro_config(&self) -> &LroConfig {
        &self.lro
    }

    /// Generated clients on this session's pipeline. Use `.send()` through [`Self::mgmt`];
    /// never `.await` a builder (that runs the crate's broken LRO loop).
    pub fn resources_client(&self) -> &azure_mgmt_resources::Client {
        &self.core.resources
    }
    pub fn storage_client(&self) -> &azure_mgmt_storage::Client {
        &self.core.storage
    }
    pub fn network_client(&self) -> &azure_mgmt_network::Client {
        &self.core.network
    }
    pub fn compute_client(&self) -> &azure_mgmt_compute::Client {
        &self.core.compute
    }

    /// `/subscriptions/{sub}` + `rest`, e.g. `rest = "/resourceGroups/rg/providers/…"`.
    pub fn subscription_path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{}", self.subscription_id, rest)
    }

    /// An absolute URL for an ARM path with `api-version`.
    pub fn url(&self, path: &str, api_version: &str) -> Result<Url, AzureError> {
        let mut url = self.endpoint().clone();
        url.set_path(path);
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// Await a generated builder's `.send()` and read the answer. A non-2xx answer is an
    /// error here (azure_core made it one); Retry-After of a 429 comes from the throttle,
    /// which the transport paused with it.
    pub async fn mgmt<R, F>(&self, send: F) -> Result<RawResponse, AzureError>
    where
        F: std::future::Future<Output = azure_core::Result<R>>,
        R: Into<Response>,
    {
        match send.await {
            Ok(r) => RawResponse::collect(r.into()).await,
            Err(e) => {
                let paused = [OpClass::Read, OpClass::Write, OpClass::Delete]
                    .iter()
                    .filter_map(|c| self.throttle.state(&self.subscription_id, *c).paused_for)
                    .max();
                Err(from_core_error(&e, paused))
            }
        }
    }

    /// Send a raw request; any HTTP answer is `Ok` (inspect `status`).
    pub async fn send(&self, req: ArmRequest) -> Result<RawResponse, AzureError> {
        let mut request = Request::new(req.url, req.method);
        for (k, v) in req.headers {
            request.insert_header(
                HeaderName::from(k),
                azure_core::headers::HeaderValue::from(v),
            );
        }
        if let Some(body) = req.body {
            request.insert_header("content-type", "application/json");
            let bytes = serde_json::to_vec(&body).map_err(|e| {
                AzureError::config(format!("failed to serialize request body: {e}"))
            })?;
            request.set_body(bytes);
        }
        match self.core.pipeline.send(&Context::new(), &mut request).await {
            Ok(r) => RawResponse::collect(r).await,
            Err(e) => Err(from_core_error(&e, None)),
        }
    }

    /// A raw call on an ARM path; non-2xx answers become classified errors.
    pub async fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&B>,
    ) -> Result<RawResponse, AzureError> {
        let body = match body {
            Some(b) => Some(serde_json::to_value(b).map_err(|e| {
                AzureError::config(format!("failed to serialize request body: {e}"))
            })?),
            None => None,
        };
        let resp = self
            .send(ArmRequest {
                method,
                url: self.url(path, api_version)?,
                body,
                headers: Vec::new(),
            })
            .await?;
        if resp.is_success() {
            Ok(resp)
        } else {
            Err(resp.to_error())
        }
    }

    /// A raw DELETE of an ARM id (for resources found by listing, which have no typed key).
    /// Already gone is done: `None`, as is a synchronous delete.
    pub async fn delete_by_id(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<LroHandle>, AzureError> {
        match self
            .call::<()>(Method::Delete, path, api_version, None)
            .await
        {
            Ok(resp) => Ok(self.start_lro("DELETE", path, api_version, &resp)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET a collection and follow `nextLink` to the end. A missing resource group is an
    /// empty list. `max_pages` bounds the walk so a misbehaving server cannot loop us.
    pub async fn list(
        &self,
        path: &str,
        api_version: &str,
        max_pages: usize,
    ) -> Result<Vec<serde_json::Value>, AzureError> {
        let mut items = Vec::new();
        self.list_each(path, api_version, max_pages, |v| items.push(v))
            .await?;
        Ok(items)
    }

    /// [`ArmSession::list`], handing each item to `each` as its page is read: one page is
    /// held as JSON at a time, whatever the collection's size. A subscription-wide listing
    /// as one JSON tree was the operator's largest allocation (issue 24, memory: at 30
    /// clusters half of the heap's peak was the tree of one walk and a copy of it).
    pub async fn list_each(
        &self,
        path: &str,
        api_version: &str,
        max_pages: usize,
        mut each: impl FnMut(serde_json::Value) + Send,
    ) -> Result<(), AzureError> {
        let Some(first) = self.get(path, api_version).await? else {
            return Ok(());
        };
        let mut page = first;
        for _ in 0..max_pages {
            let mut body = page.json().unwrap_or_default();
            // Moved out of the page, not cloned.
            if let Some(serde_json::Value::Array(values)) =
                body.get_mut("value").map(serde_json::Value::take)
            {
                values.into_iter().for_each(&mut each);
            }
            let Some(next) = body
                .get("nextLink")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
            else {
                return Ok(());
            };
            let url = Url::parse(next).map_err(|e| {
                AzureError::transient("InvalidNextLink", format!("unreadable nextLink: {e}"))
            })?;
            page = self
                .send(ArmRequest {
                    method: Method::Get,
                    url,
                    body: None,
                    headers: Vec::new(),
                })
                .await?;
            if !page.is_success() {
                return Err(page.to_error());
            }
        }
        Err(AzureError::transient(
            "TooManyPages",
            format!("listing {path} returned more than {max_pages} pages"),
        ))
    }

    /// GET a resource: `None` when it (or its resource group) does not exist.
    pub async fn get(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<Option<RawResponse>, AzureError> {
        match self.call::<()>(Method::Get, path, api_version, None).await {
            Ok(r) => Ok(Some(r)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Turn the first answer of a PUT/DELETE into a handle, when an operation is under way.
    pub fn start_lro(
        &self,
        method: &str,
        resource_path: &str,
        api_version: &str,
        resp: &RawResponse,
    ) -> Option<LroHandle> {
        let resource_url = self.url(resource_path, api_version).ok()?;
        let handle = lro::handle_from_response(
            method,
            resource_url.as_str(),
            resource_path,
            resp,
            OffsetDateTime::now_utc(),
            self.lro.default_deadline,
        )?;
        // The first poll waits as long as ARM asked in its first answer.
        if let Some(wait) = lro::retry_after(resp, OffsetDateTime::now_utc()) {
            self.polls.set(
                &handle.url,
                Instant::now(),
                wait.min(self.lro.max_retry_after),
            );
        }
        // A conditional create (answered 201) is followed through its resource (see
        // `poll_resource`): the types created by the hundred in one subscription (network
        // resources, VMs). Others (an AKS cluster: minutes, a handful of polls) poll their
        // operation.
        if resp.status == 201
            && handle.method == "PUT"
            && handle.kind == lro::LroKind::AzureAsyncOperation
            && crate::create_only::active()
        {
            self.polls
                .note_create(&handle.url, Instant::now(), self.lro.default_retry_after);
        }
        Some(handle)
    }

    /// Poll an operation once. Works for a handle stored before a restart.
    /// Before the Retry-After ARM gave for it, answers "in progress" without a call (see
    /// [`crate::poll_schedule`]).
    pub async fn poll_once(&self, handle: &LroHandle) -> Result<PollOutcome, AzureError> {
        if let Some(retry_after) = self.polls.wait(&handle.url, Instant::now()) {
            self.metrics.record_lro("not_due");
            return Ok(PollOutcome::InProgress { retry_after });
        }
        if let Some(interval) = self.polls.resource_interval(&handle.url)
            && let Some(result) = self.poll_resource(handle, interval).await
        {
            return result;
        }
        let url = Url::parse(&handle.url)
            .map_err(|e| AzureError::config(format!("invalid operation url in handle: {e}")))?;
        let now = OffsetDateTime::now_utc();
        let result = match self
            .send(ArmRequest {
                method: Method::Get,
                url,
                body: None,
                headers: Vec::new(),
            })
            .await
        {
            Ok(resp) => lro::interpret_poll(handle, &resp, &self.lro, now),
            // Unreachable past its deadline counts as expired too.
            Err(e) => lro::past_deadline(handle, Err(e), now),
        };
        match &result {
            Ok(PollOutcome::InProgress { retry_after }) => {
                self.polls.set(&handle.url, Instant::now(), *retry_after);
            }
            Ok(_) | Err(AzureError::NotFound { .. }) => self.polls.done(&handle.url),
            Err(_) => {}
        }
        // An operation that ended (or whose end can no longer be read) may have changed its
        // resource: the listing reads it again.
        if matches!(
            result,
            Ok(PollOutcome::Succeeded { .. }
                | PollOutcome::Failed(_)
                | PollOutcome::Gone
                | PollOutcome::Expired)
                | Err(AzureError::NotFound { .. })
        ) {
            self.listing
                .touched(&handle.method, &handle.resource_id, Instant::now());
        }
        self.metrics.record_lro(match &result {
            Ok(PollOutcome::InProgress { .. }) => "in_progress",
            Ok(PollOutcome::Succeeded { .. }) => "succeeded",
            Ok(PollOutcome::Failed(_)) => "failed",
            Ok(PollOutcome::Gone) => "gone",
            Ok(PollOutcome::Expired) => "expired",
            Err(_) => "error",
        });
        result
    }
}

impl ArmSession {
    /// Follows a create's operation through its resource, as ARM's RPC describes clients
    /// doing ("poll at the resource URI until the provisioningState enters a terminal
    /// state"; the resource provider keeps it non-terminal until the operation ends): one GET
    /// that is both the poll and the result, which the subscription's listing keeps
    /// ([`ArmSession::confirm`]) so the pass that follows reads nothing more — instead of a
    /// poll of the operation and then a GET of what it made. `None` when the resource cannot
    /// answer for its operation and the operation is to be polled: its type has no listing
    /// here (so no known api-version), it could not be read, it is not there (yet, or any
    /// more), or it ended `Failed`/`Canceled` — only the operation carries Azure's error
    /// code and message.
    async fn poll_resource(
        &self,
        handle: &LroHandle,
        interval: Duration,
    ) -> Option<Result<PollOutcome, AzureError>> {
        let target = crate::listing::target::Target::of(&handle.resource_id);
        let api_version = self.listing.api_version_of(target.type_name()?)?;
        // Unreadable (a read outage, throttling): the operation's own status may still
        // answer, and its path keeps what ARM says of an operation that cannot be read.
        let resp = self
            .confirm(&handle.resource_id, &api_version)
            .await
            .ok()??;
        let body = resp.json();
        let outcome = match lro::provisioning_state(&body) {
            Some(state) if !lro::is_terminal(&state) => {
                let running = Ok(PollOutcome::InProgress {
                    retry_after: interval,
                });
                match lro::past_deadline(handle, running, OffsetDateTime::now_utc()) {
                    Ok(PollOutcome::Expired) => {
                        self.polls.done(&handle.url);
                        self.listing
                            .touched(&handle.method, &handle.resource_id, Instant::now());
                        Ok(PollOutcome::Expired)
                    }
                    other => {
                        self.polls.set(&handle.url, Instant::now(), interval);
                        other
                    }
                }
            }
            Some(state) if !state.eq_ignore_ascii_case("Succeeded") => return None,
            // Succeeded (no state means Succeeded): what the GET read is the result.
            _ => {
                self.polls.done(&handle.url);
                Ok(PollOutcome::Succeeded { body })
            }
        };
        self.metrics.record_lro(match &outcome {
            Ok(PollOutcome::InProgress { .. }) => "in_progress",
            Ok(PollOutcome::Expired) => "expired",
            _ => "succeeded",
        });
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_is_taken_from_the_path() {
        assert_eq!(
            subscription_of("/subscriptions/ABC/resourceGroups/x"),
            Some("abc".into())
        );
        assert_eq!(subscription_of("/tenant/oauth2"), None);
    }
}
