//! NAT gateways: sku Standard, Standard public IPs, idle timeout, zones; `subnets`
//! back-reference; delete refused while a subnet uses it.

use super::pip::{check_free_for, sku_of};
use super::refs::{RefKind, froms, incoming};
use super::{
    NAT_GATEWAY, PUBLIC_IP, as_int, insert_refs, invalid_reference, lookup, props_of,
    resource_guid, tracked,
};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct NatGateways;

impl ResourceType for NatGateways {
    fn max_name_length(&self) -> Option<usize> {
        Some(80)
    }
    fn type_name(&self) -> &'static str {
        NAT_GATEWAY
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let sku = ctx
            .body
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .unwrap_or("Standard");
        if !sku.eq_ignore_ascii_case("Standard") {
            return Err(ArmError::bad_request(
                "InvalidNatGatewaySku",
                format!(
                    "Sku '{sku}' is not supported for NAT gateway {}. Supported: Standard.",
                    ctx.id_str
                ),
            ));
        }
        let idle = props
            .get("idleTimeoutInMinutes")
            .map(|v| as_int(v).filter(|n| (4..=120).contains(n)))
            .unwrap_or(Some(4))
            .ok_or_else(|| {
                ArmError::bad_request(
                    "NatGatewayIdleTimeoutOutOfRange",
                    "The idle timeout of a NAT gateway must be between 4 and 120 minutes.",
                )
            })?;
        let mut ips = Vec::new();
        for p in props
            .get("publicIpAddresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = p.get("id").and_then(Value::as_str).unwrap_or("");
            let pip = lookup(ctx.store, id, PUBLIC_IP)
                .ok_or_else(|| invalid_reference(id, ctx.id_str))?;
            if !sku_of(pip).eq_ignore_ascii_case("Standard") {
                return Err(ArmError::bad_request(
                    "NatGatewayCannotUseBasicSkuPublicIp",
                    format!(
                        "NAT gateway {} cannot reference Basic sku public IP {}. Only Standard sku public IPs can be used with NAT gateway.",
                        ctx.id_str, pip.id
                    ),
                ));
            }
            check_free_for(ctx.store, &pip.id, ctx.id_str, ctx.id_str)?;
            ips.push(json!({"id": pip.id}));
        }
        let mut oprops = Map::new();
        oprops.insert("idleTimeoutInMinutes".into(), json!(idle));
        oprops.insert("publicIpAddresses".into(), Value::Array(ips));
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));
        if let Some(v) = props.get("publicIpPrefixes") {
            oprops.insert("publicIpPrefixes".into(), v.clone());
        }
        let mut out = tracked(&ctx.body, location);
        out["sku"] = json!({"name": "Standard"});
        out["properties"] = Value::Object(oprops);
        Ok(out)
    }

    fn put_flow(&self) -> Flow {
        Flow::AsyncOperation
    }

    fn delete_flow(&self) -> Flow {
        Flow::AsyncOperationAndLocation
    }

    fn typical_latency(&self, _kind: OpKind) -> Duration {
        // NAT gateways are slow both ways (notes: "except NAT gateways").
        Duration::from_secs(15)
    }

    fn check_delete(&self, res: &Resource, store: &Store) -> Result<(), ArmError> {
        let users = incoming(store, &res.id, &[RefKind::SubnetNatGateway]);
        match users.first() {
            None => Ok(()),
            Some(u) => Err(ArmError::bad_request(
                "InUseNatGatewayCannotBeDeleted",
                format!(
                    "Nat Gateway {} cannot be deleted because it is in use by subnet {}. Disassociate the NAT gateway from the subnet first.",
                    res.id, u.from
                ),
            )),
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let subnets = incoming(store, &res.id, &[RefKind::SubnetNatGateway]);
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            insert_refs(props, "subnets", froms(&subnets));
        }
        body
    }

    fn etag_in_body(&self) -> bool {
        true
    }
}
