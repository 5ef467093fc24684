//! References an AzureCluster reads from Kubernetes: the image's StorageBinding and the
//! bootstrap-data Secret.

use azop_api::v1alpha1::azure_cluster::AzureClusterSpec;
use azop_api::v1alpha1::storage_binding::StorageBinding;
use azop_provider::resources::compute::virtual_machine::ImageSource;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::plan::Resolved;
use crate::error::Error;

pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    spec: &AzureClusterSpec,
) -> Result<Resolved, Error> {
    Ok(Resolved {
        image: image(client, namespace, spec).await?,
        custom_data: custom_data(client, namespace, spec).await?,
        bootstrap: None,
        survey: None,
    })
}

async fn image(
    client: &kube::Client,
    namespace: &str,
    spec: &AzureClusterSpec,
) -> Result<ImageSource, Error> {
    let img = &spec.image;
    if let Some(m) = &img.marketplace {
        return Ok(ImageSource::Marketplace {
            publisher: m.publisher.clone(),
            offer: m.offer.clone(),
            sku: m.sku.clone(),
            version: m.version.clone(),
        });
    }
    if let Some(id) = &img.managed_image_id {
        return Ok(ImageSource::ManagedImage { id: id.clone() });
    }
    let Some(binding) = &img.storage_binding_ref else {
        return Err(Error::InvalidSpec {
            message:
                "spec.image: give exactly one of storageBindingRef, managedImageId or marketplace"
                    .into(),
        });
    };
    let api: Api<StorageBinding> = Api::namespaced(client.clone(), namespace);
    let sb = api
        .get_opt(&binding.name)
        .await
        .map_err(|e| Error::kube(format!("read StorageBinding {namespace}/{}", binding.name), e))?
        .ok_or_else(|| Error::MissingReference {
            message: format!(
                "StorageBinding {namespace}/{} named by spec.image.storageBindingRef does not exist: create it, or use managedImageId or marketplace",
                binding.name
            ),
        })?;
    match sb.status.and_then(|s| s.image_id) {
        Some(id) => Ok(ImageSource::ManagedImage { id }),
        None => Err(Error::MissingReference {
            message: format!(
                "StorageBinding {namespace}/{} has no image yet (its VHD copy and image creation are still running); the cluster waits for it",
                binding.name
            ),
        }),
    }
}

async fn custom_data(
    client: &kube::Client,
    namespace: &str,
    spec: &AzureClusterSpec,
) -> Result<Option<String>, Error> {
    let Some(r) = &spec.bootstrap_data_secret_ref else {
        return Ok(None);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&r.name)
        .await
        .map_err(|e| Error::kube(format!("read Secret {namespace}/{}", r.name), e))?
        .ok_or_else(|| Error::MissingReference {
            message: format!("Secret {namespace}/{} named by spec.bootstrapDataSecretRef does not exist: create it", r.name),
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| Error::MissingReference {
            message: format!(
                "Secret {namespace}/{} has no key {:?} (spec.bootstrapDataSecretRef.key)",
                r.name, r.key
            ),
        })?;
    String::from_utf8(bytes).map(Some).map_err(|_| Error::InvalidSpec {
        message: format!("Secret {namespace}/{} key {:?} is not UTF-8 text: bootstrap data must be text (cloud-init)", r.name, r.key),
    })
}
