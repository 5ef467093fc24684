//! Resolving `spec.credentialsRef` to a provider credential source.

use std::collections::BTreeMap;

use azop_api::v1alpha1::SecretRef;
use azop_provider::CredentialSource;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::error::Error;

/// The credential source for an object in `namespace`: its Secret (same namespace only), or
/// the operator's own identity when no Secret is named.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    reference: Option<&SecretRef>,
) -> Result<CredentialSource, Error> {
    let Some(reference) = reference else {
        return Ok(CredentialSource::Operator);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("read Secret {namespace}/{}", reference.name),
            source: Box::new(source),
        })?
        .ok_or_else(|| Error::MissingReference {
            message: format!(
                "Secret {namespace}/{} named by spec.credentialsRef does not exist: create it with keys tenantId, clientId and clientSecret (or federatedTokenFile)",
                reference.name
            ),
        })?;
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .chain(
            secret
                .string_data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes())),
        )
        .collect();
    Ok(CredentialSource::secret(namespace, &reference.name, data))
}
