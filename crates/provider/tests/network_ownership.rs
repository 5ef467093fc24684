//! Ownership against azop-armsim: network resources that do not carry this object's uid
//! are never changed or deleted, and static placement only ever reads (`network::existing`).
#![allow(clippy::unwrap_used)]

use azop_armsim::{RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::network::network_security_group::{
    NetworkSecurityGroup, NetworkSecurityGroupKey, NetworkSecurityGroupSpec, SecurityRuleSpec,
};
use azop_provider::resources::network::virtual_network::{
    SubnetSpec, VirtualNetwork, VirtualNetworkKey, VirtualNetworkSpec,
};
use azop_provider::resources::network::{API_VERSION, existing, ids};
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::{self, DeleteOutcome, EnsureOutcome, Owner};
use std::collections::BTreeMap;
use std::time::Duration;

mod common;
use common::{creds, provider};

const SUB: &str = "00000000-0000-0000-0000-0000000000d1";
const RG: &str = "rg-shared-net";

fn writes(sim: &RunningSim) -> usize {
    sim.requests(&RequestFilter::default())
        .iter()
        .filter(|r| {
            r.method != "GET"
                && r.path
                    .to_ascii_lowercase()
                    .contains("/providers/microsoft.network/")
        })
        .count()
}

#[tokio::test]
async fn foreign_network_resources_are_never_changed_or_deleted_and_existing_ones_only_read() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let s = provider(&sim).session(&creds(), SUB).unwrap();
    let me = Owner::new("AzureCluster", "team-a", "prod", "uid-mine");
    resources::ensure::<ResourceGroup>(
        &s,
        &ResourceGroupKey { name: RG.into() },
        &ResourceGroupSpec {
            location: "westeurope".into(),
            tags: BTreeMap::new(),
        },
        &me,
    )
    .await
    .unwrap();

    // The platform team's network, created outside azop (no azop tags at all).
    let nsg_path = ids::network_security_group(SUB, RG, "shared-nsg");
    let nsg_body =
        serde_json::json!({"location": "westeurope", "properties": {"securityRules": []}});
    s.call(
        azure_core::Method::Put,
        &nsg_path,
        API_VERSION,
        Some(&nsg_body),
    )
    .await
    .unwrap();
    let vnet_path = ids::virtual_network(SUB, RG, "shared-vnet");
    let vnet_body = serde_json::json!({
        "location": "westeurope",
        "tags": {"azop.dev_uid": "uid-someone-else"},
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]},
            "subnets": [{"name": "nodes", "properties": {
                "addressPrefix": "10.50.1.0/24",
                "networkSecurityGroup": {"id": nsg_path},
                "serviceEndpoints": [{"service": "Microsoft.Storage"}]
            }}]
        }
    });
    s.call(
        azure_core::Method::Put,
        &vnet_path,
        API_VERSION,
        Some(&vnet_body),
    )
    .await
    .unwrap();
    let writes_before = writes(&sim);

    // ensure and delete on resources that are not ours: no PUT, no DELETE.
    let nsg_key = NetworkSecurityGroupKey {
        resource_group: RG.into(),
        name: "shared-nsg".into(),
    };
    let nsg_spec = NetworkSecurityGroupSpec {
        location: "westeurope".into(),
        rules: vec![SecurityRuleSpec::allow_tcp_in(
            "apiserver",
            100,
            "*",
            "6443",
        )],
        tags: BTreeMap::new(),
    };
    assert_eq!(
        resources::ensure::<NetworkSecurityGroup>(&s, &nsg_key, &nsg_spec, &me)
            .await
            .unwrap(),
        EnsureOutcome::NotOwned
    );
    assert_eq!(
        resources::delete::<NetworkSecurityGroup>(&s, &nsg_key, &me)
            .await
            .unwrap(),
        DeleteOutcome::NotOwned
    );
    let vnet_key = VirtualNetworkKey {
        resource_group: RG.into(),
        name: "shared-vnet".into(),
    };
    let vnet_spec = VirtualNetworkSpec {
        location: "westeurope".into(),
        address_prefixes: vec!["10.60.0.0/16".into()],
        subnets: vec![SubnetSpec {
            name: "mine".into(),
            address_prefix: "10.60.0.0/24".into(),
            network_security_group_id: None,
            nat_gateway_id: None,
            service_endpoints: vec![],
        }],
        tags: BTreeMap::new(),
    };
    assert_eq!(
        resources::ensure::<VirtualNetwork>(&s, &vnet_key, &vnet_spec, &me)
            .await
            .unwrap(),
        EnsureOutcome::NotOwned
    );
    assert_eq!(
        resources::delete::<VirtualNetwork>(&s, &vnet_key, &me)
            .await
            .unwrap(),
        DeleteOutcome::NotOwned
    );

    // Static placement reads the existing network.
    let vnet = existing::virtual_network(&s, RG, "shared-vnet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vnet.address_prefixes(), ["10.50.0.0/16".to_owned()]);
    let subnet = existing::subnet(&s, RG, "shared-vnet", "nodes")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subnet.properties.prefixes(), vec!["10.50.1.0/24"]);
    assert!(
        subnet
            .properties
            .network_security_group_id()
            .is_some_and(|id| id.eq_ignore_ascii_case(&nsg_path))
    );
    assert!(existing::subnet_problems(&subnet, &["Microsoft.Storage"]).is_empty());
    let nsg = existing::network_security_group(&s, RG, "shared-nsg")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nsg.properties.default_security_rules.len(), 6);
    assert!(
        existing::subnet(&s, RG, "shared-vnet", "absent")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        existing::virtual_network(&s, "rg-missing", "v")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(writes(&sim), writes_before, "nothing foreign was written");
    let vnet = existing::virtual_network(&s, RG, "shared-vnet")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vnet.properties.subnets.len(), 1);
    assert!(vnet.subnet("mine").is_none());
}

#[tokio::test]
async fn ensure_twice_is_one_put_for_an_owned_nsg_and_vnet() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let s = provider(&sim).session(&creds(), SUB).unwrap();
    let me = Owner::new("AzureCluster", "team-a", "prod", "uid-mine");
    resources::ensure::<ResourceGroup>(
        &s,
        &ResourceGroupKey { name: RG.into() },
        &ResourceGroupSpec {
            location: "westeurope".into(),
            tags: BTreeMap::new(),
        },
        &me,
    )
    .await
    .unwrap();
    let nsg_key = NetworkSecurityGroupKey {
        resource_group: RG.into(),
        name: "mine-nsg".into(),
    };
    let nsg_spec = NetworkSecurityGroupSpec {
        location: "westeurope".into(),
        rules: vec![SecurityRuleSpec::allow_tcp_in(
            "apiserver",
            100,
            "*",
            "6443",
        )],
        tags: BTreeMap::new(),
    };
    let vnet_key = VirtualNetworkKey {
        resource_group: RG.into(),
        name: "mine-vnet".into(),
    };
    let vnet_spec = VirtualNetworkSpec {
        location: "westeurope".into(),
        address_prefixes: vec!["10.70.0.0/16".into()],
        subnets: vec![SubnetSpec {
            name: "nodes".into(),
            address_prefix: "10.70.0.0/24".into(),
            network_security_group_id: Some(ids::network_security_group(SUB, RG, "mine-nsg")),
            nat_gateway_id: None,
            service_endpoints: vec![],
        }],
        tags: BTreeMap::new(),
    };
    for _ in 0..2 {
        // A PUT that started an operation is followed by polls here; the next ensure then
        // reads the settled resource.
        for out in [
            resources::ensure::<NetworkSecurityGroup>(&s, &nsg_key, &nsg_spec, &me)
                .await
                .unwrap(),
            resources::ensure::<VirtualNetwork>(&s, &vnet_key, &vnet_spec, &me)
                .await
                .unwrap(),
        ] {
            if let EnsureOutcome::Started { handle, .. } = out {
                loop {
                    match s.poll_once(&handle).await.unwrap() {
                        azop_provider::PollOutcome::InProgress { .. } => {
                            tokio::time::sleep(Duration::from_millis(50)).await
                        }
                        azop_provider::PollOutcome::Succeeded { .. } => break,
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }
    let puts = |p: &str| {
        sim.requests(&RequestFilter {
            method: Some("PUT".into()),
            path: Some(p.into()),
            ..RequestFilter::default()
        })
        .len()
    };
    assert_eq!(puts("/networkSecurityGroups/mine-nsg"), 1);
    assert_eq!(puts("/virtualNetworks/mine-vnet"), 1);
}
