//! Fixture builder for StorageBinding unit tests.

use std::collections::BTreeMap;

use azop_api::v1alpha1::AzureScope;
use azop_api::v1alpha1::storage_binding::{StorageBinding, StorageBindingSpec, VhdSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::testing::{SUBSCRIPTION, UID};

/// A default binding (generated account, default container, a VHD), changed by `edit`.
pub fn binding(edit: impl FnOnce(&mut StorageBindingSpec)) -> StorageBinding {
    let mut spec = StorageBindingSpec {
        azure: AzureScope {
            credentials_ref: None,
            subscription_id: SUBSCRIPTION.to_string(),
            location: "westeurope".to_string(),
            resource_group: "rg".to_string(),
            create_resource_group: false,
            tags: BTreeMap::new(),
            reconcile_policy: Default::default(),
            deletion_policy: Default::default(),
        },
        storage_account: None,
        container: None,
        network_access: None,
        vhd: Some(VhdSource {
            source_url: "https://images.example.com/base.vhd".to_string(),
            ..VhdSource::default()
        }),
    };
    edit(&mut spec);
    let mut sb = StorageBinding::new("images", spec);
    sb.metadata = ObjectMeta {
        name: Some("images".to_string()),
        namespace: Some("ns".to_string()),
        uid: Some(UID.to_string()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    sb
}
