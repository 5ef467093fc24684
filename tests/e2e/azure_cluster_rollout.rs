//! A worker pool's VM size changed: its machines are replaced one at a time — a new machine
//! first, then an old one removed — and the pool never has fewer provisioned machines than its
//! size, nor more than one extra. The operator is SIGKILLed twice during the replacement (a
//! new machine coming up, an old one going) and converges without a duplicate or a leak.
//!
//! A sampler reads azop-armsim's inventory every 50 ms for the whole replacement and checks
//! the rules on every sample. (Draining through a reachable workload cluster is in
//! `azure_cluster_bootstrap.rs`, which runs a second kube-apiserver.)

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use azop_armsim::{LatencyPreset, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{Operator, World};
use kube::api::DeleteParams;
use serde_json::{Value, json};

const RG: &str = "rg-e2e-rollout";
const OLD_SIZE: &str = "Standard_D8s_v5";
const NEW_SIZE: &str = "Standard_D16s_v5";
const REPLICAS: usize = 3;

fn state(r: &Value) -> &str {
    r["properties"]["provisioningState"]
        .as_str()
        .unwrap_or("Succeeded")
}

fn size(r: &Value) -> &str {
    r["properties"]["hardwareProfile"]["vmSize"]
        .as_str()
        .unwrap_or_default()
}

/// The pool's VMs in one sample: `(name, size, state)`.
fn pool_vms(inv: &[Value]) -> Vec<(String, String, String)> {
    by_type(inv, VM_TYPE)
        .into_iter()
        .filter(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("roll-general-"))
        })
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                size(v).to_string(),
                state(v).to_string(),
            )
        })
        .collect()
}

/// What the rules forbid in one sample, if anything.
fn violation(vms: &[(String, String, String)]) -> Option<String> {
    let provisioned = vms.iter().filter(|(_, _, s)| s == "Succeeded").count();
    let live = vms.iter().filter(|(_, _, s)| s != "Deleting").count();
    let new_coming = vms
        .iter()
        .filter(|(_, z, s)| z == NEW_SIZE && s != "Succeeded" && s != "Deleting")
        .count();
    if provisioned < REPLICAS {
        return Some(format!("below the pool's size: {vms:?}"));
    }
    if live > REPLICAS + 1 {
        return Some(format!("more than one extra machine: {vms:?}"));
    }
    if new_coming > 1 {
        return Some(format!("more than one new machine at a time: {vms:?}"));
    }
    None
}

fn restart(world: &World, op: &mut Operator) -> Operator {
    op.kill();
    assert_secret_not_logged(op);
    world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_vm_size_replaces_workers_one_at_a_time_through_two_sigkills() {
    // Azure's usual times at 1/20 (a VM takes 4.5 s): every state of a machine is seen.
    let world = World::new(
        "azc-rollout",
        SimConfig::default()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(0.05),
    )
    .await
    .unwrap();
    let op = world
        .start_operator("a", &["--resync-seconds", "1"])
        .unwrap();
    let mut c = cluster("roll", RG, REPLICAS as i64);
    c["spec"]["controlPlane"] = json!({"replicas": 1, "vmSize": "Standard_D4s_v5", "zones": ["1"]});
    create(&world, c).await.unwrap();
    or_dump(wait_ready(&world, "roll").await, &[&op]);

    // The sampler: every 50 ms, the rules; every name ever seen. It runs beside the rest of
    // the test in the same task (both borrow the world).
    let stop = AtomicBool::new(false);
    let seen_names = Mutex::new(BTreeSet::new());
    let problems = Mutex::new(Vec::<String>::new());
    let sampler = async {
        while !stop.load(Ordering::Relaxed) {
            let vms = pool_vms(&world.sim.inventory());
            seen_names
                .lock()
                .unwrap()
                .extend(vms.iter().map(|(n, _, _)| n.clone()));
            if let Some(v) = violation(&vms) {
                problems.lock().unwrap().push(v);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let replacement = async {
        let r = replace(&world, op).await;
        stop.store(true, Ordering::Relaxed);
        r
    };
    let ((), (op, done, obj)) = tokio::join!(sampler, replacement);

    let problems = problems.lock().unwrap().clone();
    assert!(
        problems.is_empty(),
        "the rules broke: {:?}",
        &problems[..problems.len().min(3)]
    );
    // New names, one after another, and nothing else: no duplicate from the restarts.
    let mut names: Vec<String> = pool_vms(&done).into_iter().map(|(n, _, _)| n).collect();
    names.sort();
    assert_eq!(
        names,
        ["roll-general-3", "roll-general-4", "roll-general-5"]
    );
    let ever: Vec<String> = seen_names.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        ever,
        (0..6)
            .map(|i| format!("roll-general-{i}"))
            .collect::<Vec<_>>(),
        "every machine the pool ever had"
    );
    let puts = puts_per_path(&operator_requests(&world));
    for n in &names {
        let path = resource_path(RG, "Microsoft.Compute/virtualMachines", n).to_ascii_lowercase();
        assert_eq!(puts.get(&path), Some(&1), "{n} PUT once: {puts:?}");
    }
    // Exactly the cluster's resources: the old machines' NICs and disks went with them.
    let mut want = expected_inventory("roll", RG, &["general-3", "general-4", "general-5"]);
    want.retain(|(_, n)| !n.starts_with("roll-cp-1") && !n.starts_with("roll-cp-2"));
    assert_eq!(top_level_inventory(&world), want);
    let nodes = obj.data["status"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1 + REPLICAS, "{nodes:?}");
    assert!(
        nodes.iter().all(|n| n.get("outdated").is_none()),
        "{nodes:?}"
    );
    // Unreachable workload cluster (no API server at the endpoint): no node readiness.
    assert!(nodes.iter().all(|n| n.get("node").is_none()), "{nodes:?}");

    // Settled: resyncs after the replacement write nothing.
    let before = operator_writes(&world).len();
    wait_reads(&world, "/virtualmachines", 2).await.unwrap();
    assert_eq!(
        operator_writes(&world).len(),
        before,
        "writes at steady state"
    );

    api(&world)
        .delete("roll", &DeleteParams::default())
        .await
        .unwrap();
    or_dump(wait_gone(&world, "roll").await, &[&op]);
    assert!(world.inventory().is_empty(), "{:?}", world.inventory());
}

/// Changes the pool's VM size and kills the operator twice on the way; returns the last
/// operator, the inventory once every machine is replaced, and the Ready object.
async fn replace(
    world: &World,
    mut op: Operator,
) -> (Operator, Vec<Value>, kube::api::DynamicObject) {
    merge_patch(
        world,
        "roll",
        json!({"spec": {"workerPools": [{"name": "general", "replicas": REPLICAS, "vmSize": NEW_SIZE, "zones": ["1", "2"]}]}}),
    )
    .await
    .unwrap();

    // The condition says a replacement is under way, with its progress.
    let obj = wait_object(world, "roll", "WorkersReady says Replacing", TIMEOUT, |o| {
        condition(o, "WorkersReady").is_some_and(|(_, reason, _)| reason == "Replacing")
    })
    .await
    .unwrap();
    let (status, _, message) = condition(&obj, "WorkersReady").unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("pool general: replacing machines one at a time"),
        "{message}"
    );
    let outdated: Vec<&Value> = obj.data["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["outdated"] == true)
        .collect();
    assert!(!outdated.is_empty(), "{:?}", obj.data["status"]["nodes"]);
    assert_eq!(obj.data["status"]["phase"], "Updating");

    // Kill 1: the first new machine is coming up.
    or_dump(
        wait_inventory(world, "a new machine coming up", TIMEOUT, |inv| {
            pool_vms(inv)
                .iter()
                .any(|(_, z, s)| z == NEW_SIZE && s != "Succeeded")
        })
        .await,
        &[&op],
    );
    let mut op = restart(world, &mut op);

    // Kill 2: an old machine is going.
    or_dump(
        wait_inventory(world, "an old machine going", TIMEOUT, |inv| {
            pool_vms(inv)
                .iter()
                .any(|(_, z, s)| z == OLD_SIZE && s == "Deleting")
        })
        .await,
        &[&op],
    );
    let op = restart(world, &mut op);

    let done = or_dump(
        wait_inventory(
            world,
            "every machine replaced",
            Duration::from_secs(180),
            |inv| {
                let vms = pool_vms(inv);
                vms.len() == REPLICAS
                    && vms
                        .iter()
                        .all(|(_, z, s)| z == NEW_SIZE && s == "Succeeded")
            },
        )
        .await,
        &[&op],
    );
    let obj = or_dump(wait_ready(world, "roll").await, &[&op]);
    (op, done, obj)
}
