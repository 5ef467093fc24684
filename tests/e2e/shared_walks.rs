//! Walks shared between replicas (`azop run --shards 3`, docs/scale.md "Walks shared between
//! replicas"): three real `azop run` processes hand each other their subscription walks
//! through the API server, so at steady state they list the subscription about once per
//! listing age between them — not once each — and drift on any replica's cluster is still
//! corrected within a resync.
//!
//! Without sharing, every replica whose objects resync walks every type at least once per
//! resync: three replicas holding clusters list a type at least 3 × (window ÷ resync) − 3
//! times in a window. Shared, the window holds about window ÷ listing age walks of a type,
//! plus a few where a digest came late.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use azop_armsim::SimConfig;
use azop_controllers::shard::shard_of;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::{OPERATOR_NAMESPACE, Operator, SUBSCRIPTION, World, metric_value};
use azop_testenv::{Check, wait_for};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use reqwest::Method;

const SHARDS: u32 = 3;
/// The replicas' `--resync-seconds`: listings serve for 70 % of it.
const RESYNC_SECONDS: u64 = 12;
/// The steady-state window the walks are counted in.
const WINDOW: Duration = Duration::from_secs(60);
const NET: &str = "2024-03-01";
/// Clusters are created until every shard holds this many.
const PER_SHARD: usize = 2;

fn rg(name: &str) -> String {
    format!("rg-e2e-{name}")
}

/// Each of the three shards held, by three different replicas.
async fn one_shard_each(world: &World) -> anyhow::Result<()> {
    wait_for("one shard per replica", Duration::from_secs(30), || async {
        let holders = shard_holders(world, SHARDS).await;
        let distinct: BTreeSet<_> = holders.iter().flatten().collect();
        if distinct.len() == SHARDS as usize {
            Check::Done(())
        } else {
            Check::Pending(format!("{holders:?}"))
        }
    })
    .await
    .map_err(anyhow::Error::from)
}

fn shared_walks(metrics: &str, event: &str) -> f64 {
    metric_value(
        metrics,
        &format!("azop_shared_walks_total{{event=\"{event}\"}}"),
    )
    .unwrap_or(0.0)
}

fn nsg_path(name: &str) -> String {
    resource_path(
        &rg(name),
        "Microsoft.Network/networkSecurityGroups",
        &format!("{name}-controlplane-nsg"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_walk_the_subscription_about_once_between_them() {
    let world = World::new(
        "azc-walks",
        SimConfig {
            request_log_capacity: 200_000,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let resync = RESYNC_SECONDS.to_string();
    let args = ["--shards", "3", "--resync-seconds", resync.as_str()];
    let ops: BTreeMap<&str, Operator> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, world.start_operator(n, &args).unwrap()))
        .collect();
    let refs: Vec<&Operator> = ops.values().collect();
    or_dump(one_shard_each(&world).await, &refs);

    // Clusters until every shard (so every replica) holds PER_SHARD of them.
    let mut per_shard = vec![0usize; SHARDS as usize];
    let mut names = Vec::new();
    while per_shard.iter().any(|n| *n < PER_SHARD) {
        let name = format!("w{}", names.len());
        let obj = or_dump(
            create(&world, one_machine_each(&name, &rg(&name))).await,
            &refs,
        );
        per_shard[shard_of(obj.metadata.uid.as_deref().unwrap(), SHARDS) as usize] += 1;
        names.push(name);
        assert!(names.len() <= 20, "uids do not spread: {per_shard:?}");
    }
    eprintln!("{} clusters, by shard {per_shard:?}", names.len());
    for n in &names {
        or_dump(wait_ready(&world, n).await, &refs);
    }

    // Steady state: creation's walks (write evidence) are over after two resyncs.
    tokio::time::sleep(Duration::from_secs(2 * RESYNC_SECONDS)).await;
    let before = operator_requests(&world).len();
    tokio::time::sleep(WINDOW).await;
    let window: Vec<(String, String, u16)> = operator_requests(&world).split_off(before);
    let sub = SUBSCRIPTION.to_ascii_lowercase();
    let walks_of = |t: &str| {
        let list = format!("/subscriptions/{sub}/providers/{t}");
        window
            .iter()
            .filter(|(m, p, _)| m == "GET" && *p == list)
            .count()
    };
    let nsg_walks = walks_of("microsoft.network/networksecuritygroups");
    let vnet_walks = walks_of("microsoft.network/virtualnetworks");
    let max_age = RESYNC_SECONDS as f64 * 0.7;
    let shared_bound = (WINDOW.as_secs_f64() / max_age).floor() as usize + 3;
    let unshared_floor = SHARDS as usize * (WINDOW.as_secs() / RESYNC_SECONDS) as usize - 3;
    eprintln!(
        "walks in {WINDOW:?}: NSGs {nsg_walks}, VNets {vnet_walks} (shared: at most \
         {shared_bound}; each replica for itself: at least {unshared_floor}); {} calls",
        window.len()
    );
    let throttled = window.iter().filter(|(_, _, s)| *s == 429).count();
    assert_eq!(throttled, 0, "429s at steady state");
    for (t, n) in [("NSGs", nsg_walks), ("VNets", vnet_walks)] {
        assert!(n >= 1, "{t} were not walked at all in {WINDOW:?}");
        assert!(
            n <= shared_bound,
            "{t} walked {n} times in {WINDOW:?}: the replicas walk for themselves \
             (at most {shared_bound} shared)"
        );
    }
    // The other replicas' walks served in place of their own.
    let mut complete = 0.0;
    let mut published = 0.0;
    for op in ops.values() {
        let m = op.metrics().await.unwrap();
        complete += shared_walks(&m, "complete");
        published += shared_walks(&m, "published");
    }
    eprintln!("walks handed on: {published}, served as another replica's own: {complete}");
    assert!(
        published >= 1.0 && complete >= 1.0,
        "{published} / {complete}"
    );
    let cms: Api<ConfigMap> = Api::namespaced(world.client.clone(), OPERATOR_NAMESPACE);
    let slots = cms
        .list(&ListParams::default().labels(&format!("azop.dev/walk-group={}", world.lease)))
        .await
        .unwrap();
    assert!(
        !slots.items.is_empty(),
        "no walk ConfigMap in {OPERATOR_NAMESPACE}"
    );

    // Drift on every cluster at once, whichever replica owns it: each is corrected within a
    // resync (plus the pass), the non-walkers from another replica's walk.
    for n in &names {
        let before = strip_nsg_rules(&world, &nsg_path(n), NET).await.unwrap();
        assert!(has_rule(&before, "allow-apiserver"), "{before}");
    }
    let drifted = Instant::now();
    let restored = wait_for(
        "every API server rule put back",
        Duration::from_secs(RESYNC_SECONDS + 20),
        || async {
            let mut missing = Vec::new();
            for n in &names {
                let nsg = world.arm(Method::GET, &nsg_path(n), NET, None).await;
                if !nsg.is_ok_and(|v| has_rule(&v, "allow-apiserver")) {
                    missing.push(n.clone());
                }
            }
            if missing.is_empty() {
                Check::Done(())
            } else {
                Check::Pending(format!("not yet: {missing:?}"))
            }
        },
    )
    .await;
    or_dump(restored.map_err(anyhow::Error::from), &refs);
    eprintln!(
        "drift on {} clusters corrected in {:.1} s",
        names.len(),
        drifted.elapsed().as_secs_f64()
    );

    delete_all_and_check_nothing_left(&world, &names, &refs).await;
    for op in ops.values() {
        assert_secret_not_logged(op);
    }
}
