//! The Standard public load balancer in front of the API server: one frontend on a
//! Standard Static public IP, one backend pool (control-plane NICs join it from their side),
//! a TCP probe and a TCP rule on the API server port (6443).
//!
//! The rule's references to the frontend, pool and probe are ids built from the load
//! balancer's own future id ([`super::ids::load_balancer_child`]); that is why the spec
//! carries the subscription id. Back-references in responses (a frontend's or probe's
//! `loadBalancingRules`, a pool's `backendIPConfigurations`) never count as drift. Outbound
//! SNAT is disabled on the rule: egress goes through the NAT gateway.

use super::{API_VERSION, ObservedRef, get_via_mgmt, send_via_mgmt, sub_resource, uid_tag};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_from_value, tags_to_value, wire};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    BackendAddressPool, FrontendIpConfiguration, FrontendIpConfigurationPropertiesFormat,
    IpAllocationMethod, LoadBalancer as LbModel, LoadBalancerPropertiesFormat, LoadBalancerSku,
    LoadBalancingRule, LoadBalancingRulePropertiesFormat, Probe, ProbePropertiesFormat,
    PublicIpAddress, Subnet, TransportProtocol, load_balancer_sku, probe_properties_format,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct LoadBalancer;

/// Names of the load balancer's children (fixed: one of each).
pub const FRONTEND_NAME: &str = "frontend";
pub const BACKEND_POOL_NAME: &str = "control-plane";
pub const PROBE_NAME: &str = "apiserver";
pub const RULE_NAME: &str = "apiserver";
/// The Kubernetes API server port.
pub const API_SERVER_PORT: i32 = 6443;
const PROBE_INTERVAL_SECONDS: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// The subscription the load balancer lives in (its children's ids start with it).
    pub subscription_id: String,
    pub location: String,
    /// Where the API server is exposed.
    pub frontend: Frontend,
    /// Frontend and backend port of the rule and the probe's port: [`API_SERVER_PORT`].
    pub port: i32,
    pub tags: BTreeMap<String, String>,
}

/// The load balancer's frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    /// A public load balancer on a Standard Static public IP ([`super::ids::public_ip`]).
    Public { public_ip_id: String },
    /// An internal load balancer with a dynamic private IP in a subnet ([`super::ids::subnet`]),
    /// for clusters reached through a gateway in their VNet.
    Internal { subnet_id: String },
}

/// The backend pool's id, for the control-plane NICs' `backend_pool_ids`.
pub fn backend_pool_id(subscription_id: &str, key: &LoadBalancerKey) -> String {
    let lb = super::ids::load_balancer(subscription_id, &key.resource_group, &key.name);
    super::ids::load_balancer_child(&lb, "backendAddressPools", BACKEND_POOL_NAME)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedLoadBalancer {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku: Option<ObservedLbSku>,
    #[serde(default)]
    pub properties: ObservedLbProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedLbSku {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedLbProperties {
    pub provisioning_state: Option<String>,
    #[serde(default, rename = "frontendIPConfigurations")]
    pub frontend_ip_configurations: Vec<ObservedLbChild<ObservedFrontendProperties>>,
    #[serde(default)]
    pub backend_address_pools: Vec<ObservedLbChild<serde_json::Value>>,
    #[serde(default)]
    pub probes: Vec<ObservedLbChild<ObservedProbeProperties>>,
    #[serde(default)]
    pub load_balancing_rules: Vec<ObservedLbChild<ObservedRuleProperties>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedLbChild<P> {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: Option<P>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFrontendProperties {
    #[serde(rename = "publicIPAddress")]
    pub public_ip_address: Option<ObservedRef>,
    pub subnet: Option<ObservedRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedProbeProperties {
    pub protocol: Option<String>,
    pub port: Option<i32>,
    pub interval_in_seconds: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRuleProperties {
    pub protocol: Option<String>,
    pub frontend_port: Option<i32>,
    pub backend_port: Option<i32>,
    #[serde(rename = "frontendIPConfiguration")]
    pub frontend_ip_configuration: Option<ObservedRef>,
    pub backend_address_pool: Option<ObservedRef>,
    pub probe: Option<ObservedRef>,
    pub disable_outbound_snat: Option<bool>,
}

fn find<'a, P>(list: &'a [ObservedLbChild<P>], name: &str) -> Option<&'a ObservedLbChild<P>> {
    list.iter().find(|c| {
        c.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

fn int_field(d: &mut Diff, field: &str, desired: Option<i32>, observed: Option<i32>) {
    if let Some(w) = desired
        && observed != Some(w)
    {
        d.push(
            field,
            w,
            observed.map_or("<unset>".to_owned(), |o| o.to_string()),
        );
    }
}

/// Names present in Azure but not desired: children someone added by hand.
fn extra_children<P>(
    d: &mut Diff,
    field: &str,
    want: impl Iterator<Item = Option<String>>,
    have: &[ObservedLbChild<P>],
) {
    let want: Vec<String> = want.flatten().map(|n| n.to_ascii_lowercase()).collect();
    for c in have {
        let name = c.name.clone().unwrap_or_default();
        if !want.contains(&name.to_ascii_lowercase()) {
            d.push(&format!("{field}[{name}]"), "<absent>", "present");
        }
    }
}

#[async_trait::async_trait]
impl ArmResource for LoadBalancer {
    type Key = LoadBalancerKey;
    type Spec = LoadBalancerSpec;
    type Body = LbModel;
    type Observed = ObservedLoadBalancer;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/loadBalancers";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::load_balancer(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> LbModel {
        let lb_id = Self::path(&spec.subscription_id, key);
        let child = |collection: &str, name: &str| {
            super::ids::load_balancer_child(&lb_id, collection, name)
        };

        let mut fe_props = FrontendIpConfigurationPropertiesFormat::new();
        match &spec.frontend {
            Frontend::Public { public_ip_id } => {
                let mut pip = PublicIpAddress::new();
                pip.resource.id = Some(public_ip_id.clone());
                fe_props.public_ip_address = Some(pip);
            }
            Frontend::Internal { subnet_id } => {
                let mut subnet = Subnet::new();
                subnet.sub_resource.id = Some(subnet_id.clone());
                fe_props.subnet = Some(subnet);
                fe_props.private_ip_allocation_method = Some(IpAllocationMethod::Dynamic);
            }
        }
        let mut frontend = FrontendIpConfiguration::new();
        frontend.name = Some(FRONTEND_NAME.to_owned());
        frontend.properties = Some(fe_props);

        let mut pool = BackendAddressPool::new();
        pool.name = Some(BACKEND_POOL_NAME.to_owned());

        let mut probe_props =
            ProbePropertiesFormat::new(probe_properties_format::Protocol::Tcp, spec.port);
        probe_props.interval_in_seconds = Some(PROBE_INTERVAL_SECONDS);
        let mut probe = Probe::new();
        probe.name = Some(PROBE_NAME.to_owned());
        probe.properties = Some(probe_props);

        let mut rule_props =
            LoadBalancingRulePropertiesFormat::new(TransportProtocol::Tcp, spec.port);
        rule_props.backend_port = Some(spec.port);
        rule_props.frontend_ip_configuration = Some(sub_resource(&child(
            "frontendIPConfigurations",
            FRONTEND_NAME,
        )));
        rule_props.backend_address_pool = Some(sub_resource(&child(
            "backendAddressPools",
            BACKEND_POOL_NAME,
        )));
        rule_props.probe = Some(sub_resource(&child("probes", PROBE_NAME)));
        rule_props.disable_outbound_snat = Some(true);
        let mut rule = LoadBalancingRule::new();
        rule.name = Some(RULE_NAME.to_owned());
        rule.properties = Some(rule_props);

        let mut props = LoadBalancerPropertiesFormat::new();
        props.frontend_ip_configurations = vec![frontend];
        props.backend_address_pools = vec![pool];
        props.probes = vec![probe];
        props.load_balancing_rules = vec![rule];
        let mut sku = LoadBalancerSku::new();
        sku.name = Some(load_balancer_sku::Name::Standard);
        let mut body = LbModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.sku = Some(sku);
        body.properties = Some(props);
        body
    }

    fn diff(desired: &LbModel, observed: &ObservedLoadBalancer) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        d.ignore_case(
            "sku.name",
            desired
                .sku
                .as_ref()
                .and_then(|s| s.name.as_ref())
                .map(wire)
                .as_deref(),
            observed.sku.as_ref().and_then(|s| s.name.as_deref()),
        );
        let Some(p) = &desired.properties else {
            return d.finish();
        };
        let o = &observed.properties;

        for fe in &p.frontend_ip_configurations {
            let name = fe.name.clone().unwrap_or_default();
            let field = format!("properties.frontendIPConfigurations[{name}]");
            let Some(ofe) = find(&o.frontend_ip_configurations, &name) else {
                d.push(&field, "present", "<missing>");
                continue;
            };
            let ofp = ofe.properties.clone().unwrap_or_default();
            d.id_set(
                &format!("{field}.publicIPAddress"),
                fe.properties
                    .as_ref()
                    .and_then(|f| f.public_ip_address.as_ref())
                    .and_then(|pip| pip.resource.id.as_deref()),
                ofp.public_ip_address.as_ref().and_then(|r| r.id.as_deref()),
            );
            d.id_set(
                &format!("{field}.subnet"),
                fe.properties
                    .as_ref()
                    .and_then(|f| f.subnet.as_ref())
                    .and_then(|s| s.sub_resource.id.as_deref()),
                ofp.subnet.as_ref().and_then(|r| r.id.as_deref()),
            );
        }
        extra_children(
            &mut d,
            "properties.frontendIPConfigurations",
            p.frontend_ip_configurations.iter().map(|c| c.name.clone()),
            &o.frontend_ip_configurations,
        );

        for pool in &p.backend_address_pools {
            let name = pool.name.clone().unwrap_or_default();
            if find(&o.backend_address_pools, &name).is_none() {
                d.push(
                    &format!("properties.backendAddressPools[{name}]"),
                    "present",
                    "<missing>",
                );
            }
        }
        extra_children(
            &mut d,
            "properties.backendAddressPools",
            p.backend_address_pools.iter().map(|c| c.name.clone()),
            &o.backend_address_pools,
        );

        for probe in &p.probes {
            let name = probe.name.clone().unwrap_or_default();
            let field = format!("properties.probes[{name}]");
            let (Some(op), Some(pp)) = (find(&o.probes, &name), &probe.properties) else {
                d.push(&field, "present", "<missing>");
                continue;
            };
            let opp = op.properties.clone().unwrap_or_default();
            d.ignore_case(
                &format!("{field}.protocol"),
                Some(&wire(&pp.protocol)),
                opp.protocol.as_deref(),
            );
            int_field(&mut d, &format!("{field}.port"), Some(pp.port), opp.port);
            int_field(
                &mut d,
                &format!("{field}.intervalInSeconds"),
                pp.interval_in_seconds,
                opp.interval_in_seconds,
            );
        }
        extra_children(
            &mut d,
            "properties.probes",
            p.probes.iter().map(|c| c.name.clone()),
            &o.probes,
        );

        for rule in &p.load_balancing_rules {
            let name = rule.name.clone().unwrap_or_default();
            let field = format!("properties.loadBalancingRules[{name}]");
            let (Some(or), Some(rp)) = (find(&o.load_balancing_rules, &name), &rule.properties)
            else {
                d.push(&field, "present", "<missing>");
                continue;
            };
            let orp = or.properties.clone().unwrap_or_default();
            d.ignore_case(
                &format!("{field}.protocol"),
                Some(&wire(&rp.protocol)),
                orp.protocol.as_deref(),
            );
            int_field(
                &mut d,
                &format!("{field}.frontendPort"),
                Some(rp.frontend_port),
                orp.frontend_port,
            );
            int_field(
                &mut d,
                &format!("{field}.backendPort"),
                rp.backend_port,
                orp.backend_port,
            );
            let id_of = |r: &Option<azure_mgmt_network::models::SubResource>| {
                r.as_ref().and_then(|s| s.id.clone())
            };
            let oid = |r: &Option<ObservedRef>| r.as_ref().and_then(|s| s.id.clone());
            d.id_set(
                &format!("{field}.frontendIPConfiguration"),
                id_of(&rp.frontend_ip_configuration).as_deref(),
                oid(&orp.frontend_ip_configuration).as_deref(),
            );
            d.id_set(
                &format!("{field}.backendAddressPool"),
                id_of(&rp.backend_address_pool).as_deref(),
                oid(&orp.backend_address_pool).as_deref(),
            );
            d.id_set(
                &format!("{field}.probe"),
                id_of(&rp.probe).as_deref(),
                oid(&orp.probe).as_deref(),
            );
            d.boolean(
                &format!("{field}.disableOutboundSnat"),
                rp.disable_outbound_snat,
                // Azure's default is false.
                Some(orp.disable_outbound_snat.unwrap_or(false)),
            );
        }
        extra_children(
            &mut d,
            "properties.loadBalancingRules",
            p.load_balancing_rules.iter().map(|c| c.name.clone()),
            &o.load_balancing_rules,
        );

        d.tags(
            &tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedLoadBalancer) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedLoadBalancer>, AzureError> {
        let client = session.network_client().load_balancers_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &LbModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().load_balancers_client();
        let send = client
            .create_or_update(
                &key.resource_group,
                &key.name,
                body.clone(),
                session.subscription_id(),
            )
            .send();
        send_via_mgmt(session, send).await
    }

    async fn send_delete(session: &ArmSession, key: &Self::Key) -> Result<RawResponse, AzureError> {
        let client = session.network_client().load_balancers_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        send_via_mgmt(session, send).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            LoadBalancer::RESOURCE_TYPE,
            LoadBalancer::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;
    use crate::resources::network::ids;

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn key() -> LoadBalancerKey {
        LoadBalancerKey {
            resource_group: "rg1".into(),
            name: "lb".into(),
        }
    }

    fn desired() -> LbModel {
        let spec = LoadBalancerSpec {
            subscription_id: "subid".into(),
            location: "eastus".into(),
            frontend: Frontend::Public {
                public_ip_id: ids::public_ip("subid", "rg1", "lb-ip"),
            },
            port: API_SERVER_PORT,
            tags: BTreeMap::new(),
        };
        LoadBalancer::desired(&key(), &spec, &owner())
    }

    const LB: &str =
        "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/lb";

    /// LoadBalancers_CreateOrUpdate, example "LoadBalancerCreateStandardSku.json"
    /// (2024-03-01), re-typed for our shape: a public-IP frontend, the control-plane pool,
    /// a TCP probe and rule on 6443, with Azure's back-references (the frontend's and
    /// probe's loadBalancingRules, the pool's backendIPConfigurations), weak etags, child
    /// types and a lower-cased resource group in some references.
    fn get_after_put() -> serde_json::Value {
        let lower = LB.replace("resourceGroups", "resourcegroups");
        serde_json::json!({
            "name": "lb",
            "id": LB,
            "type": "Microsoft.Network/loadBalancers",
            "etag": "W/\"00000000-0000-0000-0000-00000000\"",
            "location": "eastus",
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": "00000000-0000-0000-0000-00000000",
                "frontendIPConfigurations": [{
                    "name": "frontend",
                    "id": format!("{LB}/frontendIPConfigurations/frontend"),
                    "type": "Microsoft.Network/loadBalancers/frontendIPConfigurations",
                    "etag": "W/\"00000000-0000-0000-0000-00000000\"",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAllocationMethod": "Dynamic",
                        "publicIPAddress": {"id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/lb-ip"},
                        "loadBalancingRules": [{"id": format!("{LB}/loadBalancingRules/apiserver")}]
                    }
                }],
                "backendAddressPools": [{
                    "name": "control-plane",
                    "id": format!("{LB}/backendAddressPools/control-plane"),
                    "type": "Microsoft.Network/loadBalancers/backendAddressPools",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "loadBalancingRules": [{"id": format!("{LB}/loadBalancingRules/apiserver")}],
                        "backendIPConfigurations": [{"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/cp-0/ipConfigurations/ipconfig1"}]
                    }
                }],
                "loadBalancingRules": [{
                    "name": "apiserver",
                    "id": format!("{LB}/loadBalancingRules/apiserver"),
                    "type": "Microsoft.Network/loadBalancers/loadBalancingRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "frontendIPConfiguration": {"id": format!("{lower}/frontendIPConfigurations/frontend")},
                        "frontendPort": 6443,
                        "backendPort": 6443,
                        "enableFloatingIP": false,
                        "idleTimeoutInMinutes": 4,
                        "protocol": "Tcp",
                        "loadDistribution": "Default",
                        "backendAddressPool": {"id": format!("{lower}/backendAddressPools/control-plane")},
                        "backendAddressPools": [{"id": format!("{lower}/backendAddressPools/control-plane")}],
                        "probe": {"id": format!("{lower}/probes/apiserver")},
                        "disableOutboundSnat": true,
                        "enableTcpReset": false
                    }
                }],
                "probes": [{
                    "name": "apiserver",
                    "id": format!("{LB}/probes/apiserver"),
                    "type": "Microsoft.Network/loadBalancers/probes",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "protocol": "Tcp",
                        "port": 6443,
                        "intervalInSeconds": 5,
                        "numberOfProbes": 1,
                        "probeThreshold": 1,
                        "loadBalancingRules": [{"id": format!("{LB}/loadBalancingRules/apiserver")}]
                    }
                }],
                "inboundNatRules": [],
                "outboundRules": [],
                "inboundNatPools": []
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedLoadBalancer {
        serde_json::from_value(v).expect("fixture parses")
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(LoadBalancer::diff(&desired(), &o), vec![]);
        assert_eq!(LoadBalancer::owner_uid(&o).as_deref(), Some("uid-1"));
    }

    #[test]
    fn desired_body_references_its_own_children() {
        let body = serde_json::to_value(desired()).expect("json");
        let rule = &body["properties"]["loadBalancingRules"][0]["properties"];
        assert_eq!(
            rule["frontendIPConfiguration"]["id"],
            format!("{LB}/frontendIPConfigurations/frontend")
        );
        assert_eq!(
            rule["backendAddressPool"]["id"],
            format!("{LB}/backendAddressPools/control-plane")
        );
        assert_eq!(rule["probe"]["id"], format!("{LB}/probes/apiserver"));
        assert_eq!(rule["protocol"], "Tcp");
        assert_eq!(rule["frontendPort"], 6443);
        assert_eq!(rule["backendPort"], 6443);
        assert_eq!(
            body["properties"]["probes"][0]["properties"]["protocol"],
            "Tcp"
        );
        assert_eq!(body["properties"]["probes"][0]["properties"]["port"], 6443);
        assert_eq!(body["sku"]["name"], "Standard");
        assert_eq!(
            body["properties"]["frontendIPConfigurations"][0]["properties"]["publicIPAddress"],
            serde_json::json!({"id": ids::public_ip("subid", "rg1", "lb-ip")})
        );
        assert_eq!(
            backend_pool_id("subid", &key()),
            format!("{LB}/backendAddressPools/control-plane")
        );
    }

    #[test]
    fn an_internal_frontend_sits_in_its_subnet_with_a_dynamic_ip() {
        let subnet = ids::subnet("subid", "rg-net", "vnet", "cp");
        let spec = LoadBalancerSpec {
            subscription_id: "subid".into(),
            location: "eastus".into(),
            frontend: Frontend::Internal {
                subnet_id: subnet.clone(),
            },
            port: API_SERVER_PORT,
            tags: BTreeMap::new(),
        };
        let body = LoadBalancer::desired(&key(), &spec, &owner());
        let json = serde_json::to_value(&body).expect("json");
        let fe = &json["properties"]["frontendIPConfigurations"][0]["properties"];
        assert_eq!(fe["subnet"]["id"], subnet);
        assert_eq!(fe["privateIPAllocationMethod"], "Dynamic");
        assert!(fe.get("publicIPAddress").is_none());
        // Azure answers with the id lower-cased in places and a private address: no drift.
        let mut got = json.clone();
        got["id"] = serde_json::json!(LB);
        got["properties"]["provisioningState"] = serde_json::json!("Succeeded");
        got["properties"]["frontendIPConfigurations"][0]["properties"]["subnet"]["id"] =
            serde_json::json!(subnet.to_ascii_lowercase());
        got["properties"]["frontendIPConfigurations"][0]["properties"]["privateIPAddress"] =
            serde_json::json!("10.0.0.4");
        assert_eq!(LoadBalancer::diff(&body, &observed(got.clone())), vec![]);
        got["properties"]["frontendIPConfigurations"][0]["properties"]["subnet"]["id"] =
            serde_json::json!(ids::subnet("subid", "rg-net", "vnet", "other"));
        assert_eq!(LoadBalancer::diff(&body, &observed(got)).len(), 1);
    }

    #[test]
    fn each_managed_field_is_drift() {
        let rule = "/properties/loadBalancingRules/0/properties";
        let probe = "/properties/probes/0/properties";
        let set = |ptr: String, val: serde_json::Value| -> FixtureEdit {
            Box::new(move |v| *v.pointer_mut(&ptr).expect("pointer") = val.clone())
        };
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", set("/location".into(), "westus".into())),
            ("sku.name", set("/sku/name".into(), "Basic".into())),
            (
                "properties.frontendIPConfigurations[frontend].publicIPAddress",
                set(
                    "/properties/frontendIPConfigurations/0/properties/publicIPAddress/id".into(),
                    "/other".into(),
                ),
            ),
            (
                "properties.frontendIPConfigurations[frontend]",
                set(
                    "/properties/frontendIPConfigurations/0/name".into(),
                    "frontend".into(),
                )
                .then_remove("/properties/frontendIPConfigurations"),
            ),
            (
                "properties.backendAddressPools[control-plane]",
                Box::new(|v| v["properties"]["backendAddressPools"] = serde_json::json!([])),
            ),
            (
                "properties.backendAddressPools[by-hand]",
                Box::new(|v| {
                    let mut extra = v["properties"]["backendAddressPools"][0].clone();
                    extra["name"] = "by-hand".into();
                    v["properties"]["backendAddressPools"]
                        .as_array_mut()
                        .expect("a")
                        .push(extra);
                }),
            ),
            (
                "properties.probes[apiserver].protocol",
                set(format!("{probe}/protocol"), "Http".into()),
            ),
            (
                "properties.probes[apiserver].port",
                set(format!("{probe}/port"), 443.into()),
            ),
            (
                "properties.probes[apiserver].intervalInSeconds",
                set(format!("{probe}/intervalInSeconds"), 15.into()),
            ),
            (
                "properties.loadBalancingRules[apiserver].protocol",
                set(format!("{rule}/protocol"), "Udp".into()),
            ),
            (
                "properties.loadBalancingRules[apiserver].frontendPort",
                set(format!("{rule}/frontendPort"), 443.into()),
            ),
            (
                "properties.loadBalancingRules[apiserver].backendPort",
                set(format!("{rule}/backendPort"), 443.into()),
            ),
            (
                "properties.loadBalancingRules[apiserver].frontendIPConfiguration",
                set(
                    format!("{rule}/frontendIPConfiguration/id"),
                    format!("{LB}/frontendIPConfigurations/other").into(),
                ),
            ),
            (
                "properties.loadBalancingRules[apiserver].backendAddressPool",
                set(
                    format!("{rule}/backendAddressPool/id"),
                    format!("{LB}/backendAddressPools/other").into(),
                ),
            ),
            (
                "properties.loadBalancingRules[apiserver].probe",
                set(
                    format!("{rule}/probe/id"),
                    format!("{LB}/probes/other").into(),
                ),
            ),
            (
                "properties.loadBalancingRules[apiserver].disableOutboundSnat",
                set(format!("{rule}/disableOutboundSnat"), false.into()),
            ),
            ("tags", set("/tags/azop.dev_owner".into(), "x".into())),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = LoadBalancer::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }

    trait ThenRemove {
        fn then_remove(self, array_ptr: &'static str) -> FixtureEdit;
    }

    impl ThenRemove for FixtureEdit {
        fn then_remove(self, array_ptr: &'static str) -> FixtureEdit {
            Box::new(move |v| {
                self(v);
                if let Some(a) = v.pointer_mut(array_ptr).and_then(|a| a.as_array_mut()) {
                    a.clear();
                }
            })
        }
    }

    #[test]
    fn back_references_never_count() {
        let mut v = get_after_put();
        v["properties"]["backendAddressPools"][0]["properties"]["backendIPConfigurations"] =
            serde_json::json!([]);
        v["properties"]["probes"][0]["properties"]["loadBalancingRules"] = serde_json::json!([]);
        v["properties"]["frontendIPConfigurations"][0]["properties"]["loadBalancingRules"] =
            serde_json::json!([]);
        v["properties"]["frontendIPConfigurations"][0]["properties"]["inboundNatRules"] =
            serde_json::json!([{"id": "/x"}]);
        assert!(LoadBalancer::diff(&desired(), &observed(v)).is_empty());
    }
}
