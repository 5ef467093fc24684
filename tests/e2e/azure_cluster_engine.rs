//! AzureCluster behaviour that the reconcile engine decides: a resource group that exists
//! without azop's uid tag is used and kept (as CAPZ does), and an object blocked by a read
//! outage backs off instead of re-reading its graph every two seconds.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use azop_armsim::{FaultAction, FaultSpec, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use kube::api::DeleteParams;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_group_under_create_resource_group_is_used_and_never_deleted() {
    const RG: &str = "rg-e2e-shared";
    let world = World::new("azc-shared-rg", SimConfig::default())
        .await
        .unwrap();
    // Someone else's group, with something of theirs in it.
    world
        .arm(
            Method::PUT,
            &rg_path(RG),
            "2021-04-01",
            Some(json!({"location": "westeurope", "tags": {"team": "platform"}})),
        )
        .await
        .unwrap();
    let mut op = world.start_operator("a", &[]).unwrap();
    let created = create(&world, cluster("shared", RG, 1)).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let obj = or_dump(wait_ready(&world, "shared").await, &[&op]);
    let (status, reason, message) = condition(&obj, "ResourceGroupReady").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ExistingResourceGroup")
    );
    assert!(message.contains("never changes or deletes it"), "{message}");
    let note = or_dump(
        wait_event(&world, &uid, "ExistingResourceGroup", RG).await,
        &[&op],
    );
    assert!(note.contains("ResourceGroupReady is True"), "{note}");
    let rg_state = obj
        .data
        .pointer("/status/resources")
        .and_then(|r| r.as_array())
        .and_then(|r| r.iter().find(|x| x["name"] == RG))
        .and_then(|r| r["state"].as_str().map(str::to_string));
    assert_eq!(rg_state.as_deref(), Some("Existing"));
    // azop never wrote the group: its tags are still only the owner's.
    let inv = world.sim.inventory();
    let group = find(&inv, "Microsoft.Resources/resourceGroups", RG).unwrap();
    assert_eq!(group["tags"], json!({"team": "platform"}), "{group}");
    let writes = operator_writes(&world);
    assert!(
        !writes
            .iter()
            .any(|(_, p, _)| p == &rg_path(RG).to_ascii_lowercase()),
        "{writes:?}"
    );

    api(&world)
        .delete("shared", &DeleteParams::default())
        .await
        .unwrap();
    or_dump(wait_gone(&world, "shared").await, &[&op]);
    let inv = world.sim.inventory();
    assert!(find(&inv, "Microsoft.Resources/resourceGroups", RG).is_some());
    let left: Vec<String> = inv
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| {
            id.to_ascii_lowercase()
                .contains(&format!("/resourcegroups/{RG}/"))
        })
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "azop's resources are gone: {left:?}");
    let note = or_dump(
        wait_event(&world, &uid, "ResourceGroupKept", RG).await,
        &[&op],
    );
    assert!(note.contains("azop did not create it"), "{note}");
    op.kill();
}

/// Before the engine, a blocked pass reset the object's backoff: with every VNet GET failing,
/// one cluster re-read its graph every 2 s for as long as the outage lasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_outage_backs_off_per_object() {
    const RG: &str = "rg-e2e-outage";
    let world = World::new("azc-outage", SimConfig::default())
        .await
        .unwrap();
    world
        .sim
        .add_fault(FaultSpec {
            method: Some("GET".into()),
            path: "/subscriptions/*/virtualNetworks/outage-vnet".into(),
            times: None,
            after: 0,
            action: FaultAction::Respond {
                status: 500,
                code: "InternalServerError".into(),
                message: "injected read outage".into(),
                retry_after: None,
            },
        })
        .unwrap();
    let mut op = world.start_operator("a", &[]).unwrap();
    create(&world, cluster("outage", RG, 1)).await.unwrap();
    or_dump(
        wait_object(
            &world,
            "outage",
            "blocked on the VNet read",
            Duration::from_secs(60),
            |o| condition(o, "Ready").is_some_and(|c| c.2.contains("injected read outage")),
        )
        .await,
        &[&op],
    );
    let vnet_reads = || {
        operator_requests(&world)
            .into_iter()
            .filter(|(m, p, _)| m == "GET" && p.ends_with("/virtualnetworks/outage-vnet"))
            .count()
    };
    let before = vnet_reads();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let during = vnet_reads() - before;
    // Backing off from 2 s (2+4+8+16 = 30 s), at most about four passes fit in 40 s wherever
    // the window starts; a backoff that never grows makes twenty.
    assert!(during <= 6, "{during} VNet reads in 40 s");
    // The outage ends: the cluster converges.
    world.sim.clear_faults();
    or_dump(wait_ready(&world, "outage").await, &[&op]);
    op.kill();
}
