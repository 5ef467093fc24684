//! Creates at ARM's write budget (issue 24) against azop-armsim: a conditional create
//! (`If-None-Match: *`) is refused over a resource that exists and writes nothing; a create's
//! operation is followed through its resource — one GET is the poll and the result, which
//! the listing keeps — and a failed one still reports Azure's code and message.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use azop_armsim::{FaultAction, FaultSpec, RequestFilter, RunningSim, SimConfig};
use azop_provider::resources::network::API_VERSION as NETWORK;
use azop_provider::resources::network::public_ip::{PublicIp, PublicIpKey, PublicIpSpec};
use azop_provider::resources::{self, Created};
use azop_provider::{ArmSession, LroHandle, Method, Owner, PollOutcome};
use serde_json::json;

mod common;
use common::creds;

const SUB: &str = "00000000-0000-0000-0000-0000000000c7";
const GROUPS: &str = "2021-04-01";
const PIP_TYPE: &str = "Microsoft.Network/publicIPAddresses";

fn owner() -> Owner {
    Owner::new("AzureCluster", "team-a", "c", "uid-c")
}

fn key(name: &str) -> PublicIpKey {
    PublicIpKey {
        resource_group: "rg".into(),
        name: name.into(),
    }
}

fn spec() -> PublicIpSpec {
    PublicIpSpec {
        location: "westeurope".into(),
        zones: Vec::new(),
        tags: BTreeMap::new(),
    }
}

fn path(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/{PIP_TYPE}/{name}")
}

/// The principal's calls since the start: `(method, path, status)`.
fn calls(sim: &RunningSim) -> Vec<(String, String, u16)> {
    sim.requests(&RequestFilter::default())
        .into_iter()
        .filter(|r| !r.path.contains("oauth2") && !r.path.contains("/_sim/"))
        .map(|r| (r.method, r.path.to_ascii_lowercase(), r.status))
        .collect()
}

async fn group(session: &ArmSession) {
    session
        .call(
            Method::Put,
            &format!("/subscriptions/{SUB}/resourceGroups/rg"),
            GROUPS,
            Some(&json!({"location": "westeurope"})),
        )
        .await
        .unwrap();
}

/// Polls `handle` until it is no longer in progress.
async fn follow(session: &ArmSession, handle: &LroHandle) -> PollOutcome {
    for _ in 0..200 {
        match session.poll_once(handle).await.unwrap() {
            PollOutcome::InProgress { .. } => tokio::time::sleep(Duration::from_millis(50)).await,
            other => return other,
        }
    }
    panic!("the operation never ended");
}

#[tokio::test]
async fn a_conditional_create_over_a_resource_that_exists_writes_nothing() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    let p = common::provider(&sim);
    let s = p.session(&creds(), SUB).unwrap();
    group(&s).await;
    // Someone else's public IP of the name azop would create.
    s.call(
        Method::Put,
        &path("taken"),
        NETWORK,
        Some(&json!({"location": "westeurope", "tags": {"team": "other"},
                     "sku": {"name": "Standard"},
                     "properties": {"publicIPAllocationMethod": "Static"}})),
    )
    .await
    .unwrap();
    let before = s
        .get(&path("taken"), NETWORK)
        .await
        .unwrap()
        .unwrap()
        .json();

    let got = resources::create_desired::<PublicIp>(&s, &key("taken"), &spec(), &owner())
        .await
        .unwrap();
    assert_eq!(got, Created::Exists);
    let after = s
        .get(&path("taken"), NETWORK)
        .await
        .unwrap()
        .unwrap()
        .json();
    assert_eq!(before, after, "nothing written, etag included");
    let refused = calls(&sim)
        .into_iter()
        .filter(|(m, p, _)| m == "PUT" && *p == path("taken").to_ascii_lowercase())
        .map(|(_, _, s)| s)
        .collect::<Vec<_>>();
    assert_eq!(refused, vec![201, 412], "ARM refused the conditional PUT");

    // A name nobody took: created.
    let got = resources::create_desired::<PublicIp>(&s, &key("free"), &spec(), &owner())
        .await
        .unwrap();
    assert!(matches!(got, Created::Started(_)), "{got:?}");
    let made = s.get(&path("free"), NETWORK).await.unwrap().unwrap().json();
    assert_eq!(made.unwrap()["tags"]["azop.dev_uid"], "uid-c");
}

#[tokio::test]
async fn a_create_is_followed_through_its_resource_one_get_for_poll_and_result() {
    let sim =
        azop_armsim::start(SimConfig::default().latency(PIP_TYPE, Duration::from_millis(300)))
            .await
            .unwrap();
    let p = common::provider(&sim);
    let s = p.session(&creds(), SUB).unwrap();
    group(&s).await;
    // The pass's observation walks the type (the listing knows its api-version).
    assert!(s.observe(&path("ip"), NETWORK).await.unwrap().is_none());
    let Created::Started(Some(handle)) =
        resources::create_desired::<PublicIp>(&s, &key("ip"), &spec(), &owner())
            .await
            .unwrap()
    else {
        panic!("an operation under way");
    };
    let mark = calls(&sim).len();
    let PollOutcome::Succeeded { body: Some(body) } = follow(&s, &handle).await else {
        panic!("succeeded, with the resource");
    };
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    let polls = calls(&sim).split_off(mark);
    assert!(
        polls
            .iter()
            .all(|(m, p, _)| m == "GET" && *p == path("ip").to_ascii_lowercase()),
        "the resource was read, never its operation: {polls:?}"
    );
    assert!(!polls.is_empty());
    // The pass that follows reads the result from the listing: no call.
    let mark = calls(&sim).len();
    let seen = s.observe(&path("ip"), NETWORK).await.unwrap().unwrap();
    assert_eq!(
        seen.json().unwrap()["properties"]["provisioningState"],
        "Succeeded"
    );
    assert_eq!(
        calls(&sim).len(),
        mark,
        "the poll's answer is the observation"
    );
}

#[tokio::test]
async fn a_create_that_fails_reports_azures_code_and_message() {
    let sim = azop_armsim::start(SimConfig::default()).await.unwrap();
    sim.add_fault(FaultSpec {
        method: Some("PUT".into()),
        path: "/subscriptions/*/publicIPAddresses/doomed".into(),
        times: None,
        after: 0,
        action: FaultAction::FailAsync {
            code: "PublicIPCountLimitReached".into(),
            message: "injected: no more public IPs".into(),
        },
    })
    .unwrap();
    let p = common::provider(&sim);
    let s = p.session(&creds(), SUB).unwrap();
    group(&s).await;
    assert!(s.observe(&path("doomed"), NETWORK).await.unwrap().is_none());
    let Created::Started(Some(handle)) =
        resources::create_desired::<PublicIp>(&s, &key("doomed"), &spec(), &owner())
            .await
            .unwrap()
    else {
        panic!("an operation under way");
    };
    let PollOutcome::Failed(e) = follow(&s, &handle).await else {
        panic!("failed");
    };
    let text = e.to_string();
    assert!(
        text.contains("PublicIPCountLimitReached") && text.contains("no more public IPs"),
        "{text}"
    );
    // The operation was read for that (the resource only says Failed).
    assert!(
        calls(&sim)
            .iter()
            .any(|(m, p, _)| m == "GET" && p.contains("/operations/")),
        "Azure's error comes from the operation"
    );
}
