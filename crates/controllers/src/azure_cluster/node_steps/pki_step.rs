//! [`PkiStep`]: the cluster's CAs and service-account key in Secrets (`<cluster>-ca`, `-etcd`,
//! `-proxy`, `-sa`), created once before any VM and never replaced.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azop_provider::LroHandle;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use time::OffsetDateTime;

use super::{Bootstrap, cert_key, kube_err, ready, secret_id};
use crate::azure_cluster::pki::{self, Purpose};
use crate::cluster_secrets::owned_secret;
use crate::engine::{Observation, Step, StepCtx, StepError};
use crate::retry::Failure;

/// What the PKI Secrets (every one of them, in [`Purpose::ALL`] order) say (pure): ready, or
/// failed for the first that is not a usable CA or key pair — never replaced (a new CA would
/// cut every node off), so the user restores it.
pub fn pki_seen(
    namespace: &str,
    cluster: &str,
    secrets: &[Secret],
    now: OffsetDateTime,
) -> Observation {
    for (p, secret) in Purpose::ALL.iter().zip(secrets) {
        let problem = match cert_key(secret) {
            None => Some("it has no tls.crt and tls.key".to_string()),
            Some(pair) => pki::check(*p, &pair, now).err(),
        };
        if let Some(problem) = problem {
            return Observation {
                provisioning_state: Some("Failed".into()),
                failure: Some(Failure::invalid(
                    None,
                    format!(
                        "Secret {namespace}/{} is not a usable {} ({problem}): restore it; azop never replaces a cluster's keys",
                        p.secret_name(cluster),
                        p.suffix()
                    ),
                )),
                ..ready()
            };
        }
    }
    ready()
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
        let mut secrets = Vec::with_capacity(Purpose::ALL.len());
        for p in Purpose::ALL {
            let name = p.secret_name(&self.bootstrap.cluster);
            let Some(secret) = api.get_opt(&name).await.map_err(kube_err("read", &name))? else {
                return Ok(Observation::default());
            };
            secrets.push(secret);
        }
        Ok(pki_seen(
            &self.bootstrap.namespace,
            &self.bootstrap.cluster,
            &secrets,
            OffsetDateTime::now_utc(),
        ))
    }

    /// Creates the missing Secrets, never touching one that exists.
    async fn put(
        &self,
        cx: &StepCtx<'_>,
        _seen: &Observation,
    ) -> Result<Option<LroHandle>, StepError> {
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
            let pair = pki::generate(p, now).map_err(|message| StepError::NotReady { message })?;
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

    fn as_secret(pair: &pki::CertKey) -> Secret {
        Secret {
            data: Some(BTreeMap::from([
                (
                    "tls.crt".to_string(),
                    ByteString(pair.cert.clone().into_bytes()),
                ),
                (
                    "tls.key".to_string(),
                    ByteString(pair.key.clone().into_bytes()),
                ),
            ])),
            ..Secret::default()
        }
    }

    /// A usable PKI is ready; a Secret without its pair, or holding something that is not a
    /// CA, fails as an invalid spec (azop never replaces a cluster's keys).
    #[test]
    fn the_pki_is_ready_only_when_every_secret_holds_its_pair() {
        let now = OffsetDateTime::now_utc();
        let good: Vec<Secret> = Purpose::ALL
            .iter()
            .map(|p| as_secret(&pki::generate(*p, now).expect("generate")))
            .collect();
        let seen = pki_seen("ns", "c", &good, now);
        assert!(seen.exists && seen.owned && seen.failure.is_none());
        assert!(seen.succeeded());

        let mut broken = good.clone();
        broken[1] = Secret::default();
        let seen = pki_seen("ns", "c", &broken, now);
        assert!(seen.failed());
        let f = seen.failure.expect("a failure");
        assert_eq!(f.retry, crate::retry::RetryClass::InvalidSpec);
        assert!(
            f.message.starts_with(&format!(
                "Secret ns/{} is not a usable",
                Purpose::ALL[1].secret_name("c")
            )),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("no tls.crt and tls.key"),
            "{}",
            f.message
        );

        // The service-account key pair where the cluster CA belongs: not a CA.
        let mut swapped = good.clone();
        swapped[0] = good[3].clone();
        assert!(pki_seen("ns", "c", &swapped, now).failed());
    }
}
