//! Cluster credentials: `POST …/listClusterUserCredential` and
//! `…/listClusterAdminCredential` answer `{"kubeconfigs": [{"name", "value": <base64>}]}`.

use super::API_VERSION;
use super::managed_cluster::{ManagedClusterKey, ManagedClusterResource};
use crate::arm::ArmSession;
use crate::error::AzureError;
use crate::resources::ArmResource;
use base64::Engine;
use serde::Deserialize;
use std::fmt;

/// A decoded kubeconfig. It holds credentials: Debug never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Kubeconfig(Vec<u8>);

impl Kubeconfig {
    pub fn new(bytes: Vec<u8>) -> Self {
        Kubeconfig(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kubeconfig(<{} bytes redacted>)", self.0.len())
    }
}

#[derive(Deserialize)]
struct CredentialResults {
    #[serde(default)]
    kubeconfigs: Vec<CredentialResult>,
}

#[derive(Deserialize)]
struct CredentialResult {
    name: Option<String>,
    value: Option<String>,
}

/// The first kubeconfig of a credential-list answer, decoded (pure).
pub fn decode_credential_results(body: &[u8], cluster: &str) -> Result<Kubeconfig, AzureError> {
    let results: CredentialResults = serde_json::from_slice(body).map_err(|e| {
        AzureError::transient(
            "UnreadableResponse",
            format!("failed to parse credentials of cluster {cluster}: {e}"),
        )
    })?;
    let first = results
        .kubeconfigs
        .into_iter()
        .find(|k| k.value.is_some())
        .ok_or_else(|| {
            AzureError::transient(
                "NoKubeconfig",
                format!("cluster {cluster} returned no kubeconfig"),
            )
        })?;
    let value = first.value.unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| {
            AzureError::transient(
                "UnreadableResponse",
                format!(
                    "kubeconfig {} of cluster {cluster} is not base64: {e}",
                    first.name.unwrap_or_default()
                ),
            )
        })?;
    Ok(Kubeconfig(bytes))
}

async fn list(
    session: &ArmSession,
    key: &ManagedClusterKey,
    action: &str,
    format: Option<&str>,
) -> Result<Kubeconfig, AzureError> {
    let path = format!(
        "{}/{action}",
        ManagedClusterResource::path(session.subscription_id(), key)
    );
    let mut url = session.url(&path, API_VERSION)?;
    if let Some(f) = format {
        url.query_pairs_mut().append_pair("format", f);
    }
    let resp = session
        .send(crate::arm::ArmRequest {
            method: azure_core::Method::Post,
            url,
            body: None,
            headers: Vec::new(),
        })
        .await?;
    if !resp.is_success() {
        return Err(resp.to_error());
    }
    decode_credential_results(&resp.body, &key.name)
}

/// The user kubeconfig. With AAD it names the `kubelogin` exec plugin (format `exec`, what
/// kubectl ≥ 1.26 needs: the old `azure` auth provider is gone) and holds no static secret.
pub async fn list_cluster_user_credential(
    session: &ArmSession,
    key: &ManagedClusterKey,
) -> Result<Kubeconfig, AzureError> {
    list(session, key, "listClusterUserCredential", Some("exec")).await
}

/// The admin kubeconfig (static credentials; refused when local accounts are disabled).
pub async fn list_cluster_admin_credential(
    session: &ArmSession,
    key: &ManagedClusterKey,
) -> Result<Kubeconfig, AzureError> {
    list(session, key, "listClusterAdminCredential", None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ManagedClusters_ListClusterUserCredentials, example
    /// "ManagedClustersListClusterCredentialResult.json" (2025-10-01; the shape is unchanged since).
    #[test]
    fn the_first_kubeconfig_is_decoded_and_never_printed() {
        let body = br#"{"kubeconfigs": [{"name": "credentialName1", "value": "Y3JlZGVudGlhbFZhbHVlMQ=="}]}"#;
        let k = decode_credential_results(body, "c").expect("decodes");
        assert_eq!(k.as_bytes(), b"credentialValue1");
        assert!(!format!("{k:?}").contains("credentialValue1"));
        let err = decode_credential_results(br#"{"kubeconfigs": []}"#, "c").expect_err("empty");
        assert_eq!(err.code(), Some("NoKubeconfig"));
        assert!(
            decode_credential_results(br#"{"kubeconfigs": [{"name": "x", "value": "%%%"}]}"#, "c")
                .is_err()
        );
    }
}
