//! Load balancers: frontends (public IP, or private in a subnet), backend pools, probes,
//! load-balancing rules, inbound NAT rules, outbound rules — all inline children with ids.
//! Rules reference the LB's own children by id; those must resolve within the same body.
//! Back-references (frontend → rules, pool → rules and NIC ipConfigurations, probe → rules)
//! are computed when rendering.

use super::addressing::assign_private;
use super::pip::{check_free_for, sku_of};
use super::refs::RefKind;
use super::{
    LOAD_BALANCER, PUBLIC_IP, SUBNET, as_int, canonical, child_name, insert_refs, invalid_format,
    invalid_reference, lookup, named_items, props_of, resource_guid, stamp_child, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;

pub struct LoadBalancers;

const CHILDREN: &[(&str, &str)] = &[
    (
        "frontendIPConfigurations",
        "Microsoft.Network/loadBalancers/frontendIPConfigurations",
    ),
    (
        "backendAddressPools",
        "Microsoft.Network/loadBalancers/backendAddressPools",
    ),
    ("probes", "Microsoft.Network/loadBalancers/probes"),
    (
        "loadBalancingRules",
        "Microsoft.Network/loadBalancers/loadBalancingRules",
    ),
    (
        "inboundNatRules",
        "Microsoft.Network/loadBalancers/inboundNatRules",
    ),
    (
        "outboundRules",
        "Microsoft.Network/loadBalancers/outboundRules",
    ),
];

/// Back-reference fields the client may echo back; never stored.
const COMPUTED: &[&str] = &[
    "provisioningState",
    "loadBalancingRules",
    "inboundNatRules",
    "outboundRules",
    "outboundRule",
    "backendIPConfigurations",
    "inboundNatPools",
];

fn clean(props: &Map<String, Value>) -> Map<String, Value> {
    let mut p = props.clone();
    for k in COMPUTED {
        p.remove(*k);
    }
    p
}

/// Checks that `props[field].id` names one of this LB's `collection` children.
fn own_ref(
    lb_id: &str,
    props: &Map<String, Value>,
    field: &str,
    collection: &str,
    names: &[String],
    by: &str,
    required: bool,
) -> Result<Option<String>, ArmError> {
    let Some(id) = props
        .get(field)
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
    else {
        if required {
            return Err(invalid_format(format!("{by} must reference a {field}.")));
        }
        return Ok(None);
    };
    match child_name(id, lb_id, collection) {
        Some(n) if names.iter().any(|x| x.eq_ignore_ascii_case(n)) => {
            Ok(Some(format!("{lb_id}/{collection}/{n}")))
        }
        _ => Err(invalid_reference(id, by)),
    }
}

fn names_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn port(props: &Map<String, Value>, field: &str, by: &str) -> Result<i64, ArmError> {
    props
        .get(field)
        .and_then(as_int)
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidRequestFormat",
                format!("{by}: property '{field}' must be a port number (0-65535)."),
            )
        })
}

fn protocol(
    props: &Map<String, Value>,
    allowed: &[&'static str],
    default: Option<&'static str>,
    by: &str,
) -> Result<&'static str, ArmError> {
    match props.get("protocol").and_then(Value::as_str) {
        Some(p) => canonical(p, allowed).ok_or_else(|| {
            invalid_format(format!(
                "{by}: protocol '{p}' is not one of {}.",
                allowed.join(", ")
            ))
        }),
        None => default.ok_or_else(|| invalid_format(format!("{by}: protocol is required."))),
    }
}

fn default_field(p: &mut Map<String, Value>, k: &str, v: Value) {
    if !p.contains_key(k) {
        p.insert(k.into(), v);
    }
}

struct Ctx<'a> {
    store: &'a Store,
    lb_id: &'a str,
    sku: &'a str,
    existing: Option<&'a Resource>,
}

fn frontends(c: &Ctx<'_>, items: &[Value]) -> Result<Vec<Value>, ArmError> {
    let mut also = HashSet::new();
    let mut out = Vec::new();
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let fe_id = format!("{}/frontendIPConfigurations/{name}", c.lb_id);
        let mut p = clean(&props_of(item));
        let pip_ref = p
            .get("publicIPAddress")
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let subnet_ref = p
            .get("subnet")
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match (pip_ref, subnet_ref) {
            (Some(pid), _) => {
                let pip = lookup(c.store, &pid, PUBLIC_IP)
                    .ok_or_else(|| invalid_reference(&pid, &fe_id))?;
                let pip_sku = sku_of(pip);
                let lb_std = !c.sku.eq_ignore_ascii_case("Basic");
                let pip_std = !pip_sku.eq_ignore_ascii_case("Basic");
                if lb_std != pip_std {
                    return Err(ArmError::bad_request(
                        "PublicIPAndLBSkuDoNotMatch",
                        format!(
                            "{} sku load balancer {} cannot reference {pip_sku} sku publicIP {}.",
                            c.sku, c.lb_id, pip.id
                        ),
                    ));
                }
                check_free_for(c.store, &pip.id, c.lb_id, &fe_id)?;
                p.insert("publicIPAddress".into(), json!({"id": pip.id}));
                p.remove("privateIPAddress");
                p.remove("subnet");
            }
            (None, Some(sid)) => {
                let subnet =
                    lookup(c.store, &sid, SUBNET).ok_or_else(|| invalid_reference(&sid, &fe_id))?;
                let method = p
                    .get("privateIPAllocationMethod")
                    .and_then(Value::as_str)
                    .and_then(|m| canonical(m, &["Static", "Dynamic"]))
                    .unwrap_or("Dynamic");
                let keep = c
                    .existing
                    .and_then(|e| e.body.pointer("/properties/frontendIPConfigurations"))
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|f| f.get("name").and_then(Value::as_str) == Some(name))
                    })
                    .and_then(|f| f.pointer("/properties/privateIPAddress"))
                    .and_then(Value::as_str);
                let requested = p.get("privateIPAddress").and_then(Value::as_str);
                let ip =
                    assign_private(c.store, subnet, method, requested, keep, c.lb_id, &mut also)?;
                p.insert("subnet".into(), json!({"id": subnet.id}));
                p.insert("privateIPAddress".into(), json!(ip));
                p.insert("privateIPAllocationMethod".into(), json!(method));
                p.insert("privateIPAddressVersion".into(), json!("IPv4"));
            }
            (None, None) => {
                return Err(invalid_format(format!(
                    "Frontend IP configuration {fe_id} must reference either a public IP address or a subnet."
                )));
            }
        }
        let mut v = json!({"name": name, "properties": p});
        if let Some(z) = item.get("zones") {
            v["zones"] = z.clone();
        }
        out.push(v);
    }
    Ok(out)
}

impl ResourceType for LoadBalancers {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        LOAD_BALANCER
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let sku = ctx
            .body
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .unwrap_or("Basic");
        let sku = canonical(sku, &["Basic", "Standard", "Gateway"])
            .ok_or_else(|| invalid_format(format!("Load balancer sku '{sku}' is not valid.")))?;
        let tier = ctx
            .body
            .pointer("/sku/tier")
            .and_then(Value::as_str)
            .and_then(|t| canonical(t, &["Regional", "Global"]))
            .unwrap_or("Regional");
        let lb_id = ctx.id_str;
        let c = Ctx {
            store: ctx.store,
            lb_id,
            sku,
            existing: ctx.existing,
        };

        let fe_items = named_items(&props, "frontendIPConfigurations")?;
        let pool_items = named_items(&props, "backendAddressPools")?;
        let probe_items = named_items(&props, "probes")?;
        let rule_items = named_items(&props, "loadBalancingRules")?;
        let nat_items = named_items(&props, "inboundNatRules")?;
        let out_items = named_items(&props, "outboundRules")?;
        let fe_names = names_of(&fe_items);
        let pool_names = names_of(&pool_items);
        let probe_names = names_of(&probe_items);

        let fes = frontends(&c, &fe_items)?;
        let pools: Vec<Value> = pool_items
            .iter()
            .map(|i| json!({"name": i["name"], "properties": clean(&props_of(i))}))
            .collect();
        let mut probes = Vec::new();
        for i in &probe_items {
            let name = i["name"].as_str().unwrap_or("");
            let by = format!("{lb_id}/probes/{name}");
            let mut p = clean(&props_of(i));
            let proto = protocol(&p, &["Tcp", "Http", "Https"], None, &by)?;
            p.insert("protocol".into(), json!(proto));
            p.insert("port".into(), json!(port(&p, "port", &by)?));
            if proto != "Tcp" && p.get("requestPath").and_then(Value::as_str).is_none() {
                return Err(invalid_format(format!(
                    "{by}: an {proto} probe needs a requestPath."
                )));
            }
            default_field(&mut p, "intervalInSeconds", json!(15));
            default_field(&mut p, "numberOfProbes", json!(2));
            default_field(&mut p, "probeThreshold", json!(1));
            probes.push(json!({"name": name, "properties": p}));
        }
        let mut rules = Vec::new();
        let mut used_ports: HashSet<(String, String, i64)> = HashSet::new();
        for i in &rule_items {
            let name = i["name"].as_str().unwrap_or("");
            let by = format!("{lb_id}/loadBalancingRules/{name}");
            let mut p = clean(&props_of(i));
            let fe = own_ref(
                lb_id,
                &p,
                "frontendIPConfiguration",
                "frontendIPConfigurations",
                &fe_names,
                &by,
                true,
            )?
            .unwrap_or_default();
            p.insert("frontendIPConfiguration".into(), json!({"id": fe}));
            if let Some(pool) = own_ref(
                lb_id,
                &p,
                "backendAddressPool",
                "backendAddressPools",
                &pool_names,
                &by,
                false,
            )? {
                p.insert("backendAddressPool".into(), json!({"id": pool}));
                p.insert("backendAddressPools".into(), json!([{"id": pool}]));
            }
            if let Some(probe) = own_ref(lb_id, &p, "probe", "probes", &probe_names, &by, false)? {
                p.insert("probe".into(), json!({"id": probe}));
            }
            let proto = protocol(&p, &["Tcp", "Udp", "All"], None, &by)?;
            p.insert("protocol".into(), json!(proto));
            let fport = port(&p, "frontendPort", &by)?;
            p.insert("frontendPort".into(), json!(fport));
            let bport = p.get("backendPort").and_then(as_int).unwrap_or(fport);
            p.insert("backendPort".into(), json!(bport));
            if !used_ports.insert((fe.to_ascii_lowercase(), proto.to_string(), fport)) {
                return Err(ArmError::bad_request(
                    "LoadBalancingRuleFrontendPortConflict",
                    format!(
                        "Load balancing rule {by} uses the same frontend IP configuration, protocol and frontend port {fport} as another rule of the load balancer."
                    ),
                ));
            }
            default_field(&mut p, "idleTimeoutInMinutes", json!(4));
            default_field(&mut p, "enableFloatingIP", json!(false));
            default_field(&mut p, "enableTcpReset", json!(false));
            default_field(&mut p, "loadDistribution", json!("Default"));
            default_field(&mut p, "disableOutboundSnat", json!(false));
            rules.push(json!({"name": name, "properties": p}));
        }
        let mut nats = Vec::new();
        for i in &nat_items {
            let name = i["name"].as_str().unwrap_or("");
            let by = format!("{lb_id}/inboundNatRules/{name}");
            let mut p = clean(&props_of(i));
            let fe = own_ref(
                lb_id,
                &p,
                "frontendIPConfiguration",
                "frontendIPConfigurations",
                &fe_names,
                &by,
                true,
            )?
            .unwrap_or_default();
            p.insert("frontendIPConfiguration".into(), json!({"id": fe}));
            let proto = protocol(&p, &["Tcp", "Udp", "All"], None, &by)?;
            p.insert("protocol".into(), json!(proto));
            if p.contains_key("frontendPort") {
                p.insert("frontendPort".into(), json!(port(&p, "frontendPort", &by)?));
            }
            p.insert("backendPort".into(), json!(port(&p, "backendPort", &by)?));
            default_field(&mut p, "idleTimeoutInMinutes", json!(4));
            default_field(&mut p, "enableFloatingIP", json!(false));
            default_field(&mut p, "enableTcpReset", json!(false));
            nats.push(json!({"name": name, "properties": p}));
        }
        let mut outs = Vec::new();
        if !out_items.is_empty() && sku == "Basic" {
            return Err(ArmError::bad_request(
                "OutboundRulesNotSupportedForBasicSkuLoadBalancer",
                format!("Outbound rules are not supported for Basic sku load balancer {lb_id}."),
            ));
        }
        for i in &out_items {
            let name = i["name"].as_str().unwrap_or("");
            let by = format!("{lb_id}/outboundRules/{name}");
            let mut p = clean(&props_of(i));
            let mut fe_refs = Vec::new();
            for f in p
                .get("frontendIPConfigurations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let mut m = Map::new();
                m.insert("x".into(), f);
                let id = own_ref(
                    lb_id,
                    &m,
                    "x",
                    "frontendIPConfigurations",
                    &fe_names,
                    &by,
                    true,
                )?
                .unwrap_or_default();
                fe_refs.push(json!({"id": id}));
            }
            if fe_refs.is_empty() {
                return Err(invalid_format(format!(
                    "{by} must reference at least one frontend IP configuration."
                )));
            }
            p.insert("frontendIPConfigurations".into(), Value::Array(fe_refs));
            let pool = own_ref(
                lb_id,
                &p,
                "backendAddressPool",
                "backendAddressPools",
                &pool_names,
                &by,
                true,
            )?
            .unwrap_or_default();
            p.insert("backendAddressPool".into(), json!({"id": pool}));
            let proto = protocol(&p, &["Tcp", "Udp", "All"], Some("All"), &by)?;
            p.insert("protocol".into(), json!(proto));
            default_field(&mut p, "allocatedOutboundPorts", json!(0));
            default_field(&mut p, "idleTimeoutInMinutes", json!(4));
            default_field(&mut p, "enableTcpReset", json!(false));
            outs.push(json!({"name": name, "properties": p}));
        }

        let mut oprops = Map::new();
        for ((coll, ty), mut list) in CHILDREN.iter().zip([fes, pools, probes, rules, nats, outs]) {
            for item in &mut list {
                let name = item["name"].as_str().unwrap_or("").to_string();
                stamp_child(item, lb_id, coll, ty, &name, "");
            }
            oprops.insert((*coll).into(), Value::Array(list));
        }
        oprops.insert("inboundNatPools".into(), json!([]));
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));
        let mut out = tracked(&ctx.body, location);
        out["sku"] = json!({"name": sku, "tier": tier});
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
            OpKind::Delete => Duration::from_secs(5),
            _ => Duration::from_secs(10),
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let props_snapshot = body.get("properties").cloned().unwrap_or_default();
        // Who references each child, from the LB's own rules.
        let mut back: Vec<(String, &'static str, String)> = Vec::new();
        for (coll, field_key) in [
            ("loadBalancingRules", "loadBalancingRules"),
            ("inboundNatRules", "inboundNatRules"),
            ("outboundRules", "outboundRules"),
        ] {
            for r in props_snapshot
                .get(coll)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let rid = r
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let p = r.get("properties").cloned().unwrap_or_default();
                let mut targets: Vec<String> = Vec::new();
                for f in ["frontendIPConfiguration", "backendAddressPool", "probe"] {
                    if let Some(t) = p.get(f).and_then(|v| v.get("id")).and_then(Value::as_str) {
                        targets.push(t.to_string());
                    }
                }
                for f in p
                    .get("frontendIPConfigurations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = f.get("id").and_then(Value::as_str) {
                        targets.push(t.to_string());
                    }
                }
                for t in targets {
                    back.push((t.to_ascii_lowercase(), field_key, rid.clone()));
                }
            }
        }
        let nic_edges = incoming_pools(store, &res.id);
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            for (coll, _) in CHILDREN {
                let Some(list) = props.get_mut(*coll).and_then(Value::as_array_mut) else {
                    continue;
                };
                for item in list {
                    item["etag"] = Value::String(res.etag.clone());
                    let id = item
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    let Some(p) = item.get_mut("properties").and_then(Value::as_object_mut) else {
                        continue;
                    };
                    if matches!(
                        *coll,
                        "frontendIPConfigurations" | "backendAddressPools" | "probes"
                    ) {
                        for field in ["loadBalancingRules", "inboundNatRules", "outboundRules"] {
                            let ids: Vec<String> = back
                                .iter()
                                .filter(|(t, f, _)| *t == id && *f == field)
                                .map(|(_, _, r)| r.clone())
                                .collect();
                            insert_refs(p, field, ids);
                        }
                    }
                    if *coll == "backendAddressPools" {
                        let ids: Vec<String> = nic_edges
                            .iter()
                            .filter(|e| e.to.eq_ignore_ascii_case(&id))
                            .map(|e| e.from.clone())
                            .collect();
                        insert_refs(p, "backendIPConfigurations", ids);
                    }
                }
            }
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}

/// NIC ipConfigurations that joined one of the LB's pools.
fn incoming_pools(store: &Store, lb_id: &str) -> Vec<super::refs::Edge> {
    let mut v = super::refs::incoming_under(store, lb_id, &[RefKind::NicIpConfigPool]);
    v.sort_by(|a, b| a.from.cmp(&b.from));
    v
}

/// Does the load balancer `pool_id`'s LB exist and have that pool?
pub fn pool_exists(store: &Store, pool_id: &str) -> bool {
    let Some((lb_id, name)) = pool_id
        .rsplit_once('/')
        .and_then(|(p, n)| p.rsplit_once('/').map(|(lb, coll)| (lb, coll, n)))
        .filter(|(_, coll, _)| coll.eq_ignore_ascii_case("backendAddressPools"))
        .map(|(lb, _, n)| (lb, n))
    else {
        return false;
    };
    lookup(store, lb_id, LOAD_BALANCER).is_some_and(|lb| {
        lb.body
            .pointer("/properties/backendAddressPools")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|p| {
                    p.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            })
    })
}
