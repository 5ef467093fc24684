//! The subscription's one throttle gate against azop-armsim enforcing ARM's buckets: a burst
//! draws no 429 because requests in flight are counted, a restarted provider starts with an
//! empty bucket, a 429 holds every object of the subscription, replicas that each spend
//! their share of the budget draw no 429 where replicas each spending all of it do, and
//! operations are polled no sooner than ARM's Retry-After.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use azop_armsim::config::{BucketSize, ThrottleConfig};
use azop_armsim::{FaultAction, FaultSpec, RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::resource_group::{
    ResourceGroup, ResourceGroupKey, ResourceGroupSpec,
};
use azop_provider::resources::storage_account::{
    StorageAccount, StorageAccountKey, StorageAccountSpec, StorageNetworkAccess, StorageSkuName,
};
use azop_provider::resources::{self, EnsureOutcome, Owner};
use azop_provider::throttle::{self, ThrottleLimits};
use azop_provider::{
    AzureError, BudgetShare, Method, PollOutcome, Provider, ProviderConfig, RawResponse,
};

mod common;
use common::{creds, creds_named};

const SUB: &str = "00000000-0000-0000-0000-0000000000b2";

/// ARM's read bucket shrunk so a test can drain it: 10, refilling 5 a second.
const READS: BucketSize = BucketSize {
    capacity: 10.0,
    refill_per_sec: 5.0,
};

fn small_reads() -> ThrottleConfig {
    ThrottleConfig {
        reads: READS,
        ..ThrottleConfig::default()
    }
}

fn provider(sim: &RunningSim, max_throttle_wait: Duration) -> Provider {
    Provider::new(ProviderConfig {
        throttle_limits: ThrottleLimits {
            reads: throttle::BucketSize {
                capacity: READS.capacity,
                refill_per_sec: READS.refill_per_sec,
            },
            ..ThrottleLimits::default()
        },
        max_throttle_wait,
        ..common::config(sim)
    })
}

fn refused(sim: &RunningSim) -> usize {
    sim.requests(&RequestFilter::default())
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

fn group(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}")
}

/// armsim with the small read bucket, answering GETs of groups named `prefix*` after `ms`.
async fn slow_sim(prefix: &str, ms: u64) -> RunningSim {
    let sim = azop_armsim::start(SimConfig {
        throttle: small_reads(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.add_fault(FaultSpec {
        method: Some("GET".into()),
        path: format!("*/resourcegroups/{prefix}*"),
        times: None,
        after: 0,
        action: FaultAction::Latency { ms },
    })
    .unwrap();
    sim
}

/// `n` GETs at once through one session (missing groups: 404s, which ARM counts as reads).
async fn gets(provider: &Provider, n: usize) -> Vec<Result<Option<RawResponse>, AzureError>> {
    let session = provider.session(&creds(), SUB).unwrap();
    let gets = (0..n).map(|i| {
        let session = session.clone();
        async move {
            session
                .get(&group(&format!("rg-burst-{i}")), "2021-04-01")
                .await
        }
    });
    futures::future::join_all(gets).await
}

/// [`gets`], every one answered 404.
async fn burst(provider: &Provider, n: usize) {
    for r in gets(provider, n).await {
        assert!(r.unwrap().is_none());
    }
}

/// Three providers (three processes' gates) on one subscription bucket, each spending
/// `share` of it.
fn replicas(sim: &RunningSim, share: BudgetShare) -> Vec<Provider> {
    (0..3)
        .map(|_| {
            let p = provider(sim, Duration::from_secs(30));
            p.throttle().set_share(share);
            p
        })
        .collect()
}

#[tokio::test]
async fn a_burst_counts_what_is_in_flight_and_draws_no_429() {
    // ARM takes a while to answer: answers come back while others are on their way.
    let sim = slow_sim("rg-burst-", 200).await;
    let p = provider(&sim, Duration::from_secs(30));
    let started = Instant::now();
    // Three times ARM's bucket at once: every answer says what ARM had left when it
    // answered, while the others were still on their way. Taken as the gate's count, each
    // answer would let that many more through into a bucket they were already emptying.
    burst(&p, 30).await;
    assert_eq!(refused(&sim), 0, "ARM refused none of them");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "paced at ARM's refill after its bucket: {:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

/// Three replicas (three providers: three processes' gates) on one subscription bucket, each
/// sending as much as ARM's whole bucket at once.
async fn three_replicas_burst(share: BudgetShare) -> (usize, Duration) {
    let sim = slow_sim("rg-burst-", 200).await;
    let replicas = replicas(&sim, share);
    let started = Instant::now();
    // ARM's refusals are counted from its log; what each replica got back does not matter.
    futures::future::join_all(replicas.iter().map(|p| gets(p, 10))).await;
    let took = started.elapsed();
    let refused = refused(&sim);
    sim.shutdown().await;
    (refused, took)
}

#[tokio::test]
async fn replicas_spending_their_share_draw_no_429() {
    // Each holds one shard of three: a third of the refill, the size and ARM's count.
    let (refused, took) = three_replicas_burst(BudgetShare::of_shards(1, 3)).await;
    assert_eq!(
        refused, 0,
        "ARM refused none of the three replicas' requests"
    );
    // 30 reads against a bucket of 10 refilling 5/s: the budget, not the gates, paced them.
    assert!(took >= Duration::from_secs(3), "{took:?}");
    // The same three, each believing the whole bucket is its own: ARM refuses some.
    let (refused, _) = three_replicas_burst(BudgetShare::WHOLE).await;
    assert!(
        refused > 0,
        "three whole shares drew no 429: the test proves nothing"
    );
}

/// Three replicas of `share` each, every one sending without pause for `secs` (12 requests
/// at a time): ARM's bucket is held near empty, the gates pace at its refill together.
/// Returns ARM's refusals and the requests served.
async fn three_replicas_steady(share: BudgetShare, secs: u64) -> (usize, usize) {
    let sim = slow_sim("rg-steady-", 1).await;
    let until = Instant::now() + Duration::from_secs(secs);
    let replicas = replicas(&sim, share);
    let workers = replicas.iter().flat_map(|p| {
        let session = p.session(&creds(), SUB).unwrap();
        (0..12).map(move |w| {
            let session = session.clone();
            async move {
                let mut i = 0;
                while Instant::now() < until {
                    let _ = session
                        .get(&group(&format!("rg-steady-{w}-{i}")), "2021-04-01")
                        .await;
                    i += 1;
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    let served = sim
        .requests(&RequestFilter::default())
        .iter()
        .filter(|r| r.status != 429)
        .count();
    let refused = refused(&sim);
    sim.shutdown().await;
    (refused, served)
}

#[tokio::test]
async fn replicas_at_the_refill_together_draw_no_429() {
    let (refused, served) = three_replicas_steady(BudgetShare::of_shards(1, 3), 6).await;
    assert_eq!(refused, 0, "{served} served");
    // 10 at once, then 5 a second between the three: the budget was spent, not idled.
    assert!(served >= 30, "{served} served");
    let (refused, served) = three_replicas_steady(BudgetShare::WHOLE, 6).await;
    assert!(
        refused > 0,
        "three whole shares drew no 429 ({served} served): the test proves nothing"
    );
}

#[tokio::test]
async fn a_restarted_provider_starts_with_an_empty_bucket() {
    let sim = azop_armsim::start(SimConfig {
        throttle: small_reads(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // The operator that ran before drained ARM's bucket...
    burst(&provider(&sim, Duration::from_secs(30)), 10).await;
    // ... and its successor, knowing nothing of it, must not assume a full one.
    burst(&provider(&sim, Duration::from_secs(30)), 10).await;
    assert_eq!(
        refused(&sim),
        0,
        "ARM refused none of the restarted provider's"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_holds_every_object_of_the_subscription() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    // Short waits are waited out (the gate starts empty); ARM's 2 s is not.
    let p = provider(&sim, Duration::from_millis(500));
    let one = p.session(&creds(), SUB).unwrap();
    // Another object of the same subscription, through its own credentials Secret.
    let other = p.session(&creds_named("other-creds"), SUB).unwrap();
    // Warm the gate: ARM's remaining count is known.
    one.get(&group("rg-warm"), "2021-04-01").await.unwrap();
    sim.add_fault(FaultSpec {
        method: Some("GET".into()),
        path: "*/resourcegroups/rg-first".into(),
        times: Some(1),
        after: 0,
        action: FaultAction::Respond {
            status: 429,
            code: "SubscriptionRequestsThrottled".into(),
            message: "too many requests".into(),
            retry_after: Some(2),
        },
    })
    .unwrap();
    let err = one.get(&group("rg-first"), "2021-04-01").await.unwrap_err();
    assert!(matches!(err, AzureError::Throttled { .. }), "{err:?}");
    let err = other
        .get(&group("rg-second"), "2021-04-01")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AzureError::Throttled { .. }),
        "the other object waits too: {err:?}"
    );
    assert!(err.retry_after().unwrap() > Duration::from_secs(1));
    let sent = sim.requests(&RequestFilter {
        path: Some("/resourcegroups/rg-second".into()),
        ..RequestFilter::default()
    });
    assert!(sent.is_empty(), "nothing sent while ARM said wait");
    // Writes have their own bucket at ARM: a read 429 does not hold them.
    other
        .call(
            Method::Put,
            &group("rg-write"),
            "2021-04-01",
            Some(&serde_json::json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        other
            .get(&group("rg-second"), "2021-04-01")
            .await
            .unwrap()
            .is_none(),
        "served once Retry-After has passed"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn operations_are_polled_no_sooner_than_retry_after() {
    let sim = azop_armsim::start(
        SimConfig::default()
            .retry_after(Duration::from_secs(1))
            .latency("Microsoft.Storage/storageAccounts", Duration::from_secs(3)),
    )
    .await
    .unwrap();
    let p = provider(&sim, Duration::from_secs(5));
    let session = p.session(&creds(), SUB).unwrap();
    let owner = Owner::new("StorageBinding", "team-a", "images", "uid-1");
    resources::ensure::<ResourceGroup>(
        &session,
        &ResourceGroupKey {
            name: "rg-poll".into(),
        },
        &ResourceGroupSpec {
            location: "westeurope".into(),
            tags: BTreeMap::new(),
        },
        &owner,
    )
    .await
    .unwrap();
    let key = StorageAccountKey {
        resource_group: "rg-poll".into(),
        name: "azoppoll1".into(),
    };
    let spec = StorageAccountSpec {
        location: "westeurope".into(),
        sku: StorageSkuName::StandardLrs,
        network: StorageNetworkAccess::Public,
        tags: BTreeMap::new(),
    };
    let handle = match resources::ensure::<StorageAccount>(&session, &key, &spec, &owner)
        .await
        .unwrap()
    {
        EnsureOutcome::Started { handle, .. } => handle,
        other => panic!("expected an operation in flight, got {other:?}"),
    };
    let polls = || {
        sim.requests(&RequestFilter {
            method: Some("GET".into()),
            ..RequestFilter::default()
        })
        .iter()
        .filter(|r| r.path.contains("/operation"))
        .count()
    };
    // A reconcile that comes back at once (another write of its graph, an event) asks again
    // and again: ARM said 1 s, so nothing goes out before then.
    let started = Instant::now();
    let mut outcome = session.poll_once(&handle).await.unwrap();
    while let PollOutcome::InProgress { retry_after } = outcome {
        assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcome = session.poll_once(&handle).await.unwrap();
    }
    assert!(
        matches!(outcome, PollOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let elapsed = started.elapsed().as_secs_f64();
    let sent = polls();
    assert!(sent >= 1, "the operation was polled");
    // One poll a second at most (plus the one that found it done), never one per ask.
    assert!(
        (sent as f64) <= elapsed.ceil() + 1.0,
        "{sent} polls in {elapsed:.1} s"
    );
    sim.shutdown().await;
}
