//! The mutating admission webhook, served over TLS by every replica (not only the leader:
//! the API server calls whichever replica the Service picks, and admission must not stall
//! while leadership changes hands).
//!
//! - the decisions, pure — AdmissionReview in, JSON patch out — are the ProxyConfig
//!   controller's ([`azop_controllers::proxy_config::inject`]).
//! - [`certs`]: the serving certificate (self-managed Secret + caBundle, or cert-manager files).
//! - here: flags, the ProxyConfig cache, the HTTPS server, Events for skipped pods.

pub mod certs;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use azop_controllers::events::{Event, EventRecorder, EventType};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use azop_controllers::proxy_config::inject::{
    self as mutate, AdmissionReview, MutationSettings, Outcome,
};

#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Serve the mutating webhook (HTTPS) on this address, e.g. 0.0.0.0:9443. Off when unset.
    #[arg(long, env = "AZOP_WEBHOOK_ADDR")]
    pub webhook_addr: Option<SocketAddr>,
    /// Directory with tls.crt and tls.key (cert-manager mode).
    #[arg(long, env = "AZOP_WEBHOOK_CERT_DIR")]
    pub webhook_cert_dir: Option<PathBuf>,
    /// `operator`: azop generates and rotates its own CA and certificate in
    /// --webhook-secret-name and keeps the caBundle; `cert-manager`: read the files in
    /// --webhook-cert-dir (cert-manager's cainjector keeps the caBundle). Default:
    /// cert-manager when --webhook-cert-dir is given, else operator.
    #[arg(long, env = "AZOP_WEBHOOK_CERT_MODE", value_parser = ["operator", "cert-manager"])]
    pub webhook_cert_mode: Option<String>,
    /// Secret (in the operator's namespace) holding the self-managed CA and certificate.
    #[arg(long, env = "AZOP_WEBHOOK_SECRET", default_value = "azop-webhook-tls")]
    pub webhook_secret_name: String,
    /// MutatingWebhookConfiguration whose caBundle azop keeps current (self-managed mode).
    #[arg(long, env = "AZOP_WEBHOOK_CONFIGURATION", default_value = "azop")]
    pub webhook_config_name: String,
    /// Service in front of the webhook; its DNS names go into the serving certificate.
    #[arg(long, env = "AZOP_WEBHOOK_SERVICE", default_value = "azop-webhook")]
    pub webhook_service_name: String,
    /// More names or IPs for the serving certificate (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub webhook_extra_sans: Vec<String>,
    /// How often the certificate, the caBundle (and cert-dir files) are checked, in seconds.
    #[arg(long, default_value_t = 300)]
    pub webhook_cert_check_seconds: u64,
    /// The pod label that asks for proxy injection, key=value.
    #[arg(
        long,
        env = "AZOP_PROXY_LABEL",
        default_value = "spectrocloud.com/connection=proxy"
    )]
    pub proxy_label: String,
    /// Namespaces never injected, besides kube-system and the operator's own (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub webhook_exclude_namespaces: Vec<String>,
    /// Added to every injected NO_PROXY: the management cluster's pod and service CIDRs
    /// (comma-separated), so pods reach the API server's service IP directly.
    #[arg(long, value_delimiter = ',')]
    pub proxy_cluster_no_proxy: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    settings: Arc<MutationSettings>,
    proxies: Store<ProxyConfig>,
    recorder: Arc<EventRecorder>,
}

/// Serves the webhook until `shutdown` turns true. `operator_ns` is where the certificate
/// Secret lives and which is never injected. `watch_ns` limits the ProxyConfig cache (the
/// operator's `--namespace`).
pub async fn serve(
    args: WebhookArgs,
    addr: SocketAddr,
    client: kube::Client,
    operator_ns: String,
    watch_ns: Option<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let (label_key, label_value) =
        MutationSettings::parse_label(&args.proxy_label).map_err(anyhow::Error::msg)?;
    let mut excluded: BTreeSet<String> = ["kube-system".to_string(), operator_ns.clone()].into();
    excluded.extend(args.webhook_exclude_namespaces.iter().cloned());
    let settings = Arc::new(MutationSettings {
        label_key,
        label_value,
        excluded_namespaces: excluded,
        extra_no_proxy: args.proxy_cluster_no_proxy.clone(),
    });

    // Every replica caches the ProxyConfigs: admission must answer from memory.
    let api: kube::Api<ProxyConfig> = match &watch_ns {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .for_each(|_| async {});
        tokio::select! {
            _ = stream => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });

    let resolver = start_certificates(&args, &client, &operator_ns, shutdown.clone()).await?;
    let acceptor = certs::acceptor(resolver)?;
    let recorder = Arc::new(EventRecorder::new(
        client.clone(),
        "azop-webhook",
        std::env::var("POD_NAME").ok(),
    ));
    let app = Router::new()
        .route("/mutate-pods", post(handle))
        .route("/mutate-workloads", post(handle))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState {
            settings,
            proxies: reader,
            recorder,
        });

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind the webhook address {addr}"))?;
    let local = listener.local_addr().context("webhook local address")?;
    // Tests read this line to learn the port of 127.0.0.1:0.
    tracing::info!(addr = %local, "serving the webhook: /mutate-pods, /mutate-workloads");
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook accept failed");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(error = %e, "webhook TLS handshake failed");
                            return;
                        }
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    if let Err(e) = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await
                    {
                        tracing::debug!(error = %e, "webhook connection ended with an error");
                    }
                });
            }
        }
    }
    Ok(())
}

/// Loads (or creates) the serving certificate and keeps it current in the background.
async fn start_certificates(
    args: &WebhookArgs,
    client: &kube::Client,
    operator_ns: &str,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Arc<certs::CertResolver>> {
    let every = Duration::from_secs(args.webhook_cert_check_seconds.max(1));
    let cert_manager = match args.webhook_cert_mode.as_deref() {
        Some(mode) => mode == "cert-manager",
        None => args.webhook_cert_dir.is_some(),
    };
    if cert_manager {
        let dir = args
            .webhook_cert_dir
            .clone()
            .context("--webhook-cert-mode cert-manager needs --webhook-cert-dir")?;
        let read = move || -> Result<(String, String)> {
            let cert = std::fs::read_to_string(dir.join("tls.crt"))
                .with_context(|| format!("read {}", dir.join("tls.crt").display()))?;
            let key = std::fs::read_to_string(dir.join("tls.key"))
                .with_context(|| format!("read {}", dir.join("tls.key").display()))?;
            Ok((cert, key))
        };
        // The Secret volume is optional in the chart: the kubelet fills it in once
        // cert-manager has issued the certificate, so wait for the files.
        let (cert, key) = loop {
            match read() {
                Ok(pair) => break pair,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "waiting for the webhook certificate files");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = shutdown.wait_for(|s| *s) => anyhow::bail!("shut down before the webhook certificate appeared"),
                    }
                }
            }
        };
        let resolver = certs::CertResolver::new(&cert, &key)?;
        let r = resolver.clone();
        tokio::spawn(async move {
            let mut last = (cert, key);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                match read() {
                    Ok(now) if now != last => match r.set(&now.0, &now.1) {
                        Ok(()) => {
                            tracing::info!("reloaded the webhook certificate from the cert dir");
                            last = now;
                        }
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "new webhook certificate unusable; keeping the old one")
                        }
                    },
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot re-read the webhook certificate")
                    }
                }
            }
        });
        return Ok(resolver);
    }

    let svc = &args.webhook_service_name;
    let mut names = vec![
        format!("{svc}.{operator_ns}.svc"),
        format!("{svc}.{operator_ns}.svc.cluster.local"),
        format!("{svc}.{operator_ns}"),
        svc.clone(),
    ];
    names.extend(args.webhook_extra_sans.iter().cloned());
    let secret = args.webhook_secret_name.clone();
    let config = args.webhook_config_name.clone();
    let m = certs::ensure_secret(client, operator_ns, &secret, &names).await?;
    if let Err(e) = certs::keep_ca_bundle(client, &config, &m.ca_bundle).await {
        tracing::warn!(error = %format!("{e:#}"), "cannot set the webhook caBundle yet");
    }
    let resolver = certs::CertResolver::new(&m.cert, &m.key)?;
    let r = resolver.clone();
    let client = client.clone();
    let ns = operator_ns.to_string();
    tokio::spawn(async move {
        let mut served = m.cert;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            match certs::ensure_secret(&client, &ns, &secret, &names).await {
                Ok(m) => {
                    if let Err(e) = certs::keep_ca_bundle(&client, &config, &m.ca_bundle).await {
                        tracing::warn!(error = %format!("{e:#}"), "cannot update the webhook caBundle");
                    }
                    if m.cert != served {
                        match r.set(&m.cert, &m.key) {
                            Ok(()) => {
                                tracing::info!("serving the rotated webhook certificate");
                                served = m.cert;
                            }
                            Err(e) => {
                                tracing::warn!(error = %format!("{e:#}"), "rotated certificate unusable")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "webhook certificate check failed")
                }
            }
        }
    });
    Ok(resolver)
}

async fn handle(
    State(state): State<AppState>,
    axum::Json(review): axum::Json<AdmissionReview>,
) -> axum::Json<AdmissionReview> {
    // Right after start the cache may be empty; waiting briefly beats answering "no
    // ProxyConfig" for a namespace that has one. Bounded well below the webhook timeout.
    if tokio::time::timeout(Duration::from_secs(2), state.proxies.wait_until_ready())
        .await
        .is_err()
    {
        tracing::warn!("ProxyConfig cache not ready; answering from what is there");
    }
    let proxies = state.proxies.state();
    let (response, outcome) = mutate::review(&review, &state.settings, &proxies);
    let req = review.request.as_ref();
    match &outcome {
        Outcome::Patched {
            injected: Some(p), ..
        } => {
            tracing::debug!(namespace = ?req.and_then(|r| r.namespace.as_deref()), proxy = %p.name, generation = p.generation, "injected the proxy");
        }
        Outcome::Skipped { reason } => {
            if let Some(r) = req
                && r.dry_run != Some(true)
            {
                let reference = skipped_reference(r);
                let ev = Event {
                    type_: EventType::Warning,
                    reason: "ProxyNotInjected".into(),
                    note: Some(reason.clone()),
                    action: "Admit".into(),
                    secondary: None,
                };
                // Never hold the admission up for an Event.
                let recorder = state.recorder.clone();
                tokio::spawn(async move {
                    if let Err(e) = recorder.publish(&ev, &reference).await {
                        tracing::warn!(error = %e, "failed to publish ProxyNotInjected");
                    }
                });
            }
        }
        _ => {}
    }
    axum::Json(response)
}

/// What a "not injected" Event is about: the pod's controller (the ReplicaSet, Job… — the
/// pod itself often has no name yet), else the pod.
fn skipped_reference(r: &mutate::AdmissionRequest) -> ObjectReference {
    let obj = r.object.as_ref();
    let owner = obj
        .and_then(|o| o.pointer("/metadata/ownerReferences"))
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .find(|o| o.get("controller").and_then(|c| c.as_bool()) == Some(true))
        });
    let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    match owner {
        Some(o) => ObjectReference {
            api_version: s(o.get("apiVersion")),
            kind: s(o.get("kind")),
            name: s(o.get("name")),
            uid: s(o.get("uid")),
            namespace: r.namespace.clone(),
            ..ObjectReference::default()
        },
        None => ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: r
                .name
                .clone()
                .or_else(|| s(obj.and_then(|o| o.pointer("/metadata/name"))))
                .or_else(|| s(obj.and_then(|o| o.pointer("/metadata/generateName")))),
            namespace: r.namespace.clone(),
            ..ObjectReference::default()
        },
    }
}
