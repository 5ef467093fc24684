//! AzureCluster under ARM faults: throttling (429 with Retry-After), server errors (500),
//! AnotherOperationInProgress (409) and a VM whose operation ends Failed. The cluster still
//! converges; while a fault lasts, the conditions say which Azure error holds it up; and the
//! operator's ARM calls stay bounded (no hot retry loop).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use azop_armsim::{FaultAction, FaultSpec, RequestFilter, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{Operator, World, metric_value};
use chrono::{DateTime, FixedOffset};

const RG: &str = "rg-e2e-faults";

fn respond(path: &str, status: u16, code: &str, retry_after: Option<u64>) -> FaultSpec {
    FaultSpec {
        method: Some("PUT".into()),
        path: path.into(),
        times: None,
        after: 0,
        action: FaultAction::Respond {
            status,
            code: code.into(),
            message: format!("injected {code}"),
            retry_after,
        },
    }
}

fn throttled() -> FaultSpec {
    respond(
        "/subscriptions/*/networkSecurityGroups/*",
        429,
        "TooManyRequests",
        Some(1),
    )
}

fn server_error() -> FaultSpec {
    respond(
        "/subscriptions/*/publicIPAddresses/*",
        500,
        "InternalServerError",
        None,
    )
}

fn vnet_busy() -> FaultSpec {
    respond(
        "/subscriptions/*/virtualNetworks/fa-vnet",
        409,
        "AnotherOperationInProgress",
        None,
    )
}

fn vm_fails() -> FaultSpec {
    FaultSpec {
        method: Some("PUT".into()),
        path: "/subscriptions/*/virtualMachines/fa-cp-0".into(),
        times: None,
        after: 0,
        action: FaultAction::FailAsync {
            code: "OSProvisioningInternalError".into(),
            message: "injected: OS provisioning failed".into(),
        },
    }
}

/// Replaces the simulator's faults with `faults`.
fn set_faults(world: &World, faults: &[FaultSpec]) {
    world.sim.clear_faults();
    for f in faults {
        world.sim.add_fault(f.clone()).unwrap();
    }
}

async fn wait_explained(world: &World, op: &Operator, codes: &[&str]) -> String {
    let obj = or_dump(
        wait_object(
            world,
            "fa",
            &format!("conditions naming {codes:?}"),
            TIMEOUT,
            |o| {
                let m = all_messages(o);
                condition(o, "Ready").is_some_and(|c| c.0 == "False")
                    && codes.iter().all(|c| m.contains(c))
            },
        )
        .await,
        &[op],
    );
    all_messages(&obj)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_explained_while_they_last_and_the_cluster_converges() {
    let world = World::new("azc-faults", SimConfig::default())
        .await
        .unwrap();
    // Every fault is in place from the start; the later ones cannot fire before the graph
    // reaches them (the VNet waits for the NSGs, the VMs for the VNet).
    set_faults(
        &world,
        &[throttled(), server_error(), vnet_busy(), vm_fails()],
    );
    let op = world.start_operator("a", &[]).unwrap();
    let started = Instant::now();
    create(&world, cluster("fa", RG, 1)).await.unwrap();

    let seen = wait_explained(&world, &op, &["TooManyRequests", "InternalServerError"]).await;
    eprintln!("stage 1: {seen}");
    set_faults(&world, &[vnet_busy(), vm_fails()]);
    let seen = wait_explained(&world, &op, &["AnotherOperationInProgress"]).await;
    eprintln!("stage 2: {seen}");
    set_faults(&world, &[vm_fails()]);
    let seen = wait_explained(&world, &op, &["OSProvisioningInternalError", "fa-cp-0"]).await;
    eprintln!("stage 3: {seen}");
    world.sim.clear_faults();
    or_dump(wait_ready(&world, "fa").await, &[&op]);
    let elapsed = started.elapsed();

    assert_eq!(
        top_level_inventory(&world),
        expected_inventory("fa", RG, &["general-0"])
    );
    // Bounded, part 1 — no hot retry: two PUTs of the same resource are never closer than
    // the shortest hold azop keeps after a failure (1 s: the injected Retry-After; the
    // transient hold is 2 s, the busy one 5 s). 100 ms of slack for scheduling.
    let mut last_put: BTreeMap<String, DateTime<FixedOffset>> = BTreeMap::new();
    let mut too_close = Vec::new();
    let mut writes = 0;
    let records: Vec<_> = world
        .sim
        .requests(&RequestFilter {
            principal: Some(OPERATOR_PRINCIPAL.into()),
            ..RequestFilter::default()
        })
        .into_iter()
        .filter(|r| !r.path.contains("/oauth2/"))
        .collect();
    for r in records.iter().filter(|r| r.method == "PUT") {
        writes += 1;
        let t = DateTime::parse_from_rfc3339(&r.time).unwrap();
        let path = r.path.to_ascii_lowercase();
        if let Some(prev) = last_put.insert(path.clone(), t)
            && (t - prev) < chrono::Duration::milliseconds(900)
        {
            too_close.push(format!("{path}: {} ms", (t - prev).num_milliseconds()));
        }
    }
    assert!(too_close.is_empty(), "retried too soon: {too_close:?}");
    // Bounded, part 2 — the totals. A clean create of this cluster is 16 PUTs (8 network
    // resources, 4 machines × NIC + VM). Six resources were faulted (2 NSGs, 2 public IPs,
    // the VNet, one VM); each fault lasts until the test has seen it in the conditions
    // (a few seconds), and each retry waits out its hold, so each adds at most a handful of
    // PUTs: 16 + 6 × 4 = 40. Reads: a pass reads the 16 resources, lists VMs and NICs and
    // polls what is in flight (≤ 30 calls); passes come at most every 500 ms (the requeue
    // floor) plus one per status change, so ≤ 30 calls × 3 passes per second of the run.
    let calls = records.len();
    eprintln!("{calls} ARM calls ({writes} PUTs) in {elapsed:?}");
    assert!(writes <= 40, "{writes} PUTs");
    let budget = 30 * 3 * (elapsed.as_secs() as usize + 1);
    assert!(
        calls <= budget,
        "{calls} ARM calls in {elapsed:?} (budget {budget})"
    );
    assert_secret_not_logged(&op);
}

/// `azop_object_state_entries{map, controller}` in a /metrics text.
fn state_entries(metrics: &str, map: &str, controller: &str) -> Option<f64> {
    let name = format!("azop_object_state_entries{{map=\"{map}\",controller=\"{controller}\"}}");
    metric_value(metrics, &name)
}

/// A cluster that goes while its passes are failing takes its per-object state (backoff
/// count, step holds, the kind's own) with it: the operator's watch sees it go, and a pass
/// still in flight then drops what it wrote. It goes the way no delete pass can end: its
/// deletion keeps failing and someone removes the finalizer by hand. A thousand such
/// objects would otherwise stay in memory for the life of the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_gone_while_failing_leaves_no_state_behind() {
    let world = World::new("azc-forget", SimConfig::default())
        .await
        .unwrap();
    // Public IPs refused for good: passes stop, the steps are held.
    set_faults(&world, &[server_error()]);
    let op = world.start_operator("a", &[]).unwrap();
    create(&world, cluster("fa", RG, 1)).await.unwrap();
    wait_explained(&world, &op, &["InternalServerError"]).await;

    // Its deletion fails too (every DELETE of an NSG answers 500)...
    world
        .sim
        .add_fault(FaultSpec {
            method: Some("DELETE".into()),
            ..respond(
                "/subscriptions/*/networkSecurityGroups/*",
                500,
                "InternalServerError",
                None,
            )
        })
        .unwrap();
    api(&world).delete("fa", &Default::default()).await.unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = op.metrics().await.unwrap_or_default();
        // Failed writes hold their steps (and stopped passes may count backoff).
        if state_entries(&m, "step_holds", "").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no step held while failing:\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // ...and someone removes its finalizer: the object goes with no pass to end it.
    merge_patch(
        &world,
        "fa",
        serde_json::json!({"metadata": {"finalizers": null}}),
    )
    .await
    .unwrap();
    or_dump(wait_gone(&world, "fa").await, &[&op]);

    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = op.metrics().await.unwrap_or_default();
        let left: Vec<(&str, Option<f64>)> = [
            ("backoff", ""),
            ("step_holds", ""),
            ("kind", "azurecluster"),
        ]
        .into_iter()
        .map(|(map, controller)| (map, state_entries(&m, map, controller)))
        .collect();
        if left.iter().all(|(_, n)| *n == Some(0.0)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "state kept after the object went: {left:?}\n{}",
            op.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
