//! Registration: a kind runs as a kube `Controller` built from its declaration of what wakes
//! it ([`Watches`]). One builder for every Azure-backed kind, so they cannot drift apart:
//!
//! - the object itself wakes on spec changes and the deletion mark only (a new generation):
//!   the controller's own status writes must not, or every write would re-read the whole
//!   graph from Azure. In-flight operations are polled by requeue, at their Retry-After;
//! - Secrets of its namespace that it names (`spec.credentialsRef` always, more per kind),
//!   and optionally those it owns (written again when changed or deleted), watched by their
//!   metadata only: no Secret data is held in memory;
//! - ProxyConfigs by spec change only (one appearing, changing its spec or going): the one
//!   the object names, else its namespace's default. The ProxyConfig controller's status
//!   writes (its consumers) wake no cluster;
//! - other azop objects it names, or that name it;
//! - its Azure resources changing outside azop: the subscription's shared listing compares
//!   ETags at each walk and names the `azop.dev_uid` of what changed
//!   ([`azop_provider::Listings::changes`]), so drift is corrected within one walk instead of
//!   at the object's next resync after it.
//!
//! The watch cache keeps each object without `metadata.managedFields` and kubectl's
//! last-applied annotation: no reconcile reads them, and together they are often larger than
//! the object (thousands of objects are held). The same watch says when an object is gone:
//! its per-object state is dropped then ([`super::forget`]).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use azop_api::v1alpha1::AzureObject;
use azop_api::v1alpha1::proxy_config::ProxyConfig;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::forget;
use super::{Kind, Runner, error_policy, reconcile};
use crate::context::Context;
use crate::proxy_config;

/// What a watched object must be.
pub trait Watchable:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Watchable for T where
    T: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

type Related<O> = Box<dyn FnOnce(Controller<O>, &Context) -> Controller<O> + Send>;

/// What wakes an object of a kind besides its own spec changes. Built with the methods
/// below; `spec.credentialsRef` is always watched.
pub struct Watches<O: Watchable> {
    /// Secrets the object names besides its credentials (a SAS, bootstrap data).
    secrets: Option<fn(&O) -> Vec<String>>,
    /// Secrets carrying an owner reference to the object.
    owned_secrets: bool,
    /// The object's `spec.proxyConfigRef`: ProxyConfigs are watched when set.
    proxy_config_ref: Option<fn(&O) -> Option<String>>,
    related: Vec<Related<O>>,
}

impl<O: Watchable> Default for Watches<O> {
    fn default() -> Self {
        Watches {
            secrets: None,
            owned_secrets: false,
            proxy_config_ref: None,
            related: Vec::new(),
        }
    }
}

impl<O: Watchable + AzureObject> Watches<O> {
    /// Secrets of the object's namespace that it names, besides `spec.credentialsRef`.
    pub fn secrets(mut self, names: fn(&O) -> Vec<String>) -> Self {
        self.secrets = Some(names);
        self
    }

    /// Secrets the object owns (an owner reference to it): a changed or deleted one wakes it.
    pub fn owned_secrets(mut self) -> Self {
        self.owned_secrets = true;
        self
    }

    /// ProxyConfigs, by spec change only: the one `reference` names, else the namespace's
    /// default.
    pub fn proxy_configs(mut self, reference: fn(&O) -> Option<String>) -> Self {
        self.proxy_config_ref = Some(reference);
        self
    }

    /// Objects of kind `R` that the object names (`names(o)`, same namespace): a change to
    /// one wakes the objects naming it.
    pub fn references<R: Watchable>(mut self, names: fn(&O) -> Option<String>) -> Self {
        self.related
            .push(Box::new(move |c: Controller<O>, ctx: &Context| {
                let store = c.store();
                c.watches(ctx.api::<R>(), watcher::Config::default(), move |r: R| {
                    let ns = r.namespace().unwrap_or_default();
                    let name = r.name_any();
                    objects(&store, &ns, |o| names(o).as_deref() == Some(name.as_str()))
                })
            }));
        self
    }

    /// Objects of kind `R` that name the object (`named(r)`, same namespace): a change to
    /// one (or its deletion) wakes the object it names.
    pub fn referenced_by<R: Watchable>(mut self, named: fn(&R) -> Option<String>) -> Self {
        self.related
            .push(Box::new(move |c: Controller<O>, ctx: &Context| {
                c.watches(ctx.api::<R>(), watcher::Config::default(), move |r: R| {
                    let ns = r.namespace().unwrap_or_default();
                    named(&r).map(|name| ObjectRef::<O>::new(&name).within(&ns))
                })
            }));
        self
    }

    /// Adds every declared watch to `controller`.
    fn attach(self, controller: Controller<O>, ctx: &Context) -> Controller<O> {
        let secret_names = self.secrets;
        let owned = self.owned_secrets;
        let store = controller.store();
        let secrets = watcher(
            ctx.api::<PartialObjectMeta<Secret>>(),
            watcher::Config::default(),
        )
        .default_backoff()
        .touched_objects();
        let mut controller =
            controller.watches_stream(secrets, move |m: PartialObjectMeta<Secret>| {
                let ns = m.namespace().unwrap_or_default();
                let name = m.name_any();
                let owners: Vec<String> = m
                    .owner_references()
                    .iter()
                    .filter(|r| owned && r.kind == O::kind(&()))
                    .map(|r| r.uid.clone())
                    .collect();
                objects(&store, &ns, |o| {
                    names_secret(o, &name, secret_names)
                        || o.uid().is_some_and(|u| owners.contains(&u))
                })
            });
        if let Some(reference) = self.proxy_config_ref {
            let store = controller.store();
            controller = controller.watches_stream(
                proxy_config::spec_changes(ctx.api()),
                move |p: ProxyConfig| {
                    let ns = p.namespace().unwrap_or_default();
                    let name = p.name_any();
                    store
                        .state()
                        .into_iter()
                        .filter(|o| {
                            proxy_config::resolve::affects(
                                &ns,
                                &name,
                                o.namespace().as_deref().unwrap_or_default(),
                                reference(o).as_deref(),
                            )
                        })
                        .map(|o| ObjectRef::from_obj(&*o))
                        .collect::<Vec<_>>()
                },
            );
        }
        for add in self.related {
            controller = add(controller, ctx);
        }
        controller
    }
}

/// Whether `obj` names Secret `name` (its credentials, or one the kind reads). Pure.
fn names_secret<O: AzureObject>(
    obj: &O,
    name: &str,
    others: Option<fn(&O) -> Vec<String>>,
) -> bool {
    obj.scope()
        .credentials_ref
        .as_ref()
        .is_some_and(|r| r.name == name)
        || others.is_some_and(|f| f(obj).iter().any(|n| n == name))
}

/// References to the cached objects of namespace `ns` that `wanted` selects.
fn objects<O: Watchable>(
    store: &Store<O>,
    ns: &str,
    wanted: impl Fn(&O) -> bool,
) -> Vec<ObjectRef<O>> {
    store
        .state()
        .into_iter()
        .filter(|o| o.namespace().as_deref() == Some(ns))
        .filter(|o| wanted(o))
        .map(|o| ObjectRef::from_obj(&*o))
        .collect()
}

/// What the watch cache keeps of an object: everything but what no reconcile reads.
pub fn slim<O: Resource>(obj: &mut O) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// References to the objects whose uid a listing walk named.
fn changed_objects<O: Watchable>(
    store: Store<O>,
    changes: tokio::sync::broadcast::Receiver<azop_provider::Changed>,
) -> impl futures::Stream<Item = ObjectRef<O>> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(changes, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(changed) => return Some((changed, rx)),
                // Dropped changes are found by the resync.
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(dropped = n, "listing changes dropped");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .flat_map(move |changed| {
        futures::stream::iter(
            store
                .state()
                .into_iter()
                .filter(|o| o.uid().as_deref() == Some(changed.owner_uid.as_str()))
                .map(|o| ObjectRef::from_obj(&*o))
                .collect::<Vec<_>>(),
        )
    })
}

/// Runs `kind`'s controller until `shutdown` resolves.
pub async fn run<K: Kind>(
    kind: K,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let watches = kind.watches();
    let (reader, writer) = reflector::store();
    let runner = Arc::new(Runner::new(kind, ctx.clone()));
    // An object gone from the watch takes its per-object state with it.
    let forgetting = runner.clone();
    // Only spec changes (and the deletion mark, which bumps the generation) wake an object.
    let triggers = watcher(ctx.api::<K::Object>(), watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .inspect_ok(move |event| forget::on_event(&forgetting, event))
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    // Unbounded here: the concurrency limit is the runner's fair slots (`Runner::slots`).
    let controller =
        Controller::for_stream(triggers, reader).with_config(Config::default().concurrency(0));
    let changed = changed_objects(controller.store(), ctx.provider.listings().changes());
    let controller = watches
        .attach(controller, &ctx)
        .reconcile_on(changed)
        // A shard taken (over): its objects are reconciled at once, not at their next event.
        .reconcile_all_on(ctx.settings.shards.acquisitions());
    let label = K::IDENTITY.metrics_label;
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, runner)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(controller = label, error = %e, "controller event");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use azop_api::v1alpha1::SecretRef;
    use azop_api::v1alpha1::azure_cluster::AzureCluster;

    #[test]
    fn an_object_names_its_credentials_and_what_its_kind_reads() {
        let mut c: AzureCluster = crate::testing::cluster("c").build();
        c.spec.azure.credentials_ref = Some(SecretRef {
            name: "creds".into(),
        });
        let bootstrap: fn(&AzureCluster) -> Vec<String> = |_| vec!["data".to_string()];
        assert!(names_secret(&c, "creds", None));
        assert!(!names_secret(&c, "data", None));
        assert!(names_secret(&c, "data", Some(bootstrap)));
        assert!(!names_secret(&c, "other", Some(bootstrap)));
    }

    #[test]
    fn the_watch_cache_keeps_what_reconciles_read() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let mut c: AzureCluster = crate::testing::cluster("c").build();
        c.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        c.metadata.annotations = Some(
            [
                ("kubectl.kubernetes.io/last-applied-configuration", "{...}"),
                ("azop.dev/kept", "yes"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let spec = c.spec.clone();
        slim(&mut c);
        assert_eq!(c.metadata.managed_fields, None);
        let annotations = c.metadata.annotations.expect("annotations");
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["azop.dev/kept"], "yes");
        assert_eq!(c.spec, spec, "the spec untouched");
    }
}
