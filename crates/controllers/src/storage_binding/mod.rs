//! The StorageBinding controller: the storage account and container that hold the base VHD,
//! the VHD copied in server-side, and the managed image AzureClusters boot from — on the
//! [engine](crate::engine). This module holds only StorageBinding's own decisions:
//!
//! - [`names`]: the Azure names, and the choice of a free, deterministic account name.
//! - [`plan`]: what should exist (pure).
//! - [`steps`]: the custom steps (the VHD copy, the image from its blob, the DNS zone group).
//! - [`shared_dns`]: the private DNS zone and VNet link every private endpoint shares.
//! - [`report`]: status, conditions and the copy's Events (pure).
//! - [`StorageBindingKind`]: the registration (what wakes a binding), the read-only
//!   prechecks, and the wait for clusters still booting from the image before a delete.

pub mod names;
pub mod plan;
pub mod report;
pub mod shared_dns;
pub mod steps;
#[cfg(test)]
pub mod testing;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use azop_api::naming::STORAGE_BINDING_FINALIZER;
use azop_api::v1alpha1::azure_cluster::AzureCluster;
use azop_api::v1alpha1::storage_binding::{
    NetworkAccessMode, StorageBinding, StorageBindingStatus,
};
use azop_provider::resources::ArmResource;
use azop_provider::resources::blob_container::{BlobContainer, BlobContainerKey};
use azop_provider::resources::storage_account::{StorageAccount, StorageAccountKey};
use azop_provider::{ArmSession, AzureError, SecretString};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::context::Context;
use crate::engine::{Identity, Kind, Note, ReportInput, Stop, Watches};
use crate::error::Error;
use crate::retry::RetryClass;
use plan::{Part, PlannedStep, Resolved};

/// StorageBinding as the engine sees it.
pub struct StorageBindingKind;

/// The subnet API version for the read-only checks.
const NETWORK_API: &str = azop_provider::resources::network::API_VERSION;

/// A precheck's stop: the user fixes something in Azure, looked at again every 30 s.
fn precheck_stop(reason: &'static str, message: String) -> Stop {
    Stop::new(reason, message, RetryClass::Busy).with_floor(Duration::from_secs(30))
}

/// The subnets named by `VnetRestricted` (or `Private`) that are missing, or lack the
/// Microsoft.Storage service endpoint: checked before anything is written, so a bad subnet is
/// a condition, not a half-made account.
async fn check_subnets(
    session: &ArmSession,
    sb: &StorageBinding,
) -> Result<Option<Stop>, AzureError> {
    let Some(access) = &sb.spec.network_access else {
        return Ok(None);
    };
    let (subnets, need_endpoint): (Vec<&String>, bool) = match access.mode {
        NetworkAccessMode::Public => return Ok(None),
        NetworkAccessMode::VnetRestricted => (access.subnet_ids.iter().collect(), true),
        NetworkAccessMode::Private => (access.private_endpoint_subnet_id.iter().collect(), false),
    };
    let mut missing = Vec::new();
    let mut no_endpoint = Vec::new();
    for id in subnets {
        match session.get(id, NETWORK_API).await? {
            None => missing.push(id.clone()),
            Some(resp) => {
                let has = resp.json().is_some_and(|v| {
                    v.pointer("/properties/serviceEndpoints")
                        .and_then(Value::as_array)
                        .is_some_and(|eps| {
                            eps.iter().any(|e| {
                                e.get("service").and_then(Value::as_str).is_some_and(|s| {
                                    s.eq_ignore_ascii_case("Microsoft.Storage")
                                        || s.eq_ignore_ascii_case("Microsoft.Storage.Global")
                                })
                            })
                        })
                });
                if need_endpoint && !has {
                    no_endpoint.push(id.clone());
                }
            }
        }
    }
    if !missing.is_empty() {
        return Ok(Some(precheck_stop(
            "SubnetNotFound",
            format!(
                "subnet(s) {} do not exist: create them or correct spec.networkAccess; nothing was created",
                missing.join(", ")
            ),
        )));
    }
    if !no_endpoint.is_empty() {
        return Ok(Some(precheck_stop(
            "SubnetMissingServiceEndpoint",
            format!(
                "subnet(s) {} have no Microsoft.Storage service endpoint, which VNet rules need: add Microsoft.Storage to each subnet's serviceEndpoints; nothing was created",
                no_endpoint.join(", ")
            ),
        )));
    }
    Ok(None)
}

/// A custom account (and a custom container in it) must exist before anything is written.
async fn check_existing(
    session: &ArmSession,
    sb: &StorageBinding,
) -> Result<Option<Stop>, AzureError> {
    if names::generated_account(sb) {
        return Ok(None);
    }
    let sub = session.subscription_id();
    let name = sb
        .spec
        .storage_account
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_default();
    let account = StorageAccountKey {
        resource_group: names::account_resource_group(sb),
        name: name.clone(),
    };
    if session
        .get(
            &StorageAccount::path(sub, &account),
            StorageAccount::API_VERSION,
        )
        .await?
        .is_none()
    {
        return Ok(Some(precheck_stop(
            "StorageAccountNotFound",
            format!(
                "storage account {name} does not exist in resource group {} of subscription {sub}: create it first (azop attaches an existing account and never creates, changes or deletes it), or remove spec.storageAccount.name to let azop create one",
                account.resource_group
            ),
        )));
    }
    if let Some(container) = sb.spec.container.as_ref().and_then(|c| c.name.clone()) {
        let key = BlobContainerKey {
            resource_group: account.resource_group.clone(),
            account: name.clone(),
            name: container.clone(),
        };
        if session
            .get(&BlobContainer::path(sub, &key), BlobContainer::API_VERSION)
            .await?
            .is_none()
        {
            return Ok(Some(precheck_stop(
                "ContainerNotFound",
                format!(
                    "container {container} does not exist in storage account {name}: create it first (azop never deletes a container it attaches), or remove spec.container.name to let azop create one"
                ),
            )));
        }
    }
    Ok(None)
}

/// The SAS for the VHD source, from `vhd.sourceSasSecretRef`.
async fn sas(client: &kube::Client, sb: &StorageBinding) -> Result<Option<SecretString>, Error> {
    let ns = sb.namespace().unwrap_or_default();
    let Some(r) = sb
        .spec
        .vhd
        .as_ref()
        .and_then(|v| v.source_sas_secret_ref.as_ref())
    else {
        return Ok(None);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = api
        .get_opt(&r.name)
        .await
        .map_err(|e| Error::kube(format!("read Secret {ns}/{}", r.name), e))?
        .ok_or_else(|| Error::MissingReference {
            message: format!(
                "Secret {ns}/{} named by spec.vhd.sourceSasSecretRef does not exist: create it with the SAS token under key {:?}",
                r.name, r.key
            ),
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .ok_or_else(|| Error::MissingReference {
            message: format!(
                "Secret {ns}/{} has no key {:?} (spec.vhd.sourceSasSecretRef.key)",
                r.name, r.key
            ),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidSpec {
        message: format!(
            "Secret {ns}/{} key {:?} is not text: a SAS token is a query string",
            r.name, r.key
        ),
    })?;
    Ok(Some(SecretString::new(text.trim().trim_start_matches('?'))))
}

/// AzureClusters of the binding's namespace that boot from its image (pure).
pub fn users(binding: &str, clusters: &[AzureCluster]) -> Vec<String> {
    let mut out: Vec<String> = clusters
        .iter()
        .filter(|c| {
            c.spec
                .image
                .storage_binding_ref
                .as_ref()
                .is_some_and(|r| r.name == binding)
        })
        .map(|c| c.name_any())
        .collect();
    out.sort();
    out
}

#[async_trait]
impl Kind for StorageBindingKind {
    type Object = StorageBinding;
    type Status = StorageBindingStatus;
    type Resolved = Resolved;
    type Part = Part;
    type Extra = ();

    const IDENTITY: Identity = Identity {
        kind: "StorageBinding",
        finalizer: STORAGE_BINDING_FINALIZER,
        field_manager: "storagebindings.azop.dev",
        metrics_label: "storagebinding",
        reporter: "azop",
    };

    /// Its SAS Secret; and the AzureClusters naming it, so a cluster that stops using the
    /// image (or is gone) lets a waiting deletion go on.
    fn watches(&self) -> Watches<StorageBinding> {
        Watches::<StorageBinding>::default()
            .secrets(|b| {
                b.spec
                    .vhd
                    .iter()
                    .filter_map(|v| v.source_sas_secret_ref.as_ref())
                    .map(|r| r.name.clone())
                    .collect()
            })
            .referenced_by::<AzureCluster>(|c| {
                c.spec
                    .image
                    .storage_binding_ref
                    .as_ref()
                    .map(|r| r.name.clone())
            })
    }

    async fn resolve(&self, ctx: &Context, obj: &StorageBinding) -> Result<Resolved, Error> {
        Ok(Resolved {
            sas: sas(&ctx.client, obj).await?,
        })
    }

    fn names(&self, obj: &StorageBinding) -> BTreeMap<String, String> {
        let account = obj
            .status
            .as_ref()
            .and_then(|s| s.azure.azure_names.get(names::STORAGE_ACCOUNT).cloned())
            .or_else(|| {
                obj.spec
                    .storage_account
                    .as_ref()
                    .and_then(|a| a.name.clone())
            });
        names::names_with_account(obj, account.as_deref())
    }

    async fn choose_names(
        &self,
        session: &ArmSession,
        obj: &StorageBinding,
        recorded: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        names::choose(session, obj, recorded).await
    }

    async fn precheck(
        &self,
        session: &ArmSession,
        obj: &StorageBinding,
    ) -> Result<Option<Stop>, Error> {
        if let Some(stop) = check_existing(session, obj)
            .await
            .map_err(|e| Error::azure("read the existing storage account", e))?
        {
            return Ok(Some(stop));
        }
        check_subnets(session, obj)
            .await
            .map_err(|e| Error::azure("read the subnets of spec.networkAccess", e))
    }

    async fn delete_precheck(
        &self,
        ctx: &Context,
        obj: &StorageBinding,
    ) -> Result<Option<Stop>, Error> {
        let ns = obj.namespace().unwrap_or_default();
        let api: Api<AzureCluster> = Api::namespaced(ctx.client.clone(), &ns);
        let clusters = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube(format!("list AzureClusters in {ns}"), e))?;
        let users = users(&obj.name_any(), &clusters.items);
        if users.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Stop::new(
                "InUse",
                format!(
                    "deletion waits: AzureCluster(s) {} in namespace {ns} boot from this binding's image (spec.image.storageBindingRef); delete them or point them at another image first",
                    users.join(", ")
                ),
                RetryClass::WaitForReference,
            )
            .with_floor(Duration::from_secs(5)),
        ))
    }

    fn plan(
        &self,
        obj: &StorageBinding,
        resolved: Option<&Resolved>,
        names: &BTreeMap<String, String>,
    ) -> Vec<PlannedStep> {
        plan::plan(obj, resolved, names)
    }

    fn report(&self, input: ReportInput<'_, Self>) -> StorageBindingStatus {
        report::status(input)
    }

    fn notes(&self, previous: &StorageBindingStatus, next: &StorageBindingStatus) -> Vec<Note> {
        report::copy_notes(previous, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_the_clusters_naming_the_binding() {
        let mut a: AzureCluster = crate::testing::cluster("a").build();
        a.spec.image = azop_api::v1alpha1::azure_cluster::ImageSource {
            storage_binding_ref: Some(azop_api::v1alpha1::LocalObjectRef {
                name: "base".into(),
            }),
            ..Default::default()
        };
        let mut b = a.clone();
        b.metadata.name = Some("b".into());
        let other: AzureCluster = crate::testing::cluster("c").build();
        assert_eq!(users("base", &[b, other, a]), vec!["a", "b"]);
        assert!(users("nope", &[]).is_empty());
    }
}
