//! Microsoft.Storage: storage accounts (create = 202 + Location with an empty body; names
//! global across subscriptions; networkAcls checked against the subnets in the store; listKeys;
//! checkNameAvailability), their `blobServices/default`, and blob containers (sync 201/200).

use super::blob_data::DataPlane;
use super::util::{properties_mut, require_location, tracked_body};
use super::{ActionContext, Flow, PutContext, Registry, ResourceType};
use crate::config::BlobService;
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store, new_etag};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const ACCOUNT: &str = "Microsoft.Storage/storageAccounts";
pub const BLOB_SERVICE: &str = "Microsoft.Storage/storageAccounts/blobServices";
pub const CONTAINER: &str = "Microsoft.Storage/storageAccounts/blobServices/containers";

pub fn register(reg: &mut Registry, blob: Option<BlobService>) {
    reg.add(StorageAccounts { blob: blob.clone() });
    reg.add(BlobServices);
    reg.add(BlobContainers { blob });
    reg.add_provider_action(
        "Microsoft.Storage",
        "checkNameAvailability",
        Arc::new(|_sub, body, store| Ok(check_name_availability(body, store))),
    );
}

fn name_is_valid(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn name_invalid(name: &str) -> ArmError {
    ArmError::bad_request(
        "AccountNameInvalid",
        format!(
            "{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
        ),
    )
}

/// The account with this name anywhere (names are global), other than `except_id`.
fn taken_by<'a>(store: &'a Store, name: &str, except_id: Option<&str>) -> Option<&'a Resource> {
    store.of_type(ACCOUNT).find(|r| {
        r.name().eq_ignore_ascii_case(name)
            && except_id.is_none_or(|e| !r.id.eq_ignore_ascii_case(e))
    })
}

pub fn check_name_availability(body: &Value, store: &Store) -> Value {
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    if !name_is_valid(name) {
        return json!({"nameAvailable": false, "reason": "AccountNameInvalid", "message": name_invalid(name).message});
    }
    if taken_by(store, name, None).is_some() {
        return json!({"nameAvailable": false, "reason": "AlreadyExists",
            "message": format!("The storage account named {name} is already taken.")});
    }
    json!({"nameAvailable": true})
}

fn acl_error(detail: String) -> ArmError {
    ArmError::bad_request(
        "NetworkAclsValidationFailure",
        format!("Validation of network acls failure: {detail}."),
    )
}

/// Each VNet rule must name an existing subnet that has the Microsoft.Storage service endpoint.
fn validate_network_acls(acls: &mut Value, store: &Store) -> Result<(), ArmError> {
    let default_action = acls
        .get("defaultAction")
        .and_then(Value::as_str)
        .unwrap_or("Allow");
    if !["Allow", "Deny"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(default_action))
    {
        return Err(ArmError::bad_request(
            "InvalidValuesForRequestParameters",
            format!(
                "Values for request parameters are invalid: networkAcls.defaultAction '{default_action}'."
            ),
        ));
    }
    if acls.get("bypass").is_none() {
        acls["bypass"] = json!("AzureServices");
    }
    for k in ["virtualNetworkRules", "ipRules"] {
        if !acls.get(k).is_some_and(Value::is_array) {
            acls[k] = json!([]);
        }
    }
    if let Some(rules) = acls
        .get_mut("virtualNetworkRules")
        .and_then(Value::as_array_mut)
    {
        for rule in rules {
            let id = rule
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let (vnet, subnet) = {
                let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
                let n = parts.len();
                (
                    parts
                        .get(n.saturating_sub(3))
                        .copied()
                        .unwrap_or("")
                        .to_string(),
                    parts.last().copied().unwrap_or("").to_string(),
                )
            };
            let Some(sn) = store.get(&id).filter(|r| {
                r.type_name
                    .eq_ignore_ascii_case("Microsoft.Network/virtualNetworks/subnets")
            }) else {
                return Err(acl_error(format!(
                    "SubnetsNotFound:Subnet {subnet} of virtual network {vnet} could not be found ({id})"
                )));
            };
            let has_endpoint = sn
                .body
                .pointer("/properties/serviceEndpoints")
                .and_then(Value::as_array)
                .is_some_and(|eps| {
                    eps.iter().any(|e| {
                        e.get("service").and_then(Value::as_str).is_some_and(|s| {
                            s.eq_ignore_ascii_case("Microsoft.Storage")
                                || s.eq_ignore_ascii_case("Microsoft.Storage.Global")
                        })
                    })
                });
            if !has_endpoint {
                return Err(acl_error(format!(
                    "SubnetsHaveNoServiceEndpointsConfigured:Subnets {subnet} of virtual network {vnet} do not have ServiceEndpoints for Microsoft.Storage resources configured. Add Microsoft.Storage to subnet's ServiceEndpoints collection before trying again"
                )));
            }
            if rule.get("action").is_none() {
                rule["action"] = json!("Allow");
            }
            rule["state"] = json!("Succeeded");
        }
    }
    Ok(())
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Storage accounts; with a [`BlobService`], each is backed by one Azurite account of its pool.
pub struct StorageAccounts {
    pub blob: Option<BlobService>,
}

/// The Azurite account (pool name) behind an account, from its stored blob endpoint.
fn pool_account_of(res: &Resource, blob: &BlobService) -> Option<String> {
    let ep = res
        .body
        .pointer("/properties/primaryEndpoints/blob")
        .and_then(Value::as_str)?;
    let rest = ep.strip_prefix(blob.endpoint.trim_end_matches('/'))?;
    let name = rest.trim_matches('/');
    blob.pool
        .iter()
        .any(|(n, _)| n == name)
        .then(|| name.to_string())
}

/// The data plane of the account `account_id`, when the simulator has one.
pub fn data_plane(blob: &BlobService, store: &Store, account_id: &str) -> Option<DataPlane> {
    let res = store.get(account_id)?;
    let name = pool_account_of(res, blob)?;
    let key = blob.pool.iter().find(|(n, _)| *n == name)?.1.clone();
    Some(DataPlane {
        endpoint: blob.endpoint.clone(),
        account: name,
        key,
    })
}

impl StorageAccounts {
    /// The blob endpoint for account `id`: the one it has, else the first pool account no
    /// other account uses.
    fn blob_endpoint(
        &self,
        blob: &BlobService,
        id: &str,
        store: &Store,
    ) -> Result<String, ArmError> {
        let base = blob.endpoint.trim_end_matches('/');
        if let Some(name) = store.get(id).and_then(|r| pool_account_of(r, blob)) {
            return Ok(format!("{base}/{name}/"));
        }
        let used: Vec<String> = store
            .of_type(ACCOUNT)
            .filter_map(|r| pool_account_of(r, blob))
            .collect();
        blob.pool
            .iter()
            .find(|(n, _)| !used.contains(n))
            .map(|(n, _)| format!("{base}/{n}/"))
            .ok_or_else(|| {
                ArmError::conflict(
                    "SimulatorBlobPoolExhausted",
                    format!(
                        "azop-armsim: every one of the {} Azurite accounts behind storage accounts is in use; start the simulator with a larger pool",
                        blob.pool.len()
                    ),
                )
            })
    }
}

impl ResourceType for StorageAccounts {
    fn tag_limits(&self) -> crate::tag_rules::TagLimits {
        crate::tag_rules::TagLimits::STORAGE_ACCOUNT
    }
    fn type_name(&self) -> &'static str {
        ACCOUNT
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id.name();
        if !name_is_valid(name) {
            return Err(name_invalid(name));
        }
        if taken_by(ctx.store, name, Some(ctx.id_str)).is_some() {
            return Err(ArmError::conflict(
                "StorageAccountAlreadyTaken",
                format!("The storage account named {name} is already taken."),
            ));
        }
        let location = require_location(&ctx.body)?;
        if let Some(old) = ctx.existing.and_then(Resource::location)
            && !old.eq_ignore_ascii_case(&location)
        {
            return Err(ArmError::conflict(
                "InvalidResourceLocation",
                format!(
                    "The resource '{name}' already exists in location '{old}' in resource group '{}'. A resource with the same name cannot be created in location '{location}'.",
                    ctx.id.resource_group
                ),
            ));
        }
        let sku = ctx
            .body
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ArmError::bad_request(
                    "MissingRequiredProperty",
                    "The required property 'sku' is missing.",
                )
            })?;
        let mut out = tracked_body(&ctx.body, &[]);
        out["location"] = json!(location);
        out["sku"]["tier"] = json!(if sku.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        });
        if out.get("kind").is_none() {
            out["kind"] = json!("StorageV2");
        }
        let created = ctx
            .existing
            .and_then(|e| e.body.pointer("/properties/creationTime").cloned())
            .unwrap_or_else(|| json!(now()));
        let p = properties_mut(&mut out);
        // Azure's secure defaults, echoed back so clients see them.
        p.entry("supportsHttpsTrafficOnly").or_insert(json!(true));
        p.entry("minimumTlsVersion").or_insert(json!("TLS1_2"));
        p.entry("allowBlobPublicAccess").or_insert(json!(false));
        p.entry("allowSharedKeyAccess").or_insert(json!(true));
        p.entry("publicNetworkAccess").or_insert(json!("Enabled"));
        p.entry("accessTier").or_insert(json!("Hot"));
        p.entry("networkAcls")
            .or_insert(json!({"defaultAction": "Allow"}));
        p.entry("encryption").or_insert(json!({
            "services": {"blob": {"enabled": true, "keyType": "Account"}, "file": {"enabled": true, "keyType": "Account"}},
            "keySource": "Microsoft.Storage"
        }));
        let pna = p
            .get("publicNetworkAccess")
            .and_then(Value::as_str)
            .unwrap_or("Enabled");
        if !["Enabled", "Disabled", "SecuredByPerimeter"].contains(&pna) {
            return Err(ArmError::bad_request(
                "InvalidValuesForRequestParameters",
                format!("Values for request parameters are invalid: publicNetworkAccess '{pna}'."),
            ));
        }
        if let Some(acls) = p.get_mut("networkAcls") {
            validate_network_acls(acls, ctx.store)?;
        }
        p.insert("creationTime".into(), created);
        p.insert("primaryLocation".into(), json!(location));
        p.insert("statusOfPrimary".into(), json!("available"));
        let ep = |svc: &str| format!("https://{name}.{svc}.core.windows.net/");
        let blob_ep = match &self.blob {
            Some(b) => self.blob_endpoint(b, ctx.id_str, ctx.store)?,
            None => ep("blob"),
        };
        p.insert(
            "primaryEndpoints".into(),
            json!({"blob": blob_ep, "queue": ep("queue"), "table": ep("table"), "file": ep("file"), "dfs": ep("dfs"), "web": format!("https://{name}.z6.web.core.windows.net/")}),
        );
        p.insert(
            "keyCreationTime".into(),
            json!({"key1": created_key(&ctx), "key2": created_key(&ctx)}),
        );
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::Location
    }
    // Update (PATCH) and delete are synchronous on the storage RP.
    fn patch_flow(&self) -> Flow {
        Flow::Sync
    }
    fn delete_flow(&self) -> Flow {
        Flow::Sync
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Create => Duration::from_secs(20),
            OpKind::Update => Duration::from_secs(5),
            OpKind::Delete => Duration::ZERO,
        }
    }

    fn provisioning_stages(&self, kind: OpKind) -> Vec<String> {
        match kind {
            OpKind::Create => vec!["Creating".into(), "ResolvingDNS".into()],
            // The storage model knows only Creating|ResolvingDNS|Succeeded.
            _ => vec!["ResolvingDNS".into()],
        }
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        let bs = format!("{id}/blobServices/default");
        if !store.contains(&bs) {
            store.insert(Resource {
                id: bs.clone(),
                type_name: BLOB_SERVICE.into(),
                body: json!({"id": bs, "name": "default", "type": BLOB_SERVICE, "properties": {"deleteRetentionPolicy": {"enabled": false}}}),
                etag: new_etag(),
                pending: None,
            });
        }
    }

    fn action(&self, name: &str, ctx: ActionContext<'_>) -> Result<Value, ArmError> {
        match name.to_ascii_lowercase().as_str() {
            "listkeys" | "regeneratekey" => Ok(json!({"keys": [
                {"keyName": "key1", "value": self.key1(ctx.resource), "permissions": "FULL", "creationTime": ctx.resource.body.pointer("/properties/creationTime")},
                {"keyName": "key2", "value": account_key(&ctx.resource.id, "key2"), "permissions": "FULL", "creationTime": ctx.resource.body.pointer("/properties/creationTime")},
            ]})),
            _ => Err(ArmError::bad_request(
                "InvalidResourceType",
                format!("The action '{name}' is not supported on storage accounts."),
            )),
        }
    }

    fn not_found_code(&self) -> &'static str {
        "ResourceNotFound"
    }

    /// The account's containers go with it in Azurite too.
    fn after_delete(&self, res: &Resource, _store: &mut Store) {
        let Some(blob) = &self.blob else { return };
        let Some(name) = pool_account_of(res, blob) else {
            return;
        };
        let Some(key) = blob
            .pool
            .iter()
            .find(|(n, _)| *n == name)
            .map(|p| p.1.clone())
        else {
            return;
        };
        let dp = DataPlane {
            endpoint: blob.endpoint.clone(),
            account: name,
            key,
        };
        match dp.list_containers() {
            Ok(names) => {
                for c in names {
                    if let Err(e) = dp.delete_container(&c) {
                        tracing::warn!(error = %e, "azurite: container left behind");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "azurite: cannot list containers"),
        }
    }
}

impl StorageAccounts {
    /// key1: the Azurite account's key when one backs the account, else a stable made-up one.
    fn key1(&self, res: &Resource) -> String {
        self.blob
            .as_ref()
            .and_then(|b| {
                let name = pool_account_of(res, b)?;
                b.pool.iter().find(|(n, _)| *n == name).map(|p| p.1.clone())
            })
            .unwrap_or_else(|| account_key(&res.id, "key1"))
    }
}

fn created_key(ctx: &PutContext<'_>) -> Value {
    ctx.existing
        .and_then(|e| e.body.pointer("/properties/creationTime").cloned())
        .unwrap_or_else(|| json!(now()))
}

/// A stable 64-byte key per account (base64, like Azure's).
fn account_key(id: &str, which: &str) -> String {
    let mut bytes = Vec::with_capacity(64);
    for i in 0..4 {
        let u = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("{}/{which}/{i}", id.to_ascii_lowercase()).as_bytes(),
        );
        bytes.extend_from_slice(u.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct BlobServices;

impl ResourceType for BlobServices {
    fn type_name(&self) -> &'static str {
        BLOB_SERVICE
    }
    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        if !ctx.id.name().eq_ignore_ascii_case("default") {
            return Err(ArmError::bad_request(
                "InvalidResourceName",
                "The blob service name must be 'default'.",
            ));
        }
        Ok(json!({"properties": ctx.body.get("properties").cloned().unwrap_or(json!({}))}))
    }
    fn put_flow(&self) -> Flow {
        Flow::Sync
    }
    fn delete_flow(&self) -> Flow {
        Flow::Sync
    }
}

fn container_name_ok(n: &str) -> bool {
    (3..=63).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}

pub struct BlobContainers {
    pub blob: Option<BlobService>,
}

impl BlobContainers {
    /// The data plane of the account above container `id`.
    fn data_plane(&self, id: &str, store: &Store) -> Option<DataPlane> {
        let blob = self.blob.as_ref()?;
        let account = id.split("/blobServices/").next()?;
        data_plane(blob, store, account)
    }
}

impl ResourceType for BlobContainers {
    fn type_name(&self) -> &'static str {
        CONTAINER
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id.name();
        if !container_name_ok(name) {
            return Err(ArmError::bad_request(
                "ContainerOperationFailure",
                format!(
                    "The specified resource name '{name}' contains invalid characters or length. Container names are 3-63 lowercase letters, digits and single hyphens."
                ),
            ));
        }
        let mut account_id = ctx.id.clone();
        account_id.segments.truncate(1);
        let public_allowed = ctx
            .store
            .get(&account_id.to_id())
            .and_then(|a| a.body.pointer("/properties/allowBlobPublicAccess"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut props = ctx.body.get("properties").cloned().unwrap_or(json!({}));
        let access = props
            .get("publicAccess")
            .and_then(Value::as_str)
            .unwrap_or("None")
            .to_string();
        if access != "None" && !public_allowed {
            return Err(ArmError::conflict(
                "PublicAccessNotPermitted",
                "Public access is not permitted on this storage account.",
            ));
        }
        props["publicAccess"] = json!(access);
        props["defaultEncryptionScope"] = props
            .get("defaultEncryptionScope")
            .cloned()
            .unwrap_or(json!("$account-encryption-key"));
        props["denyEncryptionScopeOverride"] = props
            .get("denyEncryptionScopeOverride")
            .cloned()
            .unwrap_or(json!(false));
        props["leaseStatus"] = json!("Unlocked");
        props["leaseState"] = json!("Available");
        props["hasImmutabilityPolicy"] = json!(false);
        props["hasLegalHold"] = json!(false);
        props["deleted"] = json!(false);
        props["lastModifiedTime"] = json!(now());
        Ok(json!({"properties": props}))
    }

    fn put_flow(&self) -> Flow {
        Flow::Sync
    }
    fn delete_flow(&self) -> Flow {
        Flow::Sync
    }
    fn etag_in_body(&self) -> bool {
        true
    }
    /// The same container in Azurite.
    fn after_write(&self, id: &str, store: &mut Store) {
        let Some(dp) = self.data_plane(id, store) else {
            return;
        };
        let name = id.rsplit('/').next().unwrap_or_default();
        if let Err(e) = dp.create_container(name) {
            tracing::warn!(error = %e, "azurite: container not created");
        }
    }
    fn after_delete(&self, res: &Resource, store: &mut Store) {
        let Some(dp) = self.data_plane(&res.id, store) else {
            return;
        };
        if let Err(e) = dp.delete_container(res.name()) {
            tracing::warn!(error = %e, "azurite: container not deleted");
        }
    }
    fn render(&self, res: &Resource, _store: &Store) -> Value {
        let mut b = res.body.clone();
        // Containers have no provisioningState on the wire.
        if let Some(p) = b.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("provisioningState");
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_is_valid("abc123"));
        assert!(!name_is_valid("ab"));
        assert!(!name_is_valid("Abc"));
        assert!(!name_is_valid("a-b-c"));
        assert!(container_name_ok("vhds"));
        assert!(!container_name_ok("a--b"));
        assert!(!container_name_ok("-ab"));
        assert_eq!(account_key("/x", "key1"), account_key("/X", "key1"));
        assert_ne!(account_key("/x", "key1"), account_key("/x", "key2"));
    }
}
