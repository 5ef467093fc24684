//! AzureCluster drift: changes made in Azure behind azop's back are corrected on the next
//! resync, and each correction is told with a `DriftCorrected` Event on the object.

#![allow(clippy::unwrap_used)]

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use reqwest::Method;
use serde_json::json;

const NET: &str = "2024-03-01";
const COMPUTE: &str = "2024-07-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_reported_with_an_event() {
    let world = World::new("azc-drift", SimConfig::default()).await.unwrap();
    let rg = "rg-e2e-drift";
    let mut op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let created = create(&world, cluster("drift", rg, 2)).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    wait_ready(&world, "drift").await.unwrap();
    let nsg_path = resource_path(
        rg,
        "Microsoft.Network/networkSecurityGroups",
        "drift-controlplane-nsg",
    );
    let vnet_path = resource_path(rg, "Microsoft.Network/virtualNetworks", "drift-vnet");
    // (a) The API server rule removed by a PUT of the NSG without it, while azop runs.
    let nsg = strip_nsg_rules(&world, &nsg_path, NET).await.unwrap();
    assert!(has_rule(&nsg, "allow-apiserver"), "{nsg}");
    // (b) A tag on the VNet changed (the whole VNet PUT back with one tag different).
    let mut vnet = world.arm(Method::GET, &vnet_path, NET, None).await.unwrap();
    vnet["tags"]["env"] = json!("tampered");
    world
        .arm(Method::PUT, &vnet_path, NET, Some(vnet))
        .await
        .unwrap();

    let note = wait_event(&world, &uid, "DriftCorrected", "drift-controlplane-nsg")
        .await
        .unwrap();
    assert!(
        note.contains("allow-apiserver") || note.contains("rule"),
        "{note}"
    );
    or_dump(
        wait_event(&world, &uid, "DriftCorrected", "drift-vnet").await,
        &[&op],
    );
    let inv = wait_inventory(&world, "NSG rule and VNet tag restored", TIMEOUT, |inv| {
        find(inv, NSG_TYPE, "drift-controlplane-nsg")
            .is_some_and(|n| has_rule(n, "allow-apiserver"))
            && find(inv, VNET_TYPE, "drift-vnet").is_some_and(|v| v["tags"]["env"] == "e2e")
    })
    .await
    .unwrap();
    let rule = &find(&inv, NSG_TYPE, "drift-controlplane-nsg").unwrap()["properties"]["securityRules"]
        [0]["properties"];
    assert_eq!(rule["destinationPortRange"], "6443", "{rule}");
    assert_eq!(rule["access"], "Allow", "{rule}");

    // (c) A worker's NIC deleted (Azure refuses to delete a NIC in use, so its VM goes
    // first). azop is stopped meanwhile: with it running, it would put the VM back between
    // the two deletes, and the NIC delete would then be refused.
    op.terminate().unwrap();
    let vm_path = resource_path(rg, "Microsoft.Compute/virtualMachines", "drift-general-1");
    let nic_path = resource_path(
        rg,
        "Microsoft.Network/networkInterfaces",
        "drift-general-1-nic",
    );
    world
        .arm(Method::DELETE, &vm_path, COMPUTE, None)
        .await
        .unwrap();
    wait_inventory(&world, "VM deleted", TIMEOUT, |inv| {
        find(inv, VM_TYPE, "drift-general-1").is_none()
    })
    .await
    .unwrap();
    world
        .arm(Method::DELETE, &nic_path, NET, None)
        .await
        .unwrap();
    wait_inventory(&world, "NIC deleted", TIMEOUT, |inv| {
        find(inv, NIC_TYPE, "drift-general-1-nic").is_none()
    })
    .await
    .unwrap();
    let op = world
        .start_operator("b", &["--resync-seconds", "1"])
        .unwrap();
    wait_event(&world, &uid, "DriftCorrected", "drift-general-1-nic")
        .await
        .unwrap();
    wait_inventory(&world, "NIC and VM recreated", TIMEOUT, |inv| {
        find(inv, NIC_TYPE, "drift-general-1-nic").is_some()
            && find(inv, VM_TYPE, "drift-general-1")
                .is_some_and(|v| v["properties"]["provisioningState"] == "Succeeded")
    })
    .await
    .unwrap();
    wait_ready(&world, "drift").await.unwrap();
    assert_eq!(
        top_level_inventory(&world),
        expected_inventory("drift", rg, &["general-0", "general-1"]),
        "after the corrections, exactly the cluster's resources"
    );

    // Corrected means settled: further resyncs write nothing. Resyncs read the VNet from the
    // subscription's listing (docs/scale.md), so three more walks of the VNet list are three
    // more resyncs that looked at it.
    let before = operator_writes(&world);
    wait_reads(&world, "/providers/microsoft.network/virtualnetworks", 3)
        .await
        .unwrap();
    assert_eq!(
        operator_writes(&world),
        before,
        "resyncs after correction must not write"
    );
    assert_secret_not_logged(&op);
    assert_log_is_plain_text(&op);
}
