//! The custom steps that make an AzureCluster's VMs a Kubernetes cluster when azop
//! bootstraps them (no `bootstrapDataSecretRef`):
//!
//! - [`PkiStep`]: the cluster's CAs and service-account key in Secrets (`<cluster>-ca`,
//!   `-etcd`, `-proxy`, `-sa`), created once before any VM and never replaced;
//! - [`KubeconfigStep`]: `<cluster>-kubeconfig`, an admin kubeconfig for the load balancer's
//!   frontend, re-signed before its client certificate expires;
//! - [`MachineStep`]: a VM whose customData is rendered when it is created — the endpoint
//!   address read from this pass's observation of the public IP (or internal frontend), the
//!   PKI from its Secrets, a join token that is still valid (a fresh one written into the
//!   workload cluster first when the recorded one is not). An existing VM is updated without
//!   customData: Azure refuses a change of it, and never returns it.
//!
//! The decisions are pure ([`super::pki`], [`super::tokens`], [`super::kubeadm`]); these
//! steps are the I/O around them. Every Secret carries the AzureCluster's owner reference, so
//! the garbage collector deletes it with the cluster; a Secret of one of these names that
//! azop did not make is used as it is (a CA the user brings, as Cluster API allows) and never
//! deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::v1alpha1::azure_cluster::{Cni, NodeRole, Taint};
use azop_provider::resources::compute::virtual_machine::VirtualMachine;
use azop_provider::resources::{self, Difference};
use azop_provider::{LroHandle, Owner};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use time::OffsetDateTime;

use super::kubeadm;
use super::machines::MachinePlan;
use super::pki::{self, CertKey, ClusterPki, Purpose};
use super::tokens::{self, Token};
use crate::backoff::RetryClass;
use crate::cluster_secrets::{owned_by, owned_secret};
use crate::engine::{Observation, ResourceStep, Step, StepCtx, StepError};
use crate::node_bootstrap::{self, Fragment};

/// Field manager of the Secrets azop writes for AzureClusters.
const FIELD_MANAGER: &str = "azureclusters.azop.dev";

/// Where this pass reads the API endpoint's address: the public IP, or the internal load
/// balancer's frontend (static placement).
#[derive(Clone, Debug)]
pub struct EndpointSource {
    pub path: String,
    pub api_version: &'static str,
    pub pointer: &'static str,
}

/// What every machine's bootstrap shares: the spec's choices and the Secrets' names. One per
/// pass (built by the plan), shared by the cluster's steps.
pub struct Bootstrap {
    pub cluster: String,
    pub namespace: String,
    pub kubernetes_version: String,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub cni: Cni,
    /// Marketplace images get containerd and the Kubernetes packages at boot; azop's own
    /// images (StorageBinding, managed) are checked for them.
    pub install_at_boot: bool,
    /// The ProxyConfig's drop-ins and CA, before everything else the node runs.
    pub proxy: Option<Fragment>,
    pub token_ttl: Duration,
    pub endpoint: EndpointSource,
    /// The token handed out in this pass (one fresh token per pass, however many machines).
    token: tokio::sync::Mutex<Option<Token>>,
}

impl Bootstrap {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cluster: &str,
        namespace: &str,
        kubernetes_version: &str,
        pod_cidr: &str,
        service_cidr: &str,
        cni: Cni,
        install_at_boot: bool,
        proxy: Option<Fragment>,
        token_ttl: Duration,
        endpoint: EndpointSource,
    ) -> Self {
        Bootstrap {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            kubernetes_version: kubernetes_version.to_string(),
            pod_cidr: pod_cidr.to_string(),
            service_cidr: service_cidr.to_string(),
            cni,
            install_at_boot,
            proxy,
            token_ttl,
            endpoint,
            token: tokio::sync::Mutex::new(None),
        }
    }

    fn secrets(&self, cx: &StepCtx<'_>) -> Api<Secret> {
        Api::namespaced(cx.kube.clone(), &self.namespace)
    }

    /// The endpoint's address as this pass observed it (the observer answers from the read
    /// the pass already made).
    async fn endpoint_host(&self, cx: &StepCtx<'_>) -> Result<Option<String>, StepError> {
        let raw = cx
            .observer
            .get(&self.endpoint.path, self.endpoint.api_version)
            .await?;
        Ok(raw
            .and_then(|r| r.json())
            .and_then(|v| v.pointer(self.endpoint.pointer).cloned())
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|s| !s.is_empty()))
    }

    async fn read_pki(&self, cx: &StepCtx<'_>) -> Result<Option<ClusterPki>, StepError> {
        let api = self.secrets(cx);
        let mut pairs = Vec::with_capacity(Purpose::ALL.len());
        for p in Purpose::ALL {
            let name = p.secret_name(&self.cluster);
            let Some(secret) = api.get_opt(&name).await.map_err(kube_err("read", &name))? else {
                return Ok(None);
            };
            pairs.push(cert_key(&secret).ok_or_else(|| StepError::Blocked {
                message: format!(
                    "Secret {}/{name} has no tls.crt and tls.key: fix it or delete it (azop then generates it)",
                    self.namespace
                ),
                retry: RetryClass::InvalidSpec,
            })?);
        }
        // In `Purpose::ALL` order.
        let [ca, etcd, front_proxy, service_account]: [CertKey; 4] =
            pairs.try_into().map_err(|_| StepError::Blocked {
                message: "the cluster's PKI is incomplete".into(),
                retry: RetryClass::Transient,
            })?;
        Ok(Some(ClusterPki {
            ca,
            etcd,
            front_proxy,
            service_account,
        }))
    }

    /// A token a machine created now can join with. `init`: the machine that runs `kubeadm
    /// init` creates the token itself; any other needs it in the workload cluster first.
    async fn token(&self, cx: &StepCtx<'_>, init: bool) -> Result<Token, StepError> {
        let mut held = self.token.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(t) = held.as_ref().filter(|t| t.usable(now, self.token_ttl)) {
            return Ok(t.clone());
        }
        let api = self.secrets(cx);
        let name = tokens::record_name(&self.cluster);
        let record = api.get_opt(&name).await.map_err(kube_err("read", &name))?;
        // No record yet: the cluster's first token, which the first control-plane machine's
        // `kubeadm init` creates (whichever machine of the first pass asks first). A record
        // that is too old means the workload cluster exists and must get the new one first.
        let write_first = tokens::must_reach_workload(record.is_some(), init);
        let recorded = record
            .and_then(|s| Token::from_record(&string_data(&s)))
            .filter(|t| t.usable(now, self.token_ttl));
        let token = match recorded {
            Some(t) => t,
            None => {
                let fresh = Token::generate(now, self.token_ttl);
                if write_first {
                    self.write_into_workload(cx, &fresh).await?;
                }
                let record = owned_secret(
                    &name,
                    &self.namespace,
                    cx.owner,
                    fresh
                        .to_record()
                        .into_iter()
                        .map(|(k, v)| (k, ByteString(v.into_bytes())))
                        .collect(),
                );
                api.patch(
                    &name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&record),
                )
                .await
                .map_err(kube_err("write", &name))?;
                fresh
            }
        };
        *held = Some(token.clone());
        Ok(token)
    }

    /// Creates `token` in the workload cluster, through `<cluster>-kubeconfig`.
    async fn write_into_workload(&self, cx: &StepCtx<'_>, token: &Token) -> Result<(), StepError> {
        let unreachable = |why: String| StepError::Blocked {
            message: format!(
                "the join token of the cluster expired and a fresh one cannot be written into the workload cluster ({why}); machines are created once it answers"
            ),
            retry: RetryClass::Transient,
        };
        let name = pki::kubeconfig_secret_name(&self.cluster);
        let text = self
            .secrets(cx)
            .get_opt(&name)
            .await
            .map_err(kube_err("read", &name))?
            .and_then(|s| value_of(&s, "value"))
            .ok_or_else(|| unreachable(format!("Secret {name} has no kubeconfig yet")))?;
        let client = workload_client(&text).await.map_err(unreachable)?;
        let api: Api<Secret> = Api::namespaced(client, "kube-system");
        match api
            .create(&PostParams::default(), &token.workload_secret())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(unreachable(e.to_string())),
        }
    }
}

/// A client for the workload cluster from its kubeconfig, with short timeouts: an
/// unreachable cluster must not hold a reconcile.
pub async fn workload_client(kubeconfig: &str) -> Result<kube::Client, String> {
    let parsed = kube::config::Kubeconfig::from_yaml(kubeconfig)
        .map_err(|e| format!("the kubeconfig does not parse: {e}"))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(parsed, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| format!("the kubeconfig is not usable: {e}"))?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(10));
    config.write_timeout = Some(Duration::from_secs(10));
    // kube's default retries a 429 up to 15 times, honouring Retry-After: an eviction refused
    // by a PodDisruptionBudget (429, Retry-After 10 s) would hold the pass for minutes. azop
    // retries at its next pass instead.
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
}

fn kube_err(verb: &'static str, name: &str) -> impl FnOnce(kube::Error) -> StepError {
    let name = name.to_string();
    move |e| StepError::Kube {
        action: format!("{verb} Secret {name}"),
        source: Box::new(e),
    }
}

fn value_of(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
}

fn string_data(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
        .collect()
}

fn cert_key(secret: &Secret) -> Option<CertKey> {
    Some(CertKey {
        cert: value_of(secret, "tls.crt")?,
        key: value_of(secret, "tls.key")?,
    })
}

fn secret_id(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/secrets/{name}")
}

fn ready() -> Observation {
    Observation {
        exists: true,
        owned: true,
        ..Observation::default()
    }
}

/// The cluster's CAs and service-account key pair.
pub struct PkiStep {
    pub bootstrap: Arc<Bootstrap>,
    name: String,
}

impl PkiStep {
    pub fn new(bootstrap: Arc<Bootstrap>) -> Self {
        let name = Purpose::ClusterCa.secret_name(&bootstrap.cluster);
        PkiStep { bootstrap, name }
    }
}

#[async_trait]
impl Step for PkiStep {
    fn resource_type(&self) -> &'static str {
        "Secret"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self, _subscription_id: &str) -> String {
        secret_id(&self.bootstrap.namespace, &self.name)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let api = self.bootstrap.secrets(cx);
        let now = OffsetDateTime::now_utc();
        for p in Purpose::ALL {
            let name = p.secret_name(&self.bootstrap.cluster);
            let Some(secret) = api.get_opt(&name).await.map_err(kube_err("read", &name))? else {
                return Ok(Observation::default());
            };
            let problem = match cert_key(&secret) {
                None => Some("it has no tls.crt and tls.key".to_string()),
                Some(pair) => pki::check(p, &pair, now).err(),
            };
            if let Some(problem) = problem {
                // Never replaced: a new CA would cut every node off. The user fixes it.
                return Ok(Observation {
                    provisioning_state: Some("Failed".into()),
                    failure: Some((
                        format!(
                            "Secret {}/{name} is not a usable {} ({problem}): restore it; azop never replaces a cluster's keys",
                            self.bootstrap.namespace,
                            p.suffix()
                        ),
                        RetryClass::InvalidSpec,
                    )),
                    ..ready()
                });
            }
        }
        Ok(ready())
    }

    /// Creates the missing Secrets, never touching one that exists.
    async fn put(&self, cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        let api = self.bootstrap.secrets(cx);
        let now = OffsetDateTime::now_utc();
        for p in Purpose::ALL {
            let name = p.secret_name(&self.bootstrap.cluster);
            if api
                .get_opt(&name)
                .await
                .map_err(kube_err("read", &name))?
                .is_some()
            {
                continue;
            }
            let pair = pki::generate(p, now).map_err(|message| StepError::Blocked {
                message,
                retry: RetryClass::Transient,
            })?;
            let secret = owned_secret(
                &name,
                &self.bootstrap.namespace,
                cx.owner,
                BTreeMap::from([
                    ("tls.crt".to_string(), ByteString(pair.cert.into_bytes())),
                    ("tls.key".to_string(), ByteString(pair.key.into_bytes())),
                ]),
            );
            match api.create(&PostParams::default(), &secret).await {
                Ok(_) => {}
                // Another replica or pass made it first: that one stands.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(kube_err("create", &name)(e)),
            }
        }
        Ok(None)
    }

    /// The garbage collector deletes the Secrets with the AzureCluster (owner reference).
    async fn delete(&self, _cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    /// A Secret's mark is its owner reference to the object, which the garbage collector
    /// follows when the object goes: nothing in Azure to change. (`kubectl delete
    /// --cascade=orphan` keeps the Secrets too.)
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

/// `<cluster>-kubeconfig`: an admin kubeconfig for the endpoint, signed by the cluster CA.
pub struct KubeconfigStep {
    pub bootstrap: Arc<Bootstrap>,
    name: String,
}

impl KubeconfigStep {
    pub fn new(bootstrap: Arc<Bootstrap>) -> Self {
        let name = pki::kubeconfig_secret_name(&bootstrap.cluster);
        KubeconfigStep { bootstrap, name }
    }

    async fn wanted(&self, cx: &StepCtx<'_>) -> Result<Option<(String, CertKey)>, StepError> {
        let Some(host) = self.bootstrap.endpoint_host(cx).await? else {
            return Ok(None);
        };
        let ca_name = Purpose::ClusterCa.secret_name(&self.bootstrap.cluster);
        let ca = self
            .bootstrap
            .secrets(cx)
            .get_opt(&ca_name)
            .await
            .map_err(kube_err("read", &ca_name))?
            .as_ref()
            .and_then(cert_key);
        Ok(ca.map(|ca| {
            (
                pki::server_url(&host, i32::from(kubeadm::API_SERVER_PORT)),
                ca,
            )
        }))
    }
}

#[async_trait]
impl Step for KubeconfigStep {
    fn resource_type(&self) -> &'static str {
        "Secret"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn id(&self, _subscription_id: &str) -> String {
        secret_id(&self.bootstrap.namespace, &self.name)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let Some(secret) = self
            .bootstrap
            .secrets(cx)
            .get_opt(&self.name)
            .await
            .map_err(kube_err("read", &self.name))?
        else {
            return Ok(Observation::default());
        };
        if !owned_by(&secret, cx.owner) {
            return Ok(Observation {
                exists: true,
                ..Observation::default()
            });
        }
        let mut seen = ready();
        if let Some((server, ca)) = self.wanted(cx).await? {
            let current = value_of(&secret, "value");
            if pki::kubeconfig_stale(
                current.as_deref(),
                &server,
                &ca.cert,
                OffsetDateTime::now_utc(),
            ) {
                seen.drift.push(Difference {
                    field: "data.value".into(),
                    desired: format!("a kubeconfig for {server}, valid for more than 30 days"),
                    observed: "another server or CA, or a certificate near its expiry".into(),
                });
            }
        }
        Ok(seen)
    }

    async fn put(&self, cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        let Some((server, ca)) = self.wanted(cx).await? else {
            return Err(StepError::Blocked {
                message: "the API endpoint has no address yet".into(),
                retry: RetryClass::Transient,
            });
        };
        let client = pki::admin_client(&ca, OffsetDateTime::now_utc()).map_err(|message| {
            StepError::Blocked {
                message,
                retry: RetryClass::InvalidSpec,
            }
        })?;
        let text = pki::kubeconfig(&self.bootstrap.cluster, &server, &ca.cert, &client);
        let secret = owned_secret(
            &self.name,
            &self.bootstrap.namespace,
            cx.owner,
            BTreeMap::from([("value".to_string(), ByteString(text.into_bytes()))]),
        );
        self.bootstrap
            .secrets(cx)
            .patch(
                &self.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(kube_err("write", &self.name))?;
        Ok(None)
    }

    async fn delete(&self, _cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    /// A Secret's mark is its owner reference to the object, which the garbage collector
    /// follows when the object goes: nothing in Azure to change. (`kubectl delete
    /// --cascade=orphan` keeps the Secrets too.)
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

/// A VM that azop bootstraps: customData rendered when it is created.
pub struct MachineStep {
    pub vm: ResourceStep<VirtualMachine>,
    pub bootstrap: Arc<Bootstrap>,
    pub machine: MachinePlan,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl MachineStep {
    /// The customData of a new machine (I/O for the inputs; the rendering is pure).
    async fn custom_data(&self, cx: &StepCtx<'_>) -> Result<String, StepError> {
        let b = &self.bootstrap;
        let not_yet = |what: &str| StepError::Blocked {
            message: format!("the machine waits for {what}"),
            retry: RetryClass::Transient,
        };
        let host = b
            .endpoint_host(cx)
            .await?
            .ok_or_else(|| not_yet("the API endpoint's address"))?;
        let pki = b
            .read_pki(cx)
            .await?
            .ok_or_else(|| not_yet("the cluster's PKI Secrets"))?;
        let init = self.machine.role == NodeRole::ControlPlane && self.machine.index == 0;
        let token = b.token(cx, init).await?;
        let invalid = |message: String| StepError::Blocked {
            message,
            retry: RetryClass::InvalidSpec,
        };
        let hash = pki::ca_cert_hash(&pki.ca.cert).map_err(invalid)?;
        let cluster = kubeadm::ClusterBootstrap {
            cluster_name: b.cluster.clone(),
            kubernetes_version: b.kubernetes_version.clone(),
            endpoint_host: host,
            endpoint_port: kubeadm::API_SERVER_PORT,
            pod_cidr: b.pod_cidr.clone(),
            service_cidr: b.service_cidr.clone(),
            cni: match b.cni {
                Cni::Calico => kubeadm::Cni::Calico,
                Cni::None => kubeadm::Cni::None,
            },
            pki: kubeadm::ClusterPki {
                ca_crt: pki.ca.cert,
                ca_key: pki.ca.key,
                etcd_ca_crt: pki.etcd.cert,
                etcd_ca_key: pki.etcd.key,
                front_proxy_ca_crt: pki.front_proxy.cert,
                front_proxy_ca_key: pki.front_proxy.key,
                sa_pub: pki.service_account.cert,
                sa_key: pki.service_account.key,
            },
            token: token.value(),
            token_ttl: b.token_ttl,
            ca_cert_hash: hash,
            install_at_boot: b.install_at_boot,
            // azop does not deploy cloud-provider-azure: with `external` every node would keep
            // the uninitialized taint (docs/bootstrap.md).
            external_cloud_provider: false,
        };
        let node_name = self.machine.name.as_str();
        let machine = match (self.machine.role, init) {
            (NodeRole::ControlPlane, true) => kubeadm::MachineBootstrap::Init { node_name },
            (NodeRole::ControlPlane, false) => {
                kubeadm::MachineBootstrap::JoinControlPlane { node_name }
            }
            (NodeRole::Worker, _) => kubeadm::MachineBootstrap::JoinWorker {
                node_name,
                labels: &self.labels,
                taints: &self.taints,
            },
        };
        let fragment = kubeadm::fragment(&cluster, &machine).map_err(invalid)?;
        let fragments: Vec<Fragment> = b.proxy.iter().cloned().chain([fragment]).collect();
        let doc = node_bootstrap::compose(&fragments, None)
            .map_err(invalid)?
            .unwrap_or_default();
        kubeadm::check_size(&doc).map_err(invalid)?;
        Ok(doc)
    }
}

#[async_trait]
impl Step for MachineStep {
    fn resource_type(&self) -> &'static str {
        self.vm.resource_type()
    }

    fn name(&self) -> &str {
        self.vm.name()
    }

    fn id(&self, subscription_id: &str) -> String {
        self.vm.id(subscription_id)
    }

    fn desired(&self, owner: &Owner) -> Option<serde_json::Value> {
        self.vm.desired(owner)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        self.vm.observe(cx).await
    }

    async fn put(&self, cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        let path = self.vm.id(cx.session.subscription_id());
        let exists = cx
            .observer
            .get(
                &path,
                <VirtualMachine as resources::ArmResource>::API_VERSION,
            )
            .await?
            .is_some();
        let mut spec = self.vm.spec.clone();
        // A new machine gets its bootstrap; an update never sends customData (Azure refuses
        // a change of it).
        spec.custom_data = if exists {
            None
        } else {
            Some(self.custom_data(cx).await?)
        };
        Ok(
            resources::put_desired::<VirtualMachine>(cx.session, &self.vm.key, &spec, cx.owner)
                .await?,
        )
    }

    async fn delete(&self, cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        self.vm.delete(cx).await
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        self.vm.disown(cx).await
    }
}

/// How often a pass runs while a pool replaces machines.
pub const REPLACEMENT_POLL: Duration = Duration::from_secs(5);

/// A machine that no longer matches its pool, kept as it is until its replacement is ready:
/// read like any VM, never written (no drift is reported, so nothing is PUT; if it vanished,
/// it is not re-created). Its removal is the sweep's.
pub struct KeptAsIs<S: Step>(pub S);

#[async_trait]
impl<S: Step> Step for KeptAsIs<S> {
    fn resource_type(&self) -> &'static str {
        self.0.resource_type()
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn id(&self, subscription_id: &str) -> String {
        self.0.id(subscription_id)
    }

    fn desired(&self, owner: &Owner) -> Option<serde_json::Value> {
        self.0.desired(owner)
    }

    async fn observe(&self, cx: &StepCtx<'_>) -> Result<Observation, StepError> {
        let mut seen = self.0.observe(cx).await?;
        seen.drift.clear();
        // A replacement waits on things nothing wakes azop for (a new machine's node turning
        // Ready): look again soon rather than back off.
        seen.poll_after = Some(REPLACEMENT_POLL);
        Ok(seen)
    }

    async fn put(&self, _cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    async fn delete(&self, cx: &StepCtx<'_>) -> Result<Option<LroHandle>, StepError> {
        self.0.delete(cx).await
    }

    async fn disown(&self, cx: &StepCtx<'_>) -> Result<(), StepError> {
        self.0.disown(cx).await
    }
}
