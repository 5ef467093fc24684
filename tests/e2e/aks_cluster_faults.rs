//! AksCluster under faults: AKS's 409 while busy, ARM throttling, an operation that ends
//! Failed — the cluster converges with a bounded number of calls; and the operator killed
//! (SIGKILL) during the create and during the delete — no second cluster, no second DELETE,
//! nothing left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azop_armsim::{FaultAction, FaultSpec, SimConfig};
use azop_e2e::aks_cluster::{
    self as aks, CLUSTER_TYPE, POOL_TYPE, create, resource_group, sample, wait_gone, wait_ready,
};
use azop_e2e::azure_cluster::{operator_requests, operator_writes, puts_per_path};
use azop_e2e::operator::World;
use azop_testenv::{Check, wait_for};
use kube::api::DeleteParams;

fn fault(path: &str, times: u32, after: u32, action: FaultAction) -> FaultSpec {
    FaultSpec {
        method: Some("PUT".into()),
        path: path.into(),
        times: Some(times),
        after,
        action,
    }
}

fn respond(status: u16, code: &str, retry_after: Option<u64>) -> FaultAction {
    FaultAction::Respond {
        status,
        code: code.into(),
        message: format!("injected {code}"),
        retry_after,
    }
}

fn count(world: &World, method: &str, suffix: &str) -> usize {
    operator_writes(world)
        .iter()
        .filter(|(m, p, _)| m == method && p.ends_with(suffix))
        .count()
}

async fn wait_sent(world: &World, method: &str, suffix: &str) {
    wait_for(format!("{method} …{suffix} sent"), aks::TIMEOUT, || async {
        if count(world, method, suffix) > 0 {
            Check::Done(())
        } else {
            Check::Pending(format!("{:?}", operator_writes(world)))
        }
    })
    .await
    .unwrap();
}

fn aks_left(world: &World) -> Vec<String> {
    world
        .sim
        .inventory()
        .into_iter()
        .filter(|r| {
            r["type"].as_str().is_some_and(|t| {
                t.eq_ignore_ascii_case(CLUSTER_TYPE) || t.eq_ignore_ascii_case(POOL_TYPE)
            })
        })
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_throttled_and_failed_operations_converge_with_bounded_calls() {
    let world = World::new("aks-faults", SimConfig::default())
        .await
        .unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let cluster = "/subscriptions/*/managedClusters/dev-aks";
    for f in [
        // Throttled once (Retry-After 1 s), then an operation that ends Failed.
        fault(cluster, 1, 0, respond(429, "TooManyRequests", Some(1))),
        fault(
            cluster,
            1,
            1,
            FaultAction::FailAsync {
                code: "InternalOperationError".into(),
                message: "injected: the create failed".into(),
            },
        ),
        // The User pool refused twice as AKS does while the cluster is busy.
        fault(
            "/subscriptions/*/managedClusters/dev-aks/agentPools/win",
            2,
            0,
            respond(409, "OperationNotAllowed", None),
        ),
    ] {
        world.sim.add_fault(f).unwrap();
    }
    let _op = world.start_operator("a", &[]).unwrap();
    create(&world, &sample("akscluster-free.yaml", &world.ns).unwrap())
        .await
        .unwrap();
    let obj = wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(obj.data["status"]["phase"], "Running");

    let puts = puts_per_path(&operator_requests(&world));
    let cluster_puts = puts
        .iter()
        .filter(|(p, _)| p.ends_with("/managedclusters/dev-aks"))
        .map(|(_, n)| *n)
        .sum::<usize>();
    let win_puts = puts
        .iter()
        .filter(|(p, _)| p.ends_with("/agentpools/win"))
        .map(|(_, n)| *n)
        .sum::<usize>();
    // 429, the PUT whose operation failed, the one that worked.
    assert_eq!(cluster_puts, 3, "{puts:?}");
    // Two refusals and the one that worked.
    assert_eq!(win_puts, 3, "{puts:?}");
    let all = operator_requests(&world).len();
    assert!(all < 120, "{all} ARM calls to converge: a hot loop?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_create_and_delete_leaves_no_duplicate_and_nothing_behind() {
    let config = SimConfig::default()
        .latency(CLUSTER_TYPE, Duration::from_secs(4))
        .latency(POOL_TYPE, Duration::from_secs(2));
    let world = World::new("aks-kill", config).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    let mut a = world.start_operator("a", &[]).unwrap();
    create(&world, &sample("akscluster-free.yaml", &world.ns).unwrap())
        .await
        .unwrap();
    wait_sent(&world, "PUT", "/managedclusters/dev-aks").await;
    a.kill();
    let mut b = world.start_operator("b", &[]).unwrap();
    wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(
        count(&world, "PUT", "/managedclusters/dev-aks"),
        1,
        "the create is resumed, not sent again: {:?}",
        operator_writes(&world)
    );
    assert_eq!(
        aks_left(&world).len(),
        3,
        "one cluster, two pools: {:?}",
        aks_left(&world)
    );

    aks::api(&world)
        .delete("dev-aks", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("DELETE sent".to_string(), aks::TIMEOUT, || async {
        if operator_writes(&world)
            .iter()
            .any(|(m, p, _)| m == "DELETE" && p.ends_with("/managedclusters/dev-aks"))
        {
            Check::Done(())
        } else {
            Check::Pending(String::new())
        }
    })
    .await
    .unwrap();
    b.kill();
    let _c = world.start_operator("c", &[]).unwrap();
    wait_gone(&world, "dev-aks").await.unwrap();
    assert_eq!(aks_left(&world), Vec::<String>::new());
    assert_eq!(
        count(&world, "DELETE", "/managedclusters/dev-aks"),
        1,
        "{:?}",
        operator_writes(&world)
    );
}
