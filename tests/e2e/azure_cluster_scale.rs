//! AzureCluster worker pools scaled up and down, and removed: only the machines that change
//! are written; scale-down removes the highest indexes with their NICs and OS disks.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use serde_json::{Value, json};

const RG: &str = "rg-e2e-scale";

fn pools(general: i64, extra: bool) -> Value {
    let mut p = vec![json!({"name": "general", "replicas": general,
        "vmSize": "Standard_D8s_v5", "zones": ["1", "2"]})];
    if extra {
        p.push(json!({"name": "extra", "replicas": 1, "vmSize": "Standard_D4s_v5"}));
    }
    Value::Array(p)
}

/// The operator's writes after the first `from` requests, as `METHOD type/name` (sorted).
fn writes_since(world: &World, from: usize) -> BTreeSet<String> {
    operator_requests(world)[from..]
        .iter()
        .filter(|(m, _, _)| m != "GET")
        .map(|(m, p, _)| {
            let mut parts = p.rsplit('/');
            let name = parts.next().unwrap_or_default();
            let ty = parts.next().unwrap_or_default();
            format!("{m} {ty}/{name}")
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn wait_machines(world: &World, workers: &[&str]) {
    let want = expected_inventory("sc", RG, workers);
    wait_inventory(
        world,
        &format!("exactly the machines {workers:?}"),
        TIMEOUT,
        |inv| {
            by_type(inv, VM_TYPE)
                .iter()
                .all(|v| v["properties"]["provisioningState"] == "Succeeded")
                && top_level_inventory(world) == want
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_scale_up_and_down_touching_only_the_machines_that_change() {
    let world = World::new("azc-scale", SimConfig::default()).await.unwrap();
    let op = world.start_operator("a", &[]).unwrap();
    let mut manifest = cluster("sc", RG, 2);
    manifest["spec"]["workerPools"] = pools(2, true);
    create(&world, manifest).await.unwrap();
    or_dump(wait_ready(&world, "sc").await, &[&op]);
    wait_machines(&world, &["general-0", "general-1", "extra-0"]).await;

    // Up, 2 → 4: exactly the two new machines are written; the others are not touched.
    let mark = operator_requests(&world).len();
    merge_patch(
        &world,
        "sc",
        json!({"spec": {"workerPools": pools(4, true)}}),
    )
    .await
    .unwrap();
    or_dump(wait_ready(&world, "sc").await, &[&op]);
    wait_machines(
        &world,
        &[
            "general-0",
            "general-1",
            "general-2",
            "general-3",
            "extra-0",
        ],
    )
    .await;
    assert_eq!(
        writes_since(&world, mark),
        set(&[
            "PUT networkinterfaces/sc-general-2-nic",
            "PUT networkinterfaces/sc-general-3-nic",
            "PUT virtualmachines/sc-general-2",
            "PUT virtualmachines/sc-general-3",
        ])
    );
    // Round-robin over the pool's zones continues: index 2 in zone 1, index 3 in zone 2.
    let inv = world.sim.inventory();
    let zone = |n: &str| find(&inv, VM_TYPE, n).unwrap()["zones"][0].clone();
    assert_eq!(
        [zone("sc-general-2"), zone("sc-general-3")],
        [json!("1"), json!("2")]
    );

    // Down, 4 → 1: the highest indexes go, with their NICs and OS disks; index 0 stays
    // untouched, and nothing is PUT.
    let mark = operator_requests(&world).len();
    merge_patch(
        &world,
        "sc",
        json!({"spec": {"workerPools": pools(1, true)}}),
    )
    .await
    .unwrap();
    wait_machines(&world, &["general-0", "extra-0"]).await;
    let obj = or_dump(wait_ready(&world, "sc").await, &[&op]);
    assert_eq!(
        writes_since(&world, mark),
        set(&[
            "DELETE networkinterfaces/sc-general-1-nic",
            "DELETE networkinterfaces/sc-general-2-nic",
            "DELETE networkinterfaces/sc-general-3-nic",
            "DELETE virtualmachines/sc-general-1",
            "DELETE virtualmachines/sc-general-2",
            "DELETE virtualmachines/sc-general-3",
        ])
    );
    let nodes: BTreeSet<String> = obj.data["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        nodes,
        set(&[
            "sc-cp-0",
            "sc-cp-1",
            "sc-cp-2",
            "sc-general-0",
            "sc-extra-0"
        ])
    );

    // A whole pool removed: its machine goes, with NIC and disk.
    let mark = operator_requests(&world).len();
    merge_patch(
        &world,
        "sc",
        json!({"spec": {"workerPools": pools(1, false)}}),
    )
    .await
    .unwrap();
    wait_machines(&world, &["general-0"]).await;
    or_dump(wait_ready(&world, "sc").await, &[&op]);
    assert_eq!(
        writes_since(&world, mark),
        set(&[
            "DELETE networkinterfaces/sc-extra-0-nic",
            "DELETE virtualmachines/sc-extra-0",
        ])
    );
    assert_secret_not_logged(&op);
    assert_log_is_plain_text(&op);
}
