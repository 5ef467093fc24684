//! Leader election with two real `azop run` processes on one Lease: exactly one reconciles;
//! when it is SIGKILLed mid-create the other takes over within the Lease duration and
//! converges the cluster, without duplicating what the first one started.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use azop_armsim::{LatencyPreset, SimConfig};
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{OPERATOR_NAMESPACE, World};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

const RG: &str = "rg-e2e-leader";
const LEASE_SECONDS: u64 = 4;

async fn holder(world: &World) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    leases.get(&world.lease).await.ok()?.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_reconciles_and_the_other_takes_over_after_sigkill() {
    let world = World::new(
        "azc-leader",
        SimConfig::default()
            .latency_preset(LatencyPreset::Realistic)
            .latency_scale(0.05),
    )
    .await
    .unwrap();
    let mut a = world.start_operator("a", &[]).unwrap();
    or_dump(wait_log(&a, "became leader", TIMEOUT).await, &[&a]);
    let b = world.start_operator("b", &[]).unwrap();
    create(&world, cluster("ld", RG, 2)).await.unwrap();

    // Mid-way: VMs being created by the leader.
    or_dump(
        wait_inventory(&world, "VMs in creation", TIMEOUT, |inv| {
            by_type(inv, VM_TYPE)
                .iter()
                .any(|v| v["properties"]["provisioningState"] != "Succeeded")
        })
        .await,
        &[&a, &b],
    );
    // Exactly one leads: the Lease names `a`; `b` has made no ARM call and started no
    // controller (both use the same Azure principal, so the request log cannot tell them
    // apart; their logs can: every ARM call is logged at debug level).
    assert_eq!(holder(&world).await.as_deref(), Some("a"));
    let b_log = b.logs();
    assert!(!b_log.is_empty(), "b is running and logging");
    assert!(!b_log.contains("became leader"), "two leaders at once");
    assert!(!b_log.contains("arm call"), "the follower called ARM");
    assert!(a.logs().contains("arm call"));

    // SIGKILL the leader: no release. `b` takes over once the Lease expires. The bound:
    // `a` renewed at most one retry period (lease/5, at least 1 s) before it died, the Lease
    // is valid for 4 s after a renewal, and `b` retries every retry period: ≤ 4 + 1 s, plus
    // one second for API calls on a busy machine.
    let before_kill = Instant::now();
    a.kill();
    or_dump(wait_log(&b, "became leader", TIMEOUT).await, &[&b]);
    let took = before_kill.elapsed();
    eprintln!("takeover {took:?} after SIGKILL");
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS + 2),
        "takeover took {took:?}"
    );
    assert_eq!(holder(&world).await.as_deref(), Some("b"));

    or_dump(wait_ready(&world, "ld").await, &[&b]);
    // b's first ARM call came after it became leader.
    let b_log = b.logs();
    let led = b_log.find("became leader").unwrap();
    assert!(b_log.find("arm call").is_some_and(|i| i > led));
    // Converged without duplicates: the exact set, each resource PUT once across both.
    assert_eq!(
        top_level_inventory(&world),
        expected_inventory("ld", RG, &["general-0", "general-1"])
    );
    let puts = puts_per_path(&operator_requests(&world));
    let twice: BTreeMap<&String, &usize> = puts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "PUT more than once: {twice:?}");
    assert_secret_not_logged(&a);
    assert_secret_not_logged(&b);
}
