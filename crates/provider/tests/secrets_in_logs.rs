//! Secret values never reach the logs: run a working and a failing credential through the
//! provider with every target at TRACE, capture the output, and look for the secrets.
#![allow(clippy::unwrap_used)]

use azop_armsim::{Principal, SimConfig};
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::{self, Owner};
use azop_provider::{CredentialSource, EndpointOverrides, Provider, ProviderConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn source(secret: &str) -> CredentialSource {
    let data: BTreeMap<String, Vec<u8>> = [
        ("tenantId", "tenant-1"),
        ("clientId", "client-1"),
        ("clientSecret", secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect();
    CredentialSource::secret("team-a", "azure-creds", data)
}

#[tokio::test]
async fn secrets_never_appear_in_logs_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    const GOOD: &str = "good-secret-6f1c2b9e";
    const BAD: &str = "wrong-secret-a83d77f0";
    let sim = azop_armsim::start(SimConfig {
        principals: Some(vec![Principal {
            client_id: "client-1".into(),
            client_secret: Some(GOOD.into()),
        }]),
        require_auth: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = url::Url::parse(sim.url()).unwrap();
    let provider = Provider::new(ProviderConfig {
        overrides: EndpointOverrides {
            arm_endpoint: Some(url.clone()),
            authority_host: Some(url),
        },
        operator_identity: azop_provider::OperatorIdentity::ManagedIdentity,
        ..ProviderConfig::default()
    });
    let owner = Owner::new("AzureCluster", "team-a", "c1", "uid-1");
    let spec = ResourceGroupSpec {
        location: "westeurope".into(),
        tags: BTreeMap::new(),
    };

    let good = provider.session(&source(GOOD), "sub-1").unwrap();
    tracing::info!(session = ?good, "session");
    resources::ensure::<ResourceGroup>(
        &good,
        &ResourceGroupKey {
            name: "rg-logs".into(),
        },
        &spec,
        &owner,
    )
    .await
    .unwrap();

    let bad = provider.session(&source(BAD), "sub-1").unwrap();
    let err = resources::ensure::<ResourceGroup>(
        &bad,
        &ResourceGroupKey {
            name: "rg-logs2".into(),
        },
        &spec,
        &owner,
    )
    .await
    .unwrap_err();
    tracing::error!(error = %err, debug = ?err, "reconcile failed");
    assert_eq!(err.category(), "CredentialsRejected", "{err:?}");
    sim.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("arm call"), "the capture works: {logs}");
    assert!(logs.contains("azure token request failed"));
    for secret in [GOOD, BAD] {
        assert!(!logs.contains(secret), "secret {secret} leaked into logs");
        assert!(!format!("{err} {err:?}").contains(secret));
    }
    // Bearer tokens stay out too: none of the logged lines carries an Authorization value.
    assert!(
        !logs.to_ascii_lowercase().contains("bearer ey"),
        "a bearer token leaked"
    );
}
