//! Managed disks (data disks; OS disks are created implicitly with their VM). Created
//! empty. A disk can grow but not shrink; a size difference is reported either way and
//! Azure refuses a shrink with its own error.

use super::{DISK_API_VERSION, wire_enum};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::network::{get_via_mgmt, send_via_mgmt, uid_tag};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_compute::models::{
    CreationData, Disk as DiskModel, DiskProperties, DiskSku, Resource, creation_data, disk_sku,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct ManagedDisk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedDiskKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedDiskSpec {
    pub location: String,
    pub size_gb: i32,
    /// `Standard_LRS`, `Premium_LRS`, `StandardSSD_LRS`, `Premium_ZRS`, …
    pub sku: String,
    pub zone: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedManagedDisk {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku: Option<ObservedDiskSku>,
    #[serde(default)]
    pub zones: Vec<String>,
    /// The VM it is attached to (back-reference): never compared.
    pub managed_by: Option<String>,
    #[serde(default)]
    pub properties: ObservedDiskProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedDiskSku {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedDiskProperties {
    pub provisioning_state: Option<String>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i32>,
    pub disk_state: Option<String>,
    pub creation_data: Option<ObservedCreationData>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCreationData {
    pub create_option: Option<String>,
}

#[async_trait::async_trait]
impl ArmResource for ManagedDisk {
    type Key = ManagedDiskKey;
    type Spec = ManagedDiskSpec;
    type Body = DiskModel;
    type Observed = ObservedManagedDisk;

    const RESOURCE_TYPE: &'static str = "Microsoft.Compute/disks";
    const API_VERSION: &'static str = DISK_API_VERSION;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::compute_id(
            subscription_id,
            &key.resource_group,
            &format!("disks/{}", key.name),
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> DiskModel {
        let mut props = DiskProperties::new(CreationData::new(creation_data::CreateOption::Empty));
        props.disk_size_gb = Some(spec.size_gb);
        let mut sku = DiskSku::new();
        sku.name = wire_enum::<disk_sku::Name>(&spec.sku);
        let mut resource = Resource::new(spec.location.clone());
        resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        let mut body = DiskModel::new(resource);
        body.sku = Some(sku);
        body.zones = spec.zone.iter().cloned().collect();
        body.properties = Some(props);
        body
    }

    fn diff(desired: &DiskModel, observed: &ObservedManagedDisk) -> Vec<Difference> {
        let mut d = Diff::new();
        d.location(&desired.resource.location, observed.location.as_deref());
        d.ignore_case(
            "sku.name",
            desired
                .sku
                .as_ref()
                .and_then(|s| s.name.as_ref())
                .map(wire)
                .as_deref(),
            observed.sku.as_ref().and_then(|s| s.name.as_deref()),
        );
        d.string_set(
            "zones",
            desired.zones.iter().map(String::as_str),
            observed.zones.iter().map(String::as_str),
        );
        if let Some(size) = desired.properties.as_ref().and_then(|p| p.disk_size_gb)
            && observed.properties.disk_size_gb != Some(size)
        {
            d.push(
                "properties.diskSizeGB",
                size,
                observed
                    .properties
                    .disk_size_gb
                    .map_or("<unset>".to_owned(), |s| s.to_string()),
            );
        }
        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedManagedDisk) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedManagedDisk>, AzureError> {
        let client = session.compute_client().disks_client();
        let send = client
            .get(session.subscription_id(), &key.resource_group, &key.name)
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    /// The generated model serializes the read-only `timeCreated` as `null`; Azure must
    /// not be sent read-only properties, so the body goes out without them.
    fn wire(body: &DiskModel) -> Result<serde_json::Value, AzureError> {
        serde_json::to_value(body)
            .map(crate::resources::without_nulls)
            .map_err(|e| AzureError::config(format!("failed to serialize request body: {e}")))
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &DiskModel,
    ) -> Result<RawResponse, AzureError> {
        let path = Self::path(session.subscription_id(), key);
        session
            .call(
                azure_core::Method::Put,
                &path,
                Self::API_VERSION,
                Some(&Self::wire(body)?),
            )
            .await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.compute_client().disks_client();
        let send = client
            .delete(session.subscription_id(), &key.resource_group, &key.name)
            .send();
        send_via_mgmt(session, send).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            ManagedDisk::RESOURCE_TYPE,
            ManagedDisk::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;

    fn desired() -> DiskModel {
        let key = ManagedDiskKey {
            resource_group: "myResourceGroup".into(),
            name: "myDisk".into(),
        };
        let spec = ManagedDiskSpec {
            location: "West US".into(),
            size_gb: 200,
            sku: "Premium_LRS".into(),
            zone: Some("1".into()),
            tags: BTreeMap::new(),
        };
        ManagedDisk::desired(
            &key,
            &spec,
            &Owner::new("AzureCluster", "ns", "c1", "uid-1"),
        )
    }

    /// Disks_CreateOrUpdate, example "CreateAnEmptyManagedDisk.json" (2024-03-02),
    /// re-typed with a zone, a SKU and our tags, plus the server's additions (tier, state,
    /// uniqueId, timeCreated, encryption, managedBy).
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "myDisk",
            "location": "westus",
            "id": "/subscriptions/subid/resourceGroups/myresourcegroup/providers/Microsoft.Compute/disks/myDisk",
            "type": "Microsoft.Compute/disks",
            "tags": {"azop.dev/owner": "AzureCluster/ns/c1", "azop.dev/uid": "uid-1"},
            "sku": {"name": "Premium_LRS", "tier": "Premium"},
            "zones": ["1"],
            "managedBy": "/subscriptions/subid/resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/vm-0",
            "properties": {
                "creationData": {"createOption": "Empty"},
                "diskSizeGB": 200,
                "diskSizeBytes": 214748364800u64,
                "uniqueId": "00000000-0000-0000-0000-000000000000",
                "diskState": "Attached",
                "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
                "tier": "P15",
                "timeCreated": "2026-01-01T00:00:00.0000000+00:00",
                "provisioningState": "Succeeded"
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedManagedDisk {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(ManagedDisk::diff(&desired(), &o), vec![]);
        assert_eq!(ManagedDisk::owner_uid(&o).as_deref(), Some("uid-1"));
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(body["properties"]["creationData"]["createOption"], "Empty");
        assert_eq!(body["properties"]["diskSizeGB"], 200);
        assert_eq!(body["sku"]["name"], "Premium_LRS");
        assert_eq!(body["zones"], serde_json::json!(["1"]));
    }

    #[test]
    fn each_managed_field_is_drift() {
        let set = |ptr: &'static str, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location", "eastus".into())),
            ("sku.name", set("/sku/name", "Standard_LRS".into())),
            ("zones", set("/zones", serde_json::json!(["2"]))),
            (
                "properties.diskSizeGB",
                set("/properties/diskSizeGB", 100.into()),
            ),
            (
                "tags",
                set("/tags", serde_json::json!({"azop.dev/uid": "uid-1"})),
            ),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = ManagedDisk::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }
}
