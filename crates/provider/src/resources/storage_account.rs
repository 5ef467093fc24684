//! Storage accounts (`Microsoft.Storage/storageAccounts`, 2023-05-01 through
//! azure_mgmt_storage). Create answers 202 with an empty body and a Location to poll; the
//! generated `StorageAccount` model cannot be used for reading (its provisioningState enum
//! has no fallback for unknown values), so GETs are read into [`ObservedStorageAccount`].
//!
//! Secure defaults always: HTTPS only, TLS 1.2 minimum, no anonymous blob access.

use super::diff::{Diff, tag_value, tags_to_value, wire};
use super::{ArmResource, Difference, Owner, UID_TAG};
use crate::arm::{ArmSession, RawResponse};
use crate::credentials::SecretString;
use crate::error::AzureError;
use azure_mgmt_storage::package_2023_05::models::{
    self, IpRule, NetworkRuleSet, PublicNetworkAccess, Sku, SkuName,
    StorageAccountCreateParameters, StorageAccountPropertiesCreateParameters, VirtualNetworkRule,
    network_rule_set, storage_account_create_parameters,
    storage_account_properties_create_parameters,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct StorageAccount;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageAccountKey {
    pub resource_group: String,
    pub name: String,
}

/// Who may reach the account's data plane.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StorageNetworkAccess {
    /// Public endpoint, no firewall (Azure's default).
    #[default]
    Public,
    /// Public endpoint, default action Deny, open to these subnets (which need the
    /// Microsoft.Storage service endpoint) and IP ranges.
    Restricted {
        subnet_ids: Vec<String>,
        ip_rules: Vec<String>,
    },
    /// Public network access disabled; reached through a private endpoint only.
    Private,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageAccountSpec {
    pub location: String,
    pub sku: SkuName,
    pub network: StorageNetworkAccess,
    pub tags: BTreeMap<String, String>,
}

/// What a GET of a storage account returns, as far as azop reads it. Every field optional
/// and every enum a string, so no server answer fails to parse.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStorageAccount {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub kind: Option<String>,
    pub sku: Option<ObservedSku>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: ObservedStorageProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedSku {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStorageProperties {
    pub provisioning_state: Option<String>,
    pub supports_https_traffic_only: Option<bool>,
    pub minimum_tls_version: Option<String>,
    pub allow_blob_public_access: Option<bool>,
    pub public_network_access: Option<String>,
    pub network_acls: Option<ObservedNetworkAcls>,
    pub primary_endpoints: Option<ObservedEndpoints>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNetworkAcls {
    pub bypass: Option<String>,
    pub default_action: Option<String>,
    #[serde(default)]
    pub virtual_network_rules: Vec<ObservedVnetRule>,
    #[serde(default)]
    pub ip_rules: Vec<ObservedIpRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedVnetRule {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedIpRule {
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedEndpoints {
    pub blob: Option<String>,
}

impl ObservedStorageAccount {
    pub fn blob_endpoint(&self) -> Option<&str> {
        self.properties.primary_endpoints.as_ref()?.blob.as_deref()
    }
}

fn bypass_set(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[async_trait::async_trait]
impl ArmResource for StorageAccount {
    type Key = StorageAccountKey;
    type Spec = StorageAccountSpec;
    type Body = StorageAccountCreateParameters;
    type Observed = ObservedStorageAccount;

    const RESOURCE_TYPE: &'static str = "Microsoft.Storage/storageAccounts";
    const API_VERSION: &'static str = "2023-05-01";

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        format!(
            "/subscriptions/{subscription_id}/resourceGroups/{}/providers/Microsoft.Storage/storageAccounts/{}",
            key.resource_group, key.name
        )
    }

    fn desired(
        _key: &Self::Key,
        spec: &Self::Spec,
        owner: &Owner,
    ) -> StorageAccountCreateParameters {
        let mut props = StorageAccountPropertiesCreateParameters::new();
        props.supports_https_traffic_only = Some(true);
        props.minimum_tls_version =
            Some(storage_account_properties_create_parameters::MinimumTlsVersion::Tls12);
        props.allow_blob_public_access = Some(false);
        let mut acls = NetworkRuleSet::new(network_rule_set::DefaultAction::Allow);
        acls.bypass = Some(network_rule_set::Bypass::AzureServices);
        match &spec.network {
            StorageNetworkAccess::Public => {}
            StorageNetworkAccess::Restricted {
                subnet_ids,
                ip_rules,
            } => {
                acls.default_action = network_rule_set::DefaultAction::Deny;
                acls.virtual_network_rules = subnet_ids
                    .iter()
                    .map(|id| VirtualNetworkRule::new(id.clone()))
                    .collect();
                acls.ip_rules = ip_rules.iter().map(|ip| IpRule::new(ip.clone())).collect();
            }
            StorageNetworkAccess::Private => {
                acls.default_action = network_rule_set::DefaultAction::Deny;
                props.public_network_access = Some(PublicNetworkAccess::Disabled);
            }
        }
        props.network_acls = Some(acls);
        let mut body = StorageAccountCreateParameters::new(
            Sku::new(spec.sku.clone()),
            storage_account_create_parameters::Kind::StorageV2,
            spec.location.clone(),
        );
        body.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.properties = Some(props);
        body
    }

    fn diff(
        desired: &StorageAccountCreateParameters,
        observed: &ObservedStorageAccount,
    ) -> Vec<Difference> {
        let mut d = Diff::new();
        d.location(&desired.location, observed.location.as_deref());
        d.ignore_case(
            "sku.name",
            Some(&wire(&desired.sku.name)),
            observed.sku.as_ref().map(|s| s.name.as_str()),
        );
        d.ignore_case("kind", Some(&wire(&desired.kind)), observed.kind.as_deref());
        let o = &observed.properties;
        if let Some(p) = &desired.properties {
            d.boolean(
                "properties.supportsHttpsTrafficOnly",
                p.supports_https_traffic_only,
                o.supports_https_traffic_only,
            );
            d.exact(
                "properties.minimumTlsVersion",
                p.minimum_tls_version.as_ref().map(wire).as_deref(),
                o.minimum_tls_version.as_deref(),
            );
            d.boolean(
                "properties.allowBlobPublicAccess",
                p.allow_blob_public_access,
                o.allow_blob_public_access,
            );
            // Only compared when azop sets it (Private): Azure omits it when never set.
            d.ignore_case(
                "properties.publicNetworkAccess",
                p.public_network_access.as_ref().map(wire).as_deref(),
                o.public_network_access.as_deref(),
            );
            if let Some(acls) = &p.network_acls {
                let oa = o.network_acls.clone().unwrap_or_default();
                d.ignore_case(
                    "properties.networkAcls.defaultAction",
                    Some(&wire(&acls.default_action)),
                    Some(oa.default_action.as_deref().unwrap_or("Allow")),
                );
                if let Some(bypass) = &acls.bypass {
                    let want = bypass_set(&wire(bypass));
                    let have = bypass_set(oa.bypass.as_deref().unwrap_or("AzureServices"));
                    d.string_set(
                        "properties.networkAcls.bypass",
                        want.iter().map(String::as_str),
                        have.iter().map(String::as_str),
                    );
                }
                d.id_set(
                    "properties.networkAcls.virtualNetworkRules",
                    acls.virtual_network_rules.iter().map(|r| r.id.as_str()),
                    oa.virtual_network_rules.iter().map(|r| r.id.as_str()),
                );
                d.string_set(
                    "properties.networkAcls.ipRules",
                    acls.ip_rules.iter().map(|r| r.value.as_str()),
                    oa.ip_rules.iter().map(|r| r.value.as_str()),
                );
            }
        }
        d.tags(
            &super::diff::tags_from_value(&desired.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedStorageAccount) -> Option<String> {
        tag_value(observed.tags.as_ref()?, UID_TAG).map(str::to_owned)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedStorageAccount>, AzureError> {
        let client = session.storage_client().storage_accounts_client();
        let send = client
            .get_properties(&key.resource_group, &key.name, session.subscription_id())
            .send();
        match session.mgmt(send).await {
            Ok(resp) => Ok(Some(resp.parse(Self::RESOURCE_TYPE)?)),
            Err(AzureError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &StorageAccountCreateParameters,
    ) -> Result<RawResponse, AzureError> {
        let client = session.storage_client().storage_accounts_client();
        // `.send()` only: the builder's own future re-PUTs in a loop and fails on the 202's
        // empty body.
        let send = client
            .create(
                &key.resource_group,
                &key.name,
                body.clone(),
                session.subscription_id(),
            )
            .send();
        session.mgmt(send).await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.storage_client().storage_accounts_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        session.mgmt(send).await
    }
}

#[derive(Deserialize)]
struct ListKeysResult {
    #[serde(default)]
    keys: Vec<ListedKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedKey {
    key_name: Option<String>,
    value: Option<String>,
}

/// The account's first access key (`key1`), for the shared-key data plane (VHD copy).
pub async fn list_keys(
    session: &ArmSession,
    key: &StorageAccountKey,
) -> Result<SecretString, AzureError> {
    let path = format!(
        "{}/listKeys",
        StorageAccount::path(session.subscription_id(), key)
    );
    let resp = session
        .call::<()>(
            azure_core::Method::Post,
            &path,
            StorageAccount::API_VERSION,
            None,
        )
        .await?;
    let listed: ListKeysResult = resp.parse("storage account keys")?;
    let mut keys = listed.keys;
    keys.sort_by(|a, b| a.key_name.cmp(&b.key_name));
    keys.into_iter()
        .find_map(|k| k.value)
        .map(SecretString::new)
        .ok_or_else(|| {
            AzureError::transient(
                "NoStorageKeys",
                format!("storage account {} returned no keys", key.name),
            )
        })
}

/// What `checkNameAvailability` says about a storage account name (names are global).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameAvailability {
    #[serde(default)]
    pub name_available: bool,
    /// `AccountNameInvalid` or `AlreadyExists`.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /subscriptions/{sub}/providers/Microsoft.Storage/checkNameAvailability`.
pub async fn check_name_availability(
    session: &ArmSession,
    name: &str,
) -> Result<NameAvailability, AzureError> {
    let path = session.subscription_path("/providers/Microsoft.Storage/checkNameAvailability");
    let body = serde_json::json!({"name": name, "type": StorageAccount::RESOURCE_TYPE});
    let resp = session
        .call(
            azure_core::Method::Post,
            &path,
            StorageAccount::API_VERSION,
            Some(&body),
        )
        .await?;
    resp.parse("storage account name availability")
}

// Keep the generated module path visible to users of this module's types.
pub use models::SkuName as StorageSkuName;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            StorageAccount::RESOURCE_TYPE,
            StorageAccount::wire(&StorageAccount::desired(
                &key(),
                &spec(StorageNetworkAccess::Private),
                &owner(),
            ))
            .expect("wire"),
        )
    }

    /// Changes one field of a fixture.
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

    fn owner() -> Owner {
        Owner::new("StorageBinding", "ns", "images", "uid-7")
    }

    fn key() -> StorageAccountKey {
        StorageAccountKey {
            resource_group: "res9101".into(),
            name: "sto4445".into(),
        }
    }

    fn spec(network: StorageNetworkAccess) -> StorageAccountSpec {
        StorageAccountSpec {
            location: "eastus".into(),
            sku: SkuName::StandardLrs,
            network,
            tags: [("team".to_owned(), "img".to_owned())]
                .into_iter()
                .collect(),
        }
    }

    /// The shape of StorageAccounts_GetProperties (azure-rest-api-specs example
    /// "StorageAccountGetProperties.json", 2023-05-01), re-typed with our tags and settings.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "id": "/subscriptions/{subscription-id}/resourceGroups/res9101/providers/Microsoft.Storage/storageAccounts/sto4445",
            "kind": "StorageV2",
            "location": "eastus",
            "name": "sto4445",
            "type": "Microsoft.Storage/storageAccounts",
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "tags": {"azop.dev/owner": "StorageBinding/ns/images", "azop.dev/uid": "uid-7", "team": "img"},
            "properties": {
                "keyCreationTime": {"key1": "2021-03-18T04:42:22.4322836Z", "key2": "2021-03-18T04:42:22.4322836Z"},
                "creationTime": "2017-06-01T02:42:41.7633306Z",
                "primaryEndpoints": {
                    "blob": "https://sto4445.blob.core.windows.net/",
                    "dfs": "https://sto4445.dfs.core.windows.net/",
                    "file": "https://sto4445.file.core.windows.net/",
                    "queue": "https://sto4445.queue.core.windows.net/",
                    "table": "https://sto4445.table.core.windows.net/",
                    "web": "https://sto4445.web.core.windows.net/"
                },
                "primaryLocation": "eastus",
                "provisioningState": "Succeeded",
                "statusOfPrimary": "available",
                "encryption": {
                    "services": {
                        "file": {"keyType": "Account", "enabled": true, "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"},
                        "blob": {"keyType": "Account", "enabled": true, "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"}
                    },
                    "keySource": "Microsoft.Storage"
                },
                "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
                "supportsHttpsTrafficOnly": true,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": false,
                "accessTier": "Hot"
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedStorageAccount {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let desired =
            StorageAccount::desired(&key(), &spec(StorageNetworkAccess::Public), &owner());
        let o = observed(get_after_put());
        assert_eq!(StorageAccount::diff(&desired, &o), vec![]);
        assert_eq!(StorageAccount::owner_uid(&o).as_deref(), Some("uid-7"));
        assert_eq!(
            o.blob_endpoint(),
            Some("https://sto4445.blob.core.windows.net/")
        );
    }

    #[test]
    fn restricted_and_private_get_after_put_show_no_drift() {
        let subnet = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/workers";
        let desired = StorageAccount::desired(
            &key(),
            &spec(StorageNetworkAccess::Restricted {
                subnet_ids: vec![subnet.into()],
                ip_rules: vec!["203.0.113.0/24".into()],
            }),
            &owner(),
        );
        let mut v = get_after_put();
        // Azure lower-cases the resource group in rule ids and adds action/state.
        v["properties"]["networkAcls"] = serde_json::json!({
            "bypass": "AzureServices", "defaultAction": "Deny",
            "virtualNetworkRules": [{"id": subnet.to_lowercase(), "action": "Allow", "state": "Succeeded"}],
            "ipRules": [{"value": "203.0.113.0/24", "action": "Allow"}]
        });
        assert_eq!(StorageAccount::diff(&desired, &observed(v)), vec![]);

        let desired =
            StorageAccount::desired(&key(), &spec(StorageNetworkAccess::Private), &owner());
        let mut v = get_after_put();
        v["properties"]["publicNetworkAccess"] = "Disabled".into();
        v["properties"]["networkAcls"]["defaultAction"] = "Deny".into();
        assert_eq!(StorageAccount::diff(&desired, &observed(v)), vec![]);
    }

    #[test]
    fn each_managed_field_is_drift() {
        let desired =
            StorageAccount::desired(&key(), &spec(StorageNetworkAccess::Public), &owner());
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "sku.name",
                Box::new(|v| v["sku"]["name"] = "Standard_GRS".into()),
            ),
            ("kind", Box::new(|v| v["kind"] = "Storage".into())),
            ("location", Box::new(|v| v["location"] = "westus".into())),
            (
                "properties.supportsHttpsTrafficOnly",
                Box::new(|v| v["properties"]["supportsHttpsTrafficOnly"] = false.into()),
            ),
            (
                "properties.minimumTlsVersion",
                Box::new(|v| v["properties"]["minimumTlsVersion"] = "TLS1_0".into()),
            ),
            (
                "properties.allowBlobPublicAccess",
                Box::new(|v| v["properties"]["allowBlobPublicAccess"] = true.into()),
            ),
            (
                "properties.networkAcls.defaultAction",
                Box::new(|v| v["properties"]["networkAcls"]["defaultAction"] = "Deny".into()),
            ),
            (
                "properties.networkAcls.bypass",
                Box::new(|v| v["properties"]["networkAcls"]["bypass"] = "Logging, Metrics".into()),
            ),
            (
                "properties.networkAcls.virtualNetworkRules",
                Box::new(|v| {
                    v["properties"]["networkAcls"]["virtualNetworkRules"] =
                        serde_json::json!([{"id": "/x"}])
                }),
            ),
            (
                "properties.networkAcls.ipRules",
                Box::new(|v| {
                    v["properties"]["networkAcls"]["ipRules"] =
                        serde_json::json!([{"value": "1.2.3.4"}])
                }),
            ),
            ("tags", Box::new(|v| v["tags"]["team"] = "other".into())),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = StorageAccount::diff(&desired, &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field]
            );
        }
    }

    #[test]
    fn unknown_provisioning_states_still_parse() {
        let mut v = get_after_put();
        v["properties"]["provisioningState"] = "Deleting".into();
        v["tags"] = serde_json::Value::Null;
        let o = observed(v);
        assert_eq!(o.properties.provisioning_state.as_deref(), Some("Deleting"));
        assert_eq!(StorageAccount::owner_uid(&o), None);
    }

    #[test]
    fn desired_body_has_secure_defaults_on_the_wire() {
        let body = serde_json::to_value(StorageAccount::desired(
            &key(),
            &spec(StorageNetworkAccess::Private),
            &owner(),
        ))
        .expect("json");
        assert_eq!(body["kind"], "StorageV2");
        assert_eq!(body["sku"]["name"], "Standard_LRS");
        let p = &body["properties"];
        assert_eq!(p["supportsHttpsTrafficOnly"], true);
        assert_eq!(p["minimumTlsVersion"], "TLS1_2");
        assert_eq!(p["allowBlobPublicAccess"], false);
        assert_eq!(p["publicNetworkAccess"], "Disabled");
        assert_eq!(p["networkAcls"]["defaultAction"], "Deny");
        assert_eq!(body["tags"]["azop.dev/uid"], "uid-7");
    }
}
