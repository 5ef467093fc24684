//! What the provider's tests against azop-armsim share: a provider pointed at one simulator
//! and a credentials Secret. Each test binary uses its part.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use azop_armsim::RunningSim;
use azop_provider::{
    CredentialSource, EndpointOverrides, LroConfig, OperatorIdentity, Provider, ProviderConfig,
};

/// A provider configuration whose ARM and token endpoints are `sim`'s, with short LRO polls
/// (the simulator's operations end in milliseconds); tests change what they test with
/// `..config(sim)`.
pub fn config(sim: &RunningSim) -> ProviderConfig {
    let url = url::Url::parse(sim.url()).expect("the simulator's URL");
    ProviderConfig {
        overrides: EndpointOverrides {
            arm_endpoint: Some(url.clone()),
            authority_host: Some(url),
        },
        operator_identity: OperatorIdentity::ManagedIdentity,
        lro: LroConfig {
            default_retry_after: Duration::from_millis(50),
            default_deadline: Duration::from_secs(120),
            ..LroConfig::default()
        },
        ..ProviderConfig::default()
    }
}

/// [`config`]'s provider.
pub fn provider(sim: &RunningSim) -> Provider {
    Provider::new(config(sim))
}

/// A service principal's Secret `team-a/<name>` (its secret value is one the log tests look
/// for).
pub fn creds_named(name: &str) -> CredentialSource {
    let data: BTreeMap<String, Vec<u8>> = [
        ("tenantId", "tenant-1"),
        ("clientId", "client-1"),
        ("clientSecret", "s3cr3t-value-never-logged"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect();
    CredentialSource::secret("team-a", name, data)
}

/// The Secret `team-a/azure-creds`.
pub fn creds() -> CredentialSource {
    creds_named("azure-creds")
}
