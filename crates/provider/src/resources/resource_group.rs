//! Resource groups (`Microsoft.Resources/resourceGroups`, 2021-04-01 through
//! azure_mgmt_resources). PUT is synchronous; DELETE is asynchronous (202 + Location).

use super::diff::{Diff, tag_value, tags_from_value, tags_to_value};
use super::{ArmResource, Difference, Owner, UID_TAG};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use azure_mgmt_resources::package_resources_2021_04::models::ResourceGroup as RgModel;
use std::collections::BTreeMap;

pub struct ResourceGroup;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroupKey {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroupSpec {
    pub location: String,
    pub tags: BTreeMap<String, String>,
}

#[async_trait::async_trait]
impl ArmResource for ResourceGroup {
    type Key = ResourceGroupKey;
    type Spec = ResourceGroupSpec;
    type Body = RgModel;
    type Observed = RgModel;

    const RESOURCE_TYPE: &'static str = "Microsoft.Resources/resourceGroups";
    const API_VERSION: &'static str = "2021-04-01";

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        format!(
            "/subscriptions/{subscription_id}/resourcegroups/{}",
            key.name
        )
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> RgModel {
        let mut body = RgModel::new(spec.location.clone());
        body.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body
    }

    fn diff(desired: &RgModel, observed: &RgModel) -> Vec<Difference> {
        let mut d = Diff::new();
        // A resource group's location cannot change; a difference is reported (so the
        // controller can say so) but a PUT would fail with InvalidResourceGroupLocation.
        d.location(&desired.location, Some(&observed.location));
        d.tags(
            &tags_from_value(&desired.tags),
            &tags_from_value(&observed.tags),
        );
        d.finish()
    }

    fn owner_uid(observed: &RgModel) -> Option<String> {
        tag_value(&tags_from_value(&observed.tags), UID_TAG).map(str::to_owned)
    }

    async fn observe(session: &ArmSession, key: &Self::Key) -> Result<Option<RgModel>, AzureError> {
        let client = session.resources_client().resource_groups_client();
        match session
            .mgmt(client.get(&key.name, session.subscription_id()).send())
            .await
        {
            Ok(resp) => Ok(Some(resp.parse(Self::RESOURCE_TYPE)?)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &RgModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.resources_client().resource_groups_client();
        session
            .mgmt(
                client
                    .create_or_update(&key.name, body.clone(), session.subscription_id())
                    .send(),
            )
            .await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.resources_client().resource_groups_client();
        session
            .mgmt(client.delete(&key.name, session.subscription_id()).send())
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            ResourceGroup::RESOURCE_TYPE,
            ResourceGroup::wire(&ResourceGroup::desired(
                &ResourceGroupKey { name: "rg".into() },
                &spec(),
                &owner(),
            ))
            .expect("wire"),
        )
    }

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn spec() -> ResourceGroupSpec {
        ResourceGroupSpec {
            location: "westeurope".into(),
            tags: [("env".to_owned(), "dev".to_owned())].into_iter().collect(),
        }
    }

    /// The response shape of ResourceGroups_CreateOrUpdate / _Get (azure-rest-api-specs
    /// examples "CreateResourceGroup.json"), with our tags as the PUT sent them.
    const GET_AFTER_PUT: &str = r#"{
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-resource-group",
        "name": "my-resource-group",
        "type": "Microsoft.Resources/resourceGroups",
        "location": "westeurope",
        "tags": {"azop.dev/owner": "AzureCluster/ns/c1", "azop.dev/uid": "uid-1", "env": "dev"},
        "properties": {"provisioningState": "Succeeded"}
    }"#;

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let key = ResourceGroupKey {
            name: "my-resource-group".into(),
        };
        let desired = ResourceGroup::desired(&key, &spec(), &owner());
        let observed: RgModel = serde_json::from_str(GET_AFTER_PUT).expect("fixture");
        assert_eq!(ResourceGroup::diff(&desired, &observed), vec![]);
        assert_eq!(
            ResourceGroup::owner_uid(&observed).as_deref(),
            Some("uid-1")
        );
    }

    #[test]
    fn desired_body_is_the_wire_shape() {
        let key = ResourceGroupKey { name: "rg".into() };
        let body =
            serde_json::to_value(ResourceGroup::desired(&key, &spec(), &owner())).expect("json");
        assert_eq!(body["location"], "westeurope");
        assert_eq!(body["tags"]["azop.dev/uid"], "uid-1");
        assert_eq!(body["tags"]["env"], "dev");
    }

    #[test]
    fn changed_tag_and_location_are_drift() {
        let key = ResourceGroupKey { name: "rg".into() };
        let desired = ResourceGroup::desired(&key, &spec(), &owner());
        let mut observed: RgModel = serde_json::from_str(GET_AFTER_PUT).expect("fixture");
        observed.tags = Some(
            serde_json::json!({"azop.dev/owner": "AzureCluster/ns/c1", "azop.dev/uid": "uid-1", "env": "prod"}),
        );
        let d = ResourceGroup::diff(&desired, &observed);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "tags");
        observed.tags = desired.tags.clone();
        observed.location = "West US".into();
        assert_eq!(
            ResourceGroup::diff(&desired, &observed)[0].field,
            "location"
        );
        observed.location = "West Europe".into();
        assert!(ResourceGroup::diff(&desired, &observed).is_empty());
    }
}
