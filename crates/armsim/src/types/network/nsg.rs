//! Network security groups and their security rules (inline and as the `securityRules` child
//! resource, stored once as children like VNet subnets). Responses carry the six default
//! rules and the `subnets` / `networkInterfaces` back-references.

use super::refs::{RefKind, froms, incoming};
use super::{
    NSG, SECURITY_RULE, as_int, canonical, insert_refs, invalid_format, named_items, props_of,
    resource_guid, sync_children, touch, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct NetworkSecurityGroups;
pub struct SecurityRules;

/// The default rules every NSG has (name, description, source, destination, access,
/// priority, direction), as the swagger examples of NetworkSecurityGroupCreate show them.
const DEFAULT_RULES: &[(&str, &str, &str, &str, &str, i64, &str)] = &[
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    (
        "DenyAllInBound",
        "Deny all inbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Inbound",
    ),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    (
        "DenyAllOutBound",
        "Deny all outbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Outbound",
    ),
];

/// The six default security rules of the NSG `nsg_id`.
pub fn default_rules(nsg_id: &str, etag: &str) -> Value {
    Value::Array(
        DEFAULT_RULES
            .iter()
            .map(|(name, desc, src, dst, access, prio, dir)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "etag": etag,
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": desc,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": src,
                        "destinationAddressPrefix": dst,
                        "access": access,
                        "priority": prio,
                        "direction": dir,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    }
                })
            })
            .collect(),
    )
}

fn port_ok(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n <= 65535);
    match p.split_once('-') {
        Some((a, b)) => matches!((parse(a), parse(b)), (Some(a), Some(b)) if a <= b),
        None => parse(p).is_some(),
    }
}

/// Validates and normalizes one rule's properties.
pub fn validate_rule(
    name: &str,
    props: &Map<String, Value>,
) -> Result<Map<String, Value>, ArmError> {
    let mut out = props.clone();
    out.remove("provisioningState");
    let priority = props.get("priority").and_then(as_int);
    match priority {
        Some(p) if (100..=4096).contains(&p) => {
            out.insert("priority".into(), json!(p));
        }
        other => {
            return Err(ArmError::bad_request(
                "SecurityRuleInvalidPriority",
                format!(
                    "Security rule {name} has invalid Priority. Value provided: {}. Allowed range 100-4096.",
                    other
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "null".into())
                ),
            ));
        }
    }
    let protocol = props.get("protocol").and_then(Value::as_str).unwrap_or("");
    let protocol = canonical(protocol, &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"]).ok_or_else(|| {
        ArmError::bad_request(
            "SecurityRuleInvalidProtocol",
            format!("Security rule {name} has invalid Protocol. Value provided: {protocol}. Allowed values: Tcp, Udp, Icmp, Esp, Ah, *."),
        )
    })?;
    out.insert("protocol".into(), json!(protocol));
    for (field, allowed) in [
        ("access", &["Allow", "Deny"][..]),
        ("direction", &["Inbound", "Outbound"][..]),
    ] {
        let v = props.get(field).and_then(Value::as_str).unwrap_or("");
        let c = canonical(v, allowed).ok_or_else(|| {
            ArmError::bad_request(
                "SecurityRuleParameterContainsUnsupportedValue",
                format!(
                    "Security rule {name} has an unsupported value '{v}' for parameter {field}."
                ),
            )
        })?;
        out.insert(field.into(), json!(c));
    }
    for (single, multi) in [
        ("sourcePortRange", "sourcePortRanges"),
        ("destinationPortRange", "destinationPortRanges"),
    ] {
        let mut ports: Vec<String> = props
            .get(single)
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default();
        ports.extend(
            props
                .get(multi)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
        if ports.is_empty() {
            return Err(invalid_format(format!(
                "Security rule {name} must have {single} or {multi}."
            )));
        }
        if let Some(bad) = ports.iter().find(|p| !port_ok(p)) {
            return Err(ArmError::bad_request(
                "SecurityRuleInvalidPortRange",
                format!(
                    "Security rule has invalid Port range. Value provided: {bad}. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535."
                ),
            ));
        }
        if !out.contains_key(multi) {
            out.insert(multi.into(), json!([]));
        }
    }
    for (single, multi) in [
        ("sourceAddressPrefix", "sourceAddressPrefixes"),
        ("destinationAddressPrefix", "destinationAddressPrefixes"),
    ] {
        let has_single = props
            .get(single)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let has_multi = props
            .get(multi)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_single && !has_multi {
            return Err(invalid_format(format!(
                "Security rule {name} must have {single} or {multi}."
            )));
        }
        if !out.contains_key(multi) {
            out.insert(multi.into(), json!([]));
        }
    }
    Ok(out)
}

/// 400 `SecurityRuleConflict` if two rules share priority and direction.
fn check_unique_priorities<'a>(
    rules: impl IntoIterator<Item = (&'a str, &'a Map<String, Value>)>,
) -> Result<(), ArmError> {
    let mut seen: Vec<(String, i64, String)> = Vec::new();
    for (name, p) in rules {
        let prio = p.get("priority").and_then(as_int).unwrap_or(0);
        let dir = p
            .get("direction")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        if let Some((other, _, _)) = seen.iter().find(|(_, pr, d)| *pr == prio && *d == dir) {
            return Err(ArmError::bad_request(
                "SecurityRuleConflict",
                format!(
                    "Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
                ),
            ));
        }
        seen.push((name.to_string(), prio, dir));
    }
    Ok(())
}

fn render_rule(r: &Resource) -> Value {
    let mut v = r.body.clone();
    v["etag"] = Value::String(r.etag.clone());
    v
}

impl ResourceType for NetworkSecurityGroups {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        NSG
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let mut out = tracked(&ctx.body, location);
        let mut oprops = Map::new();
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));
        if let Some(v) = props.get("flushConnection") {
            oprops.insert("flushConnection".into(), v.clone());
        }
        // A PATCH that does not mention the rules leaves them alone.
        if !ctx.is_patch || props.contains_key("securityRules") {
            let items = named_items(&props, "securityRules")?;
            let mut norm = Vec::new();
            for item in &items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                let p = validate_rule(name, &props_of(item))?;
                norm.push((name.to_string(), p));
            }
            check_unique_priorities(norm.iter().map(|(n, p)| (n.as_str(), p)))?;
            oprops.insert(
                "securityRules".into(),
                Value::Array(
                    norm.into_iter()
                        .map(|(n, p)| json!({"name": n, "properties": p}))
                        .collect(),
                ),
            );
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
        match kind {
            OpKind::Delete => Duration::from_secs(2),
            _ => Duration::from_secs(3),
        }
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        let users = incoming(store, &res.id, &[RefKind::SubnetNsg, RefKind::NicNsg]);
        if users.is_empty() {
            return Ok(());
        }
        Err(ArmError::bad_request(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            format!(
                "Network security group {} cannot be deleted because it is in use by the following resources: {}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
                res.id,
                froms(&users).join(", ")
            ),
        ))
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        let items = store
            .get_mut(id)
            .and_then(|r| r.body.get_mut("properties"))
            .and_then(Value::as_object_mut)
            .and_then(|p| p.remove("securityRules"));
        if let Some(Value::Array(items)) = items {
            sync_children(store, id, "securityRules", SECURITY_RULE, &items);
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let rules: Vec<Value> = store
            .children(&res.id, SECURITY_RULE)
            .map(render_rule)
            .collect();
        let subnets = incoming(store, &res.id, &[RefKind::SubnetNsg]);
        let nics = incoming(store, &res.id, &[RefKind::NicNsg]);
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("securityRules".into(), Value::Array(rules));
            props.insert(
                "defaultSecurityRules".into(),
                default_rules(&res.id, &res.etag),
            );
            insert_refs(props, "subnets", froms(&subnets));
            insert_refs(props, "networkInterfaces", froms(&nics));
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}

impl ResourceType for SecurityRules {
    fn type_name(&self) -> &'static str {
        SECURITY_RULE
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id.name();
        let props = validate_rule(name, &props_of(&ctx.body))?;
        let nsg_id = ctx.id.parent().map(|p| p.to_id()).unwrap_or_default();
        let siblings: Vec<(String, Map<String, Value>)> = ctx
            .store
            .children(&nsg_id, SECURITY_RULE)
            .filter(|r| !r.id.eq_ignore_ascii_case(ctx.id_str))
            .map(|r| {
                (
                    r.name().to_string(),
                    r.properties()
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        check_unique_priorities(
            siblings
                .iter()
                .map(|(n, p)| (n.as_str(), p))
                .chain(std::iter::once((name, &props))),
        )?;
        Ok(json!({ "properties": props }))
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, _kind: OpKind) -> Duration {
        Duration::from_secs(2)
    }

    fn after_write(&self, id: &str, store: &mut Store) {
        if let Some((nsg, _)) = id
            .rsplit_once("/securityRules/")
            .or_else(|| id.rsplit_once("/securityrules/"))
        {
            touch(store, nsg);
        }
    }

    fn render(&self, res: &Resource, _store: &Store) -> Value {
        render_rule(res)
    }

    fn etag_in_body(&self) -> bool {
        true
    }

    fn not_found_code(&self) -> &'static str {
        "NotFound"
    }
}
