//! Public IP addresses: Basic or Standard, Static or Dynamic (Standard must be Static); a
//! Static address gets an `ipAddress` at once from [`PUBLIC_POOL`](super::addressing::PUBLIC_POOL);
//! `ipConfiguration` / `natGateway` back-references; in-use deletes refused.

use super::addressing::allocate_public;
use super::refs::{Edge, RefKind, incoming};
use super::{PUBLIC_IP, as_int, canonical, invalid_format, props_of, resource_guid, tracked};
use crate::errors::ArmError;
use crate::store::{OpKind, Resource, Store};
use crate::types::util::require_location;
use crate::types::{Flow, PutContext, ResourceType};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct PublicIpAddresses {
    /// Where Static addresses come from ([`SimConfig::public_pool`](crate::SimConfig)).
    pub pool: ipnet::Ipv4Net,
    /// Where in the pool the search for a free address starts.
    pub offset: u32,
}

/// The SKU name of a stored public IP (`Basic` when absent).
pub fn sku_of(r: &Resource) -> &str {
    r.body
        .pointer("/sku/name")
        .and_then(Value::as_str)
        .unwrap_or("Basic")
}

pub fn allocation_of(r: &Resource) -> &str {
    r.body
        .pointer("/properties/publicIPAllocationMethod")
        .and_then(Value::as_str)
        .unwrap_or("Dynamic")
}

/// Who holds the public IP: NIC ipConfigurations, load balancer frontends, NAT gateways.
pub fn holders(store: &Store, pip_id: &str) -> Vec<Edge> {
    incoming(
        store,
        pip_id,
        &[
            RefKind::NicIpConfigPublicIp,
            RefKind::LbFrontendPublicIp,
            RefKind::NatGatewayPublicIp,
        ],
    )
}

/// 400 `PublicIPAddressInUse` when `pip_id` is already held by a resource other than `owner`.
pub fn check_free_for(store: &Store, pip_id: &str, owner: &str, by: &str) -> Result<(), ArmError> {
    match holders(store, pip_id)
        .into_iter()
        .find(|e| !e.owner.eq_ignore_ascii_case(owner))
    {
        None => Ok(()),
        Some(e) => Err(ArmError::bad_request(
            "PublicIPAddressInUse",
            format!(
                "Resource {by} is referencing public IP address {pip_id} that is already allocated to resource {}.",
                e.from
            ),
        )),
    }
}

impl ResourceType for PublicIpAddresses {
    fn type_name(&self) -> &'static str {
        PUBLIC_IP
    }

    fn validate(&self, ctx: PutContext<'_>) -> Result<Value, ArmError> {
        let location = require_location(&ctx.body)?;
        let props = props_of(&ctx.body);
        let sku_name = ctx
            .body
            .pointer("/sku/name")
            .and_then(Value::as_str)
            .unwrap_or("Basic");
        let sku_name = canonical(sku_name, &["Basic", "Standard", "StandardV2"])
            .ok_or_else(|| invalid_format(format!("Public IP sku '{sku_name}' is not valid.")))?;
        let tier = ctx
            .body
            .pointer("/sku/tier")
            .and_then(Value::as_str)
            .and_then(|t| canonical(t, &["Regional", "Global"]))
            .unwrap_or("Regional");
        if let Some(e) = ctx.existing {
            let old = sku_of(e);
            if !old.eq_ignore_ascii_case(sku_name) {
                return Err(ArmError::bad_request(
                    "PublicIPSkuUpdateNotSupported",
                    format!(
                        "Cannot change the sku of public IP address {} from {old} to {sku_name}.",
                        ctx.id_str
                    ),
                ));
            }
        }
        let default_method = if sku_name == "Basic" {
            "Dynamic"
        } else {
            "Static"
        };
        let method = props
            .get("publicIPAllocationMethod")
            .and_then(Value::as_str)
            .unwrap_or(default_method);
        let method = canonical(method, &["Static", "Dynamic"]).ok_or_else(|| {
            invalid_format(format!("publicIPAllocationMethod '{method}' is not valid."))
        })?;
        if sku_name != "Basic" && method != "Static" {
            return Err(ArmError::bad_request(
                "StandardSkuPublicIPAddressesMustBeStatic",
                format!(
                    "Standard sku publicIp {} must have AllocationMethod set to Static.",
                    ctx.id_str
                ),
            ));
        }
        let version = props
            .get("publicIPAddressVersion")
            .and_then(Value::as_str)
            .and_then(|v| canonical(v, &["IPv4", "IPv6"]))
            .unwrap_or("IPv4");
        let idle = props
            .get("idleTimeoutInMinutes")
            .map(|v| as_int(v).filter(|n| (4..=30).contains(n)))
            .unwrap_or(Some(4))
            .ok_or_else(|| {
                ArmError::bad_request(
                    "PublicIPIdleTimeoutIsOutOfRange",
                    "The idle timeout of a public IP address must be between 4 and 30 minutes.",
                )
            })?;
        let mut oprops = Map::new();
        oprops.insert("publicIPAllocationMethod".into(), json!(method));
        oprops.insert("publicIPAddressVersion".into(), json!(version));
        oprops.insert("idleTimeoutInMinutes".into(), json!(idle));
        oprops.insert("resourceGuid".into(), resource_guid(ctx.existing));
        oprops.insert(
            "ipTags".into(),
            props.get("ipTags").cloned().unwrap_or(json!([])),
        );
        for k in ["dnsSettings", "ddosSettings", "deleteOption"] {
            if let Some(v) = props.get(k).filter(|v| !v.is_null()) {
                oprops.insert(k.into(), v.clone());
            }
        }
        if method == "Static" && version == "IPv4" {
            let kept = ctx
                .existing
                .and_then(|e| e.body.pointer("/properties/ipAddress"))
                .cloned();
            let ip = match kept {
                Some(ip) => ip,
                None => {
                    let ip = allocate_public(ctx.store, ctx.id_str, self.pool, self.offset)
                        .ok_or_else(|| {
                            ArmError::bad_request(
                                "PublicIPCountLimitReached",
                                "No public IP addresses are left in the simulated pool.",
                            )
                        })?;
                    json!(ip.to_string())
                }
            };
            oprops.insert("ipAddress".into(), ip);
        }
        let mut out = tracked(&ctx.body, location);
        out["sku"] = json!({"name": sku_name, "tier": tier});
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
        match holders(store, &res.id).first() {
            None => Ok(()),
            Some(e) => Err(ArmError::bad_request(
                "PublicIPAddressInUseCannotBeDeleted",
                format!(
                    "Public IP address {} can not be deleted since it is still allocated to resource {}. In order to delete the public IP, disassociate/detach the Public IP address from the resource. To learn how to do this, see aka.ms/deletepublicip.",
                    res.id, e.from
                ),
            )),
        }
    }

    fn render(&self, res: &Resource, store: &Store) -> Value {
        let mut body = res.body.clone();
        let hs = holders(store, &res.id);
        if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
            props.remove("ipConfiguration");
            props.remove("natGateway");
            for e in &hs {
                match e.kind {
                    RefKind::NatGatewayPublicIp => {
                        props.insert("natGateway".into(), json!({"id": e.owner}));
                    }
                    _ => {
                        props.insert("ipConfiguration".into(), json!({"id": e.from}));
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
