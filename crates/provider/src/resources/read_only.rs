//! What a PUT body must never carry: `null`s (an unset property is left out) and the
//! properties each kind's REST spec marks read-only (`"readOnly": true` in
//! azure-rest-api-specs, at the API version the module uses). Azure ignores some of them and
//! refuses others; either way a body that carries one says something azop does not mean.
//!
//! [`problems`] is pure; the test below runs it on the wire body of every resource kind in
//! this crate (and fails when a kind is added without an entry here).

use serde_json::Value;

/// Read-only wherever they appear in any body azop sends.
pub const EVERYWHERE: &[&str] = &[
    "provisioningState",
    "resourceGuid",
    "timeCreated",
    "systemData",
    "etag",
    "eTag",
];

/// Read-only properties of one kind, as JSON pointers; `*` stands for any key or index.
pub fn read_only(resource_type: &str) -> Option<&'static [&'static str]> {
    Some(match resource_type {
        "Microsoft.Resources/resourceGroups" => &["/id", "/name", "/type", "/properties"],
        "Microsoft.Storage/storageAccounts" => &[
            "/id",
            "/properties/primaryEndpoints",
            "/properties/primaryLocation",
            "/properties/statusOfPrimary",
            "/properties/creationTime",
            "/properties/keyCreationTime",
        ],
        "Microsoft.Storage/storageAccounts/blobServices/containers" => &[
            "/id",
            "/properties/lastModifiedTime",
            "/properties/leaseStatus",
            "/properties/leaseState",
            "/properties/leaseDuration",
            "/properties/hasImmutabilityPolicy",
            "/properties/hasLegalHold",
            "/properties/deleted",
            "/properties/deletedTime",
            "/properties/remainingRetentionDays",
            "/properties/version",
        ],
        "Microsoft.Network/virtualNetworks" => &[
            "/properties/subnets/*/properties/ipConfigurations",
            "/properties/subnets/*/properties/ipConfigurationProfiles",
            "/properties/subnets/*/properties/privateEndpoints",
            "/properties/subnets/*/properties/resourceNavigationLinks",
            "/properties/subnets/*/properties/serviceAssociationLinks",
            "/properties/subnets/*/properties/purpose",
        ],
        "Microsoft.Network/networkSecurityGroups" => &[
            "/properties/defaultSecurityRules",
            "/properties/networkInterfaces",
            "/properties/subnets",
            "/properties/flowLogs",
        ],
        "Microsoft.Network/publicIPAddresses" => &["/properties/ipConfiguration"],
        "Microsoft.Network/natGateways" => &["/properties/subnets"],
        "Microsoft.Network/loadBalancers" => &[
            "/properties/frontendIPConfigurations/*/properties/inboundNatRules",
            "/properties/frontendIPConfigurations/*/properties/inboundNatPools",
            "/properties/frontendIPConfigurations/*/properties/outboundRules",
            "/properties/frontendIPConfigurations/*/properties/loadBalancingRules",
            "/properties/backendAddressPools/*/properties/backendIPConfigurations",
            "/properties/backendAddressPools/*/properties/loadBalancingRules",
            "/properties/backendAddressPools/*/properties/outboundRule",
            "/properties/backendAddressPools/*/properties/outboundRules",
            "/properties/backendAddressPools/*/properties/inboundNatRules",
            "/properties/probes/*/properties/loadBalancingRules",
        ],
        "Microsoft.Network/networkInterfaces" => &[
            "/properties/macAddress",
            "/properties/primary",
            "/properties/virtualMachine",
            "/properties/privateEndpoint",
            "/properties/hostedWorkloads",
            "/properties/dscpConfiguration",
            "/properties/vnetEncryptionSupported",
            "/properties/tapConfigurations",
        ],
        "Microsoft.Network/privateEndpoints" => &["/properties/networkInterfaces"],
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups" => {
            &["/properties/privateDnsZoneConfigs/*/properties/recordSets"]
        }
        "Microsoft.Network/privateDnsZones" => &[
            "/properties/numberOfRecordSets",
            "/properties/maxNumberOfRecordSets",
            "/properties/numberOfVirtualNetworkLinks",
            "/properties/maxNumberOfVirtualNetworkLinks",
            "/properties/numberOfVirtualNetworkLinksWithRegistration",
            "/properties/maxNumberOfVirtualNetworkLinksWithRegistration",
            "/properties/internalId",
        ],
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks" => {
            &["/properties/virtualNetworkLinkState"]
        }
        "Microsoft.Compute/virtualMachines" => &[
            "/properties/vmId",
            "/properties/instanceView",
            "/properties/timeCreated",
            "/resources",
            "/managedBy",
        ],
        "Microsoft.Compute/disks" => &[
            "/managedBy",
            "/managedByExtended",
            "/properties/timeCreated",
            "/properties/diskSizeBytes",
            "/properties/uniqueId",
            "/properties/diskState",
            "/properties/shareInfo",
            "/properties/propertyUpdatesInProgress",
            "/properties/lastOwnershipUpdateTime",
        ],
        "Microsoft.Compute/images" => &[],
        "Microsoft.ContainerService/managedClusters" => &[
            "/identity/principalId",
            "/identity/tenantId",
            "/identity/userAssignedIdentities/*/principalId",
            "/identity/userAssignedIdentities/*/clientId",
            "/properties/powerState",
            "/properties/maxAgentPools",
            "/properties/currentKubernetesVersion",
            "/properties/fqdn",
            "/properties/privateFQDN",
            "/properties/azurePortalFQDN",
            "/properties/resourceUID",
            "/properties/status",
            "/properties/oidcIssuerProfile/issuerURL",
            "/properties/addonProfiles/*/identity",
            "/properties/httpProxyConfig/effectiveNoProxy",
            "/properties/agentPoolProfiles/*/currentOrchestratorVersion",
            "/properties/agentPoolProfiles/*/status",
            "/properties/workloadAutoScalerProfile/*/status",
        ],
        "Microsoft.ContainerService/managedClusters/agentPools" => &[
            "/properties/currentOrchestratorVersion",
            "/properties/nodeImageVersion",
            "/properties/status",
        ],
        "Microsoft.ContainerService/managedClusters/maintenanceConfigurations" => {
            &["/id", "/name", "/type"]
        }
        _ => return None,
    })
}

/// Whether `path` (pointer segments) matches `pattern` (a pointer, `*` for any segment).
fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('/').skip(1).collect();
    parts.len() == path.len() && parts.iter().zip(path).all(|(p, s)| *p == "*" || p == s)
}

/// Every `null` and every read-only property in `body`, by JSON pointer (pure). A kind
/// without an entry in [`read_only`] is a problem too: its spec was not looked at.
pub fn problems(resource_type: &str, body: &Value) -> Vec<String> {
    let Some(patterns) = read_only(resource_type) else {
        return vec![format!("no read-only list for {resource_type}")];
    };
    let mut out = Vec::new();
    walk(body, &mut Vec::new(), &mut |path, v| {
        let pointer = format!("/{}", path.join("/"));
        let key = path.last().map(String::as_str).unwrap_or_default();
        if v.is_null() {
            out.push(format!("{pointer} is null"));
        } else if EVERYWHERE.contains(&key) || patterns.iter().any(|p| matches(p, path)) {
            out.push(format!("{pointer} is read-only"));
        }
    });
    out
}

/// `body` (a resource as a GET returned it) made fit to PUT back unchanged (pure): the ARM
/// envelope (`id`, `name`, `type`, `systemData`), `null`s, and every read-only property of
/// the kind removed. `None` for a kind without a read-only list.
pub fn strip(resource_type: &str, body: &Value) -> Option<Value> {
    let patterns = read_only(resource_type)?;
    fn go(v: &Value, path: &mut Vec<String>, patterns: &[&str]) -> Option<Value> {
        let key = path.last().map(String::as_str).unwrap_or_default();
        if v.is_null()
            || (!path.is_empty() && EVERYWHERE.contains(&key))
            || (path.len() == 1 && ["id", "name", "type"].contains(&key))
            || patterns.iter().any(|p| matches(p, path))
        {
            return None;
        }
        Some(match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter_map(|(k, c)| {
                        path.push(k.clone());
                        let out = go(c, path, patterns).map(|c| (k.clone(), c));
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        path.push(i.to_string());
                        let out = go(c, path, patterns);
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            other => other.clone(),
        })
    }
    go(body, &mut Vec::new(), patterns)
}

fn walk(v: &Value, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Value)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone());
                f(path, child);
                walk(child, path, f);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.to_string());
                f(path, child);
                walk(child, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{
        blob_container, compute, containerservice, network, resource_group, storage_account,
    };
    use std::collections::BTreeSet;

    /// The wire body of every kind, from each module's own fixture.
    fn bodies() -> Vec<(&'static str, Value)> {
        vec![
            resource_group::tests::wire_body(),
            storage_account::tests::wire_body(),
            blob_container::tests::wire_body(),
            network::virtual_network::tests::wire_body(),
            network::network_security_group::tests::wire_body(),
            network::public_ip::tests::wire_body(),
            network::nat_gateway::tests::wire_body(),
            network::load_balancer::tests::wire_body(),
            network::network_interface::tests::wire_body(),
            compute::virtual_machine::tests::wire_body(),
            compute::managed_disk::tests::wire_body(),
            compute::image::tests::wire_body(),
            containerservice::managed_cluster::tests::wire_body(),
            containerservice::agent_pool::tests::wire_body(),
            containerservice::maintenance_configuration::tests::wire_body(),
        ]
        .into_iter()
        .chain(network::private_endpoint::tests::wire_bodies())
        .collect()
    }

    #[test]
    fn a_stripped_get_carries_nothing_read_only() {
        let pool = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/agentPools/p",
            "name": "p",
            "type": "Microsoft.ContainerService/managedClusters/agentPools",
            "systemData": {"createdBy": "x"},
            "properties": {
                "count": 3,
                "provisioningState": "Succeeded",
                "currentOrchestratorVersion": "1.36.3",
                "nodeImageVersion": "AKSUbuntu-2204gen2-202601.01.0",
                "eTag": "e",
                "orchestratorVersion": "1.36",
                "powerState": {"code": "Running"},
                "status": {"provisioningError": null},
                "tags": {"team": "a"},
                "upgradeSettings": {"maxSurge": "10%", "drainTimeoutInMinutes": null}
            }
        });
        let kind = "Microsoft.ContainerService/managedClusters/agentPools";
        let out = strip(kind, &pool).expect("known kind");
        assert!(problems(kind, &out).is_empty(), "{out}");
        assert_eq!(
            out,
            serde_json::json!({"properties": {
                "count": 3,
                "orchestratorVersion": "1.36",
                "powerState": {"code": "Running"},
                "tags": {"team": "a"},
                "upgradeSettings": {"maxSurge": "10%"}
            }})
        );
        assert!(strip("Microsoft.Unknown/things", &pool).is_none());
    }

    #[test]
    fn no_put_body_carries_a_null_or_a_read_only_property() {
        let mut found = Vec::new();
        for (kind, body) in bodies() {
            for p in problems(kind, &body) {
                found.push(format!("{kind}: {p}"));
            }
        }
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    /// Every `RESOURCE_TYPE` in this crate's sources has a body checked above.
    #[test]
    fn every_resource_kind_is_checked() {
        let root = std::path::Path::new(
            &std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("src/resources");
        let mut declared = BTreeSet::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // Each kind's RESOURCE_TYPE constant and its string literal (which may wrap).
                let marker = concat!("const RESOURCE_TYPE: &'static str", " =");
                for (i, _) in text.match_indices(marker) {
                    let after = text[i + marker.len()..].trim_start();
                    if let Some(lit) = after.strip_prefix('"')
                        && let Some(end) = lit.find('"')
                    {
                        declared.insert(lit[..end].to_string());
                    }
                }
            }
        }
        let checked: BTreeSet<String> = bodies().into_iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(declared, checked);
        assert!(declared.len() >= 19, "{declared:?}");
    }

    #[test]
    fn nulls_and_read_only_properties_are_found_at_any_depth() {
        let body = serde_json::json!({
            "properties": {
                "timeCreated": null,
                "vmId": "x",
                "subnets": [{"properties": {"ipConfigurations": [], "provisioningState": "Succeeded"}}]
            }
        });
        let mut p = problems("Microsoft.Compute/virtualMachines", &body);
        p.sort();
        assert_eq!(
            p,
            vec![
                "/properties/subnets/0/properties/provisioningState is read-only",
                "/properties/timeCreated is null",
                "/properties/vmId is read-only",
            ]
        );
        assert!(problems("Microsoft.Unknown/kind", &body)[0].contains("no read-only list"));
        assert_eq!(
            crate::resources::without_nulls(
                serde_json::json!({"a": null, "b": [{"c": null, "d": 1}]})
            ),
            serde_json::json!({"b": [{"d": 1}]})
        );
    }
}
