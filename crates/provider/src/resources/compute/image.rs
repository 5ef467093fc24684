//! Managed images from a blob VHD (the StorageBinding's copied base image): osType Linux,
//! osState Generalized. Images are immutable in practice; a difference is reported so the
//! controller can say so (Azure refuses most changes).

use super::{API_VERSION, wire_enum};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::network::{get_via_mgmt, send_via_mgmt, uid_tag};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_compute::models::{
    HyperVGenerationType, Image as ImageModel, ImageDisk, ImageOsDisk, ImageProperties,
    ImageStorageProfile, Resource, StorageAccountType, image_os_disk,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct Image;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HyperVGeneration {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageOsType {
    #[default]
    Linux,
    Windows,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub location: String,
    pub os_type: ImageOsType,
    /// `https://{account}.blob.core.windows.net/{container}/{blob}.vhd` (a page blob).
    pub blob_uri: String,
    /// `Standard_LRS`, `Premium_LRS`, `StandardSSD_LRS`, …
    pub storage_account_type: String,
    pub hyper_v_generation: HyperVGeneration,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedImage {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: ObservedImageProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedImageProperties {
    pub provisioning_state: Option<String>,
    pub hyper_v_generation: Option<String>,
    pub storage_profile: Option<ObservedImageStorageProfile>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedImageStorageProfile {
    pub os_disk: Option<ObservedImageOsDisk>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedImageOsDisk {
    pub os_type: Option<String>,
    pub os_state: Option<String>,
    pub blob_uri: Option<String>,
    pub storage_account_type: Option<String>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i32>,
}

#[async_trait::async_trait]
impl ArmResource for Image {
    type Key = ImageKey;
    type Spec = ImageSpec;
    type Body = ImageModel;
    type Observed = ObservedImage;

    const RESOURCE_TYPE: &'static str = "Microsoft.Compute/images";
    const API_VERSION: &'static str = API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::compute_id(
            subscription_id,
            &key.resource_group,
            &format!("images/{}", key.name),
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> ImageModel {
        let mut os_disk = ImageOsDisk::new(
            match spec.os_type {
                ImageOsType::Linux => image_os_disk::OsType::Linux,
                ImageOsType::Windows => image_os_disk::OsType::Windows,
            },
            image_os_disk::OsState::Generalized,
        );
        os_disk.image_disk = ImageDisk {
            blob_uri: Some(spec.blob_uri.clone()),
            storage_account_type: wire_enum::<StorageAccountType>(&spec.storage_account_type),
            ..ImageDisk::default()
        };
        let mut storage = ImageStorageProfile::new();
        storage.os_disk = Some(os_disk);
        let mut props = ImageProperties::new();
        props.storage_profile = Some(storage);
        props.hyper_v_generation = Some(match spec.hyper_v_generation {
            HyperVGeneration::V1 => HyperVGenerationType::V1,
            HyperVGeneration::V2 => HyperVGenerationType::V2,
        });
        let mut resource = Resource::new(spec.location.clone());
        resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        let mut body = ImageModel::new(resource);
        body.properties = Some(props);
        body
    }

    fn diff(desired: &ImageModel, observed: &ObservedImage) -> Vec<Difference> {
        let mut d = Diff::new();
        d.location(&desired.resource.location, observed.location.as_deref());
        if let Some(p) = &desired.properties {
            let op = &observed.properties;
            d.ignore_case(
                "properties.hyperVGeneration",
                p.hyper_v_generation.as_ref().map(wire).as_deref(),
                // Azure's default is V1.
                Some(op.hyper_v_generation.as_deref().unwrap_or("V1")),
            );
            let o = op
                .storage_profile
                .as_ref()
                .and_then(|s| s.os_disk.clone())
                .unwrap_or_default();
            if let Some(w) = p.storage_profile.as_ref().and_then(|s| s.os_disk.as_ref()) {
                let f = "properties.storageProfile.osDisk";
                d.ignore_case(
                    &format!("{f}.osType"),
                    Some(&wire(&w.os_type)),
                    o.os_type.as_deref(),
                );
                d.ignore_case(
                    &format!("{f}.osState"),
                    Some(&wire(&w.os_state)),
                    o.os_state.as_deref(),
                );
                d.exact(
                    &format!("{f}.blobUri"),
                    w.image_disk.blob_uri.as_deref(),
                    o.blob_uri.as_deref(),
                );
                d.ignore_case(
                    &format!("{f}.storageAccountType"),
                    w.image_disk
                        .storage_account_type
                        .as_ref()
                        .map(wire)
                        .as_deref(),
                    o.storage_account_type.as_deref(),
                );
            }
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedImage) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedImage>, AzureError> {
        let client = session.compute_client().images_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &ImageModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.compute_client().images_client();
        let send = client
            .create_or_update(
                &key.resource_group,
                &key.name,
                body.clone(),
                session.subscription_id(),
            )
            .send();
        send_via_mgmt(session, send).await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.compute_client().images_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        send_via_mgmt(session, send).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (Image::RESOURCE_TYPE, Image::wire(&desired()).expect("wire"))
    }
    use crate::resources::network::FixtureEdit;

    const BLOB: &str = "https://mystorageaccount.blob.core.windows.net/osimages/osimage.vhd";

    fn desired() -> ImageModel {
        let key = ImageKey {
            resource_group: "myResourceGroup".into(),
            name: "myImage".into(),
        };
        let spec = ImageSpec {
            location: "westus".into(),
            os_type: ImageOsType::Linux,
            blob_uri: BLOB.into(),
            storage_account_type: "Standard_LRS".into(),
            hyper_v_generation: HyperVGeneration::V2,
            tags: BTreeMap::new(),
        };
        Image::desired(
            &key,
            &spec,
            &Owner::new("StorageBinding", "ns", "img", "uid-9"),
        )
    }

    /// Images_CreateOrUpdate, example "Image_CreateFromABlob.json" (2024-07-01), re-typed
    /// with Gen2, our tags and the server's additions (osDiskSizeGB computed, caching
    /// default, an empty dataDisks list, provisioningState).
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "properties": {
                "storageProfile": {
                    "osDisk": {
                        "osType": "Linux",
                        "blobUri": BLOB,
                        "osState": "Generalized",
                        "caching": "ReadWrite",
                        "diskSizeGB": 30,
                        "storageAccountType": "Standard_LRS"
                    },
                    "dataDisks": [],
                    "zoneResilient": false
                },
                "provisioningState": "Succeeded",
                "hyperVGeneration": "V2"
            },
            "type": "Microsoft.Compute/images",
            "location": "westus",
            "tags": {"azop.dev/owner": "StorageBinding/ns/img", "azop.dev/uid": "uid-9"},
            "id": "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/images/myImage",
            "name": "myImage"
        })
    }

    fn observed(v: serde_json::Value) -> ObservedImage {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(Image::diff(&desired(), &o), vec![]);
        assert_eq!(Image::owner_uid(&o).as_deref(), Some("uid-9"));
        let body = serde_json::to_value(desired()).expect("json");
        let os = &body["properties"]["storageProfile"]["osDisk"];
        assert_eq!(os["osType"], "Linux");
        assert_eq!(os["osState"], "Generalized");
        assert_eq!(os["blobUri"], BLOB);
        assert_eq!(os["storageAccountType"], "Standard_LRS");
        assert_eq!(body["properties"]["hyperVGeneration"], "V2");
    }

    #[test]
    fn each_managed_field_is_drift() {
        let os = "/properties/storageProfile/osDisk";
        let set = |ptr: String, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(&ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location".into(), "eastus".into())),
            (
                "properties.hyperVGeneration",
                set("/properties/hyperVGeneration".into(), "V1".into()),
            ),
            (
                "properties.storageProfile.osDisk.osType",
                set(format!("{os}/osType"), "Windows".into()),
            ),
            (
                "properties.storageProfile.osDisk.osState",
                set(format!("{os}/osState"), "Specialized".into()),
            ),
            (
                "properties.storageProfile.osDisk.blobUri",
                set(format!("{os}/blobUri"), "https://x/y.vhd".into()),
            ),
            (
                "properties.storageProfile.osDisk.storageAccountType",
                set(format!("{os}/storageAccountType"), "Premium_LRS".into()),
            ),
            ("tags", set("/tags".into(), serde_json::json!({}))),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = Image::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }
}
