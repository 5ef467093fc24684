//! Operations that cannot be followed to their end: ARM answers `404 OperationNotFound` for an
//! operation's status URL (the record expired, or the resource's operation was replaced), or
//! the status URL never gives an answer that ends the operation before its deadline. In both
//! cases the operator drops the operation, re-reads the resource and continues from what the
//! resource says — it never polls one URL forever (issue 26). The AKS create is the case the
//! issue reproduced: the cluster Succeeded in ARM while the AksCluster stayed Provisioning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azop_armsim::{FaultAction, FaultSpec, SimConfig};
use azop_e2e::aks_cluster::{self as aks, CLUSTER_TYPE, POOL_TYPE, create, resource_group, sample};
use azop_e2e::azure_cluster::operator_requests;
use azop_e2e::operator::World;

/// Every status URL of the container service's operations (Azure-AsyncOperation and Location).
const AKS_OPERATIONS: &str = "regex:(?i)^/subscriptions/[^/]+/providers/Microsoft\\.ContainerService/locations/[^/]+/(operations|operationResults)/.*$";

fn every_status_poll(action: FaultAction) -> FaultSpec {
    FaultSpec {
        method: Some("GET".into()),
        path: AKS_OPERATIONS.into(),
        times: None,
        after: 0,
        action,
    }
}

fn status_polls(world: &World) -> usize {
    operator_requests(world)
        .iter()
        .filter(|(m, p, _)| {
            m == "GET" && p.contains("/providers/microsoft.containerservice/locations/")
        })
        .count()
}

/// After Ready, the operator must not keep polling a status URL: wait a while and count.
async fn no_more_polls(world: &World) {
    let before = status_polls(world);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = status_polls(world);
    assert!(
        after <= before + 1,
        "status URLs still polled after Ready: {before} then {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_url_that_answers_404_is_dropped_and_the_resource_read() {
    let config = SimConfig::default()
        .latency(CLUSTER_TYPE, Duration::from_secs(2))
        .latency(POOL_TYPE, Duration::from_secs(1));
    let world = World::new("lro-404", config).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    world
        .sim
        .add_fault(every_status_poll(FaultAction::Respond {
            status: 404,
            code: "OperationNotFound".into(),
            message: "injected: the operation was not found".into(),
            retry_after: None,
        }))
        .unwrap();
    let _op = world.start_operator("a", &[]).unwrap();
    create(&world, &sample("akscluster-free.yaml", &world.ns).unwrap())
        .await
        .unwrap();
    let obj = aks::wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(obj.data["status"]["phase"], "Running");
    assert!(
        status_polls(&world) > 0,
        "the test must make the operator meet a 404 status URL"
    );
    no_more_polls(&world).await;
    let calls = operator_requests(&world).len();
    assert!(calls < 150, "{calls} ARM calls to converge: a hot loop?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_past_its_deadline_is_dropped_and_the_resource_read() {
    let config = SimConfig::default()
        .latency(CLUSTER_TYPE, Duration::from_secs(2))
        .latency(POOL_TYPE, Duration::from_secs(1));
    let world = World::new("lro-deadline", config).await.unwrap();
    resource_group(&world, "rg-dev").await.unwrap();
    // The status URL never ends the operation (an error the poller keeps retrying); only the
    // deadline can.
    world
        .sim
        .add_fault(every_status_poll(FaultAction::Respond {
            status: 500,
            code: "InternalServerError".into(),
            message: "injected: status unavailable".into(),
            retry_after: None,
        }))
        .unwrap();
    let _op = world
        .start_operator_with_env(
            "a",
            &[],
            &[(
                "AZOP_OPERATION_DEADLINE_SECONDS".to_string(),
                "4".to_string(),
            )],
        )
        .unwrap();
    create(&world, &sample("akscluster-free.yaml", &world.ns).unwrap())
        .await
        .unwrap();
    let obj = aks::wait_ready(&world, "dev-aks").await.unwrap();
    assert_eq!(obj.data["status"]["phase"], "Running");
    assert!(status_polls(&world) > 0);
    no_more_polls(&world).await;
}
