//! [`Provider`]: the long-lived gateway the operator builds once and clones into every
//! controller.

use crate::access::Access;
use crate::arm::{ArmSession, SessionCore};
use crate::credentials::{
    Cloud, CredentialCache, CredentialSource, EndpointOverrides, OperatorIdentity,
};
use crate::error::AzureError;
use crate::listing::{ListingConfig, Listings};
use crate::lro::LroConfig;
use crate::metrics::ProviderMetrics;
use crate::poll_schedule::PollSchedule;
use crate::throttle::{Clock, SystemClock, Throttle, ThrottleLimits};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Provider settings; `Default` is right for real Azure.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// `--arm-endpoint` / `--authority-host` (azop-armsim), applied to every cloud.
    pub overrides: EndpointOverrides,
    /// The cloud of the operator's own identity.
    pub operator_cloud: Cloud,
    /// The operator's own identity (default: decided from the environment).
    pub operator_identity: OperatorIdentity,
    pub lro: LroConfig,
    /// Observation by listing (how old a listing may be, how recent a write's evidence).
    pub listing: ListingConfig,
    pub throttle_limits: ThrottleLimits,
    /// Longest a request is held back by the client-side throttle before the call returns
    /// `Throttled` unsent instead (see `throttle` module docs).
    pub max_throttle_wait: Duration,
    pub clock: Arc<dyn Clock>,
    pub metrics: ProviderMetrics,
    /// CAs trusted for ARM and Entra ID besides the public roots: a TLS-inspecting egress
    /// proxy's CA (`azop run --ca-file`), or azop-armsim's self-signed one in tests.
    pub extra_root_certificates: Vec<reqwest::Certificate>,
    /// Read-write (the operator) or read-only (`azop plan`): every session of this provider
    /// refuses writes unsent when read-only.
    pub access: Access,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            overrides: EndpointOverrides::default(),
            operator_cloud: Cloud::AzurePublicCloud,
            operator_identity: OperatorIdentity::from_env(&|k| std::env::var(k).ok()),
            lro: LroConfig::default(),
            listing: ListingConfig::default(),
            throttle_limits: ThrottleLimits::default(),
            max_throttle_wait: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            metrics: ProviderMetrics::default(),
            extra_root_certificates: Vec::new(),
            access: Access::ReadWrite,
        }
    }
}

struct Inner {
    config: ProviderConfig,
    http: Arc<dyn azure_core::HttpClient>,
    credentials: CredentialCache,
    throttle: Throttle,
    listings: Listings,
    polls: Arc<PollSchedule>,
    cores: Mutex<HashMap<String, Arc<SessionCore>>>,
}

/// The gateway. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("overrides", &self.inner.config.overrides)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// The one HTTP client for ARM and Entra ID. Both azure_core's client and this one are
/// reqwest clients built with `ClientBuilder::new()`, which reads HTTP_PROXY, HTTPS_PROXY,
/// ALL_PROXY and NO_PROXY from the environment (reqwest's default; nothing here turns it
/// off), so the operator's egress goes through a proxy when the Deployment sets them.
fn http_client(extra_roots: &[reqwest::Certificate]) -> Arc<dyn azure_core::HttpClient> {
    if extra_roots.is_empty() {
        // azure_core's reqwest client, built with rustls (workspace feature
        // enable_reqwest_rustls).
        return azure_core::new_http_client();
    }
    // azure_core's settings (no idle pooling: hyper#2312), plus the extra roots.
    let mut builder = reqwest::ClientBuilder::new()
        .use_rustls_tls()
        .pool_max_idle_per_host(0);
    for c in extra_roots {
        builder = builder.add_root_certificate(c.clone());
    }
    match builder.build() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            // Only a TLS backend that cannot initialise fails here; without the extra roots
            // the TLS errors that follow name the untrusted certificate.
            tracing::error!(error = %e, "cannot build the HTTP client with the extra CAs; using the public roots only");
            azure_core::new_http_client()
        }
    }
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Provider {
        let http = http_client(&config.extra_root_certificates);
        let throttle = Throttle::new(config.throttle_limits, config.clock.clone());
        let listing = config.listing;
        let credentials = CredentialCache::new(
            config.overrides.clone(),
            config.operator_cloud,
            config.operator_identity.clone(),
            http.clone(),
        );
        Provider {
            inner: Arc::new(Inner {
                config,
                http,
                credentials,
                throttle,
                listings: Listings::new(listing),
                polls: Arc::default(),
                cores: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn metrics(&self) -> &ProviderMetrics {
        &self.inner.config.metrics
    }

    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// The shared listings (observation by LIST; changes found by their walks).
    pub fn listings(&self) -> &Listings {
        &self.inner.listings
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// A session for one identity and subscription. Cheap: the credential and its pipeline
    /// are cached by the Secret's content hash; a changed Secret gets new ones.
    pub fn session(
        &self,
        source: &CredentialSource,
        subscription_id: &str,
    ) -> Result<ArmSession, AzureError> {
        let subscription_id = subscription_id.trim();
        if subscription_id.is_empty() || subscription_id.contains('/') {
            return Err(AzureError::config(format!(
                "invalid subscription id {subscription_id:?}"
            )));
        }
        let credential = self.inner.credentials.resolve(source)?;
        let core_key = format!("{}|{}", credential.key, credential.endpoints.arm);
        let core = {
            let mut cores = self.inner.cores.lock();
            if let Some(core) = cores.get(&core_key) {
                core.clone()
            } else {
                // Drop pipelines of credentials the cache no longer holds (replaced Secrets).
                let live: Vec<String> = cores
                    .iter()
                    .filter(|(_, c)| !self.inner.credentials.contains(&c.credential.key))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in live {
                    cores.remove(&k);
                }
                self.inner
                    .listings
                    .retain(|k| self.inner.credentials.contains(k));
                let core = Arc::new(SessionCore::new(
                    credential,
                    self.inner.http.clone(),
                    self.inner.throttle.clone(),
                    self.inner.config.metrics.clone(),
                    self.inner.config.max_throttle_wait,
                    self.inner.config.access,
                    self.inner.listings.clone(),
                )?);
                cores.insert(core_key, core.clone());
                core
            }
        };
        let listing = self
            .inner
            .listings
            .subscription(&core.credential.key, subscription_id);
        Ok(ArmSession {
            listing,
            core,
            subscription_id: subscription_id.to_owned(),
            throttle: self.inner.throttle.clone(),
            metrics: self.inner.config.metrics.clone(),
            lro: self.inner.config.lro,
            polls: self.inner.polls.clone(),
        })
    }
}
