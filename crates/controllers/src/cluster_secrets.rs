//! The Secrets azop writes for a cluster (AksCluster kubeconfigs; an AzureCluster's PKI,
//! kubeconfig and join token), in Cluster API's conventions: its Secret type, its cluster-name
//! label, and an owner reference to the cluster so the garbage collector deletes them with it.
//! Pure.

use std::collections::BTreeMap;

use azop_provider::Owner;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The Cluster API label tools use to find a cluster's Secrets.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// The Cluster API Secret type.
pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";

/// The owner reference of a cluster's Secrets: the garbage collector deletes each with it.
pub fn owner_reference(owner: &Owner) -> OwnerReference {
    OwnerReference {
        api_version: "azop.dev/v1alpha1".to_string(),
        kind: owner.kind.clone(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `secret` carries `owner`'s reference (azop made it for that cluster).
pub fn owned_by(secret: &Secret, owner: &Owner) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner.uid)
}

/// A Secret `name` in `namespace` for `owner`'s cluster, holding `data`.
pub fn owned_secret(
    name: &str,
    namespace: &str,
    owner: &Owner,
    data: BTreeMap<String, ByteString>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                CLUSTER_NAME_LABEL.to_string(),
                owner.name.clone(),
            )])),
            owner_references: Some(vec![owner_reference(owner)]),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_string()),
        data: Some(data),
        ..Secret::default()
    }
}
