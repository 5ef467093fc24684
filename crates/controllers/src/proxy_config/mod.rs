//! The ProxyConfig controller (Kubernetes-side only: nothing in Azure).
//!
//! - [`resolve`]: which ProxyConfig a consumer uses — its reference, else the namespace's
//!   single default (pure).
//! - [`validate`]: the spec, the noProxy grammar, the CA bundle, one default per namespace
//!   (pure).
//! - [`compute`]: effective noProxy, consumers, conditions and the Events they deserve (pure).
//! - [`inherit`]: what clusters get — AKS `httpProxyConfig`, IaaS bootstrap drop-ins (pure).
//! - [`ca`]: reading the CA from its Secret/ConfigMap, keeping the bundle ConfigMap pods
//!   mount (I/O).
//! - [`reconcile`]: one pass (I/O).
//! - [`inject`]: the mutating webhook's decisions for labelled pods and workloads (pure; the
//!   operator binary serves them).
//!
//! A ProxyConfig has no finalizer: nothing outside Kubernetes belongs to it, and the bundle
//! ConfigMap carries an owner reference, so the garbage collector removes it — unless
//! `deletionPolicy` is Orphan, when it carries none and stays.

pub mod ca;
pub mod compute;
pub mod inherit;
pub mod inject;
pub mod reconcile;
pub mod resolve;
pub mod validate;

use std::sync::{Arc, Mutex};

use azop_api::v1alpha1::aks_cluster::AksCluster;
use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};

use crate::context::Context;
use crate::engine::forget::Seen;
use crate::error::Error;
pub use inherit::{ClusterNetwork, ClusterProxy};
pub use resolve::{ProxyProblem, ResolvedProxy, effective_proxy_for};

/// What the reconcile reads besides the ProxyConfig: caches of everything that can use it.
pub struct ProxyContext {
    pub ctx: Arc<Context>,
    pub proxies: Store<ProxyConfig>,
    pub azure_clusters: Store<AzureCluster>,
    pub aks_clusters: Store<AksCluster>,
    /// Metadata of the pods the webhook injected (label [`compute::INJECTED_LABEL`]).
    pub pods: Store<PartialObjectMeta<Pod>>,
    /// The ProxyConfigs the watch shows: a pass ending after its object went drops the
    /// backoff it wrote (`engine::forget::after_pass`, for the engine's kinds).
    pub seen: Arc<Mutex<Seen>>,
}

impl ProxyContext {
    /// After a pass or the error policy wrote the backoff of `uid`: dropped again if the
    /// object is gone meanwhile, and the state counts exported.
    pub fn after_pass(&self, uid: &str) {
        let live = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_live(uid);
        if !live {
            self.ctx.backoff.succeeded(uid);
        }
        self.ctx.report_object_state();
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let proxies: Api<ProxyConfig> = ctx.api();
    let (reader, writer) = reflector::store();
    // A ProxyConfig gone from the watch takes its backoff count with it (as every kind's,
    // `engine::forget`): deleted while failing, it would otherwise stay counted.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (watched, forgetting) = (seen.clone(), ctx.clone());
    let main = watcher(proxies.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect_ok(move |event| {
            let gone = watched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_event(event);
            for uid in gone {
                forgetting.backoff.succeeded(&uid);
                forgetting.report_object_state();
            }
        })
        .touched_objects();

    // The clusters, as far as consumers go: their spec and API endpoint. The rest of their
    // status is the cluster controllers' (this is a second cache of every cluster: with
    // thousands of clusters, what it keeps matters).
    let (azure_reader, azure_writer) = reflector::store();
    let azure = watcher(ctx.api::<AzureCluster>(), watcher::Config::default())
        .default_backoff()
        .modify(compute::consumer_view)
        .reflect(azure_writer)
        .touched_objects();
    let (aks_reader, aks_writer) = reflector::store();
    let aks = watcher(ctx.api::<AksCluster>(), watcher::Config::default())
        .default_backoff()
        .modify(|c: &mut AksCluster| {
            crate::engine::registration::slim(c);
            c.status = None;
        })
        .reflect(aks_writer)
        .touched_objects();
    // Only the pods the webhook marked, and only their metadata: a namespace's pods are
    // otherwise far more than this controller needs to hold.
    let (pods_reader, pods_writer) = reflector::store();
    let pods = watcher(
        ctx.api::<PartialObjectMeta<Pod>>(),
        watcher::Config::default().labels(compute::INJECTED_LABEL),
    )
    .default_backoff()
    .reflect(pods_writer)
    .touched_objects();
    let secrets = watcher(
        ctx.api::<PartialObjectMeta<Secret>>(),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    let config_maps = watcher(
        ctx.api::<PartialObjectMeta<ConfigMap>>(),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();

    let pctx = Arc::new(ProxyContext {
        ctx: ctx.clone(),
        proxies: reader.clone(),
        azure_clusters: azure_reader,
        aks_clusters: aks_reader,
        pods: pods_reader,
        seen,
    });
    let controller = Controller::for_stream(main, reader)
        .with_config(Config::default().concurrency(ctx.settings.concurrency));
    let siblings = controller.store();
    let for_clusters = controller.store();
    let for_aks = controller.store();
    let for_secrets = controller.store();
    let for_config_maps = controller.store();
    controller
        // Another ProxyConfig of the namespace appearing, changing or going can make a
        // default unique or ambiguous: every default of that namespace is re-checked.
        .watches(
            proxies,
            watcher::Config::default(),
            move |p: ProxyConfig| {
                let ns = p.namespace();
                siblings
                    .state()
                    .into_iter()
                    .filter(|o| {
                        o.namespace() == ns && o.spec.default && o.name_any() != p.name_any()
                    })
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(azure, move |c: AzureCluster| {
            let reference = c.spec.proxy_config_ref.as_ref().map(|r| r.name.clone());
            consumers_of(&for_clusters, c.namespace(), reference)
        })
        .watches_stream(aks, move |c: AksCluster| {
            let reference = c.spec.proxy_config_ref.as_ref().map(|r| r.name.clone());
            consumers_of(&for_aks, c.namespace(), reference)
        })
        .watches_stream(pods, |m: PartialObjectMeta<Pod>| {
            let ns = m.namespace().unwrap_or_default();
            m.labels()
                .get(compute::INJECTED_LABEL)
                .map(|name| ObjectRef::new(name).within(&ns))
        })
        .watches_stream(secrets, move |m: PartialObjectMeta<Secret>| {
            ca_users(&for_secrets, m.namespace(), &m.name_any(), true)
        })
        .watches_stream(config_maps, move |m: PartialObjectMeta<ConfigMap>| {
            ca_users(&for_config_maps, m.namespace(), &m.name_any(), false)
        })
        .reconcile_all_on(ctx.settings.shards.acquisitions())
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, pctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "proxyconfig controller event");
            }
        })
        .await;
}

/// ProxyConfigs as the cluster controllers watch them: passed on when one appears, when its
/// spec changes (a new generation) and when it goes — not on its status writes, which would
/// otherwise wake every cluster of the namespace each time the ProxyConfig controller
/// updates its consumers.
pub fn spec_changes(
    api: Api<ProxyConfig>,
) -> impl futures::Stream<Item = Result<ProxyConfig, watcher::Error>> + Send + 'static {
    let mut seen: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let out = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    let generation = p.metadata.generation.unwrap_or(0);
                    let key = p.uid().unwrap_or_else(|| p.name_any());
                    (seen.insert(key, generation) != Some(generation)).then_some(Ok(p))
                }
                Ok(watcher::Event::Delete(p)) => {
                    seen.remove(&p.uid().unwrap_or_else(|| p.name_any()));
                    Some(Ok(p))
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        })
}

/// The ProxyConfigs a cluster's change concerns: the one it names, or its namespace's
/// defaults.
fn consumers_of(
    store: &Store<ProxyConfig>,
    ns: Option<String>,
    reference: Option<String>,
) -> Vec<ObjectRef<ProxyConfig>> {
    store
        .state()
        .into_iter()
        .filter(|p| p.namespace() == ns)
        .filter(|p| match &reference {
            Some(r) => p.name_any() == *r,
            None => p.spec.default,
        })
        .map(|p| ObjectRef::from_obj(&*p))
        .collect()
}

/// The ProxyConfigs whose trusted CA lives in Secret (or ConfigMap) `ns/name`.
fn ca_users(
    store: &Store<ProxyConfig>,
    ns: Option<String>,
    name: &str,
    secret: bool,
) -> Vec<ObjectRef<ProxyConfig>> {
    store
        .state()
        .into_iter()
        .filter(|p| p.namespace() == ns)
        .filter(|p| {
            p.spec.trusted_ca.as_ref().is_some_and(|ca| {
                let r = if secret {
                    &ca.secret_ref
                } else {
                    &ca.config_map_ref
                };
                r.as_ref().is_some_and(|r| r.name == name)
            })
        })
        .map(|p| ObjectRef::from_obj(&*p))
        .collect()
}

/// What a cluster controller calls to inherit a proxy: resolves the ProxyConfig for a cluster
/// in `namespace` with `reference` (its `spec.proxyConfigRef`) among `proxies` (the
/// controller's cache of ProxyConfigs; other namespaces are ignored), reads and checks its CA,
/// and returns the settings with the cluster's own noProxy — or `None` when the cluster uses
/// no proxy. Problems (a missing reference, two defaults, an invalid ProxyConfig or CA) are
/// `MissingReference` errors with the message to show: they are fixed on the ProxyConfig,
/// whose watch wakes the cluster.
pub async fn for_cluster(
    client: &kube::Client,
    proxies: &[Arc<ProxyConfig>],
    namespace: &str,
    reference: Option<&str>,
    network: &ClusterNetwork,
) -> Result<Option<ClusterProxy>, Error> {
    let resolved = match effective_proxy_for(namespace, reference, proxies) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(problem) => {
            return Err(Error::MissingReference {
                message: problem.to_string(),
            });
        }
    };
    let source = ca::read(client, namespace, resolved.trusted_ca.as_ref()).await?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let (obs, bundle) = validate::trusted_ca(&source, now);
    if obs.status != crate::conditions::Status::True {
        return Err(Error::MissingReference {
            message: format!(
                "ProxyConfig {namespace}/{}: trusted CA: {}",
                resolved.name, obs.message
            ),
        });
    }
    Ok(Some(ClusterProxy::new(
        resolved,
        bundle.map(|b| b.pem),
        network,
    )))
}
