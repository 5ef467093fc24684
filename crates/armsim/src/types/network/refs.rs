//! References between stored resources, read straight from their bodies. Back-references in
//! responses and in-use refusals are both computed from this one scan.

use crate::armid::key;
use crate::store::{Resource, Store};
use serde_json::Value;

/// What kind of reference an [`Edge`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    NicIpConfigSubnet,
    NicIpConfigPublicIp,
    NicIpConfigPool,
    NicNsg,
    SubnetNsg,
    SubnetNatGateway,
    LbFrontendPublicIp,
    LbFrontendSubnet,
    NatGatewayPublicIp,
    PrivateEndpointSubnet,
    VmNic,
    VmDisk,
    VmImage,
}

/// One reference: `from` (a resource or one of its inline parts, e.g. a NIC's ipConfiguration)
/// of the resource `owner` points at `to`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub kind: RefKind,
    pub from: String,
    pub owner: String,
    pub to: String,
}

fn id_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn items<'a>(v: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Every reference `r` makes.
pub fn edges_of(r: &Resource) -> Vec<Edge> {
    let mut out = Vec::new();
    let mut push = |kind, from: &str, to: &str| {
        out.push(Edge {
            kind,
            from: from.to_string(),
            owner: r.id.clone(),
            to: to.to_string(),
        })
    };
    let b = &r.body;
    let t = r.type_name.to_ascii_lowercase();
    match t.as_str() {
        "microsoft.network/networkinterfaces" => {
            if let Some(n) = id_at(b, "/properties/networkSecurityGroup/id") {
                push(RefKind::NicNsg, &r.id, n);
            }
            for ipc in items(b, "/properties/ipConfigurations") {
                let from = ipc.get("id").and_then(Value::as_str).unwrap_or(&r.id);
                if let Some(s) = id_at(ipc, "/properties/subnet/id") {
                    push(RefKind::NicIpConfigSubnet, from, s);
                }
                if let Some(p) = id_at(ipc, "/properties/publicIPAddress/id") {
                    push(RefKind::NicIpConfigPublicIp, from, p);
                }
                for pool in items(ipc, "/properties/loadBalancerBackendAddressPools") {
                    if let Some(p) = id_at(pool, "/id") {
                        push(RefKind::NicIpConfigPool, from, p);
                    }
                }
            }
        }
        "microsoft.network/virtualnetworks/subnets" => {
            if let Some(n) = id_at(b, "/properties/networkSecurityGroup/id") {
                push(RefKind::SubnetNsg, &r.id, n);
            }
            if let Some(n) = id_at(b, "/properties/natGateway/id") {
                push(RefKind::SubnetNatGateway, &r.id, n);
            }
        }
        "microsoft.network/loadbalancers" => {
            for fe in items(b, "/properties/frontendIPConfigurations") {
                let from = fe.get("id").and_then(Value::as_str).unwrap_or(&r.id);
                if let Some(p) = id_at(fe, "/properties/publicIPAddress/id") {
                    push(RefKind::LbFrontendPublicIp, from, p);
                }
                if let Some(s) = id_at(fe, "/properties/subnet/id") {
                    push(RefKind::LbFrontendSubnet, from, s);
                }
            }
        }
        "microsoft.network/natgateways" => {
            for p in items(b, "/properties/publicIpAddresses") {
                if let Some(p) = id_at(p, "/id") {
                    push(RefKind::NatGatewayPublicIp, &r.id, p);
                }
            }
        }
        "microsoft.network/privateendpoints" => {
            if let Some(s) = id_at(b, "/properties/subnet/id") {
                push(RefKind::PrivateEndpointSubnet, &r.id, s);
            }
        }
        "microsoft.compute/virtualmachines" => {
            for n in items(b, "/properties/networkProfile/networkInterfaces") {
                if let Some(n) = id_at(n, "/id") {
                    push(RefKind::VmNic, &r.id, n);
                }
            }
            if let Some(d) = id_at(b, "/properties/storageProfile/osDisk/managedDisk/id") {
                push(RefKind::VmDisk, &r.id, d);
            }
            for d in items(b, "/properties/storageProfile/dataDisks") {
                if let Some(d) = id_at(d, "/managedDisk/id") {
                    push(RefKind::VmDisk, &r.id, d);
                }
            }
            if let Some(i) = id_at(b, "/properties/storageProfile/imageReference/id") {
                push(RefKind::VmImage, &r.id, i);
            }
        }
        _ => {}
    }
    out
}

/// Every reference to `target` (case-insensitive) of one of `kinds`.
pub fn incoming(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<Edge> {
    let k = key(target);
    store
        .all()
        .flat_map(edges_of)
        .filter(|e| kinds.contains(&e.kind) && key(&e.to) == k)
        .collect()
}

/// Every reference to `target` or anything below it (a load balancer's pools), of `kinds`.
pub fn incoming_under(store: &Store, target: &str, kinds: &[RefKind]) -> Vec<Edge> {
    let k = key(target);
    let prefix = format!("{k}/");
    store
        .all()
        .flat_map(edges_of)
        .filter(|e| {
            let to = key(&e.to);
            kinds.contains(&e.kind) && (to == k || to.starts_with(&prefix))
        })
        .collect()
}

/// The `from` ids of `edges`, sorted and without duplicates.
pub fn froms(edges: &[Edge]) -> Vec<String> {
    let mut v: Vec<String> = edges.iter().map(|e| e.from.clone()).collect();
    v.sort_by_key(|s| key(s));
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}
