//! Private DNS: zones (`Microsoft.Network/privateDnsZones`, location `global`), their virtual
//! network links, and private endpoints' zone groups, which register the endpoint's address
//! in the zone as an A record (`{zone}/A/{name}`), as Azure does.

use super::{VNET, invalid_format, invalid_reference, lookup, props_of, tracked};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store, new_etag};
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Value, json};
use std::time::Duration;

pub const ZONE: &str = "Microsoft.Network/privateDnsZones";
pub const LINK: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
pub const A_RECORD: &str = "Microsoft.Network/privateDnsZones/A";
pub const ZONE_GROUP: &str = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups";

fn global(body: &Value) -> Result<String, ArmError> {
    let loc = body.get("location").and_then(Value::as_str).unwrap_or("");
    if !loc.eq_ignore_ascii_case("global") {
        return Err(ArmError::bad_request(
            "InvalidLocation",
            format!(
                "The location '{loc}' is not valid for a private DNS zone or link: use 'global'."
            ),
        ));
    }
    Ok("global".to_string())
}

pub struct PrivateDnsZones;

impl ResourceType for PrivateDnsZones {
    fn tag_limits(&self) -> crate::tag_rules::TagLimits {
        crate::tag_rules::TagLimits::DNS_ZONE
    }
    fn type_name(&self) -> &'static str {
        ZONE
    }
    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let name = ctx.id.name();
        if !name.contains('.') || name.len() > 253 {
            return Err(invalid_format(format!(
                "The private DNS zone name '{name}' is not a valid domain name."
            )));
        }
        let mut out = tracked(&ctx.body, global(&ctx.body)?);
        let records = ctx
            .store
            .of_type(A_RECORD)
            .filter(|r| {
                r.id.to_ascii_lowercase()
                    .starts_with(&ctx.id_str.to_ascii_lowercase())
            })
            .count();
        out["properties"] = json!({
            "maxNumberOfRecordSets": 25000,
            "numberOfRecordSets": records + 1,
            "maxNumberOfVirtualNetworkLinks": 1000,
            "numberOfVirtualNetworkLinks": 0,
            "internalId": uuid::Uuid::new_v4().to_string(),
        });
        Ok(out)
    }
    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }
    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }
    fn typical_latency(&self, _kind: OpKind) -> Duration {
        Duration::from_secs(30)
    }
    /// Azure refuses to delete a zone that still has virtual network links.
    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        let prefix = format!("{}/virtualnetworklinks/", res.id.to_ascii_lowercase());
        if store
            .of_type(LINK)
            .any(|l| l.id.to_ascii_lowercase().starts_with(&prefix))
        {
            return Err(ArmError::conflict(
                "PreconditionFailed",
                format!(
                    "You cannot delete the private DNS zone {} because it has virtual network links. Delete the links first.",
                    res.name()
                ),
            ));
        }
        Ok(())
    }
    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut b = res.body.clone();
        let prefix = res.id.to_ascii_lowercase();
        let links = store
            .of_type(LINK)
            .filter(|l| l.id.to_ascii_lowercase().starts_with(&prefix))
            .count();
        let records = store
            .of_type(A_RECORD)
            .filter(|l| l.id.to_ascii_lowercase().starts_with(&prefix))
            .count();
        if let Some(p) = b.get_mut("properties") {
            p["numberOfVirtualNetworkLinks"] = json!(links);
            // The SOA record is always there.
            p["numberOfRecordSets"] = json!(records + 1);
        }
        b
    }
}

pub struct VirtualNetworkLinks;

impl ResourceType for VirtualNetworkLinks {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn tag_limits(&self) -> crate::tag_rules::TagLimits {
        crate::tag_rules::TagLimits::DNS_ZONE
    }
    fn type_name(&self) -> &'static str {
        LINK
    }
    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = global(&ctx.body)?;
        let props = props_of(&ctx.body);
        let vnet = props
            .get("virtualNetwork")
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid_format("A virtual network link must name its virtualNetwork.")
            })?;
        let v = lookup(ctx.store, vnet, VNET).ok_or_else(|| invalid_reference(vnet, ctx.id_str))?;
        let mut out = tracked(&ctx.body, location);
        out["properties"] = json!({
            "virtualNetwork": {"id": v.id},
            "registrationEnabled": props.get("registrationEnabled").and_then(Value::as_bool).unwrap_or(false),
            "virtualNetworkLinkState": "Completed",
        });
        Ok(out)
    }
    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }
    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }
    fn typical_latency(&self, _kind: OpKind) -> Duration {
        Duration::from_secs(30)
    }
}

/// The A record a zone group keeps for its endpoint: `{zone}/A/{target name}`.
fn record_id(zone_id: &str, fqdn: &str, zone: &str) -> String {
    let label = fqdn
        .strip_suffix(&format!(".{}", zone.trim_start_matches("privatelink.")))
        .unwrap_or(fqdn)
        .to_string();
    format!("{zone_id}/A/{label}")
}

pub struct PrivateDnsZoneGroups;

impl PrivateDnsZoneGroups {
    fn endpoint_of(id: &str) -> String {
        id.split("/privateDnsZoneGroups/")
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl ResourceType for PrivateDnsZoneGroups {
    fn type_name(&self) -> &'static str {
        ZONE_GROUP
    }
    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let props = props_of(&ctx.body);
        let configs = props
            .get("privateDnsZoneConfigs")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                invalid_format(
                    "A private DNS zone group must have at least one privateDnsZoneConfig.",
                )
            })?;
        let mut out_configs = Vec::new();
        for c in configs {
            let zid = c
                .pointer("/properties/privateDnsZoneId")
                .and_then(Value::as_str)
                .unwrap_or("");
            let zone =
                lookup(ctx.store, zid, ZONE).ok_or_else(|| invalid_reference(zid, ctx.id_str))?;
            out_configs.push(json!({
                "name": c.get("name").cloned().unwrap_or(json!(zone.name().replace('.', "-"))),
                "properties": {"privateDnsZoneId": zone.id, "recordSets": []},
            }));
        }
        Ok(json!({"properties": {"privateDnsZoneConfigs": out_configs}}))
    }
    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }
    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }
    fn typical_latency(&self, _kind: OpKind) -> Duration {
        Duration::from_secs(10)
    }
    /// Registers the endpoint's addresses (its customDnsConfigs) as A records in each zone.
    fn after_write(&self, id: &str, store: &mut Store) {
        let pe_id = Self::endpoint_of(id);
        let Some(pe) = store.get(&pe_id).cloned() else {
            return;
        };
        let Some(group) = store.get(id).cloned() else {
            return;
        };
        let dns: Vec<(String, Value)> = pe
            .body
            .pointer("/properties/customDnsConfigs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some((
                    d.get("fqdn")?.as_str()?.to_string(),
                    d.get("ipAddresses").cloned().unwrap_or(json!([])),
                ))
            })
            .collect();
        let mut configs = group
            .body
            .pointer("/properties/privateDnsZoneConfigs")
            .cloned()
            .unwrap_or(json!([]));
        for c in configs.as_array_mut().into_iter().flatten() {
            let zid = c
                .pointer("/properties/privateDnsZoneId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let zone = zid.rsplit('/').next().unwrap_or("").to_string();
            let mut sets = Vec::new();
            for (fqdn, ips) in &dns {
                let rid = record_id(&zid, fqdn, &zone);
                let label = rid.rsplit('/').next().unwrap_or("").to_string();
                store.insert(Resource {
                    id: rid.clone(),
                    type_name: A_RECORD.into(),
                    body: json!({"id": rid, "name": label, "type": A_RECORD, "properties": {
                        "fqdn": format!("{label}.{zone}."), "ttl": 10,
                        "aRecords": ips.as_array().into_iter().flatten().map(|ip| json!({"ipv4Address": ip})).collect::<Vec<_>>(),
                        "isAutoRegistered": false}}),
                    etag: new_etag(),
                    pending: None,
                });
                sets.push(json!({"recordType": "A", "recordSetName": label, "fqdn": format!("{label}.{zone}"), "ttl": 10, "ipAddresses": ips}));
            }
            c["properties"]["recordSets"] = Value::Array(sets);
        }
        if let Some(p) = store.get_mut(id).and_then(|r| r.body.get_mut("properties")) {
            p["privateDnsZoneConfigs"] = configs;
        }
    }
    /// Its A records go with it.
    fn after_delete(&self, res: &Resource, store: &mut Store) {
        for c in res
            .body
            .pointer("/properties/privateDnsZoneConfigs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for s in c
                .pointer("/properties/recordSets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let zid = c
                    .pointer("/properties/privateDnsZoneId")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if let Some(label) = s.get("recordSetName").and_then(Value::as_str) {
                    store.remove_tree(&format!("{zid}/A/{label}"));
                }
            }
        }
    }
}
