//! Private endpoints: a subnet, private link service connections (auto-approved) to an
//! existing resource, and — as Azure does — a network interface created with the endpoint
//! (`{pe}.nic.{guid}` or `customNetworkInterfaceName`) and deleted with it.

use super::addressing::assign_private;
use super::nic::IP_CONFIG_TYPE;
use super::{
    NIC, PRIVATE_ENDPOINT, SUBNET, invalid_format, invalid_reference, lookup, named_items,
    props_of, resource_guid, stamp_child, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store, new_etag};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;

pub struct PrivateEndpoints;

const CONNECTION_TYPE: &str = "Microsoft.Network/privateEndpoints/privateLinkServiceConnections";

fn connections(
    store: &Store,
    pe_id: &str,
    props: &Map<String, Value>,
    field: &str,
) -> Result<Vec<Value>, ArmError> {
    let mut out = Vec::new();
    for item in named_items(props, field)? {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let by = format!("{pe_id}/{field}/{name}");
        let mut p = props_of(&item);
        p.remove("provisioningState");
        let target = p
            .get("privateLinkServiceId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(t) = store.get(&target) else {
            return Err(invalid_reference(&target, &by));
        };
        p.insert("privateLinkServiceId".into(), json!(t.id));
        let groups = p
            .get("groupIds")
            .and_then(Value::as_array)
            .filter(|g| !g.is_empty() && g.iter().all(Value::is_string));
        if groups.is_none() {
            return Err(invalid_format(format!(
                "Private link service connection {by} must name one or more groupIds."
            )));
        }
        p.insert(
            "privateLinkServiceConnectionState".into(),
            json!({"status": "Approved", "description": "Auto-Approved", "actionsRequired": "None"}),
        );
        let mut v = json!({"name": name, "properties": p});
        stamp_child(&mut v, pe_id, field, CONNECTION_TYPE, &name, "");
        out.push(v);
    }
    Ok(out)
}

/// The DNS name a connection's first group would resolve (storage: `{account}.{group}.core.windows.net`).
fn fqdn(conn: &Value) -> Option<String> {
    let target = conn.pointer("/properties/privateLinkServiceId")?.as_str()?;
    let group = conn.pointer("/properties/groupIds/0")?.as_str()?;
    let name = target.rsplit('/').next()?;
    Some(format!(
        "{}.{}.core.windows.net",
        name.to_ascii_lowercase(),
        group.to_ascii_lowercase()
    ))
}

impl ResourceType for PrivateEndpoints {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        PRIVATE_ENDPOINT
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let pe_id = ctx.id_str;
        let sid = props
            .get("subnet")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid_format(format!("Private endpoint {pe_id} must reference a subnet."))
            })?;
        let subnet = lookup(ctx.store, sid, SUBNET).ok_or_else(|| invalid_reference(sid, pe_id))?;
        if let Some(e) = ctx.existing {
            let old = e
                .body
                .pointer("/properties/subnet/id")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !old.eq_ignore_ascii_case(&subnet.id) {
                return Err(ArmError::bad_request(
                    "CannotChangePrivateEndpointSubnet",
                    format!(
                        "Subnet of private endpoint {pe_id} cannot be changed from {old} to {}.",
                        subnet.id
                    ),
                ));
            }
        }
        let auto = connections(ctx.store, pe_id, &props, "privateLinkServiceConnections")?;
        let manual = connections(
            ctx.store,
            pe_id,
            &props,
            "manualPrivateLinkServiceConnections",
        )?;
        if auto.is_empty() && manual.is_empty() {
            return Err(invalid_format(format!(
                "Private endpoint {pe_id} must have a private link service connection."
            )));
        }
        let nics = match ctx
            .existing
            .and_then(|e| e.body.pointer("/properties/networkInterfaces"))
        {
            Some(n) => n.clone(),
            None => {
                let name = props
                    .get("customNetworkInterfaceName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}.nic.{}", ctx.id.name(), uuid::Uuid::new_v4()));
                let nic_id = format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{name}",
                    ctx.id.subscription, ctx.id.resource_group
                );
                json!([{"id": nic_id}])
            }
        };
        let mut oprops = Map::new();
        oprops.insert("subnet".into(), json!({"id": subnet.id}));
        oprops.insert("privateLinkServiceConnections".into(), Value::Array(auto));
        oprops.insert(
            "manualPrivateLinkServiceConnections".into(),
            Value::Array(manual),
        );
        oprops.insert("networkInterfaces".into(), nics);
        for k in ["customNetworkInterfaceName", "applicationSecurityGroups"] {
            if let Some(v) = props.get(k) {
                oprops.insert(k.into(), v.clone());
            }
        }
        oprops.insert(
            "customDnsConfigs".into(),
            ctx.existing
                .and_then(|e| e.body.pointer("/properties/customDnsConfigs"))
                .cloned()
                .unwrap_or(json!([])),
        );
        oprops.insert("ipConfigurations".into(), json!([]));
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));
        let mut out = tracked(&ctx.body, location);
        out["properties"] = Value::Object(oprops);
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        match kind {
            OpKind::Delete => Duration::from_secs(10),
            _ => Duration::from_secs(20),
        }
    }

    /// Creates the endpoint's NIC the first time, with an address from the subnet.
    fn after_write(&self, id: &str, store: &mut Store) {
        let Some(pe) = store.get(id).cloned() else {
            return;
        };
        let Some(nic_id) = pe
            .body
            .pointer("/properties/networkInterfaces/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return;
        };
        if store.contains(&nic_id) {
            return;
        }
        let sid = pe
            .body
            .pointer("/properties/subnet/id")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(subnet) = store.get(sid).cloned() else {
            return;
        };
        let Ok(ip) = assign_private(
            store,
            &subnet,
            "Dynamic",
            None,
            None,
            &nic_id,
            &mut HashSet::new(),
        ) else {
            return;
        };
        let ipc_name = format!("privateEndpointIpConfig.{}", uuid::Uuid::new_v4());
        let mut ipc = json!({"name": ipc_name, "properties": {
            "privateIPAddress": ip, "privateIPAllocationMethod": "Dynamic",
            "privateIPAddressVersion": "IPv4", "subnet": {"id": subnet.id}, "primary": true}});
        stamp_child(
            &mut ipc,
            &nic_id,
            "ipConfigurations",
            IP_CONFIG_TYPE,
            &ipc_name,
            "",
        );
        let nic_name = nic_id.rsplit('/').next().unwrap_or("").to_string();
        let mut body = json!({
            "id": nic_id, "name": nic_name, "type": NIC,
            "location": pe.location().unwrap_or(""),
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [ipc],
                "privateEndpoint": {"id": pe.id},
                "enableAcceleratedNetworking": false, "enableIPForwarding": false,
                "nicType": "Standard", "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                "resourceGuid": uuid::Uuid::new_v4().to_string(),
            }
        });
        if let Some(t) = pe.body.get("tags") {
            body["tags"] = t.clone();
        }
        store.insert(Resource {
            id: nic_id,
            type_name: NIC.into(),
            body,
            etag: new_etag(),
            pending: None,
        });
        let dns: Vec<Value> = pe
            .body
            .pointer("/properties/privateLinkServiceConnections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(fqdn)
            .map(|f| json!({"fqdn": f, "ipAddresses": [ip]}))
            .collect();
        if let Some(p) = store.get_mut(id).and_then(|r| r.body.get_mut("properties")) {
            p["customDnsConfigs"] = Value::Array(dns);
        }
    }

    fn after_delete(&self, res: &Resource, store: &mut Store) {
        for n in res
            .body
            .pointer("/properties/networkInterfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = n.get("id").and_then(Value::as_str) {
                store.remove_tree(id);
            }
        }
    }

    fn render(&self, res: &Resource, _store: &Store) -> Value {
        let mut body = res.body.clone();
        for coll in [
            "privateLinkServiceConnections",
            "manualPrivateLinkServiceConnections",
        ] {
            if let Some(list) = body
                .pointer_mut(&format!("/properties/{coll}"))
                .and_then(Value::as_array_mut)
            {
                for c in list {
                    c["etag"] = Value::String(res.etag.clone());
                }
            }
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}
