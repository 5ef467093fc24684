//! Observation by listing against azop-armsim (paged lists with `nextLink`, ETags): one walk
//! per type serves every resource of the subscription, reads between walks cost nothing,
//! azop's own writes are read again by GET, and a change made outside azop wakes the owner.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use azop_armsim::{RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::network::API_VERSION as NETWORK;
use azop_provider::{ArmSession, AzureError, ListingConfig, Method, Provider, ProviderConfig};
use serde_json::json;

mod common;
use common::creds;

const SUB: &str = "00000000-0000-0000-0000-0000000000c3";
const GROUPS: &str = "2021-04-01";
const MAX_AGE: Duration = Duration::from_millis(1500);

fn provider(sim: &RunningSim) -> Provider {
    provider_with_max_age(sim, MAX_AGE)
}

/// A provider whose listings serve reads for `max_age` (and decide writes on evidence as old).
fn provider_with_max_age(sim: &RunningSim, max_age: Duration) -> Provider {
    Provider::new(ProviderConfig {
        listing: ListingConfig {
            max_age,
            write_evidence_age: max_age,
            ..ListingConfig::default()
        },
        ..common::config(sim)
    })
}

fn ip_path(rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/publicIPAddresses/{name}"
    )
}

/// Creates the resource group `rg` in westeurope.
async fn put_group(session: &ArmSession, rg: &str) {
    session
        .call(
            Method::Put,
            &format!("/subscriptions/{SUB}/resourceGroups/{rg}"),
            GROUPS,
            Some(&json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
}

async fn put_ip(session: &ArmSession, rg: &str, name: &str, uid: &str, extra: &str) {
    let body = json!({
        "location": "westeurope",
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"},
        "tags": {"azop.dev_uid": uid, "extra": extra},
    });
    session
        .call(Method::Put, &ip_path(rg, name), NETWORK, Some(&body))
        .await
        .unwrap();
}

fn calls(sim: &RunningSim) -> Vec<(String, String)> {
    sim.requests(&RequestFilter::default())
        .into_iter()
        .filter(|r| !r.path.contains("oauth2") && !r.path.contains("/_sim/"))
        .map(|r| (r.method, r.path))
        .collect()
}

/// A collection is handed over page by page: each item before the next page is asked for,
/// so a walk holds one page as JSON at a time, whatever the subscription's size (issue 24,
/// memory).
#[tokio::test]
async fn a_listing_is_handed_over_page_by_page() {
    let sim = azop_armsim::start(SimConfig::default().page_size(5))
        .await
        .unwrap();
    let p = provider(&sim);
    let s = p.session(&creds(), SUB).unwrap();
    put_group(&s, "rg-a").await;
    for i in 0..12 {
        put_ip(&s, "rg-a", &format!("ip-{i}"), "uid-a", "0").await;
    }
    let before = calls(&sim).len();
    let mut pages_read = Vec::new();
    let collection = format!("/subscriptions/{SUB}/providers/Microsoft.Network/publicIPAddresses");
    s.list_each(&collection, NETWORK, 100, |v| {
        assert!(v["name"].as_str().is_some_and(|n| n.starts_with("ip-")));
        pages_read.push(calls(&sim).len() - before);
    })
    .await
    .unwrap();
    assert_eq!(pages_read, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3]);
    // `list` gives the same items, all at once.
    assert_eq!(s.list(&collection, NETWORK, 100).await.unwrap().len(), 12);
}

#[tokio::test]
async fn one_walk_serves_every_resource_and_changes_wake_their_owner() {
    // 5 items a page: 12 public IPs take three pages, followed by nextLink.
    let sim = azop_armsim::start(SimConfig::default().page_size(5))
        .await
        .unwrap();
    // Another client made everything (as a previous operator process would have).
    let writer = provider(&sim);
    let w = writer.session(&creds(), SUB).unwrap();
    for rg in ["rg-a", "rg-b", "rg-c"] {
        put_group(&w, rg).await;
        for i in 0..4 {
            put_ip(&w, rg, &format!("ip-{i}"), &format!("uid-{rg}"), "0").await;
        }
    }

    let reader = provider(&sim);
    let mut changes = reader.listings().changes();
    let r = reader.session(&creds(), SUB).unwrap();
    let before = calls(&sim).len();
    for rg in ["rg-a", "rg-b", "rg-c"] {
        for i in 0..4 {
            let got = r
                .observe(&ip_path(rg, &format!("ip-{i}")), NETWORK)
                .await
                .unwrap()
                .expect("listed");
            let v = got.json().unwrap();
            assert_eq!(v["tags"]["azop.dev_uid"], format!("uid-{rg}"));
            assert!(v["etag"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
    // One that does not exist, in a group that does: the walk says so.
    assert!(
        r.observe(&ip_path("rg-a", "ip-9"), NETWORK)
            .await
            .unwrap()
            .is_none()
    );
    let walk: Vec<_> = calls(&sim).split_off(before);
    assert_eq!(walk.len(), 3, "three pages, nothing else: {walk:?}");
    assert!(
        walk.iter().all(|(m, p)| m == "GET"
            && p.to_ascii_lowercase().ends_with(
                &format!("/subscriptions/{SUB}/providers/microsoft.network/publicipaddresses")
                    .to_ascii_lowercase()
            )),
        "{walk:?}"
    );
    // The listing serves a group's resources too (what a sweep reads), without a call.
    let before = calls(&sim).len();
    let group = r
        .observe_group("rg-b", "Microsoft.Network/publicIPAddresses", NETWORK)
        .await
        .unwrap();
    assert_eq!(group.len(), 4);
    assert_eq!(calls(&sim).len(), before, "served from the walk");

    // One of ours written by this provider: read again by GET, once, and seen as written.
    put_ip(&r, "rg-a", "ip-0", "uid-rg-a", "mine").await;
    let before = calls(&sim).len();
    let got = r.observe(&ip_path("rg-a", "ip-0"), NETWORK).await.unwrap();
    assert_eq!(got.unwrap().json().unwrap()["tags"]["extra"], "mine");
    let after: Vec<_> = calls(&sim).split_off(before);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].1.ends_with("/ip-0"), "{after:?}");
    r.observe(&ip_path("rg-a", "ip-0"), NETWORK).await.unwrap();
    assert_eq!(calls(&sim).len(), before + 1, "then from the listing again");

    // A change made outside azop (by the other client): the next walk wakes its owner.
    put_ip(&w, "rg-c", "ip-2", "uid-rg-c", "edited").await;
    assert!(
        changes.try_recv().is_err(),
        "nothing changed yet as far as walks go"
    );
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    let got = r
        .observe(&ip_path("rg-c", "ip-2"), NETWORK)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.json().unwrap()["tags"]["extra"], "edited");
    let changed = tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.owner_uid, "uid-rg-c");
    assert!(
        changes.try_recv().is_err(),
        "the owners of unchanged resources, and of this provider's own write, are not woken"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_resource_listed_in_progress_is_read_again_once_it_has_been_busy_for_busy_age() {
    // A public IP takes 800 ms: a walk during that time lists it in progress. Its PUT was
    // sent by another client (a killed operator): no write of the reader's will ever mark
    // it, and the reader's listing serves for a minute.
    let sim = azop_armsim::start(SimConfig::default().latency(
        "Microsoft.Network/publicIPAddresses",
        Duration::from_millis(800),
    ))
    .await
    .unwrap();
    let writer = provider(&sim);
    let w = writer.session(&creds(), SUB).unwrap();
    put_group(&w, "rg-a").await;
    put_ip(&w, "rg-a", "ip-0", "uid-rg-a", "0").await;

    let busy_age = Duration::from_millis(300);
    let reader = Provider::new(ProviderConfig {
        listing: ListingConfig {
            max_age: Duration::from_secs(60),
            write_evidence_age: Duration::from_secs(60),
            busy_age,
            ..ListingConfig::default()
        },
        ..common::config(&sim)
    });
    let r = reader.session(&creds(), SUB).unwrap();
    let state = |v: &serde_json::Value| {
        v["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded")
            .to_string()
    };
    let listed = r
        .observe(&ip_path("rg-a", "ip-0"), NETWORK)
        .await
        .unwrap()
        .expect("listed");
    assert_ne!(
        state(&listed.json().unwrap()),
        "Succeeded",
        "listed in progress"
    );
    // Within busy_age the listing answers; the operation ends meanwhile.
    let before = calls(&sim).len();
    r.observe(&ip_path("rg-a", "ip-0"), NETWORK).await.unwrap();
    assert_eq!(calls(&sim).len(), before, "trusted for busy_age");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = calls(&sim).len();
    let read = r
        .observe(&ip_path("rg-a", "ip-0"), NETWORK)
        .await
        .unwrap()
        .expect("there");
    assert_eq!(state(&read.json().unwrap()), "Succeeded");
    let after: Vec<_> = calls(&sim).split_off(before);
    assert_eq!(after.len(), 1, "one GET, no walk: {after:?}");
    assert!(after[0].1.ends_with("/ip-0"), "{after:?}");
    // Settled now: the listing's answer (the GET) is trusted again.
    r.observe(&ip_path("rg-a", "ip-0"), NETWORK).await.unwrap();
    assert_eq!(calls(&sim).len(), before + 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_confirming_get_is_kept_by_the_listing_until_the_next_walk() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let writer = provider(&sim);
    let w = writer.session(&creds(), SUB).unwrap();
    put_group(&w, "rg-a").await;
    // A listing that is walked once and then serves reads for a long time.
    let reader = provider_with_max_age(&sim, Duration::from_secs(600));
    let r = reader.session(&creds(), SUB).unwrap();
    let path = ip_path("rg-a", "made-by-someone-else");
    assert!(r.observe(&path, NETWORK).await.unwrap().is_none());
    // Someone else makes it (no azop tag); the listing still says it is absent.
    w.call(
        Method::Put,
        &path,
        NETWORK,
        Some(
            &json!({"location": "westeurope", "sku": {"name": "Standard"},
                     "properties": {"publicIPAllocationMethod": "Static"}}),
        ),
    )
    .await
    .unwrap();
    assert!(
        r.observe(&path, NETWORK).await.unwrap().is_none(),
        "the listing was walked before it was made"
    );
    // A confirming GET finds it, and the listing answers with that from now on: no walk,
    // no further GET.
    let confirmed = r.confirm(&path, NETWORK).await.unwrap().expect("there");
    assert_eq!(
        confirmed.json().unwrap()["properties"]["publicIPAllocationMethod"],
        "Static"
    );
    let before = calls(&sim).len();
    let listed = r.observe(&path, NETWORK).await.unwrap().expect("kept");
    assert_eq!(listed.json().unwrap()["name"], "made-by-someone-else");
    assert_eq!(calls(&sim).len(), before, "answered from the listing");
    // And a confirmed absence is kept the same way.
    w.call(Method::Delete, &path, NETWORK, None::<&()>)
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if r.confirm(&path, NETWORK).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the delete ended");
    let before = calls(&sim).len();
    assert!(r.observe(&path, NETWORK).await.unwrap().is_none());
    assert_eq!(calls(&sim).len(), before);
    sim.shutdown().await;
}

/// A provider whose listings serve reads for a long time, and whose walks asked for to see
/// past a delete may start every `min_walk_interval`.
fn provider_for_deletion(sim: &RunningSim, min_walk_interval: Duration) -> Provider {
    Provider::new(ProviderConfig {
        listing: ListingConfig {
            max_age: Duration::from_secs(600),
            write_evidence_age: Duration::from_secs(600),
            min_walk_interval,
            ..ListingConfig::default()
        },
        ..common::config(sim)
    })
}

/// Deletes `path` as azop does and follows its operation to the end.
async fn delete_to_the_end(session: &ArmSession, path: &str) {
    if let Some(h) = session.delete_by_id(path, NETWORK).await.unwrap() {
        for _ in 0..100 {
            match session.poll_once(&h).await.unwrap() {
                azop_provider::PollOutcome::InProgress { .. } => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                azop_provider::PollOutcome::Succeeded { .. } => return,
                other => panic!("delete of {path}: {other:?}"),
            }
        }
        panic!("delete of {path} did not end");
    }
}

/// Twelve public IPs of uid-a in a new rg-a, seen through the listing (walked once before
/// they existed, so it would serve for ten minutes) and then deleted by azop: what the
/// listing knew of them is older than the deletes. Their paths.
async fn twelve_seen_then_deleted(r: &ArmSession) -> Vec<String> {
    put_group(r, "rg-a").await;
    assert!(
        r.observe(&ip_path("rg-a", "ip-0"), NETWORK)
            .await
            .unwrap()
            .is_none()
    );
    let ips: Vec<String> = (0..12)
        .map(|i| ip_path("rg-a", &format!("ip-{i}")))
        .collect();
    for i in 0..12 {
        put_ip(r, "rg-a", &format!("ip-{i}"), "uid-a", "0").await;
    }
    for ip in &ips {
        assert!(r.observe(ip, NETWORK).await.unwrap().is_some());
    }
    for ip in &ips {
        delete_to_the_end(r, ip).await;
    }
    ips
}

#[tokio::test]
async fn what_azop_deleted_is_confirmed_gone_by_one_walk_that_started_after_the_deletes() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let reader = provider_for_deletion(&sim, Duration::from_millis(200));
    let r = reader.session(&creds(), SUB).unwrap();
    // azop deletes all twelve: what the listing knew of them is older than the deletes.
    let ips = twelve_seen_then_deleted(&r).await;
    let before = calls(&sim).len();
    // A deletion pass reads them (the listing) and confirms them gone (before it lets the
    // object go): one walk that started after the last delete answers every one.
    for ip in &ips {
        assert!(r.observe(ip, NETWORK).await.unwrap().is_none(), "{ip}");
        assert!(
            r.confirm_deleted(ip, NETWORK).await.unwrap().is_none(),
            "{ip}"
        );
    }
    let after: Vec<_> = calls(&sim).split_off(before);
    let collection = format!("/subscriptions/{SUB}/providers/microsoft.network/publicipaddresses");
    assert_eq!(after.len(), 1, "one walk, no GET per resource: {after:?}");
    assert!(
        after[0].0 == "GET" && after[0].1.to_ascii_lowercase().ends_with(&collection),
        "{after:?}"
    );
    // A resource azop did not delete is still confirmed by GET.
    let before = calls(&sim).len();
    assert!(
        r.confirm_deleted(&ip_path("rg-a", "never-made"), NETWORK)
            .await
            .unwrap()
            .is_none()
    );
    let after: Vec<_> = calls(&sim).split_off(before);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].1.ends_with("/never-made"), "a GET: {after:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_resource_whose_delete_still_runs_is_never_confirmed_gone() {
    // Deleting a public IP takes 1.5 s: walks during that time list it.
    let sim = azop_armsim::start(SimConfig::default().latency(
        "Microsoft.Network/publicIPAddresses",
        Duration::from_millis(1500),
    ))
    .await
    .unwrap();
    let reader = provider_for_deletion(&sim, Duration::from_millis(100));
    let r = reader.session(&creds(), SUB).unwrap();
    put_group(&r, "rg-a").await;
    let path = ip_path("rg-a", "ip-0");
    assert!(r.observe(&path, NETWORK).await.unwrap().is_none());
    put_ip(&r, "rg-a", "ip-0", "uid-a", "0").await;
    r.delete_by_id(&path, NETWORK).await.unwrap();
    // The DELETE is answered and runs: a walk started after it still lists the resource, and
    // neither the listing nor the confirmation says it is gone.
    let seen = r.observe(&path, NETWORK).await.unwrap();
    assert!(seen.is_some(), "listed while its delete runs");
    let confirmed = r.confirm_deleted(&path, NETWORK).await.unwrap();
    assert!(confirmed.is_some(), "a GET finds it while its delete runs");
    // Once the delete has ended, a later walk confirms it gone.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let mut gone = false;
    for _ in 0..50 {
        if r.confirm_deleted(&path, NETWORK).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "confirmed gone once the delete ended");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_deletion_read_does_not_wait_for_its_walk_and_its_owner_is_woken_after_it() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    // Walks past a delete start at most every 3 s: a read that waited for one would wait.
    let reader = provider_for_deletion(&sim, Duration::from_secs(3));
    let r = reader.session(&creds(), SUB).unwrap();
    let ips = twelve_seen_then_deleted(&r).await;
    let mut changes = reader.listings().changes();
    let before = calls(&sim).len();
    // Every deletion read of what azop deleted answers at once that its walk is awaited:
    // still being deleted, as far as anyone may tell yet.
    for ip in &ips {
        for read in [
            r.observe_deferring(ip, NETWORK).await,
            r.confirm_deleted_deferring(ip, NETWORK).await,
        ] {
            assert!(
                matches!(read, Err(AzureError::AwaitingWalk { .. })),
                "{ip}: {read:?}"
            );
        }
    }
    // One background walk serves all 24 reads; the owner is woken once it is applied.
    let woken = tokio::time::timeout(Duration::from_secs(20), changes.recv())
        .await
        .expect("the owner is woken after the walk")
        .unwrap();
    assert_eq!(woken.owner_uid, "uid-a");
    for ip in &ips {
        assert!(r.observe_deferring(ip, NETWORK).await.unwrap().is_none());
        assert!(
            r.confirm_deleted_deferring(ip, NETWORK)
                .await
                .unwrap()
                .is_none()
        );
    }
    let after: Vec<_> = calls(&sim).split_off(before);
    let collection = format!("/subscriptions/{SUB}/providers/microsoft.network/publicipaddresses");
    assert_eq!(after.len(), 1, "one walk for every read: {after:?}");
    assert!(
        after[0].0 == "GET" && after[0].1.to_ascii_lowercase().ends_with(&collection),
        "{after:?}"
    );
    assert!(changes.try_recv().is_err(), "woken once");
    sim.shutdown().await;
}
