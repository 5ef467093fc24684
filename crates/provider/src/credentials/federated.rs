//! Workload identity with a token file that rotates: azure_identity 0.21's
//! `WorkloadIdentityCredential` takes the federated token once, at construction, while the
//! projected service-account token is replaced about every hour. This wrapper re-reads the
//! file on each token request and rebuilds the inner credential when its content changed
//! (the inner credential keeps caching the AAD access token in between).

use azure_core::auth::{AccessToken, TokenCredential};
use azure_identity::WorkloadIdentityCredential;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use url::Url;

pub(crate) struct FederatedTokenFileCredential {
    http: Arc<dyn azure_core::HttpClient>,
    authority_host: Url,
    tenant_id: String,
    client_id: String,
    path: PathBuf,
    inner: Mutex<Option<([u8; 32], Arc<WorkloadIdentityCredential>)>>,
}

impl std::fmt::Debug for FederatedTokenFileCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedTokenFileCredential")
            .field("client_id", &self.client_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FederatedTokenFileCredential {
    pub(crate) fn new(
        http: Arc<dyn azure_core::HttpClient>,
        authority_host: Url,
        tenant_id: String,
        client_id: String,
        path: PathBuf,
    ) -> Self {
        FederatedTokenFileCredential {
            http,
            authority_host,
            tenant_id,
            client_id,
            path,
            inner: Mutex::new(None),
        }
    }

    async fn current(&self) -> azure_core::Result<Arc<WorkloadIdentityCredential>> {
        let token = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, || {
                format!(
                    "failed to read federated token file {}: {e}",
                    self.path.display()
                )
            })
        })?;
        let token = token.trim().to_owned();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut guard = self.inner.lock();
        if let Some((d, cred)) = guard.as_ref()
            && *d == digest
        {
            return Ok(cred.clone());
        }
        let cred = Arc::new(WorkloadIdentityCredential::new(
            self.http.clone(),
            self.authority_host.clone(),
            self.tenant_id.clone(),
            self.client_id.clone(),
            token,
        ));
        *guard = Some((digest, cred.clone()));
        Ok(cred)
    }
}

#[async_trait::async_trait]
impl TokenCredential for FederatedTokenFileCredential {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        self.current().await?.get_token(scopes).await
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        let inner = self.inner.lock().take();
        if let Some((_, cred)) = inner {
            cred.clear_cache().await?;
        }
        Ok(())
    }
}
