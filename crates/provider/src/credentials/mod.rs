//! Credentials: from a namespaced Secret's data (read by the controller and handed over as a
//! plain map — no Kubernetes dependency here), or the operator's own identity.
//!
//! Resolved credentials are cached by a hash of the Secret's data, so a changed Secret yields a
//! new credential at the next reconcile without a restart, while an unchanged one keeps its
//! cached token (azure_identity refreshes tokens shortly before they expire).

mod cloud;
mod federated;

pub use cloud::{Cloud, CloudEndpoints, EndpointOverrides};

use crate::error::{AzureError, AzureErrorBox};
use azure_core::auth::{AccessToken, TokenCredential};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Secret keys, as documented for `spec.credentialsRef`.
pub const KEY_TENANT_ID: &str = "tenantId";
pub const KEY_CLIENT_ID: &str = "clientId";
pub const KEY_CLIENT_SECRET: &str = "clientSecret";
pub const KEY_FEDERATED_TOKEN_FILE: &str = "federatedTokenFile";
pub const KEY_CLOUD: &str = "cloud";

/// Which identity a call runs as.
#[derive(Clone)]
pub enum CredentialSource {
    /// The Secret named by `spec.credentialsRef` (same namespace as the object), its data as
    /// read by the controller.
    Secret {
        namespace: String,
        name: String,
        data: BTreeMap<String, Vec<u8>>,
    },
    /// The operator's own identity: workload identity (AZURE_* env vars), else managed identity.
    Operator,
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Secret {
                namespace,
                name,
                data,
            } => f
                .debug_struct("Secret")
                .field("namespace", namespace)
                .field("name", name)
                .field("keys", &data.keys().collect::<Vec<_>>())
                .finish_non_exhaustive(),
            CredentialSource::Operator => f.write_str("Operator"),
        }
    }
}

impl CredentialSource {
    pub fn secret(
        namespace: impl Into<String>,
        name: impl Into<String>,
        data: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        CredentialSource::Secret {
            namespace: namespace.into(),
            name: name.into(),
            data,
        }
    }

    /// A short, secret-free label for logs and errors.
    pub fn label(&self) -> String {
        match self {
            CredentialSource::Secret {
                namespace, name, ..
            } => format!("secret {namespace}/{name}"),
            CredentialSource::Operator => "the operator's identity".to_owned(),
        }
    }

    /// Cache key: a hash over the Secret's identity and every key and value, so any change
    /// to the Secret is a new key.
    pub fn cache_key(&self) -> String {
        match self {
            CredentialSource::Secret {
                namespace,
                name,
                data,
            } => {
                let mut h = Sha256::new();
                for part in [namespace.as_bytes(), name.as_bytes()] {
                    h.update((part.len() as u64).to_le_bytes());
                    h.update(part);
                }
                for (k, v) in data {
                    h.update((k.len() as u64).to_le_bytes());
                    h.update(k.as_bytes());
                    h.update((v.len() as u64).to_le_bytes());
                    h.update(v);
                }
                format!("secret:{}", hex::encode(h.finalize()))
            }
            CredentialSource::Operator => "operator".to_owned(),
        }
    }
}

/// A string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// How a service principal proves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalAuth {
    ClientSecret(SecretString),
    FederatedTokenFile(PathBuf),
}

/// A credentials Secret, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub auth: PrincipalAuth,
    pub cloud: Cloud,
}

impl ServicePrincipal {
    /// Parse a Secret's data. Errors name keys, never values.
    pub fn from_secret_data(
        secret_label: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<ServicePrincipal, AzureError> {
        let bad = |reason: String| AzureError::CredentialConfig {
            secret: secret_label.to_owned(),
            reason,
        };
        let text = |key: &str| -> Result<Option<String>, AzureError> {
            match data.get(key) {
                None => Ok(None),
                Some(bytes) => {
                    let s = std::str::from_utf8(bytes)
                        .map_err(|_| bad(format!("key {key} is not valid utf-8")))?
                        .trim()
                        .to_owned();
                    Ok(if s.is_empty() { None } else { Some(s) })
                }
            }
        };
        let tenant_id =
            text(KEY_TENANT_ID)?.ok_or_else(|| bad(format!("missing key {KEY_TENANT_ID}")))?;
        let client_id =
            text(KEY_CLIENT_ID)?.ok_or_else(|| bad(format!("missing key {KEY_CLIENT_ID}")))?;
        let auth = match (text(KEY_CLIENT_SECRET)?, text(KEY_FEDERATED_TOKEN_FILE)?) {
            (Some(secret), None) => PrincipalAuth::ClientSecret(SecretString(secret)),
            (None, Some(path)) => PrincipalAuth::FederatedTokenFile(PathBuf::from(path)),
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "set either {KEY_CLIENT_SECRET} or {KEY_FEDERATED_TOKEN_FILE}, not both"
                )));
            }
            (None, None) => {
                return Err(bad(format!(
                    "missing key {KEY_CLIENT_SECRET} or {KEY_FEDERATED_TOKEN_FILE}"
                )));
            }
        };
        let cloud = match text(KEY_CLOUD)? {
            None => Cloud::AzurePublicCloud,
            Some(c) => Cloud::parse(&c).ok_or_else(|| {
                bad(format!(
                    "key {KEY_CLOUD} must be AzurePublicCloud, AzureUSGovernmentCloud or AzureChinaCloud"
                ))
            })?,
        };
        Ok(ServicePrincipal {
            tenant_id,
            client_id,
            auth,
            cloud,
        })
    }
}

/// The operator's own identity, decided from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorIdentity {
    /// Azure Workload Identity: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE
    /// (and optionally AZURE_AUTHORITY_HOST) injected by its webhook.
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
        authority_host: Option<String>,
    },
    /// The node's or pod's managed identity through IMDS.
    ManagedIdentity,
}

impl OperatorIdentity {
    /// Pure: `lookup` is the environment.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> OperatorIdentity {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        match (
            get("AZURE_TENANT_ID"),
            get("AZURE_CLIENT_ID"),
            get("AZURE_FEDERATED_TOKEN_FILE"),
        ) {
            (Some(tenant_id), Some(client_id), Some(file)) => OperatorIdentity::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file: PathBuf::from(file),
                authority_host: get("AZURE_AUTHORITY_HOST"),
            },
            _ => OperatorIdentity::ManagedIdentity,
        }
    }
}

/// A usable credential plus where it talks to.
#[derive(Clone)]
pub struct ResolvedCredential {
    pub key: String,
    pub label: String,
    pub endpoints: CloudEndpoints,
    pub credential: Arc<dyn TokenCredential>,
}

impl fmt::Debug for ResolvedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedCredential")
            .field("label", &self.label)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Resolves [`CredentialSource`]s to credentials, once per distinct Secret content.
pub struct CredentialCache {
    overrides: EndpointOverrides,
    operator_cloud: Cloud,
    operator_identity: OperatorIdentity,
    http: Arc<dyn azure_core::HttpClient>,
    entries: Mutex<HashMap<String, ResolvedCredential>>,
    /// (namespace/name) → current key, so a replaced Secret's old entry is dropped.
    latest: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("entries", &self.entries.lock().len())
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(
        overrides: EndpointOverrides,
        operator_cloud: Cloud,
        operator_identity: OperatorIdentity,
        http: Arc<dyn azure_core::HttpClient>,
    ) -> Self {
        CredentialCache {
            overrides,
            operator_cloud,
            operator_identity,
            http,
            entries: Mutex::new(HashMap::new()),
            latest: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.lock().contains_key(key)
    }

    pub fn resolve(&self, source: &CredentialSource) -> Result<ResolvedCredential, AzureError> {
        let key = source.cache_key();
        if let Some(found) = self.entries.lock().get(&key) {
            return Ok(found.clone());
        }
        let resolved = self.build(source, key.clone())?;
        let mut entries = self.entries.lock();
        if let CredentialSource::Secret {
            namespace, name, ..
        } = source
            && let Some(old) = self
                .latest
                .lock()
                .insert(format!("{namespace}/{name}"), key.clone())
            && old != key
        {
            entries.remove(&old);
        }
        entries.insert(key, resolved.clone());
        Ok(resolved)
    }

    fn build(
        &self,
        source: &CredentialSource,
        key: String,
    ) -> Result<ResolvedCredential, AzureError> {
        let label = source.label();
        match source {
            CredentialSource::Secret { data, .. } => {
                let sp = ServicePrincipal::from_secret_data(&label, data)?;
                let endpoints = sp.cloud.endpoints(&self.overrides)?;
                let (inner, secrets): (Arc<dyn TokenCredential>, Vec<String>) = match &sp.auth {
                    PrincipalAuth::ClientSecret(secret) => (
                        Arc::new(azure_identity::ClientSecretCredential::new(
                            self.http.clone(),
                            endpoints.authority_host.clone(),
                            sp.tenant_id.clone(),
                            sp.client_id.clone(),
                            secret.expose().to_owned(),
                        )),
                        vec![secret.expose().to_owned()],
                    ),
                    PrincipalAuth::FederatedTokenFile(path) => (
                        Arc::new(federated::FederatedTokenFileCredential::new(
                            self.http.clone(),
                            endpoints.authority_host.clone(),
                            sp.tenant_id.clone(),
                            sp.client_id.clone(),
                            path.clone(),
                        )),
                        Vec::new(),
                    ),
                };
                Ok(ResolvedCredential {
                    key,
                    label: label.clone(),
                    endpoints,
                    credential: Arc::new(RedactingCredential {
                        inner,
                        label,
                        secrets,
                    }),
                })
            }
            CredentialSource::Operator => {
                let mut endpoints = self.operator_cloud.endpoints(&self.overrides)?;
                let inner: Arc<dyn TokenCredential> = match &self.operator_identity {
                    OperatorIdentity::WorkloadIdentity {
                        tenant_id,
                        client_id,
                        token_file,
                        authority_host,
                    } => {
                        if self.overrides.authority_host.is_none()
                            && let Some(host) = authority_host
                        {
                            endpoints.authority_host = url::Url::parse(host).map_err(|e| {
                                AzureError::config(format!("invalid AZURE_AUTHORITY_HOST: {e}"))
                            })?;
                        }
                        Arc::new(federated::FederatedTokenFileCredential::new(
                            self.http.clone(),
                            endpoints.authority_host.clone(),
                            tenant_id.clone(),
                            client_id.clone(),
                            token_file.clone(),
                        ))
                    }
                    OperatorIdentity::ManagedIdentity => Arc::new(
                        azure_identity::VirtualMachineManagedIdentityCredential::new(
                            azure_identity::TokenCredentialOptions::default(),
                        ),
                    ),
                };
                Ok(ResolvedCredential {
                    key,
                    label: label.clone(),
                    endpoints,
                    credential: Arc::new(RedactingCredential {
                        inner,
                        label,
                        secrets: Vec::new(),
                    }),
                })
            }
        }
    }
}

/// Wraps a credential so its failures become [`AzureError::Credential`] with every known
/// secret value scrubbed from the message (belt and braces: AAD does not echo secrets, but
/// an error from a proxy or a future crate version might).
struct RedactingCredential {
    inner: Arc<dyn TokenCredential>,
    label: String,
    secrets: Vec<String>,
}

impl fmt::Debug for RedactingCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactingCredential")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Replace every occurrence of each secret with `<redacted>`.
pub fn redact(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "<redacted>");
    }
    out
}

#[async_trait::async_trait]
impl TokenCredential for RedactingCredential {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        self.inner.get_token(scopes).await.map_err(|e| {
            // Include the source chain: azure_core's Display shows only the outer context.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            let message = redact(&message, &self.secrets);
            tracing::warn!(credential = %self.label, error = %message, "azure token request failed");
            azure_core::Error::new(
                azure_core::error::ErrorKind::Credential,
                AzureErrorBox(AzureError::Credential {
                    source_name: self.label.clone(),
                    message,
                }),
            )
        })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.inner.clear_cache().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn parses_client_secret_and_federated_forms() {
        let sp = ServicePrincipal::from_secret_data(
            "s",
            &data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "hunter2"),
            ]),
        )
        .expect("valid");
        assert_eq!(
            sp.auth,
            PrincipalAuth::ClientSecret(SecretString::new("hunter2"))
        );
        assert_eq!(sp.cloud, Cloud::AzurePublicCloud);
        let sp = ServicePrincipal::from_secret_data(
            "s",
            &data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("federatedTokenFile", "/var/run/token"),
                ("cloud", "AzureChinaCloud"),
            ]),
        )
        .expect("valid");
        assert_eq!(
            sp.auth,
            PrincipalAuth::FederatedTokenFile("/var/run/token".into())
        );
        assert_eq!(sp.cloud, Cloud::AzureChinaCloud);
    }

    #[test]
    fn errors_name_keys_never_values() {
        let cases = [
            data(&[("clientId", "c"), ("clientSecret", "hunter2")]),
            data(&[("tenantId", "t"), ("clientSecret", "hunter2")]),
            data(&[("tenantId", "t"), ("clientId", "c")]),
            data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "hunter2"),
                ("federatedTokenFile", "/f"),
            ]),
            data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "hunter2"),
                ("cloud", "hunter2-cloud"),
            ]),
        ];
        for case in cases {
            let err = ServicePrincipal::from_secret_data("ns/creds", &case).expect_err("invalid");
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("ns/creds"));
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn debug_of_source_and_secret_redacts() {
        let source = CredentialSource::secret(
            "ns",
            "creds",
            data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "hunter2"),
            ]),
        );
        let text = format!("{source:?} {:?}", SecretString::new("hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("clientSecret"));
    }

    #[test]
    fn cache_key_changes_with_any_value() {
        let a = CredentialSource::secret("ns", "c", data(&[("clientSecret", "one")]));
        let b = CredentialSource::secret("ns", "c", data(&[("clientSecret", "two")]));
        let a2 = CredentialSource::secret("ns", "c", data(&[("clientSecret", "one")]));
        let other_ns = CredentialSource::secret("ns2", "c", data(&[("clientSecret", "one")]));
        assert_ne!(a.cache_key(), b.cache_key());
        assert_eq!(a.cache_key(), a2.cache_key());
        assert_ne!(a.cache_key(), other_ns.cache_key());
        assert!(!a.cache_key().contains("one"));
    }

    #[test]
    fn a_changed_secret_replaces_the_cached_credential() {
        let cache = CredentialCache::new(
            EndpointOverrides::default(),
            Cloud::AzurePublicCloud,
            OperatorIdentity::ManagedIdentity,
            azure_core::new_http_client(),
        );
        let v1 = CredentialSource::secret(
            "ns",
            "c",
            data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "one"),
            ]),
        );
        let v2 = CredentialSource::secret(
            "ns",
            "c",
            data(&[
                ("tenantId", "t"),
                ("clientId", "c"),
                ("clientSecret", "two"),
            ]),
        );
        let first = cache.resolve(&v1).expect("resolve");
        let again = cache.resolve(&v1).expect("resolve");
        assert!(Arc::ptr_eq(&first.credential, &again.credential));
        let second = cache.resolve(&v2).expect("resolve");
        assert!(!Arc::ptr_eq(&first.credential, &second.credential));
        assert_eq!(cache.len(), 1, "the old version is dropped");
    }

    #[test]
    fn operator_identity_from_env() {
        let env: HashMap<&str, &str> = [
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
        ]
        .into_iter()
        .collect();
        let id = OperatorIdentity::from_env(&|k| env.get(k).map(|v| (*v).to_owned()));
        assert!(matches!(id, OperatorIdentity::WorkloadIdentity { .. }));
        let id = OperatorIdentity::from_env(&|_| None);
        assert_eq!(id, OperatorIdentity::ManagedIdentity);
    }

    #[test]
    fn redact_scrubs_every_secret() {
        assert_eq!(
            redact("bad secret hunter2 and hunter2", &["hunter2".to_owned()]),
            "bad secret <redacted> and <redacted>"
        );
    }
}
