//! Several AzureClusters deleted at once in one subscription (issue 24): what azop deleted is
//! confirmed gone by walks of the subscription's listings, shared by every cluster, not by a
//! GET answered 404 per resource; and nothing is left.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use azop_armsim::SimConfig;
use azop_e2e::azure_cluster::*;
use azop_e2e::operator::World;
use kube::api::{DeleteParams, ListParams};

const CLUSTERS: usize = 3;

/// ARM paths alternate collection and name: an odd number of segments is a list, and
/// operation status URLs live under `…/locations/{l}/operations…` or
/// `/subscriptions/{s}/operationresults/{id}` (a resource group's delete).
fn is_resource_get(method: &str, path: &str) -> bool {
    let segs = path.split('/').filter(|s| !s.is_empty()).count();
    method == "GET"
        && segs % 2 == 0
        && !path.contains("/locations/")
        && !path.to_ascii_lowercase().contains("/operationresults/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_many_clusters_confirms_what_it_deleted_by_walks_not_a_get_each() {
    let config = SimConfig {
        request_log_capacity: 100_000,
        ..SimConfig::default()
    };
    let world = World::new("azc-onesub-del", config).await.unwrap();
    let op = world
        .start_operator("a", &["--resync-seconds", "30"])
        .unwrap();
    let names = create_ready_in_one_subscription(&world, "del", CLUSTERS, &[&op]).await;
    let mark = operator_requests(&world).len();
    api(&world)
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    for n in &names {
        or_dump(wait_gone(&world, n).await, &[&op]);
    }
    assert!(top_level_inventory(&world).is_empty(), "nothing left");

    let calls: Vec<(String, String, u16)> = operator_requests(&world).split_off(mark);
    let deleted: BTreeSet<&str> = calls
        .iter()
        .filter(|(m, _, s)| m == "DELETE" && (200..300).contains(s))
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert!(
        deleted.len() >= CLUSTERS * 16,
        "every cluster's resources deleted: {}",
        deleted.len()
    );
    // A resource azop deleted is never read again by GET to learn it is gone.
    let not_found: Vec<&str> = calls
        .iter()
        .filter(|(m, p, s)| is_resource_get(m, p) && *s == 404)
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert!(
        not_found.is_empty(),
        "GETs answered 404 while deleting: {not_found:?}"
    );
    // The GETs left decide each DELETE (one per resource, before it is sent); the
    // absences come from walks of the subscription's listings.
    let got: Vec<&str> = calls
        .iter()
        .filter(|(m, p, _)| is_resource_get(m, p))
        .map(|(_, p, _)| p.as_str())
        .collect();
    let gets = got.len();
    let mut read_twice_or_not_deleted: Vec<&str> = got
        .iter()
        .copied()
        .filter(|p| !deleted.contains(p) || got.iter().filter(|q| *q == p).count() > 1)
        .collect();
    read_twice_or_not_deleted.sort();
    eprintln!(
        "{gets} resource GETs for {} resources deleted; read twice or not deleted: {read_twice_or_not_deleted:?}",
        deleted.len()
    );
    assert!(
        gets <= deleted.len() + CLUSTERS,
        "{gets} resource GETs for {} resources deleted; read twice or not deleted: {read_twice_or_not_deleted:?}",
        deleted.len()
    );
    let walks = calls
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.split('/').filter(|s| !s.is_empty()).count() % 2 == 1)
        .count();
    assert!(walks > 0, "absences confirmed by walks");
}
