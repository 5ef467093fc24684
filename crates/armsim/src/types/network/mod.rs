//! Microsoft.Network: virtual networks and subnets, network security groups and their rules,
//! public IP addresses, NAT gateways, load balancers, network interfaces, private endpoints.
//!
//! What the Network RP shares across its types lives here: the LRO flows (PUT 201/200 with
//! `Azure-AsyncOperation`, DELETE 202 with `Location` and `Azure-AsyncOperation`), weak etags in
//! the body, the `InvalidResourceReference` error for a referenced resource that does not
//! exist, and the scan of references ([`refs`]) from which every back-reference in a response
//! (subnet → NICs, public IP → ipConfiguration, NSG → subnets…) and every in-use refusal is
//! computed, so the two can never disagree with what is stored.

pub mod addressing;
pub mod dns;
pub mod lb;
pub mod natgw;
pub mod nic;
pub mod nsg;
pub mod pe;
pub mod pip;
pub mod refs;
pub mod vnet;

use super::Registry;
use crate::armid::key;
use crate::errors::ArmError;
use crate::store::{Resource, Store, new_etag};
use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "Microsoft.Network";
pub const VNET: &str = "Microsoft.Network/virtualNetworks";
pub const SUBNET: &str = "Microsoft.Network/virtualNetworks/subnets";
pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
pub const SECURITY_RULE: &str = "Microsoft.Network/networkSecurityGroups/securityRules";
pub const PUBLIC_IP: &str = "Microsoft.Network/publicIPAddresses";
pub const NAT_GATEWAY: &str = "Microsoft.Network/natGateways";
pub const LOAD_BALANCER: &str = "Microsoft.Network/loadBalancers";
pub const NIC: &str = "Microsoft.Network/networkInterfaces";
pub const PRIVATE_ENDPOINT: &str = "Microsoft.Network/privateEndpoints";

pub fn register(reg: &mut Registry, public_pool: ipnet::Ipv4Net, public_pool_offset: u32) {
    reg.add(vnet::VirtualNetworks);
    reg.add(vnet::Subnets);
    reg.add(nsg::NetworkSecurityGroups);
    reg.add(nsg::SecurityRules);
    reg.add(pip::PublicIpAddresses {
        pool: public_pool,
        offset: public_pool_offset,
    });
    reg.add(natgw::NatGateways);
    reg.add(lb::LoadBalancers);
    reg.add(nic::NetworkInterfaces);
    reg.add(pe::PrivateEndpoints);
    reg.add(dns::PrivateDnsZones);
    reg.add(dns::VirtualNetworkLinks);
    reg.add(dns::PrivateDnsZoneGroups);
}

/// 400 `InvalidResourceReference`, as the Network RP words it.
pub fn invalid_reference(referenced: &str, by: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidResourceReference",
        format!(
            "Resource {referenced} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    )
}

/// 400 for a body that is not what the RP accepts (`InvalidRequestFormat`).
pub fn invalid_format(message: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidRequestFormat", message)
}

/// `value[field].id` as a string.
pub fn ref_id<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value
        .get(field)
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
}

/// The stored resource `id` if it exists and is of `type_name`.
pub fn lookup<'a>(store: &'a Store, id: &str, type_name: &str) -> Option<&'a Resource> {
    store
        .get(id)
        .filter(|r| r.type_name.eq_ignore_ascii_case(type_name))
}

/// Requires `value[field].id` (when present) to name an existing resource of `type_name`.
pub fn check_ref(
    store: &Store,
    value: &Value,
    field: &str,
    type_name: &str,
    by: &str,
) -> Result<Option<String>, ArmError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let id = v.get("id").and_then(Value::as_str).unwrap_or("");
            match lookup(store, id, type_name) {
                Some(r) => Ok(Some(r.id.clone())),
                None => Err(invalid_reference(id, by)),
            }
        }
    }
}

/// `{"id": ...}` list.
pub fn id_list(ids: impl IntoIterator<Item = String>) -> Value {
    Value::Array(ids.into_iter().map(|id| json!({ "id": id })).collect())
}

/// Inserts `key: list` only when the list is non-empty (Azure omits empty back-references).
pub fn insert_refs(props: &mut Map<String, Value>, key_name: &str, ids: Vec<String>) {
    if ids.is_empty() {
        props.remove(key_name);
    } else {
        props.insert(key_name.to_string(), id_list(ids));
    }
}

/// The common top-level fields of a tracked Network resource.
pub fn tracked(body: &Value, location: String) -> Value {
    let mut out = json!({ "location": location });
    for k in ["tags", "zones", "sku", "extendedLocation"] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    out
}

/// The body's `properties` object (empty when missing).
pub fn props_of(body: &Value) -> Map<String, Value> {
    body.get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The existing `resourceGuid`, or a new one.
pub fn resource_guid(existing: Option<&Resource>) -> Value {
    existing
        .and_then(|e| e.body.pointer("/properties/resourceGuid"))
        .cloned()
        .unwrap_or_else(|| Value::String(uuid::Uuid::new_v4().to_string()))
}

/// Stamps an inline child object (a load balancer's frontend, a NIC's ipConfiguration) with
/// the id, name, type, etag and provisioning state the RP gives it.
pub fn stamp_child(
    item: &mut Value,
    parent_id: &str,
    collection: &str,
    child_type: &str,
    name: &str,
    etag: &str,
) {
    item["id"] = Value::String(format!("{parent_id}/{collection}/{name}"));
    item["name"] = Value::String(name.to_string());
    item["type"] = Value::String(child_type.to_string());
    item["etag"] = Value::String(etag.to_string());
    if !item.get("properties").is_some_and(Value::is_object) {
        item["properties"] = json!({});
    }
    item["properties"]["provisioningState"] = Value::String("Succeeded".into());
}

/// The inline children array `properties[collection]` with unique, present names.
pub fn named_items(props: &Map<String, Value>, collection: &str) -> Result<Vec<Value>, ArmError> {
    let items = match props.get(collection) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(invalid_format(format!(
                "Property '{collection}' must be an array."
            )));
        }
    };
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(invalid_format(format!(
                "Every item of '{collection}' needs a name."
            )));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                format!("Cannot parse the request: duplicate name '{name}' in '{collection}'."),
            ));
        }
    }
    Ok(items)
}

/// A case-insensitive `{parent}/{collection}/{name}` match: does `id` name a child of `parent`?
pub fn child_name<'a>(id: &'a str, parent_id: &str, collection: &str) -> Option<&'a str> {
    let prefix = format!("{}/{}/", key(parent_id), collection.to_ascii_lowercase());
    if key(id).starts_with(&prefix) && !id[prefix.len()..].contains('/') {
        Some(&id[prefix.len()..])
    } else {
        None
    }
}

/// Mirrors an inline list into child resources (VNet subnets, NSG security rules): upserts
/// one child per item and removes children the list no longer has. The items were validated.
pub fn sync_children(
    store: &mut Store,
    parent_id: &str,
    collection: &str,
    child_type: &str,
    items: &[Value],
) {
    let mut keep = std::collections::HashSet::new();
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let id = format!("{parent_id}/{collection}/{name}");
        keep.insert(key(&id));
        let mut body = json!({
            "id": id,
            "name": name,
            "type": child_type,
            "properties": item.get("properties").cloned().unwrap_or_else(|| json!({})),
        });
        body["properties"]["provisioningState"] = Value::String("Succeeded".into());
        let unchanged = store
            .get(&id)
            .is_some_and(|old| old.body.get("properties") == body.get("properties"));
        if unchanged {
            continue;
        }
        store.insert(Resource {
            id,
            type_name: child_type.to_string(),
            body,
            etag: new_etag(),
            pending: None,
        });
    }
    let doomed: Vec<String> = store
        .children(parent_id, child_type)
        .filter(|c| !keep.contains(&key(&c.id)))
        .map(|c| c.id.clone())
        .collect();
    for id in doomed {
        store.remove_tree(&id);
    }
}

/// Bumps a resource's etag (a child changed, so the parent's representation did too).
pub fn touch(store: &mut Store, id: &str) {
    if let Some(r) = store.get_mut(id) {
        r.etag = new_etag();
    }
}

/// Parses a JSON number or numeric string as an integer.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Case-insensitive match against allowed values; returns the canonical spelling.
pub fn canonical(value: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(value))
}
