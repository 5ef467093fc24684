//! The HTTP(S) server: routes, the ARM request pipeline (faults → auth → throttling →
//! handler → common headers → request log), the accept loop, and [`RunningSim`].

use crate::auth;
use crate::config::SimConfig;
use crate::errors::ArmError;
use crate::faults::{Fault, FaultAction, FaultError, FaultSpec};
use crate::introspect::{RequestFilter, RequestRecord};
use crate::request::ArmRequest;
use crate::sim_api::{self, Shared};
use crate::state::AppState;
use crate::throttle::{OpClass, Throttle};
use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("failed to bind {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    StateFile(#[from] crate::state_file::StateFileError),
    #[error("cannot prepare the machines: {0}")]
    Machines(String),
}

/// Marks a response whose connection must be dropped instead (fault `drop`).
#[derive(Clone, Copy)]
struct DropConnection;

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Every ARM request goes through here.
async fn arm(State(state): Shared, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 32 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let recorded_body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let path = percent_decode(parts.uri.path());
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let method = parts.method.clone();
    let claims = auth::check_bearer(header_str(&parts.headers, "authorization"));
    let principal = claims.as_ref().ok().map(|c| c.appid.clone());

    let mut async_fail = None;
    let mut injected: Option<Response> = None;
    for action in state.faults.fire(method.as_str(), &path) {
        match action {
            FaultAction::Latency { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            FaultAction::FailAsync { code, message } => async_fail = Some((code, message)),
            FaultAction::Drop => {
                let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                r.extensions_mut().insert(DropConnection);
                injected.get_or_insert(r);
            }
            FaultAction::Respond {
                status,
                code,
                message,
                retry_after,
            } => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut r = ArmError::new(status, code, message).into_response();
                if let Some(s) = retry_after {
                    set(r.headers_mut(), "retry-after", &s.to_string());
                }
                injected.get_or_insert(r);
            }
        }
    }

    let sub = {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        (segs.len() >= 2 && segs[0].eq_ignore_ascii_case("subscriptions"))
            .then(|| segs[1].to_string())
    };
    let class = OpClass::of_method(method.as_str());
    let mut limits = None;
    let mut resp = match injected {
        Some(r) => r,
        None => match (&claims, state.config.require_auth) {
            (Err(e), true) => auth::unauthorized(e.clone(), &state.base_url),
            _ => {
                let decision = match (&sub, state.throttle.enabled()) {
                    (Some(s), true) => {
                        let who = principal.as_deref().unwrap_or("anonymous");
                        Some(state.throttle.take(s, who, class, Instant::now()))
                    }
                    _ => None,
                };
                limits = decision;
                match decision {
                    Some(d) if !d.allowed => {
                        let secs = d.retry_after.as_secs().max(1);
                        let mut r = ArmError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "SubscriptionRequestsThrottled",
                            format!(
                                "Number of '{}' requests for subscription '{}' exceeded. Please try again after '{secs}' seconds after the time: {}.",
                                class.header_word(),
                                sub.as_deref().unwrap_or(""),
                                now_rfc3339()
                            ),
                        )
                        .into_response();
                        set(r.headers_mut(), "retry-after", &secs.to_string());
                        r
                    }
                    _ => {
                        let arm_req = ArmRequest {
                            method: method.clone(),
                            path: path.clone(),
                            query,
                            headers: parts.headers.clone(),
                            body,
                            async_fail,
                        };
                        match crate::router::route(&state, &arm_req) {
                            Ok(r) => r,
                            Err(e) => e.into_response(),
                        }
                    }
                }
            }
        },
    };
    state.persist_ended();

    let h = resp.headers_mut();
    let request_id = uuid::Uuid::new_v4().to_string();
    set(h, "x-ms-request-id", &request_id);
    let correlation = header_str(&parts.headers, "x-ms-correlation-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    set(h, "x-ms-correlation-request-id", &correlation);
    if let Some(c) = header_str(&parts.headers, "x-ms-client-request-id") {
        set(h, "x-ms-client-request-id", c);
    }
    if let Some(d) = limits {
        let word = class.header_word();
        let (a, b) = match class {
            OpClass::Read => (
                "x-ms-ratelimit-remaining-subscription-reads",
                "x-ms-ratelimit-remaining-subscription-global-reads",
            ),
            OpClass::Write => (
                "x-ms-ratelimit-remaining-subscription-writes",
                "x-ms-ratelimit-remaining-subscription-global-writes",
            ),
            OpClass::Delete => (
                "x-ms-ratelimit-remaining-subscription-deletes",
                "x-ms-ratelimit-remaining-subscription-global-deletes",
            ),
        };
        debug_assert!(a.ends_with(word));
        set(h, a, &d.remaining.to_string());
        set(h, b, &d.global_remaining.to_string());
    }
    state.requests.push(RequestRecord {
        method: method.to_string(),
        path,
        query: raw_query,
        status: resp.status().as_u16(),
        principal,
        time: now_rfc3339(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        body: recorded_body,
    });
    resp
}

async fn token(
    State(state): Shared,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let resp = auth::token(&state.config, &tenant, &form);
    state.requests.push(RequestRecord {
        method: "POST".into(),
        path: format!("/{tenant}/oauth2/v2.0/token"),
        query: String::new(),
        status: resp.status().as_u16(),
        principal: form.get("client_id").cloned(),
        time: now_rfc3339(),
        duration_ms: 0.0,
        body: None,
    });
    resp
}

async fn oidc(State(state): Shared, Path(tenant): Path<String>) -> Response {
    auth::openid_configuration(&state.base_url, &tenant)
}

async fn instance(State(state): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    auth::instance_discovery(&state.base_url, &q)
}

fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/_sim/faults",
            get(sim_api::list_faults)
                .post(sim_api::add_fault)
                .delete(sim_api::clear_faults),
        )
        .route("/_sim/inventory", get(sim_api::inventory))
        .route(
            "/_sim/requests",
            get(sim_api::requests).delete(sim_api::clear_requests),
        )
        .route("/_sim/reset", post(sim_api::reset))
        .route("/_sim/machines", get(sim_api::machines))
        .route(
            "/_sim/bootdiagnostics/{vm_id}/{file}",
            get(crate::bootdiag::serve),
        )
        .route("/_sim/aks/kubeconfig", post(sim_api::aks_kubeconfig))
        .route("/_sim/aks/upgrade", post(sim_api::aks_upgrade))
        .route("/_sim/aks/autoscale", post(sim_api::aks_autoscale))
        .route(
            "/_sim/aks/rotate-credentials",
            post(sim_api::aks_rotate_credentials),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/token", post(token))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(oidc))
        .route("/common/discovery/instance", get(instance))
        .fallback(arm)
        .with_state(state)
}

/// A simulator running in this process.
pub struct RunningSim {
    url: String,
    state: Arc<AppState>,
    ca_pem: Option<String>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    machines: Option<MachinesRun>,
}

/// The guests' loop and its watchdog (`--machines`).
struct MachinesRun {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    watchdog: std::process::Child,
    root: std::path::PathBuf,
}

impl MachinesRun {
    /// Stops the loop (its guests are killed as it ends), the watchdog, and removes the
    /// guests' files.
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
        self.cleanup();
    }

    fn cleanup(&mut self) {
        self.task.abort();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for MachinesRun {
    fn drop(&mut self) {
        // Dropped without `shutdown` (a test that failed): the aborted loop drops its
        // guests, which kills them.
        self.cleanup();
    }
}

impl RunningSim {
    /// Base URL (`http://127.0.0.1:PORT` or `https://…` with TLS), no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The self-signed certificate (PEM) clients must trust, when TLS is on.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }
    /// Every resource, as the ARM JSON a GET returns.
    pub fn inventory(&self) -> Vec<serde_json::Value> {
        sim_api::inventory_of(&self.state)
    }
    pub fn requests(&self, filter: &RequestFilter) -> Vec<RequestRecord> {
        self.state.requests.list(filter)
    }
    /// What the guest of VM `id` would read as its custom data (decoded), as Azure hands it
    /// to the VM (IMDS, the provisioning agent) while GETs never return it. `None`: the VM
    /// does not exist or was created without customData.
    pub fn vm_custom_data(&self, id: &str) -> Option<String> {
        let store = self.state.store.lock();
        crate::types::compute::vm::guest_custom_data(&store, id)
    }
    pub fn add_fault(&self, spec: FaultSpec) -> Result<Fault, FaultError> {
        self.state.faults.add(spec)
    }
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }
    pub fn reset(&self) {
        sim_api::reset_all(&self.state);
    }
    /// Points the kubeconfigs AKS credential actions hand out at `target`.
    pub fn set_aks_kubeconfig(&self, target: Option<crate::config::KubeconfigTarget>) {
        *self.state.aks_kubeconfig.lock() = target;
    }
    /// Plays AKS's auto-upgrader: the managed cluster `cluster_id` (and its pools) now run
    /// `version`, as after an upgrade AKS did on its own.
    pub fn aks_auto_upgrade(&self, cluster_id: &str, version: &str) -> Result<(), ArmError> {
        sim_api::with_store(&self.state, |store| {
            crate::types::containerservice::sim_auto_upgrade(store, cluster_id, version)
        })
    }
    /// Plays the cluster autoscaler: the agent pool `pool_id` now has `count` nodes.
    pub fn aks_autoscale(&self, pool_id: &str, count: i64) -> Result<(), ArmError> {
        sim_api::with_store(&self.state, |store| {
            crate::types::containerservice::sim_autoscale(store, pool_id, count)
        })
    }
    /// Rotates the cluster's credentials (as `rotateClusterCertificates` does): the
    /// kubeconfigs handed out from now on differ, and the cluster's eTag changes.
    pub fn aks_rotate_credentials(&self, cluster_id: &str) -> Result<(), ArmError> {
        sim_api::with_store(&self.state, |store| {
            crate::types::containerservice::sim_rotate_credentials(store, cluster_id)
        })
    }
    /// A valid bearer token for `client_id` in `tenant` (as the token endpoint would issue).
    pub fn token(&self, tenant: &str, client_id: &str) -> String {
        let life = self.state.config.token_lifetime.as_secs() as i64;
        auth::issue(tenant, client_id, &self.url, life).0
    }
    /// The guests (`--machines`): state, process, memory, forwarded ports, serial log.
    pub fn machines(&self) -> Vec<crate::machines::MachineInfo> {
        self.state
            .machines
            .as_ref()
            .map(|m| m.machines.lock().clone())
            .unwrap_or_default()
    }
    /// Stops: no new connections, and every open one is closed (requests in flight get no
    /// answer, as from a process that died); stops every guest. Waits for the accept loop to
    /// end.
    pub async fn shutdown(mut self) {
        if let Some(m) = self.machines.take() {
            m.stop().await;
        }
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts the simulator on `config.addr` (default 127.0.0.1:0, a free port).
pub async fn start(config: SimConfig) -> Result<RunningSim, StartError> {
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.addr,
        source,
    })?;
    let tls = if config.tls {
        Some(crate::tls::self_signed(local.ip())?)
    } else {
        None
    };
    if let (Some(t), Some(p)) = (&tls, &config.tls_cert_path) {
        crate::tls::write_pem(p, &t.cert_pem)?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{local}");
    let state_file = config
        .state_file
        .as_deref()
        .map(crate::state_file::StateFile::new);
    let mut store = crate::store::Store::default();
    if let Some(sf) = &state_file
        && let Some(mut loaded) = sf.load()?
    {
        loaded.finish_loaded();
        store = loaded;
    }
    let (machines_shared, watchdog) = match &config.machines {
        Some(m) => {
            let (shared, watchdog) = crate::machines::prepare(m).map_err(StartError::Machines)?;
            (Some(shared), Some(watchdog))
        }
        None => (None, None),
    };
    let mut sas_key = [0u8; 32];
    sas_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    sas_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let state = Arc::new(AppState {
        sas_key,
        machines: machines_shared.clone(),
        throttle: Throttle::new(config.throttle.clone()),
        requests: crate::introspect::RequestLog::new(config.request_log_capacity),
        faults: Default::default(),
        registry: crate::types::registry_for(&config),
        store: parking_lot::Mutex::new(store),
        base_url: url.clone(),
        state_file,
        aks_kubeconfig: parking_lot::Mutex::new(config.aks_kubeconfig.clone()),
        config,
    });
    let router = app(state.clone());
    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    // A connection lives as long as the simulator: a stopped one answers
                    // nothing more, on new connections or kept-alive ones (a restart from
                    // the state file is then a real restart).
                    let mut stopped = rx.clone();
                    let conn = serve_connection(stream, router.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = conn => {}
                            _ = stopped.wait_for(|s| *s) => {}
                        }
                    });
                }
                _ = rx.changed() => break,
            }
        }
    });
    let machines = match (machines_shared, watchdog, state.config.machines.clone()) {
        (Some(shared), Some(watchdog), Some(config)) => {
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let root = shared.root.clone();
            let task = tokio::spawn(crate::machines::run(state.clone(), shared, config, stop_rx));
            Some(MachinesRun {
                task,
                stop,
                watchdog,
                root,
            })
        }
        _ => None,
    };
    Ok(RunningSim {
        url,
        state,
        ca_pem: tls.map(|t| t.cert_pem),
        shutdown: tx,
        task,
        machines,
    })
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            let resp = match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok::<_, Dropped>(resp)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let result = match acceptor {
        Some(a) => match a.accept(stream).await {
            Ok(tls) => builder.serve_connection(TokioIo::new(tls), svc).await,
            Err(e) => {
                tracing::debug!(error = %e, "tls handshake failed");
                return;
            }
        },
        None => builder.serve_connection(TokioIo::new(stream), svc).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
