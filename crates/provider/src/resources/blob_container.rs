//! Blob containers through the management plane
//! (`…/storageAccounts/{a}/blobServices/default/containers/{c}`, 2023-05-01): synchronous,
//! and works even when the account's public data endpoint is disabled.
//!
//! Containers have no ARM tags, so ownership is recorded in container metadata, whose names
//! must be C# identifiers: `azop_owner` and `azop_uid` stand for the `azop.dev/*` tags.
//!
//! The PUT body is a local model: the generated `BlobContainer` serializes its read-only time
//! fields as `null` (`deletedTime`, `lastModifiedTime`), which Azure's own clients never send.
//! Calls are raw (the trait's default GET/PUT/DELETE at `API_VERSION`).

use super::diff::Diff;
use super::{ArmResource, Difference, Owner};
use crate::{ArmSession, AzureError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OWNER_METADATA: &str = "azop_owner";
pub const UID_METADATA: &str = "azop_uid";

pub struct BlobContainer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobContainerKey {
    pub resource_group: String,
    pub account: String,
    pub name: String,
}

/// Nothing to choose: containers are always private. (Kept as a type so the shape matches
/// every other kind.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlobContainerSpec {}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerBody {
    pub properties: ContainerBodyProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerBodyProperties {
    pub public_access: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedBlobContainer {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: ObservedContainerProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedContainerProperties {
    pub public_access: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

fn metadata_value<'a>(m: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[async_trait::async_trait]
impl ArmResource for BlobContainer {
    type Key = BlobContainerKey;
    type Spec = BlobContainerSpec;
    type Body = ContainerBody;
    type Observed = ObservedBlobContainer;

    const RESOURCE_TYPE: &'static str = "Microsoft.Storage/storageAccounts/blobServices/containers";
    const API_VERSION: &'static str = "2023-05-01";

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        format!(
            "/subscriptions/{subscription_id}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}/blobServices/default/containers/{}",
            key.resource_group, key.account, key.name
        )
    }

    fn desired(_key: &Self::Key, _spec: &Self::Spec, owner: &Owner) -> ContainerBody {
        ContainerBody {
            properties: ContainerBodyProperties {
                public_access: "None".to_owned(),
                metadata: [
                    (OWNER_METADATA.to_owned(), owner.owner_tag_value()),
                    (UID_METADATA.to_owned(), owner.uid.clone()),
                ]
                .into_iter()
                .collect(),
            },
        }
    }

    fn diff(desired: &ContainerBody, observed: &ObservedBlobContainer) -> Vec<Difference> {
        let mut d = Diff::new();
        let o = &observed.properties;
        let p = &desired.properties;
        // Azure omits publicAccess when it is None.
        d.ignore_case(
            "properties.publicAccess",
            Some(&p.public_access),
            Some(o.public_access.as_deref().unwrap_or("None")),
        );
        let have = o.metadata.clone().unwrap_or_default();
        for (k, v) in &p.metadata {
            if metadata_value(&have, k) != Some(v.as_str()) {
                d.push(
                    &format!("properties.metadata.{k}"),
                    v,
                    metadata_value(&have, k).unwrap_or("<unset>"),
                );
            }
        }
        d.finish()
    }

    fn owner_uid(observed: &ObservedBlobContainer) -> Option<String> {
        metadata_value(observed.properties.metadata.as_ref()?, UID_METADATA).map(str::to_owned)
    }

    /// A container's marks are metadata: it is PUT again with its access level and its other
    /// metadata as they are, without this owner's two entries.
    async fn disown(
        session: &ArmSession,
        key: &Self::Key,
        owner: &Owner,
    ) -> Result<(), AzureError> {
        let Some(observed) = Self::observe(session, key).await? else {
            return Ok(());
        };
        let Some(body) = disowned_container(&observed, owner) else {
            return Ok(());
        };
        match Self::put(session, key, &body).await {
            Ok(_) | Err(AzureError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The container's PUT body without this owner's metadata (pure); `None` when it carries no
/// mark of this owner.
pub fn disowned_container(
    observed: &ObservedBlobContainer,
    owner: &Owner,
) -> Option<ContainerBody> {
    if !owner.owns(BlobContainer::owner_uid(observed).as_deref()) {
        return None;
    }
    let metadata = observed
        .properties
        .metadata
        .iter()
        .flatten()
        .filter(|(k, v)| {
            !((k.eq_ignore_ascii_case(UID_METADATA) && **v == owner.uid)
                || (k.eq_ignore_ascii_case(OWNER_METADATA) && **v == owner.owner_tag_value()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(ContainerBody {
        properties: ContainerBodyProperties {
            public_access: observed
                .properties
                .public_access
                .clone()
                .unwrap_or_else(|| "None".to_owned()),
            metadata,
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            BlobContainer::RESOURCE_TYPE,
            BlobContainer::wire(&BlobContainer::desired(
                &key(),
                &BlobContainerSpec::default(),
                &owner(),
            ))
            .expect("wire"),
        )
    }

    fn owner() -> Owner {
        Owner::new("StorageBinding", "ns", "images", "uid-7")
    }

    fn key() -> BlobContainerKey {
        BlobContainerKey {
            resource_group: "res3376".into(),
            account: "sto328".into(),
            name: "container6185".into(),
        }
    }

    /// The shape of BlobContainers_Get (azure-rest-api-specs example
    /// "BlobContainersGet.json"), re-typed with our metadata.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "id": "/subscriptions/{subscription-id}/resourceGroups/res3376/providers/Microsoft.Storage/storageAccounts/sto328/blobServices/default/containers/container6185",
            "name": "container6185",
            "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
            "etag": "\"0x8D589847D51C7DE\"",
            "properties": {
                "publicAccess": "None",
                "metadata": {"azop_owner": "StorageBinding/ns/images", "azop_uid": "uid-7"},
                "leaseStatus": "Unlocked",
                "leaseState": "Available",
                "lastModifiedTime": "2018-03-26T05:06:14Z",
                "hasImmutabilityPolicy": false,
                "hasLegalHold": false
            }
        })
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let desired = BlobContainer::desired(&key(), &BlobContainerSpec::default(), &owner());
        let o: ObservedBlobContainer = serde_json::from_value(get_after_put()).expect("fixture");
        assert_eq!(BlobContainer::diff(&desired, &o), vec![]);
        assert_eq!(BlobContainer::owner_uid(&o).as_deref(), Some("uid-7"));
        // A 2023 answer without publicAccess is the same thing.
        let mut v = get_after_put();
        v["properties"]
            .as_object_mut()
            .expect("obj")
            .remove("publicAccess");
        let o: ObservedBlobContainer = serde_json::from_value(v).expect("fixture");
        assert_eq!(BlobContainer::diff(&desired, &o), vec![]);
    }

    #[test]
    fn public_access_and_lost_metadata_are_drift() {
        let desired = BlobContainer::desired(&key(), &BlobContainerSpec::default(), &owner());
        let mut v = get_after_put();
        v["properties"]["publicAccess"] = "Blob".into();
        let o: ObservedBlobContainer = serde_json::from_value(v).expect("fixture");
        assert_eq!(
            BlobContainer::diff(&desired, &o)[0].field,
            "properties.publicAccess"
        );
        let mut v = get_after_put();
        v["properties"]["metadata"] = serde_json::json!({});
        let o: ObservedBlobContainer = serde_json::from_value(v).expect("fixture");
        assert_eq!(BlobContainer::diff(&desired, &o).len(), 2);
        assert_eq!(BlobContainer::owner_uid(&o), None);
    }

    #[test]
    fn desired_body_is_the_wire_shape() {
        let body = serde_json::to_value(BlobContainer::desired(
            &key(),
            &BlobContainerSpec::default(),
            &owner(),
        ))
        .expect("json");
        assert_eq!(
            body,
            serde_json::json!({"properties": {"publicAccess": "None", "metadata": {"azop_owner": "StorageBinding/ns/images", "azop_uid": "uid-7"}}})
        );
    }
}
