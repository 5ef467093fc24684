//! The operator SIGKILLed at several points of a create and of a delete: each new process
//! resumes from what status and Azure say, without duplicates, second PUTs or orphans.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use azop_armsim::{LatencyPreset, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{Operator, World};
use kube::api::DeleteParams;
use serde_json::Value;

const RG: &str = "rg-e2e-kill";

fn state(r: &Value) -> &str {
    r["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("Succeeded")
}

fn restart(world: &World, op: &mut Operator) -> Operator {
    op.kill();
    assert_secret_not_logged(op);
    // The same identity, as a restarted container of the same pod: it holds the Lease at
    // once. (A new identity waits out the Lease; that is the leader test's subject.)
    world.start_operator("a", &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_create_and_delete_converges_without_duplicates_or_orphans() {
    // Azure's usual times at 1/20: a VM takes 4.5 s, a NAT gateway 0.75 s, so operations are
    // in flight when the operator dies.
    let world = World::new(
        "azc-kill",
        SimConfig::default()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(0.05),
    )
    .await
    .unwrap();
    let mut op = world.start_operator("a", &[]).unwrap();
    create(&world, cluster("k", RG, 2)).await.unwrap();

    // Kill 1: after the first PUTs (the group and some of its first-level resources exist),
    // before the network is complete.
    let inv = or_dump(
        wait_inventory(&world, "the first resources", TIMEOUT, |inv| {
            find(inv, "Microsoft.Resources/resourceGroups", RG).is_some()
                && inv.len() >= 3
                && by_type(inv, VNET_TYPE).is_empty()
        })
        .await,
        &[&op],
    );
    eprintln!("kill 1 at {} resources", inv.len());
    let mut op = restart(&world, &mut op);

    // Kill 2: while VMs are being created (their operations in flight).
    let inv = or_dump(
        wait_inventory(&world, "VMs in creation", TIMEOUT, |inv| {
            by_type(inv, VM_TYPE)
                .iter()
                .any(|v| state(v) != "Succeeded")
        })
        .await,
        &[&op],
    );
    eprintln!(
        "kill 2 at {} resources, VMs {:?}",
        inv.len(),
        by_type(&inv, VM_TYPE)
            .iter()
            .map(|v| (v["name"].as_str().unwrap_or_default(), state(v)))
            .collect::<Vec<_>>()
    );
    let mut op = restart(&world, &mut op);
    or_dump(wait_ready(&world, "k").await, &[&op]);

    // Exactly the cluster's resources, none twice.
    assert_eq!(
        top_level_inventory(&world),
        expected_inventory("k", RG, &["general-0", "general-1"])
    );
    // Each resource was PUT exactly once across the three processes: a restarted operator
    // polls or re-reads what is in flight, it does not send it again.
    let requests = operator_requests(&world);
    let puts = puts_per_path(&requests);
    let twice: BTreeMap<&String, &usize> = puts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "PUT more than once: {twice:?}");
    assert_eq!(
        puts.len(),
        expected_inventory("k", RG, &["general-0", "general-1"])
            .iter()
            .filter(|(t, _)| t != "microsoft.compute/disks")
            .count(),
        "one PUT per resource (OS disks come with their VMs): {puts:?}"
    );

    // Delete, killed twice: while the VMs are going, and while the network is going.
    api(&world)
        .delete("k", &DeleteParams::default())
        .await
        .unwrap();
    let inv = or_dump(
        wait_inventory(&world, "VMs being deleted", TIMEOUT, |inv| {
            by_type(inv, VM_TYPE).iter().any(|v| state(v) == "Deleting")
        })
        .await,
        &[&op],
    );
    eprintln!("kill 3 at {} resources", inv.len());
    let mut op = restart(&world, &mut op);
    let inv = or_dump(
        wait_inventory(
            &world,
            "machines gone, network still there",
            TIMEOUT,
            |inv| {
                by_type(inv, VM_TYPE).is_empty()
                    && by_type(inv, NIC_TYPE).is_empty()
                    && !by_type(inv, VNET_TYPE).is_empty()
            },
        )
        .await,
        &[&op],
    );
    eprintln!("kill 4 at {} resources", inv.len());
    let op = restart(&world, &mut op);
    or_dump(wait_gone(&world, "k").await, &[&op]);
    assert!(
        world.sim.inventory().is_empty(),
        "orphans: {:?}",
        world.inventory()
    );
    // No resource was sent a second DELETE while its first was still running.
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for (m, p, status) in operator_requests(&world) {
        if m == "DELETE" && status < 300 {
            *deletes.entry(p).or_insert(0) += 1;
        }
    }
    let twice: BTreeMap<&String, &usize> = deletes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "DELETE accepted more than once: {twice:?}"
    );
    assert_secret_not_logged(&op);
}
