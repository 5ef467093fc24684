//! Network security groups with their rules inline. The rule list azop sends is the whole
//! list: a rule someone added by hand is drift (the NSG is ours). The six
//! `defaultSecurityRules` every response carries are Azure's and never count; rule order
//! never matters (rules are compared by name).

use super::{API_VERSION, get_via_mgmt, send_via_mgmt, uid_tag};
use crate::arm::{ArmSession, RawResponse};
use crate::error::AzureError;
use crate::resources::diff::{Diff, tags_to_value};
use crate::resources::{ArmResource, Difference, Owner};
use azure_mgmt_network::models::{
    NetworkSecurityGroup as NsgModel, NetworkSecurityGroupPropertiesFormat, SecurityRule,
    SecurityRuleAccess, SecurityRuleDirection, SecurityRulePropertiesFormat,
    security_rule_properties_format::Protocol,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct NetworkSecurityGroup;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSecurityGroupKey {
    pub resource_group: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDirection {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAccess {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProtocol {
    Tcp,
    Udp,
    Icmp,
    /// `*`
    Any,
}

impl RuleProtocol {
    fn wire(self) -> &'static str {
        match self {
            RuleProtocol::Tcp => "Tcp",
            RuleProtocol::Udp => "Udp",
            RuleProtocol::Icmp => "Icmp",
            RuleProtocol::Any => "*",
        }
    }
}

/// One security rule. Prefixes accept what Azure accepts: a CIDR, an IP, `*` or a service
/// tag (`VirtualNetwork`, `Internet`, `AzureLoadBalancer`); port ranges `*`, `22`, `80-90`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityRuleSpec {
    pub name: String,
    /// 100–4096, unique per direction (the API crate validates).
    pub priority: i32,
    pub direction: RuleDirection,
    pub access: RuleAccess,
    pub protocol: RuleProtocol,
    pub source_address_prefix: String,
    pub source_port_range: String,
    pub destination_address_prefix: String,
    pub destination_port_range: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSecurityGroupSpec {
    pub location: String,
    pub rules: Vec<SecurityRuleSpec>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedNetworkSecurityGroup {
    pub id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: ObservedNsgProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNsgProperties {
    pub provisioning_state: Option<String>,
    #[serde(default)]
    pub security_rules: Vec<ObservedSecurityRule>,
    /// Azure's six defaults: read, never compared.
    #[serde(default)]
    pub default_security_rules: Vec<ObservedSecurityRule>,
    /// Back-references: read, never compared.
    #[serde(default)]
    pub subnets: Vec<super::ObservedRef>,
    #[serde(default)]
    pub network_interfaces: Vec<super::ObservedRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ObservedSecurityRule {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: ObservedRuleProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRuleProperties {
    pub priority: Option<i32>,
    pub direction: Option<String>,
    pub access: Option<String>,
    pub protocol: Option<String>,
    pub source_address_prefix: Option<String>,
    pub source_port_range: Option<String>,
    pub destination_address_prefix: Option<String>,
    pub destination_port_range: Option<String>,
    pub description: Option<String>,
}

fn rule_model(r: &SecurityRuleSpec) -> SecurityRule {
    let mut props = SecurityRulePropertiesFormat::new(
        match r.protocol {
            RuleProtocol::Tcp => Protocol::Tcp,
            RuleProtocol::Udp => Protocol::Udp,
            RuleProtocol::Icmp => Protocol::Icmp,
            RuleProtocol::Any => Protocol::U2a,
        },
        match r.access {
            RuleAccess::Allow => SecurityRuleAccess::Allow,
            RuleAccess::Deny => SecurityRuleAccess::Deny,
        },
        r.priority,
        match r.direction {
            RuleDirection::Inbound => SecurityRuleDirection::Inbound,
            RuleDirection::Outbound => SecurityRuleDirection::Outbound,
        },
    );
    props.source_address_prefix = Some(r.source_address_prefix.clone());
    props.source_port_range = Some(r.source_port_range.clone());
    props.destination_address_prefix = Some(r.destination_address_prefix.clone());
    props.destination_port_range = Some(r.destination_port_range.clone());
    props.description = r.description.clone();
    let mut rule = SecurityRule::new();
    rule.name = Some(r.name.clone());
    rule.properties = Some(props);
    rule
}

/// The wire strings of a rule, for comparison: (field, value).
fn rule_fields(p: &ObservedRuleProperties) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("priority", p.priority.map(|v| v.to_string())),
        ("direction", p.direction.clone()),
        ("access", p.access.clone()),
        ("protocol", p.protocol.clone()),
        ("sourceAddressPrefix", p.source_address_prefix.clone()),
        ("sourcePortRange", p.source_port_range.clone()),
        (
            "destinationAddressPrefix",
            p.destination_address_prefix.clone(),
        ),
        ("destinationPortRange", p.destination_port_range.clone()),
    ]
}

/// The desired rule in the observed shape, so both sides go through [`rule_fields`].
fn as_observed(rule: &SecurityRule) -> ObservedRuleProperties {
    serde_json::to_value(&rule.properties)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl ArmResource for NetworkSecurityGroup {
    type Key = NetworkSecurityGroupKey;
    type Spec = NetworkSecurityGroupSpec;
    type Body = NsgModel;
    type Observed = ObservedNetworkSecurityGroup;

    const RESOURCE_TYPE: &'static str = "Microsoft.Network/networkSecurityGroups";
    const API_VERSION: &'static str = API_VERSION;
    const CREATE_ONLY: bool = true;

    fn path(subscription_id: &str, key: &Self::Key) -> String {
        super::ids::network_security_group(subscription_id, &key.resource_group, &key.name)
    }

    fn desired(_key: &Self::Key, spec: &Self::Spec, owner: &Owner) -> NsgModel {
        let mut props = NetworkSecurityGroupPropertiesFormat::new();
        props.security_rules = spec.rules.iter().map(rule_model).collect();
        let mut body = NsgModel::new();
        body.resource.location = Some(spec.location.clone());
        body.resource.tags = Some(tags_to_value(&owner.tags(&spec.tags)));
        body.properties = Some(props);
        body
    }

    fn diff(desired: &NsgModel, observed: &ObservedNetworkSecurityGroup) -> Vec<Difference> {
        let mut d = Diff::new();
        if let Some(loc) = &desired.resource.location {
            d.location(loc, observed.location.as_deref());
        }
        let want: Vec<&SecurityRule> = desired
            .properties
            .as_ref()
            .map(|p| p.security_rules.iter().collect())
            .unwrap_or_default();
        let have = &observed.properties.security_rules;
        let find = |name: &str| {
            have.iter().find(|r| {
                r.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        };
        for rule in &want {
            let name = rule.name.as_deref().unwrap_or_default();
            let field = format!("properties.securityRules[{name}]");
            let Some(o) = find(name) else {
                d.push(&field, "present", "<missing>");
                continue;
            };
            let w = as_observed(rule);
            for ((f, dv), (_, ov)) in rule_fields(&w).into_iter().zip(rule_fields(&o.properties)) {
                // Protocols and enums: Azure echoes them, but compare case-insensitively
                // as ARM treats them.
                d.ignore_case(&format!("{field}.{f}"), dv.as_deref(), ov.as_deref());
            }
            d.exact(
                &format!("{field}.description"),
                w.description.as_deref(),
                o.properties.description.as_deref(),
            );
        }
        for o in have {
            let name = o.name.as_deref().unwrap_or_default();
            let wanted = want.iter().any(|r| {
                r.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            if !wanted {
                d.push(
                    &format!("properties.securityRules[{name}]"),
                    "<absent>",
                    "present",
                );
            }
        }
        d.tags(
            &crate::resources::diff::tags_from_value(&desired.resource.tags),
            &observed.tags.clone().unwrap_or_default(),
        );
        d.finish()
    }

    fn owner_uid(observed: &ObservedNetworkSecurityGroup) -> Option<String> {
        uid_tag(&observed.tags)
    }

    async fn observe(
        session: &ArmSession,
        key: &Self::Key,
    ) -> Result<Option<ObservedNetworkSecurityGroup>, AzureError> {
        let client = session.network_client().network_security_groups_client();
        let send = client
            .get(&key.resource_group, &key.name, session.subscription_id())
            .send();
        get_via_mgmt(session, send, Self::RESOURCE_TYPE).await
    }

    async fn put(
        session: &ArmSession,
        key: &Self::Key,
        body: &NsgModel,
    ) -> Result<RawResponse, AzureError> {
        let client = session.network_client().network_security_groups_client();
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
        let client = session.network_client().network_security_groups_client();
        let send = client
            .delete(&key.resource_group, &key.name, session.subscription_id())
            .send();
        send_via_mgmt(session, send).await
    }
}

impl SecurityRuleSpec {
    /// An inbound TCP allow rule from `source` to `port` (the common case).
    pub fn allow_tcp_in(name: &str, priority: i32, source: &str, port: &str) -> Self {
        SecurityRuleSpec {
            name: name.to_owned(),
            priority,
            direction: RuleDirection::Inbound,
            access: RuleAccess::Allow,
            protocol: RuleProtocol::Tcp,
            source_address_prefix: source.to_owned(),
            source_port_range: "*".to_owned(),
            destination_address_prefix: "*".to_owned(),
            destination_port_range: port.to_owned(),
            description: None,
        }
    }

    pub fn protocol_wire(&self) -> &'static str {
        self.protocol.wire()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a PUT of this module's fixture sends (the read-only check of every kind).
    pub(crate) fn wire_body() -> (&'static str, serde_json::Value) {
        (
            NetworkSecurityGroup::RESOURCE_TYPE,
            NetworkSecurityGroup::wire(&desired()).expect("wire"),
        )
    }
    use crate::resources::network::FixtureEdit;

    fn owner() -> Owner {
        Owner::new("AzureCluster", "ns", "c1", "uid-1")
    }

    fn key() -> NetworkSecurityGroupKey {
        NetworkSecurityGroupKey {
            resource_group: "rg1".into(),
            name: "testnsg".into(),
        }
    }

    fn spec() -> NetworkSecurityGroupSpec {
        NetworkSecurityGroupSpec {
            location: "eastus".into(),
            rules: vec![
                SecurityRuleSpec {
                    name: "rule1".into(),
                    priority: 130,
                    direction: RuleDirection::Inbound,
                    access: RuleAccess::Allow,
                    protocol: RuleProtocol::Any,
                    source_address_prefix: "*".into(),
                    source_port_range: "*".into(),
                    destination_address_prefix: "*".into(),
                    destination_port_range: "80".into(),
                    description: None,
                },
                SecurityRuleSpec::allow_tcp_in("apiserver", 100, "Internet", "6443"),
            ],
            tags: BTreeMap::new(),
        }
    }

    fn default_rule(
        name: &str,
        priority: i32,
        direction: &str,
        access: &str,
        src: &str,
        dst: &str,
    ) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "id": format!("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg/defaultSecurityRules/{name}"),
            "properties": {
                "provisioningState": "Succeeded", "description": "default",
                "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                "sourceAddressPrefix": src, "destinationAddressPrefix": dst,
                "access": access, "priority": priority, "direction": direction
            }
        })
    }

    /// NetworkSecurityGroups_CreateOrUpdate, example "NetworkSecurityGroupCreateWithRule.json"
    /// (2024-03-01), re-typed: rule1 as in the example plus our apiserver rule, in a
    /// different order than sent, ids with a lower-cased resource group, our tags, a weak
    /// etag and a subnet back-reference.
    fn get_after_put() -> serde_json::Value {
        serde_json::json!({
            "name": "testnsg",
            "id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg",
            "type": "Microsoft.Network/networkSecurityGroups",
            "location": "eastus",
            "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
            "tags": {"azop.dev_owner": "AzureCluster/ns/c1", "azop.dev_uid": "uid-1"},
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": "00000000-0000-0000-0000-000000000000",
                "securityRules": [
                    {
                        "name": "apiserver",
                        "id": "/subscriptions/subid/resourcegroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg/securityRules/apiserver",
                        "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
                        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
                        "properties": {
                            "provisioningState": "Succeeded", "protocol": "Tcp",
                            "sourcePortRange": "*", "destinationPortRange": "6443",
                            "sourceAddressPrefix": "Internet", "destinationAddressPrefix": "*",
                            "access": "Allow", "priority": 100, "direction": "Inbound",
                            "sourcePortRanges": [], "destinationPortRanges": [],
                            "sourceAddressPrefixes": [], "destinationAddressPrefixes": []
                        }
                    },
                    {
                        "name": "rule1",
                        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg/securityRules/rule1",
                        "properties": {
                            "provisioningState": "Succeeded", "protocol": "*",
                            "sourcePortRange": "*", "destinationPortRange": "80",
                            "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                            "access": "Allow", "priority": 130, "direction": "Inbound"
                        }
                    }
                ],
                "defaultSecurityRules": [
                    default_rule("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
                    default_rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
                    default_rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
                    default_rule("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
                    default_rule("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
                    default_rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*")
                ],
                "subnets": [{"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v/subnets/cp"}]
            }
        })
    }

    fn observed(v: serde_json::Value) -> ObservedNetworkSecurityGroup {
        serde_json::from_value(v).expect("fixture parses")
    }

    fn desired() -> NsgModel {
        NetworkSecurityGroup::desired(&key(), &spec(), &owner())
    }

    #[test]
    fn a_get_right_after_our_put_shows_no_drift() {
        let o = observed(get_after_put());
        assert_eq!(NetworkSecurityGroup::diff(&desired(), &o), vec![]);
        assert_eq!(
            NetworkSecurityGroup::owner_uid(&o).as_deref(),
            Some("uid-1")
        );
        assert_eq!(o.properties.default_security_rules.len(), 6);
    }

    #[test]
    fn desired_body_is_the_wire_shape() {
        let body = serde_json::to_value(desired()).expect("json");
        assert_eq!(body["location"], "eastus");
        assert_eq!(body["tags"]["azop.dev_uid"], "uid-1");
        let rules = body["properties"]["securityRules"]
            .as_array()
            .expect("rules");
        assert_eq!(rules[0]["name"], "rule1");
        assert_eq!(rules[0]["properties"]["protocol"], "*");
        assert_eq!(rules[1]["properties"]["protocol"], "Tcp");
        assert_eq!(rules[1]["properties"]["destinationPortRange"], "6443");
        assert_eq!(rules[1]["properties"]["priority"], 100);
        assert!(body["properties"].get("defaultSecurityRules").is_none());
    }

    #[test]
    fn each_managed_field_is_drift() {
        let rule = "/properties/securityRules/0/properties";
        let cases: Vec<(&str, FixtureEdit)> = vec![
            ("location", Box::new(|v| v["location"] = "westus".into())),
            (
                "tags",
                Box::new(|v| v["tags"]["azop.dev_owner"] = "x".into()),
            ),
            (
                "properties.securityRules[apiserver].priority",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/priority")).expect("p") = 200.into()
                }),
            ),
            (
                "properties.securityRules[apiserver].direction",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/direction")).expect("p") = "Outbound".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].access",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/access")).expect("p") = "Deny".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].protocol",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/protocol")).expect("p") = "Udp".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].sourceAddressPrefix",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/sourceAddressPrefix"))
                        .expect("p") = "10.0.0.0/8".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].sourcePortRange",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/sourcePortRange"))
                        .expect("p") = "1000".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].destinationAddressPrefix",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/destinationAddressPrefix"))
                        .expect("p") = "10.0.0.4".into()
                }),
            ),
            (
                "properties.securityRules[apiserver].destinationPortRange",
                Box::new(move |v| {
                    *v.pointer_mut(&format!("{rule}/destinationPortRange"))
                        .expect("p") = "22".into()
                }),
            ),
            (
                "properties.securityRules[apiserver]",
                Box::new(|v| {
                    v["properties"]["securityRules"]
                        .as_array_mut()
                        .expect("a")
                        .remove(0);
                }),
            ),
            (
                "properties.securityRules[ssh-by-hand]",
                Box::new(|v| {
                    let mut extra = v["properties"]["securityRules"][1].clone();
                    extra["name"] = "ssh-by-hand".into();
                    v["properties"]["securityRules"]
                        .as_array_mut()
                        .expect("a")
                        .push(extra);
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut v = get_after_put();
            mutate(&mut v);
            let d = NetworkSecurityGroup::diff(&desired(), &observed(v));
            assert_eq!(
                d.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{field}"
            );
        }
    }

    #[test]
    fn default_rules_and_back_references_never_count() {
        let mut v = get_after_put();
        v["properties"]["defaultSecurityRules"] = serde_json::json!([]);
        v["properties"]["subnets"] = serde_json::json!([]);
        v["properties"]["networkInterfaces"] = serde_json::json!([{"id": "/x"}]);
        v["tags"]["costCenter"] = "42".into();
        v["properties"]["provisioningState"] = "Updating".into();
        assert!(NetworkSecurityGroup::diff(&desired(), &observed(v)).is_empty());
    }
}
