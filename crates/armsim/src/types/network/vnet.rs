//! Virtual networks and their subnets.
//!
//! Subnets are stored once, as child resources (`…/virtualNetworks/{v}/subnets/{s}`); a VNet's
//! inline `properties.subnets` is rendered from them, so both views always agree. A VNet PUT
//! replaces the subnet list: `validate` checks the new list (and refuses to drop a subnet in
//! use), the normalized list rides in the stored body until `after_write` mirrors it into the
//! children and removes it. A PATCH that does not mention `subnets` leaves them alone.
//!
//! While an operation runs on the VNet or any of its subnets, every other write to them is
//! refused with 409 `AnotherOperationInProgress` (notes: "Network RP: concurrent writes on one
//! VNet").

use super::addressing::{parse_prefix, prefixes_of};
use super::refs::{RefKind, froms, incoming};
use super::{
    NAT_GATEWAY, NSG, SUBNET, VNET, canonical, check_ref, insert_refs, invalid_format, named_items,
    props_of, resource_guid, sync_children, touch, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use ipnet::IpNet;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

pub struct VirtualNetworks;
pub struct Subnets;

/// The VNet id of a subnet id.
fn vnet_of(subnet_id: &str) -> &str {
    subnet_id
        .rsplit_once('/')
        .and_then(|(p, _)| p.rsplit_once('/'))
        .map(|(p, _)| p)
        .unwrap_or(subnet_id)
}

/// A running operation on the VNet or one of its subnets (other than a delete of `deleting`).
fn busy_in(store: &Store, vnet_id: &str, deleting: Option<&str>) -> Option<String> {
    let skip = |r: &Resource| {
        deleting.is_some_and(|d| r.id.eq_ignore_ascii_case(d))
            && r.pending.as_ref().is_some_and(|p| p.kind == OpKind::Delete)
    };
    let vnet = store.get(vnet_id)?;
    if vnet.pending.is_some() && !skip(vnet) {
        return Some(vnet.id.clone());
    }
    store
        .children(vnet_id, SUBNET)
        .find(|s| s.pending.is_some() && !skip(s))
        .map(|s| s.id.clone())
}

fn another_operation(busy: &str) -> ArmError {
    ArmError::conflict(
        "AnotherOperationInProgress",
        format!(
            "Another operation on this or dependent resource is in progress. Resource {busy} is being updated; retry after it completes."
        ),
    )
}

fn check_not_busy(store: &Store, vnet_id: &str, deleting: Option<&str>) -> Result<(), ArmError> {
    match busy_in(store, vnet_id, deleting) {
        Some(b) => Err(another_operation(&b)),
        None => Ok(()),
    }
}

/// Ranges Azure refuses in a VNet's address space (Microsoft Learn, "Azure Virtual Network
/// FAQ": multicast, broadcast, loopback, link-local, the internal DNS/wire server address).
pub const RESERVED_RANGES: [&str; 5] = [
    "224.0.0.0/4",
    "255.255.255.255/32",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "168.63.129.16/32",
];

/// The reserved range `net` overlaps, if any.
fn reserved_overlap(net: &IpNet) -> Option<&'static str> {
    RESERVED_RANGES.iter().copied().find(|r| {
        r.parse::<IpNet>()
            .is_ok_and(|r| r.contains(net) || net.contains(&r))
    })
}

/// The VNet's address space, parsed.
fn vnet_prefixes(vnet_body: &Value) -> Vec<IpNet> {
    vnet_body
        .pointer("/properties/addressSpace/addressPrefixes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(parse_prefix)
        .collect()
}

/// Where a subnet is being validated.
struct SubnetScope<'a> {
    store: &'a Store,
    vnet_id: &'a str,
    vnet_name: &'a str,
    vnet_location: &'a str,
    vnet_prefixes: &'a [IpNet],
}

/// Validates and normalizes one subnet's properties; returns them with the parsed prefixes.
fn validate_subnet(
    scope: &SubnetScope<'_>,
    name: &str,
    props: &Map<String, Value>,
) -> Result<(Map<String, Value>, Vec<IpNet>), ArmError> {
    let subnet_id = format!("{}/subnets/{name}", scope.vnet_id);
    let vnet = scope.vnet_name;
    let invalid = || {
        ArmError::bad_request(
            "NetcfgInvalidSubnet",
            format!("Subnet '{name}' is not valid in virtual network '{vnet}'."),
        )
    };
    let pv = Value::Object(props.clone());
    let raw = prefixes_of(&pv);
    if raw.is_empty() {
        return Err(invalid());
    }
    let mut nets = Vec::new();
    for p in &raw {
        let net = parse_prefix(p).ok_or_else(invalid)?;
        // Azure's smallest IPv4 subnet is a /29 (it reserves 5 addresses of each).
        if let IpNet::V4(v4) = net
            && v4.prefix_len() > 29
        {
            return Err(ArmError::bad_request(
                "NetcfgInvalidSubnet",
                format!(
                    "Subnet '{name}' is not valid in virtual network '{vnet}': its address prefix {p} is smaller than /29, the smallest subnet Azure supports."
                ),
            ));
        }
        if !scope.vnet_prefixes.iter().any(|v| v.contains(&net)) {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet}'."
                ),
            ));
        }
        nets.push(net);
    }
    let mut out = props.clone();
    for k in [
        "ipConfigurations",
        "privateEndpoints",
        "provisioningState",
        "etag",
    ] {
        out.remove(k);
    }
    for (field, ty) in [("networkSecurityGroup", NSG), ("natGateway", NAT_GATEWAY)] {
        if let Some(id) = check_ref(scope.store, &pv, field, ty, &subnet_id)? {
            out.insert(field.into(), json!({ "id": id }));
        } else {
            out.remove(field);
        }
    }
    if let Some(eps) = props.get("serviceEndpoints") {
        let Some(eps) = eps.as_array() else {
            return Err(invalid_format(
                "Property 'serviceEndpoints' must be an array.",
            ));
        };
        let mut norm = Vec::new();
        for ep in eps {
            let service = ep.get("service").and_then(Value::as_str).unwrap_or("");
            if service.is_empty() {
                return Err(invalid_format(
                    "Every service endpoint of a subnet needs a 'service'.",
                ));
            }
            let locations = ep
                .get("locations")
                .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()))
                .cloned()
                .unwrap_or_else(|| json!([scope.vnet_location]));
            norm.push(json!({"service": service, "locations": locations, "provisioningState": "Succeeded"}));
        }
        out.insert("serviceEndpoints".into(), Value::Array(norm));
    }
    let pe_policy = props
        .get("privateEndpointNetworkPolicies")
        .and_then(Value::as_str)
        .unwrap_or("Disabled");
    let pe_policy = canonical(
        pe_policy,
        &[
            "Disabled",
            "Enabled",
            "NetworkSecurityGroupEnabled",
            "RouteTableEnabled",
        ],
    )
    .ok_or_else(|| {
        invalid_format(format!(
            "Value '{pe_policy}' is not valid for privateEndpointNetworkPolicies."
        ))
    })?;
    out.insert("privateEndpointNetworkPolicies".into(), json!(pe_policy));
    if !out.contains_key("privateLinkServiceNetworkPolicies") {
        out.insert("privateLinkServiceNetworkPolicies".into(), json!("Enabled"));
    }
    if !out.contains_key("delegations") {
        out.insert("delegations".into(), json!([]));
    }
    Ok((out, nets))
}

fn overlap_error(a: &str, vnet: &str) -> ArmError {
    ArmError::bad_request(
        "NetcfgSubnetRangesOverlap",
        format!(
            "Subnet '{a}' is not valid because its IP address range overlaps with that of an existing subnet in virtual network '{vnet}'."
        ),
    )
}

fn overlaps(a: &[IpNet], b: &[IpNet]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.contains(y) || y.contains(x)))
}

/// 400 `InUseSubnetCannotBeDeleted` if NICs, load balancer frontends or private endpoints
/// still use the subnet.
fn check_subnet_unused(store: &Store, subnet_id: &str, name: &str) -> Result<(), ArmError> {
    let users = incoming(
        store,
        subnet_id,
        &[
            RefKind::NicIpConfigSubnet,
            RefKind::LbFrontendSubnet,
            RefKind::PrivateEndpointSubnet,
        ],
    );
    match users.first() {
        None => Ok(()),
        Some(u) => Err(ArmError::bad_request(
            "InUseSubnetCannotBeDeleted",
            format!(
                "Subnet {name} is in use by {} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
                u.from
            ),
        )),
    }
}

/// A subnet as a GET shows it, inline or on its own.
pub fn render_subnet(res: &Resource, store: &Store) -> Value {
    let mut body = res.body.clone();
    body["etag"] = Value::String(res.etag.clone());
    if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
        let nics = incoming(
            store,
            &res.id,
            &[RefKind::NicIpConfigSubnet, RefKind::LbFrontendSubnet],
        );
        insert_refs(props, "ipConfigurations", froms(&nics));
        let pes = incoming(store, &res.id, &[RefKind::PrivateEndpointSubnet]);
        insert_refs(props, "privateEndpoints", froms(&pes));
    }
    body
}

fn network_latency(kind: OpKind, create: u64, delete: u64) -> Duration {
    match kind {
        OpKind::Delete => Duration::from_secs(delete),
        _ => Duration::from_secs(create),
    }
}

impl ResourceType for VirtualNetworks {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        VNET
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        check_not_busy(ctx.store, ctx.id_str, None)?;
        let vnet_name = ctx.id.name();
        let props = props_of(&ctx.body);
        let space = props
            .get("addressSpace")
            .and_then(|a| a.get("addressPrefixes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if space.is_empty() {
            return Err(invalid_format(format!(
                "Virtual network {} must have an address space (addressSpace.addressPrefixes).",
                ctx.id_str
            )));
        }
        let mut nets: Vec<IpNet> = Vec::new();
        for p in &space {
            let s = p.as_str().unwrap_or("");
            let net = parse_prefix(s).ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidAddressPrefixFormat",
                    format!(
                        "Address prefix {s} of resource {} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.",
                        ctx.id_str
                    ),
                )
            })?;
            if let Some(reserved) = reserved_overlap(&net) {
                return Err(ArmError::bad_request(
                    "InvalidAddressPrefix",
                    format!(
                        "Address prefix {s} of virtual network {} overlaps {reserved}, which Azure reserves; these ranges cannot be used in a virtual network: {}.",
                        ctx.id_str,
                        RESERVED_RANGES.join(", ")
                    ),
                ));
            }
            if nets.iter().any(|n| n.contains(&net) || net.contains(n)) {
                return Err(ArmError::bad_request(
                    "VnetAddressSpacesOverlap",
                    format!(
                        "Cannot create or update virtual network {} since it has address spaces that overlap: {s}.",
                        ctx.id_str
                    ),
                ));
            }
            nets.push(net);
        }
        let scope = SubnetScope {
            store: ctx.store,
            vnet_id: ctx.id_str,
            vnet_name,
            vnet_location: &location,
            vnet_prefixes: &nets,
        };
        let mut out = tracked(&ctx.body, location.clone());
        let mut oprops = Map::new();
        oprops.insert("addressSpace".into(), json!({ "addressPrefixes": space }));
        for k in [
            "dhcpOptions",
            "encryption",
            "ddosProtectionPlan",
            "bgpCommunities",
        ] {
            if let Some(v) = props.get(k).filter(|v| !v.is_null()) {
                oprops.insert(k.into(), v.clone());
            }
        }
        oprops.insert(
            "enableDdosProtection".into(),
            props
                .get("enableDdosProtection")
                .cloned()
                .unwrap_or(json!(false)),
        );
        oprops.insert("virtualNetworkPeerings".into(), json!([]));
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));

        let replace_subnets = !ctx.is_patch || props.contains_key("subnets");
        if replace_subnets {
            let items = named_items(&props, "subnets")?;
            let mut seen: Vec<(String, Vec<IpNet>)> = Vec::new();
            let mut norm = Vec::new();
            for item in &items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                let (sp, snets) = validate_subnet(&scope, name, &props_of(item))?;
                if seen.iter().any(|(_, other)| overlaps(&snets, other)) {
                    return Err(overlap_error(name, vnet_name));
                }
                seen.push((name.to_string(), snets));
                norm.push(json!({ "name": name, "properties": sp }));
            }
            for old in ctx.store.children(ctx.id_str, SUBNET) {
                let kept = items.iter().any(|i| {
                    i.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(old.name()))
                });
                if !kept {
                    check_subnet_unused(ctx.store, &old.id, old.name())?;
                }
            }
            oprops.insert("subnets".into(), Value::Array(norm));
        } else {
            for old in ctx.store.children(ctx.id_str, SUBNET) {
                let snets: Vec<IpNet> = prefixes_of(old.properties().unwrap_or(&Value::Null))
                    .iter()
                    .filter_map(|p| parse_prefix(p))
                    .collect();
                if !snets.iter().all(|s| nets.iter().any(|n| n.contains(s))) {
                    return Err(ArmError::bad_request(
                        "NetcfgSubnetRangeOutsideVnet",
                        format!(
                            "Subnet '{}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'.",
                            old.name()
                        ),
                    ));
                }
            }
        }
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
        network_latency(kind, 7, 10)
    }

    fn check_write(&self, existing: &Resource, store: &Store) -> Result<(), ArmError> {
        check_not_busy(store, &existing.id, None)
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        check_not_busy(store, &res.id, Some(&res.id))?;
        for s in store.children(&res.id, SUBNET) {
            check_subnet_unused(store, &s.id, s.name())?;
        }
        Ok(())
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        let items = store
            .get_mut(id)
            .and_then(|r| r.body.get_mut("properties"))
            .and_then(Value::as_object_mut)
            .and_then(|p| p.remove("subnets"));
        if let Some(Value::Array(items)) = items {
            sync_children(store, id, "subnets", SUBNET, &items);
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let stage = res
            .pending
            .as_ref()
            .map(|p| p.stage_at(Instant::now()).to_string());
        let subnets: Vec<Value> = store
            .children(&res.id, SUBNET)
            .map(|s| {
                let mut v = render_subnet(s, store);
                if let Some(st) = &stage {
                    crate::lro::set_provisioning_state(&mut v, st);
                }
                v
            })
            .collect();
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("subnets".into(), Value::Array(subnets));
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}

impl ResourceType for Subnets {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        SUBNET
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let vnet_id = vnet_of(ctx.id_str).to_string();
        check_not_busy(ctx.store, &vnet_id, None)?;
        let Some(vnet) = ctx.store.get(&vnet_id) else {
            return Err(ArmError::not_found(
                "ParentResourceNotFound",
                format!("Parent resource '{vnet_id}' not found."),
            ));
        };
        let nets = vnet_prefixes(&vnet.body);
        let location = vnet.location().unwrap_or("").to_string();
        let vnet_name = vnet.name().to_string();
        let scope = SubnetScope {
            store: ctx.store,
            vnet_id: &vnet.id,
            vnet_name: &vnet_name,
            vnet_location: &location,
            vnet_prefixes: &nets,
        };
        let name = ctx.id.name();
        let (props, snets) = validate_subnet(&scope, name, &props_of(&ctx.body))?;
        for sib in ctx.store.children(&vnet.id, SUBNET) {
            if sib.id.eq_ignore_ascii_case(ctx.id_str) {
                continue;
            }
            let other: Vec<IpNet> = prefixes_of(sib.properties().unwrap_or(&Value::Null))
                .iter()
                .filter_map(|p| parse_prefix(p))
                .collect();
            if overlaps(&snets, &other) {
                return Err(overlap_error(name, &vnet_name));
            }
        }
        Ok(json!({ "properties": props }))
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, kind: OpKind) -> Duration {
        network_latency(kind, 3, 3)
    }

    fn check_write(&self, existing: &Resource, store: &Store) -> Result<(), ArmError> {
        check_not_busy(store, vnet_of(&existing.id), None)
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        check_not_busy(store, vnet_of(&res.id), Some(&res.id))?;
        check_subnet_unused(store, &res.id, res.name())
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        touch(store, vnet_of(id));
    }

    fn after_delete(&self, res: &Resource, store: &mut Store) {
        touch(store, vnet_of(&res.id));
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        render_subnet(res, store)
    }

    fn etag_in_body(&self) -> bool {
        true
    }

    fn not_found_code(&self) -> &'static str {
        "NotFound"
    }
}
