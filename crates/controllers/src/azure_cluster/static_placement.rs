//! Static placement: the existing VNet, subnets and NSGs are checked — read-only — before
//! anything is written. azop never changes or deletes them.

use azop_api::v1alpha1::azure_cluster::{AzureClusterSpec, SubnetSpec};
use azop_provider::resources::network::existing;
use azop_provider::resources::network::network_security_group::ObservedNetworkSecurityGroup;
use azop_provider::{ArmSession, AzureError};
use ipnet::Ipv4Net;

/// Does a port-range expression (`*`, `6443`, `6000-7000`) cover `port`? Pure.
pub fn range_covers(range: &str, port: u16) -> bool {
    let range = range.trim();
    if range == "*" {
        return true;
    }
    match range.split_once('-') {
        Some((lo, hi)) => match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
            (Ok(lo), Ok(hi)) => lo <= port && port <= hi,
            _ => false,
        },
        None => range.parse::<u16>() == Ok(port),
    }
}

/// Does the NSG let inbound TCP `port` in? The lowest-priority-number inbound rule that
/// matches the port and TCP decides, as Azure evaluates them. Pure.
pub fn allows_inbound_tcp(nsg: &ObservedNetworkSecurityGroup, port: u16) -> bool {
    let mut rules: Vec<_> = nsg
        .properties
        .security_rules
        .iter()
        .chain(nsg.properties.default_security_rules.iter())
        .map(|r| &r.properties)
        .filter(|p| {
            p.direction
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("Inbound"))
        })
        .filter(|p| {
            p.protocol
                .as_deref()
                .is_some_and(|x| x == "*" || x.eq_ignore_ascii_case("Tcp"))
        })
        .filter(|p| {
            p.destination_port_range
                .as_deref()
                .is_some_and(|r| range_covers(r, port))
        })
        .filter(|p| {
            // Rules limited to the VNet or the load balancer do not let clients in.
            p.source_address_prefix.as_deref().is_some_and(|s| {
                !s.eq_ignore_ascii_case("VirtualNetwork")
                    && !s.eq_ignore_ascii_case("AzureLoadBalancer")
            })
        })
        .collect();
    rules.sort_by_key(|p| p.priority.unwrap_or(i32::MAX));
    rules.first().is_some_and(|p| {
        p.access
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("Allow"))
    })
}

fn inside(vnet_prefixes: &[Ipv4Net], subnet: &str) -> bool {
    subnet
        .parse::<Ipv4Net>()
        .is_ok_and(|s| vnet_prefixes.iter().any(|v| v.contains(&s)))
}

/// `None` when the existing network can host the cluster (or placement is dynamic);
/// otherwise every problem found, in one message that says what to fix.
pub async fn check(
    session: &ArmSession,
    spec: &AzureClusterSpec,
) -> Result<Option<String>, AzureError> {
    let Some(vnet_ref) = &spec.network.existing_vnet else {
        return Ok(None);
    };
    let rg = &vnet_ref.resource_group;
    let Some(vnet) = existing::virtual_network(session, rg, &vnet_ref.name).await? else {
        return Ok(Some(format!(
            "static placement: VNet {} does not exist in resource group {rg}: create it, or fix spec.network.existingVnet",
            vnet_ref.name
        )));
    };
    let prefixes: Vec<Ipv4Net> = vnet
        .properties
        .address_space
        .as_ref()
        .map(|a| {
            a.address_prefixes
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    if let Some(cidr) = &spec.network.vnet_cidr
        && !inside(&prefixes, cidr)
    {
        problems.push(format!(
            "spec.network.vnetCidr {cidr} is not in the address space of VNet {} ({})",
            vnet_ref.name,
            prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let subnets: [(&str, &Option<SubnetSpec>, bool); 2] = [
        (
            "controlPlaneSubnet",
            &spec.network.control_plane_subnet,
            true,
        ),
        ("workerSubnet", &spec.network.worker_subnet, false),
    ];
    for (field, subnet, control_plane) in subnets {
        let Some(s) = subnet else { continue };
        let check = SubnetCheck {
            field,
            spec: s,
            control_plane,
            resource_group: rg,
            vnet: &vnet_ref.name,
            vnet_prefixes: &prefixes,
        };
        problems.extend(check.problems(session).await?);
    }
    Ok((!problems.is_empty()).then(|| format!("static placement: {}", problems.join("; "))))
}

/// One named subnet of static placement, checked against what Azure has.
struct SubnetCheck<'a> {
    /// `controlPlaneSubnet` or `workerSubnet`.
    field: &'a str,
    spec: &'a SubnetSpec,
    control_plane: bool,
    resource_group: &'a str,
    vnet: &'a str,
    vnet_prefixes: &'a [Ipv4Net],
}

impl SubnetCheck<'_> {
    /// Every problem of the subnet: missing, outside the VNet, another CIDR than the spec's,
    /// its NSG missing, not attached, or (control plane) not letting the API server in.
    async fn problems(&self, session: &ArmSession) -> Result<Vec<String>, AzureError> {
        let (field, vnet, rg) = (self.field, self.vnet, self.resource_group);
        let name = self.spec.name.clone().unwrap_or_default();
        let Some(observed) = existing::subnet(session, rg, vnet, &name).await? else {
            return Ok(vec![format!(
                "spec.network.{field}.name: subnet {name} does not exist in VNet {vnet}"
            )]);
        };
        let mut problems: Vec<String> = existing::subnet_problems(&observed, &[])
            .into_iter()
            .map(|p| format!("spec.network.{field}: {p}"))
            .collect();
        let actual = observed.properties.prefixes();
        for prefix in actual.iter().filter(|p| !inside(self.vnet_prefixes, p)) {
            problems.push(format!("subnet {name} ({prefix}) lies outside VNet {vnet}"));
        }
        if let Some(cidr) = &self.spec.cidr
            && !actual.iter().any(|a| a == cidr)
        {
            problems.push(format!(
                "spec.network.{field}.cidr is {cidr} but subnet {name} has {}: make them match",
                actual.join(", ")
            ));
        }
        let nsg_name = self.spec.security_group_name.clone().unwrap_or_default();
        let Some(nsg) = existing::network_security_group(session, rg, &nsg_name).await? else {
            problems.push(format!(
                "spec.network.{field}.securityGroupName: NSG {nsg_name} does not exist in resource group {rg}"
            ));
            return Ok(problems);
        };
        let attached = observed
            .properties
            .network_security_group_id()
            .is_some_and(|id| {
                id.rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&nsg_name))
            });
        if !attached {
            problems.push(format!(
                "NSG {nsg_name} is not attached to subnet {name}: attach it, or name the subnet's NSG"
            ));
        }
        if self.control_plane && !allows_inbound_tcp(&nsg, 6443) {
            problems.push(format!(
                "NSG {nsg_name} of the control-plane subnet does not allow inbound TCP 6443: add an Allow rule for the API server port"
            ));
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nsg(rules: serde_json::Value) -> ObservedNetworkSecurityGroup {
        serde_json::from_value(serde_json::json!({"properties": {"securityRules": rules}}))
            .expect("nsg")
    }

    fn rule(priority: i32, access: &str, port: &str, source: &str) -> serde_json::Value {
        serde_json::json!({"name": format!("r{priority}"), "properties": {
            "priority": priority, "direction": "Inbound", "access": access, "protocol": "Tcp",
            "sourceAddressPrefix": source, "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": port}})
    }

    #[test]
    fn port_ranges() {
        assert!(range_covers("*", 6443));
        assert!(range_covers("6443", 6443));
        assert!(range_covers("6000-7000", 6443));
        assert!(!range_covers("22", 6443));
        assert!(!range_covers("bogus", 6443));
    }

    #[test]
    fn the_first_matching_rule_by_priority_decides() {
        assert!(allows_inbound_tcp(
            &nsg(serde_json::json!([rule(100, "Allow", "6443", "*")])),
            6443
        ));
        assert!(!allows_inbound_tcp(&nsg(serde_json::json!([])), 6443));
        assert!(!allows_inbound_tcp(
            &nsg(serde_json::json!([
                rule(100, "Deny", "*", "Internet"),
                rule(200, "Allow", "6443", "*")
            ])),
            6443
        ));
        assert!(!allows_inbound_tcp(
            &nsg(serde_json::json!([rule(
                100,
                "Allow",
                "6443",
                "VirtualNetwork"
            )])),
            6443
        ));
    }
}
