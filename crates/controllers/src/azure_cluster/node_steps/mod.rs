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

mod kubeconfig_step;
mod machine_step;
mod pki_step;

pub use kubeconfig_step::KubeconfigStep;
pub use machine_step::{KeptAsIs, MachineStep, REPLACEMENT_POLL};
pub use pki_step::PkiStep;

use std::collections::BTreeMap;
use std::time::Duration;

use azop_api::v1alpha1::azure_cluster::Cni;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use time::OffsetDateTime;

use super::pki::{self, CertKey, ClusterPki, Purpose};
use super::tokens::{self, Token};
use crate::cluster_secrets::owned_secret;
use crate::engine::{Observation, StepCtx, StepError};
use crate::node_bootstrap::Fragment;

/// Field manager of the Secrets azop writes for AzureClusters.
pub(crate) const FIELD_MANAGER: &str = "azureclusters.azop.dev";

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
    /// The spec's `clusterNetwork.cni` (`None`: unset).
    pub cni: Option<Cni>,
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
        cni: Option<Cni>,
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
            pairs.push(cert_key(&secret).ok_or_else(|| StepError::InvalidSpec {
                message: format!(
                    "Secret {}/{name} has no tls.crt and tls.key: fix it or delete it (azop then generates it)",
                    self.namespace
                ),
            })?);
        }
        // In `Purpose::ALL` order.
        let [ca, etcd, front_proxy, service_account]: [CertKey; 4] =
            pairs.try_into().map_err(|_| StepError::NotReady {
                message: "the cluster's PKI is incomplete".into(),
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
        let unreachable = |why: String| StepError::NotReady {
            message: format!(
                "the join token of the cluster expired and a fresh one cannot be written into the workload cluster ({why}); machines are created once it answers"
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_secret_is_read_as_text_and_a_pair_needs_both_halves() {
        let s = secret(&[("tls.crt", "CERT"), ("tls.key", "KEY"), ("other", "x")]);
        assert_eq!(value_of(&s, "tls.crt").as_deref(), Some("CERT"));
        assert_eq!(value_of(&s, "missing"), None);
        let pair = cert_key(&s).expect("a pair");
        assert_eq!((pair.cert.as_str(), pair.key.as_str()), ("CERT", "KEY"));
        assert!(cert_key(&secret(&[("tls.crt", "CERT")])).is_none());
        let mut binary = secret(&[("ok", "yes")]);
        if let Some(d) = binary.data.as_mut() {
            d.insert("bin".into(), ByteString(vec![0xff, 0xfe]));
        }
        // Bytes that are not UTF-8 are left out, never a panic.
        assert_eq!(
            string_data(&binary),
            BTreeMap::from([("ok".to_string(), "yes".to_string())])
        );
        assert_eq!(
            secret_id("ns", "c-ca"),
            "/api/v1/namespaces/ns/secrets/c-ca"
        );
    }
}
