//! [`KubeconfigStep`]: `<cluster>-kubeconfig`, an admin kubeconfig for the load balancer's
//! frontend, re-signed before its client certificate expires.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azop_provider::LroHandle;
use azop_provider::resources::Difference;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use time::OffsetDateTime;

use super::{Bootstrap, FIELD_MANAGER, cert_key, kube_err, ready, secret_id, value_of};
use crate::azure_cluster::kubeadm;
use crate::azure_cluster::pki::{self, CertKey, Purpose};
use crate::cluster_secrets::{owned_by, owned_secret};
use crate::engine::{Observation, Step, StepCtx, StepError};

/// What our kubeconfig Secret says (pure): ready, or drifted when it is for another server or
/// CA, or its certificate is near its expiry. `wanted`: the server and CA it should name,
/// when the endpoint has an address and the CA exists.
pub fn kubeconfig_seen(
    secret: &Secret,
    wanted: Option<&(String, CertKey)>,
    now: OffsetDateTime,
) -> Observation {
    let mut seen = ready();
    if let Some((server, ca)) = wanted {
        let current = value_of(secret, "value");
        if pki::kubeconfig_stale(current.as_deref(), server, &ca.cert, now) {
            seen.drift.push(Difference {
                field: "data.value".into(),
                desired: format!("a kubeconfig for {server}, valid for more than 30 days"),
                observed: "another server or CA, or a certificate near its expiry".into(),
            });
        }
    }
    seen
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
        let wanted = self.wanted(cx).await?;
        Ok(kubeconfig_seen(
            &secret,
            wanted.as_ref(),
            OffsetDateTime::now_utc(),
        ))
    }

    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        let Some((server, ca)) = self.wanted(cx).await? else {
            return Err(StepError::NotReady {
                message: "the API endpoint has no address yet".into(),
            });
        };
        let client = pki::admin_client(&ca, OffsetDateTime::now_utc())
            .map_err(|message| StepError::InvalidSpec { message })?;
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

    async fn delete(
        &self,
        _cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
        Ok(None)
    }

    /// A Secret's mark is its owner reference to the object, which the garbage collector
    /// follows when the object goes: nothing in Azure to change. (`kubectl delete
    /// --cascade=orphan` keeps the Secrets too.)
    async fn disown(&self, _cx: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig_secret(text: &str) -> Secret {
        Secret {
            data: Some(BTreeMap::from([(
                "value".to_string(),
                ByteString(text.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        }
    }

    /// Written again when the endpoint or the CA changed, never while it still fits.
    #[test]
    fn a_kubeconfig_is_rewritten_for_another_server_or_ca() {
        let now = OffsetDateTime::now_utc();
        let ca = pki::generate(Purpose::ClusterCa, now).expect("ca");
        let server = pki::server_url("20.1.2.3", 6443);
        let client = pki::admin_client(&ca, now).expect("client");
        let current = kubeconfig_secret(&pki::kubeconfig("c", &server, &ca.cert, &client));
        let wanted = (server.clone(), ca.clone());
        let seen = kubeconfig_seen(&current, Some(&wanted), now);
        assert!(seen.drift.is_empty(), "{:?}", seen.drift);
        assert!(seen.exists && seen.owned);

        let moved = (pki::server_url("20.9.9.9", 6443), ca.clone());
        let seen = kubeconfig_seen(&current, Some(&moved), now);
        assert_eq!(seen.drift.len(), 1);
        assert_eq!(seen.drift[0].field, "data.value");
        assert!(
            seen.drift[0].desired.contains("20.9.9.9"),
            "{}",
            seen.drift[0].desired
        );

        let other_ca = pki::generate(Purpose::ClusterCa, now).expect("ca");
        let seen = kubeconfig_seen(&current, Some(&(server, other_ca)), now);
        assert_eq!(seen.drift.len(), 1);

        // No address or no CA yet: nothing to compare with, the Secret stands.
        assert!(
            kubeconfig_seen(&Secret::default(), None, now)
                .drift
                .is_empty()
        );
    }
}
