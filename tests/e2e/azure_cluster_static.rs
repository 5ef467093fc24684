//! AzureCluster static placement: machines join an existing VNet's subnets; azop checks the
//! existing VNet, subnets and NSGs (read-only) and never changes or deletes them.

#![allow(clippy::unwrap_used)]

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use reqwest::Method;
use serde_json::{Value, json};

const NET: &str = "2024-03-01";
const HUB: &str = "rg-net-hub";
const VNET: &str = "vnet-spoke";
const CP_SUBNET: &str = "snet-k8s-cp";
const WORKER_SUBNET: &str = "snet-k8s-nodes";
const CP_NSG: &str = "nsg-k8s-cp";
const WORKER_NSG: &str = "nsg-k8s-nodes";

fn nsg_path(name: &str) -> String {
    resource_path(HUB, "Microsoft.Network/networkSecurityGroups", name)
}

fn vnet_path() -> String {
    resource_path(HUB, "Microsoft.Network/virtualNetworks", VNET)
}

fn subnet_path(name: &str) -> String {
    format!("{}/subnets/{name}", vnet_path())
}

fn existing_paths() -> Vec<String> {
    vec![
        vnet_path(),
        subnet_path(CP_SUBNET),
        subnet_path(WORKER_SUBNET),
        nsg_path(CP_NSG),
        nsg_path(WORKER_NSG),
    ]
}

/// The hub network, as a network team would have built it: a VNet with two subnets, each
/// with its NSG; the control-plane NSG lets 6443 in when `allow_api` is set.
async fn build_hub(world: &World, allow_api: bool) {
    world
        .arm(
            Method::PUT,
            &rg_path(HUB),
            "2021-04-01",
            Some(json!({"location": "westeurope", "tags": {"team": "network"}})),
        )
        .await
        .unwrap();
    let rules = if allow_api {
        json!([{"name": "allow-k8s-api", "properties": {
            "priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "*", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "6443"}}])
    } else {
        json!([{"name": "allow-ssh", "properties": {
            "priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "*", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "22"}}])
    };
    for (name, rules) in [(CP_NSG, rules), (WORKER_NSG, json!([]))] {
        world
            .arm(
                Method::PUT,
                &nsg_path(name),
                NET,
                Some(
                    json!({"location": "westeurope", "tags": {"team": "network"},
                    "properties": {"securityRules": rules}}),
                ),
            )
            .await
            .unwrap();
    }
    let nsg_id = |n: &str| nsg_path(n);
    world
        .arm(
            Method::PUT,
            &vnet_path(),
            NET,
            Some(
                json!({"location": "westeurope", "tags": {"team": "network"}, "properties": {
                "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
                "subnets": [
                    {"name": CP_SUBNET, "properties": {"addressPrefix": "10.20.0.0/24",
                        "networkSecurityGroup": {"id": nsg_id(CP_NSG)}}},
                    {"name": WORKER_SUBNET, "properties": {"addressPrefix": "10.20.4.0/22",
                        "networkSecurityGroup": {"id": nsg_id(WORKER_NSG)}}},
                ]}}),
            ),
        )
        .await
        .unwrap();
}

fn static_cluster(name: &str, rg: &str) -> Value {
    let mut c = cluster(name, rg, 2);
    c["spec"]["network"] = json!({
        "existingVnet": {"resourceGroup": HUB, "name": VNET},
        "vnetCidr": "10.20.0.0/16",
        "controlPlaneSubnet": {"name": CP_SUBNET, "cidr": "10.20.0.0/24", "securityGroupName": CP_NSG},
        "workerSubnet": {"name": WORKER_SUBNET, "cidr": "10.20.4.0/22", "securityGroupName": WORKER_NSG},
    });
    c
}

/// The existing resources as GET shows them, minus the read-only back-references ARM adds
/// when something joins a subnet (`ipConfigurations`): those change without anyone writing
/// the subnet, and are checked separately. Etags stay in, so any write shows.
async fn snapshot(world: &World) -> Vec<Value> {
    let mut out = Vec::new();
    for p in existing_paths() {
        let mut v = world.arm(Method::GET, &p, NET, None).await.unwrap();
        strip_backrefs(&mut v);
        out.push(v);
    }
    out
}

fn strip_backrefs(v: &mut Value) {
    if let Some(props) = v.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove("ipConfigurations");
        if let Some(subnets) = props.get_mut("subnets").and_then(Value::as_array_mut) {
            for s in subnets {
                strip_backrefs(s);
            }
        }
    }
}

/// The operator's writes that touched the hub resource group.
fn writes_to_hub(world: &World) -> Vec<(String, String, u16)> {
    let hub = format!("/resourcegroups/{HUB}/").to_ascii_lowercase();
    operator_writes(world)
        .into_iter()
        .filter(|(_, p, _)| {
            p.contains(&hub) || p.ends_with(&format!("/resourcegroups/{HUB}").to_ascii_lowercase())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_join_the_existing_subnets_which_stay_untouched_and_survive_delete() {
    let world = World::new("azc-static", SimConfig::default())
        .await
        .unwrap();
    build_hub(&world, true).await;
    let before = snapshot(&world).await;
    let op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let rg = "rg-e2e-static";
    create(&world, static_cluster("st", rg)).await.unwrap();
    or_dump(wait_ready(&world, "st").await, &[&op]);

    // NICs sit in the existing subnets, by role.
    let inv = world.sim.inventory();
    let nics = by_type(&inv, NIC_TYPE);
    assert_eq!(nics.len(), 5, "{:?}", names_of(&inv, NIC_TYPE));
    for nic in nics {
        let name = nic["name"].as_str().unwrap();
        let subnet = nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
            .as_str()
            .unwrap();
        let want = if name.starts_with("st-cp-") {
            subnet_path(CP_SUBNET)
        } else {
            subnet_path(WORKER_SUBNET)
        };
        assert!(
            subnet.eq_ignore_ascii_case(&want),
            "{name} is in {subnet}, want {want}"
        );
    }
    // ARM's back-references agree: 3 NICs in the control-plane subnet, 2 in the worker one.
    for (subnet, n) in [(CP_SUBNET, 3), (WORKER_SUBNET, 2)] {
        let s = world
            .arm(Method::GET, &subnet_path(subnet), NET, None)
            .await
            .unwrap();
        let refs = s["properties"]["ipConfigurations"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(refs, n, "{subnet}: {s}");
    }
    // azop created no network of its own.
    assert!(by_type(&inv, VNET_TYPE).len() == 1 && by_type(&inv, NSG_TYPE).len() == 2);
    assert!(by_type(&inv, "Microsoft.Network/natGateways").is_empty());

    // The existing network is byte for byte what it was (etags included), and azop never
    // wrote to the hub group at all.
    assert_eq!(
        snapshot(&world).await,
        before,
        "the existing network changed"
    );
    assert_eq!(writes_to_hub(&world), Vec::<(String, String, u16)>::new());

    api(&world).delete("st", &Default::default()).await.unwrap();
    or_dump(wait_gone(&world, "st").await, &[&op]);
    assert_eq!(
        snapshot(&world).await,
        before,
        "the existing network changed on delete"
    );
    assert_eq!(writes_to_hub(&world), Vec::<(String, String, u16)>::new());
    // Only the hub is left: its group, VNet (with subnets), NSGs.
    let left: Vec<(String, String)> = top_level_inventory(&world);
    assert_eq!(
        left,
        vec![
            (
                "microsoft.network/networksecuritygroups".to_string(),
                CP_NSG.to_string()
            ),
            (
                "microsoft.network/networksecuritygroups".to_string(),
                WORKER_NSG.to_string()
            ),
            (
                "microsoft.network/virtualnetworks".to_string(),
                VNET.to_string()
            ),
            (
                "microsoft.resources/resourcegroups".to_string(),
                HUB.to_string()
            ),
        ]
    );
    // The subnets are empty again.
    for subnet in [CP_SUBNET, WORKER_SUBNET] {
        let s = world
            .arm(Method::GET, &subnet_path(subnet), NET, None)
            .await
            .unwrap();
        assert!(
            s["properties"]["ipConfigurations"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{s}"
        );
    }
    assert_secret_not_logged(&op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_nsg_without_6443_is_reported_and_nothing_is_written() {
    let world = World::new("azc-static-bad", SimConfig::default())
        .await
        .unwrap();
    build_hub(&world, false).await;
    let before = snapshot(&world).await;
    let op = world.start_operator("a", &[]).unwrap();
    let created = create(&world, static_cluster("st", "rg-e2e-static-bad"))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let obj = or_dump(
        wait_object(&world, "st", "StaticPlacementInvalid", TIMEOUT, |o| {
            condition(o, "Ready").is_some_and(|c| c.0 == "False" && c.1 == "StaticPlacementInvalid")
        })
        .await,
        &[&op],
    );
    let (_, _, message) = condition(&obj, "Ready").unwrap();
    assert!(
        message.contains(CP_NSG) && message.contains("6443"),
        "the condition must name the NSG and the port: {message}"
    );
    // The same explanation reaches `kubectl get events`.
    let note = wait_event(&world, &uid, "StaticPlacementInvalid", "6443")
        .await
        .unwrap();
    assert!(note.contains(CP_NSG), "{note}");
    // Reads only: not a single write, anywhere (not even the cluster's own group). The
    // check runs before any write of a pass, and its pass ended with this condition.
    assert_eq!(operator_writes(&world), Vec::<(String, String, u16)>::new());
    assert_eq!(snapshot(&world).await, before);
    assert!(
        find(
            &world.sim.inventory(),
            "Microsoft.Resources/resourceGroups",
            "rg-e2e-static-bad"
        )
        .is_none()
    );

    // Fixing the NSG (as the network team would) lets the cluster through.
    build_hub(&world, true).await;
    // azop re-checks a static-placement problem every 30 s, reads only.
    or_dump(wait_ready(&world, "st").await, &[&op]);
    assert_secret_not_logged(&op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_load_balancer_gets_a_private_frontend_and_no_public_ip() {
    let world = World::new("azc-internal", SimConfig::default())
        .await
        .unwrap();
    build_hub(&world, true).await;
    let op = world.start_operator("a", &[]).unwrap();
    let mut c = static_cluster("in", "rg-e2e-internal");
    c["spec"]["network"]["apiServerLoadBalancer"] = json!({"type": "Internal"});
    create(&world, c).await.unwrap();
    let obj = or_dump(wait_ready(&world, "in").await, &[&op]);

    let inv = world.sim.inventory();
    assert!(
        by_type(&inv, "Microsoft.Network/publicIPAddresses").is_empty(),
        "an internal cluster must have no public IP: {:?}",
        names_of(&inv, "Microsoft.Network/publicIPAddresses")
    );
    let lb = find(&inv, "Microsoft.Network/loadBalancers", "in-internal-lb").expect("internal lb");
    let fe = &lb["properties"]["frontendIPConfigurations"][0]["properties"];
    assert!(
        fe["subnet"]["id"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&subnet_path(CP_SUBNET)),
        "{fe}"
    );
    let private_ip = fe["privateIPAddress"]
        .as_str()
        .expect("private frontend address");
    assert!(private_ip.starts_with("10.20.0."), "{private_ip}");
    assert_eq!(
        obj.data["status"]["controlPlaneEndpoint"]["host"],
        private_ip
    );
    assert_eq!(
        obj.data["status"]["azureNames"]["loadBalancer"],
        "in-internal-lb"
    );
}
