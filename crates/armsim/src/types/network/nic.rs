//! Network interfaces: ipConfigurations in a subnet (private address assigned from the subnet
//! when Dynamic, unique per subnet), optional public IP, load balancer backend pools, NSG;
//! `virtualMachine` back-reference; delete refused while a VM uses the NIC.

use super::addressing::assign_private;
use super::lb::pool_exists;
use super::pip::check_free_for;
use super::refs::{RefKind, incoming};
use super::{
    NIC, NSG, PUBLIC_IP, SUBNET, canonical, check_ref, invalid_format, invalid_reference, lookup,
    named_items, props_of, resource_guid, stamp_child, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;

pub struct NetworkInterfaces;

pub const IP_CONFIG_TYPE: &str = "Microsoft.Network/networkInterfaces/ipConfigurations";

/// Validates a NIC's ipConfigurations and assigns their addresses.
pub fn ip_configurations(
    store: &Store,
    nic_id: &str,
    items: &[Value],
    existing: Option<&Resource>,
) -> Result<Vec<Value>, ArmError> {
    if items.is_empty() {
        return Err(invalid_format(format!(
            "Network interface {nic_id} must have one or more IP configurations."
        )));
    }
    let mut also = HashSet::new();
    let any_primary = items
        .iter()
        .any(|i| i.pointer("/properties/primary").and_then(Value::as_bool) == Some(true));
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let ipc_id = format!("{nic_id}/ipConfigurations/{name}");
        let src = props_of(item);
        let mut p = Map::new();
        let sid = src
            .get("subnet")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid_format(format!(
                    "IP configuration {ipc_id} must reference a subnet."
                ))
            })?;
        let subnet = lookup(store, sid, SUBNET).ok_or_else(|| invalid_reference(sid, &ipc_id))?;
        let method = src
            .get("privateIPAllocationMethod")
            .and_then(Value::as_str)
            .unwrap_or("Dynamic");
        let method = canonical(method, &["Static", "Dynamic"]).ok_or_else(|| {
            invalid_format(format!(
                "privateIPAllocationMethod '{method}' is not valid."
            ))
        })?;
        let keep = existing
            .and_then(|e| e.body.pointer("/properties/ipConfigurations"))
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter().find(|c| {
                    c.get("name").and_then(Value::as_str) == Some(name)
                        && c.pointer("/properties/subnet/id")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.eq_ignore_ascii_case(&subnet.id))
                })
            })
            .and_then(|c| c.pointer("/properties/privateIPAddress"))
            .and_then(Value::as_str);
        let requested = src.get("privateIPAddress").and_then(Value::as_str);
        let ip = assign_private(store, subnet, method, requested, keep, nic_id, &mut also)?;
        p.insert("privateIPAddress".into(), json!(ip));
        p.insert("privateIPAllocationMethod".into(), json!(method));
        p.insert("privateIPAddressVersion".into(), json!("IPv4"));
        p.insert("subnet".into(), json!({"id": subnet.id}));
        let primary = src
            .get("primary")
            .and_then(Value::as_bool)
            .unwrap_or(!any_primary && n == 0);
        p.insert("primary".into(), json!(primary));
        if let Some(pid) = check_ref(
            store,
            &Value::Object(src.clone()),
            "publicIPAddress",
            PUBLIC_IP,
            &ipc_id,
        )? {
            check_free_for(store, &pid, nic_id, &ipc_id)?;
            p.insert("publicIPAddress".into(), json!({"id": pid}));
        }
        let mut pools = Vec::new();
        for pool in src
            .get("loadBalancerBackendAddressPools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = pool.get("id").and_then(Value::as_str).unwrap_or("");
            if !pool_exists(store, id) {
                return Err(invalid_reference(id, &ipc_id));
            }
            pools.push(json!({"id": id}));
        }
        if !pools.is_empty() {
            p.insert(
                "loadBalancerBackendAddressPools".into(),
                Value::Array(pools),
            );
        }
        for k in [
            "applicationSecurityGroups",
            "loadBalancerInboundNatRules",
            "gatewayLoadBalancer",
        ] {
            if let Some(v) = src.get(k).filter(|v| !v.is_null()) {
                p.insert(k.into(), v.clone());
            }
        }
        let mut v = json!({"name": name, "properties": p});
        stamp_child(&mut v, nic_id, "ipConfigurations", IP_CONFIG_TYPE, name, "");
        out.push(v);
    }
    Ok(out)
}

/// A MAC address derived from the NIC id (Azure assigns one when the NIC is attached to a VM).
fn mac_for(id: &str) -> String {
    let h = id
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let b = h.to_be_bytes();
    format!("00-0D-3A-{:02X}-{:02X}-{:02X}", b[0], b[1], b[2])
}

impl ResourceType for NetworkInterfaces {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        NIC
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let items = named_items(&props, "ipConfigurations")?;
        let ipcs = ip_configurations(ctx.store, ctx.id_str, &items, ctx.existing)?;
        let mut oprops = Map::new();
        oprops.insert("ipConfigurations".into(), Value::Array(ipcs));
        if let Some(nsg) = check_ref(
            ctx.store,
            &Value::Object(props.clone()),
            "networkSecurityGroup",
            NSG,
            ctx.id_str,
        )? {
            oprops.insert("networkSecurityGroup".into(), json!({"id": nsg}));
        }
        for (k, d) in [
            ("enableAcceleratedNetworking", json!(false)),
            ("enableIPForwarding", json!(false)),
            ("disableTcpStateTracking", json!(false)),
            ("nicType", json!("Standard")),
            ("auxiliaryMode", json!("None")),
        ] {
            oprops.insert(
                k.into(),
                props.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d),
            );
        }
        let dns = props
            .get("dnsSettings")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let servers = dns.get("dnsServers").cloned().unwrap_or(json!([]));
        oprops.insert(
            "dnsSettings".into(),
            json!({"dnsServers": servers, "appliedDnsServers": []}),
        );
        if let Some(pe) = ctx
            .existing
            .and_then(|e| e.body.pointer("/properties/privateEndpoint"))
        {
            oprops.insert("privateEndpoint".into(), pe.clone());
        }
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
            OpKind::Delete => Duration::from_secs(2),
            _ => Duration::from_secs(3),
        }
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        let user = incoming(store, &res.id, &[RefKind::VmNic])
            .first()
            .map(|e| e.owner.clone())
            .or_else(|| {
                res.body
                    .pointer("/properties/privateEndpoint/id")
                    .and_then(Value::as_str)
                    .filter(|pe| store.contains(pe))
                    .map(str::to_string)
            });
        match user {
            None => Ok(()),
            Some(u) => Err(ArmError::bad_request(
                "NicInUse",
                format!(
                    "Network Interface {} is used by existing resource {u}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
                    res.id
                ),
            )),
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let vms = incoming(store, &res.id, &[RefKind::VmNic]);
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            match vms.first() {
                Some(vm) => {
                    props.insert("virtualMachine".into(), json!({"id": vm.owner}));
                    props.insert("macAddress".into(), json!(mac_for(&res.id)));
                    props.insert("primary".into(), json!(true));
                }
                None => {
                    props.remove("virtualMachine");
                }
            }
            props.insert("hostedWorkloads".into(), json!([]));
            props.insert("tapConfigurations".into(), json!([]));
            if let Some(list) = props
                .get_mut("ipConfigurations")
                .and_then(Value::as_array_mut)
            {
                for ipc in list {
                    ipc["etag"] = Value::String(res.etag.clone());
                }
            }
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}
